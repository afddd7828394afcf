/* `deliveryd migrate`: applies the migrations directory in name order, each in its
 * own transaction, recording name and SHA-256 in schema_migrations. */
#ifndef DELIVERYD_MIGRATE_H
#define DELIVERYD_MIGRATE_H

#include "deliveryd/util.h"

/** Returns 0 when everything is applied; -1 after printing one clear
 * message to stderr (a changed applied file, a failing file, no DB). */
int migrate_run(const char *dir) MUSTCHECK;

#endif
