/* router_match(): pure matching of method + path against a route table. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "deliveryd/http.h"

static void dummy(struct req *r)
{
    (void)r;
}

#define V1 "/api/v1"
enum {
    R_ORDERS_LIST,
    R_ORDERS_CREATE,
    R_ORDERS_EXPORT,
    R_ORDER_GET,
    R_ORDER_PATCH,
    R_ORDER_DELETE,
    R_ORDER_DELETE_REF, /* same method again for the same paths: Allow lists DELETE once */
    R_SETTING_GET,
    R_ORDER_ITEM,
    R_HEALTH,
    R_DUP_FIRST,
    R_DUP_SECOND,
    R_ONLY_PUT,
    R_COUNT
};

static const struct route table[] = {
    [R_ORDERS_LIST] = {"GET", V1 "/orders", dummy, ROLE_ANY, 0, 0},
    [R_ORDERS_CREATE] = {"POST", V1 "/orders", dummy, ROLE_STAFF, 0, ROUTE_JSON},
    [R_ORDERS_EXPORT] = {"GET", V1 "/orders/export", dummy, ROLE_STAFF, 0, 0},
    [R_ORDER_GET] = {"GET", V1 "/orders/{id}", dummy, ROLE_ANY, 0, 0},
    [R_ORDER_PATCH] = {"PATCH", V1 "/orders/{id}", dummy, ROLE_STAFF, 0, ROUTE_JSON},
    [R_ORDER_DELETE] = {"DELETE", V1 "/orders/{id}", dummy, ROLE_ADMIN, 0, 0},
    [R_ORDER_DELETE_REF] = {"DELETE", V1 "/orders/{ref}", dummy, ROLE_ADMIN, 0, 0},
    [R_SETTING_GET] = {"GET", V1 "/settings/{key}", dummy, ROLE_ADMIN, 0, 0},
    [R_ORDER_ITEM] = {"POST", V1 "/orders/{id}/items/{key}", dummy, ROLE_STAFF, 0, 0},
    [R_HEALTH] = {"GET", "/health", dummy, ROLE_PUBLIC, 0, ROUTE_NO_LIMIT},
    [R_DUP_FIRST] = {"GET", "/dup/{id}", dummy, ROLE_PUBLIC, 0, 0},
    [R_DUP_SECOND] = {"GET", "/dup/{id}", dummy, ROLE_PUBLIC, 0, 0},
    [R_ONLY_PUT] = {"PUT", "/only-put", dummy, ROLE_ANY, 0, 0},
};
#define NTABLE (sizeof table / sizeof table[0])

static int match(const char *method, const char *path, struct route_match *m)
{
    return router_match(table, NTABLE, method, path, m);
}

/* Asserts that method path matches route index with nparams parameters, the
 * first of them the id id0 (0: not an id) at offset off0 of length len0. */
static void assert_match_first_param(const char *method, const char *path, int index, int nparams,
                                     long long id0, size_t off0, size_t len0, struct route_match *m)
{
    assert_int_equal(match(method, path, m), MATCH_OK);
    assert_int_equal(m->index, index);
    assert_int_equal(m->nparams, nparams);
    assert_int_equal(m->ids[0], id0);
    assert_int_equal(m->params[0].off, off0);
    assert_int_equal(m->params[0].len, len0);
}

static void test_table_size(void **state)
{
    (void)state;
    assert_int_equal(NTABLE, R_COUNT);
}

static void test_literal_match(void **state)
{
    (void)state;
    struct route_match m;
    assert_int_equal(match("GET", "/health", &m), MATCH_OK);
    assert_int_equal(m.index, R_HEALTH);
    assert_int_equal(m.nparams, 0);

    assert_int_equal(match("GET", V1 "/orders", &m), MATCH_OK);
    assert_int_equal(m.index, R_ORDERS_LIST);
    assert_int_equal(match("POST", V1 "/orders", &m), MATCH_OK);
    assert_int_equal(m.index, R_ORDERS_CREATE);
}

static void test_id_captures_positive_integer(void **state)
{
    (void)state;
    struct route_match m;
    const char *path = V1 "/orders/12345";
    assert_match_first_param("GET", path, R_ORDER_GET, 1, 12345, strlen(V1 "/orders/"), 5, &m);

    /* 18 digits is the longest accepted id */
    assert_int_equal(match("PATCH", V1 "/orders/123456789012345678", &m), MATCH_OK);
    assert_int_equal(m.index, R_ORDER_PATCH);
    assert_int_equal(m.ids[0], 123456789012345678LL);

    assert_int_equal(match("GET", V1 "/orders/1", &m), MATCH_OK);
    assert_int_equal(m.ids[0], 1);
}

static void test_id_rejects_bad_values(void **state)
{
    (void)state;
    struct route_match m;
    /* GET has no {ref} twin, so it answers 405 only when DELETE {ref} takes the
     * segment and 404 when nothing takes it; PATCH exists only on {id}. */
    static const struct {
        const char *path;
        int get_rc;
    } bad[] = {
        {V1 "/orders/0", MATCH_BAD_METHOD},
        {V1 "/orders/-5", MATCH_BAD_METHOD},
        {V1 "/orders/12a", MATCH_BAD_METHOD},
        {V1 "/orders/abc", MATCH_BAD_METHOD},
        {V1 "/orders/1.5", MATCH_BAD_METHOD},
        {V1 "/orders/+7", MATCH_BAD_METHOD},
        {V1 "/orders/1234567890123456789", MATCH_BAD_METHOD}, /* 19 digits */
        {V1 "/orders/", MATCH_NOT_FOUND},                     /* empty segment */
        {V1 "/orders//items/x", MATCH_NOT_FOUND},             /* empty segment inside */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = match("PATCH", bad[i].path, &m);
        if (rc == MATCH_OK) fail_msg("%s matched route %d", bad[i].path, m.index);
        assert_int_equal(m.index, -1);
        rc = match("GET", bad[i].path, &m);
        if (rc != bad[i].get_rc) fail_msg("GET %s: %d, want %d", bad[i].path, rc, bad[i].get_rc);
        assert_int_equal(m.index, -1);
    }
}

static void test_string_param(void **state)
{
    (void)state;
    struct route_match m;
    const char *path = V1 "/settings/max_page_size";
    assert_match_first_param("GET", path, R_SETTING_GET, 1, 0, strlen(V1 "/settings/"),
                             strlen("max_page_size"), &m);
    assert_memory_equal(path + m.params[0].off, "max_page_size", m.params[0].len);

    /* a non-id param takes digits too, but not an empty segment */
    assert_int_equal(match("GET", V1 "/settings/0", &m), MATCH_OK);
    assert_int_equal(m.params[0].len, 1);
    assert_int_equal(match("GET", V1 "/settings/", &m), MATCH_NOT_FOUND);
    /* one segment only */
    assert_int_equal(match("GET", V1 "/settings/a/b", &m), MATCH_NOT_FOUND);
}

static void test_two_params(void **state)
{
    (void)state;
    struct route_match m;
    const char *path = V1 "/orders/77/items/sku-9";
    assert_match_first_param("POST", path, R_ORDER_ITEM, 2, 77, strlen(V1 "/orders/"), 2, &m);
    assert_int_equal(m.params[1].off, strlen(V1 "/orders/77/items/"));
    assert_int_equal(m.params[1].len, 5);
    assert_memory_equal(path + m.params[1].off, "sku-9", 5);

    /* the id part still has to be a positive integer */
    assert_int_equal(match("POST", V1 "/orders/x/items/sku-9", &m), MATCH_NOT_FOUND);
}

static void test_trailing_slash_and_unknown(void **state)
{
    (void)state;
    struct route_match m;
    assert_int_equal(match("GET", "/health/", &m), MATCH_NOT_FOUND);
    assert_int_equal(m.index, -1);
    assert_int_equal(match("GET", V1 "/orders/5/", &m), MATCH_NOT_FOUND);
    assert_int_equal(match("GET", "/nope", &m), MATCH_NOT_FOUND);
    assert_string_equal(m.allow, "");
    assert_int_equal(match("GET", "", &m), MATCH_NOT_FOUND);
    assert_int_equal(match("GET", "/healthz", &m), MATCH_NOT_FOUND);
    assert_int_equal(match("GET", "/healt", &m), MATCH_NOT_FOUND);
}

static void test_405_allow(void **state)
{
    (void)state;
    struct route_match m;
    /* GET, PATCH, DELETE ({id}) and DELETE again ({ref}): DELETE listed once */
    assert_int_equal(match("PUT", V1 "/orders/7", &m), MATCH_BAD_METHOD);
    assert_int_equal(m.index, -1);
    assert_string_equal(m.allow, "GET, PATCH, DELETE, HEAD, OPTIONS");

    assert_int_equal(match("DELETE", V1 "/orders", &m), MATCH_BAD_METHOD);
    assert_string_equal(m.allow, "GET, POST, HEAD, OPTIONS");

    /* no GET: no HEAD either */
    assert_int_equal(match("GET", "/only-put", &m), MATCH_BAD_METHOD);
    assert_string_equal(m.allow, "PUT, OPTIONS");
    assert_int_equal(match("HEAD", "/only-put", &m), MATCH_BAD_METHOD);
    assert_string_equal(m.allow, "PUT, OPTIONS");

    /* only the {ref} route matches a non-numeric segment besides export */
    assert_int_equal(match("POST", V1 "/orders/abc", &m), MATCH_BAD_METHOD);
    assert_string_equal(m.allow, "DELETE, OPTIONS");
}

static void test_head_matches_get(void **state)
{
    (void)state;
    struct route_match m;
    assert_int_equal(match("HEAD", V1 "/orders/9", &m), MATCH_OK);
    assert_int_equal(m.index, R_ORDER_GET);
    assert_int_equal(m.ids[0], 9);
    assert_int_equal(match("HEAD", "/health", &m), MATCH_OK);
    assert_int_equal(m.index, R_HEALTH);
}

static void test_export_vs_id(void **state)
{
    (void)state;
    struct route_match m;
    assert_int_equal(match("GET", V1 "/orders/export", &m), MATCH_OK);
    assert_int_equal(m.index, R_ORDERS_EXPORT);
    assert_int_equal(m.nparams, 0);
    assert_int_equal(match("GET", V1 "/orders/42", &m), MATCH_OK);
    assert_int_equal(m.index, R_ORDER_GET);
    assert_int_equal(m.ids[0], 42);
    /* "export" is not an id: PATCH on it is 405 (DELETE {ref} and GET export exist) */
    assert_int_equal(match("PATCH", V1 "/orders/export", &m), MATCH_BAD_METHOD);
    assert_string_equal(m.allow, "GET, DELETE, HEAD, OPTIONS");
    assert_int_equal(match("GET", V1 "/orders/exports", &m), MATCH_BAD_METHOD);
}

static void test_first_match_wins(void **state)
{
    (void)state;
    struct route_match m;
    assert_int_equal(match("GET", "/dup/3", &m), MATCH_OK);
    assert_int_equal(m.index, R_DUP_FIRST);
    /* {id} DELETE comes before {ref} DELETE */
    assert_int_equal(match("DELETE", V1 "/orders/3", &m), MATCH_OK);
    assert_int_equal(m.index, R_ORDER_DELETE);
    assert_int_equal(m.ids[0], 3);
    /* a non-numeric segment falls through to {ref} */
    assert_int_equal(match("DELETE", V1 "/orders/ab-3", &m), MATCH_OK);
    assert_int_equal(m.index, R_ORDER_DELETE_REF);
    assert_int_equal(m.ids[0], 0);
    assert_int_equal(m.params[0].len, 4);
}

static void test_empty_table(void **state)
{
    (void)state;
    struct route_match m;
    assert_int_equal(router_match(table, 0, "GET", "/health", &m), MATCH_NOT_FOUND);
    assert_int_equal(m.index, -1);
}

static void test_daemon_table(void **state)
{
    (void)state;
    struct route_match m;
    assert_true(g_nroutes > 0);
    assert_int_equal(router_match(g_routes, g_nroutes, "GET", "/health", &m), MATCH_OK);
    assert_string_equal(g_routes[m.index].pattern, "/health");
    assert_int_equal(router_match(g_routes, g_nroutes, "POST", "/health", &m), MATCH_BAD_METHOD);
    assert_non_null(strstr(m.allow, "GET"));
    assert_non_null(strstr(m.allow, "OPTIONS"));
    /* every pattern is absolute and its braces are balanced */
    for (size_t i = 0; i < g_nroutes; i++) {
        const char *p = g_routes[i].pattern;
        assert_int_equal(p[0], '/');
        int depth = 0;
        for (; *p; p++) {
            if (*p == '{') depth++;
            if (*p == '}') depth--;
            assert_true(depth == 0 || depth == 1);
        }
        assert_int_equal(depth, 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_size),
        cmocka_unit_test(test_literal_match),
        cmocka_unit_test(test_id_captures_positive_integer),
        cmocka_unit_test(test_id_rejects_bad_values),
        cmocka_unit_test(test_string_param),
        cmocka_unit_test(test_two_params),
        cmocka_unit_test(test_trailing_slash_and_unknown),
        cmocka_unit_test(test_405_allow),
        cmocka_unit_test(test_head_matches_get),
        cmocka_unit_test(test_export_vs_id),
        cmocka_unit_test(test_first_match_wins),
        cmocka_unit_test(test_empty_table),
        cmocka_unit_test(test_daemon_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
