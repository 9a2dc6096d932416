/*
 * names.c -- sorted string lists (subscriptions, referenced clusters) and
 * the parser of the --control list. Pure; any thread.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/xds/xds_int.h"

static size_t names_pos(const struct dp_xds__names *l, const char *s,
                        bool *found)
{
    size_t lo = 0, hi = l->n;
    *found = false;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(l->v[mid], s);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

int dp_xds__names_add(struct dp_xds__names *l, const char *s)
{
    bool found;
    size_t at = names_pos(l, s, &found);
    if (found)
        return GW_OK;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 4;
        char **v = realloc(l->v, cap * sizeof(*v));
        if (v == NULL)
            return GW_ENOMEM;
        l->v = v;
        l->cap = cap;
    }
    char *copy = strdup(s);
    if (copy == NULL)
        return GW_ENOMEM;
    memmove(&l->v[at + 1], &l->v[at], (l->n - at) * sizeof(*l->v));
    l->v[at] = copy;
    l->n++;
    return GW_OK;
}

bool dp_xds__names_has(const struct dp_xds__names *l, const char *s)
{
    bool found;
    names_pos(l, s, &found);
    return found;
}

void dp_xds__names_del(struct dp_xds__names *l, const char *s)
{
    bool found;
    size_t at = names_pos(l, s, &found);
    if (!found)
        return;
    free(l->v[at]);
    memmove(&l->v[at], &l->v[at + 1], (l->n - at - 1) * sizeof(*l->v));
    l->n--;
}

void dp_xds__names_clear(struct dp_xds__names *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    l->n = 0;
}

void dp_xds__names_deinit(struct dp_xds__names *l)
{
    dp_xds__names_clear(l);
    free(l->v);
    l->v = NULL;
    l->cap = 0;
}

int dp_xds__names_copy(struct dp_xds__names *dst,
                       const struct dp_xds__names *src)
{
    dp_xds__names_clear(dst);
    for (size_t i = 0; i < src->n; i++)
        if (dp_xds__names_add(dst, src->v[i]) != 0)
            return GW_ENOMEM;
    return GW_OK;
}

int dp_xds__names_diff(struct dp_xds__names *out, const struct dp_xds__names *a,
                       const struct dp_xds__names *b)
{
    dp_xds__names_clear(out);
    for (size_t i = 0; i < a->n; i++)
        if (!dp_xds__names_has(b, a->v[i]) &&
            dp_xds__names_add(out, a->v[i]) != 0)
            return GW_ENOMEM;
    return GW_OK;
}

bool dp_xds__names_equal(const struct dp_xds__names *a,
                         const struct dp_xds__names *b)
{
    if (a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->v[i], b->v[i]) != 0)
            return false;
    return true;
}

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
