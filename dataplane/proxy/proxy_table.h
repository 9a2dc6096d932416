/*
 * proxy_table.h -- the snapshot the proxy routes with: per listener its
 * address and compiled router (dataplane/router), per cluster its endpoints
 * and weights, built from one set of xDS resources. Immutable once built;
 * published by dp_proxy_set_table() and read by workers under RCU.
 * (Stands in for dataplane/table until that module lands.)
 */
#ifndef DP_PROXY_TABLE_H
#define DP_PROXY_TABLE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "common/err/err.h"
#include "common/xds/xds-t.h"

struct dp_router;

struct dp_proxy_ep {
    struct sockaddr_storage addr;
    uint32_t weight; /* > 0 */
};

struct dp_proxy_cluster {
    char *name;
    struct dp_proxy_ep *eps;
    size_t n_eps;
    uint64_t total_weight;
};

struct dp_proxy_lsn {
    char *name;
    struct sockaddr_storage addr;
    struct dp_router *router; /* the route config named after it, or NULL */
};

struct dp_proxy_table {
    char *version;
    struct dp_proxy_lsn *lsns;
    size_t n_lsns;
    struct dp_proxy_cluster *clusters;
    size_t n_clusters;
    char *dump; /* JSON for /config_dump, or NULL */
};

/* Builds a table from <res> (borrowed; nothing of it is kept). Returns new;
 * free with dp_proxy_table_free(). NULL on error with a message in <err>. */
struct dp_proxy_table *dp_proxy_table_new(const struct cm_xds_resources *res,
                                          char *err, size_t errlen);

/* Frees <t>; NULL is a no-op. */
void dp_proxy_table_free(struct dp_proxy_table *t);

/* Borrows: the listener named <name>, or NULL. */
const struct dp_proxy_lsn *dp_proxy_table_lsn(const struct dp_proxy_table *t,
                                              const char *name);

/* Index of the cluster named <name>, or -1. */
int dp_proxy_table_cluster_index(const struct dp_proxy_table *t,
                                 const char *name);

/* Picks up to <max> distinct endpoints of <cl> into <out>, the first by
 * weight for <rnd>, then the following ones in order. Returns the count. */
size_t dp_proxy_cluster_pick(const struct dp_proxy_cluster *cl, uint64_t rnd,
                             struct sockaddr_storage *out, size_t max);

#endif
