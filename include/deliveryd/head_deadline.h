/* A deadline for receiving a whole request head (request line and
 * headers). libmicrohttpd's connection timeout restarts with every byte,
 * so a client that sends a header line every few seconds could hold a
 * connection for ever (slowloris); this closes a connection whose head is
 * not complete REQUEST_HEAD_TIMEOUT seconds after it was accepted or after
 * its previous answer. Used by server.c only. */
#ifndef DELIVERYD_HEAD_DEADLINE_H
#define DELIVERYD_HEAD_DEADLINE_H

#include <microhttpd.h>

/** Starts the sweeper thread (one check a second). Returns 0 or -1. */
int head_deadline_start(double seconds);
/** Stops the sweeper; connections still tracked are left to libmicrohttpd. */
void head_deadline_stop(void);
/** libmicrohttpd's MHD_OPTION_NOTIFY_CONNECTION callback (started/closed). */
void head_deadline_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe);
/** The head of the connection's current request has arrived. */
void head_deadline_done(struct MHD_Connection *conn);
/** The connection's request completed: the next head's deadline starts. */
void head_deadline_rearm(struct MHD_Connection *conn);

#endif
