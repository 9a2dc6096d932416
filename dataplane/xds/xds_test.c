/*
 * xds_test.c -- unit tests of the pure parts of the xDS client: backoff
 * schedule, cache file round trip (torn and corrupt images rejected),
 * subscription sets, make-before-break bookkeeping, response decoding and
 * request encoding, the --control parser.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dataplane/xds/xds.h"
#include "dataplane/xds/xds_int.h"
#include "envoy/extensions/transport_sockets/tls/v3/tls.pb-c.h"
#include "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.pb-c.h"
#include "envoy/service/discovery/v3/discovery.pb-c.h"

/* ==== resource builders ==== */

struct blob {
    uint8_t *p;
    size_t n;
};

static uint8_t *pack(const ProtobufCMessage *m, size_t *len)
{
    *len = protobuf_c_message_get_packed_size(m);
    uint8_t *p = malloc(*len + 1);
    assert_non_null(p);
    protobuf_c_message_pack(m, p);
    return p;
}

/* A listener whose HCM (in a filter chain) uses RDS <rds>. */
/* A listener; with <secret>, its chain terminates TLS with that SDS
 * certificate. */
static struct blob listener_tls_bytes(const char *name, const char *rds,
                                      const char *secret)
{
    Envoy__Extensions__Filters__Network__HttpConnectionManager__V3__Rds r =
        ENVOY__EXTENSIONS__FILTERS__NETWORK__HTTP_CONNECTION_MANAGER__V3__RDS__INIT;
    r.route_config_name = (char *)rds;
    Envoy__Extensions__Filters__Network__HttpConnectionManager__V3__HttpConnectionManager
        h = ENVOY__EXTENSIONS__FILTERS__NETWORK__HTTP_CONNECTION_MANAGER__V3__HTTP_CONNECTION_MANAGER__INIT;
    h.route_specifier_case =
        ENVOY__EXTENSIONS__FILTERS__NETWORK__HTTP_CONNECTION_MANAGER__V3__HTTP_CONNECTION_MANAGER__ROUTE_SPECIFIER_RDS;
    h.rds = &r;
    size_t hl;
    uint8_t *hb = pack(&h.base, &hl);
    Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
    any.type_url = "type.googleapis.com/envoy.extensions.filters.network."
                   "http_connection_manager.v3.HttpConnectionManager";
    any.value.data = hb;
    any.value.len = hl;
    Envoy__Config__Listener__V3__Filter f =
        ENVOY__CONFIG__LISTENER__V3__FILTER__INIT;
    f.name = "envoy.filters.network.http_connection_manager";
    f.config_type_case =
        ENVOY__CONFIG__LISTENER__V3__FILTER__CONFIG_TYPE_TYPED_CONFIG;
    f.typed_config = &any;
    Envoy__Config__Listener__V3__Filter *fs[1] = {&f};
    Envoy__Config__Listener__V3__FilterChain fc =
        ENVOY__CONFIG__LISTENER__V3__FILTER_CHAIN__INIT;
    fc.n_filters = 1;
    fc.filters = fs;
    Envoy__Extensions__TransportSockets__Tls__V3__SdsSecretConfig sc =
        ENVOY__EXTENSIONS__TRANSPORT_SOCKETS__TLS__V3__SDS_SECRET_CONFIG__INIT;
    Envoy__Extensions__TransportSockets__Tls__V3__SdsSecretConfig *scs[1] = {
        &sc};
    Envoy__Extensions__TransportSockets__Tls__V3__CommonTlsContext ct =
        ENVOY__EXTENSIONS__TRANSPORT_SOCKETS__TLS__V3__COMMON_TLS_CONTEXT__INIT;
    Envoy__Extensions__TransportSockets__Tls__V3__DownstreamTlsContext d =
        ENVOY__EXTENSIONS__TRANSPORT_SOCKETS__TLS__V3__DOWNSTREAM_TLS_CONTEXT__INIT;
    Google__Protobuf__Any dany = GOOGLE__PROTOBUF__ANY__INIT;
    Envoy__Config__Core__V3__TransportSocket ts =
        ENVOY__CONFIG__CORE__V3__TRANSPORT_SOCKET__INIT;
    uint8_t *db = NULL;
    if (secret != NULL) {
        size_t dl;
        sc.name = (char *)secret;
        ct.n_tls_certificate_sds_secret_configs = 1;
        ct.tls_certificate_sds_secret_configs = scs;
        d.common_tls_context = &ct;
        db = pack(&d.base, &dl);
        dany.type_url = "type.googleapis.com/envoy.extensions.transport_"
                        "sockets.tls.v3.DownstreamTlsContext";
        dany.value.data = db;
        dany.value.len = dl;
        ts.name = "envoy.transport_sockets.tls";
        ts.config_type_case =
            ENVOY__CONFIG__CORE__V3__TRANSPORT_SOCKET__CONFIG_TYPE_TYPED_CONFIG;
        ts.typed_config = &dany;
        fc.transport_socket = &ts;
    }
    Envoy__Config__Listener__V3__FilterChain *fcs[1] = {&fc};
    Envoy__Config__Listener__V3__Listener l =
        ENVOY__CONFIG__LISTENER__V3__LISTENER__INIT;
    l.name = (char *)name;
    l.n_filter_chains = 1;
    l.filter_chains = fcs;
    struct blob out;
    out.p = pack(&l.base, &out.n);
    free(hb);
    free(db);
    return out;
}

static struct blob listener_bytes(const char *name, const char *rds)
{
    return listener_tls_bytes(name, rds, NULL);
}

/* An API listener (proxyless gRPC) whose HCM uses RDS <rds>. */
static struct blob api_listener_bytes(const char *name, const char *rds)
{
    Envoy__Extensions__Filters__Network__HttpConnectionManager__V3__Rds r =
        ENVOY__EXTENSIONS__FILTERS__NETWORK__HTTP_CONNECTION_MANAGER__V3__RDS__INIT;
    Envoy__Extensions__Filters__Network__HttpConnectionManager__V3__HttpConnectionManager
        h = ENVOY__EXTENSIONS__FILTERS__NETWORK__HTTP_CONNECTION_MANAGER__V3__HTTP_CONNECTION_MANAGER__INIT;
    Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
    Envoy__Config__Listener__V3__ApiListener api =
        ENVOY__CONFIG__LISTENER__V3__API_LISTENER__INIT;
    Envoy__Config__Listener__V3__Listener l =
        ENVOY__CONFIG__LISTENER__V3__LISTENER__INIT;
    struct blob out;
    size_t hl;

    r.route_config_name = (char *)rds;
    h.route_specifier_case =
        ENVOY__EXTENSIONS__FILTERS__NETWORK__HTTP_CONNECTION_MANAGER__V3__HTTP_CONNECTION_MANAGER__ROUTE_SPECIFIER_RDS;
    h.rds = &r;
    uint8_t *hb = pack(&h.base, &hl);
    any.type_url = "type.googleapis.com/envoy.extensions.filters.network."
                   "http_connection_manager.v3.HttpConnectionManager";
    any.value.data = hb;
    any.value.len = hl;
    api.api_listener = &any;
    l.name = (char *)name;
    l.api_listener = &api;
    out.p = pack(&l.base, &out.n);
    free(hb);
    return out;
}

/* A tls_certificate Secret from PEM files under $TEST_TMPDIR/certs. */
static struct blob secret_bytes(const char *name, const char *crt,
                                const char *key)
{
    char cp[600], kp[600];
    const char *tmp = getenv("TEST_TMPDIR");
    Envoy__Config__Core__V3__DataSource c =
        ENVOY__CONFIG__CORE__V3__DATA_SOURCE__INIT;
    Envoy__Config__Core__V3__DataSource k =
        ENVOY__CONFIG__CORE__V3__DATA_SOURCE__INIT;
    Envoy__Extensions__TransportSockets__Tls__V3__TlsCertificate tc =
        ENVOY__EXTENSIONS__TRANSPORT_SOCKETS__TLS__V3__TLS_CERTIFICATE__INIT;
    Envoy__Extensions__TransportSockets__Tls__V3__Secret s =
        ENVOY__EXTENSIONS__TRANSPORT_SOCKETS__TLS__V3__SECRET__INIT;
    struct blob out;

    snprintf(cp, sizeof(cp), "%s/certs/%s", tmp ? tmp : "/tmp", crt);
    snprintf(kp, sizeof(kp), "%s/certs/%s", tmp ? tmp : "/tmp", key);
    c.specifier_case = ENVOY__CONFIG__CORE__V3__DATA_SOURCE__SPECIFIER_FILENAME;
    c.filename = cp;
    k.specifier_case = ENVOY__CONFIG__CORE__V3__DATA_SOURCE__SPECIFIER_FILENAME;
    k.filename = kp;
    tc.certificate_chain = &c;
    tc.private_key = &k;
    s.name = (char *)name;
    s.type_case =
        ENVOY__EXTENSIONS__TRANSPORT_SOCKETS__TLS__V3__SECRET__TYPE_TLS_CERTIFICATE;
    s.tls_certificate = &tc;
    out.p = pack(&s.base, &out.n);
    return out;
}

/* An EDS cluster (service name may be NULL), or a STATIC one. */
static struct blob cluster_bytes(const char *name, bool eds, const char *svc)
{
    Envoy__Config__Cluster__V3__Cluster__EdsClusterConfig e =
        ENVOY__CONFIG__CLUSTER__V3__CLUSTER__EDS_CLUSTER_CONFIG__INIT;
    if (svc != NULL)
        e.service_name = (char *)svc;
    Envoy__Config__Cluster__V3__Cluster c =
        ENVOY__CONFIG__CLUSTER__V3__CLUSTER__INIT;
    c.name = (char *)name;
    c.cluster_discovery_type_case =
        ENVOY__CONFIG__CLUSTER__V3__CLUSTER__CLUSTER_DISCOVERY_TYPE_TYPE;
    c.type = eds ? ENVOY__CONFIG__CLUSTER__V3__CLUSTER__DISCOVERY_TYPE__EDS
                 : ENVOY__CONFIG__CLUSTER__V3__CLUSTER__DISCOVERY_TYPE__STATIC;
    if (eds && svc != NULL)
        c.eds_cluster_config = &e;
    struct blob out;
    out.p = pack(&c.base, &out.n);
    return out;
}

/* A route configuration with one route per cluster in <clusters>. */
static struct blob route_bytes(const char *name, const char *const *clusters,
                               size_t n)
{
    Envoy__Config__Route__V3__RouteAction a[64];
    Envoy__Config__Route__V3__Route r[64], *rp[64];
    assert_true(n <= 64);
    for (size_t i = 0; i < n; i++) {
        Envoy__Config__Route__V3__RouteAction ai =
            ENVOY__CONFIG__ROUTE__V3__ROUTE_ACTION__INIT;
        Envoy__Config__Route__V3__Route ri =
            ENVOY__CONFIG__ROUTE__V3__ROUTE__INIT;
        a[i] = ai;
        r[i] = ri;
        a[i].cluster_specifier_case =
            ENVOY__CONFIG__ROUTE__V3__ROUTE_ACTION__CLUSTER_SPECIFIER_CLUSTER;
        a[i].cluster = (char *)clusters[i];
        r[i].action_case = ENVOY__CONFIG__ROUTE__V3__ROUTE__ACTION_ROUTE;
        r[i].route = &a[i];
        rp[i] = &r[i];
    }
    Envoy__Config__Route__V3__VirtualHost vh =
        ENVOY__CONFIG__ROUTE__V3__VIRTUAL_HOST__INIT;
    vh.name = "vh";
    vh.n_routes = n;
    vh.routes = rp;
    Envoy__Config__Route__V3__VirtualHost *vhs[1] = {&vh};
    Envoy__Config__Route__V3__RouteConfiguration rc =
        ENVOY__CONFIG__ROUTE__V3__ROUTE_CONFIGURATION__INIT;
    rc.name = (char *)name;
    rc.n_virtual_hosts = 1;
    rc.virtual_hosts = vhs;
    struct blob out;
    out.p = pack(&rc.base, &out.n);
    return out;
}

static struct blob cla_bytes(const char *name)
{
    Envoy__Config__Endpoint__V3__ClusterLoadAssignment c =
        ENVOY__CONFIG__ENDPOINT__V3__CLUSTER_LOAD_ASSIGNMENT__INIT;
    c.cluster_name = (char *)name;
    struct blob out;
    out.p = pack(&c.base, &out.n);
    return out;
}

/* Takes <data>: decodes it as a <t> resource and puts it into <s>. */
static void put(struct dp_xds__set *s, enum dp_xds_type t, struct blob b,
                const char *version)
{
    char err[CM_ERR_LEN] = "";
    struct dp_xds__res *r =
        dp_xds__res_new(t, NULL, version, b.p, b.n, err, sizeof(err));
    free(b.p);
    if (r == NULL)
        fail_msg("res_new: %s", err);
    assert_int_equal(dp_xds__set_put(s, r), 0);
}

/* web -> route "web" -> clusters a, b; cluster a (EDS svc-a), b (EDS, no
 * service name), c (STATIC); CLAs svc-a and b. */
static void sample_set(struct dp_xds__set *s)
{
    static const char *const ab[] = {"a", "b"};
    dp_xds__set_init(s);
    put(s, DP_XDS_LISTENER, listener_bytes("web", "web"), "1");
    put(s, DP_XDS_ROUTE, route_bytes("web", ab, 2), "1");
    put(s, DP_XDS_CLUSTER, cluster_bytes("a", true, "svc-a"), "1");
    put(s, DP_XDS_CLUSTER, cluster_bytes("b", true, NULL), "1");
    put(s, DP_XDS_CLUSTER, cluster_bytes("c", false, NULL), "1");
    put(s, DP_XDS_ENDPOINT, cla_bytes("svc-a"), "1");
    put(s, DP_XDS_ENDPOINT, cla_bytes("b"), "1");
    for (int t = 0; t < DP_XDS_TYPE_COUNT; t++)
        assert_int_equal(dp_xds__set_version(s, t, "1"), 0);
}

/* ==== backoff ==== */

static void test_backoff_schedule(void **state)
{
    (void)state;
    struct dp_xds__backoff b;
    dp_xds__backoff_init(&b, 100, 10000, 42);
    uint32_t want[] = {100, 200, 400, 800, 1600, 3200, 6400, 10000, 10000};
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        uint32_t d = dp_xds__backoff_next(&b);
        assert_true(d >= want[i] / 2);
        assert_true(d <= want[i] + want[i] / 2);
    }
    dp_xds__backoff_reset(&b);
    uint32_t d = dp_xds__backoff_next(&b);
    assert_true(d >= 50 && d <= 150);
}

static void test_backoff_jitter_spread(void **state)
{
    (void)state;
    struct dp_xds__backoff b;
    dp_xds__backoff_init(&b, 1000, 1000, 7);
    uint32_t lo = UINT32_MAX, hi = 0;
    uint64_t sum = 0;
    for (int i = 0; i < 2000; i++) {
        uint32_t d = dp_xds__backoff_next(&b);
        lo = d < lo ? d : lo;
        hi = d > hi ? d : hi;
        sum += d;
    }
    assert_true(lo >= 500 && lo < 600);   /* reaches near the bottom */
    assert_true(hi <= 1500 && hi > 1400); /* and near the top */
    assert_true(sum / 2000 > 950 && sum / 2000 < 1050);
}

/* ==== subscriptions and make-before-break ==== */

static void test_subs(void **state)
{
    (void)state;
    struct dp_xds__set s;
    struct cm_strset l = {0};
    sample_set(&s);
    assert_int_equal(dp_xds__set_subs(&s, DP_XDS_ROUTE, &l), 0);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.v[0], "web");
    assert_int_equal(dp_xds__set_subs(&s, DP_XDS_ENDPOINT, &l), 0);
    assert_int_equal(l.n, 2); /* b (cluster name), svc-a; not c (STATIC) */
    assert_string_equal(l.v[0], "b");
    assert_string_equal(l.v[1], "svc-a");
    assert_int_equal(dp_xds__set_subs(&s, DP_XDS_LISTENER, &l), 0);
    assert_int_equal(l.n, 0); /* wildcard */
    /* a second listener on another route config adds it */
    put(&s, DP_XDS_LISTENER, listener_bytes("api", "api-routes"), "2");
    assert_int_equal(dp_xds__set_subs(&s, DP_XDS_ROUTE, &l), 0);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.v[0], "api-routes");
    /* an API listener (for proxyless gRPC clients) is not served here: its
     * route config is not fetched, and one it shares with a served
     * listener still is */
    put(&s, DP_XDS_LISTENER, api_listener_bytes("grpc-a", "grpc-routes"), "3");
    put(&s, DP_XDS_LISTENER, api_listener_bytes("grpc-b", "web"), "3");
    assert_int_equal(dp_xds__set_subs(&s, DP_XDS_ROUTE, &l), 0);
    assert_int_equal(l.n, 2);
    assert_false(cm_strset_has(&l, "grpc-routes"));
    assert_true(cm_strset_has(&l, "web"));
    cm_strset_deinit(&l);
    dp_xds__set_deinit(&s);
}

static struct dp_xds__update sotw_update(enum dp_xds_type t, const char *v)
{
    struct dp_xds__update u = {0};
    u.type = t;
    u.full = t == DP_XDS_LISTENER || t == DP_XDS_CLUSTER;
    u.version = strdup(v);
    u.nonce = strdup("n");
    u.upsert = calloc(8, sizeof(*u.upsert));
    return u;
}

static void upd_add(struct dp_xds__update *u, struct blob b)
{
    char err[CM_ERR_LEN];
    u->upsert[u->n_upsert] =
        dp_xds__res_new(u->type, NULL, u->version, b.p, b.n, err, sizeof(err));
    free(b.p);
    assert_non_null(u->upsert[u->n_upsert]);
    u->n_upsert++;
}

static void test_removed_cluster_kept_while_routed(void **state)
{
    (void)state;
    struct dp_xds__set s;
    sample_set(&s);
    /* CDS v2 without b: b is still routed to, so it stays (zombie) */
    struct dp_xds__update u = sotw_update(DP_XDS_CLUSTER, "2");
    upd_add(&u, cluster_bytes("a", true, "svc-a"));
    upd_add(&u, cluster_bytes("c", false, NULL));
    assert_int_equal(dp_xds__set_apply(&s, &u), 0);
    dp_xds__update_deinit(&u);
    assert_non_null(dp_xds__set_find(&s, DP_XDS_CLUSTER, "b"));
    assert_non_null(dp_xds__set_find(&s, DP_XDS_ENDPOINT, "b"));
    assert_true(cm_strset_has(&s.zombies, "b"));
    assert_string_equal(s.version[DP_XDS_CLUSTER], "2");
    assert_int_equal(dp_xds__set_check_clusters(&s, NULL, 0), 0);
    /* RDS v2 routes only to a: b and its endpoints go */
    static const char *const a[] = {"a"};
    u = sotw_update(DP_XDS_ROUTE, "2");
    upd_add(&u, route_bytes("web", a, 1));
    assert_int_equal(dp_xds__set_apply(&s, &u), 0);
    dp_xds__update_deinit(&u);
    assert_null(dp_xds__set_find(&s, DP_XDS_CLUSTER, "b"));
    assert_null(dp_xds__set_find(&s, DP_XDS_ENDPOINT, "b"));
    assert_int_equal(s.zombies.n, 0);
    assert_non_null(dp_xds__set_find(&s, DP_XDS_CLUSTER, "c"));
    dp_xds__set_deinit(&s);
}

static void test_unknown_cluster_detected(void **state)
{
    (void)state;
    struct dp_xds__set s;
    sample_set(&s);
    static const char *const az[] = {"a", "z"};
    struct dp_xds__update u = sotw_update(DP_XDS_ROUTE, "2");
    upd_add(&u, route_bytes("web", az, 2));
    assert_int_equal(dp_xds__set_apply(&s, &u), 0);
    dp_xds__update_deinit(&u);
    char err[CM_ERR_LEN];
    assert_int_equal(dp_xds__set_check_clusters(&s, err, sizeof(err)),
                     GW_ENOENT);
    assert_non_null(strstr(err, "route_config \"web\""));
    assert_non_null(strstr(err, "unknown cluster \"z\""));
    /* CDS delivers z: consistent */
    u = sotw_update(DP_XDS_CLUSTER, "3");
    u.full = false;
    upd_add(&u, cluster_bytes("z", false, NULL));
    assert_int_equal(dp_xds__set_apply(&s, &u), 0);
    dp_xds__update_deinit(&u);
    assert_int_equal(dp_xds__set_check_clusters(&s, err, sizeof(err)), 0);
    dp_xds__set_deinit(&s);
}

static void test_listener_removed_drops_routes(void **state)
{
    (void)state;
    struct dp_xds__set s;
    sample_set(&s);
    struct dp_xds__update u = sotw_update(DP_XDS_LISTENER, "2");
    assert_int_equal(dp_xds__set_apply(&s, &u), 0); /* no listeners */
    dp_xds__update_deinit(&u);
    assert_int_equal(s.n[DP_XDS_LISTENER], 0);
    assert_int_equal(s.n[DP_XDS_ROUTE], 0);
    assert_int_equal(s.n[DP_XDS_CLUSTER], 3); /* CDS is a wildcard */
    dp_xds__set_deinit(&s);
}

static void test_resources_view_skips_cold_listener(void **state)
{
    (void)state;
    struct dp_xds__set s;
    sample_set(&s);
    put(&s, DP_XDS_LISTENER, listener_bytes("api", "api-routes"), "2");
    struct dp_xds_resources r;
    void *storage;
    assert_int_equal(dp_xds__set_resources(&s, &r, &storage), 0);
    assert_int_equal(r.n_listeners, 1); /* api waits for its routes */
    assert_string_equal(r.listeners[0]->name, "web");
    assert_int_equal(r.n_clusters, 3);
    assert_int_equal(r.n_routes, 1);
    assert_int_equal(r.n_endpoints, 2);
    free(storage);
    dp_xds__set_deinit(&s);
}

/* ==== cache ==== */

static void assert_sets_equal(const struct dp_xds__set *a,
                              const struct dp_xds__set *b)
{
    for (int t = 0; t < DP_XDS_TYPE_COUNT; t++) {
        assert_int_equal(a->n[t], b->n[t]);
        assert_string_equal(a->version[t], b->version[t]);
        for (size_t i = 0; i < a->n[t]; i++) {
            assert_string_equal(a->v[t][i]->name, b->v[t][i]->name);
            assert_string_equal(a->v[t][i]->version, b->v[t][i]->version);
            assert_int_equal(a->v[t][i]->len, b->v[t][i]->len);
            assert_memory_equal(a->v[t][i]->data, b->v[t][i]->data,
                                a->v[t][i]->len);
        }
    }
}

static void test_cache_round_trip(void **state)
{
    (void)state;
    struct dp_xds__set s, back;
    sample_set(&s);
    uint8_t *img;
    size_t len;
    char err[CM_ERR_LEN];
    assert_int_equal(dp_xds__cache_encode(&s, &img, &len), 0);
    dp_xds__set_init(&back);
    assert_int_equal(dp_xds__cache_decode(img, len, &back, err, sizeof(err)),
                     0);
    assert_sets_equal(&s, &back);
    assert_true(cm_strset_has(&back.v[DP_XDS_LISTENER][0]->subs, "web"));
    dp_xds__set_deinit(&back);
    free(img);
    dp_xds__set_deinit(&s);
}

static void test_cache_torn_and_corrupt(void **state)
{
    (void)state;
    struct dp_xds__set s, back;
    sample_set(&s);
    uint8_t *img;
    size_t len;
    char err[CM_ERR_LEN];
    assert_int_equal(dp_xds__cache_encode(&s, &img, &len), 0);
    /* every truncation is rejected */
    for (size_t cut = 0; cut < len; cut++) {
        dp_xds__set_init(&back);
        assert_int_equal(
            dp_xds__cache_decode(img, cut, &back, err, sizeof(err)), GW_EPROTO);
        assert_int_equal(back.n[DP_XDS_CLUSTER], 0);
    }
    /* every single flipped byte is rejected */
    for (size_t i = 0; i < len; i++) {
        img[i] ^= 0x20;
        dp_xds__set_init(&back);
        assert_int_equal(
            dp_xds__cache_decode(img, len, &back, err, sizeof(err)), GW_EPROTO);
        img[i] ^= 0x20;
    }
    free(img);
    dp_xds__set_deinit(&s);
}

/* The clusters a large route configuration names: each once, however
 * many routes name it (the decoder dedupes through a hash past 8 routes). */
static void test_route_clusters_many(void **state)
{
    (void)state;
    static const char *const five[] = {"e", "a", "d", "b", "c"};
    const char *names[60];
    char err[CM_ERR_LEN];
    for (size_t i = 0; i < 60; i++)
        names[i] = five[(i * 7) % 5];
    struct blob b = route_bytes("web", names, 60);
    struct dp_xds__res *r =
        dp_xds__res_new(DP_XDS_ROUTE, "web", "1", b.p, b.n, err, sizeof(err));
    free(b.p);
    assert_non_null(r);
    assert_int_equal(r->clusters.n, 5);
    for (size_t i = 0; i < 5; i++)
        assert_true(cm_strset_has(&r->clusters, five[i]));
    dp_xds__res_unref(r);
}

/* The bit-at-a-time CRC-32 the table-driven one must match. */
static uint32_t crc32_bitwise(const uint8_t *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
    }
    return c ^ 0xffffffffu;
}

static void test_crc32(void **state)
{
    (void)state;
    uint8_t buf[300];
    assert_int_equal(dp_xds__crc32((const uint8_t *)"123456789", 9),
                     0xcbf43926u);
    assert_int_equal(dp_xds__crc32(buf, 0), 0);
    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = (uint8_t)(i * 131u + 7u);
    for (size_t off = 0; off < 9; off++) /* every alignment and tail */
        for (size_t n = 0; off + n <= sizeof(buf); n += 13)
            assert_int_equal(dp_xds__crc32(buf + off, n),
                             crc32_bitwise(buf + off, n));
}

static void test_cache_files(void **state)
{
    (void)state;
    char dir[] = "/tmp/dp_xds_test.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char err[CM_ERR_LEN], path[256];
    struct dp_xds__set s, back;
    dp_xds__set_init(&back);
    assert_int_equal(dp_xds__cache_read(dir, &back, err, sizeof(err)),
                     GW_ENOENT);
    sample_set(&s);
    assert_int_equal(dp_xds__cache_write(dir, &s, err, sizeof(err)), 0);
    assert_int_equal(dp_xds__cache_read(dir, &back, err, sizeof(err)), 0);
    assert_sets_equal(&s, &back);
    dp_xds__set_deinit(&back);
    /* no temporary file is left behind */
    snprintf(path, sizeof(path), "ls -A %s | wc -l | grep -qx 1", dir);
    assert_int_equal(system(path), 0);
    /* a torn file on disk: read fails, nothing loaded */
    snprintf(path, sizeof(path), "%s/%s", dir, DP_XDS_CACHE_FILE);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(truncate(path, st.st_size / 2), 0);
    assert_int_equal(dp_xds__cache_read(dir, &back, err, sizeof(err)),
                     GW_EPROTO);
    assert_int_equal(back.n[DP_XDS_LISTENER], 0);
    assert_non_null(strstr(err, "cache"));
    unlink(path);
    rmdir(dir);
    dp_xds__set_deinit(&s);
}

/* ==== responses and requests ==== */

static void test_sotw_response_type_mismatch(void **state)
{
    (void)state;
    struct blob clb = cluster_bytes("a", false, NULL);
    uint8_t *cl = clb.p;
    size_t n = clb.n;
    Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT, *anys[1] = {&any};
    any.type_url = (char *)dp_xds_type_url(DP_XDS_LISTENER);
    any.value.data = cl;
    any.value.len = n;
    Envoy__Service__Discovery__V3__DiscoveryResponse r =
        ENVOY__SERVICE__DISCOVERY__V3__DISCOVERY_RESPONSE__INIT;
    r.version_info = "7";
    r.nonce = "n7";
    r.type_url = (char *)dp_xds_type_url(DP_XDS_CLUSTER);
    r.n_resources = 1;
    r.resources = anys;
    size_t len;
    uint8_t *b = pack(&r.base, &len);
    struct dp_xds__update u;
    char err[CM_ERR_LEN];
    assert_int_equal(dp_xds__update_sotw(b, len, &u, err, sizeof(err)),
                     GW_EINVAL);
    assert_int_equal(u.type, DP_XDS_CLUSTER);
    assert_string_equal(u.nonce, "n7");
    assert_non_null(strstr(err, "type_url"));
    dp_xds__update_deinit(&u);
    /* the right type decodes */
    any.type_url = (char *)dp_xds_type_url(DP_XDS_CLUSTER);
    free(b);
    b = pack(&r.base, &len);
    assert_int_equal(dp_xds__update_sotw(b, len, &u, err, sizeof(err)), 0);
    assert_true(u.full);
    assert_int_equal(u.n_upsert, 1);
    assert_string_equal(u.upsert[0]->name, "a");
    assert_string_equal(u.upsert[0]->version, "7");
    dp_xds__update_deinit(&u);
    free(b);
    free(cl);
}

static void test_delta_response(void **state)
{
    (void)state;
    struct blob clb = cluster_bytes("a", true, "svc");
    uint8_t *cl = clb.p;
    size_t n = clb.n;
    Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
    any.type_url = (char *)dp_xds_type_url(DP_XDS_CLUSTER);
    any.value.data = cl;
    any.value.len = n;
    Envoy__Service__Discovery__V3__Resource
        res = ENVOY__SERVICE__DISCOVERY__V3__RESOURCE__INIT,
        *rp[1] = {&res};
    res.name = "a";
    res.version = "r5";
    res.resource = &any;
    char *removed[1] = {"old"};
    Envoy__Service__Discovery__V3__DeltaDiscoveryResponse r =
        ENVOY__SERVICE__DISCOVERY__V3__DELTA_DISCOVERY_RESPONSE__INIT;
    r.system_version_info = "5";
    r.nonce = "d1";
    r.type_url = (char *)dp_xds_type_url(DP_XDS_CLUSTER);
    r.n_resources = 1;
    r.resources = rp;
    r.n_removed_resources = 1;
    r.removed_resources = removed;
    size_t len;
    uint8_t *b = pack(&r.base, &len);
    struct dp_xds__update u;
    char err[CM_ERR_LEN];
    assert_int_equal(dp_xds__update_delta(b, len, &u, err, sizeof(err)), 0);
    assert_false(u.full);
    assert_string_equal(u.upsert[0]->version, "r5");
    assert_true(cm_strset_has(&u.upsert[0]->subs, "svc"));
    assert_int_equal(u.n_remove, 1);
    assert_string_equal(u.remove[0], "old");
    dp_xds__update_deinit(&u);
    free(b);
    /* a resource whose name does not match its message */
    res.name = "b";
    b = pack(&r.base, &len);
    assert_int_equal(dp_xds__update_delta(b, len, &u, err, sizeof(err)),
                     GW_EINVAL);
    assert_non_null(strstr(err, "\"b\""));
    dp_xds__update_deinit(&u);
    free(b);
    free(cl);
}

static void test_requests(void **state)
{
    (void)state;
    struct dp_xds__node node = {"n1", "127.0.0.1:9901", 4};
    struct cm_strset names = {0};
    assert_int_equal(cm_strset_add(&names, "web"), 0);
    uint8_t *b;
    size_t len;
    assert_int_equal(dp_xds__req_sotw(DP_XDS_ROUTE, &names, "3", "n9", &node,
                                      "bad route", &b, &len),
                     0);
    Envoy__Service__Discovery__V3__DiscoveryRequest *r =
        envoy__service__discovery__v3__discovery_request__unpack(NULL, len, b);
    assert_non_null(r);
    assert_string_equal(r->version_info, "3");
    assert_string_equal(r->response_nonce, "n9");
    assert_int_equal(r->n_resource_names, 1);
    assert_int_equal(r->error_detail->code, 3);
    assert_string_equal(r->error_detail->message, "bad route");
    assert_string_equal(r->node->id, "n1");
    assert_string_equal(r->node->cluster, "traefikee-data");
    assert_string_equal(r->node->user_agent_name, "traefikee-dataplane");
    assert_int_equal(r->node->metadata->n_fields, 3);
    assert_string_equal(r->node->metadata->fields[0]->key, "admin_addr");
    envoy__service__discovery__v3__discovery_request__free_unpacked(r, NULL);
    free(b);

    struct dp_xds__set s;
    sample_set(&s);
    assert_int_equal(dp_xds__req_delta(DP_XDS_CLUSTER, &names, NULL, &s, NULL,
                                       NULL, NULL, &b, &len),
                     0);
    Envoy__Service__Discovery__V3__DeltaDiscoveryRequest *d =
        envoy__service__discovery__v3__delta_discovery_request__unpack(NULL,
                                                                       len, b);
    assert_non_null(d);
    assert_null(d->node);
    assert_null(d->error_detail);
    assert_int_equal(d->n_initial_resource_versions, 3);
    assert_string_equal(d->initial_resource_versions[0]->key, "a");
    assert_string_equal(d->initial_resource_versions[0]->value, "1");
    envoy__service__discovery__v3__delta_discovery_request__free_unpacked(d,
                                                                          NULL);
    free(b);
    dp_xds__set_deinit(&s);
    cm_strset_deinit(&names);
}

static void test_parse_control(void **state)
{
    (void)state;
    char **v;
    char err[CM_ERR_LEN];
    int n = dp_xds__parse_control("127.0.0.1:4242,[::1]:5,h:1", &v, err,
                                  sizeof(err));
    assert_int_equal(n, 3);
    assert_string_equal(v[1], "[::1]:5");
    dp_xds__strv_free(v, (size_t)n);
    assert_int_equal(dp_xds__parse_control("", &v, err, sizeof(err)),
                     GW_EINVAL);
    assert_int_equal(dp_xds__parse_control("h:0", &v, err, sizeof(err)),
                     GW_EINVAL);
    assert_int_equal(dp_xds__parse_control("h:1,nope", &v, err, sizeof(err)),
                     GW_EINVAL);
    assert_non_null(strstr(err, "nope"));
    assert_int_equal(dp_xds__parse_control("h:99999", &v, err, sizeof(err)),
                     GW_EINVAL);
}

static struct dp_table *no_build(void *ctx, const struct dp_xds_resources *r,
                                 char *err, size_t len)
{
    return NULL;
}

static void no_apply(void *ctx, struct dp_table *t)
{
}

static void test_new_validates_options(void **state)
{
    (void)state;
    char err[CM_ERR_LEN];
    struct dp_xds_opts o = {.control = "127.0.0.1:1",
                            .node_id = "n",
                            .build = no_build,
                            .apply = no_apply};
    struct dp_xds_client *c = dp_xds_new(&o, err, sizeof(err));
    assert_non_null(c);
    struct dp_xds_status st;
    dp_xds_status(c, &st);
    assert_int_equal(st.state, DP_XDS_NONE);
    dp_xds_free(c);
    o.control = "nope";
    assert_null(dp_xds_new(&o, err, sizeof(err)));
    o.control = "127.0.0.1:1";
    o.apply = NULL;
    assert_null(dp_xds_new(&o, err, sizeof(err)));
}

/* A stand-in table: the build callback counts, apply just records. */
static struct dp_table *fake_build(void *ctx, const struct dp_xds_resources *r,
                                   char *err, size_t len)
{
    (void)r, (void)err, (void)len;
    __atomic_add_fetch((int *)ctx, 1, __ATOMIC_SEQ_CST);
    return (struct dp_table *)ctx;
}

static int count_resources(const struct dp_xds_resources *r, void *arg)
{
    size_t *n = arg;
    n[0] = r->n_listeners;
    n[1] = r->n_routes;
    n[2] = r->n_clusters;
    n[3] = r->n_endpoints;
    return 7;
}

/* dp_xds_with_resources(): nothing before a config is applied; then the
 * resources of the applied one (here: from the cache at a cold start). */
static void test_with_resources(void **state)
{
    (void)state;
    char dir[] = "/tmp/dp_xds_test.XXXXXX", err[CM_ERR_LEN], path[300];
    struct dp_xds__set s;
    int builds = 0;
    size_t n[4] = {0};
    assert_non_null(mkdtemp(dir));
    sample_set(&s);
    assert_int_equal(dp_xds__cache_write(dir, &s, err, sizeof(err)), 0);
    dp_xds__set_deinit(&s);
    struct dp_xds_opts o = {.control = "127.0.0.1:1",
                            .node_id = "n",
                            .cache_dir = dir,
                            .cache_wait_ms = -1,
                            .build = fake_build,
                            .apply = no_apply,
                            .ctx = &builds};
    struct dp_xds_client *c = dp_xds_new(&o, err, sizeof(err));
    assert_non_null(c);
    assert_int_equal(dp_xds_with_resources(c, count_resources, n), GW_ENOENT);
    assert_int_equal(dp_xds_start(c), 0);
    int rc = GW_ENOENT;
    for (int i = 0; i < 500 && rc == GW_ENOENT; i++) {
        usleep(10000);
        rc = dp_xds_with_resources(c, count_resources, n);
    }
    assert_int_equal(__atomic_load_n(&builds, __ATOMIC_SEQ_CST), 1);
    dp_xds_free(c);
    assert_int_equal(rc, 7);
    assert_int_equal(n[0], 1); /* web */
    assert_int_equal(n[1], 1);
    assert_int_equal(n[2], 3); /* a, b, c */
    assert_int_equal(n[3], 2);
    snprintf(path, sizeof(path), "rm -rf %s", dir);
    assert_int_equal(system(path), 0);
}

/* A TLS listener subscribes to its secrets and warms until they are in;
 * a secret whose key does not match its certificate is rejected. */
static void test_secrets(void **state)
{
    char cmd[700], err[CM_ERR_LEN] = "";
    const char *tmp = getenv("TEST_TMPDIR");
    struct dp_xds__set s;
    struct cm_strset l = {0};
    struct dp_xds_resources res;
    void *storage;
    struct blob b;

    snprintf(cmd, sizeof(cmd), "sh dataplane/tls/testdata/gen.sh %s/certs",
             tmp ? tmp : "/tmp");
    assert_int_equal(system(cmd), 0);
    dp_xds__set_init(&s);
    put(&s, DP_XDS_LISTENER, listener_tls_bytes("web", "web", "a-cert"), "1");
    put(&s, DP_XDS_ROUTE, route_bytes("web", NULL, 0), "1");
    assert_int_equal(dp_xds__set_subs(&s, DP_XDS_SECRET, &l), 0);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.v[0], "a-cert");
    assert_int_equal(dp_xds__set_resources(&s, &res, &storage), 0);
    assert_int_equal(res.n_listeners, 0); /* warming: no secret yet */
    free(storage);
    put(&s, DP_XDS_SECRET, secret_bytes("a-cert", "a.crt", "a.key"), "1");
    assert_int_equal(dp_xds__set_resources(&s, &res, &storage), 0);
    assert_int_equal(res.n_listeners, 1);
    assert_int_equal(res.n_secrets, 1);
    assert_string_equal(res.secrets[0]->name, "a-cert");
    free(storage);
    /* a new secret name: the old listener is served until it arrives, and
     * its secret stays subscribed meanwhile */
    put(&s, DP_XDS_LISTENER, listener_tls_bytes("web", "web", "b-cert"), "2");
    assert_int_equal(dp_xds__set_gc(&s), 0);
    assert_non_null(dp_xds__set_find(&s, DP_XDS_SECRET, "a-cert"));
    assert_int_equal(dp_xds__set_subs(&s, DP_XDS_SECRET, &l), 0);
    assert_int_equal(l.n, 2);
    assert_int_equal(dp_xds__set_resources(&s, &res, &storage), 0);
    assert_int_equal(res.n_listeners, 1); /* the previous version */
    assert_ptr_equal(res.listeners[0],
                     dp_xds__set_find(&s, DP_XDS_LISTENER, "web")->prev->msg);
    free(storage);
    put(&s, DP_XDS_SECRET, secret_bytes("b-cert", "wild.crt", "wild.key"), "2");
    assert_int_equal(dp_xds__set_resources(&s, &res, &storage), 0);
    assert_int_equal(res.n_listeners, 1);
    assert_ptr_equal(res.listeners[0],
                     dp_xds__set_find(&s, DP_XDS_LISTENER, "web")->msg);
    free(storage);
    assert_int_equal(dp_xds__set_gc(&s), 0);
    assert_null(dp_xds__set_find(&s, DP_XDS_SECRET, "a-cert"));
    /* an unreferenced secret is dropped by gc */
    put(&s, DP_XDS_SECRET, secret_bytes("old", "a.crt", "a.key"), "1");
    assert_int_equal(dp_xds__set_gc(&s), 0);
    assert_null(dp_xds__set_find(&s, DP_XDS_SECRET, "old"));
    b = secret_bytes("bad", "a.crt", "wild.key");
    assert_null(
        dp_xds__res_new(DP_XDS_SECRET, NULL, "1", b.p, b.n, err, sizeof(err)));
    assert_non_null(strstr(err, "secret \"bad\": private_key does not match"));
    free(b.p);
    assert_string_equal(dp_xds_type_short(DP_XDS_SECRET), "sds");
    cm_strset_deinit(&l);
    dp_xds__set_deinit(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backoff_schedule),
        cmocka_unit_test(test_backoff_jitter_spread),
        cmocka_unit_test(test_subs),
        cmocka_unit_test(test_removed_cluster_kept_while_routed),
        cmocka_unit_test(test_unknown_cluster_detected),
        cmocka_unit_test(test_listener_removed_drops_routes),
        cmocka_unit_test(test_resources_view_skips_cold_listener),
        cmocka_unit_test(test_cache_round_trip),
        cmocka_unit_test(test_cache_torn_and_corrupt),
        cmocka_unit_test(test_cache_files),
        cmocka_unit_test(test_crc32),
        cmocka_unit_test(test_route_clusters_many),
        cmocka_unit_test(test_with_resources),
        cmocka_unit_test(test_sotw_response_type_mismatch),
        cmocka_unit_test(test_delta_response),
        cmocka_unit_test(test_requests),
        cmocka_unit_test(test_parse_control),
        cmocka_unit_test(test_new_validates_options),
        cmocka_unit_test(test_secrets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
