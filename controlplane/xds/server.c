/*
 * server.c -- the ADS service on a cp_rpc server: one cp_xds_stream per
 * StreamAggregatedResources / DeltaAggregatedResources call, the current
 * snapshot, publication of new snapshots to every stream, the node list and
 * the event hook. All stream state is guarded by the rpc server lock;
 * callbacks run on the CQ thread, set_snapshot/list_nodes on any thread and
 * return quickly: the push thread owned here walks the streams in short
 * batches. A stream with a response still queued is marked and pushed the
 * newest snapshot when its queue drains (on_sent), so at most one push is
 * queued per stream and a slow stream skips intermediate versions.
 * Responses are the snapshot's shared bodies plus a per-stream nonce.
 * A revoked certificate's streams are ended here too.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log/log.h"
#include "controlplane/rpc/rpc.h"
#include "controlplane/xds/stream.h"
#include "controlplane/xds/xds-int.h"
#include "controlplane/xds/xds.h"

#define ADS "/envoy.service.discovery.v3.AggregatedDiscoveryService/"

/* Streams pushed per hold of the rpc lock by the push thread. */
#define PUSH_BATCH 16

struct conn {
    struct conn *prev, *next;
    struct cp_xds_server *srv;
    struct cp_rpc_call *call; /* borrowed until on_done */
    struct cp_xds_stream *stream;
    uint64_t gen; /* snapshot generation this stream was last offered */
    bool dirty;   /* a push waits for the send queue to drain */
};

struct cp_xds_server {
    struct cp_rpc_server *rpc;    /* borrowed */
    struct cp_xds_snapshot *snap; /* one reference, or NULL */
    uint64_t gen;                 /* bumped by each set_snapshot */
    struct conn head;             /* list of live streams */
    size_t n_conns;
    cp_xds_event_cb cb;
    void *cb_arg;
    struct cp_xds__pool *names; /* subscriptions shared by streams */

    /* the push thread; wake_lock guards wake and quit */
    pthread_t thread;
    bool thread_started;
    pthread_mutex_t wake_lock;
    pthread_cond_t wake_cond;
    bool wake, quit;
};

static void body_release(void *arg)
{
    cp_xds_body_put(arg);
}

static int conn_send(void *arg, struct cp_xds_body *body, const char *nonce)
{
    struct conn *c = arg;
    uint8_t field[CP_XDS_NONCE_FIELD_MAX];
    size_t n = cp_xds_nonce_field(nonce, field, sizeof(field));

    cp_xds_body_get(body); /* for the buffer: released by gRPC */
    return cp_rpc_call_send_buffer(
        c->call, cp_rpc_buffer_shared(body->data, body->len, body_release, body,
                                      field, n));
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
    cp_xds_stream_set_pool(c->stream, srv->names);
    c->srv = srv;
    c->call = call;
    c->gen = srv->gen; /* its first request gets the current snapshot */
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

/* Pushes the current snapshot to <c>, or marks it when a response is still
 * queued (on_sent pushes then). Server lock held. */
static void conn_push(struct cp_xds_server *srv, struct conn *c)
{
    c->gen = srv->gen;
    if (cp_rpc_call_state(c->call) != CP_RPC_CALL_ACTIVE || srv->snap == NULL)
        return;
    if (cp_rpc_call_pending(c->call) > 0) {
        c->dirty = true;
        return;
    }
    c->dirty = false;
    struct cp_xds_stream_out out = conn_out(c);
    int rc = cp_xds_stream_on_snapshot(c->stream, srv->snap, &out);
    if (rc != 0)
        cp_rpc_call_finish(c->call, GRPC_STATUS_INTERNAL, cm_err_str(rc));
}

static void on_sent(void *arg, struct cp_rpc_call *call)
{
    struct conn *c = cp_rpc_call_data(call);
    if (c != NULL && c->dirty)
        conn_push(arg, c);
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
    .on_sent = on_sent,
};

static const struct cp_rpc_method_ops delta_ops = {
    .on_start = on_start_delta,
    .on_message = on_message,
    .on_half_close = on_half_close,
    .on_done = on_done,
    .on_sent = on_sent,
};

/* Pushes up to PUSH_BATCH streams not yet offered the current snapshot;
 * returns how many. */
static size_t push_batch(struct cp_xds_server *srv)
{
    size_t n = 0;
    cp_rpc_server_lock(srv->rpc);
    for (struct conn *c = srv->head.next; c != &srv->head && n < PUSH_BATCH;
         c = c->next)
        if (c->gen != srv->gen) {
            conn_push(srv, c);
            n++;
        }
    cp_rpc_server_unlock(srv->rpc);
    return n;
}

static void *push_thread(void *arg)
{
    struct cp_xds_server *srv = arg;
    for (;;) {
        pthread_mutex_lock(&srv->wake_lock);
        while (!srv->wake && !srv->quit)
            pthread_cond_wait(&srv->wake_cond, &srv->wake_lock);
        bool quit = srv->quit;
        srv->wake = false;
        pthread_mutex_unlock(&srv->wake_lock);
        if (quit)
            return NULL;
        struct timespec t0, t1;
        size_t n = 0, k;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        while ((k = push_batch(srv)) > 0)
            n += k;
        clock_gettime(CLOCK_MONOTONIC, &t1);
        cm_log_info("xds", "pushed", "streams=%zu ms=%lld", n,
                    (long long)(t1.tv_sec - t0.tv_sec) * 1000 +
                        (t1.tv_nsec - t0.tv_nsec) / 1000000);
    }
}

struct cp_xds_server *cp_xds_server_new(struct cp_rpc_server *rpc)
{
    struct cp_xds_server *srv = calloc(1, sizeof(*srv));
    if (srv == NULL)
        return NULL;
    srv->rpc = rpc;
    srv->head.next = srv->head.prev = &srv->head;
    pthread_mutex_init(&srv->wake_lock, NULL);
    pthread_cond_init(&srv->wake_cond, NULL);
    if ((srv->names = cp_xds__pool_new()) == NULL ||
        cp_rpc_server_add_method(rpc, ADS "StreamAggregatedResources",
                                 CP_RPC_BIDI, &sotw_ops, srv) != 0 ||
        cp_rpc_server_add_method(rpc, ADS "DeltaAggregatedResources",
                                 CP_RPC_BIDI, &delta_ops, srv) != 0 ||
        cp_rpc_server_set_access(rpc, ADS "StreamAggregatedResources",
                                 CP_RPC_ACCESS_ADS) != 0 ||
        cp_rpc_server_set_access(rpc, ADS "DeltaAggregatedResources",
                                 CP_RPC_ACCESS_ADS) != 0 ||
        pthread_create(&srv->thread, NULL, push_thread, srv) != 0)
        goto fail;
    srv->thread_started = true;
    return srv;
fail:
    cp_xds__pool_free(srv->names);
    pthread_cond_destroy(&srv->wake_cond);
    pthread_mutex_destroy(&srv->wake_lock);
    free(srv);
    return NULL;
}

void cp_xds_server_free(struct cp_xds_server *srv)
{
    if (srv == NULL)
        return;
    if (srv->thread_started) {
        pthread_mutex_lock(&srv->wake_lock);
        srv->quit = true;
        pthread_cond_signal(&srv->wake_cond);
        pthread_mutex_unlock(&srv->wake_lock);
        pthread_join(srv->thread, NULL);
    }
    /* the rpc server is stopped: every call got on_done */
    cp_xds_snapshot_put(srv->snap);
    cp_xds__pool_free(srv->names);
    pthread_cond_destroy(&srv->wake_cond);
    pthread_mutex_destroy(&srv->wake_lock);
    free(srv);
}

void cp_xds_server_set_snapshot(struct cp_xds_server *srv,
                                struct cp_xds_snapshot *snap)
{
    cp_xds_snapshot_get(snap);
    cp_rpc_server_lock(srv->rpc);
    struct cp_xds_snapshot *old = srv->snap;
    srv->snap = snap;
    srv->gen++;
    size_t n = srv->n_conns;
    cp_rpc_server_unlock(srv->rpc);
    cm_log_info("xds", "snapshot", "version=%s streams=%zu",
                cp_xds_snapshot_version(snap), n);
    pthread_mutex_lock(&srv->wake_lock);
    srv->wake = true;
    pthread_cond_signal(&srv->wake_cond);
    pthread_mutex_unlock(&srv->wake_lock);
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

size_t cp_xds_server_revoke(struct cp_xds_server *srv, enum cm_pki_role role,
                            const char *id, int64_t at)
{
    size_t n = 0;

    cp_rpc_server_lock(srv->rpc);
    for (struct conn *c = srv->head.next; c != &srv->head; c = c->next) {
        struct cp_rpc_call *call = c->call;
        if (cp_rpc_call_peer_kind(call) != CM_PKI_PEER_CERT ||
            cp_rpc_call_role(call) != role ||
            strcmp(cp_rpc_call_peer_id(call), id) != 0 ||
            cp_rpc_call_not_before(call) >= at ||
            cp_rpc_call_state(call) != CP_RPC_CALL_ACTIVE)
            continue;
        cp_rpc_call_finish(call, GRPC_STATUS_UNAUTHENTICATED,
                           "certificate revoked");
        n++;
    }
    cp_rpc_server_unlock(srv->rpc);
    if (n > 0)
        cm_log_info("xds", "revoked", "role=%s node=%s streams=%zu",
                    cm_pki_role_name(role), id, n);
    return n;
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
