/*
 * tls_test.c -- the rpc server with TLS against real gRPC clients in the
 * same process: the per-method access table (plain port, anonymous TLS,
 * each role), the server-wide check, a certificate from another CA, the
 * peer's role and id in handlers, and a certificate rotation seen by new
 * handshakes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/pki/pki.h"
#include "common/pki/pki_testutil.h"
#include "common/pki/pki_grpc.h"
#include "controlplane/rpc/rpc.h"
#include "controlplane/rpc/testclient.h"

struct fixture {
    char *ca, *ca_key;          /* the cluster's */
    char *other_ca, *other_key; /* another cluster's */
    struct cp_rpc_server *srv;
    char tls[64], plain[64];
    int checks;
};

/* Answers "<role>:<id>" of the caller, then OK. */
static void whoami(void *arg, struct cp_rpc_call *call, const uint8_t *data,
                   size_t len)
{
    char out[CM_PKI_ID_MAX + 16];
    int n = snprintf(out, sizeof(out), "%s:%s",
                     cm_pki_role_name(cp_rpc_call_role(call)),
                     cp_rpc_call_peer_id(call));
    assert_int_equal(cp_rpc_call_send(call, (const uint8_t *)out, (size_t)n),
                     0);
    cp_rpc_call_finish(call, GRPC_STATUS_OK, NULL);
}

static const struct cp_rpc_method_ops whoami_ops = {.on_message = whoami};

/* Refuses the id "revoked". */
static bool check(void *arg, enum cm_pki_role role, const char *id,
                  int64_t not_before)
{
    struct fixture *f = arg;
    f->checks++;
    return strcmp(id, "revoked") != 0;
}

static char *chain_of(const struct cm_pki_creds *c)
{
    size_t a = strlen(c->cert), b = strlen(c->ca);
    char *s = malloc(a + b + 1);
    memcpy(s, c->cert, a);
    memcpy(s + a, c->ca, b + 1);
    return s;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct cm_pki_creds own;
    char err[CM_ERR_LEN];
    int port = 0, pport = 0;

    assert_int_equal(cm_pki_ca_new("a", &f->ca, &f->ca_key, err, sizeof(err)),
                     0);
    assert_int_equal(
        cm_pki_ca_new("b", &f->other_ca, &f->other_key, err, sizeof(err)), 0);
    f->srv = cp_rpc_server_new();
    assert_non_null(f->srv);
    assert_int_equal(cp_rpc_server_add_method(f->srv, "/t.S/Ads", CP_RPC_UNARY,
                                              &whoami_ops, f),
                     0);
    assert_int_equal(cp_rpc_server_add_method(f->srv, "/t.S/Join", CP_RPC_UNARY,
                                              &whoami_ops, f),
                     0);
    assert_int_equal(cp_rpc_server_add_method(f->srv, "/t.S/Mgmt", CP_RPC_UNARY,
                                              &whoami_ops, f),
                     0);
    assert_int_equal(
        cp_rpc_server_set_access(f->srv, "/t.S/Ads", CP_RPC_ACCESS_ADS), 0);
    assert_int_equal(
        cp_rpc_server_set_access(f->srv, "/t.S/Join", CP_RPC_ACCESS_JOIN), 0);
    assert_int_equal(cp_rpc_server_set_access(f->srv, "/t.S/None", 0),
                     GW_ENOENT);
    /* no certificate yet: refused */
    assert_int_equal(cp_rpc_server_start_tls(f->srv, "127.0.0.1:0", &port, NULL,
                                             NULL, err, sizeof(err)),
                     GW_EINVAL);
    cm_pki_test_issue(f->ca, f->ca_key, CM_PKI_ROLE_CONTROL, "cp-1", time(NULL),
                      3600, &own);
    char *chain = chain_of(&own);
    assert_int_equal(cp_rpc_server_set_tls(f->srv, chain, own.key, own.ca), 0);
    free(chain);
    cm_pki_creds_clear(&own);
    cp_rpc_server_set_check(f->srv, check, f);
    assert_int_equal(cp_rpc_server_start_tls(f->srv, "127.0.0.1:0", &port,
                                             "127.0.0.1:0", &pport, err,
                                             sizeof(err)),
                     0);
    assert_true(cp_rpc_server_secure(f->srv));
    assert_true(port > 0 && pport > 0 && port != pport);
    snprintf(f->tls, sizeof(f->tls), "127.0.0.1:%d", port);
    snprintf(f->plain, sizeof(f->plain), "127.0.0.1:%d", pport);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    cp_rpc_server_free(f->srv);
    free(f->ca);
    free(f->ca_key);
    free(f->other_ca);
    free(f->other_key);
    free(f);
    return 0;
}

/* Calls <method> on <tc> (taken): the status, and the answer in <got>
 * ("" when none). */
static grpc_status_code call(struct cp_rpc_tc *tc, char *got, size_t cap)
{
    grpc_status_code st = GRPC_STATUS_UNKNOWN;
    uint8_t *data = NULL;
    size_t len = 0;

    got[0] = '\0';
    assert_non_null(tc);
    (void)cp_rpc_tc_send(tc, (const uint8_t *)"?", 1);
    if (cp_rpc_tc_recv(tc, &data, &len, 5000) == 0) {
        snprintf(got, cap, "%.*s", (int)len, (const char *)data);
        free(data);
    }
    assert_int_equal(cp_rpc_tc_finish(tc, &st, 5000), 0);
    cp_rpc_tc_free(tc);
    return st;
}

static grpc_status_code call_plain(struct fixture *f, const char *method,
                                   char *got)
{
    return call(cp_rpc_tc_open(f->plain, method), got, 300);
}

static grpc_status_code call_tls(struct fixture *f, const char *method,
                                 const struct cm_pki_creds *c, char *got)
{
    return call(cp_rpc_tc_open_tls(f->tls, method, c), got, 300);
}

static void test_plain_port(void **state)
{
    struct fixture *f = *state;
    char got[300];

    assert_int_equal(call_plain(f, "/t.S/Ads", got), GRPC_STATUS_OK);
    assert_string_equal(got, "none:");
    assert_int_equal(call_plain(f, "/t.S/Join", got),
                     GRPC_STATUS_UNAUTHENTICATED);
    assert_string_equal(got, "");
    assert_int_equal(call_plain(f, "/t.S/Mgmt", got),
                     GRPC_STATUS_UNAUTHENTICATED);
    /* the TLS port does not speak plain text */
    assert_int_not_equal(call(cp_rpc_tc_open(f->tls, "/t.S/Ads"), got, 300),
                         GRPC_STATUS_OK);
}

static void test_anonymous(void **state)
{
    struct fixture *f = *state;
    struct cm_pki_creds anon = {.ca = f->ca};
    char got[300];

    assert_int_equal(call_tls(f, "/t.S/Join", &anon, got), GRPC_STATUS_OK);
    assert_string_equal(got, "none:");
    assert_int_equal(call_tls(f, "/t.S/Ads", &anon, got),
                     GRPC_STATUS_UNAUTHENTICATED);
    assert_int_equal(call_tls(f, "/t.S/Mgmt", &anon, got),
                     GRPC_STATUS_UNAUTHENTICATED);
    assert_int_equal(f->checks, 0); /* only certificates are checked */
}

static void test_roles(void **state)
{
    struct fixture *f = *state;
    struct cm_pki_creds data, admin, control;
    char got[300];

    cm_pki_test_issue(f->ca, f->ca_key, CM_PKI_ROLE_DATA, "edge-1", time(NULL),
                      3600, &data);
    cm_pki_test_issue(f->ca, f->ca_key, CM_PKI_ROLE_ADMIN, "admin@cp-1",
                      time(NULL), 3600, &admin);
    cm_pki_test_issue(f->ca, f->ca_key, CM_PKI_ROLE_CONTROL, "cp-2", time(NULL),
                      3600, &control);
    assert_int_equal(call_tls(f, "/t.S/Ads", &data, got), GRPC_STATUS_OK);
    assert_string_equal(got, "data:edge-1");
    assert_int_equal(call_tls(f, "/t.S/Join", &data, got), GRPC_STATUS_OK);
    assert_int_equal(call_tls(f, "/t.S/Mgmt", &data, got),
                     GRPC_STATUS_PERMISSION_DENIED);
    assert_string_equal(got, "");
    assert_int_equal(call_tls(f, "/t.S/Mgmt", &admin, got), GRPC_STATUS_OK);
    assert_string_equal(got, "admin:admin@cp-1");
    assert_int_equal(call_tls(f, "/t.S/Mgmt", &control, got), GRPC_STATUS_OK);
    assert_string_equal(got, "control:cp-2");
    assert_true(f->checks >= 4);
    cm_pki_creds_clear(&data);
    cm_pki_creds_clear(&admin);
    cm_pki_creds_clear(&control);
}

static void test_check_refuses(void **state)
{
    struct fixture *f = *state;
    struct cm_pki_creds c;
    char got[300];

    cm_pki_test_issue(f->ca, f->ca_key, CM_PKI_ROLE_DATA, "revoked", time(NULL),
                      3600, &c);
    assert_int_equal(call_tls(f, "/t.S/Ads", &c, got),
                     GRPC_STATUS_UNAUTHENTICATED);
    assert_string_equal(got, "");
    cm_pki_creds_clear(&c);
}

static void test_foreign_and_expired(void **state)
{
    struct fixture *f = *state;
    struct cm_pki_creds c;
    char got[300];

    /* another CA's certificate, trusting our CA: the handshake fails */
    cm_pki_test_issue(f->other_ca, f->other_key, CM_PKI_ROLE_ADMIN, "admin@x",
                      time(NULL), 3600, &c);
    free(c.ca);
    c.ca = strdup(f->ca);
    assert_int_equal(call_tls(f, "/t.S/Join", &c, got),
                     GRPC_STATUS_UNAVAILABLE);
    cm_pki_creds_clear(&c);
    /* ours, expired an hour ago */
    cm_pki_test_issue(f->ca, f->ca_key, CM_PKI_ROLE_ADMIN, "admin@y",
                      time(NULL) - 7300, 3600, &c);
    assert_int_equal(call_tls(f, "/t.S/Join", &c, got),
                     GRPC_STATUS_UNAVAILABLE);
    cm_pki_creds_clear(&c);
    assert_int_equal(f->checks, 0);
}

/* Fingerprint of the leaf the server presents now. */
static void presented(struct fixture *f, char fp[CM_PKI_FP_HEX])
{
    char *chain = NULL, err[CM_ERR_LEN];

    assert_int_equal(cm_pki_fetch_chain(f->tls, 5000, &chain, err, sizeof(err)),
                     0);
    assert_int_equal(cm_pki_fingerprint(chain, fp, err, sizeof(err)), 0);
    /* the CA comes along: a joiner finds it there */
    char *ca = NULL, cafp[CM_PKI_FP_HEX];
    assert_int_equal(cm_pki_fingerprint(f->ca, cafp, err, sizeof(err)), 0);
    assert_int_equal(cm_pki_chain_find(chain, cafp, &ca, err, sizeof(err)), 0);
    free(ca);
    free(chain);
}

static void test_rotation(void **state)
{
    struct fixture *f = *state;
    struct cm_pki_creds next, data;
    char before[CM_PKI_FP_HEX], after[CM_PKI_FP_HEX], want[CM_PKI_FP_HEX];
    char err[CM_ERR_LEN], got[300];

    presented(f, before);
    cm_pki_test_issue(f->ca, f->ca_key, CM_PKI_ROLE_CONTROL, "cp-1", time(NULL),
                      3600, &next);
    char *chain = chain_of(&next);
    assert_int_equal(cp_rpc_server_set_tls(f->srv, chain, next.key, next.ca),
                     0);
    free(chain);
    assert_int_equal(cm_pki_fingerprint(next.cert, want, err, sizeof(err)), 0);
    presented(f, after);
    assert_string_not_equal(before, after);
    assert_string_equal(after, want);
    /* and calls still work */
    cm_pki_test_issue(f->ca, f->ca_key, CM_PKI_ROLE_DATA, "edge-1", time(NULL),
                      3600, &data);
    assert_int_equal(call_tls(f, "/t.S/Ads", &data, got), GRPC_STATUS_OK);
    assert_int_equal(cp_rpc_server_set_tls(f->srv, NULL, "k", "r"), GW_EINVAL);
    cm_pki_creds_clear(&next);
    cm_pki_creds_clear(&data);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_plain_port, setup, teardown),
        cmocka_unit_test_setup_teardown(test_anonymous, setup, teardown),
        cmocka_unit_test_setup_teardown(test_roles, setup, teardown),
        cmocka_unit_test_setup_teardown(test_check_refuses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_foreign_and_expired, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_rotation, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
