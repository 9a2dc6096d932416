/*
 * admin_test.c -- unit tests of the admin server's pure parts: the
 * Prometheus rendering of the counters and address errors at start. The
 * served endpoints are tested by integration/dataplane/run.sh.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/admin/admin.h"

static void test_metrics_text(void **state)
{
    struct dp_admin_metrics m = {0};
    char *out = NULL;
    int n;

    m.proxy.responses[2] = 7;
    m.proxy.responses[5] = 3;
    m.proxy.conns_active = 4;
    m.proxy.upstream_connect_errors = 2;
    m.proxy.table_swaps = 5;
    m.config_loads = 5;
    m.ready = 1;
    m.workers = 2;
    strcpy(m.config_version, "file-abc");
    n = dp_admin_format_metrics(&m, &out);
    assert_true(n > 0);
    assert_int_equal((size_t)n, strlen(out));
    assert_non_null(
        strstr(out, "dataplane_http_responses_total{code=\"2xx\"} 7\n"));
    assert_non_null(
        strstr(out, "dataplane_http_responses_total{code=\"5xx\"} 3\n"));
    assert_non_null(
        strstr(out, "dataplane_http_responses_total{code=\"4xx\"} 0\n"));
    assert_non_null(strstr(out, "\ndataplane_connections_active 4\n"));
    assert_non_null(
        strstr(out, "\ndataplane_upstream_connect_errors_total 2\n"));
    assert_non_null(strstr(out, "\ndataplane_table_swaps_total 5\n"));
    assert_non_null(strstr(out, "\ndataplane_ready 1\n"));
    assert_non_null(
        strstr(out, "dataplane_config_info{version=\"file-abc\"} 1\n"));
    assert_non_null(strstr(out, "# TYPE dataplane_connections_active gauge\n"));
    /* standalone: no xDS series */
    assert_null(strstr(out, "dataplane_xds_"));
    free(out);
}

static void test_metrics_xds(void **state)
{
    struct dp_admin_metrics m = {0};
    char *out = NULL;

    m.xds.enabled = 1;
    m.xds.connected = 1;
    m.xds.updates_applied = 4;
    m.xds.updates_rejected = 1;
    m.xds.seconds_since_update = 2.5;
    m.xds.n_types = 2;
    strcpy(m.xds.state, "connected");
    strcpy(m.xds.control, "127.0.0.1:4242");
    strcpy(m.xds.types[0], "cds");
    strcpy(m.xds.versions[0], "7");
    strcpy(m.xds.types[1], "eds");
    m.proxy.hc_unhealthy = 2;
    m.proxy.tls_handshakes = 9;
    m.proxy.tls_handshake_errors = 3;
    m.proxy.tls_resumed = 4;
    assert_true(dp_admin_format_metrics(&m, &out) > 0);
    assert_non_null(strstr(out, "\ndataplane_xds_updates_applied_total 4\n"));
    assert_non_null(strstr(out, "\ndataplane_xds_updates_rejected_total 1\n"));
    assert_non_null(strstr(out, "\ndataplane_xds_connected 1\n"));
    assert_non_null(strstr(out, "dataplane_xds_control_info{control=\""
                                "127.0.0.1:4242\",state=\"connected\"} 1\n"));
    assert_non_null(strstr(
        out, "dataplane_xds_version_info{type=\"cds\",version=\"7\"} 1\n"));
    assert_non_null(strstr(
        out, "dataplane_xds_version_info{type=\"eds\",version=\"\"} 1\n"));
    assert_non_null(
        strstr(out, "\ndataplane_xds_seconds_since_update 2.500\n"));
    assert_non_null(strstr(out, "\ndataplane_endpoints_unhealthy 2\n"));
    assert_non_null(strstr(out,
                           "# TYPE dataplane_tls_handshakes_total counter\n"
                           "dataplane_tls_handshakes_total 9\n"));
    assert_non_null(
        strstr(out, "\ndataplane_tls_handshake_failures_total 3\n"));
    assert_non_null(strstr(out, "\ndataplane_tls_sessions_resumed_total 4\n"));
    free(out);
}

static int never_ready(void *arg, char *reason, size_t len)
{
    return 0;
}

static void test_start_bad_addr(void **state)
{
    struct dp_admin_src src = {.ready = never_ready};
    char err[CM_ERR_LEN] = "";

    assert_null(dp_admin_start("not-an-address", &src, err, sizeof(err)));
    assert_true(strlen(err) > 0);
}

static void test_start_stop(void **state)
{
    struct dp_admin_src src = {.ready = never_ready};
    char err[CM_ERR_LEN] = "";
    struct dp_admin *a = dp_admin_start("127.0.0.1:0", &src, err, sizeof(err));

    assert_non_null(a);
    dp_admin_stop(a);
    dp_admin_stop(NULL);
}

static struct dp_proxy_router_stat test_routers[2] = {
    {"api", 10, 2, 1500000},
    {"we\"ird\\", 1, 0, 250},
};
static struct dp_proxy_endpoint_stat test_eps[2] = {
    {"whoami", "127.0.0.1:8081", "127.0.0.1:8081", 1, 1},
    {"whoami", "[::1]:8082", "", 0, 1},
};
static struct dp_proxy_listener_stat test_lsn[1] = {{"web", "127.0.0.11:8000"}};
static const struct dp_proxy_report test_report = {test_routers, 2, test_eps, 2,
                                                   test_lsn,     1};

static void test_metrics_report(void **state)
{
    struct dp_admin_metrics m = {0};
    char *out = NULL;

    (void)state;
    m.report = &test_report;
    assert_true(dp_admin_format_metrics(&m, &out) > 0);
    assert_non_null(
        strstr(out, "# TYPE dataplane_router_requests_total counter\n"
                    "dataplane_router_requests_total{router=\"api\"} 10\n"
                    "dataplane_router_requests_total{router=\"we\\\"ird\\\\\"} "
                    "1\n"));
    assert_non_null(
        strstr(out, "dataplane_router_errors_total{router=\"api\"} 2\n"));
    assert_non_null(strstr(
        out,
        "dataplane_router_latency_seconds_total{router=\"api\"} 1.500000\n"));
    assert_non_null(strstr(out, "dataplane_endpoint_healthy{cluster=\"whoami\","
                                "address=\"127.0.0.1:8081\"} 1\n"));
    assert_non_null(strstr(out, "dataplane_endpoint_healthy{cluster=\"whoami\","
                                "address=\"[::1]:8082\"} 0\n"));
    assert_non_null(strstr(out, "dataplane_listener_info{name=\"web\","
                                "address=\"127.0.0.11:8000\"} 1\n"));
    free(out);
}

static void test_stats_json(void **state)
{
    char *out = NULL;
    int n;

    (void)state;
    n = dp_admin_format_stats(&test_report, &out);
    assert_true(n > 0);
    assert_int_equal((size_t)n, strlen(out));
    assert_string_equal(
        out,
        "{\"routers\":[{\"name\":\"api\",\"requests\":10,\"errors\":2,"
        "\"latency_us\":1500000},{\"name\":\"we\\\"ird\\\\\",\"requests\":1,"
        "\"errors\":0,\"latency_us\":250}],\"endpoints\":[{\"cluster\":"
        "\"whoami\",\"address\":\"127.0.0.1:8081\",\"hostname\":"
        "\"127.0.0.1:8081\",\"healthy\":true,\"checked\":true},{\"cluster\":"
        "\"whoami\",\"address\":\"[::1]:8082\",\"hostname\":\"\",\"healthy\":"
        "false,\"checked\":true}],\"listeners\":[{\"name\":\"web\","
        "\"address\":\"127.0.0.11:8000\"}]}\n");
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metrics_text),
        cmocka_unit_test(test_metrics_xds),
        cmocka_unit_test(test_metrics_report),
        cmocka_unit_test(test_stats_json),
        cmocka_unit_test(test_start_bad_addr),
        cmocka_unit_test(test_start_stop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
