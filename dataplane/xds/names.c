/*
 * names.c -- the parser of the --control list, and string vectors. Pure; any
 * thread.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/xds/xds_int.h"

void dp_xds__strv_free(char **v, size_t n)
{
    if (v == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static int check_hostport(const char *hp, size_t n, char *err, size_t len)
{
    const char *colon = memrchr(hp, ':', n);
    if (colon == NULL || colon == hp)
        return cm_err_set(err, len, GW_EINVAL,
                          "control node \"%.*s\": want HOST:PORT", (int)n, hp);
    const char *p = colon + 1;
    size_t plen = n - (size_t)(p - hp);
    unsigned long port = 0;
    for (size_t i = 0; i < plen; i++) {
        if (p[i] < '0' || p[i] > '9' || port > 65535)
            return cm_err_set(err, len, GW_EINVAL,
                              "control node \"%.*s\": bad port", (int)n, hp);
        port = port * 10 + (unsigned long)(p[i] - '0');
    }
    if (plen == 0 || port == 0 || port > 65535)
        return cm_err_set(err, len, GW_EINVAL,
                          "control node \"%.*s\": bad port", (int)n, hp);
    return GW_OK;
}

int dp_xds__parse_control(const char *s, char ***out, char *err, size_t len)
{
    size_t cap = 1, n = 0;
    for (const char *p = s; *p; p++)
        cap += *p == ',';
    char **v = calloc(cap, sizeof(*v));
    if (v == NULL)
        return GW_ENOMEM;
    const char *p = s;
    while (1) {
        const char *end = strchr(p, ',');
        size_t l = end ? (size_t)(end - p) : strlen(p);
        if (l > 0) {
            int rc = check_hostport(p, l, err, len);
            if (rc != 0) {
                dp_xds__strv_free(v, n);
                return rc;
            }
            v[n] = strndup(p, l);
            if (v[n++] == NULL) {
                dp_xds__strv_free(v, n);
                return GW_ENOMEM;
            }
        }
        if (end == NULL)
            break;
        p = end + 1;
    }
    if (n == 0) {
        free(v);
        return cm_err_set(err, len, GW_EINVAL, "no control node given");
    }
    *out = v;
    return (int)n;
}
