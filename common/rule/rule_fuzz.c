/*
 * rule_fuzz.c -- libFuzzer target for common/rule: parse arbitrary bytes;
 * for rules that parse, the canonical print must parse back to the same
 * print, and the DNF (when within limits) must print as a rule whose DNF has
 * as many conjunctions; every accessor and the xDS check run on it.
 */
#include "common/err/err.h"
#include "common/rule/rule.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void check_dnf(const struct cm_rule *r)
{
    char err[CM_ERR_LEN];
    struct cm_rule_dnf *d = NULL;

    if (cm_rule_to_dnf(r, &d, err, sizeof(err)) != 0) {
        if (d != NULL || strncmp(err, "rule: ", 6) != 0)
            abort();
        return;
    }
    size_t n = cm_rule_dnf_count(d);
    if (n == 0 || n > CM_RULE_MAX_CONJS)
        abort();
    for (size_t i = 0; i < n; i++) {
        const struct cm_rule_conj *c = cm_rule_dnf_conj(d, i);
        size_t total = 0;
        for (int m = 0; m < CM_RULE_NMATCHERS; m++)
            total += cm_rule_conj_count(c, (enum cm_rule_matcher)m);
        if (total != c->nlits || c->nlits == 0)
            abort();
        (void)cm_rule_conj_host(c);
        (void)cm_rule_conj_path(c);
        (void)cm_rule_conj_check_xds(c, err, sizeof(err));
    }
    char *text = cm_rule_dnf_format(d);
    if (text == NULL)
        abort();
    struct cm_rule *again = cm_rule_parse(text, err, sizeof(err));
    if (again == NULL)
        abort();
    struct cm_rule_dnf *d2 = NULL;
    if (cm_rule_to_dnf(again, &d2, err, sizeof(err)) != 0 ||
        cm_rule_dnf_count(d2) != n)
        abort();
    cm_rule_dnf_free(d2);
    cm_rule_free(again);
    free(text);
    cm_rule_dnf_free(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[CM_ERR_LEN];
    char *src = malloc(size + 1);

    if (src == NULL)
        return 0;
    memcpy(src, data, size);
    src[size] = '\0';
    struct cm_rule *r = cm_rule_parse(src, err, sizeof(err));
    if (r == NULL) {
        if (strncmp(err, "rule: ", 6) != 0)
            abort();
        free(src);
        return 0;
    }
    char *p1 = cm_rule_format(r);
    struct cm_rule *r2 = cm_rule_parse(p1, err, sizeof(err));
    if (r2 == NULL)
        abort();
    char *p2 = cm_rule_format(r2);
    if (strcmp(p1, p2) != 0)
        abort();
    check_dnf(r);
    free(p2);
    free(p1);
    cm_rule_free(r2);
    cm_rule_free(r);
    free(src);
    return 0;
}
