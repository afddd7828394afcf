/* Per-client rate limit (user id when the token is good, else the address)
 * in fixed one-minute windows. Shared by every instance through Redis; when
 * Redis is unreachable each process counts on its own until it returns. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "deliveryd/cache.h"
#include "deliveryd/http_pipeline.h"
#include "deliveryd/settings.h"

#define WINDOW 60
#define LOCAL_SLOTS 4096

struct local_slot {
    char key[96];
    long window;
    long count;
};

static struct local_slot local[LOCAL_SLOTS];
static pthread_mutex_t local_lock = PTHREAD_MUTEX_INITIALIZER;

static long local_count(const char *key, long *reset)
{
    long now = (long)time(NULL);
    long window = now / WINDOW;
    *reset = (window + 1) * WINDOW - now;
    struct local_slot *s = &local[hash_str(key) % LOCAL_SLOTS];
    pthread_mutex_lock(&local_lock);
    if (s->window != window || strcmp(s->key, key) != 0) {
        snprintf(s->key, sizeof s->key, "%s", key);
        s->window = window;
        s->count = 0;
    }
    long c = ++s->count;
    pthread_mutex_unlock(&local_lock);
    return c;
}

int ratelimit_or_reply(struct req *r)
{
    long limit = settings_int("rate_limit_per_minute", 5000);
    char key[96];
    if (r->token_state == 1 && r->who.user_id > 0)
        snprintf(key, sizeof key, "rl:u:%ld", (long)r->who.user_id);
    else
        snprintf(key, sizeof key, "rl:ip:%s", r->client_ip);
    long ttl = WINDOW;
    long long count = cache_incr_window(key, WINDOW, &ttl);
    if (count < 0) count = local_count(key, &ttl);
    r->rl_limit = limit;
    r->rl_remaining = limit - (long)count;
    r->rl_reset = ttl;
    if (count > limit) {
        char v[24];
        snprintf(v, sizeof v, "%ld", ttl);
        reply_header(r, "Retry-After", v);
        return reply_problem(r, 429, "rate_limited", "too many requests; retry in %ld s", ttl);
    }
    return 0;
}
