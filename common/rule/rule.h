/*
 * rule.h -- the Traefik v3 rule language: parse a router rule such as
 * "Host(`a.example`) && (Path(`/x`) || !Method(`POST`))" into a tree,
 * validate every matcher, print it back canonically, and expand it into
 * disjunctive normal form for the xDS translator. Pure functions over
 * caller-owned data; no I/O, no global state; thread-safe.
 */
#ifndef CM_RULE_H
#define CM_RULE_H

#include "common/rule/rule-t.h"

#include <stddef.h>

/* ==== Parsing ==== */

/* Parses and validates <src> (borrowed, NUL-terminated). Returns a new rule;
 * free with cm_rule_free(). On failure returns NULL and writes into <err>
 * (<errlen> bytes, may be NULL) "rule: column N: message", N the 1-based
 * byte offset of the fault; on allocation failure the message says so.
 *
 * Syntax: matchers Name(arg, ...) whose arguments are Go string literals
 * (`raw` or "interpreted" with Go escapes), combined with '!', '&&', '||'
 * (tightest first) and parentheses, nested at most CM_RULE_MAX_DEPTH deep.
 * Validation: known matcher name (exact case), argument count, Host a valid
 * ASCII host name or IP (no wildcard, no port; lower-cased), Path/PathPrefix
 * starting with '/', Method an HTTP token (upper-cased), Header key a token,
 * Query key non-empty, regexes compiling under PCRE2 without backreferences
 * or lookbehind (Traefik and Envoy use RE2/Go syntax), ClientIP an IPv4 or
 * IPv6 address or CIDR. */
struct cm_rule *cm_rule_parse(const char *src, char *err, size_t errlen);

/* Frees <r> and every node and string in it. NULL is a no-op. */
void cm_rule_free(struct cm_rule *r);

/* Borrows: the root node, valid until cm_rule_free(<r>). Never NULL. */
const struct cm_rule_node *cm_rule_root(const struct cm_rule *r);

/* Traefik's default router priority: the length in bytes of the rule text
 * as written (not the canonical print), clamped to INT_MAX; 0 for NULL. */
int cm_rule_default_priority(const char *src);

/* Returns the matcher's name as written in rules ("PathPrefix"), or "?". */
const char *cm_rule_matcher_name(enum cm_rule_matcher m);

/* ==== Printing ==== */

/* Returns new canonical text of <r>; free with free(); NULL if out of
 * memory. Canonical: single spaces around "&&" and "||", ", " between
 * arguments, parentheses only where precedence needs them, arguments in
 * backticks unless they contain one (then "..." with \" \\ \xHH escapes).
 * Parsing the result gives a rule that prints the same. */
char *cm_rule_format(const struct cm_rule *r);

/* Like cm_rule_format() for one subtree (borrowed). */
char *cm_rule_format_node(const struct cm_rule_node *n);

/* Returns new text of one conjunction ("A && !B"), or of the whole DNF
 * ("A && B || C"); both parse back as rules. Free with free(). */
char *cm_rule_conj_format(const struct cm_rule_conj *c);
char *cm_rule_dnf_format(const struct cm_rule_dnf *d);

/* ==== Disjunctive normal form ==== */

/* Expands <r> (borrowed) into an OR of conjunctions of possibly negated
 * single-valued matchers: NOT is pushed to the matchers (De Morgan), AND is
 * distributed over OR, multi-valued v2 matchers are split, duplicate
 * literals in a conjunction and duplicate conjunctions are dropped. On
 * success stores a new DNF in <*out> (free with cm_rule_dnf_free(); it does
 * not refer to <r>) and returns 0. Fails with GW_ETOOBIG when more than
 * CM_RULE_MAX_CONJS conjunctions (or CM_RULE_MAX_ATOMS distinct matcher
 * values) would be needed, GW_ENOMEM when out of memory, filling <err>. */
int cm_rule_to_dnf(const struct cm_rule *r, struct cm_rule_dnf **out, char *err,
                   size_t errlen);

/* Frees <d>. NULL is a no-op. */
void cm_rule_dnf_free(struct cm_rule_dnf *d);

/* Number of conjunctions, >= 1. */
size_t cm_rule_dnf_count(const struct cm_rule_dnf *d);

/* Borrows: conjunction <i> (< count), valid until cm_rule_dnf_free(). */
const struct cm_rule_conj *cm_rule_dnf_conj(const struct cm_rule_dnf *d,
                                            size_t i);

/* Number of literals of matcher <m> in <c>, negated or not. */
size_t cm_rule_conj_count(const struct cm_rule_conj *c, enum cm_rule_matcher m);

/* Borrows: the <i>-th literal of matcher <m> in <c>, or NULL. */
const struct cm_rule_lit *cm_rule_conj_nth(const struct cm_rule_conj *c,
                                           enum cm_rule_matcher m, size_t i);

/* Borrows: the first Host or HostRegexp literal of <c>, or NULL (any host).
 * The translator groups routes into virtual hosts by this. */
const struct cm_rule_lit *cm_rule_conj_host(const struct cm_rule_conj *c);

/* Borrows: the first Path, PathPrefix or PathRegexp literal, or NULL (any
 * path: the translator uses prefix "/"). */
const struct cm_rule_lit *cm_rule_conj_path(const struct cm_rule_conj *c);

/* Checks that an xDS RouteMatch (inside a VirtualHost) can express <c>.
 * Returns 0, or GW_EINVAL with "rule: column N: ..." in <err> for:
 *   - a negated Host or HostRegexp: virtual host domains cannot be negated;
 *   - Host and HostRegexp together, or two different hosts: one virtual host
 *     per route (two different Host values can never both match anyway);
 *   - a negated Path, PathPrefix or PathRegexp: the RouteMatch path
 *     specifier (path / prefix / safe_regex) has no inversion;
 *   - more than one path matcher: RouteMatch has one path specifier;
 *   - a negated Query or QueryRegexp: QueryParameterMatcher has no
 *     invert_match.
 * Expressible: Header/HeaderRegexp and Method (the ":method" header), also
 * negated (HeaderMatcher.invert_match); Query/QueryRegexp (query_parameters;
 * one argument: present_match). ClientIP is not a RouteMatch field: it
 * passes this check and the translator must map it (e.g. to an RBAC-style
 * per-route config) or reject it itself. */
int cm_rule_conj_check_xds(const struct cm_rule_conj *c, char *err,
                           size_t errlen);

#endif
