#include "deliveryd/settings.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "deliveryd/db.h"
#include "deliveryd/fields.h"
#include "deliveryd/log.h"
#include "deliveryd/util.h"

enum st_type { ST_INT, ST_BOOL, ST_TIMEZONE, ST_CODES, ST_ALIASES, ST_WEIGHTS, ST_TEMPLATES, ST_LANG, ST_MONEY };

struct setting_def {
    const char *key;
    enum st_type type;
    long min, max;
};

static const struct setting_def defs[] = {
    {"archive_buffer_hours", ST_INT, 0, 24 * 365},
    {"max_page_size", ST_INT, 1, 10000},
    {"rate_limit_per_minute", ST_INT, 1, 10000000},
    {"lockout_threshold", ST_INT, 1, 100},
    {"lockout_minutes", ST_INT, 1, 60 * 24 * 7},
    {"require_proof_of_delivery", ST_BOOL, 0, 0},
    {"location_stale_seconds", ST_INT, 10, 86400},
    {"sla_minutes", ST_INT, 1, 60 * 24 * 7},
    {"business_timezone", ST_TIMEZONE, 0, 0},
    {"location_retention_days", ST_INT, 1, 3650},
    {"driver_offline_after_seconds", ST_INT, 30, 86400},
    {"failure_reason_codes", ST_CODES, 1, 50},
    {"import_column_aliases", ST_ALIASES, 0, 0},
    {"suggestion_weights", ST_WEIGHTS, 0, 0},
    {"replica_max_lag_seconds", ST_INT, 0, 3600},
    {"event_retention_days", ST_INT, 1, 3650},
    {"customer_messages", ST_BOOL, 0, 0},
    {"customer_message_templates", ST_TEMPLATES, 1, 500},
    {"customer_message_default_lang", ST_LANG, 0, 0},
    /* dispatch aids (migration 0027) */
    {"driver_cash_limit", ST_MONEY, 0, 0},
    {"suggestion_history_days", ST_INT, 1, 3650},
    {"assign_warn_distance_km", ST_INT, 1, 1000},
    {"assign_warn_active_orders", ST_INT, 1, 1000},
    {"webhook_retry_base_seconds", ST_INT, 1, 86400},
    {"webhook_max_attempts", ST_INT, 1, 100},
};

/* customer_message_templates: exactly these kinds, each {"ar","en"} texts
 * of min..max characters (customer_message() in sql/schema/events.sql
 * fills them in) */
static const char *const message_kinds[] = {"out_for_delivery", "delivered", "delivery_failed"};
static const char *const message_langs[] = {"ar", "en"};

static const char *templates_error(const json_t *v, long min, long max)
{
    static const char *const msg =
        "must be {\"out_for_delivery\",\"delivered\",\"delivery_failed\"}, each "
        "{\"ar\",\"en\"} texts of 1 to 500 characters";
    if (!json_is_object(v) || json_object_size(v) != ARRAY_LEN(message_kinds)) return msg;
    for (size_t k = 0; k < ARRAY_LEN(message_kinds); k++) {
        json_t *t = json_object_get(v, message_kinds[k]);
        if (!json_is_object(t) || json_object_size(t) != ARRAY_LEN(message_langs)) return msg;
        for (size_t l = 0; l < ARRAY_LEN(message_langs); l++) {
            json_t *text = json_object_get(t, message_langs[l]);
            if (!json_is_string(text)) return msg;
            size_t n = utf8_chars(json_string_value(text));
            if (n < (size_t)min || n > (size_t)max) return msg;
        }
    }
    return NULL;
}

static const char *const import_fields[] = {
    "order_number", "customer_name", "customer_phone", "delivery_address", "area", "block",
    "street", "avenue", "building", "floor", "apartment", "paci_number", "amount",
    "payment_method", "warehouse_code", "notes", "delivery_latitude", "delivery_longitude",
    "estimated_delivery_time", NULL};

static bool snake_case(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n > max) return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            return false;
    return true;
}

int settings_validate(const char *key, const json_t *v, const char **msg)
{
    const struct setting_def *d = NULL;
    for (size_t i = 0; i < ARRAY_LEN(defs); i++)
        if (strcmp(defs[i].key, key) == 0) d = &defs[i];
    if (!d) return -1;
    *msg = NULL;
    switch (d->type) {
    case ST_INT:
        if (!json_is_integer(v) || json_integer_value(v) < d->min ||
            json_integer_value(v) > d->max)
            *msg = "must be an integer in the allowed range";
        break;
    case ST_BOOL:
        if (!json_is_boolean(v)) *msg = "must be true or false";
        break;
    case ST_TIMEZONE:
        /* the database decides whether it is an IANA name (settings api) */
        if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > 64)
            *msg = "must be an IANA time zone name";
        break;
    case ST_CODES: {
        size_t n = json_array_size(v);
        if (!json_is_array(v) || n < (size_t)d->min || n > (size_t)d->max) {
            *msg = "must be a non-empty array of snake_case codes";
            break;
        }
        for (size_t i = 0; i < n && !*msg; i++) {
            json_t *e = json_array_get(v, i);
            if (!json_is_string(e) || !snake_case(json_string_value(e), 64))
                *msg = "must be a non-empty array of snake_case codes";
            for (size_t j = 0; j < i && !*msg; j++)
                if (json_equal(e, json_array_get(v, j))) *msg = "must not list a code twice";
        }
        break;
    }
    case ST_ALIASES: {
        if (!json_is_object(v)) {
            *msg = "must be an object of field: [header, ...]";
            break;
        }
        const char *field;
        json_t *list;
        json_object_foreach((json_t *)v, field, list)
        {
            bool known = false;
            for (const char *const *f = import_fields; *f; f++)
                if (strcmp(*f, field) == 0) known = true;
            if (!known) {
                *msg = "names an unknown import field";
                break;
            }
            if (!json_is_array(list) || json_array_size(list) > 50) {
                *msg = "each field needs an array of at most 50 headers";
                break;
            }
            for (size_t i = 0; i < json_array_size(list); i++) {
                json_t *h = json_array_get(list, i);
                if (!json_is_string(h) || json_string_length(h) == 0 ||
                    json_string_length(h) > 100) {
                    *msg = "headers must be non-empty strings of at most 100 bytes";
                    break;
                }
            }
            if (*msg) break;
        }
        break;
    }
    case ST_TEMPLATES:
        *msg = templates_error(v, d->min, d->max);
        break;
    case ST_LANG:
        if (!json_is_string(v) || (strcmp(json_string_value(v), "ar") != 0 &&
                                   strcmp(json_string_value(v), "en") != 0))
            *msg = "must be \"ar\" or \"en\"";
        break;
    case ST_WEIGHTS: {
        /* the three keys of v1 are required, the factors added since
         * (sql/schema/suggestions.sql) optional: a missing one takes its
         * default there, so a v1 object keeps its meaning */
        static const char *const names[] = {"distance", "load", "online", "history", "cash"};
        enum { REQUIRED = 3 };
        static const char *const what =
            "must be {\"distance\",\"load\",\"online\"[,\"history\",\"cash\"]} numbers "
            "between 0 and 1";
        if (!json_is_object(v)) {
            *msg = what;
            break;
        }
        size_t known = 0;
        for (size_t i = 0; i < ARRAY_LEN(names); i++) {
            json_t *w = json_object_get(v, names[i]);
            if (!w) {
                if (i < REQUIRED) *msg = what;
                continue;
            }
            known++;
            if (!json_is_number(w) || json_number_value(w) < 0 || json_number_value(w) > 1)
                *msg = what;
        }
        if (known != json_object_size(v)) *msg = what; /* an unknown key */
        break;
    }
    case ST_MONEY: {
        /* KWD: a money string ("100.000") or a number; more than zero */
        char txt[64], norm[32];
        if (json_is_string(v)) snprintf(txt, sizeof txt, "%s", json_string_value(v));
        else if (json_is_number(v) && json_number_value(v) < 1e9)
            snprintf(txt, sizeof txt, "%.3f", json_number_value(v));
        else txt[0] = '\0';
        if (money_normalize(txt, norm, sizeof norm) < 0 || strspn(norm, "0.") == strlen(norm))
            *msg = "must be an amount in KWD above zero, e.g. \"100.000\"";
        break;
    }
    }
    return *msg ? -2 : 0;
}

/* ---- the cache ---- */

static pthread_rwlock_t lock = PTHREAD_RWLOCK_INITIALIZER;
static pthread_mutex_t reload_lock = PTHREAD_MUTEX_INITIALIZER;
static json_t *cache; /* object key -> value */
static double loaded_at;

static bool fresh_now(void)
{
    pthread_rwlock_rdlock(&lock);
    bool fresh = cache && now_mono() - loaded_at < SETTINGS_TTL;
    pthread_rwlock_unlock(&lock);
    return fresh;
}

/* A stale cache is reloaded before anyone reads it: every reader waits for
 * the one reload (a single short query), so no request ever acts on values
 * older than SETTINGS_TTL. */
static void reload_if_stale(void)
{
    if (fresh_now()) return;
    pthread_mutex_lock(&reload_lock);
    if (fresh_now()) { /* another thread reloaded while we waited */
        pthread_mutex_unlock(&reload_lock);
        return;
    }
    struct db_error err;
    db_res *res = db_run(Q(settings_load)(), &err);
    json_t *fresh_obj = NULL;
    if (res && db_ntuples(res) == 1 && !db_isnull(res, 0, 0))
        fresh_obj = json_loads(db_get(res, 0, 0), 0, NULL);
    db_res_free(res);
    pthread_rwlock_wrlock(&lock);
    if (fresh_obj) {
        json_decref(cache);
        cache = fresh_obj;
        loaded_at = now_mono();
        /* the db layer routes reads by it and cannot read settings itself */
        json_t *lag = json_object_get(cache, "replica_max_lag_seconds");
        if (json_is_integer(lag)) db_set_replica_max_lag((double)json_integer_value(lag));
    } else if (cache) {
        loaded_at = now_mono(); /* database down: keep the last values, retry later */
    }
    pthread_rwlock_unlock(&lock);
    pthread_mutex_unlock(&reload_lock);
}

json_t *settings_get(const char *key)
{
    reload_if_stale();
    pthread_rwlock_rdlock(&lock);
    json_t *v = cache ? json_object_get(cache, key) : NULL;
    /* a deep copy: the cached object may be replaced by another thread */
    json_t *copy = v ? json_deep_copy(v) : NULL;
    pthread_rwlock_unlock(&lock);
    return copy;
}

long settings_int(const char *key, long def)
{
    reload_if_stale();
    pthread_rwlock_rdlock(&lock);
    json_t *v = cache ? json_object_get(cache, key) : NULL;
    long out = json_is_integer(v) ? (long)json_integer_value(v) : def;
    pthread_rwlock_unlock(&lock);
    return out;
}

bool settings_bool(const char *key, bool def)
{
    reload_if_stale();
    pthread_rwlock_rdlock(&lock);
    json_t *v = cache ? json_object_get(cache, key) : NULL;
    bool out = json_is_boolean(v) ? json_is_true(v) : def;
    pthread_rwlock_unlock(&lock);
    return out;
}

void settings_invalidate(void)
{
    pthread_rwlock_wrlock(&lock);
    loaded_at = 0;
    pthread_rwlock_unlock(&lock);
}

void settings_free(void)
{
    pthread_rwlock_wrlock(&lock);
    json_decref(cache);
    cache = NULL;
    pthread_rwlock_unlock(&lock);
}
