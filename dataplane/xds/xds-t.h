/*
 * xds-t.h -- types of the data node's xDS client (dp_xds_): resource types,
 * the decoded resource set handed to the table builder, the options the
 * owner passes at creation, and the status snapshot /ready reports.
 * Prototypes are in xds.h; the client itself is opaque.
 */
#ifndef DP_XDS_T_H
#define DP_XDS_T_H

#include <stddef.h>
#include <stdint.h>

#include "envoy/config/cluster/v3/cluster.pb-c.h"
#include "envoy/config/endpoint/v3/endpoint.pb-c.h"
#include "envoy/config/listener/v3/listener.pb-c.h"
#include "envoy/config/route/v3/route.pb-c.h"
#include "envoy/extensions/transport_sockets/tls/v3/secret.pb-c.h"

struct dp_xds_client; /* opaque: the ADS client, its thread and resources */
struct dp_table;      /* the compiled table (dataplane/table) */
struct cm_pki_creds;  /* a node's CA, certificate, key (common/pki) */

/* Resource types, in the order updates are applied (make before break). */
enum dp_xds_type {
    DP_XDS_CLUSTER = 0,  /* envoy.config.cluster.v3.Cluster */
    DP_XDS_ENDPOINT = 1, /* envoy.config.endpoint.v3.ClusterLoadAssignment */
    DP_XDS_LISTENER = 2, /* envoy.config.listener.v3.Listener */
    DP_XDS_ROUTE = 3,    /* envoy.config.route.v3.RouteConfiguration */
    DP_XDS_SECRET = 4,   /* envoy.extensions.transport_sockets.tls.v3.Secret */
    DP_XDS_TYPE_COUNT = 5,
};

/* The full resource set a table is built from (the same arrays as
 * struct dp_table_input). Every pointer is borrowed for the duration of the
 * build call and must not be modified; arrays are in name order. Listeners
 * whose RDS route configuration or SDS secrets have not arrived yet are
 * left out (they are "warming", as in Envoy); clusters whose endpoints
 * have not arrived are in. */
struct dp_xds_resources {
    Envoy__Config__Cluster__V3__Cluster *const *clusters;
    size_t n_clusters;
    Envoy__Config__Endpoint__V3__ClusterLoadAssignment *const *endpoints;
    size_t n_endpoints;
    Envoy__Config__Listener__V3__Listener *const *listeners;
    size_t n_listeners;
    Envoy__Config__Route__V3__RouteConfiguration *const *routes;
    size_t n_routes;
    Envoy__Extensions__TransportSockets__Tls__V3__Secret *const *secrets;
    size_t n_secrets;
};

/* Builds a table from <res> (borrowed). Returns new (always handed to
 * apply next), or NULL with a message in <err> (<len> bytes) saying what
 * is wrong and where: it becomes the NACK's error_detail. */
typedef struct dp_table *(*dp_xds_build_cb)(void *ctx,
                                            const struct dp_xds_resources *res,
                                            char *err, size_t len);
/* Publishes <t> (takes). Called on the xDS thread. */
typedef void (*dp_xds_apply_cb)(void *ctx, struct dp_table *t);

/* Defaults of struct dp_xds_opts (zero fields get these). */
#define DP_XDS_CACHE_WAIT_MS   2000 /* cold start: cache after this */
#define DP_XDS_BACKOFF_BASE_MS 100
#define DP_XDS_BACKOFF_MAX_MS  10000
#define DP_XDS_HEALTHY_MS      30000 /* stream up this long: backoff reset */
#define DP_XDS_HOLD_MS         30000 /* RDS waiting for a cluster: then NACK */
#define DP_XDS_CLUSTER_NAME    "traefikee-data"
#define DP_XDS_USER_AGENT      "traefikee-dataplane"
#define DP_XDS_PKI_TIMEOUT_MS  5000 /* one join or renew call */
#define DP_XDS_CREDS_RETRY_MS  5000 /* a failed renewal: again after */

/* Options of dp_xds_new(). Strings are copied. */
struct dp_xds_opts {
    const char *control;    /* "H:P,H:P,..." (required) */
    const char *node_id;    /* Node.id (required) */
    const char *cache_dir;  /* last good config; NULL or "" = no cache */
    const char *admin_addr; /* Node.metadata.admin_addr; may be NULL */
    int workers;            /* Node.metadata.workers */
    int cache_wait_ms;      /* 0 = DP_XDS_CACHE_WAIT_MS; < 0 = at once */
    uint32_t backoff_base_ms, backoff_max_ms; /* 0 = defaults */
    uint32_t healthy_ms;                      /* 0 = DP_XDS_HEALTHY_MS */
    uint32_t hold_ms;                         /* 0 = DP_XDS_HOLD_MS */
    int sotw_only; /* skip the delta protocol (tests) */
    /* Mutual TLS with the cluster's certificates (docs/security.md) when
     * creds or join_token is set; both NULL: plain text (--insecure).
     * Joined and renewed credentials are saved in cache_dir (if set). */
    const struct cm_pki_creds *creds; /* copied: usable ones, or NULL */
    const char *join_token;           /* joins when creds is NULL or expired */
    int pki_timeout_ms;               /* 0 = DP_XDS_PKI_TIMEOUT_MS */
    uint32_t creds_retry_ms;          /* 0 = DP_XDS_CREDS_RETRY_MS */
    dp_xds_build_cb build;            /* required */
    dp_xds_apply_cb apply;            /* required */
    void *ctx;                        /* passed to both callbacks */
};

enum dp_xds_state {
    DP_XDS_NONE = 0,       /* not started, or stopped */
    DP_XDS_CONNECTING = 1, /* no stream up (config kept, if any) */
    DP_XDS_CONNECTED = 2,  /* a stream answered: config is current */
    DP_XDS_CACHE = 3,      /* serving the on-disk cache, still trying */
};

#define DP_XDS_ADDR_LEN 128
#define DP_XDS_VER_LEN  64
#define DP_XDS_MSG_LEN  1024

/* What dp_xds_status() copies out. Strings are truncated to fit. */
struct dp_xds_status {
    enum dp_xds_state state;
    char control[DP_XDS_ADDR_LEN]; /* connected (or tried) control node */
    int delta;                     /* stream uses the delta protocol */
    int have_config;               /* a table was applied */
    int from_cache;                /* the applied config came from cache */
    char version[DP_XDS_TYPE_COUNT][DP_XDS_VER_LEN]; /* in use, "" none */
    uint32_t n_resources[DP_XDS_TYPE_COUNT];
    int64_t last_update_ms; /* Unix ms of the last apply, 0 none */
    uint64_t updates_applied, updates_rejected, updates_held;
    uint64_t connects, failovers;
    char last_nack[DP_XDS_MSG_LEN];  /* "" if none */
    int tls;                         /* mutual TLS (not --insecure) */
    int64_t cert_not_after;          /* Unix s of the certificate; 0 none */
    char cert_error[DP_XDS_MSG_LEN]; /* last join/renew failure, "" none */
};

#endif
