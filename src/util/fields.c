#include "deliveryd/fields.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deliveryd/util.h"

static void add_error(json_t *errors, const char *field, const char *message)
{
    json_array_append_new(errors, json_pack("{s:s,s:s}", "field", field, "message", message));
}

int phone_normalize(const char *in, char *out, size_t outlen)
{
    char digits[32];
    size_t nd = 0;
    bool plus = false;
    const char *p = in;
    while (*p == ' ') p++;
    if (*p == '+') {
        plus = true;
        p++;
    }
    for (; *p; p++) {
        unsigned char c = (unsigned char)*p;
        int ad = arabic_indic_digit((const unsigned char *)p);
        if (isdigit(c) || ad >= 0) {
            if (nd + 1 >= sizeof digits) return -1;
            digits[nd++] = ad >= 0 ? (char)('0' + ad) : (char)c;
            if (ad >= 0) p++; /* two bytes */
        } else if (c == ' ' || ((c == '-' || c == '(' || c == ')') && nd > 0) ||
                   (c == '(' && nd == 0)) {
            continue; /* separators; a leading '-' would make a negative number */
        } else if (c == '.') {
            /* a spreadsheet numeric: "50012345.0" - only zeros may follow */
            for (p++; *p == '0'; p++) {
            }
            while (*p == ' ') p++;
            if (*p) return -1;
            break;
        } else {
            return -1;
        }
    }
    digits[nd] = '\0';
    const char *d = digits;
    if (!plus && nd > 2 && d[0] == '0' && d[1] == '0') {
        plus = true;
        d += 2;
        nd -= 2;
    }
    /* Kuwait: 8 digits starting 2, 5, 6 or 9, after an optional 965 */
    const char *local = NULL;
    if (nd == 8 && !plus) local = d;
    else if (nd == 11 && strncmp(d, "965", 3) == 0) local = d + 3;
    if (local) {
        if (local[0] != '2' && local[0] != '5' && local[0] != '6' && local[0] != '9') return -1;
        if ((size_t)snprintf(out, outlen, "+965%s", local) >= outlen) return -1;
        return 0;
    }
    if (plus && strncmp(d, "965", 3) == 0) return -1; /* +965 with the wrong length */
    if (plus && nd >= 8 && nd <= 15 && d[0] != '0') {
        if ((size_t)snprintf(out, outlen, "+%s", d) >= outlen) return -1;
        return 0;
    }
    return -1;
}

int money_normalize(const char *in, char *out, size_t outlen)
{
    const char *p = in;
    while (*p == ' ') p++;
    size_t ni = 0, nf = 0;
    char ip[16], fp[4] = "000";
    while (isdigit((unsigned char)*p)) {
        if (ni >= 9) return -1; /* numeric(12,3): at most 9 integer digits */
        ip[ni++] = *p++;
    }
    if (ni == 0) return -1;
    ip[ni] = '\0';
    if (*p == '.') {
        p++;
        while (isdigit((unsigned char)*p)) {
            if (nf >= 3) return -1;
            fp[nf++] = *p++;
        }
        if (nf == 0) return -1;
    }
    while (*p == ' ') p++;
    if (*p) return -1;
    const char *ipz = ip;
    while (ipz[0] == '0' && ipz[1]) ipz++;
    if ((size_t)snprintf(out, outlen, "%s.%s", ipz, fp) >= outlen) return -1;
    return 0;
}

static int two(const char *p)
{
    return (p[0] - '0') * 10 + (p[1] - '0');
}

static bool shape_ok(const char *s);

bool looks_like_time(const char *s)
{
    if (!shape_ok(s)) return false;
    /* ranges, so PostgreSQL never sees "2024-02-30" or "+16:00" (the shape
     * is known): a day the month has, a year from 1, an offset PostgreSQL
     * takes (up to 15:59) */
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int year = two(s) * 100 + two(s + 2), month = two(s + 5), day = two(s + 8);
    if (year < 1 || month < 1 || month > 12 || day < 1) return false;
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    if (day > mdays[month - 1] + (month == 2 && leap)) return false;
    if (!s[10]) return true;
    if (two(s + 11) > 23 || two(s + 14) > 59 || (s[16] == ':' && two(s + 17) > 60)) return false;
    const char *off = strpbrk(s + 11, "+-"); /* shape_ok: 2 digits, then [:]2 digits or end */
    if (off && two(off + 1) > 15) return false;
    if (off && off[3] && two(off + 3 + (off[3] == ':')) > 59) return false;
    return true;
}

static bool shape_ok(const char *s)
{
    /* YYYY-MM-DD, optionally followed by [T ]HH:MM[:SS[.frac]][Z|+HH:MM] */
    static const char *shape = "dddd-dd-dd";
    size_t i = 0;
    for (; shape[i]; i++) {
        if (shape[i] == 'd' ? !isdigit((unsigned char)s[i]) : s[i] != shape[i]) return false;
    }
    if (!s[i]) return true;
    if (s[i] != 'T' && s[i] != 't' && s[i] != ' ') return false;
    const char *p = s + i + 1;
    if (!isdigit((unsigned char)p[0]) || !isdigit((unsigned char)p[1]) || p[2] != ':' ||
        !isdigit((unsigned char)p[3]) || !isdigit((unsigned char)p[4]))
        return false;
    p += 5;
    if (*p == ':') {
        if (!isdigit((unsigned char)p[1]) || !isdigit((unsigned char)p[2])) return false;
        p += 3;
        if (*p == '.') {
            p++;
            if (!isdigit((unsigned char)*p)) return false;
            while (isdigit((unsigned char)*p)) p++;
        }
    }
    if (*p == 'Z' || *p == 'z') return p[1] == '\0';
    if (*p == '+' || *p == '-') {
        p++;
        if (!isdigit((unsigned char)p[0]) || !isdigit((unsigned char)p[1])) return false;
        p += 2;
        if (!*p) return true;
        if (*p == ':') p++; /* then the minutes must follow */
        return isdigit((unsigned char)p[0]) && isdigit((unsigned char)p[1]) && !p[2];
    }
    return *p == '\0';
}

static char *trimmed(const char *s, size_t len)
{
    while (len && isspace((unsigned char)*s)) s++, len--;
    while (len && isspace((unsigned char)s[len - 1])) len--;
    return xstrndup(s, len);
}

/* One field: returns NULL and sets *msg on error; else the text (or NULL for null). */
static char *parse_one(const struct fv_field *f, json_t *v, const char **msg)
{
    char tmp[64];
    size_t max_len = f->max_len ? f->max_len : 1000;
    switch (f->type) {
    case FV_STRING:
    case FV_ENUM: {
        if (!json_is_string(v)) {
            *msg = "must be a string";
            return NULL;
        }
        size_t len = json_string_length(v);
        const char *s = json_string_value(v);
        if (strlen(s) != len) {
            *msg = "must not contain NUL characters";
            return NULL;
        }
        char *t = trimmed(s, len);
        if (utf8_chars(t) > max_len) { /* characters, not bytes */
            free(t);
            *msg = "is too long";
            return NULL;
        }
        if ((f->flags & FV_NONBLANK) && !*t) {
            free(t);
            *msg = "must not be blank";
            return NULL;
        }
        if (f->type == FV_ENUM) {
            bool ok = false;
            for (const char *const *c = f->choices; c && *c; c++)
                if (strcmp(*c, t) == 0) ok = true;
            if (!ok) {
                free(t);
                *msg = "is not one of the allowed values";
                return NULL;
            }
        }
        return t;
    }
    case FV_PASSWORD: {
        if (!json_is_string(v)) {
            *msg = "must be a string";
            return NULL;
        }
        size_t len = json_string_length(v);
        if (utf8_chars(json_string_value(v)) < PASSWORD_MIN_LEN) {
            *msg = "must be at least 10 characters";
            return NULL;
        }
        if (len > (f->max_len ? f->max_len : PASSWORD_MAX_LEN) ||
            strlen(json_string_value(v)) != len) {
            *msg = "is too long or contains NUL characters";
            return NULL;
        }
        return xstrdup(json_string_value(v));
    }
    case FV_INT: {
        if (!json_is_integer(v)) {
            *msg = "must be an integer";
            return NULL;
        }
        json_int_t n = json_integer_value(v);
        if ((double)n < f->min || (double)n > f->max) {
            *msg = "is out of range";
            return NULL;
        }
        snprintf(tmp, sizeof tmp, "%lld", (long long)n);
        return xstrdup(tmp);
    }
    case FV_NUMBER: {
        if (!json_is_number(v)) {
            *msg = "must be a number";
            return NULL;
        }
        double d = json_number_value(v);
        if (!isfinite(d) || d < f->min || d > f->max) {
            *msg = "is out of range";
            return NULL;
        }
        snprintf(tmp, sizeof tmp, "%.17g", d);
        return xstrdup(tmp);
    }
    case FV_BOOL:
        if (!json_is_boolean(v)) {
            *msg = "must be true or false";
            return NULL;
        }
        return xstrdup(json_is_true(v) ? "true" : "false");
    case FV_MONEY: {
        char in[64];
        if (json_is_integer(v)) {
            snprintf(in, sizeof in, "%lld", (long long)json_integer_value(v));
        } else if (json_is_real(v)) {
            /* a JSON number is money only if its 3-decimal text reads back
             * as the same double (12.5 yes, 1.2345 no) */
            double d = json_real_value(v);
            if (!isfinite(d) || d < 0 || d >= 1e9) {
                *msg = "must be a non-negative amount with at most 3 decimals";
                return NULL;
            }
            snprintf(in, sizeof in, "%.3f", d);
            if (strtod(in, NULL) != d) {
                *msg = "must be a non-negative amount with at most 3 decimals";
                return NULL;
            }
        } else if (json_is_string(v) && json_string_length(v) < sizeof in &&
                   strlen(json_string_value(v)) == json_string_length(v)) {
            snprintf(in, sizeof in, "%s", json_string_value(v));
        } else {
            *msg = "must be a number or a decimal string";
            return NULL;
        }
        if (money_normalize(in, tmp, sizeof tmp) < 0) {
            *msg = "must be a non-negative amount with at most 3 decimals";
            return NULL;
        }
        return xstrdup(tmp);
    }
    case FV_PHONE: {
        char in[64];
        if (json_is_integer(v)) {
            snprintf(in, sizeof in, "%lld", (long long)json_integer_value(v));
        } else if (json_is_real(v)) {
            snprintf(in, sizeof in, "%.1f", json_real_value(v));
        } else if (json_is_string(v) && json_string_length(v) < sizeof in &&
                   strlen(json_string_value(v)) == json_string_length(v)) {
            snprintf(in, sizeof in, "%s", json_string_value(v));
        } else {
            *msg = "must be a phone number";
            return NULL;
        }
        if (phone_normalize(in, tmp, sizeof tmp) < 0) {
            *msg = "is not a valid phone number (Kuwaiti 8 digits or +country number)";
            return NULL;
        }
        return xstrdup(tmp);
    }
    case FV_TIME:
        if (!json_is_string(v) || json_string_length(v) > 40 ||
            strlen(json_string_value(v)) != json_string_length(v) ||
            !looks_like_time(json_string_value(v))) {
            *msg = "must be an RFC 3339 date-time";
            return NULL;
        }
        return xstrdup(json_string_value(v));
    case FV_OBJECT: {
        if (!json_is_object(v)) {
            *msg = "must be an object";
            return NULL;
        }
        char *s = json_dumps(v, JSON_COMPACT);
        if (!s || strlen(s) > (f->max_len ? f->max_len : 65536)) {
            free(s);
            *msg = "is too large";
            return NULL;
        }
        return s;
    }
    case FV_ID_ARRAY: {
        if (!json_is_array(v)) {
            *msg = "must be an array of ids";
            return NULL;
        }
        size_t n = json_array_size(v);
        if (n == 0) {
            *msg = "must not be empty";
            return NULL;
        }
        if ((double)n > f->max) {
            snprintf(tmp, sizeof tmp, "has more than %.0f ids", f->max);
            *msg = "has too many ids";
            return NULL;
        }
        buf_t b;
        buf_init(&b);
        buf_puts(&b, "{");
        for (size_t i = 0; i < n; i++) {
            json_t *e = json_array_get(v, i);
            if (!json_is_integer(e) || json_integer_value(e) <= 0) {
                buf_free(&b);
                *msg = "must contain only positive integer ids";
                return NULL;
            }
            buf_printf(&b, "%s%lld", i ? "," : "", (long long)json_integer_value(e));
        }
        buf_puts(&b, "}");
        return buf_steal(&b, NULL);
    }
    }
    *msg = "unsupported field type";
    return NULL;
}

size_t fv_parse(const json_t *obj, const struct fv_field *fields, size_t n, struct fv_values *out,
                json_t *errors)
{
    memset(out, 0, sizeof *out);
    out->n = n < FV_MAX_FIELDS ? n : FV_MAX_FIELDS;
    size_t nerr = 0;
    for (size_t i = 0; i < out->n; i++) {
        const struct fv_field *f = &fields[i];
        json_t *v = json_object_get(obj, f->name);
        if (!v) {
            if (f->flags & FV_REQUIRED) {
                add_error(errors, f->name, "is required");
                nerr++;
            }
            continue;
        }
        out->present[i] = true;
        if (json_is_null(v)) {
            if (f->flags & FV_REQUIRED || !(f->flags & FV_NULLABLE)) {
                add_error(errors, f->name, "must not be null");
                out->invalid[i] = true;
                nerr++;
            }
            continue;
        }
        const char *msg = NULL;
        char *t = parse_one(f, v, &msg);
        if (!t) {
            add_error(errors, f->name, msg ? msg : "is invalid");
            out->invalid[i] = true;
            nerr++;
            continue;
        }
        /* "" in a nullable text field means "no value" */
        if ((f->type == FV_STRING) && (f->flags & FV_NULLABLE) && !*t) {
            free(t);
            t = NULL;
        }
        out->text[i] = t;
    }
    return nerr;
}

void fv_values_free(struct fv_values *v)
{
    for (size_t i = 0; i < v->n; i++) free(v->text[i]);
    memset(v, 0, sizeof *v);
}

void fv_add_error(json_t *errors, const char *field, const char *message)
{
    add_error(errors, field, message);
}

int fv_index(const struct fv_field *fields, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(fields[i].name, name) == 0) return (int)i;
    return -1;
}
