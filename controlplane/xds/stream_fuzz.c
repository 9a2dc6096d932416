/*
 * stream_fuzz.c -- arbitrary bytes as discovery requests: the first byte
 * picks SotW or delta and whether a snapshot push follows; the rest is the
 * request. The stream must never crash, leak or send an invalid response.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/log/log.h"
#include "controlplane/xds/stream.h"
#include "controlplane/xds/xds.h"
#include "envoy/config/cluster/v3/cluster.pb-c.h"
#include "envoy/service/discovery/v3/discovery.pb-c.h"

/* Decodes each response (body and nonce) as the client would. */
struct sent {
    size_t n;
    bool delta;
};

static int count_send(void *arg, struct cp_xds_body *body, const char *nonce)
{
    struct sent *k = arg;
    uint8_t field[CP_XDS_NONCE_FIELD_MAX];
    size_t nlen = cp_xds_nonce_field(nonce, field, sizeof(field));
    uint8_t *buf = malloc(body->len + nlen + 1);
    if (buf == NULL)
        return GW_ENOMEM;
    memcpy(buf, body->data, body->len);
    memcpy(buf + body->len, field, nlen);
    ProtobufCMessage *m = protobuf_c_message_unpack(
        k->delta
            ? &envoy__service__discovery__v3__delta_discovery_response__descriptor
            : &envoy__service__discovery__v3__discovery_response__descriptor,
        NULL, body->len + nlen, buf);
    free(buf);
    if (m == NULL)
        abort(); /* an invalid response */
    protobuf_c_message_free_unpacked(m, NULL);
    k->n++;
    return 0;
}

static struct cp_xds_snapshot *make_snap(const char *version)
{
    struct cp_xds_snapshot *s = cp_xds_snapshot_new(version);
    Envoy__Config__Cluster__V3__Cluster c =
        ENVOY__CONFIG__CLUSTER__V3__CLUSTER__INIT;
    c.name = "a";
    (void)cp_xds_snapshot_add(s, CP_XDS_CLUSTER, "a", &c.base);
    (void)cp_xds_snapshot_add_bytes(s, CP_XDS_ENDPOINT, "a",
                                    (const uint8_t *)"\x0a\x01\x61", 3);
    (void)cp_xds_snapshot_add_bytes(s, CP_XDS_LISTENER, "*", NULL, 0);
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    cm_log_set_level(CM_LOG_ERROR);
    struct sent sent = {.delta = data[0] & 1};
    struct cp_xds_stream_out out = {.send = count_send, .arg = &sent};
    struct cp_xds_snapshot *s1 = make_snap("1");
    struct cp_xds_stream *st = cp_xds_stream_new(1, data[0] & 1, "fuzz");
    /* the same request twice: an ACK-like replay must be handled too */
    (void)cp_xds_stream_on_request(st, s1, data + 1, size - 1, &out);
    (void)cp_xds_stream_on_request(st, (data[0] & 4) ? NULL : s1, data + 1,
                                   size - 1, &out);
    if (data[0] & 2) {
        struct cp_xds_snapshot *s2 = cp_xds_snapshot_new("2");
        (void)cp_xds_stream_on_snapshot(st, s2, &out);
        cp_xds_snapshot_put(s2);
    }
    struct cp_xds_node_info info;
    cp_xds_stream_info(st, &info);
    cp_xds_stream_closed(st, &out);
    cp_xds_stream_free(st);
    cp_xds_snapshot_put(s1);
    return 0;
}
