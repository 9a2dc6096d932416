/*
 * http1_request_fuzz.c -- libFuzzer target for the request parser: the
 * input parsed whole must equal the input parsed in two calls split at a
 * point the fuzzer chooses (first byte), and a head that parses must be
 * written for the next hop in a form that parses again.
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

static void same(const struct cm_h1_req *a, const struct cm_h1_req *b)
{
    check(a->msg.state == b->msg.state);
    check(a->msg.status == b->msg.status);
    if (a->msg.state != CM_H1_S_DONE)
        return;
    check(a->msg.head_len == b->msg.head_len);
    check(a->msg.flags == b->msg.flags);
    check(a->msg.body == b->msg.body);
    check(a->msg.content_length == b->msg.content_length);
    check(a->msg.nhdr == b->msg.nhdr);
    check(hdrs_eq(a->msg.hdrs, b->msg.hdrs, a->msg.nhdr));
    check(a->method == b->method && a->form == b->form);
    check(memcmp(&a->host, &b->host, sizeof(a->host)) == 0);
    check(memcmp(&a->path, &b->path, sizeof(a->path)) == 0);
}

/* Writes <r> for the next hop and parses the result again. */
static void forward(const struct cm_h1_req *r, const char *buf)
{
    struct iovec iov[CM_H1_WRITE_IOV_MAX(NH)];
    struct cm_h1_hdr h2[NH + 8];
    struct cm_h1_req back;
    struct cm_h1_limits lim = {1 << 20, 1 << 20};
    struct cm_h1_fwd fwd = {.flags = CM_H1_FWD_XF | CM_H1_FWD_UPGRADE,
                            .client_addr = {"10.0.0.1", 8},
                            .proto = {"https", 5}};
    char *out;
    int n, len, rc;

    if (r->msg.flags & CM_H1_F_CHUNKED)
        fwd.flags |= CM_H1_FWD_CHUNKED;
    n = cm_h1_req_write_iov(r, buf, &fwd, iov, CM_H1_WRITE_IOV_MAX(NH));
    check(n > 0);
    len = (int)cm_h1_iov_len(iov, n);
    out = malloc((size_t)len);
    check(cm_h1_req_write(r, buf, &fwd, out, (size_t)len) == len);
    check(cm_h1_req_write(r, buf, &fwd, out, (size_t)len - 1) < 0);
    check(cm_h1_req_init(&back, h2, NH + 8, &lim) == 0);
    rc = cm_h1_req_parse(&back, out, (size_t)len);
    check(rc == len);
    check(back.method == r->method);
    check(back.msg.content_length == r->msg.content_length);
    check(back.msg.body == r->msg.body);
    check(back.msg.minor == 1);
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cm_h1_hdr h1[NH], h2[NH];
    struct cm_h1_req whole, split;
    struct cm_h1_limits lim = {512, 2048};
    size_t cut;
    char *buf;
    int rc, rc2;

    if (size < 1)
        return 0;
    cut = data[0] % size;
    data++;
    size--;
    buf = malloc(size ? size : 1);
    memcpy(buf, data, size);

    check(cm_h1_req_init(&whole, h1, NH, &lim) == 0);
    check(cm_h1_req_init(&split, h2, NH, &lim) == 0);
    rc = cm_h1_req_parse(&whole, buf, size);
    check(rc == -1 || (rc >= 0 && (size_t)rc <= size));
    rc2 = cm_h1_req_parse(&split, buf, cut);
    if (rc2 == 0)
        rc2 = cm_h1_req_parse(&split, buf, size);
    check(rc == rc2);
    same(&whole, &split);
    if (rc > 0)
        forward(&whole, buf);
    free(buf);
    return 0;
}
