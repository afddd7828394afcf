/* Authentication and authorization for every route, in one place: the
 * route table declares the roles; this checks the token, the caller's
 * current state and the role. Ownership is enforced by the queries. */
#include <sodium.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "deliveryd/auth.h"
#include "deliveryd/config.h"
#include "deliveryd/http_pipeline.h"
#include "deliveryd/principal.h"
#include "deliveryd/stream_feed.h"

static const char *bearer(struct req *r)
{
    const char *h = req_header(r, "Authorization");
    if (!h || strncasecmp(h, "Bearer ", 7) != 0) return NULL;
    h += 7;
    while (*h == ' ') h++;
    return *h ? h : NULL;
}

void auth_identify(struct req *r)
{
    r->token_state = 0;
    if (!r->route || (r->route->roles & (ROLE_PUBLIC | ROLE_CRON))) return;
    const char *ticket = (r->route->flags & ROUTE_TICKET) ? req_query(r, "ticket") : NULL;
    if (ticket && *ticket) {
        /* single use: consumed here, whatever the answer turns out to be */
        int64_t uid = 0;
        char role[16];
        switch (stream_ticket_consume(ticket, &uid, role, sizeof role)) {
        case TICKET_OK:
            r->token_state = TOKEN_OK + 1;
            r->who.user_id = uid;
            r->who.role = role_bit(role);
            return;
        case TICKET_EXPIRED:
            r->token_state = TOKEN_EXPIRED + 1;
            return;
        default:
            r->token_state = TOKEN_INVALID + 1;
            return;
        }
    }
    const char *tok = bearer(r);
    if (!tok) return;
    struct token_claims c;
    enum token_status st = jwt_check_access(tok, g_cfg.jwt_secret, (long)time(NULL), &c);
    r->token_state = (int)st + 1;
    if (st == TOKEN_OK) {
        r->who.user_id = c.user_id;
        r->who.role = role_bit(c.role);
    }
}

/* Constant-time comparison of two secrets of any length. */
static bool secret_equal(const char *a, const char *b)
{
    unsigned char ha[32], hb[32];
    sha256_bytes(a, strlen(a), ha);
    sha256_bytes(b, strlen(b), hb);
    return sodium_memcmp(ha, hb, sizeof ha) == 0;
}

int auth_require_or_reply(struct req *r)
{
    unsigned roles = r->route->roles;
    if (roles & ROLE_PUBLIC) return 0;
    if (roles & ROLE_CRON) {
        if (!g_cfg.cron_secret)
            return reply_problem(r, 503, "unavailable", "CRON_SECRET is not configured");
        const char *tok = bearer(r);
        if (!tok || !secret_equal(tok, g_cfg.cron_secret))
            return reply_problem(r, 401, "unauthorized", "a valid cron secret is required");
        return 0;
    }
    if (r->token_state == 0)
        return reply_problem(r, 401, "unauthorized", "authentication required");
    if (r->token_state == TOKEN_EXPIRED + 1)
        return reply_problem(r, 401, "unauthorized", "the access token has expired");
    if (r->token_state != TOKEN_OK + 1)
        return reply_problem(r, 401, "unauthorized", "the access token is invalid");

    unsigned token_role = r->who.role;
    bool active = false;
    struct principal p;
    switch (principal_load(r->who.user_id, &p, &active)) {
    case PRINCIPAL_DB_DOWN:
        return reply_problem(r, 503, "unavailable", "the database is unavailable; retry");
    case PRINCIPAL_GONE:
        return reply_problem(r, 401, "unauthorized", "the user no longer exists");
    case PRINCIPAL_OK:
        break;
    }
    if (!active) return reply_problem(r, 401, "unauthorized", "the account is deactivated");
    if (p.role != token_role)
        return reply_problem(r, 401, "unauthorized", "the role changed; log in again");
    r->who = p;
    r->authed = true;
    if (!(roles & p.role))
        return reply_problem(r, 403, "forbidden", "your role may not use this resource");
    /* a driver user made with POST /users or create-user has no profile:
     * the drivers-only routes act on it, so say why instead of failing in
     * the database */
    if (roles == ROLE_DRIVER && p.driver_id == 0)
        return reply_problem(r, 403, "forbidden",
                             "this account has no driver profile (drivers are created with "
                             "POST /drivers)");
    return 0;
}
