/*
 * node.h -- a control node: parses its flags, then wires the Redis store
 * (election, revisions, heartbeats), the gRPC server with xDS and the
 * management API, the revision -> xDS snapshot pipeline, node heartbeats
 * and events, and the file provider, on one libuv loop (main thread) plus
 * the gRPC server's threads.
 */
#ifndef CP_NODE_H
#define CP_NODE_H

#include <stdio.h>

#include "common/config/config-t.h"
#include "common/err/err.h"
#include "controlplane/node/node-t.h"
#include "controlplane/xds/xds-t.h"

/* Parses argv (argv[0] is the program) into <f>, defaults first. Returns 0
 * or GW_EINVAL with a one-line message in <err>. Environment used for
 * defaults: XDG_STATE_HOME, HOME (data dir), the host name (node id). */
int cp_node_parse_flags(int argc, char **argv, struct cp_node_flags *f,
                        char *err, size_t errlen) CM_MUST_CHECK;

/* Prints the usage text. */
void cp_node_usage(FILE *out);

/* Builds the xDS snapshot of <cfg> (borrowed) with version <version>:
 * returns new (release with cp_xds_snapshot_put()) or NULL with <err>. */
struct cp_xds_snapshot *cp_node_snapshot(const struct cm_config *cfg,
                                         const char *version, char *err,
                                         size_t errlen);

/* Runs the node until SIGTERM/SIGINT. Returns the process exit status. */
int cp_node_run(const struct cp_node_flags *f);

#endif
