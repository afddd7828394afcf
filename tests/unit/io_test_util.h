/* Helpers shared by test_xlsx.c, test_xls.c, test_csv.c and test_multipart.c:
 * fixture loading, a one-line-per-row rendering of what a reader returns,
 * and checks of a reader on a whole fixture file. */
#ifndef DELIVERYD_IO_TEST_UTIL_H
#define DELIVERYD_IO_TEST_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "deliveryd/io.h"

/* The whole fixture file (freed by the caller); fails the test if missing. */
static inline unsigned char *fixture(const char *name, size_t *len)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", FIXTURES_DIR, name);
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("missing fixture %s (run tests/fixtures/make_fixtures.py)", path);
    buf_t b;
    buf_init(&b);
    char tmp[65536];
    size_t n;
    while ((n = fread(tmp, 1, sizeof tmp, f)) > 0)
        buf_append(&b, tmp, n);
    fclose(f);
    return (unsigned char *)buf_steal(&b, len);
}

static inline const char *kind_prefix(enum sheet_cell_kind k)
{
    switch (k) {
    case SHEET_CELL_EMPTY:
        return "";
    case SHEET_CELL_TEXT:
        return "t:";
    case SHEET_CELL_NUMBER:
        return "n:";
    case SHEET_CELL_BOOL:
        return "b:";
    case SHEET_CELL_DATE:
        return "d:";
    case SHEET_CELL_DATETIME:
        return "dt:";
    case SHEET_CELL_TIME:
        return "tm:";
    case SHEET_CELL_ERROR:
        return "e:";
    }
    return "?:";
}

/* Reads every row into out as "ROW: kind:text|kind:text|..." lines joined by
 * '\n' (an empty cell renders as nothing). Returns 0, or the error code of
 * sheet_open or sheet_next_row with the message in err. Checks the iterator's
 * promises on the way: increasing row numbers, a non-empty last cell, texts
 * NUL-terminated at len. */
static inline int sheet_dump(enum sheet_format fmt, const void *data, size_t len,
                             const struct sheet_limits *lim, buf_t *out, char *err, size_t errlen)
{
    struct sheet_reader *r = NULL;
    buf_init(out);
    buf_reserve(out, 0);
    out->data[0] = '\0';
    int rc = sheet_open(fmt, data, len, lim, &r, err, errlen);
    if (rc) {
        assert_null(r);
        assert_true(rc < 0);
        return rc;
    }
    long row, prev = 0;
    const struct sheet_cell *cells;
    size_t n;
    while ((rc = sheet_next_row(r, &row, &cells, &n)) == 1) {
        assert_true(row > prev);
        prev = row;
        assert_true(n >= 1);
        assert_int_not_equal(cells[n - 1].kind, SHEET_CELL_EMPTY);
        if (out->len) buf_puts(out, "\n");
        buf_printf(out, "%ld: ", row);
        for (size_t i = 0; i < n; i++) {
            assert_int_equal(strlen(cells[i].text), cells[i].len);
            if (i) buf_puts(out, "|");
            buf_puts(out, kind_prefix(cells[i].kind));
            buf_append(out, cells[i].text, cells[i].len);
        }
    }
    if (rc < 0) {
        snprintf(err, errlen, "%s", sheet_error(r));
        /* errors are sticky */
        assert_int_equal(sheet_next_row(r, &row, &cells, &n), rc);
    }
    sheet_close(r);
    return rc;
}

#define assert_dump(fmt_, data_, len_, lim_, want_)                                                \
    do {                                                                                           \
        buf_t out_;                                                                                \
        char err_[256] = "";                                                                       \
        int rc_ = sheet_dump((fmt_), (data_), (len_), (lim_), &out_, err_, sizeof err_);           \
        if (rc_ != 0) fail_msg("reader failed (%d): %s", rc_, err_);                               \
        if (strcmp(out_.data, (want_)) != 0)                                                       \
            fail_msg("rows differ.\n--- got:\n%s\n--- want:\n%s", out_.data, (want_));             \
        buf_free(&out_);                                                                           \
    } while (0)

/* Asserts that reading fails with code and a message containing needle. */
#define assert_refused(fmt_, data_, len_, lim_, code_, needle_)                                    \
    do {                                                                                           \
        buf_t out_;                                                                                \
        char err_[256] = "";                                                                       \
        int rc_ = sheet_dump((fmt_), (data_), (len_), (lim_), &out_, err_, sizeof err_);           \
        if (rc_ != (code_)) fail_msg("want code %d, got %d (%s)", (code_), rc_, err_);             \
        if (!strstr(err_, (needle_))) fail_msg("message \"%s\" lacks \"%s\"", err_, (needle_));    \
        buf_free(&out_);                                                                           \
    } while (0)

/* assert_dump on the whole of the named fixture file. */
#define assert_fixture_dump(fmt_, name_, lim_, want_)                                              \
    do {                                                                                           \
        size_t flen_;                                                                              \
        unsigned char *fdata_ = fixture((name_), &flen_);                                          \
        assert_dump((fmt_), fdata_, flen_, (lim_), (want_));                                       \
        free(fdata_);                                                                              \
    } while (0)

/* assert_refused on the whole of the named fixture file. */
#define assert_fixture_refused(fmt_, name_, lim_, code_, needle_)                                  \
    do {                                                                                           \
        size_t flen_;                                                                              \
        unsigned char *fdata_ = fixture((name_), &flen_);                                          \
        assert_refused((fmt_), fdata_, flen_, (lim_), (code_), (needle_));                         \
        free(fdata_);                                                                              \
    } while (0)

/* sheet_open with the default limits, which must succeed. */
static inline struct sheet_reader *open_ok(enum sheet_format fmt, const void *data, size_t len)
{
    struct sheet_reader *r = NULL;
    char err[256] = "";
    assert_int_equal(sheet_open(fmt, data, len, NULL, &r, err, sizeof err), 0);
    return r;
}

/* sheet_next_row's code, the row number into *row (when row is not NULL). */
static inline int next_row(struct sheet_reader *r, long *row)
{
    long row_;
    const struct sheet_cell *cells;
    size_t n;
    return sheet_next_row(r, row ? row : &row_, &cells, &n);
}

#endif
