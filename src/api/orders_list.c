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

/* the columns of the list's statement: the reply, then the count alone */
enum { LIST_REPLY, LIST_TOTAL };

void api_orders_list(struct req *r)
{
    struct paging pg;
    if (paging_or_reply(r, &pg) < 0) return;
    struct sqlb b;
    sqlb_init(&b);
    struct order_filter f;
    if (order_filter_or_reply(r, &b, &f) < 0) {
        order_filter_free(&f);
        sqlb_free(&b);
        return;
    }
    /* the total's cache key: the filter's text and its values (all that
     * is in b so far) */
    buf_t key;
    buf_init(&key);
    buf_printf(&key, LIST_TOTALS_PREFIX "%s|%s", f.with.data ? f.with.data : "", f.where.data);
    for (int i = 0; i < b.np; i++) buf_printf(&key, "|%s", b.params[i] ? b.params[i] : "\\N");
    size_t clen = 0;
    char *cached = microcache_get_or_refresh(key.data, &clen);
    if (cached) req_defer(r, free, cached);
    /* A reused count may predate a write made on another instance; the
     * page itself is always fresh. So the total answered is never below
     * what the page shows, and exact whenever the page is not full. */
    if (f.with.len) sqlb_printf(&b, "WITH %s", f.with.data);
    int size = sqlb_param_to(&b, NULL, pg.size_s);
    int offset = sqlb_param_to(&b, NULL, pg.offset_s);
    sqlb_puts(&b, " SELECT json_build_object('items', coalesce(i.items, '[]'::json), 'page', ");
    sqlb_param(&b, pg.page_s);
    sqlb_puts(&b, "::int, 'page_size', ");
    sqlb_ref(&b, size);
    sqlb_puts(&b, "::int, 'total',  CASE WHEN i.n = 0 AND ");
    sqlb_ref(&b, offset);
    sqlb_puts(&b, "::bigint > 0 THEN least(c.total, ");
    sqlb_ref(&b, offset);
    sqlb_puts(&b, "::bigint)   WHEN i.n < ");
    sqlb_ref(&b, size);
    sqlb_puts(&b, "::bigint THEN ");
    sqlb_ref(&b, offset);
    sqlb_puts(&b, "::bigint + i.n   ELSE greatest(c.total, ");
    sqlb_ref(&b, offset);
    sqlb_puts(&b, "::bigint + i.n) END)::text, c.total FROM (SELECT ");
    if (cached) {
        sqlb_param(&b, cached);
        sqlb_puts(&b, "::bigint");
    } else {
        sqlb_printf(&b, "(SELECT count(*) FROM orders o WHERE %s)", f.where.data);
    }
    sqlb_printf(&b,
                " AS total) c,"
                " LATERAL (SELECT json_agg(x.body ORDER BY x.rn) AS items, count(*) AS n"
                "  FROM (SELECT order_body(o) AS body, row_number() OVER (ORDER BY %s) AS rn"
                "  FROM orders o WHERE %s ORDER BY %s LIMIT ",
                f.order_by, f.where.data, f.order_by);
    sqlb_ref(&b, size);
    sqlb_puts(&b, " OFFSET ");
    sqlb_ref(&b, offset);
    sqlb_puts(&b, ") x) i");
    /* a digit search's own plan is fixed (order_filters.c): planned once
     * per connection, not per request, which was most of its time */
    db_res *res = sqlb_or_reply(r, &b, f.generic_plan ? DB_PLAN_GENERIC : DB_PLAN_EACH);
    sqlb_free(&b);
    order_filter_free(&f);
    if (res && !cached && db_ntuples(res) == 1)
        microcache_put(key.data, db_get(res, 0, LIST_TOTAL), db_getlen(res, 0, LIST_TOTAL),
                       LIST_COUNT_TTL);
    buf_free(&key);
    if (res) reply_row_json(r, 200, res); /* LIST_REPLY */
}
