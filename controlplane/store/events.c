/*
 * events.c -- pure helpers of the store's failover handling: what a
 * Sentinel pub/sub message means for the store's master (a sign that a
 * failover may be starting, or +switch-master with the new address), and
 * how many replicas INFO replication shows online and recently heard from.
 * No I/O, no state; callable from any thread.
 */
#include <string.h>

#include "common/err/err.h"
#include "controlplane/store/store.h"

/* Channels whose events (naming our master) mean a failover of it may be
 * under way: the master looks down, an election runs, or a replica is
 * being chosen, promoted or followed. */
static const char *const hold_channels[] = {
    "+sdown",
    "+odown",
    "+try-failover",
    "+elected-leader",
    "+failover-state-select-slave",
    "+selected-slave",
    "+failover-state-send-slaveof-noone",
    "+failover-state-wait-promotion",
    "+promoted-slave",
    "+failover-state-reconf-slaves",
    "+slave-reconf-sent",
    "+slave-reconf-inprog",
    "+slave-reconf-done",
    "+failover-end",
    "+failover-end-for-timeout",
    NULL,
};

/* The channels cp_store_sentinel_event() understands (to SUBSCRIBE). */
const char *const cp_store_sentinel_channels[] = {
    "+sdown",
    "+odown",
    "+try-failover",
    "+vote-for-leader",
    "+elected-leader",
    "+failover-state-select-slave",
    "+selected-slave",
    "+failover-state-send-slaveof-noone",
    "+failover-state-wait-promotion",
    "+promoted-slave",
    "+failover-state-reconf-slaves",
    "+slave-reconf-sent",
    "+slave-reconf-inprog",
    "+slave-reconf-done",
    "+failover-end",
    "+failover-end-for-timeout",
    "+switch-master",
    NULL,
};

static int is_hold_channel(const char *channel)
{
    for (size_t i = 0; hold_channels[i] != NULL; i++)
        if (strcmp(channel, hold_channels[i]) == 0)
            return 1;
    return 0;
}

/* <msg> starts with "<word> " (then *rest points after the space). */
static int starts_word(const char *msg, size_t len, const char *word,
                       size_t *rest)
{
    size_t n = strlen(word);

    if (len <= n || memcmp(msg, word, n) != 0 || msg[n] != ' ')
        return 0;
    *rest = n + 1;
    return 1;
}

/* "master <name> ip port ..." (the master itself): offset after the name,
 * or 0. */
static size_t names_master(const char *msg, size_t len, const char *name)
{
    size_t a, b;

    if (!starts_word(msg, len, "master", &a) ||
        !starts_word(msg + a, len - a, name, &b))
        return 0;
    return a + b;
}

/* "<type> <id> ip port @ <name> ip port" (an instance of our master):
 * offset after the name, or 0. */
static size_t under_master(const char *msg, size_t len, const char *name)
{
    size_t n = strlen(name);

    for (size_t i = 0; i + 3 + n < len; i++)
        if (memcmp(msg + i, " @ ", 3) == 0 &&
            memcmp(msg + i + 3, name, n) == 0 && msg[i + 3 + n] == ' ')
            return i + 3 + n + 1;
    return 0;
}

/* Next space-separated field of <msg> from *<pos>; its length, 0 at the
 * end. */
static size_t field(const char *msg, size_t len, size_t *pos, const char **f)
{
    size_t i = *pos, start;

    while (i < len && msg[i] == ' ')
        i++;
    start = i;
    while (i < len && msg[i] != ' ')
        i++;
    *f = msg + start;
    *pos = i;
    return i - start;
}

static int set_addr(const char *host, size_t hl, const char *port, size_t pl,
                    struct cp_store_addr *a)
{
    uint64_t p;

    if (hl >= sizeof(a->host) || cp_store_parse_u64(port, pl, &p) != 0 ||
        p == 0 || p > 65535)
        return 0;
    memset(a, 0, sizeof(*a));
    a->kind = CP_STORE_ADDR_TCP;
    memcpy(a->host, host, hl);
    a->port = (int)p;
    return 1;
}

/* "<ip> <port>" at <off> into <a>; a port of 0 if it does not parse. */
static void master_at(const char *msg, size_t len, size_t off,
                      struct cp_store_addr *a)
{
    const char *h, *p;
    size_t hl, pl;

    hl = field(msg, len, &off, &h);
    pl = field(msg, len, &off, &p);
    if (hl == 0 || pl == 0 || !set_addr(h, hl, p, pl, a))
        memset(a, 0, sizeof(*a));
}

/* "<name> <old ip> <old port> <new ip> <new port>" */
static int parse_switch(const char *msg, size_t len, const char *name,
                        struct cp_store_addr *from, struct cp_store_addr *to)
{
    const char *f[5];
    size_t fl[5], pos = 0;

    for (int i = 0; i < 5; i++)
        if ((fl[i] = field(msg, len, &pos, &f[i])) == 0)
            return 0;
    if (pos != len || fl[0] != strlen(name) || memcmp(f[0], name, fl[0]) != 0)
        return 0;
    return set_addr(f[1], fl[1], f[2], fl[2], from) &&
           set_addr(f[3], fl[3], f[4], fl[4], to);
}

int cp_store_sentinel_event(const char *channel, const char *msg, size_t len,
                            const char *name, struct cp_store_addr *from,
                            struct cp_store_addr *to)
{
    if (strcmp(channel, "+switch-master") == 0)
        return parse_switch(msg, len, name, from, to) ? CP_STORE_SEV_SWITCH
                                                      : CP_STORE_SEV_NONE;
    size_t off;

    memset(from, 0, sizeof(*from));
    /* a vote names no master (only a leader's run id): any election on a
     * sentinel we hear may be ours */
    if (strcmp(channel, "+vote-for-leader") == 0)
        return CP_STORE_SEV_HOLD;
    if (!is_hold_channel(channel))
        return CP_STORE_SEV_NONE;
    off = names_master(msg, len, name);
    if (off == 0 && strcmp(channel, "+sdown") != 0 &&
        strcmp(channel, "+odown") != 0)
        off = under_master(msg, len, name);
    if (off == 0)
        return CP_STORE_SEV_NONE;
    master_at(msg, len, off, from);
    return CP_STORE_SEV_HOLD;
}

/* Value of "<key>=" in the comma-separated fields of one line. */
static const char *kv(const char *line, size_t len, const char *key,
                      size_t *vlen)
{
    size_t k = strlen(key), i = 0;

    while (i < len) {
        size_t end = i;
        while (end < len && line[end] != ',')
            end++;
        if (end - i > k && memcmp(line + i, key, k) == 0 &&
            line[i + k] == '=') {
            *vlen = end - i - k - 1;
            return line + i + k + 1;
        }
        i = end + 1;
    }
    return NULL;
}

/* One "slaveN:ip=...,state=online,...,lag=L" line: online and lag ok. */
static int replica_line_ok(const char *line, size_t len, unsigned max_lag_s)
{
    const char *v;
    size_t vl, i = 5;
    uint64_t lag;

    if (len < 7 || memcmp(line, "slave", 5) != 0)
        return 0;
    while (i < len && line[i] >= '0' && line[i] <= '9')
        i++;
    if (i == 5 || i >= len || line[i] != ':')
        return 0;
    line += i + 1;
    len -= i + 1;
    v = kv(line, len, "state", &vl);
    if (v == NULL || vl != 6 || memcmp(v, "online", 6) != 0)
        return 0;
    v = kv(line, len, "lag", &vl);
    return v != NULL && cp_store_parse_u64(v, vl, &lag) == 0 &&
           lag <= max_lag_s;
}

int cp_store_info_online(const char *info, size_t len, unsigned max_lag_s)
{
    size_t i = 0;
    int n = 0;

    while (i < len) {
        size_t end = i;
        while (end < len && info[end] != '\n')
            end++;
        size_t l = end - i;
        if (l > 0 && info[i + l - 1] == '\r')
            l--;
        n += replica_line_ok(info + i, l, max_lag_s);
        i = end + 1;
    }
    return n;
}
