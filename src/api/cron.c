/* POST /api/v1/cron/{job}: the cron jobs over HTTP (Bearer CRON_SECRET,
 * checked by the route's ROLE_CRON in the auth gate). */
#include <stdlib.h>
#include <string.h>

#include "deliveryd/api.h"
#include "deliveryd/cron.h"

void api_cron(struct req *r)
{
    char *out = NULL;
    struct db_error err;
    int rc = cron_run(r->params[0], &out, &err);
    if (rc == -2) {
        reply_problem(r, 404, "not_found", "no cron job named %s", r->params[0]);
        return;
    }
    if (rc < 0) {
        db_reply_error(r, &err);
        return;
    }
    reply_json_text(r, 200, out, strlen(out));
    free(out);
}
