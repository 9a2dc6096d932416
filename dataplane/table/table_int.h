/*
 * table_int.h -- what the table's files share: the snapshot itself and the
 * cluster runtime state. Only dataplane/table reads these.
 */
#ifndef DP_TABLE_INT_H
#define DP_TABLE_INT_H

#include <stdatomic.h>

#include "dataplane/table/table.h"

/* dp_table__ep.flags */
#define DP_TABLE__EP_HC_FAILED 0x1u /* active health check failed */
#define DP_TABLE__EP_EJECTED   0x2u /* outlier detection ejected it */

struct dp_table__ep {
    _Atomic uint32_t flags;
    _Atomic uint32_t inflight;
};

struct dp_cluster_state {
    _Atomic long refs; /* tables and health checkers holding it */
    size_t n_eps;
    int n_workers;
    struct dp_table__ep *eps;
    int64_t *rr;      /* n_workers rows of rr_stride current weights */
    size_t rr_stride; /* row length, padded to a cache line */
    _Atomic uint32_t rq_active; /* for cb.max_requests */
};

struct dp_table__router {
    const char *name;
    struct dp_router *router;
    struct dp_filter_set *filters; /* or NULL without a registry */
};

struct dp_table {
    struct dp_listener *listeners;
    size_t n_listeners;
    struct dp_table__router *routers; /* n_rds sorted by name, then the
                                         listeners' inline ones */
    size_t n_routers, n_rds;
    struct dp_cluster *clusters; /* in input order */
    size_t n_clusters;
    const struct dp_cluster **by_name; /* sorted by name */
    /* by_name, hashed: open addressing, at most half full; index + 1 into
     * clusters (0: empty slot); NULL without clusters */
    uint32_t *by_hash;
    size_t hash_mask;
    int n_workers;
    void **allocs; /* every string/array of the table */
    size_t n_allocs, cap_allocs;
};

/* table_tls.c: the TLS contexts of a listener and a cluster (left NULL
 * without a TLS transport socket); 0 or GW_EINVAL with <err>. */
int dp_table__listener_tls(const struct dp_table_input *in,
                           const Envoy__Config__Listener__V3__Listener *m,
                           struct dp_listener *l, char *err, size_t len);
int dp_table__cluster_tls(const Envoy__Config__Cluster__V3__Cluster *m,
                          struct dp_cluster *c, char *err, size_t len);
/* Drops the table's references to its TLS contexts. */
void dp_table__tls_free(struct dp_table *t);

/* New state for <n> endpoints and <workers> workers, refs = 1. */
struct dp_cluster_state *dp_table__state_new(size_t n, int workers);

#endif
