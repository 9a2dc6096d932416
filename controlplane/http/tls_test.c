/*
 * tls_test.c -- the HTTP server over HTTPS: a real server on 127.0.0.1 (its
 * loop on a thread) and blocking OpenSSL clients. Certificates are made at
 * test time (a CA and two leaves for "localhost"). Checks requests,
 * keep-alive and pipelining, the Secure cookie, an event stream and its
 * end when its session does (logout, new admin hash), TLS 1.1
 * refused, garbage and plain HTTP closed at once, a stalled handshake
 * closed at the head timeout while others are served, rotation (new
 * connections get the new certificate, old ones go on), bad PEM refused,
 * and plain HTTP again after cp_http_set_tls(NULL).
 */
#define _GNU_SOURCE /* strcasestr */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "common/err/err.h"
#include "controlplane/auth/auth.h"
#include "controlplane/http/http.h"

#define PASSWORD "s3cret-pass"
#define BASIC    "Authorization: Basic YWRtaW46czNjcmV0LXBhc3M=\r\n"

struct pem {
    char *chain; /* leaf, CA */
    char *key;
};

struct fx {
    uv_loop_t loop;
    uv_async_t stop;
    pthread_t th;
    struct cp_http *srv;
    int port;
    char hash[CP_AUTH_HASH_MAX];
    X509 *ca;
    EVP_PKEY *ca_key;
    struct pem a, b;
};

/* ==== certificates ==== */

static char *pem_of(X509 *x, X509 *x2, EVP_PKEY *k)
{
    BIO *b = BIO_new(BIO_s_mem());
    BUF_MEM *m;
    char *s;

    assert_non_null(b);
    if (x != NULL)
        assert_int_equal(PEM_write_bio_X509(b, x), 1);
    if (x2 != NULL)
        assert_int_equal(PEM_write_bio_X509(b, x2), 1);
    if (k != NULL)
        assert_int_equal(
            PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL), 1);
    BIO_get_mem_ptr(b, &m);
    s = strndup(m->data, m->length);
    BIO_free(b);
    assert_non_null(s);
    return s;
}

static void add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX v;
    X509_EXTENSION *e;

    X509V3_set_ctx(&v, issuer, x, NULL, NULL, 0);
    e = X509V3_EXT_conf_nid(NULL, &v, nid, value);
    assert_non_null(e);
    X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
}

/* A certificate for <cn> with key <k>, signed by <issuer>/<ik> (itself
 * when NULL). */
static X509 *cert_make(const char *cn, EVP_PKEY *k, X509 *issuer, EVP_PKEY *ik,
                       long serial)
{
    X509 *x = X509_new();

    assert_non_null(x);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                               (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, X509_get_subject_name(issuer ? issuer : x));
    X509_set_pubkey(x, k);
    if (issuer == NULL) {
        add_ext(x, x, NID_basic_constraints, "critical,CA:TRUE");
        add_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign");
    } else {
        add_ext(x, issuer, NID_basic_constraints, "critical,CA:FALSE");
        add_ext(x, issuer, NID_ext_key_usage, "serverAuth");
        add_ext(x, issuer, NID_subject_alt_name,
                "DNS:localhost,DNS:traefikee-control,IP:127.0.0.1");
    }
    assert_true(X509_sign(x, ik ? ik : k, EVP_sha256()) > 0);
    return x;
}

static void leaf_make(struct fx *f, struct pem *p, const char *cn, long serial)
{
    EVP_PKEY *k = EVP_EC_gen("P-256");
    X509 *x;

    assert_non_null(k);
    x = cert_make(cn, k, f->ca, f->ca_key, serial);
    p->chain = pem_of(x, f->ca, NULL);
    p->key = pem_of(NULL, NULL, k);
    X509_free(x);
    EVP_PKEY_free(k);
}

/* ==== the server and its loop thread ==== */

static size_t src_nodes(void *arg, const struct cp_http_node **out)
{
    (void)arg;
    *out = NULL;
    return 0;
}

static const char *src_config(void *arg, uint64_t *rev)
{
    (void)arg;
    *rev = 0;
    return NULL;
}

static size_t src_revisions(void *arg, const struct cp_http_revision **out)
{
    (void)arg;
    *out = NULL;
    return 0;
}

static const char *src_hash(void *arg)
{
    return ((struct fx *)arg)->hash;
}

static void on_stop(uv_async_t *a)
{
    uv_stop(a->loop);
}

static void *run(void *arg)
{
    uv_run(&((struct fx *)arg)->loop, UV_RUN_DEFAULT);
    return NULL;
}

static void loop_resume(struct fx *f)
{
    assert_int_equal(pthread_create(&f->th, NULL, run, f), 0);
}

/* Stops the loop thread: the test thread may then act as the loop's. */
static void loop_pause(struct fx *f)
{
    uv_async_send(&f->stop);
    pthread_join(f->th, NULL);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    struct cp_auth_params kdf = {
        .alg = CP_AUTH_SCRYPT, .log2_n = 10, .r = 8, .p = 1};
    struct cp_http_config cfg = {
        .addr = "127.0.0.1:0", .node_id = "c1", .sample_ms = 200};
    struct cp_http_source src = {.nodes = src_nodes,
                                 .config = src_config,
                                 .revisions = src_revisions,
                                 .admin_hash = src_hash};
    char err[CM_ERR_LEN];

    assert_non_null(f);
    assert_int_equal(cp_auth_hash(PASSWORD, &kdf, f->hash, sizeof(f->hash)), 0);
    f->ca_key = EVP_EC_gen("P-256");
    assert_non_null(f->ca_key);
    f->ca = cert_make("test CA", f->ca_key, NULL, NULL, 1);
    leaf_make(f, &f->a, "cert-a", 2);
    leaf_make(f, &f->b, "cert-b", 3);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    uv_async_init(&f->loop, &f->stop, on_stop);
    cfg.loop = &f->loop;
    src.arg = f;
    f->srv = cp_http_new(&cfg, &src, err, sizeof(err));
    assert_non_null(f->srv);
    f->port = cp_http_port(f->srv);
    assert_int_equal(
        cp_http_set_tls(f->srv, f->a.chain, f->a.key, err, sizeof(err)), 0);
    loop_resume(f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;

    loop_pause(f);
    cp_http_close(f->srv);
    uv_close((uv_handle_t *)&f->stop, NULL);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    X509_free(f->ca);
    EVP_PKEY_free(f->ca_key);
    free(f->a.chain), free(f->a.key), free(f->b.chain), free(f->b.key);
    free(f);
    return 0;
}

/* ==== clients ==== */

struct cli {
    int fd;
    SSL_CTX *ctx;
    SSL *ssl; /* NULL: plain */
};

static int tcp_connect(int port, int timeout_s)
{
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port)};
    struct timeval tv = {.tv_sec = timeout_s};
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    assert_true(fd >= 0);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    return fd;
}

/* A client context trusting the test CA; <max> 0: any version. */
static SSL_CTX *cli_ctx(struct fx *f, int max)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

    assert_non_null(ctx);
    X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), f->ca);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_alpn_protos(ctx, (const unsigned char *)"\x02h2\x08http/1.1",
                            12);
    if (max != 0) {
        /* let this client offer old versions at all */
        SSL_CTX_set_security_level(ctx, 0);
        SSL_CTX_set_cipher_list(ctx, "DEFAULT:@SECLEVEL=0");
        SSL_CTX_set_min_proto_version(ctx, TLS1_VERSION);
        SSL_CTX_set_max_proto_version(ctx, max);
    }
    return ctx;
}

/* Opens a TLS connection checking the name "localhost": 1 on success. */
static int cli_open_v(struct fx *f, struct cli *c, int max)
{
    c->fd = tcp_connect(f->port, 5);
    c->ctx = cli_ctx(f, max);
    c->ssl = SSL_new(c->ctx);
    assert_non_null(c->ssl);
    SSL_set1_host(c->ssl, "localhost");
    SSL_set_tlsext_host_name(c->ssl, "localhost");
    SSL_set_fd(c->ssl, c->fd);
    return SSL_connect(c->ssl);
}

static void cli_open(struct fx *f, struct cli *c)
{
    assert_int_equal(cli_open_v(f, c, 0), 1);
}

static void cli_close(struct cli *c)
{
    SSL_free(c->ssl);
    SSL_CTX_free(c->ctx);
    close(c->fd);
    memset(c, 0, sizeof(*c));
}

static void cli_write(struct cli *c, const char *s)
{
    size_t n = strlen(s);

    if (c->ssl != NULL)
        assert_int_equal(SSL_write(c->ssl, s, (int)n), (int)n);
    else
        assert_int_equal(write(c->fd, s, n), (ssize_t)n);
}

/* Reads once: the count, 0 at EOF, -1 on an error or timeout. */
static int cli_read(struct cli *c, char *p, size_t cap)
{
    if (c->ssl != NULL) {
        int r = SSL_read(c->ssl, p, (int)cap);
        if (r > 0)
            return r;
        return SSL_get_error(c->ssl, r) == SSL_ERROR_ZERO_RETURN ? 0 : -1;
    }
    return (int)read(c->fd, p, cap);
}

/* Reads one response (head and Content-Length body) into <out> (NUL
 * terminated); returns its status. The server sends nothing unasked, so
 * no byte of the next response is read. */
static int read_response(struct cli *c, char *out, size_t cap)
{
    size_t len = 0;
    const char *end, *cl;

    for (;;) {
        int r;
        out[len] = '\0';
        if ((end = strstr(out, "\r\n\r\n")) != NULL &&
            (cl = strcasestr(out, "Content-Length: ")) != NULL &&
            len >= (size_t)(end + 4 - out) + strtoul(cl + 16, NULL, 10))
            break;
        r = cli_read(c, out + len, cap - 1 - len);
        assert_true(r > 0);
        len += (size_t)r;
    }
    return atoi(out + 9);
}

static int get(struct cli *c, const char *path, char *out, size_t cap)
{
    char req[256];

    snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n",
             path);
    cli_write(c, req);
    return read_response(c, out, cap);
}

static void peer_cn(struct cli *c, char *cn, size_t len)
{
    X509 *x = SSL_get1_peer_certificate(c->ssl);

    assert_non_null(x);
    assert_true(X509_NAME_get_text_by_NID(X509_get_subject_name(x),
                                          NID_commonName, cn, (int)len) > 0);
    X509_free(x);
}

/* The server ends a connection: EOF or reset, not a timeout. */
static void assert_closed_by_peer(int fd)
{
    char buf[256];
    ssize_t r;

    while ((r = read(fd, buf, sizeof(buf))) > 0)
        ; /* an alert may come first */
    assert_true(r == 0 || errno == ECONNRESET);
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ==== tests ==== */

static void test_https_get(void **state)
{
    struct fx *f = *state;
    struct cli c;
    char buf[4096], cn[64];
    const unsigned char *alpn;
    unsigned alen;

    cli_open(f, &c);
    assert_int_equal(SSL_get_verify_result(c.ssl), X509_V_OK);
    SSL_get0_alpn_selected(c.ssl, &alpn, &alen);
    assert_int_equal(alen, 8);
    assert_memory_equal(alpn, "http/1.1", 8);
    peer_cn(&c, cn, sizeof(cn));
    assert_string_equal(cn, "cert-a");
    assert_int_equal(get(&c, "/ping", buf, sizeof(buf)), 200);
    assert_non_null(strstr(buf, "\r\n\r\nOK"));
    /* keep-alive: a second request on the same connection */
    assert_int_equal(get(&c, "/api/version", buf, sizeof(buf)), 401);
    /* two pipelined requests in one record */
    cli_write(&c, "GET /ping HTTP/1.1\r\nHost: x\r\n\r\n"
                  "GET /ping HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_int_equal(read_response(&c, buf, sizeof(buf)), 200);
    assert_int_equal(read_response(&c, buf, sizeof(buf)), 200);
    cli_close(&c);
}

static void test_auth_and_cookie(void **state)
{
    struct fx *f = *state;
    struct cli c;
    char buf[8192];
    static const char body[] = "user=admin&password=" PASSWORD;
    char req[512];

    cli_open(f, &c);
    cli_write(&c, "GET /api/overview HTTP/1.1\r\nHost: x\r\n" BASIC "\r\n");
    assert_int_equal(read_response(&c, buf, sizeof(buf)), 200);
    snprintf(req, sizeof(req),
             "POST /api/login HTTP/1.1\r\nHost: x\r\nContent-Type: "
             "application/x-www-form-urlencoded\r\nContent-Length: %zu\r\n\r\n"
             "%s",
             sizeof(body) - 1, body);
    cli_write(&c, req);
    assert_int_equal(read_response(&c, buf, sizeof(buf)), 303);
    assert_non_null(strstr(buf, "Set-Cookie: traefikee_session="));
    assert_non_null(strstr(buf, "; Secure\r\n"));
    cli_close(&c);
}

static void test_sse(void **state)
{
    struct fx *f = *state;
    struct cli c;
    char buf[16384] = "";
    size_t len = 0;

    cli_open(f, &c);
    cli_write(&c, "GET /api/events HTTP/1.1\r\nHost: x\r\n" BASIC "\r\n");
    while (strstr(buf, "event: sample") == NULL) {
        int r = cli_read(&c, buf + len, sizeof(buf) - 1 - len);
        assert_true(r > 0);
        len += (size_t)r;
        buf[len] = '\0';
    }
    assert_memory_equal(buf, "HTTP/1.1 200", 12);
    assert_non_null(strstr(buf, "Content-Type: text/event-stream"));
    assert_non_null(strstr(buf, "event: hello"));
    cli_close(&c);
}

/* ==== event streams and sessions ==== */

/* Logs in with <password> on a connection of its own; the session token
 * into <tok>. */
static void login_cookie(struct fx *f, const char *password, char *tok,
                         size_t cap)
{
    struct cli c;
    char body[128], req[512], buf[8192];
    const char *p;

    snprintf(body, sizeof(body), "user=admin&password=%s", password);
    snprintf(req, sizeof(req),
             "POST /api/login HTTP/1.1\r\nHost: x\r\nContent-Type: "
             "application/x-www-form-urlencoded\r\nContent-Length: %zu\r\n\r\n"
             "%s",
             strlen(body), body);
    cli_open(f, &c);
    cli_write(&c, req);
    assert_int_equal(read_response(&c, buf, sizeof(buf)), 303);
    p = strstr(buf, "traefikee_session=");
    assert_non_null(p);
    p += 18;
    snprintf(tok, cap, "%.*s", (int)strcspn(p, ";\r"), p);
    assert_true(strlen(tok) > 10);
    cli_close(&c);
}

/* Opens /api/events with the header line <auth>; reads up to its hello. */
static void stream_open(struct fx *f, struct cli *c, const char *auth)
{
    char req[512], buf[8192] = "";
    size_t len = 0;

    snprintf(req, sizeof(req), "GET /api/events HTTP/1.1\r\nHost: x\r\n%s\r\n",
             auth);
    cli_open(f, c);
    cli_write(c, req);
    while (strstr(buf, "event: hello") == NULL) {
        int r = cli_read(c, buf + len, sizeof(buf) - 1 - len);
        assert_true(r > 0);
        len += (size_t)r;
        buf[len] = '\0';
    }
    assert_memory_equal(buf, "HTTP/1.1 200", 12);
}

/* Reads the stream for up to <secs>: true if the server ended it, false if
 * it was still sending (samples every 200 ms) at the end. */
static bool stream_ends(struct cli *c, double secs)
{
    double end = now_s() + secs;
    char buf[4096];

    while (now_s() < end) {
        int r = SSL_read(c->ssl, buf, sizeof(buf));
        if (r > 0)
            continue;
        if (SSL_get_error(c->ssl, r) == SSL_ERROR_SYSCALL &&
            (errno == EAGAIN || errno == EWOULDBLOCK))
            return false; /* nothing for 5 s: open but silent */
        return true;
    }
    return false;
}

static void test_sse_sessions_end(void **state)
{
    struct fx *f = *state;
    struct cli a, b, basic, fresh;
    char tok_a[CP_AUTH_TOKEN_MAX], tok_b[CP_AUTH_TOKEN_MAX], hdr[256];
    char hash2[CP_AUTH_HASH_MAX], buf[4096];
    struct cp_auth_params kdf = {
        .alg = CP_AUTH_SCRYPT, .log2_n = 10, .r = 8, .p = 1};

    login_cookie(f, PASSWORD, tok_a, sizeof(tok_a));
    login_cookie(f, PASSWORD, tok_b, sizeof(tok_b));
    snprintf(hdr, sizeof(hdr), "Cookie: traefikee_session=%s\r\n", tok_a);
    stream_open(f, &a, hdr);
    snprintf(hdr, sizeof(hdr), "Cookie: traefikee_session=%s\r\n", tok_b);
    stream_open(f, &b, hdr);
    stream_open(f, &basic, BASIC);
    assert_false(stream_ends(&a, 0.5));

    /* logging session A out ends its stream, and only that one */
    {
        struct cli c;
        char req[512];
        snprintf(req, sizeof(req),
                 "POST /api/logout HTTP/1.1\r\nHost: x\r\nContent-Type: "
                 "application/json\r\nCookie: traefikee_session=%s\r\n"
                 "Content-Length: 0\r\n\r\n",
                 tok_a);
        cli_open(f, &c);
        cli_write(&c, req);
        assert_int_equal(read_response(&c, buf, sizeof(buf)), 200);
        cli_close(&c);
    }
    assert_true(stream_ends(&a, 2));
    assert_false(stream_ends(&b, 0.5));
    assert_false(stream_ends(&basic, 0.1));

    /* a new admin hash (SetAdminHash): every session ends, and so do the
     * streams opened with the old password's Basic credentials */
    assert_int_equal(cp_auth_hash("n3w-pass", &kdf, hash2, sizeof(hash2)), 0);
    loop_pause(f);
    memcpy(f->hash, hash2, sizeof(f->hash));
    loop_resume(f);
    assert_true(stream_ends(&b, 2));
    assert_true(stream_ends(&basic, 2));
    cli_close(&a);
    cli_close(&b);
    cli_close(&basic);

    /* the new password's streams stay (ticks after the change) */
    login_cookie(f, "n3w-pass", tok_a, sizeof(tok_a));
    snprintf(hdr, sizeof(hdr), "Cookie: traefikee_session=%s\r\n", tok_a);
    stream_open(f, &fresh, hdr);
    assert_false(stream_ends(&fresh, 0.7));
    cli_close(&fresh);
    stream_open(f, &fresh, "Authorization: Basic YWRtaW46bjN3LXBhc3M=\r\n");
    assert_false(stream_ends(&fresh, 0.7));
    cli_close(&fresh);
}

static void test_old_version_refused(void **state)
{
    struct fx *f = *state;
    struct cli c;
    unsigned long e;

    assert_int_not_equal(cli_open_v(f, &c, TLS1_1_VERSION), 1);
    e = ERR_peek_last_error();
    /* the server answered with a protocol_version alert */
    assert_int_equal(ERR_GET_REASON(e), SSL_R_TLSV1_ALERT_PROTOCOL_VERSION);
    ERR_clear_error();
    cli_close(&c);
    assert_int_equal(cli_open_v(f, &c, TLS1_2_VERSION), 1);
    assert_int_equal(SSL_version(c.ssl), TLS1_2_VERSION);
    cli_close(&c);
}

static void test_garbage_closed(void **state)
{
    struct fx *f = *state;
    struct cli c = {.fd = tcp_connect(f->port, 3)};
    double t0 = now_s();

    cli_write(&c, "\x01\x02garbage, not a ClientHello\r\n\r\n");
    assert_closed_by_peer(c.fd);
    assert_true(now_s() - t0 < 2);
    close(c.fd);
    /* plain HTTP on the HTTPS port fails the handshake */
    c.fd = tcp_connect(f->port, 3);
    t0 = now_s();
    cli_write(&c, "GET /ping HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_closed_by_peer(c.fd);
    assert_true(now_s() - t0 < 2);
    close(c.fd);
}

static void test_stalled_handshake(void **state)
{
    struct fx *f = *state;
    struct cli stall = {.fd = tcp_connect(f->port, 20)}, ok;
    char buf[4096];
    double t0 = now_s();

    /* a record header announcing 512 bytes of handshake, then nothing */
    assert_int_equal(write(stall.fd, "\x16\x03\x01\x02\x00\x01", 6), 6);
    cli_open(f, &ok); /* others are served meanwhile */
    assert_int_equal(get(&ok, "/ping", buf, sizeof(buf)), 200);
    cli_close(&ok);
    assert_closed_by_peer(stall.fd);
    assert_true(now_s() - t0 > 9);
    assert_true(now_s() - t0 < 14);
    close(stall.fd);
}

static void test_rotation(void **state)
{
    struct fx *f = *state;
    struct cli old, c;
    char buf[4096], cn[64], err[CM_ERR_LEN];

    cli_open(f, &old);
    peer_cn(&old, cn, sizeof(cn));
    assert_string_equal(cn, "cert-a");
    loop_pause(f);
    assert_int_equal(
        cp_http_set_tls(f->srv, f->b.chain, f->b.key, err, sizeof(err)), 0);
    /* refused: the previous setting stays */
    assert_int_equal(
        cp_http_set_tls(f->srv, "not a PEM", f->b.key, err, sizeof(err)),
        GW_EINVAL);
    assert_int_equal(
        cp_http_set_tls(f->srv, f->a.chain, f->b.key, err, sizeof(err)),
        GW_EINVAL);
    assert_non_null(strstr(err, "does not match"));
    loop_resume(f);
    cli_open(f, &c);
    peer_cn(&c, cn, sizeof(cn));
    assert_string_equal(cn, "cert-b");
    assert_int_equal(get(&c, "/ping", buf, sizeof(buf)), 200);
    cli_close(&c);
    /* the established connection goes on with its certificate */
    assert_int_equal(get(&old, "/ping", buf, sizeof(buf)), 200);
    /* back to plain HTTP for new connections */
    loop_pause(f);
    assert_int_equal(cp_http_set_tls(f->srv, NULL, NULL, err, sizeof(err)), 0);
    loop_resume(f);
    c.fd = tcp_connect(f->port, 5);
    c.ssl = NULL;
    c.ctx = NULL;
    assert_int_equal(get(&c, "/ping", buf, sizeof(buf)), 200);
    cli_close(&c);
    assert_int_equal(get(&old, "/ping", buf, sizeof(buf)), 200);
    cli_close(&old);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_https_get, setup, teardown),
        cmocka_unit_test_setup_teardown(test_auth_and_cookie, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sse, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sse_sessions_end, setup, teardown),
        cmocka_unit_test_setup_teardown(test_old_version_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_garbage_closed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stalled_handshake, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_rotation, setup, teardown),
    };

    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
