/*
 * proxy.c -- the engine: worker threads and their per-worker state, the
 * listeners each worker opens for itself (SO_REUSEPORT), building and
 * publishing the compiled table (dataplane/table's slot: old one freed after
 * a grace period), draining and counters. Public functions run on the
 * owner's or the configuration thread; the posted ones (wk_*) on each
 * worker's loop.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log/log.h"
#include "dataplane/filter/filter.h"
#include "dataplane/proxy/proxy_int.h"
#include "dataplane/router/router.h"
#include "dataplane/tls/tls-t.h"

struct dp_proxy {
    struct dp_proxy_opts opts;
    int n_workers;
    struct dp_proxy__worker *workers; /* n_workers, started */
    int n_started;
    struct dp_table_slot slot; /* RCU-published; writers hold mu */
    struct dp_proxy__hc *hc;   /* active health checker, once started */
    struct dp_filter_registry *filters; /* filter states; outlive tables */
    pthread_mutex_t mu;
    bool draining;
    uint32_t drain_grace_ms; /* idle keep-alive connections' last wait */
    uint64_t swaps;
};

/* A listener set posted to every worker; the last one frees it. */
struct lsn_sync {
    struct dp_proxy__lsn_want *want;
    size_t n;
    int refs;
};

/* ==== buffer caches ==== */

void *dp_proxy__buf_get(struct dp_proxy__bufs *b)
{
    void *p = b->head;

    if (p == NULL)
        return malloc(b->size);
    memcpy(&b->head, p, sizeof(void *));
    b->n--;
    return p;
}

void dp_proxy__buf_put(struct dp_proxy__bufs *b, void *p)
{
    if (p == NULL)
        return;
    if (b->n >= b->max) {
        free(p);
        return;
    }
    memcpy(p, &b->head, sizeof(void *));
    b->head = p;
    b->n++;
}

void dp_proxy__bufs_clear(struct dp_proxy__bufs *b)
{
    while (b->head != NULL) {
        void *p = b->head;
        memcpy(&b->head, p, sizeof(void *));
        free(p);
    }
    b->n = 0;
}

/* ==== worker side ==== */

const struct dp_table *dp_proxy__table(struct dp_proxy__worker *w)
{
    dp_worker_rcu_online(&w->w); /* I/O callbacks run while offline */
    return dp_table_current(&w->p->slot);
}

const struct dp_proxy_opts *dp_proxy__opts(struct dp_proxy__worker *w)
{
    return &w->p->opts;
}

uint64_t dp_proxy__rand(struct dp_proxy__worker *w)
{
    /* splitmix64: every output bit is well mixed (weights use x % n) */
    uint64_t z = (w->rnd += 0x9e3779b97f4a7c15ull);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void lsn_conn(uv_stream_t *s, int status)
{
    if (status == 0)
        dp_proxy__accept(s->data);
}

static void lsn_closed(uv_handle_t *h)
{
    free(h->data);
}

static void lsn_open(struct dp_proxy__worker *w,
                     const struct dp_proxy__lsn_want *want)
{
    struct dp_proxy__lsn *l = calloc(1, sizeof(*l));
    char err[CM_ERR_LEN], addr[CM_NET_ADDRSTRLEN];
    int fd, r;

    if (l == NULL)
        return;
    cm_net_format_addr((const struct sockaddr *)&want->addr, addr,
                       sizeof(addr));
    fd = cm_net_listen((const struct sockaddr *)&want->addr, 1024,
                       CM_NET_REUSEPORT, err, sizeof(err));
    if (fd < 0) {
        cm_log_error("proxy", "listen_failed", "worker=%d listener=%s err=%s",
                     w->w.id, want->name, err);
        free(l);
        return;
    }
    l->w = w;
    l->addr = want->addr;
    memcpy(l->name, want->name, sizeof(l->name));
    uv_tcp_init(&w->w.loop, &l->tcp);
    l->tcp.data = l;
    if ((r = uv_tcp_open(&l->tcp, fd)) != 0 ||
        (r = uv_listen((uv_stream_t *)&l->tcp, 1024, lsn_conn)) != 0) {
        cm_log_error("proxy", "listen_failed", "worker=%d listener=%s err=%s",
                     w->w.id, want->name, uv_strerror(r));
        uv_close((uv_handle_t *)&l->tcp, lsn_closed);
        return;
    }
    l->next = w->lsns;
    w->lsns = l;
    cm_log_debug("proxy", "listening", "worker=%d listener=%s addr=%s", w->w.id,
                 l->name, addr);
}

static bool same_addr(const struct sockaddr_storage *a,
                      const struct sockaddr_storage *b)
{
    char x[CM_NET_ADDRSTRLEN], y[CM_NET_ADDRSTRLEN];

    cm_net_format_addr((const struct sockaddr *)a, x, sizeof(x));
    cm_net_format_addr((const struct sockaddr *)b, y, sizeof(y));
    return strcmp(x, y) == 0;
}

/* Serves the connections already in <l>'s accept queue: closing a
 * listener resets them, and SO_REUSEPORT does not hand them to the other
 * listeners of the port (net.ipv4.tcp_migrate_req, off by default). */
static void lsn_flush(struct dp_proxy__lsn *l)
{
    uv_os_fd_t lfd;
    int fd;

    if (uv_fileno((uv_handle_t *)&l->tcp, &lfd) != 0)
        return;
    for (int i = 0; i < DP_PROXY__FLUSH_MAX; i++) {
        fd = accept(lfd, NULL, NULL); /* non-blocking: libuv's */
        if (fd < 0)
            return;
        dp_proxy__accept_fd(l, fd);
    }
}

/* Closes the listeners not marked keep. */
static void lsn_sweep(struct dp_proxy__worker *w)
{
    struct dp_proxy__lsn **pp = &w->lsns, *l;

    while ((l = *pp) != NULL) {
        if (l->keep) {
            pp = &l->next;
            continue;
        }
        *pp = l->next;
        /* draining: the table still has the listener, serve its queue; a
         * listener the configuration dropped has nothing to serve with */
        if (w->draining && !w->stopping)
            lsn_flush(l);
        uv_close((uv_handle_t *)&l->tcp, lsn_closed);
    }
}

static void wk_sync(struct dp_worker *ww, void *arg)
{
    struct dp_proxy__worker *w = ww->data;
    struct lsn_sync *s = arg;

    for (struct dp_proxy__lsn *l = w->lsns; l != NULL; l = l->next)
        l->keep = false;
    for (size_t i = 0; i < s->n && !w->draining; i++) {
        struct dp_proxy__lsn *l;
        for (l = w->lsns; l != NULL; l = l->next) {
            if (strcmp(l->name, s->want[i].name) == 0 &&
                same_addr(&l->addr, &s->want[i].addr))
                break;
        }
        if (l != NULL)
            l->keep = true;
        else
            lsn_open(w, &s->want[i]);
    }
    /* new ones were pushed at the head, unmarked: mark them */
    for (struct dp_proxy__lsn *l = w->lsns; l != NULL; l = l->next) {
        for (size_t i = 0; i < s->n && !l->keep; i++)
            l->keep = strcmp(l->name, s->want[i].name) == 0 &&
                      same_addr(&l->addr, &s->want[i].addr);
    }
    lsn_sweep(w);
    if (__atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL) == 0) {
        free(s->want);
        free(s);
    }
}

static void wk_drain(struct dp_worker *ww, void *arg)
{
    struct dp_proxy__worker *w = ww->data;
    struct dp_proxy__conn *c, *next;

    w->draining = true;
    w->drain_grace_ms = w->p->drain_grace_ms;
    for (struct dp_proxy__lsn *l = w->lsns; l != NULL; l = l->next)
        l->keep = false;
    lsn_sweep(w);
    for (c = w->conns; c != NULL; c = next) {
        next = c->next;
        dp_proxy__conn_drain(c);
    }
    dp_proxy__pool_close_all(w);
}

static void wk_init(struct dp_worker *ww, void *arg)
{
    struct dp_proxy__worker *w = arg;

    ww->data = w;
    w->scratch = dp_router_scratch_new();
    w->fscratch = dp_filter_scratch_new();
    w->fbuf = malloc(DP_FILTER_BUF_DEF);
    w->rbuf = malloc(DP_PROXY__TLS_IN);
    w->cbufs = (struct dp_proxy__bufs){.max = DP_PROXY__CBUF_FREE,
                                       .size = DP_PROXY__CBUF_MIN};
    w->ubufs = (struct dp_proxy__bufs){.max = DP_PROXY__UBUF_FREE,
                                       .size = DP_PROXY__UBUF};
    w->rnd = (uint64_t)time(NULL) * 2654435761u + (uint64_t)ww->id * 7919 +
             (uint64_t)getpid() + 1;
    uv_timer_init(&ww->loop, &w->ol_timer);
    w->ol_timer.data = w;
}

static void wk_fini(struct dp_worker *ww, void *arg)
{
    struct dp_proxy__worker *w = ww->data;

    w->stopping = true;
    wk_drain(ww, NULL);
    while (w->conns != NULL)
        dp_proxy__conn_close(w->conns);
    dp_proxy__h2up_close_all(w);
    dp_proxy__outlier_clear(w);
    uv_close((uv_handle_t *)&w->ol_timer, NULL);
    dp_router_scratch_free(w->scratch);
    w->scratch = NULL;
    dp_filter_scratch_free(w->fscratch);
    w->fscratch = NULL;
    free(w->fbuf);
    w->fbuf = NULL;
    free(w->rbuf);
    w->rbuf = NULL;
    dp_proxy__ex_free_all(w);
    w->cbufs.max = w->ubufs.max = 0; /* closing connections free theirs */
    dp_proxy__bufs_clear(&w->cbufs);
    dp_proxy__bufs_clear(&w->ubufs);
}

/* ==== owner side ==== */

struct dp_proxy *dp_proxy_new(const struct dp_proxy_opts *opts)
{
    struct dp_proxy *p = calloc(1, sizeof(*p));
    struct dp_proxy_opts *o;

    if (p == NULL)
        return NULL;
    if (opts != NULL)
        p->opts = *opts;
    o = &p->opts;
    if (o->workers <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        o->workers = n > 0 ? (int)n : 1;
    }
#define DEF(f, v)                                                              \
    if (o->f == 0)                                                             \
    o->f = v
    DEF(head_timeout_ms, DP_PROXY_HEAD_TIMEOUT_MS);
    DEF(idle_timeout_ms, DP_PROXY_IDLE_TIMEOUT_MS);
    DEF(connect_timeout_ms, DP_PROXY_CONNECT_TIMEOUT_MS);
    DEF(route_timeout_ms, DP_PROXY_ROUTE_TIMEOUT_MS);
    DEF(pool_idle_ms, DP_PROXY_POOL_IDLE_MS);
    DEF(pool_max, DP_PROXY_POOL_MAX);
#undef DEF
    pthread_mutex_init(&p->mu, NULL);
    dp_table_slot_init(&p->slot);
    p->n_workers = o->workers;
    p->workers = calloc((size_t)p->n_workers, sizeof(*p->workers));
    p->filters = dp_filter_registry_new();
    if (p->workers == NULL || p->filters == NULL) {
        dp_filter_registry_free(p->filters);
        free(p->workers);
        pthread_mutex_destroy(&p->mu);
        free(p);
        return NULL;
    }
    return p;
}

int dp_proxy_start(struct dp_proxy *p)
{
    int r;

    for (int i = 0; i < p->n_workers; i++) {
        struct dp_proxy__worker *w = &p->workers[i];
        w->p = p;
        if ((r = dp_worker_start(&w->w, i, wk_init, w)) != 0) {
            dp_proxy_stop(p);
            return r;
        }
        p->n_started++;
    }
    if ((p->hc = dp_proxy__hc_start(p)) == NULL) {
        dp_proxy_stop(p);
        return GW_ENOMEM;
    }
    return GW_OK;
}

int dp_proxy_workers(const struct dp_proxy *p)
{
    return p->n_workers;
}

/* Posts the listener set of <t> to every worker. Holds p->mu. */
static void post_listeners(struct dp_proxy *p, const struct dp_table *t)
{
    struct lsn_sync *s = calloc(1, sizeof(*s));

    if (s == NULL)
        return;
    s->want = t != NULL ? dp_proxy__table_listeners(t, &s->n) : NULL;
    s->refs = p->n_started;
    for (int i = 0; i < p->n_started; i++) {
        if (dp_worker_post(&p->workers[i].w, wk_sync, s) != 0 &&
            __atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL) == 0) {
            free(s->want);
            free(s);
            return;
        }
    }
    if (p->n_started == 0) {
        free(s->want);
        free(s);
    }
}

struct dp_table *dp_proxy_build_table(struct dp_proxy *p,
                                      const struct dp_table_input *in,
                                      char *err, size_t len)
{
    struct dp_table_input x = *in;
    struct dp_table *t;

    pthread_mutex_lock(&p->mu);
    x.prev = dp_table_current(&p->slot);
    x.n_workers = p->n_workers;
    x.filters = p->filters;
    x.tls_flags |= DP_TLS_ALLOW_H2; /* TLS listeners offer "h2" in ALPN */
    t = dp_table_build(&x, err, len);
    pthread_mutex_unlock(&p->mu);
    return t;
}

int dp_proxy_set_table(struct dp_proxy *p, struct dp_table *t)
{
    pthread_mutex_lock(&p->mu);
    if (p->draining) {
        pthread_mutex_unlock(&p->mu);
        dp_table_free(t);
        return GW_EAGAIN;
    }
    /* Publish first: a listener a worker opens for <t> routes with <t>. */
    dp_table_publish(&p->slot, t);
    __atomic_add_fetch(&p->swaps, 1, __ATOMIC_RELAXED);
    post_listeners(p, t);
    pthread_mutex_unlock(&p->mu);
    return GW_OK;
}

int dp_proxy_with_table(struct dp_proxy *p,
                        int (*fn)(const struct dp_table *t, void *arg),
                        void *arg)
{
    int r;

    pthread_mutex_lock(&p->mu);
    r = fn(dp_table_current(&p->slot), arg);
    pthread_mutex_unlock(&p->mu);
    return r;
}

size_t dp_proxy__rstats_all(struct dp_proxy *p, struct dp_proxy__rstats ***v)
{
    *v = calloc((size_t)p->n_workers, sizeof(**v));
    if (*v == NULL)
        return 0;
    for (int i = 0; i < p->n_workers; i++)
        (*v)[i] = &p->workers[i].rstats;
    return (size_t)p->n_workers;
}

uint64_t dp_proxy__swaps(struct dp_proxy *p)
{
    return __atomic_load_n(&p->swaps, __ATOMIC_RELAXED);
}

void dp_proxy_drain(struct dp_proxy *p, uint32_t grace_ms)
{
    pthread_mutex_lock(&p->mu);
    p->draining = true;
    p->drain_grace_ms = grace_ms;
    for (int i = 0; i < p->n_started; i++)
        dp_worker_post(&p->workers[i].w, wk_drain, NULL);
    pthread_mutex_unlock(&p->mu);
}

void dp_proxy_stats(struct dp_proxy *p, struct dp_proxy_stats *out)
{
    memset(out, 0, sizeof(*out));
    for (int i = 0; i < p->n_started; i++) {
        const uint64_t *src = (const uint64_t *)&p->workers[i].st;
        uint64_t *dst = (uint64_t *)out;
        for (size_t k = 0; k < sizeof(*out) / sizeof(uint64_t); k++)
            dst[k] += __atomic_load_n(&src[k], __ATOMIC_RELAXED);
    }
    out->table_swaps = __atomic_load_n(&p->swaps, __ATOMIC_RELAXED);
    dp_proxy__hc_stats(p->hc, out);
}

void dp_proxy_stop(struct dp_proxy *p)
{
    dp_proxy__hc_stop(p->hc);
    p->hc = NULL;
    for (int i = 0; i < p->n_started; i++)
        dp_worker_stop(&p->workers[i].w, wk_fini, NULL);
    for (int i = 0; i < p->n_started; i++) {
        struct dp_proxy__worker *w = &p->workers[i];
        dp_worker_join(&w->w);
        for (int b = 0; b < DP_PROXY__POOL_HASH; b++) {
            struct dp_proxy__pool *pl, *next;
            for (pl = w->pools[b]; pl != NULL; pl = next) {
                next = pl->next;
                free(pl);
            }
            w->pools[b] = NULL;
        }
    }
    p->n_started = 0;
}

void dp_proxy_free(struct dp_proxy *p)
{
    if (p == NULL)
        return;
    dp_table_slot_deinit(&p->slot);
    dp_filter_registry_free(p->filters); /* after the tables' chains */
    for (int i = 0; i < p->n_workers; i++)
        dp_proxy__rstats_deinit(&p->workers[i].rstats);
    pthread_mutex_destroy(&p->mu);
    free(p->workers);
    free(p);
}
