/* libmicrohttpd glue: request context lifecycle, body accumulation with a
 * per-route limit, dispatch through the router table, response headers
 * (request id, CORS, rate limit), access log, graceful stop. */
#include <arpa/inet.h>
#include <ctype.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sodium.h>
#include <unistd.h>

#include "deliveryd/sharedcache.h"
#include "deliveryd/config.h"
#include "deliveryd/db.h"
#include "deliveryd/http.h"
#include "deliveryd/head_deadline.h"
#include "deliveryd/http_pipeline.h"
#include "deliveryd/log.h"
#include "deliveryd/metrics.h"
#include "deliveryd/stream.h"

static struct MHD_Daemon *g_daemon;
static long g_inflight;
/* set by http_stop: answers from now on close their connection, so a proxy
 * (nginx keeps connections to the upstream) sends nothing more on it and
 * moves to another instance instead of getting no answer */
static int g_stopping;

struct conn_state {
    struct req r;
    int match;
    char allow[160];
};

const char *req_query(struct req *r, const char *key)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, key);
}

const char *req_header(struct req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

static void client_ip(struct MHD_Connection *conn, char *out, size_t len)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    snprintf(out, len, "unknown");
    if (!ci || !ci->client_addr) return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out,
                  (socklen_t)len);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, out,
                  (socklen_t)len);
}

static struct conn_state *state_new(struct MHD_Connection *conn, const char *url,
                                    const char *method)
{
    struct conn_state *st = xcalloc(1, sizeof *st);
    struct req *r = &st->r;
    r->conn = conn;
    r->method = method;
    r->path = url;
    r->started = now_mono();
    r->resp_fd = -1;
    r->route_index = -1;
    buf_init(&r->body);
    const char *rid = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Request-Id");
    /* echoed when it is 1-128 visible ASCII characters (any tracing format:
     * UUIDs, W3C trace ids, "req=42/b"); anything else is replaced by a
     * generated one, so a header or a log line never carries what it
     * should not */
    if (rid && visible_ascii(rid, 128)) {
        snprintf(r->request_id, sizeof r->request_id, "%s", rid);
    } else {
        unsigned char raw[12];
        randombytes_buf(raw, sizeof raw);
        hex_encode(raw, sizeof raw, r->request_id);
    }
    client_ip(conn, r->client_ip, sizeof r->client_ip);
    /* behind our own reverse proxy the peer is the proxy: the client is the
     * last address it appended */
    const char *xff = g_cfg.trust_proxy
                          ? MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Forwarded-For")
                          : NULL;
    if (xff && *xff) {
        const char *last = strrchr(xff, ',');
        last = last ? last + 1 : xff;
        while (*last == ' ') last++;
        size_t n = strcspn(last, " ");
        /* an address: hex digits, '.' and ':' only (it is stored as text) */
        if (n > 0 && n < sizeof r->client_ip && strspn(last, "0123456789abcdefABCDEF.:") == n) {
            memcpy(r->client_ip, last, n);
            r->client_ip[n] = '\0';
        }
    }

    struct route_match m;
    st->match = router_match(g_routes, g_nroutes, method, url, &m);
    memcpy(st->allow, m.allow, sizeof st->allow);
    if (st->match == MATCH_OK) {
        r->route = &g_routes[m.index];
        r->route_index = m.index;
        r->nparams = m.nparams;
        for (int i = 0; i < m.nparams; i++) {
            r->ids[i] = m.ids[i];
            r->params[i] = xstrndup(url + m.params[i].off, m.params[i].len);
        }
    }
    r->body_limit = (r->route && r->route->max_body) ? r->route->max_body : JSON_BODY_MAX;
    return st;
}

static void add_cors(struct req *r, struct MHD_Response *resp)
{
    const char *origin = req_header(r, "Origin");
    if (!origin || !config_cors_allows(origin)) return;
    MHD_add_response_header(resp, "Access-Control-Allow-Origin", origin);
    MHD_add_response_header(resp, "Vary", "Origin");
    MHD_add_response_header(resp, "Access-Control-Expose-Headers",
                            "X-Request-Id, RateLimit-Limit, RateLimit-Remaining, "
                            "RateLimit-Reset, Retry-After, Content-Disposition, Idempotent-Replayed");
}

static enum MHD_Result send_reply(struct req *r)
{
    struct MHD_Response *resp;
    if (r->stream) {
        resp = stream_response(r);
    } else if (r->resp_fd >= 0) {
        resp = MHD_create_response_from_fd64(r->resp_fd_size, r->resp_fd);
        if (resp) r->resp_fd = -1; /* MHD closes it */
    } else {
        resp = MHD_create_response_from_buffer(r->resp_len, r->resp_body, MHD_RESPMEM_MUST_FREE);
        if (resp) r->resp_body = NULL;
    }
    if (!resp) return MHD_NO;
    if (r->content_type) MHD_add_response_header(resp, "Content-Type", r->content_type);
    MHD_add_response_header(resp, "X-Request-Id", r->request_id);
    if (__atomic_load_n(&g_stopping, __ATOMIC_SEQ_CST))
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    bool cache_set = false;
    for (int i = 0; i < r->nheaders; i++)
        if (strcasecmp(r->headers[i].name, "Cache-Control") == 0) cache_set = true;
    if (!cache_set) MHD_add_response_header(resp, "Cache-Control", "no-store");
    /* round trips this request cost (batches must not grow with their size) */
    char nst[24];
    snprintf(nst, sizeof nst, "%lu", db_statements_count());
    MHD_add_response_header(resp, "X-DB-Statements", nst);
    add_cors(r, resp);
    /* responses under /api/ not counted (preflight, an early 413) still
     * say where the client stands; /health, /ready and /metrics stay clear
     * of the limiter (and of the settings it reads) */
    if (r->rl_limit == 0 && strncmp(r->path, "/api/", 5) == 0) ratelimit_peek(r);
    if (r->rl_limit > 0) {
        char v[32];
        snprintf(v, sizeof v, "%ld", r->rl_limit);
        MHD_add_response_header(resp, "RateLimit-Limit", v);
        snprintf(v, sizeof v, "%ld", r->rl_remaining < 0 ? 0 : r->rl_remaining);
        MHD_add_response_header(resp, "RateLimit-Remaining", v);
        snprintf(v, sizeof v, "%ld", r->rl_reset);
        MHD_add_response_header(resp, "RateLimit-Reset", v);
    }
    for (int i = 0; i < r->nheaders; i++)
        MHD_add_response_header(resp, r->headers[i].name, r->headers[i].value);
    enum MHD_Result ret = MHD_queue_response(r->conn, (unsigned)r->status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static void preflight(struct req *r, const char *allow)
{
    reply_no_content(r);
    const char *origin = req_header(r, "Origin");
    if (!origin || !config_cors_allows(origin)) return;
    reply_header(r, "Access-Control-Allow-Methods",
                 allow && *allow ? allow : "GET, POST, PUT, PATCH, DELETE, OPTIONS");
    /* Content-Disposition: the file name of a raw-body import */
    reply_header(r, "Access-Control-Allow-Headers",
                 "Authorization, Content-Type, Content-Disposition, Idempotency-Key, X-Request-Id");
    reply_header(r, "Access-Control-Max-Age", "600");
}

static void parse_json_body(struct req *r)
{
    if (r->body.len == 0) {
        r->json = req_own_json(r, json_object());
        return;
    }
    json_error_t e;
    /* any JSON value parses (a bare "x" or 42 is valid JSON); what is not an
     * object is then one answer, bad_request, whatever its kind */
    json_t *j = json_loadb(r->body.data, r->body.len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &e);
    if (!j) {
        reply_problem(r, 400, "malformed_json", "malformed JSON at line %d column %d: %s", e.line,
                      e.column, e.text);
        return;
    }
    req_own_json(r, j);
    if (!json_is_object(j)) {
        reply_problem(r, 400, "bad_request", "the request body must be a JSON object");
        return;
    }
    r->json = j;
}

static void dispatch(struct conn_state *st)
{
    struct req *r = &st->r;
    db_statements_reset();
    if (strcmp(r->method, "OPTIONS") == 0) {
        if (st->match == MATCH_NOT_FOUND) {
            reply_not_found(r, "resource");
            return;
        }
        preflight(r, st->allow[0] ? st->allow : NULL);
        return;
    }
    if (st->match != MATCH_OK && strncmp(r->path, "/api/", 5) == 0 &&
        ratelimit_or_reply(r) < 0)
        return;
    if (st->match == MATCH_NOT_FOUND) {
        reply_not_found(r, "resource");
        return;
    }
    if (st->match == MATCH_BAD_METHOD) {
        reply_header(r, "Allow", st->allow);
        reply_problem(r, 405, "method_not_allowed", "%s is not allowed here", r->method);
        return;
    }
    const struct route *rt = r->route;
    /* Identify first (no reply) so the limit keys on the user when the token
     * is good and on the address otherwise; then refuse what must be refused. */
    auth_identify(r);
    if (!(rt->flags & ROUTE_NO_LIMIT) && ratelimit_or_reply(r) < 0) return;
    if (r->body_too_large) {
        reply_problem(r, 413, "payload_too_large", "the body exceeds %zu bytes", r->body_limit);
        return;
    }
    if (auth_require_or_reply(r) < 0) return;
    if (rt->flags & ROUTE_JSON) {
        const char *ct = req_header(r, "Content-Type");
        /* application/jsonx or application/json-patch+json are not it */
        if (r->body.len && ct && !media_type_is(ct, "application/json")) {
            reply_problem(r, 415, "unsupported_media_type", "expected application/json");
            return;
        }
        parse_json_body(r);
        if (r->responded) return;
    }
    db_statements_reset(); /* count the handler's own statements */
    rt->fn(r);
    if (!r->responded) reply_problem(r, 500, "internal", "the handler sent no response");
    /* after the commit, before the client can see the answer */
    if ((rt->flags & ROUTE_STATS) && r->status >= 200 && r->status < 300) caches_data_changed();
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}

/* Percent-decoding of the path and of each query key and value, as
 * libmicrohttpd's own but for two cases that stay as written: "%00" (a NUL
 * cut the value short, so "/settings/max_page_size%00junk" changed
 * max_page_size), and a value whose decoded bytes are not UTF-8 (PostgreSQL
 * refuses such text: q=%FF was a 500). Raw bytes that are not UTF-8 become
 * '?'. Never lengthens s. */
static size_t unescape_cb(void *cls, struct MHD_Connection *c, char *s)
{
    (void)cls;
    (void)c;
    size_t len = strlen(s), n = 0;
    char *out = xmalloc(len + 1);
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '%' && isxdigit((unsigned char)s[i + 1]) && isxdigit((unsigned char)s[i + 2]) &&
            !(s[i + 1] == '0' && s[i + 2] == '0')) {
            out[n++] = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
            i += 2;
        } else {
            out[n++] = s[i];
        }
    }
    if (utf8_valid_prefix((const unsigned char *)out, n) == n) {
        memcpy(s, out, n);
        s[n] = '\0';
        free(out);
        return n;
    }
    free(out);
    for (size_t i = 0; i < len;) {
        i += utf8_valid_prefix((const unsigned char *)s + i, len - i);
        if (i < len) s[i++] = '?';
    }
    return len;
}

static enum MHD_Result access_cb(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version,
                                 const char *upload_data, size_t *upload_data_size,
                                 void **con_cls)
{
    struct conn_state *st = *con_cls;
    if (!st) {
        head_deadline_done(conn);
        st = state_new(conn, url, method);
        *con_cls = st;
        __atomic_add_fetch(&g_inflight, 1, __ATOMIC_SEQ_CST);
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
        int64_t n;
        /* digits too many for an int64 are too large as well */
        bool too_large = cl && (parse_i64(cl, strlen(cl), false, &n)
                                    ? (uint64_t)n > st->r.body_limit
                                    : *cl && strspn(cl, "0123456789") == strlen(cl));
        if (too_large) {
            /* Answer before reading a byte of a body we would refuse (the
             * token read first, so RateLimit-* are this user's) */
            auth_identify(&st->r);
            st->r.body_too_large = true;
            reply_problem(&st->r, 413, "payload_too_large", "the body exceeds %zu bytes",
                          st->r.body_limit);
            return send_reply(&st->r);
        }
        return MHD_YES;
    }
    struct req *r = &st->r;
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (r->responded) return MHD_YES;
        if (!r->body_too_large) {
            if (r->body.len + n > r->body_limit) {
                r->body_too_large = true; /* chunked bodies are counted the same way */
                buf_free(&r->body);
            } else {
                buf_append(&r->body, upload_data, n);
            }
        }
        return MHD_YES;
    }
    if (r->responded) return MHD_YES; /* already queued (early 413) */
    dispatch(st);
    return send_reply(r);
}

static void completed_cb(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct conn_state *st = *con_cls;
    head_deadline_rearm(conn);
    if (!st) return;
    *con_cls = NULL;
    struct req *r = &st->r;
    double dur = now_mono() - r->started;
    int status = r->responded ? r->status : 499;
    metrics_observe(r->route_index, status, dur);
    if (log_enabled(LOG_INFO)) {
        buf_t x;
        buf_init(&x);
        buf_puts(&x, "\"request_id\":");
        buf_json_str(&x, r->request_id);
        buf_puts(&x, ",\"method\":");
        buf_json_str(&x, r->method);
        buf_puts(&x, ",\"path\":");
        buf_json_str(&x, r->path);
        buf_printf(&x, ",\"status\":%d,\"duration_ms\":%.3f", status, dur * 1000.0);
        if (r->authed) buf_printf(&x, ",\"user_id\":%ld", (long)r->who.user_id);
        if (r->error_code) {
            buf_puts(&x, ",\"code\":");
            buf_json_str(&x, r->error_code);
        }
        log_event(status >= 500 ? LOG_ERROR : LOG_INFO, "request", x.data);
        buf_free(&x);
    }
    db_request_done();
    for (size_t i = r->ncleanups; i > 0; i--) r->cleanups[i - 1].fn(r->cleanups[i - 1].p);
    free(r->cleanups);
    for (int i = 0; i < r->nparams; i++) free(r->params[i]);
    for (int i = 0; i < r->nheaders; i++) {
        free(r->headers[i].name);
        free(r->headers[i].value);
    }
    if (r->resp_fd >= 0) close(r->resp_fd);
    free(r->resp_body);
    buf_free(&r->body);
    free(st);
    __atomic_sub_fetch(&g_inflight, 1, __ATOMIC_SEQ_CST);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r')) msg[--n] = '\0';
    log_event(LOG_WARN, msg, "\"source\":\"libmicrohttpd\"");
}

int http_start(void)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC |
                     MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME;
    if (strchr(g_cfg.bind_address, ':')) {
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)g_cfg.port);
        if (inet_pton(AF_INET6, g_cfg.bind_address, &a6->sin6_addr) != 1) goto bad_addr;
        flags |= MHD_USE_IPv6;
    } else {
        struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)g_cfg.port);
        if (inet_pton(AF_INET, g_cfg.bind_address, &a4->sin_addr) != 1) goto bad_addr;
    }
    g_daemon = MHD_start_daemon(
        flags, (uint16_t)g_cfg.port, NULL, NULL, access_cb, NULL, MHD_OPTION_EXTERNAL_LOGGER,
        mhd_log, NULL, MHD_OPTION_SOCK_ADDR, &ss,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)g_cfg.threads, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)g_cfg.connection_limit, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)g_cfg.connection_timeout, MHD_OPTION_NOTIFY_COMPLETED, completed_cb, NULL,
        MHD_OPTION_LISTENING_ADDRESS_REUSE, 1, MHD_OPTION_UNESCAPE_CALLBACK, unescape_cb, NULL,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)g_cfg.per_address_connection_limit,
        MHD_OPTION_NOTIFY_CONNECTION, head_deadline_notify, NULL, MHD_OPTION_END);
    if (!g_daemon) {
        log_msgf(LOG_ERROR, "cannot listen on %s:%ld", g_cfg.bind_address, g_cfg.port);
        return -1;
    }
    if (head_deadline_start((double)g_cfg.request_head_timeout) < 0) {
        log_msgf(LOG_ERROR, "cannot start the request-head deadline thread");
        MHD_stop_daemon(g_daemon);
        g_daemon = NULL;
        return -1;
    }
    if (stream_hub_start() < 0) {
        log_msgf(LOG_ERROR, "cannot start the live stream's hub thread");
        MHD_stop_daemon(g_daemon);
        g_daemon = NULL;
        head_deadline_stop();
        return -1;
    }
    return 0;
bad_addr:
    log_msgf(LOG_ERROR, "BIND_ADDRESS %s is not an IP address", g_cfg.bind_address);
    return -1;
}

void http_stop(double drain_seconds)
{
    if (!g_daemon) return;
    __atomic_store_n(&g_stopping, 1, __ATOMIC_SEQ_CST);
    MHD_socket fd = MHD_quiesce_daemon(g_daemon);
    if (fd != MHD_INVALID_SOCKET) close(fd);
    /* streams never finish on their own: end them first (none stays
     * suspended, which MHD_stop_daemon must not meet) */
    stream_hub_stop();
    double deadline = now_mono() + drain_seconds;
    while (__atomic_load_n(&g_inflight, __ATOMIC_SEQ_CST) > 0 && now_mono() < deadline)
        usleep(20000);
    long left = __atomic_load_n(&g_inflight, __ATOMIC_SEQ_CST);
    if (left > 0) log_msgf(LOG_WARN, "stopping with %ld requests still in flight", left);
    MHD_stop_daemon(g_daemon);
    g_daemon = NULL;
    stream_hub_free();
    head_deadline_stop();
}
