/*
 * h2_session.c -- the nghttp2 session glue: settings and flood options,
 * per-stream state (received header blocks copied into the stream, the
 * send queue a data provider drains), serialisation into one output buffer
 * handed to the transport, window updates only on dp_h2_consume(), and the
 * premature-reset counter that ends a rapid-reset flood. Does not parse
 * HTTP itself (nghttp2 validates messages). Runs on the owner's loop.
 */
#include <stdlib.h>
#include <string.h>

#include <nghttp2/nghttp2.h>

#include "dataplane/h2/h2.h"

/* A received header block under construction, then complete. */
struct hblock {
    char *buf;             /* names and values, NUL after each */
    size_t len, cap, size; /* size: RFC 9113 accounting (+32 per field) */
    struct {
        uint32_t noff, nlen, voff, vlen;
    } * fo; /* field offsets */
    size_t n, fcap;
    int32_t pseudo[4][2]; /* method, scheme, authority, path: off, len */
    int status;
    int64_t clen;
    struct dp_h2_field *f; /* built when complete */
    struct dp_h2_head h;
};

struct h2s {
    int32_t id;
    void *user;
    struct h2s *prev, *next; /* every stream of the session */
    struct h2s *room_next;   /* in s->room while drained > 0 */
    struct hblock head, trl;
    bool head_done; /* a final head was received */
    bool responded; /* server: our response head was submitted */
    bool provider;  /* a data provider is attached */
    bool deferred;  /* the provider returned DEFERRED */
    bool eof;       /* dp_h2_end() called */
    bool in_room;
    uint8_t *ob; /* send queue: [ob_off, ob_len) of ob_cap */
    size_t ob_off, ob_len, ob_cap;
    size_t drained;
    nghttp2_nv *trl_nv; /* trailers to submit after the body */
    size_t trl_n;
    char *trl_buf;
};

struct dp_h2_session {
    nghttp2_session *ng;
    enum dp_h2_role role;
    struct dp_h2_limits lim;
    struct dp_h2_io io;
    struct dp_h2_cbs cbs;
    void *arg;
    uint8_t *out;
    size_t out_len, out_cap;
    bool sending;
    bool dead;
    bool want_flush;
    int in_cb;
    uint32_t open;
    struct h2s *room;
    struct h2s *all;
    struct dp_h2_stats st;
};

/* ==== header blocks ==== */

static void hb_reset(struct hblock *b)
{
    b->len = b->size = b->n = 0;
    memset(b->pseudo, -1, sizeof(b->pseudo));
    b->status = 0;
    b->clen = -1;
}

static void hb_free(struct hblock *b)
{
    free(b->buf);
    free(b->fo);
    free(b->f);
}

static int hb_put(struct hblock *b, const uint8_t *p, size_t n, uint32_t *off)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        char *q;
        while (cap < b->len + n + 1)
            cap *= 2;
        if ((q = realloc(b->buf, cap)) == NULL)
            return -1;
        b->buf = q;
        b->cap = cap;
    }
    memcpy(b->buf + b->len, p, n);
    b->buf[b->len + n] = '\0';
    *off = (uint32_t)b->len;
    b->len += n + 1;
    return 0;
}

static int64_t parse_clen(const uint8_t *v, size_t n)
{
    int64_t x = 0;

    if (n == 0 || n > 18)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9')
            return -1;
        x = x * 10 + (v[i] - '0');
    }
    return x;
}

static int hb_add(struct hblock *b, const uint8_t *name, size_t nl,
                  const uint8_t *value, size_t vl, size_t max)
{
    static const char *const ps[4] = {":method", ":scheme", ":authority",
                                      ":path"};
    uint32_t noff, voff;

    b->size += nl + vl + 32;
    if (b->size > max)
        return -1;
    if (nl > 0 && name[0] == ':') {
        if (nl == 7 && memcmp(name, ":status", 7) == 0) {
            b->status = (int)parse_clen(value, vl);
            return 0;
        }
        for (int i = 0; i < 4; i++) {
            if (strlen(ps[i]) == nl && memcmp(ps[i], name, nl) == 0) {
                if (hb_put(b, value, vl, &voff) != 0)
                    return -1;
                b->pseudo[i][0] = (int32_t)voff;
                b->pseudo[i][1] = (int32_t)vl;
            }
        }
        return 0;
    }
    if (nl == 14 && memcmp(name, "content-length", 14) == 0)
        b->clen = parse_clen(value, vl);
    if (b->n == b->fcap) {
        size_t cap = b->fcap ? b->fcap * 2 : 16;
        void *q = realloc(b->fo, cap * sizeof(*b->fo));
        if (q == NULL)
            return -1;
        b->fo = q;
        b->fcap = cap;
    }
    if (hb_put(b, name, nl, &noff) != 0 || hb_put(b, value, vl, &voff) != 0)
        return -1;
    b->fo[b->n].noff = noff;
    b->fo[b->n].nlen = (uint32_t)nl;
    b->fo[b->n].voff = voff;
    b->fo[b->n].vlen = (uint32_t)vl;
    b->n++;
    return 0;
}

static struct dp_h2_slice hb_pseudo(const struct hblock *b, int i)
{
    if (b->pseudo[i][0] < 0)
        return (struct dp_h2_slice){NULL, 0};
    return (struct dp_h2_slice){b->buf + b->pseudo[i][0],
                                (size_t)b->pseudo[i][1]};
}

/* Builds the views of a complete block. */
static int hb_finish(struct hblock *b, uint8_t kind)
{
    free(b->f);
    b->f = calloc(b->n ? b->n : 1, sizeof(*b->f));
    if (b->f == NULL)
        return -1;
    for (size_t i = 0; i < b->n; i++) {
        b->f[i].name =
            (struct dp_h2_slice){b->buf + b->fo[i].noff, b->fo[i].nlen};
        b->f[i].value =
            (struct dp_h2_slice){b->buf + b->fo[i].voff, b->fo[i].vlen};
    }
    b->h = (struct dp_h2_head){
        .kind = kind,
        .method = hb_pseudo(b, 0),
        .scheme = hb_pseudo(b, 1),
        .authority = hb_pseudo(b, 2),
        .path = hb_pseudo(b, 3),
        .status = b->status,
        .f = b->f,
        .n = b->n,
        .content_length = b->clen,
    };
    return 0;
}

/* ==== streams ==== */

/* The stream <sid>; ours before nghttp2 opened it (a request queued). */
static struct h2s *stream_of(const struct dp_h2_session *s, int32_t sid)
{
    struct h2s *st = nghttp2_session_get_stream_user_data(s->ng, sid);

    for (st = st != NULL ? st : s->all; st != NULL; st = st->next) {
        if (st->id == sid)
            return st;
    }
    return NULL;
}

/* Returns a new stream linked into <s> (id set by the caller). */
static struct h2s *stream_alloc(struct dp_h2_session *s)
{
    struct h2s *st = calloc(1, sizeof(*st));

    if (st == NULL)
        return NULL;
    hb_reset(&st->head);
    hb_reset(&st->trl);
    st->next = s->all;
    if (s->all != NULL)
        s->all->prev = st;
    s->all = st;
    s->open++;
    return st;
}

static void stream_free(struct dp_h2_session *s, struct h2s *st);

static struct h2s *stream_new(struct dp_h2_session *s, int32_t sid)
{
    struct h2s *st = stream_alloc(s);

    if (st == NULL)
        return NULL;
    st->id = sid;
    if (nghttp2_session_set_stream_user_data(s->ng, sid, st) != 0) {
        stream_free(s, st);
        return NULL;
    }
    return st;
}

static void room_unlink(struct dp_h2_session *s, struct h2s *st)
{
    struct h2s **pp = &s->room;

    if (!st->in_room)
        return;
    while (*pp != NULL && *pp != st)
        pp = &(*pp)->room_next;
    if (*pp == st)
        *pp = st->room_next;
    st->in_room = false;
}

static void stream_free(struct dp_h2_session *s, struct h2s *st)
{
    room_unlink(s, st);
    if (st->prev != NULL)
        st->prev->next = st->next;
    else
        s->all = st->next;
    if (st->next != NULL)
        st->next->prev = st->prev;
    hb_free(&st->head);
    hb_free(&st->trl);
    free(st->ob);
    free(st->trl_nv);
    free(st->trl_buf);
    free(st);
    s->open--;
}

/* ==== nghttp2 callbacks ==== */

static int cb_begin_headers(nghttp2_session *ng, const nghttp2_frame *fr,
                            void *ud)
{
    struct dp_h2_session *s = ud;
    struct h2s *st = stream_of(s, fr->hd.stream_id);

    if (fr->hd.type != NGHTTP2_HEADERS)
        return 0;
    if (st == NULL) {
        if (s->role != DP_H2_SERVER)
            return 0;
        if ((st = stream_new(s, fr->hd.stream_id)) == NULL)
            return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
        s->st.streams++;
    }
    hb_reset(st->head_done ? &st->trl : &st->head);
    return 0;
}

static int cb_header(nghttp2_session *ng, const nghttp2_frame *fr,
                     const uint8_t *name, size_t nl, const uint8_t *value,
                     size_t vl, uint8_t flags, void *ud)
{
    struct dp_h2_session *s = ud;
    struct h2s *st = stream_of(s, fr->hd.stream_id);

    if (st == NULL || fr->hd.type != NGHTTP2_HEADERS)
        return 0;
    if (hb_add(st->head_done ? &st->trl : &st->head, name, nl, value, vl,
               s->lim.max_header_list) != 0)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    return 0;
}

/* A complete HEADERS frame of <st>: raise the block. */
static int headers_done(struct dp_h2_session *s, struct h2s *st,
                        const nghttp2_frame *fr)
{
    struct hblock *b = st->head_done ? &st->trl : &st->head;
    uint8_t kind = st->head_done ? DP_H2_TRAILERS : DP_H2_HEAD;
    int r = 0;

    if (!st->head_done && s->role == DP_H2_CLIENT && b->status >= 100 &&
        b->status < 200)
        kind = DP_H2_INFO;
    else if (!st->head_done)
        st->head_done = true;
    if (hb_finish(b, kind) != 0)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    b->h.end_stream = (fr->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
    if (s->cbs.on_headers != NULL &&
        (st->user != NULL || (s->role == DP_H2_SERVER && kind == DP_H2_HEAD)))
        r = s->cbs.on_headers(s->arg, st->id, st->user, &b->h);
    if (r < 0) {
        st->user = NULL;
        nghttp2_submit_rst_stream(s->ng, NGHTTP2_FLAG_NONE, st->id,
                                  NGHTTP2_REFUSED_STREAM);
    }
    return 0;
}

static int cb_frame_recv(nghttp2_session *ng, const nghttp2_frame *fr, void *ud)
{
    struct dp_h2_session *s = ud;
    struct h2s *st = stream_of(s, fr->hd.stream_id);

    if (fr->hd.type == NGHTTP2_RST_STREAM && st != NULL &&
        s->role == DP_H2_SERVER && !st->responded) {
        s->st.premature_resets++;
        if (s->st.premature_resets > s->lim.premature_max &&
            s->st.premature_resets * 2 > s->st.streams) {
            s->st.flooded = true;
            nghttp2_session_terminate_session(ng, NGHTTP2_ENHANCE_YOUR_CALM);
        }
        return 0;
    }
    if (st == NULL)
        return 0;
    if (fr->hd.type == NGHTTP2_HEADERS &&
        (fr->hd.flags & NGHTTP2_FLAG_END_HEADERS))
        headers_done(s, st, fr);
    if ((fr->hd.type == NGHTTP2_HEADERS || fr->hd.type == NGHTTP2_DATA) &&
        (fr->hd.flags & NGHTTP2_FLAG_END_STREAM) && st->user != NULL &&
        s->cbs.on_end != NULL)
        s->cbs.on_end(s->arg, st->user);
    return 0;
}

static int cb_data(nghttp2_session *ng, uint8_t flags, int32_t sid,
                   const uint8_t *p, size_t n, void *ud)
{
    struct dp_h2_session *s = ud;
    struct h2s *st = stream_of(s, sid);

    if (st == NULL || st->user == NULL) {
        nghttp2_session_consume(ng, sid, n); /* nobody takes it */
        return 0;
    }
    s->cbs.on_data(s->arg, st->user, p, n);
    return 0;
}

static int cb_close(nghttp2_session *ng, int32_t sid, uint32_t code, void *ud)
{
    struct dp_h2_session *s = ud;
    struct h2s *st = stream_of(s, sid);

    if (st == NULL)
        return 0;
    nghttp2_session_set_stream_user_data(ng, sid, NULL);
    if (st->user != NULL && s->cbs.on_close != NULL)
        s->cbs.on_close(s->arg, st->user, code);
    stream_free(s, st);
    return 0;
}

static ssize_t cb_read(nghttp2_session *ng, int32_t sid, uint8_t *buf,
                       size_t len, uint32_t *flags, nghttp2_data_source *src,
                       void *ud)
{
    struct dp_h2_session *s = ud;
    struct h2s *st = src->ptr;
    size_t n = st->ob_len - st->ob_off;

    if (n > len)
        n = len;
    if (n > 0)
        memcpy(buf, st->ob + st->ob_off, n);
    st->ob_off += n;
    if (n > 0) {
        st->drained += n;
        if (!st->in_room) {
            st->in_room = true;
            st->room_next = s->room;
            s->room = st;
        }
    }
    if (st->ob_off < st->ob_len)
        return (ssize_t)n;
    st->ob_off = st->ob_len = 0;
    if (st->eof) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
        if (st->trl_n > 0) {
            *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
            nghttp2_submit_trailer(ng, sid, st->trl_nv, st->trl_n);
        }
        st->provider = false;
        return (ssize_t)n;
    }
    if (n == 0) {
        st->deferred = true;
        return NGHTTP2_ERR_DEFERRED;
    }
    return (ssize_t)n;
}

static int cb_frame_send(nghttp2_session *ng, const nghttp2_frame *fr, void *ud)
{
    return 0;
}

/* ==== sessions ==== */

static void limits_default(struct dp_h2_limits *l)
{
#define DEF(f, v)                                                              \
    if (l->f == 0)                                                             \
    l->f = v
    DEF(max_streams, DP_H2_MAX_STREAMS_DEF);
    DEF(window, DP_H2_WINDOW_DEF);
    DEF(conn_window, DP_H2_CONN_WINDOW_DEF);
    DEF(max_header_list, DP_H2_HEADER_LIST_DEF);
    DEF(premature_max, DP_H2_PREMATURE_MAX_DEF);
#undef DEF
}

static nghttp2_option *options(enum dp_h2_role role)
{
    nghttp2_option *o;

    if (nghttp2_option_new(&o) != 0)
        return NULL;
    nghttp2_option_set_no_auto_window_update(o, 1);
    nghttp2_option_set_max_outbound_ack(o, 1000); /* SETTINGS/PING acks */
    nghttp2_option_set_max_settings(o, 32);       /* entries per SETTINGS */
    nghttp2_option_set_max_continuations(o, 8);
    nghttp2_option_set_no_closed_streams(o, 1);
    if (role == DP_H2_SERVER)
        nghttp2_option_set_stream_reset_rate_limit(o, 1000, 33);
    else
        nghttp2_option_set_peer_max_concurrent_streams(o, 100);
    return o;
}

static int session_init(struct dp_h2_session *s)
{
    nghttp2_session_callbacks *cb;
    nghttp2_option *o = options(s->role);
    nghttp2_settings_entry iv[4] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, s->lim.max_streams},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, s->lim.window},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, s->lim.max_header_list},
        {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
    };
    int r;

    if (o == NULL || nghttp2_session_callbacks_new(&cb) != 0) {
        nghttp2_option_del(o);
        return GW_ENOMEM;
    }
    nghttp2_session_callbacks_set_on_begin_headers_callback(cb,
                                                            cb_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cb, cb_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, cb_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, cb_data);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, cb_close);
    nghttp2_session_callbacks_set_on_frame_send_callback(cb, cb_frame_send);
    if (s->role == DP_H2_SERVER)
        r = nghttp2_session_server_new2(&s->ng, cb, s, o);
    else
        r = nghttp2_session_client_new2(&s->ng, cb, s, o);
    nghttp2_session_callbacks_del(cb);
    nghttp2_option_del(o);
    if (r != 0)
        return GW_ENOMEM;
    r = nghttp2_submit_settings(s->ng, NGHTTP2_FLAG_NONE, iv,
                                s->role == DP_H2_SERVER ? 3 : 4);
    if (r == 0)
        r = nghttp2_session_set_local_window_size(s->ng, NGHTTP2_FLAG_NONE, 0,
                                                  (int32_t)s->lim.conn_window);
    return r == 0 ? 0 : GW_ENOMEM;
}

struct dp_h2_session *dp_h2_session_new(enum dp_h2_role role,
                                        const struct dp_h2_limits *lim,
                                        const struct dp_h2_io *io,
                                        const struct dp_h2_cbs *cbs, void *arg)
{
    struct dp_h2_session *s = calloc(1, sizeof(*s));

    if (s == NULL)
        return NULL;
    s->role = role;
    if (lim != NULL)
        s->lim = *lim;
    limits_default(&s->lim);
    s->io = *io;
    s->cbs = *cbs;
    s->arg = arg;
    if (session_init(s) != 0) {
        dp_h2_session_free(s);
        return NULL;
    }
    return s;
}

void dp_h2_session_free(struct dp_h2_session *s)
{
    if (s == NULL)
        return;
    if (s->ng != NULL)
        nghttp2_session_del(s->ng); /* raises no stream callbacks */
    while (s->all != NULL)
        stream_free(s, s->all);
    free(s->out);
    free(s);
}

/* ==== I/O ==== */

/* The output buffer is allocated on demand and freed once the session is
 * idle (no stream, nothing left to send): 10,000 idle HTTP/2 connections
 * would otherwise hold what their largest burst touched, up to 96 KiB. */
static int out_append(struct dp_h2_session *s, const uint8_t *p, size_t n)
{
    if (s->out_len + n > s->out_cap) {
        size_t cap = s->out_cap ? s->out_cap : DP_H2_OUT_FIRST;
        uint8_t *q;
        while (cap < s->out_len + n)
            cap *= 2;
        if ((q = realloc(s->out, cap)) == NULL)
            return GW_ENOMEM;
        s->out = q;
        s->out_cap = cap;
    }
    memcpy(s->out + s->out_len, p, n);
    s->out_len += n;
    return 0;
}

/* Frees the output buffer of an idle session (nothing queued, no stream). */
static void out_release(struct dp_h2_session *s)
{
    if (s->out != NULL && s->out_len == 0 && !s->sending && s->all == NULL) {
        free(s->out);
        s->out = NULL;
        s->out_cap = 0;
    }
}

/* Serialises frames into s->out up to the target. */
static int fill(struct dp_h2_session *s)
{
    while (s->out_len < DP_H2_OUT_TARGET) {
        const uint8_t *d;
        ssize_t n;

        s->in_cb++;
        n = nghttp2_session_mem_send(s->ng, &d);
        s->in_cb--;
        if (n < 0)
            return (int)n;
        if (n == 0)
            break;
        if (out_append(s, d, (size_t)n) != 0)
            return GW_ENOMEM;
    }
    return 0;
}

/* Tells the streams whose queue drained. */
static void notify_room(struct dp_h2_session *s)
{
    s->in_cb++;
    while (s->room != NULL) {
        struct h2s *st = s->room;
        size_t n = st->drained;
        s->room = st->room_next;
        st->in_room = false;
        st->drained = 0;
        if (st->user != NULL && s->cbs.on_room != NULL)
            s->cbs.on_room(s->arg, st->user, n);
    }
    s->in_cb--;
}

int dp_h2_flush(struct dp_h2_session *s)
{
    int r;

    if (s->in_cb > 0) {
        s->want_flush = true;
        return 0;
    }
    for (;;) {
        s->want_flush = false;
        if (s->sending)
            return 0;
        if (!s->dead && (r = fill(s)) != 0) {
            s->dead = true;
            if (s->out_len == 0)
                return r;
        }
        notify_room(s);
        if (s->out_len == 0) {
            if (s->want_flush && !s->dead)
                continue;
            out_release(s);
            return 0;
        }
        s->sending = true;
        r = s->io.send(s->io.arg, s->out, s->out_len);
        if (r < 0) {
            s->dead = true;
            return r;
        }
        if (r == 0)
            return 0;
        s->sending = false;
        s->out_len = 0;
    }
}

void dp_h2_sent(struct dp_h2_session *s)
{
    s->sending = false;
    s->out_len = 0;
    out_release(s);
}

bool dp_h2_sending(const struct dp_h2_session *s)
{
    return s->sending;
}

int dp_h2_feed(struct dp_h2_session *s, const uint8_t *p, size_t n)
{
    ssize_t r;

    if (s->dead)
        return GW_EIO;
    s->in_cb++;
    r = nghttp2_session_mem_recv(s->ng, p, n);
    s->in_cb--;
    if (r < 0) {
        if (r == NGHTTP2_ERR_FLOODED)
            s->st.flooded = true;
        dp_h2_flush(s); /* a GOAWAY nghttp2 queued, if any */
        s->dead = true;
        return GW_EPROTO;
    }
    return dp_h2_flush(s);
}

bool dp_h2_done(const struct dp_h2_session *s)
{
    if (s->sending)
        return false;
    if (s->dead)
        return true;
    return !nghttp2_session_want_read(s->ng) &&
           !nghttp2_session_want_write(s->ng);
}

uint32_t dp_h2_open_streams(const struct dp_h2_session *s)
{
    return s->open;
}

bool dp_h2_can_open(const struct dp_h2_session *s)
{
    uint32_t max = nghttp2_session_get_remote_settings(
        s->ng, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);

    return !s->dead && nghttp2_session_check_request_allowed(s->ng) &&
           s->open < max;
}

int dp_h2_goaway(struct dp_h2_session *s, bool graceful)
{
    int r;

    if (graceful)
        r = nghttp2_submit_goaway(
            s->ng, NGHTTP2_FLAG_NONE,
            nghttp2_session_get_last_proc_stream_id(s->ng), NGHTTP2_NO_ERROR,
            NULL, 0);
    else
        r = nghttp2_session_terminate_session(s->ng, NGHTTP2_ENHANCE_YOUR_CALM);
    return r == 0 ? 0 : GW_EIO;
}

void dp_h2_stats(const struct dp_h2_session *s, struct dp_h2_stats *out)
{
    *out = s->st;
}

/* ==== streams ==== */

void dp_h2_set_user(struct dp_h2_session *s, int32_t sid, void *user)
{
    struct h2s *st = stream_of(s, sid);

    if (st != NULL)
        st->user = user;
}

#define NV_STACK 32 /* fields converted on the stack */

/* nghttp2_nv views of <f> (copied by nghttp2 on submit), in <stack>
 * (NV_STACK entries) when they fit, else returns new; free with nv_free(). */
static nghttp2_nv *nv_of(const struct dp_h2_field *f, size_t n,
                         nghttp2_nv *stack)
{
    nghttp2_nv *nv = n <= NV_STACK ? stack : calloc(n, sizeof(*nv));

    if (nv == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        nv[i].name = (uint8_t *)f[i].name.p;
        nv[i].namelen = f[i].name.len;
        nv[i].value = (uint8_t *)f[i].value.p;
        nv[i].valuelen = f[i].value.len;
        nv[i].flags = NGHTTP2_NV_FLAG_NONE;
    }
    return nv;
}

static void nv_free(nghttp2_nv *nv, const nghttp2_nv *stack)
{
    if (nv != stack)
        free(nv);
}

int32_t dp_h2_request(struct dp_h2_session *s, const struct dp_h2_field *f,
                      size_t n, bool end, void *user)
{
    nghttp2_nv stack[NV_STACK];
    nghttp2_nv *nv = nv_of(f, n, stack);
    nghttp2_data_provider dp;
    struct h2s *st = stream_alloc(s);
    int32_t sid;

    if (nv == NULL || st == NULL) {
        nv_free(nv, stack);
        if (st != NULL)
            stream_free(s, st);
        return GW_ENOMEM;
    }
    st->user = user;
    st->provider = !end;
    dp.source.ptr = st;
    dp.read_callback = cb_read;
    sid = nghttp2_submit_request(s->ng, NULL, nv, n, end ? NULL : &dp, st);
    nv_free(nv, stack);
    if (sid < 0) {
        stream_free(s, st);
        return GW_EIO;
    }
    st->id = sid;
    return sid;
}

int dp_h2_respond(struct dp_h2_session *s, int32_t sid,
                  const struct dp_h2_field *f, size_t n, bool end)
{
    struct h2s *st = stream_of(s, sid);
    nghttp2_nv stack[NV_STACK], *nv;
    nghttp2_data_provider dp;
    int r;

    if (st == NULL || (nv = nv_of(f, n, stack)) == NULL)
        return GW_EINVAL;
    dp.source.ptr = st;
    dp.read_callback = cb_read;
    st->responded = true;
    st->provider = !end;
    r = nghttp2_submit_response(s->ng, sid, nv, n, end ? NULL : &dp);
    nv_free(nv, stack);
    return r == 0 ? 0 : GW_EIO;
}

static void resume(struct dp_h2_session *s, struct h2s *st)
{
    if (st->deferred && st->provider) {
        st->deferred = false;
        nghttp2_session_resume_data(s->ng, st->id);
    }
}

int dp_h2_write(struct dp_h2_session *s, int32_t sid, const void *p, size_t n)
{
    struct h2s *st = stream_of(s, sid);

    if (st == NULL || !st->provider || st->eof)
        return GW_EINVAL;
    if (n == 0)
        return 0;
    if (st->ob_off > 0 && st->ob_off == st->ob_len)
        st->ob_off = st->ob_len = 0;
    if (st->ob_len + n > st->ob_cap) {
        /* first 1 KiB: most bodies fit, and malloc serves it fastest */
        size_t live = st->ob_len - st->ob_off,
               cap = st->ob_cap ? st->ob_cap : 1024;
        uint8_t *q;
        if (live > 0)
            memmove(st->ob, st->ob + st->ob_off, live);
        st->ob_off = 0;
        st->ob_len = live;
        while (cap < live + n)
            cap *= 2;
        if (cap != st->ob_cap) {
            if ((q = realloc(st->ob, cap)) == NULL)
                return GW_ENOMEM;
            st->ob = q;
            st->ob_cap = cap;
        }
    }
    memcpy(st->ob + st->ob_len, p, n);
    st->ob_len += n;
    resume(s, st);
    return 0;
}

/* Copies the trailers <f> into <st>. */
static int trl_copy(struct h2s *st, const struct dp_h2_field *f, size_t n)
{
    size_t total = 0, off = 0;

    for (size_t i = 0; i < n; i++)
        total += f[i].name.len + f[i].value.len;
    st->trl_buf = malloc(total ? total : 1);
    st->trl_nv = calloc(n, sizeof(*st->trl_nv));
    if (st->trl_buf == NULL || st->trl_nv == NULL)
        return GW_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        nghttp2_nv *v = &st->trl_nv[i];
        memcpy(st->trl_buf + off, f[i].name.p, f[i].name.len);
        v->name = (uint8_t *)st->trl_buf + off;
        v->namelen = f[i].name.len;
        off += f[i].name.len;
        memcpy(st->trl_buf + off, f[i].value.p, f[i].value.len);
        v->value = (uint8_t *)st->trl_buf + off;
        v->valuelen = f[i].value.len;
        off += f[i].value.len;
    }
    st->trl_n = n;
    return 0;
}

int dp_h2_end(struct dp_h2_session *s, int32_t sid, const struct dp_h2_field *f,
              size_t n)
{
    struct h2s *st = stream_of(s, sid);

    if (st == NULL || st->eof)
        return GW_EINVAL;
    if (!st->provider) /* head went with END_STREAM */
        return 0;
    if (n > 0 && trl_copy(st, f, n) != 0)
        return GW_ENOMEM;
    st->eof = true;
    st->deferred = true; /* the provider may have been waiting */
    resume(s, st);
    return 0;
}

size_t dp_h2_queued(const struct dp_h2_session *s, int32_t sid)
{
    struct h2s *st = stream_of(s, sid);

    return st != NULL ? st->ob_len - st->ob_off : 0;
}

void dp_h2_consume(struct dp_h2_session *s, int32_t sid, size_t n)
{
    if (n > 0 && !s->dead)
        nghttp2_session_consume(s->ng, sid, n);
}

int dp_h2_reset(struct dp_h2_session *s, int32_t sid, uint32_t code)
{
    struct h2s *st = stream_of(s, sid);

    if (st != NULL)
        st->user = NULL;
    if (s->dead)
        return 0;
    return nghttp2_submit_rst_stream(s->ng, NGHTTP2_FLAG_NONE, sid, code) == 0
               ? 0
               : GW_EIO;
}
