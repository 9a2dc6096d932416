/*
 * tls.c -- the TLS side of the rpc server: the current certificate chain,
 * key and CA roots under their own lock, the certificate config fetcher
 * gRPC calls at each handshake (it answers RELOAD_NEW once after each
 * rotation), and the per-call authorization against a method's access
 * mask and the server-wide check. The fetcher runs on gRPC's threads; the
 * authorization on the CQ thread with the server lock held.
 */
#include <stdlib.h>
#include <string.h>

#include <grpc/grpc_security.h>

#include "common/pki/pki.h"
#include "controlplane/rpc/rpc-int.h"

void cp_rpc__tls_init(struct cp_rpc__tls *t)
{
    memset(t, 0, sizeof(*t));
    pthread_mutex_init(&t->lock, NULL);
}

void cp_rpc__tls_deinit(struct cp_rpc__tls *t)
{
    free(t->chain);
    cm_pki_secret_free(t->key);
    free(t->roots);
    pthread_mutex_destroy(&t->lock);
}

int cp_rpc_server_set_tls(struct cp_rpc_server *srv, const char *cert_chain,
                          const char *key, const char *roots)
{
    struct cp_rpc__tls *t = &srv->tls;

    if (cert_chain == NULL || key == NULL || roots == NULL)
        return GW_EINVAL;
    char *c = strdup(cert_chain), *k = strdup(key), *r = strdup(roots);
    if (c == NULL || k == NULL || r == NULL) {
        free(c);
        cm_pki_secret_free(k);
        free(r);
        return GW_ENOMEM;
    }
    pthread_mutex_lock(&t->lock);
    free(t->chain);
    cm_pki_secret_free(t->key);
    free(t->roots);
    t->chain = c;
    t->key = k;
    t->roots = r;
    t->gen++;
    pthread_mutex_unlock(&t->lock);
    return GW_OK;
}

/* gRPC asks at each handshake (and once when the port is added). */
static grpc_ssl_certificate_config_reload_status
fetch_config(void *arg, grpc_ssl_server_certificate_config **config)
{
    struct cp_rpc__tls *t = arg;
    grpc_ssl_certificate_config_reload_status st =
        GRPC_SSL_CERTIFICATE_CONFIG_RELOAD_UNCHANGED;

    pthread_mutex_lock(&t->lock);
    if (t->gen != t->served && t->chain != NULL) {
        grpc_ssl_pem_key_cert_pair pair = {.private_key = t->key,
                                           .cert_chain = t->chain};
        /* gRPC copies the strings */
        *config = grpc_ssl_server_certificate_config_create(t->roots, &pair, 1);
        if (*config != NULL) {
            t->served = t->gen;
            st = GRPC_SSL_CERTIFICATE_CONFIG_RELOAD_NEW;
        } else {
            st = GRPC_SSL_CERTIFICATE_CONFIG_RELOAD_FAIL;
        }
    }
    pthread_mutex_unlock(&t->lock);
    return st;
}

grpc_server_credentials *cp_rpc__tls_creds(struct cp_rpc_server *srv, char *err,
                                           size_t errlen)
{
    struct cp_rpc__tls *t = &srv->tls;

    pthread_mutex_lock(&t->lock);
    bool ready = t->chain != NULL;
    t->served = 0; /* a new port needs its first config */
    pthread_mutex_unlock(&t->lock);
    if (!ready) {
        cm_err_set(err, errlen, GW_EINVAL, "no TLS certificate set");
        return NULL;
    }
    grpc_ssl_server_credentials_options *o =
        grpc_ssl_server_credentials_create_options_using_config_fetcher(
            GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY, fetch_config, t);
    grpc_server_credentials *creds =
        o != NULL ? grpc_ssl_server_credentials_create_with_options(o) : NULL;
    if (creds == NULL)
        cm_err_set(err, errlen, GW_ERR, "cannot make TLS server credentials");
    return creds;
}

static unsigned role_bit(enum cm_pki_role role)
{
    switch (role) {
    case CM_PKI_ROLE_DATA:
        return CP_RPC_ALLOW_DATA;
    case CM_PKI_ROLE_CONTROL:
        return CP_RPC_ALLOW_CONTROL;
    case CM_PKI_ROLE_ADMIN:
        return CP_RPC_ALLOW_ADMIN;
    default:
        return 0;
    }
}

grpc_status_code cp_rpc__authorize(struct cp_rpc_server *srv,
                                   const struct cp_rpc__method *m,
                                   enum cm_pki_peer kind,
                                   const struct cm_pki_cert_info *info,
                                   const char **why)
{
    switch (kind) {
    case CM_PKI_PEER_PLAIN:
        if (m->access & CP_RPC_ALLOW_PLAIN)
            return GRPC_STATUS_OK;
        *why = "this method needs TLS and a client certificate";
        return GRPC_STATUS_UNAUTHENTICATED;
    case CM_PKI_PEER_ANON:
        if (m->access & CP_RPC_ALLOW_ANON)
            return GRPC_STATUS_OK;
        *why = "this method needs a client certificate";
        return GRPC_STATUS_UNAUTHENTICATED;
    case CM_PKI_PEER_CERT:
        break;
    }
    unsigned bit = role_bit(info->role);
    if (bit == 0) {
        *why = "the client certificate has no role";
        return GRPC_STATUS_UNAUTHENTICATED;
    }
    if ((m->access & bit) == 0) {
        *why = "this certificate's role may not call this method";
        return GRPC_STATUS_PERMISSION_DENIED;
    }
    if (srv->check != NULL &&
        !srv->check(srv->check_arg, info->role, info->id, info->not_before)) {
        *why = "certificate revoked";
        return GRPC_STATUS_UNAUTHENTICATED;
    }
    return GRPC_STATUS_OK;
}
