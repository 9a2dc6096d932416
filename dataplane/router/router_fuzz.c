/*
 * router_fuzz.c -- libFuzzer target: decode the input as an Envoy
 * RouteConfiguration, compile it, and match a few requests derived from the
 * input (its domains, prefixes and paths, with and without scratch), then
 * apply rewrites and redirects to whatever matched.
 */
#include <stdint.h>
#include <string.h>

#include "dataplane/router/router.h"

#define RT(x) Envoy__Config__Route__V3__##x

static void probe(const struct dp_router *r, struct dp_router_scratch *s,
                  const char *host, const char *path, const char *query)
{
    struct dp_router_hdr h[2] = {
        {{"x-a", 3}, {"1", 1}},
        {{"content-type", 12}, {"application/grpc", 16}}};
    struct dp_router_req q = {
        .host = {host, strlen(host)},
        .path = {path, strlen(path)},
        .query = {query, strlen(query)},
        .method = {"GET", 3},
        .hdrs = h,
        .n_hdrs = 2,
        .scratch = s,
    };
    const struct dp_route *rt = dp_router_match(r, &q);
    char out[512];

    if (rt == NULL)
        return;
    if (rt->kind == DP_ROUTE_REDIRECT)
        (void)dp_router_redirect_location(rt, &q, out, sizeof(out));
    else
        (void)dp_router_rewrite_path(rt, q.path, q.query, s, out, sizeof(out));
    if (rt->kind == DP_ROUTE_WEIGHTED)
        (void)dp_route_pick_weighted(rt, (uint64_t)strlen(path) * 7919);
}

static const char *path_of(const RT(Route) * rt)
{
    const RT(RouteMatch) *m = rt->match;

    if (m == NULL)
        return "/";
    switch (m->path_specifier_case) {
    case ENVOY__CONFIG__ROUTE__V3__ROUTE_MATCH__PATH_SPECIFIER_PREFIX:
        return m->prefix;
    case ENVOY__CONFIG__ROUTE__V3__ROUTE_MATCH__PATH_SPECIFIER_PATH:
        return m->path;
    case ENVOY__CONFIG__ROUTE__V3__ROUTE_MATCH__PATH_SPECIFIER_PATH_SEPARATED_PREFIX:
        return m->path_separated_prefix;
    default:
        return "/a/b";
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    RT(RouteConfiguration) *rc =
        envoy__config__route__v3__route_configuration__unpack(NULL, size, data);
    struct dp_router_scratch *s;
    struct dp_router *r;
    char err[CM_ERR_LEN];
    size_t i, j;

    if (rc == NULL)
        return 0;
    r = dp_router_new(rc, NULL, NULL, err, sizeof(err));
    s = dp_router_scratch_new();
    for (i = 0; r != NULL && i < rc->n_virtual_hosts && i < 4; i++) {
        const RT(VirtualHost) *vh = rc->virtual_hosts[i];
        const char *host = vh->n_domains ? vh->domains[0] : "x";
        for (j = 0; j < vh->n_routes && j < 8; j++) {
            probe(r, s, host, path_of(vh->routes[j]), "a=1&b");
            probe(r, j % 2 ? s : NULL, "y.example.com:8080",
                  path_of(vh->routes[j]), "");
        }
        probe(r, s, host, "/", "");
    }
    dp_router_scratch_free(s);
    dp_router_free(r);
    envoy__config__route__v3__route_configuration__free_unpacked(rc, NULL);
    return 0;
}
