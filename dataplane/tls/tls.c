/*
 * tls.c -- the TLS layer on OpenSSL 3: DataSource loading, secret checks,
 * server contexts (one SSL_CTX per certificate, chosen by SNI), client
 * contexts, and connections over memory BIOs. Contexts are built on the
 * configuration thread, read-only afterwards, refcounted atomically;
 * connections belong to one worker.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "common/tlsctx/tlsctx.h"
#include "dataplane/tls/tls.h"

#define TLS_(x)          Envoy__Extensions__TransportSockets__Tls__V3__##x
#define TLS_C(x)         ENVOY__EXTENSIONS__TRANSPORT_SOCKETS__TLS__V3__##x
#define DS_C(x)          ENVOY__CONFIG__CORE__V3__DATA_SOURCE__SPECIFIER_##x
#define DATA_MAX         (4u << 20) /* largest PEM or bundle file read */
#define SESSION_CTX_ID   "traefikee"
#define SESSION_CACHE_SZ 20480

typedef Envoy__Config__Core__V3__DataSource DataSource;

/* One certificate of a server: its context and the names it answers. */
struct cert {
    SSL_CTX *ctx;
    char **names; /* lower case DNS names: "a.test", "*.b.test" */
    size_t n_names;
    unsigned char *ocsp; /* DER OCSP response, or NULL */
    size_t ocsp_len;
};

struct dp_tls_server {
    int refs;           /* atomic */
    struct cert *certs; /* [0] is the default */
    size_t n;
    unsigned char alpn[64]; /* ALPN wire format, our preference order */
    unsigned alpn_len;
};

struct dp_tls_client {
    int refs; /* atomic */
    SSL_CTX *ctx;
    char *sni; /* "" = none */
    bool verify;
};

struct dp_tls_conn {
    SSL *ssl;
    BIO *rbio, *wbio; /* owned by ssl */
    struct dp_tls_server *srv;
    struct dp_tls_client *cli;
    bool established;
    char alpn[32]; /* the protocol chosen, "" if none */
};

/* ==== errors and data sources ==== */

static int ssl_fail(char *err, size_t len, const char *what)
{
    char buf[256] = "unknown error";
    unsigned long e = ERR_peek_last_error();

    if (e != 0)
        ERR_error_string_n(e, buf, sizeof(buf));
    ERR_clear_error();
    return cm_err_set(err, len, GW_EINVAL, "%s: %s", what, buf);
}

/* The bytes of <d>: a new BIO over them, or NULL with <err>. */

/* PEM files named by the configuration: regular files only and bounded, so
 * that a name such as /dev/zero or a FIFO cannot hang or exhaust the node.
 * Returns a memory BIO over the file's bytes (freed with the BIO). */
#define TLS_FILE_MAX (1 << 20)

static BIO *tls_file_bio(const char *path, const char *what, char *err,
                         size_t len)
{
    struct stat st;
    BIO *b = NULL;
    char *buf = NULL;
    ssize_t n = -1;
    int fd;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd == -1 || fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
        st.st_size > TLS_FILE_MAX)
        goto fail;
    buf = malloc((size_t)st.st_size + 1);
    if (buf != NULL)
        n = read(fd, buf, (size_t)st.st_size);
    if (n < 0)
        goto fail;
    b = BIO_new(BIO_s_mem());
    if (b == NULL || BIO_write(b, buf, (int)n) != (int)n) {
        BIO_free(b);
        b = NULL;
        goto fail;
    }
    free(buf);
    close(fd);
    return b;

fail:
    free(buf);
    if (fd != -1)
        close(fd);
    cm_err_set(err, len, GW_EINVAL,
               "%s: cannot read \"%s\" (a regular file of at most 1 MiB)", what,
               path);
    return NULL;
}

static BIO *ds_bio(const DataSource *d, const char *what, char *err, size_t len)
{
    BIO *b = NULL;

    if (d == NULL) {
        cm_err_set(err, len, GW_EINVAL, "%s: missing", what);
        return NULL;
    }
    switch (d->specifier_case) {
    case DS_C(INLINE_BYTES):
        b = BIO_new_mem_buf(d->inline_bytes.data, (int)d->inline_bytes.len);
        break;
    case DS_C(INLINE_STRING):
        b = BIO_new_mem_buf(d->inline_string, -1);
        break;
    case DS_C(FILENAME):
        return tls_file_bio(d->filename, what, err, len);
    default:
        cm_err_set(err, len, GW_EINVAL,
                   "%s: only inline_bytes, inline_string and filename are "
                   "supported",
                   what);
        return NULL;
    }
    if (b == NULL)
        cm_err_set(err, len, GW_ENOMEM, "%s: out of memory", what);
    return b;
}

/* ==== certificates ==== */

/* The PEM chain of <d>: leaf first. Returns a new stack or NULL. */
static STACK_OF(X509) * load_chain(const DataSource *d, char *err, size_t len)
{
    BIO *b = ds_bio(d, "certificate_chain", err, len);
    STACK_OF(X509) * sk;
    X509 *x;

    if (b == NULL)
        return NULL;
    sk = sk_X509_new_null();
    while (sk != NULL && (x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL)
        sk_X509_push(sk, x);
    ERR_clear_error();
    BIO_free(b);
    if (sk == NULL || sk_X509_num(sk) == 0) {
        sk_X509_pop_free(sk, X509_free);
        cm_err_set(err, len, GW_EINVAL,
                   "certificate_chain: no PEM certificate found");
        return NULL;
    }
    for (int i = 0; i + 1 < sk_X509_num(sk); i++) {
        if (X509_check_issued(sk_X509_value(sk, i + 1), sk_X509_value(sk, i)) !=
            X509_V_OK) {
            sk_X509_pop_free(sk, X509_free);
            cm_err_set(err, len, GW_EINVAL,
                       "certificate_chain: certificate %d is not issued by "
                       "the next one (want leaf first, then intermediates)",
                       i);
            return NULL;
        }
    }
    return sk;
}

static EVP_PKEY *load_key(const DataSource *d, char *err, size_t len)
{
    BIO *b = ds_bio(d, "private_key", err, len);
    EVP_PKEY *k;

    if (b == NULL)
        return NULL;
    k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
    BIO_free(b);
    if (k == NULL)
        ssl_fail(err, len, "private_key");
    return k;
}

int dp_tls_secret_check(const dp_tls_secret_msg *s, char *err, size_t len)
{
    STACK_OF(X509) * sk;
    EVP_PKEY *k;
    int rc = GW_OK;

    if (s->type_case != TLS_C(SECRET__TYPE_TLS_CERTIFICATE))
        return cm_err_set(err, len, GW_EINVAL,
                          "secret \"%s\": only tls_certificate secrets are "
                          "supported",
                          s->name);
    if ((sk = load_chain(s->tls_certificate->certificate_chain, err, len)) ==
        NULL)
        return GW_EINVAL;
    if ((k = load_key(s->tls_certificate->private_key, err, len)) == NULL) {
        sk_X509_pop_free(sk, X509_free);
        return GW_EINVAL;
    }
    if (X509_check_private_key(sk_X509_value(sk, 0), k) != 1)
        rc = ssl_fail(err, len, "private_key does not match the certificate");
    EVP_PKEY_free(k);
    sk_X509_pop_free(sk, X509_free);
    return rc;
}

static void lower(char *s)
{
    for (; *s; s++)
        *s = (char)tolower((unsigned char)*s);
}

static int add_name(struct cert *c, const char *n, size_t nl)
{
    char **v = realloc(c->names, (c->n_names + 1) * sizeof(*v));

    if (v == NULL)
        return GW_ENOMEM;
    c->names = v;
    if ((v[c->n_names] = strndup(n, nl)) == NULL)
        return GW_ENOMEM;
    lower(v[c->n_names++]);
    return GW_OK;
}

/* The DNS names of <x>: its SANs, else its CN. */
static int cert_names(struct cert *c, X509 *x)
{
    GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    int rc = GW_OK;

    for (int i = 0;
         gens != NULL && rc == GW_OK && i < sk_GENERAL_NAME_num(gens); i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        if (g->type == GEN_DNS)
            rc = add_name(c, (const char *)ASN1_STRING_get0_data(g->d.dNSName),
                          (size_t)ASN1_STRING_length(g->d.dNSName));
    }
    GENERAL_NAMES_free(gens);
    if (rc == GW_OK && c->n_names == 0) {
        char cn[256];
        int n = X509_NAME_get_text_by_NID(X509_get_subject_name(x),
                                          NID_commonName, cn, sizeof(cn));
        if (n > 0)
            rc = add_name(c, cn, (size_t)n);
    }
    return rc;
}

/* ==== server callbacks ==== */

static struct cert *cert_for(struct dp_tls_server *s, const char *host)
{
    char name[256], wild[258];
    const char *dot;

    snprintf(name, sizeof(name), "%s", host);
    lower(name);
    for (size_t i = 0; i < s->n; i++)
        for (size_t j = 0; j < s->certs[i].n_names; j++)
            if (strcmp(s->certs[i].names[j], name) == 0)
                return &s->certs[i];
    if ((dot = strchr(name, '.')) == NULL)
        return NULL;
    snprintf(wild, sizeof(wild), "*%s", dot);
    for (size_t i = 0; i < s->n; i++)
        for (size_t j = 0; j < s->certs[i].n_names; j++)
            if (strcmp(s->certs[i].names[j], wild) == 0)
                return &s->certs[i];
    return NULL;
}

static int sni_cb(SSL *ssl, int *alert, void *arg)
{
    struct dp_tls_server *s = arg;
    const char *host = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    struct cert *c;

    (void)alert;
    if (host == NULL || (c = cert_for(s, host)) == NULL || c == &s->certs[0])
        return SSL_TLSEXT_ERR_OK; /* the default certificate */
    SSL_set_SSL_CTX(ssl, c->ctx);
    return SSL_TLSEXT_ERR_OK;
}

static int alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                   const unsigned char *in, unsigned int inlen, void *arg)
{
    struct dp_tls_server *s = arg;
    unsigned char *o;

    (void)ssl;
    if (s->alpn_len == 0 ||
        SSL_select_next_proto(&o, outlen, s->alpn, s->alpn_len, in, inlen) !=
            OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK;
    *out = o;
    return SSL_TLSEXT_ERR_OK;
}

static int ocsp_cb(SSL *ssl, void *arg)
{
    struct cert *c = arg;
    unsigned char *copy;

    if (c->ocsp == NULL ||
        (copy = OPENSSL_memdup(c->ocsp, c->ocsp_len)) == NULL)
        return SSL_TLSEXT_ERR_NOACK;
    SSL_set_tlsext_status_ocsp_resp(ssl, copy, (long)c->ocsp_len);
    return SSL_TLSEXT_ERR_OK;
}

/* ==== server contexts ==== */

static int version_of(int v, int dflt)
{
    switch (v) {
    case TLS_C(TLS_PARAMETERS__TLS_PROTOCOL__TLSv1_2):
        return TLS1_2_VERSION;
    case TLS_C(TLS_PARAMETERS__TLS_PROTOCOL__TLSv1_3):
        return TLS1_3_VERSION;
    case TLS_C(TLS_PARAMETERS__TLS_PROTOCOL__TLS_AUTO):
        return dflt;
    }
    return -1; /* 1.0 and 1.1 are refused */
}

/* Versions and ciphers of <p> (may be NULL) on <ctx>. */
static int apply_params(SSL_CTX *ctx, const TLS_(TlsParameters) * p, char *err,
                        size_t len)
{
    int min =
        version_of(p ? p->tls_minimum_protocol_version : 0, TLS1_2_VERSION);
    int max =
        version_of(p ? p->tls_maximum_protocol_version : 0, TLS1_3_VERSION);
    char list[1024] = "";

    if (min < 0 || max < 0 || min > max)
        return cm_err_set(err, len, GW_EINVAL,
                          "tls_params: only TLS 1.2 and 1.3 are supported");
    for (size_t i = 0; p != NULL && i < p->n_cipher_suites; i++) {
        size_t l = strlen(list);
        snprintf(list + l, sizeof(list) - l, "%s%s", l ? ":" : "",
                 p->cipher_suites[i]);
    }
    if (cm_tlsctx_protocols(ctx, min, max, list[0] ? list : NULL) != 1)
        return ssl_fail(err, len, "tls_params.cipher_suites");
    return GW_OK;
}

static int ocsp_load(struct cert *c, const TLS_(TlsCertificate) * tc, char *err,
                     size_t len)
{
    BIO *b;
    BUF_MEM *m;
    char buf[4096];
    int n;

    if (tc->ocsp_staple == NULL)
        return GW_OK;
    if ((b = ds_bio(tc->ocsp_staple, "ocsp_staple", err, len)) == NULL)
        return GW_EINVAL;
    BIO *acc = BIO_new(BIO_s_mem());
    while (acc != NULL && (n = BIO_read(b, buf, sizeof(buf))) > 0)
        BIO_write(acc, buf, n);
    BIO_free(b);
    if (acc == NULL)
        return GW_ENOMEM;
    BIO_get_mem_ptr(acc, &m);
    if (m->length > 0 && (c->ocsp = malloc(m->length)) != NULL) {
        memcpy(c->ocsp, m->data, m->length);
        c->ocsp_len = m->length;
    }
    BIO_free(acc);
    return GW_OK;
}

static const dp_tls_secret_msg *find_secret(dp_tls_secret_msg *const *v,
                                            size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i]->name, name) == 0)
            return v[i];
    return NULL;
}

static int cert_init(struct dp_tls_server *s, struct cert *c,
                     const TLS_(DownstreamTlsContext) * d,
                     const TLS_(TlsCertificate) * tc, char *err, size_t len)
{
    STACK_OF(X509) * sk;
    EVP_PKEY *k;
    int rc;

    if ((c->ctx = SSL_CTX_new(TLS_server_method())) == NULL)
        return GW_ENOMEM;
    if ((rc = apply_params(c->ctx, d->common_tls_context->tls_params, err,
                           len)) != GW_OK)
        return rc;
    cm_tlsctx_server_options(c->ctx);
    if (d->session_ticket_keys_type_case ==
            TLS_C(
                DOWNSTREAM_TLS_CONTEXT__SESSION_TICKET_KEYS_TYPE_DISABLE_STATELESS_SESSION_RESUMPTION) &&
        d->disable_stateless_session_resumption)
        SSL_CTX_set_options(c->ctx, SSL_OP_NO_TICKET);
    SSL_CTX_set_session_cache_mode(
        c->ctx, d->disable_stateful_session_resumption ? SSL_SESS_CACHE_OFF
                                                       : SSL_SESS_CACHE_SERVER);
    SSL_CTX_sess_set_cache_size(c->ctx, SESSION_CACHE_SZ);
    SSL_CTX_set_session_id_context(c->ctx,
                                   (const unsigned char *)SESSION_CTX_ID,
                                   sizeof(SESSION_CTX_ID) - 1);
    SSL_CTX_set_tlsext_servername_callback(c->ctx, sni_cb);
    SSL_CTX_set_tlsext_servername_arg(c->ctx, s);
    SSL_CTX_set_alpn_select_cb(c->ctx, alpn_cb, s);
    SSL_CTX_set_tlsext_status_cb(c->ctx, ocsp_cb);
    SSL_CTX_set_tlsext_status_arg(c->ctx, c);
    if ((sk = load_chain(tc->certificate_chain, err, len)) == NULL)
        return GW_EINVAL;
    rc = SSL_CTX_use_certificate(c->ctx, sk_X509_value(sk, 0)) == 1
             ? GW_OK
             : ssl_fail(err, len, "certificate_chain");
    for (int i = 1; rc == GW_OK && i < sk_X509_num(sk); i++)
        if (SSL_CTX_add1_chain_cert(c->ctx, sk_X509_value(sk, i)) != 1)
            rc = ssl_fail(err, len, "certificate_chain");
    if (rc == GW_OK)
        rc = cert_names(c, sk_X509_value(sk, 0));
    sk_X509_pop_free(sk, X509_free);
    if (rc != GW_OK)
        return rc;
    if ((k = load_key(tc->private_key, err, len)) == NULL)
        return GW_EINVAL;
    rc = SSL_CTX_use_PrivateKey(c->ctx, k) == 1 &&
                 SSL_CTX_check_private_key(c->ctx) == 1
             ? GW_OK
             : ssl_fail(err, len, "private_key does not match the certificate");
    EVP_PKEY_free(k);
    return rc == GW_OK ? ocsp_load(c, tc, err, len) : rc;
}

static void alpn_init(struct dp_tls_server *s,
                      const TLS_(CommonTlsContext) * ct, unsigned flags)
{
    for (size_t i = 0; i < ct->n_alpn_protocols; i++) {
        const char *p = ct->alpn_protocols[i];
        size_t l = strlen(p);
        if (l == 0 || l > 255 || s->alpn_len + 1 + l > sizeof(s->alpn))
            continue;
        if (strcmp(p, "h2") == 0 && !(flags & DP_TLS_ALLOW_H2))
            continue; /* no HTTP/2 here yet */
        s->alpn[s->alpn_len++] = (unsigned char)l;
        memcpy(s->alpn + s->alpn_len, p, l);
        s->alpn_len += (unsigned)l;
    }
}

struct dp_tls_server *dp_tls_server_new(const TLS_(DownstreamTlsContext) * d,
                                        dp_tls_secret_msg *const *secrets,
                                        size_t n, unsigned flags, char *err,
                                        size_t len)
{
    const TLS_(CommonTlsContext) *ct = d->common_tls_context;
    size_t total;
    struct dp_tls_server *s;

    if (ct == NULL) {
        cm_err_set(err, len, GW_EINVAL, "common_tls_context is required");
        return NULL;
    }
    total = ct->n_tls_certificates + ct->n_tls_certificate_sds_secret_configs;
    if (total == 0) {
        cm_err_set(err, len, GW_EINVAL, "no certificate");
        return NULL;
    }
    if ((s = calloc(1, sizeof(*s))) == NULL ||
        (s->certs = calloc(total, sizeof(*s->certs))) == NULL) {
        free(s);
        cm_err_set(err, len, GW_ENOMEM, "out of memory");
        return NULL;
    }
    s->refs = 1;
    alpn_init(s, ct, flags);
    for (size_t i = 0; i < total; i++, s->n++) {
        const TLS_(TlsCertificate) * tc;
        char e[CM_ERR_LEN];
        const char *what = "tls_certificates";
        if (i < ct->n_tls_certificates) {
            tc = ct->tls_certificates[i];
        } else {
            const char *name =
                ct->tls_certificate_sds_secret_configs[i -
                                                       ct->n_tls_certificates]
                    ->name;
            const dp_tls_secret_msg *sec = find_secret(secrets, n, name);
            what = name;
            if (sec == NULL ||
                sec->type_case != TLS_C(SECRET__TYPE_TLS_CERTIFICATE)) {
                cm_err_set(err, len, GW_ENOENT,
                           "secret \"%s\": not received (or not a "
                           "tls_certificate)",
                           name);
                dp_tls_server_unref(s);
                return NULL;
            }
            tc = sec->tls_certificate;
        }
        if (cert_init(s, &s->certs[i], d, tc, e, sizeof(e)) != GW_OK) {
            s->n++;
            cm_err_set(err, len, GW_EINVAL, "%s: %s", what, e);
            dp_tls_server_unref(s);
            return NULL;
        }
    }
    return s;
}

void dp_tls_server_ref(struct dp_tls_server *s)
{
    __atomic_add_fetch(&s->refs, 1, __ATOMIC_RELAXED);
}

void dp_tls_server_unref(struct dp_tls_server *s)
{
    if (s == NULL || __atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL) > 0)
        return;
    for (size_t i = 0; i < s->n; i++) {
        SSL_CTX_free(s->certs[i].ctx);
        for (size_t j = 0; j < s->certs[i].n_names; j++)
            free(s->certs[i].names[j]);
        free(s->certs[i].names);
        free(s->certs[i].ocsp);
    }
    free(s->certs);
    free(s);
}

/* ==== client contexts ==== */

static int load_ca(SSL_CTX *ctx, const DataSource *d, char *err, size_t len)
{
    X509_STORE *st = SSL_CTX_get_cert_store(ctx);
    BIO *b;
    X509 *x;
    int n = 0;

    if (d == NULL)
        return SSL_CTX_set_default_verify_paths(ctx) == 1
                   ? GW_OK
                   : ssl_fail(err, len, "system CA bundle");
    if ((b = ds_bio(d, "trusted_ca", err, len)) == NULL)
        return GW_EINVAL;
    while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
        if (X509_STORE_add_cert(st, x) == 1)
            n++;
        X509_free(x);
    }
    ERR_clear_error();
    BIO_free(b);
    if (n == 0)
        return cm_err_set(err, len, GW_EINVAL,
                          "trusted_ca: no PEM certificate found");
    return GW_OK;
}

struct dp_tls_client *dp_tls_client_new(const TLS_(UpstreamTlsContext) * u,
                                        char *err, size_t len)
{
    const TLS_(CommonTlsContext) *ct = u->common_tls_context;
    struct dp_tls_client *c = calloc(1, sizeof(*c));
    unsigned char alpn[64];
    unsigned alen = 0;

    if (c == NULL || (c->ctx = SSL_CTX_new(TLS_client_method())) == NULL ||
        (c->sni = strdup(u->sni ? u->sni : "")) == NULL) {
        if (c != NULL)
            SSL_CTX_free(c->ctx);
        free(c);
        cm_err_set(err, len, GW_ENOMEM, "out of memory");
        return NULL;
    }
    c->refs = 1;
    if (apply_params(c->ctx, ct ? ct->tls_params : NULL, err, len) != GW_OK)
        goto fail;
    SSL_CTX_set_options(c->ctx,
                        SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
    if (ct != NULL &&
        ct->validation_context_type_case ==
            TLS_C(
                COMMON_TLS_CONTEXT__VALIDATION_CONTEXT_TYPE_VALIDATION_CONTEXT)) {
        if (load_ca(c->ctx, ct->validation_context->trusted_ca, err, len) !=
            GW_OK)
            goto fail;
        SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
        c->verify = true;
    }
    for (size_t i = 0; ct != NULL && i < ct->n_alpn_protocols; i++) {
        size_t l = strlen(ct->alpn_protocols[i]);
        if (l == 0 || l > 255 || alen + 1 + l > sizeof(alpn))
            continue;
        alpn[alen++] = (unsigned char)l;
        memcpy(alpn + alen, ct->alpn_protocols[i], l);
        alen += (unsigned)l;
    }
    if (alen > 0)
        SSL_CTX_set_alpn_protos(c->ctx, alpn, alen);
    return c;
fail:
    dp_tls_client_unref(c);
    return NULL;
}

void dp_tls_client_ref(struct dp_tls_client *c)
{
    __atomic_add_fetch(&c->refs, 1, __ATOMIC_RELAXED);
}

void dp_tls_client_unref(struct dp_tls_client *c)
{
    if (c == NULL || __atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL) > 0)
        return;
    SSL_CTX_free(c->ctx);
    free(c->sni);
    free(c);
}

bool dp_tls_client_verifies(const struct dp_tls_client *c)
{
    return c->verify;
}

/* ==== connections ==== */

static struct dp_tls_conn *conn_new(SSL_CTX *ctx)
{
    struct dp_tls_conn *t = calloc(1, sizeof(*t));

    if (t == NULL)
        return NULL;
    t->ssl = SSL_new(ctx);
    t->rbio = BIO_new(BIO_s_mem());
    t->wbio = BIO_new(BIO_s_mem());
    if (t->ssl == NULL || t->rbio == NULL || t->wbio == NULL) {
        SSL_free(t->ssl);
        BIO_free(t->rbio);
        BIO_free(t->wbio);
        free(t);
        return NULL;
    }
    BIO_set_mem_eof_return(t->rbio, -1);
    SSL_set_bio(t->ssl, t->rbio, t->wbio);
    return t;
}

struct dp_tls_conn *dp_tls_conn_server(struct dp_tls_server *s)
{
    struct dp_tls_conn *t = conn_new(s->certs[0].ctx);

    if (t == NULL)
        return NULL;
    dp_tls_server_ref(s);
    t->srv = s;
    SSL_set_accept_state(t->ssl);
    return t;
}

static bool is_ip(const char *s)
{
    unsigned char buf[16];

    return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

struct dp_tls_conn *dp_tls_conn_client(struct dp_tls_client *c)
{
    struct dp_tls_conn *t = conn_new(c->ctx);

    if (t == NULL)
        return NULL;
    dp_tls_client_ref(c);
    t->cli = c;
    SSL_set_connect_state(t->ssl);
    if (c->sni[0] != '\0' && !is_ip(c->sni))
        SSL_set_tlsext_host_name(t->ssl, c->sni);
    if (c->verify && c->sni[0] != '\0') {
        X509_VERIFY_PARAM *vp = SSL_get0_param(t->ssl);
        if (is_ip(c->sni))
            X509_VERIFY_PARAM_set1_ip_asc(vp, c->sni);
        else
            SSL_set1_host(t->ssl, c->sni);
    }
    return t;
}

int dp_tls_conn_set_alpn(struct dp_tls_conn *t, const char *proto)
{
    unsigned char wire[256];
    size_t l = strlen(proto);

    if (l == 0 || l > 255)
        return GW_EINVAL;
    wire[0] = (unsigned char)l;
    memcpy(wire + 1, proto, l);
    /* SSL_set_alpn_protos returns 0 on success */
    return SSL_set_alpn_protos(t->ssl, wire, (unsigned)l + 1) == 0 ? GW_OK
                                                                   : GW_ENOMEM;
}

void dp_tls_conn_free(struct dp_tls_conn *t)
{
    if (t == NULL)
        return;
    SSL_free(t->ssl);
    dp_tls_server_unref(t->srv);
    dp_tls_client_unref(t->cli);
    free(t);
}

int dp_tls_conn_feed(struct dp_tls_conn *t, const void *p, size_t n)
{
    if (n > 0 && BIO_write(t->rbio, p, (int)n) != (int)n)
        return GW_ENOMEM;
    return GW_OK;
}

static void established(struct dp_tls_conn *t)
{
    const unsigned char *p;
    unsigned int n;

    t->established = true;
    SSL_get0_alpn_selected(t->ssl, &p, &n);
    if (n > 0 && n < sizeof(t->alpn))
        memcpy(t->alpn, p, n);
}

int dp_tls_conn_handshake(struct dp_tls_conn *t, char *err, size_t len)
{
    int r;

    if (t->established)
        return 1;
    ERR_clear_error();
    r = SSL_do_handshake(t->ssl);
    if (r == 1) {
        established(t);
        return 1;
    }
    if (SSL_get_error(t->ssl, r) == SSL_ERROR_WANT_READ)
        return 0;
    if (err != NULL) {
        long v = SSL_get_verify_result(t->ssl);
        if (v != X509_V_OK)
            cm_err_set(err, len, GW_EPROTO, "certificate verify failed: %s",
                       X509_verify_cert_error_string(v));
        else
            ssl_fail(err, len, "handshake");
    }
    ERR_clear_error();
    return GW_EPROTO;
}

int dp_tls_conn_read(struct dp_tls_conn *t, void *out, size_t cap)
{
    size_t n = 0;
    int r;

    if (cap == 0)
        return 0;
    ERR_clear_error();
    r = SSL_read_ex(t->ssl, out, cap, &n);
    if (r == 1) {
        if (!t->established)
            established(t);
        return (int)n;
    }
    switch (SSL_get_error(t->ssl, r)) {
    case SSL_ERROR_WANT_READ:
        return 0;
    case SSL_ERROR_ZERO_RETURN:
        return DP_TLS_CLOSED;
    }
    ERR_clear_error();
    return GW_EPROTO;
}

int dp_tls_conn_write(struct dp_tls_conn *t, const void *p, size_t n)
{
    return cm_tlsctx_write(t->ssl, p, n);
}

void dp_tls_conn_shutdown(struct dp_tls_conn *t)
{
    if (t->established)
        (void)SSL_shutdown(t->ssl);
    ERR_clear_error();
}

size_t dp_tls_conn_out_take(struct dp_tls_conn *t, void *out, size_t cap)
{
    int n = BIO_read(t->wbio, out, (int)cap);

    return n > 0 ? (size_t)n : 0;
}

size_t dp_tls_conn_out_peek(struct dp_tls_conn *t, const char **p)
{
    char *d = NULL;
    long n = BIO_get_mem_data(t->wbio, &d);

    *p = d;
    return n > 0 ? (size_t)n : 0;
}

void dp_tls_conn_out_clear(struct dp_tls_conn *t)
{
    (void)BIO_reset(t->wbio);
}

bool dp_tls_conn_has_input(const struct dp_tls_conn *t)
{
    return SSL_pending(t->ssl) > 0 || BIO_ctrl_pending(t->rbio) > 0;
}

bool dp_tls_conn_peer_closed(const struct dp_tls_conn *t)
{
    return (SSL_get_shutdown(t->ssl) & SSL_RECEIVED_SHUTDOWN) != 0;
}

bool dp_tls_conn_established(const struct dp_tls_conn *t)
{
    return t->established;
}

bool dp_tls_conn_reused(const struct dp_tls_conn *t)
{
    return SSL_session_reused(t->ssl) == 1;
}

const char *dp_tls_conn_alpn(const struct dp_tls_conn *t)
{
    return t->alpn;
}
