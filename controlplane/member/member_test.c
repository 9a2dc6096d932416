/*
 * member_test.c -- Join with good, bad, foreign and rotated tokens, Renew
 * keeping the caller's role and id, the revocation check by notBefore and
 * its hook, and a node re-admitted after a revocation.
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
#include "controlplane/member/member.h"

struct fixture {
    struct cp_member *m;
    char *ca_cert, *ca_key;
    char ca_fp[CM_PKI_FP_HEX];
    char control[CM_PKI_TOKEN_MAX], data[CM_PKI_TOKEN_MAX];
    char *key, *csr; /* a joiner's */
    int revoked_calls;
    char revoked_id[CM_PKI_ID_MAX];
    int64_t revoked_at;
};

/* Makes a token of <role> and stores its hash as that role's. */
static void make_token(struct fixture *f, enum cm_pki_role role, char *out)
{
    struct cm_pki_token t;
    char h[CM_PKI_FP_HEX];

    assert_int_equal(cm_pki_token_new(role, f->ca_fp, &t), 0);
    assert_int_equal(cm_pki_token_format(&t, out, CM_PKI_TOKEN_MAX), 0);
    cm_pki_token_hash(t.secret, h);
    if (role == CM_PKI_ROLE_CONTROL) {
        char d[CM_PKI_FP_HEX] = "";
        struct cm_pki_token dt;
        if (f->data[0] != '\0') {
            assert_int_equal(cm_pki_token_parse(f->data, &dt, NULL, 0), 0);
            cm_pki_token_hash(dt.secret, d);
        }
        assert_int_equal(cp_member_set_tokens(f->m, h, d), 0);
    } else {
        char c[CM_PKI_FP_HEX] = "";
        struct cm_pki_token ct;
        if (f->control[0] != '\0') {
            assert_int_equal(cm_pki_token_parse(f->control, &ct, NULL, 0), 0);
            cm_pki_token_hash(ct.secret, c);
        }
        assert_int_equal(cp_member_set_tokens(f->m, c, h), 0);
    }
}

static void on_revoked(void *arg, enum cm_pki_role role, const char *id,
                       int64_t at)
{
    struct fixture *f = arg;
    f->revoked_calls++;
    snprintf(f->revoked_id, sizeof(f->revoked_id), "%s", id);
    f->revoked_at = at;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    char err[CM_ERR_LEN];

    assert_non_null(f);
    f->m = cp_member_new();
    assert_non_null(f->m);
    assert_int_equal(
        cm_pki_ca_new("test", &f->ca_cert, &f->ca_key, err, sizeof(err)), 0);
    assert_int_equal(cp_member_set_ca(f->m, f->ca_cert, f->ca_key), 0);
    assert_int_equal(cm_pki_fingerprint(f->ca_cert, f->ca_fp, err, sizeof(err)),
                     0);
    assert_int_equal(cp_member_set_secrets(f->m, "ab12", "redispw"), 0);
    make_token(f, CM_PKI_ROLE_CONTROL, f->control);
    make_token(f, CM_PKI_ROLE_DATA, f->data);
    assert_int_equal(cm_pki_key_new(&f->key, err, sizeof(err)), 0);
    assert_int_equal(
        cm_pki_csr_new(f->key, "ignored", &f->csr, err, sizeof(err)), 0);
    cp_member_set_revoked_cb(f->m, on_revoked, f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    cp_member_free(f->m);
    free(f->ca_cert);
    free(f->ca_key);
    free(f->key);
    free(f->csr);
    free(f);
    return 0;
}

/* Checks that <r> holds a certificate of our CA for <role>/<id>, valid now
 * and for <key>; returns its notBefore. */
static int64_t check_cert(struct fixture *f, const struct cp_member_reply *r,
                          enum cm_pki_role role, const char *id)
{
    struct cm_pki_cert_info info;
    char err[CM_ERR_LEN];

    assert_int_equal(r->status, GRPC_STATUS_OK);
    assert_non_null(r->cert_pem);
    assert_string_equal(r->ca_pem, f->ca_cert);
    assert_int_equal(
        cm_pki_verify(f->ca_cert, r->cert_pem, time(NULL), err, sizeof(err)),
        0);
    assert_true(cm_pki_key_matches(r->cert_pem, f->key));
    assert_int_equal(cm_pki_cert_info(r->cert_pem, &info, err, sizeof(err)), 0);
    assert_int_equal(info.role, role);
    assert_string_equal(info.id, id);
    return info.not_before;
}

static void test_join_data(void **state)
{
    struct fixture *f = *state;
    struct cp_member_reply r;

    cp_member_join(f->m, f->data, "edge-1", f->csr, &r);
    check_cert(f, &r, CM_PKI_ROLE_DATA, "edge-1");
    assert_null(r.cluster_key); /* data tokens get no secrets */
    assert_null(r.redis_password);
    cp_member_reply_deinit(&r);
}

static void test_join_control(void **state)
{
    struct fixture *f = *state;
    struct cp_member_reply r;

    cp_member_join(f->m, f->control, "cp-2", f->csr, &r);
    check_cert(f, &r, CM_PKI_ROLE_CONTROL, "cp-2");
    assert_string_equal(r.cluster_key, "ab12");
    assert_string_equal(r.redis_password, "redispw");
    cp_member_reply_deinit(&r);
}

static void expect_refused(struct fixture *f, const char *token, const char *id,
                           const char *csr, grpc_status_code want)
{
    struct cp_member_reply r;

    cp_member_join(f->m, token, id, csr, &r);
    assert_int_equal(r.status, want);
    assert_null(r.cert_pem);
    assert_null(r.cluster_key);
    assert_true(r.details[0] != '\0');
}

static void test_join_bad_tokens(void **state)
{
    struct fixture *f = *state;
    struct cm_pki_token t;
    char other[CM_PKI_TOKEN_MAX];

    expect_refused(f, "garbage", "n", f->csr, GRPC_STATUS_UNAUTHENTICATED);
    expect_refused(f, NULL, "n", f->csr, GRPC_STATUS_UNAUTHENTICATED);
    /* the right format, another secret */
    assert_int_equal(cm_pki_token_new(CM_PKI_ROLE_DATA, f->ca_fp, &t), 0);
    assert_int_equal(cm_pki_token_format(&t, other, sizeof(other)), 0);
    expect_refused(f, other, "n", f->csr, GRPC_STATUS_UNAUTHENTICATED);
    /* our secret, another cluster's CA */
    assert_int_equal(cm_pki_token_parse(f->data, &t, NULL, 0), 0);
    memset(t.ca_fp, 'a', CM_PKI_FP_HEX - 1);
    assert_int_equal(cm_pki_token_format(&t, other, sizeof(other)), 0);
    expect_refused(f, other, "n", f->csr, GRPC_STATUS_UNAUTHENTICATED);
    /* the data secret presented as a control token */
    assert_int_equal(cm_pki_token_parse(f->data, &t, NULL, 0), 0);
    t.role = CM_PKI_ROLE_CONTROL;
    assert_int_equal(cm_pki_token_format(&t, other, sizeof(other)), 0);
    expect_refused(f, other, "n", f->csr, GRPC_STATUS_UNAUTHENTICATED);
    /* good token, bad request */
    expect_refused(f, f->data, "", f->csr, GRPC_STATUS_INVALID_ARGUMENT);
    expect_refused(f, f->data, "a b", f->csr, GRPC_STATUS_INVALID_ARGUMENT);
    expect_refused(f, f->data, "admin@x", f->csr, GRPC_STATUS_INVALID_ARGUMENT);
    expect_refused(f, f->data, "n", "not a csr", GRPC_STATUS_INVALID_ARGUMENT);
}

static void test_join_rotated(void **state)
{
    struct fixture *f = *state;
    char old[CM_PKI_TOKEN_MAX];
    struct cp_member_reply r;

    memcpy(old, f->data, sizeof(old));
    make_token(f, CM_PKI_ROLE_DATA, f->data);
    expect_refused(f, old, "edge-1", f->csr, GRPC_STATUS_UNAUTHENTICATED);
    cp_member_join(f->m, f->data, "edge-1", f->csr, &r);
    check_cert(f, &r, CM_PKI_ROLE_DATA, "edge-1");
    cp_member_reply_deinit(&r);
    /* the control token was left alone */
    cp_member_join(f->m, f->control, "cp-3", f->csr, &r);
    assert_int_equal(r.status, GRPC_STATUS_OK);
    cp_member_reply_deinit(&r);
    /* no tokens at all: nobody joins */
    assert_int_equal(cp_member_set_tokens(f->m, NULL, ""), 0);
    expect_refused(f, f->data, "edge-1", f->csr, GRPC_STATUS_UNAUTHENTICATED);
    expect_refused(f, f->control, "cp-3", f->csr, GRPC_STATUS_UNAUTHENTICATED);
}

static void test_join_without_ca(void **state)
{
    struct fixture *f = *state;
    struct cp_member *empty = cp_member_new();
    struct cp_member_reply r;

    cp_member_join(empty, f->data, "edge-1", f->csr, &r);
    assert_int_equal(r.status, GRPC_STATUS_UNAVAILABLE);
    cp_member_renew(empty, CM_PKI_ROLE_DATA, "edge-1", f->csr, &r);
    assert_int_equal(r.status, GRPC_STATUS_UNAVAILABLE);
    cp_member_free(empty);
    /* a key that is not the CA's is refused */
    assert_int_equal(cp_member_set_ca(f->m, f->ca_cert, f->key), GW_EINVAL);
}

static void test_renew(void **state)
{
    struct fixture *f = *state;
    struct cp_member_reply r;

    cp_member_renew(f->m, CM_PKI_ROLE_DATA, "edge-1", f->csr, &r);
    check_cert(f, &r, CM_PKI_ROLE_DATA, "edge-1");
    cp_member_reply_deinit(&r);
    cp_member_renew(f->m, CM_PKI_ROLE_ADMIN, "admin@cp-1", f->csr, &r);
    check_cert(f, &r, CM_PKI_ROLE_ADMIN, "admin@cp-1");
    assert_null(r.cluster_key);
    cp_member_reply_deinit(&r);
    cp_member_renew(f->m, CM_PKI_ROLE_NONE, "", f->csr, &r);
    assert_int_equal(r.status, GRPC_STATUS_UNAUTHENTICATED);
    cp_member_renew(f->m, CM_PKI_ROLE_DATA, "edge-1", "junk", &r);
    assert_int_equal(r.status, GRPC_STATUS_INVALID_ARGUMENT);
}

static void test_revocation(void **state)
{
    struct fixture *f = *state;
    struct cp_member_revoked v[2] = {
        {.role = CM_PKI_ROLE_DATA, .id = "edge-1", .at = 1000},
        {.role = CM_PKI_ROLE_CONTROL, .id = "cp-2", .at = 500},
    };

    assert_true(cp_member_allowed(f->m, CM_PKI_ROLE_DATA, "edge-1", 10));
    assert_int_equal(cp_member_set_revoked(f->m, v, 2), 0);
    assert_int_equal(f->revoked_calls, 2);
    assert_false(cp_member_allowed(f->m, CM_PKI_ROLE_DATA, "edge-1", 999));
    assert_true(cp_member_allowed(f->m, CM_PKI_ROLE_DATA, "edge-1", 1000));
    /* same id, other role; other id */
    assert_true(cp_member_allowed(f->m, CM_PKI_ROLE_CONTROL, "edge-1", 10));
    assert_true(cp_member_allowed(f->m, CM_PKI_ROLE_DATA, "edge-2", 10));
    assert_false(cp_member_allowed(f->m, CM_PKI_ROLE_CONTROL, "cp-2", 499));
    /* the same list again reports nothing; a later time reports one */
    assert_int_equal(cp_member_set_revoked(f->m, v, 2), 0);
    assert_int_equal(f->revoked_calls, 2);
    v[1].at = 600;
    assert_int_equal(cp_member_set_revoked(f->m, v, 2), 0);
    assert_int_equal(f->revoked_calls, 3);
    assert_string_equal(f->revoked_id, "cp-2");
    assert_int_equal(f->revoked_at, 600);
    /* dropped from the list: allowed again */
    assert_int_equal(cp_member_set_revoked(f->m, v, 1), 0);
    assert_true(cp_member_allowed(f->m, CM_PKI_ROLE_CONTROL, "cp-2", 10));
    /* one more, directly */
    assert_int_equal(cp_member_revoke(f->m, CM_PKI_ROLE_ADMIN, "admin@x", 77),
                     0);
    assert_int_equal(f->revoked_calls, 4);
    assert_false(cp_member_allowed(f->m, CM_PKI_ROLE_ADMIN, "admin@x", 76));
}

/* A node revoked now and re-admitted at once gets a certificate the check
 * lets through (notBefore would otherwise be a minute back). */
static void test_readmitted(void **state)
{
    struct fixture *f = *state;
    struct cp_member_reply r;
    int64_t now = time(NULL);

    assert_int_equal(cp_member_revoke(f->m, CM_PKI_ROLE_DATA, "edge-1", now),
                     0);
    cp_member_join(f->m, f->data, "edge-1", f->csr, &r);
    int64_t nb = check_cert(f, &r, CM_PKI_ROLE_DATA, "edge-1");
    assert_true(nb >= now);
    assert_true(cp_member_allowed(f->m, CM_PKI_ROLE_DATA, "edge-1", nb));
    cp_member_reply_deinit(&r);
}

static void test_issue_creds(void **state)
{
    struct fixture *f = *state;
    struct cm_pki_creds c;
    struct cm_pki_cert_info info;
    const char *dns[] = {CM_PKI_CONTROL_NAME, "localhost"};
    const char *ips[] = {"127.0.0.1"};
    char err[CM_ERR_LEN];

    cp_member_set_ttl(f->m, 3600);
    assert_int_equal(cp_member_issue_creds(f->m, CM_PKI_ROLE_CONTROL, "cp-1",
                                           dns, 2, ips, 1, &c, err,
                                           sizeof(err)),
                     0);
    assert_string_equal(c.ca, f->ca_cert);
    assert_true(cm_pki_key_matches(c.cert, c.key));
    assert_int_equal(cm_pki_cert_info(c.cert, &info, err, sizeof(err)), 0);
    assert_int_equal(info.role, CM_PKI_ROLE_CONTROL);
    assert_string_equal(info.id, "cp-1");
    assert_true(info.not_after - info.not_before <= 3600 + 60);
    assert_true(info.not_after - info.not_before >= 3600);
    cm_pki_creds_clear(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_join_data, setup, teardown),
        cmocka_unit_test_setup_teardown(test_join_control, setup, teardown),
        cmocka_unit_test_setup_teardown(test_join_bad_tokens, setup, teardown),
        cmocka_unit_test_setup_teardown(test_join_rotated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_join_without_ca, setup, teardown),
        cmocka_unit_test_setup_teardown(test_renew, setup, teardown),
        cmocka_unit_test_setup_teardown(test_revocation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_readmitted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_issue_creds, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
