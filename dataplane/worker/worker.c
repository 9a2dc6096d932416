/*
 * worker.c -- a worker thread: its loop, its RCU reader registration, and the
 * queue through which other threads hand it work (see worker.h). Everything
 * here but dp_worker_post/stop runs on the worker's own thread.
 */
#include "dataplane/worker/worker.h"

#include <stdlib.h>
#include <string.h>
#include <urcu-qsbr.h>

struct worker_boot {
    struct dp_worker *w;
    dp_worker_fn init;
    void *arg;
};

static void worker_rcu_off(uv_prepare_t *h)
{
    struct dp_worker *w = h->data;

    w->online = false;
    rcu_thread_offline();
}

static void worker_rcu_on(uv_check_t *h)
{
    struct dp_worker *w = h->data;

    rcu_thread_online();
    w->online = true;
}

void dp_worker_rcu_online(struct dp_worker *w)
{
    if (!w->online) {
        rcu_thread_online();
        w->online = true;
    }
}

/* Takes the whole queue under the lock, runs it outside. */
static void worker_wake(uv_async_t *h)
{
    struct dp_worker *w = h->data;
    struct dp_worker_call *c, *next;

    dp_worker_rcu_online(w); /* in the poll phase: see worker.h */
    pthread_mutex_lock(&w->lock);
    c = w->calls;
    w->calls = NULL;
    w->calls_tail = &w->calls;
    pthread_mutex_unlock(&w->lock);
    for (; c != NULL; c = next) {
        next = c->next;
        c->fn(w, c->arg);
        free(c);
    }
}

static void worker_main(void *arg)
{
    struct worker_boot *boot = arg;
    struct dp_worker *w = boot->w;

    rcu_register_thread();
    w->online = true;
    if (boot->init != NULL)
        boot->init(w, boot->arg);
    free(boot);
    uv_run(&w->loop, UV_RUN_DEFAULT);
    rcu_unregister_thread();
}

static void worker_unref_internal(struct dp_worker *w)
{
    /* The RCU hooks must not keep the loop alive once the owner's handles
     * are gone. */
    uv_unref((uv_handle_t *)&w->rcu_off);
    uv_unref((uv_handle_t *)&w->rcu_on);
}

int dp_worker_start(struct dp_worker *w, int id, dp_worker_fn init, void *arg)
{
    struct worker_boot *boot;
    int r;

    memset(w, 0, sizeof(*w));
    w->id = id;
    w->calls_tail = &w->calls;
    boot = malloc(sizeof(*boot));
    if (boot == NULL)
        return GW_ENOMEM;
    *boot = (struct worker_boot){w, init, arg};
    if ((r = uv_loop_init(&w->loop)) != 0)
        goto fail_boot;
    pthread_mutex_init(&w->lock, NULL);
    uv_async_init(&w->loop, &w->wake, worker_wake);
    w->wake.data = w;
    uv_prepare_init(&w->loop, &w->rcu_off);
    uv_prepare_start(&w->rcu_off, worker_rcu_off);
    uv_check_init(&w->loop, &w->rcu_on);
    uv_check_start(&w->rcu_on, worker_rcu_on);
    w->rcu_off.data = w->rcu_on.data = w;
    worker_unref_internal(w);
    if ((r = uv_thread_create(&w->thread, worker_main, boot)) != 0)
        goto fail_loop;
    return GW_OK;

fail_loop:
    uv_close((uv_handle_t *)&w->wake, NULL);
    uv_close((uv_handle_t *)&w->rcu_off, NULL);
    uv_close((uv_handle_t *)&w->rcu_on, NULL);
    uv_run(&w->loop, UV_RUN_DEFAULT);
    uv_loop_close(&w->loop);
    pthread_mutex_destroy(&w->lock);
fail_boot:
    free(boot);
    return r;
}

int dp_worker_post(struct dp_worker *w, dp_worker_fn fn, void *arg)
{
    struct dp_worker_call *c = malloc(sizeof(*c));

    if (c == NULL)
        return GW_ENOMEM;
    *c = (struct dp_worker_call){NULL, fn, arg};
    pthread_mutex_lock(&w->lock);
    if (w->stopping) {
        pthread_mutex_unlock(&w->lock);
        free(c);
        return GW_EAGAIN;
    }
    *w->calls_tail = c;
    w->calls_tail = &c->next;
    pthread_mutex_unlock(&w->lock);
    uv_async_send(&w->wake);
    return GW_OK;
}

struct worker_fini {
    dp_worker_fn fn;
    void *arg;
};

/* Runs on the worker: the owner's cleanup, then our own handles. */
static void worker_finish(struct dp_worker *w, void *arg)
{
    struct worker_fini *f = arg;

    if (f->fn != NULL)
        f->fn(w, f->arg);
    free(f);
    uv_close((uv_handle_t *)&w->wake, NULL);
    uv_close((uv_handle_t *)&w->rcu_off, NULL);
    uv_close((uv_handle_t *)&w->rcu_on, NULL);
}

void dp_worker_stop(struct dp_worker *w, dp_worker_fn fini, void *arg)
{
    struct worker_fini *f = malloc(sizeof(*f));
    struct dp_worker_call *c = malloc(sizeof(*c));

    if (f == NULL || c == NULL)
        abort(); /* cannot stop cleanly without two small blocks */
    *f = (struct worker_fini){fini, arg};
    *c = (struct dp_worker_call){NULL, worker_finish, f};
    pthread_mutex_lock(&w->lock);
    w->stopping = 1;
    *w->calls_tail = c;
    w->calls_tail = &c->next;
    pthread_mutex_unlock(&w->lock);
    uv_async_send(&w->wake);
}

void dp_worker_join(struct dp_worker *w)
{
    struct dp_worker_call *c, *next;

    uv_thread_join(&w->thread);
    uv_loop_close(&w->loop);
    for (c = w->calls; c != NULL; c = next) {
        next = c->next;
        free(c);
    }
    pthread_mutex_destroy(&w->lock);
}
