/*
 * xds_client_driver.c -- runs one dp_xds client for integration/xdsclient
 * (run.sh). Its table builder is a stand-in for dataplane/table: it checks
 * what the test control plane can get wrong (every HTTP filter has a
 * typed_config and the last is the router; every route has an action) and
 * records the first endpoint port. Prints, line-buffered:
 *   applied n=N port=P listeners=L routes=R clusters=C endpoints=E ms=UNIX
 *   status state=S control=H:P delta=D cds=V eds=V lds=V rds=V applied=N
 *          rejected=N held=N failovers=N from_cache=F nack="..." ms=UNIX
 * (a status line whenever it changes). Exits on SIGTERM/SIGINT.
 *
 *   xds_client_driver --control H:P,... --node-id ID [--cache-dir DIR]
 *                     [--cache-wait-ms N] [--sotw]
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log/log.h"
#include "dataplane/xds/xds.h"
#include "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.pb-c.h"

#define ROUTER_URL                                                             \
    "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
#define HCM_URL                                                                \
    "type.googleapis.com/envoy.extensions.filters.network."                    \
    "http_connection_manager.v3.HttpConnectionManager"

typedef Envoy__Extensions__Filters__Network__HttpConnectionManager__V3__HttpConnectionManager
    hcm_msg;

/* The stand-in table. */
struct dp_table {
    int port;
    size_t n[4];
};

static volatile sig_atomic_t stop;
static unsigned long applies;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static long long unix_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int check_hcm(const char *lname, const Google__Protobuf__Any *any,
                     char *err, size_t len)
{
    if (any == NULL || strcmp(any->type_url, HCM_URL) != 0)
        return 0;
    hcm_msg *h =
        envoy__extensions__filters__network__http_connection_manager__v3__http_connection_manager__unpack(
            NULL, any->value.len, any->value.data);
    int rc = 0;
    if (h == NULL)
        return cm_err_set(err, len, GW_EINVAL, "listener \"%s\": bad HCM",
                          lname);
    if (h->n_http_filters == 0)
        rc = cm_err_set(err, len, GW_EINVAL, "listener \"%s\": no http_filters",
                        lname);
    for (size_t i = 0; rc == 0 && i < h->n_http_filters; i++) {
        const Envoy__Extensions__Filters__Network__HttpConnectionManager__V3__HttpFilter
            *f = h->http_filters[i];
        if (f->config_type_case !=
            ENVOY__EXTENSIONS__FILTERS__NETWORK__HTTP_CONNECTION_MANAGER__V3__HTTP_FILTER__CONFIG_TYPE_TYPED_CONFIG)
            rc = cm_err_set(err, len, GW_EINVAL,
                            "listener \"%s\": http_filters[%zu] \"%s\": "
                            "missing typed_config",
                            lname, i, f->name);
        else if (i + 1 == h->n_http_filters &&
                 strcmp(f->typed_config->type_url, ROUTER_URL) != 0)
            rc = cm_err_set(err, len, GW_EINVAL,
                            "listener \"%s\": last http filter is not the "
                            "router",
                            lname);
    }
    envoy__extensions__filters__network__http_connection_manager__v3__http_connection_manager__free_unpacked(
        h, NULL);
    return rc;
}

static int check_routes(const Envoy__Config__Route__V3__RouteConfiguration *rc,
                        char *err, size_t len)
{
    for (size_t i = 0; i < rc->n_virtual_hosts; i++)
        for (size_t j = 0; j < rc->virtual_hosts[i]->n_routes; j++)
            if (rc->virtual_hosts[i]->routes[j]->action_case ==
                ENVOY__CONFIG__ROUTE__V3__ROUTE__ACTION__NOT_SET)
                return cm_err_set(err, len, GW_EINVAL,
                                  "route_config \"%s\": virtual_host \"%s\" "
                                  "route %zu: no action",
                                  rc->name, rc->virtual_hosts[i]->name, j + 1);
    return 0;
}

static int first_port(const struct dp_xds_resources *r)
{
    for (size_t i = 0; i < r->n_endpoints; i++) {
        const Envoy__Config__Endpoint__V3__ClusterLoadAssignment *c =
            r->endpoints[i];
        for (size_t j = 0; j < c->n_endpoints; j++)
            for (size_t k = 0; k < c->endpoints[j]->n_lb_endpoints; k++) {
                const Envoy__Config__Endpoint__V3__LbEndpoint *e =
                    c->endpoints[j]->lb_endpoints[k];
                if (e->endpoint && e->endpoint->address &&
                    e->endpoint->address->socket_address)
                    return (int)
                        e->endpoint->address->socket_address->port_value;
            }
    }
    return 0;
}

static struct dp_table *build(void *ctx, const struct dp_xds_resources *r,
                              char *err, size_t len)
{
    (void)ctx;
    for (size_t i = 0; i < r->n_listeners; i++) {
        const Envoy__Config__Listener__V3__Listener *l = r->listeners[i];
        if (l->api_listener &&
            check_hcm(l->name, l->api_listener->api_listener, err, len) != 0)
            return NULL;
        for (size_t j = 0; j < l->n_filter_chains; j++)
            for (size_t k = 0; k < l->filter_chains[j]->n_filters; k++)
                if (check_hcm(l->name,
                              l->filter_chains[j]->filters[k]->typed_config,
                              err, len) != 0)
                    return NULL;
    }
    for (size_t i = 0; i < r->n_routes; i++)
        if (check_routes(r->routes[i], err, len) != 0)
            return NULL;
    struct dp_table *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return NULL;
    t->port = first_port(r);
    t->n[0] = r->n_listeners;
    t->n[1] = r->n_routes;
    t->n[2] = r->n_clusters;
    t->n[3] = r->n_endpoints;
    return t;
}

static void apply(void *ctx, struct dp_table *t)
{
    struct dp_table **cur = ctx;
    printf("applied n=%lu port=%d listeners=%zu routes=%zu clusters=%zu "
           "endpoints=%zu ms=%lld\n",
           ++applies, t->port, t->n[0], t->n[1], t->n[2], t->n[3], unix_ms());
    free(*cur);
    *cur = t;
}

static void status_line(const struct dp_xds_status *st, char *out, size_t n)
{
    snprintf(out, n,
             "state=%s control=%s delta=%d cds=%s eds=%s lds=%s rds=%s "
             "applied=%llu rejected=%llu held=%llu failovers=%llu "
             "from_cache=%d have_config=%d nack=\"%s\"",
             dp_xds_state_name(st->state), st->control, st->delta,
             st->version[DP_XDS_CLUSTER], st->version[DP_XDS_ENDPOINT],
             st->version[DP_XDS_LISTENER], st->version[DP_XDS_ROUTE],
             (unsigned long long)st->updates_applied,
             (unsigned long long)st->updates_rejected,
             (unsigned long long)st->updates_held,
             (unsigned long long)st->failovers, st->from_cache, st->have_config,
             st->last_nack);
}

int main(int argc, char **argv)
{
    struct dp_table *cur = NULL;
    struct dp_xds_opts o = {.node_id = "driver",
                            .workers = 1,
                            .admin_addr = "127.0.0.1:0",
                            .build = build,
                            .apply = apply,
                            .ctx = &cur};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--control") == 0 && i + 1 < argc)
            o.control = argv[++i];
        else if (strcmp(argv[i], "--node-id") == 0 && i + 1 < argc)
            o.node_id = argv[++i];
        else if (strcmp(argv[i], "--cache-dir") == 0 && i + 1 < argc)
            o.cache_dir = argv[++i];
        else if (strcmp(argv[i], "--cache-wait-ms") == 0 && i + 1 < argc)
            o.cache_wait_ms = atoi(argv[++i]);
        else if (strcmp(argv[i], "--sotw") == 0)
            o.sotw_only = 1;
        else if (strcmp(argv[i], "--debug") == 0)
            cm_log_set_level(CM_LOG_DEBUG);
        else {
            fprintf(stderr, "usage: xds_client_driver --control H:P,... "
                            "[--node-id ID] [--cache-dir DIR] "
                            "[--cache-wait-ms N] [--sotw] [--debug]\n");
            return 2;
        }
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    char err[CM_ERR_LEN];
    struct dp_xds_client *c = dp_xds_new(&o, err, sizeof(err));
    if (c == NULL) {
        fprintf(stderr, "xds_client_driver: %s\n", err);
        return 2;
    }
    if (dp_xds_start(c) != 0)
        return 1;
    char last[2048] = "", line[2048];
    while (!stop) {
        struct dp_xds_status st;
        dp_xds_status(c, &st);
        status_line(&st, line, sizeof(line));
        if (strcmp(line, last) != 0) {
            printf("status %s ms=%lld\n", line, unix_ms());
            memcpy(last, line, sizeof(last));
        }
        usleep(10000);
    }
    dp_xds_free(c);
    free(cur);
    printf("exit\n");
    return 0;
}
