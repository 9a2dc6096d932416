/*
 * pki_open_fuzz.c -- libFuzzer target for cm_pki_open with a fixed cluster
 * key: any bytes are refused or open to a NUL-terminated plaintext.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/pki/pki.h"

#define KEY "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[CM_ERR_LEN], *out = NULL;
    char *s = malloc(size + 1);
    size_t n = 0;

    if (s == NULL)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    if (cm_pki_open(KEY, s, &out, &n, err, sizeof(err)) == GW_OK) {
        if (out == NULL || out[n] != '\0')
            abort();
        free(out);
    }
    free(s);
    return 0;
}
