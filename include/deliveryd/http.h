/* The HTTP layer: request context, router table types, replies.
 * api/ handlers see only this header, never microhttpd.h. */
#ifndef DELIVERYD_HTTP_H
#define DELIVERYD_HTTP_H

#include <jansson.h>
#include <stdint.h>

#include "deliveryd/util.h"
#include "deliveryd/who.h"

struct MHD_Connection;

enum route_flags {
    ROUTE_JSON = 1u << 0,     /* body must be a JSON object (parsed into r->json) */
    ROUTE_NO_LIMIT = 1u << 1, /* not rate limited (/health, /ready, /metrics) */
    ROUTE_RAW = 1u << 2,      /* body kept as bytes (uploads, webhooks) */
    ROUTE_STATS = 1u << 3,    /* a 2xx answer changed data the caches derive from
                                 (caches_data_changed: analytics, list totals) */
    ROUTE_TICKET = 1u << 4,   /* ?ticket= (POST /stream/ticket) authenticates as
                                 the Bearer header would (an EventSource) */
};

struct req;
struct stream;
typedef void (*handler_fn)(struct req *r);

struct route {
    const char *method;
    const char *pattern; /* "/api/v1/orders/{id}"; {id} matches a positive integer,
                            any other {name} one non-empty segment */
    handler_fn fn;
    unsigned roles;
    size_t max_body; /* 0: no body accepted beyond the default JSON cap */
    unsigned flags;
};

#define ROUTE_MAX_PARAMS 4
#define JSON_BODY_MAX (1024 * 1024)

struct cleanup {
    void (*fn)(void *);
    void *p;
};

struct header {
    char *name;
    char *value;
};

/* One request. Everything allocated for it hangs off here and is released
 * when libmicrohttpd reports the request complete. */
struct req {
    struct MHD_Connection *conn;
    const char *method;
    const char *path;
    char request_id[136];
    char client_ip[64];
    double started;

    const struct route *route;
    int route_index; /* index in the table, -1 when unmatched */
    int64_t ids[ROUTE_MAX_PARAMS];
    char *params[ROUTE_MAX_PARAMS];
    int nparams;

    buf_t body;
    size_t body_limit;
    bool body_too_large;
    bool headers_only_seen;
    json_t *json;

    bool authed;
    int token_state; /* 0 none, else enum token_status + 1 */
    struct principal who;

    /* rate limit state for the RateLimit-* headers; limit 0 = none */
    long rl_limit, rl_remaining, rl_reset;

    /* response */
    bool responded;
    int status;
    const char *content_type;
    char *resp_body;
    size_t resp_len;
    int resp_fd; /* >= 0: serve this file instead of resp_body */
    uint64_t resp_fd_size;
    struct header headers[8];
    int nheaders;
    const char *error_code; /* for the access log */
    struct stream *stream;  /* the live stream this request answers (http/stream.c) */

    struct cleanup *cleanups;
    size_t ncleanups, capcleanups;
};

/** Registers fn(p) to run when the request completes (LIFO). */
void req_defer(struct req *r, void (*fn)(void *), void *p);
/** Memory owned by the request. */
void *req_alloc(struct req *r, size_t n);
char *req_strdup(struct req *r, const char *s);
char *req_printf(struct req *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/** A json_t the request releases. Returns j. */
json_t *req_own_json(struct req *r, json_t *j);

/** Query-string argument or NULL. */
const char *req_query(struct req *r, const char *key);
/** Request header or NULL. */
const char *req_header(struct req *r, const char *name);

/** Adds a response header (copied). */
void reply_header(struct req *r, const char *name, const char *value);
/** JSON reply; takes ownership of j (may be NULL for an empty 204). */
void reply_json(struct req *r, int status, json_t *j);
/** Reply with JSON text already rendered (e.g. by PostgreSQL); copied. */
void reply_json_text(struct req *r, int status, const char *text, size_t len);
/** Reply with arbitrary bytes (copied). */
void reply_bytes(struct req *r, int status, const char *content_type, const void *p, size_t len);
/** Reply with the contents of an open fd (closed by the server). */
void reply_fd(struct req *r, int status, const char *content_type, int fd, uint64_t size);
void reply_no_content(struct req *r);

/**
 * The one error path: an RFC 9457 problem body with `code` and `request_id`.
 * `errors` (an array of {field,message}, stolen, may be NULL) is added when
 * given. Always returns -1 so validators can `return reply_problem(...)`.
 */
int reply_problem_errors(struct req *r, int status, const char *code, json_t *errors,
                         const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/** Same, merging the members of the object `extra` (stolen) into the body. */
int reply_problem_extra(struct req *r, int status, const char *code, json_t *extra,
                        const char *fmt, ...) __attribute__((format(printf, 5, 6)));
int reply_problem(struct req *r, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/** 422 validation_failed naming one field. */
/** 404 not_found "no such <what>" (also for what the caller may not see). Returns -1. */
int reply_not_found(struct req *r, const char *what);
int reply_field_error(struct req *r, const char *field, const char *message);

/** Standard reason phrase for a status (e.g. "Unprocessable Content"). */
const char *http_status_title(int status);

/* Router (router.c): pure matching over a table, unit-tested. */
struct route_match {
    int index;
    int64_t ids[ROUTE_MAX_PARAMS];
    struct { size_t off, len; } params[ROUTE_MAX_PARAMS];
    int nparams;
    char allow[160]; /* for 405 */
};
enum { MATCH_OK = 0, MATCH_NOT_FOUND = 404, MATCH_BAD_METHOD = 405 };
int router_match(const struct route *table, size_t n, const char *method, const char *path,
                 struct route_match *m);

/* The route table (api/routes.c). */
extern const struct route g_routes[];
extern const size_t g_nroutes;
/** The Prometheus labels of route `index` (for metrics_init). */
void route_metric_label(buf_t *b, size_t index);

/* Server lifecycle (server.c). */
int http_start(void) MUSTCHECK;
/** Stops accepting, waits up to `drain_seconds` for requests in flight. */
void http_stop(double drain_seconds);

/* The field validator's request glue (http/fields_reply.c); the validator
 * itself is util/fields.c. */
struct fv_field;
struct fv_values;
/**
 * For handlers: values are owned by the request; on any error replies 422
 * validation_failed listing every bad field and returns -1.
 */
int fv_parse_or_reply(struct req *r, const json_t *obj, const struct fv_field *fields, size_t n,
                      struct fv_values *out) MUSTCHECK;

/** fv_parse with the values owned by the request (no reply). */
size_t fv_parse_req(struct req *r, const json_t *obj, const struct fv_field *fields, size_t n,
                    struct fv_values *out, json_t *errors);
/** Takes errors: when non-empty replies 422 listing them and returns -1. */
int fv_reply_errors(struct req *r, json_t *errors) MUSTCHECK;


#endif
