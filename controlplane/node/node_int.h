/*
 * node_int.h -- the running control node's state, shared by the files of
 * controlplane/node (node.c life and store callbacks, pipeline.c revisions
 * to xDS, heartbeat.c heartbeats and node events, provider.c the file
 * provider, cluster.c the HTTP server's view of the cluster, admin.c the
 * admin password). Everything here is touched on the loop (main) thread only,
 * except that the xDS event hook runs on the gRPC thread and only posts.
 */
#ifndef CP_NODE_INT_H
#define CP_NODE_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>
#include <uv.h>

#include "controlplane/auth/auth-t.h"
#include "controlplane/http/http.h"
#include "common/pki/pki.h"
#include "controlplane/member/member.h"
#include "controlplane/mgmt/mgmt.h"
#include "controlplane/node/node.h"
#include "controlplane/rpc/rpc.h"
#include "controlplane/store/store.h"
#include "controlplane/xds/xds.h"

#define CP_NODE__MOD              "node"
#define CP_NODE__HEARTBEAT_MS     1000
#define CP_NODE__HEARTBEAT_TTL_MS 3000
/* A heartbeat younger than this is healthy (as in ListNodes). */
#define CP_NODE__HEALTHY_MS 3000
/* The file the creating leader writes the first admin password to. */
#define CP_NODE__PASSWORD_FILE "admin-password"

/* scrape.c: a data node's /stats */
#define CP_NODE__SCRAPE_TIMEOUT_MS 900        /* one GET, connect included */
#define CP_NODE__SCRAPE_FRESH_MS   5000       /* older stats are not reported */
#define CP_NODE__SCRAPE_BODY_MAX   (8u << 20) /* larger answers fail */
#define CP_NODE__SCRAPE_ITEMS_MAX  20000      /* routers / endpoints kept */
#define CP_NODE__SCRAPE_NAME_MAX   256        /* longer names are left out */

struct cp_node__provider;
struct cp_node__boot;
struct cp_node__view;
struct cp_node__scraper;
struct cm_h1_resp;

struct cp_node {
    const struct cp_node_flags *flags;
    uv_loop_t *loop;
    struct cp_store_embedded *embedded;
    struct cp_store *store;
    struct cp_rpc_server *rpc;
    struct cp_xds_server *xds;
    struct cp_mgmt *mgmt;
    struct cp_http *http;
    char grpc_addr[300]; /* as others reach us */
    char http_addr[300]; /* the dashboard, as others reach us */

    uv_timer_t hb_timer;
    uv_signal_t sigterm, sigint;
    uv_timer_t stop_timer;
    bool stopping;
    uint64_t stop_ms; /* loop time of the first stop signal */

    /* pipeline.c */
    bool loading, load_again;
    uint64_t served;      /* revision in the published snapshot */
    uint64_t served_hash; /* FNV-1a of its document: a failover may drop a
                             revision and reuse nothing, but a node must
                             reload any document that differs */
    struct cp_xds_snapshot *published; /* the last one published (owned) */
    char *api_eps;    /* api.c: its api@internal endpoints, NULL none */
    unsigned api_gen; /* api.c: re-publications of one revision */

    /* heartbeat.c */
    char leader[CP_STORE_ID_LEN]; /* last leader logged ("" none) */
    char **known;                 /* "role\nid" of live nodes, sorted */
    size_t n_known;
    bool listed_once;
    bool hb_listing;

    struct cp_node__provider *provider;

    /* cluster.c */
    struct cp_node__view *view;

    /* scrape.c (made on the first tick) */
    struct cp_node__scraper *scraper;

    /* admin.c */
    char admin_hash[CP_AUTH_HASH_MAX]; /* "" while unknown */
    bool admin_reading;                /* a GET is in flight */
    bool admin_creating;               /* a first password is being made */
    bool admin_checking;               /* the password file is being checked */

    /* security.c (secure mode; untouched with --insecure) */
    struct cp_member *member;
    struct cm_pki_creds creds;        /* own: CA, certificate, key */
    char ca_fp[CM_PKI_FP_HEX];        /* "" while unknown */
    char cluster_key[CM_PKI_KEY_HEX]; /* "" while unknown */
    char *redis_password;             /* NULL: none */
    struct cp_node__boot *boot;       /* during the start-up only */
    bool store_started;               /* cp_store_start() was called */
    uv_timer_t renew_timer;
    bool renew_timer_init;
};

/* pipeline.c: the current revision changed (or may have). */
void cp_node__revision_changed(struct cp_node *n);
/* pipeline.c: publish an empty snapshot (before any revision). */
void cp_node__publish_empty(struct cp_node *n);

/* api.c: the built-in api@internal service's endpoints. The healthy
 * control nodes' HTTP addresses as "host port\n" lines, sorted: returns
 * new (free()), or NULL. */
char *cp_node__api_endpoints(struct cp_node *n);
/* Adds the ClusterLoadAssignment api@internal of <eps> to <snap>. */
int cp_node__api_add(struct cp_xds_snapshot *snap, const char *eps);
/* Whether <snap> (may be NULL) has the cluster api@internal. */
bool cp_node__api_used(const struct cp_xds_snapshot *snap);
/* Re-publishes the served snapshot if the endpoints changed (each
 * heartbeat listing). */
void cp_node__api_check(struct cp_node *n);
/* Secure mode: swaps *snap for a copy whose api@internal Cluster is TLS
 * trusting <ca_pem> (the cluster CA). No-op for a NULL <ca_pem> or a
 * snapshot without api@internal. 0 or GW_ENOMEM (*snap unchanged). Any
 * thread. */
int cp_node__api_tls(struct cp_xds_snapshot **snap, const char *ca_pem);

/* heartbeat.c */
void cp_node__heartbeat_tick(uv_timer_t *t);
void cp_node__check_leader(struct cp_node *n);
void cp_node__xds_event(void *arg, const struct cp_xds_event *ev);
void cp_node__heartbeat_deinit(struct cp_node *n);

/* cluster.c: the source of the HTTP server (dashboard, REST API) */
int cp_node__view_new(struct cp_node *n);
void cp_node__view_free(struct cp_node *n);
/* Fills <src> with the view's callbacks. */
void cp_node__view_source(struct cp_node *n, struct cp_http_source *src);
/* Heartbeats listed (control, data, revision metadata): updates nodes and
 * metadata, publishes "node", "ack" and "nack" events. */
/* Calls <fn> with the HTTP and gRPC addresses of each healthy control
 * node listed. */
void cp_node__view_each_control(struct cp_node *n,
                                void (*fn)(void *arg, const char *http,
                                           const char *grpc),
                                void *arg);
void cp_node__view_listed(struct cp_node *n, const struct cp_store_node *nodes,
                          size_t count);
/* Re-reads the kept revisions (each tick, and after a new one). */
void cp_node__view_refresh_revisions(struct cp_node *n);
/* The leader changed to <leader> ("" unknown): "leader" event. */
void cp_node__view_leader(struct cp_node *n, const char *leader);
/* This node now serves <rev>: "revision" event. */
void cp_node__view_revision(struct cp_node *n, uint64_t rev);

/* admin.c: the admin password hash */
/* Each tick: re-reads the hash; the leader creates the first password. */
void cp_node__admin_tick(struct cp_node *n);
/* The leader wrote <hash> for SetAdminHash (cp_mgmt_admin_hash_cb). */
void cp_node__admin_written(void *arg, const char *hash);
/* For the HTTP server: the hash, or NULL while unknown. */
const char *cp_node__admin_hash(const struct cp_node *n);

/* scrape.c */
/* Each tick, with this node's xDS streams: starts a GET /stats to each
 * data node's admin address unless one is in flight; forgets nodes gone. */
void cp_node__scrape_tick(struct cp_node *n, const struct cp_xds_node_info *d,
                          size_t count);
/* The last digest of data node <id> if fresh (borrowed until the next
 * tick), else NULL; *admin its admin address (borrowed likewise) or NULL. */
json_t *cp_node__scrape_stats(struct cp_node *n, const char *id,
                              const char **admin);
/* Stopping: ends the GETs in flight (their handles close on the loop). */
void cp_node__scrape_close(struct cp_node *n);
/* After the loop ended. */
void cp_node__scrape_free(struct cp_node *n);
/* The address to scrape ("IP:port", "[v6]:port") for Node.metadata
 * admin_addr <admin> of a stream from <peer> (gRPC peer; its IP replaces
 * an unspecified host). 0, GW_EINVAL (no IP literal) or GW_ETOOBIG. */
int cp_node__scrape_addr(const char *admin, const char *peer, char *out,
                         size_t len);
/* Parses the answer to GET /stats in buf[0, len) (<eof>: the peer closed)
 * with <resp> (initialised, reset for GET; resumable). Returns 1 with *out
 * the digest (new), 0 need more, or GW_EPROTO (not a 200 with a /stats
 * body). */
int cp_node__scrape_parse(struct cm_h1_resp *resp, const char *buf, size_t len,
                          bool eof, json_t **out);
/* The digest of a /stats JSON body, as heartbeats carry it:
 *   {"routers": {NAME: [requests, errors, latency_us]},
 *    "endpoints": [[cluster, address, healthy 0/1]] (checked clusters'
 *                 endpoints, and any other that takes no traffic),
 *    "entry": [listener address]}
 * Returns new, or NULL if <body> is not a /stats object. */
json_t *cp_node__scrape_digest(const char *body, size_t len);

/* security.c (docs/security.md) */
/* mkdir -p <dir>, mode 0700 for what it makes. */
int cp_node__make_dir(const char *dir);
/* Reads --redis-password-file or $TRAEFIKEE_REDIS_PASSWORD into
 * n->redis_password. */
int cp_node__redis_password(struct cp_node *n, char *err, size_t errlen);
/* With the store made (not started): starts it, runs the loop until the
 * cluster CA is known and its key unsealed (made, or joined with
 * --join-token), then issues this node's certificate and writes its files.
 * A one-line reason in <err> on failure. */
int cp_node__secure_boot(struct cp_node *n, char *err, size_t errlen);
/* Whether the start-up above is running (store callbacks wait). */
bool cp_node__booting(const struct cp_node *n);
/* The security fields of the management API's config. */
void cp_node__secure_mgmt(struct cp_node *n, struct cp_mgmt_config *mc);
/* Gives the certificate to the gRPC and HTTP servers and schedules its
 * renewal (two thirds of its life). */
int cp_node__secure_serve(struct cp_node *n, char *err, size_t errlen);
/* Reissues this node's certificate and the admin bundle now (timer). */
void cp_node__renew_now(uv_timer_t *t);
/* Own certificate then the CA: returns new (free()), or NULL. */
char *cp_node__cert_chain(const struct cp_node *n);
/* Stopping: closes the renewal timer. */
void cp_node__secure_close(struct cp_node *n);
/* After the loop ended. */
void cp_node__secure_free(struct cp_node *n);

/* provider.c */
int cp_node__provider_start(struct cp_node *n, const char *path);
/* The node became leader: apply the file if it differs. */
void cp_node__provider_check(struct cp_node *n);
void cp_node__provider_close(struct cp_node *n);

#endif
