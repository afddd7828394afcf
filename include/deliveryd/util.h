/* Small shared helpers: allocation that aborts on failure, a growable
 * byte buffer, and time/format helpers. */
#ifndef DELIVERYD_UTIL_H
#define DELIVERYD_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MUSTCHECK __attribute__((warn_unused_result))
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/** Allocation wrappers: never return NULL, abort the process on OOM. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

/** Growable byte buffer; always NUL-terminated after any append. */
typedef struct buf {
    char *data;
    size_t len;
    size_t cap;
} buf_t;

void buf_init(buf_t *b);
void buf_free(buf_t *b);
void buf_reserve(buf_t *b, size_t extra);
void buf_append(buf_t *b, const void *p, size_t n);
void buf_puts(buf_t *b, const char *s);
void buf_printf(buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/** Appends s as a JSON string literal (with quotes). */
void buf_json_str(buf_t *b, const char *s);
/** Appends s as one element of a PostgreSQL array literal: "..." with "
 * and \ escaped (a text[] parameter built in C; the caller writes { , }). */
void buf_array_elem(buf_t *b, const char *s);
/** Hands the bytes to the caller (who frees them); the buffer is reset. */
char *buf_steal(buf_t *b, size_t *len);

/** Monotonic clock in seconds. */
double now_mono(void);
/** Wall clock, seconds since the epoch. */
double now_wall(void);

/** Parses a whole decimal int64 string (no sign unless allow_neg). */
bool parse_i64(const char *s, size_t len, bool allow_neg, int64_t *out) MUSTCHECK;

/** FNV-1a hash of a NUL-terminated string (for small in-process tables). */
uint64_t hash_str(const char *s);

/** Lower-case hex of n bytes into out (2n+1 bytes). */
void hex_encode(const unsigned char *in, size_t n, char *out);

/* Strict UTF-8 check (no overlongs, surrogates or > U+10FFFF). Returns the
 * offset of the first bad byte, or len when all is valid. */
size_t utf8_valid_prefix(const unsigned char *s, size_t len);
/* Is the NUL-terminated s (NULL counts) valid UTF-8? */
bool utf8_valid(const char *s);
/* An Arabic-Indic digit (U+0660-U+0669, as typed on an Arabic keyboard) or
 * an Extended Arabic-Indic one (U+06F0-U+06F9) at p (two bytes): its value,
 * else -1. Phones and searches read them as the ASCII digits. */
int arabic_indic_digit(const unsigned char *p);
/* A copy of s (xmalloc'd) with those digits written as ASCII digits. */
char *ascii_digits_dup(const char *s);
/* Is s 1-max visible ASCII characters (0x21-0x7E)? What a client's
 * X-Request-Id or Idempotency-Key may be: no spaces, controls or bytes
 * beyond ASCII, so it can go into a header, a log line or the database as
 * it is. */
bool visible_ascii(const char *s, size_t max);
/* Characters (code points) of the valid UTF-8 s: what a length limit
 * counts, so 200 Arabic letters are 200, not 400. */
size_t utf8_chars(const char *s);
/* Is the Content-Type ctype (with or without parameters such as
 * "; charset=utf-8") the media type `type`, case-insensitively? */
bool media_type_is(const char *ctype, const char *type);

#endif
