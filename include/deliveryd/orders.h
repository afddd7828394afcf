/* Orders: the filters shared by the list and the export, and the state
 * machine (one SQL statement per action, for one order or a batch). */
#ifndef DELIVERYD_ORDERS_H
#define DELIVERYD_ORDERS_H

#include "deliveryd/http.h"

#define ORDER_FILTER_MAX_PARAMS 16

struct order_filter {
    buf_t where; /* "TRUE AND ..." over orders o */
    /* NULL, or a common table expression the where needs ("m AS
     * MATERIALIZED (...)": the q search's matching order ids), to be put
     * in the statement's WITH */
    const char *with;
    const char *params[ORDER_FILTER_MAX_PARAMS];
    int np;
    const char *order_by; /* trusted SQL from the sort whitelist */
    /* the rows come from the digit-window lookup: whatever the values, the
     * right plan starts there, so a generic plan may be kept */
    bool generic_plan;
};

/** Builds the WHERE clause of GET /orders (and export) from the query
 * string, including the caller's scope. -1 after a 422. The caller frees
 * f->where (order_filter_free). */
int order_filter_or_reply(struct req *r, struct order_filter *f) MUSTCHECK;
void order_filter_free(struct order_filter *f);

enum order_action {
    ACT_ASSIGN,
    ACT_UNASSIGN,
    ACT_PICKUP,
    ACT_DELIVER,
    ACT_FAIL,
    ACT_CANCEL,
    ACT_REQUEUE,
    ACT_RETURN,
    ACT_COUNT
};

struct action_input {
    const char *ids;        /* "{1,2,3}" */
    const char *version;    /* single actions only; NULL = not checked */
    const char *new_driver; /* assign */
    const char *reason, *reason_code;
    const char *recipient, *notes; /* deliver */
    const char *pay_method, *pay_amount;
    bool batch; /* no order bodies are rendered for batches */
};

struct db_res;
/**
 * Runs `act` on every id in one statement. Returns a result with one row
 * per distinct id: (id, current status or NULL when invisible, version,
 * has_proof, body of the updated order (single actions only) or NULL,
 * changed "t"/"f"), or NULL after replying.
 */
struct db_res *order_action_run(struct req *r, enum order_action act,
                                const struct action_input *in);
/** The statuses an action takes, as a text[] literal ("{pending,...}"). */
const char *order_action_from(enum order_action act);
/** Why an id was not changed: code + detail (for batches and single replies). */
void order_action_explain(enum order_action act, const struct action_input *in,
                          struct db_res *res, int row, int *status, const char **code,
                          char *detail, size_t dlen);

#endif
