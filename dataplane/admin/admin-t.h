/*
 * admin-t.h -- types of the data node's admin HTTP server (dp_admin_):
 * what the owner provides it (readiness, counters, config dump) and the
 * metrics it renders. Prototypes are in admin.h.
 */
#ifndef DP_ADMIN_T_H
#define DP_ADMIN_T_H

#include <stddef.h>
#include <stdint.h>

#include "dataplane/proxy/proxy-t.h"

struct dp_admin; /* opaque: the server, its thread and loop */

#define DP_ADMIN_XDS_TYPES 5

/* The xDS client's side of /metrics (dataplane/xds's status, copied). */
struct dp_admin_xds {
    int enabled;    /* 0 in standalone mode: nothing below is shown */
    int connected;  /* a stream to a control node is up */
    int from_cache; /* the config served came from the on-disk cache */
    char state[16]; /* "connecting", "connected", "cache", ... */
    char control[128];
    uint64_t updates_applied, updates_rejected, connects, failovers;
    double seconds_since_update; /* < 0: never updated */
    size_t n_types;
    char types[DP_ADMIN_XDS_TYPES][8];     /* "cds", ... */
    char versions[DP_ADMIN_XDS_TYPES][64]; /* in use, "" none */
};

/* Everything /metrics shows. */
struct dp_admin_metrics {
    struct dp_proxy_stats proxy;
    struct dp_admin_xds xds;
    char config_version[64];  /* "" when no config is loaded */
    uint64_t config_loads;    /* configurations applied */
    uint64_t config_failures; /* configurations rejected */
    int ready;                /* 1 when a config is loaded */
    int workers;
    /* Per-router traffic, endpoint health, listeners; NULL: not shown.
     * Borrowed for the formatting call. */
    const struct dp_proxy_report *report;
};

/* What the server asks its owner; every callback runs on the admin thread
 * and must be thread-safe with respect to the owner. */
struct dp_admin_src {
    void *arg;
    /* Returns 1 when ready (a note may be written into <reason>, e.g.
     * "serving from cache"), else 0 with the reason in <reason>. */
    int (*ready)(void *arg, char *reason, size_t len);
    /* Fills <m>. */
    void (*metrics)(void *arg, struct dp_admin_metrics *m);
    /* Returns new JSON text of the current configuration (free with
     * free()), or NULL. */
    char *(*config_dump)(void *arg);
    /* Returns a new report (dp_proxy_report_new()), or NULL; for /stats
     * and the per-router lines of /metrics. May be NULL (not shown). */
    struct dp_proxy_report *(*report)(void *arg);
};

#endif
