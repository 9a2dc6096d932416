/*
 * xds_cluster.c -- loadBalancer services to Clusters (EDS over ADS, HTTP
 * health checks with their method and expected status or gRPC health
 * checks, HTTP/2 for h2c://, TLS for https://) and ClusterLoadAssignments (one
 * locality, one endpoint per server with a weight > 0). Server hosts must be IP
 * literals (or "localhost"): no DNS at translation time.
 */
#include "common/xds/xds_int.h"

#include <arpa/inet.h>
#include <string.h>
#include <strings.h>

#include "envoy/config/core/v3/config_source.pb-c.h"
#include "envoy/config/core/v3/health_check.pb-c.h"
#include "envoy/type/v3/range.pb-c.h"
#include "envoy/extensions/upstreams/http/v3/http_protocol_options.pb-c.h"

typedef Envoy__Config__Cluster__V3__Cluster Cluster;
typedef Envoy__Config__Endpoint__V3__ClusterLoadAssignment Cla;
typedef Envoy__Config__Endpoint__V3__LbEndpoint LbEndpoint;
typedef Envoy__Config__Core__V3__HealthCheck HealthCheck;

/* Traefik's default dial timeout (serversTransport.forwardingTimeouts). */
#define CONNECT_TIMEOUT_MS 30000

#define HTTP_OPTIONS_NAME                                                      \
    "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"

Envoy__Config__Core__V3__ConfigSource *cm_xds__ads(struct cm_xds__ctx *c)
{
    Envoy__Config__Core__V3__ConfigSource *s =
        cm_xds__msg(c, &envoy__config__core__v3__config_source__descriptor);
    s->config_source_specifier_case =
        ENVOY__CONFIG__CORE__V3__CONFIG_SOURCE__CONFIG_SOURCE_SPECIFIER_ADS;
    s->ads = cm_xds__msg(
        c, &envoy__config__core__v3__aggregated_config_source__descriptor);
    s->resource_api_version = ENVOY__CONFIG__CORE__V3__API_VERSION__V3;
    return s;
}

/* healthCheck.method (validated by common/config: a RequestMethod name but
 * CONNECT, any case); NULL is GET, left unset as Envoy's default. */
static Envoy__Config__Core__V3__RequestMethod hc_method(const char *m)
{
    static const struct {
        const char *name;
        Envoy__Config__Core__V3__RequestMethod v;
    } map[] = {
        {"GET", ENVOY__CONFIG__CORE__V3__REQUEST_METHOD__GET},
        {"HEAD", ENVOY__CONFIG__CORE__V3__REQUEST_METHOD__HEAD},
        {"POST", ENVOY__CONFIG__CORE__V3__REQUEST_METHOD__POST},
        {"PUT", ENVOY__CONFIG__CORE__V3__REQUEST_METHOD__PUT},
        {"DELETE", ENVOY__CONFIG__CORE__V3__REQUEST_METHOD__DELETE},
        {"OPTIONS", ENVOY__CONFIG__CORE__V3__REQUEST_METHOD__OPTIONS},
        {"TRACE", ENVOY__CONFIG__CORE__V3__REQUEST_METHOD__TRACE},
        {"PATCH", ENVOY__CONFIG__CORE__V3__REQUEST_METHOD__PATCH},
    };
    for (size_t i = 0; m != NULL && i < sizeof(map) / sizeof(map[0]); i++)
        if (strcasecmp(m, map[i].name) == 0)
            return map[i].v;
    return ENVOY__CONFIG__CORE__V3__REQUEST_METHOD__METHOD_UNSPECIFIED;
}

/* healthCheck.status: expected_statuses [status, status + 1). Without one
 * nothing is sent and the data node takes any 2xx (Traefik's default;
 * Envoy's own is 200 only). */
static void hc_status(struct cm_xds__ctx *c, int64_t status,
                      Envoy__Config__Core__V3__HealthCheck__HttpHealthCheck *hh)
{
    if (status == 0)
        return;
    Envoy__Type__V3__Int64Range *r =
        cm_xds__msg(c, &envoy__type__v3__int64_range__descriptor);
    r->start = status;
    r->end = status + 1;
    cm_xds__push(c, c->out, &hh->expected_statuses, &hh->n_expected_statuses,
                 r);
}

/* healthCheck.headers as HeaderValueOptions (overwrite or add). */
static void hc_headers(struct cm_xds__ctx *c,
                       const struct cm_config_health_check *h,
                       Envoy__Config__Core__V3__HeaderValueOption ***out,
                       size_t *n_out)
{
    for (size_t i = 0; i < h->n_headers; i++) {
        Envoy__Config__Core__V3__HeaderValueOption *o = cm_xds__msg(
            c, &envoy__config__core__v3__header_value_option__descriptor);
        o->header =
            cm_xds__msg(c, &envoy__config__core__v3__header_value__descriptor);
        o->header->key = cm_xds__str(c, h->headers[i].key);
        o->header->value = cm_xds__str(c, h->headers[i].value);
        o->append_action =
            ENVOY__CONFIG__CORE__V3__HEADER_VALUE_OPTION__HEADER_APPEND_ACTION__OVERWRITE_IF_EXISTS_OR_ADD;
        cm_xds__push(c, c->out, out, n_out, o);
    }
}

static void hc_http(struct cm_xds__ctx *c,
                    const struct cm_config_health_check *h, HealthCheck *hc)
{
    Envoy__Config__Core__V3__HealthCheck__HttpHealthCheck *hh = cm_xds__msg(
        c,
        &envoy__config__core__v3__health_check__http_health_check__descriptor);
    hh->path = cm_xds__str(c, h->path != NULL && h->path[0] ? h->path : "/");
    if (h->hostname != NULL)
        hh->host = cm_xds__str(c, h->hostname);
    hc_headers(c, h, &hh->request_headers_to_add,
               &hh->n_request_headers_to_add);
    hh->method = hc_method(h->method);
    hc_status(c, h->status, hh);
    hc->health_checker_case =
        ENVOY__CONFIG__CORE__V3__HEALTH_CHECK__HEALTH_CHECKER_HTTP_HEALTH_CHECK;
    hc->http_health_check = hh;
}

/* healthCheck.mode grpc: grpc.health.v1.Health/Check with an empty service
 * (the server's overall health, as Traefik asks); path, method and status
 * do not apply. */
static void hc_grpc(struct cm_xds__ctx *c,
                    const struct cm_config_health_check *h, HealthCheck *hc)
{
    Envoy__Config__Core__V3__HealthCheck__GrpcHealthCheck *g = cm_xds__msg(
        c,
        &envoy__config__core__v3__health_check__grpc_health_check__descriptor);
    if (h->hostname != NULL)
        g->authority = cm_xds__str(c, h->hostname);
    hc_headers(c, h, &g->initial_metadata, &g->n_initial_metadata);
    hc->health_checker_case =
        ENVOY__CONFIG__CORE__V3__HEALTH_CHECK__HEALTH_CHECKER_GRPC_HEALTH_CHECK;
    hc->grpc_health_check = g;
}

static HealthCheck *health_check(struct cm_xds__ctx *c,
                                 const struct cm_config_health_check *h)
{
    HealthCheck *hc =
        cm_xds__msg(c, &envoy__config__core__v3__health_check__descriptor);
    hc->timeout = cm_xds__duration(c, h->timeout_ms);
    hc->interval = cm_xds__duration(c, h->interval_ms);
    /* Traefik: one failure marks a server down, one success up again. */
    hc->unhealthy_threshold = cm_xds__u32(c, 1);
    hc->healthy_threshold = cm_xds__u32(c, 1);
    if (h->port > 0)
        hc->alt_port = cm_xds__u32(c, (uint32_t)h->port);
    if (h->mode != NULL && strcmp(h->mode, "grpc") == 0)
        hc_grpc(c, h, hc);
    else
        hc_http(c, h, hc);
    return hc;
}

static void http2(struct cm_xds__ctx *c, Cluster *cl)
{
    Envoy__Extensions__Upstreams__Http__V3__HttpProtocolOptions__ExplicitHttpConfig
        *e = cm_xds__msg(
            c,
            &envoy__extensions__upstreams__http__v3__http_protocol_options__explicit_http_config__descriptor);
    e->protocol_config_case =
        ENVOY__EXTENSIONS__UPSTREAMS__HTTP__V3__HTTP_PROTOCOL_OPTIONS__EXPLICIT_HTTP_CONFIG__PROTOCOL_CONFIG_HTTP2_PROTOCOL_OPTIONS;
    e->http2_protocol_options = cm_xds__msg(
        c, &envoy__config__core__v3__http2_protocol_options__descriptor);
    Envoy__Extensions__Upstreams__Http__V3__HttpProtocolOptions *o = cm_xds__msg(
        c,
        &envoy__extensions__upstreams__http__v3__http_protocol_options__descriptor);
    o->upstream_protocol_options_case =
        ENVOY__EXTENSIONS__UPSTREAMS__HTTP__V3__HTTP_PROTOCOL_OPTIONS__UPSTREAM_PROTOCOL_OPTIONS_EXPLICIT_HTTP_CONFIG;
    o->explicit_http_config = e;
    Envoy__Config__Cluster__V3__Cluster__TypedExtensionProtocolOptionsEntry
        *en = cm_xds__msg(
            c,
            &envoy__config__cluster__v3__cluster__typed_extension_protocol_options_entry__descriptor);
    en->key = cm_xds__str(c, HTTP_OPTIONS_NAME);
    en->value = cm_xds__any(c, &o->base);
    cm_xds__push(c, c->out, &cl->typed_extension_protocol_options,
                 &cl->n_typed_extension_protocol_options, en);
}

static int check_scheme(struct cm_xds__ctx *c,
                        const struct cm_config_service *s, const char **scheme)
{
    const struct cm_config_load_balancer *lb = &s->u.load_balancer;
    *scheme = "http";
    for (size_t i = 0; i < lb->n_servers; i++) {
        const char *sc = lb->servers[i].scheme ? lb->servers[i].scheme : "http";
        if (i > 0 && strcmp(sc, *scheme) != 0)
            return cm_xds__fail(c,
                                "service \"%s\": servers mix the schemes "
                                "\"%s\" and \"%s\"; one cluster has one "
                                "upstream protocol",
                                s->name, *scheme, sc);
        *scheme = sc;
    }
    return 0;
}

/* healthCheck.scheme: Envoy has no per-check scheme (a check speaks TLS
 * exactly when the cluster's transport socket does), so the check's scheme
 * may only restate the servers' TLS-ness: "https" on https servers, "http"
 * or "h2c" on plain ones (HTTP probes are HTTP/1.1 either way, gRPC probes
 * HTTP/2). */
static int check_hc_scheme(struct cm_xds__ctx *c,
                           const struct cm_config_service *s,
                           const char *scheme)
{
    const struct cm_config_health_check *h = s->u.load_balancer.health_check;
    bool tls = strcmp(scheme, "https") == 0;

    if (h == NULL || h->scheme == NULL ||
        (strcmp(h->scheme, "https") == 0) == tls)
        return 0;
    return cm_xds__fail(c,
                        "http.services.%s.loadBalancer.healthCheck.scheme: "
                        "\"%s\" on %s servers cannot be expressed in xDS "
                        "(a health check uses TLS exactly when the "
                        "cluster does)",
                        s->name, h->scheme, scheme);
}

static Cluster *cluster(struct cm_xds__ctx *c,
                        const struct cm_config_service *s, const char *scheme)
{
    const struct cm_config_load_balancer *lb = &s->u.load_balancer;
    Cluster *cl =
        cm_xds__msg(c, &envoy__config__cluster__v3__cluster__descriptor);
    cl->name = cm_xds__str(c, s->name);
    cl->cluster_discovery_type_case =
        ENVOY__CONFIG__CLUSTER__V3__CLUSTER__CLUSTER_DISCOVERY_TYPE_TYPE;
    cl->type = ENVOY__CONFIG__CLUSTER__V3__CLUSTER__DISCOVERY_TYPE__EDS;
    cl->eds_cluster_config = cm_xds__msg(
        c,
        &envoy__config__cluster__v3__cluster__eds_cluster_config__descriptor);
    cl->eds_cluster_config->eds_config = cm_xds__ads(c);
    cl->eds_cluster_config->service_name = cm_xds__str(c, s->name);
    cl->connect_timeout = cm_xds__duration(c, CONNECT_TIMEOUT_MS);
    cl->lb_policy = ENVOY__CONFIG__CLUSTER__V3__CLUSTER__LB_POLICY__ROUND_ROBIN;
    if (lb->sticky != NULL && lb->sticky->cookie != NULL)
        cl->lb_policy =
            ENVOY__CONFIG__CLUSTER__V3__CLUSTER__LB_POLICY__RING_HASH;
    if (lb->health_check != NULL)
        cm_xds__push(c, c->out, &cl->health_checks, &cl->n_health_checks,
                     health_check(c, lb->health_check));
    if (strcmp(scheme, "h2c") == 0)
        http2(c, cl);
    else if (strcmp(scheme, "https") == 0 && cm_xds__upstream_tls(c, s, cl))
        return NULL;
    return cl;
}

/* The URL's authority as written ("127.0.0.1:8081"): what Traefik sends as
 * Host when passHostHeader is false. */
static const char *authority(struct cm_xds__ctx *c, const char *url)
{
    const char *p = strstr(url, "://");
    p = p != NULL ? p + 3 : url;
    size_t n = strcspn(p, "/?#");
    char *a = cm_xds__alloc(c, c->out, n + 1);
    memcpy(a, p, n);
    return a;
}

static int endpoint(struct cm_xds__ctx *c, const struct cm_config_service *s,
                    const struct cm_config_server *sv, LbEndpoint **out)
{
    const char *host = sv->host != NULL ? sv->host : "";
    unsigned char buf[16];
    if (strcmp(host, "localhost") == 0)
        host = "127.0.0.1";
    else if (inet_pton(AF_INET, host, buf) != 1 &&
             inet_pton(AF_INET6, host, buf) != 1)
        return cm_xds__fail(c,
                            "service \"%s\": server \"%s\": host \"%s\" is not "
                            "an IP address (DNS names are not supported)",
                            s->name, sv->url, host);
    if (sv->weight > UINT32_MAX)
        return cm_xds__fail(c,
                            "service \"%s\": server \"%s\": weight above "
                            "4294967295",
                            s->name, sv->url);
    Envoy__Config__Core__V3__SocketAddress *sa =
        cm_xds__msg(c, &envoy__config__core__v3__socket_address__descriptor);
    sa->address = cm_xds__str(c, host);
    sa->port_specifier_case =
        ENVOY__CONFIG__CORE__V3__SOCKET_ADDRESS__PORT_SPECIFIER_PORT_VALUE;
    sa->port_value = sv->port;
    Envoy__Config__Endpoint__V3__Endpoint *ep =
        cm_xds__msg(c, &envoy__config__endpoint__v3__endpoint__descriptor);
    ep->address = cm_xds__msg(c, &envoy__config__core__v3__address__descriptor);
    ep->address->address_case =
        ENVOY__CONFIG__CORE__V3__ADDRESS__ADDRESS_SOCKET_ADDRESS;
    ep->address->socket_address = sa;
    ep->hostname = (char *)authority(c, sv->url);
    LbEndpoint *le =
        cm_xds__msg(c, &envoy__config__endpoint__v3__lb_endpoint__descriptor);
    le->host_identifier_case =
        ENVOY__CONFIG__ENDPOINT__V3__LB_ENDPOINT__HOST_IDENTIFIER_ENDPOINT;
    le->endpoint = ep;
    le->load_balancing_weight = cm_xds__u32(c, (uint32_t)sv->weight);
    *out = le;
    return 0;
}

static int load_assignment(struct cm_xds__ctx *c,
                           const struct cm_config_service *s, Cla **out)
{
    const struct cm_config_load_balancer *lb = &s->u.load_balancer;
    Cla *cla = cm_xds__msg(
        c, &envoy__config__endpoint__v3__cluster_load_assignment__descriptor);
    cla->cluster_name = cm_xds__str(c, s->name);
    Envoy__Config__Endpoint__V3__LocalityLbEndpoints *loc = cm_xds__msg(
        c, &envoy__config__endpoint__v3__locality_lb_endpoints__descriptor);
    loc->locality =
        cm_xds__msg(c, &envoy__config__core__v3__locality__descriptor);
    loc->load_balancing_weight = cm_xds__u32(c, 1);
    for (size_t i = 0; i < lb->n_servers; i++) {
        LbEndpoint *le = NULL;
        if (endpoint(c, s, &lb->servers[i], &le) != 0)
            return GW_EINVAL;
        if (lb->servers[i].weight > 0) /* weight 0: drained, left out */
            cm_xds__push(c, c->out, &loc->lb_endpoints, &loc->n_lb_endpoints,
                         le);
    }
    if (loc->n_lb_endpoints > 0)
        cm_xds__push(c, c->out, &cla->endpoints, &cla->n_endpoints, loc);
    *out = cla;
    return 0;
}

/* The built-in api@internal cluster: EDS like the others, checked on the
 * control nodes' /ping; its ClusterLoadAssignment (the control nodes' HTTP
 * addresses) is added by the control plane, not here. */
static Cluster *api_internal(struct cm_xds__ctx *c)
{
    static const struct cm_config_health_check ping = {
        .path = "/ping",
        .interval_ms = 5000,
        .timeout_ms = 2000,
        .hostname = "localhost"}; /* the data plane's default Host, the
                                     cluster name, has an '@' */
    Cluster *cl =
        cm_xds__msg(c, &envoy__config__cluster__v3__cluster__descriptor);
    cl->name = cm_xds__str(c, CM_CONFIG_API_INTERNAL);
    cl->cluster_discovery_type_case =
        ENVOY__CONFIG__CLUSTER__V3__CLUSTER__CLUSTER_DISCOVERY_TYPE_TYPE;
    cl->type = ENVOY__CONFIG__CLUSTER__V3__CLUSTER__DISCOVERY_TYPE__EDS;
    cl->eds_cluster_config = cm_xds__msg(
        c,
        &envoy__config__cluster__v3__cluster__eds_cluster_config__descriptor);
    cl->eds_cluster_config->eds_config = cm_xds__ads(c);
    cl->eds_cluster_config->service_name =
        cm_xds__str(c, CM_CONFIG_API_INTERNAL);
    cl->connect_timeout = cm_xds__duration(c, CONNECT_TIMEOUT_MS);
    cl->lb_policy = ENVOY__CONFIG__CLUSTER__V3__CLUSTER__LB_POLICY__ROUND_ROBIN;
    cm_xds__push(c, c->out, &cl->health_checks, &cl->n_health_checks,
                 health_check(c, &ping));
    return cl;
}

static int uses_api_internal(const struct cm_config_http *h)
{
    for (size_t i = 0; i < h->n_routers; i++)
        if (h->routers[i].service != NULL &&
            strcmp(h->routers[i].service, CM_CONFIG_API_INTERNAL) == 0)
            return 1;
    return 0;
}

int cm_xds__clusters(struct cm_xds__ctx *c, struct cm_xds_resources *res)
{
    const struct cm_config_http *h = &c->cfg->http;
    if (uses_api_internal(h))
        cm_xds__push(c, c->out, &res->clusters, &res->n_clusters,
                     api_internal(c));
    for (size_t i = 0; i < h->n_services; i++) {
        const struct cm_config_service *s = &h->services[i];
        if (s->kind != CM_CONFIG_SVC_LOAD_BALANCER)
            continue;
        const char *scheme;
        Cla *cla;
        Cluster *cl;
        if (check_scheme(c, s, &scheme) != 0 ||
            check_hc_scheme(c, s, scheme) != 0 ||
            load_assignment(c, s, &cla) != 0 ||
            (cl = cluster(c, s, scheme)) == NULL)
            return GW_EINVAL;
        cm_xds__push(c, c->out, &res->clusters, &res->n_clusters, cl);
        cm_xds__push(c, c->out, &res->endpoints, &res->n_endpoints, cla);
    }
    return 0;
}
