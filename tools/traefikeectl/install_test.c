/*
 * install_test.c -- install/uninstall --local without a cluster: uninstall
 * signals only pids that still run their recorded program, removes the
 * state and keeps the logs (all with --purge); install refuses bad options,
 * an existing cluster.json and busy ports, leaving nothing behind. Then two
 * whole clusters (a few seconds each; redis-server and redis-sentinel from
 * PATH, skipped without them): the secure default (cluster.json's secure
 * fields, the secrets 0600, Redis refusing a client without the password,
 * the bundle copied to DIR/traefikeectl.bundle and linked from the default
 * path, apply through it, a plain-text client refused, revoking the
 * bundle's admin id: one line, another control node's bundle still works,
 * uninstall removing the link) and --insecure (apply in plain text).
 * integration/ha/run.sh exercises failovers.
 */
#define _GNU_SOURCE /* asprintf */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <jansson.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/pki/pki.h"
#include "tools/traefikeectl/traefikeectl.h"

static char *tmpdir(void)
{
    const char *base = getenv("TEST_TMPDIR");
    char *d = NULL;

    assert_true(asprintf(&d, "%s/inst.XXXXXX", base ? base : "/tmp") > 0);
    assert_non_null(mkdtemp(d));
    return d;
}

static int exists(const char *dir, const char *name)
{
    char p[PATH_MAX];
    struct stat st;

    snprintf(p, sizeof(p), "%s/%s", dir, name);
    return stat(p, &st) == 0;
}

static void touch(const char *dir, const char *name)
{
    char p[PATH_MAX];
    FILE *f;

    snprintf(p, sizeof(p), "%s/%s", dir, name);
    assert_non_null(f = fopen(p, "w"));
    fclose(f);
}

static pid_t start_sleep(void)
{
    pid_t pid = fork();

    assert_true(pid >= 0);
    if (pid == 0) {
        execl("/bin/sleep", "/bin/sleep", "30", (char *)NULL);
        _exit(127);
    }
    usleep(100000); /* until exec replaced the command line */
    return pid;
}

/* cluster.json with two processes: <a> recorded with its real program,
 * <b> with another program (a pid reused by something else). */
static void write_cluster(const char *dir, pid_t a, pid_t b)
{
    char p[PATH_MAX];
    json_t *j = json_pack(
        "{s:i, s:[{s:s, s:s, s:i, s:{}, s:[s, s]}, {s:s, s:s, s:i, s:{}, "
        "s:[s]}]}",
        "version", 1, "processes", "role", "data", "name", "data-1", "pid",
        (int)a, "addresses", "argv", "/bin/sleep", "30", "role", "backend",
        "name", "whoami-1", "pid", (int)b, "addresses", "argv",
        "/usr/bin/not-what-runs");

    snprintf(p, sizeof(p), "%s/cluster.json", dir);
    assert_int_equal(json_dump_file(j, p, 0), 0);
    json_decref(j);
}

static void test_uninstall_only_recorded_program(void **state)
{
    char *dir = tmpdir(), data[PATH_MAX], logs[PATH_MAX];
    pid_t a = start_sleep(), b = start_sleep();
    char *argv[] = {"uninstall", "--local", "--dir", dir,
                    "--timeout", "3s",      NULL};
    int st;

    (void)state;
    write_cluster(dir, a, b);
    snprintf(data, sizeof(data), "%s/data-1", dir);
    snprintf(logs, sizeof(logs), "%s/logs", dir);
    assert_int_equal(mkdir(data, 0755), 0);
    assert_int_equal(mkdir(logs, 0755), 0);
    touch(dir, "logs/data-1.log");
    touch(dir, "config.yaml");
    touch(dir, "admin-password");

    assert_int_equal(tctl_uninstall(6, argv), 0);
    /* a: stopped by SIGTERM; b: never signalled */
    assert_int_equal(waitpid(a, &st, 0), a);
    assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM);
    assert_int_equal(waitpid(b, &st, WNOHANG), 0);
    assert_int_equal(kill(b, 0), 0);
    kill(b, SIGKILL);
    waitpid(b, NULL, 0);
    /* state gone, logs kept */
    assert_false(exists(dir, "cluster.json"));
    assert_false(exists(dir, "data-1"));
    assert_false(exists(dir, "config.yaml"));
    assert_false(exists(dir, "admin-password"));
    assert_true(exists(dir, "logs/data-1.log"));

    /* nothing left to uninstall */
    assert_int_equal(tctl_uninstall(6, argv), 1);
    rmdir(logs);
    remove(logs);
    free(dir);
}

static void test_uninstall_purge(void **state)
{
    char *dir = tmpdir(), logs[PATH_MAX];
    pid_t a = start_sleep();
    char *argv[] = {"uninstall", "--local", "--purge", "--dir", dir, NULL};
    struct stat st;

    (void)state;
    write_cluster(dir, a, a);
    snprintf(logs, sizeof(logs), "%s/logs", dir);
    assert_int_equal(mkdir(logs, 0755), 0);
    touch(dir, "logs/redis-master.log");
    assert_int_equal(tctl_uninstall(5, argv), 0);
    waitpid(a, NULL, 0);
    assert_int_not_equal(stat(dir, &st), 0);
    free(dir);
}

static void test_uninstall_needs_local(void **state)
{
    char *argv[] = {"uninstall", "--dir", "/nonexistent", NULL};
    char *argv2[] = {"uninstall", "--local", "--bogus", NULL};

    (void)state;
    assert_int_equal(tctl_uninstall(3, argv), 2);
    assert_int_equal(tctl_uninstall(3, argv2), 2);
}

static void test_install_bad_options(void **state)
{
    char *a1[] = {"install", "--local", "--control-nodes", "0", NULL};
    char *a2[] = {"install", "--local", "--data-nodes=17", NULL};
    char *a3[] = {"install", "--local", "--base-port", "80", NULL};
    char *a4[] = {"install", "--dir", "x", NULL};
    char *a5[] = {"install", "--local", "--timeout", "soon", NULL};
    char *a6[] = {"install", "--local", "--dir", NULL};

    (void)state;
    assert_int_equal(tctl_install(4, a1), 2);
    assert_int_equal(tctl_install(3, a2), 2);
    assert_int_equal(tctl_install(4, a3), 2);
    assert_int_equal(tctl_install(3, a4), 2);
    assert_int_equal(tctl_install(4, a5), 2);
    assert_int_equal(tctl_install(3, a6), 2);
}

static void test_install_refuses_existing_cluster(void **state)
{
    char *dir = tmpdir(), p[PATH_MAX];
    char *argv[] = {"install", "--local", "--dir", dir, NULL};
    struct stat st;

    (void)state;
    touch(dir, "cluster.json");
    assert_int_equal(tctl_install(4, argv), 1);
    snprintf(p, sizeof(p), "%s/cluster.json", dir);
    assert_int_equal(stat(p, &st), 0);
    remove(p);
    rmdir(dir);
    free(dir);
}

/* Fake programs in PATH; a port of the block taken: install stops before
 * starting anything and leaves no cluster.json. */
static void test_install_port_in_use(void **state)
{
    char *dir = tmpdir(), *bin = tmpdir(), path[PATH_MAX * 2], p[PATH_MAX];
    const char *names[] = {"controlplane", "dataplane", "whoami",
                           "redis-server", "redis-sentinel"};
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t len = sizeof(sa);
    char base[16];
    int fd, port;
    char *old = getenv("PATH") ? strdup(getenv("PATH")) : NULL;

    (void)state;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        FILE *f;
        snprintf(p, sizeof(p), "%s/%s", bin, names[i]);
        assert_non_null(f = fopen(p, "w"));
        fputs("#!/bin/sh\nexit 1\n", f);
        fclose(f);
        chmod(p, 0755);
    }
    snprintf(path, sizeof(path), "%s", bin);
    setenv("PATH", path, 1);
    /* a listener on some port; the block starts 60 below (data admin) */
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    fd = socket(AF_INET, SOCK_STREAM, 0);
    for (port = 30060; port < 60000; port += 100) {
        sa.sin_port = htons((uint16_t)port);
        if (bind(fd, (struct sockaddr *)&sa, len) == 0)
            break;
    }
    assert_int_equal(listen(fd, 1), 0);
    snprintf(base, sizeof(base), "%d", port - 60);
    {
        char *argv[] = {"install",     "--local", "--dir", dir,
                        "--base-port", base,      NULL};
        assert_int_equal(tctl_install(6, argv), 1);
    }
    assert_false(exists(dir, "cluster.json"));
    assert_false(exists(dir, "logs"));
    close(fd);
    if (old != NULL)
        setenv("PATH", old, 1);
    free(old);
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        snprintf(p, sizeof(p), "%s/%s", bin, names[i]);
        remove(p);
    }
    rmdir(bin);
    rmdir(dir);
    free(bin);
    free(dir);
}

/* ==== whole clusters ==== */

static int have_redis(void)
{
    return access("/usr/bin/redis-server", X_OK) == 0 &&
           access("/usr/bin/redis-sentinel", X_OK) == 0;
}

/* A --base-port whose block looks free (install checks it again). */
static int free_base(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    int base, fd, ok;

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (int tries = 0; tries < 50; tries++) {
        /* below the kernel's ephemeral range (32768-), so that no client
         * socket of this machine takes a port of the block after the check */
        base = 20000 + (int)((getpid() * 7 + tries * 131) % 127) * 100;
        ok = 1;
        for (int off = 0; ok && off < 100; off++) {
            fd = socket(AF_INET, SOCK_STREAM, 0);
            sa.sin_port = htons((uint16_t)(base + off));
            ok = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
            close(fd);
        }
        if (ok)
            return base;
    }
    fail_msg("no free port block");
    return -1;
}

static char *read_text(const char *path)
{
    char *text = NULL, err[CM_ERR_LEN];

    if (cm_pki_file_read(path, &text, err, sizeof(err)) != 0)
        return NULL;
    return text;
}

static int mode_of(const char *path)
{
    struct stat st;

    assert_int_equal(stat(path, &st), 0);
    return (int)(st.st_mode & 0777);
}

/* Writes DIR/extra.yaml: the sample plus a second router. */
static char *extra_config(const char *dir, int base)
{
    char *path = NULL;
    FILE *f;

    assert_true(asprintf(&path, "%s/extra.yaml", dir) > 0);
    assert_non_null(f = fopen(path, "w"));
    fprintf(f,
            "entryPoints:\n  web: {address: \"127.0.0.1:%d\"}\n"
            "http:\n  routers:\n"
            "    whoami: {rule: \"PathPrefix(`/whoami`)\", service: w}\n"
            "    other: {rule: \"PathPrefix(`/other`)\", service: w}\n"
            "  services:\n    w:\n      loadBalancer:\n        servers:\n"
            "          - url: \"http://127.0.0.1:%d\"\n",
            base, base + 80);
    fclose(f);
    return path;
}

/* Prints the last lines of the control nodes' logs (after a failure). */
static void dump_logs(const char *dir)
{
    char *cmd = NULL;

    if (asprintf(&cmd, "tail -n 15 %s/logs/control-*.log >&2", dir) > 0 &&
        system(cmd) == -1)
        fprintf(stderr, "cannot run %s\n", cmd);
    free(cmd);
}

/* install --local (plus <extra>) in <dir> from <base>; its status (the
 * logs printed when it failed). */
static int install(char *dir, int base, const char *extra)
{
    int rc;
    char b[16];
    char *argv[] = {"install",     "--local", "--dir",     dir,
                    "--base-port", b,         "--timeout", "60s",
                    (char *)extra, NULL};

    snprintf(b, sizeof(b), "%d", base);
    rc = tctl_install(extra != NULL ? 9 : 8, argv);
    if (rc != 0)
        dump_logs(dir);
    return rc;
}

static int apply_with(const char *file, const char *control, const char *cred,
                      const char *value)
{
    char *argv[] = {"apply",         "-f",         (char *)file,  "--control",
                    (char *)control, (char *)cred, (char *)value, NULL};

    return tctl_apply(value != NULL ? 7 : cred != NULL ? 6 : 5, argv);
}

/* apply -f <file> with <bundle>: its status, its stderr in *err (free()). */
static int apply_stderr(const char *file, const char *control,
                        const char *bundle, char **err)
{
    char path[PATH_MAX], why[CM_ERR_LEN];
    const char *base = getenv("TEST_TMPDIR");
    int saved = dup(2), fd, rc;

    snprintf(path, sizeof(path), "%s/apply.stderr", base ? base : "/tmp");
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0 && saved >= 0);
    fflush(stderr);
    assert_int_equal(dup2(fd, 2), 2);
    close(fd);
    rc = apply_with(file, control, "--bundle", bundle);
    fflush(stderr);
    assert_int_equal(dup2(saved, 2), 2);
    close(saved);
    assert_int_equal(cm_pki_file_read(path, err, why, sizeof(why)), 0);
    remove(path);
    return rc;
}

/* Revokes the admin id of <bundle> (control-1's): once every control node
 * knows (within a heartbeat), a call with it fails with one line saying
 * so; control-2's bundle (another id) still works. */
static void revoked_admin(const char *dir, const char *control,
                          const char *extra, const char *bundle)
{
    char *argv[] = {"revoke",          "--role",       "admin",
                    "admin@control-1", "--control",    (char *)control,
                    "--bundle",        (char *)bundle, NULL};
    char other[PATH_MAX], *out = NULL, line[] = "traefikeectl: ";
    int n = 0, rc = 0;

    assert_int_equal(tctl_revoke(8, argv), 0);
    for (int tries = 0; tries < 30 && rc == 0; tries++) {
        free(out);
        if ((rc = apply_stderr(extra, control, bundle, &out)) == 0)
            usleep(100 * 1000);
    }
    assert_int_equal(rc, 1);
    for (const char *p = out; (p = strstr(p, line)) != NULL; p++)
        n += p == out || p[-1] == '\n';
    if (n != 1 || strstr(out, "admin@control-1") == NULL ||
        strstr(out, "it was revoked") == NULL)
        fail_msg("stderr: %s", out);
    free(out);
    snprintf(other, sizeof(other), "%s/control-2/traefikeectl.bundle", dir);
    assert_int_equal(apply_with(extra, control, "--bundle", other), 0);
}

static void test_install_secure(void **state)
{
    char *dir = tmpdir(), *xdg = tmpdir(), *text, *copy, *extra;
    char p[PATH_MAX], def[PATH_MAX], bundle[PATH_MAX];
    char *un[] = {"uninstall", "--local", "--purge", "--dir", dir, NULL};
    int base;
    json_t *j;
    const char *control;

    (void)state;
    if (!have_redis())
        skip();
    unsetenv("TRAEFIKEE_INSECURE");
    unsetenv("TRAEFIKEE_BUNDLE");
    setenv("XDG_CONFIG_HOME", xdg, 1);
    base = free_base();
    assert_int_equal(install(dir, base, NULL), 0);

    /* cluster.json: every earlier field, and the secure ones */
    snprintf(p, sizeof(p), "%s/cluster.json", dir);
    assert_non_null(j = json_load_file(p, 0, NULL));
    assert_int_equal(mode_of(p), 0600);
    assert_true(json_is_true(json_object_get(j, "secure")));
    snprintf(bundle, sizeof(bundle), "%s/traefikeectl.bundle", dir);
    assert_string_equal(json_string_value(json_object_get(j, "bundle")),
                        bundle);
    snprintf(p, sizeof(p), "%s/ca.crt", dir);
    assert_string_equal(json_string_value(json_object_get(j, "ca")), p);
    assert_int_equal(json_integer_value(json_object_get(j, "basePort")), base);
    assert_true(json_integer_value(json_object_get(j, "revision")) >= 1);
    assert_true(json_array_size(json_object_get(j, "processes")) > 10);
    control = json_string_value(json_object_get(j, "control"));
    assert_non_null(control);

    /* the secrets, 0600; the CA is the bundle's */
    snprintf(p, sizeof(p), "%s/cluster.key", dir);
    assert_int_equal(mode_of(p), 0600);
    assert_non_null(text = read_text(p));
    assert_true(cm_pki_cluster_key_valid(text));
    free(text);
    snprintf(p, sizeof(p), "%s/redis-password", dir);
    assert_int_equal(mode_of(p), 0600);
    /* the data token: in DIR/data-token (0600), not in any argv */
    snprintf(p, sizeof(p), "%s/data-token", dir);
    assert_int_equal(mode_of(p), 0600);
    assert_non_null(text = read_text(p));
    assert_int_equal(strncmp(text, "TKE1.data.", 10), 0);
    {
        char *all = json_dumps(json_object_get(j, "processes"), 0);
        char tok[CM_PKI_TOKEN_MAX];
        snprintf(tok, sizeof(tok), "%.*s", (int)strcspn(text, "\n"), text);
        assert_non_null(all);
        assert_null(strstr(all, tok));
        assert_null(strstr(all, "\"--join-token\""));
        assert_non_null(strstr(all, "\"--join-token-file\""));
        free(all);
    }
    free(text);
    assert_int_equal(mode_of(bundle), 0600);
    assert_non_null(text = read_text(bundle));
    {
        struct cm_pki_creds c = {0};
        struct cm_pki_cert_info info;
        char err[CM_ERR_LEN], *ca;
        assert_int_equal(cm_pki_creds_parse(text, &c, err, sizeof(err)), 0);
        assert_int_equal(cm_pki_cert_info(c.cert, &info, err, sizeof(err)), 0);
        assert_int_equal(info.role, CM_PKI_ROLE_ADMIN);
        snprintf(p, sizeof(p), "%s/ca.crt", dir);
        assert_non_null(ca = read_text(p));
        assert_string_equal(ca, c.ca);
        free(ca);
        cm_pki_creds_clear(&c);
    }
    /* Redis wants the password */
    {
        struct timeval tv = {2, 0};
        redisContext *rc = redisConnectWithTimeout("127.0.0.1", base + 1, tv);
        redisReply *r;
        assert_true(rc != NULL && rc->err == 0);
        assert_non_null(r = redisCommand(rc, "PING"));
        assert_int_equal(r->type, REDIS_REPLY_ERROR);
        assert_non_null(strstr(r->str, "NOAUTH"));
        freeReplyObject(r);
        redisFree(rc);
    }
    /* the default bundle: a link to DIR/traefikeectl.bundle */
    snprintf(def, sizeof(def), "%s/traefikee/bundle.pem", xdg);
    assert_int_equal(mode_of(def), 0600);
    {
        char target[PATH_MAX];
        ssize_t n = readlink(def, target, sizeof(target) - 1);
        assert_true(n > 0);
        target[n] = '\0';
        assert_string_equal(target, bundle);
    }
    assert_non_null(copy = read_text(def));
    assert_string_equal(copy, text);
    free(copy);
    free(text);

    /* apply: through the bundle (given, and the default), not in plain text */
    extra = extra_config(dir, base);
    assert_int_equal(apply_with(extra, control, "--bundle", bundle), 0);
    assert_int_equal(apply_with(extra, control, NULL, NULL), 0);
    assert_int_equal(apply_with(extra, control, "--insecure", NULL), 1);
    revoked_admin(dir, control, extra, bundle);
    json_decref(j);

    /* uninstall removes the default bundle, this cluster's */
    remove(extra);
    assert_int_equal(tctl_uninstall(5, un), 0);
    assert_false(exists(xdg, "traefikee/bundle.pem"));
    assert_int_not_equal(access(dir, F_OK), 0);
    unsetenv("XDG_CONFIG_HOME");
    snprintf(p, sizeof(p), "%s/traefikee", xdg);
    rmdir(p);
    rmdir(xdg);
    free(extra);
    free(xdg);
    free(dir);
}

static void test_install_insecure(void **state)
{
    char *dir = tmpdir(), *xdg = tmpdir(), *extra, p[PATH_MAX];
    char *un[] = {"uninstall", "--local", "--purge", "--dir", dir, NULL};
    json_t *j;
    int base;

    (void)state;
    if (!have_redis())
        skip();
    unsetenv("TRAEFIKEE_INSECURE");
    setenv("XDG_CONFIG_HOME", xdg, 1);
    base = free_base();
    assert_int_equal(install(dir, base, "--insecure"), 0);
    snprintf(p, sizeof(p), "%s/cluster.json", dir);
    assert_non_null(j = json_load_file(p, 0, NULL));
    assert_true(json_is_false(json_object_get(j, "secure")));
    assert_true(json_is_null(json_object_get(j, "bundle")));
    assert_true(json_is_null(json_object_get(j, "ca")));
    assert_false(exists(dir, "cluster.key"));
    assert_false(exists(dir, "traefikeectl.bundle"));
    assert_false(exists(xdg, "traefikee"));
    extra = extra_config(dir, base);
    assert_int_equal(
        apply_with(extra, json_string_value(json_object_get(j, "control")),
                   "--insecure", NULL),
        0);
    json_decref(j);
    remove(extra);
    assert_int_equal(tctl_uninstall(5, un), 0);
    assert_int_not_equal(access(dir, F_OK), 0);
    unsetenv("XDG_CONFIG_HOME");
    rmdir(xdg);
    free(extra);
    free(xdg);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_uninstall_only_recorded_program),
        cmocka_unit_test(test_uninstall_purge),
        cmocka_unit_test(test_uninstall_needs_local),
        cmocka_unit_test(test_install_bad_options),
        cmocka_unit_test(test_install_refuses_existing_cluster),
        cmocka_unit_test(test_install_port_in_use),
        cmocka_unit_test(test_install_secure),
        cmocka_unit_test(test_install_insecure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
