/*
 * http1_parse.c -- request and response head parsers (RFC 9112), strict
 * against request smuggling. Works line by line: the LF of each line is
 * searched once (the search resumes at msg.scan), then the complete line is
 * checked and recorded as spans; nothing is copied or allocated. The chunked
 * body decoder is in http1_chunked.c, the head writer in http1_write.c.
 * Runs on the worker loop that owns the message.
 */
#include <string.h>

#include "common/err/err.h"
#include "common/http1/http1-int.h"
#include "common/http1/http1.h"

enum { KIND_REQ = 1, KIND_RESP = 2 };

#define IS_OWS(c) ((c) == ' ' || (c) == '\t')

static struct cm_h1_span span(uint32_t off, uint32_t len)
{
    struct cm_h1_span s = {off, len};
    return s;
}

/* Records why the head is invalid; the status is 502 for responses (the
 * client's answer when an upstream misbehaves). Returns -1. */
static int fail(struct cm_h1_msg *m, int status, const char *why)
{
    m->status = m->kind == KIND_REQ ? status : 502;
    m->err = why;
    m->err_pos = m->pos;
    m->state = CM_H1_S_ERROR;
    return -1;
}

/* <p> (n bytes) equals the lower-case <lower> ignoring ASCII case. */
static bool lc_eq(const char *p, const char *lower, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (cm_h1__lower[(uint8_t)p[i]] != (uint8_t)lower[i])
            return false;
    }
    return true;
}

#define LC_IS(p, n, lit) ((n) == sizeof(lit) - 1 && lc_eq(p, lit, (n)))

/* ==== byte scans, 8 bytes at a time ==== */

#define ONES  0x0101010101010101ull
#define HIGHS 0x8080808080808080ull
/* nonzero when some byte of <x> is below <n> (n <= 128) */
#define HAS_LESS(x, n) (((x)-ONES * (n)) & ~(x)&HIGHS)
/* nonzero when some byte of <x> equals <b> */
#define HAS_BYTE(x, b) HAS_LESS((x) ^ (ONES * (b)), 1)

static uint64_t load8(const char *p)
{
    uint64_t x;

    memcpy(&x, p, 8);
    return x;
}

static bool field_word_ok(uint64_t x)
{
    return !(HAS_LESS(x, 0x20) | HAS_BYTE(x, 0x7f));
}

/* Are all <n> bytes at <p> field value bytes (no CTL but HTAB, no DEL)?
 * Words that fail the quick test (a HTAB, say) are checked bytewise. */
static bool field_ok(const char *p, uint32_t n)
{
    uint32_t k = 0;

    if (n >= 8) {
        for (; k + 8 <= n; k += 8) {
            if (!field_word_ok(load8(p + k)))
                goto slow;
        }
        /* the last 8 bytes, overlapping what was checked */
        if (k == n || field_word_ok(load8(p + n - 8)))
            return true;
    }
slow:
    for (; k < n; k++) {
        if (!CM_H1__IS(p[k], CM_H1__FIELD))
            return false;
    }
    return true;
}

/* First index in [i, e) that is not a request-target byte, or e. */
static uint32_t target_end(const char *buf, uint32_t i, uint32_t e)
{
    while (e - i >= 8) {
        uint64_t x = load8(buf + i);
        if ((x & HIGHS) | HAS_LESS(x, 0x21) | HAS_BYTE(x, 0x7f) |
            HAS_BYTE(x, '#'))
            break;
        i += 8;
    }
    while (i < e && CM_H1__IS(buf[i], CM_H1__TARGET))
        i++;
    return i;
}

/* First index in [i, e) that is not a token byte, or e; four table
 * lookups at a time. */
static uint32_t token_end(const char *buf, uint32_t i, uint32_t e)
{
    const uint8_t *t = cm_h1__ctype, *p = (const uint8_t *)buf;

    while (e - i >= 4 &&
           (t[p[i]] & t[p[i + 1]] & t[p[i + 2]] & t[p[i + 3]] & CM_H1__TCHAR))
        i += 4;
    while (i < e && (t[p[i]] & CM_H1__TCHAR))
        i++;
    return i;
}

/* ==== names ==== */

bool cm_h1_name_eq(const char *a, size_t alen, const char *b, size_t blen)
{
    if (alen != blen)
        return false;
    for (size_t i = 0; i < alen; i++) {
        if (cm_h1__lower[(uint8_t)a[i]] != cm_h1__lower[(uint8_t)b[i]])
            return false;
    }
    return true;
}

static uint8_t hdr_id(const char *p, uint32_t n)
{
    switch (n) {
    case 2:
        return lc_eq(p, "te", 2) ? CM_H1_H_TE : 0;
    case 4:
        return lc_eq(p, "host", 4) ? CM_H1_H_HOST : 0;
    case 6:
        return lc_eq(p, "expect", 6) ? CM_H1_H_EXPECT : 0;
    case 7:
        if (lc_eq(p, "upgrade", 7))
            return CM_H1_H_UPGRADE;
        return lc_eq(p, "trailer", 7) ? CM_H1_H_TRAILER : 0;
    case 10:
        if (lc_eq(p, "connection", 10))
            return CM_H1_H_CONNECTION;
        return lc_eq(p, "keep-alive", 10) ? CM_H1_H_KEEP_ALIVE : 0;
    case 14:
        return lc_eq(p, "content-length", 14) ? CM_H1_H_CONTENT_LENGTH : 0;
    case 15:
        return lc_eq(p, "x-forwarded-for", 15) ? CM_H1_H_X_FORWARDED_FOR : 0;
    case 16:
        if (lc_eq(p, "proxy-connection", 16))
            return CM_H1_H_PROXY_CONNECTION;
        return lc_eq(p, "x-forwarded-host", 16) ? CM_H1_H_X_FORWARDED_HOST : 0;
    case 17:
        if (lc_eq(p, "transfer-encoding", 17))
            return CM_H1_H_TRANSFER_ENCODING;
        return lc_eq(p, "x-forwarded-proto", 17) ? CM_H1_H_X_FORWARDED_PROTO
                                                 : 0;
    }
    return 0;
}

static bool id_is_hop(uint8_t id)
{
    switch (id) {
    case CM_H1_H_CONNECTION:
    case CM_H1_H_KEEP_ALIVE:
    case CM_H1_H_PROXY_CONNECTION:
    case CM_H1_H_TE:
    case CM_H1_H_TRAILER:
    case CM_H1_H_TRANSFER_ENCODING:
    case CM_H1_H_UPGRADE:
        return true;
    }
    return false;
}

bool cm_h1_name_is_hop(const char *name, size_t len)
{
    return len < 32 && id_is_hop(hdr_id(name, (uint32_t)len));
}

int cm_h1_find(const struct cm_h1_msg *m, const char *buf, const char *name,
               size_t len, uint32_t from)
{
    for (uint32_t i = from; i < m->nhdr; i++) {
        const struct cm_h1_hdr *h = &m->hdrs[i];
        if (cm_h1_name_eq(buf + h->name.off, h->name.len, name, len))
            return (int)i;
    }
    return -1;
}

/* ==== init / reset ==== */

static void msg_reset(struct cm_h1_msg *m)
{
    struct cm_h1_msg keep = *m;

    memset(m, 0, sizeof(*m));
    m->hdrs = keep.hdrs;
    m->hdr_max = keep.hdr_max;
    m->max_line = keep.max_line;
    m->max_headers = keep.max_headers;
    m->kind = keep.kind;
    m->content_length = -1;
}

static int msg_init(struct cm_h1_msg *m, uint8_t kind, struct cm_h1_hdr *hdrs,
                    uint32_t hdr_max, const struct cm_h1_limits *lim)
{
    uint32_t line = lim && lim->max_line ? lim->max_line : CM_H1_MAX_LINE_DEF;
    uint32_t head =
        lim && lim->max_headers ? lim->max_headers : CM_H1_MAX_HEADERS_DEF;

    if (hdrs == NULL || hdr_max == 0 || line > CM_H1_MAX_LIMIT ||
        head > CM_H1_MAX_LIMIT)
        return GW_EINVAL;
    m->hdrs = hdrs;
    m->hdr_max = hdr_max;
    m->max_line = line;
    m->max_headers = head;
    m->kind = kind;
    msg_reset(m);
    return 0;
}

int cm_h1_req_init(struct cm_h1_req *req, struct cm_h1_hdr *hdrs,
                   uint32_t hdr_max, const struct cm_h1_limits *lim)
{
    memset(req, 0, sizeof(*req));
    return msg_init(&req->msg, KIND_REQ, hdrs, hdr_max, lim);
}

void cm_h1_req_reset(struct cm_h1_req *req)
{
    struct cm_h1_msg m = req->msg;

    memset(req, 0, sizeof(*req));
    req->msg = m;
    msg_reset(&req->msg);
}

int cm_h1_resp_init(struct cm_h1_resp *resp, struct cm_h1_hdr *hdrs,
                    uint32_t hdr_max, const struct cm_h1_limits *lim)
{
    memset(resp, 0, sizeof(*resp));
    return msg_init(&resp->msg, KIND_RESP, hdrs, hdr_max, lim);
}

void cm_h1_resp_reset(struct cm_h1_resp *resp, enum cm_h1_method req_method)
{
    struct cm_h1_msg m = resp->msg;

    memset(resp, 0, sizeof(*resp));
    resp->msg = m;
    resp->req_method = (uint8_t)req_method;
    msg_reset(&resp->msg);
}

/* ==== start lines ==== */

static uint8_t method_id(const char *p, uint32_t n)
{
    switch (n) {
    case 3:
        if (memcmp(p, "GET", 3) == 0)
            return CM_H1_M_GET;
        return memcmp(p, "PUT", 3) == 0 ? CM_H1_M_PUT : CM_H1_M_OTHER;
    case 4:
        if (memcmp(p, "POST", 4) == 0)
            return CM_H1_M_POST;
        return memcmp(p, "HEAD", 4) == 0 ? CM_H1_M_HEAD : CM_H1_M_OTHER;
    case 5:
        if (memcmp(p, "PATCH", 5) == 0)
            return CM_H1_M_PATCH;
        return memcmp(p, "TRACE", 5) == 0 ? CM_H1_M_TRACE : CM_H1_M_OTHER;
    case 6:
        return memcmp(p, "DELETE", 6) == 0 ? CM_H1_M_DELETE : CM_H1_M_OTHER;
    case 7:
        if (memcmp(p, "OPTIONS", 7) == 0)
            return CM_H1_M_OPTIONS;
        return memcmp(p, "CONNECT", 7) == 0 ? CM_H1_M_CONNECT : CM_H1_M_OTHER;
    }
    return CM_H1_M_OTHER;
}

/* "HTTP/1.0" or "HTTP/1.1": 0 and sets the minor; another well-formed
 * HTTP/d.d: 505; anything else: 400. */
static int version(const char *p, uint32_t n, uint8_t *minor)
{
    if (n != 8 || memcmp(p, "HTTP/", 5) != 0 ||
        !CM_H1__IS(p[5], CM_H1__DIGIT) || p[6] != '.' ||
        !CM_H1__IS(p[7], CM_H1__DIGIT))
        return 400;
    if (p[5] != '1' || (p[7] != '0' && p[7] != '1'))
        return 505;
    *minor = (uint8_t)(p[7] - '0');
    return 0;
}

/* Splits [off, off+n) into path and query at the first '?'. */
static void split_path(struct cm_h1_req *r, const char *buf, uint32_t off,
                       uint32_t n)
{
    const char *q = memchr(buf + off, '?', n);
    uint32_t plen = q ? (uint32_t)(q - (buf + off)) : n;

    r->path = span(off, plen);
    r->query = q ? span(off + plen + 1, n - plen - 1) : span(off + n, 0);
}

/* host [":" port]: host a reg-name or a bracketed IP literal, port digits
 * (required and non-empty when <need_port>). */
static bool authority_ok(const char *p, uint32_t n, bool need_port)
{
    uint32_t i = 0, h;

    if (n > 0 && p[0] == '[') {
        for (i = 1; i < n && p[i] != ']'; i++) {
            if (!CM_H1__IS(p[i], CM_H1__HOST) || p[i] == '[')
                return false;
        }
        if (i == n || (i + 1 < n && p[i + 1] != ':'))
            return false;
        i++;
    }
    for (; i < n && p[i] != ':'; i++) {
        if (!CM_H1__IS(p[i], CM_H1__HOST) || p[i] == '[' || p[i] == ']')
            return false;
    }
    h = i;
    if (h == 0)
        return false;
    for (i = h + 1; i < n; i++) {
        if (!CM_H1__IS(p[i], CM_H1__DIGIT))
            return false;
    }
    return !need_port || h + 1 < n;
}

/* scheme "://" authority [path-abempty] ["?" query] */
static int absolute_form(struct cm_h1_req *r, const char *buf)
{
    const char *p = buf + r->target.off;
    uint32_t n = r->target.len, i = 1, a;

    if ((p[0] | 0x20) < 'a' || (p[0] | 0x20) > 'z')
        return fail(&r->msg, 400, "bad request target");
    while (i < n && CM_H1__IS(p[i], CM_H1__SCHEME))
        i++;
    if (n - i < 3 || memcmp(p + i, "://", 3) != 0)
        return fail(&r->msg, 400, "bad request target");
    a = i + 3;
    for (i = a; i < n && p[i] != '/' && p[i] != '?';)
        i++;
    if (!authority_ok(p + a, i - a, false))
        return fail(&r->msg, 400, "bad authority in request target");
    r->form = CM_H1_T_ABSOLUTE;
    r->authority = span(r->target.off + a, i - a);
    split_path(r, buf, r->target.off + i, n - i);
    return 0;
}

static int target_form(struct cm_h1_req *r, const char *buf)
{
    const char *p = buf + r->target.off;
    uint32_t n = r->target.len;

    if (r->method == CM_H1_M_CONNECT) {
        if (!authority_ok(p, n, true))
            return fail(&r->msg, 400, "CONNECT needs host:port");
        r->form = CM_H1_T_AUTHORITY;
        r->authority = r->target;
        return 0;
    }
    if (p[0] == '/') {
        r->form = CM_H1_T_ORIGIN;
        split_path(r, buf, r->target.off, n);
        return 0;
    }
    if (n == 1 && p[0] == '*') {
        if (r->method != CM_H1_M_OPTIONS)
            return fail(&r->msg, 400, "'*' target without OPTIONS");
        r->form = CM_H1_T_ASTERISK;
        return 0;
    }
    return absolute_form(r, buf);
}

/* method SP request-target SP HTTP-version, in [s, e) */
static int req_line(struct cm_h1_req *r, const char *buf, uint32_t s,
                    uint32_t e)
{
    uint32_t i = s, t;
    int rc;

    while (i < e && CM_H1__IS(buf[i], CM_H1__TCHAR))
        i++;
    if (i == s || i == e || buf[i] != ' ')
        return fail(&r->msg, 400, "bad method");
    r->method_raw = span(s, i - s);
    r->method = method_id(buf + s, i - s);
    t = ++i;
    i = target_end(buf, i, e);
    if (i == t || i == e || buf[i] != ' ')
        return fail(&r->msg, 400, "bad request target");
    r->target = span(t, i - t);
    i++;
    rc = version(buf + i, e - i, &r->msg.minor);
    if (rc != 0)
        return fail(&r->msg, rc, "bad HTTP version");
    return target_form(r, buf);
}

/* HTTP-version SP 3DIGIT SP reason-phrase, in [s, e). Leniency: the SP
 * after the code may be missing when there is no reason. */
static int status_line(struct cm_h1_resp *r, const char *buf, uint32_t s,
                       uint32_t e)
{
    const char *p = buf + s;
    uint32_t n = e - s;

    if (n < 12 || version(p, 8, &r->msg.minor) != 0 || p[8] != ' ' ||
        p[9] < '1' || p[9] > '5' || !CM_H1__IS(p[10], CM_H1__DIGIT) ||
        !CM_H1__IS(p[11], CM_H1__DIGIT))
        return fail(&r->msg, 502, "bad status line");
    r->code = (uint16_t)((p[9] - '0') * 100 + (p[10] - '0') * 10 + p[11] - '0');
    if (n == 12) {
        r->reason = span(e, 0);
        return 0;
    }
    if (p[12] != ' ')
        return fail(&r->msg, 502, "bad status line");
    for (uint32_t i = 13; i < n; i++) {
        if (!CM_H1__IS(p[i], CM_H1__FIELD))
            return fail(&r->msg, 502, "control byte in reason");
    }
    r->reason = span(s + 13, n - 13);
    return 0;
}

/* ==== header fields ==== */

/* Next element of the comma list in [*i, end), whitespace trimmed, into
 * [*a, *b). Returns false past the end; empty elements are returned. */
static bool list_next(const char *buf, uint32_t *i, uint32_t end, uint32_t *a,
                      uint32_t *b)
{
    uint32_t s = *i, e = s;

    if (s > end)
        return false;
    while (e < end && buf[e] != ',')
        e++;
    *i = e + 1;
    while (s < e && IS_OWS(buf[s]))
        s++;
    while (e > s && IS_OWS(buf[e - 1]))
        e--;
    *a = s;
    *b = e;
    return true;
}

static bool all_tchar(const char *p, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        if (!CM_H1__IS(p[i], CM_H1__TCHAR))
            return false;
    }
    return n > 0;
}

static int host_header(struct cm_h1_msg *m, const char *buf,
                       struct cm_h1_hdr *h)
{
    struct cm_h1_req *r = (struct cm_h1_req *)m;

    if (m->flags & CM_H1_F_HAS_HOST)
        return fail(m, 400, "several Host headers");
    if (h->value.len > 0 &&
        !authority_ok(buf + h->value.off, h->value.len, false))
        return fail(m, 400, "bad Host");
    m->flags |= CM_H1_F_HAS_HOST;
    r->host = h->value;
    return 0;
}

static int cl_header(struct cm_h1_msg *m, const char *buf,
                     const struct cm_h1_hdr *h)
{
    const char *p = buf + h->value.off;
    int64_t v = 0;

    if (h->value.len == 0)
        return fail(m, 400, "empty Content-Length");
    for (uint32_t i = 0; i < h->value.len; i++) {
        int d = p[i] - '0';
        if (!CM_H1__IS(p[i], CM_H1__DIGIT))
            return fail(m, 400, "Content-Length not a number");
        if (v > (INT64_MAX - d) / 10)
            return fail(m, 400, "Content-Length overflows");
        v = v * 10 + d;
    }
    if ((m->flags & CM_H1_F_HAS_CL) && v != m->content_length)
        return fail(m, 400, "different Content-Length values");
    m->flags |= CM_H1_F_HAS_CL;
    m->content_length = v;
    return 0;
}

static bool coding_known(const char *p, uint32_t n)
{
    return LC_IS(p, n, "gzip") || LC_IS(p, n, "deflate") ||
           LC_IS(p, n, "compress") || LC_IS(p, n, "x-gzip") ||
           LC_IS(p, n, "x-compress");
}

/* One transfer-coding [a, b): token [ OWS ";" params ]. */
static int te_coding(struct cm_h1_msg *m, const char *buf, uint32_t a,
                     uint32_t b)
{
    uint32_t k = a, n;

    while (k < b && CM_H1__IS(buf[k], CM_H1__TCHAR))
        k++;
    n = k - a;
    while (k < b && IS_OWS(buf[k]))
        k++;
    if (n == 0 || (k < b && buf[k] != ';'))
        return fail(m, 400, "bad transfer coding");
    if (LC_IS(buf + a, n, "chunked")) {
        if (k < b)
            return fail(m, 400, "parameters on chunked");
        if (m->flags & CM_H1_F__TE_CHUNKED)
            return fail(m, 400, "chunked applied twice");
        m->flags |= CM_H1_F__TE_CHUNKED | CM_H1_F__TE_LAST_CHK;
        return 0;
    }
    if (m->kind == KIND_REQ && !coding_known(buf + a, n))
        return fail(m, 501, "unknown transfer coding");
    m->flags &= ~(uint32_t)CM_H1_F__TE_LAST_CHK;
    return 0;
}

static int te_header(struct cm_h1_msg *m, const char *buf,
                     const struct cm_h1_hdr *h)
{
    uint32_t i = h->value.off, end = i + h->value.len, a, b;

    if (m->minor == 0)
        return fail(m, 400, "Transfer-Encoding in HTTP/1.0");
    m->flags |= CM_H1_F_HAS_TE;
    while (list_next(buf, &i, end, &a, &b)) {
        if (a == b)
            return fail(m, 400, "empty transfer coding");
        if (te_coding(m, buf, a, b) != 0)
            return -1;
    }
    return 0;
}

static int conn_header(struct cm_h1_msg *m, const char *buf,
                       const struct cm_h1_hdr *h)
{
    uint32_t i = h->value.off, end = i + h->value.len, a, b;

    while (list_next(buf, &i, end, &a, &b)) {
        const char *p = buf + a;
        uint32_t n = b - a;
        if (n == 0)
            continue;
        if (!all_tchar(p, n))
            return fail(m, 400, "bad Connection option");
        if (LC_IS(p, n, "close"))
            m->flags |= CM_H1_F_CONN_CLOSE;
        else if (LC_IS(p, n, "keep-alive"))
            m->flags |= CM_H1_F_CONN_KEEPALIVE;
        else if (LC_IS(p, n, "upgrade"))
            m->flags |= CM_H1_F_CONN_UPGRADE;
        else
            m->flags |= CM_H1_F_CONN_OTHER;
    }
    return 0;
}

static int known_header(struct cm_h1_msg *m, const char *buf,
                        struct cm_h1_hdr *h)
{
    if (id_is_hop(h->id))
        h->flags |= CM_H1_HDR_HOP;
    switch (h->id) {
    case CM_H1_H_HOST:
        return m->kind == KIND_REQ ? host_header(m, buf, h) : 0;
    case CM_H1_H_CONTENT_LENGTH:
        return cl_header(m, buf, h);
    case CM_H1_H_TRANSFER_ENCODING:
        return te_header(m, buf, h);
    case CM_H1_H_CONNECTION:
        return conn_header(m, buf, h);
    case CM_H1_H_UPGRADE:
        m->flags |= CM_H1_F_HAS_UPGRADE;
        return 0;
    case CM_H1_H_EXPECT:
        if (m->kind == KIND_REQ &&
            LC_IS(buf + h->value.off, h->value.len, "100-continue"))
            m->flags |= CM_H1_F_EXPECT_CONTINUE;
        return 0;
    }
    return 0;
}

/* field-name ":" OWS field-value OWS, in [s, e) */
static int header_line(struct cm_h1_msg *m, const char *buf, uint32_t s,
                       uint32_t e)
{
    uint32_t i = token_end(buf, s, e), v;
    struct cm_h1_hdr *h;

    if (i == s && IS_OWS(buf[s]))
        return fail(m, 400, "obsolete line folding");
    if (i == s || buf[i] != ':')
        return fail(m, 400,
                    IS_OWS(buf[i]) ? "whitespace before colon"
                                   : "bad header name");
    v = i + 1;
    while (v < e && IS_OWS(buf[v]))
        v++;
    if (!field_ok(buf + v, e - v))
        return fail(m, 400, "control byte in header value");
    while (e > v && IS_OWS(buf[e - 1]))
        e--;
    if (m->nhdr == m->hdr_max)
        return fail(m, 431, "too many headers");
    h = &m->hdrs[m->nhdr++];
    h->name = span(s, i - s);
    h->value = span(v, e - v);
    h->id = hdr_id(buf + s, i - s);
    h->flags = 0;
    return h->id ? known_header(m, buf, h) : 0;
}

/* ==== end of head ==== */

/* Is option [a, b) of a Connection header protected from removal? */
static void mark_named(struct cm_h1_msg *m, const char *buf, uint32_t a,
                       uint32_t b)
{
    for (uint32_t k = 0; k < m->nhdr; k++) {
        struct cm_h1_hdr *h = &m->hdrs[k];
        if (h->id == CM_H1_H_HOST || h->id == CM_H1_H_CONTENT_LENGTH ||
            (h->flags & CM_H1_HDR_HOP))
            continue;
        if (cm_h1_name_eq(buf + h->name.off, h->name.len, buf + a, b - a))
            h->flags |= CM_H1_HDR_HOP;
    }
}

/* Marks the headers that Connection names as hop-by-hop. */
static void mark_nominated(struct cm_h1_msg *m, const char *buf)
{
    for (uint32_t k = 0; k < m->nhdr; k++) {
        const struct cm_h1_hdr *c = &m->hdrs[k];
        uint32_t i = c->value.off, end = i + c->value.len, a, b;
        if (c->id != CM_H1_H_CONNECTION)
            continue;
        while (list_next(buf, &i, end, &a, &b)) {
            if (a < b)
                mark_named(m, buf, a, b);
        }
    }
}

static void keepalive(struct cm_h1_msg *m)
{
    uint32_t f = m->flags;
    bool ka = m->minor == 1
                  ? !(f & CM_H1_F_CONN_CLOSE)
                  : (f & CM_H1_F_CONN_KEEPALIVE) && !(f & CM_H1_F_CONN_CLOSE);

    if (m->body == CM_H1_BODY_CLOSE)
        ka = false;
    if (ka)
        m->flags |= CM_H1_F_KEEPALIVE;
}

static int req_end(struct cm_h1_req *r, const char *buf)
{
    struct cm_h1_msg *m = &r->msg;

    if ((m->flags & CM_H1_F_HAS_TE) && (m->flags & CM_H1_F_HAS_CL))
        return fail(m, 400, "both Content-Length and Transfer-Encoding");
    if (m->flags & CM_H1_F_HAS_TE) {
        if (!(m->flags & CM_H1_F__TE_LAST_CHK))
            return fail(m, 400, "chunked is not the last transfer coding");
        m->body = CM_H1_BODY_CHUNKED;
        m->flags |= CM_H1_F_CHUNKED;
    } else if (m->content_length > 0) {
        m->body = CM_H1_BODY_LENGTH;
    }
    if (m->minor == 1 && !(m->flags & CM_H1_F_HAS_HOST))
        return fail(m, 400, "missing Host");
    if (r->form == CM_H1_T_ABSOLUTE || r->form == CM_H1_T_AUTHORITY)
        r->host = r->authority;
    if (m->minor == 0)
        m->flags &= ~(uint32_t)CM_H1_F_EXPECT_CONTINUE;
    else if ((m->flags & CM_H1_F_CONN_UPGRADE) &&
             (m->flags & CM_H1_F_HAS_UPGRADE))
        m->flags |= CM_H1_F_UPGRADE;
    keepalive(m);
    if (m->flags & CM_H1_F_CONN_OTHER)
        mark_nominated(m, buf);
    return 0;
}

static int resp_end(struct cm_h1_resp *r, const char *buf)
{
    struct cm_h1_msg *m = &r->msg;
    bool no_body = r->code < 200 || r->code == 204 || r->code == 304 ||
                   r->req_method == CM_H1_M_HEAD;

    if ((m->flags & CM_H1_F_HAS_TE) && (m->flags & CM_H1_F_HAS_CL))
        return fail(m, 502, "both Content-Length and Transfer-Encoding");
    if (r->req_method == CM_H1_M_CONNECT && r->code / 100 == 2)
        m->flags |= CM_H1_F_TUNNEL;
    else if (no_body)
        m->body = CM_H1_BODY_NONE;
    else if ((m->flags & CM_H1_F__TE_LAST_CHK)) {
        m->body = CM_H1_BODY_CHUNKED;
        m->flags |= CM_H1_F_CHUNKED;
    } else if (m->flags & CM_H1_F_HAS_TE)
        m->body = CM_H1_BODY_CLOSE;
    else if (m->flags & CM_H1_F_HAS_CL)
        m->body = m->content_length > 0 ? CM_H1_BODY_LENGTH : CM_H1_BODY_NONE;
    else
        m->body = CM_H1_BODY_CLOSE;
    if (r->code == 101 && (m->flags & CM_H1_F_HAS_UPGRADE))
        m->flags |= CM_H1_F_UPGRADE;
    keepalive(m);
    if (m->flags & CM_H1_F_CONN_OTHER)
        mark_nominated(m, buf);
    return 0;
}

/* ==== the line loop ==== */

/* Handles the line ending with the LF at <eol>. Returns 0 to go on, -1 on
 * error, or the head length when it ended. */
static int line(struct cm_h1_msg *m, const char *buf, uint32_t eol)
{
    uint32_t s = m->pos, e = eol - 1;
    int rc;

    if (m->state == CM_H1_S_LINE && eol + 1 > m->max_line)
        return fail(m, 414, "request line too long");
    if (m->state == CM_H1_S_HEADERS && eol + 1 - m->hdr_off > m->max_headers)
        return fail(m, 431, "header section too large");
    if (eol == s || buf[e] != '\r')
        return fail(m, 400, "line ends in LF without CR");
    if (m->state == CM_H1_S_LINE) {
        if (e == s)
            return 0; /* an empty line before the start line is skipped */
        rc = m->kind == KIND_REQ
                 ? req_line((struct cm_h1_req *)m, buf, s, e)
                 : status_line((struct cm_h1_resp *)m, buf, s, e);
        if (rc != 0)
            return rc;
        m->start = span(s, e - s);
        m->hdr_off = eol + 1;
        m->state = CM_H1_S_HEADERS;
        return 0;
    }
    if (e != s)
        return header_line(m, buf, s, e);
    rc = m->kind == KIND_REQ ? req_end((struct cm_h1_req *)m, buf)
                             : resp_end((struct cm_h1_resp *)m, buf);
    if (rc != 0)
        return rc;
    m->head_len = eol + 1;
    m->state = CM_H1_S_DONE;
    return (int)m->head_len;
}

/* No LF in the first <len> bytes: is the open line already too long? */
static int open_line(struct cm_h1_msg *m, size_t len)
{
    if (m->state == CM_H1_S_LINE && len > m->max_line)
        return fail(m, 414, "request line too long");
    if (m->state == CM_H1_S_HEADERS && len - m->hdr_off > m->max_headers)
        return fail(m, 431, "header section too large");
    return 0;
}

static int head_parse(struct cm_h1_msg *m, const char *buf, size_t len)
{
    size_t cap = (size_t)m->max_line + m->max_headers;

    if (m->state == CM_H1_S_DONE)
        return (int)m->head_len;
    if (m->state == CM_H1_S_ERROR)
        return -1;
    if (len > cap)
        len = cap; /* a longer head fails a limit anyway */
    while (m->scan < len) {
        const char *lf = memchr(buf + m->scan, '\n', len - m->scan);
        uint32_t eol;
        int rc;
        if (lf == NULL) {
            m->scan = (uint32_t)len;
            return open_line(m, len);
        }
        eol = (uint32_t)(lf - buf);
        m->scan = eol + 1;
        rc = line(m, buf, eol);
        if (rc != 0)
            return rc;
        m->pos = eol + 1;
    }
    return 0;
}

int cm_h1_req_parse(struct cm_h1_req *req, const char *buf, size_t len)
{
    return head_parse(&req->msg, buf, len);
}

int cm_h1_resp_parse(struct cm_h1_resp *resp, const char *buf, size_t len)
{
    return head_parse(&resp->msg, buf, len);
}
