/*
 * cmd_install.c -- `install --local` and `uninstall --local`: a whole
 * cluster on loopback (Redis master + two replicas, three sentinels, the
 * control nodes, the data nodes, two whoami backends, a sample config),
 * every process detached (own session, own log under DIR/logs) and recorded
 * with its argv in DIR/cluster.json so that scripts can find, kill and
 * restart any of them; uninstall stops exactly the recorded pids. Runs on
 * the caller's thread only; blocking sockets with timeouts.
 *
 * Ports, from --base-port P (default 18000): P entry point "web", P+1..P+3
 * Redis, P+11..P+13 sentinels, P+20+i control gRPC, P+40+i control HTTP,
 * P+60+i data node admin, P+80 and P+81 whoami; all on 127.0.0.1 but the
 * data nodes': data node N listens on its own loopback address 127.0.0.(10+N)
 * (--listen-host for the entry points, and its admin server), as if each
 * were a machine of its own: a load balancer addresses them one by one, a
 * test can cut one off. The block P..P+99 is checked free on 127.0.0.1 too.
 *
 * Secure by default (docs/security.md): one cluster key (DIR/cluster.key)
 * and one Redis password (DIR/redis-password) for every control node, Redis
 * with requirepass/masterauth and the sentinels with auth-pass; the admin
 * bundle the first control node writes is copied to DIR/traefikeectl.bundle
 * (the default bundle path a symbolic link to it; traefikeectl renews it
 * from the control nodes, bundle.h), every later call uses it (mutual
 * TLS), and
 * the data nodes join with the data token, which they read from
 * DIR/data-token (0600; --join-token-file keeps it out of argv). --insecure (or
 * TRAEFIKEE_INSECURE) makes the plain-text cluster of before.
 */
#define _GNU_SOURCE /* asprintf, posix_spawn_file_actions_addclosefrom_np */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <hiredis/hiredis.h>
#include <jansson.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/pki/pki.h"
#include "controlplane/auth/auth.h"
#include "controlplane/mgmt/mgmt.h"
#include "controlplane/rpc/rpc.h"
#include "tools/traefikeectl/client.h"
#include "tools/traefikeectl/output.h"
#include "tools/traefikeectl/traefikeectl.h"
#include "traefikee/v1/management.pb-c.h"

extern char **environ;

#define TI_MAX_PROCS   64
#define TI_MAX_ARGS    48
#define TI_MAX_CONTROL 9
#define TI_MAX_DATA    16
#define TI_MASTER      "traefikee"
#define TI_DEFAULT_DIR "traefikee-local"
#define TI_ERR_LEN     1024
#define TI_DATA_IP     10 /* data node N: 127.0.0.(TI_DATA_IP + N) */

/* Port offsets from --base-port. */
enum {
    TI_PORT_WEB = 0,
    TI_PORT_REDIS = 1,
    TI_PORT_SENTINEL = 11,
    TI_PORT_GRPC = 20,
    TI_PORT_HTTP = 40,
    TI_PORT_ADMIN = 60,
    TI_PORT_WHOAMI = 80,
    TI_N_REPLICAS = 2,
    TI_N_SENTINELS = 3,
    TI_N_BACKENDS = 2,
};

/* One started process; argv strings and addrs owned. */
struct ti_proc {
    const char *role; /* static string */
    char name[32];
    char *argv[TI_MAX_ARGS + 1];
    int argc;
    pid_t pid;
    int exited; /* reaped by us */
    json_t *addrs;
    char log[PATH_MAX];
};

struct ti_install {
    /* options */
    char dir[PATH_MAX]; /* absolute */
    int n_control, n_data, base, workers;
    int64_t timeout_ms;
    int insecure; /* --insecure or TRAEFIKEE_INSECURE: plain text */
    /* programs */
    char cp_bin[PATH_MAX], dp_bin[PATH_MAX], whoami_bin[PATH_MAX];
    char redis_bin[PATH_MAX], sentinel_bin[PATH_MAX];
    /* derived */
    char control[512];   /* every control node's gRPC address */
    char sentinels[256]; /* every sentinel */
    char password[CP_AUTH_PASSWORD_LEN + 1];
    char hash[CP_AUTH_HASH_MAX];
    int password_set; /* 1 set in the cluster, 0 no SetAdminHash there */
    uint64_t revision;
    /* secure mode */
    char redis_pw[CP_AUTH_PASSWORD_LEN + 1]; /* "" when insecure */
    char key_file[PATH_MAX + 16], redis_pw_file[PATH_MAX + 16];
    char token_file[PATH_MAX + 16]; /* DIR/data-token */
    char bundle[PATH_MAX + 32];     /* DIR/traefikeectl.bundle */
    char ca[PATH_MAX + 16];         /* DIR/ca.crt */
    char default_bundle[PATH_MAX];  /* "" if not written */
    int64_t bundle_expires;         /* unix seconds */
    char data_token[CM_PKI_TOKEN_MAX];
    struct cm_pki_creds pki; /* the bundle's, once read (secure) */
    struct ti_proc procs[TI_MAX_PROCS];
    size_t n;
    char err[TI_ERR_LEN]; /* the one line printed on failure */
};

static volatile sig_atomic_t ti_interrupted;

static void ti_on_signal(int sig)
{
    (void)sig;
    ti_interrupted = 1;
}

/* ==== small utilities ==== */

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

/* snprintf for paths and names; -1 if <out> was too small (a path from
 * an over-long --dir then fails where it is used). */
static int fmt(char *out, size_t len, const char *f, ...)
{
    va_list ap;
    int n;

    va_start(ap, f);
    n = vsnprintf(out, len, f, ap);
    va_end(ap);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

static int fail(struct ti_install *t, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(t->err, sizeof(t->err), fmt, ap);
    va_end(ap);
    return -1;
}

/* "10s", "1500ms", "2m" or plain seconds; -1 if malformed. */
static int64_t parse_duration_ms(const char *s)
{
    char *end;
    double v = strtod(s, &end);

    if (end == s || v < 0)
        return -1;
    if (strcmp(end, "ms") == 0)
        return (int64_t)v;
    if (*end == '\0' || strcmp(end, "s") == 0)
        return (int64_t)(v * 1000);
    if (strcmp(end, "m") == 0)
        return (int64_t)(v * 60000);
    return -1;
}

static int parse_int(const char *s, int lo, int hi, int *out)
{
    char *end;
    long v = strtol(s, &end, 10);

    if (end == s || *end != '\0' || v < lo || v > hi)
        return -1;
    *out = (int)v;
    return 0;
}

static int mkdir_p(const char *path, mode_t mode)
{
    char buf[PATH_MAX];

    if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
        return -1;
    for (char *p = buf + 1; *p != '\0'; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, mode) == -1 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir(buf, mode) == -1 && errno != EEXIST ? -1 : 0;
}

/* The default DIR is relative to where the user ran the command (under
 * `bazel run` that is $BUILD_WORKING_DIRECTORY). Fills <out> (absolute). */
static int resolve_dir(const char *dir, int create, char *out, size_t len)
{
    const char *base = getenv("BUILD_WORKING_DIRECTORY");
    char buf[PATH_MAX], cwd[PATH_MAX];

    if (dir[0] == '/')
        snprintf(buf, sizeof(buf), "%s", dir);
    else if (base != NULL && base[0] != '\0')
        snprintf(buf, sizeof(buf), "%s/%s", base, dir);
    else if (getcwd(cwd, sizeof(cwd)) != NULL)
        fmt(buf, sizeof(buf), "%s/%s", cwd, dir);
    else
        return -1;
    if (create && mkdir_p(buf, 0755) != 0)
        return -1;
    if (realpath(buf, out) == NULL) {
        if (create)
            return -1;
        snprintf(out, len, "%s", buf);
    }
    return 0;
}

/* ==== programs ==== */

static int executable(const char *p)
{
    struct stat st;

    return stat(p, &st) == 0 && S_ISREG(st.st_mode) && access(p, X_OK) == 0;
}

static int in_path(const char *name, char *out, size_t len)
{
    const char *path = getenv("PATH");
    char buf[4096], *save = NULL;

    snprintf(buf, sizeof(buf), "%s",
             path != NULL ? path : "/usr/local/bin:/usr/bin:/bin");
    for (char *d = strtok_r(buf, ":", &save); d != NULL;
         d = strtok_r(NULL, ":", &save)) {
        snprintf(out, len, "%s/%s", d, name);
        if (executable(out))
            return 0;
    }
    return -1;
}

/* Our own programs: beside traefikeectl (an install with every binary in
 * one directory), else in Bazel's layout (bazel-bin/<pkg>/<name>, which is
 * also where `bazel run` finds the data dependencies), else $PATH. */
static int find_program(const char *name, const char *bazel_path, char *out,
                        size_t len)
{
    char self[PATH_MAX], *slash;
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

    if (n > 0) {
        self[n] = '\0';
        if ((slash = strrchr(self, '/')) != NULL)
            *slash = '\0';
        fmt(out, len, "%s/%s", self, name);
        if (executable(out))
            return 0;
        fmt(out, len, "%s/../../%s", self, bazel_path);
        if (executable(out) && realpath(out, self) != NULL) {
            snprintf(out, len, "%s", self);
            return 0;
        }
    }
    return in_path(name, out, len);
}

static int find_programs(struct ti_install *t)
{
    if (find_program("controlplane", "controlplane/controlplane", t->cp_bin,
                     sizeof(t->cp_bin)) != 0)
        return fail(t, "cannot find the controlplane program (bazel build "
                       "//controlplane, or put it in PATH)");
    if (find_program("dataplane", "dataplane/dataplane", t->dp_bin,
                     sizeof(t->dp_bin)) != 0)
        return fail(t, "cannot find the dataplane program (bazel build "
                       "//dataplane, or put it in PATH)");
    if (find_program("whoami", "tools/whoami/whoami", t->whoami_bin,
                     sizeof(t->whoami_bin)) != 0)
        return fail(t, "cannot find the whoami program (bazel build "
                       "//tools/whoami, or put it in PATH)");
    if (in_path("redis-server", t->redis_bin, sizeof(t->redis_bin)) != 0 ||
        in_path("redis-sentinel", t->sentinel_bin, sizeof(t->sentinel_bin)) !=
            0)
        return fail(t, "redis-server and redis-sentinel are needed in PATH "
                       "(apt-get install redis-server redis-sentinel)");
    return 0;
}

/* ==== network probes (blocking, bounded) ==== */

/* Data node <i>'s (0-based) own loopback address, host order; in text. */
static uint32_t data_ip(int i)
{
    return (127u << 24) | (uint32_t)(TI_DATA_IP + 1 + i);
}

static const char *data_host(int i, char *out, size_t len)
{
    snprintf(out, len, "127.0.0.%u", (unsigned)(TI_DATA_IP + 1 + i) & 255u);
    return out;
}

/* <ip> in host order. */
static int tcp_connect(uint32_t ip, int port, int timeout_ms)
{
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port)};
    struct pollfd p;
    int fd, err = 0;
    socklen_t elen = sizeof(err);

    sa.sin_addr.s_addr = htonl(ip);
    if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) ==
        -1)
        return -1;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1 &&
        errno != EINPROGRESS)
        goto fail;
    p = (struct pollfd){.fd = fd, .events = POLLOUT};
    if (poll(&p, 1, timeout_ms) != 1 ||
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) == -1 || err != 0)
        goto fail;
    return fd;
fail:
    close(fd);
    return -1;
}

/* 1 if nothing listens on <ip>:<port> (host order) and we may bind it. */
static int port_free(uint32_t ip, int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port)};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1, ok;

    if (fd == -1)
        return 0;
    sa.sin_addr.s_addr = htonl(ip);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    ok = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    close(fd);
    return ok;
}

/* GET <path> on <ip>:<port> (host order; HTTP/1.0, one connection).
 * Returns the status code (the head and body in <resp>, NUL-terminated) or
 * -1. */
static int http_get(uint32_t ip, int port, const char *path, char *resp,
                    size_t cap, int timeout_ms)
{
    char req[512];
    size_t got = 0;
    int64_t end = now_ms() + timeout_ms;
    int fd = tcp_connect(ip, port, timeout_ms), n, status = -1;

    if (fd == -1)
        return -1;
    n = snprintf(req, sizeof(req),
                 "GET %s HTTP/1.0\r\nHost: %u.%u.%u.%u:%d\r\nUser-Agent: "
                 "traefikeectl-install\r\n\r\n",
                 path, ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255, ip & 255,
                 port);
    if (send(fd, req, (size_t)n, MSG_NOSIGNAL) != n)
        goto out;
    while (got + 1 < cap) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int left = (int)(end - now_ms());
        ssize_t r;

        if (left <= 0 || poll(&p, 1, left) != 1)
            goto out;
        if ((r = recv(fd, resp + got, cap - 1 - got, 0)) < 0)
            goto out;
        if (r == 0)
            break;
        got += (size_t)r;
    }
    resp[got] = '\0';
    if (sscanf(resp, "HTTP/1.%*d %d", &status) != 1)
        status = -1;
out:
    close(fd);
    return status;
}

/* One command on 127.0.0.1:<port>, after AUTH <pw> when <pw> is not "". */
static redisReply *redis_cmd(const char *pw, int port, const char *fmt, ...)
{
    struct timeval tv = {1, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
    redisReply *r = NULL;
    va_list ap;

    if (c == NULL || c->err) {
        redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, tv);
    if (pw[0] != '\0') {
        r = redisCommand(c, "AUTH %s", pw);
        if (r == NULL || r->type == REDIS_REPLY_ERROR) {
            freeReplyObject(r);
            redisFree(c);
            return NULL;
        }
        freeReplyObject(r);
    }
    va_start(ap, fmt);
    r = redisvCommand(c, fmt, ap);
    va_end(ap);
    redisFree(c);
    return r;
}

/* ==== processes ==== */

static void proc_free(struct ti_proc *p)
{
    for (int i = 0; i < p->argc; i++)
        free(p->argv[i]);
    json_decref(p->addrs);
    memset(p, 0, sizeof(*p));
}

static json_t *proc_json(const struct ti_proc *p)
{
    json_t *argv = json_array();

    for (int i = 0; i < p->argc; i++)
        json_array_append_new(argv, json_string(p->argv[i]));
    return json_pack("{s:s, s:s, s:i, s:O, s:o, s:s}", "role", p->role, "name",
                     p->name, "pid", (int)p->pid, "addresses", p->addrs, "argv",
                     argv, "log", p->log);
}

/* Writes DIR/cluster.json (through a temporary file and rename). */
static int save_state(struct ti_install *t)
{
    char path[PATH_MAX + 32], tmp[PATH_MAX + 32];
    json_t *procs = json_array(), *j;
    int rc;

    for (size_t i = 0; i < t->n; i++)
        json_array_append_new(procs, proc_json(&t->procs[i]));
    j = json_pack("{s:i, s:s, s:i, s:s, s:s, s:s, s:s, s:I, s:b, s:o, s:o, "
                  "s:o}",
                  "version", 1, "dir", t->dir, "basePort", t->base,
                  "masterName", TI_MASTER, "control", t->control, "sentinels",
                  t->sentinels, "adminUser", "admin", "revision",
                  (json_int_t)t->revision, "secure", !t->insecure, "bundle",
                  t->insecure ? json_null() : json_string(t->bundle), "ca",
                  t->insecure ? json_null() : json_string(t->ca), "processes",
                  procs);
    snprintf(path, sizeof(path), "%s/cluster.json", t->dir);
    snprintf(tmp, sizeof(tmp), "%s/.cluster.json.tmp", t->dir);
    rc = j != NULL ? json_dump_file(j, tmp, JSON_INDENT(2)) : -1;
    json_decref(j);
    /* secure: no secret in it (the data nodes read DIR/data-token), but
     * it tells where the secrets are */
    if (rc == 0 && !t->insecure)
        rc = chmod(tmp, 0600);
    if (rc != 0 || rename(tmp, path) != 0)
        return fail(t, "cannot write %s: %s", path, strerror(errno));
    return 0;
}

/* Starts argv (NULL-terminated, copied) in its own session with stdin from
 * /dev/null and stdout+stderr appended to DIR/logs/NAME.log; records it
 * and rewrites cluster.json. Takes <addrs>. */
static int spawn(struct ti_install *t, const char *role, const char *name,
                 json_t *addrs, const char *const *argv)
{
    struct ti_proc *p = &t->procs[t->n];
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    int rc;

    if (t->n == TI_MAX_PROCS) {
        json_decref(addrs);
        return fail(t, "too many processes");
    }
    memset(p, 0, sizeof(*p));
    p->role = role;
    p->addrs = addrs;
    snprintf(p->name, sizeof(p->name), "%s", name);
    fmt(p->log, sizeof(p->log), "%s/logs/%s.log", t->dir, p->name);
    for (; argv[p->argc] != NULL && p->argc < TI_MAX_ARGS; p->argc++)
        p->argv[p->argc] = strdup(argv[p->argc]);
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, p->log,
                                     O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    posix_spawnattr_init(&at);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK |
                                      POSIX_SPAWN_SETSIGDEF);
    {
        sigset_t none, all;
        sigemptyset(&none);
        sigfillset(&all);
        posix_spawnattr_setsigmask(&at, &none);
        posix_spawnattr_setsigdefault(&at, &all);
    }
    rc = posix_spawn(&p->pid, p->argv[0], &fa, &at, p->argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    if (rc != 0) {
        fail(t, "cannot start %s (%s): %s", name, p->argv[0], strerror(rc));
        proc_free(p);
        return -1;
    }
    t->n++;
    return save_state(t);
}

/* Fails if one of our processes has exited. */
static int check_alive(struct ti_install *t)
{
    int st;

    for (size_t i = 0; i < t->n; i++) {
        struct ti_proc *p = &t->procs[i];
        if (p->exited || waitpid(p->pid, &st, WNOHANG) != p->pid)
            continue;
        p->exited = 1;
        if (WIFSIGNALED(st))
            return fail(t, "%s died of signal %d (see %s)", p->name,
                        WTERMSIG(st), p->log);
        return fail(t, "%s exited with status %d (see %s)", p->name,
                    WEXITSTATUS(st), p->log);
    }
    return ti_interrupted ? fail(t, "interrupted") : 0;
}

typedef int (*ti_check_cb)(struct ti_install *t, char *why, size_t len);

/* Polls <check> every 200 ms until it returns 1, a process dies, or the
 * deadline passes (then the error names <what> and the last <why>). */
static int wait_for(struct ti_install *t, int64_t deadline, const char *what,
                    ti_check_cb check)
{
    char why[512] = "";

    for (;;) {
        if (check_alive(t) != 0)
            return -1;
        if (check(t, why, sizeof(why)) == 1)
            return 0;
        if (now_ms() >= deadline)
            return fail(t, "timed out waiting for %s%s%s", what,
                        why[0] ? ": " : "", why);
        sleep_ms(200);
    }
}

/* SIGTERM every live process we started, newest first; SIGKILL what is
 * left after <grace_ms>. */
static void stop_started(struct ti_install *t, int grace_ms)
{
    int64_t end = now_ms() + grace_ms;
    size_t left;

    for (size_t i = t->n; i-- > 0;)
        if (!t->procs[i].exited)
            kill(t->procs[i].pid, SIGTERM);
    do {
        left = 0;
        for (size_t i = 0; i < t->n; i++) {
            struct ti_proc *p = &t->procs[i];
            if (!p->exited && waitpid(p->pid, NULL, WNOHANG) == p->pid)
                p->exited = 1;
            left += !p->exited;
        }
        if (left > 0)
            sleep_ms(50);
    } while (left > 0 && now_ms() < end);
    for (size_t i = 0; i < t->n; i++) {
        struct ti_proc *p = &t->procs[i];
        if (!p->exited) {
            kill(p->pid, SIGKILL);
            waitpid(p->pid, NULL, 0);
            p->exited = 1;
        }
    }
}

/* The credentials of our calls: NULL (plain text) when insecure. */
static const struct cm_pki_creds *ti_creds(const struct ti_install *t)
{
    return t->insecure ? NULL : &t->pki;
}

/* ==== the pieces of the cluster ==== */

static json_t *addr_obj(const char *kind, int port)
{
    char a[32];

    snprintf(a, sizeof(a), "127.0.0.1:%d", port);
    return json_pack("{s:s}", kind, a);
}

/* Creates <path> with mode 0600 and writes <text> (with a newline when
 * <nl>). */
static int write_private(struct ti_install *t, const char *path,
                         const char *text, int nl)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

    if (fd == -1 || dprintf(fd, "%s%s", text, nl ? "\n" : "") < 0 ||
        close(fd) != 0)
        return fail(t, "cannot write %s: %s", path, strerror(errno));
    return 0;
}

/* Secure: DIR/redis/auth.conf, the first argument of every Redis server
 * (the password stays out of argv and cluster.json). */
static int write_redis_auth(struct ti_install *t, char *conf, size_t len)
{
    char text[2 * CP_AUTH_PASSWORD_LEN + 64];

    fmt(conf, len, "%s/redis/auth.conf", t->dir);
    snprintf(text, sizeof(text), "requirepass %s\nmasterauth %s", t->redis_pw,
             t->redis_pw);
    return write_private(t, conf, text, 1);
}

static int start_redis(struct ti_install *t)
{
    char port[16], of[16], dir[PATH_MAX + 8], db[32], name[32];
    char conf[PATH_MAX + 32];

    /* secure: sentinels rewrite their config (auth-pass inside) 0644 */
    snprintf(dir, sizeof(dir), "%s/redis", t->dir);
    if (mkdir_p(dir, t->insecure ? 0755 : 0700) != 0)
        return fail(t, "cannot create %s: %s", dir, strerror(errno));
    if (!t->insecure && write_redis_auth(t, conf, sizeof(conf)) != 0)
        return -1;
    snprintf(of, sizeof(of), "%d", t->base + TI_PORT_REDIS);
    for (int i = 0; i <= TI_N_REPLICAS; i++) {
        const char *argv[32] = {t->redis_bin};
        const char *opts[] = {"--port",
                              port,
                              "--bind",
                              "127.0.0.1",
                              "--save",
                              "",
                              "--appendonly",
                              "no",
                              "--dir",
                              dir,
                              "--dbfilename",
                              db,
                              "--repl-diskless-sync-delay",
                              "0",
                              "--daemonize",
                              "no",
                              i > 0 ? "--replicaof" : NULL,
                              "127.0.0.1",
                              of,
                              NULL};
        int n = 1;

        if (!t->insecure)
            argv[n++] = conf; /* a config file comes first */
        for (int k = 0; opts[k] != NULL; k++)
            argv[n++] = opts[k];
        if (i == 0)
            snprintf(name, sizeof(name), "redis-master");
        else
            snprintf(name, sizeof(name), "redis-replica-%d", i);
        snprintf(port, sizeof(port), "%d", t->base + TI_PORT_REDIS + i);
        fmt(db, sizeof(db), "%s.rdb", name);
        if (spawn(t, "redis", name,
                  addr_obj("redis", t->base + TI_PORT_REDIS + i), argv) != 0)
            return -1;
    }
    return 0;
}

static int redis_synced(struct ti_install *t, char *why, size_t len)
{
    for (int i = 1; i <= TI_N_REPLICAS; i++) {
        redisReply *r = redis_cmd(t->redis_pw, t->base + TI_PORT_REDIS + i,
                                  "INFO %s", "replication");
        int up = r != NULL && r->type == REDIS_REPLY_STRING &&
                 strstr(r->str, "master_link_status:up") != NULL;
        freeReplyObject(r);
        if (!up) {
            snprintf(why, len, "redis-replica-%d not in sync", i);
            return 0;
        }
    }
    return 1;
}

static int start_sentinels(struct ti_install *t)
{
    char conf[PATH_MAX + 32], name[32];
    FILE *f;
    size_t n = 0;
    int fd;

    for (int i = 1; i <= TI_N_SENTINELS; i++) {
        int port = t->base + TI_PORT_SENTINEL + i - 1;
        const char *argv[] = {t->sentinel_bin, conf, NULL};

        snprintf(name, sizeof(name), "sentinel-%d", i);
        fmt(conf, sizeof(conf), "%s/redis/%s.conf", t->dir, name);
        fd = open(conf, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd == -1 || (f = fdopen(fd, "w")) == NULL) {
            if (fd != -1)
                close(fd);
            return fail(t, "cannot write %s: %s", conf, strerror(errno));
        }
        fprintf(f,
                "port %d\nbind 127.0.0.1\ndir %s/redis\n"
                "sentinel monitor %s 127.0.0.1 %d 2\n"
                "sentinel down-after-milliseconds %s 1000\n"
                "sentinel failover-timeout %s 3000\n",
                port, t->dir, TI_MASTER, t->base + TI_PORT_REDIS, TI_MASTER,
                TI_MASTER);
        /* secure: the sentinels ask for the Redis password too (else
         * anyone reaching them could repoint the master), and use it
         * between themselves */
        if (!t->insecure)
            fprintf(f,
                    "sentinel auth-pass %s %s\nrequirepass %s\n"
                    "sentinel sentinel-pass %s\n",
                    TI_MASTER, t->redis_pw, t->redis_pw, t->redis_pw);
        fclose(f);
        if (spawn(t, "sentinel", name, addr_obj("sentinel", port), argv) != 0)
            return -1;
        n += (size_t)snprintf(t->sentinels + n, sizeof(t->sentinels) - n,
                              "%s127.0.0.1:%d", i > 1 ? "," : "", port);
    }
    return 0;
}

/* The value of <key> in a flat [key, value, ...] reply; -1 if absent. */
static long long reply_field(const redisReply *r, const char *key)
{
    if (r == NULL || r->type != REDIS_REPLY_ARRAY)
        return -1;
    for (size_t i = 0; i + 1 < r->elements; i += 2)
        if (r->element[i]->type == REDIS_REPLY_STRING &&
            strcmp(r->element[i]->str, key) == 0 &&
            r->element[i + 1]->type == REDIS_REPLY_STRING)
            return atoll(r->element[i + 1]->str);
    return -1;
}

/* Every sentinel knows both replicas and the other sentinels: only then
 * can a failover happen. */
static int sentinels_settled(struct ti_install *t, char *why, size_t len)
{
    for (int i = 0; i < TI_N_SENTINELS; i++) {
        redisReply *r = redis_cmd(t->redis_pw, t->base + TI_PORT_SENTINEL + i,
                                  "SENTINEL MASTER %s", TI_MASTER);
        long long slaves = reply_field(r, "num-slaves");
        long long others = reply_field(r, "num-other-sentinels");
        freeReplyObject(r);
        if (slaves != TI_N_REPLICAS || others != TI_N_SENTINELS - 1) {
            snprintf(why, len,
                     "sentinel-%d sees %lld replicas and %lld other "
                     "sentinels",
                     i + 1, slaves, others);
            return 0;
        }
    }
    return 1;
}

static int start_controls(struct ti_install *t)
{
    char name[32], grpc[32], http[32], data[PATH_MAX + 40];
    size_t n = 0;

    for (int i = 0; i < t->n_control; i++) {
        snprintf(grpc, sizeof(grpc), "127.0.0.1:%d",
                 t->base + TI_PORT_GRPC + i);
        n += (size_t)snprintf(t->control + n, sizeof(t->control) - n, "%s%s",
                              i > 0 ? "," : "", grpc);
    }
    for (int i = 0; i < t->n_control; i++) {
        const char *argv[] = {t->cp_bin,
                              "--node-id",
                              name,
                              "--grpc-addr",
                              grpc,
                              "--http-addr",
                              http,
                              "--sentinels",
                              t->sentinels,
                              "--master-name",
                              TI_MASTER,
                              "--data-dir",
                              data,
                              "--log-level",
                              "info",
                              t->insecure ? "--insecure" : "--cluster-key-file",
                              t->key_file,
                              "--redis-password-file",
                              t->redis_pw_file,
                              NULL};
        if (t->insecure)
            argv[16] = NULL;
        snprintf(name, sizeof(name), "control-%d", i + 1);
        snprintf(grpc, sizeof(grpc), "127.0.0.1:%d",
                 t->base + TI_PORT_GRPC + i);
        snprintf(http, sizeof(http), "127.0.0.1:%d",
                 t->base + TI_PORT_HTTP + i);
        snprintf(data, sizeof(data), "%s/%s", t->dir, name);
        if (spawn(t, "control", name,
                  json_pack("{s:s, s:s}", "grpc", grpc, "http", http),
                  argv) != 0)
            return -1;
    }
    return 0;
}

/* ListNodes on the first control node that answers, quietly. Returns new
 * (free with protobuf_c_message_free_unpacked()) or NULL. */
static Traefikee__V1__ListNodesResponse *list_nodes(struct ti_install *t)
{
    Traefikee__V1__ListNodesRequest req =
        TRAEFIKEE__V1__LIST_NODES_REQUEST__INIT;
    Traefikee__V1__ListNodesResponse *out = NULL;
    struct cp_mgmt_reply r = {0};
    uint8_t *buf;
    size_t len;

    if (cp_rpc_pb_pack(&req.base, &buf, &len) != 0)
        return NULL;
    for (int i = 0; out == NULL && i < t->n_control; i++) {
        char addr[32];
        snprintf(addr, sizeof(addr), "127.0.0.1:%d",
                 t->base + TI_PORT_GRPC + i);
        if (cp_mgmt_client_unary_creds(addr, ti_creds(t),
                                       TCTL_METHOD("ListNodes"), buf, len, 2000,
                                       &r) != 0)
            continue;
        if (r.status == GRPC_STATUS_OK)
            out =
                traefikee__v1__list_nodes_response__unpack(NULL, r.len, r.data);
        cp_mgmt_reply_deinit(&r);
    }
    free(buf);
    return out;
}

static int controls_ready(struct ti_install *t, char *why, size_t len)
{
    Traefikee__V1__ListNodesResponse *r = list_nodes(t);
    int healthy = 0, leaders = 0;

    if (r == NULL) {
        snprintf(why, len, "no control node answers");
        return 0;
    }
    for (size_t i = 0; i < r->n_nodes; i++)
        if (r->nodes[i]->role == TRAEFIKEE__V1__ROLE__CONTROL &&
            r->nodes[i]->healthy) {
            healthy++;
            leaders += r->nodes[i]->leader;
        }
    protobuf_c_message_free_unpacked(&r->base, NULL);
    snprintf(why, len, "%d of %d control nodes healthy, %d leader(s)", healthy,
             t->n_control, leaders);
    return healthy == t->n_control && leaders == 1;
}

static int start_backends(struct ti_install *t)
{
    char name[32], addr[32];

    for (int i = 0; i < TI_N_BACKENDS; i++) {
        const char *argv[] = {t->whoami_bin, "--addr", addr,
                              "--name",      name,     NULL};
        snprintf(name, sizeof(name), "whoami-%d", i + 1);
        snprintf(addr, sizeof(addr), "127.0.0.1:%d",
                 t->base + TI_PORT_WHOAMI + i);
        if (spawn(t, "backend", name, json_pack("{s:s}", "http", addr), argv) !=
            0)
            return -1;
    }
    return 0;
}

static int backends_ready(struct ti_install *t, char *why, size_t len)
{
    char resp[1024];

    for (int i = 0; i < TI_N_BACKENDS; i++)
        if (http_get(INADDR_LOOPBACK, t->base + TI_PORT_WHOAMI + i, "/health",
                     resp, sizeof(resp), 1000) != 200) {
            snprintf(why, len, "whoami-%d does not answer /health", i + 1);
            return 0;
        }
    return 1;
}

/* The sample configuration: one entry point, one router, one service over
 * both backends with an active health check. Returns new (free()). */
static char *sample_config(const struct ti_install *t)
{
    char *s = NULL;

    if (asprintf(&s,
                 "# The sample configuration of `traefikeectl install "
                 "--local`: every data node\n"
                 "# serves the entry point web (on its own address: "
                 "--listen-host);\n"
                 "# /whoami goes to two whoami backends.\n"
                 "entryPoints:\n"
                 "  web: {address: \"127.0.0.1:%d\"}\n"
                 "http:\n"
                 "  routers:\n"
                 "    whoami:\n"
                 "      rule: \"PathPrefix(`/whoami`)\"\n"
                 "      service: whoami\n"
                 "  services:\n"
                 "    whoami:\n"
                 "      loadBalancer:\n"
                 "        servers:\n"
                 "          - url: \"http://127.0.0.1:%d\"\n"
                 "          - url: \"http://127.0.0.1:%d\"\n"
                 "        healthCheck: {path: /health, interval: 2s, timeout: "
                 "1s}\n",
                 t->base + TI_PORT_WEB, t->base + TI_PORT_WHOAMI,
                 t->base + TI_PORT_WHOAMI + 1) < 0)
        return NULL;
    return s;
}

/* Calls <method> with <req> on each control node in turn, every 300 ms,
 * until one answers OK or <also> (0: none), a process dies or 15 s pass.
 * Returns 0 with the answer in <r> (cp_mgmt_reply_deinit()), or -1 with the
 * last details in <last>. */
static int call_retry(struct ti_install *t, const char *method,
                      const uint8_t *req, size_t len, grpc_status_code also,
                      struct cp_mgmt_reply *r, char *last, size_t lastlen)
{
    int64_t end = now_ms() + 15000;

    snprintf(last, lastlen, "no answer");
    while (now_ms() < end && check_alive(t) == 0) {
        for (int i = 0; i < t->n_control; i++) {
            char addr[32];
            snprintf(addr, sizeof(addr), "127.0.0.1:%d",
                     t->base + TI_PORT_GRPC + i);
            if (cp_mgmt_client_unary_creds(addr, ti_creds(t), method, req, len,
                                           5000, r) != 0)
                continue;
            if (r->status == GRPC_STATUS_OK ||
                (also != GRPC_STATUS_OK && r->status == also))
                return 0;
            snprintf(last, lastlen, "%s", r->details);
            cp_mgmt_reply_deinit(r);
        }
        sleep_ms(300);
    }
    return -1;
}

/* Sends the admin password's hash to the cluster (SetAdminHash; the
 * request, one string field, is encoded here so that this builds with and
 * without that RPC in the .proto). Sets t->password_set: 1 done, 0 the
 * control nodes do not know the RPC. Retries while no leader answers. */
static int set_admin_hash(struct ti_install *t)
{
    uint8_t req[CP_AUTH_HASH_MAX + 8];
    struct cp_mgmt_reply r = {0};
    char last[CP_MGMT_DETAILS_LEN];
    size_t n = strlen(t->hash), len = 0;

    req[len++] = 0x0a; /* field 1, length-delimited */
    for (size_t v = n; len < 8; v >>= 7) {
        req[len++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        if (v <= 0x7f)
            break;
    }
    memcpy(req + len, t->hash, n);
    len += n;
    if (call_retry(t, TCTL_METHOD("SetAdminHash"), req, len,
                   GRPC_STATUS_UNIMPLEMENTED, &r, last, sizeof(last)) != 0)
        return t->err[0] ? -1
                         : fail(t, "cannot set the admin password: %s", last);
    t->password_set = r.status == GRPC_STATUS_OK;
    cp_mgmt_reply_deinit(&r);
    return 0;
}

/* Secure: the data token (GetTokens, made on first use by the leader),
 * written to DIR/data-token (0600) for the data nodes' --join-token-file. */
static int get_data_token(struct ti_install *t)
{
    Traefikee__V1__GetTokensRequest req =
        TRAEFIKEE__V1__GET_TOKENS_REQUEST__INIT;
    Traefikee__V1__GetTokensResponse *g = NULL;
    struct cp_mgmt_reply r = {0};
    char last[CP_MGMT_DETAILS_LEN];
    uint8_t *buf;
    size_t len;
    int rc;

    if (cp_rpc_pb_pack(&req.base, &buf, &len) != 0)
        return fail(t, "out of memory");
    rc = call_retry(t, TCTL_METHOD("GetTokens"), buf, len, GRPC_STATUS_OK, &r,
                    last, sizeof(last));
    free(buf);
    if (rc != 0)
        return t->err[0] ? -1 : fail(t, "cannot get the join tokens: %s", last);
    g = traefikee__v1__get_tokens_response__unpack(NULL, r.len, r.data);
    cp_mgmt_reply_deinit(&r);
    if (g == NULL || strncmp(g->data_token, "TKE1.data.", 10) != 0 ||
        strlen(g->data_token) >= sizeof(t->data_token)) {
        if (g != NULL)
            protobuf_c_message_free_unpacked(&g->base, NULL);
        return fail(t, "GetTokens answered without a data token");
    }
    snprintf(t->data_token, sizeof(t->data_token), "%s", g->data_token);
    protobuf_c_message_free_unpacked(&g->base, NULL);
    return write_private(t, t->token_file, t->data_token, 1);
}

/* Writes DIR/config.yaml and applies it through any control node. */
static int apply_sample(struct ti_install *t)
{
    Traefikee__V1__ApplyRequest req = TRAEFIKEE__V1__APPLY_REQUEST__INIT;
    Traefikee__V1__ApplyResponse *a;
    struct cp_mgmt_reply r = {0};
    char path[PATH_MAX + 16], last[CP_MGMT_DETAILS_LEN];
    char *doc = sample_config(t);
    uint8_t *buf = NULL;
    size_t len;
    FILE *f;
    int rc;

    snprintf(path, sizeof(path), "%s/config.yaml", t->dir);
    if (doc == NULL || (f = fopen(path, "w")) == NULL) {
        free(doc);
        return fail(t, "cannot write %s", path);
    }
    fputs(doc, f);
    fclose(f);
    req.document.data = (uint8_t *)doc;
    req.document.len = strlen(doc);
    if (cp_rpc_pb_pack(&req.base, &buf, &len) != 0) {
        free(doc);
        return fail(t, "out of memory");
    }
    free(doc);
    /* a fresh leader may still be waiting for its replica: retry */
    rc = call_retry(t, TCTL_METHOD("Apply"), buf, len, GRPC_STATUS_OK, &r, last,
                    sizeof(last));
    free(buf);
    if (rc != 0)
        return t->err[0] ? -1 : fail(t, "cannot apply %s: %s", path, last);
    a = traefikee__v1__apply_response__unpack(NULL, r.len, r.data);
    cp_mgmt_reply_deinit(&r);
    if (a == NULL || a->revision == 0) {
        if (a != NULL)
            protobuf_c_message_free_unpacked(&a->base, NULL);
        return fail(t, "cannot apply %s: malformed answer", path);
    }
    t->revision = a->revision;
    protobuf_c_message_free_unpacked(&a->base, NULL);
    return save_state(t);
}

static int start_datas(struct ti_install *t)
{
    char name[32], admin[32], cache[PATH_MAX + 40], web[32], workers[16];
    char host[16];

    snprintf(workers, sizeof(workers), "%d", t->workers);
    for (int i = 0; i < t->n_data; i++) {
        /* on SIGTERM, /ready fails for 2 s before the listeners close: a
         * load balancer checking it stops sending first */
        const char *argv[] = {
            t->dp_bin,     "--control",
            t->control,    "--node-id",
            name,          "--cache-dir",
            cache,         "--workers",
            workers,       "--listen-host",
            host,          "--admin-addr",
            admin,         "--drain-delay",
            "2s",          "--drain-timeout",
            "5s",          "--log-level",
            "info",        t->insecure ? "--insecure" : "--join-token-file",
            t->token_file, NULL};
        if (t->insecure)
            argv[20] = NULL;
        data_host(i, host, sizeof(host));
        snprintf(name, sizeof(name), "data-%d", i + 1);
        snprintf(web, sizeof(web), "%s:%d", host, t->base + TI_PORT_WEB);
        snprintf(admin, sizeof(admin), "%s:%d", host,
                 t->base + TI_PORT_ADMIN + i);
        snprintf(cache, sizeof(cache), "%s/%s/cache", t->dir, name);
        if (mkdir_p(cache, 0755) != 0)
            return fail(t, "cannot create %s: %s", cache, strerror(errno));
        if (spawn(t, "data", name,
                  json_pack("{s:s, s:{s:s}}", "admin", admin, "entryPoints",
                            "web", web),
                  argv) != 0)
            return -1;
    }
    return 0;
}

static int datas_ready(struct ti_install *t, char *why, size_t len)
{
    Traefikee__V1__ListNodesResponse *r;
    char resp[2048];
    int acked = 0;

    for (int i = 0; i < t->n_data; i++)
        if (http_get(data_ip(i), t->base + TI_PORT_ADMIN + i, "/ready", resp,
                     sizeof(resp), 1000) != 200) {
            snprintf(why, len, "data-%d is not ready", i + 1);
            return 0;
        }
    if ((r = list_nodes(t)) == NULL) {
        snprintf(why, len, "no control node answers");
        return 0;
    }
    for (size_t i = 0; i < r->n_nodes; i++)
        acked += r->nodes[i]->role == TRAEFIKEE__V1__ROLE__DATA &&
                 r->nodes[i]->healthy && r->nodes[i]->revision >= t->revision;
    protobuf_c_message_free_unpacked(&r->base, NULL);
    if (acked < t->n_data) {
        snprintf(why, len, "%d of %d data nodes acknowledged revision %llu",
                 acked, t->n_data, (unsigned long long)t->revision);
        return 0;
    }
    /* one request through each data node's entry point */
    for (int i = 0; i < t->n_data; i++)
        if (http_get(data_ip(i), t->base + TI_PORT_WEB, "/whoami", resp,
                     sizeof(resp), 2000) != 200 ||
            strstr(resp, "X-Whoami-Name: whoami-") == NULL) {
            snprintf(why, len, "GET /whoami through data-%d failed", i + 1);
            return 0;
        }
    return 1;
}

/* ==== install ==== */

static int check_ports(struct ti_install *t)
{
    struct {
        int off, n;
        const char *what;
    } ranges[] = {
        {TI_PORT_WEB, 1, "entry point web"},
        {TI_PORT_REDIS, 1 + TI_N_REPLICAS, "redis"},
        {TI_PORT_SENTINEL, TI_N_SENTINELS, "sentinel"},
        {TI_PORT_GRPC, t->n_control, "control node gRPC"},
        {TI_PORT_HTTP, t->n_control, "control node HTTP"},
        {TI_PORT_ADMIN, t->n_data, "data node admin"},
        {TI_PORT_WHOAMI, TI_N_BACKENDS, "whoami"},
    };

    char host[16];

    for (size_t i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++)
        for (int k = 0; k < ranges[i].n; k++)
            if (!port_free(INADDR_LOOPBACK, t->base + ranges[i].off + k))
                return fail(t,
                            "port %d (%s) is in use on 127.0.0.1; pick "
                            "another --base-port",
                            t->base + ranges[i].off + k, ranges[i].what);
    /* and each data node's two ports on its own address */
    for (int i = 0; i < t->n_data; i++)
        if (!port_free(data_ip(i), t->base + TI_PORT_WEB) ||
            !port_free(data_ip(i), t->base + TI_PORT_ADMIN + i))
            return fail(t,
                        "port %d or %d is in use on %s; pick another "
                        "--base-port",
                        t->base + TI_PORT_WEB, t->base + TI_PORT_ADMIN + i,
                        data_host(i, host, sizeof(host)));
    return 0;
}

static int write_password(struct ti_install *t)
{
    char *hash = t->hash, path[PATH_MAX + 32];
    int fd;

    if (cp_auth_generate_password(t->password, sizeof(t->password)) != 0 ||
        cp_auth_hash(t->password, NULL, hash, sizeof(t->hash)) != 0)
        return fail(t, "cannot generate the admin password");
    snprintf(path, sizeof(path), "%s/admin-password", t->dir);
    if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) ==
            -1 ||
        dprintf(fd, "%s\n", t->password) < 0 || close(fd) != 0)
        return fail(t, "cannot write %s: %s", path, strerror(errno));
    snprintf(path, sizeof(path), "%s/admin-password.hash", t->dir);
    if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) ==
            -1 ||
        dprintf(fd, "%s\n", hash) < 0 || close(fd) != 0)
        return fail(t, "cannot write %s: %s", path, strerror(errno));
    return 0;
}

/* Secure: DIR/cluster.key (the operator's key that seals the CA's key in
 * Redis) and DIR/redis-password, both 0600, read by every control node. */
static int write_secrets(struct ti_install *t)
{
    char key[CM_PKI_KEY_HEX], err[CM_ERR_LEN];
    int rc;

    if (cm_pki_cluster_key_new(key) != 0)
        return fail(t, "no randomness for the cluster key");
    rc = cm_pki_file_write(t->key_file, key, err, sizeof(err));
    explicit_bzero(key, sizeof(key));
    if (rc != 0)
        return fail(t, "cannot write %s: %s", t->key_file, err);
    if (cp_auth_generate_password(t->redis_pw, sizeof(t->redis_pw)) != 0)
        return fail(t, "no randomness for the Redis password");
    if (cm_pki_file_write(t->redis_pw_file, t->redis_pw, err, sizeof(err)) != 0)
        return fail(t, "cannot write %s: %s", t->redis_pw_file, err);
    return 0;
}

/* Reads and parses the admin bundle control-1 writes into <out>. 0, or -1
 * with the reason in <why>. */
static int read_node_bundle(struct ti_install *t, struct cm_pki_creds *out,
                            char **text, char *why, size_t len)
{
    char src[PATH_MAX + 48];

    *text = NULL;
    fmt(src, sizeof(src), "%s/control-1/traefikeectl.bundle", t->dir);
    if (access(src, F_OK) != 0) {
        snprintf(why, len, "control-1 has not written %s", src);
        return -1;
    }
    if (cm_pki_file_read(src, text, why, len) != 0)
        return -1;
    if (cm_pki_creds_parse(*text, out, why, len) != 0) {
        free(*text);
        *text = NULL;
        return -1;
    }
    return 0;
}

static int bundle_ready(struct ti_install *t, char *why, size_t len)
{
    struct cm_pki_creds c = {0};
    char *text;

    if (read_node_bundle(t, &c, &text, why, len) != 0)
        return 0;
    cm_pki_creds_clear(&c);
    free(text);
    return 1;
}

/* Makes <link> a symbolic link to <target> (through a temporary name and
 * rename, replacing what was there). 0, or -1 with errno set. */
static int link_over(const char *target, const char *link)
{
    char tmp[PATH_MAX + 16];

    fmt(tmp, sizeof(tmp), "%s.tmp", link);
    remove(tmp);
    if (symlink(target, tmp) != 0)
        return -1;
    if (rename(tmp, link) != 0) {
        int e = errno;
        remove(tmp);
        errno = e;
        return -1;
    }
    return 0;
}

/* Links the default path to DIR/traefikeectl.bundle (its directory made
 * 0700), so that both are renewed at once (bundle.h), unless there is none
 * (no HOME); prints what it did. */
static void link_default_bundle(struct ti_install *t)
{
    char dir[PATH_MAX], err[CM_ERR_LEN] = "", *slash;
    struct stat st;
    int existed;

    if (tctl_bundle_default(t->default_bundle, sizeof(t->default_bundle)) !=
        0) {
        t->default_bundle[0] = '\0';
        printf("  no HOME or XDG_CONFIG_HOME: no default bundle written\n");
        return;
    }
    snprintf(dir, sizeof(dir), "%s", t->default_bundle);
    if ((slash = strrchr(dir, '/')) != NULL)
        *slash = '\0';
    existed = lstat(t->default_bundle, &st) == 0;
    if (mkdir_p(dir, 0700) != 0)
        snprintf(err, sizeof(err), "mkdir: %s", strerror(errno));
    else if (link_over(t->bundle, t->default_bundle) != 0)
        snprintf(err, sizeof(err), "symlink: %s", strerror(errno));
    if (err[0] != '\0') {
        printf("  could not link the default bundle %s (%s); use "
               "TRAEFIKEE_BUNDLE\n",
               t->default_bundle, err);
        t->default_bundle[0] = '\0';
        return;
    }
    printf("  linked %s to it%s\n", t->default_bundle,
           existed ? " (it replaced the one there)" : "");
}

/* Secure: DIR/traefikeectl.bundle and DIR/ca.crt from control-1's bundle,
 * the default bundle, and from now on mutual TLS with it. */
static int install_bundle(struct ti_install *t)
{
    struct cm_pki_cert_info info;
    struct cm_pki_creds c = {0};
    char err[CM_ERR_LEN], *text;
    int rc;

    if (read_node_bundle(t, &c, &text, err, sizeof(err)) != 0)
        return fail(t, "cannot read control-1's bundle: %s", err);
    rc = cm_pki_file_write(t->bundle, text, err, sizeof(err)) == 0 &&
                 cm_pki_file_write(t->ca, c.ca, err, sizeof(err)) == 0
             ? 0
             : fail(t, "cannot write the bundle or the CA in %s: %s", t->dir,
                    err);
    if (rc == 0) {
        printf("  wrote the admin bundle %s and the CA %s\n", t->bundle, t->ca);
        link_default_bundle(t);
        if (cm_pki_cert_info(c.cert, &info, err, sizeof(err)) == 0)
            t->bundle_expires = info.not_after;
    }
    explicit_bzero(text, strlen(text));
    free(text);
    cm_pki_creds_clear(&t->pki);
    t->pki = c; /* takes */
    return rc == 0 ? save_state(t) : -1;
}

static void remove_state(const char *dir, json_t *procs, int purge);

/* After a failed start: everything but the logs goes. */
static void undo_state(struct ti_install *t)
{
    json_t *procs = json_array();

    for (size_t i = 0; i < t->n; i++)
        json_array_append_new(procs, proc_json(&t->procs[i]));
    remove_state(t->dir, procs, 0);
    json_decref(procs);
}

static void step(const char *what)
{
    printf("  %s\n", what);
    fflush(stdout);
}

static int run_install(struct ti_install *t)
{
    int64_t end = now_ms() + t->timeout_ms;
    char logs[PATH_MAX + 8];

    snprintf(logs, sizeof(logs), "%s/logs", t->dir);
    if (find_programs(t) != 0 || check_ports(t) != 0)
        return -1;
    if (mkdir_p(logs, 0755) != 0)
        return fail(t, "cannot create %s: %s", logs, strerror(errno));
    if (write_password(t) != 0 || (!t->insecure && write_secrets(t) != 0))
        return -1;
    printf("Installing a %s local cluster in %s\n",
           t->insecure ? "plain-text (--insecure)" : "secure", t->dir);
    step("starting Redis (a master, 2 replicas) and 3 sentinels");
    if (start_redis(t) != 0 ||
        wait_for(t, end, "the Redis replicas to sync", redis_synced) != 0 ||
        start_sentinels(t) != 0 ||
        wait_for(t, end, "the sentinels", sentinels_settled) != 0)
        return -1;
    step("starting the control nodes");
    if (start_controls(t) != 0)
        return -1;
    if (!t->insecure &&
        (wait_for(t, end, "control-1's admin bundle", bundle_ready) != 0 ||
         install_bundle(t) != 0))
        return -1;
    if (wait_for(t, end, "the control nodes", controls_ready) != 0 ||
        set_admin_hash(t) != 0 || (!t->insecure && get_data_token(t) != 0))
        return -1;
    step("starting 2 whoami backends and applying the sample config");
    if (start_backends(t) != 0 ||
        wait_for(t, end, "the backends", backends_ready) != 0 ||
        apply_sample(t) != 0)
        return -1;
    step("starting the data nodes");
    if (start_datas(t) != 0 ||
        wait_for(t, end, "the data nodes", datas_ready) != 0)
        return -1;
    return 0;
}

/* Secure: the CA, the bundle and how long it lasts. */
static void print_credentials(const struct ti_install *t)
{
    time_t end = (time_t)t->bundle_expires;
    char when[32] = "?";

    if (end > 0)
        strftime(when, sizeof(when), "%Y-%m-%d %H:%M UTC", gmtime(&end));
    printf("CA:        %s   (curl --cacert %s https://127.0.0.1:%d/...)\n",
           t->ca, t->ca, t->base + TI_PORT_HTTP);
    printf("\ntraefikeectl credentials (an admin certificate, valid until %s;"
           "\ntraefikeectl renews it from the control nodes' "
           "DATA-DIR/traefikeectl.bundle):\n"
           "  export TRAEFIKEE_BUNDLE=%s\n",
           when, t->bundle);
    if (t->default_bundle[0] != '\0')
        printf("  (%s links to it, used by default)\n", t->default_bundle);
}

static void print_summary(struct ti_install *t)
{
    struct tctl_cred_opts co = {.bundle = t->bundle, .insecure = t->insecure};
    struct tctl_ctx c;
    char host[16];

    printf("\nYou can access the dashboard with the following "
           "credentials:\n"
           "Dashboard: %s://127.0.0.1:%d/dashboard/\n"
           "Username:  admin\n"
           "Password:  %s   (also in %s/admin-password)\n",
           t->insecure ? "http" : "https", t->base + TI_PORT_HTTP, t->password,
           t->dir);
    if (!t->insecure)
        print_credentials(t);
    if (!t->password_set)
        printf("           (not set in the cluster: these control nodes "
               "have no SetAdminHash;\n            set it later with "
               "traefikeectl reset-password --password -)\n");
    printf("\n");
    printf("Entry points (each data node on its own loopback address):\n");
    for (int i = 0; i < t->n_data; i++)
        printf("  data-%d  web  http://%s:%d/whoami\n", i + 1,
               data_host(i, host, sizeof(host)), t->base + TI_PORT_WEB);
    printf("\nControl nodes: export TRAEFIKEE_CONTROL=%s\n\n", t->control);
    if (tctl_ctx_init(&c, t->control, &co) == 0) {
        tctl_print_nodes(&c, TCTL_TABLE);
        tctl_ctx_deinit(&c);
    }
    printf("\nState and pids: %s/cluster.json   logs: %s/logs/\n"
           "Stop it with: traefikeectl uninstall --local --dir %s\n"
           "Installation successful\n",
           t->dir, t->dir, t->dir);
}

static void install_usage(FILE *f)
{
    fprintf(f,
            "usage: traefikeectl install --local [--dir DIR] "
            "[--control-nodes N] [--data-nodes N]\n"
            "                            [--base-port P] [--workers N] "
            "[--timeout D]\n"
            "                            [--insecure]\n\n"
            "Starts a whole cluster on 127.0.0.1, every process detached with "
            "its log in\nDIR/logs: a Redis master and 2 replicas, 3 sentinels "
            "(quorum 2), the control\nnodes (3), the data nodes (2), 2 whoami "
            "backends; applies a sample config\n(DIR/config.yaml), waits until "
            "it is healthy (every control node listed,\none leader, every "
            "data node ready with the revision, /whoami answered) and\nprints "
            "the dashboard URL, the admin password, the entry points and the "
            "nodes.\nDIR/cluster.json records every process: role, name, pid, "
            "addresses, argv.\n\n"
            "  --dir DIR            state, logs, cluster.json "
            "[./" TI_DEFAULT_DIR "]\n"
            "  --control-nodes N    1..%d [3]\n"
            "  --data-nodes N       1..%d [2]\n"
            "  --base-port P        ports P..P+99 on 127.0.0.1 [18000]: P "
            "entry point web,\n"
            "                       P+1.. Redis, P+11.. sentinels, P+20.. "
            "control gRPC,\n"
            "                       P+40.. control HTTP, P+60.. data admin, "
            "P+80.. whoami;\n"
            "                       data node N's web and admin on "
            "127.0.0.(10+N)\n"
            "  --workers N          worker threads per data node [2]\n"
            "  --timeout D          bound on the whole start [60s]\n"
            "  --insecure           plain text everywhere, no CA, no Redis "
            "password\n"
            "                       (also TRAEFIKEE_INSECURE=1)\n\n"
            "Secure by default: DIR/cluster.key (the operator's key of the "
            "cluster CA),\nDIR/redis-password, control nodes on mutual TLS "
            "and an HTTPS dashboard,\ndata nodes joined with the data token "
            "(DIR/data-token, --join-token-file);\nthe admin bundle is copied "
            "to DIR/traefikeectl.bundle (linked from\n"
            "${XDG_CONFIG_HOME:-~/.config}/traefikee/bundle.pem; traefikeectl "
            "renews it from the\ncontrol nodes when it nears its end), the CA "
            "to DIR/ca.crt.\n",
            TI_MAX_CONTROL, TI_MAX_DATA);
}

/* Takes --name VALUE or --name=VALUE at argv[*i]; 1 if matched. */
static int opt(int argc, char **argv, int *i, const char *name,
               const char **val)
{
    size_t n = strlen(name);

    if (strncmp(argv[*i], name, n) != 0)
        return 0;
    if (argv[*i][n] == '=') {
        *val = argv[*i] + n + 1;
        return 1;
    }
    if (argv[*i][n] != '\0')
        return 0;
    *val = *i + 1 < argc ? argv[++*i] : NULL;
    return 1;
}

static int parse_install(struct ti_install *t, int argc, char **argv,
                         const char **dir, int *local)
{
    for (int i = 1; i < argc; i++) {
        const char *v = NULL, *name = argv[i];
        int bad = 0;

        if (strcmp(argv[i], "--local") == 0)
            *local = 1;
        else if (strcmp(argv[i], "--insecure") == 0)
            t->insecure = 1;
        else if (opt(argc, argv, &i, "--dir", &v))
            bad = v == NULL || (*dir = v)[0] == '\0';
        else if (opt(argc, argv, &i, "--control-nodes", &v))
            bad = v == NULL || parse_int(v, 1, TI_MAX_CONTROL, &t->n_control);
        else if (opt(argc, argv, &i, "--data-nodes", &v))
            bad = v == NULL || parse_int(v, 1, TI_MAX_DATA, &t->n_data);
        else if (opt(argc, argv, &i, "--base-port", &v))
            bad = v == NULL || parse_int(v, 1024, 65535 - 99, &t->base);
        else if (opt(argc, argv, &i, "--workers", &v))
            bad = v == NULL || parse_int(v, 1, 64, &t->workers);
        else if (opt(argc, argv, &i, "--timeout", &v))
            bad = v == NULL || (t->timeout_ms = parse_duration_ms(v)) <= 0;
        else {
            fprintf(stderr,
                    "traefikeectl install: unknown argument %s (try "
                    "--help)\n",
                    argv[i]);
            return 2;
        }
        if (bad) {
            fprintf(stderr, "traefikeectl install: bad value for %s\n", name);
            return 2;
        }
    }
    return 0;
}

int tctl_install(int argc, char **argv)
{
    struct ti_install *t = calloc(1, sizeof(*t));
    const char *dir = TI_DEFAULT_DIR;
    char path[PATH_MAX + 16];
    int local = 0, rc;
    struct stat st;

    if (t == NULL)
        return 1;
    t->n_control = 3;
    t->n_data = 2;
    t->base = 18000;
    t->workers = 2;
    t->timeout_ms = 60000;
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            install_usage(stdout);
            free(t);
            return 0;
        }
    if ((rc = parse_install(t, argc, argv, &dir, &local)) != 0) {
        free(t);
        return rc;
    }
    if (!local) {
        fprintf(stderr, "traefikeectl install: only --local is supported "
                        "(a cluster on this machine)\n");
        free(t);
        return 2;
    }
    if (resolve_dir(dir, 1, t->dir, sizeof(t->dir)) != 0) {
        fprintf(stderr, "traefikeectl install: cannot create %s: %s\n", dir,
                strerror(errno));
        free(t);
        return 1;
    }
    snprintf(path, sizeof(path), "%s/cluster.json", t->dir);
    if (stat(path, &st) == 0) {
        fprintf(stderr,
                "traefikeectl install: %s exists: a cluster is installed "
                "there (traefikeectl uninstall --local --dir %s)\n",
                path, t->dir);
        free(t);
        return 1;
    }
    t->insecure |= tctl_env_insecure();
    fmt(t->key_file, sizeof(t->key_file), "%s/cluster.key", t->dir);
    fmt(t->redis_pw_file, sizeof(t->redis_pw_file), "%s/redis-password",
        t->dir);
    fmt(t->token_file, sizeof(t->token_file), "%s/data-token", t->dir);
    fmt(t->bundle, sizeof(t->bundle), "%s/traefikeectl.bundle", t->dir);
    fmt(t->ca, sizeof(t->ca), "%s/ca.crt", t->dir);
    signal(SIGINT, ti_on_signal);
    signal(SIGTERM, ti_on_signal);
    signal(SIGPIPE, SIG_IGN);
    rc = run_install(t);
    if (rc == 0) {
        print_summary(t);
    } else {
        fflush(stdout);
        stop_started(t, 5000);
        undo_state(t);
        rmdir(t->dir); /* only if we left it empty */
        fprintf(stderr, "traefikeectl install: %s\n", t->err);
    }
    for (size_t i = 0; i < t->n; i++)
        proc_free(&t->procs[i]);
    cm_pki_creds_clear(&t->pki);
    explicit_bzero(t->redis_pw, sizeof(t->redis_pw));
    explicit_bzero(t->password, sizeof(t->password));
    free(t);
    return rc == 0 ? 0 : 1;
}

/* ==== uninstall ==== */

/* 1 if /proc/<pid>/cmdline starts with <argv0> (followed by NUL, or by a
 * space: Redis rewrites its process title as "PROGRAM ADDR [mode]"). */
static int runs_program(pid_t pid, const char *argv0)
{
    char path[64], buf[PATH_MAX + 64];
    size_t n = strlen(argv0);
    ssize_t got;
    int fd;

    snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
        return 0;
    got = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (got <= 0 || (size_t)got < n)
        return 0;
    buf[got] = '\0';
    return strncmp(buf, argv0, n) == 0 && (buf[n] == '\0' || buf[n] == ' ');
}

struct tu_target {
    const char *name;
    const char *argv0;
    pid_t pid;
    int alive;
};

/* Sends <sig> to every target still running its program. */
static size_t signal_targets(struct tu_target *v, size_t n, int sig)
{
    size_t left = 0;

    for (size_t i = n; i-- > 0;) {
        if (!v[i].alive)
            continue;
        if (!runs_program(v[i].pid, v[i].argv0)) {
            v[i].alive = 0;
            continue;
        }
        if (sig != 0)
            kill(v[i].pid, sig);
        left++;
    }
    return left;
}

static int rm_entry(const char *p, const struct stat *sb, int flag,
                    struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(p);
    return 0;
}

static void rm_tree(const char *dir, const char *sub)
{
    char p[PATH_MAX + 64];
    struct stat st;

    snprintf(p, sizeof(p), "%s/%s", dir, sub);
    if (lstat(p, &st) == 0)
        nftw(p, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Whether <def> is a symbolic link to <mine>. */
static int links_to(const char *def, const char *mine)
{
    char target[PATH_MAX];
    ssize_t n = readlink(def, target, sizeof(target) - 1);

    if (n < 0)
        return 0;
    target[n] = '\0';
    return strcmp(target, mine) == 0;
}

/* Removes the default bundle if it is this cluster's (a link to
 * DIR/traefikeectl.bundle, or, from older installs, the same text); says
 * so. */
static void remove_default_bundle(const char *dir)
{
    char mine[PATH_MAX + 32], def[PATH_MAX], err[CM_ERR_LEN];
    char *a = NULL, *b = NULL;

    snprintf(mine, sizeof(mine), "%s/traefikeectl.bundle", dir);
    if (tctl_bundle_default(def, sizeof(def)) != 0)
        return;
    if (links_to(def, mine)) {
        if (remove(def) == 0)
            printf("  removed %s (a link to this cluster's bundle)\n", def);
        return;
    }
    if (cm_pki_file_read(mine, &a, err, sizeof(err)) != 0)
        return;
    if (cm_pki_file_read(def, &b, err, sizeof(err)) == 0 && strcmp(a, b) == 0 &&
        remove(def) == 0)
        printf("  removed %s (this cluster's bundle)\n", def);
    explicit_bzero(a, strlen(a));
    free(a);
    if (b != NULL)
        explicit_bzero(b, strlen(b));
    free(b);
}

/* Removes the state install wrote (and logs with <purge>). */
static void remove_state(const char *dir, json_t *procs, int purge)
{
    static const char *const files[] = {"redis",
                                        "config.yaml",
                                        "admin-password",
                                        "admin-password.hash",
                                        ".cluster.json.tmp",
                                        "cluster.key",
                                        "redis-password",
                                        "data-token",
                                        "traefikeectl.bundle",
                                        "ca.crt"};
    size_t i;
    json_t *p;

    remove_default_bundle(dir);
    for (i = 0; i < sizeof(files) / sizeof(files[0]); i++)
        rm_tree(dir, files[i]);
    json_array_foreach(procs, i, p)
    {
        const char *role = json_string_value(json_object_get(p, "role"));
        const char *name = json_string_value(json_object_get(p, "name"));
        if (role != NULL && name != NULL && strchr(name, '/') == NULL &&
            name[0] != '.' &&
            (strcmp(role, "control") == 0 || strcmp(role, "data") == 0))
            rm_tree(dir, name);
    }
    if (purge)
        rm_tree(dir, "logs");
    rm_tree(dir, "cluster.json");
    if (purge)
        rmdir(dir);
}

static void uninstall_usage(FILE *f)
{
    fprintf(f, "usage: traefikeectl uninstall --local [--dir DIR] [--purge] "
               "[--timeout D]\n\n"
               "Stops exactly the processes DIR/cluster.json records (each "
               "only if its pid\nstill runs the recorded program): SIGTERM, "
               "then SIGKILL after the timeout\n[15s]. Removes the state "
               "(cluster.json, Redis files, caches, the password, the\n"
               "cluster key, the data token, the bundle and CA, and the "
               "default bundle if it "
               "is this\ncluster's);\nkeeps "
               "DIR/logs unless --purge. DIR defaults to "
               "./" TI_DEFAULT_DIR ".\n");
}

static int stop_targets(struct tu_target *v, size_t n, int64_t grace_ms)
{
    int64_t end = now_ms() + grace_ms;
    size_t left = signal_targets(v, n, SIGTERM), killed = 0;

    while (left > 0 && now_ms() < end) {
        sleep_ms(100);
        left = signal_targets(v, n, 0);
    }
    if (left > 0) {
        killed = signal_targets(v, n, SIGKILL);
        end = now_ms() + 2000;
        while ((left = signal_targets(v, n, 0)) > 0 && now_ms() < end)
            sleep_ms(50);
    }
    if (killed > 0)
        printf("  %zu process(es) did not stop in time: killed\n", killed);
    return left == 0 ? 0 : -1;
}

int tctl_uninstall(int argc, char **argv)
{
    const char *dir = TI_DEFAULT_DIR;
    char abs[PATH_MAX], path[PATH_MAX + 16];
    int local = 0, purge = 0, rc = 0;
    int64_t grace = 15000;
    struct tu_target v[TI_MAX_PROCS];
    size_t n = 0, i, running = 0;
    json_error_t jerr;
    json_t *j, *procs, *p;

    for (int k = 1; k < argc; k++) {
        const char *val = NULL;
        if (strcmp(argv[k], "--help") == 0 || strcmp(argv[k], "-h") == 0) {
            uninstall_usage(stdout);
            return 0;
        } else if (strcmp(argv[k], "--local") == 0) {
            local = 1;
        } else if (strcmp(argv[k], "--purge") == 0) {
            purge = 1;
        } else if (tctl_cred_opt(argc, argv, &k, &(struct tctl_cred_opts){0}) ==
                   1) {
            /* global options: no server is called */
        } else if (opt(argc, argv, &k, "--dir", &val) && val != NULL) {
            dir = val;
        } else if (opt(argc, argv, &k, "--timeout", &val) && val != NULL &&
                   (grace = parse_duration_ms(val)) >= 0) {
        } else {
            fprintf(stderr,
                    "traefikeectl uninstall: bad argument %s (try --help)\n",
                    argv[k]);
            return 2;
        }
    }
    if (!local) {
        fprintf(stderr, "traefikeectl uninstall: only --local is supported\n");
        return 2;
    }
    if (resolve_dir(dir, 0, abs, sizeof(abs)) != 0)
        return 1;
    snprintf(path, sizeof(path), "%s/cluster.json", abs);
    if ((j = json_load_file(path, 0, &jerr)) == NULL) {
        fprintf(stderr, "traefikeectl uninstall: no local cluster in %s (%s)\n",
                abs, jerr.text);
        return 1;
    }
    procs = json_object_get(j, "processes");
    json_array_foreach(procs, i, p)
    {
        json_t *a0 = json_array_get(json_object_get(p, "argv"), 0);
        json_int_t pid = json_integer_value(json_object_get(p, "pid"));
        if (n == TI_MAX_PROCS || !json_is_string(a0) || pid <= 1)
            continue;
        v[n] = (struct tu_target){
            .name = json_string_value(json_object_get(p, "name")),
            .argv0 = json_string_value(a0),
            .pid = (pid_t)pid,
            .alive = 1,
        };
        running += runs_program(v[n].pid, v[n].argv0);
        n++;
    }
    printf("Stopping %zu running process(es) of %zu recorded in %s\n", running,
           n, path);
    if (stop_targets(v, n, grace) != 0) {
        fprintf(stderr,
                "traefikeectl uninstall: some processes did not stop; "
                "%s kept\n",
                path);
        rc = 1;
    } else {
        remove_state(abs, procs, purge);
        printf(purge ? "Removed %s\n"
                     : "Removed the state; logs kept in "
                       "%s/logs\n",
               abs);
    }
    json_decref(j);
    return rc;
}
