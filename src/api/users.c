/* /users: admin CRUD, deactivate, unlock. */
#include <string.h>

#include "deliveryd/api.h"
#include "deliveryd/auth.h"
#include "deliveryd/principal.h"

static const char *const roles[] = {"admin", "manager", "driver", NULL};

/* One table for create and patch; create requires what patch may omit. */
static const struct fv_field user_fields[] = {
    {"username", FV_STRING, FV_NONBLANK, 0, 0, 100, NULL},
    {"password", FV_PASSWORD, 0, 0, 0, PASSWORD_MAX_LEN, NULL},
    {"full_name", FV_STRING, FV_NONBLANK, 0, 0, 200, NULL},
    {"role", FV_ENUM, 0, 0, 0, 0, roles},
    {"warehouse_id", FV_INT, FV_NULLABLE, 1, 9e15, 0, NULL},
    {"phone", FV_PHONE, FV_NULLABLE, 0, 0, 0, NULL},
    {"email", FV_STRING, FV_NULLABLE | FV_NONBLANK, 0, 0, 254, NULL},
    {"is_active", FV_BOOL, 0, 0, 0, 0, NULL},
};
enum { F_USERNAME, F_PASSWORD, F_FULL_NAME, F_ROLE, F_WAREHOUSE, F_PHONE, F_EMAIL, F_ACTIVE };
static const char *const user_columns[] = {"username",  "password_hash", "full_name",
                                           "role",      "warehouse_id",  "phone",
                                           "email",     "is_active"};

static int parse_user_or_reply(struct req *r, struct fv_values *v, bool creating)
{
    json_t *errs = json_array();
    fv_parse_req(r, NULL, user_fields, ARRAY_LEN(user_fields), v, errs);
    if (creating) {
        static const int required[] = {F_USERNAME, F_PASSWORD, F_FULL_NAME, F_ROLE};
        for (size_t i = 0; i < ARRAY_LEN(required); i++)
            if (!v->present[required[i]])
                json_array_append_new(errs, json_pack("{s:s,s:s}", "field",
                                                      user_fields[required[i]].name, "message",
                                                      "is required"));
    }
    if (v->text[F_EMAIL] && !strchr(v->text[F_EMAIL], '@'))
        json_array_append_new(
            errs, json_pack("{s:s,s:s}", "field", "email", "message", "is not an email address"));
    if (fv_reply_errors(r, errs) < 0) return -1;
    if (v->text[F_PASSWORD]) {
        char *hash = req_alloc(r, PASSWORD_HASH_LEN);
        if (password_hash(v->text[F_PASSWORD], hash) < 0)
            return reply_problem(r, 500, "internal", "hashing failed");
        v->text[F_PASSWORD] = hash; /* the request still frees the plain text */
    }
    return 0;
}

void api_users_list(struct req *r)
{
    struct paging pg;
    const char *wh, *active;
    if (paging_or_reply(r, &pg) < 0 || query_id_or_reply(r, "warehouse_id", &wh) < 0 ||
        query_bool_or_reply(r, "is_active", &active) < 0)
        return;
    const char *role = req_query(r, "role");
    if (role && !role_bit(role)) {
        reply_field_error(r, "role", "must be admin, manager or driver");
        return;
    }
    struct sqlb b;
    sqlb_init(&b);
    SQLB_ADD(&b,
             "api_users v WHERE ($1::text IS NULL OR v.role = $1)"
             " AND ($2::bigint IS NULL OR v.warehouse_id = $2)"
             " AND ($3::bool IS NULL OR v.is_active = $3)",
             role, wh, active);
    reply_paged(r, &pg, "api_users", &b, "v.id");
}

void api_users_create(struct req *r)
{
    struct fv_values v;
    if (parse_user_or_reply(r, &v, true) < 0)
        return;
    struct sqlb b;
    sqlb_init(&b);
    buf_t cols, vals;
    buf_init(&cols);
    buf_init(&vals);
    for (size_t i = 0; i < v.n; i++) {
        if (!v.present[i]) continue;
        bool first = cols.len == 0;
        buf_printf(&cols, "%s%s", first ? "" : ", ", user_columns[i]);
        if (!first) buf_puts(&vals, ", ");
        sqlb_param_to(&b, &vals, v.text[i]);
    }
    sqlb_printf(&b, "INSERT INTO users (%s) VALUES (%s) RETURNING id", cols.data, vals.data);
    buf_free(&cols);
    buf_free(&vals);
    db_res *res = sqlb_or_reply(r, &b, DB_PLAN_EACH);
    sqlb_free(&b);
    if (!res) return;
    res = db_q_or_reply(r, Q(user_get)(db_get(res, 0, 0)));
    if (!res) return;
    reply_row_json(r, 201, res);
}

void api_users_get(struct req *r)
{
    db_res *res = db_q_or_reply(r, Q(user_get)(id_text(r, r->ids[0])));
    if (res) reply_row_json(r, 200, res);
}

/* After an UPDATE of the path's user returning its id (`res`, NULL after
 * the database's error was answered): the principal cache forgets the
 * user. False after a reply (404, or the database's error). */
static bool user_updated(struct req *r, db_res *res)
{
    if (!res) return false;
    principal_invalidate(r->ids[0]);
    if (db_ntuples(res) == 0) {
        reply_not_found(r, "user");
        return false;
    }
    return true;
}

/* An admin cannot take their own access away (demote, deactivate, delete
 * themselves): with one admin that would leave nobody to undo it. */
static int not_self_or_reply(struct req *r)
{
    if (r->ids[0] != r->who.user_id) return 0;
    return reply_problem(r, 409, "conflict",
                         "you cannot remove your own admin access; another admin can");
}

void api_users_patch(struct req *r)
{
    struct fv_values v;
    if (parse_user_or_reply(r, &v, false) < 0)
        return;
    bool demoting = v.text[F_ROLE] && strcmp(v.text[F_ROLE], "admin") != 0;
    bool deactivating = v.text[F_ACTIVE] && strcmp(v.text[F_ACTIVE], "false") == 0;
    if ((demoting || deactivating) && not_self_or_reply(r) < 0) return;
    struct sqlb b;
    sqlb_init(&b);
    buf_t sets;
    buf_init(&sets);
    if (sqlb_set_list(&b, &sets, user_fields, &v, user_columns) == 0) buf_puts(&sets, "id = id");
    if (v.present[F_PASSWORD]) buf_puts(&sets, ", password_changed_at = now()");
    sqlb_printf(&b, "WITH u AS (UPDATE users SET %s", sets.data);
    buf_free(&sets);
    SQLB_ADD(&b, " WHERE id = $1 RETURNING id)", id_text(r, r->ids[0]));
    /* a new password also ends the user's sessions, in the same statement
     * (a deactivation ends them in the database, migration 0020) */
    if (v.present[F_PASSWORD])
        sqlb_puts(&b, ", t AS (UPDATE refresh_tokens SET revoked_at = now()"
                      "  WHERE user_id IN (SELECT id FROM u) AND revoked_at IS NULL)");
    sqlb_puts(&b, " SELECT id FROM u");
    db_res *res = sqlb_or_reply(r, &b, DB_PLAN_EACH);
    sqlb_free(&b);
    if (user_updated(r, res)) api_users_get(r);
}

void api_users_delete(struct req *r)
{
    if (not_self_or_reply(r) < 0) return;
    if (user_updated(r, db_q_or_reply(r, Q(user_deactivate)(id_text(r, r->ids[0])))))
        reply_no_content(r);
}

void api_users_unlock(struct req *r)
{
    if (user_updated(r, db_q_or_reply(r, Q(user_unlock)(id_text(r, r->ids[0])))))
        api_users_get(r);
}
