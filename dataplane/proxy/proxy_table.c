/*
 * proxy_table.c -- builds the proxy's routing snapshot from xDS resources:
 * listener addresses, one compiled router per listener (its route config has
 * the listener's name), clusters with their weighted endpoints from the
 * ClusterLoadAssignments. Runs on the thread applying configuration; the
 * result is immutable.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/net/net.h"
#include "common/xds/xds.h"
#include "dataplane/proxy/proxy_table.h"
#include "dataplane/router/router.h"

static int sock_addr(const Envoy__Config__Core__V3__Address *a,
                     struct sockaddr_storage *out, char *err, size_t errlen)
{
    const Envoy__Config__Core__V3__SocketAddress *sa;
    char text[CM_NET_ADDRSTRLEN + 8];

    if (a == NULL ||
        a->address_case !=
            ENVOY__CONFIG__CORE__V3__ADDRESS__ADDRESS_SOCKET_ADDRESS ||
        (sa = a->socket_address) == NULL ||
        sa->port_specifier_case !=
            ENVOY__CONFIG__CORE__V3__SOCKET_ADDRESS__PORT_SPECIFIER_PORT_VALUE)
        return cm_err_set(err, errlen, GW_EINVAL, "not a socket address");
    if (strchr(sa->address, ':') != NULL)
        snprintf(text, sizeof(text), "[%s]:%u", sa->address, sa->port_value);
    else
        snprintf(text, sizeof(text), "%s:%u",
                 sa->address[0] ? sa->address : "0.0.0.0", sa->port_value);
    return cm_net_parse_addr(text, out, err, errlen);
}

static int
add_eps(struct dp_proxy_cluster *cl,
        const Envoy__Config__Endpoint__V3__ClusterLoadAssignment *cla,
        char *err, size_t errlen)
{
    size_t n = 0;

    for (size_t i = 0; i < cla->n_endpoints; i++)
        n += cla->endpoints[i]->n_lb_endpoints;
    if (n == 0)
        return GW_OK;
    if ((cl->eps = calloc(n, sizeof(*cl->eps))) == NULL)
        return cm_err_set(err, errlen, GW_ENOMEM, "out of memory");
    for (size_t i = 0; i < cla->n_endpoints; i++) {
        const Envoy__Config__Endpoint__V3__LocalityLbEndpoints *le =
            cla->endpoints[i];
        for (size_t j = 0; j < le->n_lb_endpoints; j++) {
            const Envoy__Config__Endpoint__V3__LbEndpoint *lb =
                le->lb_endpoints[j];
            struct dp_proxy_ep *ep = &cl->eps[cl->n_eps];
            uint32_t w = lb->load_balancing_weight
                             ? lb->load_balancing_weight->value
                             : 1;
            if (lb->host_identifier_case !=
                    ENVOY__CONFIG__ENDPOINT__V3__LB_ENDPOINT__HOST_IDENTIFIER_ENDPOINT ||
                lb->endpoint == NULL || w == 0)
                continue;
            if (sock_addr(lb->endpoint->address, &ep->addr, err, errlen) != 0)
                return GW_EINVAL;
            ep->weight = w;
            cl->total_weight += w;
            cl->n_eps++;
        }
    }
    return GW_OK;
}

static int build_clusters(struct dp_proxy_table *t,
                          const struct cm_xds_resources *res, char *err,
                          size_t errlen)
{
    if (res->n_clusters == 0)
        return GW_OK;
    t->clusters = calloc(res->n_clusters, sizeof(*t->clusters));
    if (t->clusters == NULL)
        return cm_err_set(err, errlen, GW_ENOMEM, "out of memory");
    for (size_t i = 0; i < res->n_clusters; i++) {
        const Envoy__Config__Cluster__V3__Cluster *c = res->clusters[i];
        struct dp_proxy_cluster *cl = &t->clusters[t->n_clusters++];
        const char *svc = c->name;
        const ProtobufCMessage *m;
        if (c->eds_cluster_config != NULL &&
            c->eds_cluster_config->service_name[0] != '\0')
            svc = c->eds_cluster_config->service_name;
        if ((cl->name = strdup(c->name)) == NULL)
            return cm_err_set(err, errlen, GW_ENOMEM, "out of memory");
        m = cm_xds_find(res, CM_XDS_ENDPOINT, svc);
        if (m != NULL && add_eps(cl, (const void *)m, err, errlen) != 0) {
            char why[CM_ERR_LEN];
            snprintf(why, sizeof(why), "%s", err);
            return cm_err_set(err, errlen, GW_EINVAL, "cluster \"%s\": %s",
                              c->name, why);
        }
    }
    return GW_OK;
}

static int resolve_cluster(void *arg, const char *name)
{
    return dp_proxy_table_cluster_index(arg, name);
}

static int build_lsns(struct dp_proxy_table *t,
                      const struct cm_xds_resources *res, char *err,
                      size_t errlen)
{
    if (res->n_listeners == 0)
        return GW_OK;
    t->lsns = calloc(res->n_listeners, sizeof(*t->lsns));
    if (t->lsns == NULL)
        return cm_err_set(err, errlen, GW_ENOMEM, "out of memory");
    for (size_t i = 0; i < res->n_listeners; i++) {
        const Envoy__Config__Listener__V3__Listener *l = res->listeners[i];
        struct dp_proxy_lsn *pl;
        const ProtobufCMessage *rc;
        char why[CM_ERR_LEN];
        if (l->address == NULL)
            continue; /* an API listener (proxyless gRPC): not ours */
        pl = &t->lsns[t->n_lsns++];
        if ((pl->name = strdup(l->name)) == NULL)
            return cm_err_set(err, errlen, GW_ENOMEM, "out of memory");
        if (sock_addr(l->address, &pl->addr, why, sizeof(why)) != 0)
            return cm_err_set(err, errlen, GW_EINVAL, "listener \"%s\": %s",
                              l->name, why);
        rc = cm_xds_find(res, CM_XDS_ROUTE, l->name);
        if (rc == NULL)
            continue;
        pl->router =
            dp_router_new((const void *)rc, resolve_cluster, t, err, errlen);
        if (pl->router == NULL)
            return GW_EINVAL;
    }
    return GW_OK;
}

struct dp_proxy_table *dp_proxy_table_new(const struct cm_xds_resources *res,
                                          char *err, size_t errlen)
{
    struct dp_proxy_table *t = calloc(1, sizeof(*t));

    if (t == NULL) {
        cm_err_set(err, errlen, GW_ENOMEM, "out of memory");
        return NULL;
    }
    t->version = strdup(res->version ? res->version : "");
    if (t->version == NULL || build_clusters(t, res, err, errlen) != 0 ||
        build_lsns(t, res, err, errlen) != 0) {
        if (t->version == NULL)
            cm_err_set(err, errlen, GW_ENOMEM, "out of memory");
        dp_proxy_table_free(t);
        return NULL;
    }
    return t;
}

void dp_proxy_table_free(struct dp_proxy_table *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < t->n_lsns; i++) {
        free(t->lsns[i].name);
        dp_router_free(t->lsns[i].router);
    }
    for (size_t i = 0; i < t->n_clusters; i++) {
        free(t->clusters[i].name);
        free(t->clusters[i].eps);
    }
    free(t->lsns);
    free(t->clusters);
    free(t->version);
    free(t->dump);
    free(t);
}

const struct dp_proxy_lsn *dp_proxy_table_lsn(const struct dp_proxy_table *t,
                                              const char *name)
{
    for (size_t i = 0; i < t->n_lsns; i++) {
        if (strcmp(t->lsns[i].name, name) == 0)
            return &t->lsns[i];
    }
    return NULL;
}

int dp_proxy_table_cluster_index(const struct dp_proxy_table *t,
                                 const char *name)
{
    size_t lo = 0, hi = t->n_clusters;

    /* clusters come sorted by name from the translator, but be safe */
    for (size_t i = lo; i < hi; i++) {
        if (strcmp(t->clusters[i].name, name) == 0)
            return (int)i;
    }
    return -1;
}

size_t dp_proxy_cluster_pick(const struct dp_proxy_cluster *cl, uint64_t rnd,
                             struct sockaddr_storage *out, size_t max)
{
    uint64_t x;
    size_t i = 0, n = 0;

    if (cl->n_eps == 0 || cl->total_weight == 0 || max == 0)
        return 0;
    x = rnd % cl->total_weight;
    while (x >= cl->eps[i].weight) {
        x -= cl->eps[i].weight;
        i++;
    }
    for (; n < max && n < cl->n_eps; n++)
        out[n] = cl->eps[(i + n) % cl->n_eps].addr;
    return n;
}
