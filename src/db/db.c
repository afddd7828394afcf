#include "deliveryd/db.h"

#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deliveryd/config.h"
#include "deliveryd/log.h"
#include "deliveryd/metrics.h"

struct db_res {
    PGresult *pg;
};

/* Statements prepared on one connection, keyed by their text. Server-side
 * prepared statements live as long as the connection, so the cache does
 * too: a reconnect starts with an empty one. */
#define PREPARED_MAX 64
struct prepared {
    uint64_t hash;
    char *sql;
    char name[16];
};

struct conn {
    PGconn *pg;
    bool replica; /* a connection to READ_DATABASE_URL */
    struct prepared prepared[PREPARED_MAX];
    int nprepared;
    unsigned next_name;
};

static pthread_key_t conn_key, replica_key;
/* this request's reads go to the replica (db_prefer_replica) */
static _Thread_local bool tl_use_replica;
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

static void conn_free(struct conn *c)
{
    if (!c) return;
    PQfinish(c->pg);
    for (int i = 0; i < c->nprepared; i++) free(c->prepared[i].sql);
    free(c);
}

static void conn_destroy(void *p)
{
    conn_free(p);
}

static void make_key(void)
{
    if (pthread_key_create(&conn_key, conn_destroy) != 0) abort();
    if (pthread_key_create(&replica_key, conn_destroy) != 0) abort();
}

void db_global_init(void)
{
    pthread_once(&key_once, make_key);
}

void db_thread_close(void)
{
    db_global_init();
    conn_free(pthread_getspecific(conn_key));
    pthread_setspecific(conn_key, NULL);
    conn_free(pthread_getspecific(replica_key));
    pthread_setspecific(replica_key, NULL);
}

static void drop_conn(struct conn *c)
{
    pthread_setspecific(c->replica ? replica_key : conn_key, NULL);
    conn_free(c);
    metrics_db_reconnect();
}

/* NOTICEs (e.g. "already exists, skipping") are not for the operator. */
static void quiet_notices(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

/* An idle connection (no transaction, nothing sent) has nothing to say: a
 * readable socket means the server (or a pooler in between) ended the
 * session, sending a FATAL message and closing (a restart). Found out
 * here, before a statement is sent, a reconnect cannot repeat anything.
 * Bounded: a message and the end of the stream take two reads at most. */
static bool idle_conn_alive(PGconn *pg)
{
    for (int i = 0; i < 4; i++) {
        struct pollfd p = {.fd = PQsocket(pg), .events = POLLIN};
        if (p.fd < 0) return false;
        if (poll(&p, 1, 0) <= 0) return true; /* nothing to read (or EINTR) */
        if (!PQconsumeInput(pg) || PQstatus(pg) != CONNECTION_OK) return false;
        PGnotify *n;
        while ((n = PQnotifies(pg)) != NULL) PQfreemem(n);
    }
    return PQstatus(pg) == CONNECTION_OK;
}

/* This thread's connection to the primary (replica false) or to
 * READ_DATABASE_URL, connected or replaced as needed. */
static struct conn *get_conn_on(bool replica, struct db_error *err)
{
    db_global_init();
    pthread_key_t key = replica ? replica_key : conn_key;
    struct conn *cur = pthread_getspecific(key);
    if (cur && PQstatus(cur->pg) == CONNECTION_OK &&
        (PQtransactionStatus(cur->pg) != PQTRANS_IDLE || idle_conn_alive(cur->pg)))
        return cur;
    if (cur) drop_conn(cur);
    char options[256];
    snprintf(options, sizeof options,
             "-c statement_timeout=%ld -c lock_timeout=5000 "
             "-c idle_in_transaction_session_timeout=60000 -c TimeZone=UTC",
             g_cfg.db_pool_statement_timeout_ms);
    /* dbname first: its expansion is overridden by the keywords after it. */
    const char *keys[] = {"dbname", "connect_timeout", "options", "application_name",
                          "keepalives", "keepalives_idle", NULL};
    const char *vals[] = {replica ? g_cfg.read_database_url : g_cfg.database_url,
                          replica ? "2" : "3", options, "deliveryd", "1", "30", NULL};
    PGconn *c = PQconnectdbParams(keys, vals, 1);
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
    cur = xcalloc(1, sizeof *cur);
    cur->pg = c;
    cur->replica = replica;
    pthread_setspecific(key, cur);
    return cur;
}

static struct conn *get_conn(struct db_error *err)
{
    return get_conn_on(false, err);
}

/* The replica's state, shared by the threads and refreshed at most once a
 * second by whichever thread needs it first: reachable, and how far its
 * replay is behind. Lag is 0 while everything received is replayed (an
 * idle primary makes now() - pg_last_xact_replay_timestamp() grow without
 * the replica being behind). */
static pthread_mutex_t replica_mu = PTHREAD_MUTEX_INITIALIZER;
static double replica_checked_at = -1e9;
static bool replica_ok;
static double replica_lag = -1;
static double replica_max_lag = 5;

void db_set_replica_max_lag(double seconds)
{
    pthread_mutex_lock(&replica_mu);
    replica_max_lag = seconds;
    pthread_mutex_unlock(&replica_mu);
}

static void replica_mark_down(void)
{
    pthread_mutex_lock(&replica_mu);
    replica_ok = false;
    replica_checked_at = now_mono();
    pthread_mutex_unlock(&replica_mu);
}

static void replica_refresh(void)
{
    bool ok = false;
    double lag = -1;
    struct conn *c = get_conn_on(true, NULL);
    if (c && PQtransactionStatus(c->pg) == PQTRANS_IDLE) {
        /* on the replica's own connection, outside the statement path
         * (which would route and count it): sql/queries/replica.sql */
        PGresult *res = PQexec(c->pg, g_queries[Q_replica_lag].sql);
        if (res && PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1) {
            ok = true;
            lag = atof(PQgetvalue(res, 0, 0));
        }
        if (res) PQclear(res);
        if (PQstatus(c->pg) != CONNECTION_OK) drop_conn(c);
    }
    pthread_mutex_lock(&replica_mu);
    replica_ok = ok;
    replica_lag = lag;
    pthread_mutex_unlock(&replica_mu);
}

/* Whether a read may go to the replica now: configured, reachable at its
 * last check (at most a second ago) and behind by at most
 * replica_max_lag_seconds. */
static bool replica_usable(void)
{
    if (!g_cfg.read_database_url) return false;
    pthread_mutex_lock(&replica_mu);
    double now = now_mono();
    bool refresh = now - replica_checked_at >= 1.0;
    if (refresh) replica_checked_at = now; /* this thread checks; others use the last state */
    pthread_mutex_unlock(&replica_mu);
    if (refresh) replica_refresh();
    pthread_mutex_lock(&replica_mu);
    bool usable = replica_ok && replica_lag >= 0 && replica_lag <= replica_max_lag;
    pthread_mutex_unlock(&replica_mu);
    return usable;
}

bool db_prefer_replica(void)
{
    tl_use_replica = replica_usable();
    if (!tl_use_replica && g_cfg.read_database_url) metrics_replica_fallback();
    return tl_use_replica;
}

const char *db_replica_state(double *lag)
{
    *lag = -1;
    if (!g_cfg.read_database_url) return "none";
    pthread_mutex_lock(&replica_mu);
    replica_checked_at = now_mono();
    pthread_mutex_unlock(&replica_mu);
    replica_refresh();
    pthread_mutex_lock(&replica_mu);
    bool ok = replica_ok;
    *lag = replica_lag;
    double max = replica_max_lag;
    pthread_mutex_unlock(&replica_mu);
    if (!ok) return "down";
    return *lag <= max ? "up" : "lagging";
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
    const char *tab = res ? PQresultErrorField(res, PG_DIAG_TABLE_NAME) : NULL;
    snprintf(err->table, sizeof err->table, "%s", tab ? tab : "");
    const char *col = res ? PQresultErrorField(res, PG_DIAG_COLUMN_NAME) : NULL;
    snprintf(err->column, sizeof err->column, "%s", col ? col : "");
    db_map_sqlstate(err->sqlstate, &err->http_status, &err->code);
}

static bool result_ok(PGresult *res)
{
    ExecStatusType s = PQresultStatus(res);
    return s == PGRES_TUPLES_OK || s == PGRES_COMMAND_OK;
}

static uint64_t sql_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static struct prepared *prepared_find(struct conn *c, const char *sql, uint64_t h)
{
    for (int i = 0; i < c->nprepared; i++)
        if (c->prepared[i].hash == h && strcmp(c->prepared[i].sql, sql) == 0)
            return &c->prepared[i];
    return NULL;
}

static void prepared_forget(struct conn *c, struct prepared *p)
{
    free(p->sql);
    *p = c->prepared[--c->nprepared];
}

enum plan { PLAN_EACH = DB_PLAN_EACH, PLAN_PREPARED = DB_PLAN_PREPARED, PLAN_GENERIC = DB_PLAN_GENERIC };

/* EXECUTE of prepared statement `name` on its generic plan: plan_cache_mode
 * is set around it in one pipeline, so one round trip. The three commands
 * run in one implicit transaction (one Sync), so a failure also undoes the
 * SET. Returns the EXECUTE's result, or the first error. */
static void take_result(PGresult **keep, PGresult *res, bool *late);

static PGresult *exec_generic(PGconn *pg, const char *name, int nparams,
                              const char *const *params, bool *sent, bool *late)
{
    if (!PQenterPipelineMode(pg)) return NULL;
    PGresult *keep = NULL, *res;
    if (PQsendQueryParams(pg, "SET plan_cache_mode = force_generic_plan", 0, NULL, NULL, NULL,
                          NULL, 0) &&
        PQsendQueryPrepared(pg, name, nparams, params, NULL, NULL, 0) &&
        PQsendQueryParams(pg, "RESET plan_cache_mode", 0, NULL, NULL, NULL, NULL, 0) &&
        PQpipelineSync(pg)) {
        *sent = true;
        /* each command's results end with a NULL; the Sync's result does not */
        for (int cmd = 0; cmd < 3; cmd++)
            while ((res = PQgetResult(pg)) != NULL) {
                if (cmd == 1 || PQresultStatus(res) == PGRES_FATAL_ERROR)
                    take_result(&keep, res, late);
                else
                    PQclear(res);
            }
        if ((res = PQgetResult(pg)) != NULL) {
            if (PQresultStatus(res) == PGRES_FATAL_ERROR) take_result(&keep, res, late);
            else PQclear(res);
        }
    }
    /* left in pipeline mode only when the connection broke; the caller
     * drops it */
    (void)PQexitPipelineMode(pg);
    return keep;
}

/* Reads every result of the command in flight; keeps the first. */
/* A statement's answer ends with the implicit transaction's commit (at
 * Sync): an error that comes after the statement's own successful result
 * (the commit failed, or the server ended the session before the cycle
 * ended: a fast shutdown) means the rows came but the change may not have
 * been kept. Such a late error wins over the result, and *late says so:
 * the outcome is unknown, never "it worked" (an order answered 201 and
 * then rolled back was lost) and never "it did not run". */
static void take_result(PGresult **keep, PGresult *res, bool *late)
{
    if (!*keep) {
        *keep = res;
    } else if (PQresultStatus(res) == PGRES_FATAL_ERROR && result_ok(*keep)) {
        PQclear(*keep);
        *keep = res;
        *late = true;
    } else {
        PQclear(res);
    }
}

/* Reads every result of the command in flight; keeps the first, or a late
 * error (take_result). */
static PGresult *collect_late(PGconn *c, bool *late)
{
    PGresult *first = NULL, *res;
    *late = false;
    while ((res = PQgetResult(c)) != NULL) take_result(&first, res, late);
    return first;
}

static PGresult *collect(PGconn *c)
{
    bool late;
    return collect_late(c, &late);
}

/* The result of a command just handed to libpq (`queued` is what the
 * PQsend* call returned): *sent says whether it left for the server, so
 * that a broken connection can tell "never ran" from "may have run". */
static PGresult *result_of(PGconn *pg, int queued, bool *sent, bool *late)
{
    if (!queued) return NULL;
    *sent = true;
    return collect_late(pg, late);
}

/* Sends one statement as `plan` says (preparing it on first use). *used is
 * the cache entry the result came from, if any; *sent is false when the
 * statement cannot have reached the server (preparing it or sending it
 * failed), so it cannot have run. */
static PGresult *send_statement(struct conn *c, const char *sql, int nparams,
                                const char *const *params, enum plan plan, struct prepared **used,
                                bool *sent, bool *late)
{
    *used = NULL;
    *sent = false;
    *late = false;
    if (plan == PLAN_EACH)
        return result_of(c->pg, PQsendQueryParams(c->pg, sql, nparams, NULL, params, NULL, NULL, 0),
                         sent, late);
    uint64_t h = sql_hash(sql);
    struct prepared *p = prepared_find(c, sql, h);
    if (!p) {
        if (c->nprepared == PREPARED_MAX)
            return result_of(
                c->pg, PQsendQueryParams(c->pg, sql, nparams, NULL, params, NULL, NULL, 0), sent,
                late);
        char name[16];
        snprintf(name, sizeof name, "s%u", c->next_name++);
        PGresult *res = PQprepare(c->pg, name, sql, nparams, NULL);
        if (!res || PQresultStatus(res) != PGRES_COMMAND_OK) return res;
        PQclear(res);
        p = &c->prepared[c->nprepared++];
        p->hash = h;
        p->sql = xstrdup(sql);
        snprintf(p->name, sizeof p->name, "%s", name);
    }
    *used = p;
    if (plan == PLAN_GENERIC) return exec_generic(c->pg, p->name, nparams, params, sent, late);
    return result_of(c->pg, PQsendQueryPrepared(c->pg, p->name, nparams, params, NULL, NULL, 0),
                     sent, late);
}

/* A successful result, as callers hold it. */
static db_res *wrap(PGresult *res)
{
    db_res *r = xmalloc(sizeof *r);
    r->pg = res;
    return r;
}

/* The statement left for the server and the connection broke before its
 * answer came back: it may have run (and committed, outside a
 * transaction) or not. Running it again could do it twice, so the client
 * is told to retry, which its idempotency key makes safe (SQLSTATE 08007,
 * "transaction resolution unknown"). */
static void outcome_unknown(struct db_error *err)
{
    log_msgf(LOG_WARN, "database connection broke after a statement was sent (%s: %s)",
             err->sqlstate, err->message);
    snprintf(err->sqlstate, sizeof err->sqlstate, "08007");
    snprintf(err->message, sizeof err->message,
             "the database connection broke while the request ran; its outcome is unknown");
    db_map_sqlstate(err->sqlstate, &err->http_status, &err->code);
}

static db_res *exec_on(bool replica, const char *sql, int nparams, const char *const *params,
                       enum plan plan, struct db_error *err)
{
    /* A connection that died while idle (a PostgreSQL or pooler restart)
     * is noticed by get_conn before anything is sent. Once sent, a
     * statement runs again only when it cannot have run: it never left
     * (sending or preparing failed), or the server answered it with the
     * end of the session (57P01) instead of a result. Anything else that
     * breaks the connection in flight is an unknown outcome (503).
     * A statement of its own (no transaction open) that lost a deadlock or
     * a serialization check was rolled back whole: it runs again, up to
     * twice, before the client is told to retry (LIBRARY-NOTES: 40P01,
     * 40001). Inside a transaction only the caller can start over. */
    int reconnects = 0;
    for (int attempt = 0; attempt < 3; attempt++) {
        struct conn *c = get_conn_on(replica, err);
        if (!c) return NULL;
        bool idle = PQtransactionStatus(c->pg) == PQTRANS_IDLE;
        metrics_db_statement();
        tl_statements++;
        struct prepared *used;
        bool sent, late;
        PGresult *res = send_statement(c, sql, nparams, params, plan, &used, &sent, &late);
        if (res && result_ok(res)) return wrap(res);
        fill_error(c->pg, res, err);
        if (res) PQclear(res);
        /* "cached plan must not change result type": a migration replaced
         * a view under a running daemon. Prepare it afresh next time (the
         * old server-side statement is left; names are never reused). */
        if (used && strcmp(err->sqlstate, "0A000") == 0) {
            prepared_forget(c, used);
            if (idle) continue;
            return NULL;
        }
        bool broken = PQstatus(c->pg) != CONNECTION_OK ||
                      PQpipelineStatus(c->pg) != PQ_PIPELINE_OFF ||
                      strncmp(err->sqlstate, "08", 2) == 0 ||
                      strcmp(err->sqlstate, "57P01") == 0;
        if (!broken) {
            bool lost = strcmp(err->sqlstate, "40P01") == 0 || strcmp(err->sqlstate, "40001") == 0;
            if (lost && idle && PQtransactionStatus(c->pg) == PQTRANS_IDLE) {
                log_msgf(LOG_WARN, "statement retried after SQLSTATE %s (attempt %d)",
                         err->sqlstate, attempt + 1);
                continue;
            }
            return NULL;
        }
        drop_conn(c);
        /* 57P01 as the statement's own answer: it was ended before it ran
         * (rolled back); after its rows (late): the commit may not have run */
        bool not_run = !sent || (!late && strcmp(err->sqlstate, "57P01") == 0);
        /* inside a transaction, only a COMMIT can have taken effect */
        if (!not_run && (idle || strncmp(sql, "COMMIT", 6) == 0)) {
            outcome_unknown(err);
            return NULL;
        }
        if (!idle || !not_run || reconnects++ > 0) return NULL;
    }
    return NULL;
}

/* A read meant for the replica runs there when it is usable; if the
 * replica fails it (down, refusing, a recovery conflict), the primary
 * answers instead: a replica is never an error to the client. Inside a
 * transaction a statement stays on the connection that holds it. */
static db_res *exec_statement_routed(bool want_replica, const char *sql, int nparams,
                                     const char *const *params, enum plan plan,
                                     struct db_error *err)
{
    if (want_replica) {
        struct conn *r = pthread_getspecific(replica_key);
        bool in_tx = r && PQtransactionStatus(r->pg) != PQTRANS_IDLE;
        db_res *res = exec_on(true, sql, nparams, params, plan, err);
        if (res) {
            metrics_replica_read();
            return res;
        }
        if (in_tx) return NULL;
        if (strncmp(err->sqlstate, "08", 2) == 0 || strncmp(err->sqlstate, "57", 2) == 0 ||
            strncmp(err->sqlstate, "53", 2) == 0 || strncmp(err->sqlstate, "40", 2) == 0)
            replica_mark_down();
        log_msgf(LOG_WARN, "replica read failed (%s: %s); reading from the primary", err->sqlstate,
                 err->message);
        metrics_replica_fallback();
        tl_use_replica = false; /* the rest of this request too */
    }
    return exec_on(false, sql, nparams, params, plan, err);
}

static db_res *exec_statement(const char *sql, int nparams, const char *const *params,
                              enum plan plan, struct db_error *err)
{
    return exec_statement_routed(tl_use_replica, sql, nparams, params, plan, err);
}

db_res *db_run(enum query_id q, int nparams, const char *const *params, struct db_error *err)
{
    static const enum plan plans[] = {[QP_EACH] = PLAN_EACH, [QP_PREPARED] = PLAN_PREPARED,
                                      [QP_GENERIC] = PLAN_GENERIC};
    const struct query_def *d = &g_queries[q];
    (void)nparams; /* == d->nparams, checked by Q() when compiling */
    bool want = tl_use_replica;
    if (!want && d->replica) {
        /* not inside a transaction of the primary: the read must see it
         * (the keys exist once db_global_init ran: a CLI's first statement
         * may be this one) */
        db_global_init();
        struct conn *p = pthread_getspecific(conn_key);
        bool in_tx = p && PQtransactionStatus(p->pg) != PQTRANS_IDLE;
        want = !in_tx && replica_usable();
        if (!want && !in_tx && g_cfg.read_database_url) metrics_replica_fallback();
    }
    return exec_statement_routed(want, d->sql, d->nparams, params, plans[d->plan], err);
}

db_res *db_exec_plan(const char *sql, int nparams, const char *const *params, enum db_plan plan,
                     struct db_error *err)
{
    return exec_statement(sql, nparams, params, (enum plan)plan, err);
}

db_res *db_exec(const char *sql, int nparams, const char *const *params, struct db_error *err)
{
    return exec_statement(sql, nparams, params, PLAN_EACH, err);
}

db_res *db_exec_prepared(const char *sql, int nparams, const char *const *params,
                         struct db_error *err)
{
    return exec_statement(sql, nparams, params, PLAN_PREPARED, err);
}

int db_exec_script(const char *sql, struct db_error *err)
{
    struct conn *cs = get_conn(err);
    if (!cs) return -1;
    PGconn *c = cs->pg;
    metrics_db_statement();
    tl_statements++;
    PGresult *res = PQexec(c, sql);
    if (res && result_ok(res)) {
        PQclear(res);
        return 0;
    }
    fill_error(c, res, err);
    if (res) PQclear(res);
    if (PQstatus(c) != CONNECTION_OK) drop_conn(cs);
    return -1;
}

int db_copy_in(const char *copy_sql, const char *data, size_t len, struct db_error *err)
{
    struct conn *cs = get_conn(err);
    if (!cs) return -1;
    PGconn *c = cs->pg;
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
        drop_conn(cs);
        return -1;
    }
    res = collect(c);
    int rc = res && PQresultStatus(res) == PGRES_COMMAND_OK ? 0 : -1;
    if (rc < 0) fill_error(c, res, err);
    if (res) PQclear(res);
    return rc;
}

int db_send(const char *sql, int nparams, const char *const *params, struct db_error *err)
{
    struct conn *cs = get_conn(err);
    if (!cs) return -1;
    metrics_db_statement();
    tl_statements++;
    if (PQsendQueryParams(cs->pg, sql, nparams, NULL, params, NULL, NULL, 0) == 1) return 0;
    fill_error(cs->pg, NULL, err);
    if (PQstatus(cs->pg) != CONNECTION_OK) drop_conn(cs);
    return -1;
}

db_res *db_wait(struct db_error *err)
{
    struct conn *cs = get_conn(err);
    if (!cs) return NULL;
    PGresult *res = collect(cs->pg);
    if (res && result_ok(res)) return wrap(res);
    fill_error(cs->pg, res, err);
    if (res) PQclear(res);
    if (PQstatus(cs->pg) != CONNECTION_OK) drop_conn(cs);
    return NULL;
}

void db_res_free(db_res *res)
{
    if (!res) return;
    PQclear(res->pg);
    free(res);
}

void db_error_detail(const struct db_error *err, char *detail, size_t len)
{
    if (err->http_status < 500) {
        snprintf(detail, len, "%s", err->message);
        return;
    }
    log_msgf(LOG_ERROR, "database error %s: %s", err->sqlstate, err->message);
    if (strcmp(err->sqlstate, "08007") == 0)
        snprintf(detail, len, "%s",
                 "the database connection broke while the request ran, so whether it took "
                 "effect is unknown; retry (with the same Idempotency-Key for a creation)");
    else
        snprintf(detail, len, "%s",
                 err->http_status == 503 ? "the database is unavailable; retry" : "internal error");
}

static void rollback_conn(struct conn *cs);

void db_rollback(void)
{
    db_global_init();
    rollback_conn(pthread_getspecific(conn_key));
    rollback_conn(pthread_getspecific(replica_key));
}

static void rollback_conn(struct conn *cs)
{
    if (!cs || PQstatus(cs->pg) != CONNECTION_OK) return;
    PGconn *c = cs->pg;
    /* a db_send whose result nobody read: finish it first */
    if (PQtransactionStatus(c) == PQTRANS_ACTIVE) {
        PGresult *left = collect(c);
        if (left) PQclear(left);
    }
    if (PQtransactionStatus(c) == PQTRANS_IDLE) return;
    PGresult *res = PQexec(c, "ROLLBACK");
    if (res) PQclear(res);
}

void db_request_done(void)
{
    db_rollback();
    tl_use_replica = false;
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
