/* Database outcomes as replies (http/db_reply.c): for handlers, a failed
 * statement is already answered through the SQLSTATE table and NULL comes
 * back; results are owned by the request. */
#ifndef DELIVERYD_DB_REPLY_H
#define DELIVERYD_DB_REPLY_H

#include "deliveryd/db.h"

struct req;

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
