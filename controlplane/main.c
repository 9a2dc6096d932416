/*
 * main.c -- entry point of the controlplane binary: parse the flags, print
 * help or version, set the log level, run the control node (node/) until
 * SIGTERM or SIGINT.
 */
#include <stdio.h>

#include "common/log/log.h"
#include "common/version/version.h"
#include "controlplane/node/node.h"

int main(int argc, char **argv)
{
    struct cp_node_flags flags;
    char err[CM_ERR_LEN], line[256];

    if (cp_node_parse_flags(argc, argv, &flags, err, sizeof(err)) != 0) {
        fprintf(stderr, "controlplane: %s\n", err);
        return 2;
    }
    if (flags.help) {
        cp_node_usage(stdout);
        return 0;
    }
    if (flags.version) {
        printf("%s\n", cm_version_line(line, sizeof(line), "controlplane"));
        return 0;
    }
    cm_log_set_level(flags.log_level);
    return cp_node_run(&flags);
}
