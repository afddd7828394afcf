/* .xlsx reader: libzip over the upload in memory, expat over the parts.
 *
 * Open reads the small parts whole (package and workbook relationships,
 * workbook, styles, shared strings); the first worksheet is then streamed
 * through expat in chunks, the parser suspended at each </row> so only one
 * row is ever held. Zip bombs: every entry's declared sizes are checked
 * before anything is inflated, and the bytes zip_fread really produces are
 * counted against the same limits (libzip does not enforce declared sizes).
 * XML: any DOCTYPE stops the parser (so no entity can be declared), expat's
 * amplification guard is on, and text and tokens are capped. */
#include "sheet_internal.h"

/* Debian builds expat with XML_DTD; the amplification guard is declared under it. */
#define XML_DTD 1
#include <expat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zip.h>

#define CHUNK (64 * 1024)
#define RATIO_MIN_BYTES (1024u * 1024) /* the ratio check starts above this size */
#define MAX_PENDING_TOKEN (4u * 1024 * 1024)
#define MAX_RELS 10000
#define MAX_NUMFMTS 10000
#define MAX_XFS 100000
#define MAX_PATH_LEN 1024
#define MAX_ROW_NUMBER 1048576L
#define MAX_COLUMN 16384

enum xf_kind { XF_NONE = 0, XF_DATE, XF_DATETIME, XF_TIME };

struct zentry {
    zip_file_t *zf;
    char name[MAX_PATH_LEN];
    uint64_t declared, got;
};

struct rel {
    char *id, *type, *target;
};

struct rels {
    struct rel *v;
    size_t n, cap;
};

struct numfmt {
    unsigned id;
    enum xf_kind kind;
};

/* Per-part parse state for the XML handlers. */
enum part { P_RELS, P_WORKBOOK, P_STYLES, P_SST, P_SHEET };

struct xlsx {
    struct sheet_reader *r;
    zip_t *za;
    uint64_t inflated;
    bool date1904;

    /* workbook: the <sheet>s' relationship ids in tab order */
    char **sheet_rids;
    size_t nsheets, sheets_cap;
    /* shared strings: offsets into sst_text */
    buf_t sst_text;
    size_t *sst_off;
    size_t sst_n, sst_cap;
    /* styles */
    struct numfmt *fmts;
    size_t nfmts, fmts_cap;
    unsigned char *xf;
    size_t nxf, xf_cap;

    /* the parser of the current part */
    XML_Parser xp;
    enum part part;
    int rc; /* set by a handler that stopped the parser */
    bool doctype;
    int depth_is, depth_rph, in_sheetdata, in_cellxfs, in_numfmts, in_si, in_t;
    struct rels *rels_out;
    buf_t text; /* character data being collected */
    bool capture;
    uint64_t fed;

    /* sheet streaming */
    struct zentry sheet;
    char *chunk;
    bool suspended, fed_final, done, row_ready;
    long row_num;
    bool in_row;
    long cur_row;
    size_t next_col;
    /* the cell being read */
    bool in_cell;
    size_t col;
    char ctype[12];
    size_t style;
    bool have_v;
    bool in_v, in_f;
};

/* ---- zip entries with counted inflation ---- */

static int zentry_open(struct xlsx *x, zip_int64_t idx, struct zentry *e)
{
    memset(e, 0, sizeof *e);
    zip_stat_t st;
    zip_stat_init(&st);
    if (zip_stat_index(x->za, (zip_uint64_t)idx, 0, &st) != 0)
        return sheet_fail(x->r, SHEET_ERR_FORMAT, "not an .xlsx file (unreadable zip entry)");
    snprintf(e->name, sizeof e->name, "%s", st.name ? st.name : "?");
    e->declared = (st.valid & ZIP_STAT_SIZE) ? st.size : 0;
    if (st.valid & ZIP_STAT_ENCRYPTION_METHOD && st.encryption_method != ZIP_EM_NONE)
        return sheet_fail(x->r, SHEET_ERR_FORMAT,
                          "the workbook is encrypted; save it without a password");
    e->zf = zip_fopen_index(x->za, (zip_uint64_t)idx, 0);
    if (!e->zf)
        return sheet_fail(x->r, SHEET_ERR_FORMAT, "not an .xlsx file (cannot read %s: %s)", e->name,
                          zip_strerror(x->za));
    return 0;
}

static void zentry_close(struct zentry *e)
{
    if (e->zf) zip_fclose(e->zf);
    e->zf = NULL;
}

/* Reads up to n bytes; returns the count (0 at the end) or a SHEET_ERR_*. */
static long zentry_read(struct xlsx *x, struct zentry *e, char *buf, size_t n)
{
    zip_int64_t got = zip_fread(e->zf, buf, n);
    if (got < 0)
        return sheet_fail(x->r, SHEET_ERR_FORMAT, "not an .xlsx file (%s is corrupt: %s)", e->name,
                          zip_file_strerror(e->zf));
    e->got += (uint64_t)got;
    x->inflated += (uint64_t)got;
    if (e->got > e->declared)
        return sheet_fail(x->r, SHEET_ERR_TOO_LARGE,
                          "refused: zip entry %s inflates beyond its declared size", e->name);
    if (e->got > x->r->lim.max_entry || x->inflated > x->r->lim.max_inflated)
        return sheet_fail(x->r, SHEET_ERR_TOO_LARGE,
                          "refused: the workbook inflates beyond %llu bytes",
                          (unsigned long long)x->r->lim.max_inflated);
    return (long)got;
}

/* Every entry's declared sizes against the limits, before inflating. */
static int check_declared(struct xlsx *x)
{
    const struct sheet_limits *lim = &x->r->lim;
    zip_int64_t n = zip_get_num_entries(x->za, 0);
    if (n < 0) return sheet_fail(x->r, SHEET_ERR_FORMAT, "not an .xlsx file");
    if ((uint64_t)n > lim->max_zip_entries)
        return sheet_fail(x->r, SHEET_ERR_TOO_LARGE, "refused: the zip has %lld entries",
                          (long long)n);
    uint64_t total = 0;
    for (zip_int64_t i = 0; i < n; i++) {
        zip_stat_t st;
        zip_stat_init(&st);
        if (zip_stat_index(x->za, (zip_uint64_t)i, 0, &st) != 0)
            return sheet_fail(x->r, SHEET_ERR_FORMAT, "not an .xlsx file (bad zip directory)");
        uint64_t size = (st.valid & ZIP_STAT_SIZE) ? st.size : 0;
        uint64_t comp = (st.valid & ZIP_STAT_COMP_SIZE) ? st.comp_size : 0;
        if (size > lim->max_entry)
            return sheet_fail(x->r, SHEET_ERR_TOO_LARGE,
                              "refused: zip entry %s would inflate to %llu bytes",
                              st.name ? st.name : "?", (unsigned long long)size);
        total += size;
        if (total > lim->max_inflated)
            return sheet_fail(x->r, SHEET_ERR_TOO_LARGE,
                              "refused: the workbook would inflate to more than %llu bytes",
                              (unsigned long long)lim->max_inflated);
        if (size > RATIO_MIN_BYTES && (comp == 0 || size / comp >= lim->max_ratio))
            return sheet_fail(x->r, SHEET_ERR_TOO_LARGE,
                              "refused: zip entry %s is compressed more than %u:1",
                              st.name ? st.name : "?", lim->max_ratio);
    }
    return 0;
}

/* ---- XML plumbing ---- */

static const char *lname(const char *q)
{
    const char *c = strrchr(q, ':');
    return c ? c + 1 : q;
}

static const char *attr(const char **atts, const char *name)
{
    for (size_t i = 0; atts[i]; i += 2)
        if (strcmp(lname(atts[i]), name) == 0) return atts[i + 1];
    return NULL;
}

static void stop(struct xlsx *x, int rc)
{
    if (!x->rc) x->rc = rc;
    XML_StopParser(x->xp, XML_FALSE);
}

static void XMLCALL on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid,
                               const XML_Char *pubid, int has_internal_subset)
{
    struct xlsx *x = ud;
    x->doctype = true;
    stop(x, sheet_fail(x->r, SHEET_ERR_FORMAT, "refused: XML with a DOCTYPE in the workbook"));
}

static void XMLCALL on_entity(void *ud, const XML_Char *name, int pe, const XML_Char *value,
                              int vlen, const XML_Char *base, const XML_Char *sysid,
                              const XML_Char *pubid, const XML_Char *notation)
{
    struct xlsx *x = ud;
    stop(x, sheet_fail(x->r, SHEET_ERR_FORMAT, "refused: XML entity declaration"));
}

static void XMLCALL on_text(void *ud, const XML_Char *s, int len)
{
    struct xlsx *x = ud;
    if (!x->capture || len <= 0) return;
    /* raw text may carry _xHHHH_ escapes (7 bytes for 1): allow for them */
    size_t cap = x->r->lim.max_cell_bytes * 8 + 64;
    if (x->text.len + (size_t)len > cap) {
        stop(x, sheet_fail(x->r, SHEET_ERR_TOO_LARGE,
                           "refused: a text in the workbook is longer than %zu bytes",
                           x->r->lim.max_cell_bytes));
        return;
    }
    buf_append(&x->text, s, (size_t)len);
}

/* Decodes OOXML's _xHHHH_ escapes (ST_Xstring) in place. */
static size_t decode_xstring(char *s, size_t len)
{
    if (!memchr(s, '_', len)) return len;
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        if (s[i] == '_' && i + 7 <= len && s[i + 1] == 'x' && s[i + 6] == '_') {
            unsigned cp = 0;
            bool ok = true;
            for (size_t k = 2; k < 6; k++) {
                char c = s[i + k];
                unsigned v;
                if (c >= '0' && c <= '9')
                    v = (unsigned)(c - '0');
                else if (c >= 'a' && c <= 'f')
                    v = (unsigned)(c - 'a' + 10);
                else if (c >= 'A' && c <= 'F')
                    v = (unsigned)(c - 'A' + 10);
                else {
                    ok = false;
                    break;
                }
                cp = cp * 16 + v;
            }
            if (ok && cp != 0 && !(cp >= 0xD800 && cp <= 0xDFFF)) {
                /* the UTF-8 form is at most 3 bytes, shorter than the 7 read */
                if (cp < 0x80) {
                    s[o++] = (char)cp;
                } else if (cp < 0x800) {
                    s[o++] = (char)(0xC0 | (cp >> 6));
                    s[o++] = (char)(0x80 | (cp & 0x3F));
                } else {
                    s[o++] = (char)(0xE0 | (cp >> 12));
                    s[o++] = (char)(0x80 | ((cp >> 6) & 0x3F));
                    s[o++] = (char)(0x80 | (cp & 0x3F));
                }
                i += 7;
                continue;
            }
        }
        s[o++] = s[i++];
    }
    return o;
}

static XML_Parser new_parser(struct xlsx *x)
{
    XML_Parser p = XML_ParserCreate(NULL);
    if (!p) abort();
    XML_SetUserData(p, x);
    XML_SetStartDoctypeDeclHandler(p, on_doctype);
    XML_SetEntityDeclHandler(p, on_entity);
    XML_SetParamEntityParsing(p, XML_PARAM_ENTITY_PARSING_NEVER);
    XML_SetCharacterDataHandler(p, on_text);
    XML_SetBillionLaughsAttackProtectionMaximumAmplification(p, 20.0f);
    XML_SetBillionLaughsAttackProtectionActivationThreshold(p, 4u * 1024 * 1024);
    x->rc = 0;
    x->fed = 0;
    x->capture = false;
    x->text.len = 0;
    return p;
}

/* The status of a finished XML_Parse/XML_ResumeParser as a SHEET code. */
static int xml_status(struct xlsx *x, enum XML_Status st, const char *part)
{
    if (x->rc) return x->rc;
    if (st == XML_STATUS_ERROR)
        return sheet_fail(x->r, SHEET_ERR_FORMAT, "not an .xlsx file (%s: %s at line %lu)", part,
                          XML_ErrorString(XML_GetErrorCode(x->xp)),
                          (unsigned long)XML_GetCurrentLineNumber(x->xp));
    /* expat holds an unfinished token whole: keep that bounded */
    XML_Index at = XML_GetCurrentByteIndex(x->xp);
    if (at >= 0 && x->fed > (uint64_t)at && x->fed - (uint64_t)at > MAX_PENDING_TOKEN)
        return sheet_fail(x->r, SHEET_ERR_TOO_LARGE, "refused: an XML tag in %s is too long", part);
    return 0;
}

/* Parses a whole (small) part with the handlers already set on x->xp. */
static int parse_part(struct xlsx *x, zip_int64_t idx)
{
    struct zentry e;
    int rc = zentry_open(x, idx, &e);
    if (rc) return rc;
    char *buf = xmalloc(CHUNK);
    for (;;) {
        long n = zentry_read(x, &e, buf, CHUNK);
        if (n < 0) {
            rc = (int)n;
            break;
        }
        x->fed += (uint64_t)n;
        enum XML_Status st = XML_Parse(x->xp, buf, (int)n, n == 0);
        rc = xml_status(x, st, e.name);
        if (rc || n == 0) break;
    }
    free(buf);
    zentry_close(&e);
    return rc;
}

/* ---- relationships ---- */

static void XMLCALL rels_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
    struct xlsx *x = ud;
    if (strcmp(lname(name), "Relationship") != 0) return;
    struct rels *rs = x->rels_out;
    const char *id = attr(atts, "Id"), *type = attr(atts, "Type"), *target = attr(atts, "Target");
    const char *mode = attr(atts, "TargetMode");
    if (!id || !type || !target) return;
    if (mode && strcmp(mode, "External") == 0) return;
    if (strlen(target) >= MAX_PATH_LEN || strlen(id) >= MAX_PATH_LEN) return;
    if (rs->n >= MAX_RELS) {
        stop(x, sheet_fail(x->r, SHEET_ERR_TOO_LARGE, "refused: too many relationships"));
        return;
    }
    if (rs->n == rs->cap) {
        rs->cap = rs->cap ? rs->cap * 2 : 8;
        rs->v = xrealloc(rs->v, rs->cap * sizeof *rs->v);
    }
    rs->v[rs->n].id = xstrdup(id);
    rs->v[rs->n].type = xstrdup(type);
    rs->v[rs->n].target = xstrdup(target);
    rs->n++;
}

static void rels_free(struct rels *rs)
{
    for (size_t i = 0; i < rs->n; i++) {
        free(rs->v[i].id);
        free(rs->v[i].type);
        free(rs->v[i].target);
    }
    free(rs->v);
    memset(rs, 0, sizeof *rs);
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

static const struct rel *rel_by_type(const struct rels *rs, const char *suffix)
{
    for (size_t i = 0; i < rs->n; i++)
        if (ends_with(rs->v[i].type, suffix)) return &rs->v[i];
    return NULL;
}

/* Resolves a relationship target against the directory of the part that owns
 * it ("xl/"); absolute targets start at the package root. "." and ".."
 * segments are folded. Returns false when the result does not fit. */
static bool resolve(const char *base_dir, const char *target, char *out, size_t outlen)
{
    char tmp[2 * MAX_PATH_LEN + 2];
    int n;
    if (target[0] == '/')
        n = snprintf(tmp, sizeof tmp, "%s", target + 1);
    else
        n = snprintf(tmp, sizeof tmp, "%s%s", base_dir, target);
    if (n < 0 || (size_t)n >= sizeof tmp) return false;
    /* fold segments */
    size_t o = 0;
    char *save = NULL;
    out[0] = '\0';
    for (char *seg = strtok_r(tmp, "/", &save); seg; seg = strtok_r(NULL, "/", &save)) {
        if (strcmp(seg, ".") == 0) continue;
        if (strcmp(seg, "..") == 0) {
            while (o > 0 && out[o - 1] != '/')
                o--;
            if (o > 0) o--;
            out[o] = '\0';
            continue;
        }
        size_t l = strlen(seg);
        if (o + (o ? 1 : 0) + l + 1 > outlen) return false;
        if (o) out[o++] = '/';
        memcpy(out + o, seg, l);
        o += l;
        out[o] = '\0';
    }
    return o > 0;
}

static zip_int64_t locate(struct xlsx *x, const char *path)
{
    zip_int64_t i = zip_name_locate(x->za, path, 0);
    if (i < 0) i = zip_name_locate(x->za, path, ZIP_FL_NOCASE);
    return i;
}

static int read_rels(struct xlsx *x, const char *path, struct rels *out)
{
    zip_int64_t idx = locate(x, path);
    if (idx < 0) return 1; /* absent */
    x->xp = new_parser(x);
    x->part = P_RELS;
    x->rels_out = out;
    XML_SetStartElementHandler(x->xp, rels_start);
    int rc = parse_part(x, idx);
    XML_ParserFree(x->xp);
    x->xp = NULL;
    return rc;
}

/* ---- workbook ---- */

static bool xml_true(const char *v)
{
    return v && (strcmp(v, "1") == 0 || strcmp(v, "true") == 0);
}

static void XMLCALL wb_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
    struct xlsx *x = ud;
    const char *l = lname(name);
    if (strcmp(l, "workbookPr") == 0) {
        x->date1904 = xml_true(attr(atts, "date1904"));
    } else if (strcmp(l, "sheet") == 0) {
        const char *id = attr(atts, "id");
        if (!id || strlen(id) >= MAX_PATH_LEN) return;
        if (x->nsheets >= MAX_RELS) {
            stop(x, sheet_fail(x->r, SHEET_ERR_TOO_LARGE, "refused: too many sheets"));
            return;
        }
        if (x->nsheets == x->sheets_cap) {
            x->sheets_cap = x->sheets_cap ? x->sheets_cap * 2 : 8;
            x->sheet_rids = xrealloc(x->sheet_rids, x->sheets_cap * sizeof *x->sheet_rids);
        }
        x->sheet_rids[x->nsheets++] = xstrdup(id);
    }
}

/* ---- styles: which cell formats show dates ---- */

/* Classifies a number format code by its date/time tokens outside quotes,
 * brackets and escapes, in the first section. */
static enum xf_kind classify_format(const char *f)
{
    bool has_date = false, has_time = false, month_or_minute = false;
    for (const char *p = f; *p && *p != ';'; p++) {
        char c = *p;
        if (c == '"') {
            p++;
            while (*p && *p != '"')
                p++;
            if (!*p) break;
            continue;
        }
        if (c == '[') {
            while (*p && *p != ']')
                p++;
            if (!*p) break;
            continue;
        }
        if (c == '\\' || c == '_' || c == '*') {
            if (!p[1]) break;
            p++;
            continue;
        }
        if (strncasecmp(p, "General", 7) == 0) {
            p += 6;
            continue;
        }
        switch (c) {
        case 'y':
        case 'Y':
        case 'd':
        case 'D':
            has_date = true;
            break;
        case 'h':
        case 'H':
        case 's':
        case 'S':
            has_time = true;
            break;
        case 'm':
        case 'M':
            month_or_minute = true;
            break;
        case 'A':
        case 'a':
            if (strncasecmp(p, "AM/PM", 5) == 0 || strncasecmp(p, "A/P", 3) == 0) has_time = true;
            break;
        default:
            break;
        }
    }
    if (month_or_minute && !has_time) has_date = true;
    if (has_date && has_time) return XF_DATETIME;
    if (has_date) return XF_DATE;
    if (has_time) return XF_TIME;
    return XF_NONE;
}

static enum xf_kind builtin_kind(unsigned id)
{
    if (id >= 14 && id <= 17) return XF_DATE;
    if (id >= 18 && id <= 21) return XF_TIME;
    if (id == 22) return XF_DATETIME;
    if (id >= 45 && id <= 47) return XF_TIME;
    /* East Asian built-in date formats, as xlrd and openpyxl treat them */
    if ((id >= 27 && id <= 36) || (id >= 50 && id <= 58)) return XF_DATE;
    return XF_NONE;
}

static bool parse_uint(const char *s, unsigned long max, unsigned long *out)
{
    if (!s || !*s) return false;
    unsigned long v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9') return false;
        v = v * 10 + (unsigned long)(*s - '0');
        if (v > max) return false;
    }
    *out = v;
    return true;
}

static void XMLCALL styles_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
    struct xlsx *x = ud;
    const char *l = lname(name);
    unsigned long id;
    if (strcmp(l, "numFmts") == 0) {
        x->in_numfmts++;
    } else if (strcmp(l, "cellXfs") == 0) {
        x->in_cellxfs++;
    } else if (strcmp(l, "numFmt") == 0 && x->in_numfmts) {
        const char *code = attr(atts, "formatCode");
        if (!code || !parse_uint(attr(atts, "numFmtId"), 1000000, &id)) return;
        if (x->nfmts >= MAX_NUMFMTS) {
            stop(x, sheet_fail(x->r, SHEET_ERR_TOO_LARGE, "refused: too many number formats"));
            return;
        }
        if (x->nfmts == x->fmts_cap) {
            x->fmts_cap = x->fmts_cap ? x->fmts_cap * 2 : 16;
            x->fmts = xrealloc(x->fmts, x->fmts_cap * sizeof *x->fmts);
        }
        x->fmts[x->nfmts].id = (unsigned)id;
        x->fmts[x->nfmts].kind = classify_format(code);
        x->nfmts++;
    } else if (strcmp(l, "xf") == 0 && x->in_cellxfs) {
        if (x->nxf >= MAX_XFS) {
            stop(x, sheet_fail(x->r, SHEET_ERR_TOO_LARGE, "refused: too many cell formats"));
            return;
        }
        enum xf_kind k = XF_NONE;
        if (parse_uint(attr(atts, "numFmtId"), 1000000, &id)) {
            bool custom = false;
            for (size_t i = 0; i < x->nfmts; i++)
                if (x->fmts[i].id == id) k = x->fmts[i].kind, custom = true;
            if (!custom) k = builtin_kind((unsigned)id);
        }
        if (x->nxf == x->xf_cap) {
            x->xf_cap = x->xf_cap ? x->xf_cap * 2 : 64;
            x->xf = xrealloc(x->xf, x->xf_cap);
        }
        x->xf[x->nxf++] = (unsigned char)k;
    }
}

static void XMLCALL styles_end(void *ud, const XML_Char *name)
{
    struct xlsx *x = ud;
    const char *l = lname(name);
    if (strcmp(l, "numFmts") == 0 && x->in_numfmts)
        x->in_numfmts--;
    else if (strcmp(l, "cellXfs") == 0 && x->in_cellxfs)
        x->in_cellxfs--;
}

/* ---- shared strings ---- */

static void XMLCALL sst_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
    struct xlsx *x = ud;
    const char *l = lname(name);
    if (strcmp(l, "si") == 0) {
        x->in_si = 1;
        x->depth_rph = 0;
        x->text.len = 0;
    } else if (strcmp(l, "rPh") == 0) {
        x->depth_rph++;
    } else if (strcmp(l, "t") == 0 && x->in_si && !x->depth_rph) {
        x->capture = true;
    }
}

static void XMLCALL sst_end(void *ud, const XML_Char *name)
{
    struct xlsx *x = ud;
    const char *l = lname(name);
    const struct sheet_limits *lim = &x->r->lim;
    if (strcmp(l, "t") == 0) {
        x->capture = false;
    } else if (strcmp(l, "rPh") == 0) {
        if (x->depth_rph) x->depth_rph--;
    } else if (strcmp(l, "si") == 0 && x->in_si) {
        x->in_si = 0;
        size_t len = x->text.len ? decode_xstring(x->text.data, x->text.len) : 0;
        if (len > lim->max_cell_bytes) {
            stop(x, sheet_fail(x->r, SHEET_ERR_TOO_LARGE,
                               "refused: shared string %zu is longer than %zu bytes", x->sst_n,
                               lim->max_cell_bytes));
            return;
        }
        if (x->sst_n >= lim->max_shared_strings ||
            x->sst_text.len + len + 1 > lim->max_shared_bytes) {
            stop(x, sheet_fail(x->r, SHEET_ERR_TOO_LARGE,
                               "refused: the shared strings table is too large"));
            return;
        }
        if (x->sst_n + 1 >= x->sst_cap) {
            x->sst_cap = x->sst_cap ? x->sst_cap * 2 : 256;
            x->sst_off = xrealloc(x->sst_off, x->sst_cap * sizeof *x->sst_off);
        }
        x->sst_off[x->sst_n++] = x->sst_text.len;
        buf_append(&x->sst_text, x->text.data ? x->text.data : "", len);
        buf_append(&x->sst_text, "", 1);
        x->sst_off[x->sst_n] = x->sst_text.len; /* sentinel: end of the last string */
        x->text.len = 0;
    }
}

/* ---- the sheet ---- */

/* "AB12" → column 27; false when there are no letters or too many. */
static bool ref_column(const char *ref, size_t *col)
{
    size_t c = 0, n = 0;
    for (; *ref >= 'A' && *ref <= 'Z'; ref++, n++) {
        c = c * 26 + (size_t)(*ref - 'A' + 1);
        if (c > MAX_COLUMN) return false;
    }
    if (n == 0) return false;
    *col = c - 1;
    return true;
}

static void XMLCALL sheet_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
    struct xlsx *x = ud;
    const char *l = lname(name);
    if (!x->in_sheetdata) {
        if (strcmp(l, "sheetData") == 0) x->in_sheetdata = 1;
        return;
    }
    if (strcmp(l, "row") == 0) {
        unsigned long n;
        const char *rs = attr(atts, "r");
        if (rs) {
            if (!parse_uint(rs, (unsigned long)MAX_ROW_NUMBER, &n) || n == 0) {
                stop(x, sheet_fail(x->r, SHEET_ERR_FORMAT,
                                   "not an .xlsx file (bad row number \"%.20s\")", rs));
                return;
            }
            x->cur_row = (long)n;
        } else {
            x->cur_row = x->row_num + 1;
        }
        x->row_num = x->cur_row;
        x->in_row = true;
        x->next_col = 0;
        row_reset(&x->r->row);
        return;
    }
    if (!x->in_row) return;
    if (strcmp(l, "c") == 0) {
        const char *ref = attr(atts, "r");
        size_t col;
        if (ref) {
            if (!ref_column(ref, &col)) {
                stop(x, sheet_fail(x->r, SHEET_ERR_FORMAT,
                                   "not an .xlsx file (bad cell reference \"%.20s\")", ref));
                return;
            }
        } else {
            col = x->next_col;
        }
        if (col >= MAX_COLUMN) {
            stop(x, sheet_fail(x->r, SHEET_ERR_FORMAT, "not an .xlsx file (too many cells)"));
            return;
        }
        x->col = col;
        x->next_col = col + 1;
        const char *t = attr(atts, "t");
        snprintf(x->ctype, sizeof x->ctype, "%s", t ? t : "n");
        unsigned long s = 0;
        x->style = parse_uint(attr(atts, "s"), 1000000, &s) ? s : 0;
        x->in_cell = true;
        x->have_v = false;
        x->depth_is = 0;
        x->depth_rph = 0;
        x->text.len = 0;
        return;
    }
    if (!x->in_cell) return;
    if (strcmp(l, "v") == 0 && !x->depth_is) {
        x->in_v = true;
        x->have_v = true;
        x->text.len = 0;
        x->capture = true;
    } else if (strcmp(l, "is") == 0) {
        x->depth_is++;
        x->text.len = 0;
    } else if (strcmp(l, "rPh") == 0) {
        x->depth_rph++;
    } else if (strcmp(l, "t") == 0 && x->depth_is && !x->depth_rph) {
        x->have_v = true;
        x->capture = true;
    }
}

/* True when s is already what sheet_format_number would print: an optional
 * '-', an integer part without leading zeros, an optional fraction not ending
 * in 0, at most 15 significant digits (so it is the shortest form of its
 * double) and not "-0". Spares strtod and the shortest-form search for the
 * common case. */
static bool canonical_decimal(const char *s, size_t len)
{
    size_t i = 0, sig = 0;
    bool nonzero = false;
    if (i < len && s[i] == '-') i++;
    if (i >= len) return false;
    if (s[i] == '0') {
        i++;
    } else {
        if (s[i] < '1' || s[i] > '9') return false;
        while (i < len && s[i] >= '0' && s[i] <= '9')
            i++, sig++;
        nonzero = true;
    }
    if (i < len && s[i] == '.') {
        i++;
        size_t f = i;
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            if (s[i] != '0') nonzero = true;
            if (nonzero) sig++;
            i++;
        }
        if (i == f || s[i - 1] == '0') return false;
    }
    if (i != len || sig > 15) return false;
    return nonzero || s[0] != '-';
}

/* Turns the collected value of the cell that just ended into row text. */
static int finish_cell(struct xlsx *x)
{
    struct sheet_reader *r = x->r;
    char *v = x->text.data ? x->text.data : (char *)"";
    size_t len = x->text.len;
    const char *t = x->ctype;
    if (!x->have_v) return 0;
    if (strcmp(t, "s") == 0) {
        unsigned long i;
        while (len && (v[len - 1] == ' ' || v[len - 1] == '\n' || v[len - 1] == '\r'))
            len--;
        v[len] = '\0';
        if (!parse_uint(v, 0xFFFFFFFFul, &i) || i >= x->sst_n) {
            char c[16];
            sheet_column_name(x->col, c, sizeof c);
            return sheet_fail(r, SHEET_ERR_FORMAT,
                              "not an .xlsx file (cell %s%ld refers to a missing shared string)", c,
                              x->cur_row);
        }
        size_t off = x->sst_off[i];
        return row_set(r, x->cur_row, x->col, SHEET_CELL_TEXT, x->sst_text.data + off,
                       x->sst_off[i + 1] - off - 1);
    }
    if (strcmp(t, "inlineStr") == 0 || strcmp(t, "str") == 0) {
        len = decode_xstring(v, len);
        return row_set(r, x->cur_row, x->col, SHEET_CELL_TEXT, v, len);
    }
    if (strcmp(t, "b") == 0) {
        if (len == 1 && (v[0] == '1' || v[0] == '0'))
            return row_set(r, x->cur_row, x->col, SHEET_CELL_BOOL, v[0] == '1' ? "TRUE" : "FALSE",
                           v[0] == '1' ? 4 : 5);
        return row_set(r, x->cur_row, x->col, SHEET_CELL_TEXT, v, len);
    }
    if (strcmp(t, "e") == 0) return row_set(r, x->cur_row, x->col, SHEET_CELL_ERROR, v, len);
    if (strcmp(t, "d") == 0) {
        enum sheet_cell_kind k = len <= 10 ? SHEET_CELL_DATE : SHEET_CELL_DATETIME;
        return row_set(r, x->cur_row, x->col, k, v, len);
    }
    /* a number, maybe shown as a date */
    enum xf_kind xk = x->style < x->nxf ? (enum xf_kind)x->xf[x->style] : XF_NONE;
    if (xk == XF_NONE && canonical_decimal(v, len))
        return row_set(r, x->cur_row, x->col, SHEET_CELL_NUMBER, v, len);
    double d;
    if (!sheet_parse_number(v, len, &d))
        return row_set(r, x->cur_row, x->col, SHEET_CELL_TEXT, v, len);
    if (xk != XF_NONE) {
        enum sheet_cell_kind want = xk == XF_DATE       ? SHEET_CELL_DATE
                                    : xk == XF_DATETIME ? SHEET_CELL_DATETIME
                                                        : SHEET_CELL_TIME;
        char out[SHEET_DATE_BUFSZ];
        enum sheet_cell_kind got;
        size_t n = sheet_excel_date(d, x->date1904, want, out, &got);
        if (n) return row_set(r, x->cur_row, x->col, got, out, n);
    }
    char num[SHEET_NUMBER_BUFSZ];
    size_t n = sheet_format_number(d, num);
    return row_set(r, x->cur_row, x->col, SHEET_CELL_NUMBER, num, n);
}

static bool row_has_value(const struct row_builder *b)
{
    for (size_t i = 0; i < b->used; i++)
        if (b->slots[i].kind != SHEET_CELL_EMPTY) return true;
    return false;
}

static void XMLCALL sheet_end(void *ud, const XML_Char *name)
{
    struct xlsx *x = ud;
    const char *l = lname(name);
    if (!x->in_sheetdata) return;
    if (strcmp(l, "sheetData") == 0) {
        x->in_sheetdata = 0;
        x->done = true;
        XML_StopParser(x->xp, XML_FALSE); /* nothing after the data matters */
        return;
    }
    if (strcmp(l, "row") == 0) {
        if (!x->in_row) return;
        x->in_row = false;
        x->in_cell = false;
        if (row_has_value(&x->r->row)) {
            x->row_ready = true;
            XML_StopParser(x->xp, XML_TRUE); /* hand this row out */
        }
        return;
    }
    if (!x->in_cell) return;
    if (strcmp(l, "c") == 0) {
        x->in_cell = false;
        x->capture = false;
        int rc = finish_cell(x);
        if (rc) stop(x, rc);
        x->text.len = 0;
    } else if (strcmp(l, "v") == 0 && x->in_v) {
        x->in_v = false;
        x->capture = false;
    } else if (strcmp(l, "t") == 0) {
        x->capture = false;
    } else if (strcmp(l, "rPh") == 0) {
        if (x->depth_rph) x->depth_rph--;
    } else if (strcmp(l, "is") == 0) {
        if (x->depth_is) x->depth_is--;
    }
}

static int sheet_next(struct sheet_reader *r, long *row_number)
{
    struct xlsx *x = r->impl;
    for (;;) {
        if (x->row_ready) {
            x->row_ready = false;
            *row_number = x->cur_row;
            return 1;
        }
        if (x->done) return 0;
        enum XML_Status st;
        if (x->suspended) {
            x->suspended = false;
            st = XML_ResumeParser(x->xp);
        } else {
            long n = zentry_read(x, &x->sheet, x->chunk, CHUNK);
            if (n < 0) return (int)n;
            x->fed += (uint64_t)n;
            x->fed_final = n == 0;
            st = XML_Parse(x->xp, x->chunk, (int)n, n == 0);
        }
        if (x->rc) return x->rc;
        if (x->done) continue; /* a row handed out first, then the end */
        if (st == XML_STATUS_SUSPENDED) {
            x->suspended = true;
            continue;
        }
        int rc = xml_status(x, st, x->sheet.name);
        if (rc) return rc;
        if (x->fed_final) x->done = true;
    }
}

static void xlsx_free(void *impl)
{
    struct xlsx *x = impl;
    if (!x) return;
    if (x->xp) XML_ParserFree(x->xp);
    zentry_close(&x->sheet);
    if (x->za) zip_discard(x->za);
    for (size_t i = 0; i < x->nsheets; i++)
        free(x->sheet_rids[i]);
    free(x->sheet_rids);
    buf_free(&x->sst_text);
    free(x->sst_off);
    free(x->fmts);
    free(x->xf);
    buf_free(&x->text);
    free(x->chunk);
    free(x);
}

static const struct sheet_ops xlsx_ops = {sheet_next, xlsx_free};

static int open_parts(struct xlsx *x)
{
    struct sheet_reader *r = x->r;
    int rc;
    char wb_path[MAX_PATH_LEN] = "xl/workbook.xml";

    /* package relationships → the workbook part */
    struct rels pkg = {0};
    rc = read_rels(x, "_rels/.rels", &pkg);
    if (rc < 0) {
        rels_free(&pkg);
        return rc;
    }
    const struct rel *doc = rel_by_type(&pkg, "/officeDocument");
    if (doc && !resolve("", doc->target, wb_path, sizeof wb_path)) doc = NULL;
    rels_free(&pkg);
    zip_int64_t wb_idx = locate(x, wb_path);
    if (wb_idx < 0) return sheet_fail(r, SHEET_ERR_FORMAT, "not an .xlsx file (no workbook part)");

    /* the workbook: the sheets' relationship ids, date system */
    x->xp = new_parser(x);
    x->part = P_WORKBOOK;
    XML_SetStartElementHandler(x->xp, wb_start);
    rc = parse_part(x, wb_idx);
    XML_ParserFree(x->xp);
    x->xp = NULL;
    if (rc) return rc;
    if (x->nsheets == 0)
        return sheet_fail(r, SHEET_ERR_FORMAT, "not an .xlsx file (the workbook has no sheet)");

    /* workbook relationships: "xl/workbook.xml" → "xl/_rels/workbook.xml.rels" */
    char dir[MAX_PATH_LEN], rels_path[2 * MAX_PATH_LEN + 16];
    const char *slash = strrchr(wb_path, '/');
    size_t dlen = slash ? (size_t)(slash - wb_path) + 1 : 0;
    memcpy(dir, wb_path, dlen);
    dir[dlen] = '\0';
    snprintf(rels_path, sizeof rels_path, "%s_rels/%s.rels", dir, wb_path + dlen);
    struct rels wr = {0};
    rc = read_rels(x, rels_path, &wr);
    if (rc < 0) {
        rels_free(&wr);
        return rc;
    }
    char sheet_path[MAX_PATH_LEN] = "", sst_path[MAX_PATH_LEN + 32], styles_path[MAX_PATH_LEN + 32];
    snprintf(sst_path, sizeof sst_path, "%ssharedStrings.xml", dir);
    snprintf(styles_path, sizeof styles_path, "%sstyles.xml", dir);
    /* the first worksheet in tab order: chart, dialog and macro sheets are
     * skipped (first_worksheet.c); a sheet without a relationship stops the
     * search, as the first sheet's missing part did before */
    bool unresolved = false;
    for (size_t s = 0; s < x->nsheets && !sheet_path[0] && !unresolved; s++) {
        const struct rel *sr = NULL;
        for (size_t i = 0; i < wr.n && !sr; i++)
            if (strcmp(wr.v[i].id, x->sheet_rids[s]) == 0) sr = &wr.v[i];
        unresolved = !sr;
        if (sr && sheet_rel_is_worksheet(sr->type) &&
            !resolve(dir, sr->target, sheet_path, sizeof sheet_path)) {
            sheet_path[0] = '\0';
            unresolved = true;
        }
    }
    if (!sheet_path[0] && !unresolved) {
        rels_free(&wr);
        return sheet_fail(r, SHEET_ERR_FORMAT, SHEET_NO_WORKSHEET);
    }
    const struct rel *rel = rel_by_type(&wr, "/sharedStrings");
    if (rel && !resolve(dir, rel->target, sst_path, sizeof sst_path)) sst_path[0] = '\0';
    rel = rel_by_type(&wr, "/styles");
    if (rel && !resolve(dir, rel->target, styles_path, sizeof styles_path)) styles_path[0] = '\0';
    rels_free(&wr);
    zip_int64_t sheet_idx = sheet_path[0] ? locate(x, sheet_path) : -1;
    if (sheet_idx < 0)
        return sheet_fail(r, SHEET_ERR_FORMAT,
                          "not an .xlsx file (the first worksheet's part is missing)");

    /* styles (optional) */
    zip_int64_t idx = styles_path[0] ? locate(x, styles_path) : -1;
    if (idx >= 0) {
        x->xp = new_parser(x);
        x->part = P_STYLES;
        XML_SetElementHandler(x->xp, styles_start, styles_end);
        rc = parse_part(x, idx);
        XML_ParserFree(x->xp);
        x->xp = NULL;
        if (rc) return rc;
    }

    /* shared strings (optional) */
    idx = sst_path[0] ? locate(x, sst_path) : -1;
    if (idx >= 0) {
        x->xp = new_parser(x);
        x->part = P_SST;
        XML_SetElementHandler(x->xp, sst_start, sst_end);
        rc = parse_part(x, idx);
        XML_ParserFree(x->xp);
        x->xp = NULL;
        if (rc) return rc;
    }

    /* the sheet: streamed by sheet_next */
    rc = zentry_open(x, sheet_idx, &x->sheet);
    if (rc) return rc;
    x->xp = new_parser(x);
    x->part = P_SHEET;
    XML_SetElementHandler(x->xp, sheet_start, sheet_end);
    x->chunk = xmalloc(CHUNK);
    return 0;
}

int xlsx_open(struct sheet_reader *r, const void *data, size_t len)
{
    static const unsigned char ole[4] = {0xD0, 0xCF, 0x11, 0xE0};
    if (len >= 4 && memcmp(data, ole, 4) == 0)
        return sheet_fail(r, SHEET_ERR_FORMAT,
                          "not an .xlsx file (this is an .xls file or a password-protected "
                          "workbook)");
    zip_error_t ze;
    zip_error_init(&ze);
    zip_source_t *src = zip_source_buffer_create(data, len, 0, &ze);
    if (!src) {
        zip_error_fini(&ze);
        return sheet_fail(r, SHEET_ERR_FORMAT, "not an .xlsx file");
    }
    zip_t *za = zip_open_from_source(src, ZIP_RDONLY, &ze);
    if (!za) {
        zip_source_free(src);
        int code = zip_error_code_zip(&ze);
        zip_error_fini(&ze);
        return sheet_fail(r, SHEET_ERR_FORMAT, "not an .xlsx file (%s)",
                          code == ZIP_ER_NOZIP ? "not a zip archive" : "damaged zip archive");
    }
    zip_error_fini(&ze);
    struct xlsx *x = xcalloc(1, sizeof *x);
    x->r = r;
    x->za = za;
    buf_init(&x->sst_text);
    buf_init(&x->text);
    buf_reserve(&x->text, 256); /* never NULL: finish_cell writes a NUL into it */
    int rc = check_declared(x);
    if (!rc) rc = open_parts(x);
    if (rc) {
        xlsx_free(x);
        return rc;
    }
    r->impl = x;
    r->ops = &xlsx_ops;
    return 0;
}
