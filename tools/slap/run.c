/*
 * run.c -- one load run on a private libuv loop: a timer starts requests
 * at their scheduled times (open loop: request i at t0 + i / rate, late
 * ones counted, never skipped), each on a pooled keep-alive connection
 * (opened on demand up to max_conns, else queued in a bounded FIFO);
 * responses parsed with the data node's HTTP/1.1 codec. Latency runs from
 * the scheduled time, so a slow server cannot hide behind a slow sender
 * (no coordinated omission). Owns the connections, the queue and the loop;
 * the targets and counters are the caller's.
 */
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "common/http1/http1.h"
#include "tools/slap/slap.h"

#define SL_CONN_BUF    32768 /* response head limit and read buffer */
#define SL_HDR_MAX     128
#define SL_TICK_BURST  1000 /* starts per tick before letting I/O run */
#define SL_REDRAW_MS   250
#define SL_QUEUE_MIN   1024
#define SL_QUEUE_LIMIT (1u << 20)

/* A request waiting for, or bound to, a connection. */
struct sl_pending {
    uint32_t target;
    uint64_t sched_ns; /* uv_hrtime() clock */
};

/* Bounded FIFO of requests waiting for a connection. */
struct sl_queue {
    struct sl_pending *v; /* owned */
    size_t cap, head, n;
};

enum sl_conn_state {
    SL_C_CONNECTING, /* connect in progress, a request waiting on it */
    SL_C_IDLE,       /* in its endpoint's idle list */
    SL_C_BUSY,       /* request written or being written, response read */
    SL_C_CLOSING,    /* handles closing; freed when both are closed */
};

struct sl_run;

struct sl_conn {
    uv_tcp_t tcp;
    uv_timer_t timer; /* the request's deadline */
    uv_connect_t creq;
    uv_write_t wreq;
    struct sl_run *run;
    struct sl_conn *prev, *next; /* idle list */
    uint32_t endpoint;
    uint8_t state;   /* enum sl_conn_state */
    uint8_t handles; /* open handles */
    uint8_t writing; /* wreq in use */
    uint8_t has_req;
    uint8_t head_done;
    struct sl_pending req;
    struct cm_h1_resp resp;
    struct cm_h1_hdr hdrs[SL_HDR_MAX];
    struct cm_h1_chunked chunked;
    int64_t body_left;
    size_t len; /* bytes in buf */
    char buf[SL_CONN_BUF];
};

struct sl_run {
    uv_loop_t loop;
    uv_timer_t tick;   /* starts requests on schedule */
    uv_timer_t redraw; /* live view */
    uv_signal_t sigint;
    const struct sl_targets *t;  /* borrowed */
    const struct sl_run_opts *o; /* borrowed */
    struct sl_stats *st;         /* borrowed */
    struct sl_conn **idle;       /* owned array: idle list per endpoint */
    uint32_t nconns;             /* connections not closing */
    struct sl_queue queue;
    uint64_t t0;          /* ns: when request 0 is due */
    double interval_ns;   /* between starts */
    uint64_t total, next; /* requests to start; index of the next */
    uint64_t timeout_ns;
    int sending_done, finished, pumping;
};

static void sl_run_start(struct sl_run *r, struct sl_pending p);
static void sl_run_pump(struct sl_run *r);
static void sl_run_check_done(struct sl_run *r);

/* ==== queue ==== */

static int sl_queue_push(struct sl_queue *q, struct sl_pending p)
{
    if (q->n == q->cap)
        return -1;
    q->v[(q->head + q->n) % q->cap] = p;
    q->n++;
    return 0;
}

static struct sl_pending sl_queue_pop(struct sl_queue *q)
{
    struct sl_pending p = q->v[q->head];

    q->head = (q->head + 1) % q->cap;
    q->n--;
    return p;
}

/* Pops the first queued request still within its timeout; expired ones
 * are counted as timeouts. Returns 0, or -1 when none is left. */
static int sl_run_dequeue(struct sl_run *r, struct sl_pending *out)
{
    uint64_t now = uv_hrtime();

    while (r->queue.n > 0) {
        struct sl_pending p = sl_queue_pop(&r->queue);
        if (now - p.sched_ns < r->timeout_ns) {
            *out = p;
            return 0;
        }
        sl_stats_error(r->st, SL_ERR_TIMEOUT);
    }
    return -1;
}

/* ==== connections: lifetime ==== */

static void sl_idle_remove(struct sl_run *r, struct sl_conn *c)
{
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        r->idle[c->endpoint] = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
}

static void sl_idle_push(struct sl_run *r, struct sl_conn *c)
{
    c->state = SL_C_IDLE;
    c->prev = NULL;
    c->next = r->idle[c->endpoint];
    if (c->next != NULL)
        c->next->prev = c;
    r->idle[c->endpoint] = c;
}

/* An idle connection to <ep>, or with ep == UINT32_MAX to any endpoint;
 * taken out of its list. */
static struct sl_conn *sl_idle_pop(struct sl_run *r, uint32_t ep)
{
    struct sl_conn *c = NULL;

    if (ep != UINT32_MAX) {
        c = r->idle[ep];
    } else {
        for (uint32_t i = 0; i < r->t->nendpoints && c == NULL; i++)
            c = r->idle[i];
    }
    if (c != NULL) {
        sl_idle_remove(r, c);
        c->state = SL_C_BUSY; /* out of the list: close must not unlink */
    }
    return c;
}

static void sl_conn_closed(uv_handle_t *h)
{
    struct sl_conn *c = h->data;

    if (--c->handles == 0)
        free(c);
}

/* Closes <c>; its memory goes when both handles are closed. */
static void sl_conn_close(struct sl_conn *c)
{
    struct sl_run *r = c->run;

    if (c->state == SL_C_CLOSING)
        return;
    if (c->state == SL_C_IDLE)
        sl_idle_remove(r, c);
    c->state = SL_C_CLOSING;
    r->nconns--;
    uv_close((uv_handle_t *)&c->timer, sl_conn_closed);
    uv_close((uv_handle_t *)&c->tcp, sl_conn_closed);
}

/* Returns new (counted in r->nconns), or NULL. */
static struct sl_conn *sl_conn_new(struct sl_run *r, uint32_t ep)
{
    struct sl_conn *c = malloc(sizeof(*c));

    if (c == NULL)
        return NULL;
    memset(c, 0, offsetof(struct sl_conn, buf));
    if (uv_tcp_init(&r->loop, &c->tcp) != 0) {
        free(c);
        return NULL;
    }
    uv_timer_init(&r->loop, &c->timer);
    c->tcp.data = c->timer.data = c;
    c->run = r;
    c->endpoint = ep;
    c->handles = 2;
    c->state = SL_C_CONNECTING;
    cm_h1_resp_init(&c->resp, c->hdrs, SL_HDR_MAX,
                    &(struct cm_h1_limits){8192, SL_CONN_BUF - 8192});
    r->nconns++;
    return c;
}

/* ==== connections: requests ==== */

static enum sl_err_kind sl_err_of(int uverr, int connecting)
{
    switch (uverr) {
    case UV_ECONNREFUSED:
        return SL_ERR_CONNECT_REFUSED;
    case UV_ETIMEDOUT:
        return connecting ? SL_ERR_CONNECT_TIMEOUT : SL_ERR_TIMEOUT;
    case UV_ECONNRESET:
    case UV_EPIPE:
        return SL_ERR_RESET;
    case UV_EOF:
        return SL_ERR_CLOSED_EARLY;
    }
    return SL_ERR_OTHER;
}

/* The request on <c> failed: counts it, closes <c>. */
static void sl_conn_fail(struct sl_conn *c, enum sl_err_kind kind)
{
    struct sl_run *r = c->run;

    if (c->has_req)
        sl_stats_error(r->st, kind);
    c->has_req = 0;
    sl_conn_close(c);
    sl_run_pump(r);
    sl_run_check_done(r);
}

static void sl_conn_deadline(uv_timer_t *t)
{
    struct sl_conn *c = t->data;

    sl_conn_fail(c, c->state == SL_C_CONNECTING ? SL_ERR_CONNECT_TIMEOUT
                                                : SL_ERR_TIMEOUT);
}

/* Binds <p> to <c> and starts its deadline timer. */
static void sl_conn_bind(struct sl_conn *c, struct sl_pending p)
{
    uint64_t now = uv_hrtime(), end = p.sched_ns + c->run->timeout_ns;
    uint64_t ms = end > now ? (end - now + 999999) / 1000000 : 0;

    c->req = p;
    c->has_req = 1;
    c->head_done = 0;
    uv_timer_start(&c->timer, sl_conn_deadline, ms, 0);
}

static void sl_conn_written(uv_write_t *w, int status)
{
    struct sl_conn *c = w->data;

    c->writing = 0;
    if (status < 0 && c->state != SL_C_CLOSING && c->has_req)
        sl_conn_fail(c, sl_err_of(status, 0));
}

/* Writes the bound request on <c> (connected). */
static void sl_conn_write(struct sl_conn *c)
{
    const struct sl_target *tg = &c->run->t->v[c->req.target];
    uv_buf_t b = uv_buf_init(tg->req, (unsigned)tg->req_len);
    int rc;

    c->state = SL_C_BUSY;
    c->len = 0;
    cm_h1_resp_reset(&c->resp, tg->method_id);
    c->wreq.data = c;
    rc = uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, sl_conn_written);
    if (rc != 0) {
        sl_conn_fail(c, sl_err_of(rc, 0));
        return;
    }
    c->writing = 1;
}

/* A request is finished and <c> can carry another: the next queued one,
 * or into the idle list. */
static void sl_conn_release(struct sl_conn *c)
{
    struct sl_run *r = c->run;
    struct sl_pending p;

    if (sl_run_dequeue(r, &p) != 0) {
        sl_idle_push(r, c);
        return;
    }
    if (r->t->v[p.target].endpoint != c->endpoint) {
        sl_conn_close(c);
        sl_run_start(r, p);
        return;
    }
    sl_conn_bind(c, p);
    sl_conn_write(c);
}

/* The whole response is in: counts it, reuses or closes <c>. */
static void sl_conn_done(struct sl_conn *c)
{
    struct sl_run *r = c->run;
    uint64_t now = uv_hrtime();
    int reuse = (c->resp.msg.flags & CM_H1_F_KEEPALIVE) &&
                c->resp.msg.body != CM_H1_BODY_CLOSE && c->len == 0 &&
                !c->writing && c->resp.code != 101;

    sl_stats_response(r->st, c->resp.code,
                      now > c->req.sched_ns ? (now - c->req.sched_ns) / 1000
                                            : 0);
    c->has_req = 0;
    uv_timer_stop(&c->timer);
    if (reuse) {
        sl_conn_release(c);
    } else {
        sl_conn_close(c);
        sl_run_pump(r);
    }
    sl_run_check_done(r);
}

static void sl_conn_consume(struct sl_conn *c, size_t n)
{
    memmove(c->buf, c->buf + n, c->len - n);
    c->len -= n;
}

/* Parses the head; 1: done, 0: need more, -1: failed (already counted). */
static int sl_conn_head(struct sl_conn *c)
{
    for (;;) {
        int n = cm_h1_resp_parse(&c->resp, c->buf, c->len);
        if (n == 0 && c->len < sizeof(c->buf))
            return 0;
        if (n <= 0) {
            sl_conn_fail(c, SL_ERR_BAD_RESPONSE);
            return -1;
        }
        sl_conn_consume(c, (size_t)n);
        if (c->resp.code >= 200 || c->resp.code == 101)
            break;
        cm_h1_resp_reset(&c->resp, c->resp.req_method); /* 1xx */
    }
    c->head_done = 1;
    c->body_left = c->resp.msg.content_length;
    cm_h1_chunked_init(&c->chunked, 0, 0);
    return 1;
}

/* Reads body bytes; 1: body complete, 0: need more, -1: failed. */
static int sl_conn_body(struct sl_conn *c)
{
    switch (c->resp.msg.body) {
    case CM_H1_BODY_NONE:
        return 1;
    case CM_H1_BODY_LENGTH: {
        size_t n =
            c->len < (uint64_t)c->body_left ? c->len : (size_t)c->body_left;
        sl_conn_consume(c, n);
        c->body_left -= (int64_t)n;
        return c->body_left == 0;
    }
    case CM_H1_BODY_CHUNKED:
        for (;;) {
            struct cm_h1_slice d;
            size_t used = 0;
            int rc =
                cm_h1_chunked_parse(&c->chunked, c->buf, c->len, &used, &d);
            sl_conn_consume(c, used);
            if (rc == CM_H1_CHUNK_DONE)
                return 1;
            if (rc == CM_H1_CHUNK_NEED)
                return 0;
            if (rc < 0) {
                sl_conn_fail(c, SL_ERR_BAD_RESPONSE);
                return -1;
            }
        }
    default: /* until the server closes */
        c->len = 0;
        return 0;
    }
}

static void sl_conn_input(struct sl_conn *c)
{
    int rc;

    if (!c->has_req) { /* bytes nobody asked for: not reusable */
        sl_conn_close(c);
        sl_run_pump(c->run);
        return;
    }
    if (!c->head_done && sl_conn_head(c) <= 0)
        return;
    rc = sl_conn_body(c);
    if (rc == 1)
        sl_conn_done(c);
}

/* EOF or a read error on <c>. */
static void sl_conn_eof(struct sl_conn *c, int err)
{
    if (c->has_req && c->head_done && c->resp.msg.body == CM_H1_BODY_CLOSE &&
        err == UV_EOF) {
        sl_conn_done(c); /* the body ended with the connection */
        return;
    }
    if (!c->has_req) { /* an idle connection closed by the server */
        sl_conn_close(c);
        sl_run_pump(c->run);
        return;
    }
    sl_conn_fail(c, sl_err_of(err, 0));
}

static void sl_conn_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    struct sl_conn *c = h->data;

    *b = uv_buf_init(c->buf + c->len, (unsigned)(sizeof(c->buf) - c->len));
}

static void sl_conn_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    struct sl_conn *c = s->data;

    if (c->state == SL_C_CLOSING || n == 0)
        return;
    if (n < 0) {
        sl_conn_eof(c, (int)n);
        return;
    }
    c->len += (size_t)n;
    sl_conn_input(c);
}

static void sl_conn_connected(uv_connect_t *req, int status)
{
    struct sl_conn *c = req->data;
    int rc;

    if (status == UV_ECANCELED || c->state == SL_C_CLOSING)
        return;
    if (status < 0) {
        sl_conn_fail(c, sl_err_of(status, 1));
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    rc = uv_read_start((uv_stream_t *)&c->tcp, sl_conn_alloc, sl_conn_read);
    if (rc != 0) {
        sl_conn_fail(c, sl_err_of(rc, 0));
        return;
    }
    sl_conn_write(c);
}

/* Opens a connection to <ep> for <p>. */
static void sl_conn_open(struct sl_run *r, uint32_t ep, struct sl_pending p)
{
    struct sl_conn *c = sl_conn_new(r, ep);
    int rc;

    if (c == NULL) {
        sl_stats_error(r->st, SL_ERR_OTHER);
        return;
    }
    sl_conn_bind(c, p);
    c->creq.data = c;
    rc = uv_tcp_connect(&c->creq, &c->tcp,
                        (const struct sockaddr *)&r->t->endpoints[ep],
                        sl_conn_connected);
    if (rc != 0)
        sl_conn_fail(c, sl_err_of(rc, 1));
}

/* ==== scheduling ==== */

/* Starts <p>: on an idle connection, a new one, or queued. */
static void sl_run_start(struct sl_run *r, struct sl_pending p)
{
    uint32_t ep = r->t->v[p.target].endpoint;
    struct sl_conn *c = sl_idle_pop(r, ep);

    if (c != NULL) {
        sl_conn_bind(c, p);
        sl_conn_write(c);
        return;
    }
    if (r->nconns >= r->o->max_conns) {
        c = sl_idle_pop(r, UINT32_MAX); /* idle at another endpoint */
        if (c != NULL)
            sl_conn_close(c);
    }
    if (r->nconns < r->o->max_conns) {
        sl_conn_open(r, ep, p);
        return;
    }
    if (sl_queue_push(&r->queue, p) != 0)
        sl_stats_error(r->st, SL_ERR_NO_CONN);
}

/* Starts queued requests while connections may be opened. */
static void sl_run_pump(struct sl_run *r)
{
    struct sl_pending p;

    if (r->pumping)
        return;
    r->pumping = 1;
    while (r->queue.n > 0 && r->nconns < r->o->max_conns &&
           sl_run_dequeue(r, &p) == 0)
        sl_run_start(r, p);
    r->pumping = 0;
}

static uint64_t sl_run_due(const struct sl_run *r, uint64_t i)
{
    return r->t0 + (uint64_t)((double)i * r->interval_ns);
}

static void sl_run_stop_sending(struct sl_run *r)
{
    uint64_t now = uv_hrtime();
    uint64_t planned = (uint64_t)((double)r->next * r->interval_ns);

    if (r->sending_done)
        return;
    r->sending_done = 1;
    uv_timer_stop(&r->tick);
    r->st->send_us = (now - r->t0 > planned ? now - r->t0 : planned) / 1000;
    sl_run_check_done(r);
}

static void sl_run_tick(uv_timer_t *t)
{
    struct sl_run *r = t->data;
    uint64_t now = uv_hrtime(), due = 0;
    int burst = 0;

    while (r->next < r->total && burst < SL_TICK_BURST) {
        struct sl_pending p;
        due = sl_run_due(r, r->next);
        if (due > now)
            break;
        if (now - due > (uint64_t)SL_LATE_US * 1000)
            r->st->late++;
        p.target = (uint32_t)(r->next % r->t->n);
        p.sched_ns = due;
        r->next++;
        r->st->sent++;
        sl_run_start(r, p);
        burst++;
        now = uv_hrtime();
    }
    if (r->next >= r->total) {
        sl_run_stop_sending(r);
        return;
    }
    due = sl_run_due(r, r->next);
    uv_timer_start(&r->tick, sl_run_tick,
                   due > now ? (due - now + 999999) / 1000000 : 0, 0);
}

/* ==== view, signals, the end ==== */

static void sl_run_draw(struct sl_run *r)
{
    if (r->o->view != NULL)
        sl_view_draw(r->o->view, r->st, (uv_hrtime() - r->t0) / 1000,
                     r->o->duration_us);
}

static void sl_run_redraw(uv_timer_t *t)
{
    sl_run_draw(t->data);
}

static void sl_run_sigint(uv_signal_t *s, int sig)
{
    sl_run_stop_sending(s->data);
}

/* When every request started has finished: closes what keeps the loop
 * alive, so that uv_run() returns. */
static void sl_run_check_done(struct sl_run *r)
{
    struct sl_conn *c;

    if (r->finished || !r->sending_done || sl_stats_in_flight(r->st) > 0)
        return;
    r->finished = 1;
    r->st->total_us = (uv_hrtime() - r->t0) / 1000;
    if (r->st->total_us < r->st->send_us)
        r->st->total_us = r->st->send_us;
    sl_run_draw(r);
    uv_close((uv_handle_t *)&r->tick, NULL);
    uv_close((uv_handle_t *)&r->redraw, NULL);
    uv_close((uv_handle_t *)&r->sigint, NULL);
    while ((c = sl_idle_pop(r, UINT32_MAX)) != NULL)
        sl_conn_close(c);
}

static int sl_run_setup(struct sl_run *r)
{
    double qcap = r->o->rate * ((double)r->o->timeout_us / 1e6) * 2;
    int rc;

    r->queue.cap = qcap < SL_QUEUE_MIN     ? SL_QUEUE_MIN
                   : qcap > SL_QUEUE_LIMIT ? SL_QUEUE_LIMIT
                                           : (size_t)qcap;
    r->queue.v = calloc(r->queue.cap, sizeof(*r->queue.v));
    r->idle = calloc(r->t->nendpoints, sizeof(*r->idle));
    if (r->queue.v == NULL || r->idle == NULL)
        return GW_ENOMEM;
    rc = uv_loop_init(&r->loop);
    if (rc != 0)
        return rc;
    uv_timer_init(&r->loop, &r->tick);
    uv_timer_init(&r->loop, &r->redraw);
    uv_signal_init(&r->loop, &r->sigint);
    r->tick.data = r->redraw.data = r->sigint.data = r;
    return 0;
}

int sl_run(const struct sl_targets *t, const struct sl_run_opts *o,
           struct sl_stats *st)
{
    struct sl_run r;
    double n = ceil(o->rate * ((double)o->duration_us / 1e6) - 1e-9);
    int rc;

    if (t->n == 0 || t->nendpoints == 0 || o->rate <= 0 || o->max_conns == 0)
        return GW_EINVAL;
    memset(&r, 0, sizeof(r));
    r.t = t;
    r.o = o;
    r.st = st;
    r.total = n < 1 ? 1 : (uint64_t)n;
    r.interval_ns = 1e9 / o->rate;
    r.timeout_ns = o->timeout_us * 1000;
    rc = sl_run_setup(&r);
    if (rc == 0) {
        uv_signal_start(&r.sigint, sl_run_sigint, SIGINT);
        if (o->view != NULL)
            uv_timer_start(&r.redraw, sl_run_redraw, SL_REDRAW_MS,
                           SL_REDRAW_MS);
        r.t0 = uv_hrtime();
        uv_timer_start(&r.tick, sl_run_tick, 0, 0);
        uv_run(&r.loop, UV_RUN_DEFAULT);
        rc = uv_loop_close(&r.loop);
    }
    free(r.queue.v);
    free(r.idle);
    return rc;
}
