/*
 * rule.c -- the rule parser: a recursive-descent parser over a complete,
 * NUL-terminated rule string (rules are short config values, never streamed,
 * so no resumable state machine), building the tree in the rule's arena.
 * Recursion is bounded by CM_RULE_MAX_DEPTH. Owns the rule object; the
 * printer is rule_print.c, the DNF rule_dnf.c, argument checks rule_check.c.
 */
#include "common/rule/rule.h"
#include "common/err/err.h"
#include "common/rule/rule_int.h"

#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct cm_rule {
    struct cm_rule__arena arena; /* owns every node and string */
    struct cm_rule_node *root;
};

/* ==== Matcher table ==== */

struct matcher_def {
    const char *name;
    enum cm_rule_matcher m;
    size_t min, max; /* argument counts; max 0: unbounded */
};

static const struct matcher_def matchers[CM_RULE_NMATCHERS] = {
    {"Host", CM_RULE_HOST, 1, 0},
    {"HostRegexp", CM_RULE_HOST_REGEXP, 1, 1},
    {"Path", CM_RULE_PATH, 1, 0},
    {"PathPrefix", CM_RULE_PATH_PREFIX, 1, 0},
    {"PathRegexp", CM_RULE_PATH_REGEXP, 1, 1},
    {"Method", CM_RULE_METHOD, 1, 0},
    {"Header", CM_RULE_HEADER, 2, 2},
    {"HeaderRegexp", CM_RULE_HEADER_REGEXP, 2, 2},
    {"Query", CM_RULE_QUERY, 1, 2},
    {"QueryRegexp", CM_RULE_QUERY_REGEXP, 1, 2},
    {"ClientIP", CM_RULE_CLIENT_IP, 1, 0},
};

/* Traefik v2 names that v3 renamed or dropped, with the v3 replacement. */
static const char *const v2_names[][2] = {
    {"Headers", "Header"},
    {"HeadersRegexp", "HeaderRegexp"},
    {"HostHeader", "Host"},
    {"Methods", "Method"},
};

const char *cm_rule_matcher_name(enum cm_rule_matcher m)
{
    if ((unsigned)m >= CM_RULE_NMATCHERS)
        return "?";
    return matchers[m].name;
}

/* ==== Parser state ==== */

struct parser {
    const char *src; /* borrowed rule text */
    size_t pos;      /* next byte to read */
    int depth;       /* open '(' and '!' */
    int failed;      /* an error is already in err */
    struct cm_rule *rule;
    char *err;
    size_t errlen;
};

/* A parsed argument before it is copied into the node's array. */
struct arg {
    char *s;    /* arena */
    size_t pos; /* offset of the opening quote */
    struct arg *next;
};

static void *perr(struct parser *p, size_t at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Records the first error, at 0-based offset <at>; returns NULL. */
static void *perr(struct parser *p, size_t at, const char *fmt, ...)
{
    char msg[CM_ERR_LEN];
    va_list ap;

    if (p->failed)
        return NULL;
    p->failed = 1;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    cm_err_set(p->err, p->errlen, GW_EINVAL, "rule: column %zu: %s", at + 1,
               msg);
    return NULL;
}

static void *oom(struct parser *p)
{
    if (!p->failed)
        cm_err_set(p->err, p->errlen, GW_ENOMEM, "rule: out of memory");
    p->failed = 1;
    return NULL;
}

static int is_ident_start(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static int is_ident(char c)
{
    return is_ident_start(c) || (c >= '0' && c <= '9');
}

static void skip_ws(struct parser *p)
{
    for (;;) {
        char c = p->src[p->pos];
        if (c != ' ' && c != '\t' && c != '\r' && c != '\n')
            return;
        p->pos++;
    }
}

/* Describes what is at <at> for "... but found X" messages. */
static const char *describe(const struct parser *p, size_t at, char *buf,
                            size_t len)
{
    unsigned char c = (unsigned char)p->src[at];
    if (c == '\0')
        return "end of rule";
    if (is_ident_start((char)c)) {
        size_t n = 0;
        while (is_ident(p->src[at + n]) && n < 32)
            n++;
        snprintf(buf, len, "\"%.*s\"", (int)n, p->src + at);
    } else if (c >= 0x20 && c < 0x7f) {
        snprintf(buf, len, "'%c'", c);
    } else {
        snprintf(buf, len, "byte 0x%02x", c);
    }
    return buf;
}

static void *expected(struct parser *p, const char *what)
{
    char buf[48];
    return perr(p, p->pos, "expected %s but found %s", what,
                describe(p, p->pos, buf, sizeof(buf)));
}

static struct cm_rule_node *new_node(struct parser *p, enum cm_rule_op op,
                                     size_t pos)
{
    struct cm_rule_node *n = cm_rule__alloc(&p->rule->arena, sizeof(*n));
    if (n == NULL)
        return oom(p);
    n->op = op;
    n->pos = pos;
    return n;
}

/* ==== String literals ==== */

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Reads <n> digits of base <base> at <s>; returns the value or -1. */
static long read_digits(const char *s, int n, int base)
{
    long v = 0;
    for (int i = 0; i < n; i++) {
        int d = hexval(s[i]);
        if (d < 0 || d >= base)
            return -1;
        v = v * base + d;
    }
    return v;
}

static size_t put_utf8(char *out, long cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xc0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xe0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    out[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* Decodes the escape at p->pos (a backslash) into <out>; returns the bytes
 * written, or 0 after an error. Go's escapes: \a \b \f \n \r \t \v \\ \"
 * \ooo \xhh \uhhhh \Uhhhhhhhh. */
static size_t read_escape(struct parser *p, char *out)
{
    static const char simple[] = "a\ab\bf\fn\nr\rt\tv\v\\\\\"\"";
    size_t at = p->pos;
    char c = p->src[at + 1];
    long v;
    int ndig = 0, base = 16, is_byte = 1;

    const char *s = c ? strchr(simple, c) : NULL;
    if (s != NULL && (s - simple) % 2 == 0) {
        out[0] = s[1];
        p->pos += 2;
        return 1;
    }
    switch (c) {
    case 'x':
        ndig = 2;
        break;
    case 'u':
        ndig = 4;
        is_byte = 0;
        break;
    case 'U':
        ndig = 8;
        is_byte = 0;
        break;
    default:
        if (c >= '0' && c <= '7') {
            ndig = 3;
            base = 8;
        }
    }
    if (ndig == 0) {
        if (c > 0x20 && c < 0x7f)
            perr(p, at, "unknown escape sequence '\\%c'", c);
        else
            perr(p, at, "unknown escape sequence");
        return 0;
    }
    size_t skip = base == 8 ? 1 : 2;
    v = read_digits(p->src + at + skip, ndig, base);
    if (v < 0 || (is_byte && v > 255) ||
        (!is_byte && (v > 0x10ffff || (v >= 0xd800 && v < 0xe000)))) {
        perr(p, at, "invalid escape sequence");
        return 0;
    }
    if (v == 0) {
        perr(p, at, "NUL byte not allowed in a string");
        return 0;
    }
    p->pos += skip + (size_t)ndig;
    if (is_byte) {
        out[0] = (char)v;
        return 1;
    }
    return put_utf8(out, v);
}

/* Reads "..." at p->pos; returns the decoded string in the arena. */
static char *read_quoted(struct parser *p)
{
    size_t open = p->pos, end = open + 1;

    /* Find the closing quote to size the output (decoded <= raw). */
    while (p->src[end] != '"') {
        if (p->src[end] == '\0' || p->src[end] == '\n')
            return perr(p, open, "unterminated string");
        if (p->src[end] == '\\' && p->src[end + 1] != '\0' &&
            p->src[end + 1] != '\n')
            end++;
        end++;
    }
    char *out = cm_rule__alloc(&p->rule->arena, end - open);
    if (out == NULL)
        return oom(p);
    size_t n = 0;
    p->pos = open + 1;
    while (p->pos < end) {
        if (p->src[p->pos] == '\\') {
            size_t w = read_escape(p, out + n);
            if (w == 0)
                return NULL;
            n += w;
        } else {
            out[n++] = p->src[p->pos++];
        }
    }
    out[n] = '\0';
    p->pos = end + 1;
    return out;
}

/* Reads `...` at p->pos: raw, any byte but a backtick. */
static char *read_raw(struct parser *p)
{
    size_t open = p->pos;
    const char *close = strchr(p->src + open + 1, '`');

    if (close == NULL)
        return perr(p, open, "unterminated string");
    size_t n = (size_t)(close - (p->src + open + 1));
    char *s = cm_rule__strndup(&p->rule->arena, p->src + open + 1, n);
    if (s == NULL)
        return oom(p);
    p->pos = open + 1 + n + 1;
    return s;
}

static struct arg *read_arg(struct parser *p)
{
    struct arg *a = cm_rule__alloc(&p->rule->arena, sizeof(*a));
    if (a == NULL)
        return oom(p);
    a->pos = p->pos;
    if (p->src[p->pos] == '`')
        a->s = read_raw(p);
    else if (p->src[p->pos] == '"')
        a->s = read_quoted(p);
    else
        return expected(p, "a string in backticks or double quotes");
    return a->s ? a : NULL;
}

/* ==== Matchers ==== */

static const struct matcher_def *lookup(struct parser *p, size_t at, size_t n)
{
    const char *name = p->src + at;

    for (int i = 0; i < CM_RULE_NMATCHERS; i++)
        if (strlen(matchers[i].name) == n &&
            memcmp(matchers[i].name, name, n) == 0)
            return &matchers[i];
    for (size_t i = 0; i < sizeof(v2_names) / sizeof(v2_names[0]); i++)
        if (strlen(v2_names[i][0]) == n && memcmp(v2_names[i][0], name, n) == 0)
            return perr(p, at,
                        "unknown matcher \"%.*s\" (Traefik v2 syntax; "
                        "use %s)",
                        (int)n, name, v2_names[i][1]);
    for (int i = 0; i < CM_RULE_NMATCHERS; i++)
        if (strlen(matchers[i].name) == n &&
            strncasecmp(matchers[i].name, name, n) == 0)
            return perr(p, at, "unknown matcher \"%.*s\" (did you mean %s?)",
                        (int)n, name, matchers[i].name);
    return perr(p, at, "unknown matcher \"%.*s\"", (int)n < 64 ? (int)n : 64,
                name);
}

/* Reads "(arg, ...)" after a matcher name into <*head> (in order) and
 * <*count>. A trailing comma is allowed, as in Go. Returns 0 or -1. */
static int read_args(struct parser *p, const char *name, struct arg **head,
                     size_t *count)
{
    struct arg **tail = head;
    char what[64];

    *head = NULL;
    *count = 0;
    skip_ws(p);
    if (p->src[p->pos] != '(') {
        snprintf(what, sizeof(what), "'(' after %s", name);
        expected(p, what);
        return -1;
    }
    p->pos++;
    for (;;) {
        skip_ws(p);
        if (p->src[p->pos] == ')')
            break;
        struct arg *a = read_arg(p);
        if (a == NULL)
            return -1;
        *tail = a;
        tail = &a->next;
        (*count)++;
        skip_ws(p);
        if (p->src[p->pos] == ',') {
            p->pos++;
            continue;
        }
        if (p->src[p->pos] != ')') {
            expected(p, "',' or ')'");
            return -1;
        }
    }
    p->pos++;
    return 0;
}

static int check_count(struct parser *p, const struct matcher_def *d, size_t at,
                       size_t n)
{
    if (n >= d->min && (d->max == 0 || n <= d->max))
        return 0;
    if (d->max == 0)
        perr(p, at, "%s takes at least %zu argument%s, got %zu", d->name,
             d->min, d->min == 1 ? "" : "s", n);
    else if (d->min == d->max)
        perr(p, at, "%s takes %zu argument%s, got %zu", d->name, d->min,
             d->min == 1 ? "" : "s", n);
    else
        perr(p, at, "%s takes %zu or %zu arguments, got %zu", d->name, d->min,
             d->max, n);
    return -1;
}

static struct cm_rule_node *parse_matcher(struct parser *p)
{
    size_t at = p->pos, n = 0, nargs = 0;
    char msg[CM_ERR_LEN - 64];

    while (is_ident(p->src[at + n]))
        n++;
    const struct matcher_def *d = lookup(p, at, n);
    if (d == NULL)
        return NULL;
    p->pos = at + n;
    struct arg *args;
    if (read_args(p, d->name, &args, &nargs) < 0 ||
        check_count(p, d, at, nargs) < 0)
        return NULL;
    struct cm_rule_node *node = new_node(p, CM_RULE_MATCHER, at);
    if (node == NULL)
        return NULL;
    node->matcher = d->m;
    node->nargs = nargs;
    node->args = cm_rule__alloc(&p->rule->arena, nargs * sizeof(char *));
    if (node->args == NULL)
        return oom(p);
    size_t i = 0;
    for (struct arg *a = args; a != NULL; a = a->next, i++) {
        if (cm_rule__check_arg(d->m, i, a->s, msg, sizeof(msg)) < 0)
            return perr(p, a->pos, "%s: %s", d->name, msg);
        node->args[i] = a->s;
    }
    return node;
}

/* ==== Expressions ==== */

static struct cm_rule_node *parse_or(struct parser *p);

static int enter(struct parser *p)
{
    if (++p->depth > CM_RULE_MAX_DEPTH) {
        perr(p, p->pos, "rule nested too deeply (more than %d levels)",
             CM_RULE_MAX_DEPTH);
        return -1;
    }
    return 0;
}

static struct cm_rule_node *parse_group(struct parser *p)
{
    if (enter(p) < 0)
        return NULL;
    p->pos++;
    struct cm_rule_node *n = parse_or(p);
    if (n == NULL)
        return NULL;
    skip_ws(p);
    if (p->src[p->pos] != ')')
        return expected(p, "')'");
    p->pos++;
    p->depth--;
    return n;
}

static struct cm_rule_node *parse_unary(struct parser *p)
{
    skip_ws(p);
    char c = p->src[p->pos];
    if (c == '!') {
        size_t at = p->pos;
        if (enter(p) < 0)
            return NULL;
        p->pos++;
        struct cm_rule_node *child = parse_unary(p);
        if (child == NULL)
            return NULL;
        p->depth--;
        struct cm_rule_node *n = new_node(p, CM_RULE_NOT, at);
        if (n != NULL)
            n->child = child;
        return n;
    }
    if (c == '(')
        return parse_group(p);
    if (is_ident_start(c))
        return parse_matcher(p);
    return expected(p, "a matcher, '!' or '('");
}

/* Consumes the operator <op> ("&&" or "||") if next; 0 if absent, -1 on a
 * lone '&' or '|'. */
static int read_op(struct parser *p, const char *op)
{
    skip_ws(p);
    if (p->src[p->pos] != op[0])
        return 0;
    if (p->src[p->pos + 1] != op[1]) {
        perr(p, p->pos, "expected '%s' but found a single '%c'", op, op[0]);
        return -1;
    }
    p->pos += 2;
    return 1;
}

static struct cm_rule_node *parse_list(struct parser *p, enum cm_rule_op op);

/* An operand of '&&' is a unary expression; one of '||' a conjunction. */
static struct cm_rule_node *parse_operand(struct parser *p, enum cm_rule_op op)
{
    return op == CM_RULE_AND ? parse_unary(p) : parse_list(p, CM_RULE_AND);
}

/* Parses operand (op operand)*, making one n-ary node if op occurs. */
static struct cm_rule_node *parse_list(struct parser *p, enum cm_rule_op op)
{
    const char *tok = op == CM_RULE_AND ? "&&" : "||";
    struct cm_rule_node *first, *list = NULL, *last;
    int r;

    first = parse_operand(p, op);
    if (first == NULL)
        return NULL;
    last = first;
    while ((r = read_op(p, tok)) > 0) {
        struct cm_rule_node *next = parse_operand(p, op);
        if (next == NULL)
            return NULL;
        if (list == NULL) {
            list = new_node(p, op, first->pos);
            if (list == NULL)
                return NULL;
            list->child = first;
        }
        last->next = next;
        last = next;
    }
    if (r < 0)
        return NULL;
    return list ? list : first;
}

static struct cm_rule_node *parse_or(struct parser *p)
{
    return parse_list(p, CM_RULE_OR);
}

/* ==== Public ==== */

struct cm_rule *cm_rule_parse(const char *src, char *err, size_t errlen)
{
    struct parser p = {.src = src, .err = err, .errlen = errlen};

    if (src == NULL) {
        cm_err_set(err, errlen, GW_EINVAL, "rule: column 1: empty rule");
        return NULL;
    }
    p.rule = calloc(1, sizeof(*p.rule));
    if (p.rule == NULL) {
        cm_err_set(err, errlen, GW_ENOMEM, "rule: out of memory");
        return NULL;
    }
    skip_ws(&p);
    if (src[p.pos] == '\0') {
        perr(&p, 0, "empty rule");
        goto fail;
    }
    p.rule->root = parse_or(&p);
    if (p.rule->root == NULL)
        goto fail;
    skip_ws(&p);
    if (src[p.pos] != '\0') {
        expected(&p, "'&&', '||' or end of rule");
        goto fail;
    }
    return p.rule;
fail:
    cm_rule_free(p.rule);
    return NULL;
}

void cm_rule_free(struct cm_rule *r)
{
    if (r == NULL)
        return;
    cm_rule__arena_free(&r->arena);
    free(r);
}

const struct cm_rule_node *cm_rule_root(const struct cm_rule *r)
{
    return r->root;
}

int cm_rule_default_priority(const char *src)
{
    if (src == NULL)
        return 0;
    size_t n = strlen(src);
    return n > INT_MAX ? INT_MAX : (int)n;
}
