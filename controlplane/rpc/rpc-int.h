/*
 * rpc-int.h -- what server.c and call.c share inside the module: the server
 * and method structs and the completion-queue tag. Not for other modules.
 */
#ifndef CP_RPC_INT_H
#define CP_RPC_INT_H

#include <grpc/grpc.h>
#include <pthread.h>
#include <stdbool.h>

#include "controlplane/rpc/rpc.h"

/* Every pointer given to grpc as a tag is one of these; the CQ thread calls
 * <fn> with the event's success bit. */
struct cp_rpc__tag {
    void (*fn)(struct cp_rpc__tag *tag, int ok);
};

struct cp_rpc__method {
    struct cp_rpc__method *next;
    char *path;
    enum cp_rpc_kind kind;
    const struct cp_rpc_method_ops *ops; /* borrowed */
    void *arg;                           /* borrowed */
    void *handle;                        /* grpc registered method */
};

struct cp_rpc_server {
    grpc_server *server;
    grpc_completion_queue *cq;
    pthread_t thread;
    pthread_mutex_t lock; /* held by the CQ thread around every event */
    bool started;
    bool stopping; /* no new batches once set */
    struct cp_rpc__method *methods;
    uint64_t next_call_id;
    struct cp_rpc__tag shutdown_tag;
};

/* Asks grpc for the next call of <m> (server lock held). */
int cp_rpc__call_request(struct cp_rpc_server *srv, struct cp_rpc__method *m);

#endif
