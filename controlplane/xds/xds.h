/*
 * xds.h -- the control node's xDS v3 server: immutable refcounted snapshots
 * of encoded resources and the responses encoded from them (shared by every
 * stream), the ADS service (state of the world and delta) on a cp_rpc
 * server, the per-stream protocol state machine, node records and the event
 * hook. Streams run on the gRPC CQ thread and the server's push thread; the
 * other entry points are thread-safe (they take the rpc server lock).
 */
#ifndef CP_XDS_H
#define CP_XDS_H

#include <protobuf-c/protobuf-c.h>

#include "common/err/err.h"
#include "common/pki/pki.h"
#include "controlplane/rpc/rpc-t.h"
#include "controlplane/xds/xds-t.h"

/* ---- types ---- */

/* "type.googleapis.com/envoy.config.listener.v3.Listener", ... */
const char *cp_xds_type_url(enum cp_xds_type type);
/* Full message name, e.g. "envoy.config.cluster.v3.Cluster". */
const char *cp_xds_type_message(enum cp_xds_type type);
/* Short name for logs: "cds", "eds", "lds", "rds", "sds". */
const char *cp_xds_type_short(enum cp_xds_type type);
/* Returns the type of <url> or -1. */
int cp_xds_type_from_url(const char *url);

/* ---- snapshots (immutable once published; refcounted, any thread) ---- */

/* Returns new with one reference; release with cp_xds_snapshot_put(). */
struct cp_xds_snapshot *cp_xds_snapshot_new(const char *version);
/* Encodes <msg> (borrowed) once and adds it under <name>. GW_EINVAL if the
 * message is not of <type> or the name is taken. Not after publishing. */
int cp_xds_snapshot_add(struct cp_xds_snapshot *snap, enum cp_xds_type type,
                        const char *name,
                        const ProtobufCMessage *msg) CM_MUST_CHECK;
/* Adds already encoded bytes (copied). */
int cp_xds_snapshot_add_bytes(struct cp_xds_snapshot *snap,
                              enum cp_xds_type type, const char *name,
                              const uint8_t *data, size_t len) CM_MUST_CHECK;
/* Returns <snap> with one more reference. */
struct cp_xds_snapshot *cp_xds_snapshot_get(struct cp_xds_snapshot *snap);
/* Drops a reference; frees on the last. NULL is a no-op. */
void cp_xds_snapshot_put(struct cp_xds_snapshot *snap);

/* Borrows (valid while the snapshot lives). */
const char *cp_xds_snapshot_version(const struct cp_xds_snapshot *snap);
size_t cp_xds_snapshot_count(const struct cp_xds_snapshot *snap,
                             enum cp_xds_type type);
/* The <i>th resource of <type> in name order; pointers borrowed. */
int cp_xds_snapshot_at(const struct cp_xds_snapshot *snap,
                       enum cp_xds_type type, size_t i, const char **name,
                       const char **version, const uint8_t **data, size_t *len);
/* Index of <name> or -1. */
long cp_xds_snapshot_find(const struct cp_xds_snapshot *snap,
                          enum cp_xds_type type, const char *name);

/* ---- encoded responses (any thread) ---- */

struct cm_strset;

/* The SotW DiscoveryResponse of <type> for a subscriber to <names>
 * (borrowed; NULL: wildcard) with every field but the nonce: version_info,
 * the resources as Any, type_url. Built once per snapshot, type and name
 * set (the snapshot keeps it), then shared. Returns a new reference
 * (cp_xds_body_put()) or NULL when out of memory. */
struct cp_xds_body *
cp_xds_snapshot_sotw_body(const struct cp_xds_snapshot *snap,
                          enum cp_xds_type type, const struct cm_strset *names);
/* The DeltaDiscoveryResponse of <type> without its nonce carrying the
 * resources at indices <idx> (n_idx, ascending) and the removals <removed>
 * (borrowed): system_version_info, resources, type_url, removed_resources.
 * Kept by content like the SotW ones. New reference or NULL (no memory or
 * an index out of range). */
struct cp_xds_body *cp_xds_snapshot_delta_body(
    const struct cp_xds_snapshot *snap, enum cp_xds_type type,
    const size_t *idx, size_t n_idx, char *const *removed, size_t n_removed);
/* Returns <b> with one more reference. */
struct cp_xds_body *cp_xds_body_get(struct cp_xds_body *b);
/* Drops a reference; frees on the last. NULL is a no-op. */
void cp_xds_body_put(struct cp_xds_body *b);
/* Writes the nonce field of a response (field 5, the same in both
 * protocols) into <out> of <size> bytes (CP_XDS_NONCE_FIELD_MAX is enough
 * for our nonces); returns its length, 0 if <nonce> is empty or too long.
 * A body followed by it is the whole response. */
size_t cp_xds_nonce_field(const char *nonce, uint8_t *out, size_t size);

/* ---- the server ---- */

/* Registers the ADS methods on <rpc> (borrowed; must outlive the server and
 * not be started yet). Returns new; free with cp_xds_server_free() after
 * the rpc server was stopped. */
struct cp_xds_server *cp_xds_server_new(struct cp_rpc_server *rpc);
void cp_xds_server_free(struct cp_xds_server *srv);

/* Publishes <snap> (borrowed; the server takes its own reference) to every
 * stream: each type whose content changed is pushed, SDS, CDS, EDS, LDS,
 * RDS. Returns at once: the server's push thread writes to the streams, in
 * short batches under the rpc lock; a stream still writing an earlier
 * response gets the newest snapshot once it is done (intermediate ones are
 * skipped). */
void cp_xds_server_set_snapshot(struct cp_xds_server *srv,
                                struct cp_xds_snapshot *snap);

/* Sets the event hook (NULL to clear). */
void cp_xds_server_set_event_cb(struct cp_xds_server *srv, cp_xds_event_cb cb,
                                void *arg);

/* Ends every stream whose peer certificate is <role>/<id> (borrowed) with a
 * notBefore earlier than <at> (unix seconds) with UNAUTHENTICATED
 * "certificate revoked" (streams without a certificate are left alone).
 * Returns how many. Any thread but the event hook's (takes the rpc lock). */
size_t cp_xds_server_revoke(struct cp_xds_server *srv, enum cm_pki_role role,
                            const char *id, int64_t at);

/* Copies out every connected stream: returns new in *out (free with
 * free()), count in *n. */
int cp_xds_server_list_nodes(struct cp_xds_server *srv,
                             struct cp_xds_node_info **out,
                             size_t *n) CM_MUST_CHECK;

#endif
