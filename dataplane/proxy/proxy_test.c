/*
 * proxy_test.c -- unit tests of the proxy: local responses, reason phrases,
 * building a table from a translated configuration through the engine
 * (runtime state carried over by the next build), the engine's lifecycle,
 * active health checks against a loopback server and a closed port, the
 * idle timeout of h2c upstream connections (a minimal h2 server), the
 * retry back-off (Traefik's initialInterval), and,
 * on a bare worker, outlier ejection and circuit breaker accounting.
 * Request forwarding is tested by integration/dataplane/run.sh.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "common/config/config.h"
#include "common/net/net.h"
#include "common/xds/xds.h"
#include "dataplane/proxy/proxy.h"
#include "dataplane/proxy/proxy_int.h"
#include "dataplane/table/table.h"

static void test_local_response(void **state)
{
    char out[512];
    int n =
        dp_proxy_local_response(out, sizeof(out), 404, NULL, "nope\n", 5, 0, 0);

    assert_true(n > 0);
    out[n] = '\0';
    assert_non_null(strstr(out, "HTTP/1.1 404 Not Found\r\n"));
    assert_non_null(strstr(out, "Content-Length: 5\r\n"));
    assert_null(strstr(out, "Connection: close"));
    assert_string_equal(out + n - 9, "\r\n\r\nnope\n");
}

static void test_local_response_close_location_head(void **state)
{
    char out[512];
    int n = dp_proxy_local_response(out, sizeof(out), 301, "https://x/y",
                                    "moved", 5, 1, 1);

    assert_true(n > 0);
    out[n] = '\0';
    assert_non_null(strstr(out, "Location: https://x/y\r\n"));
    assert_non_null(strstr(out, "Connection: close\r\n"));
    assert_non_null(strstr(out, "Content-Length: 5\r\n"));
    /* HEAD: no body bytes */
    assert_string_equal(out + n - 4, "\r\n\r\n");
}

static void test_local_response_too_big(void **state)
{
    char out[64];

    assert_int_equal(
        dp_proxy_local_response(out, sizeof(out), 502, NULL, "x", 1, 1, 0),
        GW_ETOOBIG);
}

static void test_reason(void **state)
{
    assert_string_equal(dp_proxy_reason(502), "Bad Gateway");
    assert_string_equal(dp_proxy_reason(431),
                        "Request Header Fields Too Large");
    assert_string_equal(dp_proxy_reason(299), "Unknown");
}

static int port_of(const struct sockaddr_storage *a)
{
    return cm_net_port((const struct sockaddr *)a);
}

static const char *yaml =
    "entryPoints:\n"
    "  web: {address: \"127.0.0.1:18000\"}\n"
    "http:\n"
    "  routers:\n"
    "    r: {rule: \"Host(`a`)\", service: s}\n"
    "  services:\n"
    "    s:\n"
    "      loadBalancer:\n"
    "        servers:\n"
    "          - url: \"http://127.0.0.1:9001\"\n"
    "          - {url: \"http://127.0.0.1:9002\", weight: 3}\n"
    "          - {url: \"http://127.0.0.1:9003\", weight: 0}\n";

static struct dp_table *table_from(struct dp_proxy *p, const char *doc,
                                   char *err, size_t len)
{
    struct cm_config *cfg = cm_config_parse(doc, strlen(doc), err, len);
    struct cm_xds_resources *res;
    struct dp_table_input in;
    struct dp_table *t;

    assert_non_null(cfg);
    res = cm_xds_translate(cfg, "v1", err, len);
    cm_config_free(cfg);
    assert_non_null(res);
    in = (struct dp_table_input){.listeners = res->listeners,
                                 .n_listeners = res->n_listeners,
                                 .routes = res->routes,
                                 .n_routes = res->n_routes,
                                 .clusters = res->clusters,
                                 .n_clusters = res->n_clusters,
                                 .endpoints = res->endpoints,
                                 .n_endpoints = res->n_endpoints};
    t = dp_proxy_build_table(p, &in, err, len);
    cm_xds_resources_free(res);
    return t;
}

static int cur_state(const struct dp_table *t, void *arg)
{
    const struct dp_cluster *c = t ? dp_table_cluster(t, "s") : NULL;

    *(struct dp_cluster_state **)arg = c ? dp_cluster_state_of(c) : NULL;
    return t != NULL;
}

static void test_table_from_config(void **state)
{
    struct dp_proxy_opts o = {.workers = 3};
    struct dp_proxy *p = dp_proxy_new(&o);
    char err[CM_ERR_LEN] = "";
    struct dp_table *t = table_from(p, yaml, err, sizeof(err));
    const struct dp_listener *l;
    const struct dp_cluster *cl;
    struct dp_cluster_state *st = NULL, *st2 = NULL;

    assert_non_null(t);
    l = dp_table_listener_by_name(t, "web");
    assert_non_null(l);
    assert_non_null(dp_table_router(t, l->route_config_name));
    assert_int_equal(port_of(&l->addr.sa), 18000);
    cl = dp_table_cluster(t, "s");
    assert_non_null(cl);
    /* the weight-0 (drained) server is not an endpoint */
    assert_int_equal(cl->n_endpoints, 2);
    assert_int_equal(cl->endpoints[1].weight, 3);
    /* per-worker rows: a worker id past n_workers is refused */
    assert_true(dp_table_pick(cl, cl->state, 2, 0) >= 0);
    assert_int_equal(dp_table_pick(cl, cl->state, 3, 0), GW_EINVAL);
    assert_int_equal(dp_proxy_set_table(p, t), 0);
    /* the next build takes the published table's state (same endpoints) */
    assert_int_equal(dp_proxy_with_table(p, cur_state, &st), 1);
    t = table_from(p, yaml, err, sizeof(err));
    assert_non_null(t);
    assert_ptr_equal(dp_cluster_state_of(dp_table_cluster(t, "s")), st);
    assert_int_equal(dp_proxy_set_table(p, t), 0);
    assert_int_equal(dp_proxy_with_table(p, cur_state, &st2), 1);
    assert_ptr_equal(st, st2);
    dp_proxy_free(p);
}

static void test_engine_lifecycle(void **state)
{
    struct dp_proxy_opts o = {.workers = 2};
    struct dp_proxy *p = dp_proxy_new(&o);
    struct dp_proxy_stats st;
    char err[CM_ERR_LEN] = "";
    struct dp_table *t;

    assert_non_null(p);
    assert_int_equal(dp_proxy_start(p), 0);
    assert_int_equal(dp_proxy_workers(p), 2);
    t = table_from(p, yaml, err, sizeof(err));
    assert_int_equal(dp_proxy_set_table(p, t), 0);
    dp_proxy_stats(p, &st);
    assert_int_equal(st.table_swaps, 1);
    assert_int_equal(st.conns_active, 0);
    dp_proxy_drain(p, 0);
    /* after draining, tables are refused (and freed) */
    t = table_from(p, yaml, err, sizeof(err));
    assert_int_equal(dp_proxy_set_table(p, t), GW_EAGAIN);
    dp_proxy_stop(p);
    dp_proxy_free(p);
}

/* ==== active health checks ==== */

struct http_srv {
    int fd;
    pthread_t th;
    int hits;
};

/* Answers every connection with 200 until the socket is shut down. */
static void *srv_main(void *arg)
{
    struct http_srv *s = arg;
    static const char ok[] =
        "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    char buf[1024];
    int c;

    while ((c = accept(s->fd, NULL, NULL)) != -1) {
        if (read(c, buf, sizeof(buf)) > 0 && strstr(buf, "GET /hc ") != NULL) {
            __atomic_add_fetch(&s->hits, 1, __ATOMIC_RELAXED);
            if (write(c, ok, sizeof(ok) - 1) < 0)
                break;
        }
        close(c);
    }
    return NULL;
}

static int listen_any(int *port)
{
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(fd, 16), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

struct eligible {
    bool up[2];
};

static int eligible_cb(const struct dp_table *t, void *arg)
{
    struct eligible *e = arg;
    const struct dp_cluster *c = dp_table_cluster(t, "s");

    for (size_t i = 0; i < 2; i++)
        e->up[i] = dp_cluster_state_eligible(c->state, i);
    return 0;
}

static void test_active_health_checks(void **state)
{
    struct dp_proxy_opts o = {.workers = 1};
    struct dp_proxy *p = dp_proxy_new(&o);
    struct http_srv srv = {0};
    struct dp_proxy_stats st;
    struct eligible e;
    char doc[1024], err[CM_ERR_LEN] = "";
    int good, dead, dead_fd;

    srv.fd = listen_any(&good);
    dead_fd = listen_any(&dead);
    close(dead_fd); /* connections to <dead> are refused */
    snprintf(doc, sizeof(doc),
             "entryPoints:\n"
             "  web: {address: \"127.0.0.1:18001\"}\n"
             "http:\n"
             "  routers:\n"
             "    r: {rule: \"Host(`a`)\", service: s}\n"
             "  services:\n"
             "    s:\n"
             "      loadBalancer:\n"
             "        servers:\n"
             "          - url: \"http://127.0.0.1:%d\"\n"
             "          - url: \"http://127.0.0.1:%d\"\n"
             "        healthCheck: {path: /hc, interval: 50ms, timeout: 1s}\n",
             good, dead);
    assert_int_equal(pthread_create(&srv.th, NULL, srv_main, &srv), 0);
    assert_int_equal(dp_proxy_start(p), 0);
    assert_int_equal(dp_proxy_set_table(p, table_from(p, doc, err, 1024)), 0);
    for (int i = 0; i < 100; i++) {
        dp_proxy_with_table(p, eligible_cb, &e);
        dp_proxy_stats(p, &st);
        if (!e.up[1] && st.hc_checks >= 4 &&
            __atomic_load_n(&srv.hits, __ATOMIC_RELAXED) >= 2)
            break;
        usleep(20000);
    }
    assert_true(e.up[0]);
    assert_false(e.up[1]);
    assert_int_equal(st.hc_unhealthy, 1);
    assert_true(st.hc_failures >= 1);
    assert_true(__atomic_load_n(&srv.hits, __ATOMIC_RELAXED) >= 2);
    dp_proxy_stop(p);
    dp_proxy_free(p);
    shutdown(srv.fd, SHUT_RDWR);
    close(srv.fd);
    pthread_join(srv.th, NULL);
}

/* ==== idle h2c upstream connections ==== */

struct h2_srv {
    int fd;
    pthread_t th;
    int served; /* responses sent */
    int closed; /* the proxy closed the connection (EOF seen) */
};

static bool srv_write(int c, const uint8_t *p, size_t n)
{
    return write(c, p, n) == (ssize_t)n;
}

/* Handles the frames in <b>: SETTINGS acked, HEADERS answered with a bare
 * ":status: 200" (HPACK static index 8) ending the stream. Returns the
 * bytes used (whole frames only), or -1 on a write error. */
static ssize_t h2_frames(struct h2_srv *s, int c, const uint8_t *b, size_t n)
{
    static const uint8_t ack[] = {0, 0, 0, 4, 1, 0, 0, 0, 0};
    size_t off = 0;

    while (n - off >= 9) {
        const uint8_t *f = b + off;
        size_t len = (size_t)f[0] << 16 | (size_t)f[1] << 8 | f[2];
        if (n - off < 9 + len)
            break;
        if (f[3] == 4 && !(f[4] & 1) && !srv_write(c, ack, sizeof(ack)))
            return -1;
        if (f[3] == 1) {
            uint8_t h[10] = {0,           0,    1,    1,    5,
                             f[5] & 0x7f, f[6], f[7], f[8], 0x88};
            if (!srv_write(c, h, sizeof(h)))
                return -1;
            __atomic_add_fetch(&s->served, 1, __ATOMIC_RELAXED);
        }
        off += 9 + len;
    }
    return (ssize_t)off;
}

/* One h2c connection: preface, frames, until EOF (or 5 s of silence). */
static void *h2_srv_main(void *arg)
{
    static const uint8_t settings[] = {0, 0, 0, 4, 0, 0, 0, 0, 0};
    struct h2_srv *s = arg;
    struct timeval tv = {.tv_sec = 5};
    uint8_t b[16384];
    size_t have = 0;
    bool preface = false;
    ssize_t r, used;
    int c = accept(s->fd, NULL, NULL);

    if (c < 0)
        return NULL;
    setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (!srv_write(c, settings, sizeof(settings)))
        goto out;
    while ((r = read(c, b + have, sizeof(b) - have)) > 0) {
        have += (size_t)r;
        if (!preface && have >= 24) {
            memmove(b, b + 24, have - 24);
            have -= 24;
            preface = true;
        }
        if (!preface || (used = h2_frames(s, c, b, have)) < 0)
            continue;
        memmove(b, b + used, have - (size_t)used);
        have -= (size_t)used;
    }
    if (r == 0)
        __atomic_store_n(&s->closed, 1, __ATOMIC_RELAXED);
out:
    close(c);
    return NULL;
}

/* A connection to 127.0.0.1:<port>, or -1. */
static int connect_to(int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        fd = -1;
    }
    return fd;
}

/* Sends one HTTP/1.1 request to 127.0.0.1:<port> (retrying the connect
 * while the listener comes up); returns the response head's status. */
static int h1_get(int port)
{
    static const char rq[] = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    char buf[1024];
    size_t have = 0;
    ssize_t r;
    int fd = -1, st = -1;

    for (int i = 0; i < 100 && (fd = connect_to(port)) < 0; i++)
        usleep(20000);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, rq, sizeof(rq) - 1), sizeof(rq) - 1);
    while (have < sizeof(buf) - 1 &&
           (r = read(fd, buf + have, sizeof(buf) - 1 - have)) > 0) {
        have += (size_t)r;
        buf[have] = '\0';
        if (strstr(buf, "\r\n\r\n") != NULL)
            break;
    }
    buf[have] = '\0';
    if (sscanf(buf, "HTTP/1.1 %d", &st) != 1)
        st = -1;
    close(fd);
    return st;
}

/* A pooled h2c connection with no streams left closes after the pool idle
 * timeout, and the active upstream connection count drops to 0. */
static void test_h2c_upstream_idle_timeout(void **state)
{
    struct dp_proxy_opts o = {.workers = 1, .pool_idle_ms = 100};
    struct dp_proxy *p = dp_proxy_new(&o);
    struct h2_srv srv = {0};
    struct dp_proxy_stats st;
    char doc[1024], err[CM_ERR_LEN] = "";
    int up, lport, lfd;

    srv.fd = listen_any(&up);
    lfd = listen_any(&lport);
    close(lfd); /* a free port for the entry point */
    snprintf(doc, sizeof(doc),
             "entryPoints:\n"
             "  web: {address: \"127.0.0.1:%d\"}\n"
             "http:\n"
             "  routers:\n"
             "    r: {rule: \"Host(`a`)\", service: s}\n"
             "  services:\n"
             "    s:\n"
             "      loadBalancer:\n"
             "        servers:\n"
             "          - url: \"h2c://127.0.0.1:%d\"\n",
             lport, up);
    assert_int_equal(pthread_create(&srv.th, NULL, h2_srv_main, &srv), 0);
    assert_int_equal(dp_proxy_start(p), 0);
    assert_int_equal(dp_proxy_set_table(p, table_from(p, doc, err, 1024)), 0);
    assert_int_equal(h1_get(lport), 200);
    assert_int_equal(__atomic_load_n(&srv.served, __ATOMIC_RELAXED), 1);
    for (int i = 0; i < 150; i++) { /* 3 s, for 100 ms of idle timeout */
        dp_proxy_stats(p, &st);
        if (__atomic_load_n(&srv.closed, __ATOMIC_RELAXED) &&
            st.upstream_conns_active == 0)
            break;
        usleep(20000);
    }
    assert_int_equal(__atomic_load_n(&srv.closed, __ATOMIC_RELAXED), 1);
    assert_int_equal(st.upstream_conns_active, 0);
    dp_proxy_stop(p);
    dp_proxy_free(p);
    pthread_join(srv.th, NULL);
    close(srv.fd);
}

/* ==== retry back-off ==== */

/* ==== gRPC health responses ==== */

static void test_hc_grpc_status(void **state)
{
    (void)state;
    assert_int_equal(dp_proxy__hc_grpc_status((const uint8_t *)"", 0), 0);
    assert_int_equal(dp_proxy__hc_grpc_status((const uint8_t *)"\x08\x01", 2),
                     1); /* SERVING */
    assert_int_equal(
        dp_proxy__hc_grpc_status((const uint8_t *)"\x12\x01x\x08\x02", 5),
        2); /* NOT_SERVING after an unknown field */
    assert_int_equal(dp_proxy__hc_grpc_status((const uint8_t *)"\x08", 1), -1);
    assert_int_equal(dp_proxy__hc_grpc_status((const uint8_t *)"\x12\x05x", 3),
                     -1); /* length past the end */
    assert_int_equal(dp_proxy__hc_grpc_status((const uint8_t *)"\x09\x01", 2),
                     -1); /* fixed64 cut short */
    assert_int_equal(dp_proxy__hc_grpc_status((const uint8_t *)"\x0b", 1),
                     -1); /* group: not in this message */
}

static void test_retry_jitter(void **state)
{
    struct dp_proxy__worker w = {.rnd = 42};
    uint64_t lo = UINT64_MAX, hi = 0;

    (void)state;
    assert_int_equal(dp_proxy__jitter(&w, 0), 0);
    for (int i = 0; i < 1000; i++) {
        uint64_t v = dp_proxy__jitter(&w, 100);
        assert_true(v >= 50 && v <= 150);
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
    }
    assert_true(lo < 60 && hi > 140); /* spread, not a constant */
}

static void test_retry_backoff_values(void **state)
{
    struct dp_proxy__plan pl = {.backoff_ms = 100, .backoff_max_ms = 1000};

    assert_int_equal(dp_proxy__retry_backoff(&pl, 1), 100);
    assert_int_equal(dp_proxy__retry_backoff(&pl, 2), 200);
    assert_int_equal(dp_proxy__retry_backoff(&pl, 3), 400);
    assert_int_equal(dp_proxy__retry_backoff(&pl, 5), 1000); /* capped */
    assert_int_equal(dp_proxy__retry_backoff(&pl, 200), 1000);
    pl.backoff_ms = pl.backoff_max_ms = 0; /* no retry policy */
    assert_int_equal(dp_proxy__retry_backoff(&pl, 2), 0);
}

/* Traefik's retry{attempts, initialInterval}: the data node waits the
 * interval before the second attempt (two refused servers: 502 after). */
static void test_retry_backoff_waits(void **state)
{
    struct dp_proxy_opts o = {.workers = 1};
    struct dp_proxy *p = dp_proxy_new(&o);
    struct dp_proxy_stats st;
    struct timespec t0, t1;
    char doc[1024], err[CM_ERR_LEN] = "";
    int d1, d2, lport, fd = -1;
    long ms;

    close(listen_any(&d1)); /* refused */
    close(listen_any(&d2));
    close(listen_any(&lport));
    snprintf(doc, sizeof(doc),
             "entryPoints:\n"
             "  web: {address: \"127.0.0.1:%d\"}\n"
             "http:\n"
             "  routers:\n"
             "    r: {rule: \"Host(`a`)\", service: s, middlewares: [rt]}\n"
             "  middlewares:\n"
             "    rt: {retry: {attempts: 2, initialInterval: 300ms}}\n"
             "  services:\n"
             "    s:\n"
             "      loadBalancer:\n"
             "        servers:\n"
             "          - url: \"http://127.0.0.1:%d\"\n"
             "          - url: \"http://127.0.0.1:%d\"\n",
             lport, d1, d2);
    assert_int_equal(dp_proxy_start(p), 0);
    assert_int_equal(dp_proxy_set_table(p, table_from(p, doc, err, 1024)), 0);
    /* the listener is up once a connection is accepted */
    for (int i = 0; i < 100 && (fd = connect_to(lport)) < 0; i++)
        usleep(20000);
    assert_true(fd >= 0);
    close(fd);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(h1_get(lport), 502);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    dp_proxy_stats(p, &st);
    assert_int_equal(st.retries, 1);
    assert_true(ms >= 140); /* 300 ms, spread over [150, 450] */
    assert_true(ms < 3000);
    dp_proxy_stop(p);
    dp_proxy_free(p);
}

/* ==== passive health and circuit breaker, on a bare worker ==== */

struct bare {
    struct dp_proxy *p;
    struct dp_proxy__worker w;
    struct dp_proxy__conn c;
    struct dp_proxy__ex x;
    struct dp_cluster_state *st;
};

static void bare_init(struct bare *b)
{
    char err[CM_ERR_LEN] = "";
    struct dp_proxy_opts o = {.workers = 1};

    memset(b, 0, sizeof(*b));
    b->p = dp_proxy_new(&o);
    assert_int_equal(dp_proxy_set_table(b->p, table_from(b->p, yaml, err, 1)),
                     0);
    assert_int_equal(dp_proxy_with_table(b->p, cur_state, &b->st), 1);
    assert_int_equal(uv_loop_init(&b->w.w.loop), 0);
    uv_timer_init(&b->w.w.loop, &b->w.ol_timer);
    b->w.ol_timer.data = &b->w;
    b->c.w = &b->w;
    b->c.x = &b->x;
    b->x.plan.st = b->st;
    dp_cluster_state_ref(b->st);
    b->x.plan.active_ep = -1;
    b->x.plan.n_eps = 2;
    b->x.plan.n_cand = 1;
    b->x.plan.cand_ep[0] = 1;
}

static void bare_deinit(struct bare *b)
{
    dp_proxy__plan_release(&b->c);
    dp_proxy__outlier_clear(&b->w);
    uv_close((uv_handle_t *)&b->w.ol_timer, NULL);
    uv_run(&b->w.w.loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&b->w.w.loop), 0);
    dp_proxy_free(b->p);
}

static void test_outlier_ejection(void **state)
{
    struct bare b;
    struct dp_outlier *o = &b.x.plan.outlier;

    bare_init(&b);
    /* not configured: failures are not counted */
    for (int i = 0; i < 10; i++)
        dp_proxy__outlier_report(&b.c, 0, false);
    assert_true(dp_cluster_state_eligible(b.st, 1));
    *o = (struct dp_outlier){.enabled = true,
                             .consecutive_5xx = 3,
                             .max_ejection_percent = 10,
                             .base_ejection_time_ms = 30};
    /* a success in between resets the run */
    dp_proxy__outlier_report(&b.c, 0, false);
    dp_proxy__outlier_report(&b.c, 0, false);
    dp_proxy__outlier_report(&b.c, 0, true);
    dp_proxy__outlier_report(&b.c, 0, false);
    dp_proxy__outlier_report(&b.c, 0, false);
    assert_true(dp_cluster_state_eligible(b.st, 1));
    dp_proxy__outlier_report(&b.c, 0, false);
    assert_false(dp_cluster_state_eligible(b.st, 1));
    assert_true(dp_cluster_state_eligible(b.st, 0));
    assert_int_equal(b.w.st.ejections, 1);
    /* max_ejection_percent: one host always may be; a second may not */
    b.x.plan.cand_ep[0] = 0;
    for (int i = 0; i < 3; i++)
        dp_proxy__outlier_report(&b.c, 0, false);
    assert_true(dp_cluster_state_eligible(b.st, 0));
    /* base_ejection_time later the timer lifts the ejection */
    for (int i = 0; i < 100 && !dp_cluster_state_eligible(b.st, 1); i++) {
        usleep(5000);
        uv_run(&b.w.w.loop, UV_RUN_NOWAIT);
    }
    assert_true(dp_cluster_state_eligible(b.st, 1));
    assert_false(uv_is_active((uv_handle_t *)&b.w.ol_timer) && b.w.n_ol > 0 &&
                 b.w.ol[0].until != 0);
    bare_deinit(&b);
}

static void test_circuit_breaker(void **state)
{
    struct bare b;
    struct dp_proxy__conn c2;
    struct dp_proxy__ex x2;

    bare_init(&b);
    b.x.plan.cb.max_requests = 1;
    b.x.plan.n_cand = 2;
    b.x.plan.cand_ep[1] = 0;
    assert_int_equal(dp_proxy__plan_switch(&b.c, 0), 0);
    assert_int_equal(dp_cluster_state_inflight(b.st, 1), 1);
    /* a retry moves the in-flight count to the next endpoint */
    assert_int_equal(dp_proxy__plan_switch(&b.c, 1), 0);
    assert_int_equal(dp_cluster_state_inflight(b.st, 1), 0);
    assert_int_equal(dp_cluster_state_inflight(b.st, 0), 1);
    /* a second request on the cluster is over max_requests */
    c2 = b.c;
    x2 = b.x;
    c2.x = &x2;
    x2.plan.active_ep = -1;
    dp_cluster_state_ref(b.st);
    assert_int_equal(dp_proxy__plan_switch(&c2, 0), GW_ETOOBIG);
    dp_proxy__plan_release(&c2);
    assert_null(x2.plan.st);
    dp_proxy__plan_release(&b.c);
    assert_int_equal(dp_cluster_state_inflight(b.st, 0), 0);
    dp_proxy__plan_release(&b.c); /* idempotent */
    bare_deinit(&b);
}

/* ==== exchanges: per-request state off the idle connection ==== */

static void test_exchange_pool(void **state)
{
    struct dp_proxy__worker w;
    struct dp_proxy__ex *x, *y, *v[DP_PROXY__EX_FREE + 2];
    const char *r1 = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    const char *r2 = "PUT /x HTTP/1.1\r\nHost: b\r\n\r\n";

    memset(&w, 0, sizeof(w));
    x = dp_proxy__ex_get(&w);
    assert_non_null(x);
    /* a request's worth of state */
    assert_true(cm_h1_req_parse(&x->req, r1, strlen(r1)) > 0);
    x->plan.n_cand = 3;
    x->plan.active_ep = 2;
    x->tries = 2;
    x->req_done = x->resp_started = true;
    x->local = malloc(10);
    x->sb.p = malloc(512);
    x->sb.cap = 512;
    x->sb.len = 40;
    dp_proxy__ex_reset(x);
    assert_int_equal(x->plan.n_cand, 0);
    assert_int_equal(x->tries, 0);
    assert_false(x->req_done || x->resp_started);
    assert_null(x->local);
    assert_int_equal(x->sb.len, 0);
    assert_int_equal(x->sb.cap, 512); /* the strings' room is kept */
    /* the parser is ready for the next head */
    assert_true(cm_h1_req_parse(&x->req, r2, strlen(r2)) > 0);
    assert_int_equal(x->req.method, CM_H1_M_PUT);
    dp_proxy__ex_reset(x);
    /* given back, it is the next one handed out */
    dp_proxy__ex_put(&w, x);
    assert_int_equal(w.n_ex_free, 1);
    y = dp_proxy__ex_get(&w);
    assert_ptr_equal(y, x);
    assert_int_equal(w.n_ex_free, 0);
    assert_int_equal(y->sb.cap, 512);
    dp_proxy__ex_put(&w, y);
    /* the free list is bounded */
    for (size_t i = 0; i < DP_PROXY__EX_FREE + 2; i++)
        assert_non_null(v[i] = dp_proxy__ex_get(&w));
    for (size_t i = 0; i < DP_PROXY__EX_FREE + 2; i++)
        dp_proxy__ex_put(&w, v[i]);
    assert_int_equal(w.n_ex_free, DP_PROXY__EX_FREE);
    dp_proxy__ex_free_all(&w);
    assert_int_equal(w.n_ex_free, 0);
    assert_null(w.ex_free);
}

static void test_buf_cache(void **state)
{
    struct dp_proxy__bufs b = {.max = 2, .size = 64};
    char *p = dp_proxy__buf_get(&b), *q = dp_proxy__buf_get(&b);
    char *r = dp_proxy__buf_get(&b);

    assert_non_null(p);
    assert_non_null(q);
    assert_non_null(r);
    memset(p, 'p', 64);
    dp_proxy__buf_put(&b, p);
    dp_proxy__buf_put(&b, q);
    dp_proxy__buf_put(&b, r); /* over max: freed */
    dp_proxy__buf_put(&b, NULL);
    assert_int_equal(b.n, 2);
    assert_ptr_equal(dp_proxy__buf_get(&b), q); /* last in, first out */
    assert_ptr_equal(dp_proxy__buf_get(&b), p);
    assert_int_equal(b.n, 0);
    assert_null(b.head);
    assert_int_equal(p[63], 'p'); /* only the link bytes were used */
    dp_proxy__buf_put(&b, p);
    dp_proxy__buf_put(&b, q);
    dp_proxy__bufs_clear(&b);
    assert_int_equal(b.n, 0);
    assert_null(b.head);
}

/* What an idle keep-alive connection holds: no request state (headers,
 * plan) in the connection itself (bench/idle.sh measures the whole). */
static void test_idle_conn_small(void **state)
{
    assert_true(sizeof(struct dp_proxy__conn) < 1280);
    assert_true(sizeof(struct dp_proxy__ex) >
                DP_PROXY__HDR_MAX * sizeof(struct cm_h1_hdr));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_local_response),
        cmocka_unit_test(test_local_response_close_location_head),
        cmocka_unit_test(test_local_response_too_big),
        cmocka_unit_test(test_reason),
        cmocka_unit_test(test_table_from_config),
        cmocka_unit_test(test_engine_lifecycle),
        cmocka_unit_test(test_active_health_checks),
        cmocka_unit_test(test_h2c_upstream_idle_timeout),
        cmocka_unit_test(test_hc_grpc_status),
        cmocka_unit_test(test_retry_jitter),
        cmocka_unit_test(test_retry_backoff_values),
        cmocka_unit_test(test_retry_backoff_waits),
        cmocka_unit_test(test_outlier_ejection),
        cmocka_unit_test(test_circuit_breaker),
        cmocka_unit_test(test_exchange_pool),
        cmocka_unit_test(test_buf_cache),
        cmocka_unit_test(test_idle_conn_small),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
