/*
 * proxy_route.c -- routes one parsed request with the current table (read
 * under RCU inside the worker's callback) and copies into the connection's
 * plan what the exchange needs later: endpoint candidates, the rewritten
 * target and Host, header edits, timeout and retry budget. Nothing of the
 * table is kept. Runs on the connection's worker.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/proxy/proxy_int.h"
#include "dataplane/proxy/proxy_table.h"
#include "dataplane/router/router.h"

#define RETRY_BEFORE_RESPONSE                                                  \
    (DP_RETRY_CONNECT_FAILURE | DP_RETRY_RESET | DP_RETRY_5XX |                \
     DP_RETRY_GATEWAY_ERROR | DP_RETRY_REFUSED_STREAM)

/* ==== scratch strings ==== */

static int sb_reserve(struct dp_proxy__conn *c, size_t n)
{
    size_t cap = c->sb_cap ? c->sb_cap : 512;
    char *p;

    if (c->sb_len + n <= c->sb_cap)
        return 0;
    while (cap < c->sb_len + n)
        cap *= 2;
    if ((p = realloc(c->sb, cap)) == NULL)
        return GW_ENOMEM;
    c->sb = p;
    c->sb_cap = (uint32_t)cap;
    return 0;
}

/* Appends to the string <s> (which must be the last one started). */
static int sb_add(struct dp_proxy__conn *c, struct dp_proxy__str *s,
                  const void *p, size_t n)
{
    if (sb_reserve(c, n + 1) != 0)
        return GW_ENOMEM;
    if (!s->set) {
        s->off = c->sb_len;
        s->len = 0;
        s->set = true;
    }
    memcpy(c->sb + c->sb_len, p, n);
    c->sb_len += (uint32_t)n;
    s->len += (uint32_t)n;
    c->sb[c->sb_len] = '\0'; /* not counted: the next add overwrites it */
    return 0;
}

/* ==== request view for the router ==== */

static int get_header(void *arg, const char *name, size_t len,
                      struct dp_router_slice *value)
{
    struct dp_proxy__conn *c = arg;
    int i = dp_h1_find(&c->req.msg, c->in.p, name, len, 0);

    if (i < 0)
        return 0;
    value->ptr = c->in.p + c->hdrs[i].value.off;
    value->len = c->hdrs[i].value.len;
    return 1;
}

static struct dp_router_slice rs(const char *buf, struct dp_h1_span s)
{
    struct dp_router_slice r = {buf + s.off, s.len};
    return r;
}

static void router_req(struct dp_proxy__conn *c, struct dp_router_req *rq)
{
    memset(rq, 0, sizeof(*rq));
    rq->host = rs(c->in.p, c->req.host);
    rq->path = rs(c->in.p, c->req.path);
    rq->query = rs(c->in.p, c->req.query);
    rq->method = rs(c->in.p, c->req.method_raw);
    rq->scheme = (struct dp_router_slice){"http", 4};
    rq->get_header = get_header;
    rq->get_header_arg = c;
    rq->scratch = c->w->scratch;
}

/* ==== local answers ==== */

static int plan_local(struct dp_proxy__conn *c, uint16_t status,
                      const char *body, size_t blen)
{
    c->plan.kind = DP_PROXY__PLAN_LOCAL;
    c->plan.status = status;
    if (body != NULL && sb_add(c, &c->plan.body, body, blen) != 0)
        return GW_ENOMEM;
    return 0;
}

static int plan_redirect(struct dp_proxy__conn *c, const struct dp_route *rt,
                         const struct dp_router_req *rq)
{
    char loc[4096];
    int n = dp_router_redirect_location(rt, rq, loc, sizeof(loc));

    if (n < 0)
        return plan_local(c, 500, NULL, 0);
    if (plan_local(c, rt->redirect.code ? rt->redirect.code : 301, "", 0) != 0)
        return GW_ENOMEM;
    return sb_add(c, &c->plan.location, loc, (size_t)n);
}

/* ==== header edits ==== */

static int hdr_present(struct dp_proxy__conn *c, struct dp_router_slice name)
{
    return dp_h1_find(&c->req.msg, c->in.p, name.ptr, name.len, 0) >= 0;
}

/* Marks request headers named <name> as dropped. */
static void req_drop(struct dp_proxy__conn *c, struct dp_router_slice name)
{
    int i = 0;

    while ((i = dp_h1_find(&c->req.msg, c->in.p, name.ptr, name.len,
                           (uint32_t)i)) >= 0)
        c->hdrs[i++].flags |= DP_H1_HDR_HOP;
}

static int add_line(struct dp_proxy__conn *c, struct dp_proxy__str *s,
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

static int req_edits(struct dp_proxy__conn *c,
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
        if (add_line(c, &c->plan.req_add, a) != 0)
            return GW_ENOMEM;
    }
    return 0;
}

/* Response edits of <n> levels: the names to drop (NUL-separated) are
 * built first, the lines to add after, so each string stays contiguous. */
static int resp_edits(struct dp_proxy__conn *c,
                      const struct dp_route_hdr_edits *const *e, size_t n)
{
    struct dp_proxy__str *rm = &c->plan.resp_rm;

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
            if (add_line(c, &c->plan.resp_add, &e[k]->add[i]) != 0)
                return GW_ENOMEM;
        }
    }
    return 0;
}

/* ==== forwarding ==== */

static int plan_target(struct dp_proxy__conn *c, const struct dp_route *rt)
{
    char out[8192];
    int n;

    if (!(rt->flags & DP_ROUTE_F_HAS_REWRITE))
        return 0;
    n = dp_router_rewrite_path(rt, rs(c->in.p, c->req.path),
                               rs(c->in.p, c->req.query), c->w->scratch, out,
                               sizeof(out));
    if (n < 0)
        return n;
    if (n == 0 || out[0] != '/')
        return sb_add(c, &c->plan.target, "/", 1) ||
                       sb_add(c, &c->plan.target, out, (size_t)n)
                   ? GW_ENOMEM
                   : 0;
    return sb_add(c, &c->plan.target, out, (size_t)n);
}

static int plan_forward(struct dp_proxy__conn *c,
                        const struct dp_proxy_table *t,
                        const struct dp_route *rt)
{
    struct dp_proxy__plan *pl = &c->plan;
    const struct dp_route_cluster *rc = &rt->cluster;
    const struct dp_proxy_cluster *cl;
    size_t max = 1;

    if (rt->kind == DP_ROUTE_WEIGHTED)
        rc = dp_route_pick_weighted(rt, dp_proxy__rand(c->w));
    if (rc == NULL || rc->index < 0 || (size_t)rc->index >= t->n_clusters)
        return plan_local(c, 503, NULL, 0);
    cl = &t->clusters[rc->index];
    pl->kind = DP_PROXY__PLAN_FORWARD;
    pl->timeout_ms = rt->timeout_ms;
    if ((rt->flags & DP_ROUTE_F_HAS_RETRY) &&
        (rt->retry.retry_on & RETRY_BEFORE_RESPONSE)) {
        pl->retries = rt->retry.num_retries;
        max = 1 + (size_t)pl->retries;
        if (max > DP_PROXY__TRY_MAX)
            max = DP_PROXY__TRY_MAX;
    }
    pl->n_cand =
        (uint8_t)dp_proxy_cluster_pick(cl, dp_proxy__rand(c->w), pl->cand, max);
    if (plan_target(c, rt) != 0)
        return GW_ENOMEM;
    if (rc->host_rewrite_literal.len > 0) {
        if (sb_add(c, &pl->host, rc->host_rewrite_literal.ptr,
                   rc->host_rewrite_literal.len))
            return GW_ENOMEM;
    } else if (rt->host_rewrite_literal.len > 0) {
        if (sb_add(c, &pl->host, rt->host_rewrite_literal.ptr,
                   rt->host_rewrite_literal.len))
            return GW_ENOMEM;
    } else if ((rt->flags & DP_ROUTE_F_AUTO_HOST_REWRITE) && pl->n_cand > 0) {
        char a[CM_NET_ADDRSTRLEN];
        cm_net_format_addr((const struct sockaddr *)&pl->cand[0], a, sizeof(a));
        if (sb_add(c, &pl->host, a, strlen(a)))
            return GW_ENOMEM;
    }
    if (req_edits(c, &rt->req_hdrs) != 0 ||
        (rt->kind == DP_ROUTE_WEIGHTED && req_edits(c, &rc->req_hdrs) != 0))
        return GW_ENOMEM;
    {
        const struct dp_route_hdr_edits *e[2] = {&rt->resp_hdrs,
                                                 &rc->resp_hdrs};
        if (resp_edits(c, e, rt->kind == DP_ROUTE_WEIGHTED ? 2 : 1) != 0)
            return GW_ENOMEM;
    }
    return 0;
}

int dp_proxy__route(struct dp_proxy__conn *c)
{
    const struct dp_proxy_table *t = dp_proxy__table(c->w);
    const struct dp_proxy_lsn *l;
    const struct dp_route *rt;
    struct dp_router_req rq;

    memset(&c->plan, 0, sizeof(c->plan));
    c->sb_len = 0;
    if (t == NULL)
        return plan_local(c, 503, "no configuration\n", 17);
    if ((l = dp_proxy_table_lsn(t, c->lsn)) == NULL || l->router == NULL)
        return plan_local(c, 404, NULL, 0);
    router_req(c, &rq);
    if ((rt = dp_router_match(l->router, &rq)) == NULL)
        return plan_local(c, 404, NULL, 0);
    switch (rt->kind) {
    case DP_ROUTE_CLUSTER:
    case DP_ROUTE_WEIGHTED:
        return plan_forward(c, t, rt);
    case DP_ROUTE_REDIRECT:
        return plan_redirect(c, rt, &rq);
    case DP_ROUTE_DIRECT:
        return plan_local(c, rt->direct.status, rt->direct.body.ptr,
                          rt->direct.body.len);
    default:
        return plan_local(c, 404, NULL, 0);
    }
}

struct dp_proxy__lsn_want *
dp_proxy__table_listeners(const struct dp_proxy_table *t, size_t *n)
{
    struct dp_proxy__lsn_want *w;

    *n = 0;
    if (t->n_lsns == 0 || (w = calloc(t->n_lsns, sizeof(*w))) == NULL)
        return NULL;
    for (size_t i = 0; i < t->n_lsns; i++) {
        snprintf(w[i].name, sizeof(w[i].name), "%s", t->lsns[i].name);
        w[i].addr = t->lsns[i].addr;
    }
    *n = t->n_lsns;
    return w;
}
