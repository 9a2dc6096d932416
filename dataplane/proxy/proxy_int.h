/*
 * proxy_int.h -- what the proxy's files share and nobody else reads: the
 * per-worker state, client connections (one state machine each), upstream
 * connections and their keep-alive pools, the routing plan a request takes
 * out of the table. Everything here but struct dp_proxy's publication
 * fields belongs to one worker thread.
 */
#ifndef DP_PROXY_INT_H
#define DP_PROXY_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <uv.h>

#include "common/net/net.h"
#include "common/http1/http1.h"
#include "dataplane/filter/filter-t.h"
#include "dataplane/proxy/proxy.h"
#include "dataplane/router/router-t.h"
#include "dataplane/table/table-t.h"
#include "dataplane/tls/tls-t.h"
#include "dataplane/worker/worker.h"

#define DP_PROXY__HDR_MAX    128         /* headers per head */
#define DP_PROXY__CBUF_MIN   8192        /* client buffer, first size */
#define DP_PROXY__CBUF_MAX   (64 * 1024) /* client buffer, largest */
#define DP_PROXY__UBUF       (64 * 1024) /* upstream buffer */
#define DP_PROXY__TLS_IN     (17 * 1024) /* ciphertext read buffer (TLS) */
#define DP_PROXY__TRY_MAX    4           /* endpoints tried per request */
#define DP_PROXY__NAME_MAX   64          /* listener names */
#define DP_PROXY__POOL_HASH  64          /* pool buckets per worker */
#define DP_PROXY__IOV_EXTRA  4           /* iovecs after the written head */
#define DP_PROXY__OL_MAX     64          /* outlier entries per worker */
#define DP_PROXY__FLUSH_MAX  1024        /* queued accepts served at close */
#define DP_PROXY__OL_TICK    100         /* un-ejection check period, ms */
#define DP_PROXY__STICKY_MAX 64          /* sticky keys matched per batch */
#define DP_PROXY__EX_FREE    64          /* free exchanges a worker keeps */
#define DP_PROXY__CBUF_FREE  64 /* free client buffers a worker keeps */
#define DP_PROXY__UBUF_FREE  16 /* free upstream buffers a worker keeps */

/* Increments a counter only its worker writes; others read it relaxed. */
#define DP_PROXY__INC(w, f, n)                                                 \
    __atomic_store_n(&(w)->st.f, (w)->st.f + (n), __ATOMIC_RELAXED)

/* A byte buffer: data in [start, end) of p[0, cap). */
struct dp_proxy__buf {
    char *p;
    uint32_t start, end, cap;
};

/* Free buffers of one size a worker keeps for reuse (at most <max>),
 * chained through their first bytes. */
struct dp_proxy__bufs {
    void *head;
    uint32_t n, max;
    uint32_t size;
};

/* One listening socket of one worker. */
struct dp_proxy__lsn {
    uv_tcp_t tcp;
    struct dp_proxy__worker *w;
    struct dp_proxy__lsn *next;
    char name[DP_PROXY__NAME_MAX];
    struct sockaddr_storage addr;
    bool keep; /* marked during a listener sync */
};

/* A listener the table asks for (name and address), as posted to workers. */
struct dp_proxy__lsn_want {
    char name[DP_PROXY__NAME_MAX];
    struct sockaddr_storage addr;
};

/* Idle upstream connections to one address. */
struct dp_proxy__pool {
    struct dp_proxy__pool *next; /* bucket chain */
    struct sockaddr_storage addr;
    struct dp_proxy__up *idle; /* most recently used first */
    uint32_t n_idle;
};

struct dp_proxy__conn;

/* Passive health (outlier detection) of one endpoint as one worker saw it:
 * consecutive failures, and the ejection this worker made. */
struct dp_proxy__ol {
    struct dp_cluster_state *st; /* a reference held while in the table */
    uint32_t ep;                 /* endpoint index in the state */
    uint32_t fails;              /* consecutive 5xx / connect failures */
    uint64_t until;              /* ejected until (loop ms); 0: not ejected */
};

struct dp_proxy__rstat; /* one router's counters (proxy_rstat.c) */

/* A worker's router counters: entries published on <head> (readers walk
 * it from any thread); <idx> is the worker's own hash index. */
struct dp_proxy__rstats {
    struct dp_proxy__rstat *head;
    struct dp_proxy__rstat **idx;
    uint32_t cap, n;
};

/* Per-worker state: the worker's data pointer. */
struct dp_proxy__worker {
    struct dp_worker w;
    struct dp_proxy *p;
    struct dp_proxy__lsn *lsns;
    struct dp_proxy__pool *pools[DP_PROXY__POOL_HASH];
    struct dp_proxy__conn *conns; /* every open client connection */
    struct dp_router_scratch *scratch;
    struct dp_filter_scratch *fscratch; /* dataplane/filter regex data */
    char *fbuf; /* DP_FILTER_BUF_DEF bytes: filter outputs, read at once */
    /* DP_PROXY__TLS_IN bytes: client reads land here when the connection
     * has no buffer of its own (idle) or speaks TLS (ciphertext); the read
     * callback copies or feeds them on at once. */
    char *rbuf;
    uint64_t rnd;                             /* splitmix64 state */
    struct dp_proxy__ol ol[DP_PROXY__OL_MAX]; /* passive health entries */
    size_t n_ol;
    uv_timer_t ol_timer;          /* un-ejects; runs while an ejection is on */
    struct dp_proxy__h2up *h2ups; /* HTTP/2 upstream connections */
    bool draining;
    bool stopping;
    uint32_t drain_grace_ms;  /* draining: idle keep-alive wait (proxy.c) */
    struct dp_proxy_stats st; /* this worker's counters */
    struct dp_proxy__rstats rstats; /* per router; freed with the engine */
    struct dp_proxy__bufs cbufs;    /* client read buffers (CBUF_MIN) */
    struct dp_proxy__bufs ubufs;    /* upstream read buffers (UBUF) */
    struct dp_proxy__ex *ex_free;   /* exchanges to reuse (reset) */
    uint32_t n_ex_free;             /* at most DP_PROXY__EX_FREE */
};

/* Request plan kinds. */
enum dp_proxy__plan_kind {
    DP_PROXY__PLAN_FORWARD = 0, /* to an upstream endpoint */
    DP_PROXY__PLAN_LOCAL,       /* answered here: status, body, location */
};

/* A string in the connection's scratch buffer (offsets: it may grow). */
struct dp_proxy__str {
    uint32_t off, len;
    bool set;
};

/* Growable scratch bytes holding a plan's strings (dp_proxy__str). */
struct dp_proxy__sb {
    char *p;
    uint32_t len, cap;
};

/* What a request took from the table while it was routed: copies only, so
 * nothing of the table is held across callbacks. */
struct dp_proxy__plan {
    uint8_t kind;                        /* enum dp_proxy__plan_kind */
    uint16_t status;                     /* LOCAL */
    struct dp_proxy__str body, location; /* LOCAL */
    struct dp_proxy__str target;         /* rewritten path?query */
    struct dp_proxy__str host;           /* Host rewrite */
    struct dp_proxy__str req_add;        /* "Name: value\r\n" lines to add */
    struct dp_proxy__str resp_add;       /* same, for the response */
    struct dp_proxy__str resp_rm;        /* "name\0name\0": response removals */
    struct sockaddr_storage cand[DP_PROXY__TRY_MAX]; /* endpoints to try */
    uint32_t cand_ep[DP_PROXY__TRY_MAX]; /* their indices in the cluster */
    uint8_t n_cand;
    bool http2; /* the cluster's upstreams speak HTTP/2 (h2c) */
    /* FORWARD: the cluster's runtime state, referenced until the exchange
     * ends (dp_proxy__plan_release), and what its accounting needs. */
    struct dp_cluster_state *st;
    struct dp_tls_client *up_tls; /* https upstream (a reference), or NULL */
    int32_t active_ep;            /* endpoint counted in flight, or -1 */
    uint32_t n_eps;               /* endpoints in the cluster */
    struct dp_circuit_breakers cb;
    struct dp_outlier outlier;
    uint32_t retries;                    /* further attempts allowed */
    uint32_t backoff_ms, backoff_max_ms; /* wait before retry k: base*2^(k-1) */
    uint32_t retry_on;                   /* DP_RETRY_* */
    uint64_t timeout_ms;                 /* response head wait */
    /* Our filters (proxy_filter.c): the request's filter context, ended by
     * dp_proxy__plan_release_pl() with <resp_status>, which the codec sets
     * to the final status the client got (0: none). LOCAL plans may carry
     * resp_add lines too (WWW-Authenticate, Retry-After). */
    struct dp_filter_ctx fctx;
    uint16_t resp_status;
    uint32_t delay_ms; /* rateLimit: wait this long before connecting */
    /* The router's counters (proxy_rstat.c), or NULL; counted when the
     * plan is released, with <resp_status> and the time since <t0_ns>. */
    struct dp_proxy__rstat *rstat;
    uint64_t t0_ns;
};

/* Client connection states (one function each in proxy_conn.c). */
enum dp_proxy__state {
    DP_PROXY__S_HEAD = 0, /* reading and parsing a request head */
    DP_PROXY__S_ROUTE,    /* head parsed: route it */
    DP_PROXY__S_LOCAL,    /* writing a response made here */
    DP_PROXY__S_CONNECT,  /* waiting for an upstream connection */
    DP_PROXY__S_FORWARD,  /* request and response streaming */
    DP_PROXY__S_TUNNEL,   /* after 101: bytes both ways */
    DP_PROXY__S_DONE,     /* exchange complete: next request or close */
    DP_PROXY__S_DELAY,    /* rateLimit delay, retry back-off (timer) */
    DP_PROXY__S_CLOSING,  /* handles closing */
    DP_PROXY__S_H2,       /* HTTP/2: the session in c->h2 (proxy_h2.c) */
    DP_PROXY__S_H2GW,     /* HTTP/1 exchange with an h2c upstream (c->gw) */
};

/* Response progress of the current exchange. */
enum dp_proxy__resp_phase {
    DP_PROXY__R_HEAD = 0, /* waiting for the (next) response head */
    DP_PROXY__R_BODY,     /* forwarding the body */
    DP_PROXY__R_DONE,     /* complete */
};

/* What the client connection's timer is running for. */
enum dp_proxy__timer {
    DP_PROXY__T_NONE = 0,
    DP_PROXY__T_IDLE,  /* keep-alive idle: close */
    DP_PROXY__T_HEAD,  /* head incomplete: 408 */
    DP_PROXY__T_ROUTE, /* response head late: 504 */
    DP_PROXY__T_DELAY, /* rateLimit delay, retry back-off over: connect */
};

/* The HTTP/1 exchange in progress on a client connection: the parsed
 * request head, its plan and the progress of both directions. Taken from
 * the worker (dp_proxy__ex_get) when a request's first bytes arrive and
 * given back (dp_proxy__ex_put) once the connection is idle again, so an
 * idle keep-alive connection holds none of it. Pipelined requests reuse
 * it (dp_proxy__ex_reset). HTTP/2 connections never have one. */
struct dp_proxy__ex {
    struct dp_proxy__ex *next; /* the worker's free list */
    struct dp_proxy__sb sb;    /* scratch strings of the plan (kept) */
    struct cm_h1_req req;      /* its headers are hdrs (kept) */
    struct cm_h1_hdr hdrs[DP_PROXY__HDR_MAX];
    /* from here on zeroed for each request (dp_proxy__ex_reset) */
    struct dp_proxy__plan plan;
    uint8_t tries;       /* attempts made */
    bool no_pool;        /* next attempt: fresh connection */
    bool head_sent;      /* request head written upstream */
    bool body_started;   /* some request body bytes sent upstream */
    bool req_done;       /* request body fully sent */
    uint8_t req_body;    /* enum cm_h1_body */
    int64_t req_left;    /* LENGTH: bytes left */
    uint32_t up_wr_body; /* body bytes of c->in in the upstream write */
    struct cm_h1_chunked req_chunked;
    uint8_t resp_phase; /* enum dp_proxy__resp_phase */
    uint8_t resp_body;  /* enum cm_h1_body */
    bool resp_started;  /* some response byte went to the client */
    bool upgrade;       /* request asks for an upgrade */
    int64_t resp_left;
    uint32_t cl_wr_len; /* bytes of up->in in the client write */
    struct cm_h1_chunked resp_chunked;
    char *local; /* LOCAL: the response bytes (malloc'ed) */
    uint32_t local_len;
};

/* A client connection. Freed when both handles have closed. Holds only
 * what lives as long as the connection; the request in progress is in
 * <x>, the bytes read in <in> (no buffer while idle, plain HTTP/1). */
struct dp_proxy__conn {
    uv_tcp_t tcp;
    struct dp_tls_conn *tls; /* TLS transport, or NULL (plaintext); its
                                ciphertext is read into the worker's rbuf */
    uv_timer_t timer;        /* head, idle, route timeouts */
    uv_write_t wr;           /* the one write to the client in flight */
    uv_shutdown_t shut;
    struct dp_proxy__worker *w;
    struct dp_proxy__conn *prev, *next; /* worker's list */
    struct dp_proxy__up *up;            /* upstream in use, or NULL */
    uint8_t state;                      /* enum dp_proxy__state */
    uint8_t handles;                    /* open handles */
    bool reading;                       /* uv_read_start active */
    bool writing;                       /* wr in flight */
    bool close_after;                   /* close once the exchange ends */
    bool eof;                           /* client sent EOF */
    bool h1_seen;                       /* a request head was parsed */
    uint8_t tkind;                      /* enum dp_proxy__timer */
    char lsn[DP_PROXY__NAME_MAX];       /* listener the connection came in on */
    char peer[CM_NET_ADDRSTRLEN];       /* client IP, for X-Forwarded-For */
    struct sockaddr_storage peer_sa;    /* the same, for the filters */
    struct dp_proxy__buf in;   /* request bytes; head kept at [0,head) */
    uint32_t head_len;         /* 0 until a head is parsed */
    struct dp_proxy__ex *x;    /* HTTP/1 exchange in progress, or NULL */
    struct dp_proxy__h2 *h2;   /* state H2: owned, freed with the conn */
    struct dp_proxy__h2gw *gw; /* state H2GW: owned (proxy_h2gw.c) */
};

/* Upstream connection states. */
enum dp_proxy__up_state {
    DP_PROXY__U_CONNECTING = 0,
    DP_PROXY__U_ACTIVE, /* serving c */
    DP_PROXY__U_IDLE,   /* in its pool */
    DP_PROXY__U_CLOSING,
};

/* An upstream connection. Freed when both handles have closed. */
struct dp_proxy__up {
    uv_tcp_t tcp;
    struct dp_tls_conn *tls; /* TLS to the upstream, or NULL */
    char *tls_in;            /* TLS: ciphertext read buffer */
    uv_timer_t timer;        /* connect timeout, pool idle timeout */
    uv_connect_t connect;
    uv_write_t wr; /* the one write upstream in flight */
    struct dp_proxy__worker *w;
    struct dp_proxy__conn *c;    /* ACTIVE: the client served */
    struct dp_proxy__pool *pool; /* IDLE: the pool holding it */
    struct dp_proxy__up *pnext, *pprev;
    uint8_t state; /* enum dp_proxy__up_state */
    uint8_t handles;
    bool reading;
    bool writing;
    bool reused;   /* served a request before */
    bool got_data; /* a response byte arrived for this request */
    bool eof;
    int werr; /* a write upstream failed */
    struct sockaddr_storage addr;
    /* Set instead of <c> when an HTTP/2 client stream (proxy_h2.c) uses
     * this connection: events go to ev(owner, DP_PROXY__UEV_*, status). */
    void (*ev)(void *owner, int what, int status);
    void *owner;
    struct dp_proxy__buf in; /* response bytes */
    struct cm_h1_resp resp;
    struct cm_h1_hdr hdrs[DP_PROXY__HDR_MAX];
};

/* ==== proxy.c ==== */

/* Borrows: the current table, or NULL if none. On a worker thread (RCU
 * reader online), valid until the callback returns. */
const struct dp_table *dp_proxy__table(struct dp_proxy__worker *w);
/* The engine's options (defaults applied). */
const struct dp_proxy_opts *dp_proxy__opts(struct dp_proxy__worker *w);
uint64_t dp_proxy__rand(struct dp_proxy__worker *w);
/* Tables published so far. Any thread. */
uint64_t dp_proxy__swaps(struct dp_proxy *p);

/* Sets *v to a new array (free()) of every worker's router counters;
 * returns its length (0 with *v NULL when out of memory). Any thread. */
size_t dp_proxy__rstats_all(struct dp_proxy *p, struct dp_proxy__rstats ***v);

/* Returns a buffer of b->size bytes from <b> or new (free with
 * dp_proxy__buf_put() or free()), or NULL when out of memory. */
void *dp_proxy__buf_get(struct dp_proxy__bufs *b);
/* Takes <p> (b->size bytes): kept in <b> or freed. NULL is a no-op. */
void dp_proxy__buf_put(struct dp_proxy__bufs *b, void *p);
/* Frees every buffer <b> keeps. */
void dp_proxy__bufs_clear(struct dp_proxy__bufs *b);

/* ==== proxy_rstat.c ==== */

/* The entry of the router named by route name <name> (<len> bytes, a
 * "#i" suffix ignored) in <s>, made on first use; NULL for an empty name,
 * at the entry limit or out of memory. Worker thread. */
struct dp_proxy__rstat *dp_proxy__rstat_get(struct dp_proxy__rstats *s,
                                            const char *name, size_t len);
/* Counts <pl>'s exchange (if it was answered) on its router entry and
 * clears pl->rstat. Idempotent. Worker thread. */
void dp_proxy__rstat_end(struct dp_proxy__plan *pl, uint64_t now_ns);
/* Sums the entries of the <nv> lists by router name: *out gets a new array
 * (free()) of *n entries whose names are borrowed from the lists. Returns
 * 0 or GW_ENOMEM. Any thread. */
int dp_proxy__rstat_sum(struct dp_proxy__rstats *const *v, size_t nv,
                        struct dp_proxy_router_stat **out, size_t *n);
/* Frees every entry of <s> (no worker runs any more). */
void dp_proxy__rstats_deinit(struct dp_proxy__rstats *s);

/* ==== proxy_hc.c ==== */

struct dp_proxy__hc;

/* Starts the active health checker's thread for <p> (borrowed until
 * dp_proxy__hc_stop()). Returns new, or NULL when out of resources. */
struct dp_proxy__hc *dp_proxy__hc_start(struct dp_proxy *p);
/* Adds the checker's counters to <out>. Any thread; NULL is a no-op. */
void dp_proxy__hc_stats(struct dp_proxy__hc *hc, struct dp_proxy_stats *out);
/* Stops the thread, drops its cluster state references, frees <hc>.
 * NULL is a no-op. */
void dp_proxy__hc_stop(struct dp_proxy__hc *hc);

/* HealthCheckResponse.status (field 1, a varint; absent: UNKNOWN = 0) of
 * the protobuf message <p> (<n> bytes, from the upstream), or -1 if
 * malformed (proxy_hc.c; fuzzed by hc_grpc_fuzz). */
int64_t dp_proxy__hc_grpc_status(const uint8_t *p, size_t n);

/* ==== proxy_conn.c ==== */

/* Accepts one connection from <lsn>. */
void dp_proxy__accept(struct dp_proxy__lsn *lsn);
/* Serves <fd> (taken), accepted from <lsn> by the caller. */
void dp_proxy__accept_fd(struct dp_proxy__lsn *lsn, int fd);
/* Re-runs <c>'s state machine (after an upstream event). */
void dp_proxy__conn_run(struct dp_proxy__conn *c);
/* Closes <c> and its upstream. */
void dp_proxy__conn_close(struct dp_proxy__conn *c);
/* Gives <c>'s read buffer back to the worker (it must hold nothing still
 * to be read); the next read takes one again. */
void dp_proxy__in_release(struct dp_proxy__conn *c);
/* Draining: marks <c> to close after its exchange; an idle HTTP/1
 * connection waits at most the worker's drain_grace_ms for a last request
 * (answered with Connection: close), HTTP/2 gets a GOAWAY. */
void dp_proxy__conn_drain(struct dp_proxy__conn *c);
/* Returns an exchange for <c>'s next request (reset), from <w>'s free list
 * or new; NULL when out of memory. Give back with dp_proxy__ex_put(). */
struct dp_proxy__ex *dp_proxy__ex_get(struct dp_proxy__worker *w);
/* Takes <x> (its plan released, reset): kept on <w>'s free list or freed. */
void dp_proxy__ex_put(struct dp_proxy__worker *w, struct dp_proxy__ex *x);
/* Releases <x>'s plan and clears it for the next request. */
void dp_proxy__ex_reset(struct dp_proxy__ex *x);
/* Frees <x> and what it owns. NULL is a no-op. */
void dp_proxy__ex_free(struct dp_proxy__ex *x);
/* Frees <w>'s free list (worker exit). */
void dp_proxy__ex_free_all(struct dp_proxy__worker *w);
/* Upstream events for the conn's state machine. */
void dp_proxy__conn_up_connected(struct dp_proxy__conn *c, int status);
void dp_proxy__conn_up_failed(struct dp_proxy__conn *c, int status);

/* ==== proxy_up.c ==== */

/* Takes an idle connection to <addr> from the pool, or NULL. */
struct dp_proxy__up *dp_proxy__pool_take(struct dp_proxy__worker *w,
                                         const struct sockaddr_storage *addr);
/* Starts a connection to <addr> for <c>; dp_proxy__conn_up_connected()
 * follows. Returns new (owned by c until released), or NULL. */
struct dp_proxy__up *dp_proxy__up_connect(struct dp_proxy__worker *w,
                                          struct dp_proxy__conn *c,
                                          const struct sockaddr_storage *addr);
/* Returns <u> to its pool (keep-alive) or closes it. */
void dp_proxy__up_release(struct dp_proxy__up *u, bool keep);
void dp_proxy__up_close(struct dp_proxy__up *u);
/* Starts/stops reading from <u> as <on> says. */
void dp_proxy__up_reading(struct dp_proxy__up *u, bool on);
/* Closes every pooled connection of <w>. */
void dp_proxy__pool_close_all(struct dp_proxy__worker *w);

/* ==== proxy_route.c ==== */

/* A request as routing reads it, whichever codec parsed it (an HTTP/1
 * connection or an HTTP/2 stream), and where its plan goes. */
struct dp_proxy__rreq {
    struct dp_proxy__worker *w;
    const char *lsn;         /* listener the request came in on */
    struct dp_router_req rq; /* host, path, query, method, get_header */
    /* Marks every request header named <name> as not to be forwarded;
     * called with rq.get_header_arg. */
    void (*drop)(void *arg, const char *name, size_t len);
    struct dp_proxy__plan *plan; /* filled (released first) */
    struct dp_proxy__sb *sb;     /* the plan's strings (emptied first) */
    const struct sockaddr *peer; /* client address (NULL: unknown) */
    bool tls;                    /* the client connection is TLS */
    /* set while routing (proxy_filter.c) */
    const struct dp_route *route;
    const struct dp_filter_chain *chain; /* the route's, or NULL */
    uint8_t cookie; /* a Set-Cookie to add: enum dp_proxy__cookie */
    const struct dp_route_hash_policy *cookie_hp; /* DP_PROXY__COOKIE_HASH */
};

/* Routes <r> with the current table and fills r->plan. Called on the
 * worker inside a callback; copies what it needs. Returns 0, or a negative
 * error (out of memory). */
int dp_proxy__route_req(struct dp_proxy__rreq *r);
/* Same for <c>'s parsed HTTP/1 request, into c->x->plan. */
int dp_proxy__route(struct dp_proxy__conn *c);
/* The wait before the next attempt after <tries> made (>= 1): the retry
 * policy's back-off base doubled per retry, capped at its maximum. */
uint64_t dp_proxy__retry_backoff(const struct dp_proxy__plan *pl,
                                 uint32_t tries);
/* <ms> spread at random over [ms/2, 3ms/2] (Traefik's retry back-off has a
 * randomization factor of 0.5): clients failing together do not retry in
 * step. */
uint64_t dp_proxy__jitter(struct dp_proxy__worker *w, uint64_t ms);

/* Plan-level forms of dp_proxy__plan_switch/_release below. */
int dp_proxy__plan_switch_pl(struct dp_proxy__plan *pl, uint32_t k);
void dp_proxy__plan_release_pl(struct dp_proxy__plan *pl);
/* Collects the listeners <t> asks for: returns a new array of *n entries
 * (free with free()), or NULL when there are none or out of memory. */
struct dp_proxy__lsn_want *dp_proxy__table_listeners(const struct dp_table *t,
                                                     size_t *n);
/* Moves the in-flight accounting of <c>'s exchange to candidate <k> (a
 * retry): returns 0, or GW_ETOOBIG when the cluster's max_requests is
 * reached. */
int dp_proxy__plan_switch(struct dp_proxy__conn *c, uint32_t k);
/* Ends the in-flight accounting of <c>'s exchange (if any) and drops its
 * cluster state reference. Idempotent. */
void dp_proxy__plan_release(struct dp_proxy__conn *c);

/* Appends <n> bytes to the plan string <s> (the last one started). */
int dp_proxy__str_add(struct dp_proxy__rreq *c, struct dp_proxy__str *s,
                      const void *p, size_t n);

/* ==== proxy_filter.c ==== */

enum dp_proxy__cookie {
    DP_PROXY__COOKIE_NONE = 0,
    DP_PROXY__COOKIE_STICKY, /* the StickyCookie filter's */
    DP_PROXY__COOKIE_HASH,   /* a cookie hash_policy's (rreq.cookie_hp) */
};

/* What dp_proxy__filter_cond() hands the router. */
struct dp_proxy__fcond {
    const struct dp_filter_set *set;
    const struct sockaddr *peer;
};

/* Makes <c>'s router request evaluate ClientIP conditions of <set> (may be
 * NULL) against the peer; <fc> (caller's) must outlive the match. */
void dp_proxy__filter_cond(struct dp_proxy__rreq *c,
                           const struct dp_filter_set *set,
                           struct dp_proxy__fcond *fc);
/* Runs c->chain: returns 0 (forward; path, headers and delay noted in
 * the plan), 1 (the plan is now a LOCAL answer) or GW_ENOMEM. */
int dp_proxy__filter_request(struct dp_proxy__rreq *c);
/* Request header lines the filters add, into plan.req_add. */
int dp_proxy__filter_req_add(struct dp_proxy__rreq *c);
/* Failover, and a sticky cookie naming a weighted route's cluster: may
 * change <*rc>; returns the cluster to use, or NULL (503: both down). */
const struct dp_cluster *
dp_proxy__filter_upstream(struct dp_proxy__rreq *c, const struct dp_table *t,
                          const struct dp_route_cluster **rc,
                          const struct dp_cluster *cl);
/* The endpoint the sticky cookie or the route's hash_policy designates in
 * <cl>, or -1 (pick by the cluster's policy); notes a cookie to set. */
int dp_proxy__filter_first(struct dp_proxy__rreq *c,
                           const struct dp_cluster *cl);
/* Adds the noted Set-Cookie for endpoint plan.cand_ep[0] of <cl> to
 * plan.resp_add. */
int dp_proxy__filter_cookie(struct dp_proxy__rreq *c,
                            const struct dp_cluster *cl);
/* Inserts header <lines> ("Name: v\r\n"...) before the blank line of the
 * local response in out[0, n) (<cap> bytes). Returns the new length or
 * GW_ETOOBIG. */
int dp_proxy__splice_hdrs(char *out, size_t cap, int n, const char *lines,
                          size_t len);

/* ==== proxy_h2.c: HTTP/2 client connections ==== */

struct dp_proxy__h2;
struct dp_h2_field;
struct dp_h2_head;

/* dp_proxy__up.ev events */
enum { DP_PROXY__UEV_CONNECTED = 1, DP_PROXY__UEV_FAILED, DP_PROXY__UEV_READ };

/* Whether <c>'s first bytes are the HTTP/2 preface: 1 yes, 0 a prefix of
 * it (need more), -1 no. */
int dp_proxy__h2_detect(const struct dp_proxy__conn *c);
/* Switches <c> to HTTP/2 (state DP_PROXY__S_H2): bytes in c->in are fed
 * next. Also what a TLS handshake that chose ALPN "h2" calls. */
int dp_proxy__h2_start(struct dp_proxy__conn *c);
/* Feeds c->in to the session, routes and pumps streams (state H2). */
void dp_proxy__h2_run(struct dp_proxy__conn *c);
bool dp_proxy__h2_want_read(const struct dp_proxy__conn *c);
/* Sends HTTP/2 bytes to the client: the transport hook. */
int dp_proxy__h2_tx(struct dp_proxy__conn *c, const uint8_t *p, size_t n);
/* GOAWAY (graceful); the connection closes when its streams are done. */
void dp_proxy__h2_drain(struct dp_proxy__conn *c);
/* Ends every stream of <c> (the connection is closing). */
void dp_proxy__h2_close(struct dp_proxy__conn *c);
void dp_proxy__h2_free(struct dp_proxy__h2 *h);

/* ==== proxy_h2up.c: HTTP/2 upstream connections and streams ==== */

struct dp_proxy__h2up;
struct dp_proxy__h2x;

/* What an upstream stream's owner hears. After closed() nothing more. */
struct dp_proxy__h2x_ops {
    void (*ready)(void *o); /* the connection is up: submit the request */
    void (*head)(void *o, const struct dp_h2_head *h);
    void (*data)(void *o, const uint8_t *p, size_t n);
    void (*trailers)(void *o, const struct dp_h2_head *h);
    void (*end)(void *o);
    void (*closed)(void *o, uint32_t code); /* 7: refused (nothing sent) */
    void (*room)(void *o, size_t n);        /* n request bytes went out */
};

/* A stream to <addr> on a pooled or new connection; ops->ready() follows
 * unless dp_proxy__h2x_ready() already. Returns new (free with
 * dp_proxy__h2x_free()), or NULL. */
struct dp_proxy__h2x *dp_proxy__h2x_open(struct dp_proxy__worker *w,
                                         const struct sockaddr_storage *addr,
                                         const struct dp_proxy__h2x_ops *ops,
                                         void *o);
bool dp_proxy__h2x_ready(const struct dp_proxy__h2x *x);
int dp_proxy__h2x_request(struct dp_proxy__h2x *x, const struct dp_h2_field *f,
                          size_t n, bool end);
int dp_proxy__h2x_write(struct dp_proxy__h2x *x, const void *p, size_t n);
int dp_proxy__h2x_end(struct dp_proxy__h2x *x, const struct dp_h2_field *f,
                      size_t n);
size_t dp_proxy__h2x_queued(const struct dp_proxy__h2x *x);
void dp_proxy__h2x_consume(struct dp_proxy__h2x *x, size_t n);
void dp_proxy__h2x_flush(struct dp_proxy__h2x *x);
/* Resets the stream if still open and frees <x>. NULL is a no-op. */
void dp_proxy__h2x_free(struct dp_proxy__h2x *x);
/* Closes every HTTP/2 upstream connection of <w>. */
void dp_proxy__h2up_close_all(struct dp_proxy__worker *w);

/* ==== proxy_h2gw.c: HTTP/1.1 clients to h2c upstreams ==== */

struct dp_proxy__h2gw;

/* Routed <c> (plan.http2): starts the exchange (state DP_PROXY__S_H2GW). */
int dp_proxy__h2gw_start(struct dp_proxy__conn *c);
/* Moves bytes; 1 when the exchange is over (state DONE), else 0. */
int dp_proxy__h2gw_run(struct dp_proxy__conn *c);
bool dp_proxy__h2gw_want_read(const struct dp_proxy__conn *c);
/* Ends the exchange (the connection is closing). */
void dp_proxy__h2gw_close(struct dp_proxy__conn *c);

/* ==== proxy_outlier.c ==== */

/* Records the outcome of the attempt at c->x->plan.cand_ep[<k>]: <ok> false
 * for a connect failure or a 5xx. Ejects the endpoint after the cluster's
 * consecutive_5xx failures (for base_ejection_time) when outlier detection
 * is configured. Worker thread. */
void dp_proxy__outlier_report(struct dp_proxy__conn *c, uint32_t k, bool ok);
/* Lifts every ejection of <w> and drops its references (worker exit). */
void dp_proxy__outlier_clear(struct dp_proxy__worker *w);

/* ==== proxy_tls.c ==== */

/* Like dp_proxy__send() through TLS <t>: encrypts <bufs> (consumed at
 * once), writes the records; 1 when all went out, 0 when <cb>(<wr>)
 * follows, or a negative error. */
int dp_proxy__tls_send(struct dp_tls_conn *t, uv_stream_t *s, uv_write_t *wr,
                       uv_buf_t *bufs, int n, uv_write_cb cb);
/* Writes the handshake / alert / ticket bytes <t> holds. 0 or negative. */
int dp_proxy__tls_flush(struct dp_tls_conn *t, uv_stream_t *s);
/* Accepted <c>: starts TLS if its listener in the current table has a TLS
 * context. 0, or negative (close it). */
int dp_proxy__conn_tls(struct dp_proxy__conn *c);
/* Starts TLS on accepted <c> with <srv> (a reference is taken). */
int dp_proxy__tls_accept(struct dp_proxy__conn *c, struct dp_tls_server *srv);
/* Ciphertext read from <c>'s socket: handshake, then decrypt into c->in.
 * > 0 when plaintext arrived (or close_notify: c->eof), 0 none, negative:
 * close the connection. */
int dp_proxy__tls_input(struct dp_proxy__conn *c, const char *p, size_t n);
/* Same without new bytes: decrypts what is buffered inside. */
int dp_proxy__tls_pull(struct dp_proxy__conn *c);
/* Queues close_notify (polite close). */
void dp_proxy__tls_close_notify(struct dp_proxy__conn *c);
/* Upstream: start TLS with <cl> (a reference is taken), advance the
 * handshake (1 done, 0 more, negative failed), decrypt into u->in. */
int dp_proxy__tls_up_start(struct dp_proxy__up *u, struct dp_tls_client *cl);
int dp_proxy__tls_up_handshake(struct dp_proxy__up *u);
int dp_proxy__tls_up_pull(struct dp_proxy__up *u);

/* ==== proxy_resp.c ==== */

/* Helpers for sending: writes <bufs> now if the socket takes them all
 * (returns 1), else queues the rest with uv_write (returns 0; <cb> follows),
 * or returns a negative error. */
int dp_proxy__send(uv_stream_t *s, uv_write_t *wr, uv_buf_t *bufs, int n,
                   uv_write_cb cb);

#endif
