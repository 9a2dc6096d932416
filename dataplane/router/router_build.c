/*
 * router_build.c -- dp_router_new(): validates a decoded RouteConfiguration
 * and compiles it (routes, matchers, actions, indexes) into the router's
 * arena. Runs on the configuration thread; the message is only borrowed.
 * Every error names route config, virtual host, route and field, because it
 * becomes the error_detail of an xDS NACK.
 */
#include "dataplane/router/router_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Shorter names for the generated message types and constants. */
#define RT(x)    Envoy__Config__Route__V3__##x
#define MT(x)    Envoy__Type__Matcher__V3__##x
#define CORE(x)  Envoy__Config__Core__V3__##x
#define PSPEC(x) ENVOY__CONFIG__ROUTE__V3__ROUTE_MATCH__PATH_SPECIFIER_##x
#define HMS(x)                                                                 \
    ENVOY__CONFIG__ROUTE__V3__HEADER_MATCHER__HEADER_MATCH_SPECIFIER_##x
#define SMP(x)   ENVOY__TYPE__MATCHER__V3__STRING_MATCHER__MATCH_PATTERN_##x
#define ACT(x)   ENVOY__CONFIG__ROUTE__V3__ROUTE__ACTION_##x
#define CSPEC(x) ENVOY__CONFIG__ROUTE__V3__ROUTE_ACTION__CLUSTER_SPECIFIER_##x
#define HRW(x)                                                                 \
    ENVOY__CONFIG__ROUTE__V3__ROUTE_ACTION__HOST_REWRITE_SPECIFIER_##x
#define HPOL(x)                                                                \
    ENVOY__CONFIG__ROUTE__V3__ROUTE_ACTION__HASH_POLICY__POLICY_SPECIFIER_##x
#define RDR(x) ENVOY__CONFIG__ROUTE__V3__REDIRECT_ACTION__##x

#define MAX_DURATION_S 315576000000ll

struct build {
    struct dp_router *r;
    const RT(RouteConfiguration) * rc;
    const RT(VirtualHost) * vh;
    dp_router_cluster_cb resolve;
    void *resolve_arg;
    char *err;
    size_t len;
    /* where the build is, formatted only for an error message:
     * `route_config "x": virtual_host "y" route N: ` (no virtual host when
     * where_vh is NULL; no route when where_route is 0) */
    const char *where_vh;
    size_t where_route;
};

static void where(const struct build *b, char *buf, size_t size);

static int fail(struct build *b, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct build *b, int code, const char *fmt, ...)
{
    char msg[CM_ERR_LEN], at[320];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    where(b, at, sizeof(at));
    return cm_err_set(b->err, b->len, code, "%s%s", at, msg);
}

static int oom(struct build *b)
{
    return fail(b, GW_ENOMEM, "out of memory");
}

static void *balloc(struct build *b, size_t n, size_t size)
{
    if (size != 0 && n > SIZE_MAX / size)
        return NULL;
    return dp_router__alloc(&b->r->arena, n * size);
}

/* Copies <s> (NULL = "") into the arena as a slice; sets *out. */
static int bstr(struct build *b, const char *s, bool lower,
                struct dp_router_slice *out)
{
    size_t n = s ? strlen(s) : 0;
    char *d = dp_router__strndup(&b->r->arena, s ? s : "", n, lower);

    if (d == NULL)
        return oom(b);
    *out = (struct dp_router_slice){d, n};
    return GW_OK;
}

static bool is_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* A header name: an HTTP token, or ':' followed by one. */
static bool is_header_name(const char *s)
{
    if (s == NULL || *s == '\0')
        return false;
    if (*s == ':')
        s++;
    if (*s == '\0')
        return false;
    for (; *s; s++)
        if (!is_tchar((unsigned char)*s))
            return false;
    return true;
}

static int duration_ms(struct build *b, const char *field,
                       const Google__Protobuf__Duration *d, uint64_t *out)
{
    if (d->seconds < 0 || d->nanos < 0 || d->nanos > 999999999 ||
        d->seconds > MAX_DURATION_S)
        return fail(b, GW_EINVAL, "%s: invalid duration", field);
    *out = (uint64_t)d->seconds * 1000 + (uint64_t)d->nanos / 1000000;
    return GW_OK;
}

static int resolve(struct build *b, const char *field, const char *name,
                   int *index)
{
    *index = -1;
    if (b->resolve == NULL)
        return GW_OK;
    *index = b->resolve(b->resolve_arg, name);
    if (*index < 0)
        return fail(b, GW_ENOENT, "%s: cluster \"%s\" not found", field, name);
    return GW_OK;
}

/* ==== Matchers ==== */

static int regex(struct build *b, const char *field, const MT(RegexMatcher) * m,
                 bool full, const struct dp_router_regex **out)
{
    char msg[200];
    int rc;

    if (m == NULL || m->regex == NULL || m->regex[0] == '\0')
        return fail(b, GW_EINVAL, "%s: regex is empty", field);
    rc = dp_router__regex_compile(b->r, m->regex, full, out, msg, sizeof(msg));
    if (rc != GW_OK)
        return fail(b, rc, "%s: %s", field, msg);
    return GW_OK;
}

static int string_matcher(struct build *b, const char *field,
                          const MT(StringMatcher) * m,
                          struct dp_router__strm *out)
{
    const char *s = NULL;

    out->icase = m->ignore_case;
    switch (m->match_pattern_case) {
    case SMP(EXACT):
        out->kind = DP_ROUTER__SM_EXACT, s = m->exact;
        break;
    case SMP(PREFIX):
        out->kind = DP_ROUTER__SM_PREFIX, s = m->prefix;
        break;
    case SMP(SUFFIX):
        out->kind = DP_ROUTER__SM_SUFFIX, s = m->suffix;
        break;
    case SMP(CONTAINS):
        out->kind = DP_ROUTER__SM_CONTAINS, s = m->contains;
        break;
    case SMP(SAFE_REGEX):
        if (m->ignore_case)
            return fail(b, GW_EINVAL, "%s: ignore_case with safe_regex", field);
        out->kind = DP_ROUTER__SM_REGEX;
        return regex(b, field, m->safe_regex, true, &out->re);
    default:
        return fail(b, GW_EINVAL, "%s: no match pattern", field);
    }
    if (out->kind != DP_ROUTER__SM_EXACT && (s == NULL || *s == '\0'))
        return fail(b, GW_EINVAL, "%s: empty pattern", field);
    return bstr(b, s, out->icase, &out->s);
}

static uint8_t pseudo_of(const char *name)
{
    if (strcmp(name, ":method") == 0)
        return DP_ROUTER__PS_METHOD;
    if (strcmp(name, ":authority") == 0 || strcmp(name, "host") == 0)
        return DP_ROUTER__PS_AUTHORITY;
    if (strcmp(name, ":path") == 0)
        return DP_ROUTER__PS_PATH;
    if (strcmp(name, ":scheme") == 0)
        return DP_ROUTER__PS_SCHEME;
    return DP_ROUTER__PS_NONE;
}

/* The legacy exact/prefix/suffix/contains forms as a string matcher. */
static int legacy_string(struct build *b, const char *field, uint8_t kind,
                         const char *s, struct dp_router__strm *out)
{
    out->kind = kind;
    if (kind != DP_ROUTER__SM_EXACT && (s == NULL || *s == '\0'))
        return fail(b, GW_EINVAL, "%s: empty pattern", field);
    return bstr(b, s, false, &out->s);
}

static int header_matcher(struct build *b, size_t i,
                          const RT(HeaderMatcher) * m,
                          struct dp_router__hdrm *out)
{
    char field[48];

    snprintf(field, sizeof(field), "headers[%zu]", i);
    if (!is_header_name(m->name))
        return fail(b, GW_EINVAL, "%s: invalid header name \"%s\"", field,
                    m->name ? m->name : "");
    if (bstr(b, m->name, true, &out->name) != GW_OK)
        return GW_ENOMEM;
    out->pseudo = pseudo_of(out->name.ptr);
    out->invert = m->invert_match;
    out->missing_empty = m->treat_missing_header_as_empty;
    switch (m->header_match_specifier_case) {
    case HMS(EXACT_MATCH):
        return legacy_string(b, field, DP_ROUTER__SM_EXACT, m->exact_match,
                             &out->sm);
    case HMS(PREFIX_MATCH):
        return legacy_string(b, field, DP_ROUTER__SM_PREFIX, m->prefix_match,
                             &out->sm);
    case HMS(SUFFIX_MATCH):
        return legacy_string(b, field, DP_ROUTER__SM_SUFFIX, m->suffix_match,
                             &out->sm);
    case HMS(CONTAINS_MATCH):
        return legacy_string(b, field, DP_ROUTER__SM_CONTAINS,
                             m->contains_match, &out->sm);
    case HMS(SAFE_REGEX_MATCH):
        out->sm.kind = DP_ROUTER__SM_REGEX;
        return regex(b, field, m->safe_regex_match, true, &out->sm.re);
    case HMS(STRING_MATCH):
        return string_matcher(b, field, m->string_match, &out->sm);
    case HMS(PRESENT_MATCH):
        out->kind = DP_ROUTER__HM_PRESENT;
        out->present = m->present_match;
        return GW_OK;
    case HMS(RANGE_MATCH):
        out->kind = DP_ROUTER__HM_RANGE;
        out->start = m->range_match->start;
        out->end = m->range_match->end;
        if (out->start >= out->end)
            return fail(b, GW_EINVAL, "%s: range_match start >= end", field);
        return GW_OK;
    default:
        /* Envoy: no specifier means "present". */
        out->kind = DP_ROUTER__HM_PRESENT;
        out->present = true;
        return GW_OK;
    }
}

static int query_matcher(struct build *b, size_t i,
                         const RT(QueryParameterMatcher) * m,
                         struct dp_router__qm *out)
{
    char field[48];

    snprintf(field, sizeof(field), "query_parameters[%zu]", i);
    if (m->name == NULL || m->name[0] == '\0')
        return fail(b, GW_EINVAL, "%s: empty name", field);
    if (bstr(b, m->name, false, &out->name) != GW_OK)
        return GW_ENOMEM;
    switch (m->query_parameter_match_specifier_case) {
    case ENVOY__CONFIG__ROUTE__V3__QUERY_PARAMETER_MATCHER__QUERY_PARAMETER_MATCH_SPECIFIER_STRING_MATCH:
        return string_matcher(b, field, m->string_match, &out->sm);
    case ENVOY__CONFIG__ROUTE__V3__QUERY_PARAMETER_MATCHER__QUERY_PARAMETER_MATCH_SPECIFIER_PRESENT_MATCH:
        if (!m->present_match)
            return fail(b, GW_EINVAL, "%s: present_match must be true", field);
        out->present_only = true;
        return GW_OK;
    default:
        return fail(b, GW_EINVAL, "%s: no match specifier", field);
    }
}

static int path_matcher(struct build *b, const RT(RouteMatch) * m,
                        struct dp_router__rmatch *out)
{
    out->icase = m->case_sensitive != NULL && !m->case_sensitive->value;
    switch (m->path_specifier_case) {
    case PSPEC(PREFIX):
        out->kind = DP_ROUTE_MATCH_PREFIX;
        return bstr(b, m->prefix, false, &out->s);
    case PSPEC(PATH):
        out->kind = DP_ROUTE_MATCH_PATH;
        return bstr(b, m->path, false, &out->s);
    case PSPEC(PATH_SEPARATED_PREFIX): {
        const char *p = m->path_separated_prefix;
        size_t n = p ? strlen(p) : 0;
        if (n == 0 || p[0] != '/' || p[n - 1] == '/' || strpbrk(p, "?#"))
            return fail(b, GW_EINVAL,
                        "match: path_separated_prefix \"%s\" "
                        "must start with '/', not end with '/' and have no "
                        "'?' or '#'",
                        p ? p : "");
        out->kind = DP_ROUTE_MATCH_SEP_PREFIX;
        return bstr(b, p, false, &out->s);
    }
    case PSPEC(SAFE_REGEX):
        out->kind = DP_ROUTE_MATCH_REGEX;
        return regex(b, "safe_regex", m->safe_regex, true, &out->re);
    case PSPEC(CONNECT_MATCHER):
        out->kind = DP_ROUTE_MATCH_CONNECT;
        return GW_OK;
    default:
        return fail(b, GW_EINVAL, "match: no path specifier");
    }
}

static int route_match(struct build *b, const RT(RouteMatch) * m,
                       struct dp_router__rmatch *out)
{
    struct dp_router__hdrm *h;
    struct dp_router__qm *q;
    size_t i;
    int rc;

    if (m == NULL)
        return fail(b, GW_EINVAL, "match: missing");
    if (m->runtime_fraction != NULL)
        return fail(b, GW_EINVAL, "match: runtime_fraction is not supported");
    if (m->tls_context != NULL)
        return fail(b, GW_EINVAL, "match: tls_context is not supported");
    if ((rc = path_matcher(b, m, out)) != GW_OK)
        return rc;
    out->grpc = m->grpc != NULL;
    h = balloc(b, m->n_headers, sizeof(*h));
    q = balloc(b, m->n_query_parameters, sizeof(*q));
    if ((m->n_headers && h == NULL) || (m->n_query_parameters && q == NULL))
        return oom(b);
    for (i = 0; i < m->n_headers; i++)
        if ((rc = header_matcher(b, i, m->headers[i], &h[i])) != GW_OK)
            return rc;
    for (i = 0; i < m->n_query_parameters; i++)
        if ((rc = query_matcher(b, i, m->query_parameters[i], &q[i])) != GW_OK)
            return rc;
    out->hdrs = h, out->n_hdrs = m->n_headers;
    out->qs = q, out->n_qs = m->n_query_parameters;
    return GW_OK;
}

/* ==== Header edits, filter configs ==== */

struct edit_src {
    CORE(HeaderValueOption) * *add;
    size_t n_add;
    char **remove;
    size_t n_remove;
};

static bool header_protected(const char *name)
{
    return name[0] == ':' || strcasecmp(name, "host") == 0;
}

static int hdr_add(struct build *b, const char *field,
                   const CORE(HeaderValueOption) * o,
                   struct dp_route_hdr_add *out)
{
    const CORE(HeaderValue) *h = o->header;

    if (h == NULL || !is_header_name(h->key))
        return fail(b, GW_EINVAL, "%s: invalid header name \"%s\"", field,
                    h && h->key ? h->key : "");
    if (header_protected(h->key))
        return fail(b, GW_EINVAL, "%s: header \"%s\" may not be modified",
                    field, h->key);
    if (bstr(b, h->key, true, &out->name) != GW_OK)
        return GW_ENOMEM;
    if (h->value && h->value[0] == '\0' && h->raw_value.len > 0) {
        char *d = dp_router__strndup(&b->r->arena, (char *)h->raw_value.data,
                                     h->raw_value.len, false);
        if (d == NULL)
            return oom(b);
        out->value = (struct dp_router_slice){d, h->raw_value.len};
    } else if (bstr(b, h->value, false, &out->value) != GW_OK) {
        return GW_ENOMEM;
    }
    if (memchr(out->value.ptr, '\r', out->value.len) ||
        memchr(out->value.ptr, '\n', out->value.len) ||
        memchr(out->value.ptr, '\0', out->value.len))
        return fail(b, GW_EINVAL, "%s: invalid value for \"%s\"", field,
                    h->key);
    if (o->append != NULL)
        out->append =
            o->append->value ? DP_ROUTE_HDR_APPEND : DP_ROUTE_HDR_OVERWRITE;
    else if ((unsigned)o->append_action <= DP_ROUTE_HDR_OVERWRITE_ONLY)
        out->append = (uint8_t)o->append_action;
    else
        return fail(b, GW_EINVAL, "%s: invalid append_action", field);
    out->keep_empty_value = o->keep_empty_value;
    return GW_OK;
}

/* Merges edit levels (most specific first) into one list in order. */
static int hdr_edits(struct build *b, const char *what,
                     const struct edit_src *lv, size_t nlv,
                     struct dp_route_hdr_edits *out)
{
    struct dp_route_hdr_add *add;
    struct dp_router_slice *rm;
    size_t na = 0, nr = 0, i, j;
    char field[64];

    for (i = 0; i < nlv; i++)
        na += lv[i].n_add, nr += lv[i].n_remove;
    add = balloc(b, na, sizeof(*add));
    rm = balloc(b, nr, sizeof(*rm));
    if ((na && add == NULL) || (nr && rm == NULL))
        return oom(b);
    na = nr = 0;
    for (i = 0; i < nlv; i++) {
        for (j = 0; j < lv[i].n_add; j++, na++) {
            snprintf(field, sizeof(field), "%s_headers_to_add[%zu]", what, j);
            if (hdr_add(b, field, lv[i].add[j], &add[na]) != GW_OK)
                return GW_EINVAL;
        }
        for (j = 0; j < lv[i].n_remove; j++, nr++) {
            const char *n = lv[i].remove[j];
            if (!is_header_name(n) || header_protected(n))
                return fail(b, GW_EINVAL,
                            "%s_headers_to_remove[%zu]: header \"%s\" may "
                            "not be removed",
                            what, j, n ? n : "");
            if (bstr(b, n, true, &rm[nr]) != GW_OK)
                return GW_ENOMEM;
        }
    }
    *out = (struct dp_route_hdr_edits){add, na, rm, nr};
    return GW_OK;
}

/* Adds <key, any> unless a more specific level already set <key>. */
static int tpfc_add(struct build *b, struct dp_route_filter_config *fc,
                    size_t *n, const char *key, const Google__Protobuf__Any *v)
{
    size_t i;

    if (key == NULL || key[0] == '\0' || v == NULL)
        return fail(b, GW_EINVAL, "typed_per_filter_config: empty entry");
    for (i = 0; i < *n; i++)
        if (strcmp(fc[i].filter.ptr, key) == 0)
            return GW_OK;
    if (bstr(b, key, false, &fc[*n].filter) != GW_OK ||
        bstr(b, v->type_url, false, &fc[*n].type_url) != GW_OK)
        return GW_ENOMEM;
    fc[*n].value.len = v->value.len;
    fc[*n].value.ptr = dp_router__strndup(
        &b->r->arena, (const char *)v->value.data, v->value.len, false);
    if (fc[*n].value.ptr == NULL)
        return oom(b);
    (*n)++;
    return GW_OK;
}

/* The per-filter config that makes a route conditional (ClientIP). */
#define COND_FILTER "traefikee.filters.client_ip"

static int filter_configs(struct build *b, const RT(Route) * rt,
                          struct dp_route *out)
{
    const RT(VirtualHost) *vh = b->vh;
    const RT(RouteConfiguration) *rc = b->rc;
    size_t total = rt->n_typed_per_filter_config +
                   vh->n_typed_per_filter_config +
                   rc->n_typed_per_filter_config;
    struct dp_route_filter_config *fc = balloc(b, total, sizeof(*fc));
    size_t n = 0, i;
    int r = GW_OK;

    if (total && fc == NULL)
        return oom(b);
    for (i = 0; r == GW_OK && i < rt->n_typed_per_filter_config; i++)
        r = tpfc_add(b, fc, &n, rt->typed_per_filter_config[i]->key,
                     rt->typed_per_filter_config[i]->value);
    for (i = 0; r == GW_OK && i < vh->n_typed_per_filter_config; i++)
        r = tpfc_add(b, fc, &n, vh->typed_per_filter_config[i]->key,
                     vh->typed_per_filter_config[i]->value);
    for (i = 0; r == GW_OK && i < rc->n_typed_per_filter_config; i++)
        r = tpfc_add(b, fc, &n, rc->typed_per_filter_config[i]->key,
                     rc->typed_per_filter_config[i]->value);
    out->filter_configs = fc;
    out->n_filter_configs = n;
    for (i = 0; i < n; i++)
        if (strcmp(fc[i].filter.ptr, COND_FILTER) == 0)
            out->flags |= DP_ROUTE_F_COND;
    return r;
}

/* ==== Actions ==== */

static const struct {
    const char *name;
    uint32_t flag;
} retry_names[] = {
    {"5xx", DP_RETRY_5XX},
    {"gateway-error", DP_RETRY_GATEWAY_ERROR},
    {"reset", DP_RETRY_RESET},
    {"connect-failure", DP_RETRY_CONNECT_FAILURE},
    {"retriable-4xx", DP_RETRY_RETRIABLE_4XX},
    {"refused-stream", DP_RETRY_REFUSED_STREAM},
    {"retriable-status-codes", DP_RETRY_STATUS_CODES},
    {"retriable-headers", DP_RETRY_HEADERS},
    {"envoy-ratelimited", DP_RETRY_RATELIMITED},
    {"cancelled", DP_RETRY_GRPC_CANCELLED},
    {"deadline-exceeded", DP_RETRY_GRPC_DEADLINE},
    {"internal", DP_RETRY_GRPC_INTERNAL},
    {"resource-exhausted", DP_RETRY_GRPC_EXHAUSTED},
    {"unavailable", DP_RETRY_GRPC_UNAVAIL},
    {"http3-post-connect-failure", DP_RETRY_H3_POST_CONNECT},
};

static int retry_on(struct build *b, const char *s, uint32_t *flags)
{
    *flags = 0;
    while (s != NULL && *s != '\0') {
        size_t n, i;
        while (*s == ' ' || *s == ',')
            s++;
        n = strcspn(s, ", ");
        if (n == 0)
            break;
        for (i = 0; i < sizeof(retry_names) / sizeof(retry_names[0]); i++)
            if (strlen(retry_names[i].name) == n &&
                memcmp(retry_names[i].name, s, n) == 0)
                break;
        if (i == sizeof(retry_names) / sizeof(retry_names[0]))
            return fail(b, GW_EINVAL, "retry_policy: unknown retry_on \"%.*s\"",
                        (int)n, s);
        *flags |= retry_names[i].flag;
        s += n;
    }
    return GW_OK;
}

static int retry_policy(struct build *b, const RT(RetryPolicy) * p,
                        struct dp_route *out)
{
    struct dp_route_retry *r = &out->retry;
    uint32_t *codes;
    size_t i;

    if (retry_on(b, p->retry_on, &r->retry_on) != GW_OK)
        return GW_EINVAL;
    r->num_retries = p->num_retries ? p->num_retries->value : 1;
    if (p->per_try_timeout &&
        duration_ms(b, "retry_policy.per_try_timeout", p->per_try_timeout,
                    &r->per_try_timeout_ms) != GW_OK)
        return GW_EINVAL;
    codes = balloc(b, p->n_retriable_status_codes, sizeof(*codes));
    if (p->n_retriable_status_codes && codes == NULL)
        return oom(b);
    for (i = 0; i < p->n_retriable_status_codes; i++) {
        codes[i] = p->retriable_status_codes[i];
        if (codes[i] < 100 || codes[i] > 599)
            return fail(b, GW_EINVAL,
                        "retry_policy: retriable_status_codes[%zu]: %u is not "
                        "an HTTP status",
                        i, codes[i]);
    }
    r->status_codes = codes, r->n_status_codes = p->n_retriable_status_codes;
    r->backoff_base_ms = 25;
    if (p->retry_back_off) {
        const RT(RetryPolicy__RetryBackOff) *bo = p->retry_back_off;
        if (bo->base_interval == NULL)
            return fail(b, GW_EINVAL,
                        "retry_policy: retry_back_off: "
                        "base_interval is required");
        if (duration_ms(b, "retry_policy.retry_back_off.base_interval",
                        bo->base_interval, &r->backoff_base_ms) != GW_OK)
            return GW_EINVAL;
        r->backoff_max_ms = r->backoff_base_ms * 10;
        if (bo->max_interval &&
            duration_ms(b, "retry_policy.retry_back_off.max_interval",
                        bo->max_interval, &r->backoff_max_ms) != GW_OK)
            return GW_EINVAL;
        if (r->backoff_max_ms < r->backoff_base_ms)
            return fail(b, GW_EINVAL,
                        "retry_policy: retry_back_off: "
                        "max_interval < base_interval");
    } else {
        r->backoff_max_ms = 250;
    }
    out->flags |= DP_ROUTE_F_HAS_RETRY;
    return GW_OK;
}

static int mirrors(struct build *b,
                   RT(RouteAction__RequestMirrorPolicy) *const *p, size_t n,
                   struct dp_route *out)
{
    struct dp_route_mirror *m = balloc(b, n, sizeof(*m));
    static const uint32_t denoms[] = {100, 10000, 1000000};
    char field[64];
    size_t i;

    if (n && m == NULL)
        return oom(b);
    for (i = 0; i < n; i++) {
        const CORE(RuntimeFractionalPercent) *f = p[i]->runtime_fraction;
        snprintf(field, sizeof(field), "request_mirror_policies[%zu]", i);
        if (p[i]->cluster == NULL || p[i]->cluster[0] == '\0')
            return fail(b, GW_EINVAL, "%s: cluster is required", field);
        if (bstr(b, p[i]->cluster, false, &m[i].cluster) != GW_OK ||
            resolve(b, field, p[i]->cluster, &m[i].index) != GW_OK)
            return GW_EINVAL;
        m[i].numerator = 100, m[i].denominator = 100;
        if (f && f->default_value) {
            if ((unsigned)f->default_value->denominator > 2)
                return fail(b, GW_EINVAL, "%s: invalid denominator", field);
            m[i].denominator = denoms[f->default_value->denominator];
            m[i].numerator = f->default_value->numerator;
            if (m[i].numerator > m[i].denominator)
                m[i].numerator = m[i].denominator;
        }
    }
    out->mirrors = m, out->n_mirrors = n;
    return GW_OK;
}

static int hash_policy(struct build *b, size_t i,
                       const RT(RouteAction__HashPolicy) * p,
                       struct dp_route_hash_policy *out)
{
    const char *name = NULL;
    bool lower = false;

    out->terminal = p->terminal;
    switch (p->policy_specifier_case) {
    case HPOL(HEADER):
        if (p->header->regex_rewrite)
            return fail(b, GW_EINVAL,
                        "hash_policy[%zu]: header.regex_rewrite "
                        "is not supported",
                        i);
        out->kind = DP_ROUTE_HASH_HEADER, name = p->header->header_name;
        lower = true;
        if (!is_header_name(name))
            return fail(b, GW_EINVAL, "hash_policy[%zu]: invalid header name",
                        i);
        break;
    case HPOL(COOKIE):
        out->kind = DP_ROUTE_HASH_COOKIE, name = p->cookie->name;
        if (p->cookie->ttl &&
            duration_ms(b, "hash_policy.cookie.ttl", p->cookie->ttl,
                        &out->cookie_ttl_ms) != GW_OK)
            return GW_EINVAL;
        if (bstr(b, p->cookie->path, false, &out->cookie_path) != GW_OK)
            return GW_ENOMEM;
        break;
    case HPOL(QUERY_PARAMETER):
        out->kind = DP_ROUTE_HASH_QUERY, name = p->query_parameter->name;
        break;
    case HPOL(CONNECTION_PROPERTIES):
        out->kind = DP_ROUTE_HASH_SOURCE_IP, name = "";
        if (!p->connection_properties->source_ip)
            return fail(b, GW_EINVAL,
                        "hash_policy[%zu]: "
                        "connection_properties without source_ip",
                        i);
        return bstr(b, "", false, &out->name);
    default:
        return fail(b, GW_EINVAL, "hash_policy[%zu]: unsupported policy", i);
    }
    if (name == NULL || name[0] == '\0')
        return fail(b, GW_EINVAL, "hash_policy[%zu]: empty name", i);
    return bstr(b, name, lower, &out->name);
}

static int weighted(struct build *b, const RT(WeightedCluster) * w,
                    struct dp_route *out)
{
    struct dp_route_cluster *c = balloc(b, w->n_clusters, sizeof(*c));
    uint64_t sum = 0;
    char field[64];
    size_t i;

    if (w->n_clusters == 0)
        return fail(b, GW_EINVAL, "weighted_clusters: no clusters");
    if (c == NULL)
        return oom(b);
    for (i = 0; i < w->n_clusters; i++) {
        const RT(WeightedCluster__ClusterWeight) *cw = w->clusters[i];
        struct edit_src req = {
            cw->request_headers_to_add, cw->n_request_headers_to_add,
            cw->request_headers_to_remove, cw->n_request_headers_to_remove};
        struct edit_src resp = {
            cw->response_headers_to_add, cw->n_response_headers_to_add,
            cw->response_headers_to_remove, cw->n_response_headers_to_remove};
        snprintf(field, sizeof(field), "weighted_clusters[%zu]", i);
        if (cw->name == NULL || cw->name[0] == '\0')
            return fail(b, GW_EINVAL, "%s: name is required", field);
        if (bstr(b, cw->name, false, &c[i].name) != GW_OK ||
            resolve(b, field, cw->name, &c[i].index) != GW_OK)
            return GW_EINVAL;
        c[i].weight = cw->weight ? cw->weight->value : 0;
        sum += c[i].weight;
        if (sum > UINT32_MAX)
            return fail(b, GW_EINVAL, "weighted_clusters: weights overflow");
        c[i].cum_weight = (uint32_t)sum;
        if (bstr(b,
                 cw->host_rewrite_specifier_case ? cw->host_rewrite_literal
                                                 : "",
                 false, &c[i].host_rewrite_literal) != GW_OK ||
            hdr_edits(b, "request", &req, 1, &c[i].req_hdrs) != GW_OK ||
            hdr_edits(b, "response", &resp, 1, &c[i].resp_hdrs) != GW_OK)
            return GW_EINVAL;
    }
    if (sum == 0)
        return fail(b, GW_EINVAL, "weighted_clusters: weights sum to 0");
    if (w->total_weight && w->total_weight->value != sum)
        return fail(b, GW_EINVAL,
                    "weighted_clusters: total_weight %u does not match the "
                    "sum of weights %llu",
                    w->total_weight->value, (unsigned long long)sum);
    out->kind = DP_ROUTE_WEIGHTED;
    out->weighted =
        (struct dp_route_weighted){c, w->n_clusters, (uint32_t)sum, {"", 0}};
    if (w->random_value_specifier_case)
        return bstr(b, w->header_name, true, &out->weighted.header_name);
    return bstr(b, "", false, &out->weighted.header_name);
}

static int cluster_spec(struct build *b, const RT(RouteAction) * a,
                        struct dp_route *out)
{
    static const uint16_t nf[] = {503, 404, 500};

    switch (a->cluster_specifier_case) {
    case CSPEC(CLUSTER):
        if (a->cluster == NULL || a->cluster[0] == '\0')
            return fail(b, GW_EINVAL, "route: cluster is empty");
        out->kind = DP_ROUTE_CLUSTER;
        if (bstr(b, a->cluster, false, &out->cluster.name) != GW_OK)
            return GW_ENOMEM;
        return resolve(b, "route", a->cluster, &out->cluster.index);
    case CSPEC(CLUSTER_HEADER):
        if (!is_header_name(a->cluster_header))
            return fail(b, GW_EINVAL, "route: invalid cluster_header");
        if ((unsigned)a->cluster_not_found_response_code > 2)
            return fail(b, GW_EINVAL,
                        "route: invalid "
                        "cluster_not_found_response_code");
        out->kind = DP_ROUTE_CLUSTER_HEADER;
        out->not_found_code = nf[a->cluster_not_found_response_code];
        out->cluster.index = -1;
        return bstr(b, a->cluster_header, true, &out->cluster.name);
    case CSPEC(WEIGHTED_CLUSTERS):
        return weighted(b, a->weighted_clusters, out);
    default:
        return fail(b, GW_EINVAL, "route: no cluster specifier");
    }
}

static int host_rewrite(struct build *b, const RT(RouteAction) * a,
                        struct dp_route *out)
{
    const char *lit = "", *hdr = "";

    switch (a->host_rewrite_specifier_case) {
    case HRW(HOST_REWRITE_LITERAL):
        lit = a->host_rewrite_literal;
        break;
    case HRW(AUTO_HOST_REWRITE):
        if (a->auto_host_rewrite && a->auto_host_rewrite->value)
            out->flags |= DP_ROUTE_F_AUTO_HOST_REWRITE;
        break;
    case HRW(HOST_REWRITE_HEADER):
        hdr = a->host_rewrite_header;
        if (!is_header_name(hdr))
            return fail(b, GW_EINVAL, "route: invalid host_rewrite_header");
        break;
    case HRW(HOST_REWRITE_PATH_REGEX):
        return fail(b, GW_EINVAL,
                    "route: host_rewrite_path_regex is not supported");
    default:
        break;
    }
    if (bstr(b, lit, false, &out->host_rewrite_literal) != GW_OK ||
        bstr(b, hdr, true, &out->host_rewrite_header) != GW_OK)
        return GW_ENOMEM;
    return GW_OK;
}

static int upgrades(struct build *b, const RT(RouteAction) * a,
                    struct dp_route *out)
{
    struct dp_router_slice *u = balloc(b, a->n_upgrade_configs, sizeof(*u));
    size_t i, n = 0;

    if (a->n_upgrade_configs && u == NULL)
        return oom(b);
    for (i = 0; i < a->n_upgrade_configs; i++) {
        const RT(RouteAction__UpgradeConfig) *c = a->upgrade_configs[i];
        if (c->upgrade_type == NULL || c->upgrade_type[0] == '\0')
            return fail(b, GW_EINVAL,
                        "route: upgrade_configs[%zu]: empty "
                        "upgrade_type",
                        i);
        if (c->enabled && !c->enabled->value)
            continue;
        if (bstr(b, c->upgrade_type, true, &u[n++]) != GW_OK)
            return GW_ENOMEM;
    }
    out->upgrades = u, out->n_upgrades = n;
    return GW_OK;
}

static int route_action(struct build *b, const RT(RouteAction) * a,
                        const struct dp_router__rmatch *m, struct dp_route *out)
{
    const RT(RetryPolicy) *rp =
        a->retry_policy ? a->retry_policy : b->vh->retry_policy;
    struct dp_route_hash_policy *hp;
    size_t i;
    int rc;

    if ((rc = cluster_spec(b, a, out)) != GW_OK)
        return rc;
    if (a->prefix_rewrite && a->prefix_rewrite[0] && a->regex_rewrite)
        return fail(b, GW_EINVAL,
                    "route: prefix_rewrite and regex_rewrite are exclusive");
    if (bstr(b, a->prefix_rewrite, false, &out->prefix_rewrite) != GW_OK)
        return GW_ENOMEM;
    if (out->prefix_rewrite.len > 0)
        out->flags |= DP_ROUTE_F_HAS_REWRITE;
    if (a->regex_rewrite) {
        if ((rc = regex(b, "route: regex_rewrite", a->regex_rewrite->pattern,
                        false, &out->regex_rewrite)) != GW_OK ||
            (rc = bstr(b, a->regex_rewrite->substitution, false,
                       &out->regex_subst)) != GW_OK)
            return rc;
        out->flags |= DP_ROUTE_F_HAS_REWRITE;
    }
    if (out->prefix_rewrite.len > 0 && m->kind == DP_ROUTE_MATCH_CONNECT)
        return fail(b, GW_EINVAL, "route: prefix_rewrite with connect_matcher");
    if (a->append_x_forwarded_host)
        out->flags |= DP_ROUTE_F_XFH;
    if ((rc = host_rewrite(b, a, out)) != GW_OK)
        return rc;
    out->timeout_ms = 15000;
    if (a->timeout &&
        (rc = duration_ms(b, "route: timeout", a->timeout, &out->timeout_ms)))
        return rc;
    if (a->idle_timeout &&
        (rc = duration_ms(b, "route: idle_timeout", a->idle_timeout,
                          &out->idle_timeout_ms)))
        return rc;
    if (rp && (rc = retry_policy(b, rp, out)) != GW_OK)
        return rc;
    if (a->n_request_mirror_policies)
        rc = mirrors(b, a->request_mirror_policies,
                     a->n_request_mirror_policies, out);
    else if (b->vh->n_request_mirror_policies)
        rc = mirrors(b, b->vh->request_mirror_policies,
                     b->vh->n_request_mirror_policies, out);
    else
        rc = mirrors(b, b->rc->request_mirror_policies,
                     b->rc->n_request_mirror_policies, out);
    if (rc != GW_OK)
        return rc;
    hp = balloc(b, a->n_hash_policy, sizeof(*hp));
    if (a->n_hash_policy && hp == NULL)
        return oom(b);
    for (i = 0; i < a->n_hash_policy; i++)
        if ((rc = hash_policy(b, i, a->hash_policy[i], &hp[i])) != GW_OK)
            return rc;
    out->hash_policies = hp, out->n_hash_policies = a->n_hash_policy;
    return upgrades(b, a, out);
}

static int redirect(struct build *b, const RT(RedirectAction) * a,
                    struct dp_route *out)
{
    static const uint16_t codes[] = {301, 302, 303, 307, 308};
    struct dp_route_redirect *d = &out->redirect;
    const char *scheme = "", *path = "", *prefix = "";
    int rc;

    out->kind = DP_ROUTE_REDIRECT;
    if ((unsigned)a->response_code > 4)
        return fail(b, GW_EINVAL, "redirect: invalid response_code");
    d->code = codes[a->response_code];
    if (a->port_redirect > 65535)
        return fail(b, GW_EINVAL, "redirect: port_redirect %u out of range",
                    a->port_redirect);
    d->port = a->port_redirect;
    d->strip_query = a->strip_query;
    if (a->scheme_rewrite_specifier_case ==
        RDR(SCHEME_REWRITE_SPECIFIER_HTTPS_REDIRECT))
        scheme = a->https_redirect ? "https" : "";
    else if (a->scheme_rewrite_specifier_case ==
             RDR(SCHEME_REWRITE_SPECIFIER_SCHEME_REDIRECT))
        scheme = a->scheme_redirect;
    if (scheme[0] &&
        strspn(scheme, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKL"
                       "MNOPQRSTUVWXYZ0123456789+-.") != strlen(scheme))
        return fail(b, GW_EINVAL, "redirect: invalid scheme_redirect");
    switch (a->path_rewrite_specifier_case) {
    case RDR(PATH_REWRITE_SPECIFIER_PATH_REDIRECT):
        path = a->path_redirect;
        if (path[0] != '/')
            return fail(b, GW_EINVAL,
                        "redirect: path_redirect must start with '/'");
        break;
    case RDR(PATH_REWRITE_SPECIFIER_PREFIX_REWRITE):
        prefix = a->prefix_rewrite;
        d->has_prefix_rewrite = 1;
        break;
    case RDR(PATH_REWRITE_SPECIFIER_REGEX_REWRITE):
        if ((rc = regex(b, "redirect: regex_rewrite", a->regex_rewrite->pattern,
                        false, &d->regex)) != GW_OK ||
            (rc = bstr(b, a->regex_rewrite->substitution, false,
                       &d->regex_subst)) != GW_OK)
            return rc;
        break;
    default:
        break;
    }
    if (strpbrk(a->host_redirect ? a->host_redirect : "", "/?#@ \r\n"))
        return fail(b, GW_EINVAL, "redirect: invalid host_redirect");
    if (bstr(b, scheme, true, &d->scheme) != GW_OK ||
        bstr(b, a->host_redirect, false, &d->host) != GW_OK ||
        bstr(b, path, false, &d->path) != GW_OK ||
        bstr(b, prefix, false, &d->prefix_rewrite) != GW_OK)
        return GW_ENOMEM;
    if (d->regex_subst.ptr == NULL)
        d->regex_subst = (struct dp_router_slice){"", 0};
    return GW_OK;
}

static int direct(struct build *b, const RT(DirectResponseAction) * a,
                  struct dp_route *out)
{
    const CORE(DataSource) *ds = a->body;
    uint32_t max = b->rc->max_direct_response_body_size_bytes
                       ? b->rc->max_direct_response_body_size_bytes->value
                       : 4096;
    const char *p = "";
    size_t n = 0;
    char *d;

    out->kind = DP_ROUTE_DIRECT;
    if (a->status < 200 || a->status > 599)
        return fail(b, GW_EINVAL,
                    "direct_response: status %u out of range "
                    "[200, 599]",
                    a->status);
    out->direct.status = (uint16_t)a->status;
    if (ds != NULL) {
        switch (ds->specifier_case) {
        case ENVOY__CONFIG__CORE__V3__DATA_SOURCE__SPECIFIER_INLINE_STRING:
            p = ds->inline_string, n = strlen(p);
            break;
        case ENVOY__CONFIG__CORE__V3__DATA_SOURCE__SPECIFIER_INLINE_BYTES:
            p = (const char *)ds->inline_bytes.data, n = ds->inline_bytes.len;
            break;
        case ENVOY__CONFIG__CORE__V3__DATA_SOURCE__SPECIFIER__NOT_SET:
            break;
        default:
            return fail(b, GW_EINVAL,
                        "direct_response: body: only inline "
                        "bodies are supported");
        }
    }
    if (n > max)
        return fail(b, GW_ETOOBIG,
                    "direct_response: body of %zu bytes "
                    "exceeds %u",
                    n, max);
    if ((d = dp_router__strndup(&b->r->arena, p ? p : "", n, false)) == NULL)
        return oom(b);
    out->direct.body = (struct dp_router_slice){d, n};
    return GW_OK;
}

/* ==== Routes and virtual hosts ==== */

static int route_edits(struct build *b, const RT(Route) * rt,
                       struct dp_route *out)
{
    const RT(VirtualHost) *vh = b->vh;
    const RT(RouteConfiguration) *rc = b->rc;
    struct edit_src req[3] = {
        {rt->request_headers_to_add, rt->n_request_headers_to_add,
         rt->request_headers_to_remove, rt->n_request_headers_to_remove},
        {vh->request_headers_to_add, vh->n_request_headers_to_add,
         vh->request_headers_to_remove, vh->n_request_headers_to_remove},
        {rc->request_headers_to_add, rc->n_request_headers_to_add,
         rc->request_headers_to_remove, rc->n_request_headers_to_remove}};
    struct edit_src resp[3] = {
        {rt->response_headers_to_add, rt->n_response_headers_to_add,
         rt->response_headers_to_remove, rt->n_response_headers_to_remove},
        {vh->response_headers_to_add, vh->n_response_headers_to_add,
         vh->response_headers_to_remove, vh->n_response_headers_to_remove},
        {rc->response_headers_to_add, rc->n_response_headers_to_add,
         rc->response_headers_to_remove, rc->n_response_headers_to_remove}};

    /* Envoy applies the route level first, the global level last (so the
     * latter wins), unless most_specific_header_mutations_wins. */
    if (rc->most_specific_header_mutations_wins) {
        struct edit_src t = req[0];
        req[0] = req[2], req[2] = t;
        t = resp[0], resp[0] = resp[2], resp[2] = t;
    }
    if (hdr_edits(b, "request", req, 3, &out->req_hdrs) != GW_OK ||
        hdr_edits(b, "response", resp, 3, &out->resp_hdrs) != GW_OK)
        return GW_EINVAL;
    return GW_OK;
}

static int route(struct build *b, struct dp_router__vhost *v, uint32_t i)
{
    const RT(Route) *rt = b->vh->routes[i];
    struct dp_route *out = &v->routes[i];
    struct dp_router__rmatch *m = &v->matches[i];
    int rc;

    static const struct dp_router_slice empty = {"", 0};

    out->index = i;
    out->vhost = (struct dp_router_slice){v->name, strlen(v->name)};
    out->prefix_rewrite = out->regex_subst = empty;
    out->host_rewrite_literal = out->host_rewrite_header = empty;
    if ((rc = bstr(b, rt->name, false, &out->name)) != GW_OK ||
        (rc = route_match(b, rt->match, m)) != GW_OK)
        return rc;
    switch (rt->action_case) {
    case ACT(ROUTE):
        rc = route_action(b, rt->route, m, out);
        break;
    case ACT(REDIRECT):
        rc = redirect(b, rt->redirect, out);
        break;
    case ACT(DIRECT_RESPONSE):
        rc = direct(b, rt->direct_response, out);
        break;
    case ACT(NON_FORWARDING_ACTION):
        out->kind = DP_ROUTE_NON_FORWARDING;
        break;
    default:
        return fail(b, GW_EINVAL, "no action");
    }
    if (rc != GW_OK)
        return rc;
    out->match_kind = m->kind;
    out->match_len = (uint32_t)m->s.len;
    if ((rc = route_edits(b, rt, out)) != GW_OK)
        return rc;
    return filter_configs(b, rt, out);
}

static struct dp_router__map *path_map(struct dp_router__vhost *v,
                                       const struct dp_router__rmatch *m)
{
    if (m->kind == DP_ROUTE_MATCH_PATH)
        return m->icase ? &v->exact_ci : &v->exact_cs;
    return m->icase ? &v->prefix_ci : &v->prefix_cs;
}

static int index_routes(struct build *b, struct dp_router__vhost *v)
{
    uint32_t i;

    v->linear = balloc(b, v->n_routes, sizeof(*v->linear));
    if (v->n_routes && v->linear == NULL)
        return oom(b);
    for (i = 0; i < v->n_routes; i++) {
        const struct dp_router__rmatch *m = &v->matches[i];
        if (m->kind == DP_ROUTE_MATCH_REGEX ||
            m->kind == DP_ROUTE_MATCH_CONNECT)
            v->linear[v->n_linear++] = i;
        else if (dp_router__map_add(path_map(v, m), m->s.ptr, m->s.len, i))
            return oom(b);
    }
    return GW_OK;
}

/* Files one domain of vhost <vi> into the right map. */
static int domain(struct build *b, uint32_t vi, const char *d)
{
    struct dp_router *r = b->r;
    size_t n = d ? strlen(d) : 0;
    struct dp_router__map *m = &r->dom_exact;
    const char *key;
    char *low;

    if (n == 0)
        return fail(b, GW_EINVAL, "domains: empty domain");
    if (strcmp(d, "*") == 0) {
        if (r->default_vhost >= 0)
            return fail(b, GW_EINVAL, "domains: duplicate domain \"*\"");
        r->default_vhost = (int)vi;
        return GW_OK;
    }
    if ((low = dp_router__strndup(&r->arena, d, n, true)) == NULL)
        return oom(b);
    key = low;
    if (low[0] == '*')
        m = &r->dom_suffix, key++, n--;
    else if (low[n - 1] == '*')
        m = &r->dom_prefix, n--;
    if (memchr(key, '*', n) != NULL || strpbrk(low, " /\t\r\n") != NULL)
        return fail(b, GW_EINVAL, "domains: invalid domain \"%s\"", d);
    if (dp_router__map_get(m, dp_router__hash(key, n, true), key, n) != NULL)
        return fail(b, GW_EINVAL, "domains: duplicate domain \"%s\"", d);
    if (dp_router__map_add(m, key, n, vi) != GW_OK)
        return oom(b);
    return GW_OK;
}

static void where(const struct build *b, char *buf, size_t size)
{
    const char *vh = b->where_vh;
    int n =
        snprintf(buf, size,
                 "route_config \"%s\": ", b->r->name != NULL ? b->r->name : "");
    if (vh != NULL && n >= 0 && (size_t)n < size)
        n += snprintf(buf + n, size - n, "virtual_host \"%s\"", vh);
    if (vh != NULL && b->where_route > 0 && n >= 0 && (size_t)n < size)
        n += snprintf(buf + n, size - n, " route %zu", b->where_route);
    if (vh != NULL && n >= 0 && (size_t)n < size)
        snprintf(buf + n, size - n, ": ");
}

/* Cheap (once per route): only remembered, formatted by fail(). */
static void set_where(struct build *b, const char *vh, size_t route)
{
    b->where_vh = vh;
    b->where_route = route;
}

static int vhost(struct build *b, uint32_t vi)
{
    struct dp_router__vhost *v = &b->r->vhosts[vi];
    const RT(VirtualHost) *vh = b->vh = b->rc->virtual_hosts[vi];
    uint32_t i;
    int rc;

    set_where(b, vh->name ? vh->name : "", 0);
    if (vh->name == NULL || vh->name[0] == '\0')
        return fail(b, GW_EINVAL, "name is required");
    if (vh->n_domains == 0)
        return fail(b, GW_EINVAL, "domains: at least one is required");
    if (vh->n_routes > UINT32_MAX / 2)
        return fail(b, GW_ETOOBIG, "too many routes");
    v->name =
        dp_router__strndup(&b->r->arena, vh->name, strlen(vh->name), false);
    v->n_routes = (uint32_t)vh->n_routes;
    v->routes = balloc(b, vh->n_routes, sizeof(*v->routes));
    v->matches = balloc(b, vh->n_routes, sizeof(*v->matches));
    if (v->name == NULL || (vh->n_routes && (!v->routes || !v->matches)))
        return oom(b);
    v->exact_ci.fold = v->prefix_ci.fold = true;
    for (i = 0; i < vh->n_domains; i++)
        if ((rc = domain(b, vi, vh->domains[i])) != GW_OK)
            return rc;
    for (i = 0; i < vh->n_routes; i++) {
        set_where(b, vh->name, i + 1);
        if ((rc = route(b, v, i)) != GW_OK)
            return rc;
    }
    set_where(b, vh->name, 0);
    b->r->n_routes += vh->n_routes;
    return index_routes(b, v);
}

struct dp_router *dp_router_new(const RT(RouteConfiguration) * rc,
                                dp_router_cluster_cb resolve_cb,
                                void *resolve_arg, char *err, size_t len)
{
    struct build b = {.rc = rc,
                      .resolve = resolve_cb,
                      .resolve_arg = resolve_arg,
                      .err = err,
                      .len = len};
    struct dp_router *r = calloc(1, sizeof(*r));
    size_t i;

    if (r == NULL) {
        cm_err_set(err, len, GW_ENOMEM, "out of memory");
        return NULL;
    }
    b.r = r;
    r->default_vhost = -1;
    r->ignore_port = rc->ignore_port_in_host_matching;
    r->dom_exact.fold = r->dom_suffix.fold = r->dom_prefix.fold = true;
    r->name = dp_router__strndup(&r->arena, rc->name ? rc->name : "",
                                 rc->name ? strlen(rc->name) : 0, false);
    if (r->name == NULL) {
        cm_err_set(err, len, GW_ENOMEM, "out of memory");
        goto fail;
    }
    set_where(&b, NULL, 0);
    r->n_vhosts = rc->n_virtual_hosts;
    r->vhosts = balloc(&b, rc->n_virtual_hosts, sizeof(*r->vhosts));
    if (rc->n_virtual_hosts && r->vhosts == NULL) {
        oom(&b);
        goto fail;
    }
    for (i = 0; i < rc->n_virtual_hosts; i++)
        if (vhost(&b, (uint32_t)i) != GW_OK)
            goto fail;
    return r;

fail:
    dp_router_free(r);
    return NULL;
}

void dp_router_free(struct dp_router *r)
{
    struct dp_router_regex *re;
    size_t i;

    if (r == NULL)
        return;
    for (i = 0; r->vhosts != NULL && i < r->n_vhosts; i++) {
        dp_router__map_free(&r->vhosts[i].exact_cs);
        dp_router__map_free(&r->vhosts[i].exact_ci);
        dp_router__map_free(&r->vhosts[i].prefix_cs);
        dp_router__map_free(&r->vhosts[i].prefix_ci);
    }
    for (re = r->regexes; re != NULL; re = re->next)
        pcre2_code_free(re->code);
    dp_router__map_free(&r->dom_exact);
    dp_router__map_free(&r->dom_suffix);
    dp_router__map_free(&r->dom_prefix);
    dp_router__arena_free(&r->arena);
    free(r);
}

const char *dp_router_name(const struct dp_router *r)
{
    return r->name;
}

size_t dp_router_route_count(const struct dp_router *r)
{
    return r->n_routes;
}
