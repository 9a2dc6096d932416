/*
 * node_test.c -- unit tests of the control node's pure parts: flag parsing
 * (defaults, both value forms, errors naming the flag) and the snapshot a
 * configuration becomes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/config/config.h"
#include "controlplane/node/node.h"
#include "controlplane/xds/xds.h"

static int parse(struct cp_node_flags *f, char *err, int argc, ...)
{
    char *argv[32] = {"controlplane"};
    va_list ap;

    va_start(ap, argc);
    for (int i = 0; i < argc; i++)
        argv[i + 1] = va_arg(ap, char *);
    va_end(ap);
    return cp_node_parse_flags(argc + 1, argv, f, err, CM_ERR_LEN);
}

static void test_defaults(void **state)
{
    struct cp_node_flags f;
    char err[CM_ERR_LEN];

    setenv("XDG_STATE_HOME", "/var/tmp/st", 1);
    assert_int_equal(parse(&f, err, 0), 0);
    assert_string_equal(f.grpc_addr, "127.0.0.1:4242");
    assert_string_equal(f.http_addr, "127.0.0.1:8099");
    assert_null(f.redis);
    assert_null(f.sentinels);
    assert_null(f.config);
    assert_string_equal(f.master_name, "mymaster");
    assert_int_equal(f.wait_replicas, 0); /* no sentinels: no replica */
    assert_int_equal(f.wait_timeout_ms, 1000);
    assert_int_equal(f.log_level, CM_LOG_INFO);
    assert_true(strlen(f.node_id) > 0);
    assert_true(strncmp(f.data_dir, "/var/tmp/st/traefikee/", 22) == 0);
    assert_false(f.help);
    assert_false(f.version);
}

static void test_values(void **state)
{
    struct cp_node_flags f;
    char err[CM_ERR_LEN];

    assert_int_equal(parse(&f, err, 9, "--node-id", "cp-1",
                           "--grpc-addr=127.0.0.1:5000", "--sentinels",
                           "127.0.0.1:1,127.0.0.1:2", "--master-name=m",
                           "--wait-timeout", "250ms", "--log-level=debug"),
                     0);
    assert_string_equal(f.node_id, "cp-1");
    assert_string_equal(f.grpc_addr, "127.0.0.1:5000");
    assert_string_equal(f.sentinels, "127.0.0.1:1,127.0.0.1:2");
    assert_string_equal(f.master_name, "m");
    assert_int_equal(f.wait_replicas, 1); /* sentinels: one replica */
    assert_int_equal(f.wait_timeout_ms, 250);
    assert_int_equal(f.log_level, CM_LOG_DEBUG);
    /* the default data dir follows the node id */
    assert_non_null(strstr(f.data_dir, "/traefikee/cp-1"));

    assert_int_equal(parse(&f, err, 6, "--redis", "unix:/tmp/r.sock",
                           "--wait-replicas", "0", "--data-dir", "/d"),
                     0);
    assert_string_equal(f.redis, "unix:/tmp/r.sock");
    assert_int_equal(f.wait_replicas, 0);
    assert_string_equal(f.data_dir, "/d");
    assert_int_equal(parse(&f, err, 2, "--version", "--help"), 0);
    assert_true(f.version && f.help);
    assert_int_equal(parse(&f, err, 2, "--config", "/etc/t.yaml"), 0);
    assert_string_equal(f.config, "/etc/t.yaml");
}

static void test_errors(void **state)
{
    struct cp_node_flags f;
    char err[CM_ERR_LEN];

    assert_int_equal(parse(&f, err, 1, "--bogus=1"), GW_EINVAL);
    assert_non_null(strstr(err, "unknown flag --bogus"));
    assert_int_equal(parse(&f, err, 1, "--node-id"), GW_EINVAL);
    assert_non_null(strstr(err, "--node-id needs a value"));
    assert_int_equal(parse(&f, err, 2, "--grpc-addr", "nope"), GW_EINVAL);
    assert_non_null(strstr(err, "--grpc-addr"));
    assert_non_null(strstr(err, "nope"));
    assert_int_equal(parse(&f, err, 4, "--redis", "127.0.0.1:1", "--sentinels",
                           "127.0.0.1:2"),
                     GW_EINVAL);
    assert_non_null(strstr(err, "exclude"));
    assert_int_equal(parse(&f, err, 2, "--wait-replicas", "-1"), GW_EINVAL);
    assert_int_equal(parse(&f, err, 2, "--wait-timeout", "soon"), GW_EINVAL);
    assert_non_null(strstr(err, "--wait-timeout"));
    assert_int_equal(parse(&f, err, 2, "--log-level", "loud"), GW_EINVAL);
    assert_int_equal(parse(&f, err, 1, "stray"), GW_EINVAL);
    assert_non_null(strstr(err, "stray"));
    assert_int_equal(parse(&f, err, 2, "--node-id", "a@b"), GW_EINVAL);
}

static const char doc[] =
    "entryPoints: {web: {address: ':8000'}}\n"
    "http:\n"
    "  routers:\n"
    "    whoami: {rule: 'Host(`w`) && PathPrefix(`/w`)', service: whoami}\n"
    "  services:\n"
    "    whoami:\n"
    "      loadBalancer:\n"
    "        servers: [{url: 'http://127.0.0.1:8081'}]\n";

static void test_security_flags(void **state)
{
    struct cp_node_flags f;
    char err[CM_ERR_LEN];

    unsetenv("TRAEFIKEE_INSECURE");
    assert_int_equal(parse(&f, err, 2, "--data-dir", "/d"), 0);
    assert_false(f.insecure);
    assert_string_equal(f.cluster_key_file, "/d/cluster.key");
    assert_int_equal(f.cert_ttl_s, 24 * 3600);
    assert_null(f.join_token);
    assert_null(f.redis_password_file);
    assert_null(f.xds_plaintext_addr);
    assert_int_equal(parse(&f, err, 8, "--insecure", "--cert-ttl=5m",
                           "--cluster-key-file", "/k", "--join-token", "T",
                           "--redis-password-file=/p", "--data-dir=/d"),
                     0);
    assert_true(f.insecure);
    assert_int_equal(f.cert_ttl_s, 300);
    assert_string_equal(f.cluster_key_file, "/k");
    assert_string_equal(f.join_token, "T");
    assert_string_equal(f.redis_password_file, "/p");
    assert_int_equal(parse(&f, err, 2, "--cert-ttl", "10s"), 0);
    assert_int_equal(f.cert_ttl_s, 10);
    assert_int_equal(parse(&f, err, 2, "--cert-ttl", "5s"), GW_EINVAL);
    assert_non_null(strstr(err, "--cert-ttl"));
    assert_int_equal(parse(&f, err, 2, "--xds-plaintext-addr", "nope"),
                     GW_EINVAL);
    assert_int_equal(
        parse(&f, err, 2, "--xds-plaintext-addr", "127.0.0.1:18000"), 0);
    assert_string_equal(f.xds_plaintext_addr, "127.0.0.1:18000");
    /* plain text everywhere already: refused */
    assert_int_equal(parse(&f, err, 3, "--insecure", "--xds-plaintext-addr",
                           "127.0.0.1:18000"),
                     GW_EINVAL);
    setenv("TRAEFIKEE_INSECURE", "1", 1);
    assert_int_equal(parse(&f, err, 0), 0);
    assert_true(f.insecure);
    setenv("TRAEFIKEE_INSECURE", "0", 1);
    assert_int_equal(parse(&f, err, 0), 0);
    assert_false(f.insecure);
    setenv("TRAEFIKEE_INSECURE", "", 1);
    assert_int_equal(parse(&f, err, 0), 0);
    assert_false(f.insecure);
    unsetenv("TRAEFIKEE_INSECURE");
}

/* Writes <text> to a new temporary file; its path into <path>. */
static void temp_file(char *path, size_t len, const char *text)
{
    const char *dir = getenv("TEST_TMPDIR");
    int fd;

    snprintf(path, len, "%s/tokenXXXXXX", dir != NULL ? dir : "/tmp");
    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

static void test_join_token_file(void **state)
{
    struct cp_node_flags f;
    char err[CM_ERR_LEN], path[512], empty[512], big[512], longtok[400];

    temp_file(path, sizeof(path), "  TKE1.control.abc \t\nsecond line\n");
    assert_int_equal(parse(&f, err, 2, "--join-token-file", path), 0);
    assert_string_equal(f.join_token_file, path);
    assert_string_equal(f.join_token, "TKE1.control.abc");
    assert_int_equal(
        parse(&f, err, 4, "--join-token-file", path, "--join-token", "T"),
        GW_EINVAL);
    assert_non_null(strstr(err, "exclude"));
    temp_file(empty, sizeof(empty), " \n\n");
    assert_int_equal(parse(&f, err, 2, "--join-token-file", empty), GW_EINVAL);
    assert_non_null(strstr(err, "empty"));
    memset(longtok, 'a', sizeof(longtok) - 1);
    longtok[sizeof(longtok) - 1] = '\0';
    temp_file(big, sizeof(big), longtok);
    assert_int_equal(parse(&f, err, 2, "--join-token-file", big), GW_EINVAL);
    assert_non_null(strstr(err, "not a join token"));
    unlink(path);
    assert_int_equal(parse(&f, err, 2, "--join-token-file", path), GW_EINVAL);
    assert_non_null(strstr(err, "--join-token-file"));
    assert_int_equal(parse(&f, err, 2, "--join-token-file", ""), GW_EINVAL);
    unlink(empty);
    unlink(big);
}

static void test_snapshot(void **state)
{
    char err[CM_ERR_LEN];
    struct cm_config *cfg = cm_config_parse(doc, strlen(doc), err, sizeof(err));
    struct cp_xds_snapshot *snap;

    assert_non_null(cfg);
    snap = cp_node_snapshot(cfg, "7", err, sizeof(err));
    assert_non_null(snap);
    assert_string_equal(cp_xds_snapshot_version(snap), "7");
    assert_int_equal(cp_xds_snapshot_count(snap, CP_XDS_CLUSTER), 1);
    assert_int_equal(cp_xds_snapshot_count(snap, CP_XDS_ENDPOINT), 1);
    assert_true(cp_xds_snapshot_find(snap, CP_XDS_CLUSTER, "whoami") >= 0);
    assert_true(cp_xds_snapshot_find(snap, CP_XDS_LISTENER, "web") >= 0);
    assert_true(cp_xds_snapshot_find(snap, CP_XDS_ROUTE, "web") >= 0);
    cp_xds_snapshot_put(snap);
    cm_config_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_security_flags),
        cmocka_unit_test(test_join_token_file),
        cmocka_unit_test(test_snapshot),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
