/*
 * version.c -- build information (see version.h). The commit comes from
 * build_info.h, generated from Bazel's stable workspace status.
 */
#include "common/version/version.h"
#include "common/version/build_info.h"

#include <stdio.h>

#if defined(__SANITIZE_ADDRESS__)
#define VERSION_FLAVOUR ", asan"
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define VERSION_FLAVOUR ", asan"
#endif
#endif
#ifndef VERSION_FLAVOUR
#define VERSION_FLAVOUR ""
#endif

#ifdef __clang__
#define VERSION_CC "clang " __clang_version__
#else
#define VERSION_CC "gcc " __VERSION__
#endif

const char *cm_version_commit(void)
{
    return CM_BUILD_COMMIT;
}

const char *cm_version_line(char *buf, unsigned len, const char *prog)
{
    snprintf(buf, len, "%s %s (commit %s, %s%s)", prog, CM_VERSION,
             CM_BUILD_COMMIT, VERSION_CC, VERSION_FLAVOUR);
    return buf;
}
