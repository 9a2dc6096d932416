/*
 * filter_set_bench.c -- what dp_filter_set_new costs for one large
 * RouteConfiguration, offline: VHOSTS virtual hosts of 5 routes (10,000
 * routes by default, shaped like bench/tools/genconfig.py: router "rI",
 * host svc(I/5)), where every EVERY-th route carries a traefikee rate
 * limit of its own (0: none, the convergence benchmark's case). Times
 * build + free ROUNDS times; prints the median CPU milliseconds. Not a test.
 *
 *   bazel run -c opt //dataplane/filter:filter_set_bench -- [VHOSTS EVERY
 * ROUNDS]
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "dataplane/filter/filter.h"
#include "traefikee/filters/v1/filters.pb-c.h"

#define RT(x)  Envoy__Config__Route__V3__##x
#define PER_VH 5

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

struct cfg {
    RT(RouteConfiguration) rc;
    RT(VirtualHost) * vh, **vhp;
    RT(Route) * rt, **rtp;
    RT(Route__TypedPerFilterConfigEntry) * e, **ep;
    Google__Protobuf__Any *any;
    uint8_t *bufs;
    char *names;
};

static void cfg_route(struct cfg *c, size_t i, size_t every)
{
    Traefikee__Filters__V1__RateLimit rl =
        TRAEFIKEE__FILTERS__V1__RATE_LIMIT__INIT;

    envoy__config__route__v3__route__init(&c->rt[i]);
    c->rtp[i] = &c->rt[i];
    snprintf(c->names + i * 32, 32, "r%zu", i);
    c->rt[i].name = c->names + i * 32;
    if (every == 0 || i % every != 0)
        return;
    rl.average = (int64_t)i + 1;
    rl.burst = 10;
    google__protobuf__any__init(&c->any[i]);
    c->any[i].type_url = "type.googleapis.com/traefikee.filters.v1.RateLimit";
    c->any[i].value.data = c->bufs + i * 64;
    c->any[i].value.len = protobuf_c_message_pack(&rl.base, c->bufs + i * 64);
    envoy__config__route__v3__route__typed_per_filter_config_entry__init(
        &c->e[i]);
    c->e[i].key = DP_FILTER_N_RATE_LIMIT;
    c->e[i].value = &c->any[i];
    c->ep[i] = &c->e[i];
    c->rt[i].typed_per_filter_config = &c->ep[i];
    c->rt[i].n_typed_per_filter_config = 1;
}

static void cfg_init(struct cfg *c, size_t n_vh, size_t every)
{
    size_t n = n_vh * PER_VH;

    c->vh = calloc(n_vh, sizeof(*c->vh));
    c->vhp = calloc(n_vh, sizeof(*c->vhp));
    c->rt = calloc(n, sizeof(*c->rt));
    c->rtp = calloc(n, sizeof(*c->rtp));
    c->e = calloc(n, sizeof(*c->e));
    c->ep = calloc(n, sizeof(*c->ep));
    c->any = calloc(n, sizeof(*c->any));
    c->bufs = calloc(n, 64);
    c->names = calloc(n + n_vh, 32);
    for (size_t i = 0; i < n; i++)
        cfg_route(c, i, every);
    for (size_t v = 0; v < n_vh; v++) {
        char *nm = c->names + (n + v) * 32;
        envoy__config__route__v3__virtual_host__init(&c->vh[v]);
        snprintf(nm, 32, "svc%zu.example.com", v);
        c->vh[v].name = nm;
        c->vh[v].routes = &c->rtp[v * PER_VH];
        c->vh[v].n_routes = PER_VH;
        c->vhp[v] = &c->vh[v];
    }
    envoy__config__route__v3__route_configuration__init(&c->rc);
    c->rc.name = "web";
    c->rc.virtual_hosts = c->vhp;
    c->rc.n_virtual_hosts = n_vh;
}

static void cfg_free(struct cfg *c)
{
    free(c->vh), free(c->vhp), free(c->rt), free(c->rtp), free(c->e);
    free(c->ep), free(c->any), free(c->bufs), free(c->names);
}

int main(int argc, char **argv)
{
    size_t n_vh = argc > 1 ? strtoul(argv[1], NULL, 10) : 2000;
    size_t every = argc > 2 ? strtoul(argv[2], NULL, 10) : 0;
    int rounds = argc > 3 ? atoi(argv[3]) : 20;
    struct dp_filter_registry *reg = dp_filter_registry_new();
    double ms[64];
    struct cfg c;

    if (n_vh == 0 || rounds < 1 || rounds > 64 || reg == NULL) {
        fprintf(stderr, "usage: filter_set_bench [VHOSTS EVERY ROUNDS<=64]\n");
        return 2;
    }
    cfg_init(&c, n_vh, every);
    for (int r = 0; r < rounds; r++) {
        char err[CM_ERR_LEN];
        double t0 = now_ms();
        struct dp_filter_set *s =
            dp_filter_set_new(&c.rc, reg, NULL, err, sizeof(err));
        if (s == NULL) {
            fprintf(stderr, "filter_set_bench: %s\n", err);
            return 1;
        }
        dp_filter_set_free(s);
        ms[r] = now_ms() - t0;
    }
    qsort(ms, (size_t)rounds, sizeof(*ms), cmp_double);
    printf("%zu routes, every %zu filtered: set build + free %.3f ms "
           "(median of %d)\n",
           n_vh * PER_VH, every, ms[rounds / 2], rounds);
    cfg_free(&c);
    dp_filter_registry_free(reg);
    return 0;
}
