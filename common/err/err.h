/*
 * err.h -- the error convention of the whole codebase.
 *
 * Functions return int: 0 (GW_OK) on success, a negative GW_E* code on
 * failure; libuv's UV_E* codes (also negative errno values) pass through
 * unchanged. Paths that validate user input (config, xDS) also fill a
 * caller-supplied buffer with a message a person can act on.
 */
#ifndef CM_ERR_H
#define CM_ERR_H

#include <stddef.h>

#define GW_OK      0
#define GW_ERR     (-1000) /* generic failure; see the error buffer */
#define GW_ENOMEM  (-1001) /* allocation failed */
#define GW_EINVAL  (-1002) /* invalid argument or input */
#define GW_ENOENT  (-1003) /* no such resource */
#define GW_EPROTO  (-1004) /* protocol violation by a peer */
#define GW_ETOOBIG (-1005) /* a limit was exceeded */
#define GW_EAGAIN  (-1006) /* need more input; call again */
#define GW_EIO     (-1007) /* I/O failed */

/* Size of the error buffers callers pass to validating functions. */
#define CM_ERR_LEN 512

#define CM_MUST_CHECK __attribute__((warn_unused_result))

/* Returns a static string for a GW_E* code or a negative errno value. */
const char *cm_err_str(int code);

/* Formats into <err> (of <len> bytes, may be NULL) and returns <code>, so
 * that validators can `return cm_err_set(err, len, GW_EINVAL, "...")`. */
int cm_err_set(char *err, size_t len, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
