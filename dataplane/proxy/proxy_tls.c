/*
 * proxy_tls.c -- the TLS transport under client and upstream connections:
 * ciphertext read into a side buffer, fed to the connection's dp_tls_conn
 * (dataplane/tls), decrypted into the plaintext buffer the HTTP parser
 * reads (c->in / u->in); writes encrypted into a chunk written with
 * uv_try_write, the rest with uv_write (the chunk owns its uv_write_t and
 * bytes, and calls the caller's write callback when done). ALPN "h2"
 * starts HTTP/2 (proxy_h2.c) once the handshake is done. Plaintext
 * connections never come here. Runs on the owning worker's loop.
 */
#include <stdlib.h>
#include <string.h>

#include "common/log/log.h"
#include "dataplane/proxy/proxy_int.h"
#include "dataplane/table/table.h"
#include "dataplane/tls/tls.h"

#define TLS_REC 16384 /* plaintext per TLS record, at most */

/* Ciphertext on its way to the socket. */
struct chunk {
    uv_write_t req;
    uv_write_t *user; /* the caller's request, or NULL (handshake bytes) */
    uv_write_cb cb;
    size_t len;
    char data[];
};

static void chunk_done(uv_write_t *req, int status)
{
    struct chunk *ch = req->data;

    if (ch->cb != NULL)
        ch->cb(ch->user, status);
    free(ch);
}

/* Writes what <t> has for the socket: 1 when all went out now (straight
 * from <t>'s buffer: the common case costs no copy), 0 when queued (the
 * rest copied into a chunk; <cb>(<user>) follows if given), or a negative
 * error. */
static int flush(struct dp_tls_conn *t, uv_stream_t *s, uv_write_t *user,
                 uv_write_cb cb)
{
    const char *p;
    size_t n = dp_tls_conn_out_peek(t, &p), off = 0;
    struct chunk *ch;
    uv_buf_t b;
    int r;

    if (n == 0)
        return 1;
    b = uv_buf_init((char *)p, (unsigned)n);
    r = uv_try_write(s, &b, 1);
    if (r >= 0 && (size_t)r == n) {
        dp_tls_conn_out_clear(t);
        return 1;
    }
    if (r < 0 && r != UV_EAGAIN)
        return r;
    if (r > 0)
        off = (size_t)r;
    if ((ch = malloc(sizeof(*ch) + n - off)) == NULL)
        return GW_ENOMEM;
    memcpy(ch->data, p + off, n - off);
    ch->len = n - off;
    dp_tls_conn_out_clear(t);
    b = uv_buf_init(ch->data, (unsigned)ch->len);
    ch->req.data = ch;
    ch->user = user;
    ch->cb = cb;
    if ((r = uv_write(&ch->req, s, &b, 1, chunk_done)) != 0) {
        free(ch);
        return r;
    }
    return 0;
}

/* Encrypts <bufs> as few records as it can: small pieces (a response
 * head, then its first body bytes) are gathered into one record of up to
 * TLS_REC bytes, since every record costs a seal here and an open at the
 * peer; large pieces go as they are. */
static int encrypt(struct dp_tls_conn *t, const uv_buf_t *bufs, int n)
{
    char rec[TLS_REC];
    size_t used = 0;

    for (int i = 0; i < n; i++) {
        const char *p = bufs[i].base;
        size_t len = bufs[i].len;
        if (used == 0 && len >= TLS_REC) {
            if (dp_tls_conn_write(t, p, len) != 0)
                return GW_EPROTO;
            continue;
        }
        while (len > 0) {
            size_t k = len < TLS_REC - used ? len : TLS_REC - used;
            memcpy(rec + used, p, k);
            used += k;
            p += k;
            len -= k;
            if (used == TLS_REC) {
                if (dp_tls_conn_write(t, rec, used) != 0)
                    return GW_EPROTO;
                used = 0;
            }
        }
    }
    return used > 0 ? dp_tls_conn_write(t, rec, used) : 0;
}

int dp_proxy__tls_send(struct dp_tls_conn *t, uv_stream_t *s, uv_write_t *wr,
                       uv_buf_t *bufs, int n, uv_write_cb cb)
{
    if (encrypt(t, bufs, n) != 0)
        return GW_EPROTO;
    return flush(t, s, wr, cb);
}

int dp_proxy__tls_flush(struct dp_tls_conn *t, uv_stream_t *s)
{
    int r = flush(t, s, NULL, NULL);

    return r < 0 ? r : 0;
}

/* Decrypts into <in> (growing it up to <max>, keeping [0, keep)): > 0 when
 * bytes arrived, 0 when none, DP_TLS_CLOSED, or a negative error. */
static int decrypt(struct dp_tls_conn *t, struct dp_proxy__buf *in,
                   uint32_t keep, uint32_t max)
{
    int got = 0;

    for (;;) {
        if (in->start == in->end && in->start > keep) {
            in->start = in->end = keep;
        } else if (in->end == in->cap && in->start > keep) {
            memmove(in->p + keep, in->p + in->start, in->end - in->start);
            in->end -= in->start - keep;
            in->start = keep;
        }
        if (in->end == in->cap && in->cap < max) {
            char *p = realloc(in->p, in->cap * 2);
            if (p != NULL) {
                in->p = p;
                in->cap *= 2;
            }
        }
        if (in->end == in->cap)
            return got;
        int r = dp_tls_conn_read(t, in->p + in->end, in->cap - in->end);
        if (r == 0)
            return got;
        if (r < 0 || r == DP_TLS_CLOSED)
            return got > 0 && r == DP_TLS_CLOSED ? got : r;
        in->end += (uint32_t)r;
        got += r;
    }
}

/* ==== client side ==== */

int dp_proxy__conn_tls(struct dp_proxy__conn *c)
{
    const struct dp_table *t = dp_proxy__table(c->w);
    const struct dp_listener *l =
        t != NULL ? dp_table_listener_by_name(t, c->lsn) : NULL;

    if (l == NULL || l->tls == NULL)
        return GW_OK;
    return dp_proxy__tls_accept(c, l->tls);
}

int dp_proxy__tls_accept(struct dp_proxy__conn *c, struct dp_tls_server *srv)
{
    if ((c->tls = dp_tls_conn_server(srv)) == NULL)
        return GW_ENOMEM;
    return GW_OK;
}

int dp_proxy__tls_pull(struct dp_proxy__conn *c)
{
    int r;

    if (!dp_tls_conn_established(c->tls)) {
        char err[CM_ERR_LEN];
        r = dp_tls_conn_handshake(c->tls, err, sizeof(err));
        (void)dp_proxy__tls_flush(c->tls, (uv_stream_t *)&c->tcp);
        if (r < 0) {
            DP_PROXY__INC(c->w, tls_handshake_errors, 1);
            cm_log_debug("proxy", "tls_handshake_failed", "peer=%s err=%s",
                         c->peer, err);
            return r;
        }
        if (r == 0)
            return 0;
        DP_PROXY__INC(c->w, tls_handshakes, 1);
        if (dp_tls_conn_reused(c->tls))
            DP_PROXY__INC(c->w, tls_resumed, 1);
        uv_timer_stop(&c->timer); /* the handshake timeout */
        c->tkind = DP_PROXY__T_NONE;
        /* ALPN "h2": HTTP/2 from the first byte (no preface sniffing) */
        if (c->state == DP_PROXY__S_HEAD &&
            strcmp(dp_tls_conn_alpn(c->tls), "h2") == 0 &&
            dp_proxy__h2_start(c) != 0)
            return GW_ENOMEM;
    }
    r = decrypt(c->tls, &c->in, c->head_len, DP_PROXY__CBUF_MAX);
    /* TLS 1.3 tickets and alerts go out as they are made */
    (void)dp_proxy__tls_flush(c->tls, (uv_stream_t *)&c->tcp);
    if (r == DP_TLS_CLOSED) {
        c->eof = true;
        return 1;
    }
    if (r > 0 && dp_tls_conn_peer_closed(c->tls))
        c->eof = true; /* the last bytes came with the close_notify */
    return r;
}

int dp_proxy__tls_input(struct dp_proxy__conn *c, const char *p, size_t n)
{
    if (dp_tls_conn_feed(c->tls, p, n) != 0)
        return GW_ENOMEM;
    return dp_proxy__tls_pull(c);
}

void dp_proxy__tls_close_notify(struct dp_proxy__conn *c)
{
    dp_tls_conn_shutdown(c->tls);
    (void)dp_proxy__tls_flush(c->tls, (uv_stream_t *)&c->tcp);
}

/* ==== upstream side ==== */

int dp_proxy__tls_up_start(struct dp_proxy__up *u, struct dp_tls_client *cl)
{
    if ((u->tls_in = malloc(DP_PROXY__TLS_IN)) == NULL ||
        (u->tls = dp_tls_conn_client(cl)) == NULL)
        return GW_ENOMEM;
    return GW_OK;
}

int dp_proxy__tls_up_handshake(struct dp_proxy__up *u)
{
    char err[CM_ERR_LEN], addr[CM_NET_ADDRSTRLEN];
    int r = dp_tls_conn_handshake(u->tls, err, sizeof(err));

    (void)dp_proxy__tls_flush(u->tls, (uv_stream_t *)&u->tcp);
    if (r < 0) {
        cm_net_format_addr((const struct sockaddr *)&u->addr, addr,
                           sizeof(addr));
        cm_log_warn("proxy", "upstream_tls_failed", "upstream=%s err=%s", addr,
                    err);
    }
    return r;
}

int dp_proxy__tls_up_pull(struct dp_proxy__up *u)
{
    int r = decrypt(u->tls, &u->in, 0, u->in.cap);

    (void)dp_proxy__tls_flush(u->tls, (uv_stream_t *)&u->tcp);
    if (r == DP_TLS_CLOSED) {
        u->eof = true;
        return 1;
    }
    /* the last bytes came with the close_notify: no read event follows,
     * the peer waits for ours (a body ending with the connection) */
    if (r > 0 && dp_tls_conn_peer_closed(u->tls))
        u->eof = true;
    return r;
}
