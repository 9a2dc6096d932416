/*
 * proxy_test.c -- unit tests of the proxy's pure parts: local responses,
 * reason phrases, the weighted endpoint pick, and building the routing
 * table from a translated configuration. The engine itself (sockets,
 * workers) is tested by integration/dataplane/run.sh.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <netinet/in.h>
#include <string.h>

#include "common/config/config.h"
#include "common/net/net.h"
#include "common/xds/xds.h"
#include "dataplane/proxy/proxy.h"
#include "dataplane/proxy/proxy_table.h"

static void test_local_response(void **state)
{
    char out[512];
    int n =
        dp_proxy_local_response(out, sizeof(out), 404, NULL, "nope\n", 5, 0, 0);

    assert_true(n > 0);
    out[n] = '\0';
    assert_non_null(strstr(out, "HTTP/1.1 404 Not Found\r\n"));
    assert_non_null(strstr(out, "Content-Length: 5\r\n"));
    assert_null(strstr(out, "Connection: close"));
    assert_string_equal(out + n - 9, "\r\n\r\nnope\n");
}

static void test_local_response_close_location_head(void **state)
{
    char out[512];
    int n = dp_proxy_local_response(out, sizeof(out), 301, "https://x/y",
                                    "moved", 5, 1, 1);

    assert_true(n > 0);
    out[n] = '\0';
    assert_non_null(strstr(out, "Location: https://x/y\r\n"));
    assert_non_null(strstr(out, "Connection: close\r\n"));
    assert_non_null(strstr(out, "Content-Length: 5\r\n"));
    /* HEAD: no body bytes */
    assert_string_equal(out + n - 4, "\r\n\r\n");
}

static void test_local_response_too_big(void **state)
{
    char out[64];

    assert_int_equal(
        dp_proxy_local_response(out, sizeof(out), 502, NULL, "x", 1, 1, 0),
        GW_ETOOBIG);
}

static void test_reason(void **state)
{
    assert_string_equal(dp_proxy_reason(502), "Bad Gateway");
    assert_string_equal(dp_proxy_reason(431),
                        "Request Header Fields Too Large");
    assert_string_equal(dp_proxy_reason(299), "Unknown");
}

static int port_of(const struct sockaddr_storage *a)
{
    return cm_net_port((const struct sockaddr *)a);
}

static void test_cluster_pick_weights(void **state)
{
    struct dp_proxy_ep eps[3] = {0};
    struct dp_proxy_cluster cl = {.eps = eps, .n_eps = 3, .total_weight = 6};
    struct sockaddr_storage out[4];
    char err[CM_ERR_LEN];
    int hits[3] = {0};

    assert_int_equal(
        cm_net_parse_addr("127.0.0.1:1", &eps[0].addr, err, sizeof(err)), 0);
    assert_int_equal(
        cm_net_parse_addr("127.0.0.1:2", &eps[1].addr, err, sizeof(err)), 0);
    assert_int_equal(
        cm_net_parse_addr("127.0.0.1:3", &eps[2].addr, err, sizeof(err)), 0);
    eps[0].weight = 1;
    eps[1].weight = 2;
    eps[2].weight = 3;
    for (uint64_t r = 0; r < 600; r++) {
        assert_int_equal(dp_proxy_cluster_pick(&cl, r, out, 1), 1);
        hits[port_of(&out[0]) - 1]++;
    }
    assert_int_equal(hits[0], 100);
    assert_int_equal(hits[1], 200);
    assert_int_equal(hits[2], 300);
    /* retries get distinct endpoints, following the first */
    assert_int_equal(dp_proxy_cluster_pick(&cl, 1, out, 4), 3);
    assert_int_equal(port_of(&out[0]), 2);
    assert_int_equal(port_of(&out[1]), 3);
    assert_int_equal(port_of(&out[2]), 1);
    cl.n_eps = 0;
    assert_int_equal(dp_proxy_cluster_pick(&cl, 1, out, 4), 0);
}

static const char *yaml =
    "entryPoints:\n"
    "  web: {address: \"127.0.0.1:18000\"}\n"
    "http:\n"
    "  routers:\n"
    "    r: {rule: \"Host(`a`)\", service: s}\n"
    "  services:\n"
    "    s:\n"
    "      loadBalancer:\n"
    "        servers:\n"
    "          - url: \"http://127.0.0.1:9001\"\n"
    "          - {url: \"http://127.0.0.1:9002\", weight: 3}\n"
    "          - {url: \"http://127.0.0.1:9003\", weight: 0}\n";

static struct dp_proxy_table *table_from(const char *doc, char *err, size_t len)
{
    struct cm_config *cfg = cm_config_parse(doc, strlen(doc), err, len);
    struct cm_xds_resources *res;
    struct dp_proxy_table *t;

    assert_non_null(cfg);
    res = cm_xds_translate(cfg, "v1", err, len);
    cm_config_free(cfg);
    assert_non_null(res);
    t = dp_proxy_table_new(res, err, len);
    cm_xds_resources_free(res);
    return t;
}

static void test_table_from_config(void **state)
{
    char err[CM_ERR_LEN] = "";
    struct dp_proxy_table *t = table_from(yaml, err, sizeof(err));
    const struct dp_proxy_lsn *l;
    const struct dp_proxy_cluster *cl;
    int ci;

    assert_non_null(t);
    assert_string_equal(t->version, "v1");
    l = dp_proxy_table_lsn(t, "web");
    assert_non_null(l);
    assert_non_null(l->router);
    assert_int_equal(port_of(&l->addr), 18000);
    assert_null(dp_proxy_table_lsn(t, "other"));
    ci = dp_proxy_table_cluster_index(t, "s");
    assert_true(ci >= 0);
    assert_int_equal(dp_proxy_table_cluster_index(t, "nope"), -1);
    cl = &t->clusters[ci];
    /* the weight-0 (drained) server is not an endpoint */
    assert_int_equal(cl->n_eps, 2);
    assert_int_equal(cl->total_weight, 4);
    assert_int_equal(port_of(&cl->eps[1].addr), 9002);
    assert_int_equal(cl->eps[1].weight, 3);
    dp_proxy_table_free(t);
    dp_proxy_table_free(NULL);
}

static void test_engine_lifecycle(void **state)
{
    struct dp_proxy_opts o = {.workers = 2};
    struct dp_proxy *p = dp_proxy_new(&o);
    struct dp_proxy_stats st;
    char err[CM_ERR_LEN] = "";
    struct dp_proxy_table *t = table_from(yaml, err, sizeof(err));

    assert_non_null(p);
    assert_int_equal(dp_proxy_start(p), 0);
    assert_int_equal(dp_proxy_workers(p), 2);
    assert_int_equal(dp_proxy_set_table(p, t), 0);
    dp_proxy_stats(p, &st);
    assert_int_equal(st.table_swaps, 1);
    assert_int_equal(st.conns_active, 0);
    dp_proxy_drain(p);
    /* after draining, tables are refused (and freed) */
    t = table_from(yaml, err, sizeof(err));
    assert_int_equal(dp_proxy_set_table(p, t), GW_EAGAIN);
    dp_proxy_stop(p);
    dp_proxy_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_local_response),
        cmocka_unit_test(test_local_response_close_location_head),
        cmocka_unit_test(test_local_response_too_big),
        cmocka_unit_test(test_reason),
        cmocka_unit_test(test_cluster_pick_weights),
        cmocka_unit_test(test_table_from_config),
        cmocka_unit_test(test_engine_lifecycle),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
