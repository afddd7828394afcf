/* `deliveryd migrate`: applies the numbered migrations (MIGRATIONS_DIR) in
 * name order, each once and in its own transaction, recording name and
 * SHA-256 in schema_migrations; then the repeatable schema files
 * (SCHEMA_DIR, sql/schema: functions, views, triggers) in name order, each
 * in its own transaction whenever its SHA-256 differs from the one recorded
 * in schema_repeatable, and every one of them after a run that applied a
 * numbered migration. */
#ifndef DELIVERYD_MIGRATE_H
#define DELIVERYD_MIGRATE_H

#include "deliveryd/util.h"

/** Returns 0 when everything is applied; -1 after printing one clear
 * message to stderr (an unreadable directory, a changed applied numbered
 * file, a failing file, no DB). Files applied before a failure stay
 * applied; the failing one is rolled back. */
int migrate_run(const char *dir, const char *schema_dir) MUSTCHECK;

#endif
