/*
 * tls.h -- the data node's TLS termination and origination with OpenSSL 3:
 * compiles an Envoy DownstreamTlsContext plus its SDS Secrets into server
 * contexts (TLS 1.2-1.3, ECDHE+AEAD ciphers, session cache and tickets,
 * ALPN, SNI by exact then wildcard name with the first certificate as the
 * default, OCSP staple), an UpstreamTlsContext into a client context
 * (CA bundle and host name check unless no validation context is given),
 * and runs connections over memory BIOs so the caller keeps its own
 * sockets (libuv). Types are in tls-t.h.
 *
 * Threads: contexts are built on the configuration thread and then only
 * read; their reference counts are atomic. A struct dp_tls_conn belongs to
 * one worker.
 */
#ifndef DP_TLS_H
#define DP_TLS_H

#include "common/err/err.h"
#include "dataplane/tls/tls-t.h"
#include "envoy/extensions/transport_sockets/tls/v3/secret.pb-c.h"
#include "envoy/extensions/transport_sockets/tls/v3/tls.pb-c.h"

#define DP_TLS_SOCKET "envoy.transport_sockets.tls"

typedef Envoy__Extensions__TransportSockets__Tls__V3__Secret dp_tls_secret_msg;

/* Checks that <s> (borrowed) is a usable TLS certificate secret: chain and
 * key parse, the key matches the leaf. Returns 0 or GW_EINVAL with <err>. */
int dp_tls_secret_check(const dp_tls_secret_msg *s, char *err, size_t len);

/* Compiles <d> (borrowed) with the secrets it names, looked up in
 * <secrets> (<n>, borrowed). Returns new with one reference (drop with
 * dp_tls_server_unref()), or NULL with <err>. */
struct dp_tls_server *dp_tls_server_new(
    const Envoy__Extensions__TransportSockets__Tls__V3__DownstreamTlsContext *d,
    dp_tls_secret_msg *const *secrets, size_t n, unsigned flags, char *err,
    size_t len);
void dp_tls_server_ref(struct dp_tls_server *s);
/* NULL is a no-op. */
void dp_tls_server_unref(struct dp_tls_server *s);

/* Compiles <u> (borrowed). Returns new with one reference, or NULL with
 * <err> (e.g. a CA bundle that cannot be read). */
struct dp_tls_client *dp_tls_client_new(
    const Envoy__Extensions__TransportSockets__Tls__V3__UpstreamTlsContext *u,
    char *err, size_t len);
void dp_tls_client_ref(struct dp_tls_client *c);
void dp_tls_client_unref(struct dp_tls_client *c);
/* Whether the peer's chain and name are verified. */
bool dp_tls_client_verifies(const struct dp_tls_client *c);

/* A server-side connection on <s> (a reference is taken). Returns new;
 * free with dp_tls_conn_free(). NULL when out of memory. */
struct dp_tls_conn *dp_tls_conn_server(struct dp_tls_server *s);
/* A client-side connection on <c> (a reference is taken), SNI and the
 * verified name from the context. */
struct dp_tls_conn *dp_tls_conn_client(struct dp_tls_client *c);
void dp_tls_conn_free(struct dp_tls_conn *t);
/* Client, before the handshake: offers only <proto> (e.g. "h2" for a
 * gRPC health probe) instead of the context's ALPN list. 0 or GW_EINVAL /
 * GW_ENOMEM. */
int dp_tls_conn_set_alpn(struct dp_tls_conn *t, const char *proto);

/* Hands <n> bytes read from the socket (copied). 0 or GW_ENOMEM. */
int dp_tls_conn_feed(struct dp_tls_conn *t, const void *p, size_t n);
/* Advances the handshake: 1 once established, 0 needs more bytes,
 * negative on failure (<err> says why when not NULL). */
int dp_tls_conn_handshake(struct dp_tls_conn *t, char *err, size_t len);
/* Decrypts up to <cap> bytes into <out>: the count, 0 when more bytes are
 * needed, DP_TLS_CLOSED after close_notify, or a negative error. */
int dp_tls_conn_read(struct dp_tls_conn *t, void *out, size_t cap);
/* Encrypts <n> bytes; the records wait in the output. 0 or negative. */
int dp_tls_conn_write(struct dp_tls_conn *t, const void *p, size_t n);
/* Queues close_notify in the output. */
void dp_tls_conn_shutdown(struct dp_tls_conn *t);
/* Moves up to <cap> waiting bytes into <out>; returns the count. */
size_t dp_tls_conn_out_take(struct dp_tls_conn *t, void *out, size_t cap);
/* The waiting bytes in place (valid until the next call on <t>): returns
 * their count, <*p> set. dp_tls_conn_out_clear() drops them all once
 * written. */
size_t dp_tls_conn_out_peek(struct dp_tls_conn *t, const char **p);
void dp_tls_conn_out_clear(struct dp_tls_conn *t);
/* Whether decrypted or undecrypted input is buffered inside. */
bool dp_tls_conn_has_input(const struct dp_tls_conn *t);
/* The peer's close_notify was read (it may have come with the last data,
 * so that no read returned DP_TLS_CLOSED). */
bool dp_tls_conn_peer_closed(const struct dp_tls_conn *t);
bool dp_tls_conn_established(const struct dp_tls_conn *t);
/* The session was resumed. */
bool dp_tls_conn_reused(const struct dp_tls_conn *t);
/* The ALPN protocol chosen ("h2", "http/1.1") or "" if none. Borrowed. */
const char *dp_tls_conn_alpn(const struct dp_tls_conn *t);

#endif
