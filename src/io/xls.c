/* .xls (BIFF) reader over freexl 1.0.6. freexl opens only a path, so the
 * upload goes to a private mkstemp file in $TMPDIR (or /tmp) that is
 * unlinked as soon as freexl has opened it; freexl parses the workbook whole
 * at open (a 10 MiB upload at most), then rows are read cell by cell. */
#include "sheet_internal.h"

#include <errno.h>
#include <freexl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct xls {
    const void *h;
    unsigned rows;
    unsigned short cols;
    unsigned next_row;
};

static int write_temp(struct sheet_reader *r, const void *data, size_t len, char *path,
                      size_t pathlen)
{
    const char *dir = getenv("TMPDIR");
    if (!dir || !*dir) dir = "/tmp";
    int n = snprintf(path, pathlen, "%s/deliveryd-xls-XXXXXX", dir);
    if (n < 0 || (size_t)n >= pathlen)
        return sheet_fail(r, SHEET_ERR_INTERNAL, "temporary directory path too long");
    int fd = mkstemp(path);
    if (fd < 0)
        return sheet_fail(r, SHEET_ERR_INTERNAL, "cannot create a temporary file: %s",
                          strerror(errno));
    const char *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            int e = errno;
            close(fd);
            unlink(path);
            return sheet_fail(r, SHEET_ERR_INTERNAL, "cannot write a temporary file: %s",
                              strerror(e));
        }
        p += w;
        left -= (size_t)w;
    }
    if (close(fd) != 0) {
        int e = errno;
        unlink(path);
        return sheet_fail(r, SHEET_ERR_INTERNAL, "cannot write a temporary file: %s",
                          strerror(e));
    }
    return 0;
}

static const char *freexl_reason(int rc)
{
    switch (rc) {
    case FREEXL_INSUFFICIENT_MEMORY:
        return "out of memory";
    case FREEXL_BIFF_OBFUSCATED:
        return "the workbook is password-protected";
    case FREEXL_CRAFTED_FILE:
        return "the file is damaged or crafted";
    case FREEXL_INVALID_CHARACTER:
    case FREEXL_UNSUPPORTED_CHARSET:
        return "text in an unsupported character set";
    default:
        return "damaged or not an Excel 97-2003 workbook";
    }
}

/* Formats one freexl cell into the row. */
static int put_cell(struct sheet_reader *r, long row, size_t col, const FreeXL_CellValue *v)
{
    char buf[SHEET_NUMBER_BUFSZ + SHEET_DATE_BUFSZ];
    switch (v->type) {
    case FREEXL_CELL_INT: {
        int n = snprintf(buf, sizeof buf, "%d", v->value.int_value);
        return row_set(r, row, col, SHEET_CELL_NUMBER, buf, n > 0 ? (size_t)n : 0);
    }
    case FREEXL_CELL_DOUBLE: {
        size_t n = sheet_format_number(v->value.double_value, buf);
        return row_set(r, row, col, SHEET_CELL_NUMBER, buf, n);
    }
    case FREEXL_CELL_TEXT:
    case FREEXL_CELL_SST_TEXT: {
        const char *t = v->value.text_value ? v->value.text_value : "";
        return row_set(r, row, col, SHEET_CELL_TEXT, t, strlen(t));
    }
    case FREEXL_CELL_DATE:
    case FREEXL_CELL_DATETIME:
    case FREEXL_CELL_TIME: {
        /* freexl writes "YYYY-MM-DD HH:MM:SS": ISO wants the T */
        const char *t = v->value.text_value ? v->value.text_value : "";
        size_t n = strlen(t);
        if (n >= sizeof buf) n = sizeof buf - 1;
        memcpy(buf, t, n);
        buf[n] = '\0';
        enum sheet_cell_kind k = SHEET_CELL_DATE;
        if (v->type == FREEXL_CELL_TIME) k = SHEET_CELL_TIME;
        if (v->type == FREEXL_CELL_DATETIME) {
            k = SHEET_CELL_DATETIME;
            if (n > 10 && buf[10] == ' ') buf[10] = 'T';
        }
        return row_set(r, row, col, k, buf, n);
    }
    default:
        return 0; /* FREEXL_CELL_NULL */
    }
}

static int xls_next(struct sheet_reader *r, long *row_number)
{
    struct xls *x = r->impl;
    if (x->next_row >= x->rows) return 0;
    unsigned row = x->next_row++;
    long num = (long)row + 1;
    for (unsigned short c = 0; c < x->cols; c++) {
        FreeXL_CellValue v;
        int rc = freexl_get_cell_value(x->h, row, c, &v);
        if (rc != FREEXL_OK)
            return sheet_fail(r, SHEET_ERR_FORMAT, "not an .xls file (row %ld: %s)", num,
                              freexl_reason(rc));
        rc = put_cell(r, num, c, &v);
        if (rc) return rc;
    }
    *row_number = num;
    return 1;
}

static void xls_free(void *impl)
{
    struct xls *x = impl;
    if (!x) return;
    if (x->h) freexl_close(x->h);
    free(x);
}

static const struct sheet_ops xls_ops = {xls_next, xls_free};

int xls_open(struct sheet_reader *r, const void *data, size_t len)
{
    static const unsigned char ole[8] = {0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1};
    if (len >= 4 && memcmp(data, "PK\3\4", 4) == 0)
        return sheet_fail(r, SHEET_ERR_FORMAT, "not an .xls file (this is an .xlsx file)");
    if (len < 512 || memcmp(data, ole, 8) != 0)
        return sheet_fail(r, SHEET_ERR_FORMAT, "not an .xls file");
    char path[4096];
    int rc = write_temp(r, data, len, path, sizeof path);
    if (rc) return rc;
    const void *h = NULL;
    int frc = freexl_open(path, &h);
    unlink(path);
    if (frc != FREEXL_OK) {
        if (h) freexl_close(h);
        return sheet_fail(r, SHEET_ERR_FORMAT, "not an .xls file (%s)", freexl_reason(frc));
    }
    struct xls *x = xcalloc(1, sizeof *x);
    x->h = h;
    unsigned int count = 0;
    if (freexl_get_info(h, FREEXL_BIFF_SHEET_COUNT, &count) != FREEXL_OK || count == 0) {
        xls_free(x);
        return sheet_fail(r, SHEET_ERR_FORMAT, "not an .xls file (no worksheet)");
    }
    if (freexl_select_active_worksheet(h, 0) != FREEXL_OK ||
        freexl_worksheet_dimensions(h, &x->rows, &x->cols) != FREEXL_OK) {
        xls_free(x);
        return sheet_fail(r, SHEET_ERR_FORMAT, "not an .xls file (unreadable first sheet)");
    }
    r->impl = x;
    r->ops = &xls_ops;
    return 0;
}
