/*
 * net.c -- address parsing and formatting, listening sockets (see net.h).
 * Stateless; safe from any thread.
 */
#include "common/net/net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int net_parse_port(const char *s, int *port)
{
    char *end;
    long v;

    if (*s < '0' || *s > '9')
        return GW_EINVAL;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < 0 || v > 65535)
        return GW_EINVAL;
    *port = (int)v;
    return GW_OK;
}

int cm_net_parse_addr(const char *s, struct sockaddr_storage *out, char *err,
                      size_t errlen)
{
    struct sockaddr_in *in4 = (struct sockaddr_in *)out;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)out;
    char host[CM_NET_ADDRSTRLEN];
    const char *colon, *hs = s;
    size_t hl;
    int port;

    memset(out, 0, sizeof(*out));
    colon = strrchr(s, ':');
    if (colon == NULL)
        return cm_err_set(err, errlen, GW_EINVAL,
                          "address \"%s\": expected HOST:PORT or :PORT", s);
    hl = (size_t)(colon - s);
    if (hl >= 2 && s[0] == '[' && s[hl - 1] == ']') {
        hs++;
        hl -= 2;
    }
    if (hl >= sizeof(host))
        return cm_err_set(err, errlen, GW_EINVAL,
                          "address \"%s\": host too long", s);
    memcpy(host, hs, hl);
    host[hl] = '\0';
    if (net_parse_port(colon + 1, &port) != GW_OK)
        return cm_err_set(err, errlen, GW_EINVAL,
                          "address \"%s\": invalid port \"%s\"", s, colon + 1);
    if (hl == 0 || inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)port);
        return GW_OK;
    }
    if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        return GW_OK;
    }
    return cm_err_set(err, errlen, GW_EINVAL,
                      "address \"%s\": host \"%s\" is not an IP address", s,
                      host);
}

const char *cm_net_format_addr(const struct sockaddr *sa, char *buf, size_t len)
{
    char ip[INET6_ADDRSTRLEN];

    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in4 = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &in4->sin_addr, ip, sizeof(ip));
        snprintf(buf, len, "%s:%d", ip, ntohs(in4->sin_port));
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
        snprintf(buf, len, "[%s]:%d", ip, ntohs(in6->sin6_port));
    } else {
        snprintf(buf, len, "?");
    }
    return buf;
}

int cm_net_port(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)sa)->sin_port);
    if (sa->sa_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
    return 0;
}

static socklen_t net_len(const struct sockaddr *sa)
{
    return sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                     : sizeof(struct sockaddr_in);
}

int cm_net_listen(const struct sockaddr *sa, int backlog, int flags, char *err,
                  size_t errlen)
{
    char as[CM_NET_ADDRSTRLEN];
    int fd, one = 1, e;

    fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd == -1)
        goto fail;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1)
        goto fail;
    if ((flags & CM_NET_REUSEPORT) &&
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) == -1)
        goto fail;
    if (bind(fd, sa, net_len(sa)) == -1)
        goto fail;
    if (listen(fd, backlog) == -1)
        goto fail;
    return fd;

fail:
    e = errno;
    if (fd != -1)
        close(fd);
    cm_err_set(err, errlen, -e, "listen on %s: %s",
               cm_net_format_addr(sa, as, sizeof(as)), strerror(e));
    return -e;
}
