/*
 * call.c -- the per-call state machine: request a call from grpc, keep one
 * receive and one close-notification in flight, serialise sends through a
 * queue (grpc allows one send at a time), then send the status. A call is
 * freed once it is closed and no batch of it is in flight. Runs on the CQ
 * thread (or a thread holding the server lock, for sends).
 */
#include <stdlib.h>
#include <string.h>

#include <grpc/support/alloc.h>

#include "common/log/log.h"
#include "controlplane/rpc/rpc-int.h"

struct out_msg {
    struct out_msg *next;
    grpc_byte_buffer *bb;
};

struct cp_rpc_call {
    struct cp_rpc_server *srv;
    struct cp_rpc__method *method;
    enum cp_rpc_call_state state;
    grpc_call *call;
    gpr_timespec deadline;
    grpc_metadata_array md;
    uint64_t id;
    char *peer;
    enum cm_pki_peer peer_kind;
    struct cm_pki_cert_info peer_cert; /* role NONE, id "" without one */
    void *data;
    int inflight; /* batches started and not yet completed */
    bool md_sent, sending, status_sent, recv_done;
    int cancelled;
    grpc_byte_buffer *recv_buf;
    struct out_msg *head, *tail;
    size_t queued; /* messages in head..tail */
    grpc_status_code status;
    char *details;
    struct cp_rpc__tag t_request, t_recv, t_send, t_close, t_status;
};

#define CALL_OF(tag, field)                                                    \
    ((struct cp_rpc_call *)((char *)(tag)-offsetof(struct cp_rpc_call, field)))

static void call_free(struct cp_rpc_call *c)
{
    while (c->head != NULL) {
        struct out_msg *o = c->head;
        c->head = o->next;
        grpc_byte_buffer_destroy(o->bb);
        free(o);
    }
    c->tail = NULL;
    if (c->recv_buf != NULL)
        grpc_byte_buffer_destroy(c->recv_buf);
    if (c->call != NULL)
        grpc_call_unref(c->call);
    grpc_metadata_array_destroy(&c->md);
    if (c->peer != NULL)
        gpr_free(c->peer);
    free(c->details);
    free(c);
}

/* Frees the call when nothing of it remains in flight. */
static void maybe_free(struct cp_rpc_call *c)
{
    if (c->inflight == 0 && c->state == CP_RPC_CALL_CLOSED)
        call_free(c);
}

static int start(struct cp_rpc_call *c, const grpc_op *ops, size_t n,
                 struct cp_rpc__tag *tag)
{
    if (c->srv->stopping)
        return GW_EIO;
    grpc_call_error e = grpc_call_start_batch(c->call, ops, n, tag, NULL);
    if (e != GRPC_CALL_OK) {
        cm_log_warn("rpc", "start_batch_failed", "call=%llu err=%d",
                    (unsigned long long)c->id, (int)e);
        return GW_EIO;
    }
    c->inflight++;
    return GW_OK;
}

static void start_recv(struct cp_rpc_call *c)
{
    grpc_op op = {0};
    op.op = GRPC_OP_RECV_MESSAGE;
    op.data.recv_message.recv_message = &c->recv_buf;
    (void)start(c, &op, 1, &c->t_recv);
}

/* Sends the next queued message, or the status once the queue is empty. */
static void pump(struct cp_rpc_call *c)
{
    if (c->sending || c->state == CP_RPC_CALL_CLOSED)
        return;
    grpc_op ops[2];
    size_t n = 0;
    memset(ops, 0, sizeof(ops));
    if (!c->md_sent) {
        ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
    }
    if (c->head != NULL) {
        ops[n].op = GRPC_OP_SEND_MESSAGE;
        ops[n++].data.send_message.send_message = c->head->bb;
        if (start(c, ops, n, &c->t_send) == 0) {
            c->sending = true;
            c->md_sent = true;
        }
        return;
    }
    if (c->state != CP_RPC_CALL_FINISHING || c->status_sent)
        return;
    grpc_slice details =
        grpc_slice_from_static_string(c->details != NULL ? c->details : "");
    ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    ops[n].data.send_status_from_server.status = c->status;
    ops[n++].data.send_status_from_server.status_details =
        c->details != NULL ? &details : NULL;
    if (start(c, ops, n, &c->t_status) == 0) {
        c->md_sent = true;
        c->status_sent = true;
    }
}

static void on_send(struct cp_rpc__tag *tag, int ok)
{
    struct cp_rpc_call *c = CALL_OF(tag, t_send);
    c->inflight--;
    c->sending = false;
    struct out_msg *o = c->head;
    if (o != NULL) {
        c->head = o->next;
        if (c->head == NULL)
            c->tail = NULL;
        grpc_byte_buffer_destroy(o->bb);
        free(o);
        c->queued--;
    }
    if (ok)
        pump(c);
    if (ok && c->head == NULL && c->state == CP_RPC_CALL_ACTIVE &&
        c->method->ops->on_sent != NULL)
        c->method->ops->on_sent(c->method->arg, c);
    maybe_free(c);
}

static void on_status(struct cp_rpc__tag *tag, int ok)
{
    struct cp_rpc_call *c = CALL_OF(tag, t_status);
    (void)ok;
    c->inflight--;
    maybe_free(c);
}

static void on_recv(struct cp_rpc__tag *tag, int ok)
{
    struct cp_rpc_call *c = CALL_OF(tag, t_recv);
    const struct cp_rpc__method *m = c->method;
    c->inflight--;
    if (!ok || c->state != CP_RPC_CALL_ACTIVE) {
        c->recv_done = true;
        if (c->recv_buf != NULL) {
            grpc_byte_buffer_destroy(c->recv_buf);
            c->recv_buf = NULL;
        }
    } else if (c->recv_buf == NULL) {
        c->recv_done = true;
        if (m->ops->on_half_close != NULL)
            m->ops->on_half_close(m->arg, c);
    } else {
        uint8_t *data = NULL;
        size_t len = 0;
        int rc = cp_rpc_buffer_flatten(c->recv_buf, &data, &len);
        grpc_byte_buffer_destroy(c->recv_buf);
        c->recv_buf = NULL;
        if (rc != 0) {
            cp_rpc_call_finish(c, GRPC_STATUS_RESOURCE_EXHAUSTED, "no memory");
        } else {
            if (m->ops->on_message != NULL)
                m->ops->on_message(m->arg, c, data, len);
            free(data);
        }
        if (m->kind == CP_RPC_BIDI && c->state == CP_RPC_CALL_ACTIVE)
            start_recv(c);
    }
    /* a re-armed receive may already have written c->recv_buf: leave it */
    maybe_free(c);
}

static void on_close(struct cp_rpc__tag *tag, int ok)
{
    struct cp_rpc_call *c = CALL_OF(tag, t_close);
    const struct cp_rpc__method *m = c->method;
    (void)ok;
    c->inflight--;
    c->state = CP_RPC_CALL_CLOSED;
    if (m->ops->on_done != NULL)
        m->ops->on_done(m->arg, c, c->cancelled || !c->status_sent);
    maybe_free(c);
}

/* On a TLS server: reads the peer and refuses a call its method does not
 * allow (the method never sees it: on_done gets it without data). */
static bool authorized(struct cp_rpc_call *c)
{
    const char *why = "";

    if (!c->srv->secure)
        return true;
    c->peer_kind = cm_pki_grpc_peer(c->call, &c->peer_cert);
    if (c->peer_kind != CM_PKI_PEER_CERT)
        memset(&c->peer_cert, 0, sizeof(c->peer_cert));
    grpc_status_code st =
        cp_rpc__authorize(c->srv, c->method, c->peer_kind, &c->peer_cert, &why);
    if (st == GRPC_STATUS_OK)
        return true;
    cm_log_info("rpc", "refused", "method=%s peer=%s role=%s id=%s why=\"%s\"",
                c->method->path, c->peer != NULL ? c->peer : "-",
                cm_pki_role_name(c->peer_cert.role),
                c->peer_cert.id[0] != '\0' ? c->peer_cert.id : "-", why);
    cp_rpc_call_finish(c, st, why);
    return false;
}

static void on_request(struct cp_rpc__tag *tag, int ok)
{
    struct cp_rpc_call *c = CALL_OF(tag, t_request);
    struct cp_rpc_server *srv = c->srv;
    const struct cp_rpc__method *m = c->method;
    c->inflight--;
    if (!ok || srv->stopping) {
        c->state = CP_RPC_CALL_CLOSED;
        maybe_free(c);
        return;
    }
    if (cp_rpc__call_request(srv, c->method) != 0)
        cm_log_warn("rpc", "request_call_failed", "method=%s", m->path);
    c->id = srv->next_call_id++;
    c->peer = grpc_call_get_peer(c->call);
    c->state = CP_RPC_CALL_ACTIVE;
    grpc_op op = {0};
    op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    op.data.recv_close_on_server.cancelled = &c->cancelled;
    if (start(c, &op, 1, &c->t_close) != 0) {
        c->state = CP_RPC_CALL_CLOSED;
        grpc_call_cancel(c->call, NULL);
        maybe_free(c);
        return;
    }
    if (!authorized(c))
        return;
    if (m->ops->on_start != NULL && m->ops->on_start(m->arg, c) != 0) {
        cp_rpc_call_finish(c, GRPC_STATUS_UNAVAILABLE, "call refused");
        return;
    }
    start_recv(c);
}

int cp_rpc__call_request(struct cp_rpc_server *srv, struct cp_rpc__method *m)
{
    if (srv->stopping)
        return GW_EIO;
    struct cp_rpc_call *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return GW_ENOMEM;
    c->srv = srv;
    c->method = m;
    c->state = CP_RPC_CALL_REQUESTED;
    grpc_metadata_array_init(&c->md);
    c->t_request.fn = on_request;
    c->t_recv.fn = on_recv;
    c->t_send.fn = on_send;
    c->t_close.fn = on_close;
    c->t_status.fn = on_status;
    grpc_call_error e = grpc_server_request_registered_call(
        srv->server, m->handle, &c->call, &c->deadline, &c->md, NULL, srv->cq,
        srv->cq, &c->t_request);
    if (e != GRPC_CALL_OK) {
        call_free(c);
        return GW_EIO;
    }
    c->inflight = 1;
    return GW_OK;
}

void cp_rpc_call_set_data(struct cp_rpc_call *call, void *data)
{
    call->data = data;
}

void *cp_rpc_call_data(const struct cp_rpc_call *call)
{
    return call->data;
}

uint64_t cp_rpc_call_id(const struct cp_rpc_call *call)
{
    return call->id;
}

const char *cp_rpc_call_peer(const struct cp_rpc_call *call)
{
    return call->peer != NULL ? call->peer : "";
}

enum cp_rpc_call_state cp_rpc_call_state(const struct cp_rpc_call *call)
{
    return call->state;
}

enum cm_pki_peer cp_rpc_call_peer_kind(const struct cp_rpc_call *call)
{
    return call->peer_kind;
}

enum cm_pki_role cp_rpc_call_role(const struct cp_rpc_call *call)
{
    return call->peer_cert.role;
}

const char *cp_rpc_call_peer_id(const struct cp_rpc_call *call)
{
    return call->peer_cert.id;
}

int64_t cp_rpc_call_not_before(const struct cp_rpc_call *call)
{
    return call->peer_cert.not_before;
}

static int enqueue(struct cp_rpc_call *c, grpc_byte_buffer *bb)
{
    struct out_msg *o = calloc(1, sizeof(*o));
    if (o == NULL) {
        grpc_byte_buffer_destroy(bb);
        return GW_ENOMEM;
    }
    o->bb = bb;
    if (c->tail != NULL)
        c->tail->next = o;
    else
        c->head = o;
    c->tail = o;
    c->queued++;
    pump(c);
    return GW_OK;
}

int cp_rpc_call_send_buffer(struct cp_rpc_call *call, grpc_byte_buffer *bb)
{
    if (bb == NULL)
        return GW_ENOMEM;
    if (call->state != CP_RPC_CALL_ACTIVE) {
        grpc_byte_buffer_destroy(bb);
        return GW_EIO;
    }
    return enqueue(call, bb);
}

size_t cp_rpc_call_pending(const struct cp_rpc_call *call)
{
    return call->queued;
}

int cp_rpc_call_send(struct cp_rpc_call *call, const uint8_t *data, size_t len)
{
    if (call->state != CP_RPC_CALL_ACTIVE)
        return GW_EIO;
    grpc_byte_buffer *bb = cp_rpc_buffer_from_bytes(data, len);
    if (bb == NULL)
        return GW_ENOMEM;
    return enqueue(call, bb);
}

int cp_rpc_call_send_pb(struct cp_rpc_call *call, const ProtobufCMessage *msg)
{
    if (call->state != CP_RPC_CALL_ACTIVE)
        return GW_EIO;
    grpc_byte_buffer *bb = cp_rpc_buffer_from_pb(msg);
    if (bb == NULL)
        return GW_ENOMEM;
    return enqueue(call, bb);
}

void cp_rpc_call_finish(struct cp_rpc_call *call, grpc_status_code status,
                        const char *details)
{
    if (call->state != CP_RPC_CALL_ACTIVE)
        return;
    call->state = CP_RPC_CALL_FINISHING;
    call->status = status;
    call->details = details != NULL ? strdup(details) : NULL;
    pump(call);
}
