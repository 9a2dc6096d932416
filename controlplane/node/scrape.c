/*
 * scrape.c -- the traffic and upstream health of the data nodes whose xDS
 * streams this control node holds: each heartbeat tick, one HTTP/1.1
 * "GET /stats" to every such data node's admin address (Node.metadata
 * admin_addr), bounded by a timeout, answer parsed with common/http1 and
 * digested into the compact form the data node's heartbeat carries
 * (heartbeat.c). Not the aggregation over nodes (cluster.c). Loop thread;
 * nothing here blocks.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/http1/http1.h"
#include "common/log/log.h"
#include "controlplane/node/node_int.h"

#define PROBE_HDRS 32
#define ADDR_LEN   80

/* One GET in flight. Freed once both handles have closed. */
struct probe {
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_connect_t conn;
    uv_write_t wr;
    struct target *tg; /* NULL once the target was dropped */
    char req[160];
    char *buf;
    size_t len, cap;
    struct cm_h1_resp resp;
    struct cm_h1_hdr hdrs[PROBE_HDRS];
    int handles;
    bool finished;
};

/* One data node scraped. */
struct target {
    struct target *next;
    char id[CP_XDS_STR_LEN];
    char addr[ADDR_LEN]; /* "IP:port" scraped, "" unknown */
    struct probe *probe; /* in flight, or NULL */
    json_t *stats;       /* last digest (owned), or NULL */
    uint64_t stats_ms;   /* loop time it arrived */
    uint64_t fails;      /* scrapes failed in a row (logged at 1) */
    bool keep;
};

struct cp_node__scraper {
    struct target *targets;
    bool closing;
};

/* ==== pure parts ==== */

/* Splits "host:port" / "[v6]:port" into <host> and the port; 0 or -1. */
static int split_addr(const char *s, char *host, size_t hlen, unsigned *port)
{
    const char *colon, *h = s;
    size_t n;
    char *end;
    unsigned long p;

    if (*s == '[') {
        const char *rb = strchr(s, ']');
        if (rb == NULL || rb[1] != ':')
            return -1;
        h = s + 1;
        n = (size_t)(rb - h);
        colon = rb + 1;
    } else {
        if ((colon = strrchr(s, ':')) == NULL)
            return -1;
        n = (size_t)(colon - s);
        if (memchr(s, ':', n) != NULL)
            return -1; /* bare IPv6 without brackets */
    }
    p = strtoul(colon + 1, &end, 10);
    if (n >= hlen || *end != '\0' || colon[1] == '\0' || p == 0 || p > 65535)
        return -1;
    memcpy(host, h, n);
    host[n] = '\0';
    *port = (unsigned)p;
    return 0;
}

/* The host of an xDS peer ("ipv4:127.0.0.1:5000", "ipv6:[::1]:5000"). */
static int peer_host(const char *peer, char *host, size_t hlen)
{
    unsigned port;

    if (strncmp(peer, "ipv4:", 5) == 0 || strncmp(peer, "ipv6:", 5) == 0)
        peer += 5;
    return split_addr(peer, host, hlen, &port);
}

int cp_node__scrape_addr(const char *admin, const char *peer, char *out,
                         size_t len)
{
    char host[64];
    unsigned port;
    unsigned char bin[16];
    bool v6;

    if (admin == NULL || split_addr(admin, host, sizeof(host), &port) != 0)
        return GW_EINVAL;
    if (strcmp(host, "localhost") == 0)
        snprintf(host, sizeof(host), "127.0.0.1");
    if ((host[0] == '\0' || strcmp(host, "0.0.0.0") == 0 ||
         strcmp(host, "::") == 0) &&
        (peer == NULL || peer_host(peer, host, sizeof(host)) != 0))
        return GW_EINVAL; /* listens everywhere: reach it where it came from */
    v6 = strchr(host, ':') != NULL;
    if (inet_pton(v6 ? AF_INET6 : AF_INET, host, bin) != 1)
        return GW_EINVAL; /* names are not resolved */
    if ((size_t)snprintf(out, len, "%s%s%s:%u", v6 ? "[" : "", host,
                         v6 ? "]" : "", port) >= len)
        return GW_ETOOBIG;
    return 0;
}

static bool short_str(json_t *v)
{
    return json_is_string(v) && json_string_length(v) > 0 &&
           json_string_length(v) <= CP_NODE__SCRAPE_NAME_MAX;
}

static json_int_t count(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_integer(v) && json_integer_value(v) > 0
               ? json_integer_value(v)
               : 0;
}

static json_t *digest_routers(json_t *in)
{
    json_t *out = json_object(), *r;
    size_t i;

    json_array_foreach(in, i, r)
    {
        json_t *name = json_object_get(r, "name");
        if (i >= CP_NODE__SCRAPE_ITEMS_MAX || !short_str(name))
            continue;
        json_object_set_new(out, json_string_value(name),
                            json_pack("[I,I,I]", count(r, "requests"),
                                      count(r, "errors"),
                                      count(r, "latency_us")));
    }
    return out;
}

/* Endpoints of checked clusters, and any that does not take traffic. */
static json_t *digest_endpoints(json_t *in)
{
    json_t *out = json_array(), *e;
    size_t i;

    json_array_foreach(in, i, e)
    {
        json_t *c = json_object_get(e, "cluster"),
               *a = json_object_get(e, "address");
        bool healthy = json_is_true(json_object_get(e, "healthy"));
        if (i >= CP_NODE__SCRAPE_ITEMS_MAX || !short_str(c) || !short_str(a))
            continue;
        if (!json_is_true(json_object_get(e, "checked")) && healthy)
            continue;
        json_array_append_new(out, json_pack("[O,O,i]", c, a, healthy));
    }
    return out;
}

static json_t *digest_listeners(json_t *in)
{
    json_t *out = json_array(), *l;
    size_t i;

    json_array_foreach(in, i, l)
    {
        json_t *a = json_object_get(l, "address");
        if (i < 16 && short_str(a))
            json_array_append(out, a);
    }
    return out;
}

json_t *cp_node__scrape_digest(const char *body, size_t len)
{
    json_t *in = json_loadb(body, len, 0, NULL), *out;

    if (!json_is_object(in) || !json_is_array(json_object_get(in, "routers")) ||
        !json_is_array(json_object_get(in, "endpoints"))) {
        json_decref(in);
        return NULL;
    }
    out = json_pack("{s:o, s:o, s:o}", "routers",
                    digest_routers(json_object_get(in, "routers")), "endpoints",
                    digest_endpoints(json_object_get(in, "endpoints")), "entry",
                    digest_listeners(json_object_get(in, "listeners")));
    json_decref(in);
    return out;
}

int cp_node__scrape_parse(struct cm_h1_resp *resp, const char *buf, size_t len,
                          bool eof, json_t **out)
{
    int r = resp->msg.state == CM_H1_S_DONE ? (int)resp->msg.head_len
                                            : cm_h1_resp_parse(resp, buf, len);
    size_t head, blen;

    *out = NULL;
    if (r < 0)
        return GW_EPROTO;
    if (r == 0)
        return eof ? GW_EPROTO : 0;
    head = (size_t)r;
    if (resp->code != 200)
        return GW_EPROTO;
    switch (resp->msg.body) {
    case CM_H1_BODY_LENGTH:
        blen = (size_t)resp->msg.content_length;
        if (len - head < blen)
            return eof ? GW_EPROTO : 0;
        break;
    case CM_H1_BODY_CLOSE:
        if (!eof)
            return 0;
        blen = len - head;
        break;
    default: /* chunked, or no body: the admin server sends neither */
        return GW_EPROTO;
    }
    if ((*out = cp_node__scrape_digest(buf + head, blen)) == NULL)
        return GW_EPROTO;
    return 1;
}

/* ==== probes ==== */

static void probe_closed(uv_handle_t *h)
{
    struct probe *p = h->data;

    if (--p->handles == 0) {
        free(p->buf);
        free(p);
    }
}

/* Ends <p> with <stats> (taken; NULL: failed) and closes it. */
static void probe_finish(struct probe *p, json_t *stats)
{
    struct target *t = p->tg;

    if (p->finished) {
        json_decref(stats);
        return;
    }
    p->finished = true;
    if (t != NULL) {
        t->probe = NULL;
        if (stats != NULL) {
            json_decref(t->stats);
            t->stats = stats;
            t->stats_ms = uv_now(p->tcp.loop);
            t->fails = 0;
        } else if (t->fails++ == 0) {
            cm_log_info(CP_NODE__MOD, "scrape_failed", "node=%s admin=%s",
                        t->id, t->addr);
        }
    } else {
        json_decref(stats);
    }
    uv_close((uv_handle_t *)&p->tcp, probe_closed);
    uv_close((uv_handle_t *)&p->timer, probe_closed);
}

static void on_timeout(uv_timer_t *h)
{
    probe_finish(h->data, NULL);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    struct probe *p = h->data;

    if (p->cap - p->len < 4096 && p->cap < CP_NODE__SCRAPE_BODY_MAX) {
        size_t cap = p->cap ? p->cap * 2 : 16384;
        char *nb = realloc(p->buf, cap);
        if (nb != NULL) {
            p->buf = nb;
            p->cap = cap;
        }
    }
    *b = uv_buf_init(p->buf + p->len, (unsigned)(p->cap - p->len));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    struct probe *p = s->data;
    json_t *stats = NULL;
    int r;

    if (p->finished || n == 0)
        return;
    if (n < 0 && n != UV_EOF) {
        probe_finish(p, NULL);
        return;
    }
    if (n > 0)
        p->len += (size_t)n;
    r = cp_node__scrape_parse(&p->resp, p->buf, p->len, n == UV_EOF, &stats);
    if (r != 0 || n == UV_EOF)
        probe_finish(p, r > 0 ? stats : NULL);
    else if (p->len == p->cap)
        probe_finish(p, NULL); /* larger than CP_NODE__SCRAPE_BODY_MAX */
}

static void on_written(uv_write_t *w, int status)
{
    struct probe *p = w->data;

    if (status != 0)
        probe_finish(p, NULL);
}

static void on_connect(uv_connect_t *c, int status)
{
    struct probe *p = c->data;
    uv_buf_t b = uv_buf_init(p->req, (unsigned)strlen(p->req));

    if (p->finished)
        return;
    if (status != 0 ||
        uv_write(&p->wr, (uv_stream_t *)&p->tcp, &b, 1, on_written) != 0 ||
        uv_read_start((uv_stream_t *)&p->tcp, on_alloc, on_read) != 0)
        probe_finish(p, NULL);
}

static int resolve(const char *addr, struct sockaddr_storage *ss)
{
    char host[64];
    unsigned port;

    if (split_addr(addr, host, sizeof(host), &port) != 0)
        return GW_EINVAL;
    if (strchr(host, ':') != NULL)
        return uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)ss);
    return uv_ip4_addr(host, (int)port, (struct sockaddr_in *)ss);
}

static void probe_start(struct cp_node *n, struct target *t)
{
    struct sockaddr_storage ss;
    struct probe *p;

    if (resolve(t->addr, &ss) != 0 || (p = calloc(1, sizeof(*p))) == NULL)
        return;
    p->tg = t;
    snprintf(p->req, sizeof(p->req),
             "GET /stats HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n",
             t->addr);
    cm_h1_resp_init(&p->resp, p->hdrs, PROBE_HDRS, NULL);
    cm_h1_resp_reset(&p->resp, CM_H1_M_GET);
    uv_tcp_init(n->loop, &p->tcp);
    uv_timer_init(n->loop, &p->timer);
    p->tcp.data = p->timer.data = p->conn.data = p->wr.data = p;
    p->handles = 2;
    t->probe = p;
    uv_timer_start(&p->timer, on_timeout, CP_NODE__SCRAPE_TIMEOUT_MS, 0);
    if (uv_tcp_connect(&p->conn, &p->tcp, (struct sockaddr *)&ss, on_connect) !=
        0)
        probe_finish(p, NULL);
}

/* ==== targets ==== */

static void target_free(struct target *t)
{
    if (t->probe != NULL) {
        t->probe->tg = NULL;
        probe_finish(t->probe, NULL);
    }
    json_decref(t->stats);
    free(t);
}

static struct target *target_get(struct cp_node__scraper *s, const char *id)
{
    struct target *t;

    for (t = s->targets; t != NULL; t = t->next)
        if (strcmp(t->id, id) == 0)
            return t;
    if ((t = calloc(1, sizeof(*t))) == NULL)
        return NULL;
    snprintf(t->id, sizeof(t->id), "%s", id);
    t->next = s->targets;
    s->targets = t;
    return t;
}

/* The admin_addr of a stream's Node.metadata, or NULL. */
static const char *meta_admin(json_t *md)
{
    return json_string_value(json_object_get(md, "admin_addr"));
}

static void target_update(struct cp_node *n, struct target *t,
                          const struct cp_xds_node_info *d)
{
    json_t *md = json_loads(d->metadata_json, 0, NULL);
    char addr[ADDR_LEN];

    if (cp_node__scrape_addr(meta_admin(md), d->peer, addr, sizeof(addr)) != 0)
        addr[0] = '\0';
    json_decref(md);
    if (strcmp(addr, t->addr) != 0) {
        snprintf(t->addr, sizeof(t->addr), "%s", addr);
        json_decref(t->stats);
        t->stats = NULL;
        t->fails = 0;
    }
    t->keep = true;
    if (t->probe == NULL && t->addr[0] != '\0')
        probe_start(n, t);
}

void cp_node__scrape_tick(struct cp_node *n, const struct cp_xds_node_info *d,
                          size_t count)
{
    struct cp_node__scraper *s = n->scraper;
    struct target **pp, *t;

    if (s == NULL && (s = n->scraper = calloc(1, sizeof(*s))) == NULL)
        return;
    if (s->closing)
        return;
    for (t = s->targets; t != NULL; t = t->next)
        t->keep = false;
    for (size_t i = 0; i < count; i++)
        if (d[i].id[0] != '\0' && (t = target_get(s, d[i].id)) != NULL)
            target_update(n, t, &d[i]);
    for (pp = &s->targets; (t = *pp) != NULL;) {
        if (t->keep) {
            pp = &t->next;
            continue;
        }
        *pp = t->next;
        target_free(t);
    }
}

json_t *cp_node__scrape_stats(struct cp_node *n, const char *id,
                              const char **admin)
{
    struct cp_node__scraper *s = n->scraper;

    *admin = NULL;
    for (struct target *t = s ? s->targets : NULL; t != NULL; t = t->next) {
        if (strcmp(t->id, id) != 0)
            continue;
        *admin = t->addr[0] != '\0' ? t->addr : NULL;
        if (t->stats != NULL &&
            uv_now(n->loop) - t->stats_ms <= CP_NODE__SCRAPE_FRESH_MS)
            return t->stats;
        return NULL;
    }
    return NULL;
}

void cp_node__scrape_close(struct cp_node *n)
{
    struct cp_node__scraper *s = n->scraper;
    struct target *t, *next;

    if (s == NULL)
        return;
    s->closing = true;
    for (t = s->targets; t != NULL; t = next) {
        next = t->next;
        target_free(t);
    }
    s->targets = NULL;
}

void cp_node__scrape_free(struct cp_node *n)
{
    cp_node__scrape_close(n);
    free(n->scraper);
    n->scraper = NULL;
}
