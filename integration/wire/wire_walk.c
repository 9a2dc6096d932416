/* integration/wire/wire_walk.c: generic walks over protobuf-c messages, driven
 * by their descriptors: to JSON, field-by-field equality, unknown fields.
 * Owns nothing beyond the call; an Any of a known type is unpacked (and freed)
 * on the way. Knows nothing of Envoy's types except through wire_any_lookup.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "google/protobuf/any.pb-c.h"

#include "integration/wire/wire.h"

#define WIRE_PATH_LEN 512

/* ===== field access ===== */

static size_t elem_size(ProtobufCType type)
{
    switch (type) {
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_DOUBLE:
        return 8;
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_STRING:
        return sizeof(char *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(ProtobufCMessage *);
    default: /* 32-bit integers, enums, float */
        return 4;
    }
}

static const void *member(const ProtobufCMessage *m, unsigned offset)
{
    return (const char *)m + offset;
}

/* Whether a singular proto3 value is its type's default (absent on the wire).
 */
static int is_default(const ProtobufCFieldDescriptor *f, const void *v)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char *const *)v;
        return s == NULL || s[0] == '\0';
    }
    case PROTOBUF_C_TYPE_BYTES:
        return ((const ProtobufCBinaryData *)v)->len == 0;
    case PROTOBUF_C_TYPE_MESSAGE:
        return *(ProtobufCMessage *const *)v == NULL;
    case PROTOBUF_C_TYPE_FLOAT:
        return *(const float *)v == 0;
    case PROTOBUF_C_TYPE_DOUBLE:
        return *(const double *)v == 0;
    case PROTOBUF_C_TYPE_BOOL:
        return *(const protobuf_c_boolean *)v == 0;
    default: {
        static const char zero[8];
        return memcmp(v, zero, elem_size(f->type)) == 0;
    }
    }
}

/* How many values of <f> <m> holds (0 or 1 for a singular field). */
static size_t field_count(const ProtobufCMessage *m,
                          const ProtobufCFieldDescriptor *f)
{
    if (f->label == PROTOBUF_C_LABEL_REPEATED)
        return *(const size_t *)member(m, f->quantifier_offset);
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
        return *(const uint32_t *)member(m, f->quantifier_offset) == f->id;
    if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->quantifier_offset != 0)
        return *(const protobuf_c_boolean *)member(m, f->quantifier_offset) !=
               0;
    return !is_default(f, member(m, f->offset));
}

/* The <i>th value of <f> in <m>. */
static const void *field_elem(const ProtobufCMessage *m,
                              const ProtobufCFieldDescriptor *f, size_t i)
{
    if (f->label != PROTOBUF_C_LABEL_REPEATED)
        return member(m, f->offset);
    return *(char *const *)member(m, f->offset) + i * elem_size(f->type);
}

static int is_map(const ProtobufCFieldDescriptor *f)
{
    const ProtobufCMessageDescriptor *d = f->descriptor;
    size_t n;

    if (f->type != PROTOBUF_C_TYPE_MESSAGE ||
        f->label != PROTOBUF_C_LABEL_REPEATED)
        return 0;
    n = strlen(d->short_name);
    return n > 5 && strcmp(d->short_name + n - 5, "Entry") == 0 &&
           d->n_fields == 2 && strcmp(d->fields[0].name, "key") == 0 &&
           strcmp(d->fields[1].name, "value") == 0;
}

static int is_any(const ProtobufCMessage *m)
{
    return m->descriptor == &google__protobuf__any__descriptor;
}

/* Returns new (free with protobuf_c_message_free_unpacked(.., NULL)) or NULL
 * if <any>'s type is unknown or its bytes do not decode. */
static ProtobufCMessage *any_unpack(const ProtobufCMessage *any)
{
    const Google__Protobuf__Any *a = (const Google__Protobuf__Any *)any;
    const ProtobufCMessageDescriptor *d = wire_any_lookup(a->type_url);

    if (d == NULL)
        return NULL;
    return protobuf_c_message_unpack(d, NULL, a->value.len, a->value.data);
}

/* ===== to JSON ===== */

static json_t *base64(const uint8_t *p, size_t n)
{
    static const char tab[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = malloc(4 * ((n + 2) / 3) + 1);
    size_t i, o = 0;
    json_t *j;

    if (out == NULL)
        return NULL;
    for (i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n)
            v |= p[i + 2];
        out[o++] = tab[v >> 18];
        out[o++] = tab[(v >> 12) & 63];
        out[o++] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? tab[v & 63] : '=';
    }
    out[o] = '\0';
    j = json_string(out);
    free(out);
    return j;
}

static json_t *scalar_json(const ProtobufCFieldDescriptor *f, const void *v)
{
    char buf[32];

    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        return json_integer(*(const int32_t *)v);
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        return json_integer(*(const uint32_t *)v);
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        snprintf(buf, sizeof(buf), "%" PRId64, *(const int64_t *)v);
        return json_string(buf);
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        snprintf(buf, sizeof(buf), "%" PRIu64, *(const uint64_t *)v);
        return json_string(buf);
    case PROTOBUF_C_TYPE_FLOAT:
        return json_real(*(const float *)v);
    case PROTOBUF_C_TYPE_DOUBLE:
        return json_real(*(const double *)v);
    case PROTOBUF_C_TYPE_BOOL:
        return json_boolean(*(const protobuf_c_boolean *)v);
    case PROTOBUF_C_TYPE_ENUM: {
        int n = *(const int *)v;
        const ProtobufCEnumValue *ev =
            protobuf_c_enum_descriptor_get_value(f->descriptor, n);
        return ev ? json_string(ev->name) : json_integer(n);
    }
    case PROTOBUF_C_TYPE_STRING:
        return json_string(*(char *const *)v);
    case PROTOBUF_C_TYPE_BYTES: {
        const ProtobufCBinaryData *b = v;
        return base64(b->data, b->len);
    }
    case PROTOBUF_C_TYPE_MESSAGE:
        return wire_to_json(*(ProtobufCMessage *const *)v);
    }
    return NULL;
}

static int map_to_json(json_t *obj, const ProtobufCMessage *m,
                       const ProtobufCFieldDescriptor *f)
{
    json_t *map = json_object();
    size_t i, n = field_count(m, f);

    if (map == NULL || json_object_set_new(obj, f->name, map) != 0)
        return -1;
    for (i = 0; i < n; i++) {
        const ProtobufCMessage *e =
            *(ProtobufCMessage *const *)field_elem(m, f, i);
        const ProtobufCFieldDescriptor *kf = &e->descriptor->fields[0];
        const ProtobufCFieldDescriptor *vf = &e->descriptor->fields[1];
        json_t *k = scalar_json(kf, member(e, kf->offset));
        const char *key;
        int rc;

        if (k == NULL)
            return -1;
        key = json_is_string(k) ? json_string_value(k) : NULL;
        if (key == NULL) { /* integer keys: decimal, as JSON maps want */
            char buf[32];
            snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT,
                     json_integer_value(k));
            rc = json_object_set_new(map, buf,
                                     scalar_json(vf, member(e, vf->offset)));
        } else {
            rc = json_object_set_new(map, key,
                                     scalar_json(vf, member(e, vf->offset)));
        }
        json_decref(k);
        if (rc != 0)
            return -1;
    }
    return 0;
}

static int field_to_json(json_t *obj, const ProtobufCMessage *m,
                         const ProtobufCFieldDescriptor *f)
{
    size_t i, n = field_count(m, f);
    json_t *arr;

    if (n == 0)
        return 0;
    if (is_map(f))
        return map_to_json(obj, m, f);
    if (f->label != PROTOBUF_C_LABEL_REPEATED)
        return json_object_set_new(obj, f->name,
                                   scalar_json(f, field_elem(m, f, 0)));
    arr = json_array();
    if (arr == NULL || json_object_set_new(obj, f->name, arr) != 0)
        return -1;
    for (i = 0; i < n; i++) {
        if (json_array_append_new(arr, scalar_json(f, field_elem(m, f, i))) !=
            0)
            return -1;
    }
    return 0;
}

json_t *wire_to_json(const ProtobufCMessage *m)
{
    json_t *obj = json_object();
    unsigned i;

    if (obj == NULL)
        return NULL;
    for (i = 0; i < m->descriptor->n_fields; i++) {
        if (field_to_json(obj, m, &m->descriptor->fields[i]) != 0)
            goto fail;
    }
    if (is_any(m) &&
        wire_any_lookup(((const Google__Protobuf__Any *)m)->type_url)) {
        ProtobufCMessage *inner = any_unpack(m);
        json_t *j;

        if (inner == NULL)
            goto fail;
        j = wire_to_json(inner);
        protobuf_c_message_free_unpacked(inner, NULL);
        if (j == NULL || json_object_set_new(obj, "@unpacked", j) != 0)
            goto fail;
    }
    return obj;
fail:
    json_decref(obj);
    return NULL;
}

/* ===== equality ===== */

static int msg_equal(const ProtobufCMessage *a, const ProtobufCMessage *b,
                     char *path, char *why, size_t len);

static int differ(char *why, size_t len, const char *path, const char *what)
{
    snprintf(why, len, "%s: %s", path, what);
    return -1;
}

static int elem_equal(const ProtobufCFieldDescriptor *f, const void *x,
                      const void *y, char *path, char *why, size_t len)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char *const *)x, *t = *(char *const *)y;
        if (strcmp(s ? s : "", t ? t : "") != 0)
            return differ(why, len, path, "strings differ");
        return 0;
    }
    case PROTOBUF_C_TYPE_BYTES: {
        const ProtobufCBinaryData *s = x, *t = y;
        if (s->len != t->len ||
            (s->len && memcmp(s->data, t->data, s->len) != 0))
            return differ(why, len, path, "bytes differ");
        return 0;
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessage *s = *(ProtobufCMessage *const *)x;
        const ProtobufCMessage *t = *(ProtobufCMessage *const *)y;
        if ((s == NULL) != (t == NULL))
            return differ(why, len, path, "message present on one side only");
        return s == NULL ? 0 : msg_equal(s, t, path, why, len);
    }
    case PROTOBUF_C_TYPE_FLOAT:
        return *(const float *)x == *(const float *)y
                   ? 0
                   : differ(why, len, path, "floats differ");
    case PROTOBUF_C_TYPE_DOUBLE:
        return *(const double *)x == *(const double *)y
                   ? 0
                   : differ(why, len, path, "doubles differ");
    case PROTOBUF_C_TYPE_BOOL:
        return !*(const protobuf_c_boolean *)x ==
                       !*(const protobuf_c_boolean *)y
                   ? 0
                   : differ(why, len, path, "bools differ");
    default:
        if (memcmp(x, y, elem_size(f->type)) != 0)
            return differ(why, len, path, "numbers differ");
        return 0;
    }
}

static int field_equal(const ProtobufCMessage *a, const ProtobufCMessage *b,
                       const ProtobufCFieldDescriptor *f, char *path, char *why,
                       size_t len)
{
    size_t n = field_count(a, f), i, at = strlen(path);
    int rc = 0;

    snprintf(path + at, WIRE_PATH_LEN - at, ".%s", f->name);
    if (n != field_count(b, f)) {
        char what[64];
        snprintf(what, sizeof(what), "%zu values vs %zu", n, field_count(b, f));
        rc = differ(why, len, path, what);
    }
    for (i = 0; rc == 0 && i < n; i++) {
        size_t at2 = strlen(path);
        if (f->label == PROTOBUF_C_LABEL_REPEATED)
            snprintf(path + at2, WIRE_PATH_LEN - at2, "[%zu]", i);
        rc = elem_equal(f, field_elem(a, f, i), field_elem(b, f, i), path, why,
                        len);
        path[at2] = '\0';
    }
    path[at] = '\0';
    return rc;
}

static int any_equal(const ProtobufCMessage *a, const ProtobufCMessage *b,
                     char *path, char *why, size_t len)
{
    ProtobufCMessage *x, *y;
    int rc;

    if (!wire_any_lookup(((const Google__Protobuf__Any *)a)->type_url))
        return 0; /* the value bytes were compared as bytes */
    x = any_unpack(a);
    y = any_unpack(b);
    if (x == NULL || y == NULL)
        rc = differ(why, len, path, "Any content does not decode");
    else
        rc = msg_equal(x, y, path, why, len);
    if (x)
        protobuf_c_message_free_unpacked(x, NULL);
    if (y)
        protobuf_c_message_free_unpacked(y, NULL);
    return rc;
}

static int msg_equal(const ProtobufCMessage *a, const ProtobufCMessage *b,
                     char *path, char *why, size_t len)
{
    unsigned i;

    if (a->descriptor != b->descriptor)
        return differ(why, len, path, "different message types");
    for (i = 0; i < a->descriptor->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &a->descriptor->fields[i];
        /* An Any of a known type: compare contents, not encodings. */
        if (is_any(a) && f->type == PROTOBUF_C_TYPE_BYTES &&
            wire_any_lookup(((const Google__Protobuf__Any *)a)->type_url))
            continue;
        if (field_equal(a, b, f, path, why, len) != 0)
            return -1;
    }
    return is_any(a) ? any_equal(a, b, path, why, len) : 0;
}

int wire_equal(const ProtobufCMessage *a, const ProtobufCMessage *b, char *why,
               size_t len)
{
    char path[WIRE_PATH_LEN];

    snprintf(path, sizeof(path), "%s", a->descriptor->short_name);
    return msg_equal(a, b, path, why, len);
}

/* ===== unknown fields ===== */

static int find_unknown(const ProtobufCMessage *m, char *path, char *why,
                        size_t len)
{
    unsigned i;
    size_t j, at = strlen(path);

    if (m->n_unknown_fields > 0) {
        char what[64];
        snprintf(what, sizeof(what), "%u unknown field(s), first tag %u",
                 m->n_unknown_fields, m->unknown_fields[0].tag);
        return differ(why, len, path, what);
    }
    for (i = 0; i < m->descriptor->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &m->descriptor->fields[i];
        size_t n = field_count(m, f);
        if (f->type != PROTOBUF_C_TYPE_MESSAGE)
            continue;
        for (j = 0; j < n; j++) {
            const ProtobufCMessage *sub =
                *(ProtobufCMessage *const *)field_elem(m, f, j);
            snprintf(path + at, WIRE_PATH_LEN - at, ".%s[%zu]", f->name, j);
            if (sub && find_unknown(sub, path, why, len) != 0)
                return -1;
            path[at] = '\0';
        }
    }
    if (is_any(m) &&
        wire_any_lookup(((const Google__Protobuf__Any *)m)->type_url)) {
        ProtobufCMessage *inner = any_unpack(m);
        int rc;
        if (inner == NULL)
            return differ(why, len, path, "Any content does not decode");
        rc = find_unknown(inner, path, why, len);
        protobuf_c_message_free_unpacked(inner, NULL);
        return rc;
    }
    return 0;
}

int wire_no_unknown(const ProtobufCMessage *m, char *why, size_t len)
{
    char path[WIRE_PATH_LEN];

    snprintf(path, sizeof(path), "%s", m->descriptor->short_name);
    return find_unknown(m, path, why, len);
}
