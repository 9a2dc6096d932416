/*
 * tlsctx.c -- the TLS settings both planes share: versions and suites,
 * server options, the write over memory BIOs (tlsctx.h).
 */
#include <openssl/err.h>

#include "common/err/err.h"
#include "common/tlsctx/tlsctx.h"

int cm_tlsctx_protocols(SSL_CTX *ctx, int min, int max, const char *ciphers)
{
    SSL_CTX_set_min_proto_version(ctx, min);
    SSL_CTX_set_max_proto_version(ctx, max);
    return SSL_CTX_set_cipher_list(ctx,
                                   ciphers ? ciphers : CM_TLSCTX_CIPHERS_12);
}

void cm_tlsctx_server_options(SSL_CTX *ctx)
{
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE |
                                 SSL_OP_NO_COMPRESSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
}

int cm_tlsctx_write(SSL *ssl, const void *p, size_t n)
{
    size_t w = 0;

    if (n == 0)
        return GW_OK;
    ERR_clear_error();
    if (SSL_write_ex(ssl, p, n, &w) != 1 || w != n) {
        ERR_clear_error();
        return GW_EPROTO;
    }
    return GW_OK;
}
