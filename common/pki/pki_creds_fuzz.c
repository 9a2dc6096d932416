/*
 * pki_creds_fuzz.c -- libFuzzer target for cm_pki_creds_parse: any bytes
 * are refused, or give a complete bundle that formats and parses again.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/pki/pki.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cm_pki_creds c, again;
    char err[CM_ERR_LEN], *text = NULL;
    char *s = malloc(size + 1);

    if (s == NULL)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    if (cm_pki_creds_parse(s, &c, err, sizeof(err)) == GW_OK) {
        if (c.ca == NULL || c.cert == NULL || c.key == NULL ||
            cm_pki_creds_format(&c, &text) != GW_OK ||
            cm_pki_creds_parse(text, &again, err, sizeof(err)) != GW_OK)
            abort();
        cm_pki_creds_clear(&again);
        free(text);
        cm_pki_creds_clear(&c);
    }
    free(s);
    return 0;
}
