/*
 * router-t.h -- types of the compiled route configuration: the request view
 * the proxy hands to dp_router_match() and the compiled route (action,
 * rewrites, header edits, retry, mirrors, hash policy, per-filter config)
 * it gets back. Everything reachable from a struct dp_route belongs to the
 * struct dp_router and is immutable: valid until dp_router_free().
 */
#ifndef DP_ROUTER_T_H
#define DP_ROUTER_T_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct dp_router;         /* opaque: one compiled RouteConfiguration */
struct dp_router_regex;   /* opaque: one compiled PCRE2 pattern */
struct dp_router_scratch; /* opaque: per-worker match data for regexes */

/* A byte range, not NUL-terminated. Compiled strings (dp_route fields) are
 * also NUL-terminated; request slices are not. */
struct dp_router_slice {
    const char *ptr;
    size_t len;
};

/* One request header, borrowed from the codec's buffer. */
struct dp_router_hdr {
    struct dp_router_slice name;
    struct dp_router_slice value;
};

/* Looks a request header up by (lower-case) <name>; returns 1 and sets
 * <*value> when found, 0 otherwise. Used instead of the hdrs array when set. */
typedef int (*dp_router_header_cb)(void *arg, const char *name, size_t name_len,
                                   struct dp_router_slice *value);

struct dp_route;

/* Extra match condition of a route flagged DP_ROUTE_F_COND (e.g. ClientIP,
 * evaluated by dataplane/filter): true if <rt> may match. <rt> borrowed. */
typedef bool (*dp_router_cond_cb)(void *arg, const struct dp_route *rt);

/* What a lookup sees of a request. Every slice is borrowed for the call. */
struct dp_router_req {
    struct dp_router_slice host;      /* Host / :authority, port included */
    struct dp_router_slice path;      /* without the query */
    struct dp_router_slice query;     /* after '?', without it; may be empty */
    struct dp_router_slice method;    /* "GET" */
    struct dp_router_slice scheme;    /* "http" or "https"; empty = "http" */
    const struct dp_router_hdr *hdrs; /* header array (first value wins) */
    size_t n_hdrs;
    dp_router_header_cb get_header; /* if set, used instead of hdrs */
    void *get_header_arg;
    /* Per-worker scratch for regex matching (dp_router_scratch_new()); if
     * NULL, regex matchers allocate match data per call (tests only). */
    struct dp_router_scratch *scratch;
    /* Routes flagged DP_ROUTE_F_COND match only if cond(cond_arg, route)
     * says so; with cond NULL they never match. */
    dp_router_cond_cb cond;
    void *cond_arg;
};

enum dp_route_kind {
    DP_ROUTE_CLUSTER = 0,    /* forward to cluster */
    DP_ROUTE_WEIGHTED,       /* forward to one of weighted.clusters */
    DP_ROUTE_CLUSTER_HEADER, /* cluster named by request header */
    DP_ROUTE_REDIRECT,       /* answer with a redirect */
    DP_ROUTE_DIRECT,         /* answer with status + body */
    DP_ROUTE_NON_FORWARDING, /* filters handle it; nothing upstream */
};

/* What the route's path matcher is (prefix_rewrite replaces the matched
 * prefix of PREFIX/SEP_PREFIX routes, the whole path of the others). */
enum dp_route_match_kind {
    DP_ROUTE_MATCH_PREFIX = 0,
    DP_ROUTE_MATCH_PATH,
    DP_ROUTE_MATCH_REGEX,
    DP_ROUTE_MATCH_SEP_PREFIX, /* path_separated_prefix */
    DP_ROUTE_MATCH_CONNECT,
};

/* How a request header is added (Envoy's HeaderValueOption). */
enum dp_route_hdr_append {
    DP_ROUTE_HDR_APPEND = 0,     /* append if exists, else add */
    DP_ROUTE_HDR_ADD_IF_ABSENT,  /* add only if absent */
    DP_ROUTE_HDR_OVERWRITE,      /* overwrite if exists, else add */
    DP_ROUTE_HDR_OVERWRITE_ONLY, /* overwrite only if it exists */
};

struct dp_route_hdr_add {
    struct dp_router_slice name; /* lower-case */
    struct dp_router_slice value;
    uint8_t append; /* enum dp_route_hdr_append */
    uint8_t keep_empty_value;
};

/* Header edits in the order to apply them (route, virtual host, route
 * configuration levels merged as Envoy does). */
struct dp_route_hdr_edits {
    const struct dp_route_hdr_add *add;
    size_t n_add;
    const struct dp_router_slice *remove; /* lower-case names */
    size_t n_remove;
};

/* One upstream cluster of a route. index is the cluster's index in the
 * table's cluster array (-1 when compiled without a resolver). */
struct dp_route_cluster {
    struct dp_router_slice name;
    int index;
    uint32_t weight;     /* weighted: this cluster's weight */
    uint32_t cum_weight; /* weighted: sum of weights up to and incl. this */
    struct dp_router_slice host_rewrite_literal;   /* empty if none */
    struct dp_route_hdr_edits req_hdrs, resp_hdrs; /* weighted: extra edits */
};

struct dp_route_weighted {
    const struct dp_route_cluster *clusters;
    size_t n_clusters;
    uint32_t total_weight;              /* > 0: the last cum_weight */
    struct dp_router_slice header_name; /* random value from header, or "" */
};

/* retry_on flags */
#define DP_RETRY_5XX             0x0001
#define DP_RETRY_GATEWAY_ERROR   0x0002
#define DP_RETRY_RESET           0x0004
#define DP_RETRY_CONNECT_FAILURE 0x0008
#define DP_RETRY_RETRIABLE_4XX   0x0010
#define DP_RETRY_REFUSED_STREAM  0x0020
#define DP_RETRY_STATUS_CODES    0x0040 /* retriable-status-codes */
#define DP_RETRY_HEADERS         0x0080 /* retriable-headers */
#define DP_RETRY_RATELIMITED     0x0100 /* envoy-ratelimited */
#define DP_RETRY_GRPC_CANCELLED  0x0200
#define DP_RETRY_GRPC_DEADLINE   0x0400
#define DP_RETRY_GRPC_INTERNAL   0x0800
#define DP_RETRY_GRPC_EXHAUSTED  0x1000
#define DP_RETRY_GRPC_UNAVAIL    0x2000
#define DP_RETRY_H3_POST_CONNECT 0x4000

struct dp_route_retry {
    uint32_t retry_on;            /* DP_RETRY_* */
    uint32_t num_retries;         /* default 1 */
    uint64_t per_try_timeout_ms;  /* 0: none (the route timeout applies) */
    const uint32_t *status_codes; /* retriable_status_codes */
    size_t n_status_codes;
    uint64_t backoff_base_ms, backoff_max_ms; /* default 25, 250 */
};

struct dp_route_redirect {
    struct dp_router_slice scheme;         /* "" keeps the request's */
    struct dp_router_slice host;           /* "" keeps the request's */
    uint32_t port;                         /* 0 keeps */
    struct dp_router_slice path;           /* path_redirect, or "" */
    struct dp_router_slice prefix_rewrite; /* used if has_prefix_rewrite */
    const struct dp_router_regex *regex;   /* regex_rewrite pattern, or NULL */
    struct dp_router_slice regex_subst;
    uint16_t code; /* 301, 302, 303, 307 or 308 */
    uint8_t strip_query;
    uint8_t has_prefix_rewrite;
};

struct dp_route_direct {
    uint16_t status;
    struct dp_router_slice body; /* may contain NULs */
};

struct dp_route_mirror {
    struct dp_router_slice cluster;
    int index;            /* as dp_route_cluster.index */
    uint32_t numerator;   /* sampled fraction numerator/denominator */
    uint32_t denominator; /* 100, 10000 or 1000000 */
};

enum dp_route_hash_kind {
    DP_ROUTE_HASH_HEADER = 0,
    DP_ROUTE_HASH_COOKIE,
    DP_ROUTE_HASH_QUERY,
    DP_ROUTE_HASH_SOURCE_IP,
};

struct dp_route_hash_policy {
    uint8_t kind; /* enum dp_route_hash_kind */
    uint8_t terminal;
    struct dp_router_slice name; /* header (lower-case), cookie or param */
    struct dp_router_slice cookie_path;
    uint64_t cookie_ttl_ms; /* 0: no cookie is generated */
};

/* A typed_per_filter_config entry: the filter decodes value itself. */
struct dp_route_filter_config {
    struct dp_router_slice filter; /* "envoy.filters.http.xyz" */
    struct dp_router_slice type_url;
    struct dp_router_slice value; /* serialized message bytes */
};

/* dp_route.flags */
#define DP_ROUTE_F_AUTO_HOST_REWRITE 0x01 /* rewrite Host to the endpoint */
#define DP_ROUTE_F_HAS_RETRY         0x02 /* retry is set */
#define DP_ROUTE_F_HAS_REWRITE       0x04 /* prefix_rewrite or regex set */
#define DP_ROUTE_F_XFH               0x08 /* append_x_forwarded_host */
/* a match condition (traefikee.filters.client_ip): dp_router_req.cond */
#define DP_ROUTE_F_COND 0x10

/* One compiled route. Immutable; owned by its dp_router. */
struct dp_route {
    struct dp_router_slice name;  /* Route.name, may be empty */
    struct dp_router_slice vhost; /* its VirtualHost.name */
    uint32_t index;               /* position in the virtual host */
    uint8_t kind;                 /* enum dp_route_kind */
    uint8_t flags;                /* DP_ROUTE_F_* */
    uint16_t not_found_code;      /* cluster_header: 503/404/500 */
    uint8_t match_kind;           /* enum dp_route_match_kind */
    uint32_t match_len;           /* bytes of the prefix or path pattern */
    union {
        struct dp_route_cluster cluster;   /* CLUSTER; name = header name
                                              for CLUSTER_HEADER */
        struct dp_route_weighted weighted; /* WEIGHTED */
        struct dp_route_redirect redirect; /* REDIRECT */
        struct dp_route_direct direct;     /* DIRECT */
    };
    /* Path rewrites (CLUSTER, WEIGHTED, CLUSTER_HEADER). */
    struct dp_router_slice prefix_rewrite;
    const struct dp_router_regex *regex_rewrite; /* or NULL */
    struct dp_router_slice regex_subst;
    struct dp_router_slice host_rewrite_literal; /* "" if none */
    struct dp_router_slice host_rewrite_header;  /* "" if none */
    uint64_t timeout_ms;         /* 0: disabled; Envoy's default 15000 */
    uint64_t idle_timeout_ms;    /* 0: the connection manager's */
    struct dp_route_retry retry; /* if flags & DP_ROUTE_F_HAS_RETRY */
    struct dp_route_hdr_edits req_hdrs, resp_hdrs;
    const struct dp_route_mirror *mirrors;
    size_t n_mirrors;
    const struct dp_route_hash_policy *hash_policies;
    size_t n_hash_policies;
    const struct dp_route_filter_config *filter_configs; /* most specific
                                                           level per name */
    size_t n_filter_configs;
    const struct dp_router_slice *upgrades; /* upgrade types enabled */
    size_t n_upgrades;
};

#endif
