/* integration/wire/wire_walk_test.c: the walker must see what the wire test
 * relies on it to see: unknown fields, a differing value deep inside (Any
 * contents included), and JSON in the format wire_test.js expects. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "envoy/config/core/v3/base.pb-c.h"
#include "envoy/config/route/v3/route_components.pb-c.h"
#include "envoy/extensions/filters/http/router/v3/router.pb-c.h"
#include "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.pb-c.h"
#include "google/protobuf/any.pb-c.h"
#include "integration/wire/wire.h"

static const struct wire_type *type_named(const char *name)
{
    size_t i;

    for (i = 0; i < wire_n_types; i++) {
        if (strcmp(wire_types[i].name, name) == 0)
            return &wire_types[i];
    }
    fail_msg("no type %s", name);
    return NULL;
}

/* Returns new bytes (free with free()), the packing of <m>. */
static uint8_t *pack(const ProtobufCMessage *m, size_t extra, size_t *n)
{
    size_t len = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = malloc(len + extra + 1);

    assert_non_null(buf);
    *n = protobuf_c_message_pack(m, buf);
    return buf;
}

static void test_unknown_field_found(void **state)
{
    const struct wire_type *t = type_named("Router");
    struct wire_arena *a = wire_arena_new();
    static const uint8_t field99[] = {0x98, 0x06,
                                      0x01}; /* field 99, varint 1 */
    char why[256];
    size_t n;
    uint8_t *buf = pack(t->build(a), sizeof(field99), &n);
    ProtobufCMessage *clean = protobuf_c_message_unpack(t->desc, NULL, n, buf);
    ProtobufCMessage *dirty;

    assert_non_null(clean);
    assert_int_equal(wire_no_unknown(clean, why, sizeof(why)), 0);
    memcpy(buf + n, field99, sizeof(field99));
    dirty = protobuf_c_message_unpack(t->desc, NULL, n + sizeof(field99), buf);
    assert_non_null(dirty);
    assert_int_equal(wire_no_unknown(dirty, why, sizeof(why)), -1);
    assert_non_null(strstr(why, "first tag 99"));
    protobuf_c_message_free_unpacked(clean, NULL);
    protobuf_c_message_free_unpacked(dirty, NULL);
    free(buf);
    wire_arena_free(a);
}

static void test_unknown_field_inside_any(void **state)
{
    const struct wire_type *t = type_named("HttpConnectionManager");
    struct wire_arena *a = wire_arena_new();
    Envoy__Extensions__Filters__Network__HttpConnectionManager__V3__HttpConnectionManager
        *h = (void *)t->build(a);
    Google__Protobuf__Any *any = h->http_filters[1]->typed_config;
    uint8_t *grown = malloc(any->value.len + 3);
    char why[512];

    assert_non_null(grown);
    memcpy(grown, any->value.data, any->value.len);
    memcpy(grown + any->value.len, "\x98\x06\x01", 3);
    any->value.data = grown;
    any->value.len += 3;
    assert_int_equal(wire_no_unknown(&h->base, why, sizeof(why)), -1);
    assert_non_null(strstr(why, "http_filters[1]"));
    free(grown);
    wire_arena_free(a);
}

static void test_equal_finds_deep_difference(void **state)
{
    const struct wire_type *t = type_named("RouteConfiguration");
    struct wire_arena *a = wire_arena_new();
    ProtobufCMessage *x = t->build(a);
    Envoy__Config__Route__V3__RouteConfiguration *y = (void *)t->build(a);
    char why[512];

    assert_int_equal(wire_equal(x, &y->base, why, sizeof(why)), 0);
    y->virtual_hosts[0]->routes[0]->match->headers[3]->invert_match = 0;
    assert_int_equal(wire_equal(x, &y->base, why, sizeof(why)), -1);
    assert_string_equal(
        why, "RouteConfiguration.virtual_hosts[0].routes[0].match.headers[3]."
             "invert_match: 1 values vs 0");
    wire_arena_free(a);
}

static void test_equal_looks_inside_any(void **state)
{
    const struct wire_type *t = type_named("HttpConnectionManager");
    const struct wire_type *rt = type_named("Router");
    struct wire_arena *a = wire_arena_new();
    ProtobufCMessage *x = t->build(a);
    Envoy__Extensions__Filters__Network__HttpConnectionManager__V3__HttpConnectionManager
        *y = (void *)t->build(a);
    Envoy__Extensions__Filters__Http__Router__V3__Router *r =
        (void *)rt->build(a);
    Google__Protobuf__Any *any = y->http_filters[1]->typed_config;
    char why[512];
    size_t n;

    r->start_child_span = 0;
    any->value.data = pack(&r->base, 0, &n);
    any->value.len = n;
    assert_int_equal(wire_equal(x, &y->base, why, sizeof(why)), -1);
    assert_non_null(
        strstr(why, "http_filters[1].typed_config.start_child_span"));
    free(any->value.data);
    wire_arena_free(a);
}

static void test_json_format(void **state)
{
    Envoy__Config__Route__V3__RouteMatch m =
        ENVOY__CONFIG__ROUTE__V3__ROUTE_MATCH__INIT;
    Envoy__Config__Route__V3__HeaderMatcher h =
        ENVOY__CONFIG__ROUTE__V3__HEADER_MATCHER__INIT;
    Envoy__Config__Route__V3__HeaderMatcher *hs[] = {&h};
    Envoy__Type__V3__Int64Range r = ENVOY__TYPE__V3__INT64_RANGE__INIT;
    Envoy__Config__Core__V3__HeaderValue hv =
        ENVOY__CONFIG__CORE__V3__HEADER_VALUE__INIT;
    Envoy__Config__Core__V3__HeaderValueOption o =
        ENVOY__CONFIG__CORE__V3__HEADER_VALUE_OPTION__INIT;
    json_t *j, *k;
    char *text;

    m.path_specifier_case =
        ENVOY__CONFIG__ROUTE__V3__ROUTE_MATCH__PATH_SPECIFIER_PREFIX;
    m.prefix =
        (char *)""; /* a oneof member at its default: still on the wire */
    r.start = -10;
    r.end = 10000000000LL;
    h.name = (char *)"x-range";
    h.header_match_specifier_case =
        ENVOY__CONFIG__ROUTE__V3__HEADER_MATCHER__HEADER_MATCH_SPECIFIER_RANGE_MATCH;
    h.range_match = &r;
    m.n_headers = 1;
    m.headers = hs;
    j = wire_to_json(&m.base);
    assert_non_null(j);
    text = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
    assert_string_equal(
        text, "{\"prefix\":\"\",\"headers\":[{\"name\":\"x-range\","
              "\"range_match\":{\"start\":\"-10\",\"end\":\"10000000000\"}}]}");
    free(text);
    json_decref(j);

    hv.key = (char *)"x-raw";
    hv.raw_value.data = (uint8_t *)"\x00\xff raw";
    hv.raw_value.len = 6;
    o.header = &hv;
    o.append_action =
        ENVOY__CONFIG__CORE__V3__HEADER_VALUE_OPTION__HEADER_APPEND_ACTION__ADD_IF_ABSENT;
    j = wire_to_json(&o.base);
    assert_non_null(j);
    k = json_object_get(json_object_get(j, "header"), "raw_value");
    assert_string_equal(json_string_value(k), "AP8gcmF3");
    assert_string_equal(json_string_value(json_object_get(j, "append_action")),
                        "ADD_IF_ABSENT");
    assert_null(json_object_get(json_object_get(j, "header"),
                                "value")); /* "" is absent */
    json_decref(j);
}

static void test_json_unpacks_known_any(void **state)
{
    const struct wire_type *t = type_named("HttpConnectionManager");
    struct wire_arena *a = wire_arena_new();
    json_t *j = wire_to_json(t->build(a));
    json_t *filters, *router, *opaque;

    assert_non_null(j);
    filters = json_object_get(j, "http_filters");
    assert_int_equal(json_array_size(filters), 2);
    opaque = json_object_get(json_array_get(filters, 0), "typed_config");
    router = json_object_get(json_array_get(filters, 1), "typed_config");
    assert_null(
        json_object_get(opaque, "@unpacked")); /* unknown type: bytes only */
    assert_non_null(json_object_get(opaque, "value"));
    assert_true(json_is_true(json_object_get(
        json_object_get(router, "@unpacked"), "start_child_span")));
    /* A BoolValue wrapper holding false: present, and empty. */
    assert_int_equal(json_object_size(json_object_get(j, "add_user_agent")), 0);
    assert_non_null(json_object_get(j, "add_user_agent"));
    json_decref(j);
    wire_arena_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unknown_field_found),
        cmocka_unit_test(test_unknown_field_inside_any),
        cmocka_unit_test(test_equal_finds_deep_difference),
        cmocka_unit_test(test_equal_looks_inside_any),
        cmocka_unit_test(test_json_format),
        cmocka_unit_test(test_json_unpacks_known_any),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
