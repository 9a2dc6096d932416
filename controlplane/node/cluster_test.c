/*
 * cluster_test.c -- unit tests of the HTTP server's view of the cluster
 * (cluster.c): heartbeats become nodes (roles, addresses, health, NACKs),
 * a node whose heartbeat expired stays listed as unhealthy, the leader
 * flag follows the leader, the admin hash source, traffic summed over the
 * data nodes' /stats digests. A store that never
 * connects stands in (no Redis needed).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "controlplane/node/node_int.h"
#include "envoy/config/cluster/v3/cluster.pb-c.h"
#include "envoy/config/endpoint/v3/endpoint.pb-c.h"
#include "envoy/extensions/transport_sockets/tls/v3/tls.pb-c.h"

struct fixture {
    uv_loop_t loop;
    struct cp_node_flags flags;
    struct cp_node node;
    struct cp_http_source src;
    char info[4][512];
};

static int64_t wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct cp_store_config sc = {.redis = "127.0.0.1:1", .node_id = "cp-1"};
    struct cp_store_callbacks cbs = {0};
    char err[CM_ERR_LEN];

    assert_non_null(f);
    uv_loop_init(&f->loop);
    f->flags.node_id = "cp-1";
    f->flags.data_dir = "/nonexistent";
    f->node.flags = &f->flags;
    f->node.loop = &f->loop;
    f->node.store = cp_store_new(&f->loop, &sc, &cbs, err, sizeof(err));
    assert_non_null(f->node.store);
    assert_int_equal(cp_node__view_new(&f->node), 0);
    cp_node__view_source(&f->node, &f->src);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    cp_store_close(f->node.store);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    cp_node__view_free(&f->node);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    free(f);
    return 0;
}

static const struct cp_http_node *find(struct fixture *f, const char *name,
                                       size_t *count)
{
    const struct cp_http_node *nodes = NULL;
    size_t n = f->src.nodes(f->src.arg, &nodes);

    *count = n;
    for (size_t i = 0; i < n; i++)
        if (strcmp(nodes[i].name, name) == 0)
            return &nodes[i];
    return NULL;
}

/* Two control nodes, a data node that NACKed, revision metadata and a
 * role the view ignores. */
static void list_all(struct fixture *f, int64_t ts)
{
    struct cp_store_node hb[5] = {
        {"cp-1", "control", f->info[0]},
        {"cp-2", "control", f->info[1]},
        {"dn-1", "data", f->info[2]},
        {"@rev:7", "revision", f->info[3]},
        {"x", "other", "{}"},
    };

    snprintf(f->info[0], 512,
             "{\"grpc\":\"127.0.0.1:4242\",\"http\":\"127.0.0.1:8099\","
             "\"revision\":7,\"ts\":%lld}",
             (long long)ts);
    snprintf(f->info[1], 512,
             "{\"grpc\":\"127.0.0.1:4243\",\"http\":\"127.0.0.1:8100\","
             "\"revision\":6,\"ts\":%lld}",
             (long long)ts);
    snprintf(f->info[2], 512,
             "{\"peer\":\"ipv4:10.0.0.9:5555\",\"revision\":6,\"nack\":"
             "\"rds: bad route\",\"nack_rev\":7,\"ts\":%lld}",
             (long long)ts);
    snprintf(f->info[3], 512,
             "{\"rev\":7,\"ts\":1000,\"source\":\"apply\",\"summary\":"
             "\"+router a\"}");
    cp_node__view_listed(&f->node, hb, 5);
}

static void test_nodes_from_heartbeats(void **state)
{
    struct fixture *f = *state;
    const struct cp_http_node *cp1, *cp2, *dn;
    int64_t now = wall_ms();
    size_t n;

    list_all(f, now);
    cp1 = find(f, "cp-1", &n);
    assert_int_equal(n, 3); /* "revision" and "other" are not nodes */
    assert_non_null(cp1);
    assert_string_equal(cp1->role, CP_HTTP_ROLE_CONTROL);
    assert_true(cp1->healthy);
    assert_false(cp1->leader); /* the store knows no leader */
    assert_string_equal(cp1->address, "127.0.0.1:4242");
    assert_string_equal(cp1->http_address, "127.0.0.1:8099");
    assert_int_equal(cp1->revision, 7);
    assert_int_equal(cp1->last_seen_ms, now);
    assert_null(cp1->nack_error);
    cp2 = find(f, "cp-2", &n);
    assert_non_null(cp2);
    assert_string_equal(cp2->http_address, "127.0.0.1:8100");
    dn = find(f, "dn-1", &n);
    assert_non_null(dn);
    assert_string_equal(dn->role, CP_HTTP_ROLE_DATA);
    assert_string_equal(dn->address, "10.0.0.9:5555");
    assert_null(dn->http_address);
    assert_int_equal(dn->revision, 6);
    assert_int_equal(dn->nack_revision, 7);
    assert_string_equal(dn->nack_error, "rds: bad route");

    /* the leader flag follows the leader */
    cp_node__view_leader(&f->node, "cp-2");
    assert_false(find(f, "cp-1", &n)->leader);
    assert_true(find(f, "cp-2", &n)->leader);
    assert_false(find(f, "dn-1", &n)->leader);

    /* a stale heartbeat is unhealthy */
    list_all(f, now - 10000);
    assert_false(find(f, "cp-1", &n)->healthy);
    assert_false(find(f, "dn-1", &n)->healthy);
}

static void test_expired_node_kept_unhealthy(void **state)
{
    struct fixture *f = *state;
    struct cp_store_node only[1] = {{"cp-1", "control", NULL}};
    const struct cp_http_node *dn;
    size_t n;

    list_all(f, wall_ms());
    only[0].info = f->info[0];
    cp_node__view_listed(&f->node, only, 1);
    dn = find(f, "dn-1", &n);
    assert_int_equal(n, 3);
    assert_non_null(dn);
    assert_false(dn->healthy);
    assert_string_equal(dn->address, "10.0.0.9:5555"); /* as last seen */
    assert_true(find(f, "cp-1", &n)->healthy);
    assert_false(find(f, "cp-2", &n)->healthy);
    /* and healthy again when it beats again */
    list_all(f, wall_ms());
    assert_true(find(f, "dn-1", &n)->healthy);
    assert_int_equal(n, 3);
}

static void test_admin_hash_source(void **state)
{
    struct fixture *f = *state;

    assert_null(f->src.admin_hash(f->src.arg));
    cp_node__admin_written(&f->node, "$scrypt$N=1024,r=8,p=1$AAAA$BBBB");
    assert_string_equal(f->src.admin_hash(f->src.arg),
                        "$scrypt$N=1024,r=8,p=1$AAAA$BBBB");
    /* nothing served yet: no revisions, and the callbacks are set */
    assert_non_null(f->src.config);
    assert_non_null(f->src.traffic);
    assert_non_null(f->src.endpoints);
}

static const struct cp_http_router_traffic *
router(struct fixture *f, const char *name, size_t *count)
{
    const struct cp_http_router_traffic *t = NULL;
    size_t n = f->src.traffic(f->src.arg, &t);

    *count = n;
    for (size_t i = 0; i < n; i++)
        if (strcmp(t[i].router, name) == 0)
            return &t[i];
    return NULL;
}

/* Two data nodes with /stats digests (dn-2's optional). */
static void list_stats(struct fixture *f, int64_t ts, int api2, bool with2)
{
    struct cp_store_node hb[2] = {{"dn-1", "data", f->info[0]},
                                  {"dn-2", "data", f->info[1]}};

    snprintf(f->info[0], 512,
             "{\"peer\":\"ipv4:10.0.0.9:5555\",\"admin\":\"10.0.0.9:9901\","
             "\"ts\":%lld,\"stats\":{\"routers\":{\"api\":[10,1,5000],"
             "\"web\":[3,0,300]},\"endpoints\":[],\"entry\":"
             "[\"10.0.0.9:8000\",\"10.0.0.9:8443\"]}}",
             (long long)ts);
    if (with2)
        snprintf(f->info[1], 512,
                 "{\"peer\":\"ipv4:10.0.0.8:5555\",\"ts\":%lld,\"stats\":"
                 "{\"routers\":{\"api\":[%d,0,1000]},\"endpoints\":[]}}",
                 (long long)ts, api2);
    else
        snprintf(f->info[1], 512,
                 "{\"peer\":\"ipv4:10.0.0.8:5555\",\"ts\":%lld}",
                 (long long)ts);
    cp_node__view_listed(&f->node, hb, 2);
}

static void test_traffic_summed(void **state)
{
    struct fixture *f = *state;
    const struct cp_http_router_traffic *api, *web;
    const struct cp_http_node *dn;
    int64_t now = wall_ms();
    size_t n;

    assert_null(router(f, "api", &n));
    assert_int_equal(n, 0);
    list_stats(f, now, 5, true);
    api = router(f, "api", &n);
    assert_int_equal(n, 2);
    assert_non_null(api);
    assert_int_equal(api->requests, 15);
    assert_int_equal(api->errors, 1);
    assert_int_equal(api->latency_us, 6000);
    web = router(f, "web", &n);
    assert_non_null(web);
    assert_int_equal(web->requests, 3);
    /* the admin address is the data node's address, its entry points its
     * HTTP address; without one, the xDS peer */
    dn = find(f, "dn-1", &n);
    assert_string_equal(dn->address, "10.0.0.9:9901");
    assert_string_equal(dn->http_address, "10.0.0.9:8000, 10.0.0.9:8443");
    dn = find(f, "dn-2", &n);
    assert_string_equal(dn->address, "10.0.0.8:5555");
    assert_null(dn->http_address);
    /* dn-2 without a digest this time: its last counters still count */
    list_stats(f, now, 0, false);
    assert_int_equal(router(f, "api", &n)->requests, 15);
    list_stats(f, now, 7, true);
    assert_int_equal(router(f, "api", &n)->requests, 17);
    /* dn-1 keeps its entry points while a digest is missing */
    assert_string_equal(find(f, "dn-1", &n)->http_address,
                        "10.0.0.9:8000, 10.0.0.9:8443");
    /* no configuration: no endpoints */
    {
        const struct cp_http_endpoint *ep = NULL;
        assert_int_equal(f->src.endpoints(f->src.arg, &ep), 0);
    }
}

/* api@internal: this node (an unspecified HTTP host becomes its gRPC
 * host) and the healthy control nodes, sorted; the assignment has them. */
static void test_api_endpoints(void **state)
{
    struct fixture *f = *state;
    struct cp_xds_snapshot *snap = cp_xds_snapshot_new("1");
    const char *name, *ver;
    const uint8_t *data;
    size_t len;
    char *eps;

    snprintf(f->node.http_addr, sizeof(f->node.http_addr), "0.0.0.0:8101");
    snprintf(f->node.grpc_addr, sizeof(f->node.grpc_addr), "10.0.0.1:4244");
    list_all(f, wall_ms());
    eps = cp_node__api_endpoints(&f->node);
    assert_string_equal(eps, "10.0.0.1 8101\n127.0.0.1 8099\n127.0.0.1 8100\n");
    assert_non_null(snap);
    assert_int_equal(cp_node__api_add(snap, eps), 0);
    long i = cp_xds_snapshot_find(snap, CP_XDS_ENDPOINT, "api@internal");
    assert_true(i >= 0);
    assert_int_equal(cp_xds_snapshot_at(snap, CP_XDS_ENDPOINT, (size_t)i, &name,
                                        &ver, &data, &len),
                     0);
    Envoy__Config__Endpoint__V3__ClusterLoadAssignment *cla =
        envoy__config__endpoint__v3__cluster_load_assignment__unpack(NULL, len,
                                                                     data);
    assert_non_null(cla);
    assert_string_equal(cla->cluster_name, "api@internal");
    assert_int_equal(cla->n_endpoints, 1);
    assert_int_equal(cla->endpoints[0]->n_lb_endpoints, 3);
    const Envoy__Config__Core__V3__SocketAddress *sa =
        cla->endpoints[0]->lb_endpoints[2]->endpoint->address->socket_address;
    assert_string_equal(sa->address, "127.0.0.1");
    assert_int_equal(sa->port_value, 8100);
    protobuf_c_message_free_unpacked(&cla->base, NULL);
    assert_false(cp_node__api_used(snap));
    cp_xds_snapshot_put(snap);
    free(eps);

    list_all(f, wall_ms() - 60000); /* every heartbeat expired */
    eps = cp_node__api_endpoints(&f->node);
    assert_string_equal(eps, "10.0.0.1 8101\n");
    free(eps);
}

/* Secure mode: the api@internal Cluster goes over TLS trusting the cluster
 * CA (inline) and checking traefikee-control, its health check kept (the
 * data node runs it over the same TLS); the other resources and the
 * version are kept; insecure (NULL CA) leaves the snapshot untouched. */
static void test_api_tls(void **state)
{
    static const char ca[] = "-----BEGIN CERTIFICATE-----\nMIIB\n"
                             "-----END CERTIFICATE-----\n";
    struct cp_xds_snapshot *snap = cp_xds_snapshot_new("7"), *before;
    Envoy__Config__Cluster__V3__Cluster c, *cl;
    Envoy__Config__Core__V3__HealthCheck hc, *hcs[1] = {&hc};
    Envoy__Extensions__TransportSockets__Tls__V3__UpstreamTlsContext *u;
    const char *name, *ver;
    const uint8_t *data;
    size_t len;
    long i;

    (void)state;
    envoy__config__cluster__v3__cluster__init(&c);
    envoy__config__core__v3__health_check__init(&hc);
    c.name = "api@internal";
    c.health_checks = hcs;
    c.n_health_checks = 1;
    assert_int_equal(cp_xds_snapshot_add(snap, CP_XDS_CLUSTER, c.name, &c.base),
                     0);
    c.name = "other";
    assert_int_equal(cp_xds_snapshot_add(snap, CP_XDS_CLUSTER, c.name, &c.base),
                     0);
    assert_int_equal(cp_node__api_add(snap, "127.0.0.1 8100\n"), 0);
    before = snap;
    assert_int_equal(cp_node__api_tls(&snap, NULL), 0);
    assert_ptr_equal(snap, before);
    assert_int_equal(cp_node__api_tls(&snap, ca), 0);
    assert_ptr_not_equal(snap, before); /* before was put */
    assert_string_equal(cp_xds_snapshot_version(snap), "7");
    assert_int_equal(cp_xds_snapshot_count(snap, CP_XDS_CLUSTER), 2);
    assert_true(cp_xds_snapshot_find(snap, CP_XDS_ENDPOINT, "api@internal") >=
                0);
    i = cp_xds_snapshot_find(snap, CP_XDS_CLUSTER, "api@internal");
    assert_int_equal(cp_xds_snapshot_at(snap, CP_XDS_CLUSTER, (size_t)i, &name,
                                        &ver, &data, &len),
                     0);
    cl = envoy__config__cluster__v3__cluster__unpack(NULL, len, data);
    assert_non_null(cl);
    assert_int_equal(cl->n_health_checks, 1);
    assert_non_null(cl->transport_socket);
    assert_string_equal(cl->transport_socket->name,
                        "envoy.transport_sockets.tls");
    assert_string_equal(cl->transport_socket->typed_config->type_url,
                        "type.googleapis.com/envoy.extensions.transport_"
                        "sockets.tls.v3.UpstreamTlsContext");
    u = envoy__extensions__transport_sockets__tls__v3__upstream_tls_context__unpack(
        NULL, cl->transport_socket->typed_config->value.len,
        cl->transport_socket->typed_config->value.data);
    assert_non_null(u);
    assert_string_equal(u->sni, "traefikee-control");
    assert_string_equal(
        u->common_tls_context->validation_context->trusted_ca->inline_string,
        ca);
    protobuf_c_message_free_unpacked(&u->base, NULL);
    protobuf_c_message_free_unpacked(&cl->base, NULL);
    cp_xds_snapshot_put(snap);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_nodes_from_heartbeats, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_expired_node_kept_unhealthy, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_admin_hash_source, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_traffic_summed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_api_endpoints, setup, teardown),
        cmocka_unit_test(test_api_tls),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
