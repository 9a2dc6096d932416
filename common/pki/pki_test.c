/*
 * pki_test.c -- unit tests of common/pki (no network): CA and issuing,
 * reading and verifying certificates, CSR checks, fingerprints, sealing,
 * tokens, bundles and files.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/pki/pki.h"

/* The time the tests pretend it is: the CAs are made at the real time. */
static int64_t now0;
#define NOW now0

struct pair {
    char *cert, *key;
};

static void pair_free(struct pair *p)
{
    free(p->cert);
    free(p->key);
}

static struct pair make_ca(const char *name)
{
    struct pair p;
    char err[CM_ERR_LEN];

    assert_int_equal(cm_pki_ca_new(name, &p.cert, &p.key, err, sizeof(err)),
                     GW_OK);
    return p;
}

/* A certificate for a new key, issued by <ca>. */
static struct pair make_leaf(const struct pair *ca, enum cm_pki_role role,
                             const char *id, int64_t now, int64_t ttl)
{
    static const char *const dns[] = {CM_PKI_CONTROL_NAME, "localhost"};
    static const char *const ips[] = {"127.0.0.1", "::1"};
    struct cm_pki_issue in = {role, id, dns, 2, ips, 2, now, ttl};
    char err[CM_ERR_LEN], *csr;
    struct pair p;

    assert_int_equal(cm_pki_key_new(&p.key, err, sizeof(err)), GW_OK);
    assert_int_equal(cm_pki_csr_new(p.key, "ignored", &csr, err, sizeof(err)),
                     GW_OK);
    assert_int_equal(
        cm_pki_issue(ca->cert, ca->key, csr, &in, &p.cert, err, sizeof(err)),
        GW_OK);
    free(csr);
    return p;
}

/* ==== roles ==== */

static void test_roles(void **state)
{
    enum cm_pki_role r;

    assert_string_equal(cm_pki_role_name(CM_PKI_ROLE_CONTROL), "control");
    assert_string_equal(cm_pki_role_name(CM_PKI_ROLE_DATA), "data");
    assert_string_equal(cm_pki_role_name(CM_PKI_ROLE_ADMIN), "admin");
    assert_string_equal(cm_pki_role_name(CM_PKI_ROLE_NONE), "none");
    assert_string_equal(cm_pki_role_name((enum cm_pki_role)9), "none");
    assert_int_equal(cm_pki_role_parse("data", &r), GW_OK);
    assert_int_equal(r, CM_PKI_ROLE_DATA);
    assert_int_equal(cm_pki_role_parse("none", &r), GW_EINVAL);
    assert_int_equal(cm_pki_role_parse("Data", &r), GW_EINVAL);
}

/* ==== CA, issuing, info, verify ==== */

static void test_ca_is_ca(void **state)
{
    struct pair ca = make_ca("test");
    struct cm_pki_cert_info info;
    char err[CM_ERR_LEN];

    assert_non_null(strstr(ca.cert, "BEGIN CERTIFICATE"));
    assert_non_null(strstr(ca.key, "BEGIN PRIVATE KEY"));
    assert_true(cm_pki_key_matches(ca.cert, ca.key));
    assert_int_equal(cm_pki_cert_info(ca.cert, &info, err, sizeof(err)), GW_OK);
    assert_string_equal(info.id, "traefikee cluster CA test");
    assert_int_equal(info.role, CM_PKI_ROLE_NONE);
    assert_true(info.not_after - info.not_before > 9LL * 365 * 24 * 3600);
    /* a CA is not accepted as a node's certificate */
    assert_int_equal(
        cm_pki_verify(ca.cert, ca.cert, time(NULL), err, sizeof(err)),
        GW_EINVAL);
    pair_free(&ca);
}

static void test_issue_info_roundtrip(void **state)
{
    struct pair ca = make_ca("c1");
    struct pair leaf = make_leaf(&ca, CM_PKI_ROLE_CONTROL, "node-1", NOW, 3600);
    struct pair other = make_leaf(&ca, CM_PKI_ROLE_DATA, "node-1", NOW, 3600);
    struct cm_pki_cert_info info, info2;
    char err[CM_ERR_LEN];

    assert_int_equal(cm_pki_cert_info(leaf.cert, &info, err, sizeof(err)),
                     GW_OK);
    assert_int_equal(info.role, CM_PKI_ROLE_CONTROL);
    assert_string_equal(info.id, "node-1");
    assert_int_equal(info.not_before, NOW - 60);
    assert_int_equal(info.not_after, NOW + 3600);
    assert_int_equal(strlen(info.serial), 32);
    assert_int_equal(cm_pki_cert_info(other.cert, &info2, err, sizeof(err)),
                     GW_OK);
    assert_int_equal(info2.role, CM_PKI_ROLE_DATA);
    assert_string_not_equal(info.serial, info2.serial);
    assert_true(cm_pki_key_matches(leaf.cert, leaf.key));
    assert_false(cm_pki_key_matches(leaf.cert, other.key));
    assert_false(cm_pki_key_matches(leaf.cert, ca.key));
    assert_false(cm_pki_key_matches("garbage", leaf.key));
    pair_free(&leaf);
    pair_free(&other);
    pair_free(&ca);
}

static void test_issue_long_id(void **state)
{
    struct pair ca = make_ca("c1");
    struct cm_pki_cert_info info;
    char id[CM_PKI_ID_MAX], err[CM_ERR_LEN];
    struct pair leaf;

    memset(id, 'n', sizeof(id) - 1);
    id[sizeof(id) - 1] = '\0';
    leaf = make_leaf(&ca, CM_PKI_ROLE_DATA, id, NOW, 60);
    assert_int_equal(cm_pki_cert_info(leaf.cert, &info, err, sizeof(err)),
                     GW_OK);
    assert_string_equal(info.id, id);
    pair_free(&leaf);
    pair_free(&ca);
}

static void test_issue_refuses_bad_input(void **state)
{
    struct pair ca = make_ca("c1"), ca2 = make_ca("c2");
    struct cm_pki_issue in = {CM_PKI_ROLE_DATA, "n", NULL, 0, NULL, 0, NOW, 60};
    const char *bad_ip[] = {"300.1.1.1"};
    char err[CM_ERR_LEN], *key, *csr, *cert = (char *)"x";

    assert_int_equal(cm_pki_key_new(&key, err, sizeof(err)), GW_OK);
    assert_int_equal(cm_pki_csr_new(key, "n", &csr, err, sizeof(err)), GW_OK);
    in.role = CM_PKI_ROLE_NONE;
    assert_int_equal(
        cm_pki_issue(ca.cert, ca.key, csr, &in, &cert, err, sizeof(err)),
        GW_EINVAL);
    assert_null(cert);
    in.role = CM_PKI_ROLE_DATA;
    in.id = "has space";
    assert_int_equal(
        cm_pki_issue(ca.cert, ca.key, csr, &in, &cert, err, sizeof(err)),
        GW_EINVAL);
    in.id = "n";
    in.ttl_s = 0;
    assert_int_equal(
        cm_pki_issue(ca.cert, ca.key, csr, &in, &cert, err, sizeof(err)),
        GW_EINVAL);
    in.ttl_s = 60;
    in.ips = bad_ip;
    in.n_ips = 1;
    assert_int_equal(
        cm_pki_issue(ca.cert, ca.key, csr, &in, &cert, err, sizeof(err)),
        GW_EINVAL);
    assert_non_null(strstr(err, "300.1.1.1"));
    in.n_ips = 0;
    /* the CA key of another CA */
    assert_int_equal(
        cm_pki_issue(ca.cert, ca2.key, csr, &in, &cert, err, sizeof(err)),
        GW_EINVAL);
    assert_int_equal(
        cm_pki_issue(ca.cert, ca.key, csr, &in, &cert, err, sizeof(err)),
        GW_OK);
    free(cert);
    free(csr);
    free(key);
    pair_free(&ca);
    pair_free(&ca2);
}

/* Flips one base64 character inside the CSR's signature (near the end). */
static void corrupt_csr(char *csr)
{
    char *end = strstr(csr, "-----END");
    char *p = end - 8;

    while (*p == '\n' || *p == '=')
        p--;
    *p = *p == 'A' ? 'B' : 'A';
}

static void test_csr_bad_signature_refused(void **state)
{
    struct pair ca = make_ca("c1");
    struct cm_pki_issue in = {CM_PKI_ROLE_DATA, "n", NULL, 0, NULL, 0, NOW, 60};
    char err[CM_ERR_LEN], *key, *csr, *cert;

    assert_int_equal(cm_pki_key_new(&key, err, sizeof(err)), GW_OK);
    assert_int_equal(cm_pki_csr_new(key, "n", &csr, err, sizeof(err)), GW_OK);
    corrupt_csr(csr);
    assert_int_equal(
        cm_pki_issue(ca.cert, ca.key, csr, &in, &cert, err, sizeof(err)),
        GW_EINVAL);
    assert_null(cert);
    assert_int_equal(cm_pki_issue(ca.cert, ca.key, "not a csr", &in, &cert, err,
                                  sizeof(err)),
                     GW_EINVAL);
    free(csr);
    free(key);
    pair_free(&ca);
}

static void test_verify(void **state)
{
    struct pair ca = make_ca("c1"), ca2 = make_ca("c2");
    struct pair leaf = make_leaf(&ca, CM_PKI_ROLE_DATA, "d1", NOW, 3600);
    char err[CM_ERR_LEN];

    assert_int_equal(cm_pki_verify(ca.cert, leaf.cert, NOW, err, sizeof(err)),
                     GW_OK);
    assert_int_equal(
        cm_pki_verify(ca.cert, leaf.cert, NOW + 3599, err, sizeof(err)), GW_OK);
    /* another CA (same name even) */
    assert_int_equal(cm_pki_verify(ca2.cert, leaf.cert, NOW, err, sizeof(err)),
                     GW_EINVAL);
    assert_non_null(strstr(err, "certificate"));
    /* expired, and not yet valid */
    assert_int_equal(
        cm_pki_verify(ca.cert, leaf.cert, NOW + 3601, err, sizeof(err)),
        GW_EINVAL);
    assert_non_null(strstr(err, "expired"));
    assert_int_equal(
        cm_pki_verify(ca.cert, leaf.cert, NOW - 120, err, sizeof(err)),
        GW_EINVAL);
    assert_int_equal(cm_pki_verify(ca.cert, "junk", NOW, err, sizeof(err)),
                     GW_EINVAL);
    pair_free(&leaf);
    pair_free(&ca);
    pair_free(&ca2);
}

static void test_verify_expired_now(void **state)
{
    struct pair ca = make_ca("c1");
    int64_t past = (int64_t)time(NULL) - 7200;
    struct pair old = make_leaf(&ca, CM_PKI_ROLE_DATA, "d1", past, 3600);
    struct pair cur = make_leaf(&ca, CM_PKI_ROLE_DATA, "d1", time(NULL), 3600);
    char err[CM_ERR_LEN];

    assert_int_equal(
        cm_pki_verify(ca.cert, old.cert, time(NULL), err, sizeof(err)),
        GW_EINVAL);
    assert_int_equal(
        cm_pki_verify(ca.cert, cur.cert, time(NULL), err, sizeof(err)), GW_OK);
    pair_free(&old);
    pair_free(&cur);
    pair_free(&ca);
}

static bool all_hex(const char *s)
{
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
            return false;
    return true;
}

static void test_fingerprint(void **state)
{
    struct pair ca = make_ca("c1"), ca2 = make_ca("c1");
    char a[CM_PKI_FP_HEX], b[CM_PKI_FP_HEX], c[CM_PKI_FP_HEX], err[CM_ERR_LEN];

    assert_int_equal(cm_pki_fingerprint(ca.cert, a, err, sizeof(err)), GW_OK);
    assert_int_equal(cm_pki_fingerprint(ca.cert, b, err, sizeof(err)), GW_OK);
    assert_int_equal(cm_pki_fingerprint(ca2.cert, c, err, sizeof(err)), GW_OK);
    assert_int_equal(strlen(a), 64);
    assert_true(all_hex(a));
    assert_string_equal(a, b);
    assert_string_not_equal(a, c);
    assert_int_equal(cm_pki_fingerprint("nope", a, err, sizeof(err)),
                     GW_EINVAL);
    pair_free(&ca);
    pair_free(&ca2);
}

/* ==== sealing ==== */

static void test_cluster_key(void **state)
{
    char k[CM_PKI_KEY_HEX], k2[CM_PKI_KEY_HEX], buf[80];

    assert_int_equal(cm_pki_cluster_key_new(k), GW_OK);
    assert_int_equal(cm_pki_cluster_key_new(k2), GW_OK);
    assert_int_equal(strlen(k), 64);
    assert_true(all_hex(k));
    assert_string_not_equal(k, k2);
    assert_true(cm_pki_cluster_key_valid(k));
    snprintf(buf, sizeof(buf), "  %s\n", k);
    assert_true(cm_pki_cluster_key_valid(buf));
    k[63] = '\0';
    assert_false(cm_pki_cluster_key_valid(k));
    k[63] = 'g';
    assert_false(cm_pki_cluster_key_valid(k));
    assert_false(cm_pki_cluster_key_valid(NULL));
}

static void test_seal_open(void **state)
{
    char k[CM_PKI_KEY_HEX], k2[CM_PKI_KEY_HEX], err[CM_ERR_LEN];
    const char *msg = "-----BEGIN PRIVATE KEY-----\nsecret\n";
    char *sealed, *sealed2, *out;
    size_t n;

    assert_int_equal(cm_pki_cluster_key_new(k), GW_OK);
    assert_int_equal(cm_pki_cluster_key_new(k2), GW_OK);
    assert_int_equal(
        cm_pki_seal(k, msg, strlen(msg), &sealed, err, sizeof(err)), GW_OK);
    assert_int_equal(strncmp(sealed, "v1:", 3), 0);
    assert_null(strstr(sealed, "secret"));
    assert_int_equal(
        cm_pki_seal(k, msg, strlen(msg), &sealed2, err, sizeof(err)), GW_OK);
    assert_string_not_equal(sealed, sealed2); /* fresh nonce */
    assert_int_equal(cm_pki_open(k, sealed, &out, &n, err, sizeof(err)), GW_OK);
    assert_int_equal(n, strlen(msg));
    assert_string_equal(out, msg);
    free(out);
    /* wrong key */
    assert_int_equal(cm_pki_open(k2, sealed, &out, &n, err, sizeof(err)),
                     GW_EINVAL);
    assert_null(out);
    assert_string_equal(err, "wrong cluster key or corrupted data");
    free(sealed);
    free(sealed2);
}

static void test_open_tampered(void **state)
{
    char k[CM_PKI_KEY_HEX], err[CM_ERR_LEN], *sealed, *out;
    size_t n, i, l;

    assert_int_equal(cm_pki_cluster_key_new(k), GW_OK);
    assert_int_equal(cm_pki_seal(k, "hello", 5, &sealed, err, sizeof(err)),
                     GW_OK);
    l = strlen(sealed);
    /* every position of the base64 text, flipped */
    for (i = 3; i < l; i++) {
        char c = sealed[i];

        if (c == '=')
            continue;
        sealed[i] = c == 'A' ? 'B' : 'A';
        assert_int_equal(cm_pki_open(k, sealed, &out, &n, err, sizeof(err)),
                         GW_EINVAL);
        sealed[i] = c;
    }
    assert_int_equal(cm_pki_open(k, sealed, &out, &n, err, sizeof(err)), GW_OK);
    free(out);
    /* truncated, no prefix, bad base64 */
    sealed[l - 4] = '\0';
    assert_int_equal(cm_pki_open(k, sealed, &out, &n, err, sizeof(err)),
                     GW_EINVAL);
    assert_int_equal(cm_pki_open(k, sealed + 3, &out, &n, err, sizeof(err)),
                     GW_EINVAL);
    assert_int_equal(cm_pki_open(k, "v1:!!!!", &out, &n, err, sizeof(err)),
                     GW_EINVAL);
    assert_int_equal(cm_pki_open(k, "v1:", &out, &n, err, sizeof(err)),
                     GW_EINVAL);
    assert_int_equal(
        cm_pki_open("short", "v1:AAAA", &out, &n, err, sizeof(err)), GW_EINVAL);
    free(sealed);
}

static void test_seal_empty_and_binary(void **state)
{
    const unsigned char bin[] = {0, 1, 2, 0xff, 0};
    char k[CM_PKI_KEY_HEX], err[CM_ERR_LEN], *sealed, *out;
    size_t n;

    assert_int_equal(cm_pki_cluster_key_new(k), GW_OK);
    assert_int_equal(cm_pki_seal(k, "", 0, &sealed, err, sizeof(err)), GW_OK);
    assert_int_equal(cm_pki_open(k, sealed, &out, &n, err, sizeof(err)), GW_OK);
    assert_int_equal(n, 0);
    assert_string_equal(out, "");
    free(out);
    free(sealed);
    assert_int_equal(
        cm_pki_seal(k, bin, sizeof(bin), &sealed, err, sizeof(err)), GW_OK);
    assert_int_equal(cm_pki_open(k, sealed, &out, &n, err, sizeof(err)), GW_OK);
    assert_int_equal(n, sizeof(bin));
    assert_memory_equal(out, bin, sizeof(bin));
    free(out);
    free(sealed);
}

/* ==== tokens ==== */

#define FP "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void test_token_roundtrip(void **state)
{
    struct cm_pki_token t, u;
    char text[CM_PKI_TOKEN_MAX], err[CM_ERR_LEN], spaced[CM_PKI_TOKEN_MAX + 4];

    assert_int_equal(cm_pki_token_new(CM_PKI_ROLE_CONTROL, FP, &t), GW_OK);
    assert_int_equal(strlen(t.secret), 32);
    assert_true(all_hex(t.secret));
    assert_int_equal(cm_pki_token_format(&t, text, sizeof(text)), GW_OK);
    assert_int_equal(strncmp(text, "TKE1.control.", 13), 0);
    assert_int_equal(strlen(text), 13 + 32 + 1 + 64);
    assert_non_null(strstr(text, FP));
    snprintf(spaced, sizeof(spaced), " %s\n", text);
    assert_int_equal(cm_pki_token_parse(spaced, &u, err, sizeof(err)), GW_OK);
    assert_int_equal(u.role, CM_PKI_ROLE_CONTROL);
    assert_string_equal(u.secret, t.secret);
    assert_string_equal(u.ca_fp, FP);
    assert_int_equal(cm_pki_token_new(CM_PKI_ROLE_DATA, FP, &u), GW_OK);
    assert_string_not_equal(u.secret, t.secret);
    assert_int_equal(cm_pki_token_format(&u, text, sizeof(text)), GW_OK);
    assert_int_equal(strncmp(text, "TKE1.data.", 10), 0);
    /* too small a buffer */
    assert_int_equal(cm_pki_token_format(&u, text, 20), GW_ETOOBIG);
    /* refused roles and fingerprints */
    assert_int_equal(cm_pki_token_new(CM_PKI_ROLE_ADMIN, FP, &u), GW_EINVAL);
    assert_int_equal(cm_pki_token_new(CM_PKI_ROLE_DATA, "abc", &u), GW_EINVAL);
}

static void test_token_parse_rejects(void **state)
{
    static const char *const bad[] = {
        "",
        "TKE1",
        "TKE2.data.0123456789abcdef0123456789abcdef." FP,
        "TKE1.admin.0123456789abcdef0123456789abcdef." FP,
        "TKE1.none.0123456789abcdef0123456789abcdef." FP,
        "TKE1.data.0123456789abcdef0123456789abcde." FP,
        "TKE1.data.0123456789abcdef0123456789abcdeg." FP,
        "TKE1.data.0123456789abcdef0123456789abcdef." FP "0",
        "TKE1.data.0123456789abcdef0123456789abcdef." FP ".",
        "TKE1.data.0123456789abcdef0123456789abcdef.",
        "TKE1.data.0123456789abcdef0123456789abcdef",
        "TKE1..0123456789abcdef0123456789abcdef." FP,
        "TKE1.data.0123456789abcdef0123456789abcdef.." FP,
        "TKE1.data 0123456789abcdef0123456789abcdef." FP,
        "xTKE1.data.0123456789abcdef0123456789abcdef." FP,
    };
    struct cm_pki_token t;
    char err[CM_ERR_LEN];
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        if (cm_pki_token_parse(bad[i], &t, err, sizeof(err)) != GW_EINVAL)
            fail_msg("accepted \"%s\"", bad[i]);
        assert_true(err[0] != '\0');
    }
    assert_int_equal(
        cm_pki_token_parse("TKE1.data.0123456789ABCDEF0123456789abcdef." FP, &t,
                           err, sizeof(err)),
        GW_OK);
    assert_string_equal(t.secret, "0123456789abcdef0123456789abcdef");
}

static void test_token_hash_equal(void **state)
{
    char h[CM_PKI_FP_HEX], h2[CM_PKI_FP_HEX];

    /* SHA-256("abc") */
    cm_pki_token_hash("abc", h);
    assert_string_equal(
        h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    cm_pki_token_hash("abd", h2);
    assert_true(cm_pki_equal(h, h));
    assert_false(cm_pki_equal(h, h2));
    assert_false(cm_pki_equal("abc", "abcd"));
    assert_false(cm_pki_equal("abc", NULL));
    assert_true(cm_pki_equal("", ""));
}

/* ==== bundles and files ==== */

static void test_creds_roundtrip(void **state)
{
    struct pair ca = make_ca("c1");
    struct pair leaf = make_leaf(&ca, CM_PKI_ROLE_ADMIN, "admin", NOW, 60);
    struct cm_pki_creds c = {ca.cert, leaf.cert, leaf.key}, d, e;
    char err[CM_ERR_LEN], *text, *mixed;
    size_t n;

    assert_int_equal(cm_pki_creds_format(&c, &text), GW_OK);
    assert_int_equal(cm_pki_creds_parse(text, &d, err, sizeof(err)), GW_OK);
    assert_string_equal(d.ca, ca.cert);
    assert_string_equal(d.cert, leaf.cert);
    assert_true(cm_pki_key_matches(d.cert, d.key));
    /* any order, with text around */
    n = strlen(text) + 64;
    mixed = malloc(n);
    snprintf(mixed, n, "key:\n%scert:\n%sca:\n%s", leaf.key, leaf.cert,
             ca.cert);
    assert_int_equal(cm_pki_creds_parse(mixed, &e, err, sizeof(err)), GW_OK);
    assert_string_equal(e.ca, ca.cert);
    assert_string_equal(e.cert, leaf.cert);
    cm_pki_creds_clear(&e);
    assert_null(e.key);
    free(mixed);
    free(text);
    cm_pki_creds_clear(&d);
    pair_free(&leaf);
    pair_free(&ca);
}

static void test_creds_parse_rejects(void **state)
{
    struct pair ca = make_ca("c1");
    struct pair a = make_leaf(&ca, CM_PKI_ROLE_ADMIN, "a", NOW, 60);
    struct pair b = make_leaf(&ca, CM_PKI_ROLE_ADMIN, "b", NOW, 60);
    struct cm_pki_creds d;
    char err[CM_ERR_LEN], buf[16384];

    /* a key that is not the certificate's */
    snprintf(buf, sizeof(buf), "%s%s%s", ca.cert, a.cert, b.key);
    assert_int_equal(cm_pki_creds_parse(buf, &d, err, sizeof(err)), GW_EINVAL);
    assert_non_null(strstr(err, "key"));
    assert_null(d.ca);
    /* missing pieces */
    snprintf(buf, sizeof(buf), "%s%s", a.cert, a.key);
    assert_int_equal(cm_pki_creds_parse(buf, &d, err, sizeof(err)), GW_EINVAL);
    assert_non_null(strstr(err, "CA"));
    snprintf(buf, sizeof(buf), "%s%s", ca.cert, a.key);
    assert_int_equal(cm_pki_creds_parse(buf, &d, err, sizeof(err)), GW_EINVAL);
    snprintf(buf, sizeof(buf), "%s%s", ca.cert, a.cert);
    assert_int_equal(cm_pki_creds_parse(buf, &d, err, sizeof(err)), GW_EINVAL);
    /* a key marked encrypted: refused, never a password prompt */
    snprintf(buf, sizeof(buf),
             "%s%s-----BEGIN EC PRIVATE KEY-----\n"
             "Proc-Type: 4,ENCRYPTED\n"
             "DEK-Info: AES-256-CBC,00112233445566778899AABBCCDDEEFF\n\n"
             "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKiss\n"
             "LS4v\n"
             "-----END EC PRIVATE KEY-----\n",
             ca.cert, a.cert);
    assert_int_equal(cm_pki_creds_parse(buf, &d, err, sizeof(err)), GW_EINVAL);
    assert_false(cm_pki_key_matches(a.cert, strstr(buf, "-----BEGIN EC")));
    /* two leaves */
    snprintf(buf, sizeof(buf), "%s%s%s%s", ca.cert, a.cert, b.cert, a.key);
    assert_int_equal(cm_pki_creds_parse(buf, &d, err, sizeof(err)), GW_EINVAL);
    assert_int_equal(cm_pki_creds_parse("", &d, err, sizeof(err)), GW_EINVAL);
    pair_free(&a);
    pair_free(&b);
    pair_free(&ca);
}

static char *tmp_dir(void)
{
    char tmpl[] = "/tmp/pki_test.XXXXXX";
    const char *base = getenv("TEST_TMPDIR");
    char *d;

    if (base != NULL) {
        size_t n = strlen(base) + 16;

        d = malloc(n);
        snprintf(d, n, "%s/pkiXXXXXX", base);
        assert_non_null(mkdtemp(d));
        return d;
    }
    d = strdup(tmpl);
    assert_non_null(mkdtemp(d));
    return d;
}

static void test_file_write_read(void **state)
{
    char *dir = tmp_dir(), path[512], err[CM_ERR_LEN], *out;
    struct stat st;

    snprintf(path, sizeof(path), "%s/f.key", dir);
    assert_int_equal(cm_pki_file_write(path, "first", err, sizeof(err)), GW_OK);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(cm_pki_file_write(path, "second\n", err, sizeof(err)),
                     GW_OK);
    assert_int_equal(cm_pki_file_read(path, &out, err, sizeof(err)), GW_OK);
    assert_string_equal(out, "second\n");
    free(out);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    unlink(path);
    assert_int_equal(cm_pki_file_read(path, &out, err, sizeof(err)), GW_ENOENT);
    assert_null(out);
    snprintf(path, sizeof(path), "%s/no/such/dir", dir);
    assert_int_equal(cm_pki_file_write(path, "x", err, sizeof(err)), GW_EIO);
    rmdir(dir);
    free(dir);
}

static void test_file_read_limit(void **state)
{
    char *dir = tmp_dir(), path[512], err[CM_ERR_LEN], *out;
    size_t n = CM_PKI_FILE_MAX + 1;
    char *big = malloc(n + 1);

    memset(big, 'a', n);
    big[n] = '\0';
    snprintf(path, sizeof(path), "%s/big", dir);
    assert_int_equal(cm_pki_file_write(path, big, err, sizeof(err)), GW_OK);
    assert_int_equal(cm_pki_file_read(path, &out, err, sizeof(err)),
                     GW_ETOOBIG);
    big[n - 1] = '\0'; /* exactly the limit */
    assert_int_equal(cm_pki_file_write(path, big, err, sizeof(err)), GW_OK);
    assert_int_equal(cm_pki_file_read(path, &out, err, sizeof(err)), GW_OK);
    assert_int_equal(strlen(out), CM_PKI_FILE_MAX);
    free(out);
    unlink(path);
    rmdir(dir);
    free(dir);
    free(big);
}

static void test_creds_dir(void **state)
{
    struct pair ca = make_ca("c1");
    struct pair a = make_leaf(&ca, CM_PKI_ROLE_DATA, "a", NOW, 60);
    struct pair b = make_leaf(&ca, CM_PKI_ROLE_DATA, "b", NOW, 60);
    struct cm_pki_creds c = {ca.cert, a.cert, a.key}, d;
    char *dir = tmp_dir(), path[512], err[CM_ERR_LEN];
    static const char *const names[] = {"ca.crt", "node.crt", "node.key"};
    struct stat st;
    int i;

    assert_int_equal(cm_pki_creds_load_dir(dir, &d, err, sizeof(err)),
                     GW_ENOENT);
    assert_int_equal(cm_pki_creds_save_dir(dir, &c, err, sizeof(err)), GW_OK);
    for (i = 0; i < 3; i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0600);
    }
    assert_int_equal(cm_pki_creds_load_dir(dir, &d, err, sizeof(err)), GW_OK);
    assert_string_equal(d.ca, ca.cert);
    assert_string_equal(d.cert, a.cert);
    assert_string_equal(d.key, a.key);
    cm_pki_creds_clear(&d);
    /* a key that does not match */
    snprintf(path, sizeof(path), "%s/node.key", dir);
    assert_int_equal(cm_pki_file_write(path, b.key, err, sizeof(err)), GW_OK);
    assert_int_equal(cm_pki_creds_load_dir(dir, &d, err, sizeof(err)),
                     GW_EINVAL);
    for (i = 0; i < 3; i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        unlink(path);
    }
    rmdir(dir);
    free(dir);
    pair_free(&a);
    pair_free(&b);
    pair_free(&ca);
}

int main(void)
{
    now0 = (int64_t)time(NULL) + 600;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roles),
        cmocka_unit_test(test_ca_is_ca),
        cmocka_unit_test(test_issue_info_roundtrip),
        cmocka_unit_test(test_issue_long_id),
        cmocka_unit_test(test_issue_refuses_bad_input),
        cmocka_unit_test(test_csr_bad_signature_refused),
        cmocka_unit_test(test_verify),
        cmocka_unit_test(test_verify_expired_now),
        cmocka_unit_test(test_fingerprint),
        cmocka_unit_test(test_cluster_key),
        cmocka_unit_test(test_seal_open),
        cmocka_unit_test(test_open_tampered),
        cmocka_unit_test(test_seal_empty_and_binary),
        cmocka_unit_test(test_token_roundtrip),
        cmocka_unit_test(test_token_parse_rejects),
        cmocka_unit_test(test_token_hash_equal),
        cmocka_unit_test(test_creds_roundtrip),
        cmocka_unit_test(test_creds_parse_rejects),
        cmocka_unit_test(test_file_write_read),
        cmocka_unit_test(test_file_read_limit),
        cmocka_unit_test(test_creds_dir),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
