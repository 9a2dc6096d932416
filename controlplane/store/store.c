/*
 * store.c -- the store object and its connection machine: resolve the master
 * (fixed address, or the sentinels in turn), connect, check ROLE, load the
 * scripts, subscribe to events, serve; on any loss drop everything and
 * start over after a backoff (a Sentinel +switch-master, heard by
 * failover.c, restarts at once on the master it names). Host names are
 * looked up off the loop (resolve.c) before hiredis connects.
 * Also the EVALSHA and one-command helpers. Runs on the caller's loop;
 * election.c, revision.c and nodes.c build on it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/err/err.h"
#include "common/log/log.h"
#include "controlplane/store/store_int.h"
#include "controlplane/store/store.h"

#define BACKOFF_BASE_MS 100
#define BACKOFF_CAP_MS  2000
#define ROLE_RETRY_MS   250

static void connect_begin(struct cp_store *s);

/* ==== helpers ==== */

char *cp_store__key(const struct cp_store *s, const char *suffix)
{
    size_t a = strlen(s->prefix), b = strlen(suffix);
    char *k = malloc(a + b + 1);

    if (k != NULL) {
        memcpy(k, s->prefix, a);
        memcpy(k + a, suffix, b + 1);
    }
    return k;
}

static uint32_t store_rand(struct cp_store *s)
{
    uint32_t x = s->rnd; /* xorshift32 */

    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    s->rnd = x;
    return x;
}

static void store_free(struct cp_store *s)
{
    free(s->prefix);
    free(s->node_id);
    free(s->master_name);
    free(s->k_leader);
    free(s->k_epoch);
    free(s->k_revision);
    free(s->k_current);
    free(s->k_history);
    free(s->k_rev);
    free(s->k_events);
    free(s->k_node);
    free(s->k_admin);
    free(s->k_ca);
    free(s->k_tokens);
    free(s->k_revoked);
    if (s->password != NULL) {
        explicit_bzero(s->password, strlen(s->password));
        free(s->password);
    }
    free(s);
}

void cp_store__handle_closed(struct cp_store *s)
{
    if (--s->open_handles == 0)
        store_free(s);
}

static void handle_closed(uv_handle_t *h)
{
    cp_store__handle_closed(h->data);
}

void cp_store__set_error(struct cp_store *s, const char *why)
{
    snprintf(s->last_error, sizeof(s->last_error), "%s", why);
}

int cp_store__ready(const struct cp_store *s)
{
    return s->phase == CP_STORE__READY && cp_store__conn_up(&s->cmd);
}

/* ==== failure and retry ==== */

static void retry_fire(uv_timer_t *t)
{
    connect_begin(t->data);
}

/* Drops the master connections, tells the owner if it was connected and
 * retries after <delay_ms>. */
static void store_fail(struct cp_store *s, int code, const char *why,
                       unsigned delay_ms)
{
    int was_ready = s->phase == CP_STORE__READY;

    if (s->phase == CP_STORE__CLOSED || s->phase == CP_STORE__IDLE)
        return;
    cm_log_info(CP_STORE__MOD, "master_down",
                "master=%s why=\"%s\" code=%d retry_ms=%u", s->master_str, why,
                code, delay_ms);
    if (code != CP_STORE_EAUTH) /* conn.c said more already */
        snprintf(s->last_error, sizeof(s->last_error), "%s: %s: %s",
                 s->master_str, why, cp_store_strerror(code));
    s->phase = CP_STORE__WAIT;
    cp_store__conn_drop(&s->squery, code);
    cp_store__conn_drop(&s->sub, code);
    cp_store__conn_drop(&s->cmd, code);
    if (s->phase == CP_STORE__CLOSED)
        return; /* a failed operation's callback closed the store */
    uv_timer_start(&s->retry_timer, retry_fire, delay_ms, 0);
    if (was_ready && s->cbs.state != NULL)
        s->cbs.state(s, 0, s->master_str, s->cbs.arg);
}

void cp_store__master_fail(struct cp_store *s, int code, const char *why)
{
    unsigned d = cp_store_backoff_ms(s->attempt, BACKOFF_BASE_MS,
                                     BACKOFF_CAP_MS, store_rand(s));

    if (s->attempt < 16)
        s->attempt++;
    store_fail(s, code, why, d);
}

static void master_lost(struct cp_store__conn *c, int code)
{
    cp_store__master_fail(c->store, code, "connection lost");
}

/* ==== handshake: ROLE, SCRIPT LOAD, SUBSCRIBE ==== */

static void maybe_ready(struct cp_store *s)
{
    if (s->phase != CP_STORE__HANDSHAKE || s->scripts_pending > 0 ||
        !s->sub_confirmed)
        return;
    s->phase = CP_STORE__READY;
    s->attempt = 0;
    s->session_rev = 0;
    cm_log_info(CP_STORE__MOD, "master_up", "master=%s", s->master_str);
    if (s->cbs.state != NULL)
        s->cbs.state(s, 1, s->master_str, s->cbs.arg);
    if (s->phase != CP_STORE__READY)
        return; /* the owner closed us */
    cp_store__revision_reread(s);
    cp_store__election_ready(s);
}

static void sub_push(struct cp_store__conn *c, redisReply *r)
{
    struct cp_store *s = c->store;
    redisReply *kind;

    if (r->type != REDIS_REPLY_ARRAY || r->elements < 3)
        return;
    kind = r->element[0];
    if (kind->type != REDIS_REPLY_STRING)
        return;
    if (strcmp(kind->str, "subscribe") == 0) {
        s->sub_confirmed = 1;
        maybe_ready(s);
    } else if (strcmp(kind->str, "message") == 0 &&
               r->element[2]->type == REDIS_REPLY_STRING) {
        cp_store__revision_event(s, r->element[2]->str, r->element[2]->len);
    }
}

static void on_script_loaded(struct cp_store *s, int status, redisReply *r,
                             void *arg)
{
    size_t i = (size_t)(uintptr_t)arg;

    if (status != 0 || s->phase != CP_STORE__HANDSHAKE)
        return;
    if (r->type != REDIS_REPLY_STRING || r->len != 40) {
        store_fail(s, GW_EPROTO, "SCRIPT LOAD failed", BACKOFF_CAP_MS);
        return;
    }
    memcpy(s->sha[i], r->str, 40);
    s->sha[i][40] = '\0';
    s->scripts_pending--;
    maybe_ready(s);
}

static int load_scripts(struct cp_store *s)
{
    const char *argv[3] = {"SCRIPT", "LOAD", NULL};
    int rc;

    s->scripts_pending = CP_STORE__NSCRIPTS;
    for (size_t i = 0; i < CP_STORE__NSCRIPTS; i++) {
        argv[2] = cp_store__script_src[i];
        rc = cp_store__conn_cmd(&s->cmd, s->cmd_timeout_ms, on_script_loaded,
                                (void *)(uintptr_t)i, 3, argv, NULL);
        if (rc != 0)
            return rc;
    }
    return GW_OK;
}

static void on_role(struct cp_store *s, int status, redisReply *r, void *arg)
{
    const char *role = "?";
    int rc;

    if (status != 0 || s->phase != CP_STORE__HANDSHAKE)
        return; /* a loss is handled by master_lost */
    if (r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOAUTH", 6) == 0) {
        snprintf(s->last_error, sizeof(s->last_error),
                 "Redis at %s requires a password (NOAUTH) and none was "
                 "given",
                 s->master_str);
        cm_log_error(CP_STORE__MOD, "redis_auth", "master=%s err=\"%s\"",
                     s->master_str, s->last_error);
        cp_store__master_fail(s, CP_STORE_EAUTH, "password required");
        return;
    }
    if (r->type == REDIS_REPLY_ARRAY && r->elements > 0 &&
        r->element[0]->type == REDIS_REPLY_STRING)
        role = r->element[0]->str;
    if (strcmp(role, "master") != 0) {
        cm_log_info(CP_STORE__MOD, "not_master", "addr=%s role=%s",
                    s->master_str, role);
        store_fail(s, GW_EPROTO, "ROLE is not master", ROLE_RETRY_MS);
        return;
    }
    rc = load_scripts(s);
    if (rc == 0)
        rc = cp_store__conn_connect(&s->sub, &s->master);
    if (rc == 0)
        rc = cp_store__conn_subscribe(&s->sub, s->k_events, s->cmd_timeout_ms);
    if (rc != 0)
        cp_store__master_fail(s, rc, "handshake failed");
}

static void handshake(struct cp_store *s)
{
    const char *argv[1] = {"ROLE"};
    int rc;

    s->phase = CP_STORE__HANDSHAKE;
    s->sub_confirmed = 0;
    s->scripts_pending = CP_STORE__NSCRIPTS;
    cp_store_addr_str(&s->master, s->master_str, sizeof(s->master_str));
    cm_log_debug(CP_STORE__MOD, "connecting", "master=%s", s->master_str);
    rc = cp_store__conn_connect(&s->cmd, &s->master);
    if (rc == 0)
        rc = cp_store__conn_cmd(&s->cmd, s->cmd_timeout_ms, on_role, NULL, 1,
                                argv, NULL);
    if (rc != 0)
        cp_store__master_fail(s, rc, "connect failed");
}

/* ==== Sentinel discovery ==== */

static void query_sentinel(struct cp_store *s);

static void next_sentinel(struct cp_store *s)
{
    s->sentinel_idx = (s->sentinel_idx + 1) % s->nsentinels;
    s->sentinel_tries++;
    query_sentinel(s);
}

static int parse_master_reply(struct cp_store *s, const redisReply *r)
{
    uint64_t port;

    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[0]->type != REDIS_REPLY_STRING ||
        r->element[1]->type != REDIS_REPLY_STRING ||
        r->element[0]->len >= sizeof(s->master.host) ||
        cp_store_parse_u64(r->element[1]->str, r->element[1]->len, &port) !=
            0 ||
        port == 0 || port > 65535)
        return GW_EPROTO;
    memset(&s->master, 0, sizeof(s->master));
    s->master.kind = CP_STORE_ADDR_TCP;
    memcpy(s->master.host, r->element[0]->str, r->element[0]->len + 1);
    s->master.port = (int)port;
    return GW_OK;
}

static void on_sentinel_reply(struct cp_store *s, int status, redisReply *r,
                              void *arg)
{
    if (s->phase != CP_STORE__RESOLVE)
        return;
    if (status == 0 && parse_master_reply(s, r) == 0) {
        cp_store__conn_drop(&s->squery, UV_ECANCELED);
        handshake(s);
        return;
    }
    cm_log_debug(CP_STORE__MOD, "sentinel_no_answer", "idx=%zu status=%d",
                 s->sentinel_idx, status);
    cp_store__conn_drop(&s->squery, UV_ECANCELED);
    next_sentinel(s);
}

static void query_sentinel(struct cp_store *s)
{
    const char *argv[3] = {"SENTINEL", "get-master-addr-by-name",
                           s->master_name};
    int rc;

    if (s->sentinel_tries >= s->nsentinels) {
        cp_store__master_fail(s, GW_ENOENT, "no sentinel named a master");
        return;
    }
    rc = cp_store__conn_connect(&s->squery, &s->sentinels[s->sentinel_idx]);
    if (rc == 0)
        rc = cp_store__conn_cmd(&s->squery, s->sentinel_timeout_ms,
                                on_sentinel_reply, NULL, 3, argv, NULL);
    if (rc != 0) {
        cp_store__conn_drop(&s->squery, UV_ECANCELED);
        next_sentinel(s);
    }
}

static void connect_begin(struct cp_store *s)
{
    if (s->phase == CP_STORE__CLOSED)
        return;
    if (!s->use_sentinel) {
        s->master = s->redis;
        handshake(s);
        return;
    }
    if (s->have_hint) { /* a +switch-master named it: no need to ask */
        s->have_hint = 0;
        s->master = s->hint;
        handshake(s);
        return;
    }
    s->phase = CP_STORE__RESOLVE;
    s->sentinel_tries = 0;
    query_sentinel(s);
}

void cp_store__switch_master(struct cp_store *s, const struct cp_store_addr *a)
{
    s->hint = *a;
    s->have_hint = 1;
    s->attempt = 0;
    store_fail(s, GW_EIO, "+switch-master", 0);
}

/* ==== EVALSHA with EVAL fallback ==== */

struct evalcall {
    struct cp_store *s;
    enum cp_store__script script;
    cp_store__reply_fn fn;
    void *arg;
    unsigned timeout_ms;
    int retried, argc;
    const char **argv;
    size_t *lens;
    char nkeys[16];
};

static int eval_send(struct evalcall *e);

static void eval_reply(struct cp_store *s, int status, redisReply *r, void *arg)
{
    struct evalcall *e = arg;

    if (status == 0 && r->type == REDIS_REPLY_ERROR && !e->retried &&
        strncmp(r->str, "NOSCRIPT", 8) == 0) {
        e->retried = 1;
        status = eval_send(e);
        if (status == 0)
            return;
        r = NULL;
    }
    e->fn(s, status, r, e->arg);
    free(e);
}

static int eval_send(struct evalcall *e)
{
    const char *sha = e->s->sha[e->script];

    if (!e->retried && sha[0] != '\0') {
        e->argv[0] = "EVALSHA";
        e->argv[1] = sha;
    } else {
        e->argv[0] = "EVAL";
        e->argv[1] = cp_store__script_src[e->script];
    }
    e->lens[0] = strlen(e->argv[0]);
    e->lens[1] = strlen(e->argv[1]);
    return cp_store__conn_cmd(&e->s->cmd, e->timeout_ms, eval_reply, e, e->argc,
                              e->argv, e->lens);
}

int cp_store__eval(struct cp_store *s, enum cp_store__script script, int nkeys,
                   int nargs, const char **args, const size_t *lens,
                   unsigned timeout_ms, cp_store__reply_fn fn, void *arg)
{
    size_t bytes = 0, off = 0;
    struct evalcall *e;
    char *data;
    int argc = nargs + 3, rc;

    for (int i = 0; i < nargs; i++)
        bytes += lens[i];
    e = malloc(sizeof(*e) + (size_t)argc * (sizeof(char *) + sizeof(size_t)) +
               bytes + 1);
    if (e == NULL)
        return GW_ENOMEM;
    memset(e, 0, sizeof(*e));
    e->s = s;
    e->script = script;
    e->fn = fn;
    e->arg = arg;
    e->timeout_ms = timeout_ms;
    e->argc = argc;
    e->argv = (const char **)(e + 1);
    e->lens = (size_t *)(e->argv + argc);
    data = (char *)(e->lens + argc);
    snprintf(e->nkeys, sizeof(e->nkeys), "%d", nkeys);
    e->argv[2] = e->nkeys;
    e->lens[2] = strlen(e->nkeys);
    for (int i = 0; i < nargs; i++) {
        memcpy(data + off, args[i], lens[i]);
        e->argv[3 + i] = data + off;
        e->lens[3 + i] = lens[i];
        off += lens[i];
    }
    rc = eval_send(e);
    if (rc != 0)
        free(e);
    return rc;
}

/* ==== public ==== */

static char *dup_or(const char *s, const char *dflt)
{
    return strdup(s != NULL && *s != '\0' ? s : dflt);
}

static int make_keys(struct cp_store *s)
{
    s->k_leader = cp_store__key(s, "leader");
    s->k_epoch = cp_store__key(s, "epoch");
    s->k_revision = cp_store__key(s, "revision");
    s->k_current = cp_store__key(s, "current");
    s->k_history = cp_store__key(s, "history");
    s->k_rev = cp_store__key(s, "rev:");
    s->k_events = cp_store__key(s, "events");
    s->k_node = cp_store__key(s, "node:");
    s->k_admin = cp_store__key(s, "admin:hash");
    s->k_ca = cp_store__key(s, "ca");
    s->k_tokens = cp_store__key(s, "tokens");
    s->k_revoked = cp_store__key(s, "revoked");
    return s->k_leader && s->k_epoch && s->k_revision && s->k_current &&
                   s->k_history && s->k_rev && s->k_events && s->k_node &&
                   s->k_admin && s->k_ca && s->k_tokens && s->k_revoked
               ? GW_OK
               : GW_ENOMEM;
}

static int apply_config(struct cp_store *s, const struct cp_store_config *cfg,
                        char *err, size_t errlen)
{
    if (cfg->node_id == NULL || *cfg->node_id == '\0' ||
        strlen(cfg->node_id) >= CP_STORE_ID_LEN)
        return cm_err_set(err, errlen, GW_EINVAL, "store: bad node id");
    if ((cfg->redis == NULL) == (cfg->sentinels == NULL))
        return cm_err_set(err, errlen, GW_EINVAL,
                          "store: give either --redis or --sentinels");
    if (cfg->redis != NULL && cp_store_parse_addr(cfg->redis, &s->redis) != 0)
        return cm_err_set(err, errlen, GW_EINVAL,
                          "store: bad redis address '%s'", cfg->redis);
    if (cfg->sentinels != NULL &&
        cp_store_parse_sentinels(cfg->sentinels, s->sentinels,
                                 CP_STORE_MAX_SENTINELS, &s->nsentinels) != 0)
        return cm_err_set(err, errlen, GW_EINVAL,
                          "store: bad sentinel list '%s'", cfg->sentinels);
    s->use_sentinel = cfg->sentinels != NULL;
    s->lease_ms = cfg->lease_ms ? cfg->lease_ms : 3000;
    s->margin_ms =
        cfg->lease_margin_ms ? cfg->lease_margin_ms : s->lease_ms / 4;
    if (s->lease_ms < 30 || s->margin_ms >= s->lease_ms)
        return cm_err_set(err, errlen, GW_EINVAL, "store: bad lease/margin");
    s->cmd_timeout_ms = cfg->cmd_timeout_ms ? cfg->cmd_timeout_ms : 1000;
    s->sentinel_timeout_ms =
        cfg->sentinel_timeout_ms ? cfg->sentinel_timeout_ms : 300;
    s->wait_timeout_ms = cfg->wait_timeout_ms ? cfg->wait_timeout_ms : 1000;
    s->wait_replicas = cfg->wait_replicas == 0  ? 1
                       : cfg->wait_replicas < 0 ? 0
                                                : cfg->wait_replicas;
    s->history = cfg->history ? cfg->history : 10;
    s->hold_ms = cfg->failover_hold_ms ? cfg->failover_hold_ms : 5000;
    s->ping_ms = cfg->ping_ms ? cfg->ping_ms : 1000;
    s->ping_timeout_ms = cfg->ping_timeout_ms ? cfg->ping_timeout_ms : 3000;
    s->prefix = dup_or(cfg->prefix, "traefikee:");
    s->node_id = strdup(cfg->node_id);
    s->master_name = dup_or(cfg->master_name, "mymaster");
    if (cfg->password != NULL && *cfg->password != '\0' &&
        (s->password = strdup(cfg->password)) == NULL)
        return cm_err_set(err, errlen, GW_ENOMEM, "store: out of memory");
    if (s->prefix == NULL || s->node_id == NULL || s->master_name == NULL ||
        make_keys(s) != 0)
        return cm_err_set(err, errlen, GW_ENOMEM, "store: out of memory");
    return GW_OK;
}

struct cp_store *cp_store_new(uv_loop_t *loop,
                              const struct cp_store_config *cfg,
                              const struct cp_store_callbacks *cbs, char *err,
                              size_t errlen)
{
    struct cp_store *s = calloc(1, sizeof(*s));

    if (s == NULL) {
        cm_err_set(err, errlen, GW_ENOMEM, "store: out of memory");
        return NULL;
    }
    s->loop = loop;
    if (cbs != NULL)
        s->cbs = *cbs;
    if (apply_config(s, cfg, err, errlen) != 0) {
        store_free(s);
        return NULL;
    }
    s->rnd = (uint32_t)uv_hrtime() ^ ((uint32_t)getpid() << 16) ^ 0x9e3779b9u;
    if (s->rnd == 0)
        s->rnd = 1;
    cp_store__conn_init(&s->cmd, s, "cmd", NULL, master_lost);
    cp_store__conn_init(&s->sub, s, "sub", sub_push, master_lost);
    s->cmd.auth = s->sub.auth = CP_STORE__AUTH_REDIS;
    cp_store__conn_init(&s->squery, s, "sentinel", NULL, NULL);
    s->squery.auth = CP_STORE__AUTH_SENTINEL;
    uv_timer_init(loop, &s->retry_timer);
    s->retry_timer.data = s;
    s->open_handles++;
    cp_store__election_init(s);
    cp_store__failover_init(s);
    return s;
}

int cp_store_start(struct cp_store *s)
{
    if (s->phase != CP_STORE__IDLE)
        return GW_EINVAL;
    s->phase = CP_STORE__WAIT;
    cp_store__failover_start(s);
    connect_begin(s);
    return GW_OK;
}

void cp_store_close(struct cp_store *s)
{
    if (s == NULL || s->phase == CP_STORE__CLOSED)
        return;
    s->phase = CP_STORE__CLOSED;
    cp_store__resolve_close(s);
    cp_store__election_close(s);
    cp_store__conn_close(&s->squery);
    cp_store__failover_close(s);
    cp_store__conn_close(&s->sub);
    cp_store__conn_close(&s->cmd);
    uv_close((uv_handle_t *)&s->retry_timer, handle_closed);
}

int cp_store_connected(const struct cp_store *s)
{
    return cp_store__ready(s);
}

const char *cp_store_master(const struct cp_store *s)
{
    return s->master_str;
}

const char *cp_store_last_error(const struct cp_store *s)
{
    return s->last_error;
}

int cp_store__send(struct cp_store *s, cp_store__reply_fn fn, void *op,
                   int argc, const char **argv)
{
    int rc = cp_store__conn_cmd(&s->cmd, s->cmd_timeout_ms, fn, op, argc, argv,
                                NULL);

    if (rc != 0)
        free(op);
    return rc;
}
