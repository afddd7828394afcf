/* Orders from outside: the spreadsheet import job (Dynamics 365 Excel
 * exports) and the single-order upsert of the D365 webhook share the
 * header aliases, the row validation and the set-based load. */
#ifndef DELIVERYD_IMPORT_H
#define DELIVERYD_IMPORT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "deliveryd/io.h"

struct import_request {
    const void *data;
    size_t len;
    enum sheet_format format;
    const char *file_name;         /* may be NULL */
    bool dry_run;
    const char *default_warehouse; /* id text or NULL */
    int64_t user_id;
    int64_t scope_warehouse; /* 0: unscoped */
};

struct import_outcome {
    int status;       /* HTTP status to answer */
    const char *code; /* problem code when status >= 400 */
    char detail[320];
    json_t *body;     /* the answer when status < 400 (caller decrefs) */
    json_t *errors;   /* 422 row errors of a file refused whole, or NULL */
};

/** Runs an import end to end (parse, validate, load in one transaction). */
void import_run(const struct import_request *in, struct import_outcome *out);

/**
 * The webhook: upserts one order given with the import field names
 * (`warehouse_code`, ...), source d365. partial (order.updated): an
 * existing order gets only the members present, and only those are checked
 * as required; an unknown one is created with the full checks. Not partial
 * (order.created): every column is set, as an import row with every
 * column. A pending order the event would not change is left alone
 * (*applied false). Returns 0 with *applied and a detail, or -1 with out
 * filled (422 validation, 503 database).
 */
int import_upsert_one(const json_t *order, bool partial, int64_t user_id, bool *applied,
                      char *detail, size_t dlen, struct import_outcome *out);

#endif
