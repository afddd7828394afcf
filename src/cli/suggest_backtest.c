/* deliveryd suggest-backtest [--from DATE] [--to DATE]
 * The backtest of GET /api/v1/analytics/suggestions/backtest, unscoped,
 * printed as JSON on standard output (sql/queries/analytics.sql,
 * analytics_suggestion_backtest, says what it replays). A missing date is
 * today in business_timezone, as for the analytics routes. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "deliveryd/cli.h"
#include "deliveryd/db.h"

static void usage(void)
{
    fprintf(stderr, "usage: deliveryd suggest-backtest [--from YYYY-MM-DD] [--to YYYY-MM-DD]\n");
}

/* The shape only; PostgreSQL refuses a date that does not exist. */
static bool date_shaped(const char *s)
{
    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-') return false;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && !isdigit((unsigned char)s[i])) return false;
    return true;
}

int cli_suggest_backtest(int argc, char **argv)
{
    const char *from = NULL, *to = NULL;
    for (int i = 2; i < argc; i += 2) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v && strcmp(argv[i], "--from") == 0) from = v;
        else if (v && strcmp(argv[i], "--to") == 0) to = v;
        else {
            usage();
            return 2;
        }
        if (!date_shaped(v)) {
            fprintf(stderr, "suggest-backtest: %s must be a date YYYY-MM-DD\n", argv[i]);
            return 2;
        }
    }
    struct db_error err;
    db_res *res = db_run(Q(analytics_suggestion_backtest)(from, to, NULL), &err);
    if (!res) {
        fprintf(stderr, "suggest-backtest: %s\n", err.message);
        return 1;
    }
    int rc = 0;
    if (db_ntuples(res) == 1 && !db_isnull(res, 0, 0)) printf("%s\n", db_get(res, 0, 0));
    else rc = 1;
    db_res_free(res);
    return rc;
}
