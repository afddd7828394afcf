/* The webhooks' address rule and URL check (src/io/outbound.c), and the
 * signature helper (src/auth/hmac.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <cmocka.h>

#include "deliveryd/auth.h"
#include "deliveryd/outbound.h"

static bool blocked(const char *text)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    if (strchr(text, ':')) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        assert_int_equal(inet_pton(AF_INET6, text, &a->sin6_addr), 1);
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        assert_int_equal(inet_pton(AF_INET, text, &a->sin_addr), 1);
    }
    return outbound_addr_blocked((struct sockaddr *)&ss);
}

static void test_blocked_addresses(void **state)
{
    (void)state;
    const char *no[] = {"127.0.0.1", "127.255.0.9", "10.0.0.1", "10.255.255.255", "172.16.0.1",
                        "172.31.255.254", "192.168.0.1", "100.64.0.1", "100.127.255.255",
                        "169.254.169.254", "0.0.0.0", "0.1.2.3", "224.0.0.1", "239.1.1.1",
                        "255.255.255.255", "240.0.0.1", "::", "::1", "fc00::1", "fdff::1",
                        "fe80::1", "febf::1", "ff02::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1",
                        "64:ff9b::a00:1", "::127.0.0.1"};
    const char *yes[] = {"8.8.8.8", "1.1.1.1", "172.15.255.255", "172.32.0.1", "100.63.255.255",
                         "100.128.0.1", "192.169.0.1", "169.253.1.1", "11.0.0.1", "126.0.0.1",
                         "223.255.255.255", "2001:4860:4860::8888", "2a00:1450::1",
                         "::ffff:8.8.8.8", "64:ff9b::808:808"};
    for (size_t i = 0; i < sizeof no / sizeof *no; i++)
        if (!blocked(no[i])) fail_msg("%s should be blocked", no[i]);
    for (size_t i = 0; i < sizeof yes / sizeof *yes; i++)
        if (blocked(yes[i])) fail_msg("%s should be allowed", yes[i]);
}

static void test_url_shape(void **state)
{
    (void)state;
    char why[256];
    /* shape only (allow_private: no DNS) */
    assert_int_equal(outbound_url_check("https://erp.example.com/hook?x=1", true, why, sizeof why), 0);
    assert_int_equal(outbound_url_check("http://127.0.0.1:8080/x", true, why, sizeof why), 0);
    assert_int_equal(outbound_url_check("ftp://example.com/", true, why, sizeof why), -1);
    assert_int_equal(outbound_url_check("gopher://example.com/", true, why, sizeof why), -1);
    assert_int_equal(outbound_url_check("http://u:p@example.com/", true, why, sizeof why), -1);
    assert_non_null(strstr(why, "user"));
    assert_int_equal(outbound_url_check("http://u@example.com/", true, why, sizeof why), -1);
    assert_int_equal(outbound_url_check("example.com/x", true, why, sizeof why), -1);
    assert_int_equal(outbound_url_check("http://", true, why, sizeof why), -1);
    char longurl[OUTBOUND_URL_MAX + 40];
    memset(longurl, 'a', sizeof longurl - 1);
    longurl[sizeof longurl - 1] = '\0';
    memcpy(longurl, "http://a.example/", 17);
    assert_int_equal(outbound_url_check(longurl, true, why, sizeof why), -1);
    /* literal addresses need no DNS */
    assert_int_equal(outbound_url_check("http://127.0.0.1/", false, why, sizeof why), -1);
    assert_int_equal(outbound_url_check("http://[::1]:80/", false, why, sizeof why), -1);
    assert_int_equal(outbound_url_check("http://169.254.169.254/", false, why, sizeof why), -1);
    assert_int_equal(outbound_url_check("http://8.8.8.8/", false, why, sizeof why), 0);
}

static void test_signature(void **state)
{
    (void)state;
    /* python3: hmac.new(b"key", b"1700000000.{}", hashlib.sha256).hexdigest() */
    char hex[65];
    hmac_sha256_ts_hex("key", "1700000000", "{}", 2, hex);
    assert_string_equal(hex, "9d713ed406bb7076d4123f0dc2c39d2df5c654ed4b0cd56b52c8b4c940bd63ae");
    char s1[65], s2[65];
    random_hex32(s1);
    random_hex32(s2);
    assert_int_equal(strlen(s1), 64);
    assert_string_not_equal(s1, s2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_blocked_addresses),
        cmocka_unit_test(test_url_shape),
        cmocka_unit_test(test_signature),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
