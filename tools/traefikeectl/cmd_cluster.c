/*
 * cmd_cluster.c -- the cluster subcommands of traefikeectl: version (the
 * client's and the answering control node's), list-nodes (control and
 * data nodes, the leader marked) and events (follows the Events stream of
 * a control node until Ctrl-C, moving to the next one if it goes away).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/version/version.h"
#include "controlplane/mgmt/mgmt.h"
#include "controlplane/rpc/rpc.h"
#include "tools/traefikeectl/client.h"
#include "tools/traefikeectl/output.h"
#include "tools/traefikeectl/traefikeectl.h"
#include "traefikee/v1/management.pb-c.h"

/* ==== version ==== */

int tctl_version(int argc, char **argv)
{
    Traefikee__V1__VersionRequest req = TRAEFIKEE__V1__VERSION_REQUEST__INIT;
    Traefikee__V1__VersionResponse *r;
    struct tctl_opts o;
    struct tctl_ctx c;
    char line[256];
    int rc;

    if ((rc = tctl_parse_opts(argc, argv, "c", &o)) != 0)
        return rc;
    if (o.help) {
        printf("usage: traefikeectl version [--control H:P,...]\n\n"
               "Prints this client's version, then the version of the "
               "control node that\nanswers, its id, the leader it sees and "
               "the revision it serves.\n" TCTL_CONN_HELP);
        return 0;
    }
    printf("client: %s\n", cm_version_line(line, sizeof(line), "traefikeectl"));
    if ((rc = tctl_ctx_init(&c, o.control, &o.cred)) != 0)
        return rc;
    rc = tctl_call(&c, TCTL_METHOD("Version"), &req.base,
                   &traefikee__v1__version_response__descriptor,
                   (ProtobufCMessage **)&r);
    tctl_ctx_deinit(&c);
    if (rc != 0)
        return rc;
    printf("server: controlplane %s (commit %s) node %s, leader %s, revision "
           "%llu\n",
           r->version, r->commit, r->node_id,
           r->leader_id[0] ? r->leader_id : "(none)",
           (unsigned long long)r->revision);
    protobuf_c_message_free_unpacked(&r->base, NULL);
    return 0;
}

/* ==== list-nodes ==== */

static const char *role_text(const Traefikee__V1__NodeInfo *n)
{
    if (n->role == TRAEFIKEE__V1__ROLE__CONTROL)
        return n->leader ? "CONTROL NODE (Current Leader)" : "CONTROL NODE";
    return n->role == TRAEFIKEE__V1__ROLE__DATA ? "DATA NODE" : "UNKNOWN";
}

static json_t *nodes_json(const Traefikee__V1__ListNodesResponse *r)
{
    json_t *a = json_array();

    for (size_t i = 0; a != NULL && i < r->n_nodes; i++) {
        const Traefikee__V1__NodeInfo *n = r->nodes[i];
        json_array_append_new(
            a, json_pack("{s:s, s:s, s:b, s:b, s:s, s:I, s:s, s:s, s:s, s:I}",
                         "name", n->name, "role",
                         n->role == TRAEFIKEE__V1__ROLE__CONTROL ? "control"
                                                                 : "data",
                         "leader", n->leader, "healthy", n->healthy, "address",
                         n->address, "revision", (json_int_t)n->revision,
                         "lastNack", n->last_nack, "cluster", n->cluster,
                         "controlNode", n->control_node, "heartbeatAgeMs",
                         (json_int_t)n->heartbeat_age_ms));
    }
    return a;
}

static void nodes_table(const Traefikee__V1__ListNodesResponse *r)
{
    static const char *const h[] = {"Name",    "Role",     "Health",
                                    "Address", "Revision", "Last NACK"};
    struct tctl_table *t;
    char rev[24];
    int nack = 0;

    for (size_t i = 0; i < r->n_nodes; i++)
        nack |= r->nodes[i]->last_nack[0] != '\0';
    t = tctl_table_new(nack ? 6 : 5, h);
    for (size_t i = 0; t != NULL && i < r->n_nodes; i++) {
        const Traefikee__V1__NodeInfo *n = r->nodes[i];
        const char *row[6] = {
            n->name,    role_text(n), n->healthy ? "healthy" : "unhealthy",
            n->address, rev,          n->last_nack};
        snprintf(rev, sizeof(rev), "%llu", (unsigned long long)n->revision);
        tctl_table_add(t, row);
    }
    if (t != NULL)
        tctl_table_print(t, stdout);
    tctl_table_free(t);
}

int tctl_print_nodes(const struct tctl_ctx *c, int fmt)
{
    Traefikee__V1__ListNodesRequest req =
        TRAEFIKEE__V1__LIST_NODES_REQUEST__INIT;
    Traefikee__V1__ListNodesResponse *r;
    int rc;

    rc = tctl_call(c, TCTL_METHOD("ListNodes"), &req.base,
                   &traefikee__v1__list_nodes_response__descriptor,
                   (ProtobufCMessage **)&r);
    if (rc != 0)
        return rc;
    if (fmt == TCTL_TABLE) {
        nodes_table(r);
    } else {
        tctl_doc_print(nodes_json(r), fmt);
    }
    protobuf_c_message_free_unpacked(&r->base, NULL);
    return 0;
}

int tctl_list_nodes(int argc, char **argv)
{
    struct tctl_opts o;
    struct tctl_ctx c;
    int rc, fmt;

    if ((rc = tctl_parse_opts(argc, argv, "co", &o)) != 0)
        return rc;
    if (o.help) {
        printf("usage: traefikeectl list-nodes [-o table|json|yaml] "
               "[--control H:P,...]\n\n"
               "Lists the control nodes (the leader marked) and the data "
               "nodes of the\ncluster: health (fresh heartbeat), address, "
               "revision served or acknowledged,\nand the last refused "
               "update of a data node.\n" TCTL_CONN_HELP);
        return 0;
    }
    if ((fmt = tctl_format_parse(o.output, TCTL_TABLE)) < 0) {
        fprintf(stderr,
                "traefikeectl: unknown output format \"%s\" (table, "
                "json, yaml)\n",
                o.output);
        return 2;
    }
    if ((rc = tctl_ctx_init(&c, o.control, &o.cred)) != 0)
        return rc;
    rc = tctl_print_nodes(&c, fmt);
    tctl_ctx_deinit(&c);
    return rc;
}

/* ==== events ==== */

static volatile sig_atomic_t interrupted;

static void on_int(int sig)
{
    interrupted = 1;
}

static void print_event(const Traefikee__V1__Event *e, int json)
{
    time_t secs = (time_t)(e->time_ms / 1000);
    char ts[32];
    struct tm tm;

    if (json) {
        json_t *j = json_pack("{s:I, s:s, s:s, s:I, s:s, s:s}", "timeMs",
                              (json_int_t)e->time_ms, "kind", e->kind, "node",
                              e->node, "revision", (json_int_t)e->revision,
                              "message", e->message, "reporter", e->reporter);
        char *s = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;
        if (s != NULL)
            printf("%s\n", s);
        free(s);
        json_decref(j);
    } else {
        localtime_r(&secs, &tm);
        strftime(ts, sizeof(ts), "%Y-%m-%d %H:%M:%S", &tm);
        printf("%s.%03d  %-16s %-24s", ts, (int)(e->time_ms % 1000), e->kind,
               e->node);
        if (e->revision > 0)
            printf(" revision=%llu", (unsigned long long)e->revision);
        if (e->message[0] != '\0')
            printf(" %s", e->message);
        printf("  (from %s)\n", e->reporter);
    }
    fflush(stdout);
}

/* How the last stream ended. */
struct tctl_why {
    grpc_status_code status;
    char details[CP_MGMT_DETAILS_LEN];
};

/* Follows one control node's stream: 0 on Ctrl-C, 1 when it ended (its
 * status in <why>), 2 when it refused our credentials (a line printed). */
static int follow(const struct tctl_ctx *c, const char *addr, int json,
                  int *got_any, struct tctl_why *why)
{
    Traefikee__V1__EventsRequest req = TRAEFIKEE__V1__EVENTS_REQUEST__INIT;
    struct cp_mgmt_stream *s;
    Traefikee__V1__Event *e;
    uint8_t *buf, *data;
    size_t len, dlen;
    int rc;

    if (cp_rpc_pb_pack(&req.base, &buf, &len) != 0)
        return 1;
    s = cp_mgmt_stream_open_creds(addr, tctl_ctx_creds(c),
                                  TCTL_METHOD("Events"), buf, len);
    free(buf);
    if (s == NULL)
        return 1;
    while (!interrupted) {
        rc = cp_mgmt_stream_next(s, &data, &dlen, 200);
        if (rc == GW_EAGAIN)
            continue;
        if (rc != 0)
            break;
        *got_any = 1;
        e = traefikee__v1__event__unpack(NULL, dlen, data);
        free(data);
        if (e != NULL) {
            print_event(e, json);
            protobuf_c_message_free_unpacked(&e->base, NULL);
        }
    }
    rc = interrupted ? 0 : 1;
    if (rc == 1 && cp_mgmt_stream_next(s, &data, &dlen, 0) == GW_EIO) {
        const char *details;
        grpc_status_code st = cp_mgmt_stream_status(s, &details);
        rc = tctl_refused(c, addr, st, details) ? 2 : 1;
        why->status = st;
        snprintf(why->details, sizeof(why->details), "%s",
                 details != NULL ? details : "");
    }
    cp_mgmt_stream_free(s);
    return rc;
}

int tctl_events(int argc, char **argv)
{
    struct tctl_opts o;
    struct tctl_ctx c;
    struct tctl_why why = {GRPC_STATUS_UNAVAILABLE, ""};
    int rc = 1, fmt, misses = 0, got;

    if ((rc = tctl_parse_opts(argc, argv, "co", &o)) != 0)
        return rc;
    if (o.help) {
        printf("usage: traefikeectl events [-o table|json] "
               "[--control H:P,...]\n\n"
               "Follows the cluster's events as one control node sees them "
               "(node joined or\nleft, leader changed, revision applied, data "
               "node refused an update) until\nCtrl-C; moves to the next "
               "control node when one goes away.\n" TCTL_CONN_HELP);
        return 0;
    }
    if ((fmt = tctl_format_parse(o.output, TCTL_TABLE)) < 0) {
        fprintf(stderr, "traefikeectl: unknown output format \"%s\"\n",
                o.output);
        return 2;
    }
    if ((rc = tctl_ctx_init(&c, o.control, &o.cred)) != 0)
        return rc;
    signal(SIGINT, on_int);
    signal(SIGTERM, on_int);
    /* stop after a full round of control nodes that ended at once */
    for (size_t i = 0; !interrupted && misses < (int)c.n; i = (i + 1) % c.n) {
        got = 0;
        if ((rc = follow(&c, c.addrs[i], fmt == TCTL_JSON, &got, &why)) != 1)
            break;
        misses = got ? 0 : misses + 1;
        if (!interrupted && got)
            fprintf(stderr,
                    "traefikeectl: stream from %s ended; trying the "
                    "next control node\n",
                    c.addrs[i]);
    }
    if (rc == 1 && interrupted)
        rc = 0;
    else if (rc == 1)
        tctl_unreachable(&c, why.status, why.details);
    rc = rc == 0 ? 0 : 1;
    tctl_ctx_deinit(&c);
    return rc;
}
