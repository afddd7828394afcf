/* Redis access: one connection per thread with short timeouts, re-made
 * after any error, with a short back-off while Redis is down. Every call
 * degrades gracefully: callers get ok=false and fall back. */
#ifndef DELIVERYD_CACHE_H
#define DELIVERYD_CACHE_H

#include <stdbool.h>
#include <stddef.h>

#include "deliveryd/util.h"

/** Parses REDIS_URL; returns -1 with a message in err when it is invalid. */
int cache_global_init(char *err, size_t errlen) MUSTCHECK;
void cache_global_free(void);
bool cache_enabled(void);
/** "up", "down" or "disabled" (pings Redis). */
const char *cache_state(void);

/**
 * INCRBY key by, and set its expiry (on first increment), in one round trip.
 * Returns the new count and the key's remaining ttl in *ttl, or -1 when
 * Redis is unavailable.
 */
long long cache_incr_window(const char *key, long by, int window_seconds, long *ttl);
#define CACHE_MGET_MAX 8
/** MGET of n keys in one round trip: vals[i] a malloc'd copy (caller frees)
 * or NULL when missing. -1 when Redis is unavailable (all vals NULL). */
int cache_mget(int n, const char *const *keys, char **vals, size_t *lens);
/** GET: a malloc'd copy (caller frees) or NULL when missing; *ok false on error. */
char *cache_get(const char *key, size_t *len, bool *ok);
int cache_setex(const char *key, const char *val, size_t len, int ttl_seconds);
int cache_del(const char *key);
/** INCR key; -1 on error. */
long long cache_incr(const char *key);
void cache_thread_close(void);

#endif
