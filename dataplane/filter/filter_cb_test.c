/*
 * filter_cb_test.c -- circuitBreaker: expression syntax and type errors
 * (as oxy's predicate parser), precedence, state transitions standby ->
 * tripped -> recovering (ratio ramp) -> standby with an injected clock and
 * synthetic outcomes, rolling windows, latency quantiles; multi-thread
 * stress of one shared breaker.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "dataplane/filter/filter_testlib.h"

#define FV1(x) Traefikee__Filters__V1__##x
#define MS     1000000ull
#define S      1000000000ull
#define T0     (1000 * S)

static struct dp_filter_chain *cb(struct ft_route *r,
                                  struct dp_filter_registry *reg,
                                  const char *expr, uint64_t check_ns,
                                  char *err)
{
    FV1(CircuitBreaker) m = TRAEFIKEE__FILTERS__V1__CIRCUIT_BREAKER__INIT;
    Google__Protobuf__Duration d = GOOGLE__PROTOBUF__DURATION__INIT;

    m.expression = (char *)expr;
    if (check_ns) {
        d.seconds = (int64_t)(check_ns / S);
        d.nanos = (int32_t)(check_ns % S);
        m.check_period = &d;
    }
    ft_route_init(r, "cb", "v");
    ft_route_add(r, DP_FILTER_N_CIRCUIT_BREAKER, "CircuitBreaker", &m.base);
    return ft_chain(r, reg, err);
}

static void bad(const char *expr, const char *want)
{
    struct dp_filter_registry *reg = dp_filter_registry_new();
    char err[CM_ERR_LEN];
    struct ft_route r;

    assert_null(cb(&r, reg, expr, 0, err));
    if (strstr(err, want) == NULL)
        fail_msg("%s: got \"%s\", want \"%s\"", expr, err, want);
    assert_non_null(strstr(err, "traefikee.filters.circuit_breaker: "
                                "expression: column "));
    ft_route_deinit(&r);
    dp_filter_registry_free(reg);
}

static void good(const char *expr)
{
    struct dp_filter_registry *reg = dp_filter_registry_new();
    char err[CM_ERR_LEN];
    struct ft_route r;
    struct dp_filter_chain *ch = cb(&r, reg, expr, 0, err);

    if (ch == NULL)
        fail_msg("%s: %s", expr, err);
    dp_filter_chain_free(ch);
    ft_route_deinit(&r);
    dp_filter_registry_free(reg);
}

static void test_syntax(void **state)
{
    char deep[400];

    good("NetworkErrorRatio() > 0.5");
    good("ResponseCodeRatio(500, 600, 0, 600) > 0.25");
    good("LatencyAtQuantileMS(50.0) > 100");
    good("  (NetworkErrorRatio() >= 0.5) || (ResponseCodeRatio(500,600,0,600)"
         " != 0.0 && LatencyAtQuantileMS(99.9) <= 1000) ");
    good("NetworkErrorRatio() == 1e-1 || NetworkErrorRatio() < .5");
    good("(NetworkErrorRatio()) > (0.5)");
    bad("", "unexpected end of expression");
    bad("NetworkErrorRatio() > 1", "ratios compare with a float literal");
    bad("LatencyAtQuantileMS(50.0) > 100.0",
        "LatencyAtQuantileMS compares with an int literal");
    bad("LatencyAtQuantileMS(50) > 100", "wrong arguments for "
                                         "LatencyAtQuantileMS()");
    bad("ResponseCodeRatio(500, 600, 0) > 0.5",
        "wrong number of arguments for ResponseCodeRatio()");
    bad("ResponseCodeRatio(500.0, 600, 0, 600) > 0.5", "wrong arguments");
    bad("Foo() > 0.5", "unsupported function: Foo");
    bad("NetworkErrorRatio > 0.5", "unsupported identifier NetworkErrorRatio");
    bad("NetworkErrorRatio() > 0.5 &&", "unexpected end of expression");
    bad("NetworkErrorRatio() > 0.5 && 1", "&& needs comparisons");
    bad("NetworkErrorRatio() > 0.5 > 0.1", "comparisons do not chain");
    bad("0.5 < NetworkErrorRatio()", "metric function on its left");
    bad("!NetworkErrorRatio()", "unexpected '!'");
    bad("NetworkErrorRatio()", "expected a predicate");
    bad("NetworkErrorRatio() > 0.5)", "unexpected ')' after the expression");
    bad("NetworkErrorRatio() > 0.5 & NetworkErrorRatio() > 0.5",
        "unexpected '&'");
    bad("NetworkErrorRatio() > 0.5x", "unexpected");
    bad("LatencyAtQuantileMS(100.5) > 1", "quantile outside 0-100");
    bad("NetworkErrorRatio() > 99999999999999999999999.0e999999", "unexpected");
    memset(deep, '(', 100);
    strcpy(deep + 100, "NetworkErrorRatio() > 0.5");
    bad(deep, "nested too deeply");
}

/* One request at <t> ending at <t + lat> with <status>; returns the
 * verdict status (200 = forwarded). */
static int req(const struct dp_filter_chain *ch, uint64_t t, uint64_t lat,
               int status)
{
    struct ft_req q;
    int v;

    ft_req_init(&q, "GET", "h", "/", "10.0.0.1");
    q.req.now_ns = t;
    v = ft_run(&q, ch) == DP_FILTER_CONTINUE ? 200 : q.ctx.status;
    dp_filter_end(&q.ctx, v == 200 ? (uint16_t)status : (uint16_t)v, t + lat);
    ft_req_deinit(&q);
    return v;
}

static void test_transitions(void **state)
{
    struct dp_filter_registry *reg = dp_filter_registry_new();
    char err[CM_ERR_LEN];
    struct ft_route r;
    struct dp_filter_chain *ch =
        cb(&r, reg, "NetworkErrorRatio() > 0.5", 0, err);
    uint64_t trip, rec;
    static const int ramp[8] = {503, 503, 503, 200, 503, 503, 503, 200};

    assert_non_null(ch);
    for (int i = 0; i < 4; i++) /* checked at the first end only */
        assert_int_equal(req(ch, T0, 0, 200), 200);
    for (int i = 0; i < 6; i++)
        assert_int_equal(req(ch, T0, 0, 502), 200); /* within check period */
    trip = T0 + 200 * MS;
    assert_int_equal(req(ch, trip, 0, 504), 200); /* check: 7/11 > 0.5 */
    assert_int_equal(req(ch, trip + 1, 0, 200), 503);
    assert_int_equal(req(ch, trip + 10 * S - 1, 0, 200), 503);
    /* fallbackDuration over: recovering; target ratio 0 -> denied */
    rec = trip + 10 * S;
    assert_int_equal(req(ch, rec, 0, 200), 503);
    for (int i = 0; i < 8; i++) /* target 0.25 at half the recovery */
        assert_int_equal(req(ch, rec + 5 * S, 0, 200), ramp[i]);
    /* recoveryDuration over: standby */
    assert_int_equal(req(ch, rec + 10 * S + 1, 0, 200), 200);
    assert_int_equal(req(ch, rec + 10 * S + 2, 0, 200), 200);
    dp_filter_chain_free(ch);
    ft_route_deinit(&r);
    assert_int_equal(dp_filter_registry_count(reg), 0);
    dp_filter_registry_free(reg);
}

static void test_recovery_trips_again(void **state)
{
    struct dp_filter_registry *reg = dp_filter_registry_new();
    char err[CM_ERR_LEN];
    struct ft_route r;
    struct dp_filter_chain *ch =
        cb(&r, reg, "NetworkErrorRatio() > 0.5", 1, err);

    assert_int_equal(req(ch, T0, 0, 502), 200); /* trips at once */
    assert_int_equal(req(ch, T0 + 1, 0, 200), 503);
    /* in recovery the allowed requests fail again: tripped again */
    for (uint64_t t = T0 + 10 * S; t < T0 + 15 * S; t += 100 * MS)
        req(ch, t, 0, 502);
    assert_int_equal(req(ch, T0 + 15 * S, 0, 200), 503);
    assert_int_equal(req(ch, T0 + 21 * S, 0, 200), 503); /* recovering */
    dp_filter_chain_free(ch);
    ft_route_deinit(&r);
    dp_filter_registry_free(reg);
}

static void test_codes_window(void **state)
{
    struct dp_filter_registry *reg = dp_filter_registry_new();
    char err[CM_ERR_LEN];
    struct ft_route r;
    struct dp_filter_chain *ch =
        cb(&r, reg, "ResponseCodeRatio(500, 600, 0, 600) > 0.25", 1, err);
    uint64_t t = T0;

    for (int i = 0; i < 3; i++)
        assert_int_equal(req(ch, t += 10, 0, 200), 200);
    assert_int_equal(req(ch, t += 10, 0, 500), 200); /* 1/4: not > 0.25 */
    assert_int_equal(req(ch, t += 10, 0, 200), 200);
    /* old errors leave the 10 s window */
    t += 11 * S;
    assert_int_equal(req(ch, t, 0, 503), 200); /* 1/1 > 0.25: trips */
    assert_int_equal(req(ch, t + 10, 0, 200), 503);
    dp_filter_chain_free(ch);
    ft_route_deinit(&r);

    /* || binds looser than &&: A || (B && C) with A true trips */
    ch = cb(&r, reg,
            "ResponseCodeRatio(200, 300, 0, 600) > 0.5 || "
            "NetworkErrorRatio() > 0.5 && ResponseCodeRatio(400, 500, 0, 600) "
            "> 0.5",
            1, err);
    assert_non_null(ch);
    assert_int_equal(req(ch, T0, 0, 200), 200);
    assert_int_equal(req(ch, T0 + 10, 0, 200), 503);
    dp_filter_chain_free(ch);
    ft_route_deinit(&r);
    dp_filter_registry_free(reg);
}

static void test_latency(void **state)
{
    struct dp_filter_registry *reg = dp_filter_registry_new();
    char err[CM_ERR_LEN];
    struct ft_route r;
    struct dp_filter_chain *ch =
        cb(&r, reg, "LatencyAtQuantileMS(50.0) > 100", 1, err);
    uint64_t t = T0;

    assert_non_null(ch);
    for (int i = 0; i < 3; i++)
        assert_int_equal(req(ch, t += 10, 50 * MS, 200), 200);
    for (int i = 0; i < 3; i++) /* median of 50,50,50,300,300,300 = 50 */
        assert_int_equal(req(ch, t += 10, 300 * MS, 200), 200);
    assert_int_equal(req(ch, t += 10, 300 * MS, 200), 200); /* now 300 */
    assert_int_equal(req(ch, t += 10, 0, 200), 503);
    dp_filter_chain_free(ch);
    ft_route_deinit(&r);
    dp_filter_registry_free(reg);
}

struct stress {
    const struct dp_filter_chain *ch;
    int seed;
};

static void *worker(void *arg)
{
    struct stress *s = arg;
    struct ft_req *q = malloc(sizeof(*q));

    for (int i = 0; i < 5000; i++) {
        uint64_t t = T0 + (uint64_t)i * MS;
        ft_req_init(q, "GET", "h", "/", "10.0.0.1");
        q->req.now_ns = t;
        ft_run(q, s->ch);
        dp_filter_end(&q->ctx, (i + s->seed) % 3 ? 200 : 502, t + MS);
        ft_req_deinit(q);
    }
    free(q);
    return NULL;
}

static void test_stress(void **state)
{
    struct dp_filter_registry *reg = dp_filter_registry_new();
    char err[CM_ERR_LEN];
    struct ft_route r;
    struct stress s[8];
    pthread_t th[8];

    s[0].ch = cb(&r, reg,
                 "NetworkErrorRatio() > 0.3 || LatencyAtQuantileMS(90.0) > 0",
                 0, err);
    assert_non_null(s[0].ch);
    for (int i = 0; i < 8; i++) {
        s[i].ch = s[0].ch;
        s[i].seed = i;
        assert_int_equal(pthread_create(&th[i], NULL, worker, &s[i]), 0);
    }
    for (int i = 0; i < 8; i++)
        pthread_join(th[i], NULL);
    dp_filter_chain_free((struct dp_filter_chain *)s[0].ch);
    ft_route_deinit(&r);
    assert_int_equal(dp_filter_registry_count(reg), 0);
    dp_filter_registry_free(reg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_syntax),
        cmocka_unit_test(test_transitions),
        cmocka_unit_test(test_recovery_trips_again),
        cmocka_unit_test(test_codes_window),
        cmocka_unit_test(test_latency),
        cmocka_unit_test(test_stress),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
