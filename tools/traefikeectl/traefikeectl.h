/*
 * traefikeectl.h -- the subcommands of traefikeectl, one function each:
 * take the subcommand's argv (argv[0] = the subcommand's name) and return
 * the process exit status.
 */
#ifndef TCTL_TRAEFIKEECTL_H
#define TCTL_TRAEFIKEECTL_H

/* translate -f FILE [-o json]: prints the xDS resources of a config. */
int tctl_translate(int argc, char **argv);

#endif
