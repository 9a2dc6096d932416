/*
 * node.c -- a control node's life: start the embedded redis-server when no
 * Redis is given, open the store, the gRPC server with the xDS and
 * management services, the HTTP server (dashboard, REST API, /metrics),
 * join the election, run the loop; on SIGTERM/SIGINT step down, stop gRPC
 * and HTTP, close the store and stop the embedded Redis. The store
 * callbacks land here. Main thread (the loop).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log/log.h"
#include "common/version/version.h"
#include "controlplane/node/node_int.h"

/* Time for the resign command to reach Redis before the store closes. */
#define STEP_DOWN_MS 150

/* ==== store callbacks ==== */

static void on_state(struct cp_store *s, int connected, const char *master,
                     void *arg)
{
    if (connected)
        cm_log_info(CP_NODE__MOD, "store_connected", "master=%s", master);
    else
        cm_log_warn(CP_NODE__MOD, "store_disconnected", "master=%s",
                    master[0] != '\0' ? master : "-");
}

static void on_leader(struct cp_store *s, int is_leader, uint64_t epoch,
                      const char *leader_id, void *arg)
{
    struct cp_node *n = arg;

    cm_log_info(CP_NODE__MOD, is_leader ? "became_leader" : "not_leader",
                "epoch=%llu leader=%s", (unsigned long long)epoch,
                leader_id != NULL ? leader_id : "-");
    cp_node__check_leader(n);
    if (is_leader) {
        cp_node__provider_check(n);
        cp_node__admin_tick(n); /* a new cluster gets its password now */
    }
}

static void on_revision(struct cp_store *s, uint64_t rev, void *arg)
{
    struct cp_node *n = arg;

    cm_log_debug(CP_NODE__MOD, "revision_event", "rev=%llu",
                 (unsigned long long)rev);
    if (cp_node__booting(n))
        return; /* the servers are not there yet: loaded once they are */
    cp_node__revision_changed(n);
}

/* ==== shutdown ==== */

static void close_quiet(uv_handle_t *h)
{
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

static void on_stop_timer(uv_timer_t *t)
{
    struct cp_node *n = t->data;

    cp_rpc_server_stop(n->rpc);
    cp_mgmt_close(n->mgmt);
    cp_http_close(n->http);
    n->http = NULL;
    cp_store_close(n->store);
    n->store = NULL;
    cp_node__provider_close(n);
    cp_node__scrape_close(n);
    cp_node__secure_close(n);
    close_quiet((uv_handle_t *)&n->hb_timer);
    close_quiet((uv_handle_t *)&n->sigterm);
    close_quiet((uv_handle_t *)&n->sigint);
    close_quiet((uv_handle_t *)&n->stop_timer);
}

static void on_signal(uv_signal_t *h, int sig)
{
    struct cp_node *n = h->data;

    if (n->stopping) {
        /* a repeated signal forces the exit; one sent twice at once (to the
         * process and its group) does not */
        if (uv_now(n->loop) - n->stop_ms < 1000)
            return;
        cm_log_warn(CP_NODE__MOD, "forced_exit", "signal=%d", sig);
        if (n->embedded != NULL)
            cp_store_embedded_stop(n->embedded);
        _exit(1);
    }
    cm_log_info(CP_NODE__MOD, "stopping", "signal=%d leader=%s", sig,
                cp_store_is_leader(n->store) ? "yes" : "no");
    n->stopping = true;
    n->stop_ms = uv_now(n->loop);
    uv_timer_stop(&n->hb_timer);
    cp_store_election_stop(n->store);
    uv_timer_start(&n->stop_timer, on_stop_timer, STEP_DOWN_MS, 0);
}

/* ==== start ==== */

static int start_store(struct cp_node *n, char *err, size_t errlen)
{
    const struct cp_node_flags *f = n->flags;
    struct cp_store_config cfg = {0};
    struct cp_store_callbacks cbs = {on_state, on_leader, on_revision, n};

    if (f->redis == NULL && f->sentinels == NULL) {
        struct cp_store_embedded_config ec = {.data_dir = f->data_dir,
                                              .require_password = !f->insecure};
        if (cp_node__make_dir(f->data_dir) != 0)
            return cm_err_set(err, errlen, GW_EIO,
                              "--data-dir %s: cannot create it", f->data_dir);
        if (cp_store_embedded_start(&ec, &n->embedded, err, errlen) != 0)
            return GW_ERR;
        cm_log_info(CP_NODE__MOD, "embedded_redis", "addr=%s pid=%d",
                    cp_store_embedded_addr(n->embedded),
                    (int)cp_store_embedded_pid(n->embedded));
        const char *pw = cp_store_embedded_password(n->embedded);
        if (pw != NULL) {
            free(n->redis_password);
            if ((n->redis_password = strdup(pw)) == NULL)
                return cm_err_set(err, errlen, GW_ENOMEM, "out of memory");
        }
    }
    cfg.password = n->redis_password;
    cfg.redis =
        n->embedded != NULL ? cp_store_embedded_addr(n->embedded) : f->redis;
    cfg.sentinels = f->sentinels;
    cfg.master_name = f->master_name;
    cfg.node_id = f->node_id;
    cfg.lease_ms = f->lease_ms;
    cfg.wait_timeout_ms = f->wait_timeout_ms;
    cfg.wait_replicas = f->wait_replicas == 0 ? -1 : f->wait_replicas;
    cfg.history = f->history;
    n->store = cp_store_new(n->loop, &cfg, &cbs, err, errlen);
    return n->store != NULL ? 0 : GW_ERR;
}

static int start_grpc(struct cp_node *n, char *err, size_t errlen)
{
    const struct cp_node_flags *f = n->flags;
    struct cp_mgmt_config mc = {0};
    struct cp_store_addr a;
    int port = 0;

    n->rpc = cp_rpc_server_new();
    n->xds = n->rpc != NULL ? cp_xds_server_new(n->rpc) : NULL;
    if (n->xds == NULL)
        return cm_err_set(err, errlen, GW_ENOMEM, "cannot create the servers");
    mc.loop = n->loop;
    mc.rpc = n->rpc;
    mc.store = n->store;
    mc.node_id = f->node_id;
    mc.history = f->history;
    mc.on_admin_hash = cp_node__admin_written;
    mc.on_admin_hash_arg = n;
    if (!f->insecure)
        cp_node__secure_mgmt(n, &mc);
    n->mgmt = cp_mgmt_new(&mc, err, errlen);
    if (n->mgmt == NULL)
        return GW_ERR;
    if (!f->insecure && cp_member_register(n->member, n->rpc) != 0)
        return cm_err_set(err, errlen, GW_ERR, "cannot register Membership");
    cp_xds_server_set_event_cb(n->xds, cp_node__xds_event, n);
    cp_node__publish_empty(n);
    if (f->insecure) {
        if (cp_rpc_server_start(n->rpc, f->grpc_addr, &port, err, errlen) != 0)
            return GW_ERR;
    } else if (cp_node__secure_serve(n, err, errlen) != 0 ||
               cp_rpc_server_start_tls(n->rpc, f->grpc_addr, &port,
                                       f->xds_plaintext_addr, NULL, err,
                                       errlen) != 0) {
        return GW_ERR;
    }
    (void)cp_store_parse_addr(f->grpc_addr, &a);
    a.port = port;
    cp_store_addr_str(&a, n->grpc_addr, sizeof(n->grpc_addr));
    return 0;
}

static int start_http(struct cp_node *n, char *err, size_t errlen)
{
    const struct cp_node_flags *f = n->flags;
    struct cp_http_config hc = {
        .loop = n->loop, .addr = f->http_addr, .node_id = f->node_id};
    struct cp_http_source src;
    struct cp_store_addr a;
    char herr[CM_ERR_LEN];

    if (cp_node__view_new(n) != 0)
        return cm_err_set(err, errlen, GW_ENOMEM, "out of memory");
    cp_node__view_source(n, &src);
    n->http = cp_http_new(&hc, &src, herr, sizeof(herr));
    if (n->http == NULL)
        return cm_err_set(err, errlen, GW_ERR, "--http-addr: %s", herr);
    if (!f->insecure) {
        /* before the loop runs: no connection is ever served in plain */
        char *chain = cp_node__cert_chain(n);
        int rc = chain != NULL ? cp_http_set_tls(n->http, chain, n->creds.key,
                                                 herr, sizeof(herr))
                               : GW_ENOMEM;
        free(chain);
        if (rc != 0)
            return cm_err_set(err, errlen, GW_ERR, "--http-addr: TLS: %s",
                              rc == GW_ENOMEM ? "out of memory" : herr);
    }
    (void)cp_store_parse_addr(f->http_addr, &a);
    a.port = cp_http_port(n->http);
    cp_store_addr_str(&a, n->http_addr, sizeof(n->http_addr));
    return 0;
}

static int start_loop_handles(struct cp_node *n, char *err, size_t errlen)
{
    uv_timer_init(n->loop, &n->hb_timer);
    n->hb_timer.data = n;
    uv_timer_init(n->loop, &n->stop_timer);
    n->stop_timer.data = n;
    uv_signal_init(n->loop, &n->sigterm);
    n->sigterm.data = n;
    uv_signal_init(n->loop, &n->sigint);
    n->sigint.data = n;
    uv_signal_start(&n->sigterm, on_signal, SIGTERM);
    uv_signal_start(&n->sigint, on_signal, SIGINT);
    uv_timer_start(&n->hb_timer, cp_node__heartbeat_tick, 0,
                   CP_NODE__HEARTBEAT_MS);
    if (n->flags->config != NULL &&
        cp_node__provider_start(n, n->flags->config) != 0)
        return cm_err_set(err, errlen, GW_EINVAL,
                          "--config %s: cannot watch its directory",
                          n->flags->config);
    if ((!n->store_started && cp_store_start(n->store) != 0) ||
        cp_store_election_start(n->store) != 0)
        return cm_err_set(err, errlen, GW_ERR, "cannot start the store");
    if (n->store_started)
        cp_node__revision_changed(n); /* events during the start-up waited */
    return 0;
}

static void teardown(struct cp_node *n)
{
    cp_rpc_server_stop(n->rpc);
    cp_mgmt_free(n->mgmt);
    cp_xds_server_free(n->xds);
    cp_rpc_server_free(n->rpc);
    cp_node__heartbeat_deinit(n);
    cp_node__view_free(n);
    cp_node__scrape_free(n);
    cp_xds_snapshot_put(n->published);
    free(n->api_eps);
    cp_store_embedded_stop(n->embedded);
    cp_node__secure_free(n);
}

/* Closes whatever is open on the loop after a failed start. */
static void close_all(uv_handle_t *h, void *arg)
{
    close_quiet(h);
}

int cp_node_run(const struct cp_node_flags *f)
{
    struct cp_node n = {.flags = f};
    char err[CM_ERR_LEN], line[256];
    uv_loop_t loop;
    int rc;

    signal(SIGPIPE, SIG_IGN);
    uv_loop_init(&loop);
    n.loop = &loop;
    rc = f->insecure ? 0 : cp_node__redis_password(&n, err, sizeof(err));
    if (rc == 0)
        rc = start_store(&n, err, sizeof(err));
    if (rc == 0 && !f->insecure)
        rc = cp_node__secure_boot(&n, err, sizeof(err));
    if (rc == 0)
        rc = start_grpc(&n, err, sizeof(err));
    if (rc == 0)
        rc = start_http(&n, err, sizeof(err));
    if (rc == 0)
        rc = start_loop_handles(&n, err, sizeof(err));
    if (rc != 0) {
        fprintf(stderr, "controlplane: %s\n", err);
        cp_rpc_server_stop(n.rpc);
        if (n.mgmt != NULL)
            cp_mgmt_close(n.mgmt);
        cp_http_close(n.http);
        n.http = NULL;
        cp_store_close(n.store);
        cp_node__provider_close(&n);
        uv_walk(&loop, close_all, NULL);
        uv_run(&loop, UV_RUN_DEFAULT);
        teardown(&n);
        uv_loop_close(&loop);
        return 1;
    }
    cm_log_info(CP_NODE__MOD, "started",
                "node=%s grpc=%s http=%s secure=%s store=%s version=\"%s\"",
                f->node_id, n.grpc_addr, n.http_addr,
                f->insecure ? "no" : "yes",
                f->sentinels != NULL ? "sentinel"
                : f->redis != NULL   ? "redis"
                                     : "embedded",
                cm_version_line(line, sizeof(line), "controlplane"));
    uv_run(&loop, UV_RUN_DEFAULT);
    teardown(&n);
    uv_loop_close(&loop);
    cm_log_info(CP_NODE__MOD, "stopped", "node=%s", f->node_id);
    return 0;
}
