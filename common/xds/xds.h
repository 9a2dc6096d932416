/*
 * xds.h -- translates a configuration model (common/config) into Envoy v3
 * xDS resources: Listeners, RouteConfigurations, Clusters and
 * ClusterLoadAssignments as protobuf-c messages, per the rules of
 * docs/translation.md. Pure: no I/O, no global state (except the JSON type
 * registry of common/pbjson, filled by cm_xds_register_json()). The same
 * configuration and version always give byte-identical encodings.
 */
#ifndef CM_XDS_H
#define CM_XDS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "common/config/config-t.h"
#include "common/err/err.h"
#include "common/xds/xds-t.h"

/* Filter names (HttpFilter.name, typed_per_filter_config keys). */
#define CM_XDS_FILTER_HCM    "envoy.filters.network.http_connection_manager"
#define CM_XDS_FILTER_ROUTER "envoy.filters.http.router"

/* Translates <cfg> (borrowed) with version label <version> (borrowed, e.g.
 * the store revision). Returns new resources; free with
 * cm_xds_resources_free(). On error returns NULL and fills <err> (of
 * <errlen> bytes, may be NULL) with a message naming the router, service or
 * middleware, e.g.
 *   router "whoami": rule: column 18: negated Host cannot be expressed ...
 */
struct cm_xds_resources *cm_xds_translate(const struct cm_config *cfg,
                                          const char *version, char *err,
                                          size_t errlen) CM_MUST_CHECK;

/* Frees <res> and every message in it. NULL is a no-op. */
void cm_xds_resources_free(struct cm_xds_resources *res);

/* Number of resources of <type>. */
size_t cm_xds_count(const struct cm_xds_resources *res, enum cm_xds_type type);

/* Borrows: resource <i> (< count) of <type>, valid until
 * cm_xds_resources_free(<res>). */
const ProtobufCMessage *cm_xds_get(const struct cm_xds_resources *res,
                                   enum cm_xds_type type, size_t i);

/* Borrows: the name of resource <i> of <type> (Listener.name,
 * RouteConfiguration.name, Cluster.name, ClusterLoadAssignment.cluster_name).
 */
const char *cm_xds_name(const struct cm_xds_resources *res,
                        enum cm_xds_type type, size_t i);

/* Borrows: the resource of <type> named <name>, or NULL. Binary search. */
const ProtobufCMessage *cm_xds_find(const struct cm_xds_resources *res,
                                    enum cm_xds_type type, const char *name);

/* "type.googleapis.com/envoy.config.listener.v3.Listener", ... */
const char *cm_xds_type_url(enum cm_xds_type type);

/* TransportSocket.name of TLS, and the CA bundle upstream TLS verifies
 * against unless a serversTransport names others or opts out. */
#define CM_XDS_TLS_SOCKET "envoy.transport_sockets.tls"
#define CM_XDS_CA_BUNDLE  "/etc/ssl/certs/ca-certificates.crt"

/* The Secret name of tls.certificates entry <cert>: its name, else the
 * certFile's base name up to the first '.', else "cert-" and 8 hex digits
 * of a hash of the inline PEM. Written into <buf> (<len> bytes). */
const char *cm_xds_cert_name(const struct cm_config_certificate *cert,
                             char *buf, size_t len);

/* "listeners", "routes", "clusters", "endpoints", "secrets". */
const char *cm_xds_type_key(enum cm_xds_type type);

/* traefikee filter name ("traefikee.filters.basic_auth") and full message
 * name ("traefikee.filters.v1.BasicAuth") of <f>. */
const char *cm_xds_filter_name(enum cm_xds_filter f);
const char *cm_xds_filter_type(enum cm_xds_filter f);

/* Encodes <m> (borrowed) in protobuf wire format into <*out>: returns new,
 * free with free(); length in <*len>. Returns 0 or GW_ENOMEM. */
int cm_xds_encode(const ProtobufCMessage *m, uint8_t **out,
                  size_t *len) CM_MUST_CHECK;

/* Registers with common/pbjson every message type the translation may put
 * in an Any, so cm_xds_to_json() expands them. Idempotent. 0 or GW_ENOMEM.
 */
int cm_xds_register_json(void) CM_MUST_CHECK;

/* Returns a new JSON object {"version": ..., "listeners": [...], "routes":
 * [...], "clusters": [...], "endpoints": [...]} (proto3 JSON mapping);
 * json_decref() it. Calls cm_xds_register_json(). NULL when out of memory.
 */
json_t *cm_xds_to_json(const struct cm_xds_resources *res);

#endif
