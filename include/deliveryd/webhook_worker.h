/* The webhook delivery worker: one thread per daemon that sends the
 * pending rows of webhook_deliveries (migration 0025) to their
 * subscribers, signed, and records each outcome. Woken by NOTIFY
 * deliveryd_events (sent at the commit of an event), and every second for
 * the retries that came due. N daemons share the work through the claim
 * (FOR UPDATE SKIP LOCKED and a 30 s lease); one order's events go to a
 * subscription in event order. docs/architecture.md, "Webhooks out". */
#ifndef DELIVERYD_WEBHOOK_WORKER_H
#define DELIVERYD_WEBHOOK_WORKER_H

/** Starts the thread. 0, or -1 if it cannot. */
int webhook_worker_start(void);
/** Stops claiming and asks the thread to finish (non-blocking). */
void webhook_worker_request_stop(void);
/** Stops: in-flight transfers get a few seconds to finish; what is still
 * unfinished then is aborted and stays pending, due at once (another
 * instance, or the next start, sends it). Joins the thread. */
void webhook_worker_stop(void);

#endif
