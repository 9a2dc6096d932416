/*
 * pbjson_test.c -- unit tests of the proto3 JSON printer over Envoy and
 * well-known messages built by hand.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "common/pbjson/pbjson.h"
#include "envoy/config/cluster/v3/cluster.pb-c.h"
#include "envoy/config/route/v3/route_components.pb-c.h"
#include "envoy/extensions/upstreams/http/v3/http_protocol_options.pb-c.h"
#include "google/protobuf/struct.pb-c.h"
#include "google/protobuf/timestamp.pb-c.h"

static void assert_json(const ProtobufCMessage *m, const char *want)
{
    char *got = cm_pbjson_print(m, 0);
    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
}

static void test_field_name(void **state)
{
    char b[64];
    (void)state;
    assert_string_equal(cm_pbjson_field_name("route_config_name", b, 64),
                        "routeConfigName");
    assert_string_equal(cm_pbjson_field_name("name", b, 64), "name");
    assert_string_equal(cm_pbjson_field_name("http2_protocol_options", b, 64),
                        "http2ProtocolOptions");
    assert_string_equal(cm_pbjson_field_name("abc_def", b, 4), "abc");
}

static void test_scalars_enums_defaults(void **state)
{
    (void)state;
    Envoy__Config__Cluster__V3__Cluster c =
        ENVOY__CONFIG__CLUSTER__V3__CLUSTER__INIT;
    /* all defaults: nothing printed */
    assert_json(&c.base, "{}");
    c.name = "svc";
    c.lb_policy = ENVOY__CONFIG__CLUSTER__V3__CLUSTER__LB_POLICY__RING_HASH;
    c.cluster_discovery_type_case =
        ENVOY__CONFIG__CLUSTER__V3__CLUSTER__CLUSTER_DISCOVERY_TYPE_TYPE;
    /* a oneof member is printed even at its default value */
    c.type = ENVOY__CONFIG__CLUSTER__V3__CLUSTER__DISCOVERY_TYPE__STATIC;
    Google__Protobuf__Duration d = GOOGLE__PROTOBUF__DURATION__INIT;
    d.seconds = 1;
    d.nanos = 500000000;
    c.connect_timeout = &d;
    Google__Protobuf__UInt32Value w = GOOGLE__PROTOBUF__UINT32_VALUE__INIT;
    c.max_requests_per_connection = &w; /* wrapper of 0: printed as 0 */
    assert_json(&c.base, "{\"name\":\"svc\",\"type\":\"STATIC\","
                         "\"connectTimeout\":\"1.500s\","
                         "\"lbPolicy\":\"RING_HASH\","
                         "\"maxRequestsPerConnection\":0}");
}

static void test_duration_forms(void **state)
{
    (void)state;
    Google__Protobuf__Duration d = GOOGLE__PROTOBUF__DURATION__INIT;
    assert_json(&d.base, "\"0s\"");
    d.seconds = 30;
    assert_json(&d.base, "\"30s\"");
    d.seconds = 0;
    d.nanos = 1500;
    assert_json(&d.base, "\"0.000001500s\"");
    d.nanos = 2000;
    assert_json(&d.base, "\"0.000002s\"");
    d.seconds = -1;
    d.nanos = -250000000;
    assert_json(&d.base, "\"-1.250s\"");
    Google__Protobuf__Timestamp t = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    t.seconds = 86400;
    t.nanos = 10000000;
    assert_json(&t.base, "\"1970-01-02T00:00:00.010Z\"");
}

static void test_int64_bytes_repeated(void **state)
{
    (void)state;
    Envoy__Config__Route__V3__RetryPolicy rp =
        ENVOY__CONFIG__ROUTE__V3__RETRY_POLICY__INIT;
    rp.host_selection_retry_max_attempts = -5;
    uint32_t codes[] = {502, 503};
    rp.n_retriable_status_codes = 2;
    rp.retriable_status_codes = codes;
    rp.retry_on = "reset";
    assert_json(&rp.base, "{\"retryOn\":\"reset\","
                          "\"hostSelectionRetryMaxAttempts\":\"-5\","
                          "\"retriableStatusCodes\":[502,503]}");

    Envoy__Config__Core__V3__HeaderValue hv =
        ENVOY__CONFIG__CORE__V3__HEADER_VALUE__INIT;
    hv.key = "k";
    uint8_t raw[] = {0xff, 0x00, 'a', 'b'};
    hv.raw_value.data = raw;
    hv.raw_value.len = 4;
    assert_json(&hv.base, "{\"key\":\"k\",\"rawValue\":\"/wBhYg==\"}");
    hv.raw_value.len = 1;
    assert_json(&hv.base, "{\"key\":\"k\",\"rawValue\":\"/w==\"}");
    hv.raw_value.len = 0;
    hv.value = "\xff";
    assert_json(&hv.base, "{\"key\":\"k\",\"value\":\"?\"}");
}

static void test_map_and_any(void **state)
{
    (void)state;
    Envoy__Extensions__Upstreams__Http__V3__HttpProtocolOptions__ExplicitHttpConfig
        e = ENVOY__EXTENSIONS__UPSTREAMS__HTTP__V3__HTTP_PROTOCOL_OPTIONS__EXPLICIT_HTTP_CONFIG__INIT;
    Envoy__Config__Core__V3__Http2ProtocolOptions h2 =
        ENVOY__CONFIG__CORE__V3__HTTP2_PROTOCOL_OPTIONS__INIT;
    e.protocol_config_case =
        ENVOY__EXTENSIONS__UPSTREAMS__HTTP__V3__HTTP_PROTOCOL_OPTIONS__EXPLICIT_HTTP_CONFIG__PROTOCOL_CONFIG_HTTP2_PROTOCOL_OPTIONS;
    e.http2_protocol_options = &h2;
    Envoy__Extensions__Upstreams__Http__V3__HttpProtocolOptions o =
        ENVOY__EXTENSIONS__UPSTREAMS__HTTP__V3__HTTP_PROTOCOL_OPTIONS__INIT;
    o.upstream_protocol_options_case =
        ENVOY__EXTENSIONS__UPSTREAMS__HTTP__V3__HTTP_PROTOCOL_OPTIONS__UPSTREAM_PROTOCOL_OPTIONS_EXPLICIT_HTTP_CONFIG;
    o.explicit_http_config = &e;
    uint8_t buf[64];
    size_t n = protobuf_c_message_pack(&o.base, buf);

    Google__Protobuf__Any a = GOOGLE__PROTOBUF__ANY__INIT;
    a.type_url = "type.googleapis.com/"
                 "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";
    a.value.data = buf;
    a.value.len = n;
    Envoy__Config__Cluster__V3__Cluster__TypedExtensionProtocolOptionsEntry en =
        ENVOY__CONFIG__CLUSTER__V3__CLUSTER__TYPED_EXTENSION_PROTOCOL_OPTIONS_ENTRY__INIT;
    en.key = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";
    en.value = &a;
    Envoy__Config__Cluster__V3__Cluster__TypedExtensionProtocolOptionsEntry
        *ens[] = {&en};
    Envoy__Config__Cluster__V3__Cluster c =
        ENVOY__CONFIG__CLUSTER__V3__CLUSTER__INIT;
    c.n_typed_extension_protocol_options = 1;
    c.typed_extension_protocol_options = ens;

    /* not registered yet: value stays base64 */
    char *s = cm_pbjson_print(&c.base, 0);
    assert_non_null(strstr(s, "\"value\":\"GgISAA==\""));
    free(s);

    assert_int_equal(
        cm_pbjson_register(
            &envoy__extensions__upstreams__http__v3__http_protocol_options__descriptor),
        0);
    assert_json(&c.base,
                "{\"typedExtensionProtocolOptions\":{"
                "\"envoy.extensions.upstreams.http.v3.HttpProtocolOptions\":{"
                "\"@type\":\"type.googleapis.com/"
                "envoy.extensions.upstreams.http.v3.HttpProtocolOptions\","
                "\"explicitHttpConfig\":{\"http2ProtocolOptions\":{}}}}}");
    /* nested types were registered too */
    assert_non_null(
        cm_pbjson_lookup("envoy.config.core.v3.Http2ProtocolOptions"));
    assert_null(cm_pbjson_lookup("no.such.Type"));

    /* an Any of a well-known type: {"@type", "value"} */
    assert_int_equal(
        cm_pbjson_register(&google__protobuf__duration__descriptor), 0);
    Google__Protobuf__Duration d = GOOGLE__PROTOBUF__DURATION__INIT;
    d.seconds = 2;
    n = protobuf_c_message_pack(&d.base, buf);
    a.type_url = "type.googleapis.com/google.protobuf.Duration";
    a.value.len = n;
    assert_json(&a.base, "{\"@type\":\"type.googleapis.com/"
                         "google.protobuf.Duration\",\"value\":\"2s\"}");
    /* garbage bytes of a known type: base64 */
    uint8_t bad[] = {0xff};
    a.value.data = bad;
    a.value.len = 1;
    assert_json(&a.base, "{\"@type\":\"type.googleapis.com/"
                         "google.protobuf.Duration\",\"value\":\"/w==\"}");
}

static void test_struct(void **state)
{
    (void)state;
    Google__Protobuf__Value v1 = GOOGLE__PROTOBUF__VALUE__INIT;
    v1.kind_case = GOOGLE__PROTOBUF__VALUE__KIND_NUMBER_VALUE;
    v1.number_value = 1.5;
    Google__Protobuf__Value v2 = GOOGLE__PROTOBUF__VALUE__INIT;
    v2.kind_case = GOOGLE__PROTOBUF__VALUE__KIND_NULL_VALUE;
    Google__Protobuf__Struct__FieldsEntry e1 =
        GOOGLE__PROTOBUF__STRUCT__FIELDS_ENTRY__INIT;
    e1.key = "a";
    e1.value = &v1;
    Google__Protobuf__Struct__FieldsEntry e2 =
        GOOGLE__PROTOBUF__STRUCT__FIELDS_ENTRY__INIT;
    e2.key = "b";
    e2.value = &v2;
    Google__Protobuf__Struct__FieldsEntry *es[] = {&e1, &e2};
    Google__Protobuf__Struct st = GOOGLE__PROTOBUF__STRUCT__INIT;
    st.n_fields = 2;
    st.fields = es;
    assert_json(&st.base, "{\"a\":1.5,\"b\":null}");
}

static void test_pretty(void **state)
{
    (void)state;
    Envoy__Config__Core__V3__HeaderValue hv =
        ENVOY__CONFIG__CORE__V3__HEADER_VALUE__INIT;
    hv.key = "k";
    char *s = cm_pbjson_print(&hv.base, CM_PBJSON_PRETTY);
    assert_string_equal(s, "{\n  \"key\": \"k\"\n}");
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_field_name),
        cmocka_unit_test(test_scalars_enums_defaults),
        cmocka_unit_test(test_duration_forms),
        cmocka_unit_test(test_int64_bytes_repeated),
        cmocka_unit_test(test_map_and_any),
        cmocka_unit_test(test_struct),
        cmocka_unit_test(test_pretty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
