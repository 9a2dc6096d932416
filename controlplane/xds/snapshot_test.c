/*
 * snapshot_test.c -- snapshots: sorted, versioned by content, type-checked,
 * refcounted, and their encoded bytes shared by every stream.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>

#include "controlplane/xds/testutil.h"

static void test_types(void **state)
{
    assert_string_equal(cp_xds_type_url(CP_XDS_ENDPOINT),
                        "type.googleapis.com/"
                        "envoy.config.endpoint.v3.ClusterLoadAssignment");
    assert_string_equal(cp_xds_type_message(CP_XDS_ROUTE),
                        "envoy.config.route.v3.RouteConfiguration");
    assert_int_equal(cp_xds_type_from_url(cp_xds_type_url(CP_XDS_SECRET)),
                     CP_XDS_SECRET);
    assert_int_equal(cp_xds_type_from_url("type.googleapis.com/x"), -1);
    assert_int_equal(cp_xds_type_from_url(NULL), -1);
    /* push order is make-before-break */
    assert_true(CP_XDS_CLUSTER < CP_XDS_ENDPOINT);
    assert_true(CP_XDS_ENDPOINT < CP_XDS_LISTENER);
    assert_true(CP_XDS_LISTENER < CP_XDS_ROUTE);
}

static void test_sorted_versions_checks(void **state)
{
    struct cp_xds_snapshot *s = cp_xds_snapshot_new("42");
    assert_string_equal(cp_xds_snapshot_version(s), "42");
    assert_int_equal(add_cluster(s, "zeta", "z"), 0);
    assert_int_equal(add_cluster(s, "alpha", "a"), 0);
    assert_int_equal(add_cluster(s, "mid", "m"), 0);
    assert_int_equal(add_cluster(s, "mid", "m"), GW_EINVAL);
    /* a Listener is not a Cluster */
    Envoy__Config__Listener__V3__Listener l =
        ENVOY__CONFIG__LISTENER__V3__LISTENER__INIT;
    assert_int_equal(cp_xds_snapshot_add(s, CP_XDS_CLUSTER, "l", &l.base),
                     GW_EINVAL);
    assert_int_equal(cp_xds_snapshot_count(s, CP_XDS_CLUSTER), 3);
    assert_int_equal(cp_xds_snapshot_count(s, CP_XDS_LISTENER), 0);
    const char *names[3];
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(cp_xds_snapshot_at(s, CP_XDS_CLUSTER, i, &names[i],
                                            NULL, NULL, NULL),
                         0);
    assert_string_equal(names[0], "alpha");
    assert_string_equal(names[1], "mid");
    assert_string_equal(names[2], "zeta");
    assert_int_equal(
        cp_xds_snapshot_at(s, CP_XDS_CLUSTER, 3, NULL, NULL, NULL, NULL),
        GW_ENOENT);
    assert_int_equal(cp_xds_snapshot_find(s, CP_XDS_CLUSTER, "mid"), 1);
    assert_int_equal(cp_xds_snapshot_find(s, CP_XDS_CLUSTER, "nope"), -1);

    /* the version is a hash of the bytes: same bytes, same version */
    struct cp_xds_snapshot *t = cp_xds_snapshot_new("43");
    assert_int_equal(add_cluster(t, "alpha", "a"), 0);
    assert_int_equal(add_cluster(t, "mid", "changed"), 0);
    const char *v1, *v2;
    const uint8_t *d;
    size_t len;
    cp_xds_snapshot_at(s, CP_XDS_CLUSTER, 0, NULL, &v1, NULL, NULL);
    cp_xds_snapshot_at(t, CP_XDS_CLUSTER, 0, NULL, &v2, &d, &len);
    assert_string_equal(v1, v2);
    assert_int_equal(strlen(v1), 16);
    Envoy__Config__Cluster__V3__Cluster *c =
        envoy__config__cluster__v3__cluster__unpack(NULL, len, d);
    assert_non_null(c);
    assert_string_equal(c->name, "alpha");
    assert_string_equal(c->eds_cluster_config->service_name, "a");
    envoy__config__cluster__v3__cluster__free_unpacked(c, NULL);
    cp_xds_snapshot_at(s, CP_XDS_CLUSTER, 1, NULL, &v1, NULL, NULL);
    cp_xds_snapshot_at(t, CP_XDS_CLUSTER, 1, NULL, &v2, NULL, NULL);
    assert_string_not_equal(v1, v2);

    assert_int_equal(cp_xds_snapshot_add_bytes(t, CP_XDS_SECRET, "raw",
                                               (const uint8_t *)"", 0),
                     0);
    assert_int_equal(cp_xds_snapshot_count(t, CP_XDS_SECRET), 1);
    cp_xds_snapshot_put(s);
    cp_xds_snapshot_put(t);
    cp_xds_snapshot_put(NULL);
}

static void test_refcount_and_sharing(void **state)
{
    struct cp_xds_snapshot *s = cp_xds_snapshot_new("1");
    assert_int_equal(add_cluster(s, "c", "c"), 0);
    const uint8_t *bytes;
    cp_xds_snapshot_at(s, CP_XDS_CLUSTER, 0, NULL, NULL, &bytes, NULL);
    struct sink k1 = {0}, k2 = {0}, k3 = {.delta = true};
    struct cp_xds_stream *a = cp_xds_stream_new(1, false, "a");
    struct cp_xds_stream *b = cp_xds_stream_new(2, false, "b");
    struct cp_xds_stream *c = cp_xds_stream_new(3, true, "c");
    const char *const names[] = {"c", NULL};
    assert_int_equal(sotw_req(a, s, &k1, CP_XDS_CLUSTER, names, "", "", NULL),
                     0);
    assert_int_equal(sotw_req(b, s, &k2, CP_XDS_CLUSTER, NULL, "", "", NULL),
                     0);
    struct delta_args da = {.sub = names};
    assert_int_equal(delta_req(c, s, &k3, CP_XDS_CLUSTER, &da), 0);
    /* every stream sent the snapshot's own bytes, not a re-encoding */
    assert_ptr_equal(k1.first_data[0], bytes);
    assert_ptr_equal(k2.first_data[0], bytes);
    assert_ptr_equal(k3.first_data[0], bytes);

    /* a holder keeps the snapshot alive after the publisher lets go */
    struct cp_xds_snapshot *held = cp_xds_snapshot_get(s);
    cp_xds_snapshot_put(s);
    assert_string_equal(cp_xds_snapshot_version(held), "1");
    cp_xds_snapshot_put(held);

    sink_clear(&k1);
    sink_clear(&k2);
    sink_clear(&k3);
    cp_xds_stream_free(a);
    cp_xds_stream_free(b);
    cp_xds_stream_free(c);
}

int main(void)
{
    cm_log_set_level(CM_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_types),
        cmocka_unit_test(test_sorted_versions_checks),
        cmocka_unit_test(test_refcount_and_sharing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
