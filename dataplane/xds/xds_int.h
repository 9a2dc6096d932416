/*
 * xds_int.h -- internals of the xDS client shared by its files and unit
 * tests: name lists, decoded resources, resource sets and the update logic
 * (set.c, decode.c), the cache file (cache.c), the backoff schedule
 * (backoff.c), request encoding (request.c) and the certificate keeper
 * (creds.c). Everything here but the keeper runs on the client thread (or
 * in tests); nothing else is locked.
 */
#ifndef DP_XDS_INT_H
#define DP_XDS_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <grpc/grpc_security.h>
#include <protobuf-c/protobuf-c.h>

#include "common/err/err.h"
#include "common/strset/strset.h"
#include "dataplane/xds/xds-t.h"

/* ==== name lists (names.c) ==== */

/* Name lists are common/strset sets (sorted, unique, owned). */

/* Splits "H:P,H:P" into <out> (an ordered array of owned strings, not
 * sorted; free with dp_xds__strv_free()). Each entry needs a host and a
 * port in 1..65535. Returns the count (> 0) or GW_EINVAL with <err>. */
int dp_xds__parse_control(const char *s, char ***out, char *err, size_t len);
void dp_xds__strv_free(char **v, size_t n);

/* ==== resources (decode.c) ==== */

/* One decoded resource. Immutable once made; refcounted (one thread). */
struct dp_xds__res {
    int refs; /* atomic */
    enum dp_xds_type type;
    char *name;
    char *version;
    uint8_t *data; /* the encoded message (Any.value) */
    size_t len;
    ProtobufCMessage *msg; /* decoded from data, in <arena> */
    struct dp_xds__arena *arena;
    /* listener: RDS route_config_names; cluster: its EDS service name (or
     * none when it is not an EDS cluster) */
    struct cm_strset subs;
    /* route, listener (inline route configs): clusters routed to */
    struct cm_strset clusters;
    /* listener: SDS secret names its TLS transport sockets use */
    struct cm_strset secrets;
    /* listener: the version it replaced, while this one warms (its RDS or
     * SDS resources have not all arrived): served meanwhile, as Envoy
     * keeps the old listener until the new one is warm. A reference. */
    struct dp_xds__res *prev;
};

/* Decodes <data> (copied) as a <t> message. <name> may be NULL or "" (SotW:
 * taken from the message); when given it must match the message's.
 * Returns new with one reference; NULL with <err> filled. */
struct dp_xds__res *dp_xds__res_new(enum dp_xds_type t, const char *name,
                                    const char *version, const uint8_t *data,
                                    size_t len, char *err, size_t errlen);
struct dp_xds__res *dp_xds__res_ref(struct dp_xds__res *r);
void dp_xds__res_unref(struct dp_xds__res *r);

/* The message descriptor of <t>. */
const ProtobufCMessageDescriptor *dp_xds__descriptor(enum dp_xds_type t);
/* Type of <url>, or -1. */
int dp_xds__type_from_url(const char *url);

/* ==== resource sets and updates (set.c) ==== */

/* Every resource held, per type, sorted by name; versions accepted. */
struct dp_xds__set {
    struct dp_xds__res **v[DP_XDS_TYPE_COUNT];
    size_t n[DP_XDS_TYPE_COUNT], cap[DP_XDS_TYPE_COUNT];
    char *version[DP_XDS_TYPE_COUNT]; /* NULL: none accepted yet */
    /* clusters the server removed that routes still reference: kept until
     * no route does (make before break) */
    struct cm_strset zombies;
};

void dp_xds__set_init(struct dp_xds__set *s);
void dp_xds__set_deinit(struct dp_xds__set *s);
int dp_xds__set_copy(struct dp_xds__set *dst,
                     const struct dp_xds__set *src) CM_MUST_CHECK;
/* Borrowed, or NULL. */
struct dp_xds__res *dp_xds__set_find(const struct dp_xds__set *s,
                                     enum dp_xds_type t, const char *name);
/* Inserts or replaces by name; takes the caller's reference to <r>. */
int dp_xds__set_put(struct dp_xds__set *s, struct dp_xds__res *r) CM_MUST_CHECK;
void dp_xds__set_del(struct dp_xds__set *s, enum dp_xds_type t,
                     const char *name);
int dp_xds__set_version(struct dp_xds__set *s, enum dp_xds_type t,
                        const char *v) CM_MUST_CHECK;

/* Names to subscribe for <t> (DP_XDS_ROUTE: route_config_names of the
 * listeners; DP_XDS_SECRET: the SDS names of their TLS transport sockets;
 * DP_XDS_ENDPOINT: EDS service names of the clusters) into
 * <out> (cleared first). LDS and CDS are wildcards: <out> stays empty. */
int dp_xds__set_subs(const struct dp_xds__set *s, enum dp_xds_type t,
                     struct cm_strset *out) CM_MUST_CHECK;

/* Checks that every cluster a route (RDS or inline) names is in the set.
 * Returns 0, or GW_ENOENT with "route_config X references unknown cluster
 * Y" in <err>. */
int dp_xds__set_check_clusters(const struct dp_xds__set *s, char *err,
                               size_t len);

/* Drops zombie clusters no route references any more, and RDS/EDS
 * resources nothing subscribes to any more. */
int dp_xds__set_gc(struct dp_xds__set *s) CM_MUST_CHECK;

/* Fills <out> with arrays of borrowed messages (valid while <s> is and
 * unchanged); a listener whose RDS or SDS names are not all in the set
 * is replaced by the version it replaced (res->prev) if that one is
 * complete, else left out. <*storage> is returned new; free() it after the
 * build. */
int dp_xds__set_resources(const struct dp_xds__set *s,
                          struct dp_xds_resources *out,
                          void **storage) CM_MUST_CHECK;

/* One decoded response. */
struct dp_xds__update {
    enum dp_xds_type type;
    bool full;                   /* SotW LDS/CDS: replaces the type's set */
    struct dp_xds__res **upsert; /* owned references */
    size_t n_upsert;
    char **remove; /* delta removed_resources, owned */
    size_t n_remove;
    char *version; /* version_info / system_version_info */
    char *nonce;
};

/* Decode a DiscoveryResponse / DeltaDiscoveryResponse in full (each Any's
 * type_url must be the response's type). Returns 0, or GW_EINVAL with a
 * message in <err> and, when the type and nonce could be read, <u->type>
 * and <u->nonce> set (for the NACK); GW_EPROTO when not even that could. */
int dp_xds__update_sotw(const uint8_t *data, size_t len,
                        struct dp_xds__update *u, char *err, size_t errlen);
int dp_xds__update_delta(const uint8_t *data, size_t len,
                         struct dp_xds__update *u, char *err, size_t errlen);
void dp_xds__update_deinit(struct dp_xds__update *u);

/* Applies <u> (borrowed) to <s>: upserts, removals (clusters still routed
 * to become zombies), SotW full replacement, the accepted version; then
 * gc. Returns 0 or GW_ENOMEM. */
int dp_xds__set_apply(struct dp_xds__set *s,
                      const struct dp_xds__update *u) CM_MUST_CHECK;

/* ==== the cache file (cache.c) ==== */

#define DP_XDS_CACHE_FILE "xds-cache.bin"

/* Serialises <s> into a new buffer (free()): magic, records (type, name,
 * version, bytes; then one version record per type), a trailer with the
 * record count and a CRC-32 of everything before it. */
int dp_xds__cache_encode(const struct dp_xds__set *s, uint8_t **out,
                         size_t *len) CM_MUST_CHECK;
/* Parses and decodes a cache image into <s> (empty). A torn or corrupt
 * image is GW_EPROTO (and <s> is left empty). */
int dp_xds__cache_decode(const uint8_t *data, size_t len, struct dp_xds__set *s,
                         char *err, size_t errlen) CM_MUST_CHECK;
/* Writes <s> to DIR/xds-cache.bin atomically: temporary file in DIR,
 * fsync, rename, fsync of DIR. */
int dp_xds__cache_write(const char *dir, const struct dp_xds__set *s, char *err,
                        size_t errlen) CM_MUST_CHECK;
/* Reads DIR/xds-cache.bin into <s> (empty). GW_ENOENT if there is none. */
int dp_xds__cache_read(const char *dir, struct dp_xds__set *s, char *err,
                       size_t errlen) CM_MUST_CHECK;
uint32_t dp_xds__crc32(const uint8_t *p, size_t n);

/* ==== backoff (backoff.c) ==== */

struct dp_xds__backoff {
    uint32_t base_ms, max_ms;
    uint32_t attempt; /* failures since the last reset */
    uint64_t rng;     /* xorshift state, never 0 */
};

void dp_xds__backoff_init(struct dp_xds__backoff *b, uint32_t base_ms,
                          uint32_t max_ms, uint64_t seed);
/* The delay before the next attempt: min(max, base * 2^attempt) scaled by
 * a uniform factor in [0.5, 1.5]; then attempt++. */
uint32_t dp_xds__backoff_next(struct dp_xds__backoff *b);
void dp_xds__backoff_reset(struct dp_xds__backoff *b);

/* ==== requests (request.c) ==== */

/* Node identity sent on the first request of a stream. */
struct dp_xds__node {
    const char *id;
    const char *admin_addr;
    int workers;
};

/* Encodes a DiscoveryRequest: <names> (may be NULL = none), the version,
 * the nonce, <node> on the first request only (NULL otherwise), an
 * error_detail {code 3, <nack>} when <nack> is not NULL. Returns new
 * bytes (free()) in *out. */
int dp_xds__req_sotw(enum dp_xds_type t, const struct cm_strset *names,
                     const char *version, const char *nonce,
                     const struct dp_xds__node *node, const char *nack,
                     uint8_t **out, size_t *len) CM_MUST_CHECK;

/* Encodes a DeltaDiscoveryRequest: subscribe/unsubscribe lists (may be
 * NULL), initial versions of the resources of <t> in <held> (first request
 * of the type only, else NULL), the nonce answered (or NULL), <node> and
 * <nack> as above. */
int dp_xds__req_delta(enum dp_xds_type t, const struct cm_strset *sub,
                      const struct cm_strset *unsub,
                      const struct dp_xds__set *held, const char *nonce,
                      const struct dp_xds__node *node, const char *nack,
                      uint8_t **out, size_t *len) CM_MUST_CHECK;

/* ==== the certificate keeper (creds.c) ==== */

/* Holds the node's current credentials for the xDS channel; its thread
 * joins with the token when there are none (or they expired) and renews
 * them at two thirds of their life, saving each new set to <dir>. */
struct dp_xds__creds;

struct dp_xds__creds_opts {
    char **control; /* borrowed for the keeper's life: "H:P" each */
    size_t n_control;
    const char *node_id;
    const char *dir;                  /* where to save; NULL = memory only */
    const struct cm_pki_creds *creds; /* copied; NULL = join first */
    const char *token;                /* join token, or NULL */
    int timeout_ms;                   /* each join/renew call */
    uint32_t retry_ms;                /* after a failed renewal */
};

/* Returns new (not started; free with dp_xds__creds_free()), or NULL with
 * <err>: neither credentials nor a token, unusable credentials, memory. */
struct dp_xds__creds *dp_xds__creds_new(const struct dp_xds__creds_opts *o,
                                        char *err, size_t len);
int dp_xds__creds_start(struct dp_xds__creds *k) CM_MUST_CHECK;
/* Stops the thread (waits for a join/renew call in flight) and frees. */
void dp_xds__creds_free(struct dp_xds__creds *k);
/* Channel credentials from the current set: returns new (release with
 * grpc_channel_credentials_release()), NULL while there is none. Any
 * thread. */
grpc_channel_credentials *dp_xds__creds_grpc(struct dp_xds__creds *k);
/* Replaces the current set with a copy of <c> (renewals; tests). */
int dp_xds__creds_set(struct dp_xds__creds *k,
                      const struct cm_pki_creds *c) CM_MUST_CHECK;
/* The client's keeper (NULL in plain text): borrowed. */
struct dp_xds__creds *dp_xds__client_creds(struct dp_xds_client *c);
/* The current certificate's notAfter (0: none) and the last join/renew
 * error ("" since one succeeded). Any thread. */
void dp_xds__creds_status(struct dp_xds__creds *k, int64_t *not_after,
                          char *err, size_t len);

#endif
