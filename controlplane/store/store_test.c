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

static int sev(const char *ch, const char *msg, struct cp_store_addr *from,
               struct cp_store_addr *to)
{
    return cp_store_sentinel_event(ch, msg, strlen(msg), "mymaster", from, to);
}

static void test_sentinel_event_switch(void **state)
{
    struct cp_store_addr from, to;

    assert_int_equal(sev("+switch-master",
                         "mymaster 127.0.0.1 6379 127.0.0.2 6380", &from, &to),
                     CP_STORE_SEV_SWITCH);
    assert_string_equal(from.host, "127.0.0.1");
    assert_int_equal(from.port, 6379);
    assert_string_equal(to.host, "127.0.0.2");
    assert_int_equal(to.port, 6380);
    /* another master, a prefix of ours, malformed */
    assert_int_equal(
        sev("+switch-master", "other 1.1.1.1 1 2.2.2.2 2", &from, &to),
        CP_STORE_SEV_NONE);
    assert_int_equal(
        sev("+switch-master", "mymaster2 1.1.1.1 1 2.2.2.2 2", &from, &to),
        CP_STORE_SEV_NONE);
    assert_int_equal(
        sev("+switch-master", "mymaster 1.1.1.1 1 2.2.2.2", &from, &to),
        CP_STORE_SEV_NONE);
    assert_int_equal(
        sev("+switch-master", "mymaster 1.1.1.1 1 2.2.2.2 0", &from, &to),
        CP_STORE_SEV_NONE);
    assert_int_equal(
        sev("+switch-master", "mymaster 1.1.1.1 1 2.2.2.2 2 x", &from, &to),
        CP_STORE_SEV_NONE);
}

static void test_sentinel_event_hold(void **state)
{
    struct cp_store_addr from, to;
    const char *slave = "slave 127.0.0.1:6380 127.0.0.1 6380 @ mymaster "
                        "127.0.0.1 6379";

    assert_int_equal(
        sev("+sdown", "master mymaster 127.0.0.1 6379", &from, &to),
        CP_STORE_SEV_HOLD);
    assert_int_equal(
        sev("+odown", "master mymaster 127.0.0.1 6379 #quorum 2/2", &from, &to),
        CP_STORE_SEV_HOLD);
    assert_int_equal(
        sev("+try-failover", "master mymaster 127.0.0.1 6379", &from, &to),
        CP_STORE_SEV_HOLD);
    assert_int_equal(sev("+selected-slave", slave, &from, &to),
                     CP_STORE_SEV_HOLD);
    assert_string_equal(from.host, "127.0.0.1"); /* the master, not the */
    assert_int_equal(from.port, 6379);           /* replica */
    assert_int_equal(
        sev("+failover-state-send-slaveof-noone", slave, &from, &to),
        CP_STORE_SEV_HOLD);
    assert_int_equal(sev("+promoted-slave", slave, &from, &to),
                     CP_STORE_SEV_HOLD);
    assert_int_equal(sev("+vote-for-leader", "0222f3630408225e 21", &from, &to),
                     CP_STORE_SEV_HOLD);
    assert_int_equal(from.port, 0);
    /* a replica or a sentinel down is no failover; other masters are not
     * ours; other channels mean nothing */
    assert_int_equal(sev("+sdown", slave, &from, &to), CP_STORE_SEV_NONE);
    assert_int_equal(sev("+sdown",
                         "sentinel 0222 127.0.0.1 26379 @ mymaster "
                         "127.0.0.1 6379",
                         &from, &to),
                     CP_STORE_SEV_NONE);
    assert_int_equal(
        sev("+try-failover", "master other 127.0.0.1 6379", &from, &to),
        CP_STORE_SEV_NONE);
    assert_int_equal(
        sev("+try-failover", "master mymasterX 127.0.0.1 6379", &from, &to),
        CP_STORE_SEV_NONE);
    assert_int_equal(sev("+selected-slave",
                         "slave 1.1.1.1:1 1.1.1.1 1 @ other 2.2.2.2 2", &from,
                         &to),
                     CP_STORE_SEV_NONE);
    assert_int_equal(sev("+slave", slave, &from, &to), CP_STORE_SEV_NONE);
    assert_int_equal(
        sev("-sdown", "master mymaster 127.0.0.1 6379", &from, &to),
        CP_STORE_SEV_NONE);
    /* every channel subscribed to but +switch-master holds for our master */
    for (size_t i = 0; cp_store_sentinel_channels[i] != NULL; i++)
        if (strcmp(cp_store_sentinel_channels[i], "+switch-master") != 0)
            assert_int_equal(sev(cp_store_sentinel_channels[i],
                                 "master mymaster 1.1.1.1 1", &from, &to),
                             CP_STORE_SEV_HOLD);
}

static void test_info_online(void **state)
{
    const char *info =
        "# Replication\r\nrole:master\r\nconnected_slaves:4\r\n"
        "slave0:ip=127.0.0.1,port=6380,state=online,offset=100,lag=0\r\n"
        "slave1:ip=127.0.0.1,port=6381,state=wait_bgsave,offset=0,lag=0\r\n"
        "slave2:ip=127.0.0.1,port=6382,state=online,offset=90,lag=1\r\n"
        "slave3:ip=127.0.0.1,port=6383,state=online,offset=10,lag=9\r\n"
        "master_repl_offset:100\r\n";

    assert_int_equal(cp_store_info_online(info, strlen(info), 2), 2);
    assert_int_equal(cp_store_info_online(info, strlen(info), 0), 1);
    assert_int_equal(cp_store_info_online(info, strlen(info), 10), 3);
    assert_int_equal(cp_store_info_online("", 0, 2), 0);
    assert_int_equal(cp_store_info_online("slave0:state=online", 19, 2), 0);
    assert_int_equal(cp_store_info_online("slavex:state=online,lag=0", 25, 2),
                     0);
    /* cut short: no lag field */
    assert_int_equal(cp_store_info_online(info, 80, 2), 0);
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
        cmocka_unit_test(test_sentinel_event_switch),
        cmocka_unit_test(test_sentinel_event_hold),
        cmocka_unit_test(test_info_online),
        cmocka_unit_test(test_new_rejects_bad_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
