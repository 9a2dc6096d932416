/*
 * proxy_report.c -- what the data node reports about its traffic and
 * upstreams (dp_proxy_report_new): per-router counters summed over the
 * workers, every endpoint of the current table with its health (active
 * checks, outlier ejection, EDS), and the listeners' addresses. Copies
 * everything, so a report outlives table swaps. Any thread (the admin's).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/proxy/proxy_int.h"
#include "dataplane/table/table.h"

static void addr_text(const struct dp_table_addr *a, char *out, size_t len)
{
    bool v6 = strchr(a->text, ':') != NULL;

    snprintf(out, len, "%s%s%s:%u", v6 ? "[" : "", a->text, v6 ? "]" : "",
             (unsigned)a->port);
}

static int add_listeners(const struct dp_table *t, struct dp_proxy_report *r)
{
    size_t n = dp_table_listener_count(t);

    if (n == 0)
        return 0;
    if ((r->listeners = calloc(n, sizeof(*r->listeners))) == NULL)
        return GW_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const struct dp_listener *l = dp_table_listener(t, i);
        struct dp_proxy_listener_stat *o = &r->listeners[r->n_listeners];
        if ((o->name = strdup(l->name)) == NULL)
            return GW_ENOMEM;
        addr_text(&l->addr, o->address, sizeof(o->address));
        r->n_listeners++;
    }
    return 0;
}

static size_t count_endpoints(const struct dp_table *t)
{
    size_t n = 0, k = dp_table_cluster_count(t);

    for (size_t i = 0; i < k; i++)
        n += dp_table_cluster_at(t, (int)i)->n_endpoints;
    return n;
}

static int add_endpoint(const struct dp_cluster *c, size_t i,
                        struct dp_proxy_report *r)
{
    const struct dp_endpoint *ep = &c->endpoints[i];
    struct dp_proxy_endpoint_stat *o = &r->endpoints[r->n_endpoints];
    struct dp_cluster_state *st = dp_cluster_state_of(c);

    if ((o->cluster = strdup(c->name)) == NULL ||
        (o->hostname = strdup(ep->hostname ? ep->hostname : "")) == NULL) {
        free(o->cluster);
        return GW_ENOMEM;
    }
    addr_text(&ep->addr, o->address, sizeof(o->address));
    o->healthy = ep->health != DP_EP_UNHEALTHY &&
                 (st == NULL || dp_cluster_state_eligible(st, i));
    o->checked = c->n_health_checks > 0 || c->outlier.enabled;
    r->n_endpoints++;
    return 0;
}

static int add_endpoints(const struct dp_table *t, struct dp_proxy_report *r)
{
    size_t n = count_endpoints(t), k = dp_table_cluster_count(t);

    if (n == 0)
        return 0;
    if ((r->endpoints = calloc(n, sizeof(*r->endpoints))) == NULL)
        return GW_ENOMEM;
    for (size_t c = 0; c < k; c++) {
        const struct dp_cluster *cl = dp_table_cluster_at(t, (int)c);
        for (size_t i = 0; i < cl->n_endpoints; i++)
            if (add_endpoint(cl, i, r) != 0)
                return GW_ENOMEM;
    }
    return 0;
}

static int with_table(const struct dp_table *t, void *arg)
{
    struct dp_proxy_report *r = arg;

    if (t == NULL)
        return 0;
    if (add_listeners(t, r) != 0 || add_endpoints(t, r) != 0)
        return GW_ENOMEM;
    return 0;
}

static int add_routers(struct dp_proxy *p, struct dp_proxy_report *r)
{
    struct dp_proxy__rstats **v = NULL;
    struct dp_proxy_router_stat *sum = NULL;
    size_t nv = dp_proxy__rstats_all(p, &v), n = 0;
    int rc = v == NULL ? GW_ENOMEM : 0;

    if (rc == 0)
        rc = dp_proxy__rstat_sum(v, nv, &sum, &n);
    free(v);
    if (rc != 0)
        return rc;
    /* names are the workers' (they live as long as <p>): copy them */
    for (size_t i = 0; i < n; i++)
        if ((sum[i].name = strdup(sum[i].name)) == NULL) {
            for (size_t j = 0; j < i; j++)
                free((char *)sum[j].name);
            free(sum);
            return GW_ENOMEM;
        }
    r->routers = sum;
    r->n_routers = n;
    return 0;
}

struct dp_proxy_report *dp_proxy_report_new(struct dp_proxy *p)
{
    struct dp_proxy_report *r = calloc(1, sizeof(*r));

    if (r == NULL)
        return NULL;
    if (add_routers(p, r) != 0 || dp_proxy_with_table(p, with_table, r) != 0) {
        dp_proxy_report_free(r);
        return NULL;
    }
    return r;
}

void dp_proxy_report_free(struct dp_proxy_report *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->n_routers; i++)
        free((char *)r->routers[i].name);
    for (size_t i = 0; i < r->n_endpoints; i++) {
        free(r->endpoints[i].cluster);
        free(r->endpoints[i].hostname);
    }
    for (size_t i = 0; i < r->n_listeners; i++)
        free(r->listeners[i].name);
    free(r->routers);
    free(r->endpoints);
    free(r->listeners);
    free(r);
}
