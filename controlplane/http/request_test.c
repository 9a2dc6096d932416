/*
 * request_test.c -- the request helpers: percent-decoding, form and query
 * fields, cookies, Basic credentials.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "common/err/err.h"
#include "controlplane/http/http-int.h"

static struct cp_http__slice S(const char *s) {
    struct cp_http__slice r = {s, strlen(s)};
    return r;
}

static void
test_pct(void **state)
{
    char out[32];

    assert_int_equal(cp_http__pct_decode(S("a%20b+c"), true, out, 32), 5);
    assert_string_equal(out, "a b c");
    assert_int_equal(cp_http__pct_decode(S("a+b%2Bc"), false, out, 32), 5);
    assert_string_equal(out, "a+b+c");
    assert_int_equal(cp_http__pct_decode(S("%4"), true, out, 32), GW_EINVAL);
    assert_int_equal(cp_http__pct_decode(S("%"), true, out, 32), GW_EINVAL);
    assert_int_equal(cp_http__pct_decode(S("%zz"), true, out, 32), GW_EINVAL);
    assert_int_equal(cp_http__pct_decode(S("%00"), true, out, 32), GW_EINVAL);
    assert_int_equal(cp_http__pct_decode(S("abcd"), true, out, 4), GW_ETOOBIG);
    assert_int_equal(cp_http__pct_decode(S("abc"), true, out, 4), 3);
}

static void test_form(void **state)
{
    char out[64];
    struct cp_http__slice b =
        S("user=admin&password=p%40ss+word%26&empty=&flag");

    assert_int_equal(cp_http__form_get(b, "user", out, 64), 5);
    assert_string_equal(out, "admin");
    assert_int_equal(cp_http__form_get(b, "password", out, 64), 10);
    assert_string_equal(out, "p@ss word&");
    assert_int_equal(cp_http__form_get(b, "empty", out, 64), 0);
    assert_int_equal(cp_http__form_get(b, "flag", out, 64), 0);
    assert_int_equal(cp_http__form_get(b, "pass", out, 64), GW_ENOENT);
    assert_int_equal(cp_http__form_get(S(""), "user", out, 64), GW_ENOENT);
    assert_int_equal(cp_http__form_get(S("user=%G1"), "user", out, 64),
                     GW_EINVAL);
}

static void test_cookie(void **state)
{
    char out[64];
    struct cp_http__slice h =
        S("a=1; traefikee_session=v1.5.abc.def ;  other=\"q\"");

    assert_int_equal(cp_http__cookie_get(h, "traefikee_session", out, 64), 12);
    assert_string_equal(out, "v1.5.abc.def");
    assert_int_equal(cp_http__cookie_get(h, "other", out, 64), 1);
    assert_string_equal(out, "q");
    assert_int_equal(cp_http__cookie_get(h, "a", out, 64), 1);
    assert_int_equal(cp_http__cookie_get(h, "traefikee", out, 64), GW_ENOENT);
    assert_int_equal(cp_http__cookie_get(h, "traefikee_session", out, 5),
                     GW_ETOOBIG);
    assert_int_equal(cp_http__cookie_get(S("x_traefikee_session=1"),
                                         "traefikee_session", out, 64),
                     GW_ENOENT);
}

static void test_basic(void **state)
{
    char u[16], p[16];

    /* admin:pa:ss */
    assert_int_equal(
        cp_http__basic_parse(S("Basic YWRtaW46cGE6c3M="), u, 16, p, 16), 0);
    assert_string_equal(u, "admin");
    assert_string_equal(p, "pa:ss");
    assert_int_equal(
        cp_http__basic_parse(S("basic YWRtaW46cGE6c3M"), u, 16, p, 16), 0);
    /* no colon: "admin" */
    assert_int_equal(cp_http__basic_parse(S("Basic YWRtaW4="), u, 16, p, 16),
                     GW_EINVAL);
    assert_int_equal(cp_http__basic_parse(S("Bearer abc"), u, 16, p, 16),
                     GW_EINVAL);
    assert_int_equal(cp_http__basic_parse(S("Basic !!!"), u, 16, p, 16),
                     GW_EINVAL);
    /* too long for the buffers */
    assert_int_equal(
        cp_http__basic_parse(S("Basic YWRtaW46cGE6c3M="), u, 16, p, 5),
        GW_EINVAL);
    /* a NUL inside: "a\0:b" */
    assert_int_equal(cp_http__basic_parse(S("Basic YQA6Yg=="), u, 16, p, 16),
                     GW_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pct),
        cmocka_unit_test(test_form),
        cmocka_unit_test(test_cookie),
        cmocka_unit_test(test_basic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
