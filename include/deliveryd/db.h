/* PostgreSQL access: one lazily (re)connected connection per thread, one
 * helper to run a parameterized statement, transactions, and the single
 * SQLSTATE -> HTTP table. Nothing outside db/ includes libpq-fe.h. */
#ifndef DELIVERYD_DB_H
#define DELIVERYD_DB_H

#include <stdbool.h>
#include <stddef.h>

#include "deliveryd/queries.h"
#include "deliveryd/util.h"

typedef struct db_res db_res; /* a PGresult */

struct db_error {
    char sqlstate[6];
    char message[256];
    char constraint[64];
    char table[64];  /* the table of a constraint violation */
    char column[64]; /* the column of a not-null violation */
    int http_status;  /* from the SQLSTATE table */
    const char *code; /* problem code for that status */
};

/**
 * Runs `sql` with text parameters (NULL elements are SQL NULLs) on this
 * thread's connection, connecting first if needed. Returns a result the
 * caller frees with db_res_free, or NULL with *err filled. A broken
 * connection is dropped so the next call reconnects.
 */
db_res *db_exec(const char *sql, int nparams, const char *const *params, struct db_error *err)
    MUSTCHECK;
/* How a statement is planned: for these parameter values each time (an
 * unnamed statement), through the connection's prepared statement for its
 * text (PostgreSQL's choice of custom or generic plan), or through that
 * prepared statement on its generic plan always (see the *_or_reply
 * variants in db_reply.h for when each fits). */
enum db_plan { DB_PLAN_EACH, DB_PLAN_PREPARED, DB_PLAN_GENERIC };
/**
 * Runs a statement of sql/queries, planned as its `-- plan:` line
 * says: db_run(Q(order_get)(id, scope, own), &err). The argument count
 * comes from the arguments (Q checks it when compiling).
 */
db_res *db_run(enum query_id q, int nparams, const char *const *params, struct db_error *err)
    MUSTCHECK;
/** db_exec with the plan given. */
db_res *db_exec_plan(const char *sql, int nparams, const char *const *params, enum db_plan plan,
                     struct db_error *err) MUSTCHECK;
/**
 * db_exec through a statement prepared once per connection (keyed by the
 * SQL text): parse and planning are paid once, and after five runs
 * PostgreSQL may keep one generic plan. Only for hot statements whose text
 * is fixed and whose best plan does not depend on the parameter values
 * (lookups by key); filters of the `$n IS NULL OR ...` kind stay on db_exec.
 */
db_res *db_exec_prepared(const char *sql, int nparams, const char *const *params,
                         struct db_error *err) MUSTCHECK;
/**
 * Sends `sql` like db_exec but returns at once: 0 when sent (read the
 * result with db_wait before anything else on this thread's connection),
 * -1 with *err filled. For overlapping the client's work with the server's
 * (the import parses its next rows meanwhile). db_rollback finishes a sent
 * command nobody waited for.
 */
int db_send(const char *sql, int nparams, const char *const *params, struct db_error *err)
    MUSTCHECK;
/** The result of the command db_send sent, as db_exec would return it. */
db_res *db_wait(struct db_error *err) MUSTCHECK;
/** Runs a script of several statements (simple protocol, no params). */
int db_exec_script(const char *sql, struct db_error *err) MUSTCHECK;
void db_res_free(db_res *res);
/** COPY ... FROM STDIN with `data` (COPY text format) in one go. */
int db_copy_in(const char *copy_sql, const char *data, size_t len, struct db_error *err)
    MUSTCHECK;

/** The detail a client is told of err: its message below 500; a 5xx is
 * logged here with its SQLSTATE and told only "retry" (503) or "internal
 * error". For callers that answer through another path (the import). */
void db_error_detail(const struct db_error *err, char *detail, size_t len);

/** Rolls back an open transaction, if any (safe to call always). */
void db_rollback(void);

int db_ntuples(const db_res *res);
int db_nfields(const db_res *res);
/** Value text ("" for NULL); owned by res. */
const char *db_get(const db_res *res, int row, int col);
size_t db_getlen(const db_res *res, int row, int col);
bool db_isnull(const db_res *res, int row, int col);
/** Rows changed by INSERT/UPDATE/DELETE. */
long db_cmd_tuples(const db_res *res);

/** Per-thread count of statements since the last reset (one request runs
 * on one thread): the X-DB-Statements response header. */
void db_statements_reset(void);
unsigned long db_statements_count(void);

/** Is PostgreSQL reachable right now (SELECT 1)? */
bool db_ping(void);
/**
 * Sends this request's statements (on this thread, until db_request_done) to
 * the read replica (READ_DATABASE_URL) when it is reachable and at most
 * replica_max_lag_seconds behind; returns whether it will. For requests
 * that only read and tolerate that lag (analytics, exports, a driver's
 * trail, /imports history). A statement the replica fails is answered by
 * the primary. Statements marked `-- replica: ok` go there on their own.
 */
bool db_prefer_replica(void);
/** The replica's state now: "none" (not configured), "up", "lagging" or
 * "down"; *lag its replay lag in seconds (-1 when unknown). Checks now. */
const char *db_replica_state(double *lag);
/** replica_max_lag_seconds (the settings service keeps it current). */
void db_set_replica_max_lag(double seconds);
/** Called when a request completes: ends a forgotten transaction. */
void db_request_done(void);
/** Closes this thread's connection. */
void db_thread_close(void);
void db_global_init(void);

/** Maps a SQLSTATE to an HTTP status and problem code. */
void db_map_sqlstate(const char *sqlstate, int *status, const char **code);

#endif
