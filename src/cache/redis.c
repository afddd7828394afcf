#include "deliveryd/cache.h"

#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deliveryd/config.h"
#include "deliveryd/log.h"
#include "deliveryd/metrics.h"

static char *r_host;
static int r_port = 6379;
static int r_db;
static char *r_password;
static bool r_enabled;
static long long down_until_ms; /* monotonic ms before which we do not retry */
static pthread_key_t ctx_key;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;

static void ctx_destroy(void *p)
{
    if (p) redisFree(p);
}

static void make_key(void)
{
    if (pthread_key_create(&ctx_key, ctx_destroy) != 0) abort();
}

int cache_global_init(char *err, size_t errlen)
{
    pthread_once(&key_once, make_key);
    const char *url = g_cfg.redis_url;
    r_enabled = false;
    if (!url || !*url) return 0;
    const char *p = url;
    if (strncmp(p, "redis://", 8) != 0) {
        snprintf(err, errlen, "REDIS_URL must look like redis://host:port/db");
        return -1;
    }
    p += 8;
    const char *at = strchr(p, '@');
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        const char *pw = colon ? colon + 1 : p;
        r_password = xstrndup(pw, (size_t)(at - pw));
        p = at + 1;
    }
    const char *end = p + strcspn(p, ":/");
    r_host = xstrndup(p, (size_t)(end - p));
    if (!*r_host) {
        free(r_host);
        r_host = xstrdup("127.0.0.1");
    }
    p = end;
    if (*p == ':') {
        p++;
        size_t n = strcspn(p, "/");
        int64_t port;
        if (!parse_i64(p, n, false, &port) || port < 1 || port > 65535) {
            snprintf(err, errlen, "REDIS_URL has an invalid port");
            return -1;
        }
        r_port = (int)port;
        p += n;
    }
    if (*p == '/' && p[1]) {
        int64_t db;
        if (!parse_i64(p + 1, strlen(p + 1), false, &db) || db > 1000) {
            snprintf(err, errlen, "REDIS_URL has an invalid database number");
            return -1;
        }
        r_db = (int)db;
    }
    r_enabled = true;
    return 0;
}

void cache_global_free(void)
{
    free(r_host);
    free(r_password);
    r_host = r_password = NULL;
    r_enabled = false;
}

bool cache_enabled(void)
{
    return r_enabled;
}

void cache_thread_close(void)
{
    pthread_once(&key_once, make_key);
    redisContext *c = pthread_getspecific(ctx_key);
    if (c) redisFree(c);
    pthread_setspecific(ctx_key, NULL);
}

static void mark_down(redisContext *c)
{
    if (c) redisFree(c);
    pthread_setspecific(ctx_key, NULL);
    metrics_redis_error();
    __atomic_store_n(&down_until_ms, (long long)(now_mono() * 1000) + 1000, __ATOMIC_RELAXED);
}

static bool reply_ok(redisReply *rep)
{
    return rep && rep->type != REDIS_REPLY_ERROR;
}

static redisContext *get_ctx(void)
{
    if (!r_enabled) return NULL;
    pthread_once(&key_once, make_key);
    redisContext *c = pthread_getspecific(ctx_key);
    if (c) return c;
    if ((long long)(now_mono() * 1000) < __atomic_load_n(&down_until_ms, __ATOMIC_RELAXED))
        return NULL;
    struct timeval tv = {0, 250000};
    c = redisConnectWithTimeout(r_host, r_port, tv);
    if (!c || c->err) {
        mark_down(c);
        return NULL;
    }
    /* the connect timeout does not cover commands: set it again */
    if (redisSetTimeout(c, tv) != REDIS_OK) {
        mark_down(c);
        return NULL;
    }
    if (r_password) {
        redisReply *rep = redisCommand(c, "AUTH %s", r_password);
        bool ok = reply_ok(rep);
        if (rep) freeReplyObject(rep);
        if (!ok) {
            mark_down(c);
            return NULL;
        }
    }
    if (r_db) {
        redisReply *rep = redisCommand(c, "SELECT %d", r_db);
        bool ok = reply_ok(rep);
        if (rep) freeReplyObject(rep);
        if (!ok) {
            mark_down(c);
            return NULL;
        }
    }
    pthread_setspecific(ctx_key, c);
    return c;
}

/* Runs one command (sent by `send`); on a transport error the context is
 * dropped and the command tried once more on a new connection (Redis may
 * have restarted while this thread's connection sat idle). */
typedef redisReply *(*send_fn)(redisContext *c, void *arg);

static redisReply *with_retry(send_fn send, void *arg)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        redisContext *c = get_ctx();
        if (!c) return NULL;
        redisReply *rep = send(c, arg);
        if (rep && !c->err) return rep;
        if (rep) freeReplyObject(rep);
        redisFree(c);
        pthread_setspecific(ctx_key, NULL);
    }
    mark_down(NULL);
    return NULL;
}

struct fmt_call {
    const char *fmt;
    va_list ap;
};

static redisReply *send_fmt(redisContext *c, void *arg)
{
    struct fmt_call *f = arg;
    va_list ap;
    va_copy(ap, f->ap);
    redisReply *rep = redisvCommand(c, f->fmt, ap);
    va_end(ap);
    return rep;
}

static redisReply *command(const char *fmt, ...)
{
    struct fmt_call f = {.fmt = fmt};
    va_start(f.ap, fmt);
    redisReply *rep = with_retry(send_fmt, &f);
    va_end(f.ap);
    return rep;
}

struct argv_call {
    int argc;
    const char **argv;
};

static redisReply *send_argv(redisContext *c, void *arg)
{
    struct argv_call *a = arg;
    return redisCommandArgv(c, a->argc, a->argv, NULL);
}

const char *cache_state(void)
{
    if (!r_enabled) return "disabled";
    redisReply *rep = command("PING");
    bool ok = reply_ok(rep);
    if (rep) freeReplyObject(rep);
    return ok ? "up" : "down";
}

/* One pipelined INCR / EXPIRE NX / TTL; -2 on a transport error. */
static long long incr_window_once(redisContext *c, const char *key, long by,
                                  int window_seconds, long *ttl)
{
    redisAppendCommand(c, "INCRBY %s %ld", key, by);
    redisAppendCommand(c, "EXPIRE %s %d NX", key, window_seconds);
    redisAppendCommand(c, "TTL %s", key);
    redisReply *reps[3] = {NULL, NULL, NULL};
    for (int i = 0; i < 3; i++) {
        void *rep = NULL;
        if (redisGetReply(c, &rep) != REDIS_OK) {
            for (int k = 0; k < i; k++) freeReplyObject(reps[k]);
            return -2;
        }
        reps[i] = rep;
    }
    long long count = -1;
    if (reps[0]->type == REDIS_REPLY_INTEGER) count = reps[0]->integer;
    *ttl = reps[2]->type == REDIS_REPLY_INTEGER ? (long)reps[2]->integer : window_seconds;
    if (*ttl < 0) *ttl = window_seconds;
    for (int i = 0; i < 3; i++) freeReplyObject(reps[i]);
    return count;
}

long long cache_incr_window(const char *key, long by, int window_seconds, long *ttl)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        redisContext *c = get_ctx();
        if (!c) return -1;
        long long n = incr_window_once(c, key, by, window_seconds, ttl);
        if (n != -2) return n;
        if (attempt == 0) {
            redisFree(c); /* maybe a restart: one more try on a new connection */
            pthread_setspecific(ctx_key, NULL);
        } else {
            mark_down(c);
        }
    }
    return -1;
}

int cache_mget(int n, const char *const *keys, char **vals, size_t *lens)
{
    const char *argv[1 + CACHE_MGET_MAX];
    if (n < 1 || n > CACHE_MGET_MAX) return -1;
    argv[0] = "MGET";
    for (int i = 0; i < n; i++) argv[1 + i] = keys[i];
    struct argv_call call = {n + 1, argv};
    redisReply *rep = with_retry(send_argv, &call);
    if (!rep) return -1;
    int rc = rep->type == REDIS_REPLY_ARRAY && rep->elements == (size_t)n ? 0 : -1;
    for (int i = 0; i < n; i++) {
        vals[i] = NULL;
        lens[i] = 0;
        redisReply *e = rc == 0 ? rep->element[i] : NULL;
        if (e && e->type == REDIS_REPLY_STRING) {
            vals[i] = xstrndup(e->str, e->len);
            lens[i] = e->len;
        }
    }
    freeReplyObject(rep);
    return rc;
}

char *cache_get(const char *key, size_t *len, bool *ok)
{
    redisReply *rep = command("GET %s", key);
    *ok = reply_ok(rep);
    char *out = NULL;
    if (rep && rep->type == REDIS_REPLY_STRING) {
        out = xstrndup(rep->str, rep->len);
        if (len) *len = rep->len;
    }
    if (rep) freeReplyObject(rep);
    return out;
}

int cache_setex(const char *key, const char *val, size_t len, int ttl_seconds)
{
    redisReply *rep = command("SET %s %b EX %d", key, val, len, ttl_seconds);
    int rc = reply_ok(rep) ? 0 : -1;
    if (rep) freeReplyObject(rep);
    return rc;
}

int cache_del(const char *key)
{
    redisReply *rep = command("DEL %s", key);
    int rc = reply_ok(rep) ? 0 : -1;
    if (rep) freeReplyObject(rep);
    return rc;
}

long long cache_incr(const char *key)
{
    redisReply *rep = command("INCR %s", key);
    long long v = (rep && rep->type == REDIS_REPLY_INTEGER) ? rep->integer : -1;
    if (rep) freeReplyObject(rep);
    return v;
}
