/*
 * proxy_filter_test.c -- routing with our filters (proxy_filter.c) on a
 * bare worker: a table translated from YAML middlewares, requests routed
 * with dp_proxy__route_req(): ClientIP conditions, a basicAuth answer with
 * its header, a path rewrite into the target, the sticky cookie set and
 * followed (in a cluster of 70 endpoints too), failover to the fallback
 * cluster, header splicing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config/config.h"
#include "common/net/net.h"
#include "common/xds/xds.h"
#include "dataplane/filter/filter.h"
#include "dataplane/proxy/proxy.h"
#include "dataplane/proxy/proxy_int.h"
#include "dataplane/router/router.h"
#include "dataplane/table/table.h"

static const char *yaml =
    "entryPoints:\n"
    "  web: {address: \"127.0.0.1:18001\"}\n"
    "http:\n"
    "  routers:\n"
    "    auth: {rule: \"Host(`auth`)\", service: s, middlewares: [auth]}\n"
    "    cip: {rule: \"Host(`cip`) && ClientIP(`10.0.0.0/8`)\", service: s}\n"
    "    cip-else: {rule: \"Host(`cip`)\", service: t}\n"
    "    rp: {rule: \"Host(`rp`)\", service: s, middlewares: [rp]}\n"
    "    st: {rule: \"Host(`st`)\", service: sticky}\n"
    "    fo: {rule: \"Host(`fo`)\", service: fo}\n"
    "    many: {rule: \"Host(`many`)\", service: many}\n"
    "  services:\n"
    "    s: {loadBalancer: {servers: [{url: \"http://127.0.0.1:9001\"}]}}\n"
    "    t: {loadBalancer: {servers: [{url: \"http://127.0.0.1:9003\"}]}}\n"
    "    sticky:\n"
    "      loadBalancer:\n"
    "        servers: [{url: \"http://127.0.0.1:9001\"},\n"
    "                  {url: \"http://127.0.0.1:9002\"}]\n"
    "        sticky: {cookie: {name: c}}\n"
    "    fo: {failover: {service: s, fallback: t}}\n"
    "  middlewares:\n"
    "    auth: {basicAuth: {users: "
    "[\"u:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\"]}}\n"
    "    rp: {replacePath: {path: /x}}\n";

#define MANY 70 /* endpoints of service "many" (sticky) */

/* <yaml> with service "many" (MANY servers, ports 9100...) added before
 * the middlewares; returns a new string (free()). */
static char *doc_new(void)
{
    const char *mw = strstr(yaml, "  middlewares:\n");
    size_t cap = strlen(yaml) + 128 + MANY * 48, n;
    char *d = malloc(cap);

    assert_non_null(d);
    n = (size_t)snprintf(d, cap,
                         "%.*s    many:\n      loadBalancer:\n"
                         "        sticky: {cookie: {name: c}}\n"
                         "        servers:\n",
                         (int)(mw - yaml), yaml);
    for (int i = 0; i < MANY; i++)
        n += (size_t)snprintf(d + n, cap - n,
                              "          - url: \"http://127.0.0.1:%d\"\n",
                              9100 + i);
    snprintf(d + n, cap - n, "%s", mw);
    return d;
}

struct fx {
    struct dp_proxy *p;
    struct dp_proxy__worker w;
    struct dp_proxy__plan plan;
    struct dp_proxy__sb sb;
    struct sockaddr_in peer;
    const char *cookie; /* Cookie header, or NULL */
    const char *auth;   /* Authorization header, or NULL */
    int dropped;        /* drop() calls */
};

static int get_header(void *arg, const char *name, size_t len,
                      struct dp_router_slice *v)
{
    struct fx *f = arg;
    const char *s = len == 6 && !memcmp(name, "cookie", 6) ? f->cookie
                    : len == 13 && !memcmp(name, "authorization", 13) ? f->auth
                                                                      : NULL;

    if (s == NULL)
        return 0;
    *v = (struct dp_router_slice){s, strlen(s)};
    return 1;
}

static void drop(void *arg, const char *name, size_t len)
{
    ((struct fx *)arg)->dropped++;
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    struct dp_proxy_opts o = {.workers = 1};
    char err[CM_ERR_LEN] = "", *doc = doc_new();
    struct cm_config *cfg = cm_config_parse(doc, strlen(doc), err, sizeof(err));
    struct cm_xds_resources *res;
    struct dp_table_input in;
    struct dp_table *t;

    free(doc);
    if (cfg == NULL)
        fail_msg("config: %s", err);
    res = cm_xds_translate(cfg, "v1", err, sizeof(err));
    cm_config_free(cfg);
    if (res == NULL)
        fail_msg("translate: %s", err);
    in = (struct dp_table_input){.listeners = res->listeners,
                                 .n_listeners = res->n_listeners,
                                 .routes = res->routes,
                                 .n_routes = res->n_routes,
                                 .clusters = res->clusters,
                                 .n_clusters = res->n_clusters,
                                 .endpoints = res->endpoints,
                                 .n_endpoints = res->n_endpoints};
    f->p = dp_proxy_new(&o);
    t = dp_proxy_build_table(f->p, &in, err, sizeof(err));
    cm_xds_resources_free(res);
    if (t == NULL)
        fail_msg("table: %s", err);
    assert_int_equal(dp_proxy_set_table(f->p, t), 0);
    f->w.p = f->p;
    f->w.fbuf = malloc(DP_FILTER_BUF_DEF);
    f->w.fscratch = dp_filter_scratch_new();
    f->w.scratch = dp_router_scratch_new();
    f->plan.active_ep = -1;
    f->peer.sin_family = AF_INET;
    inet_pton(AF_INET, "127.0.0.1", &f->peer.sin_addr);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;

    dp_proxy__plan_release_pl(&f->plan);
    dp_proxy__rstats_deinit(&f->w.rstats); /* the fake worker's counters */
    dp_router_scratch_free(f->w.scratch);
    dp_filter_scratch_free(f->w.fscratch);
    free(f->w.fbuf);
    free(f->sb.p);
    dp_proxy_free(f->p);
    free(f);
    return 0;
}

/* Routes GET <path> for <host>; returns the plan. */
static struct dp_proxy__plan *route(struct fx *f, const char *host,
                                    const char *path)
{
    struct dp_proxy__rreq r = {
        .w = &f->w,
        .lsn = "web",
        .drop = drop,
        .plan = &f->plan,
        .sb = &f->sb,
        .peer = (const struct sockaddr *)&f->peer,
    };

    r.rq.host = (struct dp_router_slice){host, strlen(host)};
    r.rq.path = (struct dp_router_slice){path, strlen(path)};
    r.rq.method = (struct dp_router_slice){"GET", 3};
    r.rq.get_header = get_header;
    r.rq.get_header_arg = f;
    r.rq.scratch = f->w.scratch;
    assert_int_equal(dp_proxy__route_req(&r), 0);
    return &f->plan;
}

static const char *str(struct fx *f, struct dp_proxy__str s)
{
    static char buf[1024];

    snprintf(buf, sizeof(buf), "%.*s", (int)s.len,
             s.set ? f->sb.p + s.off : "");
    return buf;
}

static int port0(const struct dp_proxy__plan *pl)
{
    return cm_net_port((const struct sockaddr *)&pl->cand[0]);
}

static void test_client_ip(void **state)
{
    struct fx *f = *state;

    assert_int_equal(port0(route(f, "cip", "/")), 9003); /* falls through */
    inet_pton(AF_INET, "10.1.2.3", &f->peer.sin_addr);
    assert_int_equal(port0(route(f, "cip", "/")), 9001);
}

static void test_basic_auth(void **state)
{
    struct fx *f = *state;
    struct dp_proxy__plan *pl = route(f, "auth", "/");

    assert_int_equal(pl->kind, DP_PROXY__PLAN_LOCAL);
    assert_int_equal(pl->status, 401);
    assert_string_equal(str(f, pl->resp_add),
                        "WWW-Authenticate: Basic realm=\"traefik\"\r\n");
    f->auth = "Basic dTpwYXNzd29yZA=="; /* u:password */
    pl = route(f, "auth", "/");
    assert_int_equal(pl->kind, DP_PROXY__PLAN_FORWARD);
    assert_int_equal(port0(pl), 9001);
    assert_int_equal(f->dropped, 0); /* removeHeader is off */
}

static void test_path_rewrite(void **state)
{
    struct fx *f = *state;
    struct dp_proxy__plan *pl = route(f, "rp", "/some/where");

    assert_int_equal(pl->kind, DP_PROXY__PLAN_FORWARD);
    assert_string_equal(str(f, pl->target), "/x");
    assert_string_equal(str(f, pl->req_add),
                        "X-Replaced-Path: /some/where\r\n");
}

static void test_sticky(void **state)
{
    struct fx *f = *state;
    struct dp_proxy__plan *pl = route(f, "st", "/");
    char cookie[128];
    int first = port0(pl);

    assert_true(strncmp(str(f, pl->resp_add), "Set-Cookie: c=", 14) == 0);
    snprintf(cookie, sizeof(cookie), "x=1; %.*s",
             (int)strcspn(str(f, pl->resp_add) + 12, ";"),
             str(f, pl->resp_add) + 12);
    f->cookie = cookie;
    for (int i = 0; i < 5; i++) {
        pl = route(f, "st", "/");
        assert_int_equal(port0(pl), first);
        assert_false(pl->resp_add.set); /* no new cookie */
    }
    f->cookie = "c=nothing-known";
    pl = route(f, "st", "/");
    assert_true(strncmp(str(f, pl->resp_add), "Set-Cookie: c=", 14) == 0);
}

/* Traefik's sticky cookie value for a key: FNV-1 64, lower-case hex. */
static void fnv1_hex(const char *k, char *out, size_t len)
{
    uint64_t h = 14695981039346656037ull;

    for (; *k != '\0'; k++)
        h = (h * 1099511628211ull) ^ (uint8_t)*k;
    snprintf(out, len, "%llx", (unsigned long long)h);
}

static bool pl_sets_cookie(struct fx *f)
{
    struct dp_proxy__plan *pl = route(f, "many", "/");

    return strncmp(str(f, pl->resp_add), "Set-Cookie: c=", 14) == 0;
}

/* A cookie names any endpoint of a large cluster, past the first 64. */
static void test_sticky_many(void **state)
{
    struct fx *f = *state;
    char key[64], cookie[64];
    const int eps[] = {0, 63, 64, 65, MANY - 1};

    for (size_t i = 0; i < sizeof(eps) / sizeof(eps[0]); i++) {
        snprintf(key, sizeof(key), "http://127.0.0.1:%d", 9100 + eps[i]);
        snprintf(cookie, sizeof(cookie), "c=");
        fnv1_hex(key, cookie + 2, sizeof(cookie) - 2);
        f->cookie = cookie;
        for (int k = 0; k < 3; k++) {
            struct dp_proxy__plan *pl = route(f, "many", "/");
            assert_int_equal(port0(pl), 9100 + eps[i]);
            assert_false(pl->resp_add.set); /* the cookie was followed */
        }
    }
    /* an unknown value: a new cookie is set */
    f->cookie = "c=0123";
    assert_true(pl_sets_cookie(f));
}

static int unhealthy_s(const struct dp_table *t, void *arg)
{
    dp_cluster_state_set_healthy(dp_cluster_state_of(dp_table_cluster(t, "s")),
                                 0, *(bool *)arg);
    return 0;
}

static void test_failover(void **state)
{
    struct fx *f = *state;
    bool healthy = false;

    assert_int_equal(port0(route(f, "fo", "/")), 9001);
    dp_proxy_with_table(f->p, unhealthy_s, &healthy);
    assert_int_equal(port0(route(f, "fo", "/")), 9003);
    healthy = true;
    dp_proxy_with_table(f->p, unhealthy_s, &healthy);
    assert_int_equal(port0(route(f, "fo", "/")), 9001);
}

static void test_splice(void **state)
{
    char out[128] = "HTTP/1.1 401 X\r\nA: b\r\n\r\nbody";
    int n = dp_proxy__splice_hdrs(out, sizeof(out), (int)strlen(out),
                                  "K: v\r\n", 6);

    assert_int_equal(n,
                     (int)strlen("HTTP/1.1 401 X\r\nA: b\r\nK: v\r\n\r\nbody"));
    out[n] = '\0';
    assert_string_equal(out, "HTTP/1.1 401 X\r\nA: b\r\nK: v\r\n\r\nbody");
    assert_int_equal(
        dp_proxy__splice_hdrs(out, (size_t)n + 2, n, "K: v\r\n", 6),
        GW_ETOOBIG);
    assert_int_equal(dp_proxy__splice_hdrs(out, sizeof(out), 5, "K", 1),
                     GW_ETOOBIG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_client_ip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_basic_auth, setup, teardown),
        cmocka_unit_test_setup_teardown(test_path_rewrite, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sticky, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sticky_many, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failover, setup, teardown),
        cmocka_unit_test(test_splice),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
