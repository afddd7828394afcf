#include "deliveryd/config.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct config g_cfg;

enum cfg_type { CFG_STR, CFG_INT };

struct cfg_def {
    const char *name;
    enum cfg_type type;
    const char *def; /* NULL: unset */
    long min, max;
    size_t offset;
    unsigned required_by; /* enum config_need bits */
    size_t min_len;       /* strings: minimum length when set */
};

#define S(field) offsetof(struct config, field)
static const struct cfg_def defs[] = {
    {"DATABASE_URL", CFG_STR, NULL, 0, 0, S(database_url), NEED_DATABASE, 1},
    /* a streaming replica for the reads that tolerate a second of lag */
    {"READ_DATABASE_URL", CFG_STR, NULL, 0, 0, S(read_database_url), 0, 0},
    {"REDIS_URL", CFG_STR, NULL, 0, 0, S(redis_url), 0, 0},
    /* libjwt skips verification with an empty key: refuse short secrets. */
    {"JWT_SECRET", CFG_STR, NULL, 0, 0, S(jwt_secret), NEED_JWT, 32},
    {"CRON_SECRET", CFG_STR, NULL, 0, 0, S(cron_secret), 0, 16},
    {"D365_WEBHOOK_SECRET", CFG_STR, NULL, 0, 0, S(d365_webhook_secret), 0, 16},
    {"BIND_ADDRESS", CFG_STR, "127.0.0.1", 0, 0, S(bind_address), 0, 1},
    {"PORT", CFG_INT, "8080", 1, 65535, S(port), 0, 0},
    {"THREADS", CFG_INT, "8", 1, 256, S(threads), 0, 0},
    {"STORAGE_DIR", CFG_STR, "var/storage", 0, 0, S(storage_dir), 0, 1},
    {"CORS_ORIGINS", CFG_STR, "", 0, 0, S(cors_origins), 0, 0},
    {"LOG_LEVEL", CFG_STR, "info", 0, 0, S(log_level_name), 0, 1},
    {"MIGRATIONS_DIR", CFG_STR, "migrations", 0, 0, S(migrations_dir), 0, 1},
    /* Unset: sql/schema next to MIGRATIONS_DIR (schema_dir_default below). */
    {"SCHEMA_DIR", CFG_STR, NULL, 0, 0, S(schema_dir), 0, 1},
    {"CONNECTION_LIMIT", CFG_INT, "4000", 16, 100000, S(connection_limit), 0, 0},
    {"CONNECTION_TIMEOUT", CFG_INT, "30", 1, 3600, S(connection_timeout), 0, 0},
    /* one address may hold this many connections (0: no limit; behind a
     * reverse proxy every connection comes from the proxy's address) */
    {"PER_ADDRESS_CONNECTION_LIMIT", CFG_INT, "256", 0, 100000, S(per_address_connection_limit), 0, 0},
    {"REQUEST_HEAD_TIMEOUT", CFG_INT, "20", 1, 3600, S(request_head_timeout), 0, 0},
    {"TRUST_PROXY", CFG_INT, "0", 0, 1, S(trust_proxy), 0, 0},
    {"STATEMENT_TIMEOUT_MS", CFG_INT, "15000", 100, 600000, S(db_pool_statement_timeout_ms), 0, 0},
    /* the customer-facing origin of the tracking page (https://track.example.com):
     * customer messages link to PUBLIC_BASE_URL/t/<token>; unset: no link */
    {"PUBLIC_BASE_URL", CFG_STR, NULL, 0, 0, S(public_base_url), 0, 1},
    /* 1: webhook URLs may resolve to loopback/private/link-local addresses
     * (tests, a receiver on the same host); 0 refuses them when subscribing
     * and again at connect time */
    {"WEBHOOK_ALLOW_PRIVATE", CFG_INT, "0", 0, 1, S(webhook_allow_private), 0, 0},
    /* the live stream (http/stream.c): open streams of this instance at
     * most (more: 503 with Retry-After), and the bytes queued for one
     * stream past which a client that does not read is dropped */
    {"STREAM_MAX_CLIENTS", CFG_INT, "1000", 0, 100000, S(stream_max_clients), 0, 0},
    {"STREAM_QUEUE_BYTES", CFG_INT, "262144", 1024, 67108864, S(stream_queue_bytes), 0, 0},
};
#undef S

/* The sql/schema directory beside the migrations directory: the parent of
 * MIGRATIONS_DIR (taken from the text, so a symlinked release directory
 * stays the one named) plus "sql/schema". "migrations" gives "sql/schema",
 * "/opt/r/migrations/" gives "/opt/r/sql/schema". Owned by the caller. */
static char *schema_dir_default(const char *migrations_dir)
{
    size_t n = strlen(migrations_dir);
    while (n > 1 && migrations_dir[n - 1] == '/') n--;
    size_t parent = n;
    while (parent > 0 && migrations_dir[parent - 1] != '/') parent--;
    /* parent: length of "dir/" before the last component, 0 when none */
    buf_t b;
    buf_init(&b);
    buf_append(&b, migrations_dir, parent);
    buf_append(&b, "sql/schema", strlen("sql/schema"));
    return buf_steal(&b, NULL);
}

void config_free(void)
{
    for (size_t i = 0; i < ARRAY_LEN(defs); i++) {
        if (defs[i].type != CFG_STR) continue;
        char **p = (char **)((char *)&g_cfg + defs[i].offset);
        free(*p);
        *p = NULL;
    }
}

int config_load(char *(*get)(const char *), unsigned need, char *err, size_t errlen)
{
    config_free();
    memset(&g_cfg, 0, sizeof g_cfg);
    for (size_t i = 0; i < ARRAY_LEN(defs); i++) {
        const struct cfg_def *d = &defs[i];
        const char *v = get(d->name);
        if (v && !*v) v = NULL; /* an empty variable counts as unset */
        if (!v && (d->required_by & need)) {
            snprintf(err, errlen, "%s is required but not set", d->name);
            return -1;
        }
        if (!v) v = d->def;
        void *slot = (char *)&g_cfg + d->offset;
        if (d->type == CFG_STR) {
            if (v && d->min_len && strlen(v) < d->min_len && v != d->def) {
                snprintf(err, errlen, "%s must be at least %zu bytes", d->name, d->min_len);
                return -1;
            }
            *(char **)slot = v ? xstrdup(v) : NULL;
        } else {
            int64_t n;
            if (!v || !parse_i64(v, strlen(v), true, &n) || n < d->min || n > d->max) {
                snprintf(err, errlen, "%s must be an integer between %ld and %ld", d->name,
                         d->min, d->max);
                return -1;
            }
            *(long *)slot = (long)n;
        }
    }
    if (!g_cfg.schema_dir) g_cfg.schema_dir = schema_dir_default(g_cfg.migrations_dir);
    if (g_cfg.public_base_url) { /* an origin (and path) links are made under */
        char *u = g_cfg.public_base_url;
        size_t scheme = strncmp(u, "https://", 8) == 0 ? 8 : strncmp(u, "http://", 7) == 0 ? 7 : 0;
        bool ok = scheme > 0;
        for (const char *c = u; *c && ok; c++)
            if ((unsigned char)*c <= ' ' || *c == 0x7f || *c == '?' || *c == '#') ok = false;
        size_t n = strlen(u);
        while (n > scheme && u[n - 1] == '/') u[--n] = '\0'; /* links add "/t/..." */
        if (n == scheme || u[scheme] == '/') ok = false;            /* no host */
        if (!ok) {
            snprintf(err, errlen,
                     "PUBLIC_BASE_URL must be an http:// or https:// URL without spaces, query or "
                     "fragment");
            return -1;
        }
    }
    static const char *levels[] = {"debug", "info", "warn", "error"};
    g_cfg.log_level = LOG_INFO;
    bool found = false;
    for (size_t i = 0; i < ARRAY_LEN(levels); i++) {
        if (strcmp(g_cfg.log_level_name, levels[i]) == 0) {
            g_cfg.log_level = (enum log_level)i;
            found = true;
        }
    }
    if (!found) {
        snprintf(err, errlen, "LOG_LEVEL must be one of debug, info, warn, error");
        return -1;
    }
    return 0;
}

bool config_cors_allows(const char *origin)
{
    const char *list = g_cfg.cors_origins;
    if (!origin || !*origin || !list || !*list) return false;
    size_t olen = strlen(origin);
    const char *p = list;
    while (*p) {
        while (*p == ' ' || *p == ',') p++;
        const char *start = p;
        while (*p && *p != ',') p++;
        const char *end = p;
        while (end > start && end[-1] == ' ') end--;
        size_t n = (size_t)(end - start);
        if (n == 1 && *start == '*') return true;
        if (n == olen && n && memcmp(start, origin, n) == 0) return true;
    }
    return false;
}
