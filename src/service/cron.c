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

/* Runs sql (one row, one column) and returns a malloc'd copy of the value. */
static char *one_value(const char *sql, int n, const char *const *p, struct db_error *err)
{
    db_res *res = db_exec(sql, n, p, err);
    if (!res) return NULL;
    char *v = xstrdup(db_ntuples(res) ? db_get(res, 0, 0) : "");
    db_res_free(res);
    return v;
}

static int exec_simple(const char *sql, struct db_error *err)
{
    db_res *res = db_exec(sql, 0, NULL, err);
    if (!res) return -1;
    db_res_free(res);
    return 0;
}

/* BEGIN + transaction-scoped advisory lock: a second run waits for the
 * first and then finds nothing left to do. */
static int begin_locked(int job, struct db_error *err)
{
    char sql[80];
    snprintf(sql, sizeof sql, "SELECT pg_advisory_xact_lock(%d)", LOCK_BASE + job);
    if (exec_simple("BEGIN", err) < 0) return -1;
    /* a second run waits for the first however long it takes (the pool's
     * lock_timeout would fail it), and a big job may exceed the pool's
     * statement_timeout */
    if (exec_simple("SET LOCAL lock_timeout = '10min'", err) < 0 ||
        exec_simple("SET LOCAL statement_timeout = '10min'", err) < 0 ||
        exec_simple(sql, err) < 0) {
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
    const char *p[] = {hours};
    if (begin_locked(1, err) < 0) return -1;
    /* the expression matches orders_archive_due_idx */
    char *v = one_value(
        "WITH a AS (UPDATE orders SET is_archived = true, archived_at = now()"
        " WHERE NOT is_archived AND status IN ('delivered', 'cancelled', 'returned')"
        " AND coalesce(delivered_at, cancelled_at, returned_at)"
        "  <= now() - make_interval(hours => $1::int) RETURNING 1)"
        " SELECT json_build_object('archived', count(*))::text FROM a",
        1, p, err);
    return finish(v, out, err);
}

/* Fills *_at from the history, then customer fields from customer_info;
 * phones go through the same normalizer as the API. */
static int job_backfill(char **out, struct db_error *err)
{
    if (begin_locked(2, err) < 0) return -1;
    char *ts = one_value(
        "WITH h AS (SELECT order_id,"
        "  max(created_at) FILTER (WHERE to_status = 'assigned') AS a,"
        "  max(created_at) FILTER (WHERE to_status = 'picked_up') AS p,"
        "  max(created_at) FILTER (WHERE to_status = 'delivered') AS d,"
        "  max(created_at) FILTER (WHERE to_status = 'failed') AS f,"
        "  max(created_at) FILTER (WHERE to_status = 'cancelled') AS c,"
        "  max(created_at) FILTER (WHERE to_status = 'returned') AS r"
        "  FROM order_status_history GROUP BY order_id),"
        /* only the stamps the current status implies: a requeued order's
         * cleared assigned_at stays cleared */
        " c AS (SELECT o.id,"
        "  CASE WHEN o.assigned_at IS NULL AND o.status IN ('assigned', 'picked_up', 'delivered')"
        "   THEN h.a END AS a,"
        "  CASE WHEN o.picked_up_at IS NULL AND o.status IN ('picked_up', 'delivered')"
        "   THEN h.p END AS p,"
        "  CASE WHEN o.delivered_at IS NULL AND o.status = 'delivered' THEN h.d END AS d,"
        "  CASE WHEN o.failed_at IS NULL AND o.status IN ('failed', 'returned') THEN h.f END AS f,"
        "  CASE WHEN o.cancelled_at IS NULL AND o.status = 'cancelled' THEN h.c END AS c,"
        "  CASE WHEN o.returned_at IS NULL AND o.status = 'returned' THEN h.r END AS r"
        "  FROM orders o JOIN h ON h.order_id = o.id),"
        " u AS (UPDATE orders o SET assigned_at = coalesce(o.assigned_at, c.a),"
        "  picked_up_at = coalesce(o.picked_up_at, c.p),"
        "  delivered_at = coalesce(o.delivered_at, c.d), failed_at = coalesce(o.failed_at, c.f),"
        "  cancelled_at = coalesce(o.cancelled_at, c.c), returned_at = coalesce(o.returned_at, c.r)"
        "  FROM c WHERE o.id = c.id AND num_nonnulls(c.a, c.p, c.d, c.f, c.c, c.r) > 0"
        "  RETURNING num_nonnulls(c.a, c.p, c.d, c.f, c.c, c.r) AS n)"
        " SELECT coalesce(sum(n), 0) FROM u",
        0, NULL, err);
    if (!ts) {
        db_rollback();
        return -1;
    }
    /* customer columns: candidates from customer_info, normalized here */
    char lim[24];
    snprintf(lim, sizeof lim, "%d", BACKFILL_BATCH);
    const char *pl[] = {lim};
    db_res *c = db_exec(
        "SELECT id,"
        " CASE WHEN customer_name IS NULL THEN nullif(btrim(coalesce(customer_info->>'name',"
        "  customer_info->>'customer_name')), '') END,"
        " CASE WHEN customer_phone IS NULL THEN coalesce(customer_info->>'phone',"
        "  customer_info->>'customer_phone', customer_info->>'mobile') END,"
        " CASE WHEN delivery_address IS NULL THEN nullif(btrim(coalesce(customer_info->>'address',"
        "  customer_info->>'delivery_address')), '') END,"
        " CASE WHEN delivery_latitude IS NULL THEN coalesce(customer_info->>'lat',"
        "  customer_info->>'latitude') END,"
        " CASE WHEN delivery_longitude IS NULL THEN coalesce(customer_info->>'lng',"
        "  customer_info->>'longitude') END"
        " FROM orders WHERE customer_info <> '{}' AND ("
        "  (customer_name IS NULL AND (customer_info ? 'name' OR customer_info ? 'customer_name'))"
        "  OR (customer_phone IS NULL AND (customer_info ? 'phone' OR customer_info ? 'customer_phone'"
        "   OR customer_info ? 'mobile'))"
        "  OR (delivery_address IS NULL AND (customer_info ? 'address' OR customer_info ? 'delivery_address'))"
        "  OR (delivery_latitude IS NULL AND (customer_info ? 'lat' OR customer_info ? 'latitude'))"
        "  OR (delivery_longitude IS NULL AND (customer_info ? 'lng' OR customer_info ? 'longitude')))"
        " ORDER BY id LIMIT $1::int",
        1, pl, err);
    if (!c) {
        free(ts);
        db_rollback();
        return -1;
    }
    /* one array per column; a value that does not validate stays NULL */
    buf_t cols[6];
    for (int k = 0; k < 6; k++) {
        buf_init(&cols[k]);
        buf_puts(&cols[k], "{");
    }
    long filled = 0;
    for (int i = 0; i < db_ntuples(c); i++) {
        for (int k = 0; k < 6; k++) {
            const char *v = db_isnull(c, i, k) ? NULL : db_get(c, i, k);
            char norm[64];
            if (v && k == 2) v = phone_normalize(v, norm, sizeof norm) == 0 ? norm : NULL;
            if (v && (k == 4 || k == 5)) {
                /* a decimal number in range, else not filled: strtod also
                 * takes "nan" (which no range test refuses, and which the
                 * column's CHECK then refused, failing every run), "inf"
                 * and hex */
                char *end;
                double d = strtod(v, &end);
                double lim_abs = k == 4 ? 90 : 180;
                if (*end || end == v || strspn(v, "+-0123456789.eE") != strlen(v) ||
                    !(d >= -lim_abs && d <= lim_abs))
                    v = NULL;
            }
            if (k > 0 && v) filled++;
            buf_puts(&cols[k], i ? "," : "");
            if (!v) {
                buf_puts(&cols[k], "NULL");
                continue;
            }
            buf_array_elem(&cols[k], v);
        }
    }
    db_res_free(c);
    for (int k = 0; k < 6; k++) buf_puts(&cols[k], "}");
    const char *pu[] = {cols[0].data, cols[1].data, cols[2].data,
                        cols[3].data, cols[4].data, cols[5].data};
    db_res *u = db_exec("UPDATE orders o SET customer_name = coalesce(o.customer_name, t.n),"
                        " customer_phone = coalesce(o.customer_phone, t.ph),"
                        " delivery_address = coalesce(o.delivery_address, t.a),"
                        " delivery_latitude = coalesce(o.delivery_latitude, t.lat::float8),"
                        " delivery_longitude = coalesce(o.delivery_longitude, t.lng::float8)"
                        " FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[],"
                        "  $5::text[], $6::text[]) AS t(id, n, ph, a, lat, lng)"
                        " WHERE o.id = t.id",
                        6, pu, err);
    for (int k = 0; k < 6; k++) buf_free(&cols[k]);
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
    const char *p[] = {sla, quiet};
    if (begin_locked(3, err) < 0) return -1;
    /* late: open and past the ETA (or created_at + sla_minutes); each late
     * order notifies its warehouse's managers once per deadline
     * (sla_notified_at, which a new ETA clears: migration 0019) */
    char *v = one_value(
        "WITH late AS (SELECT id, order_number, warehouse_id, sla_notified_at FROM orders"
        "  WHERE status NOT IN ('delivered', 'cancelled', 'returned') AND NOT is_archived"
        "  AND coalesce(estimated_delivery_time,"
        "   created_at + make_interval(mins => $1::int)) < now()),"
        " fresh AS (UPDATE orders o SET sla_notified_at = now() FROM late"
        "  WHERE o.id = late.id AND late.sla_notified_at IS NULL RETURNING o.id, o.order_number,"
        "  o.warehouse_id, coalesce(o.estimated_delivery_time,"
        "   o.created_at + make_interval(mins => $1::int)) AS due_at),"
        " n AS (INSERT INTO notifications (user_id, type, title, body, data, order_id)"
        "  SELECT u.id, 'sla_breach', 'Order ' || f.order_number || ' is late',"
        "   'The order is past its delivery time.', jsonb_build_object('order_id', f.id,"
        "   'due_at', api_ts(f.due_at)), f.id"
        "  FROM fresh f JOIN users u ON u.role = 'manager' AND u.is_active"
        "   AND (u.warehouse_id IS NULL OR u.warehouse_id = f.warehouse_id)"
        "  ON CONFLICT DO NOTHING RETURNING 1),"
        /* the drivers' rows locked first, then their sessions: the lock
         * order of migration 0019's trigger */
        " quiet AS (SELECT id FROM drivers WHERE is_online"
        "  AND coalesce(last_seen_at, '-infinity') < now() - make_interval(secs => $2::int)"
        "  ORDER BY id FOR NO KEY UPDATE),"
        " closed AS (UPDATE work_sessions s SET ended_at = greatest(s.started_at,"
        "   coalesce(d.last_seen_at, s.started_at)), end_reason = 'timeout'"
        "  FROM drivers d WHERE d.id = s.driver_id AND s.ended_at IS NULL"
        "  AND d.id IN (SELECT id FROM quiet) RETURNING 1),"
        " off AS (UPDATE drivers SET is_online = false WHERE id IN (SELECT id FROM quiet))"
        " SELECT json_build_object('late', (SELECT count(*) FROM late),"
        "  'notified', (SELECT count(*) FROM n),"
        "  'sessions_closed', (SELECT count(*) FROM closed))::text",
        2, p, err);
    return finish(v, out, err);
}

static int job_purge(char **out, struct db_error *err)
{
    char days[24], chunk[24];
    snprintf(days, sizeof days, "%ld", settings_int("location_retention_days", 90));
    snprintf(chunk, sizeof chunk, "%d", PURGE_CHUNK);
    const char *p[] = {days, chunk};
    char lock[80];
    /* a concurrent purge is doing the work already: report nothing deleted */
    snprintf(lock, sizeof lock, "SELECT pg_try_advisory_lock(%d)", LOCK_BASE + 4);
    char *got = one_value(lock, 0, NULL, err);
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
        db_res *res = db_exec("WITH d AS (DELETE FROM driver_locations WHERE id IN ("
                              " SELECT id FROM driver_locations WHERE recorded_at <"
                              "  now() - make_interval(days => $1::int) LIMIT $2::int)"
                              " RETURNING 1) SELECT count(*) FROM d",
                              2, p, err);
        if (!res) {
            rc = -1;
            break;
        }
        long n = atol(db_get(res, 0, 0));
        db_res_free(res);
        deleted += n;
        if (n < PURGE_CHUNK) break;
    }
    snprintf(lock, sizeof lock, "SELECT pg_advisory_unlock(%d)", LOCK_BASE + 4);
    struct db_error e2;
    if (exec_simple(lock, &e2) < 0 && rc == 0) {
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
    else if (strcmp(job, "purge-locations") == 0) rc = job_purge(out, err);
    /* archived orders leave the lists; backfilled timestamps and closed
     * sessions change the analytics */
    if (rc == 0) caches_data_changed();
    return rc;
}
