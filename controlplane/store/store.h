/*
 * store.h -- the control node's state in Redis (plain, unix socket or behind
 * Sentinel): connection with failover, leader lease with a fencing epoch,
 * fenced configuration revisions with WAIT, revision events, node
 * heartbeats; plus an embedded private redis-server for single-node use.
 *
 * Everything runs on the caller's libuv loop; every result arrives through
 * a callback on that loop. A function returning a negative code never calls
 * its callback; one returning 0 calls it exactly once (with UV_ECANCELED if
 * the store is closed first).
 */
#ifndef CP_STORE_H
#define CP_STORE_H

#include <uv.h>

#include "common/err/err.h"
#include "controlplane/store/store-t.h"

/* ==== store ==== */

/* Returns new (not yet connecting); close with cp_store_close(). <cfg> and
 * <cbs> are borrowed for the call. NULL on error, with <err> filled. */
struct cp_store *cp_store_new(uv_loop_t *loop,
                              const struct cp_store_config *cfg,
                              const struct cp_store_callbacks *cbs, char *err,
                              size_t errlen);

/* Starts connecting (and reconnecting, forever, with backoff). */
int cp_store_start(struct cp_store *store) CM_MUST_CHECK;

/* Cancels pending operations (their callbacks get UV_ECANCELED), drops the
 * connections without calling the owner's callbacks and frees <store> once
 * its handles are closed (keep running the loop). NULL is a no-op. */
void cp_store_close(struct cp_store *store);

/* 1 when connected to a master that said ROLE master and subscribed. */
int cp_store_connected(const struct cp_store *store);

/* Master address now or last ("host:port", "unix:/path" or ""); borrowed
 * until the next reconnect. */
const char *cp_store_master(const struct cp_store *store);

/* Why the last connection attempt to a master failed (a refused password
 * says so), "" before any failure; borrowed until the next attempt. */
const char *cp_store_last_error(const struct cp_store *store);

/* Text for a CP_STORE_E* code, else cm_err_str(). */
const char *cp_store_strerror(int code);

/* ==== election ==== */

/* Joins the election: tries to take the lease at once when connected and
 * every lease/3 after that; renews it while held. */
int cp_store_election_start(struct cp_store *store) CM_MUST_CHECK;

/* Leaves the election: steps down (leader callback) and deletes the lease if
 * it is still ours, so another node can take over without waiting. */
void cp_store_election_stop(struct cp_store *store);

int cp_store_is_leader(const struct cp_store *store);

/* Epoch of this node's current (or last) term; 0 if never leader. */
uint64_t cp_store_epoch(const struct cp_store *store);

/* Leader id as last seen (self when leader); borrowed until the next store
 * callback; NULL if unknown. */
const char *cp_store_leader_id(const struct cp_store *store);

/* ==== revisions ==== */

/* Writes <doc> (borrowed for the call) as a new revision fenced by this
 * node's term; CP_STORE_ENOTLEADER when not leader. */
int cp_store_put_revision(struct cp_store *store, const void *doc, size_t len,
                          cp_store_put_cb cb, void *arg) CM_MUST_CHECK;

/* Same, fenced by an explicit <epoch> (a term this node was told of). */
int cp_store_put_revision_at(struct cp_store *store, uint64_t epoch,
                             const void *doc, size_t len, cp_store_put_cb cb,
                             void *arg) CM_MUST_CHECK;

int cp_store_get_current(struct cp_store *store, cp_store_doc_cb cb,
                         void *arg) CM_MUST_CHECK;
int cp_store_get_revision(struct cp_store *store, uint64_t rev,
                          cp_store_doc_cb cb, void *arg) CM_MUST_CHECK;
int cp_store_list_revisions(struct cp_store *store, cp_store_list_cb cb,
                            void *arg) CM_MUST_CHECK;

/* ==== node heartbeats ==== */

/* SET <prefix>node:<node_id> to "<role>\n<json_info>" with a TTL. */
int cp_store_heartbeat(struct cp_store *store, const char *node_id,
                       const char *role, const char *json_info, unsigned ttl_ms,
                       cp_store_done_cb cb, void *arg) CM_MUST_CHECK;

/* Lists live heartbeats (SCAN + MGET). */
int cp_store_list_nodes(struct cp_store *store, cp_store_nodes_cb cb,
                        void *arg) CM_MUST_CHECK;

/* ==== admin password hash (admin.c) ==== */

/* GET <prefix>admin:hash (the dashboard's admin password hash string):
 * <cb> gets 0 with the value, or GW_ENOENT when it is not set. */
int cp_store_get_admin_hash(struct cp_store *store, cp_store_value_cb cb,
                            void *arg) CM_MUST_CHECK;

/* Sets it to <hash> (borrowed for the call) fenced by this node's term
 * (CP_STORE_ENOTLEADER when not leader; CP_STORE_ESTALE through <cb> when
 * the term ended), then WAITs like a revision (CP_STORE_ENOREPLICA: written
 * but not confirmed). With <only_if_unset>, a hash already there is kept
 * and <cb> gets CP_STORE_EEXIST. */
int cp_store_set_admin_hash(struct cp_store *store, const char *hash,
                            int only_if_unset, cp_store_done_cb cb,
                            void *arg) CM_MUST_CHECK;

/* ==== security records (security.c, docs/security.md) ==== */

/* HMGET <prefix>ca: <cb> gets 0 with the CA, or GW_ENOENT. */
int cp_store_get_ca(struct cp_store *store, cp_store_ca_cb cb,
                    void *arg) CM_MUST_CHECK;

/* Stores <ca> (borrowed for the call) as the cluster CA unless there is one
 * already: one script on the master (HSETNX on cert decides), so nodes
 * creating at once agree: each <cb> gets the winner's record (<created> 1
 * for the node whose record won). Any node may call it, leader or not (the
 * first node makes the CA before a leader exists); refused like a write
 * while a failover may be under way (CP_STORE_EFAILOVER, ...). A record
 * this call wrote is confirmed with WAIT like a revision: too few replicas
 * is only logged; CP_STORE_EUNSURE when a failover began first (read it
 * again, or create again). */
int cp_store_create_ca(struct cp_store *store, const struct cp_store_ca *ca,
                       cp_store_ca_cb cb, void *arg) CM_MUST_CHECK;

/* HMGET <prefix>tokens: <cb> gets 0 with the hashes (and the sealed texts
 * when stored), or GW_ENOENT when either hash is missing. */
int cp_store_get_tokens(struct cp_store *store, cp_store_tokens_cb cb,
                        void *arg) CM_MUST_CHECK;

/* Replaces the whole tokens hash with <t> (borrowed for the call; both
 * hashes required, sealed texts may be NULL), fenced by this node's term
 * and confirmed like cp_store_set_admin_hash(): CP_STORE_ENOTLEADER,
 * CP_STORE_ESTALE, CP_STORE_ENOREPLICA, CP_STORE_EUNSURE. With
 * <only_if_unset>, tokens already there are kept and <cb> gets
 * CP_STORE_EEXIST (two first uses at once agree on one pair). */
int cp_store_set_tokens(struct cp_store *store, const struct cp_store_tokens *t,
                        int only_if_unset, cp_store_done_cb cb,
                        void *arg) CM_MUST_CHECK;

/* HGETALL <prefix>revoked: every "role/id" with its time. */
int cp_store_list_revoked(struct cp_store *store, cp_store_revoked_cb cb,
                          void *arg) CM_MUST_CHECK;

/* Sets <prefix>revoked "<role>/<id>" to <at> (unix seconds), replacing an
 * older time; fenced and confirmed like cp_store_set_tokens(). <role> must
 * not contain '/'. */
int cp_store_revoke(struct cp_store *store, const char *role, const char *id,
                    int64_t at, cp_store_done_cb cb, void *arg) CM_MUST_CHECK;

/* ==== pure helpers (addr.c) ==== */

/* Parses "host:port", "[v6]:port" or "unix:/path". 0 or GW_EINVAL. */
int cp_store_parse_addr(const char *s, struct cp_store_addr *out);

/* Parses a comma-separated list of TCP addresses into <out> (room for
 * <max>); sets <n>. 0, GW_EINVAL or GW_ETOOBIG. */
int cp_store_parse_sentinels(const char *s, struct cp_store_addr *out,
                             size_t max, size_t *n);

/* Formats <a> as "host:port" / "[v6]:port" / "unix:/path" into <buf>. */
const char *cp_store_addr_str(const struct cp_store_addr *a, char *buf,
                              size_t len);

/* Delay before reconnect attempt <attempt> (0-based): base * 2^attempt
 * capped at <cap>, then the upper half jittered by <rnd>: result in
 * [d/2, d]. */
unsigned cp_store_backoff_ms(unsigned attempt, unsigned base, unsigned cap,
                             uint32_t rnd);

/* Parses an events message "revision <n>". 0 or GW_EINVAL. */
int cp_store_parse_event(const char *msg, size_t len, uint64_t *rev);

/* Parses a decimal uint64 of exactly <len> bytes. 0 or GW_EINVAL. */
int cp_store_parse_u64(const char *s, size_t len, uint64_t *out);

/* ==== failover signs (events.c, pure) ==== */

/* The Sentinel channels the store subscribes to on every sentinel
 * (NULL-terminated). */
extern const char *const cp_store_sentinel_channels[];

/* What a message <msg>/<len> on Sentinel <channel> means for master <name>:
 * CP_STORE_SEV_SWITCH for a well-formed "+switch-master <name> ..." (the
 * old master's address in <from>, the new one's in <to>), CP_STORE_SEV_HOLD for
 * a sign that a failover of it may be under way (the master
 * subjectively/objectively down, an election, a replica selected, promoted or
 * reconfigured; a vote names no master and always holds), else
 * CP_STORE_SEV_NONE. */
int cp_store_sentinel_event(const char *channel, const char *msg, size_t len,
                            const char *name, struct cp_store_addr *from,
                            struct cp_store_addr *to);

/* Replicas an INFO replication text shows "state=online" with a "lag=" of
 * at most <max_lag_s> seconds. */
int cp_store_info_online(const char *info, size_t len, unsigned max_lag_s);

/* ==== embedded redis-server (embedded.c) ==== */

/* Starts a private redis-server on <data_dir>/redis.sock (port 0, no RDB,
 * no AOF, socket mode 700; with cfg->require_password, requirepass from
 * <data_dir>/redis-password, given in a 0600 config file, not on the
 * command line) that dies with this process, after killing a
 * leftover recorded in <data_dir>/redis.pid; waits until PING answers.
 * Blocks (use before the loop runs). Returns 0 and sets <out> (new; free
 * with cp_store_embedded_stop()), or an error with <err> filled. */
int cp_store_embedded_start(const struct cp_store_embedded_config *cfg,
                            struct cp_store_embedded **out, char *err,
                            size_t errlen) CM_MUST_CHECK;

/* "unix:/.../redis.sock"; borrowed until stop. */
const char *cp_store_embedded_addr(const struct cp_store_embedded *e);

pid_t cp_store_embedded_pid(const struct cp_store_embedded *e);

/* The password the node must give (cp_store_config.password), or NULL when
 * started without require_password; borrowed until stop. */
const char *cp_store_embedded_password(const struct cp_store_embedded *e);

/* Pid of the leftover killed by the last start, or 0. */
pid_t cp_store_embedded_leftover(const struct cp_store_embedded *e);

/* Stops the server (SIGTERM, then SIGKILL after 2 s), reaps it, removes the
 * pidfile and frees <e>. NULL is a no-op. */
void cp_store_embedded_stop(struct cp_store_embedded *e);

#endif
