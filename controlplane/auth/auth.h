/*
 * auth.h -- the dashboard's credentials: generating the admin password,
 * hashing it with a slow KDF from OpenSSL (scrypt by default, PBKDF2-SHA256
 * understood), verifying a password in constant time, and stateless
 * session tokens signed with a key derived from the stored hash (so every
 * control node accepts a token another one issued, and changing the
 * password ends every session). Types in auth-t.h.
 *
 * Pure functions, any thread. Storing the hash is the caller's business.
 * Hashing and verifying are slow on purpose: keep them off event loops
 * (uv_queue_work).
 */
#ifndef CP_AUTH_H
#define CP_AUTH_H

#include <stdint.h>

#include "common/err/err.h"
#include "controlplane/auth/auth-t.h"

/* Writes a new random password of CP_AUTH_PASSWORD_LEN characters (letters
 * and digits without look-alikes, ~110 bits from RAND_bytes) and a NUL into
 * <out> of <len> > CP_AUTH_PASSWORD_LEN bytes. Returns 0, GW_EINVAL (buffer
 * too small) or GW_EIO (no randomness). */
int cp_auth_generate_password(char *out, size_t len) CM_MUST_CHECK;

/* Hashes <password> (borrowed) with a fresh random salt and writes the
 * self-describing string into <out> of <len> bytes (CP_AUTH_HASH_MAX is
 * enough). <params> may be NULL (defaults). Returns 0, GW_EINVAL (bad
 * params, small buffer), GW_EIO (no randomness) or GW_ENOMEM. */
int cp_auth_hash(const char *password, const struct cp_auth_params *params,
                 char *out, size_t len) CM_MUST_CHECK;

/* Takes the string <s> apart into <out>, checking the format and the bounds
 * in auth-t.h. Returns 0 or GW_EINVAL. */
int cp_auth_parse(const char *s, struct cp_auth_hash *out) CM_MUST_CHECK;

/* Checks <password> against the hash string <encoded> (both borrowed),
 * comparing with CRYPTO_memcmp. Returns 1 (match), 0 (no match), GW_EINVAL
 * (malformed hash string) or GW_ENOMEM. */
int cp_auth_verify(const char *password, const char *encoded) CM_MUST_CHECK;

/* Writes a session token for the hash <encoded> valid until <now_s> +
 * <ttl_s> (unix seconds) into <out> of <len> bytes (CP_AUTH_TOKEN_MAX is
 * enough): "v1.EXPIRY.NONCE.MAC", cookie-safe characters. Returns 0,
 * GW_EINVAL or GW_EIO. */
int cp_auth_session_new(const char *encoded, int64_t now_s, int64_t ttl_s,
                        char *out, size_t len) CM_MUST_CHECK;

/* Checks a token from a cookie against the hash <encoded>: 1 if it was
 * signed for this hash and has not expired at <now_s>, else 0. Constant
 * time in the MAC. Fast (one HMAC): fine on a loop. */
int cp_auth_session_check(const char *encoded, const char *token,
                          int64_t now_s);

/* A keyed digest of (<user>, <password>) under a key derived from
 * <encoded>, for remembering credentials already verified without keeping
 * the password. Writes 32 bytes into <out>. Returns 0 or GW_ENOMEM. */
int cp_auth_cred_digest(const char *encoded, const char *user,
                        const char *password, uint8_t out[32]) CM_MUST_CHECK;

/* true when the <n> bytes at <a> and <b> are equal; constant time. */
int cp_auth_equal(const void *a, const void *b, size_t n);

/* ==== base64, standard (PHC) or URL alphabet, no padding ==== */

/* Writes <n> bytes at <in> as base64 and a NUL into <out> of <len> bytes.
 * Returns the characters written or GW_ETOOBIG. */
int cp_auth_b64_encode(const uint8_t *in, size_t n, int url, char *out,
                       size_t len);

/* Decodes <n> characters at <in> (no padding, no whitespace, canonical
 * trailing bits) into <out> of <cap> bytes. Returns the bytes written,
 * GW_EINVAL or GW_ETOOBIG. */
int cp_auth_b64_decode(const char *in, size_t n, int url, uint8_t *out,
                       size_t cap);

#endif
