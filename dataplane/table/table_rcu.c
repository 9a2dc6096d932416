/*
 * table_rcu.c -- publishing tables with liburcu-qsbr: the configuration
 * thread swaps the slot's pointer and frees the old table after a grace
 * period; workers (QSBR readers, online inside callbacks) read it.
 */
#include "dataplane/table/table_int.h"

#include <urcu-qsbr.h>

void dp_table_slot_init(struct dp_table_slot *s)
{
    s->cur = NULL;
}

void dp_table_publish(struct dp_table_slot *s, struct dp_table *t)
{
    struct dp_table *old = rcu_xchg_pointer(&s->cur, t);

    if (old == NULL)
        return;
    synchronize_rcu(); /* every reader that could see <old> is done */
    dp_table_free(old);
}

void dp_table_slot_deinit(struct dp_table_slot *s)
{
    dp_table_publish(s, NULL);
}

const struct dp_table *dp_table_current(struct dp_table_slot *s)
{
    return rcu_dereference(s->cur);
}
