/*
 * route.c -- what each path answers: authentication (session cookie, Basic
 * credentials remembered once verified, scrypt checks on the thread pool),
 * the end of event streams whose credentials lapsed, login and logout, the API
 * views, the dashboard files, /metrics, /ping. Runs on the server's loop (the
 * KDF alone runs on the thread pool).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log/log.h"
#include "common/version/version.h"
#include "controlplane/auth/auth.h"
#include "controlplane/dashboard/dashboard.h"
#include "controlplane/http/http-int.h"

#define JSON_CT  "application/json"
#define TEXT_CT  "text/plain; charset=utf-8"
#define NO_STORE "Cache-Control: no-store\r\n"
#define API_CSP                                                                \
    "Content-Security-Policy: default-src 'self'; img-src 'self' data:; "      \
    "style-src 'self' 'unsafe-inline'; frame-ancestors 'none'\r\n"             \
    "X-Frame-Options: DENY\r\n"

typedef void (*next_fn)(struct cp_http__conn *c);

/* A password check on the thread pool. */
struct cp_http__work {
    uv_work_t w;
    struct cp_http *srv;
    struct cp_http__conn *c; /* NULL once the connection closed */
    next_fn next;            /* on success (Basic) */
    bool login;              /* /api/login rather than Basic */
    bool json;               /* login: answer JSON rather than redirects */
    bool user_ok;
    int result; /* cp_auth_verify() */
    char hash[CP_AUTH_HASH_MAX];
    char pw[256];
};

static bool eq(struct cp_http__slice s, const char *lit)
{
    return s.n == strlen(lit) && memcmp(s.p, lit, s.n) == 0;
}

static bool prefix(struct cp_http__slice s, const char *lit)
{
    return s.n >= strlen(lit) && memcmp(s.p, lit, strlen(lit)) == 0;
}

/* ==== replies ==== */

static void reply_json(struct cp_http__conn *c, int status, json_t *j,
                       const char *extra)
{
    char *s = j ? json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY |
                                    JSON_REAL_PRECISION(6))
                : NULL;
    char hdr[512];

    json_decref(j);
    if (s == NULL) {
        cp_http__reply(c, 503, TEXT_CT, NULL, "out of memory\n", 14);
        return;
    }
    snprintf(hdr, sizeof(hdr), NO_STORE "%s", extra ? extra : "");
    cp_http__reply(c, status, JSON_CT, hdr, s, strlen(s));
    free(s);
}

static void reply_msg(struct cp_http__conn *c, int status, const char *msg)
{
    reply_json(c, status, json_pack("{s:s}", "message", msg), NULL);
}

static void redirect(struct cp_http__conn *c, int status, const char *to,
                     const char *extra)
{
    char hdr[1024];

    snprintf(hdr, sizeof(hdr), "Location: %s\r\n%s", to, extra ? extra : "");
    cp_http__reply(c, status, TEXT_CT, hdr, NULL, 0);
}

/* ==== authentication ==== */

static const char *admin_hash(struct cp_http *s)
{
    const char *h = s->src.admin_hash(s->src.arg);

    return h != NULL && strlen(h) < CP_AUTH_HASH_MAX ? h : NULL;
}

static bool dashboard_path(struct cp_http__conn *c)
{
    return prefix(cp_http__path(c->parser, c->buf), "/dashboard/");
}

/* 401 with the login page; after a failed login (?login=failed) its body
 * gets class "failed", which shows the error. */
static void login_page(struct cp_http__conn *c)
{
    const struct cp_dashboard_file *f = cp_dashboard_find("login.html", 10);
    struct cp_http__slice q = cp_http__query(c->parser, c->buf);
    const char *page = f ? (const char *)f->data : "", *body;
    struct cp_http_text t = {0};
    char v[16];

    body = strstr(page, "<body>");
    if (body != NULL && cp_http__query_get(q, "login", v, sizeof(v)) > 0 &&
        strcmp(v, "failed") == 0) {
        cp_http__text_add(&t, page, (size_t)(body - page));
        cp_http__text_add(&t, "<body class=\"failed\">", 21);
        cp_http__text_add(&t, body + 6, strlen(body + 6));
    } else {
        cp_http__text_add(&t, page, strlen(page));
    }
    cp_http__reply(
        c, 401, "text/html; charset=utf-8",
        "WWW-Authenticate: Form realm=\"traefikee\"\r\n" NO_STORE API_CSP,
        t.p ? t.p : "", t.len);
    free(t.p);
}

/* 401: the login page for the dashboard; JSON and a Basic challenge for
 * API clients (not for the page's own requests: no browser prompt). */
static void deny(struct cp_http__conn *c)
{
    struct cp_http__slice h;

    if (dashboard_path(c)) {
        login_page(c);
        return;
    }
    if (cp_http__header(c->parser, c->buf, "X-Requested-With", &h))
        reply_json(c, 401, json_pack("{s:s}", "message", "unauthorized"),
                   "WWW-Authenticate: Form realm=\"traefikee\"\r\n");
    else
        reply_json(c, 401, json_pack("{s:s}", "message", "unauthorized"),
                   "WWW-Authenticate: Basic realm=\"traefikee\", "
                   "charset=\"UTF-8\"\r\n");
}

static bool revoked(struct cp_http *s, const char *token)
{
    for (unsigned i = 0; i < CP_HTTP__REVOKED; i++)
        if (s->revoked[i] && strcmp(s->revoked[i], token) == 0)
            return true;
    return false;
}

static bool token_ok(struct cp_http *s, const char *hash, const char *tok)
{
    return hash != NULL &&
           cp_auth_session_check(hash, tok, cp_http__now_ms() / 1000) == 1 &&
           !revoked(s, tok);
}

/* A valid session cookie: kept in c->session. */
static bool session_ok(struct cp_http__conn *c, const char *hash)
{
    struct cp_http__slice h;
    char tok[CP_AUTH_TOKEN_MAX];

    if (!cp_http__header(c->parser, c->buf, "Cookie", &h) ||
        cp_http__cookie_get(h, CP_HTTP__COOKIE, tok, sizeof(tok)) <= 0 ||
        !token_ok(c->srv, hash, tok))
        return false;
    memcpy(c->session, tok, sizeof(c->session));
    return true;
}

/* The current admin hash (NULL: none); counts its changes. */
static const char *hash_sync(struct cp_http *s)
{
    const char *hash = admin_hash(s);

    if (strcmp(hash != NULL ? hash : "", s->seen_hash) != 0) {
        snprintf(s->seen_hash, sizeof(s->seen_hash), "%s", hash ? hash : "");
        s->hash_gen++;
    }
    return hash;
}

void cp_http__streams_check(struct cp_http *s)
{
    const char *hash = hash_sync(s);
    struct cp_http__conn *c, *next;

    for (c = s->conns; c != NULL; c = next) {
        next = c->next;
        if (c->state != CP_HTTP__C_SSE || c->closing)
            continue;
        if (c->session[0] != '\0' ? !token_ok(s, hash, c->session)
                                  : c->auth_gen != s->hash_gen) {
            cm_log_info("http", "sse_ended", "reason=%s",
                        c->session[0] ? "session_ended" : "password_changed");
            cp_http__conn_close(c);
        }
    }
}

static bool cache_has(struct cp_http *s, const char *hash, const uint8_t d[32])
{
    if (strcmp(s->cache_hash, hash) != 0)
        return false;
    for (unsigned i = 0; i < s->ncache; i++)
        if (cp_auth_equal(s->cache[i], d, 32))
            return true;
    return false;
}

static void cache_add(struct cp_http *s, const char *hash, const char *pw)
{
    uint8_t d[32];

    if (strcmp(s->cache_hash, hash) != 0) { /* password changed: forget */
        s->ncache = s->cache_next = 0;
        snprintf(s->cache_hash, sizeof(s->cache_hash), "%s", hash);
    }
    if (cp_auth_cred_digest(hash, CP_AUTH_USER, pw, d) != 0)
        return;
    memcpy(s->cache[s->cache_next], d, 32);
    s->cache_next = (s->cache_next + 1) % CP_HTTP__CACHE;
    if (s->ncache < CP_HTTP__CACHE)
        s->ncache++;
}

static void work_run(uv_work_t *w)
{
    struct cp_http__work *k = w->data;

    k->result = cp_auth_verify(k->pw, k->hash);
}

static void login_done(struct cp_http__conn *c, struct cp_http__work *k);

static void work_after(uv_work_t *w, int status)
{
    struct cp_http__work *k = w->data;
    struct cp_http *s = k->srv;
    struct cp_http__conn *c = k->c;
    bool ok = status == 0 && k->result == 1 && k->user_ok;

    s->verifying--;
    if (ok)
        s->stats.logins_ok++;
    else
        s->stats.logins_failed++;
    if (c != NULL && !s->closing) {
        c->work = NULL;
        if (ok)
            cache_add(s, k->hash, k->pw);
        if (k->login)
            login_done(c, k);
        else if (ok)
            k->next(c);
        else
            deny(c);
    }
    memset(k->pw, 0, sizeof(k->pw));
    free(k);
    cp_http__unref(s);
}

void cp_http__work_detach(struct cp_http__work *w)
{
    w->c = NULL;
}

/* Starts a password check; its end calls next(c), deny(c) or
 * login_done(c). */
static void start_check(struct cp_http__conn *c, const char *hash,
                        const char *user, const char *pw, bool login, bool json,
                        next_fn next)
{
    struct cp_http *s = c->srv;
    struct cp_http__work *k;

    if (s->verifying >= CP_HTTP__MAX_VERIFY) {
        cp_http__reply(c, 429, TEXT_CT, "Retry-After: 1\r\n",
                       "too many password checks\n", 25);
        return;
    }
    if ((k = calloc(1, sizeof(*k))) == NULL) {
        reply_msg(c, 503, "out of memory");
        return;
    }
    k->srv = s;
    k->c = c;
    k->next = next;
    k->login = login;
    k->json = json;
    k->user_ok = strcmp(user, CP_AUTH_USER) == 0;
    snprintf(k->hash, sizeof(k->hash), "%s", hash);
    snprintf(k->pw, sizeof(k->pw), "%s", pw);
    k->w.data = k;
    if (uv_queue_work(s->loop, &k->w, work_run, work_after) != 0) {
        free(k);
        reply_msg(c, 503, "cannot check the password now");
        return;
    }
    s->verifying++;
    s->refs++;
    c->work = k;
}

/* Calls next(c) once the request is authenticated, else answers 401. */
static void authorize(struct cp_http__conn *c, next_fn next)
{
    const char *hash = hash_sync(c->srv);
    struct cp_http__slice h;
    char user[128], pw[256];
    uint8_t d[32];

    c->session[0] = '\0';
    c->auth_gen = c->srv->hash_gen;
    if (hash == NULL) {
        deny(c);
        return;
    }
    if (session_ok(c, hash)) {
        next(c);
        return;
    }
    if (!cp_http__header(c->parser, c->buf, "Authorization", &h) ||
        cp_http__basic_parse(h, user, sizeof(user), pw, sizeof(pw)) != 0 ||
        strcmp(user, CP_AUTH_USER) != 0) {
        deny(c);
        return;
    }
    if (cp_auth_cred_digest(hash, user, pw, d) == 0 &&
        cache_has(c->srv, hash, d)) {
        next(c);
    } else {
        start_check(c, hash, user, pw, false, false, next);
    }
    memset(pw, 0, sizeof(pw));
}

/* ==== login, logout ==== */

static bool wants_json(struct cp_http__conn *c)
{
    struct cp_http__slice h;

    return cp_http__header(c->parser, c->buf, "Content-Type", &h) &&
           prefix(h, "application/json");
}

/* Secure when configured so or when <c> is HTTPS. */
static void cookie_header(struct cp_http__conn *c, const char *value,
                          unsigned age, char *out, size_t len)
{
    bool secure = c->srv->cookie_secure || c->tls != NULL;

    snprintf(out, len,
             "Set-Cookie: " CP_HTTP__COOKIE
             "=%s; Path=/; Max-Age=%u; HttpOnly; SameSite=Strict%s\r\n",
             value, age, secure ? "; Secure" : "");
}

static void login_done(struct cp_http__conn *c, struct cp_http__work *k)
{
    char tok[CP_AUTH_TOKEN_MAX], hdr[512];

    if (k->result != 1 || !k->user_ok ||
        cp_auth_session_new(k->hash, cp_http__now_ms() / 1000,
                            c->srv->session_ttl_s, tok, sizeof(tok)) != 0) {
        if (k->json)
            reply_msg(c, 401, "wrong user or password");
        else
            redirect(c, 303, "/dashboard/?login=failed", NO_STORE);
        return;
    }
    cookie_header(c, tok, c->srv->session_ttl_s, hdr, sizeof(hdr));
    if (k->json)
        reply_json(c, 200, json_pack("{s:s}", "user", CP_AUTH_USER), hdr);
    else
        redirect(c, 303, "/dashboard/", hdr);
}

static void login(struct cp_http__conn *c)
{
    struct cp_http__slice body = {c->buf + c->head_len,
                                  c->req_len - c->head_len};
    const char *hash = admin_hash(c->srv);
    bool json = wants_json(c);
    char user[128] = "", pw[256] = "";

    if (json) {
        json_t *j = json_loadb(body.p, body.n, 0, NULL);
        const char *u = json_string_value(json_object_get(j, "user"));
        const char *p = json_string_value(json_object_get(j, "password"));
        if (u == NULL)
            u = json_string_value(json_object_get(j, "username"));
        snprintf(user, sizeof(user), "%s", u ? u : "");
        snprintf(pw, sizeof(pw), "%s", p ? p : "");
        json_decref(j);
    } else if (cp_http__form_get(body, "user", user, sizeof(user)) < 0 &&
               cp_http__form_get(body, "username", user, sizeof(user)) < 0) {
        user[0] = '\0';
    }
    if (!json && cp_http__form_get(body, "password", pw, sizeof(pw)) < 0)
        pw[0] = '\0';
    if (hash == NULL) {
        reply_msg(c, 503, "the admin password is not set yet");
        return;
    }
    start_check(c, hash, user, pw, true, json, NULL);
    memset(pw, 0, sizeof(pw));
}

static void logout(struct cp_http__conn *c)
{
    struct cp_http *s = c->srv;
    struct cp_http__slice h;
    char tok[CP_AUTH_TOKEN_MAX], hdr[512];

    if (cp_http__header(c->parser, c->buf, "Cookie", &h) &&
        cp_http__cookie_get(h, CP_HTTP__COOKIE, tok, sizeof(tok)) > 0 &&
        !revoked(s, tok)) {
        free(s->revoked[s->revoked_next]);
        s->revoked[s->revoked_next] = strdup(tok);
        s->revoked_next = (s->revoked_next + 1) % CP_HTTP__REVOKED;
        cp_http__streams_check(s); /* its event streams end too */
    }
    cookie_header(c, "", 0, hdr, sizeof(hdr));
    if (wants_json(c))
        reply_json(c, 200, json_pack("{s:b}", "loggedOut", 1), hdr);
    else
        redirect(c, 303, "/dashboard/", hdr);
}

/* ==== API views ==== */

static json_t *config_json(struct cp_http *s, uint64_t *rev)
{
    const char *text = s->src.config(s->src.arg, rev);
    json_t *j = text ? json_loads(text, 0, NULL) : NULL;

    return j ? j : json_object();
}

static size_t endpoints(struct cp_http *s, const struct cp_http_endpoint **ep)
{
    *ep = NULL;
    return s->src.endpoints ? s->src.endpoints(s->src.arg, ep) : 0;
}

/* The list <arr> (taken) filtered by ?search= and paged by ?page= and
 * ?per_page=, with X-Next-Page like Traefik. */
static void reply_list(struct cp_http__conn *c, json_t *arr)
{
    struct cp_http__slice q = cp_http__query(c->parser, c->buf);
    char search[128] = "", num[16], hdr[64];
    int page = 1, per = 100, next;
    json_t *out;

    if (cp_http__query_get(q, "search", search, sizeof(search)) < 0)
        search[0] = '\0';
    if (cp_http__query_get(q, "page", num, sizeof(num)) > 0)
        page = atoi(num);
    if (cp_http__query_get(q, "per_page", num, sizeof(num)) > 0)
        per = atoi(num);
    out = cp_http__api_page(arr, search, page, per, &next);
    json_decref(arr);
    snprintf(hdr, sizeof(hdr), "X-Next-Page: %d\r\n", next ? next : 1);
    reply_json(c, 200, out, hdr);
}

/* <arr> (taken) as a list, or the element named by the rest of the path. */
static void reply_one_or_list(struct cp_http__conn *c, json_t *arr,
                              struct cp_http__slice rest)
{
    char name[256];
    int n;

    if (rest.n == 0) {
        reply_list(c, arr);
        return;
    }
    if (rest.p[0] != '/' ||
        (n = cp_http__pct_decode(
             (struct cp_http__slice){rest.p + 1, rest.n - 1}, false, name,
             sizeof(name))) <= 0) {
        json_decref(arr);
        reply_msg(c, 404, "not found");
        return;
    }
    json_t *o = cp_http__api_find(arr, name, (size_t)n);
    if (o == NULL)
        reply_msg(c, 404, "not found");
    else
        reply_json(c, 200, json_incref(o), NULL);
    json_decref(arr);
}

static void api_overview(struct cp_http__conn *c)
{
    struct cp_http *s = c->srv;
    const struct cp_http_node *nodes = NULL;
    const struct cp_http_endpoint *ep;
    size_t nn = s->src.nodes(s->src.arg, &nodes), nep = endpoints(s, &ep);
    uint64_t rev = 0;
    json_t *cfg = config_json(s, &rev);
    json_t *r = cp_http__api_routers(cfg),
           *sv = cp_http__api_services(cfg, ep, nep),
           *m = cp_http__api_middlewares(cfg);

    reply_json(c, 200, cp_http__api_overview(r, sv, m, rev, nodes, nn), NULL);
    json_decref(r);
    json_decref(sv);
    json_decref(m);
    json_decref(cfg);
}

static void api_version(struct cp_http__conn *c)
{
    char ts[40];

    reply_json(c, 200,
               json_pack("{s:s,s:s,s:s,s:s,s:s}", "Version", CM_VERSION,
                         "Codename", "ha", "startDate",
                         cp_http__iso_time(c->srv->started_ms, ts, sizeof(ts)),
                         "commit", cm_version_commit(), "nodeId",
                         c->srv->node_id),
               NULL);
}

static void api_cluster(struct cp_http__conn *c, bool nodes_view)
{
    struct cp_http *s = c->srv;
    const struct cp_http_node *nodes = NULL;
    const struct cp_http_revision *revs = NULL;
    size_t nn = s->src.nodes(s->src.arg, &nodes), nr;
    uint64_t rev = 0;

    s->src.config(s->src.arg, &rev);
    if (nodes_view) {
        reply_json(c, 200, cp_http__api_nodes(nodes, nn, rev), NULL);
        return;
    }
    nr = s->src.revisions(s->src.arg, &revs);
    reply_json(c, 200, cp_http__api_revisions(revs, nr, nodes, nn, rev), NULL);
}

/* /api/http/{routers,services,middlewares}[/NAME], /api/entrypoints[/NAME] */
static bool api_config_view(struct cp_http__conn *c, struct cp_http__slice p)
{
    static const char *const kinds[] = {
        "/api/http/routers", "/api/http/services", "/api/http/middlewares",
        "/api/entrypoints"};
    struct cp_http *s = c->srv;
    const struct cp_http_endpoint *ep;
    size_t nep;
    uint64_t rev;
    json_t *cfg, *arr;

    for (int k = 0; k < 4; k++) {
        size_t kl = strlen(kinds[k]);
        if (!prefix(p, kinds[k]) || (p.n > kl && p.p[kl] != '/'))
            continue;
        cfg = config_json(s, &rev);
        nep = endpoints(s, &ep);
        arr = k == 0   ? cp_http__api_routers(cfg)
              : k == 1 ? cp_http__api_services(cfg, ep, nep)
              : k == 2 ? cp_http__api_middlewares(cfg)
                       : cp_http__api_entrypoints(cfg);
        json_decref(cfg);
        reply_one_or_list(c, arr, (struct cp_http__slice){p.p + kl, p.n - kl});
        return true;
    }
    return false;
}

static void api(struct cp_http__conn *c)
{
    struct cp_http *s = c->srv;
    struct cp_http__slice p = cp_http__path(c->parser, c->buf);
    enum cp_http__method m = cp_http__method(c->parser);
    uint64_t rev = 0;

    if (m != CP_HTTP__GET && m != CP_HTTP__HEAD) {
        reply_msg(c, 405, "method not allowed");
    } else if (eq(p, "/api/overview")) {
        api_overview(c);
    } else if (eq(p, "/api/version")) {
        api_version(c);
    } else if (eq(p, "/api/nodes")) {
        api_cluster(c, true);
    } else if (eq(p, "/api/revisions")) {
        api_cluster(c, false);
    } else if (eq(p, "/api/rawdata")) {
        json_t *cfg = config_json(s, &rev);
        reply_json(
            c, 200,
            json_pack("{s:I,s:o}", "revision", (json_int_t)rev, "config", cfg),
            NULL);
    } else if (eq(p, "/api/timeseries")) {
        reply_json(c, 200, cp_http__series_json(s->series, s->sample_ms), NULL);
    } else if (eq(p, "/api/events")) {
        cp_http__sse_start(c);
    } else if (eq(p, "/api/events/log")) {
        reply_json(c, 200, json_incref(s->evlog), NULL);
    } else if (prefix(p, "/api/tcp/") || prefix(p, "/api/udp/")) {
        reply_json(c, 200, json_array(), "X-Next-Page: 1\r\n");
    } else if (!api_config_view(c, p)) {
        reply_msg(c, 404, "not found");
    }
}

/* ==== dashboard files ==== */

static void dashboard(struct cp_http__conn *c)
{
    struct cp_http__slice p = cp_http__path(c->parser, c->buf), inm;
    const size_t pl = strlen("/dashboard/");
    const struct cp_dashboard_file *f = cp_dashboard_find(p.p + pl, p.n - pl);
    char hdr[512], etag[24];

    if (f == NULL || strcmp(f->name, "login.html") == 0) {
        cp_http__reply(c, 404, TEXT_CT, NULL, "not found\n", 10);
        return;
    }
    snprintf(etag, sizeof(etag), "\"%08x\"", (unsigned)f->crc);
    snprintf(hdr, sizeof(hdr),
             "ETag: %s\r\nCache-Control: no-cache\r\n" API_CSP, etag);
    if (cp_http__header(c->parser, c->buf, "If-None-Match", &inm) &&
        eq(inm, etag)) {
        cp_http__reply(c, 304, NULL, hdr, NULL, 0);
        return;
    }
    cp_http__reply(c, 200, cp_dashboard_content_type(f->name), hdr, f->data,
                   f->len);
}

/* ==== metrics ==== */

static void metrics(struct cp_http__conn *c)
{
    struct cp_http_text t = {0};

    cp_http__metrics(&t, &c->srv->stats, &c->srv->src);
    if (t.oom)
        cp_http__reply(c, 503, TEXT_CT, NULL, "out of memory\n", 14);
    else
        cp_http__reply(c, 200, "text/plain; version=0.0.4; charset=utf-8",
                       NO_STORE, t.p, t.len);
    free(t.p);
}

/* ==== dispatch ==== */

void cp_http__route(struct cp_http__conn *c)
{
    struct cp_http__slice p = cp_http__path(c->parser, c->buf);
    enum cp_http__method m = cp_http__method(c->parser);

    if (eq(p, "/ping")) {
        cp_http__reply(c, 200, TEXT_CT, NULL, "OK", 2);
    } else if (eq(p, "/") || eq(p, "/dashboard")) {
        redirect(c, 302, "/dashboard/", NULL);
    } else if (eq(p, "/metrics")) {
        if (c->srv->metrics_auth)
            authorize(c, metrics);
        else
            metrics(c);
    } else if (eq(p, "/api/login") || eq(p, "/api/logout")) {
        if (m != CP_HTTP__POST)
            cp_http__reply(c, 405, TEXT_CT, "Allow: POST\r\n", "use POST\n", 9);
        else if (eq(p, "/api/login"))
            login(c);
        else
            logout(c);
    } else if (prefix(p, "/api/")) {
        authorize(c, api);
    } else if (prefix(p, "/dashboard/")) {
        if (m != CP_HTTP__GET && m != CP_HTTP__HEAD)
            cp_http__reply(c, 405, TEXT_CT, NULL, "method not allowed\n", 19);
        else
            authorize(c, dashboard);
    } else {
        cp_http__reply(c, 404, TEXT_CT, NULL, "not found\n", 10);
    }
}
