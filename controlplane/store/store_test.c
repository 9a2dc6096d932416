/*
 * store_test.c -- unit tests of the store's pure helpers: address and
 * sentinel-list parsing, address formatting, reconnect backoff, event and
 * number parsing. No Redis needed (integration/store/ has those tests).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "common/err/err.h"
#include "controlplane/store/store.h"

static void test_addr_tcp(void **state)
{
    struct cp_store_addr a;
    char buf[300];

    assert_int_equal(cp_store_parse_addr("127.0.0.1:6379", &a), 0);
    assert_int_equal(a.kind, CP_STORE_ADDR_TCP);
    assert_string_equal(a.host, "127.0.0.1");
    assert_int_equal(a.port, 6379);
    assert_string_equal(cp_store_addr_str(&a, buf, sizeof(buf)),
                        "127.0.0.1:6379");
    assert_int_equal(cp_store_parse_addr("redis.local:1", &a), 0);
    assert_string_equal(a.host, "redis.local");
    assert_int_equal(cp_store_parse_addr("[::1]:26379", &a), 0);
    assert_string_equal(a.host, "::1");
    assert_int_equal(a.port, 26379);
    assert_string_equal(cp_store_addr_str(&a, buf, sizeof(buf)), "[::1]:26379");
}

static void test_addr_bad(void **state)
{
    struct cp_store_addr a;
    const char *bad[] = {
        "",      "host",     ":6379",     "h:",     "h:0",   "h:65536",
        "h:12x", "::1:6379", "[::1]6379", "[::1]:", "unix:", "unix:rel",
        "h:-1",  "h p:1",    "[]:1",      NULL};

    for (int i = 0; bad[i] != NULL; i++)
        assert_int_equal(cp_store_parse_addr(bad[i], &a), GW_EINVAL);
    assert_int_equal(cp_store_parse_addr(NULL, &a), GW_EINVAL);
}

static void test_addr_unix(void **state)
{
    struct cp_store_addr a;
    char buf[300], longp[200];

    assert_int_equal(cp_store_parse_addr("unix:/var/run/redis.sock", &a), 0);
    assert_int_equal(a.kind, CP_STORE_ADDR_UNIX);
    assert_string_equal(a.path, "/var/run/redis.sock");
    assert_string_equal(cp_store_addr_str(&a, buf, sizeof(buf)),
                        "unix:/var/run/redis.sock");
    memset(longp, 'a', sizeof(longp));
    memcpy(longp, "unix:/", 6);
    longp[sizeof(longp) - 1] = '\0';
    assert_int_equal(cp_store_parse_addr(longp, &a), GW_EINVAL);
}

static void test_sentinels(void **state)
{
    struct cp_store_addr a[3];
    size_t n;

    assert_int_equal(cp_store_parse_sentinels("a:1,b:2,[::1]:3", a, 3, &n), 0);
    assert_int_equal(n, 3);
    assert_string_equal(a[1].host, "b");
    assert_int_equal(a[2].port, 3);
    assert_int_equal(cp_store_parse_sentinels("a:1,b:2,c:3,d:4", a, 3, &n),
                     GW_ETOOBIG);
    assert_int_equal(cp_store_parse_sentinels("a:1,,b:2", a, 3, &n), GW_EINVAL);
    assert_int_equal(cp_store_parse_sentinels("a:1,", a, 3, &n), GW_EINVAL);
    assert_int_equal(cp_store_parse_sentinels("unix:/x", a, 3, &n), GW_EINVAL);
    assert_int_equal(cp_store_parse_sentinels("", a, 3, &n), GW_EINVAL);
}

static void test_backoff(void **state)
{
    /* rnd 0 gives the low end d/2, a huge rnd stays within [d/2, d] */
    assert_int_equal(cp_store_backoff_ms(0, 100, 2000, 0), 50);
    assert_int_equal(cp_store_backoff_ms(0, 100, 2000, 50), 100);
    assert_int_equal(cp_store_backoff_ms(1, 100, 2000, 0), 100);
    assert_int_equal(cp_store_backoff_ms(3, 100, 2000, 0), 400);
    assert_int_equal(cp_store_backoff_ms(5, 100, 2000, 0), 1000);
    assert_int_equal(cp_store_backoff_ms(60, 100, 2000, 0), 1000);
    for (uint32_t r = 0; r < 5000; r += 7) {
        unsigned d = cp_store_backoff_ms(2, 100, 2000, r * 2654435761u);
        assert_true(d >= 200 && d <= 400);
        d = cp_store_backoff_ms(1000, 100, 2000, r * 2654435761u);
        assert_true(d >= 1000 && d <= 2000);
    }
}

static void test_event(void **state)
{
    uint64_t rev = 0;

    assert_int_equal(cp_store_parse_event("revision 42", 11, &rev), 0);
    assert_int_equal(rev, 42);
    assert_int_equal(
        cp_store_parse_event("revision 18446744073709551615", 29, &rev), 0);
    assert_true(rev == UINT64_MAX);
    assert_int_equal(
        cp_store_parse_event("revision 18446744073709551616", 29, &rev),
        GW_EINVAL);
    assert_int_equal(cp_store_parse_event("revision ", 9, &rev), GW_EINVAL);
    assert_int_equal(cp_store_parse_event("revision x", 10, &rev), GW_EINVAL);
    assert_int_equal(cp_store_parse_event("rev 1", 5, &rev), GW_EINVAL);
    assert_int_equal(cp_store_parse_event("revision 1 ", 11, &rev), GW_EINVAL);
}

static void test_strerror(void **state)
{
    assert_string_equal(cp_store_strerror(CP_STORE_ESTALE), "stale epoch");
    assert_string_equal(cp_store_strerror(GW_ENOENT), "not found");
}

static void test_new_rejects_bad_config(void **state)
{
    uv_loop_t loop;
    struct cp_store_config cfg = {.redis = "127.0.0.1:1", .node_id = "a"};
    char err[CM_ERR_LEN];

    uv_loop_init(&loop);
    cfg.sentinels = "127.0.0.1:2";
    assert_null(cp_store_new(&loop, &cfg, NULL, err, sizeof(err)));
    assert_non_null(strstr(err, "either"));
    cfg.sentinels = NULL;
    cfg.node_id = "";
    assert_null(cp_store_new(&loop, &cfg, NULL, err, sizeof(err)));
    cfg.node_id = "a";
    cfg.redis = "nope";
    assert_null(cp_store_new(&loop, &cfg, NULL, err, sizeof(err)));
    assert_non_null(strstr(err, "nope"));
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_addr_tcp),
        cmocka_unit_test(test_addr_bad),
        cmocka_unit_test(test_addr_unix),
        cmocka_unit_test(test_sentinels),
        cmocka_unit_test(test_backoff),
        cmocka_unit_test(test_event),
        cmocka_unit_test(test_strerror),
        cmocka_unit_test(test_new_rejects_bad_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
