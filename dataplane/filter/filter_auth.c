/*
 * filter_auth.c -- basicAuth: htpasswd users (bcrypt $2a$/$2b$/$2y$ through
 * crypt(3) of libxcrypt; {SHA} base64 SHA-1 and MD5-crypt $apr1$/$1$ with
 * OpenSSL digests), checked against "Authorization: Basic ..." as Traefik
 * does (strict base64, split at the first ':'), with constant-time final
 * comparisons. Compiled users are immutable; checks run on any worker.
 */
#include <crypt.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dataplane/filter/filter_int.h"
#include "traefikee/filters/v1/filters.pb-c.h"

#define FV1(x) Traefikee__Filters__V1__##x

static const char itoa64[] =
    "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
static const char b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* ==== base64 (standard alphabet, padding required, as Go's StdEncoding) */

static int b64val(char c)
{
    const char *p = c ? strchr(b64, c) : NULL;
    return p ? (int)(p - b64) : -1;
}

/* Decodes <n> bytes of <s> into <out> (>= n/4*3 bytes); -1 if invalid. */
static long b64_decode(const char *s, size_t n, uint8_t *out)
{
    size_t o = 0;

    if (n % 4 != 0)
        return -1;
    for (size_t i = 0; i < n; i += 4) {
        int v[4], pad = 0;
        for (int k = 0; k < 4; k++) {
            if (s[i + k] == '=' && i + 4 == n && k >= 2) {
                v[k] = 0;
                pad++;
            } else if (pad > 0 || (v[k] = b64val(s[i + k])) < 0) {
                return -1;
            }
        }
        uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 |
                     (uint32_t)v[2] << 6 | (uint32_t)v[3];
        out[o++] = (uint8_t)(w >> 16);
        if (pad < 2)
            out[o++] = (uint8_t)(w >> 8);
        if (pad < 1)
            out[o++] = (uint8_t)w;
    }
    return (long)o;
}

static void b64_encode(const uint8_t *in, size_t n, char *out)
{
    size_t o = 0;

    for (size_t i = 0; i < n; i += 3) {
        uint32_t w = (uint32_t)in[i] << 16;
        if (i + 1 < n)
            w |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < n)
            w |= in[i + 2];
        out[o++] = b64[(w >> 18) & 63];
        out[o++] = b64[(w >> 12) & 63];
        out[o++] = i + 1 < n ? b64[(w >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? b64[w & 63] : '=';
    }
    out[o] = '\0';
}

/* ==== MD5-crypt ($1$, $apr1$) ==== */

static void to64(char *out, size_t *o, uint32_t v, int n)
{
    while (n-- > 0) {
        out[(*o)++] = itoa64[v & 0x3f];
        v >>= 6;
    }
}

static int md5_rounds(EVP_MD_CTX *c, const char *pw, size_t plen,
                      const char *magic, const char *salt, size_t slen,
                      uint8_t fin[16])
{
    const EVP_MD *md5 = EVP_md5();
    uint8_t alt[16];
    int ok = EVP_DigestInit_ex(c, md5, NULL) && EVP_DigestUpdate(c, pw, plen) &&
             EVP_DigestUpdate(c, salt, slen) && EVP_DigestUpdate(c, pw, plen) &&
             EVP_DigestFinal_ex(c, alt, NULL);

    ok = ok && EVP_DigestInit_ex(c, md5, NULL) &&
         EVP_DigestUpdate(c, pw, plen) &&
         EVP_DigestUpdate(c, magic, strlen(magic)) &&
         EVP_DigestUpdate(c, salt, slen);
    for (size_t pl = plen; ok && pl > 0; pl -= pl > 16 ? 16 : pl)
        ok = EVP_DigestUpdate(c, alt, pl > 16 ? 16 : pl);
    for (size_t i = plen; ok && i > 0; i >>= 1)
        ok = EVP_DigestUpdate(c, (i & 1) ? "" : pw, 1);
    ok = ok && EVP_DigestFinal_ex(c, fin, NULL);
    for (int i = 0; ok && i < 1000; i++) {
        ok = EVP_DigestInit_ex(c, md5, NULL) &&
             ((i & 1) ? EVP_DigestUpdate(c, pw, plen)
                      : EVP_DigestUpdate(c, fin, 16)) &&
             (i % 3 == 0 || EVP_DigestUpdate(c, salt, slen)) &&
             (i % 7 == 0 || EVP_DigestUpdate(c, pw, plen)) &&
             ((i & 1) ? EVP_DigestUpdate(c, fin, 16)
                      : EVP_DigestUpdate(c, pw, plen)) &&
             EVP_DigestFinal_ex(c, fin, NULL);
    }
    return ok ? 0 : GW_ERR;
}

int dp_filter__md5crypt(const char *pw, size_t plen, const char *magic,
                        const char *salt, size_t slen, char *out, size_t cap)
{
    static const uint8_t idx[5][3] = {
        {0, 6, 12}, {1, 7, 13}, {2, 8, 14}, {3, 9, 15}, {4, 10, 5}};
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    uint8_t f[16];
    size_t o;
    int r;

    if (slen > 8)
        slen = 8;
    if (c == NULL)
        return GW_ENOMEM;
    r = md5_rounds(c, pw, plen, magic, salt, slen, f);
    EVP_MD_CTX_free(c);
    if (r != 0)
        return r;
    o = (size_t)snprintf(out, cap, "%s%.*s$", magic, (int)slen, salt);
    if (o + 23 > cap)
        return GW_ETOOBIG;
    for (int k = 0; k < 5; k++)
        to64(out, &o,
             (uint32_t)f[idx[k][0]] << 16 | (uint32_t)f[idx[k][1]] << 8 |
                 f[idx[k][2]],
             4);
    to64(out, &o, f[11], 2);
    out[o] = '\0';
    return (int)o;
}

/* ==== htpasswd hashes ==== */

static bool eq_ct(const char *a, const char *b)
{
    size_t n = strlen(a);

    return n == strlen(b) && CRYPTO_memcmp(a, b, n) == 0;
}

static bool check_sha(const char *hash, const char *pw, size_t plen)
{
    uint8_t d[20];
    char enc[40] = "{SHA}";

    if (EVP_Digest(pw, plen, d, NULL, EVP_sha1(), NULL) != 1)
        return false;
    b64_encode(d, sizeof(d), enc + 5);
    return eq_ct(enc, hash);
}

static bool check_md5(const char *hash, const char *pw, size_t plen)
{
    const char *magic = strncmp(hash, "$apr1$", 6) == 0 ? "$apr1$" : "$1$";
    const char *salt = hash + strlen(magic), *end = strchr(salt, '$');
    char out[128];

    if (end == NULL ||
        dp_filter__md5crypt(pw, plen, magic, salt, (size_t)(end - salt), out,
                            sizeof(out)) < 0)
        return false;
    return eq_ct(out, hash);
}

static bool check_bcrypt(const char *hash, const char *pw, size_t plen)
{
    struct crypt_data *cd;
    char *key, *r;
    bool ok = false;

    if (memchr(pw, '\0', plen) != NULL || (key = malloc(plen + 1)) == NULL)
        return false;
    memcpy(key, pw, plen);
    key[plen] = '\0';
    if ((cd = calloc(1, sizeof(*cd))) != NULL) {
        r = crypt_r(key, hash, cd);
        ok = r != NULL && r[0] == '$' && eq_ct(r, hash);
        free(cd);
    }
    OPENSSL_cleanse(key, plen);
    free(key);
    return ok;
}

static bool is_bcrypt(const char *h)
{
    return h[0] == '$' && h[1] == '2' &&
           (h[2] == 'a' || h[2] == 'b' || h[2] == 'y') && h[3] == '$';
}

bool dp_filter__htpasswd_check(const char *hash, const char *pw, size_t plen)
{
    if (strncmp(hash, "{SHA}", 5) == 0)
        return check_sha(hash, pw, plen);
    if (strncmp(hash, "$apr1$", 6) == 0 || strncmp(hash, "$1$", 3) == 0)
        return check_md5(hash, pw, plen);
    if (is_bcrypt(hash))
        return check_bcrypt(hash, pw, plen);
    return false;
}

static bool all_in(const char *s, size_t n, const char *alphabet)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] == '\0' || strchr(alphabet, s[i]) == NULL)
            return false;
    return true;
}

static int validate_md5(const char *h, size_t mlen, char *msg, size_t len)
{
    const char *salt = h + mlen, *end = strchr(salt, '$');
    size_t slen = end ? (size_t)(end - salt) : 0;

    if (end == NULL || slen == 0 || slen > 8)
        return cm_err_set(msg, len, GW_EINVAL, "MD5 hash: bad salt");
    if (strlen(end + 1) != 22 || !all_in(end + 1, 22, itoa64))
        return cm_err_set(msg, len, GW_EINVAL,
                          "MD5 hash: want 22 characters after the salt");
    return 0;
}

int dp_filter__htpasswd_validate(const char *h, char *msg, size_t len)
{
    uint8_t d[32];

    if (strncmp(h, "{SHA}", 5) == 0) {
        if (strlen(h + 5) != 28 || b64_decode(h + 5, 28, d) != 20)
            return cm_err_set(msg, len, GW_EINVAL,
                              "{SHA} hash: want base64 of 20 bytes");
        return 0;
    }
    if (strncmp(h, "$apr1$", 6) == 0)
        return validate_md5(h, 6, msg, len);
    if (strncmp(h, "$1$", 3) == 0)
        return validate_md5(h, 3, msg, len);
    if (is_bcrypt(h)) {
        /* length first: the cost digits are read only when present */
        bool ok = strlen(h) == 60 && h[4] >= '0' && h[4] <= '3' &&
                  h[5] >= '0' && h[5] <= '9' && h[6] == '$' &&
                  all_in(h + 7, 53, itoa64);
        int cost = ok ? (h[4] - '0') * 10 + (h[5] - '0') : 0;
        if (!ok || cost < 4 || cost > 31)
            return cm_err_set(msg, len, GW_EINVAL,
                              "bcrypt hash: want $2y$NN$ and 53 characters, "
                              "cost 04-31");
        return 0;
    }
    return cm_err_set(msg, len, GW_EINVAL,
                      "unknown hash format \"%.8s\" (want bcrypt $2y$, "
                      "{SHA} or $apr1$)",
                      h);
}

/* ==== the filter ==== */

static int user_cmp(const void *a, const void *b)
{
    const struct dp_filter__user *x = a, *y = b;
    int c = strcmp(x->name, y->name);

    return c ? c : x->idx < y->idx ? -1 : 1;
}

/* "user:hash" (exactly one ':', as Traefik's basicUserParser). */
static int parse_user(const char *s, struct dp_filter__user *u, char *msg,
                      size_t len)
{
    const char *c = strchr(s, ':');

    if (c == NULL || strchr(c + 1, ':') != NULL || c == s)
        return cm_err_set(msg, len, GW_EINVAL, "want \"user:hash\"");
    if (dp_filter__htpasswd_validate(c + 1, msg, len) != 0)
        return GW_EINVAL;
    u->name = strndup(s, (size_t)(c - s));
    u->hash = strdup(c + 1);
    if (u->name == NULL || u->hash == NULL)
        return cm_err_set(msg, len, GW_ENOMEM, "out of memory");
    return 0;
}

/* Sorts and keeps the last entry of each name (Traefik's map overwrite). */
static void dedup(struct dp_filter__auth *a)
{
    size_t o = 0;

    for (size_t i = 0; i < a->n_users; i++) {
        if (i + 1 < a->n_users &&
            strcmp(a->users[i].name, a->users[i + 1].name) == 0) {
            free(a->users[i].name);
            free(a->users[i].hash);
            continue;
        }
        a->users[o++] = a->users[i];
    }
    a->n_users = o;
}

static int auth_fill(struct dp_filter__bctx *b, FV1(BasicAuth) * m,
                     struct dp_filter__auth *a)
{
    const char *realm = m->realm && m->realm[0] ? m->realm : "traefik";
    char msg[CM_ERR_LEN];
    size_t wl = strlen(realm) + 16;

    if (m->n_users == 0)
        return cm_err_set(b->err, b->len, GW_EINVAL, "%s: users is empty",
                          b->name);
    if (strpbrk(realm, "\"\r\n") != NULL)
        return cm_err_set(b->err, b->len, GW_EINVAL,
                          "%s: realm must not contain '\"' or a line break",
                          b->name);
    if ((a->users = calloc(m->n_users, sizeof(*a->users))) == NULL ||
        (a->www_auth = malloc(wl)) == NULL)
        return cm_err_set(b->err, b->len, GW_ENOMEM, "out of memory");
    snprintf(a->www_auth, wl, "Basic realm=\"%s\"", realm);
    for (size_t i = 0; i < m->n_users; i++) {
        a->n_users = i + 1;
        a->users[i].idx = i;
        if (parse_user(m->users[i], &a->users[i], msg, sizeof(msg)) != 0)
            return cm_err_set(b->err, b->len, GW_EINVAL, "%s: users[%zu]: %s",
                              b->name, i, msg);
    }
    qsort(a->users, a->n_users, sizeof(*a->users), user_cmp);
    dedup(a);
    a->remove_header = m->remove_header;
    return 0;
}

int dp_filter__auth_build(struct dp_filter__bctx *b, const void *pb, size_t n,
                          struct dp_filter_chain *ch)
{
    FV1(BasicAuth) *m = traefikee__filters__v1__basic_auth__unpack(NULL, n, pb);
    struct dp_filter__auth *a;
    int r;

    if (m == NULL)
        return cm_err_set(b->err, b->len, GW_EINVAL,
                          "%s: cannot decode BasicAuth", b->name);
    if ((a = calloc(1, sizeof(*a))) == NULL)
        r = cm_err_set(b->err, b->len, GW_ENOMEM, "out of memory");
    else if ((r = auth_fill(b, m, a)) == 0)
        ch->auth = a;
    else
        dp_filter__auth_free(a);
    traefikee__filters__v1__basic_auth__free_unpacked(m, NULL);
    return r;
}

void dp_filter__auth_free(struct dp_filter__auth *a)
{
    if (a == NULL)
        return;
    for (size_t i = 0; i < a->n_users; i++) {
        free(a->users[i].name);
        free(a->users[i].hash);
    }
    free(a->users);
    free(a->www_auth);
    free(a);
}

/* Decodes the Basic credentials into <buf>; returns the ':' position or
 * -1 (Go's Request.BasicAuth). */
static long credentials(const struct dp_filter_req *req, uint8_t *buf,
                        size_t cap, size_t *n)
{
    struct dp_router_slice v;
    long dl;
    uint8_t *c;

    if (!dp_filter__header(req->rq, "authorization", &v) || v.len < 6 ||
        strncasecmp(v.ptr, "Basic ", 6) != 0 || (v.len - 6) / 4 * 3 > cap)
        return -1;
    if ((dl = b64_decode(v.ptr + 6, v.len - 6, buf)) < 0)
        return -1;
    *n = (size_t)dl;
    c = memchr(buf, ':', *n);
    return c ? (long)(c - buf) : -1;
}

static const struct dp_filter__user *find_user(const struct dp_filter__auth *a,
                                               const uint8_t *name, size_t n)
{
    size_t lo = 0, hi = a->n_users;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const char *u = a->users[mid].name;
        size_t ul = strlen(u);
        int c = memcmp(u, name, ul < n ? ul : n);
        if (c == 0)
            c = ul < n ? -1 : ul > n ? 1 : 0;
        if (c == 0)
            return &a->users[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

int dp_filter__auth_run(const struct dp_filter__auth *a,
                        const struct dp_filter_req *req,
                        struct dp_filter_ctx *ctx)
{
    uint8_t buf[1536];
    size_t n = 0;
    long colon = credentials(req, buf, sizeof(buf), &n);
    const struct dp_filter__user *u = NULL;
    bool ok = false;

    if (colon >= 0 && (u = find_user(a, buf, (size_t)colon)) != NULL)
        ok = dp_filter__htpasswd_check(u->hash, (const char *)buf + colon + 1,
                                       n - (size_t)colon - 1);
    OPENSSL_cleanse(buf, sizeof(buf));
    if (ok) {
        ctx->drop_authorization = a->remove_header;
        return DP_FILTER_CONTINUE;
    }
    size_t wl = strlen(a->www_auth);
    char *w = dp_filter__put(ctx, a->www_auth, wl);

    if (w == NULL)
        return dp_filter__respond(ctx, 500, "Internal Server Error");
    dp_filter__resp_hdr(ctx, "WWW-Authenticate", w, wl);
    dp_filter__resp_hdr(ctx, "Content-Type", "text/plain", 10);
    return dp_filter__respond(ctx, 401, "401 Unauthorized\n");
}
