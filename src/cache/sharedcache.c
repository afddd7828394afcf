#include "deliveryd/sharedcache.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deliveryd/cache.h"
#include "deliveryd/microcache.h"
#include "deliveryd/util.h"

/* An entry is "<generation>\n<value>"; the generation and the entry come
 * back in one MGET. A missing generation key counts as "0". */
char *sharedcache_get(const char *gen_key, const char *key, char gen[SHAREDCACHE_GEN_MAX],
                      size_t *len)
{
    gen[0] = '\0';
    if (!cache_enabled()) return NULL;
    const char *keys[] = {gen_key, key};
    char *vals[2];
    size_t lens[2];
    if (cache_mget(2, keys, vals, lens) < 0) return NULL;
    snprintf(gen, SHAREDCACHE_GEN_MAX, "%s", vals[0] ? vals[0] : "0");
    char *out = NULL;
    size_t glen = strlen(gen);
    if (vals[1] && lens[1] > glen && memcmp(vals[1], gen, glen) == 0 && vals[1][glen] == '\n') {
        *len = lens[1] - glen - 1;
        out = xmalloc(*len + 1);
        memcpy(out, vals[1] + glen + 1, *len + 1);
    }
    free(vals[0]);
    free(vals[1]);
    return out;
}

void sharedcache_put(const char *key, const char *gen, const char *val, size_t len,
                     int ttl_seconds)
{
    if (!gen[0]) return;
    size_t glen = strlen(gen);
    char *entry = xmalloc(glen + 1 + len);
    memcpy(entry, gen, glen);
    entry[glen] = '\n';
    memcpy(entry + glen + 1, val, len);
    (void)cache_setex(key, entry, glen + 1 + len, ttl_seconds);
    free(entry);
}

void caches_data_changed(void)
{
    if (cache_enabled()) (void)cache_incr(STATS_GENERATION_KEY);
    microcache_clear(LIST_TOTALS_PREFIX);
}
