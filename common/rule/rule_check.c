/*
 * rule_check.c -- validation of matcher arguments: host names, paths, HTTP
 * tokens, IP addresses and CIDRs, and regexes (compiled with PCRE2, then
 * screened for constructs Go/RE2 lack). Called by the parser for each
 * argument; owns no state.
 */
#include "common/rule/rule_int.h"
#include "common/rule/rule.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <arpa/inet.h>
#include <ctype.h>
#include <pcre2.h>
#include <stdio.h>
#include <string.h>

#define MAX_HOST  253
#define MAX_LABEL 63

int cm_rule__splits(enum cm_rule_matcher m)
{
    return m == CM_RULE_HOST || m == CM_RULE_PATH || m == CM_RULE_PATH_PREFIX ||
           m == CM_RULE_METHOD || m == CM_RULE_CLIENT_IP;
}

static int fail(char *msg, size_t len, const char *text)
{
    snprintf(msg, len, "%s", text);
    return -1;
}

static int is_ascii(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s >= 0x80)
            return 0;
    return 1;
}

/* RFC 9110 tchar. */
static int is_tchar(unsigned char c)
{
    return isalnum(c) || (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static int is_token(const char *s)
{
    if (*s == '\0')
        return 0;
    for (; *s; s++)
        if (!is_tchar((unsigned char)*s))
            return 0;
    return 1;
}

static int is_ipv6(const char *s, size_t n)
{
    char tmp[INET6_ADDRSTRLEN + 1];
    unsigned char addr[16];

    if (n == 0 || n >= sizeof(tmp))
        return 0;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    return inet_pton(AF_INET6, tmp, addr) == 1;
}

/* ==== Host ==== */

static int check_label(const char *l, size_t n, char *msg, size_t len)
{
    if (n == 0)
        return fail(msg, len, "empty label in host name");
    if (n > MAX_LABEL)
        return fail(msg, len, "host name label longer than 63 bytes");
    if (l[0] == '-' || l[n - 1] == '-')
        return fail(msg, len, "host name label starts or ends with '-'");
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)l[i];
        if (!isalnum(c) && c != '-' && c != '_') {
            snprintf(msg, len, "invalid character '%c' in host name", c);
            return -1;
        }
    }
    return 0;
}

static int check_host(char *h, char *msg, size_t len)
{
    size_t n = strlen(h);

    if (n == 0)
        return fail(msg, len, "empty host name");
    if (!is_ascii(h))
        return fail(msg, len,
                    "non-ASCII characters are not allowed (use the "
                    "punycode form)");
    for (char *p = h; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    if (strchr(h, '*') != NULL)
        return fail(msg, len, "wildcards are not supported; use HostRegexp");
    if (h[0] == '[' && h[n - 1] == ']' && is_ipv6(h + 1, n - 2))
        return 0;
    if (is_ipv6(h, n))
        return 0;
    if (strchr(h, ':') != NULL)
        return fail(msg, len, "must not contain a port");
    if (h[n - 1] == '.')
        n--; /* one trailing dot: a fully qualified name */
    if (n == 0)
        return fail(msg, len, "empty label in host name");
    if (n > MAX_HOST)
        return fail(msg, len, "host name longer than 253 bytes");
    const char *l = h, *end = h + n;
    while (l <= end) {
        const char *dot = memchr(l, '.', (size_t)(end - l));
        size_t ln = dot ? (size_t)(dot - l) : (size_t)(end - l);
        if (check_label(l, ln, msg, len) < 0)
            return -1;
        l += ln + 1;
    }
    return 0;
}

/* ==== ClientIP ==== */

static int check_ip(const char *s, char *msg, size_t len)
{
    unsigned char addr[16];
    char tmp[INET6_ADDRSTRLEN + 1];
    const char *slash = strchr(s, '/');
    size_t n = slash ? (size_t)(slash - s) : strlen(s);
    int v6;

    if (n == 0 || n >= sizeof(tmp))
        goto bad;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    if (inet_pton(AF_INET, tmp, addr) == 1)
        v6 = 0;
    else if (inet_pton(AF_INET6, tmp, addr) == 1)
        v6 = 1;
    else
        goto bad;
    if (slash == NULL)
        return 0;
    const char *d = slash + 1;
    size_t nd = strlen(d);
    if (nd == 0 || nd > 3 || strspn(d, "0123456789") != nd)
        goto bad;
    if (atoi(d) > (v6 ? 128 : 32))
        return fail(msg, len, "CIDR prefix length out of range");
    return 0;
bad:
    return fail(msg, len, "invalid IP address or CIDR");
}

/* ==== Regexes ==== */

/* Best-effort screen for PCRE constructs that Go's regexp (and RE2, which
 * Envoy uses) lack: lookaround, atomic groups, recursion, callouts, branch
 * reset, comments, named back references. Skips escapes, \Q...\E and
 * character classes. Returns the offending offset or -1. */
static long find_pcre_only(const char *re)
{
    static const char *const bad[] = {"(?=", "(?!",  "(?<=", "(?<!", "(?>",
                                      "(?|", "(?R",  "(?&",  "(?C",  "(?#",
                                      "(?+", "(?P>", "(?P=", "(*"};
    size_t n = strlen(re);

    for (size_t i = 0; i < n; i++) {
        if (re[i] == '\\' && re[i + 1] == 'Q') {
            const char *e = strstr(re + i + 2, "\\E");
            if (e == NULL)
                return -1;
            i = (size_t)(e - re) + 1;
        } else if (re[i] == '\\') {
            if (re[i + 1] == '\0')
                return -1;
            i++;
        } else if (re[i] == '[') {
            size_t j = i + 1;
            if (re[j] == '^')
                j++;
            if (re[j] == ']')
                j++;
            while (j < n && re[j] != ']') {
                if (re[j] == '\\' && re[j + 1] != '\0')
                    j++;
                j++;
            }
            i = j;
        } else if (re[i] == '(') {
            for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++)
                if (strncmp(re + i, bad[k], strlen(bad[k])) == 0)
                    return (long)i;
            if (re[i + 1] == '?' && isdigit((unsigned char)re[i + 2]))
                return (long)i;
        }
    }
    return -1;
}

static int check_regex(const char *re, char *msg, size_t len)
{
    int code;
    PCRE2_SIZE off;
    uint32_t backrefs = 0;

    pcre2_code *c = pcre2_compile((PCRE2_SPTR)re, PCRE2_ZERO_TERMINATED,
                                  PCRE2_UTF, &code, &off, NULL);
    if (c == NULL) {
        PCRE2_UCHAR text[256];
        if (pcre2_get_error_message(code, text, sizeof(text)) < 0)
            snprintf((char *)text, sizeof(text), "error %d", code);
        snprintf(msg, len, "invalid regexp: %s at offset %zu", (char *)text,
                 (size_t)off);
        return -1;
    }
    pcre2_pattern_info(c, PCRE2_INFO_BACKREFMAX, &backrefs);
    pcre2_code_free(c);
    if (backrefs > 0)
        return fail(msg, len,
                    "invalid regexp: back references are not supported "
                    "(Go regexp syntax)");
    long at = find_pcre_only(re);
    if (at >= 0) {
        snprintf(msg, len,
                 "invalid regexp: construct at offset %ld is not supported "
                 "(Go regexp syntax)",
                 at);
        return -1;
    }
    return 0;
}

/* ==== Per matcher ==== */

static int check_path(const char *p, char *msg, size_t len)
{
    if (p[0] != '/')
        return fail(msg, len, "path must start with '/'");
    return 0;
}

static int check_method(char *m, char *msg, size_t len)
{
    if (!is_token(m))
        return fail(msg, len, "not an HTTP token such as GET");
    for (char *p = m; *p; p++)
        *p = (char)toupper((unsigned char)*p);
    return 0;
}

int cm_rule__check_arg(enum cm_rule_matcher m, size_t i, char *arg, char *msg,
                       size_t msglen)
{
    switch (m) {
    case CM_RULE_HOST:
        return check_host(arg, msg, msglen);
    case CM_RULE_HOST_REGEXP:
        if (!is_ascii(arg))
            return fail(msg, msglen, "non-ASCII characters are not allowed");
        return check_regex(arg, msg, msglen);
    case CM_RULE_PATH:
    case CM_RULE_PATH_PREFIX:
        return check_path(arg, msg, msglen);
    case CM_RULE_PATH_REGEXP:
        return check_regex(arg, msg, msglen);
    case CM_RULE_METHOD:
        return check_method(arg, msg, msglen);
    case CM_RULE_HEADER:
    case CM_RULE_HEADER_REGEXP:
        if (i == 0 && !is_token(arg))
            return fail(msg, msglen, "invalid header name");
        if (i == 1 && m == CM_RULE_HEADER_REGEXP)
            return check_regex(arg, msg, msglen);
        return 0;
    case CM_RULE_QUERY:
    case CM_RULE_QUERY_REGEXP:
        if (i == 0 && arg[0] == '\0')
            return fail(msg, msglen, "empty query parameter name");
        if (i == 1 && m == CM_RULE_QUERY_REGEXP)
            return check_regex(arg, msg, msglen);
        return 0;
    case CM_RULE_CLIENT_IP:
        return check_ip(arg, msg, msglen);
    }
    return fail(msg, msglen, "unknown matcher");
}
