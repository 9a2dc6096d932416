/*
 * proxy_hc_int.h -- what the active health checker's two files share: the
 * checker's types (a target per checked cluster state, an endpoint entry
 * per probe) and the calls between the engine and HTTP probes
 * (proxy_hc.c) and the gRPC probe (proxy_hc_grpc.c). The checker runs on
 * its own thread and loop; nothing here is used elsewhere.
 */
#ifndef DP_PROXY_HC_INT_H
#define DP_PROXY_HC_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dataplane/proxy/proxy_int.h"
#include "dataplane/table/table.h"

#define HC_BUF     128 /* HTTP: the status line; gRPC: the message */
#define HC_WHY     160 /* the reason of a failed probe */
#define HC_GRPC_UA "traefikee-health-check"

struct dp_proxy__hc_target;

/* One endpoint's checker; a probe in flight owns tcp and timer. */
struct dp_proxy__hc_ep {
    struct dp_proxy__hc_target *tg;
    size_t idx;
    struct sockaddr_storage addr;
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_connect_t conn;
    uv_write_t wr;
    struct dp_tls_conn *tls;  /* the probe's TLS, or NULL (plain) */
    struct dp_h2_session *h2; /* gRPC: the probe's session, or NULL; freed
                                 once the probe's handles have closed */
    char buf[HC_BUF];         /* response plaintext (gRPC: the message) */
    size_t len;
    char why[HC_WHY]; /* why the last probe failed */
    int handles;      /* open handles of the probe in flight */
    bool busy;        /* a probe is in flight */
    bool healthy;     /* as last set in the state */
    uint32_t ok_run, fail_run;
    uint64_t due; /* loop ms of the next probe */
};

/* The checker of one cluster state. Freed once dropped and idle. */
struct dp_proxy__hc_target {
    struct dp_proxy__hc *hc;
    struct dp_proxy__hc_target *next;
    struct dp_cluster_state *st; /* reference held */
    char *name;                  /* cluster, for logs */
    uint8_t kind;                /* DP_HC_HTTP or DP_HC_GRPC */
    char *req; /* HTTP: the probe request; gRPC: "service\0authority\0"
                  then "name\0value\0" per metadata field */
    struct dp_hc_status_range *statuses; /* expected; none = any 2xx */
    size_t n_statuses;
    struct dp_tls_client *tls; /* reference held; NULL: plain HTTP */
    size_t req_len;
    uint64_t interval_ms, timeout_ms;
    uint32_t healthy_th, unhealthy_th;
    uint16_t port; /* the check's alt_port, or 0 */
    struct dp_proxy__hc_ep *eps;
    size_t n_eps;
    size_t busy; /* probes in flight */
    bool keep;   /* marked during a sync */
    bool dropped;
};

struct dp_proxy__hc {
    struct dp_proxy *p;
    uv_loop_t loop;
    uv_thread_t thread;
    uv_async_t stop;
    uv_timer_t tick;
    uint64_t seen_swaps;
    bool synced;
    bool stopping;
    struct dp_proxy__hc_target *targets;
    uint64_t checks, failures, unhealthy; /* atomics */
    char rbuf[DP_PROXY__TLS_IN]; /* ciphertext, fed to a probe at once */
    char pbuf[DP_PROXY__TLS_IN]; /* gRPC over TLS: plaintext, fed at once */
};

/* ==== proxy_hc.c ==== */

/* Ends the probe in flight: <why> NULL when it passed, else the reason
 * (also in e->why). Marks the endpoint after enough results in a row. */
void dp_proxy__hc_done(struct dp_proxy__hc_ep *e, const char *why);
/* Fails the probe in flight with a reason made from <fmt> (no quotes). */
void dp_proxy__hc_fail(struct dp_proxy__hc_ep *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The probe in flight has ended (its handles are closing). */
bool dp_proxy__hc_over(const struct dp_proxy__hc_ep *e);
/* Headers of the check that are the probe's own, not sent as given. */
bool dp_proxy__hc_own_header(const char *name);
bool dp_proxy__hc_has_header(const struct dp_health_check *h, const char *name);

/* ==== proxy_hc_grpc.c ==== */

/* The gRPC probe's key (struct dp_proxy__hc_target.req, <*len> bytes):
 * returns new, or NULL when out of memory. */
char *dp_proxy__hc_grpc_key(const struct dp_cluster *c,
                            const struct dp_health_check *h, size_t *len);
/* Starts <e>'s HTTP/2 session with the Check request queued (it goes once
 * connected). 0 or a negative error. */
int dp_proxy__hc_grpc_begin(struct dp_proxy__hc_ep *e);
/* Sends what <e>'s session has queued (once connected, or once TLS is
 * up); fails the probe on an error. */
void dp_proxy__hc_grpc_flush(struct dp_proxy__hc_ep *e);
/* Plaintext from the upstream for <e>'s session. */
void dp_proxy__hc_grpc_input(struct dp_proxy__hc_ep *e, const void *p,
                             size_t n);
/* libuv read callback of a plain (h2c) gRPC probe. */
void dp_proxy__hc_grpc_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b);

#endif
