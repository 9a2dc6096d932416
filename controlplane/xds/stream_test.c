/*
 * stream_test.c -- the ADS protocol state machine in isolation: requests in,
 * responses and events out, SotW and delta.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "controlplane/xds/testutil.h"

#define NAMES(...) ((const char *const[]){__VA_ARGS__, NULL})

static struct cp_xds_snapshot *snap_v(const char *version)
{
    struct cp_xds_snapshot *s = cp_xds_snapshot_new(version);
    assert_int_equal(add_listener(s, "lis-a"), 0);
    assert_int_equal(add_listener(s, "lis-b"), 0);
    assert_int_equal(add_route(s, "route-a"), 0);
    assert_int_equal(add_cluster(s, "cl-a", "cl-a"), 0);
    assert_int_equal(add_cluster(s, "cl-b", "cl-b"), 0);
    assert_int_equal(add_cla(s, "cl-a", NULL), 0);
    return s;
}

static void test_sotw_named_ack(void **state)
{
    struct sink k = {0};
    struct cp_xds_snapshot *s1 = snap_v("1");
    struct cp_xds_stream *st = cp_xds_stream_new(7, false, "ipv4:1.2.3.4:5");
    char buf[256];

    assert_int_equal(
        sotw_req(st, s1, &k, CP_XDS_LISTENER, NAMES("lis-a"), "", "", NULL), 0);
    assert_int_equal(k.n, 1);
    assert_string_equal(
        k.sotw[0]->type_url,
        "type.googleapis.com/envoy.config.listener.v3.Listener");
    assert_string_equal(k.sotw[0]->version_info, "1");
    assert_string_equal(sotw_names(&k, 0, buf, sizeof(buf)), "lis-a");
    assert_string_equal(k.sotw[0]->resources[0]->type_url,
                        cp_xds_type_url(CP_XDS_LISTENER));
    assert_int_equal(k.n_events, 1);
    assert_int_equal(k.ev[0].kind, CP_XDS_EV_CONNECTED);
    char nonce[32];
    snprintf(nonce, sizeof(nonce), "%s", k.sotw[0]->nonce);
    sink_clear(&k);

    /* ACK: recorded, nothing resent */
    assert_int_equal(
        sotw_req(st, s1, &k, CP_XDS_LISTENER, NAMES("lis-a"), "1", nonce, NULL),
        0);
    assert_int_equal(k.n, 0);
    assert_int_equal(k.n_events, 1);
    assert_int_equal(k.ev[0].kind, CP_XDS_EV_ACK);
    assert_string_equal(k.ev[0].version, "1");
    assert_string_equal(k.ev[0].nonce, nonce);
    /* the same nonce again (e.g. another type's change) is not a second ACK */
    sink_clear(&k);
    assert_int_equal(
        sotw_req(st, s1, &k, CP_XDS_LISTENER, NAMES("lis-a"), "1", nonce, NULL),
        0);
    assert_int_equal(k.n, 0);
    assert_int_equal(k.n_events, 0);

    /* adding a name answers at once */
    assert_int_equal(sotw_req(st, s1, &k, CP_XDS_LISTENER,
                              NAMES("lis-a", "lis-b"), "1", nonce, NULL),
                     0);
    assert_int_equal(k.n, 1);
    assert_string_equal(sotw_names(&k, 0, buf, sizeof(buf)), "lis-a,lis-b");
    assert_string_not_equal(k.sotw[0]->nonce, nonce);

    struct cp_xds_node_info info;
    cp_xds_stream_info(st, &info);
    assert_string_equal(info.id, "node-1");
    assert_string_equal(info.cluster, "c1");
    assert_string_equal(info.user_agent_name, "test-agent");
    assert_string_equal(info.peer, "ipv4:1.2.3.4:5");
    assert_int_equal(info.stream_id, 7);
    assert_true(info.types[CP_XDS_LISTENER].subscribed);
    assert_int_equal(info.types[CP_XDS_LISTENER].n_names, 2);
    assert_string_equal(info.types[CP_XDS_LISTENER].acked_version, "1");
    assert_int_equal(info.types[CP_XDS_LISTENER].acks, 1);
    assert_false(info.types[CP_XDS_CLUSTER].subscribed);

    sink_clear(&k);
    cp_xds_stream_free(st);
    cp_xds_snapshot_put(s1);
}

static void test_sotw_legacy_wildcard_and_unsubscribe(void **state)
{
    struct sink k = {0};
    struct cp_xds_snapshot *s1 = snap_v("1");
    struct cp_xds_stream *st = cp_xds_stream_new(1, false, "p");
    char buf[256];

    /* first CDS request with no names: legacy wildcard */
    assert_int_equal(sotw_req(st, s1, &k, CP_XDS_CLUSTER, NULL, "", "", NULL),
                     0);
    assert_int_equal(k.n, 1);
    assert_string_equal(sotw_names(&k, 0, buf, sizeof(buf)), "cl-a,cl-b");
    char nonce[32];
    snprintf(nonce, sizeof(nonce), "%s", k.sotw[0]->nonce);
    sink_clear(&k);
    /* ACK with no names: still the wildcard */
    assert_int_equal(
        sotw_req(st, s1, &k, CP_XDS_CLUSTER, NULL, "1", nonce, NULL), 0);
    assert_int_equal(k.n, 0);
    struct cp_xds_node_info info;
    cp_xds_stream_info(st, &info);
    assert_true(info.types[CP_XDS_CLUSTER].wildcard);

    /* a new cluster in the next snapshot is pushed to the wildcard */
    struct cp_xds_snapshot *s2 = snap_v("2");
    assert_int_equal(add_cluster(s2, "cl-c", "cl-c"), 0);
    sink_clear(&k);
    assert_int_equal(push(st, s2, &k), 0);
    assert_int_equal(k.n, 1);
    assert_string_equal(sotw_names(&k, 0, buf, sizeof(buf)), "cl-a,cl-b,cl-c");
    assert_string_equal(k.sotw[0]->version_info, "2");
    snprintf(nonce, sizeof(nonce), "%s", k.sotw[0]->nonce);

    /* LDS named, then an empty list: unsubscribe, not wildcard */
    sink_clear(&k);
    assert_int_equal(
        sotw_req(st, s2, &k, CP_XDS_LISTENER, NAMES("lis-a"), "", "", NULL), 0);
    assert_int_equal(k.n, 1);
    char lnonce[32];
    snprintf(lnonce, sizeof(lnonce), "%s", k.sotw[0]->nonce);
    sink_clear(&k);
    assert_int_equal(
        sotw_req(st, s2, &k, CP_XDS_LISTENER, NULL, "2", lnonce, NULL), 0);
    assert_int_equal(k.n, 0);
    cp_xds_stream_info(st, &info);
    assert_false(info.types[CP_XDS_LISTENER].wildcard);
    assert_int_equal(info.types[CP_XDS_LISTENER].n_names, 0);
    /* a changed listener is not pushed to an unsubscribed stream */
    struct cp_xds_snapshot *s3 = cp_xds_snapshot_new("3");
    assert_int_equal(add_listener(s3, "lis-a"), 0);
    assert_int_equal(add_listener(s3, "lis-z"), 0);
    assert_int_equal(add_cluster(s3, "cl-a", "other"), 0);
    sink_clear(&k);
    assert_int_equal(push(st, s3, &k), 0);
    assert_int_equal(k.n, 1); /* only CDS */
    assert_int_equal(cp_xds_type_from_url(k.sotw[0]->type_url), CP_XDS_CLUSTER);
    assert_string_equal(sotw_names(&k, 0, buf, sizeof(buf)), "cl-a");

    /* "*" is a wildcard in any request */
    sink_clear(&k);
    assert_int_equal(
        sotw_req(st, s3, &k, CP_XDS_LISTENER, NAMES("*"), "2", lnonce, NULL),
        0);
    assert_int_equal(k.n, 1);
    assert_string_equal(sotw_names(&k, 0, buf, sizeof(buf)), "lis-a,lis-z");

    sink_clear(&k);
    cp_xds_stream_free(st);
    cp_xds_snapshot_put(s1);
    cp_xds_snapshot_put(s2);
    cp_xds_snapshot_put(s3);
}

static void test_sotw_nack_and_stale(void **state)
{
    struct sink k = {0};
    struct cp_xds_snapshot *s1 = snap_v("1");
    struct cp_xds_stream *st = cp_xds_stream_new(2, false, "p");
    assert_int_equal(
        sotw_req(st, s1, &k, CP_XDS_CLUSTER, NAMES("cl-a"), "", "", NULL), 0);
    char n1[32];
    snprintf(n1, sizeof(n1), "%s", k.sotw[0]->nonce);
    sink_clear(&k);

    /* NACK: recorded with the message; the same set is not resent */
    assert_int_equal(sotw_req(st, s1, &k, CP_XDS_CLUSTER, NAMES("cl-a"), "", n1,
                              "bad lb policy"),
                     0);
    assert_int_equal(k.n, 0);
    assert_int_equal(k.n_events, 1);
    assert_int_equal(k.ev[0].kind, CP_XDS_EV_NACK);
    assert_string_equal(k.ev[0].message, "bad lb policy");
    assert_string_equal(k.ev[0].nonce, n1);
    struct cp_xds_node_info info;
    cp_xds_stream_info(st, &info);
    assert_int_equal(info.types[CP_XDS_CLUSTER].nacks, 1);
    assert_string_equal(info.types[CP_XDS_CLUSTER].nack_nonce, n1);
    assert_string_equal(info.types[CP_XDS_CLUSTER].nack_message,
                        "bad lb policy");
    assert_int_equal(info.types[CP_XDS_CLUSTER].nack_code, 3);
    assert_true(info.types[CP_XDS_CLUSTER].nack_time_ms > 0);
    assert_string_equal(info.types[CP_XDS_CLUSTER].acked_version, "");

    /* error_detail persists on the next request: not a second NACK */
    sink_clear(&k);
    assert_int_equal(sotw_req(st, s1, &k, CP_XDS_CLUSTER, NAMES("cl-a", "cl-b"),
                              "", n1, "bad lb policy"),
                     0);
    assert_int_equal(k.n, 1); /* but the new name is answered */
    cp_xds_stream_info(st, &info);
    assert_int_equal(info.types[CP_XDS_CLUSTER].nacks, 1);
    char n2[32];
    snprintf(n2, sizeof(n2), "%s", k.sotw[0]->nonce);

    /* a request with the old nonce is stale: ignored entirely */
    sink_clear(&k);
    assert_int_equal(sotw_req(st, s1, &k, CP_XDS_CLUSTER, NAMES("cl-a"), "", n1,
                              "bad lb policy"),
                     0);
    assert_int_equal(k.n, 0);
    assert_int_equal(k.n_events, 0);
    cp_xds_stream_info(st, &info);
    assert_int_equal(info.types[CP_XDS_CLUSTER].n_names, 2);

    /* ACK of n2 clears nothing but records the version */
    assert_int_equal(sotw_req(st, s1, &k, CP_XDS_CLUSTER, NAMES("cl-a", "cl-b"),
                              "1", n2, NULL),
                     0);
    assert_int_equal(k.n_events, 1);
    assert_int_equal(k.ev[0].kind, CP_XDS_EV_ACK);
    cp_xds_stream_info(st, &info);
    assert_string_equal(info.types[CP_XDS_CLUSTER].acked_version, "1");

    sink_clear(&k);
    cp_xds_stream_free(st);
    cp_xds_snapshot_put(s1);
}

static void test_sotw_push_order_and_no_resend(void **state)
{
    struct sink k = {0};
    struct cp_xds_snapshot *s1 = snap_v("1");
    struct cp_xds_stream *st = cp_xds_stream_new(3, false, "p");
    /* subscribe in the order clients do: LDS, RDS, CDS, EDS */
    assert_int_equal(
        sotw_req(st, s1, &k, CP_XDS_LISTENER, NAMES("lis-a"), "", "", NULL), 0);
    assert_int_equal(
        sotw_req(st, s1, &k, CP_XDS_ROUTE, NAMES("route-a"), "", "", NULL), 0);
    assert_int_equal(
        sotw_req(st, s1, &k, CP_XDS_CLUSTER, NAMES("cl-a"), "", "", NULL), 0);
    /* EDS for a name that does not exist yet: an empty answer */
    assert_int_equal(
        sotw_req(st, s1, &k, CP_XDS_ENDPOINT, NAMES("cl-x"), "", "", NULL), 0);
    assert_int_equal(k.n, 4);
    assert_int_equal(k.sotw[3]->n_resources, 0);
    /* nonces are unique across types */
    for (size_t i = 0; i < 4; i++)
        for (size_t j = i + 1; j < 4; j++)
            assert_string_not_equal(k.sotw[i]->nonce, k.sotw[j]->nonce);

    /* same content under a new version: nothing is pushed */
    struct cp_xds_snapshot *s2 = snap_v("2");
    sink_clear(&k);
    assert_int_equal(push(st, s2, &k), 0);
    assert_int_equal(k.n, 0);

    /* everything changes: pushed CDS, EDS, LDS, RDS */
    struct cp_xds_snapshot *s3 = cp_xds_snapshot_new("3");
    assert_int_equal(add_listener(s3, "lis-a"), 0);
    assert_int_equal(add_listener(s3, "lis-extra"), 0);
    assert_int_equal(add_route(s3, "route-a"), 0);
    assert_int_equal(add_route(s3, "route-b"), 0);
    assert_int_equal(add_cluster(s3, "cl-a", "new-service"), 0);
    assert_int_equal(add_cla(s3, "cl-x", NULL), 0);
    Envoy__Config__Route__V3__RouteConfiguration r =
        ENVOY__CONFIG__ROUTE__V3__ROUTE_CONFIGURATION__INIT;
    (void)r;
    sink_clear(&k);
    assert_int_equal(push(st, s3, &k), 0);
    /* LDS (named lis-a, unchanged bytes) and RDS (route-a unchanged) stay */
    assert_int_equal(k.n, 2);
    assert_int_equal(cp_xds_type_from_url(k.sotw[0]->type_url), CP_XDS_CLUSTER);
    assert_int_equal(cp_xds_type_from_url(k.sotw[1]->type_url),
                     CP_XDS_ENDPOINT);
    assert_int_equal(k.sotw[1]->n_resources, 1);

    struct cp_xds_snapshot *s4 = cp_xds_snapshot_new("4");
    assert_int_equal(add_listener(s4, "lis-b"), 0);
    assert_int_equal(add_route(s4, "route-a-gone"), 0);
    assert_int_equal(add_cluster(s4, "cl-b", "x"), 0);
    assert_int_equal(add_cla(s4, "cl-y", NULL), 0);
    sink_clear(&k);
    assert_int_equal(push(st, s4, &k), 0);
    assert_int_equal(k.n, 4);
    int want[4] = {CP_XDS_CLUSTER, CP_XDS_ENDPOINT, CP_XDS_LISTENER,
                   CP_XDS_ROUTE};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(cp_xds_type_from_url(k.sotw[i]->type_url), want[i]);
        /* the named resources are gone: LDS/CDS say so with an empty set */
        assert_int_equal(k.sotw[i]->n_resources, 0);
        assert_string_equal(k.sotw[i]->version_info, "4");
    }

    sink_clear(&k);
    cp_xds_stream_free(st);
    cp_xds_snapshot_put(s1);
    cp_xds_snapshot_put(s2);
    cp_xds_snapshot_put(s3);
    cp_xds_snapshot_put(s4);
}

static void test_sotw_reconnect_and_late_snapshot(void **state)
{
    struct sink k = {0};
    struct cp_xds_stream *st = cp_xds_stream_new(4, false, "p");
    /* no snapshot yet: nothing to send */
    assert_int_equal(
        sotw_req(st, NULL, &k, CP_XDS_LISTENER, NAMES("lis-a"), "", "", NULL),
        0);
    assert_int_equal(k.n, 0);
    struct cp_xds_snapshot *s1 = snap_v("1");
    assert_int_equal(push(st, s1, &k), 0);
    assert_int_equal(k.n, 1);
    sink_clear(&k);
    cp_xds_stream_free(st);

    /* a reconnecting client sends its version and no nonce: answered */
    st = cp_xds_stream_new(5, false, "p");
    assert_int_equal(
        sotw_req(st, s1, &k, CP_XDS_LISTENER, NAMES("lis-a"), "1", "", NULL),
        0);
    assert_int_equal(
        sotw_req(st, s1, &k, CP_XDS_CLUSTER, NAMES("cl-a"), "1", "", NULL), 0);
    assert_int_equal(k.n, 2);
    sink_clear(&k);
    cp_xds_stream_free(st);
    cp_xds_snapshot_put(s1);
}

static void test_bad_bytes(void **state)
{
    struct sink k = {0};
    struct cp_xds_stream_out out = sink_out(&k);
    struct cp_xds_stream *st = cp_xds_stream_new(6, false, "p");
    const uint8_t junk[] = {0xff, 0xff, 0xff, 0x07};
    assert_int_equal(
        cp_xds_stream_on_request(st, NULL, junk, sizeof(junk), &out),
        GW_EPROTO);
    cp_xds_stream_free(st);
    st = cp_xds_stream_new(6, true, "p");
    assert_int_equal(
        cp_xds_stream_on_request(st, NULL, junk, sizeof(junk), &out),
        GW_EPROTO);
    cp_xds_stream_free(st);
}

/* ---- delta ---- */

static const char *delta_res(struct sink *k, size_t i, char *buf, size_t len)
{
    const Envoy__Service__Discovery__V3__DeltaDiscoveryResponse *r = k->dlt[i];
    buf[0] = '\0';
    for (size_t j = 0; j < r->n_resources; j++) {
        size_t used = strlen(buf);
        snprintf(buf + used, len - used, "%s%s", j ? "," : "",
                 r->resources[j]->name);
    }
    return buf;
}

static const char *delta_removed(struct sink *k, size_t i, char *buf,
                                 size_t len)
{
    const Envoy__Service__Discovery__V3__DeltaDiscoveryResponse *r = k->dlt[i];
    buf[0] = '\0';
    for (size_t j = 0; j < r->n_removed_resources; j++) {
        size_t used = strlen(buf);
        snprintf(buf + used, len - used, "%s%s", j ? "," : "",
                 r->removed_resources[j]);
    }
    return buf;
}

static void test_delta_subscribe_update_remove(void **state)
{
    struct sink k = {.delta = true};
    char buf[256];
    struct cp_xds_snapshot *s1 = cp_xds_snapshot_new("1");
    assert_int_equal(add_cla(s1, "a", NULL), 0);
    struct cp_xds_stream *st = cp_xds_stream_new(9, true, "p");
    struct delta_args a = {.sub = NAMES("a", "b")};
    assert_int_equal(delta_req(st, s1, &k, CP_XDS_ENDPOINT, &a), 0);
    assert_int_equal(k.n, 1);
    assert_string_equal(delta_res(&k, 0, buf, sizeof(buf)), "a");
    assert_string_equal(k.dlt[0]->system_version_info, "1");
    assert_string_equal(k.dlt[0]->resources[0]->resource->type_url,
                        cp_xds_type_url(CP_XDS_ENDPOINT));
    const char *ver_a1 = NULL;
    cp_xds_snapshot_at(s1, CP_XDS_ENDPOINT, 0, NULL, &ver_a1, NULL, NULL);
    assert_string_equal(k.dlt[0]->resources[0]->version, ver_a1);
    char n1[32];
    snprintf(n1, sizeof(n1), "%s", k.dlt[0]->nonce);
    sink_clear(&k);

    struct delta_args ack = {.nonce = n1};
    assert_int_equal(delta_req(st, s1, &k, CP_XDS_ENDPOINT, &ack), 0);
    assert_int_equal(k.n, 0);
    assert_int_equal(k.n_events, 1);
    assert_int_equal(k.ev[0].kind, CP_XDS_EV_ACK);
    assert_string_equal(k.ev[0].version, "1");

    /* b appears, a unchanged: only b is sent */
    struct cp_xds_snapshot *s2 = cp_xds_snapshot_new("2");
    assert_int_equal(add_cla(s2, "a", NULL), 0);
    assert_int_equal(add_cla(s2, "b", NULL), 0);
    assert_int_equal(add_cla(s2, "not-subscribed", NULL), 0);
    sink_clear(&k);
    assert_int_equal(push(st, s2, &k), 0);
    assert_int_equal(k.n, 1);
    assert_string_equal(delta_res(&k, 0, buf, sizeof(buf)), "b");
    assert_int_equal(k.dlt[0]->n_removed_resources, 0);

    /* a removed, b changed: one response with both */
    struct cp_xds_snapshot *s3 = cp_xds_snapshot_new("3");
    assert_int_equal(add_cla(s3, "b", "v2"), 0);
    sink_clear(&k);
    assert_int_equal(push(st, s3, &k), 0);
    assert_int_equal(k.n, 1);
    assert_string_equal(delta_res(&k, 0, buf, sizeof(buf)), "b");
    assert_string_equal(delta_removed(&k, 0, buf, sizeof(buf)), "a");
    char n3[32];
    snprintf(n3, sizeof(n3), "%s", k.dlt[0]->nonce);

    /* NACK of it is recorded; nothing resent */
    sink_clear(&k);
    struct delta_args nack = {.nonce = n3, .err = "rejected b"};
    assert_int_equal(delta_req(st, s3, &k, CP_XDS_ENDPOINT, &nack), 0);
    assert_int_equal(k.n, 0);
    assert_int_equal(k.ev[0].kind, CP_XDS_EV_NACK);
    assert_string_equal(k.ev[0].message, "rejected b");

    /* unsubscribing b then resubscribing resends it */
    sink_clear(&k);
    struct delta_args unsub = {.unsub = NAMES("b"), .nonce = n3};
    assert_int_equal(delta_req(st, s3, &k, CP_XDS_ENDPOINT, &unsub), 0);
    assert_int_equal(k.n, 0);
    struct delta_args resub = {.sub = NAMES("b"), .nonce = "stale-nonce"};
    assert_int_equal(delta_req(st, s3, &k, CP_XDS_ENDPOINT, &resub), 0);
    assert_int_equal(k.n, 1); /* honoured despite the stale nonce */
    assert_string_equal(delta_res(&k, 0, buf, sizeof(buf)), "b");

    sink_clear(&k);
    cp_xds_stream_free(st);
    cp_xds_snapshot_put(s1);
    cp_xds_snapshot_put(s2);
    cp_xds_snapshot_put(s3);
}

/* Delta streams in the same state send one shared encoding per change, and
 * what they hold follows the snapshots they were sent. */
static void test_delta_shared_bodies(void **state)
{
    struct sink k1 = {.delta = true}, k2 = {.delta = true};
    char buf[256];
    struct cp_xds_snapshot *s1 = cp_xds_snapshot_new("1");
    assert_int_equal(add_cla(s1, "a", NULL), 0);
    assert_int_equal(add_cla(s1, "b", NULL), 0);
    assert_int_equal(add_cla(s1, "c", NULL), 0);
    struct cp_xds_stream *x = cp_xds_stream_new(21, true, "x");
    struct cp_xds_stream *y = cp_xds_stream_new(22, true, "y");
    struct delta_args a = {.sub = NAMES("a", "b")};
    assert_int_equal(delta_req(x, s1, &k1, CP_XDS_ENDPOINT, &a), 0);
    assert_int_equal(delta_req(y, s1, &k2, CP_XDS_ENDPOINT, &a), 0);
    assert_ptr_equal(k1.body[0], k2.body[0]);
    assert_string_equal(delta_res(&k1, 0, buf, sizeof(buf)), "a,b");
    assert_string_not_equal(k1.dlt[0]->nonce, "");
    sink_clear(&k1);
    sink_clear(&k2);

    /* b changes, c (not wanted) changes, a goes */
    struct cp_xds_snapshot *s2 = cp_xds_snapshot_new("2");
    assert_int_equal(add_cla(s2, "b", "v2"), 0);
    assert_int_equal(add_cla(s2, "c", "v2"), 0);
    assert_int_equal(push(x, s2, &k1), 0);
    assert_int_equal(push(y, s2, &k2), 0);
    assert_int_equal(k1.n, 1);
    assert_ptr_equal(k1.body[0], k2.body[0]);
    assert_string_equal(delta_res(&k1, 0, buf, sizeof(buf)), "b");
    assert_string_equal(delta_removed(&k1, 0, buf, sizeof(buf)), "a");
    sink_clear(&k1);
    sink_clear(&k2);
    /* the same snapshot again: nothing; a third with b unchanged: nothing */
    assert_int_equal(push(x, s2, &k1), 0);
    struct cp_xds_snapshot *s3 = cp_xds_snapshot_new("3");
    assert_int_equal(add_cla(s3, "b", "v2"), 0);
    assert_int_equal(push(x, s3, &k1), 0);
    assert_int_equal(k1.n, 0);
    /* a comes back: sent again (it was reported removed) */
    struct cp_xds_snapshot *s4 = cp_xds_snapshot_new("4");
    assert_int_equal(add_cla(s4, "a", NULL), 0);
    assert_int_equal(add_cla(s4, "b", "v2"), 0);
    assert_int_equal(push(x, s4, &k1), 0);
    assert_int_equal(k1.n, 1);
    assert_string_equal(delta_res(&k1, 0, buf, sizeof(buf)), "a");
    sink_clear(&k1);
    cp_xds_stream_free(x);
    cp_xds_stream_free(y);
    cp_xds_snapshot_put(s1);
    cp_xds_snapshot_put(s2);
    cp_xds_snapshot_put(s3);
    cp_xds_snapshot_put(s4);
}

static void test_delta_reconnect_initial_versions(void **state)
{
    struct sink k = {.delta = true};
    char buf[256];
    struct cp_xds_snapshot *s = cp_xds_snapshot_new("5");
    assert_int_equal(add_cla(s, "same", NULL), 0);
    assert_int_equal(add_cla(s, "changed", "new"), 0);
    const char *ver_same = NULL;
    long i = cp_xds_snapshot_find(s, CP_XDS_ENDPOINT, "same");
    cp_xds_snapshot_at(s, CP_XDS_ENDPOINT, (size_t)i, NULL, &ver_same, NULL,
                       NULL);
    struct cp_xds_stream *st = cp_xds_stream_new(10, true, "p");
    struct delta_args a = {
        .sub = NAMES("same", "changed", "gone"),
        .initial = NAMES("same", ver_same, "changed", "old", "gone", "old"),
    };
    assert_int_equal(delta_req(st, s, &k, CP_XDS_ENDPOINT, &a), 0);
    assert_int_equal(k.n, 1);
    assert_string_equal(delta_res(&k, 0, buf, sizeof(buf)), "changed");
    assert_string_equal(delta_removed(&k, 0, buf, sizeof(buf)), "gone");
    sink_clear(&k);
    cp_xds_stream_free(st);

    /* legacy wildcard for LDS in delta: no names in the first request */
    struct cp_xds_snapshot *s2 = snap_v("6");
    st = cp_xds_stream_new(11, true, "p");
    struct delta_args w = {0};
    assert_int_equal(delta_req(st, s2, &k, CP_XDS_LISTENER, &w), 0);
    assert_int_equal(k.n, 1);
    assert_string_equal(delta_res(&k, 0, buf, sizeof(buf)), "lis-a,lis-b");
    sink_clear(&k);
    /* RDS with no names is not a wildcard */
    assert_int_equal(delta_req(st, s2, &k, CP_XDS_ROUTE, &w), 0);
    assert_int_equal(k.n, 0);
    struct cp_xds_node_info info;
    cp_xds_stream_info(st, &info);
    assert_true(info.delta);
    assert_string_equal(info.id, "delta-node");
    assert_true(info.types[CP_XDS_LISTENER].wildcard);
    assert_false(info.types[CP_XDS_ROUTE].wildcard);
    sink_clear(&k);
    cp_xds_stream_free(st);
    cp_xds_snapshot_put(s);
    cp_xds_snapshot_put(s2);
}

/* A delta reconnect whose initial_resource_versions match the snapshot gets
 * nothing re-sent: the type reads as ACKed at the snapshot's version (the
 * node's revision in list-nodes), unlike one that is sent something, which
 * waits for the ACK. */
static void test_delta_reconnect_in_sync_records_ack(void **state)
{
    struct sink k = {.delta = true};
    struct cp_xds_snapshot *s = snap_v("7");
    const char *va = NULL, *vb = NULL;
    struct cp_xds_node_info info;
    cp_xds_snapshot_at(
        s, CP_XDS_LISTENER,
        (size_t)cp_xds_snapshot_find(s, CP_XDS_LISTENER, "lis-a"), NULL, &va,
        NULL, NULL);
    cp_xds_snapshot_at(
        s, CP_XDS_LISTENER,
        (size_t)cp_xds_snapshot_find(s, CP_XDS_LISTENER, "lis-b"), NULL, &vb,
        NULL, NULL);
    struct cp_xds_stream *st = cp_xds_stream_new(12, true, "p");
    struct delta_args same = {.initial = NAMES("lis-a", va, "lis-b", vb)};
    assert_int_equal(delta_req(st, s, &k, CP_XDS_LISTENER, &same), 0);
    assert_int_equal(k.n, 0);
    /* a stale copy of a cluster: re-sent, not ACKed until answered */
    struct delta_args stale = {.initial = NAMES("cl-a", "old", "cl-b", "old")};
    assert_int_equal(delta_req(st, s, &k, CP_XDS_CLUSTER, &stale), 0);
    assert_int_equal(k.n, 1);
    cp_xds_stream_info(st, &info);
    assert_string_equal(info.types[CP_XDS_LISTENER].acked_version, "7");
    assert_string_equal(info.types[CP_XDS_LISTENER].sent_version, "7");
    assert_int_equal(info.types[CP_XDS_LISTENER].acks, 0);
    assert_string_equal(info.types[CP_XDS_CLUSTER].acked_version, "");
    assert_string_equal(info.types[CP_XDS_CLUSTER].sent_version, "7");
    /* a later snapshot that changes no listener: still in sync, at it */
    struct cp_xds_snapshot *s2 = snap_v("8");
    sink_clear(&k);
    assert_int_equal(push(st, s2, &k), 0);
    assert_int_equal(k.n, 0); /* CDS is unanswered but unchanged */
    cp_xds_stream_info(st, &info);
    assert_string_equal(info.types[CP_XDS_LISTENER].acked_version, "8");
    assert_string_equal(info.types[CP_XDS_CLUSTER].acked_version, "");
    sink_clear(&k);
    cp_xds_stream_free(st);
    cp_xds_snapshot_put(s);
    cp_xds_snapshot_put(s2);
}

/* SotW: a reconnecting client is always answered (no nonce), so its ACK of
 * the current version is recorded. */
static void test_sotw_reconnect_acked(void **state)
{
    struct sink k = {0};
    struct cp_xds_snapshot *s1 = snap_v("3");
    struct cp_xds_stream *st = cp_xds_stream_new(13, false, "p");
    struct cp_xds_node_info info;
    char nonce[32];
    assert_int_equal(
        sotw_req(st, s1, &k, CP_XDS_LISTENER, NAMES("lis-a"), "3", "", NULL),
        0);
    assert_int_equal(k.n, 1);
    snprintf(nonce, sizeof(nonce), "%s", k.sotw[0]->nonce);
    assert_int_equal(
        sotw_req(st, s1, &k, CP_XDS_LISTENER, NAMES("lis-a"), "3", nonce, NULL),
        0);
    cp_xds_stream_info(st, &info);
    assert_string_equal(info.types[CP_XDS_LISTENER].acked_version, "3");
    sink_clear(&k);
    cp_xds_stream_free(st);
    cp_xds_snapshot_put(s1);
}

/* The node record keeps what the client sent, cut to the copied-out
 * fields' sizes; metadata as JSON ("{}" when absent). */
static void test_node_record_capped(void **state)
{
    struct sink k = {0};
    struct cp_xds_snapshot *s1 = snap_v("1");
    char peer[300], id[1000], msg[2000];
    memset(peer, 'p', sizeof(peer) - 1);
    peer[sizeof(peer) - 1] = '\0';
    memset(id, 'i', sizeof(id) - 1);
    id[sizeof(id) - 1] = '\0';
    memset(msg, 'm', sizeof(msg) - 1);
    msg[sizeof(msg) - 1] = '\0';
    struct cp_xds_stream *st = cp_xds_stream_new(21, false, peer);
    struct cp_xds_node_info info;
    cp_xds_stream_info(st, &info);
    assert_int_equal(strlen(info.peer), sizeof(info.peer) - 1);
    assert_string_equal(info.id, "");
    assert_string_equal(info.metadata_json, "{}");

    Envoy__Service__Discovery__V3__DiscoveryRequest r =
        ENVOY__SERVICE__DISCOVERY__V3__DISCOVERY_REQUEST__INIT;
    Envoy__Config__Core__V3__Node node = ENVOY__CONFIG__CORE__V3__NODE__INIT;
    Google__Protobuf__Struct md = GOOGLE__PROTOBUF__STRUCT__INIT;
    Google__Protobuf__Struct__FieldsEntry fe =
        GOOGLE__PROTOBUF__STRUCT__FIELDS_ENTRY__INIT;
    Google__Protobuf__Struct__FieldsEntry *fields[1] = {&fe};
    Google__Protobuf__Value v = GOOGLE__PROTOBUF__VALUE__INIT;
    v.kind_case = GOOGLE__PROTOBUF__VALUE__KIND_STRING_VALUE;
    v.string_value = "eu-1";
    fe.key = "zone";
    fe.value = &v;
    md.n_fields = 1;
    md.fields = fields;
    node.id = id;
    node.cluster = "c9";
    node.user_agent_version_type_case =
        ENVOY__CONFIG__CORE__V3__NODE__USER_AGENT_VERSION_TYPE_USER_AGENT_VERSION;
    node.user_agent_version = "1.2.3";
    node.metadata = &md;
    r.node = &node;
    r.type_url = (char *)cp_xds_type_url(CP_XDS_CLUSTER);
    r.version_info = "";
    r.response_nonce = "";
    uint8_t *buf;
    size_t len;
    pack_free(&r.base, &buf, &len);
    struct cp_xds_stream_out out = sink_out(&k);
    assert_int_equal(cp_xds_stream_on_request(st, s1, buf, len, &out), 0);
    free(buf);
    assert_int_equal(k.n, 1);
    assert_int_equal(k.ev[0].kind, CP_XDS_EV_CONNECTED);
    char nonce[32];
    snprintf(nonce, sizeof(nonce), "%s", k.sotw[0]->nonce);
    sink_clear(&k);
    /* a NACK with a long message, then an ACK: both recorded */
    assert_int_equal(sotw_req(st, s1, &k, CP_XDS_CLUSTER, NULL, "", nonce, msg),
                     0);
    cp_xds_stream_info(st, &info);
    assert_int_equal(strlen(info.id), sizeof(info.id) - 1);
    assert_memory_equal(info.id, id, sizeof(info.id) - 1);
    assert_string_equal(info.cluster, "c9");
    assert_string_equal(info.user_agent_version, "1.2.3");
    assert_string_equal(info.user_agent_name, "");
    assert_string_equal(info.metadata_json, "{\"zone\":\"eu-1\"}");
    const struct cp_xds_type_info *ti = &info.types[CP_XDS_CLUSTER];
    assert_int_equal(ti->nacks, 1);
    assert_string_equal(ti->nack_nonce, nonce);
    assert_int_equal(strlen(ti->nack_message), sizeof(ti->nack_message) - 1);
    assert_string_equal(ti->acked_version, "");
    assert_string_equal(ti->sent_version, "1");
    sink_clear(&k);
    cp_xds_stream_free(st);
    cp_xds_snapshot_put(s1);
}

/* An ACK naming the same set in another order, or with repeats, changes
 * nothing; repeats that hide a dropped name do. */
static void test_sotw_same_names_any_order(void **state)
{
    struct sink k = {0};
    struct cp_xds_snapshot *s1 = snap_v("1");
    struct cp_xds_stream *st = cp_xds_stream_new(22, false, "p");
    struct cp_xds_node_info info;
    char nonce[32], buf[256];
    assert_int_equal(sotw_req(st, s1, &k, CP_XDS_LISTENER,
                              NAMES("lis-a", "lis-b"), "", "", NULL),
                     0);
    assert_int_equal(k.n, 1);
    snprintf(nonce, sizeof(nonce), "%s", k.sotw[0]->nonce);
    sink_clear(&k);
    assert_int_equal(sotw_req(st, s1, &k, CP_XDS_LISTENER,
                              NAMES("lis-b", "lis-a", "lis-b"), "1", nonce,
                              NULL),
                     0);
    assert_int_equal(k.n, 0);
    cp_xds_stream_info(st, &info);
    assert_int_equal(info.types[CP_XDS_LISTENER].n_names, 2);
    assert_int_equal(sotw_req(st, s1, &k, CP_XDS_LISTENER,
                              NAMES("lis-a", "lis-a"), "1", nonce, NULL),
                     0);
    assert_int_equal(k.n, 1);
    assert_string_equal(sotw_names(&k, 0, buf, sizeof(buf)), "lis-a");
    cp_xds_stream_info(st, &info);
    assert_int_equal(info.types[CP_XDS_LISTENER].n_names, 1);
    sink_clear(&k);
    cp_xds_stream_free(st);
    cp_xds_snapshot_put(s1);
}

/* Same, past the on-stack bitmap: 600 names re-sent in reverse order are
 * the same subscription; dropping one is a change. */
static void test_sotw_same_names_many(void **state)
{
    enum { N = 600 };
    struct sink k = {0};
    struct cp_xds_snapshot *s1 = snap_v("1");
    struct cp_xds_stream *st = cp_xds_stream_new(23, false, "p");
    struct cp_xds_node_info info;
    static char store[N][16];
    const char *names[N + 1], *rev[N + 1];
    char nonce[32];
    for (int i = 0; i < N; i++) {
        snprintf(store[i], sizeof(store[i]), "cl-%04d", i);
        names[i] = store[i];
        rev[N - 1 - i] = store[i];
    }
    names[N] = rev[N] = NULL;
    assert_int_equal(sotw_req(st, s1, &k, CP_XDS_ENDPOINT, names, "", "", NULL),
                     0);
    assert_int_equal(k.n, 1);
    snprintf(nonce, sizeof(nonce), "%s", k.sotw[0]->nonce);
    sink_clear(&k);
    assert_int_equal(
        sotw_req(st, s1, &k, CP_XDS_ENDPOINT, rev, "1", nonce, NULL), 0);
    cp_xds_stream_info(st, &info);
    assert_int_equal(info.types[CP_XDS_ENDPOINT].n_names, N);
    assert_int_equal(info.types[CP_XDS_ENDPOINT].acks, 1);
    rev[N - 1] = NULL; /* cl-0000 dropped */
    assert_int_equal(
        sotw_req(st, s1, &k, CP_XDS_ENDPOINT, rev, "1", nonce, NULL), 0);
    cp_xds_stream_info(st, &info);
    assert_int_equal(info.types[CP_XDS_ENDPOINT].n_names, N - 1);
    sink_clear(&k);
    cp_xds_stream_free(st);
    cp_xds_snapshot_put(s1);
}

int main(void)
{
    cm_log_set_level(CM_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sotw_named_ack),
        cmocka_unit_test(test_sotw_legacy_wildcard_and_unsubscribe),
        cmocka_unit_test(test_sotw_nack_and_stale),
        cmocka_unit_test(test_sotw_push_order_and_no_resend),
        cmocka_unit_test(test_sotw_reconnect_and_late_snapshot),
        cmocka_unit_test(test_bad_bytes),
        cmocka_unit_test(test_delta_subscribe_update_remove),
        cmocka_unit_test(test_delta_shared_bodies),
        cmocka_unit_test(test_delta_reconnect_initial_versions),
        cmocka_unit_test(test_delta_reconnect_in_sync_records_ack),
        cmocka_unit_test(test_sotw_reconnect_acked),
        cmocka_unit_test(test_node_record_capped),
        cmocka_unit_test(test_sotw_same_names_any_order),
        cmocka_unit_test(test_sotw_same_names_many),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
