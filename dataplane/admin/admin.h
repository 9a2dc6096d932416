/*
 * admin.h -- the data node's admin HTTP server: /ping, /ready, /metrics
 * (Prometheus text), /config_dump (JSON), /stats (JSON: per-router
 * traffic, endpoint health, listeners; what control nodes scrape). It runs its
 * own libuv loop on its own thread, so a busy worker never delays a health
 * check. Types are in admin-t.h.
 */
#ifndef DP_ADMIN_H
#define DP_ADMIN_H

#include "common/err/err.h"
#include "dataplane/admin/admin-t.h"

/* Default listen address of --admin-addr. */
#define DP_ADMIN_ADDR_DEF "127.0.0.1:9901"

/* Listens on <addr> ("HOST:PORT") and starts the server thread. <src> is
 * copied; its arg is borrowed until dp_admin_stop(). Returns new; stop and
 * free with dp_admin_stop(). NULL on error with a message in <err>. */
struct dp_admin *dp_admin_start(const char *addr,
                                const struct dp_admin_src *src, char *err,
                                size_t errlen);

/* Stops the thread, closes everything, frees <a>. NULL is a no-op. */
void dp_admin_stop(struct dp_admin *a);

/* Renders <m> as Prometheus text exposition into <*out>: returns new, free
 * with free(). Returns the length or GW_ENOMEM. */
int dp_admin_format_metrics(const struct dp_admin_metrics *m, char **out);

/* Renders <r> as the JSON of /stats into <*out>:
 *   {"routers": [{"name", "requests", "errors", "latency_us"}],
 *    "endpoints": [{"cluster", "address", "hostname", "healthy",
 *                   "checked"}],
 *    "listeners": [{"name", "address"}]}
 * (counters cumulative since the data node started). Returns new, free
 * with free(); the length or GW_ENOMEM. */
int dp_admin_format_stats(const struct dp_proxy_report *r, char **out);

#endif
