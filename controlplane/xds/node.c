/*
 * node.c -- renders a google.protobuf.Struct (Node.metadata) as compact JSON
 * for the node record, with jansson. Stateless; any thread.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controlplane/xds/stream.h"
#include "google/protobuf/struct.pb-c.h"

static json_t *value_json(const Google__Protobuf__Value *v, int depth);

static json_t *struct_json(const Google__Protobuf__Struct *st, int depth)
{
    json_t *obj = json_object();
    for (size_t i = 0; obj != NULL && i < st->n_fields; i++) {
        const Google__Protobuf__Struct__FieldsEntry *f = st->fields[i];
        json_t *v = value_json(f->value, depth + 1);
        json_object_set_new(obj, f->key != NULL ? f->key : "",
                            v != NULL ? v : json_null());
    }
    return obj;
}

static json_t *value_json(const Google__Protobuf__Value *v, int depth)
{
    if (v == NULL || depth > 32)
        return json_null();
    switch (v->kind_case) {
    case GOOGLE__PROTOBUF__VALUE__KIND_NUMBER_VALUE:
        return json_real(v->number_value);
    case GOOGLE__PROTOBUF__VALUE__KIND_STRING_VALUE:
        return json_string(v->string_value);
    case GOOGLE__PROTOBUF__VALUE__KIND_BOOL_VALUE:
        return json_boolean(v->bool_value);
    case GOOGLE__PROTOBUF__VALUE__KIND_STRUCT_VALUE:
        return v->struct_value != NULL ? struct_json(v->struct_value, depth)
                                       : json_object();
    case GOOGLE__PROTOBUF__VALUE__KIND_LIST_VALUE: {
        json_t *arr = json_array();
        for (size_t i = 0; arr != NULL && v->list_value != NULL &&
                           i < v->list_value->n_values;
             i++)
            json_array_append_new(
                arr, value_json(v->list_value->values[i], depth + 1));
        return arr;
    }
    default:
        return json_null();
    }
}

void cp_xds__struct_json(const ProtobufCMessage *msg, char *out, size_t len)
{
    const Google__Protobuf__Struct *st = (const Google__Protobuf__Struct *)msg;
    json_t *obj = struct_json(st, 0);
    char *s =
        obj != NULL ? json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    /* too long: an empty object rather than broken JSON */
    snprintf(out, len, "%s", s != NULL && strlen(s) < len ? s : "{}");
    free(s);
    json_decref(obj);
}
