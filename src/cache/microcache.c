#include "deliveryd/microcache.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "deliveryd/util.h"

#define SLOTS 64

struct entry {
    char *key;
    char *val;
    size_t len;
    double expires;
    double refreshing_until; /* one caller recomputes an expired entry */
};

/* how long the others wait on one refresh before one of them tries again */
#define REFRESH_MAX 10.0

static struct entry slots[SLOTS];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static size_t slot_of(const char *key)
{
    return (size_t)(hash_str(key) % SLOTS);
}

char *microcache_get(const char *key, size_t *len)
{
    struct entry *e = &slots[slot_of(key)];
    char *out = NULL;
    pthread_mutex_lock(&lock);
    if (e->key && strcmp(e->key, key) == 0 && now_mono() < e->expires) {
        out = xstrndup(e->val, e->len);
        *len = e->len;
    }
    pthread_mutex_unlock(&lock);
    return out;
}

char *microcache_get_or_refresh(const char *key, size_t *len)
{
    struct entry *e = &slots[slot_of(key)];
    char *out = NULL;
    double now = now_mono();
    pthread_mutex_lock(&lock);
    if (e->key && strcmp(e->key, key) == 0) {
        if (now < e->expires || now < e->refreshing_until) {
            out = xstrndup(e->val, e->len);
            *len = e->len;
        } else {
            e->refreshing_until = now + REFRESH_MAX; /* this caller refreshes */
        }
    }
    pthread_mutex_unlock(&lock);
    return out;
}

void microcache_put(const char *key, const char *val, size_t len, double ttl_seconds)
{
    struct entry *e = &slots[slot_of(key)];
    char *k = xstrdup(key), *v = xstrndup(val, len);
    pthread_mutex_lock(&lock);
    char *oldk = e->key, *oldv = e->val;
    e->key = k;
    e->val = v;
    e->len = len;
    e->expires = now_mono() + ttl_seconds;
    e->refreshing_until = 0;
    pthread_mutex_unlock(&lock);
    free(oldk);
    free(oldv);
}

void microcache_clear(const char *prefix)
{
    size_t n = strlen(prefix);
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < SLOTS; i++)
        if (slots[i].key && strncmp(slots[i].key, prefix, n) == 0)
            slots[i].expires = slots[i].refreshing_until = 0;
    pthread_mutex_unlock(&lock);
}

void microcache_free(void)
{
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < SLOTS; i++) {
        free(slots[i].key);
        free(slots[i].val);
        memset(&slots[i], 0, sizeof slots[i]);
    }
    pthread_mutex_unlock(&lock);
}
