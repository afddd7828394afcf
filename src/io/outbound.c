/* Outbound HTTP for webhooks (include/deliveryd/outbound.h). */
#include "deliveryd/outbound.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int outbound_global_init(void)
{
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

void outbound_global_free(void)
{
    curl_global_cleanup();
}

static bool v4_blocked(uint32_t a) /* host order */
{
    uint8_t b0 = (uint8_t)(a >> 24), b1 = (uint8_t)(a >> 16);
    return b0 == 0                                /* 0.0.0.0/8, this network */
           || b0 == 10                            /* 10/8 */
           || b0 == 127                           /* loopback */
           || (b0 == 100 && (b1 & 0xc0) == 64)    /* 100.64/10, CGNAT */
           || (b0 == 169 && b1 == 254)            /* link-local */
           || (b0 == 172 && (b1 & 0xf0) == 16)    /* 172.16/12 */
           || (b0 == 192 && b1 == 168)            /* 192.168/16 */
           || (b0 == 192 && b1 == 0 && (uint8_t)(a >> 8) == 0) /* 192.0.0/24, IETF */
           || b0 >= 224;                          /* multicast, 240/4, broadcast */
}

bool outbound_addr_blocked(const struct sockaddr *sa)
{
    if (!sa) return true;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        return v4_blocked(ntohl(in->sin_addr.s_addr));
    }
    if (sa->sa_family != AF_INET6) return true;
    const uint8_t *b = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
    static const uint8_t zero[16];
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    static const uint8_t nat64[12] = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
    if (memcmp(b, zero, 15) == 0 && (b[15] == 0 || b[15] == 1)) return true; /* ::, ::1 */
    if (memcmp(b, mapped, 12) == 0 || memcmp(b, nat64, 12) == 0) {
        uint32_t a = (uint32_t)b[12] << 24 | (uint32_t)b[13] << 16 | (uint32_t)b[14] << 8 | b[15];
        return v4_blocked(a);
    }
    if (memcmp(b, zero, 12) == 0) return true; /* IPv4-compatible (deprecated) */
    return (b[0] & 0xfe) == 0xfc                  /* fc00::/7, unique local */
           || (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) /* fe80::/10, link-local */
           || (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0) /* fec0::/10, old site-local */
           || b[0] == 0xff;                       /* multicast */
}

int outbound_url_check(const char *url, bool allow_private, char *why, size_t whylen)
{
    if (strlen(url) > OUTBOUND_URL_MAX) {
        snprintf(why, whylen, "must be at most %d bytes", OUTBOUND_URL_MAX);
        return -1;
    }
    CURLU *u = curl_url();
    if (!u) {
        snprintf(why, whylen, "cannot be checked now");
        return -1;
    }
    int rc = -1;
    char *scheme = NULL, *user = NULL, *password = NULL, *options = NULL, *host = NULL;
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK) {
        snprintf(why, whylen, "must be an absolute http:// or https:// URL");
        goto out;
    }
    if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0)) {
        snprintf(why, whylen, "must be an http:// or https:// URL");
        goto out;
    }
    if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK ||
        curl_url_get(u, CURLUPART_PASSWORD, &password, 0) == CURLUE_OK ||
        curl_url_get(u, CURLUPART_OPTIONS, &options, 0) == CURLUE_OK) {
        snprintf(why, whylen, "must not carry a user or password");
        goto out;
    }
    if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !*host) {
        snprintf(why, whylen, "must name a host");
        goto out;
    }
    if (allow_private) {
        rc = 0;
        goto out;
    }
    /* "[::1]" -> "::1" for getaddrinfo */
    char name[512];
    size_t hl = strlen(host);
    if (hl >= sizeof name) {
        snprintf(why, whylen, "has a host name that is too long");
        goto out;
    }
    if (host[0] == '[' && hl > 2 && host[hl - 1] == ']') {
        memcpy(name, host + 1, hl - 2);
        name[hl - 2] = '\0';
    } else {
        memcpy(name, host, hl + 1);
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    int gai = getaddrinfo(name, NULL, &hints, &res);
    if (gai != 0 || !res) {
        snprintf(why, whylen, "has a host that does not resolve (%s)", name);
        goto out;
    }
    rc = 0;
    for (struct addrinfo *a = res; a; a = a->ai_next) {
        if (!outbound_addr_blocked(a->ai_addr)) continue;
        char text[INET6_ADDRSTRLEN] = "?";
        if (a->ai_family == AF_INET)
            inet_ntop(AF_INET, &((struct sockaddr_in *)a->ai_addr)->sin_addr, text, sizeof text);
        else if (a->ai_family == AF_INET6)
            inet_ntop(AF_INET6, &((struct sockaddr_in6 *)a->ai_addr)->sin6_addr, text, sizeof text);
        snprintf(why, whylen,
                 "must not reach a loopback, private, link-local or multicast address (%s is %s)",
                 name, text);
        rc = -1;
        break;
    }
    freeaddrinfo(res);
out:
    curl_free(scheme);
    curl_free(user);
    curl_free(password);
    curl_free(options);
    curl_free(host);
    curl_url_cleanup(u);
    return rc;
}

/* ---- the client ------------------------------------------------------ */

struct outbound {
    CURLM *multi;
    bool allow_private;
    int in_flight;
};

struct outbound_conn {
    struct outbound *o;
    CURL *easy;
    struct curl_slist *headers;
    void *user;
    size_t body_read;
    bool refused;   /* the address was blocked at connect time */
    bool capped;    /* the answer was longer than OUTBOUND_BODY_CAP */
    bool in_flight;
    char errbuf[CURL_ERROR_SIZE];
};

struct outbound *outbound_new(bool allow_private)
{
    struct outbound *o = xcalloc(1, sizeof *o);
    o->multi = curl_multi_init();
    if (!o->multi) abort();
    o->allow_private = allow_private;
    return o;
}

void outbound_conn_free(struct outbound_conn *c)
{
    if (!c) return;
    if (c->in_flight) {
        curl_multi_remove_handle(c->o->multi, c->easy);
        c->o->in_flight--;
    }
    curl_easy_cleanup(c->easy);
    curl_slist_free_all(c->headers);
    free(c);
}

void outbound_free(struct outbound *o)
{
    if (!o) return;
    curl_multi_cleanup(o->multi);
    free(o);
}

/* Reads the answer's body only to let the connection be reused, and at
 * most OUTBOUND_BODY_CAP bytes: a longer one aborts the transfer (the
 * status line, which decides, came first). */
static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    (void)p;
    struct outbound_conn *c = arg;
    size_t len = size * n;
    if (c->body_read + len > OUTBOUND_BODY_CAP) {
        c->capped = true;
        return 0;
    }
    c->body_read += len;
    return len;
}

/* The address actually connected to, whatever DNS said when the URL was
 * subscribed (no rebinding around the rule). */
static curl_socket_t on_open_socket(void *arg, curlsocktype purpose, struct curl_sockaddr *addr)
{
    struct outbound_conn *c = arg;
    if (purpose != CURLSOCKTYPE_IPCXN) return CURL_SOCKET_BAD;
    if (!c->o->allow_private && outbound_addr_blocked(&addr->addr)) {
        c->refused = true;
        return CURL_SOCKET_BAD;
    }
    return socket(addr->family, addr->socktype, addr->protocol);
}

struct outbound_conn *outbound_conn_new(struct outbound *o)
{
    struct outbound_conn *c = xcalloc(1, sizeof *c);
    c->o = o;
    c->easy = curl_easy_init();
    if (!c->easy) abort();
    return c;
}

int outbound_post(struct outbound_conn *c, const char *url, const char *const *headers,
                  const char *body, size_t len, void *user, char *why, size_t whylen)
{
    if (c->in_flight) {
        snprintf(why, whylen, "slot busy");
        return -1;
    }
    CURL *e = c->easy;
    /* options are kept by the handle between transfers; set them all each
     * time anyway (reset would also forget the connection's cookies etc.,
     * which we never use) */
    curl_slist_free_all(c->headers);
    c->headers = NULL;
    for (const char *const *h = headers; h && *h; h++) {
        struct curl_slist *n = curl_slist_append(c->headers, *h);
        if (!n) abort();
        c->headers = n;
    }
    c->user = user;
    c->body_read = 0;
    c->refused = c->capped = false;
    c->errbuf[0] = '\0';
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PROXY, ""); /* no proxy from the environment */
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)OUTBOUND_TIMEOUT_MS);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)OUTBOUND_TIMEOUT_MS);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, c->headers);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, body);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, on_open_socket);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, c);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, c->errbuf);
    curl_easy_setopt(e, CURLOPT_PRIVATE, c);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "deliveryd-webhooks/1.1");
    if (curl_multi_add_handle(c->o->multi, e) != CURLM_OK) {
        snprintf(why, whylen, "cannot start the transfer");
        return -1;
    }
    c->in_flight = true;
    c->o->in_flight++;
    return 0;
}

int outbound_in_flight(const struct outbound *o)
{
    return o->in_flight;
}

void outbound_wait(struct outbound *o, int extra_fd, int timeout_ms, bool *extra_ready)
{
    int running = 0;
    curl_multi_perform(o->multi, &running);
    /* transfers that this perform finished are not waited for: their
     * sockets are no longer polled, so poll would sleep the whole timeout
     * with their results ready */
    if (running < o->in_flight) timeout_ms = 0;
    struct curl_waitfd extra = {.fd = extra_fd, .events = CURL_WAIT_POLLIN};
    int nfds = 0;
    curl_multi_poll(o->multi, extra_fd >= 0 ? &extra : NULL, extra_fd >= 0 ? 1 : 0, timeout_ms,
                    &nfds);
    if (extra_ready) *extra_ready = extra_fd >= 0 && (extra.revents & CURL_WAIT_POLLIN);
    curl_multi_perform(o->multi, &running);
}

bool outbound_next_result(struct outbound *o, struct outbound_result *out)
{
    int left = 0;
    CURLMsg *m;
    while ((m = curl_multi_info_read(o->multi, &left)) != NULL) {
        if (m->msg != CURLMSG_DONE) continue;
        CURL *e = m->easy_handle;
        CURLcode code = m->data.result;
        struct outbound_conn *c = NULL;
        curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&c);
        long status = 0;
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
        curl_multi_remove_handle(o->multi, e);
        c->in_flight = false;
        o->in_flight--;
        memset(out, 0, sizeof *out);
        out->conn = c;
        out->user = c->user;
        out->status = status;
        if (status == 0) {
            if (c->refused)
                snprintf(out->error, sizeof out->error,
                         "refused: the address is loopback, private, link-local or multicast");
            else if (code == CURLE_OPERATION_TIMEDOUT)
                snprintf(out->error, sizeof out->error, "timed out after %d ms",
                         OUTBOUND_TIMEOUT_MS);
            else
                snprintf(out->error, sizeof out->error, "%s",
                         c->errbuf[0] ? c->errbuf : curl_easy_strerror(code));
        }
        return true;
    }
    return false;
}

void outbound_wakeup(struct outbound *o)
{
    curl_multi_wakeup(o->multi);
}
