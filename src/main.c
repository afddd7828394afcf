/* deliveryd: serve (default), migrate, create-user, cron, suggest-backtest. */
#include <jansson.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>

#include "deliveryd/auth.h"
#include "deliveryd/cache.h"
#include "deliveryd/cli.h"
#include "deliveryd/config.h"
#include "deliveryd/cron.h"
#include "deliveryd/db.h"
#include "deliveryd/files.h"
#include "deliveryd/http.h"
#include "deliveryd/log.h"
#include "deliveryd/metrics.h"
#include "deliveryd/microcache.h"
#include "deliveryd/order_fields.h"
#include "deliveryd/settings.h"
#include "deliveryd/migrate.h"
#include "deliveryd/search_indexer.h"
#include "deliveryd/outbound.h"
#include "deliveryd/webhook_worker.h"

/* C validates payment methods with its one list (util/order_fields.c)
 * before a value reaches the database, whose one list is the domain
 * payment_method (migration 0022): the two must be the same set, or a
 * method would be refused by one and accepted by the other. Checked at
 * start when the database answers (a database that is down is /ready's
 * business, not a reason not to start). Returns -1 on a mismatch. */
static int payment_methods_agree(void)
{
    buf_t list;
    buf_init(&list);
    buf_puts(&list, "{");
    for (const char *const *m = order_payment_methods; *m; m++)
        buf_printf(&list, "%s%s", m == order_payment_methods ? "" : ",", *m);
    buf_puts(&list, "}");
    struct db_error err;
    db_res *res = db_run(Q(payment_methods_agree)(list.data), &err);
    int rc = 0;
    if (res && db_ntuples(res) == 1 && strcmp(db_get(res, 0, 0), "t") != 0) {
        log_msgf(LOG_ERROR, "the payment methods of this build (%s) are not those of the "
                            "database's domain payment_method: migrate, or rebuild",
                 list.data);
        rc = -1;
    }
    db_res_free(res);
    buf_free(&list);
    db_thread_close();
    return rc;
}

static int serve(void)
{
    char err[256];
    if (cache_global_init(err, sizeof err) < 0) {
        fprintf(stderr, "deliveryd: %s\n", err);
        return 2;
    }
    if (password_global_init() < 0) {
        fprintf(stderr, "deliveryd: cannot initialise password hashing\n");
        return 1;
    }
    mkdir(g_cfg.storage_dir, 0750);
    files_clean_tmp();
    metrics_init(g_nroutes, route_metric_label);
    if (payment_methods_agree() < 0) return 2;

    /* Threads inherit this mask: only the main thread takes the signals. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (http_start() < 0) return 1;
    if (search_indexer_start() < 0) { /* after http_start: no thread left behind */
        fprintf(stderr, "deliveryd: cannot start the search indexer\n");
        http_stop(0.0);
        return 1;
    }
    if (webhook_worker_start() < 0) {
        fprintf(stderr, "deliveryd: cannot start the webhook worker\n");
        search_indexer_stop();
        http_stop(0.0);
        return 1;
    }
    log_msgf(LOG_INFO, "listening on http://%s:%ld with %ld threads", g_cfg.bind_address,
             g_cfg.port, g_cfg.threads);
    sd_notify(0, "READY=1");
    for (;;) {
        int sig = 0;
        if (sigwait(&set, &sig) != 0) continue;
        if (sig == SIGTERM || sig == SIGINT) {
            log_msgf(LOG_INFO, "signal %d: draining requests in flight", sig);
            break;
        }
    }
    sd_notify(0, "STOPPING=1");
    webhook_worker_request_stop(); /* claims nothing more; in flight finishes meanwhile */
    http_stop(30.0);
    webhook_worker_stop();
    search_indexer_stop();
    db_thread_close();
    cache_thread_close();
    cache_global_free();
    microcache_free();
    settings_free();
    metrics_free();
    log_msgf(LOG_INFO, "stopped");
    return 0;
}

/* deliveryd cron <job>: the same jobs as POST /api/v1/cron/<job>. */
static int run_cron(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: deliveryd cron archive|backfill|sla-check|purge-locations|purge-events|learn-coordinates\n");
        return 2;
    }
    char cerr[256];
    if (cache_global_init(cerr, sizeof cerr) < 0) /* only to refresh the analytics cache */
        fprintf(stderr, "deliveryd: %s (the analytics cache is not refreshed)\n", cerr);
    char *out = NULL;
    struct db_error err;
    int rc = cron_run(argv[2], &out, &err);
    if (rc == -2) {
        fprintf(stderr, "deliveryd: unknown cron job %s\n", argv[2]);
        return 2;
    }
    if (rc < 0) {
        fprintf(stderr, "deliveryd: cron %s failed: %s\n", argv[2], err.message);
        return 1;
    }
    printf("%s\n", out);
    free(out);
    cache_thread_close();
    cache_global_free();
    return 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: deliveryd [serve | migrate | create-user --username U --role R "
                    "[--full-name N] [--password P] | cron JOB | "
                    "suggest-backtest [--from DATE] [--to DATE]]\n");
}

int main(int argc, char **argv)
{
    const char *cmd = argc > 1 ? argv[1] : "serve";
    unsigned need;
    if (strcmp(cmd, "serve") == 0) need = NEED_DATABASE | NEED_JWT;
    else if (strcmp(cmd, "migrate") == 0 || strcmp(cmd, "create-user") == 0 ||
             strcmp(cmd, "cron") == 0 || strcmp(cmd, "suggest-backtest") == 0)
        need = NEED_DATABASE;
    else {
        usage();
        return 2;
    }
    if (sodium_init() < 0) {
        fprintf(stderr, "deliveryd: libsodium failed to initialise\n");
        return 1;
    }
    json_object_seed(0);
    if (outbound_global_init() < 0) { /* before any thread: curl_global_init */
        fprintf(stderr, "deliveryd: libcurl failed to initialise\n");
        return 1;
    }
    char err[256];
    if (config_load(getenv, need, err, sizeof err) < 0) {
        fprintf(stderr, "deliveryd: %s\n", err);
        config_free();
        return 2;
    }
    int rc;
    if (strcmp(cmd, "serve") == 0) rc = serve();
    else if (strcmp(cmd, "migrate") == 0)
        rc = migrate_run(g_cfg.migrations_dir, g_cfg.schema_dir) == 0 ? 0 : 1;
    else if (strcmp(cmd, "cron") == 0) rc = run_cron(argc, argv);
    else if (strcmp(cmd, "suggest-backtest") == 0) rc = cli_suggest_backtest(argc, argv);
    else rc = cli_create_user(argc, argv);
    db_thread_close();
    config_free();
    outbound_global_free();
    return rc;
}
