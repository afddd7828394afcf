/* Analytics (one SQL query each, days cut in business_timezone, scoped
 * managers see their warehouse) and driver suggestions for an order.
 * Analytics answers are shared by every instance through Redis for
 * ANALYTICS_TTL seconds under the stats generation, which every write that
 * changes the figures bumps after its commit (ROUTE_STATS routes and the
 * cron jobs): an answer is at most that old and never misses a write. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deliveryd/api.h"
#include "deliveryd/orders.h"
#include "deliveryd/settings.h"
#include "deliveryd/sharedcache.h"

#define ANALYTICS_TTL 5

/* Common prologue: $1 from, $2 to (dates or NULL = today), $3 scope. */
#define RANGE_CTE                                                                          \
    "WITH s AS (SELECT business_timezone() AS tz,"                                         \
    "  coalesce((SELECT (value #>> '{}')::int FROM settings WHERE key = 'sla_minutes'), 120)" \
    "   AS sla),"                                                                          \
    " d AS (SELECT coalesce($1::date, (now() AT TIME ZONE s.tz)::date) AS f,"              \
    "  coalesce($2::date, (now() AT TIME ZONE s.tz)::date) AS t, s.tz, s.sla FROM s),"     \
    " rng AS (SELECT d.f, d.t, d.sla, d.f::timestamp AT TIME ZONE d.tz AS a,"             \
    "  (d.t + 1)::timestamp AT TIME ZONE d.tz AS b FROM d)"

/* The visible orders created in [rng.a, rng.b): one range scan of the
 * (warehouse_id, created_at) index per warehouse ($3 = a scoped manager's).
 * No index on created_at alone covers archived orders, and a day is a few
 * thousand rows of a million; but rng's bounds are unknown when planning,
 * so a plain join is planned as a scan of every order. OFFSET 0 keeps the
 * subquery per warehouse (not flattened back into that join). */
#define RANGE_ORDERS                                                                  \
    " FROM rng CROSS JOIN warehouses w CROSS JOIN LATERAL (SELECT * FROM orders o"   \
    "  WHERE o.warehouse_id = w.id AND o.created_at >= rng.a AND o.created_at < rng.b" \
    "  OFFSET 0) o WHERE ($3::bigint IS NULL OR w.id = $3)"

static int dates_or_reply(struct req *r, const char **from, const char **to)
{
    static const char *const names[] = {"from", "to"};
    const char **outs[] = {from, to};
    for (int i = 0; i < 2; i++) {
        const char *v = req_query(r, names[i]);
        *outs[i] = NULL;
        if (!v) continue;
        if (strlen(v) != 10 || !looks_like_time(v))
            return reply_field_error(r, names[i], "must be a date YYYY-MM-DD");
        *outs[i] = v;
    }
    return 0;
}

/* One analytics answer: `sql` takes $1 from, $2 to, $3 scope. */
static void reply_analytics(struct req *r, const char *name, const char *sql)
{
    const char *from = NULL, *to = NULL;
    if (dates_or_reply(r, &from, &to) < 0) return;
    const char *scope = scope_text(r);
    char key[96], gen[SHAREDCACHE_GEN_MAX];
    snprintf(key, sizeof key, "an:%s:%s:%s:%s", name, from ? from : "", to ? to : "",
             scope ? scope : "all");
    size_t len;
    char *hit = sharedcache_get(STATS_GENERATION_KEY, key, gen, &len);
    if (hit) {
        reply_json_text(r, 200, hit, len);
        free(hit);
        return;
    }
    const char *p[] = {from, to, scope};
    db_res *res = db_query_or_reply(r, sql, 3, p);
    if (!res) return;
    sharedcache_put(key, gen, db_get(res, 0, 0), db_getlen(res, 0, 0), ANALYTICS_TTL);
    reply_row_json(r, 200, res);
}

void api_analytics_summary(struct req *r)
{
    reply_analytics(
        r, "summary",
        RANGE_CTE ","
        " o AS (SELECT o.status, o.assigned_at, o.picked_up_at, o.failure_reason_code,"
        "  extract(epoch FROM o.delivered_at - o.picked_up_at) AS secs,"
        "  o.delivered_at <= coalesce(o.estimated_delivery_time,"
        "   o.created_at + make_interval(mins => rng.sla)) AS on_time"
        RANGE_ORDERS ")"
        " SELECT json_build_object('from', (SELECT f FROM rng), 'to', (SELECT t FROM rng),"
        " 'orders_total', count(*),"
        " 'by_status', (SELECT coalesce(json_object_agg(status, n), '{}'::json)"
        "  FROM (SELECT status, count(*) AS n FROM o GROUP BY status) x),"
        " 'delivered', count(*) FILTER (WHERE status = 'delivered'),"
        " 'failed', count(*) FILTER (WHERE status = 'failed'),"
        " 'cancelled', count(*) FILTER (WHERE status = 'cancelled'),"
        " 'on_time_rate', round((count(*) FILTER (WHERE status = 'delivered' AND on_time))::numeric"
        "  / nullif(count(*) FILTER (WHERE status = 'delivered'), 0), 4),"
        " 'avg_delivery_seconds', round(avg(secs) FILTER (WHERE status = 'delivered')),"
        " 'p50_delivery_seconds', round(percentile_cont(0.5) WITHIN GROUP (ORDER BY secs)"
        "  FILTER (WHERE status = 'delivered' AND secs IS NOT NULL)),"
        " 'p90_delivery_seconds', round(percentile_cont(0.9) WITHIN GROUP (ORDER BY secs)"
        "  FILTER (WHERE status = 'delivered' AND secs IS NOT NULL)),"
        " 'avg_assign_to_pickup_seconds', round(avg(extract(epoch FROM picked_up_at - assigned_at))"
        "  FILTER (WHERE picked_up_at IS NOT NULL AND assigned_at IS NOT NULL)),"
        " 'failure_reasons', (SELECT coalesce(json_agg(json_build_object('code', c, 'count', n)"
        "  ORDER BY n DESC, c), '[]'::json) FROM (SELECT coalesce(failure_reason_code, 'unspecified')"
        "  AS c, count(*) AS n FROM o WHERE status = 'failed' GROUP BY 1) x)) FROM o");
}

void api_analytics_drivers(struct req *r)
{
    reply_analytics(
        r, "drivers",
        RANGE_CTE ","
        " o AS (SELECT o.driver_id, o.status, extract(epoch FROM o.delivered_at - o.picked_up_at)"
        "  AS secs, o.delivered_at <= coalesce(o.estimated_delivery_time,"
        "   o.created_at + make_interval(mins => rng.sla)) AS on_time"
        RANGE_ORDERS " AND o.driver_id IS NOT NULL),"
        " a AS (SELECT driver_id, count(*) FILTER (WHERE status = 'delivered') AS delivered,"
        "  count(*) FILTER (WHERE status = 'failed') AS failed,"
        "  round(avg(secs) FILTER (WHERE status = 'delivered')) AS avg_secs,"
        "  round((count(*) FILTER (WHERE status = 'delivered' AND on_time))::numeric"
        "   / nullif(count(*) FILTER (WHERE status = 'delivered'), 0), 4) AS on_time_rate"
        "  FROM o GROUP BY driver_id),"
        " w AS (SELECT s.driver_id, sum(extract(epoch FROM least(coalesce(s.ended_at, now()), rng.b)"
        "  - greatest(s.started_at, rng.a))) AS secs FROM work_sessions s, rng"
        "  WHERE s.started_at < rng.b AND coalesce(s.ended_at, now()) > rng.a GROUP BY s.driver_id),"
        " c AS (SELECT driver_id, sum(amount) AS unpaid FROM payment_collections"
        "  WHERE status = 'unpaid' AND method = 'cash' GROUP BY driver_id)"
        " SELECT coalesce(json_agg(json_build_object('driver_id', d.id, 'code', d.code,"
        "  'full_name', u.full_name,"
        "  'delivered', coalesce(a.delivered, 0), 'failed', coalesce(a.failed, 0),"
        "  'avg_delivery_seconds', a.avg_secs, 'on_time_rate', a.on_time_rate,"
        "  'online_seconds', coalesce(round(w.secs), 0),"
        "  'cash_unpaid', coalesce(c.unpaid, 0)::numeric(12,3)::text) ORDER BY d.code), '[]'::json)"
        " FROM drivers d JOIN users u ON u.id = d.user_id LEFT JOIN a ON a.driver_id = d.id"
        " LEFT JOIN w ON w.driver_id = d.id LEFT JOIN c ON c.driver_id = d.id"
        " WHERE d.is_active AND ($3::bigint IS NULL OR d.warehouse_id = $3)");
}

void api_analytics_suggestions(struct req *r)
{
    reply_analytics(
        r, "suggestions",
        RANGE_CTE
        " SELECT json_build_object('decisions', count(*),"
        " 'accepted_top', count(*) FILTER (WHERE sd.chosen_rank = 1),"
        " 'accepted_any', count(*) FILTER (WHERE sd.chosen_rank IS NOT NULL),"
        " 'acceptance_rate', round((count(*) FILTER (WHERE sd.chosen_rank IS NOT NULL))::numeric"
        "  / nullif(count(*), 0), 4))"
        " FROM suggestion_decisions sd JOIN orders o ON o.id = sd.order_id, rng"
        " WHERE sd.created_at >= rng.a AND sd.created_at < rng.b"
        " AND ($3::bigint IS NULL OR o.warehouse_id = $3)");
}

/* Every active driver is a candidate; online drivers with a fresh position
 * rank first, then by a weighted score of distance and load. The list shown
 * is remembered so the assignment that follows records a decision. */
void api_orders_suggestions(struct req *r)
{
    const char *limit = req_query(r, "limit");
    int64_t n = 3;
    if (limit && (!parse_i64(limit, strlen(limit), false, &n) || n < 1 || n > 10)) {
        reply_field_error(r, "limit", "must be between 1 and 10");
        return;
    }
    json_t *w = req_own_json(r, settings_get("suggestion_weights"));
    char wd[32], wl[32], wo[32];
    snprintf(wd, sizeof wd, "%g", json_number_value(json_object_get(w, "distance")));
    snprintf(wl, sizeof wl, "%g", json_number_value(json_object_get(w, "load")));
    snprintf(wo, sizeof wo, "%g", json_number_value(json_object_get(w, "online")));
    const char *p[] = {id_text(r, r->ids[0]), scope_text(r), wd, wl, wo,
                       setting_text(r, "location_stale_seconds", 300),
                       setting_text(r, "driver_offline_after_seconds", 600), id_text(r, n),
                       order_action_from(ACT_ASSIGN)};
    db_res *res = db_query_or_reply(
        r,
        "WITH o AS (SELECT o.id, o.status, coalesce(o.delivery_latitude, w.latitude) AS lat,"
        "  coalesce(o.delivery_longitude, w.longitude) AS lng FROM orders o"
        "  JOIN warehouses w ON w.id = o.warehouse_id"
        "  WHERE o.id = $1 AND ($2::bigint IS NULL OR o.warehouse_id = $2)),"
        " c AS (SELECT d.id, u.full_name,"
        "  d.is_online AND coalesce(d.last_seen_at > now() - make_interval(secs => $7::int), false)"
        "   AND coalesce(d.last_recorded_at > now() - make_interval(secs => $6::int), false) AS live,"
        "  CASE WHEN d.last_latitude IS NOT NULL AND o.lat IS NOT NULL THEN"
        "   6371 * 2 * asin(sqrt(power(sin(radians(o.lat - d.last_latitude) / 2), 2)"
        "   + cos(radians(d.last_latitude)) * cos(radians(o.lat))"
        "   * power(sin(radians(o.lng - d.last_longitude) / 2), 2))) END AS km,"
        "  (SELECT count(*) FROM orders a WHERE a.driver_id = d.id"
        "   AND a.status IN ('assigned', 'picked_up')) AS active"
        "  FROM drivers d JOIN users u ON u.id = d.user_id, o WHERE d.is_active"
        "  AND o.status = ANY($9::text[])" /* what assign takes */
        "  AND ($2::bigint IS NULL OR d.warehouse_id = $2)),"
        " sc AS (SELECT c.*, round((coalesce($3::float8 / (1 + c.km), 0)"
        "  + $4::float8 / (1 + c.active) + CASE WHEN c.live THEN $5::float8 ELSE 0 END)::numeric, 4)"
        "  AS score FROM c),"
        " top AS (SELECT * FROM sc ORDER BY live DESC, score DESC, id LIMIT $8::int),"
        " mem AS (INSERT INTO order_suggestions (order_id, driver_ids)"
        "  SELECT (SELECT id FROM o), array_agg(id ORDER BY live DESC, score DESC, id) FROM top"
        "  HAVING count(*) > 0"
        "  ON CONFLICT (order_id) DO UPDATE SET driver_ids = excluded.driver_ids, shown_at = now())"
        " SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM o) THEN NULL ELSE"
        " (SELECT coalesce(json_agg(json_build_object('driver_id', id, 'full_name', full_name,"
        "  'score', score, 'distance_km', round(km::numeric, 2), 'active_orders', active,"
        "  'reasons', json_build_array("
        "   CASE WHEN km IS NULL THEN 'distance unknown (no position)'"
        "    ELSE round(km::numeric, 1) || ' km away' END,"
        "   active || ' active order' || CASE WHEN active = 1 THEN '' ELSE 's' END,"
        "   CASE WHEN live THEN 'online with a fresh position' ELSE 'offline or position stale'"
        "   END)) ORDER BY live DESC, score DESC, id), '[]'::json) FROM top) END,"
        " (SELECT status FROM o), (SELECT status = ANY($9::text[]) FROM o)",
        9, p);
    if (!res) return;
    /* an order that cannot be assigned any more gets no suggestions (nor a
     * remembered list that no decision can ever follow) */
    if (db_ntuples(res) == 1 && !db_isnull(res, 0, 2) && db_get(res, 0, 2)[0] != 't') {
        reply_problem(r, 409, "invalid_transition",
                      "a %s order cannot be assigned, so it gets no suggestions", db_get(res, 0, 1));
        return;
    }
    reply_row_json(r, 200, res);
}
