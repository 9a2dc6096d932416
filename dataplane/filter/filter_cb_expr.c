/*
 * filter_cb_expr.c -- Traefik's circuit-breaker expressions (oxy's
 * predicate language, a subset of Go expressions): metric calls
 * NetworkErrorRatio(), ResponseCodeRatio(a, b, c, d),
 * LatencyAtQuantileMS(q), compared with a literal by < <= > >= == !=,
 * combined with && and || (Go precedence) and parentheses. Types are as
 * strict as oxy's: ratios compare with float literals (0.5), latency with
 * int literals (100); q is a float, the codes ints. Recursive descent over
 * a bounded depth; parsing happens on the configuration thread, evaluation
 * (filter_cb.c) under the breaker's lock.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/filter/filter_cb.h"

#define MAX_DEPTH 64
#define MAX_NODES 1024

enum tok {
    T_END = 0,
    T_IDENT,
    T_INT,
    T_FLOAT,
    T_LP,
    T_RP,
    T_COMMA,
    T_AND,
    T_OR,
    T_OP, /* comparison; op in tok_op */
    T_BAD,
};

/* Types of parsed values. */
enum vtype { V_BOOL, V_MINT, V_MFLOAT, V_LINT, V_LFLOAT };

struct parser {
    const char *s;
    size_t pos, tstart, tlen;
    enum tok tok;
    int op;
    int64_t ival;
    double fval;
    int depth;
    struct dp_filter__cb_expr *e;
    char *err;
    size_t len;
};

struct val {
    enum vtype t;
    int node;     /* V_BOOL: node index; metrics: node with metric set */
    int64_t ival; /* literals */
    double fval;
};

static int perr(struct parser *p, const char *fmt, const char *detail)
{
    char msg[256];

    snprintf(msg, sizeof(msg), fmt, detail);
    return cm_err_set(p->err, p->len, GW_EINVAL, "column %zu: %s",
                      p->tstart + 1, msg);
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_ident(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
           is_digit(c);
}

static void lex_number(struct parser *p)
{
    const char *s = p->s + p->pos;
    size_t i = 0;
    bool flt = false;
    char *end;

    while (is_digit(s[i]))
        i++;
    if (s[i] == '.') {
        flt = true;
        for (i++; is_digit(s[i]);)
            i++;
    }
    if ((s[i] == 'e' || s[i] == 'E') &&
        (is_digit(s[i + 1]) ||
         ((s[i + 1] == '+' || s[i + 1] == '-') && is_digit(s[i + 2])))) {
        flt = true;
        for (i += 2; is_digit(s[i]);)
            i++;
    }
    p->tok = flt ? T_FLOAT : T_INT;
    p->tlen = i;
    errno = 0;
    if (flt)
        p->fval = strtod(s, &end);
    else
        p->ival = strtoll(s, &end, 10);
    if (errno != 0 || (size_t)(end - s) != i || is_ident(s[i]))
        p->tok = T_BAD;
}

static void next(struct parser *p)
{
    static const char *ops[] = {"<=", ">=", "==", "!=", "<", ">"};
    const char *s;

    p->pos += p->tlen;
    while (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' ||
           p->s[p->pos] == '\n' || p->s[p->pos] == '\r')
        p->pos++;
    s = p->s + p->pos;
    p->tstart = p->pos;
    p->tlen = 1;
    if (*s == '\0') {
        p->tok = T_END;
        p->tlen = 0;
        return;
    }
    if (is_digit(*s) || (*s == '.' && is_digit(s[1])))
        return lex_number(p);
    if (is_ident(*s)) {
        p->tok = T_IDENT;
        for (p->tlen = 0; is_ident(s[p->tlen]);)
            p->tlen++;
        return;
    }
    for (int i = 0; i < 6; i++)
        if (strncmp(s, ops[i], strlen(ops[i])) == 0) {
            static const int map[] = {DP_FILTER__CB_LE, DP_FILTER__CB_GE,
                                      DP_FILTER__CB_EQ, DP_FILTER__CB_NE,
                                      DP_FILTER__CB_LT, DP_FILTER__CB_GT};
            p->tok = T_OP;
            p->op = map[i];
            p->tlen = strlen(ops[i]);
            return;
        }
    p->tlen = 2;
    if (strncmp(s, "&&", 2) == 0)
        p->tok = T_AND;
    else if (strncmp(s, "||", 2) == 0)
        p->tok = T_OR;
    else {
        p->tlen = 1;
        p->tok = *s == '('   ? T_LP
                 : *s == ')' ? T_RP
                 : *s == ',' ? T_COMMA
                             : T_BAD;
    }
}

static int add_node(struct parser *p, const struct dp_filter__cb_node *n)
{
    struct dp_filter__cb_expr *e = p->e;

    if (e->n_nodes >= MAX_NODES)
        return perr(p, "expression too long (%s)", "over 1024 nodes");
    if (e->n_nodes == e->cap_nodes) {
        size_t cap = e->cap_nodes ? e->cap_nodes * 2 : 8;
        void *v = realloc(e->nodes, cap * sizeof(*e->nodes));
        if (v == NULL)
            return cm_err_set(p->err, p->len, GW_ENOMEM, "out of memory");
        e->nodes = v;
        e->cap_nodes = cap;
    }
    e->nodes[e->n_nodes] = *n;
    return (int)e->n_nodes++;
}

static int add_range(struct parser *p, int64_t lo, int64_t hi)
{
    struct dp_filter__cb_expr *e = p->e;

    for (size_t i = 0; i < e->n_ranges; i++)
        if (e->ranges[i].lo == lo && e->ranges[i].hi == hi)
            return (int)i;
    if (e->n_ranges >= DP_FILTER__CB_MAX_RANGES)
        return perr(p, "too many distinct ResponseCodeRatio ranges (%s)",
                    "max 16");
    e->ranges[e->n_ranges].lo = lo;
    e->ranges[e->n_ranges].hi = hi;
    return (int)e->n_ranges++;
}

static int parse_or(struct parser *p, struct val *out);

/* Literal arguments of a call: <want> is "iiii", "f" or "". */
static int call_args(struct parser *p, const char *fn, const char *want,
                     struct val *args)
{
    size_t k = 0;

    next(p); /* past '(' */
    while (p->tok != T_RP) {
        if (k > 0) {
            if (p->tok != T_COMMA)
                return perr(p, "expected ',' or ')' in %s()", fn);
            next(p);
        }
        if (p->tok != T_INT && p->tok != T_FLOAT)
            return perr(p, "%s() takes literal numbers", fn);
        if (k >= strlen(want) || (want[k] == 'i') != (p->tok == T_INT))
            return perr(p,
                        "wrong arguments for %s() (want ResponseCodeRatio"
                        "(int, int, int, int), LatencyAtQuantileMS(float),"
                        " NetworkErrorRatio())",
                        fn);
        args[k].ival = p->ival;
        args[k].fval = p->fval;
        k++;
        next(p);
    }
    if (k != strlen(want))
        return perr(p, "wrong number of arguments for %s()", fn);
    next(p); /* past ')' */
    return 0;
}

static int parse_call(struct parser *p, struct val *out)
{
    struct dp_filter__cb_node n = {.kind = DP_FILTER__CB_CMP};
    char fn[32];
    struct val a[4];
    int r;

    snprintf(fn, sizeof(fn), "%.*s", (int)(p->tlen < 31 ? p->tlen : 31),
             p->s + p->tstart);
    next(p);
    if (p->tok != T_LP)
        return perr(p, "unsupported identifier %s (want a function call)", fn);
    if (strcmp(fn, "NetworkErrorRatio") == 0) {
        n.metric = DP_FILTER__CB_NETERR;
        r = call_args(p, fn, "", a);
    } else if (strcmp(fn, "ResponseCodeRatio") == 0) {
        n.metric = DP_FILTER__CB_CODES;
        if ((r = call_args(p, fn, "iiii", a)) == 0 &&
            (r = add_range(p, a[0].ival, a[1].ival)) >= 0) {
            n.ra = r;
            r = add_range(p, a[2].ival, a[3].ival);
            n.rb = r;
        }
    } else if (strcmp(fn, "LatencyAtQuantileMS") == 0) {
        n.metric = DP_FILTER__CB_LATENCY;
        if ((r = call_args(p, fn, "f", a)) == 0) {
            if (a[0].fval < 0 || a[0].fval > 100)
                return perr(p,
                            "LatencyAtQuantileMS(%s): quantile outside "
                            "0-100",
                            "q");
            n.q = a[0].fval;
            p->e->uses_latency = true;
        }
    } else {
        return perr(p, "unsupported function: %s", fn);
    }
    if (r < 0)
        return r;
    if ((r = add_node(p, &n)) < 0)
        return r;
    out->t = n.metric == DP_FILTER__CB_LATENCY ? V_MINT : V_MFLOAT;
    out->node = r;
    return 0;
}

static int parse_unary(struct parser *p, struct val *out)
{
    int r;

    switch (p->tok) {
    case T_LP:
        if (++p->depth > MAX_DEPTH)
            return perr(p, "nested too deeply (%s)", "over 64 levels");
        next(p);
        if ((r = parse_or(p, out)) != 0)
            return r;
        if (p->tok != T_RP)
            return perr(p, "expected '%s'", ")");
        p->depth--;
        next(p);
        return 0;
    case T_IDENT:
        return parse_call(p, out);
    case T_INT:
    case T_FLOAT:
        out->t = p->tok == T_INT ? V_LINT : V_LFLOAT;
        out->ival = p->ival;
        out->fval = p->fval;
        next(p);
        return 0;
    case T_END:
        return perr(p, "unexpected end of %s", "expression");
    default:
        return perr(p, "unexpected '%.1s'", p->s + p->tstart);
    }
}

static int parse_cmp(struct parser *p, struct val *out)
{
    struct val rhs;
    int op, r;

    if ((r = parse_unary(p, out)) != 0 || p->tok != T_OP)
        return r;
    op = p->op;
    next(p);
    if ((r = parse_unary(p, &rhs)) != 0)
        return r;
    if (out->t != V_MINT && out->t != V_MFLOAT)
        return perr(p,
                    "a comparison needs a metric function on its left "
                    "(%s)",
                    "e.g. NetworkErrorRatio() > 0.5");
    if (out->t == V_MFLOAT && rhs.t != V_LFLOAT)
        return perr(p, "ratios compare with a float literal (%s)", "0.5");
    if (out->t == V_MINT && rhs.t != V_LINT)
        return perr(p,
                    "LatencyAtQuantileMS compares with an int literal "
                    "(%s)",
                    "100");
    p->e->nodes[out->node].op = (uint8_t)op;
    p->e->nodes[out->node].fval = rhs.fval;
    p->e->nodes[out->node].ival = rhs.ival;
    out->t = V_BOOL;
    if (p->tok == T_OP)
        return perr(p, "comparisons do not chain (%s)", "use &&");
    return 0;
}

static int join(struct parser *p, int kind, struct val *l, struct val *r)
{
    struct dp_filter__cb_node n = {.kind = (uint8_t)kind};
    int i;

    if (l->t != V_BOOL || r->t != V_BOOL)
        return perr(p, "%s needs comparisons on both sides",
                    kind == DP_FILTER__CB_AND ? "&&" : "||");
    n.ra = l->node;
    n.rb = r->node;
    if ((i = add_node(p, &n)) < 0)
        return i;
    l->node = i;
    return 0;
}

static int parse_and(struct parser *p, struct val *out)
{
    struct val r;
    int rc;

    if ((rc = parse_cmp(p, out)) != 0)
        return rc;
    while (p->tok == T_AND) {
        next(p);
        if ((rc = parse_cmp(p, &r)) != 0 ||
            (rc = join(p, DP_FILTER__CB_AND, out, &r)) != 0)
            return rc;
    }
    return 0;
}

static int parse_or(struct parser *p, struct val *out)
{
    struct val r;
    int rc;

    if ((rc = parse_and(p, out)) != 0)
        return rc;
    while (p->tok == T_OR) {
        next(p);
        if ((rc = parse_and(p, &r)) != 0 ||
            (rc = join(p, DP_FILTER__CB_OR, out, &r)) != 0)
            return rc;
    }
    return 0;
}

struct dp_filter__cb_expr *dp_filter__cb_parse(const char *s, char *err,
                                               size_t len)
{
    struct parser p = {.s = s, .err = err, .len = len};
    struct val v;

    if ((p.e = calloc(1, sizeof(*p.e))) == NULL) {
        cm_err_set(err, len, GW_ENOMEM, "out of memory");
        return NULL;
    }
    next(&p);
    if (parse_or(&p, &v) != 0)
        goto fail;
    if (p.tok != T_END) {
        perr(&p, "unexpected '%.1s' after the expression", s + p.tstart);
        goto fail;
    }
    if (v.t != V_BOOL) {
        perr(&p, "expected a predicate (%s)", "e.g. NetworkErrorRatio() > 0.5");
        goto fail;
    }
    p.e->root = v.node;
    return p.e;
fail:
    dp_filter__cb_expr_free(p.e);
    return NULL;
}

void dp_filter__cb_expr_free(struct dp_filter__cb_expr *e)
{
    if (e == NULL)
        return;
    free(e->nodes);
    free(e);
}
