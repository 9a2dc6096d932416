/*
 * config_fuzz.c -- libFuzzer target for cm_config_parse: any input either
 * fails with a message or gives a model whose JSON form parses again into
 * the same JSON (so printer and decoder agree on every key and value).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[CM_ERR_LEN];
    struct cm_config *cfg, *again;
    char *js = NULL, *js2 = NULL;

    err[0] = '\0';
    cfg = cm_config_parse((const char *)data, size, err, sizeof(err));
    if (cfg == NULL) {
        if (err[0] == '\0')
            abort(); /* every failure says why */
        return 0;
    }
    if (cm_config_to_json(cfg, &js) != GW_OK)
        abort();
    again = cm_config_parse(js, strlen(js), err, sizeof(err));
    if (again == NULL) {
        fprintf(stderr, "JSON output rejected: %s\n%s\n", err, js);
        abort();
    }
    if (cm_config_to_json(again, &js2) != GW_OK || strcmp(js, js2) != 0) {
        fprintf(stderr, "round trip differs:\n%s\n---\n%s\n", js, js2);
        abort();
    }
    free(js);
    free(js2);
    cm_config_free(again);
    cm_config_free(cfg);
    return 0;
}
