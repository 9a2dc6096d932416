/*
 * main.c -- entry point of the controlplane binary. For now it prints its
 * version and build information; the node's work is wired in by later modules.
 */
#include <stdio.h>
#include <string.h>

#include "common/version/version.h"

int main(int argc, char **argv)
{
    char line[256];

    if (argc > 1 &&
        (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        printf("usage: controlplane [--version]\n");
        return 0;
    }
    printf("%s\n", cm_version_line(line, sizeof(line), "controlplane"));
    return 0;
}
