/*
 * rule_test.c -- unit tests of common/rule: tables of valid rules (canonical
 * print, DNF, priority), of invalid rules (column and message), DNF limits,
 * conjunction accessors and the xDS expressibility check.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/err/err.h"
#include "common/rule/rule.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ==== Valid rules ==== */

struct valid_case {
    const char *src;
    const char *canon; /* NULL: same as src */
    const char *dnf;   /* NULL: same as canon */
    size_t nconjs;
};

static const struct valid_case valid[] = {
    {"Host(`a.example`)", NULL, NULL, 1},
    {"Host(`A.Example.COM`)", "Host(`a.example.com`)", NULL, 1},
    {"Host(`a`) && (Path(`/x`) || Path(`/y`))", NULL,
     "Host(`a`) && Path(`/x`) || Host(`a`) && Path(`/y`)", 2},
    {"!(Host(`a`) || Host(`b`))", NULL, "!Host(`a`) && !Host(`b`)", 1},
    {"!(Method(`GET`) && Path(`/x`))", NULL, "!Method(`GET`) || !Path(`/x`)",
     2},
    {"Host(\"a\")", "Host(`a`)", NULL, 1},
    {"Header(`X-Id`, \"a`b\")", NULL, NULL, 1},
    {"Path(\"/a\\\"b\\\\c\")", "Path(`/a\"b\\c`)", NULL, 1},
    {"  Host(`a`)&&Path(`/`)\n", "Host(`a`) && Path(`/`)", NULL, 1},
    {"Host(`a`, `b`)", NULL, "Host(`a`) || Host(`b`)", 2},
    {"!Host(`a`, `b`)", NULL, "!Host(`a`) && !Host(`b`)", 1},
    {"Method(`get`)", "Method(`GET`)", NULL, 1},
    {"Path(`/a`) || Path(`/b`) && Method(`GET`)", NULL, NULL, 2},
    {"(Path(`/a`) || Path(`/b`)) && Method(`GET`)", NULL,
     "Path(`/a`) && Method(`GET`) || Path(`/b`) && Method(`GET`)", 2},
    {"((Host(`a`)))", "Host(`a`)", NULL, 1},
    {"!!Host(`a`)", NULL, "Host(`a`)", 1},
    {"!(!Host(`a`) && Path(`/`))", NULL, "Host(`a`) || !Path(`/`)", 2},
    {"Host(`a`) && Host(`a`)", NULL, "Host(`a`)", 1},
    {"Host(`a`) || Host(`A`)", "Host(`a`) || Host(`a`)", "Host(`a`)", 1},
    {"Query(`k`)", NULL, NULL, 1},
    {"Query(`k`, `v`) && QueryRegexp(`n`, `^[0-9]+$`)", NULL, NULL, 1},
    {"QueryRegexp(`k`)", NULL, NULL, 1},
    {"ClientIP(`10.0.0.0/8`) || ClientIP(`::1`)", NULL, NULL, 2},
    {"ClientIP(`2001:db8::/32`, `192.168.1.1`)", NULL,
     "ClientIP(`2001:db8::/32`) || ClientIP(`192.168.1.1`)", 2},
    {"HostRegexp(`^[a-z]+\\.example\\.com$`)", NULL, NULL, 1},
    {"PathRegexp(`^/api/v[0-9]+/(?P<rest>.*)$`)", NULL, NULL, 1},
    {"HeaderRegexp(`Content-Type`, `^application/(json|xml)$`)", NULL, NULL, 1},
    {"PathRegexp(`[(?=]\\(?!x\\)`)", NULL, NULL, 1},
    {"(Host(`a`) || Host(`b`)) && (Path(`/x`) || Path(`/y`))", NULL,
     "Host(`a`) && Path(`/x`) || Host(`a`) && Path(`/y`) || "
     "Host(`b`) && Path(`/x`) || Host(`b`) && Path(`/y`)",
     4},
    {"(Host(`a`) && Path(`/`)) && Method(`GET`)",
     "Host(`a`) && Path(`/`) && Method(`GET`)", NULL, 1},
    {"Host(`a`) || (Host(`b`) || Host(`c`))",
     "Host(`a`) || Host(`b`) || Host(`c`)", NULL, 3},
    {"Host(`a`) && !(Path(`/x`) && !Method(`GET`))", NULL,
     "Host(`a`) && !Path(`/x`) || Host(`a`) && Method(`GET`)", 2},
    {"Host(`a`,)", "Host(`a`)", NULL, 1},
    {"Host(`example.com.`) || Host(`[::1]`) || Host(`127.0.0.1`)", NULL, NULL,
     3},
    {"Host(`under_score.x-y.example`)", NULL, NULL, 1},
    {"Path(\"/\\x41\\u00e9\\101\\U0001F600\")",
     "Path(`/A\xc3\xa9"
     "A\xf0\x9f\x98\x80`)",
     NULL, 1},
    {"Header(`X`, \"a\\tb`\")", "Header(`X`, \"a\\x09b`\")", NULL, 1},
    {"Header(`X`, `multi\nline`)", NULL, NULL, 1},
    {"Method (`PURGE`) && Header ( `a` , `` )",
     "Method(`PURGE`) && Header(`a`, ``)", NULL, 1},
};

static void expect_print(const struct cm_rule *r, const char *want)
{
    char *got = cm_rule_format(r);
    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
}

static void test_valid(void **state)
{
    char err[CM_ERR_LEN];

    for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
        const struct valid_case *c = &valid[i];
        const char *canon = c->canon ? c->canon : c->src;
        const char *dnf = c->dnf ? c->dnf : canon;
        print_message("case %zu: %s\n", i, c->src);

        struct cm_rule *r = cm_rule_parse(c->src, err, sizeof(err));
        if (r == NULL)
            fail_msg("%s: %s", c->src, err);
        expect_print(r, canon);

        /* The canonical text parses back to itself. */
        struct cm_rule *again = cm_rule_parse(canon, err, sizeof(err));
        if (again == NULL)
            fail_msg("%s: %s", canon, err);
        expect_print(again, canon);
        cm_rule_free(again);

        struct cm_rule_dnf *d = NULL;
        assert_int_equal(cm_rule_to_dnf(r, &d, err, sizeof(err)), 0);
        cm_rule_free(r); /* the DNF must not refer to the rule */
        assert_int_equal(cm_rule_dnf_count(d), c->nconjs);
        char *text = cm_rule_dnf_format(d);
        assert_non_null(text);
        assert_string_equal(text, dnf);
        cm_rule_dnf_free(d);

        /* The DNF text is itself a rule with the same DNF. */
        r = cm_rule_parse(text, err, sizeof(err));
        if (r == NULL)
            fail_msg("%s: %s", text, err);
        assert_int_equal(cm_rule_to_dnf(r, &d, err, sizeof(err)), 0);
        char *text2 = cm_rule_dnf_format(d);
        assert_string_equal(text2, text);
        free(text2);
        free(text);
        cm_rule_dnf_free(d);
        cm_rule_free(r);
    }
}

static void test_tree_shape(void **state)
{
    char err[CM_ERR_LEN];
    struct cm_rule *r = cm_rule_parse(
        "Host(`a`) || !Path(`/x`) && Header(`k`, `v`)", err, sizeof(err));
    assert_non_null(r);
    const struct cm_rule_node *n = cm_rule_root(r);
    assert_int_equal(n->op, CM_RULE_OR);
    assert_int_equal(n->pos, 0);
    const struct cm_rule_node *host = n->child, *and = host->next;
    assert_int_equal(host->op, CM_RULE_MATCHER);
    assert_int_equal(host->matcher, CM_RULE_HOST);
    assert_int_equal(host->nargs, 1);
    assert_string_equal(host->args[0], "a");
    assert_int_equal(and->op, CM_RULE_AND);
    assert_null(and->next);
    assert_int_equal(and->pos, 13);
    const struct cm_rule_node *not = and->child;
    assert_int_equal(not ->op, CM_RULE_NOT);
    assert_int_equal(not ->child->matcher, CM_RULE_PATH);
    assert_int_equal(not ->child->pos, 14);
    const struct cm_rule_node *hdr = not ->next;
    assert_int_equal(hdr->matcher, CM_RULE_HEADER);
    assert_int_equal(hdr->nargs, 2);
    assert_string_equal(hdr->args[1], "v");
    assert_null(hdr->next);
    char *sub = cm_rule_format_node(and);
    assert_string_equal(sub, "!Path(`/x`) && Header(`k`, `v`)");
    free(sub);
    cm_rule_free(r);
    cm_rule_free(NULL);
}

static void test_priority(void **state)
{
    assert_int_equal(cm_rule_default_priority("Host(`a`)"), 9);
    assert_int_equal(cm_rule_default_priority("Host(`a`) && Path(`/x`)"), 23);
    assert_int_equal(cm_rule_default_priority("  Host(`a`)  "), 13);
    assert_int_equal(cm_rule_default_priority(""), 0);
    assert_int_equal(cm_rule_default_priority(NULL), 0);
}

static void test_names(void **state)
{
    assert_string_equal(cm_rule_matcher_name(CM_RULE_PATH_PREFIX),
                        "PathPrefix");
    assert_string_equal(cm_rule_matcher_name(CM_RULE_CLIENT_IP), "ClientIP");
    assert_string_equal(cm_rule_matcher_name((enum cm_rule_matcher)99), "?");
}

/* ==== Invalid rules ==== */

struct invalid_case {
    const char *src;
    int column;
    const char *msg; /* substring of the error */
};

static const struct invalid_case invalid[] = {
    {"", 1, "empty rule"},
    {"  \t\n", 1, "empty rule"},
    {"Host(`a", 6, "unterminated string"},
    {"Host(\"a", 6, "unterminated string"},
    {"Host(\"a\nb\")", 6, "unterminated string"},
    {"Host(\"a\\", 6, "unterminated string"},
    {"Host(`a`", 9, "expected ',' or ')' but found end of rule"},
    {"(Host(`a`)", 11, "expected ')' but found end of rule"},
    {"(Host(`a`) Path(`/`))", 12, "expected ')' but found \"Path\""},
    {"Host(`a`) Path(`/`)", 11,
     "expected '&&', '||' or end of rule but found \"Path\""},
    {"Host(`a`))", 10, "expected '&&', '||' or end of rule but found ')'"},
    {"Host(`a`) &&", 13,
     "expected a matcher, '!' or '(' but found end of rule"},
    {"Host(`a`) && ", 14, "but found end of rule"},
    {"Host(`a`) || !", 15, "but found end of rule"},
    {"Host(`a`) && 5", 14, "expected a matcher, '!' or '(' but found '5'"},
    {"&& Host(`a`)", 1, "expected a matcher, '!' or '(' but found '&'"},
    {"()", 2, "expected a matcher"},
    {"Host(`a`) & Path(`/`)", 11, "expected '&&' but found a single '&'"},
    {"Host(`a`) | Path(`/`)", 11, "expected '||' but found a single '|'"},
    {"Host(`a`) && Hots(`b`)", 14, "unknown matcher \"Hots\""},
    {"host(`a`)", 1, "unknown matcher \"host\" (did you mean Host?)"},
    {"Headers(`a`, `b`)", 1, "Traefik v2 syntax; use Header"},
    {"HostSNI(`a`)", 1, "unknown matcher \"HostSNI\""},
    {"Header(`a`)", 1, "Header takes 2 arguments, got 1"},
    {"Host()", 1, "Host takes at least 1 argument, got 0"},
    {"Query(`a`, `b`, `c`)", 1, "Query takes 1 or 2 arguments, got 3"},
    {"Path(`/`) || HostRegexp(`a`, `b`)", 14,
     "HostRegexp takes 1 argument, got 2"},
    {"Host(a)", 6, "expected a string in backticks or double quotes"},
    {"Host('a')", 6, "expected a string"},
    {"Host `a`", 6, "expected '(' after Host but found '`'"},
    {"Host(`a` `b`)", 10, "expected ',' or ')'"},
    {"Host(`a`,,)", 10, "expected a string"},
    {"Path(\"\\q\")", 7, "unknown escape sequence '\\q'"},
    {"Path(\"/\\x00\")", 8, "NUL byte"},
    {"Path(\"/\\ud800\")", 8, "invalid escape sequence"},
    {"Path(\"/\\xg0\")", 8, "invalid escape sequence"},
    {"Path(\"/\\400\")", 8, "invalid escape sequence"},
    {"Path(\"/\\'\")", 8, "unknown escape sequence"},
    {"PathRegexp(`(`)", 12, "PathRegexp: invalid regexp: missing closing"},
    {"HeaderRegexp(`X`, `a[`)", 19, "invalid regexp"},
    {"PathRegexp(`(a)\\1`)", 12, "back references are not supported"},
    {"PathRegexp(`^/(?=a)`)", 12, "construct at offset 2 is not supported"},
    {"HostRegexp(`(?<!a)b`)", 12, "not supported"},
    {"QueryRegexp(`k`, `a(?>b)`)", 18, "not supported"},
    {"HostRegexp(`\xc3\xa9`)", 12, "non-ASCII"},
    {"PathRegexp(`\xff`)", 12, "invalid regexp"},
    {"ClientIP(`10.0.0.0/33`)", 10, "CIDR prefix length out of range"},
    {"ClientIP(`::/129`)", 10, "out of range"},
    {"ClientIP(`10.0.0`)", 10, "invalid IP address or CIDR"},
    {"ClientIP(`10.0.0.0/`)", 10, "invalid IP address or CIDR"},
    {"ClientIP(`10.0.0.0/8/8`)", 10, "invalid IP address or CIDR"},
    {"ClientIP(`1.2.3.4`, `x`)", 21, "invalid IP address or CIDR"},
    {"Path(`x`)", 6, "Path: path must start with '/'"},
    {"PathPrefix(``)", 12, "path must start with '/'"},
    {"Host(`*.example.com`)", 6, "wildcards are not supported"},
    {"Host(``)", 6, "empty host name"},
    {"Host(`a:80`)", 6, "must not contain a port"},
    {"Host(`a..b`)", 6, "empty label"},
    {"Host(`.`)", 6, "empty label"},
    {"Host(`-a.b`)", 6, "starts or ends with '-'"},
    {"Host(`a b`)", 6, "invalid character ' '"},
    {"Host(`\xc3\xa9.com`)", 6, "non-ASCII"},
    {"Host(`a`, `b/c`)", 11, "invalid character '/'"},
    {"Method(`G T`)", 8, "HTTP token"},
    {"Method(``)", 8, "HTTP token"},
    {"Header(`a b`, `v`)", 8, "invalid header name"},
    {"Query(``)", 7, "empty query parameter name"},
};

static void test_invalid(void **state)
{
    char err[CM_ERR_LEN], want[64];

    for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
        const struct invalid_case *c = &invalid[i];
        print_message("case %zu: %s\n", i, c->src);
        err[0] = '\0';
        assert_null(cm_rule_parse(c->src, err, sizeof(err)));
        snprintf(want, sizeof(want), "rule: column %d: ", c->column);
        if (strncmp(err, want, strlen(want)) != 0 ||
            strstr(err, c->msg) == NULL)
            fail_msg("%s: got \"%s\", want \"%s...%s\"", c->src, err, want,
                     c->msg);
    }
}

static void test_long_label(void **state)
{
    char src[400], err[CM_ERR_LEN];
    char label[70];

    memset(label, 'a', 64);
    label[64] = '\0';
    snprintf(src, sizeof(src), "Host(`%s.com`)", label);
    assert_null(cm_rule_parse(src, err, sizeof(err)));
    assert_non_null(strstr(err, "longer than 63"));
    label[63] = '\0';
    snprintf(src, sizeof(src), "Host(`%s.com`)", label);
    struct cm_rule *r = cm_rule_parse(src, err, sizeof(err));
    assert_non_null(r);
    cm_rule_free(r);

    /* 4 * 63 + 3 dots = 255 > 253 */
    snprintf(src, sizeof(src), "Host(`%s.%s.%s.%s`)", label, label, label,
             label);
    assert_null(cm_rule_parse(src, err, sizeof(err)));
    assert_non_null(strstr(err, "longer than 253"));
}

/* Builds <n> nested "(" or "!" around Host(`a`). */
static char *nested(int n, int bang)
{
    char *s = malloc((size_t)n * 2 + 16);
    size_t k = 0;
    for (int i = 0; i < n; i++)
        s[k++] = bang ? '!' : '(';
    strcpy(s + k, "Host(`a`)");
    k += 9;
    for (int i = 0; i < n && !bang; i++)
        s[k++] = ')';
    s[k] = '\0';
    return s;
}

static void test_depth(void **state)
{
    char err[CM_ERR_LEN];

    for (int bang = 0; bang < 2; bang++) {
        char *ok = nested(CM_RULE_MAX_DEPTH, bang);
        struct cm_rule *r = cm_rule_parse(ok, err, sizeof(err));
        if (r == NULL)
            fail_msg("%s", err);
        struct cm_rule_dnf *d;
        assert_int_equal(cm_rule_to_dnf(r, &d, err, sizeof(err)), 0);
        assert_int_equal(cm_rule_dnf_conj(d, 0)->lits[0].negated, 0);
        cm_rule_dnf_free(d);
        cm_rule_free(r);
        free(ok);

        char *deep = nested(CM_RULE_MAX_DEPTH + 1, bang);
        assert_null(cm_rule_parse(deep, err, sizeof(err)));
        assert_string_equal(err, "rule: column 65: rule nested too deeply "
                                 "(more than 64 levels)");
        free(deep);
    }

    /* Depth is nesting, not length: a long flat chain is fine. */
    size_t n = 2000, k = 0;
    char *chain = malloc(n * 20);
    for (size_t i = 0; i < n; i++)
        k += (size_t)sprintf(chain + k, "%sPath(`/%zu`)", i ? "||" : "", i);
    struct cm_rule *r = cm_rule_parse(chain, err, sizeof(err));
    assert_non_null(r);
    struct cm_rule_dnf *d;
    assert_int_equal(cm_rule_to_dnf(r, &d, err, sizeof(err)), GW_ETOOBIG);
    assert_null(d);
    cm_rule_free(r);
    free(chain);
}

static void test_null_err(void **state)
{
    assert_null(cm_rule_parse("Host(", NULL, 0));
    assert_null(cm_rule_parse(NULL, NULL, 0));
}

/* ==== DNF ==== */

static struct cm_rule_dnf *dnf_of(const char *src)
{
    char err[CM_ERR_LEN];
    struct cm_rule *r = cm_rule_parse(src, err, sizeof(err));
    struct cm_rule_dnf *d = NULL;
    if (r == NULL)
        fail_msg("%s: %s", src, err);
    if (cm_rule_to_dnf(r, &d, err, sizeof(err)) != 0)
        fail_msg("%s: %s", src, err);
    cm_rule_free(r);
    return d;
}

static char *groups(int n)
{
    char *s = malloc((size_t)n * 64 + 1);
    s[0] = '\0';
    for (int i = 0; i < n; i++)
        sprintf(s + strlen(s), "%s(Header(`h%d`, `1`) || Query(`q%d`))",
                i ? " && " : "", i, i);
    return s;
}

static void test_dnf_limit(void **state)
{
    char err[CM_ERR_LEN];
    char *t;

    char *six = groups(6); /* 2^6 = 64 alternatives: at the limit */
    struct cm_rule_dnf *d = dnf_of(six);
    assert_int_equal(cm_rule_dnf_count(d), 64);
    assert_int_equal(cm_rule_dnf_conj(d, 63)->nlits, 6);
    assert_null(cm_rule_dnf_conj(d, 64));
    cm_rule_dnf_free(d);
    free(six);

    char *seven = groups(7);
    struct cm_rule *r = cm_rule_parse(seven, err, sizeof(err));
    assert_non_null(r);
    assert_int_equal(cm_rule_to_dnf(r, &d, err, sizeof(err)), GW_ETOOBIG);
    assert_non_null(strstr(err, "more than 64 alternatives"));
    /* The column is the operand that crossed the limit: the 7th group. */
    char want[64];
    snprintf(want, sizeof(want), "rule: column %zu: ",
             (size_t)(strstr(seven, "(Header(`h6`") - seven) + 2);
    assert_non_null(strstr(err, want));
    cm_rule_free(r);
    free(seven);

    /* Negated, it is by De Morgan 7 alternatives of 2 negated literals. */
    char neg[1024];
    seven = groups(7);
    snprintf(neg, sizeof(neg), "!(%s)", seven);
    free(seven);
    d = dnf_of(neg);
    assert_int_equal(cm_rule_dnf_count(d), 7);
    t = cm_rule_conj_format(cm_rule_dnf_conj(d, 6));
    assert_string_equal(t, "!Header(`h6`, `1`) && !Query(`q6`)");
    free(t);
    cm_rule_dnf_free(d);

    d = dnf_of("!((Header(`a`, `1`) || Query(`a`)) && Method(`GET`))");
    t = cm_rule_dnf_format(d);
    assert_string_equal(t, "!Header(`a`, `1`) && !Query(`a`) || "
                           "!Method(`GET`)");
    free(t);
    cm_rule_dnf_free(d);

    /* 65 values of a v2 multi-valued matcher. */
    char many[2048] = "Host(";
    for (int i = 0; i < 65; i++)
        sprintf(many + strlen(many), "%s`h%d`", i ? ", " : "", i);
    strcat(many, ")");
    r = cm_rule_parse(many, err, sizeof(err));
    assert_non_null(r);
    assert_int_equal(cm_rule_to_dnf(r, &d, err, sizeof(err)), GW_ETOOBIG);
    cm_rule_free(r);
    /* Negated, they are one conjunction of 65 literals. */
    many[0] = '!';
    memmove(many + 1, many, strlen(many) + 1);
    memcpy(many, "!Host(", 6);
    d = dnf_of(many);
    assert_int_equal(cm_rule_dnf_count(d), 1);
    assert_int_equal(cm_rule_dnf_conj(d, 0)->nlits, 65);
    cm_rule_dnf_free(d);
}

static void test_conj_accessors(void **state)
{
    char err[CM_ERR_LEN];
    struct cm_rule_dnf *d =
        dnf_of("Host(`a`) && PathPrefix(`/api`) && Method(`GET`) && "
               "!Header(`X`, `1`) && Query(`q`) && ClientIP(`10.0.0.0/8`)");
    assert_int_equal(cm_rule_dnf_count(d), 1);
    const struct cm_rule_conj *c = cm_rule_dnf_conj(d, 0);
    assert_int_equal(c->nlits, 6);

    const struct cm_rule_lit *h = cm_rule_conj_host(c);
    assert_int_equal(h->matcher, CM_RULE_HOST);
    assert_string_equal(h->args[0], "a");
    assert_int_equal(h->pos, 0);
    const struct cm_rule_lit *p = cm_rule_conj_path(c);
    assert_int_equal(p->matcher, CM_RULE_PATH_PREFIX);
    assert_string_equal(p->args[0], "/api");
    assert_int_equal(p->pos, 13);
    assert_int_equal(cm_rule_conj_count(c, CM_RULE_METHOD), 1);
    assert_int_equal(cm_rule_conj_count(c, CM_RULE_HEADER_REGEXP), 0);
    const struct cm_rule_lit *x = cm_rule_conj_nth(c, CM_RULE_HEADER, 0);
    assert_non_null(x);
    assert_int_equal(x->negated, 1);
    assert_int_equal(x->nargs, 2);
    assert_string_equal(x->args[0], "X");
    assert_string_equal(x->args[1], "1");
    assert_null(cm_rule_conj_nth(c, CM_RULE_HEADER, 1));
    const struct cm_rule_lit *q = cm_rule_conj_nth(c, CM_RULE_QUERY, 0);
    assert_int_equal(q->nargs, 1);
    assert_null(q->args[1]);
    assert_int_equal(cm_rule_conj_count(c, CM_RULE_CLIENT_IP), 1);
    assert_int_equal(cm_rule_conj_check_xds(c, err, sizeof(err)), 0);
    char *t = cm_rule_conj_format(c);
    assert_string_equal(t, "Host(`a`) && PathPrefix(`/api`) && "
                           "Method(`GET`) && !Header(`X`, `1`) && "
                           "Query(`q`) && ClientIP(`10.0.0.0/8`)");
    free(t);
    cm_rule_dnf_free(d);

    d = dnf_of("Method(`GET`)");
    c = cm_rule_dnf_conj(d, 0);
    assert_null(cm_rule_conj_host(c));
    assert_null(cm_rule_conj_path(c));
    cm_rule_dnf_free(d);
}

struct xds_case {
    const char *src;
    int column; /* 0: expressible */
    const char *msg;
};

static const struct xds_case xds[] = {
    {"Host(`a`) && Path(`/x`) && !Method(`GET`) && !Header(`a`, `b`)", 0, NULL},
    {"HostRegexp(`^a$`) && PathRegexp(`^/x`) && HeaderRegexp(`a`, `b`)", 0,
     NULL},
    {"Query(`a`) && QueryRegexp(`b`, `c`) && !ClientIP(`1.2.3.4`)", 0, NULL},
    {"Host(`a`) && Host(`a`)", 0, NULL},
    {"!Host(`a`)", 2, "negated Host cannot be expressed in xDS"},
    {"Path(`/`) && !HostRegexp(`a`)", 15, "negated HostRegexp"},
    {"Host(`a`) && Host(`b`)", 14, "another host matcher"},
    {"Host(`a`) && HostRegexp(`b`)", 14,
     "HostRegexp cannot be expressed in xDS together with another"},
    {"!Path(`/a`)", 2, "negated Path cannot"},
    {"Host(`a`) && !PathPrefix(`/a`)", 15, "path match cannot be negated"},
    {"Path(`/a`) && PathPrefix(`/b`)", 15, "another path matcher"},
    {"!Query(`a`)", 2, "query parameter matches cannot be negated"},
    {"!QueryRegexp(`a`, `b`)", 2, "negated QueryRegexp"},
};

static void test_check_xds(void **state)
{
    char err[CM_ERR_LEN], want[64];

    for (size_t i = 0; i < sizeof(xds) / sizeof(xds[0]); i++) {
        print_message("case %zu: %s\n", i, xds[i].src);
        struct cm_rule_dnf *d = dnf_of(xds[i].src);
        assert_int_equal(cm_rule_dnf_count(d), 1);
        int rc =
            cm_rule_conj_check_xds(cm_rule_dnf_conj(d, 0), err, sizeof(err));
        cm_rule_dnf_free(d);
        if (xds[i].column == 0) {
            assert_int_equal(rc, 0);
            continue;
        }
        assert_int_equal(rc, GW_EINVAL);
        snprintf(want, sizeof(want), "rule: column %d: ", xds[i].column);
        if (strncmp(err, want, strlen(want)) != 0 ||
            strstr(err, xds[i].msg) == NULL)
            fail_msg("%s: got \"%s\"", xds[i].src, err);
    }

    /* Per alternative: the ORed hosts are two fine conjunctions. */
    struct cm_rule_dnf *d = dnf_of("(Host(`a`) || Host(`b`)) && Path(`/`)");
    for (size_t i = 0; i < cm_rule_dnf_count(d); i++)
        assert_int_equal(
            cm_rule_conj_check_xds(cm_rule_dnf_conj(d, i), err, sizeof(err)),
            0);
    cm_rule_dnf_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),     cmocka_unit_test(test_tree_shape),
        cmocka_unit_test(test_priority),  cmocka_unit_test(test_names),
        cmocka_unit_test(test_invalid),   cmocka_unit_test(test_long_label),
        cmocka_unit_test(test_depth),     cmocka_unit_test(test_null_err),
        cmocka_unit_test(test_dnf_limit), cmocka_unit_test(test_conj_accessors),
        cmocka_unit_test(test_check_xds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
