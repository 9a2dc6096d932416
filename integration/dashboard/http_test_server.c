/*
 * http_test_server.c -- the control node's HTTP side alone, fed with a
 * fake but lively cluster: three control nodes and three data nodes whose
 * health flaps, a leader that moves, revisions that data nodes ACK (or
 * NACK), router traffic with latency, backends going down and up. For
 * integration/dashboard/run.sh and for looking at the dashboard.
 *
 *   http_test_server [--http-addr H:P] [--password PW] [--sample-ms N]
 *                    [--flap-ms N] [--revision-ms N] [--metrics-auth]
 *
 * SIGUSR1: apply a new revision now. SIGUSR2: toggle data node dn-1's
 * health now. SIGTERM/SIGINT: close and exit 0. One loop, one thread.
 */
#define _GNU_SOURCE
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "common/err/err.h"
#include "controlplane/auth/auth.h"
#include "controlplane/http/http.h"

#define NNODES   6
#define NROUTERS 5
#define NEPS     4
#define NREVS    10

struct fake {
    uv_loop_t *loop;
    struct cp_http *http;
    uv_timer_t traffic_timer, state_timer;
    uv_signal_t sig_usr1, sig_usr2, sig_term, sig_int;
    char hash[CP_AUTH_HASH_MAX];
    struct cp_http_node nodes[NNODES];
    char nack_err[NNODES][128];
    int64_t down_until[NNODES];
    struct cp_http_router_traffic traffic[NROUTERS];
    struct cp_http_endpoint eps[NEPS];
    struct cp_http_revision revs[NREVS];
    char rev_summary[NREVS][96];
    size_t nrevs;
    uint64_t rev;
    int64_t rev_applied_ms;
    char *config;
    unsigned flap_ms, revision_ms;
    int64_t next_flap_ms, next_rev_ms;
    int flap_next;
    uint64_t ticks;
};

static const char *const node_names[NNODES] = {"cn-0", "cn-1", "cn-2",
                                               "dn-0", "dn-1", "dn-2"};
static const char *const node_addrs[NNODES] = {
    "127.0.0.1:4242", "127.0.0.1:4243", "127.0.0.1:4244",
    "127.0.0.1:9000", "127.0.0.1:9001", "127.0.0.1:9002"};
static const char *const node_http[3] = {"127.0.0.1:8099", "127.0.0.1:8100",
                                         "127.0.0.1:8101"};
static const char *const router_names[NROUTERS] = {"whoami", "api", "canary",
                                                   "grpc-greeter", "dashboard"};
static const double router_rate[NROUTERS] = {120, 45, 30, 12, 2};
static const char *const sources[] = {"apply", "file", "apply", "rollback"};

static int64_t now_ms(struct fake *f)
{
    uv_update_time(f->loop);
    return (int64_t)uv_now(f->loop);
}

static int64_t wall_ms(void)
{
    uv_timeval64_t tv;

    uv_gettimeofday(&tv);
    return tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* ==== configuration revisions ==== */

static char *make_config(uint64_t rev)
{
    char *s = NULL;
    int prio = 10 + (int)(rev % 5);
    const char *extra = rev % 2 == 0
                            ? ",\"echo\":{\"rule\":\"PathPrefix(`/echo`)\","
                              "\"service\":\"whoami\"}"
                            : "";

    if (asprintf(
            &s,
            "{\"entryPoints\":{\"web\":{\"address\":\":8000\"},"
            "\"websecure\":{\"address\":\":8443\"}},"
            "\"http\":{\"routers\":{"
            "\"whoami\":{\"rule\":\"Host(`whoami.localhost`) && "
            "PathPrefix(`/whoami`)\",\"service\":\"whoami\",\"entryPoints\":"
            "[\"web\"],\"middlewares\":[\"strip-whoami\"],\"priority\":%d},"
            "\"api\":{\"rule\":\"PathPrefix(`/api/v1`)\",\"service\":\"api\","
            "\"middlewares\":[\"ratelimit\",\"headers\"]},"
            "\"canary\":{\"rule\":\"Host(`canary.localhost`)\",\"service\":"
            "\"canary\"},"
            "\"grpc-greeter\":{\"rule\":\"PathPrefix(`/helloworld.Greeter`)\","
            "\"service\":\"greeter\"},"
            "\"dashboard\":{\"rule\":\"PathPrefix(`/dashboard`) || "
            "PathPrefix(`/api`)\",\"service\":\"controlplane\",\"priority\":"
            "1000}%s},"
            "\"services\":{"
            "\"whoami\":{\"loadBalancer\":{\"servers\":[{\"url\":"
            "\"http://127.0.0.1:8081\"},{\"url\":\"http://127.0.0.1:8082\","
            "\"weight\":2}],\"healthCheck\":{\"path\":\"/health\","
            "\"interval\":\"2s\",\"timeout\":\"1s\"}}},"
            "\"api\":{\"loadBalancer\":{\"servers\":[{\"url\":"
            "\"http://127.0.0.1:8083\"}]}},"
            "\"whoami-v2\":{\"loadBalancer\":{\"servers\":[{\"url\":"
            "\"http://127.0.0.1:8084\"}]}},"
            "\"canary\":{\"weighted\":{\"services\":[{\"name\":\"whoami\","
            "\"weight\":9},{\"name\":\"whoami-v2\",\"weight\":1}]}},"
            "\"greeter\":{\"loadBalancer\":{\"servers\":[{\"url\":"
            "\"h2c://127.0.0.1:50051\"}]}},"
            "\"controlplane\":{\"loadBalancer\":{\"servers\":[{\"url\":"
            "\"http://127.0.0.1:8099\"},{\"url\":\"http://127.0.0.1:8100\"},"
            "{\"url\":\"http://127.0.0.1:8101\"}]}}},"
            "\"middlewares\":{"
            "\"strip-whoami\":{\"stripPrefix\":{\"prefixes\":[\"/whoami\"]}},"
            "\"ratelimit\":{\"rateLimit\":{\"average\":100,\"burst\":50}},"
            "\"headers\":{\"headers\":{\"customResponseHeaders\":"
            "{\"X-Revision\":\"%llu\"}}}}}}",
            prio, extra, (unsigned long long)rev) < 0)
        return NULL;
    return s;
}

static void publish(struct fake *f, const char *type, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void publish(struct fake *f, const char *type, const char *fmt, ...)
{
    char buf[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    cp_http_publish_event(f->http, type, buf);
}

static void apply_revision(struct fake *f)
{
    char *cfg = make_config(f->rev + 1);
    struct cp_http_revision *r;

    if (cfg == NULL)
        return;
    free(f->config);
    f->config = cfg;
    f->rev++;
    f->rev_applied_ms = now_ms(f);
    memmove(&f->revs[1], &f->revs[0], (NREVS - 1) * sizeof(f->revs[0]));
    memmove(&f->rev_summary[1], &f->rev_summary[0],
            (NREVS - 1) * sizeof(f->rev_summary[0]));
    if (f->nrevs < NREVS)
        f->nrevs++;
    for (size_t i = 0; i < f->nrevs; i++) /* summaries moved */
        f->revs[i].summary = f->rev_summary[i];
    r = &f->revs[0];
    r->revision = f->rev;
    r->time_ms = wall_ms();
    r->source = sources[f->rev % 4];
    snprintf(f->rev_summary[0], sizeof(f->rev_summary[0]),
             f->rev % 2 == 0 ? "+router echo, ~router whoami"
                             : "-router echo, ~router whoami");
    for (int i = 0; i < 3; i++) /* control nodes load it at once */
        if (f->nodes[i].healthy)
            f->nodes[i].revision = f->rev;
    publish(f, "revision", "{\"revision\":%llu,\"source\":\"%s\"}",
            (unsigned long long)f->rev, r->source);
    cp_http_poke(f->http);
}

/* Data nodes ACK the current revision a little after it was applied;
 * dn-2 NACKs every third one (and keeps serving the previous). */
static void data_nodes_follow(struct fake *f)
{
    int64_t age = now_ms(f) - f->rev_applied_ms;

    for (int i = 3; i < NNODES; i++) {
        struct cp_http_node *n = &f->nodes[i];
        if (!n->healthy || n->revision == f->rev || age < 300 * (i - 2) ||
            n->nack_revision == f->rev)
            continue;
        if (i == 5 && f->rev % 3 == 0) {
            n->nack_revision = f->rev;
            snprintf(f->nack_err[i], sizeof(f->nack_err[i]),
                     "router whoami: priority %d collides with router echo",
                     10 + (int)(f->rev % 5));
            n->nack_error = f->nack_err[i];
            publish(f, "nack",
                    "{\"node\":\"%s\",\"revision\":%llu,\"error\":\"%s\"}",
                    n->name, (unsigned long long)f->rev, f->nack_err[i]);
            continue;
        }
        n->revision = f->rev;
        publish(f, "ack", "{\"node\":\"%s\",\"revision\":%llu}", n->name,
                (unsigned long long)f->rev);
    }
}

/* ==== health ==== */

static void set_health(struct fake *f, int i, bool healthy)
{
    struct cp_http_node *n = &f->nodes[i];

    if (n->healthy == healthy)
        return;
    n->healthy = healthy;
    if (i < 3 && !healthy && n->leader) { /* a new leader */
        n->leader = false;
        for (int j = 1; j <= 2; j++) {
            int k = (i + j) % 3;
            if (f->nodes[k].healthy) {
                f->nodes[k].leader = true;
                publish(f, "leader", "{\"node\":\"%s\"}", f->nodes[k].name);
                break;
            }
        }
    }
    if (healthy && i < 3)
        n->revision = f->rev;
    publish(f, "node", "{\"node\":\"%s\",\"healthy\":%s}", n->name,
            healthy ? "true" : "false");
    cp_http_poke(f->http);
}

static void flap(struct fake *f, int64_t now)
{
    for (int i = 0; i < NNODES; i++)
        if (f->down_until[i] != 0 && now >= f->down_until[i]) {
            f->down_until[i] = 0;
            set_health(f, i, true);
        }
    if (f->flap_ms == 0 || now < f->next_flap_ms)
        return;
    f->next_flap_ms = now + f->flap_ms;
    /* one node at a time: data nodes more often than control nodes */
    static const int order[] = {4, 1, 5, 3, 2, 4, 0};
    int i = order[f->flap_next++ % 7];
    f->down_until[i] = now + f->flap_ms / 2 + 1000;
    set_health(f, i, false);
}

/* ==== traffic ==== */

static void on_traffic(uv_timer_t *t)
{
    struct fake *f = t->data;
    double ph = (double)f->ticks++ / 50.0;
    int down = 0;

    for (int i = 3; i < NNODES; i++)
        down += !f->nodes[i].healthy;
    for (int r = 0; r < NROUTERS; r++) {
        double rate = router_rate[r] * (1.0 + 0.35 * sin(ph + r));
        uint64_t n = (uint64_t)(rate / 5.0 + (double)(f->ticks % 3) * 0.4);
        double lat_ms =
            4.0 + 3.0 * r + 2.0 * sin(ph * 1.7 + r) + (down ? 25.0 : 0.0);
        f->traffic[r].requests += n;
        f->traffic[r].errors += (f->ticks + (uint64_t)r) % 17 == 0 ? 1 : 0;
        f->traffic[r].latency_us += (uint64_t)((double)n * lat_ms * 1000.0);
    }
    /* backend 8082 of whoami goes down now and then */
    f->eps[1].healthy = (f->ticks / 75) % 4 != 3;
}

static void on_state(uv_timer_t *t)
{
    struct fake *f = t->data;
    int64_t now = now_ms(f);

    for (int i = 0; i < NNODES; i++)
        if (f->nodes[i].healthy)
            f->nodes[i].last_seen_ms = wall_ms();
    flap(f, now);
    if (f->revision_ms != 0 && now >= f->next_rev_ms) {
        f->next_rev_ms = now + f->revision_ms;
        apply_revision(f);
    }
    data_nodes_follow(f);
}

/* ==== source callbacks ==== */

static size_t src_nodes(void *arg, const struct cp_http_node **out)
{
    struct fake *f = arg;

    *out = f->nodes;
    return NNODES;
}

static const char *src_config(void *arg, uint64_t *rev)
{
    struct fake *f = arg;

    *rev = f->rev;
    return f->config;
}

static size_t src_revisions(void *arg, const struct cp_http_revision **out)
{
    struct fake *f = arg;

    *out = f->revs;
    return f->nrevs;
}

static size_t src_traffic(void *arg, const struct cp_http_router_traffic **out)
{
    struct fake *f = arg;

    *out = f->traffic;
    return NROUTERS;
}

static size_t src_endpoints(void *arg, const struct cp_http_endpoint **out)
{
    struct fake *f = arg;

    *out = f->eps;
    return NEPS;
}

static const char *src_hash(void *arg)
{
    return ((struct fake *)arg)->hash;
}

static void src_metrics(void *arg, struct cp_http_text *out)
{
    struct fake *f = arg;

    cp_http_text_printf(out,
                        "# HELP controlplane_test_server_ticks Traffic ticks "
                        "simulated.\n# TYPE controlplane_test_server_ticks "
                        "counter\ncontrolplane_test_server_ticks %llu\n",
                        (unsigned long long)f->ticks);
}

/* ==== setup ==== */

static void init_cluster(struct fake *f)
{
    for (int i = 0; i < NNODES; i++) {
        struct cp_http_node *n = &f->nodes[i];
        n->name = node_names[i];
        n->role = i < 3 ? CP_HTTP_ROLE_CONTROL : CP_HTTP_ROLE_DATA;
        n->leader = i == 1;
        n->healthy = true;
        n->address = node_addrs[i];
        n->http_address = i < 3 ? node_http[i] : NULL;
        n->last_seen_ms = wall_ms();
    }
    for (int r = 0; r < NROUTERS; r++)
        f->traffic[r].router = router_names[r];
    f->eps[0] = (struct cp_http_endpoint){"whoami", "http://127.0.0.1:8081", 1};
    f->eps[1] = (struct cp_http_endpoint){"whoami", "http://127.0.0.1:8082", 1};
    f->eps[2] = (struct cp_http_endpoint){"api", "http://127.0.0.1:8083", 1};
    f->eps[3] =
        (struct cp_http_endpoint){"greeter", "h2c://127.0.0.1:50051", -1};
    for (int k = 0; k < 4; k++) /* a short history */
        apply_revision(f);
    for (int i = 3; i < NNODES; i++)
        f->nodes[i].revision = f->rev;
}

static void close_walk(uv_handle_t *h, void *arg)
{
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

static void on_signal(uv_signal_t *h, int signum)
{
    struct fake *f = h->data;

    if (signum == SIGUSR1) {
        apply_revision(f);
        return;
    }
    if (signum == SIGUSR2) {
        set_health(f, 4, !f->nodes[4].healthy);
        return;
    }
    cp_http_close(f->http);
    f->http = NULL;
    uv_timer_stop(&f->traffic_timer);
    uv_timer_stop(&f->state_timer);
    uv_close((uv_handle_t *)&f->traffic_timer, NULL);
    uv_close((uv_handle_t *)&f->state_timer, NULL);
    uv_walk(f->loop, close_walk, NULL); /* the signal handles */
}

static void start_signal(struct fake *f, uv_signal_t *h, int signum)
{
    uv_signal_init(f->loop, h);
    h->data = f;
    uv_signal_start(h, on_signal, signum);
}

static int usage(void)
{
    fprintf(stderr, "usage: http_test_server [--http-addr H:P] [--password "
                    "PW] [--sample-ms N] [--flap-ms N] [--revision-ms N] "
                    "[--metrics-auth]\n");
    return 2;
}

int main(int argc, char **argv)
{
    struct fake f = {0};
    struct cp_http_config cfg = {.addr = "127.0.0.1:8099", .node_id = "cn-1"};
    struct cp_http_source src = {
        .arg = &f,
        .nodes = src_nodes,
        .config = src_config,
        .revisions = src_revisions,
        .admin_hash = src_hash,
        .traffic = src_traffic,
        .endpoints = src_endpoints,
        .metrics = src_metrics,
    };
    char pw[CP_AUTH_PASSWORD_LEN + 1], err[CM_ERR_LEN];
    const char *password = NULL;

    f.flap_ms = 8000;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--metrics-auth") == 0) {
            cfg.metrics_auth = true;
            continue;
        }
        if (v == NULL)
            return usage();
        i++;
        if (strcmp(a, "--http-addr") == 0)
            cfg.addr = v;
        else if (strcmp(a, "--password") == 0)
            password = v;
        else if (strcmp(a, "--sample-ms") == 0)
            cfg.sample_ms = (unsigned)atoi(v);
        else if (strcmp(a, "--flap-ms") == 0)
            f.flap_ms = (unsigned)atoi(v);
        else if (strcmp(a, "--revision-ms") == 0)
            f.revision_ms = (unsigned)atoi(v);
        else
            return usage();
    }
    if (password == NULL) {
        if (cp_auth_generate_password(pw, sizeof(pw)) != 0)
            return 1;
        password = pw;
    }
    if (cp_auth_hash(password, NULL, f.hash, sizeof(f.hash)) != 0) {
        fprintf(stderr, "cannot hash the password\n");
        return 1;
    }
    signal(SIGPIPE, SIG_IGN); /* a client gone mid-write is not fatal */
    f.loop = uv_default_loop();
    cfg.loop = f.loop;
    init_cluster(&f);
    f.http = cp_http_new(&cfg, &src, err, sizeof(err));
    if (f.http == NULL) {
        fprintf(stderr, "http_test_server: %s\n", err);
        free(f.config);
        return 1;
    }
    f.next_flap_ms = now_ms(&f) + f.flap_ms;
    f.next_rev_ms = now_ms(&f) + f.revision_ms;
    uv_timer_init(f.loop, &f.traffic_timer);
    uv_timer_init(f.loop, &f.state_timer);
    f.traffic_timer.data = f.state_timer.data = &f;
    uv_timer_start(&f.traffic_timer, on_traffic, 200, 200);
    uv_timer_start(&f.state_timer, on_state, 250, 250);
    start_signal(&f, &f.sig_usr1, SIGUSR1);
    start_signal(&f, &f.sig_usr2, SIGUSR2);
    start_signal(&f, &f.sig_term, SIGTERM);
    start_signal(&f, &f.sig_int, SIGINT);
    printf("dashboard: http://127.0.0.1:%d/dashboard/\nuser: %s\n"
           "password: %s\n",
           cp_http_port(f.http), CP_AUTH_USER, password);
    fflush(stdout);
    uv_run(f.loop, UV_RUN_DEFAULT);
    uv_loop_close(f.loop);
    free(f.config);
    return 0;
}
