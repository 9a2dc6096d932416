/*
 * filter_ip_test.c -- ClientIP match condition and ipAllowList: CIDR sets
 * (v4, v6, v4-mapped), ipStrategy depth and excludedIPs, NACK messages.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <string.h>

#include "dataplane/filter/filter_testlib.h"

#define FV1(x) Traefikee__Filters__V1__##x

static struct dp_filter_client_ip *cip(char **all, size_t na, char **none,
                                       size_t nn, char *err)
{
    FV1(ClientIpMatch) m = TRAEFIKEE__FILTERS__V1__CLIENT_IP_MATCH__INIT;
    uint8_t buf[1024];
    size_t n;

    m.all_of = all;
    m.n_all_of = na;
    m.none_of = none;
    m.n_none_of = nn;
    n = traefikee__filters__v1__client_ip_match__pack(&m, buf);
    return dp_filter_client_ip_new(buf, n, err, CM_ERR_LEN);
}

static bool match(const struct dp_filter_client_ip *m, const char *ip)
{
    struct ft_req q;
    bool r;

    ft_req_init(&q, "GET", "h", "/", ip);
    r = dp_filter_client_ip_match(m, q.req.peer);
    ft_req_deinit(&q);
    return r;
}

static void test_client_ip(void **state)
{
    char *all[] = {"10.0.0.0/8", "10.1.0.0/16"};
    char *none[] = {"10.1.2.3", "2001:db8::/32"};
    char *v6[] = {"2001:db8::/32"};
    char err[CM_ERR_LEN];
    struct dp_filter_client_ip *m = cip(all, 2, none, 1, err);

    assert_non_null(m);
    assert_true(match(m, "10.1.9.9"));
    assert_false(match(m, "10.2.0.1"));       /* not in 10.1/16 */
    assert_false(match(m, "10.1.2.3"));       /* none_of */
    assert_true(match(m, "::ffff:10.1.0.1")); /* v4-mapped counts as v4 */
    assert_false(match(m, "192.168.0.1"));
    dp_filter_client_ip_free(m);

    m = cip(v6, 1, NULL, 0, err);
    assert_non_null(m);
    assert_true(match(m, "2001:db8:1::5"));
    assert_false(match(m, "2001:db9::1"));
    assert_false(match(m, "10.0.0.1"));
    dp_filter_client_ip_free(m);

    m = cip(NULL, 0, none + 1, 1, err); /* only negated */
    assert_non_null(m);
    assert_true(match(m, "127.0.0.1"));
    assert_false(match(m, "2001:db8::1"));
    dp_filter_client_ip_free(m);
}

static void test_client_ip_errors(void **state)
{
    char *bad[] = {"10.0.0.0/33"}, *bad2[] = {"1.2.3.4/"}, *bad3[] = {"x"};
    char *bad4[] = {"::1/129"};
    char err[CM_ERR_LEN];

    assert_null(cip(bad, 1, NULL, 0, err));
    assert_string_equal(err, "all_of[0]: \"10.0.0.0/33\" is not an IP or CIDR");
    assert_null(cip(NULL, 0, bad2, 1, err));
    assert_string_equal(err, "none_of[0]: \"1.2.3.4/\" is not an IP or CIDR");
    assert_null(cip(bad3, 1, NULL, 0, err));
    assert_null(cip(bad4, 1, NULL, 0, err));
    assert_null(cip(NULL, 0, NULL, 0, err));
    assert_null(dp_filter_client_ip_new("\xff\xff", 2, err, sizeof(err)));
}

/* An ipAllowList chain with <ranges>, depth and excluded IPs. */
static struct dp_filter_chain *allow(struct ft_route *r,
                                     struct dp_filter_registry *reg,
                                     char **ranges, size_t n, uint32_t depth,
                                     char **excl, size_t ne, char *err)
{
    FV1(IpAllowList) m = TRAEFIKEE__FILTERS__V1__IP_ALLOW_LIST__INIT;
    FV1(IpAllowList__IpStrategy)
    s = TRAEFIKEE__FILTERS__V1__IP_ALLOW_LIST__IP_STRATEGY__INIT;

    m.source_range = ranges;
    m.n_source_range = n;
    if (depth || ne) {
        s.depth = depth;
        s.excluded_ips = excl;
        s.n_excluded_ips = ne;
        m.ip_strategy = &s;
    }
    ft_route_init(r, "r", "v");
    ft_route_add(r, DP_FILTER_N_IP_ALLOW_LIST, "IpAllowList", &m.base);
    return ft_chain(r, reg, err);
}

static int verdict(const struct dp_filter_chain *ch, const char *peer,
                   const char *xff)
{
    struct ft_req q;
    int v;

    ft_req_init(&q, "GET", "h", "/", peer);
    if (xff != NULL)
        ft_req_hdr(&q, "X-Forwarded-For", xff);
    v = ft_run(&q, ch) == DP_FILTER_CONTINUE ? 200 : q.ctx.status;
    if (v == 403)
        assert_memory_equal(q.ctx.body.ptr, "Forbidden", 9);
    dp_filter_end(&q.ctx, 200, q.req.now_ns);
    ft_req_deinit(&q);
    return v;
}

static void test_allow_remote(void **state)
{
    struct dp_filter_registry *reg = dp_filter_registry_new();
    char *ranges[] = {"192.168.1.0/24", "2001:db8::1"};
    char err[CM_ERR_LEN];
    struct ft_route r;
    struct dp_filter_chain *ch = allow(&r, reg, ranges, 2, 0, NULL, 0, err);

    assert_non_null(ch);
    assert_true(dp_filter_chain_has(ch, DP_FILTER_IP_ALLOW_LIST));
    assert_int_equal(verdict(ch, "192.168.1.77", NULL), 200);
    assert_int_equal(verdict(ch, "192.168.2.1", NULL), 403);
    assert_int_equal(verdict(ch, "2001:db8::1", NULL), 200);
    assert_int_equal(verdict(ch, "2001:db8::2", NULL), 403);
    /* XFF is ignored without a strategy */
    assert_int_equal(verdict(ch, "10.0.0.1", "192.168.1.1"), 403);
    dp_filter_chain_free(ch);
    ft_route_deinit(&r);
    dp_filter_registry_free(reg);
}

static void test_allow_depth(void **state)
{
    struct dp_filter_registry *reg = dp_filter_registry_new();
    char *ranges[] = {"10.0.0.0/8"};
    char err[CM_ERR_LEN];
    struct ft_route r;
    /* Traefik's doc: depth 2 with "10.0.0.1,11.0.0.1,12.0.0.1,13.0.0.1"
     * selects 12.0.0.1 */
    struct dp_filter_chain *ch = allow(&r, reg, ranges, 1, 2, NULL, 0, err);

    assert_non_null(ch);
    assert_int_equal(verdict(ch, "10.9.9.9", "1.1.1.1, 10.0.0.5, 2.2.2.2"),
                     200);
    assert_int_equal(verdict(ch, "10.9.9.9", "10.0.0.5, 2.2.2.2, 10.0.0.6"),
                     403);
    assert_int_equal(verdict(ch, "10.9.9.9", "10.0.0.5"), 403); /* too short */
    assert_int_equal(verdict(ch, "10.9.9.9", NULL), 403);
    assert_int_equal(verdict(ch, "10.9.9.9", "x, 10.1.1.1 ,y"), 200);
    dp_filter_chain_free(ch);
    ft_route_deinit(&r);
    dp_filter_registry_free(reg);
}

static void test_allow_excluded(void **state)
{
    struct dp_filter_registry *reg = dp_filter_registry_new();
    char *ranges[] = {"10.0.0.0/8"};
    char *excl[] = {"12.0.0.0/8", "13.0.0.1"};
    char err[CM_ERR_LEN];
    struct ft_route r;
    struct dp_filter_chain *ch = allow(&r, reg, ranges, 1, 0, excl, 2, err);

    assert_non_null(ch);
    /* rightmost not excluded: 10.0.0.1 */
    assert_int_equal(verdict(ch, "1.1.1.1", "10.0.0.1,12.0.0.1,13.0.0.1"), 200);
    assert_int_equal(verdict(ch, "1.1.1.1", "10.0.0.1,11.0.0.1,13.0.0.1"), 403);
    assert_int_equal(verdict(ch, "10.0.0.1", "12.0.0.9"), 403); /* none */
    dp_filter_chain_free(ch);
    ft_route_deinit(&r);
    dp_filter_registry_free(reg);
}

static void test_allow_errors(void **state)
{
    struct dp_filter_registry *reg = dp_filter_registry_new();
    char *bad[] = {"10.0.0.0/8", "300.1.1.1"};
    char *excl[] = {"nope"};
    char err[CM_ERR_LEN];
    struct ft_route r;

    assert_null(allow(&r, reg, bad, 2, 0, NULL, 0, err));
    assert_string_equal(err, "traefikee.filters.ip_allow_list: "
                             "source_range[1]: \"300.1.1.1\" is not an IP or "
                             "CIDR");
    ft_route_deinit(&r);
    assert_null(allow(&r, reg, bad, 1, 0, excl, 1, err));
    assert_string_equal(err, "traefikee.filters.ip_allow_list: "
                             "ip_strategy.excluded_ips[0]: \"nope\" is not an "
                             "IP or CIDR");
    ft_route_deinit(&r);
    assert_null(allow(&r, reg, NULL, 0, 0, NULL, 0, err));
    assert_string_equal(
        err, "traefikee.filters.ip_allow_list: source_range is empty");
    ft_route_deinit(&r);
    assert_int_equal(dp_filter_registry_count(reg), 0);
    dp_filter_registry_free(reg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_client_ip),
        cmocka_unit_test(test_client_ip_errors),
        cmocka_unit_test(test_allow_remote),
        cmocka_unit_test(test_allow_depth),
        cmocka_unit_test(test_allow_excluded),
        cmocka_unit_test(test_allow_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
