/*
 * pki_grpc_test.c -- tests of common/pki's gRPC side that need no gRPC
 * server: fetching a chain from a real TLS server (an OpenSSL server on a
 * thread, 127.0.0.1, port 0) and finding the CA in it; a port that accepts
 * but never answers costs no more than the timeout; and Join and Renew
 * against a small Membership server (gRPC C core, the credentials of
 * cm_pki_grpc_server_creds) that records each call's peer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/support/time.h>

#include "common/pki/pki.h"
#include "common/pki/pki_grpc.h"
#include "traefikee/v1/management.pb-c.h"

/* A CA and a control node's certificate and key. */
struct fixture {
    char *ca, *ca_key, *cert, *key;
    char fp[CM_PKI_FP_HEX];
};

static void fixture_make(struct fixture *f)
{
    static const char *const dns[] = {CM_PKI_CONTROL_NAME};
    static const char *const ips[] = {"127.0.0.1"};
    struct cm_pki_issue in = {CM_PKI_ROLE_CONTROL, "c1", dns, 1, ips, 1,
                              (int64_t)time(NULL), 3600};
    char err[CM_ERR_LEN], *csr;

    assert_int_equal(cm_pki_ca_new("t", &f->ca, &f->ca_key, err, sizeof(err)),
                     GW_OK);
    assert_int_equal(cm_pki_key_new(&f->key, err, sizeof(err)), GW_OK);
    assert_int_equal(cm_pki_csr_new(f->key, "c1", &csr, err, sizeof(err)),
                     GW_OK);
    assert_int_equal(
        cm_pki_issue(f->ca, f->ca_key, csr, &in, &f->cert, err, sizeof(err)),
        GW_OK);
    assert_int_equal(cm_pki_fingerprint(f->ca, f->fp, err, sizeof(err)), GW_OK);
    free(csr);
}

static void fixture_free(struct fixture *f)
{
    free(f->ca);
    free(f->ca_key);
    free(f->cert);
    free(f->key);
}

/* A listening socket on 127.0.0.1, port 0; its port in *port. */
static int listen_any(int *port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t sl = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    assert_true(fd >= 0);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(fd, 8), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    *port = ntohs(sa.sin_port);
    return fd;
}

/* ==== a TLS server on a thread ==== */

struct server {
    int lfd, port;
    SSL_CTX *ctx;
    pthread_t th;
    char sni[64];
};

static X509 *x509_of(const char *pem)
{
    BIO *b = BIO_new_mem_buf(pem, -1);
    X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);

    BIO_free(b);
    return x;
}

static EVP_PKEY *key_of(const char *pem)
{
    BIO *b = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);

    BIO_free(b);
    return k;
}

static void server_ctx(struct server *s, const struct fixture *f)
{
    X509 *leaf = x509_of(f->cert), *ca = x509_of(f->ca);
    EVP_PKEY *k = key_of(f->key);

    s->ctx = SSL_CTX_new(TLS_server_method());
    assert_non_null(s->ctx);
    assert_int_equal(SSL_CTX_use_certificate(s->ctx, leaf), 1);
    assert_int_equal(SSL_CTX_use_PrivateKey(s->ctx, k), 1);
    assert_int_equal(SSL_CTX_add1_chain_cert(s->ctx, ca), 1);
    X509_free(leaf);
    X509_free(ca);
    EVP_PKEY_free(k);
}

/* Accepts one connection, completes the handshake, waits for the close. */
static void *server_run(void *arg)
{
    struct server *s = arg;
    int fd = accept(s->lfd, NULL, NULL);
    const char *name;
    SSL *ssl;
    char c;

    if (fd < 0)
        return NULL;
    ssl = SSL_new(s->ctx);
    SSL_set_fd(ssl, fd);
    if (SSL_accept(ssl) == 1) {
        name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
        snprintf(s->sni, sizeof(s->sni), "%s", name != NULL ? name : "");
        (void)SSL_read(ssl, &c, 1);
    }
    SSL_free(ssl);
    close(fd);
    return NULL;
}

static void server_start(struct server *s, const struct fixture *f)
{
    memset(s, 0, sizeof(*s));
    server_ctx(s, f);
    s->lfd = listen_any(&s->port);
    assert_int_equal(pthread_create(&s->th, NULL, server_run, s), 0);
}

static void server_stop(struct server *s)
{
    pthread_join(s->th, NULL);
    close(s->lfd);
    SSL_CTX_free(s->ctx);
}

/* ==== a Membership server ==== */

#define CLUSTER_KEY                                                            \
    "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

struct msrv {
    struct fixture *f;
    grpc_server *server;
    grpc_completion_queue *cq, *ccq; /* notifications, calls */
    pthread_t th;
    int port, plain_port;              /* TLS, and plain text */
    char secret[3][CM_PKI_SECRET_HEX]; /* per role */
    struct cm_pki_grpc_certs *certs;   /* replaceable, or NULL */
    /* the last call, as the server saw it */
    enum cm_pki_peer peer;
    struct cm_pki_cert_info info;
    int calls;
};

static int tag_new, tag_ops, tag_shutdown;

static grpc_event wait_tag(grpc_completion_queue *cq, void *tag)
{
    grpc_event ev;

    do {
        ev = grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_REALTIME),
                                        NULL);
    } while (ev.type == GRPC_OP_COMPLETE && ev.tag != tag);
    return ev;
}

static bool bytes_of(grpc_byte_buffer *bb, grpc_slice *out)
{
    grpc_byte_buffer_reader rd;

    if (bb == NULL || !grpc_byte_buffer_reader_init(&rd, bb))
        return false;
    *out = grpc_byte_buffer_reader_readall(&rd);
    grpc_byte_buffer_reader_destroy(&rd);
    return true;
}

/* Issues a certificate for <role>/<id> to <csr>; NULL on failure. */
static char *msrv_issue(struct msrv *s, enum cm_pki_role role, const char *id,
                        const char *csr)
{
    struct cm_pki_issue in = {role, id, NULL, 0, NULL, 0, (int64_t)time(NULL),
                              3600};
    char err[CM_ERR_LEN], *cert;

    if (cm_pki_issue(s->f->ca, s->f->ca_key, csr, &in, &cert, err,
                     sizeof(err)) != GW_OK)
        return NULL;
    return cert;
}

static grpc_status_code msrv_join(struct msrv *s, grpc_slice req, uint8_t **out,
                                  size_t *outlen)
{
    Traefikee__V1__JoinRequest *r = traefikee__v1__join_request__unpack(
        NULL, GRPC_SLICE_LENGTH(req), GRPC_SLICE_START_PTR(req));
    Traefikee__V1__JoinResponse resp = TRAEFIKEE__V1__JOIN_RESPONSE__INIT;
    grpc_status_code st = GRPC_STATUS_UNAUTHENTICATED;
    struct cm_pki_token t;
    char *cert = NULL;

    if (r != NULL && cm_pki_token_parse(r->token, &t, NULL, 0) == GW_OK &&
        cm_pki_equal(t.secret, s->secret[t.role]) &&
        (cert = msrv_issue(s, t.role, r->node_id, r->csr_pem)) != NULL) {
        resp.cert_pem = cert;
        resp.ca_pem = s->f->ca;
        if (t.role == CM_PKI_ROLE_CONTROL) {
            resp.cluster_key = (char *)CLUSTER_KEY;
            resp.redis_password = (char *)"redis-pw";
        }
        *outlen = traefikee__v1__join_response__get_packed_size(&resp);
        *out = malloc(*outlen + 1);
        traefikee__v1__join_response__pack(&resp, *out);
        st = GRPC_STATUS_OK;
    }
    free(cert);
    if (r != NULL)
        traefikee__v1__join_request__free_unpacked(r, NULL);
    return st;
}

static grpc_status_code msrv_renew(struct msrv *s, grpc_slice req,
                                   uint8_t **out, size_t *outlen)
{
    Traefikee__V1__RenewRequest *r = traefikee__v1__renew_request__unpack(
        NULL, GRPC_SLICE_LENGTH(req), GRPC_SLICE_START_PTR(req));
    Traefikee__V1__RenewResponse resp = TRAEFIKEE__V1__RENEW_RESPONSE__INIT;
    grpc_status_code st = GRPC_STATUS_UNAUTHENTICATED;
    char *cert = NULL;

    if (r != NULL && s->peer == CM_PKI_PEER_CERT &&
        (cert = msrv_issue(s, s->info.role, s->info.id, r->csr_pem)) != NULL) {
        resp.cert_pem = cert;
        resp.ca_pem = s->f->ca;
        *outlen = traefikee__v1__renew_response__get_packed_size(&resp);
        *out = malloc(*outlen + 1);
        traefikee__v1__renew_response__pack(&resp, *out);
        st = GRPC_STATUS_OK;
    }
    free(cert);
    if (r != NULL)
        traefikee__v1__renew_request__free_unpacked(r, NULL);
    return st;
}

/* Answers <call>: reads the request, decides, sends the reply. */
static void msrv_handle(struct msrv *s, grpc_call *call, grpc_call_details *d)
{
    grpc_byte_buffer *recv = NULL, *send = NULL;
    grpc_slice req = grpc_empty_slice(), msg,
               details = grpc_slice_from_static_string("unknown join token");
    grpc_status_code st = GRPC_STATUS_UNIMPLEMENTED;
    uint8_t *out = NULL;
    size_t outlen = 0;
    int cancelled = 0;
    grpc_op ops[3];

    memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[1].op = GRPC_OP_RECV_MESSAGE;
    ops[1].data.recv_message.recv_message = &recv;
    assert_int_equal(grpc_call_start_batch(call, ops, 2, &tag_ops, NULL),
                     GRPC_CALL_OK);
    wait_tag(s->ccq, &tag_ops);
    s->peer = cm_pki_grpc_peer(call, &s->info);
    s->calls++;
    if (bytes_of(recv, &req)) {
        if (grpc_slice_str_cmp(d->method, "/traefikee.v1.Membership/Join") == 0)
            st = msrv_join(s, req, &out, &outlen);
        else if (grpc_slice_str_cmp(d->method,
                                    "/traefikee.v1.Membership/Renew") == 0)
            st = msrv_renew(s, req, &out, &outlen);
    }
    memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    ops[0].data.send_status_from_server.status = st;
    ops[0].data.send_status_from_server.status_details = &details;
    ops[1].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    ops[1].data.recv_close_on_server.cancelled = &cancelled;
    if (out != NULL) {
        msg = grpc_slice_from_copied_buffer((const char *)out, outlen);
        send = grpc_raw_byte_buffer_create(&msg, 1);
        grpc_slice_unref(msg);
        ops[2].op = GRPC_OP_SEND_MESSAGE;
        ops[2].data.send_message.send_message = send;
    }
    assert_int_equal(
        grpc_call_start_batch(call, ops, out != NULL ? 3 : 2, &tag_ops, NULL),
        GRPC_CALL_OK);
    wait_tag(s->ccq, &tag_ops);
    if (send != NULL)
        grpc_byte_buffer_destroy(send);
    if (recv != NULL)
        grpc_byte_buffer_destroy(recv);
    grpc_slice_unref(req);
    free(out);
    grpc_call_unref(call);
}

/* Serves calls one at a time until the server's shutdown is notified
 * (tag_shutdown), which may come before or after the last request fails. */
static void *msrv_run(void *arg)
{
    struct msrv *s = arg;
    grpc_call_details d;
    grpc_metadata_array md;
    grpc_call *call = NULL;
    bool pending = false, shut = false;
    grpc_event ev;

    for (;;) {
        if (!pending && !shut) {
            call = NULL;
            grpc_call_details_init(&d);
            grpc_metadata_array_init(&md);
            pending =
                grpc_server_request_call(s->server, &call, &d, &md, s->ccq,
                                         s->cq, &tag_new) == GRPC_CALL_OK;
            if (!pending) {
                grpc_call_details_destroy(&d);
                grpc_metadata_array_destroy(&md);
                break;
            }
        }
        if (!pending && shut)
            return NULL;
        ev = grpc_completion_queue_next(
            s->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        if (ev.type != GRPC_OP_COMPLETE)
            return NULL;
        if (ev.tag == &tag_shutdown) {
            shut = true;
            continue;
        }
        pending = false;
        if (ev.success)
            msrv_handle(s, call, &d);
        grpc_call_details_destroy(&d);
        grpc_metadata_array_destroy(&md);
    }
    wait_tag(s->cq, &tag_shutdown);
    return NULL;
}

static void msrv_start_with(struct msrv *s, struct fixture *f, bool replaceable)
{
    struct cm_pki_creds c = {f->ca, f->cert, f->key};
    grpc_server_credentials *sc;
    struct cm_pki_token t;

    memset(s, 0, sizeof(*s));
    s->f = f;
    assert_int_equal(cm_pki_token_new(CM_PKI_ROLE_CONTROL, f->fp, &t), GW_OK);
    strcpy(s->secret[CM_PKI_ROLE_CONTROL], t.secret);
    assert_int_equal(cm_pki_token_new(CM_PKI_ROLE_DATA, f->fp, &t), GW_OK);
    strcpy(s->secret[CM_PKI_ROLE_DATA], t.secret);
    grpc_init();
    s->server = grpc_server_create(NULL, NULL);
    s->cq = grpc_completion_queue_create_for_next(NULL);
    s->ccq = grpc_completion_queue_create_for_next(NULL);
    grpc_server_register_completion_queue(s->server, s->cq, NULL);
    if (replaceable) {
        s->certs = cm_pki_grpc_certs_new(&c);
        assert_non_null(s->certs);
        sc = cm_pki_grpc_certs_server_creds(s->certs);
    } else
        sc = cm_pki_grpc_server_creds(&c);
    assert_non_null(sc);
    s->port = grpc_server_add_http2_port(s->server, "127.0.0.1:0", sc);
    grpc_server_credentials_release(sc);
    assert_true(s->port > 0);
    sc = grpc_insecure_server_credentials_create();
    s->plain_port = grpc_server_add_http2_port(s->server, "127.0.0.1:0", sc);
    grpc_server_credentials_release(sc);
    assert_true(s->plain_port > 0);
    grpc_server_start(s->server);
    assert_int_equal(pthread_create(&s->th, NULL, msrv_run, s), 0);
}

static void msrv_start(struct msrv *s, struct fixture *f)
{
    msrv_start_with(s, f, false);
}

static void drain(grpc_completion_queue *cq)
{
    grpc_completion_queue_shutdown(cq);
    while (
        grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL)
            .type != GRPC_QUEUE_SHUTDOWN)
        ;
    grpc_completion_queue_destroy(cq);
}

static void msrv_stop(struct msrv *s)
{
    grpc_server_shutdown_and_notify(s->server, s->cq, &tag_shutdown);
    grpc_server_cancel_all_calls(s->server);
    pthread_join(s->th, NULL);
    grpc_server_destroy(s->server);
    drain(s->cq);
    drain(s->ccq);
    grpc_shutdown();
    cm_pki_grpc_certs_free(s->certs);
}

/* The text of a token of <role> for <s> (secret <secret> if not NULL). */
static void token_text(struct msrv *s, enum cm_pki_role role,
                       const char *secret, const char *fp, char *out)
{
    struct cm_pki_token t = {.role = role};

    strcpy(t.secret, secret != NULL ? secret : s->secret[role]);
    strcpy(t.ca_fp, fp != NULL ? fp : s->f->fp);
    assert_int_equal(cm_pki_token_format(&t, out, CM_PKI_TOKEN_MAX), GW_OK);
}

static void test_join_and_renew(void **state)
{
    char addr[64], tok[CM_PKI_TOKEN_MAX], err[CM_ERR_LEN], *ck, *rp;
    struct cm_pki_cert_info a, b;
    struct cm_pki_creds c;
    struct fixture f;
    struct msrv s;

    fixture_make(&f);
    msrv_start(&s, &f);
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", s.port);
    token_text(&s, CM_PKI_ROLE_DATA, NULL, NULL, tok);
    assert_int_equal(
        cm_pki_join(addr, tok, "d1", 5000, &c, &ck, &rp, err, sizeof(err)),
        GW_OK);
    assert_int_equal(s.peer, CM_PKI_PEER_ANON); /* no client certificate */
    assert_string_equal(c.ca, f.ca);
    assert_true(cm_pki_key_matches(c.cert, c.key));
    assert_int_equal(cm_pki_cert_info(c.cert, &a, err, sizeof(err)), GW_OK);
    assert_int_equal(a.role, CM_PKI_ROLE_DATA);
    assert_string_equal(a.id, "d1");
    assert_string_equal(ck, "");
    assert_string_equal(rp, "");
    free(ck);
    free(rp);
    /* renewal over mutual TLS: the server sees the certificate */
    assert_int_equal(cm_pki_renew(addr, 5000, &c, err, sizeof(err)), GW_OK);
    assert_int_equal(s.peer, CM_PKI_PEER_CERT);
    assert_int_equal(s.info.role, CM_PKI_ROLE_DATA);
    assert_string_equal(s.info.id, "d1");
    assert_string_equal(s.info.serial, a.serial);
    assert_int_equal(cm_pki_cert_info(c.cert, &b, err, sizeof(err)), GW_OK);
    assert_string_equal(b.id, "d1");
    assert_string_not_equal(b.serial, a.serial);
    assert_true(cm_pki_key_matches(c.cert, c.key));
    cm_pki_creds_clear(&c);
    msrv_stop(&s);
    fixture_free(&f);
}

static void test_join_control_gets_keys(void **state)
{
    char addr[128], tok[CM_PKI_TOKEN_MAX], err[CM_ERR_LEN], *ck, *rp;
    struct cm_pki_cert_info a;
    struct cm_pki_creds c;
    struct fixture f;
    struct msrv s;
    int dead, lfd = listen_any(&dead);

    close(lfd);
    fixture_make(&f);
    msrv_start(&s, &f);
    /* the first address is dead: the second one answers */
    snprintf(addr, sizeof(addr), "127.0.0.1:%d, 127.0.0.1:%d", dead, s.port);
    token_text(&s, CM_PKI_ROLE_CONTROL, NULL, NULL, tok);
    assert_int_equal(
        cm_pki_join(addr, tok, "c2", 5000, &c, &ck, &rp, err, sizeof(err)),
        GW_OK);
    assert_int_equal(cm_pki_cert_info(c.cert, &a, err, sizeof(err)), GW_OK);
    assert_int_equal(a.role, CM_PKI_ROLE_CONTROL);
    assert_string_equal(ck, CLUSTER_KEY);
    assert_string_equal(rp, "redis-pw");
    free(ck);
    free(rp);
    cm_pki_creds_clear(&c);
    msrv_stop(&s);
    fixture_free(&f);
}

static void test_join_refused(void **state)
{
    char addr[64], tok[CM_PKI_TOKEN_MAX], err[CM_ERR_LEN], want[128];
    struct fixture f, other;
    struct cm_pki_creds c;
    struct msrv s;

    fixture_make(&f);
    fixture_make(&other);
    msrv_start(&s, &f);
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", s.port);
    /* a wrong secret: the server's answer, with the address */
    token_text(&s, CM_PKI_ROLE_DATA, "00000000000000000000000000000000", NULL,
               tok);
    assert_int_equal(
        cm_pki_join(addr, tok, "d1", 5000, &c, NULL, NULL, err, sizeof(err)),
        GW_EPROTO);
    snprintf(want, sizeof(want),
             "join refused by %s: UNAUTHENTICATED: unknown join token", addr);
    assert_string_equal(err, want);
    assert_null(c.cert);
    /* a token of another CA: no secret is sent */
    s.calls = 0;
    token_text(&s, CM_PKI_ROLE_DATA, NULL, other.fp, tok);
    assert_int_equal(
        cm_pki_join(addr, tok, "d1", 5000, &c, NULL, NULL, err, sizeof(err)),
        GW_EPROTO);
    assert_non_null(strstr(err, "does not present the CA"));
    assert_int_equal(s.calls, 0);
    /* not a token, no address */
    assert_int_equal(cm_pki_join(addr, "TKE1.x", "d1", 5000, &c, NULL, NULL,
                                 err, sizeof(err)),
                     GW_EINVAL);
    token_text(&s, CM_PKI_ROLE_DATA, NULL, NULL, tok);
    assert_int_equal(
        cm_pki_join("", tok, "d1", 5000, &c, NULL, NULL, err, sizeof(err)),
        GW_EINVAL);
    msrv_stop(&s);
    fixture_free(&f);
    fixture_free(&other);
}

/* A plain-text unary call with an empty request; returns its status. */
static grpc_status_code plain_call(const char *addr, const char *method)
{
    grpc_channel *ch = cm_pki_grpc_channel(addr, NULL);
    grpc_slice e = grpc_empty_slice();
    grpc_byte_buffer *send = grpc_raw_byte_buffer_create(&e, 1), *recv;
    grpc_status_code st = GRPC_STATUS_UNKNOWN;
    char details[256];

    assert_non_null(ch);
    cm_pki_grpc_unary(ch, method, send, 5000, &st, details, sizeof(details),
                      &recv);
    if (recv != NULL)
        grpc_byte_buffer_destroy(recv);
    grpc_byte_buffer_destroy(send);
    grpc_channel_destroy(ch);
    return st;
}

static void test_peer_plain(void **state)
{
    struct fixture f;
    struct msrv s;
    char addr[64];

    fixture_make(&f);
    msrv_start(&s, &f);
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", s.plain_port);
    s.peer = CM_PKI_PEER_CERT;
    assert_int_equal(plain_call(addr, "/traefikee.v1.Membership/Renew"),
                     GRPC_STATUS_UNAUTHENTICATED);
    assert_int_equal(s.calls, 1);
    assert_int_equal(s.peer, CM_PKI_PEER_PLAIN);
    msrv_stop(&s);
    fixture_free(&f);
}

/* The fingerprint of the leaf <addr> presents. */
static void leaf_fp(const char *addr, char fp[CM_PKI_FP_HEX])
{
    char err[CM_ERR_LEN], *chain;

    assert_int_equal(cm_pki_fetch_chain(addr, 5000, &chain, err, sizeof(err)),
                     GW_OK);
    assert_int_equal(cm_pki_fingerprint(chain, fp, err, sizeof(err)), GW_OK);
    free(chain);
}

static void test_server_certs_replaced(void **state)
{
    char addr[64], tok[CM_PKI_TOKEN_MAX], err[CM_ERR_LEN], *ck;
    char fp1[CM_PKI_FP_HEX], fp2[CM_PKI_FP_HEX], got[CM_PKI_FP_HEX];
    struct fixture f, f2;
    struct cm_pki_creds c, next;
    struct msrv s;

    fixture_make(&f);
    fixture_make(&f2); /* another key and certificate (and CA) */
    msrv_start_with(&s, &f, true);
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", s.port);
    assert_int_equal(cm_pki_fingerprint(f.cert, fp1, err, sizeof(err)), GW_OK);
    leaf_fp(addr, got);
    assert_string_equal(got, fp1);
    token_text(&s, CM_PKI_ROLE_DATA, NULL, NULL, tok);
    assert_int_equal(
        cm_pki_join(addr, tok, "d9", 5000, &c, &ck, NULL, err, sizeof(err)),
        GW_OK);
    free(ck);
    cm_pki_creds_clear(&c);
    /* new handshakes present the new certificate */
    next.ca = f2.ca;
    next.cert = f2.cert;
    next.key = f2.key;
    assert_int_equal(cm_pki_grpc_certs_set(s.certs, &next), GW_OK);
    assert_int_equal(cm_pki_fingerprint(f2.cert, fp2, err, sizeof(err)), GW_OK);
    leaf_fp(addr, got);
    assert_string_equal(got, fp2);
    next.key = NULL;
    assert_int_equal(cm_pki_grpc_certs_set(s.certs, &next), GW_EINVAL);
    msrv_stop(&s);
    fixture_free(&f);
    fixture_free(&f2);
}

/* Credentials of another CA, or expired ones, fail the handshake. */
static void test_renew_refused(void **state)
{
    struct fixture f, other;
    struct cm_pki_creds c;
    char addr[64], err[CM_ERR_LEN], *csr;
    struct cm_pki_issue in = {
        CM_PKI_ROLE_DATA,           "d1", NULL, 0, NULL, 0,
        (int64_t)time(NULL) - 7200, 3600};
    struct msrv s;

    fixture_make(&f);
    fixture_make(&other);
    msrv_start(&s, &f);
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", s.port);
    /* another CA's certificate (trusting our CA for the server) */
    c.ca = strdup(f.ca);
    c.cert = strdup(other.cert);
    c.key = strdup(other.key);
    assert_int_not_equal(cm_pki_renew(addr, 3000, &c, err, sizeof(err)), GW_OK);
    assert_string_equal(c.cert, other.cert); /* unchanged */
    assert_int_equal(s.calls, 0);
    free(c.cert);
    /* an expired certificate of our CA */
    assert_int_equal(cm_pki_csr_new(c.key, "d1", &csr, err, sizeof(err)),
                     GW_OK);
    assert_int_equal(
        cm_pki_issue(f.ca, f.ca_key, csr, &in, &c.cert, err, sizeof(err)),
        GW_OK);
    free(csr);
    assert_int_not_equal(cm_pki_renew(addr, 3000, &c, err, sizeof(err)), GW_OK);
    assert_int_equal(s.calls, 0);
    cm_pki_creds_clear(&c);
    msrv_stop(&s);
    fixture_free(&f);
    fixture_free(&other);
}

/* ==== tests ==== */

static void test_fetch_chain_and_find(void **state)
{
    struct fixture f;
    struct server s;
    char addr[64], err[CM_ERR_LEN], *chain, *ca, fp[CM_PKI_FP_HEX];

    fixture_make(&f);
    server_start(&s, &f);
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", s.port);
    assert_int_equal(cm_pki_fetch_chain(addr, 5000, &chain, err, sizeof(err)),
                     GW_OK);
    server_stop(&s);
    assert_string_equal(s.sni, CM_PKI_CONTROL_NAME);
    /* leaf first, then the CA */
    assert_int_equal(cm_pki_fingerprint(chain, fp, err, sizeof(err)), GW_OK);
    assert_string_not_equal(fp, f.fp);
    assert_int_equal(cm_pki_chain_find(chain, f.fp, &ca, err, sizeof(err)),
                     GW_OK);
    assert_string_equal(ca, f.ca);
    free(ca);
    /* the leaf's own fingerprint finds the leaf */
    assert_int_equal(cm_pki_chain_find(chain, fp, &ca, err, sizeof(err)),
                     GW_OK);
    assert_string_equal(ca, f.cert);
    free(ca);
    /* an unknown fingerprint: none */
    memset(fp, '0', 64);
    assert_int_equal(cm_pki_chain_find(chain, fp, &ca, err, sizeof(err)),
                     GW_ENOENT);
    assert_null(ca);
    free(chain);
    fixture_free(&f);
}

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void test_fetch_stalled_server_times_out(void **state)
{
    char addr[64], err[CM_ERR_LEN], *chain;
    int port, lfd = listen_any(&port); /* the kernel accepts; no one reads */
    int64_t t0 = mono_ms(), dt;

    snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
    assert_int_not_equal(
        cm_pki_fetch_chain(addr, 300, &chain, err, sizeof(err)), GW_OK);
    dt = mono_ms() - t0;
    assert_null(chain);
    assert_non_null(strstr(err, "timed out"));
    assert_true(dt >= 250);
    assert_true(dt < 2000);
    close(lfd);
}

static void test_fetch_refused(void **state)
{
    char addr[64], err[CM_ERR_LEN], *chain;
    int port, lfd = listen_any(&port);

    close(lfd); /* nothing listens there now */
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
    assert_int_equal(cm_pki_fetch_chain(addr, 1000, &chain, err, sizeof(err)),
                     GW_EIO);
    assert_null(chain);
    assert_int_equal(
        cm_pki_fetch_chain("no port", 1000, &chain, err, sizeof(err)),
        GW_EINVAL);
}

/* A server that answers garbage instead of a ServerHello. */
static void *garbage_run(void *arg)
{
    int *lfd = arg, fd = accept(*lfd, NULL, NULL);
    char buf[512];

    if (fd < 0)
        return NULL;
    (void)read(fd, buf, sizeof(buf));
    memset(buf, 'x', sizeof(buf));
    (void)write(fd, buf, sizeof(buf));
    close(fd);
    return NULL;
}

static void test_fetch_garbage(void **state)
{
    char addr[64], err[CM_ERR_LEN], *chain;
    int port, lfd = listen_any(&port);
    pthread_t th;

    assert_int_equal(pthread_create(&th, NULL, garbage_run, &lfd), 0);
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
    assert_int_equal(cm_pki_fetch_chain(addr, 5000, &chain, err, sizeof(err)),
                     GW_EPROTO);
    assert_null(chain);
    pthread_join(th, NULL);
    close(lfd);
}

static void test_renew_at(void **state)
{
    assert_int_equal(cm_pki_renew_at(1000, 1000 + 3 * 3600), 1000 + 2 * 3600);
    assert_int_equal(cm_pki_renew_at(0, 86400), 57600);
    assert_int_equal(cm_pki_renew_at(50, 10), 50);
}

static void test_target_arg_and_creds(void **state)
{
    struct fixture f;
    struct cm_pki_creds c = {NULL, NULL, NULL};
    grpc_channel_credentials *cc;
    grpc_arg arg;

    cm_pki_grpc_target_arg(&arg);
    assert_int_equal(arg.type, GRPC_ARG_STRING);
    assert_string_equal(arg.key, GRPC_SSL_TARGET_NAME_OVERRIDE_ARG);
    assert_string_equal(arg.value.string, CM_PKI_CONTROL_NAME);
    assert_null(cm_pki_grpc_creds(&c)); /* no CA */
    fixture_make(&f);
    grpc_init();
    c.ca = f.ca;
    cc = cm_pki_grpc_creds(&c);
    assert_non_null(cc);
    grpc_channel_credentials_release(cc);
    c.cert = f.cert;
    c.key = f.key;
    cc = cm_pki_grpc_creds(&c);
    assert_non_null(cc);
    grpc_channel_credentials_release(cc);
    grpc_shutdown();
    fixture_free(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fetch_chain_and_find),
        cmocka_unit_test(test_fetch_stalled_server_times_out),
        cmocka_unit_test(test_fetch_refused),
        cmocka_unit_test(test_fetch_garbage),
        cmocka_unit_test(test_renew_at),
        cmocka_unit_test(test_target_arg_and_creds),
        cmocka_unit_test(test_join_and_renew),
        cmocka_unit_test(test_join_control_gets_keys),
        cmocka_unit_test(test_join_refused),
        cmocka_unit_test(test_renew_refused),
        cmocka_unit_test(test_server_certs_replaced),
        cmocka_unit_test(test_peer_plain),
    };

    /* the TLS server thread may write to a client that has gone */
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
