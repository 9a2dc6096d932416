/*
 * dashboard_test.c -- the embedded files: present, byte for byte the
 * source files, index.html references its script and stylesheet, content
 * types, and no file pulls anything from another origin.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controlplane/dashboard/dashboard.h"

static char *read_src(const char *name, size_t *len)
{
    char path[256];
    FILE *f;
    char *buf = malloc(1 << 20);

    snprintf(path, sizeof(path), "controlplane/dashboard/%s", name);
    f = fopen(path, "rb");
    assert_non_null(f);
    *len = fread(buf, 1, 1 << 20, f);
    fclose(f);
    return buf;
}

static void test_embedded_equal_sources(void **state)
{
    const char *names[] = {"index.html", "app.js", "style.css", "login.html"};

    for (size_t i = 0; i < 4; i++) {
        const struct cp_dashboard_file *f =
            cp_dashboard_find(names[i], strlen(names[i]));
        size_t n;
        char *src = read_src(names[i], &n);
        assert_non_null(f);
        assert_int_equal(f->len, n);
        assert_memory_equal(f->data, src, n);
        assert_int_equal(f->data[n], 0);
        assert_null(strstr((const char *)f->data, "http://"));
        assert_null(strstr((const char *)f->data, "https://"));
        free(src);
    }
}

static void test_index(void **state)
{
    const struct cp_dashboard_file *f = cp_dashboard_find("", 0);

    assert_non_null(f);
    assert_string_equal(f->name, "index.html");
    assert_non_null(strstr((const char *)f->data, "<script src=\"app.js\""));
    assert_non_null(strstr((const char *)f->data, "href=\"style.css\""));
    assert_null(cp_dashboard_find("nope.js", 7));
    assert_null(cp_dashboard_find("app.j", 5));
    assert_null(cp_dashboard_find("../app.js", 9));
}

static void test_content_types(void **state)
{
    assert_string_equal(cp_dashboard_content_type("a.html"),
                        "text/html; charset=utf-8");
    assert_string_equal(cp_dashboard_content_type("app.js"),
                        "text/javascript; charset=utf-8");
    assert_string_equal(cp_dashboard_content_type("style.css"),
                        "text/css; charset=utf-8");
    assert_string_equal(cp_dashboard_content_type("x"),
                        "application/octet-stream");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_embedded_equal_sources),
        cmocka_unit_test(test_index),
        cmocka_unit_test(test_content_types),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
