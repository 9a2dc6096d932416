/*
 * body.c -- encoded responses shared by streams: a DiscoveryResponse (SotW)
 * or DeltaDiscoveryResponse without its nonce, written straight from the
 * snapshot's resource bytes in protobuf wire format, refcounted, and kept in
 * the snapshot's memo by what it carries (the subscription; the resources
 * sent and names removed) so every stream with the same content sends the
 * same bytes. The nonce is a separate field appended per stream (fields may
 * come in any order). Any thread: the memo has its own lock.
 */
#include <stdlib.h>
#include <string.h>

#include "common/strset/strset.h"
#include "controlplane/xds/xds-int.h"

/* Field numbers of DiscoveryResponse / DeltaDiscoveryResponse. */
enum {
    F_VERSION = 1, /* version_info, system_version_info */
    F_RESOURCES = 2,
    F_TYPE_URL = 4,
    F_NONCE = 5,
    F_REMOVED = 6, /* delta removed_resources */
};
/* Any: type_url 1, value 2. Resource: version 1, resource 2, name 3. */
enum {
    F_ANY_URL = 1,
    F_ANY_VALUE = 2,
    F_RES_VERSION = 1,
    F_RES_ANY = 2,
    F_RES_NAME = 3
};

#define FNV_OFFSET 14695981039346656037ULL
#define FNV_PRIME  1099511628211ULL

/* ==== bodies ==== */

struct cp_xds_body *cp_xds_body_get(struct cp_xds_body *b)
{
    __atomic_add_fetch(&b->refs, 1, __ATOMIC_RELAXED);
    return b;
}

void cp_xds_body_put(struct cp_xds_body *b)
{
    if (b != NULL && __atomic_sub_fetch(&b->refs, 1, __ATOMIC_ACQ_REL) == 0)
        free(b);
}

/* Returns new with one reference and room for <len> bytes. */
static struct cp_xds_body *body_new(size_t len)
{
    struct cp_xds_body *b = malloc(sizeof(*b) + (len > 0 ? len : 1));
    if (b == NULL)
        return NULL;
    b->refs = 1;
    b->count = 0;
    b->digest = 0;
    b->len = len;
    return b;
}

/* ==== wire format (length-delimited fields numbered below 16) ==== */

static size_t varint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static uint8_t *put_varint(uint8_t *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    return p;
}

/* Size of field <n> carrying <len> bytes. */
static size_t field_size(size_t len)
{
    return 1 + varint_len(len) + len;
}

static uint8_t *put_head(uint8_t *p, unsigned field, size_t len)
{
    *p++ = (uint8_t)(field << 3 | 2);
    return put_varint(p, len);
}

static uint8_t *put_field(uint8_t *p, unsigned field, const void *data,
                          size_t len)
{
    p = put_head(p, field, len);
    if (len > 0)
        memcpy(p, data, len);
    return p + len;
}

/* A string field as proto3 writes it: absent when empty. */
static size_t str_size(const char *s)
{
    size_t n = strlen(s);
    return n > 0 ? field_size(n) : 0;
}

static uint8_t *put_str(uint8_t *p, unsigned field, const char *s)
{
    size_t n = strlen(s);
    return n > 0 ? put_field(p, field, s, n) : p;
}

size_t cp_xds_nonce_field(const char *nonce, uint8_t *out, size_t size)
{
    size_t n = strlen(nonce);
    if (n == 0 || field_size(n) > size)
        return 0;
    return (size_t)(put_field(out, F_NONCE, nonce, n) - out);
}

/* The Any of resource <r> of a type whose URL is <url_len> long. */
static size_t any_size(size_t url_len, const struct cp_xds__resource *r)
{
    return field_size(url_len) + (r->len > 0 ? field_size(r->len) : 0);
}

static uint8_t *put_any(uint8_t *p, const char *url, size_t url_len,
                        const struct cp_xds__resource *r)
{
    p = put_head(p, F_RESOURCES, any_size(url_len, r));
    p = put_field(p, F_ANY_URL, url, url_len);
    return r->len > 0 ? put_field(p, F_ANY_VALUE, r->data, r->len) : p;
}

/* ==== state of the world ==== */

static bool sotw_wants(const struct cm_strset *names, const char *name)
{
    return names == NULL || cm_strset_has(names, name);
}

static uint64_t hash_str(uint64_t h, const char *s)
{
    for (const char *p = s;; p++) {
        h = (h ^ (uint8_t)*p) * FNV_PRIME;
        if (*p == '\0')
            return h;
    }
}

/* The response of <type> for <names> (NULL: every resource). */
static struct cp_xds_body *sotw_build(const struct cp_xds_snapshot *snap,
                                      enum cp_xds_type type,
                                      const struct cm_strset *names)
{
    const struct cp_xds__resource_set *set = &snap->sets[type];
    const char *url = cp_xds_type_url(type);
    size_t url_len = strlen(url), total = 0;

    total += str_size(snap->version) + str_size(url);
    for (size_t i = 0; i < set->n; i++)
        if (sotw_wants(names, set->items[i].name))
            total += field_size(any_size(url_len, &set->items[i]));
    struct cp_xds_body *b = body_new(total);
    if (b == NULL)
        return NULL;
    uint8_t *p = put_str(b->data, F_VERSION, snap->version);
    uint64_t h = FNV_OFFSET;
    for (size_t i = 0; i < set->n; i++) {
        const struct cp_xds__resource *r = &set->items[i];
        if (!sotw_wants(names, r->name))
            continue;
        p = put_any(p, url, url_len, r);
        h = hash_str(h, r->name);
        h = hash_str(h, r->version);
        b->count++;
    }
    put_str(p, F_TYPE_URL, url);
    b->digest = h;
    return b;
}

uint64_t cp_xds__sotw_key(const struct cm_strset *names)
{
    uint64_t h = names == NULL ? 1 : FNV_OFFSET;
    for (size_t i = 0; names != NULL && i < names->n; i++)
        h = hash_str(h, names->v[i]);
    return h;
}

static bool sotw_match(const struct cp_xds__memo *m, uint64_t hash,
                       const struct cm_strset *names)
{
    if (m->hash != hash || m->wildcard != (names == NULL))
        return false;
    if (names == NULL)
        return true;
    if (m->n_names != names->n)
        return false;
    for (size_t i = 0; i < names->n; i++)
        if (strcmp(m->names[i], names->v[i]) != 0)
            return false;
    return true;
}

static void memo_entry_free(struct cp_xds__memo *m)
{
    for (size_t i = 0; i < m->n_names; i++)
        free(m->names[i]);
    free(m->names);
    free(m->idx);
    cp_xds_body_put(m->body);
    free(m);
}

/* Returns new: an entry owning copies of <names> (n of them). */
static struct cp_xds__memo *memo_entry_new(uint64_t hash, char *const *names,
                                           size_t n)
{
    struct cp_xds__memo *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return NULL;
    m->hash = hash;
    m->names = calloc(n ? n : 1, sizeof(*m->names));
    if (m->names == NULL) {
        free(m);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        if ((m->names[i] = strdup(names[i])) == NULL) {
            memo_entry_free(m);
            return NULL;
        }
        m->n_names++;
    }
    return m;
}

/* Keeps <m> (taken; may be NULL) with a reference on <b> (borrowed) in the
 * memo of <snap> if there is room. Memo lock held. */
static void memo_keep(struct cp_xds_snapshot *snap, int delta,
                      enum cp_xds_type type, struct cp_xds__memo *m,
                      struct cp_xds_body *b)
{
    if (m == NULL)
        return;
    if (snap->n_memo[delta][type] >= CP_XDS__MEMO_MAX) {
        memo_entry_free(m);
        return;
    }
    m->body = cp_xds_body_get(b);
    m->next = snap->memo[delta][type];
    snap->memo[delta][type] = m;
    snap->n_memo[delta][type]++;
}

struct cp_xds_body *
cp_xds_snapshot_sotw_body(const struct cp_xds_snapshot *csnap,
                          enum cp_xds_type type, const struct cm_strset *names)
{
    return cp_xds__sotw_body_keyed(csnap, type, names, cp_xds__sotw_key(names));
}

struct cp_xds_body *cp_xds__sotw_body_keyed(const struct cp_xds_snapshot *csnap,
                                            enum cp_xds_type type,
                                            const struct cm_strset *names,
                                            uint64_t hash)
{
    /* the memo is the one part of a published snapshot that changes */
    struct cp_xds_snapshot *snap = (struct cp_xds_snapshot *)csnap;
    struct cp_xds_body *b = NULL;

    pthread_mutex_lock(&snap->memo_lock);
    for (struct cp_xds__memo *m = snap->memo[0][type]; m != NULL; m = m->next)
        if (sotw_match(m, hash, names)) {
            b = cp_xds_body_get(m->body);
            break;
        }
    if (b == NULL && (b = sotw_build(snap, type, names)) != NULL) {
        struct cp_xds__memo *m =
            memo_entry_new(hash, names != NULL ? names->v : NULL,
                           names != NULL ? names->n : 0);
        if (m != NULL)
            m->wildcard = names == NULL;
        memo_keep(snap, 0, type, m, b);
    }
    pthread_mutex_unlock(&snap->memo_lock);
    return b;
}

/* ==== delta ==== */

static uint64_t delta_key(const size_t *idx, size_t n_idx, char *const *removed,
                          size_t n_removed)
{
    uint64_t h = FNV_OFFSET;
    for (size_t i = 0; i < n_idx; i++)
        h = (h ^ idx[i]) * FNV_PRIME;
    h = (h ^ 0xff) * FNV_PRIME;
    for (size_t i = 0; i < n_removed; i++)
        h = hash_str(h, removed[i]);
    return h;
}

static bool delta_match(const struct cp_xds__memo *m, uint64_t hash,
                        const size_t *idx, size_t n_idx, char *const *removed,
                        size_t n_removed)
{
    if (m->hash != hash || m->n_idx != n_idx || m->n_names != n_removed)
        return false;
    if (n_idx > 0 && memcmp(m->idx, idx, n_idx * sizeof(*idx)) != 0)
        return false;
    for (size_t i = 0; i < n_removed; i++)
        if (strcmp(m->names[i], removed[i]) != 0)
            return false;
    return true;
}

static size_t resource_size(size_t url_len, const struct cp_xds__resource *r)
{
    return field_size(strlen(r->version)) + field_size(any_size(url_len, r)) +
           field_size(strlen(r->name));
}

static struct cp_xds_body *delta_build(const struct cp_xds_snapshot *snap,
                                       enum cp_xds_type type, const size_t *idx,
                                       size_t n_idx, char *const *removed,
                                       size_t n_removed)
{
    const struct cp_xds__resource_set *set = &snap->sets[type];
    const char *url = cp_xds_type_url(type);
    size_t url_len = strlen(url), total;

    total = str_size(snap->version) + str_size(url);
    for (size_t i = 0; i < n_idx; i++)
        total += field_size(resource_size(url_len, &set->items[idx[i]]));
    for (size_t i = 0; i < n_removed; i++)
        total += field_size(strlen(removed[i]));
    struct cp_xds_body *b = body_new(total);
    if (b == NULL)
        return NULL;
    uint8_t *p = put_str(b->data, F_VERSION, snap->version);
    for (size_t i = 0; i < n_idx; i++) {
        const struct cp_xds__resource *r = &set->items[idx[i]];
        p = put_head(p, F_RESOURCES, resource_size(url_len, r));
        p = put_field(p, F_RES_VERSION, r->version, strlen(r->version));
        p = put_head(p, F_RES_ANY, any_size(url_len, r));
        p = put_field(p, F_ANY_URL, url, url_len);
        if (r->len > 0)
            p = put_field(p, F_ANY_VALUE, r->data, r->len);
        p = put_field(p, F_RES_NAME, r->name, strlen(r->name));
    }
    p = put_str(p, F_TYPE_URL, url);
    for (size_t i = 0; i < n_removed; i++)
        p = put_field(p, F_REMOVED, removed[i], strlen(removed[i]));
    b->count = n_idx;
    return b;
}

struct cp_xds_body *
cp_xds_snapshot_delta_body(const struct cp_xds_snapshot *csnap,
                           enum cp_xds_type type, const size_t *idx,
                           size_t n_idx, char *const *removed, size_t n_removed)
{
    struct cp_xds_snapshot *snap = (struct cp_xds_snapshot *)csnap;
    uint64_t hash = delta_key(idx, n_idx, removed, n_removed);
    struct cp_xds_body *b = NULL;

    for (size_t i = 0; i < n_idx; i++)
        if (idx[i] >= snap->sets[type].n)
            return NULL;
    pthread_mutex_lock(&snap->memo_lock);
    for (struct cp_xds__memo *m = snap->memo[1][type]; m != NULL; m = m->next)
        if (delta_match(m, hash, idx, n_idx, removed, n_removed)) {
            b = cp_xds_body_get(m->body);
            break;
        }
    if (b == NULL &&
        (b = delta_build(snap, type, idx, n_idx, removed, n_removed)) != NULL) {
        struct cp_xds__memo *m = memo_entry_new(hash, removed, n_removed);
        if (m != NULL &&
            (m->idx = malloc((n_idx ? n_idx : 1) * sizeof(*idx))) == NULL) {
            memo_entry_free(m);
            m = NULL;
        }
        if (m != NULL) {
            if (n_idx > 0)
                memcpy(m->idx, idx, n_idx * sizeof(*idx));
            m->n_idx = n_idx;
        }
        memo_keep(snap, 1, type, m, b);
    }
    pthread_mutex_unlock(&snap->memo_lock);
    return b;
}

uint64_t cp_xds__snapshot_digest(const struct cp_xds_snapshot *csnap,
                                 enum cp_xds_type type)
{
    struct cp_xds_snapshot *snap = (struct cp_xds_snapshot *)csnap;
    const struct cp_xds__resource_set *set = &snap->sets[type];

    pthread_mutex_lock(&snap->memo_lock);
    if (!snap->digested[type]) {
        uint64_t h = (FNV_OFFSET ^ set->n) * FNV_PRIME;
        for (size_t i = 0; i < set->n; i++) {
            h = hash_str(h, set->items[i].name);
            h = hash_str(h, set->items[i].version);
        }
        snap->digest[type] = h;
        snap->digested[type] = true;
    }
    uint64_t d = snap->digest[type];
    pthread_mutex_unlock(&snap->memo_lock);
    return d;
}

void cp_xds__memo_free(struct cp_xds_snapshot *snap)
{
    for (int d = 0; d < 2; d++)
        for (int t = 0; t < CP_XDS_TYPE_COUNT; t++) {
            while (snap->memo[d][t] != NULL) {
                struct cp_xds__memo *m = snap->memo[d][t];
                snap->memo[d][t] = m->next;
                memo_entry_free(m);
            }
            snap->n_memo[d][t] = 0;
        }
}
