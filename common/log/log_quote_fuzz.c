/*
 * log_quote_fuzz.c -- libFuzzer target for cm_log_quote: whatever the input
 * and the buffer size, the output is terminated, fits, and is either the
 * input unchanged or a closed quoted string.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/log/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s, buf[64];
    size_t len, n;

    if (size < 1)
        return 0;
    len = 1 + data[0] % sizeof(buf);
    s = malloc(size);
    if (s == NULL)
        return 0;
    memcpy(s, data + 1, size - 1);
    s[size - 1] = '\0';
    cm_log_quote(buf, len, s);
    n = strlen(buf);
    if (n >= len)
        abort();
    if (n > 0 && buf[0] == '"' && (n < 2 || buf[n - 1] != '"'))
        abort();
    free(s);
    return 0;
}
