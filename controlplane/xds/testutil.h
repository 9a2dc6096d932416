/*
 * testutil.h -- helpers shared by the xds unit tests (header-only, static):
 * small resources, request encoders, and a sink that decodes every response
 * a stream sends and records its events.
 */
#ifndef CP_XDS_TESTUTIL_H
#define CP_XDS_TESTUTIL_H

#include <stdlib.h>
#include <string.h>

#include "common/log/log.h"
#include "controlplane/rpc/rpc.h"
#include "controlplane/xds/stream.h"
#include "controlplane/xds/xds.h"
#include "envoy/config/cluster/v3/cluster.pb-c.h"
#include "envoy/config/endpoint/v3/endpoint.pb-c.h"
#include "envoy/config/listener/v3/listener.pb-c.h"
#include "envoy/config/route/v3/route.pb-c.h"
#include "envoy/service/discovery/v3/discovery.pb-c.h"

#define MAX_SENT   32
#define MAX_EVENTS 32

struct sink {
    bool delta;
    size_t n;
    Envoy__Service__Discovery__V3__DiscoveryResponse *sotw[MAX_SENT];
    Envoy__Service__Discovery__V3__DeltaDiscoveryResponse *dlt[MAX_SENT];
    const struct cp_xds_body *body[MAX_SENT]; /* as sent (not kept) */
    size_t n_events;
    struct {
        enum cp_xds_event_kind kind;
        int type;
        char nonce[32];
        char version[64];
        char message[256];
    } ev[MAX_EVENTS];
};

static __attribute__((unused)) int
sink_send(void *arg, struct cp_xds_body *body, const char *nonce)
{
    struct sink *k = arg;
    if (k->n >= MAX_SENT)
        return GW_ETOOBIG;
    uint8_t field[CP_XDS_NONCE_FIELD_MAX];
    size_t nlen = cp_xds_nonce_field(nonce, field, sizeof(field));
    uint8_t *buf = malloc(body->len + nlen + 1);
    if (buf == NULL)
        return GW_ENOMEM;
    memcpy(buf, body->data, body->len);
    memcpy(buf + body->len, field, nlen);
    size_t len = body->len + nlen;
    k->body[k->n] = body;
    if (k->delta)
        k->dlt[k->n++] =
            envoy__service__discovery__v3__delta_discovery_response__unpack(
                NULL, len, buf);
    else
        k->sotw[k->n++] =
            envoy__service__discovery__v3__discovery_response__unpack(NULL, len,
                                                                      buf);
    free(buf);
    return GW_OK;
}

static __attribute__((unused)) void sink_event(void *arg,
                                               const struct cp_xds_event *ev)
{
    struct sink *k = arg;
    if (k->n_events >= MAX_EVENTS)
        return;
    k->ev[k->n_events].kind = ev->kind;
    k->ev[k->n_events].type = ev->type;
    snprintf(k->ev[k->n_events].nonce, 32, "%s", ev->nonce ? ev->nonce : "");
    snprintf(k->ev[k->n_events].version, 64, "%s",
             ev->version ? ev->version : "");
    snprintf(k->ev[k->n_events].message, 256, "%s",
             ev->message ? ev->message : "");
    k->n_events++;
}

static __attribute__((unused)) void sink_clear(struct sink *k)
{
    for (size_t i = 0; i < k->n; i++) {
        envoy__service__discovery__v3__discovery_response__free_unpacked(
            k->sotw[i], NULL);
        envoy__service__discovery__v3__delta_discovery_response__free_unpacked(
            k->dlt[i], NULL);
        k->sotw[i] = NULL;
        k->dlt[i] = NULL;
    }
    k->n = 0;
    k->n_events = 0;
}

static __attribute__((unused)) struct cp_xds_stream_out sink_out(struct sink *k)
{
    struct cp_xds_stream_out out = {
        .send = sink_send, .event = sink_event, .arg = k};
    return out;
}

/* ---- resources ---- */

static __attribute__((unused)) int
add_cluster(struct cp_xds_snapshot *s, const char *name, const char *service)
{
    Envoy__Config__Cluster__V3__Cluster c =
        ENVOY__CONFIG__CLUSTER__V3__CLUSTER__INIT;
    Envoy__Config__Cluster__V3__Cluster__EdsClusterConfig eds =
        ENVOY__CONFIG__CLUSTER__V3__CLUSTER__EDS_CLUSTER_CONFIG__INIT;
    c.name = (char *)name;
    eds.service_name = (char *)service;
    c.eds_cluster_config = &eds;
    return cp_xds_snapshot_add(s, CP_XDS_CLUSTER, name, &c.base);
}

static __attribute__((unused)) int add_cla(struct cp_xds_snapshot *s,
                                           const char *name, const char *tag)
{
    Envoy__Config__Endpoint__V3__ClusterLoadAssignment c =
        ENVOY__CONFIG__ENDPOINT__V3__CLUSTER_LOAD_ASSIGNMENT__INIT;
    char buf[128];
    snprintf(buf, sizeof(buf), "%s", name);
    (void)tag;
    c.cluster_name = buf;
    if (tag != NULL) {
        /* a different payload for the same name: a second field value */
        snprintf(buf, sizeof(buf), "%s#%s", name, tag);
    }
    return cp_xds_snapshot_add(s, CP_XDS_ENDPOINT, name, &c.base);
}

static __attribute__((unused)) int add_listener(struct cp_xds_snapshot *s,
                                                const char *name)
{
    Envoy__Config__Listener__V3__Listener l =
        ENVOY__CONFIG__LISTENER__V3__LISTENER__INIT;
    l.name = (char *)name;
    return cp_xds_snapshot_add(s, CP_XDS_LISTENER, name, &l.base);
}

static __attribute__((unused)) int add_route(struct cp_xds_snapshot *s,
                                             const char *name)
{
    Envoy__Config__Route__V3__RouteConfiguration r =
        ENVOY__CONFIG__ROUTE__V3__ROUTE_CONFIGURATION__INIT;
    r.name = (char *)name;
    return cp_xds_snapshot_add(s, CP_XDS_ROUTE, name, &r.base);
}

/* ---- requests ---- */

static __attribute__((unused)) void pack_free(const ProtobufCMessage *m,
                                              uint8_t **buf, size_t *len)
{
    if (cp_rpc_pb_pack(m, buf, len) != 0)
        abort();
}

/* SotW request; <names> NULL-terminated (may be NULL); <err> NACK message. */
static __attribute__((unused)) int
sotw_req(struct cp_xds_stream *st, const struct cp_xds_snapshot *snap,
         struct sink *k, int type, const char *const *names,
         const char *version, const char *nonce, const char *err)
{
    Envoy__Service__Discovery__V3__DiscoveryRequest r =
        ENVOY__SERVICE__DISCOVERY__V3__DISCOVERY_REQUEST__INIT;
    Envoy__Config__Core__V3__Node node = ENVOY__CONFIG__CORE__V3__NODE__INIT;
    Google__Rpc__Status status = GOOGLE__RPC__STATUS__INIT;
    node.id = "node-1";
    node.cluster = "c1";
    node.user_agent_name = "test-agent";
    r.node = &node;
    r.type_url = (char *)cp_xds_type_url(type);
    size_t n = 0;
    while (names != NULL && names[n] != NULL)
        n++;
    r.n_resource_names = n;
    r.resource_names = (char **)names;
    r.version_info = (char *)(version ? version : "");
    r.response_nonce = (char *)(nonce ? nonce : "");
    if (err != NULL) {
        status.code = 3;
        status.message = (char *)err;
        r.error_detail = &status;
    }
    uint8_t *buf;
    size_t len;
    pack_free(&r.base, &buf, &len);
    struct cp_xds_stream_out out = sink_out(k);
    int rc = cp_xds_stream_on_request(st, snap, buf, len, &out);
    free(buf);
    return rc;
}

struct delta_args {
    const char *const *sub;
    const char *const *unsub;
    const char *const *initial; /* name, version, name, version, ..., NULL */
    const char *nonce;
    const char *err;
};

static __attribute__((unused)) size_t count_names(const char *const *v)
{
    size_t n = 0;
    while (v != NULL && v[n] != NULL)
        n++;
    return n;
}

static __attribute__((unused)) int delta_req(struct cp_xds_stream *st,
                                             const struct cp_xds_snapshot *snap,
                                             struct sink *k, int type,
                                             const struct delta_args *a)
{
    Envoy__Service__Discovery__V3__DeltaDiscoveryRequest r =
        ENVOY__SERVICE__DISCOVERY__V3__DELTA_DISCOVERY_REQUEST__INIT;
    Envoy__Config__Core__V3__Node node = ENVOY__CONFIG__CORE__V3__NODE__INIT;
    Google__Rpc__Status status = GOOGLE__RPC__STATUS__INIT;
    Envoy__Service__Discovery__V3__DeltaDiscoveryRequest__InitialResourceVersionsEntry
        ent[8],
        *entp[8];
    node.id = "delta-node";
    r.node = &node;
    r.type_url = (char *)cp_xds_type_url(type);
    r.n_resource_names_subscribe = count_names(a->sub);
    r.resource_names_subscribe = (char **)a->sub;
    r.n_resource_names_unsubscribe = count_names(a->unsub);
    r.resource_names_unsubscribe = (char **)a->unsub;
    size_t ni = count_names(a->initial) / 2;
    for (size_t i = 0; i < ni && i < 8; i++) {
        envoy__service__discovery__v3__delta_discovery_request__initial_resource_versions_entry__init(
            &ent[i]);
        ent[i].key = (char *)a->initial[2 * i];
        ent[i].value = (char *)a->initial[2 * i + 1];
        entp[i] = &ent[i];
    }
    r.n_initial_resource_versions = ni;
    r.initial_resource_versions = entp;
    r.response_nonce = (char *)(a->nonce ? a->nonce : "");
    if (a->err != NULL) {
        status.code = 14;
        status.message = (char *)a->err;
        r.error_detail = &status;
    }
    uint8_t *buf;
    size_t len;
    pack_free(&r.base, &buf, &len);
    struct cp_xds_stream_out out = sink_out(k);
    int rc = cp_xds_stream_on_request(st, snap, buf, len, &out);
    free(buf);
    return rc;
}

static __attribute__((unused)) int push(struct cp_xds_stream *st,
                                        const struct cp_xds_snapshot *snap,
                                        struct sink *k)
{
    struct cp_xds_stream_out out = sink_out(k);
    return cp_xds_stream_on_snapshot(st, snap, &out);
}

/* Name of the resource in an Any, decoded by type. */
static char *any_name(const Google__Protobuf__Any *a, char *buf, size_t len)
{
    int t = cp_xds_type_from_url(a->type_url);
    buf[0] = '\0';
    if (t == CP_XDS_CLUSTER) {
        Envoy__Config__Cluster__V3__Cluster *c =
            envoy__config__cluster__v3__cluster__unpack(NULL, a->value.len,
                                                        a->value.data);
        snprintf(buf, len, "%s", c ? c->name : "?");
        envoy__config__cluster__v3__cluster__free_unpacked(c, NULL);
    } else if (t == CP_XDS_LISTENER) {
        Envoy__Config__Listener__V3__Listener *l =
            envoy__config__listener__v3__listener__unpack(NULL, a->value.len,
                                                          a->value.data);
        snprintf(buf, len, "%s", l ? l->name : "?");
        envoy__config__listener__v3__listener__free_unpacked(l, NULL);
    } else if (t == CP_XDS_ROUTE) {
        Envoy__Config__Route__V3__RouteConfiguration *r =
            envoy__config__route__v3__route_configuration__unpack(
                NULL, a->value.len, a->value.data);
        snprintf(buf, len, "%s", r ? r->name : "?");
        envoy__config__route__v3__route_configuration__free_unpacked(r, NULL);
    } else if (t == CP_XDS_ENDPOINT) {
        Envoy__Config__Endpoint__V3__ClusterLoadAssignment *c =
            envoy__config__endpoint__v3__cluster_load_assignment__unpack(
                NULL, a->value.len, a->value.data);
        snprintf(buf, len, "%s", c ? c->cluster_name : "?");
        envoy__config__endpoint__v3__cluster_load_assignment__free_unpacked(
            c, NULL);
    }
    return buf;
}

/* "a,b,c": names of the resources of SotW response <i>. */
static const char *sotw_names(struct sink *k, size_t i, char *buf, size_t len)
{
    const Envoy__Service__Discovery__V3__DiscoveryResponse *r = k->sotw[i];
    buf[0] = '\0';
    for (size_t j = 0; j < r->n_resources; j++) {
        char nm[128];
        any_name(r->resources[j], nm, sizeof(nm));
        size_t used = strlen(buf);
        snprintf(buf + used, len - used, "%s%s", j ? "," : "", nm);
    }
    return buf;
}

#endif
