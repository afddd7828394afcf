/* Shared by the three spreadsheet readers (not a public header): the reader
 * object, the row being assembled, and small text helpers. */
#ifndef DELIVERYD_IO_SHEET_INTERNAL_H
#define DELIVERYD_IO_SHEET_INTERNAL_H

#include "deliveryd/io.h"

struct row_slot {
    size_t off, len; /* into row_builder.text */
    enum sheet_cell_kind kind;
};

/* One row under construction: slots indexed by column. */
struct row_builder {
    struct row_slot *slots;
    size_t cap;  /* allocated slots */
    size_t used; /* highest column set + 1 */
    buf_t text;  /* cell texts, each followed by a NUL */
    struct sheet_cell *cells;
    size_t cells_cap;
};

struct sheet_ops {
    /* Fills r->row with the next row and its number: 1, 0 at the end, or a
     * SHEET_ERR_* code with r->err set. May return rows of empty cells. */
    int (*next)(struct sheet_reader *r, long *row_number);
    void (*close)(void *impl);
};

struct sheet_reader {
    const struct sheet_ops *ops;
    void *impl;
    struct sheet_limits lim;
    struct row_builder row;
    size_t rows_returned;
    uint64_t text_returned;
    int sticky; /* an error already returned */
    char err[256];
};

/* Each reader's open: sets r->ops and r->impl, or returns a SHEET_ERR_* code
 * with r->err set (and frees what it allocated). */
int xlsx_open(struct sheet_reader *r, const void *data, size_t len);
int xls_open(struct sheet_reader *r, const void *data, size_t len);
int csv_open(struct sheet_reader *r, const void *data, size_t len);

/* first_worksheet.c: the sheet a reader takes is the first worksheet in tab
 * order; charts, dialog and macro sheets are skipped. */
#define SHEET_NO_WORKSHEET "the workbook has no worksheet, only charts"

/* .xlsx: true for a worksheet's relationship type (not a chartsheet,
 * dialogsheet or macro sheet). */
bool sheet_rel_is_worksheet(const char *type);

/* What an .xls file's own bytes say, read without freexl. */
struct xls_book {
    bool container;      /* a readable OLE2 (CFBF) container */
    bool workbook;       /* ... holding a Workbook/Book stream that starts with a BIFF BOF */
    int biff;            /* 8 (Excel 97-2003), 5 (Excel 5.0/95), 0 other */
    bool types_known;    /* the sheet list was read to its end */
    unsigned nsheets;    /* BOUNDSHEET records (freexl's FREEXL_BIFF_SHEET_COUNT) */
    int first_worksheet; /* index of the first worksheet, -1 none (or not known) */
};
void xls_inspect(const void *data, size_t len, struct xls_book *out);

/* A bare BIFF2-BIFF4 stream (Excel 2.x-4.0 saved a worksheet without an
 * OLE2 container): sheet_sniff calls it .xls, the reader refuses it with
 * advice. */
bool sheet_is_old_biff(const void *data, size_t len);

/* Returns code after formatting the message into r->err. */
int sheet_fail(struct sheet_reader *r, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

void row_reset(struct row_builder *b);
/* Sets column col (0-based) of the current row; row_number is for messages.
 * An empty text is stored as SHEET_CELL_EMPTY. Enforces max_columns and
 * max_cell_bytes and valid UTF-8. */
int row_set(struct sheet_reader *r, long row_number, size_t col, enum sheet_cell_kind kind,
            const char *text, size_t len);

/* Number syntax of OOXML <v>: [-+]digits[.digits][(e|E)[-+]digits], or
 * ".5". Converts with strtod; false for anything else or a non-finite value. */
bool sheet_parse_number(const char *s, size_t len, double *out);

#endif
