/*
 * filter_util.c -- helpers the filters share: request header lookup over
 * the router's request view, the per-request output buffer and header
 * lists, regexes (PCRE2 with JIT, Go's Expand and ReplaceAllString
 * semantics), per-worker scratch. Runs on workers; nothing here is shared
 * mutable state.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dataplane/filter/filter_int.h"

#define MD_PAIRS 64

struct dp_filter_scratch {
    pcre2_match_data *md;
};

struct dp_filter_scratch *dp_filter_scratch_new(void)
{
    struct dp_filter_scratch *s = calloc(1, sizeof(*s));

    if (s == NULL)
        return NULL;
    if ((s->md = pcre2_match_data_create(MD_PAIRS, NULL)) == NULL) {
        free(s);
        return NULL;
    }
    return s;
}

void dp_filter_scratch_free(struct dp_filter_scratch *s)
{
    if (s == NULL)
        return;
    pcre2_match_data_free(s->md);
    free(s);
}

pcre2_match_data *dp_filter__md(struct dp_filter_scratch *s,
                                pcre2_match_data **own)
{
    *own = NULL;
    if (s != NULL)
        return s->md;
    *own = pcre2_match_data_create(MD_PAIRS, NULL);
    return *own;
}

/* ==== request view ==== */

bool dp_filter__header(const struct dp_router_req *rq, const char *name,
                       struct dp_router_slice *out)
{
    size_t n = strlen(name);

    if (rq == NULL)
        return false;
    if (rq->get_header != NULL)
        return rq->get_header(rq->get_header_arg, name, n, out) == 1;
    for (size_t i = 0; i < rq->n_hdrs; i++) {
        const struct dp_router_hdr *h = &rq->hdrs[i];
        if (h->name.len == n && strncasecmp(h->name.ptr, name, n) == 0) {
            *out = h->value;
            return true;
        }
    }
    return false;
}

/* ==== outputs ==== */

void dp_filter_ctx_init(struct dp_filter_ctx *ctx, char *buf, size_t cap)
{
    memset(ctx, 0, sizeof(*ctx));
    ctx->buf = buf;
    ctx->cap = cap;
}

char *dp_filter__alloc(struct dp_filter_ctx *ctx, size_t n)
{
    char *d;

    if (ctx->buf == NULL || ctx->cap - ctx->used < n + 1)
        return NULL;
    d = ctx->buf + ctx->used;
    d[n] = '\0';
    ctx->used += n + 1;
    return d;
}

char *dp_filter__put(struct dp_filter_ctx *ctx, const char *p, size_t n)
{
    char *d = dp_filter__alloc(ctx, n);

    if (d != NULL && n > 0)
        memcpy(d, p, n);
    return d;
}

int dp_filter__respond(struct dp_filter_ctx *ctx, uint16_t status,
                       const char *body)
{
    ctx->status = status;
    ctx->body = (struct dp_router_slice){body, strlen(body)};
    return DP_FILTER_RESPOND;
}

void dp_filter__resp_hdr(struct dp_filter_ctx *ctx, const char *name,
                         const char *value, size_t vlen)
{
    struct dp_filter_hdr *h;

    if (ctx->n_resp_hdrs >= DP_FILTER_MAX_RESP_HDRS)
        return;
    h = &ctx->resp_hdrs[ctx->n_resp_hdrs++];
    h->name = (struct dp_router_slice){name, strlen(name)};
    h->value = (struct dp_router_slice){value, vlen};
}

int dp_filter__req_hdr(struct dp_filter_ctx *ctx, const char *name,
                       const char *value, size_t vlen)
{
    struct dp_filter_hdr *h;
    char *v;

    if (ctx->n_req_add >= DP_FILTER_MAX_REQ_HDRS ||
        (v = dp_filter__put(ctx, value, vlen)) == NULL)
        return GW_ETOOBIG;
    h = &ctx->req_add[ctx->n_req_add++];
    h->name = (struct dp_router_slice){name, strlen(name)};
    h->value = (struct dp_router_slice){v, vlen};
    return 0;
}

/* ==== regexes ==== */

int dp_filter__regex_compile(struct dp_filter__regex *re, const char *pat,
                             char *msg, size_t len)
{
    int code;
    PCRE2_SIZE off;
    uint32_t caps = 0;
    PCRE2_UCHAR text[160];

    re->code = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED,
                             PCRE2_UTF | PCRE2_MATCH_INVALID_UTF |
                                 PCRE2_DOLLAR_ENDONLY,
                             &code, &off, NULL);
    if (re->code == NULL) {
        pcre2_get_error_message(code, text, sizeof(text));
        return cm_err_set(msg, len, GW_EINVAL, "%s at offset %zu",
                          (const char *)text, (size_t)off);
    }
    pcre2_pattern_info(re->code, PCRE2_INFO_CAPTURECOUNT, &caps);
    if (caps >= MD_PAIRS) {
        dp_filter__regex_deinit(re);
        return cm_err_set(msg, len, GW_EINVAL, "more than %d groups",
                          MD_PAIRS - 1);
    }
    (void)pcre2_jit_compile(re->code, PCRE2_JIT_COMPLETE); /* else interp */
    return 0;
}

void dp_filter__regex_deinit(struct dp_filter__regex *re)
{
    pcre2_code_free(re->code);
    re->code = NULL;
}

static int out_add(char *out, size_t cap, size_t *pos, const char *p, size_t n)
{
    if (cap - *pos < n + 1)
        return GW_ETOOBIG;
    if (n > 0)
        memcpy(out + *pos, p, n);
    *pos += n;
    out[*pos] = '\0';
    return 0;
}

static bool name_byte(uint8_t c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '_' || c >= 0x80;
}

/* Go's extract(): parses "name" or "{name}" at <t>; returns bytes used
 * (0: malformed), the name in <name, nlen> and its number or -1. */
static size_t extract(const char *t, const char **name, size_t *nlen, long *num)
{
    bool brace = t[0] == '{';
    const char *s = t + brace;
    size_t i = 0;

    while (s[i] != '\0' && name_byte((uint8_t)s[i]))
        i++;
    if (i == 0 || (brace && s[i] != '}'))
        return 0;
    *name = s;
    *nlen = i;
    *num = 0;
    for (size_t k = 0; k < i; k++) {
        if (s[k] < '0' || s[k] > '9' || *num >= 100000000) {
            *num = -1;
            break;
        }
        *num = *num * 10 + (s[k] - '0');
    }
    if (s[0] == '0' && i > 1)
        *num = -1;
    return (size_t)brace + i + (size_t)brace;
}

static long group_of(const struct dp_filter__regex *re, const char *name,
                     size_t n, long num)
{
    char tmp[128];
    int g;

    if (num >= 0)
        return num;
    if (n >= sizeof(tmp))
        return -1;
    memcpy(tmp, name, n);
    tmp[n] = '\0';
    g = pcre2_substring_number_from_name(re->code, (PCRE2_SPTR)tmp);
    return g > 0 ? g : -1;
}

int dp_filter__expand(const struct dp_filter__regex *re, const char *subj,
                      const char *repl, pcre2_match_data *md, char *out,
                      size_t cap, size_t *pos)
{
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
    uint32_t npairs = pcre2_get_ovector_count(md), caps = 0;
    const char *t = repl, *d, *name;
    size_t used, nlen;
    long num, g;

    pcre2_pattern_info(re->code, PCRE2_INFO_CAPTURECOUNT, &caps);
    while ((d = strchr(t, '$')) != NULL) {
        if (out_add(out, cap, pos, t, (size_t)(d - t)) != 0)
            return GW_ETOOBIG;
        t = d + 1;
        if (*t == '$') {
            if (out_add(out, cap, pos, "$", 1) != 0)
                return GW_ETOOBIG;
            t++;
            continue;
        }
        if ((used = extract(t, &name, &nlen, &num)) == 0) {
            if (out_add(out, cap, pos, "$", 1) != 0)
                return GW_ETOOBIG;
            continue;
        }
        t += used;
        g = group_of(re, name, nlen, num);
        if (g < 0 || (uint32_t)g > caps || (uint32_t)g >= npairs ||
            ov[2 * g] == PCRE2_UNSET)
            continue;
        if (out_add(out, cap, pos, subj + ov[2 * g], ov[2 * g + 1] - ov[2 * g]))
            return GW_ETOOBIG;
    }
    return out_add(out, cap, pos, t, strlen(t));
}

static size_t utf8_width(const char *s, size_t n, size_t at)
{
    uint8_t c = (uint8_t)s[at];
    size_t w = c < 0x80 ? 1 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;

    return at + w > n ? 1 : w;
}

int dp_filter__replace_all(const struct dp_filter__regex *re, const char *subj,
                           size_t n, const char *repl, pcre2_match_data *md,
                           char *out, size_t cap, size_t *pos)
{
    size_t last = 0, search = 0;
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);

    while (search <= n) {
        size_t a0, a1, w;
        if (pcre2_match(re->code, (PCRE2_SPTR)subj, n, search, 0, md, NULL) < 0)
            break;
        a0 = ov[0];
        a1 = ov[1];
        if (out_add(out, cap, pos, subj + last, a0 - last) != 0)
            return GW_ETOOBIG;
        if ((a1 > last || a0 == 0) &&
            dp_filter__expand(re, subj, repl, md, out, cap, pos) != 0)
            return GW_ETOOBIG;
        last = a1;
        w = search < n ? utf8_width(subj, n, search) : 1;
        if (search + w > a1)
            search += w;
        else if (search + 1 > a1)
            search++;
        else
            search = a1;
    }
    return out_add(out, cap, pos, subj + last, n - last);
}
