/*
 * metrics.c -- /metrics in the Prometheus text format: the HTTP server's
 * own counters, the cluster as the source sees it (nodes by role and
 * health, leader, revision, data nodes serving it), per-router traffic
 * counters, then the owner's own lines. Also the growable text buffer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controlplane/http/http-int.h"

/* ==== text buffer ==== */

static bool text_reserve(struct cp_http_text *t, size_t more)
{
    size_t cap;
    char *p;

    if (t->oom)
        return false;
    if (t->len + more + 1 <= t->cap)
        return true;
    cap = (t->cap + more + 1) * 2;
    if ((p = realloc(t->p, cap)) == NULL) {
        t->oom = true;
        return false;
    }
    t->p = p;
    t->cap = cap;
    return true;
}

void cp_http__text_add(struct cp_http_text *t, const char *s, size_t n)
{
    if (!text_reserve(t, n))
        return;
    memcpy(t->p + t->len, s, n);
    t->len += n;
    t->p[t->len] = '\0';
}

void cp_http__text_vprintf(struct cp_http_text *t, const char *fmt, va_list ap)
{
    va_list cp;
    int n;

    va_copy(cp, ap);
    n = vsnprintf(NULL, 0, fmt, cp);
    va_end(cp);
    if (n < 0 || !text_reserve(t, (size_t)n))
        return;
    vsnprintf(t->p + t->len, (size_t)n + 1, fmt, ap);
    t->len += (size_t)n;
}

void cp_http_text_printf(struct cp_http_text *t, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    cp_http__text_vprintf(t, fmt, ap);
    va_end(ap);
}

/* ==== metrics ==== */

static void head(struct cp_http_text *t, const char *name, const char *type,
                 const char *help)
{
    cp_http_text_printf(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name,
                        type);
}

/* A label value with \, " and newline escaped. */
static void label(struct cp_http_text *t, const char *v)
{
    for (; v && *v; v++) {
        if (*v == '\\' || *v == '"')
            cp_http_text_printf(t, "\\%c", *v);
        else if (*v == '\n')
            cp_http__text_add(t, "\\n", 2);
        else
            cp_http__text_add(t, v, 1);
    }
}

static void http_metrics(struct cp_http_text *t,
                         const struct cp_http__stats *st)
{
    head(t, "controlplane_http_responses_total", "counter",
         "Responses of the dashboard/API server, by status class.");
    for (int k = 1; k <= 5; k++)
        cp_http_text_printf(t,
                            "controlplane_http_responses_total{code=\"%dxx\"} "
                            "%llu\n",
                            k, (unsigned long long)st->responses[k]);
    head(t, "controlplane_http_connections", "gauge",
         "Open connections to the dashboard/API server.");
    cp_http_text_printf(t, "controlplane_http_connections %u\n", st->conns);
    head(t, "controlplane_http_event_clients", "gauge",
         "Clients of the /api/events stream.");
    cp_http_text_printf(t, "controlplane_http_event_clients %u\n",
                        st->sse_clients);
    head(t, "controlplane_http_events_total", "counter",
         "Events published to the /api/events stream.");
    cp_http_text_printf(t, "controlplane_http_events_total %llu\n",
                        (unsigned long long)st->events);
    head(t, "controlplane_http_logins_total", "counter",
         "Dashboard password checks, by result.");
    cp_http_text_printf(t,
                        "controlplane_http_logins_total{result=\"ok\"} %llu\n"
                        "controlplane_http_logins_total{result=\"failed\"} "
                        "%llu\n",
                        (unsigned long long)st->logins_ok,
                        (unsigned long long)st->logins_failed);
}

static void cluster_metrics(struct cp_http_text *t,
                            const struct cp_http_source *src)
{
    const struct cp_http_node *nodes = NULL;
    size_t nn = src->nodes(src->arg, &nodes), serving, total;
    uint64_t rev = 0;
    unsigned c[2][2] = {{0}};

    src->config(src->arg, &rev);
    for (size_t i = 0; i < nn; i++) {
        int d = nodes[i].role && strcmp(nodes[i].role, CP_HTTP_ROLE_DATA) == 0;
        c[d][nodes[i].healthy ? 1 : 0]++;
    }
    head(t, "controlplane_cluster_nodes", "gauge",
         "Nodes of the cluster by role and health.");
    for (int d = 0; d < 2; d++)
        for (int h = 0; h < 2; h++)
            cp_http_text_printf(
                t,
                "controlplane_cluster_nodes{role=\"%s\",healthy=\"%s\"} %u\n",
                d ? CP_HTTP_ROLE_DATA : CP_HTTP_ROLE_CONTROL,
                h ? "true" : "false", c[d][h]);
    head(t, "controlplane_cluster_leader", "gauge",
         "1 for the control node holding the leader lease.");
    for (size_t i = 0; i < nn; i++) {
        if (!nodes[i].leader)
            continue;
        cp_http__text_add(t, "controlplane_cluster_leader{node=\"", 34);
        label(t, nodes[i].name);
        cp_http__text_add(t, "\"} 1\n", 5);
    }
    head(t, "controlplane_config_revision", "gauge",
         "The configuration revision this control node serves.");
    cp_http_text_printf(t, "controlplane_config_revision %llu\n",
                        (unsigned long long)rev);
    cp_http__api_served(nodes, nn, rev, &serving, &total);
    head(t, "controlplane_data_nodes_serving_current", "gauge",
         "Healthy data nodes that acknowledged the current revision.");
    cp_http_text_printf(t, "controlplane_data_nodes_serving_current %zu\n",
                        serving);
}

static void router_metrics(struct cp_http_text *t,
                           const struct cp_http_source *src)
{
    const struct cp_http_router_traffic *tr = NULL;
    size_t n;
    static const char *const names[3][2] = {
        {"controlplane_router_requests_total",
         "Requests answered through the router, all data nodes."},
        {"controlplane_router_errors_total",
         "5xx responses through the router, all data nodes."},
        {"controlplane_router_latency_seconds_sum",
         "Sum of response latencies through the router."}};

    if (src->traffic == NULL)
        return;
    n = src->traffic(src->arg, &tr);
    for (int m = 0; m < 3; m++) {
        head(t, names[m][0], "counter", names[m][1]);
        for (size_t i = 0; i < n; i++) {
            cp_http_text_printf(t, "%s{router=\"", names[m][0]);
            label(t, tr[i].router);
            if (m == 0)
                cp_http_text_printf(t, "\"} %llu\n",
                                    (unsigned long long)tr[i].requests);
            else if (m == 1)
                cp_http_text_printf(t, "\"} %llu\n",
                                    (unsigned long long)tr[i].errors);
            else
                cp_http_text_printf(t, "\"} %.6f\n",
                                    (double)tr[i].latency_us / 1e6);
        }
    }
}

void cp_http__metrics(struct cp_http_text *t, const struct cp_http__stats *st,
                      const struct cp_http_source *src)
{
    http_metrics(t, st);
    cluster_metrics(t, src);
    router_metrics(t, src);
    if (src->metrics != NULL)
        src->metrics(src->arg, t);
}
