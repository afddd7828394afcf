/* The live stream (include/deliveryd/stream.h).
 *
 * A stream is a queue of bytes under its own mutex. The hub thread appends
 * (events, points, heartbeats) and resumes the connection if it was
 * suspended; libmicrohttpd's content reader, on a pool thread, takes what
 * is queued, and when nothing is, suspends the connection and returns 0
 * (0.9.75 calls a reader that returned 0 again at once: it would spin).
 * Both happen under the stream's mutex, so a resume is never lost and
 * never meets a connection that is not suspended.
 *
 * Ordering: a stream that resumes from Last-Event-ID is replayed by the
 * hub itself, up to the hub's cursor, before the hub fans out anything
 * after that cursor to it; so what it is sent is in id order except an
 * event that committed after a later one (its id was taken earlier): the
 * hub reads such "holes" again until they appear (or 60 s pass) and sends
 * them late, to every stream in scope.
 *
 * Lifetime: a stream has up to three references (the hub's list, the
 * MHD response, the request); the request's one goes in the completed
 * callback, which libmicrohttpd runs before it closes the socket, and
 * which marks the stream done under its mutex: the hub only shuts down
 * the socket of a stream that is not done, so never a reused descriptor. */
#define _GNU_SOURCE /* POLLRDHUP */
#include "deliveryd/stream.h"

#include <errno.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "deliveryd/config.h"
#include "deliveryd/db.h"
#include "deliveryd/db_listen.h"
#include "deliveryd/log.h"
#include "deliveryd/principal.h"
#include "deliveryd/stream_feed.h"

#define CHANNEL "deliveryd_events"
#define TICK_MS 1000
#define HEARTBEAT_S 15.0
#define READ_BATCH 500     /* events a read */
#define REPLAY_MAX 1000    /* events a replay; more: event reset */
#define HOLES_MAX 1024     /* ids awaited below the cursor */
#define HOLE_WAIT_S 60.0   /* an id not committed by then was rolled back */
#define STREAM_TIMEOUT_S 3600
#define STOP_GRACE_S 1.0
#define STREAM_SNDBUF (64 * 1024)

struct stream {
    pthread_mutex_t mu;
    struct stream *next; /* hub list (hub.mu) */
    int refs;
    struct MHD_Connection *conn;
    int fd;
    bool suspended, closing, dropped, done;
    buf_t q;
    size_t off;
    double last_write;
    /* the hub's own */
    int64_t user_id;
    unsigned role;
    int64_t scope; /* warehouse, 0: all */
    int64_t last_id;
    int64_t replay_from; /* -1: none asked */
    bool live;
};

static struct {
    pthread_mutex_t mu;
    pthread_t thread;
    bool running, stopping;
    int wake_fd;
    struct stream *list;
    long open; /* streams not done */
} hub = {.mu = PTHREAD_MUTEX_INITIALIZER, .wake_fd = -1};

struct hole {
    int64_t id;
    double since;
};

static void stream_unref(struct stream *s)
{
    pthread_mutex_lock(&s->mu);
    bool last = --s->refs == 0;
    pthread_mutex_unlock(&s->mu);
    if (!last) return;
    pthread_mutex_destroy(&s->mu);
    buf_free(&s->q);
    free(s);
}

static void wake_hub(void)
{
    uint64_t one = 1;
    if (hub.wake_fd >= 0 && write(hub.wake_fd, &one, sizeof one) < 0) { /* full: awake anyway */
    }
}

/* Under s->mu: the connection runs again (its reader is called). */
static void resume_locked(struct stream *s)
{
    if (s->suspended) {
        s->suspended = false;
        MHD_resume_connection(s->conn);
    }
}

/* Under s->mu: ends the connection now, unsent bytes and all. */
static void cut_locked(struct stream *s)
{
    if (s->done || s->dropped) return;
    s->dropped = true;
    if (s->fd >= 0) shutdown(s->fd, SHUT_RDWR);
    resume_locked(s);
}

/* Under s->mu: ends the stream cleanly (the final chunk), nothing more. */
static void close_locked(struct stream *s)
{
    if (s->done || s->closing) return;
    s->closing = true;
    s->q.len = s->off = 0;
    resume_locked(s);
}

/* Queues bytes for s; a stream whose queue passes the bound is cut. */
static void stream_push(struct stream *s, const char *p, size_t n)
{
    pthread_mutex_lock(&s->mu);
    if (!s->done && !s->closing && !s->dropped) {
        if (s->q.len - s->off + n > (size_t)g_cfg.stream_queue_bytes) {
            log_msgf(LOG_WARN, "stream of user %" PRId64 " dropped: %zu bytes unread", s->user_id,
                     s->q.len - s->off);
            cut_locked(s);
        } else {
            buf_append(&s->q, p, n);
            s->last_write = now_mono();
            resume_locked(s);
        }
    }
    pthread_mutex_unlock(&s->mu);
}

static ssize_t reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    struct stream *s = cls;
    ssize_t n;
    pthread_mutex_lock(&s->mu);
    if (s->dropped) {
        n = MHD_CONTENT_READER_END_WITH_ERROR;
    } else if (s->q.len > s->off) {
        size_t k = s->q.len - s->off;
        if (k > max) k = max;
        memcpy(buf, s->q.data + s->off, k);
        s->off += k;
        if (s->off == s->q.len) {
            s->q.len = s->off = 0;
        } else if (s->off > 65536 && s->off * 2 > s->q.len) {
            memmove(s->q.data, s->q.data + s->off, s->q.len - s->off);
            s->q.len -= s->off;
            s->off = 0;
        }
        n = (ssize_t)k;
    } else if (s->closing) {
        n = MHD_CONTENT_READER_END_OF_STREAM;
    } else {
        s->suspended = true;
        MHD_suspend_connection(s->conn);
        n = 0;
    }
    pthread_mutex_unlock(&s->mu);
    return n;
}

static void response_free(void *cls)
{
    stream_unref(cls);
}

/* The request completed (the completed callback, before the socket is
 * closed): the hub lets go of it at its next turn. */
static void stream_detach(void *p)
{
    struct stream *s = p;
    pthread_mutex_lock(&s->mu);
    bool was = s->done;
    s->done = true;
    s->suspended = false;
    pthread_mutex_unlock(&s->mu);
    if (!was) {
        pthread_mutex_lock(&hub.mu);
        hub.open--;
        pthread_mutex_unlock(&hub.mu);
    }
    stream_unref(s);
}

struct MHD_Response *stream_response(struct req *r)
{
    struct stream *s = r->stream;
    struct MHD_Response *resp =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, reader, s, response_free);
    if (resp) {
        pthread_mutex_lock(&s->mu);
        s->refs++;
        pthread_mutex_unlock(&s->mu);
    }
    return resp;
}

static bool parse_last_id(const char *v, int64_t *out)
{
    return v && *v && parse_i64(v, strlen(v), false, out);
}

void api_stream_get(struct req *r)
{
    int64_t last = -1;
    if (!parse_last_id(req_header(r, "Last-Event-ID"), &last) &&
        !parse_last_id(req_query(r, "last_event_id"), &last))
        last = -1;

    struct stream *s = xcalloc(1, sizeof *s);
    pthread_mutex_init(&s->mu, NULL);
    buf_init(&s->q);
    s->refs = 2; /* the hub's list and the request */
    s->conn = r->conn;
    s->fd = -1;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (ci) s->fd = ci->connect_fd;
    /* the kernel's send buffer of a stream stays small (no autotuning to
     * megabytes): memory per stream is bounded, and a client that does not
     * read is found by the queue's bound, not after megabytes */
    int sndbuf = STREAM_SNDBUF;
    if (s->fd >= 0) (void)setsockopt(s->fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    s->user_id = r->who.user_id;
    s->role = r->who.role;
    s->scope = r->who.warehouse_id;
    s->replay_from = last;
    s->last_write = now_mono();
    /* tells EventSource how soon to reconnect; also flushes the headers */
    buf_puts(&s->q, "retry: 3000\n\n");

    pthread_mutex_lock(&hub.mu);
    bool refuse_stop = hub.stopping || !hub.running;
    bool refuse_full = !refuse_stop && hub.open >= g_cfg.stream_max_clients;
    if (!refuse_stop && !refuse_full) {
        s->next = hub.list;
        hub.list = s;
        hub.open++;
    }
    pthread_mutex_unlock(&hub.mu);
    if (refuse_stop || refuse_full) {
        pthread_mutex_destroy(&s->mu);
        buf_free(&s->q);
        free(s);
        reply_header(r, "Retry-After", refuse_full ? "5" : "1");
        reply_problem(r, 503, "unavailable",
                      refuse_full ? "this instance serves as many streams as it may; retry"
                                  : "this instance is stopping; retry");
        return;
    }
    MHD_set_connection_option(r->conn, MHD_CONNECTION_OPTION_TIMEOUT,
                              (unsigned)STREAM_TIMEOUT_S);
    r->stream = s;
    req_defer(r, stream_detach, s);
    r->responded = true;
    r->status = 200;
    r->content_type = "text/event-stream";
    reply_header(r, "X-Accel-Buffering", "no");
    wake_hub();
}

/* --- the hub ---------------------------------------------------------------- */

/* "id: N\nevent: order\ndata: JSON\n\n" (a newline inside the JSON, which
 * PostgreSQL does not write, would continue as another data: line). */
static void format_event(buf_t *b, int64_t id, const char *event, const char *json)
{
    b->len = 0;
    if (id > 0) buf_printf(b, "id: %" PRId64 "\n", id);
    buf_printf(b, "event: %s\ndata: ", event);
    for (const char *p = json; *p; p++) {
        if (*p == '\n') buf_puts(b, "\ndata: ");
        else if (*p != '\r') buf_append(b, p, 1);
    }
    buf_puts(b, "\n\n");
}

static bool in_scope(const struct stream *s, int64_t warehouse_id)
{
    return s->scope == 0 || s->scope == warehouse_id;
}

/* A snapshot of the streams for one turn, each with a reference. */
static struct stream **snapshot(size_t *n)
{
    pthread_mutex_lock(&hub.mu);
    size_t k = 0;
    for (struct stream *s = hub.list; s; s = s->next) k++;
    struct stream **v = xcalloc(k + 1, sizeof *v);
    k = 0;
    for (struct stream *s = hub.list; s; s = s->next) {
        pthread_mutex_lock(&s->mu);
        s->refs++;
        pthread_mutex_unlock(&s->mu);
        v[k++] = s;
    }
    pthread_mutex_unlock(&hub.mu);
    *n = k;
    return v;
}

static void snapshot_free(struct stream **v, size_t n)
{
    for (size_t i = 0; i < n; i++) stream_unref(v[i]);
    free(v);
}

/* Lets go of the streams whose request completed. */
static void reap(void)
{
    pthread_mutex_lock(&hub.mu);
    struct stream **pp = &hub.list;
    while (*pp) {
        struct stream *s = *pp;
        pthread_mutex_lock(&s->mu);
        bool done = s->done;
        pthread_mutex_unlock(&s->mu);
        if (done) {
            *pp = s->next;
            stream_unref(s);
        } else {
            pp = &s->next;
        }
    }
    pthread_mutex_unlock(&hub.mu);
}

/* Streams that arrived since the last turn: replay what they missed (up to
 * the cursor, in scope), or send `event: reset` when it is gone or too
 * much; then they are live. */
static void start_new(struct stream **v, size_t n, int64_t cursor, buf_t *b)
{
    for (size_t i = 0; i < n; i++) {
        struct stream *s = v[i];
        if (s->live) continue;
        s->live = true;
        s->last_id = cursor;
        if (s->replay_from < 0 || s->replay_from >= cursor) {
            if (s->replay_from > cursor) s->last_id = s->replay_from;
            continue;
        }
        struct stream_events ev;
        int64_t oldest = 0;
        if (stream_events_replay(s->replay_from, cursor, s->scope, REPLAY_MAX + 1, &ev,
                                 &oldest) < 0) {
            /* the database is away: the client reconnects and asks again */
            pthread_mutex_lock(&s->mu);
            close_locked(s);
            pthread_mutex_unlock(&s->mu);
            continue;
        }
        bool purged = oldest > 0 && s->replay_from + 1 < oldest;
        if (purged || ev.n > REPLAY_MAX) {
            stream_push(s, "event: reset\ndata: {}\n\n", strlen("event: reset\ndata: {}\n\n"));
        } else {
            for (size_t k = 0; k < ev.n; k++) {
                format_event(b, ev.ev[k].id, "order", ev.ev[k].json);
                stream_push(s, b->data, b->len);
            }
        }
        stream_events_free(&ev);
    }
}

/* Reads new events (and awaited holes) and queues the order events for
 * every live stream in scope. Returns the rows read, -1 on an error. */
static int fan_out_events(struct stream **v, size_t n, int64_t *cursor, struct hole *holes,
                          size_t *nholes, buf_t *b)
{
    int64_t ids[HOLES_MAX];
    for (size_t i = 0; i < *nholes; i++) ids[i] = holes[i].id;
    struct stream_events ev;
    if (stream_events_read(*cursor, ids, *nholes, READ_BATCH, &ev) < 0) return -1;
    double now = now_mono();
    for (size_t k = 0; k < ev.n; k++) {
        const struct stream_event *e = &ev.ev[k];
        bool late = e->id <= *cursor;
        if (late) {
            for (size_t i = 0; i < *nholes; i++)
                if (holes[i].id == e->id) {
                    holes[i] = holes[--*nholes];
                    break;
                }
        } else {
            for (int64_t h = *cursor + 1; h < e->id && *nholes < HOLES_MAX; h++)
                holes[(*nholes)++] = (struct hole){h, now};
            *cursor = e->id;
        }
        if (!e->json) continue;
        format_event(b, e->id, "order", e->json);
        for (size_t i = 0; i < n; i++) {
            struct stream *s = v[i];
            if (!s->live || !in_scope(s, e->warehouse_id)) continue;
            if (!late && e->id <= s->last_id) continue;
            if (e->id > s->last_id) s->last_id = e->id;
            stream_push(s, b->data, b->len);
        }
    }
    for (size_t i = 0; i < *nholes;) {
        if (now - holes[i].since > HOLE_WAIT_S) holes[i] = holes[--*nholes];
        else i++;
    }
    int rows = (int)ev.n;
    stream_events_free(&ev);
    return rows;
}

static void fan_out_points(struct stream **v, size_t n, char *pcursor, size_t plen, buf_t *b)
{
    struct stream_points pts;
    if (stream_points_read(pcursor, plen, &pts) < 0) return;
    for (size_t k = 0; k < pts.n; k++) {
        format_event(b, 0, "driver_location", pts.p[k].json);
        for (size_t i = 0; i < n; i++)
            if (v[i]->live && in_scope(v[i], pts.p[k].warehouse_id))
                stream_push(v[i], b->data, b->len);
    }
    stream_points_free(&pts);
}

/* Once a second: the caller is still who they were (active, same role and
 * scope), or the stream ends; and a heartbeat where nothing was sent. */
static void check_streams(struct stream **v, size_t n)
{
    double now = now_mono();
    for (size_t i = 0; i < n; i++) {
        struct stream *s = v[i];
        struct principal p;
        bool active = false;
        enum principal_status st = principal_load(s->user_id, &p, &active);
        bool gone = st == PRINCIPAL_GONE ||
                    (st == PRINCIPAL_OK && (!active || p.role != s->role ||
                                            p.warehouse_id != s->scope));
        pthread_mutex_lock(&s->mu);
        /* a suspended connection is not polled by libmicrohttpd: a client
         * that went away would hold its slot until the next heartbeat */
        bool hung_up = false;
        if (s->suspended && s->fd >= 0) {
            struct pollfd pf = {.fd = s->fd, .events = POLLRDHUP};
            hung_up = poll(&pf, 1, 0) > 0 && (pf.revents & (POLLRDHUP | POLLHUP | POLLERR));
        }
        if (hung_up) {
            cut_locked(s);
        } else if (gone) {
            close_locked(s);
        } else if (now - s->last_write >= HEARTBEAT_S && !s->done && !s->closing &&
                   !s->dropped) {
            pthread_mutex_unlock(&s->mu);
            stream_push(s, ": keepalive\n\n", strlen(": keepalive\n\n"));
            continue;
        }
        pthread_mutex_unlock(&s->mu);
    }
}

static bool hub_stopping(void)
{
    pthread_mutex_lock(&hub.mu);
    bool s = hub.stopping;
    pthread_mutex_unlock(&hub.mu);
    return s;
}

static void *hub_main(void *arg)
{
    (void)arg;
    struct db_listener *l = NULL;
    int64_t cursor = -1;
    char pcursor[64] = "";
    struct hole *holes = xcalloc(HOLES_MAX, sizeof *holes);
    size_t nholes = 0;
    buf_t b;
    buf_init(&b);
    double next_tick = 0, next_listen = 0;
    bool more = false;
    while (!hub_stopping()) {
        double now = now_mono();
        if (!l && now >= next_listen) {
            char err[256];
            l = db_listen_open(CHANNEL, err, sizeof err);
            if (!l) {
                log_msgf(LOG_WARN, "stream: %s", err);
                next_listen = now + 1.0;
            }
        }
        int timeout = more ? 0 : (int)((next_tick - now) * 1000.0);
        if (timeout < 0) timeout = 0;
        if (timeout > TICK_MS) timeout = TICK_MS;
        struct pollfd pf[2] = {{.fd = hub.wake_fd, .events = POLLIN},
                               {.fd = l ? db_listen_fd(l) : -1, .events = POLLIN}};
        if (poll(pf, 2, timeout) < 0 && errno != EINTR) break;
        if (pf[0].revents & POLLIN) {
            uint64_t x;
            if (read(hub.wake_fd, &x, sizeof x) < 0) { /* nothing to read */
            }
        }
        if (l && db_listen_drain(l) < 0) {
            db_listen_close(l);
            l = NULL; /* reopened above; what was notified meanwhile is in the table */
        }
        if (hub_stopping()) break;
        if (cursor < 0) {
            int64_t lo = 0;
            if (stream_events_bounds(&lo, &cursor) < 0 ||
                stream_points_cursor(pcursor, sizeof pcursor) < 0) {
                cursor = -1;
                next_tick = now_mono() + 1.0;
                continue;
            }
        }
        reap();
        size_t n;
        struct stream **v = snapshot(&n);
        start_new(v, n, cursor, &b);
        int rows = fan_out_events(v, n, &cursor, holes, &nholes, &b);
        more = rows >= READ_BATCH;
        now = now_mono();
        if (now >= next_tick) {
            next_tick = now + TICK_MS / 1000.0;
            fan_out_points(v, n, pcursor, sizeof pcursor, &b);
            check_streams(v, n);
        }
        snapshot_free(v, n);
    }
    if (l) db_listen_close(l);
    buf_free(&b);
    free(holes);
    db_thread_close();
    return NULL;
}

int stream_hub_start(void)
{
    hub.wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (hub.wake_fd < 0) return -1;
    hub.stopping = false;
    hub.running = true;
    if (pthread_create(&hub.thread, NULL, hub_main, NULL) != 0) {
        hub.running = false;
        close(hub.wake_fd);
        hub.wake_fd = -1;
        return -1;
    }
    return 0;
}

void stream_hub_stop(void)
{
    pthread_mutex_lock(&hub.mu);
    bool was = hub.running && !hub.stopping;
    hub.stopping = true;
    pthread_mutex_unlock(&hub.mu);
    if (!was) return;
    wake_hub();
    pthread_join(hub.thread, NULL);
    /* end every stream: the final chunk, nothing more */
    size_t n;
    struct stream **v = snapshot(&n);
    for (size_t i = 0; i < n; i++) {
        pthread_mutex_lock(&v[i]->mu);
        close_locked(v[i]);
        pthread_mutex_unlock(&v[i]->mu);
    }
    double deadline = now_mono() + STOP_GRACE_S;
    for (;;) {
        pthread_mutex_lock(&hub.mu);
        long open = hub.open;
        pthread_mutex_unlock(&hub.mu);
        if (open <= 0 || now_mono() > deadline) break;
        usleep(10000);
    }
    /* a client that does not read never takes the final chunk: cut */
    for (size_t i = 0; i < n; i++) {
        pthread_mutex_lock(&v[i]->mu);
        cut_locked(v[i]);
        pthread_mutex_unlock(&v[i]->mu);
    }
    snapshot_free(v, n);
}

void stream_hub_free(void)
{
    pthread_mutex_lock(&hub.mu);
    struct stream *s = hub.list;
    hub.list = NULL;
    hub.running = false;
    pthread_mutex_unlock(&hub.mu);
    while (s) {
        struct stream *next = s->next;
        stream_unref(s);
        s = next;
    }
    if (hub.wake_fd >= 0) close(hub.wake_fd);
    hub.wake_fd = -1;
}
