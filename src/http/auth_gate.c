/* Authentication and authorization for every route (filled in by the
 * identity work). */
#include "deliveryd/http_pipeline.h"

void auth_identify(struct req *r)
{
    (void)r;
}

int auth_require_or_reply(struct req *r)
{
    if (r->route->roles & ROLE_PUBLIC) return 0;
    return reply_problem(r, 401, "unauthorized", "authentication required");
}

int ratelimit_or_reply(struct req *r)
{
    (void)r;
    return 0;
}
