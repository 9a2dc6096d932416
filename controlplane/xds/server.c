/*
 * server.c -- the ADS service on a cp_rpc server: one cp_xds_stream per
 * StreamAggregatedResources / DeltaAggregatedResources call, the current
 * snapshot, publication of new snapshots to every stream, the node list and
 * the event hook. All state is guarded by the rpc server lock; callbacks run
 * on the CQ thread, set_snapshot/list_nodes on any thread.
 */
#include <stdlib.h>
#include <string.h>

#include "common/log/log.h"
#include "controlplane/rpc/rpc.h"
#include "controlplane/xds/stream.h"
#include "controlplane/xds/xds.h"

#define ADS "/envoy.service.discovery.v3.AggregatedDiscoveryService/"

struct conn {
    struct conn *prev, *next;
    struct cp_xds_server *srv;
    struct cp_rpc_call *call; /* borrowed until on_done */
    struct cp_xds_stream *stream;
};

struct cp_xds_server {
    struct cp_rpc_server *rpc;    /* borrowed */
    struct cp_xds_snapshot *snap; /* one reference, or NULL */
    struct conn head;             /* list of live streams */
    size_t n_conns;
    cp_xds_event_cb cb;
    void *cb_arg;
};

static int conn_send(void *arg, const ProtobufCMessage *msg)
{
    struct conn *c = arg;
    return cp_rpc_call_send_pb(c->call, msg);
}

static void conn_event(void *arg, const struct cp_xds_event *ev)
{
    struct conn *c = arg;
    if (c->srv->cb != NULL)
        c->srv->cb(c->srv->cb_arg, ev);
}

static struct cp_xds_stream_out conn_out(struct conn *c)
{
    struct cp_xds_stream_out out = {
        .send = conn_send, .event = conn_event, .arg = c};
    return out;
}

static int start_stream(struct cp_xds_server *srv, struct cp_rpc_call *call,
                        bool delta)
{
    struct conn *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return GW_ENOMEM;
    c->stream =
        cp_xds_stream_new(cp_rpc_call_id(call), delta, cp_rpc_call_peer(call));
    if (c->stream == NULL) {
        free(c);
        return GW_ENOMEM;
    }
    c->srv = srv;
    c->call = call;
    c->next = srv->head.next;
    c->prev = &srv->head;
    srv->head.next->prev = c;
    srv->head.next = c;
    srv->n_conns++;
    cp_rpc_call_set_data(call, c);
    return GW_OK;
}

static int on_start_sotw(void *arg, struct cp_rpc_call *call)
{
    return start_stream(arg, call, false);
}

static int on_start_delta(void *arg, struct cp_rpc_call *call)
{
    return start_stream(arg, call, true);
}

static void on_message(void *arg, struct cp_rpc_call *call, const uint8_t *data,
                       size_t len)
{
    struct cp_xds_server *srv = arg;
    struct conn *c = cp_rpc_call_data(call);
    struct cp_xds_stream_out out = conn_out(c);
    int rc = cp_xds_stream_on_request(c->stream, srv->snap, data, len, &out);
    if (rc == GW_EPROTO) {
        cm_log_warn("xds", "bad_request", "stream=%llu",
                    (unsigned long long)cp_rpc_call_id(call));
        cp_rpc_call_finish(call, GRPC_STATUS_INVALID_ARGUMENT,
                           "cannot decode the discovery request");
    } else if (rc != 0) {
        cp_rpc_call_finish(call, GRPC_STATUS_INTERNAL, cm_err_str(rc));
    }
}

static void on_half_close(void *arg, struct cp_rpc_call *call)
{
    cp_rpc_call_finish(call, GRPC_STATUS_OK, NULL);
}

static void on_done(void *arg, struct cp_rpc_call *call, int cancelled)
{
    struct cp_xds_server *srv = arg;
    struct conn *c = cp_rpc_call_data(call);
    if (c == NULL)
        return;
    struct cp_xds_stream_out out = conn_out(c);
    cp_xds_stream_closed(c->stream, &out);
    c->prev->next = c->next;
    c->next->prev = c->prev;
    srv->n_conns--;
    cp_xds_stream_free(c->stream);
    free(c);
}

static const struct cp_rpc_method_ops sotw_ops = {
    .on_start = on_start_sotw,
    .on_message = on_message,
    .on_half_close = on_half_close,
    .on_done = on_done,
};

static const struct cp_rpc_method_ops delta_ops = {
    .on_start = on_start_delta,
    .on_message = on_message,
    .on_half_close = on_half_close,
    .on_done = on_done,
};

struct cp_xds_server *cp_xds_server_new(struct cp_rpc_server *rpc)
{
    struct cp_xds_server *srv = calloc(1, sizeof(*srv));
    if (srv == NULL)
        return NULL;
    srv->rpc = rpc;
    srv->head.next = srv->head.prev = &srv->head;
    if (cp_rpc_server_add_method(rpc, ADS "StreamAggregatedResources",
                                 CP_RPC_BIDI, &sotw_ops, srv) != 0 ||
        cp_rpc_server_add_method(rpc, ADS "DeltaAggregatedResources",
                                 CP_RPC_BIDI, &delta_ops, srv) != 0) {
        free(srv);
        return NULL;
    }
    return srv;
}

void cp_xds_server_free(struct cp_xds_server *srv)
{
    if (srv == NULL)
        return;
    /* the rpc server is stopped: every call got on_done */
    cp_xds_snapshot_put(srv->snap);
    free(srv);
}

void cp_xds_server_set_snapshot(struct cp_xds_server *srv,
                                struct cp_xds_snapshot *snap)
{
    cp_xds_snapshot_get(snap);
    cp_rpc_server_lock(srv->rpc);
    struct cp_xds_snapshot *old = srv->snap;
    srv->snap = snap;
    cm_log_info("xds", "snapshot", "version=%s streams=%zu",
                cp_xds_snapshot_version(snap), srv->n_conns);
    for (struct conn *c = srv->head.next; c != &srv->head; c = c->next) {
        if (cp_rpc_call_state(c->call) != CP_RPC_CALL_ACTIVE)
            continue;
        struct cp_xds_stream_out out = conn_out(c);
        int rc = cp_xds_stream_on_snapshot(c->stream, snap, &out);
        if (rc != 0)
            cp_rpc_call_finish(c->call, GRPC_STATUS_INTERNAL, cm_err_str(rc));
    }
    cp_rpc_server_unlock(srv->rpc);
    cp_xds_snapshot_put(old);
}

void cp_xds_server_set_event_cb(struct cp_xds_server *srv, cp_xds_event_cb cb,
                                void *arg)
{
    cp_rpc_server_lock(srv->rpc);
    srv->cb = cb;
    srv->cb_arg = arg;
    cp_rpc_server_unlock(srv->rpc);
}

int cp_xds_server_list_nodes(struct cp_xds_server *srv,
                             struct cp_xds_node_info **out, size_t *n)
{
    cp_rpc_server_lock(srv->rpc);
    size_t count = srv->n_conns;
    struct cp_xds_node_info *arr = calloc(count ? count : 1, sizeof(*arr));
    if (arr == NULL) {
        cp_rpc_server_unlock(srv->rpc);
        return GW_ENOMEM;
    }
    size_t i = count;
    /* newest first in the list; hand out oldest first */
    for (struct conn *c = srv->head.next; c != &srv->head && i > 0; c = c->next)
        cp_xds_stream_info(c->stream, &arr[--i]);
    cp_rpc_server_unlock(srv->rpc);
    *out = arr;
    *n = count;
    return GW_OK;
}
