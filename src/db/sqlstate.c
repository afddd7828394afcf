/* The one SQLSTATE -> HTTP table (see LIBRARY-NOTES.md, libpq 15). */
#include <string.h>

#include "deliveryd/db.h"

struct state_map {
    const char *prefix; /* a full SQLSTATE or a two-character class */
    int status;
    const char *code;
};

static const struct state_map map[] = {
    {"23505", 409, "duplicate"},
    {"23503", 422, "validation_failed"},
    {"23502", 422, "validation_failed"},
    {"23514", 422, "validation_failed"},
    {"22P02", 422, "validation_failed"},
    {"22003", 422, "validation_failed"},
    {"22001", 422, "validation_failed"},
    {"22007", 422, "validation_failed"},
    {"22008", 422, "validation_failed"},
    {"22009", 422, "validation_failed"}, /* time zone displacement out of range */
    {"22021", 422, "validation_failed"}, /* bytes that are not UTF-8 */
    {"22023", 422, "validation_failed"},
    {"40001", 503, "unavailable"},
    {"40P01", 503, "unavailable"},
    {"55P03", 409, "conflict"},
    {"57014", 503, "unavailable"},
    {"57P01", 503, "unavailable"},
    {"53300", 503, "unavailable"},
    {"08", 503, "unavailable"},
};

void db_map_sqlstate(const char *sqlstate, int *status, const char **code)
{
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
        size_t n = strlen(map[i].prefix);
        if (strncmp(sqlstate, map[i].prefix, n) == 0) {
            *status = map[i].status;
            *code = map[i].code;
            return;
        }
    }
    *status = 500;
    *code = "internal";
}
