/*
 * embedded.c -- a private redis-server for a single control node: a child
 * on <data_dir>/redis.sock (no TCP port, no RDB/AOF, socket mode 700) that
 * gets SIGKILL when the thread that started it dies (PR_SET_PDEATHSIG; start
 * it from the main thread). Its pid is recorded in <data_dir>/redis.pid.
 *
 * Leftover policy: if the pidfile names a live redis-server serving our
 * socket (a previous run that was killed before it could stop it), we kill
 * it (SIGTERM, then SIGKILL) and start afresh rather than reuse it: a reused
 * server is not our child (no death signal, no waitpid) and its settings are
 * unknown. Only that recorded pid is ever signalled, never a name.
 *
 * Password (require_password): <data_dir>/redis-password (0600) holds it,
 * made from 16 random bytes (hex) when missing; the server gets it through
 * <data_dir>/redis.conf (0600, "requirepass ..."), so it never shows on a
 * command line.
 *
 * Blocking calls (fork, waitpid, PING); use before the loop runs.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "common/err/err.h"
#include "common/log/log.h"
#include "controlplane/store/store.h"

#define MOD "store"

struct cp_store_embedded {
    pid_t pid;      /* our child */
    pid_t leftover; /* killed at start, or 0 */
    char sock[CP_STORE_PATH_LEN];
    char addr[CP_STORE_PATH_LEN + 8];
    char pidfile[4096];
    char logfile[4096];
    char conffile[4096]; /* "" without a password */
    char *password;      /* NULL without */
};

#define PASSWORD_MAX 256

static uint64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};

    while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
        ;
}

/* ==== leftover detection ==== */

static int read_file(const char *path, char *buf, size_t len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n;

    if (fd == -1)
        return -1;
    n = read(fd, buf, len - 1);
    close(fd);
    if (n == -1)
        return -1;
    for (ssize_t i = 0; i < n; i++)
        if (buf[i] == '\0')
            buf[i] = ' '; /* cmdline separators */
    buf[n] = '\0';
    return (int)n;
}

/* 1 if <pid> is a live (not zombie) redis-server whose title names <sock>. */
static int is_our_redis(pid_t pid, const char *sock)
{
    char path[64], buf[4096], *rp;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    if (read_file(path, buf, sizeof(buf)) <= 0)
        return 0;
    rp = strrchr(buf, ')');
    if (strncmp(buf + strcspn(buf, "("), "(redis-server)", 14) != 0 ||
        rp == NULL || rp[1] != ' ' || rp[2] == 'Z' || rp[2] == 'X')
        return 0;
    snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
    if (read_file(path, buf, sizeof(buf)) <= 0)
        return 0;
    return strstr(buf, sock) != NULL;
}

/* Signals <pid> and waits until it is gone (or a zombie), up to <ms>. */
static int kill_and_wait(pid_t pid, const char *sock, int sig, unsigned ms)
{
    uint64_t end = now_ms() + ms;

    if (kill(pid, sig) == -1)
        return errno == ESRCH ? 0 : -errno;
    while (now_ms() < end) {
        if (!is_our_redis(pid, sock))
            return 0;
        sleep_ms(20);
    }
    return is_our_redis(pid, sock) ? GW_EAGAIN : 0;
}

static pid_t kill_leftover(const struct cp_store_embedded *e)
{
    char buf[32];
    uint64_t v;
    size_t n;

    if (read_file(e->pidfile, buf, sizeof(buf)) <= 0)
        return 0;
    n = strcspn(buf, "\n");
    if (cp_store_parse_u64(buf, n, &v) != 0 || v <= 1 || v > 4194304)
        return 0;
    if (!is_our_redis((pid_t)v, e->sock))
        return 0;
    cm_log_warn(MOD, "embedded_leftover", "pid=%llu action=kill",
                (unsigned long long)v);
    if (kill_and_wait((pid_t)v, e->sock, SIGTERM, 2000) != 0)
        kill_and_wait((pid_t)v, e->sock, SIGKILL, 2000);
    return (pid_t)v;
}

/* ==== child ==== */

static void child_exec(const struct cp_store_embedded *e, const char *bin,
                       const char *dir, pid_t parent)
{
    /* a config file must come first; without one the list starts at 1.
     * The append-only file keeps the only copy of the cluster's state (CA,
     * configuration, passwords) across a restart. */
    const char *argv[] = {bin,
                          e->conffile,
                          "--port",
                          "0",
                          "--unixsocket",
                          e->sock,
                          "--unixsocketperm",
                          "700",
                          "--dir",
                          dir,
                          "--save",
                          "",
                          "--appendonly",
                          "yes",
                          "--appendfsync",
                          "everysec",
                          "--daemonize",
                          "no",
                          "--logfile",
                          e->logfile,
                          NULL};
    const char **args = argv;
    int fd;

    if (e->conffile[0] == '\0') {
        args = argv + 1;
        args[0] = bin;
    }
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) == -1 || getppid() != parent)
        _exit(127);
    fd = open("/dev/null", O_RDWR);
    if (fd != -1) {
        dup2(fd, 0);
        dup2(fd, 1);
        dup2(fd, 2);
    }
    /* keep none of the parent's sockets (listeners) alive in the child */
    for (int i = 3; i < 65536; i++)
        if (fcntl(i, F_GETFD) != -1)
            close(i);
    execvp(bin, (char *const *)args);
    _exit(127);
}

static int write_pidfile(const struct cp_store_embedded *e)
{
    char tmp[4200], buf[32];
    int fd, n;

    snprintf(tmp, sizeof(tmp), "%s.tmp", e->pidfile);
    n = snprintf(buf, sizeof(buf), "%d\n", (int)e->pid);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd == -1)
        return -errno;
    if (write(fd, buf, (size_t)n) != n || close(fd) == -1) {
        unlink(tmp);
        return GW_EIO;
    }
    return rename(tmp, e->pidfile) == -1 ? -errno : GW_OK;
}

/* 1 when the server at <sock> answers PING (after AUTH <password>). */
static int ping(const char *sock, const char *password)
{
    struct timeval tv = {0, 200000};
    redisContext *c = redisConnectUnixWithTimeout(sock, tv);
    redisReply *r;
    int ok = 0;

    if (c == NULL)
        return 0;
    if (c->err == 0 && password != NULL) {
        redisSetTimeout(c, tv);
        r = redisCommand(c, "AUTH %s", password);
        if (r == NULL || r->type != REDIS_REPLY_STATUS) {
            freeReplyObject(r);
            redisFree(c);
            return 0;
        }
        freeReplyObject(r);
    }
    if (c->err == 0) {
        redisSetTimeout(c, tv);
        r = redisCommand(c, "PING");
        ok = r != NULL && r->type == REDIS_REPLY_STATUS &&
             strcmp(r->str, "PONG") == 0;
        freeReplyObject(r);
    }
    redisFree(c);
    return ok;
}

/* Reaps <pid> within <ms>; 1 if it exited. */
static int reap(pid_t pid, unsigned ms)
{
    uint64_t end = now_ms() + ms;
    int st;

    for (;;) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid || (r == -1 && errno == ECHILD))
            return 1;
        if (now_ms() >= end)
            return 0;
        sleep_ms(10);
    }
}

static int wait_ready(struct cp_store_embedded *e, unsigned ms, char *err,
                      size_t errlen)
{
    uint64_t end = now_ms() + ms;
    int st;

    while (now_ms() < end) {
        if (waitpid(e->pid, &st, WNOHANG) == e->pid) {
            e->pid = 0;
            return cm_err_set(err, errlen, GW_EIO,
                              "embedded redis-server exited (status %d); "
                              "see %s",
                              st, e->logfile);
        }
        if (ping(e->sock, e->password))
            return GW_OK;
        sleep_ms(20);
    }
    return cm_err_set(err, errlen, GW_EIO,
                      "embedded redis-server did not answer PING in %u ms", ms);
}

/* ==== public ==== */

static int set_paths(struct cp_store_embedded *e, const char *dir, char *err,
                     size_t errlen)
{
    if ((size_t)snprintf(e->sock, sizeof(e->sock), "%s/redis.sock", dir) >=
        sizeof(e->sock))
        return cm_err_set(err, errlen, GW_EINVAL,
                          "data dir path too long for a unix socket: %s", dir);
    snprintf(e->addr, sizeof(e->addr), "unix:%s", e->sock);
    snprintf(e->pidfile, sizeof(e->pidfile), "%s/redis.pid", dir);
    snprintf(e->logfile, sizeof(e->logfile), "%s/redis.log", dir);
    return GW_OK;
}

/* ==== password ==== */

/* Writes <text> to <path> (0600) through a temporary file and a rename. */
static int write_private(const char *path, const char *text)
{
    char tmp[4200];
    size_t n = strlen(text);
    int fd;

    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd == -1)
        return -errno;
    if (write(fd, text, n) != (ssize_t)n || fsync(fd) == -1 ||
        close(fd) == -1) {
        unlink(tmp);
        return GW_EIO;
    }
    return rename(tmp, path) == -1 ? -errno : GW_OK;
}

/* A password a redis.conf line can carry as is: 1 to PASSWORD_MAX - 1
 * printable characters, no space and no quote. */
static int password_ok(const char *p)
{
    size_t n = strlen(p);

    if (n == 0 || n >= PASSWORD_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (p[i] <= ' ' || p[i] > '~' || p[i] == '"' || p[i] == '\'' ||
            p[i] == '\\')
            return 0;
    return 1;
}

static int new_password(char out[33])
{
    unsigned char b[16];
    static const char hex[] = "0123456789abcdef";

    if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b))
        return GW_EIO;
    for (size_t i = 0; i < sizeof(b); i++) {
        out[2 * i] = hex[b[i] >> 4];
        out[2 * i + 1] = hex[b[i] & 15];
    }
    out[32] = '\0';
    explicit_bzero(b, sizeof(b));
    return GW_OK;
}

/* Reads <dir>/redis-password, or makes it; then writes <dir>/redis.conf. */
static int setup_password(struct cp_store_embedded *e, const char *dir,
                          char *err, size_t errlen)
{
    char path[4200], buf[PASSWORD_MAX + 2], conf[PASSWORD_MAX + 16];
    int n, rc;

    snprintf(path, sizeof(path), "%s/redis-password", dir);
    n = read_file(path, buf, sizeof(buf));
    if (n < 0 && errno != ENOENT)
        return cm_err_set(err, errlen, GW_EIO, "read %s: %s", path,
                          strerror(errno));
    if (n < 0) {
        if (new_password(buf) != 0)
            return cm_err_set(err, errlen, GW_EIO, "getrandom failed");
        rc = write_private(path, buf);
        if (rc != 0)
            return cm_err_set(err, errlen, rc, "write %s failed", path);
    }
    buf[strcspn(buf, "\r\n")] = '\0';
    if (!password_ok(buf))
        return cm_err_set(err, errlen, GW_EINVAL,
                          "%s: not a usable password (1 to %d printable "
                          "characters, no space or quote)",
                          path, PASSWORD_MAX - 1);
    e->password = strdup(buf);
    snprintf(e->conffile, sizeof(e->conffile), "%s/redis.conf", dir);
    snprintf(conf, sizeof(conf), "requirepass %s\n", buf);
    rc = write_private(e->conffile, conf);
    explicit_bzero(buf, sizeof(buf));
    explicit_bzero(conf, sizeof(conf));
    if (e->password == NULL)
        return cm_err_set(err, errlen, GW_ENOMEM, "out of memory");
    if (rc != 0)
        return cm_err_set(err, errlen, rc, "write %s failed", e->conffile);
    return GW_OK;
}

int cp_store_embedded_start(const struct cp_store_embedded_config *cfg,
                            struct cp_store_embedded **out, char *err,
                            size_t errlen)
{
    const char *bin = cfg->redis_server ? cfg->redis_server : "redis-server";
    struct cp_store_embedded *e;
    pid_t parent = getpid();
    int rc;

    if (cfg->data_dir == NULL || cfg->data_dir[0] != '/')
        return cm_err_set(err, errlen, GW_EINVAL,
                          "embedded redis needs an absolute data dir");
    if (mkdir(cfg->data_dir, 0700) == -1 && errno != EEXIST)
        return cm_err_set(err, errlen, -errno, "mkdir %s: %s", cfg->data_dir,
                          strerror(errno));
    e = calloc(1, sizeof(*e));
    if (e == NULL)
        return cm_err_set(err, errlen, GW_ENOMEM, "out of memory");
    rc = set_paths(e, cfg->data_dir, err, errlen);
    if (rc == 0 && cfg->require_password)
        rc = setup_password(e, cfg->data_dir, err, errlen);
    if (rc != 0)
        goto fail;
    e->leftover = kill_leftover(e);
    unlink(e->sock);
    e->pid = fork();
    if (e->pid == -1) {
        rc = cm_err_set(err, errlen, -errno, "fork: %s", strerror(errno));
        goto fail;
    }
    if (e->pid == 0)
        child_exec(e, bin, cfg->data_dir, parent);
    rc = write_pidfile(e);
    if (rc != 0) {
        cm_err_set(err, errlen, rc, "write %s failed", e->pidfile);
        goto fail;
    }
    rc = wait_ready(e, cfg->start_timeout_ms ? cfg->start_timeout_ms : 5000,
                    err, errlen);
    if (rc != 0)
        goto fail;
    cm_log_info(MOD, "embedded_started", "pid=%d addr=%s", (int)e->pid,
                e->addr);
    *out = e;
    return GW_OK;
fail:
    cp_store_embedded_stop(e);
    return rc;
}

const char *cp_store_embedded_addr(const struct cp_store_embedded *e)
{
    return e->addr;
}

pid_t cp_store_embedded_pid(const struct cp_store_embedded *e)
{
    return e->pid;
}

const char *cp_store_embedded_password(const struct cp_store_embedded *e)
{
    return e->password;
}

pid_t cp_store_embedded_leftover(const struct cp_store_embedded *e)
{
    return e->leftover;
}

void cp_store_embedded_stop(struct cp_store_embedded *e)
{
    char buf[32];

    if (e == NULL)
        return;
    if (e->pid > 0) {
        kill(e->pid, SIGTERM);
        if (!reap(e->pid, 2000)) {
            kill(e->pid, SIGKILL);
            reap(e->pid, 2000);
        }
        /* remove the pidfile only if it still names our child */
        snprintf(buf, sizeof(buf), "%d\n", (int)e->pid);
        {
            char cur[32];
            if (read_file(e->pidfile, cur, sizeof(cur)) > 0 &&
                strcmp(cur, buf) == 0)
                unlink(e->pidfile);
        }
        cm_log_info(MOD, "embedded_stopped", "pid=%d", (int)e->pid);
    }
    if (e->password != NULL) {
        explicit_bzero(e->password, strlen(e->password));
        free(e->password);
    }
    free(e);
}
