/*
 * pki_testutil.h -- for tests only: certificates issued in one call, every
 * step asserted with cmocka.
 */
#ifndef CM_PKI_TESTUTIL_H
#define CM_PKI_TESTUTIL_H

#include <stdint.h>

#include "common/pki/pki.h"

/* Issues <role>/<id> by <ca>/<ca_key> into <out>: a new key, and a
 * certificate valid <ttl_s> from <now> - 60 for CM_PKI_CONTROL_NAME,
 * "localhost" and 127.0.0.1; out->ca is a copy of <ca>. Free with
 * cm_pki_creds_clear(). */
void cm_pki_test_issue(const char *ca, const char *ca_key,
                       enum cm_pki_role role, const char *id, int64_t now,
                       int64_t ttl_s, struct cm_pki_creds *out);

#endif
