/*
 * pki_grpc.c -- the cluster's certificates on gRPC C core: client channel
 * credentials and channels, a server call's peer identity, a blocking
 * unary call, and the client side of Membership (fetch the CA through an
 * untrusted TLS handshake, Join, Renew).
 * The calls here block (each owns its socket, channel and completion queue
 * and is bounded by a deadline): run them off any event loop.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "common/net/net.h"
#include "common/pki/pki_grpc.h"
#include "traefikee/v1/management.pb-c.h"

#define METHOD_JOIN  "/traefikee.v1.Membership/Join"
#define METHOD_RENEW "/traefikee.v1.Membership/Renew"

/* ==== credentials and peers ==== */

grpc_channel_credentials *cm_pki_grpc_creds(const struct cm_pki_creds *c)
{
    grpc_ssl_pem_key_cert_pair pair;

    if (c == NULL || c->ca == NULL)
        return NULL;
    if (c->cert == NULL)
        return grpc_ssl_credentials_create_ex(c->ca, NULL, NULL, NULL);
    if (c->key == NULL)
        return NULL;
    pair.private_key = c->key;
    pair.cert_chain = c->cert;
    return grpc_ssl_credentials_create_ex(c->ca, &pair, NULL, NULL);
}

/* <cert> then <ca>, each ending with a newline, new. */
static char *chain_text(const char *cert, const char *ca)
{
    size_t a = strlen(cert), b = strlen(ca);
    char *s = malloc(a + b + 3), *p = s;

    if (s == NULL)
        return NULL;
    memcpy(p, cert, a);
    p += a;
    if (a == 0 || cert[a - 1] != '\n')
        *p++ = '\n';
    memcpy(p, ca, b);
    p += b;
    if (b == 0 || ca[b - 1] != '\n')
        *p++ = '\n';
    *p = '\0';
    return s;
}

grpc_server_credentials *cm_pki_grpc_server_creds(const struct cm_pki_creds *c)
{
    grpc_ssl_pem_key_cert_pair pair;
    grpc_server_credentials *sc;
    char *chain;

    if (c == NULL || c->ca == NULL || c->cert == NULL || c->key == NULL)
        return NULL;
    chain = chain_text(c->cert, c->ca);
    if (chain == NULL)
        return NULL;
    pair.private_key = c->key;
    pair.cert_chain = chain;
    sc = grpc_ssl_server_credentials_create_ex(
        c->ca, &pair, 1, GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY, NULL);
    free(chain);
    return sc;
}

/* ==== replaceable server certificates ==== */

#define CERTS_VIEWS 8 /* server credentials made from one cm_pki_grpc_certs */

/* What one server credentials object has been handed. */
struct certs_view {
    struct cm_pki_grpc_certs *g;
    uint64_t seen; /* generation; 0: none yet */
};

struct cm_pki_grpc_certs {
    pthread_mutex_t mu;
    struct cm_pki_creds c; /* the chain (cert then CA) in c.cert */
    uint64_t gen;          /* bumped by each set, from 1 */
    struct certs_view views[CERTS_VIEWS];
    int n_views;
};

/* A copy of <c> with the chain in cert, into <out>. */
static int certs_copy(const struct cm_pki_creds *c, struct cm_pki_creds *out)
{
    memset(out, 0, sizeof(*out));
    if (c == NULL || c->ca == NULL || c->cert == NULL || c->key == NULL)
        return GW_EINVAL;
    out->ca = strdup(c->ca);
    out->cert = chain_text(c->cert, c->ca);
    out->key = strdup(c->key);
    if (out->ca == NULL || out->cert == NULL || out->key == NULL) {
        cm_pki_creds_clear(out);
        return GW_ENOMEM;
    }
    return GW_OK;
}

struct cm_pki_grpc_certs *cm_pki_grpc_certs_new(const struct cm_pki_creds *c)
{
    struct cm_pki_grpc_certs *g = calloc(1, sizeof(*g));

    if (g == NULL)
        return NULL;
    if (certs_copy(c, &g->c) != GW_OK ||
        pthread_mutex_init(&g->mu, NULL) != 0) {
        cm_pki_creds_clear(&g->c);
        free(g);
        return NULL;
    }
    g->gen = 1;
    return g;
}

int cm_pki_grpc_certs_set(struct cm_pki_grpc_certs *g,
                          const struct cm_pki_creds *c)
{
    struct cm_pki_creds next, old;
    int rc = certs_copy(c, &next);

    if (rc != GW_OK)
        return rc;
    pthread_mutex_lock(&g->mu);
    old = g->c;
    g->c = next;
    g->gen++;
    pthread_mutex_unlock(&g->mu);
    cm_pki_creds_clear(&old);
    return GW_OK;
}

/* gRPC's config fetcher: called at creation and before each handshake. */
static grpc_ssl_certificate_config_reload_status
certs_fetch(void *arg, grpc_ssl_server_certificate_config **config)
{
    struct certs_view *v = arg;
    struct cm_pki_grpc_certs *g = v->g;
    grpc_ssl_certificate_config_reload_status st =
        GRPC_SSL_CERTIFICATE_CONFIG_RELOAD_UNCHANGED;
    grpc_ssl_pem_key_cert_pair pair;

    pthread_mutex_lock(&g->mu);
    if (v->seen != g->gen) {
        pair.private_key = g->c.key;
        pair.cert_chain = g->c.cert;
        *config = grpc_ssl_server_certificate_config_create(g->c.ca, &pair, 1);
        st = GRPC_SSL_CERTIFICATE_CONFIG_RELOAD_FAIL;
        if (*config != NULL) {
            st = GRPC_SSL_CERTIFICATE_CONFIG_RELOAD_NEW;
            v->seen = g->gen;
        }
    }
    pthread_mutex_unlock(&g->mu);
    return st;
}

grpc_server_credentials *
cm_pki_grpc_certs_server_creds(struct cm_pki_grpc_certs *g)
{
    grpc_ssl_server_credentials_options *o;
    struct certs_view *v = NULL;

    pthread_mutex_lock(&g->mu);
    if (g->n_views < CERTS_VIEWS) {
        v = &g->views[g->n_views++];
        v->g = g;
    }
    pthread_mutex_unlock(&g->mu);
    if (v == NULL)
        return NULL;
    o = grpc_ssl_server_credentials_create_options_using_config_fetcher(
        GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY, certs_fetch, v);
    if (o == NULL)
        return NULL;
    return grpc_ssl_server_credentials_create_with_options(o);
}

void cm_pki_grpc_certs_free(struct cm_pki_grpc_certs *g)
{
    if (g == NULL)
        return;
    pthread_mutex_destroy(&g->mu);
    cm_pki_creds_clear(&g->c);
    free(g);
}

void cm_pki_grpc_target_arg(grpc_arg *arg)
{
    memset(arg, 0, sizeof(*arg));
    arg->type = GRPC_ARG_STRING;
    arg->key = (char *)GRPC_SSL_TARGET_NAME_OVERRIDE_ARG;
    arg->value.string = (char *)CM_PKI_CONTROL_NAME;
}

/* The first value of property <name> of <ctx> as a new string, or NULL. */
static char *auth_property(const grpc_auth_context *ctx, const char *name)
{
    grpc_auth_property_iterator it =
        grpc_auth_context_find_properties_by_name(ctx, name);
    const grpc_auth_property *p = grpc_auth_property_iterator_next(&it);
    char *s;

    if (p == NULL || p->value == NULL)
        return NULL;
    s = malloc(p->value_length + 1);
    if (s != NULL) {
        memcpy(s, p->value, p->value_length);
        s[p->value_length] = '\0';
    }
    return s;
}

enum cm_pki_peer cm_pki_grpc_peer(grpc_call *call,
                                  struct cm_pki_cert_info *info)
{
    grpc_auth_context *ctx = grpc_call_auth_context(call);
    enum cm_pki_peer peer = CM_PKI_PEER_PLAIN;
    char *type, *pem = NULL;

    memset(info, 0, sizeof(*info));
    if (ctx == NULL)
        return CM_PKI_PEER_PLAIN;
    type = auth_property(ctx, GRPC_TRANSPORT_SECURITY_TYPE_PROPERTY_NAME);
    if (type != NULL && strcmp(type, GRPC_SSL_TRANSPORT_SECURITY_TYPE) == 0) {
        peer = CM_PKI_PEER_ANON;
        pem = auth_property(ctx, GRPC_X509_PEM_CERT_PROPERTY_NAME);
        if (pem != NULL && grpc_auth_context_peer_is_authenticated(ctx) &&
            cm_pki_cert_info(pem, info, NULL, 0) == GW_OK)
            peer = CM_PKI_PEER_CERT;
        else
            memset(info, 0, sizeof(*info));
    }
    free(pem);
    free(type);
    grpc_auth_context_release(ctx);
    return peer;
}

int64_t cm_pki_renew_at(int64_t not_before, int64_t not_after)
{
    if (not_after <= not_before)
        return not_before;
    return not_before + (not_after - not_before) / 3 * 2;
}

/* ==== fetching a server's chain ==== */

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int remaining(int64_t deadline)
{
    int64_t r = deadline - now_ms();

    return r < 0 ? 0 : r > 0x7fffffff ? 0x7fffffff : (int)r;
}

/* Resolves "host:port": numeric first, then the resolver (blocking). */
static int resolve(const char *addr, struct sockaddr_storage *ss, socklen_t *sl,
                   char *err, size_t len)
{
    struct addrinfo hints, *res = NULL;
    const char *colon = strrchr(addr, ':');
    char host[256];
    size_t n;
    int rc;

    if (cm_net_parse_addr(addr, ss, NULL, 0) == GW_OK) {
        *sl = ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                        : sizeof(struct sockaddr_in);
        return GW_OK;
    }
    n = colon != NULL ? (size_t)(colon - addr) : 0;
    if (n == 0 || n >= sizeof(host))
        return cm_err_set(err, len, GW_EINVAL, "bad address \"%.64s\"", addr);
    memcpy(host, addr, n);
    host[n] = '\0';
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    rc = getaddrinfo(host, colon + 1, &hints, &res);
    if (rc != 0)
        return cm_err_set(err, len, GW_EINVAL, "%s: %s", addr,
                          gai_strerror(rc));
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *sl = res->ai_addrlen;
    freeaddrinfo(res);
    return GW_OK;
}

/* Waits for <events> on fd until <deadline>: 1 ready, 0 timed out. */
static int wait_fd(int fd, short events, int64_t deadline)
{
    struct pollfd p = {.fd = fd, .events = events};
    int r;

    do {
        r = poll(&p, 1, remaining(deadline));
    } while (r == -1 && errno == EINTR);
    return r > 0;
}

/* A non-blocking socket connected to <addr> before <deadline>. */
static int dial(const char *addr, int64_t deadline, char *err, size_t len)
{
    struct sockaddr_storage ss;
    socklen_t sl = 0, el = sizeof(int);
    int fd, rc, e = 0;

    rc = resolve(addr, &ss, &sl, err, len);
    if (rc != GW_OK)
        return rc;
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd == -1)
        return cm_err_set(err, len, GW_EIO, "socket: %s", strerror(errno));
    if (connect(fd, (struct sockaddr *)&ss, sl) == -1) {
        if (errno != EINPROGRESS)
            e = errno;
        else if (!wait_fd(fd, POLLOUT, deadline))
            e = ETIMEDOUT;
        else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el) == -1)
            e = errno;
    }
    if (e != 0) {
        close(fd);
        return cm_err_set(err, len, GW_EIO, "connect to %s: %s", addr,
                          strerror(e));
    }
    return fd;
}

/* Runs the client handshake on non-blocking <ssl> until <deadline>. */
static int handshake(SSL *ssl, int fd, int64_t deadline, const char *addr,
                     char *err, size_t len)
{
    int r, e;

    for (;;) {
        r = SSL_do_handshake(ssl);
        if (r == 1)
            return GW_OK;
        e = SSL_get_error(ssl, r);
        if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
            char buf[160] = "connection closed";
            unsigned long le = ERR_peek_last_error();

            if (le != 0)
                ERR_error_string_n(le, buf, sizeof(buf));
            ERR_clear_error();
            return cm_err_set(err, len, GW_EPROTO, "TLS handshake with %s: %s",
                              addr, buf);
        }
        if (!wait_fd(fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline))
            return cm_err_set(err, len, GW_EIO,
                              "TLS handshake with %s: timed out", addr);
    }
}

static SSL_CTX *client_ctx(void)
{
    static const unsigned char alpn[] = {2, 'h', '2'};
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

    if (ctx == NULL)
        return NULL;
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
        SSL_CTX_set_alpn_protos(ctx, alpn, sizeof(alpn)) != 0) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

/* The peer's chain (leaf first) as PEM, new in *out. */
static int chain_pem(SSL *ssl, char **out)
{
    STACK_OF(X509) *chain = SSL_get_peer_cert_chain(ssl);
    BIO *b = BIO_new(BIO_s_mem());
    char *data;
    long n;
    int i, ok = b != NULL && chain != NULL && sk_X509_num(chain) > 0;

    for (i = 0; ok && i < sk_X509_num(chain); i++)
        ok = PEM_write_bio_X509(b, sk_X509_value(chain, i)) == 1;
    if (ok) {
        n = BIO_get_mem_data(b, &data);
        *out = malloc((size_t)n + 1);
        ok = *out != NULL;
        if (ok) {
            memcpy(*out, data, (size_t)n);
            (*out)[n] = '\0';
        }
    }
    BIO_free(b);
    return ok ? GW_OK : GW_EPROTO;
}

/* SIGPIPE blocked for this thread while a TLS socket is written to (the
 * server may close first: the write fails with EPIPE instead of killing the
 * process); one raised meanwhile is consumed before the mask is restored. */
struct pipe_guard {
    sigset_t old;
    bool was_pending, blocked;
};

static void pipe_guard_on(struct pipe_guard *g)
{
    sigset_t set, pending;

    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    sigemptyset(&pending);
    (void)sigpending(&pending);
    g->was_pending = sigismember(&pending, SIGPIPE) == 1;
    g->blocked = pthread_sigmask(SIG_BLOCK, &set, &g->old) == 0;
}

static void pipe_guard_off(struct pipe_guard *g)
{
    static const struct timespec zero = {0, 0};
    sigset_t set, pending;

    if (!g->blocked)
        return;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    sigemptyset(&pending);
    if (!g->was_pending && sigpending(&pending) == 0 &&
        sigismember(&pending, SIGPIPE) == 1)
        while (sigtimedwait(&set, NULL, &zero) == -1 && errno == EINTR)
            ;
    (void)pthread_sigmask(SIG_SETMASK, &g->old, NULL);
}

static int fetch_tls(int fd, const char *addr, int64_t deadline, char **out,
                     char *err, size_t len)
{
    SSL_CTX *ctx = client_ctx();
    SSL *ssl = ctx != NULL ? SSL_new(ctx) : NULL;
    int rc;

    if (ssl == NULL || SSL_set_fd(ssl, fd) != 1 ||
        SSL_set_tlsext_host_name(ssl, CM_PKI_CONTROL_NAME) != 1) {
        ERR_clear_error();
        rc = cm_err_set(err, len, GW_ENOMEM, "could not set up TLS");
        goto done;
    }
    SSL_set_connect_state(ssl);
    rc = handshake(ssl, fd, deadline, addr, err, len);
    if (rc == GW_OK && chain_pem(ssl, out) != GW_OK)
        rc = cm_err_set(err, len, GW_EPROTO, "%s presented no certificate",
                        addr);
done:
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    return rc;
}

int cm_pki_fetch_chain(const char *addr, int timeout_ms, char **out, char *err,
                       size_t len)
{
    int64_t deadline = now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    struct pipe_guard g;
    int fd, rc;

    *out = NULL;
    fd = dial(addr, deadline, err, len);
    if (fd < 0)
        return fd;
    pipe_guard_on(&g);
    rc = fetch_tls(fd, addr, deadline, out, err, len);
    pipe_guard_off(&g);
    close(fd);
    return rc;
}

/* No PEM passwords (OpenSSL's default callback prompts on the terminal). */
static int no_password(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return -1;
}

int cm_pki_chain_find(const char *chain, const char *fp, char **out, char *err,
                      size_t len)
{
    BIO *b = BIO_new_mem_buf(chain, -1), *o;
    char got[CM_PKI_FP_HEX];
    X509 *x;
    int rc = GW_ENOENT;

    *out = NULL;
    if (b == NULL)
        return cm_err_set(err, len, GW_ENOMEM, "out of memory");
    while (rc == GW_ENOENT &&
           (x = PEM_read_bio_X509(b, NULL, no_password, NULL)) != NULL) {
        o = BIO_new(BIO_s_mem());
        if (o != NULL && PEM_write_bio_X509(o, x) == 1 &&
            BIO_write(o, "", 1) == 1) {
            char *data;
            long n = BIO_get_mem_data(o, &data);

            if (cm_pki_fingerprint(data, got, NULL, 0) == GW_OK &&
                strlen(fp) == 64 && strcasecmp(got, fp) == 0) {
                *out = strndup(data, (size_t)n);
                rc = *out != NULL ? GW_OK : GW_ENOMEM;
            }
        }
        BIO_free(o);
        X509_free(x);
    }
    BIO_free(b);
    ERR_clear_error();
    if (rc == GW_ENOENT)
        return cm_err_set(err, len, rc, "no certificate with fingerprint %.64s",
                          fp);
    return rc;
}

/* ==== unary calls ==== */

struct unary_reply {
    grpc_status_code status;
    char details[256];
    uint8_t *data;
    size_t len;
};

static const char *status_name(grpc_status_code s)
{
    static const char *const names[] = {
        "OK",
        "CANCELLED",
        "UNKNOWN",
        "INVALID_ARGUMENT",
        "DEADLINE_EXCEEDED",
        "NOT_FOUND",
        "ALREADY_EXISTS",
        "PERMISSION_DENIED",
        "RESOURCE_EXHAUSTED",
        "FAILED_PRECONDITION",
        "ABORTED",
        "OUT_OF_RANGE",
        "UNIMPLEMENTED",
        "INTERNAL",
        "UNAVAILABLE",
        "DATA_LOSS",
        "UNAUTHENTICATED",
    };

    if ((unsigned)s < sizeof(names) / sizeof(names[0]))
        return names[s];
    return "UNKNOWN";
}

static int flatten(grpc_byte_buffer *bb, struct unary_reply *r)
{
    grpc_byte_buffer_reader rd;
    grpc_slice s;

    if (!grpc_byte_buffer_reader_init(&rd, bb))
        return GW_EPROTO;
    s = grpc_byte_buffer_reader_readall(&rd);
    grpc_byte_buffer_reader_destroy(&rd);
    r->len = GRPC_SLICE_LENGTH(s);
    r->data = malloc(r->len + 1);
    if (r->data != NULL)
        memcpy(r->data, GRPC_SLICE_START_PTR(s), r->len);
    grpc_slice_unref(s);
    return r->data != NULL ? GW_OK : GW_ENOMEM;
}

static void drain_cq(grpc_completion_queue *cq)
{
    grpc_completion_queue_shutdown(cq);
    while (
        grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL)
            .type != GRPC_QUEUE_SHUTDOWN)
        ;
    grpc_completion_queue_destroy(cq);
}

grpc_channel *cm_pki_grpc_channel(const char *target,
                                  const struct cm_pki_creds *c)
{
    grpc_channel_credentials *creds;
    grpc_channel_args args = {0, NULL};
    grpc_arg name;
    grpc_channel *ch;

    if (c == NULL) {
        creds = grpc_insecure_credentials_create();
    } else {
        creds = cm_pki_grpc_creds(c);
        cm_pki_grpc_target_arg(&name);
        args.num_args = 1;
        args.args = &name;
    }
    if (creds == NULL)
        return NULL;
    ch = grpc_channel_create(target, creds, c != NULL ? &args : NULL);
    grpc_channel_credentials_release(creds);
    return ch;
}

static void copy_slice(char *dst, size_t cap, grpc_slice s)
{
    size_t n = GRPC_SLICE_LENGTH(s);

    if (n >= cap)
        n = cap - 1;
    memcpy(dst, GRPC_SLICE_START_PTR(s), n);
    dst[n] = '\0';
}

/* Runs the six ops of a unary call on <call> and waits for them (the
 * call's deadline bounds the wait). */
static void unary_ops(grpc_call *call, grpc_completion_queue *cq,
                      grpc_byte_buffer *send, grpc_status_code *status,
                      grpc_slice *details, grpc_byte_buffer **recv)
{
    grpc_metadata_array md, trailers;
    grpc_op ops[6];

    grpc_metadata_array_init(&md);
    grpc_metadata_array_init(&trailers);
    memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = send;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &md;
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = recv;
    ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[5].data.recv_status_on_client.trailing_metadata = &trailers;
    ops[5].data.recv_status_on_client.status = status;
    ops[5].data.recv_status_on_client.status_details = details;
    if (grpc_call_start_batch(call, ops, 6, ops, NULL) != GRPC_CALL_OK) {
        *status = GRPC_STATUS_INTERNAL;
        grpc_slice_unref(*details);
        *details = grpc_slice_from_static_string("could not start the call");
    } else {
        (void)grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_REALTIME),
                                         NULL);
    }
    grpc_metadata_array_destroy(&md);
    grpc_metadata_array_destroy(&trailers);
}

void cm_pki_grpc_unary(grpc_channel *ch, const char *method,
                       grpc_byte_buffer *send, unsigned timeout_ms,
                       grpc_status_code *status, char *details, size_t dlen,
                       grpc_byte_buffer **recv)
{
    grpc_completion_queue *cq = grpc_completion_queue_create_for_next(NULL);
    grpc_slice m = grpc_slice_from_copied_string(method);
    grpc_slice d = grpc_empty_slice();
    grpc_call *call = grpc_channel_create_call(
        ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq, m, NULL,
        gpr_time_add(gpr_now(GPR_CLOCK_REALTIME),
                     gpr_time_from_millis(timeout_ms, GPR_TIMESPAN)),
        NULL);

    grpc_slice_unref(m);
    *recv = NULL;
    unary_ops(call, cq, send, status, &d, recv);
    copy_slice(details, dlen, d);
    grpc_slice_unref(d);
    grpc_call_unref(call);
    drain_cq(cq);
}

/* One unary call of <method> on <addr> over TLS with <creds> (the control
 * name checked), bounded by <deadline> (monotonic ms). */
static void unary(const char *addr, const struct cm_pki_creds *creds,
                  const char *method, const uint8_t *req, size_t n,
                  int64_t deadline, struct unary_reply *r)
{
    grpc_slice s = grpc_slice_from_copied_buffer((const char *)req, n);
    grpc_byte_buffer *send = grpc_raw_byte_buffer_create(&s, 1), *recv;
    grpc_channel *ch;

    grpc_slice_unref(s);
    memset(r, 0, sizeof(*r));
    grpc_init();
    ch = cm_pki_grpc_channel(addr, creds);
    if (ch == NULL || send == NULL) {
        r->status = GRPC_STATUS_INTERNAL;
        snprintf(r->details, sizeof(r->details), "bad credentials");
    } else {
        cm_pki_grpc_unary(ch, method, send, (unsigned)remaining(deadline),
                          &r->status, r->details, sizeof(r->details), &recv);
        if (r->status == GRPC_STATUS_OK && recv == NULL)
            r->status = GRPC_STATUS_INTERNAL;
        if (r->status == GRPC_STATUS_OK && flatten(recv, r) != GW_OK)
            r->status = GRPC_STATUS_RESOURCE_EXHAUSTED;
        if (recv != NULL)
            grpc_byte_buffer_destroy(recv);
    }
    if (ch != NULL)
        grpc_channel_destroy(ch);
    if (send != NULL)
        grpc_byte_buffer_destroy(send);
    grpc_shutdown();
}

/* The error text of a failed call: "join refused by A: STATUS: details". */
static int call_error(const char *what, const char *addr,
                      const struct unary_reply *r, char *err, size_t len)
{
    if (r->status == GRPC_STATUS_UNAVAILABLE ||
        r->status == GRPC_STATUS_DEADLINE_EXCEEDED)
        return cm_err_set(err, len, GW_EIO, "%s: no answer from %s: %s: %s",
                          what, addr, status_name(r->status), r->details);
    return cm_err_set(err, len, GW_EPROTO, "%s refused by %s: %s: %s", what,
                      addr, status_name(r->status), r->details);
}

/* ==== joining and renewing ==== */

/* Checks a certificate a server returned for <key> (ours): it verifies
 * against <ca>, carries <key>'s public key, and has <role> and <id>. */
static int check_issued(const char *ca, const char *cert, const char *key,
                        enum cm_pki_role role, const char *id, char *err,
                        size_t len)
{
    struct cm_pki_cert_info info;
    char why[CM_ERR_LEN];

    if (cm_pki_verify(ca, cert, (int64_t)time(NULL), why, sizeof(why)) != GW_OK)
        return cm_err_set(err, len, GW_EPROTO, "returned certificate: %s", why);
    if (!cm_pki_key_matches(cert, key))
        return cm_err_set(err, len, GW_EPROTO,
                          "returned certificate is not for our key");
    if (cm_pki_cert_info(cert, &info, why, sizeof(why)) != GW_OK)
        return cm_err_set(err, len, GW_EPROTO, "returned certificate: %s", why);
    if (info.role != role || strcmp(info.id, id) != 0)
        return cm_err_set(
            err, len, GW_EPROTO, "returned certificate is for %s %s, not %s %s",
            cm_pki_role_name(info.role), info.id, cm_pki_role_name(role), id);
    return GW_OK;
}

/* A new key and a CSR for it (CN <id>). */
static int key_and_csr(const char *id, char **key, char **csr, char *err,
                       size_t len)
{
    int rc = cm_pki_key_new(key, err, len);

    *csr = NULL;
    if (rc == GW_OK)
        rc = cm_pki_csr_new(*key, id, csr, err, len);
    return rc;
}

static void free_key(char **key)
{
    struct cm_pki_creds c = {.key = *key};

    cm_pki_creds_clear(&c);
    *key = NULL;
}

static char *dup_or_empty(const char *s)
{
    return strdup(s != NULL ? s : "");
}

struct join_ctx {
    const struct cm_pki_token *token;
    const char *node_id;
    struct cm_pki_creds *out;
    char **cluster_key, **redis_password;
};

/* Sends the Join request; keeps what it returns in <j> on success. */
static int join_call(const char *addr, const char *ca, const char *csr,
                     const char *key, const char *token_text,
                     struct join_ctx *j, int64_t deadline, char *err,
                     size_t len)
{
    Traefikee__V1__JoinRequest req = TRAEFIKEE__V1__JOIN_REQUEST__INIT;
    Traefikee__V1__JoinResponse *resp;
    struct cm_pki_creds trust = {.ca = (char *)ca};
    struct unary_reply r;
    size_t n;
    uint8_t *buf;
    int rc;

    req.token = (char *)token_text;
    req.node_id = (char *)j->node_id;
    req.csr_pem = (char *)csr;
    n = traefikee__v1__join_request__get_packed_size(&req);
    buf = malloc(n + 1);
    if (buf == NULL)
        return cm_err_set(err, len, GW_ENOMEM, "out of memory");
    traefikee__v1__join_request__pack(&req, buf);
    unary(addr, &trust, METHOD_JOIN, buf, n, deadline, &r);
    OPENSSL_cleanse(buf, n);
    free(buf);
    if (r.status != GRPC_STATUS_OK)
        return call_error("join", addr, &r, err, len);
    resp = traefikee__v1__join_response__unpack(NULL, r.len, r.data);
    OPENSSL_cleanse(r.data, r.len);
    free(r.data);
    if (resp == NULL)
        return cm_err_set(err, len, GW_EPROTO, "join: bad answer from %s",
                          addr);
    rc = check_issued(ca, resp->cert_pem, key, j->token->role, j->node_id, err,
                      len);
    if (rc == GW_OK) {
        j->out->cert = strdup(resp->cert_pem);
        if (j->cluster_key != NULL)
            *j->cluster_key = dup_or_empty(resp->cluster_key);
        if (j->redis_password != NULL)
            *j->redis_password = dup_or_empty(resp->redis_password);
    }
    if (resp->cluster_key != NULL)
        OPENSSL_cleanse(resp->cluster_key, strlen(resp->cluster_key));
    if (resp->redis_password != NULL)
        OPENSSL_cleanse(resp->redis_password, strlen(resp->redis_password));
    traefikee__v1__join_response__free_unpacked(resp, NULL);
    return rc;
}

/* One attempt at <addr>: fetch and check the CA, then Join. */
static int join_one(const char *addr, const char *token_text,
                    struct join_ctx *j, int timeout_ms, char *err, size_t len)
{
    int64_t deadline = now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    char *chain = NULL, *ca = NULL, *key = NULL, *csr = NULL;
    int rc;

    rc = cm_pki_fetch_chain(addr, timeout_ms, &chain, err, len);
    if (rc == GW_OK &&
        cm_pki_chain_find(chain, j->token->ca_fp, &ca, NULL, 0) != GW_OK)
        rc = cm_err_set(err, len, GW_EPROTO,
                        "join: %s does not present the CA of this token", addr);
    if (rc == GW_OK)
        rc = key_and_csr(j->node_id, &key, &csr, err, len);
    if (rc == GW_OK)
        rc = join_call(addr, ca, csr, key, token_text, j, deadline, err, len);
    if (rc == GW_OK && j->out->cert == NULL)
        rc = cm_err_set(err, len, GW_ENOMEM, "out of memory");
    if (rc == GW_OK) {
        j->out->ca = ca;
        j->out->key = key;
        ca = key = NULL;
    }
    free(chain);
    free(ca);
    free(csr);
    free_key(&key);
    return rc;
}

/* Calls fn for each address of the comma-separated <addrs> until one
 * succeeds; the last error is kept. */
static int each_addr(const char *addrs, char *err, size_t len,
                     int (*fn)(const char *addr, void *arg, char *err,
                               size_t len),
                     void *arg)
{
    const char *p = addrs, *comma;
    int rc = cm_err_set(err, len, GW_EINVAL, "no address");
    char addr[CM_NET_ADDRSTRLEN + 192];
    size_t n;

    while (p != NULL && *p != '\0') {
        comma = strchr(p, ',');
        n = comma != NULL ? (size_t)(comma - p) : strlen(p);
        while (n > 0 && *p == ' ')
            p++, n--;
        while (n > 0 && p[n - 1] == ' ')
            n--;
        if (n > 0 && n < sizeof(addr)) {
            memcpy(addr, p, n);
            addr[n] = '\0';
            rc = fn(addr, arg, err, len);
            if (rc == GW_OK)
                return GW_OK;
        }
        p = comma != NULL ? comma + 1 : NULL;
    }
    return rc;
}

struct join_run {
    struct join_ctx *j;
    const char *token_text;
    int timeout_ms;
};

static int join_fn(const char *addr, void *arg, char *err, size_t len)
{
    struct join_run *run = arg;

    return join_one(addr, run->token_text, run->j, run->timeout_ms, err, len);
}

int cm_pki_join(const char *addrs, const char *token_text, const char *node_id,
                int timeout_ms, struct cm_pki_creds *out, char **cluster_key,
                char **redis_password, char *err, size_t len)
{
    struct cm_pki_token token;
    struct join_ctx j = {&token, node_id, out, cluster_key, redis_password};
    struct join_run run = {&j, token_text, timeout_ms};
    int rc;

    memset(out, 0, sizeof(*out));
    if (cluster_key != NULL)
        *cluster_key = NULL;
    if (redis_password != NULL)
        *redis_password = NULL;
    rc = cm_pki_token_parse(token_text, &token, err, len);
    if (rc != GW_OK)
        return rc;
    if (node_id == NULL || node_id[0] == '\0' ||
        strlen(node_id) >= CM_PKI_ID_MAX)
        return cm_err_set(err, len, GW_EINVAL, "join: bad node id");
    rc = each_addr(addrs, err, len, join_fn, &run);
    OPENSSL_cleanse(&token, sizeof(token));
    if (rc != GW_OK)
        cm_pki_creds_clear(out);
    return rc;
}

struct renew_run {
    struct cm_pki_creds *c;
    struct cm_pki_cert_info info;
    int timeout_ms;
};

/* Sends the Renew request for <csr>; the new cert and CA in *cert, *ca. */
static int renew_call(const char *addr, struct renew_run *run, const char *csr,
                      int64_t deadline, char **cert, char **ca, char *err,
                      size_t len)
{
    Traefikee__V1__RenewRequest req = TRAEFIKEE__V1__RENEW_REQUEST__INIT;
    Traefikee__V1__RenewResponse *resp;
    struct unary_reply r;
    uint8_t *buf;
    size_t n;

    req.csr_pem = (char *)csr;
    n = traefikee__v1__renew_request__get_packed_size(&req);
    buf = malloc(n + 1);
    if (buf == NULL)
        return cm_err_set(err, len, GW_ENOMEM, "out of memory");
    traefikee__v1__renew_request__pack(&req, buf);
    unary(addr, run->c, METHOD_RENEW, buf, n, deadline, &r);
    free(buf);
    if (r.status != GRPC_STATUS_OK)
        return call_error("renewal", addr, &r, err, len);
    resp = traefikee__v1__renew_response__unpack(NULL, r.len, r.data);
    free(r.data);
    if (resp == NULL)
        return cm_err_set(err, len, GW_EPROTO, "renewal: bad answer from %s",
                          addr);
    *cert = strdup(resp->cert_pem);
    *ca = strdup(resp->ca_pem != NULL && resp->ca_pem[0] != '\0' ? resp->ca_pem
                                                                 : run->c->ca);
    traefikee__v1__renew_response__free_unpacked(resp, NULL);
    if (*cert == NULL || *ca == NULL)
        return cm_err_set(err, len, GW_ENOMEM, "out of memory");
    return GW_OK;
}

static int renew_fn(const char *addr, void *arg, char *err, size_t len)
{
    struct renew_run *run = arg;
    int64_t deadline = now_ms() + (run->timeout_ms > 0 ? run->timeout_ms : 0);
    char *key = NULL, *csr = NULL, *cert = NULL, *ca = NULL;
    int rc;

    rc = key_and_csr(run->info.id, &key, &csr, err, len);
    if (rc == GW_OK)
        rc = renew_call(addr, run, csr, deadline, &cert, &ca, err, len);
    if (rc == GW_OK)
        rc =
            check_issued(ca, cert, key, run->info.role, run->info.id, err, len);
    if (rc == GW_OK) {
        cm_pki_creds_clear(run->c);
        run->c->ca = ca;
        run->c->cert = cert;
        run->c->key = key;
        ca = cert = key = NULL;
    }
    free(ca);
    free(cert);
    free(csr);
    free_key(&key);
    return rc;
}

int cm_pki_renew(const char *addrs, int timeout_ms, struct cm_pki_creds *c,
                 char *err, size_t len)
{
    struct renew_run run = {.c = c, .timeout_ms = timeout_ms};
    int rc;

    if (c == NULL || c->ca == NULL || c->cert == NULL || c->key == NULL)
        return cm_err_set(err, len, GW_EINVAL, "renewal: no credentials");
    rc = cm_pki_cert_info(c->cert, &run.info, err, len);
    if (rc != GW_OK)
        return rc;
    return each_addr(addrs, err, len, renew_fn, &run);
}
