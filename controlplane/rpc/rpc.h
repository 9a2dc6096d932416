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

#include <stdbool.h>

#include <grpc/byte_buffer.h>
#include <grpc/status.h>
#include <protobuf-c/protobuf-c.h>

#include "common/err/err.h"
#include "common/pki/pki_grpc.h"
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

/* Who may call <path> (a cp_rpc_access mask) on a TLS server. Before
 * cp_rpc_server_start_tls(). GW_ENOENT if <path> is not registered. */
int cp_rpc_server_set_access(struct cp_rpc_server *srv, const char *path,
                             unsigned access) CM_MUST_CHECK;

/* The server's certificate chain (leaf then CA: a joining client reads the
 * CA from the handshake), its key and the CA roots client certificates are
 * verified against; all copied. Callable before cp_rpc_server_start_tls()
 * (required) and again at any time from any thread to rotate: handshakes
 * from then on use the new ones, established connections keep theirs.
 * GW_EINVAL for a missing one, GW_ENOMEM. */
int cp_rpc_server_set_tls(struct cp_rpc_server *srv, const char *cert_chain,
                          const char *key, const char *roots) CM_MUST_CHECK;

/* The server-wide check (NULL to clear); before starting. */
void cp_rpc_server_set_check(struct cp_rpc_server *srv, cp_rpc_check_cb cb,
                             void *arg);

/* Like cp_rpc_server_start() with TLS on <addr>: client certificates are
 * requested and, when given, verified against the roots
 * (GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY). Each call is checked
 * before its method sees it: its peer (cm_pki_grpc_peer()) must be allowed
 * by the method's access mask (UNAUTHENTICATED for a plain or anonymous
 * peer, PERMISSION_DENIED for a certificate of another role) and pass the
 * server check. <plain_addr> (may be NULL) also listens without TLS; its
 * port goes to *plain_port when not NULL. */
int cp_rpc_server_start_tls(struct cp_rpc_server *srv, const char *addr,
                            int *port, const char *plain_addr, int *plain_port,
                            char *err, size_t errlen) CM_MUST_CHECK;

/* Whether the server was started with TLS (then peers are checked). */
bool cp_rpc_server_secure(const struct cp_rpc_server *srv);

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
/* How the peer was known: always CM_PKI_PEER_PLAIN on a server without TLS. */
enum cm_pki_peer cp_rpc_call_peer_kind(const struct cp_rpc_call *call);
/* The peer certificate's role (OU), CM_PKI_ROLE_NONE without one. */
enum cm_pki_role cp_rpc_call_role(const struct cp_rpc_call *call);
/* The peer certificate's id (CN), "" without one; borrowed until on_done. */
const char *cp_rpc_call_peer_id(const struct cp_rpc_call *call);
/* The peer certificate's notBefore (unix seconds), 0 without one. */
int64_t cp_rpc_call_not_before(const struct cp_rpc_call *call);

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
