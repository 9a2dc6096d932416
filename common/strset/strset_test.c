/*
 * strset_test.c -- the sorted string set: order, uniqueness, removal,
 * ownership of copies.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "common/strset/strset.h"

static void test_sorted_unique(void **state)
{
    struct cm_strset s;
    char name[8];

    cm_strset_init(&s);
    assert_int_equal(cm_strset_add(&s, "web"), GW_OK);
    assert_int_equal(cm_strset_add(&s, "api"), GW_OK);
    assert_int_equal(cm_strset_add(&s, "web"), GW_OK);
    snprintf(name, sizeof(name), "mid");
    assert_int_equal(cm_strset_add(&s, name), GW_OK);
    name[0] = 'X'; /* the set holds its own copy */
    assert_int_equal(s.n, 3);
    assert_string_equal(s.v[0], "api");
    assert_string_equal(s.v[1], "mid");
    assert_string_equal(s.v[2], "web");
    assert_true(cm_strset_has(&s, "mid"));
    assert_false(cm_strset_has(&s, "Xid"));
    cm_strset_deinit(&s);
    assert_int_equal(s.n, 0);
}

static void test_del_clear_grow(void **state)
{
    struct cm_strset s;
    char name[16];

    cm_strset_init(&s);
    for (int i = 99; i >= 0; i--) {
        snprintf(name, sizeof(name), "n%03d", i);
        assert_int_equal(cm_strset_add(&s, name), GW_OK);
    }
    assert_int_equal(s.n, 100);
    for (size_t i = 1; i < s.n; i++)
        assert_true(strcmp(s.v[i - 1], s.v[i]) < 0);
    assert_true(cm_strset_del(&s, "n050"));
    assert_false(cm_strset_del(&s, "n050"));
    assert_int_equal(s.n, 99);
    assert_false(cm_strset_has(&s, "n050"));
    assert_true(cm_strset_has(&s, "n051"));
    cm_strset_clear(&s);
    assert_int_equal(s.n, 0);
    assert_false(cm_strset_has(&s, "n000"));
    cm_strset_deinit(&s);
}

static void test_copy_diff_equal(void **state)
{
    struct cm_strset a, b, d;
    const char *an[] = {"c", "a", "b"}, *bn[] = {"b", "d"};

    cm_strset_init(&a);
    cm_strset_init(&b);
    cm_strset_init(&d);
    for (int i = 0; i < 3; i++)
        assert_int_equal(cm_strset_add(&a, an[i]), GW_OK);
    for (int i = 0; i < 2; i++)
        assert_int_equal(cm_strset_add(&b, bn[i]), GW_OK);
    assert_int_equal(cm_strset_diff(&d, &a, &b), GW_OK);
    assert_int_equal(d.n, 2);
    assert_string_equal(d.v[0], "a");
    assert_string_equal(d.v[1], "c");
    assert_false(cm_strset_equal(&a, &b));
    assert_int_equal(cm_strset_copy(&b, &a), GW_OK);
    assert_true(cm_strset_equal(&a, &b));
    assert_int_equal(cm_strset_diff(&d, &a, &b), GW_OK);
    assert_int_equal(d.n, 0);
    cm_strset_deinit(&a);
    cm_strset_deinit(&b);
    cm_strset_deinit(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sorted_unique),
        cmocka_unit_test(test_del_clear_grow),
        cmocka_unit_test(test_copy_diff_equal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
