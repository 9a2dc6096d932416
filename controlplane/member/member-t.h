/*
 * member-t.h -- types of a control node's security state (cp_member_):
 * revocation entries and the outcome of a Join or Renew. The state itself
 * (CA, cluster key, token hashes, revocations) is opaque (member.c).
 */
#ifndef CP_MEMBER_T_H
#define CP_MEMBER_T_H

#include <grpc/status.h>
#include <stddef.h>
#include <stdint.h>

#include "common/pki/pki.h"

struct cp_member;
struct cp_store;

/* Certificates of <role>/<id> with a notBefore earlier than <at> (unix
 * seconds) are refused. */
struct cp_member_revoked {
    enum cm_pki_role role;
    char id[CM_PKI_ID_MAX];
    int64_t at;
};

/* What Join or Renew answers: <status> OK with the strings set (new;
 * cp_member_reply_deinit()), or a refusal with <details>. */
#define CP_MEMBER_DETAILS_LEN 256
struct cp_member_reply {
    grpc_status_code status;
    char details[CP_MEMBER_DETAILS_LEN];
    char *cert_pem;
    char *ca_pem;
    char *cluster_key;    /* Join with a control token only, else NULL */
    char *redis_password; /* likewise ("" when Redis has none) */
};

/* A revocation was learned (RevokeNode here, or the store's list): the
 * node ends that node's streams. Called on the thread that learned it,
 * without the member lock. */
typedef void (*cp_member_revoked_cb)(void *arg, enum cm_pki_role role,
                                     const char *id, int64_t at);

#endif
