#include "deliveryd/sharedcache.h"
#include "deliveryd/cron.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deliveryd/fields.h"
#include "deliveryd/settings.h"

#define LOCK_BASE 727274100
#define PURGE_CHUNK 10000
#define PURGE_MAX_ROUNDS 100000
#define BACKFILL_BATCH 20000

/* Runs a statement of sql/queries/cron.sql (one row, one column) and
 * returns a malloc'd copy of the value: one_value(Q(cron_archive)(h), err). */
static char *one_value(enum query_id q, int n, const char *const *p, struct db_error *err)
{
    db_res *res = db_run(q, n, p, err);
    if (!res) return NULL;
    char *v = xstrdup(db_ntuples(res) ? db_get(res, 0, 0) : "");
    db_res_free(res);
    return v;
}

/* Transaction control (BEGIN, COMMIT): no parameters, nothing to name. */
static int exec_simple(const char *sql, struct db_error *err)
{
    db_res *res = db_exec(sql, 0, NULL, err);
    if (!res) return -1;
    db_res_free(res);
    return 0;
}

/* Runs a statement of sql/queries/cron.sql whose result is not needed. */
static int run_ok(enum query_id q, int n, const char *const *p, struct db_error *err)
{
    db_res *res = db_run(q, n, p, err);
    if (!res) return -1;
    db_res_free(res);
    return 0;
}

/* The advisory lock key of a job, as text (a statement parameter). */
static void lock_key(char *out, size_t len, int job)
{
    snprintf(out, len, "%d", LOCK_BASE + job);
}

/* BEGIN + transaction-scoped advisory lock: a second run waits for the
 * first and then finds nothing left to do. */
static int begin_locked(int job, struct db_error *err)
{
    char key[24];
    lock_key(key, sizeof key, job);
    if (exec_simple("BEGIN", err) < 0) return -1;
    /* the job's own timeouts (cron.sql says why), then the lock */
    if (run_ok(Q(cron_set_timeouts)(), err) < 0 || run_ok(Q(cron_lock)(key), err) < 0) {
        db_rollback();
        return -1;
    }
    return 0;
}

static int finish(char *value, char **out, struct db_error *err)
{
    if (!value) {
        db_rollback();
        return -1;
    }
    if (exec_simple("COMMIT", err) < 0) {
        free(value);
        db_rollback();
        return -1;
    }
    *out = value;
    return 0;
}

static int job_archive(char **out, struct db_error *err)
{
    char hours[24];
    snprintf(hours, sizeof hours, "%ld", settings_int("archive_buffer_hours", 24));
    if (begin_locked(1, err) < 0) return -1;
    char *v = one_value(Q(cron_archive)(hours), err);
    return finish(v, out, err);
}

/* Fills *_at from the history, then customer fields from customer_info;
 * phones go through the same normalizer as the API. */
static int job_backfill(char **out, struct db_error *err)
{
    if (begin_locked(2, err) < 0) return -1;
    char *ts = one_value(Q(cron_backfill_timestamps)(), err);
    if (!ts) {
        db_rollback();
        return -1;
    }
    /* customer columns: candidates from customer_info, normalized here */
    char lim[24];
    snprintf(lim, sizeof lim, "%d", BACKFILL_BATCH);
    db_res *c = db_run(Q(cron_backfill_candidates)(lim), err);
    if (!c) {
        free(ts);
        db_rollback();
        return -1;
    }
    /* one array per column (cron_backfill_candidates' columns are
     * cron_backfill_customer's parameters); a value that does not
     * validate stays NULL */
    enum { BF_ID, BF_NAME, BF_PHONE, BF_ADDRESS, BF_LAT, BF_LNG, BF__N };
    buf_t cols[BF__N];
    for (int k = 0; k < BF__N; k++) {
        buf_init(&cols[k]);
        buf_puts(&cols[k], "{");
    }
    long filled = 0;
    for (int i = 0; i < db_ntuples(c); i++) {
        for (int k = 0; k < BF__N; k++) {
            const char *v = db_isnull(c, i, k) ? NULL : db_get(c, i, k);
            char norm[64];
            if (v && k == BF_PHONE) v = phone_normalize(v, norm, sizeof norm) == 0 ? norm : NULL;
            if (v && (k == BF_LAT || k == BF_LNG)) {
                /* a decimal number in range, else not filled: strtod also
                 * takes "nan" (which no range test refuses, and which the
                 * column's CHECK then refused, failing every run), "inf"
                 * and hex */
                char *end;
                double d = strtod(v, &end);
                double lim_abs = k == BF_LAT ? 90 : 180;
                if (*end || end == v || strspn(v, "+-0123456789.eE") != strlen(v) ||
                    !(d >= -lim_abs && d <= lim_abs))
                    v = NULL;
            }
            if (k != BF_ID && v) filled++;
            buf_puts(&cols[k], i ? "," : "");
            if (!v) {
                buf_puts(&cols[k], "NULL");
                continue;
            }
            buf_array_elem(&cols[k], v);
        }
    }
    db_res_free(c);
    for (int k = 0; k < BF__N; k++) buf_puts(&cols[k], "}");
    db_res *u = db_run(Q(cron_backfill_customer)(cols[BF_ID].data, cols[BF_NAME].data,
                                                 cols[BF_PHONE].data, cols[BF_ADDRESS].data,
                                                 cols[BF_LAT].data, cols[BF_LNG].data),
                       err);
    for (int k = 0; k < BF__N; k++) buf_free(&cols[k]);
    if (!u) {
        free(ts);
        db_rollback();
        return -1;
    }
    db_res_free(u);
    char *json = xmalloc(128);
    snprintf(json, 128, "{\"timestamps_filled\":%s,\"customer_fields_filled\":%ld}", ts, filled);
    free(ts);
    return finish(json, out, err);
}

static int job_sla(char **out, struct db_error *err)
{
    char sla[24], quiet[24];
    snprintf(sla, sizeof sla, "%ld", settings_int("sla_minutes", 120));
    snprintf(quiet, sizeof quiet, "%ld", settings_int("driver_offline_after_seconds", 600));
    if (begin_locked(3, err) < 0) return -1;
    char *v = one_value(Q(cron_sla)(sla, quiet), err);
    return finish(v, out, err);
}

/* Learned coordinates from the deliveries already stored (cron.sql says
 * how); under its own lock, as archive, so two runs at once learn once. */
static int job_learn(char **out, struct db_error *err)
{
    char stale[24];
    snprintf(stale, sizeof stale, "%ld", settings_int("location_stale_seconds", 300));
    if (begin_locked(8, err) < 0) return -1;
    char *v = one_value(Q(cron_learn_coordinates)(stale), err);
    return finish(v, out, err);
}

/* One chunk of a purge: purge-locations (driver_locations older than
 * location_retention_days) or purge-events (events older than
 * event_retention_days). Answers how many rows it deleted, -1 on error. */
static long purge_chunk(bool events, const char *days, const char *chunk, struct db_error *err)
{
    db_res *res = events ? db_run(Q(cron_purge_events_chunk)(days, chunk), err)
                         : db_run(Q(cron_purge_chunk)(days, chunk), err);
    if (!res) return -1;
    long n = atol(db_get(res, 0, 0));
    db_res_free(res);
    return n;
}

static int job_purge(bool events, char **out, struct db_error *err)
{
    char days[24], chunk[24];
    snprintf(days, sizeof days, "%ld",
             events ? settings_int("event_retention_days", 30)
                    : settings_int("location_retention_days", 90));
    snprintf(chunk, sizeof chunk, "%d", PURGE_CHUNK);
    char key[24];
    lock_key(key, sizeof key, events ? 5 : 4);
    /* a concurrent purge is doing the work already: report nothing deleted */
    char *got = one_value(Q(cron_try_lock)(key), err);
    if (!got) return -1;
    bool mine = got[0] == 't';
    free(got);
    if (!mine) {
        *out = xstrdup("{\"deleted\":0}");
        return 0;
    }
    long deleted = 0;
    int rc = 0;
    /* small chunks, each its own transaction: no long locks */
    for (int round = 0; round < PURGE_MAX_ROUNDS; round++) {
        long n = purge_chunk(events, days, chunk, err);
        if (n < 0) {
            rc = -1;
            break;
        }
        deleted += n;
        if (n < PURGE_CHUNK) break;
    }
    struct db_error e2;
    if (run_ok(Q(cron_unlock)(key), &e2) < 0 && rc == 0) {
        *err = e2;
        rc = -1;
    }
    if (rc < 0) return -1;
    char *json = xmalloc(64);
    snprintf(json, 64, "{\"deleted\":%ld}", deleted);
    *out = json;
    return 0;
}

int cron_run(const char *job, char **out, struct db_error *err)
{
    *out = NULL;
    int rc = -2;
    if (strcmp(job, "archive") == 0) rc = job_archive(out, err);
    else if (strcmp(job, "backfill") == 0) rc = job_backfill(out, err);
    else if (strcmp(job, "sla-check") == 0) rc = job_sla(out, err);
    else if (strcmp(job, "purge-locations") == 0) rc = job_purge(false, out, err);
    else if (strcmp(job, "purge-events") == 0) rc = job_purge(true, out, err);
    else if (strcmp(job, "learn-coordinates") == 0) rc = job_learn(out, err);
    /* archived orders leave the lists; backfilled timestamps and closed
     * sessions change the analytics */
    if (rc == 0) caches_data_changed();
    return rc;
}
