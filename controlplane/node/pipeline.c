/*
 * pipeline.c -- from the store's current revision to the xDS server: read
 * the document, parse, translate with the revision as version, build an
 * immutable snapshot and publish it (cp_xds_server_set_snapshot() returns at
 * once), then hand the model to the management API. The leader reuses the
 * model and translation it made when it validated the document it stored
 * (cp_mgmt_take_translation()); parsing and translating (otherwise) and
 * encoding the snapshot run on the libuv thread pool, off the loop (lease
 * renewals must not wait). One
 * load at a time; a change during a load triggers one more. Loop thread,
 * except work_cb.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/config/config.h"
#include "common/log/log.h"
#include "common/xds/xds.h"
#include "controlplane/node/node_int.h"

static const enum cp_xds_type xds_type[CM_XDS_NTYPES] = {
    [CM_XDS_LISTENER] = CP_XDS_LISTENER, [CM_XDS_ROUTE] = CP_XDS_ROUTE,
    [CM_XDS_CLUSTER] = CP_XDS_CLUSTER,   [CM_XDS_ENDPOINT] = CP_XDS_ENDPOINT,
    [CM_XDS_SECRET] = CP_XDS_SECRET,
};

/* Part of a snapshot to encode: the resources of some types. */
struct encode_part {
    struct cp_xds_snapshot *snap;
    const struct cm_xds_resources *res;
    unsigned types; /* 1 << cm_xds_type each */
    int rc;
};

static void encode_part(struct encode_part *p)
{
    const struct cm_xds_resources *res = p->res;

    for (int t = 0; p->rc == 0 && t < CM_XDS_NTYPES; t++)
        for (size_t i = 0;
             (p->types & 1u << t) && p->rc == 0 && i < cm_xds_count(res, t);
             i++)
            p->rc = cp_xds_snapshot_add(p->snap, xds_type[t],
                                        cm_xds_name(res, t, i),
                                        cm_xds_get(res, t, i));
}

static void *encode_thread(void *arg)
{
    encode_part(arg);
    return NULL;
}

/* The snapshot of <res> (borrowed): returns new or NULL with <err>.
 * Packing is most of the work: the route configurations (one holds every
 * route of an entry point) are packed on a second thread meanwhile the
 * other types are (types are independent sets of the snapshot). */
static struct cp_xds_snapshot *snapshot_of(const struct cm_xds_resources *res,
                                           const char *version, char *err,
                                           size_t errlen)
{
    struct cp_xds_snapshot *snap = cp_xds_snapshot_new(version);
    unsigned all = (1u << CM_XDS_NTYPES) - 1, routes = 1u << CM_XDS_ROUTE;
    struct encode_part a = {snap, res, routes, 0};
    struct encode_part b = {snap, res, all & ~routes, 0};
    pthread_t th;
    bool threaded = false;
    int rc;

    if (snap != NULL) {
        threaded = pthread_create(&th, NULL, encode_thread, &a) == 0;
        if (!threaded)
            encode_part(&a);
        encode_part(&b);
    }
    if (threaded)
        pthread_join(th, NULL);
    rc = a.rc != 0 ? a.rc : b.rc;
    if (snap == NULL || rc != 0) {
        cp_xds_snapshot_put(snap);
        cm_err_set(err, errlen, GW_ENOMEM, "cannot build the snapshot: %s",
                   cm_err_str(rc != 0 ? rc : GW_ENOMEM));
        return NULL;
    }
    return snap;
}

struct cp_xds_snapshot *cp_node_snapshot(const struct cm_config *cfg,
                                         const char *version, char *err,
                                         size_t errlen)
{
    struct cm_xds_resources *res = cm_xds_translate(cfg, version, err, errlen);
    struct cp_xds_snapshot *snap =
        res != NULL ? snapshot_of(res, version, err, errlen) : NULL;

    cm_xds_resources_free(res);
    return snap;
}

void cp_node__publish_empty(struct cp_node *n)
{
    struct cp_xds_snapshot *snap = cp_xds_snapshot_new("0");

    if (snap != NULL) {
        cp_xds_server_set_snapshot(n->xds, snap);
        cp_xds_snapshot_put(snap);
    }
}

static void load(struct cp_node *n);

static void loaded(struct cp_node *n)
{
    n->loading = false;
    if (n->load_again && !n->stopping) {
        n->load_again = false;
        load(n);
    }
}

/* One revision on its way to the xDS server. */
struct load_job {
    uv_work_t req;
    struct cp_node *n;
    uint64_t rev;
    uint64_t hash; /* FNV-1a of doc */
    char version[24];
    char *doc; /* copy */
    size_t len;
    struct cm_config *cfg;        /* kept by mgmt, or parsed by work_cb */
    struct cm_xds_resources *res; /* kept by mgmt, or made by work_cb */
    struct cp_xds_snapshot *snap; /* result, or NULL with err */
    char *api_eps; /* cp_node__api_endpoints() when queued, or NULL */
    char *api_ca;  /* secure mode: a copy of the cluster CA, else NULL */
    char err[CM_ERR_LEN];
    bool kept;   /* the model and translation were the leader's */
    uint64_t t0; /* uv_hrtime() when the document arrived */
};

static void job_free(struct load_job *j)
{
    cm_xds_resources_free(j->res);
    cm_config_free(j->cfg);
    cp_xds_snapshot_put(j->snap);
    free(j->api_eps);
    free(j->api_ca);
    free(j->doc);
    free(j);
}

/* Parses and translates what was not kept, then builds the snapshot. */
static void build(struct load_job *j)
{
    uint64_t t0 = uv_hrtime(), t1, t2;
    struct timespec c0, c1;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);

    if (j->cfg == NULL)
        j->cfg = cm_config_parse(j->doc, j->len, j->err, sizeof(j->err));
    t1 = uv_hrtime();
    if (j->cfg != NULL && j->res == NULL)
        j->res = cm_xds_translate(j->cfg, j->version, j->err, sizeof(j->err));
    t2 = uv_hrtime();
    if (j->res != NULL)
        j->snap = snapshot_of(j->res, j->version, j->err, sizeof(j->err));
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
    cm_log_debug(CP_NODE__MOD, "timing",
                 "rev=%s queued_us=%llu parse_us=%llu translate_us=%llu "
                 "snapshot_us=%llu cpu_us=%lld",
                 j->version, (unsigned long long)((t0 - j->t0) / 1000),
                 (unsigned long long)((t1 - t0) / 1000),
                 (unsigned long long)((t2 - t1) / 1000),
                 (unsigned long long)((uv_hrtime() - t2) / 1000),
                 (long long)(c1.tv_sec - c0.tv_sec) * 1000000 +
                     (c1.tv_nsec - c0.tv_nsec) / 1000);
    if (cp_node__api_used(j->snap) &&
        cp_node__api_add(j->snap, j->api_eps != NULL ? j->api_eps : "") != 0) {
        cp_xds_snapshot_put(j->snap);
        j->snap = NULL;
        cm_err_set(j->err, sizeof(j->err), GW_ENOMEM,
                   "cannot add the api@internal endpoints");
    }
    if (j->snap != NULL && cp_node__api_tls(&j->snap, j->api_ca) != 0) {
        cp_xds_snapshot_put(j->snap);
        j->snap = NULL;
        cm_err_set(j->err, sizeof(j->err), GW_ENOMEM,
                   "cannot put api@internal over TLS");
    }
    cm_xds_resources_free(j->res);
    j->res = NULL;
}

static void work_cb(uv_work_t *req)
{
    build(req->data);
}

/* Loop thread: publishes what build() made. */
static void publish(struct load_job *j)
{
    struct cp_node *n = j->n;

    if (n->stopping) {
        job_free(j);
        loaded(n);
        return;
    }
    if (j->snap == NULL) {
        /* the leader validated it: a newer binary wrote it, or a bug */
        cm_log_error(CP_NODE__MOD, "revision_rejected", "rev=%s err=\"%s\"",
                     j->version, j->err);
        n->served = j->rev; /* do not retry the same document */
        n->served_hash = j->hash;
        job_free(j);
        loaded(n);
        return;
    }
    cp_xds_server_set_snapshot(n->xds, j->snap);
    cp_xds_snapshot_put(n->published);
    n->published = cp_xds_snapshot_get(j->snap);
    free(n->api_eps);
    n->api_eps = cp_node__api_used(j->snap) ? j->api_eps : NULL;
    if (n->api_eps != NULL)
        j->api_eps = NULL;
    n->api_gen = 0;
    cm_log_info(CP_NODE__MOD, "revision_loaded", "rev=%s kept=%d ms=%llu",
                j->version, j->kept,
                (unsigned long long)((uv_hrtime() - j->t0) / 1000000));
    n->served = j->rev;
    n->served_hash = j->hash;
    cp_mgmt_set_current(n->mgmt, j->rev, j->doc, j->len, j->cfg);
    j->cfg = NULL;
    cp_mgmt_event(n->mgmt, "revision_applied", n->flags->node_id, j->rev, NULL);
    cp_node__view_revision(n, j->rev);
    job_free(j);
    loaded(n);
}

static void after_work_cb(uv_work_t *req, int status)
{
    (void)status; /* cancelled: nothing was built, publish() reports it */
    publish(req->data);
}

static uint64_t doc_hash(const char *doc, size_t len)
{
    uint64_t h = 14695981039346656037ULL;

    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)doc[i]) * 1099511628211ULL;
    return h;
}

/* Loads the current revision unless it is exactly what is served. Not
 * "newer only": a Redis failover can drop a revision this node already
 * loaded, and the cluster's current one is then lower or different. */
static void on_current(struct cp_store *s, int status, uint64_t rev,
                       const char *doc, size_t len, void *arg)
{
    struct cp_node *n = arg;
    struct load_job *j;

    if (status != 0 ||
        (rev == n->served && doc_hash(doc, len) == n->served_hash)) {
        if (status != 0 && status != GW_ENOENT && status != UV_ECANCELED)
            cm_log_warn(CP_NODE__MOD, "load_failed", "err=\"%s\"",
                        cp_store_strerror(status));
        loaded(n);
        return;
    }
    j = calloc(1, sizeof(*j));
    if (j == NULL || (j->doc = malloc(len + 1)) == NULL) {
        free(j);
        cm_log_warn(CP_NODE__MOD, "load_failed", "err=\"out of memory\"");
        loaded(n);
        return;
    }
    memcpy(j->doc, doc, len);
    j->doc[len] = '\0';
    j->len = len;
    j->n = n;
    j->rev = rev;
    j->hash = doc_hash(doc, len);
    j->t0 = uv_hrtime();
    j->req.data = j;
    snprintf(j->version, sizeof(j->version), "%llu", (unsigned long long)rev);
    j->api_eps = cp_node__api_endpoints(n);
    if (!n->flags->insecure && n->creds.ca != NULL)
        j->api_ca = strdup(n->creds.ca); /* NULL: published without TLS */
    /* this node stored it: only the snapshot is left to build */
    j->kept = cp_mgmt_take_translation(n->mgmt, doc, len, &j->cfg, &j->res);
    if (uv_queue_work(n->loop, &j->req, work_cb, after_work_cb) != 0) {
        build(j);
        publish(j);
    }
}

static void load(struct cp_node *n)
{
    int rc = cp_store_get_current(n->store, on_current, n);

    if (rc != 0) {
        cm_log_warn(CP_NODE__MOD, "load_failed", "err=\"%s\"",
                    cp_store_strerror(rc));
        return; /* the re-read after the next reconnect retries */
    }
    n->loading = true;
}

void cp_node__revision_changed(struct cp_node *n)
{
    if (n->stopping)
        return;
    if (n->loading) {
        n->load_again = true;
        return;
    }
    load(n);
}
