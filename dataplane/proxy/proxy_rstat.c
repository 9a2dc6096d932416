/*
 * proxy_rstat.c -- per-router traffic counters: requests answered, 5xx
 * among them, summed latency. Each worker keeps its own entries, one per
 * router name (a route's name without its "#i" conjunction suffix), made on
 * first use and never removed, so counters are cumulative across table
 * swaps. The worker alone writes; other threads walk the published list
 * (release/acquire) and read counters relaxed (dp_proxy__rstat_sum).
 */
#include <stdlib.h>
#include <string.h>

#include "dataplane/proxy/proxy_int.h"

/* Entries one worker makes at most (names are config-controlled). */
#define RSTAT_MAX 65536

/* One router's counters on one worker. */
struct dp_proxy__rstat {
    struct dp_proxy__rstat *next; /* published list; set before publishing */
    uint64_t requests, errors, latency_us;
    uint32_t hash;
    uint32_t len;
    char name[]; /* NUL-terminated */
};

static uint32_t hash_name(const char *p, size_t n)
{
    uint32_t h = 2166136261u;

    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)p[i]) * 16777619u;
    return h;
}

/* The router part of a route name: up to a '#' followed only by digits. */
static size_t router_len(const char *p, size_t n)
{
    size_t k = n;

    while (k > 0 && p[k - 1] >= '0' && p[k - 1] <= '9')
        k--;
    if (k > 0 && k < n && p[k - 1] == '#')
        return k - 1;
    return n;
}

static int grow(struct dp_proxy__rstats *s)
{
    uint32_t cap = s->cap ? s->cap * 2 : 64;
    struct dp_proxy__rstat **idx = calloc(cap, sizeof(*idx));

    if (idx == NULL)
        return GW_ENOMEM;
    for (uint32_t i = 0; i < s->cap; i++) {
        struct dp_proxy__rstat *e = s->idx[i];
        if (e == NULL)
            continue;
        uint32_t j = e->hash & (cap - 1);
        while (idx[j] != NULL)
            j = (j + 1) & (cap - 1);
        idx[j] = e;
    }
    free(s->idx);
    s->idx = idx;
    s->cap = cap;
    return 0;
}

struct dp_proxy__rstat *dp_proxy__rstat_get(struct dp_proxy__rstats *s,
                                            const char *name, size_t len)
{
    struct dp_proxy__rstat *e;
    uint32_t h, j;

    len = router_len(name, len);
    if (len == 0)
        return NULL;
    h = hash_name(name, len);
    for (j = s->cap ? h & (s->cap - 1) : 0; s->cap && s->idx[j] != NULL;
         j = (j + 1) & (s->cap - 1)) {
        e = s->idx[j];
        if (e->hash == h && e->len == len && memcmp(e->name, name, len) == 0)
            return e;
    }
    if (s->n >= RSTAT_MAX || ((s->n + 1) * 2 > s->cap && grow(s) != 0))
        return NULL;
    if ((e = calloc(1, sizeof(*e) + len + 1)) == NULL)
        return NULL;
    memcpy(e->name, name, len);
    e->len = (uint32_t)len;
    e->hash = h;
    for (j = h & (s->cap - 1); s->idx[j] != NULL; j = (j + 1) & (s->cap - 1))
        ;
    s->idx[j] = e;
    s->n++;
    e->next = s->head;
    __atomic_store_n(&s->head, e, __ATOMIC_RELEASE);
    return e;
}

#define RS_INC(e, f, n)                                                        \
    __atomic_store_n(&(e)->f, (e)->f + (n), __ATOMIC_RELAXED)

void dp_proxy__rstat_end(struct dp_proxy__plan *pl, uint64_t now_ns)
{
    struct dp_proxy__rstat *e = pl->rstat;

    pl->rstat = NULL;
    if (e == NULL || pl->resp_status == 0)
        return; /* nothing was answered */
    RS_INC(e, requests, 1);
    if (pl->resp_status >= 500)
        RS_INC(e, errors, 1);
    if (now_ns > pl->t0_ns)
        RS_INC(e, latency_us, (now_ns - pl->t0_ns) / 1000);
}

static int cmp_entry(const void *a, const void *b)
{
    const struct dp_proxy__rstat *x = *(const struct dp_proxy__rstat *const *)a;
    const struct dp_proxy__rstat *y = *(const struct dp_proxy__rstat *const *)b;

    return strcmp(x->name, y->name);
}

/* Every published entry of the <nv> lists: returns new (free()), or NULL
 * (none, or out of memory: *err set). */
static const struct dp_proxy__rstat **collect(struct dp_proxy__rstats *const *v,
                                              size_t nv, size_t *n, int *err)
{
    const struct dp_proxy__rstat **all = NULL, *e;
    size_t cap = 0;

    *n = 0;
    *err = 0;
    for (size_t i = 0; i < nv; i++) {
        e = __atomic_load_n(&v[i]->head, __ATOMIC_ACQUIRE);
        for (; e != NULL; e = e->next) {
            if (*n == cap) {
                size_t c = cap ? cap * 2 : 64;
                const struct dp_proxy__rstat **x = realloc(all, c * sizeof(*x));
                if (x == NULL) {
                    free(all);
                    *err = GW_ENOMEM;
                    return NULL;
                }
                all = x;
                cap = c;
            }
            all[(*n)++] = e;
        }
    }
    return all;
}

int dp_proxy__rstat_sum(struct dp_proxy__rstats *const *v, size_t nv,
                        struct dp_proxy_router_stat **out, size_t *n)
{
    const struct dp_proxy__rstat **all;
    struct dp_proxy_router_stat *r;
    size_t na, k = 0;
    int err;

    *out = NULL;
    *n = 0;
    if ((all = collect(v, nv, &na, &err)) == NULL)
        return err;
    qsort(all, na, sizeof(*all), cmp_entry);
    if ((r = calloc(na, sizeof(*r))) == NULL) {
        free(all);
        return GW_ENOMEM;
    }
    for (size_t i = 0; i < na; i++) {
        const struct dp_proxy__rstat *e = all[i];
        if (k == 0 || strcmp(r[k - 1].name, e->name) != 0)
            r[k++].name = e->name;
        r[k - 1].requests += __atomic_load_n(&e->requests, __ATOMIC_RELAXED);
        r[k - 1].errors += __atomic_load_n(&e->errors, __ATOMIC_RELAXED);
        r[k - 1].latency_us +=
            __atomic_load_n(&e->latency_us, __ATOMIC_RELAXED);
    }
    free(all);
    *out = r;
    *n = k;
    return 0;
}

void dp_proxy__rstats_deinit(struct dp_proxy__rstats *s)
{
    struct dp_proxy__rstat *e, *next;

    for (e = s->head; e != NULL; e = next) {
        next = e->next;
        free(e);
    }
    free(s->idx);
    memset(s, 0, sizeof(*s));
}
