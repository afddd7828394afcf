/* The steps every request passes before its handler (server.c calls them
 * in this order): identify the caller, rate limit, authorize. */
#ifndef DELIVERYD_HTTP_PIPELINE_H
#define DELIVERYD_HTTP_PIPELINE_H

#include "deliveryd/http.h"

/** Reads a bearer token if any and fills r->who tentatively; never replies. */
void auth_identify(struct req *r);
/** Enforces the route's roles (401/403, cron secret); loads the caller's
 * current state from the database. Returns -1 after replying. */
int auth_require_or_reply(struct req *r) MUSTCHECK;
/** Per-client rate limit; sets the RateLimit-* fields; 429 when over. */
int ratelimit_or_reply(struct req *r) MUSTCHECK;
/** The client's standing in the current window without counting this
 * request: for the responses that are not rate limited (preflight, the
 * early 413, /health…), which still carry the RateLimit-* headers. */
void ratelimit_peek(struct req *r);

#endif
