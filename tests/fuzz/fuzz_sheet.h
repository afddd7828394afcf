/* Shared body of the spreadsheet fuzz targets: open, read every row, touch
 * every cell (so ASan sees any bad pointer), close. Small limits keep each
 * run fast while still reaching every limit check. */
#ifndef DELIVERYD_FUZZ_SHEET_H
#define DELIVERYD_FUZZ_SHEET_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "deliveryd/io.h"

static int fuzz_sheet(enum sheet_format fmt, const uint8_t *data, size_t size)
{
    struct sheet_limits lim = SHEET_DEFAULT_LIMITS;
    lim.max_rows = 2000;
    lim.max_inflated = 16u * 1024 * 1024;
    lim.max_entry = 16u * 1024 * 1024;
    lim.max_seconds = 2; /* .xls: freexl's slow paths end in the child's time limit */
    char err[256];
    struct sheet_reader *r = NULL;
    int rc = sheet_open(fmt, data, size, &lim, &r, err, sizeof err);
    if (rc != 0) {
        if (r || rc >= 0 || !memchr(err, '\0', sizeof err)) abort();
        return 0;
    }
    long row;
    const struct sheet_cell *cells;
    size_t n;
    unsigned sum = 0;
    while ((rc = sheet_next_row(r, &row, &cells, &n)) == 1) {
        if (row <= 0 || n == 0 || n > lim.max_columns) abort();
        if (cells[n - 1].kind == SHEET_CELL_EMPTY) abort();
        for (size_t i = 0; i < n; i++) {
            if (cells[i].text[cells[i].len] != '\0' || cells[i].len > lim.max_cell_bytes) abort();
            for (size_t k = 0; k < cells[i].len; k++)
                sum += (unsigned char)cells[i].text[k];
        }
    }
    if (rc < 0 && sheet_next_row(r, &row, &cells, &n) != rc) abort(); /* sticky */
    (void)sum;
    sheet_close(r);
    return 0;
}

#endif
