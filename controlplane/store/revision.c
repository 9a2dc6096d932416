/*
 * revision.c -- configuration revisions: the fenced put (script, then
 * confirm.c's INFO + WAIT on the same connection; numbered above every
 * revision this store has seen, so a number lost in a failover is not
 * handed out again), reads of the current / a given revision, the
 * history list, and the "revision changed" events (pub/sub messages, and a
 * re-read of the current revision after every reconnect since pub/sub
 * loses messages while down). Runs on the store's loop.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err/err.h"
#include "common/log/log.h"
#include "controlplane/store/store_int.h"
#include "controlplane/store/store.h"

/* ==== events ==== */

void cp_store__revision_event(struct cp_store *s, const char *msg, size_t len)
{
    uint64_t rev;

    if (cp_store_parse_event(msg, len, &rev) != 0) {
        cm_log_warn(CP_STORE__MOD, "bad_event", "len=%zu", len);
        return;
    }
    if (rev > s->session_rev)
        s->session_rev = rev;
    cp_store__saw_revision(s, rev);
    if (s->cbs.revision != NULL)
        s->cbs.revision(s, rev, s->cbs.arg);
}

static void on_reread(struct cp_store *s, int status, redisReply *r, void *a)
{
    uint64_t rev;

    if (status != 0 || r->type != REDIS_REPLY_STRING ||
        cp_store_parse_u64(r->str, r->len, &rev) != 0)
        return; /* none yet, or lost: the next reconnect re-reads */
    /* the GET reply and a newer event race on two sockets: on one master
     * revisions only grow, so a lower value here is stale */
    if (rev < s->session_rev)
        return;
    s->session_rev = rev;
    cp_store__saw_revision(s, rev);
    if (s->cbs.revision != NULL)
        s->cbs.revision(s, rev, s->cbs.arg);
}

void cp_store__revision_reread(struct cp_store *s)
{
    const char *argv[2] = {"GET", s->k_current};

    if (cp_store__conn_cmd(&s->cmd, s->cmd_timeout_ms, on_reread, NULL, 2, argv,
                           NULL) != 0)
        cm_log_warn(CP_STORE__MOD, "reread_failed", NULL);
}

/* ==== put ==== */

struct put_op {
    struct cp_store__confirm confirm; /* first: the op is found from it */
    cp_store_put_cb cb;
    void *arg;
    uint64_t rev;
};

static void on_announced(struct cp_store *s, int status, redisReply *r,
                         void *arg)
{
}

/* PUBLISH "revision <n>": only for a revision in force (confirmed, or
 * written with too few replicas but no failover sign), so that no node
 * serves one a failover is likely to drop. */
static void announce(struct cp_store *s, uint64_t rev)
{
    char msg[40];
    const char *argv[3] = {"PUBLISH", s->k_events, msg};

    snprintf(msg, sizeof(msg), "revision %llu", (unsigned long long)rev);
    if (cp_store__conn_cmd(&s->cmd, s->cmd_timeout_ms, on_announced, NULL, 3,
                           argv, NULL) != 0)
        cm_log_warn(CP_STORE__MOD, "announce_failed", "rev=%llu",
                    (unsigned long long)rev);
}

static void put_confirmed(struct cp_store *s, struct cp_store__confirm *c,
                          int status, int replicas)
{
    struct put_op *op = (struct put_op *)c;

    if (status == 0 || status == CP_STORE_ENOREPLICA)
        announce(s, op->rev);
    op->cb(s, status, op->rev, replicas, op->arg);
    free(op);
}

static void on_put(struct cp_store *s, int status, redisReply *r, void *arg)
{
    struct put_op *op = arg;

    if (status == 0 && r->type == REDIS_REPLY_ERROR) {
        cm_log_warn(CP_STORE__MOD, "put_refused", "err=\"%s\"", r->str);
        status = strstr(r->str, "stale epoch") ? CP_STORE_ESTALE : GW_EPROTO;
    } else if (status == 0 &&
               (r->type != REDIS_REPLY_INTEGER || r->integer <= 0)) {
        status = GW_EPROTO;
    } else if (status == 0) {
        op->rev = (uint64_t)r->integer;
        cp_store__saw_revision(s, op->rev);
    }
    cp_store__confirm_write(s, &op->confirm, status);
}

int cp_store_put_revision_at(struct cp_store *s, uint64_t epoch,
                             const void *doc, size_t len, cp_store_put_cb cb,
                             void *arg)
{
    char e[24], keep[24], floor[24];
    const char *args[10] = {
        s->k_epoch, s->k_revision, s->k_current, s->k_history, e,
        doc,        s->k_rev,      keep,         s->k_events,  floor};
    size_t lens[10];
    struct put_op *op;
    int rc = cp_store__write_gate(s);

    if (rc != 0)
        return rc;
    snprintf(e, sizeof(e), "%llu", (unsigned long long)epoch);
    snprintf(keep, sizeof(keep), "%u", s->history);
    snprintf(floor, sizeof(floor), "%llu", (unsigned long long)s->max_rev + 1);
    for (int i = 0; i < 10; i++)
        lens[i] = i == 5 ? len : strlen(args[i]);
    op = calloc(1, sizeof(*op));
    if (op == NULL)
        return GW_ENOMEM;
    op->cb = cb;
    op->arg = arg;
    return cp_store__eval_confirmed(s, CP_STORE__S_PUT, 4, 10, args, lens,
                                    on_put, &op->confirm, put_confirmed);
}

int cp_store_put_revision(struct cp_store *s, const void *doc, size_t len,
                          cp_store_put_cb cb, void *arg)
{
    if (!s->leader)
        return CP_STORE_ENOTLEADER;
    return cp_store_put_revision_at(s, s->epoch, doc, len, cb, arg);
}

/* ==== reads ==== */

struct read_op {
    union {
        cp_store_doc_cb doc;
        cp_store_list_cb list;
    } cb;
    void *arg;
};

static void on_get(struct cp_store *s, int status, redisReply *r, void *arg)
{
    struct read_op *op = arg;
    uint64_t rev = 0;

    if (status == 0 && r->type == REDIS_REPLY_NIL)
        status = GW_ENOENT;
    else if (status == 0 && (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
                             r->element[0]->type != REDIS_REPLY_STRING ||
                             r->element[1]->type != REDIS_REPLY_STRING ||
                             cp_store_parse_u64(r->element[0]->str,
                                                r->element[0]->len, &rev) != 0))
        status = GW_EPROTO;
    if (status != 0)
        op->cb.doc(s, status, 0, NULL, 0, op->arg);
    else
        op->cb.doc(s, 0, rev, r->element[1]->str, r->element[1]->len, op->arg);
    free(op);
}

int cp_store_get_revision(struct cp_store *s, uint64_t rev, cp_store_doc_cb cb,
                          void *arg)
{
    char n[24];
    const char *args[3] = {s->k_current, s->k_rev, n};
    size_t lens[3];
    struct read_op *op;
    int rc;

    if (!cp_store__ready(s))
        return CP_STORE_EDOWN;
    snprintf(n, sizeof(n), "%llu", (unsigned long long)rev);
    for (int i = 0; i < 3; i++)
        lens[i] = strlen(args[i]);
    op = calloc(1, sizeof(*op));
    if (op == NULL)
        return GW_ENOMEM;
    op->cb.doc = cb;
    op->arg = arg;
    rc = cp_store__eval(s, CP_STORE__S_GET, 1, 3, args, lens, s->cmd_timeout_ms,
                        on_get, op);
    if (rc != 0)
        free(op);
    return rc;
}

int cp_store_get_current(struct cp_store *s, cp_store_doc_cb cb, void *arg)
{
    return cp_store_get_revision(s, 0, cb, arg);
}

static void on_list(struct cp_store *s, int status, redisReply *r, void *arg)
{
    struct read_op *op = arg;
    uint64_t *revs = NULL;
    size_t n = 0;

    if (status == 0 && r->type != REDIS_REPLY_ARRAY)
        status = GW_EPROTO;
    if (status == 0 && r->elements > 0) {
        revs = calloc(r->elements, sizeof(*revs));
        if (revs == NULL)
            status = GW_ENOMEM;
    }
    for (size_t i = 0; status == 0 && i < r->elements; i++) {
        redisReply *e = r->element[i];
        if (e->type != REDIS_REPLY_STRING ||
            cp_store_parse_u64(e->str, e->len, &revs[n]) != 0)
            status = GW_EPROTO;
        n++;
    }
    op->cb.list(s, status, status == 0 ? revs : NULL, status == 0 ? n : 0,
                op->arg);
    free(revs);
    free(op);
}

int cp_store_list_revisions(struct cp_store *s, cp_store_list_cb cb, void *arg)
{
    const char *argv[4] = {"LRANGE", s->k_history, "0", "-1"};
    struct read_op *op;

    if (!cp_store__ready(s))
        return CP_STORE_EDOWN;
    op = calloc(1, sizeof(*op));
    if (op == NULL)
        return GW_ENOMEM;
    op->cb.list = cb;
    op->arg = arg;
    return cp_store__send(s, on_list, op, 4, argv);
}
