/* Database outcomes as replies (http/db_reply.c): for handlers, a failed
 * statement is already answered through the SQLSTATE table and NULL comes
 * back; results are owned by the request. */
#ifndef DELIVERYD_DB_REPLY_H
#define DELIVERYD_DB_REPLY_H

#include "deliveryd/db.h"

struct req;

/**
 * db_exec for handlers: the result is owned by the request; on failure the
 * problem reply is already sent (mapped through the SQLSTATE table) and NULL
 * comes back, so the caller just returns.
 */
db_res *db_query_or_reply(struct req *r, const char *sql, int nparams, const char *const *params)
    MUSTCHECK;
/** db_query_or_reply through db_exec_prepared. */
db_res *db_query_prepared_or_reply(struct req *r, const char *sql, int nparams,
                                   const char *const *params) MUSTCHECK;
/**
 * db_query_prepared_or_reply on the statement's generic plan from the first
 * run (plan_cache_mode set around it, still one round trip), for a statement
 * PostgreSQL would go on planning each time because its generic plan's
 * estimate looks worse, though its shape is the right one for every value.
 * Planning is then paid once per connection and text.
 */
db_res *db_query_generic_or_reply(struct req *r, const char *sql, int nparams,
                                  const char *const *params) MUSTCHECK;
/** db_run for handlers: db_q_or_reply(r, Q(order_get)(id, scope, own)). */
db_res *db_q_or_reply(struct req *r, enum query_id q, int nparams, const char *const *params)
    MUSTCHECK;
struct sqlb;
/** sqlb_exec for handlers (the result owned by the request; NULL after replying). */
db_res *sqlb_or_reply(struct req *r, const struct sqlb *b, enum db_plan plan) MUSTCHECK;
int db_begin_or_reply(struct req *r) MUSTCHECK;
int db_commit_or_reply(struct req *r) MUSTCHECK;
/** Sends the problem reply for err. Returns -1. */
int db_reply_error(struct req *r, const struct db_error *err);

#endif
