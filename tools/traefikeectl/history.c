/*
 * history.c -- see history.h.
 */
#include <stdio.h>
#include <time.h>

#include "tools/traefikeectl/history.h"
#include "tools/traefikeectl/output.h"

json_t *tctl_history_json(const Traefikee__V1__HistoryResponse *r)
{
    json_t *a = json_array();

    for (size_t i = 0; a != NULL && i < r->n_revisions; i++) {
        const Traefikee__V1__RevisionInfo *x = r->revisions[i];
        json_array_append_new(
            a, json_pack("{s:I, s:b, s:I, s:I, s:s, s:s, s:s}", "revision",
                         (json_int_t)x->revision, "current",
                         x->revision == r->current, "timeMs",
                         (json_int_t)x->time_ms, "size", (json_int_t)x->size,
                         "leader", x->leader_id, "source", x->source, "summary",
                         x->summary));
    }
    return a;
}

/* "-" for an empty field. */
static const char *or_dash(const char *s)
{
    return s != NULL && s[0] != '\0' ? s : "-";
}

static void add_row(struct tctl_table *t,
                    const Traefikee__V1__HistoryResponse *r,
                    const Traefikee__V1__RevisionInfo *x)
{
    char rev[40], ts[32] = "-", size[24] = "-";
    time_t secs = (time_t)(x->time_ms / 1000);
    struct tm tm;

    snprintf(rev, sizeof(rev), "%llu%s", (unsigned long long)x->revision,
             x->revision == r->current ? " (current)" : "");
    if (x->time_ms > 0 && localtime_r(&secs, &tm) != NULL)
        strftime(ts, sizeof(ts), "%Y-%m-%d %H:%M:%S", &tm);
    if (x->size > 0)
        snprintf(size, sizeof(size), "%llu", (unsigned long long)x->size);
    const char *row[] = {rev,
                         ts,
                         size,
                         or_dash(x->leader_id),
                         or_dash(x->source),
                         or_dash(x->summary)};
    tctl_table_add(t, row);
}

void tctl_history_table(const Traefikee__V1__HistoryResponse *r, FILE *out)
{
    static const char *const h[] = {"Revision", "Time",   "Size",
                                    "Leader",   "Source", "Summary"};
    struct tctl_table *t = tctl_table_new(6, h);

    if (t == NULL)
        return;
    for (size_t i = 0; i < r->n_revisions; i++)
        add_row(t, r, r->revisions[i]);
    tctl_table_print(t, out);
    tctl_table_free(t);
}
