/*
 * stream.h -- the per-stream ADS protocol state machine, independent of
 * gRPC: feed it the bytes of each request and each new snapshot; it calls
 * <out->send> with the responses to write and <out->event> with ACK/NACK/
 * connect/disconnect events. Used by server.c (on the CQ thread or the push
 * thread, server lock held) and directly by the unit tests.
 */
#ifndef CP_XDS_STREAM_H
#define CP_XDS_STREAM_H

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>

#include "common/err/err.h"
#include "controlplane/xds/xds-t.h"

struct cp_xds_stream_out {
    /* Writes one response: <body> (borrowed for the call; take a reference
     * with cp_xds_body_get() to keep it) followed by the nonce field of
     * <nonce> (cp_xds_nonce_field()). */
    int (*send)(void *arg, struct cp_xds_body *body, const char *nonce);
    /* May be NULL. */
    void (*event)(void *arg, const struct cp_xds_event *ev);
    void *arg;
};

/* Returns new; free with cp_xds_stream_free(). <peer> copied. */
struct cp_xds_stream *cp_xds_stream_new(uint64_t id, bool delta,
                                        const char *peer);
void cp_xds_stream_free(struct cp_xds_stream *s);

/* Subscriptions are then shared through <pool> (borrowed; must outlive the
 * stream). Before the first request. */
struct cp_xds__pool;
void cp_xds_stream_set_pool(struct cp_xds_stream *s, struct cp_xds__pool *pool);

/* Handles one DiscoveryRequest (or DeltaDiscoveryRequest for a delta
 * stream). <snap> borrowed, may be NULL (nothing to serve yet). Returns 0,
 * GW_EPROTO if the bytes do not decode, or what out->send returned. */
int cp_xds_stream_on_request(struct cp_xds_stream *s,
                             const struct cp_xds_snapshot *snap,
                             const uint8_t *data, size_t len,
                             const struct cp_xds_stream_out *out);

/* Pushes what changed in <snap> (borrowed) to this stream. */
int cp_xds_stream_on_snapshot(struct cp_xds_stream *s,
                              const struct cp_xds_snapshot *snap,
                              const struct cp_xds_stream_out *out);

/* Reports and logs the end of a stream that had connected (once). */
void cp_xds_stream_closed(struct cp_xds_stream *s,
                          const struct cp_xds_stream_out *out);

/* Copies the stream's record into <info>. */
void cp_xds_stream_info(const struct cp_xds_stream *s,
                        struct cp_xds_node_info *info);

/* Node.metadata as compact JSON into <out> ("{}" when absent); truncates. */
void cp_xds__struct_json(const ProtobufCMessage *st, char *out, size_t len);

#endif
