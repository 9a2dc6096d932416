/*
 * proxy_conn.c -- one client connection: the state machine that reads
 * request heads (keep-alive, pipelining), routes them, streams request and
 * response bodies between the client and an upstream connection with
 * backpressure (one write in flight per direction; the side feeding it does
 * not read meanwhile), relays 1xx, tunnels after 101, and answers errors.
 * One function per state, one dispatching switch (dp_proxy__conn_run).
 * The request in progress lives in an exchange (struct dp_proxy__ex) taken
 * from the worker when its first bytes arrive and given back when the
 * connection is idle again, with the read buffer: an idle keep-alive
 * connection holds only the connection itself. Runs on the worker loop
 * that accepted the connection.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log/log.h"
#include "dataplane/proxy/proxy_int.h"
#include "dataplane/tls/tls.h"

enum { PX_WAIT = 0, PX_NEXT = 1 };

#define PX_IOV_MAX (CM_H1_WRITE_IOV_MAX(DP_PROXY__HDR_MAX) + 8)

static void conn_written(uv_write_t *wr, int status);
static void up_written(uv_write_t *wr, int status);

/* ==== exchanges ==== */

struct dp_proxy__ex *dp_proxy__ex_get(struct dp_proxy__worker *w)
{
    struct dp_proxy__ex *x = w->ex_free;

    if (x != NULL) {
        w->ex_free = x->next;
        w->n_ex_free--;
        x->next = NULL;
        return x;
    }
    if ((x = calloc(1, sizeof(*x))) == NULL)
        return NULL;
    cm_h1_req_init(&x->req, x->hdrs, DP_PROXY__HDR_MAX, NULL);
    return x;
}

void dp_proxy__ex_reset(struct dp_proxy__ex *x)
{
    dp_proxy__plan_release_pl(&x->plan);
    free(x->local);
    cm_h1_req_reset(&x->req);
    x->sb.len = 0;
    /* the plan and everything after it */
    memset(&x->plan, 0, sizeof(*x) - offsetof(struct dp_proxy__ex, plan));
}

void dp_proxy__ex_free(struct dp_proxy__ex *x)
{
    if (x == NULL)
        return;
    dp_proxy__plan_release_pl(&x->plan);
    free(x->local);
    free(x->sb.p);
    free(x);
}

void dp_proxy__ex_put(struct dp_proxy__worker *w, struct dp_proxy__ex *x)
{
    if (w->n_ex_free >= DP_PROXY__EX_FREE || w->stopping) {
        dp_proxy__ex_free(x);
        return;
    }
    x->next = w->ex_free;
    w->ex_free = x;
    w->n_ex_free++;
}

void dp_proxy__ex_free_all(struct dp_proxy__worker *w)
{
    while (w->ex_free != NULL) {
        struct dp_proxy__ex *x = w->ex_free;
        w->ex_free = x->next;
        dp_proxy__ex_free(x);
    }
    w->n_ex_free = 0;
}

/* ==== lifetime ==== */

static void conn_closed(uv_handle_t *h)
{
    struct dp_proxy__conn *c = h->data;

    if (--c->handles > 0)
        return;
    free(c->in.p);
    dp_proxy__ex_free(c->x);
    dp_proxy__h2_free(c->h2);
    dp_tls_conn_free(c->tls);
    free(c);
}

/* Leaves the worker's list and the active count. */
static void conn_unlink(struct dp_proxy__conn *c)
{
    struct dp_proxy__worker *w = c->w;
    struct dp_proxy__up *u = c->up;

    if (c->state == DP_PROXY__S_H2)
        dp_proxy__h2_close(c);
    if (c->state == DP_PROXY__S_H2GW)
        dp_proxy__h2gw_close(c);
    c->state = DP_PROXY__S_CLOSING;
    c->up = NULL;
    if (u != NULL)
        dp_proxy__up_close(u);
    dp_proxy__plan_release(c);
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        w->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    DP_PROXY__INC(w, conns_active, -1);
    uv_close((uv_handle_t *)&c->timer, conn_closed);
}

void dp_proxy__conn_close(struct dp_proxy__conn *c)
{
    if (c->state == DP_PROXY__S_CLOSING)
        return;
    conn_unlink(c);
    uv_close((uv_handle_t *)&c->tcp, conn_closed);
}

static void conn_shut(uv_shutdown_t *req, int status)
{
    struct dp_proxy__conn *c = req->data;

    uv_close((uv_handle_t *)&c->tcp, conn_closed);
}

/* Closes politely once our writes are done: FIN first, then close. */
static void conn_finish(struct dp_proxy__conn *c)
{
    if (c->state == DP_PROXY__S_CLOSING)
        return;
    conn_unlink(c);
    if (c->tls != NULL)
        dp_proxy__tls_close_notify(c);
    c->shut.data = c;
    if (uv_shutdown(&c->shut, (uv_stream_t *)&c->tcp, conn_shut) != 0)
        uv_close((uv_handle_t *)&c->tcp, conn_closed);
}

/* ==== timers ==== */

static void conn_timeout(uv_timer_t *t);

static void timer_set(struct dp_proxy__conn *c, uint8_t kind, uint64_t ms)
{
    c->tkind = kind;
    uv_timer_start(&c->timer, conn_timeout, ms, 0);
}

static void timer_clear(struct dp_proxy__conn *c)
{
    if (c->tkind != DP_PROXY__T_NONE) {
        uv_timer_stop(&c->timer);
        c->tkind = DP_PROXY__T_NONE;
    }
}

/* (Re)arms the response head timeout while it is awaited: at the start of
 * the exchange and after each request body write, so that it counts from
 * the last request progress and a long upload is not cut with a 504. */
static void route_timer(struct dp_proxy__conn *c)
{
    const struct dp_proxy_opts *o = dp_proxy__opts(c->w);
    uint64_t ms =
        c->x->plan.timeout_ms ? c->x->plan.timeout_ms : o->route_timeout_ms;

    if (c->state == DP_PROXY__S_FORWARD && c->x->resp_phase == DP_PROXY__R_HEAD)
        timer_set(c, DP_PROXY__T_ROUTE, ms);
}

/* ==== local responses ==== */

/* Answers <status> here. <close>: the connection state is uncertain. */
static int respond(struct dp_proxy__conn *c, int status, const char *body,
                   size_t blen, const char *location, bool close)
{
    size_t cap = 512 + blen + (location ? strlen(location) : 0);
    bool extra =
        c->x->plan.kind == DP_PROXY__PLAN_LOCAL && c->x->plan.resp_add.len;
    int n;

    if (c->x->resp_started) {
        dp_proxy__conn_close(c);
        return PX_WAIT;
    }
    if (c->up != NULL) {
        dp_proxy__up_close(c->up);
        c->up = NULL;
    }
    timer_clear(c);
    /* An unread request body cannot be skipped safely: close after. */
    if (close || !c->x->req_done || c->eof || c->w->draining)
        c->close_after = true;
    free(c->x->local);
    c->x->local = malloc(cap);
    if (c->x->local == NULL) {
        dp_proxy__conn_close(c);
        return PX_WAIT;
    }
    cap += extra ? c->x->plan.resp_add.len : 0;
    n = dp_proxy_local_response(
        c->x->local, cap, status, location, body, blen, c->close_after,
        c->head_len && c->x->req.method == CM_H1_M_HEAD);
    if (n >= 0 && extra) /* filters' WWW-Authenticate, Retry-After... */
        n = dp_proxy__splice_hdrs(c->x->local, cap, n,
                                  c->x->sb.p + c->x->plan.resp_add.off,
                                  c->x->plan.resp_add.len);
    if (n < 0) {
        dp_proxy__conn_close(c);
        return PX_WAIT;
    }
    c->x->local_len = (uint32_t)n;
    c->x->resp_started = true;
    c->x->plan.resp_status = (uint16_t)status;
    DP_PROXY__INC(c->w, responses[status / 100 % 6], 1);
    c->state = DP_PROXY__S_LOCAL;
    return PX_NEXT;
}

static int respond_error(struct dp_proxy__conn *c, int status, bool close)
{
    char body[64];
    const char *r = dp_proxy_reason(status);
    size_t n = strlen(r);

    memcpy(body, r, n);
    body[n++] = '\n';
    return respond(c, status, body, n, NULL, close);
}

/* ==== sending ==== */

/* Sends <n> bufs to the client; returns 1 when written, 0 when pending
 * (conn_written follows), or closes and returns -1. */
static int send_client(struct dp_proxy__conn *c, uv_buf_t *b, int n)
{
    int r = c->tls != NULL ? dp_proxy__tls_send(c->tls, (uv_stream_t *)&c->tcp,
                                                &c->wr, b, n, conn_written)
                           : dp_proxy__send((uv_stream_t *)&c->tcp, &c->wr, b,
                                            n, conn_written);

    if (r < 0) {
        dp_proxy__conn_close(c);
        return -1;
    }
    c->writing = r == 0;
    return r;
}

/* Same towards the upstream; a failure is recorded in up->werr. */
static int send_up(struct dp_proxy__conn *c, uv_buf_t *b, int n)
{
    struct dp_proxy__up *u = c->up;
    int r = u->tls != NULL ? dp_proxy__tls_send(u->tls, (uv_stream_t *)&u->tcp,
                                                &u->wr, b, n, up_written)
                           : dp_proxy__send((uv_stream_t *)&u->tcp, &u->wr, b,
                                            n, up_written);

    if (r < 0) {
        u->werr = r;
        return -1;
    }
    u->writing = r == 0;
    return r;
}

/* Removes the head's final CRLF from iov[0..n) and appends <add> (header
 * lines) and the CRLF again. Returns the new count. */
static int iov_add_lines(struct iovec *iov, int n, const char *add, size_t alen)
{
    if (alen == 0)
        return n;
    if (iov[n - 1].iov_len > 2)
        iov[n - 1].iov_len -= 2;
    else
        n--;
    iov[n].iov_base = (void *)add;
    iov[n].iov_len = alen;
    iov[n + 1].iov_base = (void *)CM_H1_CRLF;
    iov[n + 1].iov_len = 2;
    return n + 2;
}

static const char *sb_at(struct dp_proxy__conn *c, struct dp_proxy__str s)
{
    return c->x->sb.p + s.off;
}

/* ==== request body ==== */

/* How many bytes at c->in.start belong to the request body (validated);
 * -1 on bad chunked framing. Advances the body accounting. */
static int64_t req_body_take(struct dp_proxy__conn *c)
{
    size_t avail = c->in.end - c->in.start, n = 0;

    if (c->x->req_done || avail == 0)
        return 0;
    if (c->x->req_body == CM_H1_BODY_LENGTH) {
        n = avail < (uint64_t)c->x->req_left ? avail : (size_t)c->x->req_left;
        c->x->req_left -= (int64_t)n;
        c->x->req_done = c->x->req_left == 0;
        return (int64_t)n;
    }
    while (n < avail) {
        struct cm_h1_slice d;
        size_t used = 0;
        int r =
            cm_h1_chunked_parse(&c->x->req_chunked, c->in.p + c->in.start + n,
                                avail - n, &used, &d);
        n += used;
        if (r < 0)
            return -1;
        if (r == CM_H1_CHUNK_DONE) {
            c->x->req_done = true;
            break;
        }
        if (r == CM_H1_CHUNK_NEED)
            break;
    }
    return (int64_t)n;
}

static void req_fwd(struct dp_proxy__conn *c, struct cm_h1_fwd *fwd)
{
    const struct dp_proxy__plan *pl = &c->x->plan;

    memset(fwd, 0, sizeof(*fwd));
    fwd->flags = CM_H1_FWD_XF;
    if (c->x->req_body == CM_H1_BODY_CHUNKED)
        fwd->flags |= CM_H1_FWD_CHUNKED;
    if (c->x->upgrade)
        fwd->flags |= CM_H1_FWD_UPGRADE;
    fwd->client_addr = (struct cm_h1_slice){c->peer, strlen(c->peer)};
    fwd->proto = c->tls != NULL ? (struct cm_h1_slice){"https", 5}
                                : (struct cm_h1_slice){"http", 4};
    if (pl->target.set)
        fwd->target =
            (struct cm_h1_slice){sb_at(c, pl->target), pl->target.len};
    if (pl->host.set)
        fwd->host = (struct cm_h1_slice){sb_at(c, pl->host), pl->host.len};
}

/* Writes the request head (and the body bytes already here). */
static int pump_req_head(struct dp_proxy__conn *c)
{
    struct iovec iov[PX_IOV_MAX];
    struct cm_h1_fwd fwd;
    int64_t nb;
    int n, r;

    req_fwd(c, &fwd);
    n = cm_h1_req_write_iov(&c->x->req, c->in.p, &fwd, iov, PX_IOV_MAX - 4);
    if (n < 0)
        return respond_error(c, 431, true);
    n = iov_add_lines(iov, n, sb_at(c, c->x->plan.req_add),
                      c->x->plan.req_add.len);
    if ((nb = req_body_take(c)) < 0)
        return respond_error(c, 400, true);
    if (nb > 0) {
        iov[n].iov_base = c->in.p + c->in.start;
        iov[n++].iov_len = (size_t)nb;
        c->x->body_started = true;
    }
    c->x->head_sent = true;
    c->x->up_wr_body = (uint32_t)nb;
    r = send_up(c, (uv_buf_t *)iov, n);
    if (r == 1) {
        c->in.start += c->x->up_wr_body;
        c->x->up_wr_body = 0;
    }
    return r == 1 ? PX_NEXT : PX_WAIT;
}

/* Forwards request body bytes; PX_NEXT when it made progress. */
static int pump_req(struct dp_proxy__conn *c)
{
    struct dp_proxy__up *u = c->up;
    int64_t nb;
    uv_buf_t b;

    if (u->writing || u->werr)
        return PX_WAIT;
    if (!c->x->head_sent)
        return pump_req_head(c);
    if (c->x->req_done || c->in.start == c->in.end)
        return PX_WAIT;
    if ((nb = req_body_take(c)) < 0)
        return respond_error(c, 400, true);
    if (nb == 0)
        return PX_WAIT;
    c->x->body_started = true;
    b = uv_buf_init(c->in.p + c->in.start, (unsigned)nb);
    c->x->up_wr_body = (uint32_t)nb;
    if (send_up(c, &b, 1) != 1)
        return PX_WAIT;
    c->in.start += c->x->up_wr_body;
    c->x->up_wr_body = 0;
    route_timer(c);
    return PX_NEXT;
}

/* ==== response ==== */

/* Bytes at up->in.start + <off> that belong to the response body. */
static int64_t resp_body_take(struct dp_proxy__conn *c, size_t off)
{
    struct dp_proxy__up *u = c->up;
    size_t avail = u->in.end - u->in.start - off, n = 0;

    if (c->x->resp_phase != DP_PROXY__R_BODY || avail == 0)
        return 0;
    if (c->x->resp_body == CM_H1_BODY_CLOSE)
        return (int64_t)avail;
    if (c->x->resp_body == CM_H1_BODY_LENGTH) {
        n = avail < (uint64_t)c->x->resp_left ? avail : (size_t)c->x->resp_left;
        c->x->resp_left -= (int64_t)n;
        if (c->x->resp_left == 0)
            c->x->resp_phase = DP_PROXY__R_DONE;
        return (int64_t)n;
    }
    while (n < avail) {
        struct cm_h1_slice d;
        size_t used = 0;
        int r = cm_h1_chunked_parse(&c->x->resp_chunked,
                                    u->in.p + u->in.start + off + n, avail - n,
                                    &used, &d);
        n += used;
        if (r < 0)
            return -1;
        if (r == CM_H1_CHUNK_DONE) {
            c->x->resp_phase = DP_PROXY__R_DONE;
            break;
        }
        if (r == CM_H1_CHUNK_NEED)
            break;
    }
    return (int64_t)n;
}

/* Marks response headers the route removes (as hop-by-hop: not written). */
static void resp_remove(struct dp_proxy__conn *c)
{
    struct dp_proxy__up *u = c->up;
    const char *p = sb_at(c, c->x->plan.resp_rm);
    const char *end = p + c->x->plan.resp_rm.len;

    for (; p < end; p += strlen(p) + 1) {
        int i = 0;
        while ((i = cm_h1_find(&u->resp.msg, u->in.p + u->in.start, p,
                               strlen(p), (uint32_t)i)) >= 0)
            u->hdrs[i++].flags |= CM_H1_HDR_HOP;
    }
}

/* Writes a 1xx, 101 or final head, with the body bytes already here. */
static int resp_head_out(struct dp_proxy__conn *c, int head_len, bool final)
{
    struct dp_proxy__up *u = c->up;
    struct iovec iov[PX_IOV_MAX];
    struct cm_h1_fwd fwd = {0};
    int64_t nb = 0;
    int n;

    if (final) {
        if (c->close_after || c->w->draining)
            fwd.flags |= CM_H1_FWD_CLOSE;
        else if (c->x->req.msg.minor == 0)
            fwd.flags |= CM_H1_FWD_KEEPALIVE;
        if (c->x->resp_body == CM_H1_BODY_CHUNKED)
            fwd.flags |= CM_H1_FWD_CHUNKED;
        resp_remove(c);
    }
    if (u->resp.code == 101)
        fwd.flags = CM_H1_FWD_UPGRADE;
    n = cm_h1_resp_write_iov(&u->resp, u->in.p + u->in.start, &fwd, iov,
                             PX_IOV_MAX - 4);
    if (n < 0)
        return respond_error(c, 502, true);
    if (final)
        n = iov_add_lines(iov, n, sb_at(c, c->x->plan.resp_add),
                          c->x->plan.resp_add.len);
    c->x->resp_started = true;
    if (final && (nb = resp_body_take(c, (size_t)head_len)) < 0) {
        dp_proxy__conn_close(c);
        return PX_WAIT;
    }
    if (nb > 0) {
        iov[n].iov_base = u->in.p + u->in.start + head_len;
        iov[n++].iov_len = (size_t)nb;
    }
    c->x->cl_wr_len = (uint32_t)(head_len + nb);
    n = send_client(c, (uv_buf_t *)iov, n);
    if (n != 1)
        return PX_WAIT;
    u->in.start += c->x->cl_wr_len;
    c->x->cl_wr_len = 0;
    return PX_NEXT;
}

/* Index in the plan of the candidate the current attempt uses. */
static uint32_t cur_cand(const struct dp_proxy__conn *c)
{
    return c->x->tries > 0 ? (uint32_t)(c->x->tries - 1) % c->x->plan.n_cand
                           : 0;
}

/* Upstream failed before a response: retry or 502. */
static int up_failed(struct dp_proxy__conn *c, int status)
{
    struct dp_proxy__up *u = c->up;
    bool reused = u != NULL && u->reused;
    bool clean = !c->x->resp_started && !c->x->body_started &&
                 (u == NULL || !u->got_data);

    reused = reused && c->x->req_body == CM_H1_BODY_NONE;

    DP_PROXY__INC(c->w, upstream_connect_errors, 1);
    if (!(clean && reused)) /* a stale pooled connection is no failure */
        dp_proxy__outlier_report(c, cur_cand(c), false);
    if (u != NULL) {
        c->up = NULL;
        dp_proxy__up_close(u);
    }
    if (clean && reused) {
        /* A pooled connection the upstream had closed: once more, fresh. */
        c->x->no_pool = true;
        c->x->tries--;
    }
    if (clean && (reused || c->x->tries < c->x->plan.n_cand)) {
        uint64_t ms =
            reused ? 0
                   : dp_proxy__jitter(c->w, dp_proxy__retry_backoff(
                                                &c->x->plan, c->x->tries));
        c->x->head_sent = false;
        c->state = DP_PROXY__S_CONNECT;
        if (ms > 0) { /* the retry policy's back-off: the timer goes on */
            c->state = DP_PROXY__S_DELAY;
            timer_set(c, DP_PROXY__T_DELAY, ms);
            return PX_WAIT;
        }
        return PX_NEXT;
    }
    if (c->x->resp_started) {
        dp_proxy__conn_close(c);
        return PX_WAIT;
    }
    return respond_error(c, status == UV_ETIMEDOUT ? 504 : 502, true);
}

static int pump_resp_head(struct dp_proxy__conn *c)
{
    struct dp_proxy__up *u = c->up;
    size_t avail = u->in.end - u->in.start;
    int r, code;

    if (avail == 0)
        return u->eof ? up_failed(c, UV_EOF) : PX_WAIT;
    r = cm_h1_resp_parse(&u->resp, u->in.p + u->in.start, avail);
    if (r == 0) {
        if (u->eof || (u->in.start == 0 && u->in.end == u->in.cap))
            return respond_error(c, 502, true);
        return PX_WAIT;
    }
    if (r < 0)
        return respond_error(c, 502, true);
    code = u->resp.code;
    if (code == 101) {
        if (!c->x->upgrade)
            return respond_error(c, 502, true);
        DP_PROXY__INC(c->w, responses[1], 1);
        timer_clear(c);
        c->state = DP_PROXY__S_TUNNEL;
        return resp_head_out(c, r, false);
    }
    if (code < 200) {
        DP_PROXY__INC(c->w, responses[1], 1);
        if (c->x->req.msg.minor == 0) { /* HTTP/1.0 clients get no 1xx */
            u->in.start += (uint32_t)r;
            cm_h1_resp_reset(&u->resp, (enum cm_h1_method)c->x->req.method);
            return PX_NEXT;
        }
        r = resp_head_out(c, r, false);
        if (c->state == DP_PROXY__S_FORWARD)
            cm_h1_resp_reset(&u->resp, (enum cm_h1_method)c->x->req.method);
        return r;
    }
    timer_clear(c);
    DP_PROXY__INC(c->w, responses[code / 100 % 6], 1);
    c->x->plan.resp_status = (uint16_t)code;
    dp_proxy__outlier_report(c, cur_cand(c), code < 500);
    c->x->resp_body = u->resp.msg.body;
    c->x->resp_left = u->resp.msg.content_length;
    cm_h1_chunked_init(&c->x->resp_chunked, 0, 0);
    c->x->resp_phase = c->x->resp_body == CM_H1_BODY_NONE ? DP_PROXY__R_DONE
                                                          : DP_PROXY__R_BODY;
    if (c->x->resp_body == CM_H1_BODY_CLOSE)
        c->close_after = true;
    return resp_head_out(c, r, true);
}

/* Forwards response bytes; PX_NEXT when it made progress. */
static int pump_resp(struct dp_proxy__conn *c)
{
    struct dp_proxy__up *u = c->up;
    int64_t nb;
    uv_buf_t b;

    if (c->writing)
        return PX_WAIT;
    if (c->x->resp_phase == DP_PROXY__R_HEAD)
        return pump_resp_head(c);
    if (c->x->resp_phase == DP_PROXY__R_DONE)
        return PX_WAIT;
    if (u->in.start == u->in.end) {
        if (!u->eof)
            return PX_WAIT;
        if (c->x->resp_body != CM_H1_BODY_CLOSE) {
            dp_proxy__conn_close(c); /* truncated */
            return PX_WAIT;
        }
        c->x->resp_phase = DP_PROXY__R_DONE;
        return PX_NEXT;
    }
    if ((nb = resp_body_take(c, 0)) < 0) {
        dp_proxy__conn_close(c);
        return PX_WAIT;
    }
    b = uv_buf_init(u->in.p + u->in.start, (unsigned)nb);
    c->x->cl_wr_len = (uint32_t)nb;
    if (send_client(c, &b, 1) != 1)
        return PX_WAIT;
    u->in.start += c->x->cl_wr_len;
    c->x->cl_wr_len = 0;
    return PX_NEXT;
}

/* ==== states ==== */

/* Nothing to read yet: the connection holds neither an exchange nor a
 * read buffer until bytes come (conn_alloc, conn_read). */
static void conn_idle(struct dp_proxy__conn *c)
{
    if (c->x != NULL) {
        dp_proxy__ex_put(c->w, c->x);
        c->x = NULL;
    }
    dp_proxy__in_release(c);
}

void dp_proxy__in_release(struct dp_proxy__conn *c)
{
    if (c->in.p == NULL)
        return;
    if (c->in.cap == DP_PROXY__CBUF_MIN)
        dp_proxy__buf_put(&c->w->cbufs, c->in.p);
    else
        free(c->in.p); /* grown for a large head */
    c->in.p = NULL;
    c->in.start = c->in.end = c->in.cap = 0;
}

/* How long <c> may wait for a request: a handshake timeout while TLS is
 * not established, a shorter last wait while draining. */
static uint64_t idle_ms(const struct dp_proxy__conn *c,
                        const struct dp_proxy_opts *o)
{
    uint64_t ms = c->tls != NULL && !dp_tls_conn_established(c->tls)
                      ? o->head_timeout_ms
                      : o->idle_timeout_ms;

    return c->w->draining && c->w->drain_grace_ms < ms ? c->w->drain_grace_ms
                                                       : ms;
}

static int st_head(struct dp_proxy__conn *c)
{
    const struct dp_proxy_opts *o = dp_proxy__opts(c->w);
    int r;

    if (c->in.end == 0) {
        if (c->eof) {
            dp_proxy__conn_close(c);
            return PX_WAIT;
        }
        if (c->tkind != DP_PROXY__T_IDLE)
            timer_set(c, DP_PROXY__T_IDLE, idle_ms(c, o));
        conn_idle(c);
        return PX_WAIT;
    }
    if (!c->h1_seen && (r = dp_proxy__h2_detect(c)) >= 0) {
        if (r == 0) /* a prefix of the HTTP/2 preface so far */
            return c->eof ? (dp_proxy__conn_close(c), PX_WAIT) : PX_WAIT;
        if (dp_proxy__h2_start(c) != 0) {
            dp_proxy__conn_close(c);
            return PX_WAIT;
        }
        return PX_NEXT;
    }
    if (c->x == NULL && (c->x = dp_proxy__ex_get(c->w)) == NULL) {
        dp_proxy__conn_close(c);
        return PX_WAIT;
    }
    r = cm_h1_req_parse(&c->x->req, c->in.p, c->in.end);
    if (r == 0) {
        if (c->eof) {
            dp_proxy__conn_close(c);
            return PX_WAIT;
        }
        if (c->in.end == DP_PROXY__CBUF_MAX) {
            DP_PROXY__INC(c->w, requests_total, 1);
            return respond_error(c, 431, true);
        }
        if (c->tkind != DP_PROXY__T_HEAD)
            timer_set(c, DP_PROXY__T_HEAD, o->head_timeout_ms);
        return PX_WAIT;
    }
    DP_PROXY__INC(c->w, requests_total, 1);
    timer_clear(c);
    if (r < 0) {
        c->x->req_done = true;
        return respond_error(c, c->x->req.msg.status, true);
    }
    c->head_len = (uint32_t)r;
    c->h1_seen = true;
    c->in.start = (uint32_t)r;
    c->state = DP_PROXY__S_ROUTE;
    return PX_NEXT;
}

static int st_route(struct dp_proxy__conn *c)
{
    const struct cm_h1_msg *m = &c->x->req.msg;

    c->x->req_body = m->body;
    c->x->req_left = m->content_length;
    c->x->req_done = m->body == CM_H1_BODY_NONE;
    cm_h1_chunked_init(&c->x->req_chunked, 0, 0);
    c->x->upgrade = (m->flags & CM_H1_F_UPGRADE) != 0;
    if (!(m->flags & CM_H1_F_KEEPALIVE) || c->w->draining)
        c->close_after = true;
    if (c->x->req.method == CM_H1_M_CONNECT)
        return respond_error(c, 405, true);
    if (dp_proxy__route(c) != 0)
        return respond_error(c, 500, true);
    if (c->x->plan.kind == DP_PROXY__PLAN_LOCAL) {
        const char *loc =
            c->x->plan.location.set ? sb_at(c, c->x->plan.location) : NULL;
        if (!c->x->plan.body.set)
            return respond_error(c, c->x->plan.status, false);
        return respond(c, c->x->plan.status, sb_at(c, c->x->plan.body),
                       c->x->plan.body.len, loc, false);
    }
    if (c->x->plan.n_cand == 0)
        return respond_error(c, 503, false);
    c->state = DP_PROXY__S_CONNECT;
    if (c->x->plan.delay_ms > 0) { /* rateLimit: Traefik waits, then goes */
        c->state = DP_PROXY__S_DELAY;
        timer_set(c, DP_PROXY__T_DELAY, c->x->plan.delay_ms);
        return PX_WAIT;
    }
    return PX_NEXT;
}

static int st_local(struct dp_proxy__conn *c)
{
    uv_buf_t b;
    int r;

    if (c->writing)
        return PX_WAIT;
    if (c->x->local == NULL) {
        c->state = DP_PROXY__S_DONE;
        return PX_NEXT;
    }
    b = uv_buf_init(c->x->local, c->x->local_len);
    if ((r = send_client(c, &b, 1)) != 1)
        return PX_WAIT;
    free(c->x->local);
    c->x->local = NULL;
    c->state = DP_PROXY__S_DONE;
    return PX_NEXT;
}

static void forward_begin(struct dp_proxy__conn *c)
{
    cm_h1_resp_reset(&c->up->resp, (enum cm_h1_method)c->x->req.method);
    c->up->c = c;
    c->x->resp_phase = DP_PROXY__R_HEAD;
    c->state = DP_PROXY__S_FORWARD;
    route_timer(c);
}

static int st_connect(struct dp_proxy__conn *c)
{
    struct dp_proxy__worker *w = c->w;
    const struct sockaddr_storage *addr;
    struct dp_proxy__up *u = NULL;

    if (c->up != NULL)
        return PX_WAIT;     /* connecting */
    if (c->x->plan.http2) { /* an h2c upstream: proxy_h2gw.c */
        if (dp_proxy__h2gw_start(c) != 0)
            return respond_error(c, 502, true);
        return PX_NEXT;
    }
    if (dp_proxy__plan_switch(c, c->x->tries % c->x->plan.n_cand) != 0) {
        DP_PROXY__INC(w, overflows, 1);
        return respond_error(c, 503, true);
    }
    addr = &c->x->plan.cand[c->x->tries % c->x->plan.n_cand];
    if (c->x->tries++ > 0)
        DP_PROXY__INC(w, retries, 1);
    if (!c->x->no_pool && (u = dp_proxy__pool_take(w, addr)) != NULL &&
        (u->tls != NULL) != (c->x->plan.up_tls != NULL)) {
        dp_proxy__up_close(u); /* the scheme changed: not this one */
        u = NULL;
    }
    if (u != NULL) {
        DP_PROXY__INC(w, upstream_reused, 1);
        c->up = u;
        forward_begin(c);
        return PX_NEXT;
    }
    c->x->no_pool = false;
    c->up = dp_proxy__up_connect(w, c, addr);
    if (c->up == NULL)
        return up_failed(c, UV_ECONNREFUSED);
    return PX_WAIT;
}

void dp_proxy__conn_up_connected(struct dp_proxy__conn *c, int status)
{
    forward_begin(c);
    dp_proxy__conn_run(c);
}

void dp_proxy__conn_up_failed(struct dp_proxy__conn *c, int status)
{
    c->up = NULL; /* already closed */
    if (up_failed(c, status) == PX_NEXT)
        dp_proxy__conn_run(c);
}

/* The exchange is complete when both directions are. */
static int forward_end(struct dp_proxy__conn *c)
{
    struct dp_proxy__up *u = c->up;
    bool keep;

    if (c->x->resp_phase != DP_PROXY__R_DONE || c->writing || u->writing)
        return PX_WAIT;
    if (!c->x->req_done)
        c->close_after = true; /* answered before the body was read */
    keep = c->x->req_done && (u->resp.msg.flags & CM_H1_F_KEEPALIVE) &&
           c->x->resp_body != CM_H1_BODY_CLOSE && !u->eof && !u->werr;
    c->up = NULL;
    dp_proxy__up_release(u, keep);
    timer_clear(c);
    c->state = DP_PROXY__S_DONE;
    return PX_NEXT;
}

static int st_forward(struct dp_proxy__conn *c)
{
    int a, b;

    if (c->up->werr)
        return up_failed(c, c->up->werr);
    if (c->eof && !c->x->req_done && c->in.start == c->in.end) {
        dp_proxy__conn_close(c); /* client gone mid-request */
        return PX_WAIT;
    }
    a = pump_req(c);
    if (c->state != DP_PROXY__S_FORWARD)
        return PX_NEXT;
    b = pump_resp(c);
    if (c->state != DP_PROXY__S_FORWARD)
        return c->state == DP_PROXY__S_CLOSING ? PX_WAIT : PX_NEXT;
    if (a == PX_NEXT || b == PX_NEXT)
        return PX_NEXT;
    return forward_end(c);
}

static int st_tunnel(struct dp_proxy__conn *c)
{
    struct dp_proxy__up *u = c->up;
    int progress = PX_WAIT;
    uv_buf_t b;

    if (u->werr || (u->eof && u->in.start == u->in.end && !c->writing) ||
        (c->eof && c->in.start == c->in.end && !u->writing)) {
        dp_proxy__conn_close(c);
        return PX_WAIT;
    }
    if (!u->writing && c->in.start < c->in.end) {
        b = uv_buf_init(c->in.p + c->in.start, c->in.end - c->in.start);
        c->x->up_wr_body = b.len;
        if (send_up(c, &b, 1) == 1) {
            c->in.start = c->in.end;
            c->x->up_wr_body = 0;
            progress = PX_NEXT;
        }
    }
    if (!c->writing && u->in.start < u->in.end) {
        b = uv_buf_init(u->in.p + u->in.start, u->in.end - u->in.start);
        c->x->cl_wr_len = b.len;
        if (send_client(c, &b, 1) == 1) {
            u->in.start = u->in.end;
            c->x->cl_wr_len = 0;
            progress = PX_NEXT;
        }
    }
    return c->state == DP_PROXY__S_TUNNEL ? progress : PX_WAIT;
}

/* Prepares for the next request on the connection, or closes it. */
static int st_done(struct dp_proxy__conn *c)
{
    uint32_t rest = c->in.end - c->in.start;

    if (c->close_after || c->w->draining || (c->eof && rest == 0)) {
        conn_finish(c);
        return PX_WAIT;
    }
    if (c->head_len == 0)
        rest = 0; /* nothing was parsed: nothing to keep */
    memmove(c->in.p, c->in.p + c->in.start, rest);
    c->in.start = 0;
    c->in.end = rest;
    c->head_len = 0;
    if (c->x != NULL)
        dp_proxy__ex_reset(c->x); /* reused by a pipelined request */
    c->state = DP_PROXY__S_HEAD;
    return PX_NEXT;
}

/* ==== reading from the client ==== */

/* Gives <c> a read buffer if it has none (released while idle). */
static int in_attach(struct dp_proxy__conn *c)
{
    if (c->in.p != NULL)
        return 0;
    if ((c->in.p = dp_proxy__buf_get(&c->w->cbufs)) == NULL)
        return GW_ENOMEM;
    c->in.cap = DP_PROXY__CBUF_MIN;
    c->in.start = c->in.end = 0;
    return 0;
}

static void conn_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    struct dp_proxy__conn *c = h->data;
    struct dp_proxy__buf *in = &c->in;
    uint32_t keep = c->head_len;

    /* Ciphertext (decrypted into c->in), or the first bytes after an
     * idle time: into the worker's buffer, consumed by conn_read. */
    if (c->tls != NULL || in->p == NULL) {
        char *p = c->w->rbuf;
        *b = uv_buf_init(p, p == NULL ? 0
                            : c->tls  ? DP_PROXY__TLS_IN
                                      : DP_PROXY__CBUF_MIN);
        return;
    }
    if (in->start == in->end && in->start > keep) {
        in->start = in->end = keep;
    } else if (in->end == in->cap && in->start > keep) {
        memmove(in->p + keep, in->p + in->start, in->end - in->start);
        in->end -= in->start - keep;
        in->start = keep;
    }
    if (in->end == in->cap && in->cap < DP_PROXY__CBUF_MAX) {
        char *p = realloc(in->p, in->cap * 2);
        if (p != NULL) {
            in->p = p;
            in->cap *= 2;
        }
    }
    *b = uv_buf_init(in->p + in->end, in->cap - in->end);
}

static void conn_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    struct dp_proxy__conn *c = s->data;

    if (n == 0 || c->state == DP_PROXY__S_CLOSING)
        return;
    if (n < 0) {
        c->eof = true;
        if (n != UV_EOF) {
            dp_proxy__conn_close(c);
            return;
        }
    } else if (c->tls != NULL) {
        if (in_attach(c) != 0 ||
            dp_proxy__tls_input(c, b->base, (size_t)n) < 0) {
            dp_proxy__conn_close(c);
            return;
        }
    } else if (c->in.p == NULL) { /* read into the worker's buffer */
        if (in_attach(c) != 0) {
            dp_proxy__conn_close(c);
            return;
        }
        memcpy(c->in.p, b->base, (size_t)n);
        c->in.end = (uint32_t)n;
    } else {
        c->in.end += (uint32_t)n;
    }
    dp_proxy__conn_run(c);
}

static bool in_has_room(const struct dp_proxy__conn *c)
{
    return c->in.end < c->in.cap || c->in.cap < DP_PROXY__CBUF_MAX ||
           c->in.start > c->head_len;
}

/* Reads from each side only when its bytes have somewhere to go. */
static void conn_update_reading(struct dp_proxy__conn *c)
{
    struct dp_proxy__up *u = c->up;
    bool want = false;

    switch (c->state) {
    case DP_PROXY__S_HEAD:
        want = true;
        break;
    case DP_PROXY__S_FORWARD:
        want = !c->x->req_done && !u->writing;
        break;
    case DP_PROXY__S_TUNNEL:
        want = !u->writing;
        break;
    case DP_PROXY__S_H2:
        want = dp_proxy__h2_want_read(c);
        break;
    case DP_PROXY__S_H2GW:
        want = dp_proxy__h2gw_want_read(c);
        break;
    }
    want = want && !c->eof && in_has_room(c);
    if (want != c->reading) {
        if (want)
            uv_read_start((uv_stream_t *)&c->tcp, conn_alloc, conn_read);
        else
            uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = want;
    }
    if (u != NULL && u->state == DP_PROXY__U_ACTIVE) {
        bool uw = !c->writing && (u->in.start > 0 || u->in.end < u->in.cap) &&
                  (c->state == DP_PROXY__S_TUNNEL ||
                   (c->state == DP_PROXY__S_FORWARD &&
                    c->x->resp_phase != DP_PROXY__R_DONE));
        dp_proxy__up_reading(u, uw);
    }
}

/* ==== the machine ==== */

void dp_proxy__conn_run(struct dp_proxy__conn *c)
{
    int r = PX_NEXT;

again:
    while (r == PX_NEXT) {
        switch (c->state) {
        case DP_PROXY__S_HEAD:
            r = st_head(c);
            break;
        case DP_PROXY__S_ROUTE:
            r = st_route(c);
            break;
        case DP_PROXY__S_LOCAL:
            r = st_local(c);
            break;
        case DP_PROXY__S_CONNECT:
            r = st_connect(c);
            break;
        case DP_PROXY__S_FORWARD:
            r = st_forward(c);
            break;
        case DP_PROXY__S_TUNNEL:
            r = st_tunnel(c);
            break;
        case DP_PROXY__S_DONE:
            r = st_done(c);
            break;
        case DP_PROXY__S_H2:
            dp_proxy__h2_run(c);
            r = PX_WAIT;
            break;
        case DP_PROXY__S_H2GW:
            r = dp_proxy__h2gw_run(c) ? PX_NEXT : PX_WAIT;
            break;
        case DP_PROXY__S_DELAY:
            r = PX_WAIT; /* the timer moves on to S_CONNECT */
            break;
        default:
            return;
        }
    }
    if (c->state != DP_PROXY__S_CLOSING)
        conn_update_reading(c);
    /* TLS: records already read may hold bytes that now have room */
    if (c->state != DP_PROXY__S_CLOSING && c->up != NULL &&
        c->up->tls != NULL && c->up->reading &&
        dp_tls_conn_has_input(c->up->tls)) {
        int p = dp_proxy__tls_up_pull(c->up);
        if (p != 0) {
            if (p < 0)
                c->up->eof = true;
            r = PX_NEXT;
            goto again;
        }
    }
    if (c->tls != NULL && c->state != DP_PROXY__S_CLOSING && c->reading &&
        dp_tls_conn_has_input(c->tls)) {
        int p = in_attach(c) == 0 ? dp_proxy__tls_pull(c) : GW_ENOMEM;
        if (p < 0) {
            dp_proxy__conn_close(c);
            return;
        }
        if (p > 0) {
            r = PX_NEXT;
            goto again;
        }
    }
}

/* ==== write completions ==== */

static void conn_written(uv_write_t *wr, int status)
{
    struct dp_proxy__conn *c = wr->data;

    c->writing = false;
    if (c->state == DP_PROXY__S_CLOSING)
        return;
    if (status < 0) {
        dp_proxy__conn_close(c);
        return;
    }
    if (c->state == DP_PROXY__S_LOCAL) {
        free(c->x->local);
        c->x->local = NULL;
        c->state = DP_PROXY__S_DONE;
    } else if (c->up != NULL) {
        c->up->in.start += c->x->cl_wr_len;
        c->x->cl_wr_len = 0;
    }
    dp_proxy__conn_run(c);
}

static void up_written(uv_write_t *wr, int status)
{
    struct dp_proxy__up *u = wr->data;
    struct dp_proxy__conn *c = u->c;

    u->writing = false;
    if (u->state != DP_PROXY__U_ACTIVE || c == NULL)
        return;
    if (status < 0) {
        u->werr = status;
    } else {
        c->in.start += c->x->up_wr_body;
        c->x->up_wr_body = 0;
        route_timer(c);
    }
    dp_proxy__conn_run(c);
}

static void conn_timeout(uv_timer_t *t)
{
    struct dp_proxy__conn *c = t->data;
    uint8_t kind = c->tkind;

    c->tkind = DP_PROXY__T_NONE;
    if (kind == DP_PROXY__T_IDLE || c->x == NULL) {
        dp_proxy__conn_close(c);
        return;
    }
    if (kind == DP_PROXY__T_HEAD) {
        c->x->req_done = true;
        if (respond_error(c, 408, true) == PX_NEXT)
            dp_proxy__conn_run(c);
        return;
    }
    if (kind == DP_PROXY__T_DELAY) {
        c->state = DP_PROXY__S_CONNECT;
        dp_proxy__conn_run(c);
        return;
    }
    if (kind == DP_PROXY__T_ROUTE) {
        dp_proxy__outlier_report(c, cur_cand(c), false);
        if (respond_error(c, 504, true) == PX_NEXT)
            dp_proxy__conn_run(c);
    }
}

/* ==== accepting and draining ==== */

static void peer_ip(struct dp_proxy__conn *c)
{
    struct sockaddr_storage ss;
    int sl = sizeof(ss);

    c->peer[0] = '\0';
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &sl) != 0)
        return;
    c->peer_sa = ss;
    if (ss.ss_family == AF_INET)
        uv_ip4_name((struct sockaddr_in *)&ss, c->peer, sizeof(c->peer));
    else if (ss.ss_family == AF_INET6)
        uv_ip6_name((struct sockaddr_in6 *)&ss, c->peer, sizeof(c->peer));
}

/* A new connection of <lsn>'s, linked and counted; its socket not open. */
static struct dp_proxy__conn *conn_new(struct dp_proxy__lsn *lsn)
{
    struct dp_proxy__worker *w = lsn->w;
    struct dp_proxy__conn *c = calloc(1, sizeof(*c));

    if (c == NULL)
        return NULL;
    c->w = w;
    uv_tcp_init(&w->w.loop, &c->tcp);
    uv_timer_init(&w->w.loop, &c->timer);
    c->tcp.data = c->timer.data = c->wr.data = c;
    c->handles = 2;
    c->next = w->conns;
    if (w->conns != NULL)
        w->conns->prev = c;
    w->conns = c;
    DP_PROXY__INC(w, conns_total, 1);
    DP_PROXY__INC(w, conns_active, 1);
    snprintf(c->lsn, sizeof(c->lsn), "%s", lsn->name);
    return c;
}

/* <c>'s socket is open: TLS, options, then the first read. */
static void conn_start(struct dp_proxy__conn *c)
{
    if (dp_proxy__conn_tls(c) != 0) {
        dp_proxy__conn_close(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    peer_ip(c);
    dp_proxy__conn_run(c);
}

void dp_proxy__accept(struct dp_proxy__lsn *lsn)
{
    struct dp_proxy__conn *c = conn_new(lsn);

    if (c == NULL)
        return;
    if (uv_accept((uv_stream_t *)&lsn->tcp, (uv_stream_t *)&c->tcp) != 0) {
        dp_proxy__conn_close(c);
        return;
    }
    conn_start(c);
}

void dp_proxy__accept_fd(struct dp_proxy__lsn *lsn, int fd)
{
    struct dp_proxy__conn *c = conn_new(lsn);

    if (c == NULL) {
        close(fd);
        return;
    }
    if (uv_tcp_open(&c->tcp, fd) != 0) {
        close(fd);
        dp_proxy__conn_close(c);
        return;
    }
    conn_start(c);
}

void dp_proxy__conn_drain(struct dp_proxy__conn *c)
{
    if (c->state == DP_PROXY__S_CLOSING)
        return;
    if (c->state == DP_PROXY__S_H2) {
        dp_proxy__h2_drain(c);
        return;
    }
    c->close_after = true;
    if (c->state == DP_PROXY__S_HEAD && c->in.end == 0 &&
        (c->tkind != DP_PROXY__T_IDLE ||
         uv_timer_get_due_in(&c->timer) > c->w->drain_grace_ms))
        timer_set(c, DP_PROXY__T_IDLE, c->w->drain_grace_ms);
}
