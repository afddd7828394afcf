/* The one builder of dynamic SQL (the filters of lists and search, the
 * column lists of create and patch): trusted SQL text from our own code,
 * and values that only ever travel as parameters. The builder numbers its
 * own placeholders, so no caller computes a `$n`. Fixed statements live in
 * sql/queries/ instead (db_run). */
#ifndef DELIVERYD_SQLB_H
#define DELIVERYD_SQLB_H

#include "deliveryd/db.h"
#include "deliveryd/util.h"

#define SQLB_MAX_PARAMS 64

struct sqlb {
    buf_t sql;
    const char *params[SQLB_MAX_PARAMS];
    int np;
};

void sqlb_init(struct sqlb *b);
void sqlb_free(struct sqlb *b);
/** Appends trusted SQL (never client data). */
void sqlb_puts(struct sqlb *b, const char *sql);
/** Appends trusted SQL built with printf (never client data). */
void sqlb_printf(struct sqlb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/** Appends the placeholder of a new parameter whose text is `value` (NULL:
 * SQL NULL; the pointer must outlive the statement). Returns its number,
 * for sqlb_ref. Aborts past SQLB_MAX_PARAMS (a programming error). */
int sqlb_param(struct sqlb *b, const char *value);
/** sqlb_param, the placeholder appended to `out` instead (a part of the
 * statement assembled apart, such as a VALUES list beside its columns;
 * NULL: nowhere yet, for a parameter placed later with sqlb_ref). */
int sqlb_param_to(struct sqlb *b, buf_t *out, const char *value);
/**
 * Appends trusted SQL whose placeholders $1..$n stand for the n values
 * given (a fragment written as if alone), renumbered after the parameters
 * already in b. Every $k must be within 1..n and every value used (checked;
 * a mismatch is a programming error and aborts). Through SQLB_ADD, n is
 * counted from the arguments:
 *   SQLB_ADD(&b, "v.role = $1 AND ($2::bigint IS NULL OR v.warehouse_id = $2)", role, wh);
 */
void sqlb_add(struct sqlb *b, const char *sql, int n, const char *const *values);
#define SQLB_ADD(b, sql, ...)                                                                  \
    sqlb_add((b), (sql), (int)(sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *)), \
             (const char *const[]){__VA_ARGS__})
/** sqlb_add, the fragment appended to `out` instead (as sqlb_param_to):
 * a part assembled apart and put into the statement later with sqlb_puts
 * (its placeholders already numbered), such as a filter used twice. */
void sqlb_add_to(struct sqlb *b, buf_t *out, const char *sql, int n, const char *const *values);
#define SQLB_ADD_TO(b, out, sql, ...)                                                          \
    sqlb_add_to((b), (out), (sql),                                                             \
                (int)(sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *)),      \
                (const char *const[]){__VA_ARGS__})
/** Appends the placeholder of parameter `n` again. */
void sqlb_ref(struct sqlb *b, int n);
/** Runs the built statement (see db_exec_plan). */
db_res *sqlb_exec(const struct sqlb *b, enum db_plan plan, struct db_error *err) MUSTCHECK;

#endif
