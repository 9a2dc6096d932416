/*
 * server.c -- the listener, connections (keep-alive, one request at a time,
 * bounded buffers and idle timeouts), response writing, the /api/events
 * streams (chunked server-sent events), HTTPS through tls.c when a
 * certificate is set (ciphertext in and out here, bounded handshake), and
 * the sampling timer that feeds the charts and publishes changes.
 * Everything runs on the owner's loop.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "common/log/log.h"
#include "common/net/net.h"
#include "controlplane/http/http-int.h"

struct wreq {
    uv_write_t w;
    struct cp_http__conn *c;
    size_t n;
    char data[];
};

int64_t cp_http__now_ms(void)
{
    struct timeval tv;

    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* ==== lifetime ==== */

static void server_free(struct cp_http *s)
{
    cp_http__series_free(s->series);
    for (unsigned i = 0; i < CP_HTTP__REVOKED; i++)
        free(s->revoked[i]);
    free(s->nodes_digest);
    free(s->revs_digest);
    free(s->node_id);
    json_decref(s->evlog);
    cp_http__tls_ctx_free(s->tls);
    free(s->tls_rbuf);
    free(s);
}

void cp_http__unref(struct cp_http *s)
{
    if (--s->refs == 0 && s->closing)
        server_free(s);
}

static void handle_closed(uv_handle_t *h)
{
    cp_http__unref(h->data);
}

/* ==== connections ==== */

static void conn_closed(uv_handle_t *h)
{
    struct cp_http__conn *c = h->data;
    struct cp_http *s = c->srv;

    cp_http__parser_free(c->parser);
    cp_http__tls_free(c->tls);
    free(c);
    cp_http__unref(s);
}

void cp_http__conn_close(struct cp_http__conn *c)
{
    struct cp_http *s = c->srv;

    if (c->closing)
        return;
    c->closing = true;
    if (c->state == CP_HTTP__C_SSE)
        s->stats.sse_clients--;
    if (c->work != NULL)
        cp_http__work_detach(c->work);
    c->work = NULL;
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->nconns--;
    s->stats.conns = s->nconns;
    uv_close((uv_handle_t *)&c->tcp, conn_closed);
}

static void process(struct cp_http__conn *c);
static bool tls_pull(struct cp_http__conn *c);
static void conn_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b);
static void conn_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b);

/* The response is out: next request on a keep-alive connection, or close. */
static void finish(struct cp_http__conn *c)
{
    if (!c->keepalive) {
        cp_http__conn_close(c);
        return;
    }
    memmove(c->buf, c->buf + c->req_len, c->len - c->req_len);
    c->len -= c->req_len;
    c->req_len = c->head_len = 0;
    cp_http__parser_reset(c->parser);
    c->state = CP_HTTP__C_HEAD;
    c->active_ms = (int64_t)uv_now(c->srv->loop);
    if (uv_read_start((uv_stream_t *)&c->tcp, conn_alloc, conn_read) != 0) {
        cp_http__conn_close(c);
        return;
    }
    if (c->tls != NULL && !tls_pull(c)) /* records left while busy */
        return;
    process(c);
}

static void written(uv_write_t *w, int status)
{
    struct wreq *r = (struct wreq *)w;
    struct cp_http__conn *c = r->c;

    c->writes--;
    c->queued -= r->n;
    free(r);
    if (c->closing)
        return;
    if (status != 0) {
        cp_http__conn_close(c);
        return;
    }
    if (c->state == CP_HTTP__C_WRITE && c->writes == 0)
        finish(c);
}

/* A write request of <n> bytes for the caller to fill, or NULL (then <c>
 * is being closed). */
static struct wreq *wreq_new(struct cp_http__conn *c, size_t n)
{
    struct wreq *r = malloc(sizeof(*r) + n);

    if (r == NULL) {
        cp_http__conn_close(c);
        return NULL;
    }
    r->c = c;
    r->n = n;
    return r;
}

/* Writes <r> (taken). 0 or a UV_E* code (then <c> is being closed). */
static int wreq_send(struct cp_http__conn *c, struct wreq *r)
{
    uv_buf_t b = uv_buf_init(r->data, (unsigned)r->n);
    int e;

    if ((e = uv_write(&r->w, (uv_stream_t *)&c->tcp, &b, 1, written)) != 0) {
        free(r);
        cp_http__conn_close(c);
        return e;
    }
    c->writes++;
    c->queued += r->n;
    return 0;
}

/* Sends the records the TLS layer of <c> has produced. */
static int tls_flush(struct cp_http__conn *c)
{
    size_t n = cp_http__tls_out_len(c->tls);
    struct wreq *r;

    if (n == 0)
        return 0;
    if ((r = wreq_new(c, n)) == NULL)
        return UV_ENOMEM;
    r->n = cp_http__tls_out_take(c->tls, r->data, n);
    return wreq_send(c, r);
}

int cp_http__send(struct cp_http__conn *c, const void *data, size_t n)
{
    struct wreq *r;

    if (c->closing)
        return UV_ECANCELED;
    if (c->tls != NULL) {
        if (cp_http__tls_write(c->tls, data, n) != 0) {
            cp_http__conn_close(c);
            return UV_EPROTO;
        }
        return tls_flush(c);
    }
    if ((r = wreq_new(c, n)) == NULL)
        return UV_ENOMEM;
    memcpy(r->data, data, n);
    return wreq_send(c, r);
}

static const char *reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 204:
        return "No Content";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 303:
        return "See Other";
    case 304:
        return "Not Modified";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 411:
        return "Length Required";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 501:
        return "Not Implemented";
    case 503:
        return "Service Unavailable";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return status < 400 ? "OK" : "Error";
    }
}

void cp_http__reply(struct cp_http__conn *c, int status, const char *ctype,
                    const char *extra, const void *body, size_t blen)
{
    struct cp_http_text t = {0};
    bool head = c->state != CP_HTTP__C_HEAD && c->state != CP_HTTP__C_BODY &&
                cp_http__method(c->parser) == CP_HTTP__HEAD;

    c->srv->stats.responses[status / 100 % 6]++;
    cp_http_text_printf(&t, "HTTP/1.1 %d %s\r\n", status, reason(status));
    if (ctype != NULL)
        cp_http_text_printf(&t, "Content-Type: %s\r\n", ctype);
    cp_http_text_printf(&t,
                        "Content-Length: %zu\r\nX-Content-Type-Options: "
                        "nosniff\r\n%s%s\r\n",
                        blen, extra ? extra : "",
                        c->keepalive ? "" : "Connection: close\r\n");
    if (!head && blen > 0)
        cp_http__text_add(&t, body, blen);
    c->state = CP_HTTP__C_WRITE;
    c->active_ms = (int64_t)uv_now(c->srv->loop);
    if (t.oom)
        cp_http__conn_close(c);
    else
        cp_http__send(c, t.p, t.len);
    free(t.p);
}

/* An error answered before routing: the connection closes after it. */
static void reply_error(struct cp_http__conn *c, int status)
{
    char body[64];
    int n = snprintf(body, sizeof(body), "%d %s\n", status, reason(status));

    c->keepalive = false;
    uv_read_stop((uv_stream_t *)&c->tcp);
    cp_http__reply(c, status, "text/plain; charset=utf-8", NULL, body,
                   (size_t)n);
}

/* Parses what is buffered; routes a complete request. */
static void process(struct cp_http__conn *c)
{
    int r;
    int64_t bl;

    if (c->state == CP_HTTP__C_HEAD) {
        if (c->len == 0)
            return;
        r = cp_http__parse(c->parser, c->buf, c->len);
        if (r < 0) {
            reply_error(c, cp_http__parser_status(c->parser));
            return;
        }
        if (r == 0) {
            if (c->len == sizeof(c->buf))
                reply_error(c, 431);
            return;
        }
        c->head_len = (size_t)r;
        bl = cp_http__body_len(c->parser);
        if (bl < 0) {
            reply_error(c, 411);
            return;
        }
        if ((size_t)bl > sizeof(c->buf) - c->head_len) {
            reply_error(c, 413);
            return;
        }
        c->req_len = c->head_len + (size_t)bl;
        c->keepalive = cp_http__keepalive(c->parser);
        c->state = CP_HTTP__C_BODY;
    }
    if (c->state == CP_HTTP__C_BODY && c->len >= c->req_len) {
        c->state = CP_HTTP__C_BUSY;
        uv_read_stop((uv_stream_t *)&c->tcp);
        cp_http__route(c);
    }
}

/* Decrypts what the TLS layer of <c> holds into c->buf (dropped on an
 * event stream, whose input is ignored) and sends what the handshake
 * produced. Closes <c> on a failed handshake, bad record or close_notify:
 * false then. */
static bool tls_pull(struct cp_http__conn *c)
{
    int64_t now = (int64_t)uv_now(c->srv->loop);
    int r = 1;

    while (r > 0) {
        if (c->state == CP_HTTP__C_SSE)
            c->len = 0;
        if (c->len == sizeof(c->buf))
            break;
        r = cp_http__tls_read(c->tls, c->buf + c->len, sizeof(c->buf) - c->len);
        if (r > 0) {
            c->len += (size_t)r;
            c->active_ms = now;
        }
    }
    if (!c->secure && cp_http__tls_established(c->tls)) {
        c->secure = true;
        c->active_ms = now; /* the idle or head timeout starts now */
    }
    if (tls_flush(c) != 0)
        return false;
    if (r < 0) {
        if (r != CP_HTTP__TLS_CLOSED)
            cm_log_debug("http", "tls_failed", "handshake=%s",
                         c->secure ? "done" : "failed");
        cp_http__conn_close(c);
        return false;
    }
    return true;
}

/* Ciphertext read from <c>'s socket. */
static void tls_input(struct cp_http__conn *c, const char *p, size_t n)
{
    if (cp_http__tls_feed(c->tls, p, n) != 0) {
        cp_http__conn_close(c);
        return;
    }
    if (tls_pull(c) && c->state != CP_HTTP__C_SSE)
        process(c);
}

static void conn_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    struct cp_http__conn *c = h->data;

    (void)hint;
    if (c->tls != NULL) { /* the server's: tls_input() consumes it at once */
        *b = uv_buf_init(c->srv->tls_rbuf, CP_HTTP__TLS_RBUF);
        return;
    }
    if (c->state == CP_HTTP__C_SSE) /* input is ignored: reuse the buffer */
        c->len = 0;
    *b = uv_buf_init(c->buf + c->len, (unsigned)(sizeof(c->buf) - c->len));
}

static void conn_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
    struct cp_http__conn *c = st->data;

    if (n < 0) {
        cp_http__conn_close(c);
        return;
    }
    if (n == 0)
        return;
    if (c->tls != NULL) {
        tls_input(c, b->base, (size_t)n);
        return;
    }
    if (c->state == CP_HTTP__C_SSE)
        return;
    c->len += (size_t)n;
    c->active_ms = (int64_t)uv_now(c->srv->loop);
    process(c);
}

static void on_conn(uv_stream_t *l, int status)
{
    struct cp_http *s = l->data;
    struct cp_http__conn *c;

    if (status != 0 || s->closing || (c = calloc(1, sizeof(*c))) == NULL)
        return;
    c->srv = s;
    uv_tcp_init(s->loop, &c->tcp);
    c->tcp.data = c;
    s->refs++;
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    s->nconns++;
    s->stats.conns = s->nconns;
    c->active_ms = (int64_t)uv_now(s->loop);
    if (uv_accept(l, (uv_stream_t *)&c->tcp) != 0 ||
        s->nconns > CP_HTTP__MAX_CONNS ||
        (c->parser = cp_http__parser_new()) == NULL ||
        (s->tls != NULL && (c->tls = cp_http__tls_new(s->tls)) == NULL) ||
        uv_read_start((uv_stream_t *)&c->tcp, conn_alloc, conn_read) != 0)
        cp_http__conn_close(c);
}

/* ==== server-sent events ==== */

/* Sends <text> as one chunk of the event stream of <c>; drops a client
 * that does not keep up. */
static void sse_send(struct cp_http__conn *c, const char *text, size_t n)
{
    char line[24]; /* 16 hex digits, CRLF, NUL */
    struct cp_http_text t = {0};
    int ln = snprintf(line, sizeof(line), "%zx\r\n", n);

    if (c->queued > CP_HTTP__SSE_MAX_Q) {
        cm_log_warn("http", "sse_slow_client", "queued=%zu", c->queued);
        cp_http__conn_close(c);
        return;
    }
    cp_http__text_add(&t, line, (size_t)ln);
    cp_http__text_add(&t, text, n);
    cp_http__text_add(&t, "\r\n", 2);
    if (!t.oom)
        cp_http__send(c, t.p, t.len);
    free(t.p);
}

/* "event: TYPE\nid: N\ndata: LINE\n...\n\n" */
static void sse_format(struct cp_http_text *t, const char *type, uint64_t id,
                       const char *data)
{
    cp_http_text_printf(t, "event: %s\nid: %llu\n", type,
                        (unsigned long long)id);
    for (;;) {
        const char *nl = strchr(data, '\n');
        size_t n = nl ? (size_t)(nl - data) : strlen(data);
        cp_http__text_add(t, "data: ", 6);
        cp_http__text_add(t, data, n);
        cp_http__text_add(t, "\n", 1);
        if (nl == NULL)
            break;
        data = nl + 1;
    }
    cp_http__text_add(t, "\n", 1);
}

static bool type_ok(const char *type)
{
    if (type == NULL || *type == '\0' || strlen(type) > 64)
        return false;
    for (; *type; type++)
        if (*type <= ' ' || *type == ':' || *type == 0x7f)
            return false;
    return true;
}

void cp_http_publish_event(struct cp_http *s, const char *type,
                           const char *json)
{
    struct cp_http_text t = {0};
    struct cp_http__conn *c, *next;

    if (s == NULL || s->closing || !type_ok(type) || json == NULL)
        return;
    sse_format(&t, type, ++s->event_id, json);
    s->stats.events++;
    for (c = s->conns; c != NULL && !t.oom; c = next) {
        next = c->next; /* sse_send may close c */
        if (c->state == CP_HTTP__C_SSE)
            sse_send(c, t.p, t.len);
    }
    free(t.p);
    if (strcmp(type, "sample") != 0) {
        json_t *d = json_loads(json, JSON_DECODE_ANY, NULL);
        char ts[40];
        json_array_append_new(
            s->evlog,
            json_pack("{s:s,s:s,s:o*}", "type", type, "time",
                      cp_http__iso_time(cp_http__now_ms(), ts, sizeof(ts)),
                      "data", d));
        while (json_array_size(s->evlog) > CP_HTTP__EVLOG)
            json_array_remove(s->evlog, 0);
    }
}

void cp_http__sse_start(struct cp_http__conn *c)
{
    static const char head[] = "HTTP/1.1 200 OK\r\n"
                               "Content-Type: text/event-stream\r\n"
                               "Cache-Control: no-store\r\n"
                               "X-Accel-Buffering: no\r\n"
                               "X-Content-Type-Options: nosniff\r\n"
                               "Transfer-Encoding: chunked\r\n\r\n";
    struct cp_http_text t = {0};
    json_t *hello;
    char *js;

    c->srv->stats.responses[2]++;
    c->state = CP_HTTP__C_SSE;
    c->srv->stats.sse_clients++;
    if (cp_http__send(c, head, sizeof(head) - 1) != 0)
        return;
    hello = json_pack("{s:s,s:i}", "node", c->srv->node_id, "sample_ms",
                      (int)c->srv->sample_ms);
    js = json_dumps(hello, JSON_COMPACT);
    cp_http__text_add(&t, "retry: 2000\n\n", 13);
    sse_format(&t, "hello", c->srv->event_id, js ? js : "{}");
    if (!t.oom)
        sse_send(c, t.p, t.len);
    free(t.p);
    free(js);
    json_decref(hello);
    c->len = 0;
    if (!c->closing)
        uv_read_start((uv_stream_t *)&c->tcp, conn_alloc, conn_read);
}

/* ==== sampling and change detection ==== */

static char *dump(json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);

    json_decref(j);
    return s;
}

/* Publishes <type> with <full> when <digest> differs from *last (both
 * taken; *last keeps the new digest). */
static void publish_if_changed(struct cp_http *s, const char *type, char **last,
                               char *digest, json_t *full)
{
    if (digest != NULL && (*last == NULL || strcmp(*last, digest) != 0)) {
        char *js = json_dumps(full, JSON_COMPACT | JSON_REAL_PRECISION(6));
        if (js != NULL)
            cp_http_publish_event(s, type, js);
        free(js);
        free(*last);
        *last = digest;
    } else {
        free(digest);
    }
    json_decref(full);
}

static void detect_changes(struct cp_http *s)
{
    const struct cp_http_node *nodes = NULL;
    const struct cp_http_revision *revs = NULL;
    size_t nn = s->src.nodes(s->src.arg, &nodes), nr;
    uint64_t rev = 0;
    json_t *nj, *rj;

    s->src.config(s->src.arg, &rev);
    nr = s->src.revisions(s->src.arg, &revs);
    if (!s->config_seen || rev != s->config_rev) {
        char js[64];
        snprintf(js, sizeof(js), "{\"revision\":%llu}",
                 (unsigned long long)rev);
        s->config_seen = true;
        s->config_rev = rev;
        cp_http_publish_event(s, "config", js);
    }
    /* nodes: everything but lastSeen, which moves with every heartbeat */
    nj = cp_http__api_nodes(nodes, nn, rev);
    if (nj != NULL) {
        json_t *d = json_deep_copy(nj), *o;
        size_t i;
        json_array_foreach(d, i, o) json_object_del(o, "lastSeen");
        publish_if_changed(s, "nodes", &s->nodes_digest, dump(d), nj);
    }
    rj = cp_http__api_revisions(revs, nr, nodes, nn, rev);
    if (rj != NULL)
        publish_if_changed(s, "revisions", &s->revs_digest,
                           dump(json_incref(rj)), rj);
}

static void sample(struct cp_http *s)
{
    const struct cp_http_router_traffic *tr = NULL;
    const struct cp_http_node *nodes = NULL;
    size_t ntr = 0, nn;
    json_t *pt;
    char *js;

    if (s->src.traffic != NULL)
        ntr = s->src.traffic(s->src.arg, &tr);
    nn = s->src.nodes(s->src.arg, &nodes);
    pt = cp_http__series_add(s->series, cp_http__now_ms(), tr, ntr, nodes, nn);
    if (pt != NULL &&
        (js = json_dumps(pt, JSON_COMPACT | JSON_REAL_PRECISION(6))) != NULL) {
        cp_http_publish_event(s, "sample", js);
        free(js);
    }
    json_decref(pt);
}

/* Closes idle keep-alive connections and slow heads; pings streams. */
static void sweep(struct cp_http *s)
{
    int64_t now = (int64_t)uv_now(s->loop);
    struct cp_http__conn *c, *next;
    bool ping = now - s->last_ping_ms >= CP_HTTP__SSE_PING_MS;

    if (ping)
        s->last_ping_ms = now;
    for (c = s->conns; c != NULL; c = next) {
        next = c->next;
        if (c->state == CP_HTTP__C_SSE) {
            if (ping)
                sse_send(c, ": ping\n\n", 8);
        } else if (c->state == CP_HTTP__C_HEAD || c->state == CP_HTTP__C_BODY) {
            /* idle between requests, or a TLS handshake, head or body
             * too slow */
            bool idle = c->state == CP_HTTP__C_HEAD && c->len == 0 &&
                        (c->tls == NULL || c->secure);
            int64_t limit = idle ? CP_HTTP__IDLE_MS : CP_HTTP__HEAD_MS;
            if (now - c->active_ms > limit)
                cp_http__conn_close(c);
        }
    }
}

static void on_tick(uv_timer_t *t)
{
    struct cp_http *s = t->data;

    sample(s);
    detect_changes(s);
    cp_http__streams_check(s);
    sweep(s);
}

void cp_http_poke(struct cp_http *s)
{
    if (s == NULL || s->closing)
        return;
    detect_changes(s);
    cp_http__streams_check(s);
}

/* ==== the server ==== */

static int listen_on(struct cp_http *s, const char *addr, char *err,
                     size_t errlen)
{
    struct sockaddr_storage ss;
    int fd, r, len = sizeof(ss);

    if (cm_net_parse_addr(addr, &ss, err, errlen) != GW_OK)
        return GW_EINVAL;
    if ((fd = cm_net_listen((struct sockaddr *)&ss, 128, 0, err, errlen)) < 0)
        return fd;
    uv_tcp_init(s->loop, &s->lsn);
    s->lsn.data = s;
    s->refs++;
    if ((r = uv_tcp_open(&s->lsn, fd)) != 0 ||
        (r = uv_listen((uv_stream_t *)&s->lsn, 128, on_conn)) != 0 ||
        (r = uv_tcp_getsockname(&s->lsn, (struct sockaddr *)&ss, &len)) != 0)
        return cm_err_set(err, errlen, r, "http %s: %s", addr, uv_strerror(r));
    s->port = cm_net_port((struct sockaddr *)&ss);
    return GW_OK;
}

struct cp_http *cp_http_new(const struct cp_http_config *cfg,
                            const struct cp_http_source *src, char *err,
                            size_t errlen)
{
    struct cp_http *s;

    if (cfg->loop == NULL || cfg->addr == NULL || src->nodes == NULL ||
        src->config == NULL || src->revisions == NULL ||
        src->admin_hash == NULL) {
        cm_err_set(err, errlen, GW_EINVAL, "http: incomplete configuration");
        return NULL;
    }
    if ((s = calloc(1, sizeof(*s))) == NULL) {
        cm_err_set(err, errlen, GW_ENOMEM, "out of memory");
        return NULL;
    }
    s->loop = cfg->loop;
    s->src = *src;
    s->node_id = strdup(cfg->node_id ? cfg->node_id : "");
    s->sample_ms = cfg->sample_ms ? cfg->sample_ms : 1000;
    s->history = cfg->history ? cfg->history : 300;
    s->session_ttl_s = cfg->session_ttl_s ? cfg->session_ttl_s : 43200;
    s->metrics_auth = cfg->metrics_auth;
    s->cookie_secure = cfg->cookie_secure;
    s->started_ms = cp_http__now_ms();
    s->series = cp_http__series_new(s->history);
    s->evlog = json_array();
    if (s->node_id == NULL || s->series == NULL || s->evlog == NULL) {
        cm_err_set(err, errlen, GW_ENOMEM, "out of memory");
        server_free(s);
        return NULL;
    }
    uv_timer_init(s->loop, &s->tick);
    s->tick.data = s;
    s->refs++;
    if (listen_on(s, cfg->addr, err, errlen) != GW_OK) {
        cp_http_close(s);
        return NULL;
    }
    uv_timer_start(&s->tick, on_tick, s->sample_ms, s->sample_ms);
    cm_log_info("http", "listening", "addr=%s port=%d", cfg->addr, s->port);
    return s;
}

int cp_http_set_tls(struct cp_http *s, const char *cert_chain_pem,
                    const char *key_pem, char *err, size_t len)
{
    struct cp_http__tls_ctx *x = NULL;

    if (s == NULL || s->closing)
        return cm_err_set(err, len, GW_EINVAL, "http: server closed");
    if (cert_chain_pem != NULL) {
        if (s->tls_rbuf == NULL &&
            (s->tls_rbuf = malloc(CP_HTTP__TLS_RBUF)) == NULL)
            return cm_err_set(err, len, GW_ENOMEM, "out of memory");
        if ((x = cp_http__tls_ctx_new(cert_chain_pem, key_pem, err, len)) ==
            NULL)
            return GW_EINVAL;
    }
    cp_http__tls_ctx_free(s->tls); /* connections keep their own */
    s->tls = x;
    cm_log_info("http", "tls", "https=%s", x != NULL ? "on" : "off");
    return GW_OK;
}

int cp_http_port(const struct cp_http *s)
{
    return s->port;
}

void cp_http_close(struct cp_http *s)
{
    if (s == NULL || s->closing)
        return;
    s->closing = true;
    while (s->conns != NULL)
        cp_http__conn_close(s->conns);
    uv_close((uv_handle_t *)&s->tick, handle_closed);
    if (s->lsn.data == s)
        uv_close((uv_handle_t *)&s->lsn, handle_closed);
}
