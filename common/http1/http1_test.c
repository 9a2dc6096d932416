/*
 * http1_test.c -- unit tests of the HTTP/1.1 codec: request forms,
 * pipelining, resumption at every byte, smuggling vectors, limits,
 * responses, chunked bodies and the head writer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "common/err/err.h"
#include "common/http1/http1.h"

#define NH     100
#define S(lit) lit, sizeof(lit) - 1

struct rq {
    struct cm_h1_req r;
    struct cm_h1_hdr h[NH];
};

struct rs {
    struct cm_h1_resp r;
    struct cm_h1_hdr h[NH];
};

static int parse_n(struct rq *q, const char *s, size_t n)
{
    assert_int_equal(cm_h1_req_init(&q->r, q->h, NH, NULL), 0);
    return cm_h1_req_parse(&q->r, s, n);
}

static int parse(struct rq *q, const char *s)
{
    return parse_n(q, s, strlen(s));
}

static int rparse(struct rs *q, enum cm_h1_method m, const char *s)
{
    assert_int_equal(cm_h1_resp_init(&q->r, q->h, NH, NULL), 0);
    cm_h1_resp_reset(&q->r, m);
    return cm_h1_resp_parse(&q->r, s, strlen(s));
}

static void check_span(const char *buf, struct cm_h1_span sp, const char *want)
{
    assert_int_equal(sp.len, strlen(want));
    assert_memory_equal(buf + sp.off, want, sp.len);
}

static void check_hdr(const char *buf, const struct cm_h1_hdr *h,
                      const char *name, const char *value)
{
    check_span(buf, h->name, name);
    check_span(buf, h->value, value);
}

/* ==== valid requests ==== */

static const char GET1[] = "GET /index.html?x=1&y HTTP/1.1\r\n"
                           "Host: example.com\r\n"
                           "User-Agent:  curl/8.0 \r\n"
                           "Accept: */*\r\n"
                           "\r\n";

static void test_req_get(void **state)
{
    struct rq q;

    assert_int_equal(parse(&q, GET1), strlen(GET1));
    assert_int_equal(q.r.method, CM_H1_M_GET);
    check_span(GET1, q.r.method_raw, "GET");
    assert_int_equal(q.r.form, CM_H1_T_ORIGIN);
    check_span(GET1, q.r.target, "/index.html?x=1&y");
    check_span(GET1, q.r.path, "/index.html");
    check_span(GET1, q.r.query, "x=1&y");
    check_span(GET1, q.r.host, "example.com");
    check_span(GET1, q.r.msg.start, "GET /index.html?x=1&y HTTP/1.1");
    assert_int_equal(q.r.msg.minor, 1);
    assert_int_equal(q.r.msg.nhdr, 3);
    check_hdr(GET1, &q.h[0], "Host", "example.com");
    check_hdr(GET1, &q.h[1], "User-Agent", "curl/8.0");
    check_hdr(GET1, &q.h[2], "Accept", "*/*");
    assert_int_equal(q.h[0].id, CM_H1_H_HOST);
    assert_int_equal(q.h[1].id, CM_H1_H_OTHER);
    assert_int_equal(q.r.msg.body, CM_H1_BODY_NONE);
    assert_int_equal(q.r.msg.content_length, -1);
    assert_true(q.r.msg.flags & CM_H1_F_KEEPALIVE);
    assert_true(q.r.msg.flags & CM_H1_F_HAS_HOST);
    assert_false(q.r.msg.flags & CM_H1_F_CHUNKED);
    /* a second call after completion answers the same */
    assert_int_equal(cm_h1_req_parse(&q.r, GET1, strlen(GET1)), strlen(GET1));
}

static void test_req_no_query(void **state)
{
    const char *s = "DELETE /a/b HTTP/1.1\r\nHost: h\r\n\r\n";
    struct rq q;

    assert_int_equal(parse(&q, s), strlen(s));
    assert_int_equal(q.r.method, CM_H1_M_DELETE);
    check_span(s, q.r.path, "/a/b");
    assert_int_equal(q.r.query.len, 0);
}

static void test_req_post_length(void **state)
{
    const char *s = "POST /f HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\n"
                    "hello";
    struct rq q;

    assert_int_equal(parse(&q, s), strlen(s) - 5);
    assert_int_equal(q.r.method, CM_H1_M_POST);
    assert_int_equal(q.r.msg.body, CM_H1_BODY_LENGTH);
    assert_int_equal(q.r.msg.content_length, 5);
    assert_true(q.r.msg.flags & CM_H1_F_HAS_CL);
    assert_int_equal(q.h[1].id, CM_H1_H_CONTENT_LENGTH);
}

static void test_req_length_zero_and_dup(void **state)
{
    struct rq q;

    assert_true(parse(&q, "POST / HTTP/1.1\r\nHost: h\r\n"
                          "Content-Length: 0\r\n\r\n") > 0);
    assert_int_equal(q.r.msg.body, CM_H1_BODY_NONE);
    assert_int_equal(q.r.msg.content_length, 0);
    /* equal duplicates count as one (RFC 9112 6.3) */
    assert_true(parse(&q, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 7"
                          "\r\ncontent-length: 7\r\n\r\n") > 0);
    assert_int_equal(q.r.msg.content_length, 7);
    assert_true(parse(&q, "POST / HTTP/1.1\r\nHost: h\r\n"
                          "Content-Length: 9223372036854775807\r\n\r\n") > 0);
    assert_int_equal(q.r.msg.content_length, INT64_MAX);
}

static void test_req_chunked(void **state)
{
    struct rq q;

    assert_true(parse(&q, "POST / HTTP/1.1\r\nHost: h\r\n"
                          "Transfer-Encoding: chunked\r\n\r\n") > 0);
    assert_int_equal(q.r.msg.body, CM_H1_BODY_CHUNKED);
    assert_true(q.r.msg.flags & CM_H1_F_CHUNKED);
    assert_true(cm_h1_hdr_is_hop(&q.h[1]));
    assert_true(parse(&q, "POST / HTTP/1.1\r\nHost: h\r\n"
                          "Transfer-Encoding: gzip ,\tChunked\r\n\r\n") > 0);
    assert_int_equal(q.r.msg.body, CM_H1_BODY_CHUNKED);
    /* codings listed over two lines form one list */
    assert_true(parse(&q, "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: "
                          "deflate\r\nTransfer-Encoding: chunked\r\n\r\n") > 0);
    assert_int_equal(q.r.msg.body, CM_H1_BODY_CHUNKED);
}

static void test_req_absolute_form(void **state)
{
    const char *s = "GET http://example.com:8080/a/b?c=d HTTP/1.1\r\n"
                    "Host: other.example\r\n\r\n";
    struct rq q;

    assert_int_equal(parse(&q, s), strlen(s));
    assert_int_equal(q.r.form, CM_H1_T_ABSOLUTE);
    check_span(s, q.r.authority, "example.com:8080");
    check_span(s, q.r.path, "/a/b");
    check_span(s, q.r.query, "c=d");
    check_span(s, q.r.host, "example.com:8080"); /* Host is ignored */

    s = "GET https://[::1]?q HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_int_equal(parse(&q, s), strlen(s));
    check_span(s, q.r.authority, "[::1]");
    assert_int_equal(q.r.path.len, 0);
    check_span(s, q.r.query, "q");
}

static void test_req_connect_and_asterisk(void **state)
{
    const char *s = "CONNECT example.com:443 HTTP/1.1\r\n"
                    "Host: example.com:443\r\n\r\n";
    struct rq q;

    assert_int_equal(parse(&q, s), strlen(s));
    assert_int_equal(q.r.method, CM_H1_M_CONNECT);
    assert_int_equal(q.r.form, CM_H1_T_AUTHORITY);
    check_span(s, q.r.authority, "example.com:443");
    check_span(s, q.r.host, "example.com:443");
    s = "CONNECT [2001:db8::1]:443 HTTP/1.1\r\nHost: a\r\n\r\n";
    assert_int_equal(parse(&q, s), strlen(s));

    s = "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n";
    assert_int_equal(parse(&q, s), strlen(s));
    assert_int_equal(q.r.method, CM_H1_M_OPTIONS);
    assert_int_equal(q.r.form, CM_H1_T_ASTERISK);
}

static void test_req_other_method(void **state)
{
    const char *s = "PURGE /x HTTP/1.1\r\nHost: h\r\n\r\n";
    struct rq q;

    assert_int_equal(parse(&q, s), strlen(s));
    assert_int_equal(q.r.method, CM_H1_M_OTHER);
    check_span(s, q.r.method_raw, "PURGE");
    assert_int_equal(parse(&q, "get / HTTP/1.1\r\nHost: h\r\n\r\n") > 0, 1);
    assert_int_equal(q.r.method,
                     CM_H1_M_OTHER); /* methods are case-sensitive */
    assert_true(parse(&q, "HEAD / HTTP/1.1\r\nHost: h\r\n\r\n") > 0);
    assert_int_equal(q.r.method, CM_H1_M_HEAD);
    assert_true(parse(&q, "PATCH / HTTP/1.1\r\nHost: h\r\n\r\n") > 0);
    assert_int_equal(q.r.method, CM_H1_M_PATCH);
}

static void test_req_keepalive(void **state)
{
    struct rq q;

    assert_true(parse(&q, "GET / HTTP/1.0\r\n\r\n") > 0);
    assert_int_equal(q.r.msg.minor, 0);
    assert_false(q.r.msg.flags & CM_H1_F_KEEPALIVE);
    assert_int_equal(q.r.host.len, 0);
    assert_true(parse(&q, "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n") >
                0);
    assert_true(q.r.msg.flags & CM_H1_F_KEEPALIVE);
    assert_true(parse(&q, "GET / HTTP/1.1\r\nHost: h\r\n"
                          "Connection: foo, close\r\n\r\n") > 0);
    assert_false(q.r.msg.flags & CM_H1_F_KEEPALIVE);
    assert_true(q.r.msg.flags & CM_H1_F_CONN_CLOSE);
    assert_true(parse(&q, "GET / HTTP/1.0\r\n"
                          "Connection: keep-alive, close\r\n\r\n") > 0);
    assert_false(q.r.msg.flags & CM_H1_F_KEEPALIVE);
}

static void test_req_upgrade_expect(void **state)
{
    struct rq q;

    assert_true(parse(&q, "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: "
                          "Upgrade\r\nUpgrade: websocket\r\n\r\n") > 0);
    assert_true(q.r.msg.flags & CM_H1_F_UPGRADE);
    assert_true(parse(&q, "GET /ws HTTP/1.1\r\nHost: h\r\n"
                          "Upgrade: websocket\r\n\r\n") > 0);
    assert_false(q.r.msg.flags & CM_H1_F_UPGRADE);
    assert_true(parse(&q, "GET /ws HTTP/1.0\r\nConnection: upgrade\r\n"
                          "Upgrade: websocket\r\n\r\n") > 0);
    assert_false(q.r.msg.flags & CM_H1_F_UPGRADE);

    assert_true(parse(&q, "PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n"
                          "Expect: 100-Continue\r\n\r\n") > 0);
    assert_true(q.r.msg.flags & CM_H1_F_EXPECT_CONTINUE);
    assert_true(parse(&q, "PUT / HTTP/1.0\r\nContent-Length: 1\r\n"
                          "Expect: 100-continue\r\n\r\n") > 0);
    assert_false(q.r.msg.flags & CM_H1_F_EXPECT_CONTINUE);
}

static void test_req_connection_nominates(void **state)
{
    const char *s = "GET / HTTP/1.1\r\nHost: h\r\nX-Foo: 1\r\nX-Bar: 2\r\n"
                    "Content-Length: 0\r\nKeep-Alive: timeout=5\r\n"
                    "Connection: x-foo, host, content-length\r\n\r\n";
    struct rq q;

    assert_int_equal(parse(&q, s), strlen(s));
    assert_true(q.r.msg.flags & CM_H1_F_CONN_OTHER);
    assert_false(cm_h1_hdr_is_hop(&q.h[0])); /* Host is protected */
    assert_true(cm_h1_hdr_is_hop(&q.h[1]));  /* X-Foo */
    assert_false(cm_h1_hdr_is_hop(&q.h[2])); /* X-Bar */
    assert_false(cm_h1_hdr_is_hop(&q.h[3])); /* Content-Length too */
    assert_true(cm_h1_hdr_is_hop(&q.h[4]));  /* Keep-Alive */
    assert_true(cm_h1_hdr_is_hop(&q.h[5]));  /* Connection */
}

static void test_req_leading_empty_lines(void **state)
{
    const char *s = "\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n";
    struct rq q;

    assert_int_equal(parse(&q, s), strlen(s));
    check_span(s, q.r.msg.start, "GET / HTTP/1.1");
    assert_int_equal(parse(&q, "\nGET / HTTP/1.1\r\nHost: h\r\n\r\n"), -1);
}

static void test_req_pipelined(void **state)
{
    const char *s = "GET /1 HTTP/1.1\r\nHost: h\r\n\r\n"
                    "POST /2 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\n"
                    "abc"
                    "GET /3 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
    const char *want[] = {"/1", "/2", "/3"};
    size_t off = 0, len = strlen(s);
    struct rq q;

    assert_int_equal(cm_h1_req_init(&q.r, q.h, NH, NULL), 0);
    for (int i = 0; i < 3; i++) {
        int rc;
        cm_h1_req_reset(&q.r);
        rc = cm_h1_req_parse(&q.r, s + off, len - off);
        assert_true(rc > 0);
        check_span(s + off, q.r.path, want[i]);
        off += (size_t)rc;
        if (q.r.msg.body == CM_H1_BODY_LENGTH)
            off += (size_t)q.r.msg.content_length;
    }
    assert_int_equal(off, len);
    assert_false(q.r.msg.flags & CM_H1_F_KEEPALIVE);
    assert_int_equal(q.r.msg.nhdr, 2);
}

/* ==== resumption ==== */

static const char SAMPLE[] =
    "\r\nPOST http://api.example.com/v1/items?limit=10 HTTP/1.1\r\n"
    "Host: api.example.com\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64)\r\n"
    "Accept: application/json, text/plain;q=0.9\r\n"
    "Transfer-Encoding: gzip, chunked\r\n"
    "Connection: keep-alive, x-trace\r\n"
    "X-Trace: abc\r\n"
    "Expect: 100-continue\r\n"
    "X-Empty:\r\n"
    "\r\n";

static bool hdrs_eq(const struct cm_h1_hdr *a, const struct cm_h1_hdr *b,
                    uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        if (a[i].name.off != b[i].name.off || a[i].name.len != b[i].name.len ||
            a[i].value.off != b[i].value.off ||
            a[i].value.len != b[i].value.len || a[i].id != b[i].id ||
            a[i].flags != b[i].flags)
            return false;
    }
    return true;
}

static void same_req(const struct cm_h1_req *a, const struct cm_h1_req *b)
{
    assert_int_equal(a->msg.head_len, b->msg.head_len);
    assert_int_equal(a->msg.flags, b->msg.flags);
    assert_int_equal(a->msg.body, b->msg.body);
    assert_int_equal(a->msg.nhdr, b->msg.nhdr);
    assert_int_equal(a->msg.content_length, b->msg.content_length);
    assert_true(hdrs_eq(a->msg.hdrs, b->msg.hdrs, a->msg.nhdr));
    assert_int_equal(a->method, b->method);
    assert_int_equal(a->form, b->form);
    assert_memory_equal(&a->target, &b->target, sizeof(a->target));
    assert_memory_equal(&a->path, &b->path, sizeof(a->path));
    assert_memory_equal(&a->query, &b->query, sizeof(a->query));
    assert_memory_equal(&a->host, &b->host, sizeof(a->host));
}

/* Feeding 1, 2, ... n bytes (each time in a freshly allocated copy, so the
 * buffer moves) ends in the same result as parsing whole. */
static void test_req_every_prefix(void **state)
{
    size_t n = strlen(SAMPLE);
    struct rq whole, inc;

    assert_int_equal(parse(&whole, SAMPLE), n);
    assert_int_equal(whole.r.msg.body, CM_H1_BODY_CHUNKED);
    assert_true(cm_h1_hdr_is_hop(&whole.h[5])); /* X-Trace, via Connection */
    assert_int_equal(cm_h1_req_init(&inc.r, inc.h, NH, NULL), 0);
    for (size_t k = 1; k <= n; k++) {
        char *copy = malloc(k);
        int rc;
        memcpy(copy, SAMPLE, k);
        rc = cm_h1_req_parse(&inc.r, copy, k);
        free(copy);
        assert_int_equal(rc, k == n ? (int)n : 0);
    }
    same_req(&whole.r, &inc.r);
}

/* Every split into two calls gives the same result. */
static void test_req_every_split(void **state)
{
    size_t n = strlen(SAMPLE);
    struct rq whole, two;

    assert_int_equal(parse(&whole, SAMPLE), n);
    for (size_t k = 0; k <= n; k++) {
        assert_int_equal(parse_n(&two, SAMPLE, k), k == n ? (int)n : 0);
        assert_int_equal(cm_h1_req_parse(&two.r, SAMPLE, n), n);
        same_req(&whole.r, &two.r);
    }
}

/* An error found in pieces is the same error. */
static void test_req_split_error(void **state)
{
    const char *s = "GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n";
    size_t n = strlen(s);
    struct rq q;

    for (size_t k = 1; k < n; k++) {
        int rc = parse_n(&q, s, k);
        if (rc == 0)
            rc = cm_h1_req_parse(&q.r, s, n);
        assert_int_equal(rc, -1);
        assert_int_equal(q.r.msg.status, 400);
        assert_string_equal(q.r.msg.err, "control byte in header value");
    }
}

/* ==== smuggling and malformed requests ==== */

struct bad {
    const char *s;
    size_t n;
    int status;
};

#define RQ(hdrs) "POST / HTTP/1.1\r\nHost: h\r\n" hdrs "\r\n"

static const struct bad BAD[] = {
    /* framing */
    {S(RQ("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n")), 400},
    {S(RQ("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n")), 400},
    {S(RQ("Content-Length: 5\r\nContent-Length: 6\r\n")), 400},
    {S(RQ("Content-Length: 5, 5\r\n")), 400},
    {S(RQ("Content-Length: +5\r\n")), 400},
    {S(RQ("Content-Length: -1\r\n")), 400},
    {S(RQ("Content-Length: 0x5\r\n")), 400},
    {S(RQ("Content-Length: 5 5\r\n")), 400},
    {S(RQ("Content-Length:\r\n")), 400},
    {S(RQ("Content-Length: 9223372036854775808\r\n")), 400},
    {S(RQ("Content-Length: 99999999999999999999999\r\n")), 400},
    {S(RQ("Transfer-Encoding: gzip\r\n")), 400},
    {S(RQ("Transfer-Encoding: chunked, gzip\r\n")), 400},
    {S(RQ("Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n")), 400},
    {S(RQ("Transfer-Encoding: chunked, chunked\r\n")), 400},
    {S(RQ("Transfer-Encoding: chunked;q=1\r\n")), 400},
    {S(RQ("Transfer-Encoding:\r\n")), 400},
    {S(RQ("Transfer-Encoding: , chunked\r\n")), 400},
    {S(RQ("Transfer-Encoding: chunked,\r\n")), 400},
    {S(RQ("Transfer-Encoding: \"chunked\"\r\n")), 400},
    {S(RQ("Transfer-Encoding: chunked\x0b\r\n")), 400},
    {S(RQ("Transfer-Encoding: foo\r\n")), 501},
    {S(RQ("Transfer-Encoding: foo, chunked\r\n")), 501},
    {S(RQ("Transfer-Encoding: identity\r\n")), 501},
    {S(RQ("Transfer-Encoding: xchunked\r\n")), 501},
    {S("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"), 400},
    /* line structure */
    {S(RQ("X: a\r\n b\r\n")), 400},
    {S(RQ("X: a\r\n\tb\r\n")), 400},
    {S("GET / HTTP/1.1\r\n Host: h\r\n\r\n"), 400},
    {S(RQ("X: a\rb\r\n")), 400},
    {S("GET /\r HTTP/1.1\r\nHost: h\r\n\r\n"), 400},
    {S("GET / HTTP/1.1\nHost: h\r\n\r\n"), 400},
    {S("GET / HTTP/1.1\r\nHost: h\n\r\n"), 400},
    {S("GET / HTTP/1.1\r\nHost: h\r\n\n"), 400},
    {S("GET / HTTP/1.1\r\nHost: h\r\r\n\r\n"), 400},
    /* bytes */
    {S(RQ("X: a\0b\r\n")), 400},
    {S(RQ("X\0: b\r\n")), 400},
    {S(RQ("X: \x01\r\n")), 400},
    {S(RQ("X: a\x7f\r\n")), 400},
    {S(RQ("X: a\x1b[0m\r\n")), 400},
    /* names */
    {S(RQ("Content-Length : 5\r\n")), 400},
    {S(RQ("Transfer-Encoding\t: chunked\r\n")), 400},
    {S(RQ(": v\r\n")), 400},
    {S(RQ("X(y): z\r\n")), 400},
    {S(RQ("X y: z\r\n")), 400},
    {S(RQ("Xy\r\n")), 400},
    {S(RQ("X\xc3\xa9: z\r\n")), 400},
    {S(RQ("Connection: close;x\r\n")), 400},
    /* request line */
    {S("G(T / HTTP/1.1\r\nHost: h\r\n\r\n"), 400},
    {S(" GET / HTTP/1.1\r\nHost: h\r\n\r\n"), 400},
    {S("GET  / HTTP/1.1\r\nHost: h\r\n\r\n"), 400},
    {S("GET\t/ HTTP/1.1\r\nHost: h\r\n\r\n"), 400},
    {S("GET / HTTP/1.1 \r\nHost: h\r\n\r\n"), 400},
    {S("GET /\r\nHost: h\r\n\r\n"), 400},
    {S("GET\r\n\r\n"), 400},
    {S("GET /a#b HTTP/1.1\r\nHost: h\r\n\r\n"), 400},
    {S("GET /a\x7f HTTP/1.1\r\nHost: h\r\n\r\n"), 400},
    {S("GET /\xc3\xa9 HTTP/1.1\r\nHost: h\r\n\r\n"), 400},
    {S("GET /a\0 HTTP/1.1\r\nHost: h\r\n\r\n"), 400},
    {S("GET a/b HTTP/1.1\r\nHost: h\r\n\r\n"), 400},
    {S("GET example.com:80 HTTP/1.1\r\nHost: h\r\n\r\n"), 400},
    {S("GET http:/x HTTP/1.1\r\nHost: h\r\n\r\n"), 400},
    {S("GET http://u@x/ HTTP/1.1\r\nHost: h\r\n\r\n"), 400},
    {S("GET http:///x HTTP/1.1\r\nHost: h\r\n\r\n"), 400},
    {S("GET * HTTP/1.1\r\nHost: h\r\n\r\n"), 400},
    {S("CONNECT /x HTTP/1.1\r\nHost: h\r\n\r\n"), 400},
    {S("CONNECT example.com HTTP/1.1\r\nHost: h\r\n\r\n"), 400},
    {S("CONNECT example.com: HTTP/1.1\r\nHost: h\r\n\r\n"), 400},
    {S("CONNECT [::1:443 HTTP/1.1\r\nHost: h\r\n\r\n"), 400},
    /* Host */
    {S("GET / HTTP/1.1\r\n\r\n"), 400},
    {S("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n"), 400},
    {S("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n"), 400},
    {S("GET / HTTP/1.1\r\nHost: a@b\r\n\r\n"), 400},
    {S("GET / HTTP/1.1\r\nHost: a b\r\n\r\n"), 400},
    {S("GET / HTTP/1.1\r\nHost: a:8x\r\n\r\n"), 400},
    {S("GET / HTTP/1.1\r\nHost: a, b\r\n\r\n"), 400},
    {S("GET / HTTP/1.1\r\nHost: a,b\r\n\r\n"), 400},
    /* versions */
    {S("GET / HTTP/2.0\r\nHost: h\r\n\r\n"), 505},
    {S("GET / HTTP/1.2\r\nHost: h\r\n\r\n"), 505},
    {S("GET / HTTP/0.9\r\nHost: h\r\n\r\n"), 505},
    {S("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), 505},
    {S("GET / HTTP/1.1x\r\nHost: h\r\n\r\n"), 400},
    {S("GET / HTTP/1.10\r\nHost: h\r\n\r\n"), 400},
    {S("GET / HTTPS/1.1\r\nHost: h\r\n\r\n"), 400},
    {S("GET / http/1.1\r\nHost: h\r\n\r\n"), 400},
    {S("GET / HTTP/1\r\nHost: h\r\n\r\n"), 400},
    {S("GET / HTTP/a.b\r\nHost: h\r\n\r\n"), 400},
};

static void test_req_bad(void **state)
{
    for (size_t i = 0; i < sizeof(BAD) / sizeof(BAD[0]); i++) {
        struct rq q;
        int rc = parse_n(&q, BAD[i].s, BAD[i].n);
        if (rc != -1 || q.r.msg.status != BAD[i].status)
            fail_msg("case %zu (%s): rc %d status %d, want %d", i, BAD[i].s, rc,
                     q.r.msg.status, BAD[i].status);
        assert_non_null(q.r.msg.err);
        assert_int_equal(q.r.msg.state, CM_H1_S_ERROR);
        /* stays failed */
        assert_int_equal(cm_h1_req_parse(&q.r, BAD[i].s, BAD[i].n), -1);
    }
}

static void test_req_ows_trimmed_values(void **state)
{
    const char *s = RQ("Content-Length: \t 12 \t\r\nX:\r\nY:  \r\n");
    struct rq q;

    assert_int_equal(parse(&q, s), strlen(s));
    assert_int_equal(q.r.msg.content_length, 12);
    check_hdr(s, &q.h[2], "X", "");
    check_hdr(s, &q.h[3], "Y", "");
    /* obs-text is allowed in values */
    assert_true(parse(&q, RQ("X: caf\xc3\xa9\r\n")) > 0);
}

/* ==== limits ==== */

static char *repeat(const char *head, char c, size_t n, const char *tail)
{
    size_t a = strlen(head), b = strlen(tail);
    char *s = malloc(a + n + b + 1);

    memcpy(s, head, a);
    memset(s + a, c, n);
    memcpy(s + a + n, tail, b + 1);
    return s;
}

static void test_limits_line(void **state)
{
    struct rq q;
    /* "GET /" + 8180 + " HTTP/1.1\r\n" = 8196 bytes > 8192 */
    char *s = repeat("GET /", 'a', 8180, " HTTP/1.1\r\nHost: h\r\n\r\n");

    assert_int_equal(parse(&q, s), -1);
    assert_int_equal(q.r.msg.status, 414);
    /* still open, too long already */
    assert_int_equal(parse_n(&q, s, 8192), 0);
    assert_int_equal(parse_n(&q, s, 8193), -1);
    assert_int_equal(q.r.msg.status, 414);
    free(s);
    /* exactly at the limit: 5 + 8176 + 11 = 8192 */
    s = repeat("GET /", 'a', 8176, " HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_true(parse(&q, s) > 0);
    free(s);
}

static void test_limits_headers(void **state)
{
    struct rq q;
    struct cm_h1_limits lim = {.max_line = 64, .max_headers = 40};
    /* "X: " + 32760 + "\r\n" plus "Host: h\r\n" and "\r\n" > 32768 */
    char *s =
        repeat("GET / HTTP/1.1\r\nHost: h\r\nX: ", 'v', 32760, "\r\n\r\n");

    assert_int_equal(parse(&q, s), -1);
    assert_int_equal(q.r.msg.status, 431);
    assert_int_equal(parse_n(&q, s, 16 + 32768), 0);
    assert_int_equal(parse_n(&q, s, 16 + 32769), -1);
    assert_int_equal(q.r.msg.status, 431);
    free(s);

    /* configured limits */
    assert_int_equal(cm_h1_req_init(&q.r, q.h, NH, &lim), 0);
    s = "GET / HTTP/1.1\r\nHost: h\r\nX-Long: 01234567890123456789\r\n\r\n";
    assert_int_equal(cm_h1_req_parse(&q.r, s, strlen(s)), -1);
    assert_int_equal(q.r.msg.status, 431);
    cm_h1_req_reset(&q.r);
    s = "GET / HTTP/1.1\r\nHost: h\r\nX-Long: 0123456789012345678\r\n\r\n";
    assert_int_equal(cm_h1_req_parse(&q.r, s, strlen(s)), strlen(s));
    cm_h1_req_reset(&q.r);
    s = "GET /0123456789012345678901234567890123456789012345678 HTTP/1.1\r\n";
    assert_int_equal(cm_h1_req_parse(&q.r, s, strlen(s)), -1);
    assert_int_equal(q.r.msg.status, 414);
}

static void test_limits_count(void **state)
{
    struct cm_h1_req r;
    struct cm_h1_hdr h[3];
    const char *ok = "GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\n\r\n";
    const char *bad =
        "GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";

    assert_int_equal(cm_h1_req_init(&r, h, 3, NULL), 0);
    assert_int_equal(cm_h1_req_parse(&r, ok, strlen(ok)), strlen(ok));
    cm_h1_req_reset(&r);
    assert_int_equal(cm_h1_req_parse(&r, bad, strlen(bad)), -1);
    assert_int_equal(r.msg.status, 431);
}

static void test_init_invalid(void **state)
{
    struct cm_h1_req r;
    struct cm_h1_hdr h[1];
    struct cm_h1_limits lim = {.max_line = CM_H1_MAX_LIMIT + 1};

    assert_int_equal(cm_h1_req_init(&r, NULL, 1, NULL), GW_EINVAL);
    assert_int_equal(cm_h1_req_init(&r, h, 0, NULL), GW_EINVAL);
    assert_int_equal(cm_h1_req_init(&r, h, 1, &lim), GW_EINVAL);
}

/* ==== responses ==== */

static void test_resp_basic(void **state)
{
    const char *s = "HTTP/1.1 200 OK\r\nContent-Length: 12\r\n"
                    "Content-Type: text/plain\r\n\r\nhello world!";
    struct rs q;

    assert_int_equal(rparse(&q, CM_H1_M_GET, s), strlen(s) - 12);
    assert_int_equal(q.r.code, 200);
    check_span(s, q.r.reason, "OK");
    assert_int_equal(q.r.msg.body, CM_H1_BODY_LENGTH);
    assert_int_equal(q.r.msg.content_length, 12);
    assert_true(q.r.msg.flags & CM_H1_F_KEEPALIVE);
    assert_int_equal(q.r.msg.nhdr, 2);

    s = "HTTP/1.1 404 Not Found Here\r\nTransfer-Encoding: chunked\r\n\r\n";
    assert_int_equal(rparse(&q, CM_H1_M_GET, s), strlen(s));
    assert_int_equal(q.r.code, 404);
    check_span(s, q.r.reason, "Not Found Here");
    assert_int_equal(q.r.msg.body, CM_H1_BODY_CHUNKED);

    /* no reason phrase, with or without the SP */
    assert_true(rparse(&q, CM_H1_M_GET, "HTTP/1.1 200 \r\n\r\n") > 0);
    assert_int_equal(q.r.reason.len, 0);
    assert_true(rparse(&q, CM_H1_M_GET, "HTTP/1.1 200\r\n\r\n") > 0);
    assert_int_equal(q.r.code, 200);
}

static void test_resp_close_delimited(void **state)
{
    struct rs q;

    assert_true(rparse(&q, CM_H1_M_GET, "HTTP/1.1 200 OK\r\nX: y\r\n\r\n") > 0);
    assert_int_equal(q.r.msg.body, CM_H1_BODY_CLOSE);
    assert_false(q.r.msg.flags & CM_H1_F_KEEPALIVE);
    /* a coding that does not end in chunked: read until close */
    assert_true(rparse(&q, CM_H1_M_GET,
                       "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n") >
                0);
    assert_int_equal(q.r.msg.body, CM_H1_BODY_CLOSE);
    /* unknown codings are the upstream's business when chunked ends them */
    assert_true(rparse(&q, CM_H1_M_GET,
                       "HTTP/1.1 200 OK\r\n"
                       "Transfer-Encoding: br, chunked\r\n"
                       "\r\n") > 0);
    assert_int_equal(q.r.msg.body, CM_H1_BODY_CHUNKED);
    assert_true(rparse(&q, CM_H1_M_GET,
                       "HTTP/1.0 200 OK\r\n"
                       "Content-Length: 3\r\n\r\n") > 0);
    assert_false(q.r.msg.flags & CM_H1_F_KEEPALIVE);
    assert_true(rparse(&q, CM_H1_M_GET,
                       "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n"
                       "Content-Length: 3\r\n\r\n") > 0);
    assert_true(q.r.msg.flags & CM_H1_F_KEEPALIVE);
}

static void test_resp_no_body(void **state)
{
    struct rs q;

    assert_true(rparse(&q, CM_H1_M_GET,
                       "HTTP/1.1 204 No Content\r\n"
                       "Content-Length: 10\r\n\r\n") > 0);
    assert_int_equal(q.r.msg.body, CM_H1_BODY_NONE);
    assert_true(q.r.msg.flags & CM_H1_F_KEEPALIVE);
    assert_true(rparse(&q, CM_H1_M_GET,
                       "HTTP/1.1 304 Not Modified\r\n"
                       "Content-Length: 10\r\n\r\n") > 0);
    assert_int_equal(q.r.msg.body, CM_H1_BODY_NONE);
    assert_true(rparse(&q, CM_H1_M_HEAD,
                       "HTTP/1.1 200 OK\r\n"
                       "Content-Length: 10\r\n\r\n") > 0);
    assert_int_equal(q.r.msg.body, CM_H1_BODY_NONE);
    assert_int_equal(q.r.msg.content_length, 10);
    assert_true(rparse(&q, CM_H1_M_HEAD, "HTTP/1.1 200 OK\r\n\r\n") > 0);
    assert_int_equal(q.r.msg.body, CM_H1_BODY_NONE);
    assert_true(q.r.msg.flags & CM_H1_F_KEEPALIVE);
    assert_true(rparse(&q, CM_H1_M_CONNECT, "HTTP/1.1 200 OK\r\n\r\n") > 0);
    assert_true(q.r.msg.flags & CM_H1_F_TUNNEL);
    assert_int_equal(q.r.msg.body, CM_H1_BODY_NONE);
    assert_true(rparse(&q, CM_H1_M_CONNECT,
                       "HTTP/1.1 407 No\r\n"
                       "Content-Length: 2\r\n\r\n") > 0);
    assert_false(q.r.msg.flags & CM_H1_F_TUNNEL);
    assert_int_equal(q.r.msg.body, CM_H1_BODY_LENGTH);
}

static void test_resp_informational(void **state)
{
    const char *s = "HTTP/1.1 100 Continue\r\n\r\n"
                    "HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n"
                    "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n";
    size_t off = 0, len = strlen(s);
    int codes[] = {100, 103, 201}, rc;
    struct rs q;

    assert_int_equal(cm_h1_resp_init(&q.r, q.h, NH, NULL), 0);
    for (int i = 0; i < 3; i++) {
        cm_h1_resp_reset(&q.r, CM_H1_M_POST);
        rc = cm_h1_resp_parse(&q.r, s + off, len - off);
        assert_true(rc > 0);
        assert_int_equal(q.r.code, codes[i]);
        assert_int_equal(q.r.msg.body, CM_H1_BODY_NONE);
        off += (size_t)rc;
    }
    assert_int_equal(off, len);

    s = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\n\r\n";
    assert_int_equal(rparse(&q, CM_H1_M_GET, s), strlen(s));
    assert_true(q.r.msg.flags & CM_H1_F_UPGRADE);
    assert_true(cm_h1_hdr_is_hop(&q.h[0]));
}

static void test_resp_bad(void **state)
{
    static const char *bad[] = {
        "HTTP/1.1 600 X\r\n\r\n",
        "HTTP/1.1 099 X\r\n\r\n",
        "HTTP/1.1 20 OK\r\n\r\n",
        "HTTP/1.1 2000 OK\r\n\r\n",
        "HTTP/1.1  200 OK\r\n\r\n",
        "HTTP/2.0 200 OK\r\n\r\n",
        "HTTP/1.1 200 O\x01K\r\n\r\n",
        "HTTP/1.1 200 OK\nX: y\r\n\r\n",
        "ICY 200 OK\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n"
        "Transfer-Encoding: chunked\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
        "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX : y\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX: y\r\n z\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n",
    };
    struct rs q;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = rparse(&q, CM_H1_M_GET, bad[i]);
        if (rc != -1 || q.r.msg.status != 502)
            fail_msg("case %zu: rc %d status %d", i, rc, q.r.msg.status);
    }
}

static void test_resp_every_prefix(void **state)
{
    const char *s = "HTTP/1.1 200 OK\r\nServer: x\r\nContent-Length: 42\r\n"
                    "Connection: close\r\n\r\n";
    size_t n = strlen(s);
    struct rs whole, inc;

    assert_int_equal(rparse(&whole, CM_H1_M_GET, s), n);
    assert_int_equal(cm_h1_resp_init(&inc.r, inc.h, NH, NULL), 0);
    cm_h1_resp_reset(&inc.r, CM_H1_M_GET);
    for (size_t k = 1; k <= n; k++)
        assert_int_equal(cm_h1_resp_parse(&inc.r, s, k), k == n ? (int)n : 0);
    assert_int_equal(inc.r.code, 200);
    assert_int_equal(inc.r.msg.content_length, 42);
    assert_int_equal(inc.r.msg.flags, whole.r.msg.flags);
    assert_false(inc.r.msg.flags & CM_H1_F_KEEPALIVE);
    assert_true(hdrs_eq(inc.h, whole.h, 3));
}

/* ==== chunked ==== */

/* Decodes <s> in pieces of <step> bytes (0: whole); appends the data to
 * <out>. Returns the last result; *used is the bytes consumed. */
static int decode(const char *s, size_t n, size_t step, char *out,
                  size_t *out_len, size_t *used)
{
    struct cm_h1_chunked st;
    size_t off = 0, avail = 0;
    int rc = CM_H1_CHUNK_NEED;

    cm_h1_chunked_init(&st, 0, 0);
    *out_len = 0;
    while (off < n) {
        struct cm_h1_slice d;
        size_t c;
        if (avail <= off)
            avail = step == 0 || off + step > n ? n : off + step;
        rc = cm_h1_chunked_parse(&st, s + off, avail - off, &c, &d);
        if (rc == CM_H1_CHUNK_DATA) {
            assert_true(d.ptr >= s + off && d.ptr + d.len <= s + avail);
            memcpy(out + *out_len, d.ptr, d.len);
            *out_len += d.len;
        }
        off += c;
        if (rc < 0 || rc == CM_H1_CHUNK_DONE)
            break;
    }
    *used = off;
    return rc;
}

static const char CHUNKS[] = "5\r\nhello\r\n"
                             "1;name=value;x=\"q s\"\r\n \r\n"
                             "A\r\n0123456789\r\n"
                             "0000000000000010 ; ext\r\n0123456789abcdef\r\n"
                             "0\r\nX-Sum: abc\r\nY:\r\n\r\n"
                             "GET / HTTP/1.1\r\n";

static void test_chunked_decode(void **state)
{
    const char *want = "hello 01234567890123456789abcdef";
    char out[128];
    size_t olen, used, body = strlen(CHUNKS) - strlen("GET / HTTP/1.1\r\n");

    assert_int_equal(decode(CHUNKS, strlen(CHUNKS), 0, out, &olen, &used),
                     CM_H1_CHUNK_DONE);
    assert_int_equal(used, body);
    assert_int_equal(olen, strlen(want));
    assert_memory_equal(out, want, olen);
}

static void test_chunked_every_split(void **state)
{
    const char *want = "hello 01234567890123456789abcdef";
    size_t n = strlen(CHUNKS), body = n - strlen("GET / HTTP/1.1\r\n");

    for (size_t step = 1; step <= n; step++) {
        char out[128];
        size_t olen, used;
        assert_int_equal(decode(CHUNKS, n, step, out, &olen, &used),
                         CM_H1_CHUNK_DONE);
        assert_int_equal(used, body);
        assert_int_equal(olen, strlen(want));
        assert_memory_equal(out, want, olen);
    }
}

/* Split in two at every byte, the second call given everything left. */
static void test_chunked_two_parts(void **state)
{
    const char *s = "3\r\nabc\r\n0\r\n\r\n";
    size_t n = strlen(s);

    for (size_t k = 0; k <= n; k++) {
        struct cm_h1_chunked st;
        struct cm_h1_slice d;
        char out[8];
        size_t off = 0, c, olen = 0;
        int rc;
        cm_h1_chunked_init(&st, 0, 0);
        rc = cm_h1_chunked_parse(&st, s, k, &c, &d);
        do {
            if (rc == CM_H1_CHUNK_DATA) {
                memcpy(out + olen, d.ptr, d.len);
                olen += d.len;
            }
            off += c;
            if (rc == CM_H1_CHUNK_DONE)
                break;
            assert_true(rc >= 0);
            rc = cm_h1_chunked_parse(&st, s + off, n - off, &c, &d);
        } while (1);
        assert_int_equal(off, n);
        assert_int_equal(olen, 3);
        assert_memory_equal(out, "abc", 3);
        assert_int_equal(st.total, 3);
    }
}

static void test_chunked_bad(void **state)
{
    static const char *bad[] = {
        "g\r\n",
        "\r\n",
        ";x\r\n",
        "-1\r\n",
        "0x5\r\n",
        "5\nhello\r\n",
        "5\r\nhelloX\r\n",
        "5\r\nhello\n0\r\n\r\n",
        "1 \r\nx\r\n",
        "1 x\r\n",
        "1;a\x01\r\n",
        "1;a\rb\r\n",
        "40000000000000001\r\n",
        "4000000000000001\r\n",
        "10000000000000000\r\n",
        "00000000000000001\r\n",
        "0\r\n X: y\r\n\r\n",
        "0\r\nX : y\r\n\r\n",
        "0\r\nX: \x7f\r\n\r\n",
        "0\r\nX: y\n\r\n",
        "0\r\n\rx",
        "0\r\nX: y\r\n\n",
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char out[64];
        size_t olen, used;
        int rc = decode(bad[i], strlen(bad[i]), 0, out, &olen, &used);
        if (rc != -1)
            fail_msg("case %zu: rc %d", i, rc);
        rc = decode(bad[i], strlen(bad[i]), 1, out, &olen, &used);
        if (rc != -1)
            fail_msg("case %zu bytewise: rc %d", i, rc);
    }
}

static void test_chunked_limits(void **state)
{
    struct cm_h1_chunked st;
    struct cm_h1_slice d;
    size_t c;
    const char *big = "4000000000000000\r\nxy";
    char *ext = repeat("1;", 'a', 20, "\r\n");
    const char *trl = "0\r\nX: 0123456789\r\n\r\n";

    cm_h1_chunked_init(&st, 0, 0);
    assert_int_equal(cm_h1_chunked_parse(&st, big, strlen(big), &c, &d),
                     CM_H1_CHUNK_DATA);
    assert_int_equal(d.len, 2);
    assert_true(st.size == CM_H1_CHUNK_SIZE_MAX - 2);

    cm_h1_chunked_init(&st, 19, 0);
    assert_int_equal(cm_h1_chunked_parse(&st, ext, strlen(ext), &c, &d), -1);
    assert_string_equal(st.err, "chunk extension too long");
    cm_h1_chunked_init(&st, 20, 0);
    assert_int_equal(cm_h1_chunked_parse(&st, ext, strlen(ext), &c, &d),
                     CM_H1_CHUNK_NEED);
    assert_int_equal(c, strlen(ext));
    free(ext);
    /* whitespace before ';' counts too */
    ext = repeat("1", ' ', 20, ";\r\n");
    cm_h1_chunked_init(&st, 19, 0);
    assert_int_equal(cm_h1_chunked_parse(&st, ext, strlen(ext), &c, &d), -1);
    free(ext);

    cm_h1_chunked_init(&st, 0, 16);
    assert_int_equal(cm_h1_chunked_parse(&st, trl, strlen(trl), &c, &d), -1);
    assert_string_equal(st.err, "trailer section too large");
    cm_h1_chunked_init(&st, 0, 17);
    assert_int_equal(cm_h1_chunked_parse(&st, trl, strlen(trl), &c, &d),
                     CM_H1_CHUNK_DONE);
    assert_true(st.has_trailers);
    /* after the end, nothing more is consumed */
    assert_int_equal(cm_h1_chunked_parse(&st, "x", 1, &c, &d),
                     CM_H1_CHUNK_DONE);
    assert_int_equal(c, 0);
}

static void test_chunk_writer(void **state)
{
    char line[CM_H1_CHUNK_LINE_MAX];
    struct iovec iov[3];

    assert_int_equal(cm_h1_chunk_size_line(line, 0x1a2f), 6);
    assert_memory_equal(line, "1a2f\r\n", 6);
    assert_int_equal(cm_h1_chunk_size_line(line, 1), 3);
    assert_memory_equal(line, "1\r\n", 3);
    assert_int_equal(cm_h1_chunk_size_line(line, UINT64_MAX), 18);
    assert_memory_equal(line, "ffffffffffffffff\r\n", 18);
    assert_int_equal(cm_h1_chunk_iov(line, "abc", 0, iov), 0);
    assert_int_equal(cm_h1_chunk_iov(line, "abc", 3, iov), 3);
    assert_int_equal(cm_h1_iov_len(iov, 3), 8);
    assert_memory_equal(iov[0].iov_base, "3\r\n", 3);
    assert_memory_equal(iov[1].iov_base, "abc", 3);
    assert_memory_equal(iov[2].iov_base, "\r\n", 2);
}

/* What we write, our decoder reads back. */
static void test_chunk_roundtrip(void **state)
{
    char wire[256], line[CM_H1_CHUNK_LINE_MAX], out[64];
    struct iovec iov[3];
    size_t w = 0, olen, used;
    const char *parts[] = {"first", "0123456789abcdefghij", "z"};

    for (int i = 0; i < 3; i++) {
        int n = cm_h1_chunk_iov(line, parts[i], strlen(parts[i]), iov);
        for (int k = 0; k < n; k++) {
            memcpy(wire + w, iov[k].iov_base, iov[k].iov_len);
            w += iov[k].iov_len;
        }
    }
    memcpy(wire + w, CM_H1_CHUNK_LAST, 5);
    w += 5;
    assert_int_equal(decode(wire, w, 0, out, &olen, &used), CM_H1_CHUNK_DONE);
    assert_int_equal(used, w);
    assert_int_equal(olen, 26);
    assert_memory_equal(out, "first0123456789abcdefghijz", 26);
}

/* ==== helpers and the writer ==== */

static void test_names(void **state)
{
    assert_true(cm_h1_name_eq(S("Content-Length"), S("content-LENGTH")));
    assert_false(cm_h1_name_eq(S("Content-Length"), S("Content-Lengt")));
    assert_false(cm_h1_name_eq(S("a"), S("b")));
    assert_true(cm_h1_name_is_hop(S("connection")));
    assert_true(cm_h1_name_is_hop(S("Keep-Alive")));
    assert_true(cm_h1_name_is_hop(S("Proxy-Connection")));
    assert_true(cm_h1_name_is_hop(S("TE")));
    assert_true(cm_h1_name_is_hop(S("Trailer")));
    assert_true(cm_h1_name_is_hop(S("TRANSFER-ENCODING")));
    assert_true(cm_h1_name_is_hop(S("upgrade")));
    assert_false(cm_h1_name_is_hop(S("Host")));
    assert_false(cm_h1_name_is_hop(S("Trailers")));
    assert_false(cm_h1_name_is_hop(S("X-Forwarded-For")));
}

static void test_find(void **state)
{
    struct rq q;

    assert_true(parse(&q, GET1) > 0);
    assert_int_equal(cm_h1_find(&q.r.msg, GET1, S("accept"), 0), 2);
    assert_int_equal(cm_h1_find(&q.r.msg, GET1, S("HOST"), 0), 0);
    assert_int_equal(cm_h1_find(&q.r.msg, GET1, S("HOST"), 1), -1);
    assert_int_equal(cm_h1_find(&q.r.msg, GET1, S("Cookie"), 0), -1);
}

static void flatten(const struct iovec *iov, int n, char *out)
{
    size_t o = 0;

    for (int i = 0; i < n; i++) {
        memcpy(out + o, iov[i].iov_base, iov[i].iov_len);
        o += iov[i].iov_len;
    }
    out[o] = '\0';
}

static const char FWD_IN[] = "POST /api?x=1 HTTP/1.0\r\n"
                             "Host: example.com\r\n"
                             "User-Agent: t\r\n"
                             "X-Forwarded-For: 1.1.1.1\r\n"
                             "Connection: keep-alive, X-Hop\r\n"
                             "Keep-Alive: timeout=5\r\n"
                             "X-Hop: drop me\r\n"
                             "X-Forwarded-Proto: gopher\r\n"
                             "Content-Length: 3\r\n"
                             "X-Forwarded-For: 2.2.2.2, 3.3.3.3\r\n"
                             "Accept: */*\r\n"
                             "\r\n";

static const char FWD_OUT[] = "POST /api?x=1 HTTP/1.1\r\n"
                              "Host: example.com\r\n"
                              "User-Agent: t\r\n"
                              "Content-Length: 3\r\n"
                              "Accept: */*\r\n"
                              "X-Forwarded-For: 1.1.1.1, 2.2.2.2, 3.3.3.3, "
                              "10.0.0.9\r\n"
                              "X-Forwarded-Proto: https\r\n"
                              "X-Forwarded-Host: example.com\r\n"
                              "\r\n";

static void test_write_request(void **state)
{
    struct rq q, back;
    struct iovec iov[CM_H1_WRITE_IOV_MAX(NH)];
    struct cm_h1_fwd fwd = {.flags = CM_H1_FWD_XF,
                            .client_addr = {S("10.0.0.9")},
                            .proto = {S("https")}};
    char flat[1024], buf[1024];
    int n;

    assert_int_equal(parse(&q, FWD_IN), strlen(FWD_IN));
    n = cm_h1_req_write_iov(&q.r, FWD_IN, &fwd, iov, CM_H1_WRITE_IOV_MAX(NH));
    assert_true(n > 0);
    flatten(iov, n, flat);
    assert_string_equal(flat, FWD_OUT);
    assert_int_equal(cm_h1_iov_len(iov, n), strlen(FWD_OUT));
    /* Host and User-Agent are one run of the input buffer */
    assert_ptr_equal(iov[2].iov_base,
                     FWD_IN + strlen("POST /api?x=1 HTTP/1.0\r\n"));
    assert_int_equal(iov[2].iov_len,
                     strlen("Host: example.com\r\nUser-Agent: t\r\n"));
    /* too few iovecs, too small a buffer */
    assert_int_equal(cm_h1_req_write_iov(&q.r, FWD_IN, &fwd, iov, 3),
                     GW_ETOOBIG);
    assert_int_equal(cm_h1_req_write(&q.r, FWD_IN, &fwd, buf, 20), GW_ETOOBIG);
    assert_int_equal(cm_h1_req_write(&q.r, FWD_IN, &fwd, buf, sizeof(buf)),
                     strlen(FWD_OUT));
    assert_memory_equal(buf, FWD_OUT, strlen(FWD_OUT));
    /* the next hop reads it back */
    assert_int_equal(parse(&back, flat), strlen(FWD_OUT));
    assert_int_equal(back.r.msg.content_length, 3);
    /* an unfinished head is not written */
    assert_int_equal(parse_n(&q, FWD_IN, 10), 0);
    assert_int_equal(cm_h1_req_write(&q.r, FWD_IN, &fwd, buf, sizeof(buf)),
                     GW_EINVAL);
}

static void test_write_request_rewrites(void **state)
{
    const char *in = "GET http://up.example:81?q HTTP/1.1\r\nHost: x\r\n"
                     "Transfer-Encoding: chunked\r\nTE: trailers\r\n"
                     "Upgrade: h2c\r\nConnection: Upgrade\r\n\r\n";
    struct rq q;
    struct cm_h1_fwd fwd = {.flags = CM_H1_FWD_CHUNKED | CM_H1_FWD_CLOSE};
    char out[512];
    int n;

    assert_int_equal(parse(&q, in), strlen(in));
    n = cm_h1_req_write(&q.r, in, &fwd, out, sizeof(out) - 1);
    assert_true(n > 0);
    out[n] = '\0';
    assert_string_equal(out, "GET /?q HTTP/1.1\r\n"
                             "Host: up.example:81\r\n"
                             "Connection: close\r\n"
                             "Transfer-Encoding: chunked\r\n\r\n");
    /* caller's target and Host, the upgrade kept */
    fwd.flags = CM_H1_FWD_UPGRADE | CM_H1_FWD_CHUNKED;
    fwd.target.ptr = "/new";
    fwd.target.len = 4;
    fwd.host.ptr = "backend:8080";
    fwd.host.len = 12;
    n = cm_h1_req_write(&q.r, in, &fwd, out, sizeof(out) - 1);
    assert_true(n > 0);
    out[n] = '\0';
    assert_string_equal(out, "GET /new HTTP/1.1\r\n"
                             "Upgrade: h2c\r\n"
                             "Host: backend:8080\r\n"
                             "Connection: upgrade\r\n"
                             "Transfer-Encoding: chunked\r\n\r\n");
    /* HTTP/1.0 without Host gets an empty one */
    in = "GET / HTTP/1.0\r\n\r\n";
    memset(&fwd, 0, sizeof(fwd));
    assert_true(parse(&q, in) > 0);
    n = cm_h1_req_write(&q.r, in, &fwd, out, sizeof(out) - 1);
    out[n] = '\0';
    assert_string_equal(out, "GET / HTTP/1.1\r\nHost: \r\n\r\n");
}

static void test_write_response(void **state)
{
    const char *in = "HTTP/1.0 200 Fine\r\nServer: s\r\nConnection: close\r\n"
                     "Content-Type: a/b\r\n\r\n";
    struct rs q;
    struct iovec iov[CM_H1_WRITE_IOV_MAX(NH)];
    struct cm_h1_fwd fwd = {.flags = CM_H1_FWD_CHUNKED | CM_H1_FWD_KEEPALIVE};
    char out[512];
    int n;

    assert_true(rparse(&q, CM_H1_M_GET, in) > 0);
    n = cm_h1_resp_write_iov(&q.r, in, &fwd, iov, CM_H1_WRITE_IOV_MAX(NH));
    assert_true(n > 0);
    flatten(iov, n, out);
    assert_string_equal(out, "HTTP/1.1 200 Fine\r\nServer: s\r\n"
                             "Content-Type: a/b\r\n"
                             "Connection: keep-alive\r\n"
                             "Transfer-Encoding: chunked\r\n\r\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_req_get),
        cmocka_unit_test(test_req_no_query),
        cmocka_unit_test(test_req_post_length),
        cmocka_unit_test(test_req_length_zero_and_dup),
        cmocka_unit_test(test_req_chunked),
        cmocka_unit_test(test_req_absolute_form),
        cmocka_unit_test(test_req_connect_and_asterisk),
        cmocka_unit_test(test_req_other_method),
        cmocka_unit_test(test_req_keepalive),
        cmocka_unit_test(test_req_upgrade_expect),
        cmocka_unit_test(test_req_connection_nominates),
        cmocka_unit_test(test_req_leading_empty_lines),
        cmocka_unit_test(test_req_pipelined),
        cmocka_unit_test(test_req_every_prefix),
        cmocka_unit_test(test_req_every_split),
        cmocka_unit_test(test_req_split_error),
        cmocka_unit_test(test_req_bad),
        cmocka_unit_test(test_req_ows_trimmed_values),
        cmocka_unit_test(test_limits_line),
        cmocka_unit_test(test_limits_headers),
        cmocka_unit_test(test_limits_count),
        cmocka_unit_test(test_init_invalid),
        cmocka_unit_test(test_resp_basic),
        cmocka_unit_test(test_resp_close_delimited),
        cmocka_unit_test(test_resp_no_body),
        cmocka_unit_test(test_resp_informational),
        cmocka_unit_test(test_resp_bad),
        cmocka_unit_test(test_resp_every_prefix),
        cmocka_unit_test(test_chunked_decode),
        cmocka_unit_test(test_chunked_every_split),
        cmocka_unit_test(test_chunked_two_parts),
        cmocka_unit_test(test_chunked_bad),
        cmocka_unit_test(test_chunked_limits),
        cmocka_unit_test(test_chunk_writer),
        cmocka_unit_test(test_chunk_roundtrip),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_find),
        cmocka_unit_test(test_write_request),
        cmocka_unit_test(test_write_request_rewrites),
        cmocka_unit_test(test_write_response),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
