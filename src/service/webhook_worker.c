/* The webhook delivery worker (include/deliveryd/webhook_worker.h).
 *
 * One loop on one thread: claim due deliveries (a committed lease), start
 * their POSTs on the curl multi handle, wait for transfers, the LISTEN
 * socket or the next second, record the outcomes in one statement per
 * kind, claim again. A slow subscriber holds only its own slots
 * (PER_SUB), never the loop, and never an HTTP worker thread. */
#include "deliveryd/webhook_worker.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "deliveryd/auth.h"
#include "deliveryd/config.h"
#include "deliveryd/db.h"
#include "deliveryd/db_listen.h"
#include "deliveryd/log.h"
#include "deliveryd/outbound.h"

#define CHANNEL "deliveryd_events"
#define BATCH 100          /* deliveries per claim at most */
#define MAX_IN_FLIGHT 256  /* transfers of this daemon at once */
#define PER_SUB 4          /* transfers of one subscription at once */
#define LEASE_SECONDS "30" /* > OUTBOUND_TIMEOUT_MS: a claim outlives its attempt */
#define POLL_MS 1000       /* retries come due without a NOTIFY */
#define STOP_GRACE_MS 5000 /* in-flight transfers may finish after SIGTERM */

struct sub {
    int64_t id;
    int in_flight;
    int nidle;
    struct outbound_conn *idle[PER_SUB]; /* reused: one easy handle per slot */
};

struct job {
    int64_t delivery_id;
    struct sub *sub;
    struct outbound_conn *conn; /* in flight */
    size_t index;               /* in w.jobs */
};

static struct {
    pthread_mutex_t mu;
    pthread_t thread;
    bool running, stopping;
    struct outbound *out; /* for the wake-up; valid while running */
    /* the thread's own */
    struct sub **subs;
    size_t nsubs, capsubs;
    struct job **jobs;
    size_t njobs, capjobs;
} w = {.mu = PTHREAD_MUTEX_INITIALIZER};

static int64_t now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static bool stop_asked(void)
{
    pthread_mutex_lock(&w.mu);
    bool s = w.stopping;
    pthread_mutex_unlock(&w.mu);
    return s;
}

static struct sub *sub_get(int64_t id)
{
    for (size_t i = 0; i < w.nsubs; i++)
        if (w.subs[i]->id == id) return w.subs[i];
    if (w.nsubs == w.capsubs) {
        w.capsubs = w.capsubs ? w.capsubs * 2 : 16;
        w.subs = xrealloc(w.subs, w.capsubs * sizeof *w.subs);
    }
    struct sub *s = xcalloc(1, sizeof *s);
    s->id = id;
    w.subs[w.nsubs++] = s;
    return s;
}

static void job_add(struct job *j)
{
    if (w.njobs == w.capjobs) {
        w.capjobs = w.capjobs ? w.capjobs * 2 : 64;
        w.jobs = xrealloc(w.jobs, w.capjobs * sizeof *w.jobs);
    }
    j->index = w.njobs;
    w.jobs[w.njobs++] = j;
}

static void job_remove(struct job *j)
{
    struct job *last = w.jobs[--w.njobs];
    w.jobs[j->index] = last;
    last->index = j->index;
}

/* Outcomes of one turn of the loop, recorded in one statement per kind. */
struct outcomes {
    buf_t ok_ids, ok_codes, bad_ids, bad_codes, bad_errors;
    size_t nok, nbad;
};

static void outcomes_init(struct outcomes *oc)
{
    memset(oc, 0, sizeof *oc);
    buf_init(&oc->ok_ids);
    buf_init(&oc->ok_codes);
    buf_init(&oc->bad_ids);
    buf_init(&oc->bad_codes);
    buf_init(&oc->bad_errors);
}

static void outcomes_free(struct outcomes *oc)
{
    buf_free(&oc->ok_ids);
    buf_free(&oc->ok_codes);
    buf_free(&oc->bad_ids);
    buf_free(&oc->bad_codes);
    buf_free(&oc->bad_errors);
}

static void outcome_add(struct outcomes *oc, int64_t id, long status, const char *error)
{
    if (status >= 200 && status <= 299) {
        buf_printf(&oc->ok_ids, "%s%" PRId64, oc->nok ? "," : "", id);
        buf_printf(&oc->ok_codes, "%s%ld", oc->nok ? "," : "", status);
        oc->nok++;
        return;
    }
    char text[200];
    if (status) snprintf(text, sizeof text, "HTTP %ld", status);
    else snprintf(text, sizeof text, "%s", error && *error ? error : "failed");
    buf_printf(&oc->bad_ids, "%s%" PRId64, oc->nbad ? "," : "", id);
    if (status) buf_printf(&oc->bad_codes, "%s%ld", oc->nbad ? "," : "", status);
    else buf_printf(&oc->bad_codes, "%sNULL", oc->nbad ? "," : "");
    if (oc->nbad) buf_puts(&oc->bad_errors, ",");
    buf_array_elem(&oc->bad_errors, text);
    oc->nbad++;
}

/* Writes the outcomes. A database that fails here loses nothing: the
 * deliveries stay pending under their lease and are sent again after it
 * (at least once). */
static void outcomes_record(struct outcomes *oc)
{
    struct db_error err;
    if (oc->nok) {
        char *ids = xmalloc(oc->ok_ids.len + 3), *codes = xmalloc(oc->ok_codes.len + 3);
        sprintf(ids, "{%s}", oc->ok_ids.data);
        sprintf(codes, "{%s}", oc->ok_codes.data);
        db_res *res = db_run(Q(webhook_deliveries_delivered)(ids, codes), &err);
        if (res) db_res_free(res);
        else log_msgf(LOG_WARN, "webhooks: recording deliveries: %s", err.message);
        free(ids);
        free(codes);
    }
    if (oc->nbad) {
        char *ids = xmalloc(oc->bad_ids.len + 3), *codes = xmalloc(oc->bad_codes.len + 3),
             *errors = xmalloc(oc->bad_errors.len + 3);
        sprintf(ids, "{%s}", oc->bad_ids.data);
        sprintf(codes, "{%s}", oc->bad_codes.data);
        sprintf(errors, "{%s}", oc->bad_errors.data);
        db_res *res = db_run(Q(webhook_deliveries_failed)(ids, codes, errors), &err);
        if (res) db_res_free(res);
        else log_msgf(LOG_WARN, "webhooks: recording failed attempts: %s", err.message);
        free(ids);
        free(codes);
        free(errors);
    }
}

/* Starts the POST of one claimed delivery. */
static void start_one(struct outbound *out, const db_res *res, int row, struct outcomes *oc)
{
    int64_t id = 0, sub_id = 0;
    if (!parse_i64(db_get(res, row, 0), db_getlen(res, row, 0), false, &id) ||
        !parse_i64(db_get(res, row, 1), db_getlen(res, row, 1), false, &sub_id))
        return;
    const char *url = db_get(res, row, 2), *secret = db_get(res, row, 3);
    const char *event_id = db_get(res, row, 4), *body = db_get(res, row, 5);
    size_t len = db_getlen(res, row, 5);
    struct sub *s = sub_get(sub_id);
    struct outbound_conn *c = s->nidle ? s->idle[--s->nidle] : outbound_conn_new(out);

    char ts[24], sig[65];
    snprintf(ts, sizeof ts, "%lld", (long long)time(NULL));
    hmac_sha256_ts_hex(secret, ts, body, len, sig);
    char h_id[64], h_ts[64], h_sig[96];
    snprintf(h_id, sizeof h_id, "X-Deliveryd-Event-Id: %s", event_id);
    snprintf(h_ts, sizeof h_ts, "X-Deliveryd-Timestamp: %s", ts);
    snprintf(h_sig, sizeof h_sig, "X-Deliveryd-Signature: sha256=%s", sig);
    const char *headers[] = {"Content-Type: application/json", h_id, h_ts, h_sig,
                             "Expect:", /* no 100-continue round trip */
                             NULL};
    struct job *j = xcalloc(1, sizeof *j);
    j->delivery_id = id;
    j->sub = s;
    j->conn = c;
    char why[128];
    if (outbound_post(c, url, headers, body, len, j, why, sizeof why) < 0) {
        outcome_add(oc, id, 0, why);
        free(j);
        if (s->nidle < PER_SUB) s->idle[s->nidle++] = c;
        else outbound_conn_free(c);
        return;
    }
    s->in_flight++;
    job_add(j);
}

/* Claims what is due, within the free slots, and starts it. Returns the
 * number claimed (-1 when the database failed). */
static int claim(struct outbound *out, struct outcomes *oc)
{
    int room = MAX_IN_FLIGHT - outbound_in_flight(out);
    if (room <= 0) return 0;
    if (room > BATCH) room = BATCH;
    buf_t subs, free_slots;
    buf_init(&subs);
    buf_init(&free_slots);
    buf_puts(&subs, "{");
    buf_puts(&free_slots, "{");
    bool first = true;
    for (size_t i = 0; i < w.nsubs; i++) {
        if (!w.subs[i]->in_flight) continue;
        buf_printf(&subs, "%s%" PRId64, first ? "" : ",", w.subs[i]->id);
        buf_printf(&free_slots, "%s%d", first ? "" : ",", PER_SUB - w.subs[i]->in_flight);
        first = false;
    }
    buf_puts(&subs, "}");
    buf_puts(&free_slots, "}");
    char limit[16], per_sub[16];
    snprintf(limit, sizeof limit, "%d", room);
    snprintf(per_sub, sizeof per_sub, "%d", PER_SUB);
    struct db_error err;
    db_res *res = db_run(
        Q(webhook_deliveries_claim)(limit, subs.data, free_slots.data, per_sub, LEASE_SECONDS),
        &err);
    buf_free(&subs);
    buf_free(&free_slots);
    if (!res) {
        log_msgf(LOG_WARN, "webhooks: claiming deliveries: %s", err.message);
        return -1;
    }
    int n = db_ntuples(res);
    for (int i = 0; i < n; i++) start_one(out, res, i, oc);
    db_res_free(res);
    return n;
}

static void finish(struct outbound *out, const struct outbound_result *r, struct outcomes *oc)
{
    struct job *j = r->user;
    struct sub *s = j->sub;
    s->in_flight--;
    if (s->nidle < PER_SUB) s->idle[s->nidle++] = r->conn;
    else outbound_conn_free(r->conn);
    outcome_add(oc, j->delivery_id, r->status, r->error);
    if (r->status && !(r->status >= 200 && r->status <= 299))
        log_msgf(LOG_DEBUG, "webhooks: delivery %" PRId64 " failed: HTTP %ld", j->delivery_id,
                 r->status);
    else if (!r->status)
        log_msgf(LOG_DEBUG, "webhooks: delivery %" PRId64 " failed: %s", j->delivery_id,
                 r->error);
    job_remove(j);
    free(j);
    (void)out;
}

/* After the grace period: what is still in flight is aborted and made due
 * at once, so another instance need not wait for the lease. */
static void release_unfinished(void)
{
    if (!w.njobs) return;
    buf_t ids;
    buf_init(&ids);
    buf_puts(&ids, "{");
    for (size_t i = 0; i < w.njobs; i++) {
        buf_printf(&ids, "%s%" PRId64, i ? "," : "", w.jobs[i]->delivery_id);
    }
    buf_puts(&ids, "}");
    log_msgf(LOG_INFO, "webhooks: %zu deliveries unfinished at stop stay pending", w.njobs);
    for (size_t i = 0; i < w.njobs; i++) outbound_conn_free(w.jobs[i]->conn); /* aborts */
    struct db_error err;
    db_res *res = db_run(Q(webhook_deliveries_release)(ids.data), &err);
    if (res) db_res_free(res);
    else log_msgf(LOG_WARN, "webhooks: releasing unfinished deliveries: %s", err.message);
    buf_free(&ids);
}

static void *run(void *arg)
{
    struct outbound *out = arg;
    struct db_listener *listener = NULL;
    int64_t next_listen_try = 0, last_claim = 0, stop_deadline = 0;
    bool want = true, warned_listen = false;
    for (;;) {
        int64_t now = now_ms();
        bool stopping = stop_asked();
        struct outcomes oc;
        outcomes_init(&oc);
        if (stopping) {
            if (!stop_deadline) stop_deadline = now + STOP_GRACE_MS;
            if (outbound_in_flight(out) == 0 || now >= stop_deadline) {
                outcomes_free(&oc);
                break;
            }
        } else {
            if (!listener && now >= next_listen_try) {
                char err[256];
                listener = db_listen_open(CHANNEL, err, sizeof err);
                if (!listener) {
                    if (!warned_listen)
                        log_msgf(LOG_WARN, "webhooks: LISTEN %s: %s (polling every second)",
                                 CHANNEL, err);
                    warned_listen = true;
                    next_listen_try = now + 5000;
                } else {
                    warned_listen = false;
                    want = true; /* whatever was notified while not listening */
                }
            }
            if (want || now - last_claim >= POLL_MS) {
                int n = claim(out, &oc);
                last_claim = now;
                want = n > 0 && outbound_in_flight(out) < MAX_IN_FLIGHT;
            }
        }
        int timeout = stopping ? 100 : want ? 0 : (int)(POLL_MS - (now_ms() - last_claim));
        if (timeout < 0) timeout = 0;
        if (timeout > POLL_MS) timeout = POLL_MS;
        bool ready = false;
        outbound_wait(out, listener ? db_listen_fd(listener) : -1, timeout, &ready);
        if (ready && listener) {
            int n = db_listen_drain(listener);
            if (n < 0) {
                log_msgf(LOG_WARN, "webhooks: the LISTEN connection broke; reconnecting");
                db_listen_close(listener);
                listener = NULL;
                next_listen_try = 0;
            }
            if (n != 0) want = true;
        }
        struct outbound_result r;
        bool finished = false;
        while (outbound_next_result(out, &r)) {
            finish(out, &r, &oc);
            finished = true;
        }
        outcomes_record(&oc);
        outcomes_free(&oc);
        /* a recorded outcome may free the next event of the same order */
        if (finished) want = true;
    }
    release_unfinished();
    for (size_t i = 0; i < w.njobs; i++) free(w.jobs[i]);
    w.njobs = 0;
    for (size_t i = 0; i < w.nsubs; i++) {
        for (int k = 0; k < w.subs[i]->nidle; k++) outbound_conn_free(w.subs[i]->idle[k]);
        free(w.subs[i]);
    }
    w.nsubs = 0;
    db_listen_close(listener);
    db_thread_close();
    return NULL;
}

int webhook_worker_start(void)
{
    pthread_mutex_lock(&w.mu);
    w.stopping = false;
    w.out = outbound_new(g_cfg.webhook_allow_private != 0);
    w.running = pthread_create(&w.thread, NULL, run, w.out) == 0;
    if (!w.running) {
        outbound_free(w.out);
        w.out = NULL;
    }
    pthread_mutex_unlock(&w.mu);
    return w.running ? 0 : -1;
}

void webhook_worker_request_stop(void)
{
    pthread_mutex_lock(&w.mu);
    w.stopping = true;
    if (w.running) outbound_wakeup(w.out);
    pthread_mutex_unlock(&w.mu);
}

void webhook_worker_stop(void)
{
    webhook_worker_request_stop();
    pthread_mutex_lock(&w.mu);
    bool running = w.running;
    pthread_mutex_unlock(&w.mu);
    if (!running) return;
    pthread_join(w.thread, NULL);
    pthread_mutex_lock(&w.mu);
    w.running = false;
    outbound_free(w.out);
    w.out = NULL;
    free(w.subs);
    free(w.jobs);
    w.subs = NULL;
    w.jobs = NULL;
    w.capsubs = w.capjobs = 0;
    pthread_mutex_unlock(&w.mu);
}
