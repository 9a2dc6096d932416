/*
 * request_fuzz.c -- libFuzzer target for the request helpers: the input
 * is used as a form body, a query, a Cookie header and an Authorization
 * header. No crash, and results stay within the buffers.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "controlplane/http/http-int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cp_http__slice s = {(const char *)data, size};
    char a[64], b[64];
    int n;

    if ((n = cp_http__form_get(s, "password", a, sizeof(a))) >= 0 &&
        (size_t)n != strlen(a))
        abort();
    (void)cp_http__form_get(s, "", a, sizeof(a));
    if ((n = cp_http__cookie_get(s, "traefikee_session", a, sizeof(a))) >= 0 &&
        (size_t)n >= sizeof(a))
        abort();
    if (cp_http__basic_parse(s, a, sizeof(a), b, sizeof(b)) == 0 &&
        (strlen(a) >= sizeof(a) || strlen(b) >= sizeof(b)))
        abort();
    (void)cp_http__pct_decode(s, true, a, sizeof(a));
    return 0;
}
