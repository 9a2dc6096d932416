/*
 * router_util.c -- the router's building blocks: the arena, the string hash
 * map, PCRE2 compilation (once, with JIT) and matching with per-worker
 * scratch, and RE2-style substitution. The arena and maps are written only
 * while building; regex matching runs on workers with their own scratch.
 */
#include "dataplane/router/router_int.h"

#include <stdlib.h>
#include <string.h>

/* ==== Arena ==== */

#define ARENA_CHUNK 16384

struct dp_router__chunk {
    struct dp_router__chunk *next;
    size_t used, size;
    max_align_t data[];
};

void *dp_router__alloc(struct dp_router__arena *a, size_t n)
{
    struct dp_router__chunk *c = a->head;
    size_t need = (n + 15) & ~(size_t)15;
    void *p;

    if (need < n)
        return NULL;
    if (c == NULL || c->size - c->used < need) {
        size_t sz = need > ARENA_CHUNK ? need : ARENA_CHUNK;
        c = calloc(1, sizeof(*c) + sz);
        if (c == NULL)
            return NULL;
        c->size = sz;
        c->next = a->head;
        a->head = c;
    }
    p = (char *)c->data + c->used;
    c->used += need;
    return p;
}

char *dp_router__strndup(struct dp_router__arena *a, const char *s, size_t n,
                         bool lower)
{
    char *d = dp_router__alloc(a, n + 1);
    size_t i;

    if (d == NULL)
        return NULL;
    for (i = 0; i < n; i++)
        d[i] = lower ? (char)dp_router__fold((uint8_t)s[i]) : s[i];
    return d;
}

void dp_router__arena_free(struct dp_router__arena *a)
{
    struct dp_router__chunk *c, *next;

    for (c = a->head; c != NULL; c = next) {
        next = c->next;
        free(c);
    }
    a->head = NULL;
}

/* ==== Hash map ==== */

uint64_t dp_router__hash(const char *s, size_t n, bool fold)
{
    uint64_t h = 0;
    size_t i;

    for (i = 0; i < n; i++)
        h = dp_router__hstep(h, fold ? dp_router__fold((uint8_t)s[i])
                                     : (uint8_t)s[i]);
    return h;
}

static uint32_t map_slot(uint64_t hash, uint32_t cap)
{
    return (uint32_t)((hash * 0x9e3779b97f4a7c15ull) >> 32) & (cap - 1);
}

static bool key_eq(const char *a, const char *b, size_t n, bool fold)
{
    size_t i;

    if (!fold)
        return memcmp(a, b, n) == 0;
    for (i = 0; i < n; i++)
        if (dp_router__fold((uint8_t)a[i]) != dp_router__fold((uint8_t)b[i]))
            return false;
    return true;
}

static struct dp_router__ent *map_find(const struct dp_router__map *m,
                                       uint64_t hash, const char *key,
                                       size_t len)
{
    uint32_t i;

    if (m->cap == 0)
        return NULL;
    for (i = map_slot(hash, m->cap);; i = (i + 1) & (m->cap - 1)) {
        struct dp_router__ent *e = &m->ents[i];
        if (e->key == NULL)
            return e;
        if (e->hash == hash && e->len == len &&
            key_eq(e->key, key, len, m->fold))
            return e;
    }
}

static int map_grow(struct dp_router__map *m)
{
    uint32_t cap = m->cap ? m->cap * 2 : 16, i;
    struct dp_router__map n = *m;

    n.cap = cap;
    n.ents = calloc(cap, sizeof(*n.ents));
    if (n.ents == NULL)
        return GW_ENOMEM;
    for (i = 0; i < m->cap; i++) {
        struct dp_router__ent *e = &m->ents[i];
        if (e->key != NULL)
            *map_find(&n, e->hash, e->key, e->len) = *e;
    }
    free(m->ents);
    *m = n;
    return GW_OK;
}

static int map_note_len(struct dp_router__map *m, size_t len)
{
    if (m->len_bits == NULL || len > m->max_len) {
        size_t words = len / 64 + 1,
               old = m->len_bits ? m->max_len / 64 + 1 : 0;
        uint64_t *b = realloc(m->len_bits, words * sizeof(*b));
        if (b == NULL)
            return GW_ENOMEM;
        memset(b + old, 0, (words - old) * sizeof(*b));
        m->len_bits = b;
        m->max_len = words * 64 - 1;
    }
    m->len_bits[len / 64] |= (uint64_t)1 << (len % 64);
    return GW_OK;
}

int dp_router__map_add(struct dp_router__map *m, const char *key, size_t len,
                       uint32_t val)
{
    uint64_t h = dp_router__hash(key, len, m->fold);
    struct dp_router__ent *e;

    if (len > UINT32_MAX)
        return GW_ETOOBIG;
    if ((m->count + 1) * 2 > m->cap && map_grow(m) != GW_OK)
        return GW_ENOMEM;
    if (map_note_len(m, len) != GW_OK)
        return GW_ENOMEM;
    e = map_find(m, h, key, len);
    if (e->key == NULL) {
        *e = (struct dp_router__ent){h, key, (uint32_t)len, 0, 0, NULL};
        m->count++;
    }
    if (e->n == e->cap) {
        uint32_t cap = e->cap ? e->cap * 2 : 2;
        uint32_t *v = realloc(e->vals, cap * sizeof(*v));
        if (v == NULL)
            return GW_ENOMEM;
        e->vals = v;
        e->cap = cap;
    }
    e->vals[e->n++] = val;
    return GW_OK;
}

const struct dp_router__ent *dp_router__map_get(const struct dp_router__map *m,
                                                uint64_t hash, const char *key,
                                                size_t len)
{
    const struct dp_router__ent *e = map_find(m, hash, key, len);

    return (e == NULL || e->key == NULL) ? NULL : e;
}

void dp_router__map_free(struct dp_router__map *m)
{
    uint32_t i;

    for (i = 0; i < m->cap; i++)
        free(m->ents[i].vals);
    free(m->ents);
    free(m->len_bits);
    m->ents = NULL;
    m->len_bits = NULL;
    m->cap = m->count = 0;
}

/* ==== Regexes ==== */

int dp_router__regex_compile(struct dp_router *r, const char *pat, bool full,
                             const struct dp_router_regex **out, char *msg,
                             size_t msglen)
{
    uint32_t opts = full ? PCRE2_ANCHORED | PCRE2_ENDANCHORED : 0;
    uint32_t backrefs = 0;
    PCRE2_SIZE off;
    int code;
    struct dp_router_regex *re;
    pcre2_code *c;

    c = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED,
                      opts | PCRE2_NEVER_BACKSLASH_C, &code, &off, NULL);
    if (c == NULL) {
        PCRE2_UCHAR text[160];
        if (pcre2_get_error_message(code, text, sizeof(text)) < 0)
            strcpy((char *)text, "invalid pattern");
        return cm_err_set(msg, msglen, GW_EINVAL, "%s at offset %zu",
                          (char *)text, (size_t)off);
    }
    pcre2_pattern_info(c, PCRE2_INFO_BACKREFMAX, &backrefs);
    if (backrefs > 0) {
        pcre2_code_free(c);
        return cm_err_set(msg, msglen, GW_EINVAL,
                          "backreferences are not supported (RE2 syntax)");
    }
    re = dp_router__alloc(&r->arena, sizeof(*re));
    if (re == NULL) {
        pcre2_code_free(c);
        return cm_err_set(msg, msglen, GW_ENOMEM, "out of memory");
    }
    (void)pcre2_jit_compile(c, PCRE2_JIT_COMPLETE); /* else interpreted */
    pcre2_pattern_info(c, PCRE2_INFO_CAPTURECOUNT, &re->captures);
    re->code = c;
    re->next = r->regexes;
    r->regexes = re;
    *out = re;
    return GW_OK;
}

struct dp_router_scratch *dp_router_scratch_new(void)
{
    struct dp_router_scratch *s = calloc(1, sizeof(*s));

    if (s == NULL)
        return NULL;
    s->md = pcre2_match_data_create(DP_ROUTER__OVEC_PAIRS, NULL);
    s->mc = pcre2_match_context_create(NULL);
    if (s->md == NULL || s->mc == NULL) {
        dp_router_scratch_free(s);
        return NULL;
    }
    /* Bound backtracking so a hostile path cannot pin a worker. */
    pcre2_set_match_limit(s->mc, 100000);
    pcre2_set_depth_limit(s->mc, 10000);
    return s;
}

void dp_router_scratch_free(struct dp_router_scratch *s)
{
    if (s == NULL)
        return;
    pcre2_match_data_free(s->md);
    pcre2_match_context_free(s->mc);
    free(s);
}

int dp_router__regex_exec(const struct dp_router_regex *re, const char *subj,
                          size_t len, size_t start, struct dp_router_scratch *s,
                          pcre2_match_data **md)
{
    pcre2_match_context *mc = s ? s->mc : NULL;
    int rc;

    if (s != NULL) {
        *md = s->md;
    } else {
        *md = pcre2_match_data_create(DP_ROUTER__OVEC_PAIRS, NULL);
        if (*md == NULL)
            return -1;
    }
    if (subj == NULL)
        subj = "";
    rc = pcre2_match(re->code, (PCRE2_SPTR)subj, len, start, 0, *md, mc);
    return rc >= 0 ? rc : -1;
}

static void regex_done(struct dp_router_scratch *s, pcre2_match_data *md)
{
    if (s == NULL)
        pcre2_match_data_free(md);
}

static int put(char *out, size_t len, size_t *pos, const char *p, size_t n)
{
    if (len - *pos <= n) /* keep one byte for the NUL */
        return GW_ETOOBIG;
    memcpy(out + *pos, p, n);
    *pos += n;
    return GW_OK;
}

int dp_router__subst(const char *subj, pcre2_match_data *md,
                     struct dp_router_slice subst, char *out, size_t len,
                     size_t *pos)
{
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
    uint32_t pairs = pcre2_get_ovector_count(md);
    size_t i;

    for (i = 0; i < subst.len; i++) {
        char c = subst.ptr[i];
        if (c == '\\' && i + 1 < subst.len && subst.ptr[i + 1] >= '0' &&
            subst.ptr[i + 1] <= '9') {
            uint32_t g = (uint32_t)(subst.ptr[++i] - '0');
            if (g < pairs && ov[2 * g] != PCRE2_UNSET &&
                put(out, len, pos, subj + ov[2 * g],
                    ov[2 * g + 1] - ov[2 * g]) != GW_OK)
                return GW_ETOOBIG;
            continue;
        }
        if (c == '\\' && i + 1 < subst.len && subst.ptr[i + 1] == '\\')
            i++;
        if (put(out, len, pos, &subst.ptr[i], 1) != GW_OK)
            return GW_ETOOBIG;
    }
    return GW_OK;
}

int dp_router__global_replace(const struct dp_router_regex *re,
                              struct dp_router_slice subj,
                              struct dp_router_slice subst,
                              struct dp_router_scratch *s, char *out,
                              size_t len, size_t *pos)
{
    size_t at = 0, copied = 0;
    pcre2_match_data *md;
    int r = GW_OK;

    while (at <= subj.len) {
        PCRE2_SIZE *ov;
        if (dp_router__regex_exec(re, subj.ptr, subj.len, at, s, &md) < 0)
            break;
        ov = pcre2_get_ovector_pointer(md);
        if ((r = put(out, len, pos, subj.ptr + copied, ov[0] - copied)) ||
            (r = dp_router__subst(subj.ptr, md, subst, out, len, pos)))
            break;
        copied = ov[1];
        if (ov[1] == ov[0]) { /* empty match: copy one byte, move on */
            if (ov[1] < subj.len &&
                (r = put(out, len, pos, subj.ptr + ov[1], 1)))
                break;
            copied = ov[1] + 1;
        }
        at = copied;
        regex_done(s, md);
        md = NULL;
    }
    if (md != NULL)
        regex_done(s, md);
    if (r == GW_OK && copied < subj.len)
        r = put(out, len, pos, subj.ptr + copied, subj.len - copied);
    return r;
}
