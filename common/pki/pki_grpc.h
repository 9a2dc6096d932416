/*
 * pki_grpc.h -- the cluster's certificates on gRPC C core: channel
 * credentials for clients (mutual TLS, the control nodes' name checked),
 * the identity of a server call's peer from its auth context, and the
 * client side of joining (fetch the CA through a TLS handshake, check it
 * against the token's fingerprint, then Membership/Join) and renewing.
 * Blocking calls with deadlines: run them off any event loop.
 */
#ifndef CM_PKI_GRPC_H
#define CM_PKI_GRPC_H

#include <grpc/grpc.h>
#include <grpc/grpc_security.h>

#include "common/pki/pki.h"

/* Mutual TLS credentials: <c>->ca as roots, <c>->cert/key as the client
 * pair (no pair when cert is NULL, for Join). Returns new (release with
 * grpc_channel_credentials_release()), NULL on failure. */
grpc_channel_credentials *cm_pki_grpc_creds(const struct cm_pki_creds *c);

/* Server credentials for a control node (added for the servers of
 * controlplane/rpc): it presents <c>->cert followed by <c>->ca (joining
 * nodes find the CA in that chain, docs/security.md), asks for a client
 * certificate and verifies it against <c>->ca when one is given
 * (GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY). Returns new (release
 * with grpc_server_credentials_release()), NULL on failure. */
grpc_server_credentials *cm_pki_grpc_server_creds(const struct cm_pki_creds *c);

/* Server certificates that can be replaced while the server runs (a
 * control node renews its own certificate): gRPC asks for the current ones
 * at each new handshake; established connections keep theirs. Same chain
 * and client-certificate policy as cm_pki_grpc_server_creds. Thread-safe. */
struct cm_pki_grpc_certs;

/* Copies <c>. Returns new (free with cm_pki_grpc_certs_free() after the
 * servers using it are destroyed), NULL on failure. */
struct cm_pki_grpc_certs *cm_pki_grpc_certs_new(const struct cm_pki_creds *c);
/* Replaces the credentials (copied) for the handshakes to come. */
int cm_pki_grpc_certs_set(struct cm_pki_grpc_certs *g,
                          const struct cm_pki_creds *c) CM_MUST_CHECK;
/* Server credentials that read <g> (borrowed: it must outlive every server
 * made with them); at most 8 per <g>. Returns new
 * (grpc_server_credentials_release()), NULL on failure. */
grpc_server_credentials *
cm_pki_grpc_certs_server_creds(struct cm_pki_grpc_certs *g);
void cm_pki_grpc_certs_free(struct cm_pki_grpc_certs *g);

/* The channel argument every client of a control node passes with those
 * credentials: the name checked is CM_PKI_CONTROL_NAME. <arg> is filled
 * (its strings are static). */
void cm_pki_grpc_target_arg(grpc_arg *arg);

/* A client channel to <target>: mutual TLS with <c> (cm_pki_grpc_creds,
 * with the target argument above), or plain text when <c> is NULL.
 * Returns new (grpc_channel_destroy()), NULL when <c> is unusable. */
grpc_channel *cm_pki_grpc_channel(const char *target,
                                  const struct cm_pki_creds *c);

/* One unary call of <method> on <ch>, sending <send> (borrowed), blocking
 * until it ends (at most <timeout_ms>; it owns its completion queue).
 * *status and <details> (<dlen> bytes, cut, NUL-terminated) get the
 * outcome, *recv the reply message (new: grpc_byte_buffer_destroy(); NULL
 * when none came). */
void cm_pki_grpc_unary(grpc_channel *ch, const char *method,
                       grpc_byte_buffer *send, unsigned timeout_ms,
                       grpc_status_code *status, char *details, size_t dlen,
                       grpc_byte_buffer **recv);

/* How a server call's peer is known. */
enum cm_pki_peer {
    CM_PKI_PEER_PLAIN = 0, /* no TLS (insecure port) */
    CM_PKI_PEER_ANON = 1,  /* TLS without a client certificate */
    CM_PKI_PEER_CERT = 2,  /* TLS with a verified client certificate */
};

/* Reads <call>'s auth context; with a certificate, fills <info>. */
enum cm_pki_peer cm_pki_grpc_peer(grpc_call *call,
                                  struct cm_pki_cert_info *info);

/* Fetches the certificate chain a TLS server at <addr> ("host:port")
 * presents, without trusting it (the caller checks it), bounded by
 * <timeout_ms>. Returns the PEM blocks concatenated, new in *out. */
int cm_pki_fetch_chain(const char *addr, int timeout_ms, char **out, char *err,
                       size_t len) CM_MUST_CHECK;

/* Of the certificates in <chain_pem>, the one whose fingerprint is <fp>,
 * as a new PEM string in *out; GW_ENOENT when none is. */
int cm_pki_chain_find(const char *chain_pem, const char *fp, char **out,
                      char *err, size_t len) CM_MUST_CHECK;

/* Joins: for each of <addrs> in turn (a comma-separated "H:P,H:P"), fetch
 * and check the CA, make a key and a CSR, call Membership/Join with
 * <token> and <node_id> over TLS that verifies the server. On success
 * <out> holds the CA, the new certificate and key; <cluster_key> and
 * <redis_password> (may be NULL) receive new strings for control tokens
 * ("" otherwise). <timeout_ms> bounds each attempt. */
int cm_pki_join(const char *addrs, const char *token, const char *node_id,
                int timeout_ms, struct cm_pki_creds *out, char **cluster_key,
                char **redis_password, char *err, size_t len) CM_MUST_CHECK;

/* Renews <c> (used as the client identity) through one of <addrs>: a new
 * key and certificate replace c->key and c->cert (and c->ca) on success. */
int cm_pki_renew(const char *addrs, int timeout_ms, struct cm_pki_creds *c,
                 char *err, size_t len) CM_MUST_CHECK;

/* When a certificate valid from <not_before> to <not_after> should be
 * renewed: two thirds through its life. */
int64_t cm_pki_renew_at(int64_t not_before, int64_t not_after);

#endif
