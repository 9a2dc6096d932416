/*
 * testclient.c -- the blocking test client of testclient.h. Every wait is a
 * pluck with a deadline; an unfinished receive stays pending across calls.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>

#include "common/pki/pki_grpc.h"
#include "controlplane/rpc/rpc.h"
#include "controlplane/rpc/testclient.h"

struct cp_rpc_tc {
    grpc_channel *ch;
    grpc_completion_queue *cq;
    grpc_call *call;
    grpc_metadata_array md_in, trailers;
    grpc_byte_buffer *recv_buf;
    bool md_received, recv_pending, status_started, status_done, eos;
    grpc_status_code status;
    grpc_slice details;
    int tag_recv, tag_send, tag_status, tag_md;
};

static gpr_timespec in_ms(int ms)
{
    return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                        gpr_time_from_millis(ms, GPR_TIMESPAN));
}

static bool wait_tag(struct cp_rpc_tc *tc, void *tag, int ms)
{
    grpc_event ev = grpc_completion_queue_pluck(tc->cq, tag, in_ms(ms), NULL);
    return ev.type == GRPC_OP_COMPLETE;
}

/* Opens the call on <creds> (taken) with <args> (may be NULL); gRPC was
 * initialised for it (shut down again on failure). */
static struct cp_rpc_tc *open_with(const char *target, const char *method,
                                   grpc_channel_credentials *creds,
                                   const grpc_channel_args *args)
{
    struct cp_rpc_tc *tc = calloc(1, sizeof(*tc));
    if (tc == NULL || creds == NULL) {
        free(tc);
        if (creds != NULL)
            grpc_channel_credentials_release(creds);
        grpc_shutdown();
        return NULL;
    }
    tc->ch = grpc_channel_create(target, creds, args);
    grpc_channel_credentials_release(creds);
    tc->cq = grpc_completion_queue_create_for_pluck(NULL);
    grpc_metadata_array_init(&tc->md_in);
    grpc_metadata_array_init(&tc->trailers);
    tc->details = grpc_empty_slice();
    grpc_slice m = grpc_slice_from_copied_string(method);
    tc->call = grpc_channel_create_call(
        tc->ch, NULL, GRPC_PROPAGATE_DEFAULTS, tc->cq, m, NULL,
        gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    grpc_slice_unref(m);
    grpc_op op;
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_SEND_INITIAL_METADATA;
    grpc_call_start_batch(tc->call, &op, 1, &tc->tag_md, NULL);
    if (!wait_tag(tc, &tc->tag_md, 5000)) {
        cp_rpc_tc_free(tc);
        return NULL;
    }
    return tc;
}

struct cp_rpc_tc *cp_rpc_tc_open(const char *target, const char *method)
{
    grpc_init();
    return open_with(target, method, grpc_insecure_credentials_create(), NULL);
}

struct cp_rpc_tc *cp_rpc_tc_open_tls(const char *target, const char *method,
                                     const struct cm_pki_creds *c)
{
    grpc_arg arg;
    grpc_init();
    cm_pki_grpc_target_arg(&arg);
    grpc_channel_args args = {.num_args = 1, .args = &arg};
    return open_with(target, method, cm_pki_grpc_creds(c), &args);
}

int cp_rpc_tc_send(struct cp_rpc_tc *tc, const uint8_t *data, size_t len)
{
    grpc_byte_buffer *bb = cp_rpc_buffer_from_bytes(data, len);
    grpc_op op;
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_SEND_MESSAGE;
    op.data.send_message.send_message = bb;
    grpc_call_error e =
        grpc_call_start_batch(tc->call, &op, 1, &tc->tag_send, NULL);
    bool ok = e == GRPC_CALL_OK && wait_tag(tc, &tc->tag_send, 5000);
    grpc_byte_buffer_destroy(bb);
    return ok ? GW_OK : GW_EIO;
}

int cp_rpc_tc_recv(struct cp_rpc_tc *tc, uint8_t **out, size_t *len,
                   int timeout_ms)
{
    if (tc->eos)
        return GW_EIO;
    if (!tc->recv_pending) {
        grpc_op ops[2];
        size_t n = 0;
        memset(ops, 0, sizeof(ops));
        if (!tc->md_received) {
            ops[n].op = GRPC_OP_RECV_INITIAL_METADATA;
            ops[n++].data.recv_initial_metadata.recv_initial_metadata =
                &tc->md_in;
            tc->md_received = true;
        }
        ops[n].op = GRPC_OP_RECV_MESSAGE;
        ops[n++].data.recv_message.recv_message = &tc->recv_buf;
        if (grpc_call_start_batch(tc->call, ops, n, &tc->tag_recv, NULL) !=
            GRPC_CALL_OK)
            return GW_EIO;
        tc->recv_pending = true;
    }
    if (!wait_tag(tc, &tc->tag_recv, timeout_ms))
        return GW_EAGAIN;
    tc->recv_pending = false;
    if (tc->recv_buf == NULL) {
        tc->eos = true;
        return GW_EIO;
    }
    int rc = cp_rpc_buffer_flatten(tc->recv_buf, out, len);
    grpc_byte_buffer_destroy(tc->recv_buf);
    tc->recv_buf = NULL;
    return rc;
}

int cp_rpc_tc_finish(struct cp_rpc_tc *tc, grpc_status_code *status,
                     int timeout_ms)
{
    if (!tc->status_started) {
        grpc_op ops[3];
        size_t n = 0;
        memset(ops, 0, sizeof(ops));
        if (!tc->md_received && !tc->recv_pending) {
            /* core completes the status only once metadata was asked for */
            ops[n].op = GRPC_OP_RECV_INITIAL_METADATA;
            ops[n++].data.recv_initial_metadata.recv_initial_metadata =
                &tc->md_in;
            tc->md_received = true;
        }
        ops[n++].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
        ops[n].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
        ops[n].data.recv_status_on_client.trailing_metadata = &tc->trailers;
        ops[n].data.recv_status_on_client.status = &tc->status;
        ops[n++].data.recv_status_on_client.status_details = &tc->details;
        if (grpc_call_start_batch(tc->call, ops, n, &tc->tag_status, NULL) !=
            GRPC_CALL_OK)
            return GW_EIO;
        tc->status_started = true;
    }
    if (!wait_tag(tc, &tc->tag_status, timeout_ms))
        return GW_EAGAIN;
    tc->status_done = true;
    *status = tc->status;
    return GW_OK;
}

void cp_rpc_tc_free(struct cp_rpc_tc *tc)
{
    if (tc == NULL)
        return;
    if (tc->call != NULL) {
        grpc_call_cancel(tc->call, NULL);
        if (tc->recv_pending)
            (void)wait_tag(tc, &tc->tag_recv, 5000);
        if (tc->status_started && !tc->status_done)
            (void)wait_tag(tc, &tc->tag_status, 5000);
        if (tc->recv_buf != NULL)
            grpc_byte_buffer_destroy(tc->recv_buf);
        grpc_call_unref(tc->call);
    }
    grpc_completion_queue_shutdown(tc->cq);
    while (grpc_completion_queue_pluck(tc->cq, NULL,
                                       gpr_inf_future(GPR_CLOCK_REALTIME), NULL)
               .type != GRPC_QUEUE_SHUTDOWN)
        ;
    grpc_completion_queue_destroy(tc->cq);
    grpc_channel_destroy(tc->ch);
    grpc_metadata_array_destroy(&tc->md_in);
    grpc_metadata_array_destroy(&tc->trailers);
    grpc_slice_unref(tc->details);
    free(tc);
    grpc_shutdown();
}
