/* GET /orders: the filtered, sorted page (filters in order_filters.c),
 * with a briefly reused total. */
#include <stdlib.h>
#include <string.h>

#include "deliveryd/api.h"
#include "deliveryd/microcache.h"
#include "deliveryd/order_filter.h"

/* Counting every matching row is the expensive half of a list over a
 * million orders; the count of the same filter is reused for
 * LIST_COUNT_TTL seconds (and dropped by this process's writes,
 * caches_data_changed).
 * When it expires, one request recounts while the others keep the old
 * total for that long, instead of every request in flight counting. */
#define LIST_COUNT_TTL 2.0

void api_orders_list(struct req *r)
{
    struct paging pg;
    struct order_filter f;
    if (paging_or_reply(r, &pg) < 0) return;
    if (order_filter_or_reply(r, &f) < 0) {
        order_filter_free(&f);
        return;
    }
    buf_t key;
    buf_init(&key);
    buf_printf(&key, LIST_TOTALS_PREFIX "%s|%s", f.with ? f.with : "", f.where.data);
    for (int i = 0; i < f.np; i++) buf_printf(&key, "|%s", f.params[i] ? f.params[i] : "\\N");
    size_t clen = 0;
    char *cached = microcache_get_or_refresh(key.data, &clen);
    if (cached) req_defer(r, free, cached);
    int n = f.np;
    f.params[f.np++] = pg.size_s;
    f.params[f.np++] = pg.offset_s;
    f.params[f.np++] = pg.page_s;
    const char *count_sql = req_printf(r, "(SELECT count(*) FROM orders o WHERE %s)", f.where.data);
    if (cached) {
        f.params[f.np++] = cached;
        count_sql = req_printf(r, "$%d::bigint", f.np);
    }
    /* A reused count may predate a write made on another instance; the
     * page itself is always fresh. So the total answered is never below
     * what the page shows, and exact whenever the page is not full. */
    char *sql = req_printf(
        r,
        "%s%s SELECT json_build_object('items', coalesce(i.items, '[]'::json),"
        " 'page', $%d::int, 'page_size', $%d::int, 'total',"
        "  CASE WHEN i.n = 0 AND $%d::bigint > 0 THEN least(c.total, $%d::bigint)"
        "   WHEN i.n < $%d::bigint THEN $%d::bigint + i.n"
        "   ELSE greatest(c.total, $%d::bigint + i.n) END)::text, c.total"
        " FROM (SELECT %s AS total) c,"
        " LATERAL (SELECT json_agg(x.body ORDER BY x.rn) AS items, count(*) AS n"
        "  FROM (SELECT order_body(o) AS body, row_number() OVER (ORDER BY %s) AS rn"
        "  FROM orders o WHERE %s ORDER BY %s LIMIT $%d OFFSET $%d) x) i",
        f.with ? "WITH " : "", f.with ? f.with : "", n + 3, n + 1, n + 2, n + 2, n + 1, n + 2,
        n + 2, count_sql, f.order_by, f.where.data,
        f.order_by, n + 1, n + 2);
    /* a digit search's own plan is fixed (order_filters.c): planned once
     * per connection, not per request, which was most of its time */
    db_res *res = f.generic_plan ? db_query_generic_or_reply(r, sql, f.np, f.params)
                                 : db_query_or_reply(r, sql, f.np, f.params);
    order_filter_free(&f);
    if (res && !cached && db_ntuples(res) == 1)
        microcache_put(key.data, db_get(res, 0, 1), db_getlen(res, 0, 1), LIST_COUNT_TTL);
    buf_free(&key);
    if (res) reply_row_json(r, 200, res);
}

