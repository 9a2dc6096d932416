/*
 * write.c -- the write operations of the management API, on the store's
 * loop: Apply (validate, translate, diff; dry-run or store; the model and
 * translation of a stored document are kept for the pipeline), Delete and
 * Rollback, and SetAdminHash. A follower forwards writes to the leader
 * (forward.c); the leader stores a revision with cp_mgmt_store_doc(), which
 * also records the revision's metadata (time, size, leader, source, what
 * changed) for History.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config/config.h"
#include "common/log/log.h"
#include "common/xds/xds.h"
#include "controlplane/auth/auth.h"
#include "controlplane/mgmt/mgmt_int.h"
#include "controlplane/store/store.h"

/* Metadata heartbeats live as long as a revision plausibly does. */
#define META_TTL_MS (30u * 24 * 3600 * 1000)

/* ==== validation ==== */

/* Parses and translates <doc>: 0 with a new model in <*cfg> (and a new
 * translation in <*res> when not NULL), or GW_EINVAL with <err>. */
static int validate(const char *doc, size_t len, const char *version,
                    struct cm_config **cfg, struct cm_xds_resources **res,
                    char *err, size_t errlen)
{
    struct cm_xds_resources *r;

    *cfg = cm_config_parse(doc, len, err, errlen);
    if (*cfg == NULL)
        return GW_EINVAL;
    r = cm_xds_translate(*cfg, version, err, errlen);
    if (r == NULL) {
        cm_config_free(*cfg);
        *cfg = NULL;
        return GW_EINVAL;
    }
    if (res != NULL)
        *res = r;
    else
        cm_xds_resources_free(r);
    return 0;
}

/* ==== validation off the loop ==== */

/* Makes <j> (borrowed) the cached JSON of revision <rev>, unless a newer
 * one is cached. Any thread. */
static void base_cache(struct cp_mgmt *m, uint64_t rev, json_t *j)
{
    pthread_mutex_lock(&m->base_mu);
    if (m->base_json == NULL || rev >= m->base_json_rev) {
        json_decref(m->base_json);
        m->base_json = json_incref(j);
        m->base_json_rev = rev;
    }
    pthread_mutex_unlock(&m->base_mu);
}

/* Returns new: the model of revision <rev> (document <doc>, may be NULL)
 * as JSON, cached or made (and cached): a 10,000-router document takes
 * ~25 ms to parse again. NULL when out of memory. Thread pool. */
static json_t *base_json(struct cp_mgmt *m, uint64_t rev, const char *doc,
                         size_t len)
{
    struct cm_config *cfg;
    char err[CM_ERR_LEN];
    json_t *j = NULL;

    pthread_mutex_lock(&m->base_mu);
    if (m->base_json != NULL && m->base_json_rev == rev)
        j = json_incref(m->base_json);
    pthread_mutex_unlock(&m->base_mu);
    if (j != NULL || doc == NULL)
        return j != NULL ? j : json_object();
    /* a served document that no longer parses diffs as empty */
    cfg = cm_config_parse(doc, len, err, sizeof(err));
    j = cfg != NULL ? cm_config_to_jansson(cfg) : json_object();
    cm_config_free(cfg);
    if (j != NULL)
        base_cache(m, rev, j);
    return j;
}

static void check_work(uv_work_t *w)
{
    struct cp_mgmt__job *job = w->data;
    json_t *base;
    uint64_t t0 = uv_hrtime(), t1, t2;

    job->check_rc = validate(job->doc, job->doc_len, "check", &job->cfg,
                             &job->res, job->check_err, sizeof(job->check_err));
    if (job->check_rc != 0)
        return;
    t1 = uv_hrtime();
    /* the served model may be replaced on the loop meanwhile: the base is
     * the revision seen when the check began (job->base_rev) */
    base = base_json(job->m, job->base_rev, job->base_doc, job->base_len);
    job->new_json = cm_config_to_jansson(job->cfg);
    t2 = uv_hrtime();
    cp_mgmt_diff_deinit(&job->diff);
    if (cp_mgmt_diff_json(base, job->new_json, &job->diff) != 0) {
        job->check_rc = GW_ENOMEM;
        snprintf(job->check_err, sizeof(job->check_err), "no memory");
    } else {
        cp_mgmt_diff_summary(&job->diff, job->summary, sizeof(job->summary));
    }
    json_decref(base);
    cm_log_debug(CP_MGMT__MOD, "timing",
                 "step=check validate_us=%llu base_us=%llu diff_us=%llu",
                 (unsigned long long)((t1 - t0) / 1000),
                 (unsigned long long)((t2 - t1) / 1000),
                 (unsigned long long)((uv_hrtime() - t2) / 1000));
}

static void check_after(uv_work_t *w, int status)
{
    struct cp_mgmt__job *job = w->data;
    struct cp_mgmt *m = job->m;

    free(job->base_doc);
    job->base_doc = NULL;
    if (!m->async_open || uv_is_closing((uv_handle_t *)&m->async)) {
        cp_mgmt__job_free(job); /* closing: the calls are gone */
        return;
    }
    job->checked(job, status != 0 ? status : job->check_rc);
}

/* Parses and translates job->doc, and diffs it against the served document
 * (job->base_rev), on the libuv thread pool (a large document takes long
 * enough to starve the loop's lease renewals), then calls <then> on the
 * loop with 0 (job->cfg, job->res, job->diff, job->summary set) or an error
 * (job->check_err says what). */
static void check_async(struct cp_mgmt__job *job,
                        void (*then)(struct cp_mgmt__job *job, int rc))
{
    struct cp_mgmt *m = job->m;

    job->checked = then;
    job->work.data = job;
    job->base_rev = m->rev;
    if (m->doc != NULL) {
        job->base_doc = malloc(m->doc_len + 1);
        if (job->base_doc == NULL) {
            cp_mgmt__fail(job, GRPC_STATUS_RESOURCE_EXHAUSTED, "no memory");
            return;
        }
        memcpy(job->base_doc, m->doc, m->doc_len);
        job->base_doc[m->doc_len] = '\0';
        job->base_len = m->doc_len;
    }
    if (uv_queue_work(job->m->loop, &job->work, check_work, check_after) != 0) {
        check_work(&job->work);
        check_after(&job->work, 0);
    }
}

/* Fills the job's summary from its model and translation. */
static void summarize(struct cp_mgmt__job *job)
{
    Traefikee__V1__TranslationSummary *sum = &job->sum;

    sum->routers = job->cfg->http.n_routers;
    sum->services = job->cfg->http.n_services;
    sum->middlewares = job->cfg->http.n_middlewares;
    sum->listeners = cm_xds_count(job->res, CM_XDS_LISTENER);
    sum->route_configurations = cm_xds_count(job->res, CM_XDS_ROUTE);
    sum->clusters = cm_xds_count(job->res, CM_XDS_CLUSTER);
    sum->cluster_load_assignments = cm_xds_count(job->res, CM_XDS_ENDPOINT);
}

/* ==== the translation kept for the pipeline ==== */

void cp_mgmt_keep_translation(struct cp_mgmt *m, const char *doc, size_t len,
                              struct cm_config *cfg,
                              struct cm_xds_resources *res)
{
    free(m->kept_doc);
    free(m->kept_summary);
    cm_config_free(m->kept_cfg);
    cm_xds_resources_free(m->kept_res);
    m->kept_summary = NULL;
    m->kept_doc = NULL;
    m->kept_cfg = NULL;
    m->kept_res = NULL;
    if (doc == NULL || cfg == NULL || res == NULL ||
        (m->kept_doc = malloc(len + 1)) == NULL) {
        cm_config_free(cfg);
        cm_xds_resources_free(res);
        return;
    }
    memcpy(m->kept_doc, doc, len);
    m->kept_doc[len] = '\0';
    m->kept_len = len;
    m->kept_cfg = cfg;
    m->kept_res = res;
}

int cp_mgmt_take_translation(struct cp_mgmt *m, const char *doc, size_t len,
                             struct cm_config **cfg,
                             struct cm_xds_resources **res)
{
    if (m->kept_doc == NULL || len != m->kept_len ||
        memcmp(doc, m->kept_doc, len) != 0)
        return 0;
    *cfg = m->kept_cfg;
    *res = m->kept_res;
    m->kept_cfg = NULL;
    m->kept_res = NULL;
    free(m->kept_doc);
    free(m->kept_summary);
    m->kept_doc = NULL;
    m->kept_summary = NULL;
    return 1;
}

/* ==== storing a revision ==== */

struct store_op {
    struct cp_mgmt *m;
    cp_mgmt_stored_cb cb;
    void *arg;
    size_t size;
    char *source;
    char *summary;
};

static void on_meta(struct cp_store *s, int status, void *arg)
{
    if (status != 0)
        cm_log_warn(CP_MGMT__MOD, "revision_meta_failed", "err=\"%s\"",
                    cp_store_strerror(status));
}

static void write_meta(struct cp_mgmt *m, uint64_t rev,
                       const struct store_op *op)
{
    json_t *j = json_pack("{s:I, s:I, s:I, s:s, s:s, s:s}", "rev",
                          (json_int_t)rev, "ts", (json_int_t)cp_mgmt__now_ms(),
                          "size", (json_int_t)op->size, "leader", m->node_id,
                          "source", op->source, "summary", op->summary);
    char *text = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL, id[48];

    snprintf(id, sizeof(id), "@rev:%llu", (unsigned long long)rev);
    if (text != NULL &&
        cp_store_heartbeat(m->store, id, CP_MGMT_ROLE_REVISION, text,
                           META_TTL_MS, on_meta, NULL) != 0)
        cm_log_warn(CP_MGMT__MOD, "revision_meta_failed", "rev=%llu",
                    (unsigned long long)rev);
    free(text);
    json_decref(j);
}

static void on_put(struct cp_store *s, int status, uint64_t rev, int replicas,
                   void *arg)
{
    struct store_op *op = arg;
    char msg[CM_ERR_LEN];

    msg[0] = '\0';
    if (rev > 0)
        write_meta(op->m, rev, op);
    if (status == CP_STORE_ENOREPLICA)
        snprintf(msg, sizeof(msg),
                 "revision %llu was written but no replica confirmed it "
                 "(%d confirmed); it may be lost if Redis fails over now",
                 (unsigned long long)rev, replicas);
    else if (status == CP_STORE_EUNSURE)
        snprintf(msg, sizeof(msg),
                 "revision %llu was written but a Redis failover began "
                 "before it was confirmed, so it may not have been kept; "
                 "apply again to be sure (that makes a new revision)",
                 (unsigned long long)rev);
    else if (status != 0)
        snprintf(msg, sizeof(msg),
                 "control node %s: writing the revision "
                 "failed: %s",
                 op->m->node_id, cp_store_strerror(status));
    if (status == 0)
        cm_log_info(CP_MGMT__MOD, "revision_written",
                    "rev=%llu source=\"%s\" "
                    "size=%zu replicas=%d",
                    (unsigned long long)rev, op->source, op->size, replicas);
    op->cb(op->arg, status, rev, msg);
    free(op->source);
    free(op->summary);
    free(op);
}

/* Returns new (free()): what <doc> changes against what this node serves,
 * one line ("" if it does not parse or on no memory). */
static char *doc_summary(const struct cp_mgmt *m, const char *doc, size_t len)
{
    char err[CM_ERR_LEN], line[512] = "";
    bool kept = m->kept_doc != NULL && len == m->kept_len &&
                memcmp(doc, m->kept_doc, len) == 0;
    if (kept && m->kept_summary != NULL)
        return strdup(m->kept_summary); /* made off the loop */
    struct cm_config *cfg =
        kept ? m->kept_cfg : cm_config_parse(doc, len, err, sizeof(err));
    struct cp_mgmt_diff d = {0};

    if (cfg != NULL && cp_mgmt_diff(m->cfg, cfg, &d) == 0)
        cp_mgmt_diff_summary(&d, line, sizeof(line));
    cp_mgmt_diff_deinit(&d);
    if (!kept)
        cm_config_free(cfg);
    return strdup(line);
}

int cp_mgmt_store_doc(struct cp_mgmt *m, const char *doc, size_t len,
                      const char *source, cp_mgmt_stored_cb cb, void *arg)
{
    struct store_op *op = calloc(1, sizeof(*op));
    int rc;

    if (op == NULL || (op->source = strdup(source)) == NULL ||
        (op->summary = doc_summary(m, doc, len)) == NULL) {
        if (op != NULL)
            free(op->source);
        free(op);
        return GW_ENOMEM;
    }
    op->m = m;
    op->cb = cb;
    op->arg = arg;
    op->size = len;
    rc = cp_store_put_revision(m->store, doc, len, on_put, op);
    if (rc != 0) {
        free(op->source);
        free(op->summary);
        free(op);
    }
    return rc;
}

/* ==== leader or forward ==== */

/* Called with a validated write: returns 1 when this node is the leader and
 * should store it; otherwise forwards or fails the job and returns 0. */
int cp_mgmt__leader_or_forward(struct cp_mgmt__job *job, protobuf_c_boolean fwd)
{
    struct cp_mgmt *m = job->m;
    const char *leader = cp_store_leader_id(m->store);

    if (cp_store_is_leader(m->store))
        return 1;
    if (!cp_store_connected(m->store)) {
        const char *at = cp_store_master(m->store);
        cp_mgmt__fail(job, GRPC_STATUS_UNAVAILABLE,
                      "control node %s: the store (Redis%s%s) is unreachable, "
                      "so no leader can be elected; retry once Redis is back",
                      m->node_id, *at != '\0' ? " at " : "", at);
        return 0;
    }
    if (fwd || leader == NULL || strcmp(leader, m->node_id) == 0) {
        cp_mgmt__fail(job, GRPC_STATUS_UNAVAILABLE,
                      "control node %s: no leader elected right now; retry "
                      "in a few seconds",
                      m->node_id);
        return 0;
    }
    cp_mgmt__forward(job);
    return 0;
}

grpc_status_code cp_mgmt__put_status(int status)
{
    switch (status) {
    case 0:
        return GRPC_STATUS_OK;
    case CP_STORE_ENOREPLICA:
    case CP_STORE_EUNSURE:
        return GRPC_STATUS_ABORTED;
    default:
        return GRPC_STATUS_UNAVAILABLE;
    }
}

/* ==== Apply ==== */

static void fill_diff(const struct cp_mgmt_diff *d, Traefikee__V1__KindDiff *kd,
                      Traefikee__V1__KindDiff **ptrs, size_t *n)
{
    *n = 0;
    for (int k = 0; k < CP_MGMT_NDIFF_KINDS; k++) {
        if (d->n[k][0] + d->n[k][1] + d->n[k][2] == 0)
            continue;
        traefikee__v1__kind_diff__init(&kd[k]);
        kd[k].kind = (char *)cp_mgmt_kind_name(k);
        kd[k].added = d->names[k][CP_MGMT_ADDED];
        kd[k].n_added = d->n[k][CP_MGMT_ADDED];
        kd[k].removed = d->names[k][CP_MGMT_REMOVED];
        kd[k].n_removed = d->n[k][CP_MGMT_REMOVED];
        kd[k].changed = d->names[k][CP_MGMT_CHANGED];
        kd[k].n_changed = d->n[k][CP_MGMT_CHANGED];
        ptrs[(*n)++] = &kd[k];
    }
}

static void apply_reply(struct cp_mgmt__job *job, uint64_t rev,
                        const char *leader)
{
    Traefikee__V1__ApplyResponse r = TRAEFIKEE__V1__APPLY_RESPONSE__INIT;
    Traefikee__V1__KindDiff kd[CP_MGMT_NDIFF_KINDS], *ptrs[CP_MGMT_NDIFF_KINDS];

    fill_diff(&job->diff, kd, ptrs, &r.n_diff);
    r.diff = ptrs;
    r.revision = rev;
    r.summary = &job->sum;
    r.base_revision = job->base_rev;
    r.leader_id = (char *)(leader != NULL ? leader : "");
    cp_mgmt__reply(job, GRPC_STATUS_OK, NULL, &r.base);
}

static void on_applied(void *arg, int status, uint64_t rev, const char *msg)
{
    struct cp_mgmt__job *job = arg;

    if (status != 0) {
        cp_mgmt__fail(job, cp_mgmt__put_status(status), "%s", msg);
        return;
    }
    if (job->new_json != NULL) /* the next apply diffs against it */
        base_cache(job->m, rev, job->new_json);
    apply_reply(job, rev, job->m->node_id);
}

static void apply_checked(struct cp_mgmt__job *job, int rc)
{
    struct cp_mgmt *m = job->m;
    Traefikee__V1__ApplyRequest *req = (Traefikee__V1__ApplyRequest *)job->msg;

    if (rc != 0) {
        cp_mgmt__fail(job, GRPC_STATUS_INVALID_ARGUMENT, "%s", job->check_err);
        return;
    }
    traefikee__v1__translation_summary__init(&job->sum);
    summarize(job);
    if (req->dry_run) {
        apply_reply(job, m->rev, NULL);
        return;
    }
    if (!cp_mgmt__leader_or_forward(job, req->forwarded))
        return;
    /* the diff is made: the model and translation go to the pipeline */
    cp_mgmt_keep_translation(m, job->doc, job->doc_len, job->cfg, job->res);
    m->kept_summary = strdup(job->summary);
    job->cfg = NULL;
    job->res = NULL;
    rc = cp_mgmt_store_doc(m, job->doc, job->doc_len, "apply", on_applied, job);
    if (rc != 0)
        cp_mgmt__fail(job, GRPC_STATUS_UNAVAILABLE,
                      "control node %s: cannot write: %s", m->node_id,
                      cp_store_strerror(rc));
}

void cp_mgmt__op_apply(struct cp_mgmt__job *job)
{
    Traefikee__V1__ApplyRequest *req;

    if (cp_mgmt__unpack(job, &traefikee__v1__apply_request__descriptor) != 0)
        return;
    req = (Traefikee__V1__ApplyRequest *)job->msg;
    job->doc = malloc(req->document.len + 1);
    if (job->doc == NULL) {
        cp_mgmt__fail(job, GRPC_STATUS_RESOURCE_EXHAUSTED, "no memory");
        return;
    }
    memcpy(job->doc, req->document.data, req->document.len);
    job->doc[req->document.len] = '\0';
    job->doc_len = req->document.len;
    cm_log_debug(CP_MGMT__MOD, "apply_received", "bytes=%zu dry_run=%d",
                 job->doc_len, (int)req->dry_run);
    check_async(job, apply_checked);
}

/* ==== Delete and Rollback: read, change, store ==== */

static void on_written(void *arg, int status, uint64_t rev, const char *msg)
{
    struct cp_mgmt__job *job = arg;
    Traefikee__V1__DeleteResponse d = TRAEFIKEE__V1__DELETE_RESPONSE__INIT;
    Traefikee__V1__RollbackResponse r = TRAEFIKEE__V1__ROLLBACK_RESPONSE__INIT;

    if (status != 0) {
        cp_mgmt__fail(job, cp_mgmt__put_status(status), "%s", msg);
        return;
    }
    d.revision = r.revision = rev;
    cp_mgmt__reply(job, GRPC_STATUS_OK, NULL,
                   job->method == CP_MGMT__DELETE ? &d.base : &r.base);
}

static void write_checked(struct cp_mgmt__job *job, int rc)
{
    if (rc != 0) {
        cp_mgmt__fail(job, GRPC_STATUS_FAILED_PRECONDITION,
                      "the resulting configuration is invalid: %s",
                      job->check_err);
        return;
    }
    cp_mgmt_keep_translation(job->m, job->doc, job->doc_len, job->cfg,
                             job->res);
    job->m->kept_summary = strdup(job->summary);
    job->cfg = NULL;
    job->res = NULL;
    rc = cp_mgmt_store_doc(job->m, job->doc, job->doc_len, job->source,
                           on_written, job);
    if (rc != 0)
        cp_mgmt__fail(job, GRPC_STATUS_UNAVAILABLE,
                      "control node %s: cannot write: %s", job->m->node_id,
                      cp_store_strerror(rc));
}

/* Validates <doc> (takes it: malloc'd) and stores it with <source>. */
static void write_doc(struct cp_mgmt__job *job, char *doc, size_t len)
{
    free(job->doc);
    job->doc = doc;
    job->doc_len = len;
    cm_config_free(job->cfg); /* Delete parsed the current revision */
    job->cfg = NULL;
    check_async(job, write_checked);
}

static void on_delete_current(struct cp_store *s, int status, uint64_t rev,
                              const char *doc, size_t len, void *arg)
{
    struct cp_mgmt__job *job = arg;
    Traefikee__V1__DeleteRequest *req =
        (Traefikee__V1__DeleteRequest *)job->msg;
    int kind = cp_mgmt_kind_parse(req->kind), rc;
    char err[CM_ERR_LEN], *out;

    if (status == GW_ENOENT) {
        cp_mgmt__fail(job, GRPC_STATUS_NOT_FOUND,
                      "%s \"%s\" not found: no configuration applied yet",
                      cp_mgmt_kind_singular(kind), req->name);
        return;
    }
    if (status != 0) {
        cp_mgmt__fail(job, GRPC_STATUS_UNAVAILABLE,
                      "control node %s: store unavailable: %s", job->m->node_id,
                      cp_store_strerror(status));
        return;
    }
    job->cfg = cm_config_parse(doc, len, err, sizeof(err));
    if (job->cfg == NULL) {
        cp_mgmt__fail(job, GRPC_STATUS_DATA_LOSS,
                      "revision %llu does not parse: %s",
                      (unsigned long long)rev, err);
        return;
    }
    rc = cp_mgmt_delete(job->cfg, kind, req->name, &out, err, sizeof(err));
    if (rc != 0) {
        cp_mgmt__fail(job,
                      rc == GW_ENOENT   ? GRPC_STATUS_NOT_FOUND
                      : rc == GW_EINVAL ? GRPC_STATUS_FAILED_PRECONDITION
                                        : GRPC_STATUS_RESOURCE_EXHAUSTED,
                      "%s", err);
        return;
    }
    write_doc(job, out, strlen(out));
}

void cp_mgmt__op_delete(struct cp_mgmt__job *job)
{
    Traefikee__V1__DeleteRequest *req;
    char src[300];
    int kind, rc;

    if (cp_mgmt__unpack(job, &traefikee__v1__delete_request__descriptor) != 0)
        return;
    req = (Traefikee__V1__DeleteRequest *)job->msg;
    kind = cp_mgmt_kind_parse(req->kind);
    if (kind < 0 || kind > CP_MGMT_KIND_MIDDLEWARES) {
        cp_mgmt__fail(job, GRPC_STATUS_INVALID_ARGUMENT,
                      "cannot delete \"%s\": the kind must be routers, "
                      "services or middlewares",
                      req->kind);
        return;
    }
    if (req->name[0] == '\0') {
        cp_mgmt__fail(job, GRPC_STATUS_INVALID_ARGUMENT, "a name is required");
        return;
    }
    if (!cp_mgmt__leader_or_forward(job, req->forwarded))
        return;
    snprintf(src, sizeof(src), "delete %s %s", cp_mgmt_kind_singular(kind),
             req->name);
    job->source = strdup(src);
    rc = job->source != NULL
             ? cp_store_get_current(job->m->store, on_delete_current, job)
             : GW_ENOMEM;
    if (rc != 0)
        cp_mgmt__fail(job, GRPC_STATUS_UNAVAILABLE,
                      "control node %s: store unavailable: %s", job->m->node_id,
                      cp_store_strerror(rc));
}

static void on_rollback_doc(struct cp_store *s, int status, uint64_t rev,
                            const char *doc, size_t len, void *arg)
{
    struct cp_mgmt__job *job = arg;
    Traefikee__V1__RollbackRequest *req =
        (Traefikee__V1__RollbackRequest *)job->msg;
    char *copy;

    if (status == GW_ENOENT) {
        cp_mgmt__fail(job, GRPC_STATUS_NOT_FOUND,
                      "revision %llu is not kept any more (see traefikeectl "
                      "history)",
                      (unsigned long long)req->revision);
        return;
    }
    if (status != 0) {
        cp_mgmt__fail(job, GRPC_STATUS_UNAVAILABLE,
                      "control node %s: store unavailable: %s", job->m->node_id,
                      cp_store_strerror(status));
        return;
    }
    copy = malloc(len + 1);
    if (copy == NULL) {
        cp_mgmt__fail(job, GRPC_STATUS_RESOURCE_EXHAUSTED, "no memory");
        return;
    }
    memcpy(copy, doc, len);
    copy[len] = '\0';
    write_doc(job, copy, len);
}

void cp_mgmt__op_rollback(struct cp_mgmt__job *job)
{
    Traefikee__V1__RollbackRequest *req;
    char src[64];
    int rc;

    if (cp_mgmt__unpack(job, &traefikee__v1__rollback_request__descriptor) != 0)
        return;
    req = (Traefikee__V1__RollbackRequest *)job->msg;
    if (req->revision == 0) {
        cp_mgmt__fail(job, GRPC_STATUS_INVALID_ARGUMENT,
                      "a revision number (1 or more) is required");
        return;
    }
    if (!cp_mgmt__leader_or_forward(job, req->forwarded))
        return;
    snprintf(src, sizeof(src), "rollback to %llu",
             (unsigned long long)req->revision);
    job->source = strdup(src);
    rc = job->source != NULL
             ? cp_store_get_revision(job->m->store, req->revision,
                                     on_rollback_doc, job)
             : GW_ENOMEM;
    if (rc != 0)
        cp_mgmt__fail(job, GRPC_STATUS_UNAVAILABLE,
                      "control node %s: store unavailable: %s", job->m->node_id,
                      cp_store_strerror(rc));
}

/* ==== SetAdminHash ==== */

static void on_admin_set(struct cp_store *s, int status, void *arg)
{
    struct cp_mgmt__job *job = arg;
    struct cp_mgmt *m = job->m;
    Traefikee__V1__SetAdminHashRequest *req =
        (Traefikee__V1__SetAdminHashRequest *)job->msg;
    Traefikee__V1__SetAdminHashResponse r =
        TRAEFIKEE__V1__SET_ADMIN_HASH_RESPONSE__INIT;

    if (status == 0 || status == CP_STORE_ENOREPLICA) {
        /* written on the master either way: it is in force (not so after
         * CP_STORE_EUNSURE: a failover may drop it) */
        if (m->on_admin_hash != NULL)
            m->on_admin_hash(m->on_admin_hash_arg, req->hash);
        cp_mgmt_event(m, "admin_password_changed", m->node_id, 0, NULL);
    }
    if (status == CP_STORE_ENOREPLICA) {
        cp_mgmt__fail(job, GRPC_STATUS_ABORTED,
                      "the new password hash was written but no replica "
                      "confirmed it; it may be lost if Redis fails over now");
        return;
    }
    if (status == CP_STORE_EUNSURE) {
        cp_mgmt__fail(job, GRPC_STATUS_ABORTED,
                      "the new password hash was written but a Redis "
                      "failover began before it was confirmed, so it may not "
                      "have been kept; set it again");
        return;
    }
    if (status != 0) {
        cp_mgmt__fail(job, cp_mgmt__put_status(status),
                      "control node %s: writing the password hash failed: %s",
                      m->node_id, cp_store_strerror(status));
        return;
    }
    r.leader_id = m->node_id;
    cp_mgmt__reply(job, GRPC_STATUS_OK, NULL, &r.base);
}

void cp_mgmt__op_set_admin_hash(struct cp_mgmt__job *job)
{
    Traefikee__V1__SetAdminHashRequest *req;
    struct cp_auth_hash parsed;
    int rc;

    if (cp_mgmt__unpack(
            job, &traefikee__v1__set_admin_hash_request__descriptor) != 0)
        return;
    req = (Traefikee__V1__SetAdminHashRequest *)job->msg;
    if (strlen(req->hash) >= CP_AUTH_HASH_MAX ||
        cp_auth_parse(req->hash, &parsed) != 0) {
        cp_mgmt__fail(job, GRPC_STATUS_INVALID_ARGUMENT,
                      "not a password hash this cluster accepts (expected "
                      "$scrypt$... or $pbkdf2-sha256$... within bounds)");
        return;
    }
    if (!cp_mgmt__leader_or_forward(job, req->forwarded))
        return;
    rc =
        cp_store_set_admin_hash(job->m->store, req->hash, 0, on_admin_set, job);
    if (rc != 0)
        cp_mgmt__fail(job, GRPC_STATUS_UNAVAILABLE,
                      "control node %s: cannot write: %s", job->m->node_id,
                      cp_store_strerror(rc));
}
