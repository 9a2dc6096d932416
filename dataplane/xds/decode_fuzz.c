/*
 * decode_fuzz.c -- libFuzzer target for what the data node reads from
 * outside: DiscoveryResponse and DeltaDiscoveryResponse bytes (from a control
 * node) and the on-disk cache image. The first byte picks the parser.
 *
 * Checks: no crash or leak; a decode failure always says why; an accepted
 * update applies to a resource set whose cache image decodes back to a set
 * with the same image (encode -> decode -> encode is stable).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/xds/xds_int.h"

static void check_cache_roundtrip(const struct dp_xds__set *s)
{
    struct dp_xds__set back;
    uint8_t *a = NULL, *b = NULL;
    size_t alen, blen;
    char err[CM_ERR_LEN];

    if (dp_xds__cache_encode(s, &a, &alen) != GW_OK)
        return;
    dp_xds__set_init(&back);
    if (dp_xds__cache_decode(a, alen, &back, err, sizeof(err)) != GW_OK)
        abort(); /* our own image must decode */
    if (dp_xds__cache_encode(&back, &b, &blen) != GW_OK)
        abort();
    if (alen != blen || memcmp(a, b, alen) != 0)
        abort();
    free(a);
    free(b);
    dp_xds__set_deinit(&back);
}

static void fuzz_update(const uint8_t *data, size_t size, int delta)
{
    struct dp_xds__update u;
    struct dp_xds__set s;
    char err[CM_ERR_LEN] = "";
    int rc;

    rc = delta ? dp_xds__update_delta(data, size, &u, err, sizeof(err))
               : dp_xds__update_sotw(data, size, &u, err, sizeof(err));
    if (rc != GW_OK) {
        if (err[0] == '\0')
            abort(); /* a NACK needs an error_detail */
        dp_xds__update_deinit(&u);
        return;
    }
    dp_xds__set_init(&s);
    if (dp_xds__set_apply(&s, &u) == GW_OK)
        check_cache_roundtrip(&s);
    dp_xds__update_deinit(&u);
    dp_xds__set_deinit(&s);
}

static void fuzz_cache(const uint8_t *data, size_t size)
{
    struct dp_xds__set s;
    char err[CM_ERR_LEN];

    dp_xds__set_init(&s);
    if (dp_xds__cache_decode(data, size, &s, err, sizeof(err)) == GW_OK)
        check_cache_roundtrip(&s);
    dp_xds__set_deinit(&s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    switch (data[0] % 3) {
    case 0:
        fuzz_update(data + 1, size - 1, 0);
        break;
    case 1:
        fuzz_update(data + 1, size - 1, 1);
        break;
    default:
        fuzz_cache(data + 1, size - 1);
    }
    return 0;
}
