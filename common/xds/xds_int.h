/*
 * xds_int.h -- internals shared by the files of common/xds: the arena every
 * translated message lives in, the translation context (with the
 * out-of-memory escape), and the per-router intermediate form. Not for
 * other modules.
 */
#ifndef CM_XDS_INT_H
#define CM_XDS_INT_H

#include <setjmp.h>
#include <stdint.h>

#include "common/config/config.h"
#include "common/rule/rule.h"
#include "common/xds/xds.h"

#include "envoy/config/core/v3/base.pb-c.h"
#include "envoy/config/core/v3/config_source.pb-c.h"
#include "envoy/config/route/v3/route_components.pb-c.h"
#include "google/protobuf/any.pb-c.h"
#include "google/protobuf/duration.pb-c.h"
#include "google/protobuf/wrappers.pb-c.h"

/* ==== Arena ==== */

/* Bump allocator of zeroed blocks, all released at once by
 * cm_xds__arena_free(). */
struct cm_xds__arena;

struct cm_xds__arena *cm_xds__arena_new(void);
void cm_xds__arena_free(struct cm_xds__arena *a);

/* The translation context. Allocation failure longjmps to <oom>, where
 * cm_xds_translate() frees both arenas; so builders never check for NULL. */
struct cm_xds__ctx {
    const struct cm_config *cfg;
    struct cm_xds__arena *out; /* the result's messages */
    struct cm_xds__arena *tmp; /* scratch, freed when translation ends */
    jmp_buf oom;
    char *err;
    size_t errlen;
    struct cm_xds__router *routers; /* one per config router, config order */
    size_t n_routers;
    /* Every conjunction of every router: in config order, then sorted in
     * route order (priority, name, index) by cm_xds__listeners(). */
    struct cm_xds__route **routes;
    size_t n_routes;
    /* The rule and DNF of the router being built: owned; freed once its
     * routes are built, or by cm_xds_translate() when it fails. */
    struct cm_rule *rule;
    struct cm_rule_dnf *dnf;
};

/* Zeroed <n> bytes from <a>; never NULL (longjmps). */
void *cm_xds__alloc(struct cm_xds__ctx *c, struct cm_xds__arena *a, size_t n);
/* Copy of <s> in the out arena; NULL stays NULL. */
char *cm_xds__str(struct cm_xds__ctx *c, const char *s);
char *cm_xds__printf(struct cm_xds__ctx *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* <x><y><z> in arena <a> (the hot paths' cheaper printf). */
char *cm_xds__cat(struct cm_xds__ctx *c, struct cm_xds__arena *a, const char *x,
                  const char *y, const char *z);
/* "type.googleapis.com/<name>" in the out arena. */
char *cm_xds__type_url(struct cm_xds__ctx *c, const char *name);
/* A new message of descriptor <d> in the out arena, initialised. */
void *cm_xds__msg(struct cm_xds__ctx *c, const ProtobufCMessageDescriptor *d);
/* Appends <item> to the arena array <*arr> of <*n> pointers (in <a>). */
void cm_xds__push(struct cm_xds__ctx *c, struct cm_xds__arena *a, void *arr,
                  size_t *n, void *item);

/* Any holding <m> packed (type URL from its descriptor). */
Google__Protobuf__Any *cm_xds__any(struct cm_xds__ctx *c,
                                   const ProtobufCMessage *m);
Google__Protobuf__Duration *cm_xds__duration(struct cm_xds__ctx *c, int64_t ms);
Google__Protobuf__UInt32Value *cm_xds__u32(struct cm_xds__ctx *c, uint32_t v);
Google__Protobuf__BoolValue *cm_xds__bool(struct cm_xds__ctx *c, int v);

/* ConfigSource {ads {}, resource_api_version V3}. */
Envoy__Config__Core__V3__ConfigSource *cm_xds__ads(struct cm_xds__ctx *c);

/* Fails the translation: fills c->err and returns GW_EINVAL. */
int cm_xds__fail(struct cm_xds__ctx *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ==== Routers and routes ==== */

enum cm_xds__host_kind {
    CM_XDS__HOST_ANY,      /* no Host matcher */
    CM_XDS__HOST_EXACT,    /* Host(`h`): vhost domain h */
    CM_XDS__HOST_WILDCARD, /* HostRegexp equivalent to "*.suffix" */
    CM_XDS__HOST_REGEX,    /* other HostRegexp: ":authority" header match */
};

/* What a router contributes to each of its routes. */
struct cm_xds__router {
    const struct cm_config_router *r;
    /* Borrows c->dnf while the router's routes are built; NULL after. */
    const struct cm_rule_dnf *dnf;
    size_t n_conj; /* conjunctions of the rule: routes of the router */
    int64_t priority;
    Envoy__Config__Route__V3__RouteAction *action; /* or: */
    Envoy__Config__Route__V3__RedirectAction *redirect;
    Google__Protobuf__Any *filter_cfg[CM_XDS_NFILTERS]; /* NULL = unused */
    Envoy__Config__Core__V3__HeaderValueOption **req_add, **resp_add;
    size_t n_req_add, n_resp_add;
    char **req_remove, **resp_remove;
    size_t n_req_remove, n_resp_remove;
};

/* One xDS Route: one conjunction of a router's rule. */
struct cm_xds__route {
    struct cm_xds__router *rt;
    size_t index; /* conjunction index */
    enum cm_xds__host_kind host_kind;
    const char *host;                 /* EXACT: "h"; WILDCARD: "*.suffix" */
    unsigned filters;                 /* bit (1u << enum cm_xds_filter) */
    Google__Protobuf__Any *client_ip; /* ClientIpMatch or NULL */
    Envoy__Config__Route__V3__Route *msg;
};

/* xds_match.c: fills route->msg->match, host_kind/host and the ClientIP
 * filter config for conjunction <cj>. Returns 0 or GW_EINVAL. */
int cm_xds__match(struct cm_xds__ctx *c, struct cm_xds__route *route,
                  const struct cm_rule_conj *cj);

/* xds_action.c: the action, middlewares and filters of router <rt>.
 * Returns 0 or GW_EINVAL. */
int cm_xds__router(struct cm_xds__ctx *c, struct cm_xds__router *rt);

/* xds_action.c: sets the name, action, headers and typed_per_filter_config
 * of route->msg from its router and conjunction. */
void cm_xds__route_finish(struct cm_xds__ctx *c, struct cm_xds__route *route);

/* xds_cluster.c: Cluster and ClusterLoadAssignment of every loadBalancer
 * service, appended to <res>. Returns 0 or GW_EINVAL. */
int cm_xds__clusters(struct cm_xds__ctx *c, struct cm_xds_resources *res);

/* xds_listener.c: listeners and route configurations (entry points and
 * gRPC API listeners), appended to <res>. */
int cm_xds__listeners(struct cm_xds__ctx *c, struct cm_xds_resources *res);

/* xds_tls.c: one Secret per tls.certificates entry, appended to <res>
 * (before listeners: they reference them). Returns 0 or GW_EINVAL. */
int cm_xds__secrets(struct cm_xds__ctx *c, struct cm_xds_resources *res);

/* xds_tls.c: the TLS transport socket of an entry point whose TLS router
 * <r> (the first one on it) picks the tls.options; references every Secret
 * of <res>. NULL with c->err filled on error. */
Envoy__Config__Core__V3__TransportSocket *
cm_xds__downstream_tls(struct cm_xds__ctx *c, const struct cm_config_router *r,
                       struct cm_xds_resources *res);

/* xds_tls.c: sets <cl>'s UpstreamTlsContext for https:// service <s>.
 * Returns 0 or GW_EINVAL. */
int cm_xds__upstream_tls(struct cm_xds__ctx *c,
                         const struct cm_config_service *s,
                         Envoy__Config__Cluster__V3__Cluster *cl);

/* Full-match RE2 pattern equivalent to Go's unanchored match of <re>. */
const char *cm_xds__full_regex(struct cm_xds__ctx *c, const char *re);
/* RE2 pattern matching the literal <s>. */
const char *cm_xds__quote_regex(struct cm_xds__ctx *c, const char *s);

#endif
