/*
 * proxy_h2.c -- HTTP/2 client connections: a struct dp_proxy__conn whose
 * first bytes were the HTTP/2 preface (or whose TLS handshake chose "h2")
 * switches to state DP_PROXY__S_H2 and hands its bytes to a server session
 * (dataplane/h2). Each stream is routed on its own by dp_proxy__route_req
 * (routing, filters, balancing shared with HTTP/1) and forwarded to an
 * HTTP/1.1 upstream (the keep-alive pools of proxy_up.c) or an HTTP/2 one
 * (proxy_h2up.c), bodies streamed both ways with the windows as
 * backpressure, trailers passed through, gRPC-aware local answers and
 * deadlines. Streams are routed after each read, so a stream reset in the
 * same read costs nothing upstream. Runs on the connection's worker.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log/log.h"
#include "dataplane/h2/h2.h"
#include "dataplane/proxy/proxy_int.h"

#define H2_BACKLOG       (64 * 1024) /* response bytes queued per stream */
#define H2_FIELDS        (DP_PROXY__HDR_MAX + 16)
#define H2_HEAD_MAX      (64 * 1024)
#define H2_CODE_CANCEL   8
#define H2_CODE_INTERNAL 2
#define H2_CODE_REFUSED  7
#define H2_SPARE         8 /* closed streams kept for reuse per connection */

/* Stream states. */
enum {
    HS_NEW = 0, /* head received: route after the read */
    HS_DELAY,   /* rateLimit delay */
    HS_CONNECT, /* picking/connecting an upstream */
    HS_WAIT_UP, /* an HTTP/1 upstream connection is being made */
    HS_FORWARD, /* exchange in progress */
    HS_DONE,    /* response complete or answered here */
};

struct dp_proxy__h2 {
    struct dp_proxy__conn *c; /* NULL once the connection closed */
    struct dp_h2_session *s;
    struct h2st *streams;
    uint32_t n;
    bool goaway;    /* drain: GOAWAY sent */
    bool lingering; /* session over: FIN sent, input discarded a while */
    bool later;     /* a flush is due at the end of this loop iteration */
    /* Closed streams wait in <dead> until flush_cb (nothing in this loop
     * iteration still points at them), then up to H2_SPARE of them are
     * kept in <spare> for the next streams (no malloc, no timer init and
     * close per stream); an idle connection keeps none. */
    struct h2st *dead, *spare;
    uint32_t n_spare;
    /* Frames queued by the events of one loop iteration (responses from
     * many upstreams, timers) leave in one write, after the poll phase.
     * Frees <h> when closed (dp_proxy__h2_free). */
    uv_check_t flush;
};

/* One client stream. Freed when its timer handle has closed; recycled
 * (everything after the timer zeroed) while its connection is busy. */
struct h2st {
    uv_timer_t timer;       /* first: kept when recycled; deadline, delay */
    struct dp_proxy__h2 *h; /* NULL once closed */
    struct h2st *prev, *next;
    int32_t sid;
    uint8_t state;
    bool req_end;   /* client END_STREAM */
    bool grpc;      /* content-type application/grpc* */
    bool resp_head; /* our response head went */
    bool resp_end;  /* our response is complete */
    const struct dp_h2_head *head, *trl;
    struct dp_proxy__plan plan;
    struct dp_proxy__sb sb;
    char *drops; /* "name\0..." request fields the route drops */
    size_t drops_len;
    struct dp_proxy__buf rin; /* request body not yet forwarded */
    uint8_t tries;
    uint64_t deadline_ms; /* grpc-timeout */
    /* HTTP/1.1 upstream */
    struct dp_proxy__up *up;
    char *h1head;
    uint32_t h1head_len;
    bool head_sent, up_chunked, last_sent, up_writing;
    bool body_sent; /* some request body went to the current upstream */
    bool no_pool;   /* next attempt: a fresh connection */
    uint32_t up_wr; /* rin bytes in the upstream write */
    char cline[CM_H1_CHUNK_LINE_MAX];
    uint8_t resp_phase, resp_body;
    int64_t resp_left;
    struct cm_h1_chunked resp_chunked;
    /* HTTP/2 upstream */
    struct dp_proxy__h2x *x;
    bool x_sent; /* request head submitted upstream */
};

static void st_run(struct h2st *st);
static void h2_check(struct dp_proxy__h2 *h);
static void h2_later(struct dp_proxy__h2 *h);

/* ==== transport ==== */

static void h2_written(uv_write_t *wr, int status)
{
    struct dp_proxy__conn *c = wr->data;

    c->writing = false;
    if (c->state != DP_PROXY__S_H2)
        return;
    dp_h2_sent(c->h2->s);
    if (status < 0) {
        dp_proxy__conn_close(c);
        return;
    }
    dp_proxy__conn_run(c); /* flushes, reads again */
}

/* The one place HTTP/2 bytes leave for the client (TLS hooks here). */
int dp_proxy__h2_tx(struct dp_proxy__conn *c, const uint8_t *p, size_t n)
{
    uv_buf_t b = uv_buf_init((char *)p, (unsigned)n);
    int r;

    c->wr.data = c;
    if (c->tls != NULL)
        r = dp_proxy__tls_send(c->tls, (uv_stream_t *)&c->tcp, &c->wr, &b, 1,
                               h2_written);
    else
        r = dp_proxy__send((uv_stream_t *)&c->tcp, &c->wr, &b, 1, h2_written);
    c->writing = r == 0;
    return r;
}

static int io_send(void *arg, const uint8_t *p, size_t n)
{
    struct dp_proxy__conn *c = arg;

    if (c->state != DP_PROXY__S_H2)
        return 1;
    return dp_proxy__h2_tx(c, p, n);
}

/* ==== stream lifetime ==== */

/* Frees what a closed stream's fields own. */
static void st_clear(struct h2st *st)
{
    free(st->sb.p);
    free(st->drops);
    free(st->rin.p);
    free(st->h1head);
}

static void st_freed(uv_handle_t *hd)
{
    struct h2st *st = hd->data;

    st_clear(st);
    free(st);
}

/* Closes the timers of the streams in list <st> (linked by next): each is
 * freed when its timer closed. */
static void st_free_list(struct h2st *st)
{
    struct h2st *next;

    for (; st != NULL; st = next) {
        next = st->next;
        uv_close((uv_handle_t *)&st->timer, st_freed);
    }
}

/* A stream for <h>: a spare one reset, or a new one (timer initialised);
 * NULL when out of memory. */
static struct h2st *st_take(struct dp_proxy__h2 *h)
{
    struct h2st *st = h->spare;

    if (st != NULL) {
        h->spare = st->next;
        h->n_spare--;
        st_clear(st);
        memset((char *)st + offsetof(struct h2st, h), 0,
               sizeof(*st) - offsetof(struct h2st, h));
        return st;
    }
    if ((st = calloc(1, sizeof(*st))) == NULL)
        return NULL;
    uv_timer_init(&h->c->w->w.loop, &st->timer);
    st->timer.data = st;
    return st;
}

/* Moves the streams closed in this loop iteration to the spares (up to
 * H2_SPARE, the others are freed). */
static void st_recycle(struct dp_proxy__h2 *h)
{
    while (h->dead != NULL) {
        struct h2st *st = h->dead;
        h->dead = st->next;
        st->next = NULL;
        if (h->n_spare >= H2_SPARE) {
            st_free_list(st);
            continue;
        }
        st->next = h->spare;
        h->spare = st;
        h->n_spare++;
    }
}

/* Drops the upstream side: an HTTP/1 connection goes back to its pool
 * only after a complete exchange. */
static void st_detach(struct h2st *st)
{
    if (st->up != NULL) {
        struct dp_proxy__up *u = st->up;
        bool keep = st->resp_phase == DP_PROXY__R_DONE && st->last_sent &&
                    !st->up_writing && (u->resp.msg.flags & CM_H1_F_KEEPALIVE);
        st->up = NULL;
        u->ev = NULL;
        u->owner = NULL;
        dp_proxy__up_release(u, keep);
    }
    if (st->x != NULL) {
        dp_proxy__h2x_free(st->x);
        st->x = NULL;
    }
}

/* The client stream is gone: free everything once the timer closed. */
static void st_free(struct h2st *st)
{
    struct dp_proxy__h2 *h = st->h;

    st_detach(st);
    dp_proxy__plan_release_pl(&st->plan);
    if (h != NULL) {
        if (st->prev != NULL)
            st->prev->next = st->next;
        else
            h->streams = st->next;
        if (st->next != NULL)
            st->next->prev = st->prev;
        h->n--;
        dp_h2_set_user(h->s, st->sid, NULL);
    }
    st->h = NULL;
    if (h == NULL) {
        uv_close((uv_handle_t *)&st->timer, st_freed);
        return;
    }
    uv_timer_stop(&st->timer);
    st->prev = NULL;
    st->next = h->dead;
    h->dead = st;
    h2_later(h); /* flush_cb recycles it */
}

/* ==== answers ==== */

static int grpc_status_of(int http)
{
    switch (http) {
    case 400:
        return 13; /* INTERNAL */
    case 401:
        return 16; /* UNAUTHENTICATED */
    case 403:
        return 7; /* PERMISSION_DENIED */
    case 404:
        return 12; /* UNIMPLEMENTED */
    case 429:
        return 14;
    case 502:
    case 503:
        return 14; /* UNAVAILABLE */
    case 504:
        return 4; /* DEADLINE_EXCEEDED */
    }
    return 2; /* UNKNOWN */
}

#define FLD(n, v, vl)                                                          \
    (struct dp_h2_field)                                                       \
    {                                                                          \
        {n, sizeof(n) - 1},                                                    \
        {                                                                      \
            v, vl                                                              \
        }                                                                      \
    }

/* Adds the plan's response lines (Set-Cookie, auth challenges) to <f>. */
static size_t add_resp_lines(struct h2st *st, char *tmp, size_t cap,
                             struct dp_h2_field *f, size_t n, size_t max)
{
    const struct dp_proxy__str *a = &st->plan.resp_add;

    if (!a->set || a->len == 0 || a->len > cap)
        return n;
    memcpy(tmp, st->sb.p + a->off, a->len);
    if (dp_h2_fields_from_lines(tmp, a->len, f, max, &n) != 0)
        return n;
    return n;
}

/* Ends the stream with an answer made here: <status> and <body>, or for
 * gRPC a trailers-only response. After a response head: trailers
 * (gRPC) or a reset. */
static void st_answer(struct h2st *st, int status, const char *body,
                      size_t blen, const char *location)
{
    struct dp_proxy__h2 *h = st->h;
    struct dp_h2_field f[16];
    char code[8], gs[8], len[24], tmp[2048];
    const char *reason = dp_proxy_reason(status);
    size_t n = 0;

    st_detach(st);
    st->state = HS_DONE;
    uv_timer_stop(&st->timer);
    if (st->resp_end)
        return;
    st->resp_end = true;
    DP_PROXY__INC(h->c->w, responses[status / 100 % 6], 1);
    st->plan.resp_status = (uint16_t)status;
    snprintf(gs, sizeof(gs), "%d", grpc_status_of(status));
    if (st->resp_head) {
        if (st->grpc) {
            f[0] = FLD("grpc-status", gs, strlen(gs));
            f[1] = FLD("grpc-message", reason, strlen(reason));
            if (dp_h2_end(h->s, st->sid, f, 2) == 0)
                return;
        }
        dp_h2_reset(h->s, st->sid, H2_CODE_INTERNAL);
        return;
    }
    st->resp_head = true;
    if (st->grpc) {
        f[n++] = FLD(":status", "200", 3);
        f[n++] = FLD("content-type", "application/grpc", 16);
        f[n++] = FLD("grpc-status", gs, strlen(gs));
        f[n++] = FLD("grpc-message", reason, strlen(reason));
        dp_h2_respond(h->s, st->sid, f, n, true);
        return;
    }
    snprintf(code, sizeof(code), "%03d", status % 1000);
    snprintf(len, sizeof(len), "%zu", blen);
    f[n++] = FLD(":status", code, 3);
    f[n++] = FLD("content-type", "text/plain; charset=utf-8", 25);
    f[n++] = FLD("content-length", len, strlen(len));
    if (location != NULL)
        f[n++] = FLD("location", location, strlen(location));
    n = add_resp_lines(st, tmp, sizeof(tmp), f, n, 16);
    bool head_only =
        st->head->method.len == 4 && memcmp(st->head->method.p, "HEAD", 4) == 0;
    if (blen == 0 || head_only) {
        dp_h2_respond(h->s, st->sid, f, n, true);
        return;
    }
    dp_h2_respond(h->s, st->sid, f, n, false);
    dp_h2_write(h->s, st->sid, body, blen);
    dp_h2_end(h->s, st->sid, NULL, 0);
}

static void st_error(struct h2st *st, int status)
{
    char body[64];
    int n = snprintf(body, sizeof(body), "%s\n", dp_proxy_reason(status));

    st_answer(st, status, body, (size_t)n, NULL);
}

/* ==== routing ==== */

static int rq_get_header(void *arg, const char *name, size_t len,
                         struct dp_router_slice *v)
{
    struct h2st *st = arg;
    const struct dp_h2_field *f;

    if (len == 4 && cm_h1_name_eq(name, 4, "host", 4) &&
        st->head->authority.p != NULL) {
        v->ptr = st->head->authority.p;
        v->len = st->head->authority.len;
        return 1;
    }
    if ((f = dp_h2_find(st->head, name, len)) == NULL)
        return 0;
    v->ptr = f->value.p;
    v->len = f->value.len;
    return 1;
}

static void rq_drop(void *arg, const char *name, size_t len)
{
    struct h2st *st = arg;
    char *p = realloc(st->drops, st->drops_len + len + 1);

    if (p == NULL)
        return;
    memcpy(p + st->drops_len, name, len);
    p[st->drops_len + len] = '\0';
    st->drops = p;
    st->drops_len += len + 1;
}

static bool dropped(void *arg, const char *name, size_t len)
{
    struct h2st *st = arg;

    for (size_t i = 0; i < st->drops_len; i += strlen(st->drops + i) + 1) {
        if (cm_h1_name_eq(st->drops + i, strlen(st->drops + i), name, len))
            return true;
    }
    return false;
}

static void rq_fill(struct h2st *st, struct dp_router_req *rq)
{
    const struct dp_h2_head *hd = st->head;
    const char *q = memchr(hd->path.p, '?', hd->path.len);
    size_t plen = q != NULL ? (size_t)(q - hd->path.p) : hd->path.len;
    struct dp_router_slice host = {hd->authority.p, hd->authority.len};
    const struct dp_h2_field *hf;

    if (host.ptr == NULL && (hf = dp_h2_find(hd, "host", 4)) != NULL)
        host = (struct dp_router_slice){hf->value.p, hf->value.len};
    if (host.ptr == NULL)
        host = (struct dp_router_slice){"", 0};
    memset(rq, 0, sizeof(*rq));
    rq->host = host;
    rq->path = (struct dp_router_slice){hd->path.p, plen};
    rq->query = q != NULL
                    ? (struct dp_router_slice){q + 1, hd->path.len - plen - 1}
                    : (struct dp_router_slice){"", 0};
    rq->method = (struct dp_router_slice){hd->method.p, hd->method.len};
    rq->scheme = st->h->c->tls != NULL ? (struct dp_router_slice){"https", 5}
                                       : (struct dp_router_slice){"http", 4};
    rq->get_header = rq_get_header;
    rq->get_header_arg = st;
    rq->scratch = st->h->c->w->scratch;
}

static void timer_cb(uv_timer_t *t);

static void st_route(struct h2st *st)
{
    struct dp_proxy__conn *c = st->h->c;
    struct dp_proxy__rreq r = {
        .w = c->w,
        .lsn = c->lsn,
        .drop = rq_drop,
        .plan = &st->plan,
        .sb = &st->sb,
        .peer = (const struct sockaddr *)&c->peer_sa,
        .tls = c->tls != NULL,
    };
    const struct dp_h2_field *to;
    uint64_t ms;

    DP_PROXY__INC(c->w, requests_total, 1);
    if (st->head->method.p == NULL || st->head->path.p == NULL ||
        (st->head->method.len == 7 &&
         memcmp(st->head->method.p, "CONNECT", 7) == 0)) {
        st_error(st, 405);
        return;
    }
    rq_fill(st, &r.rq);
    if (dp_proxy__route_req(&r) != 0) {
        st_error(st, 500);
        return;
    }
    if (st->plan.kind == DP_PROXY__PLAN_LOCAL) {
        const char *b = st->plan.body.set ? st->sb.p + st->plan.body.off : NULL;
        const char *loc =
            st->plan.location.set ? st->sb.p + st->plan.location.off : NULL;
        if (b == NULL)
            st_error(st, st->plan.status);
        else
            st_answer(st, st->plan.status, b, st->plan.body.len, loc);
        return;
    }
    if (st->plan.n_cand == 0) {
        st_error(st, 503);
        return;
    }
    ms = st->plan.timeout_ms ? st->plan.timeout_ms
                             : dp_proxy__opts(c->w)->route_timeout_ms;
    to = dp_h2_find(st->head, "grpc-timeout", 12);
    if (to != NULL && dp_h2_grpc_timeout_ms(to->value.p, to->value.len,
                                            &st->deadline_ms) == 0) {
        ms = st->deadline_ms ? st->deadline_ms : 1;
    }
    if (st->plan.delay_ms > 0) {
        st->state = HS_DELAY;
        uv_timer_start(&st->timer, timer_cb, st->plan.delay_ms, 0);
        st->deadline_ms = ms; /* reused as the wait once the delay ends */
        return;
    }
    uv_timer_start(&st->timer, timer_cb, ms, 0);
    st->state = HS_CONNECT;
}

static void timer_cb(uv_timer_t *t)
{
    struct h2st *st = t->data;

    if (st->h == NULL)
        return;
    if (st->state == HS_DELAY) {
        st->state = HS_CONNECT;
        uv_timer_start(&st->timer, timer_cb, st->deadline_ms, 0);
    } else {
        st_error(st, 504);
    }
    st_run(st);
    if (st->h != NULL)
        h2_later(st->h);
}

/* Tries <st> again on its next candidate: after the retry policy's
 * back-off (as HTTP/1 exchanges do), unless <now> (a stale pooled
 * connection) or the back-off would outlast the stream's deadline; the
 * deadline keeps running meanwhile. */
static void st_retry(struct h2st *st, bool now)
{
    uint64_t ms =
        now ? 0
            : dp_proxy__jitter(st->h->c->w,
                               dp_proxy__retry_backoff(&st->plan, st->tries));
    uint64_t left = uv_is_active((uv_handle_t *)&st->timer)
                        ? uv_timer_get_due_in(&st->timer)
                        : 0;

    st->state = HS_CONNECT;
    if (ms == 0 || ms >= left)
        return;
    st->state = HS_DELAY;
    st->deadline_ms = left - ms; /* what timer_cb arms once the wait ends */
    uv_timer_start(&st->timer, timer_cb, ms, 0);
}

/* ==== request body ==== */

static void rin_consumed(struct h2st *st, size_t n)
{
    st->rin.start += (uint32_t)n;
    if (st->rin.start == st->rin.end)
        st->rin.start = st->rin.end = 0;
    dp_h2_consume(st->h->s, st->sid, n);
}

/* ==== HTTP/1.1 upstream ==== */

static void h1_ev(void *owner, int what, int status);

static int h1_build_head(struct h2st *st)
{
    struct dp_proxy__conn *c = st->h->c;
    const struct dp_proxy__plan *pl = &st->plan;
    struct dp_h2_h1req o = {
        .client = {c->peer, strlen(c->peer)},
        .proto = c->tls != NULL ? (struct dp_h2_slice){"https", 5}
                                : (struct dp_h2_slice){"http", 4},
        .drop = dropped,
        .drop_arg = st,
    };
    int n;

    if (pl->target.set)
        o.target =
            (struct dp_h2_slice){st->sb.p + pl->target.off, pl->target.len};
    if (pl->host.set)
        o.host = (struct dp_h2_slice){st->sb.p + pl->host.off, pl->host.len};
    if (pl->req_add.set)
        o.extra =
            (struct dp_h2_slice){st->sb.p + pl->req_add.off, pl->req_add.len};
    st->up_chunked = st->head->content_length < 0 &&
                     !(st->req_end && st->rin.end == st->rin.start);
    o.chunked = st->up_chunked;
    /* most heads fit 1 KiB (malloc's fast path); larger: written again */
    for (size_t cap = 1024; cap <= H2_HEAD_MAX; cap *= 4) {
        char *p = realloc(st->h1head, cap);
        if (p == NULL)
            return GW_ENOMEM;
        st->h1head = p;
        if ((n = dp_h2_req_to_h1(st->head, &o, p, cap)) != GW_ETOOBIG)
            break;
    }
    if (n < 0)
        return n;
    st->h1head_len = (uint32_t)n;
    st->last_sent = !st->up_chunked;
    return 0;
}

static void h1_written(uv_write_t *wr, int status)
{
    struct dp_proxy__up *u = wr->data;
    struct h2st *st = u->owner;

    u->writing = false;
    if (st == NULL || u->ev == NULL)
        return;
    st->up_writing = false;
    if (status < 0) {
        u->werr = status;
    } else if (st->up_wr > 0) {
        rin_consumed(st, st->up_wr);
        st->up_wr = 0;
    }
    st_run(st);
    if (st->h != NULL)
        h2_later(st->h);
}

/* Sends the head (once) and what body is here; PX-style: true on progress. */
static bool h1_pump_req(struct h2st *st)
{
    struct dp_proxy__up *u = st->up;
    uv_buf_t b[5];
    int n = 0, r;
    size_t avail = st->rin.end - st->rin.start;

    if (st->up_writing || u->werr)
        return false;
    if (st->head_sent && avail == 0 && (st->last_sent || !st->req_end))
        return false;
    if (!st->head_sent)
        b[n++] = uv_buf_init(st->h1head, st->h1head_len);
    st->up_wr = (uint32_t)avail;
    st->body_sent = st->body_sent || avail > 0;
    if (avail > 0 && st->up_chunked) {
        size_t k = cm_h1_chunk_size_line(st->cline, avail);
        b[n++] = uv_buf_init(st->cline, (unsigned)k);
    }
    if (avail > 0)
        b[n++] = uv_buf_init(st->rin.p + st->rin.start, (unsigned)avail);
    if (avail > 0 && st->up_chunked)
        b[n++] = uv_buf_init((char *)CM_H1_CRLF, 2);
    if (st->req_end && st->up_chunked && !st->last_sent) {
        b[n++] = uv_buf_init((char *)CM_H1_CHUNK_LAST, 5);
        st->last_sent = true;
    }
    st->head_sent = true;
    u->wr.data = u;
    if (u->tls != NULL)
        r = dp_proxy__tls_send(u->tls, (uv_stream_t *)&u->tcp, &u->wr, b, n,
                               h1_written);
    else
        r = dp_proxy__send((uv_stream_t *)&u->tcp, &u->wr, b, n, h1_written);
    if (r < 0) {
        u->werr = r;
        return false;
    }
    if (r == 0) {
        st->up_writing = u->writing = true;
        return false;
    }
    if (st->up_wr > 0)
        rin_consumed(st, st->up_wr);
    st->up_wr = 0;
    return true;
}

/* Drops response fields the route removes. */
static size_t resp_filter(struct h2st *st, struct dp_h2_field *f, size_t n)
{
    const struct dp_proxy__str *rm = &st->plan.resp_rm;
    size_t k = 0;

    for (size_t i = 0; i < n; i++) {
        bool drop = false;
        for (uint32_t o = 0; rm->set && o < rm->len && !drop;) {
            const char *name = st->sb.p + rm->off + o;
            drop = i > 0 && cm_h1_name_eq(name, strlen(name), f[i].name.p,
                                          f[i].name.len);
            o += (uint32_t)strlen(name) + 1;
        }
        if (!drop)
            f[k++] = f[i];
    }
    return k;
}

static int h1_resp_head(struct h2st *st)
{
    struct dp_proxy__up *u = st->up;
    struct dp_h2_field f[H2_FIELDS];
    char status[4], tmp[4096];
    int r = cm_h1_resp_parse(&u->resp, u->in.p + u->in.start,
                             u->in.end - u->in.start);
    int n;

    if (r == 0)
        return u->eof ? -1 : 0;
    if (r < 0)
        return -1;
    if (u->resp.code < 200) { /* 1xx: not relayed */
        u->in.start += (uint32_t)r;
        cm_h1_resp_reset(&u->resp, CM_H1_M_OTHER);
        return 1;
    }
    n = dp_h2_resp_from_h1(&u->resp, u->in.p + u->in.start, status, f,
                           H2_FIELDS);
    if (n < 0)
        return -1;
    n = (int)resp_filter(st, f, (size_t)n);
    n = (int)add_resp_lines(st, tmp, sizeof(tmp), f, (size_t)n, H2_FIELDS);
    DP_PROXY__INC(st->h->c->w, responses[u->resp.code / 100 % 6], 1);
    st->plan.resp_status = u->resp.code;
    st->resp_body = u->resp.msg.body;
    st->resp_left = u->resp.msg.content_length;
    cm_h1_chunked_init(&st->resp_chunked, 0, 0);
    st->resp_phase =
        st->resp_body == CM_H1_BODY_NONE ? DP_PROXY__R_DONE : DP_PROXY__R_BODY;
    st->resp_head = true;
    if (!st->grpc)
        uv_timer_stop(&st->timer);
    dp_h2_respond(st->h->s, st->sid, f, (size_t)n,
                  st->resp_phase == DP_PROXY__R_DONE);
    u->in.start += (uint32_t)r;
    if (st->resp_phase == DP_PROXY__R_DONE)
        st->resp_end = true;
    return 1;
}

/* Moves decoded response body bytes to the client stream. */
static int h1_resp_body(struct h2st *st)
{
    struct dp_proxy__up *u = st->up;
    struct dp_proxy__h2 *h = st->h;
    size_t avail = u->in.end - u->in.start;

    if (avail == 0) {
        if (!u->eof)
            return 0;
        if (st->resp_body != CM_H1_BODY_CLOSE)
            return -1;
        st->resp_phase = DP_PROXY__R_DONE;
    } else if (st->resp_body == CM_H1_BODY_CHUNKED) {
        size_t off = 0;
        while (off < avail) {
            struct cm_h1_slice d;
            size_t used = 0;
            int r = cm_h1_chunked_parse(&st->resp_chunked,
                                        u->in.p + u->in.start + off,
                                        avail - off, &used, &d);
            off += used;
            if (r < 0)
                return -1;
            if (d.len > 0)
                dp_h2_write(h->s, st->sid, d.ptr, d.len);
            if (r == CM_H1_CHUNK_DONE) {
                st->resp_phase = DP_PROXY__R_DONE;
                break;
            }
            if (r == CM_H1_CHUNK_NEED)
                break;
        }
        u->in.start += (uint32_t)off;
    } else {
        size_t n = avail;
        if (st->resp_body == CM_H1_BODY_LENGTH && (uint64_t)st->resp_left < n)
            n = (size_t)st->resp_left;
        dp_h2_write(h->s, st->sid, u->in.p + u->in.start, n);
        u->in.start += (uint32_t)n;
        if (st->resp_body == CM_H1_BODY_LENGTH &&
            (st->resp_left -= (int64_t)n) == 0)
            st->resp_phase = DP_PROXY__R_DONE;
    }
    if (st->resp_phase == DP_PROXY__R_DONE) {
        dp_h2_end(h->s, st->sid, NULL, 0);
        st->resp_end = true;
    }
    return 1;
}

/* An HTTP/1 attempt failed before any response: the next candidate (or
 * a fresh connection after a stale pooled one) if no body byte went,
 * else 502. */
static void h1_failed(struct h2st *st, int status)
{
    struct dp_proxy__up *u = st->up;
    bool clean = !st->resp_head && !st->body_sent;
    bool stale = clean && u != NULL && u->reused && !u->got_data;

    if (u != NULL) {
        st->up = NULL;
        u->ev = NULL;
        u->owner = NULL;
        dp_proxy__up_close(u);
    }
    if (!stale)
        DP_PROXY__INC(st->h->c->w, upstream_connect_errors, 1);
    if (stale) {
        st->tries--;
        st->no_pool = true;
    }
    if (clean && (stale || st->tries < st->plan.n_cand)) {
        st->head_sent = false;
        st->last_sent = !st->up_chunked;
        st_retry(st, stale);
        return;
    }
    st_error(st, status == UV_ETIMEDOUT ? 504 : 502);
}

static void h1_forward(struct h2st *st)
{
    struct dp_proxy__up *u = st->up;
    bool progress = true;

    while (progress && st->state == HS_FORWARD && st->up == u) {
        int r = 0;
        progress = h1_pump_req(st);
        if (u->werr) {
            h1_failed(st, u->werr);
            return;
        }
        if (st->resp_phase == DP_PROXY__R_HEAD)
            r = h1_resp_head(st);
        else if (st->resp_phase == DP_PROXY__R_BODY &&
                 dp_h2_queued(st->h->s, st->sid) < H2_BACKLOG)
            r = h1_resp_body(st);
        if (r < 0) {
            if (!st->resp_head)
                h1_failed(st, UV_EOF);
            else
                st_error(st, 502);
            return;
        }
        progress = progress || r > 0;
        if (st->resp_phase == DP_PROXY__R_DONE && st->last_sent &&
            !st->up_writing) {
            st->state = HS_DONE;
            uv_timer_stop(&st->timer);
            st_detach(st);
            return;
        }
    }
    if (st->up == u && st->state == HS_FORWARD)
        dp_proxy__up_reading(u,
                             st->resp_phase != DP_PROXY__R_DONE &&
                                 dp_h2_queued(st->h->s, st->sid) < H2_BACKLOG &&
                                 (u->in.start > 0 || u->in.end < u->in.cap));
}

static void h1_begin(struct h2st *st)
{
    st->up->ev = h1_ev;
    st->up->owner = st;
    cm_h1_resp_reset(&st->up->resp, CM_H1_M_OTHER);
    if (st->head->method.len == 4 && memcmp(st->head->method.p, "HEAD", 4) == 0)
        cm_h1_resp_reset(&st->up->resp, CM_H1_M_HEAD);
    st->up->c = NULL;
    st->resp_phase = DP_PROXY__R_HEAD;
    st->state = HS_FORWARD;
}

static void h1_ev(void *owner, int what, int status)
{
    struct h2st *st = owner;
    struct dp_proxy__h2 *h = st->h;

    if (h == NULL)
        return;
    if (what == DP_PROXY__UEV_FAILED) {
        st->up = NULL; /* already closed */
        h1_failed(st, status);
    } else if (what == DP_PROXY__UEV_CONNECTED) {
        h1_begin(st);
    }
    st_run(st);
    if (st->h != NULL)
        h2_later(h);
}

static void h1_connect(struct h2st *st)
{
    struct dp_proxy__worker *w = st->h->c->w;
    uint32_t k = st->tries % st->plan.n_cand;
    const struct sockaddr_storage *addr = &st->plan.cand[k];

    if (dp_proxy__plan_switch_pl(&st->plan, k) != 0) {
        DP_PROXY__INC(w, overflows, 1);
        st_error(st, 503);
        return;
    }
    if (st->tries++ > 0)
        DP_PROXY__INC(w, retries, 1);
    if (st->h1head == NULL && h1_build_head(st) != 0) {
        st_error(st, 431);
        return;
    }
    st->body_sent = false;
    if (!st->no_pool && (st->up = dp_proxy__pool_take(w, addr)) != NULL) {
        DP_PROXY__INC(w, upstream_reused, 1);
        h1_begin(st);
        return;
    }
    st->no_pool = false;
    st->up = dp_proxy__up_connect(w, NULL, addr);
    if (st->up == NULL) {
        st_error(st, 502);
        return;
    }
    if (st->plan.up_tls != NULL && /* https: handshake before CONNECTED */
        dp_proxy__tls_up_start(st->up, st->plan.up_tls) != 0) {
        dp_proxy__up_close(st->up);
        st->up = NULL;
        st_error(st, 502);
        return;
    }
    st->up->ev = h1_ev;
    st->up->owner = st;
    st->state = HS_WAIT_UP;
}

/* ==== HTTP/2 upstream ==== */

static void x_ready(void *o);
static void x_head(void *o, const struct dp_h2_head *hd);
static void x_data(void *o, const uint8_t *p, size_t n);
static void x_trailers(void *o, const struct dp_h2_head *hd);
static void x_end(void *o);
static void x_closed(void *o, uint32_t code);
static void x_room(void *o, size_t n);

static const struct dp_proxy__h2x_ops x_ops = {
    x_ready, x_head, x_data, x_trailers, x_end, x_closed, x_room};

/* Request fields for the upstream: pseudo ones from the plan, then the
 * client's fields but dropped ones, then the route's lines. */
static int x_fields(struct h2st *st, struct dp_h2_field *f, size_t max,
                    char *tmp, size_t cap)
{
    const struct dp_proxy__plan *pl = &st->plan;
    const struct dp_h2_head *hd = st->head;
    size_t n = 0;

    f[n++] = FLD(":method", hd->method.p, hd->method.len);
    f[n++] = FLD(":scheme", "http", 4);
    if (pl->host.set)
        f[n++] = FLD(":authority", st->sb.p + pl->host.off, pl->host.len);
    else
        f[n++] = FLD(":authority", hd->authority.p ? hd->authority.p : "",
                     hd->authority.len);
    if (pl->target.set)
        f[n++] = FLD(":path", st->sb.p + pl->target.off, pl->target.len);
    else
        f[n++] = FLD(":path", hd->path.p, hd->path.len);
    for (size_t i = 0; i < hd->n && n < max; i++) {
        if (!dropped(st, hd->f[i].name.p, hd->f[i].name.len))
            f[n++] = hd->f[i];
    }
    if (pl->req_add.set && pl->req_add.len <= cap) {
        memcpy(tmp, st->sb.p + pl->req_add.off, pl->req_add.len);
        dp_h2_fields_from_lines(tmp, pl->req_add.len, f, max, &n);
    }
    return (int)n;
}

/* Moves request body (and its end) to the upstream stream. */
static void x_pump_req(struct h2st *st)
{
    size_t avail = st->rin.end - st->rin.start;

    if (st->x == NULL || !st->x_sent)
        return;
    if (avail > 0 &&
        dp_proxy__h2x_write(st->x, st->rin.p + st->rin.start, avail) == 0) {
        /* consumed from the client once the upstream took it (x_room) */
        st->rin.start = st->rin.end = 0;
    }
    if (st->req_end && !st->last_sent) {
        const struct dp_h2_field *tf = st->trl ? st->trl->f : NULL;
        dp_proxy__h2x_end(st->x, tf, st->trl ? st->trl->n : 0);
        st->last_sent = true;
    }
    dp_proxy__h2x_flush(st->x);
}

static void x_ready(void *o)
{
    struct h2st *st = o;
    struct dp_h2_field f[H2_FIELDS];
    char tmp[4096];
    int n = x_fields(st, f, H2_FIELDS, tmp, sizeof(tmp));
    bool end = st->req_end && st->rin.end == st->rin.start && st->trl == NULL;

    if (dp_proxy__h2x_request(st->x, f, (size_t)n, end) != 0) {
        st_error(st, 502);
        return;
    }
    st->x_sent = true;
    st->last_sent = end;
    x_pump_req(st);
}

static void x_head(void *o, const struct dp_h2_head *hd)
{
    struct h2st *st = o;
    struct dp_h2_field f[H2_FIELDS];
    char status[4], tmp[4096];
    size_t n = 0;

    if (st->h == NULL || st->resp_head)
        return;
    snprintf(status, sizeof(status), "%03u", (unsigned)hd->status % 1000u);
    f[n++] = FLD(":status", status, 3);
    for (size_t i = 0; i < hd->n && n < H2_FIELDS; i++)
        f[n++] = hd->f[i];
    n = resp_filter(st, f, n);
    n = add_resp_lines(st, tmp, sizeof(tmp), f, n, H2_FIELDS);
    DP_PROXY__INC(st->h->c->w, responses[hd->status / 100 % 6], 1);
    st->plan.resp_status = (uint16_t)hd->status;
    st->resp_head = true;
    if (!st->grpc)
        uv_timer_stop(&st->timer);
    st->resp_end = hd->end_stream; /* trailers-only (a gRPC error) */
    dp_h2_respond(st->h->s, st->sid, f, n, hd->end_stream);
    h2_later(st->h);
}

static void x_data(void *o, const uint8_t *p, size_t n)
{
    struct h2st *st = o;

    if (st->h == NULL || !st->resp_head || st->resp_end) {
        dp_proxy__h2x_consume(st->x, n);
        return;
    }
    dp_h2_write(st->h->s, st->sid, p, n); /* consumed upstream on x_room */
    h2_later(st->h);
}

static void x_trailers(void *o, const struct dp_h2_head *hd)
{
    struct h2st *st = o;

    if (st->h == NULL || !st->resp_head || st->resp_end)
        return;
    st->resp_end = true;
    dp_h2_end(st->h->s, st->sid, hd->f, hd->n);
    h2_later(st->h);
}

static void x_end(void *o)
{
    struct h2st *st = o;

    if (st->h == NULL || !st->resp_head || st->resp_end)
        return;
    st->resp_end = true;
    dp_h2_end(st->h->s, st->sid, NULL, 0);
    h2_later(st->h);
}

static void x_closed(void *o, uint32_t code)
{
    struct h2st *st = o;
    struct dp_proxy__h2 *h = st->h;

    if (h == NULL)
        return;
    if (st->resp_end) {
        st->state = HS_DONE;
        uv_timer_stop(&st->timer);
    } else if (!st->resp_head && code == H2_CODE_REFUSED &&
               st->tries < st->plan.n_cand && !st->x_sent) {
        st_detach(st); /* connection failed before the request: next */
        st_retry(st, false);
        st_run(st);
    } else {
        st_error(st, st->resp_head || code != H2_CODE_REFUSED ? 502 : 503);
    }
    h2_later(h);
}

static void x_room(void *o, size_t n)
{
    struct h2st *st = o;

    if (st->h != NULL) {
        dp_h2_consume(st->h->s, st->sid, n); /* request bytes went up */
        h2_later(st->h);
    }
}

static void x_connect(struct h2st *st)
{
    struct dp_proxy__worker *w = st->h->c->w;
    uint32_t k = st->tries % st->plan.n_cand;

    if (dp_proxy__plan_switch_pl(&st->plan, k) != 0) {
        DP_PROXY__INC(w, overflows, 1);
        st_error(st, 503);
        return;
    }
    if (st->tries++ > 0)
        DP_PROXY__INC(w, retries, 1);
    st->x_sent = false;
    st->last_sent = false;
    st->x = dp_proxy__h2x_open(w, &st->plan.cand[k], &x_ops, st);
    if (st->x == NULL) {
        st_error(st, 503);
        return;
    }
    st->state = HS_FORWARD;
    if (dp_proxy__h2x_ready(st->x))
        x_ready(st);
}

/* ==== the stream machine ==== */

static void st_run(struct h2st *st)
{
    if (st->h == NULL)
        return;
    switch (st->state) {
    case HS_NEW:
        st_route(st);
        if (st->state == HS_CONNECT)
            st_run(st);
        break;
    case HS_CONNECT:
        if (st->plan.http2)
            x_connect(st);
        else
            h1_connect(st);
        if (st->state == HS_FORWARD && st->up != NULL)
            h1_forward(st);
        break;
    case HS_FORWARD:
        if (st->up != NULL)
            h1_forward(st);
        else if (st->x != NULL)
            x_pump_req(st);
        break;
    }
}

/* ==== session events ==== */

static int on_headers(void *arg, int32_t sid, void *user,
                      const struct dp_h2_head *hd)
{
    struct dp_proxy__h2 *h = arg;
    struct h2st *st = user;
    const struct dp_h2_field *ct;

    if (st != NULL) {
        if (hd->kind == DP_H2_TRAILERS)
            st->trl = hd;
        return 0;
    }
    if (h->goaway || (st = st_take(h)) == NULL)
        return -1;
    st->h = h;
    st->sid = sid;
    st->head = hd;
    st->plan.active_ep = -1;
    ct = dp_h2_find(hd, "content-type", 12);
    st->grpc = ct != NULL && ct->value.len >= 16 &&
               memcmp(ct->value.p, "application/grpc", 16) == 0;
    st->next = h->streams;
    if (h->streams != NULL)
        h->streams->prev = st;
    h->streams = st;
    h->n++;
    dp_h2_set_user(h->s, sid, st);
    return 0;
}

static void on_data(void *arg, void *user, const uint8_t *p, size_t n)
{
    struct h2st *st = user;
    struct dp_proxy__buf *b = &st->rin;

    if (b->end + n > b->cap) {
        uint32_t live = b->end - b->start, cap = b->cap ? b->cap : 16384;
        char *q;
        if (live > 0)
            memmove(b->p, b->p + b->start, live);
        b->start = 0;
        b->end = live;
        while (cap < live + n)
            cap *= 2;
        if (cap != b->cap) {
            if ((q = realloc(b->p, cap)) == NULL)
                return;
            b->p = q;
            b->cap = cap;
        }
    }
    memcpy(b->p + b->end, p, n);
    b->end += (uint32_t)n;
}

static void on_end(void *arg, void *user)
{
    ((struct h2st *)user)->req_end = true;
}

static void on_close(void *arg, void *user, uint32_t code)
{
    st_free(user);
}

static void on_room(void *arg, void *user, size_t n)
{
    struct h2st *st = user;

    if (st->x != NULL)
        dp_proxy__h2x_consume(st->x, n); /* response bytes reached us */
    else if (st->up != NULL && st->state == HS_FORWARD)
        h1_forward(st); /* room again: more of the upstream's body */
}

static const struct dp_h2_cbs cbs = {on_headers, on_data, on_end, on_close,
                                     on_room};

/* ==== connection ==== */

static void idle_cb(uv_timer_t *t)
{
    struct dp_proxy__conn *c = t->data;

    if (c->state == DP_PROXY__S_H2 && c->h2->n == 0)
        dp_proxy__conn_close(c);
}

static void linger_cb(uv_timer_t *t)
{
    dp_proxy__conn_close(t->data);
}

static void linger_shut(uv_shutdown_t *req, int status)
{
}

/* The session is over (GOAWAY sent): FIN, then read and discard for a
 * moment before closing, so that the GOAWAY is not lost to a TCP reset
 * while the peer is still sending (a flood). */
static void h2_linger_log(struct dp_proxy__h2 *h)
{
    struct dp_h2_stats s;

    dp_h2_stats(h->s, &s);
    if (s.flooded)
        cm_log_warn("proxy", "h2_flood",
                    "peer=%s streams=%llu early_resets=%llu", h->c->peer,
                    (unsigned long long)s.streams,
                    (unsigned long long)s.premature_resets);
}

static void h2_linger(struct dp_proxy__h2 *h)
{
    struct dp_proxy__conn *c = h->c;

    h->lingering = true;
    h2_linger_log(h);
    c->shut.data = c;
    if (c->tls != NULL ||
        uv_shutdown(&c->shut, (uv_stream_t *)&c->tcp, linger_shut) != 0) {
        dp_proxy__conn_close(c);
        return;
    }
    uv_timer_start(&c->timer, linger_cb, 1000, 0);
}

static void flush_cb(uv_check_t *t)
{
    struct dp_proxy__h2 *h = t->data;

    uv_check_stop(&h->flush);
    h->later = false;
    st_recycle(h);
    if (h->c == NULL || h->c->state != DP_PROXY__S_H2)
        return;
    dp_h2_flush(h->s);
    /* nghttp2 consumes what it is fed: an idle session holds no read
     * buffer (the next read takes one from the worker again) */
    if (h->n == 0 && h->c->in.start == h->c->in.end)
        dp_proxy__in_release(h->c);
    h2_check(h);
}

/* Flushes <h> once, after the poll phase of this loop iteration. */
static void h2_later(struct dp_proxy__h2 *h)
{
    if (h->later || h->c == NULL)
        return;
    h->later = true;
    uv_check_start(&h->flush, flush_cb);
}

/* Closes the connection when its session is over; idle timer otherwise. */
static void h2_check(struct dp_proxy__h2 *h)
{
    struct dp_proxy__conn *c = h->c;

    if (c->state != DP_PROXY__S_H2 || h->lingering || h->later)
        return; /* flush_cb comes back here */
    if (dp_h2_done(h->s) || (h->goaway && h->n == 0 && !c->writing)) {
        if (c->writing)
            return; /* h2_written comes back here */
        h2_linger(h);
        return;
    }
    if (h->n == 0 && h->spare != NULL) { /* idle: keep no stream */
        st_free_list(h->spare);
        h->spare = NULL;
        h->n_spare = 0;
    }
    if (h->n == 0 && !uv_is_active((uv_handle_t *)&c->timer))
        uv_timer_start(&c->timer, idle_cb,
                       dp_proxy__opts(c->w)->idle_timeout_ms, 0);
    else if (h->n > 0)
        uv_timer_stop(&c->timer);
}

int dp_proxy__h2_start(struct dp_proxy__conn *c)
{
    struct dp_proxy__h2 *h = calloc(1, sizeof(*h));
    struct dp_h2_io io = {io_send, c};

    if (h == NULL ||
        (h->s = dp_h2_session_new(DP_H2_SERVER, NULL, &io, &cbs, h)) == NULL) {
        free(h);
        return GW_ENOMEM;
    }
    h->c = c;
    c->h2 = h;
    uv_check_init(&c->w->w.loop, &h->flush);
    h->flush.data = h;
    uv_timer_stop(&c->timer);
    c->tkind = DP_PROXY__T_NONE;
    c->timer.data = c;
    c->state = DP_PROXY__S_H2;
    return 0;
}

int dp_proxy__h2_detect(const struct dp_proxy__conn *c)
{
    size_t n = c->in.end < DP_H2_PREFACE_LEN ? c->in.end : DP_H2_PREFACE_LEN;

    if (memcmp(c->in.p, DP_H2_PREFACE, n) != 0)
        return -1;
    return n == DP_H2_PREFACE_LEN ? 1 : 0;
}

void dp_proxy__h2_run(struct dp_proxy__conn *c)
{
    struct dp_proxy__h2 *h = c->h2;
    struct h2st *st, *next;
    int r = 0;

    if (h->lingering) {
        c->in.start = c->in.end = 0; /* discarded */
        if (c->eof)
            dp_proxy__conn_close(c);
        return;
    }
    if (c->in.end > c->in.start)
        r = dp_h2_feed(h->s, (const uint8_t *)c->in.p + c->in.start,
                       c->in.end - c->in.start);
    c->in.start = c->in.end = 0;
    if (h->n == 0)
        dp_proxy__in_release(c);
    if (c->eof) {
        dp_proxy__conn_close(c);
        return;
    }
    if (r != 0) { /* a protocol error or a flood: GOAWAY went if it could */
        dp_h2_flush(h->s);
        if (c->writing) { /* the peer does not read: no point waiting */
            h2_linger_log(h);
            dp_proxy__conn_close(c);
            return;
        }
        h2_check(h);
        return;
    }
    /* Route and pump after the read: streams reset meanwhile are gone. */
    for (st = h->streams; st != NULL; st = next) {
        next = st->next;
        if (st->state == HS_NEW || st->state == HS_FORWARD)
            st_run(st);
    }
    h2_later(h);
}

bool dp_proxy__h2_want_read(const struct dp_proxy__conn *c)
{
    return !c->eof; /* frames are bounded by nghttp2: keep reading */
}

void dp_proxy__h2_drain(struct dp_proxy__conn *c)
{
    struct dp_proxy__h2 *h = c->h2;

    if (h->goaway)
        return;
    h->goaway = true;
    dp_h2_goaway(h->s, true);
    h2_later(h);
}

void dp_proxy__h2_close(struct dp_proxy__conn *c)
{
    struct dp_proxy__h2 *h = c->h2;

    if (h == NULL)
        return;
    while (h->streams != NULL)
        st_free(h->streams);
}

static void h2_freed(uv_handle_t *hd)
{
    free(hd->data);
}

void dp_proxy__h2_free(struct dp_proxy__h2 *h)
{
    if (h == NULL)
        return;
    dp_h2_session_free(h->s);
    h->s = NULL;
    h->c = NULL;
    st_free_list(h->dead);
    st_free_list(h->spare);
    h->dead = h->spare = NULL;
    uv_close((uv_handle_t *)&h->flush, h2_freed);
}
