/*
 * router_seeds.c -- writes the fuzz seed corpus: a few encoded
 * RouteConfigurations built with router_testlib, one file each, into the
 * directory given as argv[1] (testdata/router_fuzz). Run by hand:
 * bazel run //dataplane/router:router_seeds --
 * $PWD/dataplane/router/testdata/router_fuzz
 */
#include <stdio.h>
#include <stdlib.h>

#include "dataplane/router/router_testlib.h"

#define RT(x) Envoy__Config__Route__V3__##x

static int write_seed(const char *dir, const char *name,
                      const RT(RouteConfiguration) * rc)
{
    size_t n =
        envoy__config__route__v3__route_configuration__get_packed_size(rc);
    uint8_t *buf = malloc(n ? n : 1);
    char path[1024];
    FILE *f;

    if (buf == NULL)
        return -1;
    envoy__config__route__v3__route_configuration__pack(rc, buf);
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "wb");
    if (f == NULL || fwrite(buf, 1, n, f) != n) {
        free(buf);
        return -1;
    }
    fclose(f);
    free(buf);
    return 0;
}

static RT(RouteConfiguration) * basic(struct dp_rtb *b)
{
    RT(RouteConfiguration) *rc = dp_rtb_config(b, "web");
    RT(VirtualHost) *vh = dp_rtb_vhost(b, rc, "whoami", "whoami.localhost");
    RT(Route) * rt;

    dp_rtb_route(b, vh, DP_RTB_PATH, "/exact", "a");
    rt = dp_rtb_route(b, vh, DP_RTB_PREFIX, "/whoami", "whoami");
    rt->route->prefix_rewrite = dp_rtb_str(b, "/");
    vh = dp_rtb_vhost(b, rc, "any", "*,*.example.com,foo.*");
    dp_rtb_route(b, vh, DP_RTB_PREFIX, "/", "default");
    return rc;
}

static RT(RouteConfiguration) * matchers(struct dp_rtb *b)
{
    RT(RouteConfiguration) *rc = dp_rtb_config(b, "m");
    RT(VirtualHost) *vh = dp_rtb_vhost(b, rc, "v", "*");
    RT(Route) *rt = dp_rtb_route(b, vh, DP_RTB_REGEX, "/a/(.*)", "a");
    RT(HeaderMatcher) *h = dp_rtb_header(b, rt, "x-a");
    RT(QueryParameterMatcher) *q = dp_rtb_query(b, rt, "a");
    Envoy__Type__Matcher__V3__RegexMatchAndSubstitute *rs =
        dp_rtb_alloc(b, sizeof(*rs));

    h->header_match_specifier_case =
        ENVOY__CONFIG__ROUTE__V3__HEADER_MATCHER__HEADER_MATCH_SPECIFIER_STRING_MATCH;
    h->string_match = dp_rtb_strm(
        b, ENVOY__TYPE__MATCHER__V3__STRING_MATCHER__MATCH_PATTERN_PREFIX, "1");
    q->query_parameter_match_specifier_case =
        ENVOY__CONFIG__ROUTE__V3__QUERY_PARAMETER_MATCHER__QUERY_PARAMETER_MATCH_SPECIFIER_PRESENT_MATCH;
    q->present_match = 1;
    envoy__type__matcher__v3__regex_match_and_substitute__init(rs);
    rs->pattern = dp_rtb_regex(b, "/a/(.*)");
    rs->substitution = dp_rtb_str(b, "/\\1/z");
    rt->route->regex_rewrite = rs;
    rt = dp_rtb_route(b, vh, DP_RTB_SEP_PREFIX, "/b", "b");
    rt->match->case_sensitive = dp_rtb_bool(b, 0);
    rt = dp_rtb_route(b, vh, DP_RTB_PREFIX, "/w", "x");
    dp_rtb_weighted(b, rt, "a", 3);
    dp_rtb_weighted(b, rt, "b", 1);
    return rc;
}

static RT(RouteConfiguration) * redirects(struct dp_rtb *b)
{
    RT(RouteConfiguration) *rc = dp_rtb_config(b, "r");
    RT(VirtualHost) *vh = dp_rtb_vhost(b, rc, "v", "a.com");
    RT(RedirectAction) *d =
        dp_rtb_redirect(b, dp_rtb_route(b, vh, DP_RTB_PREFIX, "/old", 0));

    d->https_redirect = 1;
    d->scheme_rewrite_specifier_case =
        ENVOY__CONFIG__ROUTE__V3__REDIRECT_ACTION__SCHEME_REWRITE_SPECIFIER_HTTPS_REDIRECT;
    d->prefix_rewrite = dp_rtb_str(b, "/new");
    d->path_rewrite_specifier_case =
        ENVOY__CONFIG__ROUTE__V3__REDIRECT_ACTION__PATH_REWRITE_SPECIFIER_PREFIX_REWRITE;
    d->port_redirect = 8443;
    return rc;
}

int main(int argc, char **argv)
{
    struct dp_rtb b = {0};
    int rc = 0;

    if (argc != 2) {
        fprintf(stderr, "usage: router_seeds DIR\n");
        return 2;
    }
    rc |= write_seed(argv[1], "basic.pb", basic(&b));
    rc |= write_seed(argv[1], "matchers.pb", matchers(&b));
    rc |= write_seed(argv[1], "redirects.pb", redirects(&b));
    dp_rtb_free(&b);
    if (rc != 0)
        perror("router_seeds");
    return rc ? 1 : 0;
}
