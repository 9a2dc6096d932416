/*
 * slap.h -- slap, a constant-rate (open-loop) HTTP/1.1 load tool like
 * slapper: targets file, durations, latency histogram, the run on a libuv
 * loop, the live view and the final summary. Types are in slap-t.h.
 */
#ifndef SL_SLAP_H
#define SL_SLAP_H

#include <jansson.h>
#include <stdbool.h>

#include "common/err/err.h"
#include "tools/slap/slap-t.h"

/* ==== histogram (hist.c) ==== */

void sl_hist_init(struct sl_hist *h);

/* Counts one value (microseconds); values above SL_HIST_VMAX are clamped. */
void sl_hist_add(struct sl_hist *h, uint64_t v);

/* Bucket of <v> (clamped), and the range of values a bucket holds:
 * [sl_hist_lowest(i), sl_hist_lowest(i) + sl_hist_width(i)). */
uint32_t sl_hist_index(uint64_t v);
uint64_t sl_hist_lowest(uint32_t idx);
uint64_t sl_hist_width(uint32_t idx);

/* The value below which <p> percent (0..100) of the values fall, within
 * one bucket (< 1%); the middle of that bucket, kept within [min, max].
 * 0 when empty. */
uint64_t sl_hist_percentile(const struct sl_hist *h, double p);

/* Mean, 0 when empty. */
double sl_hist_mean(const struct sl_hist *h);

/* Values counted in buckets whose lowest value is in [lo, hi). */
uint64_t sl_hist_count_range(const struct sl_hist *h, uint64_t lo, uint64_t hi);

/* ==== durations (dur.c) ==== */

/* Parses a Go-style duration: one or more <number><unit>, number with an
 * optional fraction, unit ns, us, ms, s, m or h ("1m30s", "1.5s", "250ms");
 * a bare "0" too. Stores microseconds (nanoseconds truncated). Returns 0 or
 * GW_EINVAL (syntax, no unit, above 2^53 us). */
int sl_dur_parse(const char *s, uint64_t *us) CM_MUST_CHECK;

/* Writes <us> shortly ("250ms", "1.5s", "2m0s", "850us") into <buf>.
 * Returns <buf>. */
const char *sl_dur_format(uint64_t us, char *buf, size_t len);

/* ==== targets (targets.c) ==== */

/* Largest targets file accepted (bytes). */
#define SL_TARGETS_MAX (16 * 1024 * 1024)

void sl_targets_init(struct sl_targets *t);
void sl_targets_deinit(struct sl_targets *t);

/* Parses a targets file, <text> of <len> bytes (borrowed), appending to
 * <t>. One request per line: "METHOD URL [@BODYFILE]" or just "URL" (GET);
 * blank lines and lines starting with '#' are skipped. URLs are
 * http://HOST[:PORT][/path][?query], HOST an IP literal ([v6] in brackets)
 * or localhost. Returns 0, or GW_EINVAL with "line N: why" in <err>
 * (also when there is no target at all). */
int sl_targets_parse(struct sl_targets *t, const char *text, size_t len,
                     char *err, size_t errlen) CM_MUST_CHECK;

/* Reads body files and renders every target's request with <o>'s headers;
 * groups targets by address into endpoints. Returns 0, or GW_EINVAL /
 * GW_EIO with a message in <err>. */
int sl_targets_build(struct sl_targets *t, const struct sl_req_opts *o,
                     char *err, size_t errlen) CM_MUST_CHECK;

/* ==== counters and summary (stats.c) ==== */

void sl_stats_init(struct sl_stats *st, double target_rate);

/* A whole response with status <code> (100..599) after <latency_us>. */
void sl_stats_response(struct sl_stats *st, int code, uint64_t latency_us);

void sl_stats_error(struct sl_stats *st, enum sl_err_kind kind);

uint64_t sl_stats_errors(const struct sl_stats *st);

/* Requests started but not finished. */
uint64_t sl_stats_in_flight(const struct sl_stats *st);

/* Errors plus responses outside 2xx/3xx. */
uint64_t sl_stats_failed(const struct sl_stats *st);

/* Achieved rate: sent over send_us. */
double sl_stats_rate(const struct sl_stats *st);

/* "connect refused" (text) and "connect_refused" (JSON key). */
const char *sl_err_name(enum sl_err_kind kind);
const char *sl_err_key(enum sl_err_kind kind);

/* Writes the final summary as text. */
void sl_stats_print(const struct sl_stats *st, FILE *out);

/* The summary as JSON: sent, completed, failed, late, in_flight, status
 * {"200": n}, errors {"timeout": n}, latency_ms {p50, p90, p99, p999, max,
 * mean}, rate, target_rate, duration_s. Returns new; free with
 * json_decref(). NULL when out of memory. */
json_t *sl_stats_json(const struct sl_stats *st);

/* ==== live view (view.c) ==== */

/* Prepares <v> to draw on <out> (borrowed). Histogram rows: with min_us
 * and max_us 0 the fixed 1-2-5 rows <1ms .. >5s; else "<min", <nrows> log
 * spaced rows from min_us to max_us, and "max+". */
void sl_view_init(struct sl_view *v, FILE *out, int color, uint64_t min_us,
                  uint64_t max_us, int nrows);

/* Renders the view of <st> at <elapsed_us> of <duration_us> into <buf>
 * (<cap> bytes, NUL-terminated, truncated if short). Lines end with
 * "\x1b[K\n" (clear to the end of the line). Returns the number of lines. */
int sl_view_render(struct sl_view *v, const struct sl_stats *st,
                   uint64_t elapsed_us, uint64_t duration_us, char *buf,
                   size_t cap);

/* Redraws the view in place (moves up over the last drawing). */
void sl_view_draw(struct sl_view *v, const struct sl_stats *st,
                  uint64_t elapsed_us, uint64_t duration_us);

/* ==== the run (run.c) ==== */

/* Runs the load: starts requests at o->rate for o->duration_us, round
 * robin over <t> (built, borrowed), on keep-alive connections; waits for
 * the last ones (each bounded by o->timeout_us); fills <st> (initialised
 * by the caller). SIGINT stops starting requests early. Returns 0, or a
 * negative UV_E* / GW_ENOMEM when the run could not be set up. */
int sl_run(const struct sl_targets *t, const struct sl_run_opts *o,
           struct sl_stats *st) CM_MUST_CHECK;

#endif
