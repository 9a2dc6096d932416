/*
 * main.c -- traefikeectl, the command-line client of the cluster. Dispatches
 * the subcommand; `version` prints the client's own version (the cluster's
 * comes with the management API).
 */
#include <stdio.h>
#include <string.h>

#include "common/version/version.h"
#include "tools/traefikeectl/traefikeectl.h"

static int cmd_version(void)
{
    char line[256];

    printf("%s\n", cm_version_line(line, sizeof(line), "traefikeectl"));
    return 0;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: traefikeectl COMMAND [ARGS]\n\n"
               "commands:\n"
               "  version    print the client's version\n"
               "  translate  print the xDS resources a config file becomes "
               "(translate --help)\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "version") == 0)
        return cmd_version();
    if (strcmp(argv[1], "translate") == 0)
        return tctl_translate(argc - 1, argv + 1);
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "traefikeectl: unknown command '%s' (try --help)\n",
            argv[1]);
    return 2;
}
