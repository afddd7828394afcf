/* /drivers: profiles (create user + profile in one statement), list, get,
 * patch, /drivers/me. Scoped managers see their warehouse's drivers only. */
#include <string.h>

#include "deliveryd/api.h"
#include "deliveryd/auth.h"
#include "deliveryd/principal.h"

static const char *const vehicles[] = {"motorcycle", "car", "van", NULL};

static const struct fv_field driver_fields[] = {
    {"username", FV_STRING, FV_NONBLANK, 0, 0, 100, NULL},
    {"password", FV_PASSWORD, 0, 0, 0, PASSWORD_MAX_LEN, NULL},
    {"full_name", FV_STRING, FV_NONBLANK, 0, 0, 200, NULL},
    {"phone", FV_PHONE, 0, 0, 0, 0, NULL},
    {"code", FV_STRING, FV_NONBLANK, 0, 0, 32, NULL},
    {"vehicle_type", FV_ENUM, 0, 0, 0, 0, vehicles},
    {"warehouse_id", FV_INT, 0, 1, 9e15, 0, NULL},
    {"is_active", FV_BOOL, 0, 0, 0, 0, NULL},
};
enum { F_USERNAME, F_PASSWORD, F_FULL_NAME, F_PHONE, F_CODE, F_VEHICLE, F_WAREHOUSE, F_ACTIVE };
/* the drivers-table columns of the fields above (NULL: not on drivers;
 * is_active is the user's, copied by migration 0015's trigger) */
static const char *const driver_columns[] = {NULL,   NULL,           NULL,           "phone",
                                             "code", "vehicle_type", "warehouse_id", NULL};

static void reply_driver(struct req *r, int status, const char *id)
{
    db_res *res = db_q_or_reply(r, Q(driver_get)(id));
    if (res) reply_row_json(r, status, res);
}

/* A scoped manager may only place drivers in their own warehouse. */
static int check_scope_warehouse(struct req *r, const char *warehouse_id)
{
    const char *scope = scope_text(r);
    if (scope && warehouse_id && strcmp(scope, warehouse_id) != 0)
        return reply_field_error(r, "warehouse_id", "is outside your warehouse");
    return 0;
}

void api_drivers_list(struct req *r)
{
    struct paging pg;
    const char *wh, *online, *active;
    if (paging_or_reply(r, &pg) < 0 || query_id_or_reply(r, "warehouse_id", &wh) < 0 ||
        query_bool_or_reply(r, "is_online", &online) < 0 ||
        query_bool_or_reply(r, "is_active", &active) < 0)
        return;
    struct sqlb b;
    sqlb_init(&b);
    SQLB_ADD(&b,
             "api_drivers v WHERE ($1::bigint IS NULL OR v.warehouse_id = $1)"
             " AND ($2::bool IS NULL OR v.is_online = $2) AND ($3::bool IS NULL OR v.is_active = $3)"
             " AND ($4::bigint IS NULL OR v.warehouse_id = $4)",
             wh, online, active, scope_text(r));
    reply_paged(r, &pg, "api_drivers", &b, "v.code, v.id");
}

void api_drivers_create(struct req *r)
{
    struct fv_values v;
    if (fv_parse_or_reply(r, NULL, driver_fields, ARRAY_LEN(driver_fields), &v) < 0) return;
    json_t *errs = json_array();
    for (int i = F_USERNAME; i <= F_WAREHOUSE; i++)
        if (!v.text[i])
            json_array_append_new(errs, json_pack("{s:s,s:s}", "field", driver_fields[i].name,
                                                  "message", "is required"));
    if (json_array_size(errs)) {
        reply_problem_errors(r, 422, "validation_failed", errs, "required fields are missing");
        return;
    }
    json_decref(errs);
    if (check_scope_warehouse(r, v.text[F_WAREHOUSE]) < 0) return;
    char hash[PASSWORD_HASH_LEN];
    if (password_hash(v.text[F_PASSWORD], hash) < 0) {
        reply_problem(r, 500, "internal", "hashing failed");
        return;
    }
    /* user and profile in one statement: both or neither */
    db_res *res = db_q_or_reply(
        r, Q(driver_create)(v.text[F_USERNAME], hash, v.text[F_FULL_NAME], v.text[F_PHONE],
                            v.text[F_CODE], v.text[F_VEHICLE], v.text[F_WAREHOUSE],
                            v.text[F_ACTIVE] ? v.text[F_ACTIVE] : "true"));
    if (!res) return;
    if (db_ntuples(res) == 0) {
        reply_field_error(r, "warehouse_id", "the warehouse is deactivated");
        return;
    }
    reply_driver(r, 201, db_get(res, 0, 0));
}

void api_drivers_get(struct req *r)
{
    db_res *res = db_q_or_reply(r, Q(driver_get_scoped)(id_text(r, r->ids[0]), scope_text(r)));
    if (res) reply_row_json(r, 200, res);
}

void api_drivers_patch(struct req *r)
{
    struct fv_values v;
    if (fv_parse_or_reply(r, NULL, driver_fields, ARRAY_LEN(driver_fields), &v) < 0) return;
    if (v.present[F_USERNAME] || v.present[F_PASSWORD]) {
        reply_field_error(r, v.present[F_USERNAME] ? "username" : "password",
                          "is changed through /users");
        return;
    }
    if (check_scope_warehouse(r, v.text[F_WAREHOUSE]) < 0) return;
    const char *id = id_text(r, r->ids[0]);
    if (db_begin_or_reply(r) < 0) return;
    /* the user row first (it carries the name, the login phone and the
     * active flag, which migration 0015's trigger copies to the driver;
     * a deactivation also ends the user's sessions, migration 0020):
     * users then drivers, the trigger's lock order */
    db_res *res = db_q_or_reply(
        r, Q(driver_update_user)(id, scope_text(r), v.text[F_FULL_NAME],
                                 v.present[F_PHONE] ? "t" : "f", v.text[F_PHONE],
                                 v.text[F_ACTIVE]));
    if (!res) return;
    if (db_ntuples(res) == 0) {
        reply_not_found(r, "driver");
        return;
    }
    const char *uid = db_get(res, 0, 0);
    struct sqlb b;
    sqlb_init(&b);
    buf_t sets;
    buf_init(&sets);
    if (sqlb_set_list(&b, &sets, driver_fields, &v, driver_columns) == 0)
        buf_puts(&sets, "id = id");
    sqlb_printf(&b, "UPDATE drivers SET %s", sets.data);
    buf_free(&sets);
    SQLB_ADD(&b, " WHERE id = $1", id);
    res = sqlb_or_reply(r, &b, DB_PLAN_EACH);
    sqlb_free(&b);
    if (!res || db_commit_or_reply(r) < 0) return;
    principal_invalidate(atoll(uid));
    reply_driver(r, 200, id);
}

void api_drivers_me(struct req *r)
{
    db_res *res = db_q_or_reply(r, Q(driver_get)(id_text(r, r->who.driver_id)));
    if (res) reply_row_json(r, 200, res);
}
