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

void sqlb_add_to(struct sqlb *b, buf_t *out, const char *sql, int n, const char *const *values)
{
    if (b->np + n > SQLB_MAX_PARAMS) {
        log_msgf(LOG_ERROR, "sqlb: more than %d parameters", SQLB_MAX_PARAMS);
        abort();
    }
    int base = b->np;
    unsigned long long used = 0; /* n <= 64 */
    for (const char *p = sql; *p;) {
        if (*p == '$' && p[1] >= '0' && p[1] <= '9') {
            char *end;
            long k = strtol(p + 1, &end, 10);
            if (k < 1 || k > n) {
                log_msgf(LOG_ERROR, "sqlb: $%ld outside $1..$%d in \"%s\"", k, n, sql);
                abort();
            }
            used |= 1ULL << (k - 1);
            buf_printf(out, "$%ld", base + k);
            p = end;
            continue;
        }
        const char *q = p;
        while (*q && !(*q == '$' && q[1] >= '0' && q[1] <= '9')) q++;
        buf_append(out, p, (size_t)(q - p));
        p = q;
    }
    if (n > 0 && used != (n == 64 ? ~0ULL : (1ULL << n) - 1)) {
        log_msgf(LOG_ERROR, "sqlb: not every one of $1..$%d is used in \"%s\"", n, sql);
        abort();
    }
    for (int i = 0; i < n; i++) b->params[b->np++] = values[i];
}

void sqlb_add(struct sqlb *b, const char *sql, int n, const char *const *values)
{
    sqlb_add_to(b, &b->sql, sql, n, values);
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
