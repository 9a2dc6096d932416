/*
 * cmd_config.c -- the configuration subcommands of traefikeectl: apply
 * (with --dry-run: validation, translation summary and diff), get (tables,
 * JSON or YAML of routers, services, middlewares, entry points, the whole
 * config, or nodes), delete, history and rollback.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "controlplane/mgmt/mgmt.h"
#include "tools/traefikeectl/client.h"
#include "tools/traefikeectl/history.h"
#include "tools/traefikeectl/output.h"
#include "tools/traefikeectl/traefikeectl.h"
#include "traefikee/v1/management.pb-c.h"

static int bad_format(const char *s)
{
    fprintf(stderr,
            "traefikeectl: unknown output format \"%s\" (table, json, yaml)\n",
            s);
    return 2;
}

/* ==== apply ==== */

/* Reads <path> ("-" = stdin) whole; returns new or NULL (errno set). */
static char *slurp(const char *path, size_t *len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    char *buf = NULL, *nb;
    size_t cap = 0, n = 0, r;

    if (f == NULL)
        return NULL;
    do {
        if (n + 4097 > cap) {
            cap = cap ? cap * 2 : 8192;
            if ((nb = realloc(buf, cap)) == NULL)
                break;
            buf = nb;
        }
        r = fread(buf + n, 1, cap - n - 1, f);
        n += r;
    } while (r > 0);
    if (ferror(f)) {
        free(buf);
        buf = NULL;
    }
    if (f != stdin)
        fclose(f);
    *len = n;
    return buf;
}

static void print_diff(const Traefikee__V1__ApplyResponse *r)
{
    if (r->n_diff == 0) {
        printf("  no change to routers, services, middlewares or entry "
               "points\n");
        return;
    }
    for (size_t i = 0; i < r->n_diff; i++) {
        const Traefikee__V1__KindDiff *d = r->diff[i];
        printf("  %s:", d->kind);
        for (size_t k = 0; k < d->n_added; k++)
            printf(" +%s", d->added[k]);
        for (size_t k = 0; k < d->n_changed; k++)
            printf(" ~%s", d->changed[k]);
        for (size_t k = 0; k < d->n_removed; k++)
            printf(" -%s", d->removed[k]);
        printf("\n");
    }
}

static void print_summary(const Traefikee__V1__TranslationSummary *s)
{
    if (s == NULL)
        return;
    printf("  %u routers, %u services, %u middlewares -> %u listeners, %u "
           "route configurations, %u clusters, %u load assignments\n",
           s->routers, s->services, s->middlewares, s->listeners,
           s->route_configurations, s->clusters, s->cluster_load_assignments);
    for (size_t i = 0; i < s->n_warnings; i++)
        printf("  warning: %s\n", s->warnings[i]);
}

int tctl_apply(int argc, char **argv)
{
    Traefikee__V1__ApplyRequest req = TRAEFIKEE__V1__APPLY_REQUEST__INIT;
    Traefikee__V1__ApplyResponse *r;
    struct tctl_opts o;
    struct tctl_ctx c;
    size_t len;
    char *doc;
    int rc;

    if ((rc = tctl_parse_opts(argc, argv, "cfd", &o)) != 0)
        return rc;
    if (o.help) {
        printf("usage: traefikeectl apply -f FILE [--dry-run] "
               "[--control H:P,...]\n\n"
               "Sends a configuration (YAML or JSON; - reads stdin) to the "
               "cluster: the\nleader validates it, translates it and stores "
               "it as a new revision. With\n--dry-run it is validated and "
               "compared with the current revision only.\n" TCTL_CONN_HELP);
        return 0;
    }
    if (o.file == NULL) {
        fprintf(stderr, "traefikeectl apply: -f FILE is required\n");
        return 2;
    }
    doc = slurp(o.file, &len);
    if (doc == NULL) {
        fprintf(stderr, "traefikeectl: cannot read %s: %s\n", o.file,
                strerror(errno));
        return 1;
    }
    if ((rc = tctl_ctx_init(&c, o.control, &o.cred)) != 0) {
        free(doc);
        return rc;
    }
    c.err_prefix = o.file;
    req.document.data = (uint8_t *)doc;
    req.document.len = len;
    req.dry_run = o.dry_run;
    rc = tctl_call(&c, TCTL_METHOD("Apply"), &req.base,
                   &traefikee__v1__apply_response__descriptor,
                   (ProtobufCMessage **)&r);
    free(doc);
    tctl_ctx_deinit(&c);
    if (rc != 0)
        return rc;
    if (o.dry_run)
        printf("dry run: %s is valid; against revision %llu it would "
               "change:\n",
               o.file, (unsigned long long)r->base_revision);
    else
        printf("applied %s: revision %llu (leader %s)\n", o.file,
               (unsigned long long)r->revision, r->leader_id);
    print_diff(r);
    print_summary(r->summary);
    protobuf_c_message_free_unpacked(&r->base, NULL);
    return 0;
}

/* ==== get ==== */

static const char *jstr(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s != NULL ? s : "";
}

/* "a, b" of a JSON array of strings (or of objects' <field>). */
static void join(json_t *a, const char *field, char *buf, size_t len)
{
    size_t i, n = 0;
    json_t *x;

    buf[0] = '\0';
    json_array_foreach(a, i, x)
    {
        const char *s = field != NULL ? jstr(x, field) : json_string_value(x);
        n += (size_t)snprintf(buf + n, n < len ? len - n : 0, "%s%s",
                              i ? ", " : "", s != NULL ? s : "");
    }
}

/* The one key of a kind object ({"loadBalancer": {...}} -> loadBalancer). */
static const char *first_key(json_t *o, json_t **val)
{
    void *it = json_object_iter(o);

    *val = it != NULL ? json_object_iter_value(it) : NULL;
    return it != NULL ? json_object_iter_key(it) : "";
}

static void row_for(int kind, const char *name, json_t *o, struct tctl_table *t)
{
    char a[512], b[512], prio[32];
    json_t *v;
    const char *k;

    if (kind == CP_MGMT_KIND_ROUTERS) {
        join(json_object_get(o, "entryPoints"), NULL, a, sizeof(a));
        join(json_object_get(o, "middlewares"), NULL, b, sizeof(b));
        snprintf(prio, sizeof(prio), "%lld",
                 (long long)json_integer_value(json_object_get(o, "priority")));
        const char *row[] = {name, jstr(o, "rule"), jstr(o, "service"), a, b,
                             prio};
        tctl_table_add(t, row);
    } else if (kind == CP_MGMT_KIND_SERVICES) {
        k = first_key(o, &v);
        if (strcmp(k, "loadBalancer") == 0)
            join(json_object_get(v, "servers"), "url", a, sizeof(a));
        else if (strcmp(k, "weighted") == 0)
            join(json_object_get(v, "services"), "name", a, sizeof(a));
        else if (strcmp(k, "mirroring") == 0)
            snprintf(a, sizeof(a), "%s", jstr(v, "service"));
        else
            snprintf(a, sizeof(a), "%s -> %s", jstr(v, "service"),
                     jstr(v, "fallback"));
        const char *row[] = {name, k, a};
        tctl_table_add(t, row);
    } else if (kind == CP_MGMT_KIND_MIDDLEWARES) {
        k = first_key(o, &v);
        const char *row[] = {name, k};
        tctl_table_add(t, row);
    } else {
        const char *row[] = {name, jstr(o, "address")};
        tctl_table_add(t, row);
    }
}

static void print_table(int kind, const char *name, json_t *j)
{
    static const char *const hr[] = {"Name",         "Rule",        "Service",
                                     "Entry Points", "Middlewares", "Priority"};
    static const char *const hs[] = {"Name", "Type", "Targets"};
    static const char *const hm[] = {"Name", "Type"};
    static const char *const he[] = {"Name", "Address"};
    const char *const *h = kind == CP_MGMT_KIND_ROUTERS       ? hr
                           : kind == CP_MGMT_KIND_SERVICES    ? hs
                           : kind == CP_MGMT_KIND_MIDDLEWARES ? hm
                                                              : he;
    size_t ncols = kind == CP_MGMT_KIND_ROUTERS       ? 6
                   : kind == CP_MGMT_KIND_SERVICES    ? 3
                   : kind == CP_MGMT_KIND_MIDDLEWARES ? 2
                                                      : 2;
    struct tctl_table *t = tctl_table_new(ncols, h);
    const char *k;
    json_t *v;

    if (t == NULL)
        return;
    if (name != NULL)
        row_for(kind, name, j, t);
    else
        json_object_foreach(j, k, v) row_for(kind, k, v, t);
    tctl_table_print(t, stdout);
    tctl_table_free(t);
}

int tctl_get(int argc, char **argv)
{
    Traefikee__V1__GetRequest req = TRAEFIKEE__V1__GET_REQUEST__INIT;
    Traefikee__V1__GetResponse *r;
    struct tctl_opts o;
    struct tctl_ctx c;
    int rc, fmt, kind;
    json_t *j;

    if ((rc = tctl_parse_opts(argc, argv, "co", &o)) != 0)
        return rc;
    if (o.help || o.n_args == 0) {
        printf("usage: traefikeectl get KIND [NAME] [-o table|json|yaml] "
               "[--control H:P,...]\n\n"
               "KIND: routers, services, middlewares, entrypoints, config "
               "(the whole\ndocument, YAML by default) or nodes. Shows the "
               "current revision.\n" TCTL_CONN_HELP);
        return o.help ? 0 : 2;
    }
    if (o.n_args > 2) {
        fprintf(stderr, "traefikeectl get: too many arguments\n");
        return 2;
    }
    kind = cp_mgmt_kind_parse(o.args[0]);
    if (kind < 0 && strcmp(o.args[0], "nodes") != 0 &&
        strcmp(o.args[0], "node") != 0) {
        fprintf(stderr,
                "traefikeectl: unknown resource kind \"%s\" (routers, "
                "services, middlewares, entrypoints, config, nodes)\n",
                o.args[0]);
        return 2;
    }
    fmt = tctl_format_parse(o.output, kind == CP_MGMT_KIND_CONFIG ? TCTL_YAML
                                                                  : TCTL_TABLE);
    if (fmt < 0)
        return bad_format(o.output);
    if ((rc = tctl_ctx_init(&c, o.control, &o.cred)) != 0)
        return rc;
    if (kind < 0) {
        rc = tctl_print_nodes(&c, fmt);
        tctl_ctx_deinit(&c);
        return rc;
    }
    req.kind = (char *)cp_mgmt_kind_name(kind);
    req.name = o.n_args > 1 ? o.args[1] : "";
    rc = tctl_call(&c, TCTL_METHOD("Get"), &req.base,
                   &traefikee__v1__get_response__descriptor,
                   (ProtobufCMessage **)&r);
    tctl_ctx_deinit(&c);
    if (rc != 0)
        return rc;
    j = json_loadb((const char *)r->document.data, r->document.len, 0, NULL);
    if (j == NULL) {
        fprintf(stderr, "traefikeectl: malformed document in the reply\n");
        rc = 1;
    } else if (fmt == TCTL_JSON) {
        tctl_json_print(j, stdout);
    } else if (fmt == TCTL_YAML || kind == CP_MGMT_KIND_CONFIG) {
        tctl_yaml_print(j, stdout);
    } else {
        print_table(kind, o.n_args > 1 ? o.args[1] : NULL, j);
    }
    json_decref(j);
    protobuf_c_message_free_unpacked(&r->base, NULL);
    return rc;
}

/* ==== delete ==== */

int tctl_delete(int argc, char **argv)
{
    Traefikee__V1__DeleteRequest req = TRAEFIKEE__V1__DELETE_REQUEST__INIT;
    Traefikee__V1__DeleteResponse *r;
    struct tctl_opts o;
    struct tctl_ctx c;
    int rc, kind;

    if ((rc = tctl_parse_opts(argc, argv, "c", &o)) != 0)
        return rc;
    if (o.help || o.n_args != 2) {
        printf("usage: traefikeectl delete KIND NAME [--control H:P,...]\n\n"
               "Removes a router, service or middleware from the current "
               "configuration,\nmaking a new revision. Refused while other "
               "objects still use it.\n" TCTL_CONN_HELP);
        return o.help ? 0 : 2;
    }
    kind = cp_mgmt_kind_parse(o.args[0]);
    if (kind < 0 || kind > CP_MGMT_KIND_MIDDLEWARES) {
        fprintf(stderr,
                "traefikeectl: cannot delete \"%s\": the kind must be "
                "routers, services or middlewares\n",
                o.args[0]);
        return 2;
    }
    if ((rc = tctl_ctx_init(&c, o.control, &o.cred)) != 0)
        return rc;
    req.kind = (char *)cp_mgmt_kind_name(kind);
    req.name = o.args[1];
    rc = tctl_call(&c, TCTL_METHOD("Delete"), &req.base,
                   &traefikee__v1__delete_response__descriptor,
                   (ProtobufCMessage **)&r);
    tctl_ctx_deinit(&c);
    if (rc != 0)
        return rc;
    printf("deleted %s %s: revision %llu\n", cp_mgmt_kind_singular(kind),
           o.args[1], (unsigned long long)r->revision);
    protobuf_c_message_free_unpacked(&r->base, NULL);
    return 0;
}

/* ==== history ==== */

int tctl_history(int argc, char **argv)
{
    Traefikee__V1__HistoryRequest req = TRAEFIKEE__V1__HISTORY_REQUEST__INIT;
    Traefikee__V1__HistoryResponse *r;
    struct tctl_opts o;
    struct tctl_ctx c;
    int rc, fmt;

    if ((rc = tctl_parse_opts(argc, argv, "co", &o)) != 0)
        return rc;
    if (o.help) {
        printf("usage: traefikeectl history [-o table|json|yaml] "
               "[--control H:P,...]\n\n"
               "Lists the configuration revisions the store keeps, newest "
               "first, with when\nand by which leader they were written, why, "
               "and what "
               "changed (+ added,\n- removed, ~ changed).\n" TCTL_CONN_HELP);
        return 0;
    }
    if ((fmt = tctl_format_parse(o.output, TCTL_TABLE)) < 0)
        return bad_format(o.output);
    if ((rc = tctl_ctx_init(&c, o.control, &o.cred)) != 0)
        return rc;
    rc = tctl_call(&c, TCTL_METHOD("History"), &req.base,
                   &traefikee__v1__history_response__descriptor,
                   (ProtobufCMessage **)&r);
    tctl_ctx_deinit(&c);
    if (rc != 0)
        return rc;
    if (fmt == TCTL_TABLE) {
        tctl_history_table(r, stdout);
    } else {
        tctl_doc_print(tctl_history_json(r), fmt);
    }
    protobuf_c_message_free_unpacked(&r->base, NULL);
    return 0;
}

/* ==== rollback ==== */

int tctl_rollback(int argc, char **argv)
{
    Traefikee__V1__RollbackRequest req = TRAEFIKEE__V1__ROLLBACK_REQUEST__INIT;
    Traefikee__V1__RollbackResponse *r;
    struct tctl_opts o;
    struct tctl_ctx c;
    char *end;
    int rc;

    if ((rc = tctl_parse_opts(argc, argv, "c", &o)) != 0)
        return rc;
    if (o.help || o.n_args != 1) {
        printf("usage: traefikeectl rollback REVISION [--control H:P,...]\n\n"
               "Writes the document of a kept revision (see history) as a "
               "new revision.\n" TCTL_CONN_HELP);
        return o.help ? 0 : 2;
    }
    req.revision = strtoull(o.args[0], &end, 10);
    if (*end != '\0' || req.revision == 0 || o.args[0][0] == '-') {
        fprintf(stderr, "traefikeectl: \"%s\" is not a revision number\n",
                o.args[0]);
        return 2;
    }
    if ((rc = tctl_ctx_init(&c, o.control, &o.cred)) != 0)
        return rc;
    rc = tctl_call(&c, TCTL_METHOD("Rollback"), &req.base,
                   &traefikee__v1__rollback_response__descriptor,
                   (ProtobufCMessage **)&r);
    tctl_ctx_deinit(&c);
    if (rc != 0)
        return rc;
    printf("rolled back to revision %llu: new revision %llu\n",
           (unsigned long long)req.revision, (unsigned long long)r->revision);
    protobuf_c_message_free_unpacked(&r->base, NULL);
    return 0;
}
