/* /notifications: the caller's own notifications. */
#include "deliveryd/api.h"

void api_notifications_list(struct req *r)
{
    struct paging pg;
    const char *unread;
    if (paging_or_reply(r, &pg) < 0 || query_bool_or_reply(r, "unread", &unread) < 0) return;
    const char *p[] = {id_text(r, r->who.user_id), unread, pg.size_s, pg.offset_s, pg.page_s};
    db_res *res = db_query_or_reply(
        r,
        "WITH f AS (SELECT id, created_at, body FROM api_notifications WHERE user_id = $1"
        "  AND ($2::bool IS NULL OR NOT $2 OR read_at IS NULL)),"
        " pg AS (SELECT * FROM f ORDER BY created_at DESC, id DESC LIMIT $3 OFFSET $4)"
        " SELECT json_build_object('items', coalesce((SELECT json_agg(body"
        "  ORDER BY created_at DESC, id DESC) FROM pg), '[]'::json),"
        " 'page', $5::int, 'page_size', $3::int, 'total', (SELECT count(*) FROM f))",
        5, p);
    if (res) reply_row_json(r, 200, res);
}

void api_notifications_read(struct req *r)
{
    const char *p[] = {id_text(r, r->ids[0]), id_text(r, r->who.user_id)};
    db_res *res = db_query_or_reply(
        r,
        "WITH u AS (UPDATE notifications SET read_at = coalesce(read_at, now())"
        "  WHERE id = $1 AND user_id = $2 RETURNING id)"
        " SELECT 1 FROM u",
        2, p);
    if (!res) return;
    if (db_ntuples(res) == 0) {
        reply_problem(r, 404, "not_found", "no such notification");
        return;
    }
    res = db_query_or_reply(r, "SELECT body FROM api_notifications WHERE id = $1", 1, p);
    if (res) reply_row_json(r, 200, res);
}

void api_notifications_read_all(struct req *r)
{
    const char *p[] = {id_text(r, r->who.user_id)};
    db_res *res = db_query_or_reply(
        r,
        "WITH u AS (UPDATE notifications SET read_at = now() WHERE user_id = $1"
        "  AND read_at IS NULL RETURNING 1) SELECT json_build_object('marked', count(*)) FROM u",
        1, p);
    if (res) reply_row_json(r, 200, res);
}
