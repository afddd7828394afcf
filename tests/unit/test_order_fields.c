/* The order field rules (src/util/order_fields.c) as the import's rows and
 * POST/PATCH /orders get them: PACI, phones, money, coordinates, an address
 * or an area, the payment methods and their aliases. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "deliveryd/order_fields.h"

static const struct order_check import_create = {.path = ORDER_IMPORT};
static const struct order_check api_create = {.path = ORDER_API};

/* A valid import row (sheet cells are strings) with `key` set to `value`
 * (a JSON text; NULL removes the key). */
static json_t *row_with(const char *key, const char *value)
{
    json_t *o = json_pack("{s:s,s:s,s:s,s:s}", "order_number", "SO-1", "customer_name", "Ali",
                          "customer_phone", "50012345", "area", "Salmiya");
    if (key && value) json_object_set_new(o, key, json_loads(value, JSON_DECODE_ANY, NULL));
    else if (key) json_object_del(o, key);
    return o;
}

/* The errors of checking row as how: "field: message; ..." ("" for none).
 * text_out, if given, receives the normalized text of field f. */
static char *check(json_t *row, const struct order_check *how, int f, char **text_out)
{
    static char buf[1024];
    struct fv_values v;
    json_t *errs = json_array();
    size_t n = order_fields_check(row, how, &v, errs);
    assert_int_equal(n, json_array_size(errs));
    buf[0] = '\0';
    for (size_t i = 0; i < json_array_size(errs); i++) {
        json_t *e = json_array_get(errs, i);
        size_t len = strlen(buf);
        snprintf(buf + len, sizeof buf - len, "%s%s: %s", i ? "; " : "",
                 json_string_value(json_object_get(e, "field")),
                 json_string_value(json_object_get(e, "message")));
    }
    if (text_out) *text_out = f >= 0 && v.text[f] ? strdup(v.text[f]) : NULL;
    fv_values_free(&v);
    json_decref(errs);
    json_decref(row);
    return buf;
}

static void test_valid_row(void **state)
{
    (void)state;
    char *phone;
    assert_string_equal(check(row_with(NULL, NULL), &import_create, OF_PHONE, &phone), "");
    assert_string_equal(phone, "+96550012345");
    free(phone);
}

static void test_paci(void **state)
{
    (void)state;
    const char *msg = "paci_number: must be the 8-digit PACI number";
    assert_string_equal(check(row_with("paci_number", "\"123\""), &import_create, -1, NULL), msg);
    assert_string_equal(check(row_with("paci_number", "\"12345\""), &import_create, -1, NULL), msg);
    assert_string_equal(check(row_with("paci_number", "\"12345A78\""), &import_create, -1, NULL),
                        msg);
    assert_string_equal(check(row_with("paci_number", "\"1234567890123\""), &import_create, -1,
                              NULL),
                        "paci_number: is too long");
    assert_string_equal(check(row_with("paci_number", "\"123456\""), &import_create, -1, NULL), "");
    assert_string_equal(check(row_with("paci_number", "\"123456789012\""), &import_create, -1,
                              NULL),
                        "");
    /* the same answer on POST /orders */
    json_t *o = json_pack("{s:i,s:s,s:s,s:s,s:s}", "warehouse_id", 1, "customer_name", "Ali",
                          "customer_phone", "50012345", "area", "Salmiya", "paci_number", "123");
    assert_string_equal(check(o, &api_create, -1, NULL), msg);
}

static void test_phone_forms(void **state)
{
    (void)state;
    static const char *const ok[][2] = {
        {"\"50012345\"", "+96550012345"},     {"\"+965 5001 2345\"", "+96550012345"},
        {"\"0096550012345\"", "+96550012345"}, {"\"96550012345\"", "+96550012345"},
        {"\"50012345.0\"", "+96550012345"},   {"50012345", "+96550012345"},
        {"\"+447911123456\"", "+447911123456"},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        char *t;
        assert_string_equal(check(row_with("customer_phone", ok[i][0]), &import_create, OF_PHONE,
                                  &t),
                            "");
        assert_string_equal(t, ok[i][1]);
        free(t);
    }
    static const char *const bad[] = {"\"12\"", "\"40012345\"", "\"+965123\"", "\"phone\""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_string_equal(check(row_with("customer_phone", bad[i]), &import_create, -1, NULL),
                            "customer_phone: is not a valid phone number (Kuwaiti 8 digits or "
                            "+country number)");
    assert_string_equal(check(row_with("customer_phone", NULL), &import_create, -1, NULL),
                        "customer_phone: is required");
}

static void test_money(void **state)
{
    (void)state;
    char *t;
    assert_string_equal(check(row_with("amount", "\"12.5\""), &import_create, OF_AMOUNT, &t), "");
    assert_string_equal(t, "12.500");
    free(t);
    assert_string_equal(check(row_with("amount", "7"), &import_create, OF_AMOUNT, &t), "");
    assert_string_equal(t, "7.000");
    free(t);
    const char *msg = "amount: must be a non-negative amount with at most 3 decimals";
    assert_string_equal(check(row_with("amount", "\"-4\""), &import_create, -1, NULL), msg);
    assert_string_equal(check(row_with("amount", "\"1.2345\""), &import_create, -1, NULL), msg);
    assert_string_equal(check(row_with("amount", "\"abc\""), &import_create, -1, NULL), msg);
}

static void test_coordinates(void **state)
{
    (void)state;
    assert_string_equal(check(row_with("delivery_latitude", "29.3"), &import_create, -1, NULL),
                        "");
    assert_string_equal(check(row_with("delivery_latitude", "90.5"), &import_create, -1, NULL),
                        "delivery_latitude: is out of range");
    assert_string_equal(check(row_with("delivery_longitude", "-180.1"), &import_create, -1, NULL),
                        "delivery_longitude: is out of range");
    assert_string_equal(check(row_with("delivery_longitude", "180"), &import_create, -1, NULL), "");
}

static void test_address_or_area(void **state)
{
    (void)state;
    assert_string_equal(check(row_with("area", NULL), &import_create, -1, NULL),
                        "delivery_address: delivery_address or area is required");
    assert_string_equal(check(row_with("area", "\"   \""), &import_create, -1, NULL),
                        "delivery_address: delivery_address or area must not be blank");
    json_t *r = row_with("area", NULL);
    json_object_set_new(r, "delivery_address", json_string("Block 4, Street 7"));
    assert_string_equal(check(r, &import_create, -1, NULL), "");
    /* an update: only what it gives is required; emptying one of the two
     * needs the other */
    bool given[OF_COUNT] = {[OF_NUMBER] = true, [OF_AREA] = true};
    struct order_check upd = {.path = ORDER_IMPORT, .update = true, .given = given};
    r = json_pack("{s:s}", "order_number", "SO-1");
    assert_string_equal(check(r, &upd, -1, NULL),
                        "area: cannot be emptied unless delivery_address is given too");
    given[OF_ADDRESS] = true;
    r = json_pack("{s:s}", "order_number", "SO-1");
    assert_string_equal(check(r, &upd, -1, NULL),
                        "delivery_address: delivery_address or area is required");
    given[OF_AREA] = given[OF_ADDRESS] = false;
    given[OF_AMOUNT] = true;
    r = json_pack("{s:s,s:s}", "order_number", "SO-1", "amount", "3");
    assert_string_equal(check(r, &upd, -1, NULL), "");
    /* PATCH: the members present are what it sets */
    struct order_check patch = {.path = ORDER_API, .update = true};
    r = json_pack("{s:n}", "delivery_address");
    assert_string_equal(check(r, &patch, -1, NULL),
                        "delivery_address: cannot be emptied unless area is given too");
    r = json_pack("{s:s}", "notes", "gate 4");
    assert_string_equal(check(r, &patch, -1, NULL), "");
}

static void test_required(void **state)
{
    (void)state;
    /* the import's key; POST generates one */
    assert_string_equal(check(row_with("order_number", NULL), &import_create, -1, NULL),
                        "order_number: is required");
    json_t *o = json_pack("{s:s,s:s,s:s}", "customer_name", "Ali", "customer_phone", "50012345",
                          "area", "Salmiya");
    assert_string_equal(check(o, &api_create, -1, NULL), "warehouse_id: is required");
    assert_string_equal(check(row_with("customer_name", "\" \""), &import_create, -1, NULL),
                        "customer_name: must not be blank");
}

static void test_payment_methods(void **state)
{
    (void)state;
    static const char *const alias[][2] = {
        {"cash", "cash"},        {"COD", "cash"},        {"Cash on Delivery", "cash"},
        {"K-Net", "knet"},       {"KNET", "knet"},       {"Visa", "card"},
        {"Mastercard", "card"},  {"credit_card", "card"}, {"Debit Card", "card"},
        {"Paid", "prepaid"},     {"online", "prepaid"},  {" prepaid ", "prepaid"},
    };
    for (size_t i = 0; i < sizeof alias / sizeof alias[0]; i++) {
        const char *c = payment_method_canonical(alias[i][0]);
        assert_non_null(c);
        assert_string_equal(c, alias[i][1]);
    }
    assert_null(payment_method_canonical("cheque"));
    assert_null(payment_method_canonical(""));
    /* every canonical name is one of the methods, and the field takes them */
    for (const char *const *m = order_payment_methods; *m; m++) {
        assert_string_equal(payment_method_canonical(*m), *m);
        char js[32];
        snprintf(js, sizeof js, "\"%s\"", *m);
        assert_string_equal(check(row_with("payment_method", js), &import_create, -1, NULL), "");
    }
    assert_string_equal(check(row_with("payment_method", "\"COD\""), &import_create, -1, NULL),
                        "payment_method: is not one of the allowed values");
}

static void test_table(void **state)
{
    (void)state;
    assert_int_equal(order_field_index("paci_number"), OF_PACI);
    assert_int_equal(order_field_index("warehouse_code"), -1);
    assert_true(order_field_uses[OF_ETA] & ORDER_VIA_ETA);
    assert_false(order_field_uses[OF_WAREHOUSE] & ORDER_IMPORT);
    assert_string_equal(order_field_aliases[OF_AVENUE][0], "Jaddah");
    for (int f = 0; f < OF_COUNT; f++) assert_non_null(order_fv[f].name);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_row),    cmocka_unit_test(test_paci),
        cmocka_unit_test(test_phone_forms),  cmocka_unit_test(test_money),
        cmocka_unit_test(test_coordinates),  cmocka_unit_test(test_address_or_area),
        cmocka_unit_test(test_required),     cmocka_unit_test(test_payment_methods),
        cmocka_unit_test(test_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
