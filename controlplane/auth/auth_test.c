/*
 * auth_test.c -- cp_auth: password generation, hash strings (scrypt and
 * PBKDF2) and verification, malformed strings, the constant-time compare
 * (CRYPTO_memcmp is wrapped at link time and counted), session tokens,
 * credential digests and base64.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "common/err/err.h"
#include "controlplane/auth/auth.h"

/* ==== CRYPTO_memcmp, counted (-Wl,--wrap=CRYPTO_memcmp) ==== */

static int memcmp_calls;

int __real_CRYPTO_memcmp(const void *a, const void *b, size_t n);
int __wrap_CRYPTO_memcmp(const void *a, const void *b, size_t n);

int __wrap_CRYPTO_memcmp(const void *a, const void *b, size_t n)
{
    memcmp_calls++;
    return __real_CRYPTO_memcmp(a, b, n);
}

static const struct cp_auth_params fast = {
    .alg = CP_AUTH_SCRYPT, .log2_n = 10, .r = 8, .p = 1};

static void test_generate(void **state)
{
    char a[CP_AUTH_PASSWORD_LEN + 1], b[CP_AUTH_PASSWORD_LEN + 1];

    assert_int_equal(cp_auth_generate_password(a, sizeof(a)), 0);
    assert_int_equal(cp_auth_generate_password(b, sizeof(b)), 0);
    assert_int_equal(strlen(a), CP_AUTH_PASSWORD_LEN);
    assert_string_not_equal(a, b);
    for (size_t i = 0; a[i]; i++) {
        assert_non_null(strchr("ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuv"
                               "wxyz23456789",
                               a[i]));
    }
    assert_int_equal(cp_auth_generate_password(a, CP_AUTH_PASSWORD_LEN),
                     GW_EINVAL);
}

static void test_hash_verify_scrypt(void **state)
{
    char h[CP_AUTH_HASH_MAX], h2[CP_AUTH_HASH_MAX];
    struct cp_auth_hash p;

    assert_int_equal(cp_auth_hash("s3cret", &fast, h, sizeof(h)), 0);
    assert_memory_equal(h, "$scrypt$N=1024,r=8,p=1$", 23);
    assert_int_equal(cp_auth_parse(h, &p), 0);
    assert_int_equal(p.alg, CP_AUTH_SCRYPT);
    assert_int_equal(p.params.log2_n, 10);
    assert_int_equal(p.salt_len, CP_AUTH_SALT_LEN);
    assert_int_equal(p.dk_len, CP_AUTH_DK_LEN);
    assert_int_equal(cp_auth_verify("s3cret", h), 1);
    assert_int_equal(cp_auth_verify("s3cret ", h), 0);
    assert_int_equal(cp_auth_verify("", h), 0);
    /* a fresh salt each time */
    assert_int_equal(cp_auth_hash("s3cret", &fast, h2, sizeof(h2)), 0);
    assert_string_not_equal(h, h2);
    assert_int_equal(cp_auth_verify("s3cret", h2), 1);
}

static void test_default_params(void **state)
{
    char h[CP_AUTH_HASH_MAX];

    assert_int_equal(cp_auth_hash("pw", NULL, h, sizeof(h)), 0);
    assert_memory_equal(h, "$scrypt$N=32768,r=8,p=1$", 24);
    assert_int_equal(cp_auth_verify("pw", h), 1);
    assert_int_equal(cp_auth_verify("pW", h), 0);
}

static void test_pbkdf2(void **state)
{
    struct cp_auth_params pp = {.alg = CP_AUTH_PBKDF2_SHA256, .iter = 1000};
    char h[CP_AUTH_HASH_MAX];

    assert_int_equal(cp_auth_hash("pw", &pp, h, sizeof(h)), 0);
    assert_memory_equal(h, "$pbkdf2-sha256$i=1000$", 22);
    assert_int_equal(cp_auth_verify("pw", h), 1);
    assert_int_equal(cp_auth_verify("px", h), 0);
    pp.iter = 10;
    assert_int_equal(cp_auth_hash("pw", &pp, h, sizeof(h)), GW_EINVAL);
}

static void test_tampered(void **state)
{
    char h[CP_AUTH_HASH_MAX];
    char *dk;

    assert_int_equal(cp_auth_hash("pw", &fast, h, sizeof(h)), 0);
    dk = strrchr(h, '$') + 1;
    dk[0] = dk[0] == 'A' ? 'B' : 'A'; /* still valid base64 */
    assert_int_equal(cp_auth_verify("pw", h), 0);
}

static void test_malformed(void **state)
{
    static const char salt[] = "c2FsdHNhbHRzYWx0c2FsdA";
    static const char dk[] = "YWJjZGVmZ2hpamtsbW5vcGFiY2RlZmdoaWprbG1ub3A";
    char good[CP_AUTH_HASH_MAX], s[CP_AUTH_HASH_MAX * 2];
    struct cp_auth_hash p;
    const char *params[] = {"N=1000,r=8,p=1",    /* not a power of two */
                            "N=2097152,r=8,p=1", /* 2^21: above the bound */
                            "N=512,r=8,p=1",     /* below the bound */
                            "N=1024,r=0,p=1",
                            "N=1024,r=8,p=0",
                            "N=1024,r=99,p=1",
                            "N=01024,r=8,p=1", /* leading zero */
                            "N=1024,p=1,r=8",  /* order */
                            "N=1024,r=8",
                            "N=1024,r=8,p=1,x=2",
                            "N=,r=8,p=1",
                            "N=-1024,r=8,p=1",
                            "N=99999999999,r=8,p=1",
                            "N=1048576,r=32,p=16", /* 4 GiB */
                            NULL};
    const char *whole[] = {"",
                           "$",
                           "$scrypt$",
                           "scrypt$N=1024,r=8,p=1$c2FsdHNhbHRzYWx0c2FsdA$YWJj",
                           "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$YWJj",
                           "$pbkdf2-sha256$i=999$c2FsdHNhbHRzYWx0c2FsdA$"
                           "YWJjZGVmZ2hpamtsbW5vcGFiY2RlZmdoaWprbG1ub3A",
                           "$pbkdf2-sha256$i=$c2FsdHNhbHRzYWx0c2FsdA$YWJj",
                           NULL};

    snprintf(good, sizeof(good), "$scrypt$N=1024,r=8,p=1$%s$%s", salt, dk);
    assert_int_equal(cp_auth_parse(good, &p), 0);
    assert_int_equal(cp_auth_verify("x", good), 0);
    for (int i = 0; params[i]; i++) {
        snprintf(s, sizeof(s), "$scrypt$%s$%s$%s", params[i], salt, dk);
        assert_int_equal(cp_auth_parse(s, &p), GW_EINVAL);
        assert_int_equal(cp_auth_verify("x", s), GW_EINVAL);
    }
    for (int i = 0; whole[i]; i++)
        assert_int_equal(cp_auth_verify("x", whole[i]), GW_EINVAL);
    /* salt and key fields */
    const char *fields[][2] = {
        {"", dk},
        {salt, ""},
        {"c2FsdA", dk},                   /* 4-byte salt: too short */
        {salt, "YWJj"},                   /* 3-byte key: too short */
        {"c2FsdHNhbHRzYWx0c2FsdA==", dk}, /* padding */
        {"c2FsdHNh*HRzYWx0c2FsdA", dk},   /* not base64 */
        {"c2FsdHNhbHRzYWx0c2FsdB", dk},   /* non-canonical bits */
        {salt, "YWJjZGVmZ2hpamtsbW5vcGFiY2RlZmdoaWprbG1ub3A$"},
        {NULL, NULL}};
    for (int i = 0; fields[i][0]; i++) {
        snprintf(s, sizeof(s), "$scrypt$N=1024,r=8,p=1$%s$%s", fields[i][0],
                 fields[i][1]);
        assert_int_equal(cp_auth_verify("x", s), GW_EINVAL);
    }
    /* too long as a whole */
    memset(s, 'A', sizeof(s) - 1);
    s[sizeof(s) - 1] = '\0';
    memcpy(s, good, strlen(good));
    assert_int_equal(cp_auth_verify("x", s), GW_EINVAL);
    assert_int_equal(cp_auth_verify("x", NULL), GW_EINVAL);
    assert_int_equal(cp_auth_verify(NULL, good), GW_EINVAL);
}

static void test_constant_time_compare(void **state)
{
    char h[CP_AUTH_HASH_MAX], tok[CP_AUTH_TOKEN_MAX];

    assert_int_equal(cp_auth_hash("pw", &fast, h, sizeof(h)), 0);
    memcmp_calls = 0;
    assert_int_equal(cp_auth_verify("pw", h), 1);
    assert_int_equal(memcmp_calls, 1);
    assert_int_equal(cp_auth_verify("wrong", h), 0);
    assert_int_equal(memcmp_calls, 2);
    assert_int_equal(cp_auth_session_new(h, 1000, 60, tok, sizeof(tok)), 0);
    assert_int_equal(cp_auth_session_check(h, tok, 1000), 1);
    assert_int_equal(memcmp_calls, 3);
}

static void test_session(void **state)
{
    char h[CP_AUTH_HASH_MAX], h2[CP_AUTH_HASH_MAX], tok[CP_AUTH_TOKEN_MAX],
        t2[CP_AUTH_TOKEN_MAX];

    assert_int_equal(cp_auth_hash("pw", &fast, h, sizeof(h)), 0);
    assert_int_equal(cp_auth_hash("pw", &fast, h2, sizeof(h2)), 0);
    assert_int_equal(cp_auth_session_new(h, 1000, 60, tok, sizeof(tok)), 0);
    assert_memory_equal(tok, "v1.1060.", 8);
    assert_null(strpbrk(tok, ";, \"=+/"));
    assert_int_equal(cp_auth_session_check(h, tok, 1000), 1);
    assert_int_equal(cp_auth_session_check(h, tok, 1059), 1);
    assert_int_equal(cp_auth_session_check(h, tok, 1060), 0); /* expired */
    /* another hash (password reset) ends the session */
    assert_int_equal(cp_auth_session_check(h2, tok, 1000), 0);
    /* a later expiry with the old MAC */
    strcpy(t2, tok);
    t2[3] = '9';
    assert_int_equal(cp_auth_session_check(h, t2, 1000), 0);
    /* a flipped MAC character */
    strcpy(t2, tok);
    t2[strlen(t2) - 2] = t2[strlen(t2) - 2] == 'A' ? 'B' : 'A';
    assert_int_equal(cp_auth_session_check(h, t2, 1000), 0);
    assert_int_equal(cp_auth_session_check(h, "", 0), 0);
    assert_int_equal(cp_auth_session_check(h, "v1.", 0), 0);
    assert_int_equal(cp_auth_session_check(h, "v1.x.y.z", 0), 0);
    assert_int_equal(cp_auth_session_check(h, NULL, 0), 0);
    /* two tokens differ (nonce) */
    assert_int_equal(cp_auth_session_new(h, 1000, 60, t2, sizeof(t2)), 0);
    assert_string_not_equal(tok, t2);
    assert_int_equal(cp_auth_session_new(h, 1000, 0, t2, sizeof(t2)),
                     GW_EINVAL);
}

static void test_cred_digest(void **state)
{
    uint8_t a[32], b[32], c[32], d[32];

    assert_int_equal(cp_auth_cred_digest("$h1", "admin", "pw", a), 0);
    assert_int_equal(cp_auth_cred_digest("$h1", "admin", "pw", b), 0);
    assert_int_equal(cp_auth_cred_digest("$h1", "admin", "px", c), 0);
    assert_int_equal(cp_auth_cred_digest("$h2", "admin", "pw", d), 0);
    assert_memory_equal(a, b, 32);
    assert_memory_not_equal(a, c, 32);
    assert_memory_not_equal(a, d, 32);
    /* the user/password boundary matters */
    assert_int_equal(cp_auth_cred_digest("$h1", "adminp", "w", c), 0);
    assert_memory_not_equal(a, c, 32);
}

static void test_b64(void **state)
{
    char out[32];
    uint8_t bin[32];

    assert_int_equal(
        cp_auth_b64_encode((const uint8_t *)"foobar", 6, 0, out, sizeof(out)),
        8);
    assert_string_equal(out, "Zm9vYmFy");
    assert_int_equal(
        cp_auth_b64_encode((const uint8_t *)"fo", 2, 0, out, sizeof(out)), 3);
    assert_string_equal(out, "Zm8");
    assert_int_equal(
        cp_auth_b64_encode((const uint8_t *)"\xfb\xff", 2, 1, out, sizeof(out)),
        3);
    assert_string_equal(out, "-_8");
    assert_int_equal(cp_auth_b64_decode("-_8", 3, 1, bin, sizeof(bin)), 2);
    assert_memory_equal(bin, "\xfb\xff", 2);
    assert_int_equal(cp_auth_b64_decode("-_8", 3, 0, bin, sizeof(bin)),
                     GW_EINVAL);
    assert_int_equal(cp_auth_b64_decode("Zm9", 3, 0, bin, sizeof(bin)),
                     GW_EINVAL);
    assert_int_equal(cp_auth_b64_decode("Z", 1, 0, bin, sizeof(bin)),
                     GW_EINVAL);
    assert_int_equal(cp_auth_b64_decode("Zm9vYmFy", 8, 0, bin, 5), GW_ETOOBIG);
    assert_int_equal(
        cp_auth_b64_encode((const uint8_t *)"foobar", 6, 0, out, 8),
        GW_ETOOBIG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_generate),
        cmocka_unit_test(test_hash_verify_scrypt),
        cmocka_unit_test(test_default_params),
        cmocka_unit_test(test_pbkdf2),
        cmocka_unit_test(test_tampered),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_constant_time_compare),
        cmocka_unit_test(test_session),
        cmocka_unit_test(test_cred_digest),
        cmocka_unit_test(test_b64),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
