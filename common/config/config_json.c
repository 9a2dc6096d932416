/*
 * config_json.c -- prints a model as normalized JSON by walking the same
 * schema tables as the decoder: Traefik's keys, document order, defaults
 * written out, durations as strings, empty lists/maps and absent optional
 * objects left out. Parsing the output gives the same model. Stateless.
 */
#include "common/config/config.h"

#include <jansson.h>
#include <stdlib.h>

#include "common/config/config_int.h"

static json_t *obj_json(const struct cm_config__schema *s, const void *obj);

/* Sets o[key] = val, taking <val>; a NULL <val> is an error. */
static int put(json_t *o, const char *key, json_t *val)
{
    if (val == NULL)
        return GW_ENOMEM;
    return json_object_set_new(o, key, val) == 0 ? GW_OK : GW_ENOMEM;
}

static json_t *strs_json(const char *const *v, size_t n)
{
    json_t *a = json_array();
    size_t i;

    for (i = 0; a != NULL && i < n; i++) {
        if (json_array_append_new(a, json_string(v[i])) != 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

static json_t *kvs_json(const struct cm_config_kv *kv, size_t n)
{
    json_t *o = json_object();
    size_t i;

    for (i = 0; o != NULL && i < n; i++) {
        if (put(o, kv[i].key, json_string(kv[i].value)) != GW_OK) {
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

static json_t *list_json(const struct cm_config__schema *s, const char *arr,
                         size_t n)
{
    json_t *a = json_array();
    size_t i;

    for (i = 0; a != NULL && i < n; i++) {
        if (json_array_append_new(a, obj_json(s, arr + i * s->size)) != 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

static json_t *named_json(const struct cm_config__schema *s, const char *arr,
                          size_t n)
{
    json_t *o = json_object();
    const char *name;
    size_t i;

    for (i = 0; o != NULL && i < n; i++) {
        name = *(const char *const *)(arr + i * s->size);
        if (name == NULL || put(o, name, obj_json(s, arr + i * s->size))) {
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

static int field_json(json_t *o, const struct cm_config__field *f,
                      const void *obj)
{
    const char *at = (const char *)obj + f->off;
    size_t n =
        f->count_off ? *(const size_t *)((const char *)obj + f->count_off) : 0;
    char dur[32];
    json_t *sub;

    switch (f->type) {
    case CM_CONFIG__F_STR:
    case CM_CONFIG__F_REF:
    case CM_CONFIG__F_PEM:
        if (*(const char *const *)at == NULL)
            return GW_OK;
        return put(o, f->key, json_string(*(const char *const *)at));
    case CM_CONFIG__F_INT:
        return put(o, f->key, json_integer(*(const int64_t *)at));
    case CM_CONFIG__F_BOOL:
        return put(o, f->key, json_boolean(*(const bool *)at));
    case CM_CONFIG__F_DUR:
        cm_config_format_duration(*(const int64_t *)at, dur, sizeof(dur));
        return put(o, f->key, json_string(dur));
    case CM_CONFIG__F_STRS:
    case CM_CONFIG__F_REFS:
        if (n == 0)
            return GW_OK;
        return put(o, f->key, strs_json(*(const char *const *const *)at, n));
    case CM_CONFIG__F_KVS:
        if (n == 0)
            return GW_OK;
        return put(o, f->key,
                   kvs_json(*(const struct cm_config_kv *const *)at, n));
    case CM_CONFIG__F_EMBED:
        sub = obj_json(f->sub, at);
        if (sub != NULL && json_object_size(sub) == 0) {
            json_decref(sub);
            return GW_OK;
        }
        return put(o, f->key, sub);
    case CM_CONFIG__F_PTR:
        if (*(const void *const *)at == NULL)
            return GW_OK;
        return put(o, f->key, obj_json(f->sub, *(const void *const *)at));
    case CM_CONFIG__F_LIST:
        if (n == 0)
            return GW_OK;
        return put(o, f->key, list_json(f->sub, *(const char *const *)at, n));
    case CM_CONFIG__F_NAMED:
        if (n == 0)
            return GW_OK;
        return put(o, f->key, named_json(f->sub, *(const char *const *)at, n));
    case CM_CONFIG__F_PRESENT:
        if (!*(const bool *)at)
            return GW_OK;
        return put(o, f->key, json_object());
    }
    return GW_EINVAL;
}

static json_t *oneof_json(const struct cm_config__schema *s, const void *obj)
{
    const struct cm_config__variant *var =
        cm_config__variant_of(s, s->get_kind(obj));
    json_t *o = json_object();

    if (o == NULL || var == NULL)
        return o;
    if (put(o, var->key,
            obj_json(var->sub, (const char *)obj + s->union_off)) != GW_OK) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *obj_json(const struct cm_config__schema *s, const void *obj)
{
    json_t *o;
    size_t i;

    if (s->n_variants > 0)
        return oneof_json(s, obj);
    o = json_object();
    for (i = 0; o != NULL && i < s->n_fields; i++) {
        if (field_json(o, &s->fields[i], obj) != GW_OK) {
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

json_t *cm_config_to_jansson(const struct cm_config *cfg)
{
    return obj_json(&cm_config__root_schema, cfg);
}

int cm_config_to_json(const struct cm_config *cfg, char **out)
{
    json_t *root = obj_json(&cm_config__root_schema, cfg);

    *out = NULL;
    if (root == NULL)
        return GW_ENOMEM;
    *out = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(root);
    return *out != NULL ? GW_OK : GW_ENOMEM;
}
