/*
 * harness.h -- process and Redis helpers for the store integration test:
 * a private temp dir, free loopback ports, child processes that die with
 * the test (PR_SET_PDEATHSIG) and are tracked by pid for cleanup, and
 * blocking hiredis commands to drive and inspect the servers.
 */
#ifndef IT_STORE_HARNESS_H
#define IT_STORE_HARNESS_H

#include <stdint.h>
#include <sys/types.h>

#include <hiredis/hiredis.h>

#define CHECK(cond, ...)                                                       \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);    \
            fprintf(stderr, __VA_ARGS__);                                      \
            fprintf(stderr, "\n");                                             \
            exit(1);                                                           \
        }                                                                      \
    } while (0)

/* Creates the temp dir (short, under /tmp, for unix sockets) and installs
 * the cleanup (atexit and SIGTERM/SIGINT): kill tracked pids, rm the dir. */
const char *it_setup(void);

uint64_t it_now_ms(void);
void it_sleep_ms(unsigned ms);

/* A loopback TCP port nobody listens on right now. */
int it_free_port(void);

/* Starts argv[0] (PATH) with output to <log> (in the temp dir); tracked. */
pid_t it_spawn(const char *log, char *const argv[]);

/* Tracks a pid started elsewhere / forgets one that was reaped. */
void it_track(pid_t pid);
void it_untrack(pid_t pid);

/* SIGKILLs a tracked pid and reaps it. */
void it_kill9(pid_t pid);

/* Writes a file in the temp dir; returns its path (static buffer). */
const char *it_write(const char *name, const char *text);

/* Runs one command against 127.0.0.1:<port> (1 s timeouts). Returns the
 * reply (free with freeReplyObject) or NULL. */
redisReply *it_cmd(int port, const char *fmt, ...);

/* it_cmd that expects a string/status reply; copies it into <out>. 0 ok. */
int it_cmd_str(int port, char *out, size_t len, const char *fmt, ...);

/* Polls until PING answers on <port> or <ms> pass. 0 ok. */
int it_wait_ping(int port, unsigned ms);

#endif
