/*
 * mgmt.h -- the management API (traefikee.v1.Management) of a control node:
 * Version, ListNodes, Apply (with dry-run diff), Get, Delete, History,
 * Rollback, SetAdminHash and the Events stream, on the node's cp_rpc server;
 * writes go to the leader (forwarded by followers). Also the pure model helpers
 * (kinds, diff, delete) and a blocking client (traefikeectl, forwarding),
 * plain text or mutual TLS. GetTokens and RevokeNode (security.c) keep the
 * join tokens and revocations in the store (docs/security.md).
 *
 * Threads: rpc callbacks (CQ thread) only queue work; every operation runs
 * on the store's libuv loop; cp_mgmt_post_event() may be called anywhere.
 */
#ifndef CP_MGMT_H
#define CP_MGMT_H

#include <jansson.h>
#include <stdio.h>

#include "common/config/config-t.h"
#include "common/err/err.h"
#include "common/xds/xds-t.h"
#include "controlplane/mgmt/mgmt-t.h"

/* ==== service (service.c) ==== */

/* Registers the methods on cfg->rpc (before it starts). Returns new; after
 * cp_rpc_server_stop(), call cp_mgmt_close() and keep running the loop
 * until it ends, then cp_mgmt_free(). NULL with <err> filled. */
struct cp_mgmt *cp_mgmt_new(const struct cp_mgmt_config *cfg, char *err,
                            size_t errlen);

/* Closes the loop handles (the rpc server must be stopped). */
void cp_mgmt_close(struct cp_mgmt *m);

/* Frees <m> once its loop handles are closed. NULL is a no-op. */
void cp_mgmt_free(struct cp_mgmt *m);

/* Loop thread: the revision this node now serves. Takes <cfg> (freed with
 * cm_config_free() later); <doc> copied. */
void cp_mgmt_set_current(struct cp_mgmt *m, uint64_t rev, const char *doc,
                         size_t len, struct cm_config *cfg);

/* Loop thread: the revision served (0 = none) and its model (borrowed,
 * valid until the next cp_mgmt_set_current(); may be NULL). */
uint64_t cp_mgmt_current(const struct cp_mgmt *m, const struct cm_config **cfg);

/* Loop thread: sends an Event to every Events stream and logs it.
 * Strings borrowed; <node>, <message> may be NULL. */
void cp_mgmt_event(struct cp_mgmt *m, const char *kind, const char *node,
                   uint64_t rev, const char *message);

/* Any thread (even holding the rpc lock): queues cp_mgmt_event() for the
 * loop. Strings copied. */
void cp_mgmt_post_event(struct cp_mgmt *m, const char *kind, const char *node,
                        uint64_t rev, const char *message);

/* Loop thread, leader only: writes <doc> (borrowed for the call; the caller
 * validated it) as a new revision, records its metadata (<source>, e.g.
 * "apply"), and calls <cb> once (not if this returns non-zero). */
int cp_mgmt_store_doc(struct cp_mgmt *m, const char *doc, size_t len,
                      const char *source, cp_mgmt_stored_cb cb,
                      void *arg) CM_MUST_CHECK;

/* Loop thread: keeps the model <cfg> and translation <res> (both taken) of
 * <doc> (copied), a document this node validated and is storing, so that
 * loading the revision that holds it does not parse and translate again
 * (cp_mgmt_take_translation()). Replaces what was kept. */
void cp_mgmt_keep_translation(struct cp_mgmt *m, const char *doc, size_t len,
                              struct cm_config *cfg,
                              struct cm_xds_resources *res);

/* Loop thread: when <doc> is byte for byte the document kept, moves its
 * model and translation to *cfg (cm_config_free()) and *res
 * (cm_xds_resources_free()) and returns 1; otherwise 0 (nothing kept or
 * another document). */
int cp_mgmt_take_translation(struct cp_mgmt *m, const char *doc, size_t len,
                             struct cm_config **cfg,
                             struct cm_xds_resources **res);

/* ==== model helpers (model.c, pure) ==== */

/* "routers"/"router", "services"/"service", "middlewares"/"middleware",
 * "entrypoints"/"entrypoint"/"entryPoints", "config". -1 if unknown. */
int cp_mgmt_kind_parse(const char *s);
/* "routers", "services", "middlewares", "entrypoints", "config". */
const char *cp_mgmt_kind_name(enum cp_mgmt_kind kind);
/* "router", "service", ... (for messages). */
const char *cp_mgmt_kind_singular(enum cp_mgmt_kind kind);

/* Returns a new JSON value (json_decref()): the document's objects of
 * <kind> as {name: object} (the whole model for CONFIG), or the one object
 * <name> (may be NULL/"" for all). <cfg> may be NULL (empty). GW_ENOENT
 * through <rc> when <name> does not exist, GW_ENOMEM. */
json_t *cp_mgmt_select(const struct cm_config *cfg, enum cp_mgmt_kind kind,
                       const char *name, int *rc);

/* Fills <out> with what changed from <old> to <new> (either may be NULL).
 * 0 or GW_ENOMEM. */
int cp_mgmt_diff(const struct cm_config *old, const struct cm_config *new,
                 struct cp_mgmt_diff *out) CM_MUST_CHECK;
/* The same from the models' JSON (cm_config_to_jansson(), borrowed). */
int cp_mgmt_diff_json(json_t *old, json_t *new,
                      struct cp_mgmt_diff *out) CM_MUST_CHECK;
void cp_mgmt_diff_deinit(struct cp_mgmt_diff *d);
/* Number of names in <d>. */
size_t cp_mgmt_diff_count(const struct cp_mgmt_diff *d);

/* Writes <d> as one line into <out> of <len> bytes: "+router echo,
 * ~service whoami, -middleware m" (added, removed, changed per kind),
 * ending with ", and N more" when it does not fit; "" without change.
 * Returns <out>. */
const char *cp_mgmt_diff_summary(const struct cp_mgmt_diff *d, char *out,
                                 size_t len);

/* Writes into <out> a new document: <cfg> as JSON without <kind> <name>
 * (router, service or middleware). Returns 0 (free *out with free()),
 * GW_ENOENT (no such object), GW_EINVAL (still referenced, or a kind that
 * cannot be deleted; <err> names the users), GW_ENOMEM. */
int cp_mgmt_delete(const struct cm_config *cfg, enum cp_mgmt_kind kind,
                   const char *name, char **out, char *err,
                   size_t errlen) CM_MUST_CHECK;

/* ==== blocking client (client.c) ==== */

/* One unary call of <method> ("/traefikee.v1.Management/Apply") on
 * <target> ("host:port") with a deadline. Returns 0 with <out> filled
 * (release with cp_mgmt_reply_deinit(); status may be non-OK), GW_ENOMEM. */
int cp_mgmt_client_unary(const char *target, const char *method,
                         const uint8_t *req, size_t len, unsigned timeout_ms,
                         struct cp_mgmt_reply *out) CM_MUST_CHECK;
/* The same over mutual TLS with <creds> (borrowed for the call: the CA the
 * server must chain to, the client certificate and key; the name checked is
 * CM_PKI_CONTROL_NAME), or plain text when <creds> is NULL. GW_EINVAL when
 * <creds> cannot make TLS credentials. */
int cp_mgmt_client_unary_creds(const char *target,
                               const struct cm_pki_creds *creds,
                               const char *method, const uint8_t *req,
                               size_t len, unsigned timeout_ms,
                               struct cp_mgmt_reply *out) CM_MUST_CHECK;
void cp_mgmt_reply_deinit(struct cp_mgmt_reply *r);

/* Opens a server stream of <method> and sends <req>. Returns new; free with
 * cp_mgmt_stream_free(). NULL when out of memory. */
struct cp_mgmt_stream *cp_mgmt_stream_open(const char *target,
                                           const char *method,
                                           const uint8_t *req, size_t len);
/* The same over mutual TLS with <creds> (borrowed for the call), or plain
 * text when NULL; NULL also when <creds> cannot make TLS credentials. */
struct cp_mgmt_stream *
cp_mgmt_stream_open_creds(const char *target, const struct cm_pki_creds *creds,
                          const char *method, const uint8_t *req, size_t len);
/* Waits up to <timeout_ms> for the next message: 0 with a new block in
 * *out (free()), GW_EAGAIN (nothing yet), GW_EIO (the stream ended: status
 * via cp_mgmt_stream_status()). */
int cp_mgmt_stream_next(struct cp_mgmt_stream *s, uint8_t **out, size_t *len,
                        unsigned timeout_ms);
/* After GW_EIO: the final status and details (borrowed). */
grpc_status_code cp_mgmt_stream_status(struct cp_mgmt_stream *s,
                                       const char **details);
void cp_mgmt_stream_free(struct cp_mgmt_stream *s);

/* 1 if a non-OK reply <details> came from a control node of ours (the call
 * reached a server) rather than from the transport. */
int cp_mgmt_from_server(const char *details);

#endif
