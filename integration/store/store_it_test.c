/*
 * store_it_test.c -- the store against real processes: a redis-server
 * master + replica and three redis-sentinels on free loopback ports in a
 * temp dir (quorum 2, down-after 1000 ms, failover-timeout 3000 ms), two
 * store instances on one libuv loop in this process, and the embedded
 * redis-server. Steps run in order and share the cluster; each wait is
 * bounded; every child is tracked by pid and killed on any exit path.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <uv.h>

#include "common/err/err.h"
#include "common/log/log.h"
#include "controlplane/store/store.h"
#include "integration/store/harness.h"

#define NSENT 3

struct cluster {
    const char *dir;
    int master_port, replica_port, sent_port[NSENT];
    pid_t master_pid, replica_pid, sent_pid[NSENT];
    char sentinels[128];
};

/* What the callbacks of one store instance saw. */
struct node {
    const char *id;
    struct cp_store *s;
    int connected, ups, downs;
    char master[300];
    int leader;
    uint64_t epoch;
    char leader_id[CP_STORE_ID_LEN];
    int leader_events;
    uint64_t last_rev;
    int rev_events;
};

static uv_loop_t loop;
static uv_timer_t ticker;

/* ==== loop helpers ==== */

static void tick(uv_timer_t *t)
{
}

/* Runs the loop until <pred>(<arg>) or <ms> pass; returns 1 if it held. */
static int run_until(int (*pred)(void *), void *arg, unsigned ms)
{
    uint64_t end = it_now_ms() + ms;

    while (!pred(arg)) {
        if (it_now_ms() >= end)
            return 0;
        uv_run(&loop, UV_RUN_ONCE);
    }
    return 1;
}

static int never(void *arg)
{
    return 0;
}

static void run_for(unsigned ms)
{
    run_until(never, NULL, ms);
}

static int flag_set(void *arg)
{
    return *(int *)arg != 0;
}

/* ==== cluster ==== */

static pid_t start_redis(int port, int replica_of, const char *log)
{
    char p[16], m[16];
    char *argv[24] = {"redis-server",
                      "--port",
                      p,
                      "--bind",
                      "127.0.0.1",
                      "--save",
                      "",
                      "--appendonly",
                      "no",
                      "--dir",
                      getenv("IT_DIR"),
                      "--repl-diskless-sync",
                      "yes",
                      "--repl-diskless-sync-delay",
                      "0"};
    int n = 15;

    snprintf(p, sizeof(p), "%d", port);
    snprintf(m, sizeof(m), "%d", replica_of);
    if (replica_of > 0) {
        argv[n++] = "--replicaof";
        argv[n++] = "127.0.0.1";
        argv[n++] = m;
    }
    argv[n] = NULL;
    return it_spawn(log, argv);
}

static pid_t start_sentinel(int i, int port, int master_port)
{
    char name[32], conf[512], log[32];
    const char *path;
    char *argv[3] = {"redis-sentinel", NULL, NULL};

    snprintf(name, sizeof(name), "sentinel%d.conf", i);
    snprintf(conf, sizeof(conf),
             "port %d\nbind 127.0.0.1\ndir %s\n"
             "sentinel monitor mymaster 127.0.0.1 %d 2\n"
             "sentinel down-after-milliseconds mymaster 1000\n"
             "sentinel failover-timeout mymaster 3000\n",
             port, getenv("IT_DIR"), master_port);
    path = it_write(name, conf);
    argv[1] = (char *)path;
    snprintf(log, sizeof(log), "sentinel%d.log", i);
    return it_spawn(log, argv);
}

/* 1 when every sentinel knows 1 replica and 2 other sentinels. */
static int sentinels_settled(struct cluster *c)
{
    for (int i = 0; i < NSENT; i++) {
        redisReply *r = it_cmd(c->sent_port[i], "SENTINEL master mymaster");
        int ok = 0;
        if (r != NULL && r->type == REDIS_REPLY_ARRAY) {
            long slaves = -1, others = -1;
            for (size_t k = 0; k + 1 < r->elements; k += 2) {
                if (strcmp(r->element[k]->str, "num-slaves") == 0)
                    slaves = atol(r->element[k + 1]->str);
                if (strcmp(r->element[k]->str, "num-other-sentinels") == 0)
                    others = atol(r->element[k + 1]->str);
            }
            ok = slaves == 1 && others == NSENT - 1;
        }
        freeReplyObject(r);
        if (!ok)
            return 0;
    }
    return 1;
}

static int wait_link_up(int replica_port, unsigned ms)
{
    uint64_t end = it_now_ms() + ms;

    while (it_now_ms() < end) {
        redisReply *r = it_cmd(replica_port, "INFO replication");
        int up = r != NULL && r->type == REDIS_REPLY_STRING &&
                 strstr(r->str, "master_link_status:up") != NULL;
        freeReplyObject(r);
        if (up)
            return 0;
        it_sleep_ms(50);
    }
    return -1;
}

static void cluster_start(struct cluster *c)
{
    uint64_t t0 = it_now_ms(), end;
    int n = 0;

    c->master_port = it_free_port();
    c->replica_port = it_free_port();
    c->master_pid = start_redis(c->master_port, 0, "master.log");
    CHECK(it_wait_ping(c->master_port, 5000) == 0, "master up");
    c->replica_pid =
        start_redis(c->replica_port, c->master_port, "replica.log");
    CHECK(it_wait_ping(c->replica_port, 5000) == 0, "replica up");
    CHECK(wait_link_up(c->replica_port, 10000) == 0, "replica linked");
    for (int i = 0; i < NSENT; i++) {
        c->sent_port[i] = it_free_port();
        c->sent_pid[i] = start_sentinel(i, c->sent_port[i], c->master_port);
        CHECK(it_wait_ping(c->sent_port[i], 5000) == 0, "sentinel %d up", i);
        n += snprintf(c->sentinels + n, sizeof(c->sentinels) - (size_t)n,
                      "%s127.0.0.1:%d", i ? "," : "", c->sent_port[i]);
    }
    end = it_now_ms() + 15000;
    while (!sentinels_settled(c)) {
        CHECK(it_now_ms() < end, "sentinels did not discover each other");
        it_sleep_ms(100);
    }
    printf("cluster: master %d replica %d sentinels %s ready in %llu ms\n",
           c->master_port, c->replica_port, c->sentinels,
           (unsigned long long)(it_now_ms() - t0));
}

/* ==== store callbacks ==== */

static void on_state(struct cp_store *s, int connected, const char *master,
                     void *arg)
{
    struct node *n = arg;

    n->connected = connected;
    snprintf(n->master, sizeof(n->master), "%s", master);
    if (connected)
        n->ups++;
    else
        n->downs++;
    printf("[%s] %s %s\n", n->id, connected ? "connected" : "disconnected",
           master);
}

static void on_leader(struct cp_store *s, int is_leader, uint64_t epoch,
                      const char *leader_id, void *arg)
{
    struct node *n = arg;

    n->leader = is_leader;
    n->epoch = epoch;
    snprintf(n->leader_id, sizeof(n->leader_id), "%s",
             leader_id ? leader_id : "");
    n->leader_events++;
    printf("[%s] leader=%d epoch=%llu holder=%s\n", n->id, is_leader,
           (unsigned long long)epoch, leader_id ? leader_id : "?");
}

static void on_revision(struct cp_store *s, uint64_t rev, void *arg)
{
    struct node *n = arg;

    n->last_rev = rev;
    n->rev_events++;
}

static void node_open(struct node *n, const char *id, const char *redis,
                      const char *sentinels, int wait_replicas)
{
    struct cp_store_config cfg = {
        .redis = redis,
        .sentinels = sentinels,
        .master_name = "mymaster",
        .prefix = "it:",
        .node_id = id,
        .lease_ms = 2000,
        .cmd_timeout_ms = 1000,
        .sentinel_timeout_ms = 300,
        .wait_timeout_ms = 1000,
        .wait_replicas = wait_replicas,
        .history = 3,
    };
    struct cp_store_callbacks cbs = {on_state, on_leader, on_revision, n};
    char err[CM_ERR_LEN];

    memset(n, 0, sizeof(*n));
    n->id = id;
    n->s = cp_store_new(&loop, &cfg, &cbs, err, sizeof(err));
    CHECK(n->s != NULL, "cp_store_new: %s", err);
    CHECK(cp_store_start(n->s) == 0, "start");
}

/* ==== operation results ==== */

struct put_res {
    int done, status, replicas;
    uint64_t rev;
};

static void put_cb(struct cp_store *s, int status, uint64_t rev, int replicas,
                   void *arg)
{
    struct put_res *r = arg;

    r->done = 1;
    r->status = status;
    r->rev = rev;
    r->replicas = replicas;
}

static struct put_res put_at(struct node *n, int use_epoch, uint64_t epoch,
                             const char *doc)
{
    struct put_res r = {0};
    int rc = use_epoch
                 ? cp_store_put_revision_at(n->s, epoch, doc, strlen(doc),
                                            put_cb, &r)
                 : cp_store_put_revision(n->s, doc, strlen(doc), put_cb, &r);

    if (rc != 0) {
        r.done = 1;
        r.status = rc;
        return r;
    }
    CHECK(run_until(flag_set, &r.done, 5000), "put did not complete");
    return r;
}

struct doc_res {
    int done, status;
    uint64_t rev;
    char doc[256];
};

static void doc_cb(struct cp_store *s, int status, uint64_t rev,
                   const char *doc, size_t len, void *arg)
{
    struct doc_res *r = arg;

    r->done = 1;
    r->status = status;
    r->rev = rev;
    snprintf(r->doc, sizeof(r->doc), "%.*s", (int)len, doc ? doc : "");
}

static struct doc_res get_rev(struct node *n, uint64_t rev)
{
    struct doc_res r = {0};
    int rc = rev == 0 ? cp_store_get_current(n->s, doc_cb, &r)
                      : cp_store_get_revision(n->s, rev, doc_cb, &r);

    CHECK(rc == 0, "get: %s", cp_store_strerror(rc));
    CHECK(run_until(flag_set, &r.done, 5000), "get did not complete");
    return r;
}

struct list_res {
    int done, status;
    size_t n;
    uint64_t revs[16];
};

static void list_cb(struct cp_store *s, int status, const uint64_t *revs,
                    size_t n, void *arg)
{
    struct list_res *r = arg;

    r->done = 1;
    r->status = status;
    r->n = n;
    for (size_t i = 0; i < n && i < 16; i++)
        r->revs[i] = revs[i];
}

struct nodes_res {
    int done, status;
    size_t n;
    char ids[8][32], roles[8][32], infos[8][64];
};

static void nodes_cb(struct cp_store *s, int status,
                     const struct cp_store_node *nodes, size_t n, void *arg)
{
    struct nodes_res *r = arg;

    r->done = 1;
    r->status = status;
    r->n = n;
    for (size_t i = 0; i < n && i < 8; i++) {
        snprintf(r->ids[i], 32, "%s", nodes[i].id);
        snprintf(r->roles[i], 32, "%s", nodes[i].role);
        snprintf(r->infos[i], 64, "%s", nodes[i].info);
    }
}

static void done_cb(struct cp_store *s, int status, void *arg)
{
    int *st = arg;

    st[0] = 1;
    st[1] = status;
}

/* ==== predicates ==== */

static struct node *na, *nb;

static int both_connected(void *arg)
{
    return na->connected && nb->connected;
}

static int a_leader(void *arg)
{
    return na->leader;
}

static int b_sees_a(void *arg)
{
    return strcmp(nb->leader_id, "node-a") == 0 && !nb->leader;
}

static int b_took_over(void *arg)
{
    uint64_t old = *(uint64_t *)arg;

    return nb->leader && nb->epoch > old;
}

static int rev_seen(void *arg)
{
    return nb->last_rev >= *(uint64_t *)arg;
}

static struct node *leader_of(void)
{
    if (na->leader)
        return na;
    if (nb->leader)
        return nb;
    return NULL;
}

static int any_leader(void *arg)
{
    return leader_of() != NULL;
}

static int both_on_port(void *arg)
{
    char want[32];

    snprintf(want, sizeof(want), "127.0.0.1:%d", *(int *)arg);
    return na->connected && nb->connected && strcmp(na->master, want) == 0 &&
           strcmp(nb->master, want) == 0;
}

/* ==== steps ==== */

static void step_connect(struct cluster *c)
{
    char want[32];
    uint64_t t0 = it_now_ms();

    CHECK(run_until(both_connected, NULL, 10000), "stores did not connect");
    snprintf(want, sizeof(want), "127.0.0.1:%d", c->master_port);
    CHECK(strcmp(na->master, want) == 0, "master %s != %s", na->master, want);
    printf("step connect: ok in %llu ms\n",
           (unsigned long long)(it_now_ms() - t0));
}

static void step_election(struct cluster *c)
{
    char buf[32];

    CHECK(cp_store_election_start(na->s) == 0, "election a");
    CHECK(run_until(a_leader, NULL, 5000), "a did not become leader");
    CHECK(na->epoch >= 1, "epoch");
    CHECK(cp_store_election_start(nb->s) == 0, "election b");
    CHECK(run_until(b_sees_a, NULL, 5000), "b did not see leader a");
    run_for(1500); /* several renew / acquire rounds */
    CHECK(na->leader && !nb->leader, "exactly one leader");
    CHECK(it_cmd_str(c->master_port, buf, sizeof(buf), "GET it:epoch") == 0 &&
              strtoull(buf, NULL, 10) == na->epoch,
          "epoch key %s != %llu", buf, (unsigned long long)na->epoch);
    CHECK(it_cmd_str(c->master_port, buf, sizeof(buf), "GET it:leader") == 0 &&
              strcmp(buf, "node-a") == 0,
          "lease holder %s", buf);
    printf("step election: a leader epoch %llu, b follows\n",
           (unsigned long long)na->epoch);
}

static void step_revisions(struct cluster *c)
{
    struct put_res p;
    struct doc_res d;
    struct list_res l = {0};
    uint64_t first = 0;
    char doc[32];

    p = put_at(na, 0, 0, "doc-1");
    CHECK(p.status == 0, "put: %s", cp_store_strerror(p.status));
    CHECK(p.replicas == 1, "WAIT replicas %d", p.replicas);
    first = p.rev;
    CHECK(run_until(rev_seen, &p.rev, 3000), "b got no event for %llu",
          (unsigned long long)p.rev);
    d = get_rev(nb, 0);
    CHECK(d.status == 0 && d.rev == p.rev && strcmp(d.doc, "doc-1") == 0,
          "current %d %llu %s", d.status, (unsigned long long)d.rev, d.doc);
    d = get_rev(nb, first);
    CHECK(d.status == 0 && strcmp(d.doc, "doc-1") == 0, "get rev");
    for (int i = 2; i <= 4; i++) {
        snprintf(doc, sizeof(doc), "doc-%d", i);
        p = put_at(na, 0, 0, doc);
        CHECK(p.status == 0 && p.replicas == 1, "put %d", i);
    }
    CHECK(cp_store_list_revisions(nb->s, list_cb, &l) == 0, "list");
    CHECK(run_until(flag_set, &l.done, 3000), "list done");
    CHECK(l.status == 0 && l.n == 3, "history %zu", l.n);
    CHECK(l.revs[0] == p.rev && l.revs[2] == p.rev - 2, "history order");
    d = get_rev(nb, first);
    CHECK(d.status == GW_ENOENT, "trimmed revision still there: %d", d.status);
    d = get_rev(nb, 999999);
    CHECK(d.status == GW_ENOENT, "missing revision: %d", d.status);
    CHECK(run_until(rev_seen, &p.rev, 3000), "b event for last");
    printf("step revisions: rev %llu..%llu, WAIT saw 1 replica, events ok\n",
           (unsigned long long)first, (unsigned long long)p.rev);
}

static void step_heartbeats(void)
{
    int a[2] = {0}, b[2] = {0};
    struct nodes_res r = {0};

    CHECK(cp_store_heartbeat(na->s, "node-a", "control", "{\"x\":1}", 10000,
                             done_cb, a) == 0,
          "hb a");
    CHECK(cp_store_heartbeat(nb->s, "node-b", "data", "{}", 300, done_cb, b) ==
              0,
          "hb b");
    CHECK(run_until(flag_set, &a[0], 3000) && run_until(flag_set, &b[0], 3000),
          "hb done");
    CHECK(a[1] == 0 && b[1] == 0, "hb status");
    CHECK(cp_store_list_nodes(nb->s, nodes_cb, &r) == 0, "list nodes");
    CHECK(run_until(flag_set, &r.done, 3000), "list nodes done");
    CHECK(r.status == 0 && r.n == 2, "nodes %zu", r.n);
    run_for(600);
    memset(&r, 0, sizeof(r));
    CHECK(cp_store_list_nodes(na->s, nodes_cb, &r) == 0, "list nodes");
    CHECK(run_until(flag_set, &r.done, 3000), "list nodes done");
    CHECK(r.status == 0 && r.n == 1 && strcmp(r.ids[0], "node-a") == 0 &&
              strcmp(r.roles[0], "control") == 0 &&
              strcmp(r.infos[0], "{\"x\":1}") == 0,
          "after ttl: %zu %s", r.n, r.ids[0]);
    printf("step heartbeats: 2 listed, 1 after TTL\n");
}

static int a_sees_b(void *arg)
{
    return na->connected && strcmp(na->leader_id, "node-b") == 0;
}

static int b_stepped_down(void *arg)
{
    return !nb->leader;
}

static int new_leader_after(void *arg)
{
    struct node *l = leader_of();

    return l != NULL && l->epoch > *(uint64_t *)arg;
}

/* The leader dies (its store closes without resigning): the follower takes
 * over once the lease expires, with a higher epoch; the dead leader's epoch
 * is refused. The node comes back as a follower. */
static void step_takeover(struct cluster *c)
{
    uint64_t old = na->epoch, t0 = it_now_ms();
    struct put_res p;

    cp_store_close(na->s);
    na->s = NULL;
    CHECK(run_until(b_took_over, &old, 6000), "b did not take over");
    printf("step takeover: b leader epoch %llu > %llu after %llu ms\n",
           (unsigned long long)nb->epoch, (unsigned long long)old,
           (unsigned long long)(it_now_ms() - t0));
    p = put_at(nb, 1, old, "from-old-leader");
    CHECK(p.status == CP_STORE_ESTALE, "stale write: %s",
          cp_store_strerror(p.status));
    p = put_at(nb, 0, 0, "from-b");
    CHECK(p.status == 0 && p.replicas == 1, "b write: %s",
          cp_store_strerror(p.status));
    node_open(na, "node-a", NULL, c->sentinels, 1);
    CHECK(run_until(flag_set, &na->connected, 5000), "a reconnect");
    CHECK(cp_store_election_start(na->s) == 0, "election a");
    CHECK(run_until(a_sees_b, NULL, 5000), "a does not follow b");
}

/* Another node takes the lease (and a new epoch) behind the leader's back:
 * the leader steps down at its next renew and its epoch is refused. */
static void step_lease_stolen(struct cluster *c)
{
    uint64_t old = nb->epoch, t0 = it_now_ms();
    struct put_res p;
    redisReply *r;

    r = it_cmd(c->master_port, "EVAL %s 2 it:leader it:epoch",
               "redis.call('SET', KEYS[1], 'node-x', 'PX', 2500) "
               "return redis.call('INCR', KEYS[2])");
    CHECK(r != NULL && r->type == REDIS_REPLY_INTEGER, "steal lease");
    freeReplyObject(r);
    CHECK(run_until(b_stepped_down, NULL, 3000), "b did not step down");
    printf("step lease stolen: b stepped down after %llu ms\n",
           (unsigned long long)(it_now_ms() - t0));
    CHECK(cp_store_put_revision(nb->s, "x", 1, put_cb, &p) ==
              CP_STORE_ENOTLEADER,
          "b still writes as leader");
    p = put_at(nb, 1, old, "from-deposed");
    CHECK(p.status == CP_STORE_ESTALE, "deposed write: %s",
          cp_store_strerror(p.status));
    old++;
    CHECK(run_until(new_leader_after, &old, 6000), "no leader after node-x");
    printf("step lease stolen: %s leader epoch %llu after %llu ms\n",
           leader_of()->id, (unsigned long long)leader_of()->epoch,
           (unsigned long long)(it_now_ms() - t0));
}

static void step_client_kill(struct cluster *c)
{
    int ups_a = na->ups, ups_b = nb->ups;
    uint64_t t0 = it_now_ms();
    struct put_res p;
    redisReply *r;

    r = it_cmd(c->master_port, "CLIENT KILL TYPE normal");
    freeReplyObject(r);
    r = it_cmd(c->master_port, "CLIENT KILL TYPE pubsub");
    freeReplyObject(r);
    run_for(50);
    CHECK(run_until(both_connected, NULL, 5000), "no reconnect");
    CHECK(na->ups > ups_a && nb->ups > ups_b, "not reconnected: %d %d", na->ups,
          nb->ups);
    printf("step client kill: reconnected in %llu ms\n",
           (unsigned long long)(it_now_ms() - t0));
    CHECK(run_until(any_leader, NULL, 5000), "no leader after kill");
    p = put_at(leader_of(), 0, 0, "after-kill");
    CHECK(p.status == 0, "write after kill: %s", cp_store_strerror(p.status));
}

struct ok_write {
    int ok;
    uint64_t t_ok;
    struct put_res res;
};

static int write_succeeds(void *arg)
{
    struct ok_write *w = arg;
    struct node *l = leader_of();

    if (l == NULL || !l->connected)
        return 0;
    w->res = put_at(l, 0, 0, "after-failover");
    if (w->res.status != 0)
        return 0;
    w->t_ok = it_now_ms();
    return 1;
}

static void step_failover(struct cluster *c)
{
    struct node *old_leader = leader_of();
    uint64_t old_epoch = old_leader ? old_leader->epoch : 0, t0, t_conn;
    int newm = c->replica_port, oldm = c->master_port;
    struct ok_write w = {0};
    struct put_res p;
    char buf[32];

    CHECK(old_leader != NULL, "no leader before failover");
    t0 = it_now_ms();
    it_kill9(c->master_pid);
    CHECK(run_until(both_on_port, &newm, 20000),
          "stores not on the new master (a=%s b=%s)", na->master, nb->master);
    t_conn = it_now_ms();
    /* give the new master a replica: the old port comes back as one */
    c->master_pid = start_redis(oldm, newm, "old-master.log");
    c->master_port = newm;
    c->replica_port = oldm;
    CHECK(it_wait_ping(oldm, 5000) == 0, "old master restarted");
    CHECK(run_until(write_succeeds, &w, 20000), "no write after failover");
    printf("step failover: kill -9 -> stores on new master %llu ms -> "
           "replicated write %llu ms (status %d, replicas %d)\n",
           (unsigned long long)(t_conn - t0), (unsigned long long)(w.t_ok - t0),
           w.res.status, w.res.replicas);
    CHECK(w.res.replicas >= 1, "replicas");
    struct node *l = leader_of();
    CHECK(!(na->leader && nb->leader), "two leaders");
    printf("step failover: leader %s epoch %llu (before: %s epoch %llu)\n",
           l->id, (unsigned long long)l->epoch, old_leader->id,
           (unsigned long long)old_epoch);
    CHECK(l->epoch >= old_epoch, "epoch went back");
    CHECK(it_cmd_str(newm, buf, sizeof(buf), "GET it:epoch") == 0 &&
              strtoull(buf, NULL, 10) == l->epoch,
          "epoch key %s", buf);
    if (l->epoch != old_epoch) {
        p = put_at(l, 1, old_epoch, "stale");
        CHECK(p.status == CP_STORE_ESTALE, "old epoch after failover: %s",
              cp_store_strerror(p.status));
    }
    p = put_at(l, 1, l->epoch + 1, "future");
    CHECK(p.status == CP_STORE_ESTALE, "wrong epoch accepted");
    CHECK(run_until(rev_seen, &w.res.rev, 5000), "b did not see rev %llu",
          (unsigned long long)w.res.rev);
}

/* --redis H:P: the master connects; the replica never does (ROLE check,
 * retried every ~250 ms). */
static void step_plain(struct cluster *c)
{
    struct node pm, pr;
    char m[32], r[32];

    snprintf(m, sizeof(m), "127.0.0.1:%d", c->master_port);
    snprintf(r, sizeof(r), "127.0.0.1:%d", c->replica_port);
    CHECK(wait_link_up(c->replica_port, 10000) == 0, "replica linked");
    node_open(&pm, "plain-m", m, NULL, 1);
    node_open(&pr, "plain-r", r, NULL, 1);
    CHECK(run_until(flag_set, &pm.connected, 5000), "plain master connect");
    CHECK(strcmp(cp_store_master(pm.s), m) == 0, "master %s",
          cp_store_master(pm.s));
    run_for(1500);
    CHECK(!pr.connected && pr.ups == 0, "connected to a replica");
    cp_store_close(pm.s);
    cp_store_close(pr.s);
    run_for(50);
    printf("step plain: master ok, replica refused by ROLE\n");
}

/* ==== liveness: frozen peers (SIGSTOP: no RST, no FIN) ==== */

/* Tries a write as the leader every 200 ms for up to <ms> until its status
 * is <want>; returns the ms it took, or -1. */
static long write_until(int want, unsigned ms)
{
    uint64_t t0 = it_now_ms();
    struct put_res p;
    struct node *l;

    while (it_now_ms() - t0 < ms) {
        run_for(200);
        l = leader_of();
        if (l == NULL || !l->connected)
            continue;
        p = put_at(l, 0, 0, "liveness");
        if (p.status == want)
            return (long)(it_now_ms() - t0);
    }
    return -1;
}

/* Two of the three sentinels freeze: their subscriptions go quiet without
 * an error. PING finds them dead, so fewer than a majority can be heard
 * and writes are refused; after SIGCONT they are heard again. */
static void step_sentinels_frozen(struct cluster *c)
{
    long ms;

    CHECK(write_until(0, 5000) >= 0, "no write before the freeze");
    kill(c->sent_pid[0], SIGSTOP);
    kill(c->sent_pid[1], SIGSTOP);
    ms = write_until(CP_STORE_ENOSENTINEL, 6000);
    kill(c->sent_pid[0], SIGCONT);
    kill(c->sent_pid[1], SIGCONT);
    CHECK(ms >= 0, "frozen sentinels still counted as heard");
    printf("step sentinels frozen: writes refused after %ld ms\n", ms);
    ms = write_until(0, 5000);
    CHECK(ms >= 0, "writes not back after SIGCONT");
    printf("step sentinels frozen: writes back %ld ms after SIGCONT\n", ms);
}

struct rev_wait {
    struct node *n;
    uint64_t rev;
};

static int node_has_rev(void *arg)
{
    struct rev_wait *w = arg;

    return w->n->connected && w->n->last_rev >= w->rev;
}

static int node_down(void *arg)
{
    return !((struct node *)arg)->connected;
}

/* A lone redis-server freezes under an idle node (no election: nothing
 * but PING on its links). The node notices within ping + ping timeout,
 * reconnects after SIGCONT and re-reads the current revision, which was
 * set without an event (a missed one) before the freeze. */
static void step_master_frozen(void)
{
    int port = it_free_port();
    struct rev_wait w;
    struct node f;
    char addr[32];
    uint64_t t0;
    redisReply *r;
    pid_t pid;

    pid = start_redis(port, 0, "frozen.log");
    CHECK(it_wait_ping(port, 5000) == 0, "frozen redis up");
    snprintf(addr, sizeof(addr), "localhost:%d", port); /* a name */
    node_open(&f, "frozen", addr, NULL, -1);
    CHECK(run_until(flag_set, &f.connected, 5000), "connect");
    r = it_cmd(port, "SET it:current 5");
    freeReplyObject(r);
    r = it_cmd(port, "PUBLISH it:events %s", "revision 5");
    CHECK(r != NULL && r->type == REDIS_REPLY_INTEGER && r->integer == 1,
          "one subscriber");
    freeReplyObject(r);
    w = (struct rev_wait){&f, 5};
    CHECK(run_until(node_has_rev, &w, 3000), "event 5 not heard");
    r = it_cmd(port, "SET it:current 6"); /* no event: missed */
    freeReplyObject(r);
    run_for(300);
    CHECK(f.last_rev == 5, "heard %llu without an event",
          (unsigned long long)f.last_rev);

    t0 = it_now_ms();
    kill(pid, SIGSTOP);
    CHECK(run_until(node_down, &f, 5500), "freeze not noticed");
    printf("step master frozen: noticed after %llu ms\n",
           (unsigned long long)(it_now_ms() - t0));
    run_for(1000); /* reconnect attempts against the frozen server */
    CHECK(!f.connected, "connected to a frozen server");
    kill(pid, SIGCONT);
    t0 = it_now_ms();
    w.rev = 6;
    CHECK(run_until(node_has_rev, &w, 5000), "revision 6 not re-read (%llu)",
          (unsigned long long)f.last_rev);
    printf("step master frozen: back with revision 6 %llu ms after "
           "SIGCONT\n",
           (unsigned long long)(it_now_ms() - t0));
    r = it_cmd(port, "PUBLISH it:events %s", "revision 7");
    freeReplyObject(r);
    w.rev = 7;
    CHECK(run_until(node_has_rev, &w, 3000), "event 7 not heard");
    CHECK(f.ups == 2 && f.downs == 1, "ups %d downs %d", f.ups, f.downs);
    cp_store_close(f.s);
    run_for(50);
    it_kill9(pid);
}

/* ==== host names ==== */

static void gap_tick(uv_timer_t *t)
{
    uint64_t *last = t->data, now = it_now_ms();

    if (now - last[0] > last[1])
        last[1] = now - last[0];
    last[0] = now;
}

/* A name that does not resolve: the lookup runs off the loop (a timer at
 * 10 ms keeps its pace whatever the resolver does) and the store says why
 * it cannot connect. */
static void step_bad_name(void)
{
    uint64_t gap[2] = {it_now_ms(), 0};
    uv_timer_t t;
    struct node n;
    const char *why;

    uv_timer_init(&loop, &t);
    t.data = gap;
    uv_timer_start(&t, gap_tick, 10, 10);
    node_open(&n, "badname", "no-such-host.invalid:6379", NULL, -1);
    run_for(1500);
    why = cp_store_last_error(n.s);
    printf("step bad name: max loop gap %llu ms, last error \"%s\"\n",
           (unsigned long long)gap[1], why);
    CHECK(!n.connected, "connected to nothing");
    CHECK(gap[1] < 200, "the loop stalled %llu ms", (unsigned long long)gap[1]);
    CHECK(strstr(why, "host name") != NULL, "last error: %s", why);
    cp_store_close(n.s);
    uv_close((uv_handle_t *)&t, NULL);
    run_for(50);
}

/* ==== embedded ==== */

static pid_t fake_leftover(const char *dir)
{
    char sock[200], pidfile[200], line[32];
    char *argv[] = {"redis-server", "--port", "0", "--unixsocket",
                    sock,           "--save", "",  "--appendonly",
                    "no",           NULL};
    pid_t pid;
    FILE *f;

    mkdir(dir, 0700);
    snprintf(sock, sizeof(sock), "%s/redis.sock", dir);
    snprintf(pidfile, sizeof(pidfile), "%s/redis.pid", dir);
    pid = it_spawn("leftover.log", argv);
    for (int i = 0; i < 200 && access(sock, F_OK) != 0; i++)
        it_sleep_ms(20);
    CHECK(access(sock, F_OK) == 0, "leftover socket");
    f = fopen(pidfile, "w");
    CHECK(f != NULL, "pidfile");
    snprintf(line, sizeof(line), "%d\n", (int)pid);
    fputs(line, f);
    fclose(f);
    return pid;
}

static void step_embedded(const char *tmp)
{
    struct cp_store_embedded_config cfg = {0};
    struct cp_store_embedded *e = NULL;
    char dir[128], err[CM_ERR_LEN], pidfile[160];
    struct node n;
    struct put_res p;
    pid_t left, pid;
    int st;

    snprintf(dir, sizeof(dir), "%s/emb", tmp);
    snprintf(pidfile, sizeof(pidfile), "%s/redis.pid", dir);
    left = fake_leftover(dir);
    cfg.data_dir = dir;
    CHECK(cp_store_embedded_start(&cfg, &e, err, sizeof(err)) == 0,
          "embedded start: %s", err);
    pid = cp_store_embedded_pid(e);
    it_track(pid);
    CHECK(cp_store_embedded_leftover(e) == left, "leftover not detected");
    CHECK(waitpid(left, &st, 0) == left, "reap leftover");
    it_untrack(left);
    CHECK(kill(left, 0) == -1, "leftover still alive");
    CHECK(access(pidfile, F_OK) == 0, "pidfile");

    na = &n; /* predicates read na */
    node_open(&n, "solo", cp_store_embedded_addr(e), NULL, -1);
    CHECK(run_until(flag_set, &n.connected, 5000), "embedded connect");
    CHECK(cp_store_election_start(n.s) == 0, "election");
    CHECK(run_until(flag_set, &n.leader, 3000), "solo leader");
    p = put_at(&n, 0, 0, "solo-doc");
    CHECK(p.status == 0 && p.replicas == 0, "embedded put %d", p.status);
    cp_store_close(n.s);
    run_for(50);

    cp_store_embedded_stop(e);
    it_untrack(pid);
    CHECK(kill(pid, 0) == -1, "embedded still alive");
    CHECK(access(pidfile, F_OK) != 0, "pidfile left behind");
    printf("step embedded: started pid %d, killed leftover %d, stopped\n",
           (int)pid, (int)left);
}

int main(void)
{
    struct cluster c = {0};
    struct node a, b;
    uint64_t t0 = it_now_ms();
    const char *tmp = it_setup();

    setvbuf(stdout, NULL, _IOLBF, 0);
    setenv("IT_DIR", tmp, 1);
    cm_log_set_level(getenv("IT_DEBUG") ? CM_LOG_DEBUG : CM_LOG_WARN);
    CHECK(uv_loop_init(&loop) == 0, "loop");
    uv_timer_init(&loop, &ticker);
    uv_timer_start(&ticker, tick, 10, 10);

    cluster_start(&c);
    na = &a;
    nb = &b;
    node_open(&a, "node-a", NULL, c.sentinels, 1);
    node_open(&b, "node-b", NULL, c.sentinels, 1);
    step_connect(&c);
    step_election(&c);
    step_revisions(&c);
    step_heartbeats();
    step_takeover(&c);
    step_lease_stolen(&c);
    step_client_kill(&c);
    step_failover(&c);
    step_sentinels_frozen(&c); /* after the failover: they may TILT now */
    step_plain(&c);
    step_master_frozen();
    step_bad_name();
    cp_store_close(a.s);
    cp_store_close(b.s);
    run_for(100);

    step_embedded(tmp);

    uv_close((uv_handle_t *)&ticker, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK(uv_loop_close(&loop) == 0, "handles left open");
    printf("PASS in %llu ms\n", (unsigned long long)(it_now_ms() - t0));
    return 0;
}
