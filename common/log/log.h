/*
 * log.h -- structured logging: one line per event, key=value, to stderr.
 *
 *   ts=2026-11-26T09:50:00.123Z level=info mod=xds event=connected peer=...
 *
 * Each line is formatted in a local buffer and written with one write(2), so
 * lines from different threads never interleave. The level is process-wide.
 */
#ifndef CM_LOG_H
#define CM_LOG_H

#include <stddef.h>

enum cm_log_level {
    CM_LOG_DEBUG = 0,
    CM_LOG_INFO = 1,
    CM_LOG_WARN = 2,
    CM_LOG_ERROR = 3,
};

void cm_log_set_level(enum cm_log_level level);
enum cm_log_level cm_log_get_level(void);

/* Parses "debug", "info", "warn" or "error"; returns 0 or GW_EINVAL. */
int cm_log_parse_level(const char *s, enum cm_log_level *out);

/* Logs one event. <mod> is the module, <event> a short snake_case name,
 * <fmt> (may be NULL) the rest of the line as key=value pairs. */
void cm_log(enum cm_log_level level, const char *mod, const char *event,
            const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Writes <s> into <buf> as a log value: as is when it has no space, quote or
 * control byte, else in double quotes with escapes. Returns <buf>. */
const char *cm_log_quote(char *buf, size_t len, const char *s);

#define cm_log_debug(mod, ev, ...)                                             \
    do {                                                                       \
        if (cm_log_get_level() <= CM_LOG_DEBUG)                                \
            cm_log(CM_LOG_DEBUG, mod, ev, __VA_ARGS__);                        \
    } while (0)
#define cm_log_info(mod, ev, ...)  cm_log(CM_LOG_INFO, mod, ev, __VA_ARGS__)
#define cm_log_warn(mod, ev, ...)  cm_log(CM_LOG_WARN, mod, ev, __VA_ARGS__)
#define cm_log_error(mod, ev, ...) cm_log(CM_LOG_ERROR, mod, ev, __VA_ARGS__)

#endif
