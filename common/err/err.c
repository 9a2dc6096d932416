/*
 * err.c -- names of error codes and the error-buffer helper (see err.h).
 * Stateless; safe from any thread.
 */
#include "common/err/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *cm_err_str(int code)
{
    switch (code) {
    case GW_OK:
        return "ok";
    case GW_ERR:
        return "error";
    case GW_ENOMEM:
        return "out of memory";
    case GW_EINVAL:
        return "invalid input";
    case GW_ENOENT:
        return "not found";
    case GW_EPROTO:
        return "protocol error";
    case GW_ETOOBIG:
        return "limit exceeded";
    case GW_EAGAIN:
        return "try again";
    case GW_EIO:
        return "i/o error";
    }
    if (code < 0 && code > -1000)
        return strerror(-code);
    return "unknown error";
}

int cm_err_set(char *err, size_t len, int code, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || len == 0)
        return code;
    va_start(ap, fmt);
    vsnprintf(err, len, fmt, ap);
    va_end(ap);
    return code;
}
