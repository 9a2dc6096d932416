/*
 * nodes.c -- node heartbeats: each node SETs <prefix>node:<id> with a TTL;
 * listing walks the keys with SCAN (never KEYS) and reads them with one
 * MGET. Heartbeats are per-node writes, not leader writes, so they are not
 * fenced. Runs on the store's loop.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err/err.h"
#include "controlplane/store/store_int.h"
#include "controlplane/store/store.h"

struct hb_op {
    cp_store_done_cb cb;
    void *arg;
};

static void on_heartbeat(struct cp_store *s, int status, redisReply *r,
                         void *arg)
{
    struct hb_op *op = arg;

    if (status == 0 &&
        (r->type != REDIS_REPLY_STATUS || strcmp(r->str, "OK") != 0))
        status = GW_EPROTO;
    op->cb(s, status, op->arg);
    free(op);
}

int cp_store_heartbeat(struct cp_store *s, const char *node_id,
                       const char *role, const char *json_info, unsigned ttl_ms,
                       cp_store_done_cb cb, void *arg)
{
    size_t rl = strlen(role), il = strlen(json_info);
    char ttl[24], *key, *val;
    const char *argv[5] = {"SET", NULL, NULL, "PX", ttl};
    size_t lens[5];
    struct hb_op *op;
    int rc = GW_ENOMEM;

    if (!cp_store__ready(s))
        return CP_STORE_EDOWN;
    if (*node_id == '\0' || strchr(role, '\n') != NULL || ttl_ms == 0)
        return GW_EINVAL;
    snprintf(ttl, sizeof(ttl), "%u", ttl_ms);
    key = cp_store__key(s, "node:");
    val = malloc(rl + 1 + il + 1);
    op = calloc(1, sizeof(*op));
    if (key != NULL && val != NULL && op != NULL) {
        char *k2 = realloc(key, strlen(key) + strlen(node_id) + 1);
        if (k2 != NULL) {
            key = k2;
            strcat(key, node_id);
            memcpy(val, role, rl);
            val[rl] = '\n';
            memcpy(val + rl + 1, json_info, il + 1);
            argv[1] = key;
            argv[2] = val;
            for (int i = 0; i < 5; i++)
                lens[i] = strlen(argv[i]);
            op->cb = cb;
            op->arg = arg;
            rc = cp_store__conn_cmd(&s->cmd, s->cmd_timeout_ms, on_heartbeat,
                                    op, 5, argv, lens);
        }
    }
    free(key);
    free(val);
    if (rc != 0)
        free(op);
    return rc;
}

/* ==== listing ==== */

struct list_op {
    cp_store_nodes_cb cb;
    void *arg;
    char *match;
    char **keys;
    size_t nkeys, cap;
};

static void list_free(struct list_op *op)
{
    for (size_t i = 0; i < op->nkeys; i++)
        free(op->keys[i]);
    free(op->keys);
    free(op->match);
    free(op);
}

static void list_done(struct cp_store *s, struct list_op *op, int status,
                      const struct cp_store_node *nodes, size_t n)
{
    op->cb(s, status, nodes, n, op->arg);
    list_free(op);
}

static int add_key(struct list_op *op, const char *k, size_t len)
{
    for (size_t i = 0; i < op->nkeys; i++) /* SCAN may repeat a key */
        if (strcmp(op->keys[i], k) == 0)
            return GW_OK;
    if (op->nkeys == op->cap) {
        size_t cap = op->cap ? op->cap * 2 : 16;
        char **nk = realloc(op->keys, cap * sizeof(*nk));
        if (nk == NULL)
            return GW_ENOMEM;
        op->keys = nk;
        op->cap = cap;
    }
    op->keys[op->nkeys] = strndup(k, len);
    if (op->keys[op->nkeys] == NULL)
        return GW_ENOMEM;
    op->nkeys++;
    return GW_OK;
}

static void on_mget(struct cp_store *s, int status, redisReply *r, void *arg)
{
    struct list_op *op = arg;
    size_t plen = strlen(s->k_node), n = 0;
    struct cp_store_node *nodes;

    if (status == 0 &&
        (r->type != REDIS_REPLY_ARRAY || r->elements != op->nkeys))
        status = GW_EPROTO;
    if (status != 0) {
        list_done(s, op, status, NULL, 0);
        return;
    }
    nodes = calloc(op->nkeys, sizeof(*nodes));
    if (nodes == NULL) {
        list_done(s, op, GW_ENOMEM, NULL, 0);
        return;
    }
    for (size_t i = 0; i < r->elements; i++) {
        char *v = r->element[i]->str, *nl;
        if (r->element[i]->type != REDIS_REPLY_STRING)
            continue; /* expired between SCAN and MGET */
        nl = strchr(v, '\n');
        if (nl == NULL)
            continue;
        *nl = '\0'; /* the reply is ours until we return */
        nodes[n].id = op->keys[i] + plen;
        nodes[n].role = v;
        nodes[n].info = nl + 1;
        n++;
    }
    list_done(s, op, GW_OK, nodes, n);
    free(nodes);
}

static int scan_next(struct cp_store *s, struct list_op *op,
                     const char *cursor);

static void on_scan(struct cp_store *s, int status, redisReply *r, void *arg)
{
    struct list_op *op = arg;
    redisReply *cur, *keys;
    const char **argv;
    int rc = GW_OK;

    if (status == 0 && (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
                        r->element[0]->type != REDIS_REPLY_STRING ||
                        r->element[1]->type != REDIS_REPLY_ARRAY))
        status = GW_EPROTO;
    if (status != 0) {
        list_done(s, op, status, NULL, 0);
        return;
    }
    cur = r->element[0];
    keys = r->element[1];
    for (size_t i = 0; rc == 0 && i < keys->elements; i++)
        if (keys->element[i]->type == REDIS_REPLY_STRING)
            rc = add_key(op, keys->element[i]->str, keys->element[i]->len);
    if (rc == 0 && strcmp(cur->str, "0") != 0)
        rc = scan_next(s, op, cur->str);
    else if (rc == 0 && op->nkeys == 0) {
        list_done(s, op, GW_OK, NULL, 0);
        return;
    } else if (rc == 0) {
        argv = malloc((op->nkeys + 1) * sizeof(*argv));
        rc = GW_ENOMEM;
        if (argv != NULL) {
            argv[0] = "MGET";
            for (size_t i = 0; i < op->nkeys; i++)
                argv[i + 1] = op->keys[i];
            rc = cp_store__conn_cmd(&s->cmd, s->cmd_timeout_ms, on_mget, op,
                                    (int)op->nkeys + 1, argv, NULL);
            free(argv);
        }
    }
    if (rc != 0)
        list_done(s, op, rc, NULL, 0);
}

static int scan_next(struct cp_store *s, struct list_op *op, const char *cursor)
{
    const char *argv[6] = {"SCAN", cursor, "MATCH", op->match, "COUNT", "100"};

    return cp_store__conn_cmd(&s->cmd, s->cmd_timeout_ms, on_scan, op, 6, argv,
                              NULL);
}

/* <prefix>node:* with the glob characters of the prefix escaped. */
static char *match_pattern(const char *prefix)
{
    size_t n = strlen(prefix);
    char *m = malloc(2 * n + 2), *p = m;

    if (m == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (strchr("*?[]\\", prefix[i]) != NULL)
            *p++ = '\\';
        *p++ = prefix[i];
    }
    *p++ = '*';
    *p = '\0';
    return m;
}

int cp_store_list_nodes(struct cp_store *s, cp_store_nodes_cb cb, void *arg)
{
    struct list_op *op;
    int rc;

    if (!cp_store__ready(s))
        return CP_STORE_EDOWN;
    op = calloc(1, sizeof(*op));
    if (op == NULL)
        return GW_ENOMEM;
    op->cb = cb;
    op->arg = arg;
    op->match = match_pattern(s->k_node);
    if (op->match == NULL) {
        list_free(op);
        return GW_ENOMEM;
    }
    rc = scan_next(s, op, "0");
    if (rc != 0)
        list_free(op);
    return rc;
}
