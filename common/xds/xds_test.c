/*
 * xds_test.c -- translator tests over real YAML documents: the design
 * example, every middleware, weighted nesting, || rules, negations,
 * priorities, rejections with their exact messages; every resource must
 * survive encode -> decode -> encode unchanged, and translation must be
 * deterministic.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "common/config/config.h"
#include "common/xds/xds.h"
#include "envoy/config/listener/v3/api_listener.pb-c.h"
#include "envoy/config/listener/v3/listener_components.pb-c.h"
#include "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.pb-c.h"
#include "envoy/extensions/upstreams/http/v3/http_protocol_options.pb-c.h"
#include "envoy/extensions/transport_sockets/tls/v3/tls.pb-c.h"
#include "traefikee/filters/v1/filters.pb-c.h"

typedef Envoy__Config__Route__V3__RouteConfiguration RouteConfiguration;
typedef Envoy__Config__Route__V3__VirtualHost VirtualHost;
typedef Envoy__Config__Route__V3__Route Route;
typedef Envoy__Extensions__Filters__Network__HttpConnectionManager__V3__HttpConnectionManager
    Hcm;

static const char DESIGN[] =
    "entryPoints:\n"
    "  web: {address: \":8000\"}\n"
    "http:\n"
    "  routers:\n"
    "    whoami:\n"
    "      rule: \"Host(`whoami.localhost`) && PathPrefix(`/whoami`)\"\n"
    "      service: whoami\n"
    "      entryPoints: [web]\n"
    "      middlewares: [strip-whoami]\n"
    "      priority: 10\n"
    "  services:\n"
    "    whoami:\n"
    "      loadBalancer:\n"
    "        servers:\n"
    "          - url: \"http://127.0.0.1:8081\"\n"
    "          - url: \"http://127.0.0.1:8082\"\n"
    "            weight: 2\n"
    "        healthCheck: {path: /health, interval: 2s, timeout: 1s}\n"
    "    whoami-v2:\n"
    "      loadBalancer:\n"
    "        servers:\n"
    "          - url: \"h2c://[::1]:9000\"\n"
    "    canary:\n"
    "      weighted:\n"
    "        services: [{name: whoami, weight: 9}, {name: whoami-v2, weight: "
    "1}]\n"
    "  middlewares:\n"
    "    strip-whoami:\n"
    "      stripPrefix: {prefixes: [/whoami]}\n";

/* A document with one entry point "web", services a, b, c (loadBalancer on
 * 127.0.0.1:900x) and the given routers / middlewares / extra services. */
static char *doc(const char *routers, const char *middlewares,
                 const char *services)
{
    char *s = NULL;
    int n = asprintf(&s,
                     "entryPoints:\n  web: {address: \":80\"}\n"
                     "http:\n  routers:\n%s"
                     "  services:\n"
                     "    a: {loadBalancer: {servers: [{url: "
                     "\"http://127.0.0.1:9001\"}]}}\n"
                     "    b: {loadBalancer: {servers: [{url: "
                     "\"http://127.0.0.1:9002\"}]}}\n"
                     "    c: {loadBalancer: {servers: [{url: "
                     "\"http://127.0.0.1:9003\"}]}}\n%s"
                     "  middlewares:\n%s",
                     routers, services ? services : "",
                     middlewares ? middlewares
                                 : "    none: {chain: "
                                   "{middlewares: []}}\n");
    assert_true(n > 0);
    return s;
}

static struct cm_xds_resources *translate_err(const char *yaml, char *err)
{
    char cerr[CM_ERR_LEN];
    struct cm_config *cfg =
        cm_config_parse(yaml, strlen(yaml), cerr, sizeof(cerr));
    if (cfg == NULL)
        fail_msg("config: %s", cerr);
    struct cm_xds_resources *res = cm_xds_translate(cfg, "7", err, CM_ERR_LEN);
    cm_config_free(cfg);
    return res;
}

static struct cm_xds_resources *translate(const char *yaml)
{
    char err[CM_ERR_LEN] = "";
    struct cm_xds_resources *res = translate_err(yaml, err);
    if (res == NULL)
        fail_msg("translate: %s", err);
    return res;
}

static void expect_error(const char *yaml, const char *want)
{
    char err[CM_ERR_LEN] = "";
    struct cm_xds_resources *res = translate_err(yaml, err);
    assert_null(res);
    assert_string_equal(err, want);
}

static const RouteConfiguration *rc(const struct cm_xds_resources *res,
                                    const char *name)
{
    const ProtobufCMessage *m = cm_xds_find(res, CM_XDS_ROUTE, name);
    assert_non_null(m);
    return (const RouteConfiguration *)m;
}

static const VirtualHost *vh(const RouteConfiguration *r, const char *domain)
{
    for (size_t i = 0; i < r->n_virtual_hosts; i++)
        if (strcmp(r->virtual_hosts[i]->domains[0], domain) == 0)
            return r->virtual_hosts[i];
    fail_msg("no virtual host %s", domain);
    return NULL;
}

static const Route *route0(const struct cm_xds_resources *res)
{
    const VirtualHost *v = vh(rc(res, "web"), "*");
    assert_true(v->n_routes >= 1);
    return v->routes[0];
}

/* Unpacks the Any <a> as <d>; caller frees with
 * protobuf_c_message_free_unpacked(). */
static ProtobufCMessage *unany(const Google__Protobuf__Any *a,
                               const ProtobufCMessageDescriptor *d)
{
    char url[256];
    snprintf(url, sizeof(url), "type.googleapis.com/%s", d->name);
    assert_string_equal(a->type_url, url);
    ProtobufCMessage *m =
        protobuf_c_message_unpack(d, NULL, a->value.len, a->value.data);
    assert_non_null(m);
    return m;
}

static const Google__Protobuf__Any *per_filter(const Route *r, const char *name)
{
    for (size_t i = 0; i < r->n_typed_per_filter_config; i++)
        if (strcmp(r->typed_per_filter_config[i]->key, name) == 0)
            return r->typed_per_filter_config[i]->value;
    return NULL;
}

static Hcm *listener_hcm(const struct cm_xds_resources *res, const char *name)
{
    const Envoy__Config__Listener__V3__Listener *l =
        (const void *)cm_xds_find(res, CM_XDS_LISTENER, name);
    assert_non_null(l);
    const Google__Protobuf__Any *a;
    if (l->api_listener != NULL) {
        a = l->api_listener->api_listener;
    } else {
        assert_int_equal(l->n_filter_chains, 1);
        assert_int_equal(l->filter_chains[0]->n_filters, 1);
        assert_string_equal(l->filter_chains[0]->filters[0]->name,
                            CM_XDS_FILTER_HCM);
        a = l->filter_chains[0]->filters[0]->typed_config;
    }
    return (Hcm *)unany(
        a,
        &envoy__extensions__filters__network__http_connection_manager__v3__http_connection_manager__descriptor);
}

/* Encode -> decode -> encode gives the same bytes, for every resource. */
static void assert_round_trips(const struct cm_xds_resources *res)
{
    static const ProtobufCMessageDescriptor *ds[CM_XDS_NTYPES] = {
        &envoy__config__listener__v3__listener__descriptor,
        &envoy__config__route__v3__route_configuration__descriptor,
        &envoy__config__cluster__v3__cluster__descriptor,
        &envoy__config__endpoint__v3__cluster_load_assignment__descriptor,
    };
    for (int t = 0; t < CM_XDS_NTYPES; t++) {
        for (size_t i = 0; i < cm_xds_count(res, t); i++) {
            uint8_t *b1, *b2;
            size_t n1, n2;
            assert_int_equal(cm_xds_encode(cm_xds_get(res, t, i), &b1, &n1), 0);
            ProtobufCMessage *m =
                protobuf_c_message_unpack(ds[t], NULL, n1, b1);
            assert_non_null(m);
            assert_int_equal(cm_xds_encode(m, &b2, &n2), 0);
            assert_int_equal(n1, n2);
            assert_memory_equal(b1, b2, n1);
            protobuf_c_message_free_unpacked(m, NULL);
            free(b1);
            free(b2);
            if (i > 0)
                assert_true(strcmp(cm_xds_name(res, t, i - 1),
                                   cm_xds_name(res, t, i)) < 0);
        }
    }
}

/* ==== The design example ==== */

static void test_design_listener(void **state)
{
    (void)state;
    struct cm_xds_resources *res = translate(DESIGN);
    assert_string_equal(res->version, "7");
    assert_int_equal(cm_xds_count(res, CM_XDS_LISTENER), 2);
    assert_string_equal(cm_xds_name(res, CM_XDS_LISTENER, 0), "web");
    assert_string_equal(cm_xds_name(res, CM_XDS_LISTENER, 1),
                        "whoami.localhost");
    const Envoy__Config__Listener__V3__Listener *l = res->listeners[0];
    assert_string_equal(l->address->socket_address->address, "0.0.0.0");
    assert_int_equal(l->address->socket_address->port_value, 8000);
    Hcm *h = listener_hcm(res, "web");
    assert_int_equal(
        h->route_specifier_case,
        ENVOY__EXTENSIONS__FILTERS__NETWORK__HTTP_CONNECTION_MANAGER__V3__HTTP_CONNECTION_MANAGER__ROUTE_SPECIFIER_RDS);
    assert_string_equal(h->rds->route_config_name, "web");
    assert_non_null(h->rds->config_source->ads);
    assert_int_equal(h->rds->config_source->resource_api_version,
                     ENVOY__CONFIG__CORE__V3__API_VERSION__V3);
    assert_true(h->strip_any_host_port);
    assert_int_equal(h->n_http_filters, 1);
    assert_string_equal(h->http_filters[0]->name, CM_XDS_FILTER_ROUTER);
    assert_string_equal(h->http_filters[0]->typed_config->type_url,
                        "type.googleapis.com/"
                        "envoy.extensions.filters.http.router.v3.Router");
    protobuf_c_message_free_unpacked(&h->base, NULL);

    /* proxyless gRPC: API listener named after the host */
    h = listener_hcm(res, "whoami.localhost");
    assert_string_equal(h->rds->route_config_name, "whoami.localhost");
    assert_string_equal(h->http_filters[h->n_http_filters - 1]->name,
                        CM_XDS_FILTER_ROUTER);
    protobuf_c_message_free_unpacked(&h->base, NULL);
    const RouteConfiguration *g = rc(res, "whoami.localhost");
    assert_int_equal(g->n_virtual_hosts, 1);
    assert_string_equal(g->virtual_hosts[0]->domains[0], "whoami.localhost");
    assert_int_equal(g->virtual_hosts[0]->n_routes, 1);
    assert_round_trips(res);
    cm_xds_resources_free(res);
}

static void test_design_routes(void **state)
{
    (void)state;
    struct cm_xds_resources *res = translate(DESIGN);
    const RouteConfiguration *r = rc(res, "web");
    assert_int_equal(r->n_virtual_hosts, 1);
    const VirtualHost *v = vh(r, "whoami.localhost");
    assert_int_equal(v->n_domains, 1);
    assert_int_equal(v->n_routes, 1);
    const Route *rt = v->routes[0];
    assert_string_equal(rt->name, "whoami");
    assert_string_equal(rt->match->prefix, "/whoami");
    assert_int_equal(rt->action_case,
                     ENVOY__CONFIG__ROUTE__V3__ROUTE__ACTION_ROUTE);
    assert_string_equal(rt->route->cluster, "whoami");
    assert_int_equal(rt->route->timeout->seconds, 0);
    /* stripPrefix under PathPrefix(`/whoami`): native regex_rewrite */
    assert_string_equal(rt->route->regex_rewrite->pattern->regex, "^/whoami/?");
    assert_non_null(rt->route->regex_rewrite->pattern->google_re2);
    assert_string_equal(rt->route->regex_rewrite->substitution, "/");
    assert_int_equal(rt->n_request_headers_to_add, 1);
    assert_string_equal(rt->request_headers_to_add[0]->header->key,
                        "X-Forwarded-Prefix");
    assert_string_equal(rt->request_headers_to_add[0]->header->value,
                        "/whoami");
    assert_int_equal(rt->n_typed_per_filter_config, 0);
    cm_xds_resources_free(res);
}

static void test_design_clusters(void **state)
{
    (void)state;
    struct cm_xds_resources *res = translate(DESIGN);
    assert_int_equal(cm_xds_count(res, CM_XDS_CLUSTER), 2);
    const Envoy__Config__Cluster__V3__Cluster *c =
        (const void *)cm_xds_find(res, CM_XDS_CLUSTER, "whoami");
    assert_non_null(c);
    assert_int_equal(c->type,
                     ENVOY__CONFIG__CLUSTER__V3__CLUSTER__DISCOVERY_TYPE__EDS);
    assert_string_equal(c->eds_cluster_config->service_name, "whoami");
    assert_non_null(c->eds_cluster_config->eds_config->ads);
    assert_int_equal(
        c->lb_policy,
        ENVOY__CONFIG__CLUSTER__V3__CLUSTER__LB_POLICY__ROUND_ROBIN);
    assert_int_equal(c->n_health_checks, 1);
    assert_string_equal(c->health_checks[0]->http_health_check->path,
                        "/health");
    assert_int_equal(c->health_checks[0]->interval->seconds, 2);
    assert_int_equal(c->health_checks[0]->timeout->seconds, 1);
    assert_int_equal(c->health_checks[0]->healthy_threshold->value, 1);
    assert_int_equal(c->n_typed_extension_protocol_options, 0);

    c = (const void *)cm_xds_find(res, CM_XDS_CLUSTER, "whoami-v2");
    assert_int_equal(c->n_typed_extension_protocol_options, 1);
    assert_string_equal(c->typed_extension_protocol_options[0]->key,
                        "envoy.extensions.upstreams.http.v3."
                        "HttpProtocolOptions");
    Envoy__Extensions__Upstreams__Http__V3__HttpProtocolOptions *o = (void *)unany(
        c->typed_extension_protocol_options[0]->value,
        &envoy__extensions__upstreams__http__v3__http_protocol_options__descriptor);
    assert_non_null(o->explicit_http_config);
    assert_non_null(o->explicit_http_config->http2_protocol_options);
    protobuf_c_message_free_unpacked(&o->base, NULL);

    const Envoy__Config__Endpoint__V3__ClusterLoadAssignment *e =
        (const void *)cm_xds_find(res, CM_XDS_ENDPOINT, "whoami");
    assert_int_equal(e->n_endpoints, 1);
    assert_non_null(e->endpoints[0]->locality);
    assert_int_equal(e->endpoints[0]->load_balancing_weight->value, 1);
    assert_int_equal(e->endpoints[0]->n_lb_endpoints, 2);
    const Envoy__Config__Endpoint__V3__LbEndpoint *le =
        e->endpoints[0]->lb_endpoints[1];
    assert_string_equal(le->endpoint->address->socket_address->address,
                        "127.0.0.1");
    assert_int_equal(le->endpoint->address->socket_address->port_value, 8082);
    assert_int_equal(le->load_balancing_weight->value, 2);
    e = (const void *)cm_xds_find(res, CM_XDS_ENDPOINT, "whoami-v2");
    assert_string_equal(e->endpoints[0]
                            ->lb_endpoints[0]
                            ->endpoint->address->socket_address->address,
                        "::1");
    assert_null(cm_xds_find(res, CM_XDS_ENDPOINT, "canary"));
    cm_xds_resources_free(res);
}

static void test_deterministic(void **state)
{
    (void)state;
    struct cm_xds_resources *a = translate(DESIGN), *b = translate(DESIGN);
    for (int t = 0; t < CM_XDS_NTYPES; t++) {
        assert_int_equal(cm_xds_count(a, t), cm_xds_count(b, t));
        for (size_t i = 0; i < cm_xds_count(a, t); i++) {
            uint8_t *x, *y;
            size_t nx, ny;
            assert_int_equal(cm_xds_encode(cm_xds_get(a, t, i), &x, &nx), 0);
            assert_int_equal(cm_xds_encode(cm_xds_get(b, t, i), &y, &ny), 0);
            assert_int_equal(nx, ny);
            assert_memory_equal(x, y, nx);
            free(x);
            free(y);
        }
    }
    cm_xds_resources_free(a);
    cm_xds_resources_free(b);
}

/* ==== Rules ==== */

static void test_or_rule_and_vhosts(void **state)
{
    (void)state;
    char *y = doc("    r:\n      rule: \"Host(`a.test`) || Path(`/x`)\"\n"
                  "      service: a\n",
                  NULL, NULL);
    struct cm_xds_resources *res = translate(y);
    const RouteConfiguration *r = rc(res, "web");
    assert_int_equal(r->n_virtual_hosts, 2);
    /* vhosts sorted: "*" then "a.test" */
    assert_string_equal(r->virtual_hosts[0]->name, "*");
    const VirtualHost *any = vh(r, "*"), *a = vh(r, "a.test");
    assert_int_equal(any->n_routes, 1);
    assert_string_equal(any->routes[0]->name, "r#1");
    assert_string_equal(any->routes[0]->match->path, "/x");
    /* the host-less route also serves a.test's vhost (global priority) */
    assert_int_equal(a->n_routes, 2);
    assert_string_equal(a->routes[0]->name, "r#0");
    assert_string_equal(a->routes[0]->match->prefix, "/");
    assert_string_equal(a->routes[1]->name, "r#1");
    assert_round_trips(res);
    cm_xds_resources_free(res);
    free(y);
}

static void test_negations_headers_query(void **state)
{
    (void)state;
    char *y = doc("    r:\n      rule: \"PathRegexp(`^/api/[0-9]+`) && "
                  "!Method(`POST`) && Header(`X-A`, `b`) && "
                  "!HeaderRegexp(`X-B`, `c.*`) && Query(`q`, `1`) && "
                  "Query(`flag`) && QueryRegexp(`z`, `^a$`)\"\n"
                  "      service: a\n",
                  NULL, NULL);
    struct cm_xds_resources *res = translate(y);
    const Route *r = route0(res);
    assert_string_equal(r->match->safe_regex->regex,
                        "(?s:.*)(?:^/api/[0-9]+)(?s:.*)");
    assert_int_equal(r->match->n_headers, 3);
    const Envoy__Config__Route__V3__HeaderMatcher *h = r->match->headers[0];
    assert_string_equal(h->name, ":method");
    assert_string_equal(h->string_match->exact, "POST");
    assert_true(h->invert_match);
    h = r->match->headers[1];
    assert_string_equal(h->name, "x-a");
    assert_string_equal(h->string_match->exact, "b");
    assert_false(h->invert_match);
    h = r->match->headers[2];
    assert_string_equal(h->name, "x-b");
    assert_string_equal(h->string_match->safe_regex->regex,
                        "(?s:.*)(?:c.*)(?s:.*)");
    assert_true(h->invert_match);
    assert_int_equal(r->match->n_query_parameters, 3);
    int seen = 0;
    for (size_t i = 0; i < 3; i++) {
        const Envoy__Config__Route__V3__QueryParameterMatcher *q =
            r->match->query_parameters[i];
        if (strcmp(q->name, "q") == 0 && q->string_match != NULL &&
            strcmp(q->string_match->exact, "1") == 0)
            seen |= 1;
        if (strcmp(q->name, "flag") == 0 && q->present_match)
            seen |= 2;
        if (strcmp(q->name, "z") == 0 &&
            strcmp(q->string_match->safe_regex->regex, "^a$") == 0)
            seen |= 4;
    }
    assert_int_equal(seen, 7);
    cm_xds_resources_free(res);
    free(y);
}

static void test_priorities(void **state)
{
    (void)state;
    char *y = doc("    short:\n      rule: \"Path(`/a`)\"\n      service: a\n"
                  "    longer:\n      rule: \"PathPrefix(`/abc`)\"\n"
                  "      service: b\n"
                  "    top:\n      rule: \"PathPrefix(`/`)\"\n"
                  "      service: c\n      priority: 100\n"
                  "    tie-b:\n      rule: \"Path(`/b1`)\"\n      service: a\n"
                  "    tie-a:\n      rule: \"Path(`/b2`)\"\n      service: a\n",
                  NULL, NULL);
    struct cm_xds_resources *res = translate(y);
    const VirtualHost *v = vh(rc(res, "web"), "*");
    assert_int_equal(v->n_routes, 5);
    const char *want[] = {"top", "longer", "tie-a", "tie-b", "short"};
    for (size_t i = 0; i < 5; i++)
        assert_string_equal(v->routes[i]->name, want[i]);
    cm_xds_resources_free(res);
    free(y);
}

static void test_host_regexp(void **state)
{
    (void)state;
    char *y = doc(
        "    wild:\n      rule: \"HostRegexp(`^.+\\\\.example\\\\.com$`)\"\n"
        "      service: a\n"
        "    other:\n      rule: \"HostRegexp(`^[a-z]+\\\\.test$`)\"\n"
        "      service: b\n"
        "    exact:\n      rule: \"Host(`x.example.com`)\"\n"
        "      service: c\n",
        NULL, NULL);
    struct cm_xds_resources *res = translate(y);
    const RouteConfiguration *r = rc(res, "web");
    assert_int_equal(r->n_virtual_hosts, 3);
    const VirtualHost *w = vh(r, "*.example.com");
    assert_int_equal(w->n_routes, 2); /* wild + other (regex, global) */
    const VirtualHost *any = vh(r, "*");
    assert_int_equal(any->n_routes, 1);
    assert_string_equal(any->routes[0]->name, "other");
    assert_string_equal(any->routes[0]->match->headers[0]->name, ":authority");
    assert_string_equal(
        any->routes[0]->match->headers[0]->string_match->safe_regex->regex,
        "^[a-z]+\\.test$");
    /* x.example.com also matches the wildcard router */
    const VirtualHost *x = vh(r, "x.example.com");
    assert_int_equal(x->n_routes, 3);
    cm_xds_resources_free(res);
    free(y);
}

static void assert_routes(const VirtualHost *v, const char *const *want,
                          size_t n)
{
    assert_int_equal(v->n_routes, n);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(v->routes[i]->name, want[i]);
}

/* Which routes each virtual host gets, in which order: host-less routes
 * everywhere, a wildcard in every domain it is a proper suffix of (nested
 * wildcards included), all by priority; gRPC hosts only usable routes. */
static void test_vhost_cover(void **state)
{
    (void)state;
    char *y = doc(
        "    wild:\n      rule: \"HostRegexp(`^.+\\\\.example\\\\.com$`)\"\n"
        "      service: a\n      priority: 5\n"
        "    wildb:\n      rule: "
        "\"HostRegexp(`^.+\\\\.b\\\\.example\\\\.com$`)\"\n"
        "      service: a\n      priority: 7\n"
        "    exact:\n      rule: \"Host(`a.b.example.com`)\"\n"
        "      service: b\n      priority: 6\n"
        "    apex:\n      rule: \"Host(`example.com`)\"\n"
        "      service: b\n      priority: 1\n"
        "    any1:\n      rule: \"PathPrefix(`/`)\"\n"
        "      service: c\n      priority: 10\n"
        "    any2:\n      rule: \"Path(`/z`)\"\n"
        "      service: c\n      priority: 2\n"
        "    mw:\n      rule: \"Host(`a.b.example.com`) && Path(`/m`)\"\n"
        "      service: c\n      priority: 8\n      middlewares: [rs]\n",
        "    rs: {redirectScheme: {scheme: https}}\n", NULL);
    struct cm_xds_resources *res = translate(y);
    const RouteConfiguration *r = rc(res, "web");
    const char *doms[] = {"*", "*.b.example.com", "*.example.com",
                          "a.b.example.com", "example.com"};
    assert_int_equal(r->n_virtual_hosts, 5);
    for (size_t i = 0; i < 5; i++)
        assert_string_equal(r->virtual_hosts[i]->name, doms[i]);
    const char *any[] = {"any1", "any2"};
    assert_routes(vh(r, "*"), any, 2);
    const char *wb[] = {"any1", "wildb", "wild", "any2"};
    assert_routes(vh(r, "*.b.example.com"), wb, 4);
    const char *w[] = {"any1", "wild", "any2"};
    assert_routes(vh(r, "*.example.com"), w, 3);
    const char *abc[] = {"any1", "mw", "wildb", "exact", "wild", "any2"};
    assert_routes(vh(r, "a.b.example.com"), abc, 6);
    const char *apex[] = {"any1", "any2", "apex"};
    assert_routes(vh(r, "example.com"), apex, 3);
    /* gRPC: one route configuration per exact host, no redirect route */
    const RouteConfiguration *g = rc(res, "a.b.example.com");
    assert_int_equal(g->n_virtual_hosts, 1);
    const char *gabc[] = {"any1", "wildb", "exact", "wild", "any2"};
    assert_routes(g->virtual_hosts[0], gabc, 5);
    assert_routes(rc(res, "example.com")->virtual_hosts[0], apex, 3);
    assert_null(cm_xds_find(res, CM_XDS_ROUTE, "*.example.com"));
    assert_round_trips(res);
    cm_xds_resources_free(res);
    free(y);
}

static void test_client_ip(void **state)
{
    (void)state;
    char *y = doc("    r:\n      rule: \"ClientIP(`10.0.0.0/8`) && "
                  "!ClientIP(`10.1.0.0/16`)\"\n      service: a\n",
                  NULL, NULL);
    struct cm_xds_resources *res = translate(y);
    const Route *r = route0(res);
    const Google__Protobuf__Any *a =
        per_filter(r, "traefikee.filters.client_ip");
    assert_non_null(a);
    Traefikee__Filters__V1__ClientIpMatch *m =
        (void *)unany(a, &traefikee__filters__v1__client_ip_match__descriptor);
    assert_int_equal(m->n_all_of, 1);
    assert_string_equal(m->all_of[0], "10.0.0.0/8");
    assert_int_equal(m->n_none_of, 1);
    assert_string_equal(m->none_of[0], "10.1.0.0/16");
    protobuf_c_message_free_unpacked(&m->base, NULL);
    Hcm *h = listener_hcm(res, "web");
    assert_int_equal(h->n_http_filters, 2);
    assert_string_equal(h->http_filters[0]->name,
                        "traefikee.filters.client_ip");
    assert_string_equal(h->http_filters[0]->typed_config->type_url,
                        "type.googleapis.com/traefikee.filters.v1."
                        "ClientIpMatch");
    protobuf_c_message_free_unpacked(&h->base, NULL);
    cm_xds_resources_free(res);
    free(y);
}

/* ==== Services ==== */

static void test_weighted_nesting(void **state)
{
    (void)state;
    char *y = doc(
        "    r:\n      rule: \"PathPrefix(`/`)\"\n      service: top\n", NULL,
        "    inner: {weighted: {services: [{name: b, weight: 1}, "
        "{name: c, weight: 3}]}}\n"
        "    top: {weighted: {services: [{name: a, weight: 9}, "
        "{name: inner, weight: 1}, {name: c, weight: 0}]}}\n");
    struct cm_xds_resources *res = translate(y);
    const Route *r = route0(res);
    const Envoy__Config__Route__V3__WeightedCluster *w =
        r->route->weighted_clusters;
    assert_non_null(w);
    /* a: 9/10 = 36/40, b: 1/10 * 1/4 = 1/40, c: 1/10 * 3/4 = 3/40 */
    assert_int_equal(w->n_clusters, 3);
    assert_string_equal(w->clusters[0]->name, "a");
    assert_int_equal(w->clusters[0]->weight->value, 36);
    assert_string_equal(w->clusters[1]->name, "b");
    assert_int_equal(w->clusters[1]->weight->value, 1);
    assert_string_equal(w->clusters[2]->name, "c");
    assert_int_equal(w->clusters[2]->weight->value, 3);
    assert_int_equal(w->total_weight->value, 40);
    assert_round_trips(res);
    cm_xds_resources_free(res);
    free(y);
}

/* A router to api@internal: the built-in EDS cluster, no endpoints (the
 * control plane adds them). */
static void test_api_internal(void **state)
{
    (void)state;
    char *y = doc("    d:\n      rule: \"PathPrefix(`/api`)\"\n"
                  "      service: api@internal\n",
                  NULL, NULL);
    struct cm_xds_resources *res = translate(y);
    const Route *r = route0(res);
    assert_string_equal(r->route->cluster, "api@internal");
    assert_int_equal(cm_xds_count(res, CM_XDS_CLUSTER), 4);
    assert_int_equal(cm_xds_count(res, CM_XDS_ENDPOINT), 3);
    const Envoy__Config__Cluster__V3__Cluster *c =
        (const void *)cm_xds_find(res, CM_XDS_CLUSTER, "api@internal");
    assert_non_null(c);
    assert_int_equal(c->type,
                     ENVOY__CONFIG__CLUSTER__V3__CLUSTER__DISCOVERY_TYPE__EDS);
    assert_string_equal(c->eds_cluster_config->service_name, "api@internal");
    assert_int_equal(
        c->lb_policy,
        ENVOY__CONFIG__CLUSTER__V3__CLUSTER__LB_POLICY__ROUND_ROBIN);
    assert_int_equal(c->n_health_checks, 1);
    assert_string_equal(c->health_checks[0]->http_health_check->path, "/ping");
    assert_string_equal(c->health_checks[0]->http_health_check->host,
                        "localhost");
    assert_null(cm_xds_find(res, CM_XDS_ENDPOINT, "api@internal"));
    assert_non_null(cm_xds_find(res, CM_XDS_ENDPOINT, "a"));
    assert_round_trips(res);
    cm_xds_resources_free(res);
    free(y);
}

static void test_mirroring_failover_sticky(void **state)
{
    (void)state;
    char *y = doc("    m:\n      rule: \"Path(`/m`)\"\n      service: mir\n"
                  "    f:\n      rule: \"Path(`/f`)\"\n      service: fo\n"
                  "    s:\n      rule: \"Path(`/s`)\"\n      service: st\n",
                  NULL,
                  "    mir: {mirroring: {service: a, mirrors: [{name: b, "
                  "percent: 10}]}}\n"
                  "    fo: {failover: {service: a, fallback: c}}\n"
                  "    st: {loadBalancer: {sticky: {cookie: {name: sess, "
                  "secure: true}}, passHostHeader: false, servers: [{url: "
                  "\"http://localhost:9009\", weight: 0}, {url: "
                  "\"http://127.0.0.1:9010\"}]}}\n");
    struct cm_xds_resources *res = translate(y);
    const VirtualHost *v = vh(rc(res, "web"), "*");
    const Route *m = NULL, *f = NULL, *s = NULL;
    for (size_t i = 0; i < v->n_routes; i++) {
        const char *n = v->routes[i]->name;
        if (strcmp(n, "m") == 0)
            m = v->routes[i];
        if (strcmp(n, "f") == 0)
            f = v->routes[i];
        if (strcmp(n, "s") == 0)
            s = v->routes[i];
    }
    assert_non_null(m);
    assert_string_equal(m->route->cluster, "a");
    assert_int_equal(m->route->n_request_mirror_policies, 1);
    assert_string_equal(m->route->request_mirror_policies[0]->cluster, "b");
    assert_int_equal(m->route->request_mirror_policies[0]
                         ->runtime_fraction->default_value->numerator,
                     10);
    assert_string_equal(f->route->cluster, "a");
    Traefikee__Filters__V1__Failover *fo =
        (void *)unany(per_filter(f, "traefikee.filters.failover"),
                      &traefikee__filters__v1__failover__descriptor);
    assert_string_equal(fo->fallback_cluster, "c");
    protobuf_c_message_free_unpacked(&fo->base, NULL);
    assert_string_equal(s->route->cluster, "st");
    assert_int_equal(s->route->n_hash_policy, 1);
    assert_string_equal(s->route->hash_policy[0]->cookie->name, "sess");
    assert_true(s->route->auto_host_rewrite->value);
    assert_non_null(per_filter(s, "traefikee.filters.sticky"));
    const Envoy__Config__Cluster__V3__Cluster *c =
        (const void *)cm_xds_find(res, CM_XDS_CLUSTER, "st");
    assert_int_equal(c->lb_policy,
                     ENVOY__CONFIG__CLUSTER__V3__CLUSTER__LB_POLICY__RING_HASH);
    const Envoy__Config__Endpoint__V3__ClusterLoadAssignment *e =
        (const void *)cm_xds_find(res, CM_XDS_ENDPOINT, "st");
    /* weight 0 (localhost) left out */
    assert_int_equal(e->endpoints[0]->n_lb_endpoints, 1);
    assert_int_equal(e->endpoints[0]
                         ->lb_endpoints[0]
                         ->endpoint->address->socket_address->port_value,
                     9010);
    /* the failover and sticky routes need our filters: not for gRPC */
    Hcm *h = listener_hcm(res, "web");
    assert_int_equal(h->n_http_filters, 3);
    assert_string_equal(h->http_filters[0]->name, "traefikee.filters.failover");
    assert_string_equal(h->http_filters[1]->name, "traefikee.filters.sticky");
    protobuf_c_message_free_unpacked(&h->base, NULL);
    assert_round_trips(res);
    cm_xds_resources_free(res);
    free(y);
}

/* ==== Middlewares ==== */

static const Route *mw_route(struct cm_xds_resources **res, char **y,
                             const char *rule, const char *mws,
                             const char *defs)
{
    char routers[1024];
    snprintf(routers, sizeof(routers),
             "    r:\n      rule: \"%s\"\n      service: a\n"
             "      middlewares: [%s]\n",
             rule, mws);
    *y = doc(routers, defs, NULL);
    *res = translate(*y);
    return route0(*res);
}

static void done(struct cm_xds_resources *res, char *y)
{
    assert_round_trips(res);
    cm_xds_resources_free(res);
    free(y);
}

static void test_mw_headers(void **state)
{
    (void)state;
    struct cm_xds_resources *res;
    char *y;
    const Route *r = mw_route(
        &res, &y, "PathPrefix(`/`)", "h1, h2",
        "    h1: {headers: {customRequestHeaders: {X-A: one, X-Gone: \"\"}, "
        "customResponseHeaders: {X-R: r}}}\n"
        "    h2: {headers: {customRequestHeaders: {x-a: two}, "
        "customResponseHeaders: {Server: \"\"}}}\n");
    assert_int_equal(r->n_request_headers_to_add, 1);
    assert_string_equal(r->request_headers_to_add[0]->header->key, "X-A");
    assert_string_equal(r->request_headers_to_add[0]->header->value, "two");
    assert_int_equal(
        r->request_headers_to_add[0]->append_action,
        ENVOY__CONFIG__CORE__V3__HEADER_VALUE_OPTION__HEADER_APPEND_ACTION__OVERWRITE_IF_EXISTS_OR_ADD);
    assert_int_equal(r->n_request_headers_to_remove, 1);
    assert_string_equal(r->request_headers_to_remove[0], "X-Gone");
    assert_int_equal(r->n_response_headers_to_add, 1);
    assert_string_equal(r->response_headers_to_add[0]->header->key, "X-R");
    assert_int_equal(r->n_response_headers_to_remove, 1);
    assert_string_equal(r->response_headers_to_remove[0], "Server");
    done(res, y);
}

static void test_mw_path_native(void **state)
{
    (void)state;
    struct cm_xds_resources *res;
    char *y;
    const Route *r = mw_route(&res, &y, "PathPrefix(`/`)", "add",
                              "    add: {addPrefix: {prefix: /v1}}\n");
    assert_string_equal(r->route->regex_rewrite->pattern->regex, "^(.*)$");
    assert_string_equal(r->route->regex_rewrite->substitution, "/v1\\1");
    assert_null(per_filter(r, "traefikee.filters.path_rewrite"));
    done(res, y);
}

static void test_mw_path_filter(void **state)
{
    (void)state;
    struct cm_xds_resources *res;
    char *y;
    /* stripPrefix not implied by the rule, then replacePathRegex: ordered
     * PathRewrite ops */
    const Route *r =
        mw_route(&res, &y, "PathPrefix(`/`)", "strip, rep",
                 "    strip: {stripPrefix: {prefixes: [/api, /v2]}}\n"
                 "    rep: {replacePathRegex: {regex: \"^/(.*)\", replacement: "
                 "\"/x/$1\"}}\n");
    assert_null(r->route->regex_rewrite);
    Traefikee__Filters__V1__PathRewrite *p =
        (void *)unany(per_filter(r, "traefikee.filters.path_rewrite"),
                      &traefikee__filters__v1__path_rewrite__descriptor);
    assert_int_equal(p->n_ops, 2);
    assert_int_equal(p->ops[0]->op_case,
                     TRAEFIKEE__FILTERS__V1__PATH_REWRITE__OP__OP_STRIP_PREFIX);
    assert_int_equal(p->ops[0]->strip_prefix->n_prefixes, 2);
    assert_string_equal(p->ops[0]->strip_prefix->prefixes[1], "/v2");
    assert_string_equal(p->ops[1]->replace_path_regex->replacement, "/x/$1");
    protobuf_c_message_free_unpacked(&p->base, NULL);
    Hcm *h = listener_hcm(res, "web");
    assert_int_equal(h->n_http_filters, 2);
    assert_string_equal(h->http_filters[0]->name,
                        "traefikee.filters.path_rewrite");
    protobuf_c_message_free_unpacked(&h->base, NULL);
    done(res, y);
}

static void test_mw_redirect_scheme(void **state)
{
    (void)state;
    struct cm_xds_resources *res;
    char *y;
    const Route *r = mw_route(
        &res, &y, "PathPrefix(`/`)", "https, auth",
        "    https: {redirectScheme: {scheme: https, permanent: true}}\n"
        "    auth: {basicAuth: {users: [\"u:$apr1$x$y\"]}}\n");
    assert_int_equal(r->action_case,
                     ENVOY__CONFIG__ROUTE__V3__ROUTE__ACTION_REDIRECT);
    assert_string_equal(r->redirect->scheme_redirect, "https");
    assert_int_equal(r->redirect->port_redirect, 443);
    assert_int_equal(
        r->redirect->response_code,
        ENVOY__CONFIG__ROUTE__V3__REDIRECT_ACTION__REDIRECT_RESPONSE_CODE__MOVED_PERMANENTLY);
    /* basicAuth after the redirect is never reached */
    assert_int_equal(r->n_typed_per_filter_config, 0);
    /* a redirect route is not served to gRPC clients */
    assert_int_equal(cm_xds_count(res, CM_XDS_LISTENER), 1);
    done(res, y);
}

static void test_mw_filters(void **state)
{
    (void)state;
    struct cm_xds_resources *res;
    char *y;
    const Route *r = mw_route(
        &res, &y, "PathPrefix(`/`)", "all",
        "    all: {chain: {middlewares: [auth, allow, rl, infl, cb, rr]}}\n"
        "    auth: {basicAuth: {users: [\"u:$apr1$x$y\"], removeHeader: "
        "true}}\n"
        "    allow: {ipAllowList: {sourceRange: [127.0.0.1/32], ipStrategy: "
        "{depth: 2}}}\n"
        "    rl: {rateLimit: {average: 100, burst: 50, period: 2s}}\n"
        "    infl: {inFlightReq: {amount: 10}}\n"
        "    cb: {circuitBreaker: {expression: \"NetworkErrorRatio() > "
        "0.5\"}}\n"
        "    rr: {redirectRegex: {regex: \"^http://(.*)\", replacement: "
        "\"https://$1\"}}\n");
    assert_int_equal(r->n_typed_per_filter_config, 6);
    /* keys sorted */
    for (size_t i = 1; i < 6; i++)
        assert_true(strcmp(r->typed_per_filter_config[i - 1]->key,
                           r->typed_per_filter_config[i]->key) < 0);
    Traefikee__Filters__V1__BasicAuth *ba =
        (void *)unany(per_filter(r, "traefikee.filters.basic_auth"),
                      &traefikee__filters__v1__basic_auth__descriptor);
    assert_string_equal(ba->users[0], "u:$apr1$x$y");
    assert_string_equal(ba->realm, "traefik");
    assert_true(ba->remove_header);
    protobuf_c_message_free_unpacked(&ba->base, NULL);
    Traefikee__Filters__V1__IpAllowList *al =
        (void *)unany(per_filter(r, "traefikee.filters.ip_allow_list"),
                      &traefikee__filters__v1__ip_allow_list__descriptor);
    assert_string_equal(al->source_range[0], "127.0.0.1/32");
    assert_int_equal(al->ip_strategy->depth, 2);
    protobuf_c_message_free_unpacked(&al->base, NULL);
    Traefikee__Filters__V1__RateLimit *rl =
        (void *)unany(per_filter(r, "traefikee.filters.rate_limit"),
                      &traefikee__filters__v1__rate_limit__descriptor);
    assert_int_equal(rl->average, 100);
    assert_int_equal(rl->burst, 50);
    assert_int_equal(rl->period->seconds, 2);
    protobuf_c_message_free_unpacked(&rl->base, NULL);
    Traefikee__Filters__V1__CircuitBreaker *cb =
        (void *)unany(per_filter(r, "traefikee.filters.circuit_breaker"),
                      &traefikee__filters__v1__circuit_breaker__descriptor);
    assert_string_equal(cb->expression, "NetworkErrorRatio() > 0.5");
    assert_int_equal(cb->fallback_duration->seconds, 10);
    protobuf_c_message_free_unpacked(&cb->base, NULL);
    assert_non_null(per_filter(r, "traefikee.filters.in_flight_req"));
    assert_non_null(per_filter(r, "traefikee.filters.redirect_regex"));

    /* the listener runs our filters in the fixed order, router last */
    Hcm *h = listener_hcm(res, "web");
    const char *want[] = {
        "traefikee.filters.ip_allow_list",
        "traefikee.filters.basic_auth",
        "traefikee.filters.rate_limit",
        "traefikee.filters.in_flight_req",
        "traefikee.filters.circuit_breaker",
        "traefikee.filters.redirect_regex",
        CM_XDS_FILTER_ROUTER,
    };
    assert_int_equal(h->n_http_filters, 7);
    for (size_t i = 0; i < 7; i++) {
        assert_string_equal(h->http_filters[i]->name, want[i]);
        assert_non_null(h->http_filters[i]->typed_config);
    }
    protobuf_c_message_free_unpacked(&h->base, NULL);
    done(res, y);
}

static void test_mw_retry(void **state)
{
    (void)state;
    struct cm_xds_resources *res;
    char *y;
    const Route *r = mw_route(&res, &y, "PathPrefix(`/`)", "r3, r2",
                              "    r3: {retry: {attempts: 3, initialInterval: "
                              "200ms}}\n"
                              "    r2: {retry: {attempts: 2}}\n");
    /* nested retries multiply: 3 * 2 = 6 tries = 5 retries */
    assert_int_equal(r->route->retry_policy->num_retries->value, 5);
    assert_string_equal(r->route->retry_policy->retry_on,
                        "connect-failure,refused-stream,reset");
    assert_int_equal(
        r->route->retry_policy->retry_back_off->base_interval->nanos,
        200000000);
    done(res, y);
}

/* ==== Rejections ==== */

static void test_reject_rule(void **state)
{
    (void)state;
    char *y = doc("    whoami:\n      rule: \"PathPrefix(`/`) && "
                  "!Host(`a.b`)\"\n      service: a\n",
                  NULL, NULL);
    expect_error(y, "router \"whoami\": rule: column 21: negated Host "
                    "cannot be expressed in xDS (virtual host domains cannot "
                    "be negated)");
    free(y);
    y = doc("    whoami:\n      rule: \"Path(`/`) && Nope(`x`)\"\n"
            "      service: a\n",
            NULL, NULL);
    char err[CM_ERR_LEN];
    assert_null(translate_err(y, err));
    assert_true(strncmp(err, "router \"whoami\": rule: column 14: ", 34) == 0);
    free(y);
}

static void test_reject_services(void **state)
{
    (void)state;
    char *y = doc("    r:\n      rule: \"Path(`/`)\"\n      service: w\n", NULL,
                  "    m: {mirroring: {service: a, mirrors: [{name: b, "
                  "percent: 5}]}}\n"
                  "    w: {weighted: {services: [{name: a, weight: 1}, "
                  "{name: m, weight: 1}]}}\n");
    expect_error(y, "router \"r\": service \"m\" is a mirroring service, "
                    "which weighted_clusters cannot hold (only loadBalancer "
                    "and weighted services)");
    free(y);
    y = doc("    r:\n      rule: \"Path(`/`)\"\n      service: d\n", NULL,
            "    d: {loadBalancer: {servers: [{url: "
            "\"http://backend.internal:80\"}]}}\n");
    expect_error(y, "service \"d\": server \"http://backend.internal:80\": "
                    "host \"backend.internal\" is not an IP address (DNS "
                    "names are not supported)");
    free(y);
    y = doc("    r:\n      rule: \"Path(`/`)\"\n      service: x\n", NULL,
            "    x: {loadBalancer: {servers: [{url: \"http://127.0.0.1:1\"}, "
            "{url: \"h2c://127.0.0.1:2\"}]}}\n");
    expect_error(y, "service \"x\": servers mix the schemes \"http\" and "
                    "\"h2c\"; one cluster has one upstream protocol");
    free(y);
}

static void test_reject_duplicate_filter(void **state)
{
    (void)state;
    char *y = doc("    r:\n      rule: \"Path(`/`)\"\n      service: a\n"
                  "      middlewares: [a1, a2]\n",
                  "    a1: {basicAuth: {users: [\"u:p\"]}}\n"
                  "    a2: {basicAuth: {users: [\"v:p\"]}}\n",
                  NULL);
    expect_error(y, "router \"r\": middleware \"a2\": a second basicAuth "
                    "middleware on one router is not supported");
    free(y);
}

static void test_grpc_name_collision(void **state)
{
    (void)state;
    /* a Host equal to an entry point name: the entry point wins */
    const char *y = "entryPoints:\n  web: {address: \"127.0.0.1:80\"}\n"
                    "http:\n  routers:\n"
                    "    r: {rule: \"Host(`web`)\", service: a}\n"
                    "    g: {rule: \"Host(`grpc.svc`)\", service: a}\n"
                    "  services:\n    a: {loadBalancer: {servers: [{url: "
                    "\"h2c://127.0.0.1:50051\"}]}}\n";
    struct cm_xds_resources *res = translate(y);
    assert_int_equal(cm_xds_count(res, CM_XDS_LISTENER), 2);
    assert_string_equal(cm_xds_name(res, CM_XDS_LISTENER, 0), "grpc.svc");
    assert_string_equal(cm_xds_name(res, CM_XDS_LISTENER, 1), "web");
    const Envoy__Config__Listener__V3__Listener *l =
        (const void *)cm_xds_find(res, CM_XDS_LISTENER, "web");
    assert_null(l->api_listener);
    assert_string_equal(l->address->socket_address->address, "127.0.0.1");
    const RouteConfiguration *g = rc(res, "grpc.svc");
    assert_int_equal(g->virtual_hosts[0]->n_routes, 1);
    assert_string_equal(g->virtual_hosts[0]->routes[0]->route->cluster, "a");
    assert_null(cm_xds_find(res, CM_XDS_ROUTE, "nope"));
    done(res, NULL);
}

static void test_json(void **state)
{
    (void)state;
    struct cm_xds_resources *res = translate(DESIGN);
    json_t *j = cm_xds_to_json(res);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "version")), "7");
    json_t *l = json_array_get(json_object_get(j, "listeners"), 0);
    json_t *tc = json_object_get(
        json_array_get(
            json_object_get(
                json_array_get(json_object_get(l, "filterChains"), 0),
                "filters"),
            0),
        "typedConfig");
    assert_string_equal(json_string_value(json_object_get(tc, "@type")),
                        "type.googleapis.com/envoy.extensions.filters.network."
                        "http_connection_manager.v3.HttpConnectionManager");
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(tc, "rds"), "routeConfigName")),
                        "web");
    assert_int_equal(json_array_size(json_object_get(j, "endpoints")), 2);
    json_decref(j);
    cm_xds_resources_free(res);
}

/* ==== TLS ==== */

typedef Envoy__Extensions__TransportSockets__Tls__V3__DownstreamTlsContext
    DownTls;
typedef Envoy__Extensions__TransportSockets__Tls__V3__UpstreamTlsContext UpTls;

static const char TLS_DOC[] =
    "entryPoints:\n"
    "  web: {address: \":80\"}\n"
    "  websecure: {address: \":443\"}\n"
    "http:\n"
    "  routers:\n"
    "    plain: {rule: \"Host(`a.test`)\", service: api, entryPoints: [web]}\n"
    "    secure:\n"
    "      rule: \"Host(`a.test`)\"\n"
    "      service: api\n"
    "      entryPoints: [websecure]\n"
    "      tls: {options: modern}\n"
    "  services:\n"
    "    api: {loadBalancer: {servers: [{url: \"https://127.0.0.1:9443\"}]}}\n"
    "    lax: {loadBalancer: {serversTransport: skip, servers: [{url: "
    "\"https://127.0.0.1:9444\"}]}}\n"
    "    own: {loadBalancer: {serversTransport: ca@file, servers: [{url: "
    "\"https://127.0.0.1:9445\"}]}}\n"
    "  serversTransports:\n"
    "    skip: {insecureSkipVerify: true}\n"
    "    ca: {rootCAs: [/etc/test-ca.pem], serverName: api.internal}\n"
    "tls:\n"
    "  certificates:\n"
    "    - {certFile: /certs/a.test.crt, keyFile: /certs/a.test.key}\n"
    "    - {name: wild, certificate: \"-----BEGIN CERTIFICATE-----\", key: "
    "\"-----BEGIN PRIVATE KEY-----\"}\n"
    "  options:\n"
    "    modern: {minVersion: VersionTLS13, cipherSuites: "
    "[TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, TLS_AES_128_GCM_SHA256]}\n";

static const UpTls *up_tls(const struct cm_xds_resources *res, const char *n)
{
    const Envoy__Config__Cluster__V3__Cluster *cl =
        (const void *)cm_xds_find(res, CM_XDS_CLUSTER, n);
    assert_non_null(cl);
    assert_non_null(cl->transport_socket);
    assert_string_equal(cl->transport_socket->name, CM_XDS_TLS_SOCKET);
    const UpTls *u = (const UpTls *)protobuf_c_message_unpack(
        &envoy__extensions__transport_sockets__tls__v3__upstream_tls_context__descriptor,
        NULL, cl->transport_socket->typed_config->value.len,
        cl->transport_socket->typed_config->value.data);
    assert_non_null(u);
    return u;
}

static void test_tls(void **state)
{
    struct cm_xds_resources *res = translate(TLS_DOC);
    const Envoy__Config__Listener__V3__Listener *web, *sec;
    const Envoy__Extensions__TransportSockets__Tls__V3__Secret *s;
    const DownTls *d;
    const UpTls *u;

    /* secrets: file names become DataSource filenames, inline PEM bytes */
    assert_int_equal(cm_xds_count(res, CM_XDS_SECRET), 2);
    s = (const void *)cm_xds_find(res, CM_XDS_SECRET, "a");
    assert_non_null(s);
    assert_string_equal(s->tls_certificate->certificate_chain->filename,
                        "/certs/a.test.crt");
    assert_string_equal(s->tls_certificate->private_key->filename,
                        "/certs/a.test.key");
    s = (const void *)cm_xds_find(res, CM_XDS_SECRET, "wild");
    assert_non_null(s);
    assert_memory_equal(s->tls_certificate->private_key->inline_bytes.data,
                        "-----BEGIN PRIVATE KEY-----", 27);

    /* only the entry point with a TLS router gets a transport socket */
    web = (const void *)cm_xds_find(res, CM_XDS_LISTENER, "web");
    sec = (const void *)cm_xds_find(res, CM_XDS_LISTENER, "websecure");
    assert_null(web->filter_chains[0]->transport_socket);
    assert_non_null(sec->filter_chains[0]->transport_socket);
    d = (const DownTls *)protobuf_c_message_unpack(
        &envoy__extensions__transport_sockets__tls__v3__downstream_tls_context__descriptor,
        NULL, sec->filter_chains[0]->transport_socket->typed_config->value.len,
        sec->filter_chains[0]->transport_socket->typed_config->value.data);
    assert_non_null(d);
    assert_int_equal(
        d->common_tls_context->n_tls_certificate_sds_secret_configs, 2);
    assert_string_equal(
        d->common_tls_context->tls_certificate_sds_secret_configs[0]->name,
        "a");
    assert_non_null(d->common_tls_context->tls_certificate_sds_secret_configs[0]
                        ->sds_config->ads);
    assert_string_equal(d->common_tls_context->alpn_protocols[0], "h2");
    assert_string_equal(d->common_tls_context->alpn_protocols[1], "http/1.1");
    assert_int_equal(
        d->common_tls_context->tls_params->tls_minimum_protocol_version,
        ENVOY__EXTENSIONS__TRANSPORT_SOCKETS__TLS__V3__TLS_PARAMETERS__TLS_PROTOCOL__TLSv1_3);
    assert_int_equal(d->common_tls_context->tls_params->n_cipher_suites, 1);
    assert_string_equal(d->common_tls_context->tls_params->cipher_suites[0],
                        "ECDHE-RSA-AES128-GCM-SHA256");
    protobuf_c_message_free_unpacked((ProtobufCMessage *)d, NULL);

    /* upstream: system bundle by default, the explicit opt-out, own CAs */
    u = up_tls(res, "api");
    assert_string_equal(u->sni, "127.0.0.1");
    assert_string_equal(
        u->common_tls_context->validation_context->trusted_ca->filename,
        CM_XDS_CA_BUNDLE);
    protobuf_c_message_free_unpacked((ProtobufCMessage *)u, NULL);
    u = up_tls(res, "lax");
    assert_null(u->common_tls_context->validation_context);
    protobuf_c_message_free_unpacked((ProtobufCMessage *)u, NULL);
    u = up_tls(res, "own");
    assert_string_equal(u->sni, "api.internal");
    assert_string_equal(
        u->common_tls_context->validation_context->trusted_ca->filename,
        "/etc/test-ca.pem");
    protobuf_c_message_free_unpacked((ProtobufCMessage *)u, NULL);
    cm_xds_resources_free(res);
}

static void test_tls_reject(void **state)
{
    expect_error("entryPoints:\n  web: {address: \":80\"}\n"
                 "http:\n  routers:\n    r: {rule: \"Host(`a`)\", service: "
                 "a, tls: {}}\n"
                 "  services:\n    a: {loadBalancer: {servers: [{url: "
                 "\"http://127.0.0.1:1\"}]}}\n",
                 "router \"r\": tls needs a certificate in tls.certificates");
    expect_error("http:\n  services:\n    a: {loadBalancer: "
                 "{serversTransport: nope, servers: [{url: "
                 "\"https://127.0.0.1:1\"}]}}\n",
                 "service \"a\": serversTransport \"nope\" is not in "
                 "http.serversTransports");
    expect_error("tls:\n  certificates:\n    - {certFile: /x/a.pem, keyFile: "
                 "/k}\n    - {certFile: /y/a.crt, keyFile: /k}\n",
                 "tls.certificates[1]: name \"a\" is already used; give each "
                 "a distinct name");
}

/* healthCheck port, hostname and headers ride on the Envoy HealthCheck;
 * scheme may only restate the cluster's TLS-ness. */
/* mode: grpc gives a GrpcHealthCheck: empty service, authority from
 * hostname, initial_metadata from headers; path/method/status ignored. */
static void test_grpc_health_check(void)
{
    struct cm_xds_resources *res = translate(
        "http:\n  services:\n"
        "    g: {loadBalancer: {servers: [{url: \"h2c://127.0.0.1:1\"}], "
        "healthCheck: {mode: grpc, path: /ignored, method: head, status: 204, "
        "port: 9200, interval: 200ms, timeout: 1s, hostname: g.test, "
        "headers: {X-Probe: yes}}}}\n"
        "    d: {loadBalancer: {servers: [{url: \"h2c://127.0.0.1:2\"}], "
        "healthCheck: {mode: grpc}}}\n");
    const Envoy__Config__Cluster__V3__Cluster *c =
        (const void *)cm_xds_find(res, CM_XDS_CLUSTER, "g");
    assert_non_null(c);
    assert_int_equal(c->n_health_checks, 1);
    const Envoy__Config__Core__V3__HealthCheck *h = c->health_checks[0];
    assert_int_equal(
        h->health_checker_case,
        ENVOY__CONFIG__CORE__V3__HEALTH_CHECK__HEALTH_CHECKER_GRPC_HEALTH_CHECK);
    const Envoy__Config__Core__V3__HealthCheck__GrpcHealthCheck *g =
        h->grpc_health_check;
    assert_non_null(g);
    assert_string_equal(g->service_name, "");
    assert_string_equal(g->authority, "g.test");
    assert_int_equal(g->n_initial_metadata, 1);
    assert_string_equal(g->initial_metadata[0]->header->key, "X-Probe");
    assert_string_equal(g->initial_metadata[0]->header->value, "yes");
    assert_non_null(h->alt_port);
    assert_int_equal(h->alt_port->value, 9200);
    assert_int_equal(h->interval->seconds, 0);
    assert_int_equal(h->interval->nanos, 200000000);
    assert_int_equal(h->timeout->seconds, 1);
    assert_int_equal(h->unhealthy_threshold->value, 1);
    assert_int_equal(h->healthy_threshold->value, 1);
    c = (const void *)cm_xds_find(res, CM_XDS_CLUSTER, "d");
    assert_non_null(c);
    g = c->health_checks[0]->grpc_health_check;
    assert_int_equal(
        c->health_checks[0]->health_checker_case,
        ENVOY__CONFIG__CORE__V3__HEALTH_CHECK__HEALTH_CHECKER_GRPC_HEALTH_CHECK);
    assert_string_equal(g->authority, "");
    assert_int_equal(g->n_initial_metadata, 0);
    assert_null(c->health_checks[0]->alt_port);
    cm_xds_resources_free(res);
}

static void test_health_check_options(void **state)
{
    (void)state;
    struct cm_xds_resources *res = translate(
        "http:\n  services:\n"
        "    p: {loadBalancer: {servers: [{url: \"h2c://127.0.0.1:1\"}], "
        "healthCheck: {scheme: http, path: /hc, port: 9100, hostname: h.test, "
        "headers: {X-Probe: yes, X-Two: \"2\"}}}}\n"
        "    s: {loadBalancer: {servers: [{url: \"https://127.0.0.1:2\"}], "
        "healthCheck: {scheme: https, method: head, status: 204, "
        "followRedirects: false, mode: http}}}\n");
    const Envoy__Config__Cluster__V3__Cluster *c =
        (const void *)cm_xds_find(res, CM_XDS_CLUSTER, "p");
    assert_non_null(c);
    assert_int_equal(c->n_health_checks, 1);
    const Envoy__Config__Core__V3__HealthCheck *h = c->health_checks[0];
    assert_non_null(h->alt_port);
    assert_int_equal(h->alt_port->value, 9100);
    assert_string_equal(h->http_health_check->path, "/hc");
    assert_string_equal(h->http_health_check->host, "h.test");
    assert_int_equal(h->http_health_check->n_request_headers_to_add, 2);
    assert_string_equal(
        h->http_health_check->request_headers_to_add[0]->header->key,
        "X-Probe");
    assert_string_equal(
        h->http_health_check->request_headers_to_add[0]->header->value, "yes");
    assert_string_equal(
        h->http_health_check->request_headers_to_add[1]->header->key, "X-Two");
    c = (const void *)cm_xds_find(res, CM_XDS_CLUSTER, "s");
    assert_non_null(c);
    assert_int_equal(c->n_health_checks, 1);
    assert_null(c->health_checks[0]->alt_port);
    assert_non_null(c->transport_socket);
    const Envoy__Config__Core__V3__HealthCheck__HttpHealthCheck *hh =
        c->health_checks[0]->http_health_check;
    assert_int_equal(hh->method, ENVOY__CONFIG__CORE__V3__REQUEST_METHOD__HEAD);
    assert_int_equal(hh->n_expected_statuses, 1);
    assert_int_equal(hh->expected_statuses[0]->start, 204);
    assert_int_equal(hh->expected_statuses[0]->end, 205);
    /* defaults: method unset (GET), no expected_statuses (any 2xx) */
    hh = h->http_health_check;
    assert_int_equal(
        hh->method,
        ENVOY__CONFIG__CORE__V3__REQUEST_METHOD__METHOD_UNSPECIFIED);
    assert_int_equal(hh->n_expected_statuses, 0);
    cm_xds_resources_free(res);

    test_grpc_health_check();

    expect_error("http:\n  services:\n    a: {loadBalancer: {servers: [{url: "
                 "\"http://127.0.0.1:1\"}], healthCheck: {scheme: https}}}\n",
                 "http.services.a.loadBalancer.healthCheck.scheme: \"https\" "
                 "on http servers cannot be expressed in xDS (a health check "
                 "uses TLS exactly when the cluster does)");
    expect_error("http:\n  services:\n    b: {loadBalancer: {servers: [{url: "
                 "\"https://127.0.0.1:1\"}], healthCheck: {scheme: h2c}}}\n",
                 "http.services.b.loadBalancer.healthCheck.scheme: \"h2c\" "
                 "on https servers cannot be expressed in xDS (a health check "
                 "uses TLS exactly when the cluster does)");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_design_listener),
        cmocka_unit_test(test_design_routes),
        cmocka_unit_test(test_design_clusters),
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_or_rule_and_vhosts),
        cmocka_unit_test(test_negations_headers_query),
        cmocka_unit_test(test_priorities),
        cmocka_unit_test(test_host_regexp),
        cmocka_unit_test(test_vhost_cover),
        cmocka_unit_test(test_client_ip),
        cmocka_unit_test(test_weighted_nesting),
        cmocka_unit_test(test_api_internal),
        cmocka_unit_test(test_mirroring_failover_sticky),
        cmocka_unit_test(test_mw_headers),
        cmocka_unit_test(test_mw_path_native),
        cmocka_unit_test(test_mw_path_filter),
        cmocka_unit_test(test_mw_redirect_scheme),
        cmocka_unit_test(test_mw_filters),
        cmocka_unit_test(test_mw_retry),
        cmocka_unit_test(test_reject_rule),
        cmocka_unit_test(test_reject_services),
        cmocka_unit_test(test_reject_duplicate_filter),
        cmocka_unit_test(test_grpc_name_collision),
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_tls),
        cmocka_unit_test(test_tls_reject),
        cmocka_unit_test(test_health_check_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
