/*
 * xds_bench.c -- what one configuration update costs a data node, offline:
 * reads an xds-cache.bin (e.g. from bench/convergence.sh, KEEP_TMP=1) and
 * times, ROUNDS times each, decoding it (every resource unpacked), building
 * the table from it (dp_table_build, one worker, no filters) and freeing
 * the table, the set. Prints CPU milliseconds per step (median: the
 * machine may be busy). Not a test.
 *
 *   bazel run -c opt //dataplane/xds:xds_bench -- DIR [ROUNDS]
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "dataplane/table/table.h"
#include "dataplane/xds/xds_int.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    return v[n / 2];
}

/* One round: decode, build, free; fills ms[0..3]. 0 or an error. */
static int round_once(const char *dir, double ms[4])
{
    char err[CM_ERR_LEN];
    struct dp_xds__set s;
    struct dp_xds_resources res;
    void *storage = NULL;
    double t0 = now_ms();

    dp_xds__set_init(&s);
    if (dp_xds__cache_read(dir, &s, err, sizeof(err)) != 0 ||
        dp_xds__set_resources(&s, &res, &storage) != 0) {
        fprintf(stderr, "xds_bench: %s\n", err);
        dp_xds__set_deinit(&s);
        return 1;
    }
    double t1 = now_ms();
    struct dp_table_input in = {
        .listeners = res.listeners,
        .n_listeners = res.n_listeners,
        .routes = res.routes,
        .n_routes = res.n_routes,
        .clusters = res.clusters,
        .n_clusters = res.n_clusters,
        .endpoints = res.endpoints,
        .n_endpoints = res.n_endpoints,
        .secrets = res.secrets,
        .n_secrets = res.n_secrets,
        .n_workers = 1,
    };
    struct dp_table *t = dp_table_build(&in, err, sizeof(err));
    double t2 = now_ms();
    free(storage);
    if (t == NULL)
        fprintf(stderr, "xds_bench: build: %s\n", err);
    dp_table_free(t);
    double t3 = now_ms();
    dp_xds__set_deinit(&s);
    double t4 = now_ms();
    ms[0] = t1 - t0, ms[1] = t2 - t1, ms[2] = t3 - t2, ms[3] = t4 - t3;
    return t == NULL;
}

int main(int argc, char **argv)
{
    static const char *const what[4] = {"read + decode", "table build",
                                        "table free", "set free"};
    int rounds = argc > 2 ? atoi(argv[2]) : 10;
    double ms[4][64], one[4];

    if (argc < 2 || rounds < 1 || rounds > 64) {
        fprintf(stderr, "usage: xds_bench CACHE_DIR [ROUNDS <= 64]\n");
        return 2;
    }
    for (int r = 0; r < rounds; r++) {
        if (round_once(argv[1], one) != 0)
            return 1;
        for (int k = 0; k < 4; k++)
            ms[k][r] = one[k];
    }
    for (int k = 0; k < 4; k++)
        printf("%-14s %8.2f ms (median of %d)\n", what[k],
               median(ms[k], rounds), rounds);
    return 0;
}
