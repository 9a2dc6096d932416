/*
 * pbjson.h -- prints any protobuf-c message as JSON following the proto3
 * JSON mapping: lowerCamelCase field names, default values left out, enums
 * by name, 64-bit integers as strings, bytes in base64, well-known types in
 * their special forms (Duration "1.5s", Timestamp RFC 3339, wrappers as
 * plain values, Struct/Value/ListValue as JSON, Empty as {}), and Any
 * expanded with "@type" when its type was registered.
 *
 * The type registry is the one process-wide state of this module: an
 * append-only table behind a mutex, filled once at start-up (register the
 * top-level types; every message type reachable from them is registered
 * too). Printing is thread-safe.
 */
#ifndef CM_PBJSON_H
#define CM_PBJSON_H

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>

#include "common/err/err.h"

/* Flags of cm_pbjson_print() / cm_pbjson_to_json(). */
#define CM_PBJSON_PRETTY 0x1 /* indent by 2 spaces (print only) */

/* Registers <d> (borrowed; generated descriptors are static) and every
 * message type reachable through its fields, so that an Any holding one of
 * them is expanded. Idempotent. Returns 0 or GW_ENOMEM. */
int cm_pbjson_register(const ProtobufCMessageDescriptor *d) CM_MUST_CHECK;

/* Borrows: the registered descriptor of the full message name <name>
 * ("google.protobuf.Duration", no leading dot) or of a type URL
 * ("type.googleapis.com/NAME"), or NULL. */
const ProtobufCMessageDescriptor *cm_pbjson_lookup(const char *name);

/* Returns a new JSON value for <m> (borrowed); json_decref() it. NULL when
 * out of memory. */
json_t *cm_pbjson_to_json(const ProtobufCMessage *m, int flags);

/* Returns new NUL-terminated JSON text for <m>; free with free(). NULL when
 * out of memory. */
char *cm_pbjson_print(const ProtobufCMessage *m, int flags);

/* Writes the lowerCamelCase JSON name of the proto field name <name> into
 * <buf> of <len> bytes ("route_config_name" -> "routeConfigName"); returns
 * <buf>. Truncates to fit. */
char *cm_pbjson_field_name(const char *name, char *buf, size_t len);

#endif
