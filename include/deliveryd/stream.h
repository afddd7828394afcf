/* The live stream (GET /api/v1/stream, API.md "Live stream"): one hub
 * thread per daemon reads the outbox and the drivers' newest points (woken
 * by NOTIFY deliveryd_events, and every second) and queues them for every
 * open stream in scope; each stream is a libmicrohttpd response whose
 * content reader hands out what is queued and suspends the connection
 * when nothing is (no thread per stream). docs/architecture.md, "The live
 * stream". */
#ifndef DELIVERYD_STREAM_H
#define DELIVERYD_STREAM_H

#include "deliveryd/http.h"

struct MHD_Response;

/** GET /api/v1/stream (route handler; the caller is authenticated). */
void api_stream_get(struct req *r);
/** The response of a request api_stream_get accepted (server.c). */
struct MHD_Response *stream_response(struct req *r);

/** Starts the hub thread. 0 or -1. */
int stream_hub_start(void) MUSTCHECK;
/** Ends every stream (the rest of its queue is not sent) and stops the
 * hub; streams that do not end within a second are cut. Before the HTTP
 * drain: afterwards no connection of a stream is suspended. */
void stream_hub_stop(void);
/** Frees what is left, after MHD_stop_daemon. */
void stream_hub_free(void);

#endif
