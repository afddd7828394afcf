/* The filters of GET /orders shared by the list and the export
 * (api/order_filters.c). */
#ifndef DELIVERYD_ORDER_FILTER_H
#define DELIVERYD_ORDER_FILTER_H

#include "deliveryd/http.h"
#include "deliveryd/sqlb.h"

/* Parts of the caller's statement. Their values are already parameters of
 * the caller's builder and their text already numbered: the caller
 * appends them with sqlb_puts (never sqlb_add), as often as it needs. */
struct order_filter {
    buf_t where; /* "TRUE AND ..." over orders o */
    /* empty, or a common table expression the where needs ("m AS
     * MATERIALIZED (...)": the q search's matching order ids), to be put
     * in the statement's WITH */
    buf_t with;
    const char *order_by; /* trusted SQL from the sort whitelist */
    /* the rows come from the digit-window lookup: whatever the values, the
     * right plan starts there, so a generic plan may be kept */
    bool generic_plan;
};

/** Builds the WHERE clause of GET /orders (and export) from the query
 * string, including the caller's scope, its values added to `b` (numbered
 * after those already there). -1 after a 422. The caller frees f
 * (order_filter_free) in either case. */
int order_filter_or_reply(struct req *r, struct sqlb *b, struct order_filter *f) MUSTCHECK;
void order_filter_free(struct order_filter *f);

#endif
