/*
 * forward.c -- a follower's writes go to the leader: find the leader's gRPC
 * address in its heartbeat, then call the same method there (marked
 * forwarded, so it is not forwarded again) from the loop's thread pool with
 * a deadline, and relay the answer. Over mutual TLS with a copy of this
 * node's credentials taken on the loop (cp_mgmt_config.creds), plain text
 * without. Loop thread except the work callback.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log/log.h"
#include "controlplane/mgmt/mgmt_int.h"
#include "controlplane/store/store.h"

struct fwd {
    uv_work_t work;
    struct cp_mgmt__job *job;
    uint8_t *req;
    size_t len;
    int rc;
    char leader[CP_STORE_ID_LEN];
    struct cm_pki_creds creds; /* owned copy; ca NULL: plain text */
};

static void fwd_free(struct fwd *f)
{
    cm_pki_creds_clear(&f->creds);
    free(f->req);
    free(f);
}

/* Copies this node's credentials now, on the loop: renewal may replace
 * them while the call runs on the thread pool. */
static int copy_creds(struct cp_mgmt *m, struct cm_pki_creds *out)
{
    const struct cm_pki_creds *c =
        m->creds != NULL ? m->creds(m->security_arg) : NULL;

    if (c == NULL || c->ca == NULL)
        return GW_OK;
    out->ca = strdup(c->ca);
    out->cert = c->cert != NULL ? strdup(c->cert) : NULL;
    out->key = c->key != NULL ? strdup(c->key) : NULL;
    if (out->ca == NULL || (c->cert != NULL && out->cert == NULL) ||
        (c->key != NULL && out->key == NULL)) {
        cm_pki_creds_clear(out);
        return GW_ENOMEM;
    }
    return GW_OK;
}

static void mark_forwarded(struct cp_mgmt__job *job)
{
    switch (job->method) {
    case CP_MGMT__APPLY:
        ((Traefikee__V1__ApplyRequest *)job->msg)->forwarded = 1;
        break;
    case CP_MGMT__DELETE:
        ((Traefikee__V1__DeleteRequest *)job->msg)->forwarded = 1;
        break;
    case CP_MGMT__ROLLBACK:
        ((Traefikee__V1__RollbackRequest *)job->msg)->forwarded = 1;
        break;
    case CP_MGMT__SET_ADMIN_HASH:
        ((Traefikee__V1__SetAdminHashRequest *)job->msg)->forwarded = 1;
        break;
    case CP_MGMT__GET_TOKENS:
        ((Traefikee__V1__GetTokensRequest *)job->msg)->forwarded = 1;
        break;
    case CP_MGMT__REVOKE_NODE:
        ((Traefikee__V1__RevokeNodeRequest *)job->msg)->forwarded = 1;
        break;
    default:
        break;
    }
}

static void do_call(uv_work_t *w)
{
    struct fwd *f = w->data;
    struct cp_mgmt__job *job = f->job;

    f->rc = cp_mgmt_client_unary_creds(
        job->fwd_target, f->creds.ca != NULL ? &f->creds : NULL,
        cp_mgmt__path(job->method), f->req, f->len, job->m->forward_timeout_ms,
        &job->fwd);
}

static void after_call(uv_work_t *w, int status)
{
    struct fwd *f = w->data;
    struct cp_mgmt__job *job = f->job;
    struct cp_mgmt_reply *r = &job->fwd;

    if (status != 0 || f->rc != 0)
        cp_mgmt__fail(job, GRPC_STATUS_UNAVAILABLE,
                      "control node %s: could not forward to leader %s",
                      job->m->node_id, f->leader);
    else if (r->status == GRPC_STATUS_OK)
        cp_mgmt__reply_raw(job, GRPC_STATUS_OK, NULL, r->data, r->len);
    else if ((r->status == GRPC_STATUS_UNAVAILABLE ||
              r->status == GRPC_STATUS_DEADLINE_EXCEEDED) &&
             !cp_mgmt_from_server(r->details))
        cp_mgmt__fail(job, GRPC_STATUS_UNAVAILABLE,
                      "control node %s: leader %s at %s did not answer: %s",
                      job->m->node_id, f->leader, job->fwd_target, r->details);
    else
        cp_mgmt__reply_raw(job, r->status, r->details, NULL, 0);
    fwd_free(f);
}

static void on_leader_addr(struct cp_store *s, int status,
                           const struct cp_store_node *nodes, size_t n,
                           void *arg)
{
    struct fwd *f = arg;
    struct cp_mgmt__job *job = f->job;
    json_t *info;
    const char *grpc;

    for (size_t i = 0; status == 0 && i < n; i++) {
        if (strcmp(nodes[i].id, f->leader) != 0 ||
            strcmp(nodes[i].role, CP_MGMT_ROLE_CONTROL) != 0)
            continue;
        info = json_loads(nodes[i].info, 0, NULL);
        grpc = json_string_value(json_object_get(info, "grpc"));
        if (grpc != NULL)
            snprintf(job->fwd_target, sizeof(job->fwd_target), "%s", grpc);
        json_decref(info);
    }
    if (job->fwd_target[0] == '\0') {
        cp_mgmt__fail(job, GRPC_STATUS_UNAVAILABLE,
                      "control node %s: the leader %s has no live heartbeat "
                      "with an address; retry in a few seconds",
                      job->m->node_id, f->leader);
        fwd_free(f);
        return;
    }
    cm_log_info(CP_MGMT__MOD, "forward", "method=%s leader=%s addr=%s",
                cp_mgmt__path(job->method), f->leader, job->fwd_target);
    f->work.data = f;
    if (uv_queue_work(job->m->loop, &f->work, do_call, after_call) != 0) {
        cp_mgmt__fail(job, GRPC_STATUS_UNAVAILABLE,
                      "control node %s: cannot forward", job->m->node_id);
        fwd_free(f);
    }
}

void cp_mgmt__forward(struct cp_mgmt__job *job)
{
    const char *leader = cp_store_leader_id(job->m->store);
    struct fwd *f = calloc(1, sizeof(*f));
    int rc;

    if (f == NULL) {
        cp_mgmt__fail(job, GRPC_STATUS_RESOURCE_EXHAUSTED, "no memory");
        return;
    }
    f->job = job;
    snprintf(f->leader, sizeof(f->leader), "%s", leader != NULL ? leader : "");
    mark_forwarded(job);
    rc = copy_creds(job->m, &f->creds);
    if (rc == 0)
        rc = cp_rpc_pb_pack(job->msg, &f->req, &f->len);
    if (rc == 0)
        rc = cp_store_list_nodes(job->m->store, on_leader_addr, f);
    if (rc != 0) {
        cp_mgmt__fail(job, GRPC_STATUS_UNAVAILABLE,
                      "control node %s: cannot reach the store to find the "
                      "leader: %s",
                      job->m->node_id, cp_store_strerror(rc));
        fwd_free(f);
    }
}
