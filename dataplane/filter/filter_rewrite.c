/*
 * filter_rewrite.c -- redirectRegex (regex over scheme://host/path?query,
 * Go replacement syntax, 301/308 permanent, 302/307 otherwise, by method)
 * and the path middlewares (stripPrefix, stripPrefixRegex, addPrefix,
 * replacePath, replacePathRegex, in configured order, adding
 * X-Forwarded-Prefix / X-Replaced-Path as Traefik does). Paths are taken
 * as received (Traefik matches prefixes against the decoded path; for the
 * usual unescaped paths that is the same). Compiled ops are immutable;
 * runs on any worker with its scratch match data.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/filter/filter_int.h"
#include "traefikee/filters/v1/filters.pb-c.h"

#define FV1(x) Traefikee__Filters__V1__##x

static const char *trim_dup(const char *s)
{
    size_t n;

    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
        s++;
    n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' ||
                     s[n - 1] == '\r'))
        n--;
    return strndup(s, n);
}

/* Valid %XX escapes and no control characters (Go's url.PathUnescape /
 * url.Parse would fail). */
static bool escapes_ok(const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdefABCDEF";

    for (size_t i = 0; i < n; i++) {
        if ((uint8_t)s[i] < 0x20 || s[i] == 0x7f)
            return false;
        if (s[i] == '%' && (i + 2 >= n || memchr(hex, s[i + 1], 22) == NULL ||
                            memchr(hex, s[i + 2], 22) == NULL))
            return false;
    }
    return true;
}

/* ==== redirectRegex ==== */

int dp_filter__redirect_build(struct dp_filter__bctx *b, const void *pb,
                              size_t n, struct dp_filter_chain *ch)
{
    FV1(RedirectRegex) *m =
        traefikee__filters__v1__redirect_regex__unpack(NULL, n, pb);
    struct dp_filter__redirect *r = NULL;
    char msg[CM_ERR_LEN];
    char *pat = NULL;
    int rc = 0;

    if (m == NULL)
        return cm_err_set(b->err, b->len, GW_EINVAL,
                          "%s: cannot decode RedirectRegex", b->name);
    if ((r = calloc(1, sizeof(*r))) == NULL ||
        (pat = (char *)trim_dup(m->regex ? m->regex : "")) == NULL ||
        (r->replacement = strdup(m->replacement ? m->replacement : "")) == NULL)
        rc = cm_err_set(b->err, b->len, GW_ENOMEM, "out of memory");
    else if (dp_filter__regex_compile(&r->re, pat, msg, sizeof(msg)) != 0)
        rc = cm_err_set(b->err, b->len, GW_EINVAL, "%s: regex: %s", b->name,
                        msg);
    free(pat);
    if (rc == 0) {
        r->permanent = m->permanent;
        ch->redirect = r;
    } else {
        dp_filter__redirect_free(r);
    }
    traefikee__filters__v1__redirect_regex__free_unpacked(m, NULL);
    return rc;
}

void dp_filter__redirect_free(struct dp_filter__redirect *r)
{
    if (r == NULL)
        return;
    dp_filter__regex_deinit(&r->re);
    free(r->replacement);
    free(r);
}

static bool is_https(const struct dp_filter_req *req)
{
    const struct dp_router_slice *s = &req->rq->scheme;

    return req->tls || (s->len == 5 && memcmp(s->ptr, "https", 5) == 0);
}

/* scheme://host/path[?query] into the ctx buffer. */
static char *raw_url(const struct dp_filter_req *req, struct dp_filter_ctx *ctx,
                     size_t *n)
{
    const struct dp_router_req *rq = req->rq;
    const char *sch = is_https(req) ? "https://" : "http://";
    size_t sl = strlen(sch);
    size_t len = sl + rq->host.len + rq->path.len +
                 (rq->query.len ? rq->query.len + 1 : 0);
    char *u = dp_filter__alloc(ctx, len), *p = u;

    if (u == NULL)
        return NULL;
    memcpy(p, sch, sl), p += sl;
    memcpy(p, rq->host.ptr, rq->host.len), p += rq->host.len;
    memcpy(p, rq->path.ptr, rq->path.len), p += rq->path.len;
    if (rq->query.len) {
        *p++ = '?';
        memcpy(p, rq->query.ptr, rq->query.len), p += rq->query.len;
    }
    *p = '\0';
    *n = len;
    return u;
}

static const char *status_text(int s)
{
    switch (s) {
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 307:
        return "Temporary Redirect";
    default:
        return "Permanent Redirect";
    }
}

int dp_filter__redirect_run(const struct dp_filter__redirect *r,
                            const struct dp_filter_req *req,
                            struct dp_filter_ctx *ctx)
{
    pcre2_match_data *own, *md = dp_filter__md(req->scratch, &own);
    const struct dp_router_slice *m = &req->rq->method;
    size_t n = 0, pos;
    char *old = raw_url(req, ctx, &n), *out;
    bool get = m->len == 3 && memcmp(m->ptr, "GET", 3) == 0;
    int rc = DP_FILTER_CONTINUE, status;

    if (md == NULL || old == NULL) {
        rc = dp_filter__respond(ctx, 500, "Internal Server Error");
        goto out;
    }
    if (pcre2_match(r->re.code, (PCRE2_SPTR)old, n, 0, 0, md, NULL) < 0)
        goto out;
    out = ctx->buf + ctx->used;
    pos = 0;
    if (dp_filter__replace_all(&r->re, old, n, r->replacement, md, out,
                               ctx->cap - ctx->used, &pos) != 0 ||
        !escapes_ok(out, pos)) {
        rc = dp_filter__respond(ctx, 500, "Internal Server Error");
        goto out;
    }
    ctx->used += pos + 1;
    if (pos == n && memcmp(out, old, n) == 0)
        goto out; /* Traefik forwards the unchanged URL */
    status = r->permanent ? (get ? 301 : 308) : (get ? 302 : 307);
    dp_filter__resp_hdr(ctx, "Location", out, pos);
    rc = dp_filter__respond(ctx, (uint16_t)status, status_text(status));
out:
    pcre2_match_data_free(own);
    return rc;
}

/* ==== path middlewares ==== */

static int op_strs(struct dp_filter__op *op, char *const *v, size_t n,
                   bool trim)
{
    if (n == 0)
        return 0;
    if ((op->strs = calloc(n, sizeof(char *))) == NULL)
        return GW_ENOMEM;
    for (size_t i = 0; i < n; i++, op->n_strs++)
        if ((op->strs[i] = trim ? (char *)trim_dup(v[i]) : strdup(v[i])) ==
            NULL)
            return GW_ENOMEM;
    return 0;
}

static int op_regexes(struct dp_filter__bctx *b, size_t k,
                      struct dp_filter__op *op, char *const *v, size_t n,
                      const char *anchor)
{
    char msg[CM_ERR_LEN];

    if ((op->res = calloc(n ? n : 1, sizeof(*op->res))) == NULL)
        return cm_err_set(b->err, b->len, GW_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++, op->n_res++) {
        const char *t = trim_dup(v[i]);
        char *pat = t ? malloc(strlen(t) + 2) : NULL;
        int rc;
        if (pat == NULL) {
            free((void *)t);
            return cm_err_set(b->err, b->len, GW_ENOMEM, "out of memory");
        }
        snprintf(pat, strlen(t) + 2, "%s%s", anchor, t);
        free((void *)t);
        rc = dp_filter__regex_compile(&op->res[i], pat, msg, sizeof(msg));
        free(pat);
        if (rc != 0)
            return cm_err_set(b->err, b->len, GW_EINVAL,
                              "%s: ops[%zu]: regex[%zu]: %s", b->name, k, i,
                              msg);
    }
    return 0;
}

static int op_build(struct dp_filter__bctx *b, size_t k,
                    const FV1(PathRewrite__Op) * m, struct dp_filter__op *op)
{
    const char *s;
    int rc = 0;

    switch (m->op_case) {
    case TRAEFIKEE__FILTERS__V1__PATH_REWRITE__OP__OP_STRIP_PREFIX:
        op->kind = DP_FILTER__OP_STRIP_PREFIX;
        rc = op_strs(op, m->strip_prefix->prefixes, m->strip_prefix->n_prefixes,
                     false);
        break;
    case TRAEFIKEE__FILTERS__V1__PATH_REWRITE__OP__OP_STRIP_PREFIX_REGEX:
        op->kind = DP_FILTER__OP_STRIP_PREFIX_REGEX;
        return op_regexes(b, k, op, m->strip_prefix_regex->regex,
                          m->strip_prefix_regex->n_regex, "^");
    case TRAEFIKEE__FILTERS__V1__PATH_REWRITE__OP__OP_ADD_PREFIX:
        op->kind = DP_FILTER__OP_ADD_PREFIX;
        if (m->add_prefix[0] == '\0')
            return cm_err_set(b->err, b->len, GW_EINVAL,
                              "%s: ops[%zu]: add_prefix: prefix cannot be "
                              "empty",
                              b->name, k);
        if ((op->strs = calloc(1, sizeof(char *))) == NULL ||
            (op->strs[0] = malloc(strlen(m->add_prefix) + 2)) == NULL)
            return cm_err_set(b->err, b->len, GW_ENOMEM, "out of memory");
        op->n_strs = 1;
        snprintf(op->strs[0], strlen(m->add_prefix) + 2, "%s%s",
                 m->add_prefix[0] == '/' ? "" : "/", m->add_prefix);
        break;
    case TRAEFIKEE__FILTERS__V1__PATH_REWRITE__OP__OP_REPLACE_PATH:
        op->kind = DP_FILTER__OP_REPLACE_PATH;
        s = m->replace_path;
        if (!escapes_ok(s, strlen(s)))
            return cm_err_set(b->err, b->len, GW_EINVAL,
                              "%s: ops[%zu]: replace_path: invalid %%-escape "
                              "or control character",
                              b->name, k);
        rc = op_strs(op, (char *const *)&m->replace_path, 1, false);
        break;
    case TRAEFIKEE__FILTERS__V1__PATH_REWRITE__OP__OP_REPLACE_PATH_REGEX:
        op->kind = DP_FILTER__OP_REPLACE_PATH_REGEX;
        if ((rc = op_strs(op, &m->replace_path_regex->replacement, 1, false)) !=
            0)
            break;
        return op_regexes(b, k, op, &m->replace_path_regex->regex, 1, "");
    default:
        return cm_err_set(b->err, b->len, GW_EINVAL, "%s: ops[%zu]: empty op",
                          b->name, k);
    }
    return rc ? cm_err_set(b->err, b->len, GW_ENOMEM, "out of memory") : 0;
}

int dp_filter__rewrite_build(struct dp_filter__bctx *b, const void *pb,
                             size_t n, struct dp_filter_chain *ch)
{
    FV1(PathRewrite) *m =
        traefikee__filters__v1__path_rewrite__unpack(NULL, n, pb);
    struct dp_filter__rewrite *r;
    int rc = 0;

    if (m == NULL)
        return cm_err_set(b->err, b->len, GW_EINVAL,
                          "%s: cannot decode PathRewrite", b->name);
    if (m->n_ops == 0 || m->n_ops > DP_FILTER_MAX_OPS)
        rc = cm_err_set(b->err, b->len, GW_EINVAL,
                        "%s: want 1 to %d ops, got %zu", b->name,
                        DP_FILTER_MAX_OPS, m->n_ops);
    else if ((r = calloc(1, sizeof(*r))) == NULL ||
             (r->ops = calloc(m->n_ops, sizeof(*r->ops))) == NULL) {
        free(r);
        rc = cm_err_set(b->err, b->len, GW_ENOMEM, "out of memory");
    } else {
        for (size_t i = 0; rc == 0 && i < m->n_ops; i++, r->n_ops++)
            rc = op_build(b, i, m->ops[i], &r->ops[i]);
        if (rc == 0)
            ch->rewrite = r;
        else
            dp_filter__rewrite_free(r);
    }
    traefikee__filters__v1__path_rewrite__free_unpacked(m, NULL);
    return rc;
}

void dp_filter__rewrite_free(struct dp_filter__rewrite *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->n_ops; i++) {
        for (size_t k = 0; k < r->ops[i].n_strs; k++)
            free(r->ops[i].strs[k]);
        for (size_t k = 0; k < r->ops[i].n_res; k++)
            dp_filter__regex_deinit(&r->ops[i].res[k]);
        free(r->ops[i].strs);
        free(r->ops[i].res);
    }
    free(r->ops);
    free(r);
}

/* Writes ensureLeadingSlash(a + b) into the ctx buffer as the new path. */
static int set_path(struct dp_filter_ctx *ctx, struct dp_router_slice *path,
                    const char *a, size_t an, const char *b, size_t bn)
{
    bool slash = an + bn > 0 && (an ? a[0] : b[0]) != '/';
    char *d = dp_filter__alloc(ctx, an + bn + slash);

    if (d == NULL)
        return GW_ETOOBIG;
    if (slash)
        d[0] = '/';
    memcpy(d + slash, a, an);
    memcpy(d + slash + an, b, bn);
    *path = (struct dp_router_slice){d, an + bn + slash};
    return 0;
}

static int strip_prefix(const struct dp_filter__op *op,
                        struct dp_router_slice *p, struct dp_filter_ctx *ctx)
{
    for (size_t i = 0; i < op->n_strs; i++) {
        const char *pre = op->strs[i];
        size_t n = strlen(pre);
        if (p->len < n || memcmp(p->ptr, pre, n) != 0)
            continue;
        const char *t = trim_dup(pre);
        int rc = t ? dp_filter__req_hdr(ctx, "X-Forwarded-Prefix", t, strlen(t))
                   : GW_ENOMEM;
        free((void *)t);
        return rc ? rc : set_path(ctx, p, "", 0, p->ptr + n, p->len - n);
    }
    return 0;
}

static int strip_prefix_regex(const struct dp_filter__op *op,
                              struct dp_router_slice *p, pcre2_match_data *md,
                              struct dp_filter_ctx *ctx)
{
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);

    for (size_t i = 0; i < op->n_res; i++) {
        if (pcre2_match(op->res[i].code, (PCRE2_SPTR)p->ptr, p->len, 0, 0, md,
                        NULL) < 0)
            continue;
        size_t mlen = ov[1] - ov[0];
        const char *m = p->ptr + ov[0];
        if (mlen == 0 || memcmp(p->ptr, m, mlen) != 0)
            continue;
        int rc = dp_filter__req_hdr(ctx, "X-Forwarded-Prefix", m, mlen);
        return rc ? rc : set_path(ctx, p, "", 0, p->ptr + mlen, p->len - mlen);
    }
    return 0;
}

static int replace_regex(const struct dp_filter__op *op,
                         struct dp_router_slice *p, pcre2_match_data *md,
                         struct dp_filter_ctx *ctx)
{
    size_t pos = 0;
    char *out;
    int rc;

    if (op->strs[0][0] == '\0' ||
        pcre2_match(op->res[0].code, (PCRE2_SPTR)p->ptr, p->len, 0, 0, md,
                    NULL) < 0)
        return 0;
    if ((rc = dp_filter__req_hdr(ctx, "X-Replaced-Path", p->ptr, p->len)))
        return rc;
    out = ctx->buf + ctx->used;
    if (dp_filter__replace_all(&op->res[0], p->ptr, p->len, op->strs[0], md,
                               out, ctx->cap - ctx->used, &pos) != 0)
        return GW_ETOOBIG;
    ctx->used += pos + 1;
    *p = (struct dp_router_slice){out, pos};
    return escapes_ok(out, pos) ? 0 : GW_EINVAL;
}

static int run_op(const struct dp_filter__op *op, struct dp_router_slice *p,
                  pcre2_match_data *md, struct dp_filter_ctx *ctx)
{
    int rc;

    switch (op->kind) {
    case DP_FILTER__OP_STRIP_PREFIX:
        return strip_prefix(op, p, ctx);
    case DP_FILTER__OP_STRIP_PREFIX_REGEX:
        return strip_prefix_regex(op, p, md, ctx);
    case DP_FILTER__OP_ADD_PREFIX:
        return set_path(ctx, p, op->strs[0], strlen(op->strs[0]), p->ptr,
                        p->len);
    case DP_FILTER__OP_REPLACE_PATH:
        if ((rc = dp_filter__req_hdr(ctx, "X-Replaced-Path", p->ptr, p->len)))
            return rc;
        return set_path(ctx, p, op->strs[0], strlen(op->strs[0]), "", 0);
    default:
        return replace_regex(op, p, md, ctx);
    }
}

int dp_filter__rewrite_run(const struct dp_filter__rewrite *r,
                           const struct dp_filter_req *req,
                           struct dp_filter_ctx *ctx)
{
    pcre2_match_data *own, *md = dp_filter__md(req->scratch, &own);
    struct dp_router_slice p = req->rq->path, orig = p;
    int rc = md ? 0 : GW_ENOMEM;

    for (size_t i = 0; rc == 0 && i < r->n_ops; i++)
        rc = run_op(&r->ops[i], &p, md, ctx);
    pcre2_match_data_free(own);
    if (rc != 0)
        return dp_filter__respond(ctx, 500, "Internal Server Error");
    if (p.ptr != orig.ptr || p.len != orig.len) {
        ctx->path_set = true;
        ctx->path = p.len ? p : (struct dp_router_slice){"/", 1};
    }
    return DP_FILTER_CONTINUE;
}
