/*
 * proxy_rstat_test.c -- per-router counters: route names folded to their
 * router ("#i" dropped), what an exchange counts, sums over workers, and
 * an engine's report before any table.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/proxy/proxy_int.h"

static struct dp_proxy__rstat *get(struct dp_proxy__rstats *s, const char *n)
{
    return dp_proxy__rstat_get(s, n, strlen(n));
}

static void test_names(void **state)
{
    struct dp_proxy__rstats s = {0};
    struct dp_proxy__rstat *a = get(&s, "whoami#0");

    (void)state;
    assert_non_null(a);
    assert_ptr_equal(get(&s, "whoami#1"), a);
    assert_ptr_equal(get(&s, "whoami"), a);
    assert_ptr_not_equal(get(&s, "whoami2"), a);
    assert_ptr_not_equal(get(&s, "who#ami"), a);
    assert_null(get(&s, ""));
    assert_null(get(&s, "#3"));
    assert_int_equal(s.n, 3);
    dp_proxy__rstats_deinit(&s);
    assert_null(s.head);
}

static void test_many(void **state)
{
    struct dp_proxy__rstats s = {0};
    char name[32];

    (void)state;
    for (int i = 0; i < 1000; i++) {
        snprintf(name, sizeof(name), "r%d", i);
        assert_non_null(get(&s, name));
    }
    for (int i = 0; i < 1000; i++) {
        snprintf(name, sizeof(name), "r%d#7", i);
        assert_non_null(get(&s, name));
    }
    assert_int_equal(s.n, 1000);
    dp_proxy__rstats_deinit(&s);
}

static void end(struct dp_proxy__rstat *e, int status, uint64_t t0,
                uint64_t now)
{
    struct dp_proxy__plan pl = {0};

    pl.rstat = e;
    pl.resp_status = (uint16_t)status;
    pl.t0_ns = t0;
    dp_proxy__rstat_end(&pl, now);
    assert_null(pl.rstat);
    dp_proxy__rstat_end(&pl, now + 5000000); /* idempotent */
}

static void test_sum(void **state)
{
    struct dp_proxy__rstats w1 = {0}, w2 = {0};
    struct dp_proxy__rstats *v[2] = {&w1, &w2};
    struct dp_proxy_router_stat *out;
    size_t n;

    (void)state;
    end(get(&w1, "api#0"), 200, 1000, 2001000); /* 2000 us */
    end(get(&w1, "api#1"), 503, 0, 1000000);    /* 1000 us, error */
    end(get(&w1, "api"), 0, 0, 9000000);        /* not answered */
    end(get(&w2, "api"), 404, 0, 500000);       /* 500 us */
    end(get(&w2, "web"), 502, 0, 0);            /* error, no time */
    end(NULL, 200, 0, 1);                       /* no router */
    assert_int_equal(dp_proxy__rstat_sum(v, 2, &out, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(out[0].name, "api");
    assert_int_equal(out[0].requests, 3);
    assert_int_equal(out[0].errors, 1);
    assert_int_equal(out[0].latency_us, 3500);
    assert_string_equal(out[1].name, "web");
    assert_int_equal(out[1].requests, 1);
    assert_int_equal(out[1].errors, 1);
    assert_int_equal(out[1].latency_us, 0);
    free(out);
    assert_int_equal(dp_proxy__rstat_sum(v, 0, &out, &n), 0);
    assert_int_equal(n, 0);
    free(out);
    dp_proxy__rstats_deinit(&w1);
    dp_proxy__rstats_deinit(&w2);
}

static void test_report_empty(void **state)
{
    struct dp_proxy_opts o = {.workers = 2};
    struct dp_proxy *p = dp_proxy_new(&o);
    struct dp_proxy_report *r;

    (void)state;
    assert_non_null(p);
    r = dp_proxy_report_new(p);
    assert_non_null(r);
    assert_int_equal(r->n_routers, 0);
    assert_int_equal(r->n_endpoints, 0);
    assert_int_equal(r->n_listeners, 0);
    dp_proxy_report_free(r);
    dp_proxy_report_free(NULL);
    dp_proxy_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_many),
        cmocka_unit_test(test_sum),
        cmocka_unit_test(test_report_empty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
