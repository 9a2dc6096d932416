/*
 * router_test.c -- tests of dp_router: virtual host selection, route order
 * across the exact/prefix/regex indexes, header/query matchers, rewrites,
 * redirects, weighted picks, and the errors a NACK carries.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "dataplane/router/router.h"
#include "dataplane/router/router_testlib.h"

#define RT(x) Envoy__Config__Route__V3__##x
#define SM(x) ENVOY__TYPE__MATCHER__V3__STRING_MATCHER__MATCH_PATTERN_##x

static struct dp_router_slice sl(const char *s)
{
    return (struct dp_router_slice){s, s ? strlen(s) : 0};
}

/* A request for "host", "path?query" and method; slices point into the
 * given strings. */
static struct dp_router_req rq(const char *host, const char *target,
                               const char *method)
{
    struct dp_router_req q = {0};
    const char *qm = strchr(target, '?');

    q.host = sl(host);
    q.path = (struct dp_router_slice){target, qm ? (size_t)(qm - target)
                                                 : strlen(target)};
    if (qm)
        q.query = sl(qm + 1);
    q.method = sl(method ? method : "GET");
    return q;
}

/* Returns "vhost/route-name" of the match, or "-" (static buffer). */
static const char *hit(const struct dp_router *r, struct dp_router_req q)
{
    static char buf[128];
    const struct dp_route *rt = dp_router_match(r, &q);

    if (rt == NULL)
        return "-";
    snprintf(buf, sizeof(buf), "%s/%s", rt->vhost.ptr, rt->name.ptr);
    return buf;
}

static RT(Route) * named(struct dp_rtb *b, RT(VirtualHost) * vh,
                         enum dp_rtb_path k, const char *pat, const char *name)
{
    RT(Route) *rt = dp_rtb_route(b, vh, k, pat, "c1");
    rt->name = dp_rtb_str(b, name);
    return rt;
}

static struct dp_router *build(RT(RouteConfiguration) * rc)
{
    char err[CM_ERR_LEN] = "";
    struct dp_router *r = dp_router_new(rc, NULL, NULL, err, sizeof(err));

    if (r == NULL)
        fail_msg("dp_router_new: %s", err);
    return r;
}

static void expect_error(RT(RouteConfiguration) * rc, const char *want)
{
    char err[CM_ERR_LEN] = "";
    struct dp_router *r = dp_router_new(rc, NULL, NULL, err, sizeof(err));

    assert_null(r);
    assert_string_equal(err, want);
}

/* ==== Virtual hosts ==== */

static void test_hosts(void **state)
{
    struct dp_rtb b = {0};
    RT(RouteConfiguration) *rc = dp_rtb_config(&b, "web");
    struct dp_router *r;

    named(&b, dp_rtb_vhost(&b, rc, "exact", "api.example.com,Api.Other.com"),
          DP_RTB_PREFIX, "/", "r");
    named(&b, dp_rtb_vhost(&b, rc, "port", "api.example.com:8443"),
          DP_RTB_PREFIX, "/", "r");
    named(&b, dp_rtb_vhost(&b, rc, "suffix", "*.example.com"), DP_RTB_PREFIX,
          "/", "r");
    named(&b, dp_rtb_vhost(&b, rc, "longer", "*.b.example.com"), DP_RTB_PREFIX,
          "/", "r");
    named(&b, dp_rtb_vhost(&b, rc, "prefix", "foo.*,foo.bar.*"), DP_RTB_PREFIX,
          "/", "r");
    named(&b, dp_rtb_vhost(&b, rc, "default", "*"), DP_RTB_PREFIX, "/", "r");
    r = build(rc);
    assert_string_equal(hit(r, rq("api.example.com", "/", 0)), "exact/r");
    assert_string_equal(hit(r, rq("API.example.COM", "/", 0)), "exact/r");
    assert_string_equal(hit(r, rq("api.other.com", "/", 0)), "exact/r");
    /* Port stripped unless a "host:port" domain matches as sent. */
    assert_string_equal(hit(r, rq("api.example.com:8080", "/", 0)), "exact/r");
    assert_string_equal(hit(r, rq("api.example.com:8443", "/", 0)), "port/r");
    assert_string_equal(hit(r, rq("x.example.com", "/", 0)), "suffix/r");
    assert_string_equal(hit(r, rq("x.example.com:80", "/", 0)), "suffix/r");
    assert_string_equal(hit(r, rq("a.b.example.com", "/", 0)), "longer/r");
    /* The wildcard must match at least one character. */
    assert_string_equal(hit(r, rq(".example.com", "/", 0)), "default/r");
    assert_string_equal(hit(r, rq("foo.x", "/", 0)), "prefix/r");
    assert_string_equal(hit(r, rq("foo.bar.x", "/", 0)), "prefix/r");
    assert_string_equal(hit(r, rq("foo.", "/", 0)), "default/r");
    assert_string_equal(hit(r, rq("other", "/", 0)), "default/r");
    assert_string_equal(hit(r, rq("[::1]:80", "/", 0)), "default/r");
    dp_router_free(r);

    /* Without "*", unknown hosts get no route. */
    rc = dp_rtb_config(&b, "web");
    named(&b, dp_rtb_vhost(&b, rc, "only", "a.com"), DP_RTB_PREFIX, "/", "r");
    r = build(rc);
    assert_string_equal(hit(r, rq("b.com", "/", 0)), "-");
    assert_string_equal(hit(r, rq("a.com:1", "/x", 0)), "only/r");
    dp_router_free(r);
    dp_rtb_free(&b);
}

/* ==== Route order across indexes ==== */

static void test_order(void **state)
{
    struct dp_rtb b = {0};
    RT(RouteConfiguration) *rc = dp_rtb_config(&b, "web");
    RT(VirtualHost) *vh = dp_rtb_vhost(&b, rc, "v", "*");
    struct dp_router *r;

    named(&b, vh, DP_RTB_PATH, "/exact", "e1");
    named(&b, vh, DP_RTB_PREFIX, "/api", "p1");  /* before the exact below */
    named(&b, vh, DP_RTB_PATH, "/api/v1", "e2"); /* shadowed by p1 */
    named(&b, vh, DP_RTB_REGEX, "/r[0-9]+", "x1");
    named(&b, vh, DP_RTB_PREFIX, "/r1", "p2");      /* shadowed by x1 for /r1 */
    named(&b, vh, DP_RTB_PREFIX, "/r1/deep", "p3"); /* longer, but later */
    named(&b, vh, DP_RTB_SEP_PREFIX, "/seg", "s1");
    named(&b, vh, DP_RTB_PREFIX, "/", "all");
    named(&b, vh, DP_RTB_PATH, "/never", "e3"); /* after "/" */
    r = build(rc);
    assert_int_equal(dp_router_route_count(r), 9);
    assert_string_equal(hit(r, rq("h", "/exact", 0)), "v/e1");
    assert_string_equal(hit(r, rq("h", "/exact/", 0)), "v/all");
    assert_string_equal(hit(r, rq("h", "/api/v1", 0)), "v/p1");
    assert_string_equal(hit(r, rq("h", "/apix", 0)), "v/p1");
    assert_string_equal(hit(r, rq("h", "/r1", 0)), "v/x1");
    assert_string_equal(hit(r, rq("h", "/r1/deep/x", 0)), "v/p2");
    assert_string_equal(hit(r, rq("h", "/rx", 0)), "v/all");
    assert_string_equal(hit(r, rq("h", "/seg", 0)), "v/s1");
    assert_string_equal(hit(r, rq("h", "/seg/a", 0)), "v/s1");
    assert_string_equal(hit(r, rq("h", "/segment", 0)), "v/all");
    assert_string_equal(hit(r, rq("h", "/never", 0)), "v/all");
    assert_string_equal(hit(r, rq("h", "/r1?x=1", 0)), "v/x1");
    assert_string_equal(hit(r, rq("h", "", 0)), "-");
    dp_router_free(r);
    dp_rtb_free(&b);
}

/* A later exact route wins when an earlier candidate's headers fail. */
static void test_order_with_headers(void **state)
{
    struct dp_rtb b = {0};
    RT(RouteConfiguration) *rc = dp_rtb_config(&b, "web");
    RT(VirtualHost) *vh = dp_rtb_vhost(&b, rc, "v", "*");
    RT(Route) * rt;
    struct dp_router *r;
    struct dp_router_hdr h[1] = {{{"x-canary", 8}, {"1", 1}}};
    struct dp_router_req q;

    rt = named(&b, vh, DP_RTB_PREFIX, "/", "canary");
    dp_rtb_header(&b, rt, "x-canary")->present_match = 1;
    rt->match->headers[0]->header_match_specifier_case =
        ENVOY__CONFIG__ROUTE__V3__HEADER_MATCHER__HEADER_MATCH_SPECIFIER_PRESENT_MATCH;
    named(&b, vh, DP_RTB_PATH, "/a", "exact");
    named(&b, vh, DP_RTB_PREFIX, "/", "fallback");
    r = build(rc);
    assert_string_equal(hit(r, rq("h", "/a", 0)), "v/exact");
    assert_string_equal(hit(r, rq("h", "/b", 0)), "v/fallback");
    q = rq("h", "/a", 0);
    q.hdrs = h, q.n_hdrs = 1;
    assert_string_equal(hit(r, q), "v/canary");
    dp_router_free(r);
    dp_rtb_free(&b);
}

/* ==== Matchers ==== */

static void test_headers_query_method(void **state)
{
    struct dp_rtb b = {0};
    RT(RouteConfiguration) *rc = dp_rtb_config(&b, "web");
    RT(VirtualHost) *vh = dp_rtb_vhost(&b, rc, "v", "*");
    RT(HeaderMatcher) * h;
    RT(QueryParameterMatcher) * qp;
    RT(Route) * rt;
    struct dp_router *r;
    struct dp_router_hdr hs[3] = {{{"X-Env", 5}, {"staging-eu", 10}},
                                  {{"x-num", 5}, {"42", 2}},
                                  {{"user-agent", 10}, {"curl/8", 6}}};
    struct dp_router_req q;

    rt = named(&b, vh, DP_RTB_PREFIX, "/", "post");
    h = dp_rtb_header(&b, rt, ":method");
    h->header_match_specifier_case =
        ENVOY__CONFIG__ROUTE__V3__HEADER_MATCHER__HEADER_MATCH_SPECIFIER_STRING_MATCH;
    h->string_match = dp_rtb_strm(&b, SM(EXACT), "POST");

    rt = named(&b, vh, DP_RTB_PREFIX, "/", "env");
    h = dp_rtb_header(&b, rt, "x-env");
    h->header_match_specifier_case =
        ENVOY__CONFIG__ROUTE__V3__HEADER_MATCHER__HEADER_MATCH_SPECIFIER_PREFIX_MATCH;
    h->prefix_match = dp_rtb_str(&b, "staging");
    h = dp_rtb_header(&b, rt, "x-env");
    h->header_match_specifier_case =
        ENVOY__CONFIG__ROUTE__V3__HEADER_MATCHER__HEADER_MATCH_SPECIFIER_SAFE_REGEX_MATCH;
    h->safe_regex_match = dp_rtb_regex(&b, "[a-z]+-(eu|us)");

    rt = named(&b, vh, DP_RTB_PREFIX, "/", "not-curl");
    h = dp_rtb_header(&b, rt, "user-agent");
    h->header_match_specifier_case =
        ENVOY__CONFIG__ROUTE__V3__HEADER_MATCHER__HEADER_MATCH_SPECIFIER_CONTAINS_MATCH;
    h->contains_match = dp_rtb_str(&b, "curl");
    h->invert_match = 1;
    h = dp_rtb_header(&b, rt, "x-num");
    h->header_match_specifier_case =
        ENVOY__CONFIG__ROUTE__V3__HEADER_MATCHER__HEADER_MATCH_SPECIFIER_SUFFIX_MATCH;
    h->suffix_match = dp_rtb_str(&b, "2");

    rt = named(&b, vh, DP_RTB_PREFIX, "/", "query");
    qp = dp_rtb_query(&b, rt, "debug");
    qp->query_parameter_match_specifier_case =
        ENVOY__CONFIG__ROUTE__V3__QUERY_PARAMETER_MATCHER__QUERY_PARAMETER_MATCH_SPECIFIER_PRESENT_MATCH;
    qp->present_match = 1;
    qp = dp_rtb_query(&b, rt, "v");
    qp->query_parameter_match_specifier_case =
        ENVOY__CONFIG__ROUTE__V3__QUERY_PARAMETER_MATCHER__QUERY_PARAMETER_MATCH_SPECIFIER_STRING_MATCH;
    qp->string_match = dp_rtb_strm(&b, SM(SAFE_REGEX), "[0-9]+");

    rt = named(&b, vh, DP_RTB_PREFIX, "/", "no-auth");
    h = dp_rtb_header(&b, rt, "authorization");
    h->header_match_specifier_case =
        ENVOY__CONFIG__ROUTE__V3__HEADER_MATCHER__HEADER_MATCH_SPECIFIER_PRESENT_MATCH;
    h->present_match = 0; /* matches when absent */
    h = dp_rtb_header(&b, rt, "x-missing");
    h->header_match_specifier_case =
        ENVOY__CONFIG__ROUTE__V3__HEADER_MATCHER__HEADER_MATCH_SPECIFIER_EXACT_MATCH;
    h->exact_match = dp_rtb_str(&b, "y");
    h->invert_match = 1; /* missing + invert: matches */
    h = dp_rtb_header(&b, rt, "x-num");
    h->header_match_specifier_case =
        ENVOY__CONFIG__ROUTE__V3__HEADER_MATCHER__HEADER_MATCH_SPECIFIER_RANGE_MATCH;
    h->range_match = dp_rtb_alloc(&b, sizeof(*h->range_match));
    envoy__type__v3__int64_range__init(h->range_match);
    h->range_match->start = 40, h->range_match->end = 43;
    r = build(rc);

    assert_string_equal(hit(r, rq("h", "/", "POST")), "v/post");
    q = rq("h", "/", "GET");
    assert_string_equal(hit(r, q), "-");
    q.hdrs = hs, q.n_hdrs = 3; /* header names compared case-insensitively */
    assert_string_equal(hit(r, q), "v/env");
    hs[0].value = sl("staging-asia");
    assert_string_equal(hit(r, q), "v/no-auth"); /* curl: not "not-curl" */
    hs[2].value = sl("firefox");
    assert_string_equal(hit(r, q), "v/not-curl");
    q.n_hdrs = 0;
    assert_string_equal(hit(r, q), "-"); /* x-num missing: neither */
    q = rq("h", "/?debug&v=12", 0);
    assert_string_equal(hit(r, q), "v/query");
    q = rq("h", "/?debug&v=1x", 0);
    assert_string_equal(hit(r, q), "-");
    q = rq("h", "/?v=1&debug=", 0);
    assert_string_equal(hit(r, q), "v/query");
    dp_router_free(r);
    dp_rtb_free(&b);
}

static int cb_header(void *arg, const char *name, size_t len,
                     struct dp_router_slice *v)
{
    if (len == 6 && memcmp(name, "x-mode", 6) == 0) {
        *v = sl(arg);
        return 1;
    }
    return 0;
}

static void test_header_callback_and_case(void **state)
{
    struct dp_rtb b = {0};
    RT(RouteConfiguration) *rc = dp_rtb_config(&b, "web");
    RT(VirtualHost) *vh = dp_rtb_vhost(&b, rc, "v", "*");
    RT(HeaderMatcher) * h;
    RT(Route) * rt;
    struct dp_router *r;
    struct dp_router_req q;

    rt = named(&b, vh, DP_RTB_PREFIX, "/", "mode");
    h = dp_rtb_header(&b, rt, "X-Mode");
    h->header_match_specifier_case =
        ENVOY__CONFIG__ROUTE__V3__HEADER_MATCHER__HEADER_MATCH_SPECIFIER_STRING_MATCH;
    h->string_match = dp_rtb_strm(&b, SM(EXACT), "FAST");
    h->string_match->ignore_case = 1;
    rt = named(&b, vh, DP_RTB_PATH, "/Case", "ci-exact");
    rt->match->case_sensitive = dp_rtb_bool(&b, 0);
    rt = named(&b, vh, DP_RTB_PREFIX, "/Docs/", "ci-prefix");
    rt->match->case_sensitive = dp_rtb_bool(&b, 0);
    named(&b, vh, DP_RTB_PREFIX, "/docs/x", "cs-prefix");
    r = build(rc);
    q = rq("h", "/", 0);
    q.get_header = cb_header, q.get_header_arg = "fast";
    assert_string_equal(hit(r, q), "v/mode");
    q.get_header_arg = "slow";
    assert_string_equal(hit(r, q), "-");
    assert_string_equal(hit(r, rq("h", "/CASE", 0)), "v/ci-exact");
    assert_string_equal(hit(r, rq("h", "/case", 0)), "v/ci-exact");
    assert_string_equal(hit(r, rq("h", "/DOCS/x", 0)), "v/ci-prefix");
    assert_string_equal(hit(r, rq("h", "/docs/x", 0)), "v/ci-prefix");
    dp_router_free(r);
    dp_rtb_free(&b);
}

/* ==== Rewrites and redirects ==== */

static void test_rewrites(void **state)
{
    struct dp_rtb b = {0};
    RT(RouteConfiguration) *rc = dp_rtb_config(&b, "web");
    RT(VirtualHost) *vh = dp_rtb_vhost(&b, rc, "v", "*");
    Envoy__Type__Matcher__V3__RegexMatchAndSubstitute *rs;
    struct dp_router_scratch *s = dp_router_scratch_new();
    const struct dp_route *rt;
    struct dp_router *r;
    struct dp_router_req q;
    char out[64];

    named(&b, vh, DP_RTB_PREFIX, "/strip/", "strip")->route->prefix_rewrite =
        dp_rtb_str(&b, "/");
    named(&b, vh, DP_RTB_PATH, "/old", "whole")->route->prefix_rewrite =
        dp_rtb_str(&b, "/new/place");
    rs = dp_rtb_alloc(&b, sizeof(*rs));
    envoy__type__matcher__v3__regex_match_and_substitute__init(rs);
    rs->pattern = dp_rtb_regex(&b, "^/svc/([^/]+)/(.*)$");
    rs->substitution = dp_rtb_str(&b, "/\\2/instance/\\1");
    named(&b, vh, DP_RTB_PREFIX, "/svc/", "re")->route->regex_rewrite = rs;
    rs = dp_rtb_alloc(&b, sizeof(*rs));
    envoy__type__matcher__v3__regex_match_and_substitute__init(rs);
    rs->pattern = dp_rtb_regex(&b, "o");
    rs->substitution = dp_rtb_str(&b, "0");
    named(&b, vh, DP_RTB_PREFIX, "/foo", "global")->route->regex_rewrite = rs;
    named(&b, vh, DP_RTB_PREFIX, "/", "none");
    r = build(rc);

    q = rq("h", "/strip/a/b?x=1", 0);
    q.scratch = s;
    rt = dp_router_match(r, &q);
    assert_int_equal(
        dp_router_rewrite_path(rt, q.path, q.query, s, out, sizeof(out)), 8);
    assert_string_equal(out, "/a/b?x=1");
    q = rq("h", "/strip/", 0);
    rt = dp_router_match(r, &q);
    dp_router_rewrite_path(rt, q.path, q.query, s, out, sizeof(out));
    assert_string_equal(out, "/");
    q = rq("h", "/old?k", 0);
    rt = dp_router_match(r, &q);
    dp_router_rewrite_path(rt, q.path, q.query, s, out, sizeof(out));
    assert_string_equal(out, "/new/place?k");
    q = rq("h", "/svc/users/list/all?page=2", 0);
    rt = dp_router_match(r, &q);
    dp_router_rewrite_path(rt, q.path, q.query, s, out, sizeof(out));
    assert_string_equal(out, "/list/all/instance/users?page=2");
    /* Without scratch: same result, match data per call. */
    dp_router_rewrite_path(rt, q.path, q.query, NULL, out, sizeof(out));
    assert_string_equal(out, "/list/all/instance/users?page=2");
    q = rq("h", "/foo/boo", 0);
    rt = dp_router_match(r, &q);
    dp_router_rewrite_path(rt, q.path, q.query, s, out, sizeof(out));
    assert_string_equal(out, "/f00/b00");
    q = rq("h", "/plain?a=b", 0);
    rt = dp_router_match(r, &q);
    dp_router_rewrite_path(rt, q.path, q.query, s, out, sizeof(out));
    assert_string_equal(out, "/plain?a=b");
    assert_int_equal(dp_router_rewrite_path(rt, q.path, q.query, s, out, 5),
                     GW_ETOOBIG);
    assert_int_equal(dp_router_rewrite_path(rt, q.path, q.query, s, out, 10),
                     GW_ETOOBIG);
    assert_int_equal(dp_router_rewrite_path(rt, q.path, q.query, s, out, 11),
                     10);
    dp_router_free(r);
    dp_router_scratch_free(s);
    dp_rtb_free(&b);
}

static const char *location(const struct dp_router *r, const char *scheme,
                            const char *host, const char *target)
{
    static char out[256];
    struct dp_router_req q = rq(host, target, 0);
    const struct dp_route *rt;

    q.scheme = sl(scheme);
    rt = dp_router_match(r, &q);
    if (rt == NULL || dp_router_redirect_location(rt, &q, out, sizeof(out)) < 0)
        return "-";
    return out;
}

static void test_redirects(void **state)
{
    struct dp_rtb b = {0};
    RT(RouteConfiguration) *rc = dp_rtb_config(&b, "web");
    RT(VirtualHost) *vh = dp_rtb_vhost(&b, rc, "v", "*");
    RT(RedirectAction) * d;
    struct dp_router *r;
    const struct dp_route *rt;
    struct dp_router_req q;
    char out[16];

    d = dp_rtb_redirect(&b, dp_rtb_route(&b, vh, DP_RTB_PREFIX, "/secure", 0));
    d->scheme_rewrite_specifier_case =
        ENVOY__CONFIG__ROUTE__V3__REDIRECT_ACTION__SCHEME_REWRITE_SPECIFIER_HTTPS_REDIRECT;
    d->https_redirect = 1;
    d = dp_rtb_redirect(&b, dp_rtb_route(&b, vh, DP_RTB_PREFIX, "/moved/", 0));
    d->host_redirect = dp_rtb_str(&b, "new.example.com");
    d->port_redirect = 8443;
    d->path_rewrite_specifier_case =
        ENVOY__CONFIG__ROUTE__V3__REDIRECT_ACTION__PATH_REWRITE_SPECIFIER_PREFIX_REWRITE;
    d->prefix_rewrite = dp_rtb_str(&b, "/v2/");
    d->response_code =
        ENVOY__CONFIG__ROUTE__V3__REDIRECT_ACTION__REDIRECT_RESPONSE_CODE__PERMANENT_REDIRECT;
    d = dp_rtb_redirect(&b, dp_rtb_route(&b, vh, DP_RTB_PATH, "/login", 0));
    d->path_rewrite_specifier_case =
        ENVOY__CONFIG__ROUTE__V3__REDIRECT_ACTION__PATH_REWRITE_SPECIFIER_PATH_REDIRECT;
    d->path_redirect = dp_rtb_str(&b, "/auth/login");
    d->strip_query = 1;
    d->response_code =
        ENVOY__CONFIG__ROUTE__V3__REDIRECT_ACTION__REDIRECT_RESPONSE_CODE__FOUND;
    /* redirectScheme https: common/xds sends port 443, which is left out */
    d = dp_rtb_redirect(&b, dp_rtb_route(&b, vh, DP_RTB_PREFIX, "/tls", 0));
    d->scheme_rewrite_specifier_case =
        ENVOY__CONFIG__ROUTE__V3__REDIRECT_ACTION__SCHEME_REWRITE_SPECIFIER_SCHEME_REDIRECT;
    d->scheme_redirect = dp_rtb_str(&b, "https");
    d->port_redirect = 443;
    named(&b, vh, DP_RTB_PREFIX, "/", "fwd");
    r = build(rc);

    assert_string_equal(location(r, "http", "a.com:8000", "/tls?x"),
                        "https://a.com/tls?x");
    assert_string_equal(location(r, "http", "a.com", "/tls"),
                        "https://a.com/tls");
    assert_string_equal(location(r, "http", "a.com:80", "/secure/x?y=1"),
                        "https://a.com/secure/x?y=1");
    assert_string_equal(location(r, "http", "a.com:8080", "/secure"),
                        "https://a.com:8080/secure");
    assert_string_equal(location(r, "https", "a.com", "/moved/p?q"),
                        "https://new.example.com:8443/v2/p?q");
    assert_string_equal(location(r, "", "a.com", "/login?next=/x"),
                        "http://a.com/auth/login");
    q = rq("a.com", "/login", 0);
    rt = dp_router_match(r, &q);
    assert_int_equal(rt->kind, DP_ROUTE_REDIRECT);
    assert_int_equal(rt->redirect.code, 302);
    assert_int_equal(dp_router_redirect_location(rt, &q, out, sizeof(out)),
                     GW_ETOOBIG);
    q = rq("a.com", "/moved/", 0);
    assert_int_equal(dp_router_match(r, &q)->redirect.code, 308);
    q = rq("a.com", "/other", 0);
    rt = dp_router_match(r, &q);
    assert_int_equal(dp_router_redirect_location(rt, &q, out, sizeof(out)),
                     GW_EINVAL);
    dp_router_free(r);
    dp_rtb_free(&b);
}

/* ==== Actions ==== */

static uint64_t xorshift(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static int resolve(void *arg, const char *name)
{
    static const char *known[] = {"a", "b", "c", "mirror"};
    size_t i;

    for (i = 0; i < 4; i++)
        if (strcmp(known[i], name) == 0)
            return (int)i;
    return -1;
}

static void test_weighted(void **state)
{
    struct dp_rtb b = {0};
    RT(RouteConfiguration) *rc = dp_rtb_config(&b, "web");
    RT(Route) *rt = dp_rtb_route(&b, dp_rtb_vhost(&b, rc, "v", "*"),
                                 DP_RTB_PREFIX, "/", "x");
    const struct dp_route *m;
    struct dp_router *r;
    char err[CM_ERR_LEN];
    int counts[3] = {0}, i;
    uint64_t seed = 88172645463325252ull;
    struct dp_router_req q = rq("h", "/", 0);

    dp_rtb_weighted(&b, rt, "a", 70);
    dp_rtb_weighted(&b, rt, "b", 20);
    dp_rtb_weighted(&b, rt, "c", 10);
    r = dp_router_new(rc, resolve, NULL, err, sizeof(err));
    assert_non_null(r);
    m = dp_router_match(r, &q);
    assert_int_equal(m->kind, DP_ROUTE_WEIGHTED);
    assert_int_equal(m->weighted.total_weight, 100);
    assert_int_equal(m->weighted.clusters[1].cum_weight, 90);
    assert_int_equal(m->weighted.clusters[2].index, 2);
    for (i = 0; i < 100000; i++)
        counts[dp_route_pick_weighted(m, xorshift(&seed))->index]++;
    assert_in_range(counts[0], 69000, 71000);
    assert_in_range(counts[1], 19000, 21000);
    assert_in_range(counts[2], 9000, 11000);
    assert_string_equal(dp_route_pick_weighted(m, 69)->name.ptr, "a");
    assert_string_equal(dp_route_pick_weighted(m, 70)->name.ptr, "b");
    assert_string_equal(dp_route_pick_weighted(m, 99)->name.ptr, "c");
    dp_router_free(r);

    rt->route->weighted_clusters->total_weight = dp_rtb_u32(&b, 90);
    assert_null(dp_router_new(rc, resolve, NULL, err, sizeof(err)));
    assert_string_equal(err, "route_config \"web\": virtual_host \"v\" route "
                             "1: weighted_clusters: total_weight 90 does not "
                             "match the sum of weights 100");
    rt->route->weighted_clusters->total_weight = NULL;
    dp_rtb_weighted(&b, rt, "nope", 1);
    assert_null(dp_router_new(rc, resolve, NULL, err, sizeof(err)));
    assert_string_equal(err, "route_config \"web\": virtual_host \"v\" route "
                             "1: weighted_clusters[3]: cluster \"nope\" not "
                             "found");
    dp_rtb_free(&b);
}

static Envoy__Config__Core__V3__HeaderValueOption *
hvo(struct dp_rtb *b, const char *k, const char *v)
{
    Envoy__Config__Core__V3__HeaderValueOption *o = dp_rtb_alloc(b, sizeof(*o));
    Envoy__Config__Core__V3__HeaderValue *h = dp_rtb_alloc(b, sizeof(*h));

    envoy__config__core__v3__header_value_option__init(o);
    envoy__config__core__v3__header_value__init(h);
    h->key = dp_rtb_str(b, k);
    h->value = dp_rtb_str(b, v);
    o->header = h;
    return o;
}

static void test_route_fields(void **state)
{
    struct dp_rtb b = {0};
    RT(RouteConfiguration) *rc = dp_rtb_config(&b, "web");
    RT(VirtualHost) *vh = dp_rtb_vhost(&b, rc, "v", "*");
    RT(Route) *rt = named(&b, vh, DP_RTB_PREFIX, "/api", "api");
    RT(RouteAction) *a = rt->route;
    RT(RetryPolicy) *rp = dp_rtb_alloc(&b, sizeof(*rp));
    RT(Route__TypedPerFilterConfigEntry) *e = dp_rtb_alloc(&b, sizeof(*e));
    RT(VirtualHost__TypedPerFilterConfigEntry) *ve =
        dp_rtb_alloc(&b, sizeof(*ve));
    Google__Protobuf__Any *any = dp_rtb_alloc(&b, sizeof(*any));
    RT(DirectResponseAction) *dr = dp_rtb_alloc(&b, sizeof(*dr));
    Envoy__Config__Core__V3__DataSource *ds = dp_rtb_alloc(&b, sizeof(*ds));
    RT(RouteAction__HashPolicy) *hp = dp_rtb_alloc(&b, sizeof(*hp));
    RT(RouteAction__HashPolicy__Header) *hh = dp_rtb_alloc(&b, sizeof(*hh));
    const struct dp_route *m;
    struct dp_router *r;
    struct dp_router_req q;

    envoy__config__route__v3__retry_policy__init(rp);
    rp->retry_on =
        dp_rtb_str(&b, "5xx, connect-failure,retriable-status-codes");
    rp->num_retries = dp_rtb_u32(&b, 3);
    rp->per_try_timeout = dp_rtb_dur(&b, 1500);
    vh->retry_policy = rp; /* inherited by the route */
    a->timeout = dp_rtb_dur(&b, 0);
    a->host_rewrite_specifier_case =
        ENVOY__CONFIG__ROUTE__V3__ROUTE_ACTION__HOST_REWRITE_SPECIFIER_HOST_REWRITE_LITERAL;
    a->host_rewrite_literal = dp_rtb_str(&b, "backend.local");
    dp_rtb_push(&b, &rt->request_headers_to_add, &rt->n_request_headers_to_add,
                hvo(&b, "X-Route", "1"));
    dp_rtb_push(&b, &vh->request_headers_to_add, &vh->n_request_headers_to_add,
                hvo(&b, "x-vhost", "2"));
    dp_rtb_push(&b, &rc->response_headers_to_remove,
                &rc->n_response_headers_to_remove, dp_rtb_str(&b, "Server"));
    envoy__config__route__v3__route__typed_per_filter_config_entry__init(e);
    envoy__config__route__v3__virtual_host__typed_per_filter_config_entry__init(
        ve);
    google__protobuf__any__init(any);
    any->type_url = dp_rtb_str(&b, "type.googleapis.com/x.Y");
    any->value.data = (uint8_t *)dp_rtb_str(&b, "\x08\x01");
    any->value.len = 2;
    e->key = dp_rtb_str(&b, "f.a"), e->value = any;
    ve->key = dp_rtb_str(&b, "f.a"), ve->value = any;
    dp_rtb_push(&b, &rt->typed_per_filter_config,
                &rt->n_typed_per_filter_config, e);
    dp_rtb_push(&b, &vh->typed_per_filter_config,
                &vh->n_typed_per_filter_config, ve);
    ve = dp_rtb_alloc(&b, sizeof(*ve));
    envoy__config__route__v3__virtual_host__typed_per_filter_config_entry__init(
        ve);
    ve->key = dp_rtb_str(&b, "f.b"), ve->value = any;
    dp_rtb_push(&b, &vh->typed_per_filter_config,
                &vh->n_typed_per_filter_config, ve);
    envoy__config__route__v3__route_action__hash_policy__init(hp);
    envoy__config__route__v3__route_action__hash_policy__header__init(hh);
    hh->header_name = dp_rtb_str(&b, "X-User");
    hp->policy_specifier_case =
        ENVOY__CONFIG__ROUTE__V3__ROUTE_ACTION__HASH_POLICY__POLICY_SPECIFIER_HEADER;
    hp->header = hh;
    dp_rtb_push(&b, &a->hash_policy, &a->n_hash_policy, hp);

    rt = named(&b, vh, DP_RTB_PATH, "/ping", "ping");
    envoy__config__route__v3__direct_response_action__init(dr);
    envoy__config__core__v3__data_source__init(ds);
    ds->specifier_case =
        ENVOY__CONFIG__CORE__V3__DATA_SOURCE__SPECIFIER_INLINE_STRING;
    ds->inline_string = dp_rtb_str(&b, "pong");
    dr->status = 200, dr->body = ds;
    rt->action_case = ENVOY__CONFIG__ROUTE__V3__ROUTE__ACTION_DIRECT_RESPONSE;
    rt->direct_response = dr;
    r = build(rc);

    q = rq("h", "/api/x", 0);
    m = dp_router_match(r, &q);
    assert_int_equal(m->kind, DP_ROUTE_CLUSTER);
    assert_string_equal(m->cluster.name.ptr, "c1");
    assert_int_equal(m->cluster.index, -1);
    assert_int_equal(m->timeout_ms, 0);
    assert_true(m->flags & DP_ROUTE_F_HAS_RETRY);
    assert_int_equal(m->retry.retry_on, DP_RETRY_5XX |
                                            DP_RETRY_CONNECT_FAILURE |
                                            DP_RETRY_STATUS_CODES);
    assert_int_equal(m->retry.num_retries, 3);
    assert_int_equal(m->retry.per_try_timeout_ms, 1500);
    assert_string_equal(m->host_rewrite_literal.ptr, "backend.local");
    assert_int_equal(m->req_hdrs.n_add, 2);
    assert_string_equal(m->req_hdrs.add[0].name.ptr, "x-route");
    assert_string_equal(m->req_hdrs.add[1].name.ptr, "x-vhost");
    assert_int_equal(m->resp_hdrs.n_remove, 1);
    assert_string_equal(m->resp_hdrs.remove[0].ptr, "server");
    assert_int_equal(m->n_filter_configs, 2);
    assert_ptr_equal(dp_route_filter_config(m, "f.a"), &m->filter_configs[0]);
    assert_string_equal(dp_route_filter_config(m, "f.b")->type_url.ptr,
                        "type.googleapis.com/x.Y");
    assert_int_equal(dp_route_filter_config(m, "f.b")->value.len, 2);
    assert_null(dp_route_filter_config(m, "f.c"));
    assert_int_equal(m->n_hash_policies, 1);
    assert_string_equal(m->hash_policies[0].name.ptr, "x-user");
    q = rq("h", "/ping", 0);
    m = dp_router_match(r, &q);
    assert_int_equal(m->kind, DP_ROUTE_DIRECT);
    assert_int_equal(m->direct.status, 200);
    assert_int_equal(m->direct.body.len, 4);
    assert_int_equal(m->timeout_ms, 0);
    dp_router_free(r);

    /* Default route timeout is Envoy's 15 s. */
    a->timeout = NULL;
    r = build(rc);
    q = rq("h", "/api", 0);
    assert_int_equal(dp_router_match(r, &q)->timeout_ms, 15000);
    dp_router_free(r);
    dp_rtb_free(&b);
}

/* ==== Errors ==== */

static void test_errors(void **state)
{
    struct dp_rtb b = {0};
    RT(RouteConfiguration) *rc = dp_rtb_config(&b, "web");
    RT(VirtualHost) *vh = dp_rtb_vhost(&b, rc, "whoami", "a.com");
    RT(Route) * rt;
    char err[CM_ERR_LEN];

    dp_rtb_route(&b, vh, DP_RTB_PREFIX, "/", "svc");
    rt = dp_rtb_route(&b, vh, DP_RTB_REGEX, "/(abc", "svc");
    expect_error(rc, "route_config \"web\": virtual_host \"whoami\" route 2: "
                     "safe_regex: missing closing parenthesis at offset 5");
    rt->match->safe_regex->regex = dp_rtb_str(&b, "/(a)\\1");
    expect_error(rc, "route_config \"web\": virtual_host \"whoami\" route 2: "
                     "safe_regex: backreferences are not supported (RE2 "
                     "syntax)");
    rt->match->safe_regex->regex = dp_rtb_str(&b, "/(abc)");
    assert_non_null(rt = dp_rtb_route(&b, vh, DP_RTB_PREFIX, "/x", NULL));
    expect_error(rc, "route_config \"web\": virtual_host \"whoami\" route 3: "
                     "no action");
    vh->n_routes = 2;
    dp_rtb_vhost(&b, rc, "dup", "x.com,A.com");
    expect_error(rc, "route_config \"web\": virtual_host \"dup\": domains: "
                     "duplicate domain \"A.com\"");
    rc->virtual_hosts[1]->domains[1] = dp_rtb_str(&b, "a.*.com");
    expect_error(rc, "route_config \"web\": virtual_host \"dup\": domains: "
                     "invalid domain \"a.*.com\"");
    rc->n_virtual_hosts = 1;
    assert_null(dp_router_new(rc, resolve, NULL, err, sizeof(err)));
    assert_string_equal(err, "route_config \"web\": virtual_host \"whoami\" "
                             "route 1: route: cluster \"svc\" not found");
    rt = dp_rtb_route(&b, vh, DP_RTB_PREFIX, "/h", "c");
    dp_rtb_push(&b, &rt->request_headers_to_add, &rt->n_request_headers_to_add,
                hvo(&b, "Host", "x"));
    expect_error(rc, "route_config \"web\": virtual_host \"whoami\" route 3: "
                     "request_headers_to_add[0]: header \"Host\" may not be "
                     "modified");
    rt->n_request_headers_to_add = 0;
    rt->route->retry_policy = dp_rtb_alloc(&b, sizeof(RT(RetryPolicy)));
    envoy__config__route__v3__retry_policy__init(rt->route->retry_policy);
    rt->route->retry_policy->retry_on = dp_rtb_str(&b, "5xx,bogus");
    expect_error(rc, "route_config \"web\": virtual_host \"whoami\" route 3: "
                     "retry_policy: unknown retry_on \"bogus\"");
    dp_rtb_free(&b);
}

static void test_scratch_regex(void **state)
{
    struct dp_rtb b = {0};
    RT(RouteConfiguration) *rc = dp_rtb_config(&b, "web");
    RT(VirtualHost) *vh = dp_rtb_vhost(&b, rc, "v", "*");
    struct dp_router_scratch *s = dp_router_scratch_new();
    struct dp_router *r;
    struct dp_router_req q;

    named(&b, vh, DP_RTB_REGEX, "/u/[0-9]+", "num");
    named(&b, vh, DP_RTB_REGEX, "/u/.*", "any");
    r = build(rc);
    q = rq("h", "/u/123", 0);
    q.scratch = s;
    assert_string_equal(hit(r, q), "v/num");
    q = rq("h", "/u/12a", 0); /* full match, not search */
    q.scratch = s;
    assert_string_equal(hit(r, q), "v/any");
    q = rq("h", "/x/u/1", 0);
    q.scratch = s;
    assert_string_equal(hit(r, q), "-");
    dp_router_free(r);
    dp_router_scratch_free(s);
    dp_rtb_free(&b);
}

/* A ClientIP-style condition: true when the route's name is in the arg. */
static bool cond_named(void *arg, const struct dp_route *rt)
{
    return strstr((const char *)arg, rt->name.ptr) != NULL;
}

/* Routes with a traefikee.filters.client_ip config are conditional: a
 * failed condition falls through to the next route, in every index. */
static void test_match_condition(void **state)
{
    struct dp_rtb b = {0};
    RT(RouteConfiguration) *rc = dp_rtb_config(&b, "rc");
    RT(VirtualHost) *vh = dp_rtb_vhost(&b, rc, "v", "*");
    RT(Route) * rts[3];
    struct dp_router *r;
    struct dp_router_req q;

    (void)state;
    rts[0] = named(&b, vh, DP_RTB_PATH, "/a", "exact");
    rts[1] = named(&b, vh, DP_RTB_PREFIX, "/a", "prefix");
    rts[2] = named(&b, vh, DP_RTB_REGEX, "/a.*", "regex");
    named(&b, vh, DP_RTB_PREFIX, "/", "last");
    for (int i = 0; i < 3; i++) {
        RT(Route__TypedPerFilterConfigEntry) *e = dp_rtb_alloc(&b, sizeof(*e));
        Google__Protobuf__Any *any = dp_rtb_alloc(&b, sizeof(*any));
        envoy__config__route__v3__route__typed_per_filter_config_entry__init(e);
        google__protobuf__any__init(any);
        any->type_url = dp_rtb_str(&b, "type.googleapis.com/x.ClientIpMatch");
        e->key = dp_rtb_str(&b, "traefikee.filters.client_ip");
        e->value = any;
        dp_rtb_push(&b, &rts[i]->typed_per_filter_config,
                    &rts[i]->n_typed_per_filter_config, e);
    }
    r = build(rc);
    q = rq("h", "/a", 0);
    assert_string_equal(hit(r, q), "v/last"); /* no callback: never */
    q.cond = cond_named;
    q.cond_arg = "exact prefix regex";
    assert_string_equal(hit(r, q), "v/exact");
    q.cond_arg = "prefix regex";
    assert_string_equal(hit(r, q), "v/prefix");
    q.cond_arg = "regex";
    assert_string_equal(hit(r, q), "v/regex");
    q.cond_arg = "";
    assert_string_equal(hit(r, q), "v/last");
    assert_false(dp_router_match(r, &q)->flags & DP_ROUTE_F_COND);
    q.cond_arg = "exact";
    assert_true(dp_router_match(r, &q)->flags & DP_ROUTE_F_COND);
    dp_router_free(r);
    dp_rtb_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hosts),
        cmocka_unit_test(test_order),
        cmocka_unit_test(test_order_with_headers),
        cmocka_unit_test(test_headers_query_method),
        cmocka_unit_test(test_header_callback_and_case),
        cmocka_unit_test(test_rewrites),
        cmocka_unit_test(test_redirects),
        cmocka_unit_test(test_weighted),
        cmocka_unit_test(test_route_fields),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_scratch_regex),
        cmocka_unit_test(test_match_condition),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
