/*
 * filter_testlib.h -- test helpers: a dp_route carrying packed filter
 * configs, a request view with headers and a peer address, and a chain
 * built from them. Tests only.
 */
#ifndef DP_FILTER_TESTLIB_H
#define DP_FILTER_TESTLIB_H

#include <netinet/in.h>
#include <protobuf-c/protobuf-c.h>

#include "dataplane/filter/filter.h"
#include "traefikee/filters/v1/filters.pb-c.h"

#define FT_MAX 12

struct ft_route {
    struct dp_route rt;
    struct dp_route_filter_config fc[FT_MAX];
    char *urls[FT_MAX];
    uint8_t *bufs[FT_MAX];
};

/* <name> and <vhost> borrowed (string literals). */
void ft_route_init(struct ft_route *r, const char *name, const char *vhost);
/* Packs <m> under filter <filter> with type URL of message <type>
 * (e.g. "BasicAuth"). */
void ft_route_add(struct ft_route *r, const char *filter, const char *type,
                  const ProtobufCMessage *m);
void ft_route_deinit(struct ft_route *r);

/* Builds; on failure returns NULL and leaves the message in <err>. */
struct dp_filter_chain *ft_chain(struct ft_route *r,
                                 struct dp_filter_registry *reg, char *err);

struct ft_req {
    struct dp_router_req rq;
    struct dp_router_hdr hdrs[8];
    struct sockaddr_storage peer;
    struct dp_filter_req req;
    char *strs[24];
    int n_strs;
    char buf[DP_FILTER_BUF_DEF];
    struct dp_filter_ctx ctx;
};

/* <target> is "/path?query". */
void ft_req_init(struct ft_req *q, const char *method, const char *host,
                 const char *target, const char *peer_ip);
void ft_req_hdr(struct ft_req *q, const char *name, const char *value);
void ft_req_deinit(struct ft_req *q);
/* Runs the chain on a fresh ctx. */
enum dp_filter_verdict ft_run(struct ft_req *q,
                              const struct dp_filter_chain *ch);
/* Value of response header <name> in q->ctx, or NULL (copied, static). */
const char *ft_resp_hdr(struct ft_req *q, const char *name);
const char *ft_req_add(struct ft_req *q, const char *name, int nth);

#endif
