/*
 * model.c -- pure helpers over the configuration model for the management
 * API: object kinds, selecting objects as JSON (Get), the per-name diff of
 * two configurations (Apply --dry-run) and deleting one object from a
 * document with a reference check (Delete). No I/O; any thread.
 */
#include <stdlib.h>
#include <string.h>

#include "common/config/config.h"
#include "controlplane/mgmt/mgmt.h"

/* ==== kinds ==== */

static const char *const kind_names[] = {
    [CP_MGMT_KIND_ROUTERS] = "routers",
    [CP_MGMT_KIND_SERVICES] = "services",
    [CP_MGMT_KIND_MIDDLEWARES] = "middlewares",
    [CP_MGMT_KIND_ENTRYPOINTS] = "entrypoints",
    [CP_MGMT_KIND_CONFIG] = "config",
};

int cp_mgmt_kind_parse(const char *s)
{
    size_t n;

    if (s == NULL)
        return -1;
    if (strcmp(s, "entryPoints") == 0 || strcmp(s, "entryPoint") == 0)
        return CP_MGMT_KIND_ENTRYPOINTS;
    for (int k = 0; k <= CP_MGMT_KIND_CONFIG; k++) {
        n = strlen(kind_names[k]);
        if (strcmp(s, kind_names[k]) == 0)
            return k;
        /* singular: the plural without its final 's' */
        if (k != CP_MGMT_KIND_CONFIG && strlen(s) == n - 1 &&
            strncmp(s, kind_names[k], n - 1) == 0)
            return k;
    }
    return -1;
}

const char *cp_mgmt_kind_name(enum cp_mgmt_kind kind)
{
    return (unsigned)kind <= CP_MGMT_KIND_CONFIG ? kind_names[kind] : "";
}

const char *cp_mgmt_kind_singular(enum cp_mgmt_kind kind)
{
    static const char *const s[] = {"router", "service", "middleware",
                                    "entry point", "config"};
    return (unsigned)kind <= CP_MGMT_KIND_CONFIG ? s[kind] : "";
}

/* ==== JSON view ==== */

/* Returns new: the model as JSON ({} for NULL). */
static json_t *model_json(const struct cm_config *cfg)
{
    return cfg == NULL ? json_object() : cm_config_to_jansson(cfg);
}

/* Borrows from <model>: the {name: object} of <kind>, or NULL. */
static json_t *kind_object(json_t *model, enum cp_mgmt_kind kind)
{
    if (kind == CP_MGMT_KIND_ENTRYPOINTS)
        return json_object_get(model, "entryPoints");
    return json_object_get(json_object_get(model, "http"),
                           cp_mgmt_kind_name(kind));
}

json_t *cp_mgmt_select(const struct cm_config *cfg, enum cp_mgmt_kind kind,
                       const char *name, int *rc)
{
    json_t *model = model_json(cfg), *objs, *out;

    *rc = GW_ENOMEM;
    if (model == NULL)
        return NULL;
    if (kind == CP_MGMT_KIND_CONFIG) {
        *rc = 0;
        return model;
    }
    objs = kind_object(model, kind);
    if (name == NULL || *name == '\0') {
        out = objs != NULL ? json_incref(objs) : json_object();
    } else {
        out = json_incref(json_object_get(objs, name));
        if (out == NULL) {
            json_decref(model);
            *rc = GW_ENOENT;
            return NULL;
        }
    }
    json_decref(model);
    *rc = out != NULL ? 0 : GW_ENOMEM;
    return out;
}

/* ==== diff ==== */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int push_name(struct cp_mgmt_diff *d, int k, int c, const char *name)
{
    char **v = realloc(d->names[k][c], (d->n[k][c] + 1) * sizeof(*v));

    if (v == NULL)
        return GW_ENOMEM;
    d->names[k][c] = v;
    v[d->n[k][c]] = strdup(name);
    if (v[d->n[k][c]] == NULL)
        return GW_ENOMEM;
    d->n[k][c]++;
    return 0;
}

/* Compares the {name: object} maps <a> (old) and <b> (new) of kind <k>. */
static int diff_kind(struct cp_mgmt_diff *d, int k, json_t *a, json_t *b)
{
    const char *name;
    json_t *v, *old;
    int rc = 0;

    json_object_foreach(b, name, v)
    {
        old = json_object_get(a, name);
        if (old == NULL)
            rc = push_name(d, k, CP_MGMT_ADDED, name);
        else if (!json_equal(old, v))
            rc = push_name(d, k, CP_MGMT_CHANGED, name);
        if (rc != 0)
            return rc;
    }
    json_object_foreach(a, name, v)
    {
        if (json_object_get(b, name) == NULL &&
            (rc = push_name(d, k, CP_MGMT_REMOVED, name)) != 0)
            return rc;
    }
    for (int c = 0; c < CP_MGMT_NCHANGES; c++)
        if (d->n[k][c] > 1)
            qsort(d->names[k][c], d->n[k][c], sizeof(char *), cmp_str);
    return 0;
}

int cp_mgmt_diff_json(json_t *old, json_t *new, struct cp_mgmt_diff *out)
{
    int rc = old != NULL && new != NULL ? 0 : GW_ENOMEM;

    memset(out, 0, sizeof(*out));
    for (int k = 0; rc == 0 && k < CP_MGMT_NDIFF_KINDS; k++)
        rc = diff_kind(out, k, kind_object(old, k), kind_object(new, k));
    if (rc != 0)
        cp_mgmt_diff_deinit(out);
    return rc;
}

int cp_mgmt_diff(const struct cm_config *old, const struct cm_config *new,
                 struct cp_mgmt_diff *out)
{
    json_t *a = model_json(old), *b = model_json(new);
    int rc = cp_mgmt_diff_json(a, b, out);

    json_decref(a);
    json_decref(b);
    return rc;
}

void cp_mgmt_diff_deinit(struct cp_mgmt_diff *d)
{
    for (int k = 0; k < CP_MGMT_NDIFF_KINDS; k++) {
        for (int c = 0; c < CP_MGMT_NCHANGES; c++) {
            for (size_t i = 0; i < d->n[k][c]; i++)
                free(d->names[k][c][i]);
            free(d->names[k][c]);
            d->names[k][c] = NULL;
            d->n[k][c] = 0;
        }
    }
}

size_t cp_mgmt_diff_count(const struct cp_mgmt_diff *d)
{
    size_t n = 0;

    for (int k = 0; k < CP_MGMT_NDIFF_KINDS; k++)
        for (int c = 0; c < CP_MGMT_NCHANGES; c++)
            n += d->n[k][c];
    return n;
}

/* Appends <s> to <out> (of <len>, holding <*used> characters); 0, or -1
 * when it did not fit (nothing appended). */
static int append(char *out, size_t len, size_t *used, const char *s)
{
    size_t n = strlen(s);

    if (*used + n + 1 > len)
        return -1;
    memcpy(out + *used, s, n + 1);
    *used += n;
    return 0;
}

const char *cp_mgmt_diff_summary(const struct cp_mgmt_diff *d, char *out,
                                 size_t len)
{
    static const char sign[CP_MGMT_NCHANGES] = {'+', '-', '~'};
    char item[300];
    size_t used = 0, total = cp_mgmt_diff_count(d), done = 0;

    if (len == 0)
        return out;
    out[0] = '\0';
    for (int k = 0; k < CP_MGMT_NDIFF_KINDS; k++)
        for (int c = 0; c < CP_MGMT_NCHANGES; c++)
            for (size_t i = 0; i < d->n[k][c]; i++, done++) {
                snprintf(item, sizeof(item), "%s%c%s %s", done ? ", " : "",
                         sign[c], cp_mgmt_kind_singular(k), d->names[k][c][i]);
                /* keep room for ", and N more" */
                if (used + strlen(item) + 24 > len) {
                    snprintf(item, sizeof(item), "%s%zu more",
                             done ? ", and " : "", total - done);
                    (void)append(out, len, &used, item);
                    return out;
                }
                (void)append(out, len, &used, item);
            }
    return out;
}

/* ==== delete ==== */

/* 1 if the reference <ref> ("NAME" or "NAME@file") names <name>. */
static int refers(const char *ref, const char *name)
{
    size_t n = strlen(name);

    if (ref == NULL || strncmp(ref, name, n) != 0)
        return 0;
    return ref[n] == '\0' || strcmp(ref + n, "@file") == 0;
}

/* The first object using service <name>, as "router \"x\"", or 0. */
static int service_user(const struct cm_config *cfg, const char *name,
                        char *who, size_t len)
{
    const struct cm_config_http *h = &cfg->http;

    for (size_t i = 0; i < h->n_routers; i++)
        if (refers(h->routers[i].service, name))
            return cm_err_set(who, len, 1, "router \"%s\"", h->routers[i].name);
    for (size_t i = 0; i < h->n_services; i++) {
        const struct cm_config_service *s = &h->services[i];
        int used = 0;
        if (s->kind == CM_CONFIG_SVC_WEIGHTED)
            for (size_t j = 0; j < s->u.weighted.n_services; j++)
                used |= refers(s->u.weighted.services[j].name, name);
        if (s->kind == CM_CONFIG_SVC_MIRRORING) {
            used |= refers(s->u.mirroring.service, name);
            for (size_t j = 0; j < s->u.mirroring.n_mirrors; j++)
                used |= refers(s->u.mirroring.mirrors[j].name, name);
        }
        if (s->kind == CM_CONFIG_SVC_FAILOVER)
            used |= refers(s->u.failover.service, name) |
                    refers(s->u.failover.fallback, name);
        if (used)
            return cm_err_set(who, len, 1, "service \"%s\"", s->name);
    }
    return 0;
}

/* The first object using middleware <name>, or 0. */
static int middleware_user(const struct cm_config *cfg, const char *name,
                           char *who, size_t len)
{
    const struct cm_config_http *h = &cfg->http;

    for (size_t i = 0; i < h->n_routers; i++)
        for (size_t j = 0; j < h->routers[i].n_middlewares; j++)
            if (refers(h->routers[i].middlewares[j], name))
                return cm_err_set(who, len, 1, "router \"%s\"",
                                  h->routers[i].name);
    for (size_t i = 0; i < h->n_middlewares; i++) {
        const struct cm_config_middleware *mw = &h->middlewares[i];
        if (mw->kind != CM_CONFIG_MW_CHAIN)
            continue;
        for (size_t j = 0; j < mw->u.chain.n_middlewares; j++)
            if (refers(mw->u.chain.middlewares[j], name))
                return cm_err_set(who, len, 1, "middleware \"%s\"", mw->name);
    }
    return 0;
}

int cp_mgmt_delete(const struct cm_config *cfg, enum cp_mgmt_kind kind,
                   const char *name, char **out, char *err, size_t errlen)
{
    char who[256] = "";
    json_t *model, *objs;
    int used = 0;

    *out = NULL;
    if (kind > CP_MGMT_KIND_MIDDLEWARES)
        return cm_err_set(err, errlen, GW_EINVAL,
                          "cannot delete %s: only routers, services and "
                          "middlewares can be deleted",
                          cp_mgmt_kind_name(kind));
    model = model_json(cfg);
    if (model == NULL)
        return GW_ENOMEM;
    objs = kind_object(model, kind);
    if (json_object_get(objs, name) == NULL) {
        json_decref(model);
        return cm_err_set(err, errlen, GW_ENOENT, "%s \"%s\" not found",
                          cp_mgmt_kind_singular(kind), name);
    }
    if (kind == CP_MGMT_KIND_SERVICES)
        used = service_user(cfg, name, who, sizeof(who));
    else if (kind == CP_MGMT_KIND_MIDDLEWARES)
        used = middleware_user(cfg, name, who, sizeof(who));
    if (used) {
        json_decref(model);
        return cm_err_set(err, errlen, GW_EINVAL,
                          "%s \"%s\" is still used by %s; change or delete "
                          "that first",
                          cp_mgmt_kind_singular(kind), name, who);
    }
    json_object_del(objs, name);
    *out = json_dumps(model, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(model);
    return *out != NULL ? 0 : GW_ENOMEM;
}
