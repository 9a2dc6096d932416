/*
 * pipeline.c -- from the store's current revision to the xDS server: read
 * the document, parse, translate with the revision as version, build an
 * immutable snapshot and publish it (cp_xds_server_set_snapshot() is
 * thread-safe), then hand the model to the management API. One load at a
 * time; a change during a load triggers one more. Loop thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config/config.h"
#include "common/log/log.h"
#include "common/xds/xds.h"
#include "controlplane/node/node_int.h"

static const enum cp_xds_type xds_type[CM_XDS_NTYPES] = {
    [CM_XDS_LISTENER] = CP_XDS_LISTENER,
    [CM_XDS_ROUTE] = CP_XDS_ROUTE,
    [CM_XDS_CLUSTER] = CP_XDS_CLUSTER,
    [CM_XDS_ENDPOINT] = CP_XDS_ENDPOINT,
    [CM_XDS_SECRET] = CP_XDS_SECRET,
};

struct cp_xds_snapshot *cp_node_snapshot(const struct cm_config *cfg,
                                         const char *version, char *err,
                                         size_t errlen)
{
    struct cm_xds_resources *res;
    struct cp_xds_snapshot *snap;
    int rc = 0;

    res = cm_xds_translate(cfg, version, err, errlen);
    if (res == NULL)
        return NULL;
    snap = cp_xds_snapshot_new(version);
    for (int t = 0; snap != NULL && rc == 0 && t < CM_XDS_NTYPES; t++)
        for (size_t i = 0; rc == 0 && i < cm_xds_count(res, t); i++)
            rc = cp_xds_snapshot_add(snap, xds_type[t], cm_xds_name(res, t, i),
                                     cm_xds_get(res, t, i));
    cm_xds_resources_free(res);
    if (snap == NULL || rc != 0) {
        cp_xds_snapshot_put(snap);
        cm_err_set(err, errlen, GW_ENOMEM, "cannot build the snapshot: %s",
                   cm_err_str(rc != 0 ? rc : GW_ENOMEM));
        return NULL;
    }
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

static void on_current(struct cp_store *s, int status, uint64_t rev,
                       const char *doc, size_t len, void *arg)
{
    struct cp_node *n = arg;
    char err[CM_ERR_LEN], version[24];
    struct cp_xds_snapshot *snap;
    struct cm_config *cfg;

    if (status != 0 || rev <= n->served) {
        if (status != 0 && status != GW_ENOENT && status != UV_ECANCELED)
            cm_log_warn(CP_NODE__MOD, "load_failed", "err=\"%s\"",
                        cp_store_strerror(status));
        loaded(n);
        return;
    }
    cfg = cm_config_parse(doc, len, err, sizeof(err));
    snprintf(version, sizeof(version), "%llu", (unsigned long long)rev);
    snap =
        cfg != NULL ? cp_node_snapshot(cfg, version, err, sizeof(err)) : NULL;
    if (snap == NULL) {
        /* the leader validated it: a newer binary wrote it, or a bug */
        cm_log_error(CP_NODE__MOD, "revision_rejected", "rev=%s err=\"%s\"",
                     version, err);
        cm_config_free(cfg);
        n->served = rev; /* do not retry the same document */
        loaded(n);
        return;
    }
    cp_xds_server_set_snapshot(n->xds, snap);
    cp_xds_snapshot_put(snap);
    n->served = rev;
    cp_mgmt_set_current(n->mgmt, rev, doc, len, cfg);
    cp_mgmt_event(n->mgmt, "revision_applied", n->flags->node_id, rev, NULL);
    cp_node__view_revision(n, rev);
    loaded(n);
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
