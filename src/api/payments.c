/* Cash on delivery: record a collection, list, remit and settle (set-based
 * batch transitions), and a driver's cash balance. Amounts stay decimal
 * text from the request to PostgreSQL's numeric: never a C double. */
#include <stdlib.h>
#include <string.h>

#include "deliveryd/api.h"
#include "deliveryd/order_fields.h"

static const char *const pay_statuses[] = {"unpaid", "remitted", "settled", NULL};

enum { PAY_METHOD, PAY_AMOUNT };  /* the fields of a collection */
enum { REC_STATUS, REC_PAYMENT, REC_ARCHIVED }; /* payment_record's columns */
enum { KEY_BODY, KEY_SAME };      /* payment_by_idempotency_key's columns */

/* Idempotency-Key (optional): a retry with the same key on the same order
 * gets the payment already recorded (201 and its body, with
 * Idempotent-Replayed: true) instead of a second collection; the same key
 * with another method or amount is 409 conflict. The unique index decides between
 * two concurrent requests with one key: the loser's insert does nothing
 * and its follow-up read, a new statement, sees the winner's row. */
void api_payments_record(struct req *r)
{
    static const struct fv_field f[] = {
        [PAY_METHOD] = {"method", FV_ENUM, FV_REQUIRED, 0, 0, 0, order_payment_methods},
        [PAY_AMOUNT] = {"amount", FV_MONEY, FV_REQUIRED, 0, 0, 0, NULL},
    };
    const char *key = req_header(r, "Idempotency-Key");
    if (key && !visible_ascii(key, 128)) {
        reply_problem(r, 400, "bad_request",
                      "Idempotency-Key must be 1-128 visible ASCII characters");
        return;
    }
    struct fv_values v;
    if (fv_parse_or_reply(r, NULL, f, ARRAY_LEN(f), &v) < 0) return;
    const char *order = id_text(r, r->ids[0]);
    db_res *res = db_q_or_reply(r, Q(payment_record)(order, scope_text(r), own_driver_text(r),
                                                     v.text[PAY_METHOD], v.text[PAY_AMOUNT],
                                                     id_text(r, r->who.user_id), key));
    if (!res) return;
    if (db_ntuples(res) == 0) {
        reply_not_found(r, "order");
        return;
    }
    const char *status = req_strdup(r, db_get(res, 0, REC_STATUS));
    bool archived = db_get(res, 0, REC_ARCHIVED)[0] == 't';
    if (!db_isnull(res, 0, REC_PAYMENT)) {
        res = db_q_or_reply(r, Q(payment_get)(db_get(res, 0, REC_PAYMENT)));
        if (res) reply_row_json(r, 201, res);
        return;
    }
    if (key) {
        res = db_q_or_reply(r, Q(payment_by_idempotency_key)(order, key, v.text[PAY_METHOD],
                                                             v.text[PAY_AMOUNT]));
        if (!res) return;
        if (db_ntuples(res) == 1) {
            if (db_get(res, 0, KEY_SAME)[0] != 't') {
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
    if (archived) {
        reply_problem(r, 409, "conflict", "the order is archived: it takes no new payment");
        return;
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

/* unpaid -> remitted (remit), remitted -> settled (settle), for many ids
 * in one statement each (payment_remit, payment_settle) */
static void transition(struct req *r, bool settle)
{
    static const struct fv_field f[] = {
        {"payment_ids", FV_ID_ARRAY, FV_REQUIRED, 0, 500, 0, NULL},
    };
    enum { T_ID, T_STATUS, T_MOVED }; /* the columns of both statements */
    struct fv_values v;
    if (fv_parse_or_reply(r, NULL, f, ARRAY_LEN(f), &v) < 0) return;
    const char *ids = v.text[0], *scope = scope_text(r), *by = id_text(r, r->who.user_id);
    const char *from = settle ? "remitted" : "unpaid";
    db_res *res = settle ? db_q_or_reply(r, Q(payment_settle)(ids, scope, by))
                         : db_q_or_reply(r, Q(payment_remit)(ids, scope, by));
    if (!res) return;
    json_t *ok = json_array(), *failed = json_array();
    for (int i = 0; i < db_ntuples(res); i++) {
        json_int_t id = (json_int_t)atoll(db_get(res, i, T_ID));
        if (db_get(res, i, T_MOVED)[0] == 't') {
            json_array_append_new(ok, json_integer(id));
        } else if (db_isnull(res, i, T_STATUS)) {
            json_array_append_new(failed, json_pack("{s:I,s:s,s:s}", "id", id, "code",
                                                    "not_found", "detail", "no such payment"));
        } else {
            json_t *d = json_sprintf("the payment is %s, not %s", db_get(res, i, T_STATUS), from);
            json_array_append_new(failed, json_pack("{s:I,s:s,s:o}", "id", id, "code",
                                                    "invalid_transition", "detail", d));
        }
    }
    reply_json(r, 200, json_pack("{s:o,s:o}", "succeeded", ok, "failed", failed));
}

void api_payments_remit(struct req *r)
{
    transition(r, false);
}

void api_payments_settle(struct req *r)
{
    transition(r, true);
}

void api_drivers_cash(struct req *r)
{
    if (r->who.role == ROLE_DRIVER && r->who.driver_id != r->ids[0]) {
        reply_not_found(r, "driver");
        return;
    }
    db_res *res = db_q_or_reply(r, Q(payment_driver_cash)(id_text(r, r->ids[0]), scope_text(r)));
    if (res) reply_row_json(r, 200, res);
}
