/*
 * api.c -- the REST API's JSON, in the shape of Traefik's API: routers,
 * services and middlewares as arrays of objects with name@provider,
 * status, type, using/usedBy and serverStatus; the overview; and this
 * product's nodes and revisions. Pure functions over the configuration
 * JSON and the source's arrays; the server's loop calls them.
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "controlplane/http/http-int.h"

#define PROVIDER "file"

/* ==== helpers ==== */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The keys of <obj> sorted; returns new array (free()) of borrowed keys,
 * count in *n. NULL with *n 0 when empty or on ENOMEM. */
static const char **sorted_keys(json_t *obj, size_t *n)
{
    const char **keys, *k;
    json_t *v;
    size_t i = 0;

    *n = 0;
    if (!json_is_object(obj) || json_object_size(obj) == 0)
        return NULL;
    keys = malloc(json_object_size(obj) * sizeof(*keys));
    if (keys == NULL)
        return NULL;
    json_object_foreach(obj, k, v) keys[i++] = k;
    qsort(keys, i, sizeof(*keys), cmp_str);
    *n = i;
    return keys;
}

static json_t *section(json_t *cfg, const char *kind)
{
    return json_object_get(json_object_get(cfg, "http"), kind);
}

/* "name" without a trailing "@file". */
static bool same_name(const char *ref, const char *name)
{
    size_t nl = strlen(name);

    if (strncmp(ref, name, nl) != 0)
        return false;
    return ref[nl] == '\0' || strcmp(ref + nl, "@" PROVIDER) == 0;
}

static json_t *qualified(const char *name)
{
    return json_sprintf("%s@" PROVIDER, name);
}

/* The single kind key of a service or middleware, lowercased: Traefik's
 * "type" ("loadbalancer", "stripprefix"). */
static json_t *kind_type(json_t *obj)
{
    const char *k;
    json_t *v;
    char buf[64];

    json_object_foreach(obj, k, v)
    {
        if (!json_is_object(v) || strlen(k) >= sizeof(buf))
            continue;
        for (size_t i = 0; k[i]; i++)
            buf[i] = (char)tolower((unsigned char)k[i]);
        buf[strlen(k)] = '\0';
        return json_string(buf);
    }
    return json_string("unknown");
}

/* Routers (sorted) whose <field> (a string or an array of strings) names
 * <name>, as a new array of "router@file". */
static json_t *used_by(json_t *cfg, const char *field, const char *name)
{
    json_t *routers = section(cfg, "routers"), *out = json_array();
    const char **keys;
    size_t n;

    keys = sorted_keys(routers, &n);
    for (size_t i = 0; out != NULL && i < n; i++) {
        json_t *f = json_object_get(json_object_get(routers, keys[i]), field);
        bool hit = false;
        if (json_is_string(f))
            hit = same_name(json_string_value(f), name);
        for (size_t j = 0; json_is_array(f) && j < json_array_size(f); j++)
            hit = hit ||
                  (json_is_string(json_array_get(f, j)) &&
                   same_name(json_string_value(json_array_get(f, j)), name));
        if (hit)
            json_array_append_new(out, qualified(keys[i]));
    }
    free(keys);
    return out;
}

/* Builds the array of one section: each object copied with name,
 * provider and status added, then <extra> adds the rest. */
static json_t *view(json_t *cfg, const char *kind,
                    void (*extra)(json_t *cfg, const char *name, json_t *o,
                                  const void *arg),
                    const void *arg)
{
    json_t *sec = section(cfg, kind), *out = json_array();
    const char **keys;
    size_t n;

    if (out == NULL)
        return NULL;
    keys = sorted_keys(sec, &n);
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_deep_copy(json_object_get(sec, keys[i]));
        if (!json_is_object(o)) {
            json_decref(o);
            continue;
        }
        json_object_set_new(o, "name", qualified(keys[i]));
        json_object_set_new(o, "provider", json_string(PROVIDER));
        json_object_set_new(o, "status", json_string("enabled"));
        extra(cfg, keys[i], o, arg);
        json_array_append_new(out, o);
    }
    free(keys);
    return out;
}

/* ==== routers, services, middlewares, entry points ==== */

static void router_extra(json_t *cfg, const char *name, json_t *o,
                         const void *arg)
{
    json_t *eps = json_object_get(o, "entryPoints");
    json_t *using = json_array();
    const char **keys;
    size_t n;

    if (json_is_array(eps) && json_array_size(eps) > 0) {
        json_array_extend(using, eps);
    } else { /* no list: every entry point */
        keys = sorted_keys(json_object_get(cfg, "entryPoints"), &n);
        for (size_t i = 0; i < n; i++)
            json_array_append_new(using, json_string(keys[i]));
        free(keys);
    }
    json_object_set_new(o, "using", using);
}

json_t *cp_http__api_routers(json_t *cfg)
{
    return view(cfg, "routers", router_extra, NULL);
}

struct ep_arg {
    const struct cp_http_endpoint *ep;
    size_t n;
};

static void service_status(const char *name, json_t *o, const struct ep_arg *ea)
{
    json_t *servers =
        json_object_get(json_object_get(o, "loadBalancer"), "servers");
    json_t *st = json_object();
    size_t down = 0, known = 0;

    for (size_t i = 0; i < json_array_size(servers); i++) {
        const char *url = json_string_value(
            json_object_get(json_array_get(servers, i), "url"));
        for (size_t j = 0; url != NULL && j < ea->n; j++) {
            if (ea->ep[j].healthy < 0 || ea->ep[j].url == NULL ||
                ea->ep[j].service == NULL ||
                !same_name(ea->ep[j].service, name) ||
                strcmp(ea->ep[j].url, url) != 0)
                continue;
            json_object_set_new(st, url,
                                json_string(ea->ep[j].healthy ? "UP" : "DOWN"));
            known++;
            down += ea->ep[j].healthy == 0;
            break;
        }
    }
    if (known > 0)
        json_object_set_new(o, "serverStatus", st);
    else
        json_decref(st);
    if (down > 0)
        json_object_set_new(o, "status",
                            json_string(down == known ? "error" : "warning"));
}

static void service_extra(json_t *cfg, const char *name, json_t *o,
                          const void *arg)
{
    json_object_set_new(o, "type", kind_type(o));
    json_object_set_new(o, "usedBy", used_by(cfg, "service", name));
    service_status(name, o, arg);
}

json_t *cp_http__api_services(json_t *cfg, const struct cp_http_endpoint *ep,
                              size_t nep)
{
    struct ep_arg ea = {ep, nep};

    return view(cfg, "services", service_extra, &ea);
}

static void middleware_extra(json_t *cfg, const char *name, json_t *o,
                             const void *arg)
{
    json_object_set_new(o, "type", kind_type(o));
    json_object_set_new(o, "usedBy", used_by(cfg, "middlewares", name));
}

json_t *cp_http__api_middlewares(json_t *cfg)
{
    return view(cfg, "middlewares", middleware_extra, NULL);
}

json_t *cp_http__api_entrypoints(json_t *cfg)
{
    json_t *eps = json_object_get(cfg, "entryPoints"), *out = json_array();
    const char **keys;
    size_t n;

    if (out == NULL)
        return NULL;
    keys = sorted_keys(eps, &n);
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_deep_copy(json_object_get(eps, keys[i]));
        if (!json_is_object(o)) {
            json_decref(o);
            continue;
        }
        json_object_set_new(o, "name", json_string(keys[i]));
        json_array_append_new(out, o);
    }
    free(keys);
    return out;
}

json_t *cp_http__api_find(json_t *arr, const char *name, size_t len)
{
    for (size_t i = 0; i < json_array_size(arr); i++) {
        json_t *o = json_array_get(arr, i);
        const char *n = json_string_value(json_object_get(o, "name"));
        if (n == NULL)
            continue;
        if ((strlen(n) == len && memcmp(n, name, len) == 0) ||
            (strncmp(n, name, len) == 0 && strcmp(n + len, "@" PROVIDER) == 0 &&
             memchr(name, '@', len) == NULL))
            return o;
    }
    return NULL;
}

static bool contains_ci(const char *hay, const char *needle)
{
    size_t nl = strlen(needle);

    for (; *hay; hay++)
        if (strncasecmp(hay, needle, nl) == 0)
            return true;
    return nl == 0;
}

json_t *cp_http__api_page(json_t *arr, const char *search, int page,
                          int per_page, int *next_page)
{
    json_t *out = json_array();
    size_t matched = 0, first, last;

    *next_page = 0;
    if (out == NULL)
        return NULL;
    if (page < 1)
        page = 1;
    if (per_page < 1)
        per_page = 100;
    first = (size_t)(page - 1) * (size_t)per_page;
    last = first + (size_t)per_page;
    for (size_t i = 0; i < json_array_size(arr); i++) {
        json_t *o = json_array_get(arr, i);
        const char *n = json_string_value(json_object_get(o, "name"));
        if (search != NULL && !contains_ci(n ? n : "", search))
            continue;
        if (matched >= first && matched < last)
            json_array_append(out, o);
        matched++;
    }
    if (matched > last)
        *next_page = page + 1;
    return out;
}

/* ==== cluster: nodes, revisions, overview ==== */

const char *cp_http__iso_time(int64_t ms, char *buf, size_t len)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    char s[32];

    gmtime_r(&t, &tm);
    strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, len, "%s.%03dZ", s, (int)(ms % 1000));
    return buf;
}

static json_t *time_or_null(int64_t ms)
{
    char buf[40];

    return ms > 0 ? json_string(cp_http__iso_time(ms, buf, sizeof(buf)))
                  : json_null();
}

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

static bool is_data(const struct cp_http_node *n)
{
    return n->role && strcmp(n->role, CP_HTTP_ROLE_DATA) == 0;
}

void cp_http__api_served(const struct cp_http_node *nodes, size_t n,
                         uint64_t rev, size_t *serving, size_t *total)
{
    *serving = *total = 0;
    for (size_t i = 0; i < n; i++) {
        if (!is_data(&nodes[i]))
            continue;
        (*total)++;
        *serving += rev != 0 && nodes[i].revision == rev && nodes[i].healthy;
    }
}

/* Control nodes first, then data nodes, each by name. */
static int cmp_node(const void *a, const void *b)
{
    const struct cp_http_node *x = *(const struct cp_http_node *const *)a;
    const struct cp_http_node *y = *(const struct cp_http_node *const *)b;
    int dx = is_data(x), dy = is_data(y);

    if (dx != dy)
        return dx - dy;
    return strcmp(x->name ? x->name : "", y->name ? y->name : "");
}

static json_t *node_json(const struct cp_http_node *n, uint64_t current)
{
    json_t *o = json_object(), *nack = json_null();

    if (n->nack_revision != 0) {
        nack = json_object();
        json_object_set_new(nack, "revision",
                            json_integer((json_int_t)n->nack_revision));
        json_object_set_new(nack, "error", str_or_null(n->nack_error));
    }
    json_object_set_new(o, "name", str_or_null(n->name));
    json_object_set_new(o, "role", str_or_null(n->role));
    json_object_set_new(o, "leader", json_boolean(n->leader));
    json_object_set_new(o, "healthy", json_boolean(n->healthy));
    json_object_set_new(o, "address", str_or_null(n->address));
    json_object_set_new(o, "httpAddress", str_or_null(n->http_address));
    json_object_set_new(o, "revision", json_integer((json_int_t)n->revision));
    json_object_set_new(o, "upToDate",
                        json_boolean(current != 0 && n->revision == current));
    json_object_set_new(o, "nack", nack);
    json_object_set_new(o, "lastSeen", time_or_null(n->last_seen_ms));
    return o;
}

json_t *cp_http__api_nodes(const struct cp_http_node *nodes, size_t n,
                           uint64_t current)
{
    const struct cp_http_node **v = n ? malloc(n * sizeof(*v)) : NULL;
    json_t *out = json_array();

    if (out == NULL || (n > 0 && v == NULL)) {
        free(v);
        json_decref(out);
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        v[i] = &nodes[i];
    if (n > 0)
        qsort(v, n, sizeof(*v), cmp_node);
    for (size_t i = 0; i < n; i++)
        json_array_append_new(out, node_json(v[i], current));
    free(v);
    return out;
}

json_t *cp_http__api_revisions(const struct cp_http_revision *revs, size_t n,
                               const struct cp_http_node *nodes, size_t nn,
                               uint64_t current)
{
    json_t *out = json_array();

    for (size_t i = 0; out != NULL && i < n; i++) {
        json_t *o = json_object();
        size_t serving, total, nacked = 0;
        cp_http__api_served(nodes, nn, revs[i].revision, &serving, &total);
        for (size_t j = 0; j < nn; j++)
            nacked += is_data(&nodes[j]) &&
                      nodes[j].nack_revision == revs[i].revision;
        json_object_set_new(o, "revision",
                            json_integer((json_int_t)revs[i].revision));
        json_object_set_new(o, "time", time_or_null(revs[i].time_ms));
        json_object_set_new(o, "source", str_or_null(revs[i].source));
        json_object_set_new(o, "summary", str_or_null(revs[i].summary));
        json_object_set_new(o, "current",
                            json_boolean(revs[i].revision == current));
        json_object_set_new(o, "servedBy", json_integer((json_int_t)serving));
        json_object_set_new(o, "nackedBy", json_integer((json_int_t)nacked));
        json_object_set_new(o, "dataNodes", json_integer((json_int_t)total));
        json_array_append_new(out, o);
    }
    return out;
}

/* {"total": N, "warnings": W, "errors": E} of a view by "status". */
static json_t *counts(json_t *arr)
{
    size_t w = 0, e = 0;

    for (size_t i = 0; i < json_array_size(arr); i++) {
        const char *st = json_string_value(
            json_object_get(json_array_get(arr, i), "status"));
        w += st && strcmp(st, "warning") == 0;
        e += st && strcmp(st, "error") == 0;
    }
    return json_pack("{s:I,s:I,s:I}", "total", (json_int_t)json_array_size(arr),
                     "warnings", (json_int_t)w, "errors", (json_int_t)e);
}

static json_t *zero_counts(void)
{
    return json_pack("{s:i,s:i,s:i}", "total", 0, "warnings", 0, "errors", 0);
}

static json_t *cluster(uint64_t current, const struct cp_http_node *nodes,
                       size_t nn)
{
    size_t ct = 0, ch = 0, dt = 0, dh = 0, serving = 0, nacked = 0;
    const char *leader = NULL;

    for (size_t i = 0; i < nn; i++) {
        if (is_data(&nodes[i])) {
            dt++;
            dh += nodes[i].healthy;
            serving += nodes[i].healthy && current != 0 &&
                       nodes[i].revision == current;
            nacked += current != 0 && nodes[i].nack_revision == current;
        } else {
            ct++;
            ch += nodes[i].healthy;
            if (nodes[i].leader)
                leader = nodes[i].name;
        }
    }
    return json_pack("{s:I,s:o,s:{s:I,s:I},s:{s:I,s:I,s:I,s:I}}", "revision",
                     (json_int_t)current, "leader", str_or_null(leader),
                     "controlNodes", "total", (json_int_t)ct, "healthy",
                     (json_int_t)ch, "dataNodes", "total", (json_int_t)dt,
                     "healthy", (json_int_t)dh, "serving", (json_int_t)serving,
                     "nacked", (json_int_t)nacked);
}

json_t *cp_http__api_overview(json_t *routers, json_t *services,
                              json_t *middlewares, uint64_t current,
                              const struct cp_http_node *nodes, size_t nn)
{
    return json_pack(
        "{s:{s:o,s:o,s:o},s:{s:o,s:o,s:o},s:{s:o,s:o},s:{s:s,s:s,s:b},"
        "s:[s],s:o}",
        "http", "routers", counts(routers), "services", counts(services),
        "middlewares", counts(middlewares), "tcp", "routers", zero_counts(),
        "services", zero_counts(), "middlewares", zero_counts(), "udp",
        "routers", zero_counts(), "services", zero_counts(), "features",
        "tracing", "", "metrics", "prometheus", "accessLog", 0, "providers",
        PROVIDER, "cluster", cluster(current, nodes, nn));
}
