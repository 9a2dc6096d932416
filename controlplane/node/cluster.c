/*
 * cluster.c -- the HTTP server's view of the whole cluster, built from the
 * store so that every control node shows the same thing: nodes from the
 * heartbeats (a node whose heartbeat expired stays listed as unhealthy for
 * a while), kept revisions with their metadata, the served configuration
 * as JSON (cached per revision), the events the dashboard logs ("node",
 * "leader", "revision", "ack", "nack"), and the data nodes' traffic per
 * router (summed) and upstream health, from the /stats digests their
 * heartbeats carry (scrape.c). Not the HTTP server itself
 * (controlplane/http). Loop thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "common/config/config.h"
#include "common/log/log.h"
#include "controlplane/node/node_int.h"

/* How long a node whose heartbeat expired stays in the view. */
#define GONE_KEEP_MS (10 * 60 * 1000)

#define ADDR_LEN 300
#define TEXT_LEN 512

/* One node as last seen; the public struct is rebuilt from these. */
struct vnode {
    char name[CP_STORE_ID_LEN];
    char role[8]; /* CP_HTTP_ROLE_* */
    char address[ADDR_LEN];
    char http[ADDR_LEN];
    char nack[TEXT_LEN];
    bool healthy, present;
    uint64_t revision, nack_rev;
    int64_t last_seen_ms, gone_ms;
};

/* Metadata of one revision (mgmt writes it as a "revision" heartbeat). */
struct vmeta {
    uint64_t rev;
    int64_t ts;
    char source[TEXT_LEN];
    char summary[TEXT_LEN];
};

struct cp_node__view {
    struct vnode *nodes;
    size_t n_nodes;
    struct cp_http_node *pub; /* n_nodes entries, into <nodes> */
    struct vmeta *metas;
    size_t n_metas;
    struct cp_http_revision *revs; /* newest first, into <rev_meta> */
    struct vmeta *rev_meta;
    size_t n_revs;
    bool listing_revs, revs_again, listed_once;
    char *config_json; /* cm_config_to_json() of the served model */
    uint64_t config_rev;
    /* traffic: each data node's last router counters ({id: {router:
     * [req, err, lat]}}), their sum, and the array over the sum's keys */
    json_t *node_routers;
    json_t *routers;
    struct cp_http_router_traffic *traffic;
    size_t n_traffic;
    /* upstream health: {"cluster\naddress": 0/1} over fresh digests */
    json_t *ep_health;
    bool have_stats;              /* some data node reported a digest */
    struct cp_http_endpoint *eps; /* the last endpoints() answer */
};

static int64_t wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void copy(char *dst, size_t len, const char *src)
{
    snprintf(dst, len, "%s", src != NULL ? src : "");
}

static const char *jstr(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s != NULL ? s : "";
}

static uint64_t jnum(json_t *o, const char *key)
{
    json_int_t v = json_integer_value(json_object_get(o, key));
    return v > 0 ? (uint64_t)v : 0;
}

/* ==== events ==== */

/* Publishes <type> with the JSON of <j> (taken). */
static void publish(struct cp_node *n, const char *type, json_t *j)
{
    char *text = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;

    if (text != NULL && n->http != NULL)
        cp_http_publish_event(n->http, type, text);
    free(text);
    json_decref(j);
}

/* Publishes what changed between <old> and <cur> of one node; returns
 * true if anything did. <old> NULL: the node is new. */
static bool node_events(struct cp_node *n, const struct vnode *old,
                        const struct vnode *cur, bool quiet)
{
    bool data = strcmp(cur->role, CP_HTTP_ROLE_DATA) == 0;
    bool changed = old == NULL || old->healthy != cur->healthy ||
                   old->revision != cur->revision ||
                   old->nack_rev != cur->nack_rev ||
                   strcmp(old->nack, cur->nack) != 0 ||
                   strcmp(old->address, cur->address) != 0 ||
                   strcmp(old->http, cur->http) != 0;

    if (quiet)
        return changed;
    if (old == NULL ? cur->healthy : old->healthy != cur->healthy)
        publish(n, "node",
                json_pack("{s:s, s:s, s:b, s:b}", "node", cur->name, "role",
                          cur->role, "healthy", cur->healthy, "joined",
                          old == NULL)); /* first sight, not a recovery */
    if (data && cur->revision > 0 &&
        (old == NULL || old->revision != cur->revision))
        publish(n, "ack",
                json_pack("{s:s, s:I}", "node", cur->name, "revision",
                          (json_int_t)cur->revision));
    if (data && cur->nack[0] != '\0' &&
        (old == NULL || old->nack_rev != cur->nack_rev ||
         strcmp(old->nack, cur->nack) != 0))
        publish(n, "nack",
                json_pack("{s:s, s:I, s:s}", "node", cur->name, "revision",
                          (json_int_t)cur->nack_rev, "error", cur->nack));
    return changed;
}

/* ==== nodes ==== */

static void rebuild_pub(struct cp_node__view *v, const char *leader)
{
    for (size_t i = 0; i < v->n_nodes; i++) {
        const struct vnode *x = &v->nodes[i];
        struct cp_http_node *p = &v->pub[i];
        bool control = strcmp(x->role, CP_HTTP_ROLE_CONTROL) == 0;

        memset(p, 0, sizeof(*p));
        p->name = x->name;
        p->role = control ? CP_HTTP_ROLE_CONTROL : CP_HTTP_ROLE_DATA;
        p->leader = control && x->present && leader != NULL &&
                    strcmp(leader, x->name) == 0;
        p->healthy = x->healthy;
        p->address = x->address;
        p->http_address = x->http[0] != '\0' ? x->http : NULL;
        p->revision = x->revision;
        p->nack_revision = x->nack[0] != '\0' ? x->nack_rev : 0;
        p->nack_error = x->nack[0] != '\0' ? x->nack : NULL;
        p->last_seen_ms = x->last_seen_ms;
    }
}

static struct vnode *find_node(struct cp_node__view *v, const char *role,
                               const char *name)
{
    for (size_t i = 0; i < v->n_nodes; i++)
        if (strcmp(v->nodes[i].name, name) == 0 &&
            strcmp(v->nodes[i].role, role) == 0)
            return &v->nodes[i];
    return NULL;
}

/* A data node's entry point addresses, "a, b", as its HTTP address. */
static void entry_points(struct vnode *x, json_t *entry)
{
    size_t i, len = 0;
    json_t *a;

    x->http[0] = '\0';
    json_array_foreach(entry, i, a)
    {
        const char *s = json_string_value(a);
        int w;
        if (s == NULL || len >= sizeof(x->http))
            continue;
        w = snprintf(x->http + len, sizeof(x->http) - len, "%s%s",
                     len > 0 ? ", " : "", s);
        if (w > 0)
            len += (size_t)w;
    }
}

/* Fills <x> from one heartbeat (control or data). */
static void fill_node(struct vnode *x, const struct cp_store_node *hb,
                      json_t *info, int64_t now)
{
    const char *addr;

    copy(x->name, sizeof(x->name), hb->id);
    copy(x->role, sizeof(x->role), hb->role);
    x->last_seen_ms = (int64_t)jnum(info, "ts");
    x->healthy =
        x->last_seen_ms > 0 && now - x->last_seen_ms < CP_NODE__HEALTHY_MS;
    x->revision = jnum(info, "revision");
    x->present = true;
    x->gone_ms = 0;
    if (strcmp(hb->role, CP_MGMT_ROLE_CONTROL) == 0) {
        copy(x->address, sizeof(x->address), jstr(info, "grpc"));
        copy(x->http, sizeof(x->http), jstr(info, "http"));
        return;
    }
    addr = jstr(info, "admin"); /* its admin server, as scraped */
    if (*addr == '\0')
        addr = jstr(info, "peer"); /* else where its xDS stream comes from */
    if (strncmp(addr, "ipv4:", 5) == 0 || strncmp(addr, "ipv6:", 5) == 0)
        addr += 5;
    copy(x->address, sizeof(x->address), addr);
    entry_points(x, json_object_get(json_object_get(info, "stats"), "entry"));
    copy(x->nack, sizeof(x->nack), jstr(info, "nack"));
    x->nack_rev = jnum(info, "nack_rev");
}

/* Takes in the listed control and data nodes: <next> gets the merged set
 * (listed ones, then remembered ones gone for less than GONE_KEEP_MS).
 * Returns the count, or -1 on no memory. */
static long merge_nodes(struct cp_node *n, const struct cp_store_node *hb,
                        size_t count, struct vnode *next, bool *changed)
{
    struct cp_node__view *v = n->view;
    int64_t now = wall_ms();
    size_t k = 0;

    for (size_t i = 0; i < count; i++) {
        json_t *info;
        struct vnode *old;
        if (strcmp(hb[i].role, CP_MGMT_ROLE_CONTROL) != 0 &&
            strcmp(hb[i].role, CP_MGMT_ROLE_DATA) != 0)
            continue;
        info = json_loads(hb[i].info, 0, NULL);
        fill_node(&next[k], &hb[i], info, now);
        json_decref(info);
        old = find_node(v, next[k].role, next[k].name);
        if (old != NULL && next[k].http[0] == '\0') /* no digest this time */
            copy(next[k].http, sizeof(next[k].http), old->http);
        *changed |= node_events(n, old, &next[k], !v->listed_once);
        k++;
    }
    for (size_t i = 0; i < v->n_nodes; i++) {
        struct vnode x = v->nodes[i];
        bool listed = false;
        for (size_t j = 0; j < k && !listed; j++)
            listed = strcmp(next[j].name, x.name) == 0 &&
                     strcmp(next[j].role, x.role) == 0;
        if (listed)
            continue;
        if (x.present) { /* its heartbeat just expired */
            x.present = false;
            x.gone_ms = now;
            x.healthy = false;
            node_events(n, &v->nodes[i], &x, false);
            *changed = true;
        }
        if (now - x.gone_ms < GONE_KEEP_MS)
            next[k++] = x;
        else
            *changed = true;
    }
    return (long)k;
}

/* ==== traffic and upstream health ==== */

/* Adds the counters of <routers> ({name: [req, err, lat]}) to <sum>. */
static void add_routers(json_t *sum, json_t *routers)
{
    const char *name;
    json_t *c, *acc;

    json_object_foreach(routers, name, c)
    {
        if (!json_is_array(c) || json_array_size(c) != 3)
            continue;
        if ((acc = json_object_get(sum, name)) == NULL) {
            acc = json_pack("[I,I,I]", (json_int_t)0, (json_int_t)0,
                            (json_int_t)0);
            if (json_object_set_new(sum, name, acc) != 0)
                continue;
        }
        for (size_t k = 0; k < 3; k++) {
            json_int_t a = json_integer_value(json_array_get(acc, k));
            json_int_t b = json_integer_value(json_array_get(c, k));
            json_array_set_new(acc, k, json_integer(a + (b > 0 ? b : 0)));
        }
    }
}

/* Notes the endpoint health of one digest into <map> (down wins). */
static void add_health(json_t *map, json_t *eps)
{
    size_t i;
    json_t *e;
    char key[2 * CP_NODE__SCRAPE_NAME_MAX + 2];

    json_array_foreach(eps, i, e)
    {
        const char *c = json_string_value(json_array_get(e, 0));
        const char *a = json_string_value(json_array_get(e, 1));
        json_int_t h = json_integer_value(json_array_get(e, 2));
        json_int_t prev;
        if (c == NULL || a == NULL)
            continue;
        snprintf(key, sizeof(key), "%s\n%s", c, a);
        prev = json_integer_value(json_object_get(map, key));
        if (json_object_get(map, key) == NULL || prev > (h != 0))
            json_object_set_new(map, key, json_integer(h != 0));
    }
}

/* Rebuilds v->traffic over the keys of v->routers. */
static void traffic_array(struct cp_node__view *v)
{
    size_t n = json_object_size(v->routers), k = 0;
    struct cp_http_router_traffic *t = calloc(n + 1, sizeof(*t));
    const char *name;
    json_t *c;

    if (t == NULL)
        return;
    json_object_foreach(v->routers, name, c)
    {
        t[k].router = name;
        t[k].requests = (uint64_t)json_integer_value(json_array_get(c, 0));
        t[k].errors = (uint64_t)json_integer_value(json_array_get(c, 1));
        t[k].latency_us = (uint64_t)json_integer_value(json_array_get(c, 2));
        k++;
    }
    free(v->traffic);
    v->traffic = t;
    v->n_traffic = k;
}

/* Sums the routers of the listed data nodes (a node whose digest is
 * missing this time counts with its last one, so the sum does not dip)
 * and collects endpoint health from the fresh digests. */
static void aggregate(struct cp_node__view *v, const struct cp_store_node *hb,
                      size_t count)
{
    json_t *last = json_object(), *sum = json_object(), *health = json_object();

    v->have_stats = false;
    for (size_t i = 0; i < count && last && sum && health; i++) {
        json_t *info, *stats, *r;
        if (strcmp(hb[i].role, CP_MGMT_ROLE_DATA) != 0)
            continue;
        info = json_loads(hb[i].info, 0, NULL);
        stats = json_object_get(info, "stats");
        r = json_object_get(stats, "routers");
        if (!json_is_object(r))
            r = json_object_get(v->node_routers, hb[i].id);
        else {
            add_health(health, json_object_get(stats, "endpoints"));
            v->have_stats = true;
        }
        if (json_is_object(r)) {
            add_routers(sum, r);
            json_object_set(last, hb[i].id, r);
        }
        json_decref(info);
    }
    json_decref(v->node_routers);
    json_decref(v->routers);
    json_decref(v->ep_health);
    v->node_routers = last;
    v->routers = sum;
    v->ep_health = health;
    traffic_array(v);
}

void cp_node__view_each_control(struct cp_node *n,
                                void (*fn)(void *arg, const char *http,
                                           const char *grpc),
                                void *arg)
{
    struct cp_node__view *v = n->view;

    for (size_t i = 0; v != NULL && i < v->n_nodes; i++) {
        const struct vnode *x = &v->nodes[i];
        if (x->present && x->healthy && x->http[0] != '\0' &&
            strcmp(x->role, CP_MGMT_ROLE_CONTROL) == 0)
            fn(arg, x->http, x->address);
    }
}

void cp_node__view_listed(struct cp_node *n, const struct cp_store_node *hb,
                          size_t count)
{
    struct cp_node__view *v = n->view;
    size_t cap = count + v->n_nodes + 1;
    struct vnode *next = calloc(cap, sizeof(*next));
    struct cp_http_node *pub = calloc(cap, sizeof(*pub));
    struct vmeta *metas = calloc(count + 1, sizeof(*metas));
    bool changed = false;
    size_t nm = 0;
    long k;

    if (next == NULL || pub == NULL || metas == NULL) {
        free(next);
        free(pub);
        free(metas);
        return;
    }
    k = merge_nodes(n, hb, count, next, &changed);
    for (size_t i = 0; i < count; i++) {
        json_t *info;
        if (strcmp(hb[i].role, CP_MGMT_ROLE_REVISION) != 0)
            continue;
        info = json_loads(hb[i].info, 0, NULL);
        metas[nm].rev = jnum(info, "rev");
        metas[nm].ts = (int64_t)jnum(info, "ts");
        copy(metas[nm].source, TEXT_LEN, jstr(info, "source"));
        copy(metas[nm].summary, TEXT_LEN, jstr(info, "summary"));
        nm += metas[nm].rev > 0;
        json_decref(info);
    }
    free(v->nodes);
    free(v->pub);
    free(v->metas);
    v->nodes = next;
    v->n_nodes = (size_t)k;
    v->pub = pub;
    v->metas = metas;
    v->n_metas = nm;
    rebuild_pub(v, cp_store_leader_id(n->store));
    aggregate(v, hb, count);
    v->listed_once = true;
    if (changed && n->http != NULL)
        cp_http_poke(n->http);
}

void cp_node__view_leader(struct cp_node *n, const char *leader)
{
    struct cp_node__view *v = n->view;

    if (v == NULL)
        return;
    rebuild_pub(v, leader);
    if (*leader == '\0' || n->http == NULL)
        return;
    publish(n, "leader", json_pack("{s:s}", "node", leader));
    cp_http_poke(n->http);
}

/* ==== revisions ==== */

static const struct vmeta *find_meta(const struct cp_node__view *v,
                                     uint64_t rev)
{
    for (size_t i = 0; i < v->n_metas; i++)
        if (v->metas[i].rev == rev)
            return &v->metas[i];
    return NULL;
}

static void on_revs(struct cp_store *s, int status, const uint64_t *revs,
                    size_t count, void *arg)
{
    struct cp_node *n = arg;
    struct cp_node__view *v = n->view;
    struct cp_http_revision *pub;
    struct vmeta *meta;

    v->listing_revs = false;
    if (status != 0 || n->stopping)
        return;
    pub = calloc(count + 1, sizeof(*pub));
    meta = calloc(count + 1, sizeof(*meta));
    if (pub == NULL || meta == NULL) {
        free(pub);
        free(meta);
        return;
    }
    for (size_t i = 0; i < count; i++) {
        const struct vmeta *m = find_meta(v, revs[i]);
        if (m != NULL)
            meta[i] = *m;
        meta[i].rev = revs[i];
        pub[i].revision = revs[i];
        pub[i].time_ms = meta[i].ts;
        pub[i].source = meta[i].source[0] != '\0' ? meta[i].source : NULL;
        pub[i].summary = meta[i].summary[0] != '\0' ? meta[i].summary : NULL;
    }
    free(v->revs);
    free(v->rev_meta);
    v->revs = pub;
    v->rev_meta = meta;
    v->n_revs = count;
    if (v->revs_again) {
        v->revs_again = false;
        cp_node__view_refresh_revisions(n);
    }
}

void cp_node__view_refresh_revisions(struct cp_node *n)
{
    struct cp_node__view *v = n->view;

    if (v == NULL || n->stopping)
        return;
    if (v->listing_revs) {
        v->revs_again = true;
        return;
    }
    if (cp_store_list_revisions(n->store, on_revs, n) == 0)
        v->listing_revs = true;
}

void cp_node__view_revision(struct cp_node *n, uint64_t rev)
{
    struct cp_node__view *v = n->view;
    const struct vmeta *m = v != NULL ? find_meta(v, rev) : NULL;
    json_t *j = json_pack("{s:I, s:s}", "revision", (json_int_t)rev, "node",
                          n->flags->node_id);

    if (v == NULL) {
        json_decref(j);
        return;
    }
    if (j != NULL && m != NULL && m->source[0] != '\0')
        json_object_set_new(j, "source", json_string(m->source));
    publish(n, "revision", j);
    cp_node__view_refresh_revisions(n);
    if (n->http != NULL)
        cp_http_poke(n->http);
}

/* ==== the HTTP server's source ==== */

static size_t src_nodes(void *arg, const struct cp_http_node **out)
{
    struct cp_node *n = arg;

    *out = n->view->pub;
    return n->view->n_nodes;
}

static const char *src_config(void *arg, uint64_t *rev)
{
    struct cp_node *n = arg;
    struct cp_node__view *v = n->view;
    const struct cm_config *cfg;
    char *text = NULL;

    *rev = cp_mgmt_current(n->mgmt, &cfg);
    if (cfg == NULL)
        return NULL;
    if (v->config_json != NULL && v->config_rev == *rev)
        return v->config_json;
    if (cm_config_to_json(cfg, &text) != 0)
        return NULL;
    free(v->config_json);
    v->config_json = text;
    v->config_rev = *rev;
    return text;
}

static size_t src_revisions(void *arg, const struct cp_http_revision **out)
{
    struct cp_node *n = arg;

    *out = n->view->revs;
    return n->view->n_revs;
}

static const char *src_admin_hash(void *arg)
{
    return cp_node__admin_hash(arg);
}

static void src_metrics(void *arg, struct cp_http_text *out)
{
    struct cp_node *n = arg;
    struct cp_xds_node_info *streams = NULL;
    size_t count = 0;

    if (cp_xds_server_list_nodes(n->xds, &streams, &count) != 0)
        count = 0;
    free(streams);
    cp_http_text_printf(
        out,
        "# HELP controlplane_node_leader 1 if this control node is the "
        "leader.\n# TYPE controlplane_node_leader gauge\n"
        "controlplane_node_leader %d\n"
        "# HELP controlplane_store_connected 1 while this control node "
        "reaches the Redis master.\n# TYPE controlplane_store_connected "
        "gauge\ncontrolplane_store_connected %d\n"
        "# HELP controlplane_xds_streams xDS streams open on this control "
        "node.\n# TYPE controlplane_xds_streams gauge\n"
        "controlplane_xds_streams %zu\n",
        n->store != NULL && cp_store_is_leader(n->store),
        n->store != NULL && cp_store_connected(n->store), count);
}

static size_t src_traffic(void *arg, const struct cp_http_router_traffic **out)
{
    struct cp_node *n = arg;

    *out = n->view->traffic;
    return n->view->traffic != NULL ? n->view->n_traffic : 0;
}

/* The health of <sv> of service <svc>: as the data nodes report it;
 * servers they do not list are in rotation (no checks), unless nobody
 * reported or the server is drained (weight 0: not sent to data nodes). */
static int server_health(const struct cp_node__view *v, const char *svc,
                         const struct cm_config_server *sv)
{
    char key[2 * CP_NODE__SCRAPE_NAME_MAX + 2];
    const char *host = sv->host != NULL ? sv->host : "";
    bool v6 = strchr(host, ':') != NULL;
    json_t *h;

    if (strcmp(host, "localhost") == 0)
        host = "127.0.0.1";
    snprintf(key, sizeof(key), "%s\n%s%s%s:%u", svc, v6 ? "[" : "", host,
             v6 ? "]" : "", (unsigned)sv->port);
    if ((h = json_object_get(v->ep_health, key)) != NULL)
        return json_integer_value(h) != 0;
    return v->have_stats && sv->weight > 0 ? 1 : -1;
}

static size_t src_endpoints(void *arg, const struct cp_http_endpoint **out)
{
    struct cp_node *n = arg;
    struct cp_node__view *v = n->view;
    const struct cm_config *cfg = NULL;
    size_t total = 0, k = 0;

    *out = NULL;
    if (n->mgmt != NULL)
        cp_mgmt_current(n->mgmt, &cfg);
    if (cfg == NULL)
        return 0;
    for (size_t i = 0; i < cfg->http.n_services; i++)
        if (cfg->http.services[i].kind == CM_CONFIG_SVC_LOAD_BALANCER)
            total += cfg->http.services[i].u.load_balancer.n_servers;
    free(v->eps);
    if ((v->eps = calloc(total + 1, sizeof(*v->eps))) == NULL)
        return 0;
    for (size_t i = 0; i < cfg->http.n_services; i++) {
        const struct cm_config_service *s = &cfg->http.services[i];
        if (s->kind != CM_CONFIG_SVC_LOAD_BALANCER)
            continue;
        for (size_t j = 0; j < s->u.load_balancer.n_servers; j++) {
            const struct cm_config_server *sv = &s->u.load_balancer.servers[j];
            v->eps[k].service = s->name;
            v->eps[k].url = sv->url;
            v->eps[k++].healthy = server_health(v, s->name, sv);
        }
    }
    *out = v->eps;
    return k;
}

void cp_node__view_source(struct cp_node *n, struct cp_http_source *src)
{
    memset(src, 0, sizeof(*src));
    src->arg = n;
    src->nodes = src_nodes;
    src->config = src_config;
    src->revisions = src_revisions;
    src->admin_hash = src_admin_hash;
    src->metrics = src_metrics;
    src->traffic = src_traffic;
    src->endpoints = src_endpoints;
}

/* ==== life ==== */

int cp_node__view_new(struct cp_node *n)
{
    n->view = calloc(1, sizeof(*n->view));
    return n->view != NULL ? 0 : GW_ENOMEM;
}

void cp_node__view_free(struct cp_node *n)
{
    struct cp_node__view *v = n->view;

    if (v == NULL)
        return;
    free(v->nodes);
    free(v->pub);
    free(v->metas);
    free(v->revs);
    free(v->rev_meta);
    free(v->config_json);
    json_decref(v->node_routers);
    json_decref(v->routers);
    json_decref(v->ep_health);
    free(v->traffic);
    free(v->eps);
    free(v);
    n->view = NULL;
}
