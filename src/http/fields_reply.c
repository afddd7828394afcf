/* The field validator's request glue: values owned by the request, and
 * the one 422 reply listing every bad field. The validator itself is pure
 * (util/fields.c), so the import and cron use it without a request. */
#include <stdlib.h>

#include "deliveryd/fields.h"
#include "deliveryd/http.h"

size_t fv_parse_req(struct req *r, const json_t *obj, const struct fv_field *fields, size_t n,
                    struct fv_values *out, json_t *errors)
{
    size_t nerr = fv_parse(obj ? obj : r->json, fields, n, out, errors);
    for (size_t i = 0; i < out->n; i++)
        if (out->text[i]) req_defer(r, free, out->text[i]);
    return nerr;
}

int fv_reply_errors(struct req *r, json_t *errors)
{
    size_t nerr = json_array_size(errors);
    if (nerr == 0) {
        json_decref(errors);
        return 0;
    }
    return reply_problem_errors(r, 422, "validation_failed", errors,
                                "%zu field%s failed validation", nerr, nerr == 1 ? "" : "s");
}

int fv_parse_or_reply(struct req *r, const json_t *obj, const struct fv_field *fields, size_t n,
                      struct fv_values *out)
{
    json_t *errors = json_array();
    fv_parse_req(r, obj, fields, n, out, errors);
    return fv_reply_errors(r, errors);
}

