/*
 * table_lb.c -- cluster runtime state and endpoint picking. The state is
 * shared by every table that has the cluster with the same endpoints and by
 * health checkers; its counters are atomics, its round-robin weights are
 * one row per worker (each written only by its worker), so picking is
 * lock-free and never waits for the configuration thread.
 */
#include "dataplane/table/table_int.h"

#include <math.h>
#include <stdlib.h>

#define LINE_I64 8 /* int64s per cache line */

struct dp_cluster_state *dp_table__state_new(size_t n, int workers)
{
    struct dp_cluster_state *st = calloc(1, sizeof(*st));
    size_t stride = (n + LINE_I64 - 1) / LINE_I64 * LINE_I64;

    if (st == NULL)
        return NULL;
    atomic_init(&st->refs, 1);
    st->n_eps = n;
    st->n_workers = workers;
    st->rr_stride = stride;
    st->eps = calloc(n ? n : 1, sizeof(*st->eps));
    st->rr = calloc(stride ? stride * (size_t)workers : 1, sizeof(*st->rr));
    if (st->eps == NULL || st->rr == NULL) {
        free(st->eps);
        free(st->rr);
        free(st);
        return NULL;
    }
    return st;
}

struct dp_cluster_state *dp_cluster_state_of(const struct dp_cluster *c)
{
    return c->state;
}

void dp_cluster_state_ref(struct dp_cluster_state *st)
{
    atomic_fetch_add_explicit(&st->refs, 1, memory_order_relaxed);
}

void dp_cluster_state_unref(struct dp_cluster_state *st)
{
    if (st == NULL ||
        atomic_fetch_sub_explicit(&st->refs, 1, memory_order_acq_rel) != 1)
        return;
    free(st->eps);
    free(st->rr);
    free(st);
}

static void set_flag(struct dp_cluster_state *st, size_t i, uint32_t f, bool on)
{
    if (i >= st->n_eps)
        return;
    if (on)
        atomic_fetch_or_explicit(&st->eps[i].flags, f, memory_order_relaxed);
    else
        atomic_fetch_and_explicit(&st->eps[i].flags, ~f, memory_order_relaxed);
}

void dp_cluster_state_set_healthy(struct dp_cluster_state *st, size_t i,
                                  bool healthy)
{
    set_flag(st, i, DP_TABLE__EP_HC_FAILED, !healthy);
}

void dp_cluster_state_set_ejected(struct dp_cluster_state *st, size_t i,
                                  bool ejected)
{
    set_flag(st, i, DP_TABLE__EP_EJECTED, ejected);
}

bool dp_cluster_state_eligible(const struct dp_cluster_state *st, size_t i)
{
    return i < st->n_eps &&
           atomic_load_explicit(&st->eps[i].flags, memory_order_relaxed) == 0;
}

int dp_cluster_state_request_begin(struct dp_cluster_state *st,
                                   const struct dp_cluster *c, size_t i)
{
    uint32_t cur = atomic_load_explicit(&st->rq_active, memory_order_relaxed);

    do {
        if (cur >= c->cb.max_requests)
            return GW_ETOOBIG;
    } while (!atomic_compare_exchange_weak_explicit(
        &st->rq_active, &cur, cur + 1, memory_order_relaxed,
        memory_order_relaxed));
    if (i < st->n_eps)
        atomic_fetch_add_explicit(&st->eps[i].inflight, 1,
                                  memory_order_relaxed);
    return GW_OK;
}

void dp_cluster_state_request_end(struct dp_cluster_state *st, size_t i)
{
    atomic_fetch_sub_explicit(&st->rq_active, 1, memory_order_relaxed);
    if (i < st->n_eps)
        atomic_fetch_sub_explicit(&st->eps[i].inflight, 1,
                                  memory_order_relaxed);
}

uint32_t dp_cluster_state_inflight(const struct dp_cluster_state *st, size_t i)
{
    return i < st->n_eps ? atomic_load_explicit(&st->eps[i].inflight,
                                                memory_order_relaxed)
                         : 0;
}

/* ==== Picking ==== */

static bool usable(const struct dp_cluster *c,
                   const struct dp_cluster_state *st, size_t i, bool panic)
{
    return panic || (c->endpoints[i].health != DP_EP_UNHEALTHY &&
                     dp_cluster_state_eligible(st, i));
}

/* Panic mode when nothing is eligible: every endpoint is. */
static bool panic_mode(const struct dp_cluster *c,
                       const struct dp_cluster_state *st)
{
    size_t i;

    for (i = 0; i < c->n_endpoints; i++)
        if (usable(c, st, i, false))
            return false;
    return true;
}

/* nginx's smooth weighted round robin over this worker's row. */
static int pick_rr(const struct dp_cluster *c, struct dp_cluster_state *st,
                   int worker, bool panic)
{
    int64_t *cw = st->rr + (size_t)worker * st->rr_stride, total = 0;
    size_t i;
    int best = -1;

    for (i = 0; i < c->n_endpoints; i++) {
        if (!usable(c, st, i, panic))
            continue;
        cw[i] += c->endpoints[i].weight;
        total += c->endpoints[i].weight;
        if (best < 0 || cw[i] > cw[best])
            best = (int)i;
    }
    if (best >= 0)
        cw[best] -= total;
    return best;
}

static int pick_random(const struct dp_cluster *c,
                       const struct dp_cluster_state *st, uint64_t rnd,
                       bool panic)
{
    uint64_t total = 0, x;
    size_t i;

    for (i = 0; i < c->n_endpoints; i++)
        if (usable(c, st, i, panic))
            total += c->endpoints[i].weight;
    if (total == 0)
        return -1;
    x = rnd % total;
    for (i = 0; i < c->n_endpoints; i++) {
        if (!usable(c, st, i, panic))
            continue;
        if (x < c->endpoints[i].weight)
            return (int)i;
        x -= c->endpoints[i].weight;
    }
    return -1;
}

/* The first usable endpoint at or after <start>, cyclically. */
static int next_usable(const struct dp_cluster *c,
                       const struct dp_cluster_state *st, size_t start,
                       bool panic)
{
    size_t k, n = c->n_endpoints;

    for (k = 0; k < n; k++)
        if (usable(c, st, (start + k) % n, panic))
            return (int)((start + k) % n);
    return -1;
}

/* Power of two choices: the less loaded of two random endpoints. */
static int pick_least(const struct dp_cluster *c,
                      const struct dp_cluster_state *st, uint64_t rnd,
                      bool panic)
{
    size_t n = c->n_endpoints;
    int a = next_usable(c, st, (size_t)(rnd % n), panic);
    int b = next_usable(c, st, (size_t)((rnd >> 32) % n), panic);

    if (a < 0 || b < 0)
        return a < 0 ? b : a;
    return dp_cluster_state_inflight(st, (size_t)b) <
                   dp_cluster_state_inflight(st, (size_t)a)
               ? b
               : a;
}

int dp_table_pick(const struct dp_cluster *c, struct dp_cluster_state *st,
                  int worker, uint64_t rnd)
{
    bool panic;
    int i;

    if (worker < 0 || worker >= st->n_workers)
        return GW_EINVAL;
    if (c->n_endpoints == 0 || st->n_eps != c->n_endpoints)
        return GW_ENOENT;
    panic = panic_mode(c, st);
    switch (c->lb) {
    case DP_LB_RANDOM:
        i = pick_random(c, st, rnd, panic);
        break;
    case DP_LB_LEAST_REQUEST:
        i = pick_least(c, st, rnd, panic);
        break;
    default:
        i = pick_rr(c, st, worker, panic);
        break;
    }
    return i < 0 ? GW_ENOENT : i;
}

bool dp_table_lb_hashes(const struct dp_cluster *c)
{
    return c->lb == DP_LB_RING_HASH || c->lb == DP_LB_MAGLEV;
}

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Endpoint <i>'s identity: its address and port, not its position. */
static uint64_t ep_seed(const struct dp_endpoint *e)
{
    uint64_t h = 0xcbf29ce484222325ull;

    for (const char *p = e->addr.text; *p != '\0'; p++)
        h = (h ^ (uint8_t)*p) * 0x100000001b3ull;
    return mix64(h ^ e->addr.port);
}

int dp_table_pick_hash(const struct dp_cluster *c,
                       const struct dp_cluster_state *st, uint64_t hash)
{
    bool panic;
    double best_score = 0;
    int best = -1;

    if (c->n_endpoints == 0 || st->n_eps != c->n_endpoints)
        return GW_ENOENT;
    panic = panic_mode(c, st);
    for (size_t i = 0; i < c->n_endpoints; i++) {
        const struct dp_endpoint *e = &c->endpoints[i];
        /* u in (0, 1): 53 random bits, never 0 */
        double u = ((double)(mix64(hash ^ ep_seed(e)) >> 11) + 0.5) /
                   9007199254740992.0;
        double score = (double)e->weight / -log(u);
        if (usable(c, st, i, panic) && (best < 0 || score > best_score))
            best = (int)i, best_score = score;
    }
    return best < 0 ? GW_ENOENT : best;
}
