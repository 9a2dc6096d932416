/*
 * proxy_hc.c -- active health checks: one thread with its own libuv loop
 * probes every endpoint of each cluster that has an HTTP health check
 * (<method, GET by default> <path>, Host <host or cluster name>, the check's
 * request_headers_to_add, sent to the check's alt_port when it has one,
 * else the endpoint's port; a status within the check's expected_statuses,
 * any 2xx without them, within <timeout> every <interval>; redirects are
 * not followed: a 3xx is a status like any other) or a gRPC health check
 * (grpc.health.v1.Health/Check over HTTP/2 through dataplane/h2, h2c or
 * TLS offering ALPN h2, :authority <authority or cluster name>, the
 * check's initial_metadata; passes on :status 200, a HealthCheckResponse
 * SERVING and grpc-status 0 in the trailers), one connection per probe,
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
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/log/log.h"
#include "dataplane/h2/h2.h"
#include "dataplane/proxy/proxy_int.h"
#include "dataplane/table/table.h"
#include "dataplane/tls/tls.h"

#define HC_TICK_MS 50  /* due probes are started this often */
#define HC_BUF     128 /* enough for the status line */
#define HC_WHY     160 /* the reason of a failed probe */
#define HC_GRPC_UA "traefikee-health-check"

/* gRPC HealthCheckResponse.status values. */
enum {
    HC_GRPC_SERVING = 1,
};

struct hc_target;

/* One endpoint's checker; a probe in flight owns tcp and timer. */
struct hc_ep {
    struct hc_target *tg;
    size_t idx;
    struct sockaddr_storage addr;
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_connect_t conn;
    uv_write_t wr;
    struct dp_tls_conn *tls;  /* the probe's TLS, or NULL (plain) */
    struct dp_h2_session *h2; /* gRPC: the probe's session, or NULL; freed
                                 once the probe's handles have closed */
    char buf[HC_BUF];         /* response plaintext (gRPC: the message) */
    size_t len;
    char why[HC_WHY]; /* why the last probe failed */
    int handles;      /* open handles of the probe in flight */
    bool busy;        /* a probe is in flight */
    bool healthy;     /* as last set in the state */
    uint32_t ok_run, fail_run;
    uint64_t due; /* loop ms of the next probe */
};

/* The checker of one cluster state. Freed once dropped and idle. */
struct hc_target {
    struct dp_proxy__hc *hc;
    struct hc_target *next;
    struct dp_cluster_state *st; /* reference held */
    char *name;                  /* cluster, for logs */
    uint8_t kind;                /* DP_HC_HTTP or DP_HC_GRPC */
    char *req; /* HTTP: the probe request; gRPC: "service\0authority\0"
                  then "name\0value\0" per metadata field */
    struct dp_hc_status_range *statuses; /* expected; none = any 2xx */
    size_t n_statuses;
    struct dp_tls_client *tls; /* reference held; NULL: plain HTTP */
    size_t req_len;
    uint64_t interval_ms, timeout_ms;
    uint32_t healthy_th, unhealthy_th;
    uint16_t port; /* the check's alt_port, or 0 */
    struct hc_ep *eps;
    size_t n_eps;
    size_t busy; /* probes in flight */
    bool keep;   /* marked during a sync */
    bool dropped;
};

struct dp_proxy__hc {
    struct dp_proxy *p;
    uv_loop_t loop;
    uv_thread_t thread;
    uv_async_t stop;
    uv_timer_t tick;
    uint64_t seen_swaps;
    bool synced;
    bool stopping;
    struct hc_target *targets;
    uint64_t checks, failures, unhealthy; /* atomics */
    char rbuf[DP_PROXY__TLS_IN]; /* ciphertext, fed to a probe at once */
    char pbuf[DP_PROXY__TLS_IN]; /* gRPC over TLS: plaintext, fed at once */
};

/* ==== targets ==== */

static void target_free(struct hc_target *t)
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
    struct hc_ep *e = h->data;
    struct hc_target *t = e->tg;

    if (--e->handles > 0)
        return;
    dp_h2_session_free(e->h2); /* never inside its callbacks: here */
    e->h2 = NULL;
    e->busy = false;
    t->busy--;
    if (t->dropped && t->busy == 0)
        target_free(t);
}

static void probe_close(struct hc_ep *e)
{
    dp_tls_conn_free(e->tls);
    e->tls = NULL;
    if (!uv_is_closing((uv_handle_t *)&e->tcp))
        uv_close((uv_handle_t *)&e->tcp, ep_closed);
    if (!uv_is_closing((uv_handle_t *)&e->timer))
        uv_close((uv_handle_t *)&e->timer, ep_closed);
}

/* Unlinks <t>; freed now or when its last probe has closed. */
static void target_drop(struct dp_proxy__hc *hc, struct hc_target *t)
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
static bool own_header(const char *name)
{
    return strcasecmp(name, "host") == 0 ||
           strcasecmp(name, "connection") == 0 ||
           strcasecmp(name, "content-length") == 0;
}

static bool has_header(const struct dp_health_check *h, const char *name)
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
        if (!own_header(h->headers[i].name))
            k += (size_t)snprintf(r + k, n - k, "%s: %s\r\n",
                                  h->headers[i].name, h->headers[i].value);
    if (!has_header(h, "user-agent"))
        k += (size_t)snprintf(r + k, n - k,
                              "User-Agent: traefikee-health-check\r\n");
    if (has_body(method))
        k += (size_t)snprintf(r + k, n - k, "Content-Length: 0\r\n");
    k += (size_t)snprintf(r + k, n - k, "Connection: close\r\n\r\n");
    *len = k;
    return r;
}

/* Metadata a gRPC probe carries as given: not the probe's own fields nor
 * connection-specific ones. */
static bool grpc_own_header(const char *name)
{
    return own_header(name) || strcasecmp(name, "te") == 0 ||
           strcasecmp(name, "content-type") == 0 ||
           dp_h2_is_hop(name, strlen(name), "", 0);
}

/* Appends <a> and its NUL at <r + *k>, lower-cased when <lower>. */
static void put_str(char *r, size_t *k, const char *a, bool lower)
{
    size_t n = strlen(a) + 1;

    memcpy(r + *k, a, n);
    for (size_t i = 0; lower && i < n; i++)
        r[*k + i] = (char)tolower((unsigned char)r[*k + i]);
    *k += n;
}

/* The gRPC probe's key (struct hc_target.req): service, authority (the
 * cluster name by default), then the metadata (names lower-cased, as
 * HTTP/2 wants) with a User-Agent unless one is given. */
static char *grpc_request(const struct dp_cluster *c,
                          const struct dp_health_check *h, size_t *len)
{
    const char *service = h->service ? h->service : "";
    const char *auth = h->authority && h->authority[0] ? h->authority : c->name;
    size_t n = strlen(service) + strlen(auth) + 64, k = 0;
    char *r;

    for (size_t i = 0; i < h->n_headers; i++)
        n += strlen(h->headers[i].name) + strlen(h->headers[i].value) + 2;
    if ((r = malloc(n)) == NULL)
        return NULL;
    put_str(r, &k, service, false);
    put_str(r, &k, auth, false);
    for (size_t i = 0; i < h->n_headers; i++)
        if (!grpc_own_header(h->headers[i].name)) {
            put_str(r, &k, h->headers[i].name, true);
            put_str(r, &k, h->headers[i].value, false);
        }
    if (!has_header(h, "user-agent")) {
        put_str(r, &k, "user-agent", false);
        put_str(r, &k, HC_GRPC_UA, false);
    }
    *len = k;
    return r;
}

static char *target_req(const struct dp_cluster *c,
                        const struct dp_health_check *h, size_t *len)
{
    return h->kind == DP_HC_GRPC ? grpc_request(c, h, len)
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

static struct hc_target *target_new(struct dp_proxy__hc *hc,
                                    const struct dp_cluster *c,
                                    const struct dp_health_check *h)
{
    struct hc_target *t = calloc(1, sizeof(*t));
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
        struct hc_ep *e = &t->eps[i];
        e->tg = t;
        e->idx = i;
        probe_addr(&c->endpoints[i], h->port, &e->addr);
        e->healthy = true;
        e->due = now; /* first probe at once */
        dp_cluster_state_set_healthy(t->st, i, true);
    }
    return t;
}

static bool same_statuses(const struct hc_target *t,
                          const struct dp_health_check *h)
{
    return t->n_statuses == h->n_statuses &&
           (h->n_statuses == 0 ||
            memcmp(t->statuses, h->statuses,
                   h->n_statuses * sizeof(*h->statuses)) == 0);
}

/* The target already probing <c> the way <h> says, or NULL. */
static struct hc_target *target_find(struct dp_proxy__hc *hc,
                                     const struct dp_cluster *c,
                                     const struct dp_health_check *h)
{
    size_t len;
    char *req = target_req(c, h, &len);
    struct hc_target *t;

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
static void target_use_tls(struct hc_target *t, struct dp_tls_client *tls)
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
        struct hc_target *t;
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
    struct hc_target **pp = &hc->targets, *t;

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
static void probe_done(struct hc_ep *e, const char *why)
{
    struct hc_target *t = e->tg;
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

/* Fails the probe in flight with a reason made from <fmt> (no quotes). */
static void probe_fail(struct hc_ep *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void probe_fail(struct hc_ep *e, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(e->why, sizeof(e->why), fmt, ap);
    va_end(ap);
    for (char *q = e->why; *q != '\0'; q++)
        if (*q == '"' || *q == '\r' || *q == '\n')
            *q = '\'';
    probe_done(e, e->why);
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
static bool status_expected(const struct hc_target *t, int code)
{
    if (t->n_statuses == 0)
        return code >= 200 && code < 300;
    for (size_t i = 0; i < t->n_statuses; i++)
        if (code >= t->statuses[i].start && code < t->statuses[i].end)
            return true;
    return false;
}

/* Writes the expected statuses, "200-299" or "204, 300-399", into <out>. */
static void statuses_format(const struct hc_target *t, char *out, size_t len)
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
static void probe_bad_status(struct hc_ep *e)
{
    char want[48];
    size_t n = 0;

    while (n < e->len && n < 40 && e->buf[n] != '\r' && e->buf[n] != '\n')
        n++;
    statuses_format(e->tg, want, sizeof(want));
    probe_fail(e, "status %.*s (want %s)", (int)n, e->buf, want);
}

/* Judges the response bytes so far: true when the probe is over. */
static bool probe_judge(struct hc_ep *e)
{
    int code = status_code(e->buf, e->len);

    if (code > 0 && status_expected(e->tg, code)) {
        probe_done(e, NULL);
        return true;
    }
    if (code >= 0) {
        probe_bad_status(e);
        return true;
    }
    if (e->len == HC_BUF) {
        probe_fail(e, "no status line in %d bytes", HC_BUF);
        return true;
    }
    return false;
}

static void probe_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    struct hc_ep *e = h->data;

    *b = uv_buf_init(e->buf + e->len, (unsigned)(HC_BUF - e->len));
}

static void probe_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    struct hc_ep *e = s->data;

    if (n == 0 || uv_is_closing((uv_handle_t *)&e->tcp))
        return;
    if (n < 0) {
        probe_fail(e, "read: %s before the status line", uv_strerror((int)n));
        return;
    }
    e->len += (size_t)n;
    (void)probe_judge(e);
}

static void probe_written(uv_write_t *w, int status)
{
    struct hc_ep *e = w->data;

    if (status != 0 && !uv_is_closing((uv_handle_t *)&e->tcp))
        probe_fail(e, "write: %s", uv_strerror(status));
}

/* ---- gRPC over HTTP/2 ---- */

static bool probe_over(const struct hc_ep *e)
{
    return uv_is_closing((const uv_handle_t *)&e->tcp);
}

/* Reads a protobuf varint at p[*i] (n bytes); false when truncated. */
static bool pb_varint(const uint8_t *p, size_t n, size_t *i, uint64_t *v)
{
    *v = 0;
    for (unsigned sh = 0; sh < 64 && *i < n; sh += 7) {
        uint8_t b = p[(*i)++];
        *v |= (uint64_t)(b & 0x7f) << sh;
        if (!(b & 0x80))
            return true;
    }
    return false;
}

int64_t dp_proxy__hc_grpc_status(const uint8_t *p, size_t n)
{
    uint64_t key, v, status = 0;
    size_t i = 0;

    while (i < n) {
        if (!pb_varint(p, n, &i, &key))
            return -1;
        switch (key & 7) {
        case 0:
            if (!pb_varint(p, n, &i, &v))
                return -1;
            if (key >> 3 == 1)
                status = v;
            break;
        case 1:
            i += 8;
            break;
        case 2:
            if (!pb_varint(p, n, &i, &v) || v > n - i)
                return -1;
            i += v;
            break;
        case 5:
            i += 4;
            break;
        default:
            return -1;
        }
    }
    return i == n && status <= INT32_MAX ? (int64_t)status : -1;
}

/* The status of the one gRPC message in e->buf (5-byte prefix: not
 * compressed, length), or -1 with <why> set. */
static int64_t grpc_message_status(const struct hc_ep *e, const char **why)
{
    const uint8_t *b = (const uint8_t *)e->buf;
    int64_t st;

    if (e->len < 5) {
        *why = "no HealthCheckResponse";
        return -1;
    }
    uint32_t n = (uint32_t)b[1] << 24 | (uint32_t)b[2] << 16 |
                 (uint32_t)b[3] << 8 | b[4];
    if (b[0] != 0 || n != e->len - 5 ||
        (st = dp_proxy__hc_grpc_status(b + 5, n)) < 0) {
        *why = "malformed HealthCheckResponse";
        return -1;
    }
    return st;
}

static const char *serving_name(int64_t st)
{
    static const char *const names[] = {"UNKNOWN", "SERVING", "NOT_SERVING",
                                        "SERVICE_UNKNOWN"};

    return st >= 0 && st < 4 ? names[st] : NULL;
}

/* Fails the probe with the grpc-status of <h> and its grpc-message. */
static void grpc_fail_status(struct hc_ep *e, const struct dp_h2_head *h,
                             const char *what)
{
    const struct dp_h2_field *gs = dp_h2_find(h, "grpc-status", 11);
    const struct dp_h2_field *gm = dp_h2_find(h, "grpc-message", 12);

    if (gs == NULL) {
        probe_fail(e, "no grpc-status in the %s", what);
        return;
    }
    probe_fail(e, "grpc-status %.*s%s%.*s", (int)gs->value.len, gs->value.p,
               gm ? ": " : "",
               gm ? (int)(gm->value.len > 60 ? 60 : gm->value.len) : 0,
               gm ? gm->value.p : "");
}

static bool grpc_ok_status(const struct dp_h2_head *h)
{
    const struct dp_h2_field *gs = dp_h2_find(h, "grpc-status", 11);

    return gs != NULL && gs->value.len == 1 && gs->value.p[0] == '0';
}

/* The trailers: grpc-status 0 and a SERVING response pass. */
static void grpc_judge(struct hc_ep *e, const struct dp_h2_head *h)
{
    const char *why = NULL;
    int64_t st;

    if (!grpc_ok_status(h)) {
        grpc_fail_status(e, h, "trailers");
        return;
    }
    if ((st = grpc_message_status(e, &why)) < 0)
        probe_fail(e, "%s", why);
    else if (st != HC_GRPC_SERVING && serving_name(st) != NULL)
        probe_fail(e, "%s", serving_name(st));
    else if (st != HC_GRPC_SERVING)
        probe_fail(e, "serving status %lld", (long long)st);
    else
        probe_done(e, NULL);
}

static int grpc_on_headers(void *arg, int32_t sid, void *user,
                           const struct dp_h2_head *h)
{
    struct hc_ep *e = arg;

    if (probe_over(e) || h->kind == DP_H2_INFO)
        return 0;
    if (h->kind == DP_H2_TRAILERS)
        grpc_judge(e, h);
    else if (h->status != 200)
        probe_fail(e, "HTTP status %d (want 200)", h->status);
    else if (h->end_stream && grpc_ok_status(h))
        probe_fail(e, "trailers-only response: no HealthCheckResponse");
    else if (h->end_stream)
        grpc_fail_status(e, h, "trailers-only response");
    return 0;
}

static void grpc_on_data(void *arg, void *user, const uint8_t *p, size_t n)
{
    struct hc_ep *e = arg;

    if (probe_over(e))
        return;
    if (n > HC_BUF - e->len) {
        probe_fail(e, "response over %d bytes", HC_BUF);
        return;
    }
    memcpy(e->buf + e->len, p, n);
    e->len += n;
}

static void grpc_on_end(void *arg, void *user)
{
    (void)arg, (void)user; /* judged on the trailers or the close */
}

static void grpc_on_close(void *arg, void *user, uint32_t code)
{
    struct hc_ep *e = arg;

    if (probe_over(e))
        return;
    if (code != 0)
        probe_fail(e, "stream reset (HTTP/2 error %u)", code);
    else
        probe_fail(e, "response without trailers");
}

static void grpc_on_room(void *arg, void *user, size_t n)
{
    (void)arg, (void)user, (void)n; /* the 5-byte body is queued at once */
}

static const struct dp_h2_cbs grpc_cbs = {
    grpc_on_headers, grpc_on_data, grpc_on_end, grpc_on_close, grpc_on_room};

/* Sends what the session has queued; fails the probe on an error. */
static void grpc_flush(struct hc_ep *e)
{
    if (!probe_over(e) && dp_h2_flush(e->h2) != 0)
        probe_fail(e, "HTTP/2: cannot send");
}

static void grpc_written(uv_write_t *w, int status)
{
    struct hc_ep *e = w->data;

    if (probe_over(e))
        return;
    dp_h2_sent(e->h2);
    if (status != 0)
        probe_fail(e, "write: %s", uv_strerror(status));
    else
        grpc_flush(e);
}

/* The session's transport: TLS records, or the socket. */
static int grpc_send(void *arg, const uint8_t *p, size_t n)
{
    struct hc_ep *e = arg;
    uv_buf_t b = uv_buf_init((char *)p, (unsigned)n);

    if (probe_over(e))
        return 1; /* dropped: the probe is over */
    if (e->tls == NULL)
        return dp_proxy__send((uv_stream_t *)&e->tcp, &e->wr, &b, 1,
                              grpc_written);
    if (dp_tls_conn_write(e->tls, p, n) != 0)
        return GW_EIO;
    int r = dp_proxy__tls_flush(e->tls, (uv_stream_t *)&e->tcp);
    return r < 0 ? r : 1;
}

/* Received HTTP/2 bytes: events may end the probe. */
static void grpc_input(struct hc_ep *e, const void *p, size_t n)
{
    int r = dp_h2_feed(e->h2, p, n);

    if (probe_over(e))
        return;
    if (r != 0)
        probe_fail(e, "HTTP/2: protocol error or GOAWAY");
    else if (dp_h2_done(e->h2))
        probe_fail(e, "HTTP/2: the server ended the session");
}

static void grpc_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    struct hc_ep *e = s->data;

    if (n == 0 || probe_over(e))
        return;
    if (n < 0)
        probe_fail(e, "read: %s before the gRPC response", uv_strerror((int)n));
    else
        grpc_input(e, b->base, (size_t)n);
}

/* The request's fields from the target's key; returns new (free()) with
 * the count in <n>, or NULL. */
static struct dp_h2_field *grpc_fields(const struct hc_ep *e, size_t *n)
{
    const struct hc_target *t = e->tg;
    const char *k = t->req + strlen(t->req) + 1, *end = t->req + t->req_len;
    size_t strs = 0, i = 0; /* metadata names and values */
    struct dp_h2_field *f;

    for (const char *q = k + strlen(k) + 1; q < end; q += strlen(q) + 1)
        strs++;
    if ((f = calloc(6 + strs / 2, sizeof(*f))) == NULL)
        return NULL;
#define F(nm, v)                                                               \
    (f[i].name.p = (nm), f[i].name.len = strlen(nm), f[i].value.p = (v),       \
     f[i].value.len = strlen(v), i++)
    F(":method", "POST");
    F(":scheme", t->tls ? "https" : "http");
    F(":path", "/grpc.health.v1.Health/Check");
    F(":authority", k);
    F("content-type", "application/grpc");
    F("te", "trailers");
    for (const char *q = k + strlen(k) + 1; q < end;) {
        const char *v = q + strlen(q) + 1;
        F(q, v);
        q = v + strlen(v) + 1;
    }
#undef F
    *n = i;
    return f;
}

/* The gRPC frame of HealthCheckRequest{service}: 5 bytes for "". */
static size_t grpc_body(const char *service, uint8_t *out, size_t cap)
{
    size_t sl = strlen(service), m = sl ? 2 + sl : 0;

    if (sl > 127 || 5 + m > cap)
        return 0;
    out[0] = 0;
    out[1] = out[2] = out[3] = 0;
    out[4] = (uint8_t)m;
    if (sl > 0) {
        out[5] = 0x0a; /* field 1, length-delimited */
        out[6] = (uint8_t)sl;
        memcpy(out + 7, service, sl);
    }
    return 5 + m;
}

/* A session with the request queued (sent once connected). */
static int grpc_begin(struct hc_ep *e)
{
    struct dp_h2_io io = {grpc_send, e};
    uint8_t body[5 + 2 + 127];
    size_t nf, nb = grpc_body(e->tg->req, body, sizeof(body));
    struct dp_h2_field *f;
    int32_t sid;

    if (nb == 0)
        return GW_EINVAL;
    if ((e->h2 = dp_h2_session_new(DP_H2_CLIENT, NULL, &io, &grpc_cbs, e)) ==
        NULL)
        return GW_ENOMEM;
    if ((f = grpc_fields(e, &nf)) == NULL)
        return GW_ENOMEM;
    sid = dp_h2_request(e->h2, f, nf, false, e);
    free(f);
    if (sid < 0)
        return sid;
    if (dp_h2_write(e->h2, sid, body, nb) != 0 ||
        dp_h2_end(e->h2, sid, NULL, 0) != 0)
        return GW_ENOMEM;
    return GW_OK;
}

/* ---- over TLS ---- */

/* Sends what e->tls holds for the socket; false when the probe failed. */
static bool tls_flush(struct hc_ep *e)
{
    int r = dp_proxy__tls_flush(e->tls, (uv_stream_t *)&e->tcp);

    if (r < 0)
        probe_fail(e, "write: %s", uv_strerror(r));
    return r >= 0;
}

/* The handshake is done: sends the request (gRPC: the session's queued
 * frames). false when the probe failed. */
static bool tls_request(struct hc_ep *e)
{
    const char *alpn = dp_tls_conn_alpn(e->tls);

    if (e->h2 != NULL) {
        if (strcmp(alpn, "http/1.1") == 0) {
            probe_fail(e, "TLS: the server chose ALPN http/1.1; gRPC "
                          "needs h2");
            return false;
        }
        grpc_flush(e);
        return !probe_over(e);
    }
    if (strcmp(alpn, "h2") == 0) {
        probe_fail(e, "TLS: the server chose ALPN h2; probes are HTTP/1.1");
        return false;
    }
    if (dp_tls_conn_write(e->tls, e->tg->req, e->tg->req_len) != 0) {
        probe_fail(e, "TLS write failed");
        return false;
    }
    return tls_flush(e);
}

/* Decrypts what arrived into the session: 0 when more bytes are needed
 * (or the probe ended), else the last read's result. */
static int tls_grpc_read(struct hc_ep *e)
{
    char *pb = e->tg->hc->pbuf;
    int r = 0;

    while (!probe_over(e) &&
           (r = dp_tls_conn_read(e->tls, pb, DP_PROXY__TLS_IN)) > 0 &&
           r != DP_TLS_CLOSED)
        grpc_input(e, pb, (size_t)r);
    return probe_over(e) ? 0 : r;
}

/* Decrypts and judges the HTTP/1 response: 0 when more bytes are needed
 * (or the probe ended), else the last read's result. */
static int tls_http_read(struct hc_ep *e)
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
static void tls_step(struct hc_ep *e)
{
    char err[CM_ERR_LEN] = "";
    int r;

    if (!dp_tls_conn_established(e->tls)) {
        r = dp_tls_conn_handshake(e->tls, err, sizeof(err));
        if (r < 0) {
            /* the alert, if the socket takes it; the reason is the TLS one */
            (void)dp_proxy__tls_flush(e->tls, (uv_stream_t *)&e->tcp);
            probe_fail(e, "TLS handshake: %s", err);
            return;
        }
        if (!tls_flush(e) || r == 0 || !tls_request(e))
            return;
    }
    r = e->h2 != NULL ? tls_grpc_read(e) : tls_http_read(e);
    if (probe_over(e))
        return;
    if (r != 0)
        probe_fail(e, "TLS: %s before the %s",
                   r == DP_TLS_CLOSED ? "close_notify" : "read error",
                   e->h2 != NULL ? "gRPC response" : "status line");
    else
        (void)tls_flush(e); /* alerts, key updates */
}

/* Ciphertext (and plain gRPC probes' HTTP/2 bytes) go through the
 * checker's one buffer: fed at once. */
static void tls_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    struct hc_ep *e = h->data;

    *b = uv_buf_init(e->tg->hc->rbuf, sizeof(e->tg->hc->rbuf));
}

static void tls_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    struct hc_ep *e = s->data;

    if (n == 0 || uv_is_closing((uv_handle_t *)&e->tcp))
        return;
    if (n < 0) {
        probe_fail(e, "read: %s %s", uv_strerror((int)n),
                   dp_tls_conn_established(e->tls)
                       ? "before the status line"
                       : "during the TLS handshake");
        return;
    }
    if (dp_tls_conn_feed(e->tls, b->base, (size_t)n) != 0) {
        probe_fail(e, "out of memory");
        return;
    }
    tls_step(e);
}

static void tls_begin(struct hc_ep *e)
{
    if ((e->tls = dp_tls_conn_client(e->tg->tls)) == NULL ||
        (e->h2 != NULL && dp_tls_conn_set_alpn(e->tls, "h2") != 0)) {
        probe_fail(e, "out of memory");
        return;
    }
    if (uv_read_start((uv_stream_t *)&e->tcp, tls_alloc, tls_read) != 0) {
        probe_fail(e, "cannot read");
        return;
    }
    tls_step(e); /* the ClientHello */
}

static void probe_connected(uv_connect_t *c, int status)
{
    struct hc_ep *e = c->data;
    uv_buf_t b = uv_buf_init(e->tg->req, (unsigned)e->tg->req_len);

    if (uv_is_closing((uv_handle_t *)&e->tcp))
        return;
    if (status != 0) {
        probe_fail(e, "connect: %s", uv_strerror(status));
        return;
    }
    if (e->tg->tls != NULL) {
        tls_begin(e);
        return;
    }
    if (e->h2 != NULL) {
        uv_tcp_nodelay(&e->tcp, 1);
        if (uv_read_start((uv_stream_t *)&e->tcp, tls_alloc, grpc_read) != 0)
            probe_fail(e, "cannot read");
        else
            grpc_flush(e);
        return;
    }
    if (uv_write(&e->wr, (uv_stream_t *)&e->tcp, &b, 1, probe_written) != 0 ||
        uv_read_start((uv_stream_t *)&e->tcp, probe_alloc, probe_read) != 0)
        probe_fail(e, "cannot write or read");
}

static void probe_timeout(uv_timer_t *h)
{
    struct hc_ep *e = h->data;

    probe_fail(
        e, "timeout after %llu ms%s", (unsigned long long)e->tg->timeout_ms,
        e->tls != NULL && !dp_tls_conn_established(e->tls) ? " (TLS handshake)"
                                                           : "");
}

static void probe_start(struct hc_ep *e)
{
    struct hc_target *t = e->tg;
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
    if (t->kind == DP_HC_GRPC && (r = grpc_begin(e)) != 0) {
        probe_fail(e, "cannot build the gRPC request: %s", cm_err_str(r));
        return;
    }
    if ((r = uv_tcp_connect(&e->conn, &e->tcp,
                            (const struct sockaddr *)&e->addr,
                            probe_connected)) != 0)
        probe_fail(e, "connect: %s", uv_strerror(r));
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
    for (struct hc_target *t = hc->targets; t != NULL; t = t->next)
        for (size_t i = 0; i < t->n_eps; i++)
            if (!t->eps[i].busy && t->eps[i].due <= now)
                probe_start(&t->eps[i]);
}

/* ==== thread ==== */

static void on_stop(uv_async_t *h)
{
    struct dp_proxy__hc *hc = h->data;
    struct hc_target *t;

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
