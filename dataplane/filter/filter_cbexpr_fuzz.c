/*
 * filter_cbexpr_fuzz.c -- libFuzzer target: the input is a circuit-breaker
 * expression, compiled through dp_filter_chain_build(); when it compiles,
 * a few synthetic requests drive the breaker so that evaluation runs too.
 */
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/filter/filter.h"
#include "traefikee/filters/v1/filters.pb-c.h"

static void drive(const struct dp_filter_chain *ch)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    struct dp_router_req rq = {.path = {"/", 1}, .method = {"GET", 3}};
    struct dp_filter_req req = {.rq = &rq, .peer = (struct sockaddr *)&sa};
    struct dp_filter_ctx ctx;
    char buf[512];

    for (int i = 0; i < 8; i++) {
        req.now_ns = 1000000000000ull + (uint64_t)i * 150000000u;
        dp_filter_ctx_init(&ctx, buf, sizeof(buf));
        dp_filter_request(ch, &req, &ctx);
        dp_filter_end(&ctx, i % 3 ? 200 : 502, req.now_ns + 1000000u * i);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Traefikee__Filters__V1__CircuitBreaker m =
        TRAEFIKEE__FILTERS__V1__CIRCUIT_BREAKER__INIT;
    static const char url[] =
        "type.googleapis.com/traefikee.filters.v1.CircuitBreaker";
    struct dp_route_filter_config fc;
    struct dp_filter_registry *reg = dp_filter_registry_new();
    struct dp_filter_chain *ch = NULL;
    struct dp_route rt = {.name = {"r", 1}, .vhost = {"v", 1}};
    char err[CM_ERR_LEN];
    uint8_t *pb;
    char *expr = malloc(size + 1);

    if (expr == NULL || reg == NULL)
        goto out;
    memcpy(expr, data, size);
    expr[size] = '\0';
    m.expression = expr;
    if ((pb = malloc(size + 64)) == NULL)
        goto out;
    fc.filter = (struct dp_router_slice){DP_FILTER_N_CIRCUIT_BREAKER,
                                         strlen(DP_FILTER_N_CIRCUIT_BREAKER)};
    fc.type_url = (struct dp_router_slice){url, sizeof(url) - 1};
    fc.value = (struct dp_router_slice){
        (char *)pb, traefikee__filters__v1__circuit_breaker__pack(&m, pb)};
    rt.filter_configs = &fc;
    rt.n_filter_configs = 1;
    if (dp_filter_chain_build(&rt, reg, NULL, &ch, err, sizeof(err)) == 0) {
        drive(ch);
        dp_filter_chain_free(ch);
    }
    free(pb);
out:
    dp_filter_registry_free(reg);
    free(expr);
    return 0;
}
