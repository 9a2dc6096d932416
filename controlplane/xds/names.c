/*
 * names.c -- subscription name sets shared by streams: most data nodes ask
 * for the same EDS/RDS names, so each distinct set is kept once in the
 * server's pool (refcounted, immutable) and streams hold a pointer. A NULL
 * pool gives private sets (unit tests). Any thread: the pool has its lock.
 */
#include <stdlib.h>
#include <string.h>

#include "common/strset/strset.h"
#include "controlplane/xds/xds-int.h"

struct cp_xds__names {
    struct cm_strset set; /* first: handed out as the set */
    struct cp_xds__names *next;
    uint64_t hash;
    size_t refs; /* under the pool lock (private sets: 1) */
    bool pooled;
};

struct cp_xds__pool {
    pthread_mutex_t lock;
    struct cp_xds__names *head;
};

struct cp_xds__pool *cp_xds__pool_new(void)
{
    struct cp_xds__pool *p = calloc(1, sizeof(*p));
    if (p != NULL)
        pthread_mutex_init(&p->lock, NULL);
    return p;
}

void cp_xds__pool_free(struct cp_xds__pool *p)
{
    if (p == NULL)
        return;
    /* every stream let go of its sets first */
    while (p->head != NULL) {
        struct cp_xds__names *n = p->head;
        p->head = n->next;
        cm_strset_deinit(&n->set);
        free(n);
    }
    pthread_mutex_destroy(&p->lock);
    free(p);
}

static uint64_t set_hash(const struct cm_strset *set)
{
    uint64_t h = 14695981039346656037ULL;
    for (size_t i = 0; i < set->n; i++)
        for (const char *c = set->v[i];; c++) {
            h = (h ^ (uint8_t)*c) * 1099511628211ULL;
            if (*c == '\0')
                break;
        }
    return h;
}

const struct cm_strset *cp_xds__names_intern(struct cp_xds__pool *p,
                                             struct cm_strset *set)
{
    uint64_t h = set_hash(set);
    struct cp_xds__names *n;

    if (p != NULL) {
        pthread_mutex_lock(&p->lock);
        for (n = p->head; n != NULL; n = n->next)
            if (n->hash == h && cm_strset_equal(&n->set, set)) {
                n->refs++;
                pthread_mutex_unlock(&p->lock);
                cm_strset_deinit(set);
                return &n->set;
            }
        pthread_mutex_unlock(&p->lock);
    }
    n = calloc(1, sizeof(*n));
    if (n == NULL) {
        cm_strset_deinit(set);
        return NULL;
    }
    n->set = *set;
    cm_strset_init(set);
    n->hash = h;
    n->refs = 1;
    if (p != NULL) {
        n->pooled = true;
        pthread_mutex_lock(&p->lock);
        n->next = p->head;
        p->head = n;
        pthread_mutex_unlock(&p->lock);
    }
    return &n->set;
}

void cp_xds__names_put(struct cp_xds__pool *p, const struct cm_strset *set)
{
    struct cp_xds__names *n = (struct cp_xds__names *)set;

    if (n == NULL)
        return;
    if (!n->pooled) {
        cm_strset_deinit(&n->set);
        free(n);
        return;
    }
    pthread_mutex_lock(&p->lock);
    if (--n->refs > 0) {
        pthread_mutex_unlock(&p->lock);
        return;
    }
    struct cp_xds__names **pp = &p->head;
    while (*pp != n)
        pp = &(*pp)->next;
    *pp = n->next;
    pthread_mutex_unlock(&p->lock);
    cm_strset_deinit(&n->set);
    free(n);
}
