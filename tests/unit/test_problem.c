/* The one error function (RFC 9457 problem details) in src/http/reply.c. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "deliveryd/http.h"

static void req_init(struct req *r)
{
    memset(r, 0, sizeof *r);
    snprintf(r->request_id, sizeof r->request_id, "%s", "rid-1");
    r->resp_fd = -1;
    r->route_index = -1;
    r->method = "GET";
    r->path = "/test";
}

/* What the server does when a request completes. */
static void req_release(struct req *r)
{
    free(r->resp_body);
    r->resp_body = NULL;
    for (size_t i = r->ncleanups; i > 0; i--)
        r->cleanups[i - 1].fn(r->cleanups[i - 1].p);
    free(r->cleanups);
    r->cleanups = NULL;
    r->ncleanups = r->capcleanups = 0;
    for (int i = 0; i < r->nheaders; i++) {
        free(r->headers[i].name);
        free(r->headers[i].value);
    }
    r->nheaders = 0;
}

/* Parses the reply body; the caller decrefs. */
static json_t *body_of(const struct req *r)
{
    assert_true(r->responded);
    assert_non_null(r->resp_body);
    assert_int_equal(r->resp_len, strlen(r->resp_body));
    json_error_t jerr;
    json_t *j = json_loadb(r->resp_body, r->resp_len, 0, &jerr);
    if (!j) fail_msg("body is not JSON (%s): %s", jerr.text, r->resp_body);
    assert_true(json_is_object(j));
    return j;
}

static const char *str_member(const json_t *j, const char *key)
{
    const json_t *v = json_object_get(j, key);
    if (!json_is_string(v)) fail_msg("member %s is not a string", key);
    return json_string_value(v);
}

static void test_problem_404(void **state)
{
    (void)state;
    struct req r;
    req_init(&r);
    assert_int_equal(reply_problem(&r, 404, "not_found", "no %s", "x"), -1);
    assert_int_equal(r.status, 404);
    assert_string_equal(r.content_type, "application/problem+json");
    assert_string_equal(r.error_code, "not_found");
    json_t *j = body_of(&r);
    assert_string_equal(str_member(j, "type"), "about:blank");
    assert_string_equal(str_member(j, "title"), "Not Found");
    assert_int_equal(json_integer_value(json_object_get(j, "status")), 404);
    assert_true(json_is_integer(json_object_get(j, "status")));
    assert_string_equal(str_member(j, "code"), "not_found");
    assert_string_equal(str_member(j, "detail"), "no x");
    assert_string_equal(str_member(j, "request_id"), "rid-1");
    assert_null(json_object_get(j, "errors"));
    assert_int_equal(json_object_size(j), 6);
    json_decref(j);
    req_release(&r);
}

static void test_problem_errors_422(void **state)
{
    (void)state;
    struct req r;
    req_init(&r);
    json_t *errs =
        json_pack("[{s:s,s:s},{s:s,s:s}]", "field", "customer_phone", "message",
                  "is not a valid phone number", "field", "amount", "message", "is required");
    assert_non_null(errs);
    assert_int_equal(
        reply_problem_errors(&r, 422, "validation_failed", errs, "%d fields failed", 2), -1);
    assert_int_equal(r.status, 422);
    assert_string_equal(r.content_type, "application/problem+json");
    json_t *j = body_of(&r);
    assert_string_equal(str_member(j, "title"), "Unprocessable Content");
    assert_int_equal(json_integer_value(json_object_get(j, "status")), 422);
    assert_string_equal(str_member(j, "code"), "validation_failed");
    assert_string_equal(str_member(j, "detail"), "2 fields failed");
    assert_string_equal(str_member(j, "request_id"), "rid-1");
    json_t *e = json_object_get(j, "errors");
    assert_true(json_is_array(e));
    assert_int_equal(json_array_size(e), 2);
    assert_string_equal(str_member(json_array_get(e, 0), "field"), "customer_phone");
    assert_string_equal(str_member(json_array_get(e, 0), "message"), "is not a valid phone number");
    assert_string_equal(str_member(json_array_get(e, 1), "field"), "amount");
    assert_string_equal(str_member(json_array_get(e, 1), "message"), "is required");
    json_decref(j);
    req_release(&r);
}

static void test_problem_errors_null(void **state)
{
    (void)state;
    struct req r;
    req_init(&r);
    assert_int_equal(reply_problem_errors(&r, 409, "conflict", NULL, "taken"), -1);
    json_t *j = body_of(&r);
    assert_string_equal(str_member(j, "title"), "Conflict");
    assert_null(json_object_get(j, "errors"));
    json_decref(j);
    req_release(&r);
}

static void test_problem_extra(void **state)
{
    (void)state;
    struct req r;
    req_init(&r);
    json_t *extra = json_pack("{s:i,s:s}", "retry_after", 60, "hint", "slow down");
    assert_int_equal(reply_problem_extra(&r, 429, "rate_limited", extra, "too many"), -1);
    json_t *j = body_of(&r);
    assert_string_equal(str_member(j, "title"), "Too Many Requests");
    assert_string_equal(str_member(j, "code"), "rate_limited");
    assert_int_equal(json_integer_value(json_object_get(j, "retry_after")), 60);
    assert_string_equal(str_member(j, "hint"), "slow down");
    assert_string_equal(str_member(j, "request_id"), "rid-1");
    json_decref(j);
    req_release(&r);
}

static void test_first_reply_wins(void **state)
{
    (void)state;
    struct req r;
    req_init(&r);
    reply_problem(&r, 404, "not_found", "first");
    char *first = strdup(r.resp_body);
    assert_non_null(first);
    assert_int_equal(reply_problem(&r, 409, "conflict", "second"), -1);
    assert_int_equal(r.status, 404);
    assert_string_equal(r.error_code, "not_found");
    assert_string_equal(r.resp_body, first);
    reply_json(&r, 200, json_pack("{s:b}", "ok", 1));
    reply_field_error(&r, "x", "bad");
    reply_no_content(&r);
    assert_int_equal(r.status, 404);
    assert_string_equal(r.content_type, "application/problem+json");
    assert_string_equal(r.resp_body, first);
    json_t *j = body_of(&r);
    assert_string_equal(str_member(j, "detail"), "first");
    json_decref(j);
    free(first);
    req_release(&r);
}

static void test_field_error(void **state)
{
    (void)state;
    struct req r;
    req_init(&r);
    assert_int_equal(reply_field_error(&r, "customer_phone", "is not a valid phone number"), -1);
    assert_int_equal(r.status, 422);
    assert_string_equal(r.error_code, "validation_failed");
    json_t *j = body_of(&r);
    assert_string_equal(str_member(j, "title"), "Unprocessable Content");
    assert_string_equal(str_member(j, "code"), "validation_failed");
    assert_int_equal(json_integer_value(json_object_get(j, "status")), 422);
    const char *detail = str_member(j, "detail");
    assert_non_null(strstr(detail, "customer_phone"));
    json_t *e = json_object_get(j, "errors");
    assert_true(json_is_array(e));
    assert_int_equal(json_array_size(e), 1);
    assert_string_equal(str_member(json_array_get(e, 0), "field"), "customer_phone");
    assert_string_equal(str_member(json_array_get(e, 0), "message"), "is not a valid phone number");
    json_decref(j);
    req_release(&r);
}

static void test_invalid_utf8_detail(void **state)
{
    (void)state;
    struct req r;
    req_init(&r);
    reply_problem(&r, 400, "bad_request", "bad value '%s'", "ab\xff\xfe\xc3");
    assert_int_equal(r.status, 400);
    json_t *j = body_of(&r); /* valid JSON (jansson refuses invalid UTF-8) */
    assert_string_equal(str_member(j, "title"), "Bad Request");
    assert_string_equal(str_member(j, "code"), "bad_request");
    assert_string_equal(str_member(j, "request_id"), "rid-1");
    const char *detail = str_member(j, "detail");
    assert_true(strlen(detail) > 0);
    assert_null(strchr(detail, '\xff'));
    json_decref(j);
    /* the raw bytes never reach the body */
    assert_null(strchr(r.resp_body, '\xff'));
    req_release(&r);
}

static void test_detail_quotes_escaped(void **state)
{
    (void)state;
    struct req r;
    req_init(&r);
    reply_problem(&r, 400, "bad_request", "%s", "say \"hi\"\n\\ <end>");
    json_t *j = body_of(&r);
    assert_string_equal(str_member(j, "detail"), "say \"hi\"\n\\ <end>");
    json_decref(j);
    req_release(&r);
}

static void test_long_detail_truncated(void **state)
{
    (void)state;
    struct req r;
    req_init(&r);
    char big[2000];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    reply_problem(&r, 413, "payload_too_large", "%s", big);
    json_t *j = body_of(&r);
    assert_string_equal(str_member(j, "title"), "Content Too Large");
    size_t n = strlen(str_member(j, "detail"));
    assert_true(n > 0 && n < sizeof big - 1);
    json_decref(j);
    req_release(&r);
}

static void test_500_title(void **state)
{
    (void)state;
    struct req r;
    req_init(&r);
    reply_problem(&r, 500, "internal", "boom");
    json_t *j = body_of(&r);
    assert_string_equal(str_member(j, "title"), "Internal Server Error");
    assert_int_equal(json_integer_value(json_object_get(j, "status")), 500);
    json_decref(j);
    req_release(&r);
}

static void test_status_titles(void **state)
{
    (void)state;
    assert_string_equal(http_status_title(401), "Unauthorized");
    assert_string_equal(http_status_title(403), "Forbidden");
    assert_string_equal(http_status_title(405), "Method Not Allowed");
    assert_string_equal(http_status_title(415), "Unsupported Media Type");
    assert_string_equal(http_status_title(423), "Locked");
    assert_string_equal(http_status_title(503), "Service Unavailable");
    assert_string_equal(http_status_title(418), "Client Error");
    assert_string_equal(http_status_title(599), "Server Error");
}

static void test_req_memory_helpers(void **state)
{
    (void)state;
    struct req r;
    req_init(&r);
    char *s = req_strdup(&r, "hello");
    assert_string_equal(s, "hello");
    char *p = req_printf(&r, "%s-%d", "n", 7);
    assert_string_equal(p, "n-7");
    /* longer than req_printf's stack buffer */
    char *q = req_printf(&r, "%0300d", 1);
    assert_int_equal(strlen(q), 300);
    assert_int_equal(q[299], '1');
    int *z = req_alloc(&r, 40 * sizeof(int));
    for (int i = 0; i < 40; i++)
        assert_int_equal(z[i], 0);
    for (int i = 0; i < 20; i++)
        req_own_json(&r, json_integer(i));
    assert_int_equal(r.ncleanups, 24);
    reply_header(&r, "Retry-After", "5");
    assert_int_equal(r.nheaders, 1);
    assert_string_equal(r.headers[0].name, "Retry-After");
    assert_string_equal(r.headers[0].value, "5");
    req_release(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_problem_404),           cmocka_unit_test(test_problem_errors_422),
        cmocka_unit_test(test_problem_errors_null),   cmocka_unit_test(test_problem_extra),
        cmocka_unit_test(test_first_reply_wins),      cmocka_unit_test(test_field_error),
        cmocka_unit_test(test_invalid_utf8_detail),   cmocka_unit_test(test_detail_quotes_escaped),
        cmocka_unit_test(test_long_detail_truncated), cmocka_unit_test(test_500_title),
        cmocka_unit_test(test_status_titles),         cmocka_unit_test(test_req_memory_helpers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
