/* Field validation (src/http/fields.c): phones, money, times, fv_parse. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "deliveryd/fields.h"

/* ---- phone_normalize ---- */

static void phone_ok(const char *in, const char *want)
{
    char out[32];
    memset(out, 'x', sizeof out);
    if (phone_normalize(in, out, sizeof out) != 0) fail_msg("phone \"%s\" refused", in);
    if (strcmp(out, want) != 0) fail_msg("phone \"%s\" -> \"%s\", want \"%s\"", in, out, want);
}

static void phone_bad(const char *in)
{
    char out[32];
    if (phone_normalize(in, out, sizeof out) == 0)
        fail_msg("phone \"%s\" accepted as \"%s\"", in, out);
}

static void test_phone_kuwait(void **state)
{
    (void)state;
    phone_ok("50012345", "+96550012345");
    phone_ok("96550012345", "+96550012345");
    phone_ok("0096550012345", "+96550012345");
    phone_ok("+96550012345", "+96550012345");
    phone_ok("+965 5001-2345", "+96550012345");
    phone_ok("+965 5001 2345", "+96550012345");
    phone_ok("50012345.0", "+96550012345");
    phone_ok("22345678", "+96522345678");
    phone_ok("60012345", "+96560012345");
    phone_ok("90012345", "+96590012345");
}

static void test_phone_kuwait_rejected(void **state)
{
    (void)state;
    phone_bad("10012345"); /* bad first digit */
    phone_bad("30012345");
    phone_bad("5001234");     /* 7 digits */
    phone_bad("+9655001234"); /* +965 with the wrong length */
    phone_bad("+965500123456");
    phone_bad("abc");
    phone_bad("");
    phone_bad("   ");
    phone_bad("50012345.5");
    phone_bad("5001x2345");
    phone_bad("96510012345"); /* 965 then a bad first digit */
}

static void test_phone_arabic_indic_digits(void **state)
{
    (void)state;
    /* as typed on an Arabic keyboard (U+0660-U+0669) and in Persian/Urdu
     * (U+06F0-U+06F9), alone or mixed with ASCII digits and separators */
    phone_ok("\u0665\u0660\u0660\u0660\u0661\u0662\u0663\u0667", "+96550001237");
    phone_ok("+\u0669\u0666\u0665 \u0665\u0660\u0660\u0661-\u0662\u0663\u0664\u0665",
             "+96550012345");
    phone_ok("\u06f6\u06f0\u06f0\u06f1\u06f2\u06f3\u06f4\u06f5", "+96560012345");
    phone_ok("5001\u0662\u0663\u0664\u0665", "+96550012345");
    phone_bad("\u0665\u0660\u0660\u0660\u0661\u0662\u0663"); /* 7 digits */
    phone_bad("\u0661\u0660\u0660\u0660\u0661\u0662\u0663\u0664"); /* starts with 1 */
    phone_bad("5001234\xd9");     /* a lone lead byte */
    phone_bad("5001234\xd9\xaa"); /* U+066A, the Arabic percent sign */
}

static void test_phone_international(void **state)
{
    (void)state;
    phone_ok("+447911123456", "+447911123456");
    phone_ok("00447911123456", "+447911123456");
    phone_ok("+44 7911 123456", "+447911123456");
    phone_bad("+12345");            /* too short */
    phone_bad("+1234567890123456"); /* 16 digits */
    phone_bad("+0447911123456");    /* country code cannot start with 0 */
    phone_bad("447911123456");      /* no + or 00: not international */
    char small[8];
    assert_int_equal(phone_normalize("50012345", small, sizeof small), -1);
}

/* ---- money_normalize ---- */

static void test_money(void **state)
{
    (void)state;
    static const char *const ok[][2] = {
        {"12.5", "12.500"}, {"0", "0.000"},     {"007.25", "7.250"},
        {"1.234", "1.234"}, {"100", "100.000"}, {"123456789", "123456789.000"},
        {"0.001", "0.001"}, {" 3.1 ", "3.100"},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        char out[32];
        if (money_normalize(ok[i][0], out, sizeof out) != 0) fail_msg("\"%s\" refused", ok[i][0]);
        assert_string_equal(out, ok[i][1]);
    }
    static const char *const bad[] = {"1.2345", "-1",  "1e3", "",      "1234567890", "1.",
                                      ".5",     "1,5", "abc", "1.2.3", "+1",         "0x10"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char out[32];
        if (money_normalize(bad[i], out, sizeof out) == 0)
            fail_msg("\"%s\" accepted as \"%s\"", bad[i], out);
    }
}

/* ---- looks_like_time ---- */

static void test_time(void **state)
{
    (void)state;
    static const char *const ok[] = {
        "2026-11-24T08:15:00Z", "2026-11-24T08:15:00.123+03:00", "2026-11-24",
        "2026-11-24 08:15",     "2026-11-24T08:15:00-05:30",     "2024-02-29",
        "2000-02-29",           "2026-11-24T08:15:00+14:00",     "2026-11-24T08:15:00-1200",
        "0001-01-01",           "2026-11-24T08:15:00+15:59"};
    static const char *const bad[] = {
        "2026-11-24T8:15",      "yesterday",   "2026-11-24T08:15:00Zjunk", "",
        "2026-1-24",            "2026-11-24T", "2026-11-24T08:15:00.",     "2026-11-24T08:15:00+3",
        "2026-11-24x",          "2024-02-30",  "2023-02-29",               "1900-02-29",
        "2024-04-31",           "0000-01-01",  "2026-11-24T08:15:00+16:00",
        "2026-11-24T08:15:00+99:99", "2026-11-24T08:15:00-03:60", "2026-11-24T08:15+1560", "2024-01-01T10:00+05:", "2024-01-01T10:00+05:3"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (!looks_like_time(ok[i])) fail_msg("\"%s\" refused", ok[i]);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (looks_like_time(bad[i])) fail_msg("\"%s\" accepted", bad[i]);
}

/* ---- fv_parse ---- */

static const char *const statuses[] = {"pending", "done", NULL};

/* clang-format off */
enum { F_NAME, F_COUNT, F_LAT, F_ACTIVE, F_AMOUNT, F_STATUS, F_PHONE, F_AT, F_INFO, F_IDS,
       F_PASSWORD, F_NOTES, F_AREA, F_N };
/* clang-format on */

static const struct fv_field fields[] = {
    [F_NAME] = {"name", FV_STRING, FV_REQUIRED | FV_NONBLANK, 0, 0, 10, NULL},
    [F_COUNT] = {"count", FV_INT, 0, 1, 100, 0, NULL},
    [F_LAT] = {"lat", FV_NUMBER, 0, -90, 90, 0, NULL},
    [F_ACTIVE] = {"active", FV_BOOL, 0, 0, 0, 0, NULL},
    [F_AMOUNT] = {"amount", FV_MONEY, 0, 0, 0, 0, NULL},
    [F_STATUS] = {"status", FV_ENUM, 0, 0, 0, 0, statuses},
    [F_PHONE] = {"phone", FV_PHONE, 0, 0, 0, 0, NULL},
    [F_AT] = {"at", FV_TIME, 0, 0, 0, 0, NULL},
    [F_INFO] = {"info", FV_OBJECT, 0, 0, 0, 0, NULL},
    [F_IDS] = {"ids", FV_ID_ARRAY, 0, 0, 3, 0, NULL},
    [F_PASSWORD] = {"password", FV_PASSWORD, 0, 0, 0, 64, NULL},
    [F_NOTES] = {"notes", FV_STRING, FV_NULLABLE, 0, 0, 0, NULL},
    [F_AREA] = {"area", FV_STRING, 0, 0, 0, 0, NULL},
};

/* Result of validating one field alone. */
struct one {
    size_t nerr;
    bool present;
    bool invalid;
    bool text_null;
    char text[128];
    char msg[128];
};

/* Validates {fields[i].name: v} (v stolen; NULL: key absent) against field i only. */
static struct one run1(int i, json_t *v)
{
    struct one o;
    memset(&o, 0, sizeof o);
    json_t *obj = json_object();
    if (v) json_object_set_new(obj, fields[i].name, v);
    json_t *errs = json_array();
    struct fv_values vals;
    o.nerr = fv_parse(obj, &fields[i], 1, &vals, errs);
    assert_int_equal(json_array_size(errs), o.nerr);
    o.present = vals.present[0];
    o.invalid = vals.invalid[0];
    o.text_null = vals.text[0] == NULL;
    if (vals.text[0]) snprintf(o.text, sizeof o.text, "%s", vals.text[0]);
    if (o.nerr) {
        json_t *e = json_array_get(errs, 0);
        assert_string_equal(json_string_value(json_object_get(e, "field")), fields[i].name);
        snprintf(o.msg, sizeof o.msg, "%s", json_string_value(json_object_get(e, "message")));
        assert_true(o.msg[0] != '\0');
    }
    fv_values_free(&vals);
    json_decref(errs);
    json_decref(obj);
    return o;
}

#define EXPECT_OK(i, v, want)                                                                      \
    do {                                                                                           \
        struct one o_ = run1((i), (v));                                                            \
        if (o_.nerr) fail_msg("%s: unexpected error \"%s\"", fields[(i)].name, o_.msg);            \
        assert_true(o_.present && !o_.invalid);                                                    \
        assert_string_equal(o_.text, (want));                                                      \
    } while (0)

#define EXPECT_ERR(i, v)                                                                           \
    do {                                                                                           \
        struct one o_ = run1((i), (v));                                                            \
        if (o_.nerr != 1) fail_msg("%s: accepted as \"%s\"", fields[(i)].name, o_.text);           \
        assert_true(o_.present && o_.invalid); /* the key was there, its value is bad */          \
        assert_true(o_.text_null);                                                                 \
    } while (0)

static void test_fv_string(void **state)
{
    (void)state;
    EXPECT_OK(F_NAME, json_string("  Alice \n\t"), "Alice");
    EXPECT_OK(F_NAME, json_string("  1234567890  "), "1234567890"); /* max_len after trim */
    EXPECT_ERR(F_NAME, json_string("12345678901"));
    EXPECT_ERR(F_NAME, json_string("   "));
    EXPECT_ERR(F_NAME, json_string(""));
    EXPECT_ERR(F_NAME, json_integer(5));
    EXPECT_ERR(F_NAME, json_stringn("a\0b", 3));
    struct one o = run1(F_NAME, json_stringn("a\0b", 3));
    assert_non_null(strstr(o.msg, "NUL"));
    o = run1(F_NAME, NULL);
    assert_int_equal(o.nerr, 1);
    assert_string_equal(o.msg, "is required");
    /* not required, not nonblank: empty is fine, absent is fine */
    EXPECT_OK(F_AREA, json_string("  "), "");
    o = run1(F_AREA, NULL);
    assert_int_equal(o.nerr, 0);
    assert_false(o.present);
    assert_true(o.text_null);
}

static void test_fv_int_number_bool(void **state)
{
    (void)state;
    EXPECT_OK(F_COUNT, json_integer(1), "1");
    EXPECT_OK(F_COUNT, json_integer(100), "100");
    EXPECT_ERR(F_COUNT, json_integer(0));
    EXPECT_ERR(F_COUNT, json_integer(101));
    EXPECT_ERR(F_COUNT, json_real(5.5));
    EXPECT_ERR(F_COUNT, json_string("5"));
    EXPECT_OK(F_LAT, json_integer(-90), "-90");
    EXPECT_OK(F_LAT, json_real(90.0), "90");
    struct one o = run1(F_LAT, json_real(29.375));
    assert_int_equal(o.nerr, 0);
    assert_true(strtod(o.text, NULL) == 29.375);
    EXPECT_ERR(F_LAT, json_real(90.5));
    EXPECT_ERR(F_LAT, json_real(-91));
    EXPECT_ERR(F_LAT, json_string("29.3"));
    EXPECT_OK(F_ACTIVE, json_true(), "true");
    EXPECT_OK(F_ACTIVE, json_false(), "false");
    EXPECT_ERR(F_ACTIVE, json_integer(1));
    EXPECT_ERR(F_ACTIVE, json_string("true"));
}

static void test_fv_money(void **state)
{
    (void)state;
    EXPECT_OK(F_AMOUNT, json_real(12.5), "12.500");
    EXPECT_OK(F_AMOUNT, json_string("3.25"), "3.250");
    EXPECT_OK(F_AMOUNT, json_integer(7), "7.000");
    EXPECT_OK(F_AMOUNT, json_real(0.1), "0.100");
    EXPECT_OK(F_AMOUNT, json_real(1.005), "1.005");
    EXPECT_ERR(F_AMOUNT, json_real(1.2345));
    EXPECT_ERR(F_AMOUNT, json_real(-1.5));
    EXPECT_ERR(F_AMOUNT, json_integer(-1));
    EXPECT_ERR(F_AMOUNT, json_string("12,5"));
    EXPECT_ERR(F_AMOUNT, json_true());
}

static void test_fv_enum_phone_time(void **state)
{
    (void)state;
    EXPECT_OK(F_STATUS, json_string("done"), "done");
    EXPECT_OK(F_STATUS, json_string(" pending "), "pending");
    EXPECT_ERR(F_STATUS, json_string("DONE"));
    EXPECT_ERR(F_STATUS, json_string(""));
    EXPECT_OK(F_PHONE, json_integer(50012345), "+96550012345");
    EXPECT_OK(F_PHONE, json_real(50012345.0), "+96550012345");
    EXPECT_OK(F_PHONE, json_string("+965 5001 2345"), "+96550012345");
    EXPECT_ERR(F_PHONE, json_string("10012345"));
    EXPECT_ERR(F_PHONE, json_true());
    EXPECT_OK(F_AT, json_string("2026-11-24T08:15:00Z"), "2026-11-24T08:15:00Z");
    EXPECT_ERR(F_AT, json_string("tomorrow"));
    EXPECT_ERR(F_AT, json_integer(1764000000));
}

static void test_fv_object_ids(void **state)
{
    (void)state;
    EXPECT_OK(F_INFO, json_pack("{s:i}", "a", 1), "{\"a\":1}");
    EXPECT_ERR(F_INFO, json_pack("[i]", 1));
    EXPECT_ERR(F_INFO, json_string("{}"));
    EXPECT_OK(F_IDS, json_pack("[i,i,i]", 1, 2, 3), "{1,2,3}");
    EXPECT_OK(F_IDS, json_pack("[i]", 42), "{42}");
    EXPECT_ERR(F_IDS, json_pack("[i,i,i,i]", 1, 2, 3, 4));
    EXPECT_ERR(F_IDS, json_pack("[i]", 0));
    EXPECT_ERR(F_IDS, json_pack("[i]", -3));
    EXPECT_ERR(F_IDS, json_pack("[]"));
    EXPECT_ERR(F_IDS, json_pack("[s]", "1"));
    EXPECT_ERR(F_IDS, json_pack("[f]", 1.5));
    EXPECT_ERR(F_IDS, json_integer(1));
}

static void test_fv_password(void **state)
{
    (void)state;
    EXPECT_ERR(F_PASSWORD, json_string("123456789"));
    EXPECT_OK(F_PASSWORD, json_string("1234567890"), "1234567890");
    EXPECT_OK(F_PASSWORD, json_string(" 23456789 "), " 23456789 "); /* not trimmed */
    EXPECT_ERR(F_PASSWORD, json_stringn("12345\0"
                                        "67890",
                                        11));
    EXPECT_ERR(F_PASSWORD, json_integer(1234567890));
    char pw[66];
    memset(pw, 'p', 65);
    pw[65] = '\0';
    EXPECT_ERR(F_PASSWORD, json_string(pw)); /* 65 > max_len 64 */
    pw[64] = '\0';
    EXPECT_OK(F_PASSWORD, json_string(pw), pw);
}

static void test_fv_null(void **state)
{
    (void)state;
    struct one o = run1(F_NOTES, json_null());
    assert_int_equal(o.nerr, 0);
    assert_true(o.present);
    assert_true(o.text_null);
    o = run1(F_AREA, json_null());
    assert_int_equal(o.nerr, 1);
    assert_true(o.present && o.invalid);
    assert_non_null(strstr(o.msg, "null"));
    o = run1(F_NAME, json_null()); /* required */
    assert_int_equal(o.nerr, 1);
}

static void test_fv_all_good(void **state)
{
    (void)state;
    json_t *obj = json_pack("{s:s,s:i,s:f,s:b,s:f,s:s,s:I,s:s,s:{s:s},s:[i,i],s:s,s:n}", "name",
                            " Bob ", "count", 3, "lat", 29.5, "active", 1, "amount", 2.75, "status",
                            "done", "phone", (json_int_t)96550012345LL, "at", "2026-11-24", "info",
                            "k", "v", "ids", 5, 6, "password", "correct horse", "notes");
    assert_non_null(obj);
    json_t *errs = json_array();
    struct fv_values v;
    assert_int_equal(fv_parse(obj, fields, F_N, &v, errs), 0);
    assert_int_equal(json_array_size(errs), 0);
    assert_int_equal(v.n, F_N);
    static const char *const want[F_N] = {
        [F_NAME] = "Bob",
        [F_COUNT] = "3",
        [F_LAT] = "29.5",
        [F_ACTIVE] = "true",
        [F_AMOUNT] = "2.750",
        [F_STATUS] = "done",
        [F_PHONE] = "+96550012345",
        [F_AT] = "2026-11-24",
        [F_INFO] = "{\"k\":\"v\"}",
        [F_IDS] = "{5,6}",
        [F_PASSWORD] = "correct horse",
    };
    for (int i = 0; i < F_N; i++) {
        if (i == F_NOTES || i == F_AREA) continue;
        assert_true(v.present[i]);
        if (!v.text[i] || strcmp(v.text[i], want[i]) != 0)
            fail_msg("%s: \"%s\", want \"%s\"", fields[i].name, v.text[i] ? v.text[i] : "(null)",
                     want[i]);
    }
    assert_true(v.present[F_NOTES]);
    assert_null(v.text[F_NOTES]);
    assert_false(v.present[F_AREA]);
    assert_null(v.text[F_AREA]);
    fv_values_free(&v);
    json_decref(errs);
    json_decref(obj);
}

static void test_fv_every_error_reported(void **state)
{
    (void)state;
    /* name missing (required), six bad values, two good ones */
    json_t *obj = json_pack("{s:s,s:i,s:b,s:s,s:[i],s:s,s:n,s:s,s:i}", "count", "x", "lat", 91,
                            "active", 1, "phone", "abc", "ids", 0, "password", "short", "area",
                            "status", "done", "amount", 4);
    assert_non_null(obj);
    json_t *errs = json_array();
    struct fv_values v;
    size_t n = fv_parse(obj, fields, F_N, &v, errs);
    static const char *const bad[] = {"name", "count", "lat", "phone", "ids", "password", "area"};
    const size_t nbad = sizeof bad / sizeof bad[0];
    assert_int_equal(n, nbad);
    assert_int_equal(json_array_size(errs), nbad);
    for (size_t i = 0; i < nbad; i++) {
        bool found = false;
        size_t k;
        json_t *e;
        json_array_foreach(errs, k, e)
        {
            assert_true(json_is_string(json_object_get(e, "field")));
            assert_true(json_is_string(json_object_get(e, "message")));
            assert_true(json_string_length(json_object_get(e, "message")) > 0);
            if (strcmp(json_string_value(json_object_get(e, "field")), bad[i]) == 0) found = true;
        }
        if (!found) fail_msg("no error for %s", bad[i]);
    }
    /* the good ones still come out */
    assert_string_equal(v.text[F_STATUS], "done");
    assert_string_equal(v.text[F_AMOUNT], "4.000");
    assert_string_equal(v.text[F_ACTIVE], "true");
    fv_values_free(&v);
    json_decref(errs);
    json_decref(obj);
}

static void test_fv_index(void **state)
{
    (void)state;
    assert_int_equal(fv_index(fields, F_N, "phone"), F_PHONE);
    assert_int_equal(fv_index(fields, F_N, "name"), F_NAME);
    assert_int_equal(fv_index(fields, F_N, "nope"), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_phone_kuwait),
        cmocka_unit_test(test_phone_kuwait_rejected),
        cmocka_unit_test(test_phone_arabic_indic_digits),
        cmocka_unit_test(test_phone_international),
        cmocka_unit_test(test_money),
        cmocka_unit_test(test_time),
        cmocka_unit_test(test_fv_string),
        cmocka_unit_test(test_fv_int_number_bool),
        cmocka_unit_test(test_fv_money),
        cmocka_unit_test(test_fv_enum_phone_time),
        cmocka_unit_test(test_fv_object_ids),
        cmocka_unit_test(test_fv_password),
        cmocka_unit_test(test_fv_null),
        cmocka_unit_test(test_fv_all_good),
        cmocka_unit_test(test_fv_every_error_reported),
        cmocka_unit_test(test_fv_index),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
