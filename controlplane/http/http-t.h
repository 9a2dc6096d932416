/*
 * http-t.h -- types of the control node's HTTP side (cp_http_): the
 * server's configuration and the source of its data, a set of callbacks the
 * owner implements and the server calls on its loop. Prototypes in http.h.
 *
 * Every pointer a callback hands out is borrowed: it must stay valid until
 * the callback returns to the server and the server returns to the loop
 * (the server uses it at once and keeps copies of what it needs).
 */
#ifndef CP_HTTP_T_H
#define CP_HTTP_T_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct cp_http;
struct cp_http_text;

/* Roles in cp_http_node.role. */
#define CP_HTTP_ROLE_CONTROL "control"
#define CP_HTTP_ROLE_DATA    "data"

/* One node of the cluster, as the registry sees it. */
struct cp_http_node {
    const char *name;         /* node id */
    const char *role;         /* CP_HTTP_ROLE_* */
    bool leader;              /* control: holds the lease */
    bool healthy;             /* heartbeat fresh (and, data: connected) */
    const char *address;      /* control: gRPC; data: its peer address */
    const char *http_address; /* control: --http-addr; else NULL */
    uint64_t revision;        /* control: loaded; data: last ACKed; 0 none */
    uint64_t nack_revision;   /* data: last revision NACKed, 0 none */
    const char *nack_error;   /* its error_detail; may be NULL */
    int64_t last_seen_ms;     /* unix ms of the last heartbeat; 0 unknown */
};

/* One stored revision of the configuration. */
struct cp_http_revision {
    uint64_t revision;
    int64_t time_ms;    /* unix ms when written; 0 unknown */
    const char *source; /* "apply", "file", "rollback", "delete"; may be NULL */
    const char *summary; /* what changed, one line; may be NULL */
};

/* Cumulative traffic counters of one router (summed over data nodes). The
 * server turns them into rates; counters that go down restart the rate. */
struct cp_http_router_traffic {
    const char *router;  /* router name, without @file */
    uint64_t requests;   /* responses sent */
    uint64_t errors;     /* of which 5xx */
    uint64_t latency_us; /* sum of their latencies */
};

/* Health of one server of a loadBalancer service. */
struct cp_http_endpoint {
    const char *service; /* service name, without @file */
    const char *url;     /* as in the configuration */
    int healthy;         /* 1 up, 0 down, -1 unknown */
};

/* Source callbacks; <arg> is cp_http_source.arg. Array getters return the
 * count and set *out to a borrowed array. */
typedef size_t (*cp_http_nodes_cb)(void *arg, const struct cp_http_node **out);
/* The configuration served now as JSON text (cm_config_to_json()'s shape:
 * entryPoints, http.routers/services/middlewares), borrowed; NULL if none.
 * Sets *revision (0 if none). */
typedef const char *(*cp_http_config_cb)(void *arg, uint64_t *revision);
/* Revisions, newest first. */
typedef size_t (*cp_http_revisions_cb)(void *arg,
                                       const struct cp_http_revision **out);
typedef size_t (*cp_http_traffic_cb)(void *arg,
                                     const struct cp_http_router_traffic **out);
typedef size_t (*cp_http_endpoints_cb)(void *arg,
                                       const struct cp_http_endpoint **out);
/* The admin password's hash string (cp_auth_hash()), borrowed; NULL while
 * unknown (then nobody can log in: 401/503). */
typedef const char *(*cp_http_admin_hash_cb)(void *arg);
/* Appends the owner's own Prometheus lines with cp_http_text_printf(). */
typedef void (*cp_http_metrics_cb)(void *arg, struct cp_http_text *out);

struct cp_http_source {
    void *arg;
    cp_http_nodes_cb nodes;           /* required */
    cp_http_config_cb config;         /* required */
    cp_http_revisions_cb revisions;   /* required */
    cp_http_admin_hash_cb admin_hash; /* required */
    cp_http_traffic_cb traffic;       /* may be NULL: no traffic charts */
    cp_http_endpoints_cb endpoints;   /* may be NULL: server health unknown */
    cp_http_metrics_cb metrics;       /* may be NULL */
};

/* What cp_http_new() needs. Strings are copied. */
struct cp_http_config {
    uv_loop_t *loop;        /* the owner's loop; every callback runs on it */
    const char *addr;       /* "HOST:PORT" to listen on (port 0: any) */
    const char *node_id;    /* this control node (shown, /api/version) */
    unsigned sample_ms;     /* sampling period of charts and changes [1000] */
    unsigned history;       /* samples kept for charts [300] */
    unsigned session_ttl_s; /* dashboard session lifetime [43200] */
    bool metrics_auth;      /* /metrics needs credentials too [false] */
    bool cookie_secure;     /* mark the session cookie Secure [false] */
};

#endif
