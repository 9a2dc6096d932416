/*
 * pbjson.c -- the proto3 JSON printer over protobuf-c descriptors, and the
 * registry of message types used to expand google.protobuf.Any. Reads
 * messages only; never modifies or frees what it is given. The registry
 * (below) is the module's only shared state, guarded by a mutex.
 */
#include "common/pbjson/pbjson.h"

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ==== Registry ==== */

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static const ProtobufCMessageDescriptor **reg_types;
static size_t reg_n, reg_cap;

static const ProtobufCMessageDescriptor *reg_find_locked(const char *name)
{
    for (size_t i = 0; i < reg_n; i++)
        if (strcmp(reg_types[i]->name, name) == 0)
            return reg_types[i];
    return NULL;
}

static int reg_add_locked(const ProtobufCMessageDescriptor *d)
{
    if (reg_find_locked(d->name) != NULL)
        return 0;
    if (reg_n == reg_cap) {
        size_t cap = reg_cap ? reg_cap * 2 : 64;
        const ProtobufCMessageDescriptor **t =
            realloc(reg_types, cap * sizeof(*t));
        if (t == NULL)
            return GW_ENOMEM;
        reg_types = t;
        reg_cap = cap;
    }
    reg_types[reg_n++] = d;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (f->type != PROTOBUF_C_TYPE_MESSAGE)
            continue;
        int rc = reg_add_locked(f->descriptor);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int cm_pbjson_register(const ProtobufCMessageDescriptor *d)
{
    pthread_mutex_lock(&reg_lock);
    int rc = reg_add_locked(d);
    pthread_mutex_unlock(&reg_lock);
    return rc;
}

const ProtobufCMessageDescriptor *cm_pbjson_lookup(const char *name)
{
    const char *slash = strrchr(name, '/');
    if (slash != NULL)
        name = slash + 1;
    pthread_mutex_lock(&reg_lock);
    const ProtobufCMessageDescriptor *d = reg_find_locked(name);
    pthread_mutex_unlock(&reg_lock);
    return d;
}

/* ==== Small helpers ==== */

char *cm_pbjson_field_name(const char *name, char *buf, size_t len)
{
    size_t o = 0;
    int up = 0;
    if (len == 0)
        return buf;
    for (const char *p = name; *p != '\0' && o + 1 < len; p++) {
        if (*p == '_') {
            up = 1;
            continue;
        }
        char c = *p;
        if (up && c >= 'a' && c <= 'z')
            c = (char)(c - 'a' + 'A');
        up = 0;
        buf[o++] = c;
    }
    buf[o] = '\0';
    return buf;
}

static json_t *base64(const uint8_t *data, size_t len)
{
    static const char tab[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t olen = 4 * ((len + 2) / 3);
    char *out = malloc(olen + 1);
    if (out == NULL)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)data[i] << 16;
        if (i + 1 < len)
            v |= (uint32_t)data[i + 1] << 8;
        if (i + 2 < len)
            v |= data[i + 2];
        out[o++] = tab[(v >> 18) & 63];
        out[o++] = tab[(v >> 12) & 63];
        out[o++] = i + 1 < len ? tab[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < len ? tab[v & 63] : '=';
    }
    out[o] = '\0';
    json_t *j = json_stringn(out, o);
    free(out);
    return j;
}

/* A JSON string of <s>; bytes that are not valid UTF-8 become '?'. */
static json_t *text(const char *s)
{
    json_t *j = json_string(s);
    if (j != NULL || s == NULL)
        return j;
    char *c = strdup(s);
    if (c == NULL)
        return NULL;
    for (char *p = c; *p != '\0'; p++)
        if ((unsigned char)*p >= 0x80)
            *p = '?';
    j = json_string(c);
    free(c);
    return j;
}

static json_t *int64_str(int64_t v)
{
    char b[32];
    snprintf(b, sizeof(b), "%" PRId64, v);
    return json_string(b);
}

static json_t *uint64_str(uint64_t v)
{
    char b[32];
    snprintf(b, sizeof(b), "%" PRIu64, v);
    return json_string(b);
}

static json_t *real(double v)
{
    if (isnan(v))
        return json_string("NaN");
    if (isinf(v))
        return json_string(v > 0 ? "Infinity" : "-Infinity");
    return json_real(v);
}

/* Appends ".fff", ".ffffff" or ".fffffffff" for <nanos> (0 < nanos < 1e9). */
static void frac(char *b, size_t len, int32_t nanos)
{
    if (nanos % 1000000 == 0)
        snprintf(b, len, ".%03d", nanos / 1000000);
    else if (nanos % 1000 == 0)
        snprintf(b, len, ".%06d", nanos / 1000);
    else
        snprintf(b, len, ".%09d", nanos);
}

/* ==== Messages ==== */

static json_t *message(const ProtobufCMessage *m);

static int64_t get_i64(const ProtobufCMessage *m, const char *field)
{
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field_by_name(m->descriptor, field);
    if (f == NULL)
        return 0;
    const char *p = (const char *)m + f->offset;
    if (f->type == PROTOBUF_C_TYPE_INT64)
        return *(const int64_t *)p;
    return *(const int32_t *)p;
}

static json_t *duration(const ProtobufCMessage *m)
{
    int64_t s = get_i64(m, "seconds");
    int32_t n = (int32_t)get_i64(m, "nanos");
    char b[64], f[16] = "";
    int neg = s < 0 || n < 0;
    uint64_t us = s < 0 ? (uint64_t)0 - (uint64_t)s : (uint64_t)s;
    if (n < 0)
        n = -n;
    if (n > 0 && n < 1000000000)
        frac(f, sizeof(f), n);
    snprintf(b, sizeof(b), "%s%" PRIu64 "%ss", neg ? "-" : "", us, f);
    return json_string(b);
}

static json_t *timestamp(const ProtobufCMessage *m)
{
    int64_t s = get_i64(m, "seconds");
    int32_t n = (int32_t)get_i64(m, "nanos");
    time_t t = (time_t)s;
    struct tm tm;
    char b[80], f[16] = "";
    if (gmtime_r(&t, &tm) == NULL)
        return int64_str(s);
    if (n > 0 && n < 1000000000)
        frac(f, sizeof(f), n);
    snprintf(b, sizeof(b), "%04d-%02d-%02dT%02d:%02d:%02d%sZ",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec, f);
    return json_string(b);
}

/* Returns a new JSON value for the single value at <p> of field <f>. */
static json_t *value(const ProtobufCFieldDescriptor *f, const void *p)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        return json_integer(*(const int32_t *)p);
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        return json_integer(*(const uint32_t *)p);
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        return int64_str(*(const int64_t *)p);
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return uint64_str(*(const uint64_t *)p);
    case PROTOBUF_C_TYPE_FLOAT:
        return real(*(const float *)p);
    case PROTOBUF_C_TYPE_DOUBLE:
        return real(*(const double *)p);
    case PROTOBUF_C_TYPE_BOOL:
        return json_boolean(*(const protobuf_c_boolean *)p);
    case PROTOBUF_C_TYPE_ENUM: {
        int v = *(const int *)p;
        const ProtobufCEnumDescriptor *ed = f->descriptor;
        if (strcmp(ed->name, "google.protobuf.NullValue") == 0)
            return json_null();
        const ProtobufCEnumValue *ev =
            protobuf_c_enum_descriptor_get_value(ed, v);
        return ev != NULL ? json_string(ev->name) : json_integer(v);
    }
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char *const *)p;
        return text(s != NULL ? s : "");
    }
    case PROTOBUF_C_TYPE_BYTES: {
        const ProtobufCBinaryData *b = p;
        return base64(b->data, b->len);
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessage *sub = *(ProtobufCMessage *const *)p;
        if (sub == NULL)
            return json_object();
        return message(sub);
    }
    }
    return json_null();
}

static size_t elem_size(const ProtobufCFieldDescriptor *f)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
    case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_ENUM:
        return 4;
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
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(void *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    }
    return 0;
}

/* A map<K, V> field: protobuf-c makes it a repeated "XxxEntry" message
 * with fields key = 1 and value = 2. */
static int is_map(const ProtobufCFieldDescriptor *f)
{
    if (f->label != PROTOBUF_C_LABEL_REPEATED ||
        f->type != PROTOBUF_C_TYPE_MESSAGE)
        return 0;
    const ProtobufCMessageDescriptor *d = f->descriptor;
    size_t nl = strlen(d->short_name);
    return d->n_fields == 2 && nl > 5 &&
           strcmp(d->short_name + nl - 5, "Entry") == 0 &&
           d->fields[0].id == 1 && strcmp(d->fields[0].name, "key") == 0 &&
           d->fields[1].id == 2 && strcmp(d->fields[1].name, "value") == 0;
}

static json_t *map_key(const ProtobufCFieldDescriptor *kf, const void *p)
{
    if (kf->type == PROTOBUF_C_TYPE_STRING)
        return text(*(char *const *)p ? *(char *const *)p : "");
    if (kf->type == PROTOBUF_C_TYPE_BOOL)
        return json_string(*(const protobuf_c_boolean *)p ? "true" : "false");
    json_t *v = value(kf, p);
    if (v != NULL && json_is_integer(v)) {
        char b[32];
        snprintf(b, sizeof(b), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        json_decref(v);
        return json_string(b);
    }
    return v;
}

static json_t *map(const ProtobufCFieldDescriptor *f, size_t n,
                   ProtobufCMessage *const *entries)
{
    const ProtobufCMessageDescriptor *d = f->descriptor;
    json_t *o = json_object();
    if (o == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        const char *e = (const char *)entries[i];
        json_t *k = map_key(&d->fields[0], e + d->fields[0].offset);
        json_t *v = value(&d->fields[1], e + d->fields[1].offset);
        if (k == NULL || v == NULL || !json_is_string(k) ||
            json_object_set_new(o, json_string_value(k), v) != 0) {
            json_decref(k);
            json_decref(o);
            return NULL;
        }
        json_decref(k);
    }
    return o;
}

static json_t *repeated(const ProtobufCFieldDescriptor *f, size_t n,
                        const void *arr)
{
    if (is_map(f))
        return map(f, n, arr);
    json_t *a = json_array();
    size_t sz = elem_size(f);
    for (size_t i = 0; a != NULL && i < n; i++) {
        json_t *v = value(f, (const char *)arr + i * sz);
        if (v == NULL || json_array_append_new(a, v) != 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

/* Whether a proto3 singular (LABEL_NONE, not in a oneof) field holds a
 * non-default value. */
static int non_default(const ProtobufCFieldDescriptor *f, const void *p)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char *const *)p;
        return s != NULL && s[0] != '\0';
    }
    case PROTOBUF_C_TYPE_MESSAGE:
        return *(void *const *)p != NULL;
    case PROTOBUF_C_TYPE_BYTES:
        return ((const ProtobufCBinaryData *)p)->len > 0;
    case PROTOBUF_C_TYPE_FLOAT:
        return *(const float *)p != 0;
    case PROTOBUF_C_TYPE_DOUBLE:
        return *(const double *)p != 0;
    default: {
        static const uint8_t zero[8];
        return memcmp(p, zero, elem_size(f)) != 0;
    }
    }
}

/* Whether field <f> of <m> is present in the JSON. */
static int present(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
    const char *base = (const char *)m;
    const void *p = base + f->offset;
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
        return *(const uint32_t *)(base + f->quantifier_offset) == f->id;
    switch (f->label) {
    case PROTOBUF_C_LABEL_REQUIRED:
        return 1;
    case PROTOBUF_C_LABEL_OPTIONAL:
        if (f->type == PROTOBUF_C_TYPE_MESSAGE ||
            f->type == PROTOBUF_C_TYPE_STRING)
            return *(void *const *)p != NULL;
        return *(const protobuf_c_boolean *)(base + f->quantifier_offset);
    case PROTOBUF_C_LABEL_REPEATED:
        return *(const size_t *)(base + f->quantifier_offset) > 0;
    case PROTOBUF_C_LABEL_NONE:
        return non_default(f, p);
    }
    return 0;
}

static json_t *fields(const ProtobufCMessage *m)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    const char *base = (const char *)m;
    json_t *o = json_object();
    for (unsigned i = 0; o != NULL && i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (!present(m, f))
            continue;
        json_t *v;
        if (f->label == PROTOBUF_C_LABEL_REPEATED)
            v = repeated(f, *(const size_t *)(base + f->quantifier_offset),
                         *(void *const *)(base + f->offset));
        else
            v = value(f, base + f->offset);
        char name[128];
        cm_pbjson_field_name(f->name, name, sizeof(name));
        if (v == NULL || json_object_set_new(o, name, v) != 0) {
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

static int is_wrapper(const char *name)
{
    static const char *const w[] = {
        "DoubleValue", "FloatValue", "Int64Value",  "UInt64Value", "Int32Value",
        "UInt32Value", "BoolValue",  "StringValue", "BytesValue",
    };
    if (strncmp(name, "google.protobuf.", 16) != 0)
        return 0;
    for (size_t i = 0; i < sizeof(w) / sizeof(w[0]); i++)
        if (strcmp(name + 16, w[i]) == 0)
            return 1;
    return 0;
}

static json_t *any(const ProtobufCMessage *m);

static json_t *struct_value(const ProtobufCMessage *m)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    const char *base = (const char *)m;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (present(m, f))
            return value(f, base + f->offset);
    }
    return json_null();
}

/* Special JSON of a well-known type, or NULL with *<special> = 0. */
static json_t *wkt(const ProtobufCMessage *m, int *special)
{
    const char *name = m->descriptor->name;
    const ProtobufCMessageDescriptor *d = m->descriptor;
    *special = 1;
    if (strcmp(name, "google.protobuf.Duration") == 0)
        return duration(m);
    if (strcmp(name, "google.protobuf.Timestamp") == 0)
        return timestamp(m);
    if (strcmp(name, "google.protobuf.Any") == 0)
        return any(m);
    if (is_wrapper(name))
        return value(&d->fields[0], (const char *)m + d->fields[0].offset);
    if (strcmp(name, "google.protobuf.Struct") == 0) {
        const char *base = (const char *)m;
        const ProtobufCFieldDescriptor *f = &d->fields[0];
        return map(f, *(const size_t *)(base + f->quantifier_offset),
                   *(ProtobufCMessage *const *const *)(base + f->offset));
    }
    if (strcmp(name, "google.protobuf.Value") == 0)
        return struct_value(m);
    if (strcmp(name, "google.protobuf.ListValue") == 0) {
        const char *base = (const char *)m;
        const ProtobufCFieldDescriptor *f = &d->fields[0];
        return repeated(f, *(const size_t *)(base + f->quantifier_offset),
                        *(void *const *)(base + f->offset));
    }
    *special = 0;
    return NULL;
}

static json_t *message(const ProtobufCMessage *m)
{
    int special;
    json_t *j = wkt(m, &special);
    if (special)
        return j;
    return fields(m);
}

static const void *any_field(const ProtobufCMessage *m, const char *field)
{
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field_by_name(m->descriptor, field);
    return f != NULL ? (const char *)m + f->offset : NULL;
}

static json_t *any(const ProtobufCMessage *m)
{
    char *const *url = (char *const *)any_field(m, "type_url");
    const ProtobufCBinaryData *val =
        (const ProtobufCBinaryData *)any_field(m, "value");
    if (url == NULL || val == NULL)
        return json_null();
    const char *type_url = *url != NULL ? *url : "";
    const ProtobufCMessageDescriptor *d = cm_pbjson_lookup(type_url);
    ProtobufCMessage *inner = NULL;
    if (d != NULL)
        inner = protobuf_c_message_unpack(d, NULL, val->len, val->data);
    json_t *o, *v;
    if (inner == NULL) {
        o = json_object();
        v = base64(val->data, val->len);
        if (o != NULL && v != NULL)
            json_object_set_new(o, "value", v);
        else
            json_decref(v);
    } else {
        int special;
        v = wkt(inner, &special);
        if (special) {
            o = json_object();
            if (o != NULL && v != NULL)
                json_object_set_new(o, "value", v);
            else
                json_decref(v);
        } else {
            o = fields(inner);
        }
        protobuf_c_message_free_unpacked(inner, NULL);
    }
    if (o == NULL)
        return NULL;
    /* "@type" first: rebuild in order. */
    json_t *r = json_object();
    if (r == NULL || json_object_set_new(r, "@type", text(type_url))) {
        json_decref(o);
        json_decref(r);
        return NULL;
    }
    json_object_update(r, o);
    json_decref(o);
    return r;
}

/* ==== Entry points ==== */

json_t *cm_pbjson_to_json(const ProtobufCMessage *m, int flags)
{
    (void)flags;
    return message(m);
}

char *cm_pbjson_print(const ProtobufCMessage *m, int flags)
{
    json_t *j = cm_pbjson_to_json(m, flags);
    if (j == NULL)
        return NULL;
    size_t jf = JSON_ENCODE_ANY | JSON_PRESERVE_ORDER;
    jf |= (flags & CM_PBJSON_PRETTY) ? JSON_INDENT(2) : JSON_COMPACT;
    char *s = json_dumps(j, jf);
    json_decref(j);
    return s;
}
