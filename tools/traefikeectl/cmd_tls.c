/*
 * cmd_tls.c -- `create tls-cert`, `get tls-certs`, `delete tls-cert`: edit
 * tls.certificates of the current document. The client reads the PEM
 * files and inlines them (the control and data nodes never read the
 * user's files), then applies the edited document as a new revision.
 * Get-modify-apply: a concurrent apply in between would be overwritten.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "common/xds/xds.h"
#include "tools/traefikeectl/client.h"
#include "tools/traefikeectl/output.h"
#include "tools/traefikeectl/traefikeectl.h"
#include "traefikee/v1/management.pb-c.h"

#define PEM_MAX (1u << 20)

struct tls_opts {
    const char *control, *cert, *key, *name, *output;
    const char *kind; /* "tls-cert" or "tls-certs" */
    const char *arg;  /* NAME of delete */
    struct tctl_cred_opts cred;
    int help;
};

static int parse(int argc, char **argv, struct tls_opts *o)
{
    memset(o, 0, sizeof(*o));
    for (int i = 1; i < argc; i++) {
        int cred = tctl_cred_opt(argc, argv, &i, &o->cred);
        const char *a = argv[i];
        const char **dst = strcmp(a, "--cert") == 0      ? &o->cert
                           : strcmp(a, "--key") == 0     ? &o->key
                           : strcmp(a, "--name") == 0    ? &o->name
                           : strcmp(a, "--control") == 0 ? &o->control
                           : strcmp(a, "-o") == 0        ? &o->output
                                                         : NULL;
        if (cred < 0)
            return 2;
        if (cred > 0)
            continue;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            o->help = 1;
        } else if (dst != NULL && i + 1 < argc) {
            *dst = argv[++i];
        } else if (strncmp(a, "--control=", 10) == 0) {
            o->control = a + 10;
        } else if (a[0] != '-' && o->kind == NULL) {
            o->kind = a;
        } else if (a[0] != '-' && o->arg == NULL) {
            o->arg = a;
        } else {
            fprintf(stderr, "traefikeectl %s: unexpected argument '%s'\n",
                    argv[0], a);
            return 2;
        }
    }
    return 0;
}

static char *read_pem(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    size_t n;

    if (f == NULL) {
        fprintf(stderr, "traefikeectl: cannot read %s: %s\n", path,
                strerror(errno));
        return NULL;
    }
    buf = malloc(PEM_MAX + 1);
    n = buf != NULL ? fread(buf, 1, PEM_MAX, f) : 0;
    fclose(f);
    if (buf == NULL || n == 0 || n == PEM_MAX) {
        fprintf(stderr, "traefikeectl: %s: empty or too large\n", path);
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    return buf;
}

/* The current document as JSON: returns new (json_decref), or NULL. */
static json_t *get_config(const struct tctl_ctx *c)
{
    Traefikee__V1__GetRequest req = TRAEFIKEE__V1__GET_REQUEST__INIT;
    Traefikee__V1__GetResponse *r;
    json_t *j;

    req.kind = "config";
    req.name = "";
    if (tctl_call(c, TCTL_METHOD("Get"), &req.base,
                  &traefikee__v1__get_response__descriptor,
                  (ProtobufCMessage **)&r) != 0)
        return NULL;
    j = json_loadb((const char *)r->document.data, r->document.len, 0, NULL);
    protobuf_c_message_free_unpacked(&r->base, NULL);
    if (j == NULL || !json_is_object(j)) {
        fprintf(stderr, "traefikeectl: malformed document in the reply\n");
        json_decref(j);
        return NULL;
    }
    return j;
}

static int apply(const struct tctl_ctx *c, json_t *doc, const char *what)
{
    Traefikee__V1__ApplyRequest req = TRAEFIKEE__V1__APPLY_REQUEST__INIT;
    Traefikee__V1__ApplyResponse *r;
    char *s = json_dumps(doc, JSON_COMPACT);
    int rc;

    if (s == NULL)
        return 1;
    req.document.data = (uint8_t *)s;
    req.document.len = strlen(s);
    rc = tctl_call(c, TCTL_METHOD("Apply"), &req.base,
                   &traefikee__v1__apply_response__descriptor,
                   (ProtobufCMessage **)&r);
    free(s);
    if (rc != 0)
        return rc;
    printf("%s: revision %llu\n", what, (unsigned long long)r->revision);
    protobuf_c_message_free_unpacked(&r->base, NULL);
    return 0;
}

/* tls.certificates of <doc>, created if <create>. Borrowed, or NULL. */
static json_t *certs_of(json_t *doc, int create)
{
    json_t *tls = json_object_get(doc, "tls"), *a;

    if (tls == NULL && create) {
        tls = json_object();
        json_object_set_new(doc, "tls", tls);
    }
    if (tls == NULL)
        return NULL;
    a = json_object_get(tls, "certificates");
    if (a == NULL && create) {
        a = json_array();
        json_object_set_new(tls, "certificates", a);
    }
    return a;
}

/* The Secret name of entry <e> (as the translation names it). */
static const char *entry_name(json_t *e, char *buf, size_t len)
{
    struct cm_config_certificate cc = {
        .name = json_string_value(json_object_get(e, "name")),
        .cert_file = json_string_value(json_object_get(e, "certFile")),
        .certificate = json_string_value(json_object_get(e, "certificate")),
    };
    return cm_xds_cert_name(&cc, buf, len);
}

/* "a.test, *.b.test" and the expiry of the first certificate of <e>. */
static void describe(json_t *e, char *names, size_t nl, char *exp, size_t el)
{
    const char *pem = json_string_value(json_object_get(e, "certificate"));
    const char *file = json_string_value(json_object_get(e, "certFile"));
    BIO *b = pem    ? BIO_new_mem_buf(pem, -1)
             : file ? BIO_new_file(file, "r")
                    : NULL;
    X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
    GENERAL_NAMES *g;
    size_t n = 0;

    snprintf(names, nl, "%s", file && !pem ? "(file on the data nodes)" : "?");
    snprintf(exp, el, "?");
    BIO_free(b);
    if (x == NULL)
        return;
    names[0] = '\0';
    g = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    for (int i = 0; g != NULL && i < sk_GENERAL_NAME_num(g); i++) {
        const GENERAL_NAME *gn = sk_GENERAL_NAME_value(g, i);
        if (gn->type == GEN_DNS && n < nl)
            n += (size_t)snprintf(names + n, nl - n, "%s%s", n ? ", " : "",
                                  ASN1_STRING_get0_data(gn->d.dNSName));
    }
    GENERAL_NAMES_free(g);
    BIO *m = BIO_new(BIO_s_mem());
    if (m != NULL && ASN1_TIME_print(m, X509_get0_notAfter(x)) == 1) {
        int k = BIO_read(m, exp, (int)el - 1);
        exp[k > 0 ? k : 0] = '\0';
    }
    BIO_free(m);
    X509_free(x);
}

/* The leaf of <crt> and the key <key> parse and belong together. */
static int check_pair(const char *crt, const char *key,
                      const struct tls_opts *o)
{
    BIO *cb = BIO_new_mem_buf(crt, -1), *kb = BIO_new_mem_buf(key, -1);
    X509 *x = cb ? PEM_read_bio_X509(cb, NULL, NULL, NULL) : NULL;
    EVP_PKEY *k = kb ? PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL) : NULL;
    int rc = 0;

    if (x == NULL || k == NULL) {
        fprintf(stderr, "traefikeectl: %s: no PEM %s found\n",
                x == NULL ? o->cert : o->key,
                x == NULL ? "certificate" : "private key");
        rc = 1;
    } else if (X509_check_private_key(x, k) != 1) {
        fprintf(stderr, "traefikeectl: %s does not match the certificate %s\n",
                o->key, o->cert);
        rc = 1;
    }
    X509_free(x);
    EVP_PKEY_free(k);
    BIO_free(cb);
    BIO_free(kb);
    return rc;
}

static int cmd_create(const struct tctl_ctx *c, const struct tls_opts *o)
{
    char *crt = read_pem(o->cert), *key = crt ? read_pem(o->key) : NULL;
    char name[256], other[300];
    json_t *doc, *certs, *e;
    size_t i;
    int rc;

    if (crt == NULL || key == NULL || check_pair(crt, key, o) != 0 ||
        (doc = get_config(c)) == NULL) {
        free(crt);
        free(key);
        return 1;
    }
    snprintf(name, sizeof(name), "%s", o->name);
    certs = certs_of(doc, 1);
    json_array_foreach(
        certs, i,
        e) if (strcmp(entry_name(e, other, sizeof(other)), name) == 0) break;
    if (i < json_array_size(certs)) { /* same name: replaced (a rotation) */
        json_array_remove(certs, i);
    }
    e = json_object();
    json_object_set_new(e, "name", json_string(o->name));
    json_object_set_new(e, "certificate", json_string(crt));
    json_object_set_new(e, "key", json_string(key));
    json_array_append_new(certs, e);
    snprintf(other, sizeof(other), "tls-cert %s", name);
    rc = apply(c, doc, other);
    json_decref(doc);
    free(crt);
    free(key);
    return rc;
}

static int cmd_get(const struct tctl_ctx *c, const struct tls_opts *o)
{
    static const char *const h[] = {"Name", "Names", "Expires"};
    json_t *doc = get_config(c), *certs, *e, *out;
    struct tctl_table *t;
    size_t i;

    if (doc == NULL)
        return 1;
    certs = certs_of(doc, 0);
    out = json_array();
    t = tctl_table_new(3, h);
    json_array_foreach(certs, i, e)
    {
        char name[256], names[512], exp[64];
        entry_name(e, name, sizeof(name));
        describe(e, names, sizeof(names), exp, sizeof(exp));
        const char *row[] = {name, names, exp};
        if (t != NULL)
            tctl_table_add(t, row);
        json_array_append_new(out, json_pack("{s:s,s:s,s:s}", "name", name,
                                             "names", names, "expires", exp));
    }
    if (o->output != NULL && strcmp(o->output, "json") == 0)
        tctl_json_print(out, stdout);
    else if (t != NULL)
        tctl_table_print(t, stdout);
    tctl_table_free(t);
    json_decref(out);
    json_decref(doc);
    return 0;
}

static int cmd_delete(const struct tctl_ctx *c, const struct tls_opts *o)
{
    json_t *doc = get_config(c), *certs, *e;
    char name[256], what[320];
    size_t i;
    int rc;

    if (doc == NULL)
        return 1;
    certs = certs_of(doc, 0);
    json_array_foreach(
        certs, i,
        e) if (strcmp(entry_name(e, name, sizeof(name)), o->arg) == 0) break;
    if (certs == NULL || i >= json_array_size(certs)) {
        fprintf(stderr, "traefikeectl: no TLS certificate named '%s'\n",
                o->arg);
        json_decref(doc);
        return 1;
    }
    json_array_remove(certs, i);
    snprintf(what, sizeof(what), "deleted tls-cert %s", o->arg);
    rc = apply(c, doc, what);
    json_decref(doc);
    return rc;
}

int tctl_tls_wants(int argc, char **argv)
{
    struct tls_opts o;

    return parse(argc, argv, &o) == 0 && o.kind != NULL &&
           strncmp(o.kind, "tls-cert", 8) == 0;
}

int tctl_tls(int argc, char **argv)
{
    struct tls_opts o;
    struct tctl_ctx c;
    const char *verb = argv[0];
    int rc;

    if ((rc = parse(argc, argv, &o)) != 0)
        return rc;
    if (!o.help && (o.kind == NULL || strncmp(o.kind, "tls-cert", 8) != 0)) {
        fprintf(stderr, "traefikeectl %s: want tls-cert (try --help)\n", verb);
        return 2;
    }
    if (o.help) {
        printf("usage: traefikeectl create tls-cert --cert FILE --key FILE "
               "[--name N]\n       traefikeectl get tls-certs [-o json]\n"
               "       traefikeectl delete tls-cert NAME\n\n"
               "Edits tls.certificates of the current configuration: the PEM "
               "files are read\nhere and stored inline; a certificate with the "
               "same name is replaced\n(a rotation). The name defaults to the "
               "certificate file's base name.\n" TCTL_CONN_HELP);
        return 0;
    }
    if (strcmp(verb, "create") == 0 && (o.cert == NULL || o.key == NULL)) {
        fprintf(stderr, "traefikeectl create tls-cert: --cert and --key are "
                        "required\n");
        return 2;
    }
    if (strcmp(verb, "delete") == 0 && o.arg == NULL) {
        fprintf(stderr, "traefikeectl delete tls-cert: NAME is required\n");
        return 2;
    }
    if ((rc = tctl_ctx_init(&c, o.control, &o.cred)) != 0)
        return rc;
    if (strcmp(verb, "create") == 0) {
        /* the default name: the file's base name, as a certFile would get */
        char base[256];
        struct cm_config_certificate cc = {.cert_file = o.cert};
        if (o.name == NULL)
            o.name = cm_xds_cert_name(&cc, base, sizeof(base));
        rc = cmd_create(&c, &o);
    } else if (strcmp(verb, "get") == 0) {
        rc = cmd_get(&c, &o);
    } else {
        rc = cmd_delete(&c, &o);
    }
    tctl_ctx_deinit(&c);
    return rc;
}
