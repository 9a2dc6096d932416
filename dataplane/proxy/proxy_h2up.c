/*
 * proxy_h2up.c -- HTTP/2 (h2c) upstream connections for clusters with the
 * http2 flag: a per-worker set of multiplexed connections keyed by endpoint
 * address (streams up to the server's SETTINGS_MAX_CONCURRENT_STREAMS, a
 * new connection when all are full), and the upstream streams
 * (struct dp_proxy__h2x) that HTTP/2 client streams (proxy_h2.c) and
 * HTTP/1 client connections (proxy_h2gw.c) open on them. Connection loss
 * closes every stream on it with an error; a connection left with no
 * streams closes after the pool idle timeout (like the HTTP/1 pool's).
 * Runs on the worker's loop.
 */
#include <stdlib.h>
#include <string.h>

#include "common/log/log.h"
#include "dataplane/h2/h2.h"
#include "dataplane/proxy/proxy_int.h"

#define H2UP_BUF (64 * 1024)

enum {
    U_CONNECTING = 0,
    U_READY,
    U_CLOSING,
};

struct dp_proxy__h2up {
    uv_tcp_t tcp;
    uv_timer_t timer; /* connect timeout, then idle timeout */
    uv_connect_t connect;
    uv_write_t wr;
    struct dp_proxy__worker *w;
    struct dp_proxy__h2up *next; /* worker's list */
    struct sockaddr_storage addr;
    struct dp_h2_session *s;
    struct dp_proxy__h2x *xs; /* streams on this connection */
    uint32_t n_x;
    uint8_t state;
    uint8_t handles;
    uint8_t in[H2UP_BUF];
};

struct dp_proxy__h2x {
    struct dp_proxy__h2up *u; /* NULL once the connection is gone */
    struct dp_proxy__h2x *prev, *next;
    const struct dp_proxy__h2x_ops *ops;
    void *o;
    int32_t sid; /* 0 until the request is submitted */
    bool closed; /* the stream ended or failed: no more events */
};

static bool addr_same(const struct sockaddr_storage *a,
                      const struct sockaddr_storage *b)
{
    size_t n = a->ss_family == AF_INET ? sizeof(struct sockaddr_in)
                                       : sizeof(struct sockaddr_in6);

    return a->ss_family == b->ss_family && memcmp(a, b, n) == 0;
}

static void up_close(struct dp_proxy__h2up *u);

static void up_idle_timeout(uv_timer_t *t)
{
    up_close(t->data);
}

/* Arms the idle timeout of a ready connection left with no streams. */
static void up_idle_check(struct dp_proxy__h2up *u)
{
    if (u->state == U_READY && u->n_x == 0)
        uv_timer_start(&u->timer, up_idle_timeout,
                       dp_proxy__opts(u->w)->pool_idle_ms, 0);
}

/* ==== streams ==== */

static void x_unlink(struct dp_proxy__h2x *x)
{
    struct dp_proxy__h2up *u = x->u;

    if (u == NULL)
        return;
    if (x->prev != NULL)
        x->prev->next = x->next;
    else
        u->xs = x->next;
    if (x->next != NULL)
        x->next->prev = x->prev;
    x->prev = x->next = NULL;
    x->u = NULL;
    u->n_x--;
    up_idle_check(u);
}

/* Ends <x> with <code>: no more events after its closed(). */
static void x_fail(struct dp_proxy__h2x *x, uint32_t code)
{
    if (x->closed)
        return;
    x->closed = true;
    x_unlink(x);
    x->ops->closed(x->o, code);
}

/* ==== connections ==== */

static void up_closed(uv_handle_t *h)
{
    struct dp_proxy__h2up *u = h->data;

    if (--u->handles > 0)
        return;
    dp_h2_session_free(u->s);
    free(u);
}

static void up_close(struct dp_proxy__h2up *u)
{
    struct dp_proxy__h2up **pp = &u->w->h2ups;

    if (u->state == U_CLOSING)
        return;
    u->state = U_CLOSING;
    while (*pp != NULL && *pp != u)
        pp = &(*pp)->next;
    if (*pp == u)
        *pp = u->next;
    DP_PROXY__INC(u->w, upstream_conns_active, -1);
    while (u->xs != NULL)
        x_fail(u->xs, 7 /* REFUSED_STREAM: retry is safe if nothing went */);
    uv_close((uv_handle_t *)&u->timer, up_closed);
    uv_close((uv_handle_t *)&u->tcp, up_closed);
}

/* Closes <u> when its session is over. */
static void up_check(struct dp_proxy__h2up *u)
{
    if (u->state != U_CLOSING && dp_h2_done(u->s))
        up_close(u);
}

static void up_written(uv_write_t *wr, int status)
{
    struct dp_proxy__h2up *u = wr->data;

    if (u->state == U_CLOSING)
        return;
    dp_h2_sent(u->s);
    if (status < 0) {
        up_close(u);
        return;
    }
    dp_h2_flush(u->s);
    up_check(u);
}

static int up_send(void *arg, const uint8_t *p, size_t n)
{
    struct dp_proxy__h2up *u = arg;
    uv_buf_t b = uv_buf_init((char *)p, (unsigned)n);

    if (u->state != U_READY)
        return 1; /* dropped: the connection is going */
    return dp_proxy__send((uv_stream_t *)&u->tcp, &u->wr, &b, 1, up_written);
}

static void up_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    struct dp_proxy__h2up *u = h->data;

    *b = uv_buf_init((char *)u->in, sizeof(u->in));
}

static void up_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    struct dp_proxy__h2up *u = s->data;

    if (n == 0 || u->state == U_CLOSING)
        return;
    if (n < 0 || dp_h2_feed(u->s, u->in, (size_t)n) != 0) {
        up_close(u);
        return;
    }
    up_check(u);
}

/* ==== session events ==== */

static int ev_headers(void *arg, int32_t sid, void *user,
                      const struct dp_h2_head *h)
{
    struct dp_proxy__h2x *x = user;

    if (x == NULL || x->closed)
        return -1;
    if (h->kind == DP_H2_HEAD)
        x->ops->head(x->o, h);
    else if (h->kind == DP_H2_TRAILERS)
        x->ops->trailers(x->o, h);
    return 0;
}

static void ev_data(void *arg, void *user, const uint8_t *p, size_t n)
{
    struct dp_proxy__h2x *x = user;

    x->ops->data(x->o, p, n);
}

static void ev_end(void *arg, void *user)
{
    struct dp_proxy__h2x *x = user;

    x->ops->end(x->o);
}

static void ev_close(void *arg, void *user, uint32_t code)
{
    struct dp_proxy__h2x *x = user;

    x->sid = 0;
    x_fail(x, code);
}

static void ev_room(void *arg, void *user, size_t n)
{
    struct dp_proxy__h2x *x = user;

    x->ops->room(x->o, n);
}

static const struct dp_h2_cbs up_cbs = {ev_headers, ev_data, ev_end, ev_close,
                                        ev_room};

/* ==== connecting ==== */

/* Tells the waiting streams the connection is usable (or not). */
static void up_ready(struct dp_proxy__h2up *u, int status)
{
    struct dp_proxy__h2x *x, *next;

    for (x = u->xs; x != NULL; x = next) {
        next = x->next;
        if (status != 0)
            x_fail(x, 7);
        else
            x->ops->ready(x->o);
    }
}

static void up_connected(uv_connect_t *req, int status)
{
    struct dp_proxy__h2up *u = req->data;

    if (u->state != U_CONNECTING)
        return;
    uv_timer_stop(&u->timer);
    if (status != 0) {
        DP_PROXY__INC(u->w, upstream_connect_errors, 1);
        up_close(u);
        return;
    }
    u->state = U_READY;
    uv_tcp_nodelay(&u->tcp, 1);
    uv_read_start((uv_stream_t *)&u->tcp, up_alloc, up_read);
    if (dp_h2_flush(u->s) != 0) {
        up_close(u);
        return;
    }
    up_ready(u, 0);
    dp_h2_flush(u->s);
    up_idle_check(u); /* every waiting stream went meanwhile */
}

static void up_connect_timeout(uv_timer_t *t)
{
    struct dp_proxy__h2up *u = t->data;

    DP_PROXY__INC(u->w, upstream_connect_errors, 1);
    up_close(u);
}

static struct dp_proxy__h2up *up_new(struct dp_proxy__worker *w,
                                     const struct sockaddr_storage *addr)
{
    struct dp_proxy__h2up *u = calloc(1, sizeof(*u));
    struct dp_h2_io io = {up_send, u};

    if (u == NULL)
        return NULL;
    if ((u->s = dp_h2_session_new(DP_H2_CLIENT, NULL, &io, &up_cbs, u)) ==
        NULL) {
        free(u);
        return NULL;
    }
    u->w = w;
    u->addr = *addr;
    uv_tcp_init(&w->w.loop, &u->tcp);
    uv_timer_init(&w->w.loop, &u->timer);
    u->tcp.data = u->timer.data = u->connect.data = u->wr.data = u;
    u->handles = 2;
    u->next = w->h2ups;
    w->h2ups = u;
    DP_PROXY__INC(w, upstream_conns_active, 1);
    if (uv_tcp_connect(&u->connect, &u->tcp, (const struct sockaddr *)addr,
                       up_connected) != 0) {
        up_close(u);
        return NULL;
    }
    uv_timer_start(&u->timer, up_connect_timeout,
                   dp_proxy__opts(w)->connect_timeout_ms, 0);
    return u;
}

/* A connection to <addr> with room for one more stream, or a new one. */
static struct dp_proxy__h2up *up_pick(struct dp_proxy__worker *w,
                                      const struct sockaddr_storage *addr)
{
    for (struct dp_proxy__h2up *u = w->h2ups; u != NULL; u = u->next) {
        if (!addr_same(&u->addr, addr))
            continue;
        if (u->state == U_READY && dp_h2_can_open(u->s) &&
            u->n_x < DP_H2_MAX_STREAMS_DEF)
            return u;
        if (u->state == U_CONNECTING && u->n_x < DP_H2_MAX_STREAMS_DEF)
            return u;
    }
    return up_new(w, addr);
}

/* ==== streams: API ==== */

struct dp_proxy__h2x *dp_proxy__h2x_open(struct dp_proxy__worker *w,
                                         const struct sockaddr_storage *addr,
                                         const struct dp_proxy__h2x_ops *ops,
                                         void *o)
{
    struct dp_proxy__h2up *u;
    struct dp_proxy__h2x *x;

    if (w->draining || (u = up_pick(w, addr)) == NULL)
        return NULL;
    if ((x = calloc(1, sizeof(*x))) == NULL)
        return NULL;
    x->u = u;
    x->ops = ops;
    x->o = o;
    x->next = u->xs;
    if (u->xs != NULL)
        u->xs->prev = x;
    u->xs = x;
    u->n_x++;
    if (u->state == U_READY) /* busy again (connecting: keep that timer) */
        uv_timer_stop(&u->timer);
    return x;
}

bool dp_proxy__h2x_ready(const struct dp_proxy__h2x *x)
{
    return x->u != NULL && x->u->state == U_READY;
}

int dp_proxy__h2x_request(struct dp_proxy__h2x *x, const struct dp_h2_field *f,
                          size_t n, bool end)
{
    int32_t sid;

    if (x->u == NULL || x->closed)
        return GW_EIO;
    sid = dp_h2_request(x->u->s, f, n, end, x);
    if (sid < 0)
        return sid;
    x->sid = sid;
    return 0;
}

int dp_proxy__h2x_write(struct dp_proxy__h2x *x, const void *p, size_t n)
{
    if (x->u == NULL || x->sid == 0)
        return GW_EIO;
    return dp_h2_write(x->u->s, x->sid, p, n);
}

int dp_proxy__h2x_end(struct dp_proxy__h2x *x, const struct dp_h2_field *f,
                      size_t n)
{
    if (x->u == NULL || x->sid == 0)
        return GW_EIO;
    return dp_h2_end(x->u->s, x->sid, f, n);
}

size_t dp_proxy__h2x_queued(const struct dp_proxy__h2x *x)
{
    return x->u != NULL && x->sid != 0 ? dp_h2_queued(x->u->s, x->sid) : 0;
}

void dp_proxy__h2x_consume(struct dp_proxy__h2x *x, size_t n)
{
    if (x->u != NULL && x->sid != 0) {
        dp_h2_consume(x->u->s, x->sid, n);
        dp_proxy__h2x_flush(x);
    }
}

void dp_proxy__h2x_flush(struct dp_proxy__h2x *x)
{
    struct dp_proxy__h2up *u = x->u;

    if (u != NULL && u->state == U_READY) {
        if (dp_h2_flush(u->s) != 0)
            up_close(u);
    }
}

void dp_proxy__h2x_free(struct dp_proxy__h2x *x)
{
    struct dp_proxy__h2up *u;

    if (x == NULL)
        return;
    u = x->u;
    if (u != NULL && x->sid != 0 && !x->closed)
        dp_h2_reset(u->s, x->sid, 8 /* CANCEL */);
    else if (u != NULL && x->sid != 0)
        dp_h2_set_user(u->s, x->sid, NULL);
    x_unlink(x);
    free(x);
    if (u != NULL && u->state == U_READY)
        dp_h2_flush(u->s);
}

void dp_proxy__h2up_close_all(struct dp_proxy__worker *w)
{
    while (w->h2ups != NULL)
        up_close(w->h2ups);
}
