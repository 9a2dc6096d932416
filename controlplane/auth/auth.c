/*
 * auth.c -- the admin password: generation (RAND_bytes), hashing with
 * scrypt or PBKDF2 (OpenSSL), the "$alg$params$salt$dk" strings, verifying
 * with CRYPTO_memcmp, and HMAC-signed session tokens. No state; any thread.
 */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controlplane/auth/auth.h"

#define SCRYPT_PREFIX "$scrypt$"
#define PBKDF2_PREFIX "$pbkdf2-sha256$"
#define TOKEN_VERSION "v1."
#define NONCE_LEN     16

static const struct cp_auth_params default_params = {
    .alg = CP_AUTH_SCRYPT, .log2_n = 15, .r = 8, .p = 1, .iter = 600000};

/* ==== base64 ==== */

static const char b64_std[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char b64_url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int cp_auth_b64_encode(const uint8_t *in, size_t n, int url, char *out,
                       size_t len)
{
    const char *al = url ? b64_url : b64_std;
    size_t need = (n * 4 + 2) / 3, o = 0;
    uint32_t acc = 0;
    int bits = 0;

    if (need + 1 > len)
        return GW_ETOOBIG;
    for (size_t i = 0; i < n; i++) {
        acc = (acc << 8) | in[i];
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out[o++] = al[(acc >> bits) & 63];
        }
    }
    if (bits > 0)
        out[o++] = al[(acc << (6 - bits)) & 63];
    out[o] = '\0';
    return (int)o;
}

static int b64_value(char c, int url)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == (url ? '-' : '+'))
        return 62;
    if (c == (url ? '_' : '/'))
        return 63;
    return -1;
}

int cp_auth_b64_decode(const char *in, size_t n, int url, uint8_t *out,
                       size_t cap)
{
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;

    if (n % 4 == 1)
        return GW_EINVAL;
    for (size_t i = 0; i < n; i++) {
        int v = b64_value(in[i], url);
        if (v < 0)
            return GW_EINVAL;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o == cap)
                return GW_ETOOBIG;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    if ((acc & ((1u << bits) - 1)) != 0) /* non-canonical trailing bits */
        return GW_EINVAL;
    return (int)o;
}

/* ==== passwords ==== */

/* Letters and digits without 0/O, 1/I/l. */
static const char pw_alphabet[] =
    "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";

int cp_auth_generate_password(char *out, size_t len)
{
    const size_t na = sizeof(pw_alphabet) - 1;
    const unsigned limit = (unsigned)(256 / na * na);
    uint8_t rnd[64];
    size_t o = 0;

    if (out == NULL || len <= CP_AUTH_PASSWORD_LEN)
        return GW_EINVAL;
    while (o < CP_AUTH_PASSWORD_LEN) {
        if (RAND_bytes(rnd, sizeof(rnd)) != 1)
            return GW_EIO;
        for (size_t i = 0; i < sizeof(rnd) && o < CP_AUTH_PASSWORD_LEN; i++)
            if (rnd[i] < limit) /* rejection keeps the draw uniform */
                out[o++] = pw_alphabet[rnd[i] % na];
    }
    out[o] = '\0';
    OPENSSL_cleanse(rnd, sizeof(rnd));
    return GW_OK;
}

static int params_ok(const struct cp_auth_params *p)
{
    if (p->alg == CP_AUTH_SCRYPT) {
        uint64_t mem;
        if (p->log2_n < CP_AUTH_SCRYPT_LOG2N_MIN ||
            p->log2_n > CP_AUTH_SCRYPT_LOG2N_MAX || p->r < 1 ||
            p->r > CP_AUTH_SCRYPT_R_MAX || p->p < 1 ||
            p->p > CP_AUTH_SCRYPT_P_MAX)
            return 0;
        mem = (uint64_t)128 * p->r * p->p << p->log2_n;
        return mem <= CP_AUTH_SCRYPT_MEM_MAX;
    }
    if (p->alg == CP_AUTH_PBKDF2_SHA256)
        return p->iter >= CP_AUTH_PBKDF2_ITER_MIN &&
               p->iter <= CP_AUTH_PBKDF2_ITER_MAX;
    return 0;
}

/* Derives <dk_len> bytes from <pw> and <salt> as <p> says. */
static int derive(const char *pw, const struct cp_auth_params *p,
                  const uint8_t *salt, size_t salt_len, uint8_t *dk,
                  size_t dk_len)
{
    size_t pwlen = strlen(pw);

    if (p->alg == CP_AUTH_SCRYPT) {
        uint64_t n = (uint64_t)1 << p->log2_n;
        /* OpenSSL needs 128*r*(N+2+p) bytes; leave room. */
        uint64_t maxmem = (uint64_t)256 * p->r * (n + 2 + p->p);
        if (EVP_PBE_scrypt(pw, pwlen, salt, salt_len, n, p->r, p->p, maxmem, dk,
                           dk_len) != 1)
            return GW_ENOMEM;
        return GW_OK;
    }
    if (PKCS5_PBKDF2_HMAC(pw, (int)pwlen, salt, (int)salt_len, (int)p->iter,
                          EVP_sha256(), (int)dk_len, dk) != 1)
        return GW_ENOMEM;
    return GW_OK;
}

int cp_auth_hash(const char *password, const struct cp_auth_params *params,
                 char *out, size_t len)
{
    const struct cp_auth_params *p = params ? params : &default_params;
    uint8_t salt[CP_AUTH_SALT_LEN], dk[CP_AUTH_DK_LEN];
    char salt64[64], dk64[64];
    int r, n;

    if (password == NULL || out == NULL || !params_ok(p))
        return GW_EINVAL;
    if (RAND_bytes(salt, sizeof(salt)) != 1)
        return GW_EIO;
    if ((r = derive(password, p, salt, sizeof(salt), dk, sizeof(dk))) != 0)
        return r;
    cp_auth_b64_encode(salt, sizeof(salt), 0, salt64, sizeof(salt64));
    cp_auth_b64_encode(dk, sizeof(dk), 0, dk64, sizeof(dk64));
    OPENSSL_cleanse(dk, sizeof(dk));
    if (p->alg == CP_AUTH_SCRYPT)
        n = snprintf(out, len, SCRYPT_PREFIX "N=%" PRIu64 ",r=%u,p=%u$%s$%s",
                     (uint64_t)1 << p->log2_n, p->r, p->p, salt64, dk64);
    else
        n = snprintf(out, len, PBKDF2_PREFIX "i=%u$%s$%s", p->iter, salt64,
                     dk64);
    if (n < 0 || (size_t)n >= len)
        return GW_EINVAL;
    return GW_OK;
}

/* ==== parsing "$alg$params$salt$dk" ==== */

/* Reads "<key>=<decimal>" at *s (at most 10 digits, no sign, no leading
 * zero) and advances past it. 0 or GW_EINVAL. */
static int read_kv(const char **s, const char *key, uint64_t *v)
{
    size_t kl = strlen(key), nd = 0;
    const char *p = *s;

    if (strncmp(p, key, kl) != 0 || p[kl] != '=')
        return GW_EINVAL;
    p += kl + 1;
    *v = 0;
    while (p[nd] >= '0' && p[nd] <= '9') {
        if (nd == 10)
            return GW_EINVAL;
        *v = *v * 10 + (uint64_t)(p[nd] - '0');
        nd++;
    }
    if (nd == 0 || (nd > 1 && p[0] == '0'))
        return GW_EINVAL;
    *s = p + nd;
    return GW_OK;
}

static int expect(const char **s, char c)
{
    if (**s != c)
        return GW_EINVAL;
    (*s)++;
    return GW_OK;
}

static int parse_scrypt_params(const char **s, struct cp_auth_params *p)
{
    uint64_t n, r, pp;
    unsigned lg = 0;

    if (read_kv(s, "N", &n) != 0 || expect(s, ',') != 0 ||
        read_kv(s, "r", &r) != 0 || expect(s, ',') != 0 ||
        read_kv(s, "p", &pp) != 0)
        return GW_EINVAL;
    if (n < 2 || (n & (n - 1)) != 0)
        return GW_EINVAL;
    while (((uint64_t)1 << lg) < n)
        lg++;
    p->alg = CP_AUTH_SCRYPT;
    p->log2_n = lg;
    p->r = r > 1000 ? 1000 : (unsigned)r;
    p->p = pp > 1000 ? 1000 : (unsigned)pp;
    return GW_OK;
}

/* Decodes the base64 field at *s up to <end> ('$' or '\0') into <out>. */
static int read_b64(const char **s, char end, uint8_t *out, size_t min,
                    size_t max, size_t *n)
{
    const char *e = strchr(*s, end);
    int r;

    if (e == NULL)
        return GW_EINVAL;
    r = cp_auth_b64_decode(*s, (size_t)(e - *s), 0, out, max);
    if (r < 0 || (size_t)r < min)
        return GW_EINVAL;
    *n = (size_t)r;
    *s = e;
    return GW_OK;
}

int cp_auth_parse(const char *s, struct cp_auth_hash *out)
{
    memset(out, 0, sizeof(*out));
    if (s == NULL || strlen(s) >= CP_AUTH_HASH_MAX)
        return GW_EINVAL;
    if (strncmp(s, SCRYPT_PREFIX, strlen(SCRYPT_PREFIX)) == 0) {
        s += strlen(SCRYPT_PREFIX);
        if (parse_scrypt_params(&s, &out->params) != 0)
            return GW_EINVAL;
    } else if (strncmp(s, PBKDF2_PREFIX, strlen(PBKDF2_PREFIX)) == 0) {
        uint64_t it;
        s += strlen(PBKDF2_PREFIX);
        if (read_kv(&s, "i", &it) != 0 || it > CP_AUTH_PBKDF2_ITER_MAX)
            return GW_EINVAL;
        out->params.alg = CP_AUTH_PBKDF2_SHA256;
        out->params.iter = (unsigned)it;
    } else {
        return GW_EINVAL;
    }
    out->alg = out->params.alg;
    if (!params_ok(&out->params) || expect(&s, '$') != 0 ||
        read_b64(&s, '$', out->salt, CP_AUTH_SALT_MIN, CP_AUTH_SALT_MAX,
                 &out->salt_len) != 0 ||
        expect(&s, '$') != 0 ||
        read_b64(&s, '\0', out->dk, CP_AUTH_DK_MIN, CP_AUTH_DK_MAX,
                 &out->dk_len) != 0)
        return GW_EINVAL;
    return GW_OK;
}

int cp_auth_equal(const void *a, const void *b, size_t n)
{
    return CRYPTO_memcmp(a, b, n) == 0;
}

int cp_auth_verify(const char *password, const char *encoded)
{
    struct cp_auth_hash h;
    uint8_t dk[CP_AUTH_DK_MAX];
    int r;

    if (password == NULL || cp_auth_parse(encoded, &h) != 0)
        return GW_EINVAL;
    r = derive(password, &h.params, h.salt, h.salt_len, dk, h.dk_len);
    if (r == 0)
        r = cp_auth_equal(dk, h.dk, h.dk_len);
    OPENSSL_cleanse(dk, sizeof(dk));
    return r;
}

/* ==== session tokens and credential digests ==== */

/* key = SHA-256(<label> NUL <encoded>): a key per purpose and per hash. */
static void derive_key(const char *label, const char *encoded, uint8_t k[32])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned kl = 32;

    if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1 ||
        EVP_DigestUpdate(ctx, label, strlen(label) + 1) != 1 ||
        EVP_DigestUpdate(ctx, encoded, strlen(encoded)) != 1 ||
        EVP_DigestFinal_ex(ctx, k, &kl) != 1)
        RAND_bytes(k, 32); /* unusable key: nothing will verify */
    EVP_MD_CTX_free(ctx);
}

static int mac(const char *label, const char *encoded, const void *msg,
               size_t n, uint8_t out[32])
{
    uint8_t k[32];
    unsigned ol = 32;
    int ok;

    derive_key(label, encoded, k);
    ok = HMAC(EVP_sha256(), k, sizeof(k), msg, n, out, &ol) != NULL;
    OPENSSL_cleanse(k, sizeof(k));
    return ok ? GW_OK : GW_ENOMEM;
}

int cp_auth_session_new(const char *encoded, int64_t now_s, int64_t ttl_s,
                        char *out, size_t len)
{
    uint8_t nonce[NONCE_LEN], m[32];
    char n64[32], m64[48];
    int hl, n;

    if (encoded == NULL || out == NULL || len < CP_AUTH_TOKEN_MAX || ttl_s <= 0)
        return GW_EINVAL;
    if (RAND_bytes(nonce, sizeof(nonce)) != 1)
        return GW_EIO;
    cp_auth_b64_encode(nonce, sizeof(nonce), 1, n64, sizeof(n64));
    hl = snprintf(out, len, TOKEN_VERSION "%" PRId64 ".%s", now_s + ttl_s, n64);
    if (hl < 0 || (size_t)hl >= len ||
        mac("session", encoded, out, (size_t)hl, m) != 0)
        return GW_EINVAL;
    cp_auth_b64_encode(m, sizeof(m), 1, m64, sizeof(m64));
    n = snprintf(out + hl, len - (size_t)hl, ".%s", m64);
    if (n < 0 || (size_t)n >= len - (size_t)hl)
        return GW_EINVAL;
    return GW_OK;
}

int cp_auth_session_check(const char *encoded, const char *token, int64_t now_s)
{
    const char *dot, *p;
    uint8_t want[32], got[32];
    int64_t exp = 0;
    size_t tl;

    if (encoded == NULL || token == NULL ||
        (tl = strlen(token)) >= CP_AUTH_TOKEN_MAX ||
        strncmp(token, TOKEN_VERSION, strlen(TOKEN_VERSION)) != 0 ||
        (dot = strrchr(token, '.')) == NULL)
        return 0;
    if (cp_auth_b64_decode(dot + 1, tl - (size_t)(dot + 1 - token), 1, got,
                           sizeof(got)) != (int)sizeof(got) ||
        mac("session", encoded, token, (size_t)(dot - token), want) != 0 ||
        !cp_auth_equal(want, got, sizeof(got)))
        return 0;
    for (p = token + strlen(TOKEN_VERSION); *p >= '0' && *p <= '9'; p++) {
        if (exp > (INT64_MAX - 9) / 10)
            return 0;
        exp = exp * 10 + (*p - '0');
    }
    return *p == '.' && exp > now_s;
}

int cp_auth_cred_digest(const char *encoded, const char *user,
                        const char *password, uint8_t out[32])
{
    size_t ul = strlen(user), pl = strlen(password);
    char *msg = malloc(ul + pl + 1);
    int r;

    if (msg == NULL)
        return GW_ENOMEM;
    memcpy(msg, user, ul);
    msg[ul] = '\0';
    memcpy(msg + ul + 1, password, pl);
    r = mac("credentials", encoded, msg, ul + pl + 1, out);
    OPENSSL_cleanse(msg, ul + pl + 1);
    free(msg);
    return r;
}
