/*
 * hist.c -- the latency histogram: log-linear buckets (HDR style), fixed
 * size, under 1% relative error. Owns no memory; the caller embeds it.
 * Single-threaded: the run's loop updates it, the view reads it.
 */
#include <string.h>

#include "tools/slap/slap.h"

void sl_hist_init(struct sl_hist *h)
{
    memset(h, 0, sizeof(*h));
    h->min = UINT64_MAX;
}

/* Bucket index = shift * SUB + (v >> shift), where shift makes v >> shift
 * fall in [SUB, 2 * SUB); values below 2 * SUB have shift 0 (exact). */
uint32_t sl_hist_index(uint64_t v)
{
    int bits, shift;

    if (v > SL_HIST_VMAX)
        v = SL_HIST_VMAX;
    if (v < 2 * SL_HIST_SUB)
        return (uint32_t)v;
    bits = 63 - __builtin_clzll(v); /* >= SUB_BITS + 1 */
    shift = bits - SL_HIST_SUB_BITS;
    return (uint32_t)shift * SL_HIST_SUB + (uint32_t)(v >> shift);
}

static int sl_hist_shift(uint32_t idx)
{
    if (idx < 2 * SL_HIST_SUB)
        return 0;
    return (int)(idx / SL_HIST_SUB) - 1;
}

uint64_t sl_hist_lowest(uint32_t idx)
{
    int shift = sl_hist_shift(idx);

    return (uint64_t)(idx - (uint32_t)shift * SL_HIST_SUB) << shift;
}

uint64_t sl_hist_width(uint32_t idx)
{
    return (uint64_t)1 << sl_hist_shift(idx);
}

void sl_hist_add(struct sl_hist *h, uint64_t v)
{
    if (v > SL_HIST_VMAX)
        v = SL_HIST_VMAX;
    h->counts[sl_hist_index(v)]++;
    h->total++;
    h->sum += (double)v;
    if (v < h->min)
        h->min = v;
    if (v > h->max)
        h->max = v;
}

uint64_t sl_hist_percentile(const struct sl_hist *h, double p)
{
    uint64_t rank, seen = 0, v;

    if (h->total == 0)
        return 0;
    if (p <= 0)
        return h->min;
    if (p >= 100)
        return h->max;
    /* the smallest rank with at least p% of the values at or below it */
    rank = (uint64_t)(p / 100.0 * (double)h->total + 0.999999);
    if (rank == 0)
        rank = 1;
    for (uint32_t i = 0; i < SL_HIST_BUCKETS; i++) {
        seen += h->counts[i];
        if (seen < rank)
            continue;
        v = sl_hist_lowest(i) + (sl_hist_width(i) - 1) / 2;
        if (v < h->min)
            v = h->min;
        if (v > h->max)
            v = h->max;
        return v;
    }
    return h->max;
}

double sl_hist_mean(const struct sl_hist *h)
{
    return h->total ? h->sum / (double)h->total : 0;
}

uint64_t sl_hist_count_range(const struct sl_hist *h, uint64_t lo, uint64_t hi)
{
    uint64_t n = 0;

    if (lo >= hi)
        return 0;
    for (uint32_t i = sl_hist_index(lo); i < SL_HIST_BUCKETS; i++) {
        uint64_t low = sl_hist_lowest(i);
        if (low >= hi)
            break;
        if (low >= lo)
            n += h->counts[i];
    }
    return n;
}
