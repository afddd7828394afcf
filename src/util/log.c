#include "deliveryd/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static const char *level_names[] = {"debug", "info", "warn", "error"};

bool log_enabled(enum log_level level)
{
    return level >= g_cfg.log_level;
}

void log_event(enum log_level level, const char *msg, const char *extra_json)
{
    if (!log_enabled(level)) return;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char when[40];
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    buf_t b;
    buf_init(&b);
    buf_printf(&b, "{\"ts\":\"%s.%03ldZ\",\"level\":\"%s\",\"msg\":", when, ts.tv_nsec / 1000000,
               level_names[level]);
    buf_json_str(&b, msg);
    if (extra_json && *extra_json) {
        buf_puts(&b, ",");
        buf_puts(&b, extra_json);
    }
    buf_puts(&b, "}\n");
    /* One write per line keeps lines whole across threads. */
    fwrite(b.data, 1, b.len, stderr);
    buf_free(&b);
}

void log_msgf(enum log_level level, const char *fmt, ...)
{
    if (!log_enabled(level)) return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    log_event(level, msg, NULL);
}
