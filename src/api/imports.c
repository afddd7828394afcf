/* POST /orders/import (multipart field `file`, or the raw file with its
 * content type), GET /imports, GET /imports/{id}. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "deliveryd/api.h"
#include "deliveryd/import.h"
#include "deliveryd/io.h"

#define IMPORT_MAX_FILE (10 * 1024 * 1024)

/* The content types a spreadsheet arrives with. Browsers label files by
 * the client's own settings: Windows with Excel installed sends a .csv as
 * application/vnd.ms-excel, others as text/x-csv or octet-stream. */
static const char *const sheet_types[] = {
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.ms-excel", "text/csv", "application/csv", "text/x-csv",
    "application/x-csv", "text/comma-separated-values", "text/x-comma-separated-values",
    "text/plain", "application/octet-stream", NULL};

/* Any of those types (or none) is a spreadsheet whose bytes decide its
 * format (sheet_sniff), since a label may be wrong but a zip (.xlsx) or an
 * OLE2 file (.xls) cannot be mistaken. Any other type (an image, a PDF):
 * false (415). */
static bool sheet_type_ok(const char *ctype)
{
    if (!ctype) return true;
    for (const char *const *t = sheet_types; *t; t++)
        if (media_type_is(ctype, *t)) return true;
    return false;
}

/* The format the bytes say (sheet_sniff); but binary bytes that are
 * neither a zip nor an OLE2 file, sent under a name ending .xls or .xlsx,
 * are a workbook that is not one: its reader says "not an .xls file"
 * rather than the CSV reader's "binary data". Text under such a name stays
 * CSV (a renamed CSV file, which Excel opens too). */
static enum sheet_format format_of(const void *data, size_t len, const char *name)
{
    enum sheet_format f = sheet_sniff(data, len);
    if (f != SHEET_CSV || !name || !memchr(data, 0, len < 4096 ? len : 4096)) return f;
    size_t n = strlen(name);
    if (n >= 4 && strcasecmp(name + n - 4, ".xls") == 0) return SHEET_XLS;
    if (n >= 5 && strcasecmp(name + n - 5, ".xlsx") == 0) return SHEET_XLSX;
    return f;
}

/* filename="..." of a Content-Disposition header, or NULL (request-owned). */
static const char *disposition_name(struct req *r, const char *h)
{
    const char *p = h ? strstr(h, "filename=") : NULL;
    if (!p) return NULL;
    p += 9;
    bool q = *p == '"';
    if (q) p++;
    size_t n = q ? strcspn(p, "\"") : strcspn(p, "; ");
    if (n == 0 || n > 255) return NULL;
    char *s = req_alloc(r, n + 1);
    memcpy(s, p, n);
    const char *slash = strrchr(s, '/');
    return slash ? slash + 1 : s;
}

static void multipart_cleanup(void *p)
{
    multipart_free(p);
}

void api_imports_create(struct req *r)
{
    const char *dry = NULL, *wh = NULL;
    if (query_bool_or_reply(r, "dry_run", &dry) < 0 || query_id_or_reply(r, "warehouse_id", &wh) < 0)
        return;
    const char *scope = scope_text(r);
    if (scope && wh && strcmp(scope, wh) != 0) {
        reply_field_error(r, "warehouse_id", "is outside your warehouse");
        return;
    }
    if (scope && !wh) wh = scope;
    const char *ctype = req_header(r, "Content-Type");
    const void *data = r->body.data;
    size_t len = r->body.len;
    const char *name = NULL, *part_type = ctype;
    if (ctype && media_type_is(ctype, "multipart/form-data")) {
        static const struct multipart_field_limit fl[] = {{"file", IMPORT_MAX_FILE}};
        static const struct multipart_limits lim = {IMPORT_MAX_FILE + 1024 * 1024, 16, 0, 0,
                                                    fl, 1};
        struct multipart *mp = NULL;
        char err[160];
        if (multipart_new(ctype, &lim, &mp, err, sizeof err) != MP_OK) {
            reply_problem(r, 400, "bad_request", "%s", err);
            return;
        }
        req_defer(r, multipart_cleanup, mp);
        int rc = multipart_feed(mp, data, len);
        if (rc == MP_OK) rc = multipart_finish(mp);
        if (rc == MP_ERR_TOO_LARGE) {
            reply_problem(r, 413, "payload_too_large", "the file exceeds 10 MiB");
            return;
        }
        if (rc != MP_OK) {
            reply_problem(r, 400, "bad_request", "%s", multipart_error(mp));
            return;
        }
        const struct multipart_part *f = multipart_get(mp, "file");
        if (!f) {
            reply_field_error(r, "file", "is required (a form field named file)");
            return;
        }
        data = f->data;
        len = f->len;
        name = f->filename;
        part_type = f->content_type;
    } else {
        if (len > IMPORT_MAX_FILE) {
            reply_problem(r, 413, "payload_too_large", "the file exceeds 10 MiB");
            return;
        }
        name = disposition_name(r, req_header(r, "Content-Disposition"));
    }
    if (name && !utf8_valid(name)) name = NULL; /* a name PostgreSQL could not store */
    if (len == 0) {
        reply_field_error(r, "file", "is empty");
        return;
    }
    struct import_request in = {.data = data,
                                .len = len,
                                .format = format_of(data, len, name),
                                .file_name = name,
                                .dry_run = dry && strcmp(dry, "true") == 0,
                                .default_warehouse = wh,
                                .user_id = r->who.user_id,
                                .scope_warehouse = scope ? r->who.warehouse_id : 0};
    if (!sheet_type_ok(part_type)) {
        reply_problem(r, 415, "unsupported_media_type",
                      "send .xlsx, .xls or .csv (multipart field file, or the raw file)");
        return;
    }
    struct import_outcome out;
    import_run(&in, &out);
    if (out.status >= 400) {
        reply_problem_errors(r, out.status, out.code, out.errors, "%s", out.detail);
        return;
    }
    reply_json(r, out.status, out.body);
}

void api_imports_list(struct req *r)
{
    struct paging pg;
    if (paging_or_reply(r, &pg) < 0) return;
    db_prefer_replica(); /* history: a second of lag is fine (READ_DATABASE_URL) */
    struct sqlb b;
    sqlb_init(&b);
    SQLB_ADD(&b, "imports v WHERE import_visible(v.warehouse_id, v.uploaded_by, $1)",
             scope_text(r));
    reply_paged(r, &pg, "api_imports", &b, "v.created_at DESC, v.id DESC");
}

void api_imports_get(struct req *r)
{
    db_res *res = db_q_or_reply(r, Q(import_get)(id_text(r, r->ids[0]), scope_text(r)));
    if (res) reply_row_json(r, 200, res);
}
