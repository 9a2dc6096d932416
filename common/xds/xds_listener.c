/*
 * xds_listener.c -- entry points to Listeners (HttpConnectionManager over
 * RDS/ADS) and RouteConfigurations (virtual hosts grouped by host, routes
 * by priority), and router hosts to the API Listeners and route
 * configurations proxyless gRPC clients ask for (xds:///HOST).
 */
#include "common/xds/xds_int.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "envoy/config/listener/v3/api_listener.pb-c.h"
#include "envoy/config/listener/v3/listener_components.pb-c.h"
#include "envoy/extensions/filters/http/router/v3/router.pb-c.h"
#include "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.pb-c.h"

typedef Envoy__Config__Listener__V3__Listener Listener;
typedef Envoy__Config__Route__V3__RouteConfiguration RouteConfiguration;
typedef Envoy__Config__Route__V3__VirtualHost VirtualHost;
typedef Envoy__Extensions__Filters__Network__HttpConnectionManager__V3__HttpConnectionManager
    Hcm;
typedef Envoy__Extensions__Filters__Network__HttpConnectionManager__V3__HttpFilter
    HttpFilter;

struct rlist {
    struct cm_xds__route **v;
    size_t n;
};

/* ==== Route groups ==== */

/* Routes sharing one key (an exact host, or the ".suffix" of a wildcard),
 * in route order. */
struct group {
    const char *key; /* NULL = empty slot */
    uint64_t hash;
    struct rlist l;
};

/* Open-addressing hash of groups by key, at most half full; grows in the
 * scratch arena (old tables stay there: twice the last one at most). */
struct gmap {
    struct group *v;
    size_t mask, n;
};

static uint64_t str_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s != '\0'; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

/* The slot of <key> (hash <h>) in <m>: its group's or the empty one where
 * it would go. */
static struct group *gmap_slot(const struct gmap *m, const char *key,
                               uint64_t h)
{
    for (size_t i = (size_t)h & m->mask;; i = (i + 1) & m->mask) {
        struct group *g = &m->v[i];
        if (g->key == NULL || (g->hash == h && strcmp(g->key, key) == 0))
            return g;
    }
}

/* An empty map of <cap> slots (a power of two). */
static void gmap_init(struct cm_xds__ctx *c, struct gmap *m, size_t cap)
{
    m->v = cm_xds__alloc(c, c->tmp, cap * sizeof(*m->v));
    m->mask = cap - 1;
    m->n = 0;
}

static void gmap_grow(struct cm_xds__ctx *c, struct gmap *m)
{
    struct gmap old = *m;
    gmap_init(c, m, 2 * (old.mask + 1));
    for (size_t i = 0; i <= old.mask; i++)
        if (old.v[i].key != NULL)
            *gmap_slot(m, old.v[i].key, old.v[i].hash) = old.v[i];
    m->n = old.n;
}

/* The group of <key>: found, or added empty (then *<added> is 1). */
static struct group *gmap_get(struct cm_xds__ctx *c, struct gmap *m,
                              const char *key, int *added)
{
    if (2 * (m->n + 1) > m->mask + 1)
        gmap_grow(c, m);
    uint64_t h = str_hash(key);
    struct group *g = gmap_slot(m, key, h);
    *added = g->key == NULL;
    if (*added) {
        g->key = key;
        g->hash = h;
        m->n++;
    }
    return g;
}

/* The group of <key>, or NULL. */
static const struct group *gmap_find(const struct gmap *m, const char *key)
{
    const struct group *g = gmap_slot(m, key, str_hash(key));
    return g->key != NULL ? g : NULL;
}

/* ==== Route configurations ==== */

/* Route order in a virtual host: Traefik's, by priority (higher first),
 * then router name, then conjunction. A total order: router names are
 * unique. */
static int route_order(const struct cm_xds__route *x,
                       const struct cm_xds__route *y)
{
    if (x->rt->priority != y->rt->priority)
        return x->rt->priority > y->rt->priority ? -1 : 1;
    int c = strcmp(x->rt->r->name, y->rt->r->name);
    if (c != 0)
        return c;
    return x->index < y->index ? -1 : x->index > y->index;
}

static int route_cmp(const void *a, const void *b)
{
    return route_order(*(void *const *)a, *(void *const *)b);
}

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The routes of a route configuration grouped by the virtual hosts they
 * belong to. Envoy picks one virtual host per request (exact domain, then
 * longest wildcard, then "*") while Traefik orders all routers by
 * priority, so a route goes into every virtual host whose requests it may
 * match:
 *   - no Host, or a HostRegexp that is no wildcard: every virtual host;
 *   - Host(`h`): the virtual host "h";
 *   - a wildcard "*.suffix": every domain ending in ".suffix" (longer than
 *     it, "*.suffix" itself included), "*" excepted. */
struct hosts {
    struct rlist any;  /* in every virtual host */
    struct gmap exact; /* host -> Host(`host`) routes */
    struct gmap wild;  /* ".suffix" -> "*.suffix" routes */
    char **domains;    /* sorted, distinct */
    size_t n_domains;
};

/* Groups <routes> (borrowed, in route order) into <hx>: every list in route
 * order. */
static void hosts_build(struct cm_xds__ctx *c, struct hosts *hx,
                        const struct rlist *sorted)
{
    memset(hx, 0, sizeof(*hx));
    gmap_init(c, &hx->exact, 16);
    gmap_init(c, &hx->wild, 16);
    for (size_t i = 0; i < sorted->n; i++) {
        struct cm_xds__route *r = sorted->v[i];
        struct group *g;
        int added;
        if (r->host_kind == CM_XDS__HOST_EXACT)
            g = gmap_get(c, &hx->exact, r->host, &added);
        else if (r->host_kind == CM_XDS__HOST_WILDCARD)
            g = gmap_get(c, &hx->wild, r->host + 1, &added);
        else {
            if (hx->any.n == 0)
                cm_xds__push(c, c->tmp, &hx->domains, &hx->n_domains, "*");
            cm_xds__push(c, c->tmp, &hx->any.v, &hx->any.n, r);
            continue;
        }
        if (added)
            cm_xds__push(c, c->tmp, &hx->domains, &hx->n_domains,
                         (void *)r->host);
        cm_xds__push(c, c->tmp, &g->l.v, &g->l.n, r);
    }
    if (hx->n_domains > 1)
        qsort(hx->domains, hx->n_domains, sizeof(char *), str_cmp);
    size_t n = 0; /* distinct already (hosts never start with '*'): check */
    for (size_t i = 0; i < hx->n_domains; i++)
        if (n == 0 || strcmp(hx->domains[n - 1], hx->domains[i]) != 0)
            hx->domains[n++] = hx->domains[i];
    hx->n_domains = n;
}

/* The lists of <hx> whose routes cover domain <d> (at most <cap>): the
 * host-less ones, the exact host's, and the wildcards' whose ".suffix"
 * ends <d>. Returns how many, filling <lists>. */
static size_t covering(const struct hosts *hx, const char *d,
                       const struct rlist **lists, size_t cap)
{
    size_t k = 0;
    const struct group *g;
    if (hx->any.n > 0)
        lists[k++] = &hx->any;
    if ((g = gmap_find(&hx->exact, d)) != NULL)
        lists[k++] = &g->l;
    if (strcmp(d, "*") == 0)
        return k;
    for (size_t i = 1; d[i] != '\0' && k < cap; i++)
        if (d[i] == '.' && (g = gmap_find(&hx->wild, d + i)) != NULL)
            lists[k++] = &g->l;
    return k;
}

/* Merges the <k> sorted <lists> into <out> (route messages, in order). */
static void merge(const struct rlist *const *lists, size_t k, size_t *pos,
                  Envoy__Config__Route__V3__Route **out)
{
    for (size_t n = 0;; n++) {
        size_t best = k;
        for (size_t j = 0; j < k; j++)
            if (pos[j] < lists[j]->n &&
                (best == k || route_order(lists[j]->v[pos[j]],
                                          lists[best]->v[pos[best]]) < 0))
                best = j;
        if (best == k)
            return;
        out[n] = lists[best]->v[pos[best]++]->msg;
    }
}

static VirtualHost *vhost(struct cm_xds__ctx *c, const struct hosts *hx,
                          const char *d)
{
    VirtualHost *vh =
        cm_xds__msg(c, &envoy__config__route__v3__virtual_host__descriptor);
    vh->name = cm_xds__str(c, d);
    cm_xds__push(c, c->out, &vh->domains, &vh->n_domains, vh->name);
    size_t cap = strlen(d) + 2, total = 0;
    const struct rlist **lists = cm_xds__alloc(c, c->tmp, cap * sizeof(void *));
    size_t k = covering(hx, d, lists, cap);
    for (size_t j = 0; j < k; j++)
        total += lists[j]->n;
    if (total == 0)
        return vh;
    size_t *pos = cm_xds__alloc(c, c->tmp, k * sizeof(*pos));
    vh->routes = cm_xds__alloc(c, c->out, total * sizeof(*vh->routes));
    vh->n_routes = total;
    merge(lists, k, pos, vh->routes);
    return vh;
}

static RouteConfiguration *route_config(struct cm_xds__ctx *c, const char *name,
                                        const struct rlist *routes)
{
    RouteConfiguration *rc = cm_xds__msg(
        c, &envoy__config__route__v3__route_configuration__descriptor);
    rc->name = cm_xds__str(c, name);
    struct hosts hx;
    hosts_build(c, &hx, routes);
    if (hx.n_domains > 0) {
        rc->virtual_hosts =
            cm_xds__alloc(c, c->out, hx.n_domains * sizeof(*rc->virtual_hosts));
        rc->n_virtual_hosts = hx.n_domains;
    }
    for (size_t i = 0; i < hx.n_domains; i++)
        rc->virtual_hosts[i] = vhost(c, &hx, hx.domains[i]);
    return rc;
}

/* ==== HttpConnectionManager ==== */

static HttpFilter *http_filter(struct cm_xds__ctx *c, const char *name,
                               const char *type)
{
    HttpFilter *f = cm_xds__msg(
        c,
        &envoy__extensions__filters__network__http_connection_manager__v3__http_filter__descriptor);
    f->name = cm_xds__str(c, name);
    f->config_type_case =
        ENVOY__EXTENSIONS__FILTERS__NETWORK__HTTP_CONNECTION_MANAGER__V3__HTTP_FILTER__CONFIG_TYPE_TYPED_CONFIG;
    /* Every message here is empty by default: an empty value. */
    f->typed_config = cm_xds__msg(c, &google__protobuf__any__descriptor);
    f->typed_config->type_url = cm_xds__type_url(c, type);
    return f;
}

static Google__Protobuf__Any *hcm(struct cm_xds__ctx *c, const char *name,
                                  unsigned filters, int api)
{
    Hcm *h = cm_xds__msg(
        c,
        &envoy__extensions__filters__network__http_connection_manager__v3__http_connection_manager__descriptor);
    h->stat_prefix = cm_xds__str(c, name);
    h->route_specifier_case =
        ENVOY__EXTENSIONS__FILTERS__NETWORK__HTTP_CONNECTION_MANAGER__V3__HTTP_CONNECTION_MANAGER__ROUTE_SPECIFIER_RDS;
    h->rds = cm_xds__msg(
        c,
        &envoy__extensions__filters__network__http_connection_manager__v3__rds__descriptor);
    h->rds->config_source = cm_xds__ads(c);
    h->rds->route_config_name = cm_xds__str(c, name);
    if (!api) {
        /* Traefik's Host matcher ignores the port: so do the domains. */
        h->strip_port_mode_case =
            ENVOY__EXTENSIONS__FILTERS__NETWORK__HTTP_CONNECTION_MANAGER__V3__HTTP_CONNECTION_MANAGER__STRIP_PORT_MODE_STRIP_ANY_HOST_PORT;
        h->strip_any_host_port = 1;
    }
    for (int f = 0; f < CM_XDS_NFILTERS; f++)
        if (filters & (1u << f))
            cm_xds__push(
                c, c->out, &h->http_filters, &h->n_http_filters,
                http_filter(c, cm_xds_filter_name((enum cm_xds_filter)f),
                            cm_xds_filter_type((enum cm_xds_filter)f)));
    cm_xds__push(
        c, c->out, &h->http_filters, &h->n_http_filters,
        http_filter(
            c, CM_XDS_FILTER_ROUTER,
            envoy__extensions__filters__http__router__v3__router__descriptor
                .name));
    return cm_xds__any(c, &h->base);
}

/* ==== Listeners ==== */

static Listener *ep_listener(struct cm_xds__ctx *c,
                             const struct cm_config_entrypoint *ep,
                             unsigned filters)
{
    Listener *l =
        cm_xds__msg(c, &envoy__config__listener__v3__listener__descriptor);
    l->name = cm_xds__str(c, ep->name);
    Envoy__Config__Core__V3__SocketAddress *sa =
        cm_xds__msg(c, &envoy__config__core__v3__socket_address__descriptor);
    sa->address =
        cm_xds__str(c, ep->host && ep->host[0] ? ep->host : "0.0.0.0");
    sa->port_specifier_case =
        ENVOY__CONFIG__CORE__V3__SOCKET_ADDRESS__PORT_SPECIFIER_PORT_VALUE;
    sa->port_value = ep->port;
    l->address = cm_xds__msg(c, &envoy__config__core__v3__address__descriptor);
    l->address->address_case =
        ENVOY__CONFIG__CORE__V3__ADDRESS__ADDRESS_SOCKET_ADDRESS;
    l->address->socket_address = sa;
    Envoy__Config__Listener__V3__Filter *f =
        cm_xds__msg(c, &envoy__config__listener__v3__filter__descriptor);
    f->name = cm_xds__str(c, CM_XDS_FILTER_HCM);
    f->config_type_case =
        ENVOY__CONFIG__LISTENER__V3__FILTER__CONFIG_TYPE_TYPED_CONFIG;
    f->typed_config = hcm(c, ep->name, filters, 0);
    Envoy__Config__Listener__V3__FilterChain *fc =
        cm_xds__msg(c, &envoy__config__listener__v3__filter_chain__descriptor);
    cm_xds__push(c, c->out, &fc->filters, &fc->n_filters, f);
    cm_xds__push(c, c->out, &l->filter_chains, &l->n_filter_chains, fc);
    return l;
}

static Listener *api_listener(struct cm_xds__ctx *c, const char *name)
{
    Listener *l =
        cm_xds__msg(c, &envoy__config__listener__v3__listener__descriptor);
    l->name = cm_xds__str(c, name);
    l->api_listener =
        cm_xds__msg(c, &envoy__config__listener__v3__api_listener__descriptor);
    l->api_listener->api_listener = hcm(c, name, 0, 1);
    return l;
}

static int on_entrypoint(const struct cm_xds__ctx *c,
                         const struct cm_config_router *r,
                         const struct cm_config_entrypoint *ep)
{
    if (r->n_entry_points == 0)
        return 1;
    for (size_t i = 0; i < r->n_entry_points; i++)
        if (cm_config_find_entrypoint(c->cfg, r->entry_points[i]) == ep)
            return 1;
    return 0;
}

/* The first router with tls on <ep> (it picks the TLS options), or NULL:
 * an entry point with a TLS router serves TLS to all its routers. */
static const struct cm_config_router *
tls_router(const struct cm_xds__ctx *c, const struct cm_config_entrypoint *ep)
{
    for (size_t i = 0; i < c->n_routers; i++) {
        const struct cm_config_router *r = c->routers[i].r;
        if (r->tls != NULL && on_entrypoint(c, r, ep))
            return r;
    }
    return NULL;
}

static int entrypoints(struct cm_xds__ctx *c, struct cm_xds_resources *res)
{
    for (size_t e = 0; e < c->cfg->n_entry_points; e++) {
        const struct cm_config_entrypoint *ep = &c->cfg->entry_points[e];
        const struct cm_config_router *tr = tls_router(c, ep);
        Listener *l;
        struct rlist rl = {0};
        unsigned filters = 0;
        for (size_t i = 0; i < c->n_routes; i++) {
            if (!on_entrypoint(c, c->routes[i]->rt->r, ep))
                continue;
            cm_xds__push(c, c->tmp, &rl.v, &rl.n, c->routes[i]);
            filters |= c->routes[i]->filters;
        }
        cm_xds__push(c, c->out, &res->routes, &res->n_routes,
                     route_config(c, ep->name, &rl));
        l = ep_listener(c, ep, filters);
        if (tr != NULL && (l->filter_chains[0]->transport_socket =
                               cm_xds__downstream_tls(c, tr, res)) == NULL)
            return GW_EINVAL;
        cm_xds__push(c, c->out, &res->listeners, &res->n_listeners, l);
    }
    return 0;
}

/* A route a gRPC client can use: forwards, and needs none of our filters
 * (gRPC clients run only the router filter). */
static int grpc_usable(const struct cm_xds__route *r)
{
    return r->filters == 0 &&
           r->msg->action_case == ENVOY__CONFIG__ROUTE__V3__ROUTE__ACTION_ROUTE;
}

static void grpc_hosts(struct cm_xds__ctx *c, struct cm_xds_resources *res)
{
    struct gmap seen;
    char **hosts = NULL;
    size_t nh = 0;
    gmap_init(c, &seen, 16);
    for (size_t i = 0; i < c->n_routes; i++) {
        int added;
        if (c->routes[i]->host_kind == CM_XDS__HOST_EXACT &&
            (gmap_get(c, &seen, c->routes[i]->host, &added), added))
            cm_xds__push(c, c->tmp, &hosts, &nh, (void *)c->routes[i]->host);
    }
    struct rlist usable = {0};
    for (size_t i = 0; i < c->n_routes; i++)
        if (grpc_usable(c->routes[i]))
            cm_xds__push(c, c->tmp, &usable.v, &usable.n, c->routes[i]);
    struct hosts hx;
    hosts_build(c, &hx, &usable);
    for (size_t h = 0; h < nh; h++) {
        if (cm_config_find_entrypoint(c->cfg, hosts[h]) != NULL)
            continue; /* entry point names win */
        RouteConfiguration *rc = cm_xds__msg(
            c, &envoy__config__route__v3__route_configuration__descriptor);
        rc->name = cm_xds__str(c, hosts[h]);
        cm_xds__push(c, c->out, &rc->virtual_hosts, &rc->n_virtual_hosts,
                     vhost(c, &hx, hosts[h]));
        cm_xds__push(c, c->out, &res->routes, &res->n_routes, rc);
        cm_xds__push(c, c->out, &res->listeners, &res->n_listeners,
                     api_listener(c, hosts[h]));
    }
}

int cm_xds__listeners(struct cm_xds__ctx *c, struct cm_xds_resources *res)
{
    /* Once in route order, every filtered list stays in it. */
    if (c->n_routes > 1)
        qsort(c->routes, c->n_routes, sizeof(void *), route_cmp);
    if (entrypoints(c, res) != 0)
        return GW_EINVAL;
    grpc_hosts(c, res);
    return 0;
}
