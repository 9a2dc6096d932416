/*
 * net.h -- socket addresses and listening sockets, shared by both planes.
 *
 * Addresses are written as Traefik writes them: "HOST:PORT", ":PORT" (every
 * interface), "[V6]:PORT". Hosts are numeric here: resolving names is a
 * blocking call and has no place on an event loop.
 */
#ifndef CM_NET_H
#define CM_NET_H

#include <stddef.h>
#include <sys/socket.h>

#include "common/err/err.h"

/* Longest text form of an address, "[v6]:port" plus the NUL. */
#define CM_NET_ADDRSTRLEN 64

/* Parses <s> into <out>. ":8000" means 0.0.0.0:8000. Returns 0, or GW_EINVAL
 * with a message in <err>. */
int cm_net_parse_addr(const char *s, struct sockaddr_storage *out, char *err,
                      size_t errlen) CM_MUST_CHECK;

/* Writes "HOST:PORT" (or "[V6]:PORT") into <buf>. Returns <buf>. */
const char *cm_net_format_addr(const struct sockaddr *sa, char *buf,
                               size_t len);

/* Port of <sa> in host order (0 for other families). */
int cm_net_port(const struct sockaddr *sa);

/* Flags for cm_net_listen. */
#define CM_NET_REUSEPORT 0x1 /* SO_REUSEPORT: one socket per worker */

/* Creates a non-blocking, close-on-exec TCP socket bound to <sa> and
 * listening with <backlog>. Returns the fd (the caller owns it) or a negative
 * errno value, with a message in <err>. */
int cm_net_listen(const struct sockaddr *sa, int backlog, int flags, char *err,
                  size_t errlen) CM_MUST_CHECK;

#endif
