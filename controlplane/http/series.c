/*
 * series.c -- the charts' memory: a ring of the last <cap> samples, with
 * per-router rates (requests/s, 5xx/s, mean latency) derived from the
 * source's cumulative counters and per-node health states. Series not seen
 * for a whole ring are dropped. Owned by the server; its loop only.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "controlplane/http/http-int.h"

enum series_kind { S_ROUTER = 0, S_NODE };

/* Node states in the ring. */
#define ST_ABSENT    0
#define ST_HEALTHY   1
#define ST_UNHEALTHY 2

struct series {
    char *name;
    char *role; /* nodes */
    enum series_kind kind;
    float *rps, *err, *lat; /* routers; NaN = no value */
    uint8_t *state;         /* nodes */
    uint64_t prev_req, prev_err, prev_lat;
    int64_t prev_t;
    bool have_prev;
    uint64_t seen; /* sample number last seen */
};

struct cp_http__series {
    unsigned cap;
    unsigned count;   /* samples kept (<= cap) */
    uint64_t samples; /* samples taken in all; the newest is samples-1 */
    int64_t *times;
    struct series *v;
    size_t n, vcap;
};

struct cp_http__series *cp_http__series_new(unsigned cap)
{
    struct cp_http__series *s = calloc(1, sizeof(*s));

    if (s == NULL || cap == 0)
        goto fail;
    s->cap = cap;
    if ((s->times = calloc(cap, sizeof(*s->times))) == NULL)
        goto fail;
    return s;
fail:
    free(s);
    return NULL;
}

static void series_deinit(struct series *x)
{
    free(x->name);
    free(x->role);
    free(x->rps);
    free(x->err);
    free(x->lat);
    free(x->state);
}

void cp_http__series_free(struct cp_http__series *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->n; i++)
        series_deinit(&s->v[i]);
    free(s->v);
    free(s->times);
    free(s);
}

static float *nan_array(unsigned n)
{
    float *a = malloc(n * sizeof(*a));

    for (unsigned i = 0; a != NULL && i < n; i++)
        a[i] = NAN;
    return a;
}

static struct series *find_or_add(struct cp_http__series *s,
                                  enum series_kind kind, const char *name)
{
    struct series *x;

    for (size_t i = 0; i < s->n; i++)
        if (s->v[i].kind == kind && strcmp(s->v[i].name, name) == 0)
            return &s->v[i];
    if (s->n == s->vcap) {
        size_t nc = s->vcap ? s->vcap * 2 : 8;
        struct series *nv = realloc(s->v, nc * sizeof(*nv));
        if (nv == NULL)
            return NULL;
        s->v = nv;
        s->vcap = nc;
    }
    x = &s->v[s->n];
    memset(x, 0, sizeof(*x));
    x->kind = kind;
    x->name = strdup(name);
    if (kind == S_ROUTER) {
        x->rps = nan_array(s->cap);
        x->err = nan_array(s->cap);
        x->lat = nan_array(s->cap);
    } else {
        x->state = calloc(s->cap, 1);
    }
    if (x->name == NULL ||
        (kind == S_ROUTER ? x->lat == NULL : x->state == NULL)) {
        series_deinit(x);
        return NULL;
    }
    s->n++;
    return x;
}

/* Clears slot <slot> of every series (the ring wrapped onto it) and drops
 * series not seen for a whole ring. */
static void start_slot(struct cp_http__series *s, unsigned slot)
{
    size_t w = 0;

    for (size_t i = 0; i < s->n; i++) {
        struct series *x = &s->v[i];
        if (s->samples >= s->cap && x->seen + s->cap <= s->samples) {
            series_deinit(x);
            continue;
        }
        if (x->kind == S_ROUTER)
            x->rps[slot] = x->err[slot] = x->lat[slot] = NAN;
        else
            x->state[slot] = ST_ABSENT;
        s->v[w++] = *x;
    }
    s->n = w;
}

static json_t *num(float v)
{
    return isnan(v) ? json_null() : json_real(round((double)v * 1000) / 1000);
}

static void add_router(struct cp_http__series *s, unsigned slot, int64_t t,
                       const struct cp_http_router_traffic *tr, json_t *pt)
{
    struct series *x;
    float rps = NAN, err = NAN, lat = NAN;

    if (tr->router == NULL ||
        (x = find_or_add(s, S_ROUTER, tr->router)) == NULL)
        return;
    if (x->have_prev && t > x->prev_t && tr->requests >= x->prev_req &&
        tr->errors >= x->prev_err && tr->latency_us >= x->prev_lat) {
        double dt = (double)(t - x->prev_t) / 1000.0;
        uint64_t dreq = tr->requests - x->prev_req;
        rps = (float)((double)dreq / dt);
        err = (float)((double)(tr->errors - x->prev_err) / dt);
        if (dreq > 0)
            lat = (float)((double)(tr->latency_us - x->prev_lat) /
                          (double)dreq / 1000.0);
    }
    x->prev_req = tr->requests;
    x->prev_err = tr->errors;
    x->prev_lat = tr->latency_us;
    x->prev_t = t;
    x->have_prev = true;
    x->seen = s->samples;
    x->rps[slot] = rps;
    x->err[slot] = err;
    x->lat[slot] = lat;
    json_object_set_new(pt, tr->router,
                        json_pack("{s:o,s:o,s:o}", "rps", num(rps), "errors",
                                  num(err), "latency_ms", num(lat)));
}

static void add_node(struct cp_http__series *s, unsigned slot,
                     const struct cp_http_node *n, json_t *pt)
{
    struct series *x;

    if (n->name == NULL || (x = find_or_add(s, S_NODE, n->name)) == NULL)
        return;
    if (x->role == NULL && n->role != NULL)
        x->role = strdup(n->role);
    x->seen = s->samples;
    x->state[slot] = n->healthy ? ST_HEALTHY : ST_UNHEALTHY;
    json_object_set_new(pt, n->name, json_integer(x->state[slot]));
}

json_t *cp_http__series_add(struct cp_http__series *s, int64_t t_ms,
                            const struct cp_http_router_traffic *tr, size_t ntr,
                            const struct cp_http_node *nodes, size_t nn)
{
    unsigned slot = (unsigned)(s->samples % s->cap);
    json_t *routers = json_object(), *nodes_j = json_object();

    start_slot(s, slot);
    s->times[slot] = t_ms;
    for (size_t i = 0; i < ntr; i++)
        add_router(s, slot, t_ms, &tr[i], routers);
    for (size_t i = 0; i < nn; i++)
        add_node(s, slot, &nodes[i], nodes_j);
    s->samples++;
    if (s->count < s->cap)
        s->count++;
    return json_pack("{s:I,s:o,s:o}", "t", (json_int_t)t_ms, "routers", routers,
                     "nodes", nodes_j);
}

json_t *cp_http__series_json(const struct cp_http__series *s,
                             unsigned interval_ms)
{
    json_t *times = json_array(), *routers = json_object(),
           *nodes = json_object();
    uint64_t first = s->samples - s->count;

    for (uint64_t k = first; k < s->samples; k++)
        json_array_append_new(times, json_integer(s->times[k % s->cap]));
    for (size_t i = 0; i < s->n; i++) {
        const struct series *x = &s->v[i];
        if (x->kind == S_ROUTER) {
            json_t *a = json_array(), *b = json_array(), *c = json_array();
            for (uint64_t k = first; k < s->samples; k++) {
                unsigned sl = (unsigned)(k % s->cap);
                json_array_append_new(a, num(x->rps[sl]));
                json_array_append_new(b, num(x->err[sl]));
                json_array_append_new(c, num(x->lat[sl]));
            }
            json_object_set_new(routers, x->name,
                                json_pack("{s:o,s:o,s:o}", "rps", a, "errors",
                                          b, "latency_ms", c));
        } else {
            json_t *a = json_array();
            for (uint64_t k = first; k < s->samples; k++)
                json_array_append_new(a, json_integer(x->state[k % s->cap]));
            json_object_set_new(
                nodes, x->name,
                json_pack("{s:s?,s:o}", "role", x->role, "state", a));
        }
    }
    return json_pack("{s:i,s:o,s:o,s:o}", "interval_ms", (int)interval_ms,
                     "times", times, "routers", routers, "nodes", nodes);
}
