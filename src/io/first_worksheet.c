/* Which sheet of a workbook is its first worksheet: people put a chart (or a
 * dialog or macro sheet) first and still expect their rows to be read.
 *
 * .xlsx: a <sheet>'s relationship type says what it is (xlsx.c walks the
 * <sheets> in tab order and asks sheet_rel_is_worksheet).
 *
 * .xls: freexl 1.0.6 lists every BOUNDSHEET record as a "worksheet"
 * (FREEXL_BIFF_SHEET_COUNT counts charts and macro sheets too; the sheet
 * type it reads is kept private, and a chart sheet's cached series values
 * even come back as cells), so the types are read here, from the same
 * bytes: the OLE2 (CFBF) container's directory gives the Workbook stream,
 * whose globals substream lists the sheets in tab order (BOUNDSHEET: dt 0
 * worksheet or dialog sheet, 1 macro sheet, 2 chart, 6 VB module), and a
 * dt-0 sheet's own substream tells a dialog sheet (WSBOOL fDialog) from a
 * worksheet. freexl's sheet index is the BOUNDSHEET order.
 *
 * The same walk tells "not an OLE2 file / no Excel workbook inside" from "an
 * Excel workbook that freexl could not read", so the client is told the
 * right thing. This runs on untrusted bytes inside the .xls reader's child
 * process; every offset and count is checked against the buffer, every
 * chain is bounded by the number of sectors in the file. */
#include "sheet_internal.h"

#include <stdlib.h>
#include <string.h>

#define ENDOFCHAIN 0xFFFFFFFEu
#define MAX_BOUNDSHEETS 4096
#define MAX_SUBSTREAM_RECORDS 256 /* WSBOOL comes before the first cell */

bool sheet_rel_is_worksheet(const char *type)
{
    /* ".../officeDocument/2006/relationships/worksheet" and the Strict
     * (purl.oclc.org) spelling; chartsheet, dialogsheet, xlMacrosheet and
     * xlIntlMacrosheet are not */
    static const char suffix[] = "/worksheet";
    size_t n = type ? strlen(type) : 0, k = sizeof suffix - 1;
    return n >= k && strcmp(type + n - k, suffix) == 0;
}

static uint32_t u32le(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint16_t u16le(const unsigned char *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

struct cfbf {
    const unsigned char *d;
    size_t len;
    size_t ssz;    /* sector size */
    size_t nsect;  /* sectors in the file (after the header) */
    uint32_t *fat; /* FAT sector numbers */
    size_t nfat;
};

static const unsigned char *sector(const struct cfbf *c, uint32_t s)
{
    if (s >= c->nsect) return NULL;
    size_t off = ((size_t)s + 1) * c->ssz;
    return off + c->ssz <= c->len ? c->d + off : NULL;
}

/* The FAT entry of sector s, or 0xFFFFFFFF (free, never a valid next) when
 * it cannot be read. */
static uint32_t fat_next(const struct cfbf *c, uint32_t s)
{
    size_t per = c->ssz / 4;
    size_t i = s / per;
    if (i >= c->nfat) return 0xFFFFFFFFu;
    const unsigned char *p = sector(c, c->fat[i]);
    return p ? u32le(p + (s % per) * 4) : 0xFFFFFFFFu;
}

/* Appends the sectors of the chain starting at s (at most max bytes, and
 * never more links than there are sectors: a loop is an error). */
static bool read_chain(const struct cfbf *c, uint32_t s, size_t max, buf_t *out)
{
    for (size_t links = 0; s != ENDOFCHAIN && out->len < max; links++) {
        const unsigned char *p = sector(c, s);
        if (!p || links > c->nsect) return false;
        buf_append(out, p, c->ssz);
        s = fat_next(c, s);
    }
    return true;
}

static bool cfbf_open(struct cfbf *c, const unsigned char *d, size_t len)
{
    static const unsigned char sig[8] = {0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1};
    memset(c, 0, sizeof *c);
    if (len < 512 || memcmp(d, sig, 8) != 0 || u16le(d + 28) != 0xFFFE) return false;
    unsigned shift = u16le(d + 30);
    if (shift != 9 && shift != 12) return false;
    c->d = d;
    c->len = len;
    c->ssz = (size_t)1 << shift;
    c->nsect = len / c->ssz; /* the header takes the first sector's place */
    if (c->nsect > 0) c->nsect--;
    uint32_t nfat = u32le(d + 44), difat = u32le(d + 68), ndifat = u32le(d + 72);
    if (nfat == 0 || nfat > c->nsect) return false;
    c->fat = xcalloc(nfat, sizeof *c->fat);
    for (size_t i = 0; i < 109 && c->nfat < nfat; i++)
        c->fat[c->nfat++] = u32le(d + 76 + 4 * i);
    size_t per = c->ssz / 4 - 1;
    for (uint32_t k = 0; k < ndifat && c->nfat < nfat && k <= c->nsect; k++) {
        const unsigned char *p = sector(c, difat);
        if (!p) return false;
        for (size_t i = 0; i < per && c->nfat < nfat; i++)
            c->fat[c->nfat++] = u32le(p + 4 * i);
        difat = u32le(p + 4 * per);
    }
    return c->nfat == nfat;
}

/* A directory entry's name is (case-insensitively) the ASCII name. */
static bool entry_named(const unsigned char *e, const char *name)
{
    size_t n = strlen(name), bytes = u16le(e + 64);
    if (bytes != (n + 1) * 2) return false;
    for (size_t i = 0; i < n; i++) {
        unsigned ch = u16le(e + 2 * i);
        unsigned want = (unsigned char)name[i];
        if (ch >= 'a' && ch <= 'z') ch -= 32;
        if (want >= 'a' && want <= 'z') want -= 32;
        if (ch != want) return false;
    }
    return true;
}

/* The Workbook (BIFF8) or Book (BIFF5) stream into out; false if there is
 * none or it cannot be read. */
static bool workbook_stream(const struct cfbf *c, buf_t *out)
{
    const unsigned char *d = c->d;
    buf_t dir, mini, minifat;
    buf_init(&dir);
    buf_init(&mini);
    buf_init(&minifat);
    bool ok = false;
    if (!read_chain(c, u32le(d + 48), c->len, &dir) || dir.len < 128) goto out;
    const unsigned char *root = (const unsigned char *)dir.data, *wb = NULL;
    for (size_t off = 0; off + 128 <= dir.len && !wb; off += 128) {
        const unsigned char *e = root + off;
        if (e[66] == 2 && (entry_named(e, "Workbook") || entry_named(e, "Book"))) wb = e;
    }
    if (!wb || root[66] != 5) goto out;
    uint32_t start = u32le(wb + 116);
    size_t size = u32le(wb + 120); /* version 3 files: the high half is not set */
    if (size > c->len) goto out;
    if (size >= u32le(d + 56)) { /* at or over the mini stream cutoff: ordinary sectors */
        if (!read_chain(c, start, size, out) || out->len < size) goto out;
    } else {
        /* in the mini stream (the root entry's chain), 64-byte mini sectors
         * chained by the mini FAT */
        if (!read_chain(c, u32le(root + 116), c->len, &mini) ||
            !read_chain(c, u32le(d + 60), c->len, &minifat))
            goto out;
        size_t nmini = minifat.len / 4;
        for (size_t links = 0; start != ENDOFCHAIN && out->len < size; links++) {
            size_t off = (size_t)start * 64;
            if (links > nmini || start >= nmini || off + 64 > mini.len) goto out;
            buf_append(out, mini.data + off, 64);
            start = u32le((const unsigned char *)minifat.data + 4 * (size_t)start);
        }
        if (out->len < size) goto out;
    }
    out->len = size;
    ok = true;
out:
    buf_free(&dir);
    buf_free(&mini);
    buf_free(&minifat);
    return ok;
}

/* The record at *pos of a BIFF stream: type, length, body. */
static bool record(const unsigned char *s, size_t len, size_t *pos, unsigned *type,
                   const unsigned char **body, size_t *blen)
{
    if (*pos + 4 > len) return false;
    *type = u16le(s + *pos);
    *blen = u16le(s + *pos + 2);
    if (*pos + 4 + *blen > len) return false;
    *body = s + *pos + 4;
    *pos += 4 + *blen;
    return true;
}

/* Is the dt-0 sheet whose substream starts at pos a worksheet? False only
 * when the substream says otherwise: a dialog sheet (WSBOOL fDialog), or a
 * BOF of a chart (0x20), macro sheet (0x40) or VB module (0x06) behind a
 * BOUNDSHEET that called it a worksheet. A substream that cannot be read
 * leaves the BOUNDSHEET's word standing (freexl is the judge of damage). */
static bool substream_is_worksheet(const unsigned char *s, size_t len, size_t pos)
{
    unsigned type;
    const unsigned char *b;
    size_t blen;
    if (!record(s, len, &pos, &type, &b, &blen) || type != 0x0809 || blen < 4) return true;
    unsigned dt = u16le(b + 2);
    if (dt == 0x0020 || dt == 0x0040 || dt == 0x0006) return false;
    for (int i = 0; i < MAX_SUBSTREAM_RECORDS && record(s, len, &pos, &type, &b, &blen); i++) {
        if (type == 0x0081 && blen >= 1) return (b[0] & 0x10) == 0; /* WSBOOL fDialog */
        if (type == 0x000A || type == 0x0200) break;                /* EOF, DIMENSIONS */
    }
    return true; /* no WSBOOL: a worksheet */
}

void xls_inspect(const void *data, size_t len, struct xls_book *out)
{
    memset(out, 0, sizeof *out);
    out->first_worksheet = -1;
    struct cfbf c;
    buf_t wb;
    buf_init(&wb);
    if (!cfbf_open(&c, data, len)) goto out;
    out->container = true;
    if (!workbook_stream(&c, &wb)) goto out;
    const unsigned char *s = (const unsigned char *)wb.data;
    size_t pos = 0, blen;
    unsigned type;
    const unsigned char *b;
    if (!record(s, wb.len, &pos, &type, &b, &blen) || type != 0x0809 || blen < 4) goto out;
    out->workbook = true;
    out->biff = u16le(b) == 0x0600 ? 8 : u16le(b) == 0x0500 ? 5 : 0;
    if (out->biff == 0 || u16le(b + 2) != 0x0005) goto out; /* not workbook globals */
    while (record(s, wb.len, &pos, &type, &b, &blen) && type != 0x000A) {
        if (type != 0x0085 || blen < 6) continue; /* BOUNDSHEET */
        if (out->nsheets >= MAX_BOUNDSHEETS) goto out;
        if (out->first_worksheet < 0 && b[5] == 0 && substream_is_worksheet(s, wb.len, u32le(b)))
            out->first_worksheet = (int)out->nsheets;
        out->nsheets++;
    }
    out->types_known = type == 0x000A;
out:
    if (!out->types_known) out->first_worksheet = -1;
    free(c.fat);
    buf_free(&wb);
}
