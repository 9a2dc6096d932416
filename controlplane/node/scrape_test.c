/*
 * scrape_test.c -- unit tests of scrape.c's pure parts: the admin address
 * to scrape from Node.metadata and the xDS peer, the answer to GET /stats
 * parsed whole or in pieces, rejected when it is not a 200 with a /stats
 * body, and the digest heartbeats carry.
 */
#define _GNU_SOURCE /* asprintf */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/http1/http1.h"
#include "controlplane/node/node_int.h"

static const char body[] =
    "{\"routers\":[{\"name\":\"whoami\",\"requests\":40,\"errors\":2,"
    "\"latency_us\":12345},{\"name\":\"api\",\"requests\":0,\"errors\":0,"
    "\"latency_us\":0}],"
    "\"endpoints\":[{\"cluster\":\"whoami\",\"address\":\"127.0.0.1:8081\","
    "\"hostname\":\"127.0.0.1:8081\",\"healthy\":true,\"checked\":true},"
    "{\"cluster\":\"whoami\",\"address\":\"127.0.0.1:8082\",\"hostname\":"
    "\"\",\"healthy\":false,\"checked\":true},"
    "{\"cluster\":\"plain\",\"address\":\"127.0.0.1:9000\",\"hostname\":"
    "\"\",\"healthy\":true,\"checked\":false},"
    "{\"cluster\":\"plain\",\"address\":\"127.0.0.1:9001\",\"hostname\":"
    "\"\",\"healthy\":false,\"checked\":false}],"
    "\"listeners\":[{\"name\":\"web\",\"address\":\"127.0.0.11:8000\"}]}\n";

static void test_addr(void **state)
{
    char out[80];

    (void)state;
    assert_int_equal(cp_node__scrape_addr("127.0.0.11:9901", "ipv4:1.2.3.4:5",
                                          out, sizeof(out)),
                     0);
    assert_string_equal(out, "127.0.0.11:9901");
    assert_int_equal(cp_node__scrape_addr("0.0.0.0:9901", "ipv4:10.1.2.3:40000",
                                          out, sizeof(out)),
                     0);
    assert_string_equal(out, "10.1.2.3:9901");
    assert_int_equal(
        cp_node__scrape_addr("[::]:9901", "ipv6:[::1]:40000", out, sizeof(out)),
        0);
    assert_string_equal(out, "[::1]:9901");
    assert_int_equal(
        cp_node__scrape_addr(":9901", "ipv4:10.1.2.3:1", out, sizeof(out)), 0);
    assert_string_equal(out, "10.1.2.3:9901");
    assert_int_equal(
        cp_node__scrape_addr("localhost:9901", NULL, out, sizeof(out)), 0);
    assert_string_equal(out, "127.0.0.1:9901");
    assert_int_equal(cp_node__scrape_addr("[::1]:1", NULL, out, sizeof(out)),
                     0);
    assert_string_equal(out, "[::1]:1");
    /* no IP literal, no port, bad port, unspecified without a peer */
    assert_int_equal(cp_node__scrape_addr("admin.local:9901", NULL, out, 80),
                     GW_EINVAL);
    assert_int_equal(cp_node__scrape_addr("127.0.0.1", NULL, out, 80),
                     GW_EINVAL);
    assert_int_equal(cp_node__scrape_addr("127.0.0.1:0", NULL, out, 80),
                     GW_EINVAL);
    assert_int_equal(cp_node__scrape_addr("127.0.0.1:70000", NULL, out, 80),
                     GW_EINVAL);
    assert_int_equal(cp_node__scrape_addr("127.0.0.1:9x", NULL, out, 80),
                     GW_EINVAL);
    assert_int_equal(cp_node__scrape_addr("::1:80", NULL, out, 80), GW_EINVAL);
    assert_int_equal(cp_node__scrape_addr("0.0.0.0:80", NULL, out, 80),
                     GW_EINVAL);
    assert_int_equal(cp_node__scrape_addr("0.0.0.0:80", "garbage", out, 80),
                     GW_EINVAL);
    assert_int_equal(cp_node__scrape_addr(NULL, NULL, out, 80), GW_EINVAL);
    assert_int_equal(cp_node__scrape_addr("127.0.0.1:80", NULL, out, 8),
                     GW_ETOOBIG);
}

static void check_digest(json_t *d)
{
    json_t *r = json_object_get(d, "routers"), *e;

    assert_non_null(d);
    assert_int_equal(json_object_size(r), 2);
    e = json_object_get(r, "whoami");
    assert_int_equal(json_integer_value(json_array_get(e, 0)), 40);
    assert_int_equal(json_integer_value(json_array_get(e, 1)), 2);
    assert_int_equal(json_integer_value(json_array_get(e, 2)), 12345);
    /* checked endpoints, and the unchecked one that takes no traffic */
    e = json_object_get(d, "endpoints");
    assert_int_equal(json_array_size(e), 3);
    assert_string_equal(
        json_string_value(json_array_get(json_array_get(e, 0), 1)),
        "127.0.0.1:8081");
    assert_int_equal(
        json_integer_value(json_array_get(json_array_get(e, 0), 2)), 1);
    assert_int_equal(
        json_integer_value(json_array_get(json_array_get(e, 1), 2)), 0);
    assert_string_equal(
        json_string_value(json_array_get(json_array_get(e, 2), 1)),
        "127.0.0.1:9001");
    e = json_object_get(d, "entry");
    assert_int_equal(json_array_size(e), 1);
    assert_string_equal(json_string_value(json_array_get(e, 0)),
                        "127.0.0.11:8000");
}

/* Parses <text> fed in pieces of <step> bytes, then EOF if <eof>. */
static int parse(const char *text, size_t step, bool eof, json_t **out)
{
    struct cm_h1_hdr hdrs[16];
    struct cm_h1_resp resp;
    size_t len = strlen(text), have = 0;
    int r = 0;

    cm_h1_resp_init(&resp, hdrs, 16, NULL);
    cm_h1_resp_reset(&resp, CM_H1_M_GET);
    while (have < len) {
        have = have + step < len ? have + step : len;
        r = cp_node__scrape_parse(&resp, text, have, false, out);
        if (r != 0)
            return r;
    }
    return eof ? cp_node__scrape_parse(&resp, text, have, true, out) : r;
}

static char *response(const char *status, const char *extra, const char *b)
{
    char *s = NULL;

    assert_true(asprintf(&s,
                         "HTTP/1.1 %s\r\nContent-Type: application/json\r\n"
                         "%sConnection: close\r\n\r\n%s",
                         status, extra, b) > 0);
    return s;
}

static void test_parse(void **state)
{
    char cl[64];
    char *ok, *text;
    json_t *d = NULL;

    (void)state;
    snprintf(cl, sizeof(cl), "Content-Length: %zu\r\n", strlen(body));
    ok = response("200 OK", cl, body);
    /* whole, and byte by byte: done once the body is in, before EOF */
    assert_int_equal(parse(ok, strlen(ok), false, &d), 1);
    check_digest(d);
    json_decref(d);
    assert_int_equal(parse(ok, 1, false, &d), 1);
    check_digest(d);
    json_decref(d);
    /* a body delimited by the close */
    text = response("200 OK", "", body);
    assert_int_equal(parse(text, 7, false, &d), 0);
    assert_null(d);
    assert_int_equal(parse(text, 7, true, &d), 1);
    check_digest(d);
    json_decref(d);
    free(text);
    /* cut short */
    ok[strlen(ok) - 10] = '\0';
    assert_int_equal(parse(ok, 100, false, &d), 0);
    assert_int_equal(parse(ok, 100, true, &d), GW_EPROTO);
    assert_null(d);
    free(ok);
    assert_int_equal(parse("HTTP/1.1 200 OK\r\nContent-", 5, true, &d),
                     GW_EPROTO);
    /* not 200 */
    text = response("503 Service Unavailable", "Content-Length: 9\r\n",
                    "no stats\n");
    assert_int_equal(parse(text, 3, true, &d), GW_EPROTO);
    free(text);
    /* chunked */
    text = response("200 OK", "Transfer-Encoding: chunked\r\n", "0\r\n\r\n");
    assert_int_equal(parse(text, 64, true, &d), GW_EPROTO);
    free(text);
    /* not a response, not JSON, not the /stats shape */
    assert_int_equal(parse("GET / HTTP/1.1\r\n\r\n", 64, true, &d), GW_EPROTO);
    text = response("200 OK", "Content-Length: 5\r\n", "{\"a\":");
    assert_int_equal(parse(text, 64, true, &d), GW_EPROTO);
    free(text);
    text = response("200 OK", "Content-Length: 14\r\n", "{\"routers\":[]}");
    assert_int_equal(parse(text, 64, true, &d), GW_EPROTO);
    free(text);
    assert_null(d);
}

static void test_digest_bounds(void **state)
{
    char name[400];
    char *b = NULL;
    json_t *d, *r;

    (void)state;
    memset(name, 'x', sizeof(name) - 1);
    name[sizeof(name) - 1] = '\0';
    /* a too long name, an empty one, a non-string one and negative
     * counters: left out or zero */
    assert_true(
        asprintf(&b,
                 "{\"routers\":[{\"name\":\"%s\",\"requests\":1},{\"name\":"
                 "\"\",\"requests\":1},{\"name\":7},{\"name\":\"ok\","
                 "\"requests\":-4,\"errors\":\"x\"},7],\"endpoints\":[{},7,"
                 "{\"cluster\":\"c\",\"address\":\"a\",\"checked\":true}]}",
                 name) > 0);
    d = cp_node__scrape_digest(b, strlen(b));
    free(b);
    assert_non_null(d);
    r = json_object_get(d, "routers");
    assert_int_equal(json_object_size(r), 1);
    assert_int_equal(
        json_integer_value(json_array_get(json_object_get(r, "ok"), 0)), 0);
    assert_int_equal(json_array_size(json_object_get(d, "endpoints")), 1);
    assert_int_equal(json_array_size(json_object_get(d, "entry")), 0);
    json_decref(d);
    assert_null(cp_node__scrape_digest("[]", 2));
    assert_null(cp_node__scrape_digest("", 0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_addr),
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_digest_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
