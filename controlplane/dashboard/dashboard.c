/*
 * dashboard.c -- look-ups in the table of embedded files that embed.sh
 * generates (assets.c). No state of its own.
 */
#include <string.h>

#include "controlplane/dashboard/dashboard.h"

/* Defined in the generated assets.c; terminated by a NULL name. */
extern const struct cp_dashboard_file cp_dashboard__files[];

const struct cp_dashboard_file *cp_dashboard_find(const char *name, size_t len)
{
    if (len == 0) {
        name = "index.html";
        len = strlen(name);
    }
    for (const struct cp_dashboard_file *f = cp_dashboard__files; f->name; f++)
        if (strlen(f->name) == len && memcmp(f->name, name, len) == 0)
            return f;
    return NULL;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);

    return n >= m && strcmp(s + n - m, suffix) == 0;
}

const char *cp_dashboard_content_type(const char *name)
{
    if (ends_with(name, ".html"))
        return "text/html; charset=utf-8";
    if (ends_with(name, ".js"))
        return "text/javascript; charset=utf-8";
    if (ends_with(name, ".css"))
        return "text/css; charset=utf-8";
    if (ends_with(name, ".svg"))
        return "image/svg+xml";
    return "application/octet-stream";
}
