/* One JSON line per event on stderr. */
#ifndef DELIVERYD_LOG_H
#define DELIVERYD_LOG_H

#include "deliveryd/config.h"

/** Logs msg at level with optional extra key/values as a pre-rendered JSON
 * fragment (e.g. "\"path\":\"/x\"", may be NULL). */
void log_event(enum log_level level, const char *msg, const char *extra_json);
void log_msgf(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
bool log_enabled(enum log_level level);

#endif
