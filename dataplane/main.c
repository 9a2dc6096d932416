/*
 * main.c -- the dataplane binary: flags, the proxy engine and its workers,
 * the admin server, and standalone configuration (--config FILE: YAML
 * parsed by common/config, translated by common/xds, compiled into a proxy
 * table; reloaded on SIGHUP). SIGTERM/SIGINT drain within --drain-timeout.
 * The main thread runs a libuv loop for signals and the drain timer only.
 */
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "common/config/config.h"
#include "common/log/log.h"
#include "common/version/version.h"
#include "common/xds/xds.h"
#include "dataplane/admin/admin.h"
#include "dataplane/proxy/proxy.h"
#include "dataplane/proxy/proxy_table.h"

struct dp_main {
    /* flags */
    const char *config;
    const char *control;
    const char *cache_dir;
    const char *node_id;
    const char *admin_addr;
    int64_t drain_timeout_ms;
    int64_t route_timeout_ms;
    int workers;

    struct dp_proxy *proxy;
    struct dp_admin *admin;
    uv_loop_t *loop;
    uv_signal_t sighup, sigterm, sigint;
    uv_timer_t drain;
    uint64_t drain_start;

    /* read by the admin thread: under mu */
    pthread_mutex_t mu;
    bool ready;
    char version[64];
    char reason[CM_ERR_LEN];
    uint64_t loads, failures;
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

/* Builds a table from the file; returns new or NULL with <err>. */
static struct dp_proxy_table *load_table(const char *path, char *version,
                                         size_t vlen, char *err, size_t elen)
{
    struct cm_config *cfg;
    struct cm_xds_resources *res;
    struct dp_proxy_table *t;
    json_t *j;
    size_t len;
    char *buf = read_file(path, &len, err, elen);

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
    t = dp_proxy_table_new(res, err, elen);
    if (t != NULL && (j = cm_xds_to_json(res)) != NULL) {
        t->dump = json_dumps(j, JSON_INDENT(2));
        json_decref(j);
    }
    cm_xds_resources_free(res);
    return t;
}

static void reload(struct dp_main *m)
{
    char err[CM_ERR_LEN], version[64], q[CM_ERR_LEN + 16];
    struct dp_proxy_table *t;

    t = load_table(m->config, version, sizeof(version), err, sizeof(err));
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
    if (dp_proxy_set_table(m->proxy, t) != 0)
        return;
    pthread_mutex_lock(&m->mu);
    m->loads++;
    m->ready = true;
    snprintf(m->version, sizeof(m->version), "%s", version);
    pthread_mutex_unlock(&m->mu);
    cm_log_info("dataplane", "config_applied", "file=%s version=%s", m->config,
                version);
}

/* ==== admin callbacks (admin thread) ==== */

static int adm_ready(void *arg, char *reason, size_t len)
{
    struct dp_main *m = arg;
    int r;

    pthread_mutex_lock(&m->mu);
    r = m->ready;
    if (!r)
        snprintf(reason, len, "%s", m->reason);
    pthread_mutex_unlock(&m->mu);
    return r;
}

static void adm_metrics(void *arg, struct dp_admin_metrics *out)
{
    struct dp_main *m = arg;

    dp_proxy_stats(m->proxy, &out->proxy);
    out->workers = dp_proxy_workers(m->proxy);
    pthread_mutex_lock(&m->mu);
    out->ready = m->ready;
    out->config_loads = m->loads;
    out->config_failures = m->failures;
    snprintf(out->config_version, sizeof(out->config_version), "%s",
             m->version);
    pthread_mutex_unlock(&m->mu);
}

static int dump_cb(const struct dp_proxy_table *t, void *arg)
{
    char **out = arg;

    if (t != NULL && t->dump != NULL)
        *out = strdup(t->dump);
    return 0;
}

static char *adm_dump(void *arg)
{
    struct dp_main *m = arg;
    char *out = NULL;

    dp_proxy_with_table(m->proxy, dump_cb, &out);
    return out;
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

static void on_signal(uv_signal_t *s, int sig)
{
    struct dp_main *m = s->data;

    if (sig == SIGHUP) {
        if (m->config != NULL)
            reload(m);
        return;
    }
    if (m->drain_start != 0)
        return;
    cm_log_info("dataplane", "draining", "signal=%d timeout_ms=%lld", sig,
                (long long)m->drain_timeout_ms);
    m->drain_start = uv_now(m->loop) ? uv_now(m->loop) : 1;
    dp_proxy_drain(m->proxy);
    uv_timer_start(&m->drain, on_drain_tick, 0, 50);
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
        "  --control H:P,...    control nodes (default 127.0.0.1:4242); "
        "stored for\n"
        "                       the xDS client of a later release: not used "
        "yet\n"
        "  --cache-dir DIR      last good config for cold starts; stored, "
        "not used yet\n"
        "  --node-id ID         this node's name (default: hostname)\n"
        "  --workers N          worker threads (default: number of cores)\n"
        "  --admin-addr H:P     admin server: /ping /ready /metrics "
        "/config_dump\n"
        "                       (default " DP_ADMIN_ADDR_DEF ")\n"
        "  --drain-timeout D    SIGTERM drain limit, e.g. 15s (default "
        "15s)\n"
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
            flag(argc, argv, &i, "--admin-addr", &m->admin_addr))
            continue;
        if (flag(argc, argv, &i, "--workers", &v)) {
            m->workers = atoi(v);
            if (m->workers < 1 || m->workers > 1024) {
                fprintf(stderr, "dataplane: --workers: 1..1024\n");
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
    return 0;
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
    pthread_mutex_init(&m.mu, NULL);
    snprintf(m.reason, sizeof(m.reason), "%s",
             m.config ? "configuration not loaded"
                      : "waiting for the control plane (xDS client not "
                        "implemented yet)");
    opts.workers = m.workers;
    opts.route_timeout_ms = (uint32_t)m.route_timeout_ms;
    if ((m.proxy = dp_proxy_new(&opts)) == NULL ||
        dp_proxy_start(m.proxy) != 0) {
        fprintf(stderr, "dataplane: cannot start the workers\n");
        return 1;
    }
    src = (struct dp_admin_src){&m, adm_ready, adm_metrics, adm_dump};
    m.admin = dp_admin_start(m.admin_addr, &src, err, sizeof(err));
    if (m.admin == NULL) {
        fprintf(stderr, "dataplane: admin: %s\n", err);
        dp_proxy_stop(m.proxy);
        dp_proxy_free(m.proxy);
        return 1;
    }
    cm_log_info("dataplane", "started",
                "workers=%d admin=%s config=%s control=%s node_id=%s",
                dp_proxy_workers(m.proxy), m.admin_addr,
                m.config ? m.config : "-", m.config ? "-" : m.control,
                m.node_id[0] ? m.node_id : "-");
    m.loop = uv_default_loop();
    if (m.config != NULL)
        reload(&m);
    uv_timer_init(m.loop, &m.drain);
    m.drain.data = &m;
    uv_signal_init(m.loop, &m.sighup);
    uv_signal_init(m.loop, &m.sigterm);
    uv_signal_init(m.loop, &m.sigint);
    m.sighup.data = m.sigterm.data = m.sigint.data = &m;
    uv_signal_start(&m.sighup, on_signal, SIGHUP);
    uv_signal_start(&m.sigterm, on_signal, SIGTERM);
    uv_signal_start(&m.sigint, on_signal, SIGINT);
    uv_run(m.loop, UV_RUN_DEFAULT);

    dp_proxy_stop(m.proxy);
    dp_admin_stop(m.admin);
    dp_proxy_free(m.proxy);
    uv_close((uv_handle_t *)&m.drain, NULL);
    uv_close((uv_handle_t *)&m.sighup, NULL);
    uv_close((uv_handle_t *)&m.sigterm, NULL);
    uv_close((uv_handle_t *)&m.sigint, NULL);
    uv_run(m.loop, UV_RUN_DEFAULT);
    uv_loop_close(m.loop);
    pthread_mutex_destroy(&m.mu);
    cm_log_info("dataplane", "stopped", NULL);
    return 0;
}
