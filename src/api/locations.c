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

enum { PT_LAT, PT_LNG, PT_ACC, PT_SPD, PT_HDG, PT_REC, PT__N }; /* a point's fields */
static const struct fv_field point_fields[] = {
    [PT_LAT] = {"latitude", FV_NUMBER, FV_REQUIRED, -90, 90, 0, NULL},
    [PT_LNG] = {"longitude", FV_NUMBER, FV_REQUIRED, -180, 180, 0, NULL},
    [PT_ACC] = {"accuracy", FV_NUMBER, FV_NULLABLE, 0, 1e6, 0, NULL},
    [PT_SPD] = {"speed", FV_NUMBER, FV_NULLABLE, 0, 1e4, 0, NULL},
    [PT_HDG] = {"heading", FV_NUMBER, FV_NULLABLE, 0, 360, 0, NULL},
    [PT_REC] = {"recorded_at", FV_TIME, FV_NULLABLE, 0, 0, 0, NULL},
};

/* Postgres array literals, one per column of location_store, built from
 * the valid points: the point's index in the request, then its fields. */
enum { COL_IDX, COL_FIELD0, COL__N = COL_FIELD0 + PT__N };
struct point_arrays {
    buf_t col[COL__N];
    int n;
};

static void arrays_add(struct point_arrays *a, int idx, const struct fv_values *v)
{
    char tmp[24];
    snprintf(tmp, sizeof tmp, "%d", idx);
    for (int c = 0; c < COL__N; c++) {
        const char *val = c == COL_IDX ? tmp : v->text[c - COL_FIELD0];
        buf_puts(&a->col[c], a->n ? "," : "{");
        if (!val) buf_puts(&a->col[c], "NULL");
        else if (c == COL_FIELD0 + PT_REC) buf_printf(&a->col[c], "\"%s\"", val); /* validated charset */
        else buf_puts(&a->col[c], val);
    }
    a->n++;
}

enum { STORE_INSERTED, STORE_VALID, STORE_REJECTED }; /* location_store's columns */

/* Stores the points (validated by the caller) of driver `driver`; fills
 * accepted/duplicates and appends time-based rejections. NULL after a reply. */
static db_res *store_points(struct req *r, const char *driver, struct point_arrays *a)
{
    for (int c = 0; c < COL__N; c++) buf_puts(&a->col[c], "}");
    db_res *res = db_q_or_reply(
        r, Q(location_store)(driver, a->col[COL_IDX].data, a->col[COL_FIELD0 + PT_LAT].data,
                             a->col[COL_FIELD0 + PT_LNG].data, a->col[COL_FIELD0 + PT_ACC].data,
                             a->col[COL_FIELD0 + PT_SPD].data, a->col[COL_FIELD0 + PT_HDG].data,
                             a->col[COL_FIELD0 + PT_REC].data,
                             setting_text(r, "location_retention_days", 90)));
    for (int c = 0; c < COL__N; c++) buf_free(&a->col[c]);
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
    for (int c = 0; c < COL__N; c++) buf_init(&a.col[c]);
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
        accepted = atol(db_get(res, 0, STORE_INSERTED));
        duplicates = atol(db_get(res, 0, STORE_VALID)) - accepted;
        json_t *late = json_loads(db_get(res, 0, STORE_REJECTED), 0, NULL);
        json_array_extend(rejected, late);
        json_decref(late);
    } else {
        for (int c = 0; c < COL__N; c++) buf_free(&a.col[c]);
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
    db_res *res = db_q_or_reply(
        r, Q(location_map)(scope, setting_text(r, "location_stale_seconds", 300),
                           setting_text(r, "driver_offline_after_seconds", 600)));
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
    /* the newest `limit` points, answered oldest first */
    db_res *res = db_q_or_reply(
        r, Q(location_trail)(id_text(r, r->ids[0]), scope_text(r), from, to, id_text(r, n)));
    if (res) reply_row_json(r, 200, res);
}
