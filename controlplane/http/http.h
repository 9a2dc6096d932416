/*
 * http.h -- the control node's HTTP server on --http-addr: the REST API in
 * Traefik's shape (/api/overview, /api/version, /api/entrypoints,
 * /api/http/{routers,services,middlewares}[/NAME], /api/rawdata) plus
 * /api/nodes, /api/revisions, /api/timeseries, the /api/events stream
 * (server-sent events), /api/login and /api/logout, the dashboard at
 * /dashboard/, /metrics (Prometheus) and /ping. Types in http-t.h.
 *
 * Auth: /api/ and /dashboard/ need the admin user, by Basic credentials or
 * by the session cookie /api/login sets; /ping never, /metrics only with
 * cfg->metrics_auth (like Traefik, whose metrics are open by default).
 * An /api/events stream ends once what opened it no longer holds: its
 * session logged out or expired, or the admin hash changed (a new password
 * ends every session and Basic credentials; checked at each sample tick,
 * on logout and on cp_http_poke()).
 *
 * HTTPS once cp_http_set_tls() gave it a certificate (plain HTTP until
 * then, and after cp_http_set_tls(NULL)).
 *
 * Runs on the owner's loop; not thread-safe. Password checks (scrypt) run
 * on the libuv thread pool.
 */
#ifndef CP_HTTP_H
#define CP_HTTP_H

#include <stdarg.h>

#include "common/err/err.h"
#include "controlplane/http/http-t.h"

/* Starts listening on cfg->addr and sampling every cfg->sample_ms. <src>
 * is copied (the callbacks and arg must outlive the server). Returns new;
 * end with cp_http_close(). NULL with <err> filled on failure (then run the
 * loop once so that the handles it opened close and it is freed).
 * The process should ignore SIGPIPE (libuv does not). */
struct cp_http *cp_http_new(const struct cp_http_config *cfg,
                            const struct cp_http_source *src, char *err,
                            size_t errlen);

/* Serves HTTPS with <cert_chain_pem> (leaf first, then intermediates) and
 * <key_pem> (both borrowed, copied into a new OpenSSL context) from now on:
 * TLS 1.2 and 1.3, ECDHE+AEAD ciphers, ALPN http/1.1. Callable before the
 * first connection and again at any time on the loop thread to rotate:
 * connections accepted afterwards use the new certificate, established
 * ones keep theirs. <cert_chain_pem> NULL: plain HTTP for new connections
 * (the default). Returns 0, or GW_EINVAL with <err> filled (unreadable
 * PEM, key not matching the certificate); the previous setting is kept. */
int cp_http_set_tls(struct cp_http *s, const char *cert_chain_pem,
                    const char *key_pem, char *err, size_t len);

/* The port listened on (useful with port 0). */
int cp_http_port(const struct cp_http *s);

/* Sends the event <type> with data <json> (one JSON value, borrowed, copied)
 * to every /api/events client now. The server also publishes on its own,
 * each sample: "nodes" when the nodes changed, "config" when the served
 * revision changed, "revisions" when the history changed, and "sample"
 * (the newest chart point). */
void cp_http_publish_event(struct cp_http *s, const char *type,
                           const char *json);

/* Makes the server sample and publish the changes now instead of at the
 * next tick (e.g. right after a node turned unhealthy). */
void cp_http_poke(struct cp_http *s);

/* Stops listening, closes every connection and timer. <s> is freed by the
 * loop once the last handle has closed (and thread-pool work ended): run
 * the loop afterwards. NULL is a no-op. */
void cp_http_close(struct cp_http *s);

/* Appends printf-style text to <t> (the /metrics buffer). */
void cp_http_text_printf(struct cp_http_text *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
