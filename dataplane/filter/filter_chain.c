/*
 * filter_chain.c -- builds a route's chain from its typed_per_filter_config
 * entries (unpacking each Any with protobuf-c, validating everything), the
 * per-RouteConfiguration set of chains looked up by (vhost, route index),
 * and the per-request driver that runs the filters in HCM order. Chains and
 * sets are built on the configuration thread and immutable afterwards.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/filter/filter_int.h"

#define TYPE_PREFIX "type.googleapis.com/traefikee.filters.v1."

typedef int (*build_fn)(struct dp_filter__bctx *b, const void *pb, size_t n,
                        struct dp_filter_chain *ch);

static const struct {
    const char *name;
    const char *type;
    build_fn build;
} kinds[DP_FILTER_NKINDS] = {
    {DP_FILTER_N_CLIENT_IP, "ClientIpMatch", dp_filter__client_ip_build},
    {DP_FILTER_N_IP_ALLOW_LIST, "IpAllowList", dp_filter__allow_build},
    {DP_FILTER_N_BASIC_AUTH, "BasicAuth", dp_filter__auth_build},
    {DP_FILTER_N_RATE_LIMIT, "RateLimit", dp_filter__rate_build},
    {DP_FILTER_N_IN_FLIGHT_REQ, "InFlightReq", dp_filter__inflight_build},
    {DP_FILTER_N_CIRCUIT_BREAKER, "CircuitBreaker", dp_filter__cb_build},
    {DP_FILTER_N_REDIRECT_REGEX, "RedirectRegex", dp_filter__redirect_build},
    {DP_FILTER_N_PATH_REWRITE, "PathRewrite", dp_filter__rewrite_build},
    {DP_FILTER_N_FAILOVER, "Failover", dp_filter__failover_build},
    {DP_FILTER_N_STICKY, "StickyCookie", dp_filter__sticky_build},
};

static int kind_of(struct dp_router_slice name)
{
    for (int k = 0; k < DP_FILTER_NKINDS; k++)
        if (strlen(kinds[k].name) == name.len &&
            memcmp(kinds[k].name, name.ptr, name.len) == 0)
            return k;
    return -1;
}

void dp_filter_chain_free(struct dp_filter_chain *ch)
{
    if (ch == NULL || atomic_fetch_sub(&ch->refs, 1) != 1)
        return;
    dp_filter_client_ip_free(ch->client_ip);
    dp_filter__allow_free(ch->allow);
    dp_filter__auth_free(ch->auth);
    dp_filter__rate_free(ch->rate);
    dp_filter__inflight_free(ch->inflight);
    dp_filter__cb_free(ch->cb);
    dp_filter__redirect_free(ch->redirect);
    dp_filter__rewrite_free(ch->rewrite);
    if (ch->failover != NULL)
        free(ch->failover->fallback);
    free(ch->failover);
    if (ch->sticky != NULL)
        free(ch->sticky->name);
    free(ch->sticky);
    free(ch->route_key);
    free(ch);
}

bool dp_filter_chain_has(const struct dp_filter_chain *ch,
                         enum dp_filter_kind kind)
{
    return ch != NULL && (ch->mask >> kind) & 1;
}

/* "NAME#3" -> "NAME" (one router's conjunctions share state); unnamed
 * routes: "<vhost>#<index>". */
char *dp_filter__route_key(const struct dp_route *rt)
{
    struct dp_router_slice name = rt->name, vh = rt->vhost;
    uint32_t index = rt->index;
    size_t n = name.len, i = n;
    char *k;

    while (i > 0 && name.ptr[i - 1] >= '0' && name.ptr[i - 1] <= '9')
        i--;
    if (i > 0 && i < n && name.ptr[i - 1] == '#')
        n = i - 1;
    if (n > 0)
        return strndup(name.ptr, n);
    if ((k = malloc(vh.len + 16)) != NULL)
        snprintf(k, vh.len + 16, "%.*s#%u", (int)vh.len, vh.ptr, index);
    return k;
}

static int add_one(struct dp_filter_chain *ch, struct dp_filter__bctx *b, int k,
                   const struct dp_route_filter_config *fc)
{
    size_t pl = strlen(TYPE_PREFIX), tl = strlen(kinds[k].type);

    b->name = kinds[k].name;
    if (fc->type_url.len != pl + tl ||
        memcmp(fc->type_url.ptr, TYPE_PREFIX, pl) != 0 ||
        memcmp(fc->type_url.ptr + pl, kinds[k].type, tl) != 0)
        return cm_err_set(
            b->err, b->len, GW_EINVAL, "%s: type_url \"%.*s\" is not %s%s",
            b->name, (int)(fc->type_url.len > 200 ? 200 : fc->type_url.len),
            fc->type_url.ptr, TYPE_PREFIX, kinds[k].type);
    b->cfg_hash =
        dp_filter__fnv(DP_FILTER__FNV0, fc->type_url.ptr, fc->type_url.len);
    b->cfg_hash = dp_filter__fnv(b->cfg_hash, fc->value.ptr, fc->value.len);
    ch->hash = dp_filter__fnv(ch->hash, &k, sizeof(k));
    ch->hash = dp_filter__fnv(ch->hash, &b->cfg_hash, sizeof(b->cfg_hash));
    return kinds[k].build(b, fc->value.ptr, fc->value.len, ch);
}

/* Builds from <n> entries (most specific first; later duplicates of a name
 * are ignored); the route key of <rt> is made only when a filter is known. */
int dp_filter__chain_build_fc(const struct dp_route *rt,
                              const struct dp_route_filter_config *fc, size_t n,
                              struct dp_filter_registry *reg,
                              const struct dp_filter_opts *opts,
                              struct dp_filter_chain **out, char *err,
                              size_t len)
{
    const struct dp_route_filter_config *by_kind[DP_FILTER_NKINDS] = {0};
    struct dp_filter__bctx b = {reg, opts, NULL, 0, NULL, err, len};
    struct dp_filter_chain *ch;
    bool any = false;
    char *key;
    int rc = 0, k;

    *out = NULL;
    for (size_t i = 0; i < n; i++)
        if ((k = kind_of(fc[i].filter)) >= 0 && by_kind[k] == NULL)
            by_kind[k] = &fc[i], any = true;
    if (!any)
        return 0;
    if ((key = dp_filter__route_key(rt)) == NULL ||
        (ch = calloc(1, sizeof(*ch))) == NULL) {
        free(key);
        return cm_err_set(err, len, GW_ENOMEM, "out of memory");
    }
    b.route_key = key;
    atomic_init(&ch->refs, 1);
    ch->route_key = key;
    ch->hash = dp_filter__fnv(DP_FILTER__FNV0, key, strlen(key) + 1);
    for (k = 0; rc == 0 && k < DP_FILTER_NKINDS; k++)
        if (by_kind[k] != NULL)
            rc = add_one(ch, &b, k, by_kind[k]);
    ch->mask = (uint32_t)(!!ch->client_ip << DP_FILTER_CLIENT_IP |
                          !!ch->allow << DP_FILTER_IP_ALLOW_LIST |
                          !!ch->auth << DP_FILTER_BASIC_AUTH |
                          !!ch->rate << DP_FILTER_RATE_LIMIT |
                          !!ch->inflight << DP_FILTER_IN_FLIGHT_REQ |
                          !!ch->cb << DP_FILTER_CIRCUIT_BREAKER |
                          !!ch->redirect << DP_FILTER_REDIRECT_REGEX |
                          !!ch->rewrite << DP_FILTER_PATH_REWRITE |
                          !!ch->failover << DP_FILTER_FAILOVER |
                          !!ch->sticky << DP_FILTER_STICKY);
    if (rc != 0 || ch->mask == 0) { /* e.g. only rateLimit average 0 */
        dp_filter_chain_free(ch);
        return rc;
    }
    *out = ch;
    return 0;
}

int dp_filter_chain_build(const struct dp_route *rt,
                          struct dp_filter_registry *reg,
                          const struct dp_filter_opts *opts,
                          struct dp_filter_chain **out, char *err, size_t len)
{
    return dp_filter__chain_build_fc(
        rt, rt->filter_configs, rt->n_filter_configs, reg, opts, out, err, len);
}

/* ==== per request ==== */

enum dp_filter_verdict dp_filter_request(const struct dp_filter_chain *ch,
                                         const struct dp_filter_req *req,
                                         struct dp_filter_ctx *ctx)
{
    ctx->start_ns = req->now_ns;
    if (ch == NULL)
        return DP_FILTER_CONTINUE;
    if ((ch->allow && dp_filter__allow_run(ch->allow, req, ctx)) ||
        (ch->auth && dp_filter__auth_run(ch->auth, req, ctx)) ||
        (ch->rate && dp_filter__rate_run(ch->rate, req, ctx)) ||
        (ch->inflight && dp_filter__inflight_run(ch->inflight, req, ctx)) ||
        (ch->cb && dp_filter__cb_run(ch->cb, req, ctx)) ||
        (ch->redirect && dp_filter__redirect_run(ch->redirect, req, ctx)) ||
        (ch->rewrite && dp_filter__rewrite_run(ch->rewrite, req, ctx)))
        return DP_FILTER_RESPOND;
    return DP_FILTER_CONTINUE;
}

void dp_filter_end(struct dp_filter_ctx *ctx, uint16_t status, uint64_t now_ns)
{
    if (ctx->inflight != NULL)
        dp_filter__inflight_end(ctx);
    if (ctx->cb != NULL)
        dp_filter__cb_end(ctx, status, now_ns);
}
