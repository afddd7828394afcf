/* What the live stream reads (include/deliveryd/stream_feed.h). */
#include "deliveryd/stream_feed.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deliveryd/db.h"
#include "deliveryd/log.h"

int stream_ticket_create(int64_t user_id, char out[65])
{
    unsigned char raw[32];
    randombytes_buf(raw, sizeof raw);
    hex_encode(raw, sizeof raw, out);
    char uid[24], ttl[8];
    snprintf(uid, sizeof uid, "%" PRId64, user_id);
    snprintf(ttl, sizeof ttl, "%d", STREAM_TICKET_TTL);
    struct db_error err;
    db_res *res = db_run(Q(stream_ticket_create)(out, uid, ttl), &err);
    if (!res) return -1;
    db_res_free(res);
    return 0;
}

enum stream_ticket_status stream_ticket_consume(const char *ticket, int64_t *user_id,
                                                char *role, size_t rolelen)
{
    /* a ticket is 64 hex digits: anything else is not one of ours */
    if (strlen(ticket) != 64 || strspn(ticket, "0123456789abcdef") != 64) return TICKET_UNKNOWN;
    struct db_error err;
    db_res *res = db_run(Q(stream_ticket_consume)(ticket), &err);
    if (!res) return TICKET_DB_DOWN;
    enum stream_ticket_status st = TICKET_UNKNOWN;
    if (db_ntuples(res) == 1) {
        int64_t id = 0;
        if (parse_i64(db_get(res, 0, 0), db_getlen(res, 0, 0), false, &id)) {
            *user_id = id;
            snprintf(role, rolelen, "%s", db_get(res, 0, 1));
            st = db_get(res, 0, 2)[0] == 't' ? TICKET_OK : TICKET_EXPIRED;
        }
    }
    db_res_free(res);
    return st;
}

void stream_events_free(struct stream_events *e)
{
    for (size_t i = 0; i < e->n; i++) free(e->ev[i].json);
    free(e->ev);
    e->ev = NULL;
    e->n = 0;
}

static int64_t i64_of(const db_res *res, int row, int col)
{
    int64_t v = 0;
    if (!parse_i64(db_get(res, row, col), db_getlen(res, row, col), false, &v)) v = 0;
    return v;
}

int stream_events_bounds(int64_t *oldest, int64_t *newest)
{
    struct db_error err;
    db_res *res = db_run(Q(stream_events_oldest)(), &err);
    if (!res) return -1;
    int rc = -1;
    if (db_ntuples(res) == 1) {
        *oldest = i64_of(res, 0, 0);
        *newest = i64_of(res, 0, 1);
        rc = 0;
    }
    db_res_free(res);
    return rc;
}

int stream_events_read(int64_t after, const int64_t *missing, size_t nmissing, int limit,
                       struct stream_events *out)
{
    memset(out, 0, sizeof *out);
    char a[24], l[16];
    snprintf(a, sizeof a, "%" PRId64, after);
    snprintf(l, sizeof l, "%d", limit);
    buf_t m;
    buf_init(&m);
    buf_puts(&m, "{");
    for (size_t i = 0; i < nmissing; i++) buf_printf(&m, "%s%" PRId64, i ? "," : "", missing[i]);
    buf_puts(&m, "}");
    struct db_error err;
    db_res *res = db_run(Q(stream_events_after)(a, m.data, l), &err);
    buf_free(&m);
    if (!res) {
        log_msgf(LOG_WARN, "stream: reading events: %s", err.message);
        return -1;
    }
    int n = db_ntuples(res);
    out->ev = xcalloc((size_t)n + 1, sizeof *out->ev);
    for (int i = 0; i < n; i++) {
        struct stream_event *e = &out->ev[out->n++];
        e->id = i64_of(res, i, 0);
        e->warehouse_id = i64_of(res, i, 1);
        e->json = db_isnull(res, i, 2) ? NULL : xstrdup(db_get(res, i, 2));
    }
    db_res_free(res);
    return 0;
}

int stream_events_replay(int64_t after, int64_t upto, int64_t scope, int limit,
                         struct stream_events *out, int64_t *oldest)
{
    memset(out, 0, sizeof *out);
    *oldest = 0;
    char a[24], u[24], s[24], l[16];
    snprintf(a, sizeof a, "%" PRId64, after);
    snprintf(u, sizeof u, "%" PRId64, upto);
    snprintf(s, sizeof s, "%" PRId64, scope);
    snprintf(l, sizeof l, "%d", limit);
    struct db_error err;
    db_res *res = db_run(Q(stream_events_replay)(a, u, s, l), &err);
    if (!res) {
        log_msgf(LOG_WARN, "stream: replaying events: %s", err.message);
        return -1;
    }
    int n = db_ntuples(res);
    out->ev = xcalloc((size_t)n + 1, sizeof *out->ev);
    for (int i = 0; i < n; i++) {
        struct stream_event *e = &out->ev[out->n++];
        e->id = i64_of(res, i, 0);
        e->warehouse_id = scope;
        e->json = xstrdup(db_get(res, i, 1));
        if (i == 0) *oldest = i64_of(res, i, 2);
    }
    db_res_free(res);
    if (n == 0) {
        int64_t lo = 0, hi = 0;
        if (stream_events_bounds(&lo, &hi) < 0) return -1;
        *oldest = lo;
    }
    return 0;
}

void stream_points_free(struct stream_points *p)
{
    for (size_t i = 0; i < p->n; i++) free(p->p[i].json);
    free(p->p);
    p->p = NULL;
    p->n = 0;
}

int stream_points_cursor(char *cursor, size_t len)
{
    struct db_error err;
    db_res *res = db_run(Q(stream_drivers_cursor)(), &err);
    if (!res) return -1;
    int rc = -1;
    if (db_ntuples(res) == 1) {
        snprintf(cursor, len, "%s", db_get(res, 0, 0));
        rc = 0;
    }
    db_res_free(res);
    return rc;
}

int stream_points_read(char *cursor, size_t len, struct stream_points *out)
{
    memset(out, 0, sizeof *out);
    struct db_error err;
    db_res *res = db_run(Q(stream_drivers_moved)(cursor), &err);
    if (!res) {
        log_msgf(LOG_WARN, "stream: reading driver points: %s", err.message);
        return -1;
    }
    int n = db_ntuples(res);
    out->p = xcalloc((size_t)n + 1, sizeof *out->p);
    for (int i = 0; i < n; i++) {
        struct stream_point *p = &out->p[out->n++];
        p->driver_id = i64_of(res, i, 0);
        p->warehouse_id = i64_of(res, i, 1);
        p->json = xstrdup(db_get(res, i, 2));
    }
    if (n > 0) snprintf(cursor, len, "%s", db_get(res, n - 1, 3));
    db_res_free(res);
    return 0;
}
