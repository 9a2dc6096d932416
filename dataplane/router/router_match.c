/*
 * router_match.c -- dp_router_match(): virtual host selection and route
 * lookup on a compiled router. Runs on workers, concurrently, reading only
 * the immutable router and the request; allocates nothing when the request
 * carries the worker's scratch.
 *
 * Cost: O(|host|) to pick the virtual host; then O(|path|) hashing for the
 * exact and prefix indexes plus, per candidate list found, the header and
 * query matchers of entries below the best index so far; then the regex and
 * CONNECT routes below that index, one by one.
 */
#include "dataplane/router/router_int.h"

#include <string.h>

static bool eq_icase(const char *a, const char *b, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (dp_router__fold((uint8_t)a[i]) != dp_router__fold((uint8_t)b[i]))
            return false;
    return true;
}

static bool eq(const char *a, const char *b, size_t n, bool icase)
{
    return icase ? eq_icase(a, b, n) : memcmp(a, b, n) == 0;
}

static bool regex_full(const struct dp_router_regex *re, const char *s,
                       size_t n, struct dp_router_scratch *sc)
{
    pcre2_match_data *md = NULL;
    int rc = dp_router__regex_exec(re, s, n, 0, sc, &md);

    if (sc == NULL)
        pcre2_match_data_free(md);
    return rc >= 0;
}

static bool strm_match(const struct dp_router__strm *m, const char *v, size_t n,
                       struct dp_router_scratch *sc)
{
    size_t i, k = m->s.len;

    switch (m->kind) {
    case DP_ROUTER__SM_EXACT:
        return n == k && eq(v, m->s.ptr, k, m->icase);
    case DP_ROUTER__SM_PREFIX:
        return n >= k && eq(v, m->s.ptr, k, m->icase);
    case DP_ROUTER__SM_SUFFIX:
        return n >= k && eq(v + n - k, m->s.ptr, k, m->icase);
    case DP_ROUTER__SM_CONTAINS:
        for (i = 0; n >= k && i <= n - k; i++)
            if (eq(v + i, m->s.ptr, k, m->icase))
                return true;
        return false;
    case DP_ROUTER__SM_REGEX:
        return regex_full(m->re, v, n, sc);
    }
    return false;
}

static bool slice_has(struct dp_router_slice s)
{
    return s.ptr != NULL;
}

/* The request's value of header <name> (lower-case), first occurrence. */
static bool find_header(const struct dp_router_req *q,
                        struct dp_router_slice name, struct dp_router_slice *v)
{
    size_t i;

    if (q->get_header != NULL)
        return q->get_header(q->get_header_arg, name.ptr, name.len, v) != 0;
    for (i = 0; i < q->n_hdrs; i++)
        if (q->hdrs[i].name.len == name.len &&
            eq_icase(q->hdrs[i].name.ptr, name.ptr, name.len)) {
            *v = q->hdrs[i].value;
            return true;
        }
    return false;
}

static bool header_value(const struct dp_router_req *q,
                         const struct dp_router__hdrm *h,
                         struct dp_router_slice *v)
{
    switch (h->pseudo) {
    case DP_ROUTER__PS_METHOD:
        *v = q->method;
        return slice_has(*v);
    case DP_ROUTER__PS_AUTHORITY:
        *v = q->host;
        return slice_has(*v);
    case DP_ROUTER__PS_PATH:
        *v = q->path;
        /* ":path" includes the query when the caller's bytes are adjacent. */
        if (q->query.len > 0 && q->path.ptr + q->path.len + 1 == q->query.ptr)
            v->len += 1 + q->query.len;
        return slice_has(*v);
    case DP_ROUTER__PS_SCHEME:
        *v = q->scheme.len ? q->scheme : (struct dp_router_slice){"http", 4};
        return true;
    default:
        return find_header(q, h->name, v);
    }
}

static bool parse_i64(struct dp_router_slice s, int64_t *out)
{
    bool neg = s.len > 0 && s.ptr[0] == '-';
    uint64_t v = 0;
    size_t i = neg;

    if (i == s.len || s.len - i > 18)
        return false;
    for (; i < s.len; i++) {
        if (s.ptr[i] < '0' || s.ptr[i] > '9')
            return false;
        v = v * 10 + (uint64_t)(s.ptr[i] - '0');
    }
    *out = neg ? -(int64_t)v : (int64_t)v;
    return true;
}

/* Envoy's HeaderUtility::matchHeaders for one matcher. */
static bool header_ok(const struct dp_router_req *q,
                      const struct dp_router__hdrm *h)
{
    struct dp_router_slice v = {NULL, 0};
    bool found = header_value(q, h, &v), m = false;
    int64_t n;

    if (!found && !h->missing_empty) {
        if (h->invert)
            return h->kind != DP_ROUTER__HM_PRESENT;
        return h->kind == DP_ROUTER__HM_PRESENT && !h->present;
    }
    if (!found)
        v = (struct dp_router_slice){"", 0};
    switch (h->kind) {
    case DP_ROUTER__HM_PRESENT:
        m = h->present;
        break;
    case DP_ROUTER__HM_RANGE:
        m = parse_i64(v, &n) && n >= h->start && n < h->end;
        break;
    default:
        m = strm_match(&h->sm, v.ptr, v.len, q->scratch);
        break;
    }
    return m != h->invert;
}

/* First value of query parameter <name> (raw, not decoded). */
static bool find_query(struct dp_router_slice qs, struct dp_router_slice name,
                       struct dp_router_slice *v)
{
    const char *p = qs.ptr, *end = qs.ptr + qs.len;

    while (p != NULL && p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop = amp ? amp : end;
        const char *eqs = memchr(p, '=', (size_t)(stop - p));
        const char *kend = eqs ? eqs : stop;
        if ((size_t)(kend - p) == name.len &&
            memcmp(p, name.ptr, name.len) == 0) {
            *v = eqs ? (struct dp_router_slice){eqs + 1,
                                                (size_t)(stop - eqs - 1)}
                     : (struct dp_router_slice){"", 0};
            return true;
        }
        p = amp ? amp + 1 : NULL;
    }
    return false;
}

static bool query_ok(const struct dp_router_req *q,
                     const struct dp_router__qm *m)
{
    struct dp_router_slice v;

    if (!find_query(q->query, m->name, &v))
        return false;
    return m->present_only || strm_match(&m->sm, v.ptr, v.len, q->scratch);
}

static bool method_is(const struct dp_router_req *q, const char *m, size_t n)
{
    return q->method.len == n && memcmp(q->method.ptr, m, n) == 0;
}

/* The matchers of route <i> other than what its index already checked. */
static bool route_ok(const struct dp_router__vhost *v, uint32_t i,
                     const struct dp_router_req *q)
{
    const struct dp_router__rmatch *m = &v->matches[i];
    struct dp_router_slice ct;
    size_t k;

    switch (m->kind) {
    case DP_ROUTE_MATCH_SEP_PREFIX:
        if (q->path.len != m->s.len && q->path.ptr[m->s.len] != '/')
            return false;
        break;
    case DP_ROUTE_MATCH_REGEX:
        if (!regex_full(m->re, q->path.ptr, q->path.len, q->scratch))
            return false;
        break;
    case DP_ROUTE_MATCH_CONNECT:
        if (!method_is(q, "CONNECT", 7))
            return false;
        break;
    default:
        break;
    }
    if (m->grpc) {
        static const struct dp_router_slice name = {"content-type", 12};
        if (!find_header(q, name, &ct) || ct.len < 16 ||
            !eq_icase(ct.ptr, "application/grpc", 16))
            return false;
    }
    for (k = 0; k < m->n_hdrs; k++)
        if (!header_ok(q, &m->hdrs[k]))
            return false;
    for (k = 0; k < m->n_qs; k++)
        if (!query_ok(q, &m->qs[k]))
            return false;
    if ((v->routes[i].flags & DP_ROUTE_F_COND) &&
        (q->cond == NULL || !q->cond(q->cond_arg, &v->routes[i])))
        return false;
    return true;
}

/* Lowest index of <e>'s list below <best> whose other matchers pass. */
static uint32_t scan(const struct dp_router__vhost *v,
                     const struct dp_router__ent *e,
                     const struct dp_router_req *q, uint32_t best)
{
    uint32_t k;

    for (k = 0; e != NULL && k < e->n && e->vals[k] < best; k++)
        if (route_ok(v, e->vals[k], q))
            return e->vals[k];
    return best;
}

static uint32_t exact(const struct dp_router__vhost *v,
                      const struct dp_router__map *m,
                      const struct dp_router_req *q, uint32_t best)
{
    uint64_t h;

    if (m->count == 0 || !dp_router__map_has_len(m, q->path.len))
        return best;
    h = dp_router__hash(q->path.ptr, q->path.len, m->fold);
    return scan(v, dp_router__map_get(m, h, q->path.ptr, q->path.len), q, best);
}

/* One probe per prefix length present in <m>, hashing the path once. */
static uint32_t prefixes(const struct dp_router__vhost *v,
                         const struct dp_router__map *m,
                         const struct dp_router_req *q, uint32_t best)
{
    const char *p = q->path.ptr;
    size_t n = q->path.len < m->max_len ? q->path.len : m->max_len, i;
    uint64_t h = 0;

    if (m->count == 0)
        return best;
    if (dp_router__map_has_len(m, 0))
        best = scan(v, dp_router__map_get(m, 0, "", 0), q, best);
    for (i = 0; i < n; i++) {
        uint8_t c = (uint8_t)p[i];
        h = dp_router__hstep(h, m->fold ? dp_router__fold(c) : c);
        if (dp_router__map_has_len(m, i + 1))
            best = scan(v, dp_router__map_get(m, h, p, i + 1), q, best);
    }
    return best;
}

/* ==== Virtual host selection ==== */

/* <host> without ":port" (digits only); IPv6 literals keep their brackets. */
static struct dp_router_slice strip_port(struct dp_router_slice host)
{
    size_t i = host.len;

    while (i > 0 && host.ptr[i - 1] >= '0' && host.ptr[i - 1] <= '9')
        i--;
    if (i > 0 && i < host.len && host.ptr[i - 1] == ':' &&
        (host.ptr[0] != '[' || host.ptr[i - 2] == ']'))
        host.len = i - 1;
    else if (i > 0 && i == host.len && host.ptr[i - 1] == ':')
        host.len = i - 1; /* "host:" */
    return host;
}

static int exact_domain(const struct dp_router *r, struct dp_router_slice h)
{
    const struct dp_router__ent *e;

    if (!dp_router__map_has_len(&r->dom_exact, h.len))
        return -1;
    e = dp_router__map_get(&r->dom_exact, dp_router__hash(h.ptr, h.len, true),
                           h.ptr, h.len);
    return e ? (int)e->vals[0] : -1;
}

/* "*.example.com": longest suffix leaving at least one byte of the host. */
static int suffix_domain(const struct dp_router *r, struct dp_router_slice h)
{
    const struct dp_router__map *m = &r->dom_suffix;
    uint64_t hash = 0, pw = 1;
    int found = -1;
    size_t i;

    if (m->count == 0)
        return -1;
    for (i = h.len; i > 1; i--) {
        size_t k = h.len - i + 1;
        const struct dp_router__ent *e;
        hash += dp_router__fold((uint8_t)h.ptr[i - 1]) * pw;
        pw *= DP_ROUTER__HASH_B;
        if (k > m->max_len)
            break;
        if (dp_router__map_has_len(m, k) &&
            (e = dp_router__map_get(m, hash, h.ptr + i - 1, k)) != NULL)
            found = (int)e->vals[0];
    }
    return found;
}

/* "foo.*": longest prefix leaving at least one byte of the host. */
static int prefix_domain(const struct dp_router *r, struct dp_router_slice h)
{
    const struct dp_router__map *m = &r->dom_prefix;
    uint64_t hash = 0;
    int found = -1;
    size_t i;

    if (m->count == 0)
        return -1;
    for (i = 0; i + 1 < h.len && i < m->max_len; i++) {
        const struct dp_router__ent *e;
        hash = dp_router__hstep(hash, dp_router__fold((uint8_t)h.ptr[i]));
        if (dp_router__map_has_len(m, i + 1) &&
            (e = dp_router__map_get(m, hash, h.ptr, i + 1)) != NULL)
            found = (int)e->vals[0];
    }
    return found;
}

/* Envoy's order: exact, suffix wildcard, prefix wildcard, "*". Each stage
 * tries the Host as sent ("a.com:8080") then without its port. */
static int select_vhost(const struct dp_router *r, struct dp_router_slice host)
{
    struct dp_router_slice hs[2] = {host, strip_port(host)};
    int n = hs[1].len != host.len ? 2 : 1, first = r->ignore_port ? n - 1 : 0;
    int i, vi;

    if (host.ptr == NULL)
        return r->default_vhost;
    for (i = first; i < n; i++)
        if ((vi = exact_domain(r, hs[i])) >= 0)
            return vi;
    for (i = first; i < n; i++)
        if ((vi = suffix_domain(r, hs[i])) >= 0)
            return vi;
    for (i = first; i < n; i++)
        if ((vi = prefix_domain(r, hs[i])) >= 0)
            return vi;
    return r->default_vhost;
}

const struct dp_route *dp_router_match(const struct dp_router *r,
                                       const struct dp_router_req *q)
{
    const struct dp_router__vhost *v;
    uint32_t best = UINT32_MAX, k;
    int vi = select_vhost(r, q->host);

    if (vi < 0 || q->path.ptr == NULL)
        return NULL;
    v = &r->vhosts[vi];
    best = exact(v, &v->exact_cs, q, best);
    best = exact(v, &v->exact_ci, q, best);
    best = prefixes(v, &v->prefix_cs, q, best);
    best = prefixes(v, &v->prefix_ci, q, best);
    for (k = 0; k < v->n_linear && v->linear[k] < best; k++)
        if (route_ok(v, v->linear[k], q)) {
            best = v->linear[k];
            break;
        }
    return best == UINT32_MAX ? NULL : &v->routes[best];
}

const struct dp_route_cluster *dp_route_pick_weighted(const struct dp_route *rt,
                                                      uint64_t rnd)
{
    const struct dp_route_weighted *w = &rt->weighted;
    uint32_t x, lo = 0, hi;

    if (rt->kind != DP_ROUTE_WEIGHTED || w->n_clusters == 0)
        return NULL;
    x = (uint32_t)(rnd % w->total_weight);
    hi = (uint32_t)w->n_clusters - 1;
    while (lo < hi) { /* first cum_weight > x */
        uint32_t mid = lo + (hi - lo) / 2;
        if (w->clusters[mid].cum_weight > x)
            hi = mid;
        else
            lo = mid + 1;
    }
    return &w->clusters[lo];
}

const struct dp_route_filter_config *
dp_route_filter_config(const struct dp_route *rt, const char *filter)
{
    size_t i;

    for (i = 0; i < rt->n_filter_configs; i++)
        if (strcmp(rt->filter_configs[i].filter.ptr, filter) == 0)
            return &rt->filter_configs[i];
    return NULL;
}
