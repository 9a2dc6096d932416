/*
 * security.c -- the cluster's security records in Redis (docs/security.md):
 * the CA (<prefix>ca: cert, sealed key, created), created by whichever node
 * comes first, atomically (a script; HSETNX on cert decides); the join
 * token hashes and sealed texts (<prefix>tokens), and the revocations
 * (<prefix>revoked: "role/id" -> unix seconds), both written only by the
 * leader, fenced by its epoch inside a script and confirmed with WAIT like a
 * revision. Sealed values are opaque here. Runs on the store's loop.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err/err.h"
#include "common/log/log.h"
#include "controlplane/store/store_int.h"
#include "controlplane/store/store.h"

/* ==== reply helpers ==== */

/* The string of element <i> of array <r>, NULL for a nil; GW_EPROTO in
 * *rc for anything else. */
static const char *elem_str(const redisReply *r, size_t i, int *rc)
{
    const redisReply *e = r->element[i];

    if (e->type == REDIS_REPLY_NIL)
        return NULL;
    if (e->type != REDIS_REPLY_STRING)
        *rc = GW_EPROTO;
    return e->type == REDIS_REPLY_STRING ? e->str : NULL;
}

static int parse_i64(const char *s, int64_t *out)
{
    uint64_t v;

    if (s == NULL || cp_store_parse_u64(s, strlen(s), &v) != 0 ||
        v > (uint64_t)INT64_MAX)
        return GW_EPROTO;
    *out = (int64_t)v;
    return GW_OK;
}

/* ==== CA ==== */

struct ca_op {
    struct cp_store__confirm confirm; /* first: the op is found from it */
    cp_store_ca_cb cb;
    void *arg;
    int created;
    struct cp_store_ca ca; /* strings owned (create: outlive the reply) */
};

static void ca_op_free(struct ca_op *op)
{
    free((char *)op->ca.cert);
    free((char *)op->ca.key);
    free(op);
}

/* Fills <ca> from elements <i>..<i+2> (cert, key, created) of <r>:
 * borrowed strings, or copies when <copy>. */
static int parse_ca(const redisReply *r, size_t i, struct cp_store_ca *ca,
                    int copy)
{
    int rc = GW_OK;
    const char *cert = elem_str(r, i, &rc), *key = elem_str(r, i + 1, &rc);
    const char *created = elem_str(r, i + 2, &rc);

    if (rc != 0)
        return rc;
    if (cert == NULL)
        return GW_ENOENT;
    if (key == NULL || parse_i64(created, &ca->created) != 0)
        return GW_EPROTO; /* half a record: never written so */
    ca->cert = copy ? strdup(cert) : cert;
    ca->key = copy ? strdup(key) : key;
    if (ca->cert == NULL || ca->key == NULL)
        return GW_ENOMEM;
    return GW_OK;
}

static void on_get_ca(struct cp_store *s, int status, redisReply *r, void *arg)
{
    struct ca_op *op = arg;
    struct cp_store_ca ca = {0};

    if (status == 0 && (r->type != REDIS_REPLY_ARRAY || r->elements != 3))
        status = GW_EPROTO;
    if (status == 0)
        status = parse_ca(r, 0, &ca, 0);
    op->cb(s, status, status == 0 ? &ca : NULL, 0, op->arg);
    free(op);
}

int cp_store_get_ca(struct cp_store *s, cp_store_ca_cb cb, void *arg)
{
    const char *argv[5] = {"HMGET", s->k_ca, "cert", "key", "created"};
    struct ca_op *op;

    if (!cp_store__ready(s))
        return CP_STORE_EDOWN;
    op = calloc(1, sizeof(*op));
    if (op == NULL)
        return GW_ENOMEM;
    op->cb = cb;
    op->arg = arg;
    return cp_store__send(s, on_get_ca, op, 5, argv);
}

static void ca_confirmed(struct cp_store *s, struct cp_store__confirm *c,
                         int status, int replicas)
{
    struct ca_op *op = (struct ca_op *)c;

    if (status == CP_STORE_ENOREPLICA) {
        cm_log_warn(CP_STORE__MOD, "ca_unconfirmed", "replicas=%d", replicas);
        status = GW_OK; /* on the master: in force, like a revision */
    }
    if (status == CP_STORE_EUNSURE && !op->created)
        status = GW_OK; /* read, not written: nothing to lose here */
    op->cb(s, status, status == 0 ? &op->ca : NULL, op->created, op->arg);
    ca_op_free(op);
}

static void on_create_ca(struct cp_store *s, int status, redisReply *r,
                         void *arg)
{
    struct ca_op *op = arg;

    if (status == 0 && r->type == REDIS_REPLY_ERROR) {
        cm_log_warn(CP_STORE__MOD, "ca_create_refused", "err=\"%s\"", r->str);
        status = GW_EPROTO;
    } else if (status == 0 &&
               (r->type != REDIS_REPLY_ARRAY || r->elements != 4 ||
                r->element[0]->type != REDIS_REPLY_INTEGER)) {
        status = GW_EPROTO;
    }
    if (status == 0) {
        op->created = r->element[0]->integer == 1;
        status = parse_ca(r, 1, &op->ca, 1);
        if (status == GW_ENOENT)
            status = GW_EPROTO;
    }
    cp_store__confirm_write(s, &op->confirm, status);
}

int cp_store_create_ca(struct cp_store *s, const struct cp_store_ca *ca,
                       cp_store_ca_cb cb, void *arg)
{
    char created[24];
    const char *args[4] = {s->k_ca, ca->cert, ca->key, created};
    size_t lens[4];
    struct ca_op *op;
    int rc = cp_store__write_gate(s);

    if (rc != 0)
        return rc;
    if (*ca->cert == '\0' || *ca->key == '\0' || ca->created < 0)
        return GW_EINVAL;
    snprintf(created, sizeof(created), "%lld", (long long)ca->created);
    for (int i = 0; i < 4; i++)
        lens[i] = strlen(args[i]);
    op = calloc(1, sizeof(*op));
    if (op == NULL)
        return GW_ENOMEM;
    op->cb = cb;
    op->arg = arg;
    return cp_store__eval_confirmed(s, CP_STORE__S_CA_CREATE, 1, 4, args, lens,
                                    on_create_ca, &op->confirm, ca_confirmed);
}

/* ==== tokens ==== */

struct read_op {
    union {
        cp_store_tokens_cb tokens;
        cp_store_revoked_cb revoked;
    } cb;
    void *arg;
};

static void on_get_tokens(struct cp_store *s, int status, redisReply *r,
                          void *arg)
{
    struct read_op *op = arg;
    struct cp_store_tokens t = {0};

    if (status == 0 && (r->type != REDIS_REPLY_ARRAY || r->elements != 4))
        status = GW_EPROTO;
    if (status == 0) {
        t.control = elem_str(r, 0, &status);
        t.data = elem_str(r, 1, &status);
        t.control_sealed = elem_str(r, 2, &status);
        t.data_sealed = elem_str(r, 3, &status);
    }
    if (status == 0 && (t.control == NULL || t.data == NULL))
        status = GW_ENOENT;
    op->cb.tokens(s, status, status == 0 ? &t : NULL, op->arg);
    free(op);
}

int cp_store_get_tokens(struct cp_store *s, cp_store_tokens_cb cb, void *arg)
{
    const char *argv[6] = {"HMGET", s->k_tokens,      "control",
                           "data",  "control_sealed", "data_sealed"};
    struct read_op *op;

    if (!cp_store__ready(s))
        return CP_STORE_EDOWN;
    op = calloc(1, sizeof(*op));
    if (op == NULL)
        return GW_ENOMEM;
    op->cb.tokens = cb;
    op->arg = arg;
    return cp_store__send(s, on_get_tokens, op, 6, argv);
}

int cp_store_set_tokens(struct cp_store *s, const struct cp_store_tokens *t,
                        int only_if_unset, cp_store_done_cb cb, void *arg)
{
    const char *args[8] = {NULL,
                           s->k_tokens,
                           NULL,
                           t->control,
                           t->data,
                           t->control_sealed ? t->control_sealed : "",
                           t->data_sealed ? t->data_sealed : "",
                           only_if_unset ? "1" : "0"};
    size_t lens[8];

    if (t->control == NULL || t->data == NULL || *t->control == '\0' ||
        *t->data == '\0')
        return GW_EINVAL;
    return cp_store__fenced_write(s, CP_STORE__S_TOKENS_SET, 2, 8, args, lens,
                                  "tokens", cb, arg);
}

/* ==== revocations ==== */

static void on_list_revoked(struct cp_store *s, int status, redisReply *r,
                            void *arg)
{
    struct read_op *op = arg;
    struct cp_store_revoked *v = NULL;
    size_t n = 0;

    if (status == 0 && (r->type != REDIS_REPLY_ARRAY || r->elements % 2 != 0))
        status = GW_EPROTO;
    if (status == 0 && r->elements > 0) {
        v = calloc(r->elements / 2, sizeof(*v));
        if (v == NULL)
            status = GW_ENOMEM;
    }
    for (size_t i = 0; status == 0 && i < r->elements; i += 2) {
        v[n].key = elem_str(r, i, &status);
        if (status == 0 &&
            (v[n].key == NULL ||
             parse_i64(elem_str(r, i + 1, &status), &v[n].at) != 0))
            status = GW_EPROTO;
        n++;
    }
    op->cb.revoked(s, status, status == 0 ? v : NULL, status == 0 ? n : 0,
                   op->arg);
    free(v);
    free(op);
}

int cp_store_list_revoked(struct cp_store *s, cp_store_revoked_cb cb, void *arg)
{
    const char *argv[2] = {"HGETALL", s->k_revoked};
    struct read_op *op;

    if (!cp_store__ready(s))
        return CP_STORE_EDOWN;
    op = calloc(1, sizeof(*op));
    if (op == NULL)
        return GW_ENOMEM;
    op->cb.revoked = cb;
    op->arg = arg;
    return cp_store__send(s, on_list_revoked, op, 2, argv);
}

int cp_store_revoke(struct cp_store *s, const char *role, const char *id,
                    int64_t at, cp_store_done_cb cb, void *arg)
{
    char when[24], *field;
    const char *args[5] = {NULL, s->k_revoked, NULL, NULL, when};
    size_t lens[5];
    int rc;

    if (*role == '\0' || *id == '\0' || strchr(role, '/') != NULL || at < 0)
        return GW_EINVAL;
    field = malloc(strlen(role) + 1 + strlen(id) + 1);
    if (field == NULL)
        return GW_ENOMEM;
    sprintf(field, "%s/%s", role, id);
    snprintf(when, sizeof(when), "%lld", (long long)at);
    args[3] = field;
    rc = cp_store__fenced_write(s, CP_STORE__S_REVOKE, 2, 5, args, lens,
                                "revoke", cb, arg);
    free(field);
    return rc;
}
