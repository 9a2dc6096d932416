/*
 * rule_dnf.c -- disjunctive normal form of a parsed rule, for the xDS
 * translator: one route per conjunction. Works on malloc'd scratch sets
 * bounded by CM_RULE_MAX_CONJS and CM_RULE_MAX_ATOMS, then copies the result
 * into the DNF's own arena. Also the conjunction accessors and the check of
 * what an xDS RouteMatch can express.
 */
#include "common/rule/rule.h"
#include "common/err/err.h"
#include "common/rule/rule_int.h"

#include <stdlib.h>
#include <string.h>

struct cm_rule_dnf {
    struct cm_rule__arena arena; /* owns conjs, literals, strings */
    size_t nconjs;
    struct cm_rule_conj *conjs;
};

/* ==== Scratch sets ==== */

/* A distinct single-valued matcher of the rule. Strings borrowed from it. */
struct atom {
    enum cm_rule_matcher m;
    size_t pos;
    size_t nargs;
    const char *args[2];
};

/* A conjunction: literal codes (atom index * 2 + negated), ascending (the
 * result is re-sorted by lit_cmp at the end). */
struct cset {
    size_t n;
    unsigned *v; /* owned */
};

/* A disjunction of distinct conjunctions. */
struct dset {
    size_t n;
    struct cset c[CM_RULE_MAX_CONJS];
};

struct builder {
    struct atom *atoms; /* owned */
    size_t natoms;
    char *err;
    size_t errlen;
};

static void dset_clear(struct dset *d)
{
    for (size_t i = 0; i < d->n; i++)
        free(d->c[i].v);
    d->n = 0;
}

static int nomem(struct builder *b)
{
    return cm_err_set(b->err, b->errlen, GW_ENOMEM, "rule: out of memory");
}

static int too_big(struct builder *b, size_t pos)
{
    return cm_err_set(b->err, b->errlen, GW_ETOOBIG,
                      "rule: column %zu: rule expands to more than %d "
                      "alternatives (|| after distributing &&); split it "
                      "into several routers",
                      pos + 1, CM_RULE_MAX_CONJS);
}

static int cset_equal(const struct cset *a, const struct cset *b)
{
    return a->n == b->n && memcmp(a->v, b->v, a->n * sizeof(*a->v)) == 0;
}

/* Adds <c> (taken) to <d> unless already there. */
static int dset_add(struct builder *b, struct dset *d, struct cset c,
                    size_t pos)
{
    for (size_t i = 0; i < d->n; i++) {
        if (cset_equal(&d->c[i], &c)) {
            free(c.v);
            return 0;
        }
    }
    if (d->n == CM_RULE_MAX_CONJS) {
        free(c.v);
        return too_big(b, pos);
    }
    d->c[d->n++] = c;
    return 0;
}

/* Returns in <out> the sorted union of <a> and <b> (both borrowed). */
static int cset_merge(const struct cset *a, const struct cset *b,
                      struct cset *out)
{
    size_t i = 0, j = 0, n = 0;

    out->v = malloc((a->n + b->n) * sizeof(*out->v));
    if (out->v == NULL)
        return GW_ENOMEM;
    while (i < a->n || j < b->n) {
        unsigned x;
        if (j == b->n || (i < a->n && a->v[i] < b->v[j]))
            x = a->v[i++];
        else if (i == a->n || b->v[j] < a->v[i])
            x = b->v[j++];
        else
            x = a->v[i++], j++;
        out->v[n++] = x;
    }
    out->n = n;
    return 0;
}

/* Inserts <code> into <c> (sorted, distinct); <c->v> has room. */
static void cset_insert(struct cset *c, unsigned code)
{
    size_t i = 0;
    while (i < c->n && c->v[i] < code)
        i++;
    if (i < c->n && c->v[i] == code)
        return;
    memmove(c->v + i + 1, c->v + i, (c->n - i) * sizeof(*c->v));
    c->v[i] = code;
    c->n++;
}

/* ==== Atoms ==== */

static int atom_equal(const struct atom *a, enum cm_rule_matcher m,
                      char *const *args, size_t nargs)
{
    if (a->m != m || a->nargs != nargs)
        return 0;
    for (size_t i = 0; i < nargs; i++)
        if (strcmp(a->args[i], args[i]) != 0)
            return 0;
    return 1;
}

/* Returns the index of the atom m(args), adding it if new, or a GW_E*. */
static long atom_id(struct builder *b, const struct cm_rule_node *n,
                    char *const *args, size_t nargs)
{
    for (size_t i = 0; i < b->natoms; i++)
        if (atom_equal(&b->atoms[i], n->matcher, args, nargs))
            return (long)i;
    if (b->natoms == CM_RULE_MAX_ATOMS)
        return cm_err_set(b->err, b->errlen, GW_ETOOBIG,
                          "rule: column %zu: rule has more than %d distinct "
                          "matchers",
                          n->pos + 1, CM_RULE_MAX_ATOMS);
    struct atom *a = &b->atoms[b->natoms];
    a->m = n->matcher;
    a->pos = n->pos;
    a->nargs = nargs;
    for (size_t i = 0; i < nargs && i < 2; i++)
        a->args[i] = args[i];
    return (long)b->natoms++;
}

/* ==== Building ==== */

static int build(struct builder *b, const struct cm_rule_node *n, int neg,
                 struct dset *out);

/* A matcher: v2 multi-valued ones are an OR of single values. */
static int build_matcher(struct builder *b, const struct cm_rule_node *n,
                         int neg, struct dset *out)
{
    int split = cm_rule__splits(n->matcher);
    size_t k = split ? n->nargs : 1;
    struct cset all = {0, NULL};

    if (neg) {
        all.v = malloc(k * sizeof(*all.v));
        if (all.v == NULL)
            return nomem(b);
    }
    for (size_t j = 0; j < k; j++) {
        long id = split ? atom_id(b, n, &n->args[j], 1)
                        : atom_id(b, n, n->args, n->nargs);
        if (id < 0) {
            free(all.v);
            return (int)id;
        }
        unsigned code = (unsigned)id * 2 + (neg ? 1 : 0);
        if (neg) {
            cset_insert(&all, code);
            continue;
        }
        struct cset one = {1, malloc(sizeof(unsigned))};
        if (one.v == NULL)
            return nomem(b);
        one.v[0] = code;
        int rc = dset_add(b, out, one, n->pos);
        if (rc < 0)
            return rc;
    }
    return neg ? dset_add(b, out, all, n->pos) : 0;
}

/* <acc> := <acc> AND <rhs>: every pairwise union. */
static int product(struct builder *b, struct dset *acc, const struct dset *rhs,
                   size_t pos)
{
    struct dset *r = malloc(sizeof(*r));
    int rc = 0;

    if (r == NULL)
        return nomem(b);
    r->n = 0;
    for (size_t i = 0; i < acc->n && rc == 0; i++) {
        for (size_t j = 0; j < rhs->n && rc == 0; j++) {
            struct cset c;
            if (cset_merge(&acc->c[i], &rhs->c[j], &c) < 0)
                rc = nomem(b);
            else
                rc = dset_add(b, r, c, pos);
        }
    }
    dset_clear(acc);
    if (rc == 0)
        *acc = *r;
    else
        dset_clear(r);
    free(r);
    return rc;
}

/* <acc> := <acc> OR <rhs>; takes the sets of <rhs>. */
static int sum(struct builder *b, struct dset *acc, struct dset *rhs,
               size_t pos)
{
    int rc = 0;
    size_t i;

    for (i = 0; i < rhs->n && rc == 0; i++)
        rc = dset_add(b, acc, rhs->c[i], pos);
    for (; i < rhs->n; i++)
        free(rhs->c[i].v);
    rhs->n = 0;
    return rc;
}

/* AND or OR node, under <neg> negations (De Morgan swaps them). */
static int build_list(struct builder *b, const struct cm_rule_node *n, int neg,
                      struct dset *out)
{
    int conj = (n->op == CM_RULE_AND) != neg;
    struct dset *rhs = malloc(sizeof(*rhs));
    int rc;

    if (rhs == NULL)
        return nomem(b);
    rhs->n = 0;
    rc = build(b, n->child, neg, out);
    for (const struct cm_rule_node *c = n->child->next; c && rc == 0;
         c = c->next) {
        rc = build(b, c, neg, rhs);
        if (rc == 0)
            rc = conj ? product(b, out, rhs, c->pos) : sum(b, out, rhs, c->pos);
        dset_clear(rhs);
    }
    free(rhs);
    return rc;
}

/* Appends the DNF of <n> (negated if <neg>) to the empty <out>. */
static int build(struct builder *b, const struct cm_rule_node *n, int neg,
                 struct dset *out)
{
    switch (n->op) {
    case CM_RULE_MATCHER:
        return build_matcher(b, n, neg, out);
    case CM_RULE_NOT:
        return build(b, n->child, !neg, out);
    case CM_RULE_AND:
    case CM_RULE_OR:
        return build_list(b, n, neg, out);
    }
    return cm_err_set(b->err, b->errlen, GW_EINVAL, "rule: bad node");
}

/* ==== Result ==== */

/* Canonical literal order, independent of where atoms first appear: by
 * matcher kind (host, path, method, headers, queries, client IP), then
 * arguments, then plain before negated. */
static int lit_cmp(const void *x, const void *y)
{
    const struct cm_rule_lit *a = x, *b = y;
    int d;

    if (a->matcher != b->matcher)
        return a->matcher < b->matcher ? -1 : 1;
    for (size_t i = 0; i < a->nargs && i < b->nargs; i++)
        if ((d = strcmp(a->args[i], b->args[i])) != 0)
            return d;
    if (a->nargs != b->nargs)
        return a->nargs < b->nargs ? -1 : 1;
    return a->negated - b->negated;
}

/* Copies every atom's strings into <d>'s arena; <strs> gets 2 per atom. */
static int copy_atoms(struct cm_rule_dnf *d, const struct builder *b,
                      const char **strs)
{
    for (size_t i = 0; i < b->natoms; i++) {
        for (size_t j = 0; j < b->atoms[i].nargs; j++) {
            const char *s = b->atoms[i].args[j];
            strs[i * 2 + j] = cm_rule__strndup(&d->arena, s, strlen(s));
            if (strs[i * 2 + j] == NULL)
                return GW_ENOMEM;
        }
    }
    return 0;
}

static int finish(struct cm_rule_dnf *d, const struct builder *b,
                  const struct dset *s)
{
    const char **strs =
        cm_rule__alloc(&d->arena, 2 * b->natoms * sizeof(*strs) + 1);
    d->conjs = cm_rule__alloc(&d->arena, s->n * sizeof(*d->conjs));
    if (strs == NULL || d->conjs == NULL || copy_atoms(d, b, strs) < 0)
        return GW_ENOMEM;
    d->nconjs = s->n;
    for (size_t i = 0; i < s->n; i++) {
        struct cm_rule_conj *c = &d->conjs[i];
        c->nlits = s->c[i].n;
        c->lits = cm_rule__alloc(&d->arena, c->nlits * sizeof(*c->lits));
        if (c->lits == NULL)
            return GW_ENOMEM;
        for (size_t j = 0; j < c->nlits; j++) {
            unsigned code = s->c[i].v[j];
            const struct atom *a = &b->atoms[code / 2];
            struct cm_rule_lit *l = &c->lits[j];
            l->matcher = a->m;
            l->negated = (int)(code & 1);
            l->pos = a->pos;
            l->nargs = a->nargs;
            l->args[0] = strs[code / 2 * 2];
            l->args[1] = a->nargs > 1 ? strs[code / 2 * 2 + 1] : NULL;
        }
        qsort(c->lits, c->nlits, sizeof(*c->lits), lit_cmp);
    }
    return 0;
}

int cm_rule_to_dnf(const struct cm_rule *r, struct cm_rule_dnf **out, char *err,
                   size_t errlen)
{
    struct builder b = {.err = err, .errlen = errlen};
    struct dset *s = malloc(sizeof(*s));
    struct cm_rule_dnf *d = calloc(1, sizeof(*d));
    int rc = GW_ENOMEM;

    *out = NULL;
    b.atoms = malloc(CM_RULE_MAX_ATOMS * sizeof(*b.atoms));
    if (s == NULL || d == NULL || b.atoms == NULL)
        goto fail;
    s->n = 0;
    rc = build(&b, cm_rule_root(r), 0, s);
    if (rc == 0)
        rc = finish(d, &b, s);
    if (rc == 0) {
        *out = d;
        d = NULL;
    }
fail:
    if (rc == GW_ENOMEM)
        nomem(&b);
    if (s != NULL)
        dset_clear(s);
    free(s);
    free(b.atoms);
    cm_rule_dnf_free(d);
    return rc;
}

void cm_rule_dnf_free(struct cm_rule_dnf *d)
{
    if (d == NULL)
        return;
    cm_rule__arena_free(&d->arena);
    free(d);
}

size_t cm_rule_dnf_count(const struct cm_rule_dnf *d)
{
    return d->nconjs;
}

const struct cm_rule_conj *cm_rule_dnf_conj(const struct cm_rule_dnf *d,
                                            size_t i)
{
    return i < d->nconjs ? &d->conjs[i] : NULL;
}

/* ==== Conjunction accessors ==== */

size_t cm_rule_conj_count(const struct cm_rule_conj *c, enum cm_rule_matcher m)
{
    size_t n = 0;
    for (size_t i = 0; i < c->nlits; i++)
        n += c->lits[i].matcher == m;
    return n;
}

const struct cm_rule_lit *cm_rule_conj_nth(const struct cm_rule_conj *c,
                                           enum cm_rule_matcher m, size_t i)
{
    for (size_t j = 0; j < c->nlits; j++)
        if (c->lits[j].matcher == m && i-- == 0)
            return &c->lits[j];
    return NULL;
}

static int is_host(enum cm_rule_matcher m)
{
    return m == CM_RULE_HOST || m == CM_RULE_HOST_REGEXP;
}

static int is_path(enum cm_rule_matcher m)
{
    return m == CM_RULE_PATH || m == CM_RULE_PATH_PREFIX ||
           m == CM_RULE_PATH_REGEXP;
}

const struct cm_rule_lit *cm_rule_conj_host(const struct cm_rule_conj *c)
{
    for (size_t i = 0; i < c->nlits; i++)
        if (is_host(c->lits[i].matcher))
            return &c->lits[i];
    return NULL;
}

const struct cm_rule_lit *cm_rule_conj_path(const struct cm_rule_conj *c)
{
    for (size_t i = 0; i < c->nlits; i++)
        if (is_path(c->lits[i].matcher))
            return &c->lits[i];
    return NULL;
}

/* ==== What xDS can express ==== */

static int xds_err(char *err, size_t len, const struct cm_rule_lit *l,
                   const char *what)
{
    return cm_err_set(err, len, GW_EINVAL,
                      "rule: column %zu: %s%s cannot be expressed in xDS %s",
                      l->pos + 1, l->negated ? "negated " : "",
                      cm_rule_matcher_name(l->matcher), what);
}

int cm_rule_conj_check_xds(const struct cm_rule_conj *c, char *err,
                           size_t errlen)
{
    const struct cm_rule_lit *host = NULL, *path = NULL;

    for (size_t i = 0; i < c->nlits; i++) {
        const struct cm_rule_lit *l = &c->lits[i];
        if (is_host(l->matcher)) {
            if (l->negated)
                return xds_err(err, errlen, l,
                               "(virtual host domains cannot be negated)");
            if (host != NULL)
                return xds_err(err, errlen, l,
                               "together with another host matcher in one "
                               "alternative (a route has one virtual host; "
                               "two different hosts never both match)");
            host = l;
        } else if (is_path(l->matcher)) {
            if (l->negated)
                return xds_err(err, errlen, l,
                               "(a route's path match cannot be negated)");
            if (path != NULL)
                return xds_err(err, errlen, l,
                               "together with another path matcher in one "
                               "alternative (a route has one path match)");
            path = l;
        } else if (l->negated && (l->matcher == CM_RULE_QUERY ||
                                  l->matcher == CM_RULE_QUERY_REGEXP)) {
            return xds_err(err, errlen, l,
                           "(query parameter matches cannot be negated)");
        }
    }
    return 0;
}
