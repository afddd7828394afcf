/* The filters of GET /orders shared by the list and the export
 * (api/order_filters.c). */
#ifndef DELIVERYD_ORDER_FILTER_H
#define DELIVERYD_ORDER_FILTER_H

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

#endif
