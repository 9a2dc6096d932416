/*
 * scripts.c -- the Lua scripts the store runs in Redis. Each one is atomic
 * on the master; writes check the fencing epoch inside the script, so a
 * writer whose term has ended cannot change anything. Data only.
 */
#include "controlplane/store/store_int.h"

/* KEYS: leader, epoch. ARGV: node id, lease ms.
 * Free lease (or ours again after a step-down) -> {1, new epoch};
 * else {0, holder}. Every term gets a new epoch. */
static const char acquire[] =
    "local cur = redis.call('GET', KEYS[1])\n"
    "if cur == false or cur == ARGV[1] then\n"
    "  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])\n"
    "  return {1, redis.call('INCR', KEYS[2])}\n"
    "end\n"
    "return {0, cur}\n";

/* KEYS: leader, epoch. ARGV: node id, epoch, lease ms.
 * Extends the lease only if both the holder and the epoch are ours. */
static const char renew[] = "if redis.call('GET', KEYS[1]) == ARGV[1] and\n"
                            "   redis.call('GET', KEYS[2]) == ARGV[2] then\n"
                            "  redis.call('PEXPIRE', KEYS[1], ARGV[3])\n"
                            "  return 1\n"
                            "end\n"
                            "return 0\n";

/* KEYS: leader. ARGV: node id. Deletes the lease only if ours. */
static const char resign[] = "if redis.call('GET', KEYS[1]) == ARGV[1] then\n"
                             "  return redis.call('DEL', KEYS[1])\n"
                             "end\n"
                             "return 0\n";

/* KEYS: epoch, revision, current, history.
 * ARGV: epoch, doc, rev key prefix, revisions kept, events channel (not
 * used here: the writer announces a revision once replicas confirmed it),
 * floor. Fenced: refuses unless the epoch is still the writer's. The new
 * revision is at least the floor (the writer's highest seen + 1): a number
 * lost in a failover is not reused for another document. */
static const char put[] =
    "if redis.call('GET', KEYS[1]) ~= ARGV[1] then\n"
    "  return redis.error_reply('STALE stale epoch')\n"
    "end\n"
    "local n = redis.call('INCR', KEYS[2])\n"
    "local floor = tonumber(ARGV[6]) or 0\n"
    "if n < floor then\n"
    "  n = floor\n"
    "  redis.call('SET', KEYS[2], n)\n"
    "end\n"
    "redis.call('SET', ARGV[3] .. n, ARGV[2])\n"
    "redis.call('SET', KEYS[3], n)\n"
    "redis.call('LPUSH', KEYS[4], n)\n"
    "local keep = tonumber(ARGV[4])\n"
    "for _, old in ipairs(redis.call('LRANGE', KEYS[4], keep, -1)) do\n"
    "  redis.call('DEL', ARGV[3] .. old)\n"
    "end\n"
    "redis.call('LTRIM', KEYS[4], 0, keep - 1)\n"
    "return n\n";

/* KEYS: current. ARGV: rev key prefix, revision ("0" = current).
 * Returns {rev, doc} or nil. */
static const char get[] = "local n = ARGV[2]\n"
                          "if n == '0' then\n"
                          "  n = redis.call('GET', KEYS[1])\n"
                          "  if not n then return false end\n"
                          "end\n"
                          "local d = redis.call('GET', ARGV[1] .. n)\n"
                          "if not d then return false end\n"
                          "return {n, d}\n";

/* KEYS: epoch, admin hash. ARGV: epoch, hash, "1" to keep a hash already
 * there. Fenced like put: {1} written, {0} kept. */
static const char admin_set[] =
    "if redis.call('GET', KEYS[1]) ~= ARGV[1] then\n"
    "  return redis.error_reply('STALE stale epoch')\n"
    "end\n"
    "if ARGV[3] == '1' and redis.call('EXISTS', KEYS[2]) == 1 then\n"
    "  return 0\n"
    "end\n"
    "redis.call('SET', KEYS[2], ARGV[2])\n"
    "return 1\n";

/* KEYS: ca. ARGV: cert, sealed key, created. Not fenced: the first node
 * creates the CA before any leader exists. HSETNX on cert decides between
 * nodes creating at once; everyone gets the winner's record:
 * {1 (ours) or 0 (another's), cert, key, created}. */
static const char ca_create[] =
    "if redis.call('HSETNX', KEYS[1], 'cert', ARGV[1]) == 1 then\n"
    "  redis.call('HSET', KEYS[1], 'key', ARGV[2], 'created', ARGV[3])\n"
    "  return {1, ARGV[1], ARGV[2], ARGV[3]}\n"
    "end\n"
    "local r = redis.call('HMGET', KEYS[1], 'cert', 'key', 'created')\n"
    "return {0, r[1], r[2], r[3]}\n";

/* KEYS: epoch, tokens. ARGV: epoch, control hash, data hash, control
 * sealed, data sealed ('' = none), "1" to keep tokens already there.
 * Fenced; replaces the whole hash: {1} written, {0} kept. */
static const char tokens_set[] =
    "if redis.call('GET', KEYS[1]) ~= ARGV[1] then\n"
    "  return redis.error_reply('STALE stale epoch')\n"
    "end\n"
    "if ARGV[6] == '1' and redis.call('EXISTS', KEYS[2]) == 1 then\n"
    "  return 0\n"
    "end\n"
    "redis.call('DEL', KEYS[2])\n"
    "redis.call('HSET', KEYS[2], 'control', ARGV[2], 'data', ARGV[3])\n"
    "if ARGV[4] ~= '' then\n"
    "  redis.call('HSET', KEYS[2], 'control_sealed', ARGV[4])\n"
    "end\n"
    "if ARGV[5] ~= '' then\n"
    "  redis.call('HSET', KEYS[2], 'data_sealed', ARGV[5])\n"
    "end\n"
    "return 1\n";

/* KEYS: epoch, revoked. ARGV: epoch, "role/id", unix seconds. Fenced. */
static const char revoke[] = "if redis.call('GET', KEYS[1]) ~= ARGV[1] then\n"
                             "  return redis.error_reply('STALE stale epoch')\n"
                             "end\n"
                             "redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])\n"
                             "return 1\n";

const char *const cp_store__script_src[CP_STORE__NSCRIPTS] = {
    [CP_STORE__S_ACQUIRE] = acquire,
    [CP_STORE__S_RENEW] = renew,
    [CP_STORE__S_RESIGN] = resign,
    [CP_STORE__S_PUT] = put,
    [CP_STORE__S_GET] = get,
    [CP_STORE__S_ADMIN_SET] = admin_set,
    [CP_STORE__S_CA_CREATE] = ca_create,
    [CP_STORE__S_TOKENS_SET] = tokens_set,
    [CP_STORE__S_REVOKE] = revoke,
};
