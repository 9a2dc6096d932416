/*
 * xds.h -- the data node's xDS client: one ADS stream (delta, or state of
 * the world when the server lacks delta) to one of a list of control nodes,
 * failover with jittered backoff, validation of every response by building
 * a candidate table (NACK on failure, the old table stays), make-before-
 * break ordering, and an on-disk cache of the last good resources for a
 * cold start without a control node; mutual TLS with the node's
 * certificate, joined with a token and renewed on a thread of its own
 * (creds.c). Types are in xds-t.h.
 *
 * Threads: the client runs on a thread of its own (its own gRPC completion
 * queue); the build and apply callbacks run there. dp_xds_status() may
 * be called from any thread.
 */
#ifndef DP_XDS_H
#define DP_XDS_H

#include "common/err/err.h"
#include "dataplane/xds/xds-t.h"

/* Loads the credentials saved in <dir> (ca.crt, node.crt, node.key) into
 * <out> and checks them: a data node's certificate for <node_id>, from its
 * CA, with its key, not expired at <now> (Unix s). Returns 0 (<out> filled;
 * cm_pki_creds_clear() it), GW_ENOENT when there is none (no file, or
 * <dir> NULL), GW_EINVAL when they cannot be used; <err> says which in
 * words ("no certificate in DIR", "the certificate in DIR expired at T"). */
int dp_xds_creds_load(const char *dir, const char *node_id, int64_t now,
                      struct cm_pki_creds *out, char *err, size_t len);

/* Returns a new client (not started); free with dp_xds_free(). <opts> is
 * copied. NULL with a message in <err> (<len> bytes) when an option is
 * invalid (no control node, bad H:P, missing callback) or out of memory. */
struct dp_xds_client *dp_xds_new(const struct dp_xds_opts *opts, char *err,
                                 size_t len);

/* Starts the client thread: it connects, and on a cold start loads the
 * cache as configured. Returns 0 or a negative error. */
int dp_xds_start(struct dp_xds_client *c) CM_MUST_CHECK;

/* Copies the client's state into <out>. Any thread. */
void dp_xds_status(struct dp_xds_client *c, struct dp_xds_status *out);

/* Runs <fn>(<res>, <arg>) on the resources the table applied last was
 * built from (borrowed: valid during the call only), e.g. to render
 * /config_dump when asked rather than after every update. Any thread;
 * the client's lock is held only to take references to the resources, so
 * the client thread's next apply does not wait for <fn>. Returns what <fn>
 * returns, GW_ENOENT when nothing was applied yet, or GW_ENOMEM. */
int dp_xds_with_resources(struct dp_xds_client *c,
                          int (*fn)(const struct dp_xds_resources *res,
                                    void *arg),
                          void *arg);

/* "none", "connecting", "connected" or "cache". */
const char *dp_xds_state_name(enum dp_xds_state s);

/* "cds", "eds", "lds", "rds". */
const char *dp_xds_type_short(enum dp_xds_type t);

/* "type.googleapis.com/envoy.config.cluster.v3.Cluster", ... */
const char *dp_xds_type_url(enum dp_xds_type t);

/* Stops the thread (closing the stream) and waits for it. Idempotent. */
void dp_xds_stop(struct dp_xds_client *c);

/* Stops if needed and frees <c>. The last applied table belongs to whoever
 * apply handed it to. NULL is a no-op. */
void dp_xds_free(struct dp_xds_client *c);

#endif
