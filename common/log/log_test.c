/*
 * log_test.c -- unit tests for the logger: captures stderr through a pipe and
 * checks the line format, level filtering and value quoting.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "common/err/err.h"
#include "common/log/log.h"

/* Runs cm_log with stderr redirected to a pipe; returns what was written. */
static void capture(char *out, size_t len, enum cm_log_level lvl,
                    const char *kv)
{
    int fds[2], saved;
    ssize_t n;

    assert_int_equal(pipe(fds), 0);
    saved = dup(STDERR_FILENO);
    dup2(fds[1], STDERR_FILENO);
    cm_log(lvl, "test", "something_happened", "%s", kv);
    dup2(saved, STDERR_FILENO);
    close(saved);
    close(fds[1]);
    fcntl(fds[0], F_SETFL, O_NONBLOCK);
    n = read(fds[0], out, len - 1);
    out[n > 0 ? n : 0] = '\0';
    close(fds[0]);
}

static void test_line_format(void **state)
{
    char out[512];

    cm_log_set_level(CM_LOG_INFO);
    capture(out, sizeof(out), CM_LOG_WARN, "peer=127.0.0.1:4242 n=3");
    assert_memory_equal(out, "ts=", 3);
    assert_non_null(strstr(out, " level=warn mod=test "
                                "event=something_happened "
                                "peer=127.0.0.1:4242 n=3\n"));
    assert_int_equal(strchr(out, '\n') - out + 1, (long)strlen(out));
}

static void test_level_filter(void **state)
{
    char out[512];
    enum cm_log_level l;

    cm_log_set_level(CM_LOG_ERROR);
    capture(out, sizeof(out), CM_LOG_INFO, "x=1");
    assert_string_equal(out, "");
    cm_log_set_level(CM_LOG_INFO);
    assert_int_equal(cm_log_parse_level("debug", &l), GW_OK);
    assert_int_equal(l, CM_LOG_DEBUG);
    assert_int_equal(cm_log_parse_level("loud", &l), GW_EINVAL);
}

static void test_quote(void **state)
{
    char buf[64];

    assert_string_equal(cm_log_quote(buf, sizeof(buf), "plain"), "plain");
    assert_string_equal(cm_log_quote(buf, sizeof(buf), "a b\"c\n"),
                        "\"a b\\\"c\\x0a\"");
    assert_string_equal(cm_log_quote(buf, sizeof(buf), ""), "\"\"");
    /* never overflows, always closed */
    assert_string_equal(cm_log_quote(buf, 8, "a b c d e f"), "\"a b c\"");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_line_format),
        cmocka_unit_test(test_level_filter),
        cmocka_unit_test(test_quote),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
