/*
 * addr.c -- pure helpers of the store: endpoint and sentinel-list parsing,
 * address formatting, reconnect backoff, event message parsing. No I/O, no
 * state; callable from any thread.
 */
#include <stdio.h>
#include <string.h>

#include "common/err/err.h"
#include "controlplane/store/store.h"

int cp_store_parse_u64(const char *s, size_t len, uint64_t *out)
{
    uint64_t v = 0;
    size_t i;

    if (len == 0 || len > 20)
        return GW_EINVAL;
    for (i = 0; i < len; i++) {
        unsigned d = (unsigned char)s[i] - '0';
        if (d > 9 || v > (UINT64_MAX - d) / 10)
            return GW_EINVAL;
        v = v * 10 + d;
    }
    *out = v;
    return GW_OK;
}

static int parse_port(const char *s, size_t len, int *port)
{
    uint64_t v;

    if (cp_store_parse_u64(s, len, &v) != 0 || v == 0 || v > 65535)
        return GW_EINVAL;
    *port = (int)v;
    return GW_OK;
}

/* Parses a TCP "host:port" or "[v6]:port" of <len> bytes. */
static int parse_tcp(const char *s, size_t len, struct cp_store_addr *out)
{
    const char *host = s, *colon;
    size_t hlen;

    if (len > 0 && s[0] == '[') {
        const char *rb = memchr(s, ']', len);
        if (rb == NULL || rb + 1 >= s + len || rb[1] != ':')
            return GW_EINVAL;
        host = s + 1;
        hlen = (size_t)(rb - host);
        colon = rb + 1;
    } else {
        colon = NULL;
        for (size_t i = 0; i < len; i++)
            if (s[i] == ':')
                colon = s + i;
        if (colon == NULL || memchr(s, ':', len) != colon)
            return GW_EINVAL; /* none, or a bare v6 without brackets */
        hlen = (size_t)(colon - s);
    }
    if (hlen == 0 || hlen >= sizeof(out->host))
        return GW_EINVAL;
    if (parse_port(colon + 1, (size_t)(s + len - colon - 1), &out->port) != 0)
        return GW_EINVAL;
    for (size_t i = 0; i < hlen; i++)
        if (strchr(", []", host[i]) != NULL || host[i] == '\0')
            return GW_EINVAL;
    memcpy(out->host, host, hlen);
    out->host[hlen] = '\0';
    out->kind = CP_STORE_ADDR_TCP;
    out->path[0] = '\0';
    return GW_OK;
}

int cp_store_parse_addr(const char *s, struct cp_store_addr *out)
{
    size_t len;

    if (s == NULL)
        return GW_EINVAL;
    len = strlen(s);
    memset(out, 0, sizeof(*out));
    if (strncmp(s, "unix:", 5) == 0) {
        if (len - 5 == 0 || len - 5 >= sizeof(out->path) || s[5] != '/')
            return GW_EINVAL;
        memcpy(out->path, s + 5, len - 5 + 1);
        out->kind = CP_STORE_ADDR_UNIX;
        return GW_OK;
    }
    return parse_tcp(s, len, out);
}

int cp_store_parse_sentinels(const char *s, struct cp_store_addr *out,
                             size_t max, size_t *n)
{
    const char *p = s, *end;

    *n = 0;
    if (s == NULL || *s == '\0')
        return GW_EINVAL;
    for (;;) {
        end = strchr(p, ',');
        if (end == NULL)
            end = p + strlen(p);
        if (*n == max)
            return GW_ETOOBIG;
        if (parse_tcp(p, (size_t)(end - p), &out[*n]) != 0)
            return GW_EINVAL;
        (*n)++;
        if (*end == '\0')
            return GW_OK;
        p = end + 1;
    }
}

const char *cp_store_addr_str(const struct cp_store_addr *a, char *buf,
                              size_t len)
{
    if (a->kind == CP_STORE_ADDR_UNIX)
        snprintf(buf, len, "unix:%s", a->path);
    else if (strchr(a->host, ':') != NULL || strcmp(a->host, "unix") == 0)
        snprintf(buf, len, "[%s]:%d", a->host, a->port);
    else
        snprintf(buf, len, "%s:%d", a->host, a->port);
    return buf;
}

unsigned cp_store_backoff_ms(unsigned attempt, unsigned base, unsigned cap,
                             uint32_t rnd)
{
    uint64_t d = base;
    unsigned half;

    while (attempt-- > 0 && d < cap)
        d *= 2;
    if (d > cap)
        d = cap;
    half = (unsigned)(d / 2);
    return half + (unsigned)(rnd % ((unsigned)d - half + 1));
}

int cp_store_parse_event(const char *msg, size_t len, uint64_t *rev)
{
    static const char word[] = "revision ";

    if (len <= sizeof(word) - 1 || memcmp(msg, word, sizeof(word) - 1) != 0)
        return GW_EINVAL;
    return cp_store_parse_u64(msg + sizeof(word) - 1, len - (sizeof(word) - 1),
                              rev);
}

const char *cp_store_strerror(int code)
{
    switch (code) {
    case CP_STORE_ESTALE:
        return "stale epoch";
    case CP_STORE_ENOTLEADER:
        return "not leader";
    case CP_STORE_ENOREPLICA:
        return "not enough replicas acknowledged";
    case CP_STORE_EDOWN:
        return "not connected to a Redis master";
    case CP_STORE_EEXIST:
        return "already set";
    case CP_STORE_EFAILOVER:
        return "a Redis failover is under way; retry in a few seconds";
    case CP_STORE_EUNSURE:
        return "written, but a Redis failover began before replicas "
               "confirmed it: it may be lost";
    case CP_STORE_ENOSENTINEL:
        return "fewer than a majority of the sentinels can be heard";
    case CP_STORE_EAUTH:
        return "Redis authentication failed (wrong or missing password)";
    case CP_STORE_ERESOLVING:
        return "looking up the host name";
    case CP_STORE_ENOHOST:
        return "the host name did not resolve";
    }
    return cm_err_str(code);
}
