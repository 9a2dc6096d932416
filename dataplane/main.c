/*
 * main.c -- the dataplane binary: flags, the proxy engine and its workers,
 * the admin server, and where configuration comes from: by default the xDS
 * client (--control, --node-id, --cache-dir: dataplane/xds builds and
 * applies tables on its own thread; mutual TLS with the node's certificate
 * from --cache-dir, or joining with --join-token or --join-token-file,
 * unless --insecure), or standalone
 * (--config FILE: YAML
 * parsed by common/config, translated by common/xds, compiled by
 * dataplane/table; reloaded on SIGHUP). SIGTERM/SIGINT fail /ready, wait
 * --drain-delay, then drain within --drain-timeout. The main thread runs a
 * libuv loop for signals and the drain timer only.
 */
#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "common/config/config.h"
#include "common/log/log.h"
#include "common/pki/pki.h"
#include "common/version/version.h"
#include "common/xds/xds.h"
#include "dataplane/admin/admin.h"
#include "dataplane/proxy/proxy.h"
#include "dataplane/table/table.h"
#include "dataplane/xds/xds.h"

struct dp_main {
    /* flags */
    const char *config;
    const char *control;
    const char *cache_dir;
    const char *node_id;
    const char *admin_addr;
    const char *listen_host;      /* replaces every listener's host, or NULL */
    const char *join_token;       /* --join-token / TRAEFIKEE_JOIN_TOKEN */
    const char *join_token_file;  /* --join-token-file: the token's file */
    char token_buf[256];          /* the token read from that file */
    bool insecure;                /* --insecure / TRAEFIKEE_INSECURE */
    char token_ca[CM_PKI_FP_HEX]; /* the token's CA fingerprint, or "" */
    int64_t drain_timeout_ms;
    int64_t drain_delay_ms; /* /ready 503, still serving, before draining */
    int64_t route_timeout_ms;
    int workers;

    char host_id[256];         /* default --node-id */
    struct cm_pki_creds creds; /* loaded at start, until the client copies */

    struct dp_proxy *proxy;
    struct dp_admin *admin;
    struct dp_xds_client *xds; /* NULL in standalone mode */
    uv_loop_t *loop;
    uv_signal_t sighup, sigterm, sigint;
    uv_timer_t drain;
    uint64_t drain_start;

    /* read by the admin thread: under mu */
    pthread_mutex_t mu;
    bool ready;
    bool draining; /* SIGTERM received: /ready answers 503 */
    char version[64];
    char reason[CM_ERR_LEN];
    uint64_t loads, failures;
    char *dump; /* JSON of the resources being served, or NULL */
};

/* ==== configuration ==== */

static uint64_t fnv64(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;

    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
    return h;
}

static char *read_file(const char *path, size_t *len, char *err, size_t elen)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t cap = 0, n = 0, r;

    if (f == NULL) {
        cm_err_set(err, elen, GW_EIO, "%s: cannot open", path);
        return NULL;
    }
    do {
        if (cap - n < 4096) {
            char *p = realloc(buf, cap ? cap * 2 : 8192);
            if (p == NULL) {
                free(buf);
                fclose(f);
                cm_err_set(err, elen, GW_ENOMEM, "out of memory");
                return NULL;
            }
            buf = p;
            cap = cap ? cap * 2 : 8192;
        }
        r = fread(buf + n, 1, cap - n, f);
        n += r;
    } while (r > 0);
    fclose(f);
    *len = n;
    return buf;
}

/* JSON text of <res> for /config_dump: returns new, or NULL. */
static char *dump_json(const char *version, const struct dp_table_input *in)
{
    struct cm_xds_resources res = {
        .version = (char *)version,
        .listeners = (void *)in->listeners,
        .n_listeners = in->n_listeners,
        .routes = (void *)in->routes,
        .n_routes = in->n_routes,
        .clusters = (void *)in->clusters,
        .n_clusters = in->n_clusters,
        .endpoints = (void *)in->endpoints,
        .n_endpoints = in->n_endpoints,
        /* secrets (private keys) are not dumped */
    };
    json_t *j = cm_xds_to_json(&res);
    char *out = j ? json_dumps(j, JSON_INDENT(2)) : NULL;

    json_decref(j);
    return out;
}

/* Sets the dump (takes <d>). */
static void set_dump(struct dp_main *m, char *d)
{
    pthread_mutex_lock(&m->mu);
    free(m->dump);
    m->dump = d;
    pthread_mutex_unlock(&m->mu);
}

/* Builds a table from the file; returns new or NULL with <err>. *dump
 * gets the JSON of the translated resources. */
static struct dp_table *load_table(struct dp_main *m, char *version,
                                   size_t vlen, char **dump, char *err,
                                   size_t elen)
{
    struct cm_config *cfg;
    struct cm_xds_resources *res;
    struct dp_table_input in;
    struct dp_table *t;
    size_t len;
    char *buf = read_file(m->config, &len, err, elen);

    if (buf == NULL)
        return NULL;
    snprintf(version, vlen, "file-%016llx",
             (unsigned long long)fnv64(buf, len));
    cfg = cm_config_parse(buf, len, err, elen);
    free(buf);
    if (cfg == NULL)
        return NULL;
    res = cm_xds_translate(cfg, version, err, elen);
    cm_config_free(cfg);
    if (res == NULL)
        return NULL;
    in = (struct dp_table_input){
        .listeners = res->listeners,
        .n_listeners = res->n_listeners,
        .routes = res->routes,
        .n_routes = res->n_routes,
        .clusters = res->clusters,
        .n_clusters = res->n_clusters,
        .endpoints = res->endpoints,
        .n_endpoints = res->n_endpoints,
        .secrets = res->secrets,
        .n_secrets = res->n_secrets,
        .listen_host = m->listen_host,
    };
    t = dp_proxy_build_table(m->proxy, &in, err, elen);
    *dump = t != NULL ? dump_json(version, &in) : NULL;
    cm_xds_resources_free(res);
    return t;
}

static void reload(struct dp_main *m)
{
    char err[CM_ERR_LEN], version[64], q[CM_ERR_LEN + 16];
    char *dump = NULL;
    struct dp_table *t;

    t = load_table(m, version, sizeof(version), &dump, err, sizeof(err));
    pthread_mutex_lock(&m->mu);
    if (t == NULL) {
        m->failures++;
        snprintf(m->reason, sizeof(m->reason), "%s", err);
        pthread_mutex_unlock(&m->mu);
        cm_log_error("dataplane", "config_rejected", "file=%s err=%s",
                     m->config, cm_log_quote(q, sizeof(q), err));
        return;
    }
    pthread_mutex_unlock(&m->mu);
    if (dp_proxy_set_table(m->proxy, t) != 0) {
        free(dump);
        return;
    }
    set_dump(m, dump);
    pthread_mutex_lock(&m->mu);
    m->loads++;
    m->ready = true;
    snprintf(m->version, sizeof(m->version), "%s", version);
    pthread_mutex_unlock(&m->mu);
    cm_log_info("dataplane", "config_applied", "file=%s version=%s", m->config,
                version);
}

/* ==== xDS callbacks (xDS client thread) ==== */

/* The table input of the resources <r> (borrowed). */
static struct dp_table_input input_of(const struct dp_xds_resources *r)
{
    return (struct dp_table_input){
        .listeners = r->listeners,
        .n_listeners = r->n_listeners,
        .routes = r->routes,
        .n_routes = r->n_routes,
        .clusters = r->clusters,
        .n_clusters = r->n_clusters,
        .endpoints = r->endpoints,
        .n_endpoints = r->n_endpoints,
        .secrets = r->secrets,
        .n_secrets = r->n_secrets,
    };
}

static struct dp_table *xds_build(void *ctx, const struct dp_xds_resources *r,
                                  char *err, size_t len)
{
    struct dp_main *m = ctx;
    struct dp_table_input in = input_of(r);

    in.listen_host = m->listen_host;
    /* /config_dump is rendered when asked (adm_dump): not here, on the
     * way of every update */
    return dp_proxy_build_table(m->proxy, &in, err, len);
}

static void xds_apply(void *ctx, struct dp_table *t)
{
    struct dp_main *m = ctx;

    if (dp_proxy_set_table(m->proxy, t) != 0)
        return; /* draining */
    pthread_mutex_lock(&m->mu);
    m->loads++;
    pthread_mutex_unlock(&m->mu);
}

/* mkdir -p <dir> (mode 0700 for what it creates). 0 or GW_EIO. */
static int make_dir(const char *dir, char *err, size_t len)
{
    char path[4096];
    size_t n = strlen(dir);

    if (n == 0 || n >= sizeof(path))
        return cm_err_set(err, len, GW_EINVAL, "--cache-dir: bad path");
    memcpy(path, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (path[i] != '/' && path[i] != '\0')
            continue;
        path[i] = '\0';
        if (mkdir(path, 0700) == -1 && errno != EEXIST)
            return cm_err_set(err, len, GW_EIO, "--cache-dir %s: %s", path,
                              strerror(errno));
        path[i] = i < n ? '/' : '\0';
    }
    return GW_OK;
}

static int start_xds(struct dp_main *m, char *err, size_t len)
{
    struct dp_xds_opts o = {
        .control = m->control,
        .node_id = m->node_id[0] ? m->node_id : m->host_id,
        .cache_dir = m->cache_dir,
        .admin_addr = m->admin_addr,
        .workers = dp_proxy_workers(m->proxy),
        .build = xds_build,
        .apply = xds_apply,
        .ctx = m,
    };

    if (!m->insecure) {
        o.creds = m->creds.cert != NULL ? &m->creds : NULL;
        o.join_token = m->join_token;
    }

    if (m->cache_dir != NULL && m->cache_dir[0] != '\0' &&
        make_dir(m->cache_dir, err, len) != 0)
        return GW_EIO;
    m->xds = dp_xds_new(&o, err, len);
    cm_pki_creds_clear(&m->creds); /* the client has its copy */
    if (m->xds == NULL)
        return GW_EINVAL;
    if (dp_xds_start(m->xds) != 0) {
        cm_err_set(err, len, GW_EIO, "cannot start the xDS client");
        return GW_EIO;
    }
    return GW_OK;
}

static int64_t unix_ms(void)
{
    struct timeval tv;

    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* ==== admin callbacks (admin thread) ==== */

static int adm_ready_xds(struct dp_main *m, char *reason, size_t len)
{
    struct dp_xds_status st;

    dp_xds_status(m->xds, &st);
    if (st.have_config) {
        /* once a stream is up the config is current, even when the control
         * node had nothing newer to send (delta: same versions) */
        if (st.from_cache && st.state != DP_XDS_CONNECTED)
            snprintf(reason, len, "serving from cache (control plane %s: %s)",
                     st.control[0] ? st.control : m->control,
                     dp_xds_state_name(st.state));
        return 1;
    }
    snprintf(
        reason, len, "no configuration yet: xDS %s%s%s%s%s%s%s%s",
        dp_xds_state_name(st.state), st.control[0] ? " to " : "", st.control,
        st.last_nack[0] ? "; last rejected: " : "", st.last_nack,
        st.tls && st.cert_not_after == 0 ? "; no certificate yet" : "",
        st.cert_error[0] ? "; last certificate error: " : "", st.cert_error);
    return 0;
}

static int adm_ready(void *arg, char *reason, size_t len)
{
    struct dp_main *m = arg;
    int r;

    pthread_mutex_lock(&m->mu);
    r = m->draining;
    pthread_mutex_unlock(&m->mu);
    if (r) { /* load balancers stop sending before the listeners close */
        snprintf(reason, len, "draining");
        return 0;
    }
    if (m->xds != NULL)
        return adm_ready_xds(m, reason, len);
    pthread_mutex_lock(&m->mu);
    r = m->ready;
    if (!r)
        snprintf(reason, len, "%s", m->reason);
    pthread_mutex_unlock(&m->mu);
    return r;
}

static void xds_metrics(struct dp_main *m, struct dp_admin_metrics *out)
{
    struct dp_xds_status st;
    struct dp_admin_xds *x = &out->xds;

    dp_xds_status(m->xds, &st);
    x->enabled = 1;
    x->connected = st.state == DP_XDS_CONNECTED;
    x->from_cache = st.from_cache && st.state != DP_XDS_CONNECTED;
    snprintf(x->state, sizeof(x->state), "%s", dp_xds_state_name(st.state));
    snprintf(x->control, sizeof(x->control), "%s", st.control);
    for (int t = 0; t < DP_XDS_TYPE_COUNT; t++) {
        snprintf(x->types[t], sizeof(x->types[t]), "%s", dp_xds_type_short(t));
        snprintf(x->versions[t], sizeof(x->versions[t]), "%s", st.version[t]);
    }
    x->n_types = DP_XDS_TYPE_COUNT;
    x->updates_applied = st.updates_applied;
    x->updates_rejected = st.updates_rejected;
    x->connects = st.connects;
    x->failovers = st.failovers;
    x->seconds_since_update =
        st.last_update_ms > 0 ? (unix_ms() - st.last_update_ms) / 1000.0 : -1;
    out->ready = st.have_config;
    out->config_loads = st.updates_applied;
    out->config_failures = st.updates_rejected;
    snprintf(out->config_version, sizeof(out->config_version), "%s",
             st.version[DP_XDS_LISTENER]);
}

static void adm_metrics(void *arg, struct dp_admin_metrics *out)
{
    struct dp_main *m = arg;

    dp_proxy_stats(m->proxy, &out->proxy);
    out->workers = dp_proxy_workers(m->proxy);
    if (m->xds != NULL) {
        xds_metrics(m, out);
        return;
    }
    pthread_mutex_lock(&m->mu);
    out->ready = m->ready;
    out->config_loads = m->loads;
    out->config_failures = m->failures;
    snprintf(out->config_version, sizeof(out->config_version), "%s",
             m->version);
    pthread_mutex_unlock(&m->mu);
}

/* dp_xds_with_resources() callback: <arg> is a char ** for the dump. */
static int xds_dump(const struct dp_xds_resources *r, void *arg)
{
    struct dp_table_input in = input_of(r); /* secrets are not dumped */

    *(char **)arg = dump_json("xds", &in);
    return GW_OK;
}

static char *adm_dump(void *arg)
{
    struct dp_main *m = arg;
    char *out = NULL;

    if (m->xds != NULL) {
        (void)dp_xds_with_resources(m->xds, xds_dump, &out);
        return out;
    }
    pthread_mutex_lock(&m->mu);
    out = m->dump ? strdup(m->dump) : NULL;
    pthread_mutex_unlock(&m->mu);
    return out;
}

static struct dp_proxy_report *adm_report(void *arg)
{
    return dp_proxy_report_new(((struct dp_main *)arg)->proxy);
}

/* ==== signals and draining ==== */

static void on_drain_tick(uv_timer_t *t)
{
    struct dp_main *m = t->data;
    struct dp_proxy_stats st;

    dp_proxy_stats(m->proxy, &st);
    if (st.conns_active == 0 ||
        uv_now(m->loop) - m->drain_start >= (uint64_t)m->drain_timeout_ms) {
        cm_log_info("dataplane", "drained", "open_connections=%llu",
                    (unsigned long long)st.conns_active);
        uv_stop(m->loop);
    }
}

/* --drain-delay is over (load balancers saw /ready fail): drain. */
static void on_drain_delay(uv_timer_t *t)
{
    struct dp_main *m = t->data;

    m->drain_start = uv_now(m->loop) ? uv_now(m->loop) : 1;
    /* idle keep-alive connections: half the drain time for a last request */
    dp_proxy_drain(m->proxy, (uint32_t)(m->drain_timeout_ms / 2 > UINT32_MAX
                                            ? UINT32_MAX
                                            : m->drain_timeout_ms / 2));
    uv_timer_start(&m->drain, on_drain_tick, 0, 50);
}

static void on_signal(uv_signal_t *s, int sig)
{
    struct dp_main *m = s->data;

    if (sig == SIGHUP) {
        if (m->config != NULL)
            reload(m);
        else
            cm_log_info("dataplane", "sighup_ignored",
                        "reason=\"configuration comes over xDS\"");
        return;
    }
    if (m->drain_start != 0)
        return;
    cm_log_info("dataplane", "draining",
                "signal=%d delay_ms=%lld timeout_ms=%lld", sig,
                (long long)m->drain_delay_ms, (long long)m->drain_timeout_ms);
    m->drain_start = uv_now(m->loop) ? uv_now(m->loop) : 1;
    pthread_mutex_lock(&m->mu);
    m->draining = true;
    pthread_mutex_unlock(&m->mu);
    uv_timer_start(&m->drain, on_drain_delay, (uint64_t)m->drain_delay_ms, 0);
}

/* ==== flags ==== */

static int usage(FILE *f)
{
    fprintf(
        f,
        "usage: dataplane [flags]\n"
        "  --config FILE        standalone: serve this YAML/JSON "
        "configuration,\n"
        "                       reloaded on SIGHUP (a bad file keeps the "
        "last good one)\n"
        "  --control H:P,...    control nodes to take the configuration "
        "from over\n"
        "                       xDS when --config is not given (default "
        "127.0.0.1:4242)\n"
        "  --cache-dir DIR      keep the last good xDS config here (served "
        "on a cold\n"
        "                       start while no control node answers) and "
        "this node's\n"
        "                       certificate (ca.crt, node.crt, node.key)\n"
        "  --join-token T       the data token (`traefikeectl tokens`): "
        "join the cluster\n"
        "                       when --cache-dir holds no valid "
        "certificate; without\n"
        "                       --cache-dir, needed at every start "
        "(env\n"
        "                       TRAEFIKEE_JOIN_TOKEN)\n"
        "  --join-token-file F  the same, read from the first line of F "
        "(out of argv)\n"
        "  --insecure           plain-text xDS, no certificate: development "
        "only (env\n"
        "                       TRAEFIKEE_INSECURE=1)\n"
        "  --node-id ID         this node's name (default: hostname)\n"
        "  --workers N          worker threads (default: number of cores)\n"
        "  --listen-host IP     listen on IP instead of the host of every "
        "entry point's\n"
        "                       address (ports kept): one address per node\n"
        "  --admin-addr H:P     admin server: /ping /ready /metrics "
        "/config_dump\n"
        "                       (default " DP_ADMIN_ADDR_DEF ")\n"
        "  --drain-delay D      on SIGTERM, /ready fails at once but the "
        "listeners stay\n"
        "                       open for D (load balancers stop sending), "
        "then drain\n"
        "                       (default 0)\n"
        "  --drain-timeout D    SIGTERM drain limit, e.g. 15s (default "
        "15s); idle\n"
        "                       keep-alive connections wait up to half "
        "of it for a\n"
        "                       last request (answered with Connection: "
        "close)\n"
        "  --route-timeout D    wait for a response head when the route sets "
        "no\n"
        "                       timeout, then 504 (default 15s)\n"
        "  --log-level L        debug, info, warn, error (default info)\n"
        "  --version            print the version and exit\n"
        "  --help               this text\n");
    return f == stdout ? 0 : 2;
}

/* Matches "--name value" and "--name=value"; sets *val. */
static int flag(int argc, char **argv, int *i, const char *name,
                const char **val)
{
    size_t n = strlen(name);

    if (strncmp(argv[*i], name, n) != 0)
        return 0;
    if (argv[*i][n] == '=') {
        *val = argv[*i] + n + 1;
        return 1;
    }
    if (argv[*i][n] != '\0' || *i + 1 >= argc)
        return 0;
    *val = argv[++*i];
    return 1;
}

/* TRAEFIKEE_INSECURE: any value but "" and "0". */
static bool env_insecure(void)
{
    const char *v = getenv("TRAEFIKEE_INSECURE");

    return v != NULL && v[0] != '\0' && strcmp(v, "0") != 0;
}

/* --join-token-file: the first line of the file, without surrounding
 * white space, into m->token_buf. 0, or -1 with one line on stderr. */
static int read_token_file(struct dp_main *m)
{
    char *text = NULL, err[CM_ERR_LEN];
    size_t n;
    int rc = -1;

    if (cm_pki_file_read(m->join_token_file, &text, err, sizeof(err)) != 0) {
        fprintf(stderr, "dataplane: --join-token-file %s: %s\n",
                m->join_token_file, err);
        return -1;
    }
    char *s = text + strspn(text, " \t\r\n");
    n = strcspn(s, "\r\n");
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    if (n == 0 || n >= sizeof(m->token_buf)) {
        fprintf(stderr, "dataplane: --join-token-file %s: %s\n",
                m->join_token_file, n == 0 ? "empty" : "not a join token");
    } else {
        memcpy(m->token_buf, s, n);
        m->token_buf[n] = '\0';
        m->join_token = m->token_buf;
        rc = 0;
    }
    explicit_bzero(text, strlen(text));
    free(text);
    return rc;
}

/* --insecure and --join-token after the flags: the environment, and the
 * token's form and role. 0 or 2. */
static int security_flags(struct dp_main *m)
{
    struct cm_pki_token t;
    char err[CM_ERR_LEN];

    if (env_insecure())
        m->insecure = true;
    if (m->join_token_file != NULL && m->join_token != NULL) {
        fprintf(stderr, "dataplane: --join-token and --join-token-file "
                        "exclude each other\n");
        return 2;
    }
    if (m->join_token_file != NULL && read_token_file(m) != 0)
        return 2;
    if (m->join_token == NULL)
        m->join_token = getenv("TRAEFIKEE_JOIN_TOKEN");
    if (m->join_token != NULL && m->join_token[0] == '\0')
        m->join_token = NULL;
    if (m->join_token == NULL || m->insecure || m->config != NULL)
        return 0;
    if (cm_pki_token_parse(m->join_token, &t, err, sizeof(err)) != 0) {
        fprintf(stderr, "dataplane: --join-token: %s\n", err);
        return 2;
    }
    if (t.role != CM_PKI_ROLE_DATA) {
        fprintf(stderr,
                "dataplane: --join-token: a %s token; a data node needs the "
                "data token (`traefikeectl tokens`)\n",
                cm_pki_role_name(t.role));
        return 2;
    }
    memcpy(m->token_ca, t.ca_fp, sizeof(m->token_ca));
    explicit_bzero(&t, sizeof(t));
    return 0;
}

/* Whether the loaded CA is the join token's (a cluster made anew has
 * another CA: its token says so). True without a token. */
static bool creds_match_token(struct dp_main *m)
{
    char fp[CM_PKI_FP_HEX], err[CM_ERR_LEN];

    if (m->token_ca[0] == '\0')
        return true;
    return cm_pki_fingerprint(m->creds.ca, fp, err, sizeof(err)) == 0 &&
           strcmp(fp, m->token_ca) == 0;
}

/* Secure xDS mode: the certificate saved in --cache-dir, or else a join
 * token. 0, or 1 with one line on stderr saying what to do. */
static int load_creds(struct dp_main *m)
{
    const char *id = m->node_id[0] ? m->node_id : m->host_id;
    char why[CM_ERR_LEN], q[CM_ERR_LEN + 8];

    if (m->insecure || m->config != NULL)
        return 0;
    if (dp_xds_creds_load(m->cache_dir, id, (int64_t)time(NULL), &m->creds, why,
                          sizeof(why)) == 0) {
        if (creds_match_token(m))
            return 0;
        cm_pki_creds_clear(&m->creds);
        snprintf(why, sizeof(why),
                 "the certificate in %s is from another CA than the join "
                 "token's",
                 m->cache_dir);
    }
    if (m->join_token == NULL) {
        fprintf(stderr,
                "dataplane: %s and no --join-token: get a data token with "
                "`traefikeectl tokens`, or run with --insecure\n",
                why);
        return 1;
    }
    cm_log_info("dataplane", "will_join", "reason=%s",
                cm_log_quote(q, sizeof(q), why));
    return 0;
}

static int parse_flags(struct dp_main *m, int argc, char **argv)
{
    const char *v;
    char line[256];
    enum cm_log_level lvl;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            exit(usage(stdout));
        if (strcmp(argv[i], "--version") == 0) {
            printf("%s\n", cm_version_line(line, sizeof(line), "dataplane"));
            exit(0);
        }
        if (flag(argc, argv, &i, "--config", &m->config) ||
            flag(argc, argv, &i, "--control", &m->control) ||
            flag(argc, argv, &i, "--cache-dir", &m->cache_dir) ||
            flag(argc, argv, &i, "--node-id", &m->node_id) ||
            flag(argc, argv, &i, "--admin-addr", &m->admin_addr) ||
            flag(argc, argv, &i, "--listen-host", &m->listen_host) ||
            flag(argc, argv, &i, "--join-token-file", &m->join_token_file) ||
            flag(argc, argv, &i, "--join-token", &m->join_token))
            continue;
        if (strcmp(argv[i], "--insecure") == 0) {
            m->insecure = true;
            continue;
        }
        if (flag(argc, argv, &i, "--workers", &v)) {
            m->workers = atoi(v);
            if (m->workers < 1 || m->workers > 1024) {
                fprintf(stderr, "dataplane: --workers: 1..1024\n");
                return 2;
            }
        } else if (flag(argc, argv, &i, "--drain-delay", &v)) {
            if (cm_config_parse_duration(v, &m->drain_delay_ms) != 0 ||
                m->drain_delay_ms < 0) {
                fprintf(stderr, "dataplane: --drain-delay: bad duration\n");
                return 2;
            }
        } else if (flag(argc, argv, &i, "--drain-timeout", &v)) {
            if (cm_config_parse_duration(v, &m->drain_timeout_ms) != 0) {
                fprintf(stderr, "dataplane: --drain-timeout: bad duration\n");
                return 2;
            }
        } else if (flag(argc, argv, &i, "--route-timeout", &v)) {
            if (cm_config_parse_duration(v, &m->route_timeout_ms) != 0 ||
                m->route_timeout_ms <= 0 || m->route_timeout_ms > UINT32_MAX) {
                fprintf(stderr, "dataplane: --route-timeout: bad duration\n");
                return 2;
            }
        } else if (flag(argc, argv, &i, "--log-level", &v)) {
            if (cm_log_parse_level(v, &lvl) != 0) {
                fprintf(stderr, "dataplane: --log-level: bad level\n");
                return 2;
            }
            cm_log_set_level(lvl);
        } else {
            fprintf(stderr, "dataplane: unknown flag %s\n", argv[i]);
            return usage(stderr);
        }
    }
    return security_flags(m);
}

static void shutdown_all(struct dp_main *m)
{
    dp_xds_free(m->xds); /* no table is applied after this */
    m->xds = NULL;
    dp_proxy_stop(m->proxy);
    dp_admin_stop(m->admin);
    dp_proxy_free(m->proxy);
    uv_close((uv_handle_t *)&m->drain, NULL);
    uv_close((uv_handle_t *)&m->sighup, NULL);
    uv_close((uv_handle_t *)&m->sigterm, NULL);
    uv_close((uv_handle_t *)&m->sigint, NULL);
    uv_run(m->loop, UV_RUN_DEFAULT);
    uv_loop_close(m->loop);
    free(m->dump);
    pthread_mutex_destroy(&m->mu);
}

static void start_loop(struct dp_main *m)
{
    m->loop = uv_default_loop();
    uv_timer_init(m->loop, &m->drain);
    m->drain.data = m;
    uv_signal_init(m->loop, &m->sighup);
    uv_signal_init(m->loop, &m->sigterm);
    uv_signal_init(m->loop, &m->sigint);
    m->sighup.data = m->sigterm.data = m->sigint.data = m;
    uv_signal_start(&m->sighup, on_signal, SIGHUP);
    uv_signal_start(&m->sigterm, on_signal, SIGTERM);
    uv_signal_start(&m->sigint, on_signal, SIGINT);
}

int main(int argc, char **argv)
{
    struct dp_main m = {
        .control = "127.0.0.1:4242",
        .admin_addr = DP_ADMIN_ADDR_DEF,
        .drain_timeout_ms = DP_PROXY_DRAIN_TIMEOUT_MS,
        .node_id = "",
    };
    struct dp_proxy_opts opts = {0};
    struct dp_admin_src src;
    char err[CM_ERR_LEN];
    int r;

    if ((r = parse_flags(&m, argc, argv)) != 0)
        return r;
    signal(SIGPIPE, SIG_IGN);
    if (gethostname(m.host_id, sizeof(m.host_id) - 1) != 0)
        snprintf(m.host_id, sizeof(m.host_id), "dataplane-%d", (int)getpid());
    if (load_creds(&m) != 0)
        return 1;
    pthread_mutex_init(&m.mu, NULL);
    snprintf(m.reason, sizeof(m.reason), "%s", "configuration not loaded");
    opts.workers = m.workers;
    opts.route_timeout_ms = (uint32_t)m.route_timeout_ms;
    if ((m.proxy = dp_proxy_new(&opts)) == NULL ||
        dp_proxy_start(m.proxy) != 0) {
        fprintf(stderr, "dataplane: cannot start the workers\n");
        return 1;
    }
    src =
        (struct dp_admin_src){&m, adm_ready, adm_metrics, adm_dump, adm_report};
    m.admin = dp_admin_start(m.admin_addr, &src, err, sizeof(err));
    if (m.admin == NULL) {
        fprintf(stderr, "dataplane: admin: %s\n", err);
        dp_proxy_stop(m.proxy);
        dp_proxy_free(m.proxy);
        return 1;
    }
    start_loop(&m);
    if (m.config == NULL && start_xds(&m, err, sizeof(err)) != 0) {
        fprintf(stderr, "dataplane: xds: %s\n", err);
        shutdown_all(&m);
        return 1;
    }
    cm_log_info("dataplane", "started",
                "workers=%d admin=%s config=%s control=%s node_id=%s "
                "cache_dir=%s tls=%s",
                dp_proxy_workers(m.proxy), m.admin_addr,
                m.config ? m.config : "-", m.config ? "-" : m.control,
                m.node_id[0] ? m.node_id : m.host_id,
                m.cache_dir ? m.cache_dir : "-",
                m.config     ? "-"
                : m.insecure ? "off"
                             : "mutual");
    if (m.config != NULL)
        reload(&m);
    uv_run(m.loop, UV_RUN_DEFAULT);
    shutdown_all(&m);
    cm_log_info("dataplane", "stopped", NULL);
    return 0;
}
