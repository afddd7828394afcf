/* What the live stream reads (sql/queries/stream.sql), as plain data: the
 * tickets, the outbox after a cursor, a reconnecting stream's replay, the
 * drivers that moved. No HTTP here: the hub that knows the connections is
 * http/stream.c. Every function runs on the calling thread's connection. */
#ifndef DELIVERYD_STREAM_FEED_H
#define DELIVERYD_STREAM_FEED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "deliveryd/util.h"

#define STREAM_TICKET_TTL 30

/** A new ticket for user_id into out (65 bytes: 64 hex digits). 0 or -1. */
int stream_ticket_create(int64_t user_id, char out[65]) MUSTCHECK;

enum stream_ticket_status { TICKET_OK, TICKET_UNKNOWN, TICKET_EXPIRED, TICKET_DB_DOWN };
/** Consumes `ticket` (at most once, atomically): its user and role name
 * (into role, NUL-terminated) when TICKET_OK. */
enum stream_ticket_status stream_ticket_consume(const char *ticket, int64_t *user_id,
                                                char *role, size_t rolelen);

/* One row of the outbox. json is NULL for an event that is not order.*. */
struct stream_event {
    int64_t id;
    int64_t warehouse_id; /* 0: none */
    char *json;           /* the order as GET /orders/{id} answers it */
};

struct stream_events {
    struct stream_event *ev;
    size_t n;
};
void stream_events_free(struct stream_events *e);

/** The lowest and highest event id kept (0, 0 when none). 0 or -1. */
int stream_events_bounds(int64_t *oldest, int64_t *newest) MUSTCHECK;
/** Events with id > after or in missing[0..nmissing), by id, at most
 * limit. Owned by the caller (stream_events_free). 0 or -1. */
int stream_events_read(int64_t after, const int64_t *missing, size_t nmissing, int limit,
                       struct stream_events *out) MUSTCHECK;
/** Order events in (after, upto] of warehouse scope (0: all), at most
 * limit; *oldest the lowest id kept. 0 or -1. */
int stream_events_replay(int64_t after, int64_t upto, int64_t scope, int limit,
                         struct stream_events *out, int64_t *oldest) MUSTCHECK;

/* A driver's newest point. */
struct stream_point {
    int64_t driver_id;
    int64_t warehouse_id;
    char *json; /* {driver_id, latitude, longitude, recorded_at} */
};
struct stream_points {
    struct stream_point *p;
    size_t n;
};
void stream_points_free(struct stream_points *p);
/** The newest point time now (text), into cursor. 0 or -1. */
int stream_points_cursor(char *cursor, size_t len) MUSTCHECK;
/** Drivers whose newest point is after cursor; moves cursor on. 0 or -1. */
int stream_points_read(char *cursor, size_t len, struct stream_points *out) MUSTCHECK;

#endif
