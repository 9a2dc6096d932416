/*
 * scrape_fuzz.c -- fuzz target of cp_node__scrape_parse(): arbitrary bytes
 * as the answer to GET /stats, fed whole and then in two pieces with EOF.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/http1/http1.h"
#include "controlplane/node/node_int.h"

static void run(const char *p, size_t n, size_t cut)
{
    struct cm_h1_hdr hdrs[32];
    struct cm_h1_resp resp;
    json_t *out = NULL;

    cm_h1_resp_init(&resp, hdrs, 32, NULL);
    cm_h1_resp_reset(&resp, CM_H1_M_GET);
    if (cut < n && cp_node__scrape_parse(&resp, p, cut, false, &out) != 0) {
        json_decref(out);
        return;
    }
    cp_node__scrape_parse(&resp, p, n, true, &out);
    json_decref(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    run((const char *)data, size, size);
    run((const char *)data, size, size / 2);
    return 0;
}
