/*
 * http1_write.c -- writes a parsed head for the next hop: start line in our
 * own version, end-to-end headers as received (runs of them are one iovec
 * into the caller's buffer), hop-by-hop ones dropped, X-Forwarded-* and
 * framing headers added. Zero-copy into iovecs, or copied into a buffer.
 * Runs on the worker loop that owns the message.
 */
#include <string.h>

#include "common/err/err.h"
#include "common/http1/http1-int.h"
#include "common/http1/http1.h"

/* Where pieces go: iovecs or a flat buffer. */
struct out {
    struct iovec *iov; /* borrows; NULL when copying */
    int n;
    int max;
    char *buf; /* borrows; when copying */
    size_t len;
    size_t cap;
    bool over; /* ran out of room */
};

/* Appends <n> bytes at <p>; merges with the previous iovec when contiguous
 * in memory (then the bytes are the same either way). */
static void put(struct out *o, const void *p, size_t n)
{
    if (n == 0 || o->over)
        return;
    if (o->iov == NULL) {
        if (o->cap - o->len < n) {
            o->over = true;
            return;
        }
        memcpy(o->buf + o->len, p, n);
        o->len += n;
        return;
    }
    if (o->n > 0 &&
        (const char *)o->iov[o->n - 1].iov_base + o->iov[o->n - 1].iov_len ==
            (const char *)p) {
        o->iov[o->n - 1].iov_len += n;
        return;
    }
    if (o->n == o->max) {
        o->over = true;
        return;
    }
    o->iov[o->n].iov_base = (void *)p;
    o->iov[o->n].iov_len = n;
    o->n++;
}

#define PUT_LIT(o, lit) put(o, lit, sizeof(lit) - 1)

static void put_span(struct out *o, const char *buf, struct cm_h1_span s)
{
    put(o, buf + s.off, s.len);
}

/* "Name: value\r\n" */
static void put_field(struct out *o, const char *name_colon_sp, const char *v,
                      size_t n)
{
    put(o, name_colon_sp, strlen(name_colon_sp));
    put(o, v, n);
    PUT_LIT(o, "\r\n");
}

/* The raw line of header <i> and its CRLF, up to the next line. */
static void put_line(struct out *o, const struct cm_h1_msg *m, const char *buf,
                     uint32_t i)
{
    uint32_t s = m->hdrs[i].name.off;
    uint32_t e = i + 1 < m->nhdr ? m->hdrs[i + 1].name.off : m->head_len - 2;

    put(o, buf + s, e - s);
}

static int finish(struct out *o)
{
    if (o->over)
        return GW_ETOOBIG;
    return o->iov ? o->n : (int)o->len;
}

/* ==== requests ==== */

static void req_start_line(struct out *o, const struct cm_h1_req *r,
                           const char *buf, const struct cm_h1_fwd *fwd)
{
    uint32_t m = r->method_raw.off, t = r->target.off;

    /* "METHOD " (one SP: the parser checked) */
    put(o, buf + m, t - m);
    if (fwd->target.ptr != NULL) {
        put(o, fwd->target.ptr, fwd->target.len);
    } else if (r->form == CM_H1_T_ABSOLUTE) {
        uint32_t s = r->authority.off + r->authority.len;
        if (r->path.len == 0)
            PUT_LIT(o, "/");
        put(o, buf + s, t + r->target.len - s);
    } else {
        put_span(o, buf, r->target);
    }
    PUT_LIT(o, " HTTP/1.1\r\n");
}

/* Is header <h> replaced or dropped by the writer? */
static bool req_drops(const struct cm_h1_req *r, const struct cm_h1_hdr *h,
                      const struct cm_h1_fwd *fwd)
{
    bool xf = fwd->flags & CM_H1_FWD_XF;

    if (cm_h1_hdr_is_hop(h))
        return !(h->id == CM_H1_H_UPGRADE && (fwd->flags & CM_H1_FWD_UPGRADE) &&
                 (r->msg.flags & CM_H1_F_UPGRADE));
    switch (h->id) {
    case CM_H1_H_HOST:
        return fwd->host.ptr != NULL || r->form == CM_H1_T_ABSOLUTE;
    case CM_H1_H_X_FORWARDED_FOR:
        return xf && fwd->client_addr.len > 0;
    case CM_H1_H_X_FORWARDED_PROTO:
        return xf && fwd->proto.len > 0;
    case CM_H1_H_X_FORWARDED_HOST:
        return xf && r->host.len > 0;
    }
    return false;
}

static void req_host(struct out *o, const struct cm_h1_req *r, const char *buf,
                     const struct cm_h1_fwd *fwd)
{
    if (fwd->host.ptr != NULL)
        put_field(o, "Host: ", fwd->host.ptr, fwd->host.len);
    else if (r->form == CM_H1_T_ABSOLUTE || !(r->msg.flags & CM_H1_F_HAS_HOST))
        put_field(o, "Host: ", buf + r->host.off, r->host.len);
}

/* X-Forwarded-For: <received values>, <client> */
static void req_xff(struct out *o, const struct cm_h1_req *r, const char *buf,
                    const struct cm_h1_fwd *fwd)
{
    const struct cm_h1_msg *m = &r->msg;

    PUT_LIT(o, "X-Forwarded-For: ");
    for (uint32_t i = 0; i < m->nhdr; i++) {
        const struct cm_h1_hdr *h = &m->hdrs[i];
        if (h->id != CM_H1_H_X_FORWARDED_FOR || h->value.len == 0 ||
            cm_h1_hdr_is_hop(h))
            continue;
        put_span(o, buf, h->value);
        PUT_LIT(o, ", ");
    }
    put(o, fwd->client_addr.ptr, fwd->client_addr.len);
    PUT_LIT(o, "\r\n");
}

static void req_added(struct out *o, const struct cm_h1_req *r, const char *buf,
                      const struct cm_h1_fwd *fwd)
{
    req_host(o, r, buf, fwd);
    if (fwd->flags & CM_H1_FWD_XF) {
        if (fwd->client_addr.len > 0)
            req_xff(o, r, buf, fwd);
        if (fwd->proto.len > 0)
            put_field(o, "X-Forwarded-Proto: ", fwd->proto.ptr, fwd->proto.len);
        if (r->host.len > 0)
            put_field(o, "X-Forwarded-Host: ", buf + r->host.off, r->host.len);
    }
    if ((fwd->flags & CM_H1_FWD_UPGRADE) && (r->msg.flags & CM_H1_F_UPGRADE))
        PUT_LIT(o, "Connection: upgrade\r\n");
    else if (fwd->flags & CM_H1_FWD_CLOSE)
        PUT_LIT(o, "Connection: close\r\n");
    else if (fwd->flags & CM_H1_FWD_KEEPALIVE)
        PUT_LIT(o, "Connection: keep-alive\r\n");
    if (fwd->flags & CM_H1_FWD_CHUNKED)
        PUT_LIT(o, "Transfer-Encoding: chunked\r\n");
    PUT_LIT(o, "\r\n");
}

static int req_write(struct out *o, const struct cm_h1_req *r, const char *buf,
                     const struct cm_h1_fwd *fwd)
{
    const struct cm_h1_msg *m = &r->msg;

    if (m->state != CM_H1_S_DONE)
        return GW_EINVAL;
    req_start_line(o, r, buf, fwd);
    for (uint32_t i = 0; i < m->nhdr; i++) {
        if (!req_drops(r, &m->hdrs[i], fwd))
            put_line(o, m, buf, i);
    }
    req_added(o, r, buf, fwd);
    return finish(o);
}

int cm_h1_req_write_iov(const struct cm_h1_req *req, const char *buf,
                        const struct cm_h1_fwd *fwd, struct iovec *iov,
                        int iov_max)
{
    struct out o = {.iov = iov, .max = iov_max};

    return req_write(&o, req, buf, fwd);
}

int cm_h1_req_write(const struct cm_h1_req *req, const char *buf,
                    const struct cm_h1_fwd *fwd, char *out, size_t cap)
{
    struct out o = {.buf = out, .cap = cap};

    return req_write(&o, req, buf, fwd);
}

/* ==== responses ==== */

int cm_h1_resp_write_iov(const struct cm_h1_resp *resp, const char *buf,
                         const struct cm_h1_fwd *fwd, struct iovec *iov,
                         int iov_max)
{
    const struct cm_h1_msg *m = &resp->msg;
    struct out o = {.iov = iov, .max = iov_max};
    bool upgrade =
        (fwd->flags & CM_H1_FWD_UPGRADE) && (m->flags & CM_H1_F_UPGRADE);

    if (m->state != CM_H1_S_DONE)
        return GW_EINVAL;
    /* "HTTP/1.1 " then the code and reason as received */
    PUT_LIT(&o, "HTTP/1.1 ");
    put(&o, buf + m->start.off + 9, m->start.len - 9);
    PUT_LIT(&o, "\r\n");
    for (uint32_t i = 0; i < m->nhdr; i++) {
        const struct cm_h1_hdr *h = &m->hdrs[i];
        if (!cm_h1_hdr_is_hop(h) || (upgrade && h->id == CM_H1_H_UPGRADE))
            put_line(&o, m, buf, i);
    }
    if (upgrade)
        PUT_LIT(&o, "Connection: upgrade\r\n");
    else if (fwd->flags & CM_H1_FWD_CLOSE)
        PUT_LIT(&o, "Connection: close\r\n");
    else if (fwd->flags & CM_H1_FWD_KEEPALIVE)
        PUT_LIT(&o, "Connection: keep-alive\r\n");
    if (fwd->flags & CM_H1_FWD_CHUNKED)
        PUT_LIT(&o, "Transfer-Encoding: chunked\r\n");
    PUT_LIT(&o, "\r\n");
    return finish(&o);
}

size_t cm_h1_iov_len(const struct iovec *iov, int n)
{
    size_t t = 0;

    for (int i = 0; i < n; i++)
        t += iov[i].iov_len;
    return t;
}
