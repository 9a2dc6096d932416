/*
 * output.h -- traefikeectl's output formats: aligned text tables, a stable
 * YAML emitter for JSON values, and JSON. Pure (they write to a FILE).
 */
#ifndef TCTL_OUTPUT_H
#define TCTL_OUTPUT_H

#include <jansson.h>
#include <stdio.h>

enum tctl_format {
    TCTL_TABLE = 0,
    TCTL_JSON,
    TCTL_YAML,
};

/* "table", "json", "yaml" (NULL gives <def>). -1 if unknown. */
int tctl_format_parse(const char *s, enum tctl_format def);

struct tctl_table;

/* Returns new with <ncols> columns named by <headers> (copied); free with
 * tctl_table_free(). */
struct tctl_table *tctl_table_new(size_t ncols, const char *const *headers);
/* Adds a row of <ncols> cells (copied; NULL prints as ""). 0 or -1. */
int tctl_table_add(struct tctl_table *t, const char *const *cells);
/* Prints: the header, a rule of dashes under each header name, the rows;
 * columns two spaces apart, the last one not padded. */
void tctl_table_print(const struct tctl_table *t, FILE *out);
void tctl_table_free(struct tctl_table *t);

/* Prints <v> as a YAML document (block style; strings quoted when they
 * would read as something else; keys in the value's order). */
void tctl_yaml_print(const json_t *v, FILE *out);

/* Prints <v> as indented JSON with a final newline. */
void tctl_json_print(const json_t *v, FILE *out);

/* Prints <v> on stdout as JSON when <fmt> is TCTL_JSON, else as YAML, and
 * drops the caller's reference to <v> (takes). */
void tctl_doc_print(json_t *v, enum tctl_format fmt);

#endif
