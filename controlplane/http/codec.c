/*
 * codec.c -- the thin layer between the control node's HTTP server and the
 * HTTP/1.1 codec it borrows from the data node (cm_h1_*). Nothing else in
 * controlplane/http includes that codec: when it moves to common/, only
 * this file changes. Runs on the server's loop.
 */
#include <stdlib.h>
#include <string.h>

#include "controlplane/http/http-int.h"
#include "common/http1/http1.h"

#define HDR_MAX 64

struct cp_http__parser {
    struct cm_h1_req req;
    struct cm_h1_hdr hdrs[HDR_MAX];
};

struct cp_http__parser *cp_http__parser_new(void)
{
    struct cp_http__parser *p = calloc(1, sizeof(*p));
    struct cm_h1_limits lim = {.max_line = 8192, .max_headers = 12288};

    if (p != NULL && cm_h1_req_init(&p->req, p->hdrs, HDR_MAX, &lim) != 0) {
        free(p);
        return NULL;
    }
    return p;
}

void cp_http__parser_free(struct cp_http__parser *p)
{
    free(p);
}

void cp_http__parser_reset(struct cp_http__parser *p)
{
    cm_h1_req_reset(&p->req);
}

int cp_http__parse(struct cp_http__parser *p, const char *buf, size_t len)
{
    return cm_h1_req_parse(&p->req, buf, len);
}

int cp_http__parser_status(const struct cp_http__parser *p)
{
    return p->req.msg.status ? p->req.msg.status : 400;
}

enum cp_http__method cp_http__method(const struct cp_http__parser *p)
{
    switch (p->req.method) {
    case CM_H1_M_GET:
        return CP_HTTP__GET;
    case CM_H1_M_HEAD:
        return CP_HTTP__HEAD;
    case CM_H1_M_POST:
        return CP_HTTP__POST;
    default:
        return CP_HTTP__OTHER;
    }
}

static struct cp_http__slice slice(const char *buf, struct cm_h1_span s)
{
    struct cp_http__slice r = {buf + s.off, s.len};
    return r;
}

struct cp_http__slice cp_http__path(const struct cp_http__parser *p,
                                    const char *buf)
{
    return slice(buf, p->req.path);
}

struct cp_http__slice cp_http__query(const struct cp_http__parser *p,
                                     const char *buf)
{
    return slice(buf, p->req.query);
}

bool cp_http__header(const struct cp_http__parser *p, const char *buf,
                     const char *name, struct cp_http__slice *out)
{
    int i = cm_h1_find(&p->req.msg, buf, name, strlen(name), 0);

    if (i < 0)
        return false;
    *out = slice(buf, p->req.msg.hdrs[i].value);
    return true;
}

int64_t cp_http__body_len(const struct cp_http__parser *p)
{
    switch (p->req.msg.body) {
    case CM_H1_BODY_LENGTH:
        return p->req.msg.content_length;
    case CM_H1_BODY_NONE:
        return 0;
    default:
        return -1;
    }
}

bool cp_http__keepalive(const struct cp_http__parser *p)
{
    return (p->req.msg.flags & CM_H1_F_KEEPALIVE) != 0;
}
