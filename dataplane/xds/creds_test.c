/*
 * creds_test.c -- the data node's side of mutual TLS: which saved
 * credentials are usable (missing, expired, another node's, another
 * role's, a key that does not match), the certificate a TLS server sees
 * on the xDS stream (and the renewed one on the next connection, the open
 * stream kept), a server of another CA refused, a node that cannot join
 * serving its cached config meanwhile, and a failed renewal keeping the
 * current certificate. The server is a bare gRPC C core TLS server.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>

#include "common/pki/pki.h"
#include "common/pki/pki_grpc.h"
#include "dataplane/xds/xds.h"
#include "dataplane/xds/xds_int.h"

/* ==== certificates ==== */

struct ca {
    char *cert, *key;
};

static void ca_new(struct ca *ca, const char *name)
{
    char err[CM_ERR_LEN];
    assert_int_equal(cm_pki_ca_new(name, &ca->cert, &ca->key, err, sizeof(err)),
                     0);
}

static void ca_free(struct ca *ca)
{
    free(ca->cert);
    free(ca->key);
}

/* Credentials for <role>/<id> from <ca>, valid from <now> - 60 for
 * <ttl> seconds past <now>. */
static void issue(const struct ca *ca, enum cm_pki_role role, const char *id,
                  int64_t now, int64_t ttl, struct cm_pki_creds *out)
{
    static const char *const dns[] = {CM_PKI_CONTROL_NAME, "localhost"};
    static const char *const ips[] = {"127.0.0.1"};
    char err[CM_ERR_LEN], *csr;
    struct cm_pki_issue in = {.role = role,
                              .id = id,
                              .dns = dns,
                              .n_dns = 2,
                              .ips = ips,
                              .n_ips = 1,
                              .now = now,
                              .ttl_s = ttl};

    memset(out, 0, sizeof(*out));
    assert_int_equal(cm_pki_key_new(&out->key, err, sizeof(err)), 0);
    assert_int_equal(cm_pki_csr_new(out->key, id, &csr, err, sizeof(err)), 0);
    if (cm_pki_issue(ca->cert, ca->key, csr, &in, &out->cert, err,
                     sizeof(err)) != 0)
        fail_msg("issue: %s", err);
    out->ca = strdup(ca->cert);
    free(csr);
}

static void serial_of(const struct cm_pki_creds *c, char out[CM_PKI_FP_HEX])
{
    struct cm_pki_cert_info info;
    char err[CM_ERR_LEN];
    assert_int_equal(cm_pki_cert_info(c->cert, &info, err, sizeof(err)), 0);
    memcpy(out, info.serial, CM_PKI_FP_HEX);
}

static char *tmp_dir(void)
{
    char tmpl[] = "/tmp/dp_creds_test.XXXXXX";
    assert_non_null(mkdtemp(tmpl));
    return strdup(tmpl);
}

static void rm_rf(char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    free(dir);
}

/* ==== dp_xds_creds_load ==== */

static void expect_load(const char *dir, const char *id, int want,
                        const char *msg)
{
    struct cm_pki_creds c;
    char err[CM_ERR_LEN] = "";
    int rc =
        dp_xds_creds_load(dir, id, (int64_t)time(NULL), &c, err, sizeof(err));
    assert_int_equal(rc, want);
    if (msg != NULL && strstr(err, msg) == NULL)
        fail_msg("error \"%s\" lacks \"%s\"", err, msg);
    if (rc == 0) {
        assert_non_null(c.cert);
        assert_non_null(c.key);
        assert_non_null(c.ca);
    } else
        assert_null(c.cert);
    cm_pki_creds_clear(&c);
}

static void save(const char *dir, const struct cm_pki_creds *c)
{
    char err[CM_ERR_LEN];
    if (cm_pki_creds_save_dir(dir, c, err, sizeof(err)) != 0)
        fail_msg("save: %s", err);
}

static void test_load(void **state)
{
    (void)state;
    char *dir = tmp_dir(), path[600];
    struct ca ca;
    struct cm_pki_creds c, other;
    int64_t now = (int64_t)time(NULL);

    ca_new(&ca, "t");
    expect_load(NULL, "node-1", GW_ENOENT, "no --cache-dir");
    expect_load(dir, "node-1", GW_ENOENT, "no certificate in");
    issue(&ca, CM_PKI_ROLE_DATA, "node-1", now, 3600, &c);
    save(dir, &c);
    expect_load(dir, "node-1", 0, NULL);
    expect_load(dir, "node-2", GW_EINVAL, "is for node node-1, not node-2");
    /* a key that is not the certificate's */
    issue(&ca, CM_PKI_ROLE_DATA, "node-1", now, 3600, &other);
    free(c.key);
    c.key = strdup(other.key);
    save(dir, &c);
    expect_load(dir, "node-1", GW_EINVAL, NULL);
    cm_pki_creds_clear(&c);
    cm_pki_creds_clear(&other);
    /* expired */
    issue(&ca, CM_PKI_ROLE_DATA, "node-1", now - 7200, 3600, &c);
    save(dir, &c);
    expect_load(dir, "node-1", GW_EINVAL, "expired at");
    cm_pki_creds_clear(&c);
    /* another role */
    issue(&ca, CM_PKI_ROLE_CONTROL, "node-1", now, 3600, &c);
    save(dir, &c);
    expect_load(dir, "node-1", GW_EINVAL, "control certificate");
    cm_pki_creds_clear(&c);
    /* a certificate without its key file */
    issue(&ca, CM_PKI_ROLE_DATA, "node-1", now, 3600, &c);
    save(dir, &c);
    snprintf(path, sizeof(path), "%s/node.key", dir);
    assert_int_equal(unlink(path), 0);
    expect_load(dir, "node-1", GW_EINVAL, "unusable certificate");
    cm_pki_creds_clear(&c);
    ca_free(&ca);
    rm_rf(dir);
}

/* ==== a TLS server that sees the client's certificate ==== */

struct srv {
    grpc_server *s;
    grpc_completion_queue *cq;
    int port;
    char addr[64];
    /* the call requested */
    grpc_call *call;
    grpc_call_details details;
    grpc_metadata_array md;
};

static void srv_start(struct srv *v, const struct cm_pki_creds *sc)
{
    grpc_ssl_pem_key_cert_pair pair = {sc->key, sc->cert};
    grpc_server_credentials *cr = grpc_ssl_server_credentials_create_ex(
        sc->ca, &pair, 1, GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY, NULL);

    memset(v, 0, sizeof(*v));
    v->cq = grpc_completion_queue_create_for_next(NULL);
    v->s = grpc_server_create(NULL, NULL);
    grpc_server_register_completion_queue(v->s, v->cq, NULL);
    v->port = grpc_server_add_http2_port(v->s, "127.0.0.1:0", cr);
    assert_true(v->port > 0);
    snprintf(v->addr, sizeof(v->addr), "127.0.0.1:%d", v->port);
    grpc_server_credentials_release(cr);
    grpc_server_start(v->s);
}

static grpc_event srv_next(struct srv *v, int ms)
{
    return grpc_completion_queue_next(
        v->cq,
        gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                     gpr_time_from_millis(ms, GPR_TIMESPAN)),
        NULL);
}

/* Waits up to <ms> for a call; 1 with v->call set, or 0. */
static int srv_accept(struct srv *v, int ms)
{
    grpc_call_details_init(&v->details);
    grpc_metadata_array_init(&v->md);
    v->call = NULL;
    assert_int_equal(grpc_server_request_call(v->s, &v->call, &v->details,
                                              &v->md, v->cq, v->cq, v),
                     GRPC_CALL_OK);
    grpc_event ev = srv_next(v, ms);
    if (ev.type == GRPC_OP_COMPLETE && ev.tag == v && ev.success)
        return 1;
    return 0;
}

/* Whether the accepted call's client has cancelled it (within <ms>);
 * leaves the close op pending otherwise. */
static int srv_call_cancelled(struct srv *v, int ms)
{
    static int cancelled;
    grpc_op op;

    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    op.data.recv_close_on_server.cancelled = &cancelled;
    assert_int_equal(grpc_call_start_batch(v->call, &op, 1, &v->port, NULL),
                     GRPC_CALL_OK);
    grpc_event ev = srv_next(v, ms);
    assert_int_equal(ev.type, GRPC_QUEUE_TIMEOUT);
    return ev.type == GRPC_OP_COMPLETE;
}

/* Ends the accepted call (its close op pending) with UNAVAILABLE: the
 * client fails over. */
static void srv_end_call(struct srv *v)
{
    grpc_op ops[2];
    grpc_slice det = grpc_slice_from_static_string("bye");
    int left = 2;

    memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[1].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    ops[1].data.send_status_from_server.status = GRPC_STATUS_UNAVAILABLE;
    ops[1].data.send_status_from_server.status_details = &det;
    assert_int_equal(grpc_call_start_batch(v->call, ops, 2, &v->call, NULL),
                     GRPC_CALL_OK);
    while (left > 0) {
        grpc_event ev = srv_next(v, 5000);
        assert_int_equal(ev.type, GRPC_OP_COMPLETE);
        left--;
    }
    grpc_call_unref(v->call);
    grpc_call_details_destroy(&v->details);
    grpc_metadata_array_destroy(&v->md);
    v->call = NULL;
}

static void srv_stop(struct srv *v)
{
    grpc_server_shutdown_and_notify(v->s, v->cq, v->s);
    grpc_server_cancel_all_calls(v->s);
    for (;;) {
        grpc_event ev = srv_next(v, 5000);
        assert_int_not_equal(ev.type, GRPC_QUEUE_TIMEOUT);
        if (ev.type == GRPC_OP_COMPLETE && ev.tag == v->s)
            break;
    }
    if (v->call != NULL) {
        grpc_call_unref(v->call);
        grpc_call_details_destroy(&v->details);
        grpc_metadata_array_destroy(&v->md);
    }
    grpc_server_destroy(v->s);
    grpc_completion_queue_shutdown(v->cq);
    while (srv_next(v, 5000).type != GRPC_QUEUE_SHUTDOWN)
        ;
    grpc_completion_queue_destroy(v->cq);
}

/* ==== a client ==== */

struct sink {
    int builds, applies;
};

static struct dp_table *sink_build(void *ctx, const struct dp_xds_resources *r,
                                   char *err, size_t len)
{
    (void)r, (void)err, (void)len;
    ((struct sink *)ctx)->builds++;
    return (struct dp_table *)ctx; /* never dereferenced */
}

static void sink_apply(void *ctx, struct dp_table *t)
{
    (void)t;
    ((struct sink *)ctx)->applies++;
}

static struct dp_xds_opts client_opts(const char *control, struct sink *k)
{
    return (struct dp_xds_opts){.control = control,
                                .node_id = "node-1",
                                .backoff_base_ms = 20,
                                .backoff_max_ms = 50,
                                .pki_timeout_ms = 500,
                                .creds_retry_ms = 200,
                                .build = sink_build,
                                .apply = sink_apply,
                                .ctx = k};
}

/* The server sees the node's certificate; a renewed one is used by the
 * next connection while the open stream is kept. */
static void test_mutual_tls_stream(void **state)
{
    (void)state;
    struct ca ca;
    struct cm_pki_creds sc, c1, c2;
    struct cm_pki_cert_info info;
    struct srv v;
    struct sink k = {0};
    struct dp_xds_status st;
    char err[CM_ERR_LEN], s1[CM_PKI_FP_HEX], s2[CM_PKI_FP_HEX];
    int64_t now = (int64_t)time(NULL);

    grpc_init();
    ca_new(&ca, "t");
    issue(&ca, CM_PKI_ROLE_CONTROL, "control-1", now, 3600, &sc);
    issue(&ca, CM_PKI_ROLE_DATA, "node-1", now, 3600, &c1);
    issue(&ca, CM_PKI_ROLE_DATA, "node-1", now, 7200, &c2);
    serial_of(&c1, s1);
    serial_of(&c2, s2);
    srv_start(&v, &sc);
    struct dp_xds_opts o = client_opts(v.addr, &k);
    o.creds = &c1;
    struct dp_xds_client *c = dp_xds_new(&o, err, sizeof(err));
    assert_non_null(c);
    cm_pki_creds_clear(&c1); /* copied */
    assert_int_equal(dp_xds_start(c), 0);

    assert_true(srv_accept(&v, 5000));
    assert_int_equal(cm_pki_grpc_peer(v.call, &info), CM_PKI_PEER_CERT);
    assert_int_equal(info.role, CM_PKI_ROLE_DATA);
    assert_string_equal(info.id, "node-1");
    assert_string_equal(info.serial, s1);
    dp_xds_status(c, &st);
    assert_true(st.tls);
    assert_true(st.cert_not_after >= now + 3600 - 5);

    /* renewed: the open stream stays, the next connection uses it */
    assert_int_equal(dp_xds__creds_set(dp_xds__client_creds(c), &c2), 0);
    assert_false(srv_call_cancelled(&v, 500));
    dp_xds_status(c, &st);
    assert_true(st.cert_not_after >= now + 7200 - 5);
    srv_end_call(&v);
    assert_true(srv_accept(&v, 5000));
    assert_int_equal(cm_pki_grpc_peer(v.call, &info), CM_PKI_PEER_CERT);
    assert_string_equal(info.serial, s2);

    dp_xds_free(c);
    srv_stop(&v);
    cm_pki_creds_clear(&sc);
    cm_pki_creds_clear(&c2);
    ca_free(&ca);
    grpc_shutdown();
}

/* A control node whose certificate is from another CA is not trusted
 * (nor does it trust the node): no stream. */
static void test_other_ca_refused(void **state)
{
    (void)state;
    struct ca ca, ca2;
    struct cm_pki_creds sc, c1;
    struct srv v;
    struct sink k = {0};
    char err[CM_ERR_LEN];
    int64_t now = (int64_t)time(NULL);

    grpc_init();
    ca_new(&ca, "t");
    ca_new(&ca2, "other");
    issue(&ca, CM_PKI_ROLE_CONTROL, "control-1", now, 3600, &sc);
    issue(&ca2, CM_PKI_ROLE_DATA, "node-1", now, 3600, &c1);
    srv_start(&v, &sc);
    struct dp_xds_opts o = client_opts(v.addr, &k);
    o.creds = &c1;
    struct dp_xds_client *c = dp_xds_new(&o, err, sizeof(err));
    assert_non_null(c);
    assert_int_equal(dp_xds_start(c), 0);
    assert_false(srv_accept(&v, 1500));
    dp_xds_free(c);
    srv_stop(&v);
    cm_pki_creds_clear(&sc);
    cm_pki_creds_clear(&c1);
    ca_free(&ca);
    ca_free(&ca2);
    grpc_shutdown();
}

/* ==== joining and renewing without a control node ==== */

/* A port nothing listens on. */
static int closed_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t n = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &n), 0);
    close(fd);
    return ntohs(a.sin_port);
}

static void write_cache(const char *dir)
{
    Envoy__Config__Cluster__V3__Cluster cl =
        ENVOY__CONFIG__CLUSTER__V3__CLUSTER__INIT;
    struct dp_xds__set s;
    char err[CM_ERR_LEN];
    size_t n;
    uint8_t *b;

    cl.name = "c";
    n = protobuf_c_message_get_packed_size(&cl.base);
    b = malloc(n + 1);
    protobuf_c_message_pack(&cl.base, b);
    dp_xds__set_init(&s);
    struct dp_xds__res *r =
        dp_xds__res_new(DP_XDS_CLUSTER, NULL, "1", b, n, err, sizeof(err));
    assert_non_null(r);
    free(b);
    assert_int_equal(dp_xds__set_put(&s, r), 0);
    for (int t = 0; t < DP_XDS_TYPE_COUNT; t++)
        assert_int_equal(dp_xds__set_version(&s, t, "1"), 0);
    assert_int_equal(dp_xds__cache_write(dir, &s, err, sizeof(err)), 0);
    dp_xds__set_deinit(&s);
}

static struct dp_xds_status wait_cert_error(struct dp_xds_client *c)
{
    struct dp_xds_status st;
    for (int i = 0; i < 100; i++) {
        dp_xds_status(c, &st);
        if (st.cert_error[0] != '\0')
            break;
        usleep(50 * 1000);
    }
    return st;
}

/* No control node answers the join: the cached config is served and the
 * join is retried; the error is in the status. */
static void test_join_unreachable_serves_cache(void **state)
{
    (void)state;
    char *dir = tmp_dir(), control[64], tok[CM_PKI_TOKEN_MAX], err[CM_ERR_LEN];
    char fp[CM_PKI_FP_HEX], path[600];
    struct cm_pki_token t;
    struct sink k = {0};
    struct dp_xds_status st;

    memset(fp, 'a', 64);
    fp[64] = '\0';
    assert_int_equal(cm_pki_token_new(CM_PKI_ROLE_DATA, fp, &t), 0);
    assert_true(cm_pki_token_format(&t, tok, sizeof(tok)) >= 0);
    assert_non_null(strstr(tok, "TKE1.data."));
    snprintf(control, sizeof(control), "127.0.0.1:%d", closed_port());
    write_cache(dir);
    struct dp_xds_opts o = client_opts(control, &k);
    o.cache_dir = dir;
    o.cache_wait_ms = 200;
    /* plain text without creds or token; TLS with neither is an error */
    struct dp_xds_client *c = dp_xds_new(&o, err, sizeof(err));
    assert_non_null(c);
    dp_xds_status(c, &st);
    assert_false(st.tls);
    dp_xds_free(c);
    o.join_token = tok;
    c = dp_xds_new(&o, err, sizeof(err));
    assert_non_null(c);
    assert_int_equal(dp_xds_start(c), 0);
    st = wait_cert_error(c);
    assert_true(st.tls);
    assert_non_null(strstr(st.cert_error, "join through 127.0.0.1"));
    assert_int_equal(st.cert_not_after, 0);
    for (int i = 0; i < 100 && !st.have_config; i++) {
        usleep(50 * 1000);
        dp_xds_status(c, &st);
    }
    assert_true(st.have_config);
    assert_true(st.from_cache);
    assert_int_equal(st.state, DP_XDS_CACHE);
    assert_int_equal(k.applies, 1);
    dp_xds_free(c);
    snprintf(path, sizeof(path), "%s/node.crt", dir);
    assert_int_not_equal(access(path, F_OK), 0); /* nothing saved */
    rm_rf(dir);
}

/* Past two thirds of its life the certificate is renewed; when no control
 * node answers, the current one stays in use and the error is shown. */
static void test_renew_failure_keeps_cert(void **state)
{
    (void)state;
    struct ca ca;
    struct cm_pki_creds c1;
    struct sink k = {0};
    struct dp_xds_status st;
    char control[64], err[CM_ERR_LEN];
    int64_t now = (int64_t)time(NULL);

    ca_new(&ca, "t");
    /* notBefore now - 160, notAfter now + 20: renewal is due */
    issue(&ca, CM_PKI_ROLE_DATA, "node-1", now - 100, 120, &c1);
    snprintf(control, sizeof(control), "127.0.0.1:%d", closed_port());
    struct dp_xds_opts o = client_opts(control, &k);
    o.creds = &c1;
    struct dp_xds_client *c = dp_xds_new(&o, err, sizeof(err));
    assert_non_null(c);
    assert_int_equal(dp_xds_start(c), 0);
    st = wait_cert_error(c);
    assert_non_null(strstr(st.cert_error, "renew through 127.0.0.1"));
    assert_int_equal(st.cert_not_after, now + 20);
    dp_xds_free(c);
    cm_pki_creds_clear(&c1);
    ca_free(&ca);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load),
        cmocka_unit_test(test_mutual_tls_stream),
        cmocka_unit_test(test_other_ca_refused),
        cmocka_unit_test(test_join_unreachable_serves_cache),
        cmocka_unit_test(test_renew_failure_keeps_cert),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
