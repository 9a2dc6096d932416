/*
 * security_test.c -- GetTokens and RevokeNode end to end: two control nodes
 * (store on the embedded redis-server with a password, mutual TLS gRPC
 * server, management service) on one loop thread, called from the test
 * thread with an admin certificate through the follower, which forwards to
 * the leader over mutual TLS with its control certificate. Checks that the
 * tokens are made on first use and stored as hashes plus sealed texts,
 * shown again unchanged, replaced by rotate; that a revocation is stored
 * and reported to the node; that a data certificate is refused and an
 * insecure node has no tokens. Needs redis-server on PATH.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <ftw.h>
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log/log.h"
#include "common/pki/pki.h"
#include "common/pki/pki_testutil.h"
#include "controlplane/mgmt/mgmt.h"
#include "controlplane/rpc/rpc.h"
#include "controlplane/store/store.h"
#include "traefikee/v1/management.pb-c.h"

#define PREFIX "sec:"
#define M(x)   "/traefikee.v1.Management/" x

struct tnode {
    char id[8];
    struct cp_store *store;
    struct cp_rpc_server *rpc;
    struct cp_mgmt *mgmt;
    struct cm_pki_creds creds; /* its control certificate */
    int port;
    atomic_int connected, leader, knows_leader, heartbeat;
};

struct hooks {
    pthread_mutex_t lock;
    int tokens, revoked;
    char control_hash[CM_PKI_FP_HEX], data_hash[CM_PKI_FP_HEX];
    enum cm_pki_role role;
    char id[64];
    int64_t at;
};

struct world {
    uv_loop_t loop;
    uv_async_t quit;
    pthread_t thread;
    char dir[64];
    struct cp_store_embedded *redis;
    char *ca, *ca_key, fp[CM_PKI_FP_HEX], key[CM_PKI_KEY_HEX];
    struct cm_pki_creds admin, data;
    struct tnode n[2];
    struct cp_rpc_server *plain_rpc; /* an insecure node */
    struct cp_mgmt *plain_mgmt;
    int plain_port;
    struct hooks h;
};

static struct world *w;

/* ==== certificates ==== */

static void issue(enum cm_pki_role role, const char *id,
                  struct cm_pki_creds *out)
{
    cm_pki_test_issue(w->ca, w->ca_key, role, id, time(NULL), 3600, out);
}

/* ==== the nodes' callbacks (loop thread) ==== */

static const char *get_fp(void *arg)
{
    return w->fp;
}

static const char *get_key(void *arg)
{
    return w->key;
}

static const struct cm_pki_creds *get_creds(void *arg)
{
    return &((struct tnode *)arg)->creds;
}

static void on_tokens(void *arg, const char *control, const char *data)
{
    pthread_mutex_lock(&w->h.lock);
    w->h.tokens++;
    snprintf(w->h.control_hash, sizeof(w->h.control_hash), "%s", control);
    snprintf(w->h.data_hash, sizeof(w->h.data_hash), "%s", data);
    pthread_mutex_unlock(&w->h.lock);
}

static void on_revoked(void *arg, enum cm_pki_role role, const char *id,
                       int64_t at)
{
    pthread_mutex_lock(&w->h.lock);
    w->h.revoked++;
    w->h.role = role;
    snprintf(w->h.id, sizeof(w->h.id), "%s", id);
    w->h.at = at;
    pthread_mutex_unlock(&w->h.lock);
}

static void on_heartbeat(struct cp_store *s, int status, void *arg)
{
    struct tnode *n = arg;

    n->heartbeat = status == 0;
}

static void on_state(struct cp_store *s, int connected, const char *m,
                     void *arg)
{
    struct tnode *n = arg;
    char info[64];

    n->connected = connected;
    if (!connected)
        return;
    snprintf(info, sizeof(info), "{\"grpc\":\"127.0.0.1:%d\"}", n->port);
    /* no cmocka assert on this thread: a failure shows as no heartbeat */
    if (cp_store_heartbeat(s, n->id, CP_MGMT_ROLE_CONTROL, info, 60000,
                           on_heartbeat, n) != 0)
        n->heartbeat = 0;
}

static void on_leader(struct cp_store *s, int is_leader, uint64_t epoch,
                      const char *leader_id, void *arg)
{
    struct tnode *n = arg;

    n->leader = is_leader;
    n->knows_leader = leader_id != NULL;
}

/* ==== setup ==== */

static void node_start(struct tnode *n, int i)
{
    struct cp_store_config sc = {0};
    struct cp_store_callbacks cbs = {on_state, on_leader, NULL, n};
    struct cp_mgmt_config mc = {0};
    char err[CM_ERR_LEN], *chain;

    snprintf(n->id, sizeof(n->id), "n%d", i);
    issue(CM_PKI_ROLE_CONTROL, n->id, &n->creds);
    sc.redis = cp_store_embedded_addr(w->redis);
    sc.password = cp_store_embedded_password(w->redis);
    sc.node_id = n->id;
    sc.prefix = PREFIX;
    sc.wait_replicas = -1;
    sc.lease_ms = 1500;
    n->store = cp_store_new(&w->loop, &sc, &cbs, err, sizeof(err));
    assert_non_null(n->store);
    n->rpc = cp_rpc_server_new();
    mc.loop = &w->loop;
    mc.rpc = n->rpc;
    mc.store = n->store;
    mc.node_id = n->id;
    mc.ca_fp = get_fp;
    mc.cluster_key = get_key;
    mc.creds = get_creds;
    mc.on_tokens = on_tokens;
    mc.on_revoked = on_revoked;
    mc.security_arg = n;
    n->mgmt = cp_mgmt_new(&mc, err, sizeof(err));
    assert_non_null(n->mgmt);
    assert_int_equal(asprintf(&chain, "%s%s", n->creds.cert, w->ca) > 0, 1);
    assert_int_equal(cp_rpc_server_set_tls(n->rpc, chain, n->creds.key, w->ca),
                     0);
    free(chain);
    assert_int_equal(cp_rpc_server_start_tls(n->rpc, "127.0.0.1:0", &n->port,
                                             NULL, NULL, err, sizeof(err)),
                     0);
    assert_int_equal(cp_store_start(n->store), 0);
    assert_int_equal(cp_store_election_start(n->store), 0);
}

static void plain_start(void)
{
    struct cp_mgmt_config mc = {0};
    char err[CM_ERR_LEN];

    w->plain_rpc = cp_rpc_server_new();
    mc.loop = &w->loop;
    mc.rpc = w->plain_rpc;
    mc.store = w->n[0].store;
    mc.node_id = "plain";
    w->plain_mgmt = cp_mgmt_new(&mc, err, sizeof(err));
    assert_non_null(w->plain_mgmt);
    assert_int_equal(cp_rpc_server_start(w->plain_rpc, "127.0.0.1:0",
                                         &w->plain_port, err, sizeof(err)),
                     0);
}

static void *loop_main(void *arg)
{
    uv_run(&w->loop, UV_RUN_DEFAULT);
    return NULL;
}

static void on_quit(uv_async_t *h)
{
    cp_mgmt_close(w->plain_mgmt);
    for (int i = 0; i < 2; i++) {
        cp_mgmt_close(w->n[i].mgmt);
        cp_store_close(w->n[i].store);
    }
    uv_close((uv_handle_t *)h, NULL);
}

static int wait_for(atomic_int *flag, unsigned ms)
{
    for (unsigned t = 0; t < ms && !*flag; t += 10)
        usleep(10000);
    return *flag;
}

static int setup(void **state)
{
    static struct world world;
    struct cp_store_embedded_config ec = {0};
    char err[CM_ERR_LEN];

    w = &world;
    cm_log_set_level(getenv("TEST_DEBUG") ? CM_LOG_DEBUG : CM_LOG_ERROR);
    pthread_mutex_init(&w->h.lock, NULL);
    snprintf(w->dir, sizeof(w->dir), "/tmp/mgmtsec.XXXXXX");
    assert_non_null(mkdtemp(w->dir));
    ec.data_dir = w->dir;
    ec.require_password = 1;
    assert_int_equal(cp_store_embedded_start(&ec, &w->redis, err, sizeof(err)),
                     0);
    assert_int_equal(
        cm_pki_ca_new("test", &w->ca, &w->ca_key, err, sizeof(err)), 0);
    assert_int_equal(cm_pki_fingerprint(w->ca, w->fp, err, sizeof(err)), 0);
    assert_int_equal(cm_pki_cluster_key_new(w->key), 0);
    issue(CM_PKI_ROLE_ADMIN, "admin", &w->admin);
    issue(CM_PKI_ROLE_DATA, "d0", &w->data);
    assert_int_equal(uv_loop_init(&w->loop), 0);
    assert_int_equal(uv_async_init(&w->loop, &w->quit, on_quit), 0);
    for (int i = 0; i < 2; i++)
        node_start(&w->n[i], i);
    plain_start();
    assert_int_equal(pthread_create(&w->thread, NULL, loop_main, NULL), 0);
    for (int i = 0; i < 2; i++) {
        assert_true(wait_for(&w->n[i].heartbeat, 5000));
        assert_true(wait_for(&w->n[i].knows_leader, 5000));
    }
    assert_true(w->n[0].leader != w->n[1].leader);
    return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag,
                  struct FTW *ftw)
{
    remove(path);
    return 0;
}

static int teardown(void **state)
{
    for (int i = 0; i < 2; i++)
        cp_rpc_server_stop(w->n[i].rpc);
    cp_rpc_server_stop(w->plain_rpc);
    uv_async_send(&w->quit);
    pthread_join(w->thread, NULL);
    uv_loop_close(&w->loop);
    for (int i = 0; i < 2; i++) {
        cp_mgmt_free(w->n[i].mgmt);
        cp_rpc_server_free(w->n[i].rpc);
        cm_pki_creds_clear(&w->n[i].creds);
    }
    cp_mgmt_free(w->plain_mgmt);
    cp_rpc_server_free(w->plain_rpc);
    cm_pki_creds_clear(&w->admin);
    cm_pki_creds_clear(&w->data);
    free(w->ca);
    free(w->ca_key);
    cp_store_embedded_stop(w->redis);
    nftw(w->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

/* ==== calls from the test thread ==== */

static struct tnode *follower(void)
{
    return w->n[0].leader ? &w->n[1] : &w->n[0];
}

/* One call to <port> with <creds> (NULL: plain text); the reply in <out>. */
static void call(int port, const struct cm_pki_creds *creds, const char *method,
                 const ProtobufCMessage *req, struct cp_mgmt_reply *out)
{
    uint8_t buf[256];
    size_t len = protobuf_c_message_pack(req, buf);
    char target[32];

    snprintf(target, sizeof(target), "127.0.0.1:%d", port);
    assert_int_equal(
        cp_mgmt_client_unary_creds(target, creds, method, buf, len, 5000, out),
        0);
}

struct tokens {
    char control[CM_PKI_TOKEN_MAX], data[CM_PKI_TOKEN_MAX];
};

static void get_tokens(int port, int rotate, struct tokens *out)
{
    Traefikee__V1__GetTokensRequest req =
        TRAEFIKEE__V1__GET_TOKENS_REQUEST__INIT;
    Traefikee__V1__GetTokensResponse *r;
    struct cp_mgmt_reply rep;

    req.rotate = rotate;
    call(port, &w->admin, M("GetTokens"), &req.base, &rep);
    if (rep.status != GRPC_STATUS_OK)
        fail_msg("GetTokens: %d %s", rep.status, rep.details);
    r = traefikee__v1__get_tokens_response__unpack(NULL, rep.len, rep.data);
    assert_non_null(r);
    snprintf(out->control, sizeof(out->control), "%s", r->control_token);
    snprintf(out->data, sizeof(out->data), "%s", r->data_token);
    traefikee__v1__get_tokens_response__free_unpacked(r, NULL);
    cp_mgmt_reply_deinit(&rep);
}

/* HGET <key> <field> on the embedded Redis (with its password). */
static void redis_hget(const char *key, const char *field, char *out,
                       size_t len)
{
    char sock[128];
    redisContext *c;
    redisReply *r;

    snprintf(sock, sizeof(sock), "%s/redis.sock", w->dir);
    c = redisConnectUnix(sock);
    assert_true(c != NULL && c->err == 0);
    r = redisCommand(c, "AUTH %s", cp_store_embedded_password(w->redis));
    freeReplyObject(r);
    r = redisCommand(c, "HGET %s %s", key, field);
    assert_non_null(r);
    snprintf(out, len, "%s", r->type == REDIS_REPLY_STRING ? r->str : "");
    freeReplyObject(r);
    redisFree(c);
}

/* The token text <s> is a token of <role> for our CA, whose secret hashes
 * to what Redis holds in <field> and what the hook was told <hook>. */
static void check_token(const char *s, enum cm_pki_role role, const char *field,
                        const char *hook)
{
    struct cm_pki_token t;
    char err[CM_ERR_LEN], hash[CM_PKI_FP_HEX], stored[128];

    assert_int_equal(cm_pki_token_parse(s, &t, err, sizeof(err)), 0);
    assert_int_equal(t.role, role);
    assert_string_equal(t.ca_fp, w->fp);
    cm_pki_token_hash(t.secret, hash);
    redis_hget(PREFIX "tokens", field, stored, sizeof(stored));
    assert_string_equal(stored, hash);
    assert_string_equal(hook, hash);
    assert_null(strstr(s, stored)); /* the hash is not the secret */
}

/* ==== tests ==== */

static void test_get_tokens(void **state)
{
    struct tokens a, b, c, d;
    int leader_port = w->n[0].leader ? w->n[0].port : w->n[1].port;
    char sealed[512];

    /* first use, through the follower: made by the leader */
    get_tokens(follower()->port, 0, &a);
    pthread_mutex_lock(&w->h.lock);
    assert_int_equal(w->h.tokens, 1);
    check_token(a.control, CM_PKI_ROLE_CONTROL, "control", w->h.control_hash);
    check_token(a.data, CM_PKI_ROLE_DATA, "data", w->h.data_hash);
    pthread_mutex_unlock(&w->h.lock);
    redis_hget(PREFIX "tokens", "control_sealed", sealed, sizeof(sealed));
    assert_true(strncmp(sealed, "v1:", 3) == 0);
    assert_null(strstr(sealed, a.control));

    /* shown again, unchanged, by either node */
    get_tokens(leader_port, 0, &b);
    get_tokens(follower()->port, 0, &c);
    assert_string_equal(a.control, b.control);
    assert_string_equal(a.data, b.data);
    assert_string_equal(a.control, c.control);
    assert_int_equal(w->h.tokens, 1);

    /* rotate: a new pair, the hashes replaced */
    get_tokens(follower()->port, 1, &d);
    assert_string_not_equal(d.control, a.control);
    assert_string_not_equal(d.data, a.data);
    pthread_mutex_lock(&w->h.lock);
    assert_int_equal(w->h.tokens, 2);
    check_token(d.control, CM_PKI_ROLE_CONTROL, "control", w->h.control_hash);
    check_token(d.data, CM_PKI_ROLE_DATA, "data", w->h.data_hash);
    pthread_mutex_unlock(&w->h.lock);
    get_tokens(leader_port, 0, &b);
    assert_string_equal(b.control, d.control);
    assert_string_equal(b.data, d.data);
}

static void test_revoke_node(void **state)
{
    Traefikee__V1__RevokeNodeRequest req =
        TRAEFIKEE__V1__REVOKE_NODE_REQUEST__INIT;
    Traefikee__V1__RevokeNodeResponse *r;
    struct cp_mgmt_reply rep;
    int64_t before = time(NULL), at;
    char stored[32];

    req.role = TRAEFIKEE__V1__ROLE__DATA;
    req.node_id = "d7";
    call(follower()->port, &w->admin, M("RevokeNode"), &req.base, &rep);
    if (rep.status != GRPC_STATUS_OK)
        fail_msg("RevokeNode: %d %s", rep.status, rep.details);
    r = traefikee__v1__revoke_node_response__unpack(NULL, rep.len, rep.data);
    assert_non_null(r);
    at = r->revoked_at;
    traefikee__v1__revoke_node_response__free_unpacked(r, NULL);
    cp_mgmt_reply_deinit(&rep);
    assert_true(at >= before && at <= (int64_t)time(NULL));
    redis_hget(PREFIX "revoked", "data/d7", stored, sizeof(stored));
    assert_int_equal(strtoll(stored, NULL, 10), at);
    pthread_mutex_lock(&w->h.lock);
    assert_int_equal(w->h.revoked, 1);
    assert_int_equal(w->h.role, CM_PKI_ROLE_DATA);
    assert_string_equal(w->h.id, "d7");
    assert_int_equal(w->h.at, at);
    pthread_mutex_unlock(&w->h.lock);

    /* no role, no id: refused before anything is stored */
    req.role = TRAEFIKEE__V1__ROLE__ROLE_UNSPECIFIED;
    call(follower()->port, &w->admin, M("RevokeNode"), &req.base, &rep);
    assert_int_equal(rep.status, GRPC_STATUS_INVALID_ARGUMENT);
    req.role = TRAEFIKEE__V1__ROLE__CONTROL;
    req.node_id = "";
    call(follower()->port, &w->admin, M("RevokeNode"), &req.base, &rep);
    assert_int_equal(rep.status, GRPC_STATUS_INVALID_ARGUMENT);
    assert_int_equal(w->h.revoked, 1);
}

static void test_refused(void **state)
{
    Traefikee__V1__GetTokensRequest req =
        TRAEFIKEE__V1__GET_TOKENS_REQUEST__INIT;
    Traefikee__V1__RevokeNodeRequest rv =
        TRAEFIKEE__V1__REVOKE_NODE_REQUEST__INIT;
    struct cp_mgmt_reply rep;

    /* a data certificate may not call the management API */
    call(w->n[0].port, &w->data, M("GetTokens"), &req.base, &rep);
    assert_int_equal(rep.status, GRPC_STATUS_PERMISSION_DENIED);
    /* an insecure node has no tokens and keeps no revocations */
    call(w->plain_port, NULL, M("GetTokens"), &req.base, &rep);
    assert_int_equal(rep.status, GRPC_STATUS_FAILED_PRECONDITION);
    assert_non_null(strstr(rep.details, "insecure"));
    rv.role = TRAEFIKEE__V1__ROLE__DATA;
    rv.node_id = "d1";
    call(w->plain_port, NULL, M("RevokeNode"), &rv.base, &rep);
    assert_int_equal(rep.status, GRPC_STATUS_FAILED_PRECONDITION);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_tokens),
        cmocka_unit_test(test_revoke_node),
        cmocka_unit_test(test_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
