/*
 * pki_token_fuzz.c -- libFuzzer target for cm_pki_token_parse: any bytes
 * are refused or parse into a token that formats and parses back the same.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/pki/pki.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cm_pki_token t, again;
    char err[CM_ERR_LEN], text[CM_PKI_TOKEN_MAX];
    char *s = malloc(size + 1);

    if (s == NULL)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    if (cm_pki_token_parse(s, &t, err, sizeof(err)) == GW_OK) {
        if (cm_pki_token_format(&t, text, sizeof(text)) != GW_OK ||
            cm_pki_token_parse(text, &again, err, sizeof(err)) != GW_OK ||
            memcmp(&t, &again, sizeof(t)) != 0)
            abort();
    }
    free(s);
    return 0;
}
