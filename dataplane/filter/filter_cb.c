/*
 * filter_cb.c -- circuitBreaker as Traefik (oxy's cbreaker): rolling
 * metrics over 10 one-second buckets (request count, 502/504 count, a
 * count per ResponseCodeRatio range) and a latency histogram over 6
 * ten-second windows (log-linear, ~1.5% precision, microseconds);
 * states standby -> tripped (fallbackDuration, 503) -> recovering (traffic
 * ratio ramps to 0.5 over recoveryDuration, oxy's ratioController) ->
 * standby, the expression checked at most every checkPeriod after a
 * response. One state per breaker, shared by workers: the standby check is
 * an atomic load, the rest runs under the breaker's mutex.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/filter/filter_cb.h"
#include "traefikee/filters/v1/filters.pb-c.h"

#define FV1(x) Traefikee__Filters__V1__##x

#define NB      10   /* counter buckets of 1 s */
#define NH      6    /* histogram windows of 10 s */
#define H_SLOTS 1728 /* log-linear slots for 0 .. 2^32 us */
#define H_MAX   3600000000ull

enum { ST_STANDBY = 0, ST_TRIPPED, ST_RECOVERING };

struct cbst {
    struct dp_filter__state hdr;
    pthread_mutex_t mu;
    _Atomic int state;
    struct dp_filter__cb_expr *expr;
    uint64_t check_ns, fallback_ns, recovery_ns;
    int64_t until, last_check; /* ns; last_check 0 = check at once */
    int64_t rc_start;
    uint64_t rc_allowed, rc_denied;
    int64_t bsec[NB];
    uint64_t total[NB], neterr[NB];
    uint64_t codes[NB][DP_FILTER__CB_MAX_RANGES];
    int64_t hwin[NH];
    uint32_t *hist; /* NH * H_SLOTS, if expr->uses_latency */
};

/* ==== evaluation ==== */

static bool cmp_f(double a, int op, double b)
{
    switch (op) {
    case DP_FILTER__CB_LT:
        return a < b;
    case DP_FILTER__CB_LE:
        return a <= b;
    case DP_FILTER__CB_GT:
        return a > b;
    case DP_FILTER__CB_GE:
        return a >= b;
    case DP_FILTER__CB_EQ:
        return a == b;
    default:
        return a != b;
    }
}

static bool cmp_i(int64_t a, int op, int64_t b)
{
    switch (op) {
    case DP_FILTER__CB_LT:
        return a < b;
    case DP_FILTER__CB_LE:
        return a <= b;
    case DP_FILTER__CB_GT:
        return a > b;
    case DP_FILTER__CB_GE:
        return a >= b;
    case DP_FILTER__CB_EQ:
        return a == b;
    default:
        return a != b;
    }
}

static bool eval_node(const struct dp_filter__cb_expr *e, int i,
                      const struct dp_filter__cb_values *v)
{
    const struct dp_filter__cb_node *n = &e->nodes[i];
    uint64_t b;

    switch (n->kind) {
    case DP_FILTER__CB_AND:
        return eval_node(e, n->ra, v) && eval_node(e, n->rb, v);
    case DP_FILTER__CB_OR:
        return eval_node(e, n->ra, v) || eval_node(e, n->rb, v);
    default:
        break;
    }
    switch (n->metric) {
    case DP_FILTER__CB_NETERR:
        return cmp_f(v->neterr_ratio, n->op, n->fval);
    case DP_FILTER__CB_CODES:
        b = v->range_count[n->rb];
        return cmp_f(b ? (double)v->range_count[n->ra] / (double)b : 0.0, n->op,
                     n->fval);
    default:
        return cmp_i(v->latency_ms(v->latency_arg, n->q), n->op, n->ival);
    }
}

bool dp_filter__cb_eval(const struct dp_filter__cb_expr *e,
                        const struct dp_filter__cb_values *v)
{
    return eval_node(e, e->root, v);
}

/* ==== rolling metrics (under mu) ==== */

static size_t slot_of(uint64_t us)
{
    int e;

    if (us > H_MAX)
        us = H_MAX;
    if (us < 64)
        return (size_t)us;
    e = 63 - __builtin_clzll(us);
    return 64 + (size_t)(e - 6) * 64 + (size_t)((us >> (e - 6)) - 64);
}

static uint64_t slot_high(size_t i)
{
    size_t e, sub;

    if (i < 64)
        return i;
    e = (i - 64) / 64 + 6;
    sub = (i - 64) % 64 + 64;
    return ((uint64_t)(sub + 1) << (e - 6)) - 1;
}

static void metrics_reset(struct cbst *s)
{
    memset(s->bsec, 0xff, sizeof(s->bsec));
    memset(s->total, 0, sizeof(s->total));
    memset(s->neterr, 0, sizeof(s->neterr));
    memset(s->codes, 0, sizeof(s->codes));
    memset(s->hwin, 0xff, sizeof(s->hwin));
    if (s->hist != NULL)
        memset(s->hist, 0, NH * H_SLOTS * sizeof(*s->hist));
}

static void record(struct cbst *s, uint16_t status, uint64_t lat_ns,
                   int64_t now)
{
    int64_t sec = now / 1000000000, win = sec / 10;
    size_t i = (size_t)(sec % NB), j = (size_t)(win % NH);

    if (s->bsec[i] != sec) {
        s->bsec[i] = sec;
        s->total[i] = s->neterr[i] = 0;
        memset(s->codes[i], 0, sizeof(s->codes[i]));
    }
    s->total[i]++;
    if (status == 502 || status == 504)
        s->neterr[i]++;
    for (size_t r = 0; r < s->expr->n_ranges; r++)
        if (status >= s->expr->ranges[r].lo && status < s->expr->ranges[r].hi)
            s->codes[i][r]++;
    if (s->hist == NULL)
        return;
    if (s->hwin[j] != win) {
        s->hwin[j] = win;
        memset(s->hist + j * H_SLOTS, 0, H_SLOTS * sizeof(*s->hist));
    }
    s->hist[j * H_SLOTS + slot_of(lat_ns / 1000)]++;
}

struct lat_arg {
    struct cbst *s;
    int64_t win;
};

/* HDR's ValueAtQuantile over the live windows, in ms. */
static int64_t latency_ms(void *arg, double q)
{
    const struct lat_arg *a = arg;
    const struct cbst *s = a->s;
    uint64_t total = 0, want, cum = 0;
    bool live[NH];

    for (size_t j = 0; j < NH; j++) {
        live[j] =
            s->hwin[j] >= 0 && s->hwin[j] > a->win - NH && s->hwin[j] <= a->win;
        for (size_t k = 0; live[j] && k < H_SLOTS; k++)
            total += s->hist[j * H_SLOTS + k];
    }
    if (total == 0)
        return 0;
    want = (uint64_t)(q / 100.0 * (double)total + 0.5);
    for (size_t k = 0; k < H_SLOTS; k++) {
        for (size_t j = 0; j < NH; j++)
            if (live[j])
                cum += s->hist[j * H_SLOTS + k];
        if (cum >= want)
            return (int64_t)(slot_high(k) / 1000);
    }
    return 0;
}

static bool condition(struct cbst *s, int64_t now)
{
    int64_t sec = now / 1000000000;
    struct lat_arg la = {s, sec / 10};
    struct dp_filter__cb_values v = {.latency_ms = latency_ms,
                                     .latency_arg = &la};
    uint64_t total = 0, net = 0;

    for (size_t i = 0; i < NB; i++) {
        if (s->bsec[i] < 0 || s->bsec[i] <= sec - NB || s->bsec[i] > sec)
            continue;
        total += s->total[i];
        net += s->neterr[i];
        for (size_t r = 0; r < s->expr->n_ranges; r++)
            v.range_count[r] += s->codes[i][r];
    }
    v.neterr_ratio = total ? (double)net / (double)total : 0.0;
    return dp_filter__cb_eval(s->expr, &v);
}

/* ==== state ==== */

static void cbst_destroy(struct dp_filter__state *st)
{
    struct cbst *s = (struct cbst *)st;

    pthread_mutex_destroy(&s->mu);
    dp_filter__cb_expr_free(s->expr);
    free(s->hist);
    free(s);
}

struct cb_arg {
    struct dp_filter__cb_expr *expr; /* taken by create */
    uint64_t check_ns, fallback_ns, recovery_ns;
};

static struct dp_filter__state *cbst_create(void *arg)
{
    struct cb_arg *a = arg;
    struct cbst *s = calloc(1, sizeof(*s));

    if (s == NULL)
        return NULL;
    if (a->expr->uses_latency &&
        (s->hist = calloc(NH * H_SLOTS, sizeof(*s->hist))) == NULL) {
        free(s);
        return NULL;
    }
    pthread_mutex_init(&s->mu, NULL);
    s->hdr.destroy = cbst_destroy;
    s->expr = a->expr;
    a->expr = NULL;
    s->check_ns = a->check_ns;
    s->fallback_ns = a->fallback_ns;
    s->recovery_ns = a->recovery_ns;
    atomic_init(&s->state, ST_STANDBY);
    s->last_check = INT64_MIN;
    metrics_reset(s);
    return &s->hdr;
}

/* ==== build ==== */

static uint64_t dur(const Google__Protobuf__Duration *d, uint64_t def,
                    const char *field, struct dp_filter__bctx *b, int *rc)
{
    if (d == NULL || (d->seconds == 0 && d->nanos == 0))
        return def;
    if (d->seconds < 0 || d->nanos < 0 || d->seconds > 315576000000) {
        *rc = cm_err_set(b->err, b->len, GW_EINVAL, "%s: %s must be positive",
                         b->name, field);
        return def;
    }
    return (uint64_t)d->seconds * 1000000000u + (uint64_t)d->nanos;
}

static int cb_fill(struct dp_filter__bctx *b, FV1(CircuitBreaker) * m,
                   struct dp_filter__cb *c)
{
    struct cb_arg a = {0};
    char msg[CM_ERR_LEN], key[1024];
    int rc = 0, n;

    a.check_ns = dur(m->check_period, 100000000u, "check_period", b, &rc);
    a.fallback_ns =
        dur(m->fallback_duration, 10000000000u, "fallback_duration", b, &rc);
    a.recovery_ns =
        dur(m->recovery_duration, 10000000000u, "recovery_duration", b, &rc);
    if (rc != 0)
        return rc;
    if ((a.expr = dp_filter__cb_parse(m->expression ? m->expression : "", msg,
                                      sizeof(msg))) == NULL)
        return cm_err_set(b->err, b->len, GW_EINVAL, "%s: expression: %s",
                          b->name, msg);
    n = snprintf(key, sizeof(key), "%s|%s|%016" PRIx64, b->route_key, b->name,
                 b->cfg_hash);
    if (n < 0 || (size_t)n >= sizeof(key))
        n = (int)sizeof(key) - 1;
    c->st = dp_filter__state_get(b->reg, key, (size_t)n, cbst_create, &a);
    dp_filter__cb_expr_free(a.expr); /* NULL if the state took it */
    if (c->st == NULL)
        return cm_err_set(b->err, b->len, GW_ENOMEM, "out of memory");
    return 0;
}

int dp_filter__cb_build(struct dp_filter__bctx *b, const void *pb, size_t n,
                        struct dp_filter_chain *ch)
{
    FV1(CircuitBreaker) *m =
        traefikee__filters__v1__circuit_breaker__unpack(NULL, n, pb);
    struct dp_filter__cb *c;
    int rc;

    if (m == NULL)
        return cm_err_set(b->err, b->len, GW_EINVAL,
                          "%s: cannot decode CircuitBreaker", b->name);
    if ((c = calloc(1, sizeof(*c))) == NULL)
        rc = cm_err_set(b->err, b->len, GW_ENOMEM, "out of memory");
    else if ((rc = cb_fill(b, m, c)) != 0)
        free(c);
    else
        ch->cb = c;
    traefikee__filters__v1__circuit_breaker__free_unpacked(m, NULL);
    return rc;
}

void dp_filter__cb_free(struct dp_filter__cb *c)
{
    if (c == NULL)
        return;
    dp_filter__state_unref(c->st);
    free(c);
}

/* ==== per request ==== */

/* oxy's ratioController: allow if allowed+1 out of all stays below the
 * target 0.5 * elapsed / recovery. */
static bool rc_allow(struct cbst *s, int64_t now)
{
    double target = 0.5 * (double)(now - s->rc_start) / (double)s->recovery_ns;
    double e = (double)(s->rc_allowed + 1) /
               (double)(s->rc_allowed + 1 + s->rc_denied);

    if (e < target) {
        s->rc_allowed++;
        return true;
    }
    s->rc_denied++;
    return false;
}

/* True if the request goes to the fallback (503). Under mu. */
static bool fallback(struct cbst *s, int64_t now)
{
    switch (atomic_load(&s->state)) {
    case ST_STANDBY:
        return false;
    case ST_TRIPPED:
        if (now < s->until)
            return true;
        atomic_store(&s->state, ST_RECOVERING);
        s->until = now + (int64_t)s->recovery_ns;
        s->rc_start = now;
        s->rc_allowed = s->rc_denied = 0;
        /* fall through */
    default:
        if (now > s->until) {
            atomic_store(&s->state, ST_STANDBY);
            return false;
        }
        return !rc_allow(s, now);
    }
}

int dp_filter__cb_run(const struct dp_filter__cb *c,
                      const struct dp_filter_req *req,
                      struct dp_filter_ctx *ctx)
{
    struct cbst *s = (struct cbst *)c->st;
    bool fb = false;

    if (atomic_load_explicit(&s->state, memory_order_acquire) != ST_STANDBY) {
        pthread_mutex_lock(&s->mu);
        fb = fallback(s, (int64_t)req->now_ns);
        pthread_mutex_unlock(&s->mu);
    }
    if (fb)
        return dp_filter__respond(ctx, 503, "Service Unavailable");
    dp_filter__state_ref(c->st);
    ctx->cb = c->st;
    return DP_FILTER_CONTINUE;
}

void dp_filter__cb_end(struct dp_filter_ctx *ctx, uint16_t status,
                       uint64_t now_ns)
{
    struct cbst *s = (struct cbst *)ctx->cb;
    int64_t now = (int64_t)now_ns;

    ctx->cb = NULL;
    pthread_mutex_lock(&s->mu);
    record(s, status, now_ns > ctx->start_ns ? now_ns - ctx->start_ns : 0, now);
    if (now > s->last_check) {
        s->last_check = now + (int64_t)s->check_ns;
        if (atomic_load(&s->state) != ST_TRIPPED && condition(s, now)) {
            s->until = now + (int64_t)s->fallback_ns;
            atomic_store(&s->state, ST_TRIPPED);
            metrics_reset(s);
        }
    }
    pthread_mutex_unlock(&s->mu);
    dp_filter__state_unref(&s->hdr);
}
