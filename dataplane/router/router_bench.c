/*
 * router_bench.c -- lookup cost of dp_router_match() for 10, 1000 and 10000
 * routes: exact paths, prefixes, and one virtual host per route (host
 * spread). Prints ns per lookup; the figures should not grow with the
 * number of routes. Single-threaded.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dataplane/router/router.h"
#include "dataplane/router/router_testlib.h"

#define RT(x)   Envoy__Config__Route__V3__##x
#define NREQ    1024
#define LOOKUPS 2000000

enum shape { EXACT, PREFIX, HOSTS, REGEX_TAIL };

static const char *shape_name[] = {"exact", "prefix", "host-spread",
                                   "exact+10 regex"};

static RT(RouteConfiguration) * make(struct dp_rtb *b, enum shape s, int n)
{
    RT(RouteConfiguration) *rc = dp_rtb_config(b, "bench");
    RT(VirtualHost) *vh = NULL;
    char buf[64];
    int i;

    if (s != HOSTS)
        vh = dp_rtb_vhost(b, rc, "v", "*");
    for (i = 0; i < n; i++) {
        switch (s) {
        case EXACT:
        case REGEX_TAIL:
            snprintf(buf, sizeof(buf), "/api/v1/items/%d", i);
            dp_rtb_route(b, vh, DP_RTB_PATH, buf, "c");
            break;
        case PREFIX:
            snprintf(buf, sizeof(buf), "/svc%d/", i);
            dp_rtb_route(b, vh, DP_RTB_PREFIX, buf, "c");
            break;
        case HOSTS:
            snprintf(buf, sizeof(buf), "h%d.example.com", i);
            vh = dp_rtb_vhost(b, rc, buf, buf);
            dp_rtb_route(b, vh, DP_RTB_PREFIX, "/", "c");
            break;
        }
    }
    for (i = 0; s == REGEX_TAIL && i < 10; i++) {
        snprintf(buf, sizeof(buf), "/re%d/[0-9]+", i);
        dp_rtb_route(b, vh, DP_RTB_REGEX, buf, "c");
    }
    return rc;
}

static double run(enum shape s, int n)
{
    static char hosts[NREQ][64], paths[NREQ][64];
    struct dp_router_req q[NREQ];
    struct dp_rtb b = {0};
    struct dp_router_scratch *sc = dp_router_scratch_new();
    char err[CM_ERR_LEN];
    struct dp_router *r =
        dp_router_new(make(&b, s, n), NULL, NULL, err, sizeof(err));
    struct timespec t0, t1;
    unsigned seed = 12345;
    long i, found = 0;

    if (r == NULL || sc == NULL) {
        fprintf(stderr, "router_bench: %s\n", err);
        exit(1);
    }
    for (i = 0; i < NREQ; i++) {
        int k = (int)(rand_r(&seed) % (unsigned)n);
        snprintf(hosts[i], 64, s == HOSTS ? "h%d.example.com:8080" : "x.com",
                 k);
        if (s == PREFIX)
            snprintf(paths[i], 64, "/svc%d/users/42/profile", k);
        else if (s == HOSTS)
            snprintf(paths[i], 64, "/users/42");
        else
            snprintf(paths[i], 64, "/api/v1/items/%d", k);
        memset(&q[i], 0, sizeof(q[i]));
        q[i].host = (struct dp_router_slice){hosts[i], strlen(hosts[i])};
        q[i].path = (struct dp_router_slice){paths[i], strlen(paths[i])};
        q[i].method = (struct dp_router_slice){"GET", 3};
        q[i].scratch = sc;
    }
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (i = 0; i < LOOKUPS; i++)
        found += dp_router_match(r, &q[i % NREQ]) != NULL;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (found != LOOKUPS) {
        fprintf(stderr, "router_bench: %ld misses\n", LOOKUPS - found);
        exit(1);
    }
    dp_router_free(r);
    dp_router_scratch_free(sc);
    dp_rtb_free(&b);
    return ((double)(t1.tv_sec - t0.tv_sec) * 1e9 +
            (double)(t1.tv_nsec - t0.tv_nsec)) /
           LOOKUPS;
}

int main(void)
{
    static const int sizes[] = {10, 1000, 10000};
    int s, i;

    printf("%-16s %10s %10s %10s   (ns/lookup)\n", "shape", "10", "1000",
           "10000");
    for (s = EXACT; s <= REGEX_TAIL; s++) {
        printf("%-16s", shape_name[s]);
        for (i = 0; i < 3; i++)
            printf(" %10.1f", run((enum shape)s, sizes[i]));
        printf("\n");
    }
    return 0;
}
