/* Process configuration, read once from the environment through one
 * declarative table (config.c). */
#ifndef DELIVERYD_CONFIG_H
#define DELIVERYD_CONFIG_H

#include "deliveryd/util.h"

enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR };

struct config {
    char *database_url;
    char *read_database_url; /* NULL: no replica */
    char *redis_url;
    char *jwt_secret;
    char *cron_secret;
    char *d365_webhook_secret;
    char *bind_address;
    long port;
    long threads;
    char *storage_dir;
    char *cors_origins;
    char *log_level_name;
    char *migrations_dir;
    char *schema_dir; /* SCHEMA_DIR; unset: sql/schema beside migrations_dir */
    long connection_limit;
    long connection_timeout;
    long per_address_connection_limit;
    long request_head_timeout;
    long db_pool_statement_timeout_ms;
    long trust_proxy; /* 1: take the client address from X-Forwarded-For */
    char *public_base_url; /* PUBLIC_BASE_URL; NULL: customer messages carry no tracking link */
    long webhook_allow_private; /* 1: webhook URLs may reach private addresses */
    long stream_max_clients;    /* STREAM_MAX_CLIENTS: open streams at most */
    long stream_queue_bytes;    /* STREAM_QUEUE_BYTES: a stream's queue bound */
    enum log_level log_level;
};

extern struct config g_cfg;

/* What a command needs from the environment. */
enum config_need {
    NEED_NONE = 0,
    NEED_DATABASE = 1 << 0,
    NEED_JWT = 1 << 1,
};

/**
 * Loads g_cfg from the environment getter `get` (getenv in production; a
 * table lookup in the unit tests). On failure writes one message into err
 * and returns -1. Strings in g_cfg are owned by g_cfg (config_free).
 */
int config_load(char *(*get)(const char *), unsigned need, char *err, size_t errlen) MUSTCHECK;
void config_free(void);

/** True when origin is allowed by CORS_ORIGINS ("*" allows every origin). */
bool config_cors_allows(const char *origin);

#endif
