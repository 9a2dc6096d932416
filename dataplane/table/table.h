/*
 * table.h -- the data node's compiled configuration: build one immutable
 * snapshot (struct dp_table) from decoded xDS resources, validate it
 * entirely (make-before-break: nothing is published unless every reference
 * resolves), publish it with RCU, and pick endpoints.
 *
 * Threads: dp_table_build/publish/slot_* run on the one configuration
 * thread; dp_table_current and every lookup run on workers that are
 * liburcu-qsbr readers, online inside their callbacks; dp_table_pick and the
 * dp_cluster_state_* counters are lock-free and safe from any worker.
 *
 * Runtime state: a table never changes after build. What changes (active
 * health, outlier ejection, in-flight counts, RR cursors) lives in one
 * struct dp_cluster_state per cluster, refcounted and keyed by the cluster's
 * name: a new table reuses the previous table's state for a cluster whose
 * endpoint list (addresses and ports, in order) is unchanged, so health
 * and ejections survive config pushes; otherwise it starts fresh (all
 * healthy). Endpoint i of the cluster is slot i of its state.
 */
#ifndef DP_TABLE_H
#define DP_TABLE_H

#include "common/err/err.h"
#include "dataplane/table/table-t.h"
#include "envoy/config/cluster/v3/cluster.pb-c.h"
#include "envoy/config/endpoint/v3/endpoint.pb-c.h"
#include "envoy/config/listener/v3/listener.pb-c.h"
#include "envoy/config/route/v3/route.pb-c.h"
#include "envoy/extensions/transport_sockets/tls/v3/secret.pb-c.h"

/* Everything a snapshot is built from. All borrowed for the call. */
struct dp_table_input {
    Envoy__Config__Listener__V3__Listener *const *listeners;
    size_t n_listeners;
    Envoy__Config__Route__V3__RouteConfiguration *const *routes;
    size_t n_routes;
    Envoy__Config__Cluster__V3__Cluster *const *clusters;
    size_t n_clusters;
    Envoy__Config__Endpoint__V3__ClusterLoadAssignment *const *endpoints;
    size_t n_endpoints;
    const struct dp_table *prev; /* runtime state donor, or NULL */
    int n_workers;               /* >= 1: per-worker LB state rows */
    /* Runtime states of the traefikee.filters.* chains compiled beside
     * each router (dp_filter_set_new); NULL: no filter set is built (tests
     * only: routes then run without their filters). */
    struct dp_filter_registry *filters;
    /* SDS secrets the listeners' TLS contexts name */
    Envoy__Extensions__TransportSockets__Tls__V3__Secret *const *secrets;
    size_t n_secrets;
    unsigned tls_flags; /* DP_TLS_* of dataplane/tls (e.g. ALLOW_H2) */
    /* An IP literal that replaces the host of every listener's address
     * (ports kept; endpoints untouched), or NULL: the data node's
     * --listen-host, one address per node on a shared config. */
    const char *listen_host;
};

/* ==== Building and freeing ==== */

/* Validates and compiles <in>. Returns a new table (free with
 * dp_table_free(), or hand it to dp_table_publish()); on failure NULL with
 * a message naming the resource and field in <err> (<len> bytes), e.g.
 * `cluster "api": endpoint 2: address "web1" is not an IP literal`. */
struct dp_table *dp_table_build(const struct dp_table_input *in, char *err,
                                size_t len);

/* Frees <t> and drops its references to cluster states. Only once no
 * reader can see it. NULL is a no-op. */
void dp_table_free(struct dp_table *t);

/* ==== Publishing (RCU) ==== */

void dp_table_slot_init(struct dp_table_slot *s);

/* Takes <t>: makes it current, waits for a grace period (every worker has
 * passed a quiescent state), then frees the previous table. Configuration
 * thread only; blocks while a worker is inside a callback. */
void dp_table_publish(struct dp_table_slot *s, struct dp_table *t);

/* Frees the current table (workers must be stopped or offline). */
void dp_table_slot_deinit(struct dp_table_slot *s);

/* The current table, or NULL before the first publish. Borrowed: valid
 * until the calling worker's callback returns (its next quiescent state).
 * Also fine on the configuration thread, which alone replaces it. */
const struct dp_table *dp_table_current(struct dp_table_slot *s);

/* ==== Lookups (any thread holding the table) ==== */

size_t dp_table_listener_count(const struct dp_table *t);
const struct dp_listener *dp_table_listener(const struct dp_table *t, size_t i);
const struct dp_listener *dp_table_listener_by_name(const struct dp_table *t,
                                                    const char *name);
/* The router compiled from the RouteConfiguration named <name>, or NULL. */
const struct dp_router *dp_table_router(const struct dp_table *t,
                                        const char *name);
/* The filter chains compiled from the RouteConfiguration named <name>
 * (RDS), or NULL (none, or built without a registry). Borrowed like the
 * router; an inline route_config's set is its dp_listener.filters. */
const struct dp_filter_set *dp_table_filters(const struct dp_table *t,
                                             const char *name);
size_t dp_table_cluster_count(const struct dp_table *t);
/* By index (dp_route_cluster.index), or NULL if out of range. */
const struct dp_cluster *dp_table_cluster_at(const struct dp_table *t,
                                             int index);
const struct dp_cluster *dp_table_cluster(const struct dp_table *t,
                                          const char *name);

/* ==== Load balancing and runtime state ==== */

/* Picks an endpoint of <c> for worker <worker> (0..n_workers-1) by the
 * cluster's policy, skipping endpoints unhealthy in EDS, failed by active
 * health checks or ejected; if none is eligible, all are (Envoy's panic
 * mode). <rnd>: random bits (RANDOM, LEAST_REQUEST). Returns the endpoint
 * index, GW_ENOENT if the cluster has no endpoint, GW_EINVAL for a bad
 * worker id. Lock-free; RR cursors are per worker. */
int dp_table_pick(const struct dp_cluster *c, struct dp_cluster_state *st,
                  int worker, uint64_t rnd);

/* Consistent pick for <hash> (a hash of the request's hash_policy values),
 * whatever the cluster's policy: weighted rendezvous hashing over the
 * eligible endpoints (all of them in panic mode), so a key keeps its
 * endpoint while that endpoint stays eligible and only the keys of an
 * endpoint that goes move. Returns the endpoint index or GW_ENOENT. */
int dp_table_pick_hash(const struct dp_cluster *c,
                       const struct dp_cluster_state *st, uint64_t hash);

/* True if the cluster's policy hashes (RING_HASH, MAGLEV). */
bool dp_table_lb_hashes(const struct dp_cluster *c);

/* The state a table's cluster uses (borrowed from the table). */
struct dp_cluster_state *dp_cluster_state_of(const struct dp_cluster *c);

/* Takes / drops a reference (health checkers keep one across swaps). */
void dp_cluster_state_ref(struct dp_cluster_state *st);
void dp_cluster_state_unref(struct dp_cluster_state *st);

/* Active health check result / outlier ejection of endpoint <i>. */
void dp_cluster_state_set_healthy(struct dp_cluster_state *st, size_t i,
                                  bool healthy);
void dp_cluster_state_set_ejected(struct dp_cluster_state *st, size_t i,
                                  bool ejected);
bool dp_cluster_state_eligible(const struct dp_cluster_state *st, size_t i);

/* A request to endpoint <i> starts: fails with GW_ETOOBIG (and counts
 * nothing) when the cluster is at cb.max_requests. */
int dp_cluster_state_request_begin(struct dp_cluster_state *st,
                                   const struct dp_cluster *c, size_t i);
void dp_cluster_state_request_end(struct dp_cluster_state *st, size_t i);
uint32_t dp_cluster_state_inflight(const struct dp_cluster_state *st, size_t i);

#endif
