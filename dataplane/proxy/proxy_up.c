/*
 * proxy_up.c -- upstream connections: connect with a timeout, read the
 * response bytes for the client connection that uses them, and the
 * per-worker keep-alive pools keyed by endpoint address (so pools outlive
 * table swaps). Idle pooled connections close on EOF, on unexpected bytes
 * or after the idle timeout; plain ones hold no read buffer meanwhile (the
 * worker keeps a few free ones). Runs on the owning worker's loop.
 */
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "common/log/log.h"
#include "dataplane/proxy/proxy_int.h"
#include "dataplane/tls/tls.h"

/* ==== pools ==== */

static bool addr_eq(const struct sockaddr_storage *a,
                    const struct sockaddr_storage *b)
{
    if (a->ss_family != b->ss_family)
        return false;
    if (a->ss_family == AF_INET) {
        const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
        return x->sin_port == y->sin_port &&
               x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    if (a->ss_family == AF_INET6) {
        const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
        return x->sin6_port == y->sin6_port &&
               memcmp(&x->sin6_addr, &y->sin6_addr, 16) == 0;
    }
    return false;
}

static unsigned addr_hash(const struct sockaddr_storage *a)
{
    uint32_t h = 2166136261u;
    const uint8_t *p;
    size_t n;

    if (a->ss_family == AF_INET) {
        const struct sockaddr_in *x = (const void *)a;
        p = (const uint8_t *)&x->sin_addr;
        n = 4;
        h = (h ^ x->sin_port) * 16777619u;
    } else {
        const struct sockaddr_in6 *x = (const void *)a;
        p = (const uint8_t *)&x->sin6_addr;
        n = 16;
        h = (h ^ x->sin6_port) * 16777619u;
    }
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 16777619u;
    return h % DP_PROXY__POOL_HASH;
}

static struct dp_proxy__pool *pool_get(struct dp_proxy__worker *w,
                                       const struct sockaddr_storage *addr,
                                       bool create)
{
    unsigned b = addr_hash(addr);
    struct dp_proxy__pool *p;

    for (p = w->pools[b]; p != NULL; p = p->next) {
        if (addr_eq(&p->addr, addr))
            return p;
    }
    if (!create || (p = calloc(1, sizeof(*p))) == NULL)
        return NULL;
    p->addr = *addr;
    p->next = w->pools[b];
    w->pools[b] = p;
    return p;
}

static void pool_unlink(struct dp_proxy__up *u)
{
    struct dp_proxy__pool *p = u->pool;

    if (p == NULL)
        return;
    if (u->pprev != NULL)
        u->pprev->pnext = u->pnext;
    else
        p->idle = u->pnext;
    if (u->pnext != NULL)
        u->pnext->pprev = u->pprev;
    u->pnext = u->pprev = NULL;
    u->pool = NULL;
    p->n_idle--;
}

struct dp_proxy__up *dp_proxy__pool_take(struct dp_proxy__worker *w,
                                         const struct sockaddr_storage *addr)
{
    struct dp_proxy__pool *p = pool_get(w, addr, false);
    struct dp_proxy__up *u;

    if (p == NULL || (u = p->idle) == NULL)
        return NULL;
    if (u->in.p == NULL) { /* released while pooled */
        if ((u->in.p = dp_proxy__buf_get(&w->ubufs)) == NULL) {
            dp_proxy__up_close(u);
            return NULL;
        }
        u->in.cap = DP_PROXY__UBUF;
    }
    pool_unlink(u);
    uv_timer_stop(&u->timer);
    /* Reading stays on (it has a buffer again): the taker sets its owner
     * now and then the reading it wants; stopping and starting again
     * would cost two epoll_ctl calls per request. */
    u->state = DP_PROXY__U_ACTIVE;
    u->reused = true;
    u->got_data = false;
    u->in.start = u->in.end = 0;
    return u;
}

void dp_proxy__pool_close_all(struct dp_proxy__worker *w)
{
    for (int b = 0; b < DP_PROXY__POOL_HASH; b++) {
        for (struct dp_proxy__pool *p = w->pools[b]; p != NULL; p = p->next) {
            while (p->idle != NULL)
                dp_proxy__up_close(p->idle);
        }
    }
}

/* ==== lifetime ==== */

static void up_closed(uv_handle_t *h)
{
    struct dp_proxy__up *u = h->data;

    if (--u->handles > 0)
        return;
    free(u->in.p);
    dp_tls_conn_free(u->tls);
    free(u->tls_in);
    free(u);
}

void dp_proxy__up_close(struct dp_proxy__up *u)
{
    if (u->state == DP_PROXY__U_CLOSING)
        return;
    pool_unlink(u);
    u->state = DP_PROXY__U_CLOSING;
    u->c = NULL;
    u->ev = NULL;
    u->owner = NULL;
    DP_PROXY__INC(u->w, upstream_conns_active, -1);
    uv_close((uv_handle_t *)&u->timer, up_closed);
    uv_close((uv_handle_t *)&u->tcp, up_closed);
}

static void up_idle_timeout(uv_timer_t *t)
{
    dp_proxy__up_close(t->data);
}

void dp_proxy__up_release(struct dp_proxy__up *u, bool keep)
{
    struct dp_proxy__worker *w = u->w;
    const struct dp_proxy_opts *o = dp_proxy__opts(w);
    struct dp_proxy__pool *p;

    u->c = NULL;
    u->ev = NULL;
    u->owner = NULL;
    if (!keep || w->draining || u->eof || u->writing ||
        u->in.end != u->in.start || u->state != DP_PROXY__U_ACTIVE ||
        (p = pool_get(w, &u->addr, true)) == NULL || p->n_idle >= o->pool_max) {
        dp_proxy__up_close(u);
        return;
    }
    u->state = DP_PROXY__U_IDLE;
    u->pool = p;
    u->pprev = NULL;
    u->pnext = p->idle;
    if (p->idle != NULL)
        p->idle->pprev = u;
    p->idle = u;
    p->n_idle++;
    u->in.start = u->in.end = 0;
    if (u->tls == NULL) { /* plain: an idle connection holds no buffer */
        dp_proxy__buf_put(&w->ubufs, u->in.p);
        u->in.p = NULL;
        u->in.cap = 0;
    }
    uv_timer_start(&u->timer, up_idle_timeout, o->pool_idle_ms, 0);
    dp_proxy__up_reading(u, true); /* to see EOF */
}

/* ==== reading ==== */

static void up_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    struct dp_proxy__up *u = h->data;
    struct dp_proxy__buf *in = &u->in;

    if (u->tls != NULL) { /* ciphertext; decrypted into u->in */
        *b = uv_buf_init(u->tls_in, DP_PROXY__TLS_IN);
        return;
    }
    if (in->p == NULL) { /* pooled: any byte closes it (up_read) */
        char *p = u->w->rbuf;
        *b = uv_buf_init(p, p != NULL ? DP_PROXY__TLS_IN : 0);
        return;
    }
    if (in->start == in->end) {
        in->start = in->end = 0;
    } else if (in->end == in->cap && in->start > 0) {
        memmove(in->p, in->p + in->start, in->end - in->start);
        in->end -= in->start;
        in->start = 0;
    }
    *b = uv_buf_init(in->p + in->end, in->cap - in->end);
}

static void up_connected_tls(struct dp_proxy__up *u);
static void up_handshake_failed(struct dp_proxy__up *u);
static void up_connect_timeout(uv_timer_t *t);

/* TLS under up_read(): handles the handshake and idle connections itself
 * (returns 1), or decrypts into u->in and lets up_read() go on (0). */
static int up_tls_read(struct dp_proxy__up *u, ssize_t n, const uv_buf_t *b)
{
    int r;

    if (n > 0 && dp_tls_conn_feed(u->tls, b->base, (size_t)n) != 0)
        n = UV_ENOMEM;
    if (u->state == DP_PROXY__U_CONNECTING) {
        if (n < 0 || (r = dp_proxy__tls_up_handshake(u)) < 0)
            up_handshake_failed(u);
        else if (r == 1)
            up_connected_tls(u);
        return 1;
    }
    if (n < 0)
        return 0;
    r = dp_proxy__tls_up_pull(u);
    if (u->state == DP_PROXY__U_IDLE) {
        if (r != 0) /* data, close_notify or an error: not reusable */
            dp_proxy__up_close(u);
        return 1; /* handshake messages (TLS 1.3 tickets) only */
    }
    if (r < 0) {
        u->eof = true;
        dp_proxy__up_reading(u, false);
    }
    return 0;
}

static void up_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    struct dp_proxy__up *u = s->data;

    if (n == 0)
        return;
    if (u->tls != NULL && up_tls_read(u, n, b) != 0)
        return;
    if (u->state == DP_PROXY__U_IDLE) {
        dp_proxy__up_close(u); /* EOF, error or stray bytes */
        return;
    }
    if (u->state != DP_PROXY__U_ACTIVE || (u->c == NULL && u->ev == NULL))
        return;
    if (n < 0) {
        u->eof = true;
        dp_proxy__up_reading(u, false);
    } else {
        if (u->tls == NULL)
            u->in.end += (uint32_t)n;
        u->got_data = true;
        if (u->in.start == 0 && u->in.end == u->in.cap)
            dp_proxy__up_reading(u, false);
    }
    if (u->ev != NULL)
        u->ev(u->owner, DP_PROXY__UEV_READ, 0);
    else
        dp_proxy__conn_run(u->c);
}

void dp_proxy__up_reading(struct dp_proxy__up *u, bool on)
{
    if (u->state == DP_PROXY__U_CLOSING || u->reading == on)
        return;
    if (on && u->eof)
        return;
    if (on && uv_read_start((uv_stream_t *)&u->tcp, up_alloc, up_read) != 0)
        return;
    if (!on)
        uv_read_stop((uv_stream_t *)&u->tcp);
    u->reading = on;
}

/* ==== connecting ==== */

static void up_connected(uv_connect_t *req, int status)
{
    struct dp_proxy__up *u = req->data;
    struct dp_proxy__conn *c = u->c;
    void (*ev)(void *, int, int) = u->ev;
    void *owner = u->owner;

    if (u->state != DP_PROXY__U_CONNECTING)
        return; /* closed meanwhile (timeout, client gone) */
    uv_timer_stop(&u->timer);
    if (status != 0) {
        dp_proxy__up_close(u);
        if (c != NULL)
            dp_proxy__conn_up_failed(c, status);
        else if (ev != NULL)
            ev(owner, DP_PROXY__UEV_FAILED, status);
        return;
    }
    uv_tcp_nodelay(&u->tcp, 1);
    if (u->tls != NULL) { /* the handshake first, under the same timeout */
        uv_timer_start(&u->timer, up_connect_timeout,
                       dp_proxy__opts(u->w)->connect_timeout_ms, 0);
        dp_proxy__up_reading(u, true);
        int r = dp_proxy__tls_up_handshake(u);
        if (r < 0)
            up_handshake_failed(u);
        else if (r == 1)
            up_connected_tls(u);
        return;
    }
    u->state = DP_PROXY__U_ACTIVE;
    if (c != NULL)
        dp_proxy__conn_up_connected(c, 0);
    else if (ev != NULL)
        ev(owner, DP_PROXY__UEV_CONNECTED, 0);
}

static void up_connect_timeout(uv_timer_t *t)
{
    struct dp_proxy__up *u = t->data;
    struct dp_proxy__conn *c = u->c;
    void (*ev)(void *, int, int) = u->ev;
    void *owner = u->owner;

    dp_proxy__up_close(u);
    if (c != NULL)
        dp_proxy__conn_up_failed(c, UV_ETIMEDOUT);
    else if (ev != NULL)
        ev(owner, DP_PROXY__UEV_FAILED, UV_ETIMEDOUT);
}

struct dp_proxy__up *dp_proxy__up_connect(struct dp_proxy__worker *w,
                                          struct dp_proxy__conn *c,
                                          const struct sockaddr_storage *addr)
{
    struct dp_proxy__up *u = calloc(1, sizeof(*u));

    if (u == NULL)
        return NULL;
    u->in.cap = DP_PROXY__UBUF;
    if ((u->in.p = dp_proxy__buf_get(&w->ubufs)) == NULL) {
        free(u);
        return NULL;
    }
    u->w = w;
    u->c = c;
    u->addr = *addr;
    u->state = DP_PROXY__U_CONNECTING;
    if (c != NULL && c->x->plan.up_tls != NULL &&
        dp_proxy__tls_up_start(u, c->x->plan.up_tls) != 0) {
        dp_tls_conn_free(u->tls);
        free(u->tls_in);
        free(u->in.p);
        free(u);
        return NULL;
    }
    cm_h1_resp_init(&u->resp, u->hdrs, DP_PROXY__HDR_MAX, NULL);
    uv_tcp_init(&w->w.loop, &u->tcp);
    uv_timer_init(&w->w.loop, &u->timer);
    u->tcp.data = u->timer.data = u->connect.data = u->wr.data = u;
    u->handles = 2;
    DP_PROXY__INC(w, upstream_conns_active, 1);
    if (uv_tcp_connect(&u->connect, &u->tcp, (const struct sockaddr *)addr,
                       up_connected) != 0) {
        u->c = NULL;
        dp_proxy__up_close(u);
        return NULL;
    }
    uv_timer_start(&u->timer, up_connect_timeout,
                   dp_proxy__opts(w)->connect_timeout_ms, 0);
    return u;
}

/* ==== TLS ==== */

/* The handshake with the upstream failed (verification, protocol): as a
 * connect failure, so the request is retried elsewhere or gets a 502. */
static void up_handshake_failed(struct dp_proxy__up *u)
{
    struct dp_proxy__conn *c = u->c;
    void (*ev)(void *, int, int) = u->ev;
    void *owner = u->owner;

    dp_proxy__up_close(u);
    if (c != NULL)
        dp_proxy__conn_up_failed(c, UV_EPROTO);
    else if (ev != NULL)
        ev(owner, DP_PROXY__UEV_FAILED, UV_EPROTO);
}

static void up_connected_tls(struct dp_proxy__up *u)
{
    uv_timer_stop(&u->timer);
    dp_proxy__up_reading(u, false);
    u->state = DP_PROXY__U_ACTIVE;
    if (u->c != NULL)
        dp_proxy__conn_up_connected(u->c, 0);
    else if (u->ev != NULL)
        u->ev(u->owner, DP_PROXY__UEV_CONNECTED, 0);
}
