/* The order field rules, once: every writable field of an order (its type,
 * bounds, whether creating an order needs it, which paths take it, the
 * import's header aliases), the rules a field table cannot say (an address
 * or an area, the PACI number's digits) and the payment methods. POST and
 * PATCH /orders, the spreadsheet import and the D365 webhook (through the
 * import's row code) all check an order here, so the same value gets the
 * same answer on every path. What a date-only ETA means is SQL's
 * (order_eta() in sql/schema/order_rules.sql): every path writes the
 * estimated_delivery_time through it (ORDER_VIA_ETA). Pure: no request,
 * no database. */
#ifndef DELIVERYD_ORDER_FIELDS_H
#define DELIVERYD_ORDER_FIELDS_H

#include <jansson.h>
#include <stdbool.h>

#include "deliveryd/fields.h"

/* Which paths take a field, and how it is written. */
enum order_field_use {
    ORDER_API = 1u << 0,      /* POST/PATCH /orders */
    ORDER_IMPORT = 1u << 1,   /* an import column / a webhook member (same name) */
    ORDER_REQUIRED = 1u << 2, /* creating an order needs it (on the paths taking it) */
    ORDER_VIA_ETA = 1u << 3,  /* written as order_eta(value), not as it is */
    ORDER_NO_COLUMN = 1u << 4 /* not a column of orders (version) */
};
#define ORDER_BOTH (ORDER_API | ORDER_IMPORT)

#define ORDER_ALIASES(...) ((const char *const[]){__VA_ARGS__, NULL})
#define ORDER_NO_ALIASES ((const char *const[]){NULL})

/* X(ID, name, fv type, fv flags, min, max, max_len, choices, uses, aliases).
 * The name is the JSON member, the import's field name and the column.
 * Aliases are the import's default headers (the import_column_aliases
 * setting adds more); the field's own name always matches too. */
#define ORDER_FIELDS(X)                                                                         \
    X(NUMBER, "order_number", FV_STRING, FV_NONBLANK, 0, 0, 64, NULL, ORDER_BOTH,               \
      ORDER_ALIASES("Sales Order", "SO Number", "Order No", "Order Number", "Order"))          \
    X(WAREHOUSE, "warehouse_id", FV_INT, 0, 1, 9e15, 0, NULL, ORDER_API | ORDER_REQUIRED,       \
      ORDER_NO_ALIASES) /* the import's warehouse_code, resolved to this */                    \
    X(NAME, "customer_name", FV_STRING, FV_NONBLANK, 0, 0, 200, NULL,                           \
      ORDER_BOTH | ORDER_REQUIRED, ORDER_ALIASES("Customer", "Customer Name", "Name"))          \
    X(PHONE, "customer_phone", FV_PHONE, 0, 0, 0, 0, NULL, ORDER_BOTH | ORDER_REQUIRED,         \
      ORDER_ALIASES("Mobile", "Phone", "Telephone", "Contact Number", "Customer Phone"))       \
    X(ADDRESS, "delivery_address", FV_STRING, FV_NULLABLE, 0, 0, 500, NULL, ORDER_BOTH,         \
      ORDER_ALIASES("Address", "Delivery Address", "Ship To", "Shipping Address"))             \
    X(AREA, "area", FV_STRING, FV_NULLABLE, 0, 0, 100, NULL, ORDER_BOTH, ORDER_NO_ALIASES)      \
    X(BLOCK, "block", FV_STRING, FV_NULLABLE, 0, 0, 50, NULL, ORDER_BOTH, ORDER_NO_ALIASES)     \
    X(STREET, "street", FV_STRING, FV_NULLABLE, 0, 0, 100, NULL, ORDER_BOTH, ORDER_NO_ALIASES)  \
    X(AVENUE, "avenue", FV_STRING, FV_NULLABLE, 0, 0, 100, NULL, ORDER_BOTH,                    \
      ORDER_ALIASES("Jaddah"))                                                                  \
    X(BUILDING, "building", FV_STRING, FV_NULLABLE, 0, 0, 100, NULL, ORDER_BOTH,                \
      ORDER_ALIASES("House"))                                                                   \
    X(FLOOR, "floor", FV_STRING, FV_NULLABLE, 0, 0, 50, NULL, ORDER_BOTH, ORDER_NO_ALIASES)     \
    X(APARTMENT, "apartment", FV_STRING, FV_NULLABLE, 0, 0, 50, NULL, ORDER_BOTH,               \
      ORDER_ALIASES("Flat"))                                                                    \
    X(PACI, "paci_number", FV_STRING, FV_NULLABLE, 0, 0, 12, NULL, ORDER_BOTH,                  \
      ORDER_ALIASES("PACI", "PACI Number"))                                                     \
    X(LAT, "delivery_latitude", FV_NUMBER, FV_NULLABLE, -90, 90, 0, NULL, ORDER_BOTH,           \
      ORDER_ALIASES("Latitude", "Lat"))                                                         \
    X(LNG, "delivery_longitude", FV_NUMBER, FV_NULLABLE, -180, 180, 0, NULL, ORDER_BOTH,        \
      ORDER_ALIASES("Longitude", "Lng", "Long"))                                                \
    X(INFO, "customer_info", FV_OBJECT, 0, 0, 0, 65536, NULL, ORDER_API,                        \
      ORDER_NO_ALIASES) /* the import's unknown columns */                                     \
    X(AMOUNT, "amount", FV_MONEY, FV_NULLABLE, 0, 0, 0, NULL, ORDER_BOTH,                       \
      ORDER_ALIASES("Amount", "Total", "Net Amount", "Order Total"))                           \
    X(PAYMENT, "payment_method", FV_ENUM, FV_NULLABLE, 0, 0, 0, order_payment_methods,          \
      ORDER_BOTH, ORDER_ALIASES("Payment", "Payment Method"))                                   \
    X(NOTES, "notes", FV_STRING, FV_NULLABLE, 0, 0, 2000, NULL, ORDER_BOTH,                     \
      ORDER_ALIASES("Notes", "Remarks"))                                                        \
    X(ETA, "estimated_delivery_time", FV_TIME, FV_NULLABLE, 0, 0, 0, NULL,                      \
      ORDER_BOTH | ORDER_VIA_ETA, ORDER_ALIASES("Delivery Date", "ETA"))                        \
    X(VERSION, "version", FV_INT, 0, 1, 2147483647, 0, NULL, ORDER_API | ORDER_NO_COLUMN,       \
      ORDER_NO_ALIASES)

enum order_field {
#define ORDER_FIELD_ENUM(id, ...) OF_##id,
    ORDER_FIELDS(ORDER_FIELD_ENUM)
#undef ORDER_FIELD_ENUM
    OF_COUNT
};

/* The payment methods (orders.payment_method, payments.method), NULL-terminated. */
extern const char *const order_payment_methods[];
/** The method a spelling means, case- and space-insensitively, with the
 * import's aliases (COD -> cash, K-Net -> knet, Visa -> card, Paid ->
 * prepaid, ...), or NULL. */
const char *payment_method_canonical(const char *text);

/* The field table (fv_parse's), indexed by enum order_field. */
extern const struct fv_field order_fv[OF_COUNT];
/* enum order_field_use bits of each field. */
extern const unsigned order_field_uses[OF_COUNT];
/** A header or a spelled value as the import compares them: lower case,
 * trimmed, runs of space, _, - and . folded to one space (API.md, "Header
 * matching normalizes both sides"). out has outlen bytes. */
void header_fold(const char *in, char *out, size_t outlen);
/* The import's default header aliases of each field (NULL-terminated). */
extern const char *const *const order_field_aliases[OF_COUNT];

/** The field named name, or -1. */
int order_field_index(const char *name);

/* How an order is checked. */
struct order_check {
    unsigned path; /* ORDER_API or ORDER_IMPORT */
    /* false: the order may be created, every required field is needed.
     * true: an update of an existing order, which sets exactly the fields
     * it gives: given[f] (f < OF_COUNT; the import's columns, the webhook
     * order.updated's members), or when given is NULL the members present
     * (PATCH). */
    bool update;
    const bool *given;
};

/**
 * Parses obj (field name -> JSON value) with the table and applies the
 * row rules: fills out (free with fv_values_free) and appends
 * {field, message} objects to errors. Returns the number of errors.
 * Required on creation: the ORDER_REQUIRED fields of the path, and on the
 * import order_number (its key); on an update, the import's order_number
 * and the required fields given. obj holds only fields of the path.
 */
size_t order_fields_check(const json_t *obj, const struct order_check *how,
                          struct fv_values *out, json_t *errors);

/**
 * The rules the table cannot say, on parsed values: delivery_address or
 * area (present and not blank; an update that empties one must give the
 * other), a PACI number of 6 to 12 digits. Appends {field, message};
 * returns the number added. A field with its own error is not judged again.
 */
size_t order_row_rules(const struct fv_values *v, const struct order_check *how, json_t *errors);

#endif
