/*
 * tlsctx.h -- the TLS settings the control node's HTTPS and the data
 * plane's listeners share (OpenSSL 3): protocol versions and TLS 1.2
 * suites, the server options, and the write of a connection over memory
 * BIOs. Stateless; any thread.
 */
#ifndef CM_TLSCTX_H
#define CM_TLSCTX_H

#include <stddef.h>

#include <openssl/ssl.h>

/* The TLS 1.2 suites offered by default: ECDHE key exchange, AEAD only
 * (1.3's are all AEAD). */
#define CM_TLSCTX_CIPHERS_12                                                   \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"               \
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"               \
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

/* Protocol versions <min>..<max> (TLS1_2_VERSION, ...) and the TLS 1.2
 * suites <ciphers> (NULL: CM_TLSCTX_CIPHERS_12) on <ctx>. Returns 1, or 0
 * when OpenSSL refuses the list (its error queue says why). */
int cm_tlsctx_protocols(SSL_CTX *ctx, int min, int max, const char *ciphers);

/* A server context's options: no renegotiation, the server's cipher
 * order, no compression, buffers released while idle. */
void cm_tlsctx_server_options(SSL_CTX *ctx);

/* Writes all of <p> on <ssl> (memory BIOs take it all at once): GW_OK, or
 * GW_EPROTO with the error queue cleared. */
int cm_tlsctx_write(SSL *ssl, const void *p, size_t n);

#endif
