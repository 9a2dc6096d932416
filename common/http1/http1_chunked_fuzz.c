/*
 * http1_chunked_fuzz.c -- libFuzzer target for the chunked decoder: decoding
 * the input in one buffer and one byte at a time must give the same data,
 * result and bytes consumed; slices must lie inside the given buffer; what
 * is decoded, re-encoded by our writer, decodes to the same data.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/http1/http1.h"

/* A macro, so that the crash report names the failed line. */
#define check(ok)                                                              \
    do {                                                                       \
        if (!(ok))                                                             \
            abort();                                                           \
    } while (0)

/* Decodes buf in pieces of <step> bytes (0: all); data goes to <out>. */
static int run(const char *buf, size_t n, size_t step, char *out, size_t *olen,
               size_t *used)
{
    struct cm_h1_chunked st;
    size_t off = 0, avail = 0;
    int rc = CM_H1_CHUNK_NEED;

    cm_h1_chunked_init(&st, 64, 256);
    *olen = 0;
    while (off < n) {
        struct cm_h1_slice d;
        size_t c;
        if (avail <= off)
            avail = step == 0 || off + step > n ? n : off + step;
        rc = cm_h1_chunked_parse(&st, buf + off, avail - off, &c, &d);
        check(c <= avail - off);
        if (rc == CM_H1_CHUNK_DATA) {
            check(d.len > 0 && d.ptr >= buf + off &&
                  d.ptr + d.len <= buf + off + c);
            memcpy(out + *olen, d.ptr, d.len);
            *olen += d.len;
        } else {
            check(d.len == 0);
        }
        off += c;
        if (rc < 0 || rc == CM_H1_CHUNK_DONE)
            break;
    }
    check(rc < 0 || st.total == *olen);
    *used = off;
    return rc;
}

/* Re-encodes <data> as one chunk and the last chunk; decodes it back. */
static void roundtrip(const char *data, size_t n)
{
    char line[CM_H1_CHUNK_LINE_MAX], *wire = malloc(n + 32), *out;
    struct iovec iov[3];
    size_t w = 0, olen, used;
    int k = cm_h1_chunk_iov(line, data, n, iov);

    for (int i = 0; i < k; i++) {
        memcpy(wire + w, iov[i].iov_base, iov[i].iov_len);
        w += iov[i].iov_len;
    }
    memcpy(wire + w, CM_H1_CHUNK_LAST, 5);
    w += 5;
    out = malloc(n + 1);
    check(run(wire, w, 0, out, &olen, &used) == CM_H1_CHUNK_DONE);
    check(used == w && olen == n && memcmp(out, data, n) == 0);
    free(out);
    free(wire);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size ? size : 1);
    char *o1 = malloc(size + 1), *o2 = malloc(size + 1);
    size_t l1, l2, u1, u2;
    int r1, r2;

    memcpy(buf, data, size);
    r1 = run(buf, size, 0, o1, &l1, &u1);
    r2 = run(buf, size, 1, o2, &l2, &u2);
    check(r1 == r2);
    if (r1 >= 0) {
        check(u1 == u2 && l1 == l2 && memcmp(o1, o2, l1) == 0);
        roundtrip(o1, l1);
    }
    free(buf);
    free(o1);
    free(o2);
    return 0;
}
