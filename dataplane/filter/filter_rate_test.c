/*
 * filter_rate_test.c -- rateLimit over simulated time (GCRA vs Go's
 * rate.Limiter numbers, maxDelay, Retry-After / X-Retry-In, per-IP keys,
 * bounded table) and inFlightReq; multi-thread stress of both on shared
 * state (exact admitted counts under contention).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "dataplane/filter/filter_testlib.h"

#define FV1(x) Traefikee__Filters__V1__##x
#define MS     1000000ull
#define T0     1000000000000ull

static struct dp_filter_chain *rate(struct ft_route *r,
                                    struct dp_filter_registry *reg, int64_t avg,
                                    int64_t period_s, int64_t burst,
                                    uint32_t max_sources)
{
    FV1(RateLimit) m = TRAEFIKEE__FILTERS__V1__RATE_LIMIT__INIT;
    Google__Protobuf__Duration d = GOOGLE__PROTOBUF__DURATION__INIT;
    struct dp_filter_opts o = {.rate_max_sources = max_sources};
    struct dp_filter_chain *ch = NULL;
    char err[CM_ERR_LEN];

    m.average = avg;
    m.burst = burst;
    if (period_s) {
        d.seconds = period_s;
        m.period = &d;
    }
    ft_route_init(r, "r", "v");
    ft_route_add(r, DP_FILTER_N_RATE_LIMIT, "RateLimit", &m.base);
    assert_int_equal(
        dp_filter_chain_build(&r->rt, reg, &o, &ch, err, sizeof(err)), 0);
    return ch;
}

struct res {
    int status;
    uint64_t delay;
    char retry_after[16], retry_in[32];
};

static struct res hit(const struct dp_filter_chain *ch, const char *ip,
                      uint64_t now)
{
    struct ft_req q;
    struct res r = {200, 0, "", ""};

    ft_req_init(&q, "GET", "h", "/", ip);
    q.req.now_ns = now;
    if (ft_run(&q, ch) == DP_FILTER_RESPOND) {
        r.status = q.ctx.status;
        snprintf(r.retry_after, sizeof(r.retry_after), "%s",
                 ft_resp_hdr(&q, "Retry-After"));
        snprintf(r.retry_in, sizeof(r.retry_in), "%s",
                 ft_resp_hdr(&q, "X-Retry-In"));
    }
    r.delay = q.ctx.delay_ns;
    dp_filter_end(&q.ctx, 200, now);
    ft_req_deinit(&q);
    return r;
}

static void test_rate_burst(void **state)
{
    struct dp_filter_registry *reg = dp_filter_registry_new();
    struct ft_route r;
    struct dp_filter_chain *ch = rate(&r, reg, 10, 1, 5, 0);
    struct res x;

    for (int i = 0; i < 5; i++) {
        x = hit(ch, "10.0.0.1", T0);
        assert_int_equal(x.status, 200);
        assert_int_equal(x.delay, 0);
    }
    /* the 6th waits 100 ms > maxDelay 1s/(10*2) = 50 ms: 429 */
    x = hit(ch, "10.0.0.1", T0);
    assert_int_equal(x.status, 429);
    assert_string_equal(x.retry_after, "1");
    assert_string_equal(x.retry_in, "100ms");
    assert_int_equal(hit(ch, "10.0.0.2", T0).status, 200); /* own bucket */
    /* 60 ms later: a token is 40 ms away, within maxDelay */
    x = hit(ch, "10.0.0.1", T0 + 60 * MS);
    assert_int_equal(x.status, 200);
    assert_int_equal(x.delay, 40 * MS);
    /* that reservation took the token: next one waits 140 ms */
    x = hit(ch, "10.0.0.1", T0 + 60 * MS);
    assert_int_equal(x.status, 429);
    assert_string_equal(x.retry_in, "140ms");
    /* after a long idle time the full burst is back */
    for (int i = 0; i < 5; i++)
        assert_int_equal(hit(ch, "10.0.0.1", T0 + 10000 * MS).status, 200);
    assert_int_equal(hit(ch, "10.0.0.1", T0 + 10000 * MS).status, 429);
    dp_filter_chain_free(ch);
    ft_route_deinit(&r);
    dp_filter_registry_free(reg);
}

static void test_rate_slow(void **state)
{
    struct dp_filter_registry *reg = dp_filter_registry_new();
    struct ft_route r;
    /* 1 per minute, burst 0 -> 1: maxDelay 500 ms (rate < 1/s) */
    struct dp_filter_chain *ch = rate(&r, reg, 1, 60, 0, 0);
    struct res x;

    assert_int_equal(hit(ch, "2001:db8::1", T0).status, 200);
    x = hit(ch, "2001:db8::1", T0 + 1000 * MS);
    assert_int_equal(x.status, 429);
    assert_string_equal(x.retry_after, "59");
    assert_string_equal(x.retry_in, "59s");
    x = hit(ch, "2001:db8::1", T0 + 59600 * MS); /* 400 ms early: delayed */
    assert_int_equal(x.status, 200);
    assert_int_equal(x.delay, 400 * MS);
    x = hit(ch, "2001:db8::1", T0 + 59600 * MS);
    assert_int_equal(x.status, 429);
    assert_string_equal(x.retry_in, "1m0.4s");
    dp_filter_chain_free(ch);
    ft_route_deinit(&r);

    /* average 0: no limit, no filter */
    ch = rate(&r, reg, 0, 1, 1, 0);
    assert_null(ch);
    ft_route_deinit(&r);
    dp_filter_registry_free(reg);
}

static void test_rate_bounded(void **state)
{
    struct dp_filter_registry *reg = dp_filter_registry_new();
    struct ft_route r;
    struct dp_filter_chain *ch = rate(&r, reg, 1, 3600, 1, 16);
    char ip[32];

    assert_int_equal(hit(ch, "10.0.0.1", T0).status, 200);
    assert_int_equal(hit(ch, "10.0.0.1", T0).status, 429);
    for (int i = 0; i < 2000; i++) {
        snprintf(ip, sizeof(ip), "10.1.%d.%d", i / 256, i % 256);
        assert_int_equal(hit(ch, ip, T0 + (uint64_t)i).status, 200);
    }
    /* 16 entries at most: 10.0.0.1's bucket was evicted (forgotten) */
    assert_int_equal(hit(ch, "10.0.0.1", T0 + 3000).status, 200);
    dp_filter_chain_free(ch);
    ft_route_deinit(&r);
    dp_filter_registry_free(reg);
}

static void test_rate_errors(void **state)
{
    struct dp_filter_registry *reg = dp_filter_registry_new();
    FV1(RateLimit) m = TRAEFIKEE__FILTERS__V1__RATE_LIMIT__INIT;
    struct dp_filter_chain *ch = NULL;
    char err[CM_ERR_LEN];
    struct ft_route r;

    m.average = -1;
    ft_route_init(&r, "r", "v");
    ft_route_add(&r, DP_FILTER_N_RATE_LIMIT, "RateLimit", &m.base);
    assert_int_equal(
        dp_filter_chain_build(&r.rt, reg, NULL, &ch, err, sizeof(err)),
        GW_EINVAL);
    assert_string_equal(err, "traefikee.filters.rate_limit: average must not "
                             "be negative");
    ft_route_deinit(&r);
    /* wrong type URL */
    ft_route_init(&r, "r", "v");
    ft_route_add(&r, DP_FILTER_N_RATE_LIMIT, "InFlightReq", &m.base);
    assert_int_equal(
        dp_filter_chain_build(&r.rt, reg, NULL, &ch, err, sizeof(err)),
        GW_EINVAL);
    assert_string_equal(err, "traefikee.filters.rate_limit: type_url "
                             "\"type.googleapis.com/traefikee.filters.v1."
                             "InFlightReq\" is not type.googleapis.com/"
                             "traefikee.filters.v1.RateLimit");
    ft_route_deinit(&r);
    dp_filter_registry_free(reg);
}

static struct dp_filter_chain *inflight(struct ft_route *r,
                                        struct dp_filter_registry *reg,
                                        int64_t amount, char *err)
{
    FV1(InFlightReq) m = TRAEFIKEE__FILTERS__V1__IN_FLIGHT_REQ__INIT;

    m.amount = amount;
    ft_route_init(r, "r", "v");
    ft_route_add(r, DP_FILTER_N_IN_FLIGHT_REQ, "InFlightReq", &m.base);
    return ft_chain(r, reg, err);
}

static void test_inflight(void **state)
{
    struct dp_filter_registry *reg = dp_filter_registry_new();
    char err[CM_ERR_LEN];
    struct ft_route r;
    struct dp_filter_chain *ch = inflight(&r, reg, 2, err);
    struct ft_req a, b, c, d;

    assert_non_null(ch);
    ft_req_init(&a, "GET", "h", "/", "10.0.0.1");
    ft_req_init(&b, "GET", "h", "/", "10.0.0.1");
    ft_req_init(&c, "GET", "h", "/", "10.0.0.1");
    ft_req_init(&d, "GET", "h", "/", "10.0.0.2");
    assert_int_equal(ft_run(&a, ch), DP_FILTER_CONTINUE);
    assert_int_equal(ft_run(&b, ch), DP_FILTER_CONTINUE);
    assert_int_equal(ft_run(&c, ch), DP_FILTER_RESPOND);
    assert_int_equal(c.ctx.status, 429);
    assert_memory_equal(c.ctx.body.ptr, "max connections reached: 2", 26);
    dp_filter_end(&c.ctx, 429, 0);
    assert_int_equal(ft_run(&d, ch), DP_FILTER_CONTINUE); /* other IP */
    dp_filter_end(&a.ctx, 200, 0);
    dp_filter_end(&a.ctx, 200, 0); /* idempotent */
    assert_int_equal(ft_run(&c, ch), DP_FILTER_CONTINUE);
    /* the chain may go before the requests end */
    dp_filter_chain_free(ch);
    dp_filter_end(&b.ctx, 200, 0);
    dp_filter_end(&c.ctx, 200, 0);
    dp_filter_end(&d.ctx, 200, 0);
    assert_int_equal(dp_filter_registry_count(reg), 0);
    ft_req_deinit(&a);
    ft_req_deinit(&b);
    ft_req_deinit(&c);
    ft_req_deinit(&d);
    ft_route_deinit(&r);

    assert_null(inflight(&r, reg, 0, err));
    assert_string_equal(err, "traefikee.filters.in_flight_req: amount must be "
                             "positive, got 0");
    ft_route_deinit(&r);
    dp_filter_registry_free(reg);
}

/* ==== stress ==== */

struct stress {
    const struct dp_filter_chain *ch;
    _Atomic int admitted, over, max_seen;
    _Atomic int cur;
    int per_thread;
};

static void *rate_worker(void *arg)
{
    struct stress *s = arg;
    struct ft_req *q = malloc(sizeof(*q));

    for (int i = 0; i < s->per_thread; i++) {
        ft_req_init(q, "GET", "h", "/", "10.9.9.9");
        q->req.now_ns = T0;
        if (ft_run(q, s->ch) == DP_FILTER_CONTINUE)
            atomic_fetch_add(&s->admitted, 1);
        dp_filter_end(&q->ctx, 200, T0);
        ft_req_deinit(q);
    }
    free(q);
    return NULL;
}

static void *inflight_worker(void *arg)
{
    struct stress *s = arg;
    struct ft_req *q = malloc(sizeof(*q));

    for (int i = 0; i < s->per_thread; i++) {
        ft_req_init(q, "GET", "h", "/", i % 2 ? "10.0.0.1" : "::1");
        if (ft_run(q, s->ch) == DP_FILTER_CONTINUE) {
            int c = atomic_fetch_add(&s->cur, 1) + 1, m = s->max_seen;
            while (c > m && !atomic_compare_exchange_weak(&s->max_seen, &m, c))
                ;
            atomic_fetch_sub(&s->cur, 1);
        }
        dp_filter_end(&q->ctx, 200, 0);
        ft_req_deinit(q);
    }
    free(q);
    return NULL;
}

static void run_threads(void *(*fn)(void *), struct stress *s)
{
    pthread_t t[8];

    for (int i = 0; i < 8; i++)
        assert_int_equal(pthread_create(&t[i], NULL, fn, s), 0);
    for (int i = 0; i < 8; i++)
        pthread_join(t[i], NULL);
}

static void test_stress(void **state)
{
    struct dp_filter_registry *reg = dp_filter_registry_new();
    struct ft_route r1, r2;
    char err[CM_ERR_LEN];
    struct stress s = {.per_thread = 2000};

    /* frozen clock, burst 100, 1/s: exactly 100 admitted */
    s.ch = rate(&r1, reg, 1, 1, 100, 0);
    run_threads(rate_worker, &s);
    assert_int_equal(s.admitted, 100);
    dp_filter_chain_free((struct dp_filter_chain *)s.ch);

    s.ch = inflight(&r2, reg, 3, err);
    run_threads(inflight_worker, &s);
    assert_true(s.max_seen <= 6); /* 3 per key, two keys */
    /* every slot was released: 3 fit again for one key */
    {
        struct ft_req q[4];
        for (int i = 0; i < 4; i++) {
            ft_req_init(&q[i], "GET", "h", "/", "10.0.0.1");
            assert_int_equal(ft_run(&q[i], s.ch),
                             i < 3 ? DP_FILTER_CONTINUE : DP_FILTER_RESPOND);
        }
        for (int i = 0; i < 4; i++) {
            dp_filter_end(&q[i].ctx, 200, 0);
            ft_req_deinit(&q[i]);
        }
    }
    dp_filter_chain_free((struct dp_filter_chain *)s.ch);
    ft_route_deinit(&r1);
    ft_route_deinit(&r2);
    assert_int_equal(dp_filter_registry_count(reg), 0);
    dp_filter_registry_free(reg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rate_burst),   cmocka_unit_test(test_rate_slow),
        cmocka_unit_test(test_rate_bounded), cmocka_unit_test(test_rate_errors),
        cmocka_unit_test(test_inflight),     cmocka_unit_test(test_stress),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
