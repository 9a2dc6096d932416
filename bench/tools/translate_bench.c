/*
 * translate_bench.c -- times the control node's revision pipeline on one
 * configuration file: parse (cm_config_parse, which validates), validate
 * again alone (cm_config_validate), translate (cm_xds_translate) and encode
 * every resource into a snapshot (cp_xds_snapshot_add, as
 * controlplane/node/pipeline.c does). Repeats the whole pipeline and prints
 * per phase the median and the minimum, then peak RSS. One thread.
 *
 *   translate_bench FILE [REPEAT]      (REPEAT default 5)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "common/config/config.h"
#include "common/xds/xds.h"
#include "controlplane/xds/xds.h"

enum phase { PH_PARSE, PH_VALIDATE, PH_TRANSLATE, PH_ENCODE, PH_TOTAL, PH_N };

static const char *const phase_name[PH_N] = {
    "parse (yaml+decode+validate)", "validate (again, alone)", "translate",
    "encode (snapshot)", "total (parse+translate+encode)"};

/* Sizes of one run, printed once. */
struct run_info {
    size_t counts[CM_XDS_NTYPES];
    size_t encoded_bytes;
    long rss_kib[4]; /* after parse, translate, encode, freeing the result */
};

static long status_kib(const char *key);

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Reads <path> whole: returns new (free with free()), length in *len. */
static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long n;

    if (f == NULL)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 &&
        fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n + 1)) != NULL) {
        *len = fread(buf, 1, (size_t)n, f);
        buf[*len] = '\0';
    }
    fclose(f);
    return buf;
}

static const enum cp_xds_type cp_type[CM_XDS_NTYPES] = {
    [CM_XDS_LISTENER] = CP_XDS_LISTENER,
    [CM_XDS_ROUTE] = CP_XDS_ROUTE,
    [CM_XDS_CLUSTER] = CP_XDS_CLUSTER,
    [CM_XDS_ENDPOINT] = CP_XDS_ENDPOINT,
};

/* Encodes every resource of <res> (borrowed) into a new snapshot. Returns
 * new (release with cp_xds_snapshot_put()) or NULL. */
static struct cp_xds_snapshot *encode_all(const struct cm_xds_resources *res,
                                          struct run_info *info)
{
    struct cp_xds_snapshot *snap = cp_xds_snapshot_new(res->version);

    for (int t = 0; snap != NULL && t < CM_XDS_NTYPES; t++) {
        for (size_t i = 0; i < cm_xds_count(res, t); i++) {
            if (cp_xds_snapshot_add(snap, cp_type[t], cm_xds_name(res, t, i),
                                    cm_xds_get(res, t, i)) != 0) {
                cp_xds_snapshot_put(snap);
                return NULL;
            }
        }
    }
    for (int t = 0; snap != NULL && t < CM_XDS_NTYPES; t++) {
        size_t n = cp_xds_snapshot_count(snap, cp_type[t]);
        info->counts[t] = n;
        for (size_t i = 0; i < n; i++) {
            const char *name, *version;
            const uint8_t *data;
            size_t len = 0;
            (void)cp_xds_snapshot_at(snap, cp_type[t], i, &name, &version,
                                     &data, &len);
            info->encoded_bytes += len;
        }
    }
    return snap;
}

/* One pass of the pipeline; fills <ms> per phase. Returns 0 or -1. */
static int run_once(const char *doc, size_t len, double ms[PH_N],
                    struct run_info *info)
{
    char err[CM_ERR_LEN] = "";
    struct cm_xds_resources *res = NULL;
    struct cp_xds_snapshot *snap = NULL;
    struct cm_config *cfg;
    double t;
    int rc = -1;

    memset(info, 0, sizeof(*info));
    t = now_ms();
    cfg = cm_config_parse(doc, len, err, sizeof(err));
    ms[PH_PARSE] = now_ms() - t;
    if (cfg == NULL)
        goto fail;
    info->rss_kib[0] = status_kib("VmRSS");
    t = now_ms();
    if (cm_config_validate(cfg, err, sizeof(err)) != 0)
        goto fail;
    ms[PH_VALIDATE] = now_ms() - t;
    t = now_ms();
    res = cm_xds_translate(cfg, "1", err, sizeof(err));
    ms[PH_TRANSLATE] = now_ms() - t;
    if (res == NULL)
        goto fail;
    info->rss_kib[1] = status_kib("VmRSS");
    t = now_ms();
    snap = encode_all(res, info);
    ms[PH_ENCODE] = now_ms() - t;
    if (snap == NULL) {
        snprintf(err, sizeof(err), "cannot build the snapshot");
        goto fail;
    }
    info->rss_kib[2] = status_kib("VmRSS");
    cm_xds_resources_free(res);
    res = NULL;
    info->rss_kib[3] = status_kib("VmRSS");
    ms[PH_TOTAL] = ms[PH_PARSE] + ms[PH_TRANSLATE] + ms[PH_ENCODE];
    rc = 0;
fail:
    if (rc != 0)
        fprintf(stderr, "translate_bench: %s\n", err);
    cp_xds_snapshot_put(snap);
    cm_xds_resources_free(res);
    cm_config_free(cfg);
    return rc;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* VmRSS or VmHWM of this process in KiB (from /proc/self/status), or -1. */
static long status_kib(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    size_t klen = strlen(key);

    if (f == NULL)
        return -1;
    while (fgets(line, sizeof(line), f) != NULL)
        if (strncmp(line, key, klen) == 0 && line[klen] == ':')
            v = strtol(line + klen + 1, NULL, 10);
    fclose(f);
    return v;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: translate_bench FILE [REPEAT]\n");
        return 2;
    }
    int repeat = argc == 3 ? atoi(argv[2]) : 5;
    if (repeat < 1 || repeat > 1000)
        repeat = 5;
    long rss_start = status_kib("VmRSS");
    size_t len = 0;
    char *doc = read_file(argv[1], &len);
    if (doc == NULL) {
        fprintf(stderr, "translate_bench: cannot read %s\n", argv[1]);
        return 1;
    }
    double *ms = calloc((size_t)repeat * PH_N, sizeof(double));
    struct run_info info, first;
    if (ms == NULL)
        return 1;
    for (int r = 0; r < repeat; r++) {
        if (run_once(doc, len, ms + (size_t)r * PH_N, &info) != 0)
            return 1;
        if (r == 0)
            first = info; /* later runs reuse freed heap: RSS says little */
    }

    printf("input: %zu bytes; resources: %zu listeners, %zu route configs, "
           "%zu clusters, %zu endpoints; %zu bytes encoded; %d runs\n",
           len, info.counts[CM_XDS_LISTENER], info.counts[CM_XDS_ROUTE],
           info.counts[CM_XDS_CLUSTER], info.counts[CM_XDS_ENDPOINT],
           info.encoded_bytes, repeat);
    printf("%-32s %10s %10s   %s\n", "phase", "median ms", "min ms", "goal");
    double col[1000];
    for (int p = 0; p < PH_N; p++) {
        for (int r = 0; r < repeat; r++)
            col[r] = ms[(size_t)r * PH_N + p];
        qsort(col, (size_t)repeat, sizeof(double), cmp_double);
        printf("%-32s %10.1f %10.1f   %s\n", phase_name[p], col[repeat / 2],
               col[0], p == PH_TOTAL ? "< 100 ms (one core)" : "");
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    long hwm = status_kib("VmHWM");
    printf("%-32s %10.1f %10s   %s\n", "peak RSS MiB (VmHWM)",
           (hwm > 0 ? hwm : ru.ru_maxrss) / 1024.0, "", "< 64 MiB");
    static const char *const rss_name[4] = {
        "  RSS after parse MiB", "  RSS after translate MiB",
        "  RSS after encode MiB", "  RSS after freeing xDS msgs MiB"};
    printf("%-32s %10.1f %10s   %s\n", "  RSS at start MiB (libs)",
           rss_start / 1024.0, "", "");
    for (int i = 0; i < 4; i++)
        printf("%-32s %10.1f %10s   %s\n", rss_name[i],
               first.rss_kib[i] / 1024.0, "", "(first run)");
    free(ms);
    free(doc);
    return 0;
}
