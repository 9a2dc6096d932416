/*
 * testclient.h -- a blocking gRPC client for tests (testonly): opens one
 * streaming call on a method, sends and receives raw messages with bounded
 * waits, reads the final status. One thread; its own pluck queue.
 */
#ifndef CP_RPC_TESTCLIENT_H
#define CP_RPC_TESTCLIENT_H

#include <grpc/status.h>
#include <stddef.h>
#include <stdint.h>

#include "common/pki/pki.h"

struct cp_rpc_tc;

/* Returns new (or NULL); free with cp_rpc_tc_free(). <target> "host:port". */
struct cp_rpc_tc *cp_rpc_tc_open(const char *target, const char *method);
/* Same over TLS with <c> (borrowed for the call): c->ca as roots, the
 * name checked CM_PKI_CONTROL_NAME, c->cert/key as the client pair (none
 * when c->cert is NULL). A failed handshake shows as a status later. */
struct cp_rpc_tc *cp_rpc_tc_open_tls(const char *target, const char *method,
                                     const struct cm_pki_creds *c);
void cp_rpc_tc_free(struct cp_rpc_tc *tc);

int cp_rpc_tc_send(struct cp_rpc_tc *tc, const uint8_t *data, size_t len);
/* Waits up to <timeout_ms> for a message: 0 and a new block in *out (free
 * with free()), GW_EAGAIN on timeout (call again), GW_EIO at end of stream. */
int cp_rpc_tc_recv(struct cp_rpc_tc *tc, uint8_t **out, size_t *len,
                   int timeout_ms);
/* Half-closes and waits for the status: 0 with *status, or GW_EAGAIN. */
int cp_rpc_tc_finish(struct cp_rpc_tc *tc, grpc_status_code *status,
                     int timeout_ms);

#endif
