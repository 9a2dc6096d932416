/*
 * proxy_filter.c -- the data node's own filters (dataplane/filter: the
 * Traefik middlewares) inside routing: ClientIP as a router match
 * condition, the per-request chain (local answers with their headers, path
 * and request header changes, the rateLimit delay), upstream choice
 * (failover, the sticky cookie, a cookie/header/query/source-IP
 * hash_policy on RING_HASH/MAGLEV clusters) and the Set-Cookie that pins
 * the next request. The chain's filter context lives in the plan and is
 * ended by dp_proxy__plan_release_pl(). Runs on the request's worker.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/net/net.h"
#include "dataplane/filter/filter.h"
#include "dataplane/proxy/proxy_int.h"
#include "dataplane/table/table.h"

#define KEY_MAX    80  /* "http://[v6]:port" */
#define COOKIE_MAX 512 /* one Set-Cookie value */
#define FNV1_0     0xcbf29ce484222325ull
#define FNV1_P     0x100000001b3ull

static const struct sockaddr_storage no_peer; /* AF_UNSPEC: matches no IP */

static const struct sockaddr *peer_of(const struct dp_proxy__rreq *c)
{
    return c->peer != NULL ? c->peer : (const struct sockaddr *)&no_peer;
}

/* ==== ClientIP ==== */

static bool cond_ok(void *arg, const struct dp_route *rt)
{
    const struct dp_proxy__fcond *fc = arg;

    return dp_filter_client_ip_ok(dp_filter_set_get(fc->set, rt), fc->peer);
}

void dp_proxy__filter_cond(struct dp_proxy__rreq *c,
                           const struct dp_filter_set *set,
                           struct dp_proxy__fcond *fc)
{
    fc->set = set;
    fc->peer = peer_of(c);
    c->rq.cond = cond_ok;
    c->rq.cond_arg = fc;
}

/* ==== the chain ==== */

static int add_hdr(struct dp_proxy__rreq *c, struct dp_proxy__str *s,
                   const struct dp_filter_hdr *h)
{
    if (dp_proxy__str_add(c, s, h->name.ptr, h->name.len) != 0 ||
        dp_proxy__str_add(c, s, ": ", 2) != 0 ||
        dp_proxy__str_add(c, s, h->value.ptr, h->value.len) != 0 ||
        dp_proxy__str_add(c, s, "\r\n", 2) != 0)
        return GW_ENOMEM;
    return 0;
}

/* The filters answered: a LOCAL plan with their status, body, headers. */
static int respond(struct dp_proxy__rreq *c)
{
    struct dp_proxy__plan *pl = c->plan;
    const struct dp_filter_ctx *f = &pl->fctx;

    pl->kind = DP_PROXY__PLAN_LOCAL;
    pl->status = f->status;
    if (dp_proxy__str_add(c, &pl->body, f->body.ptr, f->body.len) != 0)
        return GW_ENOMEM;
    for (uint8_t i = 0; i < f->n_resp_hdrs; i++) {
        const struct dp_filter_hdr *h = &f->resp_hdrs[i];
        if (h->name.len == 12 &&
            strncasecmp(h->name.ptr, "content-type", 12) == 0)
            continue; /* the local response has its own */
        if (add_hdr(c, &pl->resp_add, h) != 0)
            return GW_ENOMEM;
    }
    return 1;
}

int dp_proxy__filter_request(struct dp_proxy__rreq *c)
{
    struct dp_proxy__plan *pl = c->plan;
    struct dp_filter_req fr = {
        .rq = &c->rq,
        .peer = peer_of(c),
        .now_ns = uv_hrtime(),
        .tls = c->tls,
        .scratch = c->w->fscratch,
    };

    if (c->chain == NULL)
        return 0;
    dp_filter_ctx_init(&pl->fctx, c->w->fbuf,
                       c->w->fbuf != NULL ? DP_FILTER_BUF_DEF : 0);
    if (dp_filter_request(c->chain, &fr, &pl->fctx) == DP_FILTER_RESPOND)
        return respond(c);
    if (pl->fctx.drop_authorization)
        c->drop(c->rq.get_header_arg, "authorization", 13);
    pl->delay_ms = (uint32_t)((pl->fctx.delay_ns + 999999) / 1000000);
    return 0;
}

int dp_proxy__filter_req_add(struct dp_proxy__rreq *c)
{
    const struct dp_filter_ctx *f = &c->plan->fctx;

    for (uint8_t i = 0; i < f->n_req_add; i++)
        if (add_hdr(c, &c->plan->req_add, &f->req_add[i]) != 0)
            return GW_ENOMEM;
    return 0;
}

/* ==== upstream choice ==== */

static bool usable(const struct dp_cluster *cl, size_t i)
{
    return cl->endpoints[i].health != DP_EP_UNHEALTHY &&
           dp_cluster_state_eligible(cl->state, i);
}

static bool any_usable(const struct dp_cluster *cl)
{
    for (size_t i = 0; i < cl->n_endpoints; i++)
        if (usable(cl, i))
            return true;
    return false;
}

/* Endpoint <i>'s sticky key: its URL, "http://127.0.0.1:8081" (what
 * Traefik hashes into the cookie). Returns the length. */
static size_t ep_key(const struct dp_cluster *cl, size_t i, char *out)
{
    const struct dp_table_addr *a = &cl->endpoints[i].addr;
    bool v6 = a->sa.ss_family == AF_INET6;
    int n = snprintf(out, KEY_MAX, "http://%s%s%s:%u", v6 ? "[" : "", a->text,
                     v6 ? "]" : "", (unsigned)a->port);

    return n > 0 && n < KEY_MAX ? (size_t)n : 0;
}

/* The endpoint of <cl> the request's sticky cookie names (if usable):
 * every endpoint, in batches of DP_PROXY__STICKY_MAX keys (no keys built
 * for a request without a Cookie header). */
static int sticky_find(struct dp_proxy__rreq *c, const struct dp_cluster *cl)
{
    char keys[DP_PROXY__STICKY_MAX][KEY_MAX];
    struct dp_router_slice ks[DP_PROXY__STICKY_MAX], v;
    bool ok[DP_PROXY__STICKY_MAX];
    int i;

    if (c->rq.get_header != NULL &&
        !c->rq.get_header(c->rq.get_header_arg, "cookie", 6, &v))
        return -1;
    for (size_t base = 0; base < cl->n_endpoints;
         base += DP_PROXY__STICKY_MAX) {
        size_t n = cl->n_endpoints - base < DP_PROXY__STICKY_MAX
                       ? cl->n_endpoints - base
                       : DP_PROXY__STICKY_MAX;
        for (size_t k = 0; k < n; k++) {
            ks[k] = (struct dp_router_slice){keys[k],
                                             ep_key(cl, base + k, keys[k])};
            ok[k] = usable(cl, base + k);
        }
        if ((i = dp_filter_sticky_pick(c->chain, &c->rq, ks, ok, n)) >= 0)
            return (int)base + i;
    }
    return -1;
}

const struct dp_cluster *
dp_proxy__filter_upstream(struct dp_proxy__rreq *c, const struct dp_table *t,
                          const struct dp_route_cluster **rc,
                          const struct dp_cluster *cl)
{
    const struct dp_route *rt = c->route;
    const struct dp_cluster *fb;

    if (dp_filter_chain_has(c->chain, DP_FILTER_FAILOVER)) {
        fb = dp_table_cluster_at(t, dp_filter_failover_cluster(c->chain));
        switch (dp_filter_failover(c->chain, any_usable(cl),
                                   fb != NULL && any_usable(fb))) {
        case DP_FILTER_UP_PRIMARY:
            return cl;
        case DP_FILTER_UP_FALLBACK:
            return fb;
        default:
            return NULL;
        }
    }
    /* a weighted route's cookie names an endpoint of one of its clusters */
    if (rt->kind != DP_ROUTE_WEIGHTED ||
        !dp_filter_chain_has(c->chain, DP_FILTER_STICKY))
        return cl;
    for (size_t k = 0; k < rt->weighted.n_clusters; k++) {
        const struct dp_route_cluster *w = &rt->weighted.clusters[k];
        const struct dp_cluster *x = dp_table_cluster_at(t, w->index);
        if (x != NULL && sticky_find(c, x) >= 0) {
            *rc = w;
            return x;
        }
    }
    return cl;
}

/* Traefik's cookie value for a key: FNV-1 64, lower-case hex. */
static int fnv1_hex(const char *p, size_t n, char *out, size_t len)
{
    uint64_t h = FNV1_0;

    for (size_t i = 0; i < n; i++)
        h = (h * FNV1_P) ^ (uint8_t)p[i];
    return snprintf(out, len, "%llx", (unsigned long long)h);
}

static uint64_t fnv1a(const char *p, size_t n)
{
    uint64_t h = FNV1_0;

    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)p[i]) * FNV1_P;
    return h;
}

/* The value of cookie <name> in the Cookie header. */
static bool cookie_get(const struct dp_router_req *rq,
                       struct dp_router_slice name, struct dp_router_slice *v)
{
    struct dp_router_slice h;
    size_t i = 0;

    if (!rq->get_header(rq->get_header_arg, "cookie", 6, &h))
        return false;
    while (i < h.len) {
        size_t s = i, e;
        while (i < h.len && h.ptr[i] != ';')
            i++;
        e = i++;
        while (s < e && h.ptr[s] == ' ')
            s++;
        while (e > s && h.ptr[e - 1] == ' ')
            e--;
        if (e - s > name.len && h.ptr[s + name.len] == '=' &&
            memcmp(h.ptr + s, name.ptr, name.len) == 0) {
            *v = (struct dp_router_slice){h.ptr + s + name.len + 1,
                                          e - s - name.len - 1};
            return true;
        }
    }
    return false;
}

/* The value of query parameter <name>, undecoded. */
static bool query_get(struct dp_router_slice q, struct dp_router_slice name,
                      struct dp_router_slice *v)
{
    size_t i = 0;

    while (i < q.len) {
        size_t s = i, e;
        while (i < q.len && q.ptr[i] != '&')
            i++;
        e = i++;
        if (e - s >= name.len && memcmp(q.ptr + s, name.ptr, name.len) == 0 &&
            (e - s == name.len || q.ptr[s + name.len] == '=')) {
            s += name.len + (e - s > name.len);
            *v = (struct dp_router_slice){q.ptr + s, e - s};
            return true;
        }
    }
    return false;
}

/* A cookie naming an endpoint by Traefik's hash of its URL. */
static int cookie_endpoint(const struct dp_cluster *cl,
                           struct dp_router_slice v)
{
    char key[KEY_MAX], hx[24];

    for (size_t i = 0; i < cl->n_endpoints; i++) {
        size_t kn = ep_key(cl, i, key);
        int hn = fnv1_hex(key, kn, hx, sizeof(hx));
        if ((size_t)hn == v.len && memcmp(hx, v.ptr, v.len) == 0)
            return usable(cl, i) ? (int)i : -1;
    }
    return -1;
}

/* Envoy's hash_policy walk: each policy that yields a value mixes into the
 * hash; a terminal one that did stops the walk. A missing cookie is noted
 * to be set (the first one). Returns the endpoint, or -1. */
static int hash_first(struct dp_proxy__rreq *c, const struct dp_cluster *cl)
{
    const struct dp_route *rt = c->route;
    uint64_t hash = 0;
    bool have = false;

    for (size_t k = 0; k < rt->n_hash_policies; k++) {
        const struct dp_route_hash_policy *hp = &rt->hash_policies[k];
        struct dp_router_slice v;
        char ip[CM_NET_ADDRSTRLEN];
        bool got = false;
        int ep;

        switch (hp->kind) {
        case DP_ROUTE_HASH_COOKIE:
            got = cookie_get(&c->rq, hp->name, &v) && v.len > 0;
            if (got && (ep = cookie_endpoint(cl, v)) >= 0)
                return ep;
            if (!got && c->cookie == DP_PROXY__COOKIE_NONE)
                c->cookie = DP_PROXY__COOKIE_HASH, c->cookie_hp = hp;
            break;
        case DP_ROUTE_HASH_HEADER:
            got = c->rq.get_header(c->rq.get_header_arg, hp->name.ptr,
                                   hp->name.len, &v);
            break;
        case DP_ROUTE_HASH_QUERY:
            got = query_get(c->rq.query, hp->name, &v);
            break;
        case DP_ROUTE_HASH_SOURCE_IP:
            cm_net_format_addr(peer_of(c), ip, sizeof(ip));
            v = (struct dp_router_slice){ip, strlen(ip)};
            got = c->peer != NULL;
            break;
        }
        if (!got)
            continue;
        hash = ((hash << 1) | (hash >> 63)) ^ fnv1a(v.ptr, v.len);
        have = true;
        if (hp->terminal)
            break;
    }
    return have ? dp_table_pick_hash(cl, cl->state, hash) : -1;
}

int dp_proxy__filter_first(struct dp_proxy__rreq *c,
                           const struct dp_cluster *cl)
{
    int i;

    if (dp_filter_chain_has(c->chain, DP_FILTER_STICKY)) {
        if ((i = sticky_find(c, cl)) < 0)
            c->cookie = DP_PROXY__COOKIE_STICKY;
        return i;
    }
    if (c->route == NULL || c->route->n_hash_policies == 0 ||
        !dp_table_lb_hashes(cl))
        return -1;
    return hash_first(c, cl);
}

int dp_proxy__filter_cookie(struct dp_proxy__rreq *c,
                            const struct dp_cluster *cl)
{
    struct dp_proxy__plan *pl = c->plan;
    const struct dp_route_hash_policy *hp = c->cookie_hp;
    char key[KEY_MAX], val[COOKIE_MAX], hx[24];
    size_t kn;
    int n;

    if (c->cookie == DP_PROXY__COOKIE_NONE || pl->n_cand == 0)
        return 0;
    kn = ep_key(cl, pl->cand_ep[0], key);
    if (c->cookie == DP_PROXY__COOKIE_STICKY) {
        n = dp_filter_sticky_cookie(c->chain, (struct dp_router_slice){key, kn},
                                    val, sizeof(val));
    } else {
        fnv1_hex(key, kn, hx, sizeof(hx));
        n = snprintf(val, sizeof(val), "%.*s=%s; Path=%.*s", (int)hp->name.len,
                     hp->name.ptr, hx,
                     hp->cookie_path.len ? (int)hp->cookie_path.len : 1,
                     hp->cookie_path.len ? hp->cookie_path.ptr : "/");
        if (n > 0 && hp->cookie_ttl_ms >= 1000 && (size_t)n < sizeof(val))
            n += snprintf(val + n, sizeof(val) - (size_t)n, "; Max-Age=%llu",
                          (unsigned long long)(hp->cookie_ttl_ms / 1000));
    }
    if (n < 0 || (size_t)n >= sizeof(val))
        return 0; /* no cookie: the next request is picked afresh */
    if (dp_proxy__str_add(c, &pl->resp_add, "Set-Cookie: ", 12) != 0 ||
        dp_proxy__str_add(c, &pl->resp_add, val, (size_t)n) != 0 ||
        dp_proxy__str_add(c, &pl->resp_add, "\r\n", 2) != 0)
        return GW_ENOMEM;
    return 0;
}

/* ==== local responses ==== */

int dp_proxy__splice_hdrs(char *out, size_t cap, int n, const char *lines,
                          size_t len)
{
    size_t at = 0;

    while (at + 4 <= (size_t)n && memcmp(out + at, "\r\n\r\n", 4) != 0)
        at++;
    if (at + 4 > (size_t)n || (size_t)n + len > cap)
        return GW_ETOOBIG;
    at += 2; /* after the last header line */
    memmove(out + at + len, out + at, (size_t)n - at);
    memcpy(out + at, lines, len);
    return n + (int)len;
}
