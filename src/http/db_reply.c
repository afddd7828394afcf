/* Database outcomes as replies: the request-side half of db/ (which knows
 * no requests). A failed statement becomes the problem reply through the
 * SQLSTATE table; a result is owned by the request. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deliveryd/db.h"
#include "deliveryd/db_reply.h"
#include "deliveryd/http.h"
#include "deliveryd/log.h"
#include "deliveryd/sqlb.h"

static void res_free_cb(void *p)
{
    db_res_free(p);
}

/* The field a constraint violation is about, from PostgreSQL's default
 * names: <table>_<column>_fkey, _key, _lower_key (our case-insensitive
 * unique indexes) or _check; a not-null violation names its column. Other
 * names (rules over several columns) name no field: false. */
static bool violated_field(const struct db_error *err, char *out, size_t outsz)
{
    if (strcmp(err->sqlstate, "23502") == 0 && err->column[0]) {
        snprintf(out, outsz, "%s", err->column);
        return true;
    }
    size_t tl = strlen(err->table);
    if (!tl || strncmp(err->constraint, err->table, tl) != 0 || err->constraint[tl] != '_')
        return false;
    const char *col = err->constraint + tl + 1;
    static const char *const suffixes[] = {"_lower_key", "_fkey", "_key", "_check"};
    size_t cl = strlen(col);
    for (size_t i = 0; i < ARRAY_LEN(suffixes); i++) {
        size_t sl = strlen(suffixes[i]);
        if (cl > sl && strcmp(col + cl - sl, suffixes[i]) == 0 && cl - sl < outsz) {
            snprintf(out, outsz, "%.*s", (int)(cl - sl), col);
            return true;
        }
    }
    return false;
}

int db_reply_error(struct req *r, const struct db_error *err)
{
    if (err->http_status >= 500) {
        char detail[192];
        db_error_detail(err, detail, sizeof detail);
        return reply_problem(r, err->http_status, err->code, "%s", detail);
    }
    /* a constraint violation names the field, in the words of the field
     * validator, instead of PostgreSQL's message (and constraint name) */
    static const struct {
        const char *sqlstate, *message, *detail; /* for a field; without one */
    } rules[] = {
        {"23503", "refers to something that does not exist",
         "the request refers to something that does not exist"},
        {"23505", "is already taken", "something in the request already exists"},
        {"23514", "is not an accepted value", "a value in the request is not accepted"},
        {"23502", "is required", "a required value is missing"}};
    char field[64];
    for (size_t i = 0; i < ARRAY_LEN(rules); i++) {
        if (strcmp(err->sqlstate, rules[i].sqlstate) != 0) continue;
        /* named only when the client sent that field: a rule on a column
         * the statement fills itself (a history row's changed_by) is ours */
        if (violated_field(err, field, sizeof field) && r->json &&
            json_object_get(r->json, field)) {
            json_t *errors =
                json_pack("[{s:s,s:s}]", "field", field, "message", rules[i].message);
            return reply_problem_errors(r, err->http_status, err->code, errors, "%s %s", field,
                                        rules[i].message);
        }
        log_msgf(LOG_WARN, "constraint %s (%s): %s", err->constraint, err->sqlstate,
                 err->message);
        return reply_problem(r, err->http_status, err->code, "%s", rules[i].detail);
    }
    return reply_problem(r, err->http_status, err->code, "%s", err->message);
}

static db_res *query_or_reply(struct req *r, const char *sql, int nparams,
                              const char *const *params, enum db_plan plan)
{
    struct db_error err;
    db_res *res = db_exec_plan(sql, nparams, params, plan, &err);
    if (!res) {
        db_reply_error(r, &err);
        return NULL;
    }
    req_defer(r, res_free_cb, res);
    return res;
}

db_res *db_q_or_reply(struct req *r, enum query_id q, int nparams, const char *const *params)
{
    struct db_error err;
    db_res *res = db_run(q, nparams, params, &err);
    if (!res) {
        db_reply_error(r, &err);
        return NULL;
    }
    req_defer(r, res_free_cb, res);
    return res;
}

db_res *sqlb_or_reply(struct req *r, const struct sqlb *b, enum db_plan plan)
{
    struct db_error err;
    db_res *res = sqlb_exec(b, plan, &err);
    if (!res) {
        db_reply_error(r, &err);
        return NULL;
    }
    req_defer(r, res_free_cb, res);
    return res;
}


int db_begin_or_reply(struct req *r)
{
    return query_or_reply(r, "BEGIN", 0, NULL, DB_PLAN_EACH) ? 0 : -1;
}

int db_commit_or_reply(struct req *r)
{
    return query_or_reply(r, "COMMIT", 0, NULL, DB_PLAN_EACH) ? 0 : -1;
}

