/* Drivers in the field: GPS ingest (one point or the app's offline queue,
 * one statement), the live map (one query, micro-cached for a second) and
 * a driver's trail. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deliveryd/api.h"
#include "deliveryd/microcache.h"
#include "deliveryd/settings.h"

#define POINTS_MAX 500
#define MAP_TTL 1.0

static const struct fv_field point_fields[] = {
    {"latitude", FV_NUMBER, FV_REQUIRED, -90, 90, 0, NULL},
    {"longitude", FV_NUMBER, FV_REQUIRED, -180, 180, 0, NULL},
    {"accuracy", FV_NUMBER, FV_NULLABLE, 0, 1e6, 0, NULL},
    {"speed", FV_NUMBER, FV_NULLABLE, 0, 1e4, 0, NULL},
    {"heading", FV_NUMBER, FV_NULLABLE, 0, 360, 0, NULL},
    {"recorded_at", FV_TIME, FV_NULLABLE, 0, 0, 0, NULL},
};

/* Postgres array literals, one per column, built from the valid points. */
struct point_arrays {
    buf_t col[7]; /* idx, lat, lng, acc, spd, hdg, rec */
    int n;
};

static void arrays_add(struct point_arrays *a, int idx, const struct fv_values *v)
{
    char tmp[24];
    snprintf(tmp, sizeof tmp, "%d", idx);
    const char *vals[7] = {tmp, v->text[0], v->text[1], v->text[2], v->text[3], v->text[4],
                           v->text[5]};
    for (int c = 0; c < 7; c++) {
        buf_puts(&a->col[c], a->n ? "," : "{");
        if (!vals[c]) buf_puts(&a->col[c], "NULL");
        else if (c == 6) buf_printf(&a->col[c], "\"%s\"", vals[c]); /* validated charset */
        else buf_puts(&a->col[c], vals[c]);
    }
    a->n++;
}

/* Stores the points (validated by the caller) of driver `driver`; fills
 * accepted/duplicates and appends time-based rejections. NULL after a reply. */
static db_res *store_points(struct req *r, const char *driver, struct point_arrays *a)
{
    for (int c = 0; c < 7; c++) buf_puts(&a->col[c], "}");
    const char *p[] = {driver,         a->col[0].data, a->col[1].data, a->col[2].data,
                       a->col[3].data, a->col[4].data, a->col[5].data, a->col[6].data,
                       setting_text(r, "location_retention_days", 90)};
    /* one statement: check times, drop repeats, insert, move the driver's
     * newest point forward only if a newer one arrived */
    db_res *res = db_query_prepared_or_reply(
        r,
        "WITH pts AS (SELECT t.idx, t.lat, t.lng, t.acc, t.spd, t.hdg,"
        "   coalesce(t.rec::timestamptz, now()) AS rec"
        "  FROM unnest($2::int[], $3::float8[], $4::float8[], $5::real[], $6::real[],"
        "   $7::real[], $8::text[]) AS t(idx, lat, lng, acc, spd, hdg, rec)),"
        " chk AS (SELECT *, CASE"
        "   WHEN rec > now() + interval '5 minutes' THEN 'recorded_at is more than 5 minutes in the future'"
        "   WHEN rec < now() - make_interval(days => $9::int) THEN 'recorded_at is older than the retention period'"
        "  END AS err FROM pts),"
        " ok AS (SELECT DISTINCT ON (rec) * FROM chk WHERE err IS NULL ORDER BY rec, idx),"
        " ins AS (INSERT INTO driver_locations (driver_id, latitude, longitude, accuracy, speed,"
        "   heading, recorded_at) SELECT $1::bigint, lat, lng, acc, spd, hdg, rec FROM ok"
        "  ON CONFLICT (driver_id, recorded_at) DO NOTHING"
        "  RETURNING recorded_at, latitude, longitude),"
        " newest AS (SELECT * FROM ins ORDER BY recorded_at DESC LIMIT 1),"
        " upd AS (UPDATE drivers d SET last_seen_at = now(),"
        "   last_latitude = CASE WHEN n.recorded_at > coalesce(d.last_recorded_at, '-infinity')"
        "    THEN n.latitude ELSE d.last_latitude END,"
        "   last_longitude = CASE WHEN n.recorded_at > coalesce(d.last_recorded_at, '-infinity')"
        "    THEN n.longitude ELSE d.last_longitude END,"
        "   last_recorded_at = CASE WHEN n.recorded_at > coalesce(d.last_recorded_at, '-infinity')"
        "    THEN n.recorded_at ELSE d.last_recorded_at END"
        "  FROM (SELECT 1) one LEFT JOIN newest n ON true WHERE d.id = $1::bigint RETURNING 1)"
        " SELECT (SELECT count(*) FROM ins), (SELECT count(*) FROM chk WHERE err IS NULL),"
        "  (SELECT coalesce(json_agg(json_build_object('index', idx, 'message', err) ORDER BY idx),"
        "   '[]'::json) FROM chk WHERE err IS NOT NULL), (SELECT count(*) FROM upd)",
        9, p);
    for (int c = 0; c < 7; c++) buf_free(&a->col[c]);
    if (res) microcache_clear("map:");
    return res;
}

void api_locations_post(struct req *r)
{
    json_t *points = json_object_get(r->json, "points");
    json_t *single = NULL;
    if (!points) {
        single = json_array();
        json_array_append(single, r->json);
        points = req_own_json(r, single);
    } else if (!json_is_array(points) || json_array_size(points) == 0 ||
               json_array_size(points) > POINTS_MAX) {
        reply_field_error(r, "points", "must be an array of 1 to 500 points");
        return;
    }
    struct point_arrays a;
    memset(&a, 0, sizeof a);
    for (int c = 0; c < 7; c++) buf_init(&a.col[c]);
    json_t *rejected = json_array();
    size_t i;
    json_t *pt;
    json_array_foreach(points, i, pt)
    {
        struct fv_values v;
        json_t *errs = json_array();
        if (!json_is_object(pt)) {
            json_array_append_new(rejected, json_pack("{s:I,s:s}", "index", (json_int_t)i,
                                                      "message", "a point must be an object"));
        } else if (fv_parse(pt, point_fields, ARRAY_LEN(point_fields), &v, errs) > 0) {
            json_t *e = json_array_get(errs, 0);
            char msg[160];
            snprintf(msg, sizeof msg, "%s %s", json_string_value(json_object_get(e, "field")),
                     json_string_value(json_object_get(e, "message")));
            json_array_append_new(rejected,
                                  json_pack("{s:I,s:s}", "index", (json_int_t)i, "message", msg));
            fv_values_free(&v);
        } else {
            arrays_add(&a, (int)i, &v);
            fv_values_free(&v);
        }
        json_decref(errs);
    }
    long accepted = 0, duplicates = 0;
    if (a.n > 0) {
        db_res *res = store_points(r, id_text(r, r->who.driver_id), &a);
        if (!res) {
            json_decref(rejected);
            return;
        }
        accepted = atol(db_get(res, 0, 0));
        duplicates = atol(db_get(res, 0, 1)) - accepted;
        json_t *late = json_loads(db_get(res, 0, 2), 0, NULL);
        json_array_extend(rejected, late);
        json_decref(late);
    } else {
        for (int c = 0; c < 7; c++) buf_free(&a.col[c]);
    }
    reply_json(r, 202, json_pack("{s:i,s:i,s:o}", "accepted", (int)accepted, "duplicates",
                                 (int)duplicates, "rejected", rejected));
}

void api_locations_map(struct req *r)
{
    const char *scope = scope_text(r);
    char key[48];
    snprintf(key, sizeof key, "map:%s", scope ? scope : "all");
    size_t len;
    char *cached = microcache_get(key, &len);
    if (cached) {
        reply_json_text(r, 200, cached, len);
        free(cached);
        return;
    }
    const char *p[] = {scope, setting_text(r, "location_stale_seconds", 300),
                       setting_text(r, "driver_offline_after_seconds", 600)};
    db_res *res = db_query_prepared_or_reply(
        r,
        "SELECT coalesce(json_agg(json_build_object('driver_id', d.id, 'code', d.code,"
        "  'full_name', u.full_name, 'latitude', d.last_latitude, 'longitude', d.last_longitude,"
        "  'recorded_at', api_ts(d.last_recorded_at),"
        "  'is_online', d.is_online AND coalesce(d.last_seen_at > now()"
        "   - make_interval(secs => $3::int), false),"
        "  'stale', d.last_recorded_at IS NULL OR d.last_recorded_at < now()"
        "   - make_interval(secs => $2::int),"
        "  'active_orders', coalesce(a.n, 0)) ORDER BY d.code), '[]'::json)"
        " FROM drivers d JOIN users u ON u.id = d.user_id"
        " LEFT JOIN (SELECT driver_id, count(*) AS n FROM orders"
        "  WHERE status IN ('assigned', 'picked_up') AND driver_id IS NOT NULL"
        "  GROUP BY driver_id) a ON a.driver_id = d.id"
        " WHERE d.is_active AND ($1::bigint IS NULL OR d.warehouse_id = $1)",
        3, p);
    if (!res) return;
    microcache_put(key, db_get(res, 0, 0), db_getlen(res, 0, 0), MAP_TTL);
    reply_row_json(r, 200, res);
}

void api_locations_trail(struct req *r)
{
    const char *from, *to;
    if (query_time_or_reply(r, "from", &from) < 0 || query_time_or_reply(r, "to", &to) < 0)
        return;
    const char *limit = req_query(r, "limit");
    int64_t n = 1000;
    if (limit && (!parse_i64(limit, strlen(limit), false, &n) || n < 1 || n > 50000)) {
        reply_field_error(r, "limit", "must be between 1 and 50000");
        return;
    }
    const char *p[] = {id_text(r, r->ids[0]), scope_text(r), from, to, id_text(r, n)};
    /* the newest `limit` points, answered oldest first */
    db_res *res = db_query_or_reply(
        r,
        "SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM drivers WHERE id = $1"
        "  AND ($2::bigint IS NULL OR warehouse_id = $2)) THEN NULL ELSE"
        " (SELECT coalesce(json_agg(json_build_object('latitude', latitude, 'longitude', longitude,"
        "  'accuracy', accuracy, 'speed', speed, 'heading', heading,"
        "  'recorded_at', api_ts(recorded_at), 'received_at', api_ts(received_at))"
        "  ORDER BY recorded_at), '[]'::json)"
        "  FROM (SELECT * FROM driver_locations WHERE driver_id = $1"
        "   AND ($3::text IS NULL OR recorded_at >= (SELECT query_time($3)))"
        "   AND ($4::text IS NULL OR recorded_at < (SELECT query_time($4)))"
        "   ORDER BY recorded_at DESC LIMIT $5::int) t) END",
        5, p);
    if (res) reply_row_json(r, 200, res);
}
