/*
 * xds.c -- cm_xds_translate(): parses every router rule, builds the routes
 * (xds_match.c, xds_action.c), clusters (xds_cluster.c) and listeners
 * (xds_listener.c), then sorts each resource type by name. Also the result's
 * accessors, encoding and JSON view. Runs on the caller's thread; the only
 * shared state touched is common/pbjson's type registry.
 */
#include "common/xds/xds_int.h"

#include <stdlib.h>
#include <string.h>

#include "common/pbjson/pbjson.h"
#include "envoy/config/listener/v3/api_listener.pb-c.h"
#include "envoy/extensions/filters/http/router/v3/router.pb-c.h"
#include "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.pb-c.h"
#include "envoy/extensions/upstreams/http/v3/http_protocol_options.pb-c.h"
#include "traefikee/filters/v1/filters.pb-c.h"

static const struct {
    const char *name;
    const ProtobufCMessageDescriptor *desc;
} filters[CM_XDS_NFILTERS] = {
    [CM_XDS_F_CLIENT_IP] =
        {"traefikee.filters.client_ip",
         &traefikee__filters__v1__client_ip_match__descriptor},
    [CM_XDS_F_IP_ALLOW_LIST] =
        {"traefikee.filters.ip_allow_list",
         &traefikee__filters__v1__ip_allow_list__descriptor},
    [CM_XDS_F_BASIC_AUTH] = {"traefikee.filters.basic_auth",
                             &traefikee__filters__v1__basic_auth__descriptor},
    [CM_XDS_F_RATE_LIMIT] = {"traefikee.filters.rate_limit",
                             &traefikee__filters__v1__rate_limit__descriptor},
    [CM_XDS_F_IN_FLIGHT_REQ] =
        {"traefikee.filters.in_flight_req",
         &traefikee__filters__v1__in_flight_req__descriptor},
    [CM_XDS_F_CIRCUIT_BREAKER] =
        {"traefikee.filters.circuit_breaker",
         &traefikee__filters__v1__circuit_breaker__descriptor},
    [CM_XDS_F_REDIRECT_REGEX] =
        {"traefikee.filters.redirect_regex",
         &traefikee__filters__v1__redirect_regex__descriptor},
    [CM_XDS_F_PATH_REWRITE] =
        {"traefikee.filters.path_rewrite",
         &traefikee__filters__v1__path_rewrite__descriptor},
    [CM_XDS_F_FAILOVER] = {"traefikee.filters.failover",
                           &traefikee__filters__v1__failover__descriptor},
    [CM_XDS_F_STICKY] = {"traefikee.filters.sticky",
                         &traefikee__filters__v1__sticky_cookie__descriptor},
};

const char *cm_xds_filter_name(enum cm_xds_filter f)
{
    return (unsigned)f < CM_XDS_NFILTERS ? filters[f].name : "";
}

const char *cm_xds_filter_type(enum cm_xds_filter f)
{
    return (unsigned)f < CM_XDS_NFILTERS ? filters[f].desc->name : "";
}

static const struct {
    const char *url, *key;
} types[CM_XDS_NTYPES] = {
    {"type.googleapis.com/envoy.config.listener.v3.Listener", "listeners"},
    {"type.googleapis.com/envoy.config.route.v3.RouteConfiguration", "routes"},
    {"type.googleapis.com/envoy.config.cluster.v3.Cluster", "clusters"},
    {"type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment",
     "endpoints"},
    {"type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret",
     "secrets"},
};

const char *cm_xds_type_url(enum cm_xds_type type)
{
    return (unsigned)type < CM_XDS_NTYPES ? types[type].url : "";
}

const char *cm_xds_type_key(enum cm_xds_type type)
{
    return (unsigned)type < CM_XDS_NTYPES ? types[type].key : "";
}

/* ==== Translation ==== */

/* Frees the rule and DNF of the router being built (c->rule, c->dnf):
 * after its routes are built, or when the translation fails. */
static void router_release(struct cm_xds__ctx *c)
{
    cm_rule_free(c->rule);
    c->rule = NULL;
    cm_rule_dnf_free(c->dnf);
    c->dnf = NULL;
}

/* Router <rt>'s routes, one per conjunction of its rule, appended to
 * c->routes. Its rule and DNF live only while they are built (the routes
 * copy what they need into the arenas). */
static int router(struct cm_xds__ctx *c, struct cm_xds__router *rt)
{
    char err[CM_ERR_LEN];
    const char *name = rt->r->name;
    if (rt->r->rule == NULL || rt->r->rule[0] == '\0')
        return cm_xds__fail(c, "router \"%s\": no rule", name);
    c->rule = cm_rule_parse(rt->r->rule, err, sizeof(err));
    if (c->rule == NULL)
        return cm_xds__fail(c, "router \"%s\": %s", name, err);
    if (cm_rule_to_dnf(c->rule, &c->dnf, err, sizeof(err)) != 0)
        return cm_xds__fail(c, "router \"%s\": %s", name, err);
    cm_rule_free(c->rule); /* the DNF does not refer to it */
    c->rule = NULL;
    rt->dnf = c->dnf;
    size_t n = rt->n_conj = cm_rule_dnf_count(rt->dnf);
    struct cm_xds__route **routes =
        cm_xds__alloc(c, c->tmp, n * sizeof(*routes));
    for (size_t i = 0; i < n; i++) { /* check the rule first */
        routes[i] = cm_xds__alloc(c, c->tmp, sizeof(**routes));
        routes[i]->rt = rt;
        routes[i]->index = i;
        routes[i]->msg =
            cm_xds__msg(c, &envoy__config__route__v3__route__descriptor);
        if (cm_xds__match(c, routes[i], cm_rule_dnf_conj(rt->dnf, i)) != 0)
            return GW_EINVAL;
    }
    if (cm_xds__router(c, rt) != 0)
        return GW_EINVAL;
    for (size_t i = 0; i < n; i++) {
        cm_xds__route_finish(c, routes[i]);
        cm_xds__push(c, c->tmp, &c->routes, &c->n_routes, routes[i]);
    }
    rt->dnf = NULL;
    router_release(c);
    return 0;
}

static int name_cmp(const void *a, const void *b, size_t off)
{
    const char *x = *(char *const *)(*(const char *const *)a + off);
    const char *y = *(char *const *)(*(const char *const *)b + off);
    return strcmp(x, y);
}

#define NAME_CMP(fn, type, field)                                              \
    static int fn(const void *a, const void *b)                                \
    {                                                                          \
        return name_cmp(a, b, offsetof(type, field));                          \
    }
NAME_CMP(listener_cmp, Envoy__Config__Listener__V3__Listener, name)
NAME_CMP(route_cmp, Envoy__Config__Route__V3__RouteConfiguration, name)
NAME_CMP(cluster_cmp, Envoy__Config__Cluster__V3__Cluster, name)
NAME_CMP(cla_cmp, Envoy__Config__Endpoint__V3__ClusterLoadAssignment,
         cluster_name)
NAME_CMP(secret_cmp, Envoy__Extensions__TransportSockets__Tls__V3__Secret, name)

static void sort(void *base, size_t n, int (*cmp)(const void *, const void *))
{
    if (n > 1)
        qsort(base, n, sizeof(void *), cmp);
}

static void sort_all(struct cm_xds_resources *res)
{
    sort(res->listeners, res->n_listeners, listener_cmp);
    sort(res->routes, res->n_routes, route_cmp);
    sort(res->clusters, res->n_clusters, cluster_cmp);
    sort(res->endpoints, res->n_endpoints, cla_cmp);
    sort(res->secrets, res->n_secrets, secret_cmp);
}

static int build(struct cm_xds__ctx *c, struct cm_xds_resources *res,
                 const char *version)
{
    const struct cm_config_http *h = &c->cfg->http;
    res->version = cm_xds__str(c, version != NULL ? version : "");
    c->n_routers = h->n_routers;
    c->routers =
        cm_xds__alloc(c, c->tmp, (h->n_routers + 1) * sizeof(*c->routers));
    for (size_t i = 0; i < h->n_routers; i++) {
        c->routers[i].r = &h->routers[i];
        if (router(c, &c->routers[i]) != 0)
            return GW_EINVAL;
    }
    if (cm_xds__secrets(c, res) != 0 || cm_xds__clusters(c, res) != 0 ||
        cm_xds__listeners(c, res) != 0)
        return GW_EINVAL;
    sort_all(res);
    return 0;
}

/* The frame <c->oom> jumps back to on allocation failure. */
static int run(struct cm_xds__ctx *c, struct cm_xds_resources *res,
               const char *version)
{
    if (setjmp(c->oom) != 0)
        return GW_ENOMEM;
    return build(c, res, version);
}

struct cm_xds_resources *cm_xds_translate(const struct cm_config *cfg,
                                          const char *version, char *err,
                                          size_t errlen)
{
    struct cm_xds__ctx c;
    memset(&c, 0, sizeof(c));
    c.cfg = cfg;
    c.err = err;
    c.errlen = errlen;
    struct cm_xds_resources *res = calloc(1, sizeof(*res));
    struct cm_xds__arena *tmp = cm_xds__arena_new();
    if (res == NULL || tmp == NULL ||
        (res->arena = cm_xds__arena_new()) == NULL) {
        cm_xds__arena_free(tmp);
        cm_xds_resources_free(res);
        cm_err_set(err, errlen, GW_ENOMEM, "out of memory");
        return NULL;
    }
    c.out = res->arena;
    c.tmp = tmp;
    int rc = run(&c, res, version);
    if (rc == GW_ENOMEM)
        cm_err_set(err, errlen, GW_ENOMEM, "out of memory");
    router_release(&c);
    cm_xds__arena_free(tmp);
    if (rc != 0) {
        cm_xds_resources_free(res);
        return NULL;
    }
    return res;
}

void cm_xds_resources_free(struct cm_xds_resources *res)
{
    if (res == NULL)
        return;
    cm_xds__arena_free(res->arena);
    free(res);
}

/* ==== Accessors ==== */

static void *const *array(const struct cm_xds_resources *res,
                          enum cm_xds_type type, size_t *n)
{
    switch (type) {
    case CM_XDS_LISTENER:
        *n = res->n_listeners;
        return (void *const *)res->listeners;
    case CM_XDS_ROUTE:
        *n = res->n_routes;
        return (void *const *)res->routes;
    case CM_XDS_CLUSTER:
        *n = res->n_clusters;
        return (void *const *)res->clusters;
    case CM_XDS_ENDPOINT:
        *n = res->n_endpoints;
        return (void *const *)res->endpoints;
    case CM_XDS_SECRET:
        *n = res->n_secrets;
        return (void *const *)res->secrets;
    }
    *n = 0;
    return NULL;
}

size_t cm_xds_count(const struct cm_xds_resources *res, enum cm_xds_type type)
{
    size_t n;
    array(res, type, &n);
    return n;
}

const ProtobufCMessage *cm_xds_get(const struct cm_xds_resources *res,
                                   enum cm_xds_type type, size_t i)
{
    size_t n;
    void *const *a = array(res, type, &n);
    return i < n ? a[i] : NULL;
}

const char *cm_xds_name(const struct cm_xds_resources *res,
                        enum cm_xds_type type, size_t i)
{
    const ProtobufCMessage *m = cm_xds_get(res, type, i);
    if (m == NULL)
        return NULL;
    switch (type) {
    case CM_XDS_LISTENER:
        return ((const Envoy__Config__Listener__V3__Listener *)m)->name;
    case CM_XDS_ROUTE:
        return ((const Envoy__Config__Route__V3__RouteConfiguration *)m)->name;
    case CM_XDS_CLUSTER:
        return ((const Envoy__Config__Cluster__V3__Cluster *)m)->name;
    case CM_XDS_ENDPOINT:
        return ((const Envoy__Config__Endpoint__V3__ClusterLoadAssignment *)m)
            ->cluster_name;
    case CM_XDS_SECRET:
        return ((const Envoy__Extensions__TransportSockets__Tls__V3__Secret *)m)
            ->name;
    }
    return NULL;
}

const ProtobufCMessage *cm_xds_find(const struct cm_xds_resources *res,
                                    enum cm_xds_type type, const char *name)
{
    size_t lo = 0, hi = cm_xds_count(res, type);
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(cm_xds_name(res, type, mid), name);
        if (c == 0)
            return cm_xds_get(res, type, mid);
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

int cm_xds_encode(const ProtobufCMessage *m, uint8_t **out, size_t *len)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = malloc(n ? n : 1);
    if (buf == NULL)
        return GW_ENOMEM;
    *len = protobuf_c_message_pack(m, buf);
    *out = buf;
    return 0;
}

/* ==== JSON ==== */

int cm_xds_register_json(void)
{
    const ProtobufCMessageDescriptor *top[] = {
        &envoy__config__listener__v3__listener__descriptor,
        &envoy__config__route__v3__route_configuration__descriptor,
        &envoy__config__cluster__v3__cluster__descriptor,
        &envoy__config__endpoint__v3__cluster_load_assignment__descriptor,
        &envoy__extensions__filters__network__http_connection_manager__v3__http_connection_manager__descriptor,
        &envoy__extensions__filters__http__router__v3__router__descriptor,
        &envoy__extensions__upstreams__http__v3__http_protocol_options__descriptor,
        &envoy__extensions__transport_sockets__tls__v3__secret__descriptor,
        &envoy__extensions__transport_sockets__tls__v3__downstream_tls_context__descriptor,
        &envoy__extensions__transport_sockets__tls__v3__upstream_tls_context__descriptor,
    };
    for (size_t i = 0; i < sizeof(top) / sizeof(top[0]); i++)
        if (cm_pbjson_register(top[i]) != 0)
            return GW_ENOMEM;
    for (int f = 0; f < CM_XDS_NFILTERS; f++)
        if (cm_pbjson_register(filters[f].desc) != 0)
            return GW_ENOMEM;
    return 0;
}

json_t *cm_xds_to_json(const struct cm_xds_resources *res)
{
    if (cm_xds_register_json() != 0)
        return NULL;
    json_t *o = json_object();
    if (o == NULL ||
        json_object_set_new(o, "version", json_string(res->version)))
        goto fail;
    for (int t = 0; t < CM_XDS_NTYPES; t++) {
        json_t *a = json_array();
        if (a == NULL || json_object_set_new(o, cm_xds_type_key(t), a) != 0)
            goto fail;
        size_t n = cm_xds_count(res, t);
        for (size_t i = 0; i < n; i++) {
            json_t *j = cm_pbjson_to_json(cm_xds_get(res, t, i), 0);
            if (j == NULL || json_array_append_new(a, j) != 0)
                goto fail;
        }
    }
    return o;
fail:
    json_decref(o);
    return NULL;
}
