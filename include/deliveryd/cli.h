/* Subcommands other than serve. Each returns a process exit code. */
#ifndef DELIVERYD_CLI_H
#define DELIVERYD_CLI_H

int cli_create_user(int argc, char **argv);
/* deliveryd suggest-backtest [--from DATE] [--to DATE]: prints the JSON of
 * GET /analytics/suggestions/backtest (unscoped); 2 on a usage error, 1 when
 * the database fails. */
int cli_suggest_backtest(int argc, char **argv);

#endif
