/*
 * xds-t.h -- types of the translator from the configuration model to Envoy
 * v3 xDS resources (cm_xds_). Prototypes are in xds.h. A translation result
 * is immutable once returned and may be read (encoded, printed) from any
 * thread.
 */
#ifndef CM_XDS_T_H
#define CM_XDS_T_H

#include <stddef.h>

#include "envoy/config/cluster/v3/cluster.pb-c.h"
#include "envoy/config/endpoint/v3/endpoint.pb-c.h"
#include "envoy/config/listener/v3/listener.pb-c.h"
#include "envoy/config/route/v3/route.pb-c.h"
#include "envoy/extensions/transport_sockets/tls/v3/secret.pb-c.h"
#include "envoy/extensions/transport_sockets/tls/v3/tls.pb-c.h"

/* The resource types, in the order a client asks for them. */
enum cm_xds_type {
    CM_XDS_LISTENER, /* envoy.config.listener.v3.Listener */
    CM_XDS_ROUTE,    /* envoy.config.route.v3.RouteConfiguration */
    CM_XDS_CLUSTER,  /* envoy.config.cluster.v3.Cluster */
    CM_XDS_ENDPOINT, /* envoy.config.endpoint.v3.ClusterLoadAssignment */
    CM_XDS_SECRET,   /* envoy.extensions.transport_sockets.tls.v3.Secret */
};
#define CM_XDS_NTYPES (CM_XDS_SECRET + 1)

/* traefikee's own HTTP filters (api/proto/traefikee/filters/v1), in the
 * order they sit in an HttpConnectionManager's http_filters. */
enum cm_xds_filter {
    CM_XDS_F_CLIENT_IP,       /* ClientIpMatch: a route match condition */
    CM_XDS_F_IP_ALLOW_LIST,   /* IpAllowList */
    CM_XDS_F_BASIC_AUTH,      /* BasicAuth */
    CM_XDS_F_RATE_LIMIT,      /* RateLimit */
    CM_XDS_F_IN_FLIGHT_REQ,   /* InFlightReq */
    CM_XDS_F_CIRCUIT_BREAKER, /* CircuitBreaker */
    CM_XDS_F_REDIRECT_REGEX,  /* RedirectRegex */
    CM_XDS_F_PATH_REWRITE,    /* PathRewrite */
    CM_XDS_F_FAILOVER,        /* Failover */
    CM_XDS_F_STICKY,          /* StickyCookie */
};
#define CM_XDS_NFILTERS (CM_XDS_F_STICKY + 1)

struct cm_xds__arena;

/* The resources one configuration becomes. Every array is sorted by
 * resource name (byte order) and every message, string and array belongs
 * to the result's arena: read them, never modify or free them; release the
 * whole with cm_xds_resources_free(). */
struct cm_xds_resources {
    char *version;
    Envoy__Config__Listener__V3__Listener **listeners;
    size_t n_listeners;
    Envoy__Config__Route__V3__RouteConfiguration **routes;
    size_t n_routes;
    Envoy__Config__Cluster__V3__Cluster **clusters;
    size_t n_clusters;
    Envoy__Config__Endpoint__V3__ClusterLoadAssignment **endpoints;
    size_t n_endpoints;
    Envoy__Extensions__TransportSockets__Tls__V3__Secret **secrets;
    size_t n_secrets;

    /* private */
    struct cm_xds__arena *arena;
};

#endif
