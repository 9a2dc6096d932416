/*
 * strset.h -- a sorted set of owned strings (binary search, insertion by
 * memmove): for the small name sets of xDS subscriptions, where sets hold
 * tens of names and are compared and walked in order.
 *
 * The set owns copies of its strings. Embedded: cm_strset_init/deinit.
 */
#ifndef CM_STRSET_H
#define CM_STRSET_H

#include <stdbool.h>
#include <stddef.h>

#include "common/err/err.h"

struct cm_strset {
    char **v; /* sorted by strcmp; owned */
    size_t n, cap;
};

static inline void cm_strset_init(struct cm_strset *set)
{
    set->v = NULL;
    set->n = set->cap = 0;
}

/* Frees every string and the array; the set is empty and reusable. */
void cm_strset_deinit(struct cm_strset *set);

/* Removes every string, keeping the array. */
void cm_strset_clear(struct cm_strset *set);

bool cm_strset_has(const struct cm_strset *set, const char *s);

/* Adds a copy of <s> (borrowed) unless present. Returns 0 or GW_ENOMEM. */
int cm_strset_add(struct cm_strset *set, const char *s) CM_MUST_CHECK;

/* Removes <s> if present; returns true if it was. */
bool cm_strset_del(struct cm_strset *set, const char *s);

/* Makes <dst> a copy of <src>. Returns 0 or GW_ENOMEM. */
int cm_strset_copy(struct cm_strset *dst,
                   const struct cm_strset *src) CM_MUST_CHECK;

/* <out> (cleared first) = the strings of <a> not in <b>. */
int cm_strset_diff(struct cm_strset *out, const struct cm_strset *a,
                   const struct cm_strset *b) CM_MUST_CHECK;

bool cm_strset_equal(const struct cm_strset *a, const struct cm_strset *b);

/* Index where <s> is or would be inserted; *found says which. */
size_t cm_strset_pos(const struct cm_strset *set, const char *s, bool *found);

#endif
