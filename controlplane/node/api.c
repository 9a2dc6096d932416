/*
 * api.c -- the endpoints of the built-in service api@internal (the
 * dashboard and REST API through the data nodes): common/xds emits its
 * Cluster but no ClusterLoadAssignment; this file owns that assignment, one
 * endpoint per healthy control node's HTTP address, added to each
 * revision's snapshot and re-published (same resources, a new version
 * "REV.GEN") when the set of addresses changes. In secure mode the
 * control nodes' HTTP side is HTTPS: cp_node__api_tls() turns the Cluster
 * into one over TLS that trusts only the cluster CA and checks the name
 * every control certificate carries; its /ping health check stays and runs
 * over that TLS (the data node probes a TLS cluster over TLS). Loop thread,
 * except cp_node__api_add() and cp_node__api_tls() (any thread).
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config/config.h"
#include "common/log/log.h"
#include "controlplane/node/node_int.h"
#include "envoy/config/cluster/v3/cluster.pb-c.h"
#include "envoy/config/endpoint/v3/endpoint.pb-c.h"
#include "envoy/extensions/transport_sockets/tls/v3/tls.pb-c.h"

#define MAX_EPS 64
/* The DNS name of every control certificate, checked by the data nodes:
 * CM_PKI_CONTROL_NAME (common/pki is not a dependency of this package). */
#define API_TLS_NAME "traefikee-control"
#define TLS_SOCKET   "envoy.transport_sockets.tls"
#define UP_TLS_URL                                                             \
    "type.googleapis.com/"                                                     \
    "envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext"
#define TLS_(x)  Envoy__Extensions__TransportSockets__Tls__V3__##x
#define TLS_C(x) ENVOY__EXTENSIONS__TRANSPORT_SOCKETS__TLS__V3__##x

typedef Envoy__Config__Endpoint__V3__LbEndpoint LbEndpoint;

struct eps {
    char *v[MAX_EPS]; /* "host port" */
    size_t n;
};

static bool is_ip(const char *h)
{
    unsigned char buf[16];
    return inet_pton(AF_INET, h, buf) == 1 || inet_pton(AF_INET6, h, buf) == 1;
}

static bool unspecified(const char *h)
{
    return h[0] == '\0' || strcmp(h, "0.0.0.0") == 0 || strcmp(h, "::") == 0 ||
           strcmp(h, "localhost") == 0;
}

/* Adds the endpoint of one control node: its HTTP host, or (unspecified)
 * its gRPC host, or 127.0.0.1; IP literals only. */
static void add(void *arg, const char *http, const char *grpc)
{
    struct eps *e = arg;
    struct cp_store_addr a, g;
    const char *host;
    char *s;

    if (e->n == MAX_EPS || cp_store_parse_addr(http, &a) != 0 ||
        a.kind != CP_STORE_ADDR_TCP)
        return;
    host = a.host;
    if (unspecified(host))
        host = grpc != NULL && cp_store_parse_addr(grpc, &g) == 0 &&
                       g.kind == CP_STORE_ADDR_TCP && !unspecified(g.host) &&
                       is_ip(g.host)
                   ? g.host
                   : "127.0.0.1";
    if (!is_ip(host) || (s = malloc(strlen(host) + 8)) == NULL)
        return;
    sprintf(s, "%s %d", host, a.port);
    e->v[e->n++] = s;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

char *cp_node__api_endpoints(struct cp_node *n)
{
    struct eps e = {.n = 0};
    size_t len = 1, k = 0;
    char *out;

    add(&e, n->http_addr, n->grpc_addr); /* this node serves it */
    cp_node__view_each_control(n, add, &e);
    qsort(e.v, e.n, sizeof(*e.v), cmp_str);
    for (size_t i = 0; i < e.n; i++)
        len += strlen(e.v[i]) + 1;
    out = malloc(len);
    if (out != NULL)
        out[0] = '\0';
    for (size_t i = 0; i < e.n; i++) {
        bool dup = i > 0 && strcmp(e.v[i], e.v[i - 1]) == 0;
        if (out != NULL && !dup)
            k += (size_t)sprintf(out + k, "%s\n", e.v[i]);
    }
    for (size_t i = 0; i < e.n; i++)
        free(e.v[i]);
    return out;
}

static LbEndpoint *lb_endpoint(const char *line, int *port)
{
    LbEndpoint *le = calloc(1, sizeof(*le));
    Envoy__Config__Endpoint__V3__Endpoint *ep = calloc(1, sizeof(*ep));
    Envoy__Config__Core__V3__Address *ad = calloc(1, sizeof(*ad));
    Envoy__Config__Core__V3__SocketAddress *sa = calloc(1, sizeof(*sa));
    char host[CP_STORE_HOST_LEN];

    if (le == NULL || ep == NULL || ad == NULL || sa == NULL ||
        sscanf(line, "%63s %d", host, port) != 2) {
        free(le), free(ep), free(ad), free(sa);
        return NULL;
    }
    envoy__config__core__v3__socket_address__init(sa);
    sa->address = strdup(host);
    sa->port_specifier_case =
        ENVOY__CONFIG__CORE__V3__SOCKET_ADDRESS__PORT_SPECIFIER_PORT_VALUE;
    sa->port_value = (uint32_t)*port;
    envoy__config__core__v3__address__init(ad);
    ad->address_case = ENVOY__CONFIG__CORE__V3__ADDRESS__ADDRESS_SOCKET_ADDRESS;
    ad->socket_address = sa;
    envoy__config__endpoint__v3__endpoint__init(ep);
    ep->address = ad;
    envoy__config__endpoint__v3__lb_endpoint__init(le);
    le->host_identifier_case =
        ENVOY__CONFIG__ENDPOINT__V3__LB_ENDPOINT__HOST_IDENTIFIER_ENDPOINT;
    le->endpoint = ep;
    return le;
}

static void lb_endpoint_free(LbEndpoint *le)
{
    if (le == NULL)
        return;
    free(le->endpoint->address->socket_address->address);
    free(le->endpoint->address->socket_address);
    free(le->endpoint->address);
    free(le->endpoint);
    free(le);
}

int cp_node__api_add(struct cp_xds_snapshot *snap, const char *eps)
{
    Envoy__Config__Endpoint__V3__ClusterLoadAssignment cla;
    Envoy__Config__Endpoint__V3__LocalityLbEndpoints loc;
    Envoy__Config__Core__V3__Locality locality;
    LbEndpoint *les[MAX_EPS];
    Envoy__Config__Endpoint__V3__LocalityLbEndpoints *locs[1] = {&loc};
    size_t k = 0;
    int rc = 0, port;

    for (const char *p = eps; *p != '\0' && k < MAX_EPS && rc == 0;
         p = strchr(p, '\n') + 1) {
        les[k] = lb_endpoint(p, &port);
        rc = les[k] != NULL ? 0 : GW_ENOMEM;
        k += les[k] != NULL;
    }
    envoy__config__core__v3__locality__init(&locality);
    envoy__config__endpoint__v3__locality_lb_endpoints__init(&loc);
    loc.locality = &locality;
    loc.lb_endpoints = les;
    loc.n_lb_endpoints = k;
    envoy__config__endpoint__v3__cluster_load_assignment__init(&cla);
    cla.cluster_name = (char *)CM_CONFIG_API_INTERNAL;
    cla.endpoints = locs;
    cla.n_endpoints = k > 0;
    if (rc == 0)
        rc = cp_xds_snapshot_add(snap, CP_XDS_ENDPOINT, CM_CONFIG_API_INTERNAL,
                                 &cla.base);
    for (size_t i = 0; i < k; i++)
        lb_endpoint_free(les[i]);
    return rc;
}

bool cp_node__api_used(const struct cp_xds_snapshot *snap)
{
    return snap != NULL && cp_xds_snapshot_find(snap, CP_XDS_CLUSTER,
                                                CM_CONFIG_API_INTERNAL) >= 0;
}

/* ==== TLS to the control nodes (secure mode) ==== */

/* The UpstreamTlsContext of api@internal, packed: TLS 1.2-1.3, ALPN
 * http/1.1, trusting <ca_pem> (inline) only, SNI and name check
 * API_TLS_NAME (the data node's dp_tls_client verifies the name it sends
 * as SNI). Returns new (free()) or NULL. */
static uint8_t *upstream_tls(const char *ca_pem, size_t *len)
{
    TLS_(UpstreamTlsContext) u;
    TLS_(CommonTlsContext) ct;
    TLS_(TlsParameters) tp;
    TLS_(CertificateValidationContext) v;
    Envoy__Config__Core__V3__DataSource ds;
    char *alpn[1] = {(char *)"http/1.1"};
    uint8_t *buf;

    envoy__config__core__v3__data_source__init(&ds);
    ds.specifier_case =
        ENVOY__CONFIG__CORE__V3__DATA_SOURCE__SPECIFIER_INLINE_STRING;
    ds.inline_string = (char *)ca_pem;
    envoy__extensions__transport_sockets__tls__v3__certificate_validation_context__init(
        &v);
    v.trusted_ca = &ds;
    envoy__extensions__transport_sockets__tls__v3__tls_parameters__init(&tp);
    tp.tls_minimum_protocol_version =
        TLS_C(TLS_PARAMETERS__TLS_PROTOCOL__TLSv1_2);
    tp.tls_maximum_protocol_version =
        TLS_C(TLS_PARAMETERS__TLS_PROTOCOL__TLSv1_3);
    envoy__extensions__transport_sockets__tls__v3__common_tls_context__init(
        &ct);
    ct.tls_params = &tp;
    ct.alpn_protocols = alpn;
    ct.n_alpn_protocols = 1;
    ct.validation_context_type_case =
        TLS_C(COMMON_TLS_CONTEXT__VALIDATION_CONTEXT_TYPE_VALIDATION_CONTEXT);
    ct.validation_context = &v;
    envoy__extensions__transport_sockets__tls__v3__upstream_tls_context__init(
        &u);
    u.common_tls_context = &ct;
    u.sni = (char *)API_TLS_NAME;
    *len = protobuf_c_message_get_packed_size(&u.base);
    if ((buf = malloc(*len ? *len : 1)) != NULL)
        protobuf_c_message_pack(&u.base, buf);
    return buf;
}

/* Adds to <snap> the Cluster encoded in <data> over TLS (<ca_pem>), its
 * health checks kept: the data node probes /ping over the same TLS. */
static int add_tls_cluster(struct cp_xds_snapshot *snap, const uint8_t *data,
                           size_t len, const char *ca_pem)
{
    Envoy__Config__Cluster__V3__Cluster *cl =
        envoy__config__cluster__v3__cluster__unpack(NULL, len, data);
    Envoy__Config__Core__V3__TransportSocket ts, *old_ts;
    Google__Protobuf__Any any;
    int rc;

    if (cl == NULL)
        return GW_EINVAL;
    google__protobuf__any__init(&any);
    any.type_url = (char *)UP_TLS_URL;
    if ((any.value.data = upstream_tls(ca_pem, &any.value.len)) == NULL) {
        envoy__config__cluster__v3__cluster__free_unpacked(cl, NULL);
        return GW_ENOMEM;
    }
    envoy__config__core__v3__transport_socket__init(&ts);
    ts.name = (char *)TLS_SOCKET;
    ts.config_type_case =
        ENVOY__CONFIG__CORE__V3__TRANSPORT_SOCKET__CONFIG_TYPE_TYPED_CONFIG;
    ts.typed_config = &any;
    old_ts = cl->transport_socket;
    cl->transport_socket = &ts;
    rc = cp_xds_snapshot_add(snap, CP_XDS_CLUSTER, CM_CONFIG_API_INTERNAL,
                             &cl->base);
    cl->transport_socket = old_ts; /* freed with the message */
    envoy__config__cluster__v3__cluster__free_unpacked(cl, NULL);
    free(any.value.data);
    return rc;
}

/* ==== snapshots ==== */

/* A new snapshot <version> of <base>'s resources, but its api@internal
 * assignment when <drop_cla>, and its api@internal Cluster over TLS when
 * <ca_pem> is not NULL. NULL on failure. */
static struct cp_xds_snapshot *copy(const struct cp_xds_snapshot *base,
                                    const char *version, bool drop_cla,
                                    const char *ca_pem)
{
    struct cp_xds_snapshot *snap = cp_xds_snapshot_new(version);
    int rc = snap != NULL ? 0 : GW_ENOMEM;

    for (int t = 0; rc == 0 && t < CP_XDS_TYPE_COUNT; t++)
        for (size_t i = 0; rc == 0 && i < cp_xds_snapshot_count(base, t); i++) {
            const char *name, *ver;
            const uint8_t *data;
            size_t len;
            bool api;
            rc = cp_xds_snapshot_at(base, t, i, &name, &ver, &data, &len);
            api = rc == 0 && strcmp(name, CM_CONFIG_API_INTERNAL) == 0;
            if (rc != 0 || (api && t == CP_XDS_ENDPOINT && drop_cla))
                continue;
            if (api && t == CP_XDS_CLUSTER && ca_pem != NULL)
                rc = add_tls_cluster(snap, data, len, ca_pem);
            else
                rc = cp_xds_snapshot_add_bytes(snap, t, name, data, len);
        }
    if (rc != 0) {
        cp_xds_snapshot_put(snap);
        return NULL;
    }
    return snap;
}

int cp_node__api_tls(struct cp_xds_snapshot **snap, const char *ca_pem)
{
    struct cp_xds_snapshot *s;

    if (ca_pem == NULL || !cp_node__api_used(*snap))
        return 0;
    s = copy(*snap, cp_xds_snapshot_version(*snap), false, ca_pem);
    if (s == NULL)
        return GW_ENOMEM;
    cp_xds_snapshot_put(*snap);
    *snap = s;
    return 0;
}

/* <base>'s resources but its api@internal assignment, then <eps>'. The
 * Cluster is kept as published (over TLS in secure mode). */
static struct cp_xds_snapshot *with_eps(const struct cp_xds_snapshot *base,
                                        const char *version, const char *eps)
{
    struct cp_xds_snapshot *snap = copy(base, version, true, NULL);

    if (snap != NULL && cp_node__api_add(snap, eps) != 0) {
        cp_xds_snapshot_put(snap);
        return NULL;
    }
    return snap;
}

void cp_node__api_check(struct cp_node *n)
{
    char version[48];
    char *eps;
    struct cp_xds_snapshot *snap;

    if (n->stopping || n->loading || !cp_node__api_used(n->published))
        return;
    eps = cp_node__api_endpoints(n);
    if (eps == NULL || (n->api_eps != NULL && strcmp(eps, n->api_eps) == 0)) {
        free(eps);
        return;
    }
    snprintf(version, sizeof(version), "%llu.%u", (unsigned long long)n->served,
             ++n->api_gen);
    snap = with_eps(n->published, version, eps);
    if (snap == NULL) {
        free(eps);
        cm_log_warn(CP_NODE__MOD, "api_endpoints_failed",
                    "err=\"out of memory\"");
        return;
    }
    cp_xds_server_set_snapshot(n->xds, snap);
    cp_xds_snapshot_put(n->published);
    n->published = snap;
    free(n->api_eps);
    n->api_eps = eps;
    cm_log_info(CP_NODE__MOD, "api_endpoints", "version=%s", version);
}
