/* LISTEN on a connection of its own: a background thread (the webhook
 * worker) is woken when a transaction that NOTIFYs commits. The
 * notifications only wake; what to do is read from the tables. libpq stays
 * inside db/: the caller sees a descriptor to poll and a count. */
#ifndef DELIVERYD_DB_LISTEN_H
#define DELIVERYD_DB_LISTEN_H

#include <stddef.h>

#include "deliveryd/util.h"

struct db_listener;

/**
 * Opens a new connection to DATABASE_URL (not this thread's statement
 * connection) and LISTENs on `channel` (an identifier, quoted here). NULL
 * with a message in err when the database cannot be reached. Owned by the
 * caller: db_listen_close.
 */
struct db_listener *db_listen_open(const char *channel, char *err, size_t errlen) MUSTCHECK;
/** The socket to poll for reading (it becomes readable when a notification
 * arrives, or when the server ends the connection). */
int db_listen_fd(const struct db_listener *l);
/**
 * Reads what arrived without blocking and returns how many notifications
 * it held (0: none), or -1 when the connection is broken (close it and
 * open a new one; whatever was notified meanwhile is in the tables).
 */
int db_listen_drain(struct db_listener *l);
/** Waits up to timeout_ms for notifications; then as db_listen_drain. */
int db_listen_wait(struct db_listener *l, int timeout_ms);
void db_listen_close(struct db_listener *l);

#endif
