/*
 * refresh.c -- each heartbeat tick, the token hashes and the revocations
 * are read again from the store (docs/security.md: a rotation or a
 * revocation made on the leader reaches every control node within a
 * tick). One refresh at a time. The store's loop thread.
 */
#include <stdlib.h>
#include <string.h>

#include "common/log/log.h"
#include "controlplane/member/member-int.h"
#include "controlplane/store/store.h"

/* The refresh in flight is kept in the member (member.c owns the flag):
 * here only the callbacks. */
static void on_tokens(struct cp_store *s, int status,
                      const struct cp_store_tokens *t, void *arg)
{
    struct cp_member *m = arg;

    if (status == GW_ENOENT)
        (void)cp_member_set_tokens(m, NULL, NULL);
    else if (status == 0 && cp_member_set_tokens(m, t->control, t->data) != 0)
        cm_log_warn("member", "bad_tokens", "the stored hashes are malformed");
}

/* "role/id" -> entry; 0 or GW_EINVAL. */
static int parse_key(const char *key, struct cp_member_revoked *out)
{
    const char *slash = strchr(key, '/');
    char role[16];

    if (slash == NULL || (size_t)(slash - key) >= sizeof(role) ||
        strlen(slash + 1) >= CM_PKI_ID_MAX)
        return GW_EINVAL;
    memcpy(role, key, (size_t)(slash - key));
    role[slash - key] = '\0';
    if (cm_pki_role_parse(role, &out->role) != 0)
        return GW_EINVAL;
    strcpy(out->id, slash + 1);
    return GW_OK;
}

static void on_revoked(struct cp_store *s, int status,
                       const struct cp_store_revoked *v, size_t n, void *arg)
{
    struct cp_member *m = arg;
    struct cp_member_revoked *list;
    size_t k = 0;

    cp_member__refresh_done(m);
    if (status != 0)
        return;
    list = calloc(n > 0 ? n : 1, sizeof(*list));
    if (list == NULL)
        return;
    for (size_t i = 0; i < n; i++) {
        if (parse_key(v[i].key, &list[k]) != 0)
            continue;
        list[k++].at = v[i].at;
    }
    if (cp_member_set_revoked(m, list, k) != 0)
        cm_log_warn("member", "revoked_failed", "entries=%zu", k);
    free(list);
}

void cp_member_refresh(struct cp_member *m, struct cp_store *store)
{
    if (!cp_member__refresh_begin(m))
        return;
    /* replies come in order: the revocations' callback ends the refresh */
    if (cp_store_get_tokens(store, on_tokens, m) != 0 ||
        cp_store_list_revoked(store, on_revoked, m) != 0) {
        cm_log_debug("member", "refresh_failed", "store busy or closed");
        /* a tokens read may still be in flight: its callback is harmless */
        cp_member__refresh_done(m);
    }
}
