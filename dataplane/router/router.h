/*
 * router.h -- compile one Envoy RouteConfiguration into an immutable lookup
 * structure and match requests against it (see router-t.h for the types).
 *
 * Building runs on the thread that applies configuration; matching runs on
 * any worker concurrently (the router is immutable; per-thread state is the
 * caller's struct dp_router_scratch). Lookup cost: virtual host by hash on the
 * Host (wildcards by longest match in O(host length)); within it, exact paths
 * by hash, prefixes by one hash probe per distinct prefix length that fits
 * the path (rolling hash: O(path length)), then only safe_regex and
 * CONNECT routes are tried one by one. Among candidates the lowest route
 * index whose remaining matchers (headers, query) succeed wins, as in Envoy.
 */
#ifndef DP_ROUTER_H
#define DP_ROUTER_H

#include "common/err/err.h"
#include "dataplane/router/router-t.h"
#include "envoy/config/route/v3/route.pb-c.h"

/* Maps a cluster name to its index (>= 0), or returns -1 if unknown. */
typedef int (*dp_router_cluster_cb)(void *arg, const char *name);

/* Compiles <rc> (borrowed; nothing of it is kept). If <resolve> is not NULL
 * every cluster a route names (cluster, weighted_clusters, mirrors) must
 * resolve, else it is an error; indices land in dp_route_cluster.index.
 * Returns a new router; free with dp_router_free(). On failure returns NULL
 * and writes into <err> (<len> bytes) a message naming the route config,
 * virtual host, route (1-based) and field, e.g. `route_config "web":
 * virtual_host "whoami" route 2: safe_regex: missing closing parenthesis at
 * offset 5`. */
struct dp_router *
dp_router_new(const Envoy__Config__Route__V3__RouteConfiguration *rc,
              dp_router_cluster_cb resolve, void *resolve_arg, char *err,
              size_t len);

/* Frees <r>. NULL is a no-op. */
void dp_router_free(struct dp_router *r);

/* Borrows: the RouteConfiguration's name, NUL-terminated. */
const char *dp_router_name(const struct dp_router *r);

/* Number of routes in all virtual hosts. */
size_t dp_router_route_count(const struct dp_router *r);

/* Returns the first route (in configuration order) of the selected virtual
 * host that matches <req>, or NULL (Envoy answers 404). Borrowed: valid
 * while <r> is. Allocates nothing when req->scratch is set. */
const struct dp_route *dp_router_match(const struct dp_router *r,
                                       const struct dp_router_req *req);

/* Returns new per-thread scratch space for regex matching; free with
 * dp_router_scratch_free(). NULL when out of memory. Usable with any router;
 * one thread at a time. */
struct dp_router_scratch *dp_router_scratch_new(void);
void dp_router_scratch_free(struct dp_router_scratch *s);

/* Writes into <out> (<len> bytes) the upstream path + "?query" after the
 * route's prefix_rewrite or regex_rewrite (Envoy semantics: prefix_rewrite
 * replaces the matched prefix, or the whole path for path/safe_regex routes;
 * regex_rewrite substitutes every match in the path, \0-\9 naming groups);
 * without a rewrite, copies path and query. <query> may be empty (no '?').
 * Returns the length written (NUL-terminated too), or GW_ETOOBIG. */
int dp_router_rewrite_path(const struct dp_route *rt,
                           struct dp_router_slice path,
                           struct dp_router_slice query,
                           struct dp_router_scratch *s, char *out, size_t len);

/* Writes into <out> the Location of a DP_ROUTE_REDIRECT route for <req>
 * (scheme://host[:port]/path[?query]). Returns the length (NUL-terminated
 * too), GW_EINVAL if <rt> is not a redirect, or GW_ETOOBIG. */
int dp_router_redirect_location(const struct dp_route *rt,
                                const struct dp_router_req *req, char *out,
                                size_t len);

/* Picks the weighted cluster for <rnd> (uniform random or the header's
 * value): the first whose cum_weight exceeds rnd % total_weight. */
const struct dp_route_cluster *dp_route_pick_weighted(const struct dp_route *rt,
                                                      uint64_t rnd);

/* Returns the route's typed_per_filter_config for <filter>, or NULL. */
const struct dp_route_filter_config *
dp_route_filter_config(const struct dp_route *rt, const char *filter);

#endif
