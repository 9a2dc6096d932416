/*
 * tlsctx_test.c -- versions, suites and options land on the context; a
 * write before any handshake fails cleanly.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <openssl/err.h>

#include "common/err/err.h"
#include "common/tlsctx/tlsctx.h"

static void test_protocols(void **state)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

    (void)state;
    assert_int_equal(
        cm_tlsctx_protocols(ctx, TLS1_2_VERSION, TLS1_3_VERSION, NULL), 1);
    assert_int_equal(SSL_CTX_get_min_proto_version(ctx), TLS1_2_VERSION);
    assert_int_equal(SSL_CTX_get_max_proto_version(ctx), TLS1_3_VERSION);
    assert_int_equal(cm_tlsctx_protocols(ctx, TLS1_3_VERSION, TLS1_3_VERSION,
                                         "ECDHE-RSA-AES128-GCM-SHA256"),
                     1);
    assert_int_equal(SSL_CTX_get_min_proto_version(ctx), TLS1_3_VERSION);
    assert_int_equal(cm_tlsctx_protocols(ctx, TLS1_2_VERSION, TLS1_3_VERSION,
                                         "NO-SUCH-SUITE"),
                     0);
    ERR_clear_error();
    SSL_CTX_free(ctx);
}

static void test_default_suites(void **state)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    STACK_OF(SSL_CIPHER) * sk;
    int cbc = 0;

    (void)state;
    assert_int_equal(
        cm_tlsctx_protocols(ctx, TLS1_2_VERSION, TLS1_3_VERSION, NULL), 1);
    sk = SSL_CTX_get_ciphers(ctx);
    for (int i = 0; i < sk_SSL_CIPHER_num(sk); i++)
        if (!SSL_CIPHER_is_aead(sk_SSL_CIPHER_value(sk, i)))
            cbc++;
    assert_int_equal(cbc, 0);
    SSL_CTX_free(ctx);
}

static void test_server_options(void **state)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    uint64_t want = SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                    SSL_OP_NO_COMPRESSION;

    (void)state;
    assert_int_not_equal(SSL_CTX_get_options(ctx) & want, want);
    cm_tlsctx_server_options(ctx);
    assert_int_equal(SSL_CTX_get_options(ctx) & want, want);
    assert_true(SSL_CTX_get_mode(ctx) & SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_free(ctx);
}

static void test_write_before_handshake(void **state)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    SSL *ssl = SSL_new(ctx);

    (void)state;
    SSL_set_bio(ssl, BIO_new(BIO_s_mem()), BIO_new(BIO_s_mem()));
    SSL_set_accept_state(ssl);
    assert_int_equal(cm_tlsctx_write(ssl, "", 0), GW_OK);
    assert_int_equal(cm_tlsctx_write(ssl, "abc", 3), GW_EPROTO);
    assert_int_equal(ERR_peek_error(), 0);
    SSL_free(ssl);
    SSL_CTX_free(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_protocols),
        cmocka_unit_test(test_default_suites),
        cmocka_unit_test(test_server_options),
        cmocka_unit_test(test_write_before_handshake),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
