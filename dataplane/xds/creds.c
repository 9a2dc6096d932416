/*
 * creds.c -- the data node's certificate (docs/security.md): loading and
 * checking the saved credentials, and the keeper that holds the current
 * set for the xDS channel. The keeper's own thread joins the cluster with
 * the token when there is no usable certificate, and renews at two thirds
 * of its life (blocking calls: never on the xDS thread or a libuv loop),
 * saving each new set to the cache directory. Other threads only read the
 * current set, under the keeper's mutex.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log/log.h"
#include "common/pki/pki.h"
#include "common/pki/pki_grpc.h"
#include "dataplane/xds/xds.h"
#include "dataplane/xds/xds_int.h"

#define LOG_MOD      "xds"
#define MAX_SLEEP_MS 60000 /* re-read the clock at least this often */

struct dp_xds__creds {
    /* options (immutable) */
    char **control; /* borrowed from the client */
    size_t n_control;
    char *node_id, *dir, *token;
    int timeout_ms;
    uint32_t retry_ms;
    /* thread */
    pthread_t thread;
    bool started;
    struct dp_xds__backoff backoff; /* between join rounds */
    /* under mu */
    pthread_mutex_t mu;
    pthread_cond_t cond;
    bool stop;
    struct cm_pki_creds cur;     /* cur.cert NULL: none yet */
    int64_t not_after, renew_at; /* unix seconds, of cur */
    char error[DP_XDS_MSG_LEN];  /* last join/renew failure, "" after one
                                    succeeded */
};

static int64_t unix_s(void)
{
    return (int64_t)time(NULL);
}

static const char *utc(int64_t t, char *buf, size_t n)
{
    time_t tt = (time_t)t;
    struct tm tm;

    if (gmtime_r(&tt, &tm) == NULL ||
        strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(buf, n, "%lld", (long long)t);
    return buf;
}

/* ==== saved credentials ==== */

/* Whether DIR/node.crt exists (else "no certificate" is the whole story). */
static bool have_cert_file(const char *dir)
{
    char path[4096];

    snprintf(path, sizeof(path), "%s/node.crt", dir);
    return access(path, F_OK) == 0 || errno != ENOENT;
}

/* Whether <c> is a data node's certificate for <node_id>, valid at <now>,
 * from its CA, with its key. 0 or GW_EINVAL with the reason. */
static int check(const struct cm_pki_creds *c, const char *where,
                 const char *node_id, int64_t now, char *err, size_t len)
{
    struct cm_pki_cert_info info;
    char e[CM_ERR_LEN], t[32];

    if (cm_pki_cert_info(c->cert, &info, e, sizeof(e)) != 0)
        return cm_err_set(err, len, GW_EINVAL, "the certificate in %s: %s",
                          where, e);
    if (info.role != CM_PKI_ROLE_DATA)
        return cm_err_set(err, len, GW_EINVAL,
                          "the certificate in %s is a %s certificate, not a "
                          "data node's",
                          where, cm_pki_role_name(info.role));
    if (strcmp(info.id, node_id) != 0)
        return cm_err_set(err, len, GW_EINVAL,
                          "the certificate in %s is for node %s, not %s", where,
                          info.id, node_id);
    if (info.not_after <= now)
        return cm_err_set(err, len, GW_EINVAL,
                          "the certificate in %s expired at %s", where,
                          utc(info.not_after, t, sizeof(t)));
    if (!cm_pki_key_matches(c->cert, c->key))
        return cm_err_set(err, len, GW_EINVAL,
                          "the key in %s is not the certificate's", where);
    if (cm_pki_verify(c->ca, c->cert, now, e, sizeof(e)) != 0)
        return cm_err_set(err, len, GW_EINVAL, "the certificate in %s: %s",
                          where, e);
    return GW_OK;
}

int dp_xds_creds_load(const char *dir, const char *node_id, int64_t now,
                      struct cm_pki_creds *out, char *err, size_t len)
{
    char e[CM_ERR_LEN];
    int rc;

    memset(out, 0, sizeof(*out));
    if (dir == NULL || dir[0] == '\0')
        return cm_err_set(err, len, GW_ENOENT,
                          "no certificate (no --cache-dir to keep one in)");
    if (cm_pki_creds_load_dir(dir, out, e, sizeof(e)) != 0) {
        cm_pki_creds_clear(out);
        if (!have_cert_file(dir))
            return cm_err_set(err, len, GW_ENOENT, "no certificate in %s", dir);
        return cm_err_set(err, len, GW_EINVAL, "unusable certificate in %s: %s",
                          dir, e);
    }
    rc = check(out, dir, node_id, now, err, len);
    if (rc != 0)
        cm_pki_creds_clear(out);
    return rc;
}

/* ==== the current set ==== */

static int creds_copy(struct cm_pki_creds *dst, const struct cm_pki_creds *src)
{
    memset(dst, 0, sizeof(*dst));
    dst->ca = strdup(src->ca);
    dst->cert = strdup(src->cert);
    dst->key = strdup(src->key);
    if (dst->ca == NULL || dst->cert == NULL || dst->key == NULL) {
        cm_pki_creds_clear(dst);
        return GW_ENOMEM;
    }
    return GW_OK;
}

/* Makes <c> (taken) the current set; the caller holds mu. A <fresh>
 * certificate (just issued) is not renewed before two thirds of what is
 * left of it: its notBefore is a minute early (clock skew), which with a
 * short --cert-ttl would put two thirds of its life in the past. */
static int publish_locked(struct dp_xds__creds *k, struct cm_pki_creds *c,
                          bool fresh, char *err, size_t len)
{
    struct cm_pki_cert_info info;
    int64_t now = unix_s();

    if (cm_pki_cert_info(c->cert, &info, err, len) != 0)
        return GW_EINVAL;
    cm_pki_creds_clear(&k->cur);
    k->cur = *c;
    memset(c, 0, sizeof(*c));
    k->not_after = info.not_after;
    k->renew_at = cm_pki_renew_at(info.not_before, info.not_after);
    if (fresh && k->renew_at < now + (info.not_after - now) * 2 / 3)
        k->renew_at = now + (info.not_after - now) * 2 / 3;
    return GW_OK;
}

int dp_xds__creds_set(struct dp_xds__creds *k, const struct cm_pki_creds *c)
{
    struct cm_pki_creds copy;
    char err[CM_ERR_LEN];
    int rc;

    if (creds_copy(&copy, c) != 0)
        return GW_ENOMEM;
    pthread_mutex_lock(&k->mu);
    rc = publish_locked(k, &copy, false, err, sizeof(err));
    pthread_cond_broadcast(&k->cond); /* a new renewal time */
    pthread_mutex_unlock(&k->mu);
    cm_pki_creds_clear(&copy);
    return rc;
}

grpc_channel_credentials *dp_xds__creds_grpc(struct dp_xds__creds *k)
{
    grpc_channel_credentials *g = NULL;

    pthread_mutex_lock(&k->mu);
    if (k->cur.cert != NULL)
        g = cm_pki_grpc_creds(&k->cur);
    pthread_mutex_unlock(&k->mu);
    return g;
}

void dp_xds__creds_status(struct dp_xds__creds *k, int64_t *not_after,
                          char *err, size_t len)
{
    pthread_mutex_lock(&k->mu);
    *not_after = k->cur.cert != NULL ? k->not_after : 0;
    snprintf(err, len, "%s", k->error);
    pthread_mutex_unlock(&k->mu);
}

static void set_error(struct dp_xds__creds *k, const char *msg)
{
    pthread_mutex_lock(&k->mu);
    snprintf(k->error, sizeof(k->error), "%s", msg);
    pthread_mutex_unlock(&k->mu);
}

static bool stopping(struct dp_xds__creds *k)
{
    pthread_mutex_lock(&k->mu);
    bool s = k->stop;
    pthread_mutex_unlock(&k->mu);
    return s;
}

/* Writes <c> to the cache directory, if there is one. */
static void save(struct dp_xds__creds *k, const struct cm_pki_creds *c)
{
    char err[CM_ERR_LEN], q[CM_ERR_LEN + 8];

    if (k->dir == NULL)
        return;
    if (cm_pki_creds_save_dir(k->dir, c, err, sizeof(err)) != 0)
        cm_log_warn(LOG_MOD, "certificate_save_failed",
                    "dir=%s error=%s (kept in memory)", k->dir,
                    cm_log_quote(q, sizeof(q), err));
}

/* Saves and publishes <c> (taken); logs <event>. */
static void adopt(struct dp_xds__creds *k, struct cm_pki_creds *c,
                  const char *event, const char *control)
{
    char err[CM_ERR_LEN], t[32];
    int rc;

    save(k, c);
    pthread_mutex_lock(&k->mu);
    rc = publish_locked(k, c, true, err, sizeof(err));
    if (rc == 0)
        k->error[0] = '\0';
    int64_t na = k->not_after, ra = k->renew_at;
    pthread_mutex_unlock(&k->mu);
    cm_pki_creds_clear(c);
    if (rc != 0) {
        cm_log_error(LOG_MOD, "certificate_unusable", "error=\"%s\"", err);
        return;
    }
    cm_log_info(LOG_MOD, event,
                "control=%s node_id=%s not_after=%s renew_in_s=%lld", control,
                k->node_id, utc(na, t, sizeof(t)), (long long)(ra - unix_s()));
}

/* ==== joining and renewing (keeper thread) ==== */

/* One round over the control nodes. 0 once joined. */
static int join_round(struct dp_xds__creds *k)
{
    char err[CM_ERR_LEN], q[CM_ERR_LEN + 8], msg[DP_XDS_MSG_LEN];

    for (size_t i = 0; i < k->n_control && !stopping(k); i++) {
        struct cm_pki_creds c = {0};
        int rc = cm_pki_join(k->control[i], k->token, k->node_id, k->timeout_ms,
                             &c, NULL, NULL, err, sizeof(err));
        if (rc == 0) {
            adopt(k, &c, "joined", k->control[i]);
            return GW_OK;
        }
        cm_pki_creds_clear(&c);
        cm_log_warn(LOG_MOD, "join_failed", "control=%s error=%s",
                    k->control[i], cm_log_quote(q, sizeof(q), err));
        snprintf(msg, sizeof(msg), "join through %s: %s", k->control[i], err);
        set_error(k, msg);
    }
    return GW_EIO;
}

/* One round over the control nodes with a copy of the current set. */
static int renew_round(struct dp_xds__creds *k)
{
    char err[CM_ERR_LEN], q[CM_ERR_LEN + 8], msg[DP_XDS_MSG_LEN];
    struct cm_pki_creds c;
    int rc;

    pthread_mutex_lock(&k->mu);
    rc = creds_copy(&c, &k->cur);
    pthread_mutex_unlock(&k->mu);
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < k->n_control && !stopping(k); i++) {
        if (cm_pki_renew(k->control[i], k->timeout_ms, &c, err, sizeof(err)) ==
            0) {
            adopt(k, &c, "renewed", k->control[i]);
            return GW_OK;
        }
        cm_log_warn(LOG_MOD, "renew_failed", "control=%s error=%s retry_ms=%u",
                    k->control[i], cm_log_quote(q, sizeof(q), err),
                    k->retry_ms);
        snprintf(msg, sizeof(msg), "renew through %s: %s", k->control[i], err);
        set_error(k, msg);
    }
    cm_pki_creds_clear(&c);
    return GW_EIO;
}

/* Waits up to <ms> or until stopped or woken; the caller holds mu. */
static void wait_locked(struct dp_xds__creds *k, int64_t ms)
{
    struct timespec ts;

    if (ms > MAX_SLEEP_MS)
        ms = MAX_SLEEP_MS;
    if (ms <= 0 || k->stop)
        return;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    pthread_cond_timedwait(&k->cond, &k->mu, &ts);
}

enum step { STEP_WAIT, STEP_JOIN, STEP_RENEW };

/* What the keeper does next at <now>, and how long it would wait. The
 * caller holds mu. A certificate past its end is replaced by joining
 * again when there is a token; without one, renewal is all there is. */
static enum step next_step(struct dp_xds__creds *k, int64_t now, int64_t *ms)
{
    *ms = 0;
    if (k->cur.cert == NULL)
        return k->token != NULL ? STEP_JOIN : STEP_WAIT;
    if (now >= k->not_after && k->token != NULL)
        return STEP_JOIN;
    if (now >= k->renew_at)
        return STEP_RENEW;
    *ms = (k->renew_at - now) * 1000;
    return STEP_WAIT;
}

static void *keeper_main(void *arg)
{
    struct dp_xds__creds *k = arg;
    int64_t ms;

    pthread_mutex_lock(&k->mu);
    while (!k->stop) {
        enum step s = next_step(k, unix_s(), &ms);
        if (s == STEP_WAIT) {
            wait_locked(k, ms > 0 ? ms : MAX_SLEEP_MS);
            continue;
        }
        pthread_mutex_unlock(&k->mu);
        int rc = s == STEP_JOIN ? join_round(k) : renew_round(k);
        if (rc == 0)
            dp_xds__backoff_reset(&k->backoff);
        ms = rc == 0          ? 0
             : s == STEP_JOIN ? dp_xds__backoff_next(&k->backoff)
                              : k->retry_ms;
        pthread_mutex_lock(&k->mu);
        wait_locked(k, ms);
    }
    pthread_mutex_unlock(&k->mu);
    return NULL;
}

/* ==== lifecycle ==== */

static char *dup_opt(const char *s)
{
    return s != NULL && s[0] != '\0' ? strdup(s) : NULL;
}

void dp_xds__creds_free(struct dp_xds__creds *k)
{
    if (k == NULL)
        return;
    if (k->started) {
        pthread_mutex_lock(&k->mu);
        k->stop = true;
        pthread_cond_broadcast(&k->cond);
        pthread_mutex_unlock(&k->mu);
        pthread_join(k->thread, NULL);
    }
    cm_pki_creds_clear(&k->cur);
    free(k->node_id);
    free(k->dir);
    if (k->token != NULL)
        explicit_bzero(k->token, strlen(k->token));
    free(k->token);
    pthread_cond_destroy(&k->cond);
    pthread_mutex_destroy(&k->mu);
    free(k);
}

struct dp_xds__creds *dp_xds__creds_new(const struct dp_xds__creds_opts *o,
                                        char *err, size_t len)
{
    struct dp_xds__creds *k = calloc(1, sizeof(*k));
    pthread_condattr_t ca;

    if (k == NULL) {
        cm_err_set(err, len, GW_ENOMEM, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&k->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&k->cond, &ca);
    pthread_condattr_destroy(&ca);
    k->control = o->control;
    k->n_control = o->n_control;
    k->node_id = strdup(o->node_id);
    k->dir = dup_opt(o->dir);
    k->token = dup_opt(o->token);
    k->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : DP_XDS_PKI_TIMEOUT_MS;
    k->retry_ms = o->retry_ms ? o->retry_ms : DP_XDS_CREDS_RETRY_MS;
    dp_xds__backoff_init(&k->backoff, k->retry_ms / 5 ? k->retry_ms / 5 : 1,
                         k->retry_ms * 6, (uint64_t)unix_s() * 2654435761u);
    if (k->node_id == NULL || (o->dir && o->dir[0] && k->dir == NULL) ||
        (o->token && o->token[0] && k->token == NULL)) {
        cm_err_set(err, len, GW_ENOMEM, "out of memory");
        goto fail;
    }
    if (o->creds == NULL && k->token == NULL) {
        cm_err_set(err, len, GW_EINVAL, "no certificate and no join token");
        goto fail;
    }
    if (o->creds != NULL && dp_xds__creds_set(k, o->creds) != 0) {
        cm_err_set(err, len, GW_EINVAL, "unusable credentials");
        goto fail;
    }
    return k;
fail:
    dp_xds__creds_free(k);
    return NULL;
}

int dp_xds__creds_start(struct dp_xds__creds *k)
{
    int rc;

    if (k->started)
        return GW_EINVAL;
    rc = pthread_create(&k->thread, NULL, keeper_main, k);
    if (rc != 0)
        return -rc;
    k->started = true;
    return GW_OK;
}
