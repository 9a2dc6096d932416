/*
 * http1.h -- HTTP/1.1 codec, parsing side: request and response heads
 * (RFC 9112, strict against request smuggling), chunked bodies, and the
 * writer that forwards a parsed head to the next hop. Zero-copy and
 * allocation-free: results point into the caller's buffer. Types are in
 * http1-t.h.
 *
 * Strictness (request -> status; response -> 502):
 * - Content-Length with Transfer-Encoding; Content-Length headers that
 *   differ (equal ones count as one); a Content-Length that is not all
 *   digits (lists like "5, 5" too) or exceeds INT64_MAX: 400.
 * - Transfer-Encoding: unknown coding 501; chunked not last, twice, with
 *   parameters, empty list elements, any TE in HTTP/1.0: 400. (Responses
 *   accept unknown codings; without a final chunked the body ends at close.)
 * - Line structure: obsolete folding, whitespace before the first header
 *   or before a colon, bare CR anywhere, LF without CR (RFC 9112 allows it
 *   as leniency; we do not), NUL/CTL/DEL in names or values, non-token
 *   names or methods, a target byte outside VCHAR or '#': 400.
 * - Host: missing in HTTP/1.1, several, or not host[:port]: 400.
 * - Versions: well-formed HTTP/d.d other than 1.0/1.1: 505; others 400.
 * - Limits: start line > max_line: 414; header section > max_headers or
 *   more headers than the array holds: 431.
 * Leniencies: empty lines before the start line are skipped (they count
 * towards max_line); a status line may end right after the code.
 */
#ifndef CM_HTTP1_H
#define CM_HTTP1_H

#include <stdbool.h>
#include <sys/uio.h>

#include "common/http1/http1-t.h"

/* ==== request and response heads ==== */

/* Prepares <req> to parse. <hdrs> is borrowed (the caller's array of
 * <hdr_max> entries, kept until the request is done with); more headers
 * answer 431. <lim> may be NULL (defaults). Returns 0 or GW_EINVAL (a limit
 * above CM_H1_MAX_LIMIT, hdr_max 0). */
int cm_h1_req_init(struct cm_h1_req *req, struct cm_h1_hdr *hdrs,
                   uint32_t hdr_max, const struct cm_h1_limits *lim);

/* Forgets the previous request (keeps hdrs and limits), e.g. before parsing
 * the next pipelined one. */
void cm_h1_req_reset(struct cm_h1_req *req);

/* Parses a request head from <buf>, which starts at the request's first
 * byte and holds <len> bytes (borrowed for this call; spans index it).
 * Resumable: after 0, call again with the same bytes followed by more (the
 * buffer may have moved); scanning resumes where it stopped.
 * Returns >0: the head is complete and is that many bytes (the body or the
 * next request follows); 0: need more bytes; -1: invalid, answer
 * req->msg.status (400, 414, 431, 501, 505) and close the connection. */
int cm_h1_req_parse(struct cm_h1_req *req, const char *buf, size_t len);

/* Same as cm_h1_req_init() for a response; the request method is set by
 * cm_h1_resp_reset() before each response. */
int cm_h1_resp_init(struct cm_h1_resp *resp, struct cm_h1_hdr *hdrs,
                    uint32_t hdr_max, const struct cm_h1_limits *lim);

/* Prepares for the next response, to a request of method <req_method>
 * (HEAD: no body; CONNECT: a 2xx starts a tunnel). After a 1xx, reset
 * with the same method and parse the bytes that follow. */
void cm_h1_resp_reset(struct cm_h1_resp *resp, enum cm_h1_method req_method);

/* Parses a response head; same contract as cm_h1_req_parse(). On -1,
 * resp->msg.status is 502 and resp->msg.err says why. */
int cm_h1_resp_parse(struct cm_h1_resp *resp, const char *buf, size_t len);

/* ==== chunked bodies ==== */

/* Prepares <st> for one chunked body; <ext_max>/<trl_max> 0 mean the
 * defaults (CM_H1_CHUNK_EXT_DEF, CM_H1_TRAILER_DEF). */
void cm_h1_chunked_init(struct cm_h1_chunked *st, uint32_t ext_max,
                        uint32_t trl_max);

/* Decodes chunked framing from <buf> (<len> bytes, the bytes after those
 * consumed so far). Sets *consumed to the bytes used; they need not be given
 * again. Returns CM_H1_CHUNK_DATA with *data a slice of <buf> (borrowed:
 * forward it before dropping the buffer), CM_H1_CHUNK_NEED (all consumed,
 * *data empty), CM_H1_CHUNK_DONE (end of the body; bytes after *consumed
 * belong to the next message), or -1 (invalid framing; st->err says why).
 * Resumable at any byte. Trailers are checked and consumed, not returned. */
int cm_h1_chunked_parse(struct cm_h1_chunked *st, const char *buf, size_t len,
                        size_t *consumed, struct cm_h1_slice *data);

/* Writes the size line of a chunk of <n> > 0 bytes ("1a2f\r\n") into <out>;
 * returns its length. */
size_t cm_h1_chunk_size_line(char out[CM_H1_CHUNK_LINE_MAX], uint64_t n);

/* Fills iov[0..2] with the framing and data of one chunk of <n> > 0 bytes
 * at <data>: size line (written into <line>), data, CRLF. All borrowed.
 * Returns 3, or 0 if n == 0 (an empty chunk would end the body). */
int cm_h1_chunk_iov(char line[CM_H1_CHUNK_LINE_MAX], const void *data, size_t n,
                    struct iovec iov[3]);

/* The last chunk with no trailers, and the CRLF after chunk data. */
#define CM_H1_CHUNK_LAST "0\r\n\r\n"
#define CM_H1_CRLF       "\r\n"

/* ==== helpers for the proxy ==== */

/* true when the names are equal ignoring ASCII case. */
bool cm_h1_name_eq(const char *a, size_t alen, const char *b, size_t blen);

/* true for the fixed hop-by-hop names: Connection, Keep-Alive,
 * Proxy-Connection, TE, Trailer, Transfer-Encoding, Upgrade. */
bool cm_h1_name_is_hop(const char *name, size_t len);

/* true when <h> must not be forwarded: a fixed hop-by-hop name or a name
 * listed in Connection (except Host and Content-Length, which Connection
 * cannot remove: dropping them would desynchronise the next hop). */
static inline bool cm_h1_hdr_is_hop(const struct cm_h1_hdr *h)
{
    return (h->flags & CM_H1_HDR_HOP) != 0;
}

/* Index of the first header named <name> at or after <from>, or -1. */
int cm_h1_find(const struct cm_h1_msg *m, const char *buf, const char *name,
               size_t len, uint32_t from);

/* A span of <buf> as a slice. */
static inline struct cm_h1_slice cm_h1_at(const char *buf, struct cm_h1_span s)
{
    struct cm_h1_slice r = {buf + s.off, s.len};
    return r;
}

/* iovecs that always suffice for a head of <nhdr> headers. */
#define CM_H1_WRITE_IOV_MAX(nhdr) (3 * (nhdr) + 32)

/* Fills <iov> (<iov_max> entries) with the request head to send upstream,
 * from <req> parsed from <buf>: "METHOD target HTTP/1.1", headers without
 * hop-by-hop ones, then as <fwd> asks: Host, X-Forwarded-* (X-Forwarded-For
 * appended to, -Proto and -Host replaced), Connection, Transfer-Encoding.
 * An absolute-form target is sent in origin-form with Host set from it.
 * The iovecs borrow <buf>, <fwd>'s slices and static strings.
 * Returns the number of entries used, or GW_ETOOBIG. */
int cm_h1_req_write_iov(const struct cm_h1_req *req, const char *buf,
                        const struct cm_h1_fwd *fwd, struct iovec *iov,
                        int iov_max);

/* Same, copied into <out> (<cap> bytes). Returns the bytes written, or
 * GW_ETOOBIG. */
int cm_h1_req_write(const struct cm_h1_req *req, const char *buf,
                    const struct cm_h1_fwd *fwd, char *out, size_t cap);

/* Fills <iov> with the response head to send to the client: "HTTP/1.1 code
 * reason", headers without hop-by-hop ones, then Connection and
 * Transfer-Encoding as <fwd> asks (other fwd fields unused). Returns the
 * entries used, or GW_ETOOBIG. */
int cm_h1_resp_write_iov(const struct cm_h1_resp *resp, const char *buf,
                         const struct cm_h1_fwd *fwd, struct iovec *iov,
                         int iov_max);

/* Total bytes of <n> iovecs. */
size_t cm_h1_iov_len(const struct iovec *iov, int n);

#endif
