/* GET /api/v1/track/{token}: public tracking, nothing personal beyond the
 * driver's first name. */
#include "deliveryd/api.h"

void api_track(struct req *r)
{
    const char *p[] = {r->params[0]};
    db_res *res = db_query_or_reply(
        r,
        "SELECT json_build_object('order_number', o.order_number, 'status', o.status,"
        " 'estimated_delivery_time', api_ts(o.estimated_delivery_time),"
        " 'driver_first_name', (SELECT split_part(btrim(u.full_name), ' ', 1) FROM drivers d"
        "  JOIN users u ON u.id = d.user_id WHERE d.id = o.driver_id),"
        " 'events', (SELECT coalesce(json_agg(json_build_object('status', h.to_status,"
        "  'at', api_ts(h.created_at)) ORDER BY h.id), '[]'::json)"
        "  FROM order_status_history h WHERE h.order_id = o.id))"
        " FROM orders o WHERE o.tracking_token = $1",
        1, p);
    if (res) reply_row_json(r, 200, res);
}
