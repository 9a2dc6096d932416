/*
 * table_test.c -- tests of dp_table: building from xDS messages, validation
 * errors, endpoint picking (smooth WRR, random, least request, health and
 * panic), runtime state carried across tables, and RCU publication while
 * reader threads keep looking up.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <urcu-qsbr.h>

#include "dataplane/filter/filter.h"
#include "dataplane/router/router.h"
#include "dataplane/router/router_testlib.h"
#include "dataplane/table/table.h"
#include "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.pb-c.h"
#include "envoy/extensions/upstreams/http/v3/http_protocol_options.pb-c.h"
#include "traefikee/filters/v1/filters.pb-c.h"

#define CL(x)   Envoy__Config__Cluster__V3__##x
#define EP(x)   Envoy__Config__Endpoint__V3__##x
#define LS(x)   Envoy__Config__Listener__V3__##x
#define CORE(x) Envoy__Config__Core__V3__##x
#define HCM(x)                                                                 \
    Envoy__Extensions__Filters__Network__HttpConnectionManager__V3__##x
#define RT(x) Envoy__Config__Route__V3__##x

/* ==== Message builders ==== */

static CORE(Address) * addr(struct dp_rtb *b, const char *ip, unsigned port)
{
    CORE(Address) *a = dp_rtb_alloc(b, sizeof(*a));
    CORE(SocketAddress) *s = dp_rtb_alloc(b, sizeof(*s));

    envoy__config__core__v3__address__init(a);
    envoy__config__core__v3__socket_address__init(s);
    s->address = dp_rtb_str(b, ip);
    s->port_specifier_case =
        ENVOY__CONFIG__CORE__V3__SOCKET_ADDRESS__PORT_SPECIFIER_PORT_VALUE;
    s->port_value = port;
    a->address_case = ENVOY__CONFIG__CORE__V3__ADDRESS__ADDRESS_SOCKET_ADDRESS;
    a->socket_address = s;
    return a;
}

static EP(ClusterLoadAssignment) * cla(struct dp_rtb *b, const char *name)
{
    EP(ClusterLoadAssignment) *c = dp_rtb_alloc(b, sizeof(*c));
    EP(LocalityLbEndpoints) *loc = dp_rtb_alloc(b, sizeof(*loc));

    envoy__config__endpoint__v3__cluster_load_assignment__init(c);
    envoy__config__endpoint__v3__locality_lb_endpoints__init(loc);
    c->cluster_name = dp_rtb_str(b, name);
    dp_rtb_push(b, &c->endpoints, &c->n_endpoints, loc);
    return c;
}

static EP(LbEndpoint) * ep(struct dp_rtb *b, EP(ClusterLoadAssignment) * c,
                           const char *ip, unsigned port, unsigned weight)
{
    EP(LbEndpoint) *e = dp_rtb_alloc(b, sizeof(*e));
    EP(Endpoint) *en = dp_rtb_alloc(b, sizeof(*en));

    envoy__config__endpoint__v3__lb_endpoint__init(e);
    envoy__config__endpoint__v3__endpoint__init(en);
    en->address = addr(b, ip, port);
    e->host_identifier_case =
        ENVOY__CONFIG__ENDPOINT__V3__LB_ENDPOINT__HOST_IDENTIFIER_ENDPOINT;
    e->endpoint = en;
    if (weight)
        e->load_balancing_weight = dp_rtb_u32(b, weight);
    dp_rtb_push(b, &c->endpoints[0]->lb_endpoints,
                &c->endpoints[0]->n_lb_endpoints, e);
    return e;
}

static CL(Cluster) * cluster(struct dp_rtb *b, const char *name, int eds)
{
    CL(Cluster) *c = dp_rtb_alloc(b, sizeof(*c));

    envoy__config__cluster__v3__cluster__init(c);
    c->name = dp_rtb_str(b, name);
    c->cluster_discovery_type_case =
        ENVOY__CONFIG__CLUSTER__V3__CLUSTER__CLUSTER_DISCOVERY_TYPE_TYPE;
    c->type = eds ? ENVOY__CONFIG__CLUSTER__V3__CLUSTER__DISCOVERY_TYPE__EDS
                  : ENVOY__CONFIG__CLUSTER__V3__CLUSTER__DISCOVERY_TYPE__STATIC;
    if (!eds)
        c->load_assignment = cla(b, name);
    return c;
}

static Google__Protobuf__Any *any(struct dp_rtb *b, const char *type,
                                  const ProtobufCMessage *m)
{
    Google__Protobuf__Any *a = dp_rtb_alloc(b, sizeof(*a));

    google__protobuf__any__init(a);
    a->type_url = dp_rtb_str(b, type);
    a->value.len = protobuf_c_message_get_packed_size(m);
    a->value.data = dp_rtb_alloc(b, a->value.len);
    protobuf_c_message_pack(m, a->value.data);
    return a;
}

/* A listener whose HCM uses RDS <rds>, ending with <last_filter>. */
static LS(Listener) * listener(struct dp_rtb *b, const char *name,
                               unsigned port, const char *rds,
                               const char *last_filter)
{
    LS(Listener) *l = dp_rtb_alloc(b, sizeof(*l));
    LS(FilterChain) *fc = dp_rtb_alloc(b, sizeof(*fc));
    LS(Filter) *f = dp_rtb_alloc(b, sizeof(*f));
    HCM(HttpConnectionManager) h;
    HCM(Rds) r;
    HCM(HttpFilter) hf, *hfs[1] = {&hf};

    envoy__config__listener__v3__listener__init(l);
    envoy__config__listener__v3__filter_chain__init(fc);
    envoy__config__listener__v3__filter__init(f);
    envoy__extensions__filters__network__http_connection_manager__v3__http_connection_manager__init(
        &h);
    envoy__extensions__filters__network__http_connection_manager__v3__rds__init(
        &r);
    envoy__extensions__filters__network__http_connection_manager__v3__http_filter__init(
        &hf);
    r.route_config_name = (char *)rds;
    hf.name = (char *)last_filter;
    h.route_specifier_case =
        ENVOY__EXTENSIONS__FILTERS__NETWORK__HTTP_CONNECTION_MANAGER__V3__HTTP_CONNECTION_MANAGER__ROUTE_SPECIFIER_RDS;
    h.rds = &r;
    h.stat_prefix = (char *)name;
    h.n_http_filters = 1, h.http_filters = hfs;
    f->name = dp_rtb_str(b, "envoy.filters.network.http_connection_manager");
    f->config_type_case =
        ENVOY__CONFIG__LISTENER__V3__FILTER__CONFIG_TYPE_TYPED_CONFIG;
    f->typed_config = any(b,
                          "type.googleapis.com/envoy.extensions.filters."
                          "network.http_connection_manager.v3."
                          "HttpConnectionManager",
                          &h.base);
    dp_rtb_push(b, &fc->filters, &fc->n_filters, f);
    dp_rtb_push(b, &l->filter_chains, &l->n_filter_chains, fc);
    l->name = dp_rtb_str(b, name);
    l->address = addr(b, "0.0.0.0", port);
    return l;
}

/* The standard fixture: listener "web" -> routes "web" -> clusters "whoami"
 * (STATIC, weights 5/1/1) and "api" (EDS, h2, LEAST_REQUEST). */
struct fixture {
    struct dp_rtb b;
    LS(Listener) * ls[2];
    RT(RouteConfiguration) * rcs[1];
    CL(Cluster) * cls[2];
    EP(ClusterLoadAssignment) * clas[2];
    struct dp_table_input in;
};

static void fixture(struct fixture *f, int workers)
{
    struct dp_rtb *b = &f->b;
    RT(VirtualHost) * vh;
    Envoy__Extensions__Upstreams__Http__V3__HttpProtocolOptions po;
    Envoy__Extensions__Upstreams__Http__V3__HttpProtocolOptions__ExplicitHttpConfig
        ex;
    Envoy__Config__Core__V3__Http2ProtocolOptions h2;
    CL(Cluster__TypedExtensionProtocolOptionsEntry) * e;

    memset(f, 0, sizeof(*f));
    f->ls[0] = listener(b, "web", 8000, "web", "envoy.filters.http.router");
    f->rcs[0] = dp_rtb_config(b, "web");
    vh = dp_rtb_vhost(b, f->rcs[0], "whoami", "*");
    dp_rtb_route(b, vh, DP_RTB_PREFIX, "/api", "api");
    dp_rtb_route(b, vh, DP_RTB_PREFIX, "/", "whoami");
    f->cls[0] = cluster(b, "whoami", 0);
    ep(b, f->cls[0]->load_assignment, "127.0.0.1", 8081, 5);
    ep(b, f->cls[0]->load_assignment, "127.0.0.1", 8082, 0);
    ep(b, f->cls[0]->load_assignment, "::1", 8083, 1);
    f->cls[1] = cluster(b, "api", 1);
    f->cls[1]->lb_policy =
        ENVOY__CONFIG__CLUSTER__V3__CLUSTER__LB_POLICY__LEAST_REQUEST;
    envoy__extensions__upstreams__http__v3__http_protocol_options__init(&po);
    envoy__extensions__upstreams__http__v3__http_protocol_options__explicit_http_config__init(
        &ex);
    envoy__config__core__v3__http2_protocol_options__init(&h2);
    h2.max_concurrent_streams = dp_rtb_u32(b, 100);
    ex.protocol_config_case =
        ENVOY__EXTENSIONS__UPSTREAMS__HTTP__V3__HTTP_PROTOCOL_OPTIONS__EXPLICIT_HTTP_CONFIG__PROTOCOL_CONFIG_HTTP2_PROTOCOL_OPTIONS;
    ex.http2_protocol_options = &h2;
    po.upstream_protocol_options_case =
        ENVOY__EXTENSIONS__UPSTREAMS__HTTP__V3__HTTP_PROTOCOL_OPTIONS__UPSTREAM_PROTOCOL_OPTIONS_EXPLICIT_HTTP_CONFIG;
    po.explicit_http_config = &ex;
    e = dp_rtb_alloc(b, sizeof(*e));
    envoy__config__cluster__v3__cluster__typed_extension_protocol_options_entry__init(
        e);
    e->key =
        dp_rtb_str(b, "envoy.extensions.upstreams.http.v3.HttpProtocolOptions");
    e->value = any(b,
                   "type.googleapis.com/envoy.extensions.upstreams.http.v3."
                   "HttpProtocolOptions",
                   &po.base);
    dp_rtb_push(b, &f->cls[1]->typed_extension_protocol_options,
                &f->cls[1]->n_typed_extension_protocol_options, e);
    f->clas[0] = cla(b, "api");
    ep(b, f->clas[0], "10.0.0.1", 9000, 0);
    ep(b, f->clas[0], "10.0.0.2", 9000, 0);
    f->clas[1] = cla(b, "unreferenced"); /* ignored */
    f->in = (struct dp_table_input){f->ls, 1,       f->rcs, 1,    f->cls,
                                    2,     f->clas, 2,      NULL, workers};
}

static struct dp_table *build_ok(const struct dp_table_input *in)
{
    char err[CM_ERR_LEN] = "";
    struct dp_table *t = dp_table_build(in, err, sizeof(err));

    if (t == NULL)
        fail_msg("dp_table_build: %s", err);
    return t;
}

/* ==== Tests ==== */

static void test_build(void **state)
{
    struct fixture f;
    struct dp_table *t;
    const struct dp_listener *l;
    const struct dp_cluster *c;
    const struct dp_route *rt;
    struct dp_router_req q = {.host = {"x", 1}, .path = {"/api/v1", 7}};

    fixture(&f, 1);
    t = build_ok(&f.in);
    assert_int_equal(dp_table_listener_count(t), 1);
    l = dp_table_listener(t, 0);
    assert_ptr_equal(dp_table_listener_by_name(t, "web"), l);
    assert_string_equal(l->addr.text, "0.0.0.0");
    assert_int_equal(l->addr.port, 8000);
    assert_int_equal(l->addr.sa.ss_family, AF_INET);
    assert_string_equal(l->route_config_name, "web");
    assert_ptr_equal(l->router, dp_table_router(t, "web"));
    assert_int_equal(l->n_http_filters, 1);
    assert_string_equal(l->http_filters[0], "envoy.filters.http.router");
    rt = dp_router_match(l->router, &q);
    assert_non_null(rt);
    c = dp_table_cluster_at(t, rt->cluster.index);
    assert_string_equal(c->name, "api");
    assert_ptr_equal(dp_table_cluster(t, "api"), c);
    assert_int_equal(c->type, DP_CLUSTER_EDS);
    assert_int_equal(c->lb, DP_LB_LEAST_REQUEST);
    assert_true(c->http2);
    assert_int_equal(c->h2_max_concurrent_streams, 100);
    assert_int_equal(c->n_endpoints, 2);
    assert_string_equal(c->endpoints[1].addr.text, "10.0.0.2");
    assert_int_equal(c->connect_timeout_ms, 5000);
    assert_int_equal(c->cb.max_requests, 1024);
    c = dp_table_cluster(t, "whoami");
    assert_int_equal(c->type, DP_CLUSTER_STATIC);
    assert_false(c->http2);
    assert_int_equal(c->n_endpoints, 3);
    assert_int_equal(c->endpoints[0].weight, 5);
    assert_int_equal(c->endpoints[1].weight, 1);
    assert_int_equal(c->endpoints[2].addr.sa.ss_family, AF_INET6);
    assert_null(dp_table_cluster(t, "unreferenced"));
    assert_null(dp_table_router(t, "nope"));
    dp_table_free(t);
    dp_rtb_free(&f.b);
}

/* Clusters by name (hashed): each of many is found, at its index; other
 * names (prefixes, longer, empty) are not. */
static void test_cluster_lookup(void **state)
{
    struct dp_rtb b;
    CL(Cluster) **cs = calloc(300, sizeof(*cs));
    char name[32];

    (void)state;
    memset(&b, 0, sizeof(b));
    for (int i = 0; i < 300; i++) {
        snprintf(name, sizeof(name), "svc-%d", i);
        cs[i] = cluster(&b, name, 1);
    }
    struct dp_table_input in = {
        .clusters = cs, .n_clusters = 300, .n_workers = 1};
    struct dp_table *t = build_ok(&in);
    assert_int_equal(dp_table_cluster_count(t), 300);
    for (int i = 0; i < 300; i++) {
        snprintf(name, sizeof(name), "svc-%d", i);
        const struct dp_cluster *c = dp_table_cluster(t, name);
        assert_non_null(c);
        assert_string_equal(c->name, name);
        assert_ptr_equal(dp_table_cluster_at(t, (int)c->index), c);
    }
    assert_null(dp_table_cluster(t, "svc-"));
    assert_null(dp_table_cluster(t, "svc-3000"));
    assert_null(dp_table_cluster(t, ""));
    dp_table_free(t);
    free(cs);
    dp_rtb_free(&b);
}

/* --listen-host: every listener's host replaced, its port kept; endpoints
 * untouched; a bad host fails the build. */
static void test_listen_host(void **state)
{
    struct fixture f;
    struct dp_table *t;
    const struct dp_listener *l;
    char err[CM_ERR_LEN] = "";

    fixture(&f, 1);
    f.in.listen_host = "127.0.0.12";
    t = build_ok(&f.in);
    l = dp_table_listener(t, 0);
    assert_string_equal(l->addr.text, "127.0.0.12");
    assert_int_equal(l->addr.port, 8000);
    assert_int_equal(
        ntohl(((struct sockaddr_in *)&l->addr.sa)->sin_addr.s_addr),
        0x7f00000c);
    assert_int_equal(ntohs(((struct sockaddr_in *)&l->addr.sa)->sin_port),
                     8000);
    assert_string_equal(dp_table_cluster(t, "api")->endpoints[0].addr.text,
                        "10.0.0.1");
    dp_table_free(t);
    f.in.listen_host = "::1";
    t = build_ok(&f.in);
    assert_int_equal(dp_table_listener(t, 0)->addr.sa.ss_family, AF_INET6);
    dp_table_free(t);
    f.in.listen_host = "node-2";
    assert_null(dp_table_build(&f.in, err, sizeof(err)));
    assert_string_equal(err, "listener \"web\": listen host \"node-2\" is "
                             "not an IP literal");
    dp_rtb_free(&f.b);
}

static void expect_build_error(struct fixture *f, const char *want)
{
    char err[CM_ERR_LEN] = "";

    assert_null(dp_table_build(&f->in, err, sizeof(err)));
    assert_string_equal(err, want);
}

static void test_errors(void **state)
{
    struct fixture f;
    CORE(SocketAddress) * sa;

    fixture(&f, 1);
    f.in.n_clusters = 1; /* "api" gone: the route to it must fail */
    expect_build_error(&f, "route_config \"web\": virtual_host \"whoami\" "
                           "route 1: route: cluster \"api\" not found");
    f.in.n_clusters = 2;
    sa = f.clas[0]
             ->endpoints[0]
             ->lb_endpoints[1]
             ->endpoint->address->socket_address;
    sa->address = "web1";
    expect_build_error(&f, "cluster_load_assignment \"api\": endpoint 2: "
                           "address \"web1\" is not an IP literal");
    sa->address = "10.0.0.2";
    sa->port_value = 70000;
    expect_build_error(&f, "cluster_load_assignment \"api\": endpoint 2: "
                           "port 70000 out of range [1, 65535]");
    sa->port_value = 9000;
    f.cls[0]->lb_policy =
        ENVOY__CONFIG__CLUSTER__V3__CLUSTER__LB_POLICY__CLUSTER_PROVIDED;
    expect_build_error(&f, "cluster \"whoami\": lb_policy CLUSTER_PROVIDED is "
                           "not supported");
    f.cls[0]->lb_policy =
        ENVOY__CONFIG__CLUSTER__V3__CLUSTER__LB_POLICY__ROUND_ROBIN;
    f.cls[1]->name = "whoami";
    expect_build_error(&f, "cluster \"whoami\": duplicate name");
    f.cls[1]->name = "api";
    f.in.n_routes = 0;
    expect_build_error(&f, "listener \"web\": route_config_name \"web\": no "
                           "such RouteConfiguration");
    f.in.n_routes = 1;
    f.ls[0] = listener(&f.b, "web", 8000, "web", "envoy.filters.http.cors");
    expect_build_error(&f, "listener \"web\": http_filters: the last filter "
                           "must be envoy.filters.http.router");
    f.ls[0] = listener(&f.b, "web", 8000, "web", "envoy.filters.http.router");
    f.ls[0]->address = addr(&f.b, "localhost", 80);
    expect_build_error(&f, "listener \"web\": address \"localhost\" is not an "
                           "IP literal");
    f.in.n_listeners = 0;
    dp_table_free(build_ok(&f.in));
    dp_rtb_free(&f.b);
}

static void test_pick_rr(void **state)
{
    struct fixture f;
    struct dp_table *t;
    const struct dp_cluster *c;
    struct dp_cluster_state *st;
    char seq[16] = "";
    int i, counts[3] = {0};

    fixture(&f, 2);
    t = build_ok(&f.in);
    c = dp_table_cluster(t, "whoami"); /* weights 5, 1, 1 */
    st = dp_cluster_state_of(c);
    for (i = 0; i < 7; i++)
        seq[i] = (char)('a' + dp_table_pick(c, st, 0, 0));
    assert_string_equal(seq, "aabacaa"); /* nginx's smooth sequence */
    /* Worker 1 has its own cursor: same sequence from the start. */
    assert_int_equal(dp_table_pick(c, st, 1, 0), 0);
    assert_int_equal(dp_table_pick(c, st, 1, 0), 0);
    assert_int_equal(dp_table_pick(c, st, 1, 0), 1);
    assert_int_equal(dp_table_pick(c, st, 2, 0), GW_EINVAL);
    /* Active health check failure and ejection skip endpoints. */
    dp_cluster_state_set_healthy(st, 0, false);
    dp_cluster_state_set_ejected(st, 2, true);
    for (i = 0; i < 10; i++)
        assert_int_equal(dp_table_pick(c, st, 0, 0), 1);
    dp_cluster_state_set_ejected(st, 2, false);
    for (i = 0; i < 100; i++)
        counts[dp_table_pick(c, st, 0, 0)]++;
    assert_int_equal(counts[0], 0);
    assert_int_equal(counts[1], 50);
    assert_int_equal(counts[2], 50);
    /* Nothing eligible: panic mode uses all, by weight. */
    dp_cluster_state_set_healthy(st, 1, false);
    dp_cluster_state_set_healthy(st, 2, false);
    memset(counts, 0, sizeof(counts));
    for (i = 0; i < 70; i++)
        counts[dp_table_pick(c, st, 0, 0)]++;
    assert_int_equal(counts[0], 50);
    assert_int_equal(counts[1], 10);
    dp_table_free(t);
    dp_rtb_free(&f.b);
}

static uint64_t xorshift(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void test_pick_random_least(void **state)
{
    struct fixture f;
    struct dp_table *t;
    const struct dp_cluster *c;
    struct dp_cluster_state *st;
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    int i, counts[3] = {0};

    fixture(&f, 1);
    f.cls[0]->lb_policy =
        ENVOY__CONFIG__CLUSTER__V3__CLUSTER__LB_POLICY__RANDOM;
    f.cls[0]->load_assignment->endpoints[0]->lb_endpoints[1]->health_status =
        ENVOY__CONFIG__CORE__V3__HEALTH_STATUS__DRAINING;
    t = build_ok(&f.in);
    c = dp_table_cluster(t, "whoami"); /* 5, (1 draining), 1 */
    st = dp_cluster_state_of(c);
    for (i = 0; i < 60000; i++)
        counts[dp_table_pick(c, st, 0, xorshift(&seed))]++;
    assert_in_range(counts[0], 49000, 51000);
    assert_int_equal(counts[1], 0);
    assert_in_range(counts[2], 9000, 11000);

    c = dp_table_cluster(t, "api"); /* least request, 2 endpoints */
    st = dp_cluster_state_of(c);
    assert_int_equal(dp_cluster_state_request_begin(st, c, 0), GW_OK);
    assert_int_equal(dp_cluster_state_request_begin(st, c, 0), GW_OK);
    assert_int_equal(dp_cluster_state_inflight(st, 0), 2);
    /* Choices 0 and 1: the idle one wins. */
    assert_int_equal(dp_table_pick(c, st, 0, ((uint64_t)1 << 32) | 0), 1);
    assert_int_equal(dp_table_pick(c, st, 0, ((uint64_t)0 << 32) | 1), 1);
    dp_cluster_state_request_end(st, 0);
    dp_cluster_state_request_end(st, 0);
    assert_int_equal(dp_cluster_state_inflight(st, 0), 0);
    dp_table_free(t);
    dp_rtb_free(&f.b);
}

static void test_circuit_breaker(void **state)
{
    struct fixture f;
    struct dp_table *t;
    const struct dp_cluster *c;
    CL(CircuitBreakers) cb;
    CL(CircuitBreakers__Thresholds) th, *ths[1] = {&th};
    struct dp_cluster_state *st;

    fixture(&f, 1);
    envoy__config__cluster__v3__circuit_breakers__init(&cb);
    envoy__config__cluster__v3__circuit_breakers__thresholds__init(&th);
    th.max_requests = dp_rtb_u32(&f.b, 2);
    cb.n_thresholds = 1, cb.thresholds = ths;
    f.cls[0]->circuit_breakers = &cb;
    t = build_ok(&f.in);
    c = dp_table_cluster(t, "whoami");
    st = dp_cluster_state_of(c);
    assert_int_equal(c->cb.max_requests, 2);
    assert_int_equal(c->cb.max_retries, 3);
    assert_int_equal(dp_cluster_state_request_begin(st, c, 0), GW_OK);
    assert_int_equal(dp_cluster_state_request_begin(st, c, 1), GW_OK);
    assert_int_equal(dp_cluster_state_request_begin(st, c, 2), GW_ETOOBIG);
    assert_int_equal(dp_cluster_state_inflight(st, 2), 0);
    dp_cluster_state_request_end(st, 1);
    assert_int_equal(dp_cluster_state_request_begin(st, c, 2), GW_OK);
    dp_table_free(t);
    dp_rtb_free(&f.b);
}

static void test_state_carried(void **state)
{
    struct fixture f;
    struct dp_table *t1, *t2, *t3;
    struct dp_cluster_state *w1, *a1;

    fixture(&f, 1);
    t1 = build_ok(&f.in);
    w1 = dp_cluster_state_of(dp_table_cluster(t1, "whoami"));
    a1 = dp_cluster_state_of(dp_table_cluster(t1, "api"));
    dp_cluster_state_set_healthy(w1, 0, false);
    /* Same endpoints for "whoami"; "api" loses one. */
    f.clas[0]->endpoints[0]->n_lb_endpoints = 1;
    f.in.prev = t1;
    t2 = build_ok(&f.in);
    assert_ptr_equal(dp_cluster_state_of(dp_table_cluster(t2, "whoami")), w1);
    assert_ptr_not_equal(dp_cluster_state_of(dp_table_cluster(t2, "api")), a1);
    dp_table_free(t1); /* the shared state lives on in t2 */
    assert_false(dp_cluster_state_eligible(w1, 0));
    assert_true(dp_cluster_state_eligible(w1, 1));
    /* A different worker count cannot share per-worker rows. */
    f.in.prev = t2;
    f.in.n_workers = 4;
    t3 = build_ok(&f.in);
    assert_ptr_not_equal(dp_cluster_state_of(dp_table_cluster(t3, "whoami")),
                         w1);
    dp_table_free(t2);
    dp_table_free(t3);
    dp_rtb_free(&f.b);
}

/* ==== RCU: swaps while readers look up ==== */

#define READERS 4
#define SWAPS   200

struct rcu_ctx {
    struct dp_table_slot slot;
    atomic_int stop;
    atomic_long lookups;
    atomic_int started; /* readers that made a lookup */
    int id;
};

struct reader {
    struct rcu_ctx *ctx;
    int id;
};

static void *reader_main(void *arg)
{
    struct reader *r = arg;
    struct dp_router_req q = {.host = {"h", 1}, .path = {"/api/x", 6}};
    long n = 0;

    rcu_register_thread();
    while (!atomic_load(&r->ctx->stop)) {
        const struct dp_table *t = dp_table_current(&r->ctx->slot);
        const struct dp_listener *l = t ? dp_table_listener(t, 0) : NULL;
        const struct dp_route *rt = l ? dp_router_match(l->router, &q) : NULL;
        if (rt != NULL) {
            const struct dp_cluster *c =
                dp_table_cluster_at(t, rt->cluster.index);
            int e =
                dp_table_pick(c, c->state, r->id, (uint64_t)n * 2654435761u);
            assert_true(e >= 0 && (size_t)e < c->n_endpoints);
            assert_int_equal(c->endpoints[e].addr.port, 9000);
            if (n++ == 0) /* the test waits for every reader's first */
                atomic_fetch_add(&r->ctx->started, 1);
        }
        rcu_quiescent_state(); /* as a worker between callbacks */
    }
    rcu_unregister_thread();
    atomic_fetch_add(&r->ctx->lookups, n);
    return NULL;
}

static void test_rcu_swap(void **state)
{
    struct fixture f;
    struct rcu_ctx ctx = {0};
    struct reader rd[READERS];
    pthread_t th[READERS];
    int i;

    fixture(&f, READERS);
    dp_table_slot_init(&ctx.slot);
    assert_null(dp_table_current(&ctx.slot));
    dp_table_publish(&ctx.slot, build_ok(&f.in));
    for (i = 0; i < READERS; i++) {
        rd[i] = (struct reader){&ctx, i};
        assert_int_equal(pthread_create(&th[i], NULL, reader_main, &rd[i]), 0);
    }
    while (atomic_load(&ctx.started) < READERS) /* readers are reading */
        sched_yield();
    for (i = 0; i < SWAPS; i++) {
        /* Alternate the endpoint count so states are replaced too. */
        f.clas[0]->endpoints[0]->n_lb_endpoints = 1 + (size_t)(i % 2);
        f.in.prev = dp_table_current(&ctx.slot);
        dp_table_publish(&ctx.slot, build_ok(&f.in));
    }
    atomic_store(&ctx.stop, 1);
    for (i = 0; i < READERS; i++)
        pthread_join(th[i], NULL);
    dp_table_slot_deinit(&ctx.slot);
    assert_null(dp_table_current(&ctx.slot));
    assert_true(atomic_load(&ctx.lookups) > 0);
    dp_rtb_free(&f.b);
}

/* RING_HASH / MAGLEV: accepted; a key keeps its endpoint, and only the keys
 * of an endpoint that goes away move. */
static void test_pick_hash(void **state)
{
    struct fixture f;
    struct dp_table *t;
    const struct dp_cluster *c;
    struct dp_cluster_state *st;
    int before[3000], counts[3] = {0}, moved = 0;

    fixture(&f, 1);
    f.cls[0]->lb_policy =
        ENVOY__CONFIG__CLUSTER__V3__CLUSTER__LB_POLICY__RING_HASH;
    f.cls[1]->lb_policy =
        ENVOY__CONFIG__CLUSTER__V3__CLUSTER__LB_POLICY__MAGLEV;
    t = build_ok(&f.in);
    c = dp_table_cluster(t, "whoami"); /* weights 5, 1, 1 */
    st = dp_cluster_state_of(c);
    assert_int_equal(c->lb, DP_LB_RING_HASH);
    assert_true(dp_table_lb_hashes(c));
    assert_int_equal(dp_table_cluster(t, "api")->lb, DP_LB_MAGLEV);
    assert_in_range(dp_table_pick(c, st, 0, 7), 0, 2); /* no hash: RR */
    for (int k = 0; k < 3000; k++) {
        before[k] =
            dp_table_pick_hash(c, st, (uint64_t)k * 0x9e3779b97f4a7c15ull);
        assert_int_equal(
            dp_table_pick_hash(c, st, (uint64_t)k * 0x9e3779b97f4a7c15ull),
            before[k]);
        counts[before[k]]++;
    }
    assert_in_range(counts[0], 1900, 2400); /* 5/7 of 3000 = 2143 */
    assert_in_range(counts[1], 300, 560);
    dp_cluster_state_set_ejected(st, 1, true);
    for (int k = 0; k < 3000; k++) {
        int now =
            dp_table_pick_hash(c, st, (uint64_t)k * 0x9e3779b97f4a7c15ull);
        assert_int_not_equal(now, 1);
        if (before[k] != 1)
            assert_int_equal(now, before[k]);
        else
            moved++;
    }
    assert_int_equal(moved, counts[1]);
    dp_table_free(t);
    dp_rtb_free(&f.b);
}

/* With a registry, each RouteConfiguration gets its filter chains; a
 * filter config that does not compile fails the whole build. */
static void test_filters(void **state)
{
    struct fixture f;
    struct dp_table *t;
    struct dp_filter_registry *reg = dp_filter_registry_new();
    Traefikee__Filters__V1__Failover fo =
        TRAEFIKEE__FILTERS__V1__FAILOVER__INIT;
    RT(Route__TypedPerFilterConfigEntry) * e;
    RT(Route) * rt;
    const struct dp_route *m;
    struct dp_router_req q = {.host = {"x", 1}, .path = {"/", 1}};

    fixture(&f, 1);
    t = build_ok(&f.in);
    assert_null(dp_table_filters(t, "web")); /* no registry */
    dp_table_free(t);
    f.in.filters = reg;
    rt = f.rcs[0]->virtual_hosts[0]->routes[1];
    e = dp_rtb_alloc(&f.b, sizeof(*e));
    envoy__config__route__v3__route__typed_per_filter_config_entry__init(e);
    e->key = "traefikee.filters.failover";
    fo.fallback_cluster = "nope";
    e->value = any(&f.b, "type.googleapis.com/traefikee.filters.v1.Failover",
                   &fo.base);
    dp_rtb_push(&f.b, &rt->typed_per_filter_config,
                &rt->n_typed_per_filter_config, e);
    expect_build_error(&f, "route_config \"web\": virtual_host \"whoami\" "
                           "route 2: traefikee.filters.failover: "
                           "fallback_cluster \"nope\" is not a known cluster");
    fo.fallback_cluster = "api";
    e->value = any(&f.b, "type.googleapis.com/traefikee.filters.v1.Failover",
                   &fo.base);
    t = build_ok(&f.in);
    /* nothing of the messages is kept: they are freed after the build */
    f.rcs[0]->virtual_hosts[0]->name = "changed";
    assert_non_null(dp_table_filters(t, "web"));
    assert_ptr_equal(dp_table_listener(t, 0)->filters,
                     dp_table_filters(t, "web"));
    assert_null(dp_table_filters(t, "nope"));
    m = dp_router_match(dp_table_router(t, "web"), &q);
    assert_int_equal(dp_filter_failover_cluster(
                         dp_filter_set_get(dp_table_filters(t, "web"), m)),
                     (int)dp_table_cluster(t, "api")->index);
    dp_table_free(t);
    dp_filter_registry_free(reg);
    dp_rtb_free(&f.b);
}

/* An HTTP health check with alt_port, host and headers: all kept in the
 * compiled spec; headers that could split the probe request rejected. */
static CORE(HeaderValueOption) *
    hvo(struct dp_rtb *b, const char *k, const char *v)
{
    CORE(HeaderValueOption) *o = dp_rtb_alloc(b, sizeof(*o));
    CORE(HeaderValue) *h = dp_rtb_alloc(b, sizeof(*h));

    envoy__config__core__v3__header_value_option__init(o);
    envoy__config__core__v3__header_value__init(h);
    h->key = dp_rtb_str(b, k);
    h->value = dp_rtb_str(b, v);
    o->header = h;
    return o;
}

static CORE(HealthCheck) * http_hc(struct dp_rtb *b)
{
    CORE(HealthCheck) *h = dp_rtb_alloc(b, sizeof(*h));
    CORE(HealthCheck__HttpHealthCheck) *hh = dp_rtb_alloc(b, sizeof(*hh));
    Google__Protobuf__Duration *d = dp_rtb_alloc(b, sizeof(*d));

    envoy__config__core__v3__health_check__init(h);
    envoy__config__core__v3__health_check__http_health_check__init(hh);
    google__protobuf__duration__init(d);
    d->seconds = 1;
    h->timeout = h->interval = d;
    h->alt_port = dp_rtb_u32(b, 9100);
    hh->path = dp_rtb_str(b, "/hc");
    hh->host = dp_rtb_str(b, "h.test");
    dp_rtb_push(b, &hh->request_headers_to_add, &hh->n_request_headers_to_add,
                hvo(b, "X-Probe", "yes"));
    dp_rtb_push(b, &hh->request_headers_to_add, &hh->n_request_headers_to_add,
                hvo(b, "X-Empty", ""));
    h->health_checker_case =
        ENVOY__CONFIG__CORE__V3__HEALTH_CHECK__HEALTH_CHECKER_HTTP_HEALTH_CHECK;
    h->http_health_check = hh;
    return h;
}

static Envoy__Type__V3__Int64Range *range(struct dp_rtb *b, int64_t start,
                                          int64_t end)
{
    Envoy__Type__V3__Int64Range *r = dp_rtb_alloc(b, sizeof(*r));

    envoy__type__v3__int64_range__init(r);
    r->start = start, r->end = end;
    return r;
}

/* method and expected_statuses are kept; CONNECT and ranges outside
 * [100, 600) are refused. */
static void hc_method_status(struct fixture *f, CORE(HealthCheck) * h)
{
    CORE(HealthCheck__HttpHealthCheck) *hh = h->http_health_check;
    const struct dp_health_check *hc;
    struct dp_table *t;

    hh->method = ENVOY__CONFIG__CORE__V3__REQUEST_METHOD__HEAD;
    dp_rtb_push(&f->b, &hh->expected_statuses, &hh->n_expected_statuses,
                range(&f->b, 204, 205));
    dp_rtb_push(&f->b, &hh->expected_statuses, &hh->n_expected_statuses,
                range(&f->b, 300, 400));
    t = build_ok(&f->in);
    hc = dp_table_cluster(t, "whoami")->health_checks;
    assert_string_equal(hc->method, "HEAD");
    assert_int_equal(hc->n_statuses, 2);
    assert_int_equal(hc->statuses[0].start, 204);
    assert_int_equal(hc->statuses[0].end, 205);
    assert_int_equal(hc->statuses[1].start, 300);
    assert_int_equal(hc->statuses[1].end, 400);
    dp_table_free(t);

    hh->method = ENVOY__CONFIG__CORE__V3__REQUEST_METHOD__CONNECT;
    expect_build_error(f, "cluster \"whoami\": health_checks[0]: "
                          "http_health_check: method 6 is not allowed "
                          "(CONNECT or unknown)");
    hh->method = (CORE(RequestMethod))42;
    expect_build_error(f, "cluster \"whoami\": health_checks[0]: "
                          "http_health_check: method 42 is not allowed "
                          "(CONNECT or unknown)");
    hh->method = ENVOY__CONFIG__CORE__V3__REQUEST_METHOD__POST;
    hh->expected_statuses[1]->end = 601;
    expect_build_error(f, "cluster \"whoami\": health_checks[0]: "
                          "http_health_check: expected_statuses[1]: want "
                          "100 <= start < end <= 600");
    hh->expected_statuses[1]->start = 99, hh->expected_statuses[1]->end = 200;
    expect_build_error(f, "cluster \"whoami\": health_checks[0]: "
                          "http_health_check: expected_statuses[1]: want "
                          "100 <= start < end <= 600");
    hh->expected_statuses[1]->start = 300, hh->expected_statuses[1]->end = 300;
    expect_build_error(f, "cluster \"whoami\": health_checks[0]: "
                          "http_health_check: expected_statuses[1]: want "
                          "100 <= start < end <= 600");
    hh->n_expected_statuses = 0;
    hh->method = ENVOY__CONFIG__CORE__V3__REQUEST_METHOD__METHOD_UNSPECIFIED;
}

static void test_health_check(void **state)
{
    struct fixture f;
    struct dp_table *t;
    const struct dp_health_check *hc;
    CORE(HealthCheck) * h;
    CORE(HeaderValue) * hv;

    (void)state;
    fixture(&f, 1);
    h = http_hc(&f.b);
    dp_rtb_push(&f.b, &f.cls[0]->health_checks, &f.cls[0]->n_health_checks, h);
    t = build_ok(&f.in);
    assert_int_equal(dp_table_cluster(t, "whoami")->n_health_checks, 1);
    hc = dp_table_cluster(t, "whoami")->health_checks;
    assert_int_equal(hc->kind, DP_HC_HTTP);
    assert_int_equal(hc->port, 9100);
    assert_int_equal(hc->timeout_ms, 1000);
    assert_string_equal(hc->path, "/hc");
    assert_string_equal(hc->host, "h.test");
    assert_int_equal(hc->n_headers, 2);
    assert_string_equal(hc->headers[0].name, "X-Probe");
    assert_string_equal(hc->headers[0].value, "yes");
    assert_string_equal(hc->headers[1].name, "X-Empty");
    assert_string_equal(hc->headers[1].value, "");
    assert_string_equal(hc->method, "GET");
    assert_int_equal(hc->n_statuses, 0);
    dp_table_free(t);

    hc_method_status(&f, h);

    h->alt_port = NULL;
    t = build_ok(&f.in);
    assert_int_equal(dp_table_cluster(t, "whoami")->health_checks->port, 0);
    dp_table_free(t);

    h->alt_port = dp_rtb_u32(&f.b, 65536);
    expect_build_error(&f, "cluster \"whoami\": health_checks[0]: alt_port "
                           "65536 out of range");
    h->alt_port = NULL;
    hv = h->http_health_check->request_headers_to_add[1]->header;
    hv->value = "a\r\nX-Injected: 1";
    expect_build_error(&f, "cluster \"whoami\": health_checks[0]: "
                           "http_health_check: request_headers_to_add[1]: "
                           "header \"X-Empty\": CR or LF in the value");
    hv->value = "";
    hv->key = "Bad Name";
    expect_build_error(&f, "cluster \"whoami\": health_checks[0]: "
                           "http_health_check: request_headers_to_add[1]: "
                           "the header name must be an HTTP token");
    hv->key = "X-Empty";
    h->http_health_check->host = "a\nb";
    expect_build_error(&f, "cluster \"whoami\": health_checks[0]: "
                           "http_health_check: space, CR or LF in path or "
                           "host");
    dp_rtb_free(&f.b);
}

static CORE(HealthCheck) * grpc_hc(struct dp_rtb *b)
{
    CORE(HealthCheck) *h = dp_rtb_alloc(b, sizeof(*h));
    CORE(HealthCheck__GrpcHealthCheck) *g = dp_rtb_alloc(b, sizeof(*g));
    Google__Protobuf__Duration *d = dp_rtb_alloc(b, sizeof(*d));

    envoy__config__core__v3__health_check__init(h);
    envoy__config__core__v3__health_check__grpc_health_check__init(g);
    google__protobuf__duration__init(d);
    d->nanos = 200000000;
    h->timeout = h->interval = d;
    g->authority = dp_rtb_str(b, "g.test");
    dp_rtb_push(b, &g->initial_metadata, &g->n_initial_metadata,
                hvo(b, "X-Probe", "yes"));
    h->health_checker_case =
        ENVOY__CONFIG__CORE__V3__HEALTH_CHECK__HEALTH_CHECKER_GRPC_HEALTH_CHECK;
    h->grpc_health_check = g;
    return h;
}

/* grpc_health_check keeps service, authority and metadata; tcp is kept as
 * a kind (not run); a check without a checker is refused. */
static void test_grpc_health_check(void **state)
{
    struct fixture f;
    struct dp_table *t;
    const struct dp_health_check *hc;
    CORE(HealthCheck) * h;

    (void)state;
    fixture(&f, 1);
    h = grpc_hc(&f.b);
    dp_rtb_push(&f.b, &f.cls[0]->health_checks, &f.cls[0]->n_health_checks, h);
    t = build_ok(&f.in);
    hc = dp_table_cluster(t, "whoami")->health_checks;
    assert_int_equal(hc->kind, DP_HC_GRPC);
    assert_int_equal(hc->interval_ms, 200);
    assert_int_equal(hc->port, 0);
    assert_string_equal(hc->service, "");
    assert_string_equal(hc->authority, "g.test");
    assert_int_equal(hc->n_headers, 1);
    assert_string_equal(hc->headers[0].name, "X-Probe");
    assert_string_equal(hc->headers[0].value, "yes");
    dp_table_free(t);

    h->grpc_health_check->authority = "";
    h->grpc_health_check->service_name = "echo.Echo";
    t = build_ok(&f.in);
    hc = dp_table_cluster(t, "whoami")->health_checks;
    assert_string_equal(hc->authority, "");
    assert_string_equal(hc->service, "echo.Echo");
    dp_table_free(t);

    h->grpc_health_check->authority = "a b";
    expect_build_error(&f, "cluster \"whoami\": health_checks[0]: "
                           "grpc_health_check: space, CR or LF in authority");
    h->grpc_health_check->authority = "";
    h->grpc_health_check->initial_metadata[0]->header->value = "x\ny";
    expect_build_error(&f, "cluster \"whoami\": health_checks[0]: "
                           "grpc_health_check: initial_metadata[0]: header "
                           "\"X-Probe\": CR or LF in the value");
    h->grpc_health_check->initial_metadata[0]->header->value = "yes";

    h->health_checker_case =
        ENVOY__CONFIG__CORE__V3__HEALTH_CHECK__HEALTH_CHECKER_TCP_HEALTH_CHECK;
    h->tcp_health_check = NULL;
    t = build_ok(&f.in);
    assert_int_equal(dp_table_cluster(t, "whoami")->health_checks->kind,
                     DP_HC_TCP);
    dp_table_free(t);
    h->health_checker_case =
        ENVOY__CONFIG__CORE__V3__HEALTH_CHECK__HEALTH_CHECKER__NOT_SET;
    expect_build_error(&f, "cluster \"whoami\": health_checks[0]: no health "
                           "checker");
    dp_rtb_free(&f.b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_build),
        cmocka_unit_test(test_cluster_lookup),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_listen_host),
        cmocka_unit_test(test_pick_rr),
        cmocka_unit_test(test_pick_random_least),
        cmocka_unit_test(test_circuit_breaker),
        cmocka_unit_test(test_state_carried),
        cmocka_unit_test(test_rcu_swap),
        cmocka_unit_test(test_pick_hash),
        cmocka_unit_test(test_filters),
        cmocka_unit_test(test_health_check),
        cmocka_unit_test(test_grpc_health_check),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
