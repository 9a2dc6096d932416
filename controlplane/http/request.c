/*
 * request.c -- small parsers over request bytes: percent-decoding, form
 * and query fields, the Cookie header, Basic credentials. Pure functions
 * over borrowed slices (fuzzed by request_fuzz.c).
 */
#include <string.h>
#include <strings.h>

#include "controlplane/auth/auth.h"
#include "controlplane/http/http-int.h"

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int cp_http__pct_decode(struct cp_http__slice in, bool form, char *out,
                        size_t cap)
{
    size_t o = 0;

    for (size_t i = 0; i < in.n; i++) {
        char c = in.p[i];
        if (c == '%') {
            int hi, lo;
            if (i + 2 >= in.n || (hi = hexval(in.p[i + 1])) < 0 ||
                (lo = hexval(in.p[i + 2])) < 0)
                return GW_EINVAL;
            c = (char)(hi * 16 + lo);
            i += 2;
        } else if (c == '+' && form) {
            c = ' ';
        }
        if (c == '\0')
            return GW_EINVAL;
        if (o + 1 >= cap)
            return GW_ETOOBIG;
        out[o++] = c;
    }
    if (cap == 0)
        return GW_ETOOBIG;
    out[o] = '\0';
    return (int)o;
}

int cp_http__form_get(struct cp_http__slice body, const char *name, char *out,
                      size_t cap)
{
    size_t nl = strlen(name), i = 0;

    while (i < body.n) {
        const char *amp = memchr(body.p + i, '&', body.n - i);
        size_t end = amp ? (size_t)(amp - body.p) : body.n;
        const char *eq = memchr(body.p + i, '=', end - i);
        size_t kend = eq ? (size_t)(eq - body.p) : end;
        if (kend - i == nl && memcmp(body.p + i, name, nl) == 0) {
            struct cp_http__slice v = {body.p + kend, 0};
            if (eq != NULL) {
                v.p = eq + 1;
                v.n = end - kend - 1;
            }
            return cp_http__pct_decode(v, true, out, cap);
        }
        i = end + 1;
    }
    return GW_ENOENT;
}

int cp_http__cookie_get(struct cp_http__slice hdr, const char *name, char *out,
                        size_t cap)
{
    size_t nl = strlen(name), i = 0;

    while (i < hdr.n) {
        const char *semi, *eq;
        size_t end, vs, ve;
        while (i < hdr.n && (hdr.p[i] == ' ' || hdr.p[i] == '\t'))
            i++;
        semi = memchr(hdr.p + i, ';', hdr.n - i);
        end = semi ? (size_t)(semi - hdr.p) : hdr.n;
        eq = memchr(hdr.p + i, '=', end - i);
        if (eq != NULL && (size_t)(eq - hdr.p) - i == nl &&
            memcmp(hdr.p + i, name, nl) == 0) {
            vs = (size_t)(eq - hdr.p) + 1;
            ve = end;
            while (ve > vs && (hdr.p[ve - 1] == ' ' || hdr.p[ve - 1] == '\t'))
                ve--;
            if (ve - vs >= 2 && hdr.p[vs] == '"' && hdr.p[ve - 1] == '"') {
                vs++;
                ve--;
            }
            if (ve - vs + 1 > cap)
                return GW_ETOOBIG;
            memcpy(out, hdr.p + vs, ve - vs);
            out[ve - vs] = '\0';
            return (int)(ve - vs);
        }
        i = end + 1;
    }
    return GW_ENOENT;
}

int cp_http__basic_parse(struct cp_http__slice hdr, char *user, size_t ucap,
                         char *pw, size_t pcap)
{
    uint8_t dec[512];
    size_t i = 0, n;
    const uint8_t *colon;
    int r;

    if (hdr.n < 6 || strncasecmp(hdr.p, "Basic ", 6) != 0)
        return GW_EINVAL;
    i = 6;
    while (i < hdr.n && hdr.p[i] == ' ')
        i++;
    n = hdr.n - i;
    while (n > 0 && hdr.p[i + n - 1] == '=') /* padding is optional here */
        n--;
    r = cp_auth_b64_decode(hdr.p + i, n, 0, dec, sizeof(dec));
    if (r < 0)
        return GW_EINVAL;
    colon = memchr(dec, ':', (size_t)r);
    if (colon == NULL || memchr(dec, '\0', (size_t)r) != NULL)
        return GW_EINVAL;
    n = (size_t)(colon - dec);
    if (n + 1 > ucap || (size_t)r - n - 1 + 1 > pcap)
        return GW_EINVAL;
    memcpy(user, dec, n);
    user[n] = '\0';
    memcpy(pw, colon + 1, (size_t)r - n - 1);
    pw[(size_t)r - n - 1] = '\0';
    return GW_OK;
}
