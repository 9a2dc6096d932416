/*
 * heartbeat.c -- every second: this control node's heartbeat, one for each
 * data node connected to its xDS server (so ListNodes on any control node
 * sees every node), then a listing of all heartbeats to report nodes that
 * joined or left and leader changes as events, and to feed the HTTP
 * server's view (cluster.c); the admin hash and the revision list are
 * re-read too. Data nodes' heartbeats carry their admin address and the
 * traffic and upstream health scraped from it (scrape.c). Also the xDS
 * event hook (gRPC thread: it only posts). Loop thread otherwise.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "common/log/log.h"
#include "common/version/version.h"
#include "controlplane/node/node_int.h"

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void on_beat(struct cp_store *s, int status, void *arg)
{
    if (status != 0 && status != UV_ECANCELED)
        cm_log_debug(CP_NODE__MOD, "heartbeat_failed", "err=\"%s\"",
                     cp_store_strerror(status));
}

static void beat(struct cp_node *n, const char *id, const char *role,
                 json_t *info)
{
    char *text = info != NULL ? json_dumps(info, JSON_COMPACT) : NULL;

    if (text != NULL &&
        cp_store_heartbeat(n->store, id, role, text, CP_NODE__HEARTBEAT_TTL_MS,
                           on_beat, n) != 0)
        cm_log_debug(CP_NODE__MOD, "heartbeat_failed", "id=%s", id);
    free(text);
    json_decref(info);
}

static void beat_self(struct cp_node *n)
{
    beat(n, n->flags->node_id, CP_MGMT_ROLE_CONTROL,
         json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:b}", "grpc", n->grpc_addr,
                   "http", n->http_addr, "version", CM_VERSION, "commit",
                   cm_version_commit(), "revision", (json_int_t)n->served, "ts",
                   (json_int_t)now_ms(), "leader",
                   cp_store_is_leader(n->store)));
}

/* The revision a data node runs (0 until each type it subscribed to has
 * an ACK). The server pushes only the types a revision changed, so when
 * every type ACKed what it was sent the node runs the newest version ACKed;
 * while a push is pending or was NACKed, the lowest. */
static uint64_t acked_revision(const struct cp_xds_node_info *d)
{
    uint64_t lo = UINT64_MAX, hi = 0, v;
    bool in_sync = true;

    for (int t = 0; t < CP_XDS_TYPE_COUNT; t++) {
        const struct cp_xds_type_info *ti = &d->types[t];
        if (!ti->subscribed)
            continue;
        v = strtoull(ti->acked_version, NULL, 10);
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
        in_sync &= strcmp(ti->acked_version, ti->sent_version) == 0;
    }
    if (lo == UINT64_MAX || lo == 0)
        return 0;
    return in_sync ? hi : lo;
}

/* The NACK of the latest push, if the node refused it, and the revision
 * it refused in *rev (0 if none). */
static const char *current_nack(const struct cp_xds_node_info *d, uint64_t *rev)
{
    for (int t = 0; t < CP_XDS_TYPE_COUNT; t++) {
        const struct cp_xds_type_info *ti = &d->types[t];
        if (ti->nack_message[0] != '\0' &&
            strcmp(ti->acked_version, ti->sent_version) != 0) {
            *rev = strtoull(ti->sent_version, NULL, 10);
            return ti->nack_message;
        }
    }
    *rev = 0;
    return "";
}

/* Adds the admin address and the last /stats digest of <d> (scrape.c) to
 * its heartbeat <info>. */
static void add_scraped(struct cp_node *n, const struct cp_xds_node_info *d,
                        json_t *info)
{
    const char *admin = NULL;
    json_t *stats =
        d->id[0] != '\0' ? cp_node__scrape_stats(n, d->id, &admin) : NULL;

    if (info == NULL)
        return;
    if (admin != NULL)
        json_object_set_new(info, "admin", json_string(admin));
    if (stats != NULL)
        json_object_set(info, "stats", stats);
}

static void beat_data_nodes(struct cp_node *n)
{
    struct cp_xds_node_info *nodes = NULL;
    char agent[CP_XDS_SHORT_LEN * 2 + 2];
    size_t count = 0;
    uint64_t nack_rev;
    const char *nack;
    json_t *info;

    if (cp_xds_server_list_nodes(n->xds, &nodes, &count) != 0)
        return;
    cp_node__scrape_tick(n, nodes, count);
    for (size_t i = 0; i < count; i++) {
        const struct cp_xds_node_info *d = &nodes[i];
        snprintf(agent, sizeof(agent), "%s %s", d->user_agent_name,
                 d->user_agent_version);
        nack = current_nack(d, &nack_rev);
        info = json_pack(
            "{s:s, s:s, s:s, s:I, s:s, s:I, s:s, s:I, s:I}", "cluster",
            d->cluster, "peer", d->peer, "control", n->flags->node_id,
            "revision", (json_int_t)acked_revision(d), "nack", nack, "nack_rev",
            (json_int_t)nack_rev, "version", agent, "ts", (json_int_t)now_ms(),
            "connected", (json_int_t)d->connected_ms);
        add_scraped(n, d, info);
        beat(n, d->id[0] != '\0' ? d->id : d->peer, CP_MGMT_ROLE_DATA, info);
    }
    free(nodes);
}

/* ==== node events ==== */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_set(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* Reports the "role\nid" entries of <a> missing from <b> as <kind>. */
static void report_missing(struct cp_node *n, char **a, size_t na, char **b,
                           size_t nb, const char *kind)
{
    for (size_t i = 0; i < na; i++) {
        if (bsearch(&a[i], b, nb, sizeof(char *), cmp_str) != NULL)
            continue;
        char *nl = strchr(a[i], '\n');
        cp_mgmt_event(n->mgmt, kind, nl + 1, 0,
                      a[i][0] == 'c' ? "control node" : "data node");
    }
}

static void on_listed(struct cp_store *s, int status,
                      const struct cp_store_node *nodes, size_t count,
                      void *arg)
{
    struct cp_node *n = arg;
    char **set;
    size_t k = 0;

    n->hb_listing = false;
    if (status != 0 || n->stopping)
        return;
    cp_node__view_listed(n, nodes, count);
    cp_node__api_check(n);
    set = calloc(count + 1, sizeof(*set));
    if (set == NULL)
        return;
    for (size_t i = 0; i < count; i++) {
        if (strcmp(nodes[i].role, CP_MGMT_ROLE_CONTROL) != 0 &&
            strcmp(nodes[i].role, CP_MGMT_ROLE_DATA) != 0)
            continue;
        size_t len = strlen(nodes[i].role) + strlen(nodes[i].id) + 2;
        if ((set[k] = malloc(len)) == NULL)
            continue;
        snprintf(set[k++], len, "%s\n%s", nodes[i].role, nodes[i].id);
    }
    qsort(set, k, sizeof(*set), cmp_str);
    if (n->listed_once) {
        report_missing(n, set, k, n->known, n->n_known, "node_joined");
        report_missing(n, n->known, n->n_known, set, k, "node_left");
    }
    free_set(n->known, n->n_known);
    n->known = set;
    n->n_known = k;
    n->listed_once = true;
}

void cp_node__check_leader(struct cp_node *n)
{
    const char *leader = cp_store_leader_id(n->store);

    if (leader == NULL)
        leader = "";
    if (strcmp(leader, n->leader) == 0)
        return;
    snprintf(n->leader, sizeof(n->leader), "%s", leader);
    cp_node__view_leader(n, leader);
    if (*leader == '\0')
        return; /* unknown for now: report the next known holder */
    cm_log_info(CP_NODE__MOD, "leader_changed", "leader=%s self=%s", leader,
                strcmp(leader, n->flags->node_id) == 0 ? "yes" : "no");
    cp_mgmt_event(n->mgmt, "leader_changed", leader, 0, NULL);
}

void cp_node__heartbeat_tick(uv_timer_t *t)
{
    struct cp_node *n = t->data;

    cp_node__check_leader(n);
    if (!cp_store_connected(n->store))
        return;
    beat_self(n);
    beat_data_nodes(n);
    if (!n->hb_listing && cp_store_list_nodes(n->store, on_listed, n) == 0)
        n->hb_listing = true;
    cp_node__view_refresh_revisions(n);
    cp_node__admin_tick(n);
    if (n->member != NULL)
        cp_member_refresh(n->member, n->store); /* tokens, revocations */
}

void cp_node__heartbeat_deinit(struct cp_node *n)
{
    free_set(n->known, n->n_known);
    n->known = NULL;
    n->n_known = 0;
}

/* ==== xDS hook (gRPC thread, rpc lock held): post only ==== */

void cp_node__xds_event(void *arg, const struct cp_xds_event *ev)
{
    struct cp_node *n = arg;
    char msg[CP_XDS_MSG_LEN + 64];
    const char *node =
        ev->node_id != NULL && *ev->node_id ? ev->node_id : ev->peer;

    switch (ev->kind) {
    case CP_XDS_EV_NACK:
        snprintf(msg, sizeof(msg), "%s: %s", cp_xds_type_short(ev->type),
                 ev->message != NULL ? ev->message : "");
        cp_mgmt_post_event(
            n->mgmt, "nack", node,
            strtoull(ev->version != NULL ? ev->version : "0", NULL, 10), msg);
        break;
    case CP_XDS_EV_CONNECTED:
        cm_log_info(CP_NODE__MOD, "xds_connected", "node=%s peer=%s", node,
                    ev->peer);
        break;
    case CP_XDS_EV_DISCONNECTED:
        cm_log_info(CP_NODE__MOD, "xds_disconnected", "node=%s", node);
        break;
    default:
        break;
    }
}
