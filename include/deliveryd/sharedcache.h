/* Rendered responses shared by every instance through Redis, for reads
 * that are expensive and may be a few seconds old but must never miss a
 * write: an entry is served only while the generation it was computed
 * under is still current, and writers bump the generation after they
 * commit. When Redis is down nothing is cached. */
#ifndef DELIVERYD_SHAREDCACHE_H
#define DELIVERYD_SHAREDCACHE_H

#include <stddef.h>

#define SHAREDCACHE_GEN_MAX 24
/* The generation of the analytics figures (orders, payments, sessions,
 * drivers, settings). */
#define STATS_GENERATION_KEY "gen:stats"

/**
 * The entry for `key` if it was stored under the current generation of
 * `gen_key` (a malloc'd copy the caller frees, *len its length), else NULL.
 * `gen` receives the current generation to hand to sharedcache_put once the
 * value is computed ("" when Redis is unavailable).
 */
char *sharedcache_get(const char *gen_key, const char *key, char gen[SHAREDCACHE_GEN_MAX],
                      size_t *len);
/** Stores a value computed under generation `gen` for ttl_seconds. */
void sharedcache_put(const char *key, const char *gen, const char *val, size_t len,
                     int ttl_seconds);
/**
 * A write changed orders, payments, work sessions, drivers, users or
 * settings, and has committed: the analytics answers of every instance
 * (the STATS_GENERATION_KEY generation) and this process's list totals
 * (LIST_TOTALS_PREFIX in the micro-cache) are stale from now on. Called by
 * the dispatcher after a 2xx answer of a ROUTE_STATS route and by the cron
 * jobs: the one place such writes announce themselves.
 */
void caches_data_changed(void);

#endif
