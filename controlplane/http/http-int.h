/*
 * http-int.h -- what the files of controlplane/http share: the server and
 * connection structs, the codec layer (the only user of the data node's
 * HTTP/1.1 parser, so that moving it to common/ touches one file), the
 * JSON shaping of the API, the chart series, the request helpers (forms,
 * cookies, Basic credentials) and the metrics text. Not for other modules.
 */
#ifndef CP_HTTP_INT_H
#define CP_HTTP_INT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "controlplane/auth/auth-t.h"
#include "controlplane/http/http.h"

#define CP_HTTP__CONN_BUF    16384 /* head + body of one request */
#define CP_HTTP__MAX_CONNS   256
#define CP_HTTP__CACHE       8 /* verified Basic credentials remembered */
#define CP_HTTP__MAX_VERIFY  2 /* scrypt checks running at once */
#define CP_HTTP__IDLE_MS     60000
#define CP_HTTP__HEAD_MS     10000 /* a request head must arrive within */
#define CP_HTTP__SSE_PING_MS 15000
#define CP_HTTP__SSE_MAX_Q   (1u << 20) /* bytes queued to a slow client */
#define CP_HTTP__COOKIE      "traefikee_session"

struct cp_http_text {
    char *p;
    size_t len, cap;
    bool oom;
};

/* ==== codec layer (codec.c) ==== */

enum cp_http__method {
    CP_HTTP__OTHER = 0,
    CP_HTTP__GET,
    CP_HTTP__HEAD,
    CP_HTTP__POST,
};

struct cp_http__slice {
    const char *p;
    size_t n;
};

struct cp_http__parser;

/* Returns new; free with cp_http__parser_free(). NULL on ENOMEM. */
struct cp_http__parser *cp_http__parser_new(void);
void cp_http__parser_free(struct cp_http__parser *p);
/* Forgets the request parsed, for the next one. */
void cp_http__parser_reset(struct cp_http__parser *p);
/* cm_h1_req_parse(): >0 head length, 0 need more, -1 invalid (then
 * cp_http__parser_status() is the status to answer). */
int cp_http__parse(struct cp_http__parser *p, const char *buf, size_t len);
int cp_http__parser_status(const struct cp_http__parser *p);
enum cp_http__method cp_http__method(const struct cp_http__parser *p);
/* Path (without query) and query of the request parsed from <buf>. */
struct cp_http__slice cp_http__path(const struct cp_http__parser *p,
                                    const char *buf);
struct cp_http__slice cp_http__query(const struct cp_http__parser *p,
                                     const char *buf);
/* The first header <name>; false if absent. */
bool cp_http__header(const struct cp_http__parser *p, const char *buf,
                     const char *name, struct cp_http__slice *out);
/* Body length: 0 none, >0 Content-Length, -1 chunked (not supported). */
int64_t cp_http__body_len(const struct cp_http__parser *p);
/* The connection may carry another request after this one. */
bool cp_http__keepalive(const struct cp_http__parser *p);

/* ==== request helpers (request.c, pure; fuzzed) ==== */

/* Value of <name> in a www-form-urlencoded <body>, percent-decoded into
 * <out> of <cap> bytes with a NUL. Returns its length, GW_ENOENT (absent),
 * GW_EINVAL (bad escape) or GW_ETOOBIG. */
int cp_http__form_get(struct cp_http__slice body, const char *name, char *out,
                      size_t cap);
/* Value of cookie <name> in a Cookie header, copied into <out> with a NUL.
 * Returns its length, GW_ENOENT or GW_ETOOBIG. */
int cp_http__cookie_get(struct cp_http__slice hdr, const char *name, char *out,
                        size_t cap);
/* Decodes "Basic BASE64(user:password)" into <user> and <pw> (NUL
 * terminated, of <ucap> and <pcap> bytes). Returns 0 or GW_EINVAL. */
int cp_http__basic_parse(struct cp_http__slice hdr, char *user, size_t ucap,
                         char *pw, size_t pcap);
/* Decodes %XX escapes of <in> into <out> (<cap> bytes, NUL added); '+' as
 * space when <form>. Returns the length, GW_EINVAL or GW_ETOOBIG. */
int cp_http__pct_decode(struct cp_http__slice in, bool form, char *out,
                        size_t cap);
/* Query parameter as cp_http__form_get(). */
#define cp_http__query_get cp_http__form_get

/* ==== JSON shaping of the API (api.c, pure) ==== */

/* The API's views; <cfg> is the configuration JSON (borrowed; NULL for an
 * empty one). Each returns a new reference or NULL on ENOMEM. */
json_t *cp_http__api_routers(json_t *cfg);
json_t *cp_http__api_services(json_t *cfg, const struct cp_http_endpoint *ep,
                              size_t nep);
json_t *cp_http__api_middlewares(json_t *cfg);
json_t *cp_http__api_entrypoints(json_t *cfg);
json_t *cp_http__api_nodes(const struct cp_http_node *nodes, size_t n,
                           uint64_t current);
json_t *cp_http__api_revisions(const struct cp_http_revision *revs, size_t n,
                               const struct cp_http_node *nodes, size_t nn,
                               uint64_t current);
/* Counts of the three views above (by "status") and the cluster. */
json_t *cp_http__api_overview(json_t *routers, json_t *services,
                              json_t *middlewares, uint64_t current,
                              const struct cp_http_node *nodes, size_t nn);
/* Unix ms as "2006-01-02T15:04:05.000Z" into <buf> (>= 32 bytes). */
const char *cp_http__iso_time(int64_t ms, char *buf, size_t len);
/* The element of <arr> named <name> or "<name>@file" (borrowed) or NULL. */
json_t *cp_http__api_find(json_t *arr, const char *name, size_t len);
/* Keeps the elements whose "name" contains <search> (may be empty), then
 * page <page> (1-based) of <per_page>. Returns new; sets *next_page to the
 * next page number or 0. */
json_t *cp_http__api_page(json_t *arr, const char *search, int page,
                          int per_page, int *next_page);
/* Data nodes serving <rev> and data nodes in all. */
void cp_http__api_served(const struct cp_http_node *nodes, size_t n,
                         uint64_t rev, size_t *serving, size_t *total);

/* ==== chart series (series.c) ==== */

struct cp_http__series;

/* Returns new (room for <cap> samples); free with cp_http__series_free(). */
struct cp_http__series *cp_http__series_new(unsigned cap);
void cp_http__series_free(struct cp_http__series *s);
/* Records the sample at <t_ms>: router rates from the cumulative counters
 * (versus the previous sample) and node states. Returns the new point as
 * JSON (new reference; NULL on ENOMEM). */
json_t *cp_http__series_add(struct cp_http__series *s, int64_t t_ms,
                            const struct cp_http_router_traffic *tr, size_t ntr,
                            const struct cp_http_node *nodes, size_t nn);
/* Every kept sample, oldest first, as /api/timeseries shows it. */
json_t *cp_http__series_json(const struct cp_http__series *s,
                             unsigned interval_ms);

/* ==== metrics (metrics.c) ==== */

struct cp_http__stats {
    uint64_t responses[6]; /* by status class 1..5 */
    uint64_t events;       /* SSE events published */
    uint64_t logins_ok, logins_failed;
    unsigned conns, sse_clients;
};

/* Writes the Prometheus text of /metrics into <t>. */
void cp_http__metrics(struct cp_http_text *t, const struct cp_http__stats *st,
                      const struct cp_http_source *src);

/* ==== TLS (tls.c) ==== */

#define CP_HTTP__TLS_CLOSED (-1)  /* cp_http__tls_read(): close_notify */
#define CP_HTTP__TLS_RBUF   65536 /* ciphertext read at once (per server) */

struct cp_http__tls_ctx;
struct cp_http__tls;

/* A server context of <chain_pem> (leaf first) and <key_pem> (borrowed):
 * TLS 1.2-1.3, ECDHE+AEAD, ALPN http/1.1. Returns new; free with
 * cp_http__tls_ctx_free() (connections made from it keep what they need).
 * NULL with <err> (GW_EINVAL: bad PEM or a key not matching). */
struct cp_http__tls_ctx *cp_http__tls_ctx_new(const char *chain_pem,
                                              const char *key_pem, char *err,
                                              size_t len);
void cp_http__tls_ctx_free(struct cp_http__tls_ctx *x);
/* A server-side connection of <x> (borrowed). Returns new; free with
 * cp_http__tls_free(). NULL when out of memory. */
struct cp_http__tls *cp_http__tls_new(struct cp_http__tls_ctx *x);
void cp_http__tls_free(struct cp_http__tls *t);
/* Hands <n> bytes read from the socket (copied). 0 or GW_ENOMEM. */
int cp_http__tls_feed(struct cp_http__tls *t, const void *p, size_t n);
/* Advances the handshake and decrypts up to <cap> (> 0) bytes into <out>:
 * the count, 0 when more input is needed, CP_HTTP__TLS_CLOSED after
 * close_notify, GW_EPROTO on failure (garbage, refused version...). */
int cp_http__tls_read(struct cp_http__tls *t, void *out, size_t cap);
/* Encrypts <n> bytes; the records wait in the output. 0 or GW_EPROTO. */
int cp_http__tls_write(struct cp_http__tls *t, const void *p, size_t n);
/* Bytes waiting to be sent, and taking up to <cap> of them into <out>. */
size_t cp_http__tls_out_len(const struct cp_http__tls *t);
size_t cp_http__tls_out_take(struct cp_http__tls *t, void *out, size_t cap);
bool cp_http__tls_established(const struct cp_http__tls *t);

/* ==== server and connections (server.c) ==== */

enum cp_http__conn_state {
    CP_HTTP__C_HEAD = 0, /* reading a request head */
    CP_HTTP__C_BODY,     /* reading its body */
    CP_HTTP__C_BUSY,     /* handling: waiting for a password check */
    CP_HTTP__C_WRITE,    /* response being written */
    CP_HTTP__C_SSE,      /* an /api/events stream */
};

struct cp_http__work;

/* One client connection. Freed in its close callback. */
struct cp_http__conn {
    uv_tcp_t tcp;
    struct cp_http *srv;
    struct cp_http__conn *prev, *next;
    struct cp_http__parser *parser;
    enum cp_http__conn_state state;
    bool keepalive;
    bool closing;
    unsigned writes;            /* uv_write requests in flight */
    size_t queued;              /* their bytes */
    int64_t active_ms;          /* last read or answer (loop time) */
    size_t len;                 /* bytes in buf */
    size_t head_len;            /* of the request being handled */
    size_t req_len;             /* head + body */
    struct cp_http__work *work; /* password check running; NULL if none */
    struct cp_http__tls *tls;   /* HTTPS; NULL for plain HTTP */
    bool secure;                /* tls handshake done */
    /* what authorized the request (kept by an event stream) */
    char session[CP_AUTH_TOKEN_MAX]; /* the session cookie; "" for Basic */
    unsigned auth_gen;               /* srv->hash_gen then (Basic) */
    char buf[CP_HTTP__CONN_BUF];     /* plaintext */
};

#define CP_HTTP__REVOKED 64 /* logged-out tokens remembered */
#define CP_HTTP__EVLOG   50 /* events kept for /api/events/log */

struct cp_http {
    uv_loop_t *loop;
    uv_tcp_t lsn;
    uv_timer_t tick;
    struct cp_http_source src;
    char *node_id;
    unsigned sample_ms, history, session_ttl_s;
    bool metrics_auth, cookie_secure;
    int64_t started_ms; /* unix ms */
    int port;
    unsigned refs; /* open handles and running work */
    bool closing;
    struct cp_http__conn *conns;
    unsigned nconns;
    struct cp_http__tls_ctx *tls; /* new connections: HTTPS; NULL plain */
    char *tls_rbuf; /* CP_HTTP__TLS_RBUF bytes of ciphertext being read */
    /* credentials */
    uint8_t cache[CP_HTTP__CACHE][32]; /* digests of verified Basic creds */
    unsigned ncache, cache_next;
    char cache_hash[CP_AUTH_HASH_MAX]; /* the hash the cache is for */
    char *revoked[CP_HTTP__REVOKED];
    unsigned revoked_next;
    unsigned verifying;
    char seen_hash[CP_AUTH_HASH_MAX]; /* the admin hash last seen ("" none) */
    unsigned hash_gen;                /* changes of seen_hash */
    /* charts and change detection */
    struct cp_http__series *series;
    char *nodes_digest;
    uint64_t config_rev;
    bool config_seen;
    char *revs_digest;
    int64_t last_ping_ms;
    uint64_t event_id;
    json_t *evlog; /* array of the last CP_HTTP__EVLOG events */
    struct cp_http__stats stats;
};

/* Copies <n> bytes at <data> and writes them. 0 or a UV_E* code (then the
 * connection is being closed). */
int cp_http__send(struct cp_http__conn *c, const void *data, size_t n);
/* Writes a whole response (status line, Content-Type when <ctype>, the
 * <extra> header lines ("Name: v\r\n"..., may be NULL), Content-Length,
 * then <body> unless HEAD) and handles the next request when it is out. */
void cp_http__reply(struct cp_http__conn *c, int status, const char *ctype,
                    const char *extra, const void *body, size_t blen);
/* Closes <c> (once). */
void cp_http__conn_close(struct cp_http__conn *c);
/* Turns <c> into an event stream: writes the head and the first events. */
void cp_http__sse_start(struct cp_http__conn *c);
/* Unix time in ms. */
int64_t cp_http__now_ms(void);

/* ==== routing, auth, handlers (route.c) ==== */

/* Handles the request parsed in c->buf (head and body complete). */
void cp_http__route(struct cp_http__conn *c);
/* The connection of <w> is closing: the check's result will be dropped. */
void cp_http__work_detach(struct cp_http__work *w);
/* Drops the server's reference of a finished check. */
void cp_http__unref(struct cp_http *s);
/* Ends the event streams whose credentials no longer hold: a session
 * logged out, expired, or signed for another admin hash than the current
 * one (a new password ends every session), and streams opened with Basic
 * credentials once the hash changed. Called each tick, on a poke and on
 * logout. */
void cp_http__streams_check(struct cp_http *s);

/* ==== text buffer (metrics.c) ==== */

void cp_http__text_vprintf(struct cp_http_text *t, const char *fmt, va_list ap);
void cp_http__text_add(struct cp_http_text *t, const char *s, size_t n);

#endif
