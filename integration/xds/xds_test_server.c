/*
 * xds_test_server.c -- a control plane for the xDS integration tests: serves
 * one proxyless-gRPC configuration (API listener NAME -> RDS route-NAME ->
 * EDS cluster cluster-NAME -> ClusterLoadAssignment service-NAME pointing at
 * a loopback backend port) built in code, and publishes a new snapshot on
 * each stdin command or SIGHUP. Prints "listening PORT", one "event ..." line
 * per connect/disconnect/ACK/NACK, and the node list on "nodes".
 *
 * With --served-listener the listener carries the HCM in a filter chain
 * instead (what a data node serves: data nodes skip API listeners' routes).
 *
 *   xds_test_server [--addr H:P] [--name NAME] [--served-listener]
 *                   --backend PORT [--backend ...]
 *   stdin: backend PORT | next | nack-cluster | nack-route |
 *          nack-listener | good | drop-cluster | nodes | quit
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log/log.h"
#include "controlplane/rpc/rpc.h"
#include "controlplane/xds/xds.h"
#include "envoy/config/cluster/v3/cluster.pb-c.h"
#include "envoy/config/endpoint/v3/endpoint.pb-c.h"
#include "envoy/config/listener/v3/api_listener.pb-c.h"
#include "envoy/config/listener/v3/listener.pb-c.h"
#include "envoy/config/route/v3/route.pb-c.h"
#include "envoy/extensions/filters/http/router/v3/router.pb-c.h"
#include "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.pb-c.h"
#include "google/protobuf/wrappers.pb-c.h"

#define MAX_BACKENDS 8

enum variant {
    V_GOOD = 0,
    V_NACK_CLUSTER,  /* LEAST_REQUEST: rejected by grpc-js */
    V_NACK_ROUTE,    /* a route with no action (C core ignores the route) */
    V_NACK_LISTENER, /* router filter without typed_config: rejected by all */
    V_DROP_CLUSTER,  /* the cluster is missing */
};

struct state {
    const char *name;
    int backends[MAX_BACKENDS];
    int n_backends;
    int current; /* index into backends, or -1 for explicit_port */
    int explicit_port;
    enum variant variant;
    bool served_listener; /* filter chain rather than API listener */
    unsigned version;
    struct cp_xds_server *xds;
    pthread_mutex_t out_lock;
};

static int hup_pipe[2] = {-1, -1};

static void on_hup(int sig)
{
    (void)sig;
    int saved = errno;
    ssize_t rc = write(hup_pipe[1], "h", 1);
    (void)rc;
    errno = saved;
}

/* ---- resources ---- */

static int add_any(Google__Protobuf__Any *any, const ProtobufCMessage *msg,
                   uint8_t **buf)
{
    size_t len;
    if (cp_rpc_pb_pack(msg, buf, &len) != 0)
        return -1;
    static char url[256];
    snprintf(url, sizeof(url), "type.googleapis.com/%s", msg->descriptor->name);
    any->type_url = strdup(url);
    any->value.data = *buf;
    any->value.len = len;
    return 0;
}

static int add_listener(struct cp_xds_snapshot *s, const struct state *st)
{
    char lname[256], rname[256];
    snprintf(lname, sizeof(lname), "%s", st->name);
    snprintf(rname, sizeof(rname), "route-%s", st->name);
    Envoy__Extensions__Filters__Http__Router__V3__Router router =
        ENVOY__EXTENSIONS__FILTERS__HTTP__ROUTER__V3__ROUTER__INIT;
    Google__Protobuf__Any router_any = GOOGLE__PROTOBUF__ANY__INIT;
    uint8_t *router_buf = NULL, *hcm_buf = NULL;
    if (add_any(&router_any, &router.base, &router_buf) != 0)
        return -1;
    Envoy__Extensions__Filters__Network__HttpConnectionManager__V3__HttpFilter
        filter =
            ENVOY__EXTENSIONS__FILTERS__NETWORK__HTTP_CONNECTION_MANAGER__V3__HTTP_FILTER__INIT;
    filter.name = "envoy.filters.http.router";
    if (st->variant != V_NACK_LISTENER) {
        filter.config_type_case =
            ENVOY__EXTENSIONS__FILTERS__NETWORK__HTTP_CONNECTION_MANAGER__V3__HTTP_FILTER__CONFIG_TYPE_TYPED_CONFIG;
        filter.typed_config = &router_any;
    }
    Envoy__Extensions__Filters__Network__HttpConnectionManager__V3__HttpFilter
        *filters[1] = {&filter};
    Envoy__Config__Core__V3__AggregatedConfigSource ads =
        ENVOY__CONFIG__CORE__V3__AGGREGATED_CONFIG_SOURCE__INIT;
    Envoy__Config__Core__V3__ConfigSource src =
        ENVOY__CONFIG__CORE__V3__CONFIG_SOURCE__INIT;
    src.resource_api_version = ENVOY__CONFIG__CORE__V3__API_VERSION__V3;
    src.config_source_specifier_case =
        ENVOY__CONFIG__CORE__V3__CONFIG_SOURCE__CONFIG_SOURCE_SPECIFIER_ADS;
    src.ads = &ads;
    Envoy__Extensions__Filters__Network__HttpConnectionManager__V3__Rds rds =
        ENVOY__EXTENSIONS__FILTERS__NETWORK__HTTP_CONNECTION_MANAGER__V3__RDS__INIT;
    rds.config_source = &src;
    rds.route_config_name = rname;
    Envoy__Extensions__Filters__Network__HttpConnectionManager__V3__HttpConnectionManager
        hcm =
            ENVOY__EXTENSIONS__FILTERS__NETWORK__HTTP_CONNECTION_MANAGER__V3__HTTP_CONNECTION_MANAGER__INIT;
    hcm.stat_prefix = "xds_test";
    hcm.n_http_filters = 1;
    hcm.http_filters = filters;
    hcm.route_specifier_case =
        ENVOY__EXTENSIONS__FILTERS__NETWORK__HTTP_CONNECTION_MANAGER__V3__HTTP_CONNECTION_MANAGER__ROUTE_SPECIFIER_RDS;
    hcm.rds = &rds;
    Google__Protobuf__Any hcm_any = GOOGLE__PROTOBUF__ANY__INIT;
    int rc = add_any(&hcm_any, &hcm.base, &hcm_buf);
    Envoy__Config__Listener__V3__ApiListener api =
        ENVOY__CONFIG__LISTENER__V3__API_LISTENER__INIT;
    api.api_listener = &hcm_any;
    Envoy__Config__Listener__V3__Listener l =
        ENVOY__CONFIG__LISTENER__V3__LISTENER__INIT;
    Envoy__Config__Listener__V3__Filter net =
        ENVOY__CONFIG__LISTENER__V3__FILTER__INIT;
    Envoy__Config__Listener__V3__Filter *nets[1] = {&net};
    Envoy__Config__Listener__V3__FilterChain chain =
        ENVOY__CONFIG__LISTENER__V3__FILTER_CHAIN__INIT;
    Envoy__Config__Listener__V3__FilterChain *chains[1] = {&chain};
    l.name = lname;
    if (st->served_listener) {
        net.name = "envoy.filters.network.http_connection_manager";
        net.config_type_case =
            ENVOY__CONFIG__LISTENER__V3__FILTER__CONFIG_TYPE_TYPED_CONFIG;
        net.typed_config = &hcm_any;
        chain.n_filters = 1;
        chain.filters = nets;
        l.n_filter_chains = 1;
        l.filter_chains = chains;
    } else {
        l.api_listener = &api;
    }
    if (rc == 0)
        rc = cp_xds_snapshot_add(s, CP_XDS_LISTENER, lname, &l.base);
    free(router_buf);
    free(hcm_buf);
    free(router_any.type_url);
    free(hcm_any.type_url);
    return rc;
}

static int add_route(struct cp_xds_snapshot *s, const struct state *st)
{
    char rname[256], cname[256];
    snprintf(rname, sizeof(rname), "route-%s", st->name);
    snprintf(cname, sizeof(cname), "cluster-%s", st->name);
    Envoy__Config__Route__V3__RouteMatch match =
        ENVOY__CONFIG__ROUTE__V3__ROUTE_MATCH__INIT;
    match.path_specifier_case =
        ENVOY__CONFIG__ROUTE__V3__ROUTE_MATCH__PATH_SPECIFIER_PREFIX;
    match.prefix = "";
    Envoy__Config__Route__V3__RouteAction action =
        ENVOY__CONFIG__ROUTE__V3__ROUTE_ACTION__INIT;
    action.cluster_specifier_case =
        ENVOY__CONFIG__ROUTE__V3__ROUTE_ACTION__CLUSTER_SPECIFIER_CLUSTER;
    action.cluster = cname;
    Envoy__Config__Route__V3__Route route =
        ENVOY__CONFIG__ROUTE__V3__ROUTE__INIT;
    route.match = &match;
    if (st->variant != V_NACK_ROUTE) {
        route.action_case = ENVOY__CONFIG__ROUTE__V3__ROUTE__ACTION_ROUTE;
        route.route = &action;
    }
    Envoy__Config__Route__V3__Route *routes[1] = {&route};
    char *domains[1] = {"*"};
    Envoy__Config__Route__V3__VirtualHost vh =
        ENVOY__CONFIG__ROUTE__V3__VIRTUAL_HOST__INIT;
    vh.name = "all";
    vh.n_domains = 1;
    vh.domains = domains;
    vh.n_routes = 1;
    vh.routes = routes;
    Envoy__Config__Route__V3__VirtualHost *vhs[1] = {&vh};
    Envoy__Config__Route__V3__RouteConfiguration rc =
        ENVOY__CONFIG__ROUTE__V3__ROUTE_CONFIGURATION__INIT;
    rc.name = rname;
    rc.n_virtual_hosts = 1;
    rc.virtual_hosts = vhs;
    return cp_xds_snapshot_add(s, CP_XDS_ROUTE, rname, &rc.base);
}

static int add_cluster(struct cp_xds_snapshot *s, const struct state *st)
{
    char cname[256], sname[256];
    snprintf(cname, sizeof(cname), "cluster-%s", st->name);
    snprintf(sname, sizeof(sname), "service-%s", st->name);
    Envoy__Config__Core__V3__AggregatedConfigSource ads =
        ENVOY__CONFIG__CORE__V3__AGGREGATED_CONFIG_SOURCE__INIT;
    Envoy__Config__Core__V3__ConfigSource src =
        ENVOY__CONFIG__CORE__V3__CONFIG_SOURCE__INIT;
    src.resource_api_version = ENVOY__CONFIG__CORE__V3__API_VERSION__V3;
    src.config_source_specifier_case =
        ENVOY__CONFIG__CORE__V3__CONFIG_SOURCE__CONFIG_SOURCE_SPECIFIER_ADS;
    src.ads = &ads;
    Envoy__Config__Cluster__V3__Cluster__EdsClusterConfig eds =
        ENVOY__CONFIG__CLUSTER__V3__CLUSTER__EDS_CLUSTER_CONFIG__INIT;
    eds.eds_config = &src;
    eds.service_name = sname;
    Envoy__Config__Cluster__V3__Cluster c =
        ENVOY__CONFIG__CLUSTER__V3__CLUSTER__INIT;
    c.name = cname;
    c.cluster_discovery_type_case =
        ENVOY__CONFIG__CLUSTER__V3__CLUSTER__CLUSTER_DISCOVERY_TYPE_TYPE;
    c.type = ENVOY__CONFIG__CLUSTER__V3__CLUSTER__DISCOVERY_TYPE__EDS;
    c.eds_cluster_config = &eds;
    c.lb_policy =
        st->variant == V_NACK_CLUSTER
            ? ENVOY__CONFIG__CLUSTER__V3__CLUSTER__LB_POLICY__LEAST_REQUEST
            : ENVOY__CONFIG__CLUSTER__V3__CLUSTER__LB_POLICY__ROUND_ROBIN;
    return cp_xds_snapshot_add(s, CP_XDS_CLUSTER, cname, &c.base);
}

static int add_endpoints(struct cp_xds_snapshot *s, int port,
                         const struct state *st)
{
    char sname[256];
    snprintf(sname, sizeof(sname), "service-%s", st->name);
    Envoy__Config__Core__V3__SocketAddress sa =
        ENVOY__CONFIG__CORE__V3__SOCKET_ADDRESS__INIT;
    sa.address = "127.0.0.1";
    sa.port_specifier_case =
        ENVOY__CONFIG__CORE__V3__SOCKET_ADDRESS__PORT_SPECIFIER_PORT_VALUE;
    sa.port_value = (uint32_t)port;
    Envoy__Config__Core__V3__Address addr =
        ENVOY__CONFIG__CORE__V3__ADDRESS__INIT;
    addr.address_case =
        ENVOY__CONFIG__CORE__V3__ADDRESS__ADDRESS_SOCKET_ADDRESS;
    addr.socket_address = &sa;
    Envoy__Config__Endpoint__V3__Endpoint ep =
        ENVOY__CONFIG__ENDPOINT__V3__ENDPOINT__INIT;
    ep.address = &addr;
    Envoy__Config__Endpoint__V3__LbEndpoint lbe =
        ENVOY__CONFIG__ENDPOINT__V3__LB_ENDPOINT__INIT;
    lbe.host_identifier_case =
        ENVOY__CONFIG__ENDPOINT__V3__LB_ENDPOINT__HOST_IDENTIFIER_ENDPOINT;
    lbe.endpoint = &ep;
    Envoy__Config__Endpoint__V3__LbEndpoint *lbes[1] = {&lbe};
    Envoy__Config__Core__V3__Locality loc =
        ENVOY__CONFIG__CORE__V3__LOCALITY__INIT;
    loc.region = "local";
    loc.zone = "z1";
    Google__Protobuf__UInt32Value weight = GOOGLE__PROTOBUF__UINT32_VALUE__INIT;
    weight.value = 1;
    Envoy__Config__Endpoint__V3__LocalityLbEndpoints lle =
        ENVOY__CONFIG__ENDPOINT__V3__LOCALITY_LB_ENDPOINTS__INIT;
    lle.locality = &loc;
    lle.n_lb_endpoints = 1;
    lle.lb_endpoints = lbes;
    lle.load_balancing_weight = &weight;
    Envoy__Config__Endpoint__V3__LocalityLbEndpoints *lles[1] = {&lle};
    Envoy__Config__Endpoint__V3__ClusterLoadAssignment cla =
        ENVOY__CONFIG__ENDPOINT__V3__CLUSTER_LOAD_ASSIGNMENT__INIT;
    cla.cluster_name = sname;
    cla.n_endpoints = 1;
    cla.endpoints = lles;
    return cp_xds_snapshot_add(s, CP_XDS_ENDPOINT, sname, &cla.base);
}

static int current_port(const struct state *st)
{
    return st->current < 0 ? st->explicit_port : st->backends[st->current];
}

/* Builds and publishes the snapshot for the current state. */
static int publish(struct state *st)
{
    char version[32];
    snprintf(version, sizeof(version), "v%u", ++st->version);
    struct cp_xds_snapshot *s = cp_xds_snapshot_new(version);
    if (s == NULL)
        return -1;
    int rc = add_listener(s, st);
    if (rc == 0)
        rc = add_route(s, st);
    if (rc == 0 && st->variant != V_DROP_CLUSTER)
        rc = add_cluster(s, st);
    if (rc == 0)
        rc = add_endpoints(s, current_port(st), st);
    if (rc == 0)
        cp_xds_server_set_snapshot(st->xds, s);
    cp_xds_snapshot_put(s);
    pthread_mutex_lock(&st->out_lock);
    printf("published %s port=%d variant=%d rc=%d\n", version, current_port(st),
           (int)st->variant, rc);
    fflush(stdout);
    pthread_mutex_unlock(&st->out_lock);
    return rc;
}

/* ---- output ---- */

static const char *kind_name(enum cp_xds_event_kind k)
{
    switch (k) {
    case CP_XDS_EV_CONNECTED:
        return "connected";
    case CP_XDS_EV_DISCONNECTED:
        return "disconnected";
    case CP_XDS_EV_ACK:
        return "ack";
    case CP_XDS_EV_NACK:
        return "nack";
    }
    return "?";
}

static void on_event(void *arg, const struct cp_xds_event *ev)
{
    struct state *st = arg;
    char q[2][1100];
    pthread_mutex_lock(&st->out_lock);
    printf("event %s stream=%llu node=%s type=%s version=%s nonce=%s "
           "message=%s\n",
           kind_name(ev->kind), (unsigned long long)ev->stream_id,
           cm_log_quote(q[0], sizeof(q[0]), ev->node_id),
           ev->kind >= CP_XDS_EV_ACK ? cp_xds_type_short(ev->type) : "-",
           ev->version ? ev->version : "-", ev->nonce ? ev->nonce : "-",
           cm_log_quote(q[1], sizeof(q[1]), ev->message ? ev->message : "-"));
    fflush(stdout);
    pthread_mutex_unlock(&st->out_lock);
}

static void print_nodes(struct state *st)
{
    struct cp_xds_node_info *nodes = NULL;
    size_t n = 0;
    if (cp_xds_server_list_nodes(st->xds, &nodes, &n) != 0)
        return;
    pthread_mutex_lock(&st->out_lock);
    char q[8][1100];
    for (size_t i = 0; i < n; i++) {
        const struct cp_xds_node_info *ni = &nodes[i];
        printf("node stream=%llu id=%s agent=%s/%s delta=%d",
               (unsigned long long)ni->stream_id,
               cm_log_quote(q[0], sizeof(q[0]), ni->id),
               cm_log_quote(q[1], sizeof(q[1]), ni->user_agent_name),
               ni->user_agent_version, ni->delta);
        for (int t = 0; t < CP_XDS_TYPE_COUNT; t++) {
            const struct cp_xds_type_info *ti = &ni->types[t];
            if (!ti->subscribed)
                continue;
            printf(" %s.names=%u %s.wildcard=%d", cp_xds_type_short(t),
                   ti->n_names, cp_xds_type_short(t), ti->wildcard);
            printf(" %s.acked=%s %s.nacks=%llu %s.nack=%s",
                   cp_xds_type_short(t),
                   ti->acked_version[0] ? ti->acked_version : "-",
                   cp_xds_type_short(t), (unsigned long long)ti->nacks,
                   cp_xds_type_short(t),
                   cm_log_quote(q[2 + t], sizeof(q[2]),
                                ti->nack_message[0] ? ti->nack_message : "-"));
        }
        printf("\n");
    }
    printf("nodes end %zu\n", n);
    fflush(stdout);
    pthread_mutex_unlock(&st->out_lock);
    free(nodes);
}

/* ---- commands ---- */

/* Returns 1 to quit. */
static int command(struct state *st, char *line)
{
    line[strcspn(line, "\r\n")] = '\0';
    int port;
    if (sscanf(line, "backend %d", &port) == 1) {
        st->current = -1;
        st->explicit_port = port;
    } else if (strcmp(line, "next") == 0) {
        if (st->current < 0)
            st->current = 0;
        else
            st->current = (st->current + 1) % st->n_backends;
    } else if (strcmp(line, "nack-cluster") == 0) {
        st->variant = V_NACK_CLUSTER;
    } else if (strcmp(line, "nack-route") == 0) {
        st->variant = V_NACK_ROUTE;
    } else if (strcmp(line, "nack-listener") == 0) {
        st->variant = V_NACK_LISTENER;
    } else if (strcmp(line, "drop-cluster") == 0) {
        st->variant = V_DROP_CLUSTER;
    } else if (strcmp(line, "good") == 0) {
        st->variant = V_GOOD;
    } else if (strcmp(line, "nodes") == 0) {
        print_nodes(st);
        return 0;
    } else if (strcmp(line, "quit") == 0) {
        return 1;
    } else if (line[0] != '\0') {
        fprintf(stderr, "unknown command: %s\n", line);
        return 0;
    } else {
        return 0;
    }
    publish(st);
    return 0;
}

static void loop(struct state *st)
{
    char line[512];
    size_t used = 0;
    for (;;) {
        struct pollfd fds[2] = {{.fd = 0, .events = POLLIN},
                                {.fd = hup_pipe[0], .events = POLLIN}};
        if (poll(fds, 2, -1) == -1) {
            if (errno == EINTR)
                continue;
            return;
        }
        if (fds[1].revents & POLLIN) {
            char b[16];
            if (read(hup_pipe[0], b, sizeof(b)) > 0) {
                char next[] = "next";
                command(st, next);
            }
        }
        if (fds[0].revents & (POLLIN | POLLHUP)) {
            ssize_t n = read(0, line + used, sizeof(line) - 1 - used);
            if (n <= 0)
                return; /* stdin closed: exit */
            used += (size_t)n;
            line[used] = '\0';
            char *nl;
            while ((nl = strchr(line, '\n')) != NULL) {
                *nl = '\0';
                if (command(st, line))
                    return;
                size_t rest = used - (size_t)(nl + 1 - line);
                memmove(line, nl + 1, rest);
                used = rest;
                line[used] = '\0';
            }
            if (used == sizeof(line) - 1)
                used = 0;
        }
    }
}

int main(int argc, char **argv)
{
    struct state st = {.name = "xds-test", .current = 0};
    const char *addr = "127.0.0.1:0";
    pthread_mutex_init(&st.out_lock, NULL);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--addr") == 0 && i + 1 < argc)
            addr = argv[++i];
        else if (strcmp(argv[i], "--name") == 0 && i + 1 < argc)
            st.name = argv[++i];
        else if (strcmp(argv[i], "--backend") == 0 && i + 1 < argc &&
                 st.n_backends < MAX_BACKENDS)
            st.backends[st.n_backends++] = atoi(argv[++i]);
        else if (strcmp(argv[i], "--served-listener") == 0)
            st.served_listener = true;
        else if (strcmp(argv[i], "--debug") == 0)
            cm_log_set_level(CM_LOG_DEBUG);
        else {
            fprintf(stderr, "usage: xds_test_server [--addr H:P] [--name NAME] "
                            "[--served-listener] --backend PORT "
                            "[--backend PORT...] [--debug]\n");
            return 2;
        }
    }
    if (st.n_backends == 0) {
        fprintf(stderr, "xds_test_server: need --backend PORT\n");
        return 2;
    }
    if (pipe(hup_pipe) == -1)
        return 1;
    struct sigaction sa = {0};
    sa.sa_handler = on_hup;
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct cp_rpc_server *rpc = cp_rpc_server_new();
    st.xds = rpc != NULL ? cp_xds_server_new(rpc) : NULL;
    if (st.xds == NULL)
        return 1;
    cp_xds_server_set_event_cb(st.xds, on_event, &st);
    st.version = 0;
    if (publish(&st) != 0)
        return 1;
    int port = 0;
    char err[CM_ERR_LEN];
    if (cp_rpc_server_start(rpc, addr, &port, err, sizeof(err)) != 0) {
        fprintf(stderr, "xds_test_server: %s\n", err);
        return 1;
    }
    pthread_mutex_lock(&st.out_lock);
    printf("listening %d\n", port);
    fflush(stdout);
    pthread_mutex_unlock(&st.out_lock);
    loop(&st);
    cp_rpc_server_stop(rpc);
    cp_xds_server_free(st.xds);
    cp_rpc_server_free(rpc);
    return 0;
}
