/*
 * log.c -- the structured logger (see log.h). Owns the process-wide level and
 * nothing else; callable from any thread.
 */
#include "common/log/log.h"
#include "common/err/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile int log_level = CM_LOG_INFO;

static const char *level_names[] = {"debug", "info", "warn", "error"};

void cm_log_set_level(enum cm_log_level level)
{
    log_level = level;
}

enum cm_log_level cm_log_get_level(void)
{
    return (enum cm_log_level)log_level;
}

int cm_log_parse_level(const char *s, enum cm_log_level *out)
{
    for (int i = 0; i < 4; i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (enum cm_log_level)i;
            return GW_OK;
        }
    }
    return GW_EINVAL;
}

static size_t log_timestamp(char *buf, size_t len)
{
    struct timespec ts;
    struct tm tm;
    size_t n;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
    n += (size_t)snprintf(buf + n, len - n, ".%03ldZ", ts.tv_nsec / 1000000);
    return n;
}

void cm_log(enum cm_log_level level, const char *mod, const char *event,
            const char *fmt, ...)
{
    char line[2048], ts[40];
    size_t n, max = sizeof(line) - 1; /* room for the newline */
    va_list ap;
    int r;

    if ((int)level < log_level)
        return;
    log_timestamp(ts, sizeof(ts));
    r = snprintf(line, max, "ts=%s level=%s mod=%s event=%s", ts,
                 level_names[level & 3], mod, event);
    n = r < 0 ? 0 : ((size_t)r < max ? (size_t)r : max - 1);
    if (fmt != NULL && fmt[0] != '\0' && n + 1 < max) {
        line[n++] = ' ';
        va_start(ap, fmt);
        r = vsnprintf(line + n, max - n, fmt, ap);
        va_end(ap);
        if (r > 0)
            n += (size_t)r < max - n ? (size_t)r : max - n - 1;
    }
    line[n++] = '\n';
    /* One write per line; a short write to stderr is not worth a retry. */
    if (write(STDERR_FILENO, line, n) == -1)
        return;
}

const char *cm_log_quote(char *buf, size_t len, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    int plain = s[0] != '\0';

    for (const char *p = s; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == '"' || *p == '\\' || *p == '=' ||
            (unsigned char)*p == 0x7f)
            plain = 0;
    if (plain) {
        snprintf(buf, len, "%s", s);
        return buf;
    }
    if (len < 3) {
        if (len > 0)
            buf[0] = '\0';
        return buf;
    }
    buf[o++] = '"';
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        int esc = *p == '"' || *p == '\\';
        int ctl = *p < ' ' || *p == 0x7f;
        size_t need = ctl ? 4 : esc ? 2 : 1;

        if (o + need + 2 > len) /* keep room for the quote and the NUL */
            break;
        if (ctl) {
            buf[o++] = '\\';
            buf[o++] = 'x';
            buf[o++] = hex[*p >> 4];
            buf[o++] = hex[*p & 15];
        } else {
            if (esc)
                buf[o++] = '\\';
            buf[o++] = (char)*p;
        }
    }
    buf[o++] = '"';
    buf[o] = '\0';
    return buf;
}
