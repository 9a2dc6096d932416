/*
 * proxy_hc_grpc.c -- the gRPC probe of the active health checker
 * (healthCheck.mode: grpc): grpc.health.v1.Health/Check with an empty
 * service over one HTTP/2 connection (dataplane/h2's client session; h2c,
 * or TLS with ALPN h2 driven by proxy_hc.c), judged on :status 200, a
 * SERVING HealthCheckResponse and grpc-status 0 in the trailers; any other
 * outcome fails the probe with its reason (NOT_SERVING, grpc-status 12,
 * trailers-only, reset...). Runs on the checker's loop.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dataplane/h2/h2.h"
#include "dataplane/proxy/proxy_hc_int.h"
#include "dataplane/tls/tls.h"

/* gRPC HealthCheckResponse.status values. */
enum {
    HC_GRPC_SERVING = 1,
};

/* Metadata a gRPC probe carries as given: not the probe's own fields nor
 * connection-specific ones. */
static bool grpc_own_header(const char *name)
{
    return dp_proxy__hc_own_header(name) || strcasecmp(name, "te") == 0 ||
           strcasecmp(name, "content-type") == 0 ||
           dp_h2_is_hop(name, strlen(name), "", 0);
}

/* Appends <a> and its NUL at <r + *k>, lower-cased when <lower>. */
static void put_str(char *r, size_t *k, const char *a, bool lower)
{
    size_t n = strlen(a) + 1;

    memcpy(r + *k, a, n);
    for (size_t i = 0; lower && i < n; i++)
        r[*k + i] = (char)tolower((unsigned char)r[*k + i]);
    *k += n;
}

/* The gRPC probe's key (struct dp_proxy__hc_target.req): service, authority
 * (the cluster name by default), then the metadata (names lower-cased, as
 * HTTP/2 wants) with a User-Agent unless one is given. */
char *dp_proxy__hc_grpc_key(const struct dp_cluster *c,
                            const struct dp_health_check *h, size_t *len)
{
    const char *service = h->service ? h->service : "";
    const char *auth = h->authority && h->authority[0] ? h->authority : c->name;
    size_t n = strlen(service) + strlen(auth) + 64, k = 0;
    char *r;

    for (size_t i = 0; i < h->n_headers; i++)
        n += strlen(h->headers[i].name) + strlen(h->headers[i].value) + 2;
    if ((r = malloc(n)) == NULL)
        return NULL;
    put_str(r, &k, service, false);
    put_str(r, &k, auth, false);
    for (size_t i = 0; i < h->n_headers; i++)
        if (!grpc_own_header(h->headers[i].name)) {
            put_str(r, &k, h->headers[i].name, true);
            put_str(r, &k, h->headers[i].value, false);
        }
    if (!dp_proxy__hc_has_header(h, "user-agent")) {
        put_str(r, &k, "user-agent", false);
        put_str(r, &k, HC_GRPC_UA, false);
    }
    *len = k;
    return r;
}

/* ---- gRPC over HTTP/2 ---- */

/* Reads a protobuf varint at p[*i] (n bytes); false when truncated. */
static bool pb_varint(const uint8_t *p, size_t n, size_t *i, uint64_t *v)
{
    *v = 0;
    for (unsigned sh = 0; sh < 64 && *i < n; sh += 7) {
        uint8_t b = p[(*i)++];
        *v |= (uint64_t)(b & 0x7f) << sh;
        if (!(b & 0x80))
            return true;
    }
    return false;
}

int64_t dp_proxy__hc_grpc_status(const uint8_t *p, size_t n)
{
    uint64_t key, v, status = 0;
    size_t i = 0;

    while (i < n) {
        if (!pb_varint(p, n, &i, &key))
            return -1;
        switch (key & 7) {
        case 0:
            if (!pb_varint(p, n, &i, &v))
                return -1;
            if (key >> 3 == 1)
                status = v;
            break;
        case 1:
            i += 8;
            break;
        case 2:
            if (!pb_varint(p, n, &i, &v) || v > n - i)
                return -1;
            i += v;
            break;
        case 5:
            i += 4;
            break;
        default:
            return -1;
        }
    }
    return i == n && status <= INT32_MAX ? (int64_t)status : -1;
}

/* The status of the one gRPC message in e->buf (5-byte prefix: not
 * compressed, length), or -1 with <why> set. */
static int64_t grpc_message_status(const struct dp_proxy__hc_ep *e,
                                   const char **why)
{
    const uint8_t *b = (const uint8_t *)e->buf;
    int64_t st;

    if (e->len < 5) {
        *why = "no HealthCheckResponse";
        return -1;
    }
    uint32_t n = (uint32_t)b[1] << 24 | (uint32_t)b[2] << 16 |
                 (uint32_t)b[3] << 8 | b[4];
    if (b[0] != 0 || n != e->len - 5 ||
        (st = dp_proxy__hc_grpc_status(b + 5, n)) < 0) {
        *why = "malformed HealthCheckResponse";
        return -1;
    }
    return st;
}

static const char *serving_name(int64_t st)
{
    static const char *const names[] = {"UNKNOWN", "SERVING", "NOT_SERVING",
                                        "SERVICE_UNKNOWN"};

    return st >= 0 && st < 4 ? names[st] : NULL;
}

/* Fails the probe with the grpc-status of <h> and its grpc-message. */
static void grpc_fail_status(struct dp_proxy__hc_ep *e,
                             const struct dp_h2_head *h, const char *what)
{
    const struct dp_h2_field *gs = dp_h2_find(h, "grpc-status", 11);
    const struct dp_h2_field *gm = dp_h2_find(h, "grpc-message", 12);

    if (gs == NULL) {
        dp_proxy__hc_fail(e, "no grpc-status in the %s", what);
        return;
    }
    dp_proxy__hc_fail(e, "grpc-status %.*s%s%.*s", (int)gs->value.len,
                      gs->value.p, gm ? ": " : "",
                      gm ? (int)(gm->value.len > 60 ? 60 : gm->value.len) : 0,
                      gm ? gm->value.p : "");
}

static bool grpc_ok_status(const struct dp_h2_head *h)
{
    const struct dp_h2_field *gs = dp_h2_find(h, "grpc-status", 11);

    return gs != NULL && gs->value.len == 1 && gs->value.p[0] == '0';
}

/* The trailers: grpc-status 0 and a SERVING response pass. */
static void grpc_judge(struct dp_proxy__hc_ep *e, const struct dp_h2_head *h)
{
    const char *why = NULL;
    int64_t st;

    if (!grpc_ok_status(h)) {
        grpc_fail_status(e, h, "trailers");
        return;
    }
    if ((st = grpc_message_status(e, &why)) < 0)
        dp_proxy__hc_fail(e, "%s", why);
    else if (st != HC_GRPC_SERVING && serving_name(st) != NULL)
        dp_proxy__hc_fail(e, "%s", serving_name(st));
    else if (st != HC_GRPC_SERVING)
        dp_proxy__hc_fail(e, "serving status %lld", (long long)st);
    else
        dp_proxy__hc_done(e, NULL);
}

static int grpc_on_headers(void *arg, int32_t sid, void *user,
                           const struct dp_h2_head *h)
{
    struct dp_proxy__hc_ep *e = arg;

    if (dp_proxy__hc_over(e) || h->kind == DP_H2_INFO)
        return 0;
    if (h->kind == DP_H2_TRAILERS)
        grpc_judge(e, h);
    else if (h->status != 200)
        dp_proxy__hc_fail(e, "HTTP status %d (want 200)", h->status);
    else if (h->end_stream && grpc_ok_status(h))
        dp_proxy__hc_fail(e, "trailers-only response: no HealthCheckResponse");
    else if (h->end_stream)
        grpc_fail_status(e, h, "trailers-only response");
    return 0;
}

static void grpc_on_data(void *arg, void *user, const uint8_t *p, size_t n)
{
    struct dp_proxy__hc_ep *e = arg;

    if (dp_proxy__hc_over(e))
        return;
    if (n > HC_BUF - e->len) {
        dp_proxy__hc_fail(e, "response over %d bytes", HC_BUF);
        return;
    }
    memcpy(e->buf + e->len, p, n);
    e->len += n;
}

static void grpc_on_end(void *arg, void *user)
{
    (void)arg, (void)user; /* judged on the trailers or the close */
}

static void grpc_on_close(void *arg, void *user, uint32_t code)
{
    struct dp_proxy__hc_ep *e = arg;

    if (dp_proxy__hc_over(e))
        return;
    if (code != 0)
        dp_proxy__hc_fail(e, "stream reset (HTTP/2 error %u)", code);
    else
        dp_proxy__hc_fail(e, "response without trailers");
}

static void grpc_on_room(void *arg, void *user, size_t n)
{
    (void)arg, (void)user, (void)n; /* the 5-byte body is queued at once */
}

static const struct dp_h2_cbs grpc_cbs = {
    grpc_on_headers, grpc_on_data, grpc_on_end, grpc_on_close, grpc_on_room};

void dp_proxy__hc_grpc_flush(struct dp_proxy__hc_ep *e)
{
    if (!dp_proxy__hc_over(e) && dp_h2_flush(e->h2) != 0)
        dp_proxy__hc_fail(e, "HTTP/2: cannot send");
}

static void grpc_written(uv_write_t *w, int status)
{
    struct dp_proxy__hc_ep *e = w->data;

    if (dp_proxy__hc_over(e))
        return;
    dp_h2_sent(e->h2);
    if (status != 0)
        dp_proxy__hc_fail(e, "write: %s", uv_strerror(status));
    else
        dp_proxy__hc_grpc_flush(e);
}

/* The session's transport: TLS records, or the socket. */
static int grpc_send(void *arg, const uint8_t *p, size_t n)
{
    struct dp_proxy__hc_ep *e = arg;
    uv_buf_t b = uv_buf_init((char *)p, (unsigned)n);

    if (dp_proxy__hc_over(e))
        return 1; /* dropped: the probe is over */
    if (e->tls == NULL)
        return dp_proxy__send((uv_stream_t *)&e->tcp, &e->wr, &b, 1,
                              grpc_written);
    if (dp_tls_conn_write(e->tls, p, n) != 0)
        return GW_EIO;
    int r = dp_proxy__tls_flush(e->tls, (uv_stream_t *)&e->tcp);
    return r < 0 ? r : 1;
}

/* Received HTTP/2 bytes: events may end the probe. */
void dp_proxy__hc_grpc_input(struct dp_proxy__hc_ep *e, const void *p, size_t n)
{
    int r = dp_h2_feed(e->h2, p, n);

    if (dp_proxy__hc_over(e))
        return;
    if (r != 0)
        dp_proxy__hc_fail(e, "HTTP/2: protocol error or GOAWAY");
    else if (dp_h2_done(e->h2))
        dp_proxy__hc_fail(e, "HTTP/2: the server ended the session");
}

void dp_proxy__hc_grpc_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    struct dp_proxy__hc_ep *e = s->data;

    if (n == 0 || dp_proxy__hc_over(e))
        return;
    if (n < 0)
        dp_proxy__hc_fail(e, "read: %s before the gRPC response",
                          uv_strerror((int)n));
    else
        dp_proxy__hc_grpc_input(e, b->base, (size_t)n);
}

/* The request's fields from the target's key; returns new (free()) with
 * the count in <n>, or NULL. */
static struct dp_h2_field *grpc_fields(const struct dp_proxy__hc_ep *e,
                                       size_t *n)
{
    const struct dp_proxy__hc_target *t = e->tg;
    const char *k = t->req + strlen(t->req) + 1, *end = t->req + t->req_len;
    size_t strs = 0, i = 0; /* metadata names and values */
    struct dp_h2_field *f;

    for (const char *q = k + strlen(k) + 1; q < end; q += strlen(q) + 1)
        strs++;
    if ((f = calloc(6 + strs / 2, sizeof(*f))) == NULL)
        return NULL;
#define F(nm, v)                                                               \
    (f[i].name.p = (nm), f[i].name.len = strlen(nm), f[i].value.p = (v),       \
     f[i].value.len = strlen(v), i++)
    F(":method", "POST");
    F(":scheme", t->tls ? "https" : "http");
    F(":path", "/grpc.health.v1.Health/Check");
    F(":authority", k);
    F("content-type", "application/grpc");
    F("te", "trailers");
    for (const char *q = k + strlen(k) + 1; q < end;) {
        const char *v = q + strlen(q) + 1;
        F(q, v);
        q = v + strlen(v) + 1;
    }
#undef F
    *n = i;
    return f;
}

/* The gRPC frame of HealthCheckRequest{service}: 5 bytes for "". */
static size_t grpc_body(const char *service, uint8_t *out, size_t cap)
{
    size_t sl = strlen(service), m = sl ? 2 + sl : 0;

    if (sl > 127 || 5 + m > cap)
        return 0;
    out[0] = 0;
    out[1] = out[2] = out[3] = 0;
    out[4] = (uint8_t)m;
    if (sl > 0) {
        out[5] = 0x0a; /* field 1, length-delimited */
        out[6] = (uint8_t)sl;
        memcpy(out + 7, service, sl);
    }
    return 5 + m;
}

/* A session with the request queued (sent once connected). */
int dp_proxy__hc_grpc_begin(struct dp_proxy__hc_ep *e)
{
    struct dp_h2_io io = {grpc_send, e};
    uint8_t body[5 + 2 + 127];
    size_t nf, nb = grpc_body(e->tg->req, body, sizeof(body));
    struct dp_h2_field *f;
    int32_t sid;

    if (nb == 0)
        return GW_EINVAL;
    if ((e->h2 = dp_h2_session_new(DP_H2_CLIENT, NULL, &io, &grpc_cbs, e)) ==
        NULL)
        return GW_ENOMEM;
    if ((f = grpc_fields(e, &nf)) == NULL)
        return GW_ENOMEM;
    sid = dp_h2_request(e->h2, f, nf, false, e);
    free(f);
    if (sid < 0)
        return sid;
    if (dp_h2_write(e->h2, sid, body, nb) != 0 ||
        dp_h2_end(e->h2, sid, NULL, 0) != 0)
        return GW_ENOMEM;
    return GW_OK;
}
