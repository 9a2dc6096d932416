/*
 * addr_fuzz.c -- libFuzzer target for the store's text parsers: endpoint,
 * sentinel list, events message, Sentinel events and INFO replication. Checks
 * that a parsed address formats back into a string that parses to the same
 * address.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "controlplane/store/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cp_store_addr a, b, list[CP_STORE_MAX_SENTINELS];
    char *s = malloc(size + 1), buf[400];
    uint64_t rev;
    size_t n;

    if (s == NULL)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    if (cp_store_parse_addr(s, &a) == 0) {
        cp_store_addr_str(&a, buf, sizeof(buf));
        if (cp_store_parse_addr(buf, &b) != 0 || a.kind != b.kind ||
            a.port != b.port || strcmp(a.host, b.host) != 0 ||
            strcmp(a.path, b.path) != 0)
            abort();
    }
    (void)cp_store_parse_sentinels(s, list, CP_STORE_MAX_SENTINELS, &n);
    (void)cp_store_parse_event((const char *)data, size, &rev);
    (void)cp_store_info_online((const char *)data, size, 2);
    for (size_t i = 0; cp_store_sentinel_channels[i] != NULL; i++)
        (void)cp_store_sentinel_event(cp_store_sentinel_channels[i],
                                      (const char *)data, size, "mymaster", &a,
                                      &b);
    free(s);
    return 0;
}
