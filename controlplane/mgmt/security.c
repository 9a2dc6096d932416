/*
 * security.c -- GetTokens and RevokeNode (docs/security.md), on the store's
 * loop; both go to the leader like Apply.
 *
 * GetTokens: the store keeps, per role, SHA-256 of the token's secret (what
 * Join checks) and the token's text sealed with the cluster key (so that a
 * later GetTokens can show it again; a hash cannot be turned back into a
 * token). With no tokens stored, with rotate, or when the stored ones name
 * another CA, the leader makes a new pair (cm_pki_token_new), stores it
 * (a first use keeps a pair stored meanwhile by another call: only_if_unset)
 * and tells the node (on_tokens). RevokeNode stores "role/id" -> now and
 * tells the node (on_revoked) so it refuses that node's certificates and
 * ends its streams.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log/log.h"
#include "common/pki/pki.h"
#include "controlplane/mgmt/mgmt_int.h"
#include "controlplane/store/store.h"

static const enum cm_pki_role tok_roles[2] = {CM_PKI_ROLE_CONTROL,
                                              CM_PKI_ROLE_DATA};

/* Fails <job> when the store's write of <what> ended with <status> other
 * than 0: written but unconfirmed ("<written> written but not confirmed by
 * a replica...; <again>", <pronoun> may be lost after a failover sign), or
 * not written. Returns 1 when it failed the job. */
static int write_failed(struct cp_mgmt__job *job, int status,
                        const char *written, const char *again,
                        const char *pronoun, const char *what)
{
    char lost[64] = "";

    if (status == CP_STORE_EUNSURE)
        snprintf(lost, sizeof(lost),
                 " before a Redis failover began (%s may be lost)", pronoun);
    if (status == CP_STORE_ENOREPLICA || status == CP_STORE_EUNSURE) {
        cp_mgmt__fail(job, GRPC_STATUS_ABORTED,
                      "%s written but not confirmed by a replica%s; %s",
                      written, lost, again);
        return 1;
    }
    if (status != 0) {
        cp_mgmt__fail(job, cp_mgmt__put_status(status),
                      "control node %s: storing %s failed: %s", job->m->node_id,
                      what, cp_store_strerror(status));
        return 1;
    }
    return 0;
}

/* 1 when the node runs with a CA; else fails the job. */
static int secure_or_fail(struct cp_mgmt__job *job)
{
    if (job->m->ca_fp != NULL)
        return 1;
    cp_mgmt__fail(job, GRPC_STATUS_FAILED_PRECONDITION,
                  "control node %s runs in insecure mode: no cluster CA, no "
                  "join tokens, no revocations",
                  job->m->node_id);
    return 0;
}

/* The cluster key and the CA fingerprint now; fails the job when either is
 * not known (yet). */
static int material(struct cp_mgmt__job *job, const char **key, const char **fp)
{
    struct cp_mgmt *m = job->m;

    *fp = m->ca_fp(m->security_arg);
    *key = m->cluster_key != NULL ? m->cluster_key(m->security_arg) : NULL;
    if (*fp != NULL && *key != NULL)
        return 1;
    cp_mgmt__fail(job, GRPC_STATUS_UNAVAILABLE,
                  "control node %s: the cluster %s is not available yet; "
                  "retry in a few seconds",
                  m->node_id, *fp == NULL ? "CA" : "key");
    return 0;
}

static void reply_tokens(struct cp_mgmt__job *job)
{
    Traefikee__V1__GetTokensResponse r =
        TRAEFIKEE__V1__GET_TOKENS_RESPONSE__INIT;

    r.control_token = job->tok_text[0];
    r.data_token = job->tok_text[1];
    cp_mgmt__reply(job, GRPC_STATUS_OK, NULL, &r.base);
}

/* ==== making and storing a new pair ==== */

static void read_tokens(struct cp_mgmt__job *job);

static void on_tokens_set(struct cp_store *s, int status, void *arg)
{
    struct cp_mgmt__job *job = arg;
    struct cp_mgmt *m = job->m;

    if (status == CP_STORE_EEXIST && !job->tok_reread) {
        job->tok_reread = 1; /* another first use won: show its pair */
        read_tokens(job);
        return;
    }
    if (status == 0 || status == CP_STORE_ENOREPLICA) {
        /* on the master either way: in force (not so after EUNSURE) */
        if (m->on_tokens != NULL)
            m->on_tokens(m->security_arg, job->tok_hash[0], job->tok_hash[1]);
        cp_mgmt_event(m, "tokens_rotated", m->node_id, 0, NULL);
    }
    if (!write_failed(job, status, "new join tokens were", "ask for them again",
                      "they", "the join tokens"))
        reply_tokens(job);
}

/* One new token of role <i> in job->tok_text[i], its hash in tok_hash[i],
 * its sealed text in *sealed (new). */
static int make_one(struct cp_mgmt__job *job, int i, const char *key,
                    const char *fp, char **sealed, char *err, size_t len)
{
    struct cm_pki_token t;
    int rc = cm_pki_token_new(tok_roles[i], fp, &t);

    if (rc != 0)
        return cm_err_set(err, len, rc, "cannot make a token");
    if (cm_pki_token_format(&t, job->tok_text[i], sizeof(job->tok_text[i])) <
        0) {
        explicit_bzero(&t, sizeof(t));
        return cm_err_set(err, len, GW_EINVAL, "cannot format a token");
    }
    cm_pki_token_hash(t.secret, job->tok_hash[i]);
    explicit_bzero(&t, sizeof(t));
    return cm_pki_seal(key, job->tok_text[i], strlen(job->tok_text[i]), sealed,
                       err, len);
}

static void make_tokens(struct cp_mgmt__job *job, int only_if_unset)
{
    struct cp_mgmt *m = job->m;
    struct cp_store_tokens t = {0};
    char *sealed[2] = {NULL, NULL}, err[CM_ERR_LEN];
    const char *key, *fp;
    int rc = 0;

    if (!material(job, &key, &fp))
        return;
    for (int i = 0; i < 2 && rc == 0; i++)
        rc = make_one(job, i, key, fp, &sealed[i], err, sizeof(err));
    if (rc == 0) {
        t.control = job->tok_hash[0];
        t.data = job->tok_hash[1];
        t.control_sealed = sealed[0];
        t.data_sealed = sealed[1];
        rc = cp_store_set_tokens(m->store, &t, only_if_unset, on_tokens_set,
                                 job);
        if (rc != 0)
            snprintf(err, sizeof(err), "%s", cp_store_strerror(rc));
    }
    free(sealed[0]);
    free(sealed[1]);
    if (rc != 0)
        cp_mgmt__fail(job, GRPC_STATUS_UNAVAILABLE,
                      "control node %s: cannot make join tokens: %s",
                      m->node_id, err);
}

/* ==== showing the stored pair ==== */

#define OTHER_CA 1 /* open_one(): a good token, of another CA */

/* Opens <sealed> into job->tok_text[i] and checks it is the token of that
 * role whose hash is stored, for the CA <fp>: 0, OTHER_CA or GW_EINVAL. */
static int open_one(struct cp_mgmt__job *job, int i, const char *key,
                    const char *fp, const char *sealed)
{
    struct cm_pki_token t;
    char err[CM_ERR_LEN], hash[CM_PKI_FP_HEX];
    size_t n;
    char *text;
    int rc;

    if (sealed == NULL ||
        cm_pki_open(key, sealed, &text, &n, err, sizeof(err)) != 0)
        return GW_EINVAL;
    rc = n < sizeof(job->tok_text[i]) &&
                 cm_pki_token_parse(text, &t, err, sizeof(err)) == 0
             ? GW_OK
             : GW_EINVAL;
    if (rc == 0)
        snprintf(job->tok_text[i], sizeof(job->tok_text[i]), "%s", text);
    explicit_bzero(text, n);
    free(text);
    if (rc != 0)
        return rc;
    cm_pki_token_hash(t.secret, hash);
    if (t.role != tok_roles[i] || !cm_pki_equal(hash, job->tok_hash[i]))
        rc = GW_EINVAL; /* not the token the hash is of */
    else if (!cm_pki_equal(t.ca_fp, fp))
        rc = OTHER_CA;
    explicit_bzero(&t, sizeof(t));
    return rc;
}

static void on_tokens_read(struct cp_store *s, int status,
                           const struct cp_store_tokens *t, void *arg)
{
    struct cp_mgmt__job *job = arg;
    const char *key, *fp;
    int rc = 0;

    if (status == GW_ENOENT && !job->tok_reread) {
        make_tokens(job, 1);
        return;
    }
    if (status != 0) {
        cp_mgmt__fail(job, GRPC_STATUS_UNAVAILABLE,
                      "control node %s: reading the join tokens failed: %s",
                      job->m->node_id, cp_store_strerror(status));
        return;
    }
    if (!material(job, &key, &fp))
        return;
    snprintf(job->tok_hash[0], sizeof(job->tok_hash[0]), "%s", t->control);
    snprintf(job->tok_hash[1], sizeof(job->tok_hash[1]), "%s", t->data);
    for (int i = 0; i < 2 && rc == 0; i++)
        rc = open_one(job, i, key, fp,
                      i == 0 ? t->control_sealed : t->data_sealed);
    if (rc == OTHER_CA && !job->tok_reread) {
        cm_log_warn(CP_MGMT__MOD, "tokens_other_ca", "action=rotate");
        make_tokens(job, 0); /* useless to anyone: they name another CA */
    } else if (rc != 0) {
        cp_mgmt__fail(job, GRPC_STATUS_FAILED_PRECONDITION,
                      "control node %s: the stored join tokens cannot be "
                      "shown (sealed with another cluster key, or stored "
                      "without their text); make new ones with rotate "
                      "(traefikeectl tokens --rotate)",
                      job->m->node_id);
    } else {
        reply_tokens(job);
    }
}

static void read_tokens(struct cp_mgmt__job *job)
{
    int rc = cp_store_get_tokens(job->m->store, on_tokens_read, job);

    if (rc != 0)
        cp_mgmt__fail(job, GRPC_STATUS_UNAVAILABLE,
                      "control node %s: store unavailable: %s", job->m->node_id,
                      cp_store_strerror(rc));
}

void cp_mgmt__op_get_tokens(struct cp_mgmt__job *job)
{
    Traefikee__V1__GetTokensRequest *req;

    if (cp_mgmt__unpack(job, &traefikee__v1__get_tokens_request__descriptor) !=
            0 ||
        !secure_or_fail(job))
        return;
    req = (Traefikee__V1__GetTokensRequest *)job->msg;
    if (!cp_mgmt__leader_or_forward(job, req->forwarded))
        return;
    if (req->rotate)
        make_tokens(job, 0);
    else
        read_tokens(job);
}

/* ==== RevokeNode ==== */

static void on_revoked(struct cp_store *s, int status, void *arg)
{
    struct cp_mgmt__job *job = arg;
    struct cp_mgmt *m = job->m;
    Traefikee__V1__RevokeNodeRequest *req =
        (Traefikee__V1__RevokeNodeRequest *)job->msg;
    Traefikee__V1__RevokeNodeResponse r =
        TRAEFIKEE__V1__REVOKE_NODE_RESPONSE__INIT;
    char msg[CM_PKI_ID_MAX + 64];

    if (status == 0 || status == CP_STORE_ENOREPLICA) {
        if (m->on_revoked != NULL)
            m->on_revoked(m->security_arg, (enum cm_pki_role)req->role,
                          req->node_id, job->revoked_at);
        snprintf(msg, sizeof(msg), "%s certificates before %lld refused",
                 cm_pki_role_name((enum cm_pki_role)req->role),
                 (long long)job->revoked_at);
        cp_mgmt_event(m, "node_revoked", req->node_id, 0, msg);
    }
    if (write_failed(job, status, "the revocation was", "revoke again", "it",
                     "the revocation"))
        return;
    r.revoked_at = job->revoked_at;
    cp_mgmt__reply(job, GRPC_STATUS_OK, NULL, &r.base);
}

/* A node id a certificate can carry: printable ASCII, no space. */
static int id_ok(const char *id)
{
    size_t n = strlen(id);

    if (n == 0 || n >= CM_PKI_ID_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (id[i] <= ' ' || id[i] > '~')
            return 0;
    return 1;
}

void cp_mgmt__op_revoke_node(struct cp_mgmt__job *job)
{
    Traefikee__V1__RevokeNodeRequest *req;
    int rc;

    if (cp_mgmt__unpack(job, &traefikee__v1__revoke_node_request__descriptor) !=
            0 ||
        !secure_or_fail(job))
        return;
    req = (Traefikee__V1__RevokeNodeRequest *)job->msg;
    if (req->role != TRAEFIKEE__V1__ROLE__CONTROL &&
        req->role != TRAEFIKEE__V1__ROLE__DATA &&
        req->role != TRAEFIKEE__V1__ROLE__ADMIN) {
        cp_mgmt__fail(job, GRPC_STATUS_INVALID_ARGUMENT,
                      "a role is required: control, data or admin");
        return;
    }
    if (!id_ok(req->node_id)) {
        cp_mgmt__fail(job, GRPC_STATUS_INVALID_ARGUMENT,
                      "a node id is required (printable, no space, under %d "
                      "bytes)",
                      CM_PKI_ID_MAX);
        return;
    }
    if (!cp_mgmt__leader_or_forward(job, req->forwarded))
        return;
    job->revoked_at = (int64_t)time(NULL);
    rc = cp_store_revoke(job->m->store,
                         cm_pki_role_name((enum cm_pki_role)req->role),
                         req->node_id, job->revoked_at, on_revoked, job);
    if (rc != 0)
        cp_mgmt__fail(job, cp_mgmt__put_status(rc),
                      "control node %s: cannot write: %s", job->m->node_id,
                      cp_store_strerror(rc));
}
