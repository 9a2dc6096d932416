/*
 * history.h -- the output of `traefikeectl history`: the kept revisions as
 * a table (Revision, Time, Size, Leader, Source, Summary) or as a JSON
 * value for -o json|yaml. Pure.
 */
#ifndef TCTL_HISTORY_H
#define TCTL_HISTORY_H

#include <jansson.h>
#include <stdio.h>

#include "traefikee/v1/management.pb-c.h"

/* Returns new: an array of {revision, current, timeMs, size, leader,
 * source, summary}, one per revision of <r> (borrowed). */
json_t *tctl_history_json(const Traefikee__V1__HistoryResponse *r);

/* Prints <r> as a table on <out>; empty fields as "-", times local. */
void tctl_history_table(const Traefikee__V1__HistoryResponse *r, FILE *out);

#endif
