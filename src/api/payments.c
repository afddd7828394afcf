/* Cash on delivery: record a collection, list, remit and settle (set-based
 * batch transitions), and a driver's cash balance. Amounts stay decimal
 * text from the request to PostgreSQL's numeric: never a C double. */
#include <stdlib.h>
#include <string.h>

#include "deliveryd/api.h"

static const char *const methods[] = {"cash", "knet", "card", "prepaid", NULL};
static const char *const pay_statuses[] = {"unpaid", "remitted", "settled", NULL};

/* Idempotency-Key (optional): a retry with the same key on the same order
 * gets the payment already recorded (201 and its body, with
 * Idempotent-Replayed: true) instead of a second collection; the same key
 * with another method or amount is 409 conflict. The unique index decides between
 * two concurrent requests with one key: the loser's insert does nothing
 * and its follow-up read, a new statement, sees the winner's row. */
void api_payments_record(struct req *r)
{
    static const struct fv_field f[] = {
        {"method", FV_ENUM, FV_REQUIRED, 0, 0, 0, methods},
        {"amount", FV_MONEY, FV_REQUIRED, 0, 0, 0, NULL},
    };
    const char *key = req_header(r, "Idempotency-Key");
    if (key && !visible_ascii(key, 128)) {
        reply_problem(r, 400, "bad_request",
                      "Idempotency-Key must be 1-128 visible ASCII characters");
        return;
    }
    struct fv_values v;
    if (fv_parse_or_reply(r, NULL, f, ARRAY_LEN(f), &v) < 0) return;
    const char *p[] = {id_text(r, r->ids[0]), scope_text(r),
                       r->who.role == ROLE_DRIVER ? id_text(r, r->who.driver_id) : NULL,
                       v.text[0], v.text[1], id_text(r, r->who.user_id), key};
    db_res *res = db_query_or_reply(
        r,
        "WITH o AS (SELECT id, driver_id, amount, status FROM orders WHERE id = $1"
        "  AND ($2::bigint IS NULL OR warehouse_id = $2) AND ($3::bigint IS NULL OR driver_id = $3)),"
        " ins AS (INSERT INTO payment_collections (order_id, driver_id, method, amount,"
        "  expected_amount, discrepancy, collected_by, idempotency_key)"
        "  SELECT o.id, o.driver_id, $4, $5::numeric, o.amount,"
        "   o.amount IS DISTINCT FROM $5::numeric, $6, $7 FROM o"
        /* a payment is money a driver holds: a pending order has no driver */
        "  WHERE o.status NOT IN ('pending', 'cancelled', 'returned')"
        "  ON CONFLICT (order_id, idempotency_key) WHERE idempotency_key IS NOT NULL"
        "  DO NOTHING RETURNING id)"
        " SELECT o.status, (SELECT id FROM ins) FROM o",
        7, p);
    if (!res) return;
    if (db_ntuples(res) == 0) {
        reply_not_found(r, "order");
        return;
    }
    const char *status = req_strdup(r, db_get(res, 0, 0));
    if (!db_isnull(res, 0, 1)) {
        const char *p2[] = {db_get(res, 0, 1)};
        res = db_query_or_reply(r, "SELECT body FROM api_payments WHERE id = $1", 1, p2);
        if (res) reply_row_json(r, 201, res);
        return;
    }
    if (key) {
        const char *p3[] = {p[0], key, v.text[0], v.text[1]};
        res = db_query_or_reply(r,
                                "SELECT v.body, p.method = $3 AND p.amount = $4::numeric"
                                " FROM payment_collections p JOIN api_payments v ON v.id = p.id"
                                " WHERE p.order_id = $1 AND p.idempotency_key = $2",
                                4, p3);
        if (!res) return;
        if (db_ntuples(res) == 1) {
            if (db_get(res, 0, 1)[0] != 't') {
                reply_problem(r, 409, "conflict",
                              "this Idempotency-Key was used for a payment of another method "
                              "or amount on this order");
                return;
            }
            reply_header(r, "Idempotent-Replayed", "true");
            reply_row_json(r, 201, res);
            return;
        }
    }
    reply_problem(r, 409, "invalid_transition", "cannot record a payment for a %s order", status);
}

void api_payments_list(struct req *r)
{
    struct paging pg;
    const char *driver, *from, *to;
    if (paging_or_reply(r, &pg) < 0 || query_id_or_reply(r, "driver_id", &driver) < 0 ||
        query_time_or_reply(r, "from", &from) < 0 || query_time_or_reply(r, "to", &to) < 0)
        return;
    const char *status = req_query(r, "status");
    if (status) {
        bool ok = false;
        for (const char *const *s = pay_statuses; *s; s++)
            if (strcmp(*s, status) == 0) ok = true;
        if (!ok) {
            reply_field_error(r, "status", "must be unpaid, remitted or settled");
            return;
        }
    }
    /* a driver sees their own collections: asking for another driver's
     * is an empty list, not their own under another filter */
    if (r->who.role == ROLE_DRIVER) {
        const char *own = id_text(r, r->who.driver_id);
        driver = driver && strcmp(driver, own) != 0 ? "0" : own;
    }
    struct sqlb b;
    sqlb_init(&b);
    SQLB_ADD(&b,
             "payment_collections v JOIN orders o ON o.id = v.order_id"
             " WHERE ($1::bigint IS NULL OR v.driver_id = $1) AND ($2::text IS NULL OR v.status = $2)"
             " AND ($3::text IS NULL OR v.collected_at >= (SELECT query_time($3)))"
             " AND ($4::text IS NULL OR v.collected_at < (SELECT query_time($4)))"
             " AND payment_visible(v.driver_id, o.warehouse_id, $5, NULL)",
             driver, status, from, to, scope_text(r));
    reply_paged(r, &pg, "api_payments", &b, "v.collected_at DESC, v.id DESC");
}

/* unpaid -> remitted, remitted -> settled, for many ids in one statement */
static void transition(struct req *r, const char *from, const char *to, const char *stamp,
                       const char *by)
{
    static const struct fv_field f[] = {
        {"payment_ids", FV_ID_ARRAY, FV_REQUIRED, 0, 500, 0, NULL},
    };
    struct fv_values v;
    if (fv_parse_or_reply(r, NULL, f, ARRAY_LEN(f), &v) < 0) return;
    const char *p[] = {v.text[0], scope_text(r), from, to, id_text(r, r->who.user_id)};
    char *sql = req_printf(
        r,
        "WITH ids AS (SELECT DISTINCT unnest($1::bigint[]) AS id),"
        " cur AS (SELECT p.id, p.status FROM payment_collections p JOIN orders o ON o.id = p.order_id"
        "  WHERE p.id IN (SELECT id FROM ids) AND payment_visible(p.driver_id, o.warehouse_id, $2, NULL)"
        "  ORDER BY p.id FOR UPDATE OF p),"
        " upd AS (UPDATE payment_collections p SET status = $4, %s = now(), %s = $5::bigint"
        "  FROM cur WHERE p.id = cur.id AND cur.status = $3 RETURNING p.id)"
        " SELECT ids.id, cur.status, upd.id IS NOT NULL FROM ids"
        " LEFT JOIN cur ON cur.id = ids.id LEFT JOIN upd ON upd.id = ids.id ORDER BY ids.id",
        stamp, by);
    db_res *res = db_query_or_reply(r, sql, 5, p);
    if (!res) return;
    json_t *ok = json_array(), *failed = json_array();
    for (int i = 0; i < db_ntuples(res); i++) {
        json_int_t id = (json_int_t)atoll(db_get(res, i, 0));
        if (db_get(res, i, 2)[0] == 't') {
            json_array_append_new(ok, json_integer(id));
        } else if (db_isnull(res, i, 1)) {
            json_array_append_new(failed, json_pack("{s:I,s:s,s:s}", "id", id, "code",
                                                    "not_found", "detail", "no such payment"));
        } else {
            json_t *d = json_sprintf("the payment is %s, not %s", db_get(res, i, 1), from);
            json_array_append_new(failed, json_pack("{s:I,s:s,s:o}", "id", id, "code",
                                                    "invalid_transition", "detail", d));
        }
    }
    reply_json(r, 200, json_pack("{s:o,s:o}", "succeeded", ok, "failed", failed));
}

void api_payments_remit(struct req *r)
{
    transition(r, "unpaid", "remitted", "remitted_at", "remitted_by");
}

void api_payments_settle(struct req *r)
{
    transition(r, "remitted", "settled", "settled_at", "settled_by");
}

void api_drivers_cash(struct req *r)
{
    if (r->who.role == ROLE_DRIVER && r->who.driver_id != r->ids[0]) {
        reply_not_found(r, "driver");
        return;
    }
    const char *p[] = {id_text(r, r->ids[0]), scope_text(r)};
    db_res *res = db_query_or_reply(
        r,
        "SELECT json_build_object("
        " 'unpaid_total', coalesce(sum(p.amount) FILTER (WHERE p.status = 'unpaid'), 0)::numeric(12,3)::text,"
        " 'unpaid_count', count(p.id) FILTER (WHERE p.status = 'unpaid'),"
        " 'remitted_total', coalesce(sum(p.amount) FILTER (WHERE p.status = 'remitted'), 0)::numeric(12,3)::text,"
        " 'remitted_count', count(p.id) FILTER (WHERE p.status = 'remitted'))"
        " FROM drivers d LEFT JOIN payment_collections p ON p.driver_id = d.id AND p.method = 'cash'"
        " WHERE d.id = $1 AND ($2::bigint IS NULL OR d.warehouse_id = $2) GROUP BY d.id",
        2, p);
    if (res) reply_row_json(r, 200, res);
}
