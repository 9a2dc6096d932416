/*
 * worker_test.c -- worker threads: calls run on the right thread in posting
 * order, posts after stop are refused, the owner's handles are closed by the
 * fini callback, an idle worker never holds up synchronize_rcu(), and a
 * reader in an I/O callback or a posted call does hold it up.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <unistd.h>
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

/* A reader in an I/O callback (libuv's poll phase: the worker is offline
 * there until it calls dp_worker_rcu_online) or in a posted call holds up a
 * writer's synchronize_rcu() until it returns. */
struct slow_reader {
    struct dp_worker *w;
    uv_async_t io; /* an I/O callback of the owner's */
    int entered, done, use_io;
};

static void slow_read(struct slow_reader *r)
{
    const int *t;

    if (r->use_io)
        dp_worker_rcu_online(r->w);
    t = rcu_dereference(published);
    __atomic_store_n(&r->entered, 1, __ATOMIC_RELEASE);
    usleep(200 * 1000); /* the writer swaps and synchronizes meanwhile */
    __atomic_store_n(&r->done, *t, __ATOMIC_RELEASE);
}

static void on_io(uv_async_t *h)
{
    slow_read(h->data);
}

static void slow_posted(struct dp_worker *w, void *arg)
{
    slow_read(arg);
}

static void slow_init(struct dp_worker *w, void *arg)
{
    struct slow_reader *r = arg;

    r->w = w;
    uv_async_init(&w->loop, &r->io, on_io);
    r->io.data = r;
}

static void slow_fini(struct dp_worker *w, void *arg)
{
    uv_close((uv_handle_t *)&((struct slow_reader *)arg)->io, NULL);
}

static void grace_held(int use_io)
{
    struct dp_worker w;
    struct slow_reader r = {.use_io = use_io};
    static int v1 = 1, v2 = 2;
    int done_at_grace;

    rcu_assign_pointer(published, &v1);
    assert_int_equal(dp_worker_start(&w, 0, slow_init, &r), 0);
    usleep(50 * 1000); /* the worker is idle in the poll: offline */
    if (use_io)
        uv_async_send(&r.io);
    else
        assert_int_equal(dp_worker_post(&w, slow_posted, &r), GW_OK);
    while (!__atomic_load_n(&r.entered, __ATOMIC_ACQUIRE))
        usleep(1000);
    rcu_xchg_pointer(&published, &v2);
    synchronize_rcu(); /* must wait for the reader of v1 */
    done_at_grace = __atomic_load_n(&r.done, __ATOMIC_ACQUIRE);
    dp_worker_stop(&w, slow_fini, &r);
    dp_worker_join(&w);
    assert_int_equal(done_at_grace, 1);
}

static void test_rcu_grace_held_by_io_callback(void **unused)
{
    grace_held(1);
}

static void test_rcu_grace_held_by_posted_call(void **unused)
{
    grace_held(0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_post_order_and_stop),
        cmocka_unit_test(test_rcu_grace_with_idle_workers),
        cmocka_unit_test(test_rcu_grace_held_by_io_callback),
        cmocka_unit_test(test_rcu_grace_held_by_posted_call),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
