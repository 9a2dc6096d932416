/*
 * client.c -- see client.h. Failover: every control node is tried in the
 * given order; a node that is unreachable, times out or has no leader to
 * forward to is skipped. The error printed is the last answer from a
 * server, or "no control node reachable at LIST (reason)".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controlplane/mgmt/mgmt.h"
#include "controlplane/rpc/rpc.h"
#include "tools/traefikeectl/client.h"

/* 1 if <a> is the option <lng> (or <shrt>), with its value in <val> when
 * given as "--opt=value" (else NULL). */
static int match(const char *a, const char *lng, const char *shrt,
                 const char **val)
{
    size_t n = strlen(lng);

    *val = NULL;
    if (strcmp(a, lng) == 0 || (shrt != NULL && strcmp(a, shrt) == 0))
        return 1;
    if (strncmp(a, lng, n) == 0 && a[n] == '=') {
        *val = a + n + 1;
        return 1;
    }
    return 0;
}

int tctl_parse_opts(int argc, char **argv, const char *allowed,
                    struct tctl_opts *o)
{
    memset(o, 0, sizeof(*o));
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = NULL;
        char key = 0;

        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            o->help = 1;
            continue;
        }
        if (strcmp(a, "--dry-run") == 0 && strchr(allowed, 'd')) {
            o->dry_run = 1;
            continue;
        }
        if (match(a, "--control", NULL, &val))
            key = 'c';
        else if (match(a, "--output", "-o", &val))
            key = 'o';
        else if (match(a, "--file", "-f", &val))
            key = 'f';
        else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "traefikeectl %s: unknown option %s (try --help)\n",
                    argv[0], a);
            return 2;
        }
        if (key == 0) {
            if (o->n_args == sizeof(o->args) / sizeof(o->args[0])) {
                fprintf(stderr, "traefikeectl %s: too many arguments\n",
                        argv[0]);
                return 2;
            }
            o->args[o->n_args++] = argv[i];
            continue;
        }
        if (strchr(allowed, key) == NULL) {
            fprintf(stderr, "traefikeectl %s: option %s not allowed here\n",
                    argv[0], a);
            return 2;
        }
        if (val == NULL) {
            if (i + 1 >= argc) {
                fprintf(stderr, "traefikeectl %s: %s needs a value\n", argv[0],
                        a);
                return 2;
            }
            val = argv[++i];
        }
        *(key == 'c' ? &o->control : key == 'o' ? &o->output : &o->file) = val;
    }
    return 0;
}

int tctl_ctx_init(struct tctl_ctx *c, const char *control)
{
    const char *env = getenv("TRAEFIKEE_CONTROL");
    char *save = NULL, *tok, buf[1024];

    if (control == NULL || *control == '\0')
        control = env != NULL && *env != '\0' ? env : "127.0.0.1:4242";
    memset(c, 0, sizeof(*c));
    snprintf(c->list, sizeof(c->list), "%s", control);
    snprintf(buf, sizeof(buf), "%s", control);
    c->timeout_ms = 10000;
    for (tok = strtok_r(buf, ",", &save); tok != NULL;
         tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ')
            tok++;
        if (*tok == '\0')
            continue;
        if (c->n == TCTL_MAX_CONTROL || strchr(tok, ':') == NULL) {
            fprintf(stderr,
                    "traefikeectl: bad --control \"%s\" (expected "
                    "HOST:PORT,HOST:PORT,...)\n",
                    control);
            return 2;
        }
        c->addrs[c->n++] = strdup(tok);
    }
    if (c->n == 0) {
        fprintf(stderr, "traefikeectl: no control node address given\n");
        return 2;
    }
    return 0;
}

void tctl_ctx_deinit(struct tctl_ctx *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->addrs[i]);
    c->n = 0;
}

/* A short reason for a transport failure. */
static const char *reason(const struct cp_mgmt_reply *r)
{
    if (r->status == GRPC_STATUS_DEADLINE_EXCEEDED)
        return "timed out";
    if (strstr(r->details, "onnection refused") != NULL)
        return "connection refused";
    if (strstr(r->details, "DNS") != NULL)
        return "name not resolved";
    return r->details[0] != '\0' ? r->details : "unavailable";
}

int tctl_call(const struct tctl_ctx *c, const char *method,
              const ProtobufCMessage *req, const ProtobufCMessageDescriptor *d,
              ProtobufCMessage **out)
{
    struct cp_mgmt_reply r = {0};
    char server_err[CP_MGMT_DETAILS_LEN] = "", why[CP_MGMT_DETAILS_LEN] = "";
    uint8_t *buf;
    size_t len;

    *out = NULL;
    if (cp_rpc_pb_pack(req, &buf, &len) != 0) {
        fprintf(stderr, "traefikeectl: out of memory\n");
        return 1;
    }
    for (size_t i = 0; i < c->n; i++) {
        if (cp_mgmt_client_unary(c->addrs[i], method, buf, len, c->timeout_ms,
                                 &r) != 0)
            continue;
        if (r.status == GRPC_STATUS_OK) {
            *out = protobuf_c_message_unpack(d, NULL, r.len, r.data);
            cp_mgmt_reply_deinit(&r);
            free(buf);
            if (*out == NULL) {
                fprintf(stderr, "traefikeectl: malformed reply from %s\n",
                        c->addrs[i]);
                return 1;
            }
            return 0;
        }
        if (r.status != GRPC_STATUS_UNAVAILABLE &&
            r.status != GRPC_STATUS_DEADLINE_EXCEEDED) {
            fprintf(stderr, "traefikeectl: %s%s%s\n",
                    c->err_prefix != NULL ? c->err_prefix : "",
                    c->err_prefix != NULL ? ": " : "", r.details);
            cp_mgmt_reply_deinit(&r);
            free(buf);
            return 1;
        }
        if (cp_mgmt_from_server(r.details))
            snprintf(server_err, sizeof(server_err), "%s", r.details);
        else
            snprintf(why, sizeof(why), "%s", reason(&r));
        cp_mgmt_reply_deinit(&r);
    }
    free(buf);
    if (server_err[0] != '\0')
        fprintf(stderr, "traefikeectl: %s\n", server_err);
    else
        fprintf(stderr, "traefikeectl: no control node reachable at %s (%s)\n",
                c->list, why);
    return 1;
}

void tctl_hoist_global(int argc, char **argv)
{
    int take;
    char *a, *b;

    if (argc < 3 || strncmp(argv[1], "--control", 9) != 0)
        return;
    take = argv[1][9] == '=' ? 1 : 2;
    if (argc < 2 + take)
        return;
    /* [prog, --control, X, cmd, ...] -> [prog, cmd, --control, X, ...] */
    a = argv[1];
    b = take == 2 ? argv[2] : NULL;
    argv[1] = argv[1 + take];
    argv[2] = a;
    if (take == 2)
        argv[3] = b;
}
