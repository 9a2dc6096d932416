/*
 * server_test.c -- the ADS service over real gRPC in one process: a SotW and
 * a delta stream from the blocking test client, pushes from another thread,
 * the node list and the event hook.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "common/pki/pki.h"
#include "common/pki/pki_testutil.h"

#include "controlplane/rpc/testclient.h"
#include "controlplane/xds/testutil.h"

#define ADS "/envoy.service.discovery.v3.AggregatedDiscoveryService/"

struct hook {
    int connected, disconnected, acks, nacks;
    char last_nack[256];
};

static void on_event(void *arg, const struct cp_xds_event *ev)
{
    struct hook *h = arg;
    switch (ev->kind) {
    case CP_XDS_EV_CONNECTED:
        h->connected++;
        break;
    case CP_XDS_EV_DISCONNECTED:
        h->disconnected++;
        break;
    case CP_XDS_EV_ACK:
        h->acks++;
        break;
    case CP_XDS_EV_NACK:
        h->nacks++;
        snprintf(h->last_nack, sizeof(h->last_nack), "%s", ev->message);
        break;
    }
}

struct fixture {
    struct cp_rpc_server *rpc;
    struct cp_xds_server *xds;
    char target[64];
    struct hook hook;
};

static void fixture_start(struct fixture *f)
{
    memset(f, 0, sizeof(*f));
    f->rpc = cp_rpc_server_new();
    f->xds = cp_xds_server_new(f->rpc);
    assert_non_null(f->xds);
    cp_xds_server_set_event_cb(f->xds, on_event, &f->hook);
    int port;
    char err[CM_ERR_LEN];
    assert_int_equal(
        cp_rpc_server_start(f->rpc, "127.0.0.1:0", &port, err, sizeof(err)), 0);
    snprintf(f->target, sizeof(f->target), "127.0.0.1:%d", port);
}

static void fixture_stop(struct fixture *f)
{
    cp_rpc_server_stop(f->rpc);
    cp_xds_server_free(f->xds);
    cp_rpc_server_free(f->rpc);
}

static void send_sotw(struct cp_rpc_tc *tc, int type, const char *name,
                      const char *version, const char *nonce, const char *err)
{
    Envoy__Service__Discovery__V3__DiscoveryRequest r =
        ENVOY__SERVICE__DISCOVERY__V3__DISCOVERY_REQUEST__INIT;
    Envoy__Config__Core__V3__Node node = ENVOY__CONFIG__CORE__V3__NODE__INIT;
    Google__Rpc__Status st = GOOGLE__RPC__STATUS__INIT;
    node.id = "srv-test-node";
    node.user_agent_name = "cmocka";
    node.user_agent_version_type_case =
        ENVOY__CONFIG__CORE__V3__NODE__USER_AGENT_VERSION_TYPE_USER_AGENT_VERSION;
    node.user_agent_version = "1.0";
    r.node = &node;
    r.type_url = (char *)cp_xds_type_url(type);
    char *names[1] = {(char *)name};
    r.n_resource_names = 1;
    r.resource_names = names;
    r.version_info = (char *)version;
    r.response_nonce = (char *)nonce;
    if (err != NULL) {
        st.code = 3;
        st.message = (char *)err;
        r.error_detail = &st;
    }
    uint8_t *buf;
    size_t len;
    assert_int_equal(cp_rpc_pb_pack(&r.base, &buf, &len), 0);
    assert_int_equal(cp_rpc_tc_send(tc, buf, len), 0);
    free(buf);
}

static Envoy__Service__Discovery__V3__DiscoveryResponse *
recv_sotw(struct cp_rpc_tc *tc, int timeout_ms)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = cp_rpc_tc_recv(tc, &buf, &len, timeout_ms);
    if (rc != 0)
        return NULL;
    Envoy__Service__Discovery__V3__DiscoveryResponse *r =
        envoy__service__discovery__v3__discovery_response__unpack(NULL, len,
                                                                  buf);
    free(buf);
    return r;
}

static struct cp_xds_snapshot *make_snap(const char *version,
                                         const char *service)
{
    struct cp_xds_snapshot *s = cp_xds_snapshot_new(version);
    assert_int_equal(add_listener(s, "L"), 0);
    assert_int_equal(add_cluster(s, "C", service), 0);
    return s;
}

static void test_sotw_over_grpc(void **state)
{
    struct fixture f;
    fixture_start(&f);
    struct cp_xds_snapshot *s1 = make_snap("1", "svc-1");
    cp_xds_server_set_snapshot(f.xds, s1);
    cp_xds_snapshot_put(s1);

    struct cp_rpc_tc *tc =
        cp_rpc_tc_open(f.target, ADS "StreamAggregatedResources");
    assert_non_null(tc);
    send_sotw(tc, CP_XDS_LISTENER, "L", "", "", NULL);
    Envoy__Service__Discovery__V3__DiscoveryResponse *r = recv_sotw(tc, 5000);
    assert_non_null(r);
    assert_string_equal(r->version_info, "1");
    assert_int_equal(r->n_resources, 1);
    send_sotw(tc, CP_XDS_LISTENER, "L", "1", r->nonce, NULL);
    envoy__service__discovery__v3__discovery_response__free_unpacked(r, NULL);
    send_sotw(tc, CP_XDS_CLUSTER, "C", "", "", NULL);
    r = recv_sotw(tc, 5000);
    assert_non_null(r);
    assert_string_equal(r->type_url, cp_xds_type_url(CP_XDS_CLUSTER));
    send_sotw(tc, CP_XDS_CLUSTER, "C", "", r->nonce, "cluster rejected");
    envoy__service__discovery__v3__discovery_response__free_unpacked(r, NULL);
    /* no resend of the rejected set */
    assert_null(recv_sotw(tc, 300));

    struct cp_xds_node_info *nodes = NULL;
    size_t n = 0;
    assert_int_equal(cp_xds_server_list_nodes(f.xds, &nodes, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(nodes[0].id, "srv-test-node");
    assert_string_equal(nodes[0].user_agent_version, "1.0");
    assert_string_equal(nodes[0].types[CP_XDS_LISTENER].acked_version, "1");
    assert_string_equal(nodes[0].types[CP_XDS_CLUSTER].nack_message,
                        "cluster rejected");
    assert_string_equal(nodes[0].metadata_json, "{}");
    assert_non_null(strstr(nodes[0].peer, "127.0.0.1"));
    free(nodes);

    /* a new snapshot from this thread: only CDS changed, only CDS pushed */
    struct cp_xds_snapshot *s2 = make_snap("2", "svc-2");
    cp_xds_server_set_snapshot(f.xds, s2);
    cp_xds_snapshot_put(s2);
    r = recv_sotw(tc, 5000);
    assert_non_null(r);
    assert_string_equal(r->type_url, cp_xds_type_url(CP_XDS_CLUSTER));
    assert_string_equal(r->version_info, "2");
    envoy__service__discovery__v3__discovery_response__free_unpacked(r, NULL);
    assert_null(recv_sotw(tc, 300));

    grpc_status_code st;
    assert_int_equal(cp_rpc_tc_finish(tc, &st, 5000), 0);
    assert_int_equal(st, GRPC_STATUS_OK);
    cp_rpc_tc_free(tc);
    /* the stream is gone from the list once the call is over */
    for (int i = 0; i < 100; i++) {
        assert_int_equal(cp_xds_server_list_nodes(f.xds, &nodes, &n), 0);
        free(nodes);
        if (n == 0)
            break;
        usleep(20 * 1000);
    }
    assert_int_equal(n, 0);
    fixture_stop(&f);
    assert_int_equal(f.hook.connected, 1);
    assert_int_equal(f.hook.disconnected, 1);
    assert_int_equal(f.hook.acks, 1);
    assert_int_equal(f.hook.nacks, 1);
    assert_string_equal(f.hook.last_nack, "cluster rejected");
}

static void test_bad_request_and_stop(void **state)
{
    struct fixture f;
    fixture_start(&f);
    struct cp_rpc_tc *tc =
        cp_rpc_tc_open(f.target, ADS "DeltaAggregatedResources");
    const uint8_t junk[] = {0xff, 0xff, 0xff};
    assert_int_equal(cp_rpc_tc_send(tc, junk, sizeof(junk)), 0);
    grpc_status_code st;
    assert_int_equal(cp_rpc_tc_finish(tc, &st, 5000), 0);
    assert_int_equal(st, GRPC_STATUS_INVALID_ARGUMENT);
    cp_rpc_tc_free(tc);

    /* a stream still open when the server stops is cleaned up */
    tc = cp_rpc_tc_open(f.target, ADS "StreamAggregatedResources");
    send_sotw(tc, CP_XDS_ROUTE, "R", "", "", NULL);
    struct cp_xds_node_info *nodes = NULL;
    size_t n = 0;
    bool seen = false;
    for (int i = 0; i < 100 && !seen; i++) {
        assert_int_equal(cp_xds_server_list_nodes(f.xds, &nodes, &n), 0);
        seen = n == 1 && strcmp(nodes[0].id, "srv-test-node") == 0 &&
               nodes[0].types[CP_XDS_ROUTE].subscribed;
        free(nodes);
        if (!seen)
            usleep(20 * 1000);
    }
    assert_true(seen);
    fixture_stop(&f);
    cp_rpc_tc_free(tc);
    /* the undecodable stream never connected; the other one came and went */
    assert_int_equal(f.hook.connected, 1);
    assert_int_equal(f.hook.disconnected, 1);
}

/* Streams of a revoked certificate end with UNAUTHENTICATED; others (other
 * id, other role, a newer certificate) stay. */
static void test_revoke_over_tls(void **state)
{
    struct fixture f;
    struct cm_pki_creds own, a, b;
    char *ca = NULL, *ca_key = NULL, err[CM_ERR_LEN];
    int64_t now = time(NULL);
    int port = 0;

    memset(&f, 0, sizeof(f));
    assert_int_equal(cm_pki_ca_new("x", &ca, &ca_key, err, sizeof(err)), 0);
    cm_pki_test_issue(ca, ca_key, CM_PKI_ROLE_CONTROL, "cp", now, 3600, &own);
    cm_pki_test_issue(ca, ca_key, CM_PKI_ROLE_DATA, "edge-1", now, 3600, &a);
    cm_pki_test_issue(ca, ca_key, CM_PKI_ROLE_DATA, "edge-2", now, 3600, &b);
    f.rpc = cp_rpc_server_new();
    f.xds = cp_xds_server_new(f.rpc);
    char chain[8192];
    snprintf(chain, sizeof(chain), "%s%s", own.cert, own.ca);
    assert_int_equal(cp_rpc_server_set_tls(f.rpc, chain, own.key, own.ca), 0);
    assert_int_equal(cp_rpc_server_start_tls(f.rpc, "127.0.0.1:0", &port, NULL,
                                             NULL, err, sizeof(err)),
                     0);
    snprintf(f.target, sizeof(f.target), "127.0.0.1:%d", port);
    struct cp_xds_snapshot *s1 = make_snap("1", "svc-1");
    cp_xds_server_set_snapshot(f.xds, s1);
    cp_xds_snapshot_put(s1);

    struct cp_rpc_tc *ta =
        cp_rpc_tc_open_tls(f.target, ADS "StreamAggregatedResources", &a);
    struct cp_rpc_tc *tb =
        cp_rpc_tc_open_tls(f.target, ADS "StreamAggregatedResources", &b);
    Envoy__Service__Discovery__V3__DiscoveryResponse *r;
    send_sotw(ta, CP_XDS_LISTENER, "L", "", "", NULL);
    assert_non_null(r = recv_sotw(ta, 5000));
    envoy__service__discovery__v3__discovery_response__free_unpacked(r, NULL);
    send_sotw(tb, CP_XDS_LISTENER, "L", "", "", NULL);
    assert_non_null(r = recv_sotw(tb, 5000));
    envoy__service__discovery__v3__discovery_response__free_unpacked(r, NULL);

    /* older than the certificate, another role, another id: nothing */
    assert_int_equal(
        cp_xds_server_revoke(f.xds, CM_PKI_ROLE_DATA, "edge-1", now - 3600), 0);
    assert_int_equal(
        cp_xds_server_revoke(f.xds, CM_PKI_ROLE_CONTROL, "edge-1", now + 10),
        0);
    assert_int_equal(
        cp_xds_server_revoke(f.xds, CM_PKI_ROLE_DATA, "edge-3", now + 10), 0);
    assert_int_equal(
        cp_xds_server_revoke(f.xds, CM_PKI_ROLE_DATA, "edge-1", now + 10), 1);
    grpc_status_code st = GRPC_STATUS_OK;
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal(cp_rpc_tc_recv(ta, &buf, &len, 5000), GW_EIO);
    assert_int_equal(cp_rpc_tc_finish(ta, &st, 5000), 0);
    assert_int_equal(st, GRPC_STATUS_UNAUTHENTICATED);
    /* edge-2's stream still answers */
    send_sotw(tb, CP_XDS_CLUSTER, "C", "", "", NULL);
    assert_non_null(r = recv_sotw(tb, 5000));
    assert_string_equal(r->type_url, cp_xds_type_url(CP_XDS_CLUSTER));
    envoy__service__discovery__v3__discovery_response__free_unpacked(r, NULL);
    cp_rpc_tc_free(ta);
    cp_rpc_tc_free(tb);
    fixture_stop(&f);
    cm_pki_creds_clear(&own);
    cm_pki_creds_clear(&a);
    cm_pki_creds_clear(&b);
    free(ca);
    free(ca_key);
}

int main(void)
{
    cm_log_set_level(getenv("XDS_TEST_DEBUG") ? CM_LOG_DEBUG : CM_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sotw_over_grpc),
        cmocka_unit_test(test_bad_request_and_stop),
        cmocka_unit_test(test_revoke_over_tls),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
