/* The cron jobs, shared by POST /api/v1/cron/<job> and `deliveryd cron
 * <job>`. Each takes an advisory lock so concurrent runs do the work once,
 * and answers with what it did. */
#ifndef DELIVERYD_CRON_H
#define DELIVERYD_CRON_H

#include "deliveryd/db.h"

/** Runs job ("archive", "backfill", "sla-check", "purge-locations", "purge-events").
 * Returns 0 with a malloc'd JSON object in *out; -1 with err filled; -2 for
 * an unknown job. */
int cron_run(const char *job, char **out, struct db_error *err) MUSTCHECK;

#endif
