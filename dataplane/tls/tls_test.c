/*
 * tls_test.c -- the TLS layer over memory: certificates made by
 * testdata/gen.sh (the openssl CLI), a server context with a.test and
 * *.b.test, client contexts verifying with the test CA. Handshakes are
 * pumped between two dp_tls_conns; SNI choice shows in whether the
 * client's host name check passes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dataplane/tls/tls.h"

#define TLS_(x) Envoy__Extensions__TransportSockets__Tls__V3__##x
#define TLS_D(x)                                                               \
    (&envoy__extensions__transport_sockets__tls__v3__##x##__descriptor)
#define TLS_C(x) ENVOY__EXTENSIONS__TRANSPORT_SOCKETS__TLS__V3__##x

static char dir[512];

static int setup(void **state)
{
    char cmd[1200];
    const char *tmp = getenv("TEST_TMPDIR");

    snprintf(dir, sizeof(dir), "%s/certs", tmp ? tmp : "/tmp");
    snprintf(cmd, sizeof(cmd), "sh dataplane/tls/testdata/gen.sh %s", dir);
    if (system(cmd) != 0)
        return -1;
    sleep(1); /* expired.crt expires the second it is made */
    return 0;
}

static char *path(const char *name)
{
    static char p[4][600];
    static int k;

    k = (k + 1) % 4;
    snprintf(p[k], sizeof(p[k]), "%s/%s", dir, name);
    return p[k];
}

/* A DataSource naming a file (heap; freed by the caller's free_msg). */
static Envoy__Config__Core__V3__DataSource *file(const char *name)
{
    Envoy__Config__Core__V3__DataSource *d = malloc(sizeof(*d));

    envoy__config__core__v3__data_source__init(d);
    d->specifier_case =
        ENVOY__CONFIG__CORE__V3__DATA_SOURCE__SPECIFIER_FILENAME;
    d->filename = strdup(path(name));
    return d;
}

static TLS_(Secret) * secret(const char *name, const char *crt, const char *key)
{
    TLS_(Secret) *s = malloc(sizeof(*s));
    TLS_(TlsCertificate) *tc = malloc(sizeof(*tc));

    envoy__extensions__transport_sockets__tls__v3__secret__init(s);
    envoy__extensions__transport_sockets__tls__v3__tls_certificate__init(tc);
    tc->certificate_chain = file(crt);
    tc->private_key = file(key);
    s->name = strdup(name);
    s->type_case = TLS_C(SECRET__TYPE_TLS_CERTIFICATE);
    s->tls_certificate = tc;
    return s;
}

static void secret_free(TLS_(Secret) * s)
{
    TLS_(TlsCertificate) *tc = s->tls_certificate;

    free(tc->certificate_chain->filename);
    free(tc->certificate_chain);
    free(tc->private_key->filename);
    free(tc->private_key);
    free(tc);
    free(s->name);
    free(s);
}

static struct dp_tls_server *server(unsigned flags, char *err)
{
    TLS_(Secret) * sec[2] = {secret("a", "a.crt", "a.key"),
                             secret("wild", "wild.crt", "wild.key")};
    TLS_(SdsSecretConfig) sc[2], *scp[2] = {&sc[0], &sc[1]};
    TLS_(CommonTlsContext) ct;
    TLS_(DownstreamTlsContext) d;
    char *alpn[2] = {"h2", "http/1.1"};
    struct dp_tls_server *s;

    for (int i = 0; i < 2; i++) {
        envoy__extensions__transport_sockets__tls__v3__sds_secret_config__init(
            &sc[i]);
        sc[i].name = sec[i]->name;
    }
    envoy__extensions__transport_sockets__tls__v3__common_tls_context__init(
        &ct);
    ct.n_tls_certificate_sds_secret_configs = 2;
    ct.tls_certificate_sds_secret_configs = scp;
    ct.n_alpn_protocols = 2;
    ct.alpn_protocols = alpn;
    envoy__extensions__transport_sockets__tls__v3__downstream_tls_context__init(
        &d);
    d.common_tls_context = &ct;
    s = dp_tls_server_new(&d, sec, 2, flags, err, CM_ERR_LEN);
    secret_free(sec[0]);
    secret_free(sec[1]);
    return s;
}

/* A client verifying against <ca> (NULL: no validation context) with SNI
 * <sni>, offering <alpn>. */
static struct dp_tls_client *client(const char *ca, const char *sni,
                                    const char *alpn, int max13)
{
    TLS_(CertificateValidationContext) v;
    TLS_(CommonTlsContext) ct;
    TLS_(TlsParameters) p;
    TLS_(UpstreamTlsContext) u;
    char *ap[1] = {(char *)alpn}, err[CM_ERR_LEN];
    struct dp_tls_client *c;

    envoy__extensions__transport_sockets__tls__v3__certificate_validation_context__init(
        &v);
    envoy__extensions__transport_sockets__tls__v3__common_tls_context__init(
        &ct);
    envoy__extensions__transport_sockets__tls__v3__tls_parameters__init(&p);
    envoy__extensions__transport_sockets__tls__v3__upstream_tls_context__init(
        &u);
    p.tls_maximum_protocol_version =
        max13 ? TLS_C(TLS_PARAMETERS__TLS_PROTOCOL__TLSv1_3)
              : TLS_C(TLS_PARAMETERS__TLS_PROTOCOL__TLSv1_2);
    ct.tls_params = &p;
    if (ca != NULL) {
        v.trusted_ca = file(ca);
        ct.validation_context_type_case = TLS_C(
            COMMON_TLS_CONTEXT__VALIDATION_CONTEXT_TYPE_VALIDATION_CONTEXT);
        ct.validation_context = &v;
    }
    ct.n_alpn_protocols = 1;
    ct.alpn_protocols = ap;
    u.common_tls_context = &ct;
    u.sni = (char *)sni;
    c = dp_tls_client_new(&u, err, sizeof(err));
    if (ca != NULL) {
        free(v.trusted_ca->filename);
        free(v.trusted_ca);
    }
    if (c == NULL)
        fail_msg("client: %s", err);
    return c;
}

/* Moves the output of <from> into <to>: in place (peek, then clear) for
 * the first bytes, as the proxy writes, then by copies. */
static void pipe_bytes(struct dp_tls_conn *from, struct dp_tls_conn *to)
{
    char buf[16384];
    const char *p;
    size_t n = dp_tls_conn_out_peek(from, &p);

    if (n > 0) {
        assert_int_equal(dp_tls_conn_feed(to, p, n), 0);
        dp_tls_conn_out_clear(from);
        assert_int_equal(dp_tls_conn_out_peek(from, &p), 0);
    }
    while ((n = dp_tls_conn_out_take(from, buf, sizeof(buf))) > 0)
        assert_int_equal(dp_tls_conn_feed(to, buf, n), 0);
}

/* Pumps a handshake: 1 when both sides are up, negative when the client
 * (which checks the certificate) fails; <err> says why. */
static int handshake(struct dp_tls_conn *cl, struct dp_tls_conn *sv, char *err)
{
    for (int i = 0; i < 10; i++) {
        int a = dp_tls_conn_handshake(cl, err, CM_ERR_LEN);
        pipe_bytes(cl, sv);
        int b = dp_tls_conn_handshake(sv, NULL, 0);
        pipe_bytes(sv, cl);
        if (a < 0 || b < 0)
            return a < 0 ? a : b;
        if (a == 1 && b == 1)
            return 1;
    }
    return 0;
}

static int connect_to(struct dp_tls_server *s, struct dp_tls_client *c,
                      char *err, struct dp_tls_conn **svp)
{
    struct dp_tls_conn *cl = dp_tls_conn_client(c), *sv = dp_tls_conn_server(s);
    int r = handshake(cl, sv, err);

    dp_tls_conn_free(cl);
    if (svp != NULL)
        *svp = sv;
    else
        dp_tls_conn_free(sv);
    return r;
}

static void test_sni(void **state)
{
    char err[CM_ERR_LEN] = "";
    struct dp_tls_server *s = server(0, err);
    struct dp_tls_client *c;

    assert_non_null(s);
    /* exact name */
    c = client("ca.crt", "a.test", "http/1.1", 1);
    assert_int_equal(connect_to(s, c, err, NULL), 1);
    dp_tls_client_unref(c);
    /* wildcard name: the a.test default would fail the host check */
    c = client("ca.crt", "x.b.test", "http/1.1", 1);
    assert_int_equal(connect_to(s, c, err, NULL), 1);
    dp_tls_client_unref(c);
    /* unknown name: the default (a.test) certificate, which fails */
    c = client("ca.crt", "c.test", "http/1.1", 1);
    assert_true(connect_to(s, c, err, NULL) < 0);
    assert_non_null(strstr(err, "certificate verify failed"));
    dp_tls_client_unref(c);
    /* the wrong CA fails; no validation context accepts anything */
    c = client("other-ca.crt", "a.test", "http/1.1", 1);
    assert_true(connect_to(s, c, err, NULL) < 0);
    dp_tls_client_unref(c);
    c = client(NULL, "c.test", "http/1.1", 1);
    assert_false(dp_tls_client_verifies(c));
    assert_int_equal(connect_to(s, c, err, NULL), 1);
    dp_tls_client_unref(c);
    dp_tls_server_unref(s);
}

static void test_alpn_and_data(void **state)
{
    char err[CM_ERR_LEN] = "", buf[64];
    struct dp_tls_server *s = server(0, err),
                         *s2 = server(DP_TLS_ALLOW_H2, err);
    struct dp_tls_client *c = client("ca.crt", "a.test", "http/1.1", 0);
    struct dp_tls_client *h2 = client("ca.crt", "a.test", "h2", 1);
    struct dp_tls_conn *cl, *sv;
    int n;

    /* TLS 1.2 client, http/1.1 chosen; data both ways, close_notify */
    cl = dp_tls_conn_client(c);
    sv = dp_tls_conn_server(s);
    assert_int_equal(handshake(cl, sv, err), 1);
    assert_string_equal(dp_tls_conn_alpn(sv), "http/1.1");
    assert_int_equal(dp_tls_conn_write(cl, "GET / HTTP/1.1\r\n", 16), 0);
    pipe_bytes(cl, sv);
    n = dp_tls_conn_read(sv, buf, sizeof(buf));
    assert_int_equal(n, 16);
    assert_memory_equal(buf, "GET / HTTP/1.1\r\n", 16);
    assert_int_equal(dp_tls_conn_read(sv, buf, sizeof(buf)), 0);
    dp_tls_conn_shutdown(cl);
    pipe_bytes(cl, sv);
    assert_int_equal(dp_tls_conn_read(sv, buf, sizeof(buf)), DP_TLS_CLOSED);
    dp_tls_conn_free(cl);
    dp_tls_conn_free(sv);

    /* h2 is offered only with DP_TLS_ALLOW_H2 */
    cl = dp_tls_conn_client(h2);
    sv = dp_tls_conn_server(s);
    assert_int_equal(handshake(cl, sv, err), 1);
    assert_string_equal(dp_tls_conn_alpn(sv), "");
    dp_tls_conn_free(cl);
    dp_tls_conn_free(sv);
    cl = dp_tls_conn_client(h2);
    sv = dp_tls_conn_server(s2);
    assert_int_equal(handshake(cl, sv, err), 1);
    assert_string_equal(dp_tls_conn_alpn(sv), "h2");
    dp_tls_conn_free(cl);
    dp_tls_conn_free(sv);
    /* a connection may offer h2 alone over an http/1.1 context */
    cl = dp_tls_conn_client(c);
    assert_int_equal(dp_tls_conn_set_alpn(cl, "h2"), 0);
    assert_int_equal(dp_tls_conn_set_alpn(cl, ""), GW_EINVAL);
    sv = dp_tls_conn_server(s2);
    assert_int_equal(handshake(cl, sv, err), 1);
    assert_string_equal(dp_tls_conn_alpn(cl), "h2");
    dp_tls_conn_free(cl);
    dp_tls_conn_free(sv);

    dp_tls_client_unref(c);
    dp_tls_client_unref(h2);
    dp_tls_server_unref(s);
    dp_tls_server_unref(s2);
}

static void test_connection_outlives_context(void **state)
{
    char err[CM_ERR_LEN] = "", buf[8];
    struct dp_tls_server *s = server(0, err);
    struct dp_tls_client *c = client("ca.crt", "a.test", "http/1.1", 1);
    struct dp_tls_conn *cl = dp_tls_conn_client(c), *sv = dp_tls_conn_server(s);

    assert_int_equal(handshake(cl, sv, err), 1);
    dp_tls_server_unref(s); /* the table is gone; the connection stays */
    dp_tls_client_unref(c);
    assert_int_equal(dp_tls_conn_write(cl, "ping", 4), 0);
    pipe_bytes(cl, sv);
    assert_int_equal(dp_tls_conn_read(sv, buf, sizeof(buf)), 4);
    dp_tls_conn_free(cl);
    dp_tls_conn_free(sv);
}

static void test_secret_check(void **state)
{
    char err[CM_ERR_LEN] = "";
    TLS_(Secret) *ok = secret("a", "a.crt", "a.key");
    TLS_(Secret) *bad = secret("a", "a.crt", "wild.key");
    TLS_(Secret) *none = secret("a", "nope.crt", "a.key");

    assert_int_equal(dp_tls_secret_check(ok, err, sizeof(err)), 0);
    assert_int_equal(dp_tls_secret_check(bad, err, sizeof(err)), GW_EINVAL);
    assert_non_null(strstr(err, "does not match"));
    assert_int_equal(dp_tls_secret_check(none, err, sizeof(err)), GW_EINVAL);
    assert_non_null(strstr(err, "cannot read"));
    secret_free(ok);
    secret_free(bad);
    secret_free(none);
}

static void test_expired_upstream(void **state)
{
    char err[CM_ERR_LEN] = "";
    TLS_(Secret) * sec[1] = {secret("x", "expired.crt", "expired.key")};
    TLS_(SdsSecretConfig) sc, *scp[1] = {&sc};
    TLS_(CommonTlsContext) ct;
    TLS_(DownstreamTlsContext) d;
    struct dp_tls_server *s;
    struct dp_tls_client *c = client("ca.crt", "a.test", "http/1.1", 1);

    envoy__extensions__transport_sockets__tls__v3__sds_secret_config__init(&sc);
    sc.name = "x";
    envoy__extensions__transport_sockets__tls__v3__common_tls_context__init(
        &ct);
    ct.n_tls_certificate_sds_secret_configs = 1;
    ct.tls_certificate_sds_secret_configs = scp;
    envoy__extensions__transport_sockets__tls__v3__downstream_tls_context__init(
        &d);
    d.common_tls_context = &ct;
    s = dp_tls_server_new(&d, sec, 1, 0, err, sizeof(err));
    assert_non_null(s);
    assert_true(connect_to(s, c, err, NULL) < 0);
    assert_non_null(strstr(err, "expired"));
    /* a missing secret is named */
    sc.name = "y";
    assert_null(dp_tls_server_new(&d, sec, 1, 0, err, sizeof(err)));
    assert_string_equal(
        err, "secret \"y\": not received (or not a tls_certificate)");
    dp_tls_server_unref(s);
    dp_tls_client_unref(c);
    secret_free(sec[0]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sni),
        cmocka_unit_test(test_alpn_and_data),
        cmocka_unit_test(test_connection_outlives_context),
        cmocka_unit_test(test_secret_check),
        cmocka_unit_test(test_expired_upstream),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
