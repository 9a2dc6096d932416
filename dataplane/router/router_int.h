/*
 * router_int.h -- what the router's files share and nobody else reads: the
 * arena every compiled string and array lives in, the string-keyed hash map
 * (with a rolling hash so prefixes and suffixes are probed in one pass), the
 * compiled matchers and the virtual host index. Not thread-safe to build;
 * read-only once dp_router_new() returns.
 */
#ifndef DP_ROUTER_INT_H
#define DP_ROUTER_INT_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdbool.h>

#include "dataplane/router/router.h"

/* ==== Arena: freed all at once with the router ==== */

struct dp_router__chunk;

struct dp_router__arena {
    struct dp_router__chunk *head;
};

/* Returns zeroed memory, or NULL when out of memory. */
void *dp_router__alloc(struct dp_router__arena *a, size_t n);
/* Returns a NUL-terminated copy of <s>[0..n), lower-cased if <lower>. */
char *dp_router__strndup(struct dp_router__arena *a, const char *s, size_t n,
                         bool lower);
void dp_router__arena_free(struct dp_router__arena *a);

/* ==== Hash map: string -> sorted list of uint32 ==== */

#define DP_ROUTER__HASH_B 0x100000001b3ull

static inline uint8_t dp_router__fold(uint8_t c)
{
    return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c;
}

/* h' = h * B + c: the hash of a string is sum(c_j * B^(n-1-j)), so it can be
 * extended at the end (prefixes) or at the front (suffixes). */
static inline uint64_t dp_router__hstep(uint64_t h, uint8_t c)
{
    return h * DP_ROUTER__HASH_B + c;
}

struct dp_router__ent {
    uint64_t hash;
    const char *key; /* borrowed from the arena */
    uint32_t len;
    uint32_t n, cap;
    uint32_t *vals; /* ascending, malloc'ed */
};

struct dp_router__map {
    struct dp_router__ent *ents; /* cap slots, key NULL = empty */
    uint32_t cap, count;
    bool fold;          /* keys and probes compared case-insensitively */
    uint64_t *len_bits; /* bit L set: some key has length L */
    size_t max_len;
};

uint64_t dp_router__hash(const char *s, size_t n, bool fold);
/* Adds <val> to the list of <key> (borrowed; must outlive the map). */
int dp_router__map_add(struct dp_router__map *m, const char *key, size_t len,
                       uint32_t val) CM_MUST_CHECK;
const struct dp_router__ent *dp_router__map_get(const struct dp_router__map *m,
                                                uint64_t hash, const char *key,
                                                size_t len);
void dp_router__map_free(struct dp_router__map *m);

static inline bool dp_router__map_has_len(const struct dp_router__map *m,
                                          size_t len)
{
    return len <= m->max_len && m->len_bits != NULL &&
           (m->len_bits[len / 64] >> (len % 64)) & 1;
}

/* ==== Regexes ==== */

struct dp_router_regex {
    pcre2_code *code;
    uint32_t captures;            /* capture groups */
    struct dp_router_regex *next; /* the router's list, for freeing */
};

#define DP_ROUTER__OVEC_PAIRS 16

struct dp_router_scratch {
    pcre2_match_data *md; /* DP_ROUTER__OVEC_PAIRS pairs */
    pcre2_match_context *mc;
};

/* Matches <re> against <s>; returns >= 0 (matched; ovector in md) or -1.
 * With <s> NULL uses per-call match data. */
int dp_router__regex_exec(const struct dp_router_regex *re, const char *subj,
                          size_t len, size_t start, struct dp_router_scratch *s,
                          pcre2_match_data **md);

/* ==== Compiled matchers ==== */

enum dp_router__sm_kind {
    DP_ROUTER__SM_EXACT = 0,
    DP_ROUTER__SM_PREFIX,
    DP_ROUTER__SM_SUFFIX,
    DP_ROUTER__SM_CONTAINS,
    DP_ROUTER__SM_REGEX,
};

struct dp_router__strm {
    uint8_t kind; /* enum dp_router__sm_kind */
    bool icase;
    struct dp_router_slice s;
    const struct dp_router_regex *re; /* full-match */
};

enum dp_router__hm_kind {
    DP_ROUTER__HM_STRING = 0,
    DP_ROUTER__HM_PRESENT,
    DP_ROUTER__HM_RANGE,
};

enum dp_router__pseudo {
    DP_ROUTER__PS_NONE = 0,
    DP_ROUTER__PS_METHOD,
    DP_ROUTER__PS_AUTHORITY,
    DP_ROUTER__PS_PATH,
    DP_ROUTER__PS_SCHEME,
};

struct dp_router__hdrm {
    struct dp_router_slice name; /* lower-case */
    uint8_t kind;                /* enum dp_router__hm_kind */
    uint8_t pseudo;              /* enum dp_router__pseudo */
    bool invert, missing_empty, present;
    int64_t start, end; /* range [start, end) */
    struct dp_router__strm sm;
};

struct dp_router__qm {
    struct dp_router_slice name;
    bool present_only;
    struct dp_router__strm sm;
};

struct dp_router__rmatch {
    uint8_t kind; /* enum dp_route_match_kind */
    bool icase;
    bool grpc; /* content-type must start with application/grpc */
    struct dp_router_slice s;
    const struct dp_router_regex *re;
    const struct dp_router__hdrm *hdrs;
    size_t n_hdrs;
    const struct dp_router__qm *qs;
    size_t n_qs;
};

struct dp_router__vhost {
    const char *name;
    struct dp_route *routes;           /* n_routes, in config order */
    struct dp_router__rmatch *matches; /* parallel to routes */
    uint32_t n_routes;
    struct dp_router__map exact_cs, exact_ci, prefix_cs, prefix_ci;
    uint32_t *linear; /* regex and CONNECT routes, ascending */
    uint32_t n_linear;
};

struct dp_router {
    struct dp_router__arena arena;
    const char *name;
    struct dp_router__vhost *vhosts;
    size_t n_vhosts;
    size_t n_routes;
    struct dp_router__map dom_exact;  /* "a.b" and "a.b:80" */
    struct dp_router__map dom_suffix; /* "*.b" stored as ".b" */
    struct dp_router__map dom_prefix; /* "a.*" stored as "a." */
    int default_vhost;                /* "*", or -1 */
    bool ignore_port;
    struct dp_router_regex *regexes;
};

/* Compiles a regex owned by <r>. <full>: anchored at both ends. On a syntax
 * error returns GW_EINVAL and writes "<message> at offset N" into <msg>. */
int dp_router__regex_compile(struct dp_router *r, const char *pat, bool full,
                             const struct dp_router_regex **out, char *msg,
                             size_t msglen);

/* Expands <subst> (\0-\9 refer to groups of the match in <md>) into out at
 * *pos; returns GW_ETOOBIG if it does not fit. */
int dp_router__subst(const char *subj, pcre2_match_data *md,
                     struct dp_router_slice subst, char *out, size_t len,
                     size_t *pos);

/* Regex-replaces every match of <re> in <subj> with <subst> into out at
 * *pos (RE2::GlobalReplace). */
int dp_router__global_replace(const struct dp_router_regex *re,
                              struct dp_router_slice subj,
                              struct dp_router_slice subst,
                              struct dp_router_scratch *s, char *out,
                              size_t len, size_t *pos);

#endif
