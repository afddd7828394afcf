/* Input modules with no HTTP or database types: spreadsheet readers (.xlsx,
 * .xls, .csv) behind one row iterator, and a streaming multipart/form-data
 * parser. Everything here is pure (apart from the .xls reader, which runs
 * freexl in a short-lived child process over a private temporary file) and
 * unit-tested on files made by third-party tools. */
#ifndef DELIVERYD_IO_H
#define DELIVERYD_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "deliveryd/util.h"

/* ------------------------------------------------------------------------ */
/* Spreadsheets                                                             */
/* ------------------------------------------------------------------------ */

enum sheet_format { SHEET_XLSX, SHEET_XLS, SHEET_CSV };

/* Return codes (0 = success). */
enum sheet_status {
    SHEET_OK = 0,
    SHEET_ERR_FORMAT = -1,    /* not a readable file of that format: 415/422 */
    SHEET_ERR_TOO_LARGE = -2, /* a limit below was exceeded (zip bomb, rows, ...): 413 */
    SHEET_ERR_INTERNAL = -3,  /* our side (.xls: temporary file, fork): 500 */
};

/* What a cell held. The text is always there (UTF-8, NUL-terminated). */
enum sheet_cell_kind {
    SHEET_CELL_EMPTY,    /* "" */
    SHEET_CELL_TEXT,     /* as written, not trimmed */
    SHEET_CELL_NUMBER,   /* "10", "50012345", "12.5", "-0.001": integral values have
                            no fraction, others the shortest round-trip decimal */
    SHEET_CELL_BOOL,     /* "TRUE" / "FALSE" */
    SHEET_CELL_DATE,     /* "YYYY-MM-DD" */
    SHEET_CELL_DATETIME, /* "YYYY-MM-DDTHH:MM:SS" (no zone: the sheet's local time) */
    SHEET_CELL_TIME,     /* "HH:MM:SS" (a time-of-day format on a serial < 1) */
    SHEET_CELL_ERROR,    /* a formula error as Excel shows it: "#N/A", "#DIV/0!" */
};

struct sheet_cell {
    const char *text;
    size_t len;
    enum sheet_cell_kind kind;
};

struct sheet_limits {
    size_t max_rows;           /* non-empty rows after the first one (the header) */
    size_t max_columns;        /* a non-empty cell beyond this column is refused */
    size_t max_cell_bytes;     /* UTF-8 bytes of one cell */
    uint64_t max_text_bytes;   /* all cell text returned (shared strings can repeat
                                  one long text in every cell) */
    unsigned max_seconds;      /* .xls: wall-clock budget of the freexl process */
    uint64_t max_inflated;     /* .xlsx: all entries together, declared and actual */
    uint64_t max_entry;        /* .xlsx: one entry, declared and actual */
    unsigned max_ratio;        /* .xlsx: inflated/compressed, for entries over 1 MiB */
    size_t max_zip_entries;    /* .xlsx */
    size_t max_shared_strings; /* .xlsx: count in the shared strings table */
    size_t max_shared_bytes;   /* .xlsx: text bytes held for shared strings */
};

/* The contract's limits: 50,000 data rows after the header row, 200 columns,
 * 32 KiB cells, 64 MiB of cell text in all, 20 s for an .xls, 100 MiB
 * inflated, 200:1, 10,000 entries, 1,000,000 shared strings holding at most
 * 64 MiB. */
extern const struct sheet_limits SHEET_DEFAULT_LIMITS;

struct sheet_reader;

/**
 * Opens a spreadsheet held in memory. data must stay valid and unchanged
 * until sheet_close (the readers do not copy it). lim NULL = defaults.
 * .xlsx: checks every entry's declared sizes (zip bomb) and reads the
 * workbook, relationships, styles and shared strings; the first worksheet
 * is then streamed row by row. .xls: freexl runs in a forked child process
 * (CPU, memory and time limits; it reads a private temporary file unlinked
 * at once) that streams rows back through a pipe, so a crash or a hang in
 * freexl on a crafted file only fails this upload.
 * Both workbook readers take the first worksheet in tab order, skipping
 * chart, dialog and macro sheets; a workbook without one is refused with
 * "the workbook has no worksheet, only charts". An .xls that is an Excel
 * workbook freexl cannot read (Excel 5.0/95 or older, or one freexl fails
 * on) is refused with advice to save it as .xlsx or CSV, not called "not an
 * .xls file". .csv: UTF-8 (a BOM is
 * skipped), delimiter ',' ';' or tab sniffed from the header line.
 * On failure returns a SHEET_ERR_* code with a message for the client in
 * err (may be NULL), and *out is NULL.
 */
int sheet_open(enum sheet_format fmt, const void *data, size_t len, const struct sheet_limits *lim,
               struct sheet_reader **out, char *err, size_t errlen) MUSTCHECK;

/**
 * Next non-empty row of the sheet read (the first worksheet). Returns 1 with *row_number as the
 * spreadsheet numbers it (1-based; rows of only empty cells are skipped but
 * still counted, so the numbers have gaps), cells[0..ncells) in column order
 * (A = 0; missing cells in between are SHEET_CELL_EMPTY; trailing empty cells
 * are trimmed, so ncells >= 1 and the last cell is non-empty).
 * Returns 0 at the end, or a SHEET_ERR_* code (then sheet_error says why;
 * further calls return the same code). The cells and their text are owned by
 * the reader and valid until the next call or sheet_close.
 */
int sheet_next_row(struct sheet_reader *r, long *row_number, const struct sheet_cell **cells,
                   size_t *ncells) MUSTCHECK;

/** The last error's message (for the client), "" when none. */
const char *sheet_error(const struct sheet_reader *r);

/** Frees everything; NULL is fine. */
void sheet_close(struct sheet_reader *r);

/**
 * Guesses a format from magic bytes: a zip ("PK\3\4") → SHEET_XLSX, an OLE2
 * compound file or a bare Excel 2.x-4.0 (BIFF2-4) stream → SHEET_XLS,
 * anything else → SHEET_CSV.
 */
enum sheet_format sheet_sniff(const void *data, size_t len);

/** Column letters for a 0-based index ("A", "Z", "AA", ...); out >= 8 bytes. */
void sheet_column_name(size_t col, char *out, size_t outlen);

#define SHEET_NUMBER_BUFSZ 48
/**
 * A number as the readers print it: integral values without a fraction
 * ("50012345"), others the shortest decimal that reads back to the same
 * double ("12.5"), exponent form only beyond 1e21 or below 1e-7.
 * Returns the length.
 */
size_t sheet_format_number(double v, char out[SHEET_NUMBER_BUFSZ]);

#define SHEET_DATE_BUFSZ 24
/**
 * An Excel serial date as ISO text: kind SHEET_CELL_DATE "YYYY-MM-DD",
 * SHEET_CELL_DATETIME "YYYY-MM-DDTHH:MM:SS", SHEET_CELL_TIME "HH:MM:SS"
 * (a TIME with a whole day part becomes a DATETIME: *kind_out tells).
 * 1900 system: serial 60 is Excel's fictitious 1900-02-29 (printed so),
 * below it 1899-12-31 + serial, from 61 on 1899-12-30 + serial. 1904
 * system: 1904-01-01 + serial. Rounded to the second. Returns the length,
 * or 0 when the serial is outside 0 .. 2958465 (9999-12-31).
 */
size_t sheet_excel_date(double serial, bool date1904, enum sheet_cell_kind kind,
                        char out[SHEET_DATE_BUFSZ], enum sheet_cell_kind *kind_out);

/* ------------------------------------------------------------------------ */
/* multipart/form-data                                                      */
/* ------------------------------------------------------------------------ */

enum multipart_status {
    MP_OK = 0,
    MP_ERR_MALFORMED = -1, /* bad Content-Type, boundary or body: 400 */
    MP_ERR_TOO_LARGE = -2, /* a part or the whole body over its limit: 413 */
};

struct multipart_field_limit {
    const char *name; /* form field name, compared exactly */
    size_t max_bytes; /* of the part's content */
};

struct multipart_limits {
    size_t max_total;        /* whole body as fed, 0 = 12 MiB */
    size_t max_parts;        /* 0 = 32 */
    size_t max_header_bytes; /* one part's header block, 0 = 8 KiB */
    size_t default_max_part; /* fields not in the table, 0 = 4 KiB */
    const struct multipart_field_limit *fields;
    size_t nfields;
};

struct multipart_part {
    char *name;          /* Content-Disposition name, never NULL */
    char *filename;      /* filename* (RFC 5987, UTF-8) or filename, directory part
                            removed, converted from Latin-1 if not UTF-8; NULL if absent */
    char *content_type;  /* as sent (untrusted), NULL if absent */
    unsigned char *data; /* content, NUL-terminated for text fields' convenience */
    size_t len;
};

struct multipart;

/**
 * Starts a parser for a request whose Content-Type header is content_type
 * ("multipart/form-data; boundary=..." quoted or not). lim NULL = defaults
 * (no per-field table). Returns MP_OK or MP_ERR_MALFORMED with a message in
 * err (may be NULL); *out is NULL on failure. The limits table is copied by
 * reference: it must outlive the parser.
 */
int multipart_new(const char *content_type, const struct multipart_limits *lim,
                  struct multipart **out, char *err, size_t errlen) MUSTCHECK;

/**
 * Feeds the next piece of the body (any split). Returns MP_OK or an
 * MP_ERR_* code; after an error every call returns that code again.
 */
int multipart_feed(struct multipart *p, const void *data, size_t len) MUSTCHECK;

/** The body is complete: MP_OK if the closing boundary was seen. */
int multipart_finish(struct multipart *p) MUSTCHECK;

/** Parts received so far (complete ones only), in body order. */
size_t multipart_count(const struct multipart *p);
const struct multipart_part *multipart_part_at(const struct multipart *p, size_t i);
/** The first complete part with that name, or NULL. */
const struct multipart_part *multipart_get(const struct multipart *p, const char *name);

/** The error's message ("" when none); for a size error, the part's name is
 *  in multipart_error_field (NULL for the body as a whole). */
const char *multipart_error(const struct multipart *p);
const char *multipart_error_field(const struct multipart *p);

/** Frees the parser and every part; NULL is fine. */
void multipart_free(struct multipart *p);

#endif
