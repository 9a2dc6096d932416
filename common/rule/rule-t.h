/*
 * rule-t.h -- types of the Traefik rule language module (cm_rule_): the
 * matcher kinds, the parsed tree (AST) and the disjunctive normal form (DNF)
 * the translator turns into xDS routes. Prototypes are in rule.h. Plain data;
 * any thread may read a rule or DNF once built.
 */
#ifndef CM_RULE_T_H
#define CM_RULE_T_H

#include <stddef.h>

/* Parentheses and '!' nested deeper than this are rejected (stack bound). */
#define CM_RULE_MAX_DEPTH 64
/* A DNF with more conjunctions than this is rejected (xDS route bound). */
#define CM_RULE_MAX_CONJS 64
/* Distinct matcher values a rule may hold before DNF gives up. */
#define CM_RULE_MAX_ATOMS 1024

/* The matchers of Traefik v3 HTTP routers. Argument counts: */
enum cm_rule_matcher {
    CM_RULE_HOST,          /* Host(`h`): 1 (v2: 1+, OR); lower-cased */
    CM_RULE_HOST_REGEXP,   /* HostRegexp(`re`): 1 */
    CM_RULE_PATH,          /* Path(`/p`): 1 (v2: 1+, OR) */
    CM_RULE_PATH_PREFIX,   /* PathPrefix(`/p`): 1 (v2: 1+, OR) */
    CM_RULE_PATH_REGEXP,   /* PathRegexp(`re`): 1 */
    CM_RULE_METHOD,        /* Method(`GET`): 1 (v2: 1+, OR); upper-cased */
    CM_RULE_HEADER,        /* Header(`k`, `v`): 2 */
    CM_RULE_HEADER_REGEXP, /* HeaderRegexp(`k`, `re`): 2 */
    CM_RULE_QUERY,         /* Query(`k`, `v`): 2, or Query(`k`): 1 (*) */
    CM_RULE_QUERY_REGEXP,  /* QueryRegexp(`k`, `re`): 2, or 1 = Query(`k`) */
    CM_RULE_CLIENT_IP,     /* ClientIP(`ip` or `cidr`): 1 (v2: 1+, OR) */
};
/* (*) Query(`k`) with one argument: Traefik v3 matches a request whose query
 * has key k with an empty value (`?k` or `?k=`); we call it "key present" and
 * leave the exact xDS mapping (present_match) to the translator. */

#define CM_RULE_NMATCHERS (CM_RULE_CLIENT_IP + 1)

enum cm_rule_op {
    CM_RULE_AND,     /* all of child, child->next, ... (2 or more) */
    CM_RULE_OR,      /* any of child, child->next, ... (2 or more) */
    CM_RULE_NOT,     /* not child (exactly one) */
    CM_RULE_MATCHER, /* matcher(args...) */
};

/* One node of a parsed rule. Nodes live in the rule's arena: they are freed
 * together by cm_rule_free() and never individually. Operands of AND/OR form
 * a list through <next>. */
struct cm_rule_node {
    enum cm_rule_op op;
    size_t pos;                   /* 0-based byte offset of the node's
                                     first token in the rule text */
    struct cm_rule_node *child;   /* AND/OR: first operand; NOT: operand */
    struct cm_rule_node *next;    /* next operand of the parent AND/OR */
    enum cm_rule_matcher matcher; /* MATCHER only */
    size_t nargs;                 /* MATCHER only: >= 1 */
    char **args;                  /* MATCHER only: decoded, NUL-terminated */
};

/* A parsed rule: the tree plus the arena holding it. Opaque; see rule.h. */
struct cm_rule;

/* One literal of a conjunction: a matcher with a single value, possibly
 * negated. Multi-valued v2 matchers (Host(`a`, `b`)) are split into one
 * literal per value while building the DNF, so Host/Path/PathPrefix/Method/
 * ClientIP literals always have nargs == 1; Header/HeaderRegexp have 2;
 * Query/QueryRegexp 1 or 2; args[1] is NULL when nargs == 1. Strings
 * belong to the DNF. */
struct cm_rule_lit {
    enum cm_rule_matcher matcher;
    int negated;  /* 1: the request must NOT match */
    size_t pos;   /* 0-based offset of the matcher in the rule text */
    size_t nargs; /* 1 or 2 */
    const char *args[2];
};

/* A conjunction: every literal must hold. Literals are distinct, sorted by
 * matcher kind (enum order: host, path, method, header, query, client IP),
 * then arguments, then plain before negated. A conjunction may be unsatisfiable
 * (Host(`a`) && Host(`b`), or A && !A); the DNF keeps it,
 * cm_rule_conj_check_xds() reports it. */
struct cm_rule_conj {
    size_t nlits; /* >= 1 */
    struct cm_rule_lit *lits;
};

/* A rule in disjunctive normal form: an OR of 1..CM_RULE_MAX_CONJS distinct
 * conjunctions, in the order the rule's alternatives appear. Opaque; see
 * rule.h. */
struct cm_rule_dnf;

#endif
