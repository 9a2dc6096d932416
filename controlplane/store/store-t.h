/*
 * store-t.h -- types of the control node's Redis store: addresses, the
 * configuration, the owner's callbacks and the results they carry.
 * Prototypes live in store.h. Nothing here allocates.
 */
#ifndef CP_STORE_T_H
#define CP_STORE_T_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct cp_store;
struct cp_store_embedded;

/* Store-specific error codes (the rest are GW_E* and UV_E*). */
#define CP_STORE_ESTALE     (-1100) /* Redis refused: "stale epoch" */
#define CP_STORE_ENOTLEADER (-1101) /* this node holds no term */
#define CP_STORE_ENOREPLICA (-1102) /* written, but WAIT saw too few */
#define CP_STORE_EDOWN      (-1103) /* not connected to a master now */
#define CP_STORE_EEXIST     (-1104) /* kept: the key was set already */
#define CP_STORE_EFAILOVER  (-1105) /* a Sentinel failover is under way */
#define CP_STORE_EUNSURE    (-1106) /* written, but a failover began first */
#define CP_STORE_ENOSENTINEL                                                   \
    (-1107) /* fewer than a majority of sentinels can be heard */
#define CP_STORE_EAUTH      (-1108) /* Redis refused or wants a password */
#define CP_STORE_ERESOLVING (-1109) /* a host name lookup is under way */
#define CP_STORE_ENOHOST    (-1110) /* a host name did not resolve */

#define CP_STORE_HOST_LEN      256
#define CP_STORE_PATH_LEN      108 /* sun_path */
#define CP_STORE_MAX_SENTINELS 8
#define CP_STORE_ID_LEN        128

enum cp_store_addr_kind {
    CP_STORE_ADDR_TCP = 0, /* "host:port", "[v6]:port" */
    CP_STORE_ADDR_UNIX,    /* "unix:/path/redis.sock" */
};

/* One Redis or Sentinel endpoint. */
struct cp_store_addr {
    enum cp_store_addr_kind kind;
    char host[CP_STORE_HOST_LEN]; /* TCP: host name or address */
    int port;                     /* TCP: 1..65535 */
    char path[CP_STORE_PATH_LEN]; /* UNIX: socket path */
};

/*
 * What cp_store_new() needs. Strings are borrowed for the call only (the
 * store copies them). Zero numbers take the default in brackets.
 */
struct cp_store_config {
    const char *redis;       /* "H:P" or "unix:/path"; or NULL with sentinels */
    const char *sentinels;   /* "H:P,H:P,..." or NULL */
    const char *master_name; /* Sentinel master name ["mymaster"] */
    const char *prefix;      /* key prefix ["traefikee:"] */
    const char *node_id;     /* this node's id (lease value); required */
    unsigned lease_ms;       /* leader lease [3000]; renewed every lease/3 */
    unsigned lease_margin_ms;     /* step down at lease - margin [lease/4] */
    unsigned cmd_timeout_ms;      /* bound on one command [1000] */
    unsigned sentinel_timeout_ms; /* bound on one sentinel query [300] */
    unsigned wait_timeout_ms;     /* WAIT timeout after a write [1000] */
    int wait_replicas;            /* replicas a write needs; -1 means 0 [1] */
    unsigned history;             /* revisions kept [10] */
    unsigned failover_hold_ms; /* writes refused after a failover sign [5000] */
    const char *password;      /* AUTH on every master/replica connection (not
                                  the sentinels); NULL or "" for none */
    unsigned ping_ms;          /* liveness: a connection with nothing pending
                                  is PINGed this often [1000] */
    unsigned ping_timeout_ms;  /* ...and dropped (then made again) when no
                                  byte comes back within this [3000] */
};

/* What a Sentinel pub/sub message means for the store's master
 * (cp_store_sentinel_event()). */
enum cp_store_sentinel_ev {
    CP_STORE_SEV_NONE = 0, /* nothing for us */
    CP_STORE_SEV_HOLD,     /* a failover of our master may be starting */
    CP_STORE_SEV_SWITCH,   /* +switch-master: our master moved */
};

/* A node heartbeat as listed by cp_store_list_nodes(). */
struct cp_store_node {
    const char *id;   /* borrowed (valid during the callback) */
    const char *role; /* borrowed */
    const char *info; /* borrowed JSON text */
};

/* The connection to the master came up (<connected> 1, <master> is
 * "host:port" or "unix:/path") or went down (0, last master or ""). */
typedef void (*cp_store_state_cb)(struct cp_store *store, int connected,
                                  const char *master, void *arg);

/* Leadership changed: <is_leader> 1 with the new term's <epoch>, or 0.
 * <leader_id> is the current holder as last seen, or NULL if unknown. */
typedef void (*cp_store_leader_cb)(struct cp_store *store, int is_leader,
                                   uint64_t epoch, const char *leader_id,
                                   void *arg);

/* The current revision is <rev> (from pub/sub, or re-read after a
 * reconnect; may repeat a revision already reported). */
typedef void (*cp_store_revision_cb)(struct cp_store *store, uint64_t rev,
                                     void *arg);

struct cp_store_callbacks {
    cp_store_state_cb state;       /* may be NULL */
    cp_store_leader_cb leader;     /* may be NULL */
    cp_store_revision_cb revision; /* may be NULL */
    void *arg;                     /* passed to the three above */
};

/* Result of a write: <status> 0, CP_STORE_ENOREPLICA (rev written but fewer
 * than wait_replicas acknowledged it), CP_STORE_ESTALE or another error.
 * <rev> is the new revision (0 if none was written), <replicas> what WAIT
 * reported (-1 if WAIT did not run). */
typedef void (*cp_store_put_cb)(struct cp_store *store, int status,
                                uint64_t rev, int replicas, void *arg);

/* A document: <doc>/<len> borrowed during the call; <status> GW_ENOENT
 * when there is no such revision. */
typedef void (*cp_store_doc_cb)(struct cp_store *store, int status,
                                uint64_t rev, const char *doc, size_t len,
                                void *arg);

/* The kept revisions, newest first; <revs> borrowed during the call. */
typedef void (*cp_store_list_cb)(struct cp_store *store, int status,
                                 const uint64_t *revs, size_t n, void *arg);

/* Live node heartbeats; <nodes> borrowed during the call. */
typedef void (*cp_store_nodes_cb)(struct cp_store *store, int status,
                                  const struct cp_store_node *nodes, size_t n,
                                  void *arg);

/* A value: <value>/<len> borrowed during the call (NUL-terminated);
 * <status> GW_ENOENT when the key is not set. */
typedef void (*cp_store_value_cb)(struct cp_store *store, int status,
                                  const char *value, size_t len, void *arg);

/* A plain completion. */
typedef void (*cp_store_done_cb)(struct cp_store *store, int status, void *arg);

/* ==== security records (security.c, docs/security.md) ==== */

/* The cluster CA (<prefix>ca): its certificate, its key sealed with the
 * cluster key (opaque here), when it was made (unix seconds). */
struct cp_store_ca {
    const char *cert;
    const char *key;
    int64_t created;
};

/* <ca> borrowed during the call, non-NULL when <status> is 0; GW_ENOENT when
 * there is no CA. For a create, <created> is 1 when this call's record won,
 * 0 when another node's was there first (<ca> is then that one). */
typedef void (*cp_store_ca_cb)(struct cp_store *store, int status,
                               const struct cp_store_ca *ca, int created,
                               void *arg);

/* The join tokens (<prefix>tokens): SHA-256 hex of each role's secret (what
 * Join checks), and the token texts sealed with the cluster key so that the
 * leader can show them again (may be NULL: not stored). */
struct cp_store_tokens {
    const char *control;
    const char *data;
    const char *control_sealed;
    const char *data_sealed;
};

/* <t> borrowed during the call, non-NULL when <status> is 0; GW_ENOENT when
 * no tokens are stored. */
typedef void (*cp_store_tokens_cb)(struct cp_store *store, int status,
                                   const struct cp_store_tokens *t, void *arg);

/* One revocation (<prefix>revoked): "role/id" and the unix seconds before
 * which that node's certificates are refused. */
struct cp_store_revoked {
    const char *key;
    int64_t at;
};

/* All revocations; <v> borrowed during the call (n may be 0). */
typedef void (*cp_store_revoked_cb)(struct cp_store *store, int status,
                                    const struct cp_store_revoked *v, size_t n,
                                    void *arg);

/* Options of the embedded redis-server (cp_store_embedded_start()). */
struct cp_store_embedded_config {
    const char *data_dir;      /* required; created if missing (0700) */
    const char *redis_server;  /* binary ["redis-server" from PATH] */
    unsigned start_timeout_ms; /* wait for PING [5000] */
    int require_password;      /* requirepass with the password kept in
                                  <data_dir>/redis-password (made if absent,
                                  0600); 0: no password, as before */
};

#endif
