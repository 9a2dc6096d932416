/*
 * filter_rewrite_test.c -- redirectRegex and the path middlewares on the
 * examples of Traefik's documentation (outputs and the X-Forwarded-Prefix /
 * X-Replaced-Path headers), Go replacement syntax, NACK messages.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "dataplane/filter/filter_testlib.h"

#define FV1(x) Traefikee__Filters__V1__##x
#define PR(x)  Traefikee__Filters__V1__PathRewrite__##x

static struct dp_filter_chain *redirect(struct ft_route *r,
                                        struct dp_filter_registry *reg,
                                        const char *re, const char *repl,
                                        bool permanent, char *err)
{
    FV1(RedirectRegex) m = TRAEFIKEE__FILTERS__V1__REDIRECT_REGEX__INIT;

    m.regex = (char *)re;
    m.replacement = (char *)repl;
    m.permanent = permanent;
    ft_route_init(r, "r", "v");
    ft_route_add(r, DP_FILTER_N_REDIRECT_REGEX, "RedirectRegex", &m.base);
    return ft_chain(r, reg, err);
}

/* Status (200 = passed on) and Location. */
static int go(const struct dp_filter_chain *ch, const char *method,
              const char *host, const char *target, bool tls, char *loc)
{
    struct ft_req q;
    int v;

    ft_req_init(&q, method, host, target, "10.0.0.1");
    q.req.tls = tls;
    q.req.scratch = dp_filter_scratch_new();
    v = ft_run(&q, ch) == DP_FILTER_CONTINUE ? 200 : q.ctx.status;
    snprintf(loc, 512, "%s",
             ft_resp_hdr(&q, "Location") ? ft_resp_hdr(&q, "Location") : "");
    dp_filter_end(&q.ctx, 200, 0);
    dp_filter_scratch_free(q.req.scratch);
    ft_req_deinit(&q);
    return v;
}

static void test_redirect(void **state)
{
    struct dp_filter_registry *reg = dp_filter_registry_new();
    char err[CM_ERR_LEN], loc[512];
    struct ft_route r;
    struct dp_filter_chain *ch = redirect(&r, reg, "^http://localhost/(.*)",
                                          "http://mydomain/${1}", false, err);

    assert_non_null(ch);
    assert_int_equal(go(ch, "GET", "localhost", "/foo?x=1", false, loc), 302);
    assert_string_equal(loc, "http://mydomain/foo?x=1");
    assert_int_equal(go(ch, "POST", "localhost", "/", false, loc), 307);
    assert_string_equal(loc, "http://mydomain/");
    assert_int_equal(go(ch, "GET", "localhost", "/a", true, loc), 200);
    assert_int_equal(go(ch, "GET", "other", "/a", false, loc), 200);
    dp_filter_chain_free(ch);
    ft_route_deinit(&r);

    /* permanent: 301 for GET, 308 otherwise; $1 then a letter is the group
     * named "1x" (empty), as Go's Expand */
    ch = redirect(&r, reg, "^https://(?P<h>[^/:]+)(:\\d+)?/(.*)$",
                  "https://www.$h/$3$$$1x", true, err);
    assert_non_null(ch);
    assert_int_equal(go(ch, "GET", "ex.com:8443", "/p", true, loc), 301);
    assert_string_equal(loc, "https://www.ex.com/p$");
    assert_int_equal(go(ch, "PUT", "ex.com", "/p", true, loc), 308);
    dp_filter_chain_free(ch);
    ft_route_deinit(&r);

    /* the same URL after replacement: passed on */
    ch = redirect(&r, reg, "^(http://.*)$", "$1", false, err);
    assert_int_equal(go(ch, "GET", "h", "/x", false, loc), 200);
    dp_filter_chain_free(ch);
    ft_route_deinit(&r);

    /* an invalid URL after replacement: 500 */
    ch = redirect(&r, reg, "^http://h/(.*)", "http://h/%zz$1", false, err);
    assert_int_equal(go(ch, "GET", "h", "/x", false, loc), 500);
    dp_filter_chain_free(ch);
    ft_route_deinit(&r);

    assert_null(redirect(&r, reg, "^(abc", "x", false, err));
    assert_string_equal(err, "traefikee.filters.redirect_regex: regex: missing "
                             "closing parenthesis at offset 5");
    ft_route_deinit(&r);
    dp_filter_registry_free(reg);
}

/* ==== path rewrite ==== */

struct ops {
    PR(Op) op[8];
    PR(Op) * ptr[8];
    PR(StripPrefix) sp[8];
    PR(StripPrefixRegex) spr[8];
    PR(ReplacePathRegex) rpr[8];
    size_t n;
};

static PR(Op) * op_new(struct ops *o)
{
    PR(Op) *op = &o->op[o->n];

    traefikee__filters__v1__path_rewrite__op__init(op);
    o->ptr[o->n] = op;
    return op;
}

static void strip(struct ops *o, char **pre, size_t n)
{
    PR(Op) *op = op_new(o);

    traefikee__filters__v1__path_rewrite__strip_prefix__init(&o->sp[o->n]);
    o->sp[o->n].prefixes = pre;
    o->sp[o->n].n_prefixes = n;
    op->op_case = TRAEFIKEE__FILTERS__V1__PATH_REWRITE__OP__OP_STRIP_PREFIX;
    op->strip_prefix = &o->sp[o->n++];
}

static void strip_re(struct ops *o, char **re, size_t n)
{
    PR(Op) *op = op_new(o);

    traefikee__filters__v1__path_rewrite__strip_prefix_regex__init(
        &o->spr[o->n]);
    o->spr[o->n].regex = re;
    o->spr[o->n].n_regex = n;
    op->op_case =
        TRAEFIKEE__FILTERS__V1__PATH_REWRITE__OP__OP_STRIP_PREFIX_REGEX;
    op->strip_prefix_regex = &o->spr[o->n++];
}

static void add(struct ops *o, const char *p)
{
    PR(Op) *op = op_new(o);

    op->op_case = TRAEFIKEE__FILTERS__V1__PATH_REWRITE__OP__OP_ADD_PREFIX;
    op->add_prefix = (char *)p;
    o->n++;
}

static void replace(struct ops *o, const char *p)
{
    PR(Op) *op = op_new(o);

    op->op_case = TRAEFIKEE__FILTERS__V1__PATH_REWRITE__OP__OP_REPLACE_PATH;
    op->replace_path = (char *)p;
    o->n++;
}

static void replace_re(struct ops *o, const char *re, const char *repl)
{
    PR(Op) *op = op_new(o);

    traefikee__filters__v1__path_rewrite__replace_path_regex__init(
        &o->rpr[o->n]);
    o->rpr[o->n].regex = (char *)re;
    o->rpr[o->n].replacement = (char *)repl;
    op->op_case =
        TRAEFIKEE__FILTERS__V1__PATH_REWRITE__OP__OP_REPLACE_PATH_REGEX;
    op->replace_path_regex = &o->rpr[o->n++];
}

static struct dp_filter_chain *rewrite(struct ft_route *r,
                                       struct dp_filter_registry *reg,
                                       struct ops *o, char *err)
{
    FV1(PathRewrite) m = TRAEFIKEE__FILTERS__V1__PATH_REWRITE__INIT;

    m.ops = o->ptr;
    m.n_ops = o->n;
    ft_route_init(r, "r", "v");
    ft_route_add(r, DP_FILTER_N_PATH_REWRITE, "PathRewrite", &m.base);
    return ft_chain(r, reg, err);
}

/* New path ("" if unchanged) and the headers added, "name=value;...". */
static void path(const struct dp_filter_chain *ch, const char *target,
                 char *out, char *hdrs)
{
    struct ft_req q;

    ft_req_init(&q, "GET", "h", target, "10.0.0.1");
    assert_int_equal(ft_run(&q, ch), DP_FILTER_CONTINUE);
    snprintf(out, 256, "%.*s", q.ctx.path_set ? (int)q.ctx.path.len : 0,
             q.ctx.path.ptr);
    hdrs[0] = '\0';
    for (int i = 0; i < q.ctx.n_req_add; i++)
        snprintf(hdrs + strlen(hdrs), 256 - strlen(hdrs), "%.*s=%.*s;",
                 (int)q.ctx.req_add[i].name.len, q.ctx.req_add[i].name.ptr,
                 (int)q.ctx.req_add[i].value.len, q.ctx.req_add[i].value.ptr);
    dp_filter_end(&q.ctx, 200, 0);
    ft_req_deinit(&q);
}

#define EXPECT(ch, target, want, want_hdrs)                                    \
    do {                                                                       \
        char p_[256], h_[256];                                                 \
        path(ch, target, p_, h_);                                              \
        assert_string_equal(p_, want);                                         \
        assert_string_equal(h_, want_hdrs);                                    \
    } while (0)

static void test_path_ops(void **state)
{
    struct dp_filter_registry *reg = dp_filter_registry_new();
    char *pre[] = {"/foobar", "/fiibar"};
    char *res[] = {"/foo/[a-z0-9]+/[0-9]+/"};
    char err[CM_ERR_LEN];
    struct ft_route r;
    struct dp_filter_chain *ch;
    struct ops o;

    memset(&o, 0, sizeof(o));
    strip(&o, pre, 2);
    ch = rewrite(&r, reg, &o, err);
    EXPECT(ch, "/foobar/test?q=1", "/test", "X-Forwarded-Prefix=/foobar;");
    EXPECT(ch, "/fiibar/x", "/x", "X-Forwarded-Prefix=/fiibar;");
    EXPECT(ch, "/foobar", "/", "X-Forwarded-Prefix=/foobar;");
    EXPECT(ch, "/foobarbaz", "/baz", "X-Forwarded-Prefix=/foobar;");
    EXPECT(ch, "/other", "", "");
    dp_filter_chain_free(ch);
    ft_route_deinit(&r);

    memset(&o, 0, sizeof(o));
    strip_re(&o, res, 1);
    ch = rewrite(&r, reg, &o, err);
    assert_non_null(ch);
    EXPECT(ch, "/foo/abc/123/bar", "/bar", "X-Forwarded-Prefix=/foo/abc/123/;");
    EXPECT(ch, "/x/foo/abc/123/bar", "", "");
    dp_filter_chain_free(ch);
    ft_route_deinit(&r);

    memset(&o, 0, sizeof(o));
    add(&o, "/foo");
    ch = rewrite(&r, reg, &o, err);
    EXPECT(ch, "/bar", "/foo/bar", "");
    dp_filter_chain_free(ch);
    ft_route_deinit(&r);
    memset(&o, 0, sizeof(o));
    add(&o, "foo");
    ch = rewrite(&r, reg, &o, err);
    EXPECT(ch, "/bar", "/foo/bar", "");
    dp_filter_chain_free(ch);
    ft_route_deinit(&r);

    memset(&o, 0, sizeof(o));
    replace(&o, "/foo");
    ch = rewrite(&r, reg, &o, err);
    EXPECT(ch, "/anything?x", "/foo", "X-Replaced-Path=/anything;");
    dp_filter_chain_free(ch);
    ft_route_deinit(&r);

    memset(&o, 0, sizeof(o));
    replace_re(&o, "^/foo/(.*)", "/bar/$1");
    ch = rewrite(&r, reg, &o, err);
    EXPECT(ch, "/foo/abc", "/bar/abc", "X-Replaced-Path=/foo/abc;");
    EXPECT(ch, "/other", "", "");
    dp_filter_chain_free(ch);
    ft_route_deinit(&r);

    memset(&o, 0, sizeof(o)); /* all occurrences; ${1}x vs $1x */
    replace_re(&o, "a(b)", "[${1}x$1x]");
    ch = rewrite(&r, reg, &o, err);
    EXPECT(ch, "/ab/ab", "/[bx]/[bx]", "X-Replaced-Path=/ab/ab;");
    dp_filter_chain_free(ch);
    ft_route_deinit(&r);

    /* ordered ops: stripPrefix /api, then addPrefix /v2 */
    memset(&o, 0, sizeof(o));
    pre[0] = "/api";
    strip(&o, pre, 1);
    add(&o, "/v2");
    replace_re(&o, "^/v2/users/([0-9]+)$", "/v2/u/$1");
    ch = rewrite(&r, reg, &o, err);
    EXPECT(ch, "/api/users/42", "/v2/u/42",
           "X-Forwarded-Prefix=/api;X-Replaced-Path=/v2/users/42;");
    EXPECT(ch, "/web", "/v2/web", "");
    dp_filter_chain_free(ch);
    ft_route_deinit(&r);
    dp_filter_registry_free(reg);
}

static void test_path_errors(void **state)
{
    struct dp_filter_registry *reg = dp_filter_registry_new();
    char *res[] = {"/ok", "(bad"};
    char err[CM_ERR_LEN];
    struct ft_route r;
    struct ops o;

    memset(&o, 0, sizeof(o));
    add(&o, "/x");
    strip_re(&o, res, 2);
    assert_null(rewrite(&r, reg, &o, err));
    assert_string_equal(err, "traefikee.filters.path_rewrite: ops[1]: "
                             "regex[1]: missing closing parenthesis at offset "
                             "5");
    ft_route_deinit(&r);
    memset(&o, 0, sizeof(o));
    add(&o, "");
    assert_null(rewrite(&r, reg, &o, err));
    assert_string_equal(err, "traefikee.filters.path_rewrite: ops[0]: "
                             "add_prefix: prefix cannot be empty");
    ft_route_deinit(&r);
    memset(&o, 0, sizeof(o));
    replace(&o, "/a%zz");
    assert_null(rewrite(&r, reg, &o, err));
    ft_route_deinit(&r);
    memset(&o, 0, sizeof(o));
    assert_null(rewrite(&r, reg, &o, err));
    assert_string_equal(err, "traefikee.filters.path_rewrite: want 1 to 16 "
                             "ops, got 0");
    ft_route_deinit(&r);
    dp_filter_registry_free(reg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_redirect),
        cmocka_unit_test(test_path_ops),
        cmocka_unit_test(test_path_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
