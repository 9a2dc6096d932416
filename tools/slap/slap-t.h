/*
 * slap-t.h -- types of slap, the constant-rate HTTP load tool: the latency
 * histogram, the run's counters, parsed targets, run options and the live
 * view. Prototypes are in slap.h. Everything here is owned by the one
 * thread that runs the libuv loop of a run.
 */
#ifndef SL_SLAP_T_H
#define SL_SLAP_T_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

/* ==== log-linear histogram ==== */

/* Values (microseconds) below 2 * SL_HIST_SUB are counted exactly; above,
 * every power of two is cut into SL_HIST_SUB buckets, so a bucket is at
 * most 1/SL_HIST_SUB (0.8%) of its values wide. Values at or above
 * 2^SL_HIST_BITS us (12.7 days) are clamped into the last bucket. */
#define SL_HIST_SUB_BITS 7
#define SL_HIST_SUB      (1u << SL_HIST_SUB_BITS)
#define SL_HIST_BITS     40
#define SL_HIST_BUCKETS  (SL_HIST_SUB * (SL_HIST_BITS - SL_HIST_SUB_BITS + 1))
#define SL_HIST_VMAX     (((uint64_t)1 << SL_HIST_BITS) - 1)

/* Fixed size (35 KB): embed it, no allocation. */
struct sl_hist {
    uint64_t counts[SL_HIST_BUCKETS];
    uint64_t total;
    uint64_t min; /* exact; UINT64_MAX while empty */
    uint64_t max; /* exact (after clamping) */
    double sum;   /* for the mean */
};

/* ==== outcomes ==== */

/* Why a request failed without an HTTP response. */
enum sl_err_kind {
    SL_ERR_CONNECT_REFUSED = 0, /* ECONNREFUSED on connect */
    SL_ERR_CONNECT_TIMEOUT,     /* the timeout expired while connecting */
    SL_ERR_RESET,               /* ECONNRESET / EPIPE mid-request */
    SL_ERR_TIMEOUT,             /* the timeout expired waiting (or queued) */
    SL_ERR_BAD_RESPONSE,        /* the response did not parse */
    SL_ERR_CLOSED_EARLY,        /* EOF before the response was complete */
    SL_ERR_NO_CONN,             /* no connection and the wait queue full */
    SL_ERR_OTHER,               /* any other socket error */
    SL_ERR_COUNT,
};

/* Status codes counted: 100..599 (the parser accepts nothing else). */
#define SL_STATUS_MAX 600

/* Counters of one run. sent = completed + errors + in flight. */
struct sl_stats {
    uint64_t sent;      /* requests started (dispatched or queued) */
    uint64_t completed; /* got a whole HTTP response, any status */
    uint64_t late;      /* started more than SL_LATE_US after schedule */
    uint64_t errors[SL_ERR_COUNT];
    uint64_t status[SL_STATUS_MAX];
    struct sl_hist hist; /* latency of completed requests, scheduled time
                            to last response byte, microseconds */
    double target_rate;  /* -rate */
    uint64_t send_us;    /* how long requests were being started */
    uint64_t total_us;   /* the whole run, drain included */
};

/* ==== targets ==== */

/* One line of the targets file, with its request rendered once. */
struct sl_target {
    char *method;      /* owned, e.g. "GET" */
    uint8_t method_id; /* enum cm_h1_method */
    char *authority;   /* owned: host[:port] as written (Host header) */
    char *path;        /* owned: origin-form target, "/" at least */
    char *body_path;   /* owned, NULL: file named by @file */
    struct sockaddr_storage addr;
    uint32_t endpoint; /* index into sl_targets.endpoints */
    char *req;         /* owned: the request bytes, after build */
    size_t req_len;
};

struct sl_targets {
    struct sl_target *v; /* owned array */
    size_t n, cap;
    struct sockaddr_storage *endpoints; /* owned: distinct addresses */
    uint32_t nendpoints;
};

/* How requests are rendered (flags -H and -host). */
struct sl_req_opts {
    const char *const *headers; /* borrowed: "Name: value" each */
    size_t nheaders;
    const char *host; /* borrowed, NULL: Host from the URL */
};

/* ==== a run ==== */

/* A start more than this after its scheduled time counts as late. */
#define SL_LATE_US 5000

struct sl_view;

struct sl_run_opts {
    double rate;          /* requests per second, > 0 */
    uint64_t duration_us; /* > 0: how long to start requests */
    uint64_t timeout_us;  /* > 0: per request, from its scheduled time */
    uint32_t max_conns;   /* > 0 */
    struct sl_view *view; /* borrowed, NULL: no live view */
};

/* ==== live view ==== */

#define SL_VIEW_ROWS_MAX 40
#define SL_VIEW_RATE_N   5 /* rate samples kept: about one second */

/* The live terminal view: redrawn in place with ANSI cursor moves. */
struct sl_view {
    FILE *out; /* borrowed */
    int color; /* 1: ANSI colours */
    int lines; /* lines drawn last time (to move up over) */
    int nrows; /* histogram rows */
    uint64_t edges[SL_VIEW_ROWS_MAX + 1]; /* row i: [edges[i], edges[i+1]) */
    uint64_t sample_us[SL_VIEW_RATE_N];   /* ring of (time, sent) */
    uint64_t sample_sent[SL_VIEW_RATE_N];
    int nsamples;
    int sample_pos;
};

#endif
