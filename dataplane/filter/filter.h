/*
 * filter.h -- compile the traefikee.filters.* per-route configs of a route
 * into an immutable chain, and run it per request (see filter-t.h).
 *
 * Threads: registry, chain and set building/freeing run on the thread that
 * applies configuration (the registry is also locked, so any thread is
 * safe); dp_filter_request/end and every lookup run on any worker
 * concurrently. Shared runtime state: rate-limit buckets (GCRA, one per
 * client IP, in a sharded bounded table), in-flight counters (sharded,
 * freed at zero) and circuit-breaker windows (one mutex per breaker) are
 * shared by all workers, so limits are global to the data node, not per
 * worker.
 *
 * State identity: a state is keyed by (router, filter name, hash of the
 * filter's config bytes), router = the route name without a trailing
 * "#<digits>" (the translator names DNF conjunctions NAME#i; Traefik has one
 * middleware instance per router), or "<vhost>#<index>" for unnamed routes.
 * A rebuilt chain with the same key takes the live state (buckets and
 * breaker survive a config push); a changed config gets a fresh one.
 */
#ifndef DP_FILTER_H
#define DP_FILTER_H

#include "common/err/err.h"
#include "dataplane/filter/filter-t.h"
#include "envoy/config/route/v3/route.pb-c.h"

/* ==== Registry ==== */

/* Returns a new empty registry (one per data node); NULL if out of memory.
 * Free with dp_filter_registry_free(). */
struct dp_filter_registry *dp_filter_registry_new(void);

/* Drops the owner's reference; the registry goes once no state (held by
 * chains or in-flight ctxs) is left. NULL is a no-op. */
void dp_filter_registry_free(struct dp_filter_registry *reg);

/* Number of live states (tests, /metrics). */
size_t dp_filter_registry_count(struct dp_filter_registry *reg);

/* ==== Building ==== */

/* Compiles every traefikee.filters.* entry of <rt>->filter_configs (other
 * names are ignored). <reg> (borrowed) provides the runtime states; <opts>
 * may be NULL. On success returns 0 and sets <*out> to a new chain (free
 * with dp_filter_chain_free()), or to NULL if the route has none of our
 * filters. On error returns GW_EINVAL/GW_ENOMEM with a message naming the
 * filter and field in <err> (<len> bytes), e.g.
 *   traefikee.filters.basic_auth: users[1]: unknown hash format "x1"
 */
int dp_filter_chain_build(const struct dp_route *rt,
                          struct dp_filter_registry *reg,
                          const struct dp_filter_opts *opts,
                          struct dp_filter_chain **out, char *err,
                          size_t len) CM_MUST_CHECK;

/* Drops a reference to <ch> (and its states). NULL is a no-op. */
void dp_filter_chain_free(struct dp_filter_chain *ch);

/* True if <ch> (may be NULL) has filter <kind>. */
bool dp_filter_chain_has(const struct dp_filter_chain *ch,
                         enum dp_filter_kind kind);

/* Compiles the chains of every route of <rc> (borrowed), as the router
 * resolves typed_per_filter_config (route, then virtual host, then route
 * configuration level). Routes with identical (router, configs) share one
 * chain. Returns a new set (free with dp_filter_set_free()), or NULL with a
 * message naming virtual host and route in <err>. Call it beside
 * dp_router_new() on the same RouteConfiguration. */
struct dp_filter_set *
dp_filter_set_new(const Envoy__Config__Route__V3__RouteConfiguration *rc,
                  struct dp_filter_registry *reg,
                  const struct dp_filter_opts *opts, char *err, size_t len);

void dp_filter_set_free(struct dp_filter_set *s);

/* The chain of <rt> (a route of the router compiled from the same
 * RouteConfiguration; found by its vhost name and index), or NULL when it
 * has no filter of ours. Borrowed: valid while <s> is. Lock-free. */
const struct dp_filter_chain *dp_filter_set_get(const struct dp_filter_set *s,
                                                const struct dp_route *rt);

/* Distinct chains in <s>. */
size_t dp_filter_set_count(const struct dp_filter_set *s);

/* Per-worker regex match data; NULL if out of memory. One thread at a
 * time. */
struct dp_filter_scratch *dp_filter_scratch_new(void);
void dp_filter_scratch_free(struct dp_filter_scratch *s);

/* ==== ClientIP: a route match condition ==== */

/* True if <ch> has no client_ip condition or <peer> satisfies it. */
bool dp_filter_client_ip_ok(const struct dp_filter_chain *ch,
                            const struct sockaddr *peer);

/* Compiles serialized ClientIpMatch bytes. Returns new (free with
 * dp_filter_client_ip_free()) or NULL with a message in <err>. */
struct dp_filter_client_ip *dp_filter_client_ip_new(const void *pb, size_t n,
                                                    char *err, size_t len);
void dp_filter_client_ip_free(struct dp_filter_client_ip *m);

/* True if <sa> (AF_INET/AF_INET6; v4-mapped v6 counts as v4) is inside
 * every all_of range and no none_of range. */
bool dp_filter_client_ip_match(const struct dp_filter_client_ip *m,
                               const struct sockaddr *sa);

/* ==== Per request ==== */

/* Prepares <ctx> with <buf> (<cap> bytes, DP_FILTER_BUF_DEF suggested;
 * borrowed until the outputs are consumed). */
void dp_filter_ctx_init(struct dp_filter_ctx *ctx, char *buf, size_t cap);

/* Runs ip_allow_list, basic_auth, rate_limit, in_flight_req,
 * circuit_breaker, redirect_regex and path_rewrite of <ch> (may be NULL:
 * CONTINUE) in that order. Returns DP_FILTER_CONTINUE or
 * DP_FILTER_RESPOND (ctx->status etc. set: 401, 403, 429, 503, 30x, or 500
 * when <buf> is too small). Call dp_filter_end() afterwards either way. */
enum dp_filter_verdict dp_filter_request(const struct dp_filter_chain *ch,
                                         const struct dp_filter_req *req,
                                         struct dp_filter_ctx *ctx);

/* The exchange is over: <status> is what the client got from upstream (or
 * the proxy's own 502/504 on connect error/timeout: those count as network
 * errors, as in Traefik). Releases the in-flight slot, records status and
 * latency (now_ns - request time) in the circuit breaker. Idempotent. */
void dp_filter_end(struct dp_filter_ctx *ctx, uint16_t status, uint64_t now_ns);

/* ==== Upstream selection ==== */

/* Failover: which cluster to use given the health of the route's primary
 * cluster and of the fallback (true: some endpoint eligible). Without a
 * failover filter: PRIMARY. */
enum dp_filter_upstream dp_filter_failover(const struct dp_filter_chain *ch,
                                           bool primary_healthy,
                                           bool fallback_healthy);

/* The fallback cluster's name (NULL without failover) and index (from the
 * build's resolve callback; -1 if unresolved). */
const char *dp_filter_failover_name(const struct dp_filter_chain *ch);
int dp_filter_failover_cluster(const struct dp_filter_chain *ch);

/* Sticky cookie. The cookie's value is the 16 hex digits of FNV-1a-64 of
 * the endpoint key (the proxy's choice, e.g. "10.0.0.1:8080"); a cookie
 * holding the raw key is also accepted. Returns the index i < <n> of the
 * endpoint the request's cookie designates if <eligible> (may be NULL:
 * all) says it is usable, else -1 (pick normally, then set the cookie). */
int dp_filter_sticky_pick(const struct dp_filter_chain *ch,
                          const struct dp_router_req *rq,
                          const struct dp_router_slice *keys,
                          const bool *eligible, size_t n);

/* Writes the Set-Cookie header VALUE for endpoint <key> into <out>:
 * "name=hash; Path=/[; HttpOnly][; Secure][; SameSite=X]". Returns its
 * length (NUL-terminated too), GW_ENOENT without sticky, GW_ETOOBIG. */
int dp_filter_sticky_cookie(const struct dp_filter_chain *ch,
                            struct dp_router_slice key, char *out, size_t len);

#endif
