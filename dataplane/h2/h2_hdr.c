/*
 * h2_hdr.c -- header translation between HTTP/2 header blocks and
 * HTTP/1.1 heads, both ways (RFC 9113 section 8.2.2: connection-specific
 * fields dropped, :authority <-> Host, Cookie crumbs joined, TE only as
 * "trailers"), plus grpc-timeout parsing. Pure functions over caller
 * buffers; no allocation. Any thread.
 */
#include <stdio.h>
#include <string.h>

#include "common/http1/http1.h"
#include "dataplane/h2/h2.h"

/* ==== output buffer ==== */

struct ob {
    char *p;
    size_t len, cap;
    bool full;
};

static void put(struct ob *o, const void *p, size_t n)
{
    if (o->full || o->cap - o->len < n) {
        o->full = true;
        return;
    }
    memcpy(o->p + o->len, p, n);
    o->len += n;
}

static void puts_(struct ob *o, const char *s)
{
    put(o, s, strlen(s));
}

static void put_field(struct ob *o, const char *n, size_t nl, const char *v,
                      size_t vl)
{
    put(o, n, nl);
    put(o, ": ", 2);
    put(o, v, vl);
    put(o, "\r\n", 2);
}

static bool eq(const char *a, size_t al, const char *b)
{
    size_t bl = strlen(b);

    return al == bl && cm_h1_name_eq(a, al, b, bl);
}

/* ==== common ==== */

bool dp_h2_is_hop(const char *name, size_t len, const char *value, size_t vlen)
{
    if (eq(name, len, "te"))
        return !eq(value, vlen, "trailers");
    return eq(name, len, "connection") || eq(name, len, "keep-alive") ||
           eq(name, len, "proxy-connection") ||
           eq(name, len, "transfer-encoding") || eq(name, len, "upgrade") ||
           eq(name, len, "host");
}

const struct dp_h2_field *dp_h2_find(const struct dp_h2_head *h,
                                     const char *name, size_t len)
{
    for (size_t i = 0; i < h->n; i++) {
        if (cm_h1_name_eq(h->f[i].name.p, h->f[i].name.len, name, len))
            return &h->f[i];
    }
    return NULL;
}

static void lower(char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] >= 'A' && p[i] <= 'Z')
            p[i] = (char)(p[i] + 32);
    }
}

/* ==== HTTP/2 request -> HTTP/1.1 head ==== */

static void xff(struct ob *o, const struct dp_h2_head *h,
                const struct dp_h2_h1req *x, struct dp_h2_slice host)
{
    const struct dp_h2_field *f = dp_h2_find(h, "x-forwarded-for", 15);

    puts_(o, "X-Forwarded-For: ");
    if (f != NULL && f->value.len > 0) {
        put(o, f->value.p, f->value.len);
        if (x->client.len > 0)
            put(o, ", ", 2);
    }
    put(o, x->client.p, x->client.len);
    puts_(o, "\r\nX-Forwarded-Proto: ");
    if (x->proto.len > 0)
        put(o, x->proto.p, x->proto.len);
    else
        puts_(o, "http");
    puts_(o, "\r\nX-Forwarded-Host: ");
    put(o, host.p, host.len);
    put(o, "\r\n", 2);
}

/* Cookie crumbs joined into one field (RFC 9113 8.2.3). */
static void cookies(struct ob *o, const struct dp_h2_head *h,
                    const struct dp_h2_h1req *x)
{
    bool first = true;

    if (x->drop != NULL && x->drop(x->drop_arg, "cookie", 6))
        return;
    for (size_t i = 0; i < h->n; i++) {
        const struct dp_h2_field *f = &h->f[i];
        if (!eq(f->name.p, f->name.len, "cookie"))
            continue;
        put(o, first ? "cookie: " : "; ", first ? 8 : 2);
        put(o, f->value.p, f->value.len);
        first = false;
    }
    if (!first)
        put(o, "\r\n", 2);
}

static bool skip_req_field(const struct dp_h2_field *f,
                           const struct dp_h2_h1req *x)
{
    const char *n = f->name.p;
    size_t l = f->name.len;

    if (dp_h2_is_hop(n, l, f->value.p, f->value.len) || eq(n, l, "te") ||
        eq(n, l, "cookie") || eq(n, l, "x-forwarded-for") ||
        eq(n, l, "x-forwarded-proto") || eq(n, l, "x-forwarded-host"))
        return true;
    if (x->chunked && eq(n, l, "content-length"))
        return true;
    return x->drop != NULL && x->drop(x->drop_arg, n, l);
}

int dp_h2_req_to_h1(const struct dp_h2_head *h, const struct dp_h2_h1req *x,
                    char *out, size_t cap)
{
    struct ob o = {out, 0, cap, false};
    struct dp_h2_slice path = x->target.p ? x->target : h->path;
    struct dp_h2_slice host = x->host.p ? x->host : h->authority;

    if (h->method.p == NULL || path.p == NULL || path.len == 0)
        return GW_EINVAL;
    if (host.p == NULL) {
        const struct dp_h2_field *f = dp_h2_find(h, "host", 4);
        host = f != NULL ? f->value : (struct dp_h2_slice){"", 0};
    }
    put(&o, h->method.p, h->method.len);
    put(&o, " ", 1);
    put(&o, path.p, path.len);
    puts_(&o, " HTTP/1.1\r\nHost: ");
    put(&o, host.p, host.len);
    put(&o, "\r\n", 2);
    for (size_t i = 0; i < h->n; i++) {
        const struct dp_h2_field *f = &h->f[i];
        if (!skip_req_field(f, x))
            put_field(&o, f->name.p, f->name.len, f->value.p, f->value.len);
    }
    cookies(&o, h, x);
    xff(&o, h, x, host);
    if (x->extra.len > 0)
        put(&o, x->extra.p, x->extra.len);
    if (x->chunked)
        puts_(&o, "Transfer-Encoding: chunked\r\n");
    put(&o, "\r\n", 2);
    return o.full ? GW_ETOOBIG : (int)o.len;
}

/* ==== HTTP/1.1 -> HTTP/2 fields ==== */

static int add(struct dp_h2_field *f, size_t max, size_t *n, const char *name,
               size_t nl, const char *v, size_t vl)
{
    if (*n == max)
        return GW_ETOOBIG;
    f[*n].name = (struct dp_h2_slice){name, nl};
    f[*n].value = (struct dp_h2_slice){v, vl};
    (*n)++;
    return 0;
}

/* The fields of <m> but hop-by-hop ones, names lower-cased in <buf>. */
static int h1_fields(const struct cm_h1_msg *m, char *buf,
                     struct dp_h2_field *f, size_t max, size_t *n)
{
    for (uint32_t i = 0; i < m->nhdr; i++) {
        const struct cm_h1_hdr *h = &m->hdrs[i];
        char *name = buf + h->name.off, *v = buf + h->value.off;
        if (cm_h1_hdr_is_hop(h) ||
            dp_h2_is_hop(name, h->name.len, v, h->value.len))
            continue;
        lower(name, h->name.len);
        if (add(f, max, n, name, h->name.len, v, h->value.len) != 0)
            return GW_ETOOBIG;
    }
    return 0;
}

int dp_h2_resp_from_h1(const struct cm_h1_resp *r, char *buf, char status[4],
                       struct dp_h2_field *f, size_t max)
{
    size_t n = 0;

    snprintf(status, 4, "%03u", (unsigned)(r->code % 1000));
    if (add(f, max, &n, ":status", 7, status, 3) != 0 ||
        h1_fields(&r->msg, buf, f, max, &n) != 0)
        return GW_ETOOBIG;
    return (int)n;
}

int dp_h2_req_from_h1(const struct cm_h1_req *r, char *buf,
                      struct dp_h2_field *f, size_t max)
{
    size_t n = 0;
    struct cm_h1_span path = r->target;

    if (r->host.len == 0)
        return GW_EINVAL;
    if (r->form == CM_H1_T_ABSOLUTE) { /* origin-form from path and query */
        path.off = r->path.off;
        path.len = r->query.len ? r->query.off + r->query.len - r->path.off
                                : r->path.len;
    }
    if (add(f, max, &n, ":method", 7, buf + r->method_raw.off,
            r->method_raw.len) != 0 ||
        add(f, max, &n, ":scheme", 7, "http", 4) != 0 ||
        add(f, max, &n, ":authority", 10, buf + r->host.off, r->host.len) ||
        add(f, max, &n, ":path", 5, buf + path.off, path.len) != 0)
        return GW_ETOOBIG;
    for (uint32_t i = 0; i < r->msg.nhdr; i++) {
        const struct cm_h1_hdr *h = &r->msg.hdrs[i];
        char *name = buf + h->name.off, *v = buf + h->value.off;
        bool te = eq(name, h->name.len, "te");
        if ((cm_h1_hdr_is_hop(h) && !te) ||
            dp_h2_is_hop(name, h->name.len, v, h->value.len))
            continue;
        lower(name, h->name.len);
        if (add(f, max, &n, name, h->name.len, v, h->value.len) != 0)
            return GW_ETOOBIG;
    }
    return (int)n;
}

/* ==== HTTP/2 response -> HTTP/1.1 ==== */

int dp_h2_resp_to_h1(const struct dp_h2_head *h, bool chunked, char *out,
                     size_t cap)
{
    struct ob o = {out, 0, cap, false};
    char line[32];

    snprintf(line, sizeof(line), "HTTP/1.1 %03d \r\n", h->status % 1000);
    puts_(&o, line);
    for (size_t i = 0; i < h->n; i++) {
        const struct dp_h2_field *f = &h->f[i];
        if (dp_h2_is_hop(f->name.p, f->name.len, f->value.p, f->value.len) ||
            eq(f->name.p, f->name.len, "te") ||
            (chunked && eq(f->name.p, f->name.len, "content-length")))
            continue;
        put_field(&o, f->name.p, f->name.len, f->value.p, f->value.len);
    }
    if (chunked)
        puts_(&o, "transfer-encoding: chunked\r\n");
    put(&o, "\r\n", 2);
    return o.full ? GW_ETOOBIG : (int)o.len;
}

int dp_h2_trailers_to_h1(const struct dp_h2_field *f, size_t n, char *out,
                         size_t cap)
{
    struct ob o = {out, 0, cap, false};

    put(&o, "0\r\n", 3);
    for (size_t i = 0; i < n; i++)
        put_field(&o, f[i].name.p, f[i].name.len, f[i].value.p, f[i].value.len);
    put(&o, "\r\n", 2);
    return o.full ? GW_ETOOBIG : (int)o.len;
}

/* ==== helpers ==== */

int dp_h2_fields_from_lines(char *p, size_t len, struct dp_h2_field *f,
                            size_t max, size_t *n)
{
    char *end = p + len;

    while (p < end) {
        char *eol = memchr(p, '\n', (size_t)(end - p));
        char *colon = memchr(p, ':', (size_t)(end - p));
        char *v, *ve;
        if (eol == NULL || colon == NULL || colon > eol || colon == p)
            return GW_EINVAL;
        ve = eol;
        if (ve > colon && ve[-1] == '\r')
            ve--;
        for (v = colon + 1; v < ve && (*v == ' ' || *v == '\t'); v++)
            ;
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
            ve--;
        lower(p, (size_t)(colon - p));
        if (add(f, max, n, p, (size_t)(colon - p), v, (size_t)(ve - v)) != 0)
            return GW_ETOOBIG;
        p = eol + 1;
    }
    return 0;
}

int dp_h2_grpc_timeout_ms(const char *v, size_t len, uint64_t *ms)
{
    uint64_t x = 0;
    char u;

    if (len < 2 || len > 9) /* at most 8 digits and a unit */
        return GW_EINVAL;
    for (size_t i = 0; i + 1 < len; i++) {
        if (v[i] < '0' || v[i] > '9')
            return GW_EINVAL;
        x = x * 10 + (uint64_t)(v[i] - '0');
    }
    u = v[len - 1];
    switch (u) {
    case 'H':
        *ms = x * 3600000;
        return 0;
    case 'M':
        *ms = x * 60000;
        return 0;
    case 'S':
        *ms = x * 1000;
        return 0;
    case 'm':
        *ms = x;
        return 0;
    case 'u':
        *ms = (x + 999) / 1000;
        return 0;
    case 'n':
        *ms = (x + 999999) / 1000000;
        return 0;
    }
    return GW_EINVAL;
}
