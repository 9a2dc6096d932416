/*
 * main.c -- traefikeectl, the command-line client of the cluster. Dispatches
 * the subcommand (global options before it are moved behind it first);
 * `version` prints the client's own version (the cluster's comes with the
 * management API). gRPC's own log is off unless GRPC_VERBOSITY is set:
 * each error is one line of ours.
 */
#include <grpc/support/log.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/traefikeectl/client.h"
#include "tools/traefikeectl/traefikeectl.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: traefikeectl COMMAND [ARGS]\n\n"
               "commands:\n"
               "  version      print the client's and the cluster's version\n"
               "  list-nodes   list control and data nodes\n"
               "  apply        apply a configuration file (-f FILE "
               "[--dry-run])\n"
               "  get          show routers|services|middlewares|entrypoints|"
               "config|nodes\n"
               "  delete       delete a router, service or middleware\n"
               "  create       create tls-cert --cert FILE --key FILE "
               "[--name N]\n               (get tls-certs, delete tls-cert "
               "NAME)\n"
               "  history      list the kept revisions\n"
               "  rollback     re-apply a kept revision\n"
               "  events       follow the cluster's events\n"
               "  translate  print the xDS resources a config file becomes "
               "(translate --help)\n"
               "  install      install --local: a whole cluster on this "
               "machine\n"
               "  uninstall    uninstall --local: stop it\n"
               "  reset-password  set a new dashboard password, print it "
               "once\n"
               "  tokens       print the join tokens of control and data "
               "nodes [--rotate]\n"
               "  revoke       refuse a node's certificates "
               "([--role data|control|admin] NODE-ID)\n\n"
               "options (before or after COMMAND):\n"
               "  --control H:P,...  control nodes (or TRAEFIKEE_CONTROL; "
               "default 127.0.0.1:4242)\n"
               "  --bundle FILE      admin credentials: CA, certificate, key "
               "(or TRAEFIKEE_BUNDLE;\n"
               "                     default ${XDG_CONFIG_HOME:-~/.config}/"
               "traefikee/bundle.pem;\n"
               "                     a control node writes "
               "DATA-DIR/traefikeectl.bundle)\n"
               "  --insecure         plain text, for a cluster started with "
               "--insecure\n"
               "                     (or TRAEFIKEE_INSECURE=1)\n"
               "COMMAND --help for each command.\n");
}

/* gRPC's own log lines (e.g. one per failed TLS handshake) would come
 * before ours; they are dropped unless GRPC_VERBOSITY asks for them. */
static void drop_grpc_log(gpr_log_func_args *args)
{
    (void)args;
}

int main(int argc, char **argv)
{
    if (getenv("GRPC_VERBOSITY") == NULL)
        gpr_set_log_function(drop_grpc_log);
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    tctl_hoist_global(argc, argv);
    if ((strcmp(argv[1], "get") == 0 || strcmp(argv[1], "delete") == 0) &&
        tctl_tls_wants(argc - 1, argv + 1))
        return tctl_tls(argc - 1, argv + 1);
    for (size_t i = 0; i < sizeof(tctl_commands) / sizeof(tctl_commands[0]);
         i++)
        if (strcmp(argv[1], tctl_commands[i].name) == 0)
            return tctl_commands[i].run(argc - 1, argv + 1);
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
