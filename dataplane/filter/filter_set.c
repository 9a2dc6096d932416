/*
 * filter_set.c -- the chains of one RouteConfiguration, compiled beside its
 * router: per virtual host (sorted by name) an array of chains indexed by
 * route position, routes with identical (router, filter configs) sharing
 * one chain. Built on the configuration thread; lookups are read-only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/filter/filter_int.h"

#define RT(x) Envoy__Config__Route__V3__##x

struct vh {
    char *name; /* a copy: the RouteConfiguration goes after the build */
    struct dp_filter_chain **chains; /* n_routes, NULL = none */
    size_t n_routes;
};

struct dp_filter_set {
    struct vh *vhs; /* sorted by name */
    size_t n_vhs;
    struct dp_filter_chain **uniq; /* distinct chains (one ref each) */
    size_t n_uniq, cap_uniq;
};

static int vh_cmp(const void *a, const void *b)
{
    return strcmp(((const struct vh *)a)->name, ((const struct vh *)b)->name);
}

void dp_filter_set_free(struct dp_filter_set *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->n_vhs; i++) {
        free(s->vhs[i].chains);
        free(s->vhs[i].name);
    }
    free(s->vhs);
    for (size_t i = 0; i < s->n_uniq; i++)
        dp_filter_chain_free(s->uniq[i]);
    free(s->uniq);
    free(s);
}

size_t dp_filter_set_count(const struct dp_filter_set *s)
{
    return s ? s->n_uniq : 0;
}

/* Entries of route <rt> as the router resolves them: route level, then
 * virtual host, then route configuration; first per name wins. */
static size_t collect(const RT(RouteConfiguration) * rc,
                      const RT(VirtualHost) * vh, const RT(Route) * rt,
                      struct dp_route_filter_config *fc)
{
    const size_t nl[3] = {rt->n_typed_per_filter_config,
                          vh->n_typed_per_filter_config,
                          rc->n_typed_per_filter_config};
    RT(Route__TypedPerFilterConfigEntry) *const *r =
        rt->typed_per_filter_config;
    RT(VirtualHost__TypedPerFilterConfigEntry) *const *v =
        vh->typed_per_filter_config;
    RT(RouteConfiguration__TypedPerFilterConfigEntry) *const *c =
        rc->typed_per_filter_config;
    size_t n = 0;

    for (int lvl = 0; lvl < 3; lvl++)
        for (size_t i = 0; i < nl[lvl]; i++) {
            const char *key = lvl == 0   ? r[i]->key
                              : lvl == 1 ? v[i]->key
                                         : c[i]->key;
            const Google__Protobuf__Any *a = lvl == 0   ? r[i]->value
                                             : lvl == 1 ? v[i]->value
                                                        : c[i]->value;
            if (key == NULL || a == NULL ||
                strncmp(key, "traefikee.filters.", 18) != 0)
                continue;
            fc[n].filter = (struct dp_router_slice){key, strlen(key)};
            fc[n].type_url =
                (struct dp_router_slice){a->type_url ? a->type_url : "",
                                         a->type_url ? strlen(a->type_url) : 0};
            fc[n].value = (struct dp_router_slice){(const char *)a->value.data,
                                                   a->value.len};
            n++;
        }
    return n;
}

/* The set's chain equal to <ch> (same route key and config hashes), or
 * adds <ch>. Takes <ch>; returns the chain to use (borrowed from s). */
static struct dp_filter_chain *intern(struct dp_filter_set *s,
                                      struct dp_filter_chain *ch)
{
    for (size_t i = 0; i < s->n_uniq; i++)
        if (s->uniq[i]->hash == ch->hash && s->uniq[i]->mask == ch->mask &&
            strcmp(s->uniq[i]->route_key, ch->route_key) == 0) {
            dp_filter_chain_free(ch);
            return s->uniq[i];
        }
    if (s->n_uniq == s->cap_uniq) {
        size_t cap = s->cap_uniq ? s->cap_uniq * 2 : 8;
        void *p = realloc(s->uniq, cap * sizeof(*s->uniq));
        if (p == NULL) {
            dp_filter_chain_free(ch);
            return NULL;
        }
        s->uniq = p;
        s->cap_uniq = cap;
    }
    s->uniq[s->n_uniq++] = ch;
    return ch;
}

static char *key_of(const RT(VirtualHost) * vh, const RT(Route) * rt,
                    size_t idx)
{
    struct dp_route r = {0};

    r.name = (struct dp_router_slice){rt->name ? rt->name : "",
                                      rt->name ? strlen(rt->name) : 0};
    r.vhost = (struct dp_router_slice){vh->name ? vh->name : "",
                                       vh->name ? strlen(vh->name) : 0};
    r.index = (uint32_t)idx;
    return dp_filter__route_key(&r);
}

static int build_vh(struct dp_filter_set *s, const RT(RouteConfiguration) * rc,
                    const RT(VirtualHost) * vh, struct vh *out,
                    struct dp_filter_registry *reg,
                    const struct dp_filter_opts *opts, char *err, size_t len)
{
    char msg[CM_ERR_LEN];

    out->name = strdup(vh->name ? vh->name : "");
    out->n_routes = vh->n_routes;
    if (out->name == NULL ||
        (vh->n_routes &&
         (out->chains = calloc(vh->n_routes, sizeof(*out->chains))) == NULL))
        return cm_err_set(err, len, GW_ENOMEM, "out of memory");
    for (size_t i = 0; i < vh->n_routes; i++) {
        const RT(Route) *rt = vh->routes[i];
        size_t max = rt->n_typed_per_filter_config +
                     vh->n_typed_per_filter_config +
                     rc->n_typed_per_filter_config;
        struct dp_route_filter_config *fc = calloc(max ? max : 1, sizeof(*fc));
        struct dp_filter_chain *ch = NULL;
        char *key;
        int r;
        if (fc == NULL || (key = key_of(vh, rt, i)) == NULL) {
            free(fc);
            return cm_err_set(err, len, GW_ENOMEM, "out of memory");
        }
        r = dp_filter__chain_build_key(key, fc, collect(rc, vh, rt, fc), reg,
                                       opts, &ch, msg, sizeof(msg));
        free(fc);
        if (r != 0)
            return cm_err_set(err, len, r,
                              "route_config \"%s\": virtual_host \"%s\" "
                              "route %zu: %s",
                              rc->name, vh->name, i + 1, msg);
        if (ch != NULL && (out->chains[i] = intern(s, ch)) == NULL)
            return cm_err_set(err, len, GW_ENOMEM, "out of memory");
    }
    return 0;
}

struct dp_filter_set *dp_filter_set_new(const RT(RouteConfiguration) * rc,
                                        struct dp_filter_registry *reg,
                                        const struct dp_filter_opts *opts,
                                        char *err, size_t len)
{
    struct dp_filter_set *s = calloc(1, sizeof(*s));

    if (s == NULL ||
        (rc->n_virtual_hosts &&
         (s->vhs = calloc(rc->n_virtual_hosts, sizeof(*s->vhs))) == NULL)) {
        free(s);
        cm_err_set(err, len, GW_ENOMEM, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < rc->n_virtual_hosts; i++, s->n_vhs++)
        if (build_vh(s, rc, rc->virtual_hosts[i], &s->vhs[i], reg, opts, err,
                     len) != 0) {
            s->n_vhs++;
            dp_filter_set_free(s);
            return NULL;
        }
    qsort(s->vhs, s->n_vhs, sizeof(*s->vhs), vh_cmp);
    for (size_t i = 1; i < s->n_vhs; i++)
        if (strcmp(s->vhs[i - 1].name, s->vhs[i].name) == 0) {
            cm_err_set(err, len, GW_EINVAL,
                       "route_config \"%s\": duplicate virtual_host \"%s\"",
                       rc->name, s->vhs[i].name);
            dp_filter_set_free(s);
            return NULL;
        }
    return s;
}

const struct dp_filter_chain *dp_filter_set_get(const struct dp_filter_set *s,
                                                const struct dp_route *rt)
{
    size_t lo = 0, hi;

    if (s == NULL || rt == NULL)
        return NULL;
    hi = s->n_vhs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const char *n = s->vhs[mid].name;
        int c = strncmp(n, rt->vhost.ptr, rt->vhost.len);
        if (c == 0 && n[rt->vhost.len] != '\0')
            c = 1;
        if (c == 0)
            return rt->index < s->vhs[mid].n_routes
                       ? s->vhs[mid].chains[rt->index]
                       : NULL;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}
