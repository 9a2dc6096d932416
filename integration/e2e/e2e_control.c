/*
 * e2e_control.c -- a stand-in control node for integration/e2e/run.sh while
 * the real one (controlplane) is not wired yet: it translates a YAML
 * configuration with common/xds (the same code the control node uses) and
 * serves it over ADS with controlplane/xds. The version of a snapshot is a
 * hash of the file, so a restarted stand-in serves the same versions.
 *
 *   e2e_control --addr H:P [--config FILE]
 *   stdin: apply FILE | nodes | quit
 *   stdout: "listening PORT", "applied VERSION", "rejected MESSAGE",
 *           "event KIND node=ID type=T version=V message=M",
 *           "node id=ID <type>.acked=V <type>.nacks=N <type>.nack=M ...",
 *           "nodes end N"
 * Runs on the main thread (stdin) and the gRPC server's thread (events).
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config/config.h"
#include "common/log/log.h"
#include "common/xds/xds.h"
#include "controlplane/rpc/rpc.h"
#include "controlplane/xds/xds.h"

struct e2e {
    struct cp_xds_server *xds;
    pthread_mutex_t out; /* one line at a time on stdout */
};

static void say(struct e2e *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void say(struct e2e *e, const char *fmt, ...)
{
    va_list ap;

    pthread_mutex_lock(&e->out);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fflush(stdout);
    pthread_mutex_unlock(&e->out);
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long n;

    if (f == NULL)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 &&
        fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n + 1)) != NULL &&
        fread(buf, 1, (size_t)n, f) == (size_t)n) {
        *len = (size_t)n;
        fclose(f);
        return buf;
    }
    free(buf);
    fclose(f);
    return NULL;
}

static uint32_t fnv32(const char *s, size_t n)
{
    uint32_t h = 2166136261u;

    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)s[i]) * 16777619u;
    return h;
}

/* Adds every resource of <res> to <snap>. */
static int fill(struct cp_xds_snapshot *snap,
                const struct cm_xds_resources *res)
{
    static const struct {
        enum cm_xds_type from;
        enum cp_xds_type to;
    } map[] = {{CM_XDS_LISTENER, CP_XDS_LISTENER},
               {CM_XDS_ROUTE, CP_XDS_ROUTE},
               {CM_XDS_CLUSTER, CP_XDS_CLUSTER},
               {CM_XDS_ENDPOINT, CP_XDS_ENDPOINT},
               {CM_XDS_SECRET, CP_XDS_SECRET}};

    for (size_t k = 0; k < sizeof(map) / sizeof(map[0]); k++)
        for (size_t i = 0; i < cm_xds_count(res, map[k].from); i++)
            if (cp_xds_snapshot_add(snap, map[k].to,
                                    cm_xds_name(res, map[k].from, i),
                                    cm_xds_get(res, map[k].from, i)) != 0)
                return -1;
    return 0;
}

static void apply(struct e2e *e, const char *path)
{
    char err[CM_ERR_LEN] = "", version[32];
    struct cm_config *cfg = NULL;
    struct cm_xds_resources *res = NULL;
    struct cp_xds_snapshot *snap = NULL;
    size_t len = 0;
    char *buf = slurp(path, &len);

    if (buf == NULL) {
        say(e, "rejected cannot read %s\n", path);
        return;
    }
    snprintf(version, sizeof(version), "%08x", fnv32(buf, len));
    if ((cfg = cm_config_parse(buf, len, err, sizeof(err))) == NULL ||
        (res = cm_xds_translate(cfg, version, err, sizeof(err))) == NULL ||
        (snap = cp_xds_snapshot_new(version)) == NULL || fill(snap, res) != 0) {
        say(e, "rejected %s\n", err[0] ? err : "out of memory");
    } else {
        cp_xds_server_set_snapshot(e->xds, snap);
        say(e, "applied %s\n", version);
    }
    cp_xds_snapshot_put(snap);
    cm_xds_resources_free(res);
    cm_config_free(cfg);
    free(buf);
}

static const char *kind_name(enum cp_xds_event_kind k)
{
    static const char *n[] = {"connected", "disconnected", "ack", "nack"};
    return k <= CP_XDS_EV_NACK ? n[k] : "?";
}

static void on_event(void *arg, const struct cp_xds_event *ev)
{
    char q[2][1100];

    say(arg, "event %s node=%s type=%s version=%s message=%s\n",
        kind_name(ev->kind), cm_log_quote(q[0], sizeof(q[0]), ev->node_id),
        ev->kind >= CP_XDS_EV_ACK ? cp_xds_type_short(ev->type) : "-",
        ev->version ? ev->version : "-",
        cm_log_quote(q[1], sizeof(q[1]), ev->message ? ev->message : "-"));
}

static void nodes(struct e2e *e)
{
    struct cp_xds_node_info *ns = NULL;
    size_t n = 0;
    char q[1100];

    if (cp_xds_server_list_nodes(e->xds, &ns, &n) != 0)
        return;
    pthread_mutex_lock(&e->out);
    for (size_t i = 0; i < n; i++) {
        printf("node id=%s", cm_log_quote(q, sizeof(q), ns[i].id));
        for (int t = 0; t < CP_XDS_TYPE_COUNT; t++) {
            const struct cp_xds_type_info *ti = &ns[i].types[t];
            const char *s = cp_xds_type_short(t);
            if (!ti->subscribed)
                continue;
            printf(" %s.acked=%s %s.nacks=%llu %s.nack=%s", s,
                   ti->acked_version[0] ? ti->acked_version : "-", s,
                   (unsigned long long)ti->nacks, s,
                   cm_log_quote(q, sizeof(q),
                                ti->nack_message[0] ? ti->nack_message : "-"));
        }
        printf("\n");
    }
    printf("nodes end %zu\n", n);
    fflush(stdout);
    pthread_mutex_unlock(&e->out);
    free(ns);
}

int main(int argc, char **argv)
{
    const char *addr = "127.0.0.1:0", *config = NULL;
    struct e2e e = {0};
    struct cp_rpc_server *rpc;
    char err[CM_ERR_LEN], line[4096];
    int port = 0;

    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--addr") == 0)
            addr = argv[i + 1];
        else if (strcmp(argv[i], "--config") == 0)
            config = argv[i + 1];
    }
    pthread_mutex_init(&e.out, NULL);
    if ((rpc = cp_rpc_server_new()) == NULL ||
        (e.xds = cp_xds_server_new(rpc)) == NULL) {
        fprintf(stderr, "e2e_control: out of memory\n");
        return 1;
    }
    cp_xds_server_set_event_cb(e.xds, on_event, &e);
    if (config != NULL)
        apply(&e, config);
    if (cp_rpc_server_start(rpc, addr, &port, err, sizeof(err)) != 0) {
        fprintf(stderr, "e2e_control: %s\n", err);
        return 1;
    }
    say(&e, "listening %d\n", port);
    while (fgets(line, sizeof(line), stdin) != NULL) {
        line[strcspn(line, "\r\n")] = '\0';
        if (strncmp(line, "apply ", 6) == 0)
            apply(&e, line + 6);
        else if (strcmp(line, "nodes") == 0)
            nodes(&e);
        else if (strcmp(line, "quit") == 0)
            break;
    }
    cp_rpc_server_stop(rpc);
    cp_xds_server_free(e.xds);
    cp_rpc_server_free(rpc);
    pthread_mutex_destroy(&e.out);
    return 0;
}
