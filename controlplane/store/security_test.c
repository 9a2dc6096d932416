/*
 * security_test.c -- the store's security records and Redis AUTH against a
 * real redis-server: the embedded one, started with a generated password
 * in a private temp dir. Checks that a store without the password or with a
 * wrong one does not connect and says why, that two nodes creating the CA
 * at once agree on one, that tokens and revocations are leader writes and
 * read back, and that the embedded password is kept across restarts. Needs
 * redis-server on PATH.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/err/err.h"
#include "common/log/log.h"
#include "controlplane/store/store.h"

struct env {
    uv_loop_t loop;
    char dir[64];
    struct cp_store_embedded *redis;
};

static struct env *env; /* for the helpers; set by the group setup */

/* ==== loop helpers ==== */

static void on_tick(uv_timer_t *t)
{
}

/* Runs the loop until *flag is set or <ms> pass. */
static int run_until(const int *flag, unsigned ms)
{
    uv_timer_t tick;
    uint64_t end;

    uv_timer_init(&env->loop, &tick);
    uv_timer_start(&tick, on_tick, 5, 5);
    uv_update_time(&env->loop);
    end = uv_now(&env->loop) + ms;
    while ((flag == NULL || !*flag) && uv_now(&env->loop) < end)
        uv_run(&env->loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&tick, NULL);
    uv_run(&env->loop, UV_RUN_NOWAIT);
    return flag != NULL && *flag;
}

struct node {
    struct cp_store *s;
    int connected, leader;
};

static void on_state(struct cp_store *s, int connected, const char *m, void *a)
{
    ((struct node *)a)->connected = connected;
}

static void on_leader(struct cp_store *s, int is_leader, uint64_t epoch,
                      const char *id, void *a)
{
    ((struct node *)a)->leader = is_leader;
}

static void node_open(struct node *n, const char *id, const char *prefix,
                      const char *password)
{
    struct cp_store_config cfg = {0};
    struct cp_store_callbacks cbs = {on_state, on_leader, NULL, n};
    char err[CM_ERR_LEN];

    memset(n, 0, sizeof(*n));
    cfg.redis = cp_store_embedded_addr(env->redis);
    cfg.node_id = id;
    cfg.prefix = prefix;
    cfg.password = password;
    cfg.wait_replicas = -1;
    cfg.lease_ms = 600;
    n->s = cp_store_new(&env->loop, &cfg, &cbs, err, sizeof(err));
    assert_non_null(n->s);
    assert_int_equal(cp_store_start(n->s), 0);
}

static void node_up(struct node *n, const char *id, const char *prefix)
{
    node_open(n, id, prefix, cp_store_embedded_password(env->redis));
    assert_true(run_until(&n->connected, 3000));
}

static void node_leader(struct node *n, const char *id, const char *prefix)
{
    node_up(n, id, prefix);
    assert_int_equal(cp_store_election_start(n->s), 0);
    assert_true(run_until(&n->leader, 3000));
}

static void node_close(struct node *n)
{
    cp_store_close(n->s);
    run_until(NULL, 30);
}

/* ==== results ==== */

struct res {
    int done, status, created;
    char cert[64], key[64];
    int64_t at;
    struct cp_store_tokens t;
    char control[80], data[80], csealed[80], dsealed[80];
    int has_csealed, has_dsealed;
    size_t n;
    char keys[4][64];
    int64_t ats[4];
};

static void on_done(struct cp_store *s, int status, void *arg)
{
    struct res *r = arg;

    r->status = status;
    r->done = 1;
}

static void on_ca(struct cp_store *s, int status, const struct cp_store_ca *ca,
                  int created, void *arg)
{
    struct res *r = arg;

    r->status = status;
    r->created = created;
    if (status == 0) {
        snprintf(r->cert, sizeof(r->cert), "%s", ca->cert);
        snprintf(r->key, sizeof(r->key), "%s", ca->key);
        r->at = ca->created;
    }
    r->done = 1;
}

static void on_tokens(struct cp_store *s, int status,
                      const struct cp_store_tokens *t, void *arg)
{
    struct res *r = arg;

    r->status = status;
    if (status == 0) {
        snprintf(r->control, sizeof(r->control), "%s", t->control);
        snprintf(r->data, sizeof(r->data), "%s", t->data);
        r->has_csealed = t->control_sealed != NULL;
        r->has_dsealed = t->data_sealed != NULL;
        if (r->has_csealed)
            snprintf(r->csealed, sizeof(r->csealed), "%s", t->control_sealed);
        if (r->has_dsealed)
            snprintf(r->dsealed, sizeof(r->dsealed), "%s", t->data_sealed);
    }
    r->done = 1;
}

static void on_revoked(struct cp_store *s, int status,
                       const struct cp_store_revoked *v, size_t n, void *arg)
{
    struct res *r = arg;

    r->status = status;
    r->n = n;
    for (size_t i = 0; status == 0 && i < n && i < 4; i++) {
        snprintf(r->keys[i], sizeof(r->keys[i]), "%s", v[i].key);
        r->ats[i] = v[i].at;
    }
    r->done = 1;
}

static int64_t revoked_at(const struct res *r, const char *key)
{
    for (size_t i = 0; i < r->n && i < 4; i++)
        if (strcmp(r->keys[i], key) == 0)
            return r->ats[i];
    return -1;
}

/* ==== setup ==== */

static int rm_one(const char *path, const struct stat *st, int flag,
                  struct FTW *ftw)
{
    remove(path);
    return 0;
}

static int start_redis(void)
{
    struct cp_store_embedded_config ec = {0};
    char err[CM_ERR_LEN];

    ec.data_dir = env->dir;
    ec.require_password = 1;
    if (cp_store_embedded_start(&ec, &env->redis, err, sizeof(err)) != 0) {
        fprintf(stderr, "embedded redis: %s\n", err);
        return -1;
    }
    return 0;
}

static int group_setup(void **state)
{
    static struct env e;

    env = &e;
    cm_log_set_level(getenv("TEST_DEBUG") ? CM_LOG_DEBUG : CM_LOG_ERROR);
    snprintf(e.dir, sizeof(e.dir), "/tmp/cpsec.XXXXXX");
    if (mkdtemp(e.dir) == NULL || uv_loop_init(&e.loop) != 0)
        return -1;
    return start_redis();
}

static int group_teardown(void **state)
{
    cp_store_embedded_stop(env->redis);
    run_until(NULL, 20);
    uv_loop_close(&env->loop);
    nftw(env->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

/* ==== tests ==== */

static void test_embedded_password(void **state)
{
    const char *pw = cp_store_embedded_password(env->redis);
    char path[128], buf[128], cmd[4096];
    struct stat st;
    FILE *f;
    size_t n;

    assert_non_null(pw);
    assert_int_equal(strlen(pw), 32);
    assert_int_equal(strspn(pw, "0123456789abcdef"), 32);
    snprintf(path, sizeof(path), "%s/redis-password", env->dir);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    f = fopen(path, "r");
    assert_non_null(f);
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    assert_string_equal(buf, pw);
    snprintf(path, sizeof(path), "%s/redis.conf", env->dir);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    /* not on the server's command line */
    snprintf(path, sizeof(path), "/proc/%d/cmdline",
             (int)cp_store_embedded_pid(env->redis));
    f = fopen(path, "r");
    assert_non_null(f);
    n = fread(cmd, 1, sizeof(cmd) - 1, f);
    fclose(f);
    for (size_t i = 0; i < n; i++)
        if (cmd[i] == '\0')
            cmd[i] = ' ';
    cmd[n] = '\0';
    assert_null(strstr(cmd, pw));
}

static void test_auth_required(void **state)
{
    struct node none, wrong, right;

    node_open(&none, "none", "auth:", NULL);
    node_open(&wrong, "wrong", "auth:", "not-the-password");
    run_until(NULL, 1200);
    assert_false(none.connected);
    assert_false(wrong.connected);
    assert_false(cp_store_connected(none.s));
    assert_non_null(strstr(cp_store_last_error(none.s), "requires a password"));
    assert_non_null(
        strstr(cp_store_last_error(wrong.s), "refused the password"));
    assert_string_equal(cp_store_strerror(CP_STORE_EAUTH),
                        "Redis authentication failed (wrong or missing "
                        "password)");
    node_close(&none);
    node_close(&wrong);

    node_up(&right, "right", "auth:");
    assert_true(cp_store_connected(right.s));
    node_close(&right);
}

static void test_ca_race(void **state)
{
    struct node a, b;
    struct res ra = {0}, rb = {0}, rg = {0};
    struct cp_store_ca ca_a = {"CERT-A", "KEY-A", 111};
    struct cp_store_ca ca_b = {"CERT-B", "KEY-B", 222};

    node_up(&a, "a", "ca:");
    node_up(&b, "b", "ca:");
    assert_int_equal(cp_store_get_ca(a.s, on_ca, &rg), 0);
    assert_true(run_until(&rg.done, 2000));
    assert_int_equal(rg.status, GW_ENOENT);

    /* both queued before either reply: the script decides */
    assert_int_equal(cp_store_create_ca(a.s, &ca_a, on_ca, &ra), 0);
    assert_int_equal(cp_store_create_ca(b.s, &ca_b, on_ca, &rb), 0);
    assert_true(run_until(&ra.done, 2000));
    assert_true(run_until(&rb.done, 2000));
    assert_int_equal(ra.status, 0);
    assert_int_equal(rb.status, 0);
    assert_int_equal(ra.created + rb.created, 1);
    assert_string_equal(ra.cert, rb.cert);
    assert_string_equal(ra.key, rb.key);
    assert_int_equal(ra.at, rb.at);
    assert_string_equal(ra.created ? "CERT-A" : "CERT-B", ra.cert);
    assert_string_equal(ra.created ? "KEY-A" : "KEY-B", ra.key);
    assert_int_equal(ra.created ? 111 : 222, ra.at);

    memset(&rg, 0, sizeof(rg));
    assert_int_equal(cp_store_get_ca(b.s, on_ca, &rg), 0);
    assert_true(run_until(&rg.done, 2000));
    assert_int_equal(rg.status, 0);
    assert_string_equal(rg.cert, ra.cert);
    assert_string_equal(rg.key, ra.key);
    assert_int_equal(rg.at, ra.at);
    node_close(&a);
    node_close(&b);
}

static void get_tokens(struct node *n, struct res *r)
{
    memset(r, 0, sizeof(*r));
    assert_int_equal(cp_store_get_tokens(n->s, on_tokens, r), 0);
    assert_true(run_until(&r->done, 2000));
}

static int set_tokens(struct node *n, const struct cp_store_tokens *t,
                      int only_if_unset)
{
    struct res r = {0};

    assert_int_equal(cp_store_set_tokens(n->s, t, only_if_unset, on_done, &r),
                     0);
    assert_true(run_until(&r.done, 3000));
    return r.status;
}

static void test_tokens(void **state)
{
    struct cp_store_tokens t1 = {"h-control-1", "h-data-1", "sealed-c-1",
                                 "sealed-d-1"};
    struct cp_store_tokens t2 = {"h-control-2", "h-data-2", NULL, NULL};
    struct node a, b;
    struct res r;

    node_leader(&a, "a", "tok:");
    node_up(&b, "b", "tok:");
    get_tokens(&b, &r);
    assert_int_equal(r.status, GW_ENOENT);
    assert_int_equal(cp_store_set_tokens(b.s, &t1, 0, on_done, &r),
                     CP_STORE_ENOTLEADER);

    assert_int_equal(set_tokens(&a, &t1, 1), 0);
    get_tokens(&b, &r);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.control, "h-control-1");
    assert_string_equal(r.data, "h-data-1");
    assert_true(r.has_csealed && r.has_dsealed);
    assert_string_equal(r.csealed, "sealed-c-1");
    assert_string_equal(r.dsealed, "sealed-d-1");

    /* a first use racing another keeps the pair that is there */
    assert_int_equal(set_tokens(&a, &t2, 1), CP_STORE_EEXIST);
    get_tokens(&a, &r);
    assert_string_equal(r.control, "h-control-1");

    /* rotation replaces the whole hash, sealed texts included */
    assert_int_equal(set_tokens(&a, &t2, 0), 0);
    get_tokens(&b, &r);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.control, "h-control-2");
    assert_string_equal(r.data, "h-data-2");
    assert_false(r.has_csealed);
    assert_false(r.has_dsealed);

    t2.control = "";
    assert_int_equal(cp_store_set_tokens(a.s, &t2, 0, on_done, &r), GW_EINVAL);
    node_close(&a);
    node_close(&b);
}

static int do_revoke(struct node *n, const char *role, const char *id,
                     int64_t at)
{
    struct res r = {0};

    assert_int_equal(cp_store_revoke(n->s, role, id, at, on_done, &r), 0);
    assert_true(run_until(&r.done, 3000));
    return r.status;
}

static void list_revoked(struct node *n, struct res *r)
{
    memset(r, 0, sizeof(*r));
    assert_int_equal(cp_store_list_revoked(n->s, on_revoked, r), 0);
    assert_true(run_until(&r->done, 2000));
    assert_int_equal(r->status, 0);
}

static void test_revoke(void **state)
{
    struct node a, b;
    struct res r;

    node_leader(&a, "a", "rev:");
    node_up(&b, "b", "rev:");
    list_revoked(&b, &r);
    assert_int_equal(r.n, 0);
    assert_int_equal(cp_store_revoke(b.s, "data", "n1", 5, on_done, &r),
                     CP_STORE_ENOTLEADER);
    assert_int_equal(cp_store_revoke(a.s, "da/ta", "n1", 5, on_done, &r),
                     GW_EINVAL);

    assert_int_equal(do_revoke(&a, "data", "n1", 100), 0);
    assert_int_equal(do_revoke(&a, "control", "n2", 1700000000), 0);
    list_revoked(&b, &r);
    assert_int_equal(r.n, 2);
    assert_int_equal(revoked_at(&r, "data/n1"), 100);
    assert_int_equal(revoked_at(&r, "control/n2"), 1700000000);

    assert_int_equal(do_revoke(&a, "data", "n1", 300), 0);
    list_revoked(&b, &r);
    assert_int_equal(r.n, 2);
    assert_int_equal(revoked_at(&r, "data/n1"), 300);
    node_close(&a);
    node_close(&b);
}

/* Last: restarts the server; the password file is kept and reused. */
static void test_embedded_restart(void **state)
{
    char pw[64];
    struct node a;

    snprintf(pw, sizeof(pw), "%s", cp_store_embedded_password(env->redis));
    cp_store_embedded_stop(env->redis);
    env->redis = NULL;
    assert_int_equal(start_redis(), 0);
    assert_string_equal(cp_store_embedded_password(env->redis), pw);
    node_up(&a, "a", "restart:");
    node_close(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_embedded_password),
        cmocka_unit_test(test_auth_required),
        cmocka_unit_test(test_ca_race),
        cmocka_unit_test(test_tokens),
        cmocka_unit_test(test_revoke),
        cmocka_unit_test(test_embedded_restart),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
