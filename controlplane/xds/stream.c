/*
 * stream.c -- the ADS protocol state of one stream, SotW and delta: per type
 * subscriptions (legacy and "*" wildcard, named), the last nonce and whether
 * it was answered, ACK/NACK bookkeeping, what was last sent (a digest of the
 * SotW content; the per-resource versions the delta client holds), and the
 * decision of what to send; the bytes are the snapshot's shared bodies
 * (body.c) plus a nonce. No gRPC here; the caller serialises calls (the CQ
 * or push thread with the server lock held).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log/log.h"
#include "common/strset/strset.h"
#include "controlplane/xds/stream.h"
#include "controlplane/xds/xds-int.h"
#include "controlplane/xds/xds.h"
#include "envoy/service/discovery/v3/discovery.pb-c.h"

/* ==== sorted string sets and name -> version maps ==== */

struct kv {
    char *name;
    char *version;
};

struct kvset {
    struct kv *v; /* sorted by name */
    size_t n, cap;
};

static size_t kv_pos(const struct kvset *set, const char *name, bool *found)
{
    size_t lo = 0, hi = set->n;
    *found = false;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(set->v[mid].name, name);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static const char *kv_get(const struct kvset *set, const char *name)
{
    bool found;
    size_t at = kv_pos(set, name, &found);
    return found ? set->v[at].version : NULL;
}

static int kv_set(struct kvset *set, const char *name, const char *version)
{
    bool found;
    size_t at = kv_pos(set, name, &found);
    char *ver = strdup(version);
    if (ver == NULL)
        return GW_ENOMEM;
    if (found) {
        free(set->v[at].version);
        set->v[at].version = ver;
        return GW_OK;
    }
    if (set->n == set->cap) {
        size_t cap = set->cap ? set->cap * 2 : 4;
        struct kv *v = realloc(set->v, cap * sizeof(*v));
        if (v == NULL) {
            free(ver);
            return GW_ENOMEM;
        }
        set->v = v;
        set->cap = cap;
    }
    char *nm = strdup(name);
    if (nm == NULL) {
        free(ver);
        return GW_ENOMEM;
    }
    memmove(&set->v[at + 1], &set->v[at], (set->n - at) * sizeof(*set->v));
    set->v[at].name = nm;
    set->v[at].version = ver;
    set->n++;
    return GW_OK;
}

static void kv_del(struct kvset *set, const char *name)
{
    bool found;
    size_t at = kv_pos(set, name, &found);
    if (!found)
        return;
    free(set->v[at].name);
    free(set->v[at].version);
    memmove(&set->v[at], &set->v[at + 1], (set->n - at - 1) * sizeof(*set->v));
    set->n--;
}

static void kv_deinit(struct kvset *set)
{
    for (size_t i = 0; i < set->n; i++) {
        free(set->v[i].name);
        free(set->v[i].version);
    }
    free(set->v);
    memset(set, 0, sizeof(*set));
}

/* ==== delta: what a client holds of one type ==== */

/* Mostly "resource i of <base> at its version" for the set bits (after each
 * push the client holds exactly the snapshot's wanted resources), plus
 * <extra> for the rest (initial_resource_versions of a reconnect). A few
 * bytes per stream, and diffs against a new snapshot are merge walks of
 * two name-sorted arrays. */
struct held {
    struct cp_xds_snapshot *base; /* one reference, or NULL */
    uint8_t *bits;                /* one per resource of <base> */
    struct kvset extra;           /* name -> version, not in <bits> */
    bool subs_changed;            /* subscriptions changed since the base */
};

static bool bit_get(const uint8_t *bits, size_t i)
{
    return bits != NULL && (bits[i / 8] >> (i % 8)) & 1;
}

static void bit_clear(uint8_t *bits, size_t i)
{
    bits[i / 8] &= (uint8_t) ~(1u << (i % 8));
}

static void held_deinit(struct held *h)
{
    cp_xds_snapshot_put(h->base);
    free(h->bits);
    kv_deinit(&h->extra);
    memset(h, 0, sizeof(*h));
}

/* Forgets <name>. */
static void held_del(struct held *h, int t, const char *name)
{
    long i = h->base != NULL ? cp_xds_snapshot_find(h->base, t, name) : -1;
    if (i >= 0 && h->bits != NULL)
        bit_clear(h->bits, (size_t)i);
    kv_del(&h->extra, name);
}

/* ==== request decoding ==== */

/* A bump allocator for one decoded request: protobuf-c allocates every
 * name of a request separately (a thousand per EDS ACK); here they share a
 * few chunks, released at once. */
struct arena_chunk {
    struct arena_chunk *next;
    size_t used, cap;
    max_align_t data[];
};

struct arena {
    struct arena_chunk *head;
    size_t next_cap;
};

static void *arena_alloc(void *arg, size_t size)
{
    struct arena *a = arg;
    struct arena_chunk *c = a->head;
    size = (size + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1);
    if (c == NULL || c->cap - c->used < size) {
        size_t cap = size > a->next_cap ? size : a->next_cap;
        if ((c = malloc(sizeof(*c) + cap)) == NULL)
            return NULL;
        c->next = a->head;
        c->used = 0;
        c->cap = cap;
        a->head = c;
        a->next_cap = cap * 2;
    }
    void *p = (uint8_t *)c->data + c->used;
    c->used += size;
    return p;
}

static void arena_free(void *arg, void *p)
{
    (void)arg;
    (void)p; /* all at once in arena_release() */
}

/* An arena sized for a request of <len> bytes. */
static struct arena arena_for(size_t len)
{
    struct arena a = {.head = NULL, .next_cap = 2 * len + 1024};
    return a;
}

static void arena_release(struct arena *a)
{
    while (a->head != NULL) {
        struct arena_chunk *c = a->head;
        a->head = c->next;
        free(c);
    }
}

/* ==== stream state ==== */

/* Caps of the strings kept: the sizes of the copied-out fields. */
#define NODE_CAP(f) sizeof(((struct cp_xds_node_info *)0)->f)
#define TYPE_CAP(f) sizeof(((struct cp_xds_type_info *)0)->f)

/* ACK/NACK record of one type; strings sized to their content (capped as
 * in cp_xds_type_info), NULL reads as "". Copied out by
 * cp_xds_stream_info(). */
struct type_rec {
    char *acked_version;
    char *sent_version;
    uint64_t acks, nacks;
    char *nack_nonce; /* last NACK */
    char *nack_message;
    int nack_code;
    int64_t nack_time_ms; /* Unix ms */
};

/* The client's node, as it sent it (capped as cp_xds_node_info's fields):
 * a few hundred bytes, not the copied-out record's fixed arrays. */
struct node_rec {
    char *peer, *id, *cluster; /* NULL reads as "" */
    char *user_agent_name, *user_agent_version;
    char *metadata_json; /* NULL reads as "{}" */
    int64_t connected_ms;
};

static const char *nz(const char *s)
{
    return s != NULL ? s : "";
}

/* Makes *dst a copy of <src> (NULL: "") cut to <size> - 1 bytes; keeps
 * *dst when equal. Out of memory: *dst becomes NULL (""), GW_ENOMEM. */
static int str_set(char **dst, const char *src, size_t size)
{
    src = nz(src);
    size_t len = strnlen(src, size - 1);
    if (*dst != NULL && strlen(*dst) == len && memcmp(*dst, src, len) == 0)
        return GW_OK;
    free(*dst);
    *dst = len > 0 ? malloc(len + 1) : NULL;
    if (*dst == NULL)
        return len > 0 ? GW_ENOMEM : GW_OK;
    memcpy(*dst, src, len);
    (*dst)[len] = '\0';
    return GW_OK;
}

static void type_rec_deinit(struct type_rec *r)
{
    free(r->acked_version);
    free(r->sent_version);
    free(r->nack_nonce);
    free(r->nack_message);
    memset(r, 0, sizeof(*r));
}

static void node_rec_deinit(struct node_rec *n)
{
    free(n->peer);
    free(n->id);
    free(n->cluster);
    free(n->user_agent_name);
    free(n->user_agent_version);
    free(n->metadata_json);
    memset(n, 0, sizeof(*n));
}

struct type_state {
    bool seen;     /* a request of this type arrived */
    bool wildcard; /* every resource of the type */
    bool legacy;   /* wildcard by an empty first request (LDS/CDS) */
    const struct cm_strset *names; /* shared (names.c); never NULL */
    uint64_t key;                  /* cp_xds__sotw_key() of <names> */
    char nonce[24];                /* of the last response of this type */
    bool answered;                 /* its ACK/NACK was recorded */
    bool sent_any;        /* SotW: a response went out for this subscription */
    uint64_t sent_digest; /* SotW: digest of that response's content */
    struct held known;    /* delta: what the client holds */
    struct type_rec info;
};

struct cp_xds_stream {
    uint64_t id;
    bool delta;
    bool connected;
    bool closed;
    uint64_t next_nonce;
    struct node_rec node;
    struct type_state ts[CP_XDS_TYPE_COUNT];
    struct cp_xds__pool *pool; /* borrowed; NULL: private name sets */
};

/* What a type subscribes to before any name. */
static const struct cm_strset no_names;

static void release_names(struct cp_xds_stream *s, const struct cm_strset *n)
{
    if (n != &no_names)
        cp_xds__names_put(s->pool, n);
}

static void copy_str(char *dst, size_t size, const char *src)
{
    snprintf(dst, size, "%s", nz(src));
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct cp_xds_stream *cp_xds_stream_new(uint64_t id, bool delta,
                                        const char *peer)
{
    struct cp_xds_stream *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    s->id = id;
    s->delta = delta;
    s->next_nonce = 1;
    s->node.connected_ms = now_ms();
    if (str_set(&s->node.peer, peer, NODE_CAP(peer)) != 0) {
        free(s);
        return NULL;
    }
    for (int t = 0; t < CP_XDS_TYPE_COUNT; t++) {
        s->ts[t].names = &no_names;
        s->ts[t].key = cp_xds__sotw_key(&no_names);
    }
    return s;
}

void cp_xds_stream_set_pool(struct cp_xds_stream *s, struct cp_xds__pool *pool)
{
    s->pool = pool;
}

void cp_xds_stream_free(struct cp_xds_stream *s)
{
    if (s == NULL)
        return;
    for (int t = 0; t < CP_XDS_TYPE_COUNT; t++) {
        release_names(s, s->ts[t].names);
        held_deinit(&s->ts[t].known);
        type_rec_deinit(&s->ts[t].info);
    }
    node_rec_deinit(&s->node);
    free(s);
}

static bool wildcard_capable(int t)
{
    return t == CP_XDS_LISTENER || t == CP_XDS_CLUSTER;
}

static bool subscribed(const struct type_state *ts)
{
    return ts->wildcard || ts->names->n > 0;
}

static bool interested(const struct type_state *ts, const char *name)
{
    return ts->wildcard || cm_strset_has(ts->names, name);
}

/* Interest in names asked in ascending order: a merge walk of the sorted
 * subscription instead of a search per name. */
struct wants {
    const struct type_state *ts;
    size_t k;
};

static bool wants(struct wants *w, const char *name)
{
    const struct cm_strset *names = w->ts->names;
    if (w->ts->wildcard)
        return true;
    while (w->k < names->n) {
        int c = strcmp(names->v[w->k], name);
        if (c == 0)
            return true;
        if (c > 0)
            return false;
        w->k++;
    }
    return false;
}

static void emit(struct cp_xds_stream *s, const struct cp_xds_stream_out *out,
                 struct cp_xds_event *ev)
{
    ev->stream_id = s->id;
    ev->node_id = nz(s->node.id);
    ev->peer = nz(s->node.peer);
    if (out->event != NULL)
        out->event(out->arg, ev);
}

/* ==== node and ACK/NACK records ==== */

/* Keeps what the client sent of its node (best effort: a string that
 * cannot be allocated reads as ""). */
static void note_node_fields(struct node_rec *n,
                             const Envoy__Config__Core__V3__Node *node)
{
    (void)str_set(&n->id, node->id, NODE_CAP(id));
    (void)str_set(&n->cluster, node->cluster, NODE_CAP(cluster));
    (void)str_set(&n->user_agent_name, node->user_agent_name,
                  NODE_CAP(user_agent_name));
    if (node->user_agent_version_type_case ==
        ENVOY__CONFIG__CORE__V3__NODE__USER_AGENT_VERSION_TYPE_USER_AGENT_VERSION)
        (void)str_set(&n->user_agent_version, node->user_agent_version,
                      NODE_CAP(user_agent_version));
    if (node->metadata != NULL) {
        char json[NODE_CAP(metadata_json)];
        cp_xds__struct_json(&node->metadata->base, json, sizeof(json));
        if (strcmp(json, "{}") != 0)
            (void)str_set(&n->metadata_json, json, sizeof(json));
    }
}

static void note_node(struct cp_xds_stream *s,
                      const Envoy__Config__Core__V3__Node *node,
                      const struct cp_xds_stream_out *out)
{
    if (s->connected)
        return;
    s->connected = true;
    struct node_rec *n = &s->node;
    if (node != NULL)
        note_node_fields(n, node);
    char q[4][CP_XDS_STR_LEN + 8];
    cm_log_info("xds", "connected",
                "stream=%llu peer=%s node=%s cluster=%s agent=%s/%s proto=%s",
                (unsigned long long)s->id,
                cm_log_quote(q[0], sizeof(q[0]), nz(n->peer)),
                cm_log_quote(q[1], sizeof(q[1]), nz(n->id)),
                cm_log_quote(q[2], sizeof(q[2]), nz(n->cluster)),
                cm_log_quote(q[3], sizeof(q[3]), nz(n->user_agent_name)),
                nz(n->user_agent_version), s->delta ? "delta" : "sotw");
    struct cp_xds_event ev = {.kind = CP_XDS_EV_CONNECTED};
    emit(s, out, &ev);
}

/* Records the answer to the last response of type <t>. */
static void answer(struct cp_xds_stream *s, int t, const char *nonce,
                   const char *version, const Google__Rpc__Status *error,
                   const struct cp_xds_stream_out *out)
{
    struct type_state *ts = &s->ts[t];
    struct type_rec *info = &ts->info;
    char q[2][CP_XDS_MSG_LEN + 8];
    ts->answered = true;
    struct cp_xds_event ev = {.type = t, .nonce = nonce};
    if (error != NULL) {
        info->nacks++;
        (void)str_set(&info->nack_nonce, nonce, TYPE_CAP(nack_nonce));
        (void)str_set(&info->nack_message, error->message,
                      TYPE_CAP(nack_message));
        info->nack_code = error->code;
        info->nack_time_ms = now_ms();
        cm_log_warn("xds", "nack",
                    "stream=%llu node=%s type=%s nonce=%s version=%s "
                    "code=%d error=%s",
                    (unsigned long long)s->id,
                    cm_log_quote(q[0], sizeof(q[0]), nz(s->node.id)),
                    cp_xds_type_short(t), nonce, nz(info->acked_version),
                    error->code,
                    cm_log_quote(q[1], sizeof(q[1]), nz(info->nack_message)));
        ev.kind = CP_XDS_EV_NACK;
        ev.version = nz(info->acked_version);
        ev.message = nz(info->nack_message);
        ev.code = error->code;
    } else {
        info->acks++;
        (void)str_set(&info->acked_version, version, TYPE_CAP(acked_version));
        cm_log_info(
            "xds", "ack", "stream=%llu node=%s type=%s version=%s nonce=%s",
            (unsigned long long)s->id,
            cm_log_quote(q[0], sizeof(q[0]), nz(s->node.id)),
            cp_xds_type_short(t),
            cm_log_quote(q[1], sizeof(q[1]), nz(info->acked_version)), nonce);
        ev.kind = CP_XDS_EV_ACK;
        ev.version = nz(info->acked_version);
    }
    emit(s, out, &ev);
}

/* Checks the nonce of a request; answers it when it is the current one.
 * Returns false when the nonce is stale. */
static bool check_nonce(struct cp_xds_stream *s, int t, const char *nonce,
                        const char *version, const Google__Rpc__Status *error,
                        const struct cp_xds_stream_out *out)
{
    struct type_state *ts = &s->ts[t];
    if (nonce == NULL || nonce[0] == '\0')
        return true;
    if (strcmp(nonce, ts->nonce) != 0) {
        cm_log_debug("xds", "stale_nonce", "stream=%llu type=%s nonce=%s",
                     (unsigned long long)s->id, cp_xds_type_short(t), nonce);
        return false;
    }
    if (!ts->answered)
        answer(s, t, nonce, version, error, out);
    return true;
}

static void new_nonce(struct cp_xds_stream *s, struct type_state *ts)
{
    snprintf(ts->nonce, sizeof(ts->nonce), "%llu",
             (unsigned long long)s->next_nonce++);
    ts->answered = false;
}

/* ==== state of the world ==== */

/* The response of type <t> for this subscription (new reference). */
static struct cp_xds_body *sotw_body(const struct type_state *ts,
                                     const struct cp_xds_snapshot *snap, int t)
{
    if (ts->wildcard)
        return cp_xds_snapshot_sotw_body(snap, t, NULL);
    return cp_xds__sotw_body_keyed(snap, t, ts->names, ts->key);
}

static int sotw_send(struct cp_xds_stream *s, struct cp_xds_body *body,
                     const struct cp_xds_snapshot *snap, int t,
                     const struct cp_xds_stream_out *out)
{
    struct type_state *ts = &s->ts[t];
    const char *version = cp_xds_snapshot_version(snap);

    new_nonce(s, ts);
    int rc = out->send(out->arg, body, ts->nonce);
    ts->sent_any = true;
    ts->sent_digest = body->digest;
    (void)str_set(&ts->info.sent_version, version, TYPE_CAP(sent_version));
    cm_log_debug("xds", "sent", "stream=%llu type=%s version=%s nonce=%s n=%zu",
                 (unsigned long long)s->id, cp_xds_type_short(t), version,
                 ts->nonce, body->count);
    return rc;
}

/* Sends type <t> if its content differs from what was sent (or <force>). */
static int sotw_maybe_send(struct cp_xds_stream *s,
                           const struct cp_xds_snapshot *snap, int t,
                           bool force, const struct cp_xds_stream_out *out)
{
    struct type_state *ts = &s->ts[t];
    if (!subscribed(ts)) {
        ts->sent_any = false;
        return GW_OK;
    }
    if (snap == NULL)
        return GW_OK;
    struct cp_xds_body *body = sotw_body(ts, snap, t);
    if (body == NULL)
        return GW_ENOMEM;
    int rc = GW_OK;
    if (force || !ts->sent_any || body->digest != ts->sent_digest)
        rc = sotw_send(s, body, snap, t, out);
    cp_xds_body_put(body);
    return rc;
}

/* Makes <set> (its strings taken) the names <ts> subscribes to. */
static int adopt_names(struct cp_xds_stream *s, struct type_state *ts,
                       struct cm_strset *set)
{
    if (cm_strset_equal(ts->names, set)) {
        cm_strset_deinit(set);
        return GW_OK;
    }
    const struct cm_strset *shared = cp_xds__names_intern(s->pool, set);
    if (shared == NULL)
        return GW_ENOMEM;
    release_names(s, ts->names);
    ts->names = shared;
    ts->key = cp_xds__sotw_key(shared);
    return GW_OK;
}

/* Marks cur->v[k] in <seen>; returns whether it was already marked. */
static bool mark(uint8_t *seen, size_t k)
{
    bool was = (seen[k / 8] >> (k % 8)) & 1;
    seen[k / 8] |= (uint8_t)(1u << (k % 8));
    return was;
}

/* Whether <names> (in any order, repeats and "*" ignored) are exactly the
 * set <cur>: the common case of an ACK, checked without building a set (a
 * merge walk while they come in order, a search otherwise). */
static bool same_names(const struct cm_strset *cur, char *const *names,
                       size_t n)
{
    uint8_t small[64], *seen = small;
    size_t k = 0, distinct = 0;
    bool same = true;
    if (cur->n > 8 * sizeof(small) &&
        (seen = calloc(cur->n / 8 + 1, 1)) == NULL)
        return false; /* the slow path decides */
    if (seen == small)
        memset(small, 0, sizeof(small));
    for (size_t i = 0; same && i < n; i++) {
        bool found = false;
        if (strcmp(names[i], "*") == 0)
            continue;
        if (k < cur->n && strcmp(cur->v[k], names[i]) == 0)
            found = true;
        else
            k = cm_strset_pos(cur, names[i], &found);
        if (!found)
            same = false;
        else if (!mark(seen, k++))
            distinct++;
    }
    if (seen != small)
        free(seen);
    return same && distinct == cur->n;
}

static int sotw_set_names(struct cp_xds_stream *s, struct type_state *ts, int t,
                          bool first, char **names, size_t n)
{
    struct cm_strset set = {0};
    bool star = false;
    for (size_t i = 0; i < n; i++)
        star = star || strcmp(names[i], "*") == 0;
    if (wildcard_capable(t) && n == 0 && (first || ts->legacy)) {
        ts->legacy = true;
        ts->wildcard = true;
    } else {
        ts->legacy = false;
        ts->wildcard = star;
    }
    if (same_names(ts->names, names, n))
        return GW_OK;
    for (size_t i = 0; i < n; i++)
        if (strcmp(names[i], "*") != 0 && cm_strset_add(&set, names[i]) != 0) {
            cm_strset_deinit(&set);
            return GW_ENOMEM;
        }
    return adopt_names(s, ts, &set);
}

static int sotw_request(struct cp_xds_stream *s,
                        const struct cp_xds_snapshot *snap, const uint8_t *data,
                        size_t len, const struct cp_xds_stream_out *out)
{
    struct arena arena = arena_for(len);
    ProtobufCAllocator alloc = {arena_alloc, arena_free, &arena};
    Envoy__Service__Discovery__V3__DiscoveryRequest *req =
        envoy__service__discovery__v3__discovery_request__unpack(&alloc, len,
                                                                 data);
    if (req == NULL) {
        arena_release(&arena);
        return GW_EPROTO;
    }
    note_node(s, req->node, out);
    int rc = GW_OK;
    int t = cp_xds_type_from_url(req->type_url);
    if (t < 0) {
        cm_log_warn("xds", "unknown_type", "stream=%llu type_url=%s",
                    (unsigned long long)s->id, req->type_url);
        goto done;
    }
    struct type_state *ts = &s->ts[t];
    bool first = !ts->seen;
    ts->seen = true;
    if (!check_nonce(s, t, req->response_nonce, req->version_info,
                     req->error_detail, out))
        goto done;
    rc = sotw_set_names(s, ts, t, first, req->resource_names,
                        req->n_resource_names);
    if (rc == 0)
        rc = sotw_maybe_send(s, snap, t, req->response_nonce[0] == '\0', out);
done:
    arena_release(&arena); /* req with it */
    return rc;
}

/* ==== delta ==== */

/* Index of <name> in <base> (type <t>, sorted) at or after *j, advancing
 * *j past smaller names; -1 if absent. */
static long base_seek(const struct cp_xds_snapshot *base, int t, size_t nb,
                      size_t *j, const char *name)
{
    while (*j < nb) {
        const char *bn;
        (void)cp_xds_snapshot_at(base, t, *j, &bn, NULL, NULL, NULL);
        int c = strcmp(bn, name);
        if (c == 0)
            return (long)*j;
        if (c > 0)
            return -1;
        (*j)++;
    }
    return -1;
}

/* Names the client holds that <snap> does not have (removals to report)
 * into <names> when not NULL; returns how many. */
static size_t delta_removed(const struct type_state *ts,
                            const struct cp_xds_snapshot *snap, int t,
                            char **names)
{
    const struct held *h = &ts->known;
    size_t n = 0, j = 0;
    size_t nb = h->base != NULL ? cp_xds_snapshot_count(h->base, t) : 0;
    for (size_t i = 0; h->base != snap && i < nb; i++) {
        const char *name;
        if (!bit_get(h->bits, i))
            continue;
        (void)cp_xds_snapshot_at(h->base, t, i, &name, NULL, NULL, NULL);
        if (base_seek(snap, t, cp_xds_snapshot_count(snap, t), &j, name) >= 0)
            continue;
        if (names != NULL)
            names[n] = (char *)name;
        n++;
    }
    for (size_t i = 0; i < h->extra.n; i++) {
        const char *name = h->extra.v[i].name;
        if (cp_xds_snapshot_find(snap, t, name) >= 0)
            continue;
        if (names != NULL)
            names[n] = (char *)name;
        n++;
    }
    return n;
}

/* The version of resource <name> the client holds, or NULL; <j> is the
 * merge cursor into the base. */
static const char *held_version(const struct held *h, int t, size_t nb,
                                size_t *j, const char *name)
{
    long at = h->base != NULL ? base_seek(h->base, t, nb, j, name) : -1;
    if (at >= 0 && bit_get(h->bits, (size_t)at)) {
        const char *ver;
        (void)cp_xds_snapshot_at(h->base, t, (size_t)at, NULL, &ver, NULL,
                                 NULL);
        return ver;
    }
    return h->extra.n > 0 ? kv_get(&h->extra, name) : NULL;
}

/* Indices of the resources of <t> to send (wanted and not held at their
 * version) into <idx> when not NULL; returns how many. */
static size_t delta_updated(const struct type_state *ts,
                            const struct cp_xds_snapshot *snap, int t,
                            size_t *idx)
{
    const struct held *h = &ts->known;
    size_t n = 0, j = 0, total = cp_xds_snapshot_count(snap, t);
    size_t nb = h->base != NULL ? cp_xds_snapshot_count(h->base, t) : 0;
    struct wants w = {ts, 0};
    for (size_t i = 0; i < total; i++) {
        const char *name, *ver, *have;
        if (h->base == snap && bit_get(h->bits, i))
            continue; /* held at this very version */
        (void)cp_xds_snapshot_at(snap, t, i, &name, &ver, NULL, NULL);
        if (!wants(&w, name))
            continue;
        have = held_version(h, t, nb, &j, name);
        if (have != NULL && strcmp(have, ver) == 0)
            continue;
        if (idx != NULL)
            idx[n] = i;
        n++;
    }
    return n;
}

/* Forgets held resources the client no longer subscribes to. */
static void delta_forget_unwanted(struct type_state *ts, int t)
{
    struct held *h = &ts->known;
    size_t nb = h->base != NULL ? cp_xds_snapshot_count(h->base, t) : 0;
    struct wants w = {ts, 0};
    if (!h->subs_changed)
        return; /* the bits hold wanted resources only */
    for (size_t i = 0; i < nb; i++) {
        const char *name;
        (void)cp_xds_snapshot_at(h->base, t, i, &name, NULL, NULL, NULL);
        if (!wants(&w, name) && bit_get(h->bits, i))
            bit_clear(h->bits, i);
    }
    size_t j = 0;
    for (size_t i = 0; i < h->extra.n; i++) {
        if (interested(ts, h->extra.v[i].name)) {
            h->extra.v[j++] = h->extra.v[i];
        } else {
            free(h->extra.v[i].name);
            free(h->extra.v[i].version);
        }
    }
    h->extra.n = j;
}

/* After a push (or a check that found nothing to send) the client holds
 * exactly the wanted resources of <snap> at their versions. */
static int delta_rebase(struct type_state *ts,
                        const struct cp_xds_snapshot *snap, int t)
{
    struct held *h = &ts->known;
    size_t n = cp_xds_snapshot_count(snap, t);
    uint8_t *bits = calloc(n / 8 + 1, 1);
    struct wants w = {ts, 0};
    if (bits == NULL)
        return GW_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const char *name;
        (void)cp_xds_snapshot_at(snap, t, i, &name, NULL, NULL, NULL);
        if (wants(&w, name))
            bits[i / 8] |= (uint8_t)(1u << (i % 8));
    }
    /* the reference is the stream's own; the snapshot stays immutable */
    struct cp_xds_snapshot *base =
        cp_xds_snapshot_get((struct cp_xds_snapshot *)snap);
    held_deinit(h);
    h->base = base;
    h->bits = bits;
    return GW_OK;
}

/* Nothing to send of type <t> and nothing sent yet on this stream: the
 * client already holds the snapshot's content (a reconnect whose
 * initial_resource_versions match). Recorded as sent and ACKed at the
 * snapshot's version, as no response will carry an ACK for it. */
static void delta_in_sync(struct cp_xds_stream *s, struct type_state *ts, int t,
                          const struct cp_xds_snapshot *snap)
{
    const char *v = cp_xds_snapshot_version(snap);
    char q[CP_XDS_STR_LEN + 8];

    if (ts->nonce[0] != '\0' || strcmp(nz(ts->info.acked_version), v) == 0)
        return;
    (void)str_set(&ts->info.sent_version, v, TYPE_CAP(sent_version));
    (void)str_set(&ts->info.acked_version, v, TYPE_CAP(acked_version));
    cm_log_info("xds", "in_sync", "stream=%llu node=%s type=%s version=%s",
                (unsigned long long)s->id,
                cm_log_quote(q, sizeof(q), nz(s->node.id)),
                cp_xds_type_short(t), v);
}

static int delta_push(struct cp_xds_stream *s,
                      const struct cp_xds_snapshot *snap, int t,
                      const struct cp_xds_stream_out *out)
{
    struct type_state *ts = &s->ts[t];
    if (snap == NULL)
        return GW_OK;
    struct held *h = &ts->known;
    if (h->base != NULL && h->base != snap && !h->subs_changed &&
        h->extra.n == 0 &&
        cp_xds_snapshot_count(h->base, t) == cp_xds_snapshot_count(snap, t) &&
        cp_xds__snapshot_digest(h->base, t) ==
            cp_xds__snapshot_digest(snap, t)) {
        /* same resources at the same indices: the bits carry over */
        cp_xds_snapshot_put(h->base);
        h->base = cp_xds_snapshot_get((struct cp_xds_snapshot *)snap);
        delta_in_sync(s, ts, t, snap);
        return GW_OK;
    }
    delta_forget_unwanted(ts, t);
    size_t nupd = delta_updated(ts, snap, t, NULL);
    size_t nrem = delta_removed(ts, snap, t, NULL);
    if (nupd == 0 && nrem == 0) {
        delta_in_sync(s, ts, t, snap);
        if (h->base != snap)
            return delta_rebase(ts, snap, t);
        h->subs_changed = false; /* the bits were brought in line */
        return GW_OK;
    }
    size_t *idx = calloc(nupd ? nupd : 1, sizeof(*idx));
    char **removed = calloc(nrem ? nrem : 1, sizeof(*removed));
    struct cp_xds_body *body = NULL;
    int rc = GW_ENOMEM;
    if (idx == NULL || removed == NULL)
        goto done;
    delta_updated(ts, snap, t, idx);
    delta_removed(ts, snap, t, removed);
    body = cp_xds_snapshot_delta_body(snap, t, idx, nupd, removed, nrem);
    if (body == NULL)
        goto done;
    new_nonce(s, ts);
    rc = out->send(out->arg, body, ts->nonce);
    (void)str_set(&ts->info.sent_version, cp_xds_snapshot_version(snap),
                  TYPE_CAP(sent_version));
    cm_log_debug("xds", "sent",
                 "stream=%llu type=%s version=%s nonce=%s n=%zu removed=%zu",
                 (unsigned long long)s->id, cp_xds_type_short(t),
                 cp_xds_snapshot_version(snap), ts->nonce, nupd, nrem);
    int rc2 = delta_rebase(ts, snap, t);
    if (rc == 0)
        rc = rc2;
done:
    cp_xds_body_put(body);
    free(idx);
    free(removed);
    return rc;
}

static int
delta_subscribe(struct cp_xds_stream *s, struct type_state *ts, int t,
                bool first,
                const Envoy__Service__Discovery__V3__DeltaDiscoveryRequest *req)
{
    struct cm_strset set = {0};
    if (first || req->n_resource_names_subscribe > 0 ||
        req->n_resource_names_unsubscribe > 0)
        ts->known.subs_changed = true;
    if (first) {
        for (size_t i = 0; i < req->n_initial_resource_versions; i++) {
            const char *k = req->initial_resource_versions[i]->key;
            const char *v = req->initial_resource_versions[i]->value;
            if (kv_set(&ts->known.extra, k, v) != 0)
                return GW_ENOMEM;
        }
        if (wildcard_capable(t) && req->n_resource_names_subscribe == 0)
            ts->wildcard = true;
    }
    if (req->n_resource_names_subscribe == 0 &&
        req->n_resource_names_unsubscribe == 0)
        return GW_OK;
    if (cm_strset_copy(&set, ts->names) != 0)
        return GW_ENOMEM;
    for (size_t i = 0; i < req->n_resource_names_subscribe; i++) {
        const char *name = req->resource_names_subscribe[i];
        if (strcmp(name, "*") == 0)
            ts->wildcard = true;
        else if (cm_strset_add(&set, name) != 0) {
            cm_strset_deinit(&set);
            return GW_ENOMEM;
        }
    }
    for (size_t i = 0; i < req->n_resource_names_unsubscribe; i++) {
        const char *name = req->resource_names_unsubscribe[i];
        if (strcmp(name, "*") == 0) {
            ts->wildcard = false;
        } else {
            cm_strset_del(&set, name);
            held_del(&ts->known, t, name);
        }
    }
    return adopt_names(s, ts, &set);
}

static int delta_request(struct cp_xds_stream *s,
                         const struct cp_xds_snapshot *snap,
                         const uint8_t *data, size_t len,
                         const struct cp_xds_stream_out *out)
{
    struct arena arena = arena_for(len);
    ProtobufCAllocator alloc = {arena_alloc, arena_free, &arena};
    Envoy__Service__Discovery__V3__DeltaDiscoveryRequest *req =
        envoy__service__discovery__v3__delta_discovery_request__unpack(
            &alloc, len, data);
    if (req == NULL) {
        arena_release(&arena);
        return GW_EPROTO;
    }
    note_node(s, req->node, out);
    int rc = GW_OK;
    int t = cp_xds_type_from_url(req->type_url);
    if (t < 0) {
        cm_log_warn("xds", "unknown_type", "stream=%llu type_url=%s",
                    (unsigned long long)s->id, req->type_url);
        goto done;
    }
    struct type_state *ts = &s->ts[t];
    bool first = !ts->seen;
    ts->seen = true;
    /* a stale nonce is not an answer, but subscription changes count */
    (void)check_nonce(s, t, req->response_nonce, nz(ts->info.sent_version),
                      req->error_detail, out);
    rc = delta_subscribe(s, ts, t, first, req);
    if (rc == 0)
        rc = delta_push(s, snap, t, out);
done:
    arena_release(&arena); /* req with it */
    return rc;
}

/* ==== entry points ==== */

int cp_xds_stream_on_request(struct cp_xds_stream *s,
                             const struct cp_xds_snapshot *snap,
                             const uint8_t *data, size_t len,
                             const struct cp_xds_stream_out *out)
{
    if (s->delta)
        return delta_request(s, snap, data, len, out);
    return sotw_request(s, snap, data, len, out);
}

int cp_xds_stream_on_snapshot(struct cp_xds_stream *s,
                              const struct cp_xds_snapshot *snap,
                              const struct cp_xds_stream_out *out)
{
    /* Make before break: secrets a listener may name, clusters and their
     * endpoints a route may name, then listeners and routes. */
    static const enum cp_xds_type order[CP_XDS_TYPE_COUNT] = {
        CP_XDS_SECRET, CP_XDS_CLUSTER, CP_XDS_ENDPOINT, CP_XDS_LISTENER,
        CP_XDS_ROUTE};
    int rc = GW_OK;
    for (int k = 0; k < CP_XDS_TYPE_COUNT && rc == 0; k++) {
        enum cp_xds_type t = order[k];
        if (!s->ts[t].seen)
            continue;
        if (s->delta)
            rc = delta_push(s, snap, t, out);
        else
            rc = sotw_maybe_send(s, snap, t, false, out);
    }
    return rc;
}

void cp_xds_stream_closed(struct cp_xds_stream *s,
                          const struct cp_xds_stream_out *out)
{
    if (s->closed || !s->connected)
        return;
    s->closed = true;
    char q[CP_XDS_STR_LEN + 8];
    cm_log_info("xds", "disconnected", "stream=%llu node=%s",
                (unsigned long long)s->id,
                cm_log_quote(q, sizeof(q), nz(s->node.id)));
    struct cp_xds_event ev = {.kind = CP_XDS_EV_DISCONNECTED};
    emit(s, out, &ev);
}

static void type_info(const struct type_state *ts, struct cp_xds_type_info *out)
{
    const struct type_rec *r = &ts->info;
    memset(out, 0, sizeof(*out));
    out->subscribed = ts->seen;
    out->wildcard = ts->wildcard;
    out->n_names = (uint32_t)ts->names->n;
    copy_str(out->acked_version, sizeof(out->acked_version), r->acked_version);
    copy_str(out->sent_version, sizeof(out->sent_version), r->sent_version);
    out->acks = r->acks;
    out->nacks = r->nacks;
    copy_str(out->nack_nonce, sizeof(out->nack_nonce), r->nack_nonce);
    copy_str(out->nack_message, sizeof(out->nack_message), r->nack_message);
    out->nack_code = r->nack_code;
    out->nack_time_ms = r->nack_time_ms;
}

void cp_xds_stream_info(const struct cp_xds_stream *s,
                        struct cp_xds_node_info *info)
{
    const struct node_rec *n = &s->node;
    memset(info, 0, sizeof(*info));
    info->stream_id = s->id;
    info->delta = s->delta;
    info->connected_ms = n->connected_ms;
    copy_str(info->peer, sizeof(info->peer), n->peer);
    copy_str(info->id, sizeof(info->id), n->id);
    copy_str(info->cluster, sizeof(info->cluster), n->cluster);
    copy_str(info->user_agent_name, sizeof(info->user_agent_name),
             n->user_agent_name);
    copy_str(info->user_agent_version, sizeof(info->user_agent_version),
             n->user_agent_version);
    copy_str(info->metadata_json, sizeof(info->metadata_json),
             n->metadata_json != NULL ? n->metadata_json : "{}");
    for (int t = 0; t < CP_XDS_TYPE_COUNT; t++)
        type_info(&s->ts[t], &info->types[t]);
}
