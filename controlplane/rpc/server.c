/*
 * server.c -- the gRPC server object: creation, method registration, the
 * listening ports (plain, or TLS plus an optional plain one), the
 * completion-queue thread that dispatches every event
 * under the server lock, and the orderly stop. Calls live in call.c.
 */
#include <stdlib.h>
#include <string.h>

#include <grpc/grpc_security.h>
#include <grpc/support/time.h>

#include "common/log/log.h"
#include "controlplane/rpc/rpc-int.h"

static void on_shutdown(struct cp_rpc__tag *tag, int ok)
{
    struct cp_rpc_server *srv =
        (struct cp_rpc_server *)((char *)tag -
                                 offsetof(struct cp_rpc_server, shutdown_tag));
    (void)ok;
    grpc_completion_queue_shutdown(srv->cq);
}

struct cp_rpc_server *cp_rpc_server_new(void)
{
    struct cp_rpc_server *srv = calloc(1, sizeof(*srv));
    if (srv == NULL)
        return NULL;
    grpc_init();
    /* a stalled TLS handshake holds ~55 KB: bound it well below gRPC's
     * default of 120 s */
    grpc_arg arg = {.type = GRPC_ARG_INTEGER,
                    .key = (char *)GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS,
                    .value.integer = CP_RPC__HANDSHAKE_MS};
    grpc_channel_args args = {.num_args = 1, .args = &arg};

    srv->server = grpc_server_create(&args, NULL);
    srv->cq = grpc_completion_queue_create_for_next(NULL);
    if (srv->server == NULL || srv->cq == NULL)
        goto fail;
    grpc_server_register_completion_queue(srv->server, srv->cq, NULL);
    pthread_mutex_init(&srv->lock, NULL);
    cp_rpc__tls_init(&srv->tls);
    srv->next_call_id = 1;
    srv->shutdown_tag.fn = on_shutdown;
    return srv;
fail:
    if (srv->server != NULL)
        grpc_server_destroy(srv->server);
    if (srv->cq != NULL)
        grpc_completion_queue_destroy(srv->cq);
    grpc_shutdown();
    free(srv);
    return NULL;
}

int cp_rpc_server_add_method(struct cp_rpc_server *srv, const char *path,
                             enum cp_rpc_kind kind,
                             const struct cp_rpc_method_ops *ops, void *arg)
{
    if (srv->started || path == NULL || ops == NULL)
        return GW_EINVAL;
    struct cp_rpc__method *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return GW_ENOMEM;
    m->path = strdup(path);
    if (m->path == NULL) {
        free(m);
        return GW_ENOMEM;
    }
    m->kind = kind;
    m->access = CP_RPC_ACCESS_MGMT;
    m->ops = ops;
    m->arg = arg;
    m->handle = grpc_server_register_method(srv->server, m->path, NULL,
                                            GRPC_SRM_PAYLOAD_NONE, 0);
    if (m->handle == NULL) {
        free(m->path);
        free(m);
        return GW_EINVAL;
    }
    m->next = srv->methods;
    srv->methods = m;
    return GW_OK;
}

static void *cq_thread(void *arg)
{
    struct cp_rpc_server *srv = arg;
    for (;;) {
        grpc_event ev = grpc_completion_queue_next(
            srv->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        if (ev.type == GRPC_QUEUE_SHUTDOWN)
            break;
        if (ev.type != GRPC_OP_COMPLETE)
            continue;
        struct cp_rpc__tag *tag = ev.tag;
        pthread_mutex_lock(&srv->lock);
        tag->fn(tag, ev.success);
        pthread_mutex_unlock(&srv->lock);
    }
    return NULL;
}

int cp_rpc_server_set_access(struct cp_rpc_server *srv, const char *path,
                             unsigned access)
{
    for (struct cp_rpc__method *m = srv->methods; m != NULL; m = m->next) {
        if (strcmp(m->path, path) == 0) {
            m->access = access;
            return GW_OK;
        }
    }
    return GW_ENOENT;
}

void cp_rpc_server_set_check(struct cp_rpc_server *srv, cp_rpc_check_cb cb,
                             void *arg)
{
    srv->check = cb;
    srv->check_arg = arg;
}

bool cp_rpc_server_secure(const struct cp_rpc_server *srv)
{
    return srv->secure;
}

/* Listens on <addr> with <creds> (released here): the port, or 0. */
static int add_port(struct cp_rpc_server *srv, const char *addr,
                    grpc_server_credentials *creds)
{
    int p = grpc_server_add_http2_port(srv->server, addr, creds);
    grpc_server_credentials_release(creds);
    return p;
}

/* Starts serving once the ports were added: requests a call of each
 * method and starts the CQ thread. */
static int run(struct cp_rpc_server *srv, char *err, size_t errlen)
{
    grpc_server_start(srv->server);
    srv->started = true;
    pthread_mutex_lock(&srv->lock);
    int rc = GW_OK;
    for (struct cp_rpc__method *m = srv->methods; m != NULL && rc == 0;
         m = m->next)
        rc = cp_rpc__call_request(srv, m);
    pthread_mutex_unlock(&srv->lock);
    if (pthread_create(&srv->thread, NULL, cq_thread, srv) != 0) {
        srv->stopping = true;
        grpc_server_shutdown_and_notify(srv->server, srv->cq,
                                        &srv->shutdown_tag);
        grpc_server_cancel_all_calls(srv->server);
        cq_thread(srv);
        srv->started = false;
        return cm_err_set(err, errlen, GW_ENOMEM, "cannot start CQ thread");
    }
    if (rc != 0)
        cm_log_warn("rpc", "request_call_failed", "rc=%d", rc);
    return GW_OK;
}

int cp_rpc_server_start(struct cp_rpc_server *srv, const char *addr, int *port,
                        char *err, size_t errlen)
{
    if (srv->started)
        return cm_err_set(err, errlen, GW_EINVAL, "server already started");
    int p = add_port(srv, addr, grpc_insecure_server_credentials_create());
    if (p == 0)
        return cm_err_set(err, errlen, GW_EIO, "cannot listen on %s", addr);
    int rc = run(srv, err, errlen);
    if (rc == 0 && port != NULL)
        *port = p;
    return rc;
}

int cp_rpc_server_start_tls(struct cp_rpc_server *srv, const char *addr,
                            int *port, const char *plain_addr, int *plain_port,
                            char *err, size_t errlen)
{
    if (srv->started)
        return cm_err_set(err, errlen, GW_EINVAL, "server already started");
    grpc_server_credentials *creds = cp_rpc__tls_creds(srv, err, errlen);
    if (creds == NULL)
        return GW_EINVAL;
    int p = add_port(srv, addr, creds), pp = 0;
    if (p == 0)
        return cm_err_set(err, errlen, GW_EIO, "cannot listen on %s", addr);
    if (plain_addr != NULL) {
        pp = add_port(srv, plain_addr,
                      grpc_insecure_server_credentials_create());
        if (pp == 0)
            return cm_err_set(err, errlen, GW_EIO, "cannot listen on %s",
                              plain_addr);
    }
    srv->secure = true;
    int rc = run(srv, err, errlen);
    if (rc == 0 && port != NULL)
        *port = p;
    if (rc == 0 && plain_port != NULL)
        *plain_port = pp;
    return rc;
}

void cp_rpc_server_stop(struct cp_rpc_server *srv)
{
    if (!srv->started)
        return;
    pthread_mutex_lock(&srv->lock);
    srv->stopping = true;
    pthread_mutex_unlock(&srv->lock);
    grpc_server_shutdown_and_notify(srv->server, srv->cq, &srv->shutdown_tag);
    grpc_server_cancel_all_calls(srv->server);
    pthread_join(srv->thread, NULL);
    srv->started = false;
}

void cp_rpc_server_free(struct cp_rpc_server *srv)
{
    if (srv == NULL)
        return;
    bool had_thread = srv->started;
    cp_rpc_server_stop(srv);
    if (!had_thread) {
        /* never started: the CQ still needs an orderly shutdown */
        grpc_completion_queue_shutdown(srv->cq);
        while (grpc_completion_queue_next(
                   srv->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL)
                   .type != GRPC_QUEUE_SHUTDOWN)
            ;
    }
    grpc_server_destroy(srv->server);
    grpc_completion_queue_destroy(srv->cq);
    while (srv->methods != NULL) {
        struct cp_rpc__method *m = srv->methods;
        srv->methods = m->next;
        free(m->path);
        free(m);
    }
    pthread_mutex_destroy(&srv->lock);
    cp_rpc__tls_deinit(&srv->tls);
    free(srv);
    grpc_shutdown();
}

void cp_rpc_server_lock(struct cp_rpc_server *srv)
{
    pthread_mutex_lock(&srv->lock);
}

void cp_rpc_server_unlock(struct cp_rpc_server *srv)
{
    pthread_mutex_unlock(&srv->lock);
}
