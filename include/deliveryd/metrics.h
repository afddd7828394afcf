/* Process-wide counters rendered in Prometheus text format. Lock-free
 * (atomic adds); safe from every worker thread. */
#ifndef DELIVERYD_METRICS_H
#define DELIVERYD_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "deliveryd/util.h"

/** Writes the Prometheus labels of route `index` (route="...",method="..."). */
typedef void metrics_label_fn(buf_t *b, size_t index);
/** `routes` routes, labelled by `label` (the router's table: the metrics
 * know no HTTP types). */
void metrics_init(size_t routes, metrics_label_fn *label);
void metrics_free(void);
/** route_index -1 for unmatched requests. */
void metrics_observe(int route_index, int status, double seconds);
void metrics_db_reconnect(void);
void metrics_db_statement(void);
uint64_t metrics_db_statements(void);
void metrics_redis_error(void);
void metrics_replica_read(void);
void metrics_replica_fallback(void);
/** Prometheus text; the caller frees it. */
char *metrics_render(size_t *len);

#endif
