/*
 * filter_rate.c -- rateLimit and inFlightReq, keyed by client IP (Traefik's
 * default sourceCriterion: the connection's remote address). Both keep
 * their counters in a shared state (struct dp_filter__kt): 16 shards, each
 * a mutex-protected chained hash map, shared by every worker.
 *
 * rateLimit is GCRA, equivalent to Go's rate.Limiter (Traefik's): one
 * "theoretical arrival time" per IP; a request is admitted with a delay of
 * max(0, tat' - now - burst*T) (T = period/average, tat' = max(tat,now)+T)
 * unless that delay exceeds Traefik's maxDelay, then 429 with Retry-After.
 * Bounded memory: at most max_sources IPs; when a shard is full, entries
 * whose bucket is full again (tat <= now) are dropped first, else the
 * oldest in the probed bucket. inFlightReq entries exist while count > 0.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "dataplane/filter/filter_int.h"
#include "traefikee/filters/v1/filters.pb-c.h"

#define FV1(x) Traefikee__Filters__V1__##x

#define NSHARDS  16
#define KEY_LEN  17
#define NB_START 16

struct kent {
    struct kent *next;
    uint8_t key[KEY_LEN];
    int64_t v; /* rate: tat (ns); in-flight: count */
};

struct kshard {
    pthread_mutex_t mu;
    struct kent **heads;
    uint32_t nb, count;
} __attribute__((aligned(64)));

struct kt {
    struct dp_filter__state hdr;
    uint64_t seed;
    uint32_t max; /* per shard; UINT32_MAX: unbounded */
    struct kshard sh[NSHARDS];
};

static void kt_destroy(struct dp_filter__state *st)
{
    struct kt *t = (struct kt *)st;

    for (int i = 0; i < NSHARDS; i++) {
        for (uint32_t b = 0; b < t->sh[i].nb; b++)
            for (struct kent *e = t->sh[i].heads[b], *n; e; e = n) {
                n = e->next;
                free(e);
            }
        free(t->sh[i].heads);
        pthread_mutex_destroy(&t->sh[i].mu);
    }
    free(t);
}

static struct dp_filter__state *kt_create(void *arg)
{
    uint32_t max_total = *(const uint32_t *)arg;
    struct kt *t = aligned_alloc(64, (sizeof(*t) + 63) / 64 * 64);

    if (t == NULL)
        return NULL;
    memset(t, 0, sizeof(*t));
    t->hdr.destroy = kt_destroy;
    t->max = max_total == UINT32_MAX ? UINT32_MAX
                                     : (max_total + NSHARDS - 1) / NSHARDS;
    if (getrandom(&t->seed, sizeof(t->seed), GRND_NONBLOCK) !=
        (ssize_t)sizeof(t->seed))
        t->seed = (uint64_t)(uintptr_t)t;
    for (int i = 0; i < NSHARDS; i++) {
        pthread_mutex_init(&t->sh[i].mu, NULL);
        t->sh[i].nb = NB_START;
        t->sh[i].heads = calloc(NB_START, sizeof(struct kent *));
        if (t->sh[i].heads == NULL) {
            t->sh[i].nb = 0;
            kt_destroy(&t->hdr);
            return NULL;
        }
    }
    return &t->hdr;
}

static uint64_t kt_hash(const struct kt *t, const uint8_t *key)
{
    uint64_t h = dp_filter__fnv(DP_FILTER__FNV0 ^ t->seed, key, KEY_LEN);

    h ^= h >> 31;
    h *= 0x7fb5d329728ea185ull;
    return h ^ (h >> 27);
}

/* Doubles the bucket array of <s> and re-buckets its entries (on failure
 * keeps the longer chains). */
static void kt_grow(const struct kt *t, struct kshard *s)
{
    uint32_t nb = s->nb * 2;
    struct kent **h = calloc(nb, sizeof(*h));

    if (h == NULL)
        return;
    for (uint32_t b = 0; b < s->nb; b++)
        for (struct kent *e = s->heads[b], *n; e; e = n) {
            uint64_t k = kt_hash(t, e->key) & (nb - 1);
            n = e->next;
            e->next = h[k];
            h[k] = e;
        }
    free(s->heads);
    s->heads = h;
    s->nb = nb;
}

/* Frees entries with v <= <now> (buckets full again). */
static void kt_sweep(struct kshard *s, int64_t now)
{
    for (uint32_t b = 0; b < s->nb; b++)
        for (struct kent **pp = &s->heads[b]; *pp != NULL;) {
            struct kent *e = *pp;
            if (e->v <= now) {
                *pp = e->next;
                free(e);
                s->count--;
            } else {
                pp = &e->next;
            }
        }
}

/* Drops one entry, from bucket <b> onwards: the smallest v in the first
 * non-empty chain. */
static void kt_evict(struct kshard *s, uint64_t b)
{
    for (uint32_t k = 0; k < s->nb; k++) {
        struct kent **pp = &s->heads[(b + k) & (s->nb - 1)], **min = pp;
        if (*pp == NULL)
            continue;
        for (; *pp != NULL; pp = &(*pp)->next)
            if ((*pp)->v < (*min)->v)
                min = pp;
        struct kent *e = *min;
        *min = e->next;
        free(e);
        s->count--;
        return;
    }
}

/* The entry of <key> in shard <s> (locked), created with v = 0; NULL when
 * out of memory. <now>: rate tables sweep expired entries when full. */
static struct kent *kt_get(const struct kt *t, struct kshard *s,
                           const uint8_t *key, uint64_t h, int64_t now,
                           bool create)
{
    struct kent *e;

    for (e = s->heads[h & (s->nb - 1)]; e != NULL; e = e->next)
        if (memcmp(e->key, key, KEY_LEN) == 0)
            return e;
    if (!create)
        return NULL;
    if (s->count >= t->max) {
        kt_sweep(s, now);
        if (s->count >= t->max)
            kt_evict(s, h);
    }
    if (s->count >= s->nb * 2 && s->nb < (1u << 24)) {
        kt_grow(t, s);
    }
    if ((e = calloc(1, sizeof(*e))) == NULL)
        return NULL;
    memcpy(e->key, key, KEY_LEN);
    e->next = s->heads[h & (s->nb - 1)];
    s->heads[h & (s->nb - 1)] = e;
    s->count++;
    return e;
}

static void kt_remove(struct kshard *s, struct kent *e, uint64_t h)
{
    for (struct kent **pp = &s->heads[h & (s->nb - 1)]; *pp; pp = &(*pp)->next)
        if (*pp == e) {
            *pp = e->next;
            free(e);
            s->count--;
            return;
        }
}

static void client_key(const struct dp_filter_req *req, uint8_t *key)
{
    struct dp_filter__ip ip;

    memset(key, 0, KEY_LEN);
    if (dp_filter__ip_from_sa(req->peer, &ip) == 0) {
        key[0] = ip.fam;
        memcpy(key + 1, ip.b, 16);
    }
}

static struct dp_filter__state *kt_state(struct dp_filter__bctx *b,
                                         uint32_t max)
{
    char key[1024];
    int n = snprintf(key, sizeof(key), "%s|%s|%016" PRIx64, b->route_key,
                     b->name, b->cfg_hash);

    if (n < 0 || (size_t)n >= sizeof(key))
        n = (int)sizeof(key) - 1;
    return dp_filter__state_get(b->reg, key, (size_t)n, kt_create, &max);
}

/* ==== rateLimit ==== */

static uint64_t dur_ns(const Google__Protobuf__Duration *d, uint64_t def,
                       bool *neg)
{
    if (d == NULL || (d->seconds == 0 && d->nanos == 0))
        return def;
    if (d->seconds < 0 || d->nanos < 0 || d->seconds > 315576000000) {
        *neg = true;
        return def;
    }
    return (uint64_t)d->seconds * 1000000000u + (uint64_t)d->nanos;
}

static int rate_fill(struct dp_filter__bctx *b, FV1(RateLimit) * m,
                     struct dp_filter__rate *r)
{
    bool bad = false;
    uint64_t period = dur_ns(m->period, 1000000000u, &bad);
    int64_t burst = m->burst < 1 ? 1 : m->burst;
    double rtl, interval;

    if (bad || m->average < 0)
        return cm_err_set(b->err, b->len, GW_EINVAL,
                          "%s: %s must not be negative", b->name,
                          bad ? "period" : "average");
    interval = (double)period / (double)m->average;
    rtl = 1e9 / interval;
    r->interval_ns = interval < 1 ? 1 : (uint64_t)interval;
    r->burst_ns = (double)burst * interval > 9e18
                      ? (uint64_t)9e18
                      : (uint64_t)((double)burst * interval);
    r->max_delay_ns = rtl < 1 ? 500000000u : 1000000000u / ((uint64_t)rtl * 2);
    r->st = kt_state(b, b->opts && b->opts->rate_max_sources
                            ? b->opts->rate_max_sources
                            : 65536);
    if (r->st == NULL)
        return cm_err_set(b->err, b->len, GW_ENOMEM, "out of memory");
    return 0;
}

int dp_filter__rate_build(struct dp_filter__bctx *b, const void *pb, size_t n,
                          struct dp_filter_chain *ch)
{
    FV1(RateLimit) *m = traefikee__filters__v1__rate_limit__unpack(NULL, n, pb);
    struct dp_filter__rate *r;
    int rc = 0;

    if (m == NULL)
        return cm_err_set(b->err, b->len, GW_EINVAL,
                          "%s: cannot decode RateLimit", b->name);
    if (m->average == 0) /* Traefik: no limit */
        goto out;
    if ((r = calloc(1, sizeof(*r))) == NULL)
        rc = cm_err_set(b->err, b->len, GW_ENOMEM, "out of memory");
    else if ((rc = rate_fill(b, m, r)) != 0)
        dp_filter__rate_free(r);
    else
        ch->rate = r;
out:
    traefikee__filters__v1__rate_limit__free_unpacked(m, NULL);
    return rc;
}

void dp_filter__rate_free(struct dp_filter__rate *r)
{
    if (r == NULL)
        return;
    dp_filter__state_unref(r->st);
    free(r);
}

/* Go's time.Duration.String() for d >= 0. */
static int go_duration(uint64_t d, char *out, size_t len)
{
    uint64_t h = d / 3600000000000u, m = d / 60000000000u % 60;
    uint64_t s = d / 1000000000u % 60, f = d % 1000000000u;
    char frac[16] = "";
    int n = 0;

    if (d < 1000)
        return snprintf(out, len, "%" PRIu64 "ns", d);
    if (d < 1000000000u) {
        const char *unit = d < 1000000 ? "\xc2\xb5s" : "ms";
        uint64_t div = d < 1000000 ? 1000 : 1000000;
        int digits = d < 1000000 ? 3 : 6;
        snprintf(frac, sizeof(frac), ".%0*" PRIu64, digits, d % div);
        for (n = (int)strlen(frac) - 1; n > 0 && frac[n] == '0'; n--)
            frac[n] = '\0';
        if (n == 0)
            frac[0] = '\0';
        return snprintf(out, len, "%" PRIu64 "%s%s", d / div, frac, unit);
    }
    if (f != 0) {
        snprintf(frac, sizeof(frac), ".%09" PRIu64, f);
        for (n = (int)strlen(frac) - 1; frac[n] == '0'; n--)
            frac[n] = '\0';
    }
    if (h > 0)
        return snprintf(out, len, "%" PRIu64 "h%" PRIu64 "m%" PRIu64 "%ss", h,
                        m, s, frac);
    if (m > 0)
        return snprintf(out, len, "%" PRIu64 "m%" PRIu64 "%ss", m, s, frac);
    return snprintf(out, len, "%" PRIu64 "%ss", s, frac);
}

static int rate_reject(struct dp_filter_ctx *ctx, uint64_t delay)
{
    char tmp[48];
    int n = snprintf(tmp, sizeof(tmp), "%.0f", ceil((double)delay / 1e9));
    char *ra = dp_filter__put(ctx, tmp, (size_t)n), *ri;

    if (ra != NULL)
        dp_filter__resp_hdr(ctx, "Retry-After", ra, (size_t)n);
    n = go_duration(delay, tmp, sizeof(tmp));
    if ((ri = dp_filter__put(ctx, tmp, (size_t)n)) != NULL)
        dp_filter__resp_hdr(ctx, "X-Retry-In", ri, (size_t)n);
    return dp_filter__respond(ctx, 429, "Too Many Requests");
}

int dp_filter__rate_run(const struct dp_filter__rate *r,
                        const struct dp_filter_req *req,
                        struct dp_filter_ctx *ctx)
{
    struct kt *t = (struct kt *)r->st;
    uint8_t key[KEY_LEN];
    uint64_t h, delay = 0;
    int64_t now = (int64_t)req->now_ns, tat;
    struct kshard *s;
    struct kent *e;

    client_key(req, key);
    h = kt_hash(t, key);
    s = &t->sh[h >> 60];
    pthread_mutex_lock(&s->mu);
    if ((e = kt_get(t, s, key, h, now, true)) == NULL) {
        pthread_mutex_unlock(&s->mu);
        return DP_FILTER_CONTINUE; /* out of memory: fail open */
    }
    tat = (e->v > now ? e->v : now) + (int64_t)r->interval_ns;
    if ((uint64_t)(tat - now) > r->burst_ns)
        delay = (uint64_t)(tat - now) - r->burst_ns;
    if (delay <= r->max_delay_ns)
        e->v = tat;
    pthread_mutex_unlock(&s->mu);
    if (delay > r->max_delay_ns)
        return rate_reject(ctx, delay);
    ctx->delay_ns = delay;
    return DP_FILTER_CONTINUE;
}

/* ==== inFlightReq ==== */

int dp_filter__inflight_build(struct dp_filter__bctx *b, const void *pb,
                              size_t n, struct dp_filter_chain *ch)
{
    FV1(InFlightReq) *m =
        traefikee__filters__v1__in_flight_req__unpack(NULL, n, pb);
    struct dp_filter__inflight *f = NULL;
    int r = 0;

    if (m == NULL)
        return cm_err_set(b->err, b->len, GW_EINVAL,
                          "%s: cannot decode InFlightReq", b->name);
    if (m->amount <= 0)
        r = cm_err_set(b->err, b->len, GW_EINVAL,
                       "%s: amount must be positive, got %" PRId64, b->name,
                       m->amount);
    else if ((f = calloc(1, sizeof(*f))) == NULL ||
             (f->st = kt_state(b, UINT32_MAX)) == NULL)
        r = cm_err_set(b->err, b->len, GW_ENOMEM, "out of memory");
    if (r == 0) {
        f->amount = m->amount;
        ch->inflight = f;
    } else {
        free(f);
    }
    traefikee__filters__v1__in_flight_req__free_unpacked(m, NULL);
    return r;
}

void dp_filter__inflight_free(struct dp_filter__inflight *f)
{
    if (f == NULL)
        return;
    dp_filter__state_unref(f->st);
    free(f);
}

int dp_filter__inflight_run(const struct dp_filter__inflight *f,
                            const struct dp_filter_req *req,
                            struct dp_filter_ctx *ctx)
{
    struct kt *t = (struct kt *)f->st;
    uint64_t h;
    struct kshard *s;
    struct kent *e;
    bool full;

    client_key(req, ctx->ikey);
    h = kt_hash(t, ctx->ikey);
    s = &t->sh[h >> 60];
    pthread_mutex_lock(&s->mu);
    if ((e = kt_get(t, s, ctx->ikey, h, 0, true)) == NULL) {
        pthread_mutex_unlock(&s->mu);
        return DP_FILTER_CONTINUE; /* out of memory: fail open */
    }
    if (!(full = e->v >= f->amount))
        e->v++;
    pthread_mutex_unlock(&s->mu);
    if (full) {
        char tmp[64], *body;
        int n = snprintf(tmp, sizeof(tmp), "max connections reached: %" PRId64,
                         f->amount);
        if ((body = dp_filter__put(ctx, tmp, (size_t)n)) == NULL)
            return dp_filter__respond(ctx, 429, "Too Many Requests");
        dp_filter__respond(ctx, 429, "");
        ctx->body = (struct dp_router_slice){body, (size_t)n};
        return DP_FILTER_RESPOND;
    }
    dp_filter__state_ref(f->st);
    ctx->inflight = f->st;
    return DP_FILTER_CONTINUE;
}

void dp_filter__inflight_end(struct dp_filter_ctx *ctx)
{
    struct kt *t = (struct kt *)ctx->inflight;
    uint64_t h = kt_hash(t, ctx->ikey);
    struct kshard *s = &t->sh[h >> 60];
    struct kent *e;

    pthread_mutex_lock(&s->mu);
    if ((e = kt_get(t, s, ctx->ikey, h, 0, false)) != NULL && --e->v <= 0)
        kt_remove(s, e, h);
    pthread_mutex_unlock(&s->mu);
    ctx->inflight = NULL;
    dp_filter__state_unref(&t->hdr);
}
