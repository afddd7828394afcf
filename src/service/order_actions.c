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
                    "  FROM upd JOIN sug ON sug.order_id = upd.id, p)",
                    ""},
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
                     "  RETURNING pc.order_id, payment_body(pc) AS body)",
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
            "  $16::text AS base_url),"
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
                   " upd.id IS NOT NULL, cur.status = ANY (order_action_from('%s'))"
                   " FROM ids LEFT JOIN cur ON cur.id = ids.id LEFT JOIN upd ON upd.id = ids.id"
                   " ORDER BY ids.id",
                   with_body ? "upd.body" : "NULL::json", d->name);
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
                            g_cfg.public_base_url};
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
