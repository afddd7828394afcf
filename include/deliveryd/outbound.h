/* Outbound HTTP for webhooks (libcurl): the address rule that keeps a
 * webhook from reaching into our own network (checked when a URL is
 * subscribed and again on the address actually connected to), and a small
 * client over the multi interface: many POSTs in flight from one thread,
 * each on a reusable connection slot. No database or HTTP-server types. */
#ifndef DELIVERYD_OUTBOUND_H
#define DELIVERYD_OUTBOUND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "deliveryd/util.h"

#define OUTBOUND_URL_MAX 2048
#define OUTBOUND_TIMEOUT_MS 10000   /* connect, and the whole transfer */
#define OUTBOUND_BODY_CAP (64 * 1024) /* response bytes read at most */
#define CURL_ERROR_SIZE_OUT 320          /* > CURL_ERROR_SIZE (256) */

/** Must run once in main before any thread starts (curl_global_init). */
int outbound_global_init(void) MUSTCHECK;
void outbound_global_free(void);

/**
 * Is this an address a webhook may not reach: loopback, private (10/8,
 * 172.16/12, 192.168/16, 100.64/10, fc00::/7), link-local (169.254/16,
 * fe80::/10), multicast, unspecified, 0.0.0.0/8, broadcast and reserved
 * (240/4); IPv4-mapped and NAT64 (64:ff9b::/96) IPv6 addresses by their
 * IPv4 address. Pure (unit-testable).
 */
bool outbound_addr_blocked(const struct sockaddr *sa);

/**
 * Checks a webhook URL: at most OUTBOUND_URL_MAX bytes, http or https, no
 * user or password, a host; with allow_private false, the host must
 * resolve (getaddrinfo: blocks) and none of its addresses may be blocked.
 * 0, or -1 with the reason in why ("must be ...").
 */
int outbound_url_check(const char *url, bool allow_private, char *why, size_t whylen) MUSTCHECK;

struct outbound;      /* a multi handle: the transfers of one thread */
struct outbound_conn; /* one reusable transfer slot (an easy handle) */

struct outbound_result {
    struct outbound_conn *conn; /* free again: reuse it or free it */
    void *user;                 /* as given to outbound_post */
    long status;                /* HTTP status, 0 when no answer came */
    char error[CURL_ERROR_SIZE_OUT]; /* why it failed, "" when an answer came */
};

/** allow_private false: every connection's address is checked when the
 * socket is opened, and a blocked one is never connected to. */
struct outbound *outbound_new(bool allow_private);
/** Frees; every slot must have been freed before. */
void outbound_free(struct outbound *o);
struct outbound_conn *outbound_conn_new(struct outbound *o);
/** Frees a slot, aborting its transfer if one is in flight (no result
 * comes for it). */
void outbound_conn_free(struct outbound_conn *c);

/**
 * Starts POST url with body (copied) and the headers ("Name: value",
 * NULL-terminated, copied) on a free slot. 0, or -1 with why filled.
 */
int outbound_post(struct outbound_conn *c, const char *url, const char *const *headers,
                  const char *body, size_t len, void *user, char *why, size_t whylen) MUSTCHECK;
/** Transfers in flight. */
int outbound_in_flight(const struct outbound *o);
/**
 * Drives the transfers and waits up to timeout_ms for something to do,
 * also for `extra_fd` (>= 0) to become readable (*extra_ready), or for
 * outbound_wakeup. Then outbound_next_result for what finished.
 */
void outbound_wait(struct outbound *o, int extra_fd, int timeout_ms, bool *extra_ready);
/** A finished transfer, or false when there is none now. */
bool outbound_next_result(struct outbound *o, struct outbound_result *out);
/** Ends an outbound_wait early; callable from any thread. */
void outbound_wakeup(struct outbound *o);

#endif
