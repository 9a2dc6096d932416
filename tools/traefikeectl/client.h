/*
 * client.h -- traefikeectl's side of the management API: the list of
 * control nodes (--control or TRAEFIKEE_CONTROL), unary calls that move on
 * to the next control node when one does not answer, the common option
 * parser of the subcommands, and error lines on stderr.
 */
#ifndef TCTL_CLIENT_H
#define TCTL_CLIENT_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

#define TCTL_MAX_CONTROL 16

struct tctl_ctx {
    char list[1024]; /* the addresses, comma-separated, as given */
    char *addrs[TCTL_MAX_CONTROL];
    size_t n;
    unsigned timeout_ms;
    const char *err_prefix; /* e.g. the file applied; NULL: none */
};

/* Options every subcommand may take. */
struct tctl_opts {
    const char *control; /* --control H:P,... */
    const char *output;  /* -o table|json|yaml */
    const char *file;    /* -f FILE */
    int dry_run;         /* --dry-run */
    int help;            /* --help / -h */
    char *args[8];       /* positional arguments */
    size_t n_args;
};

/* Parses argv[1..] of a subcommand; accepts only the options in <allowed>
 * (letters: c control, o output, f file, d dry-run). Returns 0 or prints
 * one line and returns 2. */
int tctl_parse_opts(int argc, char **argv, const char *allowed,
                    struct tctl_opts *o);

/* Fills <c> from <control> (may be NULL), else $TRAEFIKEE_CONTROL, else
 * 127.0.0.1:4242. Returns 0, or 2 after printing a line. */
int tctl_ctx_init(struct tctl_ctx *c, const char *control);

void tctl_ctx_deinit(struct tctl_ctx *c);

/* Calls <method> with <req> on the first control node that answers. On OK
 * unpacks the reply with <d> into *out (free with
 * protobuf_c_message_free_unpacked()) and returns 0; otherwise prints one
 * line to stderr and returns 1. */
int tctl_call(const struct tctl_ctx *c, const char *method,
              const ProtobufCMessage *req, const ProtobufCMessageDescriptor *d,
              ProtobufCMessage **out);

/* Moves a leading "--control X" / "--control=X" (before the subcommand)
 * behind it, so subcommands see it. */
void tctl_hoist_global(int argc, char **argv);

#define TCTL_METHOD(name) "/traefikee.v1.Management/" name

#endif
