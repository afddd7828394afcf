/* Helpers shared by the handlers: paging, scope, query arguments. */
#include <stdio.h>
#include <string.h>

#include "deliveryd/api.h"
#include "deliveryd/sqlb.h"
#include "deliveryd/fields.h"
#include "deliveryd/settings.h"

int paging_or_reply(struct req *r, struct paging *p)
{
    long max = settings_int("max_page_size", 200);
    p->page = 1;
    p->size = max < 50 ? max : 50;
    const char *pg = req_query(r, "page"), *ps = req_query(r, "page_size");
    int64_t v;
    if (pg) {
        if (!parse_i64(pg, strlen(pg), false, &v) || v < 1 || v > 1000000)
            return reply_field_error(r, "page", "must be a positive integer");
        p->page = (long)v;
    }
    if (ps) {
        if (!parse_i64(ps, strlen(ps), false, &v) || v < 1)
            return reply_field_error(r, "page_size", "must be a positive integer");
        p->size = v > max ? max : (long)v;
    }
    snprintf(p->page_s, sizeof p->page_s, "%ld", p->page);
    snprintf(p->size_s, sizeof p->size_s, "%ld", p->size);
    snprintf(p->offset_s, sizeof p->offset_s, "%ld", (p->page - 1) * p->size);
    return 0;
}

const char *id_text(struct req *r, int64_t id)
{
    return req_printf(r, "%ld", (long)id);
}

const char *setting_text(struct req *r, const char *key, long def)
{
    return req_printf(r, "%ld", settings_int(key, def));
}

const char *scope_text(struct req *r)
{
    if (r->who.role == ROLE_MANAGER && r->who.warehouse_id > 0)
        return id_text(r, r->who.warehouse_id);
    return NULL;
}

void reply_row_json(struct req *r, int status, db_res *res)
{
    if (db_ntuples(res) == 0 || db_isnull(res, 0, 0)) {
        reply_not_found(r, "resource");
        return;
    }
    reply_json_text(r, status, db_get(res, 0, 0), db_getlen(res, 0, 0));
}

int query_id_or_reply(struct req *r, const char *name, const char **out)
{
    *out = NULL;
    const char *v = req_query(r, name);
    if (!v) return 0;
    int64_t n;
    if (!parse_i64(v, strlen(v), false, &n) || n <= 0)
        return reply_field_error(r, name, "must be a positive integer id");
    *out = id_text(r, n);
    return 0;
}

int query_bool_or_reply(struct req *r, const char *name, const char **out)
{
    *out = NULL;
    const char *v = req_query(r, name);
    if (!v) return 0;
    if (strcmp(v, "true") == 0 || strcmp(v, "1") == 0) *out = "true";
    else if (strcmp(v, "false") == 0 || strcmp(v, "0") == 0) *out = "false";
    else return reply_field_error(r, name, "must be true or false");
    return 0;
}

int query_time_or_reply(struct req *r, const char *name, const char **out)
{
    *out = NULL;
    const char *v = req_query(r, name);
    if (!v) return 0;
    if (strlen(v) > 40 || !looks_like_time(v))
        return reply_field_error(r, name, "must be a date or an RFC 3339 time");
    *out = v;
    return 0;
}

int sqlb_set_list(struct sqlb *b, buf_t *out, const struct fv_field *f, const struct fv_values *v,
                  const char *const *columns)
{
    int set = 0;
    for (size_t i = 0; i < v->n; i++) {
        if (!v->present[i]) continue;
        const char *col = columns ? columns[i] : f[i].name;
        if (!col) continue;
        buf_printf(out, "%s%s = ", set ? ", " : "", col);
        sqlb_param_to(b, out, v->text[i]);
        set++;
    }
    return set;
}

const char *own_driver_text(struct req *r)
{
    return r->who.role == ROLE_DRIVER ? id_text(r, r->who.driver_id) : NULL;
}

void reply_paged(struct req *r, const struct paging *pg, const char *view, struct sqlb *from_where,
                 const char *order_by)
{
    struct sqlb b;
    sqlb_init(&b);
    sqlb_printf(&b, "WITH f AS (SELECT v.id, row_number() OVER (ORDER BY %s) AS rn FROM ", order_by);
    /* the filter's own values first, then the page's */
    sqlb_add(&b, from_where->sql.data, from_where->np, from_where->params);
    sqlb_free(from_where);
    SQLB_ADD(&b,
             "), pg AS (SELECT id, rn FROM f WHERE rn > $2::bigint AND rn <= $2::bigint + $1::bigint)"
             " SELECT json_build_object('items', coalesce((SELECT json_agg(b.body ORDER BY pg.rn)",
             pg->size_s, pg->offset_s);
    sqlb_printf(&b, "  FROM pg JOIN %s b ON b.id = pg.id), '[]'::json),", view);
    SQLB_ADD(&b, " 'page', $1::int, 'page_size', $2::int, 'total', (SELECT count(*) FROM f))",
             pg->page_s, pg->size_s);
    db_res *res = sqlb_or_reply(r, &b, DB_PLAN_EACH);
    sqlb_free(&b);
    if (res) reply_row_json(r, 200, res);
}
