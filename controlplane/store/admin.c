/*
 * admin.c -- the dashboard's admin password hash in Redis
 * (<prefix>admin:hash): a plain GET for every control node, and a write
 * only the leader makes, fenced by its epoch inside a script and then
 * confirmed (confirm.c), like a revision. The hash string itself is opaque
 * here (controlplane/auth makes and checks it). Runs on the store's loop.
 */
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

    if (!cp_store__ready(s))
        return CP_STORE_EDOWN;
    op = calloc(1, sizeof(*op));
    if (op == NULL)
        return GW_ENOMEM;
    op->cb = cb;
    op->arg = arg;
    return cp_store__send(s, on_get, op, 2, argv);
}

/* ==== set ==== */

int cp_store_set_admin_hash(struct cp_store *s, const char *hash,
                            int only_if_unset, cp_store_done_cb cb, void *arg)
{
    const char *args[5] = {NULL, s->k_admin, NULL, hash,
                           only_if_unset ? "1" : "0"};
    size_t lens[5];

    if (*hash == '\0')
        return GW_EINVAL;
    return cp_store__fenced_write(s, CP_STORE__S_ADMIN_SET, 2, 5, args, lens,
                                  "admin_hash", cb, arg);
}
