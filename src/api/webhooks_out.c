/* /webhooks/subscriptions and /webhooks/deliveries (admin): who receives
 * our events, and what became of each delivery. Sending is the worker's
 * (service/webhook_worker.c); which event a subscription takes is
 * webhook_event_matches() in sql/schema/webhooks.sql. */
#include <sodium.h>
#include <string.h>

#include "deliveryd/api.h"
#include "deliveryd/auth.h"
#include "deliveryd/config.h"
#include "deliveryd/outbound.h"

/* The event types of API.md "Outbound events" and "Customer messages"
 * (the events table's writers), and the prefixes a pattern may take. */
static const char *const event_types[] = {
    "order.created",  "order.updated",  "order.pending",    "order.assigned",
    "order.picked_up", "order.delivered", "order.failed",   "order.cancelled",
    "order.returned", "payment.recorded", "payment.remitted", "payment.settled",
    "import.completed", "customer.out_for_delivery", "customer.delivered",
    "customer.delivery_failed", NULL};
static const char *const event_prefixes[] = {"order.*", "payment.*", "import.*", "customer.*", "*",
                                             NULL};
#define MAX_PATTERNS 64

static const struct fv_field sub_fields[] = {
    {"url", FV_STRING, FV_NONBLANK, 0, 0, OUTBOUND_URL_MAX, NULL},
    {"description", FV_STRING, FV_NULLABLE, 0, 0, 500, NULL},
    {"is_active", FV_BOOL, 0, 0, 0, 0, NULL},
};
enum { F_URL, F_DESCRIPTION, F_ACTIVE };

static bool known_pattern(const char *p)
{
    for (const char *const *t = event_types; *t; t++)
        if (strcmp(*t, p) == 0) return true;
    for (const char *const *t = event_prefixes; *t; t++)
        if (strcmp(*t, p) == 0) return true;
    return false;
}

/* `events`: a non-empty array of known patterns, as a text[] literal owned
 * by the request (duplicates dropped). NULL with an error appended. */
static const char *patterns_text(struct req *r, const json_t *v, json_t *errors)
{
    if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > MAX_PATTERNS) {
        fv_add_error(errors, "events", "must be a non-empty array of at most 64 event types or "
                                       "patterns (order.*, payment.*, import.*, customer.*, *)");
        return NULL;
    }
    buf_t b;
    buf_init(&b);
    buf_puts(&b, "{");
    size_t i, n = 0;
    json_t *e;
    json_array_foreach(v, i, e) {
        const char *p = json_string_value(e);
        if (!p || !known_pattern(p)) {
            fv_add_error(errors, "events",
                         req_printf(r, "item %zu is not a known event type or pattern", i));
            buf_free(&b);
            return NULL;
        }
        bool dup = false;
        for (size_t k = 0; k < i; k++)
            if (strcmp(json_string_value(json_array_get(v, k)), p) == 0) dup = true;
        if (dup) continue;
        buf_printf(&b, "%s%s", n++ ? "," : "", p); /* [a-z_.*]: nothing to quote */
    }
    buf_puts(&b, "}");
    const char *out = req_strdup(r, b.data);
    buf_free(&b);
    return out;
}

/* Parses the body of POST (create) or PATCH; 422 listing every bad field. */
static int parse_sub_or_reply(struct req *r, bool create, struct fv_values *v,
                              const char **patterns)
{
    json_t *errors = json_array();
    fv_parse_req(r, r->json, sub_fields, ARRAY_LEN(sub_fields), v, errors);
    *patterns = NULL;
    const json_t *ev = json_object_get(r->json, "events");
    if (ev) *patterns = patterns_text(r, ev, errors);
    else if (create) fv_add_error(errors, "events", "is required");
    if (create && !v->present[F_URL]) fv_add_error(errors, "url", "is required");
    if (v->text[F_URL] && !v->invalid[F_URL]) {
        char why[256];
        if (outbound_url_check(v->text[F_URL], g_cfg.webhook_allow_private != 0, why,
                               sizeof why) < 0)
            fv_add_error(errors, "url", why);
    }
    return fv_reply_errors(r, errors);
}

void api_webhook_subs_create(struct req *r)
{
    struct fv_values v;
    const char *patterns;
    if (parse_sub_or_reply(r, true, &v, &patterns) < 0) return;
    char secret[65];
    random_hex32(secret);
    db_res *res = db_q_or_reply(r, Q(webhook_sub_create)(v.text[F_URL], patterns,
                                                          v.text[F_DESCRIPTION], secret,
                                                          v.text[F_ACTIVE] ? v.text[F_ACTIVE]
                                                                           : "true"));
    sodium_memzero(secret, sizeof secret);
    if (res) reply_row_json(r, 201, res);
}

void api_webhook_subs_list(struct req *r)
{
    db_res *res = db_q_or_reply(r, Q(webhook_sub_list)());
    if (res) reply_row_json(r, 200, res);
}

void api_webhook_subs_patch(struct req *r)
{
    struct fv_values v;
    const char *patterns;
    if (parse_sub_or_reply(r, false, &v, &patterns) < 0) return;
    const char *id = id_text(r, r->ids[0]);
    db_res *res = db_q_or_reply(
        r, Q(webhook_sub_patch)(id, v.text[F_URL], patterns, v.text[F_ACTIVE],
                                v.present[F_DESCRIPTION] ? "true" : "false",
                                v.text[F_DESCRIPTION]));
    if (!res) return;
    if (db_ntuples(res) == 0) {
        reply_not_found(r, "webhook subscription");
        return;
    }
    res = db_q_or_reply(r, Q(webhook_sub_get)(id));
    if (res) reply_row_json(r, 200, res);
}

void api_webhook_subs_delete(struct req *r)
{
    db_res *res = db_q_or_reply(r, Q(webhook_sub_delete)(id_text(r, r->ids[0])));
    if (!res) return;
    if (db_ntuples(res) == 0) {
        reply_not_found(r, "webhook subscription");
        return;
    }
    reply_no_content(r);
}

void api_webhook_sub_deliveries(struct req *r)
{
    struct paging pg;
    if (paging_or_reply(r, &pg) < 0) return;
    const char *status = req_query(r, "status");
    if (status && strcmp(status, "pending") != 0 && strcmp(status, "delivered") != 0 &&
        strcmp(status, "dead") != 0) {
        reply_field_error(r, "status", "must be pending, delivered or dead");
        return;
    }
    const char *id = id_text(r, r->ids[0]);
    db_res *sub = db_q_or_reply(r, Q(webhook_sub_get)(id));
    if (!sub) return;
    if (db_ntuples(sub) == 0) {
        reply_not_found(r, "webhook subscription");
        return;
    }
    struct sqlb b;
    sqlb_init(&b);
    SQLB_ADD(&b,
             "webhook_deliveries v WHERE v.subscription_id = $1"
             " AND ($2::text IS NULL OR v.status = $2)",
             id, status);
    reply_paged(r, &pg, "api_webhook_deliveries", &b, "v.id DESC");
}

void api_webhook_delivery_retry(struct req *r)
{
    const char *id = id_text(r, r->ids[0]);
    db_res *res = db_q_or_reply(r, Q(webhook_delivery_retry)(id));
    if (!res) return;
    if (db_isnull(res, 0, 1)) {
        reply_not_found(r, "webhook delivery");
        return;
    }
    if (strcmp(db_get(res, 0, 0), "1") != 0) {
        reply_problem(r, 409, "conflict", "delivery %s is %s; only a dead delivery is retried", id,
                      db_get(res, 0, 1));
        return;
    }
    res = db_q_or_reply(r, Q(webhook_delivery_get)(id));
    if (res) reply_row_json(r, 200, res);
}
