/*
 * worker.h -- worker threads for the data node.
 *
 * Each worker runs its own libuv loop on its own thread and is an RCU (QSBR)
 * reader: it is online while it runs callbacks and offline while it waits in
 * the poll, so a route table it reads in a callback stays valid until the
 * callback returns, and a writer's synchronize_rcu() never waits for an idle
 * worker. libuv runs I/O callbacks inside its poll phase, after the prepare
 * hook took the worker offline: code reading RCU data there must call
 * dp_worker_rcu_online() first (posted calls get it done for them).
 * Connections never move between workers; other threads talk to a worker
 * only through dp_worker_post().
 */
#ifndef DP_WORKER_H
#define DP_WORKER_H

#include "common/err/err.h"
#include "dataplane/worker/worker-t.h"

/* Initialises <w> (caller-allocated) and starts its thread. <init>, if not
 * NULL, runs first on the new thread with <arg>. Returns 0 or a negative
 * error; on error nothing is left running. */
int dp_worker_start(struct dp_worker *w, int id, dp_worker_fn init,
                    void *arg) CM_MUST_CHECK;

/* Makes the calling worker (its own thread) an online RCU reader until it
 * next waits in the poll. Cheap when already online (a flag). */
void dp_worker_rcu_online(struct dp_worker *w);

/* Queues fn(w, arg) to run on <w>'s thread, in posting order. Safe from any
 * thread. Returns GW_EAGAIN once the worker is stopping (fn will not run). */
int dp_worker_post(struct dp_worker *w, dp_worker_fn fn, void *arg);

/* Asks the worker to finish: runs <fini> (if not NULL) on its thread, which
 * must close every handle the owner opened on the loop; the loop then ends
 * when nothing is left on it. Safe from any thread; once only. */
void dp_worker_stop(struct dp_worker *w, dp_worker_fn fini, void *arg);

/* Waits for the thread to end and frees what dp_worker_start allocated.
 * Calls never run are dropped. */
void dp_worker_join(struct dp_worker *w);

#endif
