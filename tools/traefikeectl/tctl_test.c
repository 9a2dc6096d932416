/*
 * tctl_test.c -- unit tests of traefikeectl's client side: option parsing,
 * the control node list, the choice of credentials (--insecure,
 * TRAEFIKEE_INSECURE, --bundle, TRAEFIKEE_BUNDLE, the default path) and
 * bundle checks, calls through a TLS server of controlplane/rpc (admin
 * allowed; data certificate, other CA, plain text refused with one line),
 * aligned tables, the YAML emitter (checked as text).
 */
#define _GNU_SOURCE /* asprintf */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/pki/pki.h"
#include "common/pki/pki_testutil.h"
#include "controlplane/rpc/rpc.h"
#include "tools/traefikeectl/bundle.h"
#include "tools/traefikeectl/client.h"
#include "tools/traefikeectl/history.h"
#include "tools/traefikeectl/output.h"
#include "traefikee/v1/management.pb-c.h"

/* Runs <fn> with a memory stream; returns the text (free()). */
static char *capture_table(const struct tctl_table *t)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    tctl_table_print(t, f);
    fclose(f);
    return buf;
}

static char *capture_yaml(const json_t *v)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    tctl_yaml_print(v, f);
    fclose(f);
    return buf;
}

static void test_table(void **state)
{
    static const char *const h[] = {"Name", "Role", "Revision"};
    static const char *const r1[] = {"traefikee-control-node-2",
                                     "CONTROL NODE (Current Leader)", "3"};
    static const char *const r2[] = {"data-1", "DATA NODE", NULL};
    struct tctl_table *t = tctl_table_new(3, h);
    char *out;

    assert_int_equal(tctl_table_add(t, r1), 0);
    assert_int_equal(tctl_table_add(t, r2), 0);
    out = capture_table(t);
    assert_string_equal(
        out,
        "Name                      Role                           Revision\n"
        "----                      ----                           --------\n"
        "traefikee-control-node-2  CONTROL NODE (Current Leader)  3\n"
        "data-1                    DATA NODE                      \n");
    free(out);
    tctl_table_free(t);
}

static void test_yaml(void **state)
{
    json_t *v = json_loads(
        "{\"routers\": {\"a\": {\"rule\": \"Host(`x`)\", \"priority\": 10,"
        " \"middlewares\": [\"m1\", \"m2\"], \"tls\": {}}},"
        " \"servers\": [{\"url\": \"http://h:1\", \"weight\": 2}, "
        "{\"url\": \"true\"}],"
        " \"odd\": [\"\", \"- x\", \"a: b\", \"12\", \"yes\", \"x\\ny\"],"
        " \"flag\": false, \"none\": null, \"empty\": []}",
        JSON_PRESERVE_ORDER, NULL);
    char *out;

    assert_non_null(v);
    out = capture_yaml(v);
    assert_string_equal(out, "routers:\n"
                             "  a:\n"
                             "    rule: Host(`x`)\n"
                             "    priority: 10\n"
                             "    middlewares:\n"
                             "    - m1\n"
                             "    - m2\n"
                             "    tls: {}\n"
                             "servers:\n"
                             "- url: http://h:1\n"
                             "  weight: 2\n"
                             "- url: \"true\"\n"
                             "odd:\n"
                             "- \"\"\n"
                             "- \"- x\"\n"
                             "- \"a: b\"\n"
                             "- \"12\"\n"
                             "- \"yes\"\n"
                             "- \"x\\ny\"\n"
                             "flag: false\n"
                             "none: null\n"
                             "empty: []\n");
    free(out);
    json_decref(v);
}

/* history: the summary is a column of the table and a field of the JSON;
 * empty fields print as "-". */
static void test_history(void **state)
{
    Traefikee__V1__RevisionInfo a = TRAEFIKEE__V1__REVISION_INFO__INIT;
    Traefikee__V1__RevisionInfo b = TRAEFIKEE__V1__REVISION_INFO__INIT;
    Traefikee__V1__RevisionInfo *revs[] = {&a, &b};
    Traefikee__V1__HistoryResponse r = TRAEFIKEE__V1__HISTORY_RESPONSE__INIT;
    char *buf = NULL, *line;
    size_t len = 0;
    json_t *j;
    FILE *f;

    (void)state;
    a.revision = 2;
    a.size = 120;
    a.leader_id = "control-1";
    a.source = "apply";
    a.summary = "+router echo, ~service whoami";
    b.revision = 1;
    r.current = 2;
    r.n_revisions = 2;
    r.revisions = revs;
    assert_non_null(f = open_memstream(&buf, &len));
    tctl_history_table(&r, f);
    fclose(f);
    assert_non_null(line = strstr(buf, "Summary"));
    assert_int_equal(strcspn(line, "\n"), strlen("Summary"));
    assert_non_null(strstr(buf, "2 (current)  -     120   control-1  apply   "
                                "+router echo, ~service whoami\n"));
    assert_non_null(
        strstr(buf, "\n1            -     -     -          -       -\n"));
    free(buf);

    assert_non_null(j = tctl_history_json(&r));
    assert_int_equal(json_array_size(j), 2);
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(j, 0), "summary")),
        "+router echo, ~service whoami");
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(j, 1), "summary")),
        "");
    assert_true(json_is_true(json_object_get(json_array_get(j, 0), "current")));
    json_decref(j);
}

static void test_formats(void **state)
{
    assert_int_equal(tctl_format_parse(NULL, TCTL_YAML), TCTL_YAML);
    assert_int_equal(tctl_format_parse("json", TCTL_TABLE), TCTL_JSON);
    assert_int_equal(tctl_format_parse("yaml", TCTL_TABLE), TCTL_YAML);
    assert_int_equal(tctl_format_parse("table", TCTL_JSON), TCTL_TABLE);
    assert_int_equal(tctl_format_parse("xml", TCTL_JSON), -1);
}

static void test_opts(void **state)
{
    char *argv[] = {"apply",         "-f",   "c.yaml", "--dry-run",
                    "--control=h:1", "extra"};
    char *bad[] = {"get", "-f", "x"};
    char *unknown[] = {"get", "--wat"};
    char *missing[] = {"get", "-o"};
    struct tctl_opts o;

    assert_int_equal(tctl_parse_opts(6, argv, "cfd", &o), 0);
    assert_string_equal(o.file, "c.yaml");
    assert_string_equal(o.control, "h:1");
    assert_true(o.dry_run);
    assert_int_equal(o.n_args, 1);
    assert_string_equal(o.args[0], "extra");
    assert_int_equal(tctl_parse_opts(3, bad, "co", &o), 2);
    assert_int_equal(tctl_parse_opts(2, unknown, "co", &o), 2);
    assert_int_equal(tctl_parse_opts(2, missing, "co", &o), 2);
}

static void test_opts_security(void **state)
{
    char *a[] = {"revoke", "--insecure", "--role", "control", "n1"};
    char *b[] = {"tokens", "--bundle=/x/b.pem", "--rotate", "-o", "json"};
    char *c[] = {"tokens", "--bundle"};
    char *d[] = {"get", "--rotate"};
    char *e[] = {"get", "--role", "data"};
    struct tctl_opts o;

    assert_int_equal(tctl_parse_opts(5, a, "cl", &o), 0);
    assert_true(o.cred.insecure);
    assert_null(o.cred.bundle);
    assert_string_equal(o.role, "control");
    assert_int_equal(o.n_args, 1);
    assert_string_equal(o.args[0], "n1");
    assert_int_equal(tctl_parse_opts(5, b, "cor", &o), 0);
    assert_string_equal(o.cred.bundle, "/x/b.pem");
    assert_false(o.cred.insecure);
    assert_true(o.rotate);
    assert_string_equal(o.output, "json");
    assert_int_equal(tctl_parse_opts(2, c, "cor", &o), 2); /* no value */
    assert_int_equal(tctl_parse_opts(2, d, "co", &o), 2);  /* not here */
    assert_int_equal(tctl_parse_opts(3, e, "co", &o), 2);
}

/* ==== credentials ==== */

static void clear_env(void)
{
    unsetenv("TRAEFIKEE_INSECURE");
    unsetenv("TRAEFIKEE_BUNDLE");
    unsetenv("XDG_CONFIG_HOME");
}

static char *tmpdir(void)
{
    const char *base = getenv("TEST_TMPDIR");
    char *d = NULL;

    assert_true(asprintf(&d, "%s/tctl.XXXXXX", base ? base : "/tmp") > 0);
    assert_non_null(mkdtemp(d));
    return d;
}

static void test_env_insecure(void **state)
{
    clear_env();
    assert_false(tctl_env_insecure());
    setenv("TRAEFIKEE_INSECURE", "", 1);
    assert_false(tctl_env_insecure());
    setenv("TRAEFIKEE_INSECURE", "0", 1);
    assert_false(tctl_env_insecure());
    setenv("TRAEFIKEE_INSECURE", "1", 1);
    assert_true(tctl_env_insecure());
    setenv("TRAEFIKEE_INSECURE", "yes", 1);
    assert_true(tctl_env_insecure());
    clear_env();
}

static void test_cred_resolve(void **state)
{
    struct tctl_cred_opts none = {0}, flag = {.bundle = "/f/flag.pem"};
    struct tctl_cred_opts insecure = {.insecure = 1, .bundle = "/f/x.pem"};
    char path[512], *dir = tmpdir(), file[512];
    char *old_home = getenv("HOME") ? strdup(getenv("HOME")) : NULL;
    FILE *f;

    clear_env();
    setenv("HOME", dir, 1);
    /* nothing anywhere: the default path does not exist */
    assert_int_equal(tctl_cred_resolve(&none, path, sizeof(path)), GW_ENOENT);
    assert_int_equal(tctl_cred_resolve(NULL, path, sizeof(path)), GW_ENOENT);
    /* --insecure wins over everything, and so does the environment */
    assert_int_equal(tctl_cred_resolve(&insecure, path, sizeof(path)),
                     TCTL_CRED_INSECURE);
    setenv("TRAEFIKEE_INSECURE", "1", 1);
    assert_int_equal(tctl_cred_resolve(&flag, path, sizeof(path)),
                     TCTL_CRED_INSECURE);
    setenv("TRAEFIKEE_INSECURE", "0", 1);
    /* --bundle, then TRAEFIKEE_BUNDLE (not checked for existence here) */
    setenv("TRAEFIKEE_BUNDLE", "/e/env.pem", 1);
    assert_int_equal(tctl_cred_resolve(&flag, path, sizeof(path)),
                     TCTL_CRED_BUNDLE);
    assert_string_equal(path, "/f/flag.pem");
    assert_int_equal(tctl_cred_resolve(&none, path, sizeof(path)),
                     TCTL_CRED_BUNDLE);
    assert_string_equal(path, "/e/env.pem");
    unsetenv("TRAEFIKEE_BUNDLE");
    /* the default path: $HOME/.config, or $XDG_CONFIG_HOME */
    snprintf(file, sizeof(file), "%s/.config", dir);
    assert_int_equal(mkdir(file, 0700), 0);
    snprintf(file, sizeof(file), "%s/.config/traefikee", dir);
    assert_int_equal(mkdir(file, 0700), 0);
    snprintf(file, sizeof(file), "%s/.config/traefikee/bundle.pem", dir);
    assert_non_null(f = fopen(file, "w"));
    fclose(f);
    assert_int_equal(tctl_cred_resolve(&none, path, sizeof(path)),
                     TCTL_CRED_BUNDLE);
    assert_string_equal(path, file);
    setenv("XDG_CONFIG_HOME", "/xdg", 1);
    assert_int_equal(tctl_bundle_default(path, sizeof(path)), 0);
    assert_string_equal(path, "/xdg/traefikee/bundle.pem");
    assert_int_equal(tctl_cred_resolve(&none, path, sizeof(path)), GW_ENOENT);
    unsetenv("XDG_CONFIG_HOME");
    unsetenv("HOME");
    assert_int_equal(tctl_bundle_default(path, sizeof(path)), -1);
    remove(file);
    snprintf(file, sizeof(file), "%s/.config/traefikee", dir);
    rmdir(file);
    snprintf(file, sizeof(file), "%s/.config", dir);
    rmdir(file);
    rmdir(dir);
    free(dir);
    if (old_home != NULL)
        setenv("HOME", old_home, 1);
    free(old_home);
    clear_env();
}

/* Redirects stderr into a file while <fn> runs; returns what it wrote. */
struct captured {
    char path[512];
    int saved;
};

static void capture_start(struct captured *c)
{
    char *dir = tmpdir();
    FILE *f;

    snprintf(c->path, sizeof(c->path), "%s/stderr", dir);
    free(dir);
    fflush(stderr);
    c->saved = dup(2);
    assert_non_null(f = fopen(c->path, "w"));
    assert_int_equal(dup2(fileno(f), 2), 2);
    fclose(f);
}

static char *capture_end(struct captured *c)
{
    char *text = NULL, err[CM_ERR_LEN];

    fflush(stderr);
    assert_int_equal(dup2(c->saved, 2), 2);
    close(c->saved);
    assert_int_equal(cm_pki_file_read(c->path, &text, err, sizeof(err)), 0);
    remove(c->path);
    return text;
}

/* A CA and certificates issued by it. */
struct pki_fixture {
    char *ca, *ca_key, *other_ca, *other_key;
    char *dir;
};

/* Writes a bundle of <role>/<id> into DIR/<name>; returns the path. */
static char *bundle_file(const struct pki_fixture *p, const char *ca,
                         const char *ca_key, enum cm_pki_role role, int64_t now,
                         int64_t ttl, const char *name)
{
    struct cm_pki_creds c;
    char *text, *path = NULL, err[CM_ERR_LEN];

    cm_pki_test_issue(ca, ca_key, role, "tctl", now, ttl, &c);
    assert_int_equal(cm_pki_creds_format(&c, &text), 0);
    assert_true(asprintf(&path, "%s/%s", p->dir, name) > 0);
    assert_int_equal(cm_pki_file_write(path, text, err, sizeof(err)), 0);
    free(text);
    cm_pki_creds_clear(&c);
    return path;
}

static void pki_setup(struct pki_fixture *p)
{
    char err[CM_ERR_LEN];

    assert_int_equal(cm_pki_ca_new("t", &p->ca, &p->ca_key, err, sizeof(err)),
                     0);
    assert_int_equal(
        cm_pki_ca_new("o", &p->other_ca, &p->other_key, err, sizeof(err)), 0);
    p->dir = tmpdir();
}

static void pki_teardown(struct pki_fixture *p)
{
    free(p->ca);
    free(p->ca_key);
    free(p->other_ca);
    free(p->other_key);
    rmdir(p->dir);
    free(p->dir);
}

static void test_ctx_bundle(void **state)
{
    struct pki_fixture p;
    struct tctl_cred_opts co = {0};
    struct captured cap;
    struct tctl_ctx c;
    char *good, *expired, *junk, *out;
    int64_t now = time(NULL);
    FILE *f;

    pki_setup(&p);
    clear_env();
    good = bundle_file(&p, p.ca, p.ca_key, CM_PKI_ROLE_ADMIN, now, 3600,
                       "good.pem");
    expired = bundle_file(&p, p.ca, p.ca_key, CM_PKI_ROLE_ADMIN, now - 7200,
                          3600, "old.pem");
    assert_true(asprintf(&junk, "%s/junk.pem", p.dir) > 0);
    assert_non_null(f = fopen(junk, "w"));
    fputs("not a bundle\n", f);
    fclose(f);

    co.bundle = good;
    assert_int_equal(tctl_ctx_init(&c, "h:1", &co), 0);
    assert_true(c.secure);
    assert_non_null(tctl_ctx_creds(&c));
    assert_string_equal(c.bundle, good);
    assert_true(cm_pki_key_matches(c.pki.cert, c.pki.key));
    tctl_ctx_deinit(&c);
    assert_null(c.pki.key);

    co.insecure = 1; /* plain text whatever the bundle */
    assert_int_equal(tctl_ctx_init(&c, "h:1", &co), 0);
    assert_false(c.secure);
    assert_null(tctl_ctx_creds(&c));
    tctl_ctx_deinit(&c);
    co.insecure = 0;

    capture_start(&cap);
    co.bundle = expired;
    assert_int_equal(tctl_ctx_init(&c, "h:1", &co), 1);
    co.bundle = junk;
    assert_int_equal(tctl_ctx_init(&c, "h:1", &co), 1);
    co.bundle = "/nonexistent/b.pem";
    assert_int_equal(tctl_ctx_init(&c, "h:1", &co), 1);
    setenv("XDG_CONFIG_HOME", p.dir, 1); /* no traefikee/bundle.pem there */
    assert_int_equal(tctl_ctx_init(&c, "h:1", NULL), 1);
    out = capture_end(&cap);
    assert_non_null(strstr(out, "expired at"));
    assert_non_null(strstr(out, "; copy a fresh DATA-DIR/traefikeectl.bundle "
                                "from a control node over it\n"));
    assert_non_null(strstr(out, "is not a usable bundle"));
    assert_non_null(strstr(out, "cannot read the bundle /nonexistent/b.pem"));
    assert_non_null(strstr(out, "traefikeectl: " TCTL_NO_CREDS "\n"));
    free(out);

    clear_env();
    remove(good);
    remove(expired);
    remove(junk);
    free(good);
    free(expired);
    free(junk);
    pki_teardown(&p);
}

static int lines(const char *s);

/* ==== renewing a local cluster's bundle ==== */

static void test_bundle_aging(void **state)
{
    (void)state;
    assert_false(tctl_bundle_aging(0, 300, 0));
    assert_false(tctl_bundle_aging(0, 300, 200));
    assert_true(tctl_bundle_aging(0, 300, 201));
    assert_true(tctl_bundle_aging(0, 300, 300));
    assert_true(tctl_bundle_aging(0, 300, 9999));
    assert_true(tctl_bundle_aging(300, 300, 300)); /* no life: expired */
}

/* Writes <text> to <path>. */
static void put(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* What install --local leaves: DIR/cluster.json naming
 * DIR/traefikeectl.bundle, control nodes c1..c3 (c3 of another CA) with
 * their bundles, a data node, and the default path linked to the bundle. */
struct local_fixture {
    struct pki_fixture p;
    char bundle[600], def[600], node[3][600];
};

static void local_setup(struct local_fixture *l, int64_t now)
{
    static const int64_t ttl[3] = {20000, 40000, 99999};
    char path[700], *json = NULL, *b;

    pki_setup(&l->p);
    clear_env();
    snprintf(l->bundle, sizeof(l->bundle), "%s/traefikeectl.bundle", l->p.dir);
    for (int i = 0; i < 3; i++) {
        char name[32];
        snprintf(path, sizeof(path), "%s/c%d", l->p.dir, i + 1);
        assert_int_equal(mkdir(path, 0700), 0);
        snprintf(name, sizeof(name), "c%d/traefikeectl.bundle", i + 1);
        b = bundle_file(&l->p, i < 2 ? l->p.ca : l->p.other_ca,
                        i < 2 ? l->p.ca_key : l->p.other_key, CM_PKI_ROLE_ADMIN,
                        now, ttl[i], name);
        snprintf(l->node[i], sizeof(l->node[i]), "%s", b);
        free(b);
    }
    assert_true(
        asprintf(&json,
                 "{\"bundle\": \"%s\", \"processes\": ["
                 "{\"role\": \"control\", \"argv\": [\"cp\", \"--data-dir\", "
                 "\"%s/c1\"]},"
                 "{\"role\": \"control\", \"argv\": [\"cp\", \"--data-dir\", "
                 "\"%s/c2\"]},"
                 "{\"role\": \"control\", \"argv\": [\"cp\", \"--data-dir\", "
                 "\"%s/c3\"]},"
                 "{\"role\": \"data\", \"argv\": [\"dp\"]}]}",
                 l->bundle, l->p.dir, l->p.dir, l->p.dir) > 0);
    snprintf(path, sizeof(path), "%s/cluster.json", l->p.dir);
    put(path, json);
    free(json);
    snprintf(path, sizeof(path), "%s/traefikee", l->p.dir);
    assert_int_equal(mkdir(path, 0700), 0);
    snprintf(l->def, sizeof(l->def), "%s/bundle.pem", path);
    assert_int_equal(symlink(l->bundle, l->def), 0);
    setenv("XDG_CONFIG_HOME", l->p.dir, 1);
}

/* Writes a bundle ending <end_in> seconds from <now> (life 36060 s) as
 * the cluster's. */
static void local_bundle(struct local_fixture *l, int64_t now, int64_t end_in)
{
    char *b = bundle_file(&l->p, l->p.ca, l->p.ca_key, CM_PKI_ROLE_ADMIN,
                          now + end_in - 36000, 36000, "traefikeectl.bundle");

    free(b);
}

static char *text_of(const char *path)
{
    char *text = NULL, err[CM_ERR_LEN];

    assert_int_equal(cm_pki_file_read(path, &text, err, sizeof(err)), 0);
    return text;
}

/* Through the default path (a link): an expired bundle is replaced by c2's
 * (the latest of the CA; c3's is of another CA), with one line saying so;
 * the link stays. */
static void test_bundle_renew_expired(void **state)
{
    struct local_fixture l;
    struct captured cap;
    struct tctl_ctx c;
    struct stat st;
    int64_t now = time(NULL);
    char *out, *want, *got, line[1400];

    (void)state;
    local_setup(&l, now);
    local_bundle(&l, now, -600);
    capture_start(&cap);
    assert_int_equal(tctl_ctx_init(&c, "h:1", NULL), 0);
    out = capture_end(&cap);
    snprintf(line, sizeof(line),
             "traefikeectl: the bundle %s had expired; renewed it from %s "
             "(valid until ",
             l.def, l.node[1]);
    assert_int_equal(strncmp(out, line, strlen(line)), 0);
    assert_int_equal(lines(out), 1);
    want = text_of(l.node[1]);
    got = text_of(l.bundle);
    assert_string_equal(got, want);
    assert_non_null(strstr(want, c.pki.cert));
    assert_int_equal(lstat(l.def, &st), 0);
    assert_true(S_ISLNK(st.st_mode));
    tctl_ctx_deinit(&c);
    free(out);
    free(want);
    free(got);
    pki_teardown(&l.p);
}

/* In its last third: renewed quietly; before that: left alone. */
static void test_bundle_renew_aging(void **state)
{
    struct local_fixture l;
    struct tctl_cred_opts co = {0};
    struct captured cap;
    struct tctl_ctx c;
    int64_t now = time(NULL);
    char *out, *before, *got, *want;

    (void)state;
    local_setup(&l, now);
    co.bundle = l.bundle;
    local_bundle(&l, now, 30000); /* 30000 of 36060 s left: not yet */
    before = text_of(l.bundle);
    capture_start(&cap);
    assert_int_equal(tctl_ctx_init(&c, "h:1", &co), 0);
    tctl_ctx_deinit(&c);
    got = text_of(l.bundle);
    assert_string_equal(got, before);
    free(got);
    free(before);

    local_bundle(&l, now, 10000); /* 10000 s left: renewed */
    assert_int_equal(tctl_ctx_init(&c, "h:1", &co), 0);
    tctl_ctx_deinit(&c);
    out = capture_end(&cap);
    assert_int_equal(lines(out), 0);
    got = text_of(l.bundle);
    want = text_of(l.node[1]);
    assert_string_equal(got, want);
    free(got);
    free(want);
    free(out);
    pki_teardown(&l.p);
}

/* No control node with a later one: one line naming the cluster (expired;
 * a warning when it still works, in its last hour); a bundle the
 * cluster.json beside it does not name is not renewed. */
static void test_bundle_renew_none(void **state)
{
    struct local_fixture l;
    struct tctl_cred_opts co = {0};
    struct captured cap;
    struct tctl_ctx c;
    int64_t now = time(NULL);
    char *out, *other, *before, *got, line[1400];

    (void)state;
    local_setup(&l, now);
    co.bundle = l.bundle;
    remove(l.node[0]);
    remove(l.node[1]);
    local_bundle(&l, now, -10);
    capture_start(&cap);
    assert_int_equal(tctl_ctx_init(&c, "h:1", &co), 1);
    out = capture_end(&cap);
    assert_int_equal(lines(out), 1);
    snprintf(line, sizeof(line),
             "and no control node of the cluster in %s has a later one: "
             "start its control nodes (argv in %s/cluster.json; they write "
             "fresh ones) and run this again\n",
             l.p.dir, l.p.dir);
    assert_non_null(strstr(out, line));
    assert_non_null(strstr(out, "expired at"));
    free(out);

    local_bundle(&l, now, 600);
    capture_start(&cap);
    assert_int_equal(tctl_ctx_init(&c, "h:1", &co), 0);
    tctl_ctx_deinit(&c);
    out = capture_end(&cap);
    assert_int_equal(lines(out), 1);
    assert_non_null(strstr(out, "traefikeectl: warning: the certificate in "));
    assert_non_null(strstr(out, " expires at "));
    assert_non_null(strstr(out, line));
    free(out);

    /* a file of the directory cluster.json does not name: left alone */
    other = bundle_file(&l.p, l.p.ca, l.p.ca_key, CM_PKI_ROLE_ADMIN, now - 7200,
                        3600, "other.pem");
    before = text_of(other);
    co.bundle = other;
    capture_start(&cap);
    assert_int_equal(tctl_ctx_init(&c, "h:1", &co), 1);
    out = capture_end(&cap);
    assert_non_null(strstr(out, "copy a fresh DATA-DIR/traefikeectl.bundle"));
    got = text_of(other);
    assert_string_equal(got, before);
    free(got);
    free(before);
    free(other);
    free(out);
    pki_teardown(&l.p);
}

/* ==== calls through a TLS server ==== */

/* Version: answers node_id "cp-1". */
static void version_message(void *arg, struct cp_rpc_call *call,
                            const uint8_t *data, size_t len)
{
    Traefikee__V1__VersionResponse r = TRAEFIKEE__V1__VERSION_RESPONSE__INIT;

    r.node_id = "cp-1";
    assert_int_equal(cp_rpc_call_send_pb(call, &r.base), 0);
    cp_rpc_call_finish(call, GRPC_STATUS_OK, NULL);
}

static const struct cp_rpc_method_ops version_ops = {.on_message =
                                                         version_message};

static char *chain_of(const struct cm_pki_creds *c)
{
    char *s = NULL;

    assert_true(asprintf(&s, "%s%s", c->cert, c->ca) > 0);
    return s;
}

/* Lines of ours in <s> (the in-process server logs there too). */
static int lines(const char *s)
{
    int n = 0;

    for (const char *p = s; (p = strstr(p, "traefikeectl: ")) != NULL; p++)
        n += p == s || p[-1] == '\n';
    return n;
}

/* History: refused as the authorization does a revoked certificate. */
static void revoked_message(void *arg, struct cp_rpc_call *call,
                            const uint8_t *data, size_t len)
{
    (void)arg;
    (void)data;
    (void)len;
    cp_rpc_call_finish(call, GRPC_STATUS_UNAUTHENTICATED,
                       "certificate revoked");
}

static const struct cp_rpc_method_ops revoked_ops = {.on_message =
                                                         revoked_message};

/* Calls History on <addr> with <co>; the exit status, stderr in *err. */
static int call_revoked(const char *addr, const struct tctl_cred_opts *co,
                        char **err)
{
    Traefikee__V1__HistoryRequest req = TRAEFIKEE__V1__HISTORY_REQUEST__INIT;
    ProtobufCMessage *r = NULL;
    struct captured cap;
    struct tctl_ctx c;
    int rc;

    assert_int_equal(tctl_ctx_init(&c, addr, co), 0);
    c.timeout_ms = 3000;
    capture_start(&cap);
    rc = tctl_call(&c, TCTL_METHOD("History"), &req.base,
                   &traefikee__v1__history_response__descriptor, &r);
    *err = capture_end(&cap);
    assert_null(r);
    tctl_ctx_deinit(&c);
    return rc;
}

/* Calls Version on <addr> with <co>; the exit status, stderr in *err. */
static int call_version(const char *addr, const struct tctl_cred_opts *co,
                        char **err)
{
    Traefikee__V1__VersionRequest req = TRAEFIKEE__V1__VERSION_REQUEST__INIT;
    Traefikee__V1__VersionResponse *r = NULL;
    struct captured cap;
    struct tctl_ctx c;
    int rc;

    assert_int_equal(tctl_ctx_init(&c, addr, co), 0);
    c.timeout_ms = 3000;
    capture_start(&cap);
    rc = tctl_call(&c, TCTL_METHOD("Version"), &req.base,
                   &traefikee__v1__version_response__descriptor,
                   (ProtobufCMessage **)&r);
    *err = capture_end(&cap);
    if (rc == 0) {
        assert_string_equal(r->node_id, "cp-1");
        protobuf_c_message_free_unpacked(&r->base, NULL);
    }
    tctl_ctx_deinit(&c);
    return rc;
}

static void test_call_tls(void **state)
{
    struct pki_fixture p;
    struct cp_rpc_server *srv;
    struct cm_pki_creds own;
    struct tctl_cred_opts co = {0};
    char tls[64], plain[64], err[CM_ERR_LEN], *chain, *out;
    char *admin, *data, *control, *other;
    int64_t now = time(NULL);
    int port = 0, pport = 0;

    pki_setup(&p);
    clear_env();
    cm_pki_test_issue(p.ca, p.ca_key, CM_PKI_ROLE_CONTROL, "cp-1", now, 3600,
                      &own);
    srv = cp_rpc_server_new();
    assert_int_equal(cp_rpc_server_add_method(srv, TCTL_METHOD("Version"),
                                              CP_RPC_UNARY, &version_ops, NULL),
                     0);
    assert_int_equal(cp_rpc_server_add_method(srv, TCTL_METHOD("History"),
                                              CP_RPC_UNARY, &revoked_ops, NULL),
                     0);
    chain = chain_of(&own);
    assert_int_equal(cp_rpc_server_set_tls(srv, chain, own.key, own.ca), 0);
    free(chain);
    cm_pki_creds_clear(&own);
    assert_int_equal(cp_rpc_server_start_tls(srv, "127.0.0.1:0", &port,
                                             "127.0.0.1:0", &pport, err,
                                             sizeof(err)),
                     0);
    snprintf(tls, sizeof(tls), "127.0.0.1:%d", port);
    snprintf(plain, sizeof(plain), "127.0.0.1:%d", pport);
    admin = bundle_file(&p, p.ca, p.ca_key, CM_PKI_ROLE_ADMIN, now, 3600,
                        "admin.pem");
    control = bundle_file(&p, p.ca, p.ca_key, CM_PKI_ROLE_CONTROL, now, 3600,
                          "control.pem");
    data = bundle_file(&p, p.ca, p.ca_key, CM_PKI_ROLE_DATA, now, 3600,
                       "data.pem");
    other = bundle_file(&p, p.other_ca, p.other_key, CM_PKI_ROLE_ADMIN, now,
                        3600, "other.pem");

    /* an admin bundle (through TRAEFIKEE_BUNDLE), a control one */
    setenv("TRAEFIKEE_BUNDLE", admin, 1);
    assert_int_equal(call_version(tls, NULL, &out), 0);
    assert_string_equal(out, "");
    free(out);
    unsetenv("TRAEFIKEE_BUNDLE");
    co.bundle = control;
    assert_int_equal(call_version(tls, &co, &out), 0);
    free(out);
    /* a data certificate: one line, permission denied */
    co.bundle = data;
    assert_int_equal(call_version(tls, &co, &out), 1);
    assert_non_null(strstr(out, "permission denied by"));
    assert_non_null(strstr(out, data));
    if (lines(out) != 1)
        fail_msg("%s", out);
    free(out);
    /* another cluster's CA: the handshake fails; one line naming it */
    co.bundle = other;
    assert_int_equal(call_version(tls, &co, &out), 1);
    assert_non_null(strstr(out, "traefikeectl: TLS handshake with "));
    assert_non_null(strstr(out, other));
    assert_non_null(strstr(out, "is not of this cluster's CA"));
    if (lines(out) != 1)
        fail_msg("%s", out);
    free(out);
    /* a revoked certificate: one line naming its id and what to do */
    co.bundle = admin;
    assert_int_equal(call_revoked(tls, &co, &out), 1);
    assert_non_null(strstr(out, "refused the certificate of tctl in "));
    assert_non_null(strstr(out, ": it was revoked; use a bundle issued since"));
    if (lines(out) != 1)
        fail_msg("%s", out);
    free(out);
    /* plain text: nothing on the TLS port, refused on the plain one */
    co.insecure = 1;
    assert_int_equal(call_version(tls, &co, &out), 1);
    assert_non_null(strstr(out, "no control node reachable"));
    free(out);
    assert_int_equal(call_version(plain, &co, &out), 1);
    assert_non_null(strstr(out, "refused a plain-text call"));
    free(out);
    /* the admin bundle again, the bad node first: failover */
    co.insecure = 0;
    co.bundle = admin;
    {
        char list[160];
        snprintf(list, sizeof(list), "127.0.0.1:1,%s", tls);
        assert_int_equal(call_version(list, &co, &out), 0);
        free(out);
    }

    cp_rpc_server_free(srv);
    for (char **f = (char *[]){admin, control, data, other, NULL}; *f; f++) {
        remove(*f);
        free(*f);
    }
    pki_teardown(&p);
}

static void test_ctx(void **state)
{
    struct tctl_ctx c;

    struct tctl_cred_opts plain = {.insecure = 1};

    unsetenv("TRAEFIKEE_CONTROL");
    assert_int_equal(tctl_ctx_init(&c, NULL, &plain), 0);
    assert_int_equal(c.n, 1);
    assert_string_equal(c.addrs[0], "127.0.0.1:4242");
    tctl_ctx_deinit(&c);
    setenv("TRAEFIKEE_CONTROL", "a:1, b:2,", 1);
    assert_int_equal(tctl_ctx_init(&c, NULL, &plain), 0);
    assert_int_equal(c.n, 2);
    assert_string_equal(c.addrs[1], "b:2");
    tctl_ctx_deinit(&c);
    assert_int_equal(tctl_ctx_init(&c, "x:9", &plain), 0); /* flag wins */
    assert_int_equal(c.n, 1);
    assert_string_equal(c.addrs[0], "x:9");
    tctl_ctx_deinit(&c);
    assert_int_equal(tctl_ctx_init(&c, "noport", &plain), 2);
}

static void test_hoist(void **state)
{
    char *a[] = {"traefikeectl", "--control", "h:1", "get", "routers"};
    char *b[] = {"traefikeectl", "--control=h:1", "list-nodes"};

    tctl_hoist_global(5, a);
    assert_string_equal(a[1], "get");
    assert_string_equal(a[2], "--control");
    assert_string_equal(a[3], "h:1");
    assert_string_equal(a[4], "routers");
    tctl_hoist_global(3, b);
    assert_string_equal(b[1], "list-nodes");
    assert_string_equal(b[2], "--control=h:1");
}

static void test_hoist_security(void **state)
{
    char *a[] = {"traefikeectl",  "--insecure", "--bundle", "f.pem",
                 "--control=h:1", "tokens",     "--rotate"};
    char *b[] = {"traefikeectl", "--bundle"}; /* no command: left alone */
    char *c[] = {"traefikeectl", "tokens", "--insecure"};

    tctl_hoist_global(7, a);
    assert_string_equal(a[1], "tokens");
    assert_string_equal(a[2], "--insecure");
    assert_string_equal(a[3], "--bundle");
    assert_string_equal(a[4], "f.pem");
    assert_string_equal(a[5], "--control=h:1");
    assert_string_equal(a[6], "--rotate");
    tctl_hoist_global(2, b);
    assert_string_equal(b[1], "--bundle");
    tctl_hoist_global(3, c);
    assert_string_equal(c[1], "tokens");
    assert_string_equal(c[2], "--insecure");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_yaml),
        cmocka_unit_test(test_formats),
        cmocka_unit_test(test_history),
        cmocka_unit_test(test_opts),
        cmocka_unit_test(test_ctx),
        cmocka_unit_test(test_hoist),
        cmocka_unit_test(test_opts_security),
        cmocka_unit_test(test_env_insecure),
        cmocka_unit_test(test_cred_resolve),
        cmocka_unit_test(test_ctx_bundle),
        cmocka_unit_test(test_bundle_aging),
        cmocka_unit_test(test_bundle_renew_expired),
        cmocka_unit_test(test_bundle_renew_aging),
        cmocka_unit_test(test_bundle_renew_none),
        cmocka_unit_test(test_call_tls),
        cmocka_unit_test(test_hoist_security),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
