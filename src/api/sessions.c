/* Work sessions: go online / offline (idempotent) and the session list.
 * Drivers silent for longer than driver_offline_after_seconds are shown
 * offline by the map; closing their session is the SLA cron job's work
 * (sessions_close_silent, the hook below). */
#include <string.h>

#include "deliveryd/api.h"
#include "deliveryd/microcache.h"

/* the point stored by "online" moves the position only if it is newer */
#define NEWER "p.recorded_at > coalesce(dr.last_recorded_at, '-infinity')"

void api_sessions_online(struct req *r)
{
    static const struct fv_field f[] = {
        {"latitude", FV_NUMBER, FV_NULLABLE, -90, 90, 0, NULL},
        {"longitude", FV_NUMBER, FV_NULLABLE, -180, 180, 0, NULL},
    };
    struct fv_values v;
    if (fv_parse_or_reply(r, NULL, f, ARRAY_LEN(f), &v) < 0) return;
    if (!v.text[0] != !v.text[1]) {
        reply_field_error(r, v.text[0] ? "longitude" : "latitude",
                          "latitude and longitude come together");
        return;
    }
    const char *p[] = {id_text(r, r->who.driver_id), v.text[0], v.text[1]};
    /* the partial unique index allows one open session: a concurrent
     * second "online" inserts nothing and reads the open one */
    db_res *res = db_query_or_reply(
        r,
        "WITH ins AS (INSERT INTO work_sessions AS s (driver_id) VALUES ($1)"
        "  ON CONFLICT (driver_id) WHERE ended_at IS NULL DO NOTHING"
        "  RETURNING work_session_body(s) AS body),"
        " pt AS (INSERT INTO driver_locations (driver_id, latitude, longitude, recorded_at)"
        "  SELECT $1, $2::float8, $3::float8, now() WHERE $2::float8 IS NOT NULL"
        "  ON CONFLICT DO NOTHING RETURNING *),"
        " d AS (UPDATE drivers dr SET is_online = true, last_seen_at = now(),"
        "  last_latitude = CASE WHEN " NEWER " THEN p.latitude ELSE dr.last_latitude END,"
        "  last_longitude = CASE WHEN " NEWER " THEN p.longitude ELSE dr.last_longitude END,"
        "  last_recorded_at = CASE WHEN " NEWER " THEN p.recorded_at"
        "   ELSE dr.last_recorded_at END"
        "  FROM (SELECT 1) one LEFT JOIN pt p ON true WHERE dr.id = $1)"
        " SELECT body FROM ins",
        3, p);
    if (!res) return;
    microcache_clear("map:");
    if (db_ntuples(res) == 1) {
        reply_row_json(r, 201, res);
        return;
    }
    res = db_query_or_reply(r,
                            "SELECT body FROM api_work_sessions"
                            " WHERE driver_id = $1 AND ended_at IS NULL",
                            1, p);
    if (res) reply_row_json(r, 200, res);
}

void api_sessions_offline(struct req *r)
{
    const char *p[] = {id_text(r, r->who.driver_id)};
    db_res *res = db_query_or_reply(
        r,
        /* the driver's row first, then the session: the lock order of
         * migration 0019's trigger (a deactivation ends the session) */
        "WITH d AS (UPDATE drivers SET is_online = false WHERE id = $1 RETURNING id),"
        " c AS (UPDATE work_sessions s SET ended_at = now(), end_reason = 'offline'"
        "  WHERE driver_id = (SELECT id FROM d) AND ended_at IS NULL"
        "  RETURNING work_session_body(s) AS body)"
        " SELECT body FROM c",
        1, p);
    if (!res) return;
    microcache_clear("map:");
    if (db_ntuples(res) == 1) {
        reply_row_json(r, 200, res);
        return;
    }
    /* already offline: the last closed session, or nothing at all */
    res = db_query_or_reply(r,
                            "SELECT body FROM api_work_sessions"
                            " WHERE driver_id = $1 ORDER BY started_at DESC, id DESC LIMIT 1",
                            1, p);
    if (!res) return;
    if (db_ntuples(res) == 0) reply_no_content(r);
    else reply_row_json(r, 200, res);
}

void api_sessions_list(struct req *r)
{
    struct paging pg;
    const char *from, *to;
    if (paging_or_reply(r, &pg) < 0 || query_time_or_reply(r, "from", &from) < 0 ||
        query_time_or_reply(r, "to", &to) < 0)
        return;
    const char *p0[] = {id_text(r, r->ids[0]), scope_text(r)};
    db_res *d = db_query_or_reply(
        r, "SELECT 1 FROM drivers WHERE id = $1 AND ($2::bigint IS NULL OR warehouse_id = $2)", 2,
        p0);
    if (!d) return;
    if (db_ntuples(d) == 0) {
        reply_not_found(r, "driver");
        return;
    }
    struct sqlb b;
    sqlb_init(&b);
    SQLB_ADD(&b,
             "work_sessions v WHERE v.driver_id = $1"
             " AND ($2::text IS NULL OR coalesce(v.ended_at, now()) >= (SELECT query_time($2)))"
             " AND ($3::text IS NULL OR v.started_at < (SELECT query_time($3)))",
             p0[0], from, to);
    reply_paged(r, &pg, "api_work_sessions", &b, "v.started_at DESC, v.id DESC");
}
