/*
 * config_parse.c -- decodes a YAML or JSON document into the model by
 * walking libyaml's node tree along the schema tables (config_schema.c).
 * Rejects unknown keys, wrong types and duplicate keys, with the document
 * path and line:column of the offending node. Checks across the document
 * (references, cycles, URLs) are config_validate.c's.
 *
 * The whole document is in memory, so this is a one-shot tree walk rather
 * than a resumable parser; libyaml does the byte-level parsing. Stateless.
 */
#include "common/config/config.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "common/config/config_int.h"

#define PATH_MAX_LEN 384
/* Node visits allowed per node of the document: aliases may point at big
 * subtrees many times ("billion laughs"); the schema bounds the depth. */
#define VISITS_PER_NODE 8
#define VISITS_MIN      4096

/* Decoder state for one document. */
struct dec {
    struct cm_config *cfg;
    yaml_document_t *doc;
    char *err;
    size_t errlen;
    char path[PATH_MAX_LEN];
    size_t plen;
    size_t visits_left;
};

static int dec_obj(struct dec *d, yaml_node_t *n,
                   const struct cm_config__schema *s, void *obj);

/* ==== paths and errors ==== */

/* Appends ".key" (or "key" at the root) or "[i]" to the path; returns the
 * previous length for path_restore(). Truncates silently when too long. */
static size_t path_push(struct dec *d, const char *key, long index)
{
    size_t old = d->plen;
    int n;

    if (key != NULL)
        n = snprintf(d->path + d->plen, sizeof(d->path) - d->plen, "%s%s",
                     d->plen ? "." : "", key);
    else
        n = snprintf(d->path + d->plen, sizeof(d->path) - d->plen, "[%ld]",
                     index);
    if (n > 0)
        d->plen += (size_t)n;
    if (d->plen >= sizeof(d->path))
        d->plen = sizeof(d->path) - 1;
    return old;
}

static void path_restore(struct dec *d, size_t old)
{
    d->plen = old;
    d->path[old] = '\0';
}

/* Fills the error buffer with "PATH: line L, column C: MESSAGE". */
static int fail(struct dec *d, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct dec *d, const yaml_node_t *n, const char *fmt, ...)
{
    char msg[CM_ERR_LEN];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return cm_err_set(d->err, d->errlen, GW_EINVAL,
                      "%s%sline %zu, column %zu: %s", d->path,
                      d->plen ? ": " : "", n->start_mark.line + 1,
                      n->start_mark.column + 1, msg);
}

static int oom(struct dec *d)
{
    return cm_err_set(d->err, d->errlen, GW_ENOMEM, "%s: out of memory",
                      d->path);
}

static const char *node_type_str(const yaml_node_t *n)
{
    switch (n->type) {
    case YAML_MAPPING_NODE:
        return "a mapping";
    case YAML_SEQUENCE_NODE:
        return "a list";
    default:
        return "a scalar";
    }
}

/* ==== nodes ==== */

/* Returns node <index> of the document, or NULL once the visit budget is
 * spent (then the error is filled). */
static yaml_node_t *node_at(struct dec *d, int index, const yaml_node_t *from)
{
    if (d->visits_left == 0) {
        fail(d, from, "document too complex (too many alias expansions)");
        return NULL;
    }
    d->visits_left--;
    return yaml_document_get_node(d->doc, index);
}

static int mark_val(struct dec *d, const void *addr, const yaml_node_t *n)
{
    if (cm_config__mark_add(d->cfg, addr, CM_CONFIG__MARK_VAL,
                            (int)n->start_mark.line + 1,
                            (int)n->start_mark.column + 1) != GW_OK)
        return oom(d);
    return GW_OK;
}

static int mark_obj(struct dec *d, const void *addr, const yaml_node_t *n)
{
    if (cm_config__mark_add(d->cfg, addr, CM_CONFIG__MARK_OBJ,
                            (int)n->start_mark.line + 1,
                            (int)n->start_mark.column + 1) != GW_OK)
        return oom(d);
    return GW_OK;
}

static size_t n_items(const yaml_node_t *n)
{
    return (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
}

static size_t n_pairs(const yaml_node_t *n)
{
    return (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
}

/* True for a plain "", "~" or "null": YAML's null. */
static int is_null(const yaml_node_t *n)
{
    const char *v = (const char *)n->data.scalar.value;

    if (n->type != YAML_SCALAR_NODE ||
        n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return 0;
    return v[0] == '\0' || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 ||
           strcmp(v, "Null") == 0 || strcmp(v, "NULL") == 0;
}

/* Returns the offset of the first character that has no place in a
 * configuration string (control characters, NUL, DEL, C1 controls,
 * U+FEFF, U+FFFE, U+FFFF), or -1 when there is none. Line breaks are
 * allowed with <multiline> (PEM text). */
static long bad_char(const unsigned char *s, size_t len, bool multiline)
{
    size_t i;

    for (i = 0; i < len; i++) {
        if (multiline && (s[i] == '\n' || s[i] == '\r'))
            continue;
        if ((s[i] < 0x20 && s[i] != '\t') || s[i] == 0x7f)
            return (long)i;
        if (s[i] == 0xc2 && i + 1 < len && s[i + 1] >= 0x80 && s[i + 1] <= 0x9f)
            return (long)i;
        if (s[i] == 0xef && i + 2 < len &&
            ((s[i + 1] == 0xbb && s[i + 2] == 0xbf) ||
             (s[i + 1] == 0xbf && s[i + 2] >= 0xbe)))
            return (long)i;
    }
    return -1;
}

/* Copies scalar <n> into the arena as <*out>. */
static int take_text(struct dec *d, const yaml_node_t *n, const char **out,
                     bool multiline)
{
    const unsigned char *v = n->data.scalar.value;
    size_t len = n->data.scalar.length;
    long bad = bad_char(v, len, multiline);

    if (bad >= 0)
        return fail(d, n, "control character at offset %ld", bad);
    *out = cm_config__strndup(d->cfg, (const char *)v, len);
    return *out != NULL ? GW_OK : oom(d);
}

/* ==== scalars ==== */

static int need_scalar(struct dec *d, const yaml_node_t *n, const char *what)
{
    if (n->type == YAML_SCALAR_NODE)
        return GW_OK;
    return fail(d, n, "expected %s, got %s", what, node_type_str(n));
}

/* A name that refers to another item: "@file" dropped, "api@internal" kept
 * (config_validate.c allows it only on routers), others rejected. */
static int check_ref(struct dec *d, const yaml_node_t *n, const char **s)
{
    const char *prov = NULL;
    long len = cm_config__ref_len(*s, &prov);

    if (strcmp(*s, CM_CONFIG_API_INTERNAL) == 0)
        return GW_OK;

    if (len < 0)
        return fail(d, n, "provider \"%s\" is not supported (only @file)",
                    prov);
    if (len == 0)
        return fail(d, n, "empty name");
    ((char *)*s)[len] = '\0'; /* arena copy: ours to shorten */
    return GW_OK;
}

/* <ref>: 1 a name ("@provider" stripped), 2 multi-line text (PEM). */
static int dec_str(struct dec *d, const yaml_node_t *n, const char **out,
                   int ref)
{
    int rc = need_scalar(d, n, "a string");

    if (rc != GW_OK)
        return rc;
    if (is_null(n)) {
        *out = NULL;
        return GW_OK;
    }
    rc = take_text(d, n, out, ref == 2);
    if (rc == GW_OK && ref == 1)
        rc = check_ref(d, n, out);
    return rc != GW_OK ? rc : mark_val(d, out, n);
}

/* Parses a decimal integer (optional sign); returns 0 or GW_EINVAL. */
static int parse_int(const char *s, int64_t *out)
{
    uint64_t v = 0, lim;
    int neg = 0;

    if (*s == '-' || *s == '+')
        neg = *s++ == '-';
    if (*s == '\0')
        return GW_EINVAL;
    lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9' || v > (lim - (uint64_t)(*s - '0')) / 10)
            return GW_EINVAL;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return GW_OK;
}

static int dec_int(struct dec *d, const yaml_node_t *n, int64_t *out)
{
    const char *v = (const char *)n->data.scalar.value;
    int rc = need_scalar(d, n, "an integer");

    if (rc != GW_OK || is_null(n))
        return rc;
    if (strlen(v) != n->data.scalar.length || parse_int(v, out) != GW_OK)
        return fail(d, n, "expected an integer, got \"%.64s\"", v);
    return mark_val(d, out, n);
}

static int dec_bool(struct dec *d, const yaml_node_t *n, bool *out)
{
    const char *v = (const char *)n->data.scalar.value;
    int rc = need_scalar(d, n, "a boolean");

    if (rc != GW_OK || is_null(n))
        return rc;
    if (strcasecmp(v, "true") == 0)
        *out = true;
    else if (strcasecmp(v, "false") == 0)
        *out = false;
    else
        return fail(d, n, "expected true or false, got \"%.64s\"", v);
    return mark_val(d, out, n);
}

static int dec_dur(struct dec *d, const yaml_node_t *n, int64_t *out)
{
    const char *v = (const char *)n->data.scalar.value;
    int rc = need_scalar(d, n, "a duration");

    if (rc != GW_OK || is_null(n))
        return rc;
    if (strlen(v) != n->data.scalar.length ||
        cm_config_parse_duration(v, out) != GW_OK)
        return fail(d, n,
                    "invalid duration \"%.64s\" (want e.g. 2s, 100ms, 1m30s "
                    "or seconds)",
                    v);
    return mark_val(d, out, n);
}

/* ==== lists and maps of scalars ==== */

static int dec_strs(struct dec *d, yaml_node_t *n, const char ***out,
                    size_t *count, int ref)
{
    yaml_node_item_t *it;
    const char **arr;
    yaml_node_t *item;
    size_t i = 0, old;
    int rc;

    if (is_null(n))
        return GW_OK;
    if (n->type != YAML_SEQUENCE_NODE)
        return fail(d, n, "expected a list, got %s", node_type_str(n));
    it = n->data.sequence.items.start;
    arr = cm_config__alloc(d->cfg, sizeof(*arr) * n_items(n));
    if (arr == NULL)
        return oom(d);
    for (; it < n->data.sequence.items.top; it++, i++) {
        old = path_push(d, NULL, (long)i);
        item = node_at(d, *it, n);
        if (item == NULL)
            return GW_EINVAL;
        rc = dec_str(d, item, &arr[i], ref);
        if (rc == GW_OK && arr[i] == NULL)
            rc = fail(d, item, "expected a string, got null");
        if (rc != GW_OK)
            return rc;
        path_restore(d, old);
    }
    *out = arr;
    *count = i;
    return GW_OK;
}

static int cmp_kv_key(const void *a, const void *b)
{
    const struct cm_config_kv *x = *(const struct cm_config_kv *const *)a;
    const struct cm_config_kv *y = *(const struct cm_config_kv *const *)b;
    int c = strcasecmp(x->key, y->key);

    return c != 0 ? c : (x < y ? -1 : x > y);
}

/* Header names are case-insensitive: two spellings of one is an error. */
static int kvs_no_dup(struct dec *d, const yaml_node_t *n,
                      struct cm_config_kv *kv, size_t count)
{
    const struct cm_config_kv **idx;
    const struct cm_config__mark *m;
    size_t i;
    int rc = GW_OK;

    if (count < 2)
        return GW_OK;
    idx = malloc(count * sizeof(*idx));
    if (idx == NULL)
        return oom(d);
    for (i = 0; i < count; i++)
        idx[i] = &kv[i];
    qsort(idx, count, sizeof(*idx), cmp_kv_key);
    for (i = 1; i < count && rc == GW_OK; i++) {
        if (strcasecmp(idx[i - 1]->key, idx[i]->key) != 0)
            continue;
        m = cm_config__mark_find(d->cfg, &idx[i]->key, CM_CONFIG__MARK_VAL);
        rc =
            cm_err_set(d->err, d->errlen, GW_EINVAL,
                       "%s: line %d, column %d: duplicate key \"%s\"", d->path,
                       m ? m->line : (int)n->start_mark.line + 1,
                       m ? m->col : (int)n->start_mark.column + 1, idx[i]->key);
    }
    free(idx);
    return rc;
}

static int dec_kvs(struct dec *d, yaml_node_t *n, struct cm_config_kv **out,
                   size_t *count)
{
    yaml_node_pair_t *p;
    struct cm_config_kv *kv;
    yaml_node_t *k, *v;
    size_t i = 0, old;
    int rc;

    if (is_null(n))
        return GW_OK;
    if (n->type != YAML_MAPPING_NODE)
        return fail(d, n, "expected a mapping, got %s", node_type_str(n));
    p = n->data.mapping.pairs.start;
    kv = cm_config__alloc(d->cfg, sizeof(*kv) * n_pairs(n));
    if (kv == NULL)
        return oom(d);
    for (; p < n->data.mapping.pairs.top; p++, i++) {
        k = node_at(d, p->key, n);
        v = k ? node_at(d, p->value, n) : NULL;
        if (v == NULL)
            return GW_EINVAL;
        rc = dec_str(d, k, &kv[i].key, 0);
        if (rc == GW_OK && kv[i].key == NULL)
            rc = fail(d, k, "empty key");
        if (rc != GW_OK)
            return rc;
        old = path_push(d, kv[i].key, 0);
        rc = dec_str(d, v, &kv[i].value, 0);
        if (rc == GW_OK && kv[i].value == NULL)
            kv[i].value = "";
        if (rc != GW_OK)
            return rc;
        path_restore(d, old);
    }
    *out = kv;
    *count = i;
    return kvs_no_dup(d, n, kv, i);
}

/* ==== structs ==== */

/* Allocates and decodes one struct of schema <s>; returns it or NULL. */
static void *dec_new(struct dec *d, yaml_node_t *n,
                     const struct cm_config__schema *s, int *rc)
{
    void *obj = cm_config__alloc(d->cfg, s->size);

    if (obj == NULL) {
        *rc = oom(d);
        return NULL;
    }
    cm_config__init(s, obj);
    *rc = mark_obj(d, obj, n);
    if (*rc == GW_OK)
        *rc = dec_obj(d, n, s, obj);
    return *rc == GW_OK ? obj : NULL;
}

static int dec_list(struct dec *d, yaml_node_t *n,
                    const struct cm_config__field *f, void *obj)
{
    const struct cm_config__schema *s = f->sub;
    yaml_node_item_t *it;
    yaml_node_t *item;
    char *arr;
    size_t i = 0, old;
    int rc;

    if (is_null(n))
        return GW_OK;
    if (n->type != YAML_SEQUENCE_NODE)
        return fail(d, n, "expected a list, got %s", node_type_str(n));
    it = n->data.sequence.items.start;
    arr = cm_config__alloc(d->cfg, s->size * n_items(n));
    if (arr == NULL)
        return oom(d);
    for (; it < n->data.sequence.items.top; it++, i++) {
        old = path_push(d, NULL, (long)i);
        item = node_at(d, *it, n);
        if (item == NULL)
            return GW_EINVAL;
        cm_config__init(s, arr + i * s->size);
        rc = mark_obj(d, arr + i * s->size, item);
        if (rc == GW_OK)
            rc = dec_obj(d, item, s, arr + i * s->size);
        if (rc != GW_OK)
            return rc;
        path_restore(d, old);
    }
    *(void **)((char *)obj + f->off) = arr;
    *(size_t *)((char *)obj + f->count_off) = i;
    return GW_OK;
}

/* The name of a defined item: not empty, no '@'. */
static int dec_name(struct dec *d, yaml_node_t *k, const char **name)
{
    int rc = dec_str(d, k, name, 0);

    if (rc != GW_OK)
        return rc;
    if (*name == NULL || **name == '\0')
        return fail(d, k, "empty name");
    if (strchr(*name, '@') != NULL)
        return fail(d, k, "name \"%s\" may not contain '@'", *name);
    return GW_OK;
}

static int dec_named(struct dec *d, yaml_node_t *n,
                     const struct cm_config__field *f, void *obj)
{
    const struct cm_config__schema *s = f->sub;
    yaml_node_pair_t *p;
    yaml_node_t *k, *v;
    char *arr, *elem;
    size_t i = 0, old;
    int rc;

    if (is_null(n))
        return GW_OK;
    if (n->type != YAML_MAPPING_NODE)
        return fail(d, n, "expected a mapping of names, got %s",
                    node_type_str(n));
    p = n->data.mapping.pairs.start;
    arr = cm_config__alloc(d->cfg, s->size * n_pairs(n));
    if (arr == NULL)
        return oom(d);
    for (; p < n->data.mapping.pairs.top; p++, i++) {
        elem = arr + i * s->size;
        k = node_at(d, p->key, n);
        v = k ? node_at(d, p->value, n) : NULL;
        if (v == NULL)
            return GW_EINVAL;
        rc = dec_name(d, k, (const char **)elem);
        if (rc != GW_OK)
            return rc;
        old = path_push(d, *(const char **)elem, 0);
        cm_config__init(s, elem);
        rc = mark_obj(d, elem, v);
        if (rc == GW_OK)
            rc = dec_obj(d, v, s, elem);
        if (rc != GW_OK)
            return rc;
        path_restore(d, old);
    }
    *(void **)((char *)obj + f->off) = arr;
    *(size_t *)((char *)obj + f->count_off) = i;
    return GW_OK;
}

/* healthCheck: {} of a failover: present, and empty. */
static int dec_present(struct dec *d, yaml_node_t *n, bool *out)
{
    yaml_node_t *k;

    if (!is_null(n) && n->type != YAML_MAPPING_NODE)
        return fail(d, n, "expected a mapping, got %s", node_type_str(n));
    if (n->type == YAML_MAPPING_NODE &&
        n->data.mapping.pairs.top != n->data.mapping.pairs.start) {
        k = node_at(d, n->data.mapping.pairs.start->key, n);
        if (k == NULL)
            return GW_EINVAL;
        if (k->type != YAML_SCALAR_NODE)
            return fail(d, k, "unknown key");
        return fail(d, k, "unknown key \"%.64s\"", k->data.scalar.value);
    }
    *out = true;
    return mark_val(d, out, n);
}

static int dec_field(struct dec *d, yaml_node_t *v,
                     const struct cm_config__field *f, void *obj)
{
    void *at = (char *)obj + f->off;
    void *sub;
    int rc = GW_OK;

    switch (f->type) {
    case CM_CONFIG__F_STR:
    case CM_CONFIG__F_REF:
    case CM_CONFIG__F_PEM:
        return dec_str(d, v, at,
                       f->type == CM_CONFIG__F_REF   ? 1
                       : f->type == CM_CONFIG__F_PEM ? 2
                                                     : 0);
    case CM_CONFIG__F_INT:
        return dec_int(d, v, at);
    case CM_CONFIG__F_BOOL:
        return dec_bool(d, v, at);
    case CM_CONFIG__F_DUR:
        return dec_dur(d, v, at);
    case CM_CONFIG__F_STRS:
    case CM_CONFIG__F_REFS:
        return dec_strs(d, v, at, (size_t *)((char *)obj + f->count_off),
                        f->type == CM_CONFIG__F_REFS);
    case CM_CONFIG__F_KVS:
        return dec_kvs(d, v, at, (size_t *)((char *)obj + f->count_off));
    case CM_CONFIG__F_EMBED:
        return dec_obj(d, v, f->sub, at);
    case CM_CONFIG__F_PTR:
        sub = dec_new(d, v, f->sub, &rc);
        *(void **)at = sub;
        return rc;
    case CM_CONFIG__F_LIST:
        return dec_list(d, v, f, obj);
    case CM_CONFIG__F_NAMED:
        return dec_named(d, v, f, obj);
    case CM_CONFIG__F_PRESENT:
        return dec_present(d, v, at);
    }
    return fail(d, v, "internal error: field type %d", (int)f->type);
}

/* Looks <key> up in <s>'s fields, case-insensitively as Traefik does. */
static int field_index(const struct cm_config__schema *s, const char *key)
{
    size_t i;

    for (i = 0; i < s->n_fields; i++)
        if (strcasecmp(s->fields[i].key, key) == 0)
            return (int)i;
    return -1;
}

static int variant_index(const struct cm_config__schema *s, const char *key)
{
    size_t i;

    for (i = 0; i < s->n_variants; i++)
        if (strcasecmp(s->variants[i].key, key) == 0)
            return (int)i;
    return -1;
}

/* Reads the key node of <p>; returns it (a scalar) or NULL. */
static yaml_node_t *key_of(struct dec *d, yaml_node_t *n, yaml_node_pair_t *p,
                           int *rc)
{
    yaml_node_t *k = node_at(d, p->key, n);

    *rc = GW_EINVAL;
    if (k == NULL)
        return NULL;
    if (k->type != YAML_SCALAR_NODE) {
        fail(d, k, "expected a key, got %s", node_type_str(k));
        return NULL;
    }
    *rc = GW_OK;
    return k;
}

static const char *kinds_of(const struct cm_config__schema *s, char *buf,
                            size_t len)
{
    size_t i, n = 0;

    buf[0] = '\0';
    for (i = 0; i < s->n_variants && n < len; i++)
        n += (size_t)snprintf(buf + n, len - n, "%s%s", i ? ", " : "",
                              s->variants[i].key);
    return buf;
}

/* A one-of object: exactly one key, naming its kind. */
static int dec_oneof(struct dec *d, yaml_node_t *n,
                     const struct cm_config__schema *s, void *obj)
{
    const struct cm_config__variant *var;
    yaml_node_pair_t *p = n->data.mapping.pairs.start;
    yaml_node_t *k, *v;
    char kinds[256];
    size_t old;
    int i, rc;

    if (p == n->data.mapping.pairs.top)
        return fail(d, n, "expected one of %s",
                    kinds_of(s, kinds, sizeof(kinds)));
    for (; p < n->data.mapping.pairs.top; p++) {
        k = key_of(d, n, p, &rc);
        if (k == NULL)
            return rc;
        i = variant_index(s, (const char *)k->data.scalar.value);
        if (i < 0) {
            path_push(d, (const char *)k->data.scalar.value, 0);
            return fail(d, k, "unknown key \"%.64s\" (want one of %s)",
                        k->data.scalar.value,
                        kinds_of(s, kinds, sizeof(kinds)));
        }
        var = &s->variants[i];
        if (s->get_kind(obj) != 0)
            return fail(d, k, "more than one kind: %s and %s",
                        cm_config__variant_of(s, s->get_kind(obj))->key,
                        var->key);
        s->set_kind(obj, var->kind);
        v = node_at(d, p->value, n);
        if (v == NULL)
            return GW_EINVAL;
        old = path_push(d, var->key, 0);
        cm_config__init(var->sub, (char *)obj + s->union_off);
        rc = dec_obj(d, v, var->sub, (char *)obj + s->union_off);
        if (rc != GW_OK)
            return rc;
        path_restore(d, old);
    }
    return GW_OK;
}

static int dec_obj(struct dec *d, yaml_node_t *n,
                   const struct cm_config__schema *s, void *obj)
{
    yaml_node_pair_t *p;
    yaml_node_t *k, *v;
    uint64_t seen = 0;
    size_t old;
    int i, rc;

    if (is_null(n) && s->n_variants == 0)
        return GW_OK; /* "key:" alone: the struct with its defaults */
    if (n->type != YAML_MAPPING_NODE)
        return fail(d, n, "expected a mapping, got %s", node_type_str(n));
    if (s->n_variants > 0)
        return dec_oneof(d, n, s, obj);
    for (p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        k = key_of(d, n, p, &rc);
        if (k == NULL)
            return rc;
        i = field_index(s, (const char *)k->data.scalar.value);
        if (i < 0) {
            path_push(d, (const char *)k->data.scalar.value, 0);
            return fail(d, k, "unknown key \"%.64s\"", k->data.scalar.value);
        }
        if (seen & ((uint64_t)1 << i))
            return fail(d, k, "duplicate key \"%s\"", s->fields[i].key);
        seen |= (uint64_t)1 << i;
        v = node_at(d, p->value, n);
        if (v == NULL)
            return GW_EINVAL;
        old = path_push(d, s->fields[i].key, 0);
        rc = dec_field(d, v, &s->fields[i], obj);
        if (rc != GW_OK)
            return rc;
        path_restore(d, old);
    }
    return GW_OK;
}

/* ==== documents ==== */

static int yaml_fail(yaml_parser_t *p, char *err, size_t errlen)
{
    if (p->error == YAML_MEMORY_ERROR)
        return cm_err_set(err, errlen, GW_ENOMEM, "yaml: out of memory");
    return cm_err_set(err, errlen, GW_EINVAL,
                      "yaml: line %zu, column %zu: %s%s%s",
                      p->problem_mark.line + 1, p->problem_mark.column + 1,
                      p->problem ? p->problem : "syntax error",
                      p->context ? " " : "", p->context ? p->context : "");
}

/* Loads the first document of <buf> into <doc>; a second one is an error. */
static int load_doc(const char *buf, size_t len, yaml_document_t *doc,
                    char *err, size_t errlen)
{
    yaml_parser_t p;
    yaml_document_t extra;
    yaml_node_t *root;
    int rc = GW_OK;

    if (!yaml_parser_initialize(&p))
        return cm_err_set(err, errlen, GW_ENOMEM, "yaml: out of memory");
    yaml_parser_set_input_string(&p, (const unsigned char *)buf, len);
    if (!yaml_parser_load(&p, doc)) {
        rc = yaml_fail(&p, err, errlen);
        yaml_parser_delete(&p);
        return rc;
    }
    if (!yaml_parser_load(&p, &extra)) {
        rc = yaml_fail(&p, err, errlen);
    } else {
        root = yaml_document_get_root_node(&extra);
        if (root != NULL)
            rc = cm_err_set(err, errlen, GW_EINVAL,
                            "yaml: line %zu: only one document is allowed",
                            root->start_mark.line + 1);
        yaml_document_delete(&extra);
    }
    if (rc != GW_OK)
        yaml_document_delete(doc);
    yaml_parser_delete(&p);
    return rc;
}

/* ==== JSON that libyaml refuses ==== */

static int hexval(const char *s)
{
    int v = 0, i;

    for (i = 0; i < 4; i++) {
        v <<= 4;
        if (s[i] >= '0' && s[i] <= '9')
            v |= s[i] - '0';
        else if ((s[i] | 0x20) >= 'a' && (s[i] | 0x20) <= 'f')
            v |= (s[i] | 0x20) - 'a' + 10;
        else
            return -1;
    }
    return v;
}

/* If <s> at <i> is "\uD8xx\uDCxx", writes "\UXXXXXXXX" and returns 12. */
static size_t fix_pair(const char *s, size_t i, size_t len, char *out)
{
    int hi, lo;

    if (i + 12 > len || s[i + 1] != 'u' || s[i + 6] != '\\' || s[i + 7] != 'u')
        return 0;
    hi = hexval(s + i + 2);
    lo = hexval(s + i + 8);
    if (hi < 0xd800 || hi > 0xdbff || lo < 0xdc00 || lo > 0xdfff)
        return 0;
    snprintf(out, 11, "\\U%08X",
             0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00));
    return 12;
}

/* Rewrites valid JSON into what libyaml reads with the same meaning and
 * the same line:column of every token: tabs outside strings become spaces,
 * surrogate pairs "\uD83D\uDE00" become "\U0001F600" with the two bytes
 * saved put back as spaces after the string's closing quote. <out> has
 * <len> bytes. */
static void json_fixup(const char *s, size_t len, char *out)
{
    size_t i = 0, o = 0, pad = 0, n;
    int in_str = 0;

    while (i < len) {
        if (!in_str) {
            in_str = s[i] == '"';
            out[o++] = s[i] == '\t' ? ' ' : s[i];
            i++;
        } else if (s[i] == '\\') {
            n = fix_pair(s, i, len, out + o);
            if (n == 0) {
                out[o++] = s[i++];
                out[o++] = s[i++]; /* valid JSON: an escape has 2+ bytes */
                continue;
            }
            i += n;
            o += 10;
            pad += 2;
        } else {
            in_str = s[i] != '"';
            out[o++] = s[i++];
            for (; !in_str && pad > 0; pad--)
                out[o++] = ' ';
        }
    }
}

/* Returns new (free()) when <buf> is JSON that needs json_fixup(). */
static char *json_fixed(const char *buf, size_t len)
{
    json_error_t jerr;
    json_t *j;
    char *out;

    j = json_loadb(buf, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
    if (j == NULL)
        return NULL;
    json_decref(j);
    out = malloc(len ? len : 1);
    if (out != NULL)
        json_fixup(buf, len, out);
    return out;
}

static int load_any(const char *buf, size_t len, yaml_document_t *doc,
                    char *err, size_t errlen)
{
    char *fixed;
    int rc = load_doc(buf, len, doc, err, errlen);

    if (rc != GW_EINVAL)
        return rc;
    fixed = json_fixed(buf, len);
    if (fixed == NULL)
        return rc;
    if (load_doc(fixed, len, doc, NULL, 0) == GW_OK)
        rc = GW_OK;
    free(fixed);
    return rc;
}

static int decode(struct cm_config *cfg, yaml_document_t *doc, char *err,
                  size_t errlen)
{
    struct dec d = {.cfg = cfg, .doc = doc, .err = err, .errlen = errlen};
    yaml_node_t *root = yaml_document_get_root_node(doc);
    size_t nodes = (size_t)(doc->nodes.top - doc->nodes.start);

    d.visits_left = nodes * VISITS_PER_NODE + VISITS_MIN;
    if (root == NULL)
        return GW_OK;
    return dec_obj(&d, root, &cm_config__root_schema, cfg);
}

struct cm_config *cm_config_parse(const char *buf, size_t len, char *err,
                                  size_t errlen)
{
    struct cm_config *cfg;
    yaml_document_t doc;
    int rc;

    cfg = calloc(1, sizeof(*cfg));
    if (cfg == NULL) {
        cm_err_set(err, errlen, GW_ENOMEM, "out of memory");
        return NULL;
    }
    cm_config__init(&cm_config__root_schema, cfg);
    rc = load_any(buf, len, &doc, err, errlen);
    if (rc != GW_OK)
        goto fail;
    rc = decode(cfg, &doc, err, errlen);
    yaml_document_delete(&doc);
    if (rc != GW_OK)
        goto fail;
    if (cm_config_validate(cfg, err, errlen) != GW_OK)
        goto fail;
    if (cm_config__index_build(cfg) != GW_OK) {
        cm_err_set(err, errlen, GW_ENOMEM, "out of memory");
        goto fail;
    }
    return cfg;
fail:
    cm_config_free(cfg);
    return NULL;
}
