/* Process-wide counters rendered in Prometheus text format. Lock-free
 * (atomic adds); safe from every worker thread. */
#ifndef DELIVERYD_METRICS_H
#define DELIVERYD_METRICS_H

#include <stddef.h>
#include <stdint.h>

void metrics_init(void);
void metrics_free(void);
/** route_index -1 for unmatched requests. */
void metrics_observe(int route_index, int status, double seconds);
void metrics_db_reconnect(void);
void metrics_db_statement(void);
uint64_t metrics_db_statements(void);
void metrics_redis_error(void);
/** Prometheus text; the caller frees it. */
char *metrics_render(size_t *len);

#endif
