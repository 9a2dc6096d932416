/*
 * config_int.h -- module-internal declarations of common/config: the arena
 * that owns a model's memory, the marks (document positions of values, for
 * messages), and the schema tables that the YAML decoder and the JSON
 * printer both walk, so that both know the same keys and types.
 */
#ifndef CM_CONFIG_INT_H
#define CM_CONFIG_INT_H

#include <stddef.h>
#include <stdint.h>

#include "common/config/config-t.h"

/* ==== arena ==== */

/* Returns <size> zeroed bytes owned by <cfg>, or NULL. */
void *cm_config__alloc(struct cm_config *cfg, size_t size);
/* Returns a NUL-terminated copy of <len> bytes of <s> owned by <cfg>. */
char *cm_config__strndup(struct cm_config *cfg, const char *s, size_t len);

/* ==== marks ==== */

enum cm_config__mark_tag {
    CM_CONFIG__MARK_VAL = 0, /* the value stored at <addr> */
    CM_CONFIG__MARK_OBJ = 1, /* the struct starting at <addr> */
};

struct cm_config__mark {
    const void *addr;
    int tag;
    int line, col; /* 1-based */
};

/* Records that the value at <addr> came from <line>:<col>. 0 or GW_ENOMEM */
int cm_config__mark_add(struct cm_config *cfg, const void *addr, int tag,
                        int line, int col);
/* Returns the mark of <addr> or NULL (models built by hand have none). */
const struct cm_config__mark *cm_config__mark_find(const struct cm_config *cfg,
                                                   const void *addr, int tag);

/* ==== names ==== */

/* Reference check: returns the length of <s> without a "@file" suffix, or
 * -1 when <s> names another provider (<*provider> then points at '@'). */
long cm_config__ref_len(const char *s, const char **provider);

/* ==== name index ==== */

/* (Re)builds the hash index cm_config_find_*() use over the names of
 * <cfg>'s routers, services, middlewares and entry points. The model must
 * not change afterwards. Returns GW_OK or GW_ENOMEM (then look-ups scan). */
int cm_config__index_build(struct cm_config *cfg);

/* ==== schema ==== */

enum cm_config__ftype {
    CM_CONFIG__F_STR,     /* const char * (NULL = absent) */
    CM_CONFIG__F_PEM,     /* same, line breaks allowed (inline PEM) */
    CM_CONFIG__F_REF,     /* const char *, a name: "@file" stripped */
    CM_CONFIG__F_INT,     /* int64_t */
    CM_CONFIG__F_BOOL,    /* bool */
    CM_CONFIG__F_DUR,     /* int64_t milliseconds */
    CM_CONFIG__F_STRS,    /* const char ** at off, size_t at count_off */
    CM_CONFIG__F_REFS,    /* same, each a name */
    CM_CONFIG__F_KVS,     /* struct cm_config_kv * + size_t */
    CM_CONFIG__F_EMBED,   /* struct embedded at off, schema sub */
    CM_CONFIG__F_PTR,     /* struct pointer at off (NULL = absent) */
    CM_CONFIG__F_LIST,    /* array of sub structs + size_t */
    CM_CONFIG__F_NAMED,   /* map NAME: sub struct, name the first member */
    CM_CONFIG__F_PRESENT, /* bool: key given with an empty mapping */
};

struct cm_config__schema;

struct cm_config__field {
    const char *key; /* camelCase, as in Traefik */
    enum cm_config__ftype type;
    size_t off;
    size_t count_off;
    const struct cm_config__schema *sub;
};

/* One kind of a one-of object (service, middleware). */
struct cm_config__variant {
    const char *key;
    int kind;
    const struct cm_config__schema *sub;
};

struct cm_config__schema {
    size_t size;
    void (*init)(void *obj); /* defaults; the memory is already zero */
    const struct cm_config__field *fields;
    size_t n_fields;
    /* One-of objects: no fields; the chosen kind's struct at union_off. */
    const struct cm_config__variant *variants;
    size_t n_variants;
    size_t union_off;
    int (*get_kind)(const void *obj);
    void (*set_kind)(void *obj, int kind);
};

/* The root: the fields of struct cm_config. */
extern const struct cm_config__schema cm_config__root_schema;

/* Applies the defaults of <s> (and of its embedded structs) to <obj>. */
void cm_config__init(const struct cm_config__schema *s, void *obj);

/* Returns the variant of <s> whose kind is <kind>, or NULL. */
const struct cm_config__variant *
cm_config__variant_of(const struct cm_config__schema *s, int kind);

#endif
