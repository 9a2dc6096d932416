/*
 * pki_grpc_test.c -- tests of common/pki's gRPC side that need no gRPC
 * server: fetching a chain from a real TLS server (an OpenSSL server on a
 * thread, 127.0.0.1, port 0) and finding the CA in it; a port that accepts
 * but never answers costs no more than the timeout; renewal times.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include "common/pki/pki.h"
#include "common/pki/pki_grpc.h"

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
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
