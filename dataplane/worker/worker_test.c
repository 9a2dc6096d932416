/*
 * worker_test.c -- worker threads: calls run on the right thread in posting
 * order, posts after stop are refused, the owner's handles are closed by the
 * fini callback, and an idle worker never holds up synchronize_rcu().
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <urcu-qsbr.h>

#include "dataplane/worker/worker.h"

struct state {
    pthread_t thread;
    int order[8];
    int n;
    uv_timer_t timer; /* an owner handle, closed by fini */
    int fini_ran;
};

static void on_init(struct dp_worker *w, void *arg)
{
    struct state *s = arg;

    s->thread = pthread_self();
    w->data = s;
    uv_timer_init(&w->loop, &s->timer);
}

static void record(struct dp_worker *w, void *arg)
{
    struct state *s = w->data;

    assert_true(pthread_equal(s->thread, pthread_self()));
    s->order[s->n++] = (int)(intptr_t)arg;
}

static void on_fini(struct dp_worker *w, void *arg)
{
    struct state *s = arg;

    s->fini_ran = 1;
    uv_close((uv_handle_t *)&s->timer, NULL);
}

static void test_post_order_and_stop(void **unused)
{
    struct dp_worker w;
    struct state s = {0};

    assert_int_equal(dp_worker_start(&w, 3, on_init, &s), 0);
    assert_int_equal(w.id, 3);
    for (intptr_t i = 0; i < 5; i++)
        assert_int_equal(dp_worker_post(&w, record, (void *)i), GW_OK);
    dp_worker_stop(&w, on_fini, &s);
    assert_int_equal(dp_worker_post(&w, record, (void *)99), GW_EAGAIN);
    dp_worker_join(&w);
    assert_int_equal(s.n, 5);
    for (int i = 0; i < 5; i++)
        assert_int_equal(s.order[i], i);
    assert_int_equal(s.fini_ran, 1);
    assert_false(pthread_equal(s.thread, pthread_self()));
}

/* A table published with RCU; workers read it inside posted calls. */
static int *published;

static void read_table(struct dp_worker *w, void *arg)
{
    int *t = rcu_dereference(published);

    *(int *)arg = t ? *t : -1;
}

static void test_rcu_grace_with_idle_workers(void **unused)
{
    struct dp_worker w[2];
    struct state s[2] = {{0}};
    static int v1 = 1, v2 = 2;
    int seen[2] = {0, 0};

    for (int i = 0; i < 2; i++)
        assert_int_equal(dp_worker_start(&w[i], i, on_init, &s[i]), 0);
    rcu_assign_pointer(published, &v1);
    /* Both workers are idle in epoll: this returns only if they are offline
     * (else the test hangs and times out). */
    synchronize_rcu();
    for (int i = 0; i < 2; i++)
        assert_int_equal(dp_worker_post(&w[i], read_table, &seen[i]), GW_OK);
    rcu_xchg_pointer(&published, &v2);
    synchronize_rcu();
    for (int i = 0; i < 2; i++) {
        dp_worker_stop(&w[i], on_fini, &s[i]);
        dp_worker_join(&w[i]);
        assert_true(seen[i] == 1 || seen[i] == 2);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_post_order_and_stop),
        cmocka_unit_test(test_rcu_grace_with_idle_workers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
