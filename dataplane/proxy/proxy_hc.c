/*
 * proxy_hc.c -- active health checks: one thread with its own libuv loop
 * probes every endpoint of each cluster that has an HTTP health check
 * (<method, GET by default> <path>, Host <host or cluster name>, the check's
 * request_headers_to_add, sent to the check's alt_port when it has one,
 * else the endpoint's port; a status within the check's expected_statuses,
 * any 2xx without them, within <timeout> every <interval>; redirects are
 * not followed: a 3xx is a status like any other) or a gRPC health check
 * (the probe itself in proxy_hc_grpc.c; over TLS, this file runs the TLS
 * under it and offers ALPN h2), one connection per probe,
 * and marks it up or down in the cluster's shared runtime state
 * (dp_cluster_state_set_healthy) after healthy/unhealthy_threshold results
 * in a row. Targets are keyed by cluster state, so an unchanged cluster
 * keeps its checker and health across table swaps; the checker holds a
 * reference to each state it probes. A cluster with upstream TLS is
 * probed over TLS with its own client context (dp_tls_client: the same CA,
 * SNI and name check as traffic, as Envoy does with the cluster's
 * transport socket); a failed handshake fails the probe. The reason of the
 * last failure goes into the endpoint_unhealthy log line. TCP checks are
 * not run: common/xds only emits HTTP and gRPC ones (Traefik's
 * loadBalancer.healthCheck).
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/log/log.h"
#include "dataplane/h2/h2.h"
#include "dataplane/proxy/proxy_hc_int.h"
#include "dataplane/table/table.h"
#include "dataplane/tls/tls.h"

#define HC_TICK_MS 50 /* due probes are started this often */

/* ==== targets ==== */

static void target_free(struct dp_proxy__hc_target *t)
{
    dp_cluster_state_unref(t->st);
    dp_tls_client_unref(t->tls);
    free(t->name);
    free(t->req);
    free(t->statuses);
    free(t->eps);
    free(t);
}

static void ep_closed(uv_handle_t *h)
{
    struct dp_proxy__hc_ep *e = h->data;
    struct dp_proxy__hc_target *t = e->tg;

    if (--e->handles > 0)
        return;
    dp_h2_session_free(e->h2); /* never inside its callbacks: here */
    e->h2 = NULL;
    e->busy = false;
    t->busy--;
    if (t->dropped && t->busy == 0)
        target_free(t);
}

static void probe_close(struct dp_proxy__hc_ep *e)
{
    dp_tls_conn_free(e->tls);
    e->tls = NULL;
    if (!uv_is_closing((uv_handle_t *)&e->tcp))
        uv_close((uv_handle_t *)&e->tcp, ep_closed);
    if (!uv_is_closing((uv_handle_t *)&e->timer))
        uv_close((uv_handle_t *)&e->timer, ep_closed);
}

/* Unlinks <t>; freed now or when its last probe has closed. */
static void target_drop(struct dp_proxy__hc *hc, struct dp_proxy__hc_target *t)
{
    for (size_t i = 0; i < t->n_eps; i++) {
        if (!t->eps[i].healthy)
            __atomic_sub_fetch(&hc->unhealthy, 1, __ATOMIC_RELAXED);
        if (t->eps[i].busy)
            probe_close(&t->eps[i]);
    }
    t->dropped = true;
    if (t->busy == 0)
        target_free(t);
}

/* Headers of the check the probe carries as given: Host, Connection and
 * Content-Length are the probe's own (Traefik's Go client ignores a Host
 * header too). */
bool dp_proxy__hc_own_header(const char *name)
{
    return strcasecmp(name, "host") == 0 ||
           strcasecmp(name, "connection") == 0 ||
           strcasecmp(name, "content-length") == 0;
}

bool dp_proxy__hc_has_header(const struct dp_health_check *h, const char *name)
{
    for (size_t i = 0; i < h->n_headers; i++)
        if (strcasecmp(h->headers[i].name, name) == 0)
            return true;
    return false;
}

/* Methods that carry a body: the probe says it is empty, as Go's client
 * (Traefik's prober) does. */
static bool has_body(const char *method)
{
    return strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0 ||
           strcmp(method, "PATCH") == 0;
}

/* <method> <path>, Host, the check's headers (validated by dataplane/table:
 * no CR/LF), a User-Agent unless one is given, Content-Length: 0 for
 * POST/PUT/PATCH, Connection: close. */
static char *probe_request(const struct dp_cluster *c,
                           const struct dp_health_check *h, size_t *len)
{
    const char *host = h->host && h->host[0] ? h->host : c->name;
    const char *method = h->method ? h->method : "GET";
    size_t n = strlen(method) + strlen(h->path) + strlen(host) + 160, k;
    char *r;

    for (size_t i = 0; i < h->n_headers; i++)
        n += strlen(h->headers[i].name) + strlen(h->headers[i].value) + 4;
    if ((r = malloc(n)) == NULL)
        return NULL;
    k = (size_t)snprintf(r, n, "%s %s HTTP/1.1\r\nHost: %s\r\n", method,
                         h->path, host);
    for (size_t i = 0; i < h->n_headers; i++)
        if (!dp_proxy__hc_own_header(h->headers[i].name))
            k += (size_t)snprintf(r + k, n - k, "%s: %s\r\n",
                                  h->headers[i].name, h->headers[i].value);
    if (!dp_proxy__hc_has_header(h, "user-agent"))
        k += (size_t)snprintf(r + k, n - k,
                              "User-Agent: traefikee-health-check\r\n");
    if (has_body(method))
        k += (size_t)snprintf(r + k, n - k, "Content-Length: 0\r\n");
    k += (size_t)snprintf(r + k, n - k, "Connection: close\r\n\r\n");
    *len = k;
    return r;
}

static char *target_req(const struct dp_cluster *c,
                        const struct dp_health_check *h, size_t *len)
{
    return h->kind == DP_HC_GRPC ? dp_proxy__hc_grpc_key(c, h, len)
                                 : probe_request(c, h, len);
}

/* The endpoint's address, with the check's port when it has one. */
static void probe_addr(const struct dp_endpoint *ep, uint16_t port,
                       struct sockaddr_storage *out)
{
    *out = ep->addr.sa;
    if (port == 0)
        return;
    if (out->ss_family == AF_INET)
        ((struct sockaddr_in *)out)->sin_port = htons(port);
    else if (out->ss_family == AF_INET6)
        ((struct sockaddr_in6 *)out)->sin6_port = htons(port);
}

static uint32_t th(uint32_t threshold)
{
    return threshold ? threshold : 1;
}

static struct dp_proxy__hc_target *target_new(struct dp_proxy__hc *hc,
                                              const struct dp_cluster *c,
                                              const struct dp_health_check *h)
{
    struct dp_proxy__hc_target *t = calloc(1, sizeof(*t));
    uint64_t now = uv_now(&hc->loop);

    if (t == NULL)
        return NULL;
    t->hc = hc;
    t->name = strdup(c->name);
    t->kind = h->kind;
    t->req = target_req(c, h, &t->req_len);
    t->eps = calloc(c->n_endpoints, sizeof(*t->eps));
    t->statuses = calloc(h->n_statuses + 1, sizeof(*t->statuses));
    if (t->name == NULL || t->req == NULL || t->eps == NULL ||
        t->statuses == NULL) {
        free(t->name), free(t->req), free(t->eps), free(t->statuses);
        free(t);
        return NULL;
    }
    if (h->n_statuses > 0)
        memcpy(t->statuses, h->statuses, h->n_statuses * sizeof(*h->statuses));
    t->n_statuses = h->n_statuses;
    t->st = dp_cluster_state_of(c);
    dp_cluster_state_ref(t->st);
    if ((t->tls = c->tls) != NULL)
        dp_tls_client_ref(t->tls);
    t->interval_ms = h->interval_ms;
    t->timeout_ms = h->timeout_ms;
    t->healthy_th = th(h->healthy_threshold);
    t->unhealthy_th = th(h->unhealthy_threshold);
    t->port = h->port;
    t->n_eps = c->n_endpoints;
    for (size_t i = 0; i < t->n_eps; i++) {
        struct dp_proxy__hc_ep *e = &t->eps[i];
        e->tg = t;
        e->idx = i;
        probe_addr(&c->endpoints[i], h->port, &e->addr);
        e->healthy = true;
        e->due = now; /* first probe at once */
        dp_cluster_state_set_healthy(t->st, i, true);
    }
    return t;
}

static bool same_statuses(const struct dp_proxy__hc_target *t,
                          const struct dp_health_check *h)
{
    return t->n_statuses == h->n_statuses &&
           (h->n_statuses == 0 ||
            memcmp(t->statuses, h->statuses,
                   h->n_statuses * sizeof(*h->statuses)) == 0);
}

/* The target already probing <c> the way <h> says, or NULL. */
static struct dp_proxy__hc_target *target_find(struct dp_proxy__hc *hc,
                                               const struct dp_cluster *c,
                                               const struct dp_health_check *h)
{
    size_t len;
    char *req = target_req(c, h, &len);
    struct dp_proxy__hc_target *t;

    for (t = hc->targets; t != NULL && req != NULL; t = t->next)
        if (t->st == dp_cluster_state_of(c) && t->kind == h->kind &&
            t->req_len == len && memcmp(t->req, req, len) == 0 &&
            t->interval_ms == h->interval_ms &&
            t->timeout_ms == h->timeout_ms &&
            t->healthy_th == th(h->healthy_threshold) &&
            t->unhealthy_th == th(h->unhealthy_threshold) &&
            t->port == h->port && same_statuses(t, h))
            break;
    free(req);
    return t;
}

/* Keeps <t> and makes its next probes use <tls> (borrowed; may be NULL):
 * every table compiles its own client context. */
static void target_use_tls(struct dp_proxy__hc_target *t,
                           struct dp_tls_client *tls)
{
    t->keep = true;
    if (t->tls == tls)
        return;
    dp_tls_client_unref(t->tls);
    if ((t->tls = tls) != NULL)
        dp_tls_client_ref(tls);
}

/* Under the proxy's table lock: keeps or creates a target per cluster. */
static int sync_cb(const struct dp_table *tb, void *arg)
{
    struct dp_proxy__hc *hc = arg;
    size_t n = tb ? dp_table_cluster_count(tb) : 0;

    for (size_t i = 0; i < n; i++) {
        const struct dp_cluster *c = dp_table_cluster_at(tb, (int)i);
        const struct dp_health_check *h = c->health_checks;
        struct dp_proxy__hc_target *t;
        if (c->n_health_checks == 0 || h->kind == DP_HC_TCP ||
            c->n_endpoints == 0)
            continue;
        if ((t = target_find(hc, c, h)) == NULL &&
            (t = target_new(hc, c, h)) != NULL) {
            t->next = hc->targets;
            hc->targets = t;
        }
        if (t != NULL)
            target_use_tls(t, c->tls);
    }
    return 0;
}

static void sync_targets(struct dp_proxy__hc *hc)
{
    struct dp_proxy__hc_target **pp = &hc->targets, *t;

    for (t = hc->targets; t != NULL; t = t->next)
        t->keep = false;
    dp_proxy_with_table(hc->p, sync_cb, hc);
    while ((t = *pp) != NULL) {
        if (t->keep) {
            pp = &t->next;
            continue;
        }
        *pp = t->next;
        target_drop(hc, t);
    }
}

/* ==== probes ==== */

/* Ends the probe in flight: <why> NULL when it passed, else the reason
 * (also in e->why). Marks the endpoint after enough results in a row. */
void dp_proxy__hc_done(struct dp_proxy__hc_ep *e, const char *why)
{
    struct dp_proxy__hc_target *t = e->tg;
    struct dp_proxy__hc *hc = t->hc;
    bool ok = why == NULL;
    char a[CM_NET_ADDRSTRLEN];

    probe_close(e);
    e->due = uv_now(&hc->loop) + t->interval_ms;
    __atomic_add_fetch(&hc->checks, 1, __ATOMIC_RELAXED);
    cm_net_format_addr((const struct sockaddr *)&e->addr, a, sizeof(a));
    if (ok) {
        e->fail_run = 0;
        e->ok_run++;
    } else {
        __atomic_add_fetch(&hc->failures, 1, __ATOMIC_RELAXED);
        e->ok_run = 0;
        e->fail_run++;
        cm_log_debug("proxy", "health_check_failed",
                     "cluster=%s endpoint=%s reason=\"%s\"", t->name, a, why);
    }
    if (e->healthy == ok ||
        (ok ? e->ok_run < t->healthy_th : e->fail_run < t->unhealthy_th))
        return;
    e->healthy = ok;
    dp_cluster_state_set_healthy(t->st, e->idx, ok);
    __atomic_add_fetch(&hc->unhealthy, ok ? (uint64_t)-1 : 1, __ATOMIC_RELAXED);
    if (ok)
        cm_log_info("proxy", "endpoint_healthy", "cluster=%s endpoint=%s",
                    t->name, a);
    else
        cm_log_info("proxy", "endpoint_unhealthy",
                    "cluster=%s endpoint=%s reason=\"%s\"", t->name, a, why);
}

void dp_proxy__hc_fail(struct dp_proxy__hc_ep *e, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(e->why, sizeof(e->why), fmt, ap);
    va_end(ap);
    for (char *q = e->why; *q != '\0'; q++)
        if (*q == '"' || *q == '\r' || *q == '\n')
            *q = '\'';
    dp_proxy__hc_done(e, e->why);
}

/* The status code of a status line: 100..999, 0 if malformed, -1 if more
 * bytes are needed. */
static int status_code(const char *b, size_t n)
{
    if (n < 12)
        return -1;
    if (memcmp(b, "HTTP/1.", 7) != 0 || b[8] != ' ')
        return 0;
    for (int i = 9; i < 12; i++)
        if (b[i] < '0' || b[i] > '9')
            return 0;
    if (b[9] == '0')
        return 0;
    return (b[9] - '0') * 100 + (b[10] - '0') * 10 + (b[11] - '0');
}

/* Within the target's expected statuses (any 2xx without them)? */
static bool status_expected(const struct dp_proxy__hc_target *t, int code)
{
    if (t->n_statuses == 0)
        return code >= 200 && code < 300;
    for (size_t i = 0; i < t->n_statuses; i++)
        if (code >= t->statuses[i].start && code < t->statuses[i].end)
            return true;
    return false;
}

/* Writes the expected statuses, "200-299" or "204, 300-399", into <out>. */
static void statuses_format(const struct dp_proxy__hc_target *t, char *out,
                            size_t len)
{
    size_t k = 0;

    out[0] = '\0';
    if (t->n_statuses == 0)
        snprintf(out, len, "2xx");
    for (size_t i = 0; i < t->n_statuses && k < len; i++) {
        const struct dp_hc_status_range *r = &t->statuses[i];
        int w = r->end - r->start == 1
                    ? snprintf(out + k, len - k, "%s%u", i ? ", " : "",
                               (unsigned)r->start)
                    : snprintf(out + k, len - k, "%s%u-%u", i ? ", " : "",
                               (unsigned)r->start, (unsigned)r->end - 1);
        k += w > 0 ? (size_t)w : 0;
    }
}

/* Fails the probe on an unexpected status: the status line, and what was
 * expected. */
static void probe_bad_status(struct dp_proxy__hc_ep *e)
{
    char want[48];
    size_t n = 0;

    while (n < e->len && n < 40 && e->buf[n] != '\r' && e->buf[n] != '\n')
        n++;
    statuses_format(e->tg, want, sizeof(want));
    dp_proxy__hc_fail(e, "status %.*s (want %s)", (int)n, e->buf, want);
}

/* Judges the response bytes so far: true when the probe is over. */
static bool probe_judge(struct dp_proxy__hc_ep *e)
{
    int code = status_code(e->buf, e->len);

    if (code > 0 && status_expected(e->tg, code)) {
        dp_proxy__hc_done(e, NULL);
        return true;
    }
    if (code >= 0) {
        probe_bad_status(e);
        return true;
    }
    if (e->len == HC_BUF) {
        dp_proxy__hc_fail(e, "no status line in %d bytes", HC_BUF);
        return true;
    }
    return false;
}

static void probe_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    struct dp_proxy__hc_ep *e = h->data;

    *b = uv_buf_init(e->buf + e->len, (unsigned)(HC_BUF - e->len));
}

static void probe_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    struct dp_proxy__hc_ep *e = s->data;

    if (n == 0 || uv_is_closing((uv_handle_t *)&e->tcp))
        return;
    if (n < 0) {
        dp_proxy__hc_fail(e, "read: %s before the status line",
                          uv_strerror((int)n));
        return;
    }
    e->len += (size_t)n;
    (void)probe_judge(e);
}

static void probe_written(uv_write_t *w, int status)
{
    struct dp_proxy__hc_ep *e = w->data;

    if (status != 0 && !uv_is_closing((uv_handle_t *)&e->tcp))
        dp_proxy__hc_fail(e, "write: %s", uv_strerror(status));
}

bool dp_proxy__hc_over(const struct dp_proxy__hc_ep *e)
{
    return uv_is_closing((const uv_handle_t *)&e->tcp);
}

/* ---- over TLS ---- */

/* Sends what e->tls holds for the socket; false when the probe failed. */
static bool tls_flush(struct dp_proxy__hc_ep *e)
{
    int r = dp_proxy__tls_flush(e->tls, (uv_stream_t *)&e->tcp);

    if (r < 0)
        dp_proxy__hc_fail(e, "write: %s", uv_strerror(r));
    return r >= 0;
}

/* The handshake is done: sends the request (gRPC: the session's queued
 * frames). false when the probe failed. */
static bool tls_request(struct dp_proxy__hc_ep *e)
{
    const char *alpn = dp_tls_conn_alpn(e->tls);

    if (e->h2 != NULL) {
        if (strcmp(alpn, "http/1.1") == 0) {
            dp_proxy__hc_fail(e, "TLS: the server chose ALPN http/1.1; gRPC "
                                 "needs h2");
            return false;
        }
        dp_proxy__hc_grpc_flush(e);
        return !dp_proxy__hc_over(e);
    }
    if (strcmp(alpn, "h2") == 0) {
        dp_proxy__hc_fail(e,
                          "TLS: the server chose ALPN h2; probes are HTTP/1.1");
        return false;
    }
    if (dp_tls_conn_write(e->tls, e->tg->req, e->tg->req_len) != 0) {
        dp_proxy__hc_fail(e, "TLS write failed");
        return false;
    }
    return tls_flush(e);
}

/* Decrypts what arrived into the session: 0 when more bytes are needed
 * (or the probe ended), else the last read's result. */
static int tls_grpc_read(struct dp_proxy__hc_ep *e)
{
    char *pb = e->tg->hc->pbuf;
    int r = 0;

    while (!dp_proxy__hc_over(e) &&
           (r = dp_tls_conn_read(e->tls, pb, DP_PROXY__TLS_IN)) > 0 &&
           r != DP_TLS_CLOSED)
        dp_proxy__hc_grpc_input(e, pb, (size_t)r);
    return dp_proxy__hc_over(e) ? 0 : r;
}

/* Decrypts and judges the HTTP/1 response: 0 when more bytes are needed
 * (or the probe ended), else the last read's result. */
static int tls_http_read(struct dp_proxy__hc_ep *e)
{
    int r;

    while ((r = dp_tls_conn_read(e->tls, e->buf + e->len, HC_BUF - e->len)) >
               0 &&
           r != DP_TLS_CLOSED) {
        e->len += (size_t)r;
        if (probe_judge(e))
            return 0;
    }
    return r;
}

/* Advances the handshake (sending the request once it is done), then
 * decrypts and judges the response. */
static void tls_step(struct dp_proxy__hc_ep *e)
{
    char err[CM_ERR_LEN] = "";
    int r;

    if (!dp_tls_conn_established(e->tls)) {
        r = dp_tls_conn_handshake(e->tls, err, sizeof(err));
        if (r < 0) {
            /* the alert, if the socket takes it; the reason is the TLS one */
            (void)dp_proxy__tls_flush(e->tls, (uv_stream_t *)&e->tcp);
            dp_proxy__hc_fail(e, "TLS handshake: %s", err);
            return;
        }
        if (!tls_flush(e) || r == 0 || !tls_request(e))
            return;
    }
    r = e->h2 != NULL ? tls_grpc_read(e) : tls_http_read(e);
    if (dp_proxy__hc_over(e))
        return;
    if (r != 0)
        dp_proxy__hc_fail(e, "TLS: %s before the %s",
                          r == DP_TLS_CLOSED ? "close_notify" : "read error",
                          e->h2 != NULL ? "gRPC response" : "status line");
    else
        (void)tls_flush(e); /* alerts, key updates */
}

/* Ciphertext (and plain gRPC probes' HTTP/2 bytes) go through the
 * checker's one buffer: fed at once. */
static void tls_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    struct dp_proxy__hc_ep *e = h->data;

    *b = uv_buf_init(e->tg->hc->rbuf, sizeof(e->tg->hc->rbuf));
}

static void tls_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    struct dp_proxy__hc_ep *e = s->data;

    if (n == 0 || uv_is_closing((uv_handle_t *)&e->tcp))
        return;
    if (n < 0) {
        dp_proxy__hc_fail(e, "read: %s %s", uv_strerror((int)n),
                          dp_tls_conn_established(e->tls)
                              ? "before the status line"
                              : "during the TLS handshake");
        return;
    }
    if (dp_tls_conn_feed(e->tls, b->base, (size_t)n) != 0) {
        dp_proxy__hc_fail(e, "out of memory");
        return;
    }
    tls_step(e);
}

static void tls_begin(struct dp_proxy__hc_ep *e)
{
    if ((e->tls = dp_tls_conn_client(e->tg->tls)) == NULL ||
        (e->h2 != NULL && dp_tls_conn_set_alpn(e->tls, "h2") != 0)) {
        dp_proxy__hc_fail(e, "out of memory");
        return;
    }
    if (uv_read_start((uv_stream_t *)&e->tcp, tls_alloc, tls_read) != 0) {
        dp_proxy__hc_fail(e, "cannot read");
        return;
    }
    tls_step(e); /* the ClientHello */
}

static void probe_connected(uv_connect_t *c, int status)
{
    struct dp_proxy__hc_ep *e = c->data;
    uv_buf_t b = uv_buf_init(e->tg->req, (unsigned)e->tg->req_len);

    if (uv_is_closing((uv_handle_t *)&e->tcp))
        return;
    if (status != 0) {
        dp_proxy__hc_fail(e, "connect: %s", uv_strerror(status));
        return;
    }
    if (e->tg->tls != NULL) {
        tls_begin(e);
        return;
    }
    if (e->h2 != NULL) {
        uv_tcp_nodelay(&e->tcp, 1);
        if (uv_read_start((uv_stream_t *)&e->tcp, tls_alloc,
                          dp_proxy__hc_grpc_read) != 0)
            dp_proxy__hc_fail(e, "cannot read");
        else
            dp_proxy__hc_grpc_flush(e);
        return;
    }
    if (uv_write(&e->wr, (uv_stream_t *)&e->tcp, &b, 1, probe_written) != 0 ||
        uv_read_start((uv_stream_t *)&e->tcp, probe_alloc, probe_read) != 0)
        dp_proxy__hc_fail(e, "cannot write or read");
}

static void probe_timeout(uv_timer_t *h)
{
    struct dp_proxy__hc_ep *e = h->data;

    dp_proxy__hc_fail(
        e, "timeout after %llu ms%s", (unsigned long long)e->tg->timeout_ms,
        e->tls != NULL && !dp_tls_conn_established(e->tls) ? " (TLS handshake)"
                                                           : "");
}

static void probe_start(struct dp_proxy__hc_ep *e)
{
    struct dp_proxy__hc_target *t = e->tg;
    uv_loop_t *loop = &t->hc->loop;
    int r;

    e->len = 0;
    e->busy = true;
    e->handles = 2;
    t->busy++;
    uv_tcp_init(loop, &e->tcp);
    uv_timer_init(loop, &e->timer);
    e->tcp.data = e->timer.data = e->conn.data = e->wr.data = e;
    uv_timer_start(&e->timer, probe_timeout, t->timeout_ms, 0);
    if (t->kind == DP_HC_GRPC && (r = dp_proxy__hc_grpc_begin(e)) != 0) {
        dp_proxy__hc_fail(e, "cannot build the gRPC request: %s",
                          cm_err_str(r));
        return;
    }
    if ((r = uv_tcp_connect(&e->conn, &e->tcp,
                            (const struct sockaddr *)&e->addr,
                            probe_connected)) != 0)
        dp_proxy__hc_fail(e, "connect: %s", uv_strerror(r));
}

static void on_tick(uv_timer_t *h)
{
    struct dp_proxy__hc *hc = h->data;
    uint64_t swaps = dp_proxy__swaps(hc->p), now = uv_now(&hc->loop);

    if (!hc->synced || swaps != hc->seen_swaps) {
        hc->seen_swaps = swaps;
        hc->synced = true;
        sync_targets(hc);
    }
    for (struct dp_proxy__hc_target *t = hc->targets; t != NULL; t = t->next)
        for (size_t i = 0; i < t->n_eps; i++)
            if (!t->eps[i].busy && t->eps[i].due <= now)
                probe_start(&t->eps[i]);
}

/* ==== thread ==== */

static void on_stop(uv_async_t *h)
{
    struct dp_proxy__hc *hc = h->data;
    struct dp_proxy__hc_target *t;

    while ((t = hc->targets) != NULL) {
        hc->targets = t->next;
        target_drop(hc, t);
    }
    uv_close((uv_handle_t *)&hc->tick, NULL);
    uv_close((uv_handle_t *)&hc->stop, NULL);
}

static void hc_main(void *arg)
{
    struct dp_proxy__hc *hc = arg;

    uv_run(&hc->loop, UV_RUN_DEFAULT);
}

struct dp_proxy__hc *dp_proxy__hc_start(struct dp_proxy *p)
{
    struct dp_proxy__hc *hc = calloc(1, sizeof(*hc));

    if (hc == NULL)
        return NULL;
    hc->p = p;
    if (uv_loop_init(&hc->loop) != 0) {
        free(hc);
        return NULL;
    }
    uv_async_init(&hc->loop, &hc->stop, on_stop);
    uv_timer_init(&hc->loop, &hc->tick);
    hc->stop.data = hc->tick.data = hc;
    uv_timer_start(&hc->tick, on_tick, 0, HC_TICK_MS);
    if (uv_thread_create(&hc->thread, hc_main, hc) != 0) {
        uv_close((uv_handle_t *)&hc->tick, NULL);
        uv_close((uv_handle_t *)&hc->stop, NULL);
        uv_run(&hc->loop, UV_RUN_DEFAULT);
        uv_loop_close(&hc->loop);
        free(hc);
        return NULL;
    }
    return hc;
}

void dp_proxy__hc_stats(struct dp_proxy__hc *hc, struct dp_proxy_stats *out)
{
    if (hc == NULL)
        return;
    out->hc_checks = __atomic_load_n(&hc->checks, __ATOMIC_RELAXED);
    out->hc_failures = __atomic_load_n(&hc->failures, __ATOMIC_RELAXED);
    out->hc_unhealthy = __atomic_load_n(&hc->unhealthy, __ATOMIC_RELAXED);
}

void dp_proxy__hc_stop(struct dp_proxy__hc *hc)
{
    if (hc == NULL)
        return;
    uv_async_send(&hc->stop);
    uv_thread_join(&hc->thread);
    uv_loop_close(&hc->loop);
    free(hc);
}
