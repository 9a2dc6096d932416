/*
 * buffer.c -- conversions between grpc byte buffers, flat byte blocks and
 * protobuf-c messages. Stateless; any thread.
 */
#include <stdlib.h>
#include <string.h>

#include <grpc/byte_buffer_reader.h>
#include <grpc/slice.h>

#include "controlplane/rpc/rpc.h"

int cp_rpc_buffer_flatten(grpc_byte_buffer *bb, uint8_t **out, size_t *len)
{
    grpc_byte_buffer_reader r;
    if (!grpc_byte_buffer_reader_init(&r, bb))
        return GW_EINVAL;
    grpc_slice s = grpc_byte_buffer_reader_readall(&r);
    grpc_byte_buffer_reader_destroy(&r);
    size_t n = GRPC_SLICE_LENGTH(s);
    uint8_t *p = malloc(n > 0 ? n : 1);
    if (p == NULL) {
        grpc_slice_unref(s);
        return GW_ENOMEM;
    }
    memcpy(p, GRPC_SLICE_START_PTR(s), n);
    grpc_slice_unref(s);
    *out = p;
    *len = n;
    return GW_OK;
}

grpc_byte_buffer *cp_rpc_buffer_from_bytes(const uint8_t *data, size_t len)
{
    grpc_slice s = grpc_slice_from_copied_buffer((const char *)data, len);
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);
    return bb;
}

int cp_rpc_pb_pack(const ProtobufCMessage *msg, uint8_t **out, size_t *len)
{
    size_t n = protobuf_c_message_get_packed_size(msg);
    uint8_t *p = malloc(n > 0 ? n : 1);
    if (p == NULL)
        return GW_ENOMEM;
    *len = protobuf_c_message_pack(msg, p);
    *out = p;
    return GW_OK;
}

grpc_byte_buffer *cp_rpc_buffer_from_pb(const ProtobufCMessage *msg)
{
    size_t n = protobuf_c_message_get_packed_size(msg);
    grpc_slice s = grpc_slice_malloc(n);
    protobuf_c_message_pack(msg, GRPC_SLICE_START_PTR(s));
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);
    return bb;
}

grpc_byte_buffer *cp_rpc_buffer_shared(const uint8_t *data, size_t len,
                                       void (*release)(void *), void *owner,
                                       const uint8_t *tail, size_t tail_len)
{
    grpc_slice s[2];
    s[0] = grpc_slice_new_with_user_data((void *)data, len, release, owner);
    s[1] = grpc_slice_from_copied_buffer((const char *)tail, tail_len);
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(s, tail_len > 0 ? 2 : 1);
    grpc_slice_unref(s[0]);
    grpc_slice_unref(s[1]);
    return bb;
}
