/*
 * http1-t.h -- types of the HTTP/1.1 codec (parsing side): request and
 * response head parsers, the chunked body decoder, the head writer options.
 * Prototypes are in http1.h. Nothing here allocates: headers are (offset,
 * length) spans into the caller's buffer, arrays are the caller's. One
 * parser object is driven by one worker loop at a time.
 */
#ifndef CM_HTTP1_T_H
#define CM_HTTP1_T_H

#include <stddef.h>
#include <stdint.h>

/* Default limits (cm_h1_limits with zero fields gets these). */
#define CM_H1_MAX_LINE_DEF    8192  /* request/status line, CRLF included */
#define CM_H1_MAX_HEADERS_DEF 32768 /* header section, final CRLF included */
#define CM_H1_MAX_LIMIT       (1u << 29) /* largest limit: heads fit an int */
#define CM_H1_CHUNK_SIZE_MAX  ((uint64_t)1 << 62)
#define CM_H1_CHUNK_EXT_DEF   1024 /* bytes of extensions per chunk line */
#define CM_H1_TRAILER_DEF     8192 /* bytes of the whole trailer section */

/* A byte range of the head buffer as offsets from its start: it stays valid
 * when the caller moves (reallocs) the buffer between calls. */
struct cm_h1_span {
    uint32_t off;
    uint32_t len;
};

/* A byte range by pointer (chunk data, writer inputs). */
struct cm_h1_slice {
    const char *ptr;
    size_t len;
};

enum cm_h1_method {
    CM_H1_M_OTHER = 0, /* a valid token we do not know: see method_raw */
    CM_H1_M_GET,
    CM_H1_M_HEAD,
    CM_H1_M_POST,
    CM_H1_M_PUT,
    CM_H1_M_DELETE,
    CM_H1_M_CONNECT,
    CM_H1_M_OPTIONS,
    CM_H1_M_TRACE,
    CM_H1_M_PATCH,
};

enum cm_h1_target_form {
    CM_H1_T_ORIGIN = 0, /* /path?query */
    CM_H1_T_ABSOLUTE,   /* scheme://authority/path?query */
    CM_H1_T_AUTHORITY,  /* host:port, CONNECT only */
    CM_H1_T_ASTERISK,   /* *, OPTIONS only */
};

/* How the message body is delimited. */
enum cm_h1_body {
    CM_H1_BODY_NONE = 0, /* no body (or Content-Length: 0) */
    CM_H1_BODY_LENGTH,   /* content_length bytes */
    CM_H1_BODY_CHUNKED,  /* chunked coding: use cm_h1_chunked_parse() */
    CM_H1_BODY_CLOSE,    /* response only: until the upstream closes */
};

/* Headers the parser recognises (cm_h1_hdr.id). */
enum cm_h1_hdr_id {
    CM_H1_H_OTHER = 0,
    CM_H1_H_HOST,
    CM_H1_H_CONTENT_LENGTH,
    CM_H1_H_TRANSFER_ENCODING,
    CM_H1_H_CONNECTION,
    CM_H1_H_KEEP_ALIVE,
    CM_H1_H_PROXY_CONNECTION,
    CM_H1_H_TE,
    CM_H1_H_TRAILER,
    CM_H1_H_UPGRADE,
    CM_H1_H_EXPECT,
    CM_H1_H_X_FORWARDED_FOR,
    CM_H1_H_X_FORWARDED_PROTO,
    CM_H1_H_X_FORWARDED_HOST,
};

/* cm_h1_hdr.flags */
#define CM_H1_HDR_HOP 0x01 /* hop-by-hop: fixed list or named by Connection */

/* One header field line. */
struct cm_h1_hdr {
    struct cm_h1_span name;
    struct cm_h1_span value; /* leading and trailing whitespace removed */
    uint8_t id;              /* enum cm_h1_hdr_id */
    uint8_t flags;           /* CM_H1_HDR_* */
};

/* cm_h1_msg.flags */
#define CM_H1_F_KEEPALIVE       0x0001 /* connection may carry another msg */
#define CM_H1_F_CHUNKED         0x0002 /* Transfer-Encoding ends in chunked */
#define CM_H1_F_HAS_CL          0x0004 /* a Content-Length header was seen */
#define CM_H1_F_HAS_TE          0x0008 /* a Transfer-Encoding was seen */
#define CM_H1_F_CONN_CLOSE      0x0010 /* Connection: close */
#define CM_H1_F_CONN_KEEPALIVE  0x0020 /* Connection: keep-alive */
#define CM_H1_F_CONN_UPGRADE    0x0040 /* Connection: upgrade */
#define CM_H1_F_CONN_OTHER      0x0080 /* Connection names other headers */
#define CM_H1_F_EXPECT_CONTINUE 0x0100 /* request: Expect: 100-continue */
#define CM_H1_F_UPGRADE         0x0200 /* Connection: upgrade + Upgrade */
#define CM_H1_F_HAS_HOST        0x0400 /* request: a Host header was seen */
#define CM_H1_F_HAS_UPGRADE     0x0800 /* an Upgrade header was seen */
#define CM_H1_F_TUNNEL          0x1000 /* response: 2xx to CONNECT */
/* 0xffff0000: private to the parser */

/* Parser states (cm_h1_msg.state). */
enum cm_h1_state {
    CM_H1_S_LINE = 0, /* before or inside the start line */
    CM_H1_S_HEADERS,  /* inside the header section */
    CM_H1_S_DONE,     /* head complete: head_len valid */
    CM_H1_S_ERROR,    /* failed: status and err valid */
};

/* Limits; a zero field means the default. */
struct cm_h1_limits {
    uint32_t max_line;    /* start line incl. CRLF -> 414 (request) */
    uint32_t max_headers; /* header section incl. CRLFs -> 431 (request) */
};

/* What request and response heads share. Fields under "result" are valid
 * once the parse returned > 0; spans index the buffer given to the parser. */
struct cm_h1_msg {
    /* set by init, kept by reset */
    struct cm_h1_hdr *hdrs; /* borrows: caller's array of hdr_max entries */
    uint32_t hdr_max;
    uint32_t max_line;
    uint32_t max_headers;
    uint8_t kind; /* private: request or response */

    /* position (resumption) */
    uint8_t state;    /* enum cm_h1_state */
    uint32_t pos;     /* start of the line being parsed */
    uint32_t scan;    /* bytes already searched for the line's LF */
    uint32_t hdr_off; /* first byte after the start line */

    /* result */
    uint8_t minor;           /* HTTP/1.<minor>: 0 or 1 */
    uint8_t body;            /* enum cm_h1_body */
    uint16_t status;         /* on error: the status to answer */
    uint32_t flags;          /* CM_H1_F_* */
    uint32_t nhdr;           /* entries used in hdrs */
    uint32_t head_len;       /* bytes of the head, final CRLF included */
    int64_t content_length;  /* -1 when absent */
    struct cm_h1_span start; /* the start line without CRLF */
    const char *err;         /* on error: static text saying why */
    uint32_t err_pos;        /* on error: offset of the offending line */
};

/* A request head. */
struct cm_h1_req {
    struct cm_h1_msg msg; /* first member */
    uint8_t method;       /* enum cm_h1_method */
    uint8_t form;         /* enum cm_h1_target_form */
    struct cm_h1_span method_raw;
    struct cm_h1_span target;    /* as received */
    struct cm_h1_span authority; /* absolute-form and CONNECT: host[:port] */
    struct cm_h1_span path;      /* origin/absolute-form, without query */
    struct cm_h1_span query;     /* after '?', without it; len 0 if none */
    struct cm_h1_span host;      /* derived: authority or Host value */
};

/* A response head from an upstream. */
struct cm_h1_resp {
    struct cm_h1_msg msg; /* first member */
    uint8_t req_method;   /* set by reset: enum cm_h1_method of the request */
    uint16_t code;        /* 100..599 */
    struct cm_h1_span reason;
};

/* Chunked decoder states. */
enum cm_h1_chunk_state {
    CM_H1_C_SIZE = 0,  /* in the hex size */
    CM_H1_C_SIZE_WS,   /* whitespace after the size, before ';' */
    CM_H1_C_EXT,       /* in extensions, up to CR */
    CM_H1_C_SIZE_LF,   /* CR of the size line seen */
    CM_H1_C_DATA,      /* in chunk data */
    CM_H1_C_DATA_CR,   /* expecting CR after the data */
    CM_H1_C_DATA_LF,   /* expecting LF after the data */
    CM_H1_C_TRL_START, /* at the start of a trailer line or the end */
    CM_H1_C_TRL_NAME,  /* in a trailer field name */
    CM_H1_C_TRL_VALUE, /* in a trailer field value */
    CM_H1_C_TRL_LF,    /* CR of a trailer line seen */
    CM_H1_C_END_LF,    /* CR of the final empty line seen */
    CM_H1_C_DONE,
    CM_H1_C_ERROR,
};

/* cm_h1_chunked_parse() results */
#define CM_H1_CHUNK_NEED 0 /* all input consumed, need more */
#define CM_H1_CHUNK_DATA 1 /* *data holds body bytes; call again */
#define CM_H1_CHUNK_DONE 2 /* last chunk and trailers consumed */

/* State of one chunked body being decoded. */
struct cm_h1_chunked {
    uint8_t state;   /* enum cm_h1_chunk_state */
    uint8_t ndigits; /* hex digits of the size so far */
    uint8_t has_trailers;
    uint32_t ext_len; /* extension bytes on this size line */
    uint32_t ext_max; /* limit for ext_len */
    uint32_t trl_len; /* trailer section bytes so far */
    uint32_t trl_max; /* limit for trl_len */
    uint64_t size;    /* size being read, then data bytes left */
    uint64_t total;   /* body bytes returned so far */
    const char *err;  /* on error: static text saying why */
};

/* cm_h1_fwd.flags */
#define CM_H1_FWD_XF        0x01 /* add X-Forwarded-For/-Proto/-Host */
#define CM_H1_FWD_CHUNKED   0x02 /* body goes out chunked: add the TE header */
#define CM_H1_FWD_UPGRADE   0x04 /* keep Upgrade, add Connection: upgrade */
#define CM_H1_FWD_CLOSE     0x08 /* add Connection: close */
#define CM_H1_FWD_KEEPALIVE 0x10 /* add Connection: keep-alive (responses) */

/* How a head is rewritten for the next hop. Slices are borrowed and must
 * stay valid as long as the iovecs written from them. */
struct cm_h1_fwd {
    unsigned flags;                 /* CM_H1_FWD_* */
    struct cm_h1_slice client_addr; /* appended to X-Forwarded-For */
    struct cm_h1_slice proto;       /* X-Forwarded-Proto: "http", "https" */
    struct cm_h1_slice target;      /* ptr != NULL: replaces the target */
    struct cm_h1_slice host;        /* ptr != NULL: replaces Host */
};

/* Longest chunk size line cm_h1_chunk_size_line() writes: 16 hex + CRLF. */
#define CM_H1_CHUNK_LINE_MAX 18

#endif
