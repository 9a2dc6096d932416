/*
 * security.c -- a control node's side of docs/security.md: the Redis
 * password, the start-up that finds or makes the cluster CA (or joins
 * through a live control node with --join-token) and unseals its key with
 * the cluster key, the node's own certificate and the admin bundle (files
 * in DATA-DIR), their renewal at two thirds of their life, and the hooks
 * that tie the member state to the management API and the xDS server.
 * Loop thread; the join runs on a libuv work thread. Unused with
 * --insecure.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "common/log/log.h"
#include "common/pki/pki_grpc.h"
#include "controlplane/member/member.h"
#include "controlplane/node/node_int.h"

#define BOOT_TICK_MS     100
#define BOOT_WAIT_LOG_MS 5000
#define JOIN_TIMEOUT_MS  10000
#define JOIN_LIST_TRIES  30 /* listings without a live control node */
#define RENEW_MIN_MS     1000
#define SKEW_S           60 /* pki.h: notBefore is issue time - 60 */

enum boot_state {
    BOOT_CONNECT = 0, /* waiting for the store */
    BOOT_GET_CA,      /* HMGET ca in flight */
    BOOT_CREATE_CA,   /* the create script in flight */
    BOOT_LIST,        /* listing heartbeats for control nodes to join by */
    BOOT_JOIN,        /* cm_pki_join on a work thread */
    BOOT_DONE,
    BOOT_FAILED,
};

struct cp_node__boot {
    struct cp_node *n;
    enum boot_state state;
    uv_timer_t timer;
    uint64_t waiting_since; /* loop ms; for the periodic "waiting" log */
    int list_tries;
    char err[CM_ERR_LEN];
    /* the join job */
    uv_work_t work;
    char *addrs;
    struct cm_pki_creds joined;
    char *joined_key, *joined_redis;
    int join_rc;
    char join_err[CM_ERR_LEN];
};

static int64_t now_s(void)
{
    return (int64_t)time(NULL);
}

/* ==== files ==== */

int cp_node__make_dir(const char *dir)
{
    char path[CP_NODE_PATH_LEN];

    if (snprintf(path, sizeof(path), "%s", dir) >= (int)sizeof(path))
        return GW_ETOOBIG;
    for (char *p = path + 1; *p != '\0'; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(path, 0700) == -1 && errno != EEXIST)
            return GW_EIO;
        *p = '/';
    }
    if (mkdir(path, 0700) == -1 && errno != EEXIST)
        return GW_EIO;
    return GW_OK;
}

/* The first line of a secret file or variable, without surrounding white
 * space: new in *out. */
static int read_secret(const char *path, char **out, char *err, size_t len)
{
    char *text = NULL;
    int rc = cm_pki_file_read(path, &text, err, len);

    if (rc != 0)
        return rc;
    char *s = text + strspn(text, " \t\r\n");
    s[strcspn(s, "\r\n")] = '\0';
    for (size_t k = strlen(s); k > 0 && (s[k - 1] == ' ' || s[k - 1] == '\t');
         k--)
        s[k - 1] = '\0';
    *out = strdup(s);
    memset(text, 0, strlen(text));
    free(text);
    return *out != NULL ? GW_OK : GW_ENOMEM;
}

int cp_node__redis_password(struct cp_node *n, char *err, size_t errlen)
{
    const struct cp_node_flags *f = n->flags;
    const char *env = getenv("TRAEFIKEE_REDIS_PASSWORD");
    char why[CM_ERR_LEN];

    if (f->redis_password_file != NULL) {
        if (read_secret(f->redis_password_file, &n->redis_password, why,
                        sizeof(why)) != 0)
            return cm_err_set(err, errlen, GW_EINVAL,
                              "--redis-password-file %s: %s",
                              f->redis_password_file, why);
    } else if (env != NULL && *env != '\0') {
        n->redis_password = strdup(env);
        if (n->redis_password == NULL)
            return cm_err_set(err, errlen, GW_ENOMEM, "out of memory");
    }
    return 0;
}

/* Reads the cluster key file into n->cluster_key: 1 found, 0 absent, or an
 * error (a file that is not a key). */
static int read_cluster_key(struct cp_node *n, char *err, size_t errlen)
{
    const char *path = n->flags->cluster_key_file;
    char *key = NULL, why[CM_ERR_LEN];
    struct stat st;

    if (stat(path, &st) == -1 && errno == ENOENT)
        return 0;
    if (read_secret(path, &key, why, sizeof(why)) != 0)
        return cm_err_set(err, errlen, GW_EINVAL, "--cluster-key-file %s: %s",
                          path, why);
    if (!cm_pki_cluster_key_valid(key) || strlen(key) != CM_PKI_KEY_HEX - 1) {
        free(key);
        return cm_err_set(err, errlen, GW_EINVAL,
                          "--cluster-key-file %s: not a cluster key (64 hex "
                          "digits)",
                          path);
    }
    memcpy(n->cluster_key, key, CM_PKI_KEY_HEX);
    memset(key, 0, strlen(key));
    free(key);
    return 1;
}

static int write_cluster_key(struct cp_node *n, char *err, size_t errlen)
{
    char text[CM_PKI_KEY_HEX + 1], why[CM_ERR_LEN];

    snprintf(text, sizeof(text), "%s\n", n->cluster_key);
    if (cm_pki_file_write(n->flags->cluster_key_file, text, why, sizeof(why)) !=
        0)
        return cm_err_set(err, errlen, GW_EIO, "--cluster-key-file %s: %s",
                          n->flags->cluster_key_file, why);
    memset(text, 0, sizeof(text));
    return 0;
}

/* ==== own certificate ==== */

/* Adds the IP literal of <addr> ("H:P") to <ips> if it is one. */
static void add_ip(const char *addr, char bufs[][CP_STORE_HOST_LEN],
                   const char **ips, size_t *n)
{
    struct cp_store_addr a;
    unsigned char bin[16];

    if (cp_store_parse_addr(addr, &a) != 0 || a.kind != CP_STORE_ADDR_TCP)
        return;
    if (inet_pton(AF_INET, a.host, bin) != 1 &&
        inet_pton(AF_INET6, a.host, bin) != 1)
        return;
    for (size_t i = 0; i < *n; i++)
        if (strcmp(ips[i], a.host) == 0)
            return;
    snprintf(bufs[*n], CP_STORE_HOST_LEN, "%s", a.host);
    ips[*n] = bufs[*n];
    (*n)++;
}

/* Issues this node's certificate (SANs per docs/security.md) and the
 * admin bundle's, and writes DATA-DIR/{ca.crt,node.crt,node.key,
 * traefikeectl.bundle}. On success n->creds holds the new ones. */
static int issue_own(struct cp_node *n, char *err, size_t errlen)
{
    const struct cp_node_flags *f = n->flags;
    const char *dns[] = {CM_PKI_CONTROL_NAME, "localhost", f->node_id};
    char bufs[3][CP_STORE_HOST_LEN], admin_id[CM_PKI_ID_MAX], path[1100];
    const char *ips[3] = {"127.0.0.1"};
    size_t n_ips = 1;
    struct cm_pki_creds own, admin;
    char *bundle = NULL, why[CM_ERR_LEN];
    int rc;

    add_ip(f->grpc_addr, bufs, ips, &n_ips);
    add_ip(f->http_addr, bufs, ips, &n_ips);
    rc = cp_member_issue_creds(n->member, CM_PKI_ROLE_CONTROL, f->node_id, dns,
                               3, ips, n_ips, &own, why, sizeof(why));
    if (rc != 0)
        return cm_err_set(err, errlen, rc, "cannot issue our certificate: %s",
                          why);
    snprintf(admin_id, sizeof(admin_id), "admin@%s", f->node_id);
    rc = cp_member_issue_creds(n->member, CM_PKI_ROLE_ADMIN, admin_id, NULL, 0,
                               NULL, 0, &admin, why, sizeof(why));
    if (rc == 0)
        rc = cm_pki_creds_format(&admin, &bundle);
    if (rc == 0 && (rc = cp_node__make_dir(f->data_dir)) != 0)
        snprintf(why, sizeof(why), "cannot create the directory");
    if (rc == 0)
        rc = cm_pki_creds_save_dir(f->data_dir, &own, why, sizeof(why));
    snprintf(path, sizeof(path), "%s/traefikeectl.bundle", f->data_dir);
    if (rc == 0)
        rc = cm_pki_file_write(path, bundle, why, sizeof(why));
    if (bundle != NULL) {
        memset(bundle, 0, strlen(bundle));
        free(bundle);
    }
    cm_pki_creds_clear(&admin);
    if (rc != 0) {
        cm_pki_creds_clear(&own);
        return cm_err_set(err, errlen, rc, "--data-dir %s: %s", f->data_dir,
                          why);
    }
    cm_pki_creds_clear(&n->creds);
    n->creds = own;
    return 0;
}

char *cp_node__cert_chain(const struct cp_node *n)
{
    size_t a = strlen(n->creds.cert), b = strlen(n->creds.ca);
    char *s = malloc(a + b + 2);

    if (s == NULL)
        return NULL;
    memcpy(s, n->creds.cert, a);
    s[a] = '\n';
    memcpy(s + a + 1, n->creds.ca, b + 1);
    return s;
}

/* ==== the CA: unseal, or make ==== */

/* Takes the CA record <ca> with n->cluster_key: the member gets the CA and
 * its key. */
static int adopt_ca(struct cp_node *n, const struct cp_store_ca *ca, char *err,
                    size_t errlen)
{
    char *key = NULL, why[CM_ERR_LEN];
    size_t len = 0;
    int rc;

    if (cm_pki_open(n->cluster_key, ca->key, &key, &len, why, sizeof(why)) != 0)
        return cm_err_set(err, errlen, GW_EINVAL,
                          "--cluster-key-file %s: cannot unseal the cluster "
                          "CA's key in Redis (%s)",
                          n->flags->cluster_key_file, why);
    rc = cp_member_set_ca(n->member, ca->cert, key);
    memset(key, 0, len);
    free(key);
    if (rc == 0)
        rc = cm_pki_fingerprint(ca->cert, n->ca_fp, why, sizeof(why));
    if (rc != 0)
        return cm_err_set(err, errlen, GW_EINVAL,
                          "the cluster CA in Redis is not usable");
    return 0;
}

static void boot_fail(struct cp_node__boot *b, const char *why)
{
    if (b->state == BOOT_FAILED)
        return;
    snprintf(b->err, sizeof(b->err), "%s", why);
    b->state = BOOT_FAILED;
}

static void boot_adopt(struct cp_node__boot *b, const struct cp_store_ca *ca)
{
    if (adopt_ca(b->n, ca, b->err, sizeof(b->err)) != 0)
        b->state = BOOT_FAILED;
    else
        b->state = BOOT_DONE;
}

static void on_ca_created(struct cp_store *s, int status,
                          const struct cp_store_ca *ca, int created, void *arg)
{
    struct cp_node__boot *b = arg;

    if (b->state != BOOT_CREATE_CA)
        return;
    if (status != 0) {
        cm_log_warn(CP_NODE__MOD, "ca_create_retry", "err=\"%s\"",
                    cp_store_strerror(status));
        b->state = BOOT_CONNECT; /* read again next tick */
        return;
    }
    cm_log_info(CP_NODE__MOD, created ? "ca_created" : "ca_found",
                "key_file=%s", b->n->flags->cluster_key_file);
    boot_adopt(b, ca);
}

/* No CA in Redis: make the cluster key if there is none, then the CA. */
static void create_ca(struct cp_node__boot *b)
{
    struct cp_node *n = b->n;
    struct cp_store_ca ca = {.created = now_s()};
    char *cert = NULL, *key = NULL, *sealed = NULL, why[CM_ERR_LEN];
    int have = read_cluster_key(n, b->err, sizeof(b->err));

    if (have < 0) {
        b->state = BOOT_FAILED;
        return;
    }
    if (have == 0) {
        if (cm_pki_cluster_key_new(n->cluster_key) != 0 ||
            write_cluster_key(n, b->err, sizeof(b->err)) != 0) {
            boot_fail(b, b->err[0] ? b->err : "cannot make a cluster key");
            return;
        }
        cm_log_info(CP_NODE__MOD, "cluster_key_created", "file=%s",
                    n->flags->cluster_key_file);
    }
    if (cm_pki_ca_new(n->flags->node_id, &cert, &key, why, sizeof(why)) != 0 ||
        cm_pki_seal(n->cluster_key, key, strlen(key), &sealed, why,
                    sizeof(why)) != 0) {
        snprintf(b->err, sizeof(b->err), "cannot make the cluster CA: %s", why);
        b->state = BOOT_FAILED;
    } else {
        ca.cert = cert;
        ca.key = sealed;
        if (cp_store_create_ca(n->store, &ca, on_ca_created, b) == 0)
            b->state = BOOT_CREATE_CA;
        else
            b->state = BOOT_CONNECT;
    }
    free(cert);
    if (key != NULL)
        memset(key, 0, strlen(key));
    free(key);
    free(sealed);
}

/* ==== joining ==== */

static void join_work(uv_work_t *w)
{
    struct cp_node__boot *b = w->data;

    b->join_rc =
        cm_pki_join(b->addrs, b->n->flags->join_token, b->n->flags->node_id,
                    JOIN_TIMEOUT_MS, &b->joined, &b->joined_key,
                    &b->joined_redis, b->join_err, sizeof(b->join_err));
}

/* The CA record read before joining, kept to adopt once the key came. */
static void join_after(uv_work_t *w, int status)
{
    struct cp_node__boot *b = w->data;
    struct cp_node *n = b->n;
    char fp[CM_PKI_FP_HEX], why[CM_ERR_LEN];

    if (status != 0 || b->join_rc != 0) {
        snprintf(why, sizeof(why), "--join-token: cannot join through %s: %s",
                 b->addrs, status != 0 ? "cancelled" : b->join_err);
        boot_fail(b, why);
        return;
    }
    if (b->joined_key == NULL || !cm_pki_cluster_key_valid(b->joined_key) ||
        strlen(b->joined_key) != CM_PKI_KEY_HEX - 1) {
        boot_fail(b, "--join-token: the control node sent no cluster key "
                     "(a data token?)");
        return;
    }
    if (cm_pki_fingerprint(b->joined.ca, fp, why, sizeof(why)) != 0 ||
        (n->ca_fp[0] != '\0' && strcmp(fp, n->ca_fp) != 0)) {
        boot_fail(b, "--join-token: the cluster's CA is not the one in Redis");
        return;
    }
    memcpy(n->cluster_key, b->joined_key, CM_PKI_KEY_HEX);
    if (write_cluster_key(n, b->err, sizeof(b->err)) != 0) {
        b->state = BOOT_FAILED;
        return;
    }
    if (b->joined_redis != NULL && *b->joined_redis != '\0' &&
        n->redis_password == NULL)
        cm_log_warn(CP_NODE__MOD, "join_redis_password",
                    "the cluster's Redis has a password: give it with "
                    "--redis-password-file next time");
    cm_log_info(CP_NODE__MOD, "joined", "through=%s key_file=%s", b->addrs,
                n->flags->cluster_key_file);
    b->state = BOOT_CONNECT; /* read the CA again and unseal it */
}

/* Appends the "grpc" address of each live control node but us. */
static void on_nodes(struct cp_store *s, int status,
                     const struct cp_store_node *nodes, size_t count, void *arg)
{
    struct cp_node__boot *b = arg;
    size_t cap = 1, len = 0;
    char *addrs;

    if (b->state != BOOT_LIST)
        return;
    for (size_t i = 0; i < count; i++)
        cap += strlen(nodes[i].info) + 1;
    addrs = calloc(1, cap);
    for (size_t i = 0; status == 0 && addrs != NULL && i < count; i++) {
        json_t *info = json_loads(nodes[i].info, 0, NULL);
        const char *g = json_string_value(json_object_get(info, "grpc"));
        if (strcmp(nodes[i].role, CP_MGMT_ROLE_CONTROL) == 0 && g != NULL &&
            strcmp(nodes[i].id, b->n->flags->node_id) != 0)
            len += (size_t)snprintf(addrs + len, cap - len, "%s%s",
                                    len > 0 ? "," : "", g);
        json_decref(info);
    }
    if (addrs == NULL || len == 0) {
        free(addrs);
        if (++b->list_tries >= JOIN_LIST_TRIES)
            boot_fail(b, "--join-token: no live control node to join "
                         "through (none in the heartbeats in Redis)");
        else
            b->state = BOOT_CONNECT;
        return;
    }
    b->addrs = addrs;
    b->work.data = b;
    b->state = BOOT_JOIN;
    if (uv_queue_work(b->n->loop, &b->work, join_work, join_after) != 0)
        boot_fail(b, "cannot start the join");
}

/* ==== start-up ==== */

static void on_ca(struct cp_store *s, int status, const struct cp_store_ca *ca,
                  int created, void *arg)
{
    struct cp_node__boot *b = arg;
    struct cp_node *n = b->n;
    int have;

    if (b->state != BOOT_GET_CA)
        return;
    if (status == GW_ENOENT) {
        if (n->flags->join_token != NULL)
            cm_log_warn(CP_NODE__MOD, "join_token_unused",
                        "no cluster CA in Redis: this node creates one");
        create_ca(b);
        return;
    }
    if (status != 0) {
        b->state = BOOT_CONNECT;
        return;
    }
    have = n->cluster_key[0] != '\0'
               ? 1
               : read_cluster_key(n, b->err, sizeof(b->err));
    if (have < 0) {
        b->state = BOOT_FAILED;
    } else if (have == 1) {
        boot_adopt(b, ca);
    } else if (n->flags->join_token == NULL) {
        snprintf(b->err, sizeof(b->err),
                 "the cluster CA exists in Redis but there is no cluster key "
                 "at %s: copy it there (--cluster-key-file) or join with "
                 "--join-token",
                 n->flags->cluster_key_file);
        b->state = BOOT_FAILED;
    } else {
        char why[CM_ERR_LEN];
        if (cm_pki_fingerprint(ca->cert, n->ca_fp, why, sizeof(why)) != 0)
            n->ca_fp[0] = '\0';
        b->state = BOOT_LIST;
        if (cp_store_list_nodes(n->store, on_nodes, b) != 0)
            b->state = BOOT_CONNECT;
    }
}

static void boot_tick(uv_timer_t *t)
{
    struct cp_node__boot *b = t->data;
    struct cp_node *n = b->n;
    uint64_t now = uv_now(n->loop);

    if (b->state == BOOT_DONE || b->state == BOOT_FAILED) {
        uv_timer_stop(t);
        return;
    }
    if (b->state != BOOT_CONNECT)
        return;
    if (!cp_store_connected(n->store)) {
        if (now - b->waiting_since >= BOOT_WAIT_LOG_MS) {
            const char *why = cp_store_last_error(n->store);
            cm_log_warn(CP_NODE__MOD, "waiting_for_store", "err=\"%s\"",
                        why != NULL && *why ? why : "not connected yet");
            b->waiting_since = now;
        }
        return;
    }
    b->state = BOOT_GET_CA;
    if (cp_store_get_ca(n->store, on_ca, b) != 0)
        b->state = BOOT_CONNECT;
}

static void boot_closed(uv_handle_t *h)
{
    struct cp_node__boot *b = h->data;

    cm_pki_creds_clear(&b->joined);
    free(b->addrs);
    if (b->joined_key != NULL)
        memset(b->joined_key, 0, strlen(b->joined_key));
    free(b->joined_key);
    free(b->joined_redis);
    free(b);
}

int cp_node__secure_boot(struct cp_node *n, char *err, size_t errlen)
{
    struct cp_node__boot *b = calloc(1, sizeof(*b));
    int rc;

    n->member = cp_member_new();
    if (b == NULL || n->member == NULL) {
        free(b);
        return cm_err_set(err, errlen, GW_ENOMEM, "out of memory");
    }
    cp_member_set_ttl(n->member, n->flags->cert_ttl_s);
    if (cp_node__make_dir(n->flags->data_dir) != 0) {
        free(b);
        return cm_err_set(err, errlen, GW_EIO,
                          "--data-dir %s: cannot create it",
                          n->flags->data_dir);
    }
    b->n = n;
    b->waiting_since = uv_now(n->loop);
    uv_timer_init(n->loop, &b->timer);
    b->timer.data = b;
    n->boot = b;
    uv_timer_start(&b->timer, boot_tick, 0, BOOT_TICK_MS);
    if (cp_store_start(n->store) != 0) {
        boot_fail(b, "cannot start the store");
    } else {
        n->store_started = true;
        /* a join on the work pool keeps the loop alive until it ends */
        while (b->state != BOOT_DONE && b->state != BOOT_FAILED)
            uv_run(n->loop, UV_RUN_ONCE);
    }
    rc = b->state == BOOT_DONE ? 0 : GW_ERR;
    if (rc != 0)
        cm_err_set(err, errlen, GW_ERR, "%s", b->err);
    else if (cp_member_set_secrets(n->member, n->cluster_key,
                                   n->redis_password) != 0 ||
             issue_own(n, err, errlen) != 0)
        rc = GW_ERR;
    n->boot = NULL;
    uv_close((uv_handle_t *)&b->timer, boot_closed);
    if (rc == 0)
        cm_log_info(CP_NODE__MOD, "secure", "ca=%s data_dir=%s ttl_s=%u",
                    n->ca_fp, n->flags->data_dir, n->flags->cert_ttl_s);
    return rc;
}

bool cp_node__booting(const struct cp_node *n)
{
    return n->boot != NULL;
}

/* ==== renewal ==== */

/* When to renew a certificate of <not_before>..<not_after>: two thirds
 * into the time since it was issued (notBefore is a minute early). */
static uint64_t renew_in_ms(int64_t not_before, int64_t not_after)
{
    int64_t issued = not_before + SKEW_S, at;

    if (not_after - issued <= 0)
        issued = not_before;
    at = issued + (not_after - issued) * 2 / 3;
    int64_t ms = (at - now_s()) * 1000;
    return ms < RENEW_MIN_MS ? RENEW_MIN_MS : (uint64_t)ms;
}

static void schedule_renewal(struct cp_node *n)
{
    struct cm_pki_cert_info info;
    char why[CM_ERR_LEN];

    if (cm_pki_cert_info(n->creds.cert, &info, why, sizeof(why)) != 0)
        return;
    uint64_t ms = renew_in_ms(info.not_before, info.not_after);
    uv_timer_start(&n->renew_timer, cp_node__renew_now, ms, 0);
    cm_log_debug(CP_NODE__MOD, "renewal_scheduled", "in_ms=%llu",
                 (unsigned long long)ms);
}

/* Gives the current certificate to the gRPC and HTTP servers. */
static int hand_out(struct cp_node *n, char *err, size_t errlen)
{
    char *chain = cp_node__cert_chain(n);
    int rc;

    if (chain == NULL)
        return cm_err_set(err, errlen, GW_ENOMEM, "out of memory");
    rc = cp_rpc_server_set_tls(n->rpc, chain, n->creds.key, n->creds.ca);
    if (rc != 0)
        cm_err_set(err, errlen, rc, "cannot set the gRPC certificate");
    if (rc == 0 && n->http != NULL)
        rc = cp_http_set_tls(n->http, chain, n->creds.key, err, errlen);
    free(chain);
    return rc;
}

void cp_node__renew_now(uv_timer_t *t)
{
    struct cp_node *n = t->data;
    char err[CM_ERR_LEN];

    if (n->stopping)
        return;
    if (issue_own(n, err, sizeof(err)) != 0 ||
        hand_out(n, err, sizeof(err)) != 0) {
        cm_log_error(CP_NODE__MOD, "renewal_failed", "err=\"%s\"", err);
        uv_timer_start(&n->renew_timer, cp_node__renew_now, 10000, 0);
        return;
    }
    cm_log_info(CP_NODE__MOD, "certificate_renewed", "node=%s",
                n->flags->node_id);
    schedule_renewal(n);
}

int cp_node__secure_serve(struct cp_node *n, char *err, size_t errlen)
{
    if (hand_out(n, err, errlen) != 0)
        return GW_ERR;
    uv_timer_init(n->loop, &n->renew_timer);
    n->renew_timer.data = n;
    n->renew_timer_init = true;
    schedule_renewal(n);
    return 0;
}

void cp_node__secure_close(struct cp_node *n)
{
    if (n->renew_timer_init && !uv_is_closing((uv_handle_t *)&n->renew_timer))
        uv_close((uv_handle_t *)&n->renew_timer, NULL);
}

void cp_node__secure_free(struct cp_node *n)
{
    cp_member_free(n->member);
    n->member = NULL;
    cm_pki_creds_clear(&n->creds);
    memset(n->cluster_key, 0, sizeof(n->cluster_key));
    if (n->redis_password != NULL)
        memset(n->redis_password, 0, strlen(n->redis_password));
    free(n->redis_password);
    n->redis_password = NULL;
}

/* ==== hooks ==== */

static const char *get_ca_fp(void *arg)
{
    struct cp_node *n = arg;
    return n->ca_fp[0] != '\0' ? n->ca_fp : NULL;
}

static const char *get_cluster_key(void *arg)
{
    struct cp_node *n = arg;
    return n->cluster_key[0] != '\0' ? n->cluster_key : NULL;
}

static const struct cm_pki_creds *get_creds(void *arg)
{
    struct cp_node *n = arg;
    return n->creds.cert != NULL ? &n->creds : NULL;
}

static void mgmt_revoked(void *arg, enum cm_pki_role role, const char *id,
                         int64_t at)
{
    struct cp_node *n = arg;
    if (cp_member_revoke(n->member, role, id, at) != 0)
        cm_log_warn(CP_NODE__MOD, "revoke_failed", "node=%s", id);
}

static void mgmt_tokens(void *arg, const char *control_hash,
                        const char *data_hash)
{
    struct cp_node *n = arg;
    if (cp_member_set_tokens(n->member, control_hash, data_hash) != 0)
        cm_log_warn(CP_NODE__MOD, "tokens_failed", "bad hashes");
}

/* The member learned a revocation: end that node's xDS streams. */
static void member_revoked(void *arg, enum cm_pki_role role, const char *id,
                           int64_t at)
{
    struct cp_node *n = arg;

    cm_log_info(CP_NODE__MOD, "revoked", "role=%s node=%s at=%lld",
                cm_pki_role_name(role), id, (long long)at);
    if (n->xds != NULL)
        (void)cp_xds_server_revoke(n->xds, role, id, at);
}

void cp_node__secure_mgmt(struct cp_node *n, struct cp_mgmt_config *mc)
{
    mc->ca_fp = get_ca_fp;
    mc->cluster_key = get_cluster_key;
    mc->creds = get_creds;
    mc->on_revoked = mgmt_revoked;
    mc->on_tokens = mgmt_tokens;
    mc->security_arg = n;
    cp_member_set_revoked_cb(n->member, member_revoked, n);
}
