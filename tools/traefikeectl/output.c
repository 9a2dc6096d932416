/*
 * output.c -- see output.h.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "tools/traefikeectl/output.h"

int tctl_format_parse(const char *s, enum tctl_format def)
{
    if (s == NULL)
        return def;
    if (strcmp(s, "table") == 0 || strcmp(s, "wide") == 0)
        return TCTL_TABLE;
    if (strcmp(s, "json") == 0)
        return TCTL_JSON;
    if (strcmp(s, "yaml") == 0 || strcmp(s, "yml") == 0)
        return TCTL_YAML;
    return -1;
}

/* ==== tables ==== */

struct tctl_table {
    size_t ncols, nrows, cap;
    char **cells; /* (nrows + 1) * ncols, row 0 = headers */
};

static int add_row(struct tctl_table *t, const char *const *cells)
{
    char **v;

    if (t->nrows + 1 >= t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 8;
        v = realloc(t->cells, cap * t->ncols * sizeof(*v));
        if (v == NULL)
            return -1;
        t->cells = v;
        t->cap = cap;
    }
    for (size_t c = 0; c < t->ncols; c++) {
        const char *s = cells[c] != NULL ? cells[c] : "";
        t->cells[t->nrows * t->ncols + c] = strdup(s);
    }
    t->nrows++;
    return 0;
}

struct tctl_table *tctl_table_new(size_t ncols, const char *const *headers)
{
    struct tctl_table *t = calloc(1, sizeof(*t));

    if (t == NULL)
        return NULL;
    t->ncols = ncols;
    if (add_row(t, headers) != 0) {
        free(t);
        return NULL;
    }
    return t;
}

int tctl_table_add(struct tctl_table *t, const char *const *cells)
{
    return add_row(t, cells);
}

static size_t cell_width(const char *s)
{
    size_t n = 0;

    for (; s != NULL && *s != '\0'; s++)
        if (((unsigned char)*s & 0xc0) != 0x80) /* count UTF-8 chars */
            n++;
    return n;
}

static void print_row(const struct tctl_table *t, const size_t *w,
                      char *const *row, int rule, FILE *out)
{
    for (size_t c = 0; c < t->ncols; c++) {
        const char *s = row[c] != NULL ? row[c] : "";
        size_t len = cell_width(s);
        if (rule) {
            for (size_t i = 0; i < len; i++)
                fputc('-', out);
        } else {
            fputs(s, out);
        }
        if (c + 1 < t->ncols)
            for (size_t i = len; i < w[c] + 2; i++)
                fputc(' ', out);
    }
    fputc('\n', out);
}

void tctl_table_print(const struct tctl_table *t, FILE *out)
{
    size_t *w = calloc(t->ncols, sizeof(*w));

    if (w == NULL)
        return;
    for (size_t r = 0; r < t->nrows; r++)
        for (size_t c = 0; c < t->ncols; c++) {
            size_t len = cell_width(t->cells[r * t->ncols + c]);
            if (len > w[c])
                w[c] = len;
        }
    print_row(t, w, t->cells, 0, out);
    print_row(t, w, t->cells, 1, out);
    for (size_t r = 1; r < t->nrows; r++)
        print_row(t, w, t->cells + r * t->ncols, 0, out);
    free(w);
}

void tctl_table_free(struct tctl_table *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < t->nrows * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    free(t);
}

/* ==== YAML ==== */

/* 1 when <s> can be written plain and reads back as the same string. */
static int plain_ok(const char *s)
{
    static const char *const reserved[] = {"true", "false", "yes", "no", "on",
                                           "off",  "null",  "~",   "y",  "n"};
    char *end;

    if (*s == '\0' || isspace((unsigned char)*s) ||
        isspace((unsigned char)s[strlen(s) - 1]))
        return 0;
    if (strchr("-?:,[]{}#&*!|>'\"%@`", *s) != NULL)
        return 0;
    for (const char *p = s; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch < 0x20 || ch == 0x7f || ch == '"' || ch == '\\')
            return 0;
        if ((ch == ':' || ch == '#') &&
            (p[1] == ' ' || p[1] == '\0' || ch == '#'))
            return 0;
    }
    for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
        if (strcasecmp(s, reserved[i]) == 0)
            return 0;
    (void)strtod(s, &end);
    if (*end == '\0') /* a number */
        return 0;
    return 1;
}

static void put_string(const char *s, FILE *out)
{
    json_t *j;
    char *q;

    if (plain_ok(s)) {
        fputs(s, out);
        return;
    }
    /* a JSON string is a valid YAML double-quoted scalar */
    j = json_string(s);
    q = j != NULL ? json_dumps(j, JSON_ENCODE_ANY) : NULL;
    fputs(q != NULL ? q : "\"\"", out);
    free(q);
    json_decref(j);
}

static void put_scalar(const json_t *v, FILE *out)
{
    switch (json_typeof(v)) {
    case JSON_STRING:
        put_string(json_string_value(v), out);
        break;
    case JSON_INTEGER:
        fprintf(out, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        break;
    case JSON_REAL:
        fprintf(out, "%.17g", json_real_value(v));
        break;
    case JSON_TRUE:
        fputs("true", out);
        break;
    case JSON_FALSE:
        fputs("false", out);
        break;
    case JSON_OBJECT:
        fputs("{}", out);
        break;
    case JSON_ARRAY:
        fputs("[]", out);
        break;
    default:
        fputs("null", out);
    }
}

static int is_block(const json_t *v)
{
    return (json_is_object(v) && json_object_size(v) > 0) ||
           (json_is_array(v) && json_array_size(v) > 0);
}

static void indent(int n, FILE *out)
{
    for (int i = 0; i < n; i++)
        fputc(' ', out);
}

static void emit(const json_t *v, int ind, int inline_first, FILE *out);

/* A block value after "key:" or "-": objects in an array item start on
 * the dash's line. */
static void emit_object(const json_t *v, int ind, int inline_first, FILE *out)
{
    const char *k;
    json_t *x;
    int first = 1;

    json_object_foreach((json_t *)v, k, x)
    {
        if (!(first && inline_first))
            indent(ind, out);
        first = 0;
        put_string(k, out);
        fputc(':', out);
        if (is_block(x)) {
            fputc('\n', out);
            emit(x, json_is_array(x) ? ind : ind + 2, 0, out);
        } else {
            fputc(' ', out);
            put_scalar(x, out);
            fputc('\n', out);
        }
    }
}

static void emit_array(const json_t *v, int ind, FILE *out)
{
    size_t i;
    json_t *x;

    json_array_foreach(v, i, x)
    {
        indent(ind, out);
        fputc('-', out);
        if (is_block(x)) {
            fputc(' ', out);
            if (json_is_object(x))
                emit_object(x, ind + 2, 1, out);
            else {
                fputc('\n', out);
                emit(x, ind + 2, 0, out);
            }
        } else {
            fputc(' ', out);
            put_scalar(x, out);
            fputc('\n', out);
        }
    }
}

static void emit(const json_t *v, int ind, int inline_first, FILE *out)
{
    if (json_is_object(v) && json_object_size(v) > 0)
        emit_object(v, ind, inline_first, out);
    else if (json_is_array(v) && json_array_size(v) > 0)
        emit_array(v, ind, out);
    else {
        put_scalar(v, out);
        fputc('\n', out);
    }
}

void tctl_yaml_print(const json_t *v, FILE *out)
{
    emit(v, 0, 0, out);
}

void tctl_json_print(const json_t *v, FILE *out)
{
    char *s =
        json_dumps(v, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);

    if (s != NULL) {
        fputs(s, out);
        fputc('\n', out);
    }
    free(s);
}

void tctl_doc_print(json_t *v, enum tctl_format fmt)
{
    if (fmt == TCTL_JSON)
        tctl_json_print(v, stdout);
    else
        tctl_yaml_print(v, stdout);
    json_decref(v);
}
