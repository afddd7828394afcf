/* The caller's current state (active, role, scope), re-checked on every
 * request through a tiny per-process cache (PRINCIPAL_TTL seconds), so a
 * deactivation or role change stops old tokens at once on this instance
 * and within that TTL on the others. */
#ifndef DELIVERYD_PRINCIPAL_H
#define DELIVERYD_PRINCIPAL_H

#include <stdbool.h>
#include <stdint.h>

#include "deliveryd/http.h"

#define PRINCIPAL_TTL 1.0

enum principal_status { PRINCIPAL_OK = 0, PRINCIPAL_GONE, PRINCIPAL_DB_DOWN };

/** Loads user_id's state into *out (role as a ROLE_* bit). */
enum principal_status principal_load(int64_t user_id, struct principal *out, bool *is_active);
/** The user JSON loaded with the state, while fresh (GET /auth/me). */
bool principal_body(int64_t user_id, char *out, size_t outlen);
/** Forget the cached state of user_id (after a write to that user). */
void principal_invalidate(int64_t user_id);
unsigned role_bit(const char *role);

#endif
