/* /warehouses: list (any role), create and patch (admin, manager). */
#include "deliveryd/api.h"

static const struct fv_field wh_fields[] = {
    {"code", FV_STRING, FV_NONBLANK, 0, 0, 32, NULL},
    {"name", FV_STRING, FV_NONBLANK, 0, 0, 200, NULL},
    {"address", FV_STRING, FV_NULLABLE, 0, 0, 500, NULL},
    {"latitude", FV_NUMBER, FV_NULLABLE, -90, 90, 0, NULL},
    {"longitude", FV_NUMBER, FV_NULLABLE, -180, 180, 0, NULL},
    {"is_active", FV_BOOL, 0, 0, 0, 0, NULL},
};
enum { F_CODE, F_NAME, F_ADDRESS, F_LATITUDE, F_LONGITUDE, F_ACTIVE };

void api_warehouses_list(struct req *r)
{
    const char *active;
    if (query_bool_or_reply(r, "is_active", &active) < 0) return;
    db_res *res = db_q_or_reply(r, Q(warehouse_list)(active));
    if (res) reply_row_json(r, 200, res);
}

static void reply_warehouse(struct req *r, int status, const char *id)
{
    db_res *res = db_q_or_reply(r, Q(warehouse_get)(id));
    if (res) reply_row_json(r, status, res);
}

void api_warehouses_create(struct req *r)
{
    if (scope_text(r)) {
        reply_problem(r, 403, "forbidden", "a warehouse-scoped manager cannot create warehouses");
        return;
    }
    struct fv_values v;
    if (fv_parse_or_reply(r, NULL, wh_fields, ARRAY_LEN(wh_fields), &v) < 0) return;
    json_t *errs = json_array();
    static const int required[] = {F_CODE, F_NAME};
    for (size_t k = 0; k < ARRAY_LEN(required); k++)
        if (!v.text[required[k]])
            json_array_append_new(
                errs, json_pack("{s:s,s:s}", "field", wh_fields[required[k]].name, "message",
                                "is required"));
    if (json_array_size(errs)) {
        reply_problem_errors(r, 422, "validation_failed", errs, "required fields are missing");
        return;
    }
    json_decref(errs);
    db_res *res = db_q_or_reply(
        r, Q(warehouse_create)(v.text[F_CODE], v.text[F_NAME], v.text[F_ADDRESS],
                               v.text[F_LATITUDE], v.text[F_LONGITUDE],
                               v.text[F_ACTIVE] ? v.text[F_ACTIVE] : "true"));
    if (!res) return;
    if (db_ntuples(res) == 0) {
        reply_problem(r, 409, "duplicate", "a warehouse with code %s already exists",
                      v.text[F_CODE]);
        return;
    }
    reply_warehouse(r, 201, db_get(res, 0, 0));
}

void api_warehouses_patch(struct req *r)
{
    struct fv_values v;
    if (fv_parse_or_reply(r, NULL, wh_fields, ARRAY_LEN(wh_fields), &v) < 0) return;
    const char *scope = scope_text(r);
    if (scope && r->ids[0] != r->who.warehouse_id) {
        reply_not_found(r, "warehouse");
        return;
    }
    const char *id = id_text(r, r->ids[0]);
    struct sqlb b;
    sqlb_init(&b);
    buf_t sets;
    buf_init(&sets);
    if (sqlb_set_list(&b, &sets, wh_fields, &v, NULL) == 0) buf_puts(&sets, "id = id");
    sqlb_printf(&b, "UPDATE warehouses SET %s", sets.data);
    buf_free(&sets);
    SQLB_ADD(&b, " WHERE id = $1 RETURNING id", id);
    db_res *res = sqlb_or_reply(r, &b, DB_PLAN_EACH);
    sqlb_free(&b);
    if (!res) return;
    if (db_ntuples(res) == 0) {
        reply_not_found(r, "warehouse");
        return;
    }
    reply_warehouse(r, 200, id);
}
