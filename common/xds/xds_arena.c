/*
 * xds_arena.c -- the arena translated messages live in, and small message
 * builders (Any, Duration, wrappers) on top of it. An arena is owned by one
 * translation result (or one translation's scratch space) and freed at once.
 */
#include "common/xds/xds_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK_SIZE 16384

struct chunk {
    struct chunk *next;
    size_t used, size;
    max_align_t data[];
};

struct cm_xds__arena {
    struct chunk *head;
};

struct cm_xds__arena *cm_xds__arena_new(void)
{
    return calloc(1, sizeof(struct cm_xds__arena));
}

void cm_xds__arena_free(struct cm_xds__arena *a)
{
    if (a == NULL)
        return;
    while (a->head != NULL) {
        struct chunk *ch = a->head;
        a->head = ch->next;
        free(ch);
    }
    free(a);
}

static void *arena_alloc(struct cm_xds__arena *a, size_t n)
{
    n = (n + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1);
    struct chunk *ch = a->head;
    if (ch == NULL || ch->size - ch->used < n) {
        size_t size = n > CHUNK_SIZE ? n : CHUNK_SIZE;
        ch = malloc(sizeof(*ch) + size);
        if (ch == NULL)
            return NULL;
        ch->used = 0;
        ch->size = size;
        ch->next = a->head;
        a->head = ch;
    }
    void *p = (char *)ch->data + ch->used;
    ch->used += n;
    memset(p, 0, n);
    return p;
}

void *cm_xds__alloc(struct cm_xds__ctx *c, struct cm_xds__arena *a, size_t n)
{
    void *p = arena_alloc(a, n ? n : 1);
    if (p == NULL)
        longjmp(c->oom, 1);
    return p;
}

char *cm_xds__str(struct cm_xds__ctx *c, const char *s)
{
    if (s == NULL)
        return NULL;
    size_t n = strlen(s) + 1;
    char *d = cm_xds__alloc(c, c->out, n);
    memcpy(d, s, n);
    return d;
}

char *cm_xds__printf(struct cm_xds__ctx *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = cm_xds__alloc(c, c->out, (size_t)(n < 0 ? 0 : n) + 1);
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

char *cm_xds__cat(struct cm_xds__ctx *c, struct cm_xds__arena *a, const char *x,
                  const char *y, const char *z)
{
    size_t nx = strlen(x), ny = strlen(y), nz = strlen(z);
    char *s = cm_xds__alloc(c, a, nx + ny + nz + 1); /* zeroed: NUL */
    memcpy(s, x, nx);
    memcpy(s + nx, y, ny);
    memcpy(s + nx + ny, z, nz);
    return s;
}

char *cm_xds__type_url(struct cm_xds__ctx *c, const char *name)
{
    return cm_xds__cat(c, c->out, "type.googleapis.com/", name, "");
}

void *cm_xds__msg(struct cm_xds__ctx *c, const ProtobufCMessageDescriptor *d)
{
    ProtobufCMessage *m = cm_xds__alloc(c, c->out, d->sizeof_message);
    protobuf_c_message_init(d, m);
    return m;
}

/* Arrays grow to the next power of two; old copies stay in the arena. */
void cm_xds__push(struct cm_xds__ctx *c, struct cm_xds__arena *a, void *arr,
                  size_t *n, void *item)
{
    void ***parr = arr;
    size_t cnt = *n;
    if (cnt == 0 || (cnt & (cnt - 1)) == 0) {
        size_t cap = cnt ? cnt * 2 : 4;
        void **grown = cm_xds__alloc(c, a, cap * sizeof(void *));
        if (cnt > 0)
            memcpy(grown, *parr, cnt * sizeof(void *));
        *parr = grown;
    }
    (*parr)[cnt] = item;
    *n = cnt + 1;
}

Google__Protobuf__Any *cm_xds__any(struct cm_xds__ctx *c,
                                   const ProtobufCMessage *m)
{
    Google__Protobuf__Any *a =
        cm_xds__msg(c, &google__protobuf__any__descriptor);
    a->type_url = cm_xds__type_url(c, m->descriptor->name);
    size_t n = protobuf_c_message_get_packed_size(m);
    a->value.data = cm_xds__alloc(c, c->out, n);
    a->value.len = protobuf_c_message_pack(m, a->value.data);
    return a;
}

Google__Protobuf__Duration *cm_xds__duration(struct cm_xds__ctx *c, int64_t ms)
{
    Google__Protobuf__Duration *d =
        cm_xds__msg(c, &google__protobuf__duration__descriptor);
    d->seconds = ms / 1000;
    d->nanos = (int32_t)(ms % 1000) * 1000000;
    return d;
}

Google__Protobuf__UInt32Value *cm_xds__u32(struct cm_xds__ctx *c, uint32_t v)
{
    Google__Protobuf__UInt32Value *w =
        cm_xds__msg(c, &google__protobuf__uint32_value__descriptor);
    w->value = v;
    return w;
}

Google__Protobuf__BoolValue *cm_xds__bool(struct cm_xds__ctx *c, int v)
{
    Google__Protobuf__BoolValue *w =
        cm_xds__msg(c, &google__protobuf__bool_value__descriptor);
    w->value = v != 0;
    return w;
}

int cm_xds__fail(struct cm_xds__ctx *c, const char *fmt, ...)
{
    if (c->err != NULL && c->errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->err, c->errlen, fmt, ap);
        va_end(ap);
    }
    return GW_EINVAL;
}
