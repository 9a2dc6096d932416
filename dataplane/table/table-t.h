/*
 * table-t.h -- types of the data node's configuration snapshot: listeners,
 * routers, clusters with their endpoints (immutable, RCU-published as one
 * struct dp_table), and the runtime state of a cluster's endpoints (health,
 * ejection, in-flight counts, round-robin cursors), which lives apart in a
 * refcounted struct dp_cluster_state that survives table swaps.
 */
#ifndef DP_TABLE_T_H
#define DP_TABLE_T_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "dataplane/router/router-t.h"

struct dp_table;         /* opaque: one immutable snapshot */
struct dp_tls_server;    /* dataplane/tls: a listener's certificates */
struct dp_tls_client;    /* dataplane/tls: upstream TLS of a cluster */
struct dp_filter_set;    /* dataplane/filter: chains of a route config */
struct dp_cluster_state; /* opaque: runtime state, refcounted */

/* Where the current table is published. Owned by the data node; written by
 * its configuration thread (dp_table_publish), read by workers inside
 * callbacks while they are QSBR-online (dp_table_current). */
struct dp_table_slot {
    struct dp_table *cur;
};

/* An IP literal and port. */
struct dp_table_addr {
    char text[48]; /* "127.0.0.1" or "::1" as configured */
    uint16_t port;
    struct sockaddr_storage sa;
    socklen_t sa_len;
};

struct dp_listener {
    const char *name;
    struct dp_table_addr addr;
    const char *route_config_name;       /* RDS name, or the inline config's */
    const struct dp_router *router;      /* resolved; owned by the table */
    const struct dp_filter_set *filters; /* its filter chains, beside the
                                            router; NULL without a registry */
    const char *const *http_filters; /* names, in order; last is the router */
    size_t n_http_filters;
    bool inline_routes;        /* route_config inside the HCM */
    struct dp_tls_server *tls; /* TLS termination, or NULL (plain) */
};

enum dp_cluster_type {
    DP_CLUSTER_STATIC = 0,
    DP_CLUSTER_EDS,
};

enum dp_lb_policy {
    DP_LB_ROUND_ROBIN = 0, /* smooth weighted round robin, per worker */
    DP_LB_RANDOM,          /* weighted random */
    DP_LB_LEAST_REQUEST,   /* power of two choices on in-flight counts */
    DP_LB_RING_HASH,       /* consistent hash of the route's hash_policy
                              (dp_table_pick_hash); without a hash: RR */
    DP_LB_MAGLEV,          /* picked as RING_HASH */
};

/* Health as EDS reports it (Envoy's HealthStatus). */
enum dp_ep_health {
    DP_EP_HEALTHY = 0, /* HEALTHY or UNKNOWN */
    DP_EP_DEGRADED,    /* used like healthy */
    DP_EP_UNHEALTHY,   /* UNHEALTHY, DRAINING, TIMEOUT: not picked */
};

struct dp_endpoint {
    struct dp_table_addr addr;
    const char *hostname; /* "" if none */
    uint32_t weight;      /* >= 1 */
    uint32_t priority;
    uint8_t health; /* enum dp_ep_health */
};

enum dp_hc_kind {
    DP_HC_HTTP = 0,
    DP_HC_TCP,
    DP_HC_GRPC,
};

/* A header an HTTP health check adds, or a gRPC check's initial metadata
 * (validated: token name, no CR/LF/NUL in the value). */
struct dp_hc_header {
    const char *name;
    const char *value;
};

/* An expected status range [start, end) of an HTTP health check
 * (expected_statuses; validated: 100 <= start < end <= 600). */
struct dp_hc_status_range {
    uint16_t start, end;
};

struct dp_health_check {
    uint8_t kind; /* enum dp_hc_kind */
    uint64_t timeout_ms, interval_ms;
    uint32_t unhealthy_threshold, healthy_threshold;
    uint16_t port;    /* alt_port: probes go there; 0 = the endpoint's */
    const char *path; /* HTTP */
    const char *host; /* HTTP: Host header; "" = the cluster name */
    const struct dp_hc_header *headers; /* HTTP: request_headers_to_add;
                                           gRPC: initial_metadata */
    size_t n_headers;
    const char *method; /* HTTP: "GET" (unset), "HEAD", ...; never CONNECT */
    const struct dp_hc_status_range *statuses; /* HTTP: expected_statuses */
    size_t n_statuses;     /* 0 = any 2xx (Envoy: 200 only; Traefik: 2xx) */
    const char *service;   /* gRPC: service_name ("" = the server) */
    const char *authority; /* gRPC: :authority; "" = the cluster name */
};

/* Envoy's defaults: 1024 connections, pending and requests, 3 retries. */
struct dp_circuit_breakers {
    uint32_t max_connections;
    uint32_t max_pending_requests;
    uint32_t max_requests;
    uint32_t max_retries;
};

struct dp_outlier {
    bool enabled;
    uint32_t consecutive_5xx;             /* default 5 */
    uint32_t consecutive_gateway_failure; /* default 5 */
    uint32_t max_ejection_percent;        /* default 10 */
    uint32_t enforcing_consecutive_5xx;   /* percent, default 100 */
    uint64_t interval_ms;                 /* default 10000 */
    uint64_t base_ejection_time_ms;       /* default 30000 */
    uint64_t max_ejection_time_ms;        /* default 300000 */
};

/* One cluster: immutable; <state> is shared with other tables (see
 * dp_cluster_state in table.h). */
struct dp_cluster {
    const char *name;
    uint32_t index; /* position in the table; what routes resolve to */
    uint8_t type;   /* enum dp_cluster_type */
    uint8_t lb;     /* enum dp_lb_policy */
    bool http2;     /* upstream speaks HTTP/2 (h2c) */
    uint32_t h2_max_concurrent_streams; /* 0 = peer's setting */
    uint64_t connect_timeout_ms;        /* default 5000 */
    const char *eds_service_name;       /* what the CLA was looked up by */
    const struct dp_health_check *health_checks;
    size_t n_health_checks;
    struct dp_circuit_breakers cb;
    struct dp_outlier outlier;
    const struct dp_endpoint *endpoints;
    size_t n_endpoints;
    struct dp_cluster_state *state;
    struct dp_tls_client *tls; /* https upstream, or NULL (plain) */
};

#endif
