/*
 * proxy_route.c -- routes one parsed request with the current table (read
 * under RCU inside the worker's callback): the listener's router, the
 * matched route, the cluster and endpoint picks (dp_table_pick for this
 * worker), and copies into the connection's plan what the exchange needs
 * later: endpoint candidates, the rewritten target and Host, header edits,
 * timeout and retry budget. Of the table only the cluster's runtime state is
 * kept, by reference, for the in-flight and circuit breaker accounting.
 * Runs on the connection's worker.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/filter/filter.h"
#include "dataplane/proxy/proxy_int.h"
#include "dataplane/tls/tls.h"
#include "dataplane/router/router.h"
#include "dataplane/table/table.h"

#define RETRY_BEFORE_RESPONSE                                                  \
    (DP_RETRY_CONNECT_FAILURE | DP_RETRY_RESET | DP_RETRY_5XX |                \
     DP_RETRY_GATEWAY_ERROR | DP_RETRY_REFUSED_STREAM)

/* ==== scratch strings ==== */

static int sb_reserve(struct dp_proxy__sb *sb, size_t n)
{
    size_t cap = sb->cap ? sb->cap : 512;
    char *p;

    if (sb->len + n <= sb->cap)
        return 0;
    while (cap < sb->len + n)
        cap *= 2;
    if ((p = realloc(sb->p, cap)) == NULL)
        return GW_ENOMEM;
    sb->p = p;
    sb->cap = (uint32_t)cap;
    return 0;
}

/* Appends to the string <s> (which must be the last one started). */
static int sb_add(struct dp_proxy__rreq *c, struct dp_proxy__str *s,
                  const void *p, size_t n)
{
    struct dp_proxy__sb *sb = c->sb;

    if (sb_reserve(sb, n + 1) != 0)
        return GW_ENOMEM;
    if (!s->set) {
        s->off = sb->len;
        s->len = 0;
        s->set = true;
    }
    memcpy(sb->p + sb->len, p, n);
    sb->len += (uint32_t)n;
    s->len += (uint32_t)n;
    sb->p[sb->len] = '\0'; /* not counted: the next add overwrites it */
    return 0;
}

int dp_proxy__str_add(struct dp_proxy__rreq *c, struct dp_proxy__str *s,
                      const void *p, size_t n)
{
    return sb_add(c, s, p, n);
}

/* ==== request view of an HTTP/1 connection ==== */

static int get_header(void *arg, const char *name, size_t len,
                      struct dp_router_slice *value)
{
    struct dp_proxy__conn *c = arg;
    int i = cm_h1_find(&c->x->req.msg, c->in.p, name, len, 0);

    if (i < 0)
        return 0;
    value->ptr = c->in.p + c->x->hdrs[i].value.off;
    value->len = c->x->hdrs[i].value.len;
    return 1;
}

/* Marks request headers named <name> as dropped. */
static void h1_drop(void *arg, const char *name, size_t len)
{
    struct dp_proxy__conn *c = arg;
    int i = 0;

    while ((i = cm_h1_find(&c->x->req.msg, c->in.p, name, len, (uint32_t)i)) >=
           0)
        c->x->hdrs[i++].flags |= CM_H1_HDR_HOP;
}

static struct dp_router_slice rs(const char *buf, struct cm_h1_span s)
{
    struct dp_router_slice r = {buf + s.off, s.len};
    return r;
}

static void router_req(struct dp_proxy__conn *c, struct dp_router_req *rq)
{
    memset(rq, 0, sizeof(*rq));
    rq->host = rs(c->in.p, c->x->req.host);
    rq->path = rs(c->in.p, c->x->req.path);
    rq->query = rs(c->in.p, c->x->req.query);
    rq->method = rs(c->in.p, c->x->req.method_raw);
    rq->scheme = c->tls != NULL ? (struct dp_router_slice){"https", 5}
                                : (struct dp_router_slice){"http", 4};
    rq->get_header = get_header;
    rq->get_header_arg = c;
    rq->scratch = c->w->scratch;
}

/* ==== local answers ==== */

static int plan_local(struct dp_proxy__rreq *c, uint16_t status,
                      const char *body, size_t blen)
{
    c->plan->kind = DP_PROXY__PLAN_LOCAL;
    c->plan->status = status;
    if (body != NULL && sb_add(c, &c->plan->body, body, blen) != 0)
        return GW_ENOMEM;
    return 0;
}

static int plan_redirect(struct dp_proxy__rreq *c, const struct dp_route *rt,
                         const struct dp_router_req *rq)
{
    char loc[4096];
    int n = dp_router_redirect_location(rt, rq, loc, sizeof(loc));

    if (n < 0)
        return plan_local(c, 500, NULL, 0);
    if (plan_local(c, rt->redirect.code ? rt->redirect.code : 301, "", 0) != 0)
        return GW_ENOMEM;
    return sb_add(c, &c->plan->location, loc, (size_t)n);
}

/* ==== header edits ==== */

static int hdr_present(struct dp_proxy__rreq *c, struct dp_router_slice name)
{
    struct dp_router_slice v;

    return c->rq.get_header(c->rq.get_header_arg, name.ptr, name.len, &v);
}

static void req_drop(struct dp_proxy__rreq *c, struct dp_router_slice name)
{
    c->drop(c->rq.get_header_arg, name.ptr, name.len);
}

static int add_line(struct dp_proxy__rreq *c, struct dp_proxy__str *s,
                    const struct dp_route_hdr_add *a)
{
    if (a->value.len == 0 && !a->keep_empty_value)
        return 0;
    if (sb_add(c, s, a->name.ptr, a->name.len) != 0 ||
        sb_add(c, s, ": ", 2) != 0 ||
        sb_add(c, s, a->value.ptr, a->value.len) != 0 ||
        sb_add(c, s, "\r\n", 2) != 0)
        return GW_ENOMEM;
    return 0;
}

static int req_edits(struct dp_proxy__rreq *c,
                     const struct dp_route_hdr_edits *e)
{
    for (size_t i = 0; i < e->n_remove; i++)
        req_drop(c, e->remove[i]);
    for (size_t i = 0; i < e->n_add; i++) {
        const struct dp_route_hdr_add *a = &e->add[i];
        bool has = hdr_present(c, a->name);
        if (a->append == DP_ROUTE_HDR_ADD_IF_ABSENT && has)
            continue;
        if (a->append == DP_ROUTE_HDR_OVERWRITE_ONLY && !has)
            continue;
        if (a->append == DP_ROUTE_HDR_OVERWRITE ||
            a->append == DP_ROUTE_HDR_OVERWRITE_ONLY)
            req_drop(c, a->name);
        if (add_line(c, &c->plan->req_add, a) != 0)
            return GW_ENOMEM;
    }
    return 0;
}

/* Response edits of <n> levels: the names to drop (NUL-separated) are
 * built first, the lines to add after, so each string stays contiguous. */
static int resp_edits(struct dp_proxy__rreq *c,
                      const struct dp_route_hdr_edits *const *e, size_t n)
{
    struct dp_proxy__str *rm = &c->plan->resp_rm;

    for (size_t k = 0; k < n; k++) {
        for (size_t i = 0; i < e[k]->n_remove; i++) {
            const struct dp_router_slice *r = &e[k]->remove[i];
            if (sb_add(c, rm, r->ptr, r->len) || sb_add(c, rm, "", 1))
                return GW_ENOMEM;
        }
        for (size_t i = 0; i < e[k]->n_add; i++) {
            const struct dp_route_hdr_add *a = &e[k]->add[i];
            if (a->append == DP_ROUTE_HDR_APPEND ||
                a->append == DP_ROUTE_HDR_ADD_IF_ABSENT)
                continue;
            if (sb_add(c, rm, a->name.ptr, a->name.len) || sb_add(c, rm, "", 1))
                return GW_ENOMEM;
        }
    }
    for (size_t k = 0; k < n; k++) {
        for (size_t i = 0; i < e[k]->n_add; i++) {
            if (add_line(c, &c->plan->resp_add, &e[k]->add[i]) != 0)
                return GW_ENOMEM;
        }
    }
    return 0;
}

/* ==== forwarding ==== */

static int plan_target(struct dp_proxy__rreq *c, const struct dp_route *rt)
{
    const struct dp_filter_ctx *f = &c->plan->fctx; /* a path filter's */
    char out[8192];
    int n;

    if (!(rt->flags & DP_ROUTE_F_HAS_REWRITE) && !f->path_set)
        return 0;
    n = dp_router_rewrite_path(rt, f->path_set ? f->path : c->rq.path,
                               c->rq.query, c->w->scratch, out, sizeof(out));
    if (n < 0)
        return n;
    if (n == 0 || out[0] != '/')
        return sb_add(c, &c->plan->target, "/", 1) ||
                       sb_add(c, &c->plan->target, out, (size_t)n)
                   ? GW_ENOMEM
                   : 0;
    return sb_add(c, &c->plan->target, out, (size_t)n);
}

/* ==== endpoints and accounting ==== */

static bool usable(const struct dp_cluster *cl, size_t i)
{
    return cl->endpoints[i].health != DP_EP_UNHEALTHY &&
           dp_cluster_state_eligible(cl->state, i);
}

/* Candidate <k> is endpoint <i> of <cl>. */
static void cand_set(struct dp_proxy__plan *pl, const struct dp_cluster *cl,
                     size_t k, size_t i)
{
    pl->cand[k] = cl->endpoints[i].addr.sa;
    pl->cand_ep[k] = (uint32_t)i;
}

/* The first candidate by the cluster's policy, for this worker; retries
 * take the next usable endpoints after it (so the RR cursors only see
 * requests). Returns the count. */
static size_t pick_cands(struct dp_proxy__rreq *c, const struct dp_cluster *cl,
                         size_t max)
{
    struct dp_proxy__plan *pl = c->plan;
    int first = dp_proxy__filter_first(c, cl); /* sticky, hash_policy */
    size_t n = 1;

    if (first < 0)
        first = dp_table_pick(cl, cl->state, c->w->w.id, dp_proxy__rand(c->w));
    if (first < 0)
        return 0;
    cand_set(pl, cl, 0, (size_t)first);
    for (size_t k = 1; k < cl->n_endpoints && n < max; k++) {
        size_t i = ((size_t)first + k) % cl->n_endpoints;
        if (usable(cl, i))
            cand_set(pl, cl, n++, i);
    }
    return n;
}

uint64_t dp_proxy__retry_backoff(const struct dp_proxy__plan *pl,
                                 uint32_t tries)
{
    uint64_t ms = pl->backoff_ms;

    for (uint32_t k = 1; k < tries && ms < pl->backoff_max_ms; k++)
        ms *= 2;
    return ms < pl->backoff_max_ms ? ms : pl->backoff_max_ms;
}

uint64_t dp_proxy__jitter(struct dp_proxy__worker *w, uint64_t ms)
{
    return ms / 2 + (ms > 0 ? dp_proxy__rand(w) % (ms + 1) : 0);
}

int dp_proxy__plan_switch_pl(struct dp_proxy__plan *pl, uint32_t k)
{
    struct dp_cluster only_cb = {.cb = pl->cb};
    uint32_t ep = pl->cand_ep[k];

    if (pl->st == NULL || (pl->active_ep >= 0 && (uint32_t)pl->active_ep == ep))
        return 0;
    if (pl->active_ep >= 0)
        dp_cluster_state_request_end(pl->st, (size_t)pl->active_ep);
    pl->active_ep = -1;
    if (dp_cluster_state_request_begin(pl->st, &only_cb, ep) != 0)
        return GW_ETOOBIG;
    pl->active_ep = (int32_t)ep;
    return 0;
}

void dp_proxy__plan_release_pl(struct dp_proxy__plan *pl)
{
    uint64_t now = uv_hrtime();

    dp_filter_end(&pl->fctx, pl->resp_status, now); /* idempotent */
    dp_proxy__rstat_end(pl, now);                   /* idempotent */
    dp_tls_client_unref(pl->up_tls);
    pl->up_tls = NULL;
    if (pl->st == NULL)
        return;
    if (pl->active_ep >= 0)
        dp_cluster_state_request_end(pl->st, (size_t)pl->active_ep);
    dp_cluster_state_unref(pl->st);
    pl->st = NULL;
    pl->active_ep = -1;
}

static int plan_host(struct dp_proxy__rreq *c, const struct dp_route *rt,
                     const struct dp_route_cluster *rc,
                     const struct dp_cluster *cl)
{
    struct dp_proxy__plan *pl = c->plan;
    const struct dp_endpoint *ep;
    char a[CM_NET_ADDRSTRLEN];

    if (rc->host_rewrite_literal.len > 0)
        return sb_add(c, &pl->host, rc->host_rewrite_literal.ptr,
                      rc->host_rewrite_literal.len);
    if (rt->host_rewrite_literal.len > 0)
        return sb_add(c, &pl->host, rt->host_rewrite_literal.ptr,
                      rt->host_rewrite_literal.len);
    if (!(rt->flags & DP_ROUTE_F_AUTO_HOST_REWRITE) || pl->n_cand == 0)
        return 0;
    ep = &cl->endpoints[pl->cand_ep[0]];
    if (ep->hostname[0] != '\0')
        return sb_add(c, &pl->host, ep->hostname, strlen(ep->hostname));
    cm_net_format_addr((const struct sockaddr *)&pl->cand[0], a, sizeof(a));
    return sb_add(c, &pl->host, a, strlen(a));
}

static int plan_edits(struct dp_proxy__rreq *c, const struct dp_route *rt,
                      const struct dp_route_cluster *rc)
{
    const struct dp_route_hdr_edits *e[2] = {&rt->resp_hdrs, &rc->resp_hdrs};
    bool w = rt->kind == DP_ROUTE_WEIGHTED;

    if (req_edits(c, &rt->req_hdrs) != 0 ||
        (w && req_edits(c, &rc->req_hdrs) != 0))
        return GW_ENOMEM;
    return resp_edits(c, e, w ? 2 : 1);
}

static int plan_forward(struct dp_proxy__rreq *c, const struct dp_table *t,
                        const struct dp_route *rt)
{
    struct dp_proxy__plan *pl = c->plan;
    const struct dp_route_cluster *rc = &rt->cluster;
    const struct dp_cluster *cl;
    size_t max = 1;

    if (rt->kind == DP_ROUTE_WEIGHTED)
        rc = dp_route_pick_weighted(rt, dp_proxy__rand(c->w));
    if (rc == NULL || (cl = dp_table_cluster_at(t, rc->index)) == NULL)
        return plan_local(c, 503, NULL, 0);
    if ((cl = dp_proxy__filter_upstream(c, t, &rc, cl)) == NULL)
        return plan_local(c, 503, "no healthy upstream\n", 20); /* failover */
    if ((rt->flags & DP_ROUTE_F_HAS_RETRY) &&
        (rt->retry.retry_on & RETRY_BEFORE_RESPONSE)) {
        pl->retries = rt->retry.num_retries;
        pl->backoff_ms = (uint32_t)rt->retry.backoff_base_ms;
        pl->backoff_max_ms = (uint32_t)rt->retry.backoff_max_ms;
        max = 1 + (size_t)pl->retries;
        if (max > DP_PROXY__TRY_MAX)
            max = DP_PROXY__TRY_MAX;
    }
    if ((pl->n_cand = (uint8_t)pick_cands(c, cl, max)) == 0)
        return plan_local(c, 503, "no healthy upstream\n", 20);
    pl->st = dp_cluster_state_of(cl);
    dp_cluster_state_ref(pl->st);
    if ((pl->up_tls = cl->tls) != NULL)
        dp_tls_client_ref(pl->up_tls);
    pl->cb = cl->cb;
    pl->outlier = cl->outlier;
    pl->n_eps = (uint32_t)cl->n_endpoints;
    pl->http2 = cl->http2;
    if (dp_proxy__plan_switch_pl(pl, 0) != 0) {
        DP_PROXY__INC(c->w, overflows, 1);
        return plan_local(c, 503, "upstream overflow\n", 18);
    }
    pl->kind = DP_PROXY__PLAN_FORWARD;
    pl->timeout_ms = rt->timeout_ms;
    if (plan_target(c, rt) != 0 || plan_host(c, rt, rc, cl) != 0 ||
        dp_proxy__filter_req_add(c) != 0 || plan_edits(c, rt, rc) != 0 ||
        dp_proxy__filter_cookie(c, cl) != 0)
        return GW_ENOMEM;
    return 0;
}

int dp_proxy__route_req(struct dp_proxy__rreq *c)
{
    const struct dp_table *t = dp_proxy__table(c->w);
    const struct dp_listener *l;
    const struct dp_router *r;
    const struct dp_route *rt;
    struct dp_proxy__fcond fc;
    int v;

    dp_proxy__plan_release_pl(c->plan);
    memset(c->plan, 0, sizeof(*c->plan));
    c->plan->active_ep = -1;
    c->sb->len = 0;
    if (t == NULL)
        return plan_local(c, 503, "no configuration\n", 17);
    if ((l = dp_table_listener_by_name(t, c->lsn)) == NULL)
        return plan_local(c, 404, NULL, 0);
    /* RDS routers by name; an inline route_config is the listener's own */
    r = l->inline_routes ? l->router : dp_table_router(t, l->route_config_name);
    if (r == NULL)
        return plan_local(c, 404, NULL, 0);
    dp_proxy__filter_cond(c, l->filters, &fc); /* ClientIP */
    if ((rt = dp_router_match(r, &c->rq)) == NULL)
        return plan_local(c, 404, NULL, 0);
    c->route = rt;
    c->plan->rstat =
        dp_proxy__rstat_get(&c->w->rstats, rt->name.ptr, rt->name.len);
    c->plan->t0_ns = uv_hrtime();
    c->chain = dp_filter_set_get(l->filters, rt);
    if ((v = dp_proxy__filter_request(c)) != 0)
        return v < 0 ? v : 0; /* answered by a filter */
    switch (rt->kind) {
    case DP_ROUTE_CLUSTER:
    case DP_ROUTE_WEIGHTED:
        return plan_forward(c, t, rt);
    case DP_ROUTE_REDIRECT:
        return plan_redirect(c, rt, &c->rq);
    case DP_ROUTE_DIRECT:
        return plan_local(c, rt->direct.status, rt->direct.body.ptr,
                          rt->direct.body.len);
    default:
        return plan_local(c, 404, NULL, 0);
    }
}

int dp_proxy__route(struct dp_proxy__conn *c)
{
    struct dp_proxy__rreq r = {
        .w = c->w,
        .lsn = c->lsn,
        .drop = h1_drop,
        .plan = &c->x->plan,
        .sb = &c->x->sb,
        .peer = (const struct sockaddr *)&c->peer_sa,
    };

    router_req(c, &r.rq);
    return dp_proxy__route_req(&r);
}

int dp_proxy__plan_switch(struct dp_proxy__conn *c, uint32_t k)
{
    return dp_proxy__plan_switch_pl(&c->x->plan, k);
}

void dp_proxy__plan_release(struct dp_proxy__conn *c)
{
    if (c->x != NULL)
        dp_proxy__plan_release_pl(&c->x->plan);
}

struct dp_proxy__lsn_want *dp_proxy__table_listeners(const struct dp_table *t,
                                                     size_t *n)
{
    size_t k = dp_table_listener_count(t);
    struct dp_proxy__lsn_want *w;

    *n = 0;
    if (k == 0 || (w = calloc(k, sizeof(*w))) == NULL)
        return NULL;
    for (size_t i = 0; i < k; i++) {
        const struct dp_listener *l = dp_table_listener(t, i);
        snprintf(w[i].name, sizeof(w[i].name), "%s", l->name);
        w[i].addr = l->addr.sa;
    }
    *n = k;
    return w;
}
