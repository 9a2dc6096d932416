/*
 * router_testlib.h -- builders for Envoy RouteConfiguration messages in C,
 * for the router's tests, fuzz seeds and benchmark (and the table's tests).
 * Every message and string comes from a struct dp_rtb pool and is freed by
 * dp_rtb_free(); not for production code paths.
 */
#ifndef DP_ROUTER_TESTLIB_H
#define DP_ROUTER_TESTLIB_H

#include <stddef.h>

#include "envoy/config/route/v3/route.pb-c.h"

/* Owns every allocation of the builders below. Zero-initialise. */
struct dp_rtb {
    void **ptrs;
    size_t n, cap;
};

enum dp_rtb_path {
    DP_RTB_PREFIX,
    DP_RTB_PATH,
    DP_RTB_REGEX,
    DP_RTB_SEP_PREFIX,
};

/* Zeroed memory owned by <b> (aborts when out of memory). */
void *dp_rtb_alloc(struct dp_rtb *b, size_t n);
char *dp_rtb_str(struct dp_rtb *b, const char *s);
/* Appends <p> to the repeated field (*arr, *n). */
void dp_rtb_push(struct dp_rtb *b, void *arr_ptr, size_t *n, void *p);
void dp_rtb_free(struct dp_rtb *b);

Envoy__Config__Route__V3__RouteConfiguration *dp_rtb_config(struct dp_rtb *b,
                                                            const char *name);
/* <domains>: comma-separated. */
Envoy__Config__Route__V3__VirtualHost *
dp_rtb_vhost(struct dp_rtb *b, Envoy__Config__Route__V3__RouteConfiguration *rc,
             const char *name, const char *domains);
/* A route forwarding to <cluster> (NULL: no action set). */
Envoy__Config__Route__V3__Route *
dp_rtb_route(struct dp_rtb *b, Envoy__Config__Route__V3__VirtualHost *vh,
             enum dp_rtb_path kind, const char *pattern, const char *cluster);
Envoy__Type__Matcher__V3__RegexMatcher *dp_rtb_regex(struct dp_rtb *b,
                                                     const char *re);
Envoy__Config__Route__V3__HeaderMatcher *
dp_rtb_header(struct dp_rtb *b, Envoy__Config__Route__V3__Route *rt,
              const char *name);
Envoy__Config__Route__V3__QueryParameterMatcher *
dp_rtb_query(struct dp_rtb *b, Envoy__Config__Route__V3__Route *rt,
             const char *name);
/* A StringMatcher; <case_> an ENVOY__TYPE__MATCHER__V3__STRING_MATCHER__
 * MATCH_PATTERN_* value (SAFE_REGEX: <s> is the regex). */
Envoy__Type__Matcher__V3__StringMatcher *dp_rtb_strm(struct dp_rtb *b,
                                                     int case_, const char *s);
Envoy__Config__Route__V3__RedirectAction *
dp_rtb_redirect(struct dp_rtb *b, Envoy__Config__Route__V3__Route *rt);
Envoy__Config__Route__V3__WeightedCluster__ClusterWeight *
dp_rtb_weighted(struct dp_rtb *b, Envoy__Config__Route__V3__Route *rt,
                const char *cluster, unsigned weight);
Google__Protobuf__UInt32Value *dp_rtb_u32(struct dp_rtb *b, unsigned v);
Google__Protobuf__BoolValue *dp_rtb_bool(struct dp_rtb *b, int v);
Google__Protobuf__Duration *dp_rtb_dur(struct dp_rtb *b, long long ms);

#endif
