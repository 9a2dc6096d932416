/*
 * xds_match.c -- one rule conjunction (common/rule DNF) to an xDS
 * RouteMatch: the path specifier, header and query matchers, the virtual
 * host the route belongs to, and the ClientIP condition (our ClientIpMatch
 * per-route config). Traefik's regex matchers are unanchored (Go
 * MatchString); Envoy's safe_regex is a full match, hence
 * cm_xds__full_regex().
 */
#include "common/xds/xds_int.h"

#include <ctype.h>
#include <string.h>

#include "traefikee/filters/v1/filters.pb-c.h"

typedef Envoy__Config__Route__V3__RouteMatch RouteMatch;
typedef Envoy__Config__Route__V3__HeaderMatcher HeaderMatcher;
typedef Envoy__Config__Route__V3__QueryParameterMatcher QueryMatcher;
typedef Envoy__Type__Matcher__V3__StringMatcher StringMatcher;
typedef Envoy__Type__Matcher__V3__RegexMatcher RegexMatcher;

/* ==== Regexes ==== */

const char *cm_xds__quote_regex(struct cm_xds__ctx *c, const char *s)
{
    char *q = cm_xds__alloc(c, c->out, 2 * strlen(s) + 1);
    char *o = q;
    for (; *s != '\0'; s++) {
        if (strchr("\\.+*?()|[]{}^$", *s) != NULL)
            *o++ = '\\';
        *o++ = *s;
    }
    *o = '\0';
    return q;
}

/* Whether <re> ends with a '$' that is not escaped. */
static int ends_anchored(const char *re)
{
    size_t n = strlen(re), bs = 0;
    if (n == 0 || re[n - 1] != '$')
        return 0;
    for (size_t i = n - 1; i > 0 && re[i - 1] == '\\'; i--)
        bs++;
    return bs % 2 == 0;
}

const char *cm_xds__full_regex(struct cm_xds__ctx *c, const char *re)
{
    if (re[0] == '^' && ends_anchored(re) && strchr(re, '|') == NULL)
        return cm_xds__str(c, re);
    return cm_xds__printf(c, "(?s:.*)(?:%s)(?s:.*)", re);
}

static RegexMatcher *regex(struct cm_xds__ctx *c, const char *full)
{
    RegexMatcher *r =
        cm_xds__msg(c, &envoy__type__matcher__v3__regex_matcher__descriptor);
    r->engine_type_case =
        ENVOY__TYPE__MATCHER__V3__REGEX_MATCHER__ENGINE_TYPE_GOOGLE_RE2;
    r->google_re2 = cm_xds__msg(
        c, &envoy__type__matcher__v3__regex_matcher__google_re2__descriptor);
    r->regex = (char *)full;
    return r;
}

/* "*.suffix" when <re> matches exactly the host names that Envoy's
 * wildcard domain "*.suffix" matches: (^)?.+\.label(\.label)*$ with
 * lower-case labels; else NULL. */
static const char *wildcard(struct cm_xds__ctx *c, const char *re)
{
    const char *p = re;
    if (*p == '^')
        p++;
    if (strncmp(p, ".+\\.", 4) != 0)
        return NULL;
    p += 4;
    char *dom = cm_xds__alloc(c, c->out, strlen(p) + 3);
    char *o = dom;
    *o++ = '*';
    *o++ = '.';
    int label = 0;
    for (; *p != '\0' && *p != '$'; p++) {
        if (p[0] == '\\' && p[1] == '.') {
            if (label == 0)
                return NULL;
            *o++ = '.';
            label = 0;
            p++;
            continue;
        }
        if (!(islower((unsigned char)*p) || isdigit((unsigned char)*p) ||
              *p == '-'))
            return NULL;
        *o++ = *p;
        label++;
    }
    if (*p != '$' || p[1] != '\0' || label == 0)
        return NULL;
    *o = '\0';
    return dom;
}

/* ==== Matchers ==== */

static StringMatcher *exact(struct cm_xds__ctx *c, const char *v)
{
    StringMatcher *s =
        cm_xds__msg(c, &envoy__type__matcher__v3__string_matcher__descriptor);
    s->match_pattern_case =
        ENVOY__TYPE__MATCHER__V3__STRING_MATCHER__MATCH_PATTERN_EXACT;
    s->exact = cm_xds__str(c, v);
    return s;
}

static StringMatcher *sregex(struct cm_xds__ctx *c, const char *re)
{
    StringMatcher *s =
        cm_xds__msg(c, &envoy__type__matcher__v3__string_matcher__descriptor);
    s->match_pattern_case =
        ENVOY__TYPE__MATCHER__V3__STRING_MATCHER__MATCH_PATTERN_SAFE_REGEX;
    s->safe_regex = regex(c, cm_xds__full_regex(c, re));
    return s;
}

static char *header_name(struct cm_xds__ctx *c, const char *name)
{
    if (strcasecmp(name, "host") == 0)
        return cm_xds__str(c, ":authority");
    char *n = cm_xds__str(c, name);
    for (char *p = n; *p != '\0'; p++)
        *p = (char)tolower((unsigned char)*p);
    return n;
}

static void add_header(struct cm_xds__ctx *c, RouteMatch *m, const char *name,
                       StringMatcher *sm, int negated)
{
    HeaderMatcher *h =
        cm_xds__msg(c, &envoy__config__route__v3__header_matcher__descriptor);
    h->name = header_name(c, name);
    h->header_match_specifier_case =
        ENVOY__CONFIG__ROUTE__V3__HEADER_MATCHER__HEADER_MATCH_SPECIFIER_STRING_MATCH;
    h->string_match = sm;
    h->invert_match = negated != 0;
    cm_xds__push(c, c->out, &m->headers, &m->n_headers, h);
}

static void add_query(struct cm_xds__ctx *c, RouteMatch *m,
                      const struct cm_rule_lit *l)
{
    QueryMatcher *q = cm_xds__msg(
        c, &envoy__config__route__v3__query_parameter_matcher__descriptor);
    q->name = cm_xds__str(c, l->args[0]);
    if (l->nargs == 1) {
        q->query_parameter_match_specifier_case =
            ENVOY__CONFIG__ROUTE__V3__QUERY_PARAMETER_MATCHER__QUERY_PARAMETER_MATCH_SPECIFIER_PRESENT_MATCH;
        q->present_match = 1;
    } else {
        q->query_parameter_match_specifier_case =
            ENVOY__CONFIG__ROUTE__V3__QUERY_PARAMETER_MATCHER__QUERY_PARAMETER_MATCH_SPECIFIER_STRING_MATCH;
        q->string_match = l->matcher == CM_RULE_QUERY ? exact(c, l->args[1])
                                                      : sregex(c, l->args[1]);
    }
    cm_xds__push(c, c->out, &m->query_parameters, &m->n_query_parameters, q);
}

static void set_path(struct cm_xds__ctx *c, RouteMatch *m,
                     const struct cm_rule_lit *l)
{
    if (l == NULL) {
        m->path_specifier_case =
            ENVOY__CONFIG__ROUTE__V3__ROUTE_MATCH__PATH_SPECIFIER_PREFIX;
        m->prefix = cm_xds__str(c, "/");
        return;
    }
    switch (l->matcher) {
    case CM_RULE_PATH:
        m->path_specifier_case =
            ENVOY__CONFIG__ROUTE__V3__ROUTE_MATCH__PATH_SPECIFIER_PATH;
        m->path = cm_xds__str(c, l->args[0]);
        break;
    case CM_RULE_PATH_PREFIX:
        m->path_specifier_case =
            ENVOY__CONFIG__ROUTE__V3__ROUTE_MATCH__PATH_SPECIFIER_PREFIX;
        m->prefix = cm_xds__str(c, l->args[0]);
        break;
    default:
        m->path_specifier_case =
            ENVOY__CONFIG__ROUTE__V3__ROUTE_MATCH__PATH_SPECIFIER_SAFE_REGEX;
        m->safe_regex = regex(c, cm_xds__full_regex(c, l->args[0]));
        break;
    }
}

static void set_host(struct cm_xds__ctx *c, struct cm_xds__route *route,
                     RouteMatch *m, const struct cm_rule_lit *l)
{
    route->host_kind = CM_XDS__HOST_ANY;
    if (l == NULL)
        return;
    if (l->matcher == CM_RULE_HOST) {
        route->host_kind = CM_XDS__HOST_EXACT;
        route->host = cm_xds__str(c, l->args[0]);
        return;
    }
    route->host = wildcard(c, l->args[0]);
    if (route->host != NULL) {
        route->host_kind = CM_XDS__HOST_WILDCARD;
        return;
    }
    route->host_kind = CM_XDS__HOST_REGEX;
    add_header(c, m, ":authority", sregex(c, l->args[0]), 0);
}

static void client_ip(struct cm_xds__ctx *c, struct cm_xds__route *route,
                      const struct cm_rule_conj *cj)
{
    size_t n = cm_rule_conj_count(cj, CM_RULE_CLIENT_IP);
    if (n == 0)
        return;
    Traefikee__Filters__V1__ClientIpMatch *ci =
        cm_xds__msg(c, &traefikee__filters__v1__client_ip_match__descriptor);
    for (size_t i = 0; i < n; i++) {
        const struct cm_rule_lit *l =
            cm_rule_conj_nth(cj, CM_RULE_CLIENT_IP, i);
        char *v = cm_xds__str(c, l->args[0]);
        if (l->negated)
            cm_xds__push(c, c->out, &ci->none_of, &ci->n_none_of, v);
        else
            cm_xds__push(c, c->out, &ci->all_of, &ci->n_all_of, v);
    }
    route->client_ip = cm_xds__any(c, &ci->base);
    route->filters |= 1u << CM_XDS_F_CLIENT_IP;
}

int cm_xds__match(struct cm_xds__ctx *c, struct cm_xds__route *route,
                  const struct cm_rule_conj *cj)
{
    char err[CM_ERR_LEN];
    const char *name = route->rt->r->name;
    if (cm_rule_conj_check_xds(cj, err, sizeof(err)) != 0)
        return cm_xds__fail(c, "router \"%s\": %s", name, err);

    RouteMatch *m =
        cm_xds__msg(c, &envoy__config__route__v3__route_match__descriptor);
    set_path(c, m, cm_rule_conj_path(cj));
    set_host(c, route, m, cm_rule_conj_host(cj));
    size_t n = cm_rule_conj_count(cj, CM_RULE_METHOD);
    for (size_t i = 0; i < n; i++) {
        const struct cm_rule_lit *l = cm_rule_conj_nth(cj, CM_RULE_METHOD, i);
        add_header(c, m, ":method", exact(c, l->args[0]), l->negated);
    }
    static const enum cm_rule_matcher hk[] = {CM_RULE_HEADER,
                                              CM_RULE_HEADER_REGEXP};
    for (size_t k = 0; k < 2; k++) {
        n = cm_rule_conj_count(cj, hk[k]);
        for (size_t i = 0; i < n; i++) {
            const struct cm_rule_lit *l = cm_rule_conj_nth(cj, hk[k], i);
            StringMatcher *sm = hk[k] == CM_RULE_HEADER ? exact(c, l->args[1])
                                                        : sregex(c, l->args[1]);
            add_header(c, m, l->args[0], sm, l->negated);
        }
    }
    static const enum cm_rule_matcher qk[] = {CM_RULE_QUERY,
                                              CM_RULE_QUERY_REGEXP};
    for (size_t k = 0; k < 2; k++) {
        n = cm_rule_conj_count(cj, qk[k]);
        for (size_t i = 0; i < n; i++)
            add_query(c, m, cm_rule_conj_nth(cj, qk[k], i));
    }
    client_ip(c, route, cj);
    route->msg->match = m;
    return 0;
}
