/* bench_webhook_sink: the receiver of bench/webhooks.sh.
 *
 * A libmicrohttpd server (internal polling thread + epoll, THREADS workers)
 * that answers every request 200 with an empty body and records, for each
 * POST, its X-Deliveryd-Event-Id and the arrival time (CLOCK_REALTIME, in
 * microseconds since the epoch) - the time the request's headers were in.
 * On SIGTERM/SIGINT it writes them, one "event_id<TAB>unix_us" line each,
 * to RECORD (a file; default: standard output), and the count to stderr.
 * Python's http.server answers a few hundred requests a second, too few to
 * measure a delivery rate of 1,000 a second.
 *
 *   THREADS=2 RECORD=/tmp/arrivals.tsv bench_webhook_sink PORT
 *
 * Listens on 127.0.0.1 only. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <microhttpd.h>

struct arrival {
    long long event_id;
    long long unix_us;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct arrival *arrivals;
static size_t narrivals, caparrivals;

static void note(const char *id)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    struct arrival a = {id ? atoll(id) : 0, (long long)t.tv_sec * 1000000 + t.tv_nsec / 1000};
    pthread_mutex_lock(&mu);
    if (narrivals == caparrivals) {
        caparrivals = caparrivals ? caparrivals * 2 : 65536;
        arrivals = realloc(arrivals, caparrivals * sizeof *arrivals);
        if (!arrivals) abort();
    }
    arrivals[narrivals++] = a;
    pthread_mutex_unlock(&mu);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    (void)cls;
    (void)url;
    (void)version;
    (void)upload_data;
    if (*con_cls == NULL) { /* headers are in: that is the arrival */
        *con_cls = conn;
        if (strcmp(method, "POST") == 0)
            note(MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Deliveryd-Event-Id"));
        return MHD_YES;
    }
    if (*upload_data_size) { /* discard the body */
        *upload_data_size = 0;
        return MHD_YES;
    }
    struct MHD_Response *resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (!resp) return MHD_NO;
    enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    return ret;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: bench_webhook_sink PORT   (env THREADS, RECORD)\n");
        return 2;
    }
    long port = strtol(argv[1], NULL, 10);
    const char *t = getenv("THREADS");
    long threads = t && *t ? strtol(t, NULL, 10) : 2;
    if (port < 1 || port > 65535 || threads < 1 || threads > 64) {
        fprintf(stderr, "bench_webhook_sink: bad PORT or THREADS\n");
        return 2;
    }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG, (uint16_t)port,
        NULL, NULL, on_request, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)threads, MHD_OPTION_CONNECTION_LIMIT, 4000u,
        MHD_OPTION_CONNECTION_TIMEOUT, 60u, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "bench_webhook_sink: cannot listen on 127.0.0.1:%ld\n", port);
        return 1;
    }
    int sig = 0;
    sigwait(&set, &sig);
    MHD_stop_daemon(d);
    const char *path = getenv("RECORD");
    FILE *out = path && *path ? fopen(path, "w") : stdout;
    if (!out) {
        perror(path);
        return 1;
    }
    for (size_t i = 0; i < narrivals; i++)
        fprintf(out, "%lld\t%lld\n", arrivals[i].event_id, arrivals[i].unix_us);
    if (out != stdout) fclose(out);
    fprintf(stderr, "bench_webhook_sink: %zu requests\n", narrivals);
    free(arrivals);
    return 0;
}
