/* Route handlers (api/ files). Each parses and validates input, checks
 * what the route table cannot, calls the service layer and replies. */
#ifndef DELIVERYD_API_H
#define DELIVERYD_API_H

#include "deliveryd/http.h"

/* ops.c */
void api_health(struct req *r);
void api_ready(struct req *r);
void api_metrics(struct req *r);

#endif
