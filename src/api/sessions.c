/* Work sessions: go online / offline (idempotent) and the session list.
 * Drivers silent for longer than driver_offline_after_seconds are shown
 * offline by the map; closing their session is the SLA cron job's work
 * (sessions_close_silent, the hook below). */
#include <string.h>

#include "deliveryd/api.h"
#include "deliveryd/microcache.h"

void api_sessions_online(struct req *r)
{
    static const struct fv_field f[] = {
        {"latitude", FV_NUMBER, FV_NULLABLE, -90, 90, 0, NULL},
        {"longitude", FV_NUMBER, FV_NULLABLE, -180, 180, 0, NULL},
    };
    enum { F_LATITUDE, F_LONGITUDE };
    struct fv_values v;
    if (fv_parse_or_reply(r, NULL, f, ARRAY_LEN(f), &v) < 0) return;
    if (!v.text[F_LATITUDE] != !v.text[F_LONGITUDE]) {
        reply_field_error(r, v.text[F_LATITUDE] ? "longitude" : "latitude",
                          "latitude and longitude come together");
        return;
    }
    const char *driver = id_text(r, r->who.driver_id);
    /* the partial unique index allows one open session: a concurrent
     * second "online" inserts nothing and reads the open one */
    db_res *res = db_q_or_reply(
        r, Q(work_session_online)(driver, v.text[F_LATITUDE], v.text[F_LONGITUDE]));
    if (!res) return;
    microcache_clear("map:");
    if (db_ntuples(res) == 1) {
        reply_row_json(r, 201, res);
        return;
    }
    res = db_q_or_reply(r, Q(work_session_open)(driver));
    if (res) reply_row_json(r, 200, res);
}

void api_sessions_offline(struct req *r)
{
    const char *driver = id_text(r, r->who.driver_id);
    db_res *res = db_q_or_reply(r, Q(work_session_offline)(driver));
    if (!res) return;
    microcache_clear("map:");
    if (db_ntuples(res) == 1) {
        reply_row_json(r, 200, res);
        return;
    }
    /* already offline: the last closed session, or nothing at all */
    res = db_q_or_reply(r, Q(work_session_last)(driver));
    if (!res) return;
    if (db_ntuples(res) == 0) reply_no_content(r);
    else reply_row_json(r, 200, res);
}

void api_sessions_list(struct req *r)
{
    struct paging pg;
    const char *from, *to;
    if (paging_or_reply(r, &pg) < 0 || query_time_or_reply(r, "from", &from) < 0 ||
        query_time_or_reply(r, "to", &to) < 0)
        return;
    const char *driver = id_text(r, r->ids[0]);
    db_res *d = db_q_or_reply(r, Q(driver_in_scope)(driver, scope_text(r)));
    if (!d) return;
    if (db_ntuples(d) == 0) {
        reply_not_found(r, "driver");
        return;
    }
    struct sqlb b;
    sqlb_init(&b);
    SQLB_ADD(&b,
             "work_sessions v WHERE v.driver_id = $1"
             " AND ($2::text IS NULL OR coalesce(v.ended_at, now()) >= (SELECT query_time($2)))"
             " AND ($3::text IS NULL OR v.started_at < (SELECT query_time($3)))",
             driver, from, to);
    reply_paged(r, &pg, "api_work_sessions", &b, "v.started_at DESC, v.id DESC");
}
