#include "deliveryd/db.h"

#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deliveryd/config.h"
#include "deliveryd/http.h"
#include "deliveryd/log.h"
#include "deliveryd/metrics.h"

struct db_res {
    PGresult *pg;
};

static pthread_key_t conn_key;
/* statements sent by this thread since the current request began */
static _Thread_local unsigned long tl_statements;

void db_statements_reset(void)
{
    tl_statements = 0;
}

unsigned long db_statements_count(void)
{
    return tl_statements;
}
static pthread_once_t key_once = PTHREAD_ONCE_INIT;

static void conn_destroy(void *p)
{
    if (p) PQfinish((PGconn *)p);
}

static void make_key(void)
{
    if (pthread_key_create(&conn_key, conn_destroy) != 0) abort();
}

void db_global_init(void)
{
    pthread_once(&key_once, make_key);
}

void db_thread_close(void)
{
    db_global_init();
    PGconn *c = pthread_getspecific(conn_key);
    if (c) PQfinish(c);
    pthread_setspecific(conn_key, NULL);
}

static void drop_conn(PGconn *c)
{
    PQfinish(c);
    pthread_setspecific(conn_key, NULL);
    metrics_db_reconnect();
}

/* NOTICEs (e.g. "already exists, skipping") are not for the operator. */
static void quiet_notices(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

static PGconn *get_conn(struct db_error *err)
{
    db_global_init();
    PGconn *c = pthread_getspecific(conn_key);
    if (c && PQstatus(c) == CONNECTION_OK) return c;
    if (c) drop_conn(c);
    char options[256];
    snprintf(options, sizeof options,
             "-c statement_timeout=%ld -c lock_timeout=5000 "
             "-c idle_in_transaction_session_timeout=60000 -c TimeZone=UTC",
             g_cfg.db_pool_statement_timeout_ms);
    /* dbname first: its expansion is overridden by the keywords after it. */
    const char *keys[] = {"dbname", "connect_timeout", "options", "application_name",
                          "keepalives", "keepalives_idle", NULL};
    const char *vals[] = {g_cfg.database_url, "3", options, "deliveryd", "1", "30", NULL};
    c = PQconnectdbParams(keys, vals, 1);
    if (!c || PQstatus(c) != CONNECTION_OK) {
        if (err) {
            memset(err, 0, sizeof *err);
            strcpy(err->sqlstate, "08006");
            snprintf(err->message, sizeof err->message, "database unavailable: %s",
                     c ? PQerrorMessage(c) : "out of memory");
            db_map_sqlstate(err->sqlstate, &err->http_status, &err->code);
        }
        if (c) PQfinish(c);
        return NULL;
    }
    PQsetNoticeProcessor(c, quiet_notices, NULL);
    pthread_setspecific(conn_key, c);
    return c;
}

static void fill_error(PGconn *c, PGresult *res, struct db_error *err)
{
    memset(err, 0, sizeof *err);
    const char *st = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    snprintf(err->sqlstate, sizeof err->sqlstate, "%s", st ? st : "08006");
    const char *m = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    snprintf(err->message, sizeof err->message, "%s", m ? m : PQerrorMessage(c));
    const char *con = res ? PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME) : NULL;
    snprintf(err->constraint, sizeof err->constraint, "%s", con ? con : "");
    db_map_sqlstate(err->sqlstate, &err->http_status, &err->code);
}

static bool result_ok(PGresult *res)
{
    ExecStatusType s = PQresultStatus(res);
    return s == PGRES_TUPLES_OK || s == PGRES_COMMAND_OK;
}

db_res *db_exec(const char *sql, int nparams, const char *const *params, struct db_error *err)
{
    /* A connection that died while idle (a PostgreSQL restart) is only
     * noticed when used: outside a transaction, reconnect and retry once. */
    for (int attempt = 0; attempt < 2; attempt++) {
        PGconn *c = get_conn(err);
        if (!c) return NULL;
        bool idle = PQtransactionStatus(c) == PQTRANS_IDLE;
        metrics_db_statement();
        tl_statements++;
        PGresult *res = PQexecParams(c, sql, nparams, NULL, params, NULL, NULL, 0);
        if (res && result_ok(res)) {
            db_res *r = xmalloc(sizeof *r);
            r->pg = res;
            return r;
        }
        fill_error(c, res, err);
        if (res) PQclear(res);
        bool broken = PQstatus(c) != CONNECTION_OK || strncmp(err->sqlstate, "08", 2) == 0 ||
                      strcmp(err->sqlstate, "57P01") == 0;
        if (!broken) return NULL;
        drop_conn(c);
        if (!idle) return NULL;
    }
    return NULL;
}

int db_exec_script(const char *sql, struct db_error *err)
{
    PGconn *c = get_conn(err);
    if (!c) return -1;
    metrics_db_statement();
    tl_statements++;
    PGresult *res = PQexec(c, sql);
    if (res && result_ok(res)) {
        PQclear(res);
        return 0;
    }
    fill_error(c, res, err);
    if (res) PQclear(res);
    if (PQstatus(c) != CONNECTION_OK) drop_conn(c);
    return -1;
}

int db_copy_in(const char *copy_sql, const char *data, size_t len, struct db_error *err)
{
    PGconn *c = get_conn(err);
    if (!c) return -1;
    metrics_db_statement();
    tl_statements++;
    PGresult *res = PQexec(c, copy_sql);
    if (!res || PQresultStatus(res) != PGRES_COPY_IN) {
        fill_error(c, res, err);
        if (res) PQclear(res);
        return -1;
    }
    PQclear(res);
    /* in slices: PQputCopyData takes an int length */
    size_t off = 0;
    int ok = 1;
    while (ok == 1 && off < len) {
        size_t n = len - off > (1u << 20) ? (1u << 20) : len - off;
        ok = PQputCopyData(c, data + off, (int)n);
        off += n;
    }
    if (PQputCopyEnd(c, ok == 1 ? NULL : "client failed to send") != 1) {
        fill_error(c, NULL, err);
        drop_conn(c);
        return -1;
    }
    int rc = 0;
    while ((res = PQgetResult(c)) != NULL) {
        if (PQresultStatus(res) != PGRES_COMMAND_OK && rc == 0) {
            fill_error(c, res, err);
            rc = -1;
        }
        PQclear(res);
    }
    return rc;
}

void db_res_free(db_res *res)
{
    if (!res) return;
    PQclear(res->pg);
    free(res);
}

static void res_free_cb(void *p)
{
    db_res_free(p);
}

int db_reply_error(struct req *r, const struct db_error *err)
{
    if (err->http_status >= 500) {
        log_msgf(LOG_ERROR, "database error %s: %s", err->sqlstate, err->message);
        if (err->http_status == 503)
            return reply_problem(r, 503, "unavailable", "the database is unavailable; retry");
        return reply_problem(r, 500, "internal", "internal error");
    }
    return reply_problem(r, err->http_status, err->code, "%s", err->message);
}

db_res *db_query_or_reply(struct req *r, const char *sql, int nparams, const char *const *params)
{
    struct db_error err;
    db_res *res = db_exec(sql, nparams, params, &err);
    if (!res) {
        db_reply_error(r, &err);
        return NULL;
    }
    req_defer(r, res_free_cb, res);
    return res;
}

int db_begin_or_reply(struct req *r)
{
    return db_query_or_reply(r, "BEGIN", 0, NULL) ? 0 : -1;
}

int db_commit_or_reply(struct req *r)
{
    return db_query_or_reply(r, "COMMIT", 0, NULL) ? 0 : -1;
}

void db_rollback(void)
{
    db_global_init();
    PGconn *c = pthread_getspecific(conn_key);
    if (!c || PQstatus(c) != CONNECTION_OK) return;
    if (PQtransactionStatus(c) == PQTRANS_IDLE) return;
    PGresult *res = PQexec(c, "ROLLBACK");
    if (res) PQclear(res);
}

void db_request_done(void)
{
    db_rollback();
}

int db_ntuples(const db_res *res)
{
    return PQntuples(res->pg);
}

int db_nfields(const db_res *res)
{
    return PQnfields(res->pg);
}

const char *db_get(const db_res *res, int row, int col)
{
    return PQgetvalue(res->pg, row, col);
}

size_t db_getlen(const db_res *res, int row, int col)
{
    return (size_t)PQgetlength(res->pg, row, col);
}

bool db_isnull(const db_res *res, int row, int col)
{
    return PQgetisnull(res->pg, row, col) != 0;
}

long db_cmd_tuples(const db_res *res)
{
    return atol(PQcmdTuples(res->pg));
}

bool db_ping(void)
{
    struct db_error err;
    db_res *res = db_exec("SELECT 1", 0, NULL, &err);
    if (!res) return false;
    db_res_free(res);
    return true;
}
