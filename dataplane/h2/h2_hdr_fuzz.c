/*
 * h2_hdr_fuzz.c -- fuzzes the header translations: the input is split at
 * NUL bytes into name/value pairs (first four: method, scheme, authority,
 * path) for dp_h2_req_to_h1 and dp_h2_resp_to_h1; the same bytes go
 * through the "Name: value" line parser and grpc-timeout parsing, and as
 * an HTTP/1.1 head through dp_h2_req_from_h1 / dp_h2_resp_from_h1.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/http1/http1.h"
#include "dataplane/h2/h2.h"

#define NF 64

static void h2_side(const uint8_t *data, size_t size)
{
    struct dp_h2_slice s[2 * NF + 4];
    struct dp_h2_field f[NF];
    struct dp_h2_head h = {.content_length = -1};
    struct dp_h2_h1req o = {.client = {"1.2.3.4", 7}, .chunked = size & 1};
    size_t k = 0, start = 0;
    static char out[65536];

    for (size_t i = 0; i <= size && k < 2 * NF + 4; i++) {
        if (i == size || data[i] == 0) {
            s[k++] =
                (struct dp_h2_slice){(const char *)data + start, i - start};
            start = i + 1;
        }
    }
    if (k < 4)
        return;
    h.method = s[0];
    h.scheme = s[1];
    h.authority = s[2];
    h.path = s[3];
    for (size_t i = 4; i + 1 < k; i += 2) {
        f[h.n].name = s[i];
        f[h.n++].value = s[i + 1];
    }
    h.f = f;
    dp_h2_req_to_h1(&h, &o, out, sizeof(out));
    dp_h2_req_to_h1(&h, &o, out, 64);
    h.status = (int)size;
    dp_h2_resp_to_h1(&h, true, out, sizeof(out));
    dp_h2_trailers_to_h1(f, h.n, out, sizeof(out));
}

static void h1_side(const uint8_t *data, size_t size)
{
    char *buf = malloc(size + 1);
    struct cm_h1_hdr hd[NF];
    struct dp_h2_field f[NF];
    struct cm_h1_req q;
    struct cm_h1_resp r;
    char st[4];
    size_t n = 0;
    uint64_t ms;

    memcpy(buf, data, size);
    dp_h2_fields_from_lines(buf, size, f, NF, &n);
    dp_h2_grpc_timeout_ms(buf, size, &ms);
    memcpy(buf, data, size);
    cm_h1_req_init(&q, hd, NF, NULL);
    if (cm_h1_req_parse(&q, buf, size) > 0)
        dp_h2_req_from_h1(&q, buf, f, NF);
    memcpy(buf, data, size);
    cm_h1_resp_init(&r, hd, NF, NULL);
    cm_h1_resp_reset(&r, CM_H1_M_GET);
    if (cm_h1_resp_parse(&r, buf, size) > 0)
        dp_h2_resp_from_h1(&r, buf, st, f, NF);
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    h2_side(data, size);
    h1_side(data, size);
    return 0;
}
