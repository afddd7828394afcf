/* GET /orders/export?format=xlsx|csv with the list's filters: rows come
 * through a cursor in chunks and are written to a private temporary file
 * (libxlsxwriter in constant-memory mode, or CSV with a UTF-8 BOM), which
 * is then served from its descriptor and already unlinked. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xlsxwriter.h>

#include "deliveryd/api.h"
#include "deliveryd/order_filter.h"
#include "deliveryd/orders.h"

enum col_kind { C_TEXT, C_NUMBER, C_TIME };

struct col {
    const char *header;
    const char *sql;
    enum col_kind kind;
    double width;
};

#define LOCAL(x) "to_char(" x " AT TIME ZONE s.tz, 'YYYY-MM-DD HH24:MI:SS')"
static const struct col cols[] = {
    {"Order Number", "o.order_number", C_TEXT, 16},
    {"Status", "o.status", C_TEXT, 11},
    {"Warehouse", "w.code", C_TEXT, 11},
    {"Driver", "d.code", C_TEXT, 10},
    {"Customer Name", "o.customer_name", C_TEXT, 24},
    {"Customer Phone", "o.customer_phone", C_TEXT, 15},
    {"Delivery Address", "o.delivery_address", C_TEXT, 30},
    {"Area", "o.area", C_TEXT, 14},
    {"Block", "o.block", C_TEXT, 7},
    {"Street", "o.street", C_TEXT, 12},
    {"Avenue", "o.avenue", C_TEXT, 8},
    {"Building", "o.building", C_TEXT, 9},
    {"Floor", "o.floor", C_TEXT, 6},
    {"Apartment", "o.apartment", C_TEXT, 9},
    {"PACI", "o.paci_number", C_TEXT, 10},
    {"Amount", "o.amount::text", C_NUMBER, 9},
    {"Payment Method", "o.payment_method", C_TEXT, 10},
    {"Notes", "o.notes", C_TEXT, 24},
    {"Created At", LOCAL("o.created_at"), C_TIME, 17},
    {"Assigned At", LOCAL("o.assigned_at"), C_TIME, 17},
    {"Picked Up At", LOCAL("o.picked_up_at"), C_TIME, 17},
    {"Delivered At", LOCAL("o.delivered_at"), C_TIME, 17},
    {"Delivery Time", "duration_hhmm(delivery_seconds(o))", C_TEXT, 9},
    {"Estimated Delivery Time", LOCAL("o.estimated_delivery_time"), C_TIME, 17},
    {"Failure Reason", "o.failure_reason", C_TEXT, 20},
    {"Failure Reason Code", "o.failure_reason_code", C_TEXT, 16},
    {"Cancel Reason", "o.cancel_reason", C_TEXT, 20},
    {"Latitude", "o.delivery_latitude::text", C_NUMBER, 10},
    {"Longitude", "o.delivery_longitude::text", C_NUMBER, 10},
};
#define NCOLS ((int)ARRAY_LEN(cols))

struct writer {
    bool xlsx;
    lxw_workbook *wb;
    lxw_worksheet *ws;
    lxw_format *bold, *when;
    FILE *csv;
    lxw_row_t row;
};

static void csv_cell(FILE *f, const char *v, enum col_kind kind, bool last)
{
    bool quote = strpbrk(v, ",\"\r\n;") != NULL;
    /* a text cell that Excel would run as a formula gets a leading quote */
    bool guard = kind == C_TEXT &&
                 (v[0] == '=' || v[0] == '@' ||
                  ((v[0] == '+' || v[0] == '-') && v[1] && (v[1] < '0' || v[1] > '9')));
    if (quote || guard) fputc('"', f);
    if (guard) fputc('\'', f);
    for (const char *p = v; *p; p++) {
        if (*p == '"') fputc('"', f);
        fputc(*p, f);
    }
    if (quote || guard) fputc('"', f);
    fputs(last ? "\r\n" : ",", f);
}

static void write_header(struct writer *w)
{
    for (int c = 0; c < NCOLS; c++) {
        if (w->xlsx) {
            worksheet_set_column(w->ws, (lxw_col_t)c, (lxw_col_t)c, cols[c].width, NULL);
            worksheet_write_string(w->ws, 0, (lxw_col_t)c, cols[c].header, w->bold);
        } else {
            csv_cell(w->csv, cols[c].header, C_TEXT, c == NCOLS - 1);
        }
    }
    if (w->xlsx) worksheet_freeze_panes(w->ws, 1, 0);
    w->row = 1;
}

/* XML 1.0 has no U+FFFE or U+FFFF, and libxlsxwriter writes them as they
 * are (it escapes only control characters): one such character in a name
 * made the whole .xlsx unreadable. They become U+FFFD, the same 3 bytes
 * long. Returns v, or a copy to free in *copy. */
static const char *xml_chars(const char *v, char **copy)
{
    *copy = NULL;
    for (const char *p = v; (p = strstr(p, "\xEF\xBF")) != NULL; p += 2) {
        if ((unsigned char)p[2] != 0xBE && (unsigned char)p[2] != 0xBF) continue;
        if (!*copy) *copy = xstrdup(v);
        (*copy)[p - v + 2] = (char)0xBD;
    }
    return *copy ? *copy : v;
}

static void write_row(struct writer *w, db_res *res, int i)
{
    for (int c = 0; c < NCOLS; c++) {
        const char *v = db_isnull(res, i, c) ? "" : db_get(res, i, c);
        if (!w->xlsx) {
            csv_cell(w->csv, v, cols[c].kind, c == NCOLS - 1);
            continue;
        }
        if (!*v) continue;
        lxw_col_t col = (lxw_col_t)c;
        if (cols[c].kind == C_NUMBER) {
            worksheet_write_number(w->ws, w->row, col, strtod(v, NULL), NULL);
        } else if (cols[c].kind == C_TIME) {
            lxw_datetime dt = {0};
            double sec = 0;
            if (sscanf(v, "%d-%d-%d %d:%d:%lf", &dt.year, &dt.month, &dt.day, &dt.hour, &dt.min,
                       &sec) == 6) {
                dt.sec = sec;
                worksheet_write_datetime(w->ws, w->row, col, &dt, w->when);
            }
        } else {
            char *copy;
            worksheet_write_string(w->ws, w->row, col, xml_chars(v, &copy), NULL);
            free(copy);
        }
    }
    w->row++;
}

void api_orders_export(struct req *r)
{
    const char *format = req_query(r, "format");
    if (!format) format = "xlsx";
    bool xlsx = strcmp(format, "xlsx") == 0;
    if (!xlsx && strcmp(format, "csv") != 0) {
        reply_field_error(r, "format", "must be xlsx or csv");
        return;
    }
    struct sqlb sql;
    sqlb_init(&sql);
    struct order_filter f;
    if (order_filter_or_reply(r, &sql, &f) < 0) {
        order_filter_free(&f);
        sqlb_free(&sql);
        return;
    }
    sqlb_puts(&sql, "DECLARE export_cur NO SCROLL CURSOR FOR"
                    " WITH s AS (SELECT business_timezone() AS tz)");
    if (f.with.len) sqlb_printf(&sql, ", %s", f.with.data);
    sqlb_puts(&sql, " SELECT ");
    for (int c = 0; c < NCOLS; c++) sqlb_printf(&sql, "%s%s", c ? ", " : "", cols[c].sql);
    sqlb_printf(&sql,
                " FROM orders o CROSS JOIN s JOIN warehouses w ON w.id = o.warehouse_id"
                " LEFT JOIN drivers d ON d.id = o.driver_id WHERE %s ORDER BY %s",
                f.where.data, f.order_by);
    char dir[] = "/tmp/deliveryd-export-XXXXXX";
    if (!mkdtemp(dir)) {
        sqlb_free(&sql);
        order_filter_free(&f);
        reply_problem(r, 500, "internal", "cannot create a temporary directory");
        return;
    }
    char path[64];
    snprintf(path, sizeof path, "%s/export.%s", dir, xlsx ? "xlsx" : "csv");
    struct writer w = {.xlsx = xlsx};
    if (xlsx) {
        lxw_workbook_options opt = {.constant_memory = LXW_TRUE, .tmpdir = dir};
        w.wb = workbook_new_opt(path, &opt);
        w.ws = w.wb ? workbook_add_worksheet(w.wb, "Orders") : NULL;
        if (w.ws) {
            w.bold = workbook_add_format(w.wb);
            format_set_bold(w.bold);
            w.when = workbook_add_format(w.wb);
            format_set_num_format(w.when, "yyyy-mm-dd hh:mm");
        }
    } else {
        w.csv = fopen(path, "w");
        if (w.csv) fputs("\xEF\xBB\xBF", w.csv); /* BOM: Excel then reads UTF-8 (Arabic) */
    }
    bool ok = (xlsx ? w.ws != NULL : w.csv != NULL);
    char day[16] = "";
    if (ok) write_header(&w);
    /* an export tolerates a second of lag: the replica's when it is usable
     * (READ_DATABASE_URL); the cursor's transaction stays on one server */
    if (ok) db_prefer_replica();
    if (ok && db_begin_or_reply(r) == 0 && sqlb_or_reply(r, &sql, DB_PLAN_EACH)) {
        for (;;) {
            db_res *res = db_q_or_reply(r, Q(export_fetch)());
            if (!res) {
                ok = false;
                break;
            }
            for (int i = 0; i < db_ntuples(res); i++) write_row(&w, res, i);
            if (db_ntuples(res) == 0) break;
        }
        /* the file is named after the business day, like the dates in it */
        db_res *d = ok ? db_q_or_reply(r, Q(export_business_day)()) : NULL;
        if (d) snprintf(day, sizeof day, "%s", db_get(d, 0, 0));
        else ok = false;
        db_rollback(); /* read-only: closes the cursor */
    } else {
        ok = false;
    }
    sqlb_free(&sql);
    order_filter_free(&f);
    if (xlsx && w.wb && workbook_close(w.wb) != LXW_NO_ERROR) ok = false;
    if (!xlsx && w.csv && fclose(w.csv) != 0) ok = false;
    int fd = ok ? open(path, O_RDONLY | O_CLOEXEC) : -1;
    unlink(path);
    rmdir(dir);
    if (fd < 0) {
        if (!r->responded) reply_problem(r, 500, "internal", "the export could not be written");
        return;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        close(fd);
        reply_problem(r, 500, "internal", "the export could not be written");
        return;
    }
    char disp[96];
    snprintf(disp, sizeof disp, "attachment; filename=\"orders-%s.%s\"", day, xlsx ? "xlsx" : "csv");
    reply_header(r, "Content-Disposition", disp);
    reply_fd(r, 200,
             xlsx ? "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
                  : "text/csv; charset=utf-8",
             fd, (uint64_t)st.st_size);
}
