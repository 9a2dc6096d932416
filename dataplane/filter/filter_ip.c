/*
 * filter_ip.c -- IP literals and CIDR sets, the ClientIP match condition
 * and ipAllowList (Traefik's ip.Checker and ipStrategy: depth N = Nth
 * X-Forwarded-For entry from the right; excludedIPs = rightmost entry not
 * excluded; else the connection's address). Compiled sets are immutable;
 * matching runs on any worker.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/filter/filter_int.h"
#include "traefikee/filters/v1/filters.pb-c.h"

#define FV1(x) Traefikee__Filters__V1__##x

static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

static void ip_norm(struct dp_filter__ip *ip)
{
    if (ip->fam == 6 && memcmp(ip->b, v4mapped, 12) == 0) {
        memmove(ip->b, ip->b + 12, 4);
        memset(ip->b + 4, 0, 12);
        ip->fam = 4;
    }
}

int dp_filter__ip_parse(const char *s, size_t n, struct dp_filter__ip *out)
{
    char tmp[64];

    if (n == 0 || n >= sizeof(tmp))
        return -1;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    memset(out, 0, sizeof(*out));
    if (inet_pton(AF_INET, tmp, out->b) == 1) {
        out->fam = 4;
        return 0;
    }
    if (inet_pton(AF_INET6, tmp, out->b) == 1) {
        out->fam = 6;
        ip_norm(out);
        return 0;
    }
    return -1;
}

int dp_filter__ip_from_sa(const struct sockaddr *sa, struct dp_filter__ip *out)
{
    memset(out, 0, sizeof(*out));
    if (sa == NULL)
        return -1;
    if (sa->sa_family == AF_INET) {
        out->fam = 4;
        memcpy(out->b, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        return 0;
    }
    if (sa->sa_family == AF_INET6) {
        out->fam = 6;
        memcpy(out->b, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
        ip_norm(out);
        return 0;
    }
    return -1;
}

static void mask(struct dp_filter__ip *ip, unsigned bits)
{
    for (unsigned i = 0; i < 16; i++) {
        unsigned keep = bits > i * 8 ? bits - i * 8 : 0;
        if (keep < 8)
            ip->b[i] &= (uint8_t)(0xff00u >> keep);
    }
}

static int net_parse(const char *s, struct dp_filter__ipnet *out)
{
    const char *slash = strchr(s, '/');
    size_t n = slash ? (size_t)(slash - s) : strlen(s);
    unsigned max, bits = 0;
    bool v6 = memchr(s, ':', n) != NULL;

    if (dp_filter__ip_parse(s, n, &out->ip) != 0)
        return -1;
    max = out->ip.fam == 4 ? 32 : 128;
    if (slash == NULL) {
        out->bits = (uint8_t)max;
        return 0;
    }
    if (slash[1] == '\0' || strlen(slash + 1) > 3)
        return -1;
    for (const char *p = slash + 1; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        bits = bits * 10 + (unsigned)(*p - '0');
    }
    if (v6 && out->ip.fam == 4) { /* ::ffff:a.b.c.d/N */
        if (bits < 96)
            return -1;
        bits -= 96;
    }
    if (bits > max)
        return -1;
    out->bits = (uint8_t)bits;
    mask(&out->ip, bits);
    return 0;
}

int dp_filter__ipset_parse(char *const *strs, size_t n, const char *what,
                           struct dp_filter__ipset *out, char *err, size_t len)
{
    out->v = NULL;
    out->n = 0;
    if (n == 0)
        return 0;
    if ((out->v = calloc(n, sizeof(*out->v))) == NULL)
        return cm_err_set(err, len, GW_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        if (net_parse(strs[i], &out->v[i]) != 0) {
            dp_filter__ipset_deinit(out);
            return cm_err_set(err, len, GW_EINVAL,
                              "%s[%zu]: \"%.64s\" is not an IP or CIDR", what,
                              i, strs[i]);
        }
    }
    out->n = n;
    return 0;
}

static bool net_has(const struct dp_filter__ipnet *net,
                    const struct dp_filter__ip *ip)
{
    struct dp_filter__ip m = *ip;

    if (net->ip.fam != ip->fam)
        return false;
    mask(&m, net->bits);
    return memcmp(m.b, net->ip.b, 16) == 0;
}

bool dp_filter__ipset_has(const struct dp_filter__ipset *s,
                          const struct dp_filter__ip *ip)
{
    for (size_t i = 0; i < s->n; i++)
        if (net_has(&s->v[i], ip))
            return true;
    return false;
}

void dp_filter__ipset_deinit(struct dp_filter__ipset *s)
{
    free(s->v);
    s->v = NULL;
    s->n = 0;
}

/* ==== ClientIP ==== */

static int client_ip_compile(const void *pb, size_t n,
                             struct dp_filter_client_ip *m, char *err,
                             size_t len)
{
    FV1(ClientIpMatch) *msg =
        traefikee__filters__v1__client_ip_match__unpack(NULL, n, pb);
    int r;

    if (msg == NULL)
        return cm_err_set(err, len, GW_EINVAL, "cannot decode ClientIpMatch");
    if (msg->n_all_of == 0 && msg->n_none_of == 0)
        r = cm_err_set(err, len, GW_EINVAL, "no range in all_of or none_of");
    else if ((r = dp_filter__ipset_parse(msg->all_of, msg->n_all_of, "all_of",
                                         &m->all_of, err, len)) == 0 &&
             (r = dp_filter__ipset_parse(msg->none_of, msg->n_none_of,
                                         "none_of", &m->none_of, err, len)) !=
                 0)
        dp_filter__ipset_deinit(&m->all_of);
    traefikee__filters__v1__client_ip_match__free_unpacked(msg, NULL);
    return r;
}

struct dp_filter_client_ip *dp_filter_client_ip_new(const void *pb, size_t n,
                                                    char *err, size_t len)
{
    struct dp_filter_client_ip *m = calloc(1, sizeof(*m));

    if (m == NULL) {
        cm_err_set(err, len, GW_ENOMEM, "out of memory");
        return NULL;
    }
    if (client_ip_compile(pb, n, m, err, len) != 0) {
        free(m);
        return NULL;
    }
    return m;
}

void dp_filter_client_ip_free(struct dp_filter_client_ip *m)
{
    if (m == NULL)
        return;
    dp_filter__ipset_deinit(&m->all_of);
    dp_filter__ipset_deinit(&m->none_of);
    free(m);
}

bool dp_filter_client_ip_match(const struct dp_filter_client_ip *m,
                               const struct sockaddr *sa)
{
    struct dp_filter__ip ip;

    if (dp_filter__ip_from_sa(sa, &ip) != 0)
        return false;
    for (size_t i = 0; i < m->all_of.n; i++)
        if (!net_has(&m->all_of.v[i], &ip))
            return false;
    return !dp_filter__ipset_has(&m->none_of, &ip);
}

int dp_filter__client_ip_build(struct dp_filter__bctx *b, const void *pb,
                               size_t n, struct dp_filter_chain *ch)
{
    char msg[CM_ERR_LEN];

    ch->client_ip = dp_filter_client_ip_new(pb, n, msg, sizeof(msg));
    if (ch->client_ip == NULL)
        return cm_err_set(b->err, b->len, GW_EINVAL, "%s: %s", b->name, msg);
    return 0;
}

bool dp_filter_client_ip_ok(const struct dp_filter_chain *ch,
                            const struct sockaddr *peer)
{
    if (ch == NULL || ch->client_ip == NULL)
        return true;
    return dp_filter_client_ip_match(ch->client_ip, peer);
}

/* ==== ipAllowList ==== */

int dp_filter__allow_build(struct dp_filter__bctx *b, const void *pb, size_t n,
                           struct dp_filter_chain *ch)
{
    FV1(IpAllowList) *m =
        traefikee__filters__v1__ip_allow_list__unpack(NULL, n, pb);
    struct dp_filter__allow *a = calloc(1, sizeof(*a));
    char msg[CM_ERR_LEN];
    int r = GW_EINVAL;

    if (m == NULL || a == NULL) {
        r = cm_err_set(b->err, b->len, m ? GW_ENOMEM : GW_EINVAL,
                       "%s: cannot decode IpAllowList", b->name);
        goto out;
    }
    if (m->n_source_range == 0) {
        cm_err_set(b->err, b->len, r, "%s: source_range is empty", b->name);
        goto out;
    }
    if (dp_filter__ipset_parse(m->source_range, m->n_source_range,
                               "source_range", &a->ranges, msg,
                               sizeof(msg)) != 0 ||
        (m->ip_strategy != NULL &&
         dp_filter__ipset_parse(
             m->ip_strategy->excluded_ips, m->ip_strategy->n_excluded_ips,
             "ip_strategy.excluded_ips", &a->exclude, msg, sizeof(msg)) != 0)) {
        cm_err_set(b->err, b->len, r, "%s: %s", b->name, msg);
        goto out;
    }
    a->depth = m->ip_strategy ? m->ip_strategy->depth : 0;
    ch->allow = a;
    a = NULL;
    r = 0;
out:
    dp_filter__allow_free(a);
    if (m != NULL)
        traefikee__filters__v1__ip_allow_list__free_unpacked(m, NULL);
    return r;
}

void dp_filter__allow_free(struct dp_filter__allow *a)
{
    if (a == NULL)
        return;
    dp_filter__ipset_deinit(&a->ranges);
    dp_filter__ipset_deinit(&a->exclude);
    free(a);
}

static struct dp_router_slice trim(const char *p, size_t n)
{
    while (n > 0 && (*p == ' ' || *p == '\t'))
        p++, n--;
    while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
        n--;
    return (struct dp_router_slice){p, n};
}

/* Entry <k> (0-based) from the right of the comma-separated <xff>. */
static bool xff_from_right(struct dp_router_slice xff, size_t k,
                           struct dp_router_slice *out)
{
    size_t end = xff.len, i = xff.len;

    for (;;) {
        while (i > 0 && xff.ptr[i - 1] != ',')
            i--;
        if (k == 0) {
            *out = trim(xff.ptr + i, end - i);
            return true;
        }
        if (i == 0)
            return false;
        k--;
        end = --i;
    }
}

/* Traefik's ipStrategy: the IP to check, false if none. */
static bool strategy_ip(const struct dp_filter__allow *a,
                        const struct dp_filter_req *req,
                        struct dp_filter__ip *ip)
{
    struct dp_router_slice xff = {"", 0}, e;

    if (a->depth == 0 && a->exclude.n == 0)
        return dp_filter__ip_from_sa(req->peer, ip) == 0;
    dp_filter__header(req->rq, "x-forwarded-for", &xff);
    if (a->depth > 0)
        return xff_from_right(xff, a->depth - 1, &e) &&
               dp_filter__ip_parse(e.ptr, e.len, ip) == 0;
    for (size_t k = 0; xff_from_right(xff, k, &e); k++) {
        if (e.len == 0)
            continue;
        if (dp_filter__ip_parse(e.ptr, e.len, ip) != 0)
            return false; /* Traefik returns it; it then fails to parse */
        if (!dp_filter__ipset_has(&a->exclude, ip))
            return true;
    }
    return false;
}

int dp_filter__allow_run(const struct dp_filter__allow *a,
                         const struct dp_filter_req *req,
                         struct dp_filter_ctx *ctx)
{
    struct dp_filter__ip ip;

    if (strategy_ip(a, req, &ip) && dp_filter__ipset_has(&a->ranges, &ip))
        return DP_FILTER_CONTINUE;
    return dp_filter__respond(ctx, 403, "Forbidden");
}
