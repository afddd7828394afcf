/* The one JSON field validator: a declarative table of fields turns a JSON
 * object into normalized SQL text parameters plus a list of
 * {field, message} errors. Every value comes out as the text PostgreSQL
 * will parse (money as "12.500", phones as E.164, id lists as "{1,2}"). */
#ifndef DELIVERYD_FIELDS_H
#define DELIVERYD_FIELDS_H

#include <jansson.h>

#include "deliveryd/util.h"

/* Passwords: every password set (users, drivers, create-user, change). */
#define PASSWORD_MIN_LEN 10
#define PASSWORD_MAX_LEN 1024

enum fv_type {
    FV_STRING,
    FV_INT,      /* JSON integer within [min,max] */
    FV_NUMBER,   /* JSON number within [min,max] (coordinates) */
    FV_BOOL,
    FV_MONEY,    /* number or decimal string, >= 0, at most 3 places */
    FV_ENUM,     /* string among choices */
    FV_PHONE,    /* string or number; Kuwaiti or +international -> E.164 */
    FV_TIME,     /* RFC 3339 date-time (or a date) */
    FV_OBJECT,   /* JSON object, passed on as JSON text */
    FV_ID_ARRAY, /* array of positive integers, at most max elements */
    FV_PASSWORD, /* string of PASSWORD_MIN_LEN..max_len characters, not trimmed */
};

enum fv_flags {
    FV_REQUIRED = 1u << 0,
    FV_NULLABLE = 1u << 1, /* JSON null allowed (becomes SQL NULL) */
    FV_NONBLANK = 1u << 2, /* strings: not empty after trimming */
};

struct fv_field {
    const char *name;
    enum fv_type type;
    unsigned flags;
    double min, max;            /* FV_INT/FV_NUMBER bounds; FV_ID_ARRAY: max count */
    size_t max_len;             /* strings: bytes; 0 = 1000 */
    const char *const *choices; /* FV_ENUM: NULL-terminated */
};

#define FV_MAX_FIELDS 48

struct fv_values {
    size_t n;
    bool present[FV_MAX_FIELDS]; /* the key was in the object */
    bool invalid[FV_MAX_FIELDS]; /* ...and its value has an error listed */
    char *text[FV_MAX_FIELDS];   /* normalized text; NULL when absent or null */
};

/**
 * Pure parse (unit-tested): fills out (free with fv_values_free) and
 * appends {field,message} objects to errors. Returns the number of errors.
 */
size_t fv_parse(const json_t *obj, const struct fv_field *fields, size_t n,
                struct fv_values *out, json_t *errors);
void fv_values_free(struct fv_values *v);

/** Appends one {field, message}. */
void fv_add_error(json_t *errors, const char *field, const char *message);
/** Index of `name` in fields (the caller's table), or -1. */
int fv_index(const struct fv_field *fields, size_t n, const char *name);

/** Kuwaiti/international phone -> E.164 in out (at least 20 bytes). -1 if not a phone. */
int phone_normalize(const char *in, char *out, size_t outlen) MUSTCHECK;
/** Decimal money text "d+(.d{1,3})?" -> "d.ddd" in out. -1 if malformed. */
int money_normalize(const char *in, char *out, size_t outlen) MUSTCHECK;
/** Light RFC 3339 / ISO date check. */
bool looks_like_time(const char *s);

#endif
