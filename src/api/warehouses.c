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

void api_warehouses_list(struct req *r)
{
    const char *active;
    if (query_bool_or_reply(r, "is_active", &active) < 0) return;
    const char *p[] = {active};
    db_res *res = db_query_or_reply(r,
                                    "SELECT coalesce(json_agg(body ORDER BY code), '[]'::json)"
                                    " FROM api_warehouses WHERE ($1::bool IS NULL OR is_active = $1)",
                                    1, p);
    if (res) reply_row_json(r, 200, res);
}

static void reply_warehouse(struct req *r, int status, const char *id)
{
    const char *p[] = {id};
    db_res *res = db_query_or_reply(r, "SELECT body FROM api_warehouses WHERE id = $1", 1, p);
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
    for (int i = 0; i < 2; i++)
        if (!v.text[i])
            json_array_append_new(
                errs, json_pack("{s:s,s:s}", "field", wh_fields[i].name, "message", "is required"));
    if (json_array_size(errs)) {
        reply_problem_errors(r, 422, "validation_failed", errs, "required fields are missing");
        return;
    }
    json_decref(errs);
    const char *p[] = {v.text[0], v.text[1], v.text[2], v.text[3], v.text[4],
                       v.text[5] ? v.text[5] : "true"};
    db_res *res = db_query_or_reply(
        r,
        "INSERT INTO warehouses (code, name, address, latitude, longitude, is_active)"
        " SELECT $1, $2, $3, $4, $5, $6"
        " WHERE NOT EXISTS (SELECT 1 FROM warehouses WHERE lower(code) = lower($1))"
        " RETURNING id",
        6, p);
    if (!res) return;
    if (db_ntuples(res) == 0) {
        reply_problem(r, 409, "duplicate", "a warehouse with code %s already exists", v.text[0]);
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
    buf_t sets;
    buf_init(&sets);
    const char *params[FV_MAX_FIELDS + 1];
    int np = 0;
    if (sql_set_list(&sets, wh_fields, &v, NULL, params, &np) == 0) buf_puts(&sets, "id = id");
    char *sql = req_printf(r, "UPDATE warehouses SET %s WHERE id = $%d RETURNING id", sets.data,
                           np + 1);
    buf_free(&sets);
    params[np] = id_text(r, r->ids[0]);
    db_res *res = db_query_or_reply(r, sql, np + 1, params);
    if (!res) return;
    if (db_ntuples(res) == 0) {
        reply_not_found(r, "warehouse");
        return;
    }
    reply_warehouse(r, 200, params[np]);
}
