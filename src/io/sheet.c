/* The row iterator shared by the spreadsheet readers: dispatch, limits,
 * empty-row skipping, and the number/date text every reader prints. */
#include "sheet_internal.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const struct sheet_limits SHEET_DEFAULT_LIMITS = {
    .max_rows = 50000,
    .max_columns = 200,
    .max_cell_bytes = 32 * 1024,
    .max_text_bytes = 64u * 1024 * 1024,
    .max_seconds = 20,
    .max_inflated = 100u * 1024 * 1024,
    .max_entry = 100u * 1024 * 1024,
    .max_ratio = 200,
    .max_zip_entries = 10000,
    .max_shared_strings = 1000000,
    .max_shared_bytes = 64u * 1024 * 1024,
};

int sheet_fail(struct sheet_reader *r, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(r->err, sizeof r->err, fmt, ap);
    va_end(ap);
    if (n < 0) r->err[0] = '\0';
    return code;
}

static void copy_err(char *err, size_t errlen, const char *msg)
{
    if (!err || errlen == 0) return;
    size_t n = strlen(msg);
    if (n >= errlen) n = errlen - 1;
    memcpy(err, msg, n);
    err[n] = '\0';
}

int sheet_open(enum sheet_format fmt, const void *data, size_t len, const struct sheet_limits *lim,
               struct sheet_reader **out, char *err, size_t errlen)
{
    *out = NULL;
    struct sheet_reader *r = xcalloc(1, sizeof *r);
    r->lim = lim ? *lim : SHEET_DEFAULT_LIMITS;
    if (r->lim.max_columns == 0) r->lim.max_columns = 1;
    if (r->lim.max_seconds == 0) r->lim.max_seconds = 1;
    buf_init(&r->row.text);
    if (!data) len = 0;
    if (!data) data = "";
    int rc;
    switch (fmt) {
    case SHEET_XLSX:
        rc = xlsx_open(r, data, len);
        break;
    case SHEET_XLS:
        rc = xls_open(r, data, len);
        break;
    case SHEET_CSV:
        rc = csv_open(r, data, len);
        break;
    default:
        rc = sheet_fail(r, SHEET_ERR_FORMAT, "unknown spreadsheet format");
        break;
    }
    if (rc != 0) {
        copy_err(err, errlen, r->err);
        r->ops = NULL; /* the reader freed its own state */
        sheet_close(r);
        return rc;
    }
    copy_err(err, errlen, "");
    *out = r;
    return 0;
}

/* Trims trailing empty cells and points the public cells at the text.
 * Returns the number of cells (0 = the row is empty). */
static size_t row_finish(struct row_builder *b)
{
    size_t n = b->used;
    while (n > 0 && b->slots[n - 1].kind == SHEET_CELL_EMPTY)
        n--;
    if (n == 0) return 0;
    if (b->cells_cap < n) {
        b->cells = xrealloc(b->cells, n * sizeof *b->cells);
        b->cells_cap = n;
    }
    for (size_t i = 0; i < n; i++) {
        struct row_slot *s = &b->slots[i];
        b->cells[i].kind = s->kind;
        if (s->kind == SHEET_CELL_EMPTY) {
            b->cells[i].text = "";
            b->cells[i].len = 0;
        } else {
            b->cells[i].text = b->text.data + s->off;
            b->cells[i].len = s->len;
        }
    }
    return n;
}

int sheet_next_row(struct sheet_reader *r, long *row_number, const struct sheet_cell **cells,
                   size_t *ncells)
{
    *cells = NULL;
    *ncells = 0;
    *row_number = 0;
    if (r->sticky) return r->sticky;
    for (;;) {
        row_reset(&r->row);
        long num = 0;
        int rc = r->ops->next(r, &num);
        if (rc < 0) {
            r->sticky = rc;
            return rc;
        }
        if (rc == 0) return 0;
        size_t n = row_finish(&r->row);
        if (n == 0) continue;
        /* the first non-empty row is the header, the limit counts data rows */
        if (r->rows_returned++ > r->lim.max_rows) {
            r->sticky =
                sheet_fail(r, SHEET_ERR_TOO_LARGE,
                           "the sheet has more than %zu data rows (row %ld)", r->lim.max_rows, num);
            return r->sticky;
        }
        r->text_returned += r->row.text.len;
        if (r->text_returned > r->lim.max_text_bytes) {
            r->sticky = sheet_fail(r, SHEET_ERR_TOO_LARGE,
                                   "the sheet holds more than %llu bytes of text (row %ld)",
                                   (unsigned long long)r->lim.max_text_bytes, num);
            return r->sticky;
        }
        *row_number = num;
        *cells = r->row.cells;
        *ncells = n;
        return 1;
    }
}

const char *sheet_error(const struct sheet_reader *r)
{
    return r ? r->err : "";
}

void sheet_close(struct sheet_reader *r)
{
    if (!r) return;
    if (r->ops && r->ops->close) r->ops->close(r->impl);
    free(r->row.slots);
    free(r->row.cells);
    buf_free(&r->row.text);
    free(r);
}

void row_reset(struct row_builder *b)
{
    for (size_t i = 0; i < b->used; i++)
        b->slots[i].kind = SHEET_CELL_EMPTY;
    b->used = 0;
    b->text.len = 0;
    if (b->text.data) b->text.data[0] = '\0';
}

void sheet_column_name(size_t col, char *out, size_t outlen)
{
    char tmp[16];
    size_t n = 0;
    size_t c = col + 1;
    while (c > 0 && n < sizeof tmp) {
        size_t rem = (c - 1) % 26;
        tmp[n++] = (char)('A' + rem);
        c = (c - 1) / 26;
    }
    if (outlen == 0) return;
    size_t i = 0;
    for (; i < n && i + 1 < outlen; i++)
        out[i] = tmp[n - 1 - i];
    out[i] = '\0';
}

int row_set(struct sheet_reader *r, long row_number, size_t col, enum sheet_cell_kind kind,
            const char *text, size_t len)
{
    struct row_builder *b = &r->row;
    if (len == 0) kind = SHEET_CELL_EMPTY;
    if (kind == SHEET_CELL_EMPTY) {
        if (col < b->used) b->slots[col].kind = SHEET_CELL_EMPTY;
        return 0;
    }
    char cname[16];
    if (col >= r->lim.max_columns) {
        sheet_column_name(col, cname, sizeof cname);
        return sheet_fail(r, SHEET_ERR_TOO_LARGE,
                          "row %ld: cell %s%ld is beyond the limit of %zu columns", row_number,
                          cname, row_number, r->lim.max_columns);
    }
    if (len > r->lim.max_cell_bytes) {
        sheet_column_name(col, cname, sizeof cname);
        return sheet_fail(r, SHEET_ERR_TOO_LARGE, "row %ld: cell %s%ld is longer than %zu bytes",
                          row_number, cname, row_number, r->lim.max_cell_bytes);
    }
    size_t bad = utf8_valid_prefix((const unsigned char *)text, len);
    if (bad != len) {
        sheet_column_name(col, cname, sizeof cname);
        return sheet_fail(r, SHEET_ERR_FORMAT, "row %ld: cell %s%ld is not valid UTF-8", row_number,
                          cname, row_number);
    }
    if (col >= b->cap) {
        size_t cap = b->cap ? b->cap : 16;
        while (cap <= col)
            cap *= 2;
        if (cap > r->lim.max_columns) cap = r->lim.max_columns;
        b->slots = xrealloc(b->slots, cap * sizeof *b->slots);
        for (size_t i = b->cap; i < cap; i++)
            b->slots[i].kind = SHEET_CELL_EMPTY;
        b->cap = cap;
    }
    /* a repeated column overwrites; its old text just stays unused */
    b->slots[col].off = b->text.len;
    b->slots[col].len = len;
    b->slots[col].kind = kind;
    buf_append(&b->text, text, len);
    buf_append(&b->text, "", 1);
    if (col + 1 > b->used) {
        for (size_t i = b->used; i < col; i++)
            b->slots[i].kind = SHEET_CELL_EMPTY;
        b->used = col + 1;
    }
    return 0;
}

bool sheet_parse_number(const char *s, size_t len, double *out)
{
    char tmp[64];
    if (len == 0 || len >= sizeof tmp) return false;
    size_t i = 0, digits = 0;
    if (s[i] == '-' || s[i] == '+') i++;
    while (i < len && s[i] >= '0' && s[i] <= '9')
        i++, digits++;
    if (i < len && s[i] == '.') {
        i++;
        while (i < len && s[i] >= '0' && s[i] <= '9')
            i++, digits++;
    }
    if (digits == 0) return false;
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < len && (s[i] == '-' || s[i] == '+')) i++;
        size_t ed = 0;
        while (i < len && s[i] >= '0' && s[i] <= '9')
            i++, ed++;
        if (ed == 0) return false;
    }
    if (i != len) return false;
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    /* The daemon never calls setlocale, so strtod reads '.' as the point. */
    double v = strtod(tmp, NULL);
    if (!isfinite(v)) return false;
    *out = v;
    return true;
}

size_t sheet_format_number(double v, char out[SHEET_NUMBER_BUFSZ])
{
    int n;
    if (!isfinite(v)) {
        memcpy(out, "#NUM!", 6);
        return 5;
    }
    if (v == 0) {
        memcpy(out, "0", 2);
        return 1;
    }
    if (v == trunc(v) && fabs(v) < 1e15) {
        n = snprintf(out, SHEET_NUMBER_BUFSZ, "%.0f", v);
        return n > 0 ? (size_t)n : 0;
    }
    /* shortest %e that reads back to v */
    char e[40];
    int prec;
    for (prec = 1; prec <= 17; prec++) {
        n = snprintf(e, sizeof e, "%.*e", prec - 1, v);
        if (n > 0 && strtod(e, NULL) == v) break;
    }
    if (prec > 17) prec = 17, snprintf(e, sizeof e, "%.16e", v);
    /* e = [-]d[.ddd]e[+-]XX: split into sign, digits, exponent */
    const char *p = e;
    bool neg = false;
    if (*p == '-') neg = true, p++;
    char dig[20];
    size_t nd = 0;
    for (; *p && *p != 'e'; p++)
        if (*p >= '0' && *p <= '9' && nd < sizeof dig) dig[nd++] = *p;
    int exp10 = (*p == 'e') ? atoi(p + 1) : 0;
    while (nd > 1 && dig[nd - 1] == '0')
        nd--;
    size_t o = 0;
    char *w = out;
    if (neg) w[o++] = '-';
    if (exp10 >= 21 || exp10 < -7) {
        w[o++] = dig[0];
        if (nd > 1) {
            w[o++] = '.';
            for (size_t i = 1; i < nd; i++)
                w[o++] = dig[i];
        }
        n = snprintf(w + o, SHEET_NUMBER_BUFSZ - o, "E%+03d", exp10);
        return n > 0 ? o + (size_t)n : o;
    }
    if (exp10 < 0) {
        w[o++] = '0';
        w[o++] = '.';
        for (int i = -1; i > exp10; i--)
            w[o++] = '0';
        for (size_t i = 0; i < nd; i++)
            w[o++] = dig[i];
    } else {
        size_t ip = (size_t)exp10 + 1; /* digits before the point */
        for (size_t i = 0; i < ip; i++)
            w[o++] = i < nd ? dig[i] : '0';
        if (nd > ip) {
            w[o++] = '.';
            for (size_t i = ip; i < nd; i++)
                w[o++] = dig[i];
        }
    }
    w[o] = '\0';
    return o;
}

/* Days since 1970-01-01 of a civil date, and back (H. Hinnant's algorithms). */
static long days_from_civil(long y, unsigned m, unsigned d)
{
    y -= m <= 2;
    long era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (long)doe - 719468;
}

static void civil_from_days(long z, long *y, unsigned *m, unsigned *d)
{
    z += 719468;
    long era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    long yy = (long)yoe + era * 400;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = yy + (*m <= 2);
}

size_t sheet_excel_date(double serial, bool date1904, enum sheet_cell_kind kind,
                        char out[SHEET_DATE_BUFSZ], enum sheet_cell_kind *kind_out)
{
    out[0] = '\0';
    if (!(serial >= 0 && serial < 2958466.0)) return 0;
    long long secs = llround(serial * 86400.0);
    long days = (long)(secs / 86400);
    long tod = (long)(secs % 86400);
    if (days > 2958465) return 0;
    long y;
    unsigned m, d;
    if (date1904) {
        civil_from_days(days_from_civil(1904, 1, 1) + days, &y, &m, &d);
    } else if (days == 60) {
        y = 1900, m = 2, d = 29; /* Lotus 1-2-3's leap day that never was */
    } else if (days < 60) {
        civil_from_days(days_from_civil(1899, 12, 31) + days, &y, &m, &d);
    } else {
        civil_from_days(days_from_civil(1899, 12, 30) + days, &y, &m, &d);
    }
    if (kind == SHEET_CELL_TIME && days > 0) kind = SHEET_CELL_DATETIME;
    if (kind != SHEET_CELL_TIME && kind != SHEET_CELL_DATETIME) kind = SHEET_CELL_DATE;
    int n;
    int hh = (int)(tod / 3600), mi = (int)(tod / 60 % 60), ss = (int)(tod % 60);
    if (kind == SHEET_CELL_TIME)
        n = snprintf(out, SHEET_DATE_BUFSZ, "%02d:%02d:%02d", hh, mi, ss);
    else if (kind == SHEET_CELL_DATETIME)
        n = snprintf(out, SHEET_DATE_BUFSZ, "%04ld-%02u-%02uT%02d:%02d:%02d", y, m, d, hh, mi, ss);
    else
        n = snprintf(out, SHEET_DATE_BUFSZ, "%04ld-%02u-%02u", y, m, d);
    if (kind_out) *kind_out = kind;
    return n > 0 && n < SHEET_DATE_BUFSZ ? (size_t)n : 0;
}

enum sheet_format sheet_sniff(const void *data, size_t len)
{
    static const unsigned char ole[8] = {0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1};
    const unsigned char *p = data;
    if (len >= 4 && p[0] == 'P' && p[1] == 'K' && p[2] == 3 && p[3] == 4) return SHEET_XLSX;
    if (len >= 8 && memcmp(p, ole, 8) == 0) return SHEET_XLS;
    if (sheet_is_old_biff(data, len)) return SHEET_XLS; /* refused with advice */
    return SHEET_CSV;
}

bool sheet_is_old_biff(const void *data, size_t len)
{
    /* BOF record: type 0x0009 (BIFF2), 0x0209 (BIFF3) or 0x0409 (BIFF4), body
     * 4 or 6 bytes; no text starts with a tab and a NUL */
    const unsigned char *p = data;
    if (len < 8 || p[0] != 0x09 || (p[1] != 0x00 && p[1] != 0x02 && p[1] != 0x04)) return false;
    return (p[2] == 4 || p[2] == 6) && p[3] == 0;
}
