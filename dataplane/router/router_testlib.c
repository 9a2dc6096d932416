/*
 * router_testlib.c -- RouteConfiguration builders for tests, fuzz seeds and
 * the benchmark (see router_testlib.h). Single-threaded; aborts on OOM.
 */
#include "dataplane/router/router_testlib.h"

#include <stdlib.h>
#include <string.h>

#define RT(x) Envoy__Config__Route__V3__##x

void *dp_rtb_alloc(struct dp_rtb *b, size_t n)
{
    void *p = calloc(1, n ? n : 1);

    if (p == NULL)
        abort();
    if (b->n == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 64;
        b->ptrs = realloc(b->ptrs, b->cap * sizeof(*b->ptrs));
        if (b->ptrs == NULL)
            abort();
    }
    b->ptrs[b->n++] = p;
    return p;
}

char *dp_rtb_str(struct dp_rtb *b, const char *s)
{
    char *d = dp_rtb_alloc(b, strlen(s) + 1);

    memcpy(d, s, strlen(s));
    return d;
}

void dp_rtb_push(struct dp_rtb *b, void *arr_ptr, size_t *n, void *p)
{
    void ***arr = arr_ptr;
    void **na = dp_rtb_alloc(b, (*n + 1) * sizeof(void *));

    if (*n > 0)
        memcpy(na, *arr, *n * sizeof(void *));
    na[(*n)++] = p;
    *arr = na;
}

void dp_rtb_free(struct dp_rtb *b)
{
    size_t i;

    for (i = 0; i < b->n; i++)
        free(b->ptrs[i]);
    free(b->ptrs);
    memset(b, 0, sizeof(*b));
}

RT(RouteConfiguration) * dp_rtb_config(struct dp_rtb *b, const char *name)
{
    RT(RouteConfiguration) *rc = dp_rtb_alloc(b, sizeof(*rc));

    envoy__config__route__v3__route_configuration__init(rc);
    rc->name = dp_rtb_str(b, name);
    return rc;
}

RT(VirtualHost) * dp_rtb_vhost(struct dp_rtb *b, RT(RouteConfiguration) * rc,
                               const char *name, const char *domains)
{
    RT(VirtualHost) *vh = dp_rtb_alloc(b, sizeof(*vh));
    const char *p = domains;

    envoy__config__route__v3__virtual_host__init(vh);
    vh->name = dp_rtb_str(b, name);
    while (p && *p) {
        size_t n = strcspn(p, ",");
        char *d = dp_rtb_alloc(b, n + 1);
        memcpy(d, p, n);
        dp_rtb_push(b, &vh->domains, &vh->n_domains, d);
        p += n;
        if (*p == ',')
            p++;
    }
    dp_rtb_push(b, &rc->virtual_hosts, &rc->n_virtual_hosts, vh);
    return vh;
}

Envoy__Type__Matcher__V3__RegexMatcher *dp_rtb_regex(struct dp_rtb *b,
                                                     const char *re)
{
    Envoy__Type__Matcher__V3__RegexMatcher *m = dp_rtb_alloc(b, sizeof(*m));

    envoy__type__matcher__v3__regex_matcher__init(m);
    m->regex = dp_rtb_str(b, re);
    return m;
}

RT(Route) * dp_rtb_route(struct dp_rtb *b, RT(VirtualHost) * vh,
                         enum dp_rtb_path kind, const char *pattern,
                         const char *cluster)
{
    RT(Route) *rt = dp_rtb_alloc(b, sizeof(*rt));
    RT(RouteMatch) *m = dp_rtb_alloc(b, sizeof(*m));

    envoy__config__route__v3__route__init(rt);
    envoy__config__route__v3__route_match__init(m);
    rt->match = m;
    switch (kind) {
    case DP_RTB_PREFIX:
        m->path_specifier_case =
            ENVOY__CONFIG__ROUTE__V3__ROUTE_MATCH__PATH_SPECIFIER_PREFIX;
        m->prefix = dp_rtb_str(b, pattern);
        break;
    case DP_RTB_PATH:
        m->path_specifier_case =
            ENVOY__CONFIG__ROUTE__V3__ROUTE_MATCH__PATH_SPECIFIER_PATH;
        m->path = dp_rtb_str(b, pattern);
        break;
    case DP_RTB_REGEX:
        m->path_specifier_case =
            ENVOY__CONFIG__ROUTE__V3__ROUTE_MATCH__PATH_SPECIFIER_SAFE_REGEX;
        m->safe_regex = dp_rtb_regex(b, pattern);
        break;
    case DP_RTB_SEP_PREFIX:
        m->path_specifier_case =
            ENVOY__CONFIG__ROUTE__V3__ROUTE_MATCH__PATH_SPECIFIER_PATH_SEPARATED_PREFIX;
        m->path_separated_prefix = dp_rtb_str(b, pattern);
        break;
    }
    if (cluster != NULL) {
        RT(RouteAction) *a = dp_rtb_alloc(b, sizeof(*a));
        envoy__config__route__v3__route_action__init(a);
        a->cluster_specifier_case =
            ENVOY__CONFIG__ROUTE__V3__ROUTE_ACTION__CLUSTER_SPECIFIER_CLUSTER;
        a->cluster = dp_rtb_str(b, cluster);
        rt->action_case = ENVOY__CONFIG__ROUTE__V3__ROUTE__ACTION_ROUTE;
        rt->route = a;
    }
    dp_rtb_push(b, &vh->routes, &vh->n_routes, rt);
    return rt;
}

RT(HeaderMatcher) *
    dp_rtb_header(struct dp_rtb *b, RT(Route) * rt, const char *name)
{
    RT(HeaderMatcher) *h = dp_rtb_alloc(b, sizeof(*h));

    envoy__config__route__v3__header_matcher__init(h);
    h->name = dp_rtb_str(b, name);
    dp_rtb_push(b, &rt->match->headers, &rt->match->n_headers, h);
    return h;
}

RT(QueryParameterMatcher) *
    dp_rtb_query(struct dp_rtb *b, RT(Route) * rt, const char *name)
{
    RT(QueryParameterMatcher) *q = dp_rtb_alloc(b, sizeof(*q));

    envoy__config__route__v3__query_parameter_matcher__init(q);
    q->name = dp_rtb_str(b, name);
    dp_rtb_push(b, &rt->match->query_parameters, &rt->match->n_query_parameters,
                q);
    return q;
}

Envoy__Type__Matcher__V3__StringMatcher *dp_rtb_strm(struct dp_rtb *b,
                                                     int case_, const char *s)
{
    Envoy__Type__Matcher__V3__StringMatcher *m = dp_rtb_alloc(b, sizeof(*m));

    envoy__type__matcher__v3__string_matcher__init(m);
    m->match_pattern_case = case_;
    if (case_ ==
        ENVOY__TYPE__MATCHER__V3__STRING_MATCHER__MATCH_PATTERN_SAFE_REGEX)
        m->safe_regex = dp_rtb_regex(b, s);
    else
        m->exact = dp_rtb_str(b, s); /* every string member aliases */
    return m;
}

RT(RedirectAction) * dp_rtb_redirect(struct dp_rtb *b, RT(Route) * rt)
{
    RT(RedirectAction) *r = dp_rtb_alloc(b, sizeof(*r));

    envoy__config__route__v3__redirect_action__init(r);
    rt->action_case = ENVOY__CONFIG__ROUTE__V3__ROUTE__ACTION_REDIRECT;
    rt->redirect = r;
    return r;
}

RT(WeightedCluster__ClusterWeight) *
    dp_rtb_weighted(struct dp_rtb *b, RT(Route) * rt, const char *cluster,
                    unsigned weight)
{
    RT(RouteAction) *a = rt->route;
    RT(WeightedCluster__ClusterWeight) *cw = dp_rtb_alloc(b, sizeof(*cw));

    if (a->cluster_specifier_case !=
        ENVOY__CONFIG__ROUTE__V3__ROUTE_ACTION__CLUSTER_SPECIFIER_WEIGHTED_CLUSTERS) {
        RT(WeightedCluster) *w = dp_rtb_alloc(b, sizeof(*w));
        envoy__config__route__v3__weighted_cluster__init(w);
        a->cluster_specifier_case =
            ENVOY__CONFIG__ROUTE__V3__ROUTE_ACTION__CLUSTER_SPECIFIER_WEIGHTED_CLUSTERS;
        a->weighted_clusters = w;
    }
    envoy__config__route__v3__weighted_cluster__cluster_weight__init(cw);
    cw->name = dp_rtb_str(b, cluster);
    cw->weight = dp_rtb_u32(b, weight);
    dp_rtb_push(b, &a->weighted_clusters->clusters,
                &a->weighted_clusters->n_clusters, cw);
    return cw;
}

Google__Protobuf__UInt32Value *dp_rtb_u32(struct dp_rtb *b, unsigned v)
{
    Google__Protobuf__UInt32Value *w = dp_rtb_alloc(b, sizeof(*w));

    google__protobuf__uint32_value__init(w);
    w->value = v;
    return w;
}

Google__Protobuf__BoolValue *dp_rtb_bool(struct dp_rtb *b, int v)
{
    Google__Protobuf__BoolValue *w = dp_rtb_alloc(b, sizeof(*w));

    google__protobuf__bool_value__init(w);
    w->value = v;
    return w;
}

Google__Protobuf__Duration *dp_rtb_dur(struct dp_rtb *b, long long ms)
{
    Google__Protobuf__Duration *d = dp_rtb_alloc(b, sizeof(*d));

    google__protobuf__duration__init(d);
    d->seconds = ms / 1000;
    d->nanos = (int)(ms % 1000) * 1000000;
    return d;
}
