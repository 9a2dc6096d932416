/*
 * snapshot_test.c -- snapshots: sorted, versioned by content, type-checked,
 * refcounted, and their encoded bytes shared by every stream; the encoded
 * responses (bodies) built from them and kept per name set.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>

#include "common/strset/strset.h"
#include "controlplane/xds/testutil.h"
#include "controlplane/xds/xds-int.h"

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
    size_t len;
    cp_xds_snapshot_at(s, CP_XDS_CLUSTER, 0, NULL, NULL, &bytes, &len);
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
    /* every stream sent the snapshot's own bytes */
    assert_memory_equal(k1.sotw[0]->resources[0]->value.data, bytes, len);
    assert_memory_equal(k2.sotw[0]->resources[0]->value.data, bytes, len);
    assert_memory_equal(k3.dlt[0]->resources[0]->resource->value.data, bytes,
                        len);
    /* a second stream with the same subscription sends the same body */
    struct sink k4 = {0};
    struct cp_xds_stream *d = cp_xds_stream_new(4, false, "d");
    assert_int_equal(sotw_req(d, s, &k4, CP_XDS_CLUSTER, names, "", "", NULL),
                     0);
    assert_ptr_equal(k4.body[0], k1.body[0]);
    assert_string_not_equal(k4.sotw[0]->nonce, "");
    sink_clear(&k4);
    cp_xds_stream_free(d);

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

/* Body plus nonce field, decoded as a client would. */
static void *decode(const struct cp_xds_body *b, const char *nonce, bool delta)
{
    uint8_t field[CP_XDS_NONCE_FIELD_MAX], buf[4096];
    size_t n = cp_xds_nonce_field(nonce, field, sizeof(field));
    assert_true(b->len + n <= sizeof(buf));
    memcpy(buf, b->data, b->len);
    memcpy(buf + b->len, field, n);
    if (delta)
        return envoy__service__discovery__v3__delta_discovery_response__unpack(
            NULL, b->len + n, buf);
    return envoy__service__discovery__v3__discovery_response__unpack(
        NULL, b->len + n, buf);
}

static void test_sotw_bodies(void **state)
{
    struct cp_xds_snapshot *s = cp_xds_snapshot_new("42");
    assert_int_equal(add_cluster(s, "a", "a"), 0);
    assert_int_equal(add_cluster(s, "b", "b"), 0);
    assert_int_equal(add_cluster(s, "c", "c"), 0);
    struct cm_strset ac = {0}, ac2 = {0}, b_only = {0};
    assert_int_equal(cm_strset_add(&ac, "a"), 0);
    assert_int_equal(cm_strset_add(&ac, "c"), 0);
    assert_int_equal(cm_strset_add(&ac, "zz"), 0); /* not in the snapshot */
    assert_int_equal(cm_strset_copy(&ac2, &ac), 0);
    assert_int_equal(cm_strset_add(&b_only, "b"), 0);

    struct cp_xds_body *all =
        cp_xds_snapshot_sotw_body(s, CP_XDS_CLUSTER, NULL);
    struct cp_xds_body *x = cp_xds_snapshot_sotw_body(s, CP_XDS_CLUSTER, &ac);
    struct cp_xds_body *y = cp_xds_snapshot_sotw_body(s, CP_XDS_CLUSTER, &ac2);
    struct cp_xds_body *z =
        cp_xds_snapshot_sotw_body(s, CP_XDS_CLUSTER, &b_only);
    assert_non_null(all);
    assert_ptr_equal(x, y); /* the same name set: one encoding */
    assert_ptr_not_equal(x, z);
    assert_int_equal(all->count, 3);
    assert_int_equal(x->count, 2);
    assert_true(x->digest != z->digest && x->digest != all->digest);

    Envoy__Service__Discovery__V3__DiscoveryResponse *r =
        decode(x, "17", false);
    assert_non_null(r);
    assert_string_equal(r->version_info, "42");
    assert_string_equal(r->nonce, "17");
    assert_string_equal(r->type_url, cp_xds_type_url(CP_XDS_CLUSTER));
    assert_int_equal(r->n_resources, 2);
    char nm[32];
    assert_string_equal(any_name(r->resources[0], nm, sizeof(nm)), "a");
    assert_string_equal(any_name(r->resources[1], nm, sizeof(nm)), "c");
    const uint8_t *bytes;
    size_t len;
    cp_xds_snapshot_at(s, CP_XDS_CLUSTER, 2, NULL, NULL, &bytes, &len);
    assert_int_equal(r->resources[1]->value.len, len);
    assert_memory_equal(r->resources[1]->value.data, bytes, len);
    envoy__service__discovery__v3__discovery_response__free_unpacked(r, NULL);

    /* bodies outlive the snapshot while someone holds them */
    cp_xds_snapshot_put(s);
    r = decode(all, "1", false);
    assert_int_equal(r->n_resources, 3);
    envoy__service__discovery__v3__discovery_response__free_unpacked(r, NULL);
    cp_xds_body_put(all);
    cp_xds_body_put(x);
    cp_xds_body_put(y);
    cp_xds_body_put(z);
    cm_strset_deinit(&ac);
    cm_strset_deinit(&ac2);
    cm_strset_deinit(&b_only);
}

static void test_delta_bodies(void **state)
{
    struct cp_xds_snapshot *s = cp_xds_snapshot_new("7");
    assert_int_equal(add_cla(s, "a", NULL), 0);
    assert_int_equal(add_cla(s, "b", NULL), 0);
    const size_t idx[] = {1};
    char *removed[] = {"gone", "old"};
    struct cp_xds_body *d1 =
        cp_xds_snapshot_delta_body(s, CP_XDS_ENDPOINT, idx, 1, removed, 2);
    struct cp_xds_body *d2 =
        cp_xds_snapshot_delta_body(s, CP_XDS_ENDPOINT, idx, 1, removed, 2);
    struct cp_xds_body *d3 =
        cp_xds_snapshot_delta_body(s, CP_XDS_ENDPOINT, idx, 1, removed, 1);
    assert_ptr_equal(d1, d2);
    assert_ptr_not_equal(d1, d3);
    const size_t bad[] = {2};
    assert_null(
        cp_xds_snapshot_delta_body(s, CP_XDS_ENDPOINT, bad, 1, NULL, 0));

    Envoy__Service__Discovery__V3__DeltaDiscoveryResponse *r =
        decode(d1, "9", true);
    assert_non_null(r);
    assert_string_equal(r->system_version_info, "7");
    assert_string_equal(r->nonce, "9");
    assert_int_equal(r->n_resources, 1);
    assert_string_equal(r->resources[0]->name, "b");
    const char *ver;
    cp_xds_snapshot_at(s, CP_XDS_ENDPOINT, 1, NULL, &ver, NULL, NULL);
    assert_string_equal(r->resources[0]->version, ver);
    assert_string_equal(r->resources[0]->resource->type_url,
                        cp_xds_type_url(CP_XDS_ENDPOINT));
    assert_int_equal(r->n_removed_resources, 2);
    assert_string_equal(r->removed_resources[1], "old");
    envoy__service__discovery__v3__delta_discovery_response__free_unpacked(
        r, NULL);
    cp_xds_body_put(d1);
    cp_xds_body_put(d2);
    cp_xds_body_put(d3);
    cp_xds_snapshot_put(s);
}

/* Past the memo's bound bodies are still built, just not kept. */
static void test_memo_bound(void **state)
{
    struct cp_xds_snapshot *s = cp_xds_snapshot_new("1");
    assert_int_equal(add_route(s, "r"), 0);
    for (int i = 0; i < 100; i++) {
        struct cm_strset set = {0};
        char nm[16];
        snprintf(nm, sizeof(nm), "n%d", i);
        assert_int_equal(cm_strset_add(&set, nm), 0);
        assert_int_equal(cm_strset_add(&set, "r"), 0);
        struct cp_xds_body *b =
            cp_xds_snapshot_sotw_body(s, CP_XDS_ROUTE, &set);
        assert_non_null(b);
        assert_int_equal(b->count, 1);
        cp_xds_body_put(b);
        cm_strset_deinit(&set);
    }
    cp_xds_snapshot_put(s);
}

/* Subscriptions are interned: equal sets are one copy, freed with the last
 * holder. */
static void test_names_pool(void **state)
{
    struct cp_xds__pool *pool = cp_xds__pool_new();
    struct cm_strset a = {0}, b = {0}, c = {0};
    assert_int_equal(cm_strset_add(&a, "x"), 0);
    assert_int_equal(cm_strset_add(&a, "y"), 0);
    assert_int_equal(cm_strset_copy(&b, &a), 0);
    assert_int_equal(cm_strset_add(&c, "x"), 0);
    const struct cm_strset *sa = cp_xds__names_intern(pool, &a);
    const struct cm_strset *sb = cp_xds__names_intern(pool, &b);
    const struct cm_strset *sc = cp_xds__names_intern(pool, &c);
    assert_ptr_equal(sa, sb);
    assert_ptr_not_equal(sa, sc);
    assert_int_equal(a.n, 0); /* taken */
    assert_int_equal(sa->n, 2);
    assert_true(cm_strset_has(sa, "y"));
    cp_xds__names_put(pool, sa);
    assert_true(cm_strset_has(sb, "y")); /* still held */
    cp_xds__names_put(pool, sb);
    cp_xds__names_put(pool, sc);
    /* private sets without a pool */
    assert_int_equal(cm_strset_add(&a, "z"), 0);
    const struct cm_strset *p = cp_xds__names_intern(NULL, &a);
    assert_true(cm_strset_has(p, "z"));
    cp_xds__names_put(NULL, p);
    cm_strset_deinit(&a);
    cm_strset_deinit(&b);
    cm_strset_deinit(&c);
    cp_xds__pool_free(pool);
}

int main(void)
{
    cm_log_set_level(CM_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_types),
        cmocka_unit_test(test_sorted_versions_checks),
        cmocka_unit_test(test_refcount_and_sharing),
        cmocka_unit_test(test_sotw_bodies),
        cmocka_unit_test(test_delta_bodies),
        cmocka_unit_test(test_memo_bound),
        cmocka_unit_test(test_names_pool),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
