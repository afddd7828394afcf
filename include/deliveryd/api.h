/* Route handlers (api/ files). Each parses and validates input, checks
 * what the route table cannot, calls the service layer and replies. */
#ifndef DELIVERYD_API_H
#define DELIVERYD_API_H

#include "deliveryd/http.h"

/* ops.c */
void api_health(struct req *r);
void api_ready(struct req *r);
void api_metrics(struct req *r);


/* common.c: helpers every handler shares */
#include "deliveryd/db.h"
#include "deliveryd/db_reply.h"
#include "deliveryd/sqlb.h"

struct paging {
    long page, size;
    char page_s[24], size_s[24], offset_s[24];
};
/** ?page & ?page_size, capped by the max_page_size setting. */
int paging_or_reply(struct req *r, struct paging *p) MUSTCHECK;
/**
 * The one paged list: replies {"items","page","page_size","total"} for the
 * rows of `from_where` ("api_users v WHERE ...", built with its values,
 * alias v, which must have an id) in `order_by` order, rendering each page
 * row's `body` from `view` (joined on id; bodies are built for the page
 * only). Frees from_where.
 */
void reply_paged(struct req *r, const struct paging *pg, const char *view, struct sqlb *from_where,
                 const char *order_by);
/** Decimal text of an id, owned by the request. */
const char *id_text(struct req *r, int64_t id);
/** An integer setting as decimal text owned by the request (SQL parameter). */
const char *setting_text(struct req *r, const char *key, long def);
/** The caller's warehouse scope as text, or NULL (admins, unscoped managers). */
const char *scope_text(struct req *r);
/** The caller's driver id as text when the caller is a driver, else NULL
 * (the "own" of the visibility rules). */
const char *own_driver_text(struct req *r);
/** Replies with the JSON text in the first column of the first row; 404
 * not_found when there is no row. */
void reply_row_json(struct req *r, int status, db_res *res);
/** Optional query argument: an id, a boolean or an RFC 3339 time.
 * *out NULL when absent; -1 after a 422 naming the parameter. */
int query_id_or_reply(struct req *r, const char *name, const char **out) MUSTCHECK;
int query_bool_or_reply(struct req *r, const char *name, const char **out) MUSTCHECK;
int query_time_or_reply(struct req *r, const char *name, const char **out) MUSTCHECK;

/* auth.c */
void api_auth_login(struct req *r);
void api_auth_refresh(struct req *r);
void api_auth_logout(struct req *r);
void api_auth_me(struct req *r);
void api_auth_password(struct req *r);
/* users.c */
void api_users_list(struct req *r);
void api_users_create(struct req *r);
void api_users_get(struct req *r);
void api_users_patch(struct req *r);
void api_users_delete(struct req *r);
void api_users_unlock(struct req *r);
/* warehouses.c */
void api_warehouses_list(struct req *r);
void api_warehouses_create(struct req *r);
void api_warehouses_patch(struct req *r);
/* drivers.c */
void api_drivers_list(struct req *r);
void api_drivers_create(struct req *r);
void api_drivers_get(struct req *r);
void api_drivers_patch(struct req *r);
void api_drivers_me(struct req *r);
/* orders.c, order_actions.c */
void api_orders_create(struct req *r);
void api_orders_get(struct req *r);
void api_orders_history(struct req *r);
void api_orders_list(struct req *r);
void api_orders_patch(struct req *r);
void api_orders_assign(struct req *r);
void api_orders_unassign(struct req *r);
void api_orders_pickup(struct req *r);
void api_orders_deliver(struct req *r);
void api_orders_fail(struct req *r);
void api_orders_cancel(struct req *r);
void api_orders_requeue(struct req *r);
void api_orders_return(struct req *r);
void api_orders_batch_assign(struct req *r);
void api_orders_batch_cancel(struct req *r);
void api_orders_batch_pickup(struct req *r);
void api_orders_batch_delivery(struct req *r);
/* locations.c */
void api_locations_post(struct req *r);
void api_locations_map(struct req *r);
void api_locations_trail(struct req *r);
/* sessions.c */
void api_sessions_online(struct req *r);
void api_sessions_offline(struct req *r);
void api_sessions_list(struct req *r);
/* payments.c */
void api_payments_record(struct req *r);
void api_payments_list(struct req *r);
void api_payments_remit(struct req *r);
void api_payments_settle(struct req *r);
void api_drivers_cash(struct req *r);
/* cron.c */
void api_cron(struct req *r);
/* notifications.c */
void api_notifications_list(struct req *r);
void api_notifications_read(struct req *r);
void api_notifications_read_all(struct req *r);
/* track.c */
void api_track(struct req *r);
/* track_page.c: GET /t/{token}, the customer's HTML page */
void api_track_page(struct req *r);
/* analytics.c */
void api_analytics_summary(struct req *r);
void api_analytics_drivers(struct req *r);
void api_analytics_suggestions(struct req *r);
void api_analytics_suggestions_backtest(struct req *r);
void api_orders_suggestions(struct req *r);
/* imports.c, export.c, webhook.c */
void api_imports_create(struct req *r);
void api_imports_list(struct req *r);
void api_imports_get(struct req *r);
void api_orders_export(struct req *r);
void api_webhook_d365(struct req *r);
/* webhooks_out.c */
void api_webhook_subs_create(struct req *r);
void api_webhook_subs_list(struct req *r);
void api_webhook_subs_patch(struct req *r);
void api_webhook_subs_delete(struct req *r);
void api_webhook_sub_deliveries(struct req *r);

/* the live stream: GET /stream is http/stream.c's (stream.h) */
void api_stream_ticket(struct req *r);
void api_webhook_delivery_retry(struct req *r);
/* order_actions.c: order_action_run as `r`'s caller; the result is owned
 * by the request; NULL after replying. */
#include "deliveryd/orders.h"
struct db_res *order_action_or_reply(struct req *r, enum order_action act,
                                     const struct action_input *in) MUSTCHECK;
/* proofs.c */
void api_proofs_create(struct req *r);
void api_proofs_get(struct req *r);
void api_files_get(struct req *r);
/* settings.c */
void api_settings_list(struct req *r);
void api_settings_put(struct req *r);


#include "deliveryd/fields.h"
struct sqlb;
/** Appends "col = $k, ..." for every present field of v (columns named as
 * the fields, or through `columns` when given, NULL entries skipped) to
 * `out`, the values registered in b. Returns how many columns were set.
 * Column names come from our tables, never from the client. */
int sqlb_set_list(struct sqlb *b, buf_t *out, const struct fv_field *f, const struct fv_values *v,
                  const char *const *columns);

#endif
