/*
 * dashboard.h -- the dashboard's files (index.html, app.js, style.css,
 * login.html), built into the binary: embed.sh turns them into C arrays at
 * build time. Read-only data; any thread.
 */
#ifndef CP_DASHBOARD_H
#define CP_DASHBOARD_H

#include <stddef.h>
#include <stdint.h>

struct cp_dashboard_file {
    const char *name;          /* "app.js" */
    const unsigned char *data; /* NUL after the last byte (not counted) */
    size_t len;
    uint32_t crc; /* POSIX cksum of the bytes: the ETag */
};

/* The file named <name> (<len> bytes, no slash), or NULL. "" is
 * index.html. Returns a pointer to static data. */
const struct cp_dashboard_file *cp_dashboard_find(const char *name, size_t len);

/* Content-Type for a file name by its extension. Static string. */
const char *cp_dashboard_content_type(const char *name);

#endif
