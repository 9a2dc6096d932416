/*
 * xds_listener.c -- entry points to Listeners (HttpConnectionManager over
 * RDS/ADS) and RouteConfigurations (virtual hosts grouped by host, routes
 * by priority), and router hosts to the API Listeners and route
 * configurations proxyless gRPC clients ask for (xds:///HOST).
 */
#include "common/xds/xds_int.h"

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

/* ==== Route configurations ==== */

static int suffix_of(const char *d, const char *suffix)
{
    size_t n = strlen(d), m = strlen(suffix);
    return n > m && strcmp(d + n - m, suffix) == 0;
}

/* Whether route <r> may match a request that Envoy sends to the virtual
 * host of domain <d> (Envoy picks one virtual host per request: exact, then
 * longest wildcard, then "*"; Traefik orders all routers by priority). */
static int covers(const struct cm_xds__route *r, const char *d)
{
    switch (r->host_kind) {
    case CM_XDS__HOST_ANY:
    case CM_XDS__HOST_REGEX:
        return 1;
    case CM_XDS__HOST_EXACT:
        return strcmp(r->host, d) == 0;
    case CM_XDS__HOST_WILDCARD:
        return strcmp(r->host, d) == 0 ||
               (strcmp(d, "*") != 0 && suffix_of(d, r->host + 1));
    }
    return 0;
}

static int route_cmp(const void *a, const void *b)
{
    const struct cm_xds__route *x = *(void *const *)a, *y = *(void *const *)b;
    if (x->rt->priority != y->rt->priority)
        return x->rt->priority > y->rt->priority ? -1 : 1;
    int c = strcmp(x->rt->r->name, y->rt->r->name);
    if (c != 0)
        return c;
    return x->index < y->index ? -1 : x->index > y->index;
}

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void add_domain(struct cm_xds__ctx *c, char ***v, size_t *n,
                       const char *d)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp((*v)[i], d) == 0)
            return;
    cm_xds__push(c, c->tmp, v, n, (void *)d);
}

static VirtualHost *vhost(struct cm_xds__ctx *c, const struct rlist *routes,
                          const char *d)
{
    VirtualHost *vh =
        cm_xds__msg(c, &envoy__config__route__v3__virtual_host__descriptor);
    vh->name = cm_xds__str(c, d);
    cm_xds__push(c, c->out, &vh->domains, &vh->n_domains, vh->name);
    struct rlist sel = {0};
    for (size_t i = 0; i < routes->n; i++)
        if (covers(routes->v[i], d))
            cm_xds__push(c, c->tmp, &sel.v, &sel.n, routes->v[i]);
    if (sel.n > 1)
        qsort(sel.v, sel.n, sizeof(void *), route_cmp);
    for (size_t i = 0; i < sel.n; i++)
        cm_xds__push(c, c->out, &vh->routes, &vh->n_routes, sel.v[i]->msg);
    return vh;
}

static RouteConfiguration *route_config(struct cm_xds__ctx *c, const char *name,
                                        const struct rlist *routes)
{
    RouteConfiguration *rc = cm_xds__msg(
        c, &envoy__config__route__v3__route_configuration__descriptor);
    rc->name = cm_xds__str(c, name);
    char **doms = NULL;
    size_t nd = 0;
    for (size_t i = 0; i < routes->n; i++) {
        const struct cm_xds__route *r = routes->v[i];
        if (r->host_kind == CM_XDS__HOST_EXACT ||
            r->host_kind == CM_XDS__HOST_WILDCARD)
            add_domain(c, &doms, &nd, r->host);
        else
            add_domain(c, &doms, &nd, "*");
    }
    if (nd > 1)
        qsort(doms, nd, sizeof(char *), str_cmp);
    for (size_t i = 0; i < nd; i++)
        cm_xds__push(c, c->out, &rc->virtual_hosts, &rc->n_virtual_hosts,
                     vhost(c, routes, doms[i]));
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
    f->typed_config->type_url =
        cm_xds__printf(c, "type.googleapis.com/%s", type);
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
    char **hosts = NULL;
    size_t nh = 0;
    for (size_t i = 0; i < c->n_routes; i++)
        if (c->routes[i]->host_kind == CM_XDS__HOST_EXACT)
            add_domain(c, &hosts, &nh, c->routes[i]->host);
    struct rlist usable = {0};
    for (size_t i = 0; i < c->n_routes; i++)
        if (grpc_usable(c->routes[i]))
            cm_xds__push(c, c->tmp, &usable.v, &usable.n, c->routes[i]);
    for (size_t h = 0; h < nh; h++) {
        if (cm_config_find_entrypoint(c->cfg, hosts[h]) != NULL)
            continue; /* entry point names win */
        RouteConfiguration *rc = cm_xds__msg(
            c, &envoy__config__route__v3__route_configuration__descriptor);
        rc->name = cm_xds__str(c, hosts[h]);
        cm_xds__push(c, c->out, &rc->virtual_hosts, &rc->n_virtual_hosts,
                     vhost(c, &usable, hosts[h]));
        cm_xds__push(c, c->out, &res->routes, &res->n_routes, rc);
        cm_xds__push(c, c->out, &res->listeners, &res->n_listeners,
                     api_listener(c, hosts[h]));
    }
}

int cm_xds__listeners(struct cm_xds__ctx *c, struct cm_xds_resources *res)
{
    if (entrypoints(c, res) != 0)
        return GW_EINVAL;
    grpc_hosts(c, res);
    return 0;
}
