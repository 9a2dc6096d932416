/*
 * strset.c -- the sorted string set (see strset.h). Not thread-safe: one
 * owner at a time.
 */
#include "common/strset/strset.h"

#include <stdlib.h>
#include <string.h>

size_t cm_strset_pos(const struct cm_strset *set, const char *s, bool *found)
{
    size_t lo = 0, hi = set->n;

    *found = false;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(set->v[mid], s);
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

bool cm_strset_has(const struct cm_strset *set, const char *s)
{
    bool found;

    cm_strset_pos(set, s, &found);
    return found;
}

int cm_strset_add(struct cm_strset *set, const char *s)
{
    bool found;
    size_t at = cm_strset_pos(set, s, &found);
    char *copy;

    if (found)
        return GW_OK;
    if (set->n == set->cap) {
        size_t cap = set->cap ? set->cap * 2 : 4;
        char **v = realloc(set->v, cap * sizeof(*v));
        if (v == NULL)
            return GW_ENOMEM;
        set->v = v;
        set->cap = cap;
    }
    if ((copy = strdup(s)) == NULL)
        return GW_ENOMEM;
    memmove(&set->v[at + 1], &set->v[at], (set->n - at) * sizeof(*set->v));
    set->v[at] = copy;
    set->n++;
    return GW_OK;
}

bool cm_strset_del(struct cm_strset *set, const char *s)
{
    bool found;
    size_t at = cm_strset_pos(set, s, &found);

    if (!found)
        return false;
    free(set->v[at]);
    memmove(&set->v[at], &set->v[at + 1], (set->n - at - 1) * sizeof(*set->v));
    set->n--;
    return true;
}

void cm_strset_clear(struct cm_strset *set)
{
    for (size_t i = 0; i < set->n; i++)
        free(set->v[i]);
    set->n = 0;
}

void cm_strset_deinit(struct cm_strset *set)
{
    cm_strset_clear(set);
    free(set->v);
    cm_strset_init(set);
}

int cm_strset_copy(struct cm_strset *dst, const struct cm_strset *src)
{
    cm_strset_clear(dst);
    for (size_t i = 0; i < src->n; i++)
        if (cm_strset_add(dst, src->v[i]) != GW_OK)
            return GW_ENOMEM;
    return GW_OK;
}

int cm_strset_diff(struct cm_strset *out, const struct cm_strset *a,
                   const struct cm_strset *b)
{
    cm_strset_clear(out);
    for (size_t i = 0; i < a->n; i++)
        if (!cm_strset_has(b, a->v[i]) && cm_strset_add(out, a->v[i]) != GW_OK)
            return GW_ENOMEM;
    return GW_OK;
}

bool cm_strset_equal(const struct cm_strset *a, const struct cm_strset *b)
{
    if (a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->v[i], b->v[i]) != 0)
            return false;
    return true;
}
