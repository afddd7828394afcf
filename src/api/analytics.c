/* Analytics (one statement each of sql/queries/analytics.sql, days cut in
 * business_timezone, scoped managers see their warehouse) and driver
 * suggestions for an order.
 * Analytics answers are shared by every instance through Redis for
 * ANALYTICS_TTL seconds under the stats generation, which every write that
 * changes the figures bumps after its commit (ROUTE_STATS routes and the
 * cron jobs): an answer is at most that old and never misses a write.
 * The backtest's positions and sessions are not among those writes: it
 * replays past assignments, so a point sent since is at most that old. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deliveryd/api.h"
#include "deliveryd/settings.h"
#include "deliveryd/sharedcache.h"

#define ANALYTICS_TTL 5

static int dates_or_reply(struct req *r, const char **from, const char **to)
{
    static const char *const names[] = {"from", "to"};
    const char **outs[] = {from, to};
    for (int i = 0; i < 2; i++) {
        const char *v = req_query(r, names[i]);
        *outs[i] = NULL;
        if (!v) continue;
        if (strlen(v) != 10 || !looks_like_time(v))
            return reply_field_error(r, names[i], "must be a date YYYY-MM-DD");
        *outs[i] = v;
    }
    return 0;
}

/* One analytics request: its dates and scope (the statement's $1 $2 $3)
 * and its place in the shared cache. */
struct analytics {
    const char *from, *to, *scope;
    char key[96], gen[SHAREDCACHE_GEN_MAX];
};

/* true when answered already (from the cache, or a 422); else a is ready
 * for the statement and analytics_reply. */
static bool analytics_cached(struct req *r, const char *name, struct analytics *a)
{
    if (dates_or_reply(r, &a->from, &a->to) < 0) return true;
    a->scope = scope_text(r);
    snprintf(a->key, sizeof a->key, "an:%s:%s:%s:%s", name, a->from ? a->from : "",
             a->to ? a->to : "", a->scope ? a->scope : "all");
    size_t len;
    char *hit = sharedcache_get(STATS_GENERATION_KEY, a->key, a->gen, &len);
    if (!hit) return false;
    reply_json_text(r, 200, hit, len);
    free(hit);
    return true;
}

/* Replies the statement's answer and shares it (res NULL: replied). */
static void analytics_reply(struct req *r, const struct analytics *a, db_res *res)
{
    if (!res) return;
    sharedcache_put(a->key, a->gen, db_get(res, 0, 0), db_getlen(res, 0, 0), ANALYTICS_TTL);
    reply_row_json(r, 200, res);
}

void api_analytics_summary(struct req *r)
{
    struct analytics a;
    if (analytics_cached(r, "summary", &a)) return;
    analytics_reply(r, &a, db_q_or_reply(r, Q(analytics_summary)(a.from, a.to, a.scope)));
}

void api_analytics_drivers(struct req *r)
{
    struct analytics a;
    if (analytics_cached(r, "drivers", &a)) return;
    analytics_reply(r, &a, db_q_or_reply(r, Q(analytics_drivers)(a.from, a.to, a.scope)));
}

void api_analytics_suggestions(struct req *r)
{
    struct analytics a;
    if (analytics_cached(r, "suggestions", &a)) return;
    analytics_reply(r, &a, db_q_or_reply(r, Q(analytics_suggestions)(a.from, a.to, a.scope)));
}

/* The backtest of the suggestions (sql/queries/analytics.sql says how):
 * an analytics answer like the others, cached and scoped the same way. */
void api_analytics_suggestions_backtest(struct req *r)
{
    struct analytics a;
    if (analytics_cached(r, "backtest", &a)) return;
    analytics_reply(r, &a,
                    db_q_or_reply(r, Q(analytics_suggestion_backtest)(a.from, a.to, a.scope)));
}

/* The driver_cash_limit setting as decimal text: a money string as stored,
 * or a number of KWD (settings_validate takes both). */
static const char *cash_limit_text(struct req *r)
{
    json_t *v = req_own_json(r, settings_get("driver_cash_limit"));
    if (json_is_string(v)) return json_string_value(v);
    if (json_is_number(v)) return req_printf(r, "%.3f", json_number_value(v));
    return "100.000";
}

/* Every active driver is a candidate, ranked by suggestion_score() over the
 * suggestion_weights setting (sql/schema/suggestions.sql says how). */
void api_orders_suggestions(struct req *r)
{
    const char *limit = req_query(r, "limit");
    int64_t n = 3;
    if (limit && (!parse_i64(limit, strlen(limit), false, &n) || n < 1 || n > 10)) {
        reply_field_error(r, "limit", "must be between 1 and 10");
        return;
    }
    json_t *w = req_own_json(r, settings_get("suggestion_weights"));
    char *wtext = w ? json_dumps(w, JSON_COMPACT) : NULL;
    const char *weights = req_strdup(r, wtext ? wtext : "{}");
    free(wtext);
    enum { SUG_BODY, SUG_STATUS, SUG_ASSIGNABLE }; /* suggestions_for_order's columns */
    db_res *res = db_q_or_reply(
        r, Q(suggestions_for_order)(id_text(r, r->ids[0]), scope_text(r), weights,
                                    setting_text(r, "location_stale_seconds", 300),
                                    setting_text(r, "driver_offline_after_seconds", 600),
                                    id_text(r, n),
                                    setting_text(r, "suggestion_history_days", 90),
                                    cash_limit_text(r), setting_text(r, "sla_minutes", 120)));
    if (!res) return;
    /* an order that cannot be assigned any more gets no suggestions (nor a
     * remembered list that no decision can ever follow) */
    if (db_ntuples(res) == 1 && !db_isnull(res, 0, SUG_ASSIGNABLE) &&
        db_get(res, 0, SUG_ASSIGNABLE)[0] != 't') {
        reply_problem(r, 409, "invalid_transition",
                      "a %s order cannot be assigned, so it gets no suggestions",
                      db_get(res, 0, SUG_STATUS));
        return;
    }
    reply_row_json(r, 200, res);
}
