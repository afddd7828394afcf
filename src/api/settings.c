/* /settings: read (admin, manager), write one key (admin), each key typed
 * and range-checked by the table in service/settings.c. */
#include <stdlib.h>

#include "deliveryd/api.h"
#include "deliveryd/settings.h"

void api_settings_list(struct req *r)
{
    db_res *res = db_q_or_reply(r, Q(settings_list)());
    if (res) reply_row_json(r, 200, res);
}

void api_settings_put(struct req *r)
{
    const char *key = r->params[0];
    json_t *value = json_object_get(r->json, "value");
    const char *msg = NULL;
    int rc = settings_validate(key, value ? value : json_null(), &msg);
    if (rc == -1) {
        reply_problem(r, 404, "not_found", "no setting named %s", key);
        return;
    }
    if (!value) {
        reply_field_error(r, "value", "is required");
        return;
    }
    if (rc == -2) {
        reply_field_error(r, "value", msg);
        return;
    }
    char *text = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
    req_defer(r, free, text);
    /* business_timezone must name a zone PostgreSQL knows (IANA) */
    db_res *res = db_q_or_reply(r, Q(setting_put)(key, text, id_text(r, r->who.user_id)));
    if (!res) return;
    if (db_ntuples(res) == 0) {
        reply_field_error(r, "value", "is not an IANA time zone name");
        return;
    }
    settings_invalidate();
    reply_row_json(r, 200, res);
}
