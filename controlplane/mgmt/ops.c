/*
 * ops.c -- the read operations of the management API, on the store's loop:
 * Version, ListNodes (from the node heartbeats), Get (from the current
 * revision) and History (kept revisions plus their metadata). Each takes a
 * job and finishes it exactly once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config/config.h"
#include "common/log/log.h"
#include "common/version/version.h"
#include "controlplane/mgmt/mgmt_int.h"
#include "controlplane/store/store.h"

/* A heartbeat is fresh while younger than this. */
#define HEALTHY_MS 3000

static void fail_store(struct cp_mgmt__job *job, int rc)
{
    cp_mgmt__fail(job, GRPC_STATUS_UNAVAILABLE,
                  "control node %s: store unavailable: %s", job->m->node_id,
                  cp_store_strerror(rc));
}

/* ==== Version ==== */

void cp_mgmt__op_version(struct cp_mgmt__job *job)
{
    Traefikee__V1__VersionResponse r = TRAEFIKEE__V1__VERSION_RESPONSE__INIT;
    const char *leader = cp_store_leader_id(job->m->store);

    r.version = CM_VERSION;
    r.commit = (char *)cm_version_commit();
    r.node_id = job->m->node_id;
    r.role = TRAEFIKEE__V1__ROLE__CONTROL;
    r.leader_id = (char *)(leader != NULL ? leader : "");
    r.revision = job->m->rev;
    cp_mgmt__reply(job, GRPC_STATUS_OK, NULL, &r.base);
}

/* ==== ListNodes ==== */

static const char *jstr(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s != NULL ? s : "";
}

static uint64_t jnum(json_t *o, const char *key)
{
    json_int_t v = json_integer_value(json_object_get(o, key));
    return v > 0 ? (uint64_t)v : 0;
}

static int cmp_node(const void *a, const void *b)
{
    const Traefikee__V1__NodeInfo *x = *(Traefikee__V1__NodeInfo *const *)a;
    const Traefikee__V1__NodeInfo *y = *(Traefikee__V1__NodeInfo *const *)b;

    if (x->role != y->role)
        return x->role < y->role ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* Fills <ni> from one heartbeat; strings borrowed from <hb>/<info>. */
static int fill_node(Traefikee__V1__NodeInfo *ni,
                     const struct cp_store_node *hb, json_t *info,
                     const char *leader, int64_t now)
{
    int64_t ts = (int64_t)jnum(info, "ts");
    const char *addr;

    traefikee__v1__node_info__init(ni);
    ni->name = (char *)hb->id;
    ni->heartbeat_age_ms = ts > 0 && now > ts ? (uint64_t)(now - ts) : 0;
    ni->healthy = ts > 0 && now - ts < HEALTHY_MS;
    ni->revision = jnum(info, "revision");
    ni->version = (char *)jstr(info, "version");
    if (strcmp(hb->role, CP_MGMT_ROLE_CONTROL) == 0) {
        ni->role = TRAEFIKEE__V1__ROLE__CONTROL;
        ni->leader = leader != NULL && strcmp(leader, hb->id) == 0;
        ni->address = (char *)jstr(info, "grpc");
        return 1;
    }
    if (strcmp(hb->role, CP_MGMT_ROLE_DATA) == 0) {
        ni->role = TRAEFIKEE__V1__ROLE__DATA;
        addr = jstr(info, "peer");
        if (strncmp(addr, "ipv4:", 5) == 0 || strncmp(addr, "ipv6:", 5) == 0)
            addr += 5;
        ni->address = (char *)addr;
        ni->cluster = (char *)jstr(info, "cluster");
        ni->last_nack = (char *)jstr(info, "nack");
        ni->control_node = (char *)jstr(info, "control");
        return 1;
    }
    return 0; /* revision metadata and others */
}

static void on_nodes(struct cp_store *s, int status,
                     const struct cp_store_node *nodes, size_t n, void *arg)
{
    struct cp_mgmt__job *job = arg;
    Traefikee__V1__ListNodesResponse r =
        TRAEFIKEE__V1__LIST_NODES_RESPONSE__INIT;
    Traefikee__V1__NodeInfo *infos = NULL, **ptrs = NULL;
    json_t **js = NULL;
    const char *leader = cp_store_leader_id(s);
    int64_t now = cp_mgmt__now_ms();
    size_t k = 0;

    if (status != 0) {
        fail_store(job, status);
        return;
    }
    infos = calloc(n + 1, sizeof(*infos));
    ptrs = calloc(n + 1, sizeof(*ptrs));
    js = calloc(n + 1, sizeof(*js));
    if (infos == NULL || ptrs == NULL || js == NULL) {
        cp_mgmt__fail(job, GRPC_STATUS_RESOURCE_EXHAUSTED, "no memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        js[i] = json_loads(nodes[i].info, 0, NULL);
        if (fill_node(&infos[k], &nodes[i], js[i], leader, now))
            ptrs[k] = &infos[k], k++;
    }
    qsort(ptrs, k, sizeof(*ptrs), cmp_node);
    r.nodes = ptrs;
    r.n_nodes = k;
    cp_mgmt__reply(job, GRPC_STATUS_OK, NULL, &r.base);
out:
    for (size_t i = 0; js != NULL && i < n; i++)
        json_decref(js[i]);
    free(js);
    free(ptrs);
    free(infos);
}

void cp_mgmt__op_list_nodes(struct cp_mgmt__job *job)
{
    int rc = cp_store_list_nodes(job->m->store, on_nodes, job);

    if (rc != 0)
        fail_store(job, rc);
}

/* ==== Get ==== */

static void get_reply(struct cp_mgmt__job *job, uint64_t rev,
                      const struct cm_config *cfg)
{
    Traefikee__V1__GetRequest *req = (Traefikee__V1__GetRequest *)job->msg;
    Traefikee__V1__GetResponse r = TRAEFIKEE__V1__GET_RESPONSE__INIT;
    int kind = cp_mgmt_kind_parse(req->kind), rc;
    json_t *j = cp_mgmt_select(cfg, kind, req->name, &rc);
    char *text;

    if (rc == GW_ENOENT) {
        cp_mgmt__fail(
            job, GRPC_STATUS_NOT_FOUND, "%s \"%s\" not found in revision %llu",
            cp_mgmt_kind_singular(kind), req->name, (unsigned long long)rev);
        return;
    }
    text =
        j != NULL ? json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    json_decref(j);
    if (text == NULL) {
        cp_mgmt__fail(job, GRPC_STATUS_RESOURCE_EXHAUSTED, "no memory");
        return;
    }
    r.revision = rev;
    r.document.data = (uint8_t *)text;
    r.document.len = strlen(text);
    cp_mgmt__reply(job, GRPC_STATUS_OK, NULL, &r.base);
    free(text);
}

static void on_get_current(struct cp_store *s, int status, uint64_t rev,
                           const char *doc, size_t len, void *arg)
{
    struct cp_mgmt__job *job = arg;
    char err[CM_ERR_LEN];

    if (status == GW_ENOENT) {
        get_reply(job, 0, NULL);
        return;
    }
    if (status != 0) {
        fail_store(job, status);
        return;
    }
    job->cfg = cm_config_parse(doc, len, err, sizeof(err));
    if (job->cfg == NULL) {
        cp_mgmt__fail(job, GRPC_STATUS_DATA_LOSS,
                      "revision %llu does not parse: %s",
                      (unsigned long long)rev, err);
        return;
    }
    get_reply(job, rev, job->cfg);
}

void cp_mgmt__op_get(struct cp_mgmt__job *job)
{
    Traefikee__V1__GetRequest *req;
    int rc;

    if (cp_mgmt__unpack(job, &traefikee__v1__get_request__descriptor) != 0)
        return;
    req = (Traefikee__V1__GetRequest *)job->msg;
    if (cp_mgmt_kind_parse(req->kind) < 0) {
        cp_mgmt__fail(job, GRPC_STATUS_INVALID_ARGUMENT,
                      "unknown resource kind \"%s\" (routers, services, "
                      "middlewares, entrypoints, config)",
                      req->kind);
        return;
    }
    /* read the store, so a node answers with what was just written even
     * before its own reload; fall back to what it serves */
    rc = cp_store_get_current(job->m->store, on_get_current, job);
    if (rc != 0)
        get_reply(job, job->m->rev, job->m->cfg);
}

/* ==== History ==== */

struct hist_ctx {
    uint64_t *revs;
    size_t n;
};

static void on_metas(struct cp_store *s, int status,
                     const struct cp_store_node *nodes, size_t n, void *arg)
{
    struct cp_mgmt__job *job = arg;
    struct hist_ctx *h = (struct hist_ctx *)job->doc;
    Traefikee__V1__HistoryResponse r = TRAEFIKEE__V1__HISTORY_RESPONSE__INIT;
    Traefikee__V1__RevisionInfo *infos = calloc(h->n + 1, sizeof(*infos));
    Traefikee__V1__RevisionInfo **ptrs = calloc(h->n + 1, sizeof(*ptrs));
    json_t **js = calloc(n + 1, sizeof(*js));

    job->doc = NULL; /* <h> is freed below */
    if (infos == NULL || ptrs == NULL || js == NULL) {
        cp_mgmt__fail(job, GRPC_STATUS_RESOURCE_EXHAUSTED, "no memory");
        goto out;
    }
    for (size_t i = 0; i < h->n; i++) {
        traefikee__v1__revision_info__init(&infos[i]);
        infos[i].revision = h->revs[i];
        ptrs[i] = &infos[i];
    }
    for (size_t j = 0; status == 0 && j < n; j++) {
        if (strcmp(nodes[j].role, CP_MGMT_ROLE_REVISION) != 0)
            continue;
        js[j] = json_loads(nodes[j].info, 0, NULL);
        for (size_t i = 0; i < h->n; i++) {
            if (jnum(js[j], "rev") != h->revs[i])
                continue;
            infos[i].time_ms = (int64_t)jnum(js[j], "ts");
            infos[i].size = jnum(js[j], "size");
            infos[i].leader_id = (char *)jstr(js[j], "leader");
            infos[i].source = (char *)jstr(js[j], "source");
            infos[i].summary = (char *)jstr(js[j], "summary");
        }
    }
    r.current = h->n > 0 ? h->revs[0] : 0;
    r.revisions = ptrs;
    r.n_revisions = h->n;
    cp_mgmt__reply(job, GRPC_STATUS_OK, NULL, &r.base);
out:
    for (size_t j = 0; js != NULL && j < n; j++)
        json_decref(js[j]);
    free(js);
    free(ptrs);
    free(infos);
    free(h->revs);
    free(h);
}

static void on_revs(struct cp_store *s, int status, const uint64_t *revs,
                    size_t n, void *arg)
{
    struct cp_mgmt__job *job = arg;
    struct hist_ctx *h;
    int rc;

    if (status != 0) {
        fail_store(job, status);
        return;
    }
    h = calloc(1, sizeof(*h));
    if (h == NULL || (h->revs = calloc(n + 1, sizeof(*revs))) == NULL) {
        free(h);
        cp_mgmt__fail(job, GRPC_STATUS_RESOURCE_EXHAUSTED, "no memory");
        return;
    }
    memcpy(h->revs, revs, n * sizeof(*revs));
    h->n = n;
    job->doc = (char *)h; /* borrowed slot; freed by on_metas */
    rc = cp_store_list_nodes(s, on_metas, job);
    if (rc != 0) {
        job->doc = NULL;
        free(h->revs);
        free(h);
        fail_store(job, rc);
    }
}

void cp_mgmt__op_history(struct cp_mgmt__job *job)
{
    int rc = cp_store_list_revisions(job->m->store, on_revs, job);

    if (rc != 0)
        fail_store(job, rc);
}
