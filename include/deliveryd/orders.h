/* Orders: the state machine (one SQL statement per action, for one order
 * or a batch). No request types: the caller says who acts. */
#ifndef DELIVERYD_ORDERS_H
#define DELIVERYD_ORDERS_H

#include <stdbool.h>
#include <stddef.h>

#include "deliveryd/db.h"
#include "deliveryd/who.h"

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

/* The columns of order_action_run's result, one row per distinct id. */
enum order_action_col {
    OA_ID,
    OA_STATUS,    /* the current status, NULL when the order is not visible */
    OA_VERSION,   /* the version before the action */
    OA_HAS_PROOF, /* a proof of this delivery attempt exists */
    OA_BODY,      /* the updated order's body (single actions only), else NULL */
    OA_CHANGED,   /* "t" when the action was applied */
    OA_ALLOWED,   /* "t" when the current status allows the action (order_action_from) */
    OA_WARNINGS,  /* assign: the changed order's warnings, a JSON array
                   * [{"code","message"}] ("[]" when none); else NULL */
};

/**
 * Runs `act` as `who` (user_id 0: the system) on every id in one
 * statement. Returns a result the caller frees (db_res_free), columns as
 * enum order_action_col, or NULL with *err filled.
 */
db_res *order_action_run(const struct principal *who, enum order_action act,
                         const struct action_input *in, struct db_error *err) MUSTCHECK;
/** Why an id was not changed: code + detail (for batches and single replies). */
void order_action_explain(enum order_action act, const struct action_input *in,
                          struct db_res *res, int row, int *status, const char **code,
                          char *detail, size_t dlen);

#endif
