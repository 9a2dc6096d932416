/*
 * tls_fuzz.c -- arbitrary bytes from a client into a server-side TLS
 * connection of the HTTP server (tls.c over memory BIOs), fed in two
 * pieces: what the handshake and reads do with them must stay in bounds.
 * The certificate is made once, at the first input.
 */
#include <stdint.h>
#include <stdlib.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "controlplane/http/http-int.h"

static char *pem(X509 *x, EVP_PKEY *k)
{
    BIO *b = BIO_new(BIO_s_mem());
    BUF_MEM *m;
    char *s;

    if (x != NULL)
        PEM_write_bio_X509(b, x);
    else
        PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL);
    BIO_get_mem_ptr(b, &m);
    s = strndup(m->data, m->length);
    BIO_free(b);
    return s;
}

static struct cp_http__tls_ctx *make_ctx(void)
{
    EVP_PKEY *k = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    struct cp_http__tls_ctx *ctx;
    char *c, *kp, err[CM_ERR_LEN];

    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                               (const unsigned char *)"localhost", -1, -1, 0);
    X509_set_issuer_name(x, X509_get_subject_name(x));
    X509_set_pubkey(x, k);
    X509_sign(x, k, EVP_sha256());
    c = pem(x, NULL);
    kp = pem(NULL, k);
    ctx = cp_http__tls_ctx_new(c, kp, err, sizeof(err));
    free(c);
    free(kp);
    X509_free(x);
    EVP_PKEY_free(k);
    if (ctx == NULL)
        abort();
    return ctx;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct cp_http__tls_ctx *ctx;
    struct cp_http__tls *t;
    char buf[4096];
    size_t half = size / 2;
    int r = 0;

    if (ctx == NULL)
        ctx = make_ctx();
    if ((t = cp_http__tls_new(ctx)) == NULL)
        return 0;
    if (cp_http__tls_feed(t, data, half) == 0)
        r = cp_http__tls_read(t, buf, sizeof(buf));
    while (cp_http__tls_out_take(t, buf, sizeof(buf)) > 0)
        ;
    if (r >= 0 && cp_http__tls_feed(t, data + half, size - half) == 0)
        while (cp_http__tls_read(t, buf, sizeof(buf)) > 0)
            ;
    (void)cp_http__tls_established(t);
    cp_http__tls_free(t);
    return 0;
}
