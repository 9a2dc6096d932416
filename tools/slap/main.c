/*
 * main.c -- the slap command: flags, the targets file, one run, the final
 * summary as text and JSON, and the exit status (0; 1 with -fail-on-error
 * when a request failed, or when the run could not start; 2 on usage).
 * Single-threaded; everything it allocates is freed before it returns.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log/log.h"
#include "tools/slap/slap.h"

#define SL_HEADERS_MAX 64
#define SL_RATE_MAX    1e6
#define SL_DUR_LIMIT   (24ull * 3600 * 1000000) /* one day */

struct sl_flags {
    const char *targets;
    const char *json;
    const char *host;
    const char *headers[SL_HEADERS_MAX];
    size_t nheaders;
    double rate;
    uint64_t duration_us, timeout_us, min_us, max_us;
    unsigned long conns;
    int fail_on_error, quiet;
};

static const char sl_usage_text[] =
    "usage: slap -targets FILE -rate N [flags]\n"
    "  -targets FILE    requests, one per line: METHOD URL [@BODYFILE]\n"
    "                   (- reads stdin); round robin over them\n"
    "  -rate N          requests per second (open loop, constant rate)\n"
    "  -duration D      how long to start requests (default 10s; 2m, 1m30s)\n"
    "  -timeout D       per request, from its scheduled time (default 5s)\n"
    "  -conns N         most connections (keep-alive pool; default 256);\n"
    "                   when all are busy, requests wait in a bounded queue\n"
    "                   (-workers is the same flag)\n"
    "  -json FILE       write the summary as JSON (- for stdout)\n"
    "  -fail-on-error   exit 1 if any request failed (error, not 2xx/3xx)\n"
    "  -quiet           no live view\n"
    "  -H 'Name: value' extra request header (repeatable)\n"
    "  -host NAME       Host header (default: from the URL)\n"
    "  -minY D -maxY D  live histogram range (default rows <1ms .. 5s+)\n";

static int sl_usage(const char *why, const char *arg)
{
    if (why != NULL)
        fprintf(stderr, "slap: %s%s%s\n", why, arg ? ": " : "", arg ? arg : "");
    fputs(sl_usage_text, stderr);
    return 2;
}

/* "-name", "--name": returns the name without dashes, or NULL. */
static const char *sl_flag_name(const char *a, char *buf, size_t len,
                                const char **inline_val)
{
    const char *eq;
    size_t n;

    if (a[0] != '-' || a[1] == '\0')
        return NULL;
    a += a[1] == '-' ? 2 : 1;
    eq = strchr(a, '=');
    n = eq ? (size_t)(eq - a) : strlen(a);
    if (n >= len)
        return NULL;
    memcpy(buf, a, n);
    buf[n] = '\0';
    *inline_val = eq ? eq + 1 : NULL;
    return buf;
}

static int sl_flag_dur(const char *name, const char *v, uint64_t *out)
{
    if (sl_dur_parse(v, out) != 0 || *out > SL_DUR_LIMIT)
        return sl_usage("bad duration (like 500ms, 30s, 2m) for", name);
    return 0;
}

/* Sets one flag that takes a value. */
static int sl_flag_value(struct sl_flags *f, const char *name, const char *v)
{
    char *end;

    if (strcmp(name, "targets") == 0)
        f->targets = v;
    else if (strcmp(name, "json") == 0)
        f->json = v;
    else if (strcmp(name, "host") == 0)
        f->host = v;
    else if (strcmp(name, "H") == 0) {
        if (f->nheaders == SL_HEADERS_MAX)
            return sl_usage("too many -H", NULL);
        f->headers[f->nheaders++] = v;
    } else if (strcmp(name, "rate") == 0) {
        f->rate = strtod(v, &end);
        if (*end != '\0' || !(f->rate > 0 && f->rate <= SL_RATE_MAX))
            return sl_usage("-rate must be in (0, 1000000]", v);
    } else if (strcmp(name, "conns") == 0 || strcmp(name, "workers") == 0) {
        f->conns = strtoul(v, &end, 10);
        if (*end != '\0' || f->conns == 0 || f->conns > 100000)
            return sl_usage("-conns must be in 1..100000", v);
    } else if (strcmp(name, "duration") == 0)
        return sl_flag_dur(name, v, &f->duration_us);
    else if (strcmp(name, "timeout") == 0)
        return sl_flag_dur(name, v, &f->timeout_us);
    else if (strcmp(name, "minY") == 0)
        return sl_flag_dur(name, v, &f->min_us);
    else if (strcmp(name, "maxY") == 0)
        return sl_flag_dur(name, v, &f->max_us);
    else
        return sl_usage("unknown flag", name);
    return 0;
}

static int sl_flags_parse(struct sl_flags *f, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        char name[32];
        const char *v = NULL;
        int rc;
        if (sl_flag_name(argv[i], name, sizeof(name), &v) == NULL)
            return sl_usage("unexpected argument", argv[i]);
        if (strcmp(name, "h") == 0 || strcmp(name, "help") == 0) {
            fputs(sl_usage_text, stdout);
            return 1;
        }
        if (strcmp(name, "fail-on-error") == 0 || strcmp(name, "quiet") == 0) {
            *(name[0] == 'q' ? &f->quiet : &f->fail_on_error) = 1;
            continue;
        }
        if (v == NULL && ++i >= argc)
            return sl_usage("missing value for", argv[i - 1]);
        rc = sl_flag_value(f, name, v ? v : argv[i]);
        if (rc != 0)
            return rc;
    }
    if (f->targets == NULL || f->rate == 0)
        return sl_usage("-targets and -rate are required", NULL);
    if (f->duration_us == 0 || f->timeout_us == 0)
        return sl_usage("-duration and -timeout must be above 0", NULL);
    return 0;
}

/* Reads the targets file (or stdin) into a new buffer. */
static char *sl_read_all(const char *path, size_t *len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    char *buf;
    size_t n = 0, got;

    if (f == NULL)
        return NULL;
    buf = malloc(SL_TARGETS_MAX + 1);
    while (buf != NULL && n <= SL_TARGETS_MAX &&
           (got = fread(buf + n, 1, SL_TARGETS_MAX + 1 - n, f)) > 0)
        n += got;
    if (f != stdin)
        fclose(f);
    if (buf == NULL || n > SL_TARGETS_MAX) {
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

static int sl_load_targets(const struct sl_flags *f, struct sl_targets *t)
{
    struct sl_req_opts ro = {f->headers, f->nheaders, f->host};
    char err[CM_ERR_LEN];
    size_t len = 0;
    char *text = sl_read_all(f->targets, &len);
    int rc;

    if (text == NULL) {
        fprintf(stderr, "slap: %s: cannot read (or above %d bytes)\n",
                f->targets, SL_TARGETS_MAX);
        return 2;
    }
    rc = sl_targets_parse(t, text, len, err, sizeof(err));
    free(text);
    if (rc == 0)
        rc = sl_targets_build(t, &ro, err, sizeof(err));
    if (rc != 0) {
        fprintf(stderr, "slap: %s: %s\n", f->targets, err);
        return 2;
    }
    return 0;
}

static int sl_write_json(const struct sl_stats *st, const char *path)
{
    json_t *j = sl_stats_json(st);
    int rc;

    if (j == NULL)
        return -1;
    if (strcmp(path, "-") == 0) {
        rc = json_dumpf(j, stdout, JSON_INDENT(2));
        fputc('\n', stdout);
    } else {
        rc = json_dump_file(j, path, JSON_INDENT(2));
    }
    json_decref(j);
    if (rc != 0)
        fprintf(stderr, "slap: cannot write JSON to %s\n", path);
    return rc;
}

/* Runs with <f>; returns the exit status. */
static int sl_main_run(const struct sl_flags *f, struct sl_targets *t)
{
    struct sl_run_opts ro = {f->rate, f->duration_us, f->timeout_us,
                             (uint32_t)f->conns, NULL};
    int json_stdout = f->json != NULL && strcmp(f->json, "-") == 0;
    struct sl_stats *st = malloc(sizeof(*st));
    struct sl_view view;
    int rc;

    if (st == NULL)
        return 1;
    sl_stats_init(st, f->rate);
    if (!f->quiet && !json_stdout && isatty(STDOUT_FILENO)) {
        sl_view_init(&view, stdout, 1, f->min_us, f->max_us, 20);
        ro.view = &view;
    }
    rc = sl_run(t, &ro, st);
    if (rc != 0) {
        cm_log_error("slap", "run_failed", "error=\"%s\"", cm_err_str(rc));
        free(st);
        return 1;
    }
    if (ro.view != NULL)
        fputc('\n', stdout);
    sl_stats_print(st, json_stdout ? stderr : stdout);
    rc = 0;
    if (f->json != NULL && sl_write_json(st, f->json) != 0)
        rc = 1;
    if (f->fail_on_error && sl_stats_failed(st) > 0)
        rc = 1;
    free(st);
    return rc;
}

int main(int argc, char **argv)
{
    struct sl_flags f = {
        .duration_us = 10000000, .timeout_us = 5000000, .conns = 256};
    struct sl_targets t;
    int rc = sl_flags_parse(&f, argc, argv);

    if (rc != 0)
        return rc == 1 ? 0 : rc;
    signal(SIGPIPE, SIG_IGN);
    sl_targets_init(&t);
    rc = sl_load_targets(&f, &t);
    if (rc == 0)
        rc = sl_main_run(&f, &t);
    sl_targets_deinit(&t);
    return rc;
}
