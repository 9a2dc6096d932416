/* integration/wire: the C half of the wire-compatibility test between our
 * protobuf-c code (//api/proto:envoy) and Envoy's own .proto files (decoded
 * by protobufjs in wire_test.js). Owns the arena, the message builders and
 * the descriptor-driven walker (JSON, equality, unknown fields); the CLI is
 * in wire_main.c. Single-threaded, short-lived process. */
#ifndef INTEGRATION_WIRE_WIRE_H
#define INTEGRATION_WIRE_WIRE_H

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

/* ===== arena: every allocation of a built message, freed at once ===== */

struct wire_arena;

/* Returns new; free with wire_arena_free(). Aborts on allocation failure. */
struct wire_arena *wire_arena_new(void);
void wire_arena_free(struct wire_arena *a);
/* Returns zeroed memory owned by <a>. */
void *wire_arena_alloc(struct wire_arena *a, size_t size);
/* Returns a copy of <size> bytes of <src>, owned by <a>. */
void *wire_arena_dup(struct wire_arena *a, const void *src, size_t size);

/* ===== builders: one richly populated message per covered type ===== */

typedef ProtobufCMessage *(*wire_build_cb)(struct wire_arena *a);

struct wire_type {
    const char *name; /* file name stem, e.g. "Listener" */
    const ProtobufCMessageDescriptor *desc;
    wire_build_cb build; /* returns a message owned by the arena */
};

extern const struct wire_type wire_types[];
extern const size_t wire_n_types;

/* The descriptor for an Any's type_url ("type.googleapis.com/<full name>"),
 * or NULL if the type is not one we pack in the test messages. */
const ProtobufCMessageDescriptor *wire_any_lookup(const char *type_url);

/* ===== walker: generic over descriptors ===== */

/* Returns new JSON (see wire_test.js for the format); free with
 * json_decref(). NULL on allocation or unpack failure. */
json_t *wire_to_json(const ProtobufCMessage *m);

/* 0 if <a> and <b> hold the same values field by field (an Any of a known
 * type compared by content), -1 otherwise with the path of the first
 * difference in <why>. */
int wire_equal(const ProtobufCMessage *a, const ProtobufCMessage *b, char *why,
               size_t len);

/* 0 if neither <m> nor any message inside it (Any contents included) holds
 * unknown fields, -1 otherwise with the path in <why>. */
int wire_no_unknown(const ProtobufCMessage *m, char *why, size_t len);

#endif
