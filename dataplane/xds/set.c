/*
 * set.c -- the resources the client holds (per type, sorted by name, with
 * the version accepted per type) and what an update does to them: upserts,
 * removals, SotW replacement, make-before-break (clusters still routed to
 * stay as "zombies"; a route to an unknown cluster is detected so the update
 * can be held), subscriptions derived from listeners and clusters, and the
 * view handed to the table builder. Client thread or tests.
 */
#include <stdlib.h>
#include <string.h>

#include "dataplane/xds/xds.h"
#include "dataplane/xds/xds_int.h"
#include "envoy/config/listener/v3/listener.pb-c.h"

void dp_xds__set_init(struct dp_xds__set *s)
{
    memset(s, 0, sizeof(*s));
}

void dp_xds__set_deinit(struct dp_xds__set *s)
{
    for (int t = 0; t < DP_XDS_TYPE_COUNT; t++) {
        for (size_t i = 0; i < s->n[t]; i++)
            dp_xds__res_unref(s->v[t][i]);
        free(s->v[t]);
        free(s->version[t]);
    }
    cm_strset_deinit(&s->zombies);
    memset(s, 0, sizeof(*s));
}

int dp_xds__set_copy(struct dp_xds__set *dst, const struct dp_xds__set *src)
{
    dp_xds__set_init(dst);
    for (int t = 0; t < DP_XDS_TYPE_COUNT; t++) {
        size_t n = src->n[t];
        dst->v[t] = calloc(n ? n : 1, sizeof(*dst->v[t]));
        if (dst->v[t] == NULL)
            goto fail;
        for (size_t i = 0; i < n; i++)
            dst->v[t][i] = dp_xds__res_ref(src->v[t][i]);
        dst->cap[t] = n ? n : 1;
        dst->n[t] = n;
        if (src->version[t] != NULL &&
            (dst->version[t] = strdup(src->version[t])) == NULL)
            goto fail;
    }
    if (cm_strset_copy(&dst->zombies, &src->zombies) != 0)
        goto fail;
    return GW_OK;
fail:
    dp_xds__set_deinit(dst);
    return GW_ENOMEM;
}

static size_t set_pos(const struct dp_xds__set *s, enum dp_xds_type t,
                      const char *name, bool *found)
{
    size_t lo = 0, hi = s->n[t];
    *found = false;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(s->v[t][mid]->name, name);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

struct dp_xds__res *dp_xds__set_find(const struct dp_xds__set *s,
                                     enum dp_xds_type t, const char *name)
{
    bool found;
    size_t at = set_pos(s, t, name, &found);
    return found ? s->v[t][at] : NULL;
}

static bool listener_warm(const struct dp_xds__set *s,
                          const struct dp_xds__res *l);

int dp_xds__set_put(struct dp_xds__set *s, struct dp_xds__res *r)
{
    enum dp_xds_type t = r->type;
    bool found;
    size_t at = set_pos(s, t, r->name, &found);
    if (found) {
        struct dp_xds__res *old = s->v[t][at];
        if (t == DP_XDS_LISTENER && old != r) {
            /* keep the last warm version to serve while <r> warms */
            struct dp_xds__res *keep = listener_warm(s, old) ? old : old->prev;
            dp_xds__res_unref(r->prev);
            r->prev = keep != NULL ? dp_xds__res_ref(keep) : NULL;
        }
        dp_xds__res_unref(old);
        s->v[t][at] = r;
        return GW_OK;
    }
    if (s->n[t] == s->cap[t]) {
        size_t cap = s->cap[t] ? s->cap[t] * 2 : 8;
        struct dp_xds__res **v = realloc(s->v[t], cap * sizeof(*v));
        if (v == NULL) {
            dp_xds__res_unref(r);
            return GW_ENOMEM;
        }
        s->v[t] = v;
        s->cap[t] = cap;
    }
    memmove(&s->v[t][at + 1], &s->v[t][at], (s->n[t] - at) * sizeof(*s->v[t]));
    s->v[t][at] = r;
    s->n[t]++;
    return GW_OK;
}

void dp_xds__set_del(struct dp_xds__set *s, enum dp_xds_type t,
                     const char *name)
{
    bool found;
    size_t at = set_pos(s, t, name, &found);
    if (!found)
        return;
    dp_xds__res_unref(s->v[t][at]);
    memmove(&s->v[t][at], &s->v[t][at + 1],
            (s->n[t] - at - 1) * sizeof(*s->v[t]));
    s->n[t]--;
}

int dp_xds__set_version(struct dp_xds__set *s, enum dp_xds_type t,
                        const char *v)
{
    char *copy = strdup(v ? v : "");
    if (copy == NULL)
        return GW_ENOMEM;
    free(s->version[t]);
    s->version[t] = copy;
    return GW_OK;
}

/* ==== subscriptions and references ==== */

/* An API listener (proxyless gRPC clients): the data node does not serve it
 * (the table skips it), so the routes it names are not fetched. */
static bool api_listener(const struct dp_xds__res *r)
{
    const Envoy__Config__Listener__V3__Listener *l = (const void *)r->msg;
    return r->type == DP_XDS_LISTENER && l != NULL && l->api_listener != NULL;
}

int dp_xds__set_subs(const struct dp_xds__set *s, enum dp_xds_type t,
                     struct cm_strset *out)
{
    cm_strset_clear(out);
    enum dp_xds_type from;
    if (t == DP_XDS_SECRET || t == DP_XDS_ROUTE) {
        /* a warming listener's names, and those of the version it serves */
        for (size_t i = 0; i < s->n[DP_XDS_LISTENER]; i++) {
            const struct dp_xds__res *r = s->v[DP_XDS_LISTENER][i];
            if (api_listener(r))
                continue;
            for (int k = 0; k < 2 && r != NULL; k++) {
                const struct cm_strset *l =
                    t == DP_XDS_SECRET ? &r->secrets : &r->subs;
                for (size_t j = 0; j < l->n; j++)
                    if (cm_strset_add(out, l->v[j]) != 0)
                        return GW_ENOMEM;
                r = listener_warm(s, r) ? NULL : r->prev;
            }
        }
        return GW_OK;
    }
    if (t == DP_XDS_ROUTE)
        from = DP_XDS_LISTENER;
    else if (t == DP_XDS_ENDPOINT)
        from = DP_XDS_CLUSTER;
    else
        return GW_OK;
    for (size_t i = 0; i < s->n[from]; i++) {
        const struct cm_strset *l = &s->v[from][i]->subs;
        for (size_t j = 0; j < l->n; j++)
            if (cm_strset_add(out, l->v[j]) != 0)
                return GW_ENOMEM;
    }
    return GW_OK;
}

/* Is cluster <name> routed to by a route configuration in the set or by a
 * listener's inline one? */
static bool cluster_referenced(const struct dp_xds__set *s, const char *name)
{
    static const enum dp_xds_type from[] = {DP_XDS_ROUTE, DP_XDS_LISTENER};
    for (size_t k = 0; k < 2; k++)
        for (size_t i = 0; i < s->n[from[k]]; i++)
            if (cm_strset_has(&s->v[from[k]][i]->clusters, name))
                return true;
    return false;
}

int dp_xds__set_check_clusters(const struct dp_xds__set *s, char *err,
                               size_t len)
{
    static const enum dp_xds_type from[] = {DP_XDS_ROUTE, DP_XDS_LISTENER};
    static const char *const what[] = {"route_config", "listener"};
    for (size_t k = 0; k < 2; k++) {
        for (size_t i = 0; i < s->n[from[k]]; i++) {
            const struct dp_xds__res *r = s->v[from[k]][i];
            for (size_t j = 0; j < r->clusters.n; j++)
                if (dp_xds__set_find(s, DP_XDS_CLUSTER, r->clusters.v[j]) ==
                    NULL)
                    return cm_err_set(err, len, GW_ENOENT,
                                      "%s \"%s\" references unknown cluster "
                                      "\"%s\"",
                                      what[k], r->name, r->clusters.v[j]);
        }
    }
    return GW_OK;
}

/* Removes every resource of <t> whose name is not in <keep>. */
static void set_keep_only(struct dp_xds__set *s, enum dp_xds_type t,
                          const struct cm_strset *keep)
{
    size_t j = 0;
    for (size_t i = 0; i < s->n[t]; i++) {
        if (cm_strset_has(keep, s->v[t][i]->name))
            s->v[t][j++] = s->v[t][i];
        else
            dp_xds__res_unref(s->v[t][i]);
    }
    s->n[t] = j;
}

int dp_xds__set_gc(struct dp_xds__set *s)
{
    for (size_t i = 0; i < s->zombies.n;) {
        const char *z = s->zombies.v[i];
        if (cluster_referenced(s, z)) {
            i++;
            continue;
        }
        dp_xds__set_del(s, DP_XDS_CLUSTER, z);
        cm_strset_del(&s->zombies, z);
    }
    struct cm_strset keep = {0};
    int rc = dp_xds__set_subs(s, DP_XDS_ROUTE, &keep);
    if (rc == 0)
        set_keep_only(s, DP_XDS_ROUTE, &keep);
    if (rc == 0)
        rc = dp_xds__set_subs(s, DP_XDS_ENDPOINT, &keep);
    if (rc == 0)
        set_keep_only(s, DP_XDS_ENDPOINT, &keep);
    if (rc == 0)
        rc = dp_xds__set_subs(s, DP_XDS_SECRET, &keep);
    if (rc == 0)
        set_keep_only(s, DP_XDS_SECRET, &keep);
    cm_strset_deinit(&keep);
    return rc;
}

/* ==== applying an update ==== */

/* Removes resource <name> of <t>; a cluster still routed to stays. */
static int set_remove(struct dp_xds__set *s, enum dp_xds_type t,
                      const char *name)
{
    if (dp_xds__set_find(s, t, name) == NULL)
        return GW_OK;
    if (t == DP_XDS_CLUSTER && cluster_referenced(s, name))
        return cm_strset_add(&s->zombies, name);
    dp_xds__set_del(s, t, name);
    return GW_OK;
}

/* SotW LDS/CDS: whatever the response does not name goes. */
static int set_replace_rest(struct dp_xds__set *s,
                            const struct dp_xds__update *u)
{
    struct cm_strset keep = {0}, gone = {0};
    int rc = GW_OK;
    for (size_t i = 0; rc == 0 && i < u->n_upsert; i++)
        rc = cm_strset_add(&keep, u->upsert[i]->name);
    for (size_t i = 0; rc == 0 && i < s->n[u->type]; i++)
        if (!cm_strset_has(&keep, s->v[u->type][i]->name))
            rc = cm_strset_add(&gone, s->v[u->type][i]->name);
    for (size_t i = 0; rc == 0 && i < gone.n; i++)
        rc = set_remove(s, u->type, gone.v[i]);
    cm_strset_deinit(&keep);
    cm_strset_deinit(&gone);
    return rc;
}

int dp_xds__set_apply(struct dp_xds__set *s, const struct dp_xds__update *u)
{
    int rc = GW_OK;
    for (size_t i = 0; rc == 0 && i < u->n_upsert; i++) {
        struct dp_xds__res *r = u->upsert[i];
        if (u->type == DP_XDS_CLUSTER)
            cm_strset_del(&s->zombies, r->name);
        rc = dp_xds__set_put(s, dp_xds__res_ref(r));
    }
    if (rc == 0 && u->full)
        rc = set_replace_rest(s, u);
    for (size_t i = 0; rc == 0 && i < u->n_remove; i++)
        rc = set_remove(s, u->type, u->remove[i]);
    if (rc == 0)
        rc = dp_xds__set_version(s, u->type, u->version);
    if (rc == 0)
        rc = dp_xds__set_gc(s);
    return rc;
}

/* ==== the builder's view ==== */

static bool listener_warm(const struct dp_xds__set *s,
                          const struct dp_xds__res *l)
{
    for (size_t j = 0; j < l->subs.n; j++)
        if (dp_xds__set_find(s, DP_XDS_ROUTE, l->subs.v[j]) == NULL)
            return false;
    for (size_t j = 0; j < l->secrets.n; j++)
        if (dp_xds__set_find(s, DP_XDS_SECRET, l->secrets.v[j]) == NULL)
            return false;
    return true;
}

int dp_xds__set_resources(const struct dp_xds__set *s,
                          struct dp_xds_resources *out, void **storage)
{
    size_t total = 0;
    for (int t = 0; t < DP_XDS_TYPE_COUNT; t++)
        total += s->n[t];
    ProtobufCMessage **all = calloc(total ? total : 1, sizeof(*all));
    if (all == NULL)
        return GW_ENOMEM;
    ProtobufCMessage **p = all, **start[DP_XDS_TYPE_COUNT];
    size_t n[DP_XDS_TYPE_COUNT];
    for (int t = 0; t < DP_XDS_TYPE_COUNT; t++) {
        start[t] = p;
        for (size_t i = 0; i < s->n[t]; i++) {
            const struct dp_xds__res *r = s->v[t][i];
            if (t == DP_XDS_LISTENER && !listener_warm(s, r))
                r = r->prev != NULL && listener_warm(s, r->prev) ? r->prev
                                                                 : NULL;
            if (r != NULL)
                *p++ = r->msg;
        }
        n[t] = (size_t)(p - start[t]);
    }
    memset(out, 0, sizeof(*out));
    out->clusters = (const void *)start[DP_XDS_CLUSTER];
    out->n_clusters = n[DP_XDS_CLUSTER];
    out->endpoints = (const void *)start[DP_XDS_ENDPOINT];
    out->n_endpoints = n[DP_XDS_ENDPOINT];
    out->listeners = (const void *)start[DP_XDS_LISTENER];
    out->n_listeners = n[DP_XDS_LISTENER];
    out->routes = (const void *)start[DP_XDS_ROUTE];
    out->n_routes = n[DP_XDS_ROUTE];
    out->secrets = (const void *)start[DP_XDS_SECRET];
    out->n_secrets = n[DP_XDS_SECRET];
    *storage = all;
    return GW_OK;
}
