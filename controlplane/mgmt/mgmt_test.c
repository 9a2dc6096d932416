/*
 * mgmt_test.c -- unit tests of the management API's pure helpers: kind
 * names, Get's selection, the dry-run diff, Delete with its reference
 * check, and the translation kept for the pipeline.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "common/config/config.h"
#include "common/xds/xds.h"
#include "controlplane/mgmt/mgmt_int.h"

static const char base_doc[] =
    "entryPoints: {web: {address: ':8000'}}\n"
    "http:\n"
    "  routers:\n"
    "    a: {rule: 'Host(`a`)', service: s1, middlewares: [strip]}\n"
    "    b: {rule: 'Host(`b`)', service: s2}\n"
    "  services:\n"
    "    s1: {loadBalancer: {servers: [{url: 'http://127.0.0.1:1'}]}}\n"
    "    s2: {loadBalancer: {servers: [{url: 'http://127.0.0.1:2'}]}}\n"
    "    s3: {loadBalancer: {servers: [{url: 'http://127.0.0.1:3'}]}}\n"
    "    w: {weighted: {services: [{name: s3, weight: 1}]}}\n"
    "  middlewares:\n"
    "    strip: {stripPrefix: {prefixes: [/a]}}\n"
    "    add: {addPrefix: {prefix: /x}}\n"
    "    ch: {chain: {middlewares: [add]}}\n";

static struct cm_config *parse(const char *doc)
{
    char err[CM_ERR_LEN];
    struct cm_config *cfg = cm_config_parse(doc, strlen(doc), err, sizeof(err));

    if (cfg == NULL)
        fail_msg("parse: %s", err);
    return cfg;
}

static void test_kinds(void **state)
{
    assert_int_equal(cp_mgmt_kind_parse("routers"), CP_MGMT_KIND_ROUTERS);
    assert_int_equal(cp_mgmt_kind_parse("router"), CP_MGMT_KIND_ROUTERS);
    assert_int_equal(cp_mgmt_kind_parse("service"), CP_MGMT_KIND_SERVICES);
    assert_int_equal(cp_mgmt_kind_parse("middlewares"),
                     CP_MGMT_KIND_MIDDLEWARES);
    assert_int_equal(cp_mgmt_kind_parse("entryPoints"),
                     CP_MGMT_KIND_ENTRYPOINTS);
    assert_int_equal(cp_mgmt_kind_parse("entrypoint"),
                     CP_MGMT_KIND_ENTRYPOINTS);
    assert_int_equal(cp_mgmt_kind_parse("config"), CP_MGMT_KIND_CONFIG);
    assert_int_equal(cp_mgmt_kind_parse("confi"), -1);
    assert_int_equal(cp_mgmt_kind_parse("nodes"), -1);
    assert_int_equal(cp_mgmt_kind_parse(""), -1);
    assert_int_equal(cp_mgmt_kind_parse(NULL), -1);
    assert_string_equal(cp_mgmt_kind_name(CP_MGMT_KIND_MIDDLEWARES),
                        "middlewares");
}

static void test_select(void **state)
{
    struct cm_config *cfg = parse(base_doc);
    json_t *j;
    int rc;

    j = cp_mgmt_select(cfg, CP_MGMT_KIND_ROUTERS, NULL, &rc);
    assert_int_equal(rc, 0);
    assert_int_equal(json_object_size(j), 2);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(j, "a"), "service")),
        "s1");
    json_decref(j);
    j = cp_mgmt_select(cfg, CP_MGMT_KIND_SERVICES, "w", &rc);
    assert_int_equal(rc, 0);
    assert_non_null(json_object_get(j, "weighted"));
    json_decref(j);
    j = cp_mgmt_select(cfg, CP_MGMT_KIND_ENTRYPOINTS, "web", &rc);
    assert_string_equal(json_string_value(json_object_get(j, "address")),
                        ":8000");
    json_decref(j);
    assert_null(cp_mgmt_select(cfg, CP_MGMT_KIND_ROUTERS, "zz", &rc));
    assert_int_equal(rc, GW_ENOENT);
    j = cp_mgmt_select(cfg, CP_MGMT_KIND_CONFIG, NULL, &rc);
    assert_non_null(json_object_get(j, "http"));
    json_decref(j);
    /* no configuration yet: empty */
    j = cp_mgmt_select(NULL, CP_MGMT_KIND_ROUTERS, "", &rc);
    assert_int_equal(rc, 0);
    assert_int_equal(json_object_size(j), 0);
    json_decref(j);
    cm_config_free(cfg);
}

static void assert_names(const struct cp_mgmt_diff *d, int k, int c,
                         const char *const *want, size_t n)
{
    assert_int_equal(d->n[k][c], n);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(d->names[k][c][i], want[i]);
}

static void test_diff(void **state)
{
    static const char next[] =
        "entryPoints: {web: {address: ':8000'}, admin: {address: ':9'}}\n"
        "http:\n"
        "  routers:\n"
        "    a: {rule: 'Host(`a`)', service: s1}\n"
        "    c: {rule: 'Host(`c`)', service: s1}\n"
        "    b2: {rule: 'Host(`b`)', service: s1}\n"
        "  services:\n"
        "    s1: {loadBalancer: {servers: [{url: 'http://127.0.0.1:1'}]}}\n";
    struct cm_config *a = parse(base_doc), *b = parse(next);
    struct cp_mgmt_diff d;
    const char *added[] = {"b2", "c"}, *removed[] = {"b"}, *changed[] = {"a"};
    const char *srm[] = {"s2", "s3", "w"}, *mrm[] = {"add", "ch", "strip"};
    const char *eadd[] = {"admin"};

    assert_int_equal(cp_mgmt_diff(a, b, &d), 0);
    assert_names(&d, CP_MGMT_KIND_ROUTERS, CP_MGMT_ADDED, added, 2);
    assert_names(&d, CP_MGMT_KIND_ROUTERS, CP_MGMT_REMOVED, removed, 1);
    assert_names(&d, CP_MGMT_KIND_ROUTERS, CP_MGMT_CHANGED, changed, 1);
    assert_names(&d, CP_MGMT_KIND_SERVICES, CP_MGMT_REMOVED, srm, 3);
    assert_names(&d, CP_MGMT_KIND_SERVICES, CP_MGMT_CHANGED, NULL, 0);
    assert_names(&d, CP_MGMT_KIND_MIDDLEWARES, CP_MGMT_REMOVED, mrm, 3);
    assert_names(&d, CP_MGMT_KIND_ENTRYPOINTS, CP_MGMT_ADDED, eadd, 1);
    assert_int_equal(cp_mgmt_diff_count(&d), 11);
    cp_mgmt_diff_deinit(&d);

    /* same document: empty diff; from nothing: everything added */
    assert_int_equal(cp_mgmt_diff(a, a, &d), 0);
    assert_int_equal(cp_mgmt_diff_count(&d), 0);
    cp_mgmt_diff_deinit(&d);
    assert_int_equal(cp_mgmt_diff(NULL, a, &d), 0);
    assert_int_equal(d.n[CP_MGMT_KIND_SERVICES][CP_MGMT_ADDED], 4);
    assert_int_equal(cp_mgmt_diff_count(&d), 10);
    cp_mgmt_diff_deinit(&d);
    cm_config_free(a);
    cm_config_free(b);
}

static void test_delete(void **state)
{
    struct cm_config *cfg = parse(base_doc), *after;
    char err[CM_ERR_LEN], *out = NULL;

    /* referenced: rejected with the user's name */
    assert_int_equal(cp_mgmt_delete(cfg, CP_MGMT_KIND_SERVICES, "s1", &out, err,
                                    sizeof(err)),
                     GW_EINVAL);
    assert_non_null(strstr(err, "router \"a\""));
    assert_int_equal(cp_mgmt_delete(cfg, CP_MGMT_KIND_SERVICES, "s3", &out, err,
                                    sizeof(err)),
                     GW_EINVAL);
    assert_non_null(strstr(err, "service \"w\""));
    assert_int_equal(cp_mgmt_delete(cfg, CP_MGMT_KIND_MIDDLEWARES, "add", &out,
                                    err, sizeof(err)),
                     GW_EINVAL);
    assert_non_null(strstr(err, "middleware \"ch\""));
    assert_int_equal(cp_mgmt_delete(cfg, CP_MGMT_KIND_MIDDLEWARES, "strip",
                                    &out, err, sizeof(err)),
                     GW_EINVAL);
    assert_int_equal(cp_mgmt_delete(cfg, CP_MGMT_KIND_ROUTERS, "nope", &out,
                                    err, sizeof(err)),
                     GW_ENOENT);
    assert_non_null(strstr(err, "router \"nope\" not found"));
    assert_int_equal(cp_mgmt_delete(cfg, CP_MGMT_KIND_ENTRYPOINTS, "web", &out,
                                    err, sizeof(err)),
                     GW_EINVAL);
    assert_null(out);

    /* unreferenced: gone, the rest parses back unchanged */
    assert_int_equal(
        cp_mgmt_delete(cfg, CP_MGMT_KIND_ROUTERS, "a", &out, err, sizeof(err)),
        0);
    after = parse(out);
    assert_null(cm_config_find_router(after, "a"));
    assert_non_null(cm_config_find_router(after, "b"));
    assert_int_equal(after->http.n_services, 4);
    cm_config_free(after);
    free(out);
    assert_int_equal(
        cp_mgmt_delete(cfg, CP_MGMT_KIND_SERVICES, "w", &out, err, sizeof(err)),
        0);
    after = parse(out);
    assert_null(cm_config_find_service(after, "w"));
    cm_config_free(after);
    free(out);
    cm_config_free(cfg);
}

static void test_diff_summary(void **state)
{
    struct cm_config *a = parse(base_doc), *b;
    struct cp_mgmt_diff d;
    char line[512], tiny[40];
    const char *changed =
        "entryPoints: {web: {address: ':8000'}}\n"
        "http:\n"
        "  routers:\n"
        "    a: {rule: 'Host(`a2`)', service: s1}\n"
        "    c: {rule: 'Host(`c`)', service: s1}\n"
        "  services:\n"
        "    s1: {loadBalancer: {servers: [{url: 'http://127.0.0.1:1'}]}}\n";

    b = parse(changed);
    assert_int_equal(cp_mgmt_diff(a, b, &d), 0);
    cp_mgmt_diff_summary(&d, line, sizeof(line));
    assert_string_equal(line, "+router c, -router b, ~router a, -service s2, "
                              "-service s3, -service w, -middleware add, "
                              "-middleware ch, -middleware strip");
    /* too long: cut at an item, the rest counted */
    cp_mgmt_diff_summary(&d, tiny, sizeof(tiny));
    assert_string_equal(tiny, "+router c, and 8 more");
    cp_mgmt_diff_deinit(&d);
    /* no change */
    assert_int_equal(cp_mgmt_diff(a, a, &d), 0);
    assert_string_equal(cp_mgmt_diff_summary(&d, line, sizeof(line)), "");
    cp_mgmt_diff_deinit(&d);
    cm_config_free(a);
    cm_config_free(b);
}

/* What the leader validated is handed to the pipeline once, for that very
 * document only. */
static void test_kept_translation(void **state)
{
    struct cp_mgmt m;
    struct cm_config *cfg = parse(base_doc), *got_cfg = NULL;
    char err[CM_ERR_LEN];
    struct cm_xds_resources *res = cm_xds_translate(cfg, "x", err, sizeof(err));
    struct cm_xds_resources *got_res = NULL;
    size_t len = strlen(base_doc);

    memset(&m, 0, sizeof(m));
    assert_non_null(res);
    assert_int_equal(
        cp_mgmt_take_translation(&m, base_doc, len, &got_cfg, &got_res), 0);
    cp_mgmt_keep_translation(&m, base_doc, len, cfg, res);
    /* another document (same length, one byte off) does not match */
    char *other = strdup(base_doc);
    strstr(other, "127.0.0.1:3")[10] = '4'; /* s3 moves */
    assert_int_equal(
        cp_mgmt_take_translation(&m, other, len, &got_cfg, &got_res), 0);
    assert_int_equal(
        cp_mgmt_take_translation(&m, base_doc, len - 1, &got_cfg, &got_res), 0);
    assert_int_equal(
        cp_mgmt_take_translation(&m, base_doc, len, &got_cfg, &got_res), 1);
    assert_ptr_equal(got_cfg, cfg);
    assert_ptr_equal(got_res, res);
    /* taken once */
    assert_int_equal(
        cp_mgmt_take_translation(&m, base_doc, len, &got_cfg, &got_res), 0);
    /* a new keep replaces the old one (nothing leaks) */
    cp_mgmt_keep_translation(&m, base_doc, len, got_cfg, got_res);
    cp_mgmt_keep_translation(&m, other, len, parse(other),
                             cm_xds_translate(cfg, "y", err, sizeof(err)));
    assert_int_equal(
        cp_mgmt_take_translation(&m, base_doc, len, &got_cfg, &got_res), 0);
    cp_mgmt_keep_translation(&m, NULL, 0, NULL, NULL);
    assert_null(m.kept_doc);
    free(other);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kinds),
        cmocka_unit_test(test_select),
        cmocka_unit_test(test_diff),
        cmocka_unit_test(test_delete),
        cmocka_unit_test(test_diff_summary),
        cmocka_unit_test(test_kept_translation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
