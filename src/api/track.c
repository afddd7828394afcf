/* GET /api/v1/track/{token}: public tracking, nothing personal beyond the
 * driver's first name. */
#include "deliveryd/api.h"

/* white space for the first name: ASCII, no-break, the U+2000 block,
 * narrow no-break, medium mathematical, ideographic, BOM (regex escapes) */
#define TRACK_SPACE_CHARS "\\s\\u00a0\\u2000-\\u200b\\u202f\\u205f\\u3000\\ufeff"
#define TRACK_SPACE "[" TRACK_SPACE_CHARS "]"

void api_track(struct req *r)
{
    const char *p[] = {r->params[0]};
    db_res *res = db_query_or_reply(
        r,
        "SELECT json_build_object('order_number', o.order_number, 'status', o.status,"
        " 'estimated_delivery_time', api_ts(o.estimated_delivery_time),"
        /* the first word: names pasted from spreadsheets carry no-break
         * and other Unicode spaces, which split_part(' ') did not split on,
         * so the whole name came out; none for an order never or no longer
         * in a driver's hands */
        " 'driver_first_name', (SELECT (regexp_match(u.full_name,"
        "   '^" TRACK_SPACE "*([^" TRACK_SPACE_CHARS "]+)'))[1] FROM drivers d"
        "  JOIN users u ON u.id = d.user_id WHERE d.id = o.driver_id"
        "  AND o.status NOT IN ('pending', 'cancelled')),"
        " 'events', (SELECT coalesce(json_agg(json_build_object('status', h.to_status,"
        "  'at', api_ts(h.created_at)) ORDER BY h.id), '[]'::json)"
        "  FROM order_status_history h WHERE h.order_id = o.id))"
        " FROM orders o WHERE o.tracking_token = $1",
        1, p);
    if (res) reply_row_json(r, 200, res);
}
