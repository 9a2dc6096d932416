/*
 * xds-t.h -- types of the xDS v3 server (cp_xds_): resource types, the
 * per-node record handed out by cp_xds_server_list_nodes(), and the events
 * reported to the hook. Snapshots, streams and the server are opaque.
 */
#ifndef CP_XDS_T_H
#define CP_XDS_T_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cp_xds_snapshot;
struct cp_xds_stream;
struct cp_xds_server;

/* One encoded response without its nonce (cp_xds_snapshot_sotw_body(),
 * cp_xds_snapshot_delta_body()): immutable once built, refcounted
 * (atomic), shared by every stream that sends the same content. Fields
 * read-only. */
struct cp_xds_body {
    int refs;
    size_t count;    /* resources it carries */
    uint64_t digest; /* SotW: of the names and versions it carries */
    size_t len;
    uint8_t data[]; /* protobuf wire format */
};

/* Room for the nonce field cp_xds_nonce_field() writes (nonces are short). */
#define CP_XDS_NONCE_FIELD_MAX 40

/* Resource types, in the make-before-break order pushes follow. */
enum cp_xds_type {
    CP_XDS_CLUSTER = 0,  /* envoy.config.cluster.v3.Cluster */
    CP_XDS_ENDPOINT = 1, /* envoy.config.endpoint.v3.ClusterLoadAssignment */
    CP_XDS_LISTENER = 2, /* envoy.config.listener.v3.Listener */
    CP_XDS_ROUTE = 3,    /* envoy.config.route.v3.RouteConfiguration */
    CP_XDS_SECRET = 4,   /* envoy.extensions.transport_sockets.tls.v3.Secret */
    CP_XDS_TYPE_COUNT = 5,
};

enum cp_xds_event_kind {
    CP_XDS_EV_CONNECTED = 0,    /* first request of a stream (node known) */
    CP_XDS_EV_DISCONNECTED = 1, /* stream over */
    CP_XDS_EV_ACK = 2,
    CP_XDS_EV_NACK = 3,
};

/* One event; every pointer borrowed for the duration of the hook. */
struct cp_xds_event {
    enum cp_xds_event_kind kind;
    uint64_t stream_id;
    const char *node_id;
    const char *peer;
    enum cp_xds_type type; /* ACK/NACK only */
    const char *version;   /* ACK: version accepted; NACK: still in use */
    const char *nonce;     /* ACK/NACK: the nonce answered */
    const char *message;   /* NACK: the client's error_detail.message */
    int code;              /* NACK: error_detail.code */
};

/* Called with the server lock held, on the gRPC CQ thread: must not call
 * back into cp_xds_server_* or cp_rpc_server_lock(). */
typedef void (*cp_xds_event_cb)(void *arg, const struct cp_xds_event *ev);

#define CP_XDS_STR_LEN   256
#define CP_XDS_SHORT_LEN 64
#define CP_XDS_MSG_LEN   1024

/* Per type state of one stream, as copied out. */
struct cp_xds_type_info {
    bool subscribed;  /* a request for this type was seen */
    bool wildcard;    /* subscribed to every resource of the type */
    uint32_t n_names; /* explicitly subscribed names */
    char acked_version[CP_XDS_SHORT_LEN]; /* "" until an ACK */
    char sent_version[CP_XDS_SHORT_LEN];  /* of the last response */
    uint64_t acks, nacks;
    char nack_nonce[CP_XDS_SHORT_LEN]; /* last NACK ("" if none) */
    char nack_message[CP_XDS_MSG_LEN];
    int nack_code;
    int64_t nack_time_ms; /* Unix ms */
};

/* One connected stream (one xDS client), copied out; strings truncated. */
struct cp_xds_node_info {
    uint64_t stream_id;
    bool delta; /* DeltaAggregatedResources rather than SotW */
    char peer[CP_XDS_SHORT_LEN * 2];
    char id[CP_XDS_STR_LEN];
    char cluster[CP_XDS_STR_LEN];
    char user_agent_name[CP_XDS_SHORT_LEN];
    char user_agent_version[CP_XDS_SHORT_LEN];
    char metadata_json[CP_XDS_MSG_LEN]; /* Node.metadata as JSON ("{}") */
    int64_t connected_ms;               /* Unix ms */
    struct cp_xds_type_info types[CP_XDS_TYPE_COUNT];
};

#endif
