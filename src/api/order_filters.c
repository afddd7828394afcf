/* The filters of GET /orders and GET /orders/export: one implementation. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "deliveryd/api.h"
#include "deliveryd/order_filter.h"
#include "deliveryd/orders.h"

static const char *const statuses[] = {"pending", "assigned",  "picked_up", "delivered",
                                       "failed",  "cancelled", "returned",  NULL};

struct sort_def {
    const char *key;
    const char *sql;
};
static const struct sort_def sorts[] = {
    {"created_at", "o.created_at, o.id"},
    {"-created_at", "o.created_at DESC, o.id DESC"},
    {"updated_at", "o.updated_at, o.id"},
    {"-updated_at", "o.updated_at DESC, o.id DESC"},
    {"status", "o.status, o.created_at DESC, o.id DESC"},
    {"-status", "o.status DESC, o.created_at DESC, o.id DESC"},
    {"delivered_at", "o.delivered_at NULLS LAST, o.id"},
    {"-delivered_at", "o.delivered_at DESC NULLS LAST, o.id DESC"},
    {"order_number", "o.order_number"},
    {"-order_number", "o.order_number DESC"},
    {"estimated_delivery_time", "o.estimated_delivery_time NULLS LAST, o.id"},
    {"-estimated_delivery_time", "o.estimated_delivery_time DESC NULLS LAST, o.id DESC"},
    {"amount", "o.amount NULLS LAST, o.id"},
    {"-amount", "o.amount DESC NULLS LAST, o.id DESC"},
};

void order_filter_free(struct order_filter *f)
{
    buf_free(&f->where);
    buf_free(&f->with);
}

/* "a,b" -> "{a,b}" after checking each status. */
static int status_list(struct req *r, const char *v, const char **out)
{
    buf_t b;
    buf_init(&b);
    buf_puts(&b, "{");
    const char *p = v;
    int n = 0;
    while (*p) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        bool ok = false;
        for (const char *const *s = statuses; *s; s++)
            if (strlen(*s) == len && strncmp(*s, p, len) == 0) ok = true;
        if (!ok) {
            buf_free(&b);
            return reply_field_error(r, "status", "contains an unknown status");
        }
        buf_printf(&b, "%s%.*s", n++ ? "," : "", (int)len, p);
        p += len;
        if (*p == ',') p++;
    }
    buf_puts(&b, "}");
    *out = req_strdup(r, b.data);
    buf_free(&b);
    return 0;
}

/* The q search: the ids of the matching orders, as the CTE m ($1 the text
 * pattern; $2 the digits pattern when q looks like a phone number). */
static const char search_by_text[] =
    "m AS MATERIALIZED (SELECT s.order_id FROM order_search s WHERE s.search_text LIKE lower($1)"
    " UNION ALL SELECT b.order_id FROM order_search_backlog b"
    " WHERE (SELECT search_text(x) LIKE lower($1) FROM orders x WHERE x.id = b.order_id))";
static const char search_by_text_phone[] =
    "m AS MATERIALIZED (SELECT s.order_id FROM order_search s"
    " WHERE s.search_text LIKE lower($1) OR s.phone_digits LIKE $2"
    " UNION ALL SELECT b.order_id FROM order_search_backlog b"
    " WHERE (SELECT search_text(x) LIKE lower($1) OR phone_digits(x) LIKE $2"
    " FROM orders x WHERE x.id = b.order_id))";
/* The same for digits only, $3 its first and last 6-digit windows: the
 * order_search rows holding both (migration 0014), then the LIKE on those
 * few; OFFSET 0 keeps the planner from also scanning the trigram indexes
 * for the LIKE (a BitmapAnd that cost more than all the rest). */
static const char search_by_windows[] =
    "m AS MATERIALIZED (SELECT s.order_id FROM (SELECT s.order_id, s.search_text, s.phone_digits"
    " FROM order_search s WHERE digit_grams(s.search_text, s.phone_digits) @> $3::int[] OFFSET 0) s"
    " WHERE s.search_text LIKE lower($1) OR s.phone_digits LIKE $2"
    " UNION ALL SELECT b.order_id FROM order_search_backlog b"
    " WHERE (SELECT search_text(x) LIKE lower($1) OR phone_digits(x) LIKE $2"
    " FROM orders x WHERE x.id = b.order_id))";

/* LIKE pattern matching q literally: % _ and \ escaped. */
static const char *like_pattern(struct req *r, const char *q, bool digits_only)
{
    buf_t b;
    buf_init(&b);
    buf_puts(&b, "%");
    /* "00965 5xxx xxxx" is how "+965 5xxx xxxx" is dialled: a number that
     * long starting with 00 loses the 00 (a short "0012" stays as it is) */
    size_t ndigits = 0;
    for (const char *p = q; *p; p++) ndigits += isdigit((unsigned char)*p) != 0;
    bool strip_00 = digits_only && ndigits >= 9;
    for (const unsigned char *p = (const unsigned char *)q; *p; p++) {
        if (digits_only) {
            if (!isdigit(*p)) continue;
            if (strip_00 && b.len == 1 && p[0] == '0' && p[1] == '0') {
                strip_00 = false;
                p++;
                continue;
            }
            buf_append(&b, p, 1);
            continue;
        }
        if (*p == '%' || *p == '_' || *p == '\\') buf_puts(&b, "\\");
        buf_append(&b, p, 1);
    }
    buf_puts(&b, "%");
    const char *s = req_strdup(r, b.data);
    buf_free(&b);
    return s;
}

int order_filter_or_reply(struct req *r, struct sqlb *b, struct order_filter *f)
{
    memset(f, 0, sizeof *f);
    buf_init(&f->where);
    buf_init(&f->with);
    buf_puts(&f->where, "TRUE");
    const char *v;
    if ((v = req_query(r, "status")) && *v) {
        const char *list = NULL;
        if (status_list(r, v, &list) < 0) return -1;
        SQLB_ADD_TO(b, &f->where, " AND o.status = ANY($1::text[])", list);
    }
    if (query_id_or_reply(r, "warehouse_id", &v) < 0) return -1;
    if (v) SQLB_ADD_TO(b, &f->where, " AND o.warehouse_id = $1::bigint", v);
    if (query_id_or_reply(r, "driver_id", &v) < 0) return -1;
    if (v) SQLB_ADD_TO(b, &f->where, " AND o.driver_id = $1::bigint", v);
    if ((v = req_query(r, "q")) && *v) {
        if (utf8_chars(v) > 100) return reply_field_error(r, "q", "is longer than 100 characters");
        /* a phone typed with Arabic-Indic digits searches as digits */
        char *ascii = ascii_digits_dup(v);
        req_defer(r, free, ascii);
        v = ascii;
        size_t len = strlen(v);
        size_t digits = 0;
        bool phoneish = true;
        for (const char *p = v; *p; p++) {
            if (isdigit((unsigned char)*p)) digits++;
            else if (!strchr(" -+()", *p)) phoneish = false;
        }
        /* order_search, plus the orders an import has just added and the
         * search indexer has not moved there yet (migration 0009), matched
         * on orders' own columns: the same test on order_search (s) and on
         * orders (x), whose search text is computed by the functions of
         * migration 0012; a subquery per backlog row, so the plan stays a
         * pkey lookup each whatever the planner thinks the backlog holds (a
         * join was planned as a seq scan of all orders).
         * The matching ids are computed once, as a materialized CTE. As a
         * plain IN (subquery) the planner could make them the inner side of
         * a nested loop over the warehouse's orders, rescanned per order:
         * with statistics that do not know yet of a big import into a new
         * warehouse (estimated 1 row, really 9,000, and 9,000 backlog rows
         * each rescan), a search ran into the 15 s statement timeout. */
        const char *text = like_pattern(r, v, false);
        const char *phone = phoneish && digits >= 4 ? like_pattern(r, v, true) : NULL;
        if (!phone) {
            SQLB_ADD_TO(b, &f->with, search_by_text, text);
        } else if (digits == len && len >= 6 && strcmp(text, phone) == 0) {
            /* six digits or more, nothing else, and the same pattern for
             * the text and the phone (no leading 00 dropped): the digit
             * windows first (search_by_windows) */
            SQLB_ADD_TO(b, &f->with, search_by_windows, text, phone,
                        req_printf(r, "{%.6s,%.6s}", v, v + len - 6));
            f->generic_plan = true;
        } else {
            SQLB_ADD_TO(b, &f->with, search_by_text_phone, text, phone);
        }
        buf_puts(&f->where, " AND o.id IN (SELECT order_id FROM m)");
    }
    /* a bare date is a business day in business_timezone (migration 0017);
     * a scalar subquery, so it is computed once, not per row (a function
     * with a subquery in it is not inlined) */
    if (query_time_or_reply(r, "created_from", &v) < 0) return -1;
    if (v) SQLB_ADD_TO(b, &f->where, " AND o.created_at >= (SELECT query_time($1::text))", v);
    if (query_time_or_reply(r, "created_to", &v) < 0) return -1;
    if (v) SQLB_ADD_TO(b, &f->where, " AND o.created_at < (SELECT query_time($1::text))", v);
    v = req_query(r, "archived");
    if (!v || strcmp(v, "false") == 0) buf_puts(&f->where, " AND NOT o.is_archived");
    else if (strcmp(v, "true") == 0) buf_puts(&f->where, " AND o.is_archived");
    else if (strcmp(v, "all") != 0)
        return reply_field_error(r, "archived", "must be true, false or all");
    if (r->who.role == ROLE_DRIVER)
        SQLB_ADD_TO(b, &f->where, " AND o.driver_id = $1::bigint", id_text(r, r->who.driver_id));
    const char *scope = scope_text(r);
    if (scope) SQLB_ADD_TO(b, &f->where, " AND o.warehouse_id = $1::bigint", scope);
    f->order_by = sorts[1].sql;
    if ((v = req_query(r, "sort")) && *v) {
        f->order_by = NULL;
        for (size_t i = 0; i < ARRAY_LEN(sorts); i++)
            if (strcmp(sorts[i].key, v) == 0) f->order_by = sorts[i].sql;
        if (!f->order_by) return reply_field_error(r, "sort", "is not a sortable field");
    }
    return 0;
}
