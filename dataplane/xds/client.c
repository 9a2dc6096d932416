/*
 * client.c -- the ADS client: its thread and completion queue, one stream
 * at a time to one control node (delta, or SotW after UNIMPLEMENTED),
 * failover with backoff, response handling (decode, hold, build the
 * candidate table, apply + ACK or NACK), subscriptions, the cache, and the
 * status copy other threads read. Everything but dp_xds_status() and the
 * lifecycle calls runs on the client thread.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>

#include "common/log/log.h"
#include "common/pki/pki_grpc.h"
#include "dataplane/xds/xds.h"
#include "dataplane/xds/xds_int.h"

#define LOG_MOD "xds"
#define TICK_MS 50
/* The cache file is written this long after the last apply (a burst of
 * updates writes it once), and at most this long after the first unsaved
 * one: the write (and its fsync) stays off the way of the next update and
 * off the cores the other data nodes build on meanwhile. */
#define CACHE_QUIET_MS 150
#define CACHE_MAX_MS   1000
#define ADS_DELTA                                                              \
    "/envoy.service.discovery.v3.AggregatedDiscoveryService/"                  \
    "DeltaAggregatedResources"
#define ADS_SOTW                                                               \
    "/envoy.service.discovery.v3.AggregatedDiscoveryService/"                  \
    "StreamAggregatedResources"

enum op_kind { OP_MD, OP_RECV, OP_SEND, OP_STATUS };

struct stream;

struct op_tag {
    struct stream *s;
    enum op_kind kind;
};

struct outmsg {
    grpc_byte_buffer *bb;
    struct outmsg *next;
};

/* One ADS call. Freed once its status arrived and no op is pending. */
struct stream {
    struct dp_xds_client *c;
    grpc_channel *ch;
    grpc_call *call;
    int node; /* index in c->control */
    bool delta;
    struct op_tag t_md, t_recv, t_send, t_status;
    int pending; /* ops in flight */
    bool done;   /* status received */
    grpc_metadata_array md_in, trailers;
    grpc_byte_buffer *recv_buf;
    grpc_status_code status;
    grpc_slice details;
    struct outmsg *q_head, *q_tail;
    grpc_byte_buffer *sending; /* in flight, or NULL */
    bool node_sent;
    bool connected;        /* channel READY seen or a response came */
    int64_t healthy_since; /* monotonic ms */
    bool requested[DP_XDS_TYPE_COUNT];
    char *nonce[DP_XDS_TYPE_COUNT];           /* last received */
    struct cm_strset subs[DP_XDS_TYPE_COUNT]; /* RDS/EDS subscribed */
};

/* Updates of one type waiting for clusters they route to. */
struct held {
    struct dp_xds__update *v;
    size_t n;
    int64_t since;
};

struct dp_xds_client {
    /* options */
    char **control;
    size_t n_control;
    char *node_id, *cache_dir, *admin_addr;
    int workers, cache_wait_ms, sotw_only;
    uint32_t healthy_ms, hold_ms;
    dp_xds_build_cb build;
    dp_xds_apply_cb apply;
    void *ctx;
    struct dp_xds__creds *creds; /* NULL: plain text (--insecure) */
    bool waiting_cert;           /* logged: no certificate yet */
    /* thread */
    pthread_t thread;
    bool started;
    atomic_int stop;
    grpc_completion_queue *cq;
    /* client thread state */
    struct dp_xds__backoff backoff;
    bool *sotw; /* per control node: delta unimplemented */
    int node;
    struct stream *stream;
    int64_t next_attempt, start;
    bool cache_tried, have_config, from_cache;
    int64_t cache_dirty_since, cache_due; /* monotonic ms; 0: saved */
    struct dp_xds__set cur; /* replaced under cur_mu (other threads read) */
    struct held held[DP_XDS_TYPE_COUNT];
    pthread_mutex_t cur_mu;
    /* status copy */
    pthread_mutex_t mu;
    struct dp_xds_status st;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Monotonic microseconds: timing spans in debug logs. */
static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* This thread's CPU time in microseconds (debug logs: work vs waiting for
 * a core). */
static int64_t cpu_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t unix_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void copy_str(char *dst, size_t n, const char *src)
{
    snprintf(dst, n, "%s", src ? src : "");
}

const char *dp_xds_state_name(enum dp_xds_state s)
{
    switch (s) {
    case DP_XDS_CONNECTING:
        return "connecting";
    case DP_XDS_CONNECTED:
        return "connected";
    case DP_XDS_CACHE:
        return "cache";
    default:
        return "none";
    }
}

/* ==== status ==== */

/* Recomputes the shared status from the thread's state. */
static void status_sync(struct dp_xds_client *c)
{
    struct stream *s = c->stream;
    pthread_mutex_lock(&c->mu);
    struct dp_xds_status *st = &c->st;
    if (s != NULL && s->connected)
        st->state = DP_XDS_CONNECTED;
    else if (c->from_cache)
        st->state = DP_XDS_CACHE;
    else
        st->state = DP_XDS_CONNECTING;
    if (s != NULL) {
        copy_str(st->control, sizeof(st->control), c->control[s->node]);
        st->delta = s->delta;
    }
    st->have_config = c->have_config;
    st->from_cache = c->from_cache;
    for (int t = 0; t < DP_XDS_TYPE_COUNT; t++) {
        copy_str(st->version[t], sizeof(st->version[t]), c->cur.version[t]);
        st->n_resources[t] = (uint32_t)c->cur.n[t];
    }
    pthread_mutex_unlock(&c->mu);
}

static void status_nack(struct dp_xds_client *c, const char *msg)
{
    pthread_mutex_lock(&c->mu);
    c->st.updates_rejected++;
    copy_str(c->st.last_nack, sizeof(c->st.last_nack), msg);
    pthread_mutex_unlock(&c->mu);
}

static void status_count(struct dp_xds_client *c, uint64_t *field)
{
    pthread_mutex_lock(&c->mu);
    (*field)++;
    if (field == &c->st.updates_applied)
        c->st.last_update_ms = unix_ms();
    pthread_mutex_unlock(&c->mu);
}

int dp_xds_with_resources(struct dp_xds_client *c,
                          int (*fn)(const struct dp_xds_resources *res,
                                    void *arg),
                          void *arg)
{
    struct dp_xds_resources res;
    struct dp_xds__set copy;
    void *storage = NULL;
    int rc;
    /* the lock only for taking references: <fn> runs on a copy of the set
     * (resources are immutable and refcounted), so a /config_dump of 10k
     * routes (~30 ms) does not hold up the next apply */
    pthread_mutex_lock(&c->cur_mu);
    rc = c->have_config ? dp_xds__set_copy(&copy, &c->cur) : GW_ENOENT;
    pthread_mutex_unlock(&c->cur_mu);
    if (rc != 0)
        return rc;
    if ((rc = dp_xds__set_resources(&copy, &res, &storage)) == 0)
        rc = fn(&res, arg);
    free(storage);
    dp_xds__set_deinit(&copy);
    return rc;
}

struct dp_xds__creds *dp_xds__client_creds(struct dp_xds_client *c)
{
    return c->creds;
}

void dp_xds_status(struct dp_xds_client *c, struct dp_xds_status *out)
{
    pthread_mutex_lock(&c->mu);
    *out = c->st;
    pthread_mutex_unlock(&c->mu);
    out->tls = c->creds != NULL;
    if (c->creds != NULL)
        dp_xds__creds_status(c->creds, &out->cert_not_after, out->cert_error,
                             sizeof(out->cert_error));
}

/* ==== sending ==== */

static grpc_byte_buffer *bb_from(uint8_t *data, size_t len)
{
    grpc_slice sl = grpc_slice_from_copied_buffer((const char *)data, len);
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&sl, 1);
    grpc_slice_unref(sl);
    free(data);
    return bb;
}

static void pump(struct stream *s)
{
    if (s->sending != NULL || s->q_head == NULL || s->done)
        return;
    struct outmsg *m = s->q_head;
    s->q_head = m->next;
    if (s->q_head == NULL)
        s->q_tail = NULL;
    grpc_op op;
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_SEND_MESSAGE;
    op.data.send_message.send_message = m->bb;
    s->sending = m->bb;
    free(m);
    if (grpc_call_start_batch(s->call, &op, 1, &s->t_send, NULL) ==
        GRPC_CALL_OK)
        s->pending++;
    else {
        grpc_byte_buffer_destroy(s->sending);
        s->sending = NULL;
    }
}

/* Queues <data> (takes) on <s>. */
static int enqueue(struct stream *s, uint8_t *data, size_t len)
{
    struct outmsg *m = calloc(1, sizeof(*m));
    if (m == NULL) {
        free(data);
        return GW_ENOMEM;
    }
    m->bb = bb_from(data, len);
    if (s->q_tail != NULL)
        s->q_tail->next = m;
    else
        s->q_head = m;
    s->q_tail = m;
    pump(s);
    return GW_OK;
}

static const struct dp_xds__node *node_once(struct stream *s,
                                            struct dp_xds__node *n)
{
    if (s->node_sent)
        return NULL;
    s->node_sent = true;
    n->id = s->c->node_id;
    n->admin_addr = s->c->admin_addr;
    n->workers = s->c->workers;
    return n;
}

/* ACK (<nack> NULL) or NACK of <nonce> for type <t>. */
static void send_answer(struct stream *s, enum dp_xds_type t,
                        const char *version, const char *nonce,
                        const char *nack)
{
    struct dp_xds__node n;
    const struct dp_xds__node *np = node_once(s, &n);
    uint8_t *out;
    size_t len;
    int rc;
    if (s->delta)
        rc =
            dp_xds__req_delta(t, NULL, NULL, NULL, nonce, np, nack, &out, &len);
    else
        rc = dp_xds__req_sotw(t, &s->subs[t], version, nonce, np, nack, &out,
                              &len);
    if (rc == 0)
        (void)enqueue(s, out, len);
}

/* Brings the stream's RDS/EDS subscriptions in line with what the held
 * listeners and clusters name. */
static void send_subs(struct dp_xds_client *c, struct stream *s)
{
    static const enum dp_xds_type types[] = {DP_XDS_ENDPOINT, DP_XDS_SECRET,
                                             DP_XDS_ROUTE};
    struct cm_strset want = {0}, add = {0}, del = {0};
    for (size_t k = 0; k < 3; k++) {
        enum dp_xds_type t = types[k];
        if (dp_xds__set_subs(&c->cur, t, &want) != 0 ||
            cm_strset_equal(&want, &s->subs[t]) ||
            (!s->requested[t] && want.n == 0))
            continue;
        if (cm_strset_diff(&add, &want, &s->subs[t]) != 0 ||
            cm_strset_diff(&del, &s->subs[t], &want) != 0)
            continue;
        struct dp_xds__node n;
        const struct dp_xds__node *np = node_once(s, &n);
        uint8_t *out;
        size_t len;
        int rc;
        if (s->delta)
            rc = dp_xds__req_delta(t, &add, &del,
                                   s->requested[t] ? NULL : &c->cur, NULL, np,
                                   NULL, &out, &len);
        else
            rc = dp_xds__req_sotw(t, &want, c->cur.version[t], s->nonce[t], np,
                                  NULL, &out, &len);
        if (rc != 0 || cm_strset_copy(&s->subs[t], &want) != 0)
            continue;
        s->requested[t] = true;
        cm_log_debug(LOG_MOD, "subscribe",
                     "type=%s names=%zu added=%zu "
                     "removed=%zu",
                     dp_xds_type_short(t), want.n, add.n, del.n);
        (void)enqueue(s, out, len);
    }
    cm_strset_deinit(&want);
    cm_strset_deinit(&add);
    cm_strset_deinit(&del);
}

/* The current set changed: save it once updates pause (CACHE_QUIET_MS),
 * or CACHE_MAX_MS after the first unsaved change at the latest. */
static void cache_later(struct dp_xds_client *c)
{
    int64_t now = now_ms();
    if (c->cache_dir == NULL)
        return;
    if (c->cache_dirty_since == 0)
        c->cache_dirty_since = now;
    c->cache_due = now + CACHE_QUIET_MS;
    if (c->cache_due > c->cache_dirty_since + CACHE_MAX_MS)
        c->cache_due = c->cache_dirty_since + CACHE_MAX_MS;
}

/* The first requests of a stream: LDS and CDS wildcards with the versions
 * held, then RDS/EDS for what the held resources name. */
static void send_initial(struct dp_xds_client *c, struct stream *s)
{
    static const enum dp_xds_type types[] = {DP_XDS_CLUSTER, DP_XDS_LISTENER};
    struct cm_strset star = {0};
    if (cm_strset_add(&star, "*") != 0)
        return;
    for (size_t k = 0; k < 2; k++) {
        enum dp_xds_type t = types[k];
        struct dp_xds__node n;
        const struct dp_xds__node *np = node_once(s, &n);
        uint8_t *out;
        size_t len;
        int rc = s->delta ? dp_xds__req_delta(t, &star, NULL, &c->cur, NULL, np,
                                              NULL, &out, &len)
                          : dp_xds__req_sotw(t, NULL, c->cur.version[t], "", np,
                                             NULL, &out, &len);
        s->requested[t] = true;
        if (rc == 0)
            (void)enqueue(s, out, len);
    }
    cm_strset_deinit(&star);
    send_subs(c, s);
}

static void mark_connected(struct dp_xds_client *c, struct stream *s)
{
    s->connected = true;
    s->healthy_since = now_ms();
    /* The server now pushes whatever differs from what we hold (delta
     * answers nothing when nothing does): the config is live again. */
    c->from_cache = false;
    status_count(c, &c->st.connects);
    cm_log_info(LOG_MOD, "connected", "control=%s protocol=%s",
                c->control[s->node], s->delta ? "delta" : "sotw");
}

/* ==== applying ==== */

static void log_apply(struct dp_xds_client *c, const char *src)
{
    const struct dp_xds__set *s = &c->cur;
    char q[DP_XDS_TYPE_COUNT][DP_XDS_VER_LEN + 8];
    const char *v[DP_XDS_TYPE_COUNT];
    for (int t = 0; t < DP_XDS_TYPE_COUNT; t++)
        v[t] = cm_log_quote(q[t], sizeof(q[t]),
                            s->version[t] ? s->version[t] : "");
    cm_log_info(LOG_MOD, "apply",
                "source=%s cds=%s eds=%s lds=%s rds=%s sds=%s clusters=%zu "
                "endpoints=%zu listeners=%zu routes=%zu secrets=%zu",
                src, v[0], v[1], v[2], v[3], v[4], s->n[0], s->n[1], s->n[2],
                s->n[3], s->n[4]);
}

/* Builds a table from <cand>; on success applies it and makes <cand> the
 * current set (taking its contents). Returns 0 or GW_EINVAL with <err>. */
static int build_and_apply(struct dp_xds_client *c, struct dp_xds__set *cand,
                           char *err, size_t len)
{
    struct dp_xds_resources res;
    void *storage = NULL;
    if (dp_xds__set_resources(cand, &res, &storage) != 0)
        return cm_err_set(err, len, GW_ENOMEM, "out of memory");
    err[0] = '\0';
    int64_t t0 = now_us(), c0 = cpu_us();
    struct dp_table *t = c->build(c->ctx, &res, err, len);
    int64_t t1 = now_us(), c1 = cpu_us();
    free(storage);
    if (t == NULL) {
        if (err[0] == '\0')
            cm_err_set(err, len, GW_EINVAL, "table build failed");
        return GW_EINVAL;
    }
    c->apply(c->ctx, t);
    cm_log_debug(LOG_MOD, "timing",
                 "step=build build_us=%lld apply_us=%lld build_cpu_us=%lld",
                 (long long)(t1 - t0), (long long)(now_us() - t1),
                 (long long)(c1 - c0));
    struct dp_xds__set old;
    pthread_mutex_lock(&c->cur_mu);
    old = c->cur;
    c->cur = *cand;
    c->have_config = true;
    pthread_mutex_unlock(&c->cur_mu);
    dp_xds__set_init(cand);
    dp_xds__set_deinit(&old);
    return GW_OK;
}

static void cache_save(struct dp_xds_client *c)
{
    char err[CM_ERR_LEN];
    c->cache_dirty_since = c->cache_due = 0;
    if (c->cache_dir == NULL)
        return;
    int64_t t0 = now_us();
    if (dp_xds__cache_write(c->cache_dir, &c->cur, err, sizeof(err)) != 0)
        cm_log_warn(LOG_MOD, "cache_write_failed", "error=\"%s\"", err);
    cm_log_debug(LOG_MOD, "timing", "step=cache_write us=%lld",
                 (long long)(now_us() - t0));
}

static void held_clear(struct held *h)
{
    for (size_t i = 0; i < h->n; i++)
        dp_xds__update_deinit(&h->v[i]);
    free(h->v);
    memset(h, 0, sizeof(*h));
}

static void nack(struct dp_xds_client *c, struct stream *s, enum dp_xds_type t,
                 const char *nonce, const char *msg)
{
    char q[DP_XDS_MSG_LEN + 8];
    cm_log_warn(LOG_MOD, "nack", "type=%s nonce=%s version_kept=%s error=%s",
                dp_xds_type_short(t), nonce,
                c->cur.version[t] ? c->cur.version[t] : "\"\"",
                cm_log_quote(q, sizeof(q), msg));
    status_nack(c, msg);
    if (s != NULL)
        send_answer(s, t, c->cur.version[t], nonce, msg);
}

enum try_result { TRY_APPLIED, TRY_HELD, TRY_REJECTED };

/* Tries the held updates of <t> on a copy of the current set. */
static enum try_result try_apply(struct dp_xds_client *c, struct stream *s,
                                 enum dp_xds_type t, bool hold_expired)
{
    struct held *h = &c->held[t];
    struct dp_xds__update *last = &h->v[h->n - 1];
    struct dp_xds__set cand;
    char err[CM_ERR_LEN], msg[CM_ERR_LEN + 128];
    int64_t t0 = now_us();
    int rc = dp_xds__set_copy(&cand, &c->cur);
    for (size_t i = 0; rc == 0 && i < h->n; i++)
        rc = dp_xds__set_apply(&cand, &h->v[i]);
    if (rc != 0) {
        dp_xds__set_deinit(&cand);
        return TRY_HELD; /* out of memory: try again later */
    }
    int64_t t1 = now_us();
    rc = dp_xds__set_check_clusters(&cand, err, sizeof(err));
    int64_t t2 = now_us();
    if (rc == GW_ENOENT && !hold_expired) {
        if (h->since == 0) {
            h->since = now_ms();
            status_count(c, &c->st.updates_held);
            cm_log_info(LOG_MOD, "hold", "type=%s version=%s reason=\"%s\"",
                        dp_xds_type_short(t), last->version, err);
        }
        dp_xds__set_deinit(&cand);
        return TRY_HELD;
    }
    if (rc == 0)
        rc = build_and_apply(c, &cand, err, sizeof(err));
    dp_xds__set_deinit(&cand);
    if (rc != 0) {
        snprintf(msg, sizeof(msg), "%s version %s: %s", dp_xds_type_short(t),
                 last->version, err);
        nack(c, s, t, last->nonce, msg);
        held_clear(h);
        return TRY_REJECTED;
    }
    if (s != NULL)
        send_answer(s, t, last->version, last->nonce, NULL);
    int64_t t3 = now_us();
    held_clear(h);
    c->from_cache = false;
    status_count(c, &c->st.updates_applied);
    log_apply(c, "control");
    cache_later(c);
    cm_log_debug(LOG_MOD, "timing",
                 "step=try type=%s copy_us=%lld check_us=%lld "
                 "build_apply_us=%lld cache_us=%lld",
                 dp_xds_type_short(t), (long long)(t1 - t0),
                 (long long)(t2 - t1), (long long)(t3 - t2),
                 (long long)(now_us() - t3));
    if (s != NULL)
        send_subs(c, s);
    return TRY_APPLIED;
}

/* After an apply, held updates of other types may now go through. */
static void retry_held(struct dp_xds_client *c, struct stream *s)
{
    bool again = true;
    while (again) {
        again = false;
        for (int t = 0; t < DP_XDS_TYPE_COUNT; t++)
            if (c->held[t].n > 0 && try_apply(c, s, t, false) == TRY_APPLIED)
                again = true;
    }
}

/* Takes <u>: queues it behind the held updates of its type (SotW: instead
 * of them) and tries them. */
static void on_update(struct dp_xds_client *c, struct stream *s,
                      struct dp_xds__update *u)
{
    struct held *h = &c->held[u->type];
    if (!s->delta)
        held_clear(h);
    struct dp_xds__update *v = realloc(h->v, (h->n + 1) * sizeof(*v));
    if (v == NULL) {
        dp_xds__update_deinit(u);
        return;
    }
    h->v = v;
    h->v[h->n++] = *u;
    if (try_apply(c, s, u->type, false) == TRY_APPLIED)
        retry_held(c, s);
}

static void on_response(struct dp_xds_client *c, struct stream *s,
                        const uint8_t *data, size_t len)
{
    struct dp_xds__update u;
    char err[CM_ERR_LEN], msg[CM_ERR_LEN + 64];
    err[0] = '\0';
    int64_t t0 = now_us(), c0 = cpu_us();
    int rc = s->delta ? dp_xds__update_delta(data, len, &u, err, sizeof(err))
                      : dp_xds__update_sotw(data, len, &u, err, sizeof(err));
    int64_t t1 = now_us(), c1 = cpu_us();
    if (rc == GW_EPROTO || rc == GW_ENOMEM) {
        cm_log_warn(LOG_MOD, "bad_response", "error=\"%s\"", err);
        dp_xds__update_deinit(&u);
        return;
    }
    free(s->nonce[u.type]);
    s->nonce[u.type] = strdup(u.nonce);
    if (!s->connected)
        mark_connected(c, s);
    cm_log_debug(LOG_MOD, "response",
                 "type=%s version=%s nonce=%s n=%zu "
                 "removed=%zu bytes=%zu decode_us=%lld decode_cpu_us=%lld",
                 dp_xds_type_short(u.type), u.version, u.nonce, u.n_upsert,
                 u.n_remove, len, (long long)(t1 - t0), (long long)(c1 - c0));
    if (rc != 0) {
        snprintf(msg, sizeof(msg), "%s version %s: %s",
                 dp_xds_type_short(u.type), u.version, err);
        nack(c, s, u.type, u.nonce, msg);
        dp_xds__update_deinit(&u);
        return;
    }
    on_update(c, s, &u);
}

/* ==== the cache at a cold start ==== */

static void cache_load(struct dp_xds_client *c)
{
    char err[CM_ERR_LEN];
    struct dp_xds__set set;
    c->cache_tried = true;
    dp_xds__set_init(&set);
    int rc = dp_xds__cache_read(c->cache_dir, &set, err, sizeof(err));
    if (rc == 0)
        rc = dp_xds__set_check_clusters(&set, err, sizeof(err));
    if (rc == 0)
        rc = build_and_apply(c, &set, err, sizeof(err));
    dp_xds__set_deinit(&set);
    if (rc != 0) {
        cm_log_warn(LOG_MOD, "cache_unusable", "dir=%s error=\"%s\"",
                    c->cache_dir, err);
        return;
    }
    c->from_cache = true;
    cm_log_info(LOG_MOD, "serving from cache", "dir=%s", c->cache_dir);
    log_apply(c, "cache");
    if (c->stream != NULL && !c->stream->done)
        send_subs(c, c->stream);
    status_sync(c);
}

/* ==== streams ==== */

static void stream_free(struct stream *s)
{
    if (s->call != NULL)
        grpc_call_unref(s->call);
    if (s->ch != NULL)
        grpc_channel_destroy(s->ch);
    while (s->q_head != NULL) {
        struct outmsg *m = s->q_head;
        s->q_head = m->next;
        grpc_byte_buffer_destroy(m->bb);
        free(m);
    }
    if (s->recv_buf != NULL)
        grpc_byte_buffer_destroy(s->recv_buf);
    grpc_metadata_array_destroy(&s->md_in);
    grpc_metadata_array_destroy(&s->trailers);
    grpc_slice_unref(s->details);
    for (int t = 0; t < DP_XDS_TYPE_COUNT; t++) {
        free(s->nonce[t]);
        cm_strset_deinit(&s->subs[t]);
    }
    free(s);
}

static void start_recv(struct stream *s)
{
    grpc_op ops[2];
    size_t n = 0;
    memset(ops, 0, sizeof(ops));
    ops[n].op = GRPC_OP_RECV_MESSAGE;
    ops[n++].data.recv_message.recv_message = &s->recv_buf;
    if (grpc_call_start_batch(s->call, ops, n, &s->t_recv, NULL) ==
        GRPC_CALL_OK)
        s->pending++;
}

static int start_ops(struct stream *s)
{
    grpc_op ops[2];
    memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[1].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[1].data.recv_initial_metadata.recv_initial_metadata = &s->md_in;
    if (grpc_call_start_batch(s->call, ops, 2, &s->t_md, NULL) != GRPC_CALL_OK)
        return GW_EIO;
    s->pending++;
    memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[0].data.recv_status_on_client.trailing_metadata = &s->trailers;
    ops[0].data.recv_status_on_client.status = &s->status;
    ops[0].data.recv_status_on_client.status_details = &s->details;
    if (grpc_call_start_batch(s->call, ops, 1, &s->t_status, NULL) !=
        GRPC_CALL_OK)
        return GW_EIO;
    s->pending++;
    start_recv(s);
    return GW_OK;
}

/* Takes <creds>. */
static grpc_channel *channel_new(const char *target,
                                 grpc_channel_credentials *creds, bool tls)
{
    grpc_arg args[4];
    memset(args, 0, sizeof(args));
    args[0].type = GRPC_ARG_INTEGER;
    args[0].key = GRPC_ARG_KEEPALIVE_TIME_MS;
    args[0].value.integer = 10000;
    args[1].type = GRPC_ARG_INTEGER;
    args[1].key = GRPC_ARG_KEEPALIVE_TIMEOUT_MS;
    args[1].value.integer = 5000;
    args[2].type = GRPC_ARG_INTEGER;
    args[2].key = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
    args[2].value.integer = 64 << 20;
    if (tls) /* any control node of the cluster, whatever its address */
        cm_pki_grpc_target_arg(&args[3]);
    grpc_channel_args ca = {tls ? 4 : 3, args};
    grpc_channel *ch = grpc_channel_create(target, creds, &ca);
    grpc_channel_credentials_release(creds);
    return ch;
}

/* The channel credentials for the next stream: mutual TLS with the
 * current certificate, or plain text. NULL while joining. */
static grpc_channel_credentials *stream_creds(struct dp_xds_client *c)
{
    if (c->creds == NULL)
        return grpc_insecure_credentials_create();
    grpc_channel_credentials *g = dp_xds__creds_grpc(c->creds);
    if (g == NULL && !c->waiting_cert)
        cm_log_info(LOG_MOD, "waiting_for_certificate",
                    "reason=\"joining the cluster\"");
    c->waiting_cert = g == NULL;
    return g;
}

static void stream_start(struct dp_xds_client *c)
{
    grpc_channel_credentials *cr = stream_creds(c);
    if (cr == NULL) {
        c->next_attempt = now_ms() + TICK_MS;
        return;
    }
    struct stream *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        grpc_channel_credentials_release(cr);
        return;
    }
    s->c = c;
    s->node = c->node;
    s->delta = !c->sotw_only && !c->sotw[c->node];
    s->t_md = (struct op_tag){s, OP_MD};
    s->t_recv = (struct op_tag){s, OP_RECV};
    s->t_send = (struct op_tag){s, OP_SEND};
    s->t_status = (struct op_tag){s, OP_STATUS};
    grpc_metadata_array_init(&s->md_in);
    grpc_metadata_array_init(&s->trailers);
    s->details = grpc_empty_slice();
    s->ch = channel_new(c->control[c->node], cr, c->creds != NULL);
    grpc_slice m =
        grpc_slice_from_static_string(s->delta ? ADS_DELTA : ADS_SOTW);
    s->call = grpc_channel_create_call(
        s->ch, NULL, GRPC_PROPAGATE_DEFAULTS, c->cq, m, NULL,
        gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    grpc_slice_unref(m);
    c->stream = s;
    cm_log_info(LOG_MOD, "connecting", "control=%s protocol=%s tls=%s",
                c->control[s->node], s->delta ? "delta" : "sotw",
                c->creds != NULL ? "mutual" : "off");
    if (s->call == NULL || start_ops(s) != 0) {
        s->done = true;
        c->stream = NULL;
        c->next_attempt = now_ms() + dp_xds__backoff_next(&c->backoff);
        if (s->pending == 0)
            stream_free(s);
        else if (s->call != NULL)
            grpc_call_cancel(s->call, NULL);
        return;
    }
    send_initial(c, s);
    status_sync(c);
}

/* The stream ended: pick the next control node and when to try it. */
static void stream_ended(struct dp_xds_client *c, struct stream *s)
{
    char *det = grpc_slice_to_c_string(s->details);
    char q[512];
    int64_t now = now_ms();
    cm_log_info(LOG_MOD, "disconnected", "control=%s status=%d details=%s",
                c->control[s->node], (int)s->status,
                cm_log_quote(q, sizeof(q), det));
    gpr_free(det);
    if (c->creds != NULL && (s->status == GRPC_STATUS_UNAUTHENTICATED ||
                             s->status == GRPC_STATUS_PERMISSION_DENIED))
        cm_log_warn(LOG_MOD, "refused",
                    "control=%s status=%d hint=\"this node's certificate is "
                    "not accepted (revoked?): to re-admit the node, delete "
                    "node.crt from its --cache-dir and restart it with a "
                    "current data token\"",
                    c->control[s->node], (int)s->status);
    c->stream = NULL;
    if (s->delta && s->status == GRPC_STATUS_UNIMPLEMENTED && !s->connected) {
        c->sotw[s->node] = true;
        cm_log_info(LOG_MOD, "delta_unimplemented", "control=%s fallback=sotw",
                    c->control[s->node]);
        c->next_attempt = now;
    } else {
        if (s->connected && now - s->healthy_since >= (int64_t)c->healthy_ms)
            dp_xds__backoff_reset(&c->backoff);
        uint32_t delay = dp_xds__backoff_next(&c->backoff);
        int from = c->node;
        c->node = (c->node + 1) % (int)c->n_control;
        c->next_attempt = now + delay;
        status_count(c, &c->st.failovers);
        cm_log_info(LOG_MOD, "failover", "from=%s to=%s delay_ms=%u",
                    c->control[from], c->control[c->node], delay);
    }
    /* updates held for this stream's nonces are void now */
    for (int t = 0; t < DP_XDS_TYPE_COUNT; t++)
        held_clear(&c->held[t]);
    status_sync(c);
}

static void on_recv(struct stream *s, bool ok)
{
    struct dp_xds_client *c = s->c;
    if (!ok || s->recv_buf == NULL || s->done)
        return; /* the status op tells the rest */
    grpc_byte_buffer_reader rd;
    uint8_t *data = NULL;
    size_t len = 0;
    if (grpc_byte_buffer_reader_init(&rd, s->recv_buf)) {
        grpc_slice all = grpc_byte_buffer_reader_readall(&rd);
        len = GRPC_SLICE_LENGTH(all);
        data = malloc(len ? len : 1);
        if (data != NULL && len > 0)
            memcpy(data, GRPC_SLICE_START_PTR(all), len);
        grpc_slice_unref(all);
        grpc_byte_buffer_reader_destroy(&rd);
    }
    grpc_byte_buffer_destroy(s->recv_buf);
    s->recv_buf = NULL;
    if (data != NULL) {
        on_response(c, s, data, len);
        status_sync(c);
    }
    free(data);
    start_recv(s);
}

static void dispatch(struct dp_xds_client *c, struct op_tag *tag, bool ok)
{
    struct stream *s = tag->s;
    s->pending--;
    switch (tag->kind) {
    case OP_RECV:
        on_recv(s, ok);
        break;
    case OP_SEND:
        grpc_byte_buffer_destroy(s->sending);
        s->sending = NULL;
        if (ok)
            pump(s);
        break;
    case OP_STATUS:
        s->done = true;
        grpc_call_cancel(s->call, NULL);
        if (c->stream == s)
            stream_ended(c, s);
        break;
    case OP_MD:
        break;
    }
    if (s->done && s->pending == 0)
        stream_free(s);
}

/* Notices the channel becoming READY (the server may send nothing when
 * the versions we hold are current). */
static void check_connected(struct dp_xds_client *c)
{
    struct stream *s = c->stream;
    if (s == NULL || s->connected || s->done)
        return;
    if (grpc_channel_check_connectivity_state(s->ch, 0) != GRPC_CHANNEL_READY)
        return;
    mark_connected(c, s);
    status_sync(c);
}

/* ==== the thread ==== */

static void timers(struct dp_xds_client *c)
{
    int64_t now = now_ms();
    if (c->stream == NULL && now >= c->next_attempt)
        stream_start(c);
    check_connected(c);
    if (c->cache_dir != NULL && !c->cache_tried && !c->have_config &&
        now - c->start >= c->cache_wait_ms)
        cache_load(c);
    if (c->cache_due != 0 && now >= c->cache_due)
        cache_save(c);
    for (int t = 0; t < DP_XDS_TYPE_COUNT; t++) {
        struct held *h = &c->held[t];
        if (h->n > 0 && now - h->since >= (int64_t)c->hold_ms &&
            try_apply(c, c->stream, (enum dp_xds_type)t, true) == TRY_APPLIED)
            retry_held(c, c->stream);
    }
}

static void drain(struct dp_xds_client *c)
{
    struct stream *s = c->stream;
    if (s != NULL) {
        grpc_call_cancel(s->call, NULL);
        c->stream = NULL;
        /* the status op will free it; mark it no longer current */
    }
    grpc_completion_queue_shutdown(c->cq);
    for (;;) {
        grpc_event ev = grpc_completion_queue_next(
            c->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        if (ev.type == GRPC_QUEUE_SHUTDOWN)
            break;
        if (ev.type == GRPC_OP_COMPLETE) {
            struct op_tag *tag = ev.tag;
            if (tag->kind == OP_STATUS)
                tag->s->done = true;
            dispatch(c, tag, false);
        }
    }
}

static void *thread_main(void *arg)
{
    struct dp_xds_client *c = arg;
    c->start = now_ms();
    c->next_attempt = c->start;
    if (c->cache_dir != NULL && c->cache_wait_ms < 0)
        cache_load(c);
    while (!atomic_load(&c->stop)) {
        timers(c);
        gpr_timespec dl =
            gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                         gpr_time_from_millis(TICK_MS, GPR_TIMESPAN));
        grpc_event ev = grpc_completion_queue_next(c->cq, dl, NULL);
        if (ev.type == GRPC_OP_COMPLETE)
            dispatch(c, ev.tag, ev.success != 0);
    }
    drain(c);
    if (c->cache_due != 0) /* stopping: the last applied set is saved */
        cache_save(c);
    return NULL;
}

/* ==== lifecycle ==== */

static char *dup_opt(const char *s)
{
    return s != NULL && s[0] != '\0' ? strdup(s) : NULL;
}

/* The certificate keeper, when the options ask for mutual TLS. */
static int creds_new(struct dp_xds_client *c, const struct dp_xds_opts *o,
                     char *err, size_t len)
{
    if (o->creds == NULL && (o->join_token == NULL || !o->join_token[0]))
        return GW_OK;
    struct dp_xds__creds_opts ko = {
        .control = c->control,
        .n_control = c->n_control,
        .node_id = c->node_id,
        .dir = c->cache_dir,
        .creds = o->creds,
        .token = o->join_token,
        .timeout_ms = o->pki_timeout_ms,
        .retry_ms = o->creds_retry_ms,
    };
    c->creds = dp_xds__creds_new(&ko, err, len);
    return c->creds != NULL ? GW_OK : GW_EINVAL;
}

struct dp_xds_client *dp_xds_new(const struct dp_xds_opts *o, char *err,
                                 size_t len)
{
    if (o->build == NULL || o->apply == NULL) {
        cm_err_set(err, len, GW_EINVAL, "build and apply callbacks needed");
        return NULL;
    }
    if (o->node_id == NULL || o->node_id[0] == '\0') {
        cm_err_set(err, len, GW_EINVAL, "a node id is needed");
        return NULL;
    }
    struct dp_xds_client *c = calloc(1, sizeof(*c));
    if (c == NULL)
        goto nomem;
    int n = dp_xds__parse_control(o->control ? o->control : "", &c->control,
                                  err, len);
    if (n < 0) {
        free(c);
        return NULL;
    }
    c->n_control = (size_t)n;
    c->sotw = calloc(c->n_control, sizeof(*c->sotw));
    c->node_id = strdup(o->node_id);
    c->cache_dir = dup_opt(o->cache_dir);
    c->admin_addr = dup_opt(o->admin_addr);
    if (c->sotw == NULL || c->node_id == NULL ||
        (o->cache_dir && o->cache_dir[0] && c->cache_dir == NULL))
        goto nomem;
    c->workers = o->workers;
    c->cache_wait_ms = o->cache_wait_ms == 0  ? DP_XDS_CACHE_WAIT_MS
                       : o->cache_wait_ms < 0 ? -1
                                              : o->cache_wait_ms;
    c->healthy_ms = o->healthy_ms ? o->healthy_ms : DP_XDS_HEALTHY_MS;
    c->hold_ms = o->hold_ms ? o->hold_ms : DP_XDS_HOLD_MS;
    c->sotw_only = o->sotw_only;
    c->build = o->build;
    c->apply = o->apply;
    c->ctx = o->ctx;
    dp_xds__backoff_init(
        &c->backoff,
        o->backoff_base_ms ? o->backoff_base_ms : DP_XDS_BACKOFF_BASE_MS,
        o->backoff_max_ms ? o->backoff_max_ms : DP_XDS_BACKOFF_MAX_MS,
        (uint64_t)unix_ms() ^ ((uint64_t)getpid() << 32));
    dp_xds__set_init(&c->cur);
    pthread_mutex_init(&c->mu, NULL);
    pthread_mutex_init(&c->cur_mu, NULL);
    copy_str(c->st.control, sizeof(c->st.control), c->control[0]);
    grpc_init();
    c->cq = grpc_completion_queue_create_for_next(NULL);
    if (creds_new(c, o, err, len) != 0) {
        dp_xds_free(c);
        return NULL;
    }
    return c;
nomem:
    if (c != NULL) {
        dp_xds__strv_free(c->control, c->n_control);
        free(c->sotw);
        free(c->node_id);
        free(c->cache_dir);
        free(c->admin_addr);
        free(c);
    }
    cm_err_set(err, len, GW_ENOMEM, "out of memory");
    return NULL;
}

int dp_xds_start(struct dp_xds_client *c)
{
    if (c->started)
        return GW_EINVAL;
    pthread_mutex_lock(&c->mu);
    c->st.state = DP_XDS_CONNECTING;
    pthread_mutex_unlock(&c->mu);
    if (c->creds != NULL && dp_xds__creds_start(c->creds) != 0)
        return GW_EIO;
    int rc = pthread_create(&c->thread, NULL, thread_main, c);
    if (rc != 0)
        return -rc;
    c->started = true;
    return GW_OK;
}

void dp_xds_stop(struct dp_xds_client *c)
{
    if (!c->started)
        return;
    atomic_store(&c->stop, 1);
    pthread_join(c->thread, NULL);
    c->started = false;
    pthread_mutex_lock(&c->mu);
    c->st.state = DP_XDS_NONE;
    pthread_mutex_unlock(&c->mu);
}

void dp_xds_free(struct dp_xds_client *c)
{
    if (c == NULL)
        return;
    if (c->started)
        dp_xds_stop(c);
    else if (!atomic_load(&c->stop)) {
        grpc_completion_queue_shutdown(c->cq);
        while (grpc_completion_queue_next(
                   c->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL)
                   .type != GRPC_QUEUE_SHUTDOWN)
            ;
    }
    grpc_completion_queue_destroy(c->cq);
    dp_xds__creds_free(c->creds); /* stops its thread */
    for (int t = 0; t < DP_XDS_TYPE_COUNT; t++)
        held_clear(&c->held[t]);
    dp_xds__set_deinit(&c->cur);
    dp_xds__strv_free(c->control, c->n_control);
    free(c->sotw);
    free(c->node_id);
    free(c->cache_dir);
    free(c->admin_addr);
    pthread_mutex_destroy(&c->mu);
    pthread_mutex_destroy(&c->cur_mu);
    free(c);
    grpc_shutdown();
}
