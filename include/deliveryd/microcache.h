/* A tiny in-process cache of rendered responses for hot, read-mostly
 * queries polled by many clients (the live map). Entries expire after
 * their TTL; writers that must be seen at once call microcache_clear. */
#ifndef DELIVERYD_MICROCACHE_H
#define DELIVERYD_MICROCACHE_H

#include <stddef.h>

/* Keys of the totals of GET /orders filters (see caches_data_changed). */
#define LIST_TOTALS_PREFIX "cnt:"

/** A malloc'd copy of the entry (caller frees) or NULL when absent/expired. */
char *microcache_get(const char *key, size_t *len);
/**
 * For values that are expensive to compute (list totals): a fresh entry is
 * returned as microcache_get does. When the entry has expired, the first
 * caller gets NULL and is expected to compute and put the value; until it
 * does, the other callers get the expired value instead of all computing it
 * at once. NULL also when there is no entry. microcache_clear makes the
 * next caller compute even while a refresh is under way.
 */
char *microcache_get_or_refresh(const char *key, size_t *len);
void microcache_put(const char *key, const char *val, size_t len, double ttl_seconds);
/** Drops every entry whose key starts with prefix. */
void microcache_clear(const char *prefix);
void microcache_free(void);

#endif
