/*
 * filter_testlib.c -- see filter_testlib.h. Tests only.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dataplane/filter/filter_testlib.h"

void ft_route_init(struct ft_route *r, const char *name, const char *vhost)
{
    memset(r, 0, sizeof(*r));
    r->rt.name = (struct dp_router_slice){name, strlen(name)};
    r->rt.vhost = (struct dp_router_slice){vhost, strlen(vhost)};
    r->rt.filter_configs = r->fc;
}

void ft_route_add(struct ft_route *r, const char *filter, const char *type,
                  const ProtobufCMessage *m)
{
    size_t i = r->rt.n_filter_configs++,
           n = protobuf_c_message_get_packed_size(m);
    char url[256];

    snprintf(url, sizeof(url), "type.googleapis.com/traefikee.filters.v1.%s",
             type);
    r->urls[i] = strdup(url);
    r->bufs[i] = malloc(n ? n : 1);
    protobuf_c_message_pack(m, r->bufs[i]);
    r->fc[i].filter = (struct dp_router_slice){filter, strlen(filter)};
    r->fc[i].type_url = (struct dp_router_slice){r->urls[i], strlen(url)};
    r->fc[i].value = (struct dp_router_slice){(char *)r->bufs[i], n};
}

void ft_route_deinit(struct ft_route *r)
{
    for (size_t i = 0; i < r->rt.n_filter_configs; i++) {
        free(r->urls[i]);
        free(r->bufs[i]);
    }
}

struct dp_filter_chain *ft_chain(struct ft_route *r,
                                 struct dp_filter_registry *reg, char *err)
{
    struct dp_filter_chain *ch = NULL;

    err[0] = '\0';
    if (dp_filter_chain_build(&r->rt, reg, NULL, &ch, err, CM_ERR_LEN) != 0)
        return NULL;
    return ch;
}

static const char *keep(struct ft_req *q, const char *s, size_t n)
{
    char *d = strndup(s, n);

    q->strs[q->n_strs++] = d;
    return d;
}

void ft_req_init(struct ft_req *q, const char *method, const char *host,
                 const char *target, const char *peer_ip)
{
    const char *qm = strchr(target, '?');
    size_t pl = qm ? (size_t)(qm - target) : strlen(target);

    memset(q, 0, sizeof(*q));
    q->rq.method = (struct dp_router_slice){keep(q, method, strlen(method)),
                                            strlen(method)};
    q->rq.host =
        (struct dp_router_slice){keep(q, host, strlen(host)), strlen(host)};
    q->rq.path = (struct dp_router_slice){keep(q, target, pl), pl};
    if (qm != NULL)
        q->rq.query = (struct dp_router_slice){keep(q, qm + 1, strlen(qm + 1)),
                                               strlen(qm + 1)};
    q->rq.scheme = (struct dp_router_slice){"http", 4};
    q->rq.hdrs = q->hdrs;
    if (strchr(peer_ip, ':') != NULL) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&q->peer;
        s6->sin6_family = AF_INET6;
        inet_pton(AF_INET6, peer_ip, &s6->sin6_addr);
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&q->peer;
        s4->sin_family = AF_INET;
        inet_pton(AF_INET, peer_ip, &s4->sin_addr);
    }
    q->req.rq = &q->rq;
    q->req.peer = (struct sockaddr *)&q->peer;
    q->req.now_ns = 1000000000000ull;
}

void ft_req_hdr(struct ft_req *q, const char *name, const char *value)
{
    struct dp_router_hdr *h = &q->hdrs[q->rq.n_hdrs++];

    h->name =
        (struct dp_router_slice){keep(q, name, strlen(name)), strlen(name)};
    h->value =
        (struct dp_router_slice){keep(q, value, strlen(value)), strlen(value)};
}

void ft_req_deinit(struct ft_req *q)
{
    for (int i = 0; i < q->n_strs; i++)
        free(q->strs[i]);
    q->n_strs = 0;
}

enum dp_filter_verdict ft_run(struct ft_req *q,
                              const struct dp_filter_chain *ch)
{
    dp_filter_ctx_init(&q->ctx, q->buf, sizeof(q->buf));
    return dp_filter_request(ch, &q->req, &q->ctx);
}

static const char *copy(struct dp_router_slice s)
{
    static char out[4][4096];
    static int k;
    char *d = out[k++ % 4];

    snprintf(d, 4096, "%.*s", (int)s.len, s.ptr);
    return d;
}

const char *ft_resp_hdr(struct ft_req *q, const char *name)
{
    for (int i = 0; i < q->ctx.n_resp_hdrs; i++)
        if (strcasecmp(copy(q->ctx.resp_hdrs[i].name), name) == 0)
            return copy(q->ctx.resp_hdrs[i].value);
    return NULL;
}

const char *ft_req_add(struct ft_req *q, const char *name, int nth)
{
    for (int i = 0; i < q->ctx.n_req_add; i++)
        if (strcasecmp(copy(q->ctx.req_add[i].name), name) == 0 && nth-- == 0)
            return copy(q->ctx.req_add[i].value);
    return NULL;
}
