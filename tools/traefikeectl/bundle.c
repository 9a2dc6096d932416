/*
 * bundle.c -- see bundle.h. Reads cluster.json with jansson; every bundle
 * text read is wiped before it is freed (it holds a private key).
 */
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err/err.h"
#include "common/pki/pki.h"
#include "tools/traefikeectl/bundle.h"

int tctl_bundle_aging(int64_t not_before, int64_t not_after, int64_t now)
{
    int64_t life = not_after - not_before;

    return now >= not_after || (life > 0 && (not_after - now) * 3 < life);
}

static void wipe_free(char *text)
{
    if (text != NULL)
        explicit_bzero(text, strlen(text));
    free(text);
}

/* The cluster.json that names the file <real> (a resolved path) as its
 * bundle, with its directory in <dir>; returns new, or NULL. */
static json_t *cluster_of(const char *real, char *dir, size_t len)
{
    char file[PATH_MAX + 16], named[PATH_MAX];
    const char *slash = strrchr(real, '/'), *b;
    json_t *j;

    if (slash == NULL || (size_t)(slash - real) >= len)
        return NULL;
    snprintf(dir, len, "%.*s", (int)(slash - real), real);
    snprintf(file, sizeof(file), "%s/cluster.json", dir);
    if ((j = json_load_file(file, 0, NULL)) == NULL)
        return NULL;
    b = json_string_value(json_object_get(j, "bundle"));
    if (b != NULL && realpath(b, named) != NULL && strcmp(named, real) == 0)
        return j;
    json_decref(j);
    return NULL;
}

/* The --data-dir of a recorded control process; NULL if none. */
static const char *data_dir_of(const json_t *proc)
{
    const json_t *argv = json_object_get(proc, "argv");
    const char *role = json_string_value(json_object_get(proc, "role"));
    size_t n = json_array_size(argv);

    if (role == NULL || strcmp(role, "control") != 0)
        return NULL;
    for (size_t i = 0; i + 1 < n; i++) {
        const char *a = json_string_value(json_array_get(argv, i));
        if (a != NULL && strcmp(a, "--data-dir") == 0)
            return json_string_value(json_array_get(argv, i + 1));
    }
    return NULL;
}

/* The end of the certificate in the bundle <file> if it is one of CA
 * <ca>, with its text in *text (new); else -1 and *text NULL. */
static int64_t candidate(const char *file, const char *ca, char **text)
{
    struct cm_pki_creds c = {0};
    struct cm_pki_cert_info info;
    char err[CM_ERR_LEN];
    int64_t end = -1;

    *text = NULL;
    if (cm_pki_file_read(file, text, err, sizeof(err)) != 0)
        return -1;
    if (cm_pki_creds_parse(*text, &c, err, sizeof(err)) == 0 &&
        strcmp(c.ca, ca) == 0 &&
        cm_pki_cert_info(c.cert, &info, err, sizeof(err)) == 0)
        end = info.not_after;
    cm_pki_creds_clear(&c);
    if (end < 0) {
        wipe_free(*text);
        *text = NULL;
    }
    return end;
}

/* The freshest bundle of the control nodes in <j> ending after <after>:
 * its text (new) and path in <src>; NULL if none. */
static char *freshest(const json_t *j, const char *ca, int64_t after, char *src,
                      size_t len)
{
    const json_t *procs = json_object_get(j, "processes"), *p;
    char file[PATH_MAX + 32], *best = NULL, *text;
    int64_t best_end = after, end;
    size_t i;

    json_array_foreach(procs, i, p)
    {
        const char *data = data_dir_of(p);
        if (data == NULL)
            continue;
        snprintf(file, sizeof(file), "%s/traefikeectl.bundle", data);
        if ((end = candidate(file, ca, &text)) <= best_end) {
            wipe_free(text);
            continue;
        }
        wipe_free(best);
        best = text;
        best_end = end;
        snprintf(src, len, "%s", file);
    }
    return best;
}

int tctl_bundle_refresh(const char *path, const char *ca, int64_t not_after,
                        char *dir, char *src, size_t len, char *err,
                        size_t errlen)
{
    char real[PATH_MAX], *text;
    json_t *j;
    int rc;

    dir[0] = src[0] = '\0';
    if (realpath(path, real) == NULL ||
        (j = cluster_of(real, dir, len)) == NULL) {
        dir[0] = '\0';
        return TCTL_REFRESH_NOT_LOCAL;
    }
    text = freshest(j, ca, not_after, src, len);
    json_decref(j);
    if (text == NULL)
        return TCTL_REFRESH_NONE;
    rc = cm_pki_file_write(real, text, err, errlen);
    wipe_free(text);
    return rc == 0 ? TCTL_REFRESH_DONE : rc;
}
