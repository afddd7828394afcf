/* The order state machine. Each action is ONE statement over a set of ids:
 * lock the visible rows in id order, update those whose status allows the
 * action (and whose version matches, when sent), stamp the *_at column,
 * bump the version and write the history row with who did it - all in the
 * same statement, so the database, not a C `if`, serializes concurrent
 * requests. A single action is a batch of one. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "deliveryd/config.h"
#include "deliveryd/db.h"
#include "deliveryd/orders.h"
#include "deliveryd/settings.h"

/* What C keeps of an action: its name in the rules of sql/schema/
 * order_rules.sql, where its from-statuses and to-status live (the
 * statement asks order_action_from/order_action_to: IMMUTABLE, folded to
 * constants when it is planned), and what it does beyond the status. */
struct action_def {
    const char *name;  /* order_rules().action */
    const char *stamp; /* the *_at column set to now(), or NULL */
    const char *sets;  /* extra SET items (o = the order, p = the parameters), or "" */
    const char *extra; /* extra WHERE conditions */
    const char *ctes;  /* extra common table expressions (", name AS (...)"), or "" */
    const char *events; /* extra rows of the events CTE (" UNION ALL SELECT order_id, k,
                         * type, warehouse_id, data ..."), or "" */
    const char *warnings; /* the OA_WARNINGS column of a changed order, or NULL (none) */
};

/* A customer message (API.md "Customer messages") of the orders changed:
 * the customer.<kind> event, when p.messages (the setting
 * customer_messages) is on; its text is customer_message() of
 * sql/schema/events.sql, made from the order as it is after the change. */
#define CUSTOMER_MESSAGE(kind)                                                                     \
    " UNION ALL SELECT upd.id, 2, 'customer." kind "', upd.warehouse_id,"                          \
    "  customer_message('" kind "', p.lang, upd.o_row,"                                            \
    "   (SELECT first_name(u.full_name) FROM drivers d JOIN users u ON u.id = d.user_id"           \
    "     WHERE d.id = upd.driver_id), p.base_url)"                                                \
    " FROM upd, p WHERE p.messages AND (upd.o_row).customer_phone IS NOT NULL"

/* Assignment warnings (API.md v1.1 "Dispatch aids"), never blocking: for
 * each order assigned, in words with figures. The driver's state is read
 * once (drv: one driver per statement); their active orders count the
 * orders of this statement in id order, so in a batch the warning starts
 * at the order that goes over assign_warn_active_orders. A far delivery
 * needs the order's own coordinates (given or learned) and a position. */
#define ASSIGN_WARNINGS                                                                            \
    ", drv AS (SELECT d.is_online AND coalesce(d.last_seen_at > now()"                             \
    "   - make_interval(secs => p.offline_secs), false) AS online,"                                \
    "  extract(epoch FROM now() - d.last_seen_at)::float8 AS seen_age,"                            \
    "  d.last_latitude AS lat, d.last_longitude AS lng,"                                           \
    "  extract(epoch FROM now() - d.last_recorded_at)::float8 AS age,"                             \
    "  (SELECT count(*) FROM orders a WHERE a.driver_id = d.id"                                    \
    "   AND order_status_is_active(a.status)) AS active,"                                          \
    "  (SELECT coalesce(sum(pc.amount), 0) FROM payment_collections pc WHERE pc.driver_id = d.id" \
    "   AND pc.status = 'unpaid' AND pc.method = 'cash') AS cash"                                  \
    "  FROM drivers d, p WHERE d.id = p.new_driver AND EXISTS (SELECT 1 FROM upd)),"               \
    " warn AS (SELECT u.id, json_agg(json_build_object('code', w.code, 'message', w.msg)"          \
    "   ORDER BY w.i) AS list"                                                                     \
    "  FROM (SELECT upd.id, distance_km(drv.lat, drv.lng, upd.lat, upd.lng) AS km,"                \
    "    drv.active + row_number() OVER (ORDER BY upd.id) AS active FROM upd, drv) u, drv, p,"     \
    "  LATERAL (VALUES"                                                                            \
    "   (1, 'driver_offline', CASE WHEN NOT drv.online THEN 'the driver is offline'"               \
    "    || CASE WHEN drv.seen_age IS NULL THEN ' (never seen)'"                                   \
    "       ELSE ' (last seen ' || age_words(drv.seen_age) || ' ago)' END END),"                   \
    "   (2, 'position_stale', CASE WHEN drv.age IS NULL THEN 'the driver has reported no position'" \
    "    WHEN drv.age > p.stale_secs THEN 'the driver''s position is ' || age_words(drv.age)"      \
    "     || ' old (limit ' || age_words(p.stale_secs) || ')' END),"                               \
    "   (3, 'far_from_delivery', CASE WHEN u.km > p.warn_km THEN 'the driver is '"                 \
    "    || round(u.km::numeric, 1) || ' km from the delivery point (limit '"                      \
    "    || trim_scale(p.warn_km) || ')' END),"                                                    \
    "   (4, 'driver_overloaded', CASE WHEN u.active > p.warn_active THEN 'the driver will have '"  \
    "    || u.active || ' active orders (limit ' || p.warn_active || ')' END),"                    \
    "   (5, 'cash_over_limit', CASE WHEN drv.cash > p.cash_limit THEN 'the driver holds '"         \
    "    || drv.cash::numeric(12,3) || ' KWD cash (limit ' || p.cash_limit::numeric(12,3) || ')'"  \
    "    END)) AS w(i, code, msg)"                                                                 \
    "  WHERE w.msg IS NOT NULL GROUP BY u.id)"

static const struct action_def defs[ACT_COUNT] = {
    [ACT_ASSIGN] = {"assign", "assigned_at", ", driver_id = p.new_driver, picked_up_at = NULL",
                    " AND NOT (cur.status = order_action_to('assign') AND cur.driver_id = p.new_driver)"
                    " AND EXISTS (SELECT 1 FROM drivers d WHERE d.id = p.new_driver AND d.is_active)",
                    /* an assignment after suggestions were shown is a decision */
                    ", sug AS (DELETE FROM order_suggestions s USING upd"
                    "  WHERE s.order_id = upd.id RETURNING s.order_id, s.driver_ids),"
                    " dec AS (INSERT INTO suggestion_decisions (order_id,"
                    "  suggested_driver_ids, chosen_driver_id, chosen_rank, decided_by)"
                    "  SELECT upd.id, sug.driver_ids, upd.driver_id,"
                    "   array_position(sug.driver_ids, upd.driver_id), p.actor"
                    "  FROM upd JOIN sug ON sug.order_id = upd.id, p)"
                    ASSIGN_WARNINGS,
                    "",
                    "coalesce(warn.list, '[]'::json)"},
    [ACT_UNASSIGN] = {"unassign", NULL, ", driver_id = NULL, assigned_at = NULL", "", "", ""},
    [ACT_PICKUP] = {"pickup", "picked_up_at", "", "", "", CUSTOMER_MESSAGE("out_for_delivery")},
    [ACT_DELIVER] = {"deliver", "delivered_at",
                     ", recipient_name = coalesce(p.recipient, o.recipient_name),"
                     " delivery_notes = coalesce(p.notes, o.delivery_notes)",
                     " AND (NOT p.need_proof OR cur.has_proof)",
                     /* cash on delivery is recorded by the same statement */
                     ", pay AS (INSERT INTO payment_collections AS pc (order_id, driver_id,"
                     "  method, amount, expected_amount, discrepancy, collected_by)"
                     "  SELECT upd.id, upd.driver_id, p.pay_method, p.pay_amount, upd.amount,"
                     "   upd.amount IS DISTINCT FROM p.pay_amount, p.actor"
                     "  FROM upd, p WHERE p.pay_method IS NOT NULL"
                     "  RETURNING pc.order_id, payment_body(pc) AS body)"
                     /* where it was delivered, for learned coordinates
                      * (sql/schema/where_delivered.sql): the driver's newest
                      * point, when fresh, for the phone and the address */
                     ", place AS (INSERT INTO customer_places (phone, address_key, latitude,"
                     "  longitude, order_id, driver_id, delivered_at)"
                     "  SELECT (upd.o_row).customer_phone, k.key, d.last_latitude, d.last_longitude,"
                     "   upd.id, d.id, (upd.o_row).delivered_at"
                     "  FROM upd JOIN drivers d ON d.id = upd.driver_id, p,"
                     "   address_key((upd.o_row).area, (upd.o_row).block, (upd.o_row).street,"
                     "    (upd.o_row).avenue, (upd.o_row).building) AS k(key)"
                     "  WHERE (upd.o_row).customer_phone IS NOT NULL AND k.key IS NOT NULL"
                     "   AND d.last_recorded_at > now() - make_interval(secs => p.stale_secs)"
                     "  ON CONFLICT (order_id) DO NOTHING)",
                     /* and announced, after the order's event */
                     " UNION ALL SELECT upd.id, 1, 'payment.recorded', upd.warehouse_id,"
                     "  json_build_object('payment', pay.body)"
                     " FROM pay JOIN upd ON upd.id = pay.order_id"
                     CUSTOMER_MESSAGE("delivered")},
    [ACT_FAIL] = {"fail", "failed_at",
                  ", failure_reason = p.reason, failure_reason_code = p.reason_code", "",
                  /* the managers who can see the order hear about it */
                  ", note AS (INSERT INTO notifications (user_id, type, title, body,"
                  "  data, order_id)"
                  "  SELECT u.id, 'order_failed', 'Delivery failed: ' || upd.order_number,"
                  "   p.reason, jsonb_build_object('order_id', upd.id, 'reason_code',"
                  "   p.reason_code), upd.id"
                  "  FROM upd, p, users u WHERE u.role = 'manager' AND u.is_active"
                  "  AND (u.warehouse_id IS NULL OR u.warehouse_id = upd.warehouse_id))",
                  CUSTOMER_MESSAGE("delivery_failed")},
    [ACT_CANCEL] = {"cancel", "cancelled_at", ", cancel_reason = p.reason", "", "", ""},
    [ACT_REQUEUE] = {"requeue", NULL, ", driver_id = NULL, assigned_at = NULL, picked_up_at = NULL",
                     "", "", ""},
    [ACT_RETURN] = {"return", "returned_at", "", "", "", ""},
};

/* [action][with the order body]: a batch answers with outcomes only (its
 * events still carry each changed order's body). */
static char *sql_text[ACT_COUNT][2];
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void build_sql(void)
{
    for (int i = 0; i < 2 * ACT_COUNT; i++) {
        int a = i / 2;
        bool with_body = i % 2;
        const struct action_def *d = &defs[a];
        buf_t b;
        buf_init(&b);
        buf_printf(
            &b,
            "WITH p AS (SELECT $1::bigint[] AS ids, $2::int AS ver, $3::bigint AS actor,"
            "  $4::bigint AS scope, $5::bigint AS own, $6::bigint AS new_driver,"
            "  $7::text AS reason, $8::text AS reason_code, $9::bool AS need_proof,"
            "  $10::text AS recipient, $11::text AS notes, $12::text AS pay_method,"
            "  $13::numeric AS pay_amount, $14::bool AS messages, $15::text AS lang,"
            "  $16::text AS base_url, $17::int AS stale_secs, $18::int AS offline_secs,"
            "  $19::numeric AS warn_km, $20::int AS warn_active, $21::numeric AS cash_limit),"
            " ids AS (SELECT DISTINCT unnest(p.ids) AS id FROM p),"
            " cur AS (SELECT o.id, o.status, o.driver_id, o.version,"
            "   EXISTS (SELECT 1 FROM proofs pr WHERE pr.order_id = o.id"
            /* this attempt's proof: one from before the latest pickup (a
             * failed attempt's photo of a closed door) does not count */
            "    AND pr.captured_at >= o.picked_up_at) AS has_proof"
            /* = ANY of the parameter itself: a pkey scan in id order, so
             * the lock order costs no Sort of whole locked rows */
            "  FROM orders o, p WHERE o.id = ANY($1::bigint[])"
            "   AND (p.scope IS NULL OR o.warehouse_id = p.scope)"
            "   AND (p.own IS NULL OR o.driver_id = p.own)"
            /* NO KEY: no action changes a key column, and the FK checks of
             * rows that point at the order (FOR KEY SHARE: the search
             * indexer's drain, history, payments) then need not wait */
            "  ORDER BY o.id FOR NO KEY UPDATE OF o),"
            " upd AS (UPDATE orders o SET status = order_action_to('%s'), version = o.version + 1",
            d->name);
        if (d->stamp) buf_printf(&b, ", %s = now()", d->stamp);
        buf_printf(
            &b,
            "%s"
            "  FROM cur, p WHERE o.id = cur.id AND cur.status = ANY (order_action_from('%s'))"
            "   AND (p.ver IS NULL OR cur.version = p.ver)%s"
            "  RETURNING o.id, cur.status AS from_status, o.status AS to_status,"
            "   cur.driver_id AS prev_driver, o.driver_id, o.amount, o.warehouse_id, o.order_number,"
            "   o.delivery_latitude AS lat, o.delivery_longitude AS lng,"
            "   order_body(o) AS body%s),"
            " h AS (INSERT INTO order_status_history (order_id, from_status, to_status,"
            "   changed_by, driver_id, previous_driver_id, reason, reason_code)"
            "  SELECT upd.id, upd.from_status, upd.to_status, p.actor, upd.driver_id,"
            "   CASE WHEN upd.prev_driver IS DISTINCT FROM upd.driver_id THEN upd.prev_driver END,"
            "   p.reason, p.reason_code FROM upd, p)",
            d->sets, d->name, d->extra, *d->events ? ", o AS o_row" : "");
        buf_puts(&b, d->ctes);
        /* the outbox (migration 0024): order.<the new status> for each
         * order changed, then what the action adds (its payment, the
         * customer's message), numbered in that order per order; without
         * additions, in upd's order (cur's: by id), no sort needed */
        buf_printf(&b,
                   ", ev AS (INSERT INTO events (type, order_id, warehouse_id, data)"
                   "  SELECT e.type, e.order_id, e.warehouse_id, e.data FROM ("
                   "   SELECT upd.id AS order_id, 0 AS k, 'order.' || upd.to_status AS type,"
                   "    upd.warehouse_id, json_build_object('order', upd.body) AS data FROM upd"
                   "%s) e%s)",
                   d->events, *d->events ? " ORDER BY e.order_id, e.k" : "");
        /* the columns of enum order_action_col */
        buf_printf(&b,
                   " SELECT ids.id, cur.status, cur.version, cur.has_proof, %s,"
                   " upd.id IS NOT NULL, cur.status = ANY (order_action_from('%s')),"
                   " CASE WHEN upd.id IS NOT NULL THEN %s END"
                   " FROM ids LEFT JOIN cur ON cur.id = ids.id LEFT JOIN upd ON upd.id = ids.id%s"
                   " ORDER BY ids.id",
                   with_body ? "upd.body" : "NULL::json", d->name,
                   d->warnings ? d->warnings : "NULL::json",
                   d->warnings ? " LEFT JOIN warn ON warn.id = ids.id" : "");
        sql_text[a][with_body] = buf_steal(&b, NULL);
    }
}

db_res *order_action_run(const struct principal *who, enum order_action act,
                         const struct action_input *in, struct db_error *err)
{
    pthread_once(&once, build_sql);
    char actor[24], scope[24], own[24];
    snprintf(actor, sizeof actor, "%ld", (long)who->user_id);
    snprintf(scope, sizeof scope, "%ld", (long)who->warehouse_id);
    snprintf(own, sizeof own, "%ld", (long)who->driver_id);
    bool scoped = who->role == ROLE_MANAGER && who->warehouse_id > 0;
    bool driver = who->role == ROLE_DRIVER;
    const char *need_proof =
        act == ACT_DELIVER && settings_bool("require_proof_of_delivery", false) ? "true" : "false";
    /* customer messages (pickup, deliver, fail): the settings' values at
     * this moment, as require_proof_of_delivery */
    bool messages = settings_bool("customer_messages", false);
    json_t *lang_v = messages ? settings_get("customer_message_default_lang") : NULL;
    char lang[8] = "ar";
    if (json_is_string(lang_v)) snprintf(lang, sizeof lang, "%s", json_string_value(lang_v));
    json_decref(lang_v);
    /* the assignment warnings' thresholds and the freshness of a position
     * (assign's warnings, deliver's learned place), as the settings say now */
    char stale[24], offline[24], warn_km[24], warn_active[24], cash_limit[32] = "100.000";
    snprintf(stale, sizeof stale, "%ld", settings_int("location_stale_seconds", 300));
    snprintf(offline, sizeof offline, "%ld", settings_int("driver_offline_after_seconds", 600));
    snprintf(warn_km, sizeof warn_km, "%ld", settings_int("assign_warn_distance_km", 10));
    snprintf(warn_active, sizeof warn_active, "%ld", settings_int("assign_warn_active_orders", 6));
    if (act == ACT_ASSIGN) {
        json_t *cl = settings_get("driver_cash_limit");
        if (json_is_string(cl)) snprintf(cash_limit, sizeof cash_limit, "%s", json_string_value(cl));
        json_decref(cl);
    }
    const char *params[] = {in->ids,
                            in->version,
                            who->user_id > 0 ? actor : NULL, /* NULL: the system */
                            scoped ? scope : NULL,
                            driver ? own : NULL,
                            in->new_driver,
                            in->reason,
                            in->reason_code,
                            need_proof,
                            in->recipient,
                            in->notes,
                            in->pay_method,
                            in->pay_amount,
                            messages ? "true" : "false",
                            messages ? lang : NULL,
                            g_cfg.public_base_url,
                            stale,
                            act == ACT_ASSIGN ? offline : NULL,
                            act == ACT_ASSIGN ? warn_km : NULL,
                            act == ACT_ASSIGN ? warn_active : NULL,
                            act == ACT_ASSIGN ? cash_limit : NULL};
    return db_exec_prepared(sql_text[act][!in->batch], ARRAY_LEN(params), params, err);
}

void order_action_explain(enum order_action act, const struct action_input *in,
                          struct db_res *res, int row, int *status, const char **code,
                          char *detail, size_t dlen)
{
    if (db_isnull(res, row, OA_STATUS)) {
        *status = 404;
        *code = "not_found";
        snprintf(detail, dlen, "no such order");
        return;
    }
    const char *cur = db_get(res, row, OA_STATUS);
    const char *version = db_get(res, row, OA_VERSION);
    if (in->version && strcmp(version, in->version) != 0) {
        *status = 409;
        *code = "version_mismatch";
        snprintf(detail, dlen, "the order is at version %s, not %s", version, in->version);
        return;
    }
    *status = 409;
    /* the statement's own answer: cur.status = ANY (order_action_from(...)) */
    if (db_get(res, row, OA_ALLOWED)[0] != 't') {
        *code = "invalid_transition";
        snprintf(detail, dlen, "cannot %s an order that is %s", defs[act].name, cur);
        return;
    }
    if (act == ACT_DELIVER && db_get(res, row, OA_HAS_PROOF)[0] != 't') {
        *code = "proof_required";
        snprintf(detail, dlen, "upload a proof of delivery first");
        return;
    }
    if (act == ACT_ASSIGN) {
        *code = "invalid_transition";
        snprintf(detail, dlen, "the order is already assigned to driver %s", in->new_driver);
        return;
    }
    *code = "conflict";
    snprintf(detail, dlen, "the order changed while the request ran; retry");
}
