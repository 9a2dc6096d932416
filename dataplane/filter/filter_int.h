/*
 * filter_int.h -- what the filter module's files share and nobody else
 * reads: IP sets, the shared-state header and registry hooks, the compiled
 * form of each filter, regex helpers, the per-request output helpers.
 */
#ifndef DP_FILTER_INT_H
#define DP_FILTER_INT_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <pthread.h>
#include <stdatomic.h>

#include "dataplane/filter/filter.h"

/* ==== IP addresses and ranges ==== */

/* fam 4 (b[0..3]) or 6; v4-mapped v6 is stored as 4. */
struct dp_filter__ip {
    uint8_t fam;
    uint8_t b[16];
};

struct dp_filter__ipnet {
    struct dp_filter__ip ip; /* masked */
    uint8_t bits;
};

struct dp_filter__ipset {
    struct dp_filter__ipnet *v;
    size_t n;
};

/* Parses an IP literal of <n> bytes (no brackets, no port). 0 or -1. */
int dp_filter__ip_parse(const char *s, size_t n, struct dp_filter__ip *out);
/* 0, or -1 if <sa> is not AF_INET/AF_INET6. */
int dp_filter__ip_from_sa(const struct sockaddr *sa, struct dp_filter__ip *out);
/* Parses <n> "IP" or "IP/bits" strings into <out> (malloc'ed); messages
 * name <what>[i]. */
int dp_filter__ipset_parse(char *const *strs, size_t n, const char *what,
                           struct dp_filter__ipset *out, char *err, size_t len);
bool dp_filter__ipset_has(const struct dp_filter__ipset *s,
                          const struct dp_filter__ip *ip);
void dp_filter__ipset_deinit(struct dp_filter__ipset *s);

/* ==== Shared runtime state ==== */

struct dp_filter__state {
    _Atomic long refs;
    struct dp_filter_registry *reg;
    struct dp_filter__state *next; /* registry bucket chain */
    uint64_t khash;
    char *key;
    size_t key_len;
    void (*destroy)(struct dp_filter__state *st); /* frees the whole */
};

/* Returns the live state of <key> with a new reference, or one made by
 * <create>(<arg>) (refs 1, NULL if out of memory). */
struct dp_filter__state *
dp_filter__state_get(struct dp_filter_registry *reg, const char *key,
                     size_t key_len,
                     struct dp_filter__state *(*create)(void *arg), void *arg);
void dp_filter__state_ref(struct dp_filter__state *st);
void dp_filter__state_unref(struct dp_filter__state *st);

/* FNV-1a 64, chained from <h> (start with DP_FILTER__FNV0). */
#define DP_FILTER__FNV0 0xcbf29ce484222325ull
uint64_t dp_filter__fnv(uint64_t h, const void *p, size_t n);

/* ==== Compiled filters ==== */

struct dp_filter_client_ip {
    struct dp_filter__ipset all_of, none_of;
};

struct dp_filter__allow {
    struct dp_filter__ipset ranges;
    uint32_t depth;                  /* > 0: Nth IP from the right of XFF */
    struct dp_filter__ipset exclude; /* depth 0, n > 0: pool strategy */
};

struct dp_filter__user {
    char *name;
    char *hash;
    size_t idx; /* position in the config: the last duplicate wins */
};

struct dp_filter__auth {
    struct dp_filter__user *users; /* sorted by name, unique */
    size_t n_users;
    char *www_auth; /* Basic realm="..." */
    bool remove_header;
};

struct dp_filter__rate {
    uint64_t interval_ns;  /* ns per token: period / average */
    uint64_t burst_ns;     /* burst * interval */
    uint64_t max_delay_ns; /* Traefik's maxDelay */
    struct dp_filter__state *st;
};

struct dp_filter__inflight {
    int64_t amount;
    struct dp_filter__state *st;
};

struct dp_filter__cb_expr; /* filter_cb.h */

struct dp_filter__cb {
    struct dp_filter__state *st; /* holds the expression and durations */
};

struct dp_filter__regex {
    pcre2_code *code;
};

struct dp_filter__redirect {
    struct dp_filter__regex re;
    char *replacement;
    bool permanent;
};

enum dp_filter__op_kind {
    DP_FILTER__OP_STRIP_PREFIX = 0,
    DP_FILTER__OP_STRIP_PREFIX_REGEX,
    DP_FILTER__OP_ADD_PREFIX,
    DP_FILTER__OP_REPLACE_PATH,
    DP_FILTER__OP_REPLACE_PATH_REGEX,
};

struct dp_filter__op {
    uint8_t kind;
    char **strs; /* prefixes / add_prefix / replace_path / replacement */
    size_t n_strs;
    struct dp_filter__regex *res; /* regexes */
    size_t n_res;
};

struct dp_filter__rewrite {
    struct dp_filter__op *ops;
    size_t n_ops;
};

struct dp_filter__failover {
    char *fallback;
    int index;
};

struct dp_filter__sticky {
    char *name;
    bool secure, http_only;
    const char *same_site; /* "None", "Lax", "Strict" or NULL */
};

struct dp_filter_chain {
    _Atomic long refs;
    uint32_t mask; /* 1u << enum dp_filter_kind */
    uint64_t hash; /* route key and configs: set-level dedup */
    char *route_key;
    struct dp_filter_client_ip *client_ip;
    struct dp_filter__allow *allow;
    struct dp_filter__auth *auth;
    struct dp_filter__rate *rate;
    struct dp_filter__inflight *inflight;
    struct dp_filter__cb *cb;
    struct dp_filter__redirect *redirect;
    struct dp_filter__rewrite *rewrite;
    struct dp_filter__failover *failover;
    struct dp_filter__sticky *sticky;
};

/* Build inputs of one filter: the unpacked message and the state key. */
struct dp_filter__bctx {
    struct dp_filter_registry *reg;
    const struct dp_filter_opts *opts;
    const char *route_key;
    uint64_t cfg_hash; /* of type_url + value */
    const char *name;  /* filter name for messages */
    char *err;
    size_t len;
};

/* The state key's router part of <rt> (see filter.h); returns new. */
char *dp_filter__route_key(const struct dp_route *rt);
/* Builds a chain from <n> entries (most specific first; later entries of a
 * name are ignored). Only rt->name, vhost and index are read; the route key
 * is made only when an entry names a known filter. */
int dp_filter__chain_build_fc(const struct dp_route *rt,
                              const struct dp_route_filter_config *fc, size_t n,
                              struct dp_filter_registry *reg,
                              const struct dp_filter_opts *opts,
                              struct dp_filter_chain **out, char *err,
                              size_t len);

/* Each compiles <pb, n> of its message into <ch>; 0 or GW_E* + err. */
int dp_filter__client_ip_build(struct dp_filter__bctx *b, const void *pb,
                               size_t n, struct dp_filter_chain *ch);
int dp_filter__allow_build(struct dp_filter__bctx *b, const void *pb, size_t n,
                           struct dp_filter_chain *ch);
int dp_filter__auth_build(struct dp_filter__bctx *b, const void *pb, size_t n,
                          struct dp_filter_chain *ch);
int dp_filter__rate_build(struct dp_filter__bctx *b, const void *pb, size_t n,
                          struct dp_filter_chain *ch);
int dp_filter__inflight_build(struct dp_filter__bctx *b, const void *pb,
                              size_t n, struct dp_filter_chain *ch);
int dp_filter__cb_build(struct dp_filter__bctx *b, const void *pb, size_t n,
                        struct dp_filter_chain *ch);
int dp_filter__redirect_build(struct dp_filter__bctx *b, const void *pb,
                              size_t n, struct dp_filter_chain *ch);
int dp_filter__rewrite_build(struct dp_filter__bctx *b, const void *pb,
                             size_t n, struct dp_filter_chain *ch);
int dp_filter__failover_build(struct dp_filter__bctx *b, const void *pb,
                              size_t n, struct dp_filter_chain *ch);
int dp_filter__sticky_build(struct dp_filter__bctx *b, const void *pb, size_t n,
                            struct dp_filter_chain *ch);

void dp_filter__allow_free(struct dp_filter__allow *a);
void dp_filter__auth_free(struct dp_filter__auth *a);
void dp_filter__rate_free(struct dp_filter__rate *r);
void dp_filter__inflight_free(struct dp_filter__inflight *f);
void dp_filter__cb_free(struct dp_filter__cb *c);
void dp_filter__redirect_free(struct dp_filter__redirect *r);
void dp_filter__rewrite_free(struct dp_filter__rewrite *r);

/* ==== Per-request steps (verdict; outputs in ctx) ==== */

int dp_filter__allow_run(const struct dp_filter__allow *a,
                         const struct dp_filter_req *req,
                         struct dp_filter_ctx *ctx);
int dp_filter__auth_run(const struct dp_filter__auth *a,
                        const struct dp_filter_req *req,
                        struct dp_filter_ctx *ctx);
int dp_filter__rate_run(const struct dp_filter__rate *r,
                        const struct dp_filter_req *req,
                        struct dp_filter_ctx *ctx);
int dp_filter__inflight_run(const struct dp_filter__inflight *f,
                            const struct dp_filter_req *req,
                            struct dp_filter_ctx *ctx);
void dp_filter__inflight_end(struct dp_filter_ctx *ctx);
int dp_filter__cb_run(const struct dp_filter__cb *c,
                      const struct dp_filter_req *req,
                      struct dp_filter_ctx *ctx);
void dp_filter__cb_end(struct dp_filter_ctx *ctx, uint16_t status,
                       uint64_t now_ns);
int dp_filter__redirect_run(const struct dp_filter__redirect *r,
                            const struct dp_filter_req *req,
                            struct dp_filter_ctx *ctx);
int dp_filter__rewrite_run(const struct dp_filter__rewrite *r,
                           const struct dp_filter_req *req,
                           struct dp_filter_ctx *ctx);

/* ==== Helpers ==== */

/* First value of request header <name> (lower-case); false if absent. */
bool dp_filter__header(const struct dp_router_req *rq, const char *name,
                       struct dp_router_slice *out);

/* Sets the local answer; <body> static. Returns DP_FILTER_RESPOND. */
int dp_filter__respond(struct dp_filter_ctx *ctx, uint16_t status,
                       const char *body);
/* Reserves <n> + 1 bytes of the ctx buffer (byte n set to NUL); NULL if
 * full. */
char *dp_filter__alloc(struct dp_filter_ctx *ctx, size_t n);
/* Copies <n> bytes into the ctx buffer (NUL-terminated); NULL if full. */
char *dp_filter__put(struct dp_filter_ctx *ctx, const char *p, size_t n);
/* Adds a response header (<name> static, <value> already in the buffer or
 * static). */
void dp_filter__resp_hdr(struct dp_filter_ctx *ctx, const char *name,
                         const char *value, size_t vlen);
int dp_filter__req_hdr(struct dp_filter_ctx *ctx, const char *name,
                       const char *value, size_t vlen);

/* Regexes: Go RE2 semantics approximated with PCRE2 (UTF, $ at end only),
 * JIT-compiled. Compile: 0, or GW_EINVAL with "<message> at offset N". */
int dp_filter__regex_compile(struct dp_filter__regex *re, const char *pat,
                             char *msg, size_t len);
void dp_filter__regex_deinit(struct dp_filter__regex *re);
pcre2_match_data *dp_filter__md(struct dp_filter_scratch *s,
                                pcre2_match_data **own);
/* Go's Regexp.ReplaceAllString(subj, repl) into <out> at *pos (Expand
 * semantics: $1, ${1}, $name, ${name}, $$). GW_ETOOBIG if it overflows. */
int dp_filter__replace_all(const struct dp_filter__regex *re, const char *subj,
                           size_t n, const char *repl, pcre2_match_data *md,
                           char *out, size_t cap, size_t *pos);
/* Go's Regexp.Expand of one match (ovector in <md>). */
int dp_filter__expand(const struct dp_filter__regex *re, const char *subj,
                      const char *repl, pcre2_match_data *md, char *out,
                      size_t cap, size_t *pos);

/* htpasswd: checks <password> against <hash> ({SHA}, $apr1$, $1$, bcrypt);
 * constant time for the final comparison. */
bool dp_filter__htpasswd_check(const char *hash, const char *password,
                               size_t plen);
/* Validates an htpasswd hash; 0 or GW_EINVAL with a reason in <msg>. */
int dp_filter__htpasswd_validate(const char *hash, char *msg, size_t len);
/* MD5-crypt with <magic> ("$1$" or "$apr1$") into out (>= 64 bytes). */
int dp_filter__md5crypt(const char *pw, size_t plen, const char *magic,
                        const char *salt, size_t slen, char *out, size_t cap);

/* Circuit-breaker expressions. */
struct dp_filter__cb_expr *dp_filter__cb_parse(const char *s, char *err,
                                               size_t len);
void dp_filter__cb_expr_free(struct dp_filter__cb_expr *e);

#endif
