/*
 * client.c -- see client.h. Failover: every control node is tried in the
 * given order; a node that is unreachable, times out or has no leader to
 * forward to is skipped. The error printed is the last answer from a
 * server, or "no control node reachable at LIST (reason)"; a refusal of
 * our credentials (UNAUTHENTICATED, PERMISSION_DENIED) is one line saying
 * so, without trying the others (they share the CA and the rules).
 */
#define _GNU_SOURCE /* strcasestr */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/pki/pki.h"
#include "controlplane/mgmt/mgmt.h"
#include "controlplane/rpc/rpc.h"
#include "tools/traefikeectl/bundle.h"
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
        if (strcmp(a, "--rotate") == 0 && strchr(allowed, 'r')) {
            o->rotate = 1;
            continue;
        }
        switch (tctl_cred_opt(argc, argv, &i, &o->cred)) {
        case 1:
            continue;
        case -1:
            return 2;
        }
        if (match(a, "--control", NULL, &val))
            key = 'c';
        else if (match(a, "--role", NULL, &val))
            key = 'l';
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
        *(key == 'c'   ? &o->control
          : key == 'o' ? &o->output
          : key == 'l' ? &o->role
                       : &o->file) = val;
    }
    return 0;
}

int tctl_cred_opt(int argc, char **argv, int *i, struct tctl_cred_opts *co)
{
    const char *a = argv[*i], *val = NULL;

    if (strcmp(a, "--insecure") == 0) {
        co->insecure = 1;
        return 1;
    }
    if (!match(a, "--bundle", NULL, &val))
        return 0;
    if (val == NULL && *i + 1 < argc)
        val = argv[++*i];
    if (val == NULL || *val == '\0') {
        fprintf(stderr, "traefikeectl %s: --bundle needs a file\n", argv[0]);
        return -1;
    }
    co->bundle = val;
    return 1;
}

int tctl_env_insecure(void)
{
    const char *e = getenv("TRAEFIKEE_INSECURE");

    return e != NULL && *e != '\0' && strcmp(e, "0") != 0;
}

int tctl_bundle_default(char *out, size_t len)
{
    const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
    int n;

    if (xdg != NULL && *xdg != '\0')
        n = snprintf(out, len, "%s/traefikee/bundle.pem", xdg);
    else if (home != NULL && *home != '\0')
        n = snprintf(out, len, "%s/.config/traefikee/bundle.pem", home);
    else
        return -1;
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

int tctl_cred_resolve(const struct tctl_cred_opts *co, char *path, size_t len)
{
    const char *env = getenv("TRAEFIKEE_BUNDLE");

    path[0] = '\0';
    if ((co != NULL && co->insecure) || tctl_env_insecure())
        return TCTL_CRED_INSECURE;
    if (co != NULL && co->bundle != NULL && co->bundle[0] != '\0')
        snprintf(path, len, "%s", co->bundle);
    else if (env != NULL && env[0] != '\0')
        snprintf(path, len, "%s", env);
    else if (tctl_bundle_default(path, len) != 0 || access(path, F_OK) != 0)
        return GW_ENOENT;
    return TCTL_CRED_BUNDLE;
}

/* <t> (unix seconds) as "YYYY-MM-DD HH:MM:SS UTC" into <out>. */
static const char *utc(int64_t t, char *out, size_t len)
{
    time_t tt = (time_t)t;
    struct tm tm;

    if (gmtime_r(&tt, &tm) == NULL ||
        strftime(out, len, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
        snprintf(out, len, "%lld", (long long)t);
    return out;
}

/* Reads and parses the bundle at <path> into <out>, its certificate's
 * dates into <info>. 0, or 1 after a line on stderr. */
static int read_bundle(const char *path, struct cm_pki_creds *out,
                       struct cm_pki_cert_info *info)
{
    char err[CM_ERR_LEN];
    char *text = NULL;
    int rc;

    if (cm_pki_file_read(path, &text, err, sizeof(err)) != 0) {
        fprintf(stderr, "traefikeectl: cannot read the bundle %s: %s\n", path,
                err);
        return 1;
    }
    rc = cm_pki_creds_parse(text, out, err, sizeof(err));
    explicit_bzero(text, strlen(text));
    free(text);
    if (rc == 0 &&
        (rc = cm_pki_cert_info(out->cert, info, err, sizeof(err))) != 0)
        cm_pki_creds_clear(out);
    if (rc != 0) {
        fprintf(stderr, "traefikeectl: %s is not a usable bundle: %s\n", path,
                err);
        return 1;
    }
    return 0;
}

/* An aging bundle of a local cluster: replaced by the freshest control
 * node's and read again (bundle.h). <dir> gets the cluster's directory
 * when local. 0, or 1 after a line on stderr. */
static int renew(const char *path, struct cm_pki_creds *out,
                 struct cm_pki_cert_info *info, char *dir, size_t len)
{
    char src[TCTL_PATH_MAX], err[CM_ERR_LEN], when[40];
    int64_t before = info->not_after;
    int rc;

    rc = tctl_bundle_refresh(path, out->ca, info->not_after, dir, src, len, err,
                             sizeof(err));
    if (rc < 0)
        fprintf(stderr, "traefikeectl: warning: cannot renew %s from %s: %s\n",
                path, src, err);
    if (rc != TCTL_REFRESH_DONE)
        return 0;
    cm_pki_creds_clear(out);
    if (read_bundle(path, out, info) != 0)
        return 1;
    if (before <= (int64_t)time(NULL))
        fprintf(stderr,
                "traefikeectl: the bundle %s had expired; renewed it from %s "
                "(valid until %s)\n",
                path, src, utc(info->not_after, when, sizeof(when)));
    return 0;
}

/* What to do about an expired or expiring bundle <path>: <dir> is the
 * local cluster's directory, or "". */
static void advise(const char *path, const char *dir, const char *what,
                   const char *when)
{
    if (dir[0] != '\0')
        fprintf(stderr,
                "traefikeectl: %sthe certificate in %s %s %s and no control "
                "node of the cluster in %s has a later one: start its control "
                "nodes (argv in %s/cluster.json; they write fresh ones) and "
                "run this again\n",
                strcmp(what, "expired at") == 0 ? "" : "warning: ", path, what,
                when, dir, dir);
    else
        fprintf(stderr,
                "traefikeectl: %sthe certificate in %s %s %s; copy a fresh "
                "DATA-DIR/traefikeectl.bundle from a control node over it\n",
                strcmp(what, "expired at") == 0 ? "" : "warning: ", path, what,
                when);
}

/* Reads and checks the bundle at <path> into <out>; renews a local
 * cluster's in its last third; warns in its last hour. 0, or 1 after a
 * line on stderr. */
static int load_bundle(const char *path, struct cm_pki_creds *out)
{
    struct cm_pki_cert_info info;
    char dir[TCTL_PATH_MAX] = "", when[40];
    int64_t now = (int64_t)time(NULL);

    if (read_bundle(path, out, &info) != 0)
        return 1;
    if (tctl_bundle_aging(info.not_before, info.not_after, now) &&
        renew(path, out, &info, dir, sizeof(dir)) != 0)
        return 1;
    utc(info.not_after, when, sizeof(when));
    if (info.not_after <= now) {
        advise(path, dir, "expired at", when);
        cm_pki_creds_clear(out);
        return 1;
    }
    if (info.not_after - now < TCTL_BUNDLE_WARN_S)
        advise(path, dir, "expires at", when);
    return 0;
}

/* Fills <c>'s credentials as <co> asks. 0, or 1 after a line on stderr. */
static int ctx_creds(struct tctl_ctx *c, const struct tctl_cred_opts *co)
{
    int kind = tctl_cred_resolve(co, c->bundle, sizeof(c->bundle));

    if (kind == GW_ENOENT) {
        c->bundle[0] = '\0';
        fprintf(stderr, "traefikeectl: %s\n", TCTL_NO_CREDS);
        return 1;
    }
    if (kind == TCTL_CRED_INSECURE)
        return 0;
    if (load_bundle(c->bundle, &c->pki) != 0)
        return 1;
    c->secure = 1;
    return 0;
}

const struct cm_pki_creds *tctl_ctx_creds(const struct tctl_ctx *c)
{
    return c->secure ? &c->pki : NULL;
}

static int ctx_addrs(struct tctl_ctx *c, const char *control)
{
    const char *env = getenv("TRAEFIKEE_CONTROL");
    char *save = NULL, *tok, buf[1024];

    if (control == NULL || *control == '\0')
        control = env != NULL && *env != '\0' ? env : "127.0.0.1:4242";
    snprintf(c->list, sizeof(c->list), "%s", control);
    snprintf(buf, sizeof(buf), "%s", control);
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

int tctl_ctx_init(struct tctl_ctx *c, const char *control,
                  const struct tctl_cred_opts *co)
{
    int rc;

    memset(c, 0, sizeof(*c));
    c->timeout_ms = 10000;
    if ((rc = ctx_addrs(c, control)) == 0 && (rc = ctx_creds(c, co)) == 0)
        return 0;
    tctl_ctx_deinit(c);
    return rc;
}

void tctl_ctx_deinit(struct tctl_ctx *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->addrs[i]);
    c->n = 0;
    cm_pki_creds_clear(&c->pki);
    c->secure = 0;
}

/* A short reason for a transport failure with <st>, <details>. */
static const char *reason(const struct tctl_ctx *c, grpc_status_code st,
                          const char *details)
{
    if (st == GRPC_STATUS_DEADLINE_EXCEEDED)
        return "timed out";
    if (strstr(details, "onnection refused") != NULL)
        return "connection refused";
    if (strstr(details, "DNS") != NULL)
        return "name not resolved";
    if (!c->secure && strstr(details, "Socket closed") != NULL)
        return "connection closed: a secure cluster? then drop --insecure";
    return details[0] != '\0' ? details : "unavailable";
}

/* Whether <details> tell of a failed TLS handshake. */
static int handshake_failed(const char *details)
{
    return strcasestr(details, "handshake") != NULL ||
           strcasestr(details, "ssl") != NULL;
}

void tctl_unreachable(const struct tctl_ctx *c, grpc_status_code st,
                      const char *details)
{
    if (c->secure && handshake_failed(details))
        fprintf(stderr,
                "traefikeectl: TLS handshake with %s failed: the certificate "
                "in %s is not of this cluster's CA (copy DATA-DIR/"
                "traefikeectl.bundle from one of its control nodes), or the "
                "nodes run --insecure\n",
                c->list, c->bundle);
    else
        fprintf(stderr, "traefikeectl: no control node reachable at %s (%s)\n",
                c->list, reason(c, st, details));
}

/* The id (CN) of <c>'s certificate into <out> ("?" if unreadable). */
static const char *cert_id(const struct tctl_ctx *c, char *out, size_t len)
{
    struct cm_pki_cert_info info;
    char err[CM_ERR_LEN];

    if (c->pki.cert != NULL &&
        cm_pki_cert_info(c->pki.cert, &info, err, sizeof(err)) == 0)
        snprintf(out, len, "%s", info.id);
    else
        snprintf(out, len, "?");
    return out;
}

int tctl_refused(const struct tctl_ctx *c, const char *addr,
                 grpc_status_code st, const char *details)
{
    char id[CM_PKI_ID_MAX];

    if (st != GRPC_STATUS_UNAUTHENTICATED &&
        st != GRPC_STATUS_PERMISSION_DENIED)
        return 0;
    if (st == GRPC_STATUS_PERMISSION_DENIED)
        fprintf(stderr,
                "traefikeectl: permission denied by %s (%s): the certificate "
                "in %s may not do this; use an admin bundle (a control "
                "node's DATA-DIR/traefikeectl.bundle)\n",
                addr, details, c->secure ? c->bundle : "(none)");
    else if (c->secure && strstr(details, "revoked") != NULL)
        fprintf(stderr,
                "traefikeectl: %s refused the certificate of %s in %s: it "
                "was revoked; use a bundle issued since (DATA-DIR/"
                "traefikeectl.bundle of another control node, or of its own "
                "after its next start or renewal)\n",
                addr, cert_id(c, id, sizeof(id)), c->bundle);
    else if (c->secure)
        fprintf(stderr,
                "traefikeectl: %s refused the certificate in %s (%s): "
                "revoked, expired, or of another cluster\n",
                addr, c->bundle, details);
    else
        fprintf(stderr,
                "traefikeectl: %s refused a plain-text call (%s): the "
                "cluster is secure; pass --bundle FILE or set "
                "TRAEFIKEE_BUNDLE\n",
                addr, details);
    return 1;
}

/* The outcome of one unary call on one node: 0 done (OK with *out, or an
 * answer printed: *rc set), 1 try the next node. */
static int call_one(const struct tctl_ctx *c, const char *addr,
                    const ProtobufCMessageDescriptor *d,
                    const struct cp_mgmt_reply *r, ProtobufCMessage **out,
                    int *rc)
{
    *rc = 1;
    if (r->status == GRPC_STATUS_OK) {
        *out = protobuf_c_message_unpack(d, NULL, r->len, r->data);
        if (*out == NULL)
            fprintf(stderr, "traefikeectl: malformed reply from %s\n", addr);
        *rc = *out == NULL;
        return 0;
    }
    if (tctl_refused(c, addr, r->status, r->details))
        return 0;
    if (r->status != GRPC_STATUS_UNAVAILABLE &&
        r->status != GRPC_STATUS_DEADLINE_EXCEEDED) {
        fprintf(stderr, "traefikeectl: %s%s%s\n",
                c->err_prefix != NULL ? c->err_prefix : "",
                c->err_prefix != NULL ? ": " : "", r->details);
        return 0;
    }
    return 1;
}

int tctl_call(const struct tctl_ctx *c, const char *method,
              const ProtobufCMessage *req, const ProtobufCMessageDescriptor *d,
              ProtobufCMessage **out)
{
    struct cp_mgmt_reply r = {0};
    char server_err[CP_MGMT_DETAILS_LEN] = "", why[CP_MGMT_DETAILS_LEN] = "";
    grpc_status_code last = GRPC_STATUS_UNAVAILABLE;
    uint8_t *buf;
    size_t len;
    int rc = 1, e = 0;

    *out = NULL;
    if (cp_rpc_pb_pack(req, &buf, &len) != 0) {
        fprintf(stderr, "traefikeectl: out of memory\n");
        return 1;
    }
    for (size_t i = 0; i < c->n; i++) {
        e = cp_mgmt_client_unary_creds(c->addrs[i], tctl_ctx_creds(c), method,
                                       buf, len, c->timeout_ms, &r);
        if (e == GW_EINVAL) {
            fprintf(stderr,
                    "traefikeectl: gRPC refused the credentials in "
                    "%s\n",
                    c->bundle);
            break;
        }
        if (e != 0)
            continue;
        if (call_one(c, c->addrs[i], d, &r, out, &rc) == 0) {
            cp_mgmt_reply_deinit(&r);
            free(buf);
            return rc;
        }
        if (cp_mgmt_from_server(r.details))
            snprintf(server_err, sizeof(server_err), "%s", r.details);
        else {
            last = r.status;
            snprintf(why, sizeof(why), "%s", r.details);
        }
        cp_mgmt_reply_deinit(&r);
    }
    free(buf);
    if (e == GW_EINVAL)
        return 1;
    if (server_err[0] != '\0')
        fprintf(stderr, "traefikeectl: %s\n", server_err);
    else
        tctl_unreachable(c, last, why);
    return 1;
}

/* How many arguments the global option at argv[i] spans (0: not one). */
static int global_span(int argc, char **argv, int i)
{
    const char *a = argv[i];

    if (strcmp(a, "--insecure") == 0)
        return 1;
    if (strncmp(a, "--control", 9) == 0 || strncmp(a, "--bundle", 8) == 0) {
        const char *rest = a + (a[2] == 'c' ? 9 : 8);
        if (*rest == '=')
            return 1;
        if (*rest == '\0')
            return i + 1 < argc ? 2 : 0;
    }
    return 0;
}

void tctl_hoist_global(int argc, char **argv)
{
    int k = 1, n;
    char *cmd;

    while (k < argc && (n = global_span(argc, argv, k)) > 0)
        k += n;
    if (k == 1 || k >= argc)
        return;
    /* [prog, G..., cmd, ...] -> [prog, cmd, G..., ...] */
    cmd = argv[k];
    memmove(argv + 2, argv + 1, (size_t)(k - 1) * sizeof(*argv));
    argv[1] = cmd;
}
