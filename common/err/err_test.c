/*
 * err_test.c -- unit tests for the error helpers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "common/err/err.h"

static void test_names(void **state)
{
    assert_string_equal(cm_err_str(GW_OK), "ok");
    assert_string_equal(cm_err_str(GW_EINVAL), "invalid input");
    assert_string_equal(cm_err_str(-ENOENT), strerror(ENOENT));
    assert_string_equal(cm_err_str(-5000), "unknown error");
}

static void test_set_formats_and_returns_code(void **state)
{
    char err[16];

    assert_int_equal(cm_err_set(err, sizeof(err), GW_EINVAL, "bad %s at %d",
                                "rule", 12345678),
                     GW_EINVAL);
    /* truncated, always terminated */
    assert_string_equal(err, "bad rule at 123");
    assert_int_equal(cm_err_set(NULL, 0, GW_ENOENT, "x"), GW_ENOENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_set_formats_and_returns_code),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
