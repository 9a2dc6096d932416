/*
 * failover.c -- hearing Sentinel failovers before they lose writes: one
 * subscription on every sentinel (not just one: only the sentinel leading
 * a failover announces its steps, and any of them may lead), to the
 * channels of events.c. A sign that a failover of our master may be under
 * way holds writes (new ones are refused, those in flight are reported
 * unsure) for hold_ms after the last sign; +switch-master ends the hold and
 * reconnects to the new master at once. Writes are also refused while
 * fewer than a majority of the sentinels can be heard: an election needs a
 * majority of votes, so one of them would tell us. Lost subscriptions are
 * made again every RESUB_MS. Also keeps the highest revision seen, the
 * floor of the next one (a revision number lost in a failover is never
 * handed out again with another document). Runs on the store's loop.
 */
#include <string.h>

#include "common/err/err.h"
#include "common/log/log.h"
#include "controlplane/store/store_int.h"
#include "controlplane/store/store.h"

#define RESUB_MS 500

static size_t ssub_index(const struct cp_store__conn *c)
{
    return (size_t)(c - c->store->ssub);
}

static size_t majority(const struct cp_store *s)
{
    return s->nsentinels / 2 + 1;
}

static void hold(struct cp_store *s, size_t idx, const char *channel,
                 const char *msg)
{
    uint64_t now;

    uv_update_time(s->loop);
    now = uv_now(s->loop);
    if (now >= s->fo_until)
        cm_log_warn(CP_STORE__MOD, "failover_hold",
                    "sentinel=%zu event=%s msg=\"%s\" hold_ms=%u", idx, channel,
                    msg, s->hold_ms);
    s->fo_until = now + s->hold_ms;
    s->fo_gen++;
}

static int same_addr(const struct cp_store_addr *a,
                     const struct cp_store_addr *b)
{
    return a->kind == b->kind && a->port == b->port &&
           strcmp(a->host, b->host) == 0;
}

/* A switch to where we are is another sentinel catching up: ignored (it
 * must not end a hold for a later failover). A switch off our master ends
 * the hold; one from elsewhere (stale, or we lag) only reconnects. */
static void switched(struct cp_store *s, size_t idx,
                     const struct cp_store_addr *from,
                     const struct cp_store_addr *to)
{
    if (same_addr(to, &s->master) &&
        (s->phase == CP_STORE__READY || s->phase == CP_STORE__HANDSHAKE))
        return;
    cm_log_info(CP_STORE__MOD, "switch_master",
                "sentinel=%zu from=%s:%d to=%s:%d", idx, from->host, from->port,
                to->host, to->port);
    if (same_addr(from, &s->master))
        s->fo_until = 0;
    s->fo_gen++;
    cp_store__switch_master(s, to);
}

static void ssub_push(struct cp_store__conn *c, redisReply *r)
{
    struct cp_store *s = c->store;
    size_t idx = ssub_index(c);
    struct cp_store_addr from, to;
    redisReply *ch, *m;

    if (r->type != REDIS_REPLY_ARRAY || r->elements < 3 ||
        r->element[0]->type != REDIS_REPLY_STRING)
        return;
    if (strcmp(r->element[0]->str, "subscribe") == 0) {
        if (!s->ssub_ok[idx]) {
            s->ssub_ok[idx] = 1;
            s->heard++;
        }
        return;
    }
    ch = r->element[1];
    m = r->element[2];
    if (strcmp(r->element[0]->str, "message") != 0 ||
        ch->type != REDIS_REPLY_STRING || m->type != REDIS_REPLY_STRING)
        return;
    switch (cp_store_sentinel_event(ch->str, m->str, m->len, s->master_name,
                                    &from, &to)) {
    case CP_STORE_SEV_HOLD:
        /* about a master we no longer follow (the leading sentinel still
         * reconfiguring replicas after the switch): not ours */
        if (from.port != 0 && !same_addr(&from, &s->master))
            break;
        hold(s, idx, ch->str, m->str);
        break;
    case CP_STORE_SEV_SWITCH:
        switched(s, idx, &from, &to);
        break;
    default:
        break;
    }
}

static void ssub_lost(struct cp_store__conn *c, int code)
{
    struct cp_store *s = c->store;
    size_t idx = ssub_index(c);

    if (s->ssub_ok[idx]) {
        s->ssub_ok[idx] = 0;
        s->heard--;
        s->fo_gen++; /* events may be missed from now on */
    }
}

static void resubscribe(struct cp_store *s)
{
    for (size_t i = 0; i < s->nsentinels; i++) {
        struct cp_store__conn *c = &s->ssub[i];
        if (cp_store__conn_up(c))
            continue;
        if (cp_store__conn_connect(c, &s->sentinels[i]) != 0)
            continue;
        if (cp_store__conn_subscribe_all(c, cp_store_sentinel_channels,
                                         s->sentinel_timeout_ms) != 0)
            cp_store__conn_drop(c, GW_EIO);
    }
}

static void resub_fire(uv_timer_t *t)
{
    resubscribe(t->data);
}

void cp_store__failover_init(struct cp_store *s)
{
    for (size_t i = 0; i < CP_STORE_MAX_SENTINELS; i++) {
        cp_store__conn_init(&s->ssub[i], s, "sentinel_sub", ssub_push,
                            ssub_lost);
        s->ssub[i].auth = CP_STORE__AUTH_SENTINEL;
    }
    uv_timer_init(s->loop, &s->ssub_timer);
    s->ssub_timer.data = s;
    s->open_handles++;
}

void cp_store__failover_start(struct cp_store *s)
{
    if (!s->use_sentinel)
        return;
    resubscribe(s);
    uv_timer_start(&s->ssub_timer, resub_fire, RESUB_MS, RESUB_MS);
}

static void timer_closed(uv_handle_t *h)
{
    cp_store__handle_closed(h->data);
}

void cp_store__failover_close(struct cp_store *s)
{
    for (size_t i = 0; i < CP_STORE_MAX_SENTINELS; i++)
        cp_store__conn_close(&s->ssub[i]);
    uv_close((uv_handle_t *)&s->ssub_timer, timer_closed);
}

int cp_store__write_gate(struct cp_store *s)
{
    if (!cp_store__ready(s))
        return CP_STORE_EDOWN;
    if (!s->use_sentinel)
        return GW_OK;
    uv_update_time(s->loop);
    if (uv_now(s->loop) < s->fo_until)
        return CP_STORE_EFAILOVER;
    if (s->heard < majority(s))
        return CP_STORE_ENOSENTINEL;
    return GW_OK;
}

void cp_store__saw_revision(struct cp_store *s, uint64_t rev)
{
    if (rev > s->max_rev)
        s->max_rev = rev;
}
