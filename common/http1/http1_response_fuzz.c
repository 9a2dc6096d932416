/*
 * http1_response_fuzz.c -- libFuzzer target for the response parser: the
 * first byte picks the request method and a split point; whole and split
 * parses must agree, and body framing must be consistent with the code.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/http1/http1.h"

#define NH 32

/* A macro, so that the crash report names the failed line. */
#define check(ok)                                                              \
    do {                                                                       \
        if (!(ok))                                                             \
            abort();                                                           \
    } while (0)

static bool hdrs_eq(const struct cm_h1_hdr *a, const struct cm_h1_hdr *b,
                    uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        if (a[i].name.off != b[i].name.off || a[i].name.len != b[i].name.len ||
            a[i].value.off != b[i].value.off ||
            a[i].value.len != b[i].value.len || a[i].id != b[i].id ||
            a[i].flags != b[i].flags)
            return false;
    }
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const enum cm_h1_method methods[] = {CM_H1_M_GET, CM_H1_M_HEAD,
                                                CM_H1_M_CONNECT, CM_H1_M_POST};
    struct cm_h1_hdr h1[NH], h2[NH];
    struct cm_h1_resp whole, split;
    struct iovec iov[CM_H1_WRITE_IOV_MAX(NH)];
    struct cm_h1_fwd fwd = {.flags = CM_H1_FWD_CHUNKED};
    enum cm_h1_method m;
    size_t cut;
    char *buf;
    int rc, rc2;

    if (size < 1)
        return 0;
    m = methods[data[0] & 3];
    cut = size > 1 ? (data[0] >> 2) % size : 0;
    data++;
    size--;
    buf = malloc(size ? size : 1);
    memcpy(buf, data, size);

    check(cm_h1_resp_init(&whole, h1, NH, NULL) == 0);
    check(cm_h1_resp_init(&split, h2, NH, NULL) == 0);
    cm_h1_resp_reset(&whole, m);
    cm_h1_resp_reset(&split, m);
    rc = cm_h1_resp_parse(&whole, buf, size);
    rc2 = cm_h1_resp_parse(&split, buf, cut);
    if (rc2 == 0)
        rc2 = cm_h1_resp_parse(&split, buf, size);
    check(rc == rc2);
    check(whole.msg.status == split.msg.status);
    if (rc > 0) {
        check(whole.code >= 100 && whole.code <= 599);
        check(whole.code == split.code);
        check(whole.msg.flags == split.msg.flags);
        check(whole.msg.nhdr == split.msg.nhdr);
        check(hdrs_eq(h1, h2, whole.msg.nhdr));
        if (whole.code < 200 || whole.code == 204 || whole.code == 304 ||
            m == CM_H1_M_HEAD)
            check(whole.msg.body == CM_H1_BODY_NONE);
        if (whole.msg.body == CM_H1_BODY_CLOSE)
            check(!(whole.msg.flags & CM_H1_F_KEEPALIVE));
        check(cm_h1_resp_write_iov(&whole, buf, &fwd, iov,
                                   CM_H1_WRITE_IOV_MAX(NH)) > 0);
    } else if (rc < 0) {
        check(whole.msg.status == 502 && whole.msg.err != NULL);
    }
    free(buf);
    return 0;
}
