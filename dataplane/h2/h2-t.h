/*
 * h2-t.h -- types of the data node's HTTP/2 glue over libnghttp2: one
 * session per connection (a server session for clients, a client session
 * for h2c upstreams), received header blocks as views, the transport the
 * session writes through, the events it raises, and its limits. Prototypes
 * are in h2.h.
 */
#ifndef DP_H2_T_H
#define DP_H2_T_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct dp_h2_session; /* opaque: an nghttp2 session and its streams */

/* Defaults of struct dp_h2_limits (zero fields get these). */
#define DP_H2_MAX_STREAMS_DEF   100           /* concurrent streams we accept */
#define DP_H2_WINDOW_DEF        (256 * 1024)  /* per-stream receive window */
#define DP_H2_CONN_WINDOW_DEF   (1024 * 1024) /* per-connection window */
#define DP_H2_HEADER_LIST_DEF   (64 * 1024)   /* header block (RFC 9113 size) */
#define DP_H2_PREMATURE_MAX_DEF 100 /* client resets before a response */
#define DP_H2_OUT_TARGET        (64 * 1024) /* bytes serialised per send */
#define DP_H2_OUT_FIRST         (16 * 1024) /* output buffer, first size */

/* The connection preface a client sends first (prior knowledge). */
#define DP_H2_PREFACE     "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#define DP_H2_PREFACE_LEN 24

enum dp_h2_role {
    DP_H2_SERVER = 0, /* downstream: clients open streams */
    DP_H2_CLIENT,     /* upstream: we open streams */
};

/* What a received header block is. */
enum dp_h2_kind {
    DP_H2_HEAD = 0, /* request head (server), final response head (client) */
    DP_H2_INFO,     /* 1xx response head (client) */
    DP_H2_TRAILERS, /* trailer section */
};

struct dp_h2_slice {
    const char *p;
    size_t len;
};

/* A header field: names are lower case in received blocks. */
struct dp_h2_field {
    struct dp_h2_slice name, value;
};

/* A received header block. Views into the stream's own copy, valid until
 * the stream closes (a head and a trailer section are kept apart). */
struct dp_h2_head {
    uint8_t kind;                                       /* enum dp_h2_kind */
    struct dp_h2_slice method, scheme, authority, path; /* requests */
    int status;                                         /* responses */
    const struct dp_h2_field *f; /* regular fields, in order */
    size_t n;
    int64_t content_length; /* -1 when absent */
    bool end_stream;        /* the block ended the stream (trailers-only) */
};

/* Limits; a zero field means the default. */
struct dp_h2_limits {
    uint32_t max_streams;     /* SETTINGS_MAX_CONCURRENT_STREAMS we send */
    uint32_t window;          /* SETTINGS_INITIAL_WINDOW_SIZE we send */
    uint32_t conn_window;     /* our connection-level receive window */
    uint32_t max_header_list; /* a larger received block resets its stream */
    uint32_t premature_max;   /* server: early client resets before GOAWAY */
};

/* The transport a session writes through (plain TCP or TLS). send() takes
 * <n> bytes at <p>, borrowed until it returns 1, or until dp_h2_sent()
 * when it returns 0 (pending); a negative return is a transport error. */
struct dp_h2_io {
    int (*send)(void *arg, const uint8_t *p, size_t n);
    void *arg;
};

/* Stream events. <arg> is the session's; <user> the stream's
 * (dp_h2_set_user; NULL streams raise no events). Inside these, submit,
 * write and reset freely, but never free the session. */
struct dp_h2_cbs {
    /* A header block is complete. Server: a new request stream (user is
     * NULL: set one). Return 0, or negative to reset the stream. */
    int (*on_headers)(void *arg, int32_t sid, void *user,
                      const struct dp_h2_head *h);
    /* Body bytes: copy them; dp_h2_consume() them once forwarded (that is
     * what reopens the peer's window). */
    void (*on_data)(void *arg, void *user, const uint8_t *p, size_t n);
    /* The peer ended its side of the stream (END_STREAM). */
    void (*on_end)(void *arg, void *user);
    /* The stream closed; <code> is its RST/GOAWAY error code (0: normal). */
    void (*on_close)(void *arg, void *user, uint32_t code);
    /* <n> queued body bytes of the stream went out: room for more. */
    void (*on_room)(void *arg, void *user, size_t n);
};

/* Counters of one session. */
struct dp_h2_stats {
    uint64_t streams;          /* streams opened by the peer (server) */
    uint64_t premature_resets; /* of those, reset before our response head */
    bool flooded;              /* closed for a flood or a reset storm */
};

#endif
