/*
 * tls.c -- HTTPS for the control node's HTTP server with OpenSSL 3: the
 * server context (one certificate chain and key, TLS 1.2-1.3, ECDHE+AEAD,
 * ALPN http/1.1) and connections over memory BIOs, so that server.c keeps
 * its libuv sockets and feeds ciphertext in and takes ciphertext out. No
 * socket I/O here. Runs on the server's loop.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "common/tlsctx/tlsctx.h"
#include "controlplane/http/http-int.h"

#define PEM_MAX (1 << 20) /* largest chain or key accepted */

static const unsigned char alpn_h1[] = "\x08http/1.1";

struct cp_http__tls_ctx {
    SSL_CTX *ctx; /* one reference; each SSL holds its own */
};

struct cp_http__tls {
    SSL *ssl;
    BIO *rbio, *wbio; /* owned by ssl */
};

/* ==== the context ==== */

static int ssl_fail(char *err, size_t len, const char *what)
{
    char buf[256] = "unknown error";
    unsigned long e = ERR_peek_last_error();

    if (e != 0)
        ERR_error_string_n(e, buf, sizeof(buf));
    ERR_clear_error();
    return cm_err_set(err, len, GW_EINVAL, "https %s: %s", what, buf);
}

static int alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                   const unsigned char *in, unsigned int inlen, void *arg)
{
    unsigned char *o;

    (void)ssl;
    (void)arg;
    if (SSL_select_next_proto(&o, outlen, alpn_h1, sizeof(alpn_h1) - 1, in,
                              inlen) != OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK; /* go on without ALPN */
    *out = o;
    return SSL_TLSEXT_ERR_OK;
}

/* The chain of <pem> on <ctx>: leaf, then the others as chain certs. */
static int use_chain(SSL_CTX *ctx, const char *pem, char *err, size_t len)
{
    BIO *b = BIO_new_mem_buf(pem, -1);
    X509 *x;
    int n = 0, rc = GW_OK;

    if (b == NULL)
        return cm_err_set(err, len, GW_ENOMEM, "out of memory");
    while (rc == GW_OK &&
           (x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
        int ok = n == 0 ? SSL_CTX_use_certificate(ctx, x)
                        : SSL_CTX_add1_chain_cert(ctx, x);
        if (ok != 1)
            rc = ssl_fail(err, len, "certificate");
        X509_free(x);
        n++;
    }
    ERR_clear_error();
    BIO_free(b);
    if (rc == GW_OK && n == 0)
        rc = cm_err_set(err, len, GW_EINVAL,
                        "https certificate: no PEM certificate found");
    return rc;
}

static int use_key(SSL_CTX *ctx, const char *pem, char *err, size_t len)
{
    BIO *b = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *k;
    int rc;

    if (b == NULL)
        return cm_err_set(err, len, GW_ENOMEM, "out of memory");
    k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
    BIO_free(b);
    if (k == NULL)
        return ssl_fail(err, len, "key");
    rc = SSL_CTX_use_PrivateKey(ctx, k) == 1 &&
                 SSL_CTX_check_private_key(ctx) == 1
             ? GW_OK
             : ssl_fail(err, len, "key does not match the certificate");
    EVP_PKEY_free(k);
    return rc;
}

static void ctx_settings(SSL_CTX *ctx)
{
    cm_tlsctx_server_options(ctx);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    SSL_CTX_set_alpn_select_cb(ctx, alpn_cb, NULL);
}

struct cp_http__tls_ctx *cp_http__tls_ctx_new(const char *chain_pem,
                                              const char *key_pem, char *err,
                                              size_t len)
{
    struct cp_http__tls_ctx *x;

    if (chain_pem == NULL || key_pem == NULL ||
        strnlen(chain_pem, PEM_MAX + 1) > PEM_MAX ||
        strnlen(key_pem, PEM_MAX + 1) > PEM_MAX) {
        cm_err_set(err, len, GW_EINVAL,
                   "https: a certificate and a key of at most 1 MiB");
        return NULL;
    }
    if ((x = calloc(1, sizeof(*x))) == NULL ||
        (x->ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
        free(x);
        cm_err_set(err, len, GW_ENOMEM, "out of memory");
        return NULL;
    }
    ctx_settings(x->ctx);
    if (cm_tlsctx_protocols(x->ctx, TLS1_2_VERSION, TLS1_3_VERSION, NULL) !=
        1) {
        ssl_fail(err, len, "ciphers");
        goto fail;
    }
    if (use_chain(x->ctx, chain_pem, err, len) != GW_OK ||
        use_key(x->ctx, key_pem, err, len) != GW_OK)
        goto fail;
    return x;
fail:
    cp_http__tls_ctx_free(x);
    return NULL;
}

void cp_http__tls_ctx_free(struct cp_http__tls_ctx *x)
{
    if (x == NULL)
        return;
    SSL_CTX_free(x->ctx);
    free(x);
}

/* ==== connections ==== */

struct cp_http__tls *cp_http__tls_new(struct cp_http__tls_ctx *x)
{
    struct cp_http__tls *t = calloc(1, sizeof(*t));

    if (t == NULL)
        return NULL;
    t->ssl = SSL_new(x->ctx);
    t->rbio = BIO_new(BIO_s_mem());
    t->wbio = BIO_new(BIO_s_mem());
    if (t->ssl == NULL || t->rbio == NULL || t->wbio == NULL) {
        SSL_free(t->ssl);
        BIO_free(t->rbio);
        BIO_free(t->wbio);
        free(t);
        return NULL;
    }
    BIO_set_mem_eof_return(t->rbio, -1); /* empty: "retry", not EOF */
    SSL_set_bio(t->ssl, t->rbio, t->wbio);
    SSL_set_accept_state(t->ssl);
    return t;
}

void cp_http__tls_free(struct cp_http__tls *t)
{
    if (t == NULL)
        return;
    SSL_free(t->ssl);
    free(t);
}

int cp_http__tls_feed(struct cp_http__tls *t, const void *p, size_t n)
{
    if (n > 0 && BIO_write(t->rbio, p, (int)n) != (int)n)
        return GW_ENOMEM;
    return GW_OK;
}

int cp_http__tls_read(struct cp_http__tls *t, void *out, size_t cap)
{
    size_t n = 0;
    int r;

    ERR_clear_error();
    r = SSL_read_ex(t->ssl, out, cap, &n);
    if (r == 1)
        return (int)n;
    switch (SSL_get_error(t->ssl, r)) {
    case SSL_ERROR_WANT_READ:
        return 0;
    case SSL_ERROR_ZERO_RETURN:
        return CP_HTTP__TLS_CLOSED;
    default:
        ERR_clear_error();
        return GW_EPROTO;
    }
}

int cp_http__tls_write(struct cp_http__tls *t, const void *p, size_t n)
{
    return cm_tlsctx_write(t->ssl, p, n);
}

size_t cp_http__tls_out_len(const struct cp_http__tls *t)
{
    return BIO_ctrl_pending(t->wbio);
}

size_t cp_http__tls_out_take(struct cp_http__tls *t, void *out, size_t cap)
{
    int n = BIO_read(t->wbio, out, (int)cap);

    return n > 0 ? (size_t)n : 0;
}

bool cp_http__tls_established(const struct cp_http__tls *t)
{
    return SSL_is_init_finished(t->ssl) == 1;
}
