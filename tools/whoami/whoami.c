/*
 * whoami.c -- a tiny HTTP/1.1 backend like containous/whoami, for tests,
 * demos and benchmarks. One libuv loop, keep-alive and pipelining, request
 * bodies read and counted (never stored). Parsing is the data node's own
 * codec (common/http1).
 *
 *   GET /             the request echoed back as text (Name, Hostname, IP,
 *                     RemoteAddr, request line, headers)
 *   GET /health       200 "OK"
 *   GET /bench        200 "1"
 *   GET /data?size=N  N bytes (one 64 KiB block written again and again)
 *   ANY /status/NNN   that status code, echo body
 *   ?wait=DURATION    answer after DURATION (e.g. 100ms, 2s)
 *
 * Every response carries X-Whoami-Name: NAME so tests can tell backends
 * apart.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "common/log/log.h"
#include "common/net/net.h"
#include "common/version/version.h"
#include "common/http1/http1.h"

#define WH_BUF_MAX  (64 * 1024) /* largest request head we keep */
#define WH_HDR_MAX  100
#define WH_DATA_MAX (256 * 1024 * 1024) /* /data?size= limit */

struct wh_server {
    uv_loop_t *loop;
    uv_tcp_t listener;
    uv_signal_t sigterm, sigint;
    const char *name;
    char hostname[256];
};

enum wh_state {
    WH_HEAD,    /* reading a request head */
    WH_BODY,    /* reading its body */
    WH_WAIT,    /* ?wait= timer running */
    WH_STREAM,  /* writing a /data body, one chunk in flight */
    WH_DONE,    /* last response queued; closing after the write */
    WH_CLOSING, /* handles closing */
};

struct wh_conn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    struct wh_server *srv;
    char *buf;
    size_t len, cap;
    enum wh_state state;
    struct cm_h1_req req;
    struct cm_h1_hdr hdrs[WH_HDR_MAX];
    struct cm_h1_chunked chunked;
    uint8_t body; /* enum cm_h1_body of the request being read */
    int64_t body_left;
    long wait_ms; /* answer delay from ?wait=, or -1 */
    uint64_t body_len;
    char *pending; /* response built, sent when the body is read or waited */
    size_t pending_len;
    int close_after;
    uint64_t stream_left; /* /data body bytes still to write */
    int handles;          /* open handles; freed when 0 */
    char peer[CM_NET_ADDRSTRLEN];
};

static void wh_conn_process(struct wh_conn *c);

/* ==== connection lifetime ==== */

static void wh_handle_closed(uv_handle_t *h)
{
    struct wh_conn *c = h->data;

    if (--c->handles > 0)
        return;
    free(c->buf);
    free(c->pending);
    free(c);
}

static void wh_conn_close(struct wh_conn *c)
{
    if (c->state == WH_CLOSING)
        return;
    c->state = WH_CLOSING;
    uv_close((uv_handle_t *)&c->timer, wh_handle_closed);
    uv_close((uv_handle_t *)&c->tcp, wh_handle_closed);
}

struct wh_write {
    uv_write_t req;
    struct wh_conn *conn;
    char *data;
    int close_after;
};

/* /data bodies are this block written again and again as the peer drains
 * it: no per-request copy, whatever the size. */
static char wh_block[64 * 1024];

static void wh_stream_next(struct wh_conn *c);

static void wh_written(uv_write_t *w, int status)
{
    struct wh_write *ww = (struct wh_write *)w;
    struct wh_conn *c = ww->conn;

    int close_after = ww->close_after;

    free(ww->data);
    free(ww);
    if (c->state == WH_CLOSING)
        return;
    if (status != 0 || close_after)
        wh_conn_close(c);
    else if (c->state == WH_STREAM)
        wh_stream_next(c);
}

/* Writes <len> bytes at <p>; takes <owned> (malloc'd or NULL), freed
 * once written. */
static void wh_write(struct wh_conn *c, const char *p, size_t len, char *owned,
                     int close_after)
{
    struct wh_write *w = malloc(sizeof(*w));
    uv_buf_t b = uv_buf_init((char *)p, (unsigned)len);

    if (w == NULL) {
        free(owned);
        wh_conn_close(c);
        return;
    }
    *w =
        (struct wh_write){.conn = c, .data = owned, .close_after = close_after};
    if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, wh_written) != 0) {
        free(owned);
        free(w);
        wh_conn_close(c);
    }
}

/* Takes <data> (malloc'd). */
static void wh_send(struct wh_conn *c, char *data, size_t len, int close_after)
{
    wh_write(c, data, len, data, close_after);
}

/* The next block of a /data body; at its end, the next request. */
static void wh_stream_next(struct wh_conn *c)
{
    size_t n = sizeof(wh_block);

    if (c->stream_left == 0) {
        if (c->close_after) {
            c->state = WH_DONE;
            wh_conn_close(c);
            return;
        }
        c->state = WH_HEAD;
        wh_conn_process(c);
        return;
    }
    if (c->stream_left < n)
        n = (size_t)c->stream_left;
    c->stream_left -= n;
    wh_write(c, wh_block, n, NULL, 0);
}

/* ==== responses ==== */

static const char *wh_reason(int code)
{
    switch (code) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 404:
        return "Not Found";
    case 500:
        return "Internal Server Error";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    }
    return "Status";
}

/* Returns a new response (head + body); *len its length. */
static char *wh_response(struct wh_conn *c, int code, const char *body,
                         size_t blen, int head_only, int close, size_t *len)
{
    char head[512];
    int hl;
    char *out;

    hl = snprintf(head, sizeof(head),
                  "HTTP/1.1 %d %s\r\nContent-Type: text/plain; "
                  "charset=utf-8\r\nContent-Length: %zu\r\nX-Whoami-Name: "
                  "%s\r\n%s\r\n",
                  code, wh_reason(code), blen, c->srv->name,
                  close ? "Connection: close\r\n" : "");
    if (head_only)
        blen = 0;
    out = malloc((size_t)hl + blen);
    if (out == NULL)
        return NULL;
    memcpy(out, head, (size_t)hl);
    if (blen > 0)
        memcpy(out + hl, body, blen);
    *len = (size_t)hl + blen;
    return out;
}

/* Appends to a growing text; on failure the text is dropped. */
struct wh_text {
    char *p;
    size_t len, cap;
};

static void wh_text_add(struct wh_text *t, const char *s, size_t n)
{
    if (t->len + n + 1 > t->cap) {
        size_t cap = (t->len + n + 1) * 2;
        char *p = realloc(t->p, cap);
        if (p == NULL)
            return;
        t->p = p;
        t->cap = cap;
    }
    memcpy(t->p + t->len, s, n);
    t->len += n;
    t->p[t->len] = '\0';
}

static void wh_text_fmt(struct wh_text *t, const char *fmt, const char *a)
{
    char line[512];
    int n = snprintf(line, sizeof(line), fmt, a);

    wh_text_add(t, line, n < (int)sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

static struct wh_text wh_echo(struct wh_conn *c)
{
    struct wh_text t = {0};
    const char *b = c->buf;
    char ip[CM_NET_ADDRSTRLEN];

    wh_text_fmt(&t, "Name: %s\n", c->srv->name);
    wh_text_fmt(&t, "Hostname: %s\n", c->srv->hostname);
    snprintf(ip, sizeof(ip), "%s", c->peer);
    wh_text_fmt(&t, "RemoteAddr: %s\n", ip);
    wh_text_add(&t, b + c->req.msg.start.off, c->req.msg.start.len);
    wh_text_add(&t, "\n", 1);
    for (uint32_t i = 0; i < c->req.msg.nhdr; i++) {
        const struct cm_h1_hdr *h = &c->req.msg.hdrs[i];
        wh_text_add(&t, b + h->name.off, h->name.len);
        wh_text_add(&t, ": ", 2);
        wh_text_add(&t, b + h->value.off, h->value.len);
        wh_text_add(&t, "\n", 1);
    }
    return t;
}

/* Value of query parameter <key> in the request, or NULL; copied to <out>. */
static const char *wh_query(struct wh_conn *c, const char *key, char *out,
                            size_t olen)
{
    struct cm_h1_slice q = cm_h1_at(c->buf, c->req.query);
    size_t kl = strlen(key);
    const char *p = q.ptr, *end = q.ptr + q.len;

    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *e = amp ? amp : end;
        if ((size_t)(e - p) > kl && memcmp(p, key, kl) == 0 && p[kl] == '=') {
            size_t vl = (size_t)(e - p) - kl - 1;
            if (vl >= olen)
                vl = olen - 1;
            memcpy(out, p + kl + 1, vl);
            out[vl] = '\0';
            return out;
        }
        p = e + 1;
    }
    return NULL;
}

/* "150ms", "2s", "1m" or bare milliseconds; -1 if invalid. */
static long wh_duration_ms(const char *s)
{
    char *end;
    long v = strtol(s, &end, 10);

    if (end == s || v < 0)
        return -1;
    if (strcmp(end, "ms") == 0 || *end == '\0')
        return v;
    if (strcmp(end, "s") == 0)
        return v * 1000;
    if (strcmp(end, "m") == 0)
        return v * 60000;
    return -1;
}

static int wh_path_is(struct wh_conn *c, const char *p)
{
    struct cm_h1_slice s = cm_h1_at(c->buf, c->req.path);

    return s.len == strlen(p) && memcmp(s.ptr, p, s.len) == 0;
}

/* Builds the answer to the parsed request into c->pending. */
static void wh_answer(struct wh_conn *c)
{
    struct cm_h1_slice path = cm_h1_at(c->buf, c->req.path);
    int head_only = c->req.method == CM_H1_M_HEAD;
    int close = c->close_after;
    char qv[32];
    struct wh_text t = {0};
    int code = 200;

    c->wait_ms = -1;
    if (wh_query(c, "wait", qv, sizeof(qv)) != NULL)
        c->wait_ms = wh_duration_ms(qv);
    if (wh_path_is(c, "/health")) {
        wh_text_add(&t, "OK\n", 3);
    } else if (wh_path_is(c, "/bench")) {
        wh_text_add(&t, "1", 1);
    } else if (wh_path_is(c, "/data")) {
        long n = wh_query(c, "size", qv, sizeof(qv)) ? atol(qv) : 1024;
        if (n < 0 || n > WH_DATA_MAX)
            n = 0;
        /* the head alone now; wh_flush() streams the body */
        free(c->pending);
        c->pending =
            wh_response(c, 200, "", (size_t)n, 1, close, &c->pending_len);
        c->stream_left = head_only ? 0 : (uint64_t)n;
        return;
    } else {
        if (path.len == 11 && memcmp(path.ptr, "/status/", 8) == 0)
            code = atoi(path.ptr + 8);
        if (code < 200 || code > 599)
            code = 400;
        t = wh_echo(c);
    }
    free(c->pending);
    c->pending = wh_response(c, code, t.p ? t.p : "", t.len, head_only, close,
                             &c->pending_len);
    free(t.p);
}

/* ==== request processing ==== */

static void wh_flush(struct wh_conn *c)
{
    char *p = c->pending;

    c->pending = NULL;
    if (p == NULL) {
        wh_conn_close(c);
        return;
    }
    if (c->stream_left == 0) {
        wh_send(c, p, c->pending_len, c->close_after);
        return;
    }
    c->state = WH_STREAM;
    wh_send(c, p, c->pending_len, 0);
}

static void wh_waited(uv_timer_t *t)
{
    struct wh_conn *c = t->data;

    c->state = WH_HEAD;
    wh_flush(c);
    if (c->state != WH_CLOSING && !c->close_after)
        wh_conn_process(c);
}

/* The request is fully read: answer now or after ?wait=. */
static void wh_request_done(struct wh_conn *c)
{
    if (c->wait_ms > 0) {
        c->state = WH_WAIT;
        uv_timer_start(&c->timer, wh_waited, (uint64_t)c->wait_ms, 0);
        return;
    }
    c->state = WH_HEAD;
    wh_flush(c);
}

static void wh_consume(struct wh_conn *c, size_t n)
{
    memmove(c->buf, c->buf + n, c->len - n);
    c->len -= n;
}

static void wh_error(struct wh_conn *c, int status)
{
    size_t len;
    char *r;

    c->close_after = 1;
    r = wh_response(c, status, "bad request\n", 12, 0, 1, &len);
    c->state = WH_DONE;
    if (r != NULL)
        wh_send(c, r, len, 1);
    else
        wh_conn_close(c);
}

/* Reads body bytes from the buffer; returns 1 when the body is complete. */
static int wh_body(struct wh_conn *c)
{
    if (c->body == CM_H1_BODY_LENGTH) {
        size_t n =
            c->len < (size_t)c->body_left ? c->len : (size_t)c->body_left;
        wh_consume(c, n);
        c->body_left -= (int64_t)n;
        c->body_len += n;
        return c->body_left == 0;
    }
    for (;;) {
        struct cm_h1_slice d;
        size_t used = 0;
        int r = cm_h1_chunked_parse(&c->chunked, c->buf, c->len, &used, &d);
        if (r == CM_H1_CHUNK_DATA)
            c->body_len += d.len;
        wh_consume(c, used);
        if (r == CM_H1_CHUNK_DONE)
            return 1;
        if (r == CM_H1_CHUNK_NEED)
            return 0;
        if (r < 0)
            return -1;
    }
}

/* Handles what the buffer holds: heads, bodies, pipelined requests. */
static void wh_conn_process(struct wh_conn *c)
{
    while (c->state == WH_HEAD || c->state == WH_BODY) {
        if (c->state == WH_HEAD) {
            int r;
            if (c->len == 0)
                return;
            r = cm_h1_req_parse(&c->req, c->buf, c->len);
            if (r == 0) {
                if (c->len >= WH_BUF_MAX)
                    wh_error(c, 431);
                return;
            }
            if (r < 0) {
                wh_error(c, c->req.msg.status);
                return;
            }
            c->close_after = !(c->req.msg.flags & CM_H1_F_KEEPALIVE);
            c->body = c->req.msg.body;
            c->body_left = c->req.msg.content_length;
            c->body_len = 0;
            cm_h1_chunked_init(&c->chunked, 0, 0);
            wh_answer(c); /* reads the head: before it is consumed */
            wh_consume(c, (size_t)r);
            cm_h1_req_reset(&c->req);
            c->state = WH_BODY;
        }
        if (c->body == CM_H1_BODY_LENGTH || c->body == CM_H1_BODY_CHUNKED) {
            int r = wh_body(c);
            if (r < 0) {
                wh_error(c, 400);
                return;
            }
            if (r == 0)
                return;
        }
        wh_request_done(c);
        if (c->close_after && c->state == WH_HEAD)
            c->state = WH_DONE;
    }
}

static void wh_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    struct wh_conn *c = h->data;

    if (c->cap - c->len < 16384 && c->cap < WH_BUF_MAX * 2) {
        size_t cap = c->cap ? c->cap * 2 : 16384;
        char *p = realloc(c->buf, cap);
        if (p != NULL) {
            c->buf = p;
            c->cap = cap;
        }
    }
    *b = uv_buf_init(c->buf + c->len, (unsigned)(c->cap - c->len));
}

static void wh_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    struct wh_conn *c = s->data;

    if (n < 0) {
        wh_conn_close(c);
        return;
    }
    c->len += (size_t)n;
    wh_conn_process(c);
    /* A full buffer still holding no complete head: too large. */
    if (c->state == WH_HEAD && c->len == c->cap && c->cap >= WH_BUF_MAX)
        wh_error(c, 431);
}

static void wh_accept(uv_stream_t *l, int status)
{
    struct wh_server *srv = l->data;
    struct wh_conn *c;
    struct sockaddr_storage ss;
    int sl = sizeof(ss);

    if (status != 0 || (c = calloc(1, sizeof(*c))) == NULL)
        return;
    c->srv = srv;
    uv_tcp_init(srv->loop, &c->tcp);
    uv_timer_init(srv->loop, &c->timer);
    c->tcp.data = c->timer.data = c;
    c->handles = 2;
    cm_h1_req_init(&c->req, c->hdrs, WH_HDR_MAX, NULL);
    if (uv_accept(l, (uv_stream_t *)&c->tcp) != 0) {
        wh_conn_close(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &sl) == 0)
        cm_net_format_addr((struct sockaddr *)&ss, c->peer, sizeof(c->peer));
    uv_read_start((uv_stream_t *)&c->tcp, wh_alloc, wh_read);
}

/* ==== main ==== */

static void wh_stop(uv_signal_t *s, int sig)
{
    struct wh_server *srv = s->data;

    cm_log_info("whoami", "stopping", "signal=%d", sig);
    uv_stop(srv->loop);
}

static int wh_usage(FILE *f)
{
    fprintf(f, "usage: whoami [--addr HOST:PORT] [--name NAME]\n"
               "  --addr  listen address (default 127.0.0.1:8081)\n"
               "  --name  name echoed in every response (default whoami)\n");
    return f == stdout ? 0 : 2;
}

int main(int argc, char **argv)
{
    struct wh_server srv = {.name = "whoami"};
    const char *addr = "127.0.0.1:8081";
    struct sockaddr_storage ss;
    char err[CM_ERR_LEN], line[256];
    int fd;

    memset(wh_block, 'A', sizeof(wh_block));
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--addr") == 0 && i + 1 < argc)
            addr = argv[++i];
        else if (strcmp(argv[i], "--name") == 0 && i + 1 < argc)
            srv.name = argv[++i];
        else if (strcmp(argv[i], "--version") == 0)
            return printf("%s\n",
                          cm_version_line(line, sizeof(line), "whoami")) < 0;
        else
            return wh_usage(strcmp(argv[i], "--help") == 0 ? stdout : stderr);
    }
    signal(SIGPIPE, SIG_IGN);
    gethostname(srv.hostname, sizeof(srv.hostname) - 1);
    if (cm_net_parse_addr(addr, &ss, err, sizeof(err)) != GW_OK ||
        (fd = cm_net_listen((struct sockaddr *)&ss, 1024, 0, err,
                            sizeof(err))) < 0) {
        fprintf(stderr, "whoami: %s\n", err);
        return 1;
    }
    srv.loop = uv_default_loop();
    uv_tcp_init(srv.loop, &srv.listener);
    uv_tcp_open(&srv.listener, fd);
    srv.listener.data = &srv;
    uv_listen((uv_stream_t *)&srv.listener, 1024, wh_accept);
    uv_signal_init(srv.loop, &srv.sigterm);
    uv_signal_init(srv.loop, &srv.sigint);
    srv.sigterm.data = srv.sigint.data = &srv;
    uv_signal_start(&srv.sigterm, wh_stop, SIGTERM);
    uv_signal_start(&srv.sigint, wh_stop, SIGINT);
    cm_log_info("whoami", "listening", "addr=%s name=%s", addr, srv.name);
    uv_run(srv.loop, UV_RUN_DEFAULT);
    return 0;
}
