/* bench_hello: the ceiling for the deliveryd benchmarks.
 *
 * A bare libmicrohttpd server in the daemon's own mode (internal polling
 * thread + epoll, a pool of THREADS workers, default 8 like deliveryd) that
 * answers every request with {"status":"ok"} as application/json. Whatever
 * deliveryd's /health loses against this is the cost of our request
 * pipeline (request context, router, logging, metrics, headers).
 *
 *   THREADS=8 PORT=8081 bench_hello        (also: bench_hello PORT)
 *
 * Listens on 127.0.0.1 only; stops on SIGINT/SIGTERM. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/socket.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

static const char body[] = "{\"status\":\"ok\"}";

static long env_long(const char *name, long def, long min, long max)
{
    const char *v = getenv(name);
    if (!v || !*v) return def;
    char *end;
    long n = strtol(v, &end, 10);
    if (*end || n < min || n > max) {
        fprintf(stderr, "bench_hello: %s must be an integer in [%ld, %ld]\n", name, min, max);
        exit(2);
    }
    return n;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    (void)cls;
    (void)url;
    (void)method;
    (void)version;
    (void)upload_data;
    if (*con_cls == NULL) { /* headers only: wait for the end of the request */
        *con_cls = conn;
        return MHD_YES;
    }
    if (*upload_data_size) { /* discard any body */
        *upload_data_size = 0;
        return MHD_YES;
    }
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        sizeof body - 1, (void *)body, MHD_RESPMEM_PERSISTENT);
    if (!resp) return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", "application/json");
    enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    return ret;
}

int main(int argc, char **argv)
{
    long port = env_long("PORT", 8081, 1, 65535);
    if (argc > 1) {
        char *end;
        port = strtol(argv[1], &end, 10);
        if (*end || port < 1 || port > 65535) {
            fprintf(stderr, "usage: bench_hello [PORT]   (env THREADS, PORT)\n");
            return 2;
        }
    }
    long threads = env_long("THREADS", 8, 1, 256);

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    /* block before MHD starts its threads so they inherit the mask */
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
        MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_LISTENING_ADDRESS_REUSE, 1,
        MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "bench_hello: cannot listen on 127.0.0.1:%ld\n", port);
        return 1;
    }
    fprintf(stderr, "bench_hello: listening on 127.0.0.1:%ld with %ld threads\n", port, threads);
    int sig = 0;
    sigwait(&set, &sig);
    MHD_stop_daemon(d);
    return 0;
}
