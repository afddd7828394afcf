/* GET /api/v1/track/{token}: public tracking, nothing personal beyond the
 * driver's first name. */
#include "deliveryd/api.h"

void api_track(struct req *r)
{
    db_res *res = db_q_or_reply(r, Q(track_get)(r->params[0]));
    if (res) reply_row_json(r, 200, res);
}
