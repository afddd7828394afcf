/* Per-client rate limit (user id when the token is good, else the address)
 * in fixed one-minute windows aligned to the clock, shared by every
 * instance through Redis.
 *
 * Each process counts locally and adds its count to the shared Redis key
 * in batches: at most every SYNC_SECONDS, every 1% of the limit, and on
 * every request once the client is within 10% of its limit, so the shared
 * total is exact where it matters while a client far from its limit costs
 * one Redis round trip per many requests instead of one per request. When
 * Redis is unreachable each process keeps counting on its own until it
 * returns. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "deliveryd/cache.h"
#include "deliveryd/http_pipeline.h"
#include "deliveryd/settings.h"

#define WINDOW 60
#define LOCAL_SLOTS 4096
#define SYNC_SECONDS 0.25

struct local_slot {
    char key[96];
    long window;
    long pending; /* counted here, not yet added to Redis */
    long remote;  /* the shared total at the last sync (0 when never synced) */
    long local;   /* all counted here this window (the fallback while Redis is down) */
    double synced;
};

static struct local_slot slots[LOCAL_SLOTS];
static pthread_mutex_t slots_lock = PTHREAD_MUTEX_INITIALIZER;

/* The client's key: the user when the token is good, else the address. */
static void client_key(const struct req *r, char *key, size_t keysz)
{
    if (r->token_state == 1 && r->who.user_id > 0)
        snprintf(key, keysz, "rl:u:%ld", (long)r->who.user_id);
    else
        snprintf(key, keysz, "rl:ip:%s", r->client_ip);
}

void ratelimit_peek(struct req *r)
{
    long limit = settings_int("rate_limit_per_minute", 5000);
    char key[96];
    client_key(r, key, sizeof key);
    long now = (long)time(NULL);
    long window = now / WINDOW, count = 0;
    struct local_slot *s = &slots[hash_str(key) % LOCAL_SLOTS];
    pthread_mutex_lock(&slots_lock);
    if (s->window == window && strcmp(s->key, key) == 0)
        count = cache_enabled() ? s->remote + s->pending : s->local;
    pthread_mutex_unlock(&slots_lock);
    r->rl_limit = limit;
    r->rl_remaining = limit - count;
    r->rl_reset = (window + 1) * WINDOW - now;
}

int ratelimit_or_reply(struct req *r)
{
    long limit = settings_int("rate_limit_per_minute", 5000);
    char key[96];
    client_key(r, key, sizeof key);
    long now = (long)time(NULL);
    long window = now / WINDOW;
    long reset = (window + 1) * WINDOW - now;
    double mono = now_mono();
    long batch = limit / 100 > 1 ? limit / 100 : 1;

    struct local_slot *s = &slots[hash_str(key) % LOCAL_SLOTS];
    pthread_mutex_lock(&slots_lock);
    if (s->window != window || strcmp(s->key, key) != 0) {
        memset(s, 0, sizeof *s);
        snprintf(s->key, sizeof s->key, "%s", key);
        s->window = window;
    }
    s->pending++;
    s->local++;
    long estimate = s->remote + s->pending;
    bool sync = s->synced == 0 || mono - s->synced >= SYNC_SECONDS || s->pending >= batch ||
                estimate * 10 >= limit * 9;
    long send = sync ? s->pending : 0;
    if (sync) s->pending = 0;
    long local = s->local;
    pthread_mutex_unlock(&slots_lock);

    long count = estimate;
    if (sync && cache_enabled()) {
        char rkey[128];
        snprintf(rkey, sizeof rkey, "%s:%ld", key, window);
        long ttl = reset;
        long long total = cache_incr_window(rkey, send, 2 * WINDOW, &ttl);
        pthread_mutex_lock(&slots_lock);
        if (s->window == window && strcmp(s->key, key) == 0) {
            if (total >= 0) {
                s->remote = (long)total;
                s->synced = mono;
                count = (long)total + s->pending;
            } else {
                s->pending += send; /* not delivered: keep it for the next sync */
                count = local;      /* Redis down: this process's own count */
            }
        }
        pthread_mutex_unlock(&slots_lock);
    } else if (!cache_enabled()) {
        count = local;
    }
    r->rl_limit = limit;
    r->rl_remaining = limit - count;
    r->rl_reset = reset;
    if (count > limit) {
        char v[24];
        snprintf(v, sizeof v, "%ld", reset);
        reply_header(r, "Retry-After", v);
        return reply_problem(r, 429, "rate_limited", "too many requests; retry in %ld s", reset);
    }
    return 0;
}
