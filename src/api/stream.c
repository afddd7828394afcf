/* POST /stream/ticket: a single-use, 30-second ticket that authenticates
 * GET /stream?ticket= for a browser EventSource, which cannot send an
 * Authorization header (the stream itself is http/stream.c). */
#include "deliveryd/api.h"
#include "deliveryd/stream_feed.h"

void api_stream_ticket(struct req *r)
{
    char t[65];
    if (stream_ticket_create(r->who.user_id, t) < 0) {
        reply_header(r, "Retry-After", "1");
        reply_problem(r, 503, "unavailable", "the database is unavailable; retry");
        return;
    }
    reply_json(r, 200, json_pack("{s:s,s:i}", "ticket", t, "expires_in", STREAM_TICKET_TTL));
}
