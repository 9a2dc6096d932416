/*
 * client.c -- a blocking gRPC C core client for the management API: one
 * unary call with a deadline, and a server stream read with bounded waits.
 * Used by traefikeectl and by followers forwarding writes to the leader
 * (from the loop's thread pool). Each call owns its channel and queue.
 * Plain text, or mutual TLS with the cluster's certificates; the channel
 * and the unary call itself are pki_grpc.h's.
 */
#include <stdlib.h>
#include <string.h>

#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>

#include "common/pki/pki_grpc.h"
#include "controlplane/mgmt/mgmt.h"
#include "controlplane/rpc/rpc.h"

static gpr_timespec after_ms(unsigned ms)
{
    return gpr_time_add(gpr_now(GPR_CLOCK_REALTIME),
                        gpr_time_from_millis(ms, GPR_TIMESPAN));
}

static void copy_details(char *dst, grpc_slice s)
{
    size_t n = GRPC_SLICE_LENGTH(s);

    if (n >= CP_MGMT_DETAILS_LEN)
        n = CP_MGMT_DETAILS_LEN - 1;
    memcpy(dst, GRPC_SLICE_START_PTR(s), n);
    dst[n] = '\0';
}

int cp_mgmt_client_unary(const char *target, const char *method,
                         const uint8_t *req, size_t len, unsigned timeout_ms,
                         struct cp_mgmt_reply *out)
{
    return cp_mgmt_client_unary_creds(target, NULL, method, req, len,
                                      timeout_ms, out);
}

int cp_mgmt_client_unary_creds(const char *target,
                               const struct cm_pki_creds *creds,
                               const char *method, const uint8_t *req,
                               size_t len, unsigned timeout_ms,
                               struct cp_mgmt_reply *out)
{
    grpc_byte_buffer *send, *recv;
    grpc_channel *ch;
    int rc = 0;

    memset(out, 0, sizeof(*out));
    grpc_init();
    ch = cm_pki_grpc_channel(target, creds);
    if (ch == NULL) {
        grpc_shutdown();
        out->status = GRPC_STATUS_UNAUTHENTICATED;
        strcpy(out->details, "unusable client certificate or CA");
        return GW_EINVAL;
    }
    send = cp_rpc_buffer_from_bytes(req, len);
    if (send == NULL) {
        grpc_channel_destroy(ch);
        grpc_shutdown();
        return GW_ENOMEM;
    }
    cm_pki_grpc_unary(ch, method, send, timeout_ms, &out->status, out->details,
                      sizeof(out->details), &recv);
    if (out->status == GRPC_STATUS_OK && recv != NULL)
        rc = cp_rpc_buffer_flatten(recv, &out->data, &out->len);
    if (recv != NULL)
        grpc_byte_buffer_destroy(recv);
    grpc_byte_buffer_destroy(send);
    grpc_channel_destroy(ch);
    grpc_shutdown();
    return rc;
}

void cp_mgmt_reply_deinit(struct cp_mgmt_reply *r)
{
    free(r->data);
    r->data = NULL;
    r->len = 0;
}

int cp_mgmt_from_server(const char *details)
{
    return strncmp(details, "control node ", 13) == 0;
}

/* ==== server stream ==== */

struct cp_mgmt_stream {
    grpc_channel *ch;
    grpc_completion_queue *cq;
    grpc_call *call;
    grpc_metadata_array md, trailers;
    grpc_byte_buffer *send, *recv;
    grpc_slice details;
    grpc_status_code status;
    char detail_text[CP_MGMT_DETAILS_LEN];
    int recv_pending, status_started, ended;
    int tag_send, tag_recv, tag_status;
};

struct cp_mgmt_stream *cp_mgmt_stream_open(const char *target,
                                           const char *method,
                                           const uint8_t *req, size_t len)
{
    return cp_mgmt_stream_open_creds(target, NULL, method, req, len);
}

struct cp_mgmt_stream *
cp_mgmt_stream_open_creds(const char *target, const struct cm_pki_creds *creds,
                          const char *method, const uint8_t *req, size_t len)
{
    struct cp_mgmt_stream *s = calloc(1, sizeof(*s));
    grpc_op ops[4];
    grpc_slice m;

    if (s == NULL)
        return NULL;
    s->send = cp_rpc_buffer_from_bytes(req, len);
    if (s->send == NULL) {
        free(s);
        return NULL;
    }
    grpc_init();
    s->ch = cm_pki_grpc_channel(target, creds);
    if (s->ch == NULL) {
        grpc_shutdown();
        grpc_byte_buffer_destroy(s->send);
        free(s);
        return NULL;
    }
    s->cq = grpc_completion_queue_create_for_pluck(NULL);
    s->details = grpc_empty_slice();
    grpc_metadata_array_init(&s->md);
    grpc_metadata_array_init(&s->trailers);
    m = grpc_slice_from_copied_string(method);
    s->call = grpc_channel_create_call(
        s->ch, NULL, GRPC_PROPAGATE_DEFAULTS, s->cq, m, NULL,
        gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    grpc_slice_unref(m);
    memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = s->send;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &s->md;
    (void)grpc_call_start_batch(s->call, ops, 4, &s->tag_send, NULL);
    memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[0].data.recv_status_on_client.trailing_metadata = &s->trailers;
    ops[0].data.recv_status_on_client.status = &s->status;
    ops[0].data.recv_status_on_client.status_details = &s->details;
    s->status_started = grpc_call_start_batch(s->call, ops, 1, &s->tag_status,
                                              NULL) == GRPC_CALL_OK;
    return s;
}

static int pluck(struct cp_mgmt_stream *s, void *tag, gpr_timespec deadline)
{
    grpc_event ev = grpc_completion_queue_pluck(s->cq, tag, deadline, NULL);
    return ev.type == GRPC_OP_COMPLETE;
}

/* Waits for the final status (the stream is over). */
static int end_stream(struct cp_mgmt_stream *s)
{
    if (!s->ended) {
        if (s->status_started)
            (void)pluck(s, &s->tag_status, after_ms(10000));
        s->status_started = 0;
        copy_details(s->detail_text, s->details);
        s->ended = 1;
    }
    return GW_EIO;
}

int cp_mgmt_stream_next(struct cp_mgmt_stream *s, uint8_t **out, size_t *len,
                        unsigned timeout_ms)
{
    grpc_op op;
    int rc;

    if (s->ended)
        return GW_EIO;
    if (!s->recv_pending) {
        memset(&op, 0, sizeof(op));
        op.op = GRPC_OP_RECV_MESSAGE;
        op.data.recv_message.recv_message = &s->recv;
        if (grpc_call_start_batch(s->call, &op, 1, &s->tag_recv, NULL) !=
            GRPC_CALL_OK)
            return end_stream(s);
        s->recv_pending = 1;
    }
    if (!pluck(s, &s->tag_recv, after_ms(timeout_ms)))
        return GW_EAGAIN;
    s->recv_pending = 0;
    if (s->recv == NULL)
        return end_stream(s);
    rc = cp_rpc_buffer_flatten(s->recv, out, len);
    grpc_byte_buffer_destroy(s->recv);
    s->recv = NULL;
    return rc;
}

grpc_status_code cp_mgmt_stream_status(struct cp_mgmt_stream *s,
                                       const char **details)
{
    *details = s->detail_text;
    return s->status;
}

void cp_mgmt_stream_free(struct cp_mgmt_stream *s)
{
    if (s == NULL)
        return;
    grpc_call_cancel(s->call, NULL);
    if (s->recv_pending)
        (void)pluck(s, &s->tag_recv, gpr_inf_future(GPR_CLOCK_REALTIME));
    if (s->status_started)
        (void)pluck(s, &s->tag_status, gpr_inf_future(GPR_CLOCK_REALTIME));
    (void)pluck(s, &s->tag_send, gpr_inf_future(GPR_CLOCK_REALTIME));
    if (s->recv != NULL)
        grpc_byte_buffer_destroy(s->recv);
    grpc_byte_buffer_destroy(s->send);
    grpc_call_unref(s->call);
    grpc_completion_queue_shutdown(s->cq);
    while (grpc_completion_queue_pluck(s->cq, NULL,
                                       gpr_inf_future(GPR_CLOCK_REALTIME), NULL)
               .type != GRPC_QUEUE_SHUTDOWN)
        ;
    grpc_completion_queue_destroy(s->cq);
    grpc_channel_destroy(s->ch);
    grpc_slice_unref(s->details);
    grpc_metadata_array_destroy(&s->md);
    grpc_metadata_array_destroy(&s->trailers);
    free(s);
    grpc_shutdown();
}
