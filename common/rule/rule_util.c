/*
 * rule_util.c -- the arena and output buffer of common/rule (see rule_int.h)
 * and the printing of one matcher with its string literals. No state beyond
 * what callers pass in.
 */
#include "common/rule/rule_int.h"
#include "common/rule/rule.h"

#include <stdalign.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ==== Arena ==== */

/* Chunks grow from ARENA_FIRST bytes, doubling up to ARENA_CHUNK: a typical
 * rule or DNF fits in the first one (a translator holding thousands of
 * them pays for what they use, not 4 KiB each). */
#define ARENA_FIRST 256
#define ARENA_CHUNK 4096
#define ARENA_ALIGN alignof(max_align_t)

struct cm_rule__chunk {
    struct cm_rule__chunk *next;
    size_t cap;  /* bytes in data */
    size_t used; /* bytes handed out */
    alignas(max_align_t) unsigned char data[];
};

/* The size of the next regular chunk after head <h> (or the first). */
static size_t next_cap(const struct cm_rule__chunk *h)
{
    if (h == NULL)
        return ARENA_FIRST;
    return h->cap >= ARENA_CHUNK / 2 ? ARENA_CHUNK : h->cap * 2;
}

void *cm_rule__alloc(struct cm_rule__arena *a, size_t n)
{
    struct cm_rule__chunk *c = a->head;
    size_t need = (n + ARENA_ALIGN - 1) & ~(ARENA_ALIGN - 1);

    if (need < n)
        return NULL;
    if (c == NULL || c->cap - c->used < need) {
        size_t regular = next_cap(a->head);
        size_t cap = need > regular ? need : regular;
        if (cap > SIZE_MAX - sizeof(*c))
            return NULL;
        c = malloc(sizeof(*c) + cap);
        if (c == NULL)
            return NULL;
        c->cap = cap;
        c->used = 0;
        /* A big one-off chunk goes behind the head so the head's free space
         * stays usable. */
        if (a->head != NULL && cap > regular) {
            c->next = a->head->next;
            a->head->next = c;
        } else {
            c->next = a->head;
            a->head = c;
        }
    }
    void *p = c->data + c->used;
    c->used += need;
    memset(p, 0, n);
    return p;
}

char *cm_rule__strndup(struct cm_rule__arena *a, const char *s, size_t n)
{
    if (n == SIZE_MAX)
        return NULL;
    char *p = cm_rule__alloc(a, n + 1);
    if (p == NULL)
        return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

void cm_rule__arena_free(struct cm_rule__arena *a)
{
    struct cm_rule__chunk *c = a->head;
    while (c != NULL) {
        struct cm_rule__chunk *next = c->next;
        free(c);
        c = next;
    }
    a->head = NULL;
}

/* ==== Output buffer ==== */

void cm_rule__buf_putn(struct cm_rule__buf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->cap - b->len <= n) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap - b->len <= n) {
            if (cap > SIZE_MAX / 2) {
                b->oom = 1;
                return;
            }
            cap *= 2;
        }
        char *p = realloc(b->p, cap);
        if (p == NULL) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void cm_rule__buf_puts(struct cm_rule__buf *b, const char *s)
{
    cm_rule__buf_putn(b, s, strlen(s));
}

char *cm_rule__buf_finish(struct cm_rule__buf *b)
{
    char *p = b->p;
    if (b->oom || p == NULL) {
        free(p);
        p = NULL;
    }
    b->p = NULL;
    b->len = b->cap = 0;
    b->oom = 0;
    return p;
}

/* ==== Printing one matcher ==== */

/* Appends <s> as a Go string literal: raw in backticks when it holds no
 * backtick, else interpreted with the escapes the parser reads back. */
static void put_string(struct cm_rule__buf *b, const char *s)
{
    if (strchr(s, '`') == NULL) {
        cm_rule__buf_puts(b, "`");
        cm_rule__buf_puts(b, s);
        cm_rule__buf_puts(b, "`");
        return;
    }
    cm_rule__buf_puts(b, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[8];
        if (*p == '"' || *p == '\\') {
            esc[0] = '\\';
            esc[1] = (char)*p;
            cm_rule__buf_putn(b, esc, 2);
        } else if (*p < 0x20 || *p == 0x7f) {
            snprintf(esc, sizeof(esc), "\\x%02x", *p);
            cm_rule__buf_puts(b, esc);
        } else {
            cm_rule__buf_putn(b, (const char *)p, 1);
        }
    }
    cm_rule__buf_puts(b, "\"");
}

void cm_rule__put_matcher(struct cm_rule__buf *b, enum cm_rule_matcher m,
                          int negated, const char *const *args, size_t nargs)
{
    if (negated)
        cm_rule__buf_puts(b, "!");
    cm_rule__buf_puts(b, cm_rule_matcher_name(m));
    cm_rule__buf_puts(b, "(");
    for (size_t i = 0; i < nargs; i++) {
        if (i > 0)
            cm_rule__buf_puts(b, ", ");
        put_string(b, args[i]);
    }
    cm_rule__buf_puts(b, ")");
}
