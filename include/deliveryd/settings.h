/* Operational settings stored in PostgreSQL (GET/PUT /settings). One
 * declarative table defines each key's type and range; values are cached
 * in-process and re-read at most every SETTINGS_TTL seconds, so a change
 * made on any instance is in force everywhere within a second. */
#ifndef DELIVERYD_SETTINGS_H
#define DELIVERYD_SETTINGS_H

#include <jansson.h>
#include <stdbool.h>

#define SETTINGS_TTL 0.5

/** Integer setting (falls back to def when unavailable). */
long settings_int(const char *key, long def);
bool settings_bool(const char *key, bool def);
/** A new reference to the value (caller decrefs) or NULL. */
json_t *settings_get(const char *key);
/** Forces the next read to reload (after a local PUT). */
void settings_invalidate(void);
void settings_free(void);

/** Validates `value` for `key`: 0 ok; -1 unknown key; -2 bad value (msg set). */
int settings_validate(const char *key, const json_t *value, const char **msg);

#endif
