/* /notifications: the caller's own notifications. */
#include "deliveryd/api.h"

void api_notifications_list(struct req *r)
{
    struct paging pg;
    const char *unread;
    if (paging_or_reply(r, &pg) < 0 || query_bool_or_reply(r, "unread", &unread) < 0) return;
    struct sqlb b;
    sqlb_init(&b);
    SQLB_ADD(&b,
             "notifications v WHERE v.user_id = $1"
             " AND ($2::bool IS NULL OR NOT $2 OR v.read_at IS NULL)",
             id_text(r, r->who.user_id), unread);
    reply_paged(r, &pg, "api_notifications", &b, "v.created_at DESC, v.id DESC");
}

void api_notifications_read(struct req *r)
{
    const char *id = id_text(r, r->ids[0]);
    db_res *res = db_q_or_reply(r, Q(notification_mark_read)(id, id_text(r, r->who.user_id)));
    if (!res) return;
    if (db_ntuples(res) == 0) {
        reply_not_found(r, "notification");
        return;
    }
    res = db_q_or_reply(r, Q(notification_get)(id));
    if (res) reply_row_json(r, 200, res);
}

void api_notifications_read_all(struct req *r)
{
    db_res *res = db_q_or_reply(r, Q(notification_mark_all_read)(id_text(r, r->who.user_id)));
    if (res) reply_row_json(r, 200, res);
}
