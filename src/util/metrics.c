#include "deliveryd/metrics.h"

#include <stdlib.h>
#include <string.h>

#include "deliveryd/util.h"

static const int statuses[] = {200, 201, 202, 204, 400, 401, 403, 404, 405, 409,
                               411, 413, 415, 422, 423, 429, 500, 503, 0};
#define NSTATUS ARRAY_LEN(statuses)
static const double buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                 0.25,  0.5,    1,     2.5,  5,     10};
#define NBUCKET ARRAY_LEN(buckets)

struct route_stats {
    uint64_t by_status[NSTATUS];
    uint64_t bucket[NBUCKET + 1];
    uint64_t sum_us;
};

static struct route_stats *stats; /* nroutes + 1 (unmatched) */
static size_t nroutes;
static metrics_label_fn *route_label_fn;
static uint64_t db_reconnects, db_statements, redis_errors, replica_reads, replica_fallbacks;

void metrics_init(size_t routes, metrics_label_fn *label)
{
    nroutes = routes;
    route_label_fn = label;
    if (!stats) stats = xcalloc(nroutes + 1, sizeof *stats);
}

void metrics_free(void)
{
    free(stats);
    stats = NULL;
}

static size_t status_slot(int status)
{
    for (size_t i = 0; i + 1 < NSTATUS; i++)
        if (statuses[i] == status) return i;
    return NSTATUS - 1;
}

void metrics_observe(int route_index, int status, double seconds)
{
    if (!stats) return;
    size_t ri = route_index < 0 ? nroutes : (size_t)route_index;
    struct route_stats *s = &stats[ri];
    __atomic_add_fetch(&s->by_status[status_slot(status)], 1, __ATOMIC_RELAXED);
    size_t b = 0;
    while (b < NBUCKET && seconds > buckets[b]) b++;
    __atomic_add_fetch(&s->bucket[b], 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&s->sum_us, (uint64_t)(seconds * 1e6), __ATOMIC_RELAXED);
}

void metrics_db_reconnect(void)
{
    __atomic_add_fetch(&db_reconnects, 1, __ATOMIC_RELAXED);
}

void metrics_db_statement(void)
{
    __atomic_add_fetch(&db_statements, 1, __ATOMIC_RELAXED);
}

uint64_t metrics_db_statements(void)
{
    return __atomic_load_n(&db_statements, __ATOMIC_RELAXED);
}

void metrics_replica_read(void)
{
    __atomic_add_fetch(&replica_reads, 1, __ATOMIC_RELAXED);
}

void metrics_replica_fallback(void)
{
    __atomic_add_fetch(&replica_fallbacks, 1, __ATOMIC_RELAXED);
}

void metrics_redis_error(void)
{
    __atomic_add_fetch(&redis_errors, 1, __ATOMIC_RELAXED);
}

static void route_label(buf_t *b, size_t ri)
{
    if (ri == nroutes || !route_label_fn) {
        buf_puts(b, "route=\"unmatched\",method=\"\"");
        return;
    }
    route_label_fn(b, ri);
}

char *metrics_render(size_t *len)
{
    buf_t b;
    buf_init(&b);
    buf_puts(&b, "# HELP deliveryd_http_requests_total HTTP requests by route and status.\n"
                 "# TYPE deliveryd_http_requests_total counter\n");
    for (size_t ri = 0; stats && ri <= nroutes; ri++) {
        for (size_t si = 0; si < NSTATUS; si++) {
            uint64_t v = __atomic_load_n(&stats[ri].by_status[si], __ATOMIC_RELAXED);
            if (!v) continue;
            buf_puts(&b, "deliveryd_http_requests_total{");
            route_label(&b, ri);
            if (statuses[si])
                buf_printf(&b, ",status=\"%d\"} %lu\n", statuses[si], (unsigned long)v);
            else
                buf_printf(&b, ",status=\"other\"} %lu\n", (unsigned long)v);
        }
    }
    buf_puts(&b, "# HELP deliveryd_http_request_duration_seconds Request latency.\n"
                 "# TYPE deliveryd_http_request_duration_seconds histogram\n");
    for (size_t ri = 0; stats && ri <= nroutes; ri++) {
        uint64_t total = 0, cum = 0;
        for (size_t k = 0; k <= NBUCKET; k++)
            total += __atomic_load_n(&stats[ri].bucket[k], __ATOMIC_RELAXED);
        if (!total) continue;
        for (size_t k = 0; k <= NBUCKET; k++) {
            cum += __atomic_load_n(&stats[ri].bucket[k], __ATOMIC_RELAXED);
            buf_puts(&b, "deliveryd_http_request_duration_seconds_bucket{");
            route_label(&b, ri);
            if (k < NBUCKET)
                buf_printf(&b, ",le=\"%g\"} %lu\n", buckets[k], (unsigned long)cum);
            else
                buf_printf(&b, ",le=\"+Inf\"} %lu\n", (unsigned long)cum);
        }
        buf_puts(&b, "deliveryd_http_request_duration_seconds_sum{");
        route_label(&b, ri);
        buf_printf(&b, "} %.6f\n",
                   (double)__atomic_load_n(&stats[ri].sum_us, __ATOMIC_RELAXED) / 1e6);
        buf_puts(&b, "deliveryd_http_request_duration_seconds_count{");
        route_label(&b, ri);
        buf_printf(&b, "} %lu\n", (unsigned long)cum);
    }
    buf_printf(&b,
               "# HELP deliveryd_db_reconnects_total PostgreSQL connections (re)established.\n"
               "# TYPE deliveryd_db_reconnects_total counter\n"
               "deliveryd_db_reconnects_total %lu\n"
               "# HELP deliveryd_db_statements_total SQL statements sent to PostgreSQL.\n"
               "# TYPE deliveryd_db_statements_total counter\n"
               "deliveryd_db_statements_total %lu\n"
               "# HELP deliveryd_redis_errors_total Failed Redis commands.\n"
               "# TYPE deliveryd_redis_errors_total counter\n"
               "deliveryd_redis_errors_total %lu\n"
               "# HELP deliveryd_replica_reads_total Statements answered by the read replica.\n"
               "# TYPE deliveryd_replica_reads_total counter\n"
               "deliveryd_replica_reads_total %lu\n"
               "# HELP deliveryd_replica_fallbacks_total Reads meant for the replica that went to the\n"
               "# primary (replica down, refusing or lagging).\n"
               "# TYPE deliveryd_replica_fallbacks_total counter\n"
               "deliveryd_replica_fallbacks_total %lu\n",
               (unsigned long)__atomic_load_n(&db_reconnects, __ATOMIC_RELAXED),
               (unsigned long)__atomic_load_n(&db_statements, __ATOMIC_RELAXED),
               (unsigned long)__atomic_load_n(&redis_errors, __ATOMIC_RELAXED),
               (unsigned long)__atomic_load_n(&replica_reads, __ATOMIC_RELAXED),
               (unsigned long)__atomic_load_n(&replica_fallbacks, __ATOMIC_RELAXED));
    return buf_steal(&b, len);
}
