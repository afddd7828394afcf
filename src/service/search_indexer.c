/* The search indexer thread (include/deliveryd/search_indexer.h). */
#include "deliveryd/search_indexer.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "deliveryd/db.h"
#include "deliveryd/log.h"

#define PERIOD_SECONDS 60
#define ROWS_PER_DRAIN "20000" /* one transaction of order_search_drain */
#define MAX_DRAINS 100         /* per wake-up: 2,000,000 rows */

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv;
static pthread_t thread;
static bool running, kicked, stopping;

static bool stop_asked(void)
{
    pthread_mutex_lock(&mu);
    bool s = stopping;
    pthread_mutex_unlock(&mu);
    return s;
}

/* Drains until the backlog is empty (or the database fails: the next
 * wake-up retries), then vacuums the backlog. */
static void drain(void)
{
    bool drained = false;
    for (int i = 0; i < MAX_DRAINS && !stop_asked(); i++) {
        struct db_error err;
        db_res *res = db_run(Q(order_search_drain)(ROWS_PER_DRAIN), &err);
        if (!res) {
            log_msgf(LOG_WARN, "search indexer: %s (retrying within %d s)", err.message,
                     PERIOD_SECONDS);
            return;
        }
        long moved = atol(db_get(res, 0, 0));
        db_res_free(res);
        if (moved == 0) break;
        drained = true;
    }
    /* every search scans the backlog: keep its dead rows out of the way
     * (without truncating, which would lock searches out for a moment;
     * skipped with a warning by PostgreSQL when another role owns it) */
    if (drained && !stop_asked()) {
        struct db_error err;
        db_res *res = db_run(Q(order_search_vacuum_backlog)(), &err);
        if (res) db_res_free(res);
        else log_msgf(LOG_WARN, "search indexer: vacuum: %s", err.message);
    }
}

/* New trigram (and 6-digit window) entries wait in each GIN index's
 * pending list (fastupdate), which every search reads in full: a few
 * megabytes after a drain made searches 3-4 times slower until autovacuum
 * merged them. Merge them now, here in the background. Needs the indexes'
 * owner; without that the warning is given once and autovacuum is left to
 * do it. */
static void merge_pending(void)
{
    static bool not_owner;
    if (not_owner || stop_asked()) return;
    struct db_error err;
    db_res *res = db_run(Q(order_search_merge_pending)(), &err);
    if (res) {
        db_res_free(res);
        return;
    }
    not_owner = strcmp(err.sqlstate, "42501") == 0;
    log_msgf(LOG_WARN, "search indexer: merging the GIN pending lists: %s%s", err.message,
             not_owner ? " (left to autovacuum from now on)" : "");
}

static void *run(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&mu);
    while (!stopping) {
        if (!kicked) {
            struct timespec until;
            clock_gettime(CLOCK_MONOTONIC, &until);
            until.tv_sec += PERIOD_SECONDS;
            while (!kicked && !stopping &&
                   pthread_cond_timedwait(&cv, &mu, &until) == 0) {
            }
        }
        if (stopping) break;
        kicked = false;
        pthread_mutex_unlock(&mu);
        drain();
        merge_pending(); /* also what single orders (POST, webhook) added */
        pthread_mutex_lock(&mu);
    }
    pthread_mutex_unlock(&mu);
    db_thread_close();
    return NULL;
}

int search_indexer_start(void)
{
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&cv, &attr);
    pthread_condattr_destroy(&attr);
    pthread_mutex_lock(&mu); /* HTTP workers may already kick */
    kicked = true;           /* whatever an earlier run left */
    stopping = false;
    running = pthread_create(&thread, NULL, run, NULL) == 0;
    pthread_mutex_unlock(&mu);
    return running ? 0 : -1;
}

void search_indexer_kick(void)
{
    pthread_mutex_lock(&mu);
    kicked = true;
    if (running) pthread_cond_signal(&cv);
    pthread_mutex_unlock(&mu);
}

void search_indexer_stop(void)
{
    if (!running) return;
    pthread_mutex_lock(&mu);
    stopping = true;
    pthread_cond_signal(&cv);
    pthread_mutex_unlock(&mu);
    pthread_join(thread, NULL);
    pthread_mutex_lock(&mu);
    running = false;
    pthread_mutex_unlock(&mu);
    pthread_cond_destroy(&cv);
}
