/*
 * pki_testutil.c -- certificates for tests (pki_testutil.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/pki/pki_testutil.h"

void cm_pki_test_issue(const char *ca, const char *ca_key,
                       enum cm_pki_role role, const char *id, int64_t now,
                       int64_t ttl_s, struct cm_pki_creds *out)
{
    const char *dns[] = {CM_PKI_CONTROL_NAME, "localhost"};
    const char *ips[] = {"127.0.0.1"};
    struct cm_pki_issue in = {.role = role,
                              .id = id,
                              .dns = dns,
                              .n_dns = 2,
                              .ips = ips,
                              .n_ips = 1,
                              .now = now,
                              .ttl_s = ttl_s};
    char *csr = NULL, err[CM_ERR_LEN];

    memset(out, 0, sizeof(*out));
    assert_int_equal(cm_pki_key_new(&out->key, err, sizeof(err)), 0);
    assert_int_equal(cm_pki_csr_new(out->key, id, &csr, err, sizeof(err)), 0);
    assert_int_equal(
        cm_pki_issue(ca, ca_key, csr, &in, &out->cert, err, sizeof(err)), 0);
    out->ca = strdup(ca);
    assert_non_null(out->ca);
    free(csr);
}
