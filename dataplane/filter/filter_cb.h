/*
 * filter_cb.h -- module-internal: the parsed form of a circuit-breaker
 * expression (filter_cb_expr.c) that the breaker (filter_cb.c) evaluates.
 * Immutable once parsed.
 */
#ifndef DP_FILTER_CB_H
#define DP_FILTER_CB_H

#include "dataplane/filter/filter_int.h"

enum dp_filter__cb_kind {
    DP_FILTER__CB_CMP = 0, /* metric <op> literal */
    DP_FILTER__CB_AND,     /* nodes ra && rb */
    DP_FILTER__CB_OR,      /* nodes ra || rb */
};

enum dp_filter__cb_metric {
    DP_FILTER__CB_NETERR = 0, /* NetworkErrorRatio(): float */
    DP_FILTER__CB_CODES,      /* ResponseCodeRatio(): float, ranges ra/rb */
    DP_FILTER__CB_LATENCY,    /* LatencyAtQuantileMS(q): int */
};

enum dp_filter__cb_op {
    DP_FILTER__CB_LT = 0,
    DP_FILTER__CB_LE,
    DP_FILTER__CB_GT,
    DP_FILTER__CB_GE,
    DP_FILTER__CB_EQ,
    DP_FILTER__CB_NE,
};

struct dp_filter__cb_node {
    uint8_t kind, metric, op;
    int ra, rb;   /* AND/OR: children; CODES: range indices */
    double q;     /* LATENCY quantile, 0-100 */
    double fval;  /* float literal */
    int64_t ival; /* int literal */
};

#define DP_FILTER__CB_MAX_RANGES 16

struct dp_filter__cb_range {
    int64_t lo, hi; /* [lo, hi) */
};

struct dp_filter__cb_expr {
    struct dp_filter__cb_node *nodes;
    size_t n_nodes, cap_nodes;
    int root;
    struct dp_filter__cb_range ranges[DP_FILTER__CB_MAX_RANGES];
    size_t n_ranges;
    bool uses_latency;
};

/* The values an expression reads (filled from the rolling windows). */
struct dp_filter__cb_values {
    double neterr_ratio;
    uint64_t range_count[DP_FILTER__CB_MAX_RANGES];
    /* latency quantile in ms of q, computed on demand */
    int64_t (*latency_ms)(void *arg, double q);
    void *latency_arg;
};

bool dp_filter__cb_eval(const struct dp_filter__cb_expr *e,
                        const struct dp_filter__cb_values *v);

#endif
