/* config_load() through a fake environment, config_cors_allows(). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "deliveryd/config.h"

#define SECRET32 "0123456789abcdef0123456789abcdef"
#define DBURL "postgresql://deliveryd@localhost/deliveryd"

/* The fake environment: name/value pairs, NULL-terminated. */
static const char *const *g_env;

static char *fake_get(const char *name)
{
    for (const char *const *e = g_env; e && e[0]; e += 2)
        if (strcmp(e[0], name) == 0) return (char *)e[1];
    return NULL;
}

static int load(const char *const *env, unsigned need, char *err, size_t errlen)
{
    g_env = env;
    err[0] = '\0';
    return config_load(fake_get, need, err, errlen);
}

static int teardown(void **state)
{
    (void)state;
    config_free();
    g_env = NULL;
    return 0;
}

static void test_defaults(void **state)
{
    (void)state;
    static const char *const env[] = {NULL};
    char err[256];
    assert_int_equal(load(env, NEED_NONE, err, sizeof err), 0);
    assert_int_equal(g_cfg.port, 8080);
    assert_string_equal(g_cfg.bind_address, "127.0.0.1");
    assert_int_equal(g_cfg.threads, 8);
    assert_string_equal(g_cfg.storage_dir, "var/storage");
    assert_string_equal(g_cfg.migrations_dir, "migrations");
    assert_string_equal(g_cfg.schema_dir, "sql/schema");
    assert_string_equal(g_cfg.log_level_name, "info");
    assert_int_equal(g_cfg.log_level, LOG_INFO);
    assert_int_equal(g_cfg.connection_limit, 4000);
    assert_int_equal(g_cfg.connection_timeout, 30);
    assert_int_equal(g_cfg.db_pool_statement_timeout_ms, 15000);
    assert_null(g_cfg.database_url);
    assert_null(g_cfg.redis_url);
    assert_null(g_cfg.jwt_secret);
    assert_null(g_cfg.cron_secret);
}

/* SCHEMA_DIR unset: sql/schema beside MIGRATIONS_DIR; set: as given. */
static void test_schema_dir(void **state)
{
    (void)state;
    static const struct {
        const char *migrations, *schema;
    } cases[] = {
        {"/opt/deliveryd/current/migrations", "/opt/deliveryd/current/sql/schema"},
        {"/opt/deliveryd/current/migrations//", "/opt/deliveryd/current/sql/schema"},
        {"./migrations", "./sql/schema"},
        {"/migrations", "/sql/schema"},
    };
    char err[256];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *const env[] = {"MIGRATIONS_DIR", cases[i].migrations, NULL};
        assert_int_equal(load(env, NEED_NONE, err, sizeof err), 0);
        assert_string_equal(g_cfg.schema_dir, cases[i].schema);
    }
    static const char *const env[] = {"MIGRATIONS_DIR", "/a/migrations", "SCHEMA_DIR",
                                      "/b/schema", NULL};
    assert_int_equal(load(env, NEED_NONE, err, sizeof err), 0);
    assert_string_equal(g_cfg.schema_dir, "/b/schema");
}

static void test_values_read(void **state)
{
    (void)state;
    static const char *const env[] = {"DATABASE_URL",
                                      DBURL,
                                      "JWT_SECRET",
                                      SECRET32,
                                      "PORT",
                                      "9090",
                                      "THREADS",
                                      "3",
                                      "BIND_ADDRESS",
                                      "0.0.0.0",
                                      "LOG_LEVEL",
                                      "debug",
                                      "REDIS_URL",
                                      "redis://127.0.0.1:6379",
                                      NULL};
    char err[256];
    assert_int_equal(load(env, NEED_DATABASE | NEED_JWT, err, sizeof err), 0);
    assert_string_equal(g_cfg.database_url, DBURL);
    assert_string_equal(g_cfg.jwt_secret, SECRET32);
    assert_string_equal(g_cfg.redis_url, "redis://127.0.0.1:6379");
    assert_int_equal(g_cfg.port, 9090);
    assert_int_equal(g_cfg.threads, 3);
    assert_string_equal(g_cfg.bind_address, "0.0.0.0");
    assert_int_equal(g_cfg.log_level, LOG_DEBUG);
    /* the strings are copies, not the getter's pointers */
    assert_ptr_not_equal(g_cfg.database_url, env[1]);
}

static void test_missing_database_url(void **state)
{
    (void)state;
    static const char *const env[] = {"JWT_SECRET", SECRET32, NULL};
    char err[256];
    assert_int_equal(load(env, NEED_DATABASE | NEED_JWT, err, sizeof err), -1);
    assert_non_null(strstr(err, "DATABASE_URL"));
    /* not needed: fine */
    assert_int_equal(load(env, NEED_JWT, err, sizeof err), 0);
    assert_null(g_cfg.database_url);
}

static void test_missing_jwt_secret(void **state)
{
    (void)state;
    static const char *const env[] = {"DATABASE_URL", DBURL, NULL};
    char err[256];
    assert_int_equal(load(env, NEED_DATABASE | NEED_JWT, err, sizeof err), -1);
    assert_non_null(strstr(err, "JWT_SECRET"));
    assert_null(strstr(err, "DATABASE_URL"));
    assert_int_equal(load(env, NEED_DATABASE, err, sizeof err), 0);
}

static void test_short_jwt_secret(void **state)
{
    (void)state;
    static const char *const env31[] = {"JWT_SECRET", "0123456789abcdef0123456789abcde", NULL};
    static const char *const env32[] = {"JWT_SECRET", SECRET32, NULL};
    char err[256];
    assert_int_equal(strlen(env31[1]), 31);
    assert_int_equal(load(env31, NEED_JWT, err, sizeof err), -1);
    assert_non_null(strstr(err, "JWT_SECRET"));
    /* refused even when not needed: a set secret must be usable */
    assert_int_equal(load(env31, NEED_NONE, err, sizeof err), -1);
    assert_int_equal(load(env32, NEED_JWT, err, sizeof err), 0);
    assert_string_equal(g_cfg.jwt_secret, SECRET32);
}

static void test_bad_port(void **state)
{
    (void)state;
    static const char *const bad[] = {"0", "70000", "abc", "-1", "80x", "65536"};
    char err[256];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *env[] = {"PORT", bad[i], NULL};
        if (load(env, NEED_NONE, err, sizeof err) != -1) fail_msg("PORT=%s accepted", bad[i]);
        assert_non_null(strstr(err, "PORT"));
        config_free();
    }
    const char *env[] = {"PORT", "65535", NULL};
    assert_int_equal(load(env, NEED_NONE, err, sizeof err), 0);
    assert_int_equal(g_cfg.port, 65535);
    env[1] = "1";
    assert_int_equal(load(env, NEED_NONE, err, sizeof err), 0);
    assert_int_equal(g_cfg.port, 1);
}

static void test_bad_threads(void **state)
{
    (void)state;
    static const char *const env[] = {"THREADS", "0", NULL};
    char err[256];
    assert_int_equal(load(env, NEED_NONE, err, sizeof err), -1);
    assert_non_null(strstr(err, "THREADS"));
}

static void test_bad_log_level(void **state)
{
    (void)state;
    static const char *const env[] = {"LOG_LEVEL", "loud", NULL};
    char err[256];
    assert_int_equal(load(env, NEED_NONE, err, sizeof err), -1);
    assert_non_null(strstr(err, "LOG_LEVEL"));

    static const char *const levels[] = {"debug", "info", "warn", "error"};
    static const enum log_level want[] = {LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR};
    for (size_t i = 0; i < 4; i++) {
        const char *e[] = {"LOG_LEVEL", levels[i], NULL};
        assert_int_equal(load(e, NEED_NONE, err, sizeof err), 0);
        assert_int_equal(g_cfg.log_level, want[i]);
    }
}

static void test_empty_is_unset(void **state)
{
    (void)state;
    static const char *const env[] = {"DATABASE_URL", "", "JWT_SECRET", SECRET32, "PORT", "",
                                      "BIND_ADDRESS", "", "LOG_LEVEL",  "",       NULL};
    char err[256];
    assert_int_equal(load(env, NEED_DATABASE, err, sizeof err), -1);
    assert_non_null(strstr(err, "DATABASE_URL"));
    config_free();
    assert_int_equal(load(env, NEED_JWT, err, sizeof err), 0);
    assert_null(g_cfg.database_url);
    assert_int_equal(g_cfg.port, 8080);
    assert_string_equal(g_cfg.bind_address, "127.0.0.1");
    assert_int_equal(g_cfg.log_level, LOG_INFO);
    /* an empty JWT_SECRET is missing, not "too short" */
    static const char *const env2[] = {"JWT_SECRET", "", NULL};
    assert_int_equal(load(env2, NEED_JWT, err, sizeof err), -1);
    assert_non_null(strstr(err, "required"));
}

static void test_reload_replaces(void **state)
{
    (void)state;
    static const char *const a[] = {"DATABASE_URL", "postgresql://a", NULL};
    static const char *const b[] = {NULL};
    char err[256];
    assert_int_equal(load(a, NEED_NONE, err, sizeof err), 0);
    assert_string_equal(g_cfg.database_url, "postgresql://a");
    assert_int_equal(load(b, NEED_NONE, err, sizeof err), 0);
    assert_null(g_cfg.database_url);
}

static void test_cors_list(void **state)
{
    (void)state;
    static const char *const env[] = {"CORS_ORIGINS", "http://a.test, http://b.test", NULL};
    char err[256];
    assert_int_equal(load(env, NEED_NONE, err, sizeof err), 0);
    assert_true(config_cors_allows("http://a.test"));
    assert_true(config_cors_allows("http://b.test"));
    assert_false(config_cors_allows("http://a.tes"));
    assert_false(config_cors_allows("http://b.tes"));
    assert_false(config_cors_allows("http://a.test.evil"));
    assert_false(config_cors_allows("http://a.test, http://b.test"));
    assert_false(config_cors_allows("https://a.test"));
    assert_false(config_cors_allows("http://c.test"));
    assert_false(config_cors_allows(" http://a.test"));
    assert_false(config_cors_allows(""));
    assert_false(config_cors_allows(NULL));
}

static void test_cors_star(void **state)
{
    (void)state;
    static const char *const env[] = {"CORS_ORIGINS", "*", NULL};
    char err[256];
    assert_int_equal(load(env, NEED_NONE, err, sizeof err), 0);
    assert_true(config_cors_allows("http://anything.test"));
    assert_true(config_cors_allows("https://x.example:8443"));
    assert_false(config_cors_allows(""));
}

static void test_cors_empty(void **state)
{
    (void)state;
    static const char *const env[] = {"CORS_ORIGINS", "", NULL};
    char err[256];
    assert_int_equal(load(env, NEED_NONE, err, sizeof err), 0);
    assert_false(config_cors_allows("http://a.test"));
    assert_false(config_cors_allows("*"));
    config_free();
    /* after config_free nothing is allowed either */
    assert_false(config_cors_allows("http://a.test"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_defaults, teardown),
        cmocka_unit_test_teardown(test_values_read, teardown),
        cmocka_unit_test_teardown(test_schema_dir, teardown),
        cmocka_unit_test_teardown(test_missing_database_url, teardown),
        cmocka_unit_test_teardown(test_missing_jwt_secret, teardown),
        cmocka_unit_test_teardown(test_short_jwt_secret, teardown),
        cmocka_unit_test_teardown(test_bad_port, teardown),
        cmocka_unit_test_teardown(test_bad_threads, teardown),
        cmocka_unit_test_teardown(test_bad_log_level, teardown),
        cmocka_unit_test_teardown(test_empty_is_unset, teardown),
        cmocka_unit_test_teardown(test_reload_replaces, teardown),
        cmocka_unit_test_teardown(test_cors_list, teardown),
        cmocka_unit_test_teardown(test_cors_star, teardown),
        cmocka_unit_test_teardown(test_cors_empty, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
