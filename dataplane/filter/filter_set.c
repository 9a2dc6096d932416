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
    struct dp_filter_chain **chains; /* n_routes (each NULL = none), or
                                      * NULL while no route has one */
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

/* Build-time scratch, shared by every route of one set: the entries
 * buffer (grown, never shrunk) and an open-addressing index of s->uniq by
 * chain hash (slot = uniq index + 1, 0 = empty; at most half full). */
struct sb {
    struct dp_filter_set *s;
    struct dp_filter_registry *reg;
    const struct dp_filter_opts *opts;
    struct dp_route_filter_config *fc;
    size_t cap_fc;
    size_t *slots;
    size_t mask; /* number of slots - 1, or 0 with none yet */
};

static bool same_chain(const struct dp_filter_chain *a,
                       const struct dp_filter_chain *b)
{
    return a->hash == b->hash && a->mask == b->mask &&
           strcmp(a->route_key, b->route_key) == 0;
}

/* Doubles the index (or makes its first 16 slots) and reinserts. */
static int index_grow(struct sb *b)
{
    size_t n = b->mask ? (b->mask + 1) * 2 : 16;
    size_t *slots = calloc(n, sizeof(*slots));

    if (slots == NULL)
        return GW_ENOMEM;
    for (size_t i = 0; i < b->s->n_uniq; i++) {
        size_t j = (size_t)b->s->uniq[i]->hash & (n - 1);
        while (slots[j] != 0)
            j = (j + 1) & (n - 1);
        slots[j] = i + 1;
    }
    free(b->slots);
    b->slots = slots;
    b->mask = n - 1;
    return 0;
}

static int uniq_push(struct dp_filter_set *s, struct dp_filter_chain *ch)
{
    if (s->n_uniq == s->cap_uniq) {
        size_t cap = s->cap_uniq ? s->cap_uniq * 2 : 8;
        void *p = realloc(s->uniq, cap * sizeof(*s->uniq));
        if (p == NULL)
            return GW_ENOMEM;
        s->uniq = p;
        s->cap_uniq = cap;
    }
    s->uniq[s->n_uniq++] = ch;
    return 0;
}

/* The set's chain equal to <ch> (same route key and config hashes), or
 * adds <ch>. Takes <ch>; returns the chain to use (borrowed from s). */
static struct dp_filter_chain *intern(struct sb *b, struct dp_filter_chain *ch)
{
    struct dp_filter_set *s = b->s;
    size_t j;

    if ((s->n_uniq + 1) * 2 > b->mask + 1 && index_grow(b) != 0) {
        dp_filter_chain_free(ch);
        return NULL;
    }
    for (j = (size_t)ch->hash & b->mask; b->slots[j] != 0;
         j = (j + 1) & b->mask)
        if (same_chain(s->uniq[b->slots[j] - 1], ch)) {
            dp_filter_chain_free(ch);
            return s->uniq[b->slots[j] - 1];
        }
    if (uniq_push(s, ch) != 0) {
        dp_filter_chain_free(ch);
        return NULL;
    }
    b->slots[j] = s->n_uniq;
    return ch;
}

/* Room for <n> entries in b->fc. */
static int fc_reserve(struct sb *b, size_t n)
{
    size_t cap = b->cap_fc ? b->cap_fc : 8;
    void *p;

    if (n <= b->cap_fc)
        return 0;
    while (cap < n)
        cap *= 2;
    if ((p = realloc(b->fc, cap * sizeof(*b->fc))) == NULL)
        return GW_ENOMEM;
    b->fc = p;
    b->cap_fc = cap;
    return 0;
}

/* Route <i> of <vh> (whose name slice is <vname>) into out->chains[i]. */
static int build_route(struct sb *b, const RT(RouteConfiguration) * rc,
                       const RT(VirtualHost) * vh, struct dp_router_slice vname,
                       size_t i, struct vh *out, char *err, size_t len)
{
    const RT(Route) *rt = vh->routes[i];
    struct dp_route r = {.vhost = vname, .index = (uint32_t)i};
    struct dp_filter_chain *ch = NULL;
    char msg[CM_ERR_LEN];
    size_t n;
    int e;

    if (fc_reserve(b, rt->n_typed_per_filter_config +
                          vh->n_typed_per_filter_config +
                          rc->n_typed_per_filter_config) != 0)
        return cm_err_set(err, len, GW_ENOMEM, "out of memory");
    if ((n = collect(rc, vh, rt, b->fc)) == 0)
        return 0; /* no traefikee filter: no key, no chain */
    r.name = (struct dp_router_slice){rt->name ? rt->name : "",
                                      rt->name ? strlen(rt->name) : 0};
    e = dp_filter__chain_build_fc(&r, b->fc, n, b->reg, b->opts, &ch, msg,
                                  sizeof(msg));
    if (e != 0)
        return cm_err_set(err, len, e,
                          "route_config \"%s\": virtual_host \"%s\" "
                          "route %zu: %s",
                          rc->name, vh->name, i + 1, msg);
    if (ch == NULL)
        return 0;
    if ((out->chains == NULL &&
         (out->chains = calloc(vh->n_routes, sizeof(*out->chains))) == NULL) ||
        (out->chains[i] = intern(b, ch)) == NULL) {
        if (out->chains == NULL)
            dp_filter_chain_free(ch);
        return cm_err_set(err, len, GW_ENOMEM, "out of memory");
    }
    return 0;
}

/* out->chains stays NULL while no route of <vh> has a chain. */
static int build_vh(struct sb *b, const RT(RouteConfiguration) * rc,
                    const RT(VirtualHost) * vh, struct vh *out, char *err,
                    size_t len)
{
    struct dp_router_slice vname = {vh->name ? vh->name : "",
                                    vh->name ? strlen(vh->name) : 0};

    if ((out->name = malloc(vname.len + 1)) == NULL)
        return cm_err_set(err, len, GW_ENOMEM, "out of memory");
    memcpy(out->name, vname.ptr, vname.len + 1);
    out->n_routes = vh->n_routes;
    for (size_t i = 0; i < vh->n_routes; i++) {
        int e = build_route(b, rc, vh, vname, i, out, err, len);
        if (e != 0)
            return e;
    }
    return 0;
}

/* Sorts the virtual hosts; GW_EINVAL on a duplicate name. */
static int sort_vhs(struct dp_filter_set *s, const RT(RouteConfiguration) * rc,
                    char *err, size_t len)
{
    qsort(s->vhs, s->n_vhs, sizeof(*s->vhs), vh_cmp);
    for (size_t i = 1; i < s->n_vhs; i++)
        if (strcmp(s->vhs[i - 1].name, s->vhs[i].name) == 0)
            return cm_err_set(
                err, len, GW_EINVAL,
                "route_config \"%s\": duplicate virtual_host \"%s\"", rc->name,
                s->vhs[i].name);
    return 0;
}

struct dp_filter_set *dp_filter_set_new(const RT(RouteConfiguration) * rc,
                                        struct dp_filter_registry *reg,
                                        const struct dp_filter_opts *opts,
                                        char *err, size_t len)
{
    struct sb b = {.reg = reg, .opts = opts};
    int e = 0;

    if ((b.s = calloc(1, sizeof(*b.s))) == NULL ||
        (rc->n_virtual_hosts &&
         (b.s->vhs = calloc(rc->n_virtual_hosts, sizeof(*b.s->vhs))) == NULL)) {
        free(b.s);
        cm_err_set(err, len, GW_ENOMEM, "out of memory");
        return NULL;
    }
    for (size_t i = 0; e == 0 && i < rc->n_virtual_hosts; i++, b.s->n_vhs++)
        e = build_vh(&b, rc, rc->virtual_hosts[i], &b.s->vhs[i], err, len);
    free(b.fc);
    free(b.slots);
    if (e == 0)
        e = sort_vhs(b.s, rc, err, len);
    if (e != 0) {
        dp_filter_set_free(b.s);
        return NULL;
    }
    return b.s;
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
            return rt->index < s->vhs[mid].n_routes &&
                           s->vhs[mid].chains != NULL
                       ? s->vhs[mid].chains[rt->index]
                       : NULL;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}
