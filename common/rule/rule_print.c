/*
 * rule_print.c -- canonical text of a rule tree, a conjunction and a DNF
 * (see rule.h for the format). Output is malloc'd for the caller; recursion
 * follows the tree, whose depth the parser bounds.
 */
#include "common/rule/rule.h"
#include "common/rule/rule_int.h"

#include <stdlib.h>

/* Binding strength: an operand weaker than its context gets parentheses. */
static int prec(const struct cm_rule_node *n)
{
    switch (n->op) {
    case CM_RULE_OR:
        return 1;
    case CM_RULE_AND:
        return 2;
    default:
        return 3;
    }
}

static void put_node(struct cm_rule__buf *b, const struct cm_rule_node *n,
                     int ctx)
{
    int paren = prec(n) < ctx;

    if (paren)
        cm_rule__buf_puts(b, "(");
    switch (n->op) {
    case CM_RULE_MATCHER:
        cm_rule__put_matcher(b, n->matcher, 0, (const char *const *)n->args,
                             n->nargs);
        break;
    case CM_RULE_NOT:
        cm_rule__buf_puts(b, "!");
        put_node(b, n->child, 3);
        break;
    case CM_RULE_AND:
    case CM_RULE_OR:
        for (const struct cm_rule_node *c = n->child; c; c = c->next) {
            if (c != n->child)
                cm_rule__buf_puts(b, n->op == CM_RULE_AND ? " && " : " || ");
            put_node(b, c, prec(n));
        }
        break;
    }
    if (paren)
        cm_rule__buf_puts(b, ")");
}

char *cm_rule_format_node(const struct cm_rule_node *n)
{
    struct cm_rule__buf b = {0};
    put_node(&b, n, 0);
    return cm_rule__buf_finish(&b);
}

char *cm_rule_format(const struct cm_rule *r)
{
    return cm_rule_format_node(cm_rule_root(r));
}

static void put_conj(struct cm_rule__buf *b, const struct cm_rule_conj *c)
{
    for (size_t i = 0; i < c->nlits; i++) {
        const struct cm_rule_lit *l = &c->lits[i];
        if (i > 0)
            cm_rule__buf_puts(b, " && ");
        cm_rule__put_matcher(b, l->matcher, l->negated, l->args, l->nargs);
    }
}

char *cm_rule_conj_format(const struct cm_rule_conj *c)
{
    struct cm_rule__buf b = {0};
    put_conj(&b, c);
    return cm_rule__buf_finish(&b);
}

char *cm_rule_dnf_format(const struct cm_rule_dnf *d)
{
    struct cm_rule__buf b = {0};
    size_t n = cm_rule_dnf_count(d);

    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            cm_rule__buf_puts(&b, " || ");
        put_conj(&b, cm_rule_dnf_conj(d, i));
    }
    return cm_rule__buf_finish(&b);
}
