/* .csv reader over libcsv: RFC 4180 (quoted fields, embedded newlines,
 * doubled quotes), strict about quoting, UTF-8 only (a BOM is skipped; other
 * encodings are refused with a message saying how to save the file).
 * The delimiter (',' ';' or tab) is whichever occurs most often outside
 * quotes in the header line. Rows are numbered as a spreadsheet opening the
 * file would number them: every record counts, blank lines too, and a quoted
 * field spanning lines stays one row. The input is fed to libcsv in slices;
 * the rows a slice completes wait in a small queue. */
#include "sheet_internal.h"

#include <csv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SLICE 16384

struct qfield {
    size_t off, len;
};

struct qrow {
    long num;
    size_t first, n; /* fields[first .. first+n) */
};

struct csvr {
    struct sheet_reader *r;
    struct csv_parser p;
    const unsigned char *data;
    size_t len, pos;
    bool finished;

    buf_t text; /* field bytes */
    struct qfield *fields;
    size_t nfields, fields_cap;
    struct qrow *rows;
    size_t nrows, rows_cap, head;
    size_t row_first; /* first field of the row in progress */
    long record;      /* number of the record in progress */
    bool last_cr;
    int rc;
};

static void on_field(void *s, size_t len, void *ud)
{
    struct csvr *c = ud;
    if (c->rc) return;
    size_t in_row = c->nfields - c->row_first;
    if (in_row >= c->r->lim.max_columns && len > 0) {
        c->rc = sheet_fail(c->r, SHEET_ERR_TOO_LARGE, "row %ld has more than %zu columns",
                           c->record, c->r->lim.max_columns);
        return;
    }
    if (in_row >= c->r->lim.max_columns) return; /* empty trailing fields: drop */
    if (len > c->r->lim.max_cell_bytes) {
        c->rc = sheet_fail(c->r, SHEET_ERR_TOO_LARGE, "row %ld: a field is longer than %zu bytes",
                           c->record, c->r->lim.max_cell_bytes);
        return;
    }
    if (c->nfields == c->fields_cap) {
        c->fields_cap = c->fields_cap ? c->fields_cap * 2 : 64;
        c->fields = xrealloc(c->fields, c->fields_cap * sizeof *c->fields);
    }
    c->fields[c->nfields].off = c->text.len;
    c->fields[c->nfields].len = len;
    c->nfields++;
    if (len) buf_append(&c->text, s, len);
}

static void on_row(int term, void *ud)
{
    struct csvr *c = ud;
    if (c->rc) return;
    size_t n = c->nfields - c->row_first;
    if (n == 0) {
        /* a blank line (reported because of CSV_REPALL_NL), or the LF of a CRLF */
        if (!(term == '\n' && c->last_cr)) c->record++;
        c->last_cr = term == '\r';
        return;
    }
    c->last_cr = term == '\r';
    if (c->nrows == c->rows_cap) {
        c->rows_cap = c->rows_cap ? c->rows_cap * 2 : 32;
        c->rows = xrealloc(c->rows, c->rows_cap * sizeof *c->rows);
    }
    c->rows[c->nrows].num = c->record;
    c->rows[c->nrows].first = c->row_first;
    c->rows[c->nrows].n = n;
    c->nrows++;
    c->row_first = c->nfields;
    c->record++;
}

/* All queued rows were handed out: keep only the row in progress. */
static void compact(struct csvr *c)
{
    size_t keep = c->nfields - c->row_first;
    size_t text_from = keep ? c->fields[c->row_first].off : c->text.len;
    size_t text_keep = c->text.len - text_from;
    if (text_keep) memmove(c->text.data, c->text.data + text_from, text_keep);
    c->text.len = text_keep;
    for (size_t i = 0; i < keep; i++) {
        c->fields[i] = c->fields[c->row_first + i];
        c->fields[i].off -= text_from;
    }
    c->nfields = keep;
    c->row_first = 0;
    c->nrows = 0;
    c->head = 0;
}

static int csv_next(struct sheet_reader *r, long *row_number)
{
    struct csvr *c = r->impl;
    while (c->head == c->nrows) {
        if (c->finished) return 0;
        compact(c);
        if (c->pos < c->len) {
            size_t n = c->len - c->pos < SLICE ? c->len - c->pos : SLICE;
            size_t done = csv_parse(&c->p, c->data + c->pos, n, on_field, on_row, c);
            if (c->rc) return c->rc;
            if (done != n)
                return sheet_fail(r, SHEET_ERR_FORMAT,
                                  "not a valid CSV file (misplaced quote in row %ld; fields "
                                  "containing quotes must be quoted, with quotes doubled)",
                                  c->record);
            c->pos += n;
        } else {
            c->finished = true;
            if (csv_fini(&c->p, on_field, on_row, c) != 0)
                return sheet_fail(r, SHEET_ERR_FORMAT,
                                  "not a valid CSV file (a quoted field starting in row %ld is "
                                  "never closed)",
                                  c->record);
            if (c->rc) return c->rc;
        }
    }
    struct qrow *q = &c->rows[c->head++];
    for (size_t i = 0; i < q->n; i++) {
        struct qfield *f = &c->fields[q->first + i];
        int rc = row_set(r, q->num, i, SHEET_CELL_TEXT, c->text.data + f->off, f->len);
        if (rc) return rc;
    }
    *row_number = q->num;
    return 1;
}

static void csvr_free(void *impl)
{
    struct csvr *c = impl;
    if (!c) return;
    csv_free(&c->p);
    buf_free(&c->text);
    free(c->fields);
    free(c->rows);
    free(c);
}

static const struct sheet_ops csv_ops = {csv_next, csvr_free};

/* The delimiter occurring most often outside quotes in the first record. */
static unsigned char sniff_delim(const unsigned char *s, size_t len)
{
    size_t comma = 0, semi = 0, tab = 0;
    bool q = false;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = s[i];
        if (ch == '"') {
            q = !q;
        } else if (!q) {
            if (ch == '\n' || ch == '\r') break;
            if (ch == ',') comma++;
            if (ch == ';') semi++;
            if (ch == '\t') tab++;
        }
    }
    if (semi > comma && semi >= tab) return ';';
    if (tab > comma && tab > semi) return '\t';
    return ',';
}

static int is_space(unsigned char ch)
{
    return ch == ' ';
}

int csv_open(struct sheet_reader *r, const void *data, size_t len)
{
    const unsigned char *s = data;
    if (len >= 2 && ((s[0] == 0xFF && s[1] == 0xFE) || (s[0] == 0xFE && s[1] == 0xFF)))
        return sheet_fail(r, SHEET_ERR_FORMAT,
                          "the CSV file is UTF-16; save it as \"CSV UTF-8 (Comma delimited)\"");
    if (len >= 3 && s[0] == 0xEF && s[1] == 0xBB && s[2] == 0xBF) s += 3, len -= 3;
    if (memchr(s, 0, len))
        return sheet_fail(r, SHEET_ERR_FORMAT, "not a CSV file (it contains binary data)");
    size_t bad = utf8_valid_prefix(s, len);
    if (bad != len) {
        size_t line = 1;
        for (size_t i = 0; i < bad; i++)
            line += s[i] == '\n';
        return sheet_fail(r, SHEET_ERR_FORMAT,
                          "the CSV file is not UTF-8 (line %zu); save it as \"CSV UTF-8 (Comma "
                          "delimited)\"",
                          line);
    }
    struct csvr *c = xcalloc(1, sizeof *c);
    c->r = r;
    c->data = s;
    c->len = len;
    c->record = 1;
    buf_init(&c->text);
    buf_reserve(&c->text, 256); /* never NULL, even when every field is empty */
    if (csv_init(&c->p, CSV_STRICT | CSV_STRICT_FINI | CSV_REPALL_NL) != 0) {
        free(c);
        return sheet_fail(r, SHEET_ERR_INTERNAL, "out of memory");
    }
    csv_set_delim(&c->p, sniff_delim(s, len));
    /* spaces around quoted fields are tolerated and trimmed; tabs may be the delimiter */
    csv_set_space_func(&c->p, is_space);
    r->impl = c;
    r->ops = &csv_ops;
    return 0;
}
