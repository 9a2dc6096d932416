/*
 * confirm.c -- when a write counts: INFO replication goes right behind the
 * write on the command connection, then WAIT asks for every replica INFO
 * showed online and heard from lately (at least wait_replicas), so that
 * whichever replica Sentinel promotes has the write; a replica that is down
 * is not counted, so one dead replica does not stop writes. A write whose
 * WAIT comes back after a failover sign from the sentinels (or a moment
 * when too few of them could be heard) is reported CP_STORE_EUNSURE: the
 * replica that acknowledged it may be about to follow a new master that
 * does not have it. Also the confirmed script write every writer queues,
 * and the leader's fenced write on top of it (admin hash, tokens,
 * revocations). Runs on the store's loop.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err/err.h"
#include "common/log/log.h"
#include "controlplane/store/store_int.h"
#include "controlplane/store/store.h"

/* A replica silent longer than this (INFO "lag", seconds) is not waited
 * for: it is cut off, and Sentinel would not promote it either. */
#define MAX_LAG_S 2

static void finish(struct cp_store *s, struct cp_store__confirm *c, int status,
                   int replicas)
{
    c->done(s, c, status, replicas);
}

static void on_wait(struct cp_store *s, int status, redisReply *r, void *arg)
{
    struct cp_store__confirm *c = arg;
    int n;

    if (status != 0) {
        finish(s, c, status, -1);
        return;
    }
    if (r->type != REDIS_REPLY_INTEGER) {
        finish(s, c, GW_EPROTO, -1);
        return;
    }
    n = (int)r->integer;
    if (s->use_sentinel && (s->fo_gen != c->gen || cp_store__write_gate(s))) {
        cm_log_warn(CP_STORE__MOD, "write_unsure",
                    "replicas=%d need=%d why=\"failover sign before the "
                    "WAIT reply\"",
                    n, c->need);
        finish(s, c, CP_STORE_EUNSURE, n);
        return;
    }
    finish(s, c, n < c->need ? CP_STORE_ENOREPLICA : GW_OK, n);
}

/* Both the write's reply and INFO's are in: WAIT, or report the failure. */
static void proceed(struct cp_store *s, struct cp_store__confirm *c)
{
    char n[24], t[24];
    const char *argv[3] = {"WAIT", n, t};
    int rc;

    if (c->wstatus != 0) {
        finish(s, c, c->wstatus, -1);
        return;
    }
    c->need = s->wait_replicas;
    if (c->need > 0 && c->online > c->need)
        c->need = c->online;
    snprintf(n, sizeof(n), "%d", c->need);
    snprintf(t, sizeof(t), "%u", s->wait_timeout_ms);
    rc = cp_store__conn_cmd(&s->cmd, s->wait_timeout_ms + s->cmd_timeout_ms,
                            on_wait, c, 3, argv, NULL);
    if (rc != 0)
        finish(s, c, rc, -1);
}

static void on_info(struct cp_store *s, int status, redisReply *r, void *arg)
{
    struct cp_store__confirm *c = arg;

    if (status == 0 && r->type == REDIS_REPLY_STRING)
        c->online = cp_store_info_online(r->str, r->len, MAX_LAG_S);
    if (status != 0 && c->wstatus == 0)
        c->wstatus = status;
    if (--c->pending == 0)
        proceed(s, c);
}

void cp_store__confirm_start(struct cp_store *s, struct cp_store__confirm *c,
                             cp_store__confirm_fn done)
{
    const char *argv[2] = {"INFO", "replication"};
    int rc;

    memset(c, 0, sizeof(*c));
    c->done = done;
    c->gen = s->fo_gen;
    c->online = -1;
    c->pending = 2;
    if (s->wait_replicas <= 0) {
        c->pending = 1; /* no replica asked for: no INFO */
        return;
    }
    rc = cp_store__conn_cmd(&s->cmd, s->cmd_timeout_ms, on_info, c, 2, argv,
                            NULL);
    if (rc != 0) { /* the write's reply will report this */
        c->pending = 1;
        c->wstatus = rc;
    }
}

void cp_store__confirm_write(struct cp_store *s, struct cp_store__confirm *c,
                             int status)
{
    if (c->wstatus == 0)
        c->wstatus = status;
    if (--c->pending == 0)
        proceed(s, c);
}

int cp_store__eval_confirmed(struct cp_store *s, enum cp_store__script script,
                             int nkeys, int nargs, const char **args,
                             const size_t *lens, cp_store__reply_fn fn,
                             struct cp_store__confirm *c,
                             cp_store__confirm_fn done)
{
    int rc = cp_store__eval(s, script, nkeys, nargs, args, lens,
                            s->cmd_timeout_ms, fn, c);

    if (rc != 0) {
        free(c);
        return rc;
    }
    cp_store__confirm_start(s, c, done);
    return GW_OK;
}

/* ==== fenced writes ==== */

struct fenced_op {
    struct cp_store__confirm confirm; /* first: the op is found from it */
    cp_store_done_cb cb;
    void *arg;
    const char *what;
};

/* A fenced write's own reply: {1} written, {0} kept, or an error. */
static int fenced_status(const redisReply *r, const char *what)
{
    if (r->type == REDIS_REPLY_ERROR) {
        cm_log_warn(CP_STORE__MOD, "write_refused", "what=%s err=\"%s\"", what,
                    r->str);
        return strstr(r->str, "stale epoch") ? CP_STORE_ESTALE : GW_EPROTO;
    }
    if (r->type != REDIS_REPLY_INTEGER)
        return GW_EPROTO;
    return r->integer == 0 ? CP_STORE_EEXIST : GW_OK;
}

static void fenced_confirmed(struct cp_store *s, struct cp_store__confirm *c,
                             int status, int replicas)
{
    struct fenced_op *op = (struct fenced_op *)c;

    op->cb(s, status, op->arg);
    free(op);
}

static void on_fenced(struct cp_store *s, int status, redisReply *r, void *arg)
{
    struct fenced_op *op = arg;

    if (status == 0)
        status = fenced_status(r, op->what);
    cp_store__confirm_write(s, &op->confirm, status);
}

int cp_store__fenced_write(struct cp_store *s, enum cp_store__script script,
                           int nkeys, int nargs, const char **args,
                           size_t *lens, const char *what, cp_store_done_cb cb,
                           void *arg)
{
    char e[24];
    struct fenced_op *op;
    int rc;

    if (!s->leader)
        return CP_STORE_ENOTLEADER;
    rc = cp_store__write_gate(s);
    if (rc != 0)
        return rc;
    snprintf(e, sizeof(e), "%llu", (unsigned long long)s->epoch);
    args[0] = s->k_epoch;
    args[nkeys] = e;
    for (int i = 0; i < nargs; i++)
        lens[i] = strlen(args[i]);
    op = calloc(1, sizeof(*op));
    if (op == NULL)
        return GW_ENOMEM;
    op->cb = cb;
    op->arg = arg;
    op->what = what;
    return cp_store__eval_confirmed(s, script, nkeys, nargs, args, lens,
                                    on_fenced, &op->confirm, fenced_confirmed);
}
