/*
 * table.c -- dp_table_build(): validates decoded Listener, RouteConfiguration,
 * Cluster and ClusterLoadAssignment messages together and compiles them into
 * one immutable snapshot; lookups by name. Runs on the configuration thread;
 * the messages are only borrowed. Errors name the resource and field: they
 * become the error_detail of an xDS NACK.
 */
#include "dataplane/table/table_int.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/filter/filter.h"
#include "dataplane/router/router.h"
#include "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.pb-c.h"
#include "envoy/extensions/upstreams/http/v3/http_protocol_options.pb-c.h"

#define CL(x)   Envoy__Config__Cluster__V3__##x
#define EP(x)   Envoy__Config__Endpoint__V3__##x
#define LS(x)   Envoy__Config__Listener__V3__##x
#define CORE(x) Envoy__Config__Core__V3__##x
#define HCM(x)                                                                 \
    Envoy__Extensions__Filters__Network__HttpConnectionManager__V3__##x
#define UPH(x) Envoy__Extensions__Upstreams__Http__V3__##x

#define HCM_TYPE                                                               \
    "envoy.extensions.filters.network.http_connection_manager.v3."             \
    "HttpConnectionManager"
#define ROUTER_TYPE    "envoy.extensions.filters.http.router.v3.Router"
#define ROUTER_FILTER  "envoy.filters.http.router"
#define UPH_KEY        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
#define MAX_DURATION_S 315576000000ll

struct tb {
    struct dp_table *t;
    const struct dp_table_input *in;
    EP(ClusterLoadAssignment) * *cla; /* sorted by cluster_name */
    char *err;
    size_t len;
};

static int fail(struct tb *b, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct tb *b, int code, const char *fmt, ...)
{
    char msg[CM_ERR_LEN];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return cm_err_set(b->err, b->len, code, "%s", msg);
}

/* Zeroed memory freed with the table. */
static void *talloc(struct tb *b, size_t n, size_t size)
{
    struct dp_table *t = b->t;
    void *p;

    if (size != 0 && n > SIZE_MAX / size)
        return NULL;
    if (t->n_allocs == t->cap_allocs) {
        size_t cap = t->cap_allocs ? t->cap_allocs * 2 : 32;
        void **a = realloc(t->allocs, cap * sizeof(*a));
        if (a == NULL)
            return NULL;
        t->allocs = a, t->cap_allocs = cap;
    }
    if ((p = calloc(n ? n : 1, size ? size : 1)) == NULL)
        return NULL;
    t->allocs[t->n_allocs++] = p;
    return p;
}

static const char *tstr(struct tb *b, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    char *d = talloc(b, n + 1, 1);

    if (d != NULL && n > 0)
        memcpy(d, s, n);
    return d;
}

static bool empty(const char *s)
{
    return s == NULL || s[0] == '\0';
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = s ? strlen(s) : 0, k = strlen(suffix);

    return n >= k && strcmp(s + n - k, suffix) == 0 &&
           (n == k || s[n - k - 1] == '/' || s[n - k - 1] == '.');
}

static int duration_ms(struct tb *b, const char *what,
                       const Google__Protobuf__Duration *d, uint64_t def,
                       uint64_t *out)
{
    if (d == NULL) {
        *out = def;
        return GW_OK;
    }
    if (d->seconds < 0 || d->nanos < 0 || d->nanos > 999999999 ||
        d->seconds > MAX_DURATION_S)
        return fail(b, GW_EINVAL, "%s: invalid duration", what);
    *out = (uint64_t)d->seconds * 1000 + (uint64_t)d->nanos / 1000000;
    return GW_OK;
}

static uint32_t u32_or(const Google__Protobuf__UInt32Value *v, uint32_t def)
{
    return v ? v->value : def;
}

/* An IP literal and port 1..65535 from <a>; <what> prefixes errors. */
static int ip_addr(struct tb *b, const char *what, const CORE(Address) * a,
                   struct dp_table_addr *out)
{
    const CORE(SocketAddress) * s;
    struct sockaddr_in *v4 = (struct sockaddr_in *)&out->sa;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&out->sa;

    if (a == NULL ||
        a->address_case !=
            ENVOY__CONFIG__CORE__V3__ADDRESS__ADDRESS_SOCKET_ADDRESS)
        return fail(b, GW_EINVAL, "%s: address: a socket_address is required",
                    what);
    s = a->socket_address;
    if (s->protocol != ENVOY__CONFIG__CORE__V3__SOCKET_ADDRESS__PROTOCOL__TCP)
        return fail(b, GW_EINVAL, "%s: address: only TCP is supported", what);
    if (s->port_specifier_case !=
            ENVOY__CONFIG__CORE__V3__SOCKET_ADDRESS__PORT_SPECIFIER_PORT_VALUE ||
        s->port_value == 0 || s->port_value > 65535)
        return fail(b, GW_EINVAL, "%s: port %u out of range [1, 65535]", what,
                    s->port_value);
    if (empty(s->address) || strlen(s->address) >= sizeof(out->text))
        return fail(b, GW_EINVAL, "%s: address \"%s\" is not an IP literal",
                    what, s->address ? s->address : "");
    memset(&out->sa, 0, sizeof(out->sa));
    if (inet_pton(AF_INET, s->address, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)s->port_value);
        out->sa_len = sizeof(*v4);
    } else if (inet_pton(AF_INET6, s->address, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)s->port_value);
        out->sa_len = sizeof(*v6);
    } else {
        return fail(b, GW_EINVAL, "%s: address \"%s\" is not an IP literal",
                    what, s->address);
    }
    strcpy(out->text, s->address);
    out->port = (uint16_t)s->port_value;
    return GW_OK;
}

/* ==== Clusters ==== */

static int cmp_cla(const void *a, const void *b)
{
    const EP(ClusterLoadAssignment) *x = *(EP(ClusterLoadAssignment) *const *)a;
    const EP(ClusterLoadAssignment) *y = *(EP(ClusterLoadAssignment) *const *)b;

    return strcmp(x->cluster_name ? x->cluster_name : "",
                  y->cluster_name ? y->cluster_name : "");
}

static const EP(ClusterLoadAssignment) *
    find_cla(struct tb *b, const char *name)
{
    size_t lo = 0, hi = b->in->n_endpoints;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(
            b->cla[mid]->cluster_name ? b->cla[mid]->cluster_name : "", name);
        if (c == 0)
            return b->cla[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static uint8_t ep_health(CORE(HealthStatus) h)
{
    switch (h) {
    case ENVOY__CONFIG__CORE__V3__HEALTH_STATUS__UNHEALTHY:
    case ENVOY__CONFIG__CORE__V3__HEALTH_STATUS__DRAINING:
    case ENVOY__CONFIG__CORE__V3__HEALTH_STATUS__TIMEOUT:
        return DP_EP_UNHEALTHY;
    case ENVOY__CONFIG__CORE__V3__HEALTH_STATUS__DEGRADED:
        return DP_EP_DEGRADED;
    default:
        return DP_EP_HEALTHY;
    }
}

static int endpoint(struct tb *b, const char *src, size_t k,
                    const EP(LocalityLbEndpoints) * loc,
                    const EP(LbEndpoint) * e, struct dp_endpoint *out)
{
    char what[320];

    snprintf(what, sizeof(what), "%s: endpoint %zu", src, k + 1);
    if (e->host_identifier_case !=
            ENVOY__CONFIG__ENDPOINT__V3__LB_ENDPOINT__HOST_IDENTIFIER_ENDPOINT ||
        e->endpoint == NULL)
        return fail(b, GW_EINVAL, "%s: endpoint is required", what);
    if (ip_addr(b, what, e->endpoint->address, &out->addr) != GW_OK)
        return GW_EINVAL;
    out->weight = u32_or(e->load_balancing_weight, 1);
    if (out->weight == 0)
        return fail(b, GW_EINVAL, "%s: load_balancing_weight must be >= 1",
                    what);
    out->priority = loc->priority;
    out->health = ep_health(e->health_status);
    out->hostname = tstr(b, e->endpoint->hostname);
    return out->hostname ? GW_OK : fail(b, GW_ENOMEM, "out of memory");
}

static int endpoints(struct tb *b, struct dp_cluster *c, const char *src,
                     const EP(ClusterLoadAssignment) * cla)
{
    struct dp_endpoint *eps;
    size_t n = 0, i, j, k = 0;

    if (cla == NULL)
        return GW_OK; /* EDS not received yet: no endpoints */
    for (i = 0; i < cla->n_endpoints; i++)
        n += cla->endpoints[i]->n_lb_endpoints;
    if ((eps = talloc(b, n, sizeof(*eps))) == NULL)
        return fail(b, GW_ENOMEM, "out of memory");
    for (i = 0; i < cla->n_endpoints; i++) {
        const EP(LocalityLbEndpoints) *loc = cla->endpoints[i];
        for (j = 0; j < loc->n_lb_endpoints; j++, k++)
            if (endpoint(b, src, k, loc, loc->lb_endpoints[j], &eps[k]))
                return GW_EINVAL;
    }
    c->endpoints = eps, c->n_endpoints = n;
    return GW_OK;
}

/* An HTTP token (RFC 9110 tchar), as a header name must be. */
static bool is_token(const char *s)
{
    static const char extra[] = "!#$%&'*+-.^_`|~";

    if (empty(s))
        return false;
    for (; *s != '\0'; s++)
        if (!isalnum((unsigned char)*s) && strchr(extra, *s) == NULL)
            return false;
    return true;
}

/* http_health_check.request_headers_to_add or grpc_health_check.
 * initial_metadata (<field>): names and values go into the probe request
 * as they are, so nothing that could split it is taken. */
static int hc_headers(struct tb *b, const char *what, const char *field,
                      CORE(HeaderValueOption) *const *hv, size_t n,
                      struct dp_health_check *hc)
{
    struct dp_hc_header *hs = talloc(b, n, sizeof(*hs));

    if (hs == NULL)
        return fail(b, GW_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const CORE(HeaderValue) *h = hv[i]->header;
        if (h == NULL || !is_token(h->key))
            return fail(b, GW_EINVAL,
                        "%s: %s[%zu]: the header name must be an HTTP token",
                        what, field, i);
        if (h->value != NULL && strpbrk(h->value, "\r\n") != NULL)
            return fail(b, GW_EINVAL,
                        "%s: %s[%zu]: header \"%s\": CR or LF in the value",
                        what, field, i, h->key);
        hs[i].name = tstr(b, h->key);
        hs[i].value = tstr(b, h->value);
        if (hs[i].name == NULL || hs[i].value == NULL)
            return fail(b, GW_ENOMEM, "out of memory");
    }
    hc->headers = hs, hc->n_headers = n;
    return GW_OK;
}

/* http_health_check.method: a RequestMethod but CONNECT (Envoy refuses it
 * too); unset is GET. */
static int hc_method(struct tb *b, const char *what, CORE(RequestMethod) m,
                     struct dp_health_check *hc)
{
    static const char *const names[] = {
        [ENVOY__CONFIG__CORE__V3__REQUEST_METHOD__METHOD_UNSPECIFIED] = "GET",
        [ENVOY__CONFIG__CORE__V3__REQUEST_METHOD__GET] = "GET",
        [ENVOY__CONFIG__CORE__V3__REQUEST_METHOD__HEAD] = "HEAD",
        [ENVOY__CONFIG__CORE__V3__REQUEST_METHOD__POST] = "POST",
        [ENVOY__CONFIG__CORE__V3__REQUEST_METHOD__PUT] = "PUT",
        [ENVOY__CONFIG__CORE__V3__REQUEST_METHOD__DELETE] = "DELETE",
        [ENVOY__CONFIG__CORE__V3__REQUEST_METHOD__OPTIONS] = "OPTIONS",
        [ENVOY__CONFIG__CORE__V3__REQUEST_METHOD__TRACE] = "TRACE",
        [ENVOY__CONFIG__CORE__V3__REQUEST_METHOD__PATCH] = "PATCH",
    };
    if ((unsigned)m >= sizeof(names) / sizeof(names[0]) || names[m] == NULL)
        return fail(b, GW_EINVAL,
                    "%s: http_health_check: method %d is not allowed "
                    "(CONNECT or unknown)",
                    what, (int)m);
    hc->method = names[m];
    return GW_OK;
}

/* http_health_check.expected_statuses: each [start, end) within
 * [100, 600), as Envoy requires. */
static int hc_statuses(struct tb *b, const char *what,
                       const CORE(HealthCheck__HttpHealthCheck) * m,
                       struct dp_health_check *hc)
{
    struct dp_hc_status_range *rs =
        talloc(b, m->n_expected_statuses, sizeof(*rs));

    if (rs == NULL)
        return fail(b, GW_ENOMEM, "out of memory");
    for (size_t i = 0; i < m->n_expected_statuses; i++) {
        const Envoy__Type__V3__Int64Range *r = m->expected_statuses[i];
        if (r == NULL || r->start < 100 || r->end > 600 || r->start >= r->end)
            return fail(b, GW_EINVAL,
                        "%s: http_health_check: expected_statuses[%zu]: "
                        "want 100 <= start < end <= 600",
                        what, i);
        rs[i].start = (uint16_t)r->start, rs[i].end = (uint16_t)r->end;
    }
    hc->statuses = rs, hc->n_statuses = m->n_expected_statuses;
    return GW_OK;
}

static int http_check(struct tb *b, const char *what,
                      const CORE(HealthCheck__HttpHealthCheck) * m,
                      struct dp_health_check *hc)
{
    hc->kind = DP_HC_HTTP;
    if (empty(m->path) || m->path[0] != '/')
        return fail(b, GW_EINVAL,
                    "%s: http_health_check: path must start with '/'", what);
    if (strpbrk(m->path, " \r\n") != NULL ||
        (m->host != NULL && strpbrk(m->host, " \r\n") != NULL))
        return fail(b, GW_EINVAL,
                    "%s: http_health_check: space, CR or LF in path or host",
                    what);
    hc->path = tstr(b, m->path);
    hc->host = tstr(b, m->host);
    int r = hc_method(b, what, m->method, hc);
    if (r == GW_OK)
        r = hc_statuses(b, what, m, hc);
    return r == GW_OK ? hc_headers(b, what,
                                   "http_health_check: request_headers_to_add",
                                   m->request_headers_to_add,
                                   m->n_request_headers_to_add, hc)
                      : r;
}

/* grpc_health_check: service_name and authority go into the probe's
 * message and :authority as they are. */
static int grpc_check(struct tb *b, const char *what,
                      const CORE(HealthCheck__GrpcHealthCheck) * m,
                      struct dp_health_check *hc)
{
    hc->kind = DP_HC_GRPC;
    if (m->authority != NULL && strpbrk(m->authority, " \r\n") != NULL)
        return fail(b, GW_EINVAL,
                    "%s: grpc_health_check: space, CR or LF in authority",
                    what);
    hc->service = tstr(b, m->service_name);
    hc->authority = tstr(b, m->authority);
    if (hc->service == NULL || hc->authority == NULL)
        return fail(b, GW_ENOMEM, "out of memory");
    return hc_headers(b, what, "grpc_health_check: initial_metadata",
                      m->initial_metadata, m->n_initial_metadata, hc);
}

static int health_checks(struct tb *b, const CL(Cluster) * m,
                         struct dp_cluster *c)
{
    struct dp_health_check *hc = talloc(b, m->n_health_checks, sizeof(*hc));
    size_t i;
    int r;

    if (hc == NULL)
        return fail(b, GW_ENOMEM, "out of memory");
    for (i = 0; i < m->n_health_checks; i++) {
        const CORE(HealthCheck) *h = m->health_checks[i];
        char what[300];
        snprintf(what, sizeof(what), "cluster \"%s\": health_checks[%zu]",
                 c->name, i);
        if (h->timeout == NULL || h->interval == NULL)
            return fail(b, GW_EINVAL, "%s: timeout and interval are required",
                        what);
        if (duration_ms(b, what, h->timeout, 0, &hc[i].timeout_ms) ||
            duration_ms(b, what, h->interval, 0, &hc[i].interval_ms))
            return GW_EINVAL;
        if (hc[i].timeout_ms == 0 || hc[i].interval_ms == 0)
            return fail(b, GW_EINVAL, "%s: timeout and interval must be > 0",
                        what);
        hc[i].unhealthy_threshold = u32_or(h->unhealthy_threshold, 3);
        hc[i].healthy_threshold = u32_or(h->healthy_threshold, 1);
        if (h->alt_port != NULL && h->alt_port->value > 65535)
            return fail(b, GW_EINVAL, "%s: alt_port %u out of range", what,
                        h->alt_port->value);
        hc[i].port = h->alt_port ? (uint16_t)h->alt_port->value : 0;
        switch (h->health_checker_case) {
        case ENVOY__CONFIG__CORE__V3__HEALTH_CHECK__HEALTH_CHECKER_HTTP_HEALTH_CHECK:
            if ((r = http_check(b, what, h->http_health_check, &hc[i])) != 0)
                return r;
            break;
        case ENVOY__CONFIG__CORE__V3__HEALTH_CHECK__HEALTH_CHECKER_TCP_HEALTH_CHECK:
            hc[i].kind = DP_HC_TCP;
            break;
        case ENVOY__CONFIG__CORE__V3__HEALTH_CHECK__HEALTH_CHECKER_GRPC_HEALTH_CHECK:
            if ((r = grpc_check(b, what, h->grpc_health_check, &hc[i])) != 0)
                return r;
            break;
        default:
            return fail(b, GW_EINVAL, "%s: no health checker", what);
        }
    }
    c->health_checks = hc, c->n_health_checks = m->n_health_checks;
    return GW_OK;
}

static void circuit_breakers(const CL(Cluster) * m, struct dp_cluster *c)
{
    size_t i;

    c->cb = (struct dp_circuit_breakers){1024, 1024, 1024, 3};
    for (i = 0; m->circuit_breakers && i < m->circuit_breakers->n_thresholds;
         i++) {
        const CL(CircuitBreakers__Thresholds) *t =
            m->circuit_breakers->thresholds[i];
        if (t->priority != ENVOY__CONFIG__CORE__V3__ROUTING_PRIORITY__DEFAULT)
            continue;
        c->cb.max_connections = u32_or(t->max_connections, 1024);
        c->cb.max_pending_requests = u32_or(t->max_pending_requests, 1024);
        c->cb.max_requests = u32_or(t->max_requests, 1024);
        c->cb.max_retries = u32_or(t->max_retries, 3);
    }
}

static int outlier(struct tb *b, const CL(Cluster) * m, struct dp_cluster *c)
{
    const CL(OutlierDetection) *o = m->outlier_detection;
    struct dp_outlier *d = &c->outlier;
    char what[300];

    if (o == NULL)
        return GW_OK;
    snprintf(what, sizeof(what), "cluster \"%s\": outlier_detection", c->name);
    d->enabled = true;
    d->consecutive_5xx = u32_or(o->consecutive_5xx, 5);
    d->consecutive_gateway_failure = u32_or(o->consecutive_gateway_failure, 5);
    d->max_ejection_percent = u32_or(o->max_ejection_percent, 10);
    d->enforcing_consecutive_5xx = u32_or(o->enforcing_consecutive_5xx, 100);
    if (d->max_ejection_percent > 100 || d->enforcing_consecutive_5xx > 100)
        return fail(b, GW_EINVAL, "%s: percentages must be <= 100", what);
    if (duration_ms(b, what, o->interval, 10000, &d->interval_ms) ||
        duration_ms(b, what, o->base_ejection_time, 30000,
                    &d->base_ejection_time_ms) ||
        duration_ms(b, what, o->max_ejection_time, 300000,
                    &d->max_ejection_time_ms))
        return GW_EINVAL;
    return GW_OK;
}

static int http2(struct tb *b, const CL(Cluster) * m, struct dp_cluster *c)
{
    size_t i;

    if (m->http2_protocol_options) {
        c->http2 = true;
        c->h2_max_concurrent_streams =
            u32_or(m->http2_protocol_options->max_concurrent_streams, 0);
    }
    for (i = 0; i < m->n_typed_extension_protocol_options; i++) {
        const Google__Protobuf__Any *any =
            m->typed_extension_protocol_options[i]->value;
        UPH(HttpProtocolOptions) * o;
        if (strcmp(m->typed_extension_protocol_options[i]->key, UPH_KEY) != 0)
            continue;
        if (any == NULL || !ends_with(any->type_url, UPH_KEY))
            return fail(b, GW_EINVAL,
                        "cluster \"%s\": "
                        "typed_extension_protocol_options: expected %s",
                        c->name, UPH_KEY);
        o = envoy__extensions__upstreams__http__v3__http_protocol_options__unpack(
            NULL, any->value.len, any->value.data);
        if (o == NULL)
            return fail(b, GW_EINVAL,
                        "cluster \"%s\": "
                        "typed_extension_protocol_options: cannot decode %s",
                        c->name, UPH_KEY);
        if (o->upstream_protocol_options_case ==
                ENVOY__EXTENSIONS__UPSTREAMS__HTTP__V3__HTTP_PROTOCOL_OPTIONS__UPSTREAM_PROTOCOL_OPTIONS_EXPLICIT_HTTP_CONFIG &&
            o->explicit_http_config->protocol_config_case ==
                ENVOY__EXTENSIONS__UPSTREAMS__HTTP__V3__HTTP_PROTOCOL_OPTIONS__EXPLICIT_HTTP_CONFIG__PROTOCOL_CONFIG_HTTP2_PROTOCOL_OPTIONS) {
            c->http2 = true;
            c->h2_max_concurrent_streams =
                u32_or(o->explicit_http_config->http2_protocol_options
                           ->max_concurrent_streams,
                       0);
        }
        envoy__extensions__upstreams__http__v3__http_protocol_options__free_unpacked(
            o, NULL);
    }
    return GW_OK;
}

static const char *lb_name(int p)
{
    static const char *names[] = {"ROUND_ROBIN",
                                  "LEAST_REQUEST",
                                  "RING_HASH",
                                  "RANDOM",
                                  "4",
                                  "MAGLEV",
                                  "CLUSTER_PROVIDED",
                                  "LOAD_BALANCING_POLICY_CONFIG"};
    return p >= 0 && p < 8 ? names[p] : "?";
}

static int kind_and_policy(struct tb *b, const CL(Cluster) * m,
                           struct dp_cluster *c)
{
    int type = m->cluster_discovery_type_case ? (int)m->type : 0;

    if (type == ENVOY__CONFIG__CLUSTER__V3__CLUSTER__DISCOVERY_TYPE__EDS)
        c->type = DP_CLUSTER_EDS;
    else if (type ==
             ENVOY__CONFIG__CLUSTER__V3__CLUSTER__DISCOVERY_TYPE__STATIC)
        c->type = DP_CLUSTER_STATIC;
    else
        return fail(b, GW_EINVAL,
                    "cluster \"%s\": type: only STATIC and EDS "
                    "are supported",
                    c->name);
    switch (m->lb_policy) {
    case ENVOY__CONFIG__CLUSTER__V3__CLUSTER__LB_POLICY__ROUND_ROBIN:
        c->lb = DP_LB_ROUND_ROBIN;
        return GW_OK;
    case ENVOY__CONFIG__CLUSTER__V3__CLUSTER__LB_POLICY__RANDOM:
        c->lb = DP_LB_RANDOM;
        return GW_OK;
    case ENVOY__CONFIG__CLUSTER__V3__CLUSTER__LB_POLICY__LEAST_REQUEST:
        c->lb = DP_LB_LEAST_REQUEST;
        return GW_OK;
    case ENVOY__CONFIG__CLUSTER__V3__CLUSTER__LB_POLICY__RING_HASH:
        c->lb = DP_LB_RING_HASH; /* sticky services (common/xds) */
        return GW_OK;
    case ENVOY__CONFIG__CLUSTER__V3__CLUSTER__LB_POLICY__MAGLEV:
        c->lb = DP_LB_MAGLEV;
        return GW_OK;
    default:
        return fail(b, GW_EINVAL,
                    "cluster \"%s\": lb_policy %s is not "
                    "supported",
                    c->name, lb_name((int)m->lb_policy));
    }
}

/* The previous table's state if this cluster's endpoints are unchanged. */
static struct dp_cluster_state *carry_state(struct tb *b,
                                            const struct dp_cluster *c)
{
    const struct dp_table *prev = b->in->prev;
    const struct dp_cluster *o;
    size_t i;

    if (prev == NULL || prev->n_workers != b->in->n_workers ||
        (o = dp_table_cluster(prev, c->name)) == NULL ||
        o->n_endpoints != c->n_endpoints)
        return NULL;
    for (i = 0; i < c->n_endpoints; i++)
        if (o->endpoints[i].addr.port != c->endpoints[i].addr.port ||
            strcmp(o->endpoints[i].addr.text, c->endpoints[i].addr.text))
            return NULL;
    dp_cluster_state_ref(o->state);
    return o->state;
}

static int cluster(struct tb *b, size_t i)
{
    const CL(Cluster) *m = b->in->clusters[i];
    struct dp_cluster *c = &b->t->clusters[i];
    const char *svc;
    char src[300];

    if (empty(m->name))
        return fail(b, GW_EINVAL, "clusters[%zu]: name is required", i);
    c->index = (uint32_t)i;
    if ((c->name = tstr(b, m->name)) == NULL)
        return fail(b, GW_ENOMEM, "out of memory");
    if (kind_and_policy(b, m, c) || health_checks(b, m, c) ||
        outlier(b, m, c) || http2(b, m, c) ||
        duration_ms(b, "connect_timeout", m->connect_timeout, 5000,
                    &c->connect_timeout_ms))
        return GW_EINVAL;
    circuit_breakers(m, c);
    if (c->type == DP_CLUSTER_STATIC) {
        snprintf(src, sizeof(src), "cluster \"%s\"", c->name);
        svc = "";
        if (endpoints(b, c, src, m->load_assignment) != GW_OK)
            return GW_EINVAL;
    } else {
        svc =
            m->eds_cluster_config && !empty(m->eds_cluster_config->service_name)
                ? m->eds_cluster_config->service_name
                : m->name;
        snprintf(src, sizeof(src), "cluster_load_assignment \"%s\"", svc);
        if (endpoints(b, c, src, find_cla(b, svc)) != GW_OK)
            return GW_EINVAL;
    }
    c->eds_service_name = tstr(b, svc);
    c->state = carry_state(b, c);
    if (c->state == NULL)
        c->state = dp_table__state_new(c->n_endpoints, b->in->n_workers);
    if (c->eds_service_name == NULL || c->state == NULL)
        return fail(b, GW_ENOMEM, "out of memory");
    if (dp_table__cluster_tls(m, c, b->err, b->len) != GW_OK)
        return GW_EINVAL;
    return GW_OK;
}

static int cmp_cluster(const void *a, const void *b)
{
    return strcmp((*(const struct dp_cluster *const *)a)->name,
                  (*(const struct dp_cluster *const *)b)->name);
}

static uint64_t name_hash(const char *s)
{
    uint64_t h = 14695981039346656037ULL;

    for (; *s != '\0'; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

/* Fills t->by_hash from t->clusters (names unique). */
static int hash_clusters(struct tb *b)
{
    struct dp_table *t = b->t;
    size_t cap = 16;

    while (cap < 2 * t->n_clusters)
        cap *= 2;
    t->by_hash = talloc(b, cap, sizeof(*t->by_hash));
    if (t->by_hash == NULL)
        return fail(b, GW_ENOMEM, "out of memory");
    t->hash_mask = cap - 1;
    for (size_t i = 0; i < t->n_clusters; i++) {
        size_t k = (size_t)name_hash(t->clusters[i].name) & t->hash_mask;
        while (t->by_hash[k] != 0)
            k = (k + 1) & t->hash_mask;
        t->by_hash[k] = (uint32_t)i + 1;
    }
    return GW_OK;
}

static int clusters(struct tb *b)
{
    struct dp_table *t = b->t;
    size_t i, n = b->in->n_clusters;

    t->clusters = talloc(b, n, sizeof(*t->clusters));
    t->by_name = talloc(b, n, sizeof(*t->by_name));
    if (t->clusters == NULL || t->by_name == NULL)
        return fail(b, GW_ENOMEM, "out of memory");
    for (i = 0; i < n; i++, t->n_clusters++)
        if (cluster(b, i) != GW_OK)
            return GW_EINVAL;
    for (i = 0; i < n; i++)
        t->by_name[i] = &t->clusters[i];
    qsort(t->by_name, n, sizeof(*t->by_name), cmp_cluster);
    for (i = 1; i < n; i++)
        if (strcmp(t->by_name[i]->name, t->by_name[i - 1]->name) == 0)
            return fail(b, GW_EINVAL, "cluster \"%s\": duplicate name",
                        t->by_name[i]->name);
    return n > UINT32_MAX / 4 ? GW_OK : hash_clusters(b);
}

/* ==== Route configurations ==== */

static int resolve_cluster(void *arg, const char *name)
{
    const struct dp_cluster *c = dp_table_cluster(arg, name);

    return c ? (int)c->index : -1;
}

/* The filter chains of <rc>, beside its router (none without a registry).
 * Returns GW_OK or GW_EINVAL with the message in b->err. */
static int filter_set(struct tb *b,
                      const Envoy__Config__Route__V3__RouteConfiguration *rc,
                      struct dp_filter_set **out)
{
    struct dp_filter_opts o = {.resolve = resolve_cluster, .resolve_arg = b->t};

    *out = NULL;
    if (b->in->filters == NULL)
        return GW_OK;
    /* its message names the route config, virtual host and route */
    *out = dp_filter_set_new(rc, b->in->filters, &o, b->err, b->len);
    return *out != NULL ? GW_OK : GW_EINVAL;
}

static int cmp_router(const void *a, const void *b)
{
    return strcmp(((const struct dp_table__router *)a)->name,
                  ((const struct dp_table__router *)b)->name);
}

static int routers(struct tb *b)
{
    struct dp_table *t = b->t;
    size_t i, n = b->in->n_routes;

    t->routers = talloc(b, n + b->in->n_listeners, sizeof(*t->routers));
    if (t->routers == NULL)
        return fail(b, GW_ENOMEM, "out of memory");
    for (i = 0; i < n; i++, t->n_routers++) {
        const Envoy__Config__Route__V3__RouteConfiguration *rc =
            b->in->routes[i];
        if (empty(rc->name))
            return fail(b, GW_EINVAL, "route_configs[%zu]: name is required",
                        i);
        t->routers[i].router =
            dp_router_new(rc, resolve_cluster, t, b->err, b->len);
        if (t->routers[i].router == NULL)
            return GW_EINVAL;
        t->routers[i].name = dp_router_name(t->routers[i].router);
        if (filter_set(b, rc, &t->routers[i].filters) != GW_OK) {
            t->n_routers++; /* freed with the table */
            return GW_EINVAL;
        }
    }
    qsort(t->routers, n, sizeof(*t->routers), cmp_router);
    t->n_rds = n;
    for (i = 1; i < n; i++)
        if (strcmp(t->routers[i].name, t->routers[i - 1].name) == 0)
            return fail(b, GW_EINVAL, "route_config \"%s\": duplicate name",
                        t->routers[i].name);
    return GW_OK;
}

/* ==== Listeners ==== */

static const LS(Filter) * find_hcm(const LS(Listener) * m)
{
    const LS(FilterChain) *fc =
        m->n_filter_chains ? m->filter_chains[0] : m->default_filter_chain;
    size_t i;

    for (i = 0; fc != NULL && i < fc->n_filters; i++)
        if (fc->filters[i]->config_type_case &&
            ends_with(fc->filters[i]->typed_config->type_url, HCM_TYPE))
            return fc->filters[i];
    return NULL;
}

static int http_filters(struct tb *b, const char *what,
                        const HCM(HttpConnectionManager) * h,
                        struct dp_listener *l)
{
    const char **names = talloc(b, h->n_http_filters, sizeof(*names));
    const HCM(HttpFilter) * last;
    size_t i;

    if (names == NULL)
        return fail(b, GW_ENOMEM, "out of memory");
    for (i = 0; i < h->n_http_filters; i++)
        if ((names[i] = tstr(b, h->http_filters[i]->name)) == NULL)
            return fail(b, GW_ENOMEM, "out of memory");
    last = h->n_http_filters ? h->http_filters[h->n_http_filters - 1] : NULL;
    if (last == NULL ||
        (strcmp(last->name, ROUTER_FILTER) != 0 &&
         !(last->config_type_case &&
           ends_with(last->typed_config->type_url, ROUTER_TYPE))))
        return fail(b, GW_EINVAL,
                    "%s: http_filters: the last filter must be "
                    "%s",
                    what, ROUTER_FILTER);
    l->http_filters = names, l->n_http_filters = h->n_http_filters;
    return GW_OK;
}

/* Compiles an HCM's inline route_config; the table owns it, after the
 * sorted RDS routers (not found by name). */
static const struct dp_router *
inline_router(struct tb *b,
              const Envoy__Config__Route__V3__RouteConfiguration *rc)
{
    struct dp_table *t = b->t;
    struct dp_router *r = dp_router_new(rc, resolve_cluster, t, b->err, b->len);

    if (r == NULL)
        return NULL;
    t->routers[t->n_routers].router = r;
    t->routers[t->n_routers].name = dp_router_name(r);
    t->n_routers++;
    if (filter_set(b, rc, &t->routers[t->n_routers - 1].filters) != GW_OK)
        return NULL;
    return r;
}

static int hcm(struct tb *b, const char *what, const LS(Filter) * f,
               struct dp_listener *l)
{
    const Google__Protobuf__Any *any = f->typed_config;
    HCM(HttpConnectionManager) *h =
        envoy__extensions__filters__network__http_connection_manager__v3__http_connection_manager__unpack(
            NULL, any->value.len, any->value.data);
    int rc = GW_EINVAL;

    if (h == NULL)
        return fail(b, GW_EINVAL, "%s: cannot decode HttpConnectionManager",
                    what);
    if (http_filters(b, what, h, l) != GW_OK)
        goto out;
    if (h->route_specifier_case ==
        ENVOY__EXTENSIONS__FILTERS__NETWORK__HTTP_CONNECTION_MANAGER__V3__HTTP_CONNECTION_MANAGER__ROUTE_SPECIFIER_RDS) {
        const char *name = h->rds->route_config_name;
        l->route_config_name = tstr(b, name);
        l->router = dp_table_router(b->t, name ? name : "");
        l->filters = dp_table_filters(b->t, name ? name : "");
        if (l->router == NULL)
            fail(b, GW_ENOENT,
                 "%s: route_config_name \"%s\": no such "
                 "RouteConfiguration",
                 what, name ? name : "");
        else
            rc = GW_OK;
    } else if (
        h->route_specifier_case ==
        ENVOY__EXTENSIONS__FILTERS__NETWORK__HTTP_CONNECTION_MANAGER__V3__HTTP_CONNECTION_MANAGER__ROUTE_SPECIFIER_ROUTE_CONFIG) {
        l->inline_routes = true;
        l->router = inline_router(b, h->route_config);
        if (l->router != NULL) {
            l->filters = b->t->routers[b->t->n_routers - 1].filters;
            l->route_config_name = dp_router_name(l->router);
            rc = GW_OK;
        }
    } else {
        fail(b, GW_EINVAL,
             "%s: HttpConnectionManager: rds or route_config "
             "is required",
             what);
    }
out:
    envoy__extensions__filters__network__http_connection_manager__v3__http_connection_manager__free_unpacked(
        h, NULL);
    return rc;
}

/* Replaces the host of <a> with the IP literal <host>, keeping its port. */
static int override_host(struct tb *b, const char *what, const char *host,
                         struct dp_table_addr *a)
{
    struct sockaddr_in *v4 = (struct sockaddr_in *)&a->sa;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&a->sa;

    if (strlen(host) >= sizeof(a->text))
        return fail(b, GW_EINVAL, "%s: listen host \"%s\" is too long", what,
                    host);
    memset(&a->sa, 0, sizeof(a->sa));
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(a->port);
        a->sa_len = sizeof(*v4);
    } else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(a->port);
        a->sa_len = sizeof(*v6);
    } else {
        return fail(b, GW_EINVAL, "%s: listen host \"%s\" is not an IP literal",
                    what, host);
    }
    strcpy(a->text, host);
    return GW_OK;
}

static int listener(struct tb *b, const LS(Listener) * m, struct dp_listener *l)
{
    const LS(Filter) * f;
    char what[300];

    snprintf(what, sizeof(what), "listener \"%s\"", m->name);
    if ((l->name = tstr(b, m->name)) == NULL)
        return fail(b, GW_ENOMEM, "out of memory");
    if (ip_addr(b, what, m->address, &l->addr) != GW_OK)
        return GW_EINVAL;
    if (b->in->listen_host != NULL &&
        override_host(b, what, b->in->listen_host, &l->addr) != GW_OK)
        return GW_EINVAL;
    if ((f = find_hcm(m)) == NULL)
        return fail(b, GW_EINVAL,
                    "%s: filter_chains: no "
                    "HttpConnectionManager",
                    what);
    return hcm(b, what, f, l);
}

static int listeners(struct tb *b)
{
    struct dp_table *t = b->t;
    size_t i, j;

    t->listeners = talloc(b, b->in->n_listeners, sizeof(*t->listeners));
    if (t->listeners == NULL)
        return fail(b, GW_ENOMEM, "out of memory");
    for (i = 0; i < b->in->n_listeners; i++) {
        const LS(Listener) *m = b->in->listeners[i];
        if (empty(m->name))
            return fail(b, GW_EINVAL, "listeners[%zu]: name is required", i);
        if (m->api_listener != NULL)
            continue; /* for proxyless gRPC clients, not served here */
        for (j = 0; j < t->n_listeners; j++)
            if (strcmp(t->listeners[j].name, m->name) == 0)
                return fail(b, GW_EINVAL, "listener \"%s\": duplicate name",
                            m->name);
        if (listener(b, m, &t->listeners[t->n_listeners]) != GW_OK ||
            dp_table__listener_tls(b->in, m, &t->listeners[t->n_listeners],
                                   b->err, b->len) != GW_OK)
            return GW_EINVAL;
        t->n_listeners++;
    }
    return GW_OK;
}

/* ==== Build, free, lookups ==== */

struct dp_table *dp_table_build(const struct dp_table_input *in, char *err,
                                size_t len)
{
    struct tb b = {.in = in, .err = err, .len = len};
    struct dp_table *t;

    if (in->n_workers < 1) {
        cm_err_set(err, len, GW_EINVAL, "n_workers must be >= 1");
        return NULL;
    }
    if ((t = calloc(1, sizeof(*t))) == NULL) {
        cm_err_set(err, len, GW_ENOMEM, "out of memory");
        return NULL;
    }
    b.t = t;
    t->n_workers = in->n_workers;
    b.cla = talloc(&b, in->n_endpoints, sizeof(*b.cla));
    if (b.cla == NULL) {
        cm_err_set(err, len, GW_ENOMEM, "out of memory");
        goto fail;
    }
    if (in->n_endpoints)
        memcpy(b.cla, in->endpoints, in->n_endpoints * sizeof(*b.cla));
    qsort(b.cla, in->n_endpoints, sizeof(*b.cla), cmp_cla);
    if (clusters(&b) != GW_OK || routers(&b) != GW_OK || listeners(&b) != GW_OK)
        goto fail;
    return t;

fail:
    dp_table_free(t);
    return NULL;
}

void dp_table_free(struct dp_table *t)
{
    size_t i;

    if (t == NULL)
        return;
    dp_table__tls_free(t);
    for (i = 0; i < t->n_clusters; i++)
        dp_cluster_state_unref(t->clusters[i].state);
    for (i = 0; i < t->n_routers; i++) {
        dp_router_free(t->routers[i].router);
        dp_filter_set_free(t->routers[i].filters);
    }
    for (i = 0; i < t->n_allocs; i++)
        free(t->allocs[i]);
    free(t->allocs);
    free(t);
}

size_t dp_table_listener_count(const struct dp_table *t)
{
    return t->n_listeners;
}

const struct dp_listener *dp_table_listener(const struct dp_table *t, size_t i)
{
    return i < t->n_listeners ? &t->listeners[i] : NULL;
}

const struct dp_listener *dp_table_listener_by_name(const struct dp_table *t,
                                                    const char *name)
{
    size_t i;

    for (i = 0; i < t->n_listeners; i++)
        if (strcmp(t->listeners[i].name, name) == 0)
            return &t->listeners[i];
    return NULL;
}

const struct dp_router *dp_table_router(const struct dp_table *t,
                                        const char *name)
{
    struct dp_table__router key = {name, NULL, NULL};
    const struct dp_table__router *r;

    r = bsearch(&key, t->routers, t->n_rds, sizeof(*t->routers), cmp_router);
    return r ? r->router : NULL;
}

const struct dp_filter_set *dp_table_filters(const struct dp_table *t,
                                             const char *name)
{
    struct dp_table__router key = {name, NULL, NULL};
    const struct dp_table__router *r;

    r = bsearch(&key, t->routers, t->n_rds, sizeof(*t->routers), cmp_router);
    return r ? r->filters : NULL;
}

size_t dp_table_cluster_count(const struct dp_table *t)
{
    return t->n_clusters;
}

const struct dp_cluster *dp_table_cluster_at(const struct dp_table *t,
                                             int index)
{
    return index >= 0 && (size_t)index < t->n_clusters ? &t->clusters[index]
                                                       : NULL;
}

const struct dp_cluster *dp_table_cluster(const struct dp_table *t,
                                          const char *name)
{
    size_t lo = 0, hi = t->n_clusters;

    if (t->by_hash != NULL) { /* one string compare, mostly */
        size_t k = (size_t)name_hash(name) & t->hash_mask;
        for (; t->by_hash[k] != 0; k = (k + 1) & t->hash_mask) {
            const struct dp_cluster *c = &t->clusters[t->by_hash[k] - 1];
            if (strcmp(c->name, name) == 0)
                return c;
        }
        return NULL;
    }

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct dp_cluster *c = t->by_name[mid];
        int r = strcmp(c->name, name);
        if (r == 0)
            return c;
        if (r < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}
