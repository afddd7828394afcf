/* POST /api/v1/webhooks/d365: signed order events from Dynamics 365.
 * Signature: sha256=hex(HMAC-SHA256(secret, timestamp "." raw body)),
 * timestamp within 300 s, each event id applied once. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "deliveryd/api.h"
#include "deliveryd/auth.h"
#include "deliveryd/config.h"
#include "deliveryd/import.h"
#include "deliveryd/orders.h"

#define SKEW_SECONDS 300

static bool signature_ok(const char *ts, const char *sig, const char *body, size_t len)
{
    if (strncmp(sig, "sha256=", 7) != 0) return false;
    unsigned char given[32];
    size_t glen = 0;
    if (sodium_hex2bin(given, sizeof given, sig + 7, strlen(sig + 7), NULL, &glen, NULL) != 0 ||
        glen != sizeof given)
        return false;
    unsigned char mac[32];
    hmac_sha256_ts(g_cfg.d365_webhook_secret, ts, body, len, mac);
    return sodium_memcmp(mac, given, sizeof mac) == 0;
}

/* order.cancelled: the state machine's cancel, as the system (no user). */
static int cancel_by_number(struct req *r, json_t *order, bool *applied, char *detail,
                            size_t dlen)
{
    const char *num = json_string_value(json_object_get(order, "order_number"));
    if (!num || !*num) return reply_field_error(r, "order.order_number", "is required");
    const char *reason = json_string_value(json_object_get(order, "cancel_reason"));
    db_res *res = db_q_or_reply(r, Q(webhook_order_by_number)(num));
    if (!res) return -1;
    if (db_ntuples(res) == 0) {
        *applied = false;
        snprintf(detail, dlen, "no order %s", num);
        return 0;
    }
    struct action_input in = {.ids = req_printf(r, "{%s}", db_get(res, 0, 0)),
                              .reason = reason && *reason ? reason : "cancelled in Dynamics 365"};
    db_res *out = order_action_or_reply(r, ACT_CANCEL, &in);
    if (!out) return -1;
    *applied = !db_isnull(out, 0, OA_BODY);
    if (*applied) {
        snprintf(detail, dlen, "cancelled order %s", num);
    } else {
        int status;
        const char *code;
        order_action_explain(ACT_CANCEL, &in, out, 0, &status, &code, detail, dlen);
    }
    return 0;
}

static void forget_event(const char *event_id)
{
    struct db_error err;
    db_res *res = db_run(Q(webhook_event_forget)(event_id), &err);
    db_res_free(res);
}

void api_webhook_d365(struct req *r)
{
    if (!g_cfg.d365_webhook_secret) {
        reply_problem(r, 503, "unavailable", "D365_WEBHOOK_SECRET is not configured");
        return;
    }
    const char *ts = req_header(r, "X-D365-Timestamp");
    const char *id = req_header(r, "X-D365-Event-Id");
    const char *sig = req_header(r, "X-D365-Signature");
    int64_t t;
    if (!ts || !id || !sig || !*id || strlen(id) > 200 || !utf8_valid(id) ||
        !parse_i64(ts, strlen(ts), false, &t)) {
        reply_problem(r, 401, "unauthorized", "signature headers are missing or malformed");
        return;
    }
    long now = (long)time(NULL);
    if (t < now - SKEW_SECONDS || t > now + SKEW_SECONDS ||
        !signature_ok(ts, sig, r->body.data ? r->body.data : "", r->body.len)) {
        reply_problem(r, 401, "unauthorized", "bad or stale signature");
        return;
    }
    json_error_t je;
    json_t *body = req_own_json(
        r, json_loadb(r->body.data ? r->body.data : "", r->body.len, JSON_REJECT_DUPLICATES, &je));
    if (!json_is_object(body)) {
        reply_problem(r, 400, "malformed_json", "the body must be a JSON object");
        return;
    }
    const char *event = json_string_value(json_object_get(body, "event"));
    json_t *order = json_object_get(body, "order");
    if (!event || (strcmp(event, "order.created") != 0 && strcmp(event, "order.updated") != 0 &&
                   strcmp(event, "order.cancelled") != 0)) {
        reply_field_error(r, "event", "must be order.created, order.updated or order.cancelled");
        return;
    }
    if (!json_is_object(order)) {
        reply_field_error(r, "order", "must be an object");
        return;
    }
    char *payload = json_dumps(body, JSON_COMPACT);
    req_defer(r, free, payload);
    db_res *ins = db_q_or_reply(r, Q(webhook_event_insert)(id, event, payload));
    if (!ins) return;
    if (db_ntuples(ins) == 0) {
        reply_json(r, 200, json_pack("{s:b,s:s}", "duplicate", 1, "event_id", id));
        return;
    }
    bool applied = false;
    char detail[200] = "";
    if (strcmp(event, "order.cancelled") == 0) {
        if (cancel_by_number(r, order, &applied, detail, sizeof detail) < 0) {
            forget_event(id); /* a retry of this event must be processed again */
            return;
        }
    } else {
        struct import_outcome out;
        bool partial = strcmp(event, "order.updated") == 0;
        if (import_upsert_one(order, partial, 0, &applied, detail, sizeof detail, &out) < 0) {
            forget_event(id);
            reply_problem_errors(r, out.status, out.code, out.errors, "%s", out.detail);
            return;
        }
    }
    if (!db_q_or_reply(r, Q(webhook_event_done)(id, applied ? "true" : "false", detail))) return;
    reply_json(r, 202, json_pack("{s:s,s:b,s:s}", "event_id", id, "applied", applied, "detail",
                                 detail));
}
