/*
 * provider.c -- the file provider (--config FILE): the leader applies the
 * file when it takes office and whenever the file changes. The directory is
 * watched (editors replace files by renaming over them), events are
 * debounced, and the file is written only when it differs from the current
 * revision and validates. Loop thread.
 */
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config/config.h"
#include "common/log/log.h"
#include "common/xds/xds.h"
#include "controlplane/node/node_int.h"

#define DEBOUNCE_MS 250

struct cp_node__provider {
    struct cp_node *node;
    uv_fs_event_t watch;
    uv_timer_t debounce;
    char *path, *dir, *base;
    int open_handles;
    bool busy; /* a check is in flight */
};

/* One check; outlives neither the node nor the loop, but may outlive the
 * provider (closed at shutdown), hence the node pointer. */
struct check {
    struct cp_node *node;
    char *doc;
    size_t len;
    char path[CP_NODE_PATH_LEN];
};

/* Reads <path> whole: returns new (free()) or NULL. */
static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL, *nb;
    size_t cap = 0, n = 0, r;

    if (f == NULL)
        return NULL;
    do {
        if (n + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 8192;
            if ((nb = realloc(buf, cap)) == NULL) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
        }
        r = fread(buf + n, 1, cap - n - 1, f);
        n += r;
    } while (r > 0);
    fclose(f);
    buf[n] = '\0';
    *len = n;
    return buf;
}

static void check_done(struct check *c)
{
    if (c->node->provider != NULL)
        c->node->provider->busy = false;
    free(c->doc);
    free(c);
}

static void on_stored(void *arg, int status, uint64_t rev, const char *msg)
{
    struct check *c = arg;

    if (status == 0)
        cm_log_info(CP_NODE__MOD, "file_applied", "file=%s rev=%llu", c->path,
                    (unsigned long long)rev);
    else
        cm_log_error(CP_NODE__MOD, "file_apply_failed", "file=%s err=\"%s\"",
                     c->path, msg);
    check_done(c);
}

static int valid(const struct check *c)
{
    char err[CM_ERR_LEN];
    struct cm_config *cfg = cm_config_parse(c->doc, c->len, err, sizeof(err));
    struct cm_xds_resources *res =
        cfg != NULL ? cm_xds_translate(cfg, "file", err, sizeof(err)) : NULL;

    if (res == NULL) {
        cm_config_free(cfg);
        cm_log_error(CP_NODE__MOD, "file_invalid", "file=%s err=\"%s\"",
                     c->path, err);
        return 0;
    }
    /* storing it follows: the pipeline reuses the translation */
    cp_mgmt_keep_translation(c->node->mgmt, c->doc, c->len, cfg, res);
    return 1;
}

static void on_current(struct cp_store *s, int status, uint64_t rev,
                       const char *doc, size_t len, void *arg)
{
    struct check *c = arg;
    char src[CP_NODE_PATH_LEN + 8];

    if (status != 0 && status != GW_ENOENT) {
        check_done(c);
        return;
    }
    if ((status == 0 && len == c->len && memcmp(doc, c->doc, len) == 0) ||
        !cp_store_is_leader(s) || !valid(c)) {
        check_done(c);
        return;
    }
    snprintf(src, sizeof(src), "file %s", c->path);
    if (cp_mgmt_store_doc(c->node->mgmt, c->doc, c->len, src, on_stored, c) !=
        0)
        check_done(c);
}

void cp_node__provider_check(struct cp_node *n)
{
    struct cp_node__provider *p = n->provider;
    struct check *c;

    if (p == NULL || p->busy || !cp_store_is_leader(n->store))
        return;
    c = calloc(1, sizeof(*c));
    if (c == NULL)
        return;
    c->node = n;
    snprintf(c->path, sizeof(c->path), "%s", p->path);
    c->doc = read_file(p->path, &c->len);
    if (c->doc == NULL) {
        cm_log_warn(CP_NODE__MOD, "file_unreadable", "file=%s", p->path);
        free(c);
        return;
    }
    p->busy = true;
    if (cp_store_get_current(n->store, on_current, c) != 0)
        check_done(c);
}

static void on_debounce(uv_timer_t *t)
{
    struct cp_node__provider *p = t->data;

    cp_node__provider_check(p->node);
}

static void on_fs(uv_fs_event_t *h, const char *name, int events, int status)
{
    struct cp_node__provider *p = h->data;

    if (status != 0 || (name != NULL && strcmp(name, p->base) != 0))
        return;
    uv_timer_start(&p->debounce, on_debounce, DEBOUNCE_MS, 0);
}

int cp_node__provider_start(struct cp_node *n, const char *path)
{
    struct cp_node__provider *p = calloc(1, sizeof(*p));
    char *a = strdup(path), *b = strdup(path);
    int rc = GW_ENOMEM;

    if (p == NULL || a == NULL || b == NULL)
        goto fail;
    p->node = n;
    p->path = strdup(path);
    p->dir = strdup(dirname(a));
    p->base = strdup(basename(b));
    if (p->path == NULL || p->dir == NULL || p->base == NULL)
        goto fail;
    uv_timer_init(n->loop, &p->debounce);
    p->debounce.data = p;
    p->open_handles = 1;
    uv_fs_event_init(n->loop, &p->watch);
    p->watch.data = p;
    p->open_handles++;
    n->provider = p;
    rc = uv_fs_event_start(&p->watch, on_fs, p->dir, 0);
    free(a);
    free(b);
    return rc;
fail:
    free(a);
    free(b);
    if (p != NULL) {
        free(p->path);
        free(p->dir);
        free(p->base);
    }
    free(p);
    return rc;
}

static void on_closed(uv_handle_t *h)
{
    struct cp_node__provider *p = h->data;

    if (--p->open_handles > 0)
        return;
    free(p->path);
    free(p->dir);
    free(p->base);
    free(p);
}

void cp_node__provider_close(struct cp_node *n)
{
    struct cp_node__provider *p = n->provider;

    if (p == NULL)
        return;
    n->provider = NULL;
    uv_close((uv_handle_t *)&p->watch, on_closed);
    uv_close((uv_handle_t *)&p->debounce, on_closed);
}
