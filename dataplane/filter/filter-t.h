/*
 * filter-t.h -- types of the data node's own HTTP filters (the Traefik
 * middlewares of api/proto/traefikee/filters/v1/filters.proto): the request
 * view a worker hands in, the per-request context that carries the verdict
 * and what the filters acquired (in-flight slot, circuit-breaker probe),
 * build options. Prototypes are in filter.h. Compiled chains are immutable
 * and shared by workers; runtime state (buckets, counters, windows) lives in
 * refcounted states of a struct dp_filter_registry that outlives tables.
 */
#ifndef DP_FILTER_T_H
#define DP_FILTER_T_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "dataplane/router/router-t.h"

struct dp_filter_registry;  /* opaque: runtime states by key, refcounted */
struct dp_filter_chain;     /* opaque: compiled filters of one route */
struct dp_filter_set;       /* opaque: chains of one RouteConfiguration */
struct dp_filter_client_ip; /* opaque: compiled ClientIpMatch */
struct dp_filter_scratch;   /* opaque: per-worker regex match data */
struct dp_filter__state;    /* private: one shared runtime state */

/* Filter names: Route.typed_per_filter_config keys (common/xds). */
#define DP_FILTER_N_CLIENT_IP       "traefikee.filters.client_ip"
#define DP_FILTER_N_IP_ALLOW_LIST   "traefikee.filters.ip_allow_list"
#define DP_FILTER_N_BASIC_AUTH      "traefikee.filters.basic_auth"
#define DP_FILTER_N_RATE_LIMIT      "traefikee.filters.rate_limit"
#define DP_FILTER_N_IN_FLIGHT_REQ   "traefikee.filters.in_flight_req"
#define DP_FILTER_N_CIRCUIT_BREAKER "traefikee.filters.circuit_breaker"
#define DP_FILTER_N_REDIRECT_REGEX  "traefikee.filters.redirect_regex"
#define DP_FILTER_N_PATH_REWRITE    "traefikee.filters.path_rewrite"
#define DP_FILTER_N_FAILOVER        "traefikee.filters.failover"
#define DP_FILTER_N_STICKY          "traefikee.filters.sticky"

/* In HttpConnectionManager order, which is also the order
 * dp_filter_request() applies them. */
enum dp_filter_kind {
    DP_FILTER_CLIENT_IP = 0, /* a route match condition, not an action */
    DP_FILTER_IP_ALLOW_LIST,
    DP_FILTER_BASIC_AUTH,
    DP_FILTER_RATE_LIMIT,
    DP_FILTER_IN_FLIGHT_REQ,
    DP_FILTER_CIRCUIT_BREAKER,
    DP_FILTER_REDIRECT_REGEX,
    DP_FILTER_PATH_REWRITE,
    DP_FILTER_FAILOVER, /* upstream selection: dp_filter_failover() */
    DP_FILTER_STICKY,   /* upstream selection: dp_filter_sticky_*() */
};
#define DP_FILTER_NKINDS (DP_FILTER_STICKY + 1)

/* Maps a cluster name to its index (>= 0) or -1 (as dp_router_cluster_cb). */
typedef int (*dp_filter_cluster_cb)(void *arg, const char *name);

/* Build options; a NULL options pointer means all zero. */
struct dp_filter_opts {
    /* If set, Failover.fallback_cluster must resolve (else a build error);
     * the index is what dp_filter_failover_cluster() returns. */
    dp_filter_cluster_cb resolve;
    void *resolve_arg;
    /* Bounded memory: most client IPs a rate limiter tracks (0: 65536,
     * Traefik's maxSources). */
    uint32_t rate_max_sources;
};

/* What the filters see of one request. Everything borrowed for the call. */
struct dp_filter_req {
    /* method, scheme, host, path, query and the header lookup (the same
     * view the proxy gives dp_router_match(); its scratch is not used). */
    const struct dp_router_req *rq;
    const struct sockaddr *peer;       /* the connection's remote address */
    uint64_t now_ns;                   /* monotonic clock (CLOCK_MONOTONIC) */
    bool tls;                          /* the client connection is TLS */
    struct dp_filter_scratch *scratch; /* per worker; NULL: allocate */
};

enum dp_filter_verdict {
    DP_FILTER_CONTINUE = 0, /* forward (maybe with a new path/headers) */
    DP_FILTER_RESPOND = 1,  /* answer ctx.status, resp_hdrs, body */
};

/* A header to add; both slices point into the ctx buffer or static text. */
struct dp_filter_hdr {
    struct dp_router_slice name;
    struct dp_router_slice value;
};

#define DP_FILTER_MAX_RESP_HDRS 4
#define DP_FILTER_MAX_REQ_HDRS  16
#define DP_FILTER_MAX_OPS       DP_FILTER_MAX_REQ_HDRS /* path ops */
#define DP_FILTER_BUF_DEF       16384 /* suggested ctx buffer size */

/* One request's filter context: caller-owned (e.g. embedded in the
 * connection), dp_filter_ctx_init() before dp_filter_request(), and
 * dp_filter_end() exactly once after it, whatever the verdict (it releases
 * the in-flight slot and reports the outcome to the circuit breaker; it
 * holds its own references, so the chain and table may be gone by then).
 * Output slices point into <buf> or static text: valid until the next
 * dp_filter_ctx_init() on this ctx or until <buf> is reused. */
struct dp_filter_ctx {
    /* verdict RESPOND: the local answer */
    uint16_t status;
    uint8_t n_resp_hdrs;
    struct dp_filter_hdr resp_hdrs[DP_FILTER_MAX_RESP_HDRS]; /* Location,
                            WWW-Authenticate, Retry-After, X-Retry-In */
    struct dp_router_slice body; /* static text, e.g. "Forbidden" */

    /* verdict CONTINUE: how to forward */
    bool path_set;               /* a path filter changed the path */
    struct dp_router_slice path; /* the new path (no query) if path_set */
    uint8_t n_req_add;
    struct dp_filter_hdr req_add[DP_FILTER_MAX_REQ_HDRS]; /* append these
                            request headers (X-Forwarded-Prefix, ...) */
    bool drop_authorization; /* basicAuth removeHeader: strip it */
    uint64_t delay_ns;       /* rateLimit: Traefik waits this long before
                                forwarding (the token is already taken) */

    /* private */
    char *buf;
    size_t cap, used;
    uint64_t start_ns;
    struct dp_filter__state *inflight; /* slot held for <ikey> */
    struct dp_filter__state *cb;       /* outcome goes to this breaker */
    uint8_t ikey[17];                  /* family + address */
};

/* dp_filter_failover(): where to send the request. */
enum dp_filter_upstream {
    DP_FILTER_UP_PRIMARY = 0, /* the route's cluster */
    DP_FILTER_UP_FALLBACK,    /* dp_filter_failover_cluster() */
    DP_FILTER_UP_NONE,        /* both down: answer 503 */
};

#endif
