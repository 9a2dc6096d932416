/*
 * config.c -- the life of a model: its arena and marks, cm_config_free(),
 * loading a file, look-ups by name, and Traefik durations. Decoding is in
 * config_parse.c, checks in config_validate.c, printing in config_json.c.
 * Stateless; any thread.
 */
#include "common/config/config.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config/config_int.h"

#define ARENA_CHUNK   (64 * 1024)
#define ARENA_ALIGN   16
#define MAX_FILE_SIZE (64 * 1024 * 1024)

/* A chunk of the arena; memory is handed out from data[used]. */
struct cm_config__arena {
    struct cm_config__arena *next;
    size_t size, used;
    _Alignas(ARENA_ALIGN) unsigned char data[];
};

/* ==== arena ==== */

void *cm_config__alloc(struct cm_config *cfg, size_t size)
{
    struct cm_config__arena *a = cfg->arena;
    size_t need = (size + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    size_t csize;
    void *p;

    if (size > SIZE_MAX / 2)
        return NULL;
    if (need == 0)
        need = ARENA_ALIGN;
    if (a == NULL || a->size - a->used < need) {
        csize = need > ARENA_CHUNK ? need : ARENA_CHUNK;
        a = calloc(1, sizeof(*a) + csize);
        if (a == NULL)
            return NULL;
        a->size = csize;
        a->next = cfg->arena;
        cfg->arena = a;
    }
    p = a->data + a->used;
    a->used += need;
    return p; /* zero: calloc'ed and never reused */
}

char *cm_config__strndup(struct cm_config *cfg, const char *s, size_t len)
{
    char *p;

    if (len == SIZE_MAX)
        return NULL;
    p = cm_config__alloc(cfg, len + 1);
    if (p == NULL)
        return NULL;
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

void cm_config_free(struct cm_config *cfg)
{
    struct cm_config__arena *a, *next;

    if (cfg == NULL)
        return;
    for (a = cfg->arena; a != NULL; a = next) {
        next = a->next;
        free(a);
    }
    free(cfg->index);
    free(cfg->marks);
    free(cfg);
}

/* ==== marks ==== */

int cm_config__mark_add(struct cm_config *cfg, const void *addr, int tag,
                        int line, int col)
{
    struct cm_config__mark *m;
    size_t cap;

    if (cfg->n_marks == cfg->cap_marks) {
        cap = cfg->cap_marks ? cfg->cap_marks * 2 : 256;
        m = realloc(cfg->marks, cap * sizeof(*m));
        if (m == NULL)
            return GW_ENOMEM;
        cfg->marks = m;
        cfg->cap_marks = cap;
    }
    m = &cfg->marks[cfg->n_marks++];
    m->addr = addr;
    m->tag = tag;
    m->line = line;
    m->col = col;
    return GW_OK;
}

const struct cm_config__mark *cm_config__mark_find(const struct cm_config *cfg,
                                                   const void *addr, int tag)
{
    size_t i;

    for (i = cfg->n_marks; i > 0; i--)
        if (cfg->marks[i - 1].addr == addr && cfg->marks[i - 1].tag == tag)
            return &cfg->marks[i - 1];
    return NULL;
}

/* ==== names and look-ups ==== */

long cm_config__ref_len(const char *s, const char **provider)
{
    const char *at = strchr(s, '@');

    if (at == NULL)
        return (long)strlen(s);
    if (strcmp(at, "@file") == 0)
        return (long)(at - s);
    *provider = at;
    return -1;
}

/* True when the definition <have> is the reference <want>. */
static int name_is(const char *have, const char *want)
{
    const char *prov;
    long n = cm_config__ref_len(want, &prov);

    return n >= 0 && strncmp(have, want, (size_t)n) == 0 && have[n] == '\0';
}

/* The four kinds of named items the look-ups serve. */
enum ix_kind { IX_ROUTER, IX_SERVICE, IX_MIDDLEWARE, IX_ENTRYPOINT, IX_N };

_Static_assert(offsetof(struct cm_config_router, name) == 0 &&
                   offsetof(struct cm_config_service, name) == 0 &&
                   offsetof(struct cm_config_middleware, name) == 0 &&
                   offsetof(struct cm_config_entrypoint, name) == 0,
               "the index reads an item's name at offset 0");

/* One named item: its name field (at offset 0 of every item) and kind. */
struct ix_slot {
    const char *const *item; /* NULL = empty slot */
    uint64_t hash;
    enum ix_kind kind;
};

/* Open-addressing hash of every named item by (kind, name): built once
 * after validation, read-only afterwards. */
struct cm_config__index {
    size_t mask; /* slots - 1, a power of two minus one */
    struct ix_slot slots[];
};

/* FNV-1a of the <n> bytes of <s>, seeded by <kind>. */
static uint64_t ix_hash(enum ix_kind kind, const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull ^ (uint64_t)kind;

    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h;
}

/* The slot of (<kind>, the <n> bytes of <name>): the item's or the empty
 * one where it would go. */
static struct ix_slot *ix_slot(const struct cm_config__index *ix,
                               enum ix_kind kind, const char *name, size_t n,
                               uint64_t h)
{
    size_t i = (size_t)h & ix->mask;

    for (;; i = (i + 1) & ix->mask) {
        struct ix_slot *sl = (struct ix_slot *)&ix->slots[i];
        if (sl->item == NULL)
            return sl;
        if (sl->hash == h && sl->kind == kind &&
            strncmp(*sl->item, name, n) == 0 && (*sl->item)[n] == '\0')
            return sl;
    }
}

/* Adds <n> items of <stride> bytes at <base>; the first of a name wins, as
 * in a scan. */
static void ix_add(struct cm_config__index *ix, enum ix_kind kind,
                   const void *base, size_t stride, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *const *item =
            (const char *const *)((const char *)base + i * stride);
        if (*item == NULL)
            continue;
        size_t len = strlen(*item);
        uint64_t h = ix_hash(kind, *item, len);
        struct ix_slot *sl = ix_slot(ix, kind, *item, len, h);
        if (sl->item == NULL) {
            sl->item = item;
            sl->hash = h;
            sl->kind = kind;
        }
    }
}

int cm_config__index_build(struct cm_config *cfg)
{
    const struct cm_config_http *h = &cfg->http;
    size_t total =
        h->n_routers + h->n_services + h->n_middlewares + cfg->n_entry_points;
    size_t cap = 16;

    while (cap < 2 * total) /* load at most 1/2 */
        cap *= 2;
    free(cfg->index);
    cfg->index = calloc(1, sizeof(*cfg->index) + cap * sizeof(struct ix_slot));
    if (cfg->index == NULL)
        return GW_ENOMEM;
    cfg->index->mask = cap - 1;
    ix_add(cfg->index, IX_ROUTER, h->routers, sizeof(*h->routers),
           h->n_routers);
    ix_add(cfg->index, IX_SERVICE, h->services, sizeof(*h->services),
           h->n_services);
    ix_add(cfg->index, IX_MIDDLEWARE, h->middlewares, sizeof(*h->middlewares),
           h->n_middlewares);
    ix_add(cfg->index, IX_ENTRYPOINT, cfg->entry_points,
           sizeof(*cfg->entry_points), cfg->n_entry_points);
    return GW_OK;
}

/* The item of <kind> named by the reference <name> through the index, or
 * NULL. */
static const void *ix_find(const struct cm_config__index *ix, enum ix_kind kind,
                           const char *name)
{
    const char *prov;
    long n = cm_config__ref_len(name, &prov);

    if (n < 0)
        return NULL;
    const struct ix_slot *sl =
        ix_slot(ix, kind, name, (size_t)n, ix_hash(kind, name, (size_t)n));
    return sl->item;
}

/* Index look-up when there is one, else a scan (models built by hand). */
#define FIND(kind, arr, count)                                                 \
    do {                                                                       \
        size_t i_;                                                             \
        if (cfg == NULL || name == NULL)                                       \
            return NULL;                                                       \
        if (cfg->index != NULL)                                                \
            return ix_find(cfg->index, (kind), name);                          \
        for (i_ = 0; i_ < (count); i_++)                                       \
            if ((arr)[i_].name != NULL && name_is((arr)[i_].name, name))       \
                return &(arr)[i_];                                             \
        return NULL;                                                           \
    } while (0)

const struct cm_config_router *
cm_config_find_router(const struct cm_config *cfg, const char *name)
{
    FIND(IX_ROUTER, cfg->http.routers, cfg->http.n_routers);
}

const struct cm_config_service *
cm_config_find_service(const struct cm_config *cfg, const char *name)
{
    FIND(IX_SERVICE, cfg->http.services, cfg->http.n_services);
}

const struct cm_config_middleware *
cm_config_find_middleware(const struct cm_config *cfg, const char *name)
{
    FIND(IX_MIDDLEWARE, cfg->http.middlewares, cfg->http.n_middlewares);
}

const struct cm_config_entrypoint *
cm_config_find_entrypoint(const struct cm_config *cfg, const char *name)
{
    FIND(IX_ENTRYPOINT, cfg->entry_points, cfg->n_entry_points);
}

/* ==== files ==== */

/* Reads all of <f> into a new buffer; returns it (free()) or NULL. */
static char *read_all(FILE *f, size_t *len, int *rc)
{
    char *buf = NULL, *nb;
    size_t cap = 0, n = 0, got;

    for (;;) {
        if (n == cap) {
            if (cap >= MAX_FILE_SIZE) {
                *rc = GW_ETOOBIG;
                break;
            }
            cap = cap ? cap * 2 : 4096;
            nb = realloc(buf, cap);
            if (nb == NULL) {
                *rc = GW_ENOMEM;
                break;
            }
            buf = nb;
        }
        got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) {
            *rc = ferror(f) ? -EIO : GW_OK;
            break;
        }
    }
    if (*rc != GW_OK) {
        free(buf);
        return NULL;
    }
    *len = n;
    return buf != NULL ? buf : calloc(1, 1);
}

struct cm_config *cm_config_load_file(const char *path, char *err,
                                      size_t errlen)
{
    struct cm_config *cfg;
    FILE *f;
    char *buf;
    size_t len = 0;
    int rc = GW_OK;

    f = fopen(path, "rb");
    if (f == NULL) {
        cm_err_set(err, errlen, GW_EIO, "%s: %s", path, strerror(errno));
        return NULL;
    }
    buf = read_all(f, &len, &rc);
    fclose(f);
    if (buf == NULL) {
        cm_err_set(err, errlen, rc, "%s: %s", path, cm_err_str(rc));
        return NULL;
    }
    cfg = cm_config_parse(buf, len, err, errlen);
    free(buf);
    return cfg;
}

/* ==== durations ==== */

#define NS_PER_MS 1000000LL

struct unit {
    const char *name;
    int64_t ns;
};

static const struct unit units[] = {
    {"ns", 1},
    {"us", 1000},
    {"\xc2\xb5s", 1000}, /* U+00B5 micro sign */
    {"\xce\xbcs", 1000}, /* U+03BC greek mu */
    {"ms", NS_PER_MS},
    {"s", 1000 * NS_PER_MS},
    {"m", 60 * 1000 * NS_PER_MS},
    {"h", 3600 * 1000 * NS_PER_MS},
};

/* Matches the longest unit at <*p>; advances <*p>. Returns 0 if none. */
static int64_t take_unit(const char **p)
{
    size_t i, n, best = 0;
    int64_t ns = 0;

    for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        n = strlen(units[i].name);
        if (n > best && strncmp(*p, units[i].name, n) == 0) {
            best = n;
            ns = units[i].ns;
        }
    }
    *p += best;
    return ns;
}

/* Adds <v>.<frac>/<scale> times <unit> to <*total> (nanoseconds). */
static int add_part(int64_t *total, uint64_t v, uint64_t frac, double scale,
                    int64_t unit)
{
    uint64_t part;

    if (v > (uint64_t)INT64_MAX / (uint64_t)unit)
        return GW_EINVAL;
    part = v * (uint64_t)unit;
    if (frac > 0)
        part += (uint64_t)((double)frac * ((double)unit / scale));
    if (part > (uint64_t)(INT64_MAX - *total))
        return GW_EINVAL;
    *total += (int64_t)part;
    return GW_OK;
}

/* Reads digits at <*p> into <*v>; returns the number of digits, or -1 on
 * overflow when <strict> (else extra digits are dropped, scaling <*scale>). */
static int take_digits(const char **p, uint64_t *v, double *scale, int strict)
{
    int n = 0;

    for (; **p >= '0' && **p <= '9'; (*p)++, n++) {
        if (*v > (UINT64_MAX - 9) / 10) {
            if (strict)
                return -1;
            continue;
        }
        *v = *v * 10 + (uint64_t)(**p - '0');
        if (scale != NULL)
            *scale *= 10;
    }
    return n;
}

static int bare_seconds(const char *s, int64_t *ms)
{
    uint64_t v = 0;
    const char *p = s;

    if (take_digits(&p, &v, NULL, 1) <= 0 || *p != '\0')
        return GW_EINVAL;
    if (v > (uint64_t)(INT64_MAX / NS_PER_MS / 1000))
        return GW_EINVAL;
    *ms = (int64_t)v * 1000;
    return GW_OK;
}

int cm_config_parse_duration(const char *s, int64_t *ms)
{
    const char *p = s;
    int64_t total = 0, unit;
    uint64_t v, frac;
    double scale;
    int nint, nfrac;

    if (s == NULL || *s == '\0')
        return GW_EINVAL;
    if (bare_seconds(s, ms) == GW_OK)
        return GW_OK;
    if (*p == '+')
        p++;
    if (strcmp(p, "0") == 0) {
        *ms = 0;
        return GW_OK;
    }
    if (*p == '\0')
        return GW_EINVAL;
    while (*p != '\0') {
        v = frac = 0;
        scale = 1;
        nint = take_digits(&p, &v, NULL, 1);
        nfrac = 0;
        if (*p == '.') {
            p++;
            nfrac = take_digits(&p, &frac, &scale, 0);
        }
        if (nint < 0 || (nint == 0 && nfrac == 0))
            return GW_EINVAL;
        unit = take_unit(&p);
        if (unit == 0 || add_part(&total, v, frac, scale, unit) != GW_OK)
            return GW_EINVAL;
    }
    *ms = total / NS_PER_MS;
    return GW_OK;
}

char *cm_config_format_duration(int64_t ms, char *buf, size_t len)
{
    int64_t s = ms / 1000;
    int n = 0;

    if (len == 0)
        return buf;
    buf[0] = '\0';
    if (ms < 0 || ms % 1000 != 0) {
        snprintf(buf, len, "%lldms", (long long)ms);
        return buf;
    }
    if (s >= 3600)
        n += snprintf(buf + n, len - (size_t)n, "%lldh", (long long)(s / 3600));
    if (s % 3600 >= 60 && (size_t)n < len)
        n += snprintf(buf + n, len - (size_t)n, "%lldm",
                      (long long)(s % 3600 / 60));
    if ((s % 60 != 0 || s == 0) && (size_t)n < len)
        snprintf(buf + n, len - (size_t)n, "%llds", (long long)(s % 60));
    return buf;
}
