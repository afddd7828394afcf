/* The one router table: method + pattern -> handler, roles, body limit,
 * flags. Order matters only for readability: {id} matches digits only, so
 * "/drivers/me" and "/drivers/{id}" cannot collide. */
#include "deliveryd/api.h"
#include "deliveryd/stream.h"

#define V1 "/api/v1"
#define J ROUTE_JSON
#define S ROUTE_STATS /* see reply_analytics in analytics.c */

/* J only where the handler reads a body: a route that takes none (cron,
 * offline, marking notifications read) ignores whatever is sent, so
 * `curl -d ''` (form-encoded) is not a 415. */
const struct route g_routes[] = {
    /* operations, outside /api/v1 and the rate limit */
    {"GET", "/health", api_health, ROLE_PUBLIC, 0, ROUTE_NO_LIMIT},
    {"GET", "/ready", api_ready, ROLE_PUBLIC, 0, ROUTE_NO_LIMIT},
    {"GET", "/metrics", api_metrics, ROLE_PUBLIC, 0, ROUTE_NO_LIMIT},

    /* auth */
    {"POST", V1 "/auth/login", api_auth_login, ROLE_PUBLIC, 0, J},
    {"POST", V1 "/auth/refresh", api_auth_refresh, ROLE_PUBLIC, 0, J},
    {"POST", V1 "/auth/logout", api_auth_logout, ROLE_PUBLIC, 0, J},
    {"GET", V1 "/auth/me", api_auth_me, ROLE_ANY, 0, 0},
    {"POST", V1 "/auth/password", api_auth_password, ROLE_ANY, 0, J},

    /* users */
    {"GET", V1 "/users", api_users_list, ROLE_ADMIN, 0, 0},
    {"POST", V1 "/users", api_users_create, ROLE_ADMIN, 0, J},
    {"GET", V1 "/users/{id}", api_users_get, ROLE_ADMIN, 0, 0},
    {"PATCH", V1 "/users/{id}", api_users_patch, ROLE_ADMIN, 0, J | S},
    {"DELETE", V1 "/users/{id}", api_users_delete, ROLE_ADMIN, 0, S},
    {"POST", V1 "/users/{id}/unlock", api_users_unlock, ROLE_ADMIN, 0, 0},

    /* warehouses */
    {"GET", V1 "/warehouses", api_warehouses_list, ROLE_ANY, 0, 0},
    {"POST", V1 "/warehouses", api_warehouses_create, ROLE_STAFF, 0, J},
    {"PATCH", V1 "/warehouses/{id}", api_warehouses_patch, ROLE_STAFF, 0, J},

    /* drivers */
    {"GET", V1 "/drivers", api_drivers_list, ROLE_STAFF, 0, 0},
    {"POST", V1 "/drivers", api_drivers_create, ROLE_STAFF, 0, J | S},
    {"GET", V1 "/drivers/me", api_drivers_me, ROLE_DRIVER, 0, 0},
    {"POST", V1 "/drivers/me/online", api_sessions_online, ROLE_DRIVER, 0, J | S},
    {"POST", V1 "/drivers/me/offline", api_sessions_offline, ROLE_DRIVER, 0, S},
    {"POST", V1 "/drivers/location", api_locations_post, ROLE_DRIVER, 0, J},
    {"GET", V1 "/drivers/locations", api_locations_map, ROLE_STAFF, 0, 0},
    {"GET", V1 "/drivers/{id}", api_drivers_get, ROLE_STAFF, 0, 0},
    {"PATCH", V1 "/drivers/{id}", api_drivers_patch, ROLE_STAFF, 0, J | S},
    {"GET", V1 "/drivers/{id}/sessions", api_sessions_list, ROLE_STAFF, 0, 0},
    {"GET", V1 "/drivers/{id}/locations", api_locations_trail, ROLE_STAFF, 0, 0},
    {"GET", V1 "/drivers/{id}/cash", api_drivers_cash, ROLE_ANY, 0, 0},

    /* payments */
    {"GET", V1 "/payments", api_payments_list, ROLE_ANY, 0, 0},
    {"POST", V1 "/payments/remit", api_payments_remit, ROLE_STAFF, 0, J | S},
    {"POST", V1 "/payments/settle", api_payments_settle, ROLE_STAFF, 0, J | S},

    /* orders */
    {"GET", V1 "/orders", api_orders_list, ROLE_ANY, 0, 0},
    {"POST", V1 "/orders", api_orders_create, ROLE_STAFF, 0, J | S},
    {"POST", V1 "/orders/batch-assign", api_orders_batch_assign, ROLE_STAFF, 0, J | S},
    {"POST", V1 "/orders/batch-cancel", api_orders_batch_cancel, ROLE_STAFF, 0, J | S},
    {"POST", V1 "/orders/batch-pickup", api_orders_batch_pickup, ROLE_ANY, 0, J | S},
    {"POST", V1 "/orders/batch-delivery", api_orders_batch_delivery, ROLE_ANY, 0, J | S},
    {"POST", V1 "/orders/import", api_imports_create, ROLE_STAFF, 11 * 1024 * 1024, ROUTE_RAW | S},
    {"GET", V1 "/orders/export", api_orders_export, ROLE_STAFF, 0, 0},
    {"GET", V1 "/imports", api_imports_list, ROLE_STAFF, 0, 0},
    {"GET", V1 "/imports/{id}", api_imports_get, ROLE_STAFF, 0, 0},
    {"GET", V1 "/orders/{id}", api_orders_get, ROLE_ANY, 0, 0},
    {"PATCH", V1 "/orders/{id}", api_orders_patch, ROLE_STAFF, 0, J | S},
    {"GET", V1 "/orders/{id}/history", api_orders_history, ROLE_ANY, 0, 0},
    {"POST", V1 "/orders/{id}/assign", api_orders_assign, ROLE_STAFF, 0, J | S},
    {"POST", V1 "/orders/{id}/unassign", api_orders_unassign, ROLE_STAFF, 0, J | S},
    {"POST", V1 "/orders/{id}/pickup", api_orders_pickup, ROLE_ANY, 0, J | S},
    {"POST", V1 "/orders/{id}/deliver", api_orders_deliver, ROLE_ANY, 0, J | S},
    {"POST", V1 "/orders/{id}/fail", api_orders_fail, ROLE_ANY, 0, J | S},
    {"POST", V1 "/orders/{id}/cancel", api_orders_cancel, ROLE_STAFF, 0, J | S},
    {"POST", V1 "/orders/{id}/requeue", api_orders_requeue, ROLE_STAFF, 0, J | S},
    {"POST", V1 "/orders/{id}/return", api_orders_return, ROLE_ANY, 0, J | S},
    {"POST", V1 "/orders/{id}/payment", api_payments_record, ROLE_ANY, 0, J | S},
    {"POST", V1 "/orders/{id}/proof", api_proofs_create, ROLE_ANY, 7 * 1024 * 1024, ROUTE_RAW},
    {"GET", V1 "/orders/{id}/proof", api_proofs_get, ROLE_ANY, 0, 0},
    {"GET", V1 "/files/{id}", api_files_get, ROLE_ANY, 0, 0},
    {"GET", V1 "/orders/{id}/suggestions", api_orders_suggestions, ROLE_STAFF, 0, 0},

    /* notifications */
    {"GET", V1 "/notifications", api_notifications_list, ROLE_ANY, 0, 0},
    {"POST", V1 "/notifications/read-all", api_notifications_read_all, ROLE_ANY, 0, 0},
    {"POST", V1 "/notifications/{id}/read", api_notifications_read, ROLE_ANY, 0, 0},

    /* analytics */
    {"GET", V1 "/analytics/summary", api_analytics_summary, ROLE_STAFF, 0, 0},
    {"GET", V1 "/analytics/drivers", api_analytics_drivers, ROLE_STAFF, 0, 0},
    {"GET", V1 "/analytics/suggestions", api_analytics_suggestions, ROLE_STAFF, 0, 0},
    {"GET", V1 "/analytics/suggestions/backtest", api_analytics_suggestions_backtest, ROLE_STAFF,
     0, 0},

    /* operations and public */
    {"POST", V1 "/cron/{job}", api_cron, ROLE_CRON, 0, 0},
    {"GET", V1 "/track/{token}", api_track, ROLE_PUBLIC, 0, 0},
    {"GET", "/t/{token}", api_track_page, ROLE_PUBLIC, 0, 0}, /* HTML, outside /api/v1 */
    {"POST", V1 "/webhooks/d365", api_webhook_d365, ROLE_PUBLIC, 0, ROUTE_RAW | S},

    /* settings */
    {"GET", V1 "/settings", api_settings_list, ROLE_STAFF, 0, 0},
    {"PUT", V1 "/settings/{key}", api_settings_put, ROLE_ADMIN, 0, J | S},

    /* webhooks out (webhooks_out.c) */
    {"GET", V1 "/webhooks/subscriptions", api_webhook_subs_list, ROLE_ADMIN, 0, 0},
    {"POST", V1 "/webhooks/subscriptions", api_webhook_subs_create, ROLE_ADMIN, 0, J},
    {"PATCH", V1 "/webhooks/subscriptions/{id}", api_webhook_subs_patch, ROLE_ADMIN, 0, J},
    {"DELETE", V1 "/webhooks/subscriptions/{id}", api_webhook_subs_delete, ROLE_ADMIN, 0, 0},
    {"GET", V1 "/webhooks/subscriptions/{id}/deliveries", api_webhook_sub_deliveries, ROLE_ADMIN, 0, 0},

    /* the live stream (http/stream.c); ?ticket= is for EventSource */
    {"GET", V1 "/stream", api_stream_get, ROLE_STAFF, 0, ROUTE_TICKET},
    {"POST", V1 "/stream/ticket", api_stream_ticket, ROLE_STAFF, 0, 0},
    {"POST", V1 "/webhooks/deliveries/{id}/retry", api_webhook_delivery_retry, ROLE_ADMIN, 0, 0},
};

const size_t g_nroutes = sizeof g_routes / sizeof g_routes[0];
