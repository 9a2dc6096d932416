/*
 * rpc-t.h -- types of the generic gRPC server layer (cp_rpc_): the method
 * kinds and the callbacks a service implements. The server, its calls and
 * their state machines are opaque (server.c, call.c). Every callback runs on
 * the server's completion-queue thread with the server lock held.
 */
#ifndef CP_RPC_T_H
#define CP_RPC_T_H

#include <stddef.h>
#include <stdint.h>

struct cp_rpc_server;
struct cp_rpc_call;

enum cp_rpc_kind {
    CP_RPC_UNARY = 0, /* one request message, one reply */
    CP_RPC_BIDI = 1,  /* messages both ways until either side ends */
};

/* Where a call is in its life (call.c drives it). */
enum cp_rpc_call_state {
    CP_RPC_CALL_REQUESTED = 0, /* waiting for grpc to hand us a call */
    CP_RPC_CALL_ACTIVE,        /* started; messages flow */
    CP_RPC_CALL_FINISHING,     /* status queued behind pending sends */
    CP_RPC_CALL_CLOSED,        /* status sent or call cancelled; on_done ran */
};

/* The callbacks of one registered method. on_start may be NULL (accept);
 * the others may be NULL (ignored). After on_done the call is gone. */
struct cp_rpc_method_ops {
    /* A call arrived. Return 0 to accept, negative to refuse it (the client
     * gets UNAVAILABLE). Use cp_rpc_call_set_data() to attach state. */
    int (*on_start)(void *arg, struct cp_rpc_call *call);
    /* One request message; <data> borrowed for the duration of the call. */
    void (*on_message)(void *arg, struct cp_rpc_call *call, const uint8_t *data,
                       size_t len);
    /* The client half-closed: no more messages will come. */
    void (*on_half_close)(void *arg, struct cp_rpc_call *call);
    /* The call is over (<cancelled> when it did not end with our status):
     * free what was attached; the call must not be used afterwards. */
    void (*on_done)(void *arg, struct cp_rpc_call *call, int cancelled);
    /* Every queued message was written: the send queue is empty again (a
     * streaming service pushes its next update from here). */
    void (*on_sent)(void *arg, struct cp_rpc_call *call);
};

#endif
