/*
 * rpc.h -- a small gRPC server on gRPC C core: one listening address, one
 * completion-queue thread, registered methods (unary or bidirectional
 * streaming), a per-call state machine with a send queue, and byte buffer
 * <-> protobuf-c helpers. Shared by the xDS server and the management API.
 *
 * Threading: callbacks run on the CQ thread holding the server lock. Other
 * threads that want to touch calls (e.g. push to streams) take the same lock
 * with cp_rpc_server_lock()/unlock(); every cp_rpc_call_* function requires
 * it to be held.
 */
#ifndef CP_RPC_H
#define CP_RPC_H

#include <grpc/byte_buffer.h>
#include <grpc/status.h>
#include <protobuf-c/protobuf-c.h>

#include "common/err/err.h"
#include "controlplane/rpc/rpc-t.h"

/* Returns new (initialises gRPC); free with cp_rpc_server_free(). */
struct cp_rpc_server *cp_rpc_server_new(void);

/* Stops the server if running, then frees it. NULL is a no-op. */
void cp_rpc_server_free(struct cp_rpc_server *srv);

/* Registers <path> ("/pkg.Service/Method") before cp_rpc_server_start().
 * <ops> and <arg> are borrowed until the server is freed. */
int cp_rpc_server_add_method(struct cp_rpc_server *srv, const char *path,
                             enum cp_rpc_kind kind,
                             const struct cp_rpc_method_ops *ops,
                             void *arg) CM_MUST_CHECK;

/* Listens on <addr> ("127.0.0.1:4242"; port 0 picks one, stored in *port
 * when not NULL) without TLS and starts the CQ thread. */
int cp_rpc_server_start(struct cp_rpc_server *srv, const char *addr, int *port,
                        char *err, size_t errlen) CM_MUST_CHECK;

/* Cancels every call (each gets on_done), stops listening and joins the CQ
 * thread. Must not be called with the lock held or from a callback. */
void cp_rpc_server_stop(struct cp_rpc_server *srv);

void cp_rpc_server_lock(struct cp_rpc_server *srv);
void cp_rpc_server_unlock(struct cp_rpc_server *srv);

/* ---- calls (server lock held) ---- */

void cp_rpc_call_set_data(struct cp_rpc_call *call, void *data);
void *cp_rpc_call_data(const struct cp_rpc_call *call);
/* Unique per server, from 1. */
uint64_t cp_rpc_call_id(const struct cp_rpc_call *call);
/* Borrows; valid until on_done. e.g. "ipv4:127.0.0.1:5555". */
const char *cp_rpc_call_peer(const struct cp_rpc_call *call);
enum cp_rpc_call_state cp_rpc_call_state(const struct cp_rpc_call *call);

/* Queues one message (copied). GW_EIO once the call is finishing/closed. */
int cp_rpc_call_send(struct cp_rpc_call *call, const uint8_t *data, size_t len);
/* Packs <msg> and queues it. */
int cp_rpc_call_send_pb(struct cp_rpc_call *call, const ProtobufCMessage *msg);
/* Queues <bb> (taken, also on failure) as one message. */
int cp_rpc_call_send_buffer(struct cp_rpc_call *call, grpc_byte_buffer *bb);
/* Messages queued and not yet written (the one being written included). */
size_t cp_rpc_call_pending(const struct cp_rpc_call *call);
/* Ends the call with <status> (and <details>, may be NULL, copied) after
 * every queued message has been sent. A second call is a no-op. */
void cp_rpc_call_finish(struct cp_rpc_call *call, grpc_status_code status,
                        const char *details);

/* ---- buffers ---- */

/* Copies a received byte buffer into one block. Returns new in *out; free
 * with free(). */
int cp_rpc_buffer_flatten(grpc_byte_buffer *bb, uint8_t **out,
                          size_t *len) CM_MUST_CHECK;
/* Returns new; release with grpc_byte_buffer_destroy(). NULL on failure. */
grpc_byte_buffer *cp_rpc_buffer_from_bytes(const uint8_t *data, size_t len);
/* Returns new; release with grpc_byte_buffer_destroy(). NULL on failure. */
grpc_byte_buffer *cp_rpc_buffer_from_pb(const ProtobufCMessage *msg);
/* Returns new: one message made of <len> bytes at <data>, not copied (owned
 * elsewhere, e.g. shared by many calls), then a copy of <tail>. The caller
 * holds a reference on <owner> for the buffer: gRPC calls <release>(<owner>)
 * once it is done with <data>, on any thread. Release with
 * grpc_byte_buffer_destroy(). */
grpc_byte_buffer *cp_rpc_buffer_shared(const uint8_t *data, size_t len,
                                       void (*release)(void *), void *owner,
                                       const uint8_t *tail, size_t tail_len);
/* Packs <msg> into a new block. Returns new in *out; free with free(). */
int cp_rpc_pb_pack(const ProtobufCMessage *msg, uint8_t **out,
                   size_t *len) CM_MUST_CHECK;

#endif
