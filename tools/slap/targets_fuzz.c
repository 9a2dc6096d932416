/*
 * targets_fuzz.c -- libFuzzer target for the targets-file parser and the
 * request renderer (bodies excepted: no files), and the duration parser
 * on the first line.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tools/slap/slap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sl_targets t;
    struct sl_req_opts ro = {NULL, 0, NULL};
    char err[CM_ERR_LEN], line[64];
    size_t n = size < sizeof(line) - 1 ? size : sizeof(line) - 1;
    uint64_t us;

    memcpy(line, data, n);
    line[n] = '\0';
    line[strcspn(line, "\n")] = '\0';
    if (sl_dur_parse(line, &us) == 0)
        sl_dur_format(us, line, sizeof(line));

    sl_targets_init(&t);
    if (sl_targets_parse(&t, (const char *)data, size, err, sizeof(err)) == 0) {
        for (size_t i = 0; i < t.n; i++) { /* no files from fuzz input */
            free(t.v[i].body_path);
            t.v[i].body_path = NULL;
        }
        if (sl_targets_build(&t, &ro, err, sizeof(err)) == 0 &&
            (t.nendpoints == 0 || t.v[0].req == NULL))
            abort();
    }
    sl_targets_deinit(&t);
    return 0;
}
