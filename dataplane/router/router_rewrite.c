/*
 * router_rewrite.c -- the path a matched route sends upstream
 * (prefix_rewrite / regex_rewrite) and the Location of a redirect route.
 * Runs on workers; writes only into the caller's buffer.
 */
#include "dataplane/router/router_int.h"

#include <stdio.h>
#include <string.h>

static int put(char *out, size_t len, size_t *pos, const char *p, size_t n)
{
    if (len == 0 || len - 1 - *pos < n) /* keep one byte for the NUL */
        return GW_ETOOBIG;
    if (n > 0)
        memcpy(out + *pos, p, n);
    *pos += n;
    return GW_OK;
}

static int finish(char *out, size_t len, size_t pos)
{
    if (pos >= len)
        return GW_ETOOBIG;
    out[pos] = '\0';
    return pos > (size_t)INT32_MAX ? GW_ETOOBIG : (int)pos;
}

/* Bytes of <path> that prefix_rewrite replaces. */
static size_t matched_len(const struct dp_route *rt, size_t path_len)
{
    if (rt->match_kind == DP_ROUTE_MATCH_PREFIX ||
        rt->match_kind == DP_ROUTE_MATCH_SEP_PREFIX)
        return rt->match_len < path_len ? rt->match_len : path_len;
    return path_len;
}

/* Writes the rewritten path (no query) at *pos. */
static int rewrite(const struct dp_route *rt, struct dp_router_slice prefix,
                   bool has_prefix, const struct dp_router_regex *re,
                   struct dp_router_slice subst, struct dp_router_slice path,
                   struct dp_router_scratch *s, char *out, size_t len,
                   size_t *pos)
{
    size_t m;

    if (re != NULL) {
        if (len == 0)
            return GW_ETOOBIG;
        return dp_router__global_replace(re, path, subst, s, out, len, pos);
    }
    if (!has_prefix)
        return put(out, len, pos, path.ptr, path.len);
    m = matched_len(rt, path.len);
    if (put(out, len, pos, prefix.ptr, prefix.len) != GW_OK)
        return GW_ETOOBIG;
    /* Envoy never leaves the path empty. */
    if (*pos == 0 && m == path.len)
        return put(out, len, pos, "/", 1);
    return put(out, len, pos, path.ptr + m, path.len - m);
}

static int query(struct dp_router_slice q, char *out, size_t len, size_t *pos)
{
    if (q.len == 0)
        return GW_OK;
    if (put(out, len, pos, "?", 1) != GW_OK)
        return GW_ETOOBIG;
    return put(out, len, pos, q.ptr, q.len);
}

int dp_router_rewrite_path(const struct dp_route *rt,
                           struct dp_router_slice path,
                           struct dp_router_slice q,
                           struct dp_router_scratch *s, char *out, size_t len)
{
    size_t pos = 0;
    int r;

    r = rewrite(rt, rt->prefix_rewrite, rt->prefix_rewrite.len > 0,
                rt->regex_rewrite, rt->regex_subst, path, s, out, len, &pos);
    if (r != GW_OK || (r = query(q, out, len, &pos)) != GW_OK)
        return GW_ETOOBIG;
    return finish(out, len, pos);
}

/* True if <port> is the default port of <scheme> (http 80, https 443). */
static bool default_port(struct dp_router_slice scheme, uint32_t port)
{
    return (port == 80 && scheme.len == 4 &&
            strncasecmp(scheme.ptr, "http", 4) == 0) ||
           (port == 443 && scheme.len == 5 &&
            strncasecmp(scheme.ptr, "https", 5) == 0);
}

/* Host and port of the Location: Envoy's rules for port_redirect (a
 * default port of the final <scheme> is left out, as Envoy and Traefik's
 * redirectScheme do) and for dropping a default port when the scheme
 * changes. */
static int authority(const struct dp_route_redirect *d,
                     const struct dp_router_req *q,
                     struct dp_router_slice scheme, bool scheme_changed,
                     char *out, size_t len, size_t *pos)
{
    struct dp_router_slice h = d->host.len ? d->host : q->host;
    size_t i = h.len, host_len = h.len;
    char port[16];

    while (i > 0 && h.ptr[i - 1] >= '0' && h.ptr[i - 1] <= '9')
        i--;
    if (i > 0 && i < h.len && h.ptr[i - 1] == ':' &&
        (h.ptr[0] != '[' || h.ptr[i - 2] == ']'))
        host_len = i - 1; /* h has a port */
    if (d->port != 0 && default_port(scheme, d->port))
        return put(out, len, pos, h.ptr, host_len);
    if (d->port != 0) {
        snprintf(port, sizeof(port), ":%u", d->port);
        if (put(out, len, pos, h.ptr, host_len) != GW_OK)
            return GW_ETOOBIG;
        return put(out, len, pos, port, strlen(port));
    }
    if (scheme_changed && host_len != h.len) {
        struct dp_router_slice p = {h.ptr + host_len, h.len - host_len};
        if ((p.len == 3 && memcmp(p.ptr, ":80", 3) == 0) ||
            (p.len == 4 && memcmp(p.ptr, ":443", 4) == 0))
            h.len = host_len;
    }
    return put(out, len, pos, h.ptr, h.len);
}

int dp_router_redirect_location(const struct dp_route *rt,
                                const struct dp_router_req *q, char *out,
                                size_t len)
{
    const struct dp_route_redirect *d = &rt->redirect;
    struct dp_router_slice scheme =
        q->scheme.len ? q->scheme : (struct dp_router_slice){"http", 4};
    struct dp_router_slice qs =
        d->strip_query ? (struct dp_router_slice){"", 0} : q->query;
    bool changed = false;
    size_t pos = 0;

    if (rt->kind != DP_ROUTE_REDIRECT)
        return GW_EINVAL;
    if (d->scheme.len) {
        changed = d->scheme.len != scheme.len ||
                  strncasecmp(d->scheme.ptr, scheme.ptr, scheme.len) != 0;
        scheme = d->scheme;
    }
    if (put(out, len, &pos, scheme.ptr, scheme.len) != GW_OK ||
        put(out, len, &pos, "://", 3) != GW_OK ||
        authority(d, q, scheme, changed, out, len, &pos) != GW_OK)
        return GW_ETOOBIG;
    if (d->path.len > 0) {
        /* path_redirect carrying its own query replaces the request's. */
        if (put(out, len, &pos, d->path.ptr, d->path.len) != GW_OK)
            return GW_ETOOBIG;
        if (memchr(d->path.ptr, '?', d->path.len) != NULL)
            qs = (struct dp_router_slice){"", 0};
    } else if (rewrite(rt, d->prefix_rewrite, d->has_prefix_rewrite, d->regex,
                       d->regex_subst, q->path, q->scratch, out, len,
                       &pos) != GW_OK) {
        return GW_ETOOBIG;
    }
    if (query(qs, out, len, &pos) != GW_OK)
        return GW_ETOOBIG;
    return finish(out, len, pos);
}
