/* The dynamic SQL builder (see sqlb.h). */
#include "deliveryd/sqlb.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "deliveryd/log.h"

void sqlb_init(struct sqlb *b)
{
    buf_init(&b->sql);
    b->np = 0;
}

void sqlb_free(struct sqlb *b)
{
    buf_free(&b->sql);
    b->np = 0;
}

void sqlb_puts(struct sqlb *b, const char *sql)
{
    buf_puts(&b->sql, sql);
}

void sqlb_printf(struct sqlb *b, const char *fmt, ...)
{
    char tmp[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) abort();
    if ((size_t)n < sizeof tmp) {
        buf_append(&b->sql, tmp, (size_t)n);
        return;
    }
    char *big = xmalloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    buf_append(&b->sql, big, (size_t)n);
    free(big);
}

int sqlb_param_to(struct sqlb *b, buf_t *out, const char *value)
{
    if (b->np == SQLB_MAX_PARAMS) {
        log_msgf(LOG_ERROR, "sqlb: more than %d parameters", SQLB_MAX_PARAMS);
        abort();
    }
    b->params[b->np++] = value;
    if (out) buf_printf(out, "$%d", b->np);
    return b->np;
}

int sqlb_param(struct sqlb *b, const char *value)
{
    return sqlb_param_to(b, &b->sql, value);
}

void sqlb_ref(struct sqlb *b, int n)
{
    if (n < 1 || n > b->np) abort();
    buf_printf(&b->sql, "$%d", n);
}

db_res *sqlb_exec(const struct sqlb *b, enum db_plan plan, struct db_error *err)
{
    return db_exec_plan(b->sql.data ? b->sql.data : "", b->np, b->params, plan, err);
}
