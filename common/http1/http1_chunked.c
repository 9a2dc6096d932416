/*
 * http1_chunked.c -- chunked transfer coding (RFC 9112 7.1): the decoder, a
 * byte-resumable state machine that returns chunk data as slices of the
 * caller's buffer (no copy), and the framing writer for outgoing bodies.
 * Extensions and trailers are checked, bounded and dropped. Runs on the
 * worker loop that owns the body.
 */
#include <string.h>

#include "common/http1/http1-int.h"
#include "common/http1/http1.h"

void cm_h1_chunked_init(struct cm_h1_chunked *st, uint32_t ext_max,
                        uint32_t trl_max)
{
    memset(st, 0, sizeof(*st));
    st->ext_max = ext_max ? ext_max : CM_H1_CHUNK_EXT_DEF;
    st->trl_max = trl_max ? trl_max : CM_H1_TRAILER_DEF;
}

static int bad(struct cm_h1_chunked *st, const char *why)
{
    st->state = CM_H1_C_ERROR;
    st->err = why;
    return -1;
}

static int hexval(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* The size line after its digits: BWS ";" ext, or CR. */
static int size_end(struct cm_h1_chunked *st, uint8_t c)
{
    if (st->ndigits == 0)
        return bad(st, "chunk size is not hex");
    if (c == '\r')
        st->state = CM_H1_C_SIZE_LF;
    else if (c == ';')
        st->state = CM_H1_C_EXT;
    else if (c == ' ' || c == '\t')
        st->state = CM_H1_C_SIZE_WS;
    else
        return bad(st, "chunk size is not hex");
    return 0;
}

static int size_byte(struct cm_h1_chunked *st, uint8_t c)
{
    int v = hexval(c);

    if (v < 0)
        return size_end(st, c);
    if (st->ndigits == 16)
        return bad(st, "chunk size has too many digits");
    if (st->size > (CM_H1_CHUNK_SIZE_MAX >> 4))
        return bad(st, "chunk size too large");
    st->size = st->size * 16 + (uint64_t)v;
    if (st->size > CM_H1_CHUNK_SIZE_MAX)
        return bad(st, "chunk size too large");
    st->ndigits++;
    return 0;
}

static int ext_byte(struct cm_h1_chunked *st, uint8_t c)
{
    if (c == '\r') {
        st->state = CM_H1_C_SIZE_LF;
        return 0;
    }
    if (!CM_H1__IS(c, CM_H1__FIELD))
        return bad(st, "control byte in chunk extension");
    if (++st->ext_len > st->ext_max)
        return bad(st, "chunk extension too long");
    return 0;
}

static int size_lf(struct cm_h1_chunked *st, uint8_t c)
{
    if (c != '\n')
        return bad(st, "chunk size line not ended by CRLF");
    st->state = st->size == 0 ? CM_H1_C_TRL_START : CM_H1_C_DATA;
    st->ndigits = 0;
    st->ext_len = 0;
    return 0;
}

/* One byte of the trailer section (after the last chunk's line). */
static int trailer_byte(struct cm_h1_chunked *st, uint8_t c)
{
    if (++st->trl_len > st->trl_max)
        return bad(st, "trailer section too large");
    switch (st->state) {
    case CM_H1_C_TRL_START:
        if (c == '\r') {
            st->state = CM_H1_C_END_LF;
            return 0;
        }
        if (!CM_H1__IS(c, CM_H1__TCHAR))
            return bad(st, "bad trailer field name");
        st->has_trailers = 1;
        st->state = CM_H1_C_TRL_NAME;
        return 0;
    case CM_H1_C_TRL_NAME:
        if (c == ':')
            st->state = CM_H1_C_TRL_VALUE;
        else if (!CM_H1__IS(c, CM_H1__TCHAR))
            return bad(st, "bad trailer field name");
        return 0;
    case CM_H1_C_TRL_VALUE:
        if (c == '\r')
            st->state = CM_H1_C_TRL_LF;
        else if (!CM_H1__IS(c, CM_H1__FIELD))
            return bad(st, "control byte in trailer");
        return 0;
    case CM_H1_C_TRL_LF:
        if (c != '\n')
            return bad(st, "trailer line not ended by CRLF");
        st->state = CM_H1_C_TRL_START;
        return 0;
    case CM_H1_C_END_LF:
        if (c != '\n')
            return bad(st, "trailer section not ended by CRLF");
        st->state = CM_H1_C_DONE;
        return 0;
    }
    return bad(st, "internal state");
}

/* One framing byte (any state but DATA, DONE, ERROR). */
static int frame_byte(struct cm_h1_chunked *st, uint8_t c)
{
    switch (st->state) {
    case CM_H1_C_SIZE:
        return size_byte(st, c);
    case CM_H1_C_SIZE_WS:
        if (++st->ext_len > st->ext_max)
            return bad(st, "chunk extension too long");
        if (c == ';')
            st->state = CM_H1_C_EXT;
        else if (c != ' ' && c != '\t')
            return bad(st, "bad chunk size line");
        return 0;
    case CM_H1_C_EXT:
        return ext_byte(st, c);
    case CM_H1_C_SIZE_LF:
        return size_lf(st, c);
    case CM_H1_C_DATA_CR:
        if (c != '\r')
            return bad(st, "chunk data not followed by CRLF");
        st->state = CM_H1_C_DATA_LF;
        return 0;
    case CM_H1_C_DATA_LF:
        if (c != '\n')
            return bad(st, "chunk data not followed by CRLF");
        st->state = CM_H1_C_SIZE;
        return 0;
    }
    return trailer_byte(st, c);
}

int cm_h1_chunked_parse(struct cm_h1_chunked *st, const char *buf, size_t len,
                        size_t *consumed, struct cm_h1_slice *data)
{
    size_t i = 0;

    data->ptr = NULL;
    data->len = 0;
    *consumed = 0;
    if (st->state == CM_H1_C_ERROR)
        return -1;
    while (i < len && st->state != CM_H1_C_DONE) {
        if (st->state == CM_H1_C_DATA) {
            size_t n = len - i < st->size ? len - i : (size_t)st->size;
            data->ptr = buf + i;
            data->len = n;
            st->size -= n;
            st->total += n;
            if (st->size == 0)
                st->state = CM_H1_C_DATA_CR;
            *consumed = i + n;
            return CM_H1_CHUNK_DATA;
        }
        if (frame_byte(st, (uint8_t)buf[i]) != 0) {
            *consumed = i;
            return -1;
        }
        i++;
    }
    *consumed = i;
    return st->state == CM_H1_C_DONE ? CM_H1_CHUNK_DONE : CM_H1_CHUNK_NEED;
}

/* ==== writing ==== */

size_t cm_h1_chunk_size_line(char out[CM_H1_CHUNK_LINE_MAX], uint64_t n)
{
    static const char hex[] = "0123456789abcdef";
    char tmp[16];
    size_t k = 0, len = 0;

    do {
        tmp[k++] = hex[n & 15];
        n >>= 4;
    } while (n != 0);
    while (k > 0)
        out[len++] = tmp[--k];
    out[len++] = '\r';
    out[len++] = '\n';
    return len;
}

int cm_h1_chunk_iov(char line[CM_H1_CHUNK_LINE_MAX], const void *data, size_t n,
                    struct iovec iov[3])
{
    if (n == 0)
        return 0;
    iov[0].iov_base = line;
    iov[0].iov_len = cm_h1_chunk_size_line(line, n);
    iov[1].iov_base = (void *)data;
    iov[1].iov_len = n;
    iov[2].iov_base = (void *)CM_H1_CRLF;
    iov[2].iov_len = 2;
    return 3;
}
