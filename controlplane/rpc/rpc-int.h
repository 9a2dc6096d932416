/*
 * rpc-int.h -- what server.c and call.c share inside the module: the server
 * and method structs and the completion-queue tag. Not for other modules.
 */
#ifndef CP_RPC_INT_H
#define CP_RPC_INT_H

#include <grpc/grpc.h>
#include <pthread.h>
#include <stdbool.h>

#include "common/pki/pki_grpc.h"
#include "controlplane/rpc/rpc.h"

/* A connection must finish its TLS handshake within this. */
#define CP_RPC__HANDSHAKE_MS 10000

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
    unsigned access;                     /* cp_rpc_access bits */
};

/* The TLS material (tls.c): guarded by its own lock, since gRPC's
 * handshakers read it on their threads while the owner rotates it. */
struct cp_rpc__tls {
    pthread_mutex_t lock;
    char *chain, *key, *roots; /* owned PEM */
    uint64_t gen;              /* bumped by each cp_rpc_server_set_tls() */
    uint64_t served;           /* the generation gRPC has */
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
    bool secure; /* started with TLS: every call's peer is checked */
    struct cp_rpc__tls tls;
    cp_rpc_check_cb check; /* may be NULL */
    void *check_arg;
};

/* Asks grpc for the next call of <m> (server lock held). */
int cp_rpc__call_request(struct cp_rpc_server *srv, struct cp_rpc__method *m);

/* tls.c: the server credentials of the current material (fetcher), or
 * NULL with <err> when none was set. */
grpc_server_credentials *cp_rpc__tls_creds(struct cp_rpc_server *srv, char *err,
                                           size_t errlen);
void cp_rpc__tls_init(struct cp_rpc__tls *t);
void cp_rpc__tls_deinit(struct cp_rpc__tls *t);

/* tls.c: whether a call by <kind>/<info> may reach method <m>: 0, or the
 * status to refuse it with (details in *why, static). Server lock held. */
grpc_status_code cp_rpc__authorize(struct cp_rpc_server *srv,
                                   const struct cp_rpc__method *m,
                                   enum cm_pki_peer kind,
                                   const struct cm_pki_cert_info *info,
                                   const char **why);

#endif
