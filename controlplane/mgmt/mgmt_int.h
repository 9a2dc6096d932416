/*
 * mgmt_int.h -- internals shared by the files of controlplane/mgmt: the
 * service struct, the queued job of one call, and the helpers that finish
 * a call from the loop thread. Not for other modules.
 */
#ifndef CP_MGMT_INT_H
#define CP_MGMT_INT_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>

#include "controlplane/mgmt/mgmt.h"
#include "controlplane/rpc/rpc.h"
#include "traefikee/v1/management.pb-c.h"

#define CP_MGMT__MOD "mgmt"

enum cp_mgmt__method {
    CP_MGMT__VERSION = 0,
    CP_MGMT__LIST_NODES,
    CP_MGMT__APPLY,
    CP_MGMT__GET,
    CP_MGMT__DELETE,
    CP_MGMT__HISTORY,
    CP_MGMT__ROLLBACK,
    CP_MGMT__SET_ADMIN_HASH,
    CP_MGMT__GET_TOKENS,
    CP_MGMT__REVOKE_NODE,
    CP_MGMT__EVENTS,
    CP_MGMT__NMETHODS,
    CP_MGMT__EVENT = CP_MGMT__NMETHODS, /* a posted event, not a call */
};

struct cp_mgmt__method_arg {
    struct cp_mgmt *m;
    enum cp_mgmt__method method;
};

/* One request on its way through the loop. <call> is guarded by the rpc
 * server lock and becomes NULL when the call ends first (on_done). The job
 * belongs to the loop side; cp_mgmt__reply*() free it. */
struct cp_mgmt__job {
    struct cp_mgmt *m;
    enum cp_mgmt__method method;
    struct cp_rpc_call *call;
    uint8_t *req;
    size_t len;
    struct cp_mgmt__job *next;
    /* CP_MGMT__EVENT */
    char *ev_kind, *ev_node, *ev_message;
    uint64_t ev_rev;
    /* per-op scratch */
    ProtobufCMessage *msg;        /* unpacked request; freed with the job */
    struct cm_config *cfg;        /* parsed document being written */
    struct cm_xds_resources *res; /* its translation (until kept) */
    /* validation of doc on the thread pool (write.c check_async()) */
    uv_work_t work;
    void (*checked)(struct cp_mgmt__job *job, int rc);
    int check_rc;
    char check_err[CM_ERR_LEN];
    char *base_doc; /* copy of the served document, diffed against */
    size_t base_len;
    json_t *new_json;  /* cfg as JSON: the next diff's base once stored */
    char summary[512]; /* cp_mgmt_diff_summary() of the diff */
    Traefikee__V1__TranslationSummary sum; /* counts of the translation */
    struct cp_mgmt_diff diff;
    uint64_t base_rev;
    char *doc; /* document being written (malloc) */
    size_t doc_len;
    char *source;             /* revision metadata source */
    struct cp_mgmt_reply fwd; /* forwarded reply */
    char fwd_target[256];
    /* GetTokens / RevokeNode (security.c); wiped when freed */
    char tok_text[2][CM_PKI_TOKEN_MAX]; /* control, data */
    char tok_hash[2][CM_PKI_FP_HEX];
    int tok_reread;     /* read again after a concurrent first use */
    int64_t revoked_at; /* RevokeNode */
};

struct cp_mgmt {
    uv_loop_t *loop;
    struct cp_rpc_server *rpc;
    struct cp_store *store;
    char *node_id;
    unsigned forward_timeout_ms;
    unsigned history;
    cp_mgmt_admin_hash_cb on_admin_hash;
    void *on_admin_hash_arg;
    const char *(*ca_fp)(void *arg);
    const char *(*cluster_key)(void *arg);
    const struct cm_pki_creds *(*creds)(void *arg);
    cp_mgmt_revoked_cb on_revoked;
    cp_mgmt_tokens_cb on_tokens;
    void *security_arg;
    struct cp_mgmt__method_arg margs[CP_MGMT__NMETHODS];
    struct cp_rpc_method_ops ops[CP_MGMT__NMETHODS];

    /* the queue from the CQ thread (and others) to the loop */
    uv_async_t async;
    bool async_open;
    pthread_mutex_t qlock;
    struct cp_mgmt__job *qhead, *qtail;

    /* Events streams (guarded by the rpc server lock) */
    struct cp_rpc_call **subs;
    size_t n_subs, cap_subs;

    /* loop thread: what this node serves */
    uint64_t rev;
    char *doc;
    size_t doc_len;
    struct cm_config *cfg;

    /* loop thread: the last document stored, parsed and translated
     * (cp_mgmt_keep_translation()) */
    char *kept_doc;
    size_t kept_len;
    struct cm_config *kept_cfg;
    struct cm_xds_resources *kept_res;
    char *kept_summary; /* what it changes, or NULL (to be computed) */

    /* the model of revision base_json_rev as JSON, the base of the next
     * diff (write.c): left by the last apply, or made by a check on the
     * thread pool; guarded by base_mu (the loop and the pool use it) */
    pthread_mutex_t base_mu;
    json_t *base_json;
    uint64_t base_json_rev;
};

/* ---- service.c ---- */
void cp_mgmt__job_free(struct cp_mgmt__job *job);
/* Finish the job's call (if it still exists) with <status> and, when OK, the
 * message <msg> (or the raw bytes); frees the job. */
void cp_mgmt__reply(struct cp_mgmt__job *job, grpc_status_code status,
                    const char *details, const ProtobufCMessage *msg);
void cp_mgmt__reply_raw(struct cp_mgmt__job *job, grpc_status_code status,
                        const char *details, const uint8_t *data, size_t len);
void cp_mgmt__fail(struct cp_mgmt__job *job, grpc_status_code status,
                   const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int64_t cp_mgmt__now_ms(void);
/* Unpacks the job's request as <d> into job->msg; on failure fails the job
 * (INVALID_ARGUMENT) and returns -1. */
int cp_mgmt__unpack(struct cp_mgmt__job *job,
                    const ProtobufCMessageDescriptor *d);

/* ---- ops.c / write.c: one entry per method, on the loop ---- */
void cp_mgmt__op_version(struct cp_mgmt__job *job);
void cp_mgmt__op_list_nodes(struct cp_mgmt__job *job);
void cp_mgmt__op_get(struct cp_mgmt__job *job);
void cp_mgmt__op_history(struct cp_mgmt__job *job);
void cp_mgmt__op_apply(struct cp_mgmt__job *job);
void cp_mgmt__op_delete(struct cp_mgmt__job *job);
void cp_mgmt__op_rollback(struct cp_mgmt__job *job);
void cp_mgmt__op_set_admin_hash(struct cp_mgmt__job *job);
void cp_mgmt__op_get_tokens(struct cp_mgmt__job *job);
void cp_mgmt__op_revoke_node(struct cp_mgmt__job *job);

/* ---- write.c ---- */
/* 1 when this node is the leader (the caller goes on); else finishes the
 * job: forwarded to the leader unless <fwd> (it was forwarded already), or
 * failed with UNAVAILABLE; returns 0. */
int cp_mgmt__leader_or_forward(struct cp_mgmt__job *job,
                               protobuf_c_boolean fwd);
/* The gRPC status of a store write's outcome. */
grpc_status_code cp_mgmt__put_status(int status);

/* ---- forward.c ---- */
/* The method path of <method>. */
const char *cp_mgmt__path(enum cp_mgmt__method method);
/* Sends the job's request (packed from job->msg, already marked forwarded)
 * to the leader and relays its answer; or fails with UNAVAILABLE. */
void cp_mgmt__forward(struct cp_mgmt__job *job);

#endif
