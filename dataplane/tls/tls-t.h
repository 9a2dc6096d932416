/*
 * tls-t.h -- types of the data node's TLS layer (dp_tls_): compiled server
 * and client contexts (refcounted; a table holds one reference, each
 * connection another, so a certificate swap never touches an open
 * connection) and one connection's TLS state over memory BIOs. Prototypes
 * are in tls.h.
 */
#ifndef DP_TLS_T_H
#define DP_TLS_T_H

#include <stdbool.h>
#include <stddef.h>

struct dp_tls_server; /* a listener's certificates (SSL_CTX per cert) */
struct dp_tls_client; /* an upstream cluster's context, SNI, verification */
struct dp_tls_conn;   /* one connection: SSL over memory BIOs */

/* Flags of dp_tls_server_new(). */
#define DP_TLS_ALLOW_H2 0x1u /* offer "h2" in ALPN (the h2 module is on) */

/* What dp_tls_conn_read() / _handshake() return besides byte counts. */
#define DP_TLS_CLOSED 0x7fff0001 /* the peer sent close_notify */

#endif
