/*
 * resolve.c -- host names of the sentinels and masters, looked up off the
 * loop: hiredis would call a blocking getaddrinfo() inside
 * redisAsyncConnect(), so a slow DNS server would stall every timer and
 * socket of the node. A small cache per store maps each name to one
 * numeric address; a name not known yet starts a uv_getaddrinfo() and its
 * connect fails with CP_STORE_ERESOLVING (the caller's retry connects once
 * the answer is in). An answer older than DNS_FRESH_MS is still used while
 * a new lookup runs, so a moved host is followed within a retry or two.
 * Numeric addresses and unix sockets pass through. Runs on the store's
 * loop; lookups in flight are cancelled by cp_store__resolve_close() and
 * counted in s->open_handles until their callback ran (one a thread is
 * already running keeps the store, and the loop, until it answers).
 */
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "common/err/err.h"
#include "common/log/log.h"
#include "controlplane/store/store_int.h"
#include "controlplane/store/store.h"

#define DNS_FRESH_MS 10000 /* an answer is used this long unchecked */
#define DNS_RETRY_MS 1000  /* a failed lookup is not tried again sooner */

static int is_numeric(const char *host)
{
    unsigned char buf[sizeof(struct in6_addr)];

    return inet_pton(AF_INET, host, buf) == 1 ||
           inet_pton(AF_INET6, host, buf) == 1;
}

/* The entry for <host>, else the stalest idle one (reset for <host>), or
 * NULL when every entry has a lookup in flight. */
static struct cp_store__dns *dns_slot(struct cp_store *s, const char *host)
{
    struct cp_store__dns *pick = NULL;

    for (size_t i = 0; i < CP_STORE__NDNS; i++) {
        struct cp_store__dns *d = &s->dns[i];
        if (strcmp(d->host, host) == 0)
            return d;
        if (!d->busy && (pick == NULL || d->fresh_until < pick->fresh_until))
            pick = d;
    }
    if (pick != NULL) {
        memset(pick, 0, sizeof(*pick));
        snprintf(pick->host, sizeof(pick->host), "%s", host);
    }
    return pick;
}

/* The first IPv4 address, else the first IPv6 one (as hiredis picks). */
static const struct addrinfo *pick_addr(const struct addrinfo *res)
{
    const struct addrinfo *v6 = NULL;

    for (; res != NULL; res = res->ai_next) {
        if (res->ai_family == AF_INET)
            return res;
        if (res->ai_family == AF_INET6 && v6 == NULL)
            v6 = res;
    }
    return v6;
}

static void dns_done(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct cp_store__dns *d = req->data;
    struct cp_store *s = d->store;
    const struct addrinfo *ai = status == 0 ? pick_addr(res) : NULL;
    const void *a = NULL;

    d->busy = 0;
    if (ai != NULL && ai->ai_family == AF_INET)
        a = &((const struct sockaddr_in *)ai->ai_addr)->sin_addr;
    else if (ai != NULL)
        a = &((const struct sockaddr_in6 *)ai->ai_addr)->sin6_addr;
    if (a != NULL && s->phase != CP_STORE__CLOSED &&
        inet_ntop(ai->ai_family, a, d->ip, sizeof(d->ip)) != NULL) {
        d->failed = 0;
        uv_update_time(s->loop);
        d->fresh_until = uv_now(s->loop) + DNS_FRESH_MS;
        cm_log_debug(CP_STORE__MOD, "resolved", "host=%s addr=%s", d->host,
                     d->ip);
    } else if (status != UV_EAI_CANCELED) {
        d->failed = 1;
        uv_update_time(s->loop);
        d->fresh_until = uv_now(s->loop) + DNS_RETRY_MS;
        cm_log_warn(CP_STORE__MOD, "resolve_failed", "host=%s err=\"%s\"",
                    d->host, status != 0 ? uv_strerror(status) : "no address");
    }
    uv_freeaddrinfo(res);
    cp_store__handle_closed(s);
}

static int dns_start(struct cp_store *s, struct cp_store__dns *d)
{
    struct addrinfo hints;
    int rc;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    d->store = s;
    d->req.data = d;
    rc = uv_getaddrinfo(s->loop, &d->req, dns_done, d->host, NULL, &hints);
    if (rc != 0)
        return GW_EIO;
    d->busy = 1;
    s->open_handles++;
    return GW_OK;
}

int cp_store__resolve(struct cp_store *s, const struct cp_store_addr *a,
                      struct cp_store_addr *out)
{
    struct cp_store__dns *d;

    *out = *a;
    if (a->kind != CP_STORE_ADDR_TCP || is_numeric(a->host))
        return GW_OK;
    d = dns_slot(s, a->host);
    if (d == NULL)
        return CP_STORE_ERESOLVING;
    uv_update_time(s->loop);
    if (!d->busy && uv_now(s->loop) >= d->fresh_until && dns_start(s, d) != 0)
        return GW_EIO;
    if (d->ip[0] == '\0')
        return d->failed && !d->busy ? CP_STORE_ENOHOST : CP_STORE_ERESOLVING;
    snprintf(out->host, sizeof(out->host), "%s", d->ip);
    return GW_OK;
}

void cp_store__resolve_close(struct cp_store *s)
{
    for (size_t i = 0; i < CP_STORE__NDNS; i++)
        if (s->dns[i].busy)
            uv_cancel((uv_req_t *)&s->dns[i].req);
}
