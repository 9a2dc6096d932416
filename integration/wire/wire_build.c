/* integration/wire/wire_build.c: one richly populated message per covered
 * type (nested messages, every oneof member somewhere, repeated and packed
 * fields, maps, wrappers, Durations, enums, Any with known and unknown
 * contents, empty and default-valued oneof members), and the registry of
 * types the test runs. Everything is allocated in the caller's arena; the
 * values mean nothing beyond exercising the wire format. */
#include <stdarg.h>
#include <string.h>

#include "envoy/config/cluster/v3/cluster.pb-c.h"
#include "envoy/config/endpoint/v3/endpoint.pb-c.h"
#include "envoy/config/listener/v3/listener.pb-c.h"
#include "envoy/config/route/v3/route.pb-c.h"
#include "envoy/extensions/filters/http/router/v3/router.pb-c.h"
#include "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.pb-c.h"
#include "envoy/extensions/transport_sockets/tls/v3/secret.pb-c.h"
#include "envoy/extensions/transport_sockets/tls/v3/tls.pb-c.h"
#include "envoy/extensions/upstreams/http/v3/http_protocol_options.pb-c.h"
#include "envoy/service/discovery/v3/discovery.pb-c.h"
#include "google/protobuf/any.pb-c.h"
#include "google/protobuf/duration.pb-c.h"
#include "google/protobuf/struct.pb-c.h"
#include "google/protobuf/wrappers.pb-c.h"
#include "integration/wire/wire.h"

/* Short names for the generated ones: type, descriptor, constant. */
#define CORE(x)   Envoy__Config__Core__V3__##x
#define CORE_D(x) &envoy__config__core__v3__##x##__descriptor
#define CORE_C(x) ENVOY__CONFIG__CORE__V3__##x
#define RT(x)     Envoy__Config__Route__V3__##x
#define RT_D(x)   &envoy__config__route__v3__##x##__descriptor
#define RT_C(x)   ENVOY__CONFIG__ROUTE__V3__##x
#define LS(x)     Envoy__Config__Listener__V3__##x
#define LS_D(x)   &envoy__config__listener__v3__##x##__descriptor
#define LS_C(x)   ENVOY__CONFIG__LISTENER__V3__##x
#define CL(x)     Envoy__Config__Cluster__V3__##x
#define CL_D(x)   &envoy__config__cluster__v3__##x##__descriptor
#define CL_C(x)   ENVOY__CONFIG__CLUSTER__V3__##x
#define EP(x)     Envoy__Config__Endpoint__V3__##x
#define EP_D(x)   &envoy__config__endpoint__v3__##x##__descriptor
#define EP_C(x)   ENVOY__CONFIG__ENDPOINT__V3__##x
#define HCM(x)                                                                 \
    Envoy__Extensions__Filters__Network__HttpConnectionManager__V3__##x
#define HCM_D(x)                                                               \
    &envoy__extensions__filters__network__http_connection_manager__v3__##x##__descriptor
#define HCM_C(x)                                                               \
    ENVOY__EXTENSIONS__FILTERS__NETWORK__HTTP_CONNECTION_MANAGER__V3__##x
#define UP(x)   Envoy__Extensions__Upstreams__Http__V3__##x
#define UP_D(x) &envoy__extensions__upstreams__http__v3__##x##__descriptor
#define UP_C(x) ENVOY__EXTENSIONS__UPSTREAMS__HTTP__V3__##x
#define TLS(x)  Envoy__Extensions__TransportSockets__Tls__V3__##x
#define TLS_D(x)                                                               \
    &envoy__extensions__transport_sockets__tls__v3__##x##__descriptor
#define TLS_C(x) ENVOY__EXTENSIONS__TRANSPORT_SOCKETS__TLS__V3__##x
#define MT(x)    Envoy__Type__Matcher__V3__##x
#define MT_D(x)  &envoy__type__matcher__v3__##x##__descriptor
#define MT_C(x)  ENVOY__TYPE__MATCHER__V3__##x
#define TY(x)    Envoy__Type__V3__##x
#define TY_D(x)  &envoy__type__v3__##x##__descriptor
#define TY_C(x)  ENVOY__TYPE__V3__##x
#define DS(x)    Envoy__Service__Discovery__V3__##x
#define DS_D(x)  &envoy__service__discovery__v3__##x##__descriptor

#define TYPE_URL_PREFIX  "type.googleapis.com/"
#define UNKNOWN_TYPE_URL TYPE_URL_PREFIX "traefikee.test.v1.Opaque"

/* ===== helpers ===== */

static void *new_msg(struct wire_arena *a, const ProtobufCMessageDescriptor *d)
{
    ProtobufCMessage *m = wire_arena_alloc(a, d->sizeof_message);

    protobuf_c_message_init(d, m);
    return m;
}

/* A string literal or arena string, as protobuf-c's char *. */
static char *lit(const char *s)
{
    return (char *)s;
}

/* An array of <n> pointers (messages or strings), in the arena. */
static void *vec(struct wire_arena *a, size_t n, ...)
{
    void **v = wire_arena_alloc(a, n * sizeof(*v));
    va_list ap;
    size_t i;

    va_start(ap, n);
    for (i = 0; i < n; i++)
        v[i] = va_arg(ap, void *);
    va_end(ap);
    return v;
}

static Google__Protobuf__UInt32Value *u32(struct wire_arena *a, uint32_t v)
{
    Google__Protobuf__UInt32Value *w =
        new_msg(a, &google__protobuf__uint32_value__descriptor);

    w->value = v;
    return w;
}

static Google__Protobuf__BoolValue *bv(struct wire_arena *a, int v)
{
    Google__Protobuf__BoolValue *w =
        new_msg(a, &google__protobuf__bool_value__descriptor);

    w->value = v;
    return w;
}

static Google__Protobuf__Duration *dur(struct wire_arena *a, int64_t s,
                                       int32_t ns)
{
    Google__Protobuf__Duration *d =
        new_msg(a, &google__protobuf__duration__descriptor);

    d->seconds = s;
    d->nanos = ns;
    return d;
}

static ProtobufCBinaryData bin(struct wire_arena *a, const void *p, size_t n)
{
    ProtobufCBinaryData b = {n, wire_arena_dup(a, p, n)};

    return b;
}

/* <m> packed into an Any, type_url from its descriptor. */
static Google__Protobuf__Any *any(struct wire_arena *a,
                                  const ProtobufCMessage *m)
{
    Google__Protobuf__Any *x = new_msg(a, &google__protobuf__any__descriptor);
    size_t n = protobuf_c_message_get_packed_size(m);
    size_t plen = strlen(TYPE_URL_PREFIX), nlen = strlen(m->descriptor->name);
    char *url = wire_arena_alloc(a, plen + nlen + 1);

    memcpy(url, TYPE_URL_PREFIX, plen);
    memcpy(url + plen, m->descriptor->name, nlen + 1);
    x->type_url = url;
    x->value.data = wire_arena_alloc(a, n ? n : 1);
    x->value.len = protobuf_c_message_pack(m, x->value.data);
    return x;
}

/* An Any whose type neither side knows: compared as bytes. */
static Google__Protobuf__Any *any_opaque(struct wire_arena *a, const char *url,
                                         const char *bytes)
{
    Google__Protobuf__Any *x = new_msg(a, &google__protobuf__any__descriptor);

    x->type_url = lit(url);
    x->value = bin(a, bytes, strlen(bytes));
    return x;
}

static Google__Protobuf__Value *val_str(struct wire_arena *a, const char *s)
{
    Google__Protobuf__Value *v =
        new_msg(a, &google__protobuf__value__descriptor);

    v->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_STRING_VALUE;
    v->string_value = lit(s);
    return v;
}

static Google__Protobuf__Struct__FieldsEntry *
sfield(struct wire_arena *a, const char *k, Google__Protobuf__Value *v)
{
    Google__Protobuf__Struct__FieldsEntry *e =
        new_msg(a, &google__protobuf__struct__fields_entry__descriptor);

    e->key = lit(k);
    e->value = v;
    return e;
}

/* {"router": "whoami", "priority": 10.5, "enabled": true, "nothing": null,
 *  "tags": ["a", "b"], "nested": {"k": "v"}} */
static Google__Protobuf__Struct *a_struct(struct wire_arena *a)
{
    Google__Protobuf__Struct *s =
        new_msg(a, &google__protobuf__struct__descriptor);
    Google__Protobuf__Struct *inner =
        new_msg(a, &google__protobuf__struct__descriptor);
    Google__Protobuf__ListValue *list =
        new_msg(a, &google__protobuf__list_value__descriptor);
    Google__Protobuf__Value *num =
        new_msg(a, &google__protobuf__value__descriptor);
    Google__Protobuf__Value *flag =
        new_msg(a, &google__protobuf__value__descriptor);
    Google__Protobuf__Value *null =
        new_msg(a, &google__protobuf__value__descriptor);
    Google__Protobuf__Value *lv =
        new_msg(a, &google__protobuf__value__descriptor);
    Google__Protobuf__Value *sv =
        new_msg(a, &google__protobuf__value__descriptor);

    num->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_NUMBER_VALUE;
    num->number_value = 10.5;
    flag->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_BOOL_VALUE;
    flag->bool_value = 1;
    null->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_NULL_VALUE;
    null->null_value = GOOGLE__PROTOBUF__NULL_VALUE__NULL_VALUE;
    list->n_values = 2;
    list->values = vec(a, 2, val_str(a, "a"), val_str(a, "b"));
    lv->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_LIST_VALUE;
    lv->list_value = list;
    inner->n_fields = 1;
    inner->fields = vec(a, 1, sfield(a, "k", val_str(a, "v")));
    sv->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_STRUCT_VALUE;
    sv->struct_value = inner;
    s->n_fields = 6;
    s->fields = vec(a, 6, sfield(a, "router", val_str(a, "whoami")),
                    sfield(a, "priority", num), sfield(a, "enabled", flag),
                    sfield(a, "nothing", null), sfield(a, "tags", lv),
                    sfield(a, "nested", sv));
    return s;
}

/* ===== envoy.config.core.v3 ===== */

static CORE(Address) *
    sock(struct wire_arena *a, const char *host, uint32_t port)
{
    CORE(Address) *ad = new_msg(a, CORE_D(address));
    CORE(SocketAddress) *sa = new_msg(a, CORE_D(socket_address));

    sa->address = lit(host);
    sa->port_specifier_case = CORE_C(SOCKET_ADDRESS__PORT_SPECIFIER_PORT_VALUE);
    sa->port_value = port;
    ad->address_case = CORE_C(ADDRESS__ADDRESS_SOCKET_ADDRESS);
    ad->socket_address = sa;
    return ad;
}

static CORE(HeaderValueOption) *
    hvo(struct wire_arena *a, const char *k, const char *v,
        CORE(HeaderValueOption__HeaderAppendAction) action)
{
    CORE(HeaderValueOption) *o = new_msg(a, CORE_D(header_value_option));
    CORE(HeaderValue) *h = new_msg(a, CORE_D(header_value));

    h->key = lit(k);
    h->value = lit(v);
    o->header = h;
    o->append_action = action;
    return o;
}

/* A HeaderValueOption with the deprecated append wrapper, raw_value and
 * keep_empty_value. */
static CORE(HeaderValueOption) * hvo_raw(struct wire_arena *a)
{
    CORE(HeaderValueOption) *o = hvo(
        a, "x-raw", "",
        CORE_C(
            HEADER_VALUE_OPTION__HEADER_APPEND_ACTION__APPEND_IF_EXISTS_OR_ADD));

    o->header->raw_value = bin(a, "\x00\xff raw", 6);
    o->append = bv(a, 1);
    o->keep_empty_value = 1;
    return o;
}

static CORE(Metadata) * metadata(struct wire_arena *a)
{
    CORE(Metadata) *m = new_msg(a, CORE_D(metadata));
    CORE(Metadata__FilterMetadataEntry) *fe =
        new_msg(a, CORE_D(metadata__filter_metadata_entry));
    CORE(Metadata__TypedFilterMetadataEntry) *te =
        new_msg(a, CORE_D(metadata__typed_filter_metadata_entry));

    fe->key = lit("traefikee");
    fe->value = a_struct(a);
    te->key = lit("traefikee.opaque");
    te->value = any_opaque(a, UNKNOWN_TYPE_URL, "\x08\x01");
    m->n_filter_metadata = 1;
    m->filter_metadata = vec(a, 1, fe);
    m->n_typed_filter_metadata = 1;
    m->typed_filter_metadata = vec(a, 1, te);
    return m;
}

static CORE(ConfigSource) * ads(struct wire_arena *a)
{
    CORE(ConfigSource) *c = new_msg(a, CORE_D(config_source));

    c->config_source_specifier_case =
        CORE_C(CONFIG_SOURCE__CONFIG_SOURCE_SPECIFIER_ADS);
    c->ads = new_msg(a, CORE_D(aggregated_config_source));
    c->resource_api_version = CORE_C(API_VERSION__V3);
    c->initial_fetch_timeout = dur(a, 15, 0);
    return c;
}

static CORE(RuntimeFractionalPercent) *
    runtime_pct(struct wire_arena *a, uint32_t num,
                TY(FractionalPercent__DenominatorType) den, const char *key)
{
    CORE(RuntimeFractionalPercent) *r =
        new_msg(a, CORE_D(runtime_fractional_percent));
    TY(FractionalPercent) *f = new_msg(a, TY_D(fractional_percent));

    f->numerator = num;
    f->denominator = den;
    r->default_value = f;
    r->runtime_key = lit(key);
    return r;
}

static CORE(TransportSocket) * raw_buffer(struct wire_arena *a)
{
    CORE(TransportSocket) *t = new_msg(a, CORE_D(transport_socket));

    t->name = lit("envoy.transport_sockets.raw_buffer");
    t->config_type_case = CORE_C(TRANSPORT_SOCKET__CONFIG_TYPE_TYPED_CONFIG);
    t->typed_config =
        any_opaque(a,
                   TYPE_URL_PREFIX
                   "envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer",
                   "");
    return t;
}

static CORE(Node) * node(struct wire_arena *a)
{
    CORE(Node) *n = new_msg(a, CORE_D(node));
    CORE(Locality) *l = new_msg(a, CORE_D(locality));

    l->region = lit("eu-west");
    l->zone = lit("eu-west-1a");
    l->sub_zone = lit("rack-7");
    n->id = lit("data-1");
    n->cluster = lit("traefikee-data");
    n->metadata = a_struct(a);
    n->locality = l;
    n->user_agent_name = lit("traefikee-dataplane");
    n->user_agent_version_type_case =
        CORE_C(NODE__USER_AGENT_VERSION_TYPE_USER_AGENT_VERSION);
    n->user_agent_version = lit("0.1.0");
    n->n_client_features = 2;
    n->client_features = vec(a, 2, "envoy.lb.does_not_support_overprovisioning",
                             "xds.config.resource-in-sotw");
    return n;
}

static CORE(HttpProtocolOptions) * http_opts(struct wire_arena *a)
{
    CORE(HttpProtocolOptions) *o = new_msg(a, CORE_D(http_protocol_options));

    o->idle_timeout = dur(a, 3600, 0);
    o->max_connection_duration = dur(a, 86400, 0);
    o->max_headers_count = u32(a, 100);
    o->max_stream_duration = dur(a, 0, 500000000);
    o->headers_with_underscores_action = CORE_C(
        HTTP_PROTOCOL_OPTIONS__HEADERS_WITH_UNDERSCORES_ACTION__REJECT_REQUEST);
    o->max_requests_per_connection = u32(a, 1000);
    return o;
}

static CORE(Http1ProtocolOptions) * http1_opts(struct wire_arena *a)
{
    CORE(Http1ProtocolOptions) *o = new_msg(a, CORE_D(http1_protocol_options));

    o->allow_absolute_url = bv(a, 0);
    o->accept_http_10 = 1;
    o->default_host_for_http_10 = lit("localhost");
    o->enable_trailers = 1;
    o->allow_chunked_length = 1;
    return o;
}

static CORE(Http2ProtocolOptions) *
    http2_opts(struct wire_arena *a, uint32_t streams)
{
    CORE(Http2ProtocolOptions) *o = new_msg(a, CORE_D(http2_protocol_options));

    o->hpack_table_size = u32(a, 4096);
    o->max_concurrent_streams = u32(a, streams);
    o->initial_stream_window_size = u32(a, 65536);
    o->initial_connection_window_size = u32(a, 1048576);
    o->allow_connect = 1;
    o->allow_metadata = 1;
    return o;
}

/* ===== envoy.type.matcher.v3 ===== */

static MT(RegexMatcher) * regex(struct wire_arena *a, const char *re)
{
    MT(RegexMatcher) *r = new_msg(a, MT_D(regex_matcher));

    r->regex = lit(re);
    return r;
}

static MT(RegexMatchAndSubstitute) *
    regex_sub(struct wire_arena *a, const char *re, const char *sub)
{
    MT(RegexMatchAndSubstitute) *r =
        new_msg(a, MT_D(regex_match_and_substitute));

    r->pattern = regex(a, re);
    r->substitution = lit(sub);
    return r;
}

static MT(StringMatcher) * smatch(struct wire_arena *a,
                                  MT(StringMatcher__MatchPatternCase) c,
                                  const char *s, int ignore_case)
{
    MT(StringMatcher) *m = new_msg(a, MT_D(string_matcher));

    m->match_pattern_case = c;
    switch (c) {
    case MT_C(STRING_MATCHER__MATCH_PATTERN_EXACT):
        m->exact = lit(s);
        break;
    case MT_C(STRING_MATCHER__MATCH_PATTERN_PREFIX):
        m->prefix = lit(s);
        break;
    case MT_C(STRING_MATCHER__MATCH_PATTERN_SUFFIX):
        m->suffix = lit(s);
        break;
    case MT_C(STRING_MATCHER__MATCH_PATTERN_CONTAINS):
        m->contains = lit(s);
        break;
    default:
        m->match_pattern_case = MT_C(STRING_MATCHER__MATCH_PATTERN_SAFE_REGEX);
        m->safe_regex = regex(a, s);
    }
    m->ignore_case = ignore_case;
    return m;
}

/* ===== envoy.config.route.v3 ===== */

static RT(HeaderMatcher) * hmatch(struct wire_arena *a, const char *name,
                                  RT(HeaderMatcher__HeaderMatchSpecifierCase) c,
                                  const char *s)
{
    RT(HeaderMatcher) *h = new_msg(a, RT_D(header_matcher));

    h->name = lit(name);
    h->header_match_specifier_case = c;
    switch (c) {
    case RT_C(HEADER_MATCHER__HEADER_MATCH_SPECIFIER_EXACT_MATCH):
        h->exact_match = lit(s);
        break;
    case RT_C(HEADER_MATCHER__HEADER_MATCH_SPECIFIER_SAFE_REGEX_MATCH):
        h->safe_regex_match = regex(a, s);
        break;
    case RT_C(HEADER_MATCHER__HEADER_MATCH_SPECIFIER_PRESENT_MATCH):
        h->present_match = 1;
        break;
    case RT_C(HEADER_MATCHER__HEADER_MATCH_SPECIFIER_PREFIX_MATCH):
        h->prefix_match = lit(s);
        break;
    case RT_C(HEADER_MATCHER__HEADER_MATCH_SPECIFIER_SUFFIX_MATCH):
        h->suffix_match = lit(s);
        break;
    case RT_C(HEADER_MATCHER__HEADER_MATCH_SPECIFIER_CONTAINS_MATCH):
        h->contains_match = lit(s);
        break;
    case RT_C(HEADER_MATCHER__HEADER_MATCH_SPECIFIER_STRING_MATCH):
        h->string_match =
            smatch(a, MT_C(STRING_MATCHER__MATCH_PATTERN_EXACT), s, 1);
        break;
    default: {
        TY(Int64Range) *r = new_msg(a, TY_D(int64_range));
        r->start = -10;
        r->end = 10000000000LL;
        h->header_match_specifier_case =
            RT_C(HEADER_MATCHER__HEADER_MATCH_SPECIFIER_RANGE_MATCH);
        h->range_match = r;
    }
    }
    return h;
}

static RT(RetryPolicy) * retry_policy(struct wire_arena *a)
{
    RT(RetryPolicy) *r = new_msg(a, RT_D(retry_policy));
    RT(RetryPolicy__RetryHostPredicate) *p =
        new_msg(a, RT_D(retry_policy__retry_host_predicate));
    RT(RetryPolicy__RetryBackOff) *b =
        new_msg(a, RT_D(retry_policy__retry_back_off));
    static const uint32_t codes[] = {502, 503, 504};

    p->name = lit("envoy.retry_host_predicates.previous_hosts");
    p->config_type_case =
        RT_C(RETRY_POLICY__RETRY_HOST_PREDICATE__CONFIG_TYPE_TYPED_CONFIG);
    p->typed_config = any_opaque(a, UNKNOWN_TYPE_URL,
                                 "\x12\x03"
                                 "abc");
    b->base_interval = dur(a, 0, 25000000);
    b->max_interval = dur(a, 0, 250000000);
    r->retry_on = lit("5xx,reset,connect-failure,retriable-status-codes");
    r->num_retries = u32(a, 3);
    r->per_try_timeout = dur(a, 2, 0);
    r->per_try_idle_timeout = dur(a, 1, 0);
    r->n_retry_host_predicate = 1;
    r->retry_host_predicate = vec(a, 1, p);
    r->host_selection_retry_max_attempts = 5;
    r->n_retriable_status_codes = 3;
    r->retriable_status_codes = wire_arena_dup(a, codes, sizeof(codes));
    r->retry_back_off = b;
    r->n_retriable_headers = 1;
    r->retriable_headers =
        vec(a, 1,
            hmatch(a, "x-retry",
                   RT_C(HEADER_MATCHER__HEADER_MATCH_SPECIFIER_PRESENT_MATCH),
                   NULL));
    r->n_retriable_request_headers = 1;
    r->retriable_request_headers =
        vec(a, 1,
            hmatch(a, ":method",
                   RT_C(HEADER_MATCHER__HEADER_MATCH_SPECIFIER_EXACT_MATCH),
                   "GET"));
    return r;
}

static RT(RouteAction__RequestMirrorPolicy) *
    mirror(struct wire_arena *a, const char *cluster, const char *header)
{
    RT(RouteAction__RequestMirrorPolicy) *m =
        new_msg(a, RT_D(route_action__request_mirror_policy));

    m->cluster = lit(cluster);
    m->cluster_header = lit(header);
    m->runtime_fraction = runtime_pct(
        a, 10, TY_C(FRACTIONAL_PERCENT__DENOMINATOR_TYPE__TEN_THOUSAND),
        "mirror");
    m->trace_sampled = bv(a, 0);
    m->disable_shadow_host_suffix_append = 1;
    return m;
}

/* typed_per_filter_config: {"envoy.filters.http.router": Router}. */
static void *per_filter(struct wire_arena *a,
                        const ProtobufCMessageDescriptor *entry, size_t *n);

static RT(CorsPolicy) * cors(struct wire_arena *a)
{
    RT(CorsPolicy) *c = new_msg(a, RT_D(cors_policy));

    c->n_allow_origin_string_match = 5;
    c->allow_origin_string_match = vec(
        a, 5,
        smatch(a, MT_C(STRING_MATCHER__MATCH_PATTERN_EXACT),
               "https://a.example", 0),
        smatch(a, MT_C(STRING_MATCHER__MATCH_PATTERN_PREFIX), "https://", 1),
        smatch(a, MT_C(STRING_MATCHER__MATCH_PATTERN_SUFFIX), ".example", 0),
        smatch(a, MT_C(STRING_MATCHER__MATCH_PATTERN_CONTAINS), "exam", 0),
        smatch(a, MT_C(STRING_MATCHER__MATCH_PATTERN_SAFE_REGEX),
               "^https://.*$", 0));
    c->allow_methods = lit("GET, POST");
    c->allow_headers = lit("content-type");
    c->expose_headers = lit("x-request-id");
    c->max_age = lit("600");
    c->allow_credentials = bv(a, 1);
    c->enabled_specifier_case =
        RT_C(CORS_POLICY__ENABLED_SPECIFIER_FILTER_ENABLED);
    c->filter_enabled = runtime_pct(
        a, 100, TY_C(FRACTIONAL_PERCENT__DENOMINATOR_TYPE__HUNDRED), "");
    c->shadow_enabled =
        runtime_pct(a, 5, TY_C(FRACTIONAL_PERCENT__DENOMINATOR_TYPE__MILLION),
                    "cors.shadow");
    c->allow_private_network_access = bv(a, 1);
    c->forward_not_matching_preflights = bv(a, 0);
    return c;
}

static RT(RouteAction__HashPolicy) * hash_cookie(struct wire_arena *a)
{
    RT(RouteAction__HashPolicy) *h =
        new_msg(a, RT_D(route_action__hash_policy));
    RT(RouteAction__HashPolicy__Cookie) *c =
        new_msg(a, RT_D(route_action__hash_policy__cookie));
    RT(RouteAction__HashPolicy__CookieAttribute) *at =
        new_msg(a, RT_D(route_action__hash_policy__cookie_attribute));

    at->name = lit("SameSite");
    at->value = lit("Lax");
    c->name = lit("sticky");
    c->ttl = dur(a, 3600, 0);
    c->path = lit("/");
    c->n_attributes = 1;
    c->attributes = vec(a, 1, at);
    h->policy_specifier_case =
        RT_C(ROUTE_ACTION__HASH_POLICY__POLICY_SPECIFIER_COOKIE);
    h->cookie = c;
    return h;
}

/* The other four hash policy kinds, in order header, connection, query,
 * filter state. */
static RT(RouteAction__HashPolicy) * hash_other(struct wire_arena *a, int kind)
{
    RT(RouteAction__HashPolicy) *h =
        new_msg(a, RT_D(route_action__hash_policy));

    switch (kind) {
    case 0: {
        RT(RouteAction__HashPolicy__Header) *x =
            new_msg(a, RT_D(route_action__hash_policy__header));
        x->header_name = lit("x-user");
        x->regex_rewrite = regex_sub(a, "^user-(.*)$", "\\1");
        h->policy_specifier_case =
            RT_C(ROUTE_ACTION__HASH_POLICY__POLICY_SPECIFIER_HEADER);
        h->header = x;
        h->terminal = 1;
        break;
    }
    case 1: {
        RT(RouteAction__HashPolicy__ConnectionProperties) *x =
            new_msg(a, RT_D(route_action__hash_policy__connection_properties));
        x->source_ip = 1;
        h->policy_specifier_case = RT_C(
            ROUTE_ACTION__HASH_POLICY__POLICY_SPECIFIER_CONNECTION_PROPERTIES);
        h->connection_properties = x;
        break;
    }
    case 2: {
        RT(RouteAction__HashPolicy__QueryParameter) *x =
            new_msg(a, RT_D(route_action__hash_policy__query_parameter));
        x->name = lit("user");
        h->policy_specifier_case =
            RT_C(ROUTE_ACTION__HASH_POLICY__POLICY_SPECIFIER_QUERY_PARAMETER);
        h->query_parameter = x;
        break;
    }
    default: {
        RT(RouteAction__HashPolicy__FilterState) *x =
            new_msg(a, RT_D(route_action__hash_policy__filter_state));
        x->key = lit("io.traefikee.key");
        h->policy_specifier_case =
            RT_C(ROUTE_ACTION__HASH_POLICY__POLICY_SPECIFIER_FILTER_STATE);
        h->filter_state = x;
    }
    }
    return h;
}

static RT(RouteMatch) * match_prefix(struct wire_arena *a, const char *prefix)
{
    RT(RouteMatch) *m = new_msg(a, RT_D(route_match));

    m->path_specifier_case = RT_C(ROUTE_MATCH__PATH_SPECIFIER_PREFIX);
    m->prefix = lit(prefix);
    return m;
}

static RT(RouteMatch) * match_path(struct wire_arena *a, const char *path)
{
    RT(RouteMatch) *m = new_msg(a, RT_D(route_match));

    m->path_specifier_case = RT_C(ROUTE_MATCH__PATH_SPECIFIER_PATH);
    m->path = lit(path);
    return m;
}

/* A prefix match with every kind of header and query matcher. */
static RT(RouteMatch) * match_rich(struct wire_arena *a)
{
    RT(RouteMatch) *m = match_prefix(a, "/whoami");
    RT(QueryParameterMatcher) *q1 = new_msg(a, RT_D(query_parameter_matcher));
    RT(QueryParameterMatcher) *q2 = new_msg(a, RT_D(query_parameter_matcher));
    RT(RouteMatch__TlsContextMatchOptions) *tls =
        new_msg(a, RT_D(route_match__tls_context_match_options));
    RT(HeaderMatcher) *inverted = hmatch(
        a, "x-prefix",
        RT_C(HEADER_MATCHER__HEADER_MATCH_SPECIFIER_PREFIX_MATCH), "bad-");

    inverted->invert_match = 1;
    inverted->treat_missing_header_as_empty = 1;
    m->case_sensitive = bv(a, 1);
    m->runtime_fraction =
        runtime_pct(a, 50, TY_C(FRACTIONAL_PERCENT__DENOMINATOR_TYPE__HUNDRED),
                    "route.whoami");
    m->n_headers = 8;
    m->headers = vec(
        a, 8,
        hmatch(a, "x-exact",
               RT_C(HEADER_MATCHER__HEADER_MATCH_SPECIFIER_EXACT_MATCH), "yes"),
        hmatch(a, "x-regex",
               RT_C(HEADER_MATCHER__HEADER_MATCH_SPECIFIER_SAFE_REGEX_MATCH),
               "^[a-z]+$"),
        hmatch(a, "x-present",
               RT_C(HEADER_MATCHER__HEADER_MATCH_SPECIFIER_PRESENT_MATCH),
               NULL),
        inverted,
        hmatch(a, "x-suffix",
               RT_C(HEADER_MATCHER__HEADER_MATCH_SPECIFIER_SUFFIX_MATCH),
               ".com"),
        hmatch(a, "x-contains",
               RT_C(HEADER_MATCHER__HEADER_MATCH_SPECIFIER_CONTAINS_MATCH),
               "mid"),
        hmatch(a, "x-string",
               RT_C(HEADER_MATCHER__HEADER_MATCH_SPECIFIER_STRING_MATCH),
               "Exact"),
        hmatch(a, "x-range",
               RT_C(HEADER_MATCHER__HEADER_MATCH_SPECIFIER_RANGE_MATCH), NULL));
    q1->name = lit("debug");
    q1->query_parameter_match_specifier_case = RT_C(
        QUERY_PARAMETER_MATCHER__QUERY_PARAMETER_MATCH_SPECIFIER_PRESENT_MATCH);
    q1->present_match = 1;
    q2->name = lit("v");
    q2->query_parameter_match_specifier_case = RT_C(
        QUERY_PARAMETER_MATCHER__QUERY_PARAMETER_MATCH_SPECIFIER_STRING_MATCH);
    q2->string_match = smatch(a, MT_C(STRING_MATCHER__MATCH_PATTERN_SAFE_REGEX),
                              "^[0-9]+$", 0);
    m->n_query_parameters = 2;
    m->query_parameters = vec(a, 2, q1, q2);
    m->grpc = new_msg(a, RT_D(route_match__grpc_route_match_options));
    tls->presented = bv(a, 1);
    tls->validated = bv(a, 0);
    m->tls_context = tls;
    return m;
}

static RT(RouteAction) * action_rich(struct wire_arena *a)
{
    RT(RouteAction) *r = new_msg(a, RT_D(route_action));
    RT(RouteAction__UpgradeConfig) *up =
        new_msg(a, RT_D(route_action__upgrade_config));
    RT(RouteAction__MaxStreamDuration) *msd =
        new_msg(a, RT_D(route_action__max_stream_duration));

    r->cluster_specifier_case = RT_C(ROUTE_ACTION__CLUSTER_SPECIFIER_CLUSTER);
    r->cluster = lit("whoami");
    r->cluster_not_found_response_code =
        RT_C(ROUTE_ACTION__CLUSTER_NOT_FOUND_RESPONSE_CODE__NOT_FOUND);
    r->metadata_match = metadata(a);
    r->prefix_rewrite = lit("/");
    r->host_rewrite_specifier_case =
        RT_C(ROUTE_ACTION__HOST_REWRITE_SPECIFIER_HOST_REWRITE_LITERAL);
    r->host_rewrite_literal = lit("backend.local");
    r->append_x_forwarded_host = 1;
    r->timeout = dur(a, 15, 0);
    r->idle_timeout = dur(a, 60, 0);
    r->retry_policy = retry_policy(a);
    r->n_request_mirror_policies = 1;
    r->request_mirror_policies = vec(a, 1, mirror(a, "shadow", ""));
    r->priority = CORE_C(ROUTING_PRIORITY__HIGH);
    r->n_hash_policy = 5;
    r->hash_policy = vec(a, 5, hash_cookie(a), hash_other(a, 0),
                         hash_other(a, 1), hash_other(a, 2), hash_other(a, 3));
    r->cors = cors(a);
    up->upgrade_type = lit("websocket");
    up->enabled = bv(a, 1);
    r->n_upgrade_configs = 1;
    r->upgrade_configs = vec(a, 1, up);
    msd->max_stream_duration = dur(a, 30, 0);
    msd->grpc_timeout_header_max = dur(a, 10, 0);
    msd->grpc_timeout_header_offset = dur(a, 0, 100000000);
    r->max_stream_duration = msd;
    return r;
}

static RT(WeightedCluster__ClusterWeight) *
    cweight(struct wire_arena *a, const char *name, uint32_t w)
{
    RT(WeightedCluster__ClusterWeight) *c =
        new_msg(a, RT_D(weighted_cluster__cluster_weight));

    c->name = lit(name);
    c->weight = u32(a, w);
    return c;
}

static RT(RouteAction) * action_weighted(struct wire_arena *a)
{
    RT(RouteAction) *r = new_msg(a, RT_D(route_action));
    RT(WeightedCluster) *wc = new_msg(a, RT_D(weighted_cluster));
    RT(WeightedCluster__ClusterWeight) *v1 = cweight(a, "whoami", 9);
    RT(WeightedCluster__ClusterWeight) *v2 = cweight(a, "whoami-v2", 1);

    v1->n_request_headers_to_add = 1;
    v1->request_headers_to_add = vec(
        a, 1,
        hvo(a, "x-version", "1",
            CORE_C(HEADER_VALUE_OPTION__HEADER_APPEND_ACTION__ADD_IF_ABSENT)));
    v1->n_request_headers_to_remove = 1;
    v1->request_headers_to_remove = vec(a, 1, "x-drop");
    v1->host_rewrite_specifier_case = RT_C(
        WEIGHTED_CLUSTER__CLUSTER_WEIGHT__HOST_REWRITE_SPECIFIER_HOST_REWRITE_LITERAL);
    v1->host_rewrite_literal = lit("v1.local");
    v2->cluster_header = lit("x-cluster-v2");
    v2->metadata_match = metadata(a);
    v2->n_response_headers_to_add = 1;
    v2->response_headers_to_add = vec(
        a, 1,
        hvo(a, "x-v2", "yes",
            CORE_C(
                HEADER_VALUE_OPTION__HEADER_APPEND_ACTION__OVERWRITE_IF_EXISTS)));
    v2->n_response_headers_to_remove = 1;
    v2->response_headers_to_remove = vec(a, 1, "x-v1");
    v2->typed_per_filter_config = per_filter(
        a,
        RT_D(weighted_cluster__cluster_weight__typed_per_filter_config_entry),
        &v2->n_typed_per_filter_config);
    wc->n_clusters = 2;
    wc->clusters = vec(a, 2, v1, v2);
    wc->total_weight = u32(a, 10);
    wc->runtime_key_prefix = lit("canary");
    wc->random_value_specifier_case =
        RT_C(WEIGHTED_CLUSTER__RANDOM_VALUE_SPECIFIER_HEADER_NAME);
    wc->header_name = lit("x-canary-key");
    r->cluster_specifier_case =
        RT_C(ROUTE_ACTION__CLUSTER_SPECIFIER_WEIGHTED_CLUSTERS);
    r->weighted_clusters = wc;
    r->regex_rewrite = regex_sub(a, "^/canary/(.*)$", "/\\1");
    r->host_rewrite_specifier_case =
        RT_C(ROUTE_ACTION__HOST_REWRITE_SPECIFIER_AUTO_HOST_REWRITE);
    r->auto_host_rewrite = bv(a, 1);
    return r;
}

static RT(Route) *
    route(struct wire_arena *a, const char *name, RT(RouteMatch) * m)
{
    RT(Route) *r = new_msg(a, RT_D(route));

    r->name = lit(name);
    r->match = m;
    return r;
}

static RT(Route) * route_rich(struct wire_arena *a)
{
    RT(Route) *r = route(a, "whoami-strip", match_rich(a));
    RT(Decorator) *d = new_msg(a, RT_D(decorator));

    r->action_case = RT_C(ROUTE__ACTION_ROUTE);
    r->route = action_rich(a);
    r->metadata = metadata(a);
    d->operation = lit("whoami");
    d->propagate = bv(a, 1);
    r->decorator = d;
    r->typed_per_filter_config =
        per_filter(a, RT_D(route__typed_per_filter_config_entry),
                   &r->n_typed_per_filter_config);
    r->n_request_headers_to_add = 2;
    r->request_headers_to_add = vec(
        a, 2,
        hvo(a, "x-forwarded-prefix", "/whoami",
            CORE_C(
                HEADER_VALUE_OPTION__HEADER_APPEND_ACTION__OVERWRITE_IF_EXISTS_OR_ADD)),
        hvo_raw(a));
    r->n_request_headers_to_remove = 1;
    r->request_headers_to_remove = vec(a, 1, "x-internal-token");
    r->n_response_headers_to_add = 1;
    r->response_headers_to_add = vec(
        a, 1,
        hvo(a, "x-route", "whoami",
            CORE_C(HEADER_VALUE_OPTION__HEADER_APPEND_ACTION__ADD_IF_ABSENT)));
    r->n_response_headers_to_remove = 1;
    r->response_headers_to_remove = vec(a, 1, "x-powered-by");
    r->per_request_buffer_limit_bytes = u32(a, 1024);
    r->stat_prefix = lit("whoami");
    return r;
}

/* Routes using the other actions and path specifiers. */
static RT(Route) * route_kind(struct wire_arena *a, int kind)
{
    RT(Route) * r;

    switch (kind) {
    case 0: /* weighted clusters */
        r = route(a, "canary", match_path(a, "/canary"));
        r->action_case = RT_C(ROUTE__ACTION_ROUTE);
        r->route = action_weighted(a);
        return r;
    case 1: { /* safe_regex with the deprecated google_re2 engine;
                 cluster_header */
        RT(RouteMatch) *m = new_msg(a, RT_D(route_match));
        MT(RegexMatcher__GoogleRE2) *re2 =
            new_msg(a, MT_D(regex_matcher__google_re2));
        RT(RouteAction) *ra = new_msg(a, RT_D(route_action));
        re2->max_program_size = u32(a, 100);
        m->path_specifier_case = RT_C(ROUTE_MATCH__PATH_SPECIFIER_SAFE_REGEX);
        m->safe_regex = regex(a, "^/api/v[0-9]+/.*");
        m->safe_regex->engine_type_case =
            MT_C(REGEX_MATCHER__ENGINE_TYPE_GOOGLE_RE2);
        m->safe_regex->google_re2 = re2;
        ra->cluster_specifier_case =
            RT_C(ROUTE_ACTION__CLUSTER_SPECIFIER_CLUSTER_HEADER);
        ra->cluster_header = lit("x-cluster");
        ra->host_rewrite_specifier_case =
            RT_C(ROUTE_ACTION__HOST_REWRITE_SPECIFIER_HOST_REWRITE_HEADER);
        ra->host_rewrite_header = lit("x-host");
        r = route(a, "api", m);
        r->action_case = RT_C(ROUTE__ACTION_ROUTE);
        r->route = ra;
        return r;
    }
    case 2: { /* path_separated_prefix; host rewrite by regex */
        RT(RouteMatch) *m = new_msg(a, RT_D(route_match));
        RT(RouteAction) *ra = new_msg(a, RT_D(route_action));
        m->path_specifier_case =
            RT_C(ROUTE_MATCH__PATH_SPECIFIER_PATH_SEPARATED_PREFIX);
        m->path_separated_prefix = lit("/docs");
        ra->cluster_specifier_case =
            RT_C(ROUTE_ACTION__CLUSTER_SPECIFIER_CLUSTER);
        ra->cluster = lit("docs");
        ra->host_rewrite_specifier_case =
            RT_C(ROUTE_ACTION__HOST_REWRITE_SPECIFIER_HOST_REWRITE_PATH_REGEX);
        ra->host_rewrite_path_regex =
            regex_sub(a, "^/docs/([^/]+).*$", "\\1.docs");
        r = route(a, "docs", m);
        r->action_case = RT_C(ROUTE__ACTION_ROUTE);
        r->route = ra;
        return r;
    }
    case 3: { /* https redirect with prefix rewrite */
        RT(RedirectAction) *rd = new_msg(a, RT_D(redirect_action));
        rd->scheme_rewrite_specifier_case =
            RT_C(REDIRECT_ACTION__SCHEME_REWRITE_SPECIFIER_HTTPS_REDIRECT);
        rd->https_redirect = 1;
        rd->host_redirect = lit("secure.local");
        rd->port_redirect = 8443;
        rd->path_rewrite_specifier_case =
            RT_C(REDIRECT_ACTION__PATH_REWRITE_SPECIFIER_PREFIX_REWRITE);
        rd->prefix_rewrite = lit("/new");
        rd->response_code =
            RT_C(REDIRECT_ACTION__REDIRECT_RESPONSE_CODE__PERMANENT_REDIRECT);
        rd->strip_query = 1;
        r = route(a, "to-https", match_prefix(a, "/secure"));
        r->action_case = RT_C(ROUTE__ACTION_REDIRECT);
        r->redirect = rd;
        return r;
    }
    case 4: { /* scheme redirect with path */
        RT(RedirectAction) *rd = new_msg(a, RT_D(redirect_action));
        rd->scheme_rewrite_specifier_case =
            RT_C(REDIRECT_ACTION__SCHEME_REWRITE_SPECIFIER_SCHEME_REDIRECT);
        rd->scheme_redirect = lit("http");
        rd->path_rewrite_specifier_case =
            RT_C(REDIRECT_ACTION__PATH_REWRITE_SPECIFIER_PATH_REDIRECT);
        rd->path_redirect = lit("/plain");
        rd->response_code =
            RT_C(REDIRECT_ACTION__REDIRECT_RESPONSE_CODE__FOUND);
        r = route(a, "to-http", match_path(a, "/insecure"));
        r->action_case = RT_C(ROUTE__ACTION_REDIRECT);
        r->redirect = rd;
        return r;
    }
    case 5: { /* regex redirect; https_redirect false still set */
        RT(RedirectAction) *rd = new_msg(a, RT_D(redirect_action));
        rd->scheme_rewrite_specifier_case =
            RT_C(REDIRECT_ACTION__SCHEME_REWRITE_SPECIFIER_HTTPS_REDIRECT);
        rd->https_redirect = 0;
        rd->path_rewrite_specifier_case =
            RT_C(REDIRECT_ACTION__PATH_REWRITE_SPECIFIER_REGEX_REWRITE);
        rd->regex_rewrite = regex_sub(a, "^/old/(.*)$", "/new/\\1");
        r = route(a, "old", match_prefix(a, "/old/"));
        r->action_case = RT_C(ROUTE__ACTION_REDIRECT);
        r->redirect = rd;
        return r;
    }
    case 6: { /* direct response, string body */
        RT(DirectResponseAction) *dr = new_msg(a, RT_D(direct_response_action));
        CORE(DataSource) *body = new_msg(a, CORE_D(data_source));
        body->specifier_case = CORE_C(DATA_SOURCE__SPECIFIER_INLINE_STRING);
        body->inline_string = lit("gone\n");
        dr->status = 410;
        dr->body = body;
        r = route(a, "gone", match_path(a, "/gone"));
        r->action_case = RT_C(ROUTE__ACTION_DIRECT_RESPONSE);
        r->direct_response = dr;
        return r;
    }
    default: /* non-forwarding, empty prefix (a oneof string set to "") */
        r = route(a, "", match_prefix(a, ""));
        r->action_case = RT_C(ROUTE__ACTION_NON_FORWARDING_ACTION);
        r->non_forwarding_action = new_msg(a, RT_D(non_forwarding_action));
        return r;
    }
}

static RT(VirtualHost) * vhost_rich(struct wire_arena *a)
{
    RT(VirtualHost) *v = new_msg(a, RT_D(virtual_host));
    size_t i;

    v->name = lit("whoami.localhost");
    v->n_domains = 2;
    v->domains = vec(a, 2, "whoami.localhost", "whoami.localhost:*");
    v->n_routes = 9;
    v->routes = wire_arena_alloc(a, v->n_routes * sizeof(*v->routes));
    v->routes[0] = route_rich(a);
    for (i = 1; i < v->n_routes; i++)
        v->routes[i] = route_kind(a, (int)i - 1);
    v->require_tls = RT_C(VIRTUAL_HOST__TLS_REQUIREMENT_TYPE__EXTERNAL_ONLY);
    v->n_request_headers_to_add = 1;
    v->request_headers_to_add = vec(
        a, 1,
        hvo(a, "x-vhost", "whoami",
            CORE_C(
                HEADER_VALUE_OPTION__HEADER_APPEND_ACTION__APPEND_IF_EXISTS_OR_ADD)));
    v->n_request_headers_to_remove = 2;
    v->request_headers_to_remove = vec(a, 2, "x-a", "x-b");
    v->n_response_headers_to_add = 1;
    v->response_headers_to_add = vec(a, 1, hvo_raw(a));
    v->n_response_headers_to_remove = 1;
    v->response_headers_to_remove = vec(a, 1, "x-c");
    v->cors = cors(a);
    v->typed_per_filter_config =
        per_filter(a, RT_D(virtual_host__typed_per_filter_config_entry),
                   &v->n_typed_per_filter_config);
    v->include_request_attempt_count = 1;
    v->include_attempt_count_in_response = 1;
    v->retry_policy = retry_policy(a);
    v->per_request_buffer_limit_bytes = u32(a, 2048);
    v->n_request_mirror_policies = 1;
    v->request_mirror_policies = vec(a, 1, mirror(a, "", "x-mirror"));
    v->metadata = metadata(a);
    return v;
}

static RT(VirtualHost) * vhost_catchall(struct wire_arena *a)
{
    RT(VirtualHost) *v = new_msg(a, RT_D(virtual_host));
    RT(DirectResponseAction) *dr = new_msg(a, RT_D(direct_response_action));
    CORE(DataSource) *body = new_msg(a, CORE_D(data_source));
    RT(Route) *r = route(a, "not-found", match_prefix(a, "/"));

    body->specifier_case = CORE_C(DATA_SOURCE__SPECIFIER_INLINE_BYTES);
    body->inline_bytes = bin(a, "404 page not found\n\x00\x01", 21);
    dr->status = 404;
    dr->body = body;
    r->action_case = RT_C(ROUTE__ACTION_DIRECT_RESPONSE);
    r->direct_response = dr;
    v->name = lit("catchall");
    v->n_domains = 1;
    v->domains = vec(a, 1, "*");
    v->n_routes = 1;
    v->routes = vec(a, 1, r);
    return v;
}

static ProtobufCMessage *build_route_configuration(struct wire_arena *a)
{
    RT(RouteConfiguration) *rc = new_msg(a, RT_D(route_configuration));

    rc->name = lit("web");
    rc->n_virtual_hosts = 2;
    rc->virtual_hosts = vec(a, 2, vhost_rich(a), vhost_catchall(a));
    rc->n_internal_only_headers = 1;
    rc->internal_only_headers = vec(a, 1, "x-internal");
    rc->n_response_headers_to_add = 1;
    rc->response_headers_to_add = vec(
        a, 1,
        hvo(a, "x-served-by", "traefikee",
            CORE_C(
                HEADER_VALUE_OPTION__HEADER_APPEND_ACTION__OVERWRITE_IF_EXISTS_OR_ADD)));
    rc->n_response_headers_to_remove = 1;
    rc->response_headers_to_remove = vec(a, 1, "server");
    rc->n_request_headers_to_add = 1;
    rc->request_headers_to_add = vec(a, 1, hvo_raw(a));
    rc->n_request_headers_to_remove = 1;
    rc->request_headers_to_remove = vec(a, 1, "x-debug");
    rc->most_specific_header_mutations_wins = 1;
    rc->validate_clusters = bv(a, 0);
    rc->max_direct_response_body_size_bytes = u32(a, 4096);
    rc->n_request_mirror_policies = 1;
    rc->request_mirror_policies = vec(a, 1, mirror(a, "shadow", ""));
    rc->ignore_port_in_host_matching = 1;
    rc->ignore_path_parameters_in_path_matching = 1;
    rc->typed_per_filter_config =
        per_filter(a, RT_D(route_configuration__typed_per_filter_config_entry),
                   &rc->n_typed_per_filter_config);
    rc->metadata = metadata(a);
    return &rc->base;
}

/* ===== envoy.extensions.filters ===== */

static ProtobufCMessage *build_router(struct wire_arena *a)
{
    Envoy__Extensions__Filters__Http__Router__V3__Router *r = new_msg(
        a, &envoy__extensions__filters__http__router__v3__router__descriptor);

    r->dynamic_stats = bv(a, 0);
    r->start_child_span = 1;
    r->suppress_envoy_headers = 1;
    r->n_strict_check_headers = 2;
    r->strict_check_headers =
        vec(a, 2, "x-envoy-upstream-rq-timeout-ms", "x-envoy-max-retries");
    r->respect_expected_rq_timeout = 1;
    r->suppress_grpc_request_failure_code_stats = 1;
    return &r->base;
}

static void *per_filter(struct wire_arena *a,
                        const ProtobufCMessageDescriptor *entry, size_t *n)
{
    /* Every *TypedPerFilterConfigEntry has the same layout: key, value. */
    RT(Route__TypedPerFilterConfigEntry) *e = new_msg(a, entry);

    e->key = lit("envoy.filters.http.router");
    e->value = any(a, build_router(a));
    *n = 1;
    return vec(a, 1, e);
}

static HCM(HttpFilter) * router_filter(struct wire_arena *a)
{
    HCM(HttpFilter) *f = new_msg(a, HCM_D(http_filter));

    f->name = lit("envoy.filters.http.router");
    f->config_type_case = HCM_C(HTTP_FILTER__CONFIG_TYPE_TYPED_CONFIG);
    f->typed_config = any(a, build_router(a));
    return f;
}

static ProtobufCMessage *build_hcm(struct wire_arena *a)
{
    HCM(HttpConnectionManager) *h = new_msg(a, HCM_D(http_connection_manager));
    HCM(Rds) *rds = new_msg(a, HCM_D(rds));
    HCM(HttpFilter) *strip = new_msg(a, HCM_D(http_filter));
    HCM(HttpConnectionManager__UpgradeConfig) *ws =
        new_msg(a, HCM_D(http_connection_manager__upgrade_config));
    HCM(HttpConnectionManager__UpgradeConfig) *connect =
        new_msg(a, HCM_D(http_connection_manager__upgrade_config));

    rds->config_source = ads(a);
    rds->route_config_name = lit("web");
    strip->name = lit("traefikee.filters.http.strip_prefix");
    strip->config_type_case = HCM_C(HTTP_FILTER__CONFIG_TYPE_TYPED_CONFIG);
    strip->typed_config = any_opaque(a, UNKNOWN_TYPE_URL, "\x0a\x07/whoami");
    strip->is_optional = 1;
    strip->disabled = 1;
    ws->upgrade_type = lit("websocket");
    ws->enabled = bv(a, 1);
    connect->upgrade_type = lit("CONNECT");
    connect->n_filters = 1;
    connect->filters = vec(a, 1, router_filter(a));
    h->codec_type = HCM_C(HTTP_CONNECTION_MANAGER__CODEC_TYPE__HTTP1);
    h->stat_prefix = lit("web");
    h->route_specifier_case =
        HCM_C(HTTP_CONNECTION_MANAGER__ROUTE_SPECIFIER_RDS);
    h->rds = rds;
    h->n_http_filters = 2;
    h->http_filters = vec(a, 2, strip, router_filter(a));
    h->add_user_agent = bv(a, 0);
    h->common_http_protocol_options = http_opts(a);
    h->http_protocol_options = http1_opts(a);
    h->http2_protocol_options = http2_opts(a, 100);
    h->server_name = lit("traefikee");
    h->server_header_transformation = HCM_C(
        HTTP_CONNECTION_MANAGER__SERVER_HEADER_TRANSFORMATION__APPEND_IF_ABSENT);
    h->max_request_headers_kb = u32(a, 60);
    h->stream_idle_timeout = dur(a, 300, 0);
    h->request_timeout = dur(a, 0, 0);
    h->request_headers_timeout = dur(a, 10, 0);
    h->drain_timeout = dur(a, 5, 0);
    h->delayed_close_timeout = dur(a, 1, 0);
    h->use_remote_address = bv(a, 1);
    h->xff_num_trusted_hops = 2;
    h->via = lit("1.1 traefikee");
    h->generate_request_id = bv(a, 1);
    h->preserve_external_request_id = 1;
    h->always_set_request_id_in_response = 1;
    h->forward_client_cert_details = HCM_C(
        HTTP_CONNECTION_MANAGER__FORWARD_CLIENT_CERT_DETAILS__SANITIZE_SET);
    h->proxy_100_continue = 1;
    h->n_upgrade_configs = 2;
    h->upgrade_configs = vec(a, 2, ws, connect);
    h->normalize_path = bv(a, 1);
    h->merge_slashes = 1;
    h->path_with_escaped_slashes_action = HCM_C(
        HTTP_CONNECTION_MANAGER__PATH_WITH_ESCAPED_SLASHES_ACTION__UNESCAPE_AND_REDIRECT);
    h->strip_port_mode_case =
        HCM_C(HTTP_CONNECTION_MANAGER__STRIP_PORT_MODE_STRIP_ANY_HOST_PORT);
    h->strip_any_host_port = 1;
    h->stream_error_on_invalid_http_message = bv(a, 0);
    h->strip_trailing_host_dot = 1;
    h->append_x_forwarded_port = 1;
    return &h->base;
}

/* What a proxyless gRPC client's API listener carries: the route config
 * inline, router filter last. */
static ProtobufCMessage *build_hcm_inline(struct wire_arena *a)
{
    HCM(HttpConnectionManager) *h = new_msg(a, HCM_D(http_connection_manager));
    RT(RouteConfiguration) *rc = new_msg(a, RT_D(route_configuration));
    RT(VirtualHost) *v = new_msg(a, RT_D(virtual_host));
    RT(Route) *r = route(a, "echo", match_prefix(a, ""));
    RT(RouteAction) *ra = new_msg(a, RT_D(route_action));

    ra->cluster_specifier_case = RT_C(ROUTE_ACTION__CLUSTER_SPECIFIER_CLUSTER);
    ra->cluster = lit("echo");
    r->action_case = RT_C(ROUTE__ACTION_ROUTE);
    r->route = ra;
    v->name = lit("echo");
    v->n_domains = 1;
    v->domains = vec(a, 1, "echo.svc");
    v->n_routes = 1;
    v->routes = vec(a, 1, r);
    rc->name = lit("echo.svc");
    rc->n_virtual_hosts = 1;
    rc->virtual_hosts = vec(a, 1, v);
    h->stat_prefix = lit("echo.svc");
    h->route_specifier_case =
        HCM_C(HTTP_CONNECTION_MANAGER__ROUTE_SPECIFIER_ROUTE_CONFIG);
    h->route_config = rc;
    h->n_http_filters = 1;
    h->http_filters = vec(a, 1, router_filter(a));
    return &h->base;
}

/* ===== envoy.config.listener.v3 ===== */

static LS(Filter) * hcm_filter(struct wire_arena *a)
{
    LS(Filter) *f = new_msg(a, LS_D(filter));

    f->name = lit("envoy.filters.network.http_connection_manager");
    f->config_type_case = LS_C(FILTER__CONFIG_TYPE_TYPED_CONFIG);
    f->typed_config = any(a, build_hcm(a));
    return f;
}

static LS(FilterChain) * filter_chain(struct wire_arena *a)
{
    LS(FilterChain) *fc = new_msg(a, LS_D(filter_chain));
    LS(FilterChainMatch) *m = new_msg(a, LS_D(filter_chain_match));
    CORE(CidrRange) *c1 = new_msg(a, CORE_D(cidr_range));
    CORE(CidrRange) *c2 = new_msg(a, CORE_D(cidr_range));
    static const uint32_t ports[] = {1024, 65535, 1};

    c1->address_prefix = lit("10.0.0.0");
    c1->prefix_len = u32(a, 8);
    c2->address_prefix = lit("::1");
    c2->prefix_len = u32(a, 128);
    m->destination_port = u32(a, 8000);
    m->n_prefix_ranges = 1;
    m->prefix_ranges = vec(a, 1, c1);
    m->source_type =
        LS_C(FILTER_CHAIN_MATCH__CONNECTION_SOURCE_TYPE__SAME_IP_OR_LOOPBACK);
    m->n_source_prefix_ranges = 1;
    m->source_prefix_ranges = vec(a, 1, c2);
    m->n_source_ports = 3;
    m->source_ports = wire_arena_dup(a, ports, sizeof(ports));
    m->n_server_names = 1;
    m->server_names = vec(a, 1, "whoami.localhost");
    m->transport_protocol = lit("raw_buffer");
    m->n_application_protocols = 2;
    m->application_protocols = vec(a, 2, "http/1.1", "h2c");
    fc->filter_chain_match = m;
    fc->n_filters = 1;
    fc->filters = vec(a, 1, hcm_filter(a));
    fc->use_proxy_proto = bv(a, 0);
    fc->metadata = metadata(a);
    fc->transport_socket = raw_buffer(a);
    fc->transport_socket_connect_timeout = dur(a, 2, 0);
    fc->name = lit("web-chain");
    return fc;
}

static ProtobufCMessage *build_listener(struct wire_arena *a)
{
    LS(Listener) *l = new_msg(a, LS_D(listener));
    LS(FilterChain) *def = new_msg(a, LS_D(filter_chain));
    LS(ApiListener) *api = new_msg(a, LS_D(api_listener));

    def->name = lit("default");
    def->n_filters = 1;
    def->filters = vec(a, 1, hcm_filter(a));
    api->api_listener = any(a, build_hcm_inline(a));
    l->name = lit("web");
    l->address = sock(a, "0.0.0.0", 8000);
    l->stat_prefix = lit("web");
    l->n_filter_chains = 1;
    l->filter_chains = vec(a, 1, filter_chain(a));
    l->use_original_dst = bv(a, 0);
    l->default_filter_chain = def;
    l->per_connection_buffer_limit_bytes = u32(a, 32768);
    l->metadata = metadata(a);
    l->drain_type = LS_C(LISTENER__DRAIN_TYPE__MODIFY_ONLY);
    l->listener_filters_timeout = dur(a, 1, 0);
    l->continue_on_listener_filters_timeout = 1;
    l->transparent = bv(a, 0);
    l->freebind = bv(a, 1);
    l->tcp_fast_open_queue_length = u32(a, 16);
    l->traffic_direction = CORE_C(TRAFFIC_DIRECTION__INBOUND);
    l->api_listener = api;
    l->enable_reuse_port = bv(a, 1);
    l->tcp_backlog_size = u32(a, 1024);
    l->bind_to_port = bv(a, 1);
    return &l->base;
}

/* ===== envoy.config.endpoint.v3 ===== */

static EP(LbEndpoint) * lb_endpoint(struct wire_arena *a, CORE(Address) * addr,
                                    CORE(HealthStatus) status, uint32_t weight)
{
    EP(LbEndpoint) *l = new_msg(a, EP_D(lb_endpoint));
    EP(Endpoint) *e = new_msg(a, EP_D(endpoint));

    e->address = addr;
    l->host_identifier_case = EP_C(LB_ENDPOINT__HOST_IDENTIFIER_ENDPOINT);
    l->endpoint = e;
    l->health_status = status;
    if (weight)
        l->load_balancing_weight = u32(a, weight);
    return l;
}

/* The three other Address kinds: named port over UDP, pipe, internal. */
static CORE(Address) * addr_kind(struct wire_arena *a, int kind)
{
    CORE(Address) *ad = new_msg(a, CORE_D(address));

    if (kind == 0) {
        CORE(SocketAddress) *sa = new_msg(a, CORE_D(socket_address));
        sa->protocol = CORE_C(SOCKET_ADDRESS__PROTOCOL__UDP);
        sa->address = lit("whoami.svc");
        sa->port_specifier_case =
            CORE_C(SOCKET_ADDRESS__PORT_SPECIFIER_NAMED_PORT);
        sa->named_port = lit("http");
        sa->resolver_name = lit("dns");
        sa->ipv4_compat = 1;
        ad->address_case = CORE_C(ADDRESS__ADDRESS_SOCKET_ADDRESS);
        ad->socket_address = sa;
    } else if (kind == 1) {
        CORE(Pipe) *p = new_msg(a, CORE_D(pipe));
        p->path = lit("/run/whoami.sock");
        p->mode = 0600;
        ad->address_case = CORE_C(ADDRESS__ADDRESS_PIPE);
        ad->pipe = p;
    } else {
        CORE(EnvoyInternalAddress) *i =
            new_msg(a, CORE_D(envoy_internal_address));
        i->address_name_specifier_case = CORE_C(
            ENVOY_INTERNAL_ADDRESS__ADDRESS_NAME_SPECIFIER_SERVER_LISTENER_NAME);
        i->server_listener_name = lit("internal");
        i->endpoint_id = lit("e1");
        ad->address_case = CORE_C(ADDRESS__ADDRESS_ENVOY_INTERNAL_ADDRESS);
        ad->envoy_internal_address = i;
    }
    return ad;
}

static ProtobufCMessage *build_cla(struct wire_arena *a)
{
    EP(ClusterLoadAssignment) *c = new_msg(a, EP_D(cluster_load_assignment));
    EP(ClusterLoadAssignment__Policy) *p =
        new_msg(a, EP_D(cluster_load_assignment__policy));
    EP(ClusterLoadAssignment__Policy__DropOverload) *drop =
        new_msg(a, EP_D(cluster_load_assignment__policy__drop_overload));
    EP(LocalityLbEndpoints) *l1 = new_msg(a, EP_D(locality_lb_endpoints));
    EP(LocalityLbEndpoints) *l2 = new_msg(a, EP_D(locality_lb_endpoints));
    EP(Endpoint__HealthCheckConfig) *hc =
        new_msg(a, EP_D(endpoint__health_check_config));
    EP(LbEndpoint) *e1 = lb_endpoint(a, sock(a, "127.0.0.1", 8081),
                                     CORE_C(HEALTH_STATUS__HEALTHY), 1);
    CORE(Locality) *loc1 = new_msg(a, CORE_D(locality));
    CORE(Locality) *loc2 = new_msg(a, CORE_D(locality));
    TY(FractionalPercent) *pct = new_msg(a, TY_D(fractional_percent));

    hc->port_value = 9081;
    hc->hostname = lit("hc.local");
    hc->address = addr_kind(a, 2);
    hc->disable_active_health_check = 1;
    e1->endpoint->health_check_config = hc;
    e1->endpoint->hostname = lit("whoami-1");
    e1->metadata = metadata(a);
    loc1->region = lit("eu-west");
    loc1->zone = lit("a");
    loc1->sub_zone = lit("rack1");
    l1->locality = loc1;
    l1->metadata = metadata(a);
    l1->n_lb_endpoints = 3;
    l1->lb_endpoints =
        vec(a, 3, e1,
            lb_endpoint(a, sock(a, "::1", 8082),
                        CORE_C(HEALTH_STATUS__DRAINING), 2),
            lb_endpoint(a, addr_kind(a, 0), CORE_C(HEALTH_STATUS__TIMEOUT), 0));
    l1->load_balancing_weight = u32(a, 100);
    l1->proximity = u32(a, 1);
    loc2->region = lit("eu-east");
    l2->locality = loc2;
    l2->n_lb_endpoints = 1;
    l2->lb_endpoints = vec(
        a, 1,
        lb_endpoint(a, addr_kind(a, 1), CORE_C(HEALTH_STATUS__DEGRADED), 3));
    l2->load_balancing_weight = u32(a, 1);
    l2->priority = 1;
    pct->numerator = 5;
    pct->denominator = TY_C(FRACTIONAL_PERCENT__DENOMINATOR_TYPE__TEN_THOUSAND);
    drop->category = lit("throttle");
    drop->drop_percentage = pct;
    p->n_drop_overloads = 1;
    p->drop_overloads = vec(a, 1, drop);
    p->overprovisioning_factor = u32(a, 140);
    p->endpoint_stale_after = dur(a, 30, 0);
    p->weighted_priority_health = 1;
    c->cluster_name = lit("whoami");
    c->n_endpoints = 2;
    c->endpoints = vec(a, 2, l1, l2);
    c->policy = p;
    return &c->base;
}

/* ===== envoy.config.cluster.v3 ===== */

static CORE(HealthCheck) * health_check(struct wire_arena *a, int kind)
{
    CORE(HealthCheck) *h = new_msg(a, CORE_D(health_check));

    h->timeout = dur(a, 1, 0);
    h->interval = dur(a, 2, 0);
    h->unhealthy_threshold = u32(a, 3);
    h->healthy_threshold = u32(a, 2);
    if (kind == 0) {
        CORE(HealthCheck__HttpHealthCheck) *x =
            new_msg(a, CORE_D(health_check__http_health_check));
        TY(Int64Range) *ok = new_msg(a, TY_D(int64_range));
        ok->start = 200;
        ok->end = 300;
        x->host = lit("whoami.local");
        x->path = lit("/health");
        x->n_request_headers_to_add = 1;
        x->request_headers_to_add = vec(
            a, 1,
            hvo(a, "x-hc", "1",
                CORE_C(
                    HEADER_VALUE_OPTION__HEADER_APPEND_ACTION__ADD_IF_ABSENT)));
        x->n_request_headers_to_remove = 1;
        x->request_headers_to_remove = vec(a, 1, "user-agent");
        x->n_expected_statuses = 1;
        x->expected_statuses = vec(a, 1, ok);
        x->method = CORE_C(REQUEST_METHOD__HEAD);
        h->health_checker_case =
            CORE_C(HEALTH_CHECK__HEALTH_CHECKER_HTTP_HEALTH_CHECK);
        h->http_health_check = x;
        h->initial_jitter = dur(a, 0, 100000000);
        h->interval_jitter = dur(a, 0, 200000000);
        h->interval_jitter_percent = 10;
        h->alt_port = u32(a, 8082);
        h->reuse_connection = bv(a, 1);
        h->no_traffic_interval = dur(a, 60, 0);
        h->unhealthy_interval = dur(a, 5, 0);
        h->unhealthy_edge_interval = dur(a, 1, 0);
        h->healthy_edge_interval = dur(a, 1, 0);
    } else if (kind == 1) {
        CORE(HealthCheck__TcpHealthCheck) *x =
            new_msg(a, CORE_D(health_check__tcp_health_check));
        CORE(HealthCheck__Payload) *send =
            new_msg(a, CORE_D(health_check__payload));
        CORE(HealthCheck__Payload) *recv =
            new_msg(a, CORE_D(health_check__payload));
        send->payload_case = CORE_C(HEALTH_CHECK__PAYLOAD__PAYLOAD_TEXT);
        send->text = lit("50494E47");
        recv->payload_case = CORE_C(HEALTH_CHECK__PAYLOAD__PAYLOAD_BINARY);
        recv->binary = bin(a, "PONG", 4);
        x->send = send;
        x->n_receive = 1;
        x->receive = vec(a, 1, recv);
        h->health_checker_case =
            CORE_C(HEALTH_CHECK__HEALTH_CHECKER_TCP_HEALTH_CHECK);
        h->tcp_health_check = x;
    } else {
        CORE(HealthCheck__GrpcHealthCheck) *x =
            new_msg(a, CORE_D(health_check__grpc_health_check));
        x->service_name = lit("grpc.health.v1.Health");
        x->authority = lit("echo.svc");
        x->n_initial_metadata = 1;
        x->initial_metadata = vec(
            a, 1,
            hvo(a, "x-hc", "grpc",
                CORE_C(
                    HEADER_VALUE_OPTION__HEADER_APPEND_ACTION__APPEND_IF_EXISTS_OR_ADD)));
        h->health_checker_case =
            CORE_C(HEALTH_CHECK__HEALTH_CHECKER_GRPC_HEALTH_CHECK);
        h->grpc_health_check = x;
    }
    return h;
}

static CL(CircuitBreakers) * circuit_breakers(struct wire_arena *a)
{
    CL(CircuitBreakers) *cb = new_msg(a, CL_D(circuit_breakers));
    CL(CircuitBreakers__Thresholds) *t1 =
        new_msg(a, CL_D(circuit_breakers__thresholds));
    CL(CircuitBreakers__Thresholds) *t2 =
        new_msg(a, CL_D(circuit_breakers__thresholds));
    CL(CircuitBreakers__Thresholds) *t3 =
        new_msg(a, CL_D(circuit_breakers__thresholds));
    CL(CircuitBreakers__Thresholds__RetryBudget) *rb =
        new_msg(a, CL_D(circuit_breakers__thresholds__retry_budget));
    TY(Percent) *pct = new_msg(a, TY_D(percent));

    pct->value = 25.5;
    rb->budget_percent = pct;
    rb->min_retry_concurrency = u32(a, 3);
    t1->max_connections = u32(a, 1024);
    t1->max_pending_requests = u32(a, 1024);
    t1->max_requests = u32(a, 1024);
    t1->max_retries = u32(a, 3);
    t1->retry_budget = rb;
    t1->track_remaining = 1;
    t1->max_connection_pools = u32(a, 10);
    t2->priority = CORE_C(ROUTING_PRIORITY__HIGH);
    t2->max_connections = u32(a, 2048);
    t3->max_connections = u32(a, 64);
    cb->n_thresholds = 2;
    cb->thresholds = vec(a, 2, t1, t2);
    cb->n_per_host_thresholds = 1;
    cb->per_host_thresholds = vec(a, 1, t3);
    return cb;
}

static CL(OutlierDetection) * outlier_detection(struct wire_arena *a)
{
    CL(OutlierDetection) *o = new_msg(a, CL_D(outlier_detection));

    o->consecutive_5xx = u32(a, 5);
    o->interval = dur(a, 10, 0);
    o->base_ejection_time = dur(a, 30, 0);
    o->max_ejection_percent = u32(a, 50);
    o->enforcing_consecutive_5xx = u32(a, 100);
    o->enforcing_success_rate = u32(a, 0);
    o->success_rate_minimum_hosts = u32(a, 5);
    o->success_rate_request_volume = u32(a, 100);
    o->success_rate_stdev_factor = u32(a, 1900);
    o->consecutive_gateway_failure = u32(a, 3);
    o->enforcing_consecutive_gateway_failure = u32(a, 0);
    o->split_external_local_origin_errors = 1;
    o->consecutive_local_origin_failure = u32(a, 5);
    o->max_ejection_time = dur(a, 300, 0);
    o->max_ejection_time_jitter = dur(a, 1, 0);
    o->successful_active_health_check_uneject_host = bv(a, 1);
    o->always_eject_one_host = bv(a, 0);
    return o;
}

/* typed_extension_protocol_options: h2c upstream, the way Envoy wants it. */
static ProtobufCMessage *build_upstream_http(struct wire_arena *a)
{
    UP(HttpProtocolOptions) *o = new_msg(a, UP_D(http_protocol_options));
    UP(HttpProtocolOptions__ExplicitHttpConfig) *e =
        new_msg(a, UP_D(http_protocol_options__explicit_http_config));

    e->protocol_config_case = UP_C(
        HTTP_PROTOCOL_OPTIONS__EXPLICIT_HTTP_CONFIG__PROTOCOL_CONFIG_HTTP2_PROTOCOL_OPTIONS);
    e->http2_protocol_options = http2_opts(a, 50);
    o->common_http_protocol_options = http_opts(a);
    o->upstream_protocol_options_case = UP_C(
        HTTP_PROTOCOL_OPTIONS__UPSTREAM_PROTOCOL_OPTIONS_EXPLICIT_HTTP_CONFIG);
    o->explicit_http_config = e;
    return &o->base;
}

static ProtobufCMessage *build_cluster(struct wire_arena *a)
{
    CL(Cluster) *c = new_msg(a, CL_D(cluster));
    CL(Cluster__EdsClusterConfig) *eds =
        new_msg(a, CL_D(cluster__eds_cluster_config));
    CL(Cluster__LeastRequestLbConfig) *lr =
        new_msg(a, CL_D(cluster__least_request_lb_config));
    CL(Cluster__SlowStartConfig) *ss =
        new_msg(a, CL_D(cluster__slow_start_config));
    CL(Cluster__CommonLbConfig) *common =
        new_msg(a, CL_D(cluster__common_lb_config));
    CL(Cluster__TypedExtensionProtocolOptionsEntry) *opt =
        new_msg(a, CL_D(cluster__typed_extension_protocol_options_entry));
    CORE(UpstreamHttpProtocolOptions) *uhttp =
        new_msg(a, CORE_D(upstream_http_protocol_options));
    TY(Percent) *min_w = new_msg(a, TY_D(percent));
    TY(Percent) *panic = new_msg(a, TY_D(percent));

    eds->eds_config = ads(a);
    eds->service_name = lit("whoami");
    min_w->value = 10;
    ss->slow_start_window = dur(a, 30, 0);
    ss->min_weight_percent = min_w;
    lr->choice_count = u32(a, 2);
    lr->slow_start_config = ss;
    panic->value = 50;
    common->healthy_panic_threshold = panic;
    common->locality_config_specifier_case = CL_C(
        CLUSTER__COMMON_LB_CONFIG__LOCALITY_CONFIG_SPECIFIER_LOCALITY_WEIGHTED_LB_CONFIG);
    common->locality_weighted_lb_config = new_msg(
        a, CL_D(cluster__common_lb_config__locality_weighted_lb_config));
    common->update_merge_window = dur(a, 1, 0);
    common->ignore_new_hosts_until_first_hc = 1;
    common->close_connections_on_host_set_change = 1;
    opt->key = lit("envoy.extensions.upstreams.http.v3.HttpProtocolOptions");
    opt->value = any(a, build_upstream_http(a));
    uhttp->auto_sni = 1;
    uhttp->auto_san_validation = 1;
    uhttp->override_auto_sni_header = lit(":authority");

    c->name = lit("whoami");
    c->alt_stat_name = lit("whoami_stats");
    c->cluster_discovery_type_case = CL_C(CLUSTER__CLUSTER_DISCOVERY_TYPE_TYPE);
    c->type = CL_C(CLUSTER__DISCOVERY_TYPE__EDS);
    c->eds_cluster_config = eds;
    c->connect_timeout = dur(a, 0, 250000000);
    c->per_connection_buffer_limit_bytes = u32(a, 65536);
    c->lb_policy = CL_C(CLUSTER__LB_POLICY__LEAST_REQUEST);
    c->load_assignment = (EP(ClusterLoadAssignment) *)build_cla(a);
    c->n_health_checks = 3;
    c->health_checks =
        vec(a, 3, health_check(a, 0), health_check(a, 1), health_check(a, 2));
    c->max_requests_per_connection = u32(a, 100);
    c->circuit_breakers = circuit_breakers(a);
    c->upstream_http_protocol_options = uhttp;
    c->common_http_protocol_options = http_opts(a);
    c->http_protocol_options = http1_opts(a);
    c->http2_protocol_options = http2_opts(a, 100);
    c->n_typed_extension_protocol_options = 1;
    c->typed_extension_protocol_options = vec(a, 1, opt);
    c->dns_refresh_rate = dur(a, 5, 0);
    c->respect_dns_ttl = 1;
    c->dns_lookup_family = CL_C(CLUSTER__DNS_LOOKUP_FAMILY__V4_ONLY);
    c->wait_for_warm_on_init = bv(a, 1);
    c->outlier_detection = outlier_detection(a);
    c->cleanup_interval = dur(a, 5, 0);
    c->lb_config_case = CL_C(CLUSTER__LB_CONFIG_LEAST_REQUEST_LB_CONFIG);
    c->least_request_lb_config = lr;
    c->common_lb_config = common;
    c->transport_socket = raw_buffer(a);
    c->metadata = metadata(a);
    c->protocol_selection =
        CL_C(CLUSTER__CLUSTER_PROTOCOL_SELECTION__USE_DOWNSTREAM_PROTOCOL);
    c->close_connections_on_host_health_failure = 1;
    c->ignore_health_on_host_removal = 1;
    return &c->base;
}

/* ===== envoy.service.discovery.v3 ===== */

static Google__Rpc__Status *nack_status(struct wire_arena *a)
{
    Google__Rpc__Status *s = new_msg(a, &google__rpc__status__descriptor);
    Google__Protobuf__StringValue *sv =
        new_msg(a, &google__protobuf__string_value__descriptor);

    sv->value = lit("route \"web\": bad regex at 7");
    s->code = 3;
    s->message = lit("route \"web\": bad regex \xe2\x80\x9c(\xe2\x80\x9d");
    s->n_details = 2;
    s->details = vec(a, 2, any(a, &sv->base), any(a, build_router(a)));
    return s;
}

static ProtobufCMessage *build_discovery_request(struct wire_arena *a)
{
    DS(DiscoveryRequest) *r = new_msg(a, DS_D(discovery_request));

    r->version_info = lit("41");
    r->node = node(a);
    r->n_resource_names = 2;
    r->resource_names = vec(a, 2, "web", "websecure");
    r->type_url = lit(TYPE_URL_PREFIX "envoy.config.listener.v3.Listener");
    r->response_nonce = lit("n-7");
    r->error_detail = nack_status(a);
    return &r->base;
}

static ProtobufCMessage *build_discovery_response(struct wire_arena *a)
{
    DS(DiscoveryResponse) *r = new_msg(a, DS_D(discovery_response));
    CORE(ControlPlane) *cp = new_msg(a, CORE_D(control_plane));

    cp->identifier = lit("control-1");
    r->version_info = lit("42");
    r->n_resources = 5;
    r->resources = vec(a, 5, any(a, build_listener(a)),
                       any(a, build_route_configuration(a)),
                       any(a, build_cluster(a)), any(a, build_cla(a)),
                       any_opaque(a, UNKNOWN_TYPE_URL,
                                  "\x0a\x01"
                                  "x"));
    r->canary = 1;
    r->type_url = lit(TYPE_URL_PREFIX "envoy.config.listener.v3.Listener");
    r->nonce = lit("n-8");
    r->control_plane = cp;
    return &r->base;
}

static ProtobufCMessage *build_delta_request(struct wire_arena *a)
{
    DS(DeltaDiscoveryRequest) *r = new_msg(a, DS_D(delta_discovery_request));
    DS(DeltaDiscoveryRequest__InitialResourceVersionsEntry) *v1 = new_msg(
        a, DS_D(delta_discovery_request__initial_resource_versions_entry));
    DS(DeltaDiscoveryRequest__InitialResourceVersionsEntry) *v2 = new_msg(
        a, DS_D(delta_discovery_request__initial_resource_versions_entry));

    v1->key = lit("whoami");
    v1->value = lit("40");
    v2->key = lit("whoami-v2");
    /* Not "": protobuf-c leaves a default value out of a map entry, where
     * protobufjs (and C++) write it; both decode the same, but the
     * re-encoding check compares bytes. */
    v2->value = lit("41");
    r->node = node(a);
    r->type_url = lit(TYPE_URL_PREFIX "envoy.config.cluster.v3.Cluster");
    r->n_resource_names_subscribe = 2;
    r->resource_names_subscribe = vec(a, 2, "whoami", "whoami-v2");
    r->n_resource_names_unsubscribe = 1;
    r->resource_names_unsubscribe = vec(a, 1, "old");
    r->n_initial_resource_versions = 2;
    r->initial_resource_versions = vec(a, 2, v1, v2);
    r->response_nonce = lit("d-1");
    r->error_detail = nack_status(a);
    return &r->base;
}

static ProtobufCMessage *build_delta_response(struct wire_arena *a)
{
    DS(DeltaDiscoveryResponse) *r = new_msg(a, DS_D(delta_discovery_response));
    DS(Resource) *r1 = new_msg(a, DS_D(resource));
    DS(Resource) *r2 = new_msg(a, DS_D(resource));
    DS(Resource__CacheControl) *cc = new_msg(a, DS_D(resource__cache_control));
    CORE(ControlPlane) *cp = new_msg(a, CORE_D(control_plane));

    cc->do_not_cache = 1;
    r1->name = lit("whoami");
    r1->n_aliases = 1;
    r1->aliases = vec(a, 1, "whoami-alias");
    r1->version = lit("42");
    r1->resource = any(a, build_cluster(a));
    r1->ttl = dur(a, 60, 0);
    r1->cache_control = cc;
    r1->metadata = metadata(a);
    r2->name = lit("whoami-v2");
    r2->version = lit("42");
    r2->resource = any(a, build_cla(a));
    cp->identifier = lit("control-2");
    r->system_version_info = lit("42");
    r->n_resources = 2;
    r->resources = vec(a, 2, r1, r2);
    r->type_url = lit(TYPE_URL_PREFIX "envoy.config.cluster.v3.Cluster");
    r->n_removed_resources = 1;
    r->removed_resources = vec(a, 1, "old");
    r->nonce = lit("d-2");
    r->control_plane = cp;
    return &r->base;
}

/* ===== registry ===== */

/* ===== envoy.extensions.transport_sockets.tls.v3 ===== */

static CORE(DataSource) * ds_bytes(struct wire_arena *a, const char *s)
{
    CORE(DataSource) *d = new_msg(a, CORE_D(data_source));

    d->specifier_case = CORE_C(DATA_SOURCE__SPECIFIER_INLINE_BYTES);
    d->inline_bytes = bin(a, s, strlen(s));
    return d;
}

static CORE(DataSource) * ds_string(struct wire_arena *a, const char *s)
{
    CORE(DataSource) *d = new_msg(a, CORE_D(data_source));

    d->specifier_case = CORE_C(DATA_SOURCE__SPECIFIER_INLINE_STRING);
    d->inline_string = lit(s);
    return d;
}

static CORE(DataSource) * ds_file(struct wire_arena *a, const char *s)
{
    CORE(DataSource) *d = new_msg(a, CORE_D(data_source));

    d->specifier_case = CORE_C(DATA_SOURCE__SPECIFIER_FILENAME);
    d->filename = lit(s);
    return d;
}

static TLS(TlsCertificate) * tls_cert(struct wire_arena *a)
{
    TLS(TlsCertificate) *c = new_msg(a, TLS_D(tls_certificate));

    c->certificate_chain = ds_bytes(a, "-----BEGIN CERTIFICATE-----\nMIIB\n");
    c->private_key = ds_string(a, "-----BEGIN PRIVATE KEY-----\nMIIE\n");
    c->ocsp_staple = ds_bytes(a, "\x30\x82\x01\x00");
    c->n_signed_certificate_timestamp = 1;
    c->signed_certificate_timestamp = vec(a, 1, ds_bytes(a, "sct"));
    return c;
}

static TLS(CertificateValidationContext) * tls_validation(struct wire_arena *a)
{
    TLS(CertificateValidationContext) *v =
        new_msg(a, TLS_D(certificate_validation_context));
    TLS(SubjectAltNameMatcher) *dns =
        new_msg(a, TLS_D(subject_alt_name_matcher));
    TLS(SubjectAltNameMatcher) *other =
        new_msg(a, TLS_D(subject_alt_name_matcher));

    dns->san_type = TLS_C(SUBJECT_ALT_NAME_MATCHER__SAN_TYPE__DNS);
    dns->matcher =
        smatch(a, MT_C(STRING_MATCHER__MATCH_PATTERN_SUFFIX), ".b.test", 1);
    other->san_type = TLS_C(SUBJECT_ALT_NAME_MATCHER__SAN_TYPE__OTHER_NAME);
    other->matcher =
        smatch(a, MT_C(STRING_MATCHER__MATCH_PATTERN_EXACT), "x", 0);
    other->oid = lit("1.3.6.1.4.1.311.20.2.3");
    v->trusted_ca = ds_file(a, "/etc/ssl/certs/ca-certificates.crt");
    v->n_match_typed_subject_alt_names = 2;
    v->match_typed_subject_alt_names = vec(a, 2, dns, other);
    v->require_signed_certificate_timestamp = bv(a, 0);
    v->allow_expired_certificate = 1;
    v->trust_chain_verification = TLS_C(
        CERTIFICATE_VALIDATION_CONTEXT__TRUST_CHAIN_VERIFICATION__ACCEPT_UNTRUSTED);
    return v;
}

static TLS(SdsSecretConfig) * sds(struct wire_arena *a, const char *name)
{
    TLS(SdsSecretConfig) *s = new_msg(a, TLS_D(sds_secret_config));

    s->name = lit(name);
    s->sds_config = ads(a);
    return s;
}

static TLS(CommonTlsContext) * tls_common(struct wire_arena *a, int down)
{
    TLS(CommonTlsContext) *c = new_msg(a, TLS_D(common_tls_context));
    TLS(TlsParameters) *p = new_msg(a, TLS_D(tls_parameters));

    p->tls_minimum_protocol_version =
        TLS_C(TLS_PARAMETERS__TLS_PROTOCOL__TLSv1_2);
    p->tls_maximum_protocol_version =
        TLS_C(TLS_PARAMETERS__TLS_PROTOCOL__TLSv1_3);
    p->n_cipher_suites = 2;
    p->cipher_suites = vec(a, 2, lit("ECDHE-ECDSA-AES128-GCM-SHA256"),
                           lit("ECDHE-RSA-CHACHA20-POLY1305"));
    p->n_ecdh_curves = 1;
    p->ecdh_curves = vec(a, 1, lit("X25519"));
    c->tls_params = p;
    c->n_alpn_protocols = 2;
    c->alpn_protocols = vec(a, 2, lit("h2"), lit("http/1.1"));
    if (down) {
        c->n_tls_certificates = 1;
        c->tls_certificates = vec(a, 1, tls_cert(a));
        c->n_tls_certificate_sds_secret_configs = 2;
        c->tls_certificate_sds_secret_configs =
            vec(a, 2, sds(a, "a-test"), sds(a, "wild-b-test"));
        c->validation_context_type_case = TLS_C(
            COMMON_TLS_CONTEXT__VALIDATION_CONTEXT_TYPE_VALIDATION_CONTEXT_SDS_SECRET_CONFIG);
        c->validation_context_sds_secret_config = sds(a, "client-ca");
    } else {
        c->validation_context_type_case = TLS_C(
            COMMON_TLS_CONTEXT__VALIDATION_CONTEXT_TYPE_VALIDATION_CONTEXT);
        c->validation_context = tls_validation(a);
    }
    return c;
}

static ProtobufCMessage *build_downstream_tls(struct wire_arena *a)
{
    TLS(DownstreamTlsContext) *d = new_msg(a, TLS_D(downstream_tls_context));

    d->common_tls_context = tls_common(a, 1);
    d->require_client_certificate = bv(a, 0);
    d->require_sni = bv(a, 1);
    d->session_ticket_keys_type_case = TLS_C(
        DOWNSTREAM_TLS_CONTEXT__SESSION_TICKET_KEYS_TYPE_DISABLE_STATELESS_SESSION_RESUMPTION);
    d->disable_stateless_session_resumption = 0;
    d->disable_stateful_session_resumption = 1;
    d->ocsp_staple_policy =
        TLS_C(DOWNSTREAM_TLS_CONTEXT__OCSP_STAPLE_POLICY__MUST_STAPLE);
    return (ProtobufCMessage *)d;
}

static ProtobufCMessage *build_upstream_tls(struct wire_arena *a)
{
    TLS(UpstreamTlsContext) *u = new_msg(a, TLS_D(upstream_tls_context));

    u->common_tls_context = tls_common(a, 0);
    u->sni = lit("api.b.test");
    u->allow_renegotiation = 1;
    return (ProtobufCMessage *)u;
}

static ProtobufCMessage *build_secret(struct wire_arena *a)
{
    TLS(Secret) *s = new_msg(a, TLS_D(secret));

    s->name = lit("a-test");
    s->type_case = TLS_C(SECRET__TYPE_TLS_CERTIFICATE);
    s->tls_certificate = tls_cert(a);
    return (ProtobufCMessage *)s;
}

static ProtobufCMessage *build_secret_ca(struct wire_arena *a)
{
    TLS(Secret) *s = new_msg(a, TLS_D(secret));

    s->name = lit("client-ca");
    s->type_case = TLS_C(SECRET__TYPE_VALIDATION_CONTEXT);
    s->validation_context = tls_validation(a);
    return (ProtobufCMessage *)s;
}

const struct wire_type wire_types[] = {
    {"Listener", LS_D(listener), build_listener},
    {"RouteConfiguration", RT_D(route_configuration),
     build_route_configuration},
    {"Cluster", CL_D(cluster), build_cluster},
    {"ClusterLoadAssignment", EP_D(cluster_load_assignment), build_cla},
    {"HttpConnectionManager", HCM_D(http_connection_manager), build_hcm},
    {"Router",
     &envoy__extensions__filters__http__router__v3__router__descriptor,
     build_router},
    {"DiscoveryRequest", DS_D(discovery_request), build_discovery_request},
    {"DiscoveryResponse", DS_D(discovery_response), build_discovery_response},
    {"DeltaDiscoveryRequest", DS_D(delta_discovery_request),
     build_delta_request},
    {"DeltaDiscoveryResponse", DS_D(delta_discovery_response),
     build_delta_response},
    {"Secret", TLS_D(secret), build_secret},
    {"SecretValidation", TLS_D(secret), build_secret_ca},
    {"DownstreamTlsContext", TLS_D(downstream_tls_context),
     build_downstream_tls},
    {"UpstreamTlsContext", TLS_D(upstream_tls_context), build_upstream_tls},
};
const size_t wire_n_types = sizeof(wire_types) / sizeof(wire_types[0]);

const ProtobufCMessageDescriptor *wire_any_lookup(const char *type_url)
{
    static const ProtobufCMessageDescriptor *const extra[] = {
        UP_D(http_protocol_options),
        &google__protobuf__string_value__descriptor,
    };
    const char *name = type_url ? strrchr(type_url, '/') : NULL;
    size_t i;

    if (name == NULL)
        return NULL;
    name++;
    for (i = 0; i < wire_n_types; i++) {
        if (strcmp(wire_types[i].desc->name, name) == 0)
            return wire_types[i].desc;
    }
    for (i = 0; i < sizeof(extra) / sizeof(extra[0]); i++) {
        if (strcmp(extra[i]->name, name) == 0)
            return extra[i];
    }
    return NULL;
}
