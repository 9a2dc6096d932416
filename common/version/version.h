/*
 * version.h -- the product version and the build it came from, shared by
 * every binary (`--version`, the xDS Node, `traefikeectl version`).
 */
#ifndef CM_VERSION_H
#define CM_VERSION_H

#define CM_VERSION "0.1.0"

/* Git commit the binary was built from ("unknown" outside a checkout). */
const char *cm_version_commit(void);

/* One line: "<prog> 0.1.0 (commit abc, gcc 12.2.0, asan)". Returns <buf>. */
const char *cm_version_line(char *buf, unsigned len, const char *prog);

#endif
