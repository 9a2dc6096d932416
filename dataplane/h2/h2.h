/*
 * h2.h -- HTTP/2 sessions over libnghttp2 for the data node: a server
 * session per client connection and a client session per upstream
 * connection, both written against a byte transport (dp_h2_io) so they run
 * over TCP or TLS alike; per-stream send queues whose draining is reported
 * (backpressure), receive windows opened only as bytes are consumed, limits
 * on streams and header lists, and reset/SETTINGS/PING flood cut-offs.
 * Also the pure header translations HTTP/2 <-> HTTP/1.1 the proxy uses.
 * One session is driven by one worker loop. Types are in h2-t.h.
 */
#ifndef DP_H2_H
#define DP_H2_H

#include <stddef.h>
#include <stdint.h>

#include "common/err/err.h"
#include "common/http1/http1-t.h"
#include "dataplane/h2/h2-t.h"

/* ==== sessions ==== */

/* Returns a new session of <role>; <lim> (NULL: defaults), <io> and <cbs>
 * are copied; <arg> is passed to callbacks. The server expects the client
 * preface as its first bytes; the client queues its own. Our SETTINGS are
 * queued: call dp_h2_flush(). NULL when out of memory. Free with
 * dp_h2_session_free(). */
struct dp_h2_session *dp_h2_session_new(enum dp_h2_role role,
                                        const struct dp_h2_limits *lim,
                                        const struct dp_h2_io *io,
                                        const struct dp_h2_cbs *cbs, void *arg);

/* Frees <s> without further callbacks. NULL is a no-op. Not from inside
 * one of its callbacks. */
void dp_h2_session_free(struct dp_h2_session *s);

/* Processes <n> received bytes (borrowed for the call), raising stream
 * events, then flushes. Returns 0, or a negative error after which the
 * connection must close once dp_h2_flush() sent what it could (a GOAWAY). */
int dp_h2_feed(struct dp_h2_session *s, const uint8_t *p, size_t n);

/* Serialises queued frames and sends them through the transport until it
 * is busy or nothing is left. Returns 0 or a negative error. */
int dp_h2_flush(struct dp_h2_session *s);

/* The transport finished the pending send; call dp_h2_flush() next. */
void dp_h2_sent(struct dp_h2_session *s);

/* true while a send is pending in the transport. */
bool dp_h2_sending(const struct dp_h2_session *s);

/* true when the session is over (GOAWAY exchanged and no stream left, or
 * a fatal error) and nothing is left to send: close the connection. */
bool dp_h2_done(const struct dp_h2_session *s);

/* Streams open now. */
uint32_t dp_h2_open_streams(const struct dp_h2_session *s);

/* Client: true when a new stream may be opened now (no GOAWAY received,
 * below the server's SETTINGS_MAX_CONCURRENT_STREAMS). */
bool dp_h2_can_open(const struct dp_h2_session *s);

/* Sends GOAWAY: <graceful> (NO_ERROR, streams so far finish) or an error
 * (ENHANCE_YOUR_CALM, the connection ends). */
int dp_h2_goaway(struct dp_h2_session *s, bool graceful);

void dp_h2_stats(const struct dp_h2_session *s, struct dp_h2_stats *out);

/* ==== streams ==== */

/* Sets the user pointer of stream <sid> (borrowed: NULL detaches it, and
 * then its events stop). */
void dp_h2_set_user(struct dp_h2_session *s, int32_t sid, void *user);

/* Client: opens a stream with the request head <f> (<n> fields, pseudo
 * ones first; copied). <end>: no body. Returns the stream id (> 0) or a
 * negative error. */
int32_t dp_h2_request(struct dp_h2_session *s, const struct dp_h2_field *f,
                      size_t n, bool end, void *user);

/* Server: submits the response head <f> (":status" first; copied) on
 * <sid>. <end>: no body follows (e.g. a trailers-only gRPC answer). */
int dp_h2_respond(struct dp_h2_session *s, int32_t sid,
                  const struct dp_h2_field *f, size_t n, bool end);

/* Queues <n> body bytes (copied) on <sid>, whose head was submitted
 * without <end>. Returns 0 or a negative error. */
int dp_h2_write(struct dp_h2_session *s, int32_t sid, const void *p, size_t n);

/* Ends the body of <sid> after the queued bytes, with trailers <f> (<n>
 * fields, copied; n == 0: none). */
int dp_h2_end(struct dp_h2_session *s, int32_t sid, const struct dp_h2_field *f,
              size_t n);

/* Body bytes queued on <sid> and not yet framed. */
size_t dp_h2_queued(const struct dp_h2_session *s, int32_t sid);

/* <n> received body bytes of <sid> were forwarded: reopens the windows. */
void dp_h2_consume(struct dp_h2_session *s, int32_t sid, size_t n);

/* Resets <sid> with <code> (an HTTP/2 error code) and detaches its user. */
int dp_h2_reset(struct dp_h2_session *s, int32_t sid, uint32_t code);

/* ==== header translation (pure) ==== */

/* How a request goes to an HTTP/1.1 upstream (dp_h2_req_to_h1). */
struct dp_h2_h1req {
    struct dp_h2_slice target; /* p != NULL: replaces :path */
    struct dp_h2_slice host;   /* p != NULL: replaces :authority */
    struct dp_h2_slice client; /* appended to X-Forwarded-For */
    struct dp_h2_slice proto;  /* X-Forwarded-Proto */
    struct dp_h2_slice extra;  /* "Name: value\r\n" lines added */
    bool chunked;              /* a body of unknown length follows */
    /* true when the request field <name> must not be forwarded */
    bool (*drop)(void *arg, const char *name, size_t len);
    void *drop_arg;
};

/* Writes the HTTP/1.1 request head for the HTTP/2 request <h> into <out>
 * (<cap> bytes): request line, Host from :authority, fields but the
 * connection-specific ones, Cookie crumbs joined with "; ", X-Forwarded-*,
 * Transfer-Encoding: chunked as <o> says. Returns its length, or
 * GW_ETOOBIG / GW_EINVAL (no :path or :method). */
int dp_h2_req_to_h1(const struct dp_h2_head *h, const struct dp_h2_h1req *o,
                    char *out, size_t cap);

/* Fills <f> (<max> entries) with the HTTP/2 fields of the HTTP/1.1
 * response <r> parsed from <buf>: ":status" (its digits written into
 * <status>), then the fields but hop-by-hop ones, names lower-cased in
 * place in <buf>. Returns the count or GW_ETOOBIG. */
int dp_h2_resp_from_h1(const struct cm_h1_resp *r, char *buf, char status[4],
                       struct dp_h2_field *f, size_t max);

/* Fills <f> with the HTTP/2 request fields of the HTTP/1.1 request <r>
 * parsed from <buf> (names lower-cased in place): :method, :scheme
 * "http", :authority from Host, :path from the target, then fields but
 * hop-by-hop ones and Host; "te: trailers" is kept. Returns the count,
 * GW_ETOOBIG or GW_EINVAL (no host). */
int dp_h2_req_from_h1(const struct cm_h1_req *r, char *buf,
                      struct dp_h2_field *f, size_t max);

/* Writes the HTTP/1.1 response head for the HTTP/2 response <h> into
 * <out>: status line, fields, then Transfer-Encoding: chunked if
 * <chunked>. Returns its length or GW_ETOOBIG. */
int dp_h2_resp_to_h1(const struct dp_h2_head *h, bool chunked, char *out,
                     size_t cap);

/* Writes the last chunk and the trailer section for <f> (<n> fields):
 * "0\r\nname: value\r\n\r\n". Returns its length or GW_ETOOBIG. */
int dp_h2_trailers_to_h1(const struct dp_h2_field *f, size_t n, char *out,
                         size_t cap);

/* Parses "Name: value\r\n" lines at <p> (<len> bytes, lower-cased in
 * place) into <f> (<max> entries), appended after <*n>. Returns 0 or
 * GW_ETOOBIG / GW_EINVAL. */
int dp_h2_fields_from_lines(char *p, size_t len, struct dp_h2_field *f,
                            size_t max, size_t *n);

/* Field <name> (ASCII case-insensitive) of <h>, or NULL. */
const struct dp_h2_field *dp_h2_find(const struct dp_h2_head *h,
                                     const char *name, size_t len);

/* true for the connection-specific names an HTTP/2 message must not carry
 * (connection, keep-alive, proxy-connection, transfer-encoding, upgrade,
 * host; te unless its value is "trailers"). */
bool dp_h2_is_hop(const char *name, size_t len, const char *value, size_t vlen);

/* Parses a grpc-timeout value ("100m", "5S", ...) into ms (rounded up);
 * returns 0 and sets *ms, or GW_EINVAL. */
int dp_h2_grpc_timeout_ms(const char *v, size_t len, uint64_t *ms);

#endif
