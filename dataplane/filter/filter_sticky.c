/*
 * filter_sticky.c -- upstream selection helpers: failover (primary cluster
 * while it has a healthy endpoint, else the fallback, else 503, as
 * Traefik's failover service) and the sticky cookie (Traefik's WRR sticky:
 * a cookie naming the endpoint by hash; set when the request was not
 * served through a valid cookie). Immutable config; any worker.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dataplane/filter/filter_int.h"
#include "traefikee/filters/v1/filters.pb-c.h"

#define FV1(x) Traefikee__Filters__V1__##x

/* ==== failover ==== */

int dp_filter__failover_build(struct dp_filter__bctx *b, const void *pb,
                              size_t n, struct dp_filter_chain *ch)
{
    FV1(Failover) *m = traefikee__filters__v1__failover__unpack(NULL, n, pb);
    struct dp_filter__failover *f = NULL;
    int rc = 0;

    if (m == NULL)
        return cm_err_set(b->err, b->len, GW_EINVAL,
                          "%s: cannot decode Failover", b->name);
    if (m->fallback_cluster == NULL || m->fallback_cluster[0] == '\0')
        rc = cm_err_set(b->err, b->len, GW_EINVAL,
                        "%s: fallback_cluster is empty", b->name);
    else if ((f = calloc(1, sizeof(*f))) == NULL ||
             (f->fallback = strdup(m->fallback_cluster)) == NULL)
        rc = cm_err_set(b->err, b->len, GW_ENOMEM, "out of memory");
    else if ((f->index =
                  b->opts && b->opts->resolve
                      ? b->opts->resolve(b->opts->resolve_arg, f->fallback)
                      : -1) < 0 &&
             b->opts && b->opts->resolve)
        rc = cm_err_set(b->err, b->len, GW_EINVAL,
                        "%s: fallback_cluster \"%.128s\" is not a known "
                        "cluster",
                        b->name, f->fallback);
    if (rc == 0) {
        ch->failover = f;
    } else if (f != NULL) {
        free(f->fallback);
        free(f);
    }
    traefikee__filters__v1__failover__free_unpacked(m, NULL);
    return rc;
}

enum dp_filter_upstream dp_filter_failover(const struct dp_filter_chain *ch,
                                           bool primary_healthy,
                                           bool fallback_healthy)
{
    if (ch == NULL || ch->failover == NULL || primary_healthy)
        return DP_FILTER_UP_PRIMARY;
    return fallback_healthy ? DP_FILTER_UP_FALLBACK : DP_FILTER_UP_NONE;
}

const char *dp_filter_failover_name(const struct dp_filter_chain *ch)
{
    return ch && ch->failover ? ch->failover->fallback : NULL;
}

int dp_filter_failover_cluster(const struct dp_filter_chain *ch)
{
    return ch && ch->failover ? ch->failover->index : -1;
}

/* ==== sticky cookie ==== */

static bool token_char(char c)
{
    return c > 0x20 && c < 0x7f && strchr("()<>@,;:\\\"/[]?={}", c) == NULL;
}

int dp_filter__sticky_build(struct dp_filter__bctx *b, const void *pb, size_t n,
                            struct dp_filter_chain *ch)
{
    FV1(StickyCookie) *m =
        traefikee__filters__v1__sticky_cookie__unpack(NULL, n, pb);
    struct dp_filter__sticky *s = NULL;
    const char *ss;
    int rc = 0;

    if (m == NULL)
        return cm_err_set(b->err, b->len, GW_EINVAL,
                          "%s: cannot decode StickyCookie", b->name);
    ss = m->same_site ? m->same_site : "";
    for (const char *p = m->name; p && *p && rc == 0; p++)
        if (!token_char(*p))
            rc = cm_err_set(b->err, b->len, GW_EINVAL,
                            "%s: name: invalid cookie name \"%.64s\"", b->name,
                            m->name);
    if (rc == 0 && (m->name == NULL || m->name[0] == '\0'))
        rc =
            cm_err_set(b->err, b->len, GW_EINVAL, "%s: name is empty", b->name);
    if (rc == 0 && ss[0] && strcasecmp(ss, "none") && strcasecmp(ss, "lax") &&
        strcasecmp(ss, "strict"))
        rc = cm_err_set(b->err, b->len, GW_EINVAL,
                        "%s: same_site: want none, lax or strict, got "
                        "\"%.32s\"",
                        b->name, ss);
    if (rc == 0 && ((s = calloc(1, sizeof(*s))) == NULL ||
                    (s->name = strdup(m->name)) == NULL)) {
        free(s);
        rc = cm_err_set(b->err, b->len, GW_ENOMEM, "out of memory");
    }
    if (rc == 0) {
        s->secure = m->secure;
        s->http_only = m->http_only;
        s->same_site = !ss[0]                    ? NULL
                       : !strcasecmp(ss, "none") ? "None"
                       : !strcasecmp(ss, "lax")  ? "Lax"
                                                 : "Strict";
        ch->sticky = s;
    }
    traefikee__filters__v1__sticky_cookie__free_unpacked(m, NULL);
    return rc;
}

/* Traefik's hash(): FNV-1 64, lower-case hex without padding. */
static int key_hash(struct dp_router_slice key, char *out, size_t len)
{
    uint64_t h = DP_FILTER__FNV0;

    for (size_t i = 0; i < key.len; i++) {
        h *= 0x100000001b3ull;
        h ^= (uint8_t)key.ptr[i];
    }
    return snprintf(out, len, "%llx", (unsigned long long)h);
}

/* The value of cookie <name> in the Cookie header (Go's readCookies:
 * ';'-separated, spaces trimmed, surrounding quotes removed). */
static bool cookie_value(const struct dp_router_req *rq, const char *name,
                         struct dp_router_slice *out)
{
    struct dp_router_slice h;
    size_t nl = strlen(name), i = 0;

    if (!dp_filter__header(rq, "cookie", &h))
        return false;
    while (i < h.len) {
        size_t s = i, e;
        while (i < h.len && h.ptr[i] != ';')
            i++;
        e = i++;
        while (s < e && h.ptr[s] == ' ')
            s++;
        while (e > s && h.ptr[e - 1] == ' ')
            e--;
        if (e - s <= nl || memcmp(h.ptr + s, name, nl) != 0 ||
            h.ptr[s + nl] != '=')
            continue;
        s += nl + 1;
        if (e - s >= 2 && h.ptr[s] == '"' && h.ptr[e - 1] == '"')
            s++, e--;
        *out = (struct dp_router_slice){h.ptr + s, e - s};
        return true;
    }
    return false;
}

int dp_filter_sticky_pick(const struct dp_filter_chain *ch,
                          const struct dp_router_req *rq,
                          const struct dp_router_slice *keys,
                          const bool *eligible, size_t n)
{
    struct dp_router_slice v;
    char hx[24];

    if (ch == NULL || ch->sticky == NULL ||
        !cookie_value(rq, ch->sticky->name, &v) || v.len == 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        int hl = key_hash(keys[i], hx, sizeof(hx));
        bool hit =
            ((size_t)hl == v.len && memcmp(hx, v.ptr, v.len) == 0) ||
            (keys[i].len == v.len && memcmp(keys[i].ptr, v.ptr, v.len) == 0);
        if (hit)
            return eligible == NULL || eligible[i] ? (int)i : -1;
    }
    return -1;
}

int dp_filter_sticky_cookie(const struct dp_filter_chain *ch,
                            struct dp_router_slice key, char *out, size_t len)
{
    const struct dp_filter__sticky *s;
    char hx[24];
    int n;

    if (ch == NULL || (s = ch->sticky) == NULL)
        return GW_ENOENT;
    key_hash(key, hx, sizeof(hx));
    n = snprintf(out, len, "%s=%s; Path=/%s%s%s%s", s->name, hx,
                 s->http_only ? "; HttpOnly" : "", s->secure ? "; Secure" : "",
                 s->same_site ? "; SameSite=" : "",
                 s->same_site ? s->same_site : "");
    if (n < 0 || (size_t)n >= len)
        return GW_ETOOBIG;
    return n;
}
