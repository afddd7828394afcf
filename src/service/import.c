/* The import job: header aliases, row validation with the sheet's own row
 * numbers and headers, and a set-based load (COPY into a temporary table,
 * one upsert) in one transaction with the imports row. */
#include "deliveryd/import.h"

#include <ctype.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deliveryd/db.h"
#include "deliveryd/fields.h"
#include "deliveryd/order_fields.h"
#include "deliveryd/search_indexer.h"
#include "deliveryd/settings.h"

#define MAX_REPORTED_ERRORS 1000
#define MAX_ROWS 50000
#define ROWS_EXCEEDED (-100)

/* The order fields and their rules are include/deliveryd/order_fields.h
 * (indexes enum order_field); the import's own field is the warehouse
 * code, resolved to warehouse_id. Arrays by field are I_NALL long. */
enum { I_WAREHOUSE_CODE = OF_COUNT, I_NALL };

/* The import_rows columns after the four of copy_row, in order (the
 * CREATE TEMP TABLE of sql/queries/import.sql). */
static const enum order_field copy_cols[] = {
    OF_NUMBER, OF_NAME, OF_PHONE, OF_ADDRESS, OF_AREA, OF_BLOCK, OF_STREET, OF_AVENUE,
    OF_BUILDING, OF_FLOOR, OF_APARTMENT, OF_PACI, OF_LAT, OF_LNG, OF_AMOUNT, OF_PAYMENT,
    OF_NOTES, OF_ETA};

static bool is_import_field(int f)
{
    return f == I_WAREHOUSE_CODE || (f >= 0 && f < OF_COUNT && (order_field_uses[f] & ORDER_IMPORT));
}

static const char *field_name(int f)
{
    return f == I_WAREHOUSE_CODE ? "warehouse_code" : order_fv[f].name;
}

/* The import field named name (warehouse_code included), or -1. */
static int import_field_index(const char *name)
{
    if (strcmp(name, "warehouse_code") == 0) return I_WAREHOUSE_CODE;
    int f = order_field_index(name);
    return is_import_field(f) ? f : -1;
}

/* The contract's default aliases (the order fields' are in their table);
 * the import_column_aliases setting adds. */
static const char *const *aliases_of(int f)
{
    static const char *const warehouse_aliases[] = {"Warehouse", "Site", "Warehouse Code", NULL};
    return f == I_WAREHOUSE_CODE ? warehouse_aliases : order_field_aliases[f];
}


static int match_header(const char *header, json_t *extra)
{
    char h[256], a[256];
    header_fold(header, h, sizeof h);
    if (!*h) return -1;
    for (int f = 0; f < I_NALL; f++) {
        if (!is_import_field(f)) continue;
        header_fold(field_name(f), a, sizeof a);
        if (strcmp(a, h) == 0) return f;
        for (const char *const *al = aliases_of(f); *al; al++) {
            header_fold(*al, a, sizeof a);
            if (strcmp(a, h) == 0) return f;
        }
        json_t *list = json_object_get(extra, field_name(f));
        for (size_t k = 0; k < json_array_size(list); k++) {
            const char *s = json_string_value(json_array_get(list, k));
            if (!s) continue;
            header_fold(s, a, sizeof a);
            if (strcmp(a, h) == 0) return f;
        }
    }
    return -1;
}

struct warehouse_ref {
    char *id, *code, *name;
    bool active; /* a deactivated warehouse takes no new orders */
};

struct ctx {
    struct warehouse_ref *wh;
    int nwh;
    const char *default_warehouse;
    int64_t scope;
    bool inactive_later; /* the webhook: a deactivated warehouse is answered
                          * applied:false by import_upsert_one, not a row error */
};

static int load_warehouses(struct ctx *c, struct db_error *err)
{
    db_res *res = db_run(Q(import_warehouses)(), err);
    if (!res) return -1;
    c->nwh = db_ntuples(res);
    c->wh = xcalloc((size_t)c->nwh + 1, sizeof *c->wh);
    enum { W_ID, W_CODE, W_NAME, W_ACTIVE }; /* import_warehouses' columns */
    for (int i = 0; i < c->nwh; i++) {
        c->wh[i].active = db_get(res, i, W_ACTIVE)[0] == 't';
        c->wh[i].id = xstrdup(db_get(res, i, W_ID));
        c->wh[i].code = xstrdup(db_get(res, i, W_CODE));
        c->wh[i].name = xstrdup(db_get(res, i, W_NAME));
    }
    db_res_free(res);
    return 0;
}

static void free_ctx(struct ctx *c)
{
    for (int i = 0; i < c->nwh; i++) {
        free(c->wh[i].id);
        free(c->wh[i].code);
        free(c->wh[i].name);
    }
    free(c->wh);
}

static const char *resolve_warehouse(const struct ctx *c, const char *v)
{
    char low[256];
    size_t n = 0;
    for (const char *p = v; *p && n + 1 < sizeof low; p++) low[n++] = (char)tolower(*p);
    low[n] = '\0';
    while (n && low[n - 1] == ' ') low[--n] = '\0';
    const char *s = low;
    while (*s == ' ') s++;
    for (int i = 0; i < c->nwh; i++)
        if (strcmp(c->wh[i].code, s) == 0) return c->wh[i].id;
    for (int i = 0; i < c->nwh; i++)
        if (strcmp(c->wh[i].name, s) == 0) return c->wh[i].id;
    return NULL;
}

/* Whether the warehouse of this id is deactivated (an unknown id is not:
 * the foreign key answers for it). */
static bool warehouse_inactive(const struct ctx *c, const char *id)
{
    for (int i = 0; id && i < c->nwh; i++)
        if (strcmp(c->wh[i].id, id) == 0) return !c->wh[i].active;
    return false;
}

/* One validated row: COPY-ready texts (NULL = \N), warehouse id, info. */
struct row {
    char *val[OF_COUNT]; /* the import's fields' (copy_cols) */
    const char *warehouse_id;
    char *info; /* JSON object text */
};

static void add_err(json_t *errors, long row, const char *column, const char *field,
                    const char *message, size_t *nerr)
{
    (*nerr)++;
    if (!errors || json_array_size(errors) >= MAX_REPORTED_ERRORS) return;
    json_t *e = json_object();
    if (row > 0) json_object_set_new(e, "row", json_integer(row));
    json_object_set_new(e, "column", column ? json_string(column) : json_null());
    json_object_set_new(e, "field", json_string(field));
    json_object_set_new(e, "message", json_string(message));
    json_array_append_new(errors, e);
}

/**
 * Validates raw (field name -> JSON value, strings from sheets) into out.
 * columns[f] is the header as written (NULL for the webhook). given: NULL
 * for a row that may create an order (every rule); else the update of an
 * existing order, where only the fields given[f] are checked as required
 * (order_number always). Returns the number of errors added.
 */
static size_t validate_row(const struct ctx *c, json_t *raw, long rowno,
                           const char *const *columns, const bool *given, struct row *out,
                           json_t *errors)
{
    size_t nerr = 0;
    memset(out, 0, sizeof *out);
    /* spreadsheet text to the JSON types the field table expects */
    static const enum order_field numeric[] = {OF_LAT, OF_LNG};
    for (size_t k = 0; k < ARRAY_LEN(numeric); k++) {
        int f = numeric[k];
        json_t *v = json_object_get(raw, order_fv[f].name);
        if (json_is_string(v)) {
            char *end;
            const char *s = json_string_value(v);
            double d = strtod(s, &end);
            if (end == s || *end) {
                add_err(errors, rowno, columns ? columns[f] : NULL, order_fv[f].name,
                        "must be a number", &nerr);
                json_object_del(raw, order_fv[f].name);
            } else {
                json_object_set_new(raw, order_fv[f].name, json_real(d));
            }
        }
    }
    json_t *pm = json_object_get(raw, "payment_method");
    if (json_is_string(pm)) {
        const char *canon = payment_method_canonical(json_string_value(pm));
        if (canon) json_object_set_new(raw, "payment_method", json_string(canon));
    }
    /* the field table and the row rules, as POST/PATCH /orders check them;
     * an existing order's row is an update setting the header's fields */
    struct fv_values v;
    json_t *ferr = json_array();
    const struct order_check how = {.path = ORDER_IMPORT, .update = given != NULL,
                                    .given = given};
    order_fields_check(raw, &how, &v, ferr);
    for (size_t i = 0; i < json_array_size(ferr); i++) {
        json_t *e = json_array_get(ferr, i);
        const char *field = json_string_value(json_object_get(e, "field"));
        int f = order_field_index(field);
        add_err(errors, rowno, columns && f >= 0 ? columns[f] : NULL, field,
                json_string_value(json_object_get(e, "message")), &nerr);
    }
    json_decref(ferr);
    json_t *wc = json_object_get(raw, "warehouse_code");
    const char *wid = NULL;
    if (json_is_string(wc) && *json_string_value(wc)) {
        wid = resolve_warehouse(c, json_string_value(wc));
        if (!wid)
            add_err(errors, rowno, columns ? columns[I_WAREHOUSE_CODE] : NULL, "warehouse_code",
                    "matches no warehouse code or name", &nerr);
    } else if (given && !given[I_WAREHOUSE_CODE]) {
        wid = NULL; /* the update keeps the order's warehouse */
    } else {
        wid = c->default_warehouse;
        if (!wid)
            add_err(errors, rowno, columns ? columns[I_WAREHOUSE_CODE] : NULL, "warehouse_code",
                    "is required (or pass ?warehouse_id=)", &nerr);
    }
    /* a deactivated warehouse takes no new orders; an existing order's
     * update (given) goes on */
    if (!given && !c->inactive_later && warehouse_inactive(c, wid))
        add_err(errors, rowno, columns ? columns[I_WAREHOUSE_CODE] : NULL, "warehouse_code",
                "the warehouse is deactivated: it takes no new orders", &nerr);
    if (wid && c->scope) {
        char s[24];
        snprintf(s, sizeof s, "%ld", (long)c->scope);
        if (strcmp(s, wid) != 0) {
            add_err(errors, rowno, columns ? columns[I_WAREHOUSE_CODE] : NULL, "warehouse_code",
                    "is outside your warehouse", &nerr);
        }
    }
    if (nerr) {
        fv_values_free(&v);
        return nerr;
    }
    for (size_t k = 0; k < ARRAY_LEN(copy_cols); k++) {
        out->val[copy_cols[k]] = v.text[copy_cols[k]];
        v.text[copy_cols[k]] = NULL;
    }
    fv_values_free(&v);
    out->warehouse_id = wid;
    return 0;
}

static void row_free(struct row *r)
{
    for (int f = 0; f < OF_COUNT; f++) free(r->val[f]);
    free(r->info);
}

/* COPY text format: backslash escapes for \ tab newline CR; \N is NULL */
static void copy_field(buf_t *b, const char *v, bool last)
{
    if (!v) {
        buf_puts(b, "\\N");
    } else {
        for (const char *p = v; *p; p++) {
            switch (*p) {
            case '\\': buf_puts(b, "\\\\"); break;
            case '\t': buf_puts(b, "\\t"); break;
            case '\n': buf_puts(b, "\\n"); break;
            case '\r': buf_puts(b, "\\r"); break;
            default: buf_append(b, p, 1);
            }
        }
    }
    buf_puts(b, last ? "\n" : "\t");
}

/* A new order's tracking token, in the layout of the column default
 * (migration 0008): 14 hex digits of microseconds, then 50 random hex
 * digits. Made here for the COPY because gen_random_uuid() twice per row
 * cost ~0.12 s of a 20,000-row import. us grows by one per row so an
 * import's tokens stay in order in their index. */
static void tracking_token(char out[65], uint64_t us)
{
    unsigned char rnd[25];
    randombytes_buf(rnd, sizeof rnd);
    snprintf(out, 15, "%014" PRIx64, (uint64_t)(us & 0xffffffffffffffULL));
    hex_encode(rnd, sizeof rnd, out + 14);
}

static void copy_row(buf_t *b, const struct row *r, long rowno, uint64_t token_us)
{
    char n[24], token[65];
    snprintf(n, sizeof n, "%ld", rowno);
    tracking_token(token, token_us + (uint64_t)rowno);
    copy_field(b, n, false);
    copy_field(b, r->warehouse_id, false);
    copy_field(b, r->info ? r->info : "{}", false);
    copy_field(b, token, false);
    for (size_t k = 0; k < ARRAY_LEN(copy_cols); k++)
        copy_field(b, r->val[copy_cols[k]], k == ARRAY_LEN(copy_cols) - 1);
}

/* The load's statements are sql/queries/import.sql: import_stage_create,
 * import_stage_truncate and import_upsert (the one upsert: new orders
 * created, pending ones updated with the columns the file has, the ETA
 * through order_eta()). */

/* The answer db_reply_error would give (a 5xx logged with its SQLSTATE:
 * only a 503 says retry). */
static void fail_db(struct import_outcome *out, const struct db_error *err)
{
    out->status = err->http_status;
    out->code = err->code;
    db_error_detail(err, out->detail, sizeof out->detail);
    db_rollback();
}

/* Runs a statement of sql/queries for its success only. */
static int run_ok(enum query_id q, int n, const char *const *p, struct db_error *err)
{
    db_res *res = db_run(q, n, p, err);
    if (!res) return -1;
    db_res_free(res);
    return 0;
}

/* BEGIN or COMMIT, through db_exec (which knows a COMMIT whose connection
 * broke in flight has an unknown outcome: 503). */
static int tx_cmd(const char *cmd, struct db_error *err)
{
    db_res *res = db_exec(cmd, 0, NULL, err);
    if (!res) return -1;
    db_res_free(res);
    return 0;
}

/* db_send for a statement of sql/queries (planned each time: unnamed). */
static int send_q(enum query_id q, int n, const char *const *p, struct db_error *err)
{
    return db_send(g_queries[q].sql, n, p, err);
}

/* The load, in the caller's transaction: `import_rows` (re)filled with COPY
 * text, then the one upsert. An import of many rows does this chunk by
 * chunk, sending each upsert without waiting (db_send) and parsing the next
 * rows meanwhile. */
struct loader {
    const char *source;
    const char *import_id; /* NULL: no imports row (webhook, dry run) */
    char columns[512];     /* $5: the columns an update sets, "{area,...}" */
    char uid[24], scope[24];
    bool has_user, has_scope;
    bool staged; /* import_rows exists in this transaction */
    bool in_flight;
    long created, updated;
};

/* given[f]: field f is in the file's header (or the webhook's order);
 * I_WAREHOUSE_CODE stands for warehouse_id. Our field names are the
 * column names. */
static void loader_init(struct loader *l, const char *source, const char *import_id,
                        int64_t user, int64_t scope, const bool given[I_NALL])
{
    memset(l, 0, sizeof *l);
    l->source = source;
    l->import_id = import_id;
    size_t n = 0;
    l->columns[n++] = '{';
    for (int f = 0; f < I_NALL; f++) {
        if (!given[f] || !is_import_field(f)) continue;
        const char *col = f == I_WAREHOUSE_CODE ? "warehouse_id" : order_fv[f].name;
        int w = snprintf(l->columns + n, sizeof l->columns - n, "%s%s", n > 1 ? "," : "", col);
        if (w > 0) n += (size_t)w; /* fits: 19 names of at most 23 bytes */
    }
    snprintf(l->columns + n, sizeof l->columns - n, "}");
    snprintf(l->uid, sizeof l->uid, "%ld", (long)user);
    snprintf(l->scope, sizeof l->scope, "%ld", (long)scope);
    l->has_user = user > 0; /* else the system (webhook) */
    l->has_scope = scope != 0;
}

/* Reads the result of the upsert in flight, if any, into the counts. */
static int loader_wait(struct loader *l, struct db_error *err)
{
    if (!l->in_flight) return 0;
    l->in_flight = false;
    db_res *res = db_wait(err);
    if (!res) return -1;
    enum { U_CREATED, U_UPDATED }; /* import_upsert's columns */
    l->created += atol(db_get(res, 0, U_CREATED));
    l->updated += atol(db_get(res, 0, U_UPDATED));
    db_res_free(res);
    return 0;
}

/* Loads `len` bytes of COPY text; with wait false the upsert is left in
 * flight (loader_wait reads it; the next loader_load does first). */
static int loader_load(struct loader *l, const char *data, size_t len, bool wait,
                       struct db_error *err)
{
    if (loader_wait(l, err) < 0) return -1;
    if ((l->staged ? run_ok(Q(import_stage_truncate)(), err)
                   : run_ok(Q(import_stage_create)(), err)) < 0)
        return -1;
    l->staged = true;
    if (len && db_copy_in("COPY import_rows FROM STDIN", data, len, err) < 0) return -1;
    if (send_q(Q(import_upsert)(l->source, l->import_id, l->has_user ? l->uid : NULL,
                                l->has_scope ? l->scope : NULL, l->columns),
               err) < 0)
        return -1;
    l->in_flight = true;
    return wait ? loader_wait(l, err) : 0;
}

static void sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, data, len);
    hex_encode(h, sizeof h, out);
}

/* A duplicate upload: the earlier import's figures with duplicate_of, or,
 * when the uploader may not see that import (a manager scoped to another
 * warehouse), a 409 that names nothing of it. */
static bool find_duplicate(const char *sha, int64_t scope, struct import_outcome *out,
                           struct db_error *err, bool *failed)
{
    char scope_s[24];
    snprintf(scope_s, sizeof scope_s, "%ld", (long)scope);
    db_res *res = db_run(Q(import_find_duplicate)(sha, scope ? scope_s : NULL), err);
    *failed = res == NULL;
    if (!res) return false;
    bool found = db_ntuples(res) == 1;
    if (found && db_isnull(res, 0, 0)) {
        out->status = 409;
        out->code = "duplicate";
        snprintf(out->detail, sizeof out->detail,
                 "this file was already imported by another warehouse");
    } else if (found) {
        out->status = 200;
        out->body = json_loads(db_get(res, 0, 0), 0, NULL);
    }
    db_res_free(res);
    return found;
}

struct write_args {
    const struct import_request *in;
    const char *sha;
    const buf_t *copy;
    json_t *errors;
    long rows_total, valid;
    size_t nerr_rows;
    const bool *given; /* the fields the header has, as loader_init */
};

/* An import's transaction. Begun after the whole file is read for a small
 * file (or a retry), or as soon as the first CHUNK_ROWS good rows are, so
 * that the database loads each chunk while the next one is read. */
struct import_tx {
    const struct import_request *in;
    const char *sha;
    const bool *given; /* the fields the header has, as loader_init */
    char import_id[24]; /* "" for a dry run */
    struct loader ld;
    bool begun;
};

/* BEGIN, its settings and the imports row. 0: begun; 1: the same file was
 * imported by another upload just now (out holds that import's figures);
 * -1 with err filled. */
static int tx_begin(struct import_tx *t, struct import_outcome *out, struct db_error *err)
{
    const struct import_request *in = t->in;
    char uid[24];
    snprintf(uid, sizeof uid, "%ld", (long)in->user_id);
    t->import_id[0] = '\0';
    /* one round trip; the new orders' transition table (order_search's
     * trigger) holds whole rows, and 20,000 spill to disk at the default
     * 4 MB of work_mem; the new orders go to the search backlog, indexed
     * by the search indexer after the commit (migration 0009) */
    if (db_exec_script("BEGIN; SET LOCAL statement_timeout = '120s';"
                       " SET LOCAL work_mem = '64MB'; SET LOCAL deliveryd.search_backlog = 'on'",
                       err) < 0)
        return -1;
    t->begun = true;
    if (!in->dry_run) {
        db_res *res =
            db_run(Q(import_insert)(in->file_name, t->sha, uid, in->default_warehouse), err);
        if (!res) {
            bool dbfail = false;
            if (strcmp(err->sqlstate, "23505") == 0) { /* the same file, just now */
                db_rollback();
                t->begun = false;
                if (find_duplicate(t->sha, in->scope_warehouse, out, err, &dbfail)) return 1;
            }
            return -1;
        }
        snprintf(t->import_id, sizeof t->import_id, "%s", db_get(res, 0, 0));
        db_res_free(res);
    }
    loader_init(&t->ld, "excel", in->dry_run ? NULL : t->import_id, in->user_id,
                in->scope_warehouse, t->given);
    return 0;
}

/* After the last load: the imports row's figures and the uploader's
 * notification, then COMMIT (a dry run rolls back). 0 with out filled, -1
 * with err filled. */
static int tx_finish(struct import_tx *t, const struct write_args *a, struct import_outcome *out,
                     struct db_error *err)
{
    const struct import_request *in = a->in;
    if (loader_wait(&t->ld, err) < 0) return -1;
    long created = t->ld.created, updated = t->ld.updated;
    long skipped = a->valid - created - updated;
    json_t *body = json_object();
    json_object_set_new(body, "import_id",
                        in->dry_run ? json_null() : json_integer(atoll(t->import_id)));
    json_object_set_new(body, "file_name", in->file_name ? json_string(in->file_name) : json_null());
    json_object_set_new(body, "file_sha256", json_string(t->sha));
    json_object_set_new(body, "rows_total", json_integer(a->rows_total));
    json_object_set_new(body, "created", json_integer(created));
    json_object_set_new(body, "updated", json_integer(updated));
    json_object_set_new(body, "skipped", json_integer(skipped));
    json_object_set_new(body, "failed", json_integer((json_int_t)a->nerr_rows));
    json_object_set_new(body, "errors", json_incref(a->errors));
    json_object_set_new(body, "dry_run", json_boolean(in->dry_run));
    json_object_set_new(body, "duplicate_of", json_null());
    if (in->dry_run) {
        db_rollback(); /* a dry run records nothing */
        t->begun = false;
        out->status = 200;
        out->body = body;
        return 0;
    }
    char *errs_text = json_dumps(a->errors, JSON_COMPACT);
    char n1[24], n2[24], n3[24], n4[24], n5[32], uid[24];
    snprintf(n1, sizeof n1, "%ld", a->rows_total);
    snprintf(n2, sizeof n2, "%ld", created);
    snprintf(n3, sizeof n3, "%ld", updated);
    snprintf(n4, sizeof n4, "%ld", skipped);
    snprintf(n5, sizeof n5, "%zu", a->nerr_rows);
    snprintf(uid, sizeof uid, "%ld", (long)in->user_id);
    char *report = json_dumps(body, JSON_COMPACT); /* import.completed's data.import */
    int urc = run_ok(Q(import_finish)(t->import_id, n1, n2, n3, n4, n5, errs_text, uid,
                                      in->file_name, report),
                     err);
    free(report);
    free(errs_text);
    if (urc < 0 || tx_cmd("COMMIT", err) < 0) {
        json_decref(body);
        return -1;
    }
    t->begun = false;
    search_indexer_kick(); /* the new orders' trigrams, after the answer */
    out->status = 201;
    out->body = body;
    return 0;
}

/* The whole transaction at once, from the complete COPY text: 0 with out
 * filled, -1 with err filled. */
static int write_import(const struct write_args *a, struct import_outcome *out,
                        struct db_error *err)
{
    struct import_tx t = {.in = a->in, .sha = a->sha, .given = a->given};
    int b = tx_begin(&t, out, err);
    if (b != 0) return b > 0 ? 0 : -1;
    if (loader_load(&t.ld, a->copy->data, a->copy->len, true, err) < 0) return -1;
    return tx_finish(&t, a, out, err);
}

/* Reading and loading at once: from the first CHUNK_ROWS good rows on, each
 * chunk is loaded (upsert sent, not waited for) while the next is read, so
 * the file's reading and checking (about a quarter of a 20,000-row import)
 * overlaps the database's work, still in one transaction. A failure here
 * is kept in err and the import then goes the whole-file way (which also
 * retries deadlock victims). */
#define CHUNK_ROWS 2000

struct pipeline {
    struct import_tx t;
    bool on, failed, duplicate;
    size_t sent_off; /* COPY text already loaded */
    long sent_rows;
    struct db_error err;
};

static void pipeline_flush(struct pipeline *pl, const buf_t *copy, long valid,
                           struct import_outcome *out)
{
    if (!pl->t.begun) {
        int b = tx_begin(&pl->t, out, &pl->err);
        if (b != 0) {
            pl->duplicate = b > 0;
            pl->failed = b < 0;
            pl->on = false;
            return;
        }
    }
    if (loader_load(&pl->t.ld, copy->data + pl->sent_off, copy->len - pl->sent_off, false,
                    &pl->err) < 0) {
        pl->failed = true;
        pl->on = false;
        return;
    }
    pl->sent_off = copy->len;
    pl->sent_rows = valid;
}

static bool retryable(const struct db_error *err)
{
    return strcmp(err->sqlstate, "40P01") == 0 || strcmp(err->sqlstate, "40001") == 0;
}

/* The row's recognized cells by our field names (raw, for validate_row)
 * and the others by their headers as written (info, for customer_info). */
static void row_objects(const struct sheet_cell *cells, size_t ncells, char *const *headers,
                        size_t nheaders, const int *colfield, json_t **raw_out, json_t **info_out)
{
    json_t *raw = json_object(), *info = json_object();
    for (size_t i = 0; i < ncells && i < nheaders; i++) {
        if (cells[i].kind == SHEET_CELL_EMPTY || cells[i].len == 0) continue;
        json_t *s = json_stringn(cells[i].text, cells[i].len);
        if (!s) continue; /* the readers give UTF-8; be safe */
        if (colfield[i] >= 0) {
            json_object_set_new(raw, field_name(colfield[i]), s);
        } else if (*headers[i]) {
            json_object_set_new(info, headers[i], s);
        } else {
            json_decref(s);
        }
    }
    *raw_out = raw;
    *info_out = info;
}

/* The order number as validate_row stores it (trimmed), or NULL when the
 * row has no valid one. The caller frees it. */
static char *order_number_of(const json_t *raw)
{
    struct fv_values v;
    json_t *ferr = json_array();
    fv_parse(raw, &order_fv[OF_NUMBER], 1, &v, ferr);
    json_decref(ferr);
    char *n = v.text[0];
    v.text[0] = NULL;
    fv_values_free(&v);
    return n;
}

/* A row whose rules depend on whether its order exists: it failed the
 * creation rules, or shares its order number with such a row (so that the
 * first valid row of a number still wins). raw as read: validate_row
 * changes the object it checks. */
struct deferred {
    long rowno;
    json_t *raw, *info;
};

/**
 * The deferred rows, in sheet order, after ONE look-up of all their order
 * numbers (in the import's transaction when it has begun): a row whose
 * order exists - or whose number an earlier row of the file already
 * carries - is checked as an update (given: the header's fields), any
 * other as a creation. Valid rows go to copy as in the reading loop, an
 * existing order's row with the warehouse it already has when the file
 * has no warehouse column (only for the proposed row's NOT NULL: the
 * update keeps the stored one). Errors go to errors in row order.
 * Returns -1 with err filled when the look-up fails.
 */
static int resolve_deferred(const struct ctx *c, const struct deferred *d, size_t nd,
                            const char *const *columns, const bool *given, json_t *seen,
                            buf_t *copy, uint64_t token_us, long *valid, size_t *nerr_rows,
                            json_t *errors, struct db_error *err)
{
    char **nums = xcalloc(nd, sizeof *nums);
    buf_t arr;
    buf_init(&arr);
    buf_puts(&arr, "{");
    for (size_t i = 0; i < nd; i++) {
        nums[i] = order_number_of(d[i].raw);
        if (!nums[i]) continue;
        if (arr.len > 1) buf_puts(&arr, ",");
        buf_array_elem(&arr, nums[i]);
    }
    buf_puts(&arr, "}");
    db_res *res = db_run(Q(import_orders_by_number)(arr.data), err);
    buf_free(&arr);
    json_t *stored = json_object(); /* order number -> its warehouse id */
    int rc = -1;
    if (!res) goto out;
    enum { S_NUMBER, S_WAREHOUSE }; /* import_orders_by_number's columns */
    for (int i = 0; i < db_ntuples(res); i++)
        json_object_set_new(stored, db_get(res, i, S_NUMBER),
                            json_string(db_get(res, i, S_WAREHOUSE)));
    db_res_free(res);
    for (size_t i = 0; i < nd; i++) {
        const char *wh = nums[i] ? json_string_value(json_object_get(stored, nums[i])) : NULL;
        bool exists = wh || (nums[i] && json_object_get(seen, nums[i]));
        struct row row;
        size_t e = validate_row(c, d[i].raw, d[i].rowno, columns, exists ? given : NULL, &row,
                                errors);
        if (e == 0) {
            json_t *first = json_object_get(seen, row.val[OF_NUMBER]);
            if (first) {
                char m[96];
                snprintf(m, sizeof m, "repeats the order number of row %lld",
                         (long long)json_integer_value(first));
                add_err(errors, d[i].rowno, columns[OF_NUMBER], "order_number", m, &e);
            } else {
                json_object_set_new(seen, row.val[OF_NUMBER], json_integer(d[i].rowno));
                if (!row.warehouse_id) row.warehouse_id = wh; /* exists, so not via seen */
                row.info = json_dumps(d[i].info, JSON_COMPACT);
                copy_row(copy, &row, d[i].rowno, token_us);
                (*valid)++;
            }
            row_free(&row);
        }
        if (e) (*nerr_rows)++;
    }
    rc = 0;
out:
    json_decref(stored);
    for (size_t i = 0; i < nd; i++) free(nums[i]);
    free(nums);
    return rc;
}

/* Two error lists, each in row order, as one in row order (the first
 * MAX_REPORTED_ERRORS). Takes both. */
static json_t *merge_errors(json_t *a, json_t *b)
{
    json_t *out = json_array();
    size_t i = 0, j = 0, na = json_array_size(a), nb = json_array_size(b);
    while ((i < na || j < nb) && json_array_size(out) < MAX_REPORTED_ERRORS) {
        bool take_a = j >= nb ||
                      (i < na && json_integer_value(json_object_get(json_array_get(a, i), "row")) <=
                                     json_integer_value(json_object_get(json_array_get(b, j), "row")));
        json_array_append(out, take_a ? json_array_get(a, i++) : json_array_get(b, j++));
    }
    json_decref(a);
    json_decref(b);
    return out;
}

void import_run(const struct import_request *in, struct import_outcome *out)
{
    memset(out, 0, sizeof *out);
    struct db_error err;
    char sha[65];
    sha256_hex(in->data, in->len, sha);
    bool dbfail = false;
    /* a dry run of an imported file says what the real upload would:
     * it is a duplicate */
    if (find_duplicate(sha, in->scope_warehouse, out, &err, &dbfail)) {
        if (in->dry_run && out->body) { /* still records nothing: no import id */
            json_object_set_new(out->body, "dry_run", json_true());
            json_object_set_new(out->body, "import_id", json_null());
        }
        return;
    }
    if (dbfail) {
        fail_db(out, &err);
        return;
    }

    char msg[256] = "";
    struct sheet_reader *rd = NULL;
    /* rows are counted here (too many is a 422); the reader's own size
     * limits (zip bombs, huge cells) stay a 413 */
    struct sheet_limits lim = SHEET_DEFAULT_LIMITS;
    lim.max_rows = (size_t)-1;
    int rc = sheet_open(in->format, in->data, in->len, &lim, &rd, msg, sizeof msg);
    if (rc != SHEET_OK) {
        out->status = rc == SHEET_ERR_TOO_LARGE ? 413 : rc == SHEET_ERR_INTERNAL ? 500 : 422;
        out->code = rc == SHEET_ERR_TOO_LARGE ? "payload_too_large"
                    : rc == SHEET_ERR_INTERNAL ? "internal" : "validation_failed";
        snprintf(out->detail, sizeof out->detail, "the file cannot be read: %s", msg);
        return;
    }
    struct ctx c = {.default_warehouse = in->default_warehouse, .scope = in->scope_warehouse};
    if (load_warehouses(&c, &err) < 0) {
        sheet_close(rd);
        fail_db(out, &err);
        return;
    }
    json_t *aliases = settings_get("import_column_aliases");
    json_t *errors = json_array();
    json_t *seen = json_object(); /* order_number -> first row */
    json_t *dnums = json_object(); /* the order numbers of deferred rows */
    struct deferred *def = NULL;
    size_t ndef = 0, defcap = 0;
    buf_t copy;
    buf_init(&copy);
    const uint64_t token_us = (uint64_t)(now_wall() * 1e6);
    int colfield[256];
    char **headers = NULL;
    size_t nheaders = 0;
    const char *columns[I_NALL] = {0};
    bool given[I_NALL] = {0}; /* an update sets only these */
    long rows_total = 0, valid = 0;
    size_t nerr_rows = 0, nerr = 0;
    long rowno;
    const struct sheet_cell *cells;
    size_t ncells;
    bool have_header = false;
    struct pipeline pl = {.t = {.in = in, .sha = sha, .given = given}, .on = true};
    while ((rc = sheet_next_row(rd, &rowno, &cells, &ncells)) == 1) {
        if (!have_header) {
            have_header = true;
            nheaders = ncells < 256 ? ncells : 256;
            headers = xcalloc(nheaders + 1, sizeof *headers);
            for (size_t i = 0; i < nheaders; i++) {
                headers[i] = xstrndup(cells[i].text, cells[i].len);
                colfield[i] = match_header(headers[i], aliases);
                if (colfield[i] >= 0 && !columns[colfield[i]]) columns[colfield[i]] = headers[i];
                else if (colfield[i] >= 0) colfield[i] = -2; /* a second column for a field */
            }
            /* a column the file lacks keeps the stored value on update,
             * the warehouse too (?warehouse_id= is for new orders) */
            for (int f = 0; f < I_NALL; f++) given[f] = columns[f] != NULL;
            continue;
        }
        if (++rows_total > MAX_ROWS) {
            rc = ROWS_EXCEEDED;
            break;
        }
        json_t *raw, *info;
        row_objects(cells, ncells, headers, nheaders, colfield, &raw, &info);
        struct row row;
        size_t before = nerr;
        /* the creation rules, errors only counted: a row that fails them
         * waits for the look-up of its order number (resolve_deferred) */
        size_t e = validate_row(&c, raw, rowno, columns, NULL, &row, NULL);
        bool defer = e != 0 || (ndef && json_object_get(dnums, row.val[OF_NUMBER]));
        if (defer) {
            if (e == 0) row_free(&row);
            json_decref(raw);
            json_decref(info);
            if (ndef == defcap) {
                defcap = defcap ? 2 * defcap : 64;
                def = xrealloc(def, defcap * sizeof *def);
            }
            struct deferred *d = &def[ndef++];
            d->rowno = rowno;
            row_objects(cells, ncells, headers, nheaders, colfield, &d->raw, &d->info);
            char *num = order_number_of(d->raw);
            if (num) json_object_set_new(dnums, num, json_true());
            free(num);
        } else {
            json_t *first = json_object_get(seen, row.val[OF_NUMBER]);
            if (first) {
                char m[96];
                snprintf(m, sizeof m, "repeats the order number of row %lld",
                         (long long)json_integer_value(first));
                add_err(errors, rowno, columns[OF_NUMBER], "order_number", m, &nerr);
            } else {
                json_object_set_new(seen, row.val[OF_NUMBER], json_integer(rowno));
                row.info = json_dumps(info, JSON_COMPACT);
                copy_row(&copy, &row, rowno, token_us);
                valid++;
                if (pl.on && valid - pl.sent_rows >= CHUNK_ROWS)
                    pipeline_flush(&pl, &copy, valid, out);
            }
            row_free(&row);
            json_decref(raw);
            json_decref(info);
        }
        if (nerr > before) nerr_rows++;
        if (pl.duplicate) break; /* out holds the earlier import's figures */
    }
    json_decref(dnums);
    json_decref(aliases);
    if (pl.duplicate || rc < 0 || !have_header || !columns[OF_NUMBER])
        db_rollback(); /* whatever the pipeline began (a no-op if nothing) */
    if (pl.duplicate) {
        sheet_close(rd);
        goto done;
    }
    if (rc < 0) {
        if (rc == ROWS_EXCEEDED)
            snprintf(msg, sizeof msg, "more than %d data rows", MAX_ROWS);
        else
            snprintf(msg, sizeof msg, "%s", sheet_error(rd));
        sheet_close(rd);
        out->status = rc == SHEET_ERR_TOO_LARGE ? 413 : 422;
        out->code = rc == SHEET_ERR_TOO_LARGE ? "payload_too_large" : "validation_failed";
        snprintf(out->detail, sizeof out->detail, "the file cannot be read: %s", msg);
        goto done;
    }
    sheet_close(rd);
    if (!have_header || !columns[OF_NUMBER]) {
        out->status = 422;
        out->code = "validation_failed";
        snprintf(out->detail, sizeof out->detail, "%s",
                 have_header ? "no column matches order_number (e.g. 'Sales Order')"
                             : "the file has no header row");
        goto done;
    }

    /* the deferred rows, after one look-up: in the transaction once the
     * pipeline has begun it (its upsert in flight read first); if the
     * pipeline failed, the whole-file way below starts afresh */
    if (ndef) {
        if (pl.t.begun && !pl.failed && loader_wait(&pl.t.ld, &pl.err) < 0) pl.failed = true;
        if (pl.failed) db_rollback();
        json_t *derrors = json_array();
        if (resolve_deferred(&c, def, ndef, columns, given, seen, &copy, token_us, &valid,
                             &nerr_rows, derrors, &err) < 0) {
            json_decref(derrors);
            fail_db(out, &err);
            goto done;
        }
        errors = merge_errors(errors, derrors);
    }

    /* one transaction: the imports row and every order, or nothing;
     * retried when PostgreSQL picks it as a deadlock/serialization victim */
    struct write_args wa = {in, sha, &copy, errors, rows_total, valid, nerr_rows, given};
    if (pl.t.begun && !pl.failed) { /* the rest, then the figures and COMMIT */
        if ((copy.len == pl.sent_off ||
             loader_load(&pl.t.ld, copy.data + pl.sent_off, copy.len - pl.sent_off, false,
                         &err) == 0) &&
            tx_finish(&pl.t, &wa, out, &err) == 0)
            goto done;
        pl.failed = true;
        pl.err = err;
    }
    if (pl.failed) {
        db_rollback();
        err = pl.err;
        if (!retryable(&err)) goto failed;
    }
    for (int attempt = 0; attempt < 3; attempt++) {
        int wrc = write_import(&wa, out, &err);
        if (wrc == 0) goto done;
        db_rollback();
        if (!retryable(&err)) break;
    }
failed:
    fail_db(out, &err);
done:
    for (size_t i = 0; i < ndef; i++) {
        json_decref(def[i].raw);
        json_decref(def[i].info);
    }
    free(def);
    for (size_t i = 0; i < nheaders; i++) free(headers[i]);
    free(headers);
    json_decref(seen);
    free_ctx(&c);
    buf_free(&copy);
    json_decref(errors);
}

int import_upsert_one(const json_t *order, bool partial, int64_t user_id, bool *applied,
                      char *detail, size_t dlen, struct import_outcome *out)
{
    memset(out, 0, sizeof *out);
    struct db_error err;
    struct ctx c = {.inactive_later = true};
    if (load_warehouses(&c, &err) < 0) {
        fail_db(out, &err);
        return -1;
    }
    /* typed JSON to the strings a sheet would give; the rest is info */
    json_t *raw = json_object(), *info = json_object();
    bool given[I_NALL] = {0}; /* the members present, null or not */
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)order, key, v)
    {
        int f = import_field_index(key);
        if (f >= 0) given[f] = true;
        json_t *s = NULL;
        if (json_is_string(v)) s = json_incref(v);
        else if (json_is_integer(v)) s = json_sprintf("%lld", (long long)json_integer_value(v));
        else if (json_is_real(v)) s = json_sprintf("%.17g", json_real_value(v));
        if (f >= 0 && s) json_object_set_new(raw, key, s);
        else if (f < 0 && !json_is_null(v)) {
            json_decref(s);
            json_object_set(info, key, v);
        } else {
            json_decref(s);
        }
    }
    /* a partial update of an order we have checks only what it carries;
     * an order we do not have yet needs what creating one needs */
    bool update_only = false;
    char stored_wh[24] = ""; /* orders are never deleted: it stays there */
    char *num = partial ? order_number_of(raw) : NULL; /* trimmed, as stored */
    if (num) {
        db_res *res = db_run(Q(import_order_warehouse)(num), &err);
        free(num);
        if (!res) {
            free_ctx(&c);
            json_decref(raw);
            json_decref(info);
            fail_db(out, &err);
            return -1;
        }
        update_only = db_ntuples(res) == 1;
        if (update_only) snprintf(stored_wh, sizeof stored_wh, "%s", db_get(res, 0, 0));
        db_res_free(res);
    }
    struct row row;
    out->errors = json_array();
    size_t nerr = validate_row(&c, raw, 0, NULL, update_only ? given : NULL, &row, out->errors);
    json_decref(raw);
    if (nerr) {
        free_ctx(&c);
        json_decref(info);
        out->status = 422;
        out->code = "validation_failed";
        snprintf(out->detail, sizeof out->detail, "the order is invalid");
        return -1;
    }
    json_decref(out->errors);
    out->errors = NULL;
    /* a deactivated warehouse takes no new orders: applied false, unless
     * the order exists (order.created of an order we have is its update) */
    if (!update_only && warehouse_inactive(&c, row.warehouse_id)) {
        db_res *res = partial ? NULL : db_run(Q(import_order_warehouse)(row.val[OF_NUMBER]), &err);
        if (!partial && !res) {
            free_ctx(&c);
            json_decref(info);
            row_free(&row);
            fail_db(out, &err);
            return -1;
        }
        bool exists = res && db_ntuples(res) == 1;
        db_res_free(res);
        if (!exists) {
            *applied = false;
            snprintf(detail, dlen, "order %s not created: warehouse %s is deactivated",
                     row.val[OF_NUMBER], row.warehouse_id);
            free_ctx(&c);
            json_decref(info);
            row_free(&row);
            return 0;
        }
    }
    /* the proposed row must pass NOT NULL before ON CONFLICT turns it into
     * the update, which leaves the warehouse alone */
    if (!row.warehouse_id) row.warehouse_id = stored_wh;
    row.info = json_dumps(info, JSON_COMPACT);
    json_decref(info);
    buf_t copy;
    buf_init(&copy);
    copy_row(&copy, &row, 1, (uint64_t)(now_wall() * 1e6));
    free_ctx(&c); /* row.warehouse_id pointed into it */
    if (!partial) /* order.created overwrites every column of a pending order */
        for (int f = 0; f < I_NALL; f++) given[f] = true;
    struct loader ld;
    loader_init(&ld, "d365", NULL, user_id, 0, given);
    int rc = -1;
    if (tx_cmd("BEGIN", &err) == 0 && loader_load(&ld, copy.data, copy.len, true, &err) == 0 &&
        tx_cmd("COMMIT", &err) == 0) {
        rc = 0;
        *applied = ld.created + ld.updated > 0;
        if (*applied) {
            snprintf(detail, dlen, "%s order %s", ld.created ? "created" : "updated",
                     row.val[OF_NUMBER]);
        } else { /* which of the upsert's reasons, for the sender */
            db_res *res = db_run(Q(import_order_status)(row.val[OF_NUMBER]), &err);
            const char *st = res && db_ntuples(res) == 1 ? db_get(res, 0, 0) : NULL;
            if (st && strcmp(st, "pending") == 0)
                snprintf(detail, dlen, "order %s unchanged: nothing differs",
                         row.val[OF_NUMBER]);
            else
                snprintf(detail, dlen, "order %s is %s: left unchanged", row.val[OF_NUMBER],
                         st ? st : "not pending");
            db_res_free(res);
        }
    } else {
        fail_db(out, &err);
    }
    buf_free(&copy);
    row_free(&row);
    return rc;
}
