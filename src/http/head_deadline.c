/* Request-head deadline (see head_deadline.h). Every connection is on one
 * list under one mutex, with the time its current head must be complete
 * by (0 while a request is being served). The sweeper shuts down, never
 * closes, the socket of a connection past its deadline: libmicrohttpd
 * then reads the end of the stream and closes the connection itself. The
 * list entry goes away in the CLOSED notification, which libmicrohttpd
 * sends before it closes the descriptor, and which waits for the mutex:
 * so the sweeper never touches a descriptor that was closed and reused. */
#include "deliveryd/head_deadline.h"

#include <microhttpd.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "deliveryd/log.h"
#include "deliveryd/util.h"

struct tracked {
    struct tracked *prev, *next;
    MHD_socket fd;
    double deadline; /* monotonic seconds; 0: no head expected now */
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;
static struct tracked *head;
static double timeout_s;
static bool running;
static pthread_t sweeper;

static void *sweep(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&mu);
    while (running) {
        double now = now_mono();
        for (struct tracked *t = head; t; t = t->next) {
            if (t->deadline > 0 && t->deadline < now) {
                t->deadline = 0; /* once */
                shutdown(t->fd, SHUT_RDWR);
                log_msgf(LOG_WARN, "closed a connection whose request head took over %.0f s",
                         timeout_s);
            }
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 1;
        pthread_cond_timedwait(&wake, &mu, &ts);
    }
    pthread_mutex_unlock(&mu);
    return NULL;
}

int head_deadline_start(double seconds)
{
    timeout_s = seconds;
    running = true;
    if (pthread_create(&sweeper, NULL, sweep, NULL) != 0) {
        running = false;
        return -1;
    }
    return 0;
}

void head_deadline_stop(void)
{
    pthread_mutex_lock(&mu);
    bool was = running;
    running = false;
    pthread_cond_signal(&wake);
    pthread_mutex_unlock(&mu);
    if (was) pthread_join(sweeper, NULL);
}

void head_deadline_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    (void)cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        struct tracked *t = xcalloc(1, sizeof *t);
        t->fd = ci ? ci->connect_fd : MHD_INVALID_SOCKET;
        pthread_mutex_lock(&mu);
        t->deadline = t->fd == MHD_INVALID_SOCKET ? 0 : now_mono() + timeout_s;
        t->next = head;
        if (head) head->prev = t;
        head = t;
        pthread_mutex_unlock(&mu);
        *socket_context = t;
    } else if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
        struct tracked *t = *socket_context;
        if (!t) return;
        pthread_mutex_lock(&mu);
        if (t->prev) t->prev->next = t->next;
        else head = t->next;
        if (t->next) t->next->prev = t->prev;
        pthread_mutex_unlock(&mu);
        free(t);
        *socket_context = NULL;
    }
}

static void set_deadline(struct MHD_Connection *conn, double when)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    if (!ci || !ci->socket_context) return;
    struct tracked *t = ci->socket_context;
    pthread_mutex_lock(&mu);
    t->deadline = when;
    pthread_mutex_unlock(&mu);
}

void head_deadline_done(struct MHD_Connection *conn)
{
    set_deadline(conn, 0);
}

void head_deadline_rearm(struct MHD_Connection *conn)
{
    set_deadline(conn, now_mono() + timeout_s);
}
