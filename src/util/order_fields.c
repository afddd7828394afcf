/* The order field rules (include/deliveryd/order_fields.h): the one table,
 * the row rules it cannot say, the payment methods. */
#include "deliveryd/order_fields.h"

#include <ctype.h>
#include <string.h>

const char *const order_payment_methods[] = {"cash", "knet", "card", "prepaid", NULL};

const struct fv_field order_fv[OF_COUNT] = {
#define ORDER_FIELD_FV(id, name, type, flags, min, max, max_len, choices, uses, aliases) \
    [OF_##id] = {name, type, flags, min, max, max_len, choices},
    ORDER_FIELDS(ORDER_FIELD_FV)
#undef ORDER_FIELD_FV
};

const unsigned order_field_uses[OF_COUNT] = {
#define ORDER_FIELD_USES(id, name, type, flags, min, max, max_len, choices, uses, aliases) \
    [OF_##id] = uses,
    ORDER_FIELDS(ORDER_FIELD_USES)
#undef ORDER_FIELD_USES
};

const char *const *const order_field_aliases[OF_COUNT] = {
#define ORDER_FIELD_ALIASES(id, name, type, flags, min, max, max_len, choices, uses, aliases) \
    [OF_##id] = aliases,
    ORDER_FIELDS(ORDER_FIELD_ALIASES)
#undef ORDER_FIELD_ALIASES
};

int order_field_index(const char *name)
{
    return fv_index(order_fv, OF_COUNT, name);
}

void header_fold(const char *in, char *out, size_t outlen)
{
    size_t n = 0;
    bool space = false;
    for (const unsigned char *p = (const unsigned char *)in; *p && n + 2 < outlen; p++) {
        if (*p == ' ' || *p == '_' || *p == '-' || *p == '.' || *p == '\t' || *p == '\n' ||
            *p == '\r') {
            space = n > 0;
            continue;
        }
        if (space) out[n++] = ' ';
        space = false;
        out[n++] = (char)tolower(*p);
    }
    out[n] = '\0';
}

const char *payment_method_canonical(const char *text)
{
    static const char *const map[][2] = {
        {"cash", "cash"},         {"cod", "cash"},        {"cash on delivery", "cash"},
        {"knet", "knet"},         {"k net", "knet"},      {"card", "card"},
        {"visa", "card"},         {"mastercard", "card"}, {"credit card", "card"},
        {"debit card", "card"},   {"prepaid", "prepaid"}, {"paid", "prepaid"},
        {"online", "prepaid"},
    };
    char n[64];
    header_fold(text, n, sizeof n);
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcmp(n, map[i][0]) == 0) return map[i][1];
    return NULL;
}

size_t order_fields_check(const json_t *obj, const struct order_check *how,
                          struct fv_values *out, json_t *errors)
{
    /* the table with the required fields of this check marked */
    struct fv_field table[OF_COUNT];
    memcpy(table, order_fv, sizeof table);
    for (int f = 0; f < OF_COUNT; f++) {
        bool required = (order_field_uses[f] & ORDER_REQUIRED) && (order_field_uses[f] & how->path);
        if (how->path == ORDER_IMPORT && f == OF_NUMBER)
            required = true; /* the import's key, also of an update */
        else if (how->update)
            required = required && how->given && how->given[f]; /* PATCH: null is its own error */
        if (required) table[f].flags |= FV_REQUIRED;
    }
    size_t nerr = fv_parse(obj, table, OF_COUNT, out, errors);
    return nerr + order_row_rules(out, how, errors);
}

static bool paci_ok(const char *s)
{
    size_t n = strlen(s);
    if (n < 6 || n > 12) return false;
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i])) return false;
    return true;
}

size_t order_row_rules(const struct fv_values *v, const struct order_check *how, json_t *errors)
{
    size_t nerr = 0;
#define ERR(field, message) (fv_add_error(errors, field, message), nerr++)
    /* an address or an area: a nullable text is NULL when blank */
    if (!v->invalid[OF_ADDRESS] && !v->invalid[OF_AREA] && !v->text[OF_ADDRESS] &&
        !v->text[OF_AREA]) {
        bool g_addr = true, g_area = true; /* what the write sets */
        if (how->update) {
            g_addr = how->given ? how->given[OF_ADDRESS] : v->present[OF_ADDRESS];
            g_area = how->given ? how->given[OF_AREA] : v->present[OF_AREA];
        }
        if (g_addr && g_area) {
            if (!v->present[OF_ADDRESS] && !v->present[OF_AREA])
                ERR("delivery_address", "delivery_address or area is required");
            else
                ERR("delivery_address", "delivery_address or area must not be blank");
        } else if (g_addr) {
            /* an update that empties one of the two without giving the
             * other could leave the order with neither */
            ERR("delivery_address", "cannot be emptied unless area is given too");
        } else if (g_area) {
            ERR("area", "cannot be emptied unless delivery_address is given too");
        }
    }
    if (v->text[OF_PACI] && !paci_ok(v->text[OF_PACI]))
        ERR("paci_number", "must be the 8-digit PACI number");
#undef ERR
    return nerr;
}
