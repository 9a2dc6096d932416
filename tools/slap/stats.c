/*
 * stats.c -- the counters of a run (status codes, errors by kind, the
 * latency histogram) and the final summary, as text and as JSON. Owns no
 * heap memory (the JSON it returns is the caller's). Updated from the run's
 * loop only.
 */
#include <string.h>

#include "tools/slap/slap.h"

static const struct {
    const char *name;
    const char *key;
} sl_errs[SL_ERR_COUNT] = {
    [SL_ERR_CONNECT_REFUSED] = {"connect refused", "connect_refused"},
    [SL_ERR_CONNECT_TIMEOUT] = {"connect timeout", "connect_timeout"},
    [SL_ERR_RESET] = {"reset", "reset"},
    [SL_ERR_TIMEOUT] = {"timeout", "timeout"},
    [SL_ERR_BAD_RESPONSE] = {"bad response", "bad_response"},
    [SL_ERR_CLOSED_EARLY] = {"closed early", "closed_early"},
    [SL_ERR_NO_CONN] = {"no connection", "no_connection"},
    [SL_ERR_OTHER] = {"other", "other"},
};

const char *sl_err_name(enum sl_err_kind kind)
{
    return (unsigned)kind < SL_ERR_COUNT ? sl_errs[kind].name : "?";
}

const char *sl_err_key(enum sl_err_kind kind)
{
    return (unsigned)kind < SL_ERR_COUNT ? sl_errs[kind].key : "?";
}

void sl_stats_init(struct sl_stats *st, double target_rate)
{
    memset(st, 0, sizeof(*st));
    sl_hist_init(&st->hist);
    st->target_rate = target_rate;
}

void sl_stats_response(struct sl_stats *st, int code, uint64_t latency_us)
{
    if (code < 0 || code >= SL_STATUS_MAX)
        code = 0; /* not from our parser; kept as "0" */
    st->status[code]++;
    st->completed++;
    sl_hist_add(&st->hist, latency_us);
}

void sl_stats_error(struct sl_stats *st, enum sl_err_kind kind)
{
    if ((unsigned)kind >= SL_ERR_COUNT)
        kind = SL_ERR_OTHER;
    st->errors[kind]++;
}

uint64_t sl_stats_errors(const struct sl_stats *st)
{
    uint64_t n = 0;

    for (int k = 0; k < SL_ERR_COUNT; k++)
        n += st->errors[k];
    return n;
}

uint64_t sl_stats_in_flight(const struct sl_stats *st)
{
    uint64_t done = st->completed + sl_stats_errors(st);

    return st->sent > done ? st->sent - done : 0;
}

uint64_t sl_stats_failed(const struct sl_stats *st)
{
    uint64_t n = sl_stats_errors(st);

    for (int c = 0; c < SL_STATUS_MAX; c++)
        if (c < 200 || c >= 400)
            n += st->status[c];
    return n;
}

double sl_stats_rate(const struct sl_stats *st)
{
    return st->send_us ? (double)st->sent * 1e6 / (double)st->send_us : 0;
}

/* ==== text ==== */

static double sl_ms(uint64_t us)
{
    return (double)us / 1000.0;
}

void sl_stats_print(const struct sl_stats *st, FILE *out)
{
    const struct sl_hist *h = &st->hist;
    int any = 0;

    fprintf(out, "duration:   %.2fs (requests started for %.2fs)\n",
            (double)st->total_us / 1e6, (double)st->send_us / 1e6);
    fprintf(out, "sent:       %llu (%.1f/s, target %.1f/s, %llu late)\n",
            (unsigned long long)st->sent, sl_stats_rate(st), st->target_rate,
            (unsigned long long)st->late);
    fprintf(out, "completed:  %llu\n", (unsigned long long)st->completed);
    fprintf(out, "failed:     %llu\n", (unsigned long long)sl_stats_failed(st));
    fprintf(out, "status:    ");
    for (int c = 0; c < SL_STATUS_MAX; c++) {
        if (st->status[c] == 0)
            continue;
        fprintf(out, " [%d]: %llu", c, (unsigned long long)st->status[c]);
        any = 1;
    }
    fprintf(out, "%s\nerrors:    ", any ? "" : " none");
    any = 0;
    for (int k = 0; k < SL_ERR_COUNT; k++) {
        if (st->errors[k] == 0)
            continue;
        fprintf(out, "%s %s: %llu", any ? "," : "", sl_err_name(k),
                (unsigned long long)st->errors[k]);
        any = 1;
    }
    fprintf(out, "%s\n", any ? "" : " none");
    if (h->total == 0) {
        fprintf(out, "latency:    no responses\n");
        return;
    }
    fprintf(out,
            "latency:    p50 %.2fms  p90 %.2fms  p99 %.2fms  p99.9 %.2fms  "
            "max %.2fms  mean %.2fms\n",
            sl_ms(sl_hist_percentile(h, 50)), sl_ms(sl_hist_percentile(h, 90)),
            sl_ms(sl_hist_percentile(h, 99)),
            sl_ms(sl_hist_percentile(h, 99.9)), sl_ms(h->max),
            sl_hist_mean(h) / 1000.0);
}

/* ==== JSON ==== */

static json_t *sl_stats_json_latency(const struct sl_hist *h)
{
    return json_pack(
        "{s:f, s:f, s:f, s:f, s:f, s:f, s:f}", "p50",
        sl_ms(sl_hist_percentile(h, 50)), "p90",
        sl_ms(sl_hist_percentile(h, 90)), "p99",
        sl_ms(sl_hist_percentile(h, 99)), "p999",
        sl_ms(sl_hist_percentile(h, 99.9)), "max", sl_ms(h->total ? h->max : 0),
        "min", sl_ms(h->total ? h->min : 0), "mean", sl_hist_mean(h) / 1000.0);
}

static int sl_stats_json_counts(const struct sl_stats *st, json_t *status,
                                json_t *errors)
{
    char code[8];
    int rc = 0;

    for (int c = 0; c < SL_STATUS_MAX; c++) {
        if (st->status[c] == 0)
            continue;
        snprintf(code, sizeof(code), "%d", c);
        rc |= json_object_set_new(status, code,
                                  json_integer((json_int_t)st->status[c]));
    }
    for (int k = 0; k < SL_ERR_COUNT; k++) {
        if (st->errors[k] == 0)
            continue;
        rc |= json_object_set_new(errors, sl_err_key(k),
                                  json_integer((json_int_t)st->errors[k]));
    }
    return rc;
}

json_t *sl_stats_json(const struct sl_stats *st)
{
    json_t *status = json_object(), *errors = json_object();
    json_t *lat = sl_stats_json_latency(&st->hist);

    if (status == NULL || errors == NULL || lat == NULL ||
        sl_stats_json_counts(st, status, errors) != 0) {
        json_decref(status);
        json_decref(errors);
        json_decref(lat);
        return NULL;
    }
    /* "o" takes the references, also when packing fails */
    return json_pack(
        "{s:I, s:I, s:I, s:I, s:I, s:o, s:o, s:o, s:f, s:f, s:f, s:f}", "sent",
        (json_int_t)st->sent, "completed", (json_int_t)st->completed, "failed",
        (json_int_t)sl_stats_failed(st), "late", (json_int_t)st->late,
        "in_flight", (json_int_t)sl_stats_in_flight(st), "status", status,
        "errors", errors, "latency_ms", lat, "rate", sl_stats_rate(st),
        "target_rate", st->target_rate, "duration_s", (double)st->send_us / 1e6,
        "total_s", (double)st->total_us / 1e6);
}
