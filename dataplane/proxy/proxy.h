/*
 * proxy.h -- the data node's HTTP/1.1 reverse proxy engine: worker threads
 * (one libuv loop each, SO_REUSEPORT listeners of their own), the
 * per-connection state machine, upstream keep-alive pools, and publication
 * of the compiled table (dataplane/table) the workers read under RCU,
 * active health checks on a thread of their own and passive outlier
 * ejection on the workers. Types are in proxy-t.h.
 *
 * Threads: dp_proxy_new/start/stop/free from the owner's (main) thread;
 * dp_proxy_build_table() and dp_proxy_set_table() from the one thread that
 * applies configuration (main in standalone mode, the xDS client's
 * otherwise); dp_proxy_stats() and dp_proxy_with_table() from any thread.
 */
#ifndef DP_PROXY_H
#define DP_PROXY_H

#include <stddef.h>

#include "common/err/err.h"
#include "dataplane/proxy/proxy-t.h"
#include "dataplane/table/table.h"

/* Returns a new engine (workers not started); free with dp_proxy_free().
 * <opts> is copied; NULL means defaults. NULL when out of memory. */
struct dp_proxy *dp_proxy_new(const struct dp_proxy_opts *opts);

/* Starts the worker threads (opts.workers of them). Returns 0 or a negative
 * error; on error no worker is left running. */
int dp_proxy_start(struct dp_proxy *p) CM_MUST_CHECK;

/* Number of worker threads (after dp_proxy_start()). */
int dp_proxy_workers(const struct dp_proxy *p);

/* Builds a table from <in> (borrowed) for this engine: in->n_workers and
 * in->prev (the current table, donor of the clusters' runtime state) are
 * filled here, whatever the caller set. Returns new (hand it to
 * dp_proxy_set_table() or free it with dp_table_free()), or NULL with a
 * message in <err> (<len> bytes). Configuration thread. */
struct dp_table *dp_proxy_build_table(struct dp_proxy *p,
                                      const struct dp_table_input *in,
                                      char *err, size_t len);

/* Publishes <t> (takes) as the current table with dp_table_publish():
 * requests routed after this call see it, requests in flight keep the
 * cluster states they hold. Workers open listeners the new table adds and
 * close the ones it drops (existing connections stay). The old table is
 * freed after an RCU grace period. Returns 0, or GW_EAGAIN once draining
 * (t is freed). Configuration thread. */
int dp_proxy_set_table(struct dp_proxy *p, struct dp_table *t);

/* Runs fn(table, arg) with the current table (NULL if none), which stays
 * valid during the call. Safe from any thread; serialised with
 * dp_proxy_set_table(). Returns what fn returns. */
int dp_proxy_with_table(struct dp_proxy *p,
                        int (*fn)(const struct dp_table *t, void *arg),
                        void *arg);

/* Starts draining: listeners close (after serving the connections in
 * their accept queues), pooled upstream connections close, busy client
 * connections close after their current response (which carries
 * Connection: close), HTTP/2 ones get a GOAWAY. An idle HTTP/1 keep-alive
 * connection stays open up to <grace_ms> (or its idle timeout if shorter)
 * for one last request: closing it at once would reset a request already
 * on its way (the keep-alive race). Returns at once. */
void dp_proxy_drain(struct dp_proxy *p, uint32_t grace_ms);

/* Sums the workers' counters into <out>. Any thread. */
void dp_proxy_stats(struct dp_proxy *p, struct dp_proxy_stats *out);

/* Sums the workers' per-router counters and copies the current table's
 * endpoints (with their health) and listeners. Any thread. Returns new
 * (free with dp_proxy_report_free()), or NULL when out of memory. */
struct dp_proxy_report *dp_proxy_report_new(struct dp_proxy *p);

/* Frees <r>. NULL is a no-op. */
void dp_proxy_report_free(struct dp_proxy_report *r);

/* Stops the health checker and the workers (closing whatever is still
 * open) and waits for them. */
void dp_proxy_stop(struct dp_proxy *p);

/* Frees <p> (stopped or never started) and its table. NULL is a no-op. */
void dp_proxy_free(struct dp_proxy *p);

/* ==== pure helpers, exposed for tests ==== */

/* Writes a complete local response into <out> (<cap> bytes): status line,
 * Content-Type text/plain, Content-Length, Location if <location> is not
 * NULL, "Connection: close" if <close>, then <body> (<blen> bytes) unless
 * <head_only>. Returns the length, or GW_ETOOBIG. */
int dp_proxy_local_response(char *out, size_t cap, int status,
                            const char *location, const char *body, size_t blen,
                            int close, int head_only);

/* Reason phrase of <status> ("Bad Gateway"); "Unknown" if not known. */
const char *dp_proxy_reason(int status);

#endif
