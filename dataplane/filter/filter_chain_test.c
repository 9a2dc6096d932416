/*
 * filter_chain_test.c -- chains and sets: state surviving a rebuild with the
 * same config and reset by a changed one, NAME#i conjunctions sharing
 * state, sets over a RouteConfiguration (lookup by vhost and index, level
 * precedence, dedup, error naming the route), the ClientIP condition on a
 * chain, failover choice and resolution, sticky cookie pick and
 * Set-Cookie.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "dataplane/filter/filter_testlib.h"

#define FV1(x) Traefikee__Filters__V1__##x
#define RT(x)  Envoy__Config__Route__V3__##x
#define T0     1000000000000ull

static void add_rate(struct ft_route *r, int64_t burst)
{
    FV1(RateLimit) m = TRAEFIKEE__FILTERS__V1__RATE_LIMIT__INIT;

    m.average = 1;
    m.burst = burst;
    ft_route_add(r, DP_FILTER_N_RATE_LIMIT, "RateLimit", &m.base);
}

static int hit(const struct dp_filter_chain *ch, const char *ip)
{
    struct ft_req q;
    int v;

    ft_req_init(&q, "GET", "h", "/", ip);
    q.req.now_ns = T0;
    v = ft_run(&q, ch) == DP_FILTER_CONTINUE ? 200 : q.ctx.status;
    dp_filter_end(&q.ctx, 200, T0);
    ft_req_deinit(&q);
    return v;
}

static void test_state_survives(void **state)
{
    struct dp_filter_registry *reg = dp_filter_registry_new();
    struct ft_route r1, r2, r3, r4;
    char err[CM_ERR_LEN];
    struct dp_filter_chain *a, *b, *c, *d;

    ft_route_init(&r1, "web", "v");
    add_rate(&r1, 1);
    a = ft_chain(&r1, reg, err);
    assert_int_equal(hit(a, "10.0.0.1"), 200);
    assert_int_equal(hit(a, "10.0.0.1"), 429);
    /* config push: same config, new chain (new table), old chain freed */
    ft_route_init(&r2, "web", "other-vhost");
    add_rate(&r2, 1);
    b = ft_chain(&r2, reg, err);
    dp_filter_chain_free(a);
    assert_int_equal(hit(b, "10.0.0.1"), 429); /* bucket kept */
    assert_int_equal(dp_filter_registry_count(reg), 1);
    /* a conjunction of the same router shares it too */
    ft_route_init(&r3, "web#1", "v");
    add_rate(&r3, 1);
    c = ft_chain(&r3, reg, err);
    assert_int_equal(hit(c, "10.0.0.1"), 429);
    assert_int_equal(dp_filter_registry_count(reg), 1);
    /* changed config: fresh state */
    ft_route_init(&r4, "web", "v");
    add_rate(&r4, 2);
    d = ft_chain(&r4, reg, err);
    assert_int_equal(hit(d, "10.0.0.1"), 200);
    assert_int_equal(dp_filter_registry_count(reg), 2);
    dp_filter_chain_free(b);
    dp_filter_chain_free(c);
    assert_int_equal(dp_filter_registry_count(reg), 1);
    dp_filter_chain_free(d);
    assert_int_equal(dp_filter_registry_count(reg), 0);
    /* all gone: rebuilding starts fresh */
    a = ft_chain(&r1, reg, err);
    assert_int_equal(hit(a, "10.0.0.1"), 200);
    dp_filter_chain_free(a);
    /* the registry may go before the last state */
    a = ft_chain(&r1, reg, err);
    dp_filter_registry_free(reg);
    assert_int_equal(hit(a, "10.0.0.1"), 200);
    dp_filter_chain_free(a);
    ft_route_deinit(&r1);
    ft_route_deinit(&r2);
    ft_route_deinit(&r3);
    ft_route_deinit(&r4);
}

static void test_chain_misc(void **state)
{
    struct dp_filter_registry *reg = dp_filter_registry_new();
    FV1(ClientIpMatch) cm = TRAEFIKEE__FILTERS__V1__CLIENT_IP_MATCH__INIT;
    char *all[] = {"10.0.0.0/8"};
    struct ft_route r;
    char err[CM_ERR_LEN];
    struct dp_filter_chain *ch;
    struct ft_req q;

    /* no filter of ours: NULL chain, CONTINUE */
    ft_route_init(&r, "x", "v");
    ft_route_add(&r, "envoy.filters.http.other", "Whatever", &cm.base);
    assert_null(ft_chain(&r, reg, err));
    assert_string_equal(err, "");
    ft_req_init(&q, "GET", "h", "/", "1.1.1.1");
    assert_int_equal(ft_run(&q, NULL), DP_FILTER_CONTINUE);
    assert_true(dp_filter_client_ip_ok(NULL, q.req.peer));
    cm.all_of = all;
    cm.n_all_of = 1;
    ft_route_add(&r, DP_FILTER_N_CLIENT_IP, "ClientIpMatch", &cm.base);
    ch = ft_chain(&r, reg, err);
    assert_non_null(ch);
    assert_true(dp_filter_chain_has(ch, DP_FILTER_CLIENT_IP));
    assert_false(dp_filter_chain_has(ch, DP_FILTER_BASIC_AUTH));
    assert_false(dp_filter_client_ip_ok(ch, q.req.peer));
    ft_req_deinit(&q);
    ft_req_init(&q, "GET", "h", "/", "10.1.1.1");
    assert_true(dp_filter_client_ip_ok(ch, q.req.peer));
    assert_int_equal(ft_run(&q, ch), DP_FILTER_CONTINUE);
    ft_req_deinit(&q);
    dp_filter_chain_free(ch);
    ft_route_deinit(&r);
    dp_filter_registry_free(reg);
}

static int resolve(void *arg, const char *name)
{
    return strcmp(name, "backup") == 0 ? 7 : -1;
}

static void test_failover(void **state)
{
    struct dp_filter_registry *reg = dp_filter_registry_new();
    FV1(Failover) m = TRAEFIKEE__FILTERS__V1__FAILOVER__INIT;
    struct dp_filter_opts o = {.resolve = resolve};
    struct dp_filter_chain *ch = NULL;
    char err[CM_ERR_LEN];
    struct ft_route r;

    m.fallback_cluster = "backup";
    ft_route_init(&r, "x", "v");
    ft_route_add(&r, DP_FILTER_N_FAILOVER, "Failover", &m.base);
    assert_int_equal(
        dp_filter_chain_build(&r.rt, reg, &o, &ch, err, sizeof(err)), 0);
    assert_string_equal(dp_filter_failover_name(ch), "backup");
    assert_int_equal(dp_filter_failover_cluster(ch), 7);
    assert_int_equal(dp_filter_failover(ch, true, false), DP_FILTER_UP_PRIMARY);
    assert_int_equal(dp_filter_failover(ch, false, true),
                     DP_FILTER_UP_FALLBACK);
    assert_int_equal(dp_filter_failover(ch, false, false), DP_FILTER_UP_NONE);
    assert_int_equal(dp_filter_failover(NULL, false, false),
                     DP_FILTER_UP_PRIMARY);
    dp_filter_chain_free(ch);
    ft_route_deinit(&r);

    m.fallback_cluster = "nope";
    ft_route_init(&r, "x", "v");
    ft_route_add(&r, DP_FILTER_N_FAILOVER, "Failover", &m.base);
    assert_int_equal(
        dp_filter_chain_build(&r.rt, reg, &o, &ch, err, sizeof(err)),
        GW_EINVAL);
    assert_string_equal(err, "traefikee.filters.failover: fallback_cluster "
                             "\"nope\" is not a known cluster");
    ft_route_deinit(&r);
    dp_filter_registry_free(reg);
}

static void test_sticky(void **state)
{
    struct dp_filter_registry *reg = dp_filter_registry_new();
    FV1(StickyCookie) m = TRAEFIKEE__FILTERS__V1__STICKY_COOKIE__INIT;
    struct dp_router_slice keys[3] = {{"http://10.0.0.1:80", 18},
                                      {"http://10.0.0.2:80", 18},
                                      {"http://10.0.0.3:80", 18}};
    bool elig[3] = {true, true, false};
    char err[CM_ERR_LEN], sc[256], val[64], hdr[128];
    struct dp_filter_chain *ch;
    struct ft_route r;
    struct ft_req q;

    m.name = "_abc123";
    m.secure = true;
    m.http_only = true;
    m.same_site = "lax";
    ft_route_init(&r, "x", "v");
    ft_route_add(&r, DP_FILTER_N_STICKY, "StickyCookie", &m.base);
    ch = ft_chain(&r, reg, err);
    assert_non_null(ch);
    assert_true(dp_filter_sticky_cookie(ch, keys[1], sc, sizeof(sc)) > 0);
    assert_non_null(strstr(sc, "; Path=/; HttpOnly; Secure; SameSite=Lax"));
    assert_memory_equal(sc, "_abc123=", 8);
    snprintf(val, sizeof(val), "%.*s", (int)(strchr(sc, ';') - sc - 8), sc + 8);
    /* FNV-1 64 of the key, hex, as Traefik's hash() */
    assert_int_equal(strlen(val) >= 15 && strlen(val) <= 16, 1);

    ft_req_init(&q, "GET", "h", "/", "1.1.1.1");
    snprintf(hdr, sizeof(hdr), "a=b; _abc123=%s; c=d", val);
    ft_req_hdr(&q, "Cookie", hdr);
    assert_int_equal(dp_filter_sticky_pick(ch, &q.rq, keys, elig, 3), 1);
    ft_req_deinit(&q);
    /* the raw key is accepted too; an ineligible endpoint is not kept */
    ft_req_init(&q, "GET", "h", "/", "1.1.1.1");
    ft_req_hdr(&q, "Cookie", "_abc123=\"http://10.0.0.3:80\"");
    assert_int_equal(dp_filter_sticky_pick(ch, &q.rq, keys, elig, 3), -1);
    assert_int_equal(dp_filter_sticky_pick(ch, &q.rq, keys, NULL, 3), 2);
    ft_req_deinit(&q);
    ft_req_init(&q, "GET", "h", "/", "1.1.1.1");
    ft_req_hdr(&q, "Cookie", "_abc1234=x");
    assert_int_equal(dp_filter_sticky_pick(ch, &q.rq, keys, NULL, 3), -1);
    ft_req_deinit(&q);
    dp_filter_chain_free(ch);
    ft_route_deinit(&r);
    assert_int_equal(dp_filter_sticky_cookie(NULL, keys[0], sc, sizeof(sc)),
                     GW_ENOENT);

    m.same_site = "sometimes";
    ft_route_init(&r, "x", "v");
    ft_route_add(&r, DP_FILTER_N_STICKY, "StickyCookie", &m.base);
    assert_null(ft_chain(&r, reg, err));
    assert_string_equal(err, "traefikee.filters.sticky: same_site: want none, "
                             "lax or strict, got \"sometimes\"");
    ft_route_deinit(&r);
    dp_filter_registry_free(reg);
}

/* ==== sets over a RouteConfiguration ==== */

struct any {
    Google__Protobuf__Any any;
    uint8_t buf[256];
};

static void pack(struct any *a, const char *type, const ProtobufCMessage *m)
{
    static char urls[8][128];
    static int k;
    char *u = urls[k++ % 8];

    google__protobuf__any__init(&a->any);
    snprintf(u, 128, "type.googleapis.com/traefikee.filters.v1.%s", type);
    a->any.type_url = u;
    a->any.value.len = protobuf_c_message_pack(m, a->buf);
    a->any.value.data = a->buf;
}

static void test_set(void **state)
{
    struct dp_filter_registry *reg = dp_filter_registry_new();
    FV1(RateLimit) rl = TRAEFIKEE__FILTERS__V1__RATE_LIMIT__INIT;
    FV1(InFlightReq) ifr = TRAEFIKEE__FILTERS__V1__IN_FLIGHT_REQ__INIT;
    struct any a_rate, a_rate2, a_if, a_bad;
    RT(Route__TypedPerFilterConfigEntry)
    e1, e2, e3, *el1[] = {&e1}, *el2[] = {&e2}, *el3[] = {&e3};
    RT(VirtualHost__TypedPerFilterConfigEntry) ve, *vel[] = {&ve};
    RT(Route) r0, r1, r2, r3, *ra[] = {&r0, &r1}, *rb[] = {&r2, &r3};
    RT(VirtualHost) va, vb, *vhs[] = {&vb, &va};
    RT(RouteConfiguration)
    rc = ENVOY__CONFIG__ROUTE__V3__ROUTE_CONFIGURATION__INIT;
    struct dp_route q = {0};
    char err[CM_ERR_LEN];
    struct dp_filter_set *s;
    const struct dp_filter_chain *c0, *c1, *c2, *c3;

    rl.average = 5;
    pack(&a_rate, "RateLimit", &rl.base);
    rl.average = 6;
    pack(&a_rate2, "RateLimit", &rl.base);
    ifr.amount = 3;
    pack(&a_if, "InFlightReq", &ifr.base);
    ifr.amount = -1;
    pack(&a_bad, "InFlightReq", &ifr.base);
    envoy__config__route__v3__route__typed_per_filter_config_entry__init(&e1);
    e1.key = DP_FILTER_N_RATE_LIMIT;
    e1.value = &a_rate.any;
    e2 = e1;
    e3 = e1;
    e3.value = &a_rate2.any;
    envoy__config__route__v3__virtual_host__typed_per_filter_config_entry__init(
        &ve);
    ve.key = DP_FILTER_N_IN_FLIGHT_REQ;
    ve.value = &a_if.any;
    envoy__config__route__v3__route__init(&r0);
    r1 = r2 = r3 = r0;
    r0.name = "api#0"; /* rate 5 + vhost in-flight */
    r0.typed_per_filter_config = el1;
    r0.n_typed_per_filter_config = 1;
    r1.name = "api#1"; /* another conjunction: same router, same configs */
    r1.typed_per_filter_config = el2;
    r1.n_typed_per_filter_config = 1;
    r2.name = "api"; /* other vhost, no in-flight there */
    r2.typed_per_filter_config = el1;
    r2.n_typed_per_filter_config = 1;
    r3.name = "web"; /* rate 6 */
    r3.typed_per_filter_config = el3;
    r3.n_typed_per_filter_config = 1;
    envoy__config__route__v3__virtual_host__init(&va);
    vb = va;
    va.name = "a.example";
    va.routes = ra;
    va.n_routes = 2;
    va.typed_per_filter_config = vel;
    va.n_typed_per_filter_config = 1;
    vb.name = "*";
    vb.routes = rb;
    vb.n_routes = 2;
    rc.name = "web";
    rc.virtual_hosts = vhs;
    rc.n_virtual_hosts = 2;

    s = dp_filter_set_new(&rc, reg, NULL, err, sizeof(err));
    assert_non_null(s);
    q.vhost = (struct dp_router_slice){"a.example", 9};
    q.index = 0;
    c0 = dp_filter_set_get(s, &q);
    q.index = 1;
    c1 = dp_filter_set_get(s, &q);
    q.index = 2;
    assert_null(dp_filter_set_get(s, &q));
    q.vhost = (struct dp_router_slice){"*", 1};
    q.index = 0;
    c2 = dp_filter_set_get(s, &q);
    q.index = 1;
    c3 = dp_filter_set_get(s, &q);
    q.vhost = (struct dp_router_slice){"a.exampl", 8};
    assert_null(dp_filter_set_get(s, &q));
    assert_non_null(c0);
    assert_ptr_equal(c0, c1); /* deduplicated */
    assert_true(dp_filter_chain_has(c0, DP_FILTER_IN_FLIGHT_REQ));
    assert_true(dp_filter_chain_has(c0, DP_FILTER_RATE_LIMIT));
    assert_false(dp_filter_chain_has(c2, DP_FILTER_IN_FLIGHT_REQ));
    assert_true(c2 != c0 && c3 != c2);
    assert_int_equal(dp_filter_set_count(s), 3);
    /* states: rate(api, 5) shared by c0 and c2, in-flight(api), rate(web) */
    assert_int_equal(dp_filter_registry_count(reg), 3);
    dp_filter_set_free(s);
    assert_int_equal(dp_filter_registry_count(reg), 0);

    /* the route level wins over the vhost level for the same filter */
    e2.key = DP_FILTER_N_IN_FLIGHT_REQ;
    e2.value = &a_bad.any;
    assert_null(dp_filter_set_new(&rc, reg, NULL, err, sizeof(err)));
    assert_string_equal(err, "route_config \"web\": virtual_host \"a.example\" "
                             "route 2: traefikee.filters.in_flight_req: amount "
                             "must be positive, got -1");
    assert_int_equal(dp_filter_registry_count(reg), 0);
    dp_filter_registry_free(reg);
}

/* Many routes: 3 conjunctions per router share a chain (the dedup index
 * grows several times); a virtual host without filters has no chains. */
static void test_set_many(void **state)
{
    enum { N = 300, PER = 3 };
    struct dp_filter_registry *reg = dp_filter_registry_new();
    FV1(InFlightReq) ifr = TRAEFIKEE__FILTERS__V1__IN_FLIGHT_REQ__INIT;
    static struct any a_if;
    static RT(Route__TypedPerFilterConfigEntry) e, *el[] = {&e};
    static RT(Route) r[N], *rp[N], plain, *pp[] = {&plain};
    static char names[N][16];
    RT(VirtualHost) va, vb, *vhs[] = {&va, &vb};
    RT(RouteConfiguration)
    rc = ENVOY__CONFIG__ROUTE__V3__ROUTE_CONFIGURATION__INIT;
    struct dp_route q = {0};
    char err[CM_ERR_LEN];
    struct dp_filter_set *s;

    ifr.amount = 2;
    pack(&a_if, "InFlightReq", &ifr.base);
    envoy__config__route__v3__route__typed_per_filter_config_entry__init(&e);
    e.key = DP_FILTER_N_IN_FLIGHT_REQ;
    e.value = &a_if.any;
    for (int i = 0; i < N; i++) {
        envoy__config__route__v3__route__init(&r[i]);
        snprintf(names[i], sizeof(names[i]), "r%d#%d", i / PER, i % PER);
        r[i].name = names[i];
        r[i].typed_per_filter_config = el;
        r[i].n_typed_per_filter_config = 1;
        rp[i] = &r[i];
    }
    envoy__config__route__v3__route__init(&plain);
    envoy__config__route__v3__virtual_host__init(&va);
    vb = va;
    va.name = "many";
    va.routes = rp;
    va.n_routes = N;
    vb.name = "plain";
    vb.routes = pp;
    vb.n_routes = 1;
    rc.name = "web";
    rc.virtual_hosts = vhs;
    rc.n_virtual_hosts = 2;

    s = dp_filter_set_new(&rc, reg, NULL, err, sizeof(err));
    assert_non_null(s);
    assert_int_equal(dp_filter_set_count(s), N / PER);
    assert_int_equal(dp_filter_registry_count(reg), N / PER);
    q.vhost = (struct dp_router_slice){"many", 4};
    for (uint32_t i = 0; i < N; i++) {
        const struct dp_filter_chain *c, *first;
        q.index = i - i % PER;
        first = dp_filter_set_get(s, &q);
        q.index = i;
        c = dp_filter_set_get(s, &q);
        assert_non_null(c);
        assert_ptr_equal(c, first);
        assert_true(dp_filter_chain_has(c, DP_FILTER_IN_FLIGHT_REQ));
        if (i >= PER) {
            q.index = i - PER;
            assert_ptr_not_equal(dp_filter_set_get(s, &q), c);
        }
    }
    q.vhost = (struct dp_router_slice){"plain", 5};
    q.index = 0;
    assert_null(dp_filter_set_get(s, &q));
    dp_filter_set_free(s);
    assert_int_equal(dp_filter_registry_count(reg), 0);
    dp_filter_registry_free(reg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_state_survives),
        cmocka_unit_test(test_chain_misc),
        cmocka_unit_test(test_failover),
        cmocka_unit_test(test_sticky),
        cmocka_unit_test(test_set),
        cmocka_unit_test(test_set_many),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
