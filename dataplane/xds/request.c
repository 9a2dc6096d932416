/*
 * request.c -- encodes the client's DiscoveryRequest and
 * DeltaDiscoveryRequest messages: the Node (id, cluster, user agent,
 * metadata admin_addr / workers / version) on a stream's first request,
 * subscriptions, ACK/NACK fields. Pure; client thread or tests.
 */
#include <stdlib.h>
#include <string.h>

#include "common/version/version.h"
#include "dataplane/xds/xds.h"
#include "dataplane/xds/xds_int.h"
#include "envoy/service/discovery/v3/discovery.pb-c.h"

typedef Google__Protobuf__Struct__FieldsEntry field_entry;
typedef Envoy__Service__Discovery__V3__DeltaDiscoveryRequest__InitialResourceVersionsEntry
    irv_entry;

/* Node and its metadata, all on the stack of the caller. */
struct node_msg {
    Envoy__Config__Core__V3__Node node;
    Google__Protobuf__Struct md;
    field_entry e[3];
    field_entry *ep[3];
    Google__Protobuf__Value v[3];
};

static void node_build(struct node_msg *m, const struct dp_xds__node *n)
{
    static const char *const keys[3] = {"admin_addr", "workers", "version"};
    Envoy__Config__Core__V3__Node init = ENVOY__CONFIG__CORE__V3__NODE__INIT;
    Google__Protobuf__Struct sinit = GOOGLE__PROTOBUF__STRUCT__INIT;
    m->node = init;
    m->md = sinit;
    for (int i = 0; i < 3; i++) {
        field_entry e = GOOGLE__PROTOBUF__STRUCT__FIELDS_ENTRY__INIT;
        Google__Protobuf__Value v = GOOGLE__PROTOBUF__VALUE__INIT;
        m->e[i] = e;
        m->v[i] = v;
        m->e[i].key = (char *)keys[i];
        m->e[i].value = &m->v[i];
        m->ep[i] = &m->e[i];
    }
    m->v[0].kind_case = GOOGLE__PROTOBUF__VALUE__KIND_STRING_VALUE;
    m->v[0].string_value = (char *)(n->admin_addr ? n->admin_addr : "");
    m->v[1].kind_case = GOOGLE__PROTOBUF__VALUE__KIND_NUMBER_VALUE;
    m->v[1].number_value = n->workers;
    m->v[2].kind_case = GOOGLE__PROTOBUF__VALUE__KIND_STRING_VALUE;
    m->v[2].string_value = (char *)CM_VERSION;
    m->md.n_fields = 3;
    m->md.fields = m->ep;
    m->node.id = (char *)n->id;
    m->node.cluster = (char *)DP_XDS_CLUSTER_NAME;
    m->node.user_agent_name = (char *)DP_XDS_USER_AGENT;
    m->node.user_agent_version_type_case =
        ENVOY__CONFIG__CORE__V3__NODE__USER_AGENT_VERSION_TYPE_USER_AGENT_VERSION;
    m->node.user_agent_version = (char *)CM_VERSION;
    m->node.metadata = &m->md;
}

static int pack(const ProtobufCMessage *m, uint8_t **out, size_t *len)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    uint8_t *p = malloc(n ? n : 1);
    if (p == NULL)
        return GW_ENOMEM;
    protobuf_c_message_pack(m, p);
    *out = p;
    *len = n;
    return GW_OK;
}

int dp_xds__req_sotw(enum dp_xds_type t, const struct cm_strset *names,
                     const char *version, const char *nonce,
                     const struct dp_xds__node *node, const char *nack,
                     uint8_t **out, size_t *len)
{
    Envoy__Service__Discovery__V3__DiscoveryRequest r =
        ENVOY__SERVICE__DISCOVERY__V3__DISCOVERY_REQUEST__INIT;
    Google__Rpc__Status st = GOOGLE__RPC__STATUS__INIT;
    struct node_msg nm;
    r.type_url = (char *)dp_xds_type_url(t);
    r.version_info = (char *)(version ? version : "");
    r.response_nonce = (char *)(nonce ? nonce : "");
    if (names != NULL) {
        r.n_resource_names = names->n;
        r.resource_names = names->v;
    }
    if (node != NULL) {
        node_build(&nm, node);
        r.node = &nm.node;
    }
    if (nack != NULL) {
        st.code = 3; /* INVALID_ARGUMENT */
        st.message = (char *)nack;
        r.error_detail = &st;
    }
    return pack(&r.base, out, len);
}

int dp_xds__req_delta(enum dp_xds_type t, const struct cm_strset *sub,
                      const struct cm_strset *unsub,
                      const struct dp_xds__set *held, const char *nonce,
                      const struct dp_xds__node *node, const char *nack,
                      uint8_t **out, size_t *len)
{
    Envoy__Service__Discovery__V3__DeltaDiscoveryRequest r =
        ENVOY__SERVICE__DISCOVERY__V3__DELTA_DISCOVERY_REQUEST__INIT;
    Google__Rpc__Status st = GOOGLE__RPC__STATUS__INIT;
    struct node_msg nm;
    r.type_url = (char *)dp_xds_type_url(t);
    r.response_nonce = (char *)(nonce ? nonce : "");
    if (sub != NULL) {
        r.n_resource_names_subscribe = sub->n;
        r.resource_names_subscribe = sub->v;
    }
    if (unsub != NULL) {
        r.n_resource_names_unsubscribe = unsub->n;
        r.resource_names_unsubscribe = unsub->v;
    }
    size_t n = held ? held->n[t] : 0;
    irv_entry *e = calloc(n ? n : 1, sizeof(*e));
    irv_entry **ep = calloc(n ? n : 1, sizeof(*ep));
    int rc = GW_ENOMEM;
    if (e == NULL || ep == NULL)
        goto done;
    for (size_t i = 0; i < n; i++) {
        irv_entry init =
            ENVOY__SERVICE__DISCOVERY__V3__DELTA_DISCOVERY_REQUEST__INITIAL_RESOURCE_VERSIONS_ENTRY__INIT;
        e[i] = init;
        e[i].key = held->v[t][i]->name;
        e[i].value = held->v[t][i]->version;
        ep[i] = &e[i];
    }
    r.n_initial_resource_versions = n;
    r.initial_resource_versions = ep;
    if (node != NULL) {
        node_build(&nm, node);
        r.node = &nm.node;
    }
    if (nack != NULL) {
        st.code = 3; /* INVALID_ARGUMENT */
        st.message = (char *)nack;
        r.error_detail = &st;
    }
    rc = pack(&r.base, out, len);
done:
    free(e);
    free(ep);
    return rc;
}
