/* /orders: create, read, list, patch, history. The state machine's actions
 * are in order_actions.c. Drivers see only their own orders and scoped
 * managers only their warehouse's; anything else is 404. */
#include <stdlib.h>
#include <string.h>

#include "deliveryd/api.h"
#include "deliveryd/auth.h"
#include "deliveryd/microcache.h"
#include "deliveryd/order_fields.h"
#include "deliveryd/order_filter.h"
#include "deliveryd/orders.h"
#include "deliveryd/sqlb.h"

/* The order's fields and their rules are include/deliveryd/order_fields.h,
 * shared with the import and the D365 webhook; what is checked here is the
 * request's own: what PATCH cannot change and the caller's warehouse. */
static int parse_order_or_reply(struct req *r, struct fv_values *v, bool creating)
{
    json_t *errs = json_array();
    const struct order_check how = {.path = ORDER_API, .update = !creating};
    order_fields_check(r->json, &how, v, errs);
    for (size_t i = 0; i < v->n; i++)
        if (v->text[i]) req_defer(r, free, v->text[i]);
#define ERR(f, m) fv_add_error(errs, f, m)
    if (creating) {
        if (v->present[OF_VERSION]) ERR("version", "cannot be set on creation");
    } else {
        if (v->present[OF_NUMBER]) ERR("order_number", "cannot be changed");
        if (v->present[OF_WAREHOUSE]) ERR("warehouse_id", "cannot be changed");
        /* members of the order that only its actions change: ignoring them
         * would answer 200 for a change that did not happen */
        if (json_object_get(r->json, "status"))
            ERR("status", "changes only through the order's actions (assign, pickup, deliver, ...)");
        if (json_object_get(r->json, "driver_id"))
            ERR("driver_id", "changes only through assign and unassign");
    }
    const char *scope = scope_text(r);
    if (creating && scope && v->text[OF_WAREHOUSE] && strcmp(scope, v->text[OF_WAREHOUSE]) != 0)
        ERR("warehouse_id", "is outside your warehouse");
#undef ERR
    return fv_reply_errors(r, errs);
}

/* The columns a create or a patch writes, side by side with their values'
 * placeholders in out: "col = $n" (set: PATCH) or the two lists of an
 * INSERT (cols, out). The ETA goes through order_eta() (a date-only ETA is
 * the end of that business day), as on every path. Returns how many. */
static int order_columns_to(struct sqlb *b, const struct fv_values *v, buf_t *cols, buf_t *out)
{
    int n = 0;
    for (size_t i = 0; i < v->n; i++) {
        if (!v->present[i] || (order_field_uses[i] & ORDER_NO_COLUMN)) continue;
        bool eta = order_field_uses[i] & ORDER_VIA_ETA;
        if (cols) {
            buf_printf(cols, "%s, ", order_fv[i].name);
            if (n) buf_puts(out, ", ");
        } else {
            buf_printf(out, "%s%s = ", n ? ", " : "", order_fv[i].name);
        }
        if (eta) buf_puts(out, "order_eta(");
        sqlb_param_to(b, out, v->text[i]);
        if (eta) buf_puts(out, ")");
        n++;
    }
    return n;
}

static void res_free(void *p)
{
    db_res_free(p);
}

/* The order an earlier POST with this Idempotency-Key created, answered
 * again (201, Idempotent-Replayed: true); 409 when that POST's body was
 * another. Returns false when the key names no order of this user. */
static bool replay_or_reply(struct req *r, const char *key, const char *sha_hex)
{
    db_res *res =
        db_q_or_reply(r, Q(order_by_idempotency_key)(id_text(r, r->who.user_id), key, sha_hex));
    if (!res) return true;
    if (db_ntuples(res) == 0) return false;
    enum { R_BODY, R_SAME_BODY }; /* order_by_idempotency_key's columns */
    if (db_get(res, 0, R_SAME_BODY)[0] != 't') {
        reply_problem(r, 409, "conflict",
                      "this Idempotency-Key was used for another order (a different body)");
        return true;
    }
    reply_header(r, "Idempotent-Replayed", "true");
    reply_row_json(r, 201, res);
    return true;
}

/* Idempotency-Key (optional): a retry with the same key and body gets the
 * order created the first time instead of a second one. The unique index
 * (created_by, idempotency_key) decides between racing retries: the
 * loser's insert does nothing (or, when both also sent the same
 * order_number, fails on that index) and its follow-up read, a new
 * statement, sees the winner's order. */
void api_orders_create(struct req *r)
{
    const char *key = req_header(r, "Idempotency-Key");
    if (key && !visible_ascii(key, 128)) {
        reply_problem(r, 400, "bad_request",
                      "Idempotency-Key must be 1-128 visible ASCII characters");
        return;
    }
    struct fv_values v;
    if (parse_order_or_reply(r, &v, true) < 0)
        return;
    /* the order and its first history row in one statement; the columns
     * and their values are listed side by side, the values' placeholders
     * numbered by the builder */
    struct sqlb b;
    sqlb_init(&b);
    buf_t cols, vals, from;
    buf_init(&cols);
    buf_init(&vals);
    buf_init(&from);
    /* coordinates (API.md v1.1 "Dispatch aids"): given ones are the
     * order's; without them (absent or null), the point learned from the
     * earlier deliveries to this phone and address, if any
     * (learned_point(), sql/schema/where_delivered.sql) */
    bool given_coords = v.text[OF_LAT] && v.text[OF_LNG];
    if (!given_coords) v.present[OF_LAT] = v.present[OF_LNG] = false;
    if (order_columns_to(&b, &v, &cols, &vals)) buf_puts(&vals, ", ");
    if (given_coords) {
        buf_puts(&cols, "coordinates_source, ");
        buf_puts(&vals, "'order', ");
    } else {
        buf_puts(&cols, "delivery_latitude, delivery_longitude, coordinates_source, ");
        buf_puts(&vals, "lp.lat, lp.lng, CASE WHEN lp.lat IS NOT NULL THEN 'learned' END, ");
        SQLB_ADD_TO(&b, &from, " FROM learned_point($1, address_key($2, $3, $4, $5, $6)) lp",
                    v.text[OF_PHONE], v.text[OF_AREA], v.text[OF_BLOCK], v.text[OF_STREET],
                    v.text[OF_AVENUE], v.text[OF_BUILDING]);
    }
    /* a deactivated warehouse takes no new orders: nothing is inserted,
     * and the answer's second column says why */
    buf_t inactive;
    buf_init(&inactive);
    SQLB_ADD_TO(&b, &inactive,
                "EXISTS (SELECT 1 FROM warehouses w WHERE w.id = $1::bigint AND NOT w.is_active)",
                v.text[OF_WAREHOUSE]);
    char *sha_hex = NULL;
    if (key) {
        unsigned char sha[32];
        sha256_bytes(r->body.data ? r->body.data : "", r->body.len, sha);
        sha_hex = req_alloc(r, 65);
        hex_encode(sha, sizeof sha, sha_hex);
        buf_puts(&cols, "idempotency_key, idempotency_sha256, ");
        sqlb_param_to(&b, &vals, key);
        buf_puts(&vals, ", decode(");
        sqlb_param_to(&b, &vals, sha_hex);
        buf_puts(&vals, ", 'hex'), ");
    }
    int actor = sqlb_param_to(&b, &vals, id_text(r, r->who.user_id));
    sqlb_printf(&b,
                "WITH o AS (INSERT INTO orders AS ins (%screated_by, source) SELECT %s, 'manual'%s"
                " WHERE NOT %s",
                cols.data ? cols.data : "", vals.data, from.data ? from.data : "", inactive.data);
    buf_free(&cols);
    buf_free(&vals);
    buf_free(&from);
    if (key)
        sqlb_puts(&b, " ON CONFLICT (created_by, idempotency_key)"
                      " WHERE idempotency_key IS NOT NULL DO NOTHING");
    sqlb_puts(&b, " RETURNING ins.id, ins.status, ins.warehouse_id, order_body(ins) AS body),"
                  " h AS (INSERT INTO order_status_history (order_id, from_status,"
                  " to_status, changed_by) SELECT id, NULL, status, ");
    sqlb_ref(&b, actor);
    /* the outbox: order.created, in the same statement (none for a replay) */
    sqlb_puts(&b, " FROM o), ev AS (INSERT INTO events (type, order_id, warehouse_id, data)"
                  " SELECT 'order.created', id, warehouse_id, json_build_object('order', body)"
                  " FROM o) SELECT body, false FROM o");
    sqlb_printf(&b, " UNION ALL SELECT NULL, true WHERE NOT EXISTS (SELECT 1 FROM o) AND %s",
                inactive.data);
    buf_free(&inactive);
    struct db_error err;
    db_res *res = sqlb_exec(&b, DB_PLAN_EACH, &err);
    sqlb_free(&b);
    if (!res) {
        if (!(key && strcmp(err.sqlstate, "23505") == 0 && replay_or_reply(r, key, sha_hex)))
            db_reply_error(r, &err);
        return;
    }
    req_defer(r, res_free, res);
    if (db_ntuples(res) == 1 && db_get(res, 0, 1)[0] != 't') {
        reply_row_json(r, 201, res);
        return;
    }
    if (db_ntuples(res) == 1) { /* the warehouse is deactivated (a replay still answers) */
        if (!(key && replay_or_reply(r, key, sha_hex)))
            reply_field_error(r, "warehouse_id", "the warehouse is deactivated");
        return;
    }
    if (!replay_or_reply(r, key, sha_hex))
        reply_problem(r, 503, "unavailable", "the order of this Idempotency-Key was not found; retry");
}

/* The one order this request is about, and who is asking: the order id,
 * the caller's scope (a scoped manager's warehouse) and own driver id (a
 * driver), as the visibility of sql/queries/orders.sql takes them. */
#define ORDER_VISIBILITY(r) id_text(r, (r)->ids[0]), scope_text(r), own_driver_text(r)

void api_orders_get(struct req *r)
{
    db_res *res = db_q_or_reply(r, Q(order_get)(ORDER_VISIBILITY(r)));
    if (res) reply_row_json(r, 200, res);
}

void api_orders_history(struct req *r)
{
    db_res *res = db_q_or_reply(r, Q(order_history)(ORDER_VISIBILITY(r)));
    if (res) reply_row_json(r, 200, res);
}

void api_orders_patch(struct req *r)
{
    struct fv_values v;
    if (parse_order_or_reply(r, &v, false) < 0)
        return;
    struct sqlb b;
    sqlb_init(&b);
    /* managers only (the route's roles): no driver restriction */
    int id = sqlb_param_to(&b, NULL, id_text(r, r->ids[0]));
    int scope = sqlb_param_to(&b, NULL, scope_text(r));
    buf_t sets;
    buf_init(&sets);
    int nset = order_columns_to(&b, &v, NULL, &sets);
    if (v.present[OF_LAT] || v.present[OF_LNG]) { /* coordinates given: the order's own */
        buf_puts(&sets, ", coordinates_source = CASE WHEN ");
        if (v.present[OF_LAT]) {
            sqlb_param_to(&b, &sets, v.text[OF_LAT]);
            buf_puts(&sets, "::float8");
        } else {
            buf_puts(&sets, "o.delivery_latitude");
        }
        buf_puts(&sets, " IS NULL THEN NULL ELSE 'order' END");
    }
    if (nset == 0) {
        buf_free(&sets); /* nothing to change: no new version either, but a
                          * stale one is still a conflict, as with changes */
        sqlb_free(&b);
        db_res *res = db_q_or_reply(r, Q(order_get_version)(id_text(r, r->ids[0]), scope_text(r), NULL));
        if (!res) return;
        enum { G_BODY, G_VERSION }; /* order_get_version's columns */
        if (db_ntuples(res) == 1 && v.text[OF_VERSION] &&
            strcmp(db_get(res, 0, G_VERSION), v.text[OF_VERSION]) != 0)
            reply_problem(r, 409, "version_mismatch", "the order is at version %s, not %s",
                          db_get(res, 0, G_VERSION), v.text[OF_VERSION]);
        else
            reply_row_json(r, 200, res);
        return;
    }
    sqlb_puts(&b, "WITH cur AS (SELECT o.id, o.status, o.version FROM orders o WHERE o.id = ");
    sqlb_ref(&b, id);
    sqlb_puts(&b, " AND (");
    sqlb_ref(&b, scope);
    sqlb_puts(&b, "::bigint IS NULL OR o.warehouse_id = ");
    sqlb_ref(&b, scope);
    sqlb_printf(&b, ") FOR NO KEY UPDATE), upd AS (UPDATE orders o SET %s, version = o.version + 1"
                    " FROM cur WHERE o.id = cur.id AND cur.status = ANY (order_action_from('edit'))"
                    " AND (",
                sets.data);
    buf_free(&sets);
    int version = sqlb_param(&b, v.text[OF_VERSION]);
    sqlb_puts(&b, "::int IS NULL OR cur.version = ");
    sqlb_ref(&b, version);
    /* the outbox: order.updated, in the same statement (none when refused) */
    sqlb_puts(&b, "::int) RETURNING o.id, o.warehouse_id, order_body(o) AS body),"
                  " ev AS (INSERT INTO events (type, order_id, warehouse_id, data)"
                  " SELECT 'order.updated', id, warehouse_id, json_build_object('order', body)"
                  " FROM upd)"
                  " SELECT (SELECT body FROM upd), cur.status, cur.version FROM cur");
    db_res *res = sqlb_or_reply(r, &b, DB_PLAN_EACH);
    sqlb_free(&b);
    if (!res) return;
    enum { P_BODY, P_STATUS, P_VERSION }; /* the statement's columns */
    if (db_ntuples(res) == 0) {
        reply_not_found(r, "order");
        return;
    }
    if (!db_isnull(res, 0, P_BODY)) {
        reply_json_text(r, 200, db_get(res, 0, P_BODY), db_getlen(res, 0, P_BODY));
        return;
    }
    const char *status = db_get(res, 0, P_STATUS);
    if (v.text[OF_VERSION] && strcmp(v.text[OF_VERSION], db_get(res, 0, P_VERSION)) != 0)
        reply_problem(r, 409, "version_mismatch", "the order is at version %s, not %s",
                      db_get(res, 0, P_VERSION), v.text[OF_VERSION]);
    else
        reply_problem(r, 409, "conflict", "a %s order cannot be edited", status);
}
