/*
 * filter_registry.c -- the runtime states shared across chains and tables:
 * a refcounted registry mapping a key (router, filter, config hash) to a
 * refcounted state. Chains take references at build (configuration
 * thread); request contexts take and drop references on workers. Lookup
 * and unlink are under the registry mutex; the per-request ref/unref are
 * atomics (a state is unlinked only when its count reaches zero).
 */
#include <stdlib.h>
#include <string.h>

#include "dataplane/filter/filter_int.h"

#define NBUCKETS 1024

struct dp_filter_registry {
    _Atomic long refs; /* owner + one per live state */
    pthread_mutex_t mu;
    struct dp_filter__state *heads[NBUCKETS];
    size_t count;
};

uint64_t dp_filter__fnv(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;

    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

struct dp_filter_registry *dp_filter_registry_new(void)
{
    struct dp_filter_registry *reg = calloc(1, sizeof(*reg));

    if (reg == NULL)
        return NULL;
    atomic_init(&reg->refs, 1);
    if (pthread_mutex_init(&reg->mu, NULL) != 0) {
        free(reg);
        return NULL;
    }
    return reg;
}

static void reg_unref(struct dp_filter_registry *reg)
{
    if (atomic_fetch_sub(&reg->refs, 1) != 1)
        return;
    pthread_mutex_destroy(&reg->mu);
    free(reg);
}

void dp_filter_registry_free(struct dp_filter_registry *reg)
{
    if (reg != NULL)
        reg_unref(reg);
}

size_t dp_filter_registry_count(struct dp_filter_registry *reg)
{
    size_t n;

    pthread_mutex_lock(&reg->mu);
    n = reg->count;
    pthread_mutex_unlock(&reg->mu);
    return n;
}

/* Increments unless the count already reached zero (being unlinked). */
static bool ref_if_live(struct dp_filter__state *st)
{
    long r = atomic_load(&st->refs);

    while (r > 0)
        if (atomic_compare_exchange_weak(&st->refs, &r, r + 1))
            return true;
    return false;
}

struct dp_filter__state *
dp_filter__state_get(struct dp_filter_registry *reg, const char *key,
                     size_t key_len,
                     struct dp_filter__state *(*create)(void *arg), void *arg)
{
    uint64_t h = dp_filter__fnv(DP_FILTER__FNV0, key, key_len);
    struct dp_filter__state *st;

    pthread_mutex_lock(&reg->mu);
    for (st = reg->heads[h % NBUCKETS]; st != NULL; st = st->next)
        if (st->khash == h && st->key_len == key_len &&
            memcmp(st->key, key, key_len) == 0 && ref_if_live(st))
            goto out;
    if ((st = create(arg)) == NULL)
        goto out;
    if ((st->key = malloc(key_len + 1)) == NULL) {
        st->destroy(st);
        st = NULL;
        goto out;
    }
    memcpy(st->key, key, key_len);
    st->key[key_len] = '\0';
    st->key_len = key_len;
    st->khash = h;
    st->reg = reg;
    atomic_init(&st->refs, 1);
    atomic_fetch_add(&reg->refs, 1);
    st->next = reg->heads[h % NBUCKETS];
    reg->heads[h % NBUCKETS] = st;
    reg->count++;
out:
    pthread_mutex_unlock(&reg->mu);
    return st;
}

void dp_filter__state_ref(struct dp_filter__state *st)
{
    atomic_fetch_add(&st->refs, 1);
}

void dp_filter__state_unref(struct dp_filter__state *st)
{
    struct dp_filter_registry *reg;
    struct dp_filter__state **pp;

    if (st == NULL || atomic_fetch_sub(&st->refs, 1) != 1)
        return;
    reg = st->reg;
    pthread_mutex_lock(&reg->mu);
    for (pp = &reg->heads[st->khash % NBUCKETS]; *pp != NULL; pp = &(*pp)->next)
        if (*pp == st) {
            *pp = st->next;
            reg->count--;
            break;
        }
    pthread_mutex_unlock(&reg->mu);
    free(st->key);
    st->destroy(st);
    reg_unref(reg);
}
