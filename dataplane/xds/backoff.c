/*
 * backoff.c -- the reconnect schedule: exponential from a base to a cap,
 * each delay scaled by a uniform jitter factor in [0.5, 1.5] from a
 * xorshift64* generator the owner seeds. Pure; one owner at a time.
 */
#include "dataplane/xds/xds_int.h"

void dp_xds__backoff_init(struct dp_xds__backoff *b, uint32_t base_ms,
                          uint32_t max_ms, uint64_t seed)
{
    b->base_ms = base_ms ? base_ms : 1;
    b->max_ms = max_ms < b->base_ms ? b->base_ms : max_ms;
    b->attempt = 0;
    b->rng = seed ? seed : 0x9e3779b97f4a7c15ull;
}

static uint64_t next_rand(struct dp_xds__backoff *b)
{
    b->rng ^= b->rng >> 12;
    b->rng ^= b->rng << 25;
    b->rng ^= b->rng >> 27;
    return b->rng * 0x2545f4914f6cdd1dull;
}

uint32_t dp_xds__backoff_next(struct dp_xds__backoff *b)
{
    uint64_t d = b->base_ms;
    for (uint32_t i = 0; i < b->attempt && d < b->max_ms; i++)
        d *= 2;
    if (d > b->max_ms)
        d = b->max_ms;
    if (b->attempt < 64)
        b->attempt++;
    /* factor in [0.5, 1.5]: d/2 + uniform [0, d] */
    uint64_t r = next_rand(b) % (d + 1);
    return (uint32_t)(d / 2 + r);
}

void dp_xds__backoff_reset(struct dp_xds__backoff *b)
{
    b->attempt = 0;
}
