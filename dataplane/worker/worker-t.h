/*
 * worker-t.h -- types of the worker threads: one libuv loop each, registered
 * as an RCU (QSBR) reader. See worker.h.
 */
#ifndef DP_WORKER_T_H
#define DP_WORKER_T_H

#include <pthread.h>
#include <stdbool.h>
#include <uv.h>

struct dp_worker;

/* A function run on a worker's thread by dp_worker_post(). */
typedef void (*dp_worker_fn)(struct dp_worker *w, void *arg);

/* One queued call; owned by the queue until run, then freed. */
struct dp_worker_call {
    struct dp_worker_call *next;
    dp_worker_fn fn;
    void *arg;
};

struct dp_worker {
    int id;         /* 0..n-1 */
    uv_loop_t loop; /* private to the worker's thread */
    uv_thread_t thread;
    uv_async_t wake;      /* another thread posted calls */
    uv_prepare_t rcu_off; /* before polling: RCU offline (may block) */
    uv_check_t rcu_on;    /* after polling: RCU online again */
    bool online;          /* RCU reader online (the worker's thread only) */
    pthread_mutex_t lock; /* guards calls and stopping */
    struct dp_worker_call *calls, **calls_tail;
    int stopping;
    void *data; /* public: the owner's per-worker state */
};

#endif
