/* Order actions (single and batch) over the one-statement state machine
 * of service/order_actions.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deliveryd/api.h"
#include "deliveryd/order_fields.h"
#include "deliveryd/orders.h"
#include "deliveryd/settings.h"

#define BATCH_MAX 500


enum { A_DRIVER, A_VERSION, A_REASON, A_CODE, A_RECIPIENT, A_NOTES, A_IDS };
static const struct fv_field action_fields[] = {
    {"driver_id", FV_INT, 0, 1, 9e15, 0, NULL},
    {"version", FV_INT, 0, 1, 2147483647, 0, NULL},
    {"reason", FV_STRING, FV_NULLABLE, 0, 0, 1000, NULL},
    {"reason_code", FV_STRING, FV_NULLABLE, 0, 0, 64, NULL},
    {"recipient_name", FV_STRING, FV_NULLABLE, 0, 0, 200, NULL},
    {"notes", FV_STRING, FV_NULLABLE, 0, 0, 2000, NULL},
    {"order_ids", FV_ID_ARRAY, 0, 0, BATCH_MAX, 0, NULL},
};

/* Checks what each action needs beyond the field table. */
static int action_input_or_reply(struct req *r, enum order_action act, struct action_input *in,
                                 bool batch)
{
    struct fv_values v;
    memset(in, 0, sizeof *in);
    if (fv_parse_or_reply(r, NULL, action_fields, ARRAY_LEN(action_fields), &v) < 0) return -1;
    in->version = batch ? NULL : v.text[A_VERSION];
    in->new_driver = v.text[A_DRIVER];
    in->reason = v.text[A_REASON] && *v.text[A_REASON] ? v.text[A_REASON] : NULL;
    in->reason_code = v.text[A_CODE];
    in->recipient = v.text[A_RECIPIENT];
    in->notes = v.text[A_NOTES];
    in->ids = batch ? v.text[A_IDS] : req_printf(r, "{%ld}", (long)r->ids[0]);
    in->batch = batch;
    if (batch && !in->ids) return reply_field_error(r, "order_ids", "is required");
    if (act == ACT_ASSIGN) {
        if (!in->new_driver) return reply_field_error(r, "driver_id", "is required");
        db_res *d = db_q_or_reply(r, Q(order_assign_driver)(in->new_driver, scope_text(r)));
        if (!d) return -1;
        if (db_ntuples(d) == 0) return reply_field_error(r, "driver_id", "no such driver");
        if (db_get(d, 0, 0)[0] != 't')
            return reply_field_error(r, "driver_id", "the driver is inactive");
    }
    if ((act == ACT_FAIL || act == ACT_CANCEL) && !in->reason)
        return reply_field_error(r, "reason", "is required");
    if (act == ACT_FAIL && in->reason_code) {
        json_t *codes = req_own_json(r, settings_get("failure_reason_codes"));
        bool ok = false;
        for (size_t i = 0; i < json_array_size(codes); i++) {
            const char *c = json_string_value(json_array_get(codes, i));
            if (c && strcmp(c, in->reason_code) == 0) ok = true;
        }
        if (!ok) return reply_field_error(r, "reason_code", "is not a known failure reason code");
    }
    if (act != ACT_FAIL) in->reason_code = NULL;
    if (act == ACT_DELIVER && !batch) {
        json_t *pay = json_object_get(r->json, "payment");
        if (pay && !json_is_null(pay)) {
            enum { P_METHOD, P_AMOUNT };
            static const struct fv_field pay_fields[] = {
                {"method", FV_ENUM, FV_REQUIRED, 0, 0, 0, order_payment_methods},
                {"amount", FV_MONEY, FV_REQUIRED, 0, 0, 0, NULL},
            };
            if (!json_is_object(pay)) return reply_field_error(r, "payment", "must be an object");
            struct fv_values pv;
            if (fv_parse_or_reply(r, pay, pay_fields, ARRAY_LEN(pay_fields), &pv) < 0) return -1;
            in->pay_method = pv.text[P_METHOD];
            in->pay_amount = pv.text[P_AMOUNT];
        }
    }
    return 0;
}

static void res_free(void *p)
{
    db_res_free(p);
}

db_res *order_action_or_reply(struct req *r, enum order_action act, const struct action_input *in)
{
    struct db_error err;
    db_res *res = order_action_run(&r->who, act, in, &err);
    if (!res) {
        db_reply_error(r, &err);
        return NULL;
    }
    req_defer(r, res_free, res);
    return res;
}

static void single(struct req *r, enum order_action act)
{
    struct action_input in;
    if (action_input_or_reply(r, act, &in, false) < 0) return;
    db_res *res = order_action_or_reply(r, act, &in);
    if (!res) return;
    if (db_ntuples(res) == 1 && !db_isnull(res, 0, OA_BODY)) {
        if (db_isnull(res, 0, OA_WARNINGS)) {
            reply_json_text(r, 200, db_get(res, 0, OA_BODY), db_getlen(res, 0, OA_BODY));
            return;
        }
        /* assign: the order as before plus "warnings" as its last member
         * (the body is PostgreSQL's object text: its closing brace is
         * replaced, so the order's members keep their order) */
        const char *body = db_get(res, 0, OA_BODY);
        size_t len = (size_t)db_getlen(res, 0, OA_BODY);
        while (len && body[len - 1] != '}') len--;
        if (len == 0) {
            reply_problem(r, 500, "internal", "the order could not be rendered");
            return;
        }
        buf_t out;
        buf_init(&out);
        buf_append(&out, body, len - 1);
        buf_printf(&out, ", \"warnings\" : %s}", db_get(res, 0, OA_WARNINGS));
        reply_json_text(r, 200, out.data, out.len);
        buf_free(&out);
        return;
    }
    int status;
    const char *code;
    char detail[200];
    order_action_explain(act, &in, res, 0, &status, &code, detail, sizeof detail);
    reply_problem(r, status, code, "%s", detail);
}

static void batch(struct req *r, enum order_action act)
{
    struct action_input in;
    if (action_input_or_reply(r, act, &in, true) < 0) return;
    db_res *res = order_action_or_reply(r, act, &in);
    if (!res) return;
    json_t *ok = json_array(), *failed = json_array();
    json_t *warnings = act == ACT_ASSIGN ? json_array() : NULL;
    for (int i = 0; i < db_ntuples(res); i++) {
        json_int_t id = (json_int_t)atoll(db_get(res, i, OA_ID));
        if (db_get(res, i, OA_CHANGED)[0] == 't') {
            json_array_append_new(ok, json_integer(id));
            /* assign: each warning of the order, with its id first */
            json_t *w = warnings && !db_isnull(res, i, OA_WARNINGS)
                            ? json_loads(db_get(res, i, OA_WARNINGS), 0, NULL)
                            : NULL;
            size_t k;
            json_t *one;
            json_array_foreach(w, k, one)
            {
                json_array_append_new(warnings,
                                      json_pack("{s:I,s:O,s:O}", "id", id, "code",
                                                json_object_get(one, "code"), "message",
                                                json_object_get(one, "message")));
            }
            json_decref(w);
            continue;
        }
        int status;
        const char *code;
        char detail[200];
        order_action_explain(act, &in, res, i, &status, &code, detail, sizeof detail);
        json_array_append_new(failed,
                              json_pack("{s:I,s:s,s:s}", "id", id, "code", code, "detail", detail));
    }
    json_t *body = json_pack("{s:o,s:o}", "succeeded", ok, "failed", failed);
    if (warnings) json_object_set_new(body, "warnings", warnings);
    reply_json(r, 200, body);
}

void api_orders_assign(struct req *r) { single(r, ACT_ASSIGN); }
void api_orders_unassign(struct req *r) { single(r, ACT_UNASSIGN); }
void api_orders_pickup(struct req *r) { single(r, ACT_PICKUP); }
void api_orders_deliver(struct req *r) { single(r, ACT_DELIVER); }
void api_orders_fail(struct req *r) { single(r, ACT_FAIL); }
void api_orders_cancel(struct req *r) { single(r, ACT_CANCEL); }
void api_orders_requeue(struct req *r) { single(r, ACT_REQUEUE); }
void api_orders_return(struct req *r) { single(r, ACT_RETURN); }
void api_orders_batch_assign(struct req *r) { batch(r, ACT_ASSIGN); }
void api_orders_batch_cancel(struct req *r) { batch(r, ACT_CANCEL); }
void api_orders_batch_pickup(struct req *r) { batch(r, ACT_PICKUP); }
void api_orders_batch_delivery(struct req *r) { batch(r, ACT_DELIVER); }
