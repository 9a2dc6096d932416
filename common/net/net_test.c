/*
 * net_test.c -- address parsing round trips and real listening sockets on
 * loopback (SO_REUSEPORT lets two sockets share a port; without it, the
 * second bind fails).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <unistd.h>

#include "common/net/net.h"

static void roundtrip(const char *in, const char *want)
{
    struct sockaddr_storage ss;
    char err[CM_ERR_LEN], buf[CM_NET_ADDRSTRLEN];

    assert_int_equal(cm_net_parse_addr(in, &ss, err, sizeof(err)), GW_OK);
    assert_string_equal(
        cm_net_format_addr((struct sockaddr *)&ss, buf, sizeof(buf)), want);
}

static void test_parse(void **state)
{
    roundtrip(":8000", "0.0.0.0:8000");
    roundtrip("127.0.0.1:4242", "127.0.0.1:4242");
    roundtrip("[::1]:80", "[::1]:80");
    roundtrip("::1:80", "[::1]:80");
    roundtrip("0.0.0.0:0", "0.0.0.0:0");
}

static void bad(const char *in, const char *msg)
{
    struct sockaddr_storage ss;
    char err[CM_ERR_LEN];

    assert_int_equal(cm_net_parse_addr(in, &ss, err, sizeof(err)), GW_EINVAL);
    assert_non_null(strstr(err, msg));
}

static void test_parse_errors(void **state)
{
    bad("8000", "expected HOST:PORT");
    bad("127.0.0.1:", "invalid port");
    bad("127.0.0.1:65536", "invalid port");
    bad("127.0.0.1:-1", "invalid port");
    bad("127.0.0.1:80x", "invalid port");
    bad("localhost:80", "is not an IP address");
    bad("1.2.3.4.5:80", "is not an IP address");
}

static int bound_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);

    assert_int_equal(getsockname(fd, (struct sockaddr *)&ss, &sl), 0);
    return cm_net_port((struct sockaddr *)&ss);
}

static void test_listen_reuseport(void **state)
{
    struct sockaddr_storage ss;
    char err[CM_ERR_LEN];
    int a, b, c;

    assert_int_equal(cm_net_parse_addr("127.0.0.1:0", &ss, err, sizeof(err)),
                     GW_OK);
    a = cm_net_listen((struct sockaddr *)&ss, 16, CM_NET_REUSEPORT, err,
                      sizeof(err));
    assert_true(a >= 0);
    ((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)bound_port(a));
    b = cm_net_listen((struct sockaddr *)&ss, 16, CM_NET_REUSEPORT, err,
                      sizeof(err));
    assert_true(b >= 0);
    assert_int_equal(bound_port(a), bound_port(b));
    c = cm_net_listen((struct sockaddr *)&ss, 16, 0, err, sizeof(err));
    assert_int_equal(c, -EADDRINUSE);
    assert_non_null(strstr(err, "listen on 127.0.0.1:"));
    close(a);
    close(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_listen_reuseport),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
