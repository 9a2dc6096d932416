/*
 * rpc_test.c -- the rpc layer against a real gRPC C core client in the same
 * process: bidi echo, unary reply, server-side finish, stop with open calls.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "controlplane/rpc/rpc.h"
#include "controlplane/rpc/testclient.h"

struct counters {
    int started, messages, half_closed, done, cancelled;
    int sent;     /* on_sent: the queue drained */
    int released; /* shared bytes let go by gRPC (atomic: any thread) */
    size_t pending_after_share;
};

static const uint8_t shared_bytes[] = "abc";

static void release_shared(void *arg)
{
    struct counters *n = arg;
    __atomic_add_fetch(&n->released, 1, __ATOMIC_ACQ_REL);
}

/* Two messages of the same bytes, not copied, each with its own tail. */
static void send_shared(struct counters *n, struct cp_rpc_call *call)
{
    for (int i = 0; i < 2; i++) {
        char tail[2] = {(char)('1' + i), 0};
        assert_int_equal(
            cp_rpc_call_send_buffer(
                call, cp_rpc_buffer_shared(shared_bytes, 3, release_shared, n,
                                           (const uint8_t *)tail, 1)),
            0);
    }
    n->pending_after_share = cp_rpc_call_pending(call);
}

static int echo_start(void *arg, struct cp_rpc_call *call)
{
    struct counters *n = arg;
    n->started++;
    cp_rpc_call_set_data(call, n);
    assert_true(cp_rpc_call_id(call) > 0);
    assert_non_null(strstr(cp_rpc_call_peer(call), "127.0.0.1"));
    return 0;
}

static void echo_message(void *arg, struct cp_rpc_call *call,
                         const uint8_t *data, size_t len)
{
    struct counters *n = arg;
    n->messages++;
    if (len == 3 && memcmp(data, "bye", 3) == 0) {
        cp_rpc_call_finish(call, GRPC_STATUS_OK, NULL);
        return;
    }
    if (len == 5 && memcmp(data, "share", 5) == 0) {
        send_shared(n, call);
        return;
    }
    assert_int_equal(cp_rpc_call_send(call, data, len), 0);
    assert_int_equal(cp_rpc_call_send(call, data, len), 0);
}

static void echo_half_close(void *arg, struct cp_rpc_call *call)
{
    struct counters *n = arg;
    n->half_closed++;
    cp_rpc_call_finish(call, GRPC_STATUS_OK, NULL);
}

static void echo_done(void *arg, struct cp_rpc_call *call, int cancelled)
{
    struct counters *n = arg;
    assert_ptr_equal(cp_rpc_call_data(call), n);
    n->done++;
    n->cancelled += cancelled;
}

static void echo_sent(void *arg, struct cp_rpc_call *call)
{
    struct counters *n = arg;
    assert_int_equal(cp_rpc_call_pending(call), 0);
    __atomic_add_fetch(&n->sent, 1, __ATOMIC_ACQ_REL);
}

static void unary_message(void *arg, struct cp_rpc_call *call,
                          const uint8_t *data, size_t len)
{
    uint8_t out[64];
    assert_true(len <= sizeof(out));
    for (size_t i = 0; i < len; i++)
        out[i] = data[len - 1 - i];
    assert_int_equal(cp_rpc_call_send(call, out, len), 0);
    cp_rpc_call_finish(call, GRPC_STATUS_INVALID_ARGUMENT, "reversed");
    assert_int_equal(cp_rpc_call_send(call, out, len), GW_EIO);
}

static const struct cp_rpc_method_ops echo_ops = {
    .on_start = echo_start,
    .on_message = echo_message,
    .on_half_close = echo_half_close,
    .on_done = echo_done,
    .on_sent = echo_sent,
};

static const struct cp_rpc_method_ops unary_ops = {
    .on_message = unary_message,
};

static struct cp_rpc_server *start_server(struct counters *n, char *target)
{
    struct cp_rpc_server *srv = cp_rpc_server_new();
    assert_non_null(srv);
    assert_int_equal(cp_rpc_server_add_method(srv, "/test.Echo/Stream",
                                              CP_RPC_BIDI, &echo_ops, n),
                     0);
    assert_int_equal(cp_rpc_server_add_method(srv, "/test.Echo/Unary",
                                              CP_RPC_UNARY, &unary_ops, n),
                     0);
    int port = 0;
    char err[CM_ERR_LEN];
    assert_int_equal(
        cp_rpc_server_start(srv, "127.0.0.1:0", &port, err, sizeof(err)), 0);
    assert_true(port > 0);
    snprintf(target, 64, "127.0.0.1:%d", port);
    return srv;
}

static void expect_msg(struct cp_rpc_tc *tc, const char *want)
{
    uint8_t *got = NULL;
    size_t len = 0;
    assert_int_equal(cp_rpc_tc_recv(tc, &got, &len, 5000), 0);
    assert_int_equal(len, strlen(want));
    assert_memory_equal(got, want, len);
    free(got);
}

static void test_bidi_echo(void **state)
{
    struct counters n = {0};
    char target[64];
    struct cp_rpc_server *srv = start_server(&n, target);
    struct cp_rpc_tc *tc = cp_rpc_tc_open(target, "/test.Echo/Stream");
    assert_non_null(tc);
    assert_int_equal(cp_rpc_tc_send(tc, (const uint8_t *)"hello", 5), 0);
    expect_msg(tc, "hello");
    expect_msg(tc, "hello");
    assert_int_equal(cp_rpc_tc_send(tc, (const uint8_t *)"", 0), 0);
    expect_msg(tc, "");
    expect_msg(tc, "");
    uint8_t *got = NULL;
    size_t len = 0;
    assert_int_equal(cp_rpc_tc_recv(tc, &got, &len, 100), GW_EAGAIN);
    grpc_status_code st = GRPC_STATUS_UNKNOWN;
    assert_int_equal(cp_rpc_tc_finish(tc, &st, 5000), 0);
    assert_int_equal(st, GRPC_STATUS_OK);
    cp_rpc_tc_free(tc);
    cp_rpc_server_free(srv);
    assert_int_equal(n.started, 1);
    assert_int_equal(n.messages, 2);
    assert_int_equal(n.half_closed, 1);
    assert_int_equal(n.done, 1);
    assert_int_equal(n.cancelled, 0);
}

static void test_server_finish(void **state)
{
    struct counters n = {0};
    char target[64];
    struct cp_rpc_server *srv = start_server(&n, target);
    struct cp_rpc_tc *tc = cp_rpc_tc_open(target, "/test.Echo/Stream");
    assert_int_equal(cp_rpc_tc_send(tc, (const uint8_t *)"x", 1), 0);
    expect_msg(tc, "x");
    expect_msg(tc, "x");
    assert_int_equal(cp_rpc_tc_send(tc, (const uint8_t *)"bye", 3), 0);
    uint8_t *got = NULL;
    size_t len = 0;
    assert_int_equal(cp_rpc_tc_recv(tc, &got, &len, 5000), GW_EIO);
    grpc_status_code st = GRPC_STATUS_UNKNOWN;
    assert_int_equal(cp_rpc_tc_finish(tc, &st, 5000), 0);
    assert_int_equal(st, GRPC_STATUS_OK);
    cp_rpc_tc_free(tc);
    cp_rpc_server_free(srv);
    assert_int_equal(n.done, 1);
}

static void test_unary(void **state)
{
    struct counters n = {0};
    char target[64];
    struct cp_rpc_server *srv = start_server(&n, target);
    struct cp_rpc_tc *tc = cp_rpc_tc_open(target, "/test.Echo/Unary");
    assert_int_equal(cp_rpc_tc_send(tc, (const uint8_t *)"abc", 3), 0);
    expect_msg(tc, "cba");
    grpc_status_code st = GRPC_STATUS_UNKNOWN;
    assert_int_equal(cp_rpc_tc_finish(tc, &st, 5000), 0);
    assert_int_equal(st, GRPC_STATUS_INVALID_ARGUMENT);
    cp_rpc_tc_free(tc);
    cp_rpc_server_free(srv);
}

static void test_stop_with_open_calls(void **state)
{
    struct counters n = {0};
    char target[64];
    struct cp_rpc_server *srv = start_server(&n, target);
    struct cp_rpc_tc *a = cp_rpc_tc_open(target, "/test.Echo/Stream");
    struct cp_rpc_tc *b = cp_rpc_tc_open(target, "/test.Echo/Stream");
    assert_int_equal(cp_rpc_tc_send(a, (const uint8_t *)"1", 1), 0);
    assert_int_equal(cp_rpc_tc_send(b, (const uint8_t *)"2", 1), 0);
    expect_msg(a, "1");
    expect_msg(b, "2");
    cp_rpc_server_stop(srv);
    assert_int_equal(n.started, 2);
    assert_int_equal(n.done, 2);
    assert_int_equal(n.cancelled, 2);
    cp_rpc_server_free(srv);
    cp_rpc_tc_free(a);
    cp_rpc_tc_free(b);
}

/* Shared bytes go out uncopied with a per-message tail, the queue length is
 * known, on_sent reports the drain, and gRPC releases every reference. */
static void test_shared_buffers(void **state)
{
    struct counters n = {0};
    char target[64];
    struct cp_rpc_server *srv = start_server(&n, target);
    struct cp_rpc_tc *tc = cp_rpc_tc_open(target, "/test.Echo/Stream");
    assert_int_equal(cp_rpc_tc_send(tc, (const uint8_t *)"share", 5), 0);
    expect_msg(tc, "abc1");
    expect_msg(tc, "abc2");
    /* the send completion may reach the server a little after the client */
    for (int i = 0; i < 500 && __atomic_load_n(&n.sent, __ATOMIC_ACQUIRE) == 0;
         i++)
        usleep(10000);
    assert_true(__atomic_load_n(&n.sent, __ATOMIC_ACQUIRE) >= 1);
    assert_int_equal(n.pending_after_share, 2);
    assert_int_equal(cp_rpc_tc_send(tc, (const uint8_t *)"bye", 3), 0);
    grpc_status_code st = GRPC_STATUS_UNKNOWN;
    uint8_t *got = NULL;
    size_t len = 0;
    assert_int_equal(cp_rpc_tc_recv(tc, &got, &len, 5000), GW_EIO);
    assert_int_equal(cp_rpc_tc_finish(tc, &st, 5000), 0);
    cp_rpc_tc_free(tc);
    cp_rpc_server_free(srv);
    assert_int_equal(__atomic_load_n(&n.released, __ATOMIC_ACQUIRE), 2);
}

static void test_bad_address(void **state)
{
    struct cp_rpc_server *srv = cp_rpc_server_new();
    char err[CM_ERR_LEN] = "";
    assert_int_equal(
        cp_rpc_server_start(srv, "256.1.1.1:99999", NULL, err, sizeof(err)),
        GW_EIO);
    assert_non_null(strstr(err, "256.1.1.1"));
    cp_rpc_server_free(srv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bidi_echo),
        cmocka_unit_test(test_server_finish),
        cmocka_unit_test(test_unary),
        cmocka_unit_test(test_stop_with_open_calls),
        cmocka_unit_test(test_shared_buffers),
        cmocka_unit_test(test_bad_address),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
