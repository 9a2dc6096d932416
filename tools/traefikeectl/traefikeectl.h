/*
 * traefikeectl.h -- the subcommands of traefikeectl, one function each:
 * take the subcommand's argv (argv[0] = the subcommand's name) and return
 * the process exit status.
 */
#ifndef TCTL_TRAEFIKEECTL_H
#define TCTL_TRAEFIKEECTL_H

/* translate -f FILE [-o json]: prints the xDS resources of a config. */
int tctl_translate(int argc, char **argv);

/* The management API commands (cmd_cluster.c, cmd_config.c). */
int tctl_version(int argc, char **argv);
int tctl_list_nodes(int argc, char **argv);
int tctl_events(int argc, char **argv);
int tctl_apply(int argc, char **argv);
/* create tls-cert / get tls-certs / delete tls-cert (argv[0] is the verb). */
int tctl_tls(int argc, char **argv);
/* Whether get/delete <argv> (argv[0] the verb) is about tls-cert(s). */
int tctl_tls_wants(int argc, char **argv);
int tctl_get(int argc, char **argv);
int tctl_delete(int argc, char **argv);
int tctl_history(int argc, char **argv);
int tctl_rollback(int argc, char **argv);

/* reset-password [--password P], tokens [--rotate], revoke [--role R] ID
 * (cmd_admin.c). */
int tctl_reset_password(int argc, char **argv);
int tctl_tokens(int argc, char **argv);
int tctl_revoke(int argc, char **argv);

/* install --local / uninstall --local (cmd_install.c). */
int tctl_install(int argc, char **argv);
int tctl_uninstall(int argc, char **argv);

struct tctl_ctx;
/* list-nodes' output (also `get nodes`); <fmt> an enum tctl_format. */
int tctl_print_nodes(const struct tctl_ctx *c, int fmt);

struct tctl_command {
    const char *name;
    int (*run)(int argc, char **argv);
};

static const struct tctl_command tctl_commands[] = {
    {"version", tctl_version},
    {"list-nodes", tctl_list_nodes},
    {"apply", tctl_apply},
    {"create", tctl_tls},
    {"get", tctl_get},
    {"delete", tctl_delete},
    {"history", tctl_history},
    {"rollback", tctl_rollback},
    {"events", tctl_events},
    {"install", tctl_install},
    {"uninstall", tctl_uninstall},
    {"reset-password", tctl_reset_password},
    {"tokens", tctl_tokens},
    {"revoke", tctl_revoke},
};

#endif
