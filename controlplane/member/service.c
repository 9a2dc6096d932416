/*
 * service.c -- traefikee.v1.Membership on the node's rpc server: decodes
 * Join and Renew, answers from member.c, and registers the methods with
 * their access masks and the server's revocation check. CQ thread, rpc
 * lock held (issuing is one signature: done inline).
 */
#include <stdlib.h>
#include <string.h>

#include "common/log/log.h"
#include "controlplane/member/member.h"
#include "controlplane/rpc/rpc.h"
#include "traefikee/v1/management.pb-c.h"

#define MEMBERSHIP "/traefikee.v1.Membership/"

/* Sends <r> as a JoinResponse or RenewResponse and ends the call. */
static void reply(struct cp_rpc_call *call, bool join,
                  struct cp_member_reply *r)
{
    if (r->status != GRPC_STATUS_OK) {
        cp_rpc_call_finish(call, r->status, r->details);
        return;
    }
    int rc;
    if (join) {
        Traefikee__V1__JoinResponse resp = TRAEFIKEE__V1__JOIN_RESPONSE__INIT;
        resp.cert_pem = r->cert_pem;
        resp.ca_pem = r->ca_pem;
        if (r->cluster_key != NULL)
            resp.cluster_key = r->cluster_key;
        if (r->redis_password != NULL)
            resp.redis_password = r->redis_password;
        rc = cp_rpc_call_send_pb(call, &resp.base);
    } else {
        Traefikee__V1__RenewResponse resp = TRAEFIKEE__V1__RENEW_RESPONSE__INIT;
        resp.cert_pem = r->cert_pem;
        resp.ca_pem = r->ca_pem;
        rc = cp_rpc_call_send_pb(call, &resp.base);
    }
    if (rc != 0)
        cp_rpc_call_finish(call, GRPC_STATUS_INTERNAL, "cannot send");
    else
        cp_rpc_call_finish(call, GRPC_STATUS_OK, NULL);
}

static void on_join(void *arg, struct cp_rpc_call *call, const uint8_t *data,
                    size_t len)
{
    struct cp_member_reply r;
    Traefikee__V1__JoinRequest *req =
        traefikee__v1__join_request__unpack(NULL, len, data);

    if (req == NULL) {
        cp_rpc_call_finish(call, GRPC_STATUS_INVALID_ARGUMENT,
                           "cannot decode JoinRequest");
        return;
    }
    cp_member_join(arg, req->token, req->node_id, req->csr_pem, &r);
    cm_log_info("member",
                r.status == GRPC_STATUS_OK ? "joined" : "join_refused",
                "node=%s peer=%s why=\"%s\"", req->node_id,
                cp_rpc_call_peer(call), r.details);
    reply(call, true, &r);
    cp_member_reply_deinit(&r);
    traefikee__v1__join_request__free_unpacked(req, NULL);
}

static void on_renew(void *arg, struct cp_rpc_call *call, const uint8_t *data,
                     size_t len)
{
    struct cp_member_reply r;
    Traefikee__V1__RenewRequest *req =
        traefikee__v1__renew_request__unpack(NULL, len, data);

    if (req == NULL) {
        cp_rpc_call_finish(call, GRPC_STATUS_INVALID_ARGUMENT,
                           "cannot decode RenewRequest");
        return;
    }
    cp_member_renew(arg, cp_rpc_call_role(call), cp_rpc_call_peer_id(call),
                    req->csr_pem, &r);
    cm_log_info(
        "member", r.status == GRPC_STATUS_OK ? "renewed" : "renew_refused",
        "role=%s node=%s why=\"%s\"", cm_pki_role_name(cp_rpc_call_role(call)),
        cp_rpc_call_peer_id(call), r.details);
    reply(call, false, &r);
    cp_member_reply_deinit(&r);
    traefikee__v1__renew_request__free_unpacked(req, NULL);
}

/* A unary call that ends without a request. */
static void on_half_close(void *arg, struct cp_rpc_call *call)
{
    cp_rpc_call_finish(call, GRPC_STATUS_INVALID_ARGUMENT, "no request");
}

static const struct cp_rpc_method_ops join_ops = {
    .on_message = on_join,
    .on_half_close = on_half_close,
};

static const struct cp_rpc_method_ops renew_ops = {
    .on_message = on_renew,
    .on_half_close = on_half_close,
};

int cp_member_register(struct cp_member *m, struct cp_rpc_server *rpc)
{
    int rc = cp_rpc_server_add_method(rpc, MEMBERSHIP "Join", CP_RPC_UNARY,
                                      &join_ops, m);
    if (rc == 0)
        rc = cp_rpc_server_set_access(rpc, MEMBERSHIP "Join",
                                      CP_RPC_ACCESS_JOIN);
    if (rc == 0)
        rc = cp_rpc_server_add_method(rpc, MEMBERSHIP "Renew", CP_RPC_UNARY,
                                      &renew_ops, m);
    if (rc == 0)
        rc = cp_rpc_server_set_access(rpc, MEMBERSHIP "Renew",
                                      CP_RPC_ACCESS_RENEW);
    if (rc == 0)
        cp_rpc_server_set_check(rpc, cp_member_allowed, m);
    return rc;
}
