/*
 * node-t.h -- types of a control node (cp_node_): its command-line flags.
 * The running node (store, gRPC server, xDS, management API) is opaque.
 */
#ifndef CP_NODE_T_H
#define CP_NODE_T_H

#include "common/log/log.h"

struct cp_node;

#define CP_NODE_PATH_LEN 1024

/* The flags of the controlplane binary (design.md "Processes and flags").
 * Strings point into argv or at defaults (static or in <buf>); valid while
 * argv and the struct live. */
struct cp_node_flags {
    const char *node_id;         /* --node-id [host name] */
    const char *grpc_addr;       /* --grpc-addr [127.0.0.1:4242] */
    const char *http_addr;       /* --http-addr [127.0.0.1:8099] (dashboard) */
    const char *sentinels;       /* --sentinels H:P,... [NULL] */
    const char *master_name;     /* --master-name [mymaster] */
    const char *redis;           /* --redis H:P or unix:/path [NULL] */
    const char *data_dir;        /* --data-dir (embedded redis) [see usage] */
    const char *config;          /* --config FILE (file provider) [NULL] */
    enum cm_log_level log_level; /* --log-level [info] */
    int wait_replicas;        /* --wait-replicas [1 with sentinels, else 0] */
    unsigned wait_timeout_ms; /* --wait-timeout [1s] */
    unsigned lease_ms;        /* --lease [3s] */
    unsigned history;         /* --history [10] revisions kept */
    /* security (docs/security.md) */
    int insecure;                    /* --insecure or $TRAEFIKEE_INSECURE */
    const char *cluster_key_file;    /* [DATA-DIR/cluster.key] */
    const char *join_token;          /* --join-token [NULL], or the
                                        first line of --join-token-file */
    const char *join_token_file;     /* --join-token-file [NULL] */
    unsigned cert_ttl_s;             /* --cert-ttl [24h] */
    const char *redis_password_file; /* [NULL: $TRAEFIKEE_REDIS_PASSWORD] */
    const char *xds_plaintext_addr;  /* --xds-plaintext-addr [NULL] */
    int version;                     /* --version given */
    int help;                        /* --help given */
    char node_buf[256];
    char dir_buf[CP_NODE_PATH_LEN];
    char key_buf[CP_NODE_PATH_LEN];
    char token_buf[256]; /* the token read from --join-token-file */
};

#endif
