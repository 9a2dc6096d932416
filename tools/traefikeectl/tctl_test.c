/*
 * tctl_test.c -- unit tests of traefikeectl's pure parts: option parsing,
 * the control node list, aligned tables, the YAML emitter (read back with
 * common/config's YAML reader would need a model; checked as text here).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/traefikeectl/client.h"
#include "tools/traefikeectl/output.h"

/* Runs <fn> with a memory stream; returns the text (free()). */
static char *capture_table(const struct tctl_table *t)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    tctl_table_print(t, f);
    fclose(f);
    return buf;
}

static char *capture_yaml(const json_t *v)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    tctl_yaml_print(v, f);
    fclose(f);
    return buf;
}

static void test_table(void **state)
{
    static const char *const h[] = {"Name", "Role", "Revision"};
    static const char *const r1[] = {"traefikee-control-node-2",
                                     "CONTROL NODE (Current Leader)", "3"};
    static const char *const r2[] = {"data-1", "DATA NODE", NULL};
    struct tctl_table *t = tctl_table_new(3, h);
    char *out;

    assert_int_equal(tctl_table_add(t, r1), 0);
    assert_int_equal(tctl_table_add(t, r2), 0);
    out = capture_table(t);
    assert_string_equal(
        out,
        "Name                      Role                           Revision\n"
        "----                      ----                           --------\n"
        "traefikee-control-node-2  CONTROL NODE (Current Leader)  3\n"
        "data-1                    DATA NODE                      \n");
    free(out);
    tctl_table_free(t);
}

static void test_yaml(void **state)
{
    json_t *v = json_loads(
        "{\"routers\": {\"a\": {\"rule\": \"Host(`x`)\", \"priority\": 10,"
        " \"middlewares\": [\"m1\", \"m2\"], \"tls\": {}}},"
        " \"servers\": [{\"url\": \"http://h:1\", \"weight\": 2}, "
        "{\"url\": \"true\"}],"
        " \"odd\": [\"\", \"- x\", \"a: b\", \"12\", \"yes\", \"x\\ny\"],"
        " \"flag\": false, \"none\": null, \"empty\": []}",
        JSON_PRESERVE_ORDER, NULL);
    char *out;

    assert_non_null(v);
    out = capture_yaml(v);
    assert_string_equal(out, "routers:\n"
                             "  a:\n"
                             "    rule: Host(`x`)\n"
                             "    priority: 10\n"
                             "    middlewares:\n"
                             "    - m1\n"
                             "    - m2\n"
                             "    tls: {}\n"
                             "servers:\n"
                             "- url: http://h:1\n"
                             "  weight: 2\n"
                             "- url: \"true\"\n"
                             "odd:\n"
                             "- \"\"\n"
                             "- \"- x\"\n"
                             "- \"a: b\"\n"
                             "- \"12\"\n"
                             "- \"yes\"\n"
                             "- \"x\\ny\"\n"
                             "flag: false\n"
                             "none: null\n"
                             "empty: []\n");
    free(out);
    json_decref(v);
}

static void test_formats(void **state)
{
    assert_int_equal(tctl_format_parse(NULL, TCTL_YAML), TCTL_YAML);
    assert_int_equal(tctl_format_parse("json", TCTL_TABLE), TCTL_JSON);
    assert_int_equal(tctl_format_parse("yaml", TCTL_TABLE), TCTL_YAML);
    assert_int_equal(tctl_format_parse("table", TCTL_JSON), TCTL_TABLE);
    assert_int_equal(tctl_format_parse("xml", TCTL_JSON), -1);
}

static void test_opts(void **state)
{
    char *argv[] = {"apply",         "-f",   "c.yaml", "--dry-run",
                    "--control=h:1", "extra"};
    char *bad[] = {"get", "-f", "x"};
    char *unknown[] = {"get", "--wat"};
    char *missing[] = {"get", "-o"};
    struct tctl_opts o;

    assert_int_equal(tctl_parse_opts(6, argv, "cfd", &o), 0);
    assert_string_equal(o.file, "c.yaml");
    assert_string_equal(o.control, "h:1");
    assert_true(o.dry_run);
    assert_int_equal(o.n_args, 1);
    assert_string_equal(o.args[0], "extra");
    assert_int_equal(tctl_parse_opts(3, bad, "co", &o), 2);
    assert_int_equal(tctl_parse_opts(2, unknown, "co", &o), 2);
    assert_int_equal(tctl_parse_opts(2, missing, "co", &o), 2);
}

static void test_ctx(void **state)
{
    struct tctl_ctx c;

    unsetenv("TRAEFIKEE_CONTROL");
    assert_int_equal(tctl_ctx_init(&c, NULL), 0);
    assert_int_equal(c.n, 1);
    assert_string_equal(c.addrs[0], "127.0.0.1:4242");
    tctl_ctx_deinit(&c);
    setenv("TRAEFIKEE_CONTROL", "a:1, b:2,", 1);
    assert_int_equal(tctl_ctx_init(&c, NULL), 0);
    assert_int_equal(c.n, 2);
    assert_string_equal(c.addrs[1], "b:2");
    tctl_ctx_deinit(&c);
    assert_int_equal(tctl_ctx_init(&c, "x:9"), 0); /* flag wins */
    assert_int_equal(c.n, 1);
    assert_string_equal(c.addrs[0], "x:9");
    tctl_ctx_deinit(&c);
    assert_int_equal(tctl_ctx_init(&c, "noport"), 2);
    tctl_ctx_deinit(&c);
}

static void test_hoist(void **state)
{
    char *a[] = {"traefikeectl", "--control", "h:1", "get", "routers"};
    char *b[] = {"traefikeectl", "--control=h:1", "list-nodes"};

    tctl_hoist_global(5, a);
    assert_string_equal(a[1], "get");
    assert_string_equal(a[2], "--control");
    assert_string_equal(a[3], "h:1");
    assert_string_equal(a[4], "routers");
    tctl_hoist_global(3, b);
    assert_string_equal(b[1], "list-nodes");
    assert_string_equal(b[2], "--control=h:1");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),   cmocka_unit_test(test_yaml),
        cmocka_unit_test(test_formats), cmocka_unit_test(test_opts),
        cmocka_unit_test(test_ctx),     cmocka_unit_test(test_hoist),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
