/*
 * conn.c -- one hiredis async connection slot on the store's loop: connect
 * (TCP or unix), commands with a per-command deadline enforced by one libuv
 * watchdog timer, SUBSCRIBE pushes, and loss detection. On a timeout or any
 * loss every pending command fails at once with the cause; the owner hears
 * of losses it did not cause through the lost callback. Does not reconnect.
 * Liveness: a half-open link (peer frozen or cut off without a RST) sends
 * no error, so a link with nothing pending is PINGed every ping_ms and
 * dropped like a timed-out command when nothing comes back within
 * ping_timeout_ms. A plain link sends PING as a command; a subscribed one
 * (Redis answers ["pong", ""] there) writes it raw, with no hiredis
 * callback (hiredis 0.14 would keep that callback forever, as the pong
 * matches no channel), and counts any byte read as the answer.
 * Has its own hiredis event hooks (as hiredis/adapters/libuv.h, plus: a
 * poll error is handed to hiredis, so a refused connect fails at once
 * instead of hanging until the command deadline).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err/err.h"
#include "common/log/log.h"
#include "controlplane/store/store_int.h"
#include "controlplane/store/store.h"

static void conn_rearm(struct cp_store__conn *c);
static void conn_heard(struct cp_store__conn *c);

/* ==== hiredis event hooks on a uv_poll_t ==== */

struct conn_poll {
    uv_poll_t handle;
    redisAsyncContext *ac; /* NULL once hiredis cleaned up */
    int events;
};

static void poll_cb(uv_poll_t *h, int status, int events)
{
    struct conn_poll *p = h->data;

    if (status < 0 && p->ac != NULL) {
        /* libuv stopped the handle; hiredis reads the socket error */
        if (p->ac->c.flags & REDIS_CONNECTED)
            redisAsyncHandleRead(p->ac);
        else
            redisAsyncHandleWrite(p->ac);
        return;
    }
    if (p->ac != NULL && (events & UV_READABLE)) {
        conn_heard(p->ac->data);
        redisAsyncHandleRead(p->ac);
    }
    if (p->ac != NULL && (events & UV_WRITABLE))
        redisAsyncHandleWrite(p->ac);
}

static void poll_update(struct conn_poll *p, int add, int del)
{
    p->events = (p->events | add) & ~del;
    if (p->events != 0)
        uv_poll_start(&p->handle, p->events, poll_cb);
    else
        uv_poll_stop(&p->handle);
}

static void ev_add_read(void *d)
{
    poll_update(d, UV_READABLE, 0);
}

static void ev_del_read(void *d)
{
    poll_update(d, 0, UV_READABLE);
}

static void ev_add_write(void *d)
{
    poll_update(d, UV_WRITABLE, 0);
}

static void ev_del_write(void *d)
{
    poll_update(d, 0, UV_WRITABLE);
}

static void poll_closed(uv_handle_t *h)
{
    free(h->data);
}

static void ev_cleanup(void *d)
{
    struct conn_poll *p = d;

    p->ac = NULL;
    uv_close((uv_handle_t *)&p->handle, poll_closed);
}

static int conn_attach(redisAsyncContext *ac, uv_loop_t *loop)
{
    struct conn_poll *p = calloc(1, sizeof(*p));

    if (p == NULL)
        return GW_ENOMEM;
    if (uv_poll_init(loop, &p->handle, ac->c.fd) != 0) {
        free(p);
        return GW_EIO;
    }
    p->handle.data = p;
    p->ac = ac;
    ac->ev.data = p;
    ac->ev.addRead = ev_add_read;
    ac->ev.delRead = ev_del_read;
    ac->ev.addWrite = ev_add_write;
    ac->ev.delWrite = ev_del_write;
    ac->ev.cleanup = ev_cleanup;
    return GW_OK;
}

/* ==== connection slot ==== */

/* Detaches <c> from its context and fails the pending commands with <code>;
 * frees the context if <free_ac> (never while hiredis is freeing it). */
static void conn_detach(struct cp_store__conn *c, int code, int free_ac)
{
    redisAsyncContext *ac = c->ac;
    struct cp_store__req *q, *next;

    c->ac = NULL;
    c->sub_deadline = 0;
    c->ping_deadline = 0;
    uv_timer_stop(&c->timer);
    uv_timer_stop(&c->ping_timer);
    q = c->head;
    c->head = c->tail = NULL;
    for (; q != NULL; q = next) {
        next = q->next;
        q->conn = NULL; /* done: hiredis's NULL reply will just free it */
        q->fn(c->store, code, NULL, q->arg);
    }
    if (free_ac && ac != NULL) {
        ac->data = NULL;
        redisAsyncFree(ac);
    }
}

/* A loss the owner did not ask for. */
static void conn_lost(struct cp_store__conn *c, int code, int free_ac)
{
    cm_log_info(CP_STORE__MOD, "conn_lost", "conn=%s code=%d err=\"%s\"",
                c->name, code, cp_store_strerror(code));
    conn_detach(c, code, free_ac);
    if (c->lost != NULL)
        c->lost(c, code);
}

static void conn_watchdog(uv_timer_t *t)
{
    struct cp_store__conn *c = t->data;

    cm_log_warn(CP_STORE__MOD, "conn_unresponsive", "conn=%s pending=%s",
                c->name,
                c->head != NULL        ? "command"
                : c->sub_deadline != 0 ? "subscribe"
                                       : "ping");
    conn_lost(c, UV_ETIMEDOUT, 1);
}

static uint64_t earliest(uint64_t d, uint64_t e)
{
    return e != 0 && (d == 0 || e < d) ? e : d;
}

static void conn_rearm(struct cp_store__conn *c)
{
    uint64_t now, d = 0;

    /* callers may run outside a loop callback, after a long block: a stale
     * loop time would expire fresh deadlines at once */
    uv_update_time(c->store->loop);
    now = uv_now(c->store->loop);

    /* every pending command, not just the oldest: a PING's longer bound
     * must not stretch a command queued behind it */
    for (struct cp_store__req *q = c->head; q != NULL; q = q->next)
        d = earliest(d, q->deadline);
    d = earliest(d, c->sub_deadline);
    d = earliest(d, c->ping_deadline);
    if (d == 0) {
        uv_timer_stop(&c->timer);
        return;
    }
    uv_timer_start(&c->timer, conn_watchdog, d > now ? d - now : 0, 0);
}

/* ==== liveness ==== */

/* Bytes arrived on <c> (NULL: a context being dropped): the link lives. */
static void conn_heard(struct cp_store__conn *c)
{
    if (c == NULL || c->ping_deadline == 0)
        return;
    c->ping_deadline = 0;
    conn_rearm(c);
}

static void on_pong(struct cp_store *s, int status, redisReply *r, void *arg)
{
}

/* A subscribed link: PING written raw, answered by any byte read. */
static int ping_raw(struct cp_store__conn *c)
{
    struct cp_store *s = c->store;

    if (redisAppendCommand(&c->ac->c, "PING") != REDIS_OK)
        return GW_ENOMEM;
    ev_add_write(c->ac->ev.data);
    uv_update_time(s->loop);
    c->ping_deadline = uv_now(s->loop) + s->ping_timeout_ms;
    conn_rearm(c);
    return GW_OK;
}

static void ping_fire(uv_timer_t *t)
{
    struct cp_store__conn *c = t->data;
    const char *argv[1] = {"PING"};
    int rc;

    /* anything pending has a deadline already */
    if (c->ac == NULL || c->head != NULL || c->sub_deadline != 0 ||
        c->ping_deadline != 0)
        return;
    if (c->ac->c.flags & REDIS_SUBSCRIBED)
        rc = ping_raw(c);
    else
        rc = cp_store__conn_cmd(c, c->store->ping_timeout_ms, on_pong, NULL, 1,
                                argv, NULL);
    if (rc != 0)
        conn_lost(c, rc, 1);
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    struct cp_store__conn *c = ac->data;

    if (c == NULL || c->ac != ac)
        return;
    if (status != REDIS_OK) {
        cm_log_debug(CP_STORE__MOD, "connect_failed", "conn=%s err=\"%s\"",
                     c->name, ac->errstr ? ac->errstr : "");
        /* hiredis frees the context after this returns */
        ((redisAsyncContext *)ac)->data = NULL;
        conn_lost(c, GW_EIO, 0);
        return;
    }
    if (ac->c.connection_type == REDIS_CONN_TCP) /* fails on unix sockets */
        redisEnableKeepAlive((redisContext *)&ac->c);
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    struct cp_store__conn *c = ac->data;

    if (c == NULL || c->ac != ac)
        return;
    cm_log_debug(CP_STORE__MOD, "disconnected", "conn=%s err=\"%s\"", c->name,
                 ac->errstr ? ac->errstr : "");
    conn_lost(c, GW_EIO, 0);
}

static void on_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    struct cp_store__req *q = privdata;
    struct cp_store__conn *c = q->conn;

    if (c == NULL) { /* already failed by conn_detach */
        free(q);
        return;
    }
    if (reply == NULL) { /* hiredis is freeing a context we did not drop */
        if (c->ac == ac) {
            cm_log_debug(CP_STORE__MOD, "freed", "conn=%s err=\"%s\"", c->name,
                         ac->errstr ? ac->errstr : "");
            ac->data = NULL;
            conn_lost(c, GW_EIO, 0);
        }
        free(q);
        return;
    }
    /* replies arrive in order: q is the head */
    c->head = q->next;
    if (c->head == NULL)
        c->tail = NULL;
    conn_rearm(c);
    q->fn(c->store, 0, reply, q->arg);
    free(q);
}

static void on_push(redisAsyncContext *ac, void *reply, void *privdata)
{
    struct cp_store__conn *c = privdata;
    redisReply *r = reply;

    if (c == NULL || c->ac != ac || r == NULL)
        return;
    if (r->type == REDIS_REPLY_ARRAY && r->elements >= 1 &&
        r->element[0]->type == REDIS_REPLY_STRING &&
        strcmp(r->element[0]->str, "subscribe") == 0) {
        c->sub_deadline = 0;
        conn_rearm(c);
    }
    if (c->push != NULL)
        c->push(c, r);
}

/* AUTH's answer, the first on a link. A refusal drops the link like a
 * loss (the owner retries with backoff) and says why. Sentinels get the
 * same password (their requirepass); one without a password is fine. */
static void on_auth(struct cp_store *s, int status, redisReply *r, void *arg)
{
    struct cp_store__conn *c = arg;
    bool sentinel = c->auth == CP_STORE__AUTH_SENTINEL;

    if (status != 0 || c->ac == NULL)
        return; /* the loss is reported already */
    if (r->type == REDIS_REPLY_STATUS)
        return;
    if (r->type == REDIS_REPLY_ERROR &&
        strstr(r->str, "without any password configured") != NULL) {
        if (sentinel)
            return;
        cm_log_warn(CP_STORE__MOD, "redis_auth_unneeded",
                    "conn=%s why=\"a password is set but Redis asks for "
                    "none\"",
                    c->name);
        return;
    }
    if (sentinel)
        snprintf(s->last_error, sizeof(s->last_error),
                 "a sentinel refused the password: %s",
                 r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
    else
        snprintf(s->last_error, sizeof(s->last_error),
                 "Redis at %s refused the password: %s", s->master_str,
                 r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
    cm_log_error(CP_STORE__MOD, "redis_auth", "conn=%s err=\"%s\"", c->name,
                 s->last_error);
    conn_lost(c, CP_STORE_EAUTH, 1);
}

/* Queues AUTH before anything else on <c> when it needs it. */
static int conn_auth(struct cp_store__conn *c)
{
    const char *pw = c->store->password;
    const char *argv[2] = {"AUTH", pw};

    if (!c->auth || pw == NULL)
        return GW_OK;
    return cp_store__conn_cmd(c, c->store->cmd_timeout_ms, on_auth, c, 2, argv,
                              NULL);
}

void cp_store__conn_init(struct cp_store__conn *c, struct cp_store *s,
                         const char *name, cp_store__push_fn push,
                         cp_store__lost_fn lost)
{
    memset(c, 0, sizeof(*c));
    c->store = s;
    c->name = name;
    c->push = push;
    c->lost = lost;
    uv_timer_init(s->loop, &c->timer);
    c->timer.data = c;
    uv_timer_init(s->loop, &c->ping_timer);
    c->ping_timer.data = c;
    s->open_handles += 2;
}

int cp_store__conn_connect(struct cp_store__conn *c,
                           const struct cp_store_addr *a)
{
    struct cp_store_addr num;
    redisAsyncContext *ac;
    int rc;

    if (c->ac != NULL)
        return GW_EINVAL;
    rc = cp_store__resolve(c->store, a, &num); /* never blocks */
    if (rc != 0)
        return rc;
    if (num.kind == CP_STORE_ADDR_UNIX)
        ac = redisAsyncConnectUnix(num.path);
    else
        ac = redisAsyncConnect(num.host, num.port);
    if (ac == NULL)
        return GW_ENOMEM;
    if (ac->err != 0) {
        cm_log_debug(CP_STORE__MOD, "connect_failed", "conn=%s err=\"%s\"",
                     c->name, ac->errstr);
        redisAsyncFree(ac);
        return GW_EIO;
    }
    if (conn_attach(ac, c->store->loop) != 0) {
        redisAsyncFree(ac);
        return GW_ENOMEM;
    }
    ac->data = c;
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    c->ac = ac;
    if (conn_auth(c) != 0) {
        cp_store__conn_drop(c, GW_ENOMEM);
        return GW_ENOMEM;
    }
    uv_timer_start(&c->ping_timer, ping_fire, c->store->ping_ms,
                   c->store->ping_ms);
    return GW_OK;
}

void cp_store__conn_drop(struct cp_store__conn *c, int code)
{
    if (c->ac != NULL)
        conn_detach(c, code, 1);
}

static void conn_timer_closed(uv_handle_t *h)
{
    struct cp_store__conn *c = h->data;

    cp_store__handle_closed(c->store);
}

void cp_store__conn_close(struct cp_store__conn *c)
{
    cp_store__conn_drop(c, UV_ECANCELED);
    uv_close((uv_handle_t *)&c->timer, conn_timer_closed);
    uv_close((uv_handle_t *)&c->ping_timer, conn_timer_closed);
}

int cp_store__conn_up(const struct cp_store__conn *c)
{
    return c->ac != NULL;
}

int cp_store__conn_cmd(struct cp_store__conn *c, unsigned timeout_ms,
                       cp_store__reply_fn fn, void *arg, int argc,
                       const char **argv, const size_t *lens)
{
    struct cp_store__req *q;

    if (c->ac == NULL)
        return CP_STORE_EDOWN;
    q = calloc(1, sizeof(*q));
    if (q == NULL)
        return GW_ENOMEM;
    q->conn = c;
    q->fn = fn;
    q->arg = arg;
    uv_update_time(c->store->loop);
    q->deadline = uv_now(c->store->loop) + timeout_ms;
    if (redisAsyncCommandArgv(c->ac, on_reply, q, argc, argv, lens) !=
        REDIS_OK) {
        free(q);
        return CP_STORE_EDOWN;
    }
    if (c->tail != NULL)
        c->tail->next = q;
    else
        c->head = q;
    c->tail = q;
    conn_rearm(c);
    return GW_OK;
}

int cp_store__conn_subscribe(struct cp_store__conn *c, const char *channel,
                             unsigned timeout_ms)
{
    const char *argv[2] = {"SUBSCRIBE", channel};

    if (c->ac == NULL)
        return CP_STORE_EDOWN;
    if (redisAsyncCommandArgv(c->ac, on_push, c, 2, argv, NULL) != REDIS_OK)
        return CP_STORE_EDOWN;
    uv_update_time(c->store->loop);
    c->sub_deadline = uv_now(c->store->loop) + timeout_ms;
    conn_rearm(c);
    return GW_OK;
}

int cp_store__conn_subscribe_all(struct cp_store__conn *c,
                                 const char *const *channels,
                                 unsigned timeout_ms)
{
    const char *argv[32];
    int n = 0;

    if (c->ac == NULL)
        return CP_STORE_EDOWN;
    argv[n++] = "SUBSCRIBE";
    while (channels[n - 1] != NULL && n < 32) {
        argv[n] = channels[n - 1];
        n++;
    }
    if (n == 1 || channels[n - 1] != NULL)
        return GW_EINVAL;
    if (redisAsyncCommandArgv(c->ac, on_push, c, n, argv, NULL) != REDIS_OK)
        return CP_STORE_EDOWN;
    uv_update_time(c->store->loop);
    c->sub_deadline = uv_now(c->store->loop) + timeout_ms;
    conn_rearm(c);
    return GW_OK;
}
