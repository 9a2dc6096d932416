/*
 * install_test.c -- install/uninstall --local without a cluster: uninstall
 * signals only pids that still run their recorded program, removes the
 * state and keeps the logs (all with --purge); install refuses bad options,
 * an existing cluster.json and busy ports, leaving nothing behind. The
 * whole cluster is exercised by integration/ha/run.sh.
 */
#define _GNU_SOURCE /* asprintf */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_uninstall_only_recorded_program),
        cmocka_unit_test(test_uninstall_purge),
        cmocka_unit_test(test_uninstall_needs_local),
        cmocka_unit_test(test_install_bad_options),
        cmocka_unit_test(test_install_refuses_existing_cluster),
        cmocka_unit_test(test_install_port_in_use),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
