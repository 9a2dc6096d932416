/*
 * api_test.c -- the API's JSON shaping (routers, services, middlewares,
 * entry points, nodes, revisions, overview, look-up, paging) over a
 * configuration in cm_config_to_json()'s shape, and the chart series
 * (rates from cumulative counters, node states, the ring).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "common/err/err.h"
#include "controlplane/http/http-int.h"

static const char cfg_text[] =
    "{\"entryPoints\":{\"websecure\":{\"address\":\":8443\"},"
    "\"web\":{\"address\":\":8000\"}},"
    "\"http\":{\"routers\":{"
    "\"whoami\":{\"rule\":\"Host(`a`)\",\"service\":\"whoami\","
    "\"entryPoints\":[\"web\"],\"middlewares\":[\"strip\"],\"priority\":10},"
    "\"api\":{\"rule\":\"PathPrefix(`/api`)\",\"service\":\"canary@file\","
    "\"middlewares\":[\"strip@file\",\"hdr\"]}},"
    "\"services\":{"
    "\"whoami\":{\"loadBalancer\":{\"servers\":[{\"url\":\"http://a:1\"},"
    "{\"url\":\"http://b:2\"}]}},"
    "\"canary\":{\"weighted\":{\"services\":[{\"name\":\"whoami\","
    "\"weight\":1}]}}},"
    "\"middlewares\":{\"strip\":{\"stripPrefix\":{\"prefixes\":[\"/x\"]}},"
    "\"hdr\":{\"headers\":{}}}}}";

static json_t *cfg(void)
{
    json_t *j = json_loads(cfg_text, 0, NULL);
    assert_non_null(j);
    return j;
}

static const char *str(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static void test_routers(void **state)
{
    json_t *c = cfg(), *r = cp_http__api_routers(c), *o;

    assert_int_equal(json_array_size(r), 2);
    /* sorted by name */
    assert_string_equal(str(json_array_get(r, 0), "name"), "api@file");
    o = json_array_get(r, 1);
    assert_string_equal(str(o, "name"), "whoami@file");
    assert_string_equal(str(o, "provider"), "file");
    assert_string_equal(str(o, "status"), "enabled");
    assert_string_equal(str(o, "rule"), "Host(`a`)");
    assert_int_equal(json_integer_value(json_object_get(o, "priority")), 10);
    assert_int_equal(json_array_size(json_object_get(o, "using")), 1);
    /* no entryPoints: every entry point, sorted */
    o = json_array_get(r, 0);
    assert_int_equal(json_array_size(json_object_get(o, "using")), 2);
    assert_string_equal(
        json_string_value(json_array_get(json_object_get(o, "using"), 0)),
        "web");
    /* look-up by name and name@file */
    assert_ptr_equal(cp_http__api_find(r, "whoami", 6), json_array_get(r, 1));
    assert_ptr_equal(cp_http__api_find(r, "whoami@file", 11),
                     json_array_get(r, 1));
    assert_null(cp_http__api_find(r, "who", 3));
    assert_null(cp_http__api_find(r, "whoami@docker", 13));
    json_decref(r);
    json_decref(c);
}

static void test_services(void **state)
{
    json_t *c = cfg(), *s, *o, *st;
    struct cp_http_endpoint ep[] = {
        {"whoami", "http://a:1", 1},
        {"whoami@file", "http://b:2", 0},
        {"other", "http://a:1", 0},
    };

    s = cp_http__api_services(c, ep, 3);
    assert_int_equal(json_array_size(s), 2);
    o = cp_http__api_find(s, "whoami", 6);
    assert_non_null(o);
    assert_string_equal(str(o, "type"), "loadbalancer");
    assert_string_equal(str(o, "status"), "warning"); /* one server down */
    st = json_object_get(o, "serverStatus");
    assert_string_equal(str(st, "http://a:1"), "UP");
    assert_string_equal(str(st, "http://b:2"), "DOWN");
    assert_int_equal(json_array_size(json_object_get(o, "usedBy")), 1);
    o = cp_http__api_find(s, "canary", 6);
    assert_string_equal(str(o, "type"), "weighted");
    assert_string_equal(str(o, "status"), "enabled");
    assert_null(json_object_get(o, "serverStatus"));
    /* referenced as canary@file */
    assert_string_equal(
        json_string_value(json_array_get(json_object_get(o, "usedBy"), 0)),
        "api@file");
    json_decref(s);
    /* no health known: enabled, no serverStatus */
    s = cp_http__api_services(c, NULL, 0);
    o = cp_http__api_find(s, "whoami", 6);
    assert_string_equal(str(o, "status"), "enabled");
    assert_null(json_object_get(o, "serverStatus"));
    json_decref(s);
    json_decref(c);
}

static void test_middlewares_entrypoints(void **state)
{
    json_t *c = cfg(), *m = cp_http__api_middlewares(c), *e, *o;

    o = cp_http__api_find(m, "strip", 5);
    assert_string_equal(str(o, "type"), "stripprefix");
    /* used by api (as strip@file) and whoami */
    assert_int_equal(json_array_size(json_object_get(o, "usedBy")), 2);
    o = cp_http__api_find(m, "hdr", 3);
    assert_string_equal(str(o, "type"), "headers");
    e = cp_http__api_entrypoints(c);
    assert_int_equal(json_array_size(e), 2);
    assert_string_equal(str(json_array_get(e, 0), "name"), "web");
    assert_string_equal(str(json_array_get(e, 0), "address"), ":8000");
    json_decref(m);
    json_decref(e);
    json_decref(c);
}

static void test_empty_config(void **state)
{
    json_t *r = cp_http__api_routers(NULL),
           *s = cp_http__api_services(NULL, NULL, 0);

    assert_int_equal(json_array_size(r), 0);
    assert_int_equal(json_array_size(s), 0);
    json_decref(r);
    json_decref(s);
}

static const struct cp_http_node nodes[] = {
    {.name = "dn-b", .role = "data", .healthy = true, .revision = 7},
    {.name = "cn-1",
     .role = "control",
     .leader = true,
     .healthy = true,
     .address = "127.0.0.1:4242",
     .revision = 7,
     .last_seen_ms = 1000},
    {.name = "dn-a",
     .role = "data",
     .healthy = true,
     .revision = 6,
     .nack_revision = 7,
     .nack_error = "bad route"},
    {.name = "dn-c", .role = "data", .healthy = false, .revision = 7},
    {.name = "cn-0", .role = "control", .healthy = false},
};

static void test_nodes(void **state)
{
    json_t *n = cp_http__api_nodes(nodes, 5, 7), *o;

    assert_int_equal(json_array_size(n), 5);
    /* control nodes first, then data nodes, by name */
    assert_string_equal(str(json_array_get(n, 0), "name"), "cn-0");
    assert_string_equal(str(json_array_get(n, 1), "name"), "cn-1");
    assert_string_equal(str(json_array_get(n, 2), "name"), "dn-a");
    o = json_array_get(n, 1);
    assert_true(json_is_true(json_object_get(o, "leader")));
    assert_string_equal(str(o, "lastSeen"), "1970-01-01T00:00:01.000Z");
    assert_true(json_is_true(json_object_get(o, "upToDate")));
    o = json_array_get(n, 2);
    assert_true(json_is_false(json_object_get(o, "upToDate")));
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(o, "nack"), "revision")),
                     7);
    assert_string_equal(str(json_object_get(o, "nack"), "error"), "bad route");
    assert_true(json_is_null(json_object_get(json_array_get(n, 0), "nack")));
    json_decref(n);
}

static void test_revisions_overview(void **state)
{
    struct cp_http_revision revs[] = {
        {7, 2000, "apply", "+router x"},
        {6, 1000, NULL, NULL},
    };
    json_t *r = cp_http__api_revisions(revs, 2, nodes, 5, 7), *o, *c = cfg();
    json_t *rt, *sv, *mw, *ov, *cl;

    o = json_array_get(r, 0);
    assert_true(json_is_true(json_object_get(o, "current")));
    /* dn-b serves 7; dn-c too but is unhealthy; dn-a NACKed it */
    assert_int_equal(json_integer_value(json_object_get(o, "servedBy")), 1);
    assert_int_equal(json_integer_value(json_object_get(o, "nackedBy")), 1);
    assert_int_equal(json_integer_value(json_object_get(o, "dataNodes")), 3);
    assert_string_equal(str(o, "source"), "apply");
    o = json_array_get(r, 1);
    assert_int_equal(json_integer_value(json_object_get(o, "servedBy")), 1);
    assert_true(json_is_null(json_object_get(o, "source")));
    json_decref(r);

    rt = cp_http__api_routers(c);
    sv = cp_http__api_services(
        c, (struct cp_http_endpoint[]){{"whoami", "http://a:1", 0}}, 1);
    mw = cp_http__api_middlewares(c);
    ov = cp_http__api_overview(rt, sv, mw, 7, nodes, 5);
    assert_int_equal(
        json_integer_value(json_object_get(
            json_object_get(json_object_get(ov, "http"), "routers"), "total")),
        2);
    assert_int_equal(
        json_integer_value(json_object_get(
            json_object_get(json_object_get(ov, "http"), "services"),
            "errors")), /* its only known server is down */
        1);
    cl = json_object_get(ov, "cluster");
    assert_string_equal(str(cl, "leader"), "cn-1");
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(cl, "dataNodes"), "healthy")),
                     2);
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(cl, "controlNodes"), "total")),
                     2);
    json_decref(rt);
    json_decref(sv);
    json_decref(mw);
    json_decref(ov);
    json_decref(c);
}

static void test_page(void **state)
{
    json_t *c = cfg(), *r = cp_http__api_routers(c), *p;
    int next;

    p = cp_http__api_page(r, "", 1, 1, &next);
    assert_int_equal(json_array_size(p), 1);
    assert_int_equal(next, 2);
    json_decref(p);
    p = cp_http__api_page(r, NULL, 2, 1, &next);
    assert_string_equal(str(json_array_get(p, 0), "name"), "whoami@file");
    assert_int_equal(next, 0);
    json_decref(p);
    p = cp_http__api_page(r, "WHO", 1, 100, &next);
    assert_int_equal(json_array_size(p), 1);
    json_decref(p);
    p = cp_http__api_page(r, "zzz", 0, 0, &next);
    assert_int_equal(json_array_size(p), 0);
    json_decref(p);
    json_decref(r);
    json_decref(c);
}

static double num_at(json_t *ts, const char *router, const char *f, size_t i)
{
    json_t *v = json_array_get(
        json_object_get(json_object_get(json_object_get(ts, "routers"), router),
                        f),
        i);
    return json_is_null(v) ? NAN : json_number_value(v);
}

static void test_series(void **state)
{
    struct cp_http__series *s = cp_http__series_new(3);
    struct cp_http_router_traffic tr = {"web", 100, 0, 0};
    struct cp_http_node n = {.name = "dn-0", .role = "data", .healthy = true};
    json_t *pt, *ts;

    pt = cp_http__series_add(s, 1000, &tr, 1, &n, 1);
    /* first sample: no rate yet */
    assert_true(json_is_null(json_object_get(
        json_object_get(json_object_get(pt, "routers"), "web"), "rps")));
    json_decref(pt);
    tr.requests = 150;
    tr.errors = 5;
    tr.latency_us = 50 * 2000;
    n.healthy = false;
    pt = cp_http__series_add(s, 1500, &tr, 1, &n, 1);
    assert_int_equal(json_integer_value(
                         json_object_get(json_object_get(pt, "nodes"), "dn-0")),
                     2);
    json_decref(pt);
    ts = cp_http__series_json(s, 500);
    assert_int_equal(json_array_size(json_object_get(ts, "times")), 2);
    assert_true(isnan(num_at(ts, "web", "rps", 0)));
    assert_float_equal(num_at(ts, "web", "rps", 1), 100.0, 0.001);
    assert_float_equal(num_at(ts, "web", "errors", 1), 10.0, 0.001);
    assert_float_equal(num_at(ts, "web", "latency_ms", 1), 2.0, 0.001);
    json_decref(ts);
    /* a counter going down restarts the rate; a node gone is absent */
    tr.requests = 10;
    pt = cp_http__series_add(s, 2000, &tr, 1, NULL, 0);
    json_decref(pt);
    tr.requests = 20;
    pt = cp_http__series_add(s, 3000, &tr, 1, NULL, 0);
    json_decref(pt);
    ts = cp_http__series_json(s, 500);
    /* ring of 3: samples 2..4 */
    assert_int_equal(json_array_size(json_object_get(ts, "times")), 3);
    assert_int_equal(
        json_integer_value(json_array_get(json_object_get(ts, "times"), 0)),
        1500);
    assert_true(isnan(num_at(ts, "web", "rps", 1)));
    assert_float_equal(num_at(ts, "web", "rps", 2), 10.0, 0.001);
    json_t *st = json_object_get(
        json_object_get(json_object_get(ts, "nodes"), "dn-0"), "state");
    assert_int_equal(json_integer_value(json_array_get(st, 0)), 2);
    assert_int_equal(json_integer_value(json_array_get(st, 2)), 0);
    json_decref(ts);
    /* unseen for a whole ring: dropped */
    for (int i = 0; i < 3; i++)
        json_decref(cp_http__series_add(s, 4000 + i, &tr, 1, NULL, 0));
    ts = cp_http__series_json(s, 500);
    assert_null(json_object_get(json_object_get(ts, "nodes"), "dn-0"));
    json_decref(ts);
    cp_http__series_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_routers),
        cmocka_unit_test(test_services),
        cmocka_unit_test(test_middlewares_entrypoints),
        cmocka_unit_test(test_empty_config),
        cmocka_unit_test(test_nodes),
        cmocka_unit_test(test_revisions_overview),
        cmocka_unit_test(test_page),
        cmocka_unit_test(test_series),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
