/*
 * rule_int.h -- internals shared by the files of common/rule: the arena that
 * holds a rule's nodes and strings (or a DNF's), a growable output buffer,
 * matcher argument validation and the printer of one matcher. Not for other
 * modules; names are cm_rule__*.
 */
#ifndef CM_RULE_INT_H
#define CM_RULE_INT_H

#include "common/rule/rule-t.h"

#include <stddef.h>

/* ==== Arena: many small allocations freed at once ==== */

struct cm_rule__chunk;

struct cm_rule__arena {
    struct cm_rule__chunk *head; /* owned list of chunks, newest first */
};

/* Returns zeroed memory of <n> bytes owned by <a>, or NULL if out of
 * memory. Aligned for any type. */
void *cm_rule__alloc(struct cm_rule__arena *a, size_t n);

/* Returns a NUL-terminated copy of <n> bytes of <s> owned by <a>, or NULL. */
char *cm_rule__strndup(struct cm_rule__arena *a, const char *s, size_t n);

/* Frees every chunk of <a>; <a> is empty and reusable afterwards. */
void cm_rule__arena_free(struct cm_rule__arena *a);

/* ==== Output buffer ==== */

struct cm_rule__buf {
    char *p;    /* owned; NUL-terminated when not NULL */
    size_t len; /* bytes before the NUL */
    size_t cap;
    int oom; /* an append failed: the contents are incomplete */
};

void cm_rule__buf_putn(struct cm_rule__buf *b, const char *s, size_t n);
void cm_rule__buf_puts(struct cm_rule__buf *b, const char *s);
/* Returns the buffer's string (the caller owns it; free with free()), or
 * NULL if an append failed; either way <b> is empty afterwards. */
char *cm_rule__buf_finish(struct cm_rule__buf *b);

/* Appends Name(`arg`, ...) to <b>, with "!" in front if <negated>. */
void cm_rule__put_matcher(struct cm_rule__buf *b, enum cm_rule_matcher m,
                          int negated, const char *const *args, size_t nargs);

/* ==== Validation ==== */

/* Checks argument <i> of a matcher <m> and normalises it in place (Host is
 * lower-cased, Method upper-cased). Returns 0, or -1 with a message (no
 * column) in <msg>. */
int cm_rule__check_arg(enum cm_rule_matcher m, size_t i, char *arg, char *msg,
                       size_t msglen);

/* 1 if a multi-argument use of <m> means OR of single values (v2 style). */
int cm_rule__splits(enum cm_rule_matcher m);

#endif
