/* integration/wire/wire_arena.c: the allocations of one built message, kept
 * on a list and freed together. Not thread-safe; one arena per message. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "integration/wire/wire.h"

struct wire_chunk {
    struct wire_chunk *next;
    max_align_t data[];
};

struct wire_arena {
    struct wire_chunk *chunks;
};

static void *xcalloc(size_t n)
{
    void *p = calloc(1, n);

    if (p == NULL) {
        fprintf(stderr, "wire: out of memory\n");
        abort();
    }
    return p;
}

struct wire_arena *wire_arena_new(void)
{
    return xcalloc(sizeof(struct wire_arena));
}

void wire_arena_free(struct wire_arena *a)
{
    struct wire_chunk *c, *next;

    if (a == NULL)
        return;
    for (c = a->chunks; c != NULL; c = next) {
        next = c->next;
        free(c);
    }
    free(a);
}

void *wire_arena_alloc(struct wire_arena *a, size_t size)
{
    struct wire_chunk *c = xcalloc(sizeof(*c) + size);

    c->next = a->chunks;
    a->chunks = c;
    return c->data;
}

void *wire_arena_dup(struct wire_arena *a, const void *src, size_t size)
{
    void *p = wire_arena_alloc(a, size);

    if (size)
        memcpy(p, src, size);
    return p;
}
