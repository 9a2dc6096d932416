/*
 * xds-int.h -- what snapshot.c and body.c share inside the module: the
 * snapshot's layout (name-sorted encoded resources per type) and its memo
 * of encoded response bodies. Not for other modules.
 */
#ifndef CP_XDS_INT_H
#define CP_XDS_INT_H

#include <pthread.h>

#include "controlplane/xds/xds.h"

struct cp_xds__resource {
    char *name;
    char version[17]; /* FNV-1a 64 of the bytes, hex */
    uint8_t *data;
    size_t len;
};

struct cp_xds__resource_set {
    struct cp_xds__resource *items; /* sorted by name */
    size_t n, cap;
};

/* One cached body and the key it was built for: SotW, a subscription (all
 * names when <wildcard>); delta, the resources sent and the names removed. */
struct cp_xds__memo {
    struct cp_xds__memo *next;
    uint64_t hash; /* of the key */
    bool wildcard;
    char **names; /* SotW names or delta removals; owned, sorted for SotW */
    size_t n_names;
    size_t *idx; /* delta: indices of the resources sent */
    size_t n_idx;
    struct cp_xds_body *body; /* one reference */
};

/* At most this many bodies are kept per snapshot, type and protocol; past
 * it bodies are built for the caller only. */
#define CP_XDS__MEMO_MAX 64

struct cp_xds_snapshot {
    int refs; /* atomic */
    char *version;
    struct cp_xds__resource_set sets[CP_XDS_TYPE_COUNT];
    /* bodies encoded so far (published snapshots are shared by threads) */
    pthread_mutex_t memo_lock;
    struct cp_xds__memo *memo[2][CP_XDS_TYPE_COUNT]; /* [delta][type] */
    size_t n_memo[2][CP_XDS_TYPE_COUNT];
    bool digested[CP_XDS_TYPE_COUNT];
    uint64_t digest[CP_XDS_TYPE_COUNT]; /* of the names and versions */
};

/* body.c: a hash of the names and versions of <type> in <snap>, computed
 * once (two snapshots with the same one have the same resources of the
 * type at the same indices). Any thread. */
uint64_t cp_xds__snapshot_digest(const struct cp_xds_snapshot *snap,
                                 enum cp_xds_type type);

/* body.c: the memo key of a SotW subscription to <names> (NULL: wildcard),
 * and cp_xds_snapshot_sotw_body() given it, for callers that keep the key
 * of a subscription that has not changed. */
struct cm_strset;
uint64_t cp_xds__sotw_key(const struct cm_strset *names);
struct cp_xds_body *cp_xds__sotw_body_keyed(const struct cp_xds_snapshot *snap,
                                            enum cp_xds_type type,
                                            const struct cm_strset *names,
                                            uint64_t key);

/* body.c: frees every memo entry of <snap>. */
void cp_xds__memo_free(struct cp_xds_snapshot *snap);

/* names.c: subscription name sets shared by streams. */
struct cm_strset;
struct cp_xds__pool;
/* Returns new; free with cp_xds__pool_free() once no set is held. */
struct cp_xds__pool *cp_xds__pool_new(void);
void cp_xds__pool_free(struct cp_xds__pool *pool);
/* Returns the shared set equal to <set> (its strings taken: <set> is left
 * empty and reusable) with one more reference; release with
 * cp_xds__names_put() on the same pool. <pool> NULL: a private set. NULL
 * when out of memory. The set must not be changed. */
const struct cm_strset *cp_xds__names_intern(struct cp_xds__pool *pool,
                                             struct cm_strset *set);
/* Drops a reference (NULL is a no-op). */
void cp_xds__names_put(struct cp_xds__pool *pool, const struct cm_strset *set);

#endif
