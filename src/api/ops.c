/* Operational endpoints outside /api/v1: /health, /ready, /metrics. */
#include <stdlib.h>

#include "deliveryd/api.h"
#include "deliveryd/cache.h"
#include "deliveryd/db.h"
#include "deliveryd/metrics.h"

void api_health(struct req *r)
{
    reply_json(r, 200, json_pack("{s:s}", "status", "ok"));
}

void api_ready(struct req *r)
{
    bool db_up = db_ping();
    const char *redis = cache_state();
    if (!db_up) {
        reply_problem_extra(r, 503, "unavailable",
                            json_pack("{s:s,s:s}", "database", "down", "redis", redis),
                            "PostgreSQL is unreachable");
        return;
    }
    double lag;
    const char *replica = db_replica_state(&lag);
    reply_json(r, 200,
               json_pack("{s:s,s:s,s:s,s:s,s:o}", "status", "ready", "database", "up", "redis", redis,
                         "replica", replica, "replica_lag_seconds",
                         lag >= 0 ? json_real(lag) : json_null()));
}

void api_metrics(struct req *r)
{
    size_t len;
    char *text = metrics_render(&len);
    reply_bytes(r, 200, "text/plain; version=0.0.4", text, len);
    free(text);
}
