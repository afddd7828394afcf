/* The one router table: method + pattern -> handler, roles, body limit. */
#include "deliveryd/api.h"

#define V1 "/api/v1"

const struct route g_routes[] = {
    {"GET", "/health", api_health, ROLE_PUBLIC, 0, ROUTE_NO_LIMIT},
    {"GET", "/ready", api_ready, ROLE_PUBLIC, 0, ROUTE_NO_LIMIT},
    {"GET", "/metrics", api_metrics, ROLE_PUBLIC, 0, ROUTE_NO_LIMIT},
};

const size_t g_nroutes = sizeof g_routes / sizeof g_routes[0];
