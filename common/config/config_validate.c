/*
 * config_validate.c -- checks across a decoded model: unique names,
 * references (router -> service/middlewares/entry points, chain ->
 * middlewares, weighted/mirroring/failover -> services), cycles, required
 * fields, ranges, server URLs and entry point addresses (whose parts it
 * stores in the derived fields). Rules are common/rule's business. Messages
 * carry the document position from the marks the decoder left. Stateless.
 */
#include "common/config/config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/config/config_int.h"

#define PATH_LEN 320

/* A sorted view of one kind of named items (name at offset 0). */
struct names {
    const char **sorted; /* pointers to the items' name fields */
    size_t n;
};

struct val {
    struct cm_config *cfg;
    char *err;
    size_t errlen;
    struct names eps, routers, services, mws, tlsopts;
};

/* ==== messages ==== */

static int verr(struct val *v, const char *path, const void *addr, int tag,
                const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Fills the error: "PATH: line L, column C: MESSAGE" (no position for
 * values without a mark). Returns GW_EINVAL. */
static int verr(struct val *v, const char *path, const void *addr, int tag,
                const char *fmt, ...)
{
    const struct cm_config__mark *m = cm_config__mark_find(v->cfg, addr, tag);
    char msg[CM_ERR_LEN];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (m == NULL)
        return cm_err_set(v->err, v->errlen, GW_EINVAL, "%s: %s", path, msg);
    return cm_err_set(v->err, v->errlen, GW_EINVAL,
                      "%s: line %d, column %d: %s", path, m->line, m->col, msg);
}

#define VAL_MARK CM_CONFIG__MARK_VAL
#define OBJ_MARK CM_CONFIG__MARK_OBJ

/* ==== name indexes ==== */

static int cmp_name(const void *a, const void *b)
{
    const char *const *x = *(const char *const *const *)a;
    const char *const *y = *(const char *const *const *)b;
    int c = strcmp(*x, *y);

    /* ties by address: document order, so the later one is reported */
    return c != 0 ? c : (x < y ? -1 : x > y);
}

/* Indexes <n> items of <stride> bytes at <base>; reports a missing or
 * duplicate name (the later one) under <section>. */
static int names_build(struct val *v, struct names *ix, const void *base,
                       size_t stride, size_t n, const char *section)
{
    char path[PATH_LEN];
    size_t i;

    ix->n = n;
    ix->sorted = malloc((n ? n : 1) * sizeof(*ix->sorted));
    if (ix->sorted == NULL)
        return cm_err_set(v->err, v->errlen, GW_ENOMEM, "out of memory");
    for (i = 0; i < n; i++) {
        ix->sorted[i] = (const char *)base + i * stride;
        if (*(const char *const *)ix->sorted[i] == NULL) {
            snprintf(path, sizeof(path), "%s[%zu]", section, i);
            return verr(v, path, ix->sorted[i], OBJ_MARK, "missing name");
        }
    }
    qsort(ix->sorted, n, sizeof(*ix->sorted), cmp_name);
    for (i = 1; i < n; i++) {
        const char *a = *(const char *const *)ix->sorted[i - 1];
        const char *b = *(const char *const *)ix->sorted[i];

        if (strcmp(a, b) == 0) {
            snprintf(path, sizeof(path), "%s.%s", section, b);
            return verr(v, path, ix->sorted[i], VAL_MARK,
                        "duplicate name \"%s\"", b);
        }
    }
    return GW_OK;
}

/* Returns the position in the document of the item named <name> (a
 * reference, "@file" allowed), or -1. <base>/<stride> give positions. */
static long names_find(const struct names *ix, const void *base, size_t stride,
                       const char *name)
{
    const char *prov;
    long len = cm_config__ref_len(name, &prov);
    size_t lo = 0, hi = ix->n, mid;
    int c;

    if (len < 0)
        return -1;
    while (lo < hi) {
        mid = (lo + hi) / 2;
        const char *have = *(const char *const *)ix->sorted[mid];
        c = strncmp(have, name, (size_t)len);
        if (c == 0 && have[len] != '\0')
            c = 1;
        if (c == 0)
            return (long)((size_t)((const char *)ix->sorted[mid] -
                                   (const char *)base) /
                          stride);
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

static void names_free(struct names *ix)
{
    free(ix->sorted);
    ix->sorted = NULL;
}

static long find_service(struct val *v, const char *name)
{
    return names_find(&v->services, v->cfg->http.services,
                      sizeof(*v->cfg->http.services), name);
}

static long find_middleware(struct val *v, const char *name)
{
    return names_find(&v->mws, v->cfg->http.middlewares,
                      sizeof(*v->cfg->http.middlewares), name);
}

/* Checks that the reference at <ref> names an existing <what>. */
static int need_ref(struct val *v, const char *path, const char *const *ref,
                    const char *what, long (*find)(struct val *, const char *))
{
    if (*ref == NULL || **ref == '\0')
        return verr(v, path, ref, VAL_MARK, "missing %s name", what);
    if (strcmp(*ref, CM_CONFIG_API_INTERNAL) == 0)
        return verr(v, path, ref, VAL_MARK,
                    "\"%s\" is allowed only as a router's service", *ref);
    if (find(v, *ref) < 0)
        return verr(v, path, ref, VAL_MARK, "unknown %s \"%s\"", what, *ref);
    return GW_OK;
}

/* ==== addresses and URLs ==== */

static int parse_port(const char *s, size_t len, uint16_t *port)
{
    unsigned long p = 0;
    size_t i;

    if (len == 0 || len > 5)
        return GW_EINVAL;
    for (i = 0; i < len; i++) {
        if (!isdigit((unsigned char)s[i]))
            return GW_EINVAL;
        p = p * 10 + (unsigned long)(s[i] - '0');
    }
    if (p == 0 || p > 65535)
        return GW_EINVAL;
    *port = (uint16_t)p;
    return GW_OK;
}

static int valid_hostname(const char *h, size_t len)
{
    size_t i;

    if (len == 0 || len > 253)
        return 0;
    for (i = 0; i < len; i++)
        if (!isalnum((unsigned char)h[i]) && h[i] != '-' && h[i] != '.' &&
            h[i] != '_')
            return 0;
    return 1;
}

/* Splits "host:port", "[v6]:port" or ":port" (when <any_host>) or, when
 * <def_port> is not 0, the same without ":port". Host copied to arena. */
static int split_hostport(struct val *v, const char *s, size_t len,
                          int any_host, uint16_t def_port, const char **host,
                          uint16_t *port)
{
    const char *h = s, *colon = NULL;
    size_t hlen;
    char buf[64];
    struct in6_addr a6;

    if (len > 0 && s[0] == '[') {
        const char *end = memchr(s, ']', len);
        if (end == NULL || (size_t)(end - s) - 1 >= sizeof(buf))
            return GW_EINVAL;
        h = s + 1;
        hlen = (size_t)(end - h);
        memcpy(buf, h, hlen);
        buf[hlen] = '\0';
        if (inet_pton(AF_INET6, buf, &a6) != 1)
            return GW_EINVAL;
        if (end + 1 < s + len && end[1] != ':')
            return GW_EINVAL;
        colon = end + 1 < s + len ? end + 1 : NULL;
    } else {
        colon = memchr(s, ':', len);
        hlen = colon ? (size_t)(colon - s) : len;
        if (colon && memchr(colon + 1, ':', len - hlen - 1) != NULL)
            return GW_EINVAL; /* IPv6 needs brackets */
        if (!(hlen == 0 && any_host) && !valid_hostname(h, hlen))
            return GW_EINVAL;
    }
    if (colon != NULL) {
        if (parse_port(colon + 1, (size_t)(s + len - colon - 1), port) != 0)
            return GW_EINVAL;
    } else if (def_port != 0) {
        *port = def_port;
    } else {
        return GW_EINVAL;
    }
    *host = cm_config__strndup(v->cfg, h, hlen);
    return *host != NULL ? GW_OK : GW_ENOMEM;
}

static int check_entrypoint(struct val *v, struct cm_config_entrypoint *ep)
{
    char path[PATH_LEN];
    const char *a = ep->address;
    size_t len;
    int rc;

    snprintf(path, sizeof(path), "entryPoints.%s.address", ep->name);
    if (a == NULL || *a == '\0')
        return verr(v, path, ep, OBJ_MARK, "missing address");
    len = strlen(a);
    if (len > 4 && strcasecmp(a + len - 4, "/udp") == 0)
        return verr(v, path, &ep->address, VAL_MARK,
                    "UDP entry points are not supported");
    if (len > 4 && strcasecmp(a + len - 4, "/tcp") == 0)
        len -= 4;
    rc = split_hostport(v, a, len, 1, 0, &ep->host, &ep->port);
    if (rc == GW_ENOMEM)
        return cm_err_set(v->err, v->errlen, rc, "out of memory");
    if (rc != GW_OK)
        return verr(v, path, &ep->address, VAL_MARK,
                    "invalid address \"%s\" (want [host]:port)", a);
    return GW_OK;
}

static int parse_url(struct val *v, struct cm_config_server *s)
{
    const char *u = s->url, *sep = strstr(u, "://"), *auth, *end;
    uint16_t def;
    int rc;

    if (sep == NULL)
        return GW_EINVAL;
    if ((size_t)(sep - u) == 4 && strncasecmp(u, "http", 4) == 0)
        s->scheme = "http", def = 80;
    else if ((size_t)(sep - u) == 5 && strncasecmp(u, "https", 5) == 0)
        s->scheme = "https", def = 443;
    else if ((size_t)(sep - u) == 3 && strncasecmp(u, "h2c", 3) == 0)
        s->scheme = "h2c", def = 80;
    else
        return GW_EINVAL;
    auth = sep + 3;
    end = auth + strcspn(auth, "/?#");
    if (memchr(auth, '@', (size_t)(end - auth)) != NULL)
        return GW_EINVAL;
    rc = split_hostport(v, auth, (size_t)(end - auth), 0, def, &s->host,
                        &s->port);
    if (rc != GW_OK)
        return rc;
    s->path = end;
    if (*end != '\0' && *end != '/')
        return GW_EINVAL;
    return GW_OK;
}

/* ==== services ==== */

static int check_server(struct val *v, const char *svc, size_t i,
                        struct cm_config_server *s)
{
    char path[PATH_LEN];
    int rc;

    snprintf(path, sizeof(path),
             "http.services.%s.loadBalancer.servers[%zu].url", svc, i);
    if (s->url == NULL || *s->url == '\0')
        return verr(v, path, s, OBJ_MARK, "missing url");
    rc = parse_url(v, s);
    if (rc == GW_ENOMEM)
        return cm_err_set(v->err, v->errlen, rc, "out of memory");
    if (rc != GW_OK)
        return verr(v, path, &s->url, VAL_MARK,
                    "invalid server URL \"%s\" (want http, https or h2c "
                    "://host[:port][/path])",
                    s->url);
    if (s->weight < 0) {
        snprintf(path, sizeof(path),
                 "http.services.%s.loadBalancer.servers[%zu].weight", svc, i);
        return verr(v, path, &s->weight, VAL_MARK,
                    "weight must be >= 0, got %lld", (long long)s->weight);
    }
    return GW_OK;
}

static int is_scheme(const char *s)
{
    return strcmp(s, "http") == 0 || strcmp(s, "https") == 0 ||
           strcmp(s, "h2c") == 0;
}

/* Envoy's RequestMethod names; CONNECT is not allowed for a health check
 * (Envoy rejects it too). */
static int is_hc_method(const char *m)
{
    static const char *const ok[] = {"GET",    "HEAD",    "POST",  "PUT",
                                     "DELETE", "OPTIONS", "TRACE", "PATCH"};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        if (strcasecmp(m, ok[i]) == 0)
            return 1;
    return 0;
}

/* method, status, mode: what the probe sends and expects. */
static int check_health_probe(struct val *v, char *path, char *p, size_t rest,
                              const struct cm_config_health_check *hc)
{
    if (hc->method != NULL && !is_hc_method(hc->method)) {
        snprintf(p, rest, ".method");
        return verr(v, path, &hc->method, VAL_MARK,
                    "method must be GET, HEAD, POST, PUT, DELETE, OPTIONS, "
                    "TRACE or PATCH, got \"%s\"",
                    hc->method);
    }
    if (hc->status != 0 && (hc->status < 100 || hc->status > 599)) {
        snprintf(p, rest, ".status");
        return verr(v, path, &hc->status, VAL_MARK,
                    "status must be an HTTP status code (100-599), got %lld",
                    (long long)hc->status);
    }
    if (hc->mode != NULL && strcmp(hc->mode, "http") != 0 &&
        strcmp(hc->mode, "grpc") != 0) {
        snprintf(p, rest, ".mode");
        return verr(v, path, &hc->mode, VAL_MARK,
                    "mode must be http or grpc, got \"%s\"", hc->mode);
    }
    return GW_OK;
}

static int check_health(struct val *v, const char *svc,
                        const struct cm_config_health_check *hc)
{
    char path[PATH_LEN];
    int n = snprintf(path, sizeof(path),
                     "http.services.%s.loadBalancer.healthCheck", svc);
    size_t rest = sizeof(path) - (size_t)(n > 0 ? n : 0);
    char *p = path + (sizeof(path) - rest);

    if (hc->interval_ms <= 0) {
        snprintf(p, rest, ".interval");
        return verr(v, path, &hc->interval_ms, VAL_MARK,
                    "interval must be > 0");
    }
    if (hc->timeout_ms <= 0) {
        snprintf(p, rest, ".timeout");
        return verr(v, path, &hc->timeout_ms, VAL_MARK, "timeout must be > 0");
    }
    if (hc->scheme != NULL && !is_scheme(hc->scheme)) {
        snprintf(p, rest, ".scheme");
        return verr(v, path, &hc->scheme, VAL_MARK,
                    "scheme must be http, https or h2c, got \"%s\"",
                    hc->scheme);
    }
    if (hc->port < 0 || hc->port > 65535) {
        snprintf(p, rest, ".port");
        return verr(v, path, &hc->port, VAL_MARK, "port out of range");
    }
    if (hc->path != NULL && hc->path[0] != '/') {
        snprintf(p, rest, ".path");
        return verr(v, path, &hc->path, VAL_MARK, "path must start with '/'");
    }
    return check_health_probe(v, path, p, rest, hc);
}

static int check_sticky(struct val *v, const char *svc, const char *kind,
                        const struct cm_config_sticky *st)
{
    char path[PATH_LEN];
    const char *ss;

    if (st == NULL || st->cookie == NULL || st->cookie->same_site == NULL)
        return GW_OK;
    ss = st->cookie->same_site;
    if (*ss == '\0' || strcasecmp(ss, "none") == 0 ||
        strcasecmp(ss, "lax") == 0 || strcasecmp(ss, "strict") == 0)
        return GW_OK;
    snprintf(path, sizeof(path), "http.services.%s.%s.sticky.cookie.sameSite",
             svc, kind);
    return verr(v, path, &st->cookie->same_site, VAL_MARK,
                "sameSite must be none, lax or strict, got \"%s\"", ss);
}

static int check_lb(struct val *v, struct cm_config_service *s)
{
    struct cm_config_load_balancer *lb = &s->u.load_balancer;
    size_t i;
    int rc;

    for (i = 0; i < lb->n_servers; i++) {
        rc = check_server(v, s->name, i, &lb->servers[i]);
        if (rc != GW_OK)
            return rc;
    }
    if (lb->health_check != NULL) {
        rc = check_health(v, s->name, lb->health_check);
        if (rc != GW_OK)
            return rc;
    }
    return check_sticky(v, s->name, "loadBalancer", lb->sticky);
}

static int check_weighted(struct val *v, struct cm_config_service *s)
{
    struct cm_config_weighted *w = &s->u.weighted;
    char path[PATH_LEN];
    size_t i;
    int rc;

    if (w->n_services == 0) {
        snprintf(path, sizeof(path), "http.services.%s.weighted", s->name);
        return verr(v, path, s, OBJ_MARK, "no services");
    }
    for (i = 0; i < w->n_services; i++) {
        snprintf(path, sizeof(path),
                 "http.services.%s.weighted.services[%zu].name", s->name, i);
        if (w->services[i].name == NULL)
            return verr(v, path, &w->services[i], OBJ_MARK, "missing name");
        rc = need_ref(v, path, &w->services[i].name, "service", find_service);
        if (rc != GW_OK)
            return rc;
        snprintf(path, sizeof(path),
                 "http.services.%s.weighted.services[%zu].weight", s->name, i);
        if (w->services[i].weight < 0)
            return verr(v, path, &w->services[i].weight, VAL_MARK,
                        "weight must be >= 0, got %lld",
                        (long long)w->services[i].weight);
    }
    return check_sticky(v, s->name, "weighted", w->sticky);
}

static int check_mirroring(struct val *v, struct cm_config_service *s)
{
    struct cm_config_mirroring *m = &s->u.mirroring;
    char path[PATH_LEN];
    size_t i;
    int rc;

    snprintf(path, sizeof(path), "http.services.%s.mirroring.service", s->name);
    if (m->service == NULL)
        return verr(v, path, s, OBJ_MARK, "missing service");
    rc = need_ref(v, path, &m->service, "service", find_service);
    for (i = 0; rc == GW_OK && i < m->n_mirrors; i++) {
        snprintf(path, sizeof(path),
                 "http.services.%s.mirroring.mirrors[%zu].name", s->name, i);
        if (m->mirrors[i].name == NULL)
            return verr(v, path, &m->mirrors[i], OBJ_MARK, "missing name");
        rc = need_ref(v, path, &m->mirrors[i].name, "service", find_service);
        snprintf(path, sizeof(path),
                 "http.services.%s.mirroring.mirrors[%zu].percent", s->name, i);
        if (rc == GW_OK &&
            (m->mirrors[i].percent < 0 || m->mirrors[i].percent > 100))
            return verr(v, path, &m->mirrors[i].percent, VAL_MARK,
                        "percent must be between 0 and 100");
    }
    if (rc == GW_OK && m->max_body_size < -1) {
        snprintf(path, sizeof(path), "http.services.%s.mirroring.maxBodySize",
                 s->name);
        return verr(v, path, &m->max_body_size, VAL_MARK,
                    "maxBodySize must be >= -1");
    }
    return rc;
}

static int check_failover(struct val *v, struct cm_config_service *s)
{
    struct cm_config_failover *f = &s->u.failover;
    char path[PATH_LEN];
    int rc;

    snprintf(path, sizeof(path), "http.services.%s.failover.service", s->name);
    if (f->service == NULL)
        return verr(v, path, s, OBJ_MARK, "missing service");
    rc = need_ref(v, path, &f->service, "service", find_service);
    if (rc != GW_OK)
        return rc;
    snprintf(path, sizeof(path), "http.services.%s.failover.fallback", s->name);
    if (f->fallback == NULL)
        return verr(v, path, s, OBJ_MARK, "missing fallback");
    return need_ref(v, path, &f->fallback, "service", find_service);
}

static int check_service(struct val *v, struct cm_config_service *s)
{
    char path[PATH_LEN];

    switch (s->kind) {
    case CM_CONFIG_SVC_LOAD_BALANCER:
        return check_lb(v, s);
    case CM_CONFIG_SVC_WEIGHTED:
        return check_weighted(v, s);
    case CM_CONFIG_SVC_MIRRORING:
        return check_mirroring(v, s);
    case CM_CONFIG_SVC_FAILOVER:
        return check_failover(v, s);
    case CM_CONFIG_SVC_NONE:
        break;
    }
    snprintf(path, sizeof(path), "http.services.%s", s->name);
    return verr(v, path, s, OBJ_MARK, "no kind given");
}

/* ==== middlewares ==== */

static int valid_cidr(const char *s)
{
    char buf[64];
    const char *slash = strchr(s, '/');
    size_t len = slash ? (size_t)(slash - s) : strlen(s);
    unsigned char a[16];
    int v6, bits = 0;

    if (len >= sizeof(buf))
        return 0;
    memcpy(buf, s, len);
    buf[len] = '\0';
    v6 = strchr(buf, ':') != NULL;
    if (inet_pton(v6 ? AF_INET6 : AF_INET, buf, a) != 1)
        return 0;
    if (slash == NULL)
        return 1;
    if (slash[1] == '\0' || strlen(slash + 1) > 3)
        return 0;
    for (s = slash + 1; *s; s++) {
        if (!isdigit((unsigned char)*s))
            return 0;
        bits = bits * 10 + (*s - '0');
    }
    return bits <= (v6 ? 128 : 32);
}

static int check_ips(struct val *v, const char *mw, const char *field,
                     const char *const *ips, size_t n)
{
    char path[PATH_LEN];
    size_t i;

    for (i = 0; i < n; i++) {
        if (valid_cidr(ips[i]))
            continue;
        snprintf(path, sizeof(path), "http.middlewares.%s.ipAllowList.%s[%zu]",
                 mw, field, i);
        return verr(v, path, &ips[i], VAL_MARK, "invalid IP or CIDR \"%s\"",
                    ips[i]);
    }
    return GW_OK;
}

static int check_ip_allow_list(struct val *v, struct cm_config_middleware *m)
{
    const struct cm_config_ip_allow_list *a = &m->u.ip_allow_list;
    char path[PATH_LEN];
    int rc;

    snprintf(path, sizeof(path), "http.middlewares.%s.ipAllowList", m->name);
    if (a->n_source_range == 0)
        return verr(v, path, m, OBJ_MARK, "sourceRange is empty");
    rc = check_ips(v, m->name, "sourceRange", a->source_range,
                   a->n_source_range);
    if (rc != GW_OK || a->ip_strategy == NULL)
        return rc;
    if (a->ip_strategy->depth < 0) {
        snprintf(path, sizeof(path),
                 "http.middlewares.%s.ipAllowList.ipStrategy.depth", m->name);
        return verr(v, path, &a->ip_strategy->depth, VAL_MARK,
                    "depth must be >= 0");
    }
    return check_ips(v, m->name, "ipStrategy.excludedIPs",
                     a->ip_strategy->excluded_ips,
                     a->ip_strategy->n_excluded_ips);
}

static int is_token(const char *s)
{
    if (*s == '\0')
        return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr("!#$%&'*+-.^_`|~", *s))
            return 0;
    return 1;
}

static int check_headers(struct val *v, struct cm_config_middleware *m)
{
    const struct cm_config_headers *h = &m->u.headers;
    char path[PATH_LEN];
    size_t i;

    for (i = 0; i < h->n_request + h->n_response; i++) {
        int req = i < h->n_request;
        const struct cm_config_kv *kv =
            req ? &h->request[i] : &h->response[i - h->n_request];

        if (is_token(kv->key))
            continue;
        snprintf(
            path, sizeof(path), "http.middlewares.%s.headers.%s.%s", m->name,
            req ? "customRequestHeaders" : "customResponseHeaders", kv->key);
        return verr(v, path, &kv->key, VAL_MARK, "invalid header name");
    }
    return GW_OK;
}

static int check_basic_auth(struct val *v, struct cm_config_middleware *m)
{
    const struct cm_config_basic_auth *b = &m->u.basic_auth;
    char path[PATH_LEN];
    const char *colon;
    size_t i;

    snprintf(path, sizeof(path), "http.middlewares.%s.basicAuth.users",
             m->name);
    if (b->n_users == 0)
        return verr(v, path, m, OBJ_MARK, "no users");
    for (i = 0; i < b->n_users; i++) {
        colon = strchr(b->users[i], ':');
        if (colon == NULL || colon == b->users[i] || colon[1] == '\0') {
            snprintf(path, sizeof(path),
                     "http.middlewares.%s.basicAuth.users[%zu]", m->name, i);
            return verr(v, path, &b->users[i], VAL_MARK, "want \"user:hash\"");
        }
    }
    return GW_OK;
}

/* A required string field of the middleware's kind. */
static int need_str(struct val *v, struct cm_config_middleware *m,
                    const char *field, const char *s)
{
    char path[PATH_LEN];

    if (s != NULL && *s != '\0')
        return GW_OK;
    snprintf(path, sizeof(path), "http.middlewares.%s.%s.%s", m->name,
             cm_config_middleware_kind_str(m->kind), field);
    return verr(v, path, m, OBJ_MARK, "missing %s", field);
}

/* A lower bound on an integer field of the middleware's kind. */
static int need_min(struct val *v, struct cm_config_middleware *m,
                    const char *field, const int64_t *val, int64_t min)
{
    char path[PATH_LEN];

    if (*val >= min)
        return GW_OK;
    snprintf(path, sizeof(path), "http.middlewares.%s.%s.%s", m->name,
             cm_config_middleware_kind_str(m->kind), field);
    if (cm_config__mark_find(v->cfg, val, VAL_MARK) != NULL)
        return verr(v, path, val, VAL_MARK, "%s must be >= %lld", field,
                    (long long)min);
    return verr(v, path, m, OBJ_MARK, "%s must be >= %lld", field,
                (long long)min);
}

static int check_redirect_scheme(struct val *v, struct cm_config_middleware *m)
{
    const struct cm_config_redirect_scheme *r = &m->u.redirect_scheme;
    char path[PATH_LEN];
    uint16_t port;
    int rc = need_str(v, m, "scheme", r->scheme);

    if (rc != GW_OK || r->port == NULL)
        return rc;
    if (parse_port(r->port, strlen(r->port), &port) == GW_OK)
        return GW_OK;
    snprintf(path, sizeof(path), "http.middlewares.%s.redirectScheme.port",
             m->name);
    return verr(v, path, &r->port, VAL_MARK, "invalid port \"%s\"", r->port);
}

static int check_chain(struct val *v, struct cm_config_middleware *m)
{
    const struct cm_config_chain *c = &m->u.chain;
    char path[PATH_LEN];
    size_t i;
    int rc;

    for (i = 0; i < c->n_middlewares; i++) {
        snprintf(path, sizeof(path),
                 "http.middlewares.%s.chain.middlewares[%zu]", m->name, i);
        rc = need_ref(v, path, &c->middlewares[i], "middleware",
                      find_middleware);
        if (rc != GW_OK)
            return rc;
    }
    return GW_OK;
}

static int check_middleware(struct val *v, struct cm_config_middleware *m)
{
    char path[PATH_LEN];
    int rc;

    switch (m->kind) {
    case CM_CONFIG_MW_STRIP_PREFIX:
    case CM_CONFIG_MW_STRIP_PREFIX_REGEX:
        return GW_OK;
    case CM_CONFIG_MW_ADD_PREFIX:
        return need_str(v, m, "prefix", m->u.add_prefix.prefix);
    case CM_CONFIG_MW_REPLACE_PATH:
        return need_str(v, m, "path", m->u.replace_path.path);
    case CM_CONFIG_MW_REPLACE_PATH_REGEX:
        return need_str(v, m, "regex", m->u.replace_path_regex.regex);
    case CM_CONFIG_MW_HEADERS:
        return check_headers(v, m);
    case CM_CONFIG_MW_REDIRECT_SCHEME:
        return check_redirect_scheme(v, m);
    case CM_CONFIG_MW_REDIRECT_REGEX:
        rc = need_str(v, m, "regex", m->u.redirect_regex.regex);
        return rc ? rc
                  : need_str(v, m, "replacement",
                             m->u.redirect_regex.replacement);
    case CM_CONFIG_MW_BASIC_AUTH:
        return check_basic_auth(v, m);
    case CM_CONFIG_MW_IP_ALLOW_LIST:
        return check_ip_allow_list(v, m);
    case CM_CONFIG_MW_RATE_LIMIT:
        rc = need_min(v, m, "average", &m->u.rate_limit.average, 0);
        rc = rc ? rc : need_min(v, m, "burst", &m->u.rate_limit.burst, 0);
        return rc ? rc
                  : need_min(v, m, "period", &m->u.rate_limit.period_ms, 1);
    case CM_CONFIG_MW_IN_FLIGHT_REQ:
        return need_min(v, m, "amount", &m->u.in_flight_req.amount, 1);
    case CM_CONFIG_MW_RETRY:
        return need_min(v, m, "attempts", &m->u.retry.attempts, 1);
    case CM_CONFIG_MW_CIRCUIT_BREAKER:
        return need_str(v, m, "expression", m->u.circuit_breaker.expression);
    case CM_CONFIG_MW_CHAIN:
        return check_chain(v, m);
    case CM_CONFIG_MW_NONE:
        break;
    }
    snprintf(path, sizeof(path), "http.middlewares.%s", m->name);
    return verr(v, path, m, OBJ_MARK, "no kind given");
}

/* ==== cycles ==== */

/* One reference from item <from> to item <to>, for cycle detection. */
struct edge {
    size_t from, to;
    const char *const *ref; /* the reference's field, for its mark */
    const char *field;      /* path below the item */
    long index;             /* in a list, or -1 */
    const char *leaf;       /* after the index: ".name" or "" */
};

struct graph {
    const char *section; /* "http.middlewares" */
    const void *base;    /* items, name first */
    size_t stride, n;
    struct edge *edges; /* grouped by <from>, in order */
    size_t n_edges, cap;
    size_t *first; /* first[i]..first[i+1]: edges of item i */
};

static int graph_add(struct val *v, struct graph *g, size_t from,
                     const char *const *ref, const char *field, long index,
                     long (*find)(struct val *, const char *))
{
    struct edge *e;
    size_t cap;

    if (g->n_edges == g->cap) {
        cap = g->cap ? g->cap * 2 : 64;
        e = realloc(g->edges, cap * sizeof(*e));
        if (e == NULL)
            return GW_ENOMEM;
        g->edges = e;
        g->cap = cap;
    }
    e = &g->edges[g->n_edges++];
    e->from = from;
    e->to = (size_t)find(v, *ref); /* references were checked */
    e->ref = ref;
    e->field = field;
    e->index = index;
    e->leaf = strcmp(field, "chain.middlewares") == 0 ? "" : ".name";
    return GW_OK;
}

static const char *item_name(const struct graph *g, size_t i)
{
    return *(const char *const *)((const char *)g->base + i * g->stride);
}

/* Reports the cycle closed by edge <e>, listed from <stack>. */
static int cycle_err(struct val *v, const struct graph *g, const size_t *stack,
                     size_t depth, const struct edge *e, const char *what)
{
    char path[PATH_LEN], cyc[CM_ERR_LEN / 2];
    size_t i, n = 0, start = 0;

    for (i = 0; i < depth; i++)
        if (stack[i] == e->to)
            start = i;
    cyc[0] = '\0';
    for (i = start; i < depth && n < sizeof(cyc); i++)
        n += (size_t)snprintf(cyc + n, sizeof(cyc) - n, "%s -> ",
                              item_name(g, stack[i]));
    if (n < sizeof(cyc))
        snprintf(cyc + n, sizeof(cyc) - n, "%s", item_name(g, e->to));
    if (e->index >= 0)
        snprintf(path, sizeof(path), "%s.%s.%s[%ld]%s", g->section,
                 item_name(g, e->from), e->field, e->index, e->leaf);
    else
        snprintf(path, sizeof(path), "%s.%s.%s", g->section,
                 item_name(g, e->from), e->field);
    return verr(v, path, e->ref, VAL_MARK, "%s cycle: %s", what, cyc);
}

/* Depth-first search without recursion; 0 white, 1 on the stack, 2 done. */
static int graph_check(struct val *v, const struct graph *g, const char *what)
{
    unsigned char *color = calloc(g->n ? g->n : 1, 1);
    size_t *stack = malloc((g->n ? g->n : 1) * sizeof(*stack));
    size_t *next = malloc((g->n ? g->n : 1) * sizeof(*next));
    size_t root, depth, top;
    const struct edge *e;
    int rc = GW_OK;

    if (color == NULL || stack == NULL || next == NULL)
        rc = GW_ENOMEM;
    for (root = 0; rc == GW_OK && root < g->n; root++) {
        if (color[root] != 0)
            continue;
        depth = 0;
        stack[depth] = root;
        next[depth++] = g->first[root];
        color[root] = 1;
        while (depth > 0 && rc == GW_OK) {
            top = stack[depth - 1];
            if (next[depth - 1] == g->first[top + 1]) {
                color[top] = 2;
                depth--;
                continue;
            }
            e = &g->edges[next[depth - 1]++];
            if (color[e->to] == 1)
                rc = cycle_err(v, g, stack, depth, e, what);
            else if (color[e->to] == 0) {
                color[e->to] = 1;
                stack[depth] = e->to;
                next[depth++] = g->first[e->to];
            }
        }
    }
    free(color);
    free(stack);
    free(next);
    return rc;
}

/* Fills g->first from the edges, which were added grouped by item. */
static int graph_index(struct graph *g)
{
    size_t i, e = 0;

    g->first = malloc((g->n + 1) * sizeof(*g->first));
    if (g->first == NULL)
        return GW_ENOMEM;
    for (i = 0; i <= g->n; i++) {
        while (e < g->n_edges && g->edges[e].from < i)
            e++;
        g->first[i] = e;
    }
    return GW_OK;
}

static int chain_edges(struct val *v, struct graph *g)
{
    const struct cm_config_middleware *m;
    size_t i, k;
    int rc = GW_OK;

    for (i = 0; i < g->n && rc == GW_OK; i++) {
        m = &v->cfg->http.middlewares[i];
        if (m->kind != CM_CONFIG_MW_CHAIN)
            continue;
        for (k = 0; k < m->u.chain.n_middlewares && rc == GW_OK; k++)
            rc = graph_add(v, g, i, &m->u.chain.middlewares[k],
                           "chain.middlewares", (long)k, find_middleware);
    }
    return rc;
}

static int service_edges(struct val *v, struct graph *g)
{
    const struct cm_config_service *s;
    size_t i, k;
    int rc = GW_OK;

    for (i = 0; i < g->n && rc == GW_OK; i++) {
        s = &v->cfg->http.services[i];
        if (s->kind == CM_CONFIG_SVC_WEIGHTED) {
            for (k = 0; k < s->u.weighted.n_services && rc == GW_OK; k++)
                rc = graph_add(v, g, i, &s->u.weighted.services[k].name,
                               "weighted.services", (long)k, find_service);
        } else if (s->kind == CM_CONFIG_SVC_MIRRORING) {
            rc = graph_add(v, g, i, &s->u.mirroring.service,
                           "mirroring.service", -1, find_service);
            for (k = 0; k < s->u.mirroring.n_mirrors && rc == GW_OK; k++)
                rc = graph_add(v, g, i, &s->u.mirroring.mirrors[k].name,
                               "mirroring.mirrors", (long)k, find_service);
        } else if (s->kind == CM_CONFIG_SVC_FAILOVER) {
            rc = graph_add(v, g, i, &s->u.failover.service, "failover.service",
                           -1, find_service);
            if (rc == GW_OK)
                rc = graph_add(v, g, i, &s->u.failover.fallback,
                               "failover.fallback", -1, find_service);
        }
    }
    return rc;
}

static int check_cycles(struct val *v, int services)
{
    const struct cm_config_http *h = &v->cfg->http;
    struct graph g = {0};
    int rc;

    g.section = services ? "http.services" : "http.middlewares";
    g.base =
        services ? (const void *)h->services : (const void *)h->middlewares;
    g.stride = services ? sizeof(*h->services) : sizeof(*h->middlewares);
    g.n = services ? h->n_services : h->n_middlewares;
    rc = services ? service_edges(v, &g) : chain_edges(v, &g);
    if (rc == GW_OK)
        rc = graph_index(&g);
    if (rc == GW_OK)
        rc = graph_check(v, &g, services ? "service" : "middleware");
    if (rc == GW_ENOMEM)
        cm_err_set(v->err, v->errlen, rc, "out of memory");
    free(g.edges);
    free(g.first);
    return rc;
}

/* ==== routers and tls ==== */

static long find_entrypoint(struct val *v, const char *name)
{
    return names_find(&v->eps, v->cfg->entry_points,
                      sizeof(*v->cfg->entry_points), name);
}

static long find_tls_options(struct val *v, const char *name)
{
    if (strcmp(name, "default") == 0)
        return 0;
    return names_find(&v->tlsopts, v->cfg->tls.options,
                      sizeof(*v->cfg->tls.options), name);
}

static int check_router(struct val *v, struct cm_config_router *r)
{
    char path[PATH_LEN];
    size_t i;
    int rc;

    snprintf(path, sizeof(path), "http.routers.%s.rule", r->name);
    if (r->rule == NULL || r->rule[0] == '\0')
        return verr(v, path, r, OBJ_MARK, "missing rule");
    snprintf(path, sizeof(path), "http.routers.%s.service", r->name);
    if (r->service == NULL)
        return verr(v, path, r, OBJ_MARK, "missing service");
    rc = strcmp(r->service, CM_CONFIG_API_INTERNAL) == 0
             ? GW_OK
             : need_ref(v, path, &r->service, "service", find_service);
    for (i = 0; rc == GW_OK && i < r->n_middlewares; i++) {
        snprintf(path, sizeof(path), "http.routers.%s.middlewares[%zu]",
                 r->name, i);
        rc = need_ref(v, path, &r->middlewares[i], "middleware",
                      find_middleware);
    }
    for (i = 0; rc == GW_OK && i < r->n_entry_points; i++) {
        snprintf(path, sizeof(path), "http.routers.%s.entryPoints[%zu]",
                 r->name, i);
        rc = need_ref(v, path, &r->entry_points[i], "entry point",
                      find_entrypoint);
    }
    if (rc == GW_OK && r->tls != NULL && r->tls->options != NULL) {
        snprintf(path, sizeof(path), "http.routers.%s.tls.options", r->name);
        rc = need_ref(v, path, &r->tls->options, "TLS options",
                      find_tls_options);
    }
    return rc;
}

static int check_tls(struct val *v)
{
    const struct cm_config_certificate *c;
    char path[PATH_LEN];
    size_t i;

    for (i = 0; i < v->cfg->tls.n_certificates; i++) {
        c = &v->cfg->tls.certificates[i];
        snprintf(path, sizeof(path), "tls.certificates[%zu]", i);
        if ((c->cert_file == NULL) == (c->certificate == NULL) ||
            (c->key_file == NULL) == (c->key == NULL))
            return verr(v, path, c, OBJ_MARK,
                        "certFile and keyFile needed (or certificate and key "
                        "as inline PEM, one of each pair)");
    }
    return GW_OK;
}

/* ==== the whole ==== */

static int build_indexes(struct val *v)
{
    struct cm_config *c = v->cfg;
    int rc;

    rc = names_build(v, &v->eps, c->entry_points, sizeof(*c->entry_points),
                     c->n_entry_points, "entryPoints");
    if (rc == GW_OK)
        rc = names_build(v, &v->routers, c->http.routers,
                         sizeof(*c->http.routers), c->http.n_routers,
                         "http.routers");
    if (rc == GW_OK)
        rc = names_build(v, &v->services, c->http.services,
                         sizeof(*c->http.services), c->http.n_services,
                         "http.services");
    if (rc == GW_OK)
        rc = names_build(v, &v->mws, c->http.middlewares,
                         sizeof(*c->http.middlewares), c->http.n_middlewares,
                         "http.middlewares");
    if (rc == GW_OK)
        rc =
            names_build(v, &v->tlsopts, c->tls.options, sizeof(*c->tls.options),
                        c->tls.n_options, "tls.options");
    return rc;
}

static int check_items(struct val *v)
{
    struct cm_config *c = v->cfg;
    size_t i;
    int rc = GW_OK;

    for (i = 0; rc == GW_OK && i < c->n_entry_points; i++)
        rc = check_entrypoint(v, &c->entry_points[i]);
    for (i = 0; rc == GW_OK && i < c->http.n_middlewares; i++)
        rc = check_middleware(v, &c->http.middlewares[i]);
    for (i = 0; rc == GW_OK && i < c->http.n_services; i++)
        rc = check_service(v, &c->http.services[i]);
    for (i = 0; rc == GW_OK && i < c->http.n_routers; i++)
        rc = check_router(v, &c->http.routers[i]);
    if (rc == GW_OK)
        rc = check_tls(v);
    if (rc == GW_OK)
        rc = check_cycles(v, 0);
    if (rc == GW_OK)
        rc = check_cycles(v, 1);
    return rc;
}

int cm_config_validate(struct cm_config *cfg, char *err, size_t errlen)
{
    struct val v = {.cfg = cfg, .err = err, .errlen = errlen};
    int rc;

    rc = build_indexes(&v);
    if (rc == GW_OK)
        rc = check_items(&v);
    names_free(&v.eps);
    names_free(&v.routers);
    names_free(&v.services);
    names_free(&v.mws);
    names_free(&v.tlsopts);
    return rc;
}
