/*
 * view.c -- the live terminal view: counters, current rate, responses by
 * status, errors by kind and a latency histogram of horizontal bars over
 * log-spaced rows, redrawn in place with ANSI cursor moves. Owns no heap
 * memory. Drawn from the run's loop on a timer (about 4 times a second).
 */
#include <math.h>
#include <stdarg.h>
#include <string.h>

#include "tools/slap/slap.h"

#define SL_VIEW_BAR   50
#define SL_VIEW_BUF   16384
#define SL_VIEW_RED   "\x1b[31m"
#define SL_VIEW_GREEN "\x1b[32m"
#define SL_VIEW_YEL   "\x1b[33m"
#define SL_VIEW_OFF   "\x1b[0m"
#define SL_VIEW_EOL   "\x1b[K\n"

void sl_view_init(struct sl_view *v, FILE *out, int color, uint64_t min_us,
                  uint64_t max_us, int nrows)
{
    static const uint64_t fixed[] = {
        0,      1000,   2000,   5000,    10000,   20000,   50000,
        100000, 200000, 500000, 1000000, 2000000, 5000000, UINT64_MAX};

    memset(v, 0, sizeof(*v));
    v->out = out;
    v->color = color;
    v->nsamples = 1; /* (0, 0): the start, for the first rate */
    v->sample_pos = 1;
    if (min_us == 0 || max_us <= min_us || nrows < 1) {
        v->nrows = (int)(sizeof(fixed) / sizeof(fixed[0])) - 1;
        memcpy(v->edges, fixed, sizeof(fixed));
        return;
    }
    if (nrows > SL_VIEW_ROWS_MAX - 2)
        nrows = SL_VIEW_ROWS_MAX - 2;
    /* "<min", nrows log-spaced rows, "max+" */
    v->edges[0] = 0;
    for (int i = 0; i <= nrows; i++)
        v->edges[i + 1] = (uint64_t)llround(
            (double)min_us *
            pow((double)max_us / (double)min_us, (double)i / nrows));
    v->edges[nrows + 2] = UINT64_MAX;
    v->nrows = nrows + 2;
}

/* ==== rendering ==== */

/* Appends printf output to <b> (bounded, always NUL-terminated). */
struct sl_out {
    char *p;
    size_t len, cap;
    int lines;
};

__attribute__((format(printf, 2, 3))) static void
sl_out_fmt(struct sl_out *o, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (o->len + 1 >= o->cap)
        return;
    va_start(ap, fmt);
    n = vsnprintf(o->p + o->len, o->cap - o->len, fmt, ap);
    va_end(ap);
    if (n > 0)
        o->len += (size_t)n < o->cap - o->len ? (size_t)n : o->cap - o->len - 1;
}

static void sl_out_eol(struct sl_out *o)
{
    sl_out_fmt(o, SL_VIEW_EOL);
    o->lines++;
}

/* "1ms", "2.5s", "800us": short latency labels. */
static const char *sl_view_label(uint64_t us, char *buf, size_t len)
{
    if (us >= 1000000)
        snprintf(buf, len, "%gs", (double)us / 1e6);
    else if (us >= 1000)
        snprintf(buf, len, "%gms", (double)us / 1e3);
    else
        snprintf(buf, len, "%uus", (unsigned)us);
    return buf;
}

/* Requests started per second over the last samples (about a second). */
static double sl_view_rate(struct sl_view *v, uint64_t now_us, uint64_t sent)
{
    int oldest;
    double rate = 0;

    v->sample_us[v->sample_pos] = now_us;
    v->sample_sent[v->sample_pos] = sent;
    v->sample_pos = (v->sample_pos + 1) % SL_VIEW_RATE_N;
    if (v->nsamples < SL_VIEW_RATE_N)
        v->nsamples++;
    oldest = v->nsamples < SL_VIEW_RATE_N ? 0 : v->sample_pos;
    if (now_us > v->sample_us[oldest])
        rate = (double)(sent - v->sample_sent[oldest]) * 1e6 /
               (double)(now_us - v->sample_us[oldest]);
    return rate;
}

static const char *sl_view_code_color(const struct sl_view *v, int code)
{
    if (!v->color)
        return "";
    if (code >= 200 && code < 400)
        return SL_VIEW_GREEN;
    return code >= 500 ? SL_VIEW_RED : SL_VIEW_YEL;
}

static void sl_view_counts(struct sl_view *v, const struct sl_stats *st,
                           struct sl_out *o)
{
    const char *off = v->color ? SL_VIEW_OFF : "";
    int any = 0;

    sl_out_fmt(o, "responses:");
    for (int c = 0; c < SL_STATUS_MAX; c++) {
        if (st->status[c] == 0)
            continue;
        sl_out_fmt(o, " %s[%d]: %llu%s", sl_view_code_color(v, c), c,
                   (unsigned long long)st->status[c], off);
        any = 1;
    }
    if (!any)
        sl_out_fmt(o, " none");
    sl_out_eol(o);
    sl_out_fmt(o, "errors:   ");
    any = 0;
    for (int k = 0; k < SL_ERR_COUNT; k++) {
        if (st->errors[k] == 0)
            continue;
        sl_out_fmt(o, " %s%s: %llu%s", v->color ? SL_VIEW_RED : "",
                   sl_err_name(k), (unsigned long long)st->errors[k], off);
        any = 1;
    }
    if (!any)
        sl_out_fmt(o, " none");
    sl_out_eol(o);
}

static void sl_view_row_label(const struct sl_view *v, int i, char *buf,
                              size_t len)
{
    char a[32], b[32];

    if (i == 0)
        snprintf(buf, len, "<%s", sl_view_label(v->edges[1], a, sizeof(a)));
    else if (v->edges[i + 1] == UINT64_MAX)
        snprintf(buf, len, "%s+", sl_view_label(v->edges[i], a, sizeof(a)));
    else
        snprintf(buf, len, "%s-%s", sl_view_label(v->edges[i], a, sizeof(a)),
                 sl_view_label(v->edges[i + 1], b, sizeof(b)));
}

static void sl_view_hist(struct sl_view *v, const struct sl_stats *st,
                         struct sl_out *o)
{
    uint64_t n[SL_VIEW_ROWS_MAX], top = 0;
    char label[80], bar[SL_VIEW_BAR + 1];

    for (int i = 0; i < v->nrows; i++) {
        n[i] = sl_hist_count_range(&st->hist, v->edges[i], v->edges[i + 1]);
        if (n[i] > top)
            top = n[i];
    }
    for (int i = 0; i < v->nrows; i++) {
        int w = top ? (int)((n[i] * SL_VIEW_BAR + top - 1) / top) : 0;
        memset(bar, '*', (size_t)w);
        bar[w] = '\0';
        sl_view_row_label(v, i, label, sizeof(label));
        sl_out_fmt(o, "%14s: [%8llu] %s", label, (unsigned long long)n[i], bar);
        sl_out_eol(o);
    }
}

int sl_view_render(struct sl_view *v, const struct sl_stats *st,
                   uint64_t elapsed_us, uint64_t duration_us, char *buf,
                   size_t cap)
{
    struct sl_out o = {buf, 0, cap, 0};
    char e[32], d[32];

    if (cap == 0)
        return 0;
    buf[0] = '\0';
    sl_out_fmt(&o,
               "elapsed: %s/%s  sent: %llu  in-flight: %llu  late: %llu  "
               "rate: %.0f/%.0f RPS",
               sl_dur_format(elapsed_us, e, sizeof(e)),
               sl_dur_format(duration_us, d, sizeof(d)),
               (unsigned long long)st->sent,
               (unsigned long long)sl_stats_in_flight(st),
               (unsigned long long)st->late,
               sl_view_rate(v, elapsed_us, st->sent), st->target_rate);
    sl_out_eol(&o);
    sl_view_counts(v, st, &o);
    sl_view_hist(v, st, &o);
    return o.lines;
}

void sl_view_draw(struct sl_view *v, const struct sl_stats *st,
                  uint64_t elapsed_us, uint64_t duration_us)
{
    char buf[SL_VIEW_BUF];
    int lines =
        sl_view_render(v, st, elapsed_us, duration_us, buf, sizeof(buf));

    if (v->lines > 0)
        fprintf(v->out, "\x1b[%dA\r", v->lines);
    fputs(buf, v->out);
    fflush(v->out);
    v->lines = lines;
}
