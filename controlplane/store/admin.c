/*
 * admin.c -- the dashboard's admin password hash in Redis
 * (<prefix>admin:hash): a plain GET for every control node, and a write
 * only the leader makes, fenced by its epoch inside a script and then
 * confirmed (confirm.c), like a revision. The hash string itself is opaque
 * here (controlplane/auth makes and checks it). Runs on the store's loop.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err/err.h"
#include "common/log/log.h"
#include "controlplane/store/store_int.h"
#include "controlplane/store/store.h"

/* ==== get ==== */

struct get_op {
    cp_store_value_cb cb;
    void *arg;
};

static void on_get(struct cp_store *s, int status, redisReply *r, void *arg)
{
    struct get_op *op = arg;

    if (status == 0 && r->type == REDIS_REPLY_NIL)
        status = GW_ENOENT;
    else if (status == 0 && r->type != REDIS_REPLY_STRING)
        status = GW_EPROTO;
    if (status != 0)
        op->cb(s, status, NULL, 0, op->arg);
    else
        op->cb(s, 0, r->str, r->len, op->arg);
    free(op);
}

int cp_store_get_admin_hash(struct cp_store *s, cp_store_value_cb cb, void *arg)
{
    const char *argv[2] = {"GET", s->k_admin};
    struct get_op *op;
    int rc;

    if (!cp_store__ready(s))
        return CP_STORE_EDOWN;
    op = calloc(1, sizeof(*op));
    if (op == NULL)
        return GW_ENOMEM;
    op->cb = cb;
    op->arg = arg;
    rc = cp_store__conn_cmd(&s->cmd, s->cmd_timeout_ms, on_get, op, 2, argv,
                            NULL);
    if (rc != 0)
        free(op);
    return rc;
}

/* ==== set ==== */

struct set_op {
    struct cp_store__confirm confirm; /* first: the op is found from it */
    cp_store_done_cb cb;
    void *arg;
};

static void set_confirmed(struct cp_store *s, struct cp_store__confirm *c,
                          int status, int replicas)
{
    struct set_op *op = (struct set_op *)c;

    op->cb(s, status, op->arg);
    free(op);
}

static void on_set(struct cp_store *s, int status, redisReply *r, void *arg)
{
    struct set_op *op = arg;

    if (status == 0 && r->type == REDIS_REPLY_ERROR) {
        cm_log_warn(CP_STORE__MOD, "admin_set_refused", "err=\"%s\"", r->str);
        status = strstr(r->str, "stale epoch") ? CP_STORE_ESTALE : GW_EPROTO;
    } else if (status == 0 && r->type != REDIS_REPLY_INTEGER) {
        status = GW_EPROTO;
    } else if (status == 0 && r->integer == 0) {
        status = CP_STORE_EEXIST;
    }
    cp_store__confirm_write(s, &op->confirm, status);
}

int cp_store_set_admin_hash(struct cp_store *s, const char *hash,
                            int only_if_unset, cp_store_done_cb cb, void *arg)
{
    char e[24];
    const char *args[5] = {s->k_epoch, s->k_admin, e, hash,
                           only_if_unset ? "1" : "0"};
    size_t lens[5];
    struct set_op *op;
    int rc;

    if (!s->leader)
        return CP_STORE_ENOTLEADER;
    rc = cp_store__write_gate(s);
    if (rc != 0)
        return rc;
    if (*hash == '\0')
        return GW_EINVAL;
    snprintf(e, sizeof(e), "%llu", (unsigned long long)s->epoch);
    for (int i = 0; i < 5; i++)
        lens[i] = strlen(args[i]);
    op = calloc(1, sizeof(*op));
    if (op == NULL)
        return GW_ENOMEM;
    op->cb = cb;
    op->arg = arg;
    rc = cp_store__eval(s, CP_STORE__S_ADMIN_SET, 2, 5, args, lens,
                        s->cmd_timeout_ms, on_set, op);
    if (rc != 0) {
        free(op);
        return rc;
    }
    cp_store__confirm_start(s, &op->confirm, set_confirmed);
    return GW_OK;
}
