/*
 * node_int.h -- the running control node's state, shared by the files of
 * controlplane/node (node.c life and store callbacks, pipeline.c revisions
 * to xDS, heartbeat.c heartbeats and node events, provider.c the file
 * provider). Everything here is touched on the loop (main) thread only,
 * except that the xDS event hook runs on the gRPC thread and only posts.
 */
#ifndef CP_NODE_INT_H
#define CP_NODE_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "controlplane/mgmt/mgmt.h"
#include "controlplane/node/node.h"
#include "controlplane/rpc/rpc.h"
#include "controlplane/store/store.h"
#include "controlplane/xds/xds.h"

#define CP_NODE__MOD              "node"
#define CP_NODE__HEARTBEAT_MS     1000
#define CP_NODE__HEARTBEAT_TTL_MS 3000

struct cp_node__provider;

struct cp_node {
    const struct cp_node_flags *flags;
    uv_loop_t *loop;
    struct cp_store_embedded *embedded;
    struct cp_store *store;
    struct cp_rpc_server *rpc;
    struct cp_xds_server *xds;
    struct cp_mgmt *mgmt;
    char grpc_addr[300]; /* as others reach us */

    uv_timer_t hb_timer;
    uv_signal_t sigterm, sigint;
    uv_timer_t stop_timer;
    bool stopping;
    uint64_t stop_ms; /* loop time of the first stop signal */

    /* pipeline.c */
    bool loading, load_again;
    uint64_t served; /* revision in the published snapshot */

    /* heartbeat.c */
    char leader[CP_STORE_ID_LEN]; /* last leader logged ("" none) */
    char **known;                 /* "role\nid" of live nodes, sorted */
    size_t n_known;
    bool listed_once;
    bool hb_listing;

    struct cp_node__provider *provider;
};

/* pipeline.c: the current revision changed (or may have). */
void cp_node__revision_changed(struct cp_node *n);
/* pipeline.c: publish an empty snapshot (before any revision). */
void cp_node__publish_empty(struct cp_node *n);

/* heartbeat.c */
void cp_node__heartbeat_tick(uv_timer_t *t);
void cp_node__check_leader(struct cp_node *n);
void cp_node__xds_event(void *arg, const struct cp_xds_event *ev);
void cp_node__heartbeat_deinit(struct cp_node *n);

/* provider.c */
int cp_node__provider_start(struct cp_node *n, const char *path);
/* The node became leader: apply the file if it differs. */
void cp_node__provider_check(struct cp_node *n);
void cp_node__provider_close(struct cp_node *n);

#endif
