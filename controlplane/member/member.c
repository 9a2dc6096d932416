/*
 * member.c -- the security state behind one mutex (CA, cluster key, token
 * hashes, revocations, TTL, Redis password), the revocation check, and
 * the issuing behind Join, Renew and the node's own certificates. Any
 * thread; nothing here blocks beyond one signature.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/pki/pki.h"
#include "controlplane/member/member-int.h"

#define DEFAULT_TTL_S (24 * 3600)
/* pki.h: notBefore is now - 60 */
#define SKEW_S 60

struct cp_member {
    pthread_mutex_t lock;
    char *ca_cert, *ca_key; /* PEM; the key wiped when freed */
    char ca_fp[CM_PKI_FP_HEX];
    char *cluster_key, *redis_password;
    char hash[2][CM_PKI_FP_HEX]; /* [0] control, [1] data; "" none */
    struct cp_member_revoked *revoked;
    size_t n_revoked;
    int64_t ttl_s;
    cp_member_revoked_cb on_revoked;
    void *on_revoked_arg;
    bool refreshing; /* refresh.c; loop thread only */
};

static int64_t now_s(void)
{
    return (int64_t)time(NULL);
}

struct cp_member *cp_member_new(void)
{
    struct cp_member *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return NULL;
    pthread_mutex_init(&m->lock, NULL);
    m->ttl_s = DEFAULT_TTL_S;
    return m;
}

void cp_member_free(struct cp_member *m)
{
    if (m == NULL)
        return;
    free(m->ca_cert);
    cm_pki_secret_free(m->ca_key);
    cm_pki_secret_free(m->cluster_key);
    cm_pki_secret_free(m->redis_password);
    free(m->revoked);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

/* ==== state ==== */

int cp_member_set_ca(struct cp_member *m, const char *cert_pem,
                     const char *key_pem)
{
    char fp[CM_PKI_FP_HEX], err[CM_ERR_LEN];

    if (!cm_pki_key_matches(cert_pem, key_pem) ||
        cm_pki_fingerprint(cert_pem, fp, err, sizeof(err)) != 0)
        return GW_EINVAL;
    char *c = strdup(cert_pem), *k = strdup(key_pem);
    if (c == NULL || k == NULL) {
        free(c);
        cm_pki_secret_free(k);
        return GW_ENOMEM;
    }
    pthread_mutex_lock(&m->lock);
    free(m->ca_cert);
    cm_pki_secret_free(m->ca_key);
    m->ca_cert = c;
    m->ca_key = k;
    memcpy(m->ca_fp, fp, sizeof(fp));
    pthread_mutex_unlock(&m->lock);
    return GW_OK;
}

int cp_member_set_secrets(struct cp_member *m, const char *cluster_key,
                          const char *redis_password)
{
    char *k = strdup(cluster_key != NULL ? cluster_key : "");
    char *p = strdup(redis_password != NULL ? redis_password : "");
    if (k == NULL || p == NULL) {
        cm_pki_secret_free(k);
        cm_pki_secret_free(p);
        return GW_ENOMEM;
    }
    pthread_mutex_lock(&m->lock);
    cm_pki_secret_free(m->cluster_key);
    cm_pki_secret_free(m->redis_password);
    m->cluster_key = k;
    m->redis_password = p;
    pthread_mutex_unlock(&m->lock);
    return GW_OK;
}

void cp_member_set_ttl(struct cp_member *m, int64_t ttl_s)
{
    pthread_mutex_lock(&m->lock);
    m->ttl_s = ttl_s > 0 ? ttl_s : DEFAULT_TTL_S;
    pthread_mutex_unlock(&m->lock);
}

static int copy_hash(char out[CM_PKI_FP_HEX], const char *h)
{
    if (h == NULL)
        h = "";
    if (strlen(h) >= CM_PKI_FP_HEX)
        return GW_EINVAL;
    strcpy(out, h);
    return GW_OK;
}

int cp_member_set_tokens(struct cp_member *m, const char *control_hash,
                         const char *data_hash)
{
    char c[CM_PKI_FP_HEX], d[CM_PKI_FP_HEX];

    if (copy_hash(c, control_hash) != 0 || copy_hash(d, data_hash) != 0)
        return GW_EINVAL;
    pthread_mutex_lock(&m->lock);
    memcpy(m->hash[0], c, sizeof(c));
    memcpy(m->hash[1], d, sizeof(d));
    pthread_mutex_unlock(&m->lock);
    return GW_OK;
}

void cp_member_set_revoked_cb(struct cp_member *m, cp_member_revoked_cb cb,
                              void *arg)
{
    pthread_mutex_lock(&m->lock);
    m->on_revoked = cb;
    m->on_revoked_arg = arg;
    pthread_mutex_unlock(&m->lock);
}

/* The entry of <role>/<id>, or NULL. Lock held. */
static const struct cp_member_revoked *
find_revoked(const struct cp_member_revoked *v, size_t n, enum cm_pki_role role,
             const char *id)
{
    for (size_t i = 0; i < n; i++)
        if (v[i].role == role && strcmp(v[i].id, id) == 0)
            return &v[i];
    return NULL;
}

int cp_member_set_revoked(struct cp_member *m,
                          const struct cp_member_revoked *v, size_t n)
{
    struct cp_member_revoked *copy = calloc(n > 0 ? n : 1, sizeof(*copy));
    bool *fresh = calloc(n > 0 ? n : 1, sizeof(*fresh));
    if (copy == NULL || fresh == NULL) {
        free(copy);
        free(fresh);
        return GW_ENOMEM;
    }
    if (n > 0)
        memcpy(copy, v, n * sizeof(*v));
    pthread_mutex_lock(&m->lock);
    for (size_t i = 0; i < n; i++) {
        copy[i].id[CM_PKI_ID_MAX - 1] = '\0';
        const struct cp_member_revoked *old =
            find_revoked(m->revoked, m->n_revoked, copy[i].role, copy[i].id);
        fresh[i] = old == NULL || old->at < copy[i].at;
    }
    free(m->revoked);
    m->revoked = copy;
    m->n_revoked = n;
    cp_member_revoked_cb cb = m->on_revoked;
    void *arg = m->on_revoked_arg;
    pthread_mutex_unlock(&m->lock);
    for (size_t i = 0; i < n && cb != NULL; i++)
        if (fresh[i])
            cb(arg, v[i].role, v[i].id, v[i].at);
    free(fresh);
    return GW_OK;
}

int cp_member_revoke(struct cp_member *m, enum cm_pki_role role, const char *id,
                     int64_t at)
{
    if (id == NULL || strlen(id) >= CM_PKI_ID_MAX)
        return GW_EINVAL;
    pthread_mutex_lock(&m->lock);
    struct cp_member_revoked *e = (struct cp_member_revoked *)find_revoked(
        m->revoked, m->n_revoked, role, id);
    if (e == NULL) {
        struct cp_member_revoked *v =
            realloc(m->revoked, (m->n_revoked + 1) * sizeof(*v));
        if (v == NULL) {
            pthread_mutex_unlock(&m->lock);
            return GW_ENOMEM;
        }
        m->revoked = v;
        e = &v[m->n_revoked++];
        memset(e, 0, sizeof(*e));
        e->role = role;
        strcpy(e->id, id);
    }
    if (e->at < at)
        e->at = at;
    cp_member_revoked_cb cb = m->on_revoked;
    void *arg = m->on_revoked_arg;
    pthread_mutex_unlock(&m->lock);
    if (cb != NULL)
        cb(arg, role, id, at);
    return GW_OK;
}

char *cp_member_ca(struct cp_member *m)
{
    pthread_mutex_lock(&m->lock);
    char *ca = m->ca_cert != NULL ? strdup(m->ca_cert) : NULL;
    pthread_mutex_unlock(&m->lock);
    return ca;
}

bool cp_member__refresh_begin(struct cp_member *m)
{
    if (m->refreshing)
        return false;
    m->refreshing = true;
    return true;
}

void cp_member__refresh_done(struct cp_member *m)
{
    m->refreshing = false;
}

/* ==== checks and issuing ==== */

bool cp_member_allowed(void *arg, enum cm_pki_role role, const char *id,
                       int64_t not_before)
{
    struct cp_member *m = arg;

    pthread_mutex_lock(&m->lock);
    const struct cp_member_revoked *e =
        find_revoked(m->revoked, m->n_revoked, role, id);
    bool ok = e == NULL || not_before >= e->at;
    pthread_mutex_unlock(&m->lock);
    return ok;
}

/* Signs <csr_pem> for <in> (role, id, SANs; now and ttl set here). The
 * notBefore of a node revoked within the skew window is its revocation
 * time, so that the new certificate passes the check. Lock held. */
static int issue_locked(struct cp_member *m, const char *csr_pem,
                        struct cm_pki_issue *in, char **cert, char *err,
                        size_t len)
{
    if (m->ca_cert == NULL || m->ca_key == NULL)
        return cm_err_set(err, len, GW_EAGAIN, "no cluster CA yet");
    const struct cp_member_revoked *e =
        find_revoked(m->revoked, m->n_revoked, in->role, in->id);
    in->now = now_s();
    if (e != NULL && in->now - SKEW_S < e->at)
        in->now = e->at + SKEW_S;
    in->ttl_s = m->ttl_s;
    return cm_pki_issue(m->ca_cert, m->ca_key, csr_pem, in, cert, err, len);
}

int cp_member_issue_creds(struct cp_member *m, enum cm_pki_role role,
                          const char *id, const char *const *dns, size_t n_dns,
                          const char *const *ips, size_t n_ips,
                          struct cm_pki_creds *out, char *err, size_t len)
{
    struct cm_pki_issue in = {.role = role,
                              .id = id,
                              .dns = dns,
                              .n_dns = n_dns,
                              .ips = ips,
                              .n_ips = n_ips};
    char *csr = NULL;
    int rc;

    memset(out, 0, sizeof(*out));
    rc = cm_pki_key_new(&out->key, err, len);
    if (rc == 0)
        rc = cm_pki_csr_new(out->key, id, &csr, err, len);
    if (rc == 0) {
        pthread_mutex_lock(&m->lock);
        rc = issue_locked(m, csr, &in, &out->cert, err, len);
        if (rc == 0 && (out->ca = strdup(m->ca_cert)) == NULL)
            rc = cm_err_set(err, len, GW_ENOMEM, "out of memory");
        pthread_mutex_unlock(&m->lock);
    }
    free(csr);
    if (rc != 0)
        cm_pki_creds_clear(out);
    return rc;
}

static void refuse(struct cp_member_reply *out, grpc_status_code st,
                   const char *why)
{
    out->status = st;
    snprintf(out->details, sizeof(out->details), "%s", why);
}

/* Node ids as certificates and heartbeats carry them. */
static bool id_valid(const char *id)
{
    size_t n = id != NULL ? strlen(id) : 0;

    if (n == 0 || n >= CM_PKI_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)id[i] < 0x21 || (unsigned char)id[i] > 0x7e)
            return false;
    return true;
}

/* The SANs of a control node's certificate issued through Membership (the
 * node reissues its own with its addresses once it has the key). */
static const char *const control_dns[] = {CM_PKI_CONTROL_NAME, "localhost"};

/* Issues for <role>/<id> into <out> and adds the CA. Lock held. */
static void reply_issue(struct cp_member *m, enum cm_pki_role role,
                        const char *id, const char *csr_pem,
                        struct cp_member_reply *out)
{
    const char *dns[3] = {control_dns[0], control_dns[1], id};
    struct cm_pki_issue in = {.role = role, .id = id};
    char err[CM_ERR_LEN];
    int rc;

    if (role == CM_PKI_ROLE_CONTROL) {
        in.dns = dns;
        in.n_dns = 3;
    }
    rc = issue_locked(m, csr_pem, &in, &out->cert_pem, err, sizeof(err));
    if (rc == GW_EAGAIN) {
        refuse(out, GRPC_STATUS_UNAVAILABLE, err);
        return;
    }
    if (rc != 0) {
        refuse(out,
               rc == GW_EINVAL ? GRPC_STATUS_INVALID_ARGUMENT
                               : GRPC_STATUS_INTERNAL,
               err);
        return;
    }
    out->ca_pem = strdup(m->ca_cert);
    if (out->ca_pem == NULL)
        refuse(out, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
}

/* Whether <t> is a token of ours: CA fingerprint and secret hash. */
static bool token_ok(struct cp_member *m, const struct cm_pki_token *t)
{
    char h[CM_PKI_FP_HEX];
    const char *want;

    if (t->role != CM_PKI_ROLE_CONTROL && t->role != CM_PKI_ROLE_DATA)
        return false;
    want = m->hash[t->role == CM_PKI_ROLE_CONTROL ? 0 : 1];
    cm_pki_token_hash(t->secret, h);
    bool same_ca = cm_pki_equal(t->ca_fp, m->ca_fp);
    bool same_secret = want[0] != '\0' && cm_pki_equal(h, want);
    return same_ca && same_secret;
}

void cp_member_join(struct cp_member *m, const char *token, const char *node_id,
                    const char *csr_pem, struct cp_member_reply *out)
{
    struct cm_pki_token t;
    char err[CM_ERR_LEN];

    memset(out, 0, sizeof(*out));
    if (token == NULL || cm_pki_token_parse(token, &t, err, sizeof(err)) != 0) {
        refuse(out, GRPC_STATUS_UNAUTHENTICATED, "not a join token");
        return;
    }
    if (!id_valid(node_id) || strchr(node_id, '@') != NULL) {
        refuse(out, GRPC_STATUS_INVALID_ARGUMENT,
               "node_id: printable, without '@' or spaces");
        return;
    }
    pthread_mutex_lock(&m->lock);
    if (m->ca_cert == NULL) {
        refuse(out, GRPC_STATUS_UNAVAILABLE, "no cluster CA yet");
    } else if (!token_ok(m, &t)) {
        refuse(out, GRPC_STATUS_UNAUTHENTICATED,
               "unknown or rotated join token");
    } else {
        reply_issue(m, t.role, node_id, csr_pem, out);
        if (out->status == GRPC_STATUS_OK && t.role == CM_PKI_ROLE_CONTROL) {
            out->cluster_key =
                strdup(m->cluster_key != NULL ? m->cluster_key : "");
            out->redis_password =
                strdup(m->redis_password != NULL ? m->redis_password : "");
            if (out->cluster_key == NULL || out->redis_password == NULL)
                refuse(out, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
        }
    }
    pthread_mutex_unlock(&m->lock);
    if (out->status != GRPC_STATUS_OK)
        cp_member_reply_deinit(out);
}

void cp_member_renew(struct cp_member *m, enum cm_pki_role role, const char *id,
                     const char *csr_pem, struct cp_member_reply *out)
{
    memset(out, 0, sizeof(*out));
    if (role == CM_PKI_ROLE_NONE || !id_valid(id)) {
        refuse(out, GRPC_STATUS_UNAUTHENTICATED, "a client certificate");
        return;
    }
    pthread_mutex_lock(&m->lock);
    reply_issue(m, role, id, csr_pem, out);
    pthread_mutex_unlock(&m->lock);
    if (out->status != GRPC_STATUS_OK)
        cp_member_reply_deinit(out);
}

void cp_member_reply_deinit(struct cp_member_reply *r)
{
    free(r->cert_pem);
    free(r->ca_pem);
    cm_pki_secret_free(r->cluster_key);
    cm_pki_secret_free(r->redis_password);
    r->cert_pem = r->ca_pem = r->cluster_key = r->redis_password = NULL;
}
