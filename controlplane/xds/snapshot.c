/*
 * snapshot.c -- one configuration revision: per resource type, a name-sorted
 * array of resources encoded once (bytes + a version that is a hash of the
 * bytes). Built before it is published (the sets of different types may be
 * filled by different threads at once), then immutable and shared by every
 * stream through an atomic reference count (the memo of encoded responses,
 * body.c, has its own lock). Also the resource type table.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controlplane/xds/xds-int.h"

#define TYPE_PREFIX "type.googleapis.com/"

struct type_row {
    const char *url;
    const char *shortname;
};

static const struct type_row types[CP_XDS_TYPE_COUNT] = {
    [CP_XDS_CLUSTER] = {TYPE_PREFIX "envoy.config.cluster.v3.Cluster", "cds"},
    [CP_XDS_ENDPOINT] = {TYPE_PREFIX
                         "envoy.config.endpoint.v3.ClusterLoadAssignment",
                         "eds"},
    [CP_XDS_LISTENER] = {TYPE_PREFIX "envoy.config.listener.v3.Listener",
                         "lds"},
    [CP_XDS_ROUTE] = {TYPE_PREFIX "envoy.config.route.v3.RouteConfiguration",
                      "rds"},
    [CP_XDS_SECRET] = {TYPE_PREFIX
                       "envoy.extensions.transport_sockets.tls.v3.Secret",
                       "sds"},
};

const char *cp_xds_type_url(enum cp_xds_type type)
{
    return types[type].url;
}

const char *cp_xds_type_message(enum cp_xds_type type)
{
    return types[type].url + strlen(TYPE_PREFIX);
}

const char *cp_xds_type_short(enum cp_xds_type type)
{
    return types[type].shortname;
}

int cp_xds_type_from_url(const char *url)
{
    for (int t = 0; t < CP_XDS_TYPE_COUNT; t++)
        if (url != NULL && strcmp(url, types[t].url) == 0)
            return t;
    return -1;
}

struct cp_xds_snapshot *cp_xds_snapshot_new(const char *version)
{
    struct cp_xds_snapshot *snap = calloc(1, sizeof(*snap));
    if (snap == NULL)
        return NULL;
    snap->version = strdup(version != NULL ? version : "");
    if (snap->version == NULL) {
        free(snap);
        return NULL;
    }
    snap->refs = 1;
    pthread_mutex_init(&snap->memo_lock, NULL);
    return snap;
}

static void snapshot_free(struct cp_xds_snapshot *snap)
{
    cp_xds__memo_free(snap);
    pthread_mutex_destroy(&snap->memo_lock);
    for (int t = 0; t < CP_XDS_TYPE_COUNT; t++) {
        struct cp_xds__resource_set *set = &snap->sets[t];
        for (size_t i = 0; i < set->n; i++) {
            free(set->items[i].name);
            free(set->items[i].data);
        }
        free(set->items);
    }
    free(snap->version);
    free(snap);
}

struct cp_xds_snapshot *cp_xds_snapshot_get(struct cp_xds_snapshot *snap)
{
    __atomic_add_fetch(&snap->refs, 1, __ATOMIC_RELAXED);
    return snap;
}

void cp_xds_snapshot_put(struct cp_xds_snapshot *snap)
{
    if (snap == NULL)
        return;
    if (__atomic_sub_fetch(&snap->refs, 1, __ATOMIC_ACQ_REL) == 0)
        snapshot_free(snap);
}

/* Index where <name> is or would be inserted; *found says which. */
static size_t lookup(const struct cp_xds__resource_set *set, const char *name,
                     bool *found)
{
    size_t lo = 0, hi = set->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(set->items[mid].name, name);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

static void hash_hex(const uint8_t *data, size_t len, char out[17])
{
    uint64_t h = 14695981039346656037ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= data[i];
        h *= 1099511628211ULL;
    }
    snprintf(out, 17, "%016llx", (unsigned long long)h);
}

/* Inserts <data> (taken) under <name>. */
static int insert(struct cp_xds_snapshot *snap, enum cp_xds_type type,
                  const char *name, uint8_t *data, size_t len)
{
    struct cp_xds__resource_set *set = &snap->sets[type];
    bool found;
    size_t at = lookup(set, name, &found);
    if (found) {
        free(data);
        return GW_EINVAL;
    }
    if (set->n == set->cap) {
        size_t cap = set->cap ? set->cap * 2 : 8;
        struct cp_xds__resource *items =
            realloc(set->items, cap * sizeof(*items));
        if (items == NULL) {
            free(data);
            return GW_ENOMEM;
        }
        set->items = items;
        set->cap = cap;
    }
    struct cp_xds__resource r = {
        .name = strdup(name), .data = data, .len = len};
    if (r.name == NULL) {
        free(data);
        return GW_ENOMEM;
    }
    hash_hex(data, len, r.version);
    memmove(&set->items[at + 1], &set->items[at],
            (set->n - at) * sizeof(*set->items));
    set->items[at] = r;
    set->n++;
    return GW_OK;
}

int cp_xds_snapshot_add(struct cp_xds_snapshot *snap, enum cp_xds_type type,
                        const char *name, const ProtobufCMessage *msg)
{
    if ((unsigned)type >= CP_XDS_TYPE_COUNT || name == NULL || msg == NULL ||
        strcmp(msg->descriptor->name, cp_xds_type_message(type)) != 0)
        return GW_EINVAL;
    size_t len = protobuf_c_message_get_packed_size(msg);
    uint8_t *data = malloc(len > 0 ? len : 1);
    if (data == NULL)
        return GW_ENOMEM;
    protobuf_c_message_pack(msg, data);
    return insert(snap, type, name, data, len);
}

int cp_xds_snapshot_add_bytes(struct cp_xds_snapshot *snap,
                              enum cp_xds_type type, const char *name,
                              const uint8_t *data, size_t len)
{
    if ((unsigned)type >= CP_XDS_TYPE_COUNT || name == NULL)
        return GW_EINVAL;
    uint8_t *copy = malloc(len > 0 ? len : 1);
    if (copy == NULL)
        return GW_ENOMEM;
    if (len > 0)
        memcpy(copy, data, len);
    return insert(snap, type, name, copy, len);
}

const char *cp_xds_snapshot_version(const struct cp_xds_snapshot *snap)
{
    return snap->version;
}

size_t cp_xds_snapshot_count(const struct cp_xds_snapshot *snap,
                             enum cp_xds_type type)
{
    return snap->sets[type].n;
}

int cp_xds_snapshot_at(const struct cp_xds_snapshot *snap,
                       enum cp_xds_type type, size_t i, const char **name,
                       const char **version, const uint8_t **data, size_t *len)
{
    const struct cp_xds__resource_set *set = &snap->sets[type];
    if (i >= set->n)
        return GW_ENOENT;
    const struct cp_xds__resource *r = &set->items[i];
    if (name != NULL)
        *name = r->name;
    if (version != NULL)
        *version = r->version;
    if (data != NULL)
        *data = r->data;
    if (len != NULL)
        *len = r->len;
    return GW_OK;
}

long cp_xds_snapshot_find(const struct cp_xds_snapshot *snap,
                          enum cp_xds_type type, const char *name)
{
    bool found;
    size_t at = lookup(&snap->sets[type], name, &found);
    return found ? (long)at : -1;
}
