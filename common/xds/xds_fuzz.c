/*
 * xds_fuzz.c -- libFuzzer target: a YAML/JSON document goes through
 * cm_config_parse(), cm_xds_translate(), the encoding of every resource and
 * the JSON view. Must never crash, leak or read out of bounds.
 */
#include <stdint.h>
#include <stdlib.h>

#include "common/config/config.h"
#include "common/xds/xds.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[CM_ERR_LEN];
    struct cm_config *cfg =
        cm_config_parse((const char *)data, size, err, sizeof(err));
    if (cfg == NULL)
        return 0;
    struct cm_xds_resources *res = cm_xds_translate(cfg, "1", err, sizeof(err));
    cm_config_free(cfg);
    if (res == NULL)
        return 0;
    for (int t = 0; t < CM_XDS_NTYPES; t++) {
        for (size_t i = 0; i < cm_xds_count(res, t); i++) {
            uint8_t *buf;
            size_t len;
            if (cm_xds_encode(cm_xds_get(res, t, i), &buf, &len) == 0)
                free(buf);
        }
    }
    json_decref(cm_xds_to_json(res));
    cm_xds_resources_free(res);
    return 0;
}
