/*
 * mgmt-t.h -- types of the management API service (cp_mgmt_): object kinds,
 * the diff between two configurations, the service's configuration, the
 * heartbeat roles it reads, and the blocking client's reply. Prototypes are
 * in mgmt.h; the service itself is opaque.
 */
#ifndef CP_MGMT_T_H
#define CP_MGMT_T_H

#include <grpc/status.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "common/pki/pki.h"

struct cp_mgmt;
struct cp_rpc_server;
struct cp_store;

/* Heartbeat roles in the store (cp_store_heartbeat()). Revision metadata
 * rides on the heartbeat keys too (id "@rev:N"), see cp_mgmt_store_doc(). */
#define CP_MGMT_ROLE_CONTROL  "control"
#define CP_MGMT_ROLE_DATA     "data"
#define CP_MGMT_ROLE_REVISION "revision"

/* What Get, Delete and the diff talk about. */
enum cp_mgmt_kind {
    CP_MGMT_KIND_ROUTERS = 0,
    CP_MGMT_KIND_SERVICES,
    CP_MGMT_KIND_MIDDLEWARES,
    CP_MGMT_KIND_ENTRYPOINTS,
    CP_MGMT_KIND_CONFIG, /* the whole document (Get only) */
};
#define CP_MGMT_NDIFF_KINDS 4 /* the first four kinds have names */

enum cp_mgmt_change {
    CP_MGMT_ADDED = 0,
    CP_MGMT_REMOVED,
    CP_MGMT_CHANGED,
};
#define CP_MGMT_NCHANGES 3

/* Names per kind and change, each list sorted (byte order). Owns its
 * strings; release with cp_mgmt_diff_deinit(). */
struct cp_mgmt_diff {
    char **names[CP_MGMT_NDIFF_KINDS][CP_MGMT_NCHANGES];
    size_t n[CP_MGMT_NDIFF_KINDS][CP_MGMT_NCHANGES];
};

/* The leader wrote a new admin password hash <hash> (borrowed for the
 * call) on behalf of SetAdminHash. Loop thread. */
typedef void (*cp_mgmt_admin_hash_cb)(void *arg, const char *hash);

/* The leader stored a revocation (RevokeNode): certificates of <role> <id>
 * (borrowed for the call) with a notBefore earlier than <revoked_at> (unix
 * seconds) are refused from now on. Loop thread. */
typedef void (*cp_mgmt_revoked_cb)(void *arg, enum cm_pki_role role,
                                   const char *id, int64_t revoked_at);

/* The leader stored new join tokens (GetTokens made or rotated them): the
 * SHA-256 hex of each role's secret, what Join checks. Loop thread. */
typedef void (*cp_mgmt_tokens_cb)(void *arg, const char *control_hash,
                                  const char *data_hash);

/* What cp_mgmt_new() needs; strings borrowed for the call (copied). */
struct cp_mgmt_config {
    uv_loop_t *loop;           /* the store's loop; ops run on it */
    struct cp_rpc_server *rpc; /* not started yet; borrowed */
    struct cp_store *store;    /* borrowed */
    const char *node_id;
    unsigned forward_timeout_ms;         /* follower -> leader calls [5000] */
    unsigned history;                    /* revisions the store keeps [10] */
    cp_mgmt_admin_hash_cb on_admin_hash; /* may be NULL */
    void *on_admin_hash_arg;

    /* Security (docs/security.md). All NULL in insecure mode: GetTokens and
     * RevokeNode then answer FAILED_PRECONDITION and forwarding is plain
     * text. The getters are called on the loop thread; what they return is
     * borrowed until the loop runs again (forwarding copies it). */
    const char *(*ca_fp)(void *arg);       /* the CA's SHA-256 hex; NULL
                                              while it is not known yet */
    const char *(*cluster_key)(void *arg); /* 64 hex; NULL when not held */
    /* this node's certificate, key and CA for forwarding to the leader over
     * mutual TLS; NULL: plain text */
    const struct cm_pki_creds *(*creds)(void *arg);
    cp_mgmt_revoked_cb on_revoked; /* may be NULL */
    cp_mgmt_tokens_cb on_tokens;   /* may be NULL */
    void *security_arg;            /* passed to the five above */
};

/* A stored document's outcome (cp_mgmt_store_doc()): <status> 0,
 * CP_STORE_ENOREPLICA (written, <rev> set, not confirmed) or an error;
 * <msg> borrowed, a sentence for a person when status is not 0. */
typedef void (*cp_mgmt_stored_cb)(void *arg, int status, uint64_t rev,
                                  const char *msg);

/* A finished unary call (cp_mgmt_client_unary()). */
#define CP_MGMT_DETAILS_LEN 1024
struct cp_mgmt_reply {
    grpc_status_code status;
    char details[CP_MGMT_DETAILS_LEN];
    uint8_t *data; /* the response message (status OK); free() */
    size_t len;
};

struct cp_mgmt_stream;

#endif
