/* .xls (BIFF) reader over freexl 1.0.6, run in a forked child process.
 *
 * Why a child: fuzzing found a stack buffer overflow inside freexl_open (its
 * iconv string conversion) on a crafted file, and freexl turns a date serial
 * into text by looping once per day (a cell holding 2e9 costs seconds of
 * CPU). A crafted upload must not be able to crash or stall the daemon, so
 * freexl only ever runs in a short-lived child with CPU, memory and
 * wall-clock limits, and a crash there is an ordinary "damaged file" error.
 *
 * The child (which inherits the upload copy-on-write) writes it to a private
 * mkstemp file in $TMPDIR (or /tmp), unlinked at once (freexl opens it through
 * /proc/self/fd), and streams the first worksheet's non-empty cells, already formatted, to
 * the parent through a pipe:
 *   'V' u8                               1: an Excel workbook in a valid OLE2
 *                                        container (first_worksheet.c), sent
 *                                        before freexl runs, so that a crash
 *                                        in freexl is reported as "could not
 *                                        be read here", not "not an .xls file"
 *   'O'                                  opened
 *   'R' u32 row, u32 n, n x (u32 col, u8 kind, u32 len, bytes)
 *   'E' i32 code, u32 len, bytes         refused (message for the client)
 *   'Z'                                  end of the sheet
 * (native byte order: both ends are the same binary). The pipe gives
 * back-pressure, so only a row or so is ever in flight. */
#include "sheet_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <freexl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifdef UNDER_ASAN
#include <sanitizer/common_interface_defs.h>
#endif

#define CHILD_MEMORY (1024ull * 1024 * 1024) /* address space of the freexl child */

/* ------------------------------------------------------------------------ */
/* The child                                                                */
/* ------------------------------------------------------------------------ */

struct out {
    int fd;
    size_t len;
    unsigned char buf[65536];
};

static void out_flush(struct out *o)
{
    size_t off = 0;
    while (off < o->len) {
        ssize_t w = write(o->fd, o->buf + off, o->len - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) _exit(3); /* the parent went away */
        off += (size_t)w;
    }
    o->len = 0;
}

static void out_put(struct out *o, const void *p, size_t n)
{
    const unsigned char *s = p;
    while (n > 0) {
        if (o->len == sizeof o->buf) out_flush(o);
        size_t k = sizeof o->buf - o->len < n ? sizeof o->buf - o->len : n;
        memcpy(o->buf + o->len, s, k);
        o->len += k;
        s += k;
        n -= k;
    }
}

static void out_u32(struct out *o, uint32_t v)
{
    out_put(o, &v, sizeof v);
}

static __attribute__((noreturn)) void child_fail(struct out *o, int code, const char *msg)
{
    int32_t c = code;
    out_put(o, "E", 1);
    out_put(o, &c, sizeof c);
    out_u32(o, (uint32_t)strlen(msg));
    out_put(o, msg, strlen(msg));
    out_flush(o);
    _exit(0);
}

/* For an Excel file that freexl 1.0.6 cannot read (an Excel 5.0/95 or
 * older workbook, or one that trips freexl up): the file is fine, this
 * reader is not, so the client is told what to do instead. */
#define SAVE_AS_XLSX "; save it as .xlsx (Excel Workbook) or CSV and upload that"
#define CANNOT_READ(why) "this .xls file could not be read here (" why ")" SAVE_AS_XLSX
#define OLD_EXCEL                                                                                  \
    "this is an Excel 5.0/95 or older workbook, which cannot be read here" SAVE_AS_XLSX

static const char *freexl_reason(int rc)
{
    switch (rc) {
    case FREEXL_INSUFFICIENT_MEMORY:
        return "not an .xls file (too large to read)";
    case FREEXL_BIFF_OBFUSCATED:
        return "the workbook is password-protected; save it without a password";
    case FREEXL_CRAFTED_FILE:
        return "not an .xls file (damaged or crafted)";
    case FREEXL_INVALID_CHARACTER:
    case FREEXL_UNSUPPORTED_CHARSET:
        return "not an .xls file (text in an unsupported character set)";
    default:
        return "not an .xls file (damaged, or not an Excel 97-2003 workbook)";
    }
}

/* Writes the upload to a private temporary file that is unlinked at once;
 * freexl then opens it through /proc/self/fd, so no file is left behind even
 * if the child is killed. Without /proc the file is unlinked right after
 * freexl has opened it. Returns the descriptor or -1. */
static int write_temp(const void *data, size_t len, char *path, size_t pathlen, bool *unlinked)
{
    const char *dir = getenv("TMPDIR");
    if (!dir || !*dir) dir = "/tmp";
    int n = snprintf(path, pathlen, "%s/deliveryd-xls-XXXXXX", dir);
    if (n < 0 || (size_t)n >= pathlen) return -1;
    int fd = mkstemp(path);
    if (fd < 0) return -1;
    *unlinked = false;
    if (access("/proc/self/fd", X_OK) == 0) {
        unlink(path);
        *unlinked = true;
        snprintf(path, pathlen, "/proc/self/fd/%d", fd);
    }
    const char *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            close(fd);
            if (!*unlinked) unlink(path);
            return -1;
        }
        p += w;
        left -= (size_t)w;
    }
    return fd;
}

/* One freexl cell as (kind, text); false for an empty cell. */
static bool format_cell(const FreeXL_CellValue *v, enum sheet_cell_kind *kind, char *buf,
                        size_t buflen, const char **text, size_t *len)
{
    int n;
    switch (v->type) {
    case FREEXL_CELL_INT:
        n = snprintf(buf, buflen, "%d", v->value.int_value);
        *kind = SHEET_CELL_NUMBER;
        *text = buf;
        *len = n > 0 ? (size_t)n : 0;
        return true;
    case FREEXL_CELL_DOUBLE:
        *kind = SHEET_CELL_NUMBER;
        *len = sheet_format_number(v->value.double_value, buf);
        *text = buf;
        return true;
    case FREEXL_CELL_TEXT:
    case FREEXL_CELL_SST_TEXT:
        *kind = SHEET_CELL_TEXT;
        *text = v->value.text_value ? v->value.text_value : "";
        *len = strlen(*text);
        return *len > 0;
    case FREEXL_CELL_DATE:
    case FREEXL_CELL_DATETIME:
    case FREEXL_CELL_TIME: {
        const char *t = v->value.text_value ? v->value.text_value : "";
        size_t l = strlen(t);
        if (l >= buflen) l = buflen - 1;
        memcpy(buf, t, l);
        buf[l] = '\0';
        *kind = SHEET_CELL_DATE;
        if (v->type == FREEXL_CELL_TIME) *kind = SHEET_CELL_TIME;
        if (v->type == FREEXL_CELL_DATETIME) {
            *kind = SHEET_CELL_DATETIME;
            if (l > 10 && buf[10] == ' ') buf[10] = 'T'; /* ISO 8601 */
        }
        *text = buf;
        *len = l;
        return l > 0;
    }
    default:
        return false; /* FREEXL_CELL_NULL */
    }
}

static __attribute__((noreturn)) void child_main(int fd, const void *data, size_t len,
                                                 unsigned seconds)
{
    static struct out o;
    o.fd = fd;
    o.len = 0;

    /* A clean signal state: a crash here just ends the child (no crash
     * handler of the daemon - or of libFuzzer in the fuzz build - runs). */
    sigset_t all;
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
    static const int sigs[] = {SIGPIPE, SIGXCPU, SIGSEGV, SIGBUS, SIGABRT, SIGILL, SIGFPE};
    for (size_t i = 0; i < ARRAY_LEN(sigs); i++)
        signal(sigs[i], SIG_DFL);
#ifdef UNDER_ASAN
    __sanitizer_set_death_callback(NULL);
#endif
    /* limits, and no noise on the daemon's stderr */
    struct rlimit rl = {seconds, seconds + 1};
    setrlimit(RLIMIT_CPU, &rl);
#ifndef UNDER_ASAN /* ASan reserves terabytes of address space */
    rl.rlim_cur = rl.rlim_max = CHILD_MEMORY;
    setrlimit(RLIMIT_AS, &rl);
#endif
    int null = open("/dev/null", O_WRONLY);
    if (null >= 0) dup2(null, STDERR_FILENO);

    char path[4096];
    bool unlinked;
    if (write_temp(data, len, path, sizeof path, &unlinked) < 0)
        child_fail(&o, SHEET_ERR_INTERNAL, "cannot write a temporary file for the .xls reader");
    /* the file's own account of itself first: is it an Excel workbook at
     * all, which version, which sheet is the first worksheet */
    struct xls_book book;
    xls_inspect(data, len, &book);
    uint8_t excel = book.workbook;
    out_put(&o, "V", 1);
    out_put(&o, &excel, 1);
    out_flush(&o);
    if (book.workbook && book.biff == 5) child_fail(&o, SHEET_ERR_FORMAT, OLD_EXCEL);
    const void *h = NULL;
    int rc = freexl_open(path, &h);
    if (!unlinked) unlink(path);
    if (rc != FREEXL_OK && book.container && !book.workbook && rc != FREEXL_BIFF_OBFUSCATED)
        child_fail(&o, SHEET_ERR_FORMAT, "not an .xls file (an OLE2 file without a workbook)");
    if (rc == FREEXL_BIFF_OBFUSCATED || (rc != FREEXL_OK && !book.workbook))
        child_fail(&o, SHEET_ERR_FORMAT, freexl_reason(rc));
    if (rc != FREEXL_OK) child_fail(&o, SHEET_ERR_FORMAT, CANNOT_READ("the reader refused it"));
    unsigned int count = 0, biff = 0;
    unsigned int rows = 0;
    unsigned short cols = 0;
    if (freexl_get_info(h, FREEXL_BIFF_VERSION, &biff) == FREEXL_OK && biff != FREEXL_BIFF_VER_8)
        child_fail(&o, SHEET_ERR_FORMAT, OLD_EXCEL);
    if (freexl_get_info(h, FREEXL_BIFF_SHEET_COUNT, &count) != FREEXL_OK || count == 0)
        child_fail(&o, SHEET_ERR_FORMAT,
                   book.workbook ? CANNOT_READ("its sheets cannot be listed")
                                 : "not an .xls file (no worksheet)");
    /* freexl counts every BOUNDSHEET (charts too) in the same order: our
     * reading of the types applies only when the counts agree; otherwise the
     * first sheet, as freexl sees it */
    unsigned int pick = 0;
    if (book.types_known && book.nsheets == count) {
        if (book.first_worksheet < 0) child_fail(&o, SHEET_ERR_FORMAT, SHEET_NO_WORKSHEET);
        pick = (unsigned)book.first_worksheet;
    }
    if (freexl_select_active_worksheet(h, (unsigned short)pick) != FREEXL_OK ||
        freexl_worksheet_dimensions(h, &rows, &cols) != FREEXL_OK)
        child_fail(&o, SHEET_ERR_FORMAT,
                   book.workbook ? CANNOT_READ("its first worksheet cannot be read")
                                 : "not an .xls file (unreadable first sheet)");
    out_put(&o, "O", 1);
    out_flush(&o);

    /* cells of one row: (col, kind, offset into text) */
    static struct {
        uint32_t col, len;
        uint8_t kind;
        size_t off;
    } cells[256];
    buf_t text;
    buf_init(&text);
    for (unsigned row = 0; row < rows; row++) {
        uint32_t n = 0;
        text.len = 0;
        for (unsigned short c = 0; c < cols && c < 256; c++) {
            FreeXL_CellValue v;
            if (freexl_get_cell_value(h, row, c, &v) != FREEXL_OK)
                child_fail(&o, SHEET_ERR_FORMAT, "not an .xls file (unreadable cell)");
            char buf[SHEET_NUMBER_BUFSZ + SHEET_DATE_BUFSZ];
            enum sheet_cell_kind kind;
            const char *t;
            size_t l;
            if (!format_cell(&v, &kind, buf, sizeof buf, &t, &l)) continue;
            if (l > UINT32_MAX) l = UINT32_MAX;
            cells[n].col = c;
            cells[n].kind = (uint8_t)kind;
            cells[n].len = (uint32_t)l;
            cells[n].off = text.len;
            buf_append(&text, t, l);
            n++;
        }
        if (n == 0) continue;
        out_put(&o, "R", 1);
        out_u32(&o, row + 1);
        out_u32(&o, n);
        for (uint32_t i = 0; i < n; i++) {
            out_u32(&o, cells[i].col);
            out_put(&o, &cells[i].kind, 1);
            out_u32(&o, cells[i].len);
            out_put(&o, text.data + cells[i].off, cells[i].len);
        }
    }
    out_put(&o, "Z", 1);
    out_flush(&o);
    _exit(0);
}

/* ------------------------------------------------------------------------ */
/* The parent                                                               */
/* ------------------------------------------------------------------------ */

struct xls {
    pid_t pid;
    int fd;
    bool ended; /* 'Z' or EOF seen: the child is gone or going */
    bool excel; /* 'V' said: an Excel workbook in a valid container */
    double deadline;
    unsigned seconds;
    buf_t cell;
    size_t bpos, blen;
    unsigned char buf[65536];
};

/* Waits for the child; returns the signal that ended it, or 0. */
static int reap(struct xls *x, bool kill_it)
{
    if (x->pid <= 0) return 0;
    if (kill_it) kill(x->pid, SIGKILL);
    int status = 0;
    pid_t got;
    while ((got = waitpid(x->pid, &status, 0)) < 0 && errno == EINTR) {
    }
    x->pid = 0; /* ECHILD too: SIGCHLD ignored, the kernel reaped it */
    return got > 0 && WIFSIGNALED(status) ? WTERMSIG(status) : 0;
}

/* Exactly n bytes from the child, within the deadline. */
static int rd(struct sheet_reader *r, struct xls *x, void *out, size_t n)
{
    unsigned char *o = out;
    while (n > 0) {
        if (x->bpos < x->blen) {
            size_t k = x->blen - x->bpos < n ? x->blen - x->bpos : n;
            memcpy(o, x->buf + x->bpos, k);
            x->bpos += k;
            o += k;
            n -= k;
            continue;
        }
        double left = x->deadline - now_mono();
        if (left <= 0) {
            reap(x, true);
            x->ended = true;
            return sheet_fail(r, SHEET_ERR_TOO_LARGE,
                              "refused: the .xls file takes more than %u s to read", x->seconds);
        }
        struct pollfd pfd = {.fd = x->fd, .events = POLLIN};
        int pr = poll(&pfd, 1, (int)(left * 1000) + 1);
        if (pr < 0 && errno == EINTR) continue;
        if (pr == 0) continue; /* the deadline check above ends it */
        ssize_t got = read(x->fd, x->buf, sizeof x->buf);
        if (got < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (got <= 0) {
            /* the child died without finishing: freexl crashed or ran out of
             * its CPU or memory allowance on this file */
            x->ended = true;
            int sig = reap(x, false);
            /* out of its CPU allowance (SIGXCPU, then SIGKILL at the hard
             * limit): as slow as a file past the deadline */
            if (sig == SIGXCPU || (sig == SIGKILL && now_mono() >= x->deadline - 1.0))
                return sheet_fail(r, SHEET_ERR_TOO_LARGE,
                                  "refused: the .xls file takes more than %u s to read",
                                  x->seconds);
            if (x->excel)
                return sheet_fail(r, SHEET_ERR_FORMAT, CANNOT_READ("the reader failed on it"));
            return sheet_fail(r, SHEET_ERR_FORMAT,
                              "not an .xls file (damaged: the reader could not finish it)");
        }
        x->bpos = 0;
        x->blen = (size_t)got;
    }
    return 0;
}

static int rd_u32(struct sheet_reader *r, struct xls *x, uint32_t *v)
{
    return rd(r, x, v, sizeof *v);
}

/* After 'E': the child's message becomes ours. */
static int child_error(struct sheet_reader *r, struct xls *x)
{
    int32_t code;
    uint32_t len;
    int rc = rd(r, x, &code, sizeof code);
    if (!rc) rc = rd_u32(r, x, &len);
    if (rc) return rc;
    char msg[sizeof r->err];
    size_t keep = len < sizeof msg - 1 ? len : sizeof msg - 1;
    rc = rd(r, x, msg, keep);
    if (rc) return rc;
    msg[keep] = '\0';
    x->ended = true;
    reap(x, true);
    if (code != SHEET_ERR_FORMAT && code != SHEET_ERR_TOO_LARGE && code != SHEET_ERR_INTERNAL)
        code = SHEET_ERR_FORMAT;
    return sheet_fail(r, code, "%s", msg);
}

static int xls_next(struct sheet_reader *r, long *row_number)
{
    struct xls *x = r->impl;
    if (x->ended) return 0;
    char type;
    int rc = rd(r, x, &type, 1);
    if (rc) return rc;
    if (type == 'Z') {
        x->ended = true;
        reap(x, false);
        return 0;
    }
    if (type == 'E') return child_error(r, x);
    if (type != 'R') {
        x->ended = true;
        reap(x, true);
        return sheet_fail(r, SHEET_ERR_FORMAT, "not an .xls file (reader protocol error)");
    }
    uint32_t row, n;
    if ((rc = rd_u32(r, x, &row)) || (rc = rd_u32(r, x, &n))) return rc;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t col, len;
        uint8_t kind;
        if ((rc = rd_u32(r, x, &col)) || (rc = rd(r, x, &kind, 1)) || (rc = rd_u32(r, x, &len)))
            return rc;
        if (kind > SHEET_CELL_ERROR) kind = SHEET_CELL_TEXT;
        if (len > r->lim.max_cell_bytes) {
            char c[16];
            sheet_column_name(col, c, sizeof c);
            return sheet_fail(r, SHEET_ERR_TOO_LARGE, "row %u: cell %s%u is longer than %zu bytes",
                              row, c, row, r->lim.max_cell_bytes);
        }
        x->cell.len = 0;
        buf_reserve(&x->cell, len);
        if ((rc = rd(r, x, x->cell.data, len))) return rc;
        rc = row_set(r, (long)row, col, (enum sheet_cell_kind)kind, x->cell.data, len);
        if (rc) return rc;
    }
    *row_number = (long)row;
    return 1;
}

static void xls_free(void *impl)
{
    struct xls *x = impl;
    if (!x) return;
    reap(x, !x->ended);
    if (x->fd >= 0) close(x->fd);
    buf_free(&x->cell);
    free(x);
}

static const struct sheet_ops xls_ops = {xls_next, xls_free};

int xls_open(struct sheet_reader *r, const void *data, size_t len)
{
    static const unsigned char ole[8] = {0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1};
    if (len >= 4 && memcmp(data, "PK\3\4", 4) == 0)
        return sheet_fail(r, SHEET_ERR_FORMAT, "not an .xls file (this is an .xlsx file)");
    if (sheet_is_old_biff(data, len)) return sheet_fail(r, SHEET_ERR_FORMAT, OLD_EXCEL);
    if (len < 512 || memcmp(data, ole, 8) != 0)
        return sheet_fail(r, SHEET_ERR_FORMAT, "not an .xls file");
    int p[2];
    if (pipe(p) != 0)
        return sheet_fail(r, SHEET_ERR_INTERNAL, "cannot start the .xls reader: %s",
                          strerror(errno));
    fcntl(p[0], F_SETFD, FD_CLOEXEC);
    fcntl(p[1], F_SETFD, FD_CLOEXEC);
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(p[0]);
        close(p[1]);
        return sheet_fail(r, SHEET_ERR_INTERNAL, "cannot start the .xls reader: %s", strerror(e));
    }
    if (pid == 0) {
        close(p[0]);
        child_main(p[1], data, len, r->lim.max_seconds);
    }
    close(p[1]);
    struct xls *x = xcalloc(1, sizeof *x);
    x->pid = pid;
    x->fd = p[0];
    x->seconds = r->lim.max_seconds;
    x->deadline = now_mono() + r->lim.max_seconds;
    buf_init(&x->cell);
    char type;
    int rc = rd(r, x, &type, 1);
    if (!rc && type == 'V') {
        uint8_t excel = 0;
        rc = rd(r, x, &excel, 1);
        x->excel = excel != 0;
        if (!rc) rc = rd(r, x, &type, 1);
    }
    if (!rc && type == 'E') rc = child_error(r, x);
    if (!rc && type != 'O') rc = sheet_fail(r, SHEET_ERR_FORMAT, "not an .xls file");
    if (rc) {
        xls_free(x);
        return rc;
    }
    r->impl = x;
    r->ops = &xls_ops;
    return 0;
}
