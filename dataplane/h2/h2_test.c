/*
 * h2_test.c -- a client and a server session wired back to back in memory:
 * request/response with bodies and trailers, flow control as backpressure,
 * the rapid-reset and PING flood cut-offs, and the header translations.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/http1/http1.h"
#include "dataplane/h2/h2.h"

/* ==== an in-memory pipe per direction ==== */

struct pipe_ {
    uint8_t *p;
    size_t len, cap;
    bool stall; /* send() stays pending */
};

static int pipe_send(void *arg, const uint8_t *p, size_t n)
{
    struct pipe_ *q = arg;

    if (q->stall)
        return 0;
    if (q->len + n > q->cap) {
        q->cap = (q->len + n) * 2;
        q->p = realloc(q->p, q->cap);
    }
    memcpy(q->p + q->len, p, n);
    q->len += n;
    return 1;
}

/* What one side saw. */
struct side {
    struct dp_h2_session *s;
    int32_t sid;
    int heads, trailers, ends, closes;
    uint32_t close_code;
    char path[64], status_field[16], trl_value[32];
    size_t data;
    bool consume; /* consume data at once */
    int user;     /* a stream user pointer target */
};

static int on_headers(void *arg, int32_t sid, void *user,
                      const struct dp_h2_head *h)
{
    struct side *sd = arg;

    if (user == NULL)
        dp_h2_set_user(sd->s, sid, &sd->user);
    sd->sid = sid;
    if (h->kind == DP_H2_TRAILERS) {
        const struct dp_h2_field *f = dp_h2_find(h, "grpc-status", 11);
        sd->trailers++;
        if (f != NULL)
            memcpy(sd->trl_value, f->value.p, f->value.len);
        return 0;
    }
    sd->heads++;
    if (h->path.p != NULL)
        memcpy(sd->path, h->path.p, h->path.len);
    snprintf(sd->status_field, sizeof(sd->status_field), "%d", h->status);
    return 0;
}

static void on_data(void *arg, void *user, const uint8_t *p, size_t n)
{
    struct side *sd = arg;

    sd->data += n;
    if (sd->consume)
        dp_h2_consume(sd->s, sd->sid, n);
}

static void on_end(void *arg, void *user)
{
    ((struct side *)arg)->ends++;
}

static void on_close(void *arg, void *user, uint32_t code)
{
    struct side *sd = arg;

    sd->closes++;
    sd->close_code = code;
}

static const struct dp_h2_cbs cbs = {on_headers, on_data, on_end, on_close,
                                     NULL};

struct pair {
    struct pipe_ c2s, s2c;
    struct side cli, srv;
};

static void pair_init(struct pair *pr)
{
    struct dp_h2_io ci = {pipe_send, &pr->c2s}, si = {pipe_send, &pr->s2c};

    memset(pr, 0, sizeof(*pr));
    pr->cli.consume = pr->srv.consume = true;
    pr->cli.s = dp_h2_session_new(DP_H2_CLIENT, NULL, &ci, &cbs, &pr->cli);
    pr->srv.s = dp_h2_session_new(DP_H2_SERVER, NULL, &si, &cbs, &pr->srv);
    assert_non_null(pr->cli.s);
    assert_non_null(pr->srv.s);
}

static void pair_free(struct pair *pr)
{
    dp_h2_session_free(pr->cli.s);
    dp_h2_session_free(pr->srv.s);
    free(pr->c2s.p);
    free(pr->s2c.p);
}

static void dump(const char *who, const uint8_t *p, size_t n)
{
    size_t i = 0;

    if (!getenv("H2DBG"))
        return;
    if (n >= 24 && memcmp(p, "PRI", 3) == 0)
        i = 24;
    while (i + 9 <= n) {
        size_t l = (size_t)p[i] << 16 | p[i + 1] << 8 | p[i + 2];
        fprintf(stderr, "  %s type=%d flags=%x sid=%d len=%zu\n", who, p[i + 3],
                p[i + 4], p[i + 8], l);
        i += 9 + l;
    }
}

/* Moves bytes both ways until quiet; returns the last feed error. */
static int pump(struct pair *pr)
{
    int err = 0;

    for (int i = 0; i < 1000; i++) {
        size_t a, b;
        uint8_t *ca, *cb;
        int r;
        dp_h2_flush(pr->cli.s);
        dp_h2_flush(pr->srv.s);
        a = pr->c2s.len;
        b = pr->s2c.len;
        if (a == 0 && b == 0)
            break;
        ca = malloc(a + 1);
        cb = malloc(b + 1);
        memcpy(ca, pr->c2s.p, a);
        memcpy(cb, pr->s2c.p, b);
        pr->c2s.len = pr->s2c.len = 0;
        dump("c2s", ca, a);
        dump("s2c", cb, b);
        if (a > 0 && (r = dp_h2_feed(pr->srv.s, ca, a)) != 0)
            err = r;
        if (b > 0 && (r = dp_h2_feed(pr->cli.s, cb, b)) != 0)
            err = r;
        free(ca);
        free(cb);
    }
    return err;
}

#define F(n, v)                                                                \
    {                                                                          \
        {n, sizeof(n) - 1},                                                    \
        {                                                                      \
            v, sizeof(v) - 1                                                   \
        }                                                                      \
    }

static const struct dp_h2_field req_f[] = {
    F(":method", "POST"), F(":scheme", "http"), F(":authority", "a.test"),
    F(":path", "/pkg.Svc/M"), F("content-type", "application/grpc")};

static void test_roundtrip(void **state)
{
    struct pair pr;
    static char body[100000];
    const struct dp_h2_field resp[] = {F(":status", "200"),
                                       F("content-type", "application/grpc")};
    const struct dp_h2_field trl[] = {F("grpc-status", "7")};
    int32_t sid;

    pair_init(&pr);
    sid = dp_h2_request(pr.cli.s, req_f, 5, false, &pr.cli.user);
    assert_true(sid > 0);
    pr.cli.sid = sid;
    assert_int_equal(dp_h2_write(pr.cli.s, sid, body, sizeof(body)), 0);
    assert_int_equal(dp_h2_end(pr.cli.s, sid, NULL, 0), 0);
    assert_int_equal(pump(&pr), 0);
    assert_int_equal(pr.srv.heads, 1);
    assert_string_equal(pr.srv.path, "/pkg.Svc/M");
    assert_int_equal(pr.srv.data, sizeof(body));
    assert_int_equal(pr.srv.ends, 1);
    assert_int_equal(dp_h2_respond(pr.srv.s, pr.srv.sid, resp, 2, false), 0);
    assert_int_equal(dp_h2_write(pr.srv.s, pr.srv.sid, "hello", 5), 0);
    assert_int_equal(dp_h2_end(pr.srv.s, pr.srv.sid, trl, 1), 0);
    assert_int_equal(pump(&pr), 0);
    assert_int_equal(pr.cli.heads, 1);
    assert_string_equal(pr.cli.status_field, "200");
    assert_int_equal(pr.cli.data, 5);
    assert_int_equal(pr.cli.trailers, 1);
    assert_string_equal(pr.cli.trl_value, "7");
    assert_int_equal(pr.cli.ends, 1);
    assert_int_equal(pr.cli.closes, 1);
    assert_int_equal(pr.srv.closes, 1);
    assert_int_equal(dp_h2_open_streams(pr.srv.s), 0);
    pair_free(&pr);
}

/* The server does not consume: the client can send one window, no more. */
static void test_flow_control(void **state)
{
    struct pair pr;
    static char body[2 * 1024 * 1024];
    int32_t sid;

    pair_init(&pr);
    pr.srv.consume = false;
    sid = dp_h2_request(pr.cli.s, req_f, 5, false, &pr.cli.user);
    assert_int_equal(dp_h2_write(pr.cli.s, sid, body, sizeof(body)), 0);
    pump(&pr);
    assert_true(pr.srv.data > 0);
    assert_true(pr.srv.data <= DP_H2_WINDOW_DEF);
    assert_true(dp_h2_queued(pr.cli.s, sid) >= sizeof(body) - DP_H2_WINDOW_DEF);
    dp_h2_consume(pr.srv.s, pr.srv.sid, pr.srv.data);
    pump(&pr);
    assert_true(pr.srv.data > DP_H2_WINDOW_DEF);
    assert_true(pr.srv.data <= 2 * DP_H2_WINDOW_DEF);
    pair_free(&pr);
}

/* Streams opened and reset at once: the server ends the connection. */
static void test_rapid_reset(void **state)
{
    struct pair pr;
    struct dp_h2_stats st;

    pair_init(&pr);
    for (int i = 0; i < 400 && !dp_h2_done(pr.srv.s); i++) {
        int32_t sid = dp_h2_request(pr.cli.s, req_f, 5, true, NULL);
        if (sid < 0)
            break;
        pump(&pr);
        dp_h2_reset(pr.cli.s, sid, 8 /* CANCEL */);
        pump(&pr);
    }
    dp_h2_stats(pr.srv.s, &st);
    assert_true(st.flooded);
    assert_true(st.premature_resets > DP_H2_PREMATURE_MAX_DEF);
    assert_true(st.premature_resets < 200);
    assert_true(dp_h2_done(pr.srv.s));
    assert_false(dp_h2_can_open(pr.cli.s)); /* GOAWAY received */
    pair_free(&pr);
}

/* PINGs while our output is stuck: cut off, not buffered without end. */
static void test_ping_flood(void **state)
{
    struct pair pr;
    static const uint8_t ping[17] = {0, 0, 8, 6, 0, 0, 0, 0, 0};
    static const uint8_t settings[9] = {0, 0, 0, 4, 0, 0, 0, 0, 0};
    int r = 0, i;

    pair_init(&pr);
    pr.s2c.stall = true;
    assert_int_equal(
        dp_h2_feed(pr.srv.s, (const uint8_t *)DP_H2_PREFACE, DP_H2_PREFACE_LEN),
        0);
    assert_int_equal(dp_h2_feed(pr.srv.s, settings, 9), 0);
    for (i = 0; i < 5000 && r == 0; i++)
        r = dp_h2_feed(pr.srv.s, ping, sizeof(ping));
    assert_true(r < 0);
    assert_true(i < 1100);
    pr.s2c.stall = false;
    dp_h2_sent(pr.srv.s);
    assert_true(dp_h2_done(pr.srv.s));
    pair_free(&pr);
}

/* ==== translation ==== */

static void test_req_to_h1(void **state)
{
    const struct dp_h2_field f[] = {
        F("cookie", "a=1"),       F("accept", "*/*"),
        F("cookie", "b=2"),       F("te", "trailers"),
        F("content-length", "5"), F("x-forwarded-for", "10.0.0.1")};
    struct dp_h2_head h = {.method = {"GET", 3},
                           .scheme = {"http", 4},
                           .authority = {"a.test", 6},
                           .path = {"/x?y=1", 6},
                           .f = f,
                           .n = 6};
    struct dp_h2_h1req o = {.client = {"127.0.0.1", 9},
                            .extra = {"X-A: 1\r\n", 8}};
    char out[1024];
    int n = dp_h2_req_to_h1(&h, &o, out, sizeof(out));

    assert_true(n > 0);
    out[n] = '\0';
    assert_string_equal(out, "GET /x?y=1 HTTP/1.1\r\nHost: a.test\r\n"
                             "accept: */*\r\ncontent-length: 5\r\n"
                             "cookie: a=1; b=2\r\n"
                             "X-Forwarded-For: 10.0.0.1, 127.0.0.1\r\n"
                             "X-Forwarded-Proto: http\r\n"
                             "X-Forwarded-Host: a.test\r\nX-A: 1\r\n\r\n");
    o.chunked = true;
    n = dp_h2_req_to_h1(&h, &o, out, sizeof(out));
    out[n] = '\0';
    assert_null(strstr(out, "content-length"));
    assert_non_null(strstr(out, "Transfer-Encoding: chunked\r\n\r\n"));
    assert_int_equal(dp_h2_req_to_h1(&h, &o, out, 40), GW_ETOOBIG);
    h.path.p = NULL;
    assert_int_equal(dp_h2_req_to_h1(&h, &o, out, sizeof(out)), GW_EINVAL);
}

static void test_h1_to_h2(void **state)
{
    char resp[] = "HTTP/1.1 404 Nope\r\nContent-Type: text/plain\r\n"
                  "Connection: close, X-Hop\r\nX-Hop: 1\r\n"
                  "Transfer-Encoding: chunked\r\n\r\n";
    char req[] = "PUT /a?b HTTP/1.1\r\nHost: h.test\r\nTE: trailers\r\n"
                 "Keep-Alive: 5\r\nX-Y: z\r\n\r\n";
    struct cm_h1_hdr hd[16];
    struct cm_h1_resp r;
    struct cm_h1_req q;
    struct dp_h2_field f[16];
    char st[4];
    int n;

    cm_h1_resp_init(&r, hd, 16, NULL);
    cm_h1_resp_reset(&r, CM_H1_M_GET);
    assert_true(cm_h1_resp_parse(&r, resp, strlen(resp)) > 0);
    n = dp_h2_resp_from_h1(&r, resp, st, f, 16);
    assert_int_equal(n, 2);
    assert_memory_equal(f[0].value.p, "404", 3);
    assert_memory_equal(f[1].name.p, "content-type", 12);
    cm_h1_req_init(&q, hd, 16, NULL);
    assert_true(cm_h1_req_parse(&q, req, strlen(req)) > 0);
    n = dp_h2_req_from_h1(&q, req, f, 16);
    assert_int_equal(n, 6);
    assert_memory_equal(f[2].value.p, "h.test", 6);
    assert_memory_equal(f[3].value.p, "/a?b", 4);
    assert_memory_equal(f[4].name.p, "te", 2);
    assert_memory_equal(f[5].name.p, "x-y", 3);
    assert_int_equal(dp_h2_req_from_h1(&q, req, f, 3), GW_ETOOBIG);
}

static void test_misc(void **state)
{
    const struct dp_h2_field f[] = {F("grpc-status", "0"),
                                    F("content-length", "9")};
    struct dp_h2_head h = {.status = 200, .f = f, .n = 2};
    char lines[] = "X-A: 1\r\nX-B:2 \r\n", out[256];
    struct dp_h2_field g[4];
    size_t n = 0;
    uint64_t ms;
    int k;

    assert_int_equal(dp_h2_fields_from_lines(lines, strlen(lines), g, 4, &n),
                     0);
    assert_int_equal(n, 2);
    assert_memory_equal(g[0].name.p, "x-a", 3);
    assert_int_equal(g[1].value.len, 1);
    k = dp_h2_resp_to_h1(&h, true, out, sizeof(out));
    out[k] = '\0';
    assert_string_equal(out, "HTTP/1.1 200 \r\ngrpc-status: 0\r\n"
                             "transfer-encoding: chunked\r\n\r\n");
    k = dp_h2_trailers_to_h1(f, 1, out, sizeof(out));
    out[k] = '\0';
    assert_string_equal(out, "0\r\ngrpc-status: 0\r\n\r\n");
    assert_int_equal(dp_h2_grpc_timeout_ms("250m", 4, &ms), 0);
    assert_int_equal(ms, 250);
    assert_int_equal(dp_h2_grpc_timeout_ms("2S", 2, &ms), 0);
    assert_int_equal(ms, 2000);
    assert_int_equal(dp_h2_grpc_timeout_ms("1500u", 5, &ms), 0);
    assert_int_equal(ms, 2);
    assert_int_equal(dp_h2_grpc_timeout_ms("5x", 2, &ms), GW_EINVAL);
    assert_int_equal(dp_h2_grpc_timeout_ms("123456789S", 10, &ms), GW_EINVAL);
    assert_true(dp_h2_is_hop("Connection", 10, "", 0));
    assert_false(dp_h2_is_hop("te", 2, "trailers", 8));
    assert_true(dp_h2_is_hop("te", 2, "gzip", 4));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),   cmocka_unit_test(test_flow_control),
        cmocka_unit_test(test_rapid_reset), cmocka_unit_test(test_ping_flood),
        cmocka_unit_test(test_req_to_h1),   cmocka_unit_test(test_h1_to_h2),
        cmocka_unit_test(test_misc),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
