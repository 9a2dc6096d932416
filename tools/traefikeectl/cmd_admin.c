/*
 * cmd_admin.c -- the administrator's subcommands. `reset-password`: makes
 * (or takes) the dashboard's admin password, hashes it here with scrypt,
 * sends only the hash to the cluster (SetAdminHash, written by the leader)
 * and prints the password once; every dashboard session ends, since
 * sessions are signed with a key derived from the hash. `tokens`: the
 * cluster's join tokens (GetTokens, --rotate for new ones). `revoke`:
 * refuses a node's certificates from now on (RevokeNode). Caller's thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/pki/pki.h"
#include "controlplane/auth/auth.h"
#include "tools/traefikeectl/client.h"
#include "tools/traefikeectl/output.h"
#include "tools/traefikeectl/traefikeectl.h"
#include "traefikee/v1/management.pb-c.h"

/* A password a person chose must be at least this long. */
#define MIN_PASSWORD 8
#define MAX_PASSWORD 256

struct reset_opts {
    const char *control;
    const char *password; /* NULL: generate; "-": read a line from stdin */
    struct tctl_cred_opts cred;
    int help;
};

static void reset_usage(FILE *f)
{
    fprintf(f,
            "usage: traefikeectl reset-password [--password P|-] "
            "[--control H:P,...]\n"
            "                                   [--bundle FILE | --insecure]"
            "\n\n"
            "Sets a new password for the dashboard's user \"admin\" and "
            "prints it once.\nWithout --password, a random one is generated; "
            "with --password -, the first\nline of stdin is used. Only its "
            "scrypt hash leaves this machine. Every\ndashboard session ends; "
            "the old password stops working on every control node\nwithin a "
            "second.\n" TCTL_CONN_HELP);
}

static int parse(int argc, char **argv, struct reset_opts *o)
{
    memset(o, 0, sizeof(*o));
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], **dst = NULL;
        size_t n = 0;

        switch (tctl_cred_opt(argc, argv, &i, &o->cred)) {
        case 1:
            continue;
        case -1:
            return 2;
        }
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            o->help = 1;
            continue;
        }
        if (strncmp(a, "--password", 10) == 0 && strchr("=", a[10]))
            dst = &o->password, n = 10;
        else if (strncmp(a, "--control", 9) == 0 && strchr("=", a[9]))
            dst = &o->control, n = 9;
        if (dst != NULL && a[n] == '=') {
            *dst = a + n + 1;
            continue;
        }
        if (dst != NULL && a[n] == '\0' && i + 1 < argc) {
            *dst = argv[++i];
            continue;
        }
        fprintf(stderr, "traefikeectl reset-password: %s %s (try --help)\n",
                dst != NULL ? "a value is needed after" : "unexpected argument",
                a);
        return 2;
    }
    return 0;
}

/* Fills <out> from the options: generated, given, or read from stdin.
 * Returns 0, or 2 after printing a line. */
static int get_password(const struct reset_opts *o, char *out, size_t len)
{
    size_t n;

    if (o->password == NULL) {
        if (cp_auth_generate_password(out, len) == 0)
            return 0;
        fprintf(stderr, "traefikeectl: no randomness for a password\n");
        return 1;
    }
    if (strcmp(o->password, "-") == 0) {
        if (fgets(out, (int)len, stdin) == NULL) {
            fprintf(stderr, "traefikeectl: no password on stdin\n");
            return 2;
        }
        out[strcspn(out, "\r\n")] = '\0';
    } else {
        snprintf(out, len, "%s", o->password);
    }
    n = strlen(out);
    if (n < MIN_PASSWORD || n >= MAX_PASSWORD) {
        fprintf(stderr,
                "traefikeectl: the password must have %d to %d characters\n",
                MIN_PASSWORD, MAX_PASSWORD - 1);
        return 2;
    }
    return 0;
}

int tctl_reset_password(int argc, char **argv)
{
    Traefikee__V1__SetAdminHashRequest req =
        TRAEFIKEE__V1__SET_ADMIN_HASH_REQUEST__INIT;
    Traefikee__V1__SetAdminHashResponse *r;
    char password[MAX_PASSWORD + 2], hash[CP_AUTH_HASH_MAX];
    struct reset_opts o;
    struct tctl_ctx c;
    int rc;

    if ((rc = parse(argc, argv, &o)) != 0)
        return rc;
    if (o.help) {
        reset_usage(stdout);
        return 0;
    }
    if ((rc = tctl_ctx_init(&c, o.control, &o.cred)) != 0)
        return rc;
    rc = get_password(&o, password, sizeof(password));
    if (rc == 0 && cp_auth_hash(password, NULL, hash, sizeof(hash)) != 0) {
        fprintf(stderr, "traefikeectl: cannot hash the password\n");
        rc = 1;
    }
    if (rc == 0) {
        req.hash = hash;
        rc = tctl_call(&c, TCTL_METHOD("SetAdminHash"), &req.base,
                       &traefikee__v1__set_admin_hash_response__descriptor,
                       (ProtobufCMessage **)&r);
    }
    tctl_ctx_deinit(&c);
    if (rc == 0) {
        printf("admin password: %s (printed once; every dashboard session "
               "has ended; written by leader %s)\n",
               password, r->leader_id);
        protobuf_c_message_free_unpacked(&r->base, NULL);
    }
    explicit_bzero(password, sizeof(password));
    return rc;
}

/* ==== tokens ==== */

static void tokens_usage(void)
{
    printf("usage: traefikeectl tokens [--rotate] [-o text|json|yaml] "
           "[--control H:P,...]\n\n"
           "Prints the cluster's two join tokens (made on first use): "
           "\"control: TKE1...\"\nfor controlplane --join-token, \"data: "
           "TKE1...\" for dataplane --join-token.\nA token is presented "
           "once, to get a node's certificate. With --rotate, new\ntokens "
           "replace both and the old ones stop working (nodes already "
           "joined keep\ntheir certificates). Takes an admin "
           "bundle.\n" TCTL_CONN_HELP);
}

int tctl_tokens(int argc, char **argv)
{
    Traefikee__V1__GetTokensRequest req =
        TRAEFIKEE__V1__GET_TOKENS_REQUEST__INIT;
    Traefikee__V1__GetTokensResponse *r;
    struct tctl_opts o;
    struct tctl_ctx c;
    int rc, fmt;

    if ((rc = tctl_parse_opts(argc, argv, "cor", &o)) != 0)
        return rc;
    if (o.help) {
        tokens_usage();
        return 0;
    }
    if (o.n_args > 0) {
        fprintf(stderr, "traefikeectl tokens: unexpected argument %s\n",
                o.args[0]);
        return 2;
    }
    if (o.output != NULL && strcmp(o.output, "text") == 0)
        o.output = "table";
    if ((fmt = tctl_format_parse(o.output, TCTL_TABLE)) < 0) {
        fprintf(stderr,
                "traefikeectl: unknown output format \"%s\" (text, json, "
                "yaml)\n",
                o.output);
        return 2;
    }
    if ((rc = tctl_ctx_init(&c, o.control, &o.cred)) != 0)
        return rc;
    req.rotate = o.rotate;
    rc = tctl_call(&c, TCTL_METHOD("GetTokens"), &req.base,
                   &traefikee__v1__get_tokens_response__descriptor,
                   (ProtobufCMessage **)&r);
    tctl_ctx_deinit(&c);
    if (rc != 0)
        return rc;
    if (fmt == TCTL_TABLE)
        printf("control: %s\ndata: %s\n", r->control_token, r->data_token);
    else
        tctl_doc_print(json_pack("{s:s, s:s}", "control", r->control_token,
                                 "data", r->data_token),
                       fmt);
    if (o.rotate)
        fprintf(stderr, "traefikeectl: new tokens; the old ones no longer "
                        "work\n");
    protobuf_c_message_free_unpacked(&r->base, NULL);
    return 0;
}

/* ==== revoke ==== */

static void revoke_usage(void)
{
    printf("usage: traefikeectl revoke [--role data|control|admin] NODE-ID "
           "[--control H:P,...]\n\n"
           "Refuses, from now on, every certificate issued to NODE-ID (in "
           "that role;\ndata by default) before now, and ends its open xDS "
           "streams. The node can\ncome back only with a join token (a newer "
           "certificate). Takes an admin bundle.\n" TCTL_CONN_HELP);
}

int tctl_revoke(int argc, char **argv)
{
    Traefikee__V1__RevokeNodeRequest req =
        TRAEFIKEE__V1__REVOKE_NODE_REQUEST__INIT;
    Traefikee__V1__RevokeNodeResponse *r;
    enum cm_pki_role role = CM_PKI_ROLE_DATA;
    struct tctl_opts o;
    struct tctl_ctx c;
    char when[32];
    time_t at;
    int rc;

    if ((rc = tctl_parse_opts(argc, argv, "cl", &o)) != 0)
        return rc;
    if (o.help) {
        revoke_usage();
        return 0;
    }
    if (o.n_args != 1 || o.args[0][0] == '\0') {
        fprintf(stderr, "traefikeectl revoke: want one NODE-ID (try "
                        "--help)\n");
        return 2;
    }
    if (o.role != NULL && cm_pki_role_parse(o.role, &role) != 0) {
        fprintf(stderr,
                "traefikeectl revoke: --role is data, control or admin, "
                "not \"%s\"\n",
                o.role);
        return 2;
    }
    if ((rc = tctl_ctx_init(&c, o.control, &o.cred)) != 0)
        return rc;
    req.role = (Traefikee__V1__Role)role;
    req.node_id = o.args[0];
    rc = tctl_call(&c, TCTL_METHOD("RevokeNode"), &req.base,
                   &traefikee__v1__revoke_node_response__descriptor,
                   (ProtobufCMessage **)&r);
    tctl_ctx_deinit(&c);
    if (rc != 0)
        return rc;
    at = (time_t)r->revoked_at;
    strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", gmtime(&at));
    printf("revoked %s/%s at %s (revoked_at %lld): its certificates issued "
           "before are refused\n",
           cm_pki_role_name(role), o.args[0], when, (long long)r->revoked_at);
    protobuf_c_message_free_unpacked(&r->base, NULL);
    return 0;
}
