/*
 * service.c -- the traefikee.v1.Management service on a cp_rpc server: the
 * rpc callbacks (CQ thread, server lock held) queue each request as a job
 * for the store's loop; the loop runs the operation and finishes the call
 * under the lock if it still exists. Also the Events streams and the
 * node's current revision. Owns the async handle and the queue.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/config/config.h"
#include "common/log/log.h"
#include "common/xds/xds.h"
#include "controlplane/mgmt/mgmt_int.h"

static const char *const paths[CP_MGMT__NMETHODS] = {
    [CP_MGMT__VERSION] = "/traefikee.v1.Management/Version",
    [CP_MGMT__LIST_NODES] = "/traefikee.v1.Management/ListNodes",
    [CP_MGMT__APPLY] = "/traefikee.v1.Management/Apply",
    [CP_MGMT__GET] = "/traefikee.v1.Management/Get",
    [CP_MGMT__DELETE] = "/traefikee.v1.Management/Delete",
    [CP_MGMT__HISTORY] = "/traefikee.v1.Management/History",
    [CP_MGMT__ROLLBACK] = "/traefikee.v1.Management/Rollback",
    [CP_MGMT__SET_ADMIN_HASH] = "/traefikee.v1.Management/SetAdminHash",
    [CP_MGMT__GET_TOKENS] = "/traefikee.v1.Management/GetTokens",
    [CP_MGMT__REVOKE_NODE] = "/traefikee.v1.Management/RevokeNode",
    [CP_MGMT__EVENTS] = "/traefikee.v1.Management/Events",
};

const char *cp_mgmt__path(enum cp_mgmt__method method)
{
    return paths[method];
}

int64_t cp_mgmt__now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ==== jobs ==== */

void cp_mgmt__job_free(struct cp_mgmt__job *job)
{
    if (job == NULL)
        return;
    free(job->req);
    free(job->ev_kind);
    free(job->ev_node);
    free(job->ev_message);
    if (job->msg != NULL)
        protobuf_c_message_free_unpacked(job->msg, NULL);
    cm_config_free(job->cfg);
    cm_xds_resources_free(job->res);
    cp_mgmt_diff_deinit(&job->diff);
    json_decref(job->new_json);
    free(job->doc);
    free(job->source);
    cp_mgmt_reply_deinit(&job->fwd);
    explicit_bzero(job->tok_text, sizeof(job->tok_text));
    free(job);
}

static void push_job(struct cp_mgmt *m, struct cp_mgmt__job *job)
{
    pthread_mutex_lock(&m->qlock);
    if (m->qtail != NULL)
        m->qtail->next = job;
    else
        m->qhead = job;
    m->qtail = job;
    pthread_mutex_unlock(&m->qlock);
    uv_async_send(&m->async);
}

static void finish(struct cp_mgmt__job *job, grpc_status_code status,
                   const char *details, const ProtobufCMessage *msg,
                   const uint8_t *data, size_t len)
{
    struct cp_mgmt *m = job->m;

    cp_rpc_server_lock(m->rpc);
    if (job->call != NULL) {
        if (status == GRPC_STATUS_OK && msg != NULL)
            (void)cp_rpc_call_send_pb(job->call, msg);
        else if (status == GRPC_STATUS_OK && data != NULL)
            (void)cp_rpc_call_send(job->call, data, len);
        cp_rpc_call_finish(job->call, status, details);
        cp_rpc_call_set_data(job->call, NULL);
        job->call = NULL;
    }
    cp_rpc_server_unlock(m->rpc);
    if (status != GRPC_STATUS_OK)
        cm_log_info(CP_MGMT__MOD, "call_failed", "method=%s code=%d",
                    paths[job->method], (int)status);
    cp_mgmt__job_free(job);
}

void cp_mgmt__reply(struct cp_mgmt__job *job, grpc_status_code status,
                    const char *details, const ProtobufCMessage *msg)
{
    finish(job, status, details, msg, NULL, 0);
}

void cp_mgmt__reply_raw(struct cp_mgmt__job *job, grpc_status_code status,
                        const char *details, const uint8_t *data, size_t len)
{
    finish(job, status, details, NULL,
           data != NULL ? data : (const uint8_t *)"", len);
}

void cp_mgmt__fail(struct cp_mgmt__job *job, grpc_status_code status,
                   const char *fmt, ...)
{
    char msg[CM_ERR_LEN * 2];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    finish(job, status, msg, NULL, NULL, 0);
}

int cp_mgmt__unpack(struct cp_mgmt__job *job,
                    const ProtobufCMessageDescriptor *d)
{
    job->msg = protobuf_c_message_unpack(d, NULL, job->len, job->req);
    if (job->msg != NULL)
        return 0;
    cp_mgmt__fail(job, GRPC_STATUS_INVALID_ARGUMENT, "malformed request");
    return -1;
}

/* ==== rpc callbacks (CQ thread, lock held) ==== */

static void on_message(void *arg, struct cp_rpc_call *call, const uint8_t *data,
                       size_t len)
{
    struct cp_mgmt__method_arg *ma = arg;
    struct cp_mgmt *m = ma->m;
    struct cp_mgmt__job *job;

    if (ma->method == CP_MGMT__EVENTS) {
        struct cp_rpc_call **v = m->subs;
        if (cp_rpc_call_data(call) != NULL)
            return; /* subscribed already */
        if (m->n_subs == m->cap_subs) {
            size_t cap = m->cap_subs ? m->cap_subs * 2 : 8;
            v = realloc(m->subs, cap * sizeof(*v));
            if (v == NULL) {
                cp_rpc_call_finish(call, GRPC_STATUS_RESOURCE_EXHAUSTED,
                                   "no memory");
                return;
            }
            m->subs = v;
            m->cap_subs = cap;
        }
        m->subs[m->n_subs++] = call;
        cp_rpc_call_set_data(call, m);
        return;
    }
    if (cp_rpc_call_data(call) != NULL)
        return; /* unary: one message only */
    job = calloc(1, sizeof(*job));
    if (job == NULL || (len > 0 && (job->req = malloc(len)) == NULL)) {
        free(job);
        cp_rpc_call_finish(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "no memory");
        return;
    }
    if (len > 0)
        memcpy(job->req, data, len);
    job->len = len;
    job->m = m;
    job->method = ma->method;
    job->call = call;
    cp_rpc_call_set_data(call, job);
    push_job(m, job);
}

static void on_done(void *arg, struct cp_rpc_call *call, int cancelled)
{
    struct cp_mgmt__method_arg *ma = arg;
    struct cp_mgmt *m = ma->m;
    struct cp_mgmt__job *job = cp_rpc_call_data(call);

    if (ma->method == CP_MGMT__EVENTS) {
        for (size_t i = 0; i < m->n_subs; i++) {
            if (m->subs[i] == call) {
                m->subs[i] = m->subs[--m->n_subs];
                break;
            }
        }
        return;
    }
    if (job != NULL)
        job->call = NULL; /* the loop still owns the job */
}

/* ==== the loop side ==== */

static void broadcast(struct cp_mgmt *m, const Traefikee__V1__Event *ev)
{
    cp_rpc_server_lock(m->rpc);
    for (size_t i = 0; i < m->n_subs; i++)
        (void)cp_rpc_call_send_pb(m->subs[i], &ev->base);
    cp_rpc_server_unlock(m->rpc);
}

void cp_mgmt_event(struct cp_mgmt *m, const char *kind, const char *node,
                   uint64_t rev, const char *message)
{
    Traefikee__V1__Event ev = TRAEFIKEE__V1__EVENT__INIT;
    char q1[256], q2[512];

    ev.time_ms = cp_mgmt__now_ms();
    ev.kind = (char *)kind;
    ev.node = (char *)(node != NULL ? node : "");
    ev.revision = rev;
    ev.message = (char *)(message != NULL ? message : "");
    ev.reporter = m->node_id;
    cm_log_info(CP_MGMT__MOD, "event", "kind=%s node=%s revision=%llu msg=%s",
                kind, cm_log_quote(q1, sizeof(q1), ev.node),
                (unsigned long long)rev,
                cm_log_quote(q2, sizeof(q2), ev.message));
    broadcast(m, &ev);
}

void cp_mgmt_post_event(struct cp_mgmt *m, const char *kind, const char *node,
                        uint64_t rev, const char *message)
{
    struct cp_mgmt__job *job = calloc(1, sizeof(*job));

    if (job == NULL)
        return;
    job->m = m;
    job->method = CP_MGMT__EVENT;
    job->ev_kind = strdup(kind);
    job->ev_node = strdup(node != NULL ? node : "");
    job->ev_message = strdup(message != NULL ? message : "");
    job->ev_rev = rev;
    if (job->ev_kind == NULL || job->ev_node == NULL ||
        job->ev_message == NULL) {
        cp_mgmt__job_free(job);
        return;
    }
    push_job(m, job);
}

static void run_job(struct cp_mgmt__job *job)
{
    switch (job->method) {
    case CP_MGMT__VERSION:
        cp_mgmt__op_version(job);
        break;
    case CP_MGMT__LIST_NODES:
        cp_mgmt__op_list_nodes(job);
        break;
    case CP_MGMT__APPLY:
        cp_mgmt__op_apply(job);
        break;
    case CP_MGMT__GET:
        cp_mgmt__op_get(job);
        break;
    case CP_MGMT__DELETE:
        cp_mgmt__op_delete(job);
        break;
    case CP_MGMT__HISTORY:
        cp_mgmt__op_history(job);
        break;
    case CP_MGMT__ROLLBACK:
        cp_mgmt__op_rollback(job);
        break;
    case CP_MGMT__SET_ADMIN_HASH:
        cp_mgmt__op_set_admin_hash(job);
        break;
    case CP_MGMT__GET_TOKENS:
        cp_mgmt__op_get_tokens(job);
        break;
    case CP_MGMT__REVOKE_NODE:
        cp_mgmt__op_revoke_node(job);
        break;
    case CP_MGMT__EVENT:
        cp_mgmt_event(job->m, job->ev_kind, job->ev_node, job->ev_rev,
                      job->ev_message);
        cp_mgmt__job_free(job);
        break;
    default:
        cp_mgmt__fail(job, GRPC_STATUS_UNIMPLEMENTED, "not implemented");
    }
}

static struct cp_mgmt__job *take_jobs(struct cp_mgmt *m)
{
    struct cp_mgmt__job *jobs;

    pthread_mutex_lock(&m->qlock);
    jobs = m->qhead;
    m->qhead = m->qtail = NULL;
    pthread_mutex_unlock(&m->qlock);
    return jobs;
}

static void on_async(uv_async_t *h)
{
    struct cp_mgmt *m = h->data;
    struct cp_mgmt__job *job = take_jobs(m), *next;

    for (; job != NULL; job = next) {
        next = job->next;
        job->next = NULL;
        run_job(job);
    }
}

/* ==== life ==== */

struct cp_mgmt *cp_mgmt_new(const struct cp_mgmt_config *cfg, char *err,
                            size_t errlen)
{
    struct cp_mgmt *m = calloc(1, sizeof(*m));

    if (m == NULL || (m->node_id = strdup(cfg->node_id)) == NULL) {
        free(m);
        cm_err_set(err, errlen, GW_ENOMEM, "out of memory");
        return NULL;
    }
    m->loop = cfg->loop;
    m->rpc = cfg->rpc;
    m->store = cfg->store;
    m->forward_timeout_ms =
        cfg->forward_timeout_ms ? cfg->forward_timeout_ms : 5000;
    m->history = cfg->history ? cfg->history : 10;
    m->on_admin_hash = cfg->on_admin_hash;
    m->on_admin_hash_arg = cfg->on_admin_hash_arg;
    m->ca_fp = cfg->ca_fp;
    m->cluster_key = cfg->cluster_key;
    m->creds = cfg->creds;
    m->on_revoked = cfg->on_revoked;
    m->on_tokens = cfg->on_tokens;
    m->security_arg = cfg->security_arg;
    pthread_mutex_init(&m->qlock, NULL);
    pthread_mutex_init(&m->base_mu, NULL);
    for (int i = 0; i < CP_MGMT__NMETHODS; i++) {
        m->margs[i].m = m;
        m->margs[i].method = i;
        m->ops[i].on_message = on_message;
        m->ops[i].on_done = on_done;
        if (cp_rpc_server_add_method(m->rpc, paths[i],
                                     i == CP_MGMT__EVENTS ? CP_RPC_BIDI
                                                          : CP_RPC_UNARY,
                                     &m->ops[i], &m->margs[i]) != 0) {
            cm_err_set(err, errlen, GW_EINVAL, "cannot register %s", paths[i]);
            goto fail;
        }
    }
    if (uv_async_init(m->loop, &m->async, on_async) != 0) {
        cm_err_set(err, errlen, GW_EIO, "uv_async_init failed");
        goto fail;
    }
    m->async.data = m;
    m->async_open = true;
    return m;
fail:
    cp_mgmt_free(m);
    return NULL;
}

static void on_async_closed(uv_handle_t *h)
{
    struct cp_mgmt *m = h->data;

    m->async_open = false;
}

void cp_mgmt_close(struct cp_mgmt *m)
{
    struct cp_mgmt__job *job, *next;

    if (m == NULL)
        return;
    /* the rpc server is stopped: no call remains, so this only frees */
    for (job = take_jobs(m); job != NULL; job = next) {
        next = job->next;
        cp_mgmt__job_free(job);
    }
    if (m->async_open && !uv_is_closing((uv_handle_t *)&m->async))
        uv_close((uv_handle_t *)&m->async, on_async_closed);
}

void cp_mgmt_free(struct cp_mgmt *m)
{
    if (m == NULL)
        return;
    pthread_mutex_destroy(&m->qlock);
    pthread_mutex_destroy(&m->base_mu);
    json_decref(m->base_json);
    free(m->subs);
    free(m->node_id);
    free(m->doc);
    cm_config_free(m->cfg);
    cp_mgmt_keep_translation(m, NULL, 0, NULL, NULL);
    free(m);
}

void cp_mgmt_set_current(struct cp_mgmt *m, uint64_t rev, const char *doc,
                         size_t len, struct cm_config *cfg)
{
    char *copy = malloc(len + 1);

    if (copy == NULL) {
        cm_config_free(cfg);
        return;
    }
    memcpy(copy, doc, len);
    copy[len] = '\0';
    free(m->doc);
    cm_config_free(m->cfg);
    m->doc = copy;
    m->doc_len = len;
    m->cfg = cfg;
    m->rev = rev;
}

uint64_t cp_mgmt_current(const struct cp_mgmt *m, const struct cm_config **cfg)
{
    if (cfg != NULL)
        *cfg = m->cfg;
    return m->rev;
}
