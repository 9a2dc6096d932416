/*
 * admin.c -- the dashboard's admin password as a control node sees it: the
 * hash string in the store, re-read every heartbeat tick (so a reset made
 * through any node reaches every node within a second); the first leader
 * that finds none creates the password, stores only its scrypt hash
 * (fenced, kept if another leader was faster), prints the password once on
 * stdout and writes it to <data-dir>/admin-password (0600); when the hash
 * changes, that file is removed if its password no longer matches. Hashing
 * and verifying run on the loop's thread pool. Loop thread otherwise.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log/log.h"
#include "controlplane/auth/auth.h"
#include "controlplane/node/node_int.h"

/* A thread-pool job: hash a new password, or check the password file. */
struct admin_work {
    uv_work_t work;
    struct cp_node *node;
    char password[CP_AUTH_PASSWORD_LEN + 64];
    char hash[CP_AUTH_HASH_MAX];
    int rc;
};

static void work_free(struct admin_work *w)
{
    explicit_bzero(w->password, sizeof(w->password));
    free(w);
}

const char *cp_node__admin_hash(const struct cp_node *n)
{
    return n->admin_hash[0] != '\0' ? n->admin_hash : NULL;
}

/* ==== the password file ==== */

static int file_path(const struct cp_node *n, char *out, size_t len)
{
    int w =
        snprintf(out, len, "%s/%s", n->flags->data_dir, CP_NODE__PASSWORD_FILE);
    return w > 0 && (size_t)w < len ? 0 : GW_ETOOBIG;
}

/* mkdir -p <dir> with mode 0700 for what it creates. */
static int make_dirs(const char *dir)
{
    char path[CP_NODE_PATH_LEN];
    size_t len = (size_t)snprintf(path, sizeof(path), "%s", dir);

    if (len >= sizeof(path))
        return GW_ETOOBIG;
    for (size_t i = 1; i <= len; i++) {
        if (path[i] != '/' && path[i] != '\0')
            continue;
        path[i] = '\0';
        if (mkdir(path, 0700) == -1 && errno != EEXIST)
            return GW_EIO;
        path[i] = i < len ? '/' : '\0';
    }
    return 0;
}

/* Writes "<password>\n" to the file, mode 0600, replacing it atomically. */
static int write_file(const struct cp_node *n, const char *password)
{
    char path[CP_NODE_PATH_LEN + 32], tmp[CP_NODE_PATH_LEN + 40];
    size_t len = strlen(password);
    int fd, ok;

    if (file_path(n, path, sizeof(path)) != 0 ||
        make_dirs(n->flags->data_dir) != 0)
        return GW_EIO;
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    (void)unlink(tmp);
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd == -1)
        return GW_EIO;
    ok = write(fd, password, len) == (ssize_t)len && write(fd, "\n", 1) == 1 &&
         fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    if (!ok || rename(tmp, path) == -1) {
        (void)unlink(tmp);
        return GW_EIO;
    }
    return 0;
}

/* Reads the file's first line into <out>; 0, or GW_ENOENT / GW_EIO. */
static int read_file(const char *path, char *out, size_t len)
{
    FILE *f = fopen(path, "re");
    char *nl;

    if (f == NULL)
        return errno == ENOENT ? GW_ENOENT : GW_EIO;
    if (fgets(out, (int)len, f) == NULL) {
        fclose(f);
        return GW_EIO;
    }
    fclose(f);
    if ((nl = strchr(out, '\n')) != NULL)
        *nl = '\0';
    return 0;
}

/* ==== checking the file against a new hash (thread pool) ==== */

static void check_run(uv_work_t *req)
{
    struct admin_work *w = req->data;
    char path[CP_NODE_PATH_LEN + 32];

    w->rc = file_path(w->node, path, sizeof(path));
    if (w->rc == 0)
        w->rc = read_file(path, w->password, sizeof(w->password));
    if (w->rc == 0)
        w->rc = cp_auth_verify(w->password, w->hash);
}

static void check_file(struct cp_node *n);

static void check_done(uv_work_t *req, int status)
{
    struct admin_work *w = req->data;
    struct cp_node *n = w->node;
    char path[CP_NODE_PATH_LEN + 32];

    n->admin_checking = false;
    /* 0: the file holds a password the current hash does not accept */
    if (status == 0 && w->rc == 0 && strcmp(w->hash, n->admin_hash) == 0 &&
        file_path(n, path, sizeof(path)) == 0 && unlink(path) == 0)
        cm_log_info(CP_NODE__MOD, "admin_password_file_removed",
                    "file=%s why=\"the password was reset\"", path);
    if (status == 0 && !n->stopping && strcmp(w->hash, n->admin_hash) != 0)
        check_file(n); /* it changed again meanwhile */
    work_free(w);
}

/* The hash became <n->admin_hash>: drop a password file it outdated. */
static void check_file(struct cp_node *n)
{
    struct admin_work *w;

    if (n->admin_checking || access(n->flags->data_dir, F_OK) != 0)
        return;
    w = calloc(1, sizeof(*w));
    if (w == NULL)
        return;
    w->node = n;
    w->work.data = w;
    snprintf(w->hash, sizeof(w->hash), "%s", n->admin_hash);
    if (uv_queue_work(n->loop, &w->work, check_run, check_done) != 0) {
        work_free(w);
        return;
    }
    n->admin_checking = true;
}

/* ==== the current hash ==== */

static void set_hash(struct cp_node *n, const char *hash, bool check)
{
    bool first = n->admin_hash[0] == '\0';

    if (strcmp(hash, n->admin_hash) == 0)
        return;
    snprintf(n->admin_hash, sizeof(n->admin_hash), "%s", hash);
    cm_log_info(CP_NODE__MOD,
                first ? "admin_password_loaded" : "admin_password_changed",
                NULL);
    if (n->http != NULL) /* the event streams of old sessions end now */
        cp_http_poke(n->http);
    if (check)
        check_file(n);
}

void cp_node__admin_written(void *arg, const char *hash)
{
    set_hash(arg, hash, true);
}

/* ==== creating the first password (leader) ==== */

static void create_run(uv_work_t *req)
{
    struct admin_work *w = req->data;

    w->rc = cp_auth_hash(w->password, NULL, w->hash, sizeof(w->hash));
}

static void announce(struct cp_node *n, const char *password)
{
    char path[CP_NODE_PATH_LEN + 32];
    int rc = file_path(n, path, sizeof(path));

    if (rc == 0)
        rc = write_file(n, password);
    printf("admin password: %s (printed once; reset with traefikeectl "
           "reset-password)\n",
           password);
    fflush(stdout);
    if (rc == 0)
        cm_log_info(CP_NODE__MOD, "admin_password_created", "user=%s file=%s",
                    CP_AUTH_USER, path);
    else
        cm_log_warn(CP_NODE__MOD, "admin_password_created",
                    "user=%s file_error=\"cannot write %s\"", CP_AUTH_USER,
                    path);
}

static void on_created(struct cp_store *s, int status, void *arg)
{
    struct admin_work *w = arg;
    struct cp_node *n = w->node;

    n->admin_creating = false;
    if (status == 0 || status == CP_STORE_ENOREPLICA) {
        if (status != 0)
            cm_log_warn(CP_NODE__MOD, "admin_password_unconfirmed",
                        "err=\"%s\"", cp_store_strerror(status));
        set_hash(n, w->hash, false);
        announce(n, w->password);
    } else if (status != CP_STORE_EEXIST && status != UV_ECANCELED) {
        cm_log_warn(CP_NODE__MOD, "admin_password_create_failed", "err=\"%s\"",
                    cp_store_strerror(status));
    }
    work_free(w);
}

static void create_done(uv_work_t *req, int status)
{
    struct admin_work *w = req->data;
    struct cp_node *n = w->node;
    int rc = GW_ERR;

    if (status == 0 && w->rc == 0 && !n->stopping && n->store != NULL &&
        cp_store_is_leader(n->store))
        rc = cp_store_set_admin_hash(n->store, w->hash, 1, on_created, w);
    if (rc == 0)
        return;
    if (w->rc != 0)
        cm_log_error(CP_NODE__MOD, "admin_password_hash_failed", "err=\"%s\"",
                     cm_err_str(w->rc));
    n->admin_creating = false;
    work_free(w);
}

/* Makes a password and hashes it on the thread pool; the rest follows. */
static void create(struct cp_node *n)
{
    struct admin_work *w = calloc(1, sizeof(*w));

    if (w == NULL)
        return;
    w->node = n;
    w->work.data = w;
    if (cp_auth_generate_password(w->password, sizeof(w->password)) != 0 ||
        uv_queue_work(n->loop, &w->work, create_run, create_done) != 0) {
        cm_log_error(CP_NODE__MOD, "admin_password_create_failed",
                     "err=\"no randomness or no thread pool\"");
        work_free(w);
        return;
    }
    n->admin_creating = true;
}

/* ==== reading ==== */

static void on_read(struct cp_store *s, int status, const char *value,
                    size_t len, void *arg)
{
    struct cp_node *n = arg;

    n->admin_reading = false;
    if (n->stopping || status == UV_ECANCELED)
        return;
    if (status == 0 && len < sizeof(n->admin_hash)) {
        set_hash(n, value, true);
        return;
    }
    if (status != GW_ENOENT) {
        if (status == 0)
            cm_log_warn(CP_NODE__MOD, "admin_hash_too_long", "len=%zu", len);
        return;
    }
    /* none stored: nobody can log in; the leader makes the first one */
    n->admin_hash[0] = '\0';
    if (cp_store_is_leader(s) && !n->admin_creating)
        create(n);
}

void cp_node__admin_tick(struct cp_node *n)
{
    if (n->admin_reading || n->stopping)
        return;
    if (cp_store_get_admin_hash(n->store, on_read, n) == 0)
        n->admin_reading = true;
}
