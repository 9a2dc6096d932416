/*
 * config_schema.c -- the tables describing the document: for each struct of
 * config-t.h, its keys (Traefik's camelCase), their types and offsets, and
 * its defaults. Read by the decoder (config_parse.c) and the JSON printer
 * (config_json.c). Constant data only.
 */
#include "common/config/config_int.h"

#include <assert.h>

#define N(a)    (sizeof(a) / sizeof((a)[0]))
#define O(t, m) offsetof(struct t, m)

#define SCHEMA(name, type, initfn)                                             \
    static const struct cm_config__schema name = {sizeof(struct type),         \
                                                  initfn,                      \
                                                  name##_fields,               \
                                                  N(name##_fields),            \
                                                  NULL,                        \
                                                  0,                           \
                                                  0,                           \
                                                  NULL,                        \
                                                  NULL}

/* Named items keep their name first: the decoder writes it at offset 0. */
static_assert(O(cm_config_entrypoint, name) == 0, "name first");
static_assert(O(cm_config_router, name) == 0, "name first");
static_assert(O(cm_config_service, name) == 0, "name first");
static_assert(O(cm_config_middleware, name) == 0, "name first");
static_assert(O(cm_config_tls_options, name) == 0, "name first");
static_assert(O(cm_config_servers_transport, name) == 0, "name first");

/* ==== entry points, routers ==== */

static const struct cm_config__field entrypoint_fields[] = {
    {"address", CM_CONFIG__F_STR, O(cm_config_entrypoint, address), 0, NULL},
};
SCHEMA(entrypoint, cm_config_entrypoint, NULL);

static const struct cm_config__field router_tls_fields[] = {
    {"options", CM_CONFIG__F_REF, O(cm_config_router_tls, options), 0, NULL},
    {"certResolver", CM_CONFIG__F_STR, O(cm_config_router_tls, cert_resolver),
     0, NULL},
};
SCHEMA(router_tls, cm_config_router_tls, NULL);

static const struct cm_config__field router_fields[] = {
    {"entryPoints", CM_CONFIG__F_REFS, O(cm_config_router, entry_points),
     O(cm_config_router, n_entry_points), NULL},
    {"middlewares", CM_CONFIG__F_REFS, O(cm_config_router, middlewares),
     O(cm_config_router, n_middlewares), NULL},
    {"service", CM_CONFIG__F_REF, O(cm_config_router, service), 0, NULL},
    {"rule", CM_CONFIG__F_STR, O(cm_config_router, rule), 0, NULL},
    {"priority", CM_CONFIG__F_INT, O(cm_config_router, priority), 0, NULL},
    {"tls", CM_CONFIG__F_PTR, O(cm_config_router, tls), 0, &router_tls},
};
SCHEMA(router, cm_config_router, NULL);

/* ==== services ==== */

static void server_init(void *obj)
{
    ((struct cm_config_server *)obj)->weight = 1;
}

static const struct cm_config__field server_fields[] = {
    {"url", CM_CONFIG__F_STR, O(cm_config_server, url), 0, NULL},
    {"weight", CM_CONFIG__F_INT, O(cm_config_server, weight), 0, NULL},
};
SCHEMA(server, cm_config_server, server_init);

static void health_check_init(void *obj)
{
    struct cm_config_health_check *hc = obj;

    hc->interval_ms = CM_CONFIG_HC_INTERVAL_MS;
    hc->timeout_ms = CM_CONFIG_HC_TIMEOUT_MS;
    hc->follow_redirects = true;
}

static const struct cm_config__field health_check_fields[] = {
    {"scheme", CM_CONFIG__F_STR, O(cm_config_health_check, scheme), 0, NULL},
    {"path", CM_CONFIG__F_STR, O(cm_config_health_check, path), 0, NULL},
    {"port", CM_CONFIG__F_INT, O(cm_config_health_check, port), 0, NULL},
    {"interval", CM_CONFIG__F_DUR, O(cm_config_health_check, interval_ms), 0,
     NULL},
    {"timeout", CM_CONFIG__F_DUR, O(cm_config_health_check, timeout_ms), 0,
     NULL},
    {"hostname", CM_CONFIG__F_STR, O(cm_config_health_check, hostname), 0,
     NULL},
    {"headers", CM_CONFIG__F_KVS, O(cm_config_health_check, headers),
     O(cm_config_health_check, n_headers), NULL},
    {"method", CM_CONFIG__F_STR, O(cm_config_health_check, method), 0, NULL},
    {"status", CM_CONFIG__F_INT, O(cm_config_health_check, status), 0, NULL},
    {"followRedirects", CM_CONFIG__F_BOOL,
     O(cm_config_health_check, follow_redirects), 0, NULL},
    {"mode", CM_CONFIG__F_STR, O(cm_config_health_check, mode), 0, NULL},
};
SCHEMA(health_check, cm_config_health_check, health_check_init);

static const struct cm_config__field cookie_fields[] = {
    {"name", CM_CONFIG__F_STR, O(cm_config_cookie, name), 0, NULL},
    {"secure", CM_CONFIG__F_BOOL, O(cm_config_cookie, secure), 0, NULL},
    {"httpOnly", CM_CONFIG__F_BOOL, O(cm_config_cookie, http_only), 0, NULL},
    {"sameSite", CM_CONFIG__F_STR, O(cm_config_cookie, same_site), 0, NULL},
};
SCHEMA(cookie, cm_config_cookie, NULL);

static const struct cm_config__field sticky_fields[] = {
    {"cookie", CM_CONFIG__F_PTR, O(cm_config_sticky, cookie), 0, &cookie},
};
SCHEMA(sticky, cm_config_sticky, NULL);

/* responseForwarding is its own mapping in the document but one field in
 * the model: its schema's only field is at offset 0 of the embedded part,
 * which is flush_interval_ms itself. */
static const struct cm_config__field response_forwarding_fields[] = {
    {"flushInterval", CM_CONFIG__F_DUR, 0, 0, NULL},
};
static const struct cm_config__schema response_forwarding = {
    sizeof(int64_t),
    NULL,
    response_forwarding_fields,
    N(response_forwarding_fields),
    NULL,
    0,
    0,
    NULL,
    NULL};

static const struct cm_config__field load_balancer_fields[] = {
    {"servers", CM_CONFIG__F_LIST, O(cm_config_load_balancer, servers),
     O(cm_config_load_balancer, n_servers), &server},
    {"healthCheck", CM_CONFIG__F_PTR, O(cm_config_load_balancer, health_check),
     0, &health_check},
    {"passHostHeader", CM_CONFIG__F_BOOL,
     O(cm_config_load_balancer, pass_host_header), 0, NULL},
    {"sticky", CM_CONFIG__F_PTR, O(cm_config_load_balancer, sticky), 0,
     &sticky},
    {"serversTransport", CM_CONFIG__F_REF,
     O(cm_config_load_balancer, servers_transport), 0, NULL},
    {"responseForwarding", CM_CONFIG__F_EMBED,
     O(cm_config_load_balancer, flush_interval_ms), 0, &response_forwarding},
};

static void load_balancer_init(void *obj)
{
    struct cm_config_load_balancer *lb = obj;

    lb->pass_host_header = true;
    lb->flush_interval_ms = CM_CONFIG_FLUSH_INTERVAL_MS;
}

static const struct cm_config__schema load_balancer = {
    sizeof(struct cm_config_load_balancer),
    load_balancer_init,
    load_balancer_fields,
    N(load_balancer_fields),
    NULL,
    0,
    0,
    NULL,
    NULL};

static void weighted_service_init(void *obj)
{
    ((struct cm_config_weighted_service *)obj)->weight = 1;
}

static const struct cm_config__field weighted_service_fields[] = {
    {"name", CM_CONFIG__F_REF, O(cm_config_weighted_service, name), 0, NULL},
    {"weight", CM_CONFIG__F_INT, O(cm_config_weighted_service, weight), 0,
     NULL},
};
SCHEMA(weighted_service, cm_config_weighted_service, weighted_service_init);

static const struct cm_config__field weighted_fields[] = {
    {"services", CM_CONFIG__F_LIST, O(cm_config_weighted, services),
     O(cm_config_weighted, n_services), &weighted_service},
    {"sticky", CM_CONFIG__F_PTR, O(cm_config_weighted, sticky), 0, &sticky},
};
SCHEMA(weighted, cm_config_weighted, NULL);

static const struct cm_config__field mirror_fields[] = {
    {"name", CM_CONFIG__F_REF, O(cm_config_mirror, name), 0, NULL},
    {"percent", CM_CONFIG__F_INT, O(cm_config_mirror, percent), 0, NULL},
};
SCHEMA(mirror, cm_config_mirror, NULL);

static void mirroring_init(void *obj)
{
    ((struct cm_config_mirroring *)obj)->max_body_size = -1;
}

static const struct cm_config__field mirroring_fields[] = {
    {"service", CM_CONFIG__F_REF, O(cm_config_mirroring, service), 0, NULL},
    {"mirrors", CM_CONFIG__F_LIST, O(cm_config_mirroring, mirrors),
     O(cm_config_mirroring, n_mirrors), &mirror},
    {"maxBodySize", CM_CONFIG__F_INT, O(cm_config_mirroring, max_body_size), 0,
     NULL},
};
SCHEMA(mirroring, cm_config_mirroring, mirroring_init);

static const struct cm_config__field failover_fields[] = {
    {"service", CM_CONFIG__F_REF, O(cm_config_failover, service), 0, NULL},
    {"fallback", CM_CONFIG__F_REF, O(cm_config_failover, fallback), 0, NULL},
    {"healthCheck", CM_CONFIG__F_PRESENT, O(cm_config_failover, health_check),
     0, NULL},
};
SCHEMA(failover, cm_config_failover, NULL);

static const struct cm_config__variant service_variants[] = {
    {"loadBalancer", CM_CONFIG_SVC_LOAD_BALANCER, &load_balancer},
    {"weighted", CM_CONFIG_SVC_WEIGHTED, &weighted},
    {"mirroring", CM_CONFIG_SVC_MIRRORING, &mirroring},
    {"failover", CM_CONFIG_SVC_FAILOVER, &failover},
};

static int service_get_kind(const void *obj)
{
    return (int)((const struct cm_config_service *)obj)->kind;
}

static void service_set_kind(void *obj, int kind)
{
    ((struct cm_config_service *)obj)->kind = (enum cm_config_service_kind)kind;
}

static const struct cm_config__schema service = {
    sizeof(struct cm_config_service),
    NULL,
    NULL,
    0,
    service_variants,
    N(service_variants),
    O(cm_config_service, u),
    service_get_kind,
    service_set_kind};

/* ==== middlewares ==== */

static const struct cm_config__field strip_prefix_fields[] = {
    {"prefixes", CM_CONFIG__F_STRS, O(cm_config_strip_prefix, prefixes),
     O(cm_config_strip_prefix, n_prefixes), NULL},
};
SCHEMA(strip_prefix, cm_config_strip_prefix, NULL);

static const struct cm_config__field strip_prefix_regex_fields[] = {
    {"regex", CM_CONFIG__F_STRS, O(cm_config_strip_prefix_regex, regex),
     O(cm_config_strip_prefix_regex, n_regex), NULL},
};
SCHEMA(strip_prefix_regex, cm_config_strip_prefix_regex, NULL);

static const struct cm_config__field add_prefix_fields[] = {
    {"prefix", CM_CONFIG__F_STR, O(cm_config_add_prefix, prefix), 0, NULL},
};
SCHEMA(add_prefix, cm_config_add_prefix, NULL);

static const struct cm_config__field replace_path_fields[] = {
    {"path", CM_CONFIG__F_STR, O(cm_config_replace_path, path), 0, NULL},
};
SCHEMA(replace_path, cm_config_replace_path, NULL);

static const struct cm_config__field replace_path_regex_fields[] = {
    {"regex", CM_CONFIG__F_STR, O(cm_config_replace_path_regex, regex), 0,
     NULL},
    {"replacement", CM_CONFIG__F_STR,
     O(cm_config_replace_path_regex, replacement), 0, NULL},
};
SCHEMA(replace_path_regex, cm_config_replace_path_regex, NULL);

static const struct cm_config__field headers_fields[] = {
    {"customRequestHeaders", CM_CONFIG__F_KVS, O(cm_config_headers, request),
     O(cm_config_headers, n_request), NULL},
    {"customResponseHeaders", CM_CONFIG__F_KVS, O(cm_config_headers, response),
     O(cm_config_headers, n_response), NULL},
};
SCHEMA(headers, cm_config_headers, NULL);

static const struct cm_config__field redirect_scheme_fields[] = {
    {"scheme", CM_CONFIG__F_STR, O(cm_config_redirect_scheme, scheme), 0, NULL},
    {"port", CM_CONFIG__F_STR, O(cm_config_redirect_scheme, port), 0, NULL},
    {"permanent", CM_CONFIG__F_BOOL, O(cm_config_redirect_scheme, permanent), 0,
     NULL},
};
SCHEMA(redirect_scheme, cm_config_redirect_scheme, NULL);

static const struct cm_config__field redirect_regex_fields[] = {
    {"regex", CM_CONFIG__F_STR, O(cm_config_redirect_regex, regex), 0, NULL},
    {"replacement", CM_CONFIG__F_STR, O(cm_config_redirect_regex, replacement),
     0, NULL},
    {"permanent", CM_CONFIG__F_BOOL, O(cm_config_redirect_regex, permanent), 0,
     NULL},
};
SCHEMA(redirect_regex, cm_config_redirect_regex, NULL);

static void basic_auth_init(void *obj)
{
    ((struct cm_config_basic_auth *)obj)->realm = CM_CONFIG_BASIC_AUTH_REALM;
}

static const struct cm_config__field basic_auth_fields[] = {
    {"users", CM_CONFIG__F_STRS, O(cm_config_basic_auth, users),
     O(cm_config_basic_auth, n_users), NULL},
    {"realm", CM_CONFIG__F_STR, O(cm_config_basic_auth, realm), 0, NULL},
    {"removeHeader", CM_CONFIG__F_BOOL, O(cm_config_basic_auth, remove_header),
     0, NULL},
};
SCHEMA(basic_auth, cm_config_basic_auth, basic_auth_init);

static const struct cm_config__field ip_strategy_fields[] = {
    {"depth", CM_CONFIG__F_INT, O(cm_config_ip_strategy, depth), 0, NULL},
    {"excludedIPs", CM_CONFIG__F_STRS, O(cm_config_ip_strategy, excluded_ips),
     O(cm_config_ip_strategy, n_excluded_ips), NULL},
};
SCHEMA(ip_strategy, cm_config_ip_strategy, NULL);

static const struct cm_config__field ip_allow_list_fields[] = {
    {"sourceRange", CM_CONFIG__F_STRS, O(cm_config_ip_allow_list, source_range),
     O(cm_config_ip_allow_list, n_source_range), NULL},
    {"ipStrategy", CM_CONFIG__F_PTR, O(cm_config_ip_allow_list, ip_strategy), 0,
     &ip_strategy},
};
SCHEMA(ip_allow_list, cm_config_ip_allow_list, NULL);

static void rate_limit_init(void *obj)
{
    struct cm_config_rate_limit *rl = obj;

    rl->period_ms = CM_CONFIG_RATE_PERIOD_MS;
    rl->burst = 1;
}

static const struct cm_config__field rate_limit_fields[] = {
    {"average", CM_CONFIG__F_INT, O(cm_config_rate_limit, average), 0, NULL},
    {"period", CM_CONFIG__F_DUR, O(cm_config_rate_limit, period_ms), 0, NULL},
    {"burst", CM_CONFIG__F_INT, O(cm_config_rate_limit, burst), 0, NULL},
};
SCHEMA(rate_limit, cm_config_rate_limit, rate_limit_init);

static const struct cm_config__field in_flight_req_fields[] = {
    {"amount", CM_CONFIG__F_INT, O(cm_config_in_flight_req, amount), 0, NULL},
};
SCHEMA(in_flight_req, cm_config_in_flight_req, NULL);

static void retry_init(void *obj)
{
    ((struct cm_config_retry *)obj)->initial_interval_ms =
        CM_CONFIG_RETRY_INTERVAL_MS;
}

static const struct cm_config__field retry_fields[] = {
    {"attempts", CM_CONFIG__F_INT, O(cm_config_retry, attempts), 0, NULL},
    {"initialInterval", CM_CONFIG__F_DUR,
     O(cm_config_retry, initial_interval_ms), 0, NULL},
};
SCHEMA(retry, cm_config_retry, retry_init);

static void circuit_breaker_init(void *obj)
{
    struct cm_config_circuit_breaker *cb = obj;

    cb->check_period_ms = CM_CONFIG_CB_CHECK_PERIOD_MS;
    cb->fallback_duration_ms = CM_CONFIG_CB_FALLBACK_MS;
    cb->recovery_duration_ms = CM_CONFIG_CB_RECOVERY_MS;
}

static const struct cm_config__field circuit_breaker_fields[] = {
    {"expression", CM_CONFIG__F_STR, O(cm_config_circuit_breaker, expression),
     0, NULL},
    {"checkPeriod", CM_CONFIG__F_DUR,
     O(cm_config_circuit_breaker, check_period_ms), 0, NULL},
    {"fallbackDuration", CM_CONFIG__F_DUR,
     O(cm_config_circuit_breaker, fallback_duration_ms), 0, NULL},
    {"recoveryDuration", CM_CONFIG__F_DUR,
     O(cm_config_circuit_breaker, recovery_duration_ms), 0, NULL},
};
SCHEMA(circuit_breaker, cm_config_circuit_breaker, circuit_breaker_init);

static const struct cm_config__field chain_fields[] = {
    {"middlewares", CM_CONFIG__F_REFS, O(cm_config_chain, middlewares),
     O(cm_config_chain, n_middlewares), NULL},
};
SCHEMA(chain, cm_config_chain, NULL);

/* The first key of a kind is the one printed; ipWhiteList is Traefik v2's. */
static const struct cm_config__variant middleware_variants[] = {
    {"stripPrefix", CM_CONFIG_MW_STRIP_PREFIX, &strip_prefix},
    {"stripPrefixRegex", CM_CONFIG_MW_STRIP_PREFIX_REGEX, &strip_prefix_regex},
    {"addPrefix", CM_CONFIG_MW_ADD_PREFIX, &add_prefix},
    {"replacePath", CM_CONFIG_MW_REPLACE_PATH, &replace_path},
    {"replacePathRegex", CM_CONFIG_MW_REPLACE_PATH_REGEX, &replace_path_regex},
    {"headers", CM_CONFIG_MW_HEADERS, &headers},
    {"redirectScheme", CM_CONFIG_MW_REDIRECT_SCHEME, &redirect_scheme},
    {"redirectRegex", CM_CONFIG_MW_REDIRECT_REGEX, &redirect_regex},
    {"basicAuth", CM_CONFIG_MW_BASIC_AUTH, &basic_auth},
    {"ipAllowList", CM_CONFIG_MW_IP_ALLOW_LIST, &ip_allow_list},
    {"ipWhiteList", CM_CONFIG_MW_IP_ALLOW_LIST, &ip_allow_list},
    {"rateLimit", CM_CONFIG_MW_RATE_LIMIT, &rate_limit},
    {"inFlightReq", CM_CONFIG_MW_IN_FLIGHT_REQ, &in_flight_req},
    {"retry", CM_CONFIG_MW_RETRY, &retry},
    {"circuitBreaker", CM_CONFIG_MW_CIRCUIT_BREAKER, &circuit_breaker},
    {"chain", CM_CONFIG_MW_CHAIN, &chain},
};

static int middleware_get_kind(const void *obj)
{
    return (int)((const struct cm_config_middleware *)obj)->kind;
}

static void middleware_set_kind(void *obj, int kind)
{
    ((struct cm_config_middleware *)obj)->kind =
        (enum cm_config_middleware_kind)kind;
}

static const struct cm_config__schema middleware = {
    sizeof(struct cm_config_middleware),
    NULL,
    NULL,
    0,
    middleware_variants,
    N(middleware_variants),
    O(cm_config_middleware, u),
    middleware_get_kind,
    middleware_set_kind};

/* ==== tls, http, root ==== */

static const struct cm_config__field certificate_fields[] = {
    {"name", CM_CONFIG__F_STR, O(cm_config_certificate, name), 0, NULL},
    {"certFile", CM_CONFIG__F_STR, O(cm_config_certificate, cert_file), 0,
     NULL},
    {"keyFile", CM_CONFIG__F_STR, O(cm_config_certificate, key_file), 0, NULL},
    {"certificate", CM_CONFIG__F_PEM, O(cm_config_certificate, certificate), 0,
     NULL},
    {"key", CM_CONFIG__F_PEM, O(cm_config_certificate, key), 0, NULL},
};
SCHEMA(certificate, cm_config_certificate, NULL);

static const struct cm_config__field servers_transport_fields[] = {
    {"insecureSkipVerify", CM_CONFIG__F_BOOL,
     O(cm_config_servers_transport, insecure_skip_verify), 0, NULL},
    {"rootCAs", CM_CONFIG__F_STRS, O(cm_config_servers_transport, root_cas),
     O(cm_config_servers_transport, n_root_cas), NULL},
    {"serverName", CM_CONFIG__F_STR,
     O(cm_config_servers_transport, server_name), 0, NULL},
};
SCHEMA(servers_transport, cm_config_servers_transport, NULL);

static const struct cm_config__field tls_options_fields[] = {
    {"minVersion", CM_CONFIG__F_STR, O(cm_config_tls_options, min_version), 0,
     NULL},
    {"maxVersion", CM_CONFIG__F_STR, O(cm_config_tls_options, max_version), 0,
     NULL},
    {"cipherSuites", CM_CONFIG__F_STRS, O(cm_config_tls_options, cipher_suites),
     O(cm_config_tls_options, n_cipher_suites), NULL},
    {"sniStrict", CM_CONFIG__F_BOOL, O(cm_config_tls_options, sni_strict), 0,
     NULL},
};
SCHEMA(tls_options, cm_config_tls_options, NULL);

static const struct cm_config__field tls_fields[] = {
    {"certificates", CM_CONFIG__F_LIST, O(cm_config_tls, certificates),
     O(cm_config_tls, n_certificates), &certificate},
    {"options", CM_CONFIG__F_NAMED, O(cm_config_tls, options),
     O(cm_config_tls, n_options), &tls_options},
};
SCHEMA(tls, cm_config_tls, NULL);

static const struct cm_config__field http_fields[] = {
    {"routers", CM_CONFIG__F_NAMED, O(cm_config_http, routers),
     O(cm_config_http, n_routers), &router},
    {"services", CM_CONFIG__F_NAMED, O(cm_config_http, services),
     O(cm_config_http, n_services), &service},
    {"middlewares", CM_CONFIG__F_NAMED, O(cm_config_http, middlewares),
     O(cm_config_http, n_middlewares), &middleware},
    {"serversTransports", CM_CONFIG__F_NAMED,
     O(cm_config_http, servers_transports),
     O(cm_config_http, n_servers_transports), &servers_transport},
};
SCHEMA(http, cm_config_http, NULL);

static const struct cm_config__field root_fields[] = {
    {"entryPoints", CM_CONFIG__F_NAMED, O(cm_config, entry_points),
     O(cm_config, n_entry_points), &entrypoint},
    {"http", CM_CONFIG__F_EMBED, O(cm_config, http), 0, &http},
    {"tls", CM_CONFIG__F_EMBED, O(cm_config, tls), 0, &tls},
};

const struct cm_config__schema cm_config__root_schema = {
    sizeof(struct cm_config),
    NULL,
    root_fields,
    N(root_fields),
    NULL,
    0,
    0,
    NULL,
    NULL};

void cm_config__init(const struct cm_config__schema *s, void *obj)
{
    size_t i;

    if (s->init != NULL)
        s->init(obj);
    for (i = 0; i < s->n_fields; i++)
        if (s->fields[i].type == CM_CONFIG__F_EMBED)
            cm_config__init(s->fields[i].sub, (char *)obj + s->fields[i].off);
}

const struct cm_config__variant *
cm_config__variant_of(const struct cm_config__schema *s, int kind)
{
    size_t i;

    for (i = 0; i < s->n_variants; i++)
        if (s->variants[i].kind == kind)
            return &s->variants[i];
    return NULL;
}

const char *cm_config_service_kind_str(enum cm_config_service_kind kind)
{
    const struct cm_config__variant *v = cm_config__variant_of(&service, kind);

    return v != NULL ? v->key : "";
}

const char *cm_config_middleware_kind_str(enum cm_config_middleware_kind kind)
{
    const struct cm_config__variant *v =
        cm_config__variant_of(&middleware, kind);

    return v != NULL ? v->key : "";
}
