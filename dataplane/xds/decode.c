/*
 * decode.c -- turns xDS bytes into decoded resources: type URLs, one
 * resource (its message plus what it depends on: RDS names of a listener,
 * the EDS name of a cluster, the clusters a route configuration names), and
 * whole SotW / delta responses. No validation beyond decoding and type
 * checks: the table builder judges the content. Client thread or tests.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/xds/xds.h"
#include "dataplane/xds/xds_int.h"
#include "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.pb-c.h"
#include "envoy/extensions/transport_sockets/tls/v3/tls.pb-c.h"
#include "envoy/service/discovery/v3/discovery.pb-c.h"
#include "dataplane/tls/tls.h"

#define TYPE_PREFIX "type.googleapis.com/"
#define DOWN_TLS_URL                                                           \
    TYPE_PREFIX "envoy.extensions.transport_sockets.tls.v3."                   \
                "DownstreamTlsContext"
#define HCM_URL                                                                \
    TYPE_PREFIX "envoy.extensions.filters.network.http_connection_manager."    \
                "v3.HttpConnectionManager"

typedef Envoy__Extensions__Filters__Network__HttpConnectionManager__V3__HttpConnectionManager
    hcm_msg;

static const char *const type_urls[DP_XDS_TYPE_COUNT] = {
    TYPE_PREFIX "envoy.config.cluster.v3.Cluster",
    TYPE_PREFIX "envoy.config.endpoint.v3.ClusterLoadAssignment",
    TYPE_PREFIX "envoy.config.listener.v3.Listener",
    TYPE_PREFIX "envoy.config.route.v3.RouteConfiguration",
    TYPE_PREFIX "envoy.extensions.transport_sockets.tls.v3.Secret",
};

static const char *const type_shorts[DP_XDS_TYPE_COUNT] = {"cds", "eds", "lds",
                                                           "rds", "sds"};

const char *dp_xds_type_url(enum dp_xds_type t)
{
    return (unsigned)t < DP_XDS_TYPE_COUNT ? type_urls[t] : "";
}

const char *dp_xds_type_short(enum dp_xds_type t)
{
    return (unsigned)t < DP_XDS_TYPE_COUNT ? type_shorts[t] : "?";
}

int dp_xds__type_from_url(const char *url)
{
    for (int t = 0; t < DP_XDS_TYPE_COUNT; t++)
        if (url != NULL && strcmp(url, type_urls[t]) == 0)
            return t;
    return -1;
}

const ProtobufCMessageDescriptor *dp_xds__descriptor(enum dp_xds_type t)
{
    switch (t) {
    case DP_XDS_CLUSTER:
        return &envoy__config__cluster__v3__cluster__descriptor;
    case DP_XDS_ENDPOINT:
        return &envoy__config__endpoint__v3__cluster_load_assignment__descriptor;
    case DP_XDS_LISTENER:
        return &envoy__config__listener__v3__listener__descriptor;
    case DP_XDS_ROUTE:
        return &envoy__config__route__v3__route_configuration__descriptor;
    case DP_XDS_SECRET:
        return &envoy__extensions__transport_sockets__tls__v3__secret__descriptor;
    default:
        return NULL;
    }
}

/* ==== what a resource depends on ==== */

/* The cluster names of a route configuration as they are collected: <out>,
 * and the names added so far hashed (most routes of a large configuration
 * name a cluster another route named: one string compare instead of a
 * binary search of <out>). Past half full, names go to <out> directly. */
struct names_seen {
    struct cm_strset *out;
    const char **slot; /* NULL: empty; or no table at all */
    size_t mask, n;
};

static uint64_t str_hash(const char *s)
{
    uint64_t h = 14695981039346656037ULL;
    for (; *s != '\0'; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static int seen_add(struct names_seen *ns, const char *name)
{
    if (ns->slot == NULL || 2 * (ns->n + 1) > ns->mask + 1)
        return cm_strset_add(ns->out, name);
    size_t k = (size_t)str_hash(name) & ns->mask;
    for (; ns->slot[k] != NULL; k = (k + 1) & ns->mask)
        if (strcmp(ns->slot[k], name) == 0)
            return GW_OK;
    ns->slot[k] = name;
    ns->n++;
    return cm_strset_add(ns->out, name);
}

static int route_action_clusters(const Envoy__Config__Route__V3__RouteAction *a,
                                 struct names_seen *ns)
{
    int rc = GW_OK;
    switch (a->cluster_specifier_case) {
    case ENVOY__CONFIG__ROUTE__V3__ROUTE_ACTION__CLUSTER_SPECIFIER_CLUSTER:
        rc = seen_add(ns, a->cluster);
        break;
    case ENVOY__CONFIG__ROUTE__V3__ROUTE_ACTION__CLUSTER_SPECIFIER_WEIGHTED_CLUSTERS:
        for (size_t i = 0; rc == 0 && i < a->weighted_clusters->n_clusters;
             i++) {
            const char *n = a->weighted_clusters->clusters[i]->name;
            if (n != NULL && n[0] != '\0')
                rc = seen_add(ns, n);
        }
        break;
    default:
        break;
    }
    for (size_t i = 0; rc == 0 && i < a->n_request_mirror_policies; i++) {
        const char *n = a->request_mirror_policies[i]->cluster;
        if (n != NULL && n[0] != '\0')
            rc = seen_add(ns, n);
    }
    return rc;
}

static int route_config_clusters(
    const Envoy__Config__Route__V3__RouteConfiguration *rc_msg,
    struct cm_strset *out)
{
    struct names_seen ns = {.out = out};
    size_t routes = 0, cap = 16;
    int rc = GW_OK;

    for (size_t i = 0; i < rc_msg->n_virtual_hosts; i++)
        routes += rc_msg->virtual_hosts[i]->n_routes;
    while (cap < 2 * routes && cap < ((size_t)1 << 24))
        cap *= 2;
    ns.slot = routes > 8 ? calloc(cap, sizeof(*ns.slot)) : NULL;
    ns.mask = cap - 1;
    for (size_t i = 0; rc == 0 && i < rc_msg->n_virtual_hosts; i++) {
        const Envoy__Config__Route__V3__VirtualHost *vh =
            rc_msg->virtual_hosts[i];
        for (size_t j = 0; rc == 0 && j < vh->n_routes; j++) {
            const Envoy__Config__Route__V3__Route *r = vh->routes[j];
            if (r->action_case ==
                    ENVOY__CONFIG__ROUTE__V3__ROUTE__ACTION_ROUTE &&
                route_action_clusters(r->route, &ns) != 0)
                rc = GW_ENOMEM;
        }
    }
    free(ns.slot);
    return rc;
}

/* Reads one HCM (Any) of listener <r>: its RDS name or inline routes. */
static int hcm_deps(struct dp_xds__res *r, const Google__Protobuf__Any *any,
                    char *err, size_t len)
{
    if (any == NULL || any->type_url == NULL ||
        strcmp(any->type_url, HCM_URL) != 0)
        return GW_OK;
    hcm_msg *h =
        envoy__extensions__filters__network__http_connection_manager__v3__http_connection_manager__unpack(
            NULL, any->value.len, any->value.data);
    if (h == NULL)
        return cm_err_set(err, len, GW_EINVAL,
                          "listener \"%s\": cannot decode "
                          "HttpConnectionManager",
                          r->name);
    int rc = GW_OK;
    if (h->route_specifier_case ==
        ENVOY__EXTENSIONS__FILTERS__NETWORK__HTTP_CONNECTION_MANAGER__V3__HTTP_CONNECTION_MANAGER__ROUTE_SPECIFIER_RDS) {
        const char *n = h->rds ? h->rds->route_config_name : NULL;
        if (n == NULL || n[0] == '\0')
            rc = cm_err_set(err, len, GW_EINVAL,
                            "listener \"%s\": rds without route_config_name",
                            r->name);
        else
            rc = cm_strset_add(&r->subs, n);
    } else if (
        h->route_specifier_case ==
        ENVOY__EXTENSIONS__FILTERS__NETWORK__HTTP_CONNECTION_MANAGER__V3__HTTP_CONNECTION_MANAGER__ROUTE_SPECIFIER_ROUTE_CONFIG) {
        rc = route_config_clusters(h->route_config, &r->clusters);
    }
    envoy__extensions__filters__network__http_connection_manager__v3__http_connection_manager__free_unpacked(
        h, NULL);
    return rc;
}

/* The SDS names a filter chain's TLS transport socket uses. */
static int tls_deps(struct dp_xds__res *r,
                    const Envoy__Config__Core__V3__TransportSocket *ts)
{
    const Envoy__Extensions__TransportSockets__Tls__V3__CommonTlsContext *ct;
    Envoy__Extensions__TransportSockets__Tls__V3__DownstreamTlsContext *d;
    int rc = GW_OK;

    if (ts == NULL || ts->typed_config == NULL ||
        strcmp(ts->typed_config->type_url, DOWN_TLS_URL) != 0)
        return GW_OK;
    d = envoy__extensions__transport_sockets__tls__v3__downstream_tls_context__unpack(
        NULL, ts->typed_config->value.len, ts->typed_config->value.data);
    if (d == NULL)
        return GW_OK; /* the table build says what is wrong */
    ct = d->common_tls_context;
    for (size_t i = 0; ct != NULL && rc == GW_OK &&
                       i < ct->n_tls_certificate_sds_secret_configs;
         i++)
        rc = cm_strset_add(&r->secrets,
                           ct->tls_certificate_sds_secret_configs[i]->name);
    envoy__extensions__transport_sockets__tls__v3__downstream_tls_context__free_unpacked(
        d, NULL);
    return rc;
}

static int chain_deps(struct dp_xds__res *r,
                      const Envoy__Config__Listener__V3__FilterChain *fc,
                      char *err, size_t len)
{
    if (fc == NULL)
        return GW_OK;
    if (tls_deps(r, fc->transport_socket) != GW_OK)
        return GW_ENOMEM;
    for (size_t i = 0; i < fc->n_filters; i++) {
        const Envoy__Config__Listener__V3__Filter *f = fc->filters[i];
        if (f->config_type_case !=
            ENVOY__CONFIG__LISTENER__V3__FILTER__CONFIG_TYPE_TYPED_CONFIG)
            continue;
        int rc = hcm_deps(r, f->typed_config, err, len);
        if (rc != 0)
            return rc;
    }
    return GW_OK;
}

static int listener_deps(struct dp_xds__res *r, char *err, size_t len)
{
    const Envoy__Config__Listener__V3__Listener *l = (const void *)r->msg;
    int rc = GW_OK;
    for (size_t i = 0; rc == 0 && i < l->n_filter_chains; i++)
        rc = chain_deps(r, l->filter_chains[i], err, len);
    if (rc == 0)
        rc = chain_deps(r, l->default_filter_chain, err, len);
    if (rc == 0 && l->api_listener != NULL)
        rc = hcm_deps(r, l->api_listener->api_listener, err, len);
    return rc;
}

static int cluster_deps(struct dp_xds__res *r)
{
    const Envoy__Config__Cluster__V3__Cluster *c = (const void *)r->msg;
    bool eds =
        c->eds_cluster_config != NULL ||
        (c->cluster_discovery_type_case ==
             ENVOY__CONFIG__CLUSTER__V3__CLUSTER__CLUSTER_DISCOVERY_TYPE_TYPE &&
         c->type == ENVOY__CONFIG__CLUSTER__V3__CLUSTER__DISCOVERY_TYPE__EDS);
    if (!eds)
        return GW_OK;
    const char *sn =
        c->eds_cluster_config ? c->eds_cluster_config->service_name : NULL;
    return cm_strset_add(&r->subs, sn && sn[0] ? sn : c->name);
}

static const char *msg_name(enum dp_xds_type t, const ProtobufCMessage *m)
{
    switch (t) {
    case DP_XDS_CLUSTER:
        return ((const Envoy__Config__Cluster__V3__Cluster *)m)->name;
    case DP_XDS_ENDPOINT:
        return ((const Envoy__Config__Endpoint__V3__ClusterLoadAssignment *)m)
            ->cluster_name;
    case DP_XDS_LISTENER:
        return ((const Envoy__Config__Listener__V3__Listener *)m)->name;
    case DP_XDS_SECRET:
        return ((const Envoy__Extensions__TransportSockets__Tls__V3__Secret *)m)
            ->name;
    default:
        return ((const Envoy__Config__Route__V3__RouteConfiguration *)m)->name;
    }
}

/* ==== the arena a resource's message is unpacked into ==== */

/* Unpacking a large RouteConfiguration makes one allocation per message,
 * string and array (tens of thousands for 10,000 routes); bump allocation
 * from a few chunks, freed at once with the resource, costs a fraction of
 * malloc/free per piece. protobuf-c never frees a piece of a message it
 * unpacked successfully but through free_unpacked(), which is not used. */
struct pb_chunk {
    struct pb_chunk *next;
    size_t used, size;
    max_align_t data[];
};

struct dp_xds__arena {
    ProtobufCAllocator pa; /* first: its allocator_data is the arena */
    struct pb_chunk *head;
    size_t next_size;
    bool oom;
};

static void *arena_alloc(void *data, size_t n)
{
    struct dp_xds__arena *a = data;
    struct pb_chunk *ch = a->head;
    n = (n + sizeof(max_align_t) - 1) / sizeof(max_align_t) *
        sizeof(max_align_t);
    if (ch == NULL || ch->size - ch->used < n) {
        size_t size = n > a->next_size ? n : a->next_size;
        ch = malloc(sizeof(*ch) + size);
        if (ch == NULL) {
            a->oom = true;
            return NULL;
        }
        ch->size = size;
        ch->used = 0;
        ch->next = a->head;
        a->head = ch;
        if (a->next_size < (1u << 20))
            a->next_size *= 2;
    }
    void *p = (char *)ch->data + ch->used;
    ch->used += n;
    return p;
}

static void arena_free_piece(void *data, void *p)
{
    (void)data, (void)p; /* freed with the arena */
}

/* An arena for unpacking <len> encoded bytes: returns new or NULL. */
static struct dp_xds__arena *arena_new(size_t len)
{
    struct dp_xds__arena *a = calloc(1, sizeof(*a));
    if (a == NULL)
        return NULL;
    a->pa.alloc = arena_alloc;
    a->pa.free = arena_free_piece;
    a->pa.allocator_data = a;
    /* decoded messages are a few times their encoding */
    a->next_size = len < 4096 ? 4096 : 2 * len;
    return a;
}

static void arena_free(struct dp_xds__arena *a)
{
    if (a == NULL)
        return;
    while (a->head != NULL) {
        struct pb_chunk *ch = a->head;
        a->head = ch->next;
        free(ch);
    }
    free(a);
}

/* ==== one resource ==== */

static int res_fill(struct dp_xds__res *r, const char *name, char *err,
                    size_t len)
{
    r->arena = arena_new(r->len);
    if (r->arena == NULL)
        return GW_ENOMEM;
    r->msg = protobuf_c_message_unpack(dp_xds__descriptor(r->type),
                                       &r->arena->pa, r->len, r->data);
    if (r->msg == NULL && r->arena->oom)
        return GW_ENOMEM;
    if (r->msg == NULL)
        return cm_err_set(err, len, GW_EINVAL, "%s: cannot decode resource%s%s",
                          dp_xds_type_short(r->type), name ? " " : "",
                          name ? name : "");
    const char *mn = msg_name(r->type, r->msg);
    if (mn == NULL || mn[0] == '\0')
        return cm_err_set(err, len, GW_EINVAL, "%s: resource without a name",
                          dp_xds_type_short(r->type));
    if (name != NULL && name[0] != '\0' && strcmp(name, mn) != 0)
        return cm_err_set(err, len, GW_EINVAL,
                          "%s: resource \"%s\" holds a message named \"%s\"",
                          dp_xds_type_short(r->type), name, mn);
    r->name = strdup(mn);
    if (r->name == NULL)
        return GW_ENOMEM;
    switch (r->type) {
    case DP_XDS_LISTENER:
        return listener_deps(r, err, len);
    case DP_XDS_CLUSTER:
        return cluster_deps(r);
    case DP_XDS_ROUTE:
        return route_config_clusters((const void *)r->msg, &r->clusters);
    case DP_XDS_SECRET: {
        char e[CM_ERR_LEN];
        if (dp_tls_secret_check((const void *)r->msg, e, sizeof(e)) != GW_OK)
            return cm_err_set(err, len, GW_EINVAL, "secret \"%s\": %s", r->name,
                              e);
        return GW_OK;
    }
    default:
        return GW_OK;
    }
}

struct dp_xds__res *dp_xds__res_new(enum dp_xds_type t, const char *name,
                                    const char *version, const uint8_t *data,
                                    size_t len, char *err, size_t errlen)
{
    struct dp_xds__res *r = calloc(1, sizeof(*r));
    if (r == NULL)
        goto nomem;
    r->refs = 1;
    r->type = t;
    r->version = strdup(version ? version : "");
    r->data = malloc(len ? len : 1);
    if (r->version == NULL || r->data == NULL)
        goto nomem;
    if (len)
        memcpy(r->data, data, len);
    r->len = len;
    int rc = res_fill(r, name, err, errlen);
    if (rc == GW_ENOMEM)
        goto nomem;
    if (rc != 0) {
        dp_xds__res_unref(r);
        return NULL;
    }
    return r;
nomem:
    dp_xds__res_unref(r);
    cm_err_set(err, errlen, GW_ENOMEM, "out of memory");
    return NULL;
}

/* Atomic: dp_xds_with_resources() references the current set's resources
 * from another thread. */
struct dp_xds__res *dp_xds__res_ref(struct dp_xds__res *r)
{
    __atomic_add_fetch(&r->refs, 1, __ATOMIC_RELAXED);
    return r;
}

void dp_xds__res_unref(struct dp_xds__res *r)
{
    if (r == NULL || __atomic_sub_fetch(&r->refs, 1, __ATOMIC_ACQ_REL) > 0)
        return;
    arena_free(r->arena); /* r->msg lives there */
    cm_strset_deinit(&r->subs);
    cm_strset_deinit(&r->secrets);
    dp_xds__res_unref(r->prev);
    cm_strset_deinit(&r->clusters);
    free(r->name);
    free(r->version);
    free(r->data);
    free(r);
}

/* ==== whole responses ==== */

void dp_xds__update_deinit(struct dp_xds__update *u)
{
    for (size_t i = 0; i < u->n_upsert; i++)
        dp_xds__res_unref(u->upsert[i]);
    free(u->upsert);
    dp_xds__strv_free(u->remove, u->n_remove);
    free(u->version);
    free(u->nonce);
    memset(u, 0, sizeof(*u));
}

static int update_head(struct dp_xds__update *u, const char *type_url,
                       const char *version, const char *nonce, size_t n,
                       char *err, size_t errlen)
{
    int t = dp_xds__type_from_url(type_url);
    u->nonce = strdup(nonce ? nonce : "");
    u->version = strdup(version ? version : "");
    u->upsert = calloc(n ? n : 1, sizeof(*u->upsert));
    if (u->nonce == NULL || u->version == NULL || u->upsert == NULL)
        return cm_err_set(err, errlen, GW_ENOMEM, "out of memory");
    if (t < 0)
        return cm_err_set(err, errlen, GW_EPROTO,
                          "response of unknown type_url \"%s\"",
                          type_url ? type_url : "");
    u->type = (enum dp_xds_type)t;
    return GW_OK;
}

/* Decodes one Any of the response into u->upsert. */
static int update_add(struct dp_xds__update *u, size_t i,
                      const Google__Protobuf__Any *any, const char *name,
                      const char *version, char *err, size_t errlen)
{
    const char *want = dp_xds_type_url(u->type);
    if (any == NULL)
        return cm_err_set(
            err, errlen, GW_EINVAL, "%s: resource %zu%s%s has no body",
            dp_xds_type_short(u->type), i, name ? " " : "", name ? name : "");
    if (any->type_url == NULL || strcmp(any->type_url, want) != 0)
        return cm_err_set(err, errlen, GW_EINVAL,
                          "%s: resource %zu has type_url \"%s\", want \"%s\"",
                          dp_xds_type_short(u->type), i,
                          any->type_url ? any->type_url : "", want);
    struct dp_xds__res *r = dp_xds__res_new(
        u->type, name, version, any->value.data, any->value.len, err, errlen);
    if (r == NULL)
        return GW_EINVAL;
    for (size_t j = 0; j < u->n_upsert; j++)
        if (strcmp(u->upsert[j]->name, r->name) == 0) {
            cm_err_set(err, errlen, GW_EINVAL, "%s: resource \"%s\" twice",
                       dp_xds_type_short(u->type), r->name);
            dp_xds__res_unref(r);
            return GW_EINVAL;
        }
    u->upsert[u->n_upsert++] = r;
    return GW_OK;
}

int dp_xds__update_sotw(const uint8_t *data, size_t len,
                        struct dp_xds__update *u, char *err, size_t errlen)
{
    memset(u, 0, sizeof(*u));
    Envoy__Service__Discovery__V3__DiscoveryResponse *m =
        envoy__service__discovery__v3__discovery_response__unpack(NULL, len,
                                                                  data);
    if (m == NULL)
        return cm_err_set(err, errlen, GW_EPROTO,
                          "cannot decode DiscoveryResponse");
    int rc = update_head(u, m->type_url, m->version_info, m->nonce,
                         m->n_resources, err, errlen);
    u->full = u->type == DP_XDS_LISTENER || u->type == DP_XDS_CLUSTER;
    for (size_t i = 0; rc == 0 && i < m->n_resources; i++)
        rc = update_add(u, i, m->resources[i], NULL, m->version_info, err,
                        errlen);
    envoy__service__discovery__v3__discovery_response__free_unpacked(m, NULL);
    return rc;
}

int dp_xds__update_delta(const uint8_t *data, size_t len,
                         struct dp_xds__update *u, char *err, size_t errlen)
{
    memset(u, 0, sizeof(*u));
    Envoy__Service__Discovery__V3__DeltaDiscoveryResponse *m =
        envoy__service__discovery__v3__delta_discovery_response__unpack(
            NULL, len, data);
    if (m == NULL)
        return cm_err_set(err, errlen, GW_EPROTO,
                          "cannot decode DeltaDiscoveryResponse");
    int rc = update_head(u, m->type_url, m->system_version_info, m->nonce,
                         m->n_resources, err, errlen);
    for (size_t i = 0; rc == 0 && i < m->n_resources; i++) {
        const Envoy__Service__Discovery__V3__Resource *r = m->resources[i];
        rc = update_add(u, i, r->resource, r->name, r->version, err, errlen);
    }
    if (rc == 0 && m->n_removed_resources > 0) {
        u->remove = calloc(m->n_removed_resources, sizeof(*u->remove));
        rc = u->remove ? GW_OK : GW_ENOMEM;
        for (size_t i = 0; rc == 0 && i < m->n_removed_resources; i++) {
            u->remove[i] = strdup(m->removed_resources[i]);
            rc = u->remove[i] ? GW_OK : GW_ENOMEM;
            u->n_remove += rc == 0;
        }
    }
    envoy__service__discovery__v3__delta_discovery_response__free_unpacked(
        m, NULL);
    return rc;
}
