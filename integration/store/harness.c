/*
 * harness.c -- see harness.h. Process-wide state (the pid list, the temp
 * dir) lives here because cleanup must also run from a signal handler; the
 * test is single-threaded.
 */
#define _GNU_SOURCE
#include "integration/store/harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_PIDS 64

static pid_t pids[MAX_PIDS];
static char tmpdir[64];

static int rm_one(const char *path, const struct stat *st, int flag,
                  struct FTW *ftw)
{
    remove(path);
    return 0;
}

static void cleanup(void)
{
    for (int i = 0; i < MAX_PIDS; i++) {
        if (pids[i] > 0) {
            kill(pids[i], SIGKILL);
            waitpid(pids[i], NULL, 0);
            pids[i] = 0;
        }
    }
    if (tmpdir[0] != '\0' && getenv("IT_KEEP_TMP") == NULL)
        nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void on_signal(int sig)
{
    cleanup();
    _exit(128 + sig);
}

const char *it_setup(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/cpstore.XXXXXX");
    if (mkdtemp(tmpdir) == NULL) {
        perror("mkdtemp");
        exit(1);
    }
    atexit(cleanup);
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    signal(SIGPIPE, SIG_IGN);
    return tmpdir;
}

uint64_t it_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void it_sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};

    while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
        ;
}

int it_free_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port;

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK(fd != -1, "socket");
    CHECK(bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0, "bind");
    CHECK(getsockname(fd, (struct sockaddr *)&a, &len) == 0, "getsockname");
    port = ntohs(a.sin_port);
    close(fd);
    return port;
}

void it_track(pid_t pid)
{
    for (int i = 0; i < MAX_PIDS; i++) {
        if (pids[i] == 0) {
            pids[i] = pid;
            return;
        }
    }
    CHECK(0, "too many pids");
}

void it_untrack(pid_t pid)
{
    for (int i = 0; i < MAX_PIDS; i++)
        if (pids[i] == pid)
            pids[i] = 0;
}

pid_t it_spawn(const char *log, char *const argv[])
{
    char path[256];
    pid_t parent = getpid(), pid;
    int fd;

    snprintf(path, sizeof(path), "%s/%s", tmpdir, log);
    pid = fork();
    CHECK(pid != -1, "fork");
    if (pid == 0) {
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) == -1 || getppid() != parent)
            _exit(127);
        fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (fd != -1) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execvp(argv[0], argv);
        _exit(127);
    }
    it_track(pid);
    return pid;
}

void it_kill9(pid_t pid)
{
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    it_untrack(pid);
}

const char *it_write(const char *name, const char *text)
{
    static char path[256];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    f = fopen(path, "w");
    CHECK(f != NULL, "fopen %s", path);
    fputs(text, f);
    fclose(f);
    return path;
}

static redisReply *vcmd(int port, const char *fmt, va_list ap)
{
    struct timeval tv = {1, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
    redisReply *r = NULL;

    if (c == NULL)
        return NULL;
    if (c->err == 0) {
        redisSetTimeout(c, tv);
        r = redisvCommand(c, fmt, ap);
    }
    redisFree(c);
    return r;
}

redisReply *it_cmd(int port, const char *fmt, ...)
{
    va_list ap;
    redisReply *r;

    va_start(ap, fmt);
    r = vcmd(port, fmt, ap);
    va_end(ap);
    return r;
}

int it_cmd_str(int port, char *out, size_t len, const char *fmt, ...)
{
    va_list ap;
    redisReply *r;
    int rc = -1;

    va_start(ap, fmt);
    r = vcmd(port, fmt, ap);
    va_end(ap);
    if (r != NULL &&
        (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS)) {
        snprintf(out, len, "%s", r->str);
        rc = 0;
    }
    freeReplyObject(r);
    return rc;
}

int it_wait_ping(int port, unsigned ms)
{
    uint64_t end = it_now_ms() + ms;
    char buf[16];

    while (it_now_ms() < end) {
        if (it_cmd_str(port, buf, sizeof(buf), "PING") == 0 &&
            strcmp(buf, "PONG") == 0)
            return 0;
        it_sleep_ms(20);
    }
    return -1;
}
