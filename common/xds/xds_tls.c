/*
 * xds_tls.c -- TLS in the translation: tls.certificates to SDS Secrets,
 * the DownstreamTlsContext of an entry point that has TLS routers (its
 * certificates by SDS name over ADS, ALPN h2 and http/1.1, the versions and
 * ciphers of the routers' tls.options), and the UpstreamTlsContext of a
 * service with https:// servers (SNI, CA bundle, the explicit opt-out).
 * Pure: certificate files are DataSource filenames the data node reads.
 */
#include "common/xds/xds_int.h"

#include <stdio.h>
#include <string.h>

#include "envoy/extensions/transport_sockets/tls/v3/secret.pb-c.h"
#include "envoy/extensions/transport_sockets/tls/v3/tls.pb-c.h"

#define TLS(x) Envoy__Extensions__TransportSockets__Tls__V3__##x
#define TLS_D(x)                                                               \
    (&envoy__extensions__transport_sockets__tls__v3__##x##__descriptor)
#define TLS_C(x) ENVOY__EXTENSIONS__TRANSPORT_SOCKETS__TLS__V3__##x

typedef Envoy__Config__Core__V3__DataSource DataSource;
typedef Envoy__Config__Core__V3__TransportSocket TransportSocket;

/* ==== secrets ==== */

static DataSource *data_source(struct cm_xds__ctx *c, const char *file,
                               const char *pem)
{
    DataSource *d =
        cm_xds__msg(c, &envoy__config__core__v3__data_source__descriptor);

    if (pem != NULL) {
        d->specifier_case =
            ENVOY__CONFIG__CORE__V3__DATA_SOURCE__SPECIFIER_INLINE_BYTES;
        d->inline_bytes.len = strlen(pem);
        d->inline_bytes.data = (uint8_t *)cm_xds__str(c, pem);
    } else {
        d->specifier_case =
            ENVOY__CONFIG__CORE__V3__DATA_SOURCE__SPECIFIER_FILENAME;
        d->filename = cm_xds__str(c, file);
    }
    return d;
}

const char *cm_xds_cert_name(const struct cm_config_certificate *cert,
                             char *buf, size_t len)
{
    if (cert->name != NULL && cert->name[0] != '\0') {
        snprintf(buf, len, "%s", cert->name);
    } else if (cert->cert_file != NULL) {
        const char *b = strrchr(cert->cert_file, '/');
        size_t n;
        b = b != NULL ? b + 1 : cert->cert_file;
        n = strcspn(b, ".");
        snprintf(buf, len, "%.*s", (int)(n > 0 ? n : strlen(b)), b);
    } else {
        uint32_t h = 2166136261u;
        for (const char *p = cert->certificate ? cert->certificate : ""; *p;
             p++)
            h = (h ^ (uint8_t)*p) * 16777619u;
        snprintf(buf, len, "cert-%08x", h);
    }
    return buf;
}

int cm_xds__secrets(struct cm_xds__ctx *c, struct cm_xds_resources *res)
{
    const struct cm_config_tls *t = &c->cfg->tls;
    char name[256];

    for (size_t i = 0; i < t->n_certificates; i++) {
        const struct cm_config_certificate *cert = &t->certificates[i];
        TLS(Secret) *s = cm_xds__msg(c, TLS_D(secret));
        TLS(TlsCertificate) *tc = cm_xds__msg(c, TLS_D(tls_certificate));

        s->name = cm_xds__str(c, cm_xds_cert_name(cert, name, sizeof(name)));
        for (size_t j = 0; j < res->n_secrets; j++)
            if (strcmp(res->secrets[j]->name, s->name) == 0)
                return cm_xds__fail(c,
                                    "tls.certificates[%zu]: name \"%s\" is "
                                    "already used; give each a distinct name",
                                    i, s->name);
        tc->certificate_chain =
            data_source(c, cert->cert_file, cert->certificate);
        tc->private_key = data_source(c, cert->key_file, cert->key);
        s->type_case = TLS_C(SECRET__TYPE_TLS_CERTIFICATE);
        s->tls_certificate = tc;
        cm_xds__push(c, c->out, &res->secrets, &res->n_secrets, s);
    }
    return 0;
}

/* ==== downstream ==== */

static int tls_version(const char *v)
{
    if (v == NULL)
        return -1;
    if (strcmp(v, "VersionTLS10") == 0)
        return TLS_C(TLS_PARAMETERS__TLS_PROTOCOL__TLSv1_0);
    if (strcmp(v, "VersionTLS11") == 0)
        return TLS_C(TLS_PARAMETERS__TLS_PROTOCOL__TLSv1_1);
    if (strcmp(v, "VersionTLS12") == 0)
        return TLS_C(TLS_PARAMETERS__TLS_PROTOCOL__TLSv1_2);
    if (strcmp(v, "VersionTLS13") == 0)
        return TLS_C(TLS_PARAMETERS__TLS_PROTOCOL__TLSv1_3);
    return -2;
}

/* Go's cipher suite names (Traefik's) to OpenSSL's (Envoy's). TLS 1.3
 * suites are not configurable; they are skipped. */
static const char *cipher_name(const char *go)
{
    static const char *const map[][2] = {
        {"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
         "ECDHE-ECDSA-AES128-GCM-SHA256"},
        {"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
         "ECDHE-RSA-AES128-GCM-SHA256"},
        {"TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
         "ECDHE-ECDSA-AES256-GCM-SHA384"},
        {"TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
         "ECDHE-RSA-AES256-GCM-SHA384"},
        {"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
         "ECDHE-ECDSA-CHACHA20-POLY1305"},
        {"TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
         "ECDHE-RSA-CHACHA20-POLY1305"},
        {"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305",
         "ECDHE-ECDSA-CHACHA20-POLY1305"},
        {"TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305", "ECDHE-RSA-CHACHA20-POLY1305"},
    };
    if (strncmp(go, "TLS_AES_", 8) == 0 || strncmp(go, "TLS_CHACHA20", 12) == 0)
        return "";
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (strcmp(go, map[i][0]) == 0)
            return map[i][1];
    return strncmp(go, "TLS_", 4) == 0 ? NULL : go; /* OpenSSL name as is */
}

static int tls_params(struct cm_xds__ctx *c, const char *router,
                      const struct cm_config_tls_options *o,
                      TLS(TlsParameters) * p)
{
    int min = o != NULL ? tls_version(o->min_version) : -1;
    int max = o != NULL ? tls_version(o->max_version) : -1;

    if (min == -2 || max == -2)
        return cm_xds__fail(c,
                            "router \"%s\": tls.options \"%s\": unknown TLS "
                            "version (want VersionTLS12 or VersionTLS13)",
                            router, o->name);
    p->tls_minimum_protocol_version =
        min >= 0 ? min : TLS_C(TLS_PARAMETERS__TLS_PROTOCOL__TLSv1_2);
    p->tls_maximum_protocol_version =
        max >= 0 ? max : TLS_C(TLS_PARAMETERS__TLS_PROTOCOL__TLSv1_3);
    for (size_t i = 0; o != NULL && i < o->n_cipher_suites; i++) {
        const char *n = cipher_name(o->cipher_suites[i]);
        if (n == NULL)
            return cm_xds__fail(c,
                                "router \"%s\": tls.options \"%s\": unknown "
                                "cipher suite \"%s\"",
                                router, o->name, o->cipher_suites[i]);
        if (n[0] != '\0')
            cm_xds__push(c, c->out, &p->cipher_suites, &p->n_cipher_suites,
                         cm_xds__str(c, n));
    }
    return 0;
}

static const struct cm_config_tls_options *
find_options(const struct cm_config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->tls.n_options; i++)
        if (strcmp(cfg->tls.options[i].name, name) == 0)
            return &cfg->tls.options[i];
    return NULL;
}

TransportSocket *cm_xds__downstream_tls(struct cm_xds__ctx *c,
                                        const struct cm_config_router *r,
                                        struct cm_xds_resources *res)
{
    static const char *const alpn[] = {"h2", "http/1.1"};
    const char *oname = r->tls->options ? r->tls->options : "default";
    TLS(DownstreamTlsContext) *d =
        cm_xds__msg(c, TLS_D(downstream_tls_context));
    TLS(CommonTlsContext) *ct = cm_xds__msg(c, TLS_D(common_tls_context));
    TransportSocket *ts;

    if (res->n_secrets == 0) {
        cm_xds__fail(c,
                     "router \"%s\": tls needs a certificate in "
                     "tls.certificates",
                     r->name);
        return NULL;
    }
    ct->tls_params = cm_xds__msg(c, TLS_D(tls_parameters));
    if (tls_params(c, r->name, find_options(c->cfg, oname), ct->tls_params))
        return NULL;
    for (size_t i = 0; i < res->n_secrets; i++) {
        TLS(SdsSecretConfig) *s = cm_xds__msg(c, TLS_D(sds_secret_config));
        s->name = res->secrets[i]->name;
        s->sds_config = cm_xds__ads(c);
        cm_xds__push(c, c->out, &ct->tls_certificate_sds_secret_configs,
                     &ct->n_tls_certificate_sds_secret_configs, s);
    }
    for (size_t i = 0; i < 2; i++)
        cm_xds__push(c, c->out, &ct->alpn_protocols, &ct->n_alpn_protocols,
                     cm_xds__str(c, alpn[i]));
    d->common_tls_context = ct;
    ts = cm_xds__msg(c, &envoy__config__core__v3__transport_socket__descriptor);
    ts->name = cm_xds__str(c, CM_XDS_TLS_SOCKET);
    ts->config_type_case =
        ENVOY__CONFIG__CORE__V3__TRANSPORT_SOCKET__CONFIG_TYPE_TYPED_CONFIG;
    ts->typed_config = cm_xds__any(c, &d->base);
    return ts;
}

/* ==== upstream ==== */

static const struct cm_config_servers_transport *
find_transport(const struct cm_config *cfg, const char *name)
{
    size_t n = strcspn(name, "@");

    for (size_t i = 0; i < cfg->http.n_servers_transports; i++) {
        const char *t = cfg->http.servers_transports[i].name;
        if (strlen(t) == n && strncmp(t, name, n) == 0)
            return &cfg->http.servers_transports[i];
    }
    return NULL;
}

int cm_xds__upstream_tls(struct cm_xds__ctx *c,
                         const struct cm_config_service *s,
                         Envoy__Config__Cluster__V3__Cluster *cl)
{
    const struct cm_config_load_balancer *lb = &s->u.load_balancer;
    const struct cm_config_servers_transport *st = NULL;
    TLS(UpstreamTlsContext) *u = cm_xds__msg(c, TLS_D(upstream_tls_context));
    TLS(CommonTlsContext) *ct = cm_xds__msg(c, TLS_D(common_tls_context));
    TransportSocket *ts;

    if (lb->servers_transport != NULL &&
        (st = find_transport(c->cfg, lb->servers_transport)) == NULL)
        return cm_xds__fail(c,
                            "service \"%s\": serversTransport \"%s\" is not "
                            "in http.serversTransports",
                            s->name, lb->servers_transport);
    ct->tls_params = cm_xds__msg(c, TLS_D(tls_parameters));
    ct->tls_params->tls_minimum_protocol_version =
        TLS_C(TLS_PARAMETERS__TLS_PROTOCOL__TLSv1_2);
    ct->tls_params->tls_maximum_protocol_version =
        TLS_C(TLS_PARAMETERS__TLS_PROTOCOL__TLSv1_3);
    cm_xds__push(c, c->out, &ct->alpn_protocols, &ct->n_alpn_protocols,
                 cm_xds__str(c, "http/1.1"));
    if (st == NULL || !st->insecure_skip_verify) {
        TLS(CertificateValidationContext) *v =
            cm_xds__msg(c, TLS_D(certificate_validation_context));
        const char *ca = CM_XDS_CA_BUNDLE;
        if (st != NULL && st->n_root_cas > 0)
            ca = st->root_cas[0];
        v->trusted_ca = data_source(c, ca, NULL);
        ct->validation_context_type_case = TLS_C(
            COMMON_TLS_CONTEXT__VALIDATION_CONTEXT_TYPE_VALIDATION_CONTEXT);
        ct->validation_context = v;
    }
    u->common_tls_context = ct;
    if (st != NULL && st->server_name != NULL)
        u->sni = cm_xds__str(c, st->server_name);
    else if (lb->n_servers > 0 && lb->servers[0].host != NULL)
        u->sni = cm_xds__str(c, lb->servers[0].host);
    ts = cm_xds__msg(c, &envoy__config__core__v3__transport_socket__descriptor);
    ts->name = cm_xds__str(c, CM_XDS_TLS_SOCKET);
    ts->config_type_case =
        ENVOY__CONFIG__CORE__V3__TRANSPORT_SOCKET__CONFIG_TYPE_TYPED_CONFIG;
    ts->typed_config = cm_xds__any(c, &u->base);
    cl->transport_socket = ts;
    return 0;
}
