/*
 * config_test.c -- unit tests of common/config: the design.md example and
 * its JSON twin, defaults, every validation error with its path and
 * position, durations, look-ups, JSON round trips, a 1000-router document.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config/config.h"

/* ==== helpers ==== */

static struct cm_config *parse_ok(const char *doc)
{
    char err[CM_ERR_LEN] = "";
    struct cm_config *cfg = cm_config_parse(doc, strlen(doc), err, sizeof(err));

    if (cfg == NULL)
        fail_msg("unexpected error: %s\n--- document:\n%s", err, doc);
    return cfg;
}

/* Parses <doc>, which must fail with exactly <want> as the message;
 * prints the difference and returns 0 when it does not. */
static int check_err(const char *doc, const char *want)
{
    char err[CM_ERR_LEN] = "";
    struct cm_config *cfg = cm_config_parse(doc, strlen(doc), err, sizeof(err));

    if (cfg != NULL) {
        cm_config_free(cfg);
        print_error("parsed, wanted error: %s\n--- document:\n%s\n", want, doc);
        return 0;
    }
    if (strcmp(err, want) != 0) {
        print_error("error\n  got:  %s\n  want: %s\n--- document:\n%s\n", err,
                    want, doc);
        return 0;
    }
    return 1;
}

static void parse_err(const char *doc, const char *want)
{
    if (!check_err(doc, want))
        fail();
}

static char *to_json(const struct cm_config *cfg)
{
    char *js = NULL;

    assert_int_equal(cm_config_to_json(cfg, &js), GW_OK);
    assert_non_null(js);
    return js;
}

/* ==== the design example ==== */

static const char design_yaml[] =
    "entryPoints:\n"
    "  web: {address: \":8000\"}\n"
    "http:\n"
    "  routers:\n"
    "    whoami:\n"
    "      rule: \"Host(`whoami.localhost`) && PathPrefix(`/whoami`)\"\n"
    "      service: whoami\n"
    "      entryPoints: [web]          # optional\n"
    "      middlewares: [strip-whoami] # optional\n"
    "      priority: 10\n"
    "  services:\n"
    "    whoami:\n"
    "      loadBalancer:\n"
    "        servers:\n"
    "          - url: \"http://127.0.0.1:8081\"\n"
    "          - url: \"http://127.0.0.1:8082\"\n"
    "            weight: 2\n"
    "        healthCheck: {path: /health, interval: 2s, timeout: 1s}\n"
    "    whoami-v2:\n"
    "      loadBalancer:\n"
    "        servers: [{url: \"h2c://[::1]:9000/v2\"}]\n"
    "    canary:\n"
    "      weighted:\n"
    "        services: [{name: whoami, weight: 9}, {name: whoami-v2, "
    "weight: 1}]\n"
    "  middlewares:\n"
    "    strip-whoami:\n"
    "      stripPrefix: {prefixes: [/whoami]}\n"
    "    h:\n"
    "      headers:\n"
    "        customRequestHeaders: {X-Name: \"Ren\xc3\xa9 \xf0\x9f\x98\x80\"}\n"
    "        customResponseHeaders: {Server: \"\"}\n";

/* The same document as JSON: tabs, \u escapes, a surrogate pair, \/. */
static const char design_json[] =
    "\t{\n"
    "\t\"entryPoints\": {\"web\": {\"address\": \":8000\"}},\n"
    "\t\"http\": {\n"
    "\t\t\"routers\": {\n"
    "\t\t\t\"whoami\": {\n"
    "\t\t\t\t\"rule\": \"Host(`whoami.localhost`) && "
    "PathPrefix(`\\/whoami`)\",\n"
    "\t\t\t\t\"service\": \"whoami\",\n"
    "\t\t\t\t\"entryPoints\": [\"web\"],\n"
    "\t\t\t\t\"middlewares\": [\"strip-whoami\"],\n"
    "\t\t\t\t\"priority\": 10\n"
    "\t\t\t}\n"
    "\t\t},\n"
    "\t\t\"services\": {\n"
    "\t\t\t\"whoami\": {\"loadBalancer\": {\n"
    "\t\t\t\t\"servers\": [{\"url\": \"http://127.0.0.1:8081\"},\n"
    "\t\t\t\t\t{\"url\": \"http://127.0.0.1:8082\", \"weight\": 2}],\n"
    "\t\t\t\t\"healthCheck\": {\"path\": \"/health\", \"interval\": \"2s\", "
    "\"timeout\": \"1s\"}\n"
    "\t\t\t}},\n"
    "\t\t\t\"whoami-v2\": {\"loadBalancer\": {\"servers\": [{\"url\": "
    "\"h2c://[::1]:9000/v2\"}]}},\n"
    "\t\t\t\"canary\": {\"weighted\": {\"services\": [{\"name\": \"whoami\", "
    "\"weight\": 9}, {\"name\": \"whoami-v2\", \"weight\": 1}]}}\n"
    "\t\t},\n"
    "\t\t\"middlewares\": {\n"
    "\t\t\t\"strip-whoami\": {\"stripPrefix\": {\"prefixes\": "
    "[\"/whoami\"]}},\n"
    "\t\t\t\"h\": {\"headers\": {\n"
    "\t\t\t\t\"customRequestHeaders\": {\"X-Name\": \"Ren\\u00e9 "
    "\\ud83d\\ude00\"},\n"
    "\t\t\t\t\"customResponseHeaders\": {\"Server\": \"\"}\n"
    "\t\t\t}}\n"
    "\t\t}\n"
    "\t}\n"
    "}\n\t\n";

static void test_design_example(void **state)
{
    struct cm_config *cfg = parse_ok(design_yaml);
    const struct cm_config_router *r;
    const struct cm_config_service *s;
    const struct cm_config_load_balancer *lb;
    const struct cm_config_middleware *m;

    assert_int_equal(cfg->n_entry_points, 1);
    assert_string_equal(cfg->entry_points[0].name, "web");
    assert_string_equal(cfg->entry_points[0].address, ":8000");
    assert_string_equal(cfg->entry_points[0].host, "");
    assert_int_equal(cfg->entry_points[0].port, 8000);

    assert_int_equal(cfg->http.n_routers, 1);
    r = &cfg->http.routers[0];
    assert_string_equal(r->name, "whoami");
    assert_string_equal(r->rule,
                        "Host(`whoami.localhost`) && PathPrefix(`/whoami`)");
    assert_string_equal(r->service, "whoami");
    assert_int_equal(r->n_entry_points, 1);
    assert_string_equal(r->entry_points[0], "web");
    assert_int_equal(r->n_middlewares, 1);
    assert_string_equal(r->middlewares[0], "strip-whoami");
    assert_int_equal(r->priority, 10);
    assert_null(r->tls);

    /* services keep document order */
    assert_int_equal(cfg->http.n_services, 3);
    assert_string_equal(cfg->http.services[0].name, "whoami");
    assert_string_equal(cfg->http.services[1].name, "whoami-v2");
    assert_string_equal(cfg->http.services[2].name, "canary");
    s = &cfg->http.services[0];
    assert_int_equal(s->kind, CM_CONFIG_SVC_LOAD_BALANCER);
    lb = &s->u.load_balancer;
    assert_int_equal(lb->n_servers, 2);
    assert_string_equal(lb->servers[0].url, "http://127.0.0.1:8081");
    assert_int_equal(lb->servers[0].weight, 1);
    assert_string_equal(lb->servers[0].scheme, "http");
    assert_string_equal(lb->servers[0].host, "127.0.0.1");
    assert_int_equal(lb->servers[0].port, 8081);
    assert_string_equal(lb->servers[0].path, "");
    assert_int_equal(lb->servers[1].weight, 2);
    assert_non_null(lb->health_check);
    assert_string_equal(lb->health_check->path, "/health");
    assert_int_equal(lb->health_check->interval_ms, 2000);
    assert_int_equal(lb->health_check->timeout_ms, 1000);
    assert_true(lb->pass_host_header);
    assert_null(lb->sticky);

    lb = &cfg->http.services[1].u.load_balancer;
    assert_string_equal(lb->servers[0].scheme, "h2c");
    assert_string_equal(lb->servers[0].host, "::1");
    assert_int_equal(lb->servers[0].port, 9000);
    assert_string_equal(lb->servers[0].path, "/v2");

    s = &cfg->http.services[2];
    assert_int_equal(s->kind, CM_CONFIG_SVC_WEIGHTED);
    assert_int_equal(s->u.weighted.n_services, 2);
    assert_string_equal(s->u.weighted.services[0].name, "whoami");
    assert_int_equal(s->u.weighted.services[0].weight, 9);
    assert_string_equal(s->u.weighted.services[1].name, "whoami-v2");
    assert_int_equal(s->u.weighted.services[1].weight, 1);

    m = cm_config_find_middleware(cfg, "strip-whoami");
    assert_non_null(m);
    assert_int_equal(m->kind, CM_CONFIG_MW_STRIP_PREFIX);
    assert_int_equal(m->u.strip_prefix.n_prefixes, 1);
    assert_string_equal(m->u.strip_prefix.prefixes[0], "/whoami");
    m = cm_config_find_middleware(cfg, "h");
    assert_int_equal(m->kind, CM_CONFIG_MW_HEADERS);
    assert_int_equal(m->u.headers.n_request, 1);
    assert_string_equal(m->u.headers.request[0].key, "X-Name");
    assert_string_equal(m->u.headers.request[0].value,
                        "Ren\xc3\xa9 \xf0\x9f\x98\x80");
    assert_string_equal(m->u.headers.response[0].key, "Server");
    assert_string_equal(m->u.headers.response[0].value, "");
    cm_config_free(cfg);
}

static void test_json_same_model(void **state)
{
    struct cm_config *y = parse_ok(design_yaml);
    struct cm_config *j = parse_ok(design_json);
    char *yj = to_json(y), *jj = to_json(j);

    assert_string_equal(yj, jj);
    /* and the output of to_json is itself a document giving the same */
    cm_config_free(j);
    j = parse_ok(yj);
    free(jj);
    jj = to_json(j);
    assert_string_equal(yj, jj);
    assert_non_null(strstr(yj, "\"interval\": \"2s\""));
    assert_non_null(strstr(yj, "\"passHostHeader\": true"));
    free(yj);
    free(jj);
    cm_config_free(y);
    cm_config_free(j);
}

/* Positions in JSON errors are those of the JSON text. */
static void test_json_errors(void **state)
{
    parse_err("{\"http\": {\"routers\": {\"a\": {\"rule\": \"x\", \"service\": "
              "\"nope\"}}}}",
              "http.routers.a.service: line 1, column 53: unknown service "
              "\"nope\"");
    parse_err("{\"http\": {\"routers\": {\"a\": {\"priority\": \"\\ud83d\\ude00"
              "\", \"rule\": \"x\", \"service\": \"s\"}}}}",
              "http.routers.a.priority: line 1, column 41: expected an "
              "integer, got \"\xf0\x9f\x98\x80\"");
    /* after a rewritten surrogate pair, columns are still the text's */
    parse_err("{\"http\": {\"routers\": {\"\\ud83d\\ude00\": {\"rule\": \"x\", "
              "\"service\": \"s\"}}}}",
              "http.routers.\xf0\x9f\x98\x80.service: line 1, column 64: "
              "unknown service \"s\"");
    parse_err("{\"http\": {\"routers\": {\"a\": [}}}",
              "yaml: line 1, column 29: did not find expected node content "
              "while parsing a flow node");
}

/* ==== defaults ==== */

static void test_defaults(void **state)
{
    struct cm_config *cfg = parse_ok(
        "http:\n"
        "  services:\n"
        "    lb:\n"
        "      loadBalancer:\n"
        "        servers: [{url: \"https://example.com\"}]\n"
        "        healthCheck: {}\n"
        "        sticky: {cookie: {}}\n"
        "    m: {mirroring: {service: lb, mirrors: [{name: lb}]}}\n"
        "    f: {failover: {service: lb, fallback: m, healthCheck: {}}}\n"
        "  middlewares:\n"
        "    rl: {rateLimit: {average: 100}}\n"
        "    rt: {retry: {attempts: 3}}\n"
        "    cb: {circuitBreaker: {expression: \"NetworkErrorRatio() > "
        "0.5\"}}\n"
        "    ba: {basicAuth: {users: [\"u:$apr1$x\"]}}\n"
        "  routers:\n"
        "    r: {rule: \"Path(`/`)\", service: lb}\n");
    const struct cm_config_load_balancer *lb;
    const struct cm_config_middleware *m;
    const struct cm_config_router *r;

    lb = &cm_config_find_service(cfg, "lb")->u.load_balancer;
    assert_int_equal(lb->servers[0].weight, 1);
    assert_int_equal(lb->servers[0].port, 443);
    assert_string_equal(lb->servers[0].host, "example.com");
    assert_true(lb->pass_host_header);
    assert_int_equal(lb->health_check->interval_ms, 30000);
    assert_int_equal(lb->health_check->timeout_ms, 5000);
    assert_int_equal(lb->health_check->port, 0);
    assert_null(lb->health_check->path);
    assert_null(lb->health_check->method);
    assert_int_equal(lb->health_check->status, 0);
    assert_true(lb->health_check->follow_redirects);
    assert_null(lb->health_check->mode);
    assert_int_equal(lb->flush_interval_ms, 100);
    assert_non_null(lb->sticky->cookie);
    assert_null(lb->sticky->cookie->name);
    assert_false(lb->sticky->cookie->secure);
    assert_int_equal(
        cm_config_find_service(cfg, "m")->u.mirroring.max_body_size, -1);
    assert_int_equal(
        cm_config_find_service(cfg, "m")->u.mirroring.mirrors[0].percent, 0);
    assert_true(cm_config_find_service(cfg, "f")->u.failover.health_check);

    m = cm_config_find_middleware(cfg, "rl");
    assert_int_equal(m->u.rate_limit.average, 100);
    assert_int_equal(m->u.rate_limit.period_ms, 1000);
    assert_int_equal(m->u.rate_limit.burst, 1);
    m = cm_config_find_middleware(cfg, "rt");
    assert_int_equal(m->u.retry.attempts, 3);
    assert_int_equal(m->u.retry.initial_interval_ms, 100);
    m = cm_config_find_middleware(cfg, "cb");
    assert_int_equal(m->u.circuit_breaker.check_period_ms, 100);
    assert_int_equal(m->u.circuit_breaker.fallback_duration_ms, 10000);
    assert_int_equal(m->u.circuit_breaker.recovery_duration_ms, 10000);
    m = cm_config_find_middleware(cfg, "ba");
    assert_string_equal(m->u.basic_auth.realm, "traefik");
    assert_false(m->u.basic_auth.remove_header);

    r = cm_config_find_router(cfg, "r");
    assert_int_equal(r->priority, 0);
    assert_int_equal(r->n_entry_points, 0);
    assert_int_equal(r->n_middlewares, 0);
    cm_config_free(cfg);
}

static void test_empty_documents(void **state)
{
    const char *docs[] = {"",   "# nothing\n", "---\n",
                          "{}", "http: {}\n",  "http:\n  routers: {}\n"};
    struct cm_config *cfg;
    char *js;
    size_t i;

    for (i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
        cfg = parse_ok(docs[i]);
        assert_int_equal(cfg->http.n_routers, 0);
        js = to_json(cfg);
        assert_string_equal(js, "{}");
        free(js);
        cm_config_free(cfg);
    }
}

/* ==== every middleware and service kind, and the JSON round trip ==== */

static const char all_kinds[] =
    "entryPoints:\n"
    "  web: {address: \"127.0.0.1:8000\"}\n"
    "  v6: {address: \"[::1]:8443/tcp\"}\n"
    "http:\n"
    "  routers:\n"
    "    r1:\n"
    "      rule: Host(`a`)\n"
    "      service: wrr@file\n"
    "      entryPoints: [web, v6@file]\n"
    "      middlewares: [all@file]\n"
    "      priority: -5\n"
    "      tls: {options: modern, certResolver: le}\n"
    "  services:\n"
    "    lb:\n"
    "      loadBalancer:\n"
    "        servers: [{url: \"http://backend:80/base?x=1\", weight: 0}]\n"
    "        healthCheck:\n"
    "          scheme: https\n"
    "          path: /ping\n"
    "          port: 8443\n"
    "          interval: 1m30s\n"
    "          timeout: 1500ms\n"
    "          hostname: health.local\n"
    "          headers: {X-Check: \"1\"}\n"
    "          method: HEAD\n"
    "          status: 204\n"
    "          followRedirects: false\n"
    "          mode: http\n"
    "        passHostHeader: false\n"
    "        sticky: {cookie: {name: c, secure: true, httpOnly: true, "
    "sameSite: lax}}\n"
    "        serversTransport: st@file\n"
    "        responseForwarding: {flushInterval: 1s}\n"
    "    wrr:\n"
    "      weighted:\n"
    "        services: [{name: lb}, {name: mirror, weight: 3}]\n"
    "        sticky: {cookie: {name: w}}\n"
    "    mirror:\n"
    "      mirroring: {service: lb, mirrors: [{name: fo, percent: 10}], "
    "maxBodySize: 1024}\n"
    "    fo:\n"
    "      failover: {service: lb, fallback: lb}\n"
    "  middlewares:\n"
    "    sp: {stripPrefix: {prefixes: [/a, /b]}}\n"
    "    spr: {stripPrefixRegex: {regex: [\"/[a-z]+\"]}}\n"
    "    ap: {addPrefix: {prefix: /api}}\n"
    "    rp: {replacePath: {path: /x}}\n"
    "    rpr: {replacePathRegex: {regex: \"^/a/(.*)\", replacement: "
    "\"/b/$1\"}}\n"
    "    hd: {headers: {customRequestHeaders: {X-A: a, X-Del: \"\"}, "
    "customResponseHeaders: {X-B: b}}}\n"
    "    rs: {redirectScheme: {scheme: https, port: 443, permanent: true}}\n"
    "    rr: {redirectRegex: {regex: \"^http://(.*)\", replacement: "
    "\"https://$1\"}}\n"
    "    ba: {basicAuth: {users: [\"u:h\", \"v:h\"], realm: r, removeHeader: "
    "true}}\n"
    "    ip: {ipAllowList: {sourceRange: [10.0.0.0/8, \"::1\", "
    "\"fd00::/8\"], ipStrategy: {depth: 2, excludedIPs: [1.2.3.4]}}}\n"
    "    ipw: {ipWhiteList: {sourceRange: [127.0.0.1/32]}}\n"
    "    rl: {rateLimit: {average: 10, period: 1m, burst: 20}}\n"
    "    if: {inFlightReq: {amount: 5}}\n"
    "    rt: {retry: {attempts: 2, initialInterval: 50ms}}\n"
    "    cb: {circuitBreaker: {expression: \"LatencyAtQuantileMS(50.0) > "
    "100\", checkPeriod: 2, fallbackDuration: 1h, recoveryDuration: 0}}\n"
    "    all: {chain: {middlewares: [sp, spr, ap, rp, rpr, hd, rs, rr, ba, "
    "ip, ipw, rl, if, rt, cb]}}\n"
    "  serversTransports:\n"
    "    st: {insecureSkipVerify: true, rootCAs: [/ca.pem], serverName: x}\n"
    "tls:\n"
    "  certificates: [{certFile: /c.pem, keyFile: /k.pem}, {name: inl, "
    "certificate: \"-----BEGIN\\nMII\\n\", key: \"-----KEY\"}]\n"
    "  options:\n"
    "    modern: {minVersion: VersionTLS13, cipherSuites: [A, B], sniStrict: "
    "true}\n";

static void test_all_kinds(void **state)
{
    struct cm_config *cfg = parse_ok(all_kinds), *again;
    const struct cm_config_router *r = cm_config_find_router(cfg, "r1");
    const struct cm_config_load_balancer *lb;
    const struct cm_config_middleware *m;
    char *js, *js2;

    assert_string_equal(r->service, "wrr");
    assert_string_equal(r->entry_points[1], "v6");
    assert_string_equal(r->middlewares[0], "all");
    assert_int_equal(r->priority, -5);
    assert_string_equal(r->tls->options, "modern");
    assert_string_equal(cfg->entry_points[0].host, "127.0.0.1");
    assert_string_equal(cfg->entry_points[1].host, "::1");
    assert_int_equal(cfg->entry_points[1].port, 8443);

    lb = &cm_config_find_service(cfg, "lb")->u.load_balancer;
    assert_int_equal(lb->servers[0].weight, 0);
    assert_string_equal(lb->servers[0].host, "backend");
    assert_string_equal(lb->servers[0].path, "/base?x=1");
    assert_int_equal(lb->health_check->interval_ms, 90000);
    assert_int_equal(lb->health_check->timeout_ms, 1500);
    assert_int_equal(lb->health_check->port, 8443);
    assert_string_equal(lb->health_check->headers[0].value, "1");
    assert_string_equal(lb->health_check->method, "HEAD");
    assert_int_equal(lb->health_check->status, 204);
    assert_false(lb->health_check->follow_redirects);
    assert_string_equal(lb->health_check->mode, "http");
    assert_false(lb->pass_host_header);
    assert_string_equal(lb->sticky->cookie->same_site, "lax");
    assert_true(lb->sticky->cookie->http_only);
    assert_string_equal(lb->servers_transport, "st");
    assert_int_equal(lb->flush_interval_ms, 1000);

    m = cm_config_find_middleware(cfg, "ipw");
    assert_int_equal(m->kind, CM_CONFIG_MW_IP_ALLOW_LIST);
    m = cm_config_find_middleware(cfg, "rs");
    assert_string_equal(m->u.redirect_scheme.port, "443");
    assert_true(m->u.redirect_scheme.permanent);
    m = cm_config_find_middleware(cfg, "cb");
    assert_int_equal(m->u.circuit_breaker.check_period_ms, 2000);
    assert_int_equal(m->u.circuit_breaker.fallback_duration_ms, 3600000);
    assert_int_equal(m->u.circuit_breaker.recovery_duration_ms, 0);
    m = cm_config_find_middleware(cfg, "all");
    assert_int_equal(m->u.chain.n_middlewares, 15);
    assert_int_equal(cfg->tls.n_certificates, 2);
    assert_string_equal(cfg->tls.certificates[1].name, "inl");
    assert_string_equal(cfg->tls.certificates[1].key, "-----KEY");
    assert_string_equal(cfg->tls.certificates[1].certificate,
                        "-----BEGIN\nMII\n"); /* PEM keeps its lines */
    assert_null(cfg->tls.certificates[1].cert_file);
    assert_int_equal(cfg->http.n_servers_transports, 1);
    assert_true(cfg->http.servers_transports[0].insecure_skip_verify);
    assert_string_equal(cfg->http.servers_transports[0].root_cas[0], "/ca.pem");
    assert_string_equal(cfg->http.servers_transports[0].server_name, "x");
    assert_string_equal(cfg->tls.options[0].min_version, "VersionTLS13");
    assert_true(cfg->tls.options[0].sni_strict);

    js = to_json(cfg);
    assert_non_null(strstr(js, "\"interval\": \"1m30s\""));
    assert_non_null(strstr(js, "\"timeout\": \"1500ms\""));
    assert_non_null(strstr(js, "\"ipAllowList\""));
    assert_null(strstr(js, "ipWhiteList"));
    assert_null(strstr(js, "@file"));
    again = parse_ok(js);
    js2 = to_json(again);
    assert_string_equal(js, js2);
    free(js);
    free(js2);
    cm_config_free(again);
    cm_config_free(cfg);
}

/* ==== errors ==== */

struct err_case {
    const char *doc;
    const char *want;
};

#define SVC                                                                    \
    "  services:\n    s: {loadBalancer: {servers: [{url: \"http://a\"}]}}\n"

static const struct err_case err_cases[] = {
    /* references */
    {"http:\n"
     "  routers:\n"
     "    whoami:\n"
     "      rule: \"Path(`/`)\"\n"
     "      service: whoam\n" SVC,
     "http.routers.whoami.service: line 5, column 16: unknown service "
     "\"whoam\""},
    {"http:\n  routers: {r: {rule: x, service: s, middlewares: [s, m]}}\n" SVC
     "  middlewares: {s: {addPrefix: {prefix: /a}}}\n",
     "http.routers.r.middlewares[1]: line 2, column 55: unknown middleware "
     "\"m\""},
    {"entryPoints: {web: {address: \":80\"}}\n"
     "http:\n  routers: {r: {rule: x, service: s, entryPoints: [web, "
     "websecure]}}\n" SVC,
     "http.routers.r.entryPoints[1]: line 3, column 57: unknown entry point "
     "\"websecure\""},
    {"http:\n  middlewares:\n    c: {chain: {middlewares: [x]}}\n",
     "http.middlewares.c.chain.middlewares[0]: line 3, column 31: unknown "
     "middleware \"x\""},
    {"http:\n" SVC "    w: {weighted: {services: [{name: s}, {name: t}]}}\n",
     "http.services.w.weighted.services[1].name: line 4, column 49: unknown "
     "service \"t\""},
    {"http:\n" SVC
     "    m: {mirroring: {service: s, mirrors: [{name: q, percent: 5}]}}\n",
     "http.services.m.mirroring.mirrors[0].name: line 4, column 50: unknown "
     "service \"q\""},
    {"http:\n" SVC "    m: {mirroring: {service: z}}\n",
     "http.services.m.mirroring.service: line 4, column 30: unknown service "
     "\"z\""},
    {"http:\n" SVC "    f: {failover: {service: s, fallback: nope}}\n",
     "http.services.f.failover.fallback: line 4, column 42: unknown service "
     "\"nope\""},
    {"http:\n  routers: {r: {rule: x, service: s@docker}}\n" SVC,
     "http.routers.r.service: line 2, column 35: provider \"@docker\" is not "
     "supported (only @file)"},
    {"http:\n  routers: {r: {rule: x, service: s@internal}}\n" SVC,
     "http.routers.r.service: line 2, column 35: provider \"@internal\" is "
     "not supported (only @file)"},
    {"http:\n" SVC "    w: {weighted: {services: [{name: api@internal}]}}\n",
     "http.services.w.weighted.services[0].name: line 4, column 38: "
     "\"api@internal\" is allowed only as a router's service"},
    {"http:\n  routers: {r: {rule: x, service: s, middlewares: "
     "[api@internal]}}\n" SVC,
     "http.routers.r.middlewares[0]: line 2, column 52: \"api@internal\" is "
     "allowed only as a router's service"},
    {"http:\n  services:\n    api@internal: {loadBalancer: {servers: [{url: "
     "\"http://a\"}]}}\n",
     "http.services: line 3, column 5: name \"api@internal\" may not contain "
     "'@'"},
    {"http:\n  routers: {r@file: {rule: x, service: s}}\n" SVC,
     "http.routers: line 2, column 13: name \"r@file\" may not contain '@'"},
    {"http:\n  routers: {r: {rule: x, service: s, tls: {options: o}}}\n" SVC,
     "http.routers.r.tls.options: line 2, column 53: unknown TLS options "
     "\"o\""},
    /* cycles */
    {"http:\n  middlewares:\n    a: {chain: {middlewares: [b]}}\n"
     "    b: {chain: {middlewares: [c]}}\n"
     "    c: {chain: {middlewares: [a]}}\n",
     "http.middlewares.c.chain.middlewares[0]: line 5, column 31: middleware "
     "cycle: a -> b -> c -> a"},
    {"http:\n  middlewares:\n    a: {chain: {middlewares: [a]}}\n",
     "http.middlewares.a.chain.middlewares[0]: line 3, column 31: middleware "
     "cycle: a -> a"},
    {"http:\n" SVC "    w1: {weighted: {services: [{name: s}, {name: w2}]}}\n"
     "    w2: {weighted: {services: [{name: w1}]}}\n",
     "http.services.w2.weighted.services[0].name: line 5, column 39: service "
     "cycle: w1 -> w2 -> w1"},
    {"http:\n" SVC "    f: {failover: {service: s, fallback: m}}\n"
     "    m: {mirroring: {service: f}}\n",
     "http.services.m.mirroring.service: line 5, column 30: service cycle: f "
     "-> m -> f"},
    /* servers */
    {"http:\n  services: {s: {loadBalancer: {servers: [{url: "
     "\"ftp://a\"}]}}}\n",
     "http.services.s.loadBalancer.servers[0].url: line 2, column 49: invalid "
     "server URL \"ftp://a\" (want http, https or h2c ://host[:port][/path])"},
    {"http:\n  services: {s: {loadBalancer: {servers: [{url: "
     "\"http://\"}]}}}\n",
     "http.services.s.loadBalancer.servers[0].url: line 2, column 49: invalid "
     "server URL \"http://\" (want http, https or h2c ://host[:port][/path])"},
    {"http:\n  services: {s: {loadBalancer: {servers: [{url: "
     "\"http://a:70000\"}]}}}\n",
     "http.services.s.loadBalancer.servers[0].url: line 2, column 49: invalid "
     "server URL \"http://a:70000\" (want http, https or h2c "
     "://host[:port][/path])"},
    {"http:\n  services: {s: {loadBalancer: {servers: [{url: "
     "\"http://::1:80\"}]}}}\n",
     "http.services.s.loadBalancer.servers[0].url: line 2, column 49: invalid "
     "server URL \"http://::1:80\" (want http, https or h2c "
     "://host[:port][/path])"},
    {"http:\n  services: {s: {loadBalancer: {servers: [{weight: 1}]}}}\n",
     "http.services.s.loadBalancer.servers[0].url: line 2, column 43: "
     "missing url"},
    {"http:\n  services: {s: {loadBalancer: {servers: [{url: \"http://a\", "
     "weight: -1}]}}}\n",
     "http.services.s.loadBalancer.servers[0].weight: line 2, column 69: "
     "weight must be >= 0, got -1"},
    {"http:\n" SVC "    w: {weighted: {services: [{name: s, weight: -2}]}}\n",
     "http.services.w.weighted.services[0].weight: line 4, column 49: weight "
     "must "
     "be >= 0, got -2"},
    {"http:\n" SVC "    m: {mirroring: {service: s, mirrors: [{name: s, "
     "percent: 101}]}}\n",
     "http.services.m.mirroring.mirrors[0].percent: line 4, column 62: percent "
     "must "
     "be between 0 and 100"},
    /* kinds */
    {"http:\n  middlewares:\n    m:\n      addPrefix: {prefix: /a}\n"
     "      replacePath: {path: /b}\n",
     "http.middlewares.m: line 5, column 7: more than one kind: addPrefix and "
     "replacePath"},
    {"http:\n  services:\n    s:\n      loadBalancer: {}\n"
     "      weighted: {}\n",
     "http.services.s: line 5, column 7: more than one kind: loadBalancer and "
     "weighted"},
    {"http:\n  middlewares:\n    m: {}\n",
     "http.middlewares.m: line 3, column 8: expected one of stripPrefix, "
     "stripPrefixRegex, addPrefix, replacePath, replacePathRegex, headers, "
     "redirectScheme, redirectRegex, basicAuth, ipAllowList, ipWhiteList, "
     "rateLimit, inFlightReq, retry, circuitBreaker, chain"},
    {"http:\n  services:\n    s: {roundRobin: {}}\n",
     "http.services.s.roundRobin: line 3, column 9: unknown key "
     "\"roundRobin\" (want one of loadBalancer, weighted, mirroring, "
     "failover)"},
    /* unknown keys and types */
    {"http:\n  routers:\n    r:\n      rulee: x\n",
     "http.routers.r.rulee: line 4, column 7: unknown key \"rulee\""},
    {"http:\n  tcp: {}\n", "http.tcp: line 2, column 3: unknown key \"tcp\""},
    {"htp: {}\n", "htp: line 1, column 1: unknown key \"htp\""},
    {"http:\n  routers: {r: {rule: x, service: s, priority: high}}\n" SVC,
     "http.routers.r.priority: line 2, column 48: expected an integer, got "
     "\"high\""},
    {"http:\n  routers: {r: {rule: x, service: s, priority: 1.5}}\n" SVC,
     "http.routers.r.priority: line 2, column 48: expected an integer, got "
     "\"1.5\""},
    {"http:\n  routers: {r: {rule: [x], service: s}}\n" SVC,
     "http.routers.r.rule: line 2, column 23: expected a string, got a list"},
    {"http:\n  routers: {r: {rule: x, service: s, middlewares: m}}\n" SVC,
     "http.routers.r.middlewares: line 2, column 51: expected a list, got a "
     "scalar"},
    {"http:\n  services: {s: {loadBalancer: {passHostHeader: maybe}}}\n",
     "http.services.s.loadBalancer.passHostHeader: line 2, column 49: "
     "expected true or false, got \"maybe\""},
    {"http:\n  services: {s: {loadBalancer: {servers: {url: x}}}}\n",
     "http.services.s.loadBalancer.servers: line 2, column 42: expected a "
     "list, got a mapping"},
    {"http:\n  services: {s: {loadBalancer: {healthCheck: {interval: "
     "2x}}}}\n",
     "http.services.s.loadBalancer.healthCheck.interval: line 2, column 57: "
     "invalid duration \"2x\" (want e.g. 2s, 100ms, 1m30s or seconds)"},
    {"http:\n  services: {s: {loadBalancer: {healthCheck: {status: "
     "200x}}}}\n",
     "http.services.s.loadBalancer.healthCheck.status: line 2, column 55: "
     "expected an integer, got \"200x\""},
    {"http:\n  services: {s: {loadBalancer: {healthCheck: {status: "
     "99}}}}\n",
     "http.services.s.loadBalancer.healthCheck.status: line 2, column 55: "
     "status must be an HTTP status code (100-599), got 99"},
    {"http:\n  services: {s: {loadBalancer: {healthCheck: {status: "
     "600}}}}\n",
     "http.services.s.loadBalancer.healthCheck.status: line 2, column 55: "
     "status must be an HTTP status code (100-599), got 600"},
    {"http:\n  services: {s: {loadBalancer: {healthCheck: {method: "
     "CONNECT}}}}\n",
     "http.services.s.loadBalancer.healthCheck.method: line 2, column 55: "
     "method must be GET, HEAD, POST, PUT, DELETE, OPTIONS, TRACE or PATCH, "
     "got \"CONNECT\""},
    {"http:\n  services: {s: {loadBalancer: {healthCheck: {method: "
     "\"GET /x\"}}}}\n",
     "http.services.s.loadBalancer.healthCheck.method: line 2, column 55: "
     "method must be GET, HEAD, POST, PUT, DELETE, OPTIONS, TRACE or PATCH, "
     "got \"GET /x\""},
    {"http:\n  services: {s: {loadBalancer: {healthCheck: {mode: "
     "tcp}}}}\n",
     "http.services.s.loadBalancer.healthCheck.mode: line 2, column 53: "
     "mode must be http or grpc, got \"tcp\""},
    {"http:\n  services: {s: {loadBalancer: {healthCheck: "
     "{followRedirects: 1}}}}\n",
     "http.services.s.loadBalancer.healthCheck.followRedirects: line 2, "
     "column 64: expected true or false, got \"1\""},
    {"http:\n  routers: [a, b]\n",
     "http.routers: line 2, column 12: expected a mapping of names, got a "
     "list"},
    {"- a\n", "line 1, column 1: expected a mapping, got a list"},
    {"http:\n  routers: {r: {rule: x, rule: y}}\n",
     "http.routers.r: line 2, column 26: duplicate key \"rule\""},
    {"http:\n  middlewares:\n    h: {headers: {customRequestHeaders: {X-A: "
     "1, x-a: 2}}}\n",
     "http.middlewares.h.headers.customRequestHeaders: line 3, column 50: "
     "duplicate key \"x-a\""},
    {"http:\n  routers:\n    r: {rule: x, service: s}\n    r: {rule: y, "
     "service: s}\n" SVC,
     "http.routers.r: line 4, column 5: duplicate name \"r\""},
    {"http:\n  routers: {r: {rule: \"a\\x01b\", service: s}}\n" SVC,
     "http.routers.r.rule: line 2, column 23: control character at offset "
     "1"},
    /* required fields and ranges */
    {"http:\n  routers: {r: {service: s}}\n" SVC,
     "http.routers.r.rule: line 2, column 16: missing rule"},
    {"http:\n  routers: {r: {rule: x}}\n" SVC,
     "http.routers.r.service: line 2, column 16: missing service"},
    {"entryPoints: {web: {address: \"localhost\"}}\n",
     "entryPoints.web.address: line 1, column 30: invalid address "
     "\"localhost\" (want [host]:port)"},
    {"entryPoints: {web: {}}\n",
     "entryPoints.web.address: line 1, column 20: missing address"},
    {"entryPoints: {dns: {address: \":53/udp\"}}\n",
     "entryPoints.dns.address: line 1, column 30: UDP entry points are not "
     "supported"},
    {"http:\n  middlewares: {r: {retry: {attempts: 0}}}\n",
     "http.middlewares.r.retry.attempts: line 2, column 39: attempts must be "
     ">= 1"},
    {"http:\n  middlewares: {r: {retry: {}}}\n",
     "http.middlewares.r.retry.attempts: line 2, column 20: attempts must be "
     ">= 1"},
    {"http:\n  middlewares: {i: {inFlightReq: {amount: -1}}}\n",
     "http.middlewares.i.inFlightReq.amount: line 2, column 43: amount must "
     "be >= 1"},
    {"http:\n  middlewares: {r: {rateLimit: {average: -3}}}\n",
     "http.middlewares.r.rateLimit.average: line 2, column 42: average must "
     "be >= 0"},
    {"http:\n  middlewares: {a: {addPrefix: {}}}\n",
     "http.middlewares.a.addPrefix.prefix: line 2, column 20: missing "
     "prefix"},
    {"http:\n  middlewares: {a: {ipAllowList: {sourceRange: [10.0.0.0/33]}}}\n",
     "http.middlewares.a.ipAllowList.sourceRange[0]: line 2, column 49: "
     "invalid IP or CIDR \"10.0.0.0/33\""},
    {"http:\n  middlewares: {a: {basicAuth: {users: [nocolon]}}}\n",
     "http.middlewares.a.basicAuth.users[0]: line 2, column 41: want "
     "\"user:hash\""},
    {"http:\n  middlewares: {a: {redirectScheme: {scheme: https, port: "
     "x}}}\n",
     "http.middlewares.a.redirectScheme.port: line 2, column 59: invalid port "
     "\"x\""},
    {"http:\n  middlewares: {a: {headers: {customRequestHeaders: {\"a b\": "
     "c}}}}\n",
     "http.middlewares.a.headers.customRequestHeaders.a b: line 2, column 54: "
     "invalid header name"},
    {"tls:\n  certificates: [{certFile: /c.pem}]\n",
     "tls.certificates[0]: line 2, column 18: certFile and keyFile needed (or "
     "certificate and key as inline PEM, one of each pair)"},
    {"tls:\n  certificates: [{certFile: /c.pem, certificate: x, key: y}]\n",
     "tls.certificates[0]: line 2, column 18: certFile and keyFile needed (or "
     "certificate and key as inline PEM, one of each pair)"},
    /* YAML itself */
    {"http:\n  routers: {r: {rule: x\n",
     "yaml: line 3, column 1: did not find expected ',' or '}' while parsing "
     "a flow mapping"},
    {"a: 1\n---\nb: 2\n", "yaml: line 3: only one document is allowed"},
    {"http: &h\n  routers: {r: {rule: x, service: s}}\n  services: *h\n",
     "http.services.routers.r: line 2, column 13: unknown key \"r\" (want "
     "one of loadBalancer, weighted, mirroring, failover)"},
};

/* Traefik's leniencies: keys in any case, quoted numbers and booleans,
 * "key:" alone enabling a struct with its defaults. */
static void test_lenient(void **state)
{
    struct cm_config *cfg =
        parse_ok("HTTP:\n"
                 "  Routers: {r: {RULE: x, service: s, priority: \"10\"}}\n"
                 "  services:\n"
                 "    s:\n"
                 "      loadbalancer:\n"
                 "        passHostHeader: \"FALSE\"\n"
                 "        healthCheck:\n"
                 "        servers: [{url: \"HTTP://a\", weight: 2}]\n");
    const struct cm_config_load_balancer *lb =
        &cfg->http.services[0].u.load_balancer;

    assert_int_equal(cfg->http.routers[0].priority, 10);
    assert_string_equal(cfg->http.routers[0].rule, "x");
    assert_false(lb->pass_host_header);
    assert_non_null(lb->health_check);
    assert_int_equal(lb->health_check->interval_ms, 30000);
    assert_string_equal(lb->servers[0].scheme, "http");
    assert_int_equal(lb->servers[0].port, 80);
    cm_config_free(cfg);
}

static void test_errors(void **state)
{
    size_t i;

    size_t bad = 0;

    for (i = 0; i < sizeof(err_cases) / sizeof(err_cases[0]); i++)
        bad += !check_err(err_cases[i].doc, err_cases[i].want);
    if (bad > 0)
        fail_msg("%zu of %zu cases failed", bad,
                 sizeof(err_cases) / sizeof(err_cases[0]));
}

/* A router may name the built-in api@internal: kept as written, not a
 * defined service. */
static void test_api_internal(void **state)
{
    static const char doc[] = "http:\n  routers:\n"
                              "    d: {rule: \"PathPrefix(`/api`)\", "
                              "service: api@internal}\n";
    struct cm_config *cfg = parse_ok(doc);

    assert_int_equal(cfg->http.n_routers, 1);
    assert_string_equal(cfg->http.routers[0].service, CM_CONFIG_API_INTERNAL);
    assert_int_equal(cfg->http.n_services, 0);
    assert_null(cm_config_find_service(cfg, CM_CONFIG_API_INTERNAL));
    cm_config_free(cfg);
}

/* Aliases are expanded: each use gets the anchored value. */
static void test_aliases(void **state)
{
    struct cm_config *cfg;

    cfg = parse_ok("http:\n  middlewares:\n    a: {stripPrefix: {prefixes: &p "
                   "[/a]}}\n    b: {stripPrefix: {prefixes: *p}}\n");
    assert_string_equal(cfg->http.middlewares[1].u.strip_prefix.prefixes[0],
                        "/a");
    cm_config_free(cfg);
}

static void test_alias_budget(void **state)
{
    char *doc = malloc(1 << 20);
    char err[CM_ERR_LEN];
    struct cm_config *cfg;
    size_t n = 0;
    int i;

    assert_non_null(doc);
    n += (size_t)snprintf(doc + n, 1 << 20,
                          "http:\n  middlewares:\n    m0: {stripPrefix: "
                          "{prefixes: &a [");
    for (i = 0; i < 2000; i++)
        n += (size_t)snprintf(doc + n, (1 << 20) - n, "%sp", i ? "," : "");
    n += (size_t)snprintf(doc + n, (1 << 20) - n, "]}}\n");
    for (i = 1; i < 100; i++)
        n += (size_t)snprintf(doc + n, (1 << 20) - n,
                              "    m%d: {stripPrefix: {prefixes: *a}}\n", i);
    cfg = cm_config_parse(doc, n, err, sizeof(err));
    assert_null(cfg);
    assert_non_null(strstr(err, "too many alias expansions"));
    free(doc);
}

/* ==== durations ==== */

static void test_durations(void **state)
{
    static const struct {
        const char *in;
        int64_t ms;
    } ok[] = {
        {"2s", 2000},
        {"100ms", 100},
        {"1m30s", 90000},
        {"1h", 3600000},
        {"0", 0},
        {"0s", 0},
        {"30", 30000},
        {"1.5s", 1500},
        {"1.5h", 5400000},
        {"250us", 0},
        {"2500\xc2\xb5s", 2},
        {"1h2m3s4ms", 3723004},
        {".5s", 500},
        {"1000000ns", 1},
        {"+3s", 3000},
        {"9223372036", 9223372036000LL},
    };
    static const char *bad[] = {
        "",           "-1s",      "s",  "2x",   "1.5",
        "1 s",        "1s ",      "ms", "1e3s", "99999999999999999999s",
        "9223372037", "3000000h", "-"};
    char buf[32];
    int64_t ms;
    size_t i;

    for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        ms = -7;
        if (cm_config_parse_duration(ok[i].in, &ms) != GW_OK)
            fail_msg("\"%s\" rejected", ok[i].in);
        if (ms != ok[i].ms)
            fail_msg("\"%s\": got %lld, want %lld", ok[i].in, (long long)ms,
                     (long long)ok[i].ms);
    }
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (cm_config_parse_duration(bad[i], &ms) != GW_EINVAL)
            fail_msg("\"%s\" accepted", bad[i]);

    assert_string_equal(cm_config_format_duration(0, buf, sizeof(buf)), "0s");
    assert_string_equal(cm_config_format_duration(100, buf, sizeof(buf)),
                        "100ms");
    assert_string_equal(cm_config_format_duration(90000, buf, sizeof(buf)),
                        "1m30s");
    assert_string_equal(cm_config_format_duration(3600000, buf, sizeof(buf)),
                        "1h");
    assert_string_equal(cm_config_format_duration(3723000, buf, sizeof(buf)),
                        "1h2m3s");
    assert_string_equal(cm_config_format_duration(1500, buf, sizeof(buf)),
                        "1500ms");
    /* format then parse gives the value back */
    for (ms = 0; ms < 4000000; ms += 999) {
        int64_t back = -1;
        cm_config_format_duration(ms, buf, sizeof(buf));
        assert_int_equal(cm_config_parse_duration(buf, &back), GW_OK);
        assert_int_equal(back, ms);
    }
}

/* ==== look-ups, files, big documents ==== */

static void test_find(void **state)
{
    struct cm_config *cfg = parse_ok(design_yaml);

    assert_ptr_equal(cm_config_find_router(cfg, "whoami"),
                     &cfg->http.routers[0]);
    assert_ptr_equal(cm_config_find_router(cfg, "whoami@file"),
                     &cfg->http.routers[0]);
    assert_null(cm_config_find_router(cfg, "whoami@docker"));
    assert_null(cm_config_find_router(cfg, "who"));
    assert_ptr_equal(cm_config_find_service(cfg, "canary"),
                     &cfg->http.services[2]);
    assert_null(cm_config_find_service(cfg, "strip-whoami"));
    assert_ptr_equal(cm_config_find_entrypoint(cfg, "web"),
                     &cfg->entry_points[0]);
    assert_null(cm_config_find_entrypoint(cfg, "websecure"));
    assert_null(cm_config_find_middleware(NULL, "x"));
    assert_string_equal(cm_config_service_kind_str(CM_CONFIG_SVC_FAILOVER),
                        "failover");
    assert_string_equal(
        cm_config_middleware_kind_str(CM_CONFIG_MW_IP_ALLOW_LIST),
        "ipAllowList");
    assert_string_equal(cm_config_middleware_kind_str(CM_CONFIG_MW_NONE), "");
    cm_config_free(cfg);
    cm_config_free(NULL);
}

/* The hash index of a parsed model answers like a scan; a model built by
 * hand (no index) is scanned. */
static void test_find_index(void **state)
{
    size_t cap = 1 << 18, n = 0;
    char *doc = malloc(cap), name[32];
    struct cm_config *cfg;
    int i;

    assert_non_null(doc);
    n += (size_t)snprintf(doc + n, cap - n,
                          "entryPoints: {web: {address: \":80\"}, "
                          "s7: {address: \":81\"}}\nhttp:\n  routers:\n");
    for (i = 0; i < 500; i++)
        n += (size_t)snprintf(doc + n, cap - n,
                              "    r%d: {rule: \"Path(`/`)\", service: s%d}\n",
                              i, i % 300);
    n += (size_t)snprintf(doc + n, cap - n, "  services:\n");
    for (i = 0; i < 300; i++)
        n += (size_t)snprintf(doc + n, cap - n,
                              "    s%d: {loadBalancer: {servers: [{url: "
                              "\"http://10.0.0.1:80\"}]}}\n",
                              i);
    cfg = parse_ok(doc);
    for (i = 0; i < 500; i++) {
        snprintf(name, sizeof(name), "r%d", i);
        assert_ptr_equal(cm_config_find_router(cfg, name),
                         &cfg->http.routers[i]);
        snprintf(name, sizeof(name), "r%d@file", i);
        assert_ptr_equal(cm_config_find_router(cfg, name),
                         &cfg->http.routers[i]);
    }
    for (i = 0; i < 300; i++) {
        snprintf(name, sizeof(name), "s%d", i);
        assert_ptr_equal(cm_config_find_service(cfg, name),
                         &cfg->http.services[i]);
    }
    /* same name, other kind; prefixes; other providers; empty */
    assert_ptr_equal(cm_config_find_entrypoint(cfg, "s7"),
                     &cfg->entry_points[1]);
    assert_null(cm_config_find_router(cfg, "s7"));
    assert_null(cm_config_find_service(cfg, "r7"));
    assert_null(cm_config_find_service(cfg, "s300"));
    assert_null(cm_config_find_service(cfg, "s1@docker"));
    assert_null(cm_config_find_service(cfg, "s"));
    assert_null(cm_config_find_service(cfg, ""));
    assert_null(cm_config_find_middleware(cfg, "s1"));

    struct cm_config hand = {0};
    hand.http.services = cfg->http.services;
    hand.http.n_services = 3;
    assert_ptr_equal(cm_config_find_service(&hand, "s2@file"),
                     &cfg->http.services[2]);
    assert_null(cm_config_find_service(&hand, "s3"));
    cm_config_free(cfg);
    free(doc);
}

static void test_load_file(void **state)
{
    char err[CM_ERR_LEN];
    struct cm_config *cfg;

    cfg = cm_config_load_file("common/config/testdata/design.yaml", err,
                              sizeof(err));
    if (cfg == NULL)
        fail_msg("%s", err);
    assert_non_null(cm_config_find_service(cfg, "canary"));
    cm_config_free(cfg);
    cfg = cm_config_load_file("common/config/testdata/none.yaml", err,
                              sizeof(err));
    assert_null(cfg);
    assert_string_equal(err, "common/config/testdata/none.yaml: No such file "
                             "or directory");
}

static void test_big_document(void **state)
{
    size_t cap = 1 << 20, n = 0;
    char *doc = malloc(cap), *js;
    struct cm_config *cfg;
    int i;

    assert_non_null(doc);
    n += (size_t)snprintf(doc + n, cap - n,
                          "entryPoints: {web: {address: \":80\"}}\n"
                          "http:\n  routers:\n");
    for (i = 0; i < 1000; i++)
        n += (size_t)snprintf(doc + n, cap - n,
                              "    r%d:\n      rule: \"Host(`h%d.example`)\"\n"
                              "      service: s%d\n      entryPoints: [web]\n"
                              "      middlewares: [m%d]\n",
                              i, i, 999 - i, i % 10);
    n += (size_t)snprintf(doc + n, cap - n, "  services:\n");
    for (i = 0; i < 1000; i++)
        n += (size_t)snprintf(doc + n, cap - n,
                              "    s%d: {loadBalancer: {servers: [{url: "
                              "\"http://10.0.%d.%d:8080\"}]}}\n",
                              i, i / 256, i % 256);
    n += (size_t)snprintf(doc + n, cap - n, "  middlewares:\n");
    for (i = 0; i < 10; i++)
        n += (size_t)snprintf(doc + n, cap - n,
                              "    m%d: {addPrefix: {prefix: /p%d}}\n", i, i);
    assert_true(n < cap - 1);
    cfg = parse_ok(doc);
    assert_int_equal(cfg->http.n_routers, 1000);
    assert_int_equal(cfg->http.n_services, 1000);
    assert_string_equal(cfg->http.routers[999].name, "r999");
    assert_string_equal(cfg->http.routers[999].service, "s0");
    assert_string_equal(
        cm_config_find_service(cfg, "s999")->u.load_balancer.servers[0].host,
        "10.0.3.231");
    js = to_json(cfg);
    assert_true(strlen(js) > 100000);
    free(js);
    cm_config_free(cfg);
    free(doc);
}

/* A model is validated again after being parsed: same answer. */
static void test_validate_again(void **state)
{
    struct cm_config *cfg = parse_ok(all_kinds);
    char err[CM_ERR_LEN] = "";

    assert_int_equal(cm_config_validate(cfg, err, sizeof(err)), GW_OK);
    cfg->http.routers[0].service = "gone";
    assert_int_equal(cm_config_validate(cfg, err, sizeof(err)), GW_EINVAL);
    /* the mark belongs to the field, not to the string */
    assert_string_equal(err, "http.routers.r1.service: line 8, column 16: "
                             "unknown service \"gone\"");
    cm_config_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_design_example),
        cmocka_unit_test(test_json_same_model),
        cmocka_unit_test(test_json_errors),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_empty_documents),
        cmocka_unit_test(test_all_kinds),
        cmocka_unit_test(test_lenient),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_api_internal),
        cmocka_unit_test(test_aliases),
        cmocka_unit_test(test_alias_budget),
        cmocka_unit_test(test_durations),
        cmocka_unit_test(test_find),
        cmocka_unit_test(test_find_index),
        cmocka_unit_test(test_load_file),
        cmocka_unit_test(test_big_document),
        cmocka_unit_test(test_validate_again),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
