/*
 * pki.c -- the cluster's keys and certificates on OpenSSL 3 (EVP only):
 * EC P-256 keys, the self-signed CA, CSRs, issuing, reading and verifying
 * certificates, sealing with the cluster key, join tokens, PEM files and
 * credential bundles. No network, no global state: any thread may call.
 * Every key in memory (PEM text, raw bytes) is wiped before it is freed.
 */
#define _GNU_SOURCE /* mkostemp */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common/pki/pki.h"

#define CA_LIFETIME_S (10LL * 366 * 24 * 3600)
#define SKEW_S        60
#define GCM_NONCE     12
#define GCM_TAG       16
#define SEAL_PREFIX   "v1:"
#define CREDS_BLOCKS  16 /* PEM blocks read from a bundle, at most */

/* ==== small helpers ==== */

/* Fills <err> with <what> and OpenSSL's last error (if any), clears
 * OpenSSL's error queue, returns <code>. */
static int ssl_fail(char *err, size_t len, int code, const char *what)
{
    unsigned long e = ERR_peek_last_error();
    char buf[256];

    if (e != 0) {
        ERR_error_string_n(e, buf, sizeof(buf));
        ERR_clear_error();
        return cm_err_set(err, len, code, "%s: %s", what, buf);
    }
    return cm_err_set(err, len, code, "%s", what);
}

void cm_pki_secret_free(char *s)
{
    if (s == NULL)
        return;
    OPENSSL_cleanse(s, strlen(s));
    free(s);
}

static void to_hex(const unsigned char *p, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    size_t i;

    for (i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = '\0';
}

static int hex_val(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Whether s[0..n) are n hex digits. */
static bool is_hex(const char *s, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (hex_val((unsigned char)s[i]) < 0)
            return false;
    return true;
}

/* Lower-case copy of n hex digits into out (n + 1 bytes). */
static void hex_lower(const char *s, size_t n, char *out)
{
    size_t i;

    for (i = 0; i < n; i++)
        out[i] = (char)tolower((unsigned char)s[i]);
    out[n] = '\0';
}

/* s with surrounding white space skipped: *start and its length. */
static size_t trim(const char *s, const char **start)
{
    size_t n;

    while (isspace((unsigned char)*s))
        s++;
    n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        n--;
    *start = s;
    return n;
}

/* The contents of a memory BIO as a new NUL-terminated string. */
static char *bio_string(BIO *b)
{
    char *data, *out;
    long n = BIO_get_mem_data(b, &data);

    if (n < 0)
        return NULL;
    out = malloc((size_t)n + 1);
    if (out == NULL)
        return NULL;
    memcpy(out, data, (size_t)n);
    out[n] = '\0';
    return out;
}

/* The PEM password callback: none (OpenSSL's default would prompt on the
 * terminal for a block marked encrypted). */
static int no_password(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return -1;
}

static X509 *cert_load(const char *pem)
{
    BIO *b = BIO_new_mem_buf(pem, -1);
    X509 *x;

    if (b == NULL)
        return NULL;
    x = PEM_read_bio_X509(b, NULL, no_password, NULL);
    BIO_free(b);
    return x;
}

static EVP_PKEY *key_load(const char *pem)
{
    BIO *b = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *k;

    if (b == NULL)
        return NULL;
    k = PEM_read_bio_PrivateKey(b, NULL, no_password, NULL);
    BIO_free(b);
    return k;
}

static X509_REQ *csr_load(const char *pem)
{
    BIO *b = BIO_new_mem_buf(pem, -1);
    X509_REQ *r;

    if (b == NULL)
        return NULL;
    r = PEM_read_bio_X509_REQ(b, NULL, no_password, NULL);
    BIO_free(b);
    return r;
}

static char *cert_pem(X509 *x)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *s = NULL;

    if (b == NULL)
        return NULL;
    if (PEM_write_bio_X509(b, x) == 1)
        s = bio_string(b);
    BIO_free(b);
    return s;
}

/* PKCS#8 PEM; the BIO is secure memory (cleared when freed). */
static char *key_pem(EVP_PKEY *k)
{
    BIO *b = BIO_new(BIO_s_secmem());
    char *s = NULL;

    if (b == NULL)
        return NULL;
    if (PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL) == 1)
        s = bio_string(b);
    BIO_free(b);
    return s;
}

static EVP_PKEY *key_generate(void)
{
    return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
}

/* A positive random 128-bit serial. */
static int set_serial(X509 *x)
{
    unsigned char r[16];
    BIGNUM *bn;
    int ok;

    if (RAND_bytes(r, sizeof(r)) != 1)
        return 0;
    r[0] &= 0x7f;
    r[0] |= 0x40; /* always 16 bytes, never zero */
    bn = BN_bin2bn(r, sizeof(r), NULL);
    if (bn == NULL)
        return 0;
    ok = BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL;
    BN_free(bn);
    return ok;
}

static int set_times(X509 *x, int64_t from, int64_t to)
{
    return ASN1_TIME_set(X509_getm_notBefore(x), (time_t)from) != NULL &&
           ASN1_TIME_set(X509_getm_notAfter(x), (time_t)to) != NULL;
}

/* Adds a text-configured extension ("critical,CA:TRUE"). */
static int add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
    int ok;

    if (e == NULL)
        return 0;
    ok = X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
    return ok;
}

/* Adds name=value to <n>. UTF8String directly: node ids may be longer than
 * the 64 characters the table of X.520 bounds allows for a CN. */
static int add_name(X509_NAME *n, int nid, const char *value)
{
    return X509_NAME_add_entry_by_NID(n, nid, V_ASN1_UTF8STRING,
                                      (const unsigned char *)value, -1, -1,
                                      0) == 1;
}

/* A node id or DNS name: printable ASCII without spaces, 1..max-1 bytes. */
static bool printable(const char *s, size_t max)
{
    size_t n = 0;

    if (s == NULL || *s == '\0')
        return false;
    for (; s[n] != '\0'; n++)
        if ((unsigned char)s[n] <= 0x20 || (unsigned char)s[n] >= 0x7f)
            return false;
    return n < max;
}

/* ==== roles ==== */

static const char *const role_names[] = {"none", "control", "data", "admin"};

const char *cm_pki_role_name(enum cm_pki_role r)
{
    if (r < CM_PKI_ROLE_CONTROL || r > CM_PKI_ROLE_ADMIN)
        return "none";
    return role_names[r];
}

int cm_pki_role_parse(const char *s, enum cm_pki_role *out)
{
    int r;

    for (r = CM_PKI_ROLE_CONTROL; r <= CM_PKI_ROLE_ADMIN; r++)
        if (s != NULL && strcmp(s, role_names[r]) == 0) {
            *out = (enum cm_pki_role)r;
            return GW_OK;
        }
    return GW_EINVAL;
}

/* ==== keys, CA, CSR ==== */

int cm_pki_key_new(char **out, char *err, size_t len)
{
    EVP_PKEY *k = key_generate();

    *out = NULL;
    if (k == NULL)
        return ssl_fail(err, len, GW_ERR, "EC key generation failed");
    *out = key_pem(k);
    EVP_PKEY_free(k);
    if (*out == NULL)
        return ssl_fail(err, len, GW_ENOMEM, "could not encode the key");
    return GW_OK;
}

static int ca_build(X509 *x, EVP_PKEY *k, const char *name)
{
    X509_NAME *n = X509_get_subject_name(x);
    int64_t now = (int64_t)time(NULL);
    X509V3_CTX ctx;
    char cn[CM_PKI_ID_MAX + 32];

    snprintf(cn, sizeof(cn), "traefikee cluster CA %s", name);
    if (X509_set_version(x, X509_VERSION_3) != 1 || !set_serial(x) ||
        !add_name(n, NID_commonName, cn) || X509_set_issuer_name(x, n) != 1 ||
        !set_times(x, now - SKEW_S, now + CA_LIFETIME_S) ||
        X509_set_pubkey(x, k) != 1)
        return 0;
    X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
    return add_ext(x, &ctx, NID_basic_constraints, "critical,CA:TRUE") &&
           add_ext(x, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign") &&
           add_ext(x, &ctx, NID_subject_key_identifier, "hash") &&
           X509_sign(x, k, EVP_sha256()) > 0;
}

int cm_pki_ca_new(const char *name, char **cert_out, char **key_out, char *err,
                  size_t len)
{
    EVP_PKEY *k = NULL;
    X509 *x = NULL;
    int rc = GW_OK;

    *cert_out = *key_out = NULL;
    if (!printable(name, CM_PKI_ID_MAX))
        return cm_err_set(err, len, GW_EINVAL, "bad CA name");
    k = key_generate();
    x = X509_new();
    if (k == NULL || x == NULL || !ca_build(x, k, name)) {
        rc = ssl_fail(err, len, GW_ERR, "could not make the CA");
        goto done;
    }
    *cert_out = cert_pem(x);
    *key_out = key_pem(k);
    if (*cert_out == NULL || *key_out == NULL) {
        free(*cert_out);
        cm_pki_secret_free(*key_out);
        *cert_out = *key_out = NULL;
        rc = ssl_fail(err, len, GW_ENOMEM, "could not encode the CA");
    }
done:
    X509_free(x);
    EVP_PKEY_free(k);
    return rc;
}

int cm_pki_csr_new(const char *key, const char *cn, char **csr_out, char *err,
                   size_t len)
{
    X509_REQ *r = NULL;
    EVP_PKEY *k;
    BIO *b = NULL;
    int rc = GW_OK;

    *csr_out = NULL;
    if (!printable(cn, CM_PKI_ID_MAX))
        return cm_err_set(err, len, GW_EINVAL, "bad common name");
    k = key_load(key);
    if (k == NULL)
        return ssl_fail(err, len, GW_EINVAL, "bad private key");
    r = X509_REQ_new();
    b = BIO_new(BIO_s_mem());
    if (r == NULL || b == NULL ||
        !add_name(X509_REQ_get_subject_name(r), NID_commonName, cn) ||
        X509_REQ_set_pubkey(r, k) != 1 ||
        X509_REQ_sign(r, k, EVP_sha256()) <= 0 ||
        PEM_write_bio_X509_REQ(b, r) != 1 || (*csr_out = bio_string(b)) == NULL)
        rc = ssl_fail(err, len, GW_ERR, "could not make the CSR");
    BIO_free(b);
    X509_REQ_free(r);
    EVP_PKEY_free(k);
    return rc;
}

/* ==== issuing ==== */

static int check_issue(const struct cm_pki_issue *in, char *err, size_t len)
{
    size_t i;

    if (in->role < CM_PKI_ROLE_CONTROL || in->role > CM_PKI_ROLE_ADMIN)
        return cm_err_set(err, len, GW_EINVAL, "bad role %d", (int)in->role);
    if (!printable(in->id, CM_PKI_ID_MAX))
        return cm_err_set(err, len, GW_EINVAL, "bad node id");
    if (in->ttl_s <= 0 || in->now <= SKEW_S || in->ttl_s > CA_LIFETIME_S)
        return cm_err_set(err, len, GW_EINVAL, "bad lifetime");
    for (i = 0; i < in->n_dns; i++)
        if (!printable(in->dns[i], 254))
            return cm_err_set(err, len, GW_EINVAL, "bad DNS name");
    return GW_OK;
}

static int san_add(GENERAL_NAMES *gens, int type, ASN1_STRING *v)
{
    GENERAL_NAME *g = GENERAL_NAME_new();

    if (g == NULL) {
        ASN1_STRING_free(v);
        return 0;
    }
    GENERAL_NAME_set0_value(g, type, v);
    if (sk_GENERAL_NAME_push(gens, g) == 0) {
        GENERAL_NAME_free(g);
        return 0;
    }
    return 1;
}

/* The subjectAltName extension of <in>: 0, GW_EINVAL with <err> for a bad
 * IP address, GW_ERR. */
static int add_sans(X509 *x, const struct cm_pki_issue *in, char *err,
                    size_t len)
{
    GENERAL_NAMES *gens;
    ASN1_STRING *v;
    size_t i;
    int ok = 1, rc = GW_ERR;

    if (in->n_dns == 0 && in->n_ips == 0)
        return GW_OK;
    gens = sk_GENERAL_NAME_new_null();
    if (gens == NULL)
        return ssl_fail(err, len, GW_ENOMEM, "out of memory");
    for (i = 0; ok && i < in->n_dns; i++) {
        v = ASN1_IA5STRING_new();
        ok = v != NULL && ASN1_STRING_set(v, in->dns[i], -1) == 1 &&
             san_add(gens, GEN_DNS, v);
    }
    for (i = 0; ok && i < in->n_ips; i++) {
        v = a2i_IPADDRESS(in->ips[i]);
        if (v == NULL) {
            rc = cm_err_set(err, len, GW_EINVAL, "bad IP address \"%.64s\"",
                            in->ips[i]);
            ok = 0;
        } else
            ok = san_add(gens, GEN_IPADD, v);
    }
    if (ok)
        ok = X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0,
                               X509V3_ADD_DEFAULT) == 1;
    GENERAL_NAMES_free(gens);
    if (ok)
        return GW_OK;
    return rc == GW_EINVAL ? rc
                           : ssl_fail(err, len, GW_ERR, "could not add SANs");
}

static int leaf_build(X509 *x, X509 *ca, EVP_PKEY *ca_key, EVP_PKEY *pub,
                      const struct cm_pki_issue *in, char *err, size_t len)
{
    X509_NAME *n = X509_get_subject_name(x);
    X509V3_CTX ctx;
    int rc;

    if (X509_set_version(x, X509_VERSION_3) != 1 || !set_serial(x) ||
        !add_name(n, NID_organizationalUnitName, cm_pki_role_name(in->role)) ||
        !add_name(n, NID_commonName, in->id) ||
        X509_set_issuer_name(x, X509_get_subject_name(ca)) != 1 ||
        !set_times(x, in->now - SKEW_S, in->now + in->ttl_s) ||
        X509_set_pubkey(x, pub) != 1)
        return ssl_fail(err, len, GW_ERR, "could not build the certificate");
    X509V3_set_ctx(&ctx, ca, x, NULL, NULL, 0);
    rc = add_sans(x, in, err, len);
    if (rc != GW_OK)
        return rc;
    if (!add_ext(x, &ctx, NID_basic_constraints, "critical,CA:FALSE") ||
        !add_ext(x, &ctx, NID_key_usage, "critical,digitalSignature") ||
        !add_ext(x, &ctx, NID_ext_key_usage, "serverAuth,clientAuth") ||
        !add_ext(x, &ctx, NID_subject_key_identifier, "hash") ||
        !add_ext(x, &ctx, NID_authority_key_identifier, "keyid:always"))
        return ssl_fail(err, len, GW_ERR, "could not add the extensions");
    if (X509_sign(x, ca_key, EVP_sha256()) <= 0)
        return ssl_fail(err, len, GW_ERR, "could not sign");
    return GW_OK;
}

/* The CA pair and the CSR, checked: the CA's key is its certificate's, and
 * the CSR's self-signature holds. */
static int issue_load(const char *ca_pem, const char *ca_key_pem,
                      const char *csr_pem, X509 **ca, EVP_PKEY **ca_key,
                      X509_REQ **req, char *err, size_t len)
{
    EVP_PKEY *pub;

    *ca = cert_load(ca_pem);
    *ca_key = key_load(ca_key_pem);
    *req = csr_load(csr_pem);
    if (*ca == NULL || *ca_key == NULL)
        return ssl_fail(err, len, GW_EINVAL, "bad CA certificate or key");
    if (X509_check_private_key(*ca, *ca_key) != 1)
        return ssl_fail(err, len, GW_EINVAL, "CA key does not match the CA");
    if (*req == NULL)
        return ssl_fail(err, len, GW_EINVAL, "bad CSR");
    pub = X509_REQ_get0_pubkey(*req);
    if (pub == NULL || X509_REQ_verify(*req, pub) != 1)
        return ssl_fail(err, len, GW_EINVAL, "bad CSR signature");
    if (!EVP_PKEY_is_a(pub, "EC") && !EVP_PKEY_is_a(pub, "RSA") &&
        !EVP_PKEY_is_a(pub, "ED25519"))
        return cm_err_set(err, len, GW_EINVAL, "unsupported CSR key type");
    return GW_OK;
}

int cm_pki_issue(const char *ca_pem, const char *ca_key_pem,
                 const char *csr_pem, const struct cm_pki_issue *in,
                 char **cert_out, char *err, size_t len)
{
    EVP_PKEY *ca_key = NULL;
    X509_REQ *req = NULL;
    X509 *ca = NULL, *x = NULL;
    int rc;

    *cert_out = NULL;
    rc = check_issue(in, err, len);
    if (rc == GW_OK)
        rc = issue_load(ca_pem, ca_key_pem, csr_pem, &ca, &ca_key, &req, err,
                        len);
    if (rc == GW_OK && (x = X509_new()) == NULL)
        rc = cm_err_set(err, len, GW_ENOMEM, "out of memory");
    if (rc == GW_OK)
        rc = leaf_build(x, ca, ca_key, X509_REQ_get0_pubkey(req), in, err, len);
    if (rc == GW_OK && (*cert_out = cert_pem(x)) == NULL)
        rc = cm_err_set(err, len, GW_ENOMEM, "out of memory");
    X509_free(x);
    X509_REQ_free(req);
    X509_free(ca);
    EVP_PKEY_free(ca_key);
    return rc;
}

/* ==== reading and verifying ==== */

static int64_t asn1_unix(const ASN1_TIME *t)
{
    struct tm tm;

    if (ASN1_TIME_to_tm(t, &tm) != 1)
        return 0;
    return (int64_t)timegm(&tm);
}

/* The first <nid> entry of <n> into out (cap bytes): 0 when absent, -1
 * when too long or holding a NUL. */
static int name_get(const X509_NAME *n, int nid, char *out, size_t cap)
{
    int i = X509_NAME_get_index_by_NID(n, nid, -1);
    const ASN1_STRING *s;
    int l;

    out[0] = '\0';
    if (i < 0)
        return 0;
    s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(n, i));
    l = ASN1_STRING_length(s);
    if (l < 0 || (size_t)l >= cap ||
        memchr(ASN1_STRING_get0_data(s), '\0', (size_t)l) != NULL)
        return -1;
    memcpy(out, ASN1_STRING_get0_data(s), (size_t)l);
    out[l] = '\0';
    return 1;
}

static int serial_hex(X509 *x, char out[CM_PKI_FP_HEX])
{
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
    char *h;
    int rc = GW_EINVAL;

    if (bn == NULL)
        return GW_ENOMEM;
    h = BN_bn2hex(bn);
    if (h != NULL && strlen(h) < CM_PKI_FP_HEX) {
        hex_lower(h, strlen(h), out);
        rc = GW_OK;
    }
    OPENSSL_free(h);
    BN_free(bn);
    return rc;
}

int cm_pki_cert_info(const char *pem, struct cm_pki_cert_info *out, char *err,
                     size_t len)
{
    X509 *x = cert_load(pem);
    const X509_NAME *n;
    char ou[16];
    int rc = GW_OK;

    memset(out, 0, sizeof(*out));
    if (x == NULL)
        return ssl_fail(err, len, GW_EINVAL, "bad certificate");
    n = X509_get_subject_name(x);
    if (name_get(n, NID_commonName, out->id, sizeof(out->id)) <= 0)
        rc = cm_err_set(err, len, GW_EINVAL, "certificate without a usable CN");
    else if (name_get(n, NID_organizationalUnitName, ou, sizeof(ou)) <= 0 ||
             cm_pki_role_parse(ou, &out->role) != GW_OK)
        out->role = CM_PKI_ROLE_NONE;
    if (rc == GW_OK) {
        out->not_before = asn1_unix(X509_get0_notBefore(x));
        out->not_after = asn1_unix(X509_get0_notAfter(x));
        rc = serial_hex(x, out->serial);
        if (rc != GW_OK)
            rc = cm_err_set(err, len, rc, "bad serial number");
    }
    X509_free(x);
    return rc;
}

static int verify_with(X509 *ca, X509 *leaf, int64_t now, char *err, size_t len)
{
    X509_STORE *store = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    int rc = GW_OK, e;

    if (store == NULL || ctx == NULL || X509_STORE_add_cert(store, ca) != 1 ||
        X509_STORE_CTX_init(ctx, store, leaf, NULL) != 1) {
        rc = ssl_fail(err, len, GW_ENOMEM, "could not set up verification");
        goto done;
    }
    X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(ctx), (time_t)now);
    if (X509_verify_cert(ctx) != 1) {
        e = X509_STORE_CTX_get_error(ctx);
        rc = cm_err_set(err, len, GW_EINVAL, "certificate not valid: %s",
                        X509_verify_cert_error_string(e));
        ERR_clear_error();
    }
done:
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    return rc;
}

int cm_pki_verify(const char *ca_pem, const char *cert, int64_t now, char *err,
                  size_t len)
{
    X509 *ca = cert_load(ca_pem), *leaf = cert_load(cert);
    int rc;

    if (ca == NULL)
        rc = ssl_fail(err, len, GW_EINVAL, "bad CA certificate");
    else if (leaf == NULL)
        rc = ssl_fail(err, len, GW_EINVAL, "bad certificate");
    else if (X509_get_extension_flags(leaf) & EXFLAG_CA)
        rc = cm_err_set(err, len, GW_EINVAL, "a CA is not a node certificate");
    else
        rc = verify_with(ca, leaf, now, err, len);
    X509_free(leaf);
    X509_free(ca);
    return rc;
}

static int fingerprint_x509(X509 *x, char out[CM_PKI_FP_HEX])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;

    if (X509_digest(x, EVP_sha256(), md, &n) != 1 || n != 32)
        return GW_ERR;
    to_hex(md, n, out);
    return GW_OK;
}

int cm_pki_fingerprint(const char *pem, char out[CM_PKI_FP_HEX], char *err,
                       size_t len)
{
    X509 *x = cert_load(pem);
    int rc;

    out[0] = '\0';
    if (x == NULL)
        return ssl_fail(err, len, GW_EINVAL, "bad certificate");
    rc = fingerprint_x509(x, out);
    X509_free(x);
    if (rc != GW_OK)
        return ssl_fail(err, len, rc, "could not hash the certificate");
    return GW_OK;
}

bool cm_pki_key_matches(const char *cert, const char *key)
{
    X509 *x = cert != NULL ? cert_load(cert) : NULL;
    EVP_PKEY *k = key != NULL ? key_load(key) : NULL;
    bool ok = x != NULL && k != NULL && X509_check_private_key(x, k) == 1;

    X509_free(x);
    EVP_PKEY_free(k);
    ERR_clear_error();
    return ok;
}

/* ==== sealing ==== */

int cm_pki_cluster_key_new(char out[CM_PKI_KEY_HEX])
{
    unsigned char k[32];

    if (RAND_bytes(k, sizeof(k)) != 1)
        return GW_ERR;
    to_hex(k, sizeof(k), out);
    OPENSSL_cleanse(k, sizeof(k));
    return GW_OK;
}

bool cm_pki_cluster_key_valid(const char *s)
{
    const char *p;

    return s != NULL && trim(s, &p) == 64 && is_hex(p, 64);
}

/* The 32 bytes of a cluster key (wipe after use). */
static bool key_bytes(const char *hex, unsigned char k[32])
{
    const char *p;
    int i;

    if (!cm_pki_cluster_key_valid(hex))
        return false;
    (void)trim(hex, &p);
    for (i = 0; i < 32; i++)
        k[i] = (unsigned char)(hex_val(p[2 * i]) << 4 | hex_val(p[2 * i + 1]));
    return true;
}

/* GCM over <in> into <out> (same length); tag written (enc) or checked. */
static bool gcm(int enc, const unsigned char key[32],
                const unsigned char nonce[GCM_NONCE], const unsigned char *in,
                size_t n, unsigned char *out, unsigned char tag[GCM_TAG])
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int l = 0, ok;

    if (c == NULL || n > INT_MAX) {
        EVP_CIPHER_CTX_free(c);
        return false;
    }
    ok = EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, key, nonce, enc) == 1 &&
         (enc ||
          EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, GCM_TAG, tag) == 1) &&
         EVP_CipherUpdate(c, out, &l, in, (int)n) == 1 && (size_t)l == n &&
         EVP_CipherFinal_ex(c, out + l, &l) == 1 &&
         (!enc ||
          EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, GCM_TAG, tag) == 1);
    EVP_CIPHER_CTX_free(c);
    ERR_clear_error();
    return ok;
}

int cm_pki_seal(const char *key_hex, const void *p, size_t n, char **out,
                char *err, size_t len)
{
    unsigned char key[32], *buf;
    size_t total = GCM_NONCE + n + GCM_TAG, enc;
    bool ok;

    *out = NULL;
    if (n > CM_PKI_FILE_MAX)
        return cm_err_set(err, len, GW_ETOOBIG, "too much data to seal");
    if (!key_bytes(key_hex, key))
        return cm_err_set(err, len, GW_EINVAL, "bad cluster key");
    buf = malloc(total);
    enc = strlen(SEAL_PREFIX) + 4 * ((total + 2) / 3) + 1;
    *out = malloc(enc);
    ok = buf != NULL && *out != NULL && RAND_bytes(buf, GCM_NONCE) == 1 &&
         gcm(1, key, buf, p, n, buf + GCM_NONCE, buf + GCM_NONCE + n);
    OPENSSL_cleanse(key, sizeof(key));
    if (ok) {
        memcpy(*out, SEAL_PREFIX, strlen(SEAL_PREFIX));
        EVP_EncodeBlock((unsigned char *)*out + strlen(SEAL_PREFIX), buf,
                        (int)total);
    } else {
        free(*out);
        *out = NULL;
    }
    free(buf);
    return ok ? GW_OK : cm_err_set(err, len, GW_ERR, "sealing failed");
}

static int b64_val(int c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Strict base64 (padded, no white space) of s[0..n) into a new buffer. */
static unsigned char *b64_decode(const char *s, size_t n, size_t *outlen)
{
    size_t i, o = 0, pad = 0;
    unsigned char *out;
    uint32_t acc;
    int v, j;

    if (n == 0 || n % 4 != 0)
        return NULL;
    if (s[n - 1] == '=')
        pad = s[n - 2] == '=' ? 2 : 1;
    out = malloc(n / 4 * 3);
    if (out == NULL)
        return NULL;
    for (i = 0; i < n; i += 4) {
        acc = 0;
        for (j = 0; j < 4; j++) {
            v = i + 4 == n && j >= 4 - (int)pad ? 0 : b64_val(s[i + j]);
            if (v < 0) {
                free(out);
                return NULL;
            }
            acc = acc << 6 | (uint32_t)v;
        }
        out[o++] = (unsigned char)(acc >> 16);
        out[o++] = (unsigned char)(acc >> 8);
        out[o++] = (unsigned char)acc;
    }
    *outlen = o - pad;
    return out;
}

int cm_pki_open(const char *key_hex, const char *sealed, char **out,
                size_t *outlen, char *err, size_t len)
{
    unsigned char key[32], *raw = NULL, *pt = NULL;
    size_t n = 0, tl;
    const char *s;
    bool ok;

    *out = NULL;
    *outlen = 0;
    if (!key_bytes(key_hex, key))
        return cm_err_set(err, len, GW_EINVAL, "bad cluster key");
    tl = trim(sealed, &s);
    if (tl > strlen(SEAL_PREFIX) &&
        memcmp(s, SEAL_PREFIX, strlen(SEAL_PREFIX)) == 0)
        raw = b64_decode(s + strlen(SEAL_PREFIX), tl - strlen(SEAL_PREFIX), &n);
    ok = raw != NULL && n >= GCM_NONCE + GCM_TAG;
    if (ok) {
        n -= GCM_NONCE + GCM_TAG;
        pt = malloc(n + 1);
        ok = pt != NULL &&
             gcm(0, key, raw, raw + GCM_NONCE, n, pt, raw + GCM_NONCE + n);
    }
    OPENSSL_cleanse(key, sizeof(key));
    free(raw);
    if (!ok) {
        if (pt != NULL)
            OPENSSL_clear_free(pt, n + 1);
        return cm_err_set(err, len, GW_EINVAL,
                          "wrong cluster key or corrupted data");
    }
    pt[n] = '\0';
    *out = (char *)pt;
    *outlen = n;
    return GW_OK;
}

/* ==== join tokens ==== */

#define TOKEN_MAGIC "TKE1"

int cm_pki_token_new(enum cm_pki_role role, const char *ca_fp,
                     struct cm_pki_token *out)
{
    unsigned char r[16];

    memset(out, 0, sizeof(*out));
    if (role != CM_PKI_ROLE_CONTROL && role != CM_PKI_ROLE_DATA)
        return GW_EINVAL;
    if (ca_fp == NULL || strlen(ca_fp) != 64 || !is_hex(ca_fp, 64))
        return GW_EINVAL;
    if (RAND_bytes(r, sizeof(r)) != 1)
        return GW_ERR;
    out->role = role;
    to_hex(r, sizeof(r), out->secret);
    hex_lower(ca_fp, 64, out->ca_fp);
    OPENSSL_cleanse(r, sizeof(r));
    return GW_OK;
}

int cm_pki_token_format(const struct cm_pki_token *t, char *out, size_t cap)
{
    int n;

    if (t->role != CM_PKI_ROLE_CONTROL && t->role != CM_PKI_ROLE_DATA)
        return GW_EINVAL;
    n = snprintf(out, cap, TOKEN_MAGIC ".%s.%s.%s", cm_pki_role_name(t->role),
                 t->secret, t->ca_fp);
    if (n < 0 || (size_t)n >= cap)
        return GW_ETOOBIG;
    return GW_OK;
}

/* The next '.'-separated field of [*p, end): its start and length. */
static size_t token_field(const char **p, const char *end, const char **f)
{
    const char *dot = memchr(*p, '.', (size_t)(end - *p));
    size_t n;

    *f = *p;
    if (dot == NULL) {
        n = (size_t)(end - *p);
        *p = end;
    } else {
        n = (size_t)(dot - *p);
        *p = dot + 1;
    }
    return n;
}

int cm_pki_token_parse(const char *s, struct cm_pki_token *out, char *err,
                       size_t len)
{
    const char *p, *end, *f;
    char role[8];
    size_t n;

    memset(out, 0, sizeof(*out));
    n = trim(s, &p);
    end = p + n;
    if (token_field(&p, end, &f) != 4 || memcmp(f, TOKEN_MAGIC, 4) != 0)
        return cm_err_set(err, len, GW_EINVAL,
                          "not a join token (expected TKE1.<role>....)");
    n = token_field(&p, end, &f);
    if (n >= sizeof(role) || p == end)
        return cm_err_set(err, len, GW_EINVAL, "join token: bad role");
    memcpy(role, f, n);
    role[n] = '\0';
    if (cm_pki_role_parse(role, &out->role) != GW_OK ||
        out->role == CM_PKI_ROLE_ADMIN)
        return cm_err_set(err, len, GW_EINVAL,
                          "join token: role must be control or data");
    n = token_field(&p, end, &f);
    if (n != 32 || !is_hex(f, 32) || p == end)
        return cm_err_set(err, len, GW_EINVAL, "join token: bad secret");
    hex_lower(f, 32, out->secret);
    n = token_field(&p, end, &f);
    if (n != 64 || !is_hex(f, 64) || f + n != end)
        return cm_err_set(err, len, GW_EINVAL,
                          "join token: bad CA fingerprint");
    hex_lower(f, 64, out->ca_fp);
    return GW_OK;
}

void cm_pki_token_hash(const char *secret, char out[CM_PKI_FP_HEX])
{
    unsigned char md[32];
    unsigned int n = 0;

    if (EVP_Digest(secret, strlen(secret), md, &n, EVP_sha256(), NULL) != 1 ||
        n != 32) {
        out[0] = '\0';
        return;
    }
    to_hex(md, 32, out);
}

bool cm_pki_equal(const char *a, const char *b)
{
    size_t n;

    if (a == NULL || b == NULL)
        return false;
    n = strlen(a);
    return n == strlen(b) && CRYPTO_memcmp(a, b, n) == 0;
}

/* ==== files ==== */

/* Reads fd to its end into a new string of at most CM_PKI_FILE_MAX bytes:
 * 0, or a negative errno value, or GW_ETOOBIG, or GW_ENOMEM. */
static int read_all(int fd, char **out)
{
    size_t n = 0, cap = 4096;
    char *buf = malloc(cap), *tmp;
    ssize_t r;

    for (;;) {
        if (buf == NULL)
            return GW_ENOMEM;
        r = read(fd, buf + n, cap - 1 - n);
        if (r == -1 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
        if (n > CM_PKI_FILE_MAX)
            break;
        if (n + 1 == cap) {
            tmp = realloc(buf, cap * 2);
            if (tmp == NULL)
                OPENSSL_cleanse(buf, n);
            if (tmp == NULL)
                free(buf);
            buf = tmp;
            cap *= 2;
        }
    }
    buf[n] = '\0';
    if (r == -1 || n > CM_PKI_FILE_MAX) {
        r = r == -1 ? -errno : GW_ETOOBIG;
        OPENSSL_cleanse(buf, n);
        free(buf);
        return (int)r;
    }
    *out = buf;
    return GW_OK;
}

int cm_pki_file_read(const char *path, char **out, char *err, size_t len)
{
    int fd, rc;

    *out = NULL;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1)
        return cm_err_set(err, len, errno == ENOENT ? GW_ENOENT : GW_EIO,
                          "%s: %s", path, strerror(errno));
    rc = read_all(fd, out);
    close(fd);
    if (rc == GW_ETOOBIG)
        return cm_err_set(err, len, rc, "%s: larger than %u bytes", path,
                          CM_PKI_FILE_MAX);
    if (rc == GW_ENOMEM)
        return cm_err_set(err, len, rc, "%s: out of memory", path);
    if (rc < 0)
        return cm_err_set(err, len, GW_EIO, "%s: %s", path, strerror(-rc));
    return GW_OK;
}

static int write_all(int fd, const char *p, size_t n)
{
    ssize_t w;

    while (n > 0) {
        w = write(fd, p, n);
        if (w == -1 && errno == EINTR)
            continue;
        if (w == -1)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int cm_pki_file_write(const char *path, const char *data, char *err, size_t len)
{
    size_t n = strlen(path) + 16;
    char *tmp = malloc(n);
    int fd, e;

    if (tmp == NULL)
        return cm_err_set(err, len, GW_ENOMEM, "out of memory");
    snprintf(tmp, n, "%s.tmp.XXXXXX", path);
    fd = mkostemp(tmp, O_CLOEXEC);
    if (fd == -1) {
        e = errno;
        free(tmp);
        return cm_err_set(err, len, GW_EIO, "%s: %s", path, strerror(e));
    }
    if (fchmod(fd, 0600) == -1 || write_all(fd, data, strlen(data)) == -1 ||
        fsync(fd) == -1) {
        e = errno;
        close(fd);
        goto fail;
    }
    if (close(fd) == -1 || rename(tmp, path) == -1) {
        e = errno;
        goto fail;
    }
    free(tmp);
    return GW_OK;
fail:
    unlink(tmp);
    free(tmp);
    return cm_err_set(err, len, GW_EIO, "%s: %s", path, strerror(e));
}

/* ==== credentials ==== */

void cm_pki_creds_clear(struct cm_pki_creds *c)
{
    free(c->ca);
    free(c->cert);
    cm_pki_secret_free(c->key);
    memset(c, 0, sizeof(*c));
}

/* What a bundle's PEM block is. */
enum block_kind { BLOCK_OTHER, BLOCK_CA, BLOCK_LEAF, BLOCK_KEY };

static enum block_kind block_classify(const char *name, const char *text)
{
    enum block_kind k = BLOCK_OTHER;
    EVP_PKEY *key;
    X509 *x;

    if (strcmp(name, PEM_STRING_X509) == 0) {
        x = cert_load(text);
        if (x != NULL)
            k = X509_get_extension_flags(x) & EXFLAG_CA ? BLOCK_CA : BLOCK_LEAF;
        X509_free(x);
    } else if (strcmp(name, PEM_STRING_PKCS8INF) == 0 ||
               strcmp(name, PEM_STRING_ECPRIVATEKEY) == 0 ||
               strcmp(name, "RSA PRIVATE KEY") == 0) {
        key = key_load(text);
        if (key != NULL)
            k = BLOCK_KEY;
        EVP_PKEY_free(key);
    }
    ERR_clear_error();
    return k;
}

/* The PEM text of one block, re-encoded; secure memory for keys. */
static char *block_text(const char *name, const char *hdr,
                        const unsigned char *data, long n)
{
    BIO *b = BIO_new(BIO_s_secmem());
    char *s = NULL;

    if (b == NULL)
        return NULL;
    if (PEM_write_bio(b, name, hdr, data, n) > 0)
        s = bio_string(b);
    BIO_free(b);
    return s;
}

/* Files <text> (the block <name>) into the slot of its kind in <out>;
 * takes <text>. GW_EINVAL on a second one of a kind or an unusable block. */
static int creds_file(struct cm_pki_creds *out, const char *name, char *text,
                      char *err, size_t len)
{
    enum block_kind k = block_classify(name, text);
    char **slot = k == BLOCK_CA     ? &out->ca
                  : k == BLOCK_LEAF ? &out->cert
                  : k == BLOCK_KEY  ? &out->key
                                    : NULL;

    if (slot == NULL) {
        cm_pki_secret_free(text);
        return cm_err_set(err, len, GW_EINVAL, "bundle: unusable %s block",
                          name);
    }
    if (*slot != NULL) {
        cm_pki_secret_free(text);
        return cm_err_set(err, len, GW_EINVAL, "bundle: more than one %s",
                          k == BLOCK_CA     ? "CA certificate"
                          : k == BLOCK_LEAF ? "certificate"
                                            : "private key");
    }
    *slot = text;
    return GW_OK;
}

static int creds_blocks(BIO *b, struct cm_pki_creds *out, char *err, size_t len)
{
    char *name = NULL, *hdr = NULL, *text;
    unsigned char *data = NULL;
    long n = 0;
    int i, rc = GW_OK;

    for (i = 0; rc == GW_OK && PEM_read_bio(b, &name, &hdr, &data, &n) == 1;
         i++) {
        if (i == CREDS_BLOCKS)
            rc = cm_err_set(err, len, GW_EINVAL, "bundle: too many blocks");
        else if ((text = block_text(name, hdr, data, n)) == NULL)
            rc = cm_err_set(err, len, GW_ENOMEM, "out of memory");
        else
            rc = creds_file(out, name, text, err, len);
        OPENSSL_free(name);
        OPENSSL_free(hdr);
        OPENSSL_clear_free(data, (size_t)n);
        name = hdr = NULL;
        data = NULL;
    }
    ERR_clear_error();
    return rc;
}

int cm_pki_creds_parse(const char *text, struct cm_pki_creds *out, char *err,
                       size_t len)
{
    BIO *b = BIO_new_mem_buf(text, -1);
    int rc;

    memset(out, 0, sizeof(*out));
    if (b == NULL)
        return cm_err_set(err, len, GW_ENOMEM, "out of memory");
    rc = creds_blocks(b, out, err, len);
    BIO_free(b);
    if (rc == GW_OK && out->ca == NULL)
        rc = cm_err_set(err, len, GW_EINVAL, "bundle: no CA certificate");
    else if (rc == GW_OK && out->cert == NULL)
        rc = cm_err_set(err, len, GW_EINVAL, "bundle: no certificate");
    else if (rc == GW_OK && out->key == NULL)
        rc = cm_err_set(err, len, GW_EINVAL, "bundle: no private key");
    else if (rc == GW_OK && !cm_pki_key_matches(out->cert, out->key))
        rc = cm_err_set(err, len, GW_EINVAL,
                        "bundle: the key is not the certificate's");
    if (rc != GW_OK)
        cm_pki_creds_clear(out);
    return rc;
}

/* Appends s (and a newline if it lacks one) at *p. */
static void append_pem(char **p, const char *s)
{
    size_t n = strlen(s);

    memcpy(*p, s, n);
    *p += n;
    if (n == 0 || s[n - 1] != '\n')
        *(*p)++ = '\n';
}

int cm_pki_creds_format(const struct cm_pki_creds *c, char **out)
{
    char *p;

    *out = NULL;
    if (c->ca == NULL || c->cert == NULL || c->key == NULL)
        return GW_EINVAL;
    *out = malloc(strlen(c->ca) + strlen(c->cert) + strlen(c->key) + 4);
    if (*out == NULL)
        return GW_ENOMEM;
    p = *out;
    append_pem(&p, c->ca);
    append_pem(&p, c->cert);
    append_pem(&p, c->key);
    *p = '\0';
    return GW_OK;
}

static char *dir_path(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);

    if (p != NULL)
        snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static int dir_read(const char *dir, const char *name, char **out, char *err,
                    size_t len)
{
    char *p = dir_path(dir, name);
    int rc;

    *out = NULL;
    if (p == NULL)
        return cm_err_set(err, len, GW_ENOMEM, "out of memory");
    rc = cm_pki_file_read(p, out, err, len);
    free(p);
    return rc;
}

static int dir_write(const char *dir, const char *name, const char *data,
                     char *err, size_t len)
{
    char *p = dir_path(dir, name);
    int rc;

    if (p == NULL)
        return cm_err_set(err, len, GW_ENOMEM, "out of memory");
    rc = cm_pki_file_write(p, data, err, len);
    free(p);
    return rc;
}

int cm_pki_creds_load_dir(const char *dir, struct cm_pki_creds *out, char *err,
                          size_t len)
{
    int rc;

    memset(out, 0, sizeof(*out));
    rc = dir_read(dir, "ca.crt", &out->ca, err, len);
    if (rc == GW_OK)
        rc = dir_read(dir, "node.crt", &out->cert, err, len);
    if (rc == GW_OK)
        rc = dir_read(dir, "node.key", &out->key, err, len);
    if (rc == GW_OK && !cm_pki_key_matches(out->cert, out->key))
        rc = cm_err_set(err, len, GW_EINVAL,
                        "%s: node.key is not node.crt's key", dir);
    if (rc != GW_OK)
        cm_pki_creds_clear(out);
    return rc;
}

int cm_pki_creds_save_dir(const char *dir, const struct cm_pki_creds *c,
                          char *err, size_t len)
{
    int rc;

    if (c->ca == NULL || c->cert == NULL || c->key == NULL)
        return cm_err_set(err, len, GW_EINVAL, "incomplete credentials");
    rc = dir_write(dir, "ca.crt", c->ca, err, len);
    if (rc == GW_OK)
        rc = dir_write(dir, "node.key", c->key, err, len);
    if (rc == GW_OK)
        rc = dir_write(dir, "node.crt", c->cert, err, len);
    return rc;
}
