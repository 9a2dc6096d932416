/*
 * election.c -- leader lease and fencing epoch. Every lease/3 a follower
 * runs the acquire script (a free lease gives a new term: epoch INCR, which
 * counts only once confirm.c saw it on every online replica; no new term
 * starts while a Redis failover may be under way);
 * a leader runs the renew script, which extends the lease only while both
 * holder and epoch are ours. A leader that has not renewed by
 * (send time of the last renew + lease - margin) steps down before the lease
 * can expire. Runs on the store's loop.
 */
#include <stdio.h>
#include <string.h>

#include "common/err/err.h"
#include "common/log/log.h"
#include "controlplane/store/store_int.h"
#include "controlplane/store/store.h"

static void elect_tick(struct cp_store *s);

static void notify(struct cp_store *s)
{
    if (s->cbs.leader != NULL)
        s->cbs.leader(s, s->leader, s->epoch,
                      s->leader_id[0] != '\0' ? s->leader_id : NULL,
                      s->cbs.arg);
}

static void step_down(struct cp_store *s, const char *why)
{
    if (!s->leader)
        return;
    cm_log_warn(CP_STORE__MOD, "step_down", "epoch=%llu why=\"%s\"",
                (unsigned long long)s->epoch, why);
    s->leader = 0;
    s->leader_id[0] = '\0';
    uv_timer_stop(&s->stepdown_timer);
    notify(s);
}

static void stepdown_fire(uv_timer_t *t)
{
    step_down(t->data, "lease not renewed in time");
}

/* Arms the step-down for <sent> (send time of the last good renew). */
static void arm_stepdown(struct cp_store *s, uint64_t sent)
{
    uint64_t at = sent + s->lease_ms - s->margin_ms, now = uv_now(s->loop);

    s->renew_sent = sent;
    uv_timer_start(&s->stepdown_timer, stepdown_fire, at > now ? at - now : 0,
                   0);
}

static void become_leader(struct cp_store *s)
{
    s->leader = 1;
    s->epoch = s->pend_epoch;
    snprintf(s->leader_id, sizeof(s->leader_id), "%s", s->node_id);
    arm_stepdown(s, s->pend_sent);
    cm_log_info(CP_STORE__MOD, "leader", "epoch=%llu",
                (unsigned long long)s->epoch);
    notify(s);
}

static void follower_saw(struct cp_store *s, const redisReply *holder)
{
    if (holder->type != REDIS_REPLY_STRING)
        return;
    if (strncmp(s->leader_id, holder->str, sizeof(s->leader_id)) == 0)
        return;
    snprintf(s->leader_id, sizeof(s->leader_id), "%s", holder->str);
    cm_log_info(CP_STORE__MOD, "follower", "leader=%s", s->leader_id);
    notify(s);
}

/* The acquire script and its confirmation are both in. */
static void term_confirmed(struct cp_store *s, struct cp_store__confirm *c,
                           int status, int replicas)
{
    s->elect_busy = 0;
    if (status == CP_STORE_ENOREPLICA || status == CP_STORE_EUNSURE) {
        cm_log_warn(CP_STORE__MOD, "term_not_replicated",
                    "epoch=%llu replicas=%d err=\"%s\"",
                    (unsigned long long)s->pend_epoch, replicas,
                    cp_store_strerror(status));
        return; /* the next tick starts another term */
    }
    if (status != 0 || !s->electing || s->leader)
        return;
    if (uv_now(s->loop) >= s->pend_sent + s->lease_ms - s->margin_ms)
        return; /* took too long: the lease may be gone */
    become_leader(s);
}

static void on_acquire(struct cp_store *s, int status, redisReply *r, void *arg)
{
    if (status == 0 && (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
                        r->element[0]->type != REDIS_REPLY_INTEGER)) {
        cm_log_warn(CP_STORE__MOD, "acquire_failed", "type=%d err=\"%s\"",
                    r->type, r->type == REDIS_REPLY_ERROR ? r->str : "");
        status = GW_EPROTO;
    } else if (status == 0 && r->element[0]->integer == 0) {
        if (s->electing && !s->leader)
            follower_saw(s, r->element[1]);
        status = CP_STORE_EEXIST; /* someone else's term: nothing to wait */
    } else if (status == 0) {
        s->pend_epoch = (uint64_t)r->element[1]->integer;
    }
    cp_store__confirm_write(s, &s->term_confirm, status);
}

static void acquire(struct cp_store *s)
{
    char lease[24];
    const char *args[4] = {s->k_leader, s->k_epoch, s->node_id, lease};
    size_t lens[4];

    if (cp_store__write_gate(s) != 0)
        return; /* no new term while a failover may be under way */
    snprintf(lease, sizeof(lease), "%u", s->lease_ms);
    for (int i = 0; i < 4; i++)
        lens[i] = strlen(args[i]);
    s->pend_sent = uv_now(s->loop);
    if (cp_store__eval(s, CP_STORE__S_ACQUIRE, 2, 4, args, lens,
                       s->cmd_timeout_ms, on_acquire, NULL) != 0)
        return;
    s->elect_busy = 1;
    cp_store__confirm_start(s, &s->term_confirm, term_confirmed);
}

static void on_renew(struct cp_store *s, int status, redisReply *r, void *arg)
{
    s->elect_busy = 0;
    if (status != 0 || !s->leader)
        return; /* the step-down timer decides */
    if (r->type == REDIS_REPLY_INTEGER && r->integer == 1) {
        arm_stepdown(s, s->pend_sent);
        return;
    }
    step_down(s, r->type == REDIS_REPLY_INTEGER ? "lease taken" : "error");
    if (s->electing && cp_store__ready(s))
        elect_tick(s); /* learn the new holder */
}

static void renew(struct cp_store *s)
{
    char lease[24], epoch[24];
    const char *args[5] = {s->k_leader, s->k_epoch, s->node_id, epoch, lease};
    size_t lens[5];

    snprintf(lease, sizeof(lease), "%u", s->lease_ms);
    snprintf(epoch, sizeof(epoch), "%llu", (unsigned long long)s->epoch);
    for (int i = 0; i < 5; i++)
        lens[i] = strlen(args[i]);
    s->pend_sent = uv_now(s->loop);
    if (cp_store__eval(s, CP_STORE__S_RENEW, 2, 5, args, lens,
                       s->cmd_timeout_ms, on_renew, NULL) == 0)
        s->elect_busy = 1;
}

static void elect_tick(struct cp_store *s)
{
    if (!s->electing || s->elect_busy || !cp_store__ready(s))
        return;
    if (s->leader)
        renew(s);
    else
        acquire(s);
}

static void elect_fire(uv_timer_t *t)
{
    elect_tick(t->data);
}

int cp_store__election_init(struct cp_store *s)
{
    uv_timer_init(s->loop, &s->elect_timer);
    uv_timer_init(s->loop, &s->stepdown_timer);
    s->elect_timer.data = s;
    s->stepdown_timer.data = s;
    s->open_handles += 2;
    return GW_OK;
}

void cp_store__election_ready(struct cp_store *s)
{
    elect_tick(s);
}

static void timer_closed(uv_handle_t *h)
{
    cp_store__handle_closed(h->data);
}

void cp_store__election_close(struct cp_store *s)
{
    s->electing = 0;
    uv_close((uv_handle_t *)&s->elect_timer, timer_closed);
    uv_close((uv_handle_t *)&s->stepdown_timer, timer_closed);
}

int cp_store_election_start(struct cp_store *s)
{
    unsigned every = s->lease_ms / 3;

    if (s->electing)
        return GW_OK;
    s->electing = 1;
    uv_timer_start(&s->elect_timer, elect_fire, every, every);
    elect_tick(s);
    return GW_OK;
}

static void on_resign(struct cp_store *s, int status, redisReply *r, void *a)
{
}

void cp_store_election_stop(struct cp_store *s)
{
    const char *args[2] = {s->k_leader, s->node_id};
    size_t lens[2] = {strlen(args[0]), strlen(args[1])};
    int was = s->leader;

    if (!s->electing)
        return;
    s->electing = 0;
    uv_timer_stop(&s->elect_timer);
    step_down(s, "election stopped");
    if (was && cp_store__ready(s) &&
        cp_store__eval(s, CP_STORE__S_RESIGN, 1, 2, args, lens,
                       s->cmd_timeout_ms, on_resign, NULL) != 0)
        cm_log_warn(CP_STORE__MOD, "resign_failed", NULL);
}

int cp_store_is_leader(const struct cp_store *s)
{
    return s->leader;
}

uint64_t cp_store_epoch(const struct cp_store *s)
{
    return s->epoch;
}

const char *cp_store_leader_id(const struct cp_store *s)
{
    return s->leader_id[0] != '\0' ? s->leader_id : NULL;
}
