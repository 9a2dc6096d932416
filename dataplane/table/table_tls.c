/*
 * table_tls.c -- the TLS part of a table build: a listener's first filter
 * chain's "envoy.transport_sockets.tls" DownstreamTlsContext with the SDS
 * secrets of the input becomes a dp_tls_server, a cluster's
 * UpstreamTlsContext a dp_tls_client (dataplane/tls). The table holds one
 * reference of each; connections take their own. Configuration thread.
 */
#include <stdio.h>
#include <string.h>

#include "dataplane/table/table_int.h"
#include "dataplane/tls/tls.h"

#define TLS_URL_PREFIX "type.googleapis.com/"
#define DOWN_TYPE                                                              \
    "envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext"
#define UP_TYPE "envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext"

typedef Envoy__Config__Core__V3__TransportSocket TransportSocket;

/* The typed_config of a TLS transport socket <ts> (NULL = none): 1 with
 * *any set, 0 when there is no TLS, or GW_EINVAL with <err>. */
static int tls_any(const TransportSocket *ts, const char *type,
                   const Google__Protobuf__Any **any, const char *what,
                   char *err, size_t len)
{
    if (ts == NULL ||
        strcmp(ts->name, "envoy.transport_sockets.raw_buffer") == 0)
        return 0;
    if (strcmp(ts->name, DP_TLS_SOCKET) != 0)
        return cm_err_set(err, len, GW_EINVAL,
                          "%s: transport_socket \"%s\" is not supported", what,
                          ts->name);
    if (ts->config_type_case !=
            ENVOY__CONFIG__CORE__V3__TRANSPORT_SOCKET__CONFIG_TYPE_TYPED_CONFIG ||
        ts->typed_config == NULL ||
        (strcmp(ts->typed_config->type_url, TLS_URL_PREFIX DOWN_TYPE) != 0 &&
         strcmp(ts->typed_config->type_url, TLS_URL_PREFIX UP_TYPE) != 0) ||
        strstr(ts->typed_config->type_url, type) == NULL)
        return cm_err_set(err, len, GW_EINVAL,
                          "%s: transport_socket: want a typed_config of %s",
                          what, type);
    *any = ts->typed_config;
    return 1;
}

int dp_table__listener_tls(const struct dp_table_input *in,
                           const Envoy__Config__Listener__V3__Listener *m,
                           struct dp_listener *l, char *err, size_t len)
{
    const Google__Protobuf__Any *any = NULL;
    Envoy__Extensions__TransportSockets__Tls__V3__DownstreamTlsContext *d;
    char what[300], e[CM_ERR_LEN];
    int r;

    snprintf(what, sizeof(what), "listener \"%s\"", m->name);
    if (m->n_filter_chains == 0)
        return GW_OK;
    r = tls_any(m->filter_chains[0]->transport_socket, DOWN_TYPE, &any, what,
                err, len);
    if (r <= 0)
        return r;
    d = envoy__extensions__transport_sockets__tls__v3__downstream_tls_context__unpack(
        NULL, any->value.len, any->value.data);
    if (d == NULL)
        return cm_err_set(err, len, GW_EINVAL,
                          "%s: cannot decode DownstreamTlsContext", what);
    l->tls = dp_tls_server_new(d, in->secrets, in->n_secrets, in->tls_flags, e,
                               sizeof(e));
    envoy__extensions__transport_sockets__tls__v3__downstream_tls_context__free_unpacked(
        d, NULL);
    if (l->tls == NULL)
        return cm_err_set(err, len, GW_EINVAL, "%s: tls: %s", what, e);
    return GW_OK;
}

int dp_table__cluster_tls(const Envoy__Config__Cluster__V3__Cluster *m,
                          struct dp_cluster *c, char *err, size_t len)
{
    const Google__Protobuf__Any *any = NULL;
    Envoy__Extensions__TransportSockets__Tls__V3__UpstreamTlsContext *u;
    char what[300], e[CM_ERR_LEN];
    int r;

    snprintf(what, sizeof(what), "cluster \"%s\"", m->name);
    r = tls_any(m->transport_socket, UP_TYPE, &any, what, err, len);
    if (r <= 0)
        return r;
    u = envoy__extensions__transport_sockets__tls__v3__upstream_tls_context__unpack(
        NULL, any->value.len, any->value.data);
    if (u == NULL)
        return cm_err_set(err, len, GW_EINVAL,
                          "%s: cannot decode UpstreamTlsContext", what);
    c->tls = dp_tls_client_new(u, e, sizeof(e));
    envoy__extensions__transport_sockets__tls__v3__upstream_tls_context__free_unpacked(
        u, NULL);
    if (c->tls == NULL)
        return cm_err_set(err, len, GW_EINVAL, "%s: tls: %s", what, e);
    return GW_OK;
}

void dp_table__tls_free(struct dp_table *t)
{
    for (size_t i = 0; i < t->n_listeners; i++)
        dp_tls_server_unref(t->listeners[i].tls);
    for (size_t i = 0; i < t->n_clusters; i++)
        dp_tls_client_unref(t->clusters[i].tls);
}
