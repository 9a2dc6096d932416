/*
 * client.h -- traefikeectl's side of the management API: the list of
 * control nodes (--control or TRAEFIKEE_CONTROL), the credentials
 * (--insecure, or an admin bundle: --bundle, TRAEFIKEE_BUNDLE, the default
 * path), unary calls that move on to the next control node when one does
 * not answer, the common option parser of the subcommands, and error lines
 * on stderr.
 */
#ifndef TCTL_CLIENT_H
#define TCTL_CLIENT_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

#include "common/pki/pki.h"
#include "controlplane/mgmt/mgmt.h"

#define TCTL_MAX_CONTROL 16
#define TCTL_PATH_MAX    4096

/* The line printed when no bundle is found. */
#define TCTL_NO_CREDS                                                          \
    "no credentials: pass --bundle FILE (a control node writes "               \
    "DATA-DIR/traefikeectl.bundle), set TRAEFIKEE_BUNDLE, or use --insecure"

/* A bundle whose certificate ends within this many seconds is warned
 * about on stderr (the call still goes ahead). */
#define TCTL_BUNDLE_WARN_S 3600

/* Where the credentials come from (options of every command that calls a
 * control node; borrowed strings). */
struct tctl_cred_opts {
    const char *bundle; /* --bundle FILE */
    int insecure;       /* --insecure */
};

struct tctl_ctx {
    char list[1024]; /* the addresses, comma-separated, as given */
    char *addrs[TCTL_MAX_CONTROL];
    size_t n;
    unsigned timeout_ms;
    const char *err_prefix;     /* e.g. the file applied; NULL: none */
    char bundle[TCTL_PATH_MAX]; /* the bundle used; "" when plain text */
    int secure;                 /* mutual TLS with <pki> */
    struct cm_pki_creds pki;    /* owned: the bundle's CA, cert, key */
};

/* Options every subcommand may take. */
struct tctl_opts {
    const char *control;        /* --control H:P,... */
    const char *output;         /* -o table|json|yaml */
    const char *file;           /* -f FILE */
    const char *role;           /* --role R */
    int dry_run;                /* --dry-run */
    int rotate;                 /* --rotate */
    int help;                   /* --help / -h */
    struct tctl_cred_opts cred; /* --bundle F, --insecure: always allowed */
    char *args[8];              /* positional arguments */
    size_t n_args;
};

/* Parses argv[1..] of a subcommand; accepts only the options in <allowed>
 * (letters: c control, o output, f file, d dry-run, r rotate, l role), and
 * --bundle/--insecure. Returns 0 or prints one line and returns 2. */
int tctl_parse_opts(int argc, char **argv, const char *allowed,
                    struct tctl_opts *o);

/* For subcommands with their own parser: if argv[*i] is --insecure,
 * --bundle F or --bundle=F, records it in <co> (moving *i past a value)
 * and returns 1; 0 if it is not one of them; -1 (after a line on stderr)
 * when --bundle has no value. */
int tctl_cred_opt(int argc, char **argv, int *i, struct tctl_cred_opts *co);

/* 1 if TRAEFIKEE_INSECURE asks for plain text (non-empty and not "0"). */
int tctl_env_insecure(void);

/* The default bundle path: ${XDG_CONFIG_HOME:-$HOME/.config}/traefikee/
 * bundle.pem into <out>. 0, or -1 (no HOME, or too long). */
int tctl_bundle_default(char *out, size_t len);

enum tctl_cred_kind {
    TCTL_CRED_BUNDLE = 0,   /* <path> names the bundle to read */
    TCTL_CRED_INSECURE = 1, /* plain text */
};

/* Decides the credentials: plain text for --insecure or TRAEFIKEE_INSECURE;
 * else the bundle of --bundle, else $TRAEFIKEE_BUNDLE, else the default
 * path, into <path>. Returns an enum tctl_cred_kind, or GW_ENOENT when the
 * default path was the last resort and does not exist. */
int tctl_cred_resolve(const struct tctl_cred_opts *co, char *path, size_t len);

/* Fills <c> from <control> (may be NULL), else $TRAEFIKEE_CONTROL, else
 * 127.0.0.1:4242, and the credentials <co> (NULL: as if none given) asks
 * for (a bundle read and checked; a local cluster's renewed in its last
 * third from the control nodes, see bundle.h). Returns 0 (free with
 * tctl_ctx_deinit()), or 1 (no usable credentials) or 2 (bad addresses) after
 * printing one line, with nothing left to free. */
int tctl_ctx_init(struct tctl_ctx *c, const char *control,
                  const struct tctl_cred_opts *co);

void tctl_ctx_deinit(struct tctl_ctx *c);

/* Calls <method> with <req> on the first control node that answers. On OK
 * unpacks the reply with <d> into *out (free with
 * protobuf_c_message_free_unpacked()) and returns 0; otherwise prints one
 * line to stderr and returns 1. */
int tctl_call(const struct tctl_ctx *c, const char *method,
              const ProtobufCMessage *req, const ProtobufCMessageDescriptor *d,
              ProtobufCMessage **out);

/* The credentials of <c>'s calls (borrowed): NULL for plain text. */
const struct cm_pki_creds *tctl_ctx_creds(const struct tctl_ctx *c);

/* If <st> is a refusal of our credentials (UNAUTHENTICATED,
 * PERMISSION_DENIED) by <addr>, prints one line saying so and what to do,
 * and returns 1; else 0. */
int tctl_refused(const struct tctl_ctx *c, const char *addr,
                 grpc_status_code st, const char *details);

/* Prints the line for a call no control node of <c> answered, from the
 * last failure (<st>, <details>; "" when none came back): a failed TLS
 * handshake names the bundle, anything else is "no control node reachable
 * at LIST (reason)". */
void tctl_unreachable(const struct tctl_ctx *c, grpc_status_code st,
                      const char *details);

/* Moves the leading global options "--control X", "--bundle F" (or
 * "--opt=X") and "--insecure" (before the subcommand) behind it, so
 * subcommands see them. */
void tctl_hoist_global(int argc, char **argv);

#define TCTL_METHOD(name) "/traefikee.v1.Management/" name

/* The end of the --help text of every command that calls a control node:
 * where it connects and with which credentials (docs/security.md). */
#define TCTL_CONN_HELP                                                         \
    "\nConnection (before or after the command):\n"                            \
    "  --control H:P,...  control nodes (or TRAEFIKEE_CONTROL; default "       \
    "127.0.0.1:4242)\n"                                                        \
    "  --bundle FILE      admin credentials: CA, certificate, key (or "        \
    "TRAEFIKEE_BUNDLE;\n"                                                      \
    "                     default ${XDG_CONFIG_HOME:-~/.config}/traefikee/"    \
    "bundle.pem)\n"                                                            \
    "  --insecure         plain text, for a cluster started with --insecure\n" \
    "                     (or TRAEFIKEE_INSECURE=1)\n"

#endif
