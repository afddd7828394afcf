/* Streaming multipart/form-data parser (RFC 7578 over RFC 2046), with no
 * HTTP library types so that it is unit-testable and fuzzable on its own.
 *
 * Fed in pieces of any size, it keeps a small window of bytes that could
 * still be the start of a delimiter ("\r\n--boundary"); everything else goes
 * straight into the current part. The body is treated as if it began with
 * "\r\n", so a delimiter at the very start is found like any other. Parts are
 * kept in memory (they are small by the limits); each part's size is checked
 * against its field's limit as bytes arrive, the whole body against the total. */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "deliveryd/io.h"
#include "deliveryd/util.h"

#define MAX_BOUNDARY 70
#define MAX_PADDING 256

enum mp_state {
    ST_PREAMBLE, /* looking for the first delimiter */
    ST_AFTER,    /* just after a delimiter: "--" or padding + CRLF */
    ST_HEADERS,  /* reading a part's header block */
    ST_BODY,     /* part content until the next delimiter */
    ST_EPILOGUE, /* after the close delimiter: ignored */
};

struct multipart {
    struct multipart_limits lim;
    char delim[MAX_BOUNDARY + 5]; /* "\r\n--" boundary */
    size_t dlen;
    enum mp_state st;
    buf_t win; /* bytes not yet consumed */
    size_t total;
    int rc;
    char err[256];
    const char *err_field; /* NULL or err_name */
    char err_name[128];

    struct multipart_part cur;
    buf_t cur_data;
    size_t cur_max;

    struct multipart_part *parts;
    size_t nparts, cap;
};

static int fail(struct multipart *p, int code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(struct multipart *p, int code, const char *field, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(p->err, sizeof p->err, fmt, ap);
    va_end(ap);
    if (n < 0) p->err[0] = '\0';
    p->rc = code;
    p->err_field = field;
    return code;
}

static void set_err(char *err, size_t errlen, const char *msg)
{
    if (!err || errlen == 0) return;
    snprintf(err, errlen, "%s", msg);
}

static bool is_bchar(unsigned char c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
    return strchr("'()+_,-./:=? ", c) != NULL && c != '\0';
}

static bool tspecial_or_ctl(unsigned char c)
{
    return c <= 32 || c >= 127 || strchr("()<>@,;:\\\"/[]?=", c) != NULL;
}

/* Parses one parameter value at *s (token or quoted-string) into out.
 * Backslash escapes only a quote or a backslash, so that a Windows path sent
 * in a filename keeps its backslashes. Returns false on a syntax error. */
static bool param_value(const char **s, buf_t *out)
{
    const char *p = *s;
    out->len = 0;
    buf_reserve(out, 0);
    out->data[0] = '\0';
    if (*p == '"') {
        p++;
        for (;;) {
            if (*p == '\0') return false;
            if (*p == '"') {
                p++;
                break;
            }
            if (*p == '\\' && (p[1] == '"' || p[1] == '\\')) p++;
            buf_append(out, p, 1);
            p++;
        }
    } else {
        const char *b = p;
        while (*p && *p != ';' && *p != ' ' && *p != '\t')
            p++;
        if (p == b) return false;
        buf_append(out, b, (size_t)(p - b));
    }
    *s = p;
    return true;
}

/* Walks "type; a=b; c="d"" calling back for each parameter. Returns false on
 * a syntax error. The value buffer is reused between calls. */
typedef bool (*param_cb)(void *ud, const char *name, size_t nlen, const buf_t *value);

static bool walk_params(const char *s, param_cb cb, void *ud)
{
    buf_t v;
    buf_init(&v);
    bool ok = true;
    while (ok) {
        while (*s == ' ' || *s == '\t')
            s++;
        if (*s == '\0') break;
        if (*s != ';') {
            ok = false;
            break;
        }
        s++;
        while (*s == ' ' || *s == '\t')
            s++;
        if (*s == '\0') break; /* a trailing ';' */
        const char *name = s;
        while (*s && !tspecial_or_ctl((unsigned char)*s))
            s++;
        size_t nlen = (size_t)(s - name);
        while (*s == ' ' || *s == '\t')
            s++;
        if (nlen == 0 || *s != '=') {
            ok = false;
            break;
        }
        s++;
        while (*s == ' ' || *s == '\t')
            s++;
        if (!param_value(&s, &v) || !cb(ud, name, nlen, &v)) ok = false;
    }
    buf_free(&v);
    return ok;
}

struct ct_params {
    char boundary[MAX_BOUNDARY + 1];
    bool have, bad;
};

static bool ct_param(void *ud, const char *name, size_t nlen, const buf_t *v)
{
    struct ct_params *c = ud;
    if (nlen == 8 && strncasecmp(name, "boundary", 8) == 0) {
        if (c->have) return false;
        if (v->len == 0 || v->len > MAX_BOUNDARY || v->data[v->len - 1] == ' ') {
            c->bad = true;
            return false;
        }
        for (size_t i = 0; i < v->len; i++)
            if (!is_bchar((unsigned char)v->data[i])) {
                c->bad = true;
                return false;
            }
        memcpy(c->boundary, v->data, v->len + 1);
        c->have = true;
    }
    return true;
}

int multipart_new(const char *content_type, const struct multipart_limits *lim,
                  struct multipart **out, char *err, size_t errlen)
{
    *out = NULL;
    static const char mt[] = "multipart/form-data";
    const char *s = content_type ? content_type : "";
    while (*s == ' ' || *s == '\t')
        s++;
    if (strncasecmp(s, mt, sizeof mt - 1) != 0 ||
        (s[sizeof mt - 1] != '\0' && s[sizeof mt - 1] != ';' && s[sizeof mt - 1] != ' ' &&
         s[sizeof mt - 1] != '\t')) {
        set_err(err, errlen, "the body must be multipart/form-data");
        return MP_ERR_MALFORMED;
    }
    struct ct_params cp = {0};
    if (!walk_params(s + sizeof mt - 1, ct_param, &cp) || !cp.have) {
        set_err(err, errlen,
                cp.bad ? "invalid multipart boundary (1-70 characters of the RFC 2046 set)"
                       : "the multipart/form-data Content-Type has no valid boundary");
        return MP_ERR_MALFORMED;
    }
    struct multipart *p = xcalloc(1, sizeof *p);
    if (lim) p->lim = *lim;
    if (!p->lim.max_total) p->lim.max_total = 12u * 1024 * 1024;
    if (!p->lim.max_parts) p->lim.max_parts = 32;
    if (!p->lim.max_header_bytes) p->lim.max_header_bytes = 8 * 1024;
    if (!p->lim.default_max_part) p->lim.default_max_part = 4 * 1024;
    p->dlen = (size_t)snprintf(p->delim, sizeof p->delim, "\r\n--%s", cp.boundary);
    buf_init(&p->win);
    buf_init(&p->cur_data);
    buf_append(&p->win, "\r\n", 2); /* see the top of the file */
    p->st = ST_PREAMBLE;
    set_err(err, errlen, "");
    *out = p;
    return MP_OK;
}

static void part_clear(struct multipart_part *pt)
{
    free(pt->name);
    free(pt->filename);
    free(pt->content_type);
    free(pt->data);
    memset(pt, 0, sizeof *pt);
}

/* ---- part headers ---- */

/* Latin-1 → UTF-8 for a filename that is not UTF-8 (old clients). */
static char *to_utf8(const char *s, size_t len)
{
    if (utf8_valid_prefix((const unsigned char *)s, len) == len) return xstrndup(s, len);
    buf_t b;
    buf_init(&b);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x80) {
            buf_append(&b, &c, 1);
        } else {
            unsigned char u[2] = {(unsigned char)(0xC0 | (c >> 6)),
                                  (unsigned char)(0x80 | (c & 0x3F))};
            buf_append(&b, u, 2);
        }
    }
    return buf_steal(&b, NULL);
}

/* The last path component: browsers send a bare name, old ones a full path. */
static char *base_name(const char *s, size_t len)
{
    size_t start = 0;
    for (size_t i = 0; i < len; i++)
        if (s[i] == '/' || s[i] == '\\') start = i + 1;
    return to_utf8(s + start, len - start);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* RFC 5987 ext-value: charset'lang'pct-encoded; only UTF-8 is decoded. */
static bool ext_value(const buf_t *v, buf_t *out)
{
    const char *s = v->data;
    const char *q1 = strchr(s, '\'');
    if (!q1) return false;
    const char *q2 = strchr(q1 + 1, '\'');
    if (!q2) return false;
    if ((size_t)(q1 - s) != 5 || strncasecmp(s, "UTF-8", 5) != 0) return false;
    out->len = 0;
    for (const char *p = q2 + 1; *p; p++) {
        if (*p == '%') {
            int a = hexval(p[1]), b = a >= 0 ? hexval(p[2]) : -1;
            if (a < 0 || b < 0) return false;
            char c = (char)(a * 16 + b);
            buf_append(out, &c, 1);
            p += 2;
        } else {
            buf_append(out, p, 1);
        }
    }
    return true;
}

struct cd_params {
    char *name;
    char *filename;
    char *filename_ext;
    bool dup;
};

static bool cd_param(void *ud, const char *name, size_t nlen, const buf_t *v)
{
    struct cd_params *c = ud;
    if (nlen == 4 && strncasecmp(name, "name", 4) == 0) {
        if (c->name)
            c->dup = true;
        else
            c->name = xstrndup(v->data, v->len);
    } else if (nlen == 8 && strncasecmp(name, "filename", 8) == 0) {
        if (c->filename)
            c->dup = true;
        else
            c->filename = base_name(v->data, v->len);
    } else if (nlen == 9 && strncasecmp(name, "filename*", 9) == 0) {
        buf_t dec;
        buf_init(&dec);
        buf_reserve(&dec, 0);
        if (!c->filename_ext && ext_value(v, &dec)) c->filename_ext = base_name(dec.data, dec.len);
        buf_free(&dec);
    }
    return !c->dup;
}

/* Parses the header block hdr[0..len) (lines separated by CRLF). */
static int parse_headers(struct multipart *p, const char *hdr, size_t len)
{
    struct multipart_part *pt = &p->cur;
    bool have_cd = false;
    for (size_t k = 0; k + 2 < len; k++)
        if (hdr[k] == '\r' && hdr[k + 1] == '\n' && (hdr[k + 2] == ' ' || hdr[k + 2] == '\t'))
            return fail(p, MP_ERR_MALFORMED, NULL, "folded part headers are not accepted");
    size_t i = 0;
    while (i < len) {
        const char *line = hdr + i;
        const char *eol = NULL;
        for (size_t k = i; k + 1 < len; k++)
            if (hdr[k] == '\r' && hdr[k + 1] == '\n') {
                eol = hdr + k;
                break;
            }
        size_t ll = eol ? (size_t)(eol - line) : len - i;
        i += ll + (eol ? 2 : 0);
        if (ll == 0) continue;
        if (line[0] == ' ' || line[0] == '\t')
            return fail(p, MP_ERR_MALFORMED, NULL, "folded part headers are not accepted");
        if (memchr(line, '\0', ll) || memchr(line, '\r', ll) || memchr(line, '\n', ll))
            return fail(p, MP_ERR_MALFORMED, NULL, "invalid character in a part header");
        const char *colon = memchr(line, ':', ll);
        if (!colon || colon == line)
            return fail(p, MP_ERR_MALFORMED, NULL, "part header without a name");
        size_t nl = (size_t)(colon - line);
        const char *v = colon + 1;
        size_t vl = ll - nl - 1;
        while (vl && (*v == ' ' || *v == '\t'))
            v++, vl--;
        while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
            vl--;
        char *val = xstrndup(v, vl);
        if (nl == 19 && strncasecmp(line, "Content-Disposition", 19) == 0) {
            if (have_cd) {
                free(val);
                return fail(p, MP_ERR_MALFORMED, NULL, "two Content-Disposition headers");
            }
            have_cd = true;
            static const char fd[] = "form-data";
            if (strncasecmp(val, fd, sizeof fd - 1) != 0 ||
                (val[sizeof fd - 1] && val[sizeof fd - 1] != ';' && val[sizeof fd - 1] != ' ')) {
                free(val);
                return fail(p, MP_ERR_MALFORMED, NULL,
                            "a part's Content-Disposition is not form-data");
            }
            struct cd_params cd = {0};
            bool ok = walk_params(val + sizeof fd - 1, cd_param, &cd);
            free(val);
            if (!ok || !cd.name || !utf8_valid(cd.name)) {
                free(cd.name);
                free(cd.filename);
                free(cd.filename_ext);
                return fail(p, MP_ERR_MALFORMED, NULL,
                            "a part's Content-Disposition has no valid name");
            }
            pt->name = cd.name;
            if (cd.filename_ext) {
                free(cd.filename);
                pt->filename = cd.filename_ext;
            } else {
                pt->filename = cd.filename;
            }
        } else if (nl == 12 && strncasecmp(line, "Content-Type", 12) == 0) {
            free(pt->content_type);
            pt->content_type = val;
        } else {
            free(val); /* Content-Transfer-Encoding and others: ignored (RFC 7578 4.7) */
        }
    }
    if (!have_cd)
        return fail(p, MP_ERR_MALFORMED, NULL, "a part has no Content-Disposition header");
    if (p->nparts >= p->lim.max_parts)
        return fail(p, MP_ERR_TOO_LARGE, NULL, "more than %zu parts", p->lim.max_parts);
    p->cur_max = p->lim.default_max_part;
    for (size_t k = 0; k < p->lim.nfields; k++)
        if (p->lim.fields[k].name && strcmp(p->lim.fields[k].name, pt->name) == 0) {
            p->cur_max = p->lim.fields[k].max_bytes;
            break;
        }
    p->cur_data.len = 0;
    return MP_OK;
}

/* ---- the body ---- */

/* First occurrence of needle (which starts with '\r') in s[0..n). */
static char *find(char *s, size_t n, const char *needle, size_t nlen)
{
    char *end = s + n;
    while ((size_t)(end - s) >= nlen) {
        char *c = memchr(s, needle[0], (size_t)(end - s) - nlen + 1);
        if (!c) return NULL;
        if (memcmp(c, needle, nlen) == 0) return c;
        s = c + 1;
    }
    return NULL;
}

static int body_bytes(struct multipart *p, const char *s, size_t n)
{
    if (n == 0) return MP_OK;
    if (p->cur_data.len + n > p->cur_max) {
        snprintf(p->err_name, sizeof p->err_name, "%s", p->cur.name);
        return fail(p, MP_ERR_TOO_LARGE, p->err_name, "the part \"%.64s\" is larger than %zu bytes",
                    p->cur.name, p->cur_max);
    }
    buf_append(&p->cur_data, s, n);
    return MP_OK;
}

static void end_part(struct multipart *p)
{
    if (p->nparts == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 4;
        p->parts = xrealloc(p->parts, p->cap * sizeof *p->parts);
    }
    struct multipart_part *pt = &p->cur;
    size_t len;
    pt->data = (unsigned char *)buf_steal(&p->cur_data, &len);
    pt->len = len;
    p->parts[p->nparts++] = *pt;
    memset(pt, 0, sizeof *pt);
}

/* Consumes what it can of the window; returns MP_OK or an error. */
static int run(struct multipart *p)
{
    char *w = p->win.data;
    size_t len = p->win.len, pos = 0;
    int rc = MP_OK;
    while (rc == MP_OK && pos < len) {
        char *s = w + pos;
        size_t avail = len - pos;
        if (p->st == ST_PREAMBLE || p->st == ST_BODY) {
            char *hit = find(s, avail, p->delim, p->dlen);
            size_t take = hit ? (size_t)(hit - s) : (avail >= p->dlen ? avail - (p->dlen - 1) : 0);
            if (p->st == ST_BODY) rc = body_bytes(p, s, take);
            if (rc) break;
            pos += take;
            if (!hit) break; /* keep a possible partial delimiter */
            pos += p->dlen;
            if (p->st == ST_BODY) end_part(p);
            p->st = ST_AFTER;
        } else if (p->st == ST_AFTER) {
            if (avail < 2) break;
            if (s[0] == '-' && s[1] == '-') {
                p->st = ST_EPILOGUE;
                pos += 2;
                continue;
            }
            size_t k = 0;
            while (k < avail && (s[k] == ' ' || s[k] == '\t'))
                k++;
            if (k > MAX_PADDING) {
                rc = fail(p, MP_ERR_MALFORMED, NULL, "malformed multipart delimiter line");
                break;
            }
            if (avail - k < 2) break;
            if (s[k] != '\r' || s[k + 1] != '\n') {
                rc = fail(p, MP_ERR_MALFORMED, NULL, "malformed multipart delimiter line");
                break;
            }
            pos += k + 2;
            p->st = ST_HEADERS;
        } else if (p->st == ST_HEADERS) {
            size_t hlen;
            if (avail >= 2 && s[0] == '\r' && s[1] == '\n') {
                hlen = 0; /* no headers at all: refused below (no name) */
            } else {
                char *end = find(s, avail, "\r\n\r\n", 4);
                if (!end) {
                    if (avail > p->lim.max_header_bytes)
                        rc = fail(p, MP_ERR_MALFORMED, NULL,
                                  "a part's headers are longer than %zu bytes",
                                  p->lim.max_header_bytes);
                    break;
                }
                hlen = (size_t)(end - s) + 2;
            }
            if (hlen > p->lim.max_header_bytes) {
                rc = fail(p, MP_ERR_MALFORMED, NULL, "a part's headers are longer than %zu bytes",
                          p->lim.max_header_bytes);
                break;
            }
            rc = parse_headers(p, s, hlen);
            if (rc) break;
            pos += hlen + 2;
            p->st = ST_BODY;
        } else { /* ST_EPILOGUE */
            pos = len;
        }
    }
    /* drop what was consumed */
    if (pos > 0) {
        memmove(w, w + pos, len - pos);
        p->win.len = len - pos;
        w[p->win.len] = '\0';
    }
    return rc;
}

int multipart_feed(struct multipart *p, const void *data, size_t len)
{
    if (p->rc) return p->rc;
    if (len > p->lim.max_total - p->total)
        return fail(p, MP_ERR_TOO_LARGE, NULL, "the body is larger than %zu bytes",
                    p->lim.max_total);
    p->total += len;
    if (p->st == ST_EPILOGUE) return MP_OK;
    const char *d = data;
    /* Feed big pieces through the window in slices so that it stays small
     * when the bytes are part content. */
    size_t slice = 64 * 1024;
    while (len > 0) {
        size_t n = len < slice ? len : slice;
        buf_append(&p->win, d, n);
        d += n;
        len -= n;
        int rc = run(p);
        if (rc) return rc;
        if (p->st == ST_EPILOGUE) {
            p->win.len = 0;
            break;
        }
    }
    return MP_OK;
}

int multipart_finish(struct multipart *p)
{
    if (p->rc) return p->rc;
    if (p->st != ST_EPILOGUE)
        return fail(p, MP_ERR_MALFORMED, NULL,
                    p->st == ST_PREAMBLE ? "no multipart boundary found in the body"
                                         : "the multipart body ends before its closing boundary");
    return MP_OK;
}

size_t multipart_count(const struct multipart *p)
{
    return p->nparts;
}

const struct multipart_part *multipart_part_at(const struct multipart *p, size_t i)
{
    return i < p->nparts ? &p->parts[i] : NULL;
}

const struct multipart_part *multipart_get(const struct multipart *p, const char *name)
{
    for (size_t i = 0; i < p->nparts; i++)
        if (strcmp(p->parts[i].name, name) == 0) return &p->parts[i];
    return NULL;
}

const char *multipart_error(const struct multipart *p)
{
    return p->err;
}

const char *multipart_error_field(const struct multipart *p)
{
    return p->err_field;
}

void multipart_free(struct multipart *p)
{
    if (!p) return;
    for (size_t i = 0; i < p->nparts; i++)
        part_clear(&p->parts[i]);
    free(p->parts);
    part_clear(&p->cur);
    buf_free(&p->cur_data);
    buf_free(&p->win);
    free(p);
}
