/* microcache: TTL expiry, clear by prefix, and the single refresh of an
 * expired entry (microcache_get_or_refresh). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "deliveryd/microcache.h"

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int teardown(void **state)
{
    (void)state;
    microcache_free();
    return 0;
}

static void fresh_entries_are_returned_until_their_ttl(void **state)
{
    (void)state;
    size_t len = 0;
    microcache_put("t:a", "12345", 5, 0.05);
    char *v = microcache_get("t:a", &len);
    assert_non_null(v);
    assert_int_equal(len, 5);
    assert_memory_equal(v, "12345", 5);
    free(v);
    assert_null(microcache_get("t:b", &len));
    sleep_ms(80);
    assert_null(microcache_get("t:a", &len));
}

static void clear_drops_entries_by_prefix(void **state)
{
    (void)state;
    size_t len;
    microcache_put("cnt:x", "1", 1, 60);
    microcache_put("map:all", "[]", 2, 60);
    microcache_clear("cnt:");
    assert_null(microcache_get("cnt:x", &len));
    char *v = microcache_get("map:all", &len);
    assert_non_null(v);
    free(v);
}

static void an_expired_entry_is_refreshed_by_one_caller(void **state)
{
    (void)state;
    size_t len = 0;
    /* nothing cached: every caller computes */
    assert_null(microcache_get_or_refresh("cnt:r", &len));
    assert_null(microcache_get_or_refresh("cnt:r", &len));

    microcache_put("cnt:r", "100", 3, 0.05);
    char *v = microcache_get_or_refresh("cnt:r", &len);
    assert_non_null(v); /* fresh */
    free(v);
    sleep_ms(80);
    /* expired: the first caller refreshes, the next ones keep the old value */
    assert_null(microcache_get_or_refresh("cnt:r", &len));
    v = microcache_get_or_refresh("cnt:r", &len);
    assert_non_null(v);
    assert_memory_equal(v, "100", 3);
    free(v);
    /* the refresher stores the new value; everyone gets it */
    microcache_put("cnt:r", "101", 3, 60);
    v = microcache_get_or_refresh("cnt:r", &len);
    assert_non_null(v);
    assert_memory_equal(v, "101", 3);
    free(v);
    /* a write clears it: the next caller computes even if a refresh was claimed */
    microcache_clear("cnt:");
    assert_null(microcache_get_or_refresh("cnt:r", &len));
    microcache_clear("cnt:");
    assert_null(microcache_get_or_refresh("cnt:r", &len));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(fresh_entries_are_returned_until_their_ttl, teardown),
        cmocka_unit_test_teardown(clear_drops_entries_by_prefix, teardown),
        cmocka_unit_test_teardown(an_expired_entry_is_refreshed_by_one_caller, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
