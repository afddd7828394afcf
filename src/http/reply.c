/* Request-owned memory and the reply functions, including the one error
 * function (RFC 9457 problem details). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "deliveryd/http.h"
#include "deliveryd/log.h"

void req_defer(struct req *r, void (*fn)(void *), void *p)
{
    if (r->ncleanups == r->capcleanups) {
        r->capcleanups = r->capcleanups ? r->capcleanups * 2 : 16;
        r->cleanups = xrealloc(r->cleanups, r->capcleanups * sizeof *r->cleanups);
    }
    r->cleanups[r->ncleanups].fn = fn;
    r->cleanups[r->ncleanups].p = p;
    r->ncleanups++;
}

void *req_alloc(struct req *r, size_t n)
{
    void *p = xcalloc(1, n);
    req_defer(r, free, p);
    return p;
}

char *req_strdup(struct req *r, const char *s)
{
    char *p = xstrdup(s);
    req_defer(r, free, p);
    return p;
}

char *req_printf(struct req *r, const char *fmt, ...)
{
    buf_t b;
    buf_init(&b);
    va_list ap;
    va_start(ap, fmt);
    char tmp[256];
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < sizeof tmp) {
        buf_append(&b, tmp, (size_t)n);
    } else if (n >= 0) {
        buf_reserve(&b, (size_t)n);
        vsnprintf(b.data, (size_t)n + 1, fmt, ap2);
        b.len = (size_t)n;
    }
    va_end(ap2);
    char *s = buf_steal(&b, NULL);
    req_defer(r, free, s);
    return s;
}

static void json_decref_cb(void *p)
{
    json_decref((json_t *)p);
}

json_t *req_own_json(struct req *r, json_t *j)
{
    if (j) req_defer(r, json_decref_cb, j);
    return j;
}

void reply_header(struct req *r, const char *name, const char *value)
{
    if (r->nheaders >= (int)ARRAY_LEN(r->headers)) return;
    r->headers[r->nheaders].name = xstrdup(name);
    r->headers[r->nheaders].value = xstrdup(value);
    r->nheaders++;
}

static void set_body(struct req *r, int status, const char *ctype, char *body, size_t len)
{
    if (r->responded) {
        /* A handler answered twice: keep the first answer, drop this one. */
        log_msgf(LOG_ERROR, "double reply for %s %s (status %d)", r->method, r->path, status);
        free(body);
        return;
    }
    r->responded = true;
    r->status = status;
    r->content_type = ctype;
    r->resp_body = body;
    r->resp_len = len;
}

void reply_json(struct req *r, int status, json_t *j)
{
    if (!j) {
        set_body(r, status, NULL, NULL, 0);
        return;
    }
    char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(j);
    if (!s) {
        reply_problem(r, 500, "internal", "could not encode the response");
        return;
    }
    set_body(r, status, "application/json", s, strlen(s));
}

void reply_json_text(struct req *r, int status, const char *text, size_t len)
{
    set_body(r, status, "application/json", xstrndup(text, len), len);
}

void reply_bytes(struct req *r, int status, const char *content_type, const void *p, size_t len)
{
    set_body(r, status, content_type, xstrndup(p, len), len);
}

void reply_fd(struct req *r, int status, const char *content_type, int fd, uint64_t size)
{
    if (r->responded) {
        close(fd);
        return;
    }
    set_body(r, status, content_type, NULL, 0);
    r->resp_fd = fd;
    r->resp_fd_size = size;
}

void reply_no_content(struct req *r)
{
    set_body(r, 204, NULL, NULL, 0);
}

const char *http_status_title(int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Content";
    case 423: return "Locked";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return status < 500 ? "Client Error" : "Server Error";
    }
}

static int vproblem(struct req *r, int status, const char *code, json_t *extra, const char *fmt,
                    va_list ap)
{
    char detail[512];
    vsnprintf(detail, sizeof detail, fmt, ap);
    json_t *j = json_object();
    json_object_set_new(j, "type", json_string("about:blank"));
    json_object_set_new(j, "title", json_string(http_status_title(status)));
    json_object_set_new(j, "status", json_integer(status));
    json_object_set_new(j, "code", json_string(code));
    /* detail may quote client bytes: never let invalid UTF-8 break the body */
    json_t *d = json_string(detail);
    json_object_set_new(j, "detail", d ? d : json_string("(detail not representable)"));
    if (extra) {
        json_object_update(j, extra);
        json_decref(extra);
    }
    json_object_set_new(j, "request_id", json_string(r->request_id));
    if (!r->responded) r->error_code = code;
    /* a 503 is always "come back soon": say when, unless the caller did */
    if (status == 503 && !r->responded) {
        bool has = false;
        for (int i = 0; i < r->nheaders; i++)
            if (strcasecmp(r->headers[i].name, "Retry-After") == 0) has = true;
        if (!has) reply_header(r, "Retry-After", "1");
    }
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    set_body(r, status, "application/problem+json", s, s ? strlen(s) : 0);
    if (status >= 500) {
        buf_t x;
        buf_init(&x);
        buf_puts(&x, "\"request_id\":");
        buf_json_str(&x, r->request_id);
        buf_puts(&x, ",\"code\":");
        buf_json_str(&x, code);
        log_event(LOG_ERROR, detail, x.data);
        buf_free(&x);
    }
    return -1;
}

int reply_problem_errors(struct req *r, int status, const char *code, json_t *errors,
                         const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    json_t *extra = NULL;
    if (errors) extra = json_pack("{s:o}", "errors", errors);
    int rc = vproblem(r, status, code, extra, fmt, ap);
    va_end(ap);
    return rc;
}

int reply_problem_extra(struct req *r, int status, const char *code, json_t *extra,
                        const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = vproblem(r, status, code, extra, fmt, ap);
    va_end(ap);
    return rc;
}

int reply_problem(struct req *r, int status, const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = vproblem(r, status, code, NULL, fmt, ap);
    va_end(ap);
    return rc;
}

int reply_field_error(struct req *r, const char *field, const char *message)
{
    json_t *errs = json_array();
    json_array_append_new(errs, json_pack("{s:s,s:s}", "field", field, "message", message));
    return reply_problem_errors(r, 422, "validation_failed", errs, "%s: %s", field, message);
}

int reply_not_found(struct req *r, const char *what)
{
    return reply_problem(r, 404, "not_found", "no such %s", what);
}
