/* LISTEN on a dedicated connection (include/deliveryd/db_listen.h). */
#include "deliveryd/db_listen.h"

#include <libpq-fe.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deliveryd/config.h"

struct db_listener {
    PGconn *pg;
};

static void quiet(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

struct db_listener *db_listen_open(const char *channel, char *err, size_t errlen)
{
    /* dbname first: its expansion is overridden by the keywords after it */
    const char *keys[] = {"dbname", "connect_timeout", "application_name", "keepalives",
                          "keepalives_idle", "options", NULL};
    const char *vals[] = {g_cfg.database_url, "3", "deliveryd-listen", "1", "30",
                          "-c TimeZone=UTC -c statement_timeout=10000", NULL};
    PGconn *c = PQconnectdbParams(keys, vals, 1);
    if (!c || PQstatus(c) != CONNECTION_OK) {
        snprintf(err, errlen, "database unavailable: %s", c ? PQerrorMessage(c) : "out of memory");
        if (c) PQfinish(c);
        return NULL;
    }
    PQsetNoticeProcessor(c, quiet, NULL);
    char *ident = PQescapeIdentifier(c, channel, strlen(channel));
    if (!ident) {
        snprintf(err, errlen, "LISTEN %s: %s", channel, PQerrorMessage(c));
        PQfinish(c);
        return NULL;
    }
    char sql[256];
    snprintf(sql, sizeof sql, "LISTEN %s", ident);
    PQfreemem(ident);
    PGresult *res = PQexec(c, sql);
    bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    if (!ok) snprintf(err, errlen, "LISTEN %s: %s", channel, PQerrorMessage(c));
    PQclear(res);
    if (!ok) {
        PQfinish(c);
        return NULL;
    }
    struct db_listener *l = xcalloc(1, sizeof *l);
    l->pg = c;
    return l;
}

int db_listen_fd(const struct db_listener *l)
{
    return l ? PQsocket(l->pg) : -1;
}

int db_listen_drain(struct db_listener *l)
{
    if (!l || PQstatus(l->pg) != CONNECTION_OK) return -1;
    if (!PQconsumeInput(l->pg)) return -1;
    int n = 0;
    PGnotify *note;
    while ((note = PQnotifies(l->pg)) != NULL) {
        n++;
        PQfreemem(note);
    }
    return PQstatus(l->pg) == CONNECTION_OK ? n : -1;
}

int db_listen_wait(struct db_listener *l, int timeout_ms)
{
    struct pollfd p = {.fd = db_listen_fd(l), .events = POLLIN};
    if (p.fd < 0) return -1;
    if (poll(&p, 1, timeout_ms) < 0) return 0; /* EINTR: nothing yet */
    return db_listen_drain(l);
}

void db_listen_close(struct db_listener *l)
{
    if (!l) return;
    PQfinish(l->pg);
    free(l);
}
