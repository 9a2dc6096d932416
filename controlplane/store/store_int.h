/*
 * store_int.h -- internals shared by the files of the store module (not for
 * other modules): the connection wrapper (conn.c), the store object
 * (store.c), the Lua scripts (scripts.c) and the entry points each file
 * offers the others. All of it runs on the store's loop.
 */
#ifndef CP_STORE_INT_H
#define CP_STORE_INT_H

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <uv.h>

#include "controlplane/store/store-t.h"

#define CP_STORE__MOD "store"

struct cp_store__conn;

/* Result of one command: <status> 0 with <r> (may be an error reply), or a
 * negative code (UV_ETIMEDOUT, GW_EIO, UV_ECANCELED, ...) with <r> NULL. */
typedef void (*cp_store__reply_fn)(struct cp_store *s, int status,
                                   redisReply *r, void *arg);

/* A pub/sub push (subscribe confirmation or message) on <c>. */
typedef void (*cp_store__push_fn)(struct cp_store__conn *c, redisReply *r);

/* The connection dropped by itself (peer, error, command timeout). */
typedef void (*cp_store__lost_fn)(struct cp_store__conn *c, int code);

/* One pending command; owned by hiredis until its reply callback runs. */
struct cp_store__req {
    struct cp_store__conn *conn; /* NULL once failed by us (done) */
    struct cp_store__req *next;
    uint64_t deadline; /* uv_now() ms */
    cp_store__reply_fn fn;
    void *arg;
};

/* Confirmation of one write (confirm.c), embedded in the caller's op:
 * INFO replication queued right behind the write, then WAIT for every
 * replica INFO showed online (at least wait_replicas), and no failover sign
 * from the sentinels between the write and the WAIT reply. */
struct cp_store__confirm;
typedef void (*cp_store__confirm_fn)(struct cp_store *s,
                                     struct cp_store__confirm *c, int status,
                                     int replicas);
struct cp_store__confirm {
    cp_store__confirm_fn done;
    uint64_t gen; /* s->fo_gen when the write was queued */
    int pending;  /* replies still to come: the write's and INFO's */
    int wstatus;  /* the write's result; 0: WAIT follows */
    int online;   /* replicas INFO showed online; -1 unknown */
    int need;     /* what WAIT asked for */
};

/* Which password check a connection makes first (cp_store__conn.auth). */
enum {
    CP_STORE__AUTH_NONE = 0,
    CP_STORE__AUTH_REDIS,    /* a master/replica link */
    CP_STORE__AUTH_SENTINEL, /* a sentinel: one without requirepass is fine */
};

/* One Redis connection slot, reused across reconnects. Embedded in the
 * store; its timers are closed by cp_store__conn_close(). */
struct cp_store__conn {
    struct cp_store *store;
    const char *name;      /* for logs: "cmd", "sub", "sentinel", ... */
    redisAsyncContext *ac; /* NULL when down */
    uv_timer_t timer;      /* watchdog of the earliest deadline */
    uv_timer_t ping_timer; /* liveness: every ping_ms while up */
    struct cp_store__req *head, *tail;
    uint64_t sub_deadline;  /* SUBSCRIBE not yet confirmed by then, or 0 */
    uint64_t ping_deadline; /* a subscribed link's PING unanswered (no byte
                               read since) by then, or 0 */
    cp_store__push_fn push;
    cp_store__lost_fn lost; /* may be NULL */
    int auth; /* sends AUTH first: CP_STORE__AUTH_REDIS or _SENTINEL */
};

/* One host name's numeric address (resolve.c). */
struct cp_store__dns {
    struct cp_store *store;
    char host[CP_STORE_HOST_LEN];
    char ip[INET6_ADDRSTRLEN]; /* "" until a lookup answered */
    uint64_t fresh_until;      /* uv_now() ms: look up again from then */
    int busy, failed;          /* a lookup in flight; the last one failed */
    uv_getaddrinfo_t req;
};

#define CP_STORE__NDNS (CP_STORE_MAX_SENTINELS + 4)

enum cp_store__phase {
    CP_STORE__IDLE = 0,  /* not started */
    CP_STORE__WAIT,      /* retry timer armed */
    CP_STORE__RESOLVE,   /* asking the sentinels */
    CP_STORE__HANDSHAKE, /* ROLE, SCRIPT LOAD, SUBSCRIBE */
    CP_STORE__READY,     /* serving */
    CP_STORE__CLOSED,
};

enum cp_store__script {
    CP_STORE__S_ACQUIRE = 0,
    CP_STORE__S_RENEW,
    CP_STORE__S_RESIGN,
    CP_STORE__S_PUT,
    CP_STORE__S_GET,
    CP_STORE__S_ADMIN_SET,
    CP_STORE__S_CA_CREATE,
    CP_STORE__S_TOKENS_SET,
    CP_STORE__S_REVOKE,
    CP_STORE__NSCRIPTS,
};

extern const char *const cp_store__script_src[CP_STORE__NSCRIPTS];

struct cp_store {
    uv_loop_t *loop;
    struct cp_store_callbacks cbs;

    /* configuration (owned copies) */
    char *prefix, *node_id, *master_name;
    int use_sentinel;
    struct cp_store_addr redis;
    struct cp_store_addr sentinels[CP_STORE_MAX_SENTINELS];
    size_t nsentinels;
    unsigned lease_ms, margin_ms, cmd_timeout_ms, sentinel_timeout_ms;
    unsigned wait_timeout_ms, history;
    unsigned ping_ms, ping_timeout_ms;
    int wait_replicas;

    /* keys: prefix + suffix, owned */
    char *k_leader, *k_epoch, *k_revision, *k_current, *k_history;
    char *k_rev, *k_events, *k_node, *k_admin;
    char *k_ca, *k_tokens, *k_revoked;
    char *password;       /* AUTH on master connections; NULL for none */
    char last_error[256]; /* why the last connection attempt failed */

    /* connection machine (store.c) */
    enum cp_store__phase phase;
    struct cp_store__conn cmd;    /* commands to the master */
    struct cp_store__conn sub;    /* SUBSCRIBE <prefix>events */
    struct cp_store__conn squery; /* one sentinel query at a time */
    size_t sentinel_idx, sentinel_tries;
    struct cp_store_addr hint; /* from +switch-master: try it first */
    int have_hint;
    struct cp_store_addr master;
    char master_str[CP_STORE_HOST_LEN + 16];
    unsigned attempt;
    uint32_t rnd;
    uv_timer_t retry_timer;
    int scripts_pending, sub_confirmed;
    uint64_t session_rev; /* highest revision heard since the last connect */
    char sha[CP_STORE__NSCRIPTS][41];
    int open_handles;

    /* failover signs (failover.c): a subscription on every sentinel */
    struct cp_store__conn ssub[CP_STORE_MAX_SENTINELS];
    int ssub_ok[CP_STORE_MAX_SENTINELS]; /* subscription confirmed */
    size_t heard;                        /* confirmed subscriptions */
    uv_timer_t ssub_timer;               /* reconnects lost subscriptions */
    unsigned hold_ms;
    uint64_t fo_until; /* uv_now() before which writes are refused */
    uint64_t fo_gen;   /* counts failover signs (and deaf moments) */
    uint64_t max_rev;  /* highest revision ever seen: floor of the next */

    /* host names looked up off the loop (resolve.c) */
    struct cp_store__dns dns[CP_STORE__NDNS];

    /* election (election.c) */
    int electing, leader, elect_busy;
    uint64_t epoch, renew_sent;
    uint64_t pend_epoch, pend_sent; /* acquired term waiting for WAIT */
    struct cp_store__confirm term_confirm;
    char leader_id[CP_STORE_ID_LEN];
    uv_timer_t elect_timer, stepdown_timer;
};

/* ==== conn.c ==== */
void cp_store__conn_init(struct cp_store__conn *c, struct cp_store *s,
                         const char *name, cp_store__push_fn push,
                         cp_store__lost_fn lost);
/* Starts connecting <c> to <a>; commands may be queued at once. A host
 * name not looked up yet fails with CP_STORE_ERESOLVING (resolve.c): retry
 * later. */
int cp_store__conn_connect(struct cp_store__conn *c,
                           const struct cp_store_addr *a);
/* Drops <c> (if up) without calling lost; pending commands get <code>. */
void cp_store__conn_drop(struct cp_store__conn *c, int code);
/* Drops and closes the timers (counts down s->open_handles). */
void cp_store__conn_close(struct cp_store__conn *c);
int cp_store__conn_up(const struct cp_store__conn *c);
/* Sends argv; <fn> gets the reply within <timeout_ms> (else the connection
 * is dropped with UV_ETIMEDOUT). Returns 0, or CP_STORE_EDOWN/GW_ENOMEM
 * without calling <fn>. */
int cp_store__conn_cmd(struct cp_store__conn *c, unsigned timeout_ms,
                       cp_store__reply_fn fn, void *arg, int argc,
                       const char **argv, const size_t *lens);
/* SUBSCRIBE <channel>; pushes go to c->push; must confirm in time. */
int cp_store__conn_subscribe(struct cp_store__conn *c, const char *channel,
                             unsigned timeout_ms);
/* SUBSCRIBE to every channel of the NULL-terminated <channels> at once. */
int cp_store__conn_subscribe_all(struct cp_store__conn *c,
                                 const char *const *channels,
                                 unsigned timeout_ms);

/* ==== resolve.c ==== */
/* <a> with a numeric host in <out>: 0 (numeric or unix already, or a
 * looked-up name), CP_STORE_ERESOLVING while the lookup it started runs,
 * CP_STORE_ENOHOST when the last lookup failed, GW_EIO. */
int cp_store__resolve(struct cp_store *s, const struct cp_store_addr *a,
                      struct cp_store_addr *out);
/* Cancels the lookups in flight (their callbacks still count down
 * s->open_handles). */
void cp_store__resolve_close(struct cp_store *s);

/* ==== store.c ==== */
/* EVALSHA <script> (EVAL if the server lost it) with <nkeys> keys followed
 * by the other args; all borrowed for the call. */
int cp_store__eval(struct cp_store *s, enum cp_store__script script, int nkeys,
                   int nargs, const char **args, const size_t *lens,
                   unsigned timeout_ms, cp_store__reply_fn fn, void *arg);
/* Sends <argv> on the command connection for <op>, which <fn> gets with
 * the reply. Takes <op> (malloc'ed): freed here when it cannot be sent. */
int cp_store__send(struct cp_store *s, cp_store__reply_fn fn, void *op,
                   int argc, const char **argv);
/* The command connection is usable. */
int cp_store__ready(const struct cp_store *s);
/* Drops the master connections and schedules a reconnect. */
void cp_store__master_fail(struct cp_store *s, int code, const char *why);
/* Records <why> as the last connection failure (cp_store_last_error()). */
void cp_store__set_error(struct cp_store *s, const char *why);
char *cp_store__key(const struct cp_store *s, const char *suffix);
/* One of the store's handles finished closing; frees it after the last. */
void cp_store__handle_closed(struct cp_store *s);

/* Reconnects to <a> (a +switch-master's new master) at once. */
void cp_store__switch_master(struct cp_store *s, const struct cp_store_addr *a);

/* ==== failover.c ==== */
void cp_store__failover_init(struct cp_store *s);
void cp_store__failover_start(struct cp_store *s);
void cp_store__failover_close(struct cp_store *s);
/* 0 when a write may start now, else CP_STORE_EDOWN, CP_STORE_EFAILOVER
 * or CP_STORE_ENOSENTINEL. */
int cp_store__write_gate(struct cp_store *s);
/* Records a revision seen (event, re-read or own write). */
void cp_store__saw_revision(struct cp_store *s, uint64_t rev);

/* ==== confirm.c ==== */
/* Call right after queuing a write on s->cmd: queues INFO replication
 * behind it and arms <c>; <done> runs exactly once, after the write's
 * callback has called cp_store__confirm_write(). */
void cp_store__confirm_start(struct cp_store *s, struct cp_store__confirm *c,
                             cp_store__confirm_fn done);
/* The write's own result: 0 to go on to WAIT, else passed to done. */
void cp_store__confirm_write(struct cp_store *s, struct cp_store__confirm *c,
                             int status);

/* cp_store__eval() of a write for the op that embeds <c> first (<fn> gets
 * <c> as its arg), then cp_store__confirm_start(c, done). Takes the op
 * (malloc'ed): freed here when the write cannot be queued. */
int cp_store__eval_confirmed(struct cp_store *s, enum cp_store__script script,
                             int nkeys, int nargs, const char **args,
                             const size_t *lens, cp_store__reply_fn fn,
                             struct cp_store__confirm *c,
                             cp_store__confirm_fn done);
/* A leader's fenced write: runs <script> with args[0] = the epoch key and
 * the epoch as the first ARGV (args[nkeys]), both filled here, as are
 * <lens>; the script answers 1 (written), 0 (kept: CP_STORE_EEXIST) or an
 * error ("stale epoch": CP_STORE_ESTALE). <cb> gets the confirmed result;
 * <what> names the write in logs. */
int cp_store__fenced_write(struct cp_store *s, enum cp_store__script script,
                           int nkeys, int nargs, const char **args,
                           size_t *lens, const char *what, cp_store_done_cb cb,
                           void *arg);

/* ==== election.c ==== */
int cp_store__election_init(struct cp_store *s);
void cp_store__election_ready(struct cp_store *s);
void cp_store__election_close(struct cp_store *s);

/* ==== revision.c ==== */
void cp_store__revision_event(struct cp_store *s, const char *msg, size_t len);
void cp_store__revision_reread(struct cp_store *s);

#endif
