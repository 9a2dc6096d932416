/*
 * slap_test.c -- unit tests of slap's parts that need no network: the
 * histogram (bucket edges, percentiles of known distributions), durations,
 * the targets file and rendered requests (checked with the data node's
 * request parser), the summary's counters and JSON, the live view's text.
 * The run itself is tested against whoami in integration/slap/run.sh.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/http1/http1.h"
#include "tools/slap/slap.h"

/* ==== histogram ==== */

static void test_hist_edges(void **state)
{
    /* exact below 256 */
    for (uint64_t v = 0; v < 256; v++) {
        assert_int_equal(sl_hist_index(v), v);
        assert_int_equal(sl_hist_lowest((uint32_t)v), v);
        assert_int_equal(sl_hist_width((uint32_t)v), 1);
    }
    /* then buckets 2 wide up to 512, 4 wide up to 1024 */
    assert_int_equal(sl_hist_index(256), 256);
    assert_int_equal(sl_hist_index(257), 256);
    assert_int_equal(sl_hist_index(258), 257);
    assert_int_equal(sl_hist_index(511), 383);
    assert_int_equal(sl_hist_index(512), 384);
    assert_int_equal(sl_hist_index(515), 384);
    assert_int_equal(sl_hist_index(516), 385);
    assert_int_equal(sl_hist_lowest(384), 512);
    assert_int_equal(sl_hist_width(384), 4);
    /* every value lies in its bucket; buckets are < 1% of their values
     * wide; indexes never go backwards */
    uint32_t prev = 0;
    for (uint64_t v = 1; v < ((uint64_t)1 << 41); v += v / 97 + 1) {
        uint32_t i = sl_hist_index(v);
        uint64_t lo = sl_hist_lowest(i), w = sl_hist_width(i);
        assert_true(i < SL_HIST_BUCKETS);
        assert_true(i >= prev);
        prev = i;
        if (v > SL_HIST_VMAX)
            continue;
        assert_true(lo <= v && v < lo + w);
        assert_true(w == 1 || (double)w / (double)lo <= 1.0 / 128);
    }
    /* clamped at the top */
    assert_int_equal(sl_hist_index(SL_HIST_VMAX), SL_HIST_BUCKETS - 1);
    assert_int_equal(sl_hist_index(UINT64_MAX), SL_HIST_BUCKETS - 1);
    assert_int_equal(sl_hist_lowest(SL_HIST_BUCKETS - 1) +
                         sl_hist_width(SL_HIST_BUCKETS - 1) - 1,
                     SL_HIST_VMAX);
}

static void assert_near(double got, double want, double rel)
{
    if (got < want * (1 - rel) || got > want * (1 + rel))
        fail_msg("got %f, want %f +- %.1f%%", got, want, rel * 100);
}

static void test_hist_uniform(void **state)
{
    struct sl_hist *h = malloc(sizeof(*h));

    sl_hist_init(h);
    assert_int_equal(sl_hist_percentile(h, 50), 0);
    assert_true(sl_hist_mean(h) == 0);
    /* 1..100000 us once each, shuffled order does not matter */
    for (uint64_t v = 100000; v >= 1; v--)
        sl_hist_add(h, v);
    assert_int_equal(h->total, 100000);
    assert_int_equal(h->min, 1);
    assert_int_equal(h->max, 100000);
    assert_near((double)sl_hist_percentile(h, 50), 50000, 0.01);
    assert_near((double)sl_hist_percentile(h, 90), 90000, 0.01);
    assert_near((double)sl_hist_percentile(h, 99), 99000, 0.01);
    assert_near((double)sl_hist_percentile(h, 99.9), 99900, 0.01);
    assert_near((double)sl_hist_percentile(h, 1), 1000, 0.01);
    assert_near(sl_hist_mean(h), 50000.5, 1e-9);
    assert_int_equal(sl_hist_percentile(h, 0), 1);
    assert_int_equal(sl_hist_percentile(h, 100), 100000);
    /* exact where buckets are 1 wide */
    assert_int_equal(sl_hist_percentile(h, 0.1), 100);
    /* counts by range: [0, 256) exact, wider ranges within a bucket */
    assert_int_equal(sl_hist_count_range(h, 0, 256), 255);
    assert_int_equal(sl_hist_count_range(h, 10, 20), 10);
    assert_near((double)sl_hist_count_range(h, 1000, 2000), 1000, 0.01);
    assert_int_equal(sl_hist_count_range(h, 0, UINT64_MAX), 100000);
    assert_int_equal(sl_hist_count_range(h, 5, 5), 0);
    free(h);
}

static void test_hist_bimodal(void **state)
{
    struct sl_hist *h = malloc(sizeof(*h));

    /* 90% at 1 ms, 10% at 100 ms, one at 5 s */
    sl_hist_init(h);
    for (int i = 0; i < 900; i++)
        sl_hist_add(h, 1000);
    for (int i = 0; i < 99; i++)
        sl_hist_add(h, 100000);
    sl_hist_add(h, 5000000);
    assert_near((double)sl_hist_percentile(h, 50), 1000, 0.01);
    assert_near((double)sl_hist_percentile(h, 90), 1000, 0.01);
    assert_near((double)sl_hist_percentile(h, 90.1), 100000, 0.01);
    assert_near((double)sl_hist_percentile(h, 99.9), 100000, 0.01);
    assert_near((double)sl_hist_percentile(h, 99.95), 5000000, 0.01);
    assert_int_equal(h->max, 5000000);
    /* min and max bound the answer: one value is reported exactly */
    sl_hist_init(h);
    sl_hist_add(h, 123457);
    assert_int_equal(sl_hist_percentile(h, 50), 123457);
    assert_int_equal(sl_hist_percentile(h, 99.9), 123457);
    free(h);
}

/* ==== durations ==== */

static void test_dur_parse(void **state)
{
    static const struct {
        const char *s;
        uint64_t us;
    } ok[] = {
        {"30s", 30000000},   {"2m", 120000000},
        {"1m30s", 90000000}, {"1.5s", 1500000},
        {"250ms", 250000},   {"100us", 100},
        {"1h", 3600000000u}, {"0", 0},
        {"500ns", 0},        {"1500ns", 1},
        {"0.5ms", 500},      {"2h3m4s5ms", 7384005000u},
        {"\xc2\xb5s", 0},    {"10\xc2\xb5s", 10},
    };
    static const char *const bad[] = {
        "",          "10",  "s",
        "1x",        "-1s", "1s2",
        ".s",        "1 s", "9999999999999h",
        "\xc2\xb5s",
    };
    uint64_t us;

    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        if (strcmp(ok[i].s, "\xc2\xb5s") == 0)
            continue; /* listed as bad: a unit needs a number */
        assert_int_equal(sl_dur_parse(ok[i].s, &us), 0);
        assert_int_equal(us, ok[i].us);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (sl_dur_parse(bad[i], &us) == 0)
            fail_msg("accepted \"%s\"", bad[i]);
    }
    assert_int_equal(sl_dur_parse(NULL, &us), GW_EINVAL);
}

static void test_dur_format(void **state)
{
    char b[32];

    assert_string_equal(sl_dur_format(850, b, sizeof(b)), "850us");
    assert_string_equal(sl_dur_format(250000, b, sizeof(b)), "250ms");
    assert_string_equal(sl_dur_format(1500000, b, sizeof(b)), "1.5s");
    assert_string_equal(sl_dur_format(90000000, b, sizeof(b)), "1m30s");
}

/* ==== targets ==== */

static int port_of(const struct sl_target *tg)
{
    return ntohs(((const struct sockaddr_in *)&tg->addr)->sin_port);
}

static void test_targets_parse(void **state)
{
    static const char text[] =
        "# comment\n"
        "GET http://127.0.0.1:8081/whoami\n"
        "\n"
        "  POST   http://localhost:9000/api?x=1#frag   @/dev/null\r\n"
        "http://10.0.0.1\n"
        "HEAD http://[::1]:8080?q\n"
        "DELETE http://10.0.0.1/a/b\r"; /* no final newline */
    struct sl_targets t;
    char err[CM_ERR_LEN];

    sl_targets_init(&t);
    assert_int_equal(sl_targets_parse(&t, text, strlen(text), err, sizeof(err)),
                     0);
    assert_int_equal(t.n, 5);
    assert_string_equal(t.v[0].method, "GET");
    assert_int_equal(t.v[0].method_id, CM_H1_M_GET);
    assert_string_equal(t.v[0].authority, "127.0.0.1:8081");
    assert_string_equal(t.v[0].path, "/whoami");
    assert_int_equal(port_of(&t.v[0]), 8081);
    assert_null(t.v[0].body_path);

    assert_string_equal(t.v[1].method, "POST");
    assert_string_equal(t.v[1].authority, "localhost:9000");
    assert_string_equal(t.v[1].path, "/api?x=1");
    assert_string_equal(t.v[1].body_path, "/dev/null");
    assert_int_equal(t.v[1].addr.ss_family, AF_INET);
    assert_int_equal(
        ntohl(((struct sockaddr_in *)&t.v[1].addr)->sin_addr.s_addr),
        0x7f000001);

    assert_string_equal(t.v[2].method, "GET");
    assert_string_equal(t.v[2].path, "/");
    assert_int_equal(port_of(&t.v[2]), 80);

    assert_int_equal(t.v[3].method_id, CM_H1_M_HEAD);
    assert_int_equal(t.v[3].addr.ss_family, AF_INET6);
    assert_string_equal(t.v[3].path, "/?q");
    assert_string_equal(t.v[4].path, "/a/b");
    sl_targets_deinit(&t);
}

/* Expects <text> to fail with <msg> in the error. */
static void parse_fails(const char *text, const char *msg)
{
    struct sl_targets t;
    char err[CM_ERR_LEN] = "";

    sl_targets_init(&t);
    if (sl_targets_parse(&t, text, strlen(text), err, sizeof(err)) == 0)
        fail_msg("accepted: %s", text);
    if (strstr(err, msg) == NULL)
        fail_msg("error \"%s\" lacks \"%s\"", err, msg);
    sl_targets_deinit(&t);
}

static void test_targets_errors(void **state)
{
    parse_fails("", "no targets");
    parse_fails("\r", "no targets"); /* a CR alone, no LF: ends */
    parse_fails("\r\n\r", "no targets");
    parse_fails("# only a comment\n\n", "no targets");
    parse_fails("GET https://127.0.0.1/\n", "line 1: https");
    parse_fails("\nGET ftp://127.0.0.1/\n", "line 2: not an http");
    parse_fails("GET http://example.com/\n", "IP address or localhost");
    parse_fails("GET http://127.0.0.1:0/\n", "1..65535");
    parse_fails("GET http://127.0.0.1:70000/\n", "1..65535");
    parse_fails("GET http://127.0.0.1:/\n", "empty port");
    parse_fails("GET http:///x\n", "bad host");
    parse_fails("GET http://::1/\n", "brackets");
    parse_fails("GET http://u@127.0.0.1/\n", "user info");
    parse_fails("G(T http://127.0.0.1/\n", "bad method");
    parse_fails("GET http://127.0.0.1/ body\n", "@FILE");
    parse_fails("GET http://127.0.0.1/ @b extra\n", "METHOD URL");
    parse_fails("CONNECT http://127.0.0.1/\n", "CONNECT");
    parse_fails("GET http://127.0.0.1/a\x7f\n", "bad byte");
}

/* Parses the rendered request of <tg> with the data node's parser. */
static void check_request(const struct sl_target *tg, const char *host,
                          size_t body_len)
{
    struct cm_h1_req req;
    struct cm_h1_hdr hdrs[32];
    int n;

    assert_int_equal(cm_h1_req_init(&req, hdrs, 32, NULL), 0);
    n = cm_h1_req_parse(&req, tg->req, tg->req_len);
    assert_true(n > 0);
    assert_int_equal((size_t)n + body_len, tg->req_len);
    assert_int_equal(req.method, tg->method_id);
    assert_int_equal(req.msg.minor, 1);
    assert_int_equal(req.host.len, strlen(host));
    assert_memory_equal(tg->req + req.host.off, host, req.host.len);
    if (body_len > 0)
        assert_int_equal(req.msg.content_length, (int64_t)body_len);
}

static void test_targets_build(void **state)
{
    char path[] = "/tmp/slap_test_body.XXXXXX";
    char text[256], err[CM_ERR_LEN];
    const char *hdrs[] = {"X-Test: 1", "Host: ignored.example"};
    struct sl_req_opts ro = {hdrs, 1, NULL};
    struct sl_targets t;
    int fd = mkstemp(path);

    assert_true(fd >= 0);
    assert_int_equal(write(fd, "hello", 5), 5);
    close(fd);
    snprintf(text, sizeof(text),
             "GET http://127.0.0.1:8081/a?b=1\n"
             "POST http://127.0.0.1:8081/p @%s\n"
             "GET http://127.0.0.2:8081/\n",
             path);
    sl_targets_init(&t);
    assert_int_equal(sl_targets_parse(&t, text, strlen(text), err, sizeof(err)),
                     0);
    assert_int_equal(sl_targets_build(&t, &ro, err, sizeof(err)), 0);
    assert_string_equal(t.v[0].req, "GET /a?b=1 HTTP/1.1\r\n"
                                    "Host: 127.0.0.1:8081\r\n"
                                    "User-Agent: slap\r\n"
                                    "X-Test: 1\r\n\r\n");
    check_request(&t.v[0], "127.0.0.1:8081", 0);
    check_request(&t.v[1], "127.0.0.1:8081", 5);
    assert_memory_equal(t.v[1].req + t.v[1].req_len - 5, "hello", 5);
    /* two addresses: two endpoints */
    assert_int_equal(t.nendpoints, 2);
    assert_int_equal(t.v[0].endpoint, t.v[1].endpoint);
    assert_int_not_equal(t.v[0].endpoint, t.v[2].endpoint);

    /* -H Host: replaces the URL's host; -host wins over it */
    ro.nheaders = 2;
    assert_int_equal(sl_targets_build(&t, &ro, err, sizeof(err)), 0);
    check_request(&t.v[0], "ignored.example", 0);
    ro.host = "whoami.localhost";
    assert_int_equal(sl_targets_build(&t, &ro, err, sizeof(err)), 0);
    check_request(&t.v[2], "whoami.localhost", 0);

    /* bad headers and missing bodies */
    ro.host = NULL;
    hdrs[1] = "No colon";
    assert_int_equal(sl_targets_build(&t, &ro, err, sizeof(err)), GW_EINVAL);
    hdrs[1] = "X: a\r\nInjected: 1";
    assert_int_equal(sl_targets_build(&t, &ro, err, sizeof(err)), GW_EINVAL);
    unlink(path);
    ro.nheaders = 1;
    assert_int_equal(sl_targets_build(&t, &ro, err, sizeof(err)), GW_EIO);
    assert_non_null(strstr(err, path));
    sl_targets_deinit(&t);
}

/* ==== summary ==== */

static void test_stats_json(void **state)
{
    struct sl_stats *st = malloc(sizeof(*st));
    json_t *j, *lat;

    sl_stats_init(st, 100);
    st->sent = 10;
    st->send_us = 100000; /* 10 in 0.1 s */
    for (int i = 0; i < 6; i++)
        sl_stats_response(st, 200, 1000 * (i + 1));
    sl_stats_response(st, 503, 20000);
    sl_stats_error(st, SL_ERR_TIMEOUT);
    sl_stats_error(st, SL_ERR_CONNECT_REFUSED);
    assert_int_equal(sl_stats_errors(st), 2);
    assert_int_equal(sl_stats_in_flight(st), 1);
    assert_int_equal(sl_stats_failed(st), 3); /* 503 + 2 errors */
    assert_true(sl_stats_rate(st) == 100);

    j = sl_stats_json(st);
    assert_non_null(j);
    assert_int_equal(json_integer_value(json_object_get(j, "sent")), 10);
    assert_int_equal(json_integer_value(json_object_get(j, "completed")), 7);
    assert_int_equal(json_integer_value(json_object_get(j, "failed")), 3);
    assert_int_equal(json_integer_value(json_object_get(j, "in_flight")), 1);
    assert_int_equal(json_integer_value(json_object_get(j, "late")), 0);
    assert_int_equal(json_integer_value(
                         json_object_get(json_object_get(j, "status"), "200")),
                     6);
    assert_int_equal(json_integer_value(
                         json_object_get(json_object_get(j, "status"), "503")),
                     1);
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(j, "errors"), "connect_refused")),
                     1);
    assert_null(json_object_get(json_object_get(j, "errors"), "reset"));
    lat = json_object_get(j, "latency_ms");
    assert_true(json_real_value(json_object_get(lat, "max")) == 20.0);
    assert_near(json_real_value(json_object_get(lat, "p50")), 4.0, 0.01);
    assert_non_null(json_object_get(lat, "p90"));
    assert_non_null(json_object_get(lat, "p99"));
    assert_non_null(json_object_get(lat, "p999"));
    assert_true(json_real_value(json_object_get(lat, "mean")) ==
                (21.0 + 20.0) / 7);
    assert_true(json_real_value(json_object_get(j, "rate")) == 100.0);
    assert_true(json_real_value(json_object_get(j, "duration_s")) == 0.1);
    json_decref(j);
    free(st);
}

static void test_stats_text(void **state)
{
    struct sl_stats *st = malloc(sizeof(*st));
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    sl_stats_init(st, 50);
    st->sent = 3;
    sl_stats_response(st, 200, 1500);
    sl_stats_response(st, 404, 2500);
    sl_stats_error(st, SL_ERR_RESET);
    sl_stats_print(st, f);
    fclose(f);
    assert_non_null(strstr(buf, "status:     [200]: 1 [404]: 1\n"));
    assert_non_null(strstr(buf, "errors:     reset: 1\n"));
    assert_non_null(strstr(buf, "failed:     2\n"));
    assert_non_null(strstr(buf, "p50 1.50ms"));
    free(buf);
    free(st);
}

/* ==== live view ==== */

static void test_view(void **state)
{
    struct sl_stats *st = malloc(sizeof(*st));
    struct sl_view v;
    char buf[8192];
    int lines;

    sl_stats_init(st, 200);
    st->sent = 12;
    for (int i = 0; i < 10; i++)
        sl_stats_response(st, 200, 1500); /* 1-2ms row */
    sl_stats_response(st, 503, 7000000);  /* 5s+ row */
    sl_view_init(&v, stdout, 0, 0, 0, 0);
    lines = sl_view_render(&v, st, 1000000, 3000000, buf, sizeof(buf));
    assert_int_equal(lines, 3 + 13);
    assert_non_null(strstr(buf, "elapsed: 1s/3s  sent: 12  in-flight: 1  "
                                "late: 0  rate: 12/200 RPS\x1b[K\n"));
    assert_non_null(strstr(buf, "responses: [200]: 10 [503]: 1\x1b[K\n"));
    assert_non_null(strstr(buf, "errors:    none"));
    assert_non_null(strstr(buf, "       1ms-2ms: [      10] " /* full */
                                "**************************************"
                                "************\x1b[K\n"));
    assert_non_null(strstr(buf, "          <1ms: [       0] \x1b[K\n"));
    assert_non_null(strstr(buf, "           5s+: [       1] *****\x1b[K"));
    assert_null(strstr(buf, "\x1b[3")); /* no colour */

    /* slapper-like range: <min, rows, max+ */
    sl_view_init(&v, stdout, 1, 100000, 800000, 8);
    assert_int_equal(v.nrows, 10);
    assert_int_equal(v.edges[1], 100000);
    assert_int_equal(v.edges[9], 800000);
    assert_int_equal(v.edges[4], 218102); /* 100ms * 8^(3/8): log steps */
    lines = sl_view_render(&v, st, 1000000, 3000000, buf, sizeof(buf));
    assert_int_equal(lines, 3 + 10);
    assert_non_null(strstr(buf, "        <100ms: [      10]"));
    assert_non_null(strstr(buf, "\x1b[32m[200]: 10"));
    /* a short buffer is truncated, not overrun */
    lines = sl_view_render(&v, st, 1000000, 3000000, buf, 16);
    assert_int_equal(strlen(buf), 15);
    free(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hist_edges),
        cmocka_unit_test(test_hist_uniform),
        cmocka_unit_test(test_hist_bimodal),
        cmocka_unit_test(test_dur_parse),
        cmocka_unit_test(test_dur_format),
        cmocka_unit_test(test_targets_parse),
        cmocka_unit_test(test_targets_errors),
        cmocka_unit_test(test_targets_build),
        cmocka_unit_test(test_stats_json),
        cmocka_unit_test(test_stats_text),
        cmocka_unit_test(test_view),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
