/*
 * targets.c -- the targets file: one "METHOD URL [@BODYFILE]" per line,
 * parsed into sl_target records; then each request rendered once into the
 * bytes every send reuses, and targets grouped by address. Owns the
 * sl_targets arrays and strings. Runs before the loop starts.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/net/net.h"
#include "common/http1/http1.h"
#include "tools/slap/slap.h"

#define SL_LINE_MAX 8192

void sl_targets_init(struct sl_targets *t)
{
    memset(t, 0, sizeof(*t));
}

static void sl_target_deinit(struct sl_target *tg)
{
    free(tg->method);
    free(tg->authority);
    free(tg->path);
    free(tg->body_path);
    free(tg->req);
}

void sl_targets_deinit(struct sl_targets *t)
{
    for (size_t i = 0; i < t->n; i++)
        sl_target_deinit(&t->v[i]);
    free(t->v);
    free(t->endpoints);
    sl_targets_init(t);
}

/* ==== lines ==== */

static char *sl_strndup(const char *s, size_t n)
{
    char *p = malloc(n + 1);

    if (p != NULL) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

static int sl_is_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("!#$%&'*+-.^_`|~", c));
}

static int sl_is_token(const char *s, size_t n)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!sl_is_tchar((unsigned char)s[i]))
            return 0;
    return 1;
}

static uint8_t sl_method_id(const char *m)
{
    static const char *const names[] = {
        [CM_H1_M_GET] = "GET",         [CM_H1_M_HEAD] = "HEAD",
        [CM_H1_M_POST] = "POST",       [CM_H1_M_PUT] = "PUT",
        [CM_H1_M_DELETE] = "DELETE",   [CM_H1_M_CONNECT] = "CONNECT",
        [CM_H1_M_OPTIONS] = "OPTIONS", [CM_H1_M_TRACE] = "TRACE",
        [CM_H1_M_PATCH] = "PATCH",
    };

    for (size_t i = 1; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(m, names[i]) == 0)
            return (uint8_t)i;
    return CM_H1_M_OTHER;
}

/* Splits <line> at spaces and tabs into at most <max> words. */
static int sl_words(char *line, char **w, int max)
{
    int n = 0;
    char *save = NULL;

    for (char *p = strtok_r(line, " \t", &save); p != NULL;
         p = strtok_r(NULL, " \t", &save)) {
        if (n == max)
            return -1;
        w[n++] = p;
    }
    return n;
}

/* ==== URLs ==== */

/* Splits "http://AUTHORITY/rest" of <url>; fills tg->authority, tg->path
 * and tg->addr. */
static int sl_url_parse(struct sl_target *tg, const char *url, char *err,
                        size_t errlen)
{
    const char *a, *end, *frag;
    char hostport[300], nerr[CM_ERR_LEN];
    size_t alen;

    if (strncasecmp(url, "https://", 8) == 0)
        return cm_err_set(err, errlen, GW_EINVAL,
                          "https is not supported (yet): %s", url);
    if (strncasecmp(url, "http://", 7) != 0)
        return cm_err_set(err, errlen, GW_EINVAL, "not an http:// URL: %s",
                          url);
    a = url + 7;
    alen = strcspn(a, "/?#");
    end = a + strlen(a);
    frag = strchr(a + alen, '#');
    if (frag != NULL)
        end = frag;
    if (alen == 0 || alen >= sizeof(hostport) - 8)
        return cm_err_set(err, errlen, GW_EINVAL, "bad host in %s", url);
    if (memchr(a, '@', alen) != NULL)
        return cm_err_set(err, errlen, GW_EINVAL, "user info in %s", url);
    for (const char *p = a + alen; p < end; p++)
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
            return cm_err_set(err, errlen, GW_EINVAL, "bad byte in path: %s",
                              url);
    tg->authority = sl_strndup(a, alen);
    if (a[alen] == '/')
        tg->path = sl_strndup(a + alen, (size_t)(end - a - alen));
    else { /* "" or "?q": origin-form needs the slash */
        size_t n = (size_t)(end - a - alen);
        tg->path = malloc(n + 2);
        if (tg->path != NULL) {
            tg->path[0] = '/';
            memcpy(tg->path + 1, a + alen, n);
            tg->path[n + 1] = '\0';
        }
    }
    if (tg->authority == NULL || tg->path == NULL)
        return cm_err_set(err, errlen, GW_ENOMEM, "out of memory");
    /* host[:port]; the port defaults to 80; localhost is 127.0.0.1 */
    {
        const char *colon = strrchr(tg->authority, ':');
        const char *rb = strrchr(tg->authority, ']');
        int has_port = colon != NULL && (rb == NULL || colon > rb);
        const char *host = tg->authority;
        size_t hlen = has_port ? (size_t)(colon - host) : strlen(host);
        const char *port = has_port ? colon + 1 : "80";
        if (hlen == 9 && strncasecmp(host, "localhost", 9) == 0) {
            host = "127.0.0.1";
            hlen = 9;
        }
        if (hlen == 0 || (host[0] != '[' && memchr(host, ':', hlen)))
            return cm_err_set(err, errlen, GW_EINVAL,
                              "bad host in %s (IPv6 goes in brackets)", url);
        if (*port == '\0')
            return cm_err_set(err, errlen, GW_EINVAL, "empty port in %s", url);
        snprintf(hostport, sizeof(hostport), "%.*s:%s", (int)hlen, host, port);
    }
    if (cm_net_parse_addr(hostport, &tg->addr, nerr, sizeof(nerr)) != 0 ||
        cm_net_port((struct sockaddr *)&tg->addr) == 0)
        return cm_err_set(err, errlen, GW_EINVAL,
                          "host must be an IP address or localhost, with a "
                          "port in 1..65535: %s",
                          url);
    return 0;
}

/* ==== parse ==== */

static struct sl_target *sl_targets_add(struct sl_targets *t)
{
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 8;
        struct sl_target *v = realloc(t->v, cap * sizeof(*v));
        if (v == NULL)
            return NULL;
        t->v = v;
        t->cap = cap;
    }
    memset(&t->v[t->n], 0, sizeof(t->v[0]));
    return &t->v[t->n++];
}

/* Parses one line (NUL-terminated, writable). */
static int sl_targets_line(struct sl_targets *t, char *line, char *err,
                           size_t errlen)
{
    char *w[3];
    const char *method = "GET", *url, *body = NULL;
    int n = sl_words(line, w, 3);
    struct sl_target *tg;

    if (n == 0 || w[0][0] == '#')
        return 0;
    if (n < 0)
        return cm_err_set(err, errlen, GW_EINVAL,
                          "expected METHOD URL [@BODYFILE]");
    if (n == 1) {
        url = w[0];
    } else {
        method = w[0];
        url = w[1];
        if (n == 3) {
            if (w[2][0] != '@' || w[2][1] == '\0')
                return cm_err_set(err, errlen, GW_EINVAL,
                                  "a body is given as @FILE, not %s", w[2]);
            body = w[2] + 1;
        }
        if (!sl_is_token(method, strlen(method)))
            return cm_err_set(err, errlen, GW_EINVAL, "bad method %s", method);
    }
    tg = sl_targets_add(t);
    if (tg == NULL)
        return cm_err_set(err, errlen, GW_ENOMEM, "out of memory");
    tg->method = strdup(method);
    tg->method_id = sl_method_id(method);
    tg->body_path = body ? strdup(body) : NULL;
    if (tg->method == NULL || (body != NULL && tg->body_path == NULL))
        return cm_err_set(err, errlen, GW_ENOMEM, "out of memory");
    if (tg->method_id == CM_H1_M_CONNECT)
        return cm_err_set(err, errlen, GW_EINVAL, "CONNECT is not supported");
    return sl_url_parse(tg, url, err, errlen);
}

int sl_targets_parse(struct sl_targets *t, const char *text, size_t len,
                     char *err, size_t errlen)
{
    char line[SL_LINE_MAX], why[CM_ERR_LEN];
    size_t pos = 0, lineno = 0;

    while (pos < len) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - text - pos) : len - pos;
        size_t next = pos + n + (nl != NULL);
        int rc;
        lineno++;
        if (n > 0 && text[pos + n - 1] == '\r')
            n--;
        if (n >= sizeof(line))
            return cm_err_set(err, errlen, GW_EINVAL, "line %zu: too long",
                              lineno);
        if (memchr(text + pos, '\0', n) != NULL)
            return cm_err_set(err, errlen, GW_EINVAL, "line %zu: NUL byte",
                              lineno);
        memcpy(line, text + pos, n);
        line[n] = '\0';
        pos = next;
        rc = sl_targets_line(t, line, why, sizeof(why));
        if (rc != 0)
            return cm_err_set(err, errlen, rc, "line %zu: %s", lineno, why);
    }
    if (t->n == 0)
        return cm_err_set(err, errlen, GW_EINVAL, "no targets");
    return 0;
}

/* ==== build ==== */

/* Reads <path> whole into a new buffer; *len its size. */
static char *sl_read_file(const char *path, size_t *len, char *err,
                          size_t errlen)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long n;

    if (f == NULL) {
        cm_err_set(err, errlen, GW_EIO, "%s: %s", path, strerror(errno));
        return NULL;
    }
    if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 ||
        n > SL_TARGETS_MAX || fseek(f, 0, SEEK_SET) != 0) {
        cm_err_set(err, errlen, GW_EIO, "%s: unreadable or too big", path);
        goto out;
    }
    buf = malloc((size_t)n + 1);
    if (buf == NULL || fread(buf, 1, (size_t)n, f) != (size_t)n) {
        cm_err_set(err, errlen, GW_EIO, "%s: read failed", path);
        free(buf);
        buf = NULL;
        goto out;
    }
    *len = (size_t)n;
out:
    fclose(f);
    return buf;
}

/* "Name: value" with a token name and no CR, LF or NUL in the value. */
static int sl_header_ok(const char *h)
{
    const char *colon = strchr(h, ':');

    if (colon == NULL || !sl_is_token(h, (size_t)(colon - h)))
        return 0;
    return strpbrk(colon, "\r\n") == NULL;
}

static int sl_header_is(const char *h, const char *name)
{
    size_t n = strlen(name);

    return strncasecmp(h, name, n) == 0 && h[n] == ':';
}

/* Appends to a growing buffer; returns -1 when out of memory. */
struct sl_buf {
    char *p;
    size_t len, cap;
};

static int sl_buf_add(struct sl_buf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = (b->len + n + 1) * 2;
        char *p = realloc(b->p, cap);
        if (p == NULL)
            return -1;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

static int sl_buf_str(struct sl_buf *b, const char *s)
{
    return sl_buf_add(b, s, strlen(s));
}

/* Renders the request of <tg> (its body already in <body>). */
static int sl_target_render(struct sl_target *tg, const struct sl_req_opts *o,
                            const char *body, size_t blen)
{
    struct sl_buf b = {0};
    const char *host = o->host ? o->host : tg->authority;
    char cl[64];
    int rc = 0;

    rc |= sl_buf_str(&b, tg->method);
    rc |= sl_buf_str(&b, " ");
    rc |= sl_buf_str(&b, tg->path);
    rc |= sl_buf_str(&b, " HTTP/1.1\r\nHost: ");
    rc |= sl_buf_str(&b, host);
    rc |= sl_buf_str(&b, "\r\nUser-Agent: slap\r\n");
    for (size_t i = 0; i < o->nheaders; i++) {
        if (sl_header_is(o->headers[i], "host") ||
            sl_header_is(o->headers[i], "content-length"))
            continue;
        rc |= sl_buf_str(&b, o->headers[i]);
        rc |= sl_buf_str(&b, "\r\n");
    }
    if (body != NULL || tg->method_id == CM_H1_M_POST ||
        tg->method_id == CM_H1_M_PUT || tg->method_id == CM_H1_M_PATCH) {
        snprintf(cl, sizeof(cl), "Content-Length: %zu\r\n", blen);
        rc |= sl_buf_str(&b, cl);
    }
    rc |= sl_buf_str(&b, "\r\n");
    if (blen > 0)
        rc |= sl_buf_add(&b, body, blen);
    if (rc != 0) {
        free(b.p);
        return GW_ENOMEM;
    }
    free(tg->req);
    tg->req = b.p;
    tg->req_len = b.len;
    return 0;
}

/* Sets tg->endpoint, adding its address to the endpoints if new. */
static int sl_targets_endpoint(struct sl_targets *t, struct sl_target *tg)
{
    struct sockaddr_storage *v;

    for (uint32_t i = 0; i < t->nendpoints; i++) {
        if (memcmp(&t->endpoints[i], &tg->addr, sizeof(tg->addr)) == 0) {
            tg->endpoint = i;
            return 0;
        }
    }
    v = realloc(t->endpoints, (t->nendpoints + 1) * sizeof(*v));
    if (v == NULL)
        return GW_ENOMEM;
    t->endpoints = v;
    v[t->nendpoints] = tg->addr;
    tg->endpoint = t->nendpoints++;
    return 0;
}

int sl_targets_build(struct sl_targets *t, const struct sl_req_opts *o,
                     char *err, size_t errlen)
{
    struct sl_req_opts opts = *o;

    for (size_t i = 0; i < o->nheaders; i++) {
        if (!sl_header_ok(o->headers[i]))
            return cm_err_set(err, errlen, GW_EINVAL,
                              "header must be 'Name: value': %s",
                              o->headers[i]);
        if (sl_header_is(o->headers[i], "host") && opts.host == NULL) {
            opts.host = o->headers[i] + 5;
            opts.host += strspn(opts.host, " \t");
        }
    }
    if (opts.host != NULL &&
        (*opts.host == '\0' || strpbrk(opts.host, " \t\r\n")))
        return cm_err_set(err, errlen, GW_EINVAL, "bad Host: '%s'", opts.host);
    for (size_t i = 0; i < t->n; i++) {
        struct sl_target *tg = &t->v[i];
        char *body = NULL;
        size_t blen = 0;
        int rc;
        if (tg->body_path != NULL) {
            body = sl_read_file(tg->body_path, &blen, err, errlen);
            if (body == NULL)
                return GW_EIO;
        }
        rc = sl_target_render(tg, &opts, body, blen);
        free(body);
        if (rc == 0)
            rc = sl_targets_endpoint(t, tg);
        if (rc != 0)
            return cm_err_set(err, errlen, rc, "out of memory");
    }
    return 0;
}
