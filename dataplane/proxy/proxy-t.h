/*
 * proxy-t.h -- types of the data node's HTTP/1.1 proxy engine: its options
 * and the counters it keeps. Prototypes are in proxy.h; the connection and
 * upstream structs are private to the module (proxy_int.h).
 */
#ifndef DP_PROXY_T_H
#define DP_PROXY_T_H

#include <stdint.h>

struct dp_proxy; /* opaque: the engine, its workers and the current table */

/* Defaults of struct dp_proxy_opts (zero fields get these). */
#define DP_PROXY_HEAD_TIMEOUT_MS    10000 /* request head read -> 408 */
#define DP_PROXY_IDLE_TIMEOUT_MS    60000 /* idle client keep-alive: close */
#define DP_PROXY_CONNECT_TIMEOUT_MS 5000  /* upstream connect -> 504 */
#define DP_PROXY_ROUTE_TIMEOUT_MS   15000 /* response head wait -> 504 */
#define DP_PROXY_POOL_IDLE_MS       30000 /* idle upstream connection */
#define DP_PROXY_POOL_MAX           64    /* idle connections per endpoint */
#define DP_PROXY_DRAIN_TIMEOUT_MS   15000

struct dp_proxy_opts {
    int workers;                 /* threads; 0 = number of cores */
    uint32_t head_timeout_ms;    /* 0 = DP_PROXY_HEAD_TIMEOUT_MS */
    uint32_t idle_timeout_ms;    /* 0 = DP_PROXY_IDLE_TIMEOUT_MS */
    uint32_t connect_timeout_ms; /* 0 = DP_PROXY_CONNECT_TIMEOUT_MS */
    uint32_t route_timeout_ms;   /* used when the route sets none */
    uint32_t pool_idle_ms;       /* 0 = DP_PROXY_POOL_IDLE_MS */
    uint32_t pool_max;           /* 0 = DP_PROXY_POOL_MAX */
};

/* Counters, summed over the workers by dp_proxy_stats(). Monotonic except
 * the *_active gauges. */
struct dp_proxy_stats {
    uint64_t conns_total;    /* client connections accepted */
    uint64_t conns_active;   /* client connections open now */
    uint64_t requests_total; /* request heads parsed (or rejected) */
    uint64_t responses[6];   /* by class: [1]=1xx .. [5]=5xx; [0] unused */
    uint64_t upstream_connect_errors; /* refused, timed out, reset early */
    uint64_t upstream_conns_active;   /* upstream connections open now */
    uint64_t upstream_reused;         /* requests on a pooled connection */
    uint64_t retries;                 /* attempts after the first */
    uint64_t overflows;               /* 503s: cluster at circuit breaker max */
    uint64_t ejections;               /* outlier ejections made */
    uint64_t table_swaps;             /* tables published */
    uint64_t hc_checks;               /* active health probes completed */
    uint64_t hc_failures;             /* probes that failed */
    uint64_t hc_unhealthy;   /* gauge: endpoints failed by health checks */
    uint64_t tls_handshakes; /* client TLS handshakes completed */
    uint64_t tls_handshake_errors; /* client TLS handshakes failed */
    uint64_t tls_resumed;          /* of them, resumed sessions */
};

/* One router's traffic, summed over the workers; cumulative since start. */
struct dp_proxy_router_stat {
    const char *name;    /* router: the route name without "#i" */
    uint64_t requests;   /* exchanges answered (local answers too) */
    uint64_t errors;     /* of which 5xx */
    uint64_t latency_us; /* summed time from routing to the exchange's end */
};

/* One endpoint of the current table and whether it takes traffic. */
struct dp_proxy_endpoint_stat {
    char *cluster;    /* the cluster (service) name */
    char address[64]; /* "IP:port" ("[v6]:port") */
    char *hostname;   /* as in EDS ("" none) */
    int healthy;      /* 1 picked by the LB; 0 failed a health check,
                         ejected or unhealthy in EDS */
    int checked;      /* the cluster has active health checks or outlier
                         detection (otherwise healthy is always 1) */
};

/* One listener (entry point) of the current table. */
struct dp_proxy_listener_stat {
    char *name;
    char address[64]; /* "IP:port" */
};

/* What dp_proxy_report_new() returns; free with dp_proxy_report_free(). */
struct dp_proxy_report {
    struct dp_proxy_router_stat *routers; /* by name, names owned */
    size_t n_routers;
    struct dp_proxy_endpoint_stat *endpoints; /* table order */
    size_t n_endpoints;
    struct dp_proxy_listener_stat *listeners;
    size_t n_listeners;
};

#endif
