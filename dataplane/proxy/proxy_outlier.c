/*
 * proxy_outlier.c -- passive health: each worker counts consecutive
 * failures (connect failures, resets, response timeouts, 5xx) per endpoint
 * of clusters that configure outlier_detection, and ejects an endpoint
 * (dp_cluster_state_set_ejected) for base_ejection_time once it reaches
 * consecutive_5xx; a timer lifts the ejection. The entries hold a reference
 * to the cluster state, so they survive table swaps. Runs on the worker.
 */
#include <string.h>

#include "common/log/log.h"
#include "dataplane/proxy/proxy_int.h"
#include "dataplane/table/table.h"

static struct dp_proxy__ol *ol_find(struct dp_proxy__worker *w,
                                    const struct dp_cluster_state *st,
                                    uint32_t ep)
{
    for (size_t i = 0; i < w->n_ol; i++)
        if (w->ol[i].st == st && w->ol[i].ep == ep)
            return &w->ol[i];
    return NULL;
}

/* Removes entry <e>: lifts its ejection, drops its reference. */
static void ol_remove(struct dp_proxy__worker *w, struct dp_proxy__ol *e)
{
    if (e->until != 0)
        dp_cluster_state_set_ejected(e->st, e->ep, false);
    dp_cluster_state_unref(e->st);
    *e = w->ol[--w->n_ol];
}

static size_t ol_ejected(const struct dp_proxy__worker *w,
                         const struct dp_cluster_state *st)
{
    size_t n = 0;

    for (size_t i = 0; i < w->n_ol; i++)
        n += w->ol[i].st == st && w->ol[i].until != 0;
    return n;
}

/* Makes room: drops one entry that is only counting. */
static bool ol_evict(struct dp_proxy__worker *w)
{
    for (size_t i = 0; i < w->n_ol; i++)
        if (w->ol[i].until == 0) {
            ol_remove(w, &w->ol[i]);
            return true;
        }
    return false;
}

static void ol_tick(uv_timer_t *t)
{
    struct dp_proxy__worker *w = t->data;
    uint64_t now = uv_now(&w->w.loop);
    bool any = false;

    for (size_t i = 0; i < w->n_ol;) {
        struct dp_proxy__ol *e = &w->ol[i];
        if (e->until != 0 && e->until <= now) {
            cm_log_info("proxy", "outlier_restored", "worker=%d endpoint=%u",
                        w->w.id, e->ep);
            ol_remove(w, e); /* moves the last entry to i */
            continue;
        }
        any = any || e->until != 0;
        i++;
    }
    if (!any)
        uv_timer_stop(t);
}

/* Ejects <e> unless max_ejection_percent forbids it (one host always may). */
static void ol_eject(struct dp_proxy__worker *w, struct dp_proxy__ol *e,
                     const struct dp_proxy__plan *pl)
{
    size_t cap = (size_t)pl->n_eps * pl->outlier.max_ejection_percent / 100;

    if (ol_ejected(w, e->st) >= (cap > 0 ? cap : 1))
        return;
    e->until = uv_now(&w->w.loop) + pl->outlier.base_ejection_time_ms;
    dp_cluster_state_set_ejected(e->st, e->ep, true);
    DP_PROXY__INC(w, ejections, 1);
    cm_log_warn("proxy", "outlier_ejected",
                "worker=%d endpoint=%u failures=%u for_ms=%llu", w->w.id, e->ep,
                e->fails,
                (unsigned long long)pl->outlier.base_ejection_time_ms);
    if (!uv_is_active((uv_handle_t *)&w->ol_timer))
        uv_timer_start(&w->ol_timer, ol_tick, DP_PROXY__OL_TICK,
                       DP_PROXY__OL_TICK);
}

void dp_proxy__outlier_report(struct dp_proxy__conn *c, uint32_t k, bool ok)
{
    struct dp_proxy__worker *w = c->w;
    const struct dp_proxy__plan *pl = &c->x->plan;
    struct dp_proxy__ol *e;
    uint32_t ep;

    if (pl->st == NULL || !pl->outlier.enabled ||
        pl->outlier.consecutive_5xx == 0 || k >= pl->n_cand)
        return;
    ep = pl->cand_ep[k];
    e = ol_find(w, pl->st, ep);
    if (ok) {
        if (e != NULL && e->until == 0)
            ol_remove(w, e);
        return;
    }
    if (e == NULL) {
        if (w->n_ol == DP_PROXY__OL_MAX && !ol_evict(w))
            return; /* all ejected: this failure goes uncounted */
        e = &w->ol[w->n_ol++];
        *e = (struct dp_proxy__ol){pl->st, ep, 0, 0};
        dp_cluster_state_ref(pl->st);
    }
    if (e->until != 0)
        return; /* already ejected (panic mode picked it) */
    if (++e->fails >= pl->outlier.consecutive_5xx)
        ol_eject(w, e, pl);
}

void dp_proxy__outlier_clear(struct dp_proxy__worker *w)
{
    while (w->n_ol > 0)
        ol_remove(w, &w->ol[w->n_ol - 1]);
    uv_timer_stop(&w->ol_timer);
}
