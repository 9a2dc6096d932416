/*
 * ads_flood.c -- a light ADS load client for bench/xds_scale.sh: N
 * concurrent StreamAggregatedResources (or, with --delta,
 * DeltaAggregatedResources) streams spread over C channels (each its own
 * HTTP/2 connection: local subchannel pools), all on one completion queue
 * and one thread. Each stream subscribes like a data node: CDS and LDS
 * wildcard, then EDS and RDS by the names its clusters and listeners name
 * (not those of API listeners, as data nodes),
 * ACKs every response, and records per version the time it ACKed each type.
 *
 *   ads_flood --target H:P [--streams 1000] [--channels 8] [--delta]
 *             [--max-seconds 600]
 *
 * Commands on stdin, answers on stdout (one line each):
 *   wait VERSION T0_MS TIMEOUT_MS TYPES   TYPES: comma list of cds,eds,lds,rds
 *     -> "done VERSION streams=N p50=.. p90=.. p99=.. max=.." (ms from
 *        T0_MS, Unix ms, to each stream's last ACK of VERSION among TYPES),
 *        or "timeout VERSION acked=K/N ..." after TIMEOUT_MS
 *   stats -> "stats streams=N open=O failed=F msgs=M bytes=B"
 *   quit (or end of input)
 * Decoded listener/cluster lists are shared between streams (cached by a
 * hash of the resources), so the client stays light. Delta streams never
 * unsubscribe (the benchmark's changes keep every name).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
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

#include "envoy/config/cluster/v3/cluster.pb-c.h"
#include "envoy/config/listener/v3/listener.pb-c.h"
#include "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.pb-c.h"
#include "envoy/service/discovery/v3/discovery.pb-c.h"

#define SOTW_METHOD                                                            \
    "/envoy.service.discovery.v3.AggregatedDiscoveryService/"                  \
    "StreamAggregatedResources"
#define DELTA_METHOD                                                           \
    "/envoy.service.discovery.v3.AggregatedDiscoveryService/"                  \
    "DeltaAggregatedResources"
#define TYPE_PREFIX "type.googleapis.com/"
#define HCM_URL                                                                \
    TYPE_PREFIX "envoy.extensions.filters.network.http_connection_manager."    \
                "v3.HttpConnectionManager"

typedef Envoy__Extensions__Filters__Network__HttpConnectionManager__V3__HttpConnectionManager
    hcm_msg;

enum xt { T_CDS, T_EDS, T_LDS, T_RDS, T_N };

static const char *const type_url[T_N] = {
    TYPE_PREFIX "envoy.config.cluster.v3.Cluster",
    TYPE_PREFIX "envoy.config.endpoint.v3.ClusterLoadAssignment",
    TYPE_PREFIX "envoy.config.listener.v3.Listener",
    TYPE_PREFIX "envoy.config.route.v3.RouteConfiguration",
};
static const char *const type_short[T_N] = {"cds", "eds", "lds", "rds"};

/* A sorted set of names; the strings belong to the cache entry. */
struct names {
    char **v;
    size_t n;
};

/* What one LDS or CDS content names (RDS or EDS resources). Shared by every
 * stream that received the same resources; kept until exit. */
struct decoded {
    struct decoded *next;
    int type;
    uint64_t hash;
    struct names names;
};

#define N_RECS  8
#define VER_LEN 32

/* When a stream ACKed one version: types ACKed (bit per enum xt) and the
 * time of the last of them. */
struct ack_rec {
    char ver[VER_LEN];
    unsigned mask;
    int64_t last_ms;
};

struct pending {
    struct pending *next;
    grpc_byte_buffer *bb;
};

enum tag_kind { TAG_SEND, TAG_RECV, TAG_STATUS };

struct stream;

struct tag {
    struct stream *s;
    enum tag_kind kind;
};

struct stream {
    struct flood *f;
    int idx;
    grpc_call *call;
    struct tag t_send, t_recv, t_status;
    int ops; /* batches started and not completed */
    bool md_sent, md_asked, closed;
    struct pending *q_head, *q_tail;
    grpc_byte_buffer *sending, *recv_bb;
    grpc_metadata_array md, trailers;
    grpc_status_code status;
    grpc_slice details;
    char nonce[T_N][64], version[T_N][VER_LEN];
    const struct names *want[T_N];  /* SotW: EDS/RDS names to ask for */
    const struct names *asked[T_N]; /* SotW: the list last sent */
    struct names sub[T_N]; /* delta: subscribed (array ours, strings not) */
    struct ack_rec recs[N_RECS];
    int next_rec;
};

struct waiter {
    bool active;
    char ver[VER_LEN];
    int64_t t0, deadline;
    unsigned mask;
};

struct flood {
    const char *target;
    bool delta;
    int n_streams, n_channels;
    grpc_channel **ch;
    grpc_completion_queue *cq;
    struct stream *streams;
    struct decoded *cache;
    int open, failed;
    uint64_t msgs, bytes;
    struct waiter w;
    bool quit;
};

/* ==== small helpers ==== */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void copy_str(char *dst, size_t cap, const char *src, size_t len)
{
    if (len >= cap)
        len = cap - 1;
    memcpy(dst, src, len);
    dst[len] = '\0';
}

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool names_has(const struct names *ns, const char *name)
{
    return ns->n > 0 &&
           bsearch(&name, ns->v, ns->n, sizeof(char *), str_cmp) != NULL;
}

static bool names_equal(const struct names *a, const struct names *b)
{
    if (a == b)
        return true;
    if (a == NULL || b == NULL || a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->v[i], b->v[i]) != 0)
            return false;
    return true;
}

/* Adds a copy of <s> to the unsorted <ns>. Aborts when out of memory. */
static void names_push(struct names *ns, const char *s)
{
    if ((ns->n & (ns->n - 1)) == 0) {
        ns->v = realloc(ns->v, (ns->n ? ns->n * 2 : 4) * sizeof(char *));
        if (ns->v == NULL)
            abort();
    }
    if ((ns->v[ns->n++] = strdup(s)) == NULL)
        abort();
}

static void names_sort_unique(struct names *ns)
{
    size_t k = 0;
    if (ns->n > 1)
        qsort(ns->v, ns->n, sizeof(char *), str_cmp);
    for (size_t i = 0; i < ns->n; i++) {
        if (k > 0 && strcmp(ns->v[k - 1], ns->v[i]) == 0)
            free(ns->v[i]);
        else
            ns->v[k++] = ns->v[i];
    }
    ns->n = k;
}

/* ==== protobuf wire scanning (no copies of the resources) ==== */

static bool varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    *v = 0;
    for (int shift = 0; shift < 64 && *p < end; shift += 7) {
        uint8_t b = *(*p)++;
        *v |= (uint64_t)(b & 0x7f) << shift;
        if ((b & 0x80) == 0)
            return true;
    }
    return false;
}

/* The fields of a DiscoveryResponse / DeltaDiscoveryResponse we read:
 * 1 version, 4 type_url, 5 nonce (same numbers in both); 2 resources. */
struct scan {
    const uint8_t *ver, *type, *nonce;
    size_t ver_len, type_len, nonce_len;
    size_t n_resources;
};

/* Walks the top-level fields of <p>; calls <each> on every resources
 * payload when not NULL. Returns false on malformed input. */
static bool scan_msg(const uint8_t *p, size_t len, struct scan *sc,
                     void (*each)(void *arg, const uint8_t *d, size_t n),
                     void *arg)
{
    const uint8_t *end = p + len;
    memset(sc, 0, sizeof(*sc));
    while (p < end) {
        uint64_t key, v;
        if (!varint(&p, end, &key))
            return false;
        switch (key & 7) {
        case 0:
            if (!varint(&p, end, &v))
                return false;
            break;
        case 1:
            p += 8;
            break;
        case 5:
            p += 4;
            break;
        case 2:
            if (!varint(&p, end, &v) || v > (uint64_t)(end - p))
                return false;
            switch (key >> 3) {
            case 1:
                sc->ver = p, sc->ver_len = v;
                break;
            case 2:
                sc->n_resources++;
                if (each != NULL)
                    each(arg, p, v);
                break;
            case 4:
                sc->type = p, sc->type_len = v;
                break;
            case 5:
                sc->nonce = p, sc->nonce_len = v;
                break;
            }
            p += v;
            break;
        default:
            return false;
        }
    }
    return p == end;
}

static void hash_each(void *arg, const uint8_t *d, size_t n)
{
    uint64_t *h = arg;
    for (size_t i = 0; i < n; i++) {
        *h ^= d[i];
        *h *= 0x100000001b3ULL;
    }
    *h ^= n;
    *h *= 0x100000001b3ULL;
}

/* ==== decoding listeners and clusters (once per distinct content) ==== */

struct decode_ctx {
    bool delta;
    int type;
    struct names *out;
};

static void hcm_names(const Google__Protobuf__Any *any, struct names *out)
{
    if (any == NULL || any->type_url == NULL ||
        strcmp(any->type_url, HCM_URL) != 0)
        return;
    hcm_msg *h =
        envoy__extensions__filters__network__http_connection_manager__v3__http_connection_manager__unpack(
            NULL, any->value.len, any->value.data);
    if (h == NULL)
        return;
    if (h->route_specifier_case ==
            ENVOY__EXTENSIONS__FILTERS__NETWORK__HTTP_CONNECTION_MANAGER__V3__HTTP_CONNECTION_MANAGER__ROUTE_SPECIFIER_RDS &&
        h->rds != NULL && h->rds->route_config_name != NULL &&
        h->rds->route_config_name[0] != '\0')
        names_push(out, h->rds->route_config_name);
    envoy__extensions__filters__network__http_connection_manager__v3__http_connection_manager__free_unpacked(
        h, NULL);
}

static void listener_names(const Google__Protobuf__Any *a, struct names *out)
{
    Envoy__Config__Listener__V3__Listener *l =
        envoy__config__listener__v3__listener__unpack(NULL, a->value.len,
                                                      a->value.data);
    if (l == NULL)
        return;
    for (size_t i = 0; i < l->n_filter_chains; i++)
        for (size_t j = 0; j < l->filter_chains[i]->n_filters; j++)
            hcm_names(l->filter_chains[i]->filters[j]->typed_config, out);
    /* an API listener's routes are for proxyless gRPC clients: data nodes
     * do not ask for them (dataplane/xds set.c) */
    envoy__config__listener__v3__listener__free_unpacked(l, NULL);
}

static void cluster_names(const Google__Protobuf__Any *a, struct names *out)
{
    Envoy__Config__Cluster__V3__Cluster *c =
        envoy__config__cluster__v3__cluster__unpack(NULL, a->value.len,
                                                    a->value.data);
    if (c == NULL)
        return;
    bool eds =
        c->eds_cluster_config != NULL ||
        (c->cluster_discovery_type_case ==
             ENVOY__CONFIG__CLUSTER__V3__CLUSTER__CLUSTER_DISCOVERY_TYPE_TYPE &&
         c->type == ENVOY__CONFIG__CLUSTER__V3__CLUSTER__DISCOVERY_TYPE__EDS);
    const char *sn =
        c->eds_cluster_config ? c->eds_cluster_config->service_name : NULL;
    if (eds)
        names_push(out, sn && sn[0] ? sn : c->name);
    envoy__config__cluster__v3__cluster__free_unpacked(c, NULL);
}

static void decode_each(void *arg, const uint8_t *d, size_t n)
{
    struct decode_ctx *dc = arg;
    Google__Protobuf__Any *any = NULL;
    Envoy__Service__Discovery__V3__Resource *r = NULL;

    if (dc->delta) {
        r = envoy__service__discovery__v3__resource__unpack(NULL, n, d);
        any = r != NULL ? r->resource : NULL;
    } else {
        any = google__protobuf__any__unpack(NULL, n, d);
    }
    if (any != NULL) {
        if (dc->type == T_LDS)
            listener_names(any, dc->out);
        else
            cluster_names(any, dc->out);
    }
    if (r != NULL)
        envoy__service__discovery__v3__resource__free_unpacked(r, NULL);
    else if (any != NULL)
        google__protobuf__any__free_unpacked(any, NULL);
}

/* The names the LDS or CDS content of <p> points at: borrowed from the
 * cache (decoded on the first sight of this content). */
static const struct names *lookup_names(struct flood *f, int type,
                                        const uint8_t *p, size_t len)
{
    struct scan sc;
    uint64_t h = 0xcbf29ce484222325ULL;
    (void)scan_msg(p, len, &sc, hash_each, &h);
    for (struct decoded *d = f->cache; d != NULL; d = d->next)
        if (d->type == type && d->hash == h)
            return &d->names;
    struct decoded *d = calloc(1, sizeof(*d));
    if (d == NULL)
        abort();
    d->type = type;
    d->hash = h;
    struct decode_ctx dc = {f->delta, type, &d->names};
    (void)scan_msg(p, len, &sc, decode_each, &dc);
    names_sort_unique(&d->names);
    d->next = f->cache;
    f->cache = d;
    return &d->names;
}

/* ==== sending ==== */

static void start_send(struct stream *s)
{
    struct pending *pd = s->q_head;
    grpc_op ops[2];
    size_t n = 0;

    if (pd == NULL || s->sending != NULL || s->closed)
        return;
    s->q_head = pd->next;
    if (s->q_head == NULL)
        s->q_tail = NULL;
    s->sending = pd->bb;
    free(pd);
    memset(ops, 0, sizeof(ops));
    if (!s->md_sent) {
        ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
        s->md_sent = true;
    }
    ops[n].op = GRPC_OP_SEND_MESSAGE;
    ops[n++].data.send_message.send_message = s->sending;
    if (grpc_call_start_batch(s->call, ops, n, &s->t_send, NULL) ==
        GRPC_CALL_OK)
        s->ops++;
}

/* Queues the message <m> (packed now). */
static void queue_msg(struct stream *s, const ProtobufCMessage *m)
{
    size_t len = protobuf_c_message_get_packed_size(m);
    grpc_slice sl = grpc_slice_malloc(len);
    protobuf_c_message_pack(m, GRPC_SLICE_START_PTR(sl));
    struct pending *pd = calloc(1, sizeof(*pd));
    if (pd == NULL)
        abort();
    pd->bb = grpc_raw_byte_buffer_create(&sl, 1);
    grpc_slice_unref(sl);
    if (s->q_tail != NULL)
        s->q_tail->next = pd;
    else
        s->q_head = pd;
    s->q_tail = pd;
    start_send(s);
}

static void node_init(struct stream *s, Envoy__Config__Core__V3__Node *node,
                      char *id, size_t idlen)
{
    Envoy__Config__Core__V3__Node init = ENVOY__CONFIG__CORE__V3__NODE__INIT;
    *node = init;
    snprintf(id, idlen, "flood-%d", s->idx);
    node->id = id;
    node->cluster = (char *)"flood";
    node->user_agent_name = (char *)"ads_flood";
}

/* SotW request for <t>: names (EDS/RDS) from want[t], last version and
 * nonce of the type, the node on the stream's first request. */
static void sotw_request(struct stream *s, int t, bool with_node)
{
    Envoy__Service__Discovery__V3__DiscoveryRequest r =
        ENVOY__SERVICE__DISCOVERY__V3__DISCOVERY_REQUEST__INIT;
    Envoy__Config__Core__V3__Node node;
    char id[64];

    r.type_url = (char *)type_url[t];
    r.version_info = s->version[t];
    r.response_nonce = s->nonce[t];
    if (s->want[t] != NULL) {
        r.n_resource_names = s->want[t]->n;
        r.resource_names = s->want[t]->v;
        s->asked[t] = s->want[t];
    }
    if (with_node) {
        node_init(s, &node, id, sizeof(id));
        r.node = &node;
    }
    queue_msg(s, &r.base);
}

static void delta_request(struct stream *s, int t, const char *nonce,
                          char **sub, size_t n_sub, bool with_node)
{
    Envoy__Service__Discovery__V3__DeltaDiscoveryRequest r =
        ENVOY__SERVICE__DISCOVERY__V3__DELTA_DISCOVERY_REQUEST__INIT;
    Envoy__Config__Core__V3__Node node;
    char id[64];

    r.type_url = (char *)type_url[t];
    r.response_nonce = (char *)(nonce ? nonce : "");
    r.n_resource_names_subscribe = n_sub;
    r.resource_names_subscribe = sub;
    if (with_node) {
        node_init(s, &node, id, sizeof(id));
        r.node = &node;
    }
    queue_msg(s, &r.base);
}

/* ==== receiving ==== */

static void record_ack(struct stream *s, int t, const char *ver)
{
    struct ack_rec *rec = NULL;
    for (int i = 0; i < N_RECS; i++)
        if (strcmp(s->recs[i].ver, ver) == 0 && s->recs[i].mask != 0)
            rec = &s->recs[i];
    if (rec == NULL) {
        rec = &s->recs[s->next_rec];
        s->next_rec = (s->next_rec + 1) % N_RECS;
        memset(rec, 0, sizeof(*rec));
        copy_str(rec->ver, sizeof(rec->ver), ver, strlen(ver));
    }
    rec->mask |= 1u << t;
    rec->last_ms = now_ms();
}

/* Delta: subscribes <s> to the names of <want> it does not have yet. */
static void delta_follow(struct stream *s, int t, const struct names *want)
{
    struct names add = {0};
    struct names *sub = &s->sub[t];

    for (size_t i = 0; i < want->n; i++) {
        if (names_has(sub, want->v[i]))
            continue;
        if ((add.n & (add.n - 1)) == 0 &&
            (add.v = realloc(add.v,
                             (add.n ? add.n * 2 : 4) * sizeof(char *))) == NULL)
            abort();
        add.v[add.n++] = want->v[i];
    }
    if (add.n == 0)
        return;
    delta_request(s, t, NULL, add.v, add.n, false);
    sub->v = realloc(sub->v, (sub->n + add.n) * sizeof(char *));
    if (sub->v == NULL)
        abort();
    memcpy(sub->v + sub->n, add.v, add.n * sizeof(char *));
    sub->n += add.n;
    qsort(sub->v, sub->n, sizeof(char *), str_cmp);
    free(add.v);
}

static void on_message(struct stream *s, const uint8_t *p, size_t len)
{
    struct flood *f = s->f;
    struct scan sc;
    int t;

    f->msgs++;
    f->bytes += len;
    if (!scan_msg(p, len, &sc, NULL, NULL) || sc.type == NULL)
        return;
    for (t = 0; t < T_N; t++)
        if (strlen(type_url[t]) == sc.type_len &&
            memcmp(type_url[t], sc.type, sc.type_len) == 0)
            break;
    if (t == T_N)
        return;
    copy_str(s->version[t], VER_LEN, (const char *)sc.ver, sc.ver_len);
    copy_str(s->nonce[t], sizeof(s->nonce[t]), (const char *)sc.nonce,
             sc.nonce_len);
    const struct names *follow = NULL;
    if (t == T_LDS || t == T_CDS)
        follow = lookup_names(f, t, p, len);
    int dep = t == T_LDS ? T_RDS : T_EDS;
    if (f->delta) {
        delta_request(s, t, s->nonce[t], NULL, 0, false); /* ACK */
        record_ack(s, t, s->version[t]);
        if (follow != NULL)
            delta_follow(s, dep, follow);
        return;
    }
    sotw_request(s, t, false); /* ACK, with the current names */
    record_ack(s, t, s->version[t]);
    if (follow != NULL) {
        s->want[dep] = follow;
        if (!names_equal(s->asked[dep], follow))
            sotw_request(s, dep, false);
    }
}

static void start_recv(struct stream *s)
{
    grpc_op ops[2];
    size_t n = 0;

    if (s->closed)
        return;
    memset(ops, 0, sizeof(ops));
    if (!s->md_asked) {
        ops[n].op = GRPC_OP_RECV_INITIAL_METADATA;
        ops[n++].data.recv_initial_metadata.recv_initial_metadata = &s->md;
        s->md_asked = true;
    }
    ops[n].op = GRPC_OP_RECV_MESSAGE;
    ops[n++].data.recv_message.recv_message = &s->recv_bb;
    if (grpc_call_start_batch(s->call, ops, n, &s->t_recv, NULL) ==
        GRPC_CALL_OK)
        s->ops++;
}

static void on_recv(struct stream *s, bool ok)
{
    if (!ok || s->recv_bb == NULL)
        return; /* end of stream: the status tells why */
    grpc_byte_buffer_reader rd;
    if (grpc_byte_buffer_reader_init(&rd, s->recv_bb)) {
        grpc_slice sl = grpc_byte_buffer_reader_readall(&rd);
        grpc_byte_buffer_reader_destroy(&rd);
        on_message(s, GRPC_SLICE_START_PTR(sl), GRPC_SLICE_LENGTH(sl));
        grpc_slice_unref(sl);
    }
    grpc_byte_buffer_destroy(s->recv_bb);
    s->recv_bb = NULL;
    start_recv(s);
}

static void on_status(struct stream *s)
{
    struct flood *f = s->f;
    s->closed = true;
    f->open--;
    if (f->quit)
        return;
    if (++f->failed <= 5) {
        char *d = grpc_slice_to_c_string(s->details);
        fprintf(stderr, "ads_flood: stream %d ended: status %d %s\n", s->idx,
                (int)s->status, d);
        gpr_free(d);
    }
}

/* ==== streams ==== */

static int stream_open(struct flood *f, struct stream *s, int idx)
{
    grpc_op op;

    s->f = f;
    s->idx = idx;
    s->t_send = (struct tag){s, TAG_SEND};
    s->t_recv = (struct tag){s, TAG_RECV};
    s->t_status = (struct tag){s, TAG_STATUS};
    grpc_metadata_array_init(&s->md);
    grpc_metadata_array_init(&s->trailers);
    s->details = grpc_empty_slice();
    grpc_slice m =
        grpc_slice_from_static_string(f->delta ? DELTA_METHOD : SOTW_METHOD);
    s->call = grpc_channel_create_call(
        f->ch[idx % f->n_channels], NULL, GRPC_PROPAGATE_DEFAULTS, f->cq, m,
        NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    if (s->call == NULL)
        return -1;
    f->open++;
    if (f->delta) {
        delta_request(s, T_CDS, NULL, NULL, 0, true);
        delta_request(s, T_LDS, NULL, NULL, 0, false);
    } else {
        sotw_request(s, T_CDS, true);
        sotw_request(s, T_LDS, false);
    }
    start_recv(s);
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    op.data.recv_status_on_client.trailing_metadata = &s->trailers;
    op.data.recv_status_on_client.status = &s->status;
    op.data.recv_status_on_client.status_details = &s->details;
    if (grpc_call_start_batch(s->call, &op, 1, &s->t_status, NULL) ==
        GRPC_CALL_OK)
        s->ops++;
    return 0;
}

static void stream_free(struct stream *s)
{
    while (s->q_head != NULL) {
        struct pending *pd = s->q_head;
        s->q_head = pd->next;
        grpc_byte_buffer_destroy(pd->bb);
        free(pd);
    }
    if (s->sending != NULL)
        grpc_byte_buffer_destroy(s->sending);
    if (s->recv_bb != NULL)
        grpc_byte_buffer_destroy(s->recv_bb);
    if (s->call != NULL)
        grpc_call_unref(s->call);
    grpc_metadata_array_destroy(&s->md);
    grpc_metadata_array_destroy(&s->trailers);
    grpc_slice_unref(s->details);
    for (int t = 0; t < T_N; t++)
        free(s->sub[t].v);
}

static void on_event(grpc_event ev)
{
    struct tag *tag = ev.tag;
    struct stream *s = tag->s;

    s->ops--;
    switch (tag->kind) {
    case TAG_SEND:
        grpc_byte_buffer_destroy(s->sending);
        s->sending = NULL;
        if (ev.success)
            start_send(s);
        break;
    case TAG_RECV:
        on_recv(s, ev.success);
        break;
    case TAG_STATUS:
        on_status(s);
        break;
    }
}

/* ==== commands ==== */

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Time stream <s> finished ACKing every type of the wait (or -1). */
static int64_t stream_done_ms(const struct stream *s, const struct waiter *w)
{
    for (int i = 0; i < N_RECS; i++)
        if ((s->recs[i].mask & w->mask) == w->mask &&
            strcmp(s->recs[i].ver, w->ver) == 0)
            return s->recs[i].last_ms;
    return -1;
}

static void check_wait(struct flood *f)
{
    struct waiter *w = &f->w;
    int64_t *lat;
    int k = 0;

    if (!w->active)
        return;
    lat = malloc((size_t)f->n_streams * sizeof(*lat));
    if (lat == NULL)
        abort();
    for (int i = 0; i < f->n_streams; i++) {
        int64_t t = stream_done_ms(&f->streams[i], w);
        if (t >= 0)
            lat[k++] = t - w->t0;
    }
    if (k == f->n_streams || now_ms() > w->deadline) {
        qsort(lat, (size_t)k, sizeof(*lat), cmp_i64);
        if (k == f->n_streams)
            printf("done %s streams=%d", w->ver, k);
        else
            printf("timeout %s acked=%d/%d", w->ver, k, f->n_streams);
        if (k > 0)
            printf(" min=%lld p50=%lld p90=%lld p99=%lld max=%lld",
                   (long long)lat[0], (long long)lat[k / 2],
                   (long long)lat[(k * 9) / 10], (long long)lat[(k * 99) / 100],
                   (long long)lat[k - 1]);
        printf("\n");
        fflush(stdout);
        w->active = false;
    }
    free(lat);
}

static unsigned parse_types(const char *s)
{
    unsigned mask = 0;
    for (int t = 0; t < T_N; t++)
        if (strstr(s, type_short[t]) != NULL)
            mask |= 1u << t;
    return mask;
}

static void command(struct flood *f, char *line)
{
    char ver[VER_LEN], types[64];
    long long t0, timeout;

    if (sscanf(line, "wait %31s %lld %lld %63s", ver, &t0, &timeout, types) ==
        4) {
        f->w.active = true;
        copy_str(f->w.ver, sizeof(f->w.ver), ver, strlen(ver));
        f->w.t0 = t0;
        f->w.deadline = now_ms() + timeout;
        f->w.mask = parse_types(types);
        check_wait(f);
    } else if (strncmp(line, "stats", 5) == 0) {
        printf("stats streams=%d open=%d failed=%d msgs=%llu bytes=%llu\n",
               f->n_streams, f->open, f->failed, (unsigned long long)f->msgs,
               (unsigned long long)f->bytes);
        fflush(stdout);
    } else if (strncmp(line, "quit", 4) == 0) {
        f->quit = true;
    } else if (line[0] != '\0') {
        printf("error unknown command: %s\n", line);
        fflush(stdout);
    }
}

/* Reads whatever stdin has (non-blocking) and runs complete lines. */
static void read_commands(struct flood *f, char *buf, size_t cap, size_t *used)
{
    struct pollfd pfd = {.fd = 0, .events = POLLIN};
    if (poll(&pfd, 1, 0) != 1)
        return;
    ssize_t n = read(0, buf + *used, cap - 1 - *used);
    if (n == 0 || (n == -1 && errno != EAGAIN && errno != EINTR)) {
        f->quit = true; /* end of input */
        return;
    }
    if (n < 0)
        return;
    *used += (size_t)n;
    buf[*used] = '\0';
    char *nl;
    while ((nl = strchr(buf, '\n')) != NULL) {
        *nl = '\0';
        command(f, buf);
        size_t rest = *used - (size_t)(nl + 1 - buf);
        memmove(buf, nl + 1, rest + 1);
        *used = rest;
    }
    if (*used == cap - 1)
        *used = 0; /* an overlong line: drop it */
}

/* ==== main ==== */

static void usage(void)
{
    fprintf(stderr, "usage: ads_flood --target H:P [--streams 1000] "
                    "[--channels 8] [--delta] [--max-seconds 600]\n");
}

static int parse_args(struct flood *f, int argc, char **argv, int *max_s)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--delta") == 0) {
            f->delta = true;
            continue;
        }
        if (v == NULL)
            return -1;
        if (strcmp(a, "--target") == 0)
            f->target = v;
        else if (strcmp(a, "--streams") == 0)
            f->n_streams = atoi(v);
        else if (strcmp(a, "--channels") == 0)
            f->n_channels = atoi(v);
        else if (strcmp(a, "--max-seconds") == 0)
            *max_s = atoi(v);
        else
            return -1;
        i++;
    }
    if (f->target == NULL || f->n_streams < 1 || f->n_streams > 100000 ||
        f->n_channels < 1 || f->n_channels > 1000 || *max_s < 1)
        return -1;
    return 0;
}

static void open_channels(struct flood *f)
{
    grpc_channel_credentials *creds = grpc_insecure_credentials_create();
    f->ch = calloc((size_t)f->n_channels, sizeof(*f->ch));
    if (f->ch == NULL)
        abort();
    for (int i = 0; i < f->n_channels; i++) {
        grpc_arg args[3];
        args[0].type = GRPC_ARG_INTEGER;
        args[0].key = (char *)GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL;
        args[0].value.integer = 1;
        args[1].type = GRPC_ARG_INTEGER;
        args[1].key = (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
        args[1].value.integer = -1;
        args[2].type = GRPC_ARG_INTEGER; /* distinct args: distinct conns */
        args[2].key = (char *)"bench.ads_flood.channel";
        args[2].value.integer = i;
        grpc_channel_args ca = {3, args};
        f->ch[i] = grpc_channel_create(f->target, creds, &ca);
    }
    grpc_channel_credentials_release(creds);
}

/* Cancels every call and drains the queue (bounded), then frees it all. */
static void shutdown_all(struct flood *f)
{
    f->quit = true;
    for (int i = 0; i < f->n_streams; i++)
        if (f->streams[i].call != NULL)
            grpc_call_cancel(f->streams[i].call, NULL);
    int64_t end = now_ms() + 3000;
    int left = 1;
    while (left > 0 && now_ms() < end) {
        grpc_event ev = grpc_completion_queue_next(
            f->cq,
            gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                         gpr_time_from_millis(50, GPR_TIMESPAN)),
            NULL);
        if (ev.type == GRPC_OP_COMPLETE)
            on_event(ev);
        left = 0;
        for (int i = 0; i < f->n_streams; i++)
            left += f->streams[i].ops;
    }
    if (left > 0) { /* calls still pending: let the process exit do it */
        fprintf(stderr, "ads_flood: %d operations still pending at exit\n",
                left);
        return;
    }
    for (int i = 0; i < f->n_streams; i++)
        stream_free(&f->streams[i]);
    for (int i = 0; i < f->n_channels; i++)
        grpc_channel_destroy(f->ch[i]);
    grpc_completion_queue_shutdown(f->cq);
    while (grpc_completion_queue_next(f->cq, gpr_inf_future(GPR_CLOCK_REALTIME),
                                      NULL)
               .type != GRPC_QUEUE_SHUTDOWN)
        ;
    grpc_completion_queue_destroy(f->cq);
    free(f->ch);
    free(f->streams);
    while (f->cache != NULL) {
        struct decoded *d = f->cache;
        f->cache = d->next;
        for (size_t i = 0; i < d->names.n; i++)
            free(d->names.v[i]);
        free(d->names.v);
        free(d);
    }
    grpc_shutdown();
}

int main(int argc, char **argv)
{
    struct flood f = {.n_streams = 1000, .n_channels = 8};
    int max_s = 600;
    char buf[4096];
    size_t used = 0;

    if (parse_args(&f, argc, argv, &max_s) != 0) {
        usage();
        return 2;
    }
    if (f.n_channels > f.n_streams)
        f.n_channels = f.n_streams;
    grpc_init();
    f.cq = grpc_completion_queue_create_for_next(NULL);
    open_channels(&f);
    f.streams = calloc((size_t)f.n_streams, sizeof(*f.streams));
    if (f.streams == NULL)
        return 1;
    for (int i = 0; i < f.n_streams; i++)
        if (stream_open(&f, &f.streams[i], i) != 0) {
            fprintf(stderr, "ads_flood: cannot create call %d\n", i);
            return 1;
        }
    printf("started %d %s streams on %d channels to %s\n", f.n_streams,
           f.delta ? "delta" : "sotw", f.n_channels, f.target);
    fflush(stdout);
    int64_t end = now_ms() + (int64_t)max_s * 1000, last_check = 0;
    while (!f.quit && now_ms() < end) {
        grpc_event ev = grpc_completion_queue_next(
            f.cq,
            gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                         gpr_time_from_millis(5, GPR_TIMESPAN)),
            NULL);
        if (ev.type == GRPC_OP_COMPLETE)
            on_event(ev);
        int64_t now = now_ms();
        if (ev.type != GRPC_OP_COMPLETE || now - last_check >= 5) {
            last_check = now;
            read_commands(&f, buf, sizeof(buf), &used);
            check_wait(&f);
        }
    }
    shutdown_all(&f);
    return 0;
}
