/*
 * proxy_h2gw.c -- an HTTP/1.1 client's exchange with an h2c upstream: the
 * client connection (state DP_PROXY__S_H2GW) hands its routed request to
 * an upstream stream of proxy_h2up.c. The request head is translated
 * (hop-by-hop fields dropped, Host -> :authority, X-Forwarded-*), the body
 * decoded (length or chunked) and streamed up; the response comes back as
 * HTTP/1.1, chunked unless the upstream gave a length, trailers as chunked
 * trailers. The client's reads and the upstream's window are the
 * backpressure. Runs on the connection's worker.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/h2/h2.h"
#include "dataplane/proxy/proxy_int.h"

#define GW_BACKLOG (64 * 1024) /* request bytes queued upstream */
#define GW_FIELDS  (DP_PROXY__HDR_MAX + 16)

struct dp_proxy__h2gw {
    struct dp_proxy__conn *c;
    struct dp_proxy__h2x *x;
    uint8_t tries;
    bool x_sent;    /* request head submitted */
    bool req_end;   /* the request body was fully read and sent */
    bool resp_head; /* response head written to out */
    bool chunked;   /* response goes out chunked */
    bool resp_done; /* last byte of the response is in out */
    bool failed;    /* upstream gone after the head: close after */
    bool head_only; /* HEAD request: no body to the client */
    int64_t req_left;
    struct cm_h1_chunked req_chunked;
    char *out; /* response bytes for the client */
    size_t out_len, out_cap;
    size_t unconsumed, wr_consume; /* upstream body bytes to consume */
    uint8_t *wbuf;                 /* the bytes being written */
};

static void gw_run_cb(struct dp_proxy__h2gw *g);

/* ==== output ==== */

static int out_add(struct dp_proxy__h2gw *g, const void *p, size_t n)
{
    if (g->out_len + n > g->out_cap) {
        size_t cap = g->out_cap ? g->out_cap : 8192;
        char *q;
        while (cap < g->out_len + n)
            cap *= 2;
        if ((q = realloc(g->out, cap)) == NULL)
            return GW_ENOMEM;
        g->out = q;
        g->out_cap = cap;
    }
    memcpy(g->out + g->out_len, p, n);
    g->out_len += n;
    return 0;
}

/* An answer made here (no response head went yet). */
static void gw_local(struct dp_proxy__h2gw *g, int status)
{
    char buf[512], body[64];
    int bl = snprintf(body, sizeof(body), "%s\n", dp_proxy_reason(status));
    int n = dp_proxy_local_response(buf, sizeof(buf), status, NULL, body,
                                    (size_t)bl, 1, g->head_only);

    DP_PROXY__INC(g->c->w, responses[status / 100 % 6], 1);
    g->c->x->plan.resp_status = (uint16_t)status;
    g->c->close_after = true;
    g->resp_head = g->resp_done = true;
    if (n > 0)
        out_add(g, buf, (size_t)n);
    dp_proxy__h2x_free(g->x);
    g->x = NULL;
}

/* ==== upstream events ==== */

static void gw_ready(void *o);

static void gw_head(void *o, const struct dp_h2_head *hd)
{
    struct dp_proxy__h2gw *g = o;
    struct dp_proxy__conn *c = g->c;
    char head[16384];
    int n;

    if (g->resp_head)
        return;
    g->chunked = hd->content_length < 0 && !hd->end_stream && !g->head_only &&
                 hd->status != 204 && hd->status != 304;
    n = dp_h2_resp_to_h1(hd, g->chunked, head, sizeof(head));
    if (n < 0) {
        gw_local(g, 502);
        return;
    }
    n -= 2; /* the blank line goes after our own fields */
    out_add(g, head, (size_t)n);
    if (c->x->plan.resp_add.set)
        out_add(g, c->x->sb.p + c->x->plan.resp_add.off,
                c->x->plan.resp_add.len);
    if (c->close_after || c->w->draining)
        out_add(g, "Connection: close\r\n", 19);
    out_add(g, "\r\n", 2);
    DP_PROXY__INC(c->w, responses[hd->status / 100 % 6], 1);
    c->x->plan.resp_status = (uint16_t)hd->status;
    uv_timer_stop(&c->timer);
    g->resp_head = true;
    if (hd->end_stream)
        g->resp_done = true;
    gw_run_cb(g);
}

static void gw_data(void *o, const uint8_t *p, size_t n)
{
    struct dp_proxy__h2gw *g = o;
    char line[CM_H1_CHUNK_LINE_MAX];

    if (!g->resp_head || g->resp_done || g->head_only || n == 0) {
        dp_proxy__h2x_consume(g->x, n);
        return;
    }
    if (g->chunked)
        out_add(g, line, cm_h1_chunk_size_line(line, n));
    out_add(g, p, n);
    if (g->chunked)
        out_add(g, CM_H1_CRLF, 2);
    g->unconsumed += n;
    gw_run_cb(g);
}

static void gw_trailers(void *o, const struct dp_h2_head *hd)
{
    struct dp_proxy__h2gw *g = o;
    char buf[8192];
    int n;

    if (!g->resp_head || g->resp_done)
        return;
    g->resp_done = true;
    if (!g->chunked) {
        gw_run_cb(g);
        return;
    }
    n = dp_h2_trailers_to_h1(hd->f, hd->n, buf, sizeof(buf));
    if (n > 0)
        out_add(g, buf, (size_t)n);
    else
        out_add(g, CM_H1_CHUNK_LAST, 5);
    gw_run_cb(g);
}

static void gw_end(void *o)
{
    struct dp_proxy__h2gw *g = o;

    if (!g->resp_head || g->resp_done)
        return;
    g->resp_done = true;
    if (g->chunked)
        out_add(g, CM_H1_CHUNK_LAST, 5);
    gw_run_cb(g);
}

static void gw_closed(void *o, uint32_t code)
{
    struct dp_proxy__h2gw *g = o;
    struct dp_proxy__conn *c = g->c;

    dp_proxy__h2x_free(g->x);
    g->x = NULL;
    if (!g->resp_head && code == 7 && !g->x_sent &&
        g->tries < c->x->plan.n_cand) {
        gw_ready(g); /* the connection failed: the next candidate */
    } else if (!g->resp_head) {
        DP_PROXY__INC(c->w, upstream_connect_errors, 1);
        gw_local(g, 502);
    } else if (!g->resp_done) {
        g->failed = true; /* truncated: the client sees the close */
        c->close_after = true;
    }
    gw_run_cb(g);
}

static void gw_room(void *o, size_t n)
{
    gw_run_cb(o); /* more request body may go */
}

static const struct dp_proxy__h2x_ops gw_ops = {
    gw_ready, gw_head, gw_data, gw_trailers, gw_end, gw_closed, gw_room};

/* ==== request ==== */

static int gw_fields(struct dp_proxy__h2gw *g, struct dp_h2_field *f, char *tmp,
                     size_t cap)
{
    struct dp_proxy__conn *c = g->c;
    const struct dp_proxy__plan *pl = &c->x->plan;
    size_t n;
    int k = dp_h2_req_from_h1(&c->x->req, c->in.p, f, GW_FIELDS - 4);

    if (k < 0)
        return k;
    n = (size_t)k;
    if (pl->host.set)
        f[2].value =
            (struct dp_h2_slice){c->x->sb.p + pl->host.off, pl->host.len};
    if (pl->target.set)
        f[3].value =
            (struct dp_h2_slice){c->x->sb.p + pl->target.off, pl->target.len};
    f[n].name = (struct dp_h2_slice){"x-forwarded-for", 15};
    f[n++].value = (struct dp_h2_slice){c->peer, strlen(c->peer)};
    f[n].name = (struct dp_h2_slice){"x-forwarded-proto", 17};
    f[n++].value = c->tls != NULL ? (struct dp_h2_slice){"https", 5}
                                  : (struct dp_h2_slice){"http", 4};
    if (pl->req_add.set && pl->req_add.len <= cap) {
        memcpy(tmp, c->x->sb.p + pl->req_add.off, pl->req_add.len);
        dp_h2_fields_from_lines(tmp, pl->req_add.len, f, GW_FIELDS, &n);
    }
    return (int)n;
}

static void gw_ready(void *o)
{
    struct dp_proxy__h2gw *g = o;
    struct dp_proxy__conn *c = g->c;
    struct dp_h2_field f[GW_FIELDS];
    char tmp[4096];
    int n;
    uint32_t k;

    if (g->x == NULL) { /* (re)open on the next candidate */
        k = g->tries % c->x->plan.n_cand;
        if (dp_proxy__plan_switch_pl(&c->x->plan, k) != 0) {
            DP_PROXY__INC(c->w, overflows, 1);
            gw_local(g, 503);
            return;
        }
        if (g->tries++ > 0)
            DP_PROXY__INC(c->w, retries, 1);
        g->x = dp_proxy__h2x_open(c->w, &c->x->plan.cand[k], &gw_ops, g);
        if (g->x == NULL) {
            gw_local(g, 503);
            return;
        }
        if (!dp_proxy__h2x_ready(g->x))
            return; /* gw_ready again once connected */
    }
    n = gw_fields(g, f, tmp, sizeof(tmp));
    if (n < 0 ||
        dp_proxy__h2x_request(g->x, f, (size_t)n,
                              c->x->req.msg.body == CM_H1_BODY_NONE) != 0) {
        gw_local(g, n == GW_EINVAL ? 400 : 502);
        return;
    }
    g->x_sent = true;
    g->req_end = c->x->req.msg.body == CM_H1_BODY_NONE;
    dp_proxy__h2x_flush(g->x);
}

/* Moves request body bytes from c->in upstream. */
static void gw_pump_req(struct dp_proxy__h2gw *g)
{
    struct dp_proxy__conn *c = g->c;
    size_t avail = c->in.end - c->in.start, n = 0;

    if (g->req_end || !g->x_sent || g->x == NULL || avail == 0 ||
        dp_proxy__h2x_queued(g->x) >= GW_BACKLOG)
        return;
    if (c->x->req.msg.body == CM_H1_BODY_LENGTH) {
        n = avail < (uint64_t)g->req_left ? avail : (size_t)g->req_left;
        dp_proxy__h2x_write(g->x, c->in.p + c->in.start, n);
        g->req_left -= (int64_t)n;
        g->req_end = g->req_left == 0;
    } else {
        while (n < avail && !g->req_end) {
            struct cm_h1_slice d;
            size_t used = 0;
            int r =
                cm_h1_chunked_parse(&g->req_chunked, c->in.p + c->in.start + n,
                                    avail - n, &used, &d);
            n += used;
            if (r < 0) {
                g->failed = true;
                c->close_after = true;
                dp_proxy__h2x_free(g->x);
                g->x = NULL;
                return;
            }
            if (d.len > 0)
                dp_proxy__h2x_write(g->x, d.ptr, d.len);
            if (r == CM_H1_CHUNK_DONE)
                g->req_end = true;
            if (r == CM_H1_CHUNK_NEED)
                break;
        }
    }
    c->in.start += (uint32_t)n;
    c->x->req_done = g->req_end;
    if (g->req_end)
        dp_proxy__h2x_end(g->x, NULL, 0);
    dp_proxy__h2x_flush(g->x);
}

/* ==== client side ==== */

static void gw_written(uv_write_t *wr, int status)
{
    struct dp_proxy__conn *c = wr->data;
    struct dp_proxy__h2gw *g = c->gw;

    c->writing = false;
    if (c->state != DP_PROXY__S_H2GW || g == NULL)
        return;
    free(g->wbuf);
    g->wbuf = NULL;
    if (status < 0) {
        dp_proxy__conn_close(c);
        return;
    }
    dp_proxy__h2x_consume(g->x, g->wr_consume);
    g->wr_consume = 0;
    dp_proxy__conn_run(c);
}

/* Writes what is in out; the buffer moves to wbuf while in flight. */
static int gw_flush_out(struct dp_proxy__h2gw *g)
{
    struct dp_proxy__conn *c = g->c;
    uv_buf_t b;
    int r;

    if (c->writing || g->out_len == 0)
        return 0;
    g->wbuf = (uint8_t *)g->out;
    b = uv_buf_init(g->out, (unsigned)g->out_len);
    g->out = NULL;
    g->out_len = g->out_cap = 0;
    g->wr_consume = g->unconsumed;
    g->unconsumed = 0;
    c->wr.data = c;
    r = c->tls != NULL
            ? dp_proxy__tls_send(c->tls, (uv_stream_t *)&c->tcp, &c->wr, &b, 1,
                                 gw_written)
            : dp_proxy__send((uv_stream_t *)&c->tcp, &c->wr, &b, 1, gw_written);
    if (r < 0)
        return r;
    if (r == 0) {
        c->writing = true;
        return 0;
    }
    free(g->wbuf);
    g->wbuf = NULL;
    dp_proxy__h2x_consume(g->x, g->wr_consume);
    g->wr_consume = 0;
    return 1;
}

static void gw_free(struct dp_proxy__conn *c)
{
    struct dp_proxy__h2gw *g = c->gw;

    if (g == NULL)
        return;
    dp_proxy__h2x_free(g->x);
    free(g->out);
    free(g->wbuf);
    free(g);
    c->gw = NULL;
}

static void gw_timeout(uv_timer_t *t)
{
    struct dp_proxy__conn *c = t->data;
    struct dp_proxy__h2gw *g = c->gw;

    if (c->state != DP_PROXY__S_H2GW || g == NULL || g->resp_head)
        return;
    gw_local(g, 504);
    dp_proxy__conn_run(c);
}

int dp_proxy__h2gw_start(struct dp_proxy__conn *c)
{
    struct dp_proxy__h2gw *g = calloc(1, sizeof(*g));
    const struct dp_proxy_opts *o = dp_proxy__opts(c->w);

    if (g == NULL)
        return GW_ENOMEM;
    g->c = c;
    g->req_left = c->x->req.msg.content_length;
    g->head_only = c->x->req.method == CM_H1_M_HEAD;
    cm_h1_chunked_init(&g->req_chunked, 0, 0);
    c->gw = g;
    c->state = DP_PROXY__S_H2GW;
    c->timer.data = c;
    c->tkind = DP_PROXY__T_NONE;
    uv_timer_start(
        &c->timer, gw_timeout,
        c->x->plan.timeout_ms ? c->x->plan.timeout_ms : o->route_timeout_ms, 0);
    gw_ready(g);
    return 0;
}

/* An upstream event: let the connection's machine move bytes. */
static void gw_run_cb(struct dp_proxy__h2gw *g)
{
    if (g->c->state == DP_PROXY__S_H2GW && g->c->gw == g)
        dp_proxy__conn_run(g->c);
}

int dp_proxy__h2gw_run(struct dp_proxy__conn *c)
{
    struct dp_proxy__h2gw *g = c->gw;
    int r;

    if (c->eof && !g->req_end && c->in.start == c->in.end) {
        dp_proxy__conn_close(c); /* client gone mid-request */
        return 0;
    }
    gw_pump_req(g);
    if ((r = gw_flush_out(g)) < 0) {
        dp_proxy__conn_close(c);
        return 0;
    }
    if (c->writing || !g->resp_done || g->out_len > 0)
        return 0;
    /* the exchange is over */
    uv_timer_stop(&c->timer);
    if (!g->req_end || g->failed)
        c->close_after = true;
    c->x->req_done = true;
    c->x->resp_started = true;
    gw_free(c);
    c->state = DP_PROXY__S_DONE;
    return 1;
}

bool dp_proxy__h2gw_want_read(const struct dp_proxy__conn *c)
{
    const struct dp_proxy__h2gw *g = c->gw;

    return g != NULL && !g->req_end && g->x != NULL &&
           dp_proxy__h2x_queued(g->x) < GW_BACKLOG;
}

void dp_proxy__h2gw_close(struct dp_proxy__conn *c)
{
    gw_free(c);
}
