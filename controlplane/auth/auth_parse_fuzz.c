/*
 * auth_parse_fuzz.c -- libFuzzer target for the hash-string parser and the
 * session-token check: any bytes, no crash, and what parses stays within
 * the bounds of auth-t.h.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "controlplane/auth/auth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cp_auth_hash h;
    uint8_t out[256];
    char *s = malloc(size + 1);

    if (s == NULL)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    if (cp_auth_parse(s, &h) == 0) {
        if (h.salt_len < CP_AUTH_SALT_MIN || h.salt_len > CP_AUTH_SALT_MAX ||
            h.dk_len < CP_AUTH_DK_MIN || h.dk_len > CP_AUTH_DK_MAX)
            abort();
        if (h.alg == CP_AUTH_SCRYPT &&
            (h.params.log2_n > CP_AUTH_SCRYPT_LOG2N_MAX ||
             h.params.r > CP_AUTH_SCRYPT_R_MAX))
            abort();
    }
    (void)cp_auth_session_check("$scrypt$x", s, 0);
    (void)cp_auth_b64_decode(s, size, 0, out, sizeof(out));
    (void)cp_auth_b64_decode(s, size, 1, out, sizeof(out));
    free(s);
    return 0;
}
