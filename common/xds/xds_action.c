/*
 * xds_action.c -- what a router does once matched: its service as a
 * RouteAction (cluster, weighted_clusters, mirrors, hash policy, host
 * rewrite) and its middlewares as route fields (path rewrites, header
 * edits, redirect, retry policy) or as per-route configs of our filters
 * (traefikee.filters.v1). Also assembles each route's final message.
 */
#include "common/xds/xds_int.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "traefikee/filters/v1/filters.pb-c.h"

typedef Envoy__Config__Route__V3__RouteAction RouteAction;
typedef Envoy__Config__Route__V3__RedirectAction RedirectAction;
typedef Envoy__Type__Matcher__V3__RegexMatchAndSubstitute RegexSub;
typedef Envoy__Config__Core__V3__HeaderValueOption HeaderValueOption;
typedef Envoy__Config__Route__V3__WeightedCluster WeightedCluster;
typedef Envoy__Config__Route__V3__WeightedCluster__ClusterWeight ClusterWeight;
typedef Envoy__Config__Route__V3__RouteAction__HashPolicy HashPolicy;

#define MAX_NESTING 32

/* ==== Services ==== */

struct leaf {
    const struct cm_config_service *s;
    uint64_t weight;
};

struct leaves {
    struct leaf *v;
    size_t n, cap;
};

static void add_leaf(struct cm_xds__ctx *c, struct leaves *l,
                     const struct cm_config_service *s, uint64_t w)
{
    for (size_t i = 0; i < l->n; i++) {
        if (l->v[i].s == s) {
            l->v[i].weight += w;
            return;
        }
    }
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        struct leaf *v = cm_xds__alloc(c, c->tmp, cap * sizeof(*v));
        if (l->n)
            memcpy(v, l->v, l->n * sizeof(*v));
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n].s = s;
    l->v[l->n].weight = w;
    l->n++;
}

static const struct cm_config_service *
find_service(struct cm_xds__ctx *c, const char *owner, const char *name)
{
    const struct cm_config_service *s = cm_config_find_service(c->cfg, name);
    if (s == NULL)
        cm_xds__fail(c, "%s: unknown service \"%s\"", owner, name);
    return s;
}

static uint64_t gcd(uint64_t x, uint64_t y)
{
    while (y != 0) {
        uint64_t t = x % y;
        x = y;
        y = t;
    }
    return x;
}

static int scale_into(struct cm_xds__ctx *c, const char *owner,
                      struct leaves *out, const struct leaves *in,
                      uint64_t factor)
{
    for (size_t i = 0; i < in->n; i++) {
        uint64_t w;
        if (__builtin_mul_overflow(in->v[i].weight, factor, &w))
            return cm_xds__fail(c, "%s: weights overflow", owner);
        add_leaf(c, out, in->v[i].s, w);
    }
    return 0;
}

static uint64_t leaves_sum(const struct leaves *l)
{
    uint64_t s = 0;
    for (size_t i = 0; i < l->n; i++)
        s += l->v[i].weight;
    return s;
}

/* Flattens service <s> into loadBalancer leaves whose weights are in the
 * proportions of the traffic each gets: a child of weight w in a weighted
 * service whose children weigh T in all gets w/T of its parent's share
 * (nested weights multiply). Weight-0 branches are dropped; the result is
 * reduced by the weights' greatest common divisor. */
static int flatten(struct cm_xds__ctx *c, const char *owner,
                   const struct cm_config_service *s, struct leaves *out,
                   int depth)
{
    if (depth > MAX_NESTING)
        return cm_xds__fail(c, "%s: services nested too deeply", owner);
    if (s->kind == CM_CONFIG_SVC_LOAD_BALANCER) {
        add_leaf(c, out, s, 1);
        return 0;
    }
    if (s->kind != CM_CONFIG_SVC_WEIGHTED)
        return cm_xds__fail(c,
                            "%s: service \"%s\" is a %s service, which "
                            "weighted_clusters cannot hold (only loadBalancer "
                            "and weighted services)",
                            owner, s->name,
                            cm_config_service_kind_str(s->kind));
    const struct cm_config_weighted *w = &s->u.weighted;
    size_t n = w->n_services;
    struct leaves *sub = cm_xds__alloc(c, c->tmp, (n + 1) * sizeof(*sub));
    uint64_t *sums = cm_xds__alloc(c, c->tmp, (n + 1) * sizeof(*sums));
    uint64_t lcm = 1;
    for (size_t i = 0; i < n; i++) {
        const struct cm_config_service *ch =
            find_service(c, owner, w->services[i].name);
        if (ch == NULL || flatten(c, owner, ch, &sub[i], depth + 1) != 0)
            return GW_EINVAL;
        sums[i] = leaves_sum(&sub[i]);
        if (w->services[i].weight <= 0 || sums[i] == 0)
            continue;
        if (__builtin_mul_overflow(lcm / gcd(lcm, sums[i]), sums[i], &lcm))
            return cm_xds__fail(c, "%s: weights overflow", owner);
    }
    for (size_t i = 0; i < n; i++) {
        uint64_t f;
        if (w->services[i].weight <= 0 || sums[i] == 0)
            continue;
        if (__builtin_mul_overflow(lcm / sums[i],
                                   (uint64_t)w->services[i].weight, &f))
            return cm_xds__fail(c, "%s: weights overflow", owner);
        if (scale_into(c, owner, out, &sub[i], f) != 0)
            return GW_EINVAL;
    }
    uint64_t g = 0;
    for (size_t i = 0; i < out->n; i++)
        g = gcd(out->v[i].weight, g);
    for (size_t i = 0; g > 1 && i < out->n; i++)
        out->v[i].weight /= g;
    return 0;
}

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s != '\0'; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

/* The cookie name of a sticky service: as configured, else "_" and six hex
 * digits of a hash of the service name. */
static const char *cookie_name(struct cm_xds__ctx *c,
                               const struct cm_config_service *s,
                               const struct cm_config_cookie *ck)
{
    if (ck->name != NULL && ck->name[0] != '\0')
        return cm_xds__str(c, ck->name);
    return cm_xds__printf(c, "_%06" PRIx64, fnv1a(s->name) & 0xffffff);
}

static const struct cm_config_sticky *
sticky_of(const struct cm_config_service *s)
{
    if (s->kind == CM_CONFIG_SVC_LOAD_BALANCER)
        return s->u.load_balancer.sticky;
    if (s->kind == CM_CONFIG_SVC_WEIGHTED)
        return s->u.weighted.sticky;
    return NULL;
}

static void add_hash_cookie(struct cm_xds__ctx *c, RouteAction *a,
                            const char *name)
{
    for (size_t i = 0; i < a->n_hash_policy; i++)
        if (strcmp(a->hash_policy[i]->cookie->name, name) == 0)
            return;
    HashPolicy *h = cm_xds__msg(
        c, &envoy__config__route__v3__route_action__hash_policy__descriptor);
    h->policy_specifier_case =
        ENVOY__CONFIG__ROUTE__V3__ROUTE_ACTION__HASH_POLICY__POLICY_SPECIFIER_COOKIE;
    h->cookie = cm_xds__msg(
        c,
        &envoy__config__route__v3__route_action__hash_policy__cookie__descriptor);
    h->cookie->name = (char *)name;
    h->cookie->ttl = cm_xds__duration(c, 0); /* session cookie */
    h->cookie->path = cm_xds__str(c, "/");
    cm_xds__push(c, c->out, &a->hash_policy, &a->n_hash_policy, h);
}

/* Sticky sessions of the router's service itself: hash policy plus our
 * StickyCookie config; of nested loadBalancer leaves: hash policy only. */
static void sticky(struct cm_xds__ctx *c, struct cm_xds__router *rt,
                   RouteAction *a, const struct cm_config_service *top,
                   const struct leaves *l)
{
    const struct cm_config_sticky *st = sticky_of(top);
    if (st != NULL && st->cookie != NULL) {
        const struct cm_config_cookie *ck = st->cookie;
        Traefikee__Filters__V1__StickyCookie *sc =
            cm_xds__msg(c, &traefikee__filters__v1__sticky_cookie__descriptor);
        sc->name = (char *)cookie_name(c, top, ck);
        sc->secure = ck->secure;
        sc->http_only = ck->http_only;
        if (ck->same_site != NULL)
            sc->same_site = cm_xds__str(c, ck->same_site);
        rt->filter_cfg[CM_XDS_F_STICKY] = cm_xds__any(c, &sc->base);
        add_hash_cookie(c, a, sc->name);
    }
    for (size_t i = 0; i < l->n; i++) {
        st = l->v[i].s->u.load_balancer.sticky;
        if (l->v[i].s != top && st != NULL && st->cookie != NULL)
            add_hash_cookie(c, a, cookie_name(c, l->v[i].s, st->cookie));
    }
}

static int set_clusters(struct cm_xds__ctx *c, const char *owner,
                        RouteAction *a, const struct leaves *l)
{
    if (l->n == 0)
        return cm_xds__fail(c, "%s: every weight is 0: no service to route to",
                            owner);
    if (l->n == 1) {
        a->cluster_specifier_case =
            ENVOY__CONFIG__ROUTE__V3__ROUTE_ACTION__CLUSTER_SPECIFIER_CLUSTER;
        a->cluster = cm_xds__str(c, l->v[0].s->name);
        return 0;
    }
    WeightedCluster *w =
        cm_xds__msg(c, &envoy__config__route__v3__weighted_cluster__descriptor);
    uint64_t total = 0;
    for (size_t i = 0; i < l->n; i++) {
        ClusterWeight *cw = cm_xds__msg(
            c,
            &envoy__config__route__v3__weighted_cluster__cluster_weight__descriptor);
        cw->name = cm_xds__str(c, l->v[i].s->name);
        uint64_t wt = l->v[i].weight;
        total += wt;
        if (total > UINT32_MAX)
            return cm_xds__fail(c,
                                "%s: the weights add up to more than "
                                "4294967295",
                                owner);
        cw->weight = cm_xds__u32(c, (uint32_t)wt);
        cm_xds__push(c, c->out, &w->clusters, &w->n_clusters, cw);
    }
    w->total_weight = cm_xds__u32(c, (uint32_t)total);
    a->cluster_specifier_case =
        ENVOY__CONFIG__ROUTE__V3__ROUTE_ACTION__CLUSTER_SPECIFIER_WEIGHTED_CLUSTERS;
    a->weighted_clusters = w;
    return 0;
}

/* passHostHeader: false on every leaf -> auto_host_rewrite (the endpoint
 * hostname, which xds_cluster.c sets to the server URL's host). */
static int host_rewrite(struct cm_xds__ctx *c, const char *owner,
                        RouteAction *a, const struct leaves *l)
{
    size_t off = 0;
    for (size_t i = 0; i < l->n; i++)
        off += !l->v[i].s->u.load_balancer.pass_host_header;
    if (off == 0)
        return 0;
    if (off != l->n)
        return cm_xds__fail(c,
                            "%s: services with passHostHeader true and false "
                            "cannot be mixed in one route",
                            owner);
    a->host_rewrite_specifier_case =
        ENVOY__CONFIG__ROUTE__V3__ROUTE_ACTION__HOST_REWRITE_SPECIFIER_AUTO_HOST_REWRITE;
    a->auto_host_rewrite = cm_xds__bool(c, 1);
    return 0;
}

static int lb_only(struct cm_xds__ctx *c, const char *owner, const char *what,
                   const char *name, const struct cm_config_service **out)
{
    const struct cm_config_service *s = find_service(c, owner, name);
    if (s == NULL)
        return GW_EINVAL;
    if (s->kind != CM_CONFIG_SVC_LOAD_BALANCER)
        return cm_xds__fail(c,
                            "%s: %s \"%s\" must be a loadBalancer service, "
                            "not %s",
                            owner, what, name,
                            cm_config_service_kind_str(s->kind));
    *out = s;
    return 0;
}

static int mirrors(struct cm_xds__ctx *c, const char *owner, RouteAction *a,
                   const struct cm_config_mirroring *m)
{
    for (size_t i = 0; i < m->n_mirrors; i++) {
        const struct cm_config_service *ms;
        if (lb_only(c, owner, "mirror", m->mirrors[i].name, &ms) != 0)
            return GW_EINVAL;
        if (m->mirrors[i].percent <= 0)
            continue;
        Envoy__Config__Route__V3__RouteAction__RequestMirrorPolicy *p = cm_xds__msg(
            c,
            &envoy__config__route__v3__route_action__request_mirror_policy__descriptor);
        p->cluster = cm_xds__str(c, ms->name);
        p->runtime_fraction = cm_xds__msg(
            c,
            &envoy__config__core__v3__runtime_fractional_percent__descriptor);
        p->runtime_fraction->default_value =
            cm_xds__msg(c, &envoy__type__v3__fractional_percent__descriptor);
        p->runtime_fraction->default_value->numerator =
            (uint32_t)m->mirrors[i].percent;
        cm_xds__push(c, c->out, &a->request_mirror_policies,
                     &a->n_request_mirror_policies, p);
    }
    return 0;
}

static int failover(struct cm_xds__ctx *c, struct cm_xds__router *rt,
                    const char *owner, const struct cm_config_failover *f,
                    struct leaves *l)
{
    const struct cm_config_service *primary, *fallback;
    if (lb_only(c, owner, "failover service", f->service, &primary) != 0 ||
        lb_only(c, owner, "failover fallback", f->fallback, &fallback) != 0)
        return GW_EINVAL;
    add_leaf(c, l, primary, 1);
    Traefikee__Filters__V1__Failover *fo =
        cm_xds__msg(c, &traefikee__filters__v1__failover__descriptor);
    fo->fallback_cluster = cm_xds__str(c, fallback->name);
    fo->health_check = f->health_check;
    rt->filter_cfg[CM_XDS_F_FAILOVER] = cm_xds__any(c, &fo->base);
    return 0;
}

static int service_action(struct cm_xds__ctx *c, struct cm_xds__router *rt,
                          const char *owner, RouteAction *a)
{
    if (strcmp(rt->r->service, CM_CONFIG_API_INTERNAL) == 0) {
        /* the built-in cluster (xds_cluster.c); endpoints from the
         * control plane */
        a->cluster_specifier_case =
            ENVOY__CONFIG__ROUTE__V3__ROUTE_ACTION__CLUSTER_SPECIFIER_CLUSTER;
        a->cluster = cm_xds__str(c, CM_CONFIG_API_INTERNAL);
        return 0;
    }
    const struct cm_config_service *s = find_service(c, owner, rt->r->service);
    if (s == NULL)
        return GW_EINVAL;
    struct leaves l = {0};
    int rc;
    switch (s->kind) {
    case CM_CONFIG_SVC_MIRRORING: {
        const struct cm_config_service *main =
            find_service(c, owner, s->u.mirroring.service);
        if (main == NULL)
            return GW_EINVAL;
        rc = flatten(c, owner, main, &l, 0);
        if (rc == 0)
            rc = mirrors(c, owner, a, &s->u.mirroring);
        break;
    }
    case CM_CONFIG_SVC_FAILOVER:
        rc = failover(c, rt, owner, &s->u.failover, &l);
        break;
    default:
        rc = flatten(c, owner, s, &l, 0);
        break;
    }
    if (rc == 0)
        rc = set_clusters(c, owner, a, &l);
    if (rc == 0)
        rc = host_rewrite(c, owner, a, &l);
    if (rc == 0)
        sticky(c, rt, a, s, &l);
    return rc;
}

/* ==== Middlewares ==== */

struct mws {
    const struct cm_config_middleware **v;
    size_t n;
};

static int expand(struct cm_xds__ctx *c, const char *owner, const char **names,
                  size_t n, struct mws *out, int depth)
{
    if (depth > MAX_NESTING)
        return cm_xds__fail(c, "%s: middleware chains nested too deeply",
                            owner);
    for (size_t i = 0; i < n; i++) {
        const struct cm_config_middleware *m =
            cm_config_find_middleware(c->cfg, names[i]);
        if (m == NULL)
            return cm_xds__fail(c, "%s: unknown middleware \"%s\"", owner,
                                names[i]);
        if (m->kind == CM_CONFIG_MW_CHAIN) {
            int rc = expand(c, owner, m->u.chain.middlewares,
                            m->u.chain.n_middlewares, out, depth + 1);
            if (rc != 0)
                return rc;
            continue;
        }
        cm_xds__push(c, c->tmp, &out->v, &out->n, (void *)m);
    }
    return 0;
}

/* Header edits of one route, last write per (direction, name) wins. */
struct hdr {
    const char *name, *value; /* value "" = remove */
    int response;
    int append; /* X-Forwarded-Prefix of a native stripPrefix */
};

struct hdrs {
    struct hdr **v;
    size_t n;
};

static void set_header(struct cm_xds__ctx *c, struct hdrs *h, const char *name,
                       const char *value, int response, int append)
{
    for (size_t i = 0; i < h->n; i++) {
        if (h->v[i]->response == response &&
            strcasecmp(h->v[i]->name, name) == 0) {
            h->v[i]->value = value;
            h->v[i]->append = append;
            return;
        }
    }
    struct hdr *e = cm_xds__alloc(c, c->tmp, sizeof(*e));
    e->name = name;
    e->value = value;
    e->response = response;
    e->append = append;
    cm_xds__push(c, c->tmp, &h->v, &h->n, e);
}

static void emit_headers(struct cm_xds__ctx *c, struct cm_xds__router *rt,
                         const struct hdrs *h)
{
    for (size_t i = 0; i < h->n; i++) {
        const struct hdr *e = h->v[i];
        if (e->value[0] == '\0') {
            char *n = cm_xds__str(c, e->name);
            if (e->response)
                cm_xds__push(c, c->out, &rt->resp_remove, &rt->n_resp_remove,
                             n);
            else
                cm_xds__push(c, c->out, &rt->req_remove, &rt->n_req_remove, n);
            continue;
        }
        HeaderValueOption *o = cm_xds__msg(
            c, &envoy__config__core__v3__header_value_option__descriptor);
        o->header =
            cm_xds__msg(c, &envoy__config__core__v3__header_value__descriptor);
        o->header->key = cm_xds__str(c, e->name);
        o->header->value = cm_xds__str(c, e->value);
        o->append_action =
            e->append
                ? ENVOY__CONFIG__CORE__V3__HEADER_VALUE_OPTION__HEADER_APPEND_ACTION__APPEND_IF_EXISTS_OR_ADD
                : ENVOY__CONFIG__CORE__V3__HEADER_VALUE_OPTION__HEADER_APPEND_ACTION__OVERWRITE_IF_EXISTS_OR_ADD;
        if (e->response)
            cm_xds__push(c, c->out, &rt->resp_add, &rt->n_resp_add, o);
        else
            cm_xds__push(c, c->out, &rt->req_add, &rt->n_req_add, o);
    }
}

static int is_path_op(enum cm_config_middleware_kind k)
{
    return k == CM_CONFIG_MW_STRIP_PREFIX ||
           k == CM_CONFIG_MW_STRIP_PREFIX_REGEX ||
           k == CM_CONFIG_MW_ADD_PREFIX || k == CM_CONFIG_MW_REPLACE_PATH ||
           k == CM_CONFIG_MW_REPLACE_PATH_REGEX;
}

/* Whether every conjunction of the router only matches paths that start
 * with <p> (so an unconditional X-Forwarded-Prefix is exact). */
static int paths_start_with(const struct cm_xds__router *rt, const char *p)
{
    size_t n = cm_rule_dnf_count(rt->dnf);
    for (size_t i = 0; i < n; i++) {
        const struct cm_rule_lit *l =
            cm_rule_conj_path(cm_rule_dnf_conj(rt->dnf, i));
        if (l == NULL || l->negated || l->matcher == CM_RULE_PATH_REGEXP ||
            strncmp(l->args[0], p, strlen(p)) != 0)
            return 0;
    }
    return 1;
}

static RegexSub *regex_sub(struct cm_xds__ctx *c, const char *pattern,
                           const char *subst)
{
    RegexSub *r = cm_xds__msg(
        c, &envoy__type__matcher__v3__regex_match_and_substitute__descriptor);
    r->pattern =
        cm_xds__msg(c, &envoy__type__matcher__v3__regex_matcher__descriptor);
    r->pattern->engine_type_case =
        ENVOY__TYPE__MATCHER__V3__REGEX_MATCHER__ENGINE_TYPE_GOOGLE_RE2;
    r->pattern->google_re2 = cm_xds__msg(
        c, &envoy__type__matcher__v3__regex_matcher__google_re2__descriptor);
    r->pattern->regex = (char *)pattern;
    r->substitution = (char *)subst;
    return r;
}

/* Escapes '\' for an Envoy regex substitution string. */
static const char *subst_literal(struct cm_xds__ctx *c, const char *s)
{
    char *o = cm_xds__alloc(c, c->out, 2 * strlen(s) + 1), *p = o;
    for (; *s != '\0'; s++) {
        if (*s == '\\')
            *p++ = '\\';
        *p++ = *s;
    }
    *p = '\0';
    return o;
}

/* One path middleware as an Envoy regex_rewrite, when that is exact;
 * NULL otherwise. May add X-Forwarded-Prefix to <h>. */
static RegexSub *native_path(struct cm_xds__ctx *c,
                             const struct cm_xds__router *rt,
                             const struct cm_config_middleware *m,
                             struct hdrs *h)
{
    if (m->kind == CM_CONFIG_MW_STRIP_PREFIX &&
        m->u.strip_prefix.n_prefixes == 1) {
        const char *p = m->u.strip_prefix.prefixes[0];
        if (p[0] == '\0' || !paths_start_with(rt, p))
            return NULL;
        set_header(c, h, "X-Forwarded-Prefix", cm_xds__str(c, p), 0, 1);
        return regex_sub(c,
                         cm_xds__printf(c, "^%s/?", cm_xds__quote_regex(c, p)),
                         cm_xds__str(c, "/"));
    }
    if (m->kind == CM_CONFIG_MW_ADD_PREFIX) {
        const char *p = m->u.add_prefix.prefix;
        return regex_sub(c, cm_xds__str(c, "^(.*)$"),
                         cm_xds__printf(c, "%s%s\\1", p[0] == '/' ? "" : "/",
                                        subst_literal(c, p)));
    }
    return NULL;
}

static void path_filter(struct cm_xds__ctx *c, struct cm_xds__router *rt,
                        const struct mws *ops)
{
    Traefikee__Filters__V1__PathRewrite *pr =
        cm_xds__msg(c, &traefikee__filters__v1__path_rewrite__descriptor);
    for (size_t i = 0; i < ops->n; i++) {
        const struct cm_config_middleware *m = ops->v[i];
        Traefikee__Filters__V1__PathRewrite__Op *op = cm_xds__msg(
            c, &traefikee__filters__v1__path_rewrite__op__descriptor);
        switch (m->kind) {
        case CM_CONFIG_MW_STRIP_PREFIX:
            op->op_case =
                TRAEFIKEE__FILTERS__V1__PATH_REWRITE__OP__OP_STRIP_PREFIX;
            op->strip_prefix = cm_xds__msg(
                c,
                &traefikee__filters__v1__path_rewrite__strip_prefix__descriptor);
            op->strip_prefix->n_prefixes = m->u.strip_prefix.n_prefixes;
            op->strip_prefix->prefixes = (char **)m->u.strip_prefix.prefixes;
            break;
        case CM_CONFIG_MW_STRIP_PREFIX_REGEX:
            op->op_case =
                TRAEFIKEE__FILTERS__V1__PATH_REWRITE__OP__OP_STRIP_PREFIX_REGEX;
            op->strip_prefix_regex = cm_xds__msg(
                c,
                &traefikee__filters__v1__path_rewrite__strip_prefix_regex__descriptor);
            op->strip_prefix_regex->n_regex = m->u.strip_prefix_regex.n_regex;
            op->strip_prefix_regex->regex =
                (char **)m->u.strip_prefix_regex.regex;
            break;
        case CM_CONFIG_MW_ADD_PREFIX:
            op->op_case =
                TRAEFIKEE__FILTERS__V1__PATH_REWRITE__OP__OP_ADD_PREFIX;
            op->add_prefix = (char *)m->u.add_prefix.prefix;
            break;
        case CM_CONFIG_MW_REPLACE_PATH:
            op->op_case =
                TRAEFIKEE__FILTERS__V1__PATH_REWRITE__OP__OP_REPLACE_PATH;
            op->replace_path = (char *)m->u.replace_path.path;
            break;
        default:
            op->op_case =
                TRAEFIKEE__FILTERS__V1__PATH_REWRITE__OP__OP_REPLACE_PATH_REGEX;
            op->replace_path_regex = cm_xds__msg(
                c,
                &traefikee__filters__v1__path_rewrite__replace_path_regex__descriptor);
            op->replace_path_regex->regex =
                (char *)m->u.replace_path_regex.regex;
            op->replace_path_regex->replacement =
                (char *)m->u.replace_path_regex.replacement;
            break;
        }
        cm_xds__push(c, c->out, &pr->ops, &pr->n_ops, op);
    }
    /* The message is packed right away: borrowing config strings is fine. */
    rt->filter_cfg[CM_XDS_F_PATH_REWRITE] = cm_xds__any(c, &pr->base);
}

static RedirectAction *
redirect_scheme(struct cm_xds__ctx *c,
                const struct cm_config_redirect_scheme *r)
{
    RedirectAction *ra =
        cm_xds__msg(c, &envoy__config__route__v3__redirect_action__descriptor);
    ra->scheme_rewrite_specifier_case =
        ENVOY__CONFIG__ROUTE__V3__REDIRECT_ACTION__SCHEME_REWRITE_SPECIFIER_SCHEME_REDIRECT;
    ra->scheme_redirect = cm_xds__str(c, r->scheme);
    if (r->port != NULL && r->port[0] != '\0')
        ra->port_redirect = (uint32_t)strtoul(r->port, NULL, 10);
    else
        ra->port_redirect = strcmp(r->scheme, "https") == 0 ? 443 : 80;
    ra->response_code =
        r->permanent
            ? ENVOY__CONFIG__ROUTE__V3__REDIRECT_ACTION__REDIRECT_RESPONSE_CODE__MOVED_PERMANENTLY
            : ENVOY__CONFIG__ROUTE__V3__REDIRECT_ACTION__REDIRECT_RESPONSE_CODE__FOUND;
    return ra;
}

/* Per-route config of one access-control / traffic middleware. */
static const ProtobufCMessage *filter_msg(struct cm_xds__ctx *c,
                                          const struct cm_config_middleware *m,
                                          enum cm_xds_filter *f)
{
    switch (m->kind) {
    case CM_CONFIG_MW_BASIC_AUTH: {
        Traefikee__Filters__V1__BasicAuth *b =
            cm_xds__msg(c, &traefikee__filters__v1__basic_auth__descriptor);
        b->n_users = m->u.basic_auth.n_users;
        b->users = (char **)m->u.basic_auth.users;
        b->realm = (char *)(m->u.basic_auth.realm ? m->u.basic_auth.realm
                                                  : CM_CONFIG_BASIC_AUTH_REALM);
        b->remove_header = m->u.basic_auth.remove_header;
        *f = CM_XDS_F_BASIC_AUTH;
        return &b->base;
    }
    case CM_CONFIG_MW_IP_ALLOW_LIST: {
        const struct cm_config_ip_allow_list *a = &m->u.ip_allow_list;
        Traefikee__Filters__V1__IpAllowList *b =
            cm_xds__msg(c, &traefikee__filters__v1__ip_allow_list__descriptor);
        b->n_source_range = a->n_source_range;
        b->source_range = (char **)a->source_range;
        if (a->ip_strategy != NULL) {
            b->ip_strategy = cm_xds__msg(
                c,
                &traefikee__filters__v1__ip_allow_list__ip_strategy__descriptor);
            b->ip_strategy->depth = (uint32_t)a->ip_strategy->depth;
            b->ip_strategy->n_excluded_ips = a->ip_strategy->n_excluded_ips;
            b->ip_strategy->excluded_ips =
                (char **)a->ip_strategy->excluded_ips;
        }
        *f = CM_XDS_F_IP_ALLOW_LIST;
        return &b->base;
    }
    case CM_CONFIG_MW_RATE_LIMIT: {
        Traefikee__Filters__V1__RateLimit *b =
            cm_xds__msg(c, &traefikee__filters__v1__rate_limit__descriptor);
        b->average = m->u.rate_limit.average;
        b->period = cm_xds__duration(c, m->u.rate_limit.period_ms);
        b->burst = m->u.rate_limit.burst;
        *f = CM_XDS_F_RATE_LIMIT;
        return &b->base;
    }
    case CM_CONFIG_MW_IN_FLIGHT_REQ: {
        Traefikee__Filters__V1__InFlightReq *b =
            cm_xds__msg(c, &traefikee__filters__v1__in_flight_req__descriptor);
        b->amount = m->u.in_flight_req.amount;
        *f = CM_XDS_F_IN_FLIGHT_REQ;
        return &b->base;
    }
    case CM_CONFIG_MW_CIRCUIT_BREAKER: {
        const struct cm_config_circuit_breaker *cb = &m->u.circuit_breaker;
        Traefikee__Filters__V1__CircuitBreaker *b = cm_xds__msg(
            c, &traefikee__filters__v1__circuit_breaker__descriptor);
        b->expression = (char *)cb->expression;
        b->check_period = cm_xds__duration(c, cb->check_period_ms);
        b->fallback_duration = cm_xds__duration(c, cb->fallback_duration_ms);
        b->recovery_duration = cm_xds__duration(c, cb->recovery_duration_ms);
        *f = CM_XDS_F_CIRCUIT_BREAKER;
        return &b->base;
    }
    case CM_CONFIG_MW_REDIRECT_REGEX: {
        Traefikee__Filters__V1__RedirectRegex *b =
            cm_xds__msg(c, &traefikee__filters__v1__redirect_regex__descriptor);
        b->regex = (char *)m->u.redirect_regex.regex;
        b->replacement = (char *)m->u.redirect_regex.replacement;
        b->permanent = m->u.redirect_regex.permanent;
        *f = CM_XDS_F_REDIRECT_REGEX;
        return &b->base;
    }
    default:
        return NULL;
    }
}

struct mw_state {
    struct mws path_ops;
    struct hdrs hdrs;
    int64_t attempts; /* product of retry attempts; 0 = no retry */
    int64_t retry_interval_ms;
};

static void retry(struct cm_xds__ctx *c, RouteAction *a, struct mw_state *st)
{
    if (st->attempts <= 0 || a == NULL)
        return;
    Envoy__Config__Route__V3__RetryPolicy *p =
        cm_xds__msg(c, &envoy__config__route__v3__retry_policy__descriptor);
    p->retry_on = cm_xds__str(c, "connect-failure,refused-stream,reset");
    int64_t n = st->attempts - 1;
    p->num_retries = cm_xds__u32(c, n > UINT32_MAX ? UINT32_MAX : (uint32_t)n);
    if (st->retry_interval_ms > 0) {
        p->retry_back_off = cm_xds__msg(
            c,
            &envoy__config__route__v3__retry_policy__retry_back_off__descriptor);
        p->retry_back_off->base_interval =
            cm_xds__duration(c, st->retry_interval_ms);
    }
    a->retry_policy = p;
}

/* Applies middleware <m>; returns 1 when it ends the chain (a redirect),
 * 0 to go on, or GW_EINVAL. */
static int apply_mw(struct cm_xds__ctx *c, struct cm_xds__router *rt,
                    const struct cm_config_middleware *m, struct mw_state *st)
{
    const char *rname = rt->r->name;
    if (is_path_op(m->kind)) {
        cm_xds__push(c, c->tmp, &st->path_ops.v, &st->path_ops.n, (void *)m);
        return 0;
    }
    switch (m->kind) {
    case CM_CONFIG_MW_HEADERS:
        for (size_t i = 0; i < m->u.headers.n_request; i++)
            set_header(c, &st->hdrs, m->u.headers.request[i].key,
                       m->u.headers.request[i].value, 0, 0);
        for (size_t i = 0; i < m->u.headers.n_response; i++)
            set_header(c, &st->hdrs, m->u.headers.response[i].key,
                       m->u.headers.response[i].value, 1, 0);
        return 0;
    case CM_CONFIG_MW_REDIRECT_SCHEME:
        rt->redirect = redirect_scheme(c, &m->u.redirect_scheme);
        return 1;
    case CM_CONFIG_MW_RETRY: {
        int64_t a = m->u.retry.attempts > 0 ? m->u.retry.attempts : 1;
        if (st->attempts == 0) {
            st->attempts = a;
            st->retry_interval_ms = m->u.retry.initial_interval_ms;
        } else if (st->attempts > INT64_MAX / a) {
            st->attempts = INT64_MAX;
        } else {
            st->attempts *= a;
        }
        return 0;
    }
    default:
        break;
    }
    enum cm_xds_filter f = CM_XDS_F_CLIENT_IP;
    const ProtobufCMessage *msg = filter_msg(c, m, &f);
    if (msg == NULL)
        return cm_xds__fail(c,
                            "router \"%s\": middleware \"%s\": %s is not "
                            "supported",
                            rname, m->name,
                            cm_config_middleware_kind_str(m->kind));
    if (rt->filter_cfg[f] != NULL)
        return cm_xds__fail(c,
                            "router \"%s\": middleware \"%s\": a second %s "
                            "middleware on one router is not supported",
                            rname, m->name,
                            cm_config_middleware_kind_str(m->kind));
    rt->filter_cfg[f] = cm_xds__any(c, msg);
    return 0;
}

static int middlewares(struct cm_xds__ctx *c, struct cm_xds__router *rt,
                       const char *owner)
{
    struct mws list = {0};
    struct mw_state st = {0};
    int rc =
        expand(c, owner, rt->r->middlewares, rt->r->n_middlewares, &list, 0);
    for (size_t i = 0; rc == 0 && i < list.n; i++) {
        rc = apply_mw(c, rt, list.v[i], &st);
        if (rc == 1) { /* redirect: later middlewares are never reached */
            rc = 0;
            break;
        }
    }
    if (rc != 0)
        return rc;
    RegexSub *native = NULL;
    if (st.path_ops.n == 1)
        native = native_path(c, rt, st.path_ops.v[0], &st.hdrs);
    if (native == NULL && st.path_ops.n > 0)
        path_filter(c, rt, &st.path_ops);
    if (native != NULL && rt->redirect != NULL) {
        rt->redirect->path_rewrite_specifier_case =
            ENVOY__CONFIG__ROUTE__V3__REDIRECT_ACTION__PATH_REWRITE_SPECIFIER_REGEX_REWRITE;
        rt->redirect->regex_rewrite = native;
    } else if (native != NULL) {
        rt->action->regex_rewrite = native;
    }
    emit_headers(c, rt, &st.hdrs);
    retry(c, rt->redirect == NULL ? rt->action : NULL, &st);
    return 0;
}

int cm_xds__router(struct cm_xds__ctx *c, struct cm_xds__router *rt)
{
    const char *owner = cm_xds__cat(c, c->tmp, "router \"", rt->r->name, "\"");
    rt->priority = rt->r->priority != 0 ? rt->r->priority
                                        : cm_rule_default_priority(rt->r->rule);
    rt->action =
        cm_xds__msg(c, &envoy__config__route__v3__route_action__descriptor);
    /* Traefik has no per-route response timeout: disable Envoy's 15 s. */
    rt->action->timeout = cm_xds__duration(c, 0);
    int rc = service_action(c, rt, owner, rt->action);
    if (rc == 0)
        rc = middlewares(c, rt, owner);
    return rc;
}

/* ==== Route assembly ==== */

static int entry_cmp(const void *a, const void *b)
{
    const Envoy__Config__Route__V3__Route__TypedPerFilterConfigEntry *x =
        *(void *const *)a;
    const Envoy__Config__Route__V3__Route__TypedPerFilterConfigEntry *y =
        *(void *const *)b;
    return strcmp(x->key, y->key);
}

void cm_xds__route_finish(struct cm_xds__ctx *c, struct cm_xds__route *route)
{
    struct cm_xds__router *rt = route->rt;
    Envoy__Config__Route__V3__Route *m = route->msg;
    if (rt->n_conj > 1)
        m->name = cm_xds__printf(c, "%s#%zu", rt->r->name, route->index);
    else
        m->name = cm_xds__str(c, rt->r->name);
    if (rt->redirect != NULL) {
        m->action_case = ENVOY__CONFIG__ROUTE__V3__ROUTE__ACTION_REDIRECT;
        m->redirect = rt->redirect;
    } else {
        m->action_case = ENVOY__CONFIG__ROUTE__V3__ROUTE__ACTION_ROUTE;
        m->route = rt->action;
    }
    m->n_request_headers_to_add = rt->n_req_add;
    m->request_headers_to_add = rt->req_add;
    m->n_request_headers_to_remove = rt->n_req_remove;
    m->request_headers_to_remove = rt->req_remove;
    m->n_response_headers_to_add = rt->n_resp_add;
    m->response_headers_to_add = rt->resp_add;
    m->n_response_headers_to_remove = rt->n_resp_remove;
    m->response_headers_to_remove = rt->resp_remove;
    for (int f = 0; f < CM_XDS_NFILTERS; f++) {
        Google__Protobuf__Any *any =
            f == CM_XDS_F_CLIENT_IP ? route->client_ip : rt->filter_cfg[f];
        if (any == NULL)
            continue;
        Envoy__Config__Route__V3__Route__TypedPerFilterConfigEntry *e = cm_xds__msg(
            c,
            &envoy__config__route__v3__route__typed_per_filter_config_entry__descriptor);
        e->key = (char *)cm_xds_filter_name((enum cm_xds_filter)f);
        e->value = any;
        cm_xds__push(c, c->out, &m->typed_per_filter_config,
                     &m->n_typed_per_filter_config, e);
        route->filters |= 1u << f;
    }
    if (m->n_typed_per_filter_config > 1)
        qsort(m->typed_per_filter_config, m->n_typed_per_filter_config,
              sizeof(void *), entry_cmp);
}
