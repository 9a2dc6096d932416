/*
 * member.h -- a control node's security state, shared by its loop thread
 * and the gRPC thread under one mutex: the cluster CA (certificate and
 * unsealed key), the cluster key, the join tokens' hashes, the
 * revocations, the certificate lifetime and the Redis password; the
 * certificates it issues; the Membership service (Join, Renew) on the
 * node's rpc server; the revocation check of that server; the refresh of
 * tokens and revocations from the store. docs/security.md.
 *
 * Threads: every function may be called from any thread unless it says
 * otherwise (the store refresh runs on the store's loop).
 */
#ifndef CP_MEMBER_H
#define CP_MEMBER_H

#include <stdbool.h>

#include "common/err/err.h"
#include "controlplane/member/member-t.h"
#include "controlplane/rpc/rpc-t.h"

/* Returns new, empty (Join and Renew refuse until the CA is set); free with
 * cp_member_free() once the rpc server is stopped. NULL: out of memory. */
struct cp_member *cp_member_new(void);
void cp_member_free(struct cp_member *m);

/* ---- state (copied in; any thread) ---- */

/* The CA certificate and its unsealed key (PEM). GW_EINVAL if the key is
 * not the certificate's. */
int cp_member_set_ca(struct cp_member *m, const char *cert_pem,
                     const char *key_pem) CM_MUST_CHECK;
/* The cluster key (hex) and the Redis password ("" or NULL: none), handed
 * to control nodes that join. */
int cp_member_set_secrets(struct cp_member *m, const char *cluster_key,
                          const char *redis_password) CM_MUST_CHECK;
/* Lifetime of the certificates issued [24 h]. */
void cp_member_set_ttl(struct cp_member *m, int64_t ttl_s);
/* SHA-256 hex of the control and data tokens' secrets (NULL or "": that
 * role cannot join). */
int cp_member_set_tokens(struct cp_member *m, const char *control_hash,
                         const char *data_hash) CM_MUST_CHECK;
/* Replaces the revocations with <v> (n entries, copied). Entries that are
 * new or later than before are reported to the hook. */
int cp_member_set_revoked(struct cp_member *m,
                          const struct cp_member_revoked *v,
                          size_t n) CM_MUST_CHECK;
/* Adds (or moves later) one revocation, and reports it to the hook. */
int cp_member_revoke(struct cp_member *m, enum cm_pki_role role, const char *id,
                     int64_t at) CM_MUST_CHECK;
/* The hook revocations are reported to (NULL to clear). */
void cp_member_set_revoked_cb(struct cp_member *m, cp_member_revoked_cb cb,
                              void *arg);

/* The CA certificate (PEM), new (free()), or NULL when not set. */
char *cp_member_ca(struct cp_member *m);

/* ---- checks and issuing ---- */

/* Whether a certificate of <role>/<id> from <not_before> is not revoked.
 * A cp_rpc_check_cb: <arg> is the member. */
bool cp_member_allowed(void *arg, enum cm_pki_role role, const char *id,
                       int64_t not_before);

/* A new key and a certificate for <role>/<id> with the SANs of <in> (its
 * role, id, now and ttl are set here: now, the member's TTL; a node
 * revoked within the last minute gets a notBefore no earlier than its
 * revocation). <out>->ca, cert, key new (cm_pki_creds_clear()). */
int cp_member_issue_creds(struct cp_member *m, enum cm_pki_role role,
                          const char *id, const char *const *dns, size_t n_dns,
                          const char *const *ips, size_t n_ips,
                          struct cm_pki_creds *out, char *err,
                          size_t len) CM_MUST_CHECK;

/* Membership/Join: checks <token> (its CA fingerprint ours, its secret's
 * hash the one of its role, compared in constant time) and issues a
 * certificate for the token's role and <node_id> on <csr_pem>'s key.
 * Control tokens also get the cluster key and the Redis password. Fills
 * <out> (status UNAUTHENTICATED for a bad, unknown or rotated token,
 * INVALID_ARGUMENT for a bad node id or CSR, UNAVAILABLE without a CA). */
void cp_member_join(struct cp_member *m, const char *token, const char *node_id,
                    const char *csr_pem, struct cp_member_reply *out);

/* Membership/Renew for a caller whose certificate says <role>/<id>: a new
 * certificate with the same role and id for <csr_pem>'s key. */
void cp_member_renew(struct cp_member *m, enum cm_pki_role role, const char *id,
                     const char *csr_pem, struct cp_member_reply *out);

void cp_member_reply_deinit(struct cp_member_reply *r);

/* ---- service (service.c) ---- */

/* Registers traefikee.v1.Membership (Join, Renew, with their access masks)
 * on <rpc> (not started) and the revocation check. <m> must outlive it. */
int cp_member_register(struct cp_member *m,
                       struct cp_rpc_server *rpc) CM_MUST_CHECK;

/* ---- store (refresh.c; the store's loop thread) ---- */

/* Re-reads the token hashes and the revocations from <store> (borrowed
 * until the reads end; one refresh at a time, a call while one runs does
 * nothing). Each heartbeat tick. */
void cp_member_refresh(struct cp_member *m, struct cp_store *store);

#endif
