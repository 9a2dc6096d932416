/*
 * rpc-t.h -- types of the generic gRPC server layer (cp_rpc_): the method
 * kinds and the callbacks a service implements. The server, its calls and
 * their state machines are opaque (server.c, call.c). Every callback runs on
 * the server's completion-queue thread with the server lock held.
 */
#ifndef CP_RPC_T_H
#define CP_RPC_T_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/pki/pki.h"

struct cp_rpc_server;
struct cp_rpc_call;

enum cp_rpc_kind {
    CP_RPC_UNARY = 0, /* one request message, one reply */
    CP_RPC_BIDI = 1,  /* messages both ways until either side ends */
};

/* Who may call a method on a TLS server (docs/security.md, authorization
 * table): one bit per kind of peer. Servers started without TLS check
 * nothing. */
enum cp_rpc_access {
    CP_RPC_ALLOW_PLAIN = 1u << 0,   /* no TLS (the --xds-plaintext-addr port) */
    CP_RPC_ALLOW_ANON = 1u << 1,    /* TLS without a client certificate */
    CP_RPC_ALLOW_DATA = 1u << 2,    /* certificate of role data */
    CP_RPC_ALLOW_CONTROL = 1u << 3, /* certificate of role control */
    CP_RPC_ALLOW_ADMIN = 1u << 4,   /* certificate of role admin */
};
#define CP_RPC_ALLOW_CERT                                                      \
    (CP_RPC_ALLOW_DATA | CP_RPC_ALLOW_CONTROL | CP_RPC_ALLOW_ADMIN)
/* The table's rows. A method registered without cp_rpc_server_set_access()
 * gets CP_RPC_ACCESS_MGMT. */
#define CP_RPC_ACCESS_ADS   (CP_RPC_ALLOW_PLAIN | CP_RPC_ALLOW_CERT)
#define CP_RPC_ACCESS_JOIN  (CP_RPC_ALLOW_ANON | CP_RPC_ALLOW_CERT)
#define CP_RPC_ACCESS_RENEW CP_RPC_ALLOW_CERT
#define CP_RPC_ACCESS_MGMT  (CP_RPC_ALLOW_CONTROL | CP_RPC_ALLOW_ADMIN)

/* A server-wide check of a certificate peer after its method allowed its
 * role (e.g. revocation): true lets the call through, false refuses it
 * with UNAUTHENTICATED. <id> borrowed for the call. CQ thread, server lock
 * held: must not call cp_rpc_server_lock(). */
typedef bool (*cp_rpc_check_cb)(void *arg, enum cm_pki_role role,
                                const char *id, int64_t not_before);

/* Where a call is in its life (call.c drives it). */
enum cp_rpc_call_state {
    CP_RPC_CALL_REQUESTED = 0, /* waiting for grpc to hand us a call */
    CP_RPC_CALL_ACTIVE,        /* started; messages flow */
    CP_RPC_CALL_FINISHING,     /* status queued behind pending sends */
    CP_RPC_CALL_CLOSED,        /* status sent or call cancelled; on_done ran */
};

/* The callbacks of one registered method. on_start may be NULL (accept);
 * the others may be NULL (ignored). After on_done the call is gone. */
struct cp_rpc_method_ops {
    /* A call arrived. Return 0 to accept, negative to refuse it (the client
     * gets UNAVAILABLE). Use cp_rpc_call_set_data() to attach state. */
    int (*on_start)(void *arg, struct cp_rpc_call *call);
    /* One request message; <data> borrowed for the duration of the call. */
    void (*on_message)(void *arg, struct cp_rpc_call *call, const uint8_t *data,
                       size_t len);
    /* The client half-closed: no more messages will come. */
    void (*on_half_close)(void *arg, struct cp_rpc_call *call);
    /* The call is over (<cancelled> when it did not end with our status):
     * free what was attached; the call must not be used afterwards. */
    void (*on_done)(void *arg, struct cp_rpc_call *call, int cancelled);
    /* Every queued message was written: the send queue is empty again (a
     * streaming service pushes its next update from here). */
    void (*on_sent)(void *arg, struct cp_rpc_call *call);
};

#endif
