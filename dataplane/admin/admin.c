/*
 * admin.c -- the admin server: a listener on its own thread and loop, one
 * request per connection (answered with Connection: close), parsed with the
 * data node's codec. Data comes from the owner's callbacks (admin-t.h);
 * nothing here touches the workers. Renders /metrics and /stats.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "common/log/log.h"
#include "common/net/net.h"
#include "dataplane/admin/admin.h"
#include "dataplane/proxy/proxy.h"
#include "common/http1/http1.h"

#define AD_BUF_MAX 16384
#define AD_HDR_MAX 64

struct dp_admin {
    uv_loop_t loop;
    uv_thread_t thread;
    uv_tcp_t lsn;
    uv_async_t stop;
    struct dp_admin_src src;
};

struct ad_conn {
    uv_tcp_t tcp;
    uv_write_t wr;
    struct dp_admin *a;
    char buf[AD_BUF_MAX];
    size_t len;
    struct cm_h1_req req;
    struct cm_h1_hdr hdrs[AD_HDR_MAX];
    char *out;
    bool answered;
};

/* ==== metrics text ==== */

struct ad_text {
    char *p;
    size_t len, cap;
    bool oom;
};

static void text_add(struct ad_text *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void text_add(struct ad_text *t, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (t->oom)
        return;
    for (;;) {
        va_start(ap, fmt);
        n = vsnprintf(t->p + t->len, t->cap - t->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            t->oom = true;
            return;
        }
        if ((size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        }
        size_t cap = (t->cap + (size_t)n + 1) * 2;
        char *p = realloc(t->p, cap);
        if (p == NULL) {
            t->oom = true;
            return;
        }
        t->p = p;
        t->cap = cap;
    }
}

static void metric(struct ad_text *t, const char *name, const char *type,
                   const char *help, uint64_t v)
{
    text_add(t, "# HELP %s %s\n# TYPE %s %s\n%s %llu\n", name, help, name, type,
             name, (unsigned long long)v);
}

/* The entry points' TLS handshakes (all entry points together). */
static void tls_metrics(struct ad_text *t, const struct dp_proxy_stats *s)
{
    metric(t, "dataplane_tls_handshakes_total", "counter",
           "Client TLS handshakes completed on the entry points.",
           s->tls_handshakes);
    metric(t, "dataplane_tls_handshake_failures_total", "counter",
           "Client TLS handshakes that failed (not TLS, a refused version, "
           "no common cipher).",
           s->tls_handshake_errors);
    metric(t, "dataplane_tls_sessions_resumed_total", "counter",
           "Completed client TLS handshakes that resumed a session "
           "(ticket).",
           s->tls_resumed);
}

static void xds_metrics(struct ad_text *t, const struct dp_admin_xds *x)
{
    metric(t, "dataplane_xds_updates_applied_total", "counter",
           "xDS updates accepted and applied (ACKed).", x->updates_applied);
    metric(t, "dataplane_xds_updates_rejected_total", "counter",
           "xDS updates rejected (NACKed); the last good config kept serving.",
           x->updates_rejected);
    metric(t, "dataplane_xds_connects_total", "counter",
           "ADS streams established.", x->connects);
    metric(t, "dataplane_xds_failovers_total", "counter",
           "Switches to another control node.", x->failovers);
    metric(t, "dataplane_xds_connected", "gauge",
           "1 while a stream to a control node is up.",
           (uint64_t)(x->connected != 0));
    metric(t, "dataplane_xds_serving_from_cache", "gauge",
           "1 while the config served came from the on-disk cache.",
           (uint64_t)(x->from_cache != 0));
    text_add(t,
             "# HELP dataplane_xds_control_info The control node of the "
             "stream (or the one being tried) and the client's state.\n"
             "# TYPE dataplane_xds_control_info gauge\n"
             "dataplane_xds_control_info{control=\"%s\",state=\"%s\"} 1\n",
             x->control, x->state);
    text_add(t, "# HELP dataplane_xds_version_info The version in use, by "
                "resource type.\n"
                "# TYPE dataplane_xds_version_info gauge\n");
    for (size_t i = 0; i < x->n_types && i < DP_ADMIN_XDS_TYPES; i++)
        text_add(t,
                 "dataplane_xds_version_info{type=\"%s\",version=\"%s\"} "
                 "1\n",
                 x->types[i], x->versions[i]);
    text_add(t,
             "# HELP dataplane_xds_seconds_since_update Seconds since the "
             "last applied update (-1: none yet).\n"
             "# TYPE dataplane_xds_seconds_since_update gauge\n"
             "dataplane_xds_seconds_since_update %.3f\n",
             x->seconds_since_update);
}

/* Appends <s> with the escapes a Prometheus label value (json false) or
 * a JSON string (json true) needs. */
static void text_esc(struct ad_text *t, const char *s, bool json)
{
    for (; *s != '\0'; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '\\' || ch == '"')
            text_add(t, "\\%c", ch);
        else if (ch == '\n')
            text_add(t, "\\n");
        else if (ch < 0x20 && json)
            text_add(t, "\\u%04x", ch);
        else if (ch >= 0x20 || ch == '\t')
            text_add(t, "%c", ch);
    }
}

static void router_family(struct ad_text *t, const struct dp_proxy_report *r,
                          int k)
{
    static const char *const fam[3][2] = {
        {"dataplane_router_requests_total",
         "Requests answered through the router (local answers too)."},
        {"dataplane_router_errors_total", "5xx responses through the router."},
        {"dataplane_router_latency_seconds_total",
         "Summed time from routing to the end of each exchange."}};

    text_add(t, "# HELP %s %s\n# TYPE %s counter\n", fam[k][0], fam[k][1],
             fam[k][0]);
    for (size_t i = 0; i < r->n_routers; i++) {
        const struct dp_proxy_router_stat *x = &r->routers[i];
        text_add(t, "%s{router=\"", fam[k][0]);
        text_esc(t, x->name, false);
        if (k == 2)
            text_add(t, "\"} %.6f\n", (double)x->latency_us / 1e6);
        else
            text_add(t, "\"} %llu\n",
                     (unsigned long long)(k == 0 ? x->requests : x->errors));
    }
}

static void report_metrics(struct ad_text *t, const struct dp_proxy_report *r)
{
    for (int k = 0; k < 3; k++)
        router_family(t, r, k);
    text_add(t, "# HELP dataplane_endpoint_healthy 1 if the endpoint takes "
                "traffic (not failed by health checks, ejected or unhealthy "
                "in EDS).\n# TYPE dataplane_endpoint_healthy gauge\n");
    for (size_t i = 0; i < r->n_endpoints; i++) {
        const struct dp_proxy_endpoint_stat *e = &r->endpoints[i];
        text_add(t, "dataplane_endpoint_healthy{cluster=\"");
        text_esc(t, e->cluster, false);
        text_add(t, "\",address=\"%s\"} %d\n", e->address, e->healthy != 0);
    }
    text_add(t, "# HELP dataplane_listener_info The entry points and their "
                "addresses.\n# TYPE dataplane_listener_info gauge\n");
    for (size_t i = 0; i < r->n_listeners; i++) {
        text_add(t, "dataplane_listener_info{name=\"");
        text_esc(t, r->listeners[i].name, false);
        text_add(t, "\",address=\"%s\"} 1\n", r->listeners[i].address);
    }
}

static void stats_routers(struct ad_text *t, const struct dp_proxy_report *r)
{
    text_add(t, "{\"routers\":[");
    for (size_t i = 0; i < r->n_routers; i++) {
        const struct dp_proxy_router_stat *x = &r->routers[i];
        text_add(t, "%s{\"name\":\"", i ? "," : "");
        text_esc(t, x->name, true);
        text_add(t, "\",\"requests\":%llu,\"errors\":%llu,\"latency_us\":%llu}",
                 (unsigned long long)x->requests, (unsigned long long)x->errors,
                 (unsigned long long)x->latency_us);
    }
}

int dp_admin_format_stats(const struct dp_proxy_report *r, char **out)
{
    struct ad_text t = {0};

    stats_routers(&t, r);
    text_add(&t, "],\"endpoints\":[");
    for (size_t i = 0; i < r->n_endpoints; i++) {
        const struct dp_proxy_endpoint_stat *e = &r->endpoints[i];
        text_add(&t, "%s{\"cluster\":\"", i ? "," : "");
        text_esc(&t, e->cluster, true);
        text_add(&t, "\",\"address\":\"%s\",\"hostname\":\"", e->address);
        text_esc(&t, e->hostname, true);
        text_add(&t, "\",\"healthy\":%s,\"checked\":%s}",
                 e->healthy ? "true" : "false", e->checked ? "true" : "false");
    }
    text_add(&t, "],\"listeners\":[");
    for (size_t i = 0; i < r->n_listeners; i++) {
        text_add(&t, "%s{\"name\":\"", i ? "," : "");
        text_esc(&t, r->listeners[i].name, true);
        text_add(&t, "\",\"address\":\"%s\"}", r->listeners[i].address);
    }
    text_add(&t, "]}\n");
    if (t.oom) {
        free(t.p);
        return GW_ENOMEM;
    }
    *out = t.p;
    return (int)t.len;
}

int dp_admin_format_metrics(const struct dp_admin_metrics *m, char **out)
{
    struct ad_text t = {0};
    const struct dp_proxy_stats *s = &m->proxy;

    text_add(&t, "# HELP dataplane_http_responses_total Responses sent to "
                 "clients, by status class.\n"
                 "# TYPE dataplane_http_responses_total counter\n");
    for (int k = 1; k <= 5; k++)
        text_add(&t, "dataplane_http_responses_total{code=\"%dxx\"} %llu\n", k,
                 (unsigned long long)s->responses[k]);
    metric(&t, "dataplane_http_requests_total", "counter",
           "Request heads received.", s->requests_total);
    metric(&t, "dataplane_connections_total", "counter",
           "Client connections accepted.", s->conns_total);
    metric(&t, "dataplane_connections_active", "gauge",
           "Client connections open.", s->conns_active);
    metric(&t, "dataplane_upstream_connections_active", "gauge",
           "Upstream connections open (in use or pooled).",
           s->upstream_conns_active);
    metric(&t, "dataplane_upstream_connect_errors_total", "counter",
           "Upstream connections refused, timed out or reset before a "
           "response.",
           s->upstream_connect_errors);
    metric(&t, "dataplane_upstream_reused_total", "counter",
           "Requests sent on a pooled keep-alive connection.",
           s->upstream_reused);
    metric(&t, "dataplane_upstream_retries_total", "counter",
           "Upstream attempts after the first.", s->retries);
    metric(&t, "dataplane_table_swaps_total", "counter",
           "Route tables published.", s->table_swaps);
    metric(&t, "dataplane_config_loads_total", "counter",
           "Configurations applied.", m->config_loads);
    metric(&t, "dataplane_config_failures_total", "counter",
           "Configurations rejected (the last good one kept serving).",
           m->config_failures);
    metric(&t, "dataplane_ready", "gauge", "1 when a configuration is loaded.",
           (uint64_t)(m->ready != 0));
    metric(&t, "dataplane_workers", "gauge", "Worker threads.",
           (uint64_t)m->workers);
    metric(&t, "dataplane_upstream_overflows_total", "counter",
           "Requests answered 503: the cluster was at its circuit breaker "
           "max_requests.",
           s->overflows);
    metric(&t, "dataplane_outlier_ejections_total", "counter",
           "Endpoints ejected by outlier detection.", s->ejections);
    metric(&t, "dataplane_health_checks_total", "counter",
           "Active health check probes completed.", s->hc_checks);
    metric(&t, "dataplane_health_check_failures_total", "counter",
           "Active health check probes that failed.", s->hc_failures);
    metric(&t, "dataplane_endpoints_unhealthy", "gauge",
           "Endpoints marked down by active health checks.", s->hc_unhealthy);
    tls_metrics(&t, s);
    text_add(&t,
             "# HELP dataplane_config_info The configuration being served.\n"
             "# TYPE dataplane_config_info gauge\n"
             "dataplane_config_info{version=\"%s\"} 1\n",
             m->config_version);
    if (m->xds.enabled)
        xds_metrics(&t, &m->xds);
    if (m->report != NULL)
        report_metrics(&t, m->report);
    if (t.oom) {
        free(t.p);
        return GW_ENOMEM;
    }
    *out = t.p;
    return (int)t.len;
}

/* ==== connections ==== */

static void conn_closed(uv_handle_t *h)
{
    struct ad_conn *c = h->data;

    free(c->out);
    free(c);
}

static void conn_close(struct ad_conn *c)
{
    if (!uv_is_closing((uv_handle_t *)&c->tcp))
        uv_close((uv_handle_t *)&c->tcp, conn_closed);
}

static void conn_written(uv_write_t *w, int status)
{
    conn_close(w->data);
}

/* Takes <body> (malloc'ed, may be NULL for an empty body). */
static void reply(struct ad_conn *c, int code, const char *reason,
                  const char *ctype, char *body, size_t blen)
{
    char head[256];
    uv_buf_t b[2];
    int hl;

    hl = snprintf(head, sizeof(head),
                  "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: "
                  "%zu\r\nConnection: close\r\n\r\n",
                  code, reason, ctype, blen);
    c->out = malloc((size_t)hl + blen);
    if (c->out == NULL) {
        free(body);
        conn_close(c);
        return;
    }
    memcpy(c->out, head, (size_t)hl);
    if (blen > 0 && c->req.method != CM_H1_M_HEAD)
        memcpy(c->out + hl, body, blen);
    else
        blen = 0;
    free(body);
    b[0] = uv_buf_init(c->out, (unsigned)((size_t)hl + blen));
    c->answered = true;
    uv_read_stop((uv_stream_t *)&c->tcp);
    c->wr.data = c;
    if (uv_write(&c->wr, (uv_stream_t *)&c->tcp, b, 1, conn_written) != 0)
        conn_close(c);
}

static void reply_text(struct ad_conn *c, int code, const char *reason,
                       const char *text)
{
    reply(c, code, reason, "text/plain; charset=utf-8", strdup(text),
          strlen(text));
}

static bool path_is(struct ad_conn *c, const char *p)
{
    struct cm_h1_slice s = cm_h1_at(c->buf, c->req.path);

    return s.len == strlen(p) && memcmp(s.ptr, p, s.len) == 0;
}

static void serve_stats(struct ad_conn *c)
{
    const struct dp_admin_src *src = &c->a->src;
    struct dp_proxy_report *r = src->report ? src->report(src->arg) : NULL;
    char *out = NULL;
    int n;

    if (r == NULL) {
        reply_text(c, 503, "Service Unavailable", "no stats\n");
        return;
    }
    n = dp_admin_format_stats(r, &out);
    dp_proxy_report_free(r);
    if (n < 0)
        reply_text(c, 500, "Internal Server Error", "out of memory\n");
    else
        reply(c, 200, "OK", "application/json", out, (size_t)n);
}

static void serve(struct ad_conn *c)
{
    const struct dp_admin_src *src = &c->a->src;

    if (c->req.method != CM_H1_M_GET && c->req.method != CM_H1_M_HEAD) {
        reply_text(c, 405, "Method Not Allowed", "method not allowed\n");
    } else if (path_is(c, "/ping")) {
        reply_text(c, 200, "OK", "OK");
    } else if (path_is(c, "/ready")) {
        char why[1200] = "", msg[1300];
        if (src->ready(src->arg, why, sizeof(why))) {
            snprintf(msg, sizeof(msg), "ready%s%s\n", why[0] ? ": " : "", why);
            reply_text(c, 200, "OK", msg);
        } else {
            snprintf(msg, sizeof(msg), "not ready: %s\n",
                     why[0] ? why : "no configuration");
            reply_text(c, 503, "Service Unavailable", msg);
        }
    } else if (path_is(c, "/metrics")) {
        struct dp_admin_metrics m = {0};
        struct dp_proxy_report *r = src->report ? src->report(src->arg) : NULL;
        char *out = NULL;
        int n;
        src->metrics(src->arg, &m);
        m.report = r;
        n = dp_admin_format_metrics(&m, &out);
        dp_proxy_report_free(r);
        if (n < 0)
            reply_text(c, 500, "Internal Server Error", "out of memory\n");
        else
            reply(c, 200, "OK", "text/plain; version=0.0.4", out, (size_t)n);
    } else if (path_is(c, "/stats")) {
        serve_stats(c);
    } else if (path_is(c, "/config_dump")) {
        char *j = src->config_dump(src->arg);
        if (j == NULL)
            reply_text(c, 503, "Service Unavailable", "no configuration\n");
        else
            reply(c, 200, "OK", "application/json", j, strlen(j));
    } else {
        reply_text(c, 404, "Not Found", "not found\n");
    }
}

static void conn_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    struct ad_conn *c = h->data;

    *b = uv_buf_init(c->buf + c->len, (unsigned)(AD_BUF_MAX - c->len));
}

static void conn_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    struct ad_conn *c = s->data;
    int r;

    if (n < 0) {
        conn_close(c);
        return;
    }
    if (n == 0 || c->answered)
        return;
    c->len += (size_t)n;
    r = cm_h1_req_parse(&c->req, c->buf, c->len);
    if (r < 0)
        reply_text(c, c->req.msg.status, "Bad Request", "bad request\n");
    else if (r > 0)
        serve(c);
    else if (c->len == AD_BUF_MAX)
        reply_text(c, 431, "Request Header Fields Too Large", "too large\n");
}

static void on_conn(uv_stream_t *l, int status)
{
    struct dp_admin *a = l->data;
    struct ad_conn *c;

    if (status != 0 || (c = calloc(1, sizeof(*c))) == NULL)
        return;
    c->a = a;
    uv_tcp_init(&a->loop, &c->tcp);
    c->tcp.data = c;
    cm_h1_req_init(&c->req, c->hdrs, AD_HDR_MAX, NULL);
    if (uv_accept(l, (uv_stream_t *)&c->tcp) != 0 ||
        uv_read_start((uv_stream_t *)&c->tcp, conn_alloc, conn_read) != 0)
        conn_close(c);
}

/* ==== thread ==== */

static void close_any(uv_handle_t *h, void *arg)
{
    if (!uv_is_closing(h))
        uv_close(h, h->type == UV_TCP && h->data != arg ? conn_closed : NULL);
}

static void on_stop(uv_async_t *h)
{
    struct dp_admin *a = h->data;

    uv_walk(&a->loop, close_any, a);
}

static void admin_main(void *arg)
{
    struct dp_admin *a = arg;

    uv_run(&a->loop, UV_RUN_DEFAULT);
}

struct dp_admin *dp_admin_start(const char *addr,
                                const struct dp_admin_src *src, char *err,
                                size_t errlen)
{
    struct dp_admin *a = calloc(1, sizeof(*a));
    struct sockaddr_storage ss;
    int fd, r;

    if (a == NULL) {
        cm_err_set(err, errlen, GW_ENOMEM, "out of memory");
        return NULL;
    }
    a->src = *src;
    if (cm_net_parse_addr(addr, &ss, err, errlen) != GW_OK ||
        (fd = cm_net_listen((struct sockaddr *)&ss, 128, 0, err, errlen)) < 0) {
        free(a);
        return NULL;
    }
    uv_loop_init(&a->loop);
    uv_tcp_init(&a->loop, &a->lsn);
    a->lsn.data = a;
    uv_async_init(&a->loop, &a->stop, on_stop);
    a->stop.data = a;
    if ((r = uv_tcp_open(&a->lsn, fd)) != 0 ||
        (r = uv_listen((uv_stream_t *)&a->lsn, 128, on_conn)) != 0 ||
        (r = uv_thread_create(&a->thread, admin_main, a)) != 0) {
        cm_err_set(err, errlen, r, "admin %s: %s", addr, uv_strerror(r));
        uv_walk(&a->loop, close_any, a);
        uv_run(&a->loop, UV_RUN_DEFAULT);
        uv_loop_close(&a->loop);
        free(a);
        return NULL;
    }
    return a;
}

void dp_admin_stop(struct dp_admin *a)
{
    if (a == NULL)
        return;
    uv_async_send(&a->stop);
    uv_thread_join(&a->thread);
    uv_loop_close(&a->loop);
    free(a);
}
