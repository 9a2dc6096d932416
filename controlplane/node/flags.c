/*
 * flags.c -- the controlplane's command line: defaults, "--flag value" and
 * "--flag=value" forms, checks that name the flag at fault, and the usage
 * text. Pure except for the defaults read from the environment
 * (XDG_STATE_HOME, HOME, TRAEFIKEE_INSECURE, the host name) and the file of
 * --join-token-file (read once the flags are parsed).
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/config/config.h"
#include "common/pki/pki.h"
#include "controlplane/node/node.h"
#include "controlplane/store/store.h"

void cp_node_usage(FILE *out)
{
    fprintf(out,
            "usage: controlplane [FLAGS]\n\n"
            "A control node: stores the configuration in Redis, elects a "
            "leader, serves\nxDS and the management API (traefikeectl) on "
            "one gRPC port.\n\n"
            "  --node-id ID          this node's name [host name]\n"
            "  --grpc-addr H:P       xDS and management API "
            "[127.0.0.1:4242]\n"
            "  --http-addr H:P       dashboard, REST API, /metrics "
            "[127.0.0.1:8099]\n"
            "  --sentinels H:P,...   Redis behind Sentinel (with "
            "--master-name)\n"
            "  --master-name NAME    Sentinel master name [mymaster]\n"
            "  --redis H:P           a plain Redis (or unix:/path)\n"
            "                        with neither: a private redis-server "
            "under --data-dir\n"
            "  --data-dir DIR        embedded Redis' directory; also where "
            "the leader that\n"
            "                        creates the cluster writes the first "
            "admin password\n"
            "                        (DIR/admin-password, mode 0600)\n"
            "                        [$XDG_STATE_HOME/traefikee/NODE-ID, "
            "else\n"
            "                        ~/.local/state/traefikee/NODE-ID, else "
            "./traefikee-data]\n"
            "  --config FILE         file provider: the leader applies FILE "
            "and re-applies\n"
            "                        it when it changes\n"
            "  --wait-replicas N     replicas a write waits for [1 with "
            "--sentinels, else 0]\n"
            "  --wait-timeout D      bound on that wait [1s]\n"
            "  --lease D             leader lease [3s]\n"
            "  --history N           revisions kept [10]\n"
            "  --log-level L         debug, info, warn, error [info]\n"
            "\nSecurity (docs/security.md): mutual TLS with the cluster CA "
            "unless --insecure.\n"
            "  --insecure            development mode: plain text "
            "everywhere, no CA, no\n"
            "                        tokens (also TRAEFIKEE_INSECURE=1)\n"
            "  --cluster-key-file F  the operator's key that seals the CA "
            "key in Redis;\n"
            "                        made with the CA when neither exists "
            "[DATA-DIR/cluster.key]\n"
            "  --join-token T        a control token (traefikeectl tokens): "
            "join a cluster\n"
            "                        whose CA exists, getting the cluster "
            "key from a live\n"
            "                        control node\n"
            "  --join-token-file F   the same, read from the first line of F "
            "(out of argv)\n"
            "  --cert-ttl D          lifetime of the certificates issued "
            "(10s, 5m, 24h) [24h]\n"
            "  --redis-password-file F  AUTH to Redis with the password in F "
            "(also\n"
            "                        TRAEFIKEE_REDIS_PASSWORD); the embedded "
            "Redis makes its own\n"
            "  --xds-plaintext-addr H:P  also serve ADS (only) without TLS, "
            "for proxyless\n"
            "                        gRPC clients on a trusted network\n"
            "  --version             print the version and exit\n"
            "  --help                this text\n");
}

static void defaults(struct cp_node_flags *f)
{
    memset(f, 0, sizeof(*f));
    if (gethostname(f->node_buf, sizeof(f->node_buf) - 1) != 0 ||
        f->node_buf[0] == '\0')
        snprintf(f->node_buf, sizeof(f->node_buf), "control");
    f->node_id = f->node_buf;
    f->grpc_addr = "127.0.0.1:4242";
    f->http_addr = "127.0.0.1:8099";
    f->master_name = "mymaster";
    f->log_level = CM_LOG_INFO;
    f->wait_replicas = -1; /* decided after parsing */
    f->wait_timeout_ms = 1000;
    f->lease_ms = 3000;
    f->history = 10;
    f->cert_ttl_s = 24 * 3600;
}

/* TRAEFIKEE_INSECURE: any non-empty value but "0". */
static int env_insecure(void)
{
    const char *v = getenv("TRAEFIKEE_INSECURE");
    return v != NULL && *v != '\0' && strcmp(v, "0") != 0;
}

static void default_data_dir(struct cp_node_flags *f)
{
    const char *xdg = getenv("XDG_STATE_HOME"), *home = getenv("HOME");

    if (xdg != NULL && *xdg == '/')
        snprintf(f->dir_buf, sizeof(f->dir_buf), "%s/traefikee/%s", xdg,
                 f->node_id);
    else if (home != NULL && *home == '/')
        snprintf(f->dir_buf, sizeof(f->dir_buf), "%s/.local/state/traefikee/%s",
                 home, f->node_id);
    else
        snprintf(f->dir_buf, sizeof(f->dir_buf), "traefikee-data");
    f->data_dir = f->dir_buf;
}

/* The embedded redis-server runs elsewhere (its own cwd), and logs and
 * sockets must name one place: resolve a relative --data-dir now. */
static int absolute_data_dir(struct cp_node_flags *f)
{
    char cwd[CP_NODE_PATH_LEN], rel[CP_NODE_PATH_LEN];
    int n;

    if (getcwd(cwd, sizeof(cwd)) == NULL)
        return GW_ERR;
    snprintf(rel, sizeof(rel), "%s", f->data_dir);
    n = snprintf(f->dir_buf, sizeof(f->dir_buf), "%s/%s", cwd, rel);
    if (n < 0 || (size_t)n >= sizeof(f->dir_buf))
        return GW_ETOOBIG;
    f->data_dir = f->dir_buf;
    return GW_OK;
}

static int parse_uint(const char *s, unsigned max, unsigned *out)
{
    char *end;
    unsigned long v;

    if (*s < '0' || *s > '9')
        return GW_EINVAL;
    v = strtoul(s, &end, 10);
    if (*end != '\0' || v > max)
        return GW_EINVAL;
    *out = (unsigned)v;
    return 0;
}

static int parse_ms(const char *s, unsigned *out)
{
    int64_t ms;

    if (cm_config_parse_duration(s, &ms) != 0 || ms <= 0 || ms > INT_MAX)
        return GW_EINVAL;
    *out = (unsigned)ms;
    return 0;
}

/* Applies one flag <name> with <val>. */
static int set_flag(struct cp_node_flags *f, const char *name, const char *val,
                    char *err, size_t errlen)
{
    struct cp_store_addr a;
    unsigned u;

#define BAD(what)                                                              \
    cm_err_set(err, errlen, GW_EINVAL, "--%s: %s (got \"%s\")", name, what, val)
    if (strcmp(name, "node-id") == 0) {
        if (*val == '\0' || strchr(val, '\n') || strchr(val, '@'))
            return BAD("a non-empty name without '@'");
        f->node_id = val;
    } else if (strcmp(name, "grpc-addr") == 0 ||
               strcmp(name, "http-addr") == 0) {
        if (cp_store_parse_addr(val, &a) != 0 || a.kind != CP_STORE_ADDR_TCP)
            return BAD("expected HOST:PORT");
        *(name[0] == 'g' ? &f->grpc_addr : &f->http_addr) = val;
    } else if (strcmp(name, "sentinels") == 0) {
        struct cp_store_addr list[CP_STORE_MAX_SENTINELS];
        size_t n;
        if (cp_store_parse_sentinels(val, list, CP_STORE_MAX_SENTINELS, &n) !=
                0 ||
            n == 0)
            return BAD("expected HOST:PORT,HOST:PORT,...");
        f->sentinels = val;
    } else if (strcmp(name, "master-name") == 0) {
        if (*val == '\0')
            return BAD("a non-empty name");
        f->master_name = val;
    } else if (strcmp(name, "redis") == 0) {
        if (cp_store_parse_addr(val, &a) != 0)
            return BAD("expected HOST:PORT or unix:/path");
        f->redis = val;
    } else if (strcmp(name, "data-dir") == 0) {
        if (*val == '\0')
            return BAD("a directory");
        f->data_dir = val;
    } else if (strcmp(name, "config") == 0) {
        if (*val == '\0')
            return BAD("a file");
        f->config = val;
    } else if (strcmp(name, "log-level") == 0) {
        if (cm_log_parse_level(val, &f->log_level) != 0)
            return BAD("debug, info, warn or error");
    } else if (strcmp(name, "wait-replicas") == 0) {
        if (parse_uint(val, 16, &u) != 0)
            return BAD("a number from 0 to 16");
        f->wait_replicas = (int)u;
    } else if (strcmp(name, "wait-timeout") == 0) {
        if (parse_ms(val, &f->wait_timeout_ms) != 0)
            return BAD("a duration such as 1s or 500ms");
    } else if (strcmp(name, "lease") == 0) {
        if (parse_ms(val, &f->lease_ms) != 0 || f->lease_ms < 300)
            return BAD("a duration of at least 300ms");
    } else if (strcmp(name, "cluster-key-file") == 0 ||
               strcmp(name, "redis-password-file") == 0) {
        if (*val == '\0')
            return BAD("a file");
        *(name[0] == 'c' ? &f->cluster_key_file : &f->redis_password_file) =
            val;
    } else if (strcmp(name, "join-token-file") == 0) {
        if (*val == '\0')
            return BAD("a file holding a control token");
        f->join_token_file = val;
    } else if (strcmp(name, "join-token") == 0) {
        if (*val == '\0')
            return BAD("a control token (traefikeectl tokens)");
        f->join_token = val;
    } else if (strcmp(name, "cert-ttl") == 0) {
        if (parse_ms(val, &u) != 0 || u < 10000)
            return BAD("a duration of at least 10s, such as 5m or 24h");
        f->cert_ttl_s = u / 1000;
    } else if (strcmp(name, "xds-plaintext-addr") == 0) {
        if (cp_store_parse_addr(val, &a) != 0 || a.kind != CP_STORE_ADDR_TCP)
            return BAD("expected HOST:PORT");
        f->xds_plaintext_addr = val;
    } else if (strcmp(name, "history") == 0) {
        if (parse_uint(val, 10000, &f->history) != 0 || f->history == 0)
            return BAD("a number from 1 to 10000");
    } else {
        return cm_err_set(err, errlen, GW_EINVAL,
                          "unknown flag --%s (see --help)", name);
    }
#undef BAD
    return 0;
}

/* --join-token-file: its first line, without surrounding white space, into
 * f->token_buf; f->join_token then points there. */
static int read_token_file(struct cp_node_flags *f, char *err, size_t errlen)
{
    const char *path = f->join_token_file;
    char *text = NULL, why[CM_ERR_LEN];
    size_t n;
    int rc = 0;

    if (f->join_token != NULL)
        return cm_err_set(err, errlen, GW_EINVAL,
                          "--join-token and --join-token-file exclude each "
                          "other");
    if (cm_pki_file_read(path, &text, why, sizeof(why)) != 0)
        return cm_err_set(err, errlen, GW_EINVAL, "--join-token-file %s: %s",
                          path, why);
    char *s = text + strspn(text, " \t\r\n");
    n = strcspn(s, "\r\n");
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    if (n == 0 || n >= sizeof(f->token_buf)) {
        rc = cm_err_set(err, errlen, GW_EINVAL, "--join-token-file %s: %s",
                        path, n == 0 ? "empty" : "not a join token");
    } else {
        memcpy(f->token_buf, s, n);
        f->token_buf[n] = '\0';
        f->join_token = f->token_buf;
    }
    explicit_bzero(text, strlen(text));
    free(text);
    return rc;
}

static int finish(struct cp_node_flags *f, char *err, size_t errlen)
{
    if (f->join_token_file != NULL && read_token_file(f, err, errlen) != 0)
        return GW_EINVAL;
    if (f->redis != NULL && f->sentinels != NULL)
        return cm_err_set(err, errlen, GW_EINVAL,
                          "--redis and --sentinels exclude each other");
    if (f->data_dir == NULL)
        default_data_dir(f);
    if (f->data_dir[0] != '/' && absolute_data_dir(f) != 0)
        return cm_err_set(err, errlen, GW_EINVAL,
                          "--data-dir %s: cannot make it absolute",
                          f->data_dir);
    if (f->wait_replicas < 0)
        f->wait_replicas = f->sentinels != NULL ? 1 : 0;
    if (f->insecure && f->xds_plaintext_addr != NULL)
        return cm_err_set(err, errlen, GW_EINVAL,
                          "--xds-plaintext-addr: only without --insecure "
                          "(everything is plain text then)");
    if (f->cluster_key_file == NULL) {
        int n = snprintf(f->key_buf, sizeof(f->key_buf), "%s/cluster.key",
                         f->data_dir);
        if (n < 0 || (size_t)n >= sizeof(f->key_buf))
            return cm_err_set(err, errlen, GW_EINVAL, "--data-dir %s: too long",
                              f->data_dir);
        f->cluster_key_file = f->key_buf;
    }
    return 0;
}

int cp_node_parse_flags(int argc, char **argv, struct cp_node_flags *f,
                        char *err, size_t errlen)
{
    char name[64];
    const char *arg, *eq, *val;
    int rc;

    defaults(f);
    f->insecure = env_insecure();
    for (int i = 1; i < argc; i++) {
        arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            f->help = 1;
            continue;
        }
        if (strcmp(arg, "--version") == 0) {
            f->version = 1;
            continue;
        }
        if (strcmp(arg, "--insecure") == 0) {
            f->insecure = 1;
            continue;
        }
        if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0')
            return cm_err_set(err, errlen, GW_EINVAL,
                              "unexpected argument \"%s\" (see --help)", arg);
        eq = strchr(arg, '=');
        snprintf(name, sizeof(name), "%.*s",
                 (int)(eq != NULL ? eq - arg - 2 : (long)strlen(arg + 2)),
                 arg + 2);
        if (eq != NULL) {
            val = eq + 1;
        } else if (i + 1 < argc) {
            val = argv[++i];
        } else {
            return cm_err_set(err, errlen, GW_EINVAL,
                              "--%s needs a value (see --help)", name);
        }
        rc = set_flag(f, name, val, err, errlen);
        if (rc != 0)
            return rc;
    }
    return finish(f, err, errlen);
}
