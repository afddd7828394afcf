/* .xlsx reader (src/io/xlsx.c) on files from openpyxl, hand-assembled
 * packages (tests/fixtures/make_fixtures.py), and zip bombs built here in
 * memory with libzip; plus the shared number/date helpers (src/io/sheet.c). */
#include "io_test_util.h"

#include <zip.h>

/* ---- building packages in memory with libzip ---- */

struct zpart {
    const char *name;
    const void *data; /* NULL: len zero bytes, produced on the fly */
    size_t len;       /* 0 = strlen(data) */
};

/* A libzip source of n zero bytes that never holds them in memory. */
struct zeros {
    zip_uint64_t size, pos;
};

static zip_int64_t zeros_cb(void *ud, void *data, zip_uint64_t len, zip_source_cmd_t cmd)
{
    struct zeros *z = ud;
    switch (cmd) {
    case ZIP_SOURCE_OPEN:
        z->pos = 0;
        return 0;
    case ZIP_SOURCE_READ: {
        zip_uint64_t n = z->size - z->pos < len ? z->size - z->pos : len;
        memset(data, 0, (size_t)n);
        z->pos += n;
        return (zip_int64_t)n;
    }
    case ZIP_SOURCE_CLOSE:
        return 0;
    case ZIP_SOURCE_STAT: {
        zip_stat_t *st = data;
        zip_stat_init(st);
        st->size = z->size;
        st->valid |= ZIP_STAT_SIZE;
        return sizeof *st;
    }
    case ZIP_SOURCE_ERROR:
        return 2 * sizeof(int);
    case ZIP_SOURCE_FREE:
        free(z);
        return 0;
    case ZIP_SOURCE_SUPPORTS:
        return zip_source_make_command_bitmap(ZIP_SOURCE_OPEN, ZIP_SOURCE_READ, ZIP_SOURCE_CLOSE,
                                              ZIP_SOURCE_STAT, ZIP_SOURCE_ERROR, ZIP_SOURCE_FREE,
                                              -1);
    default:
        return -1;
    }
}

static const char CT[] = "<?xml version=\"1.0\"?><Types "
                         "xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\"/>";
static const char RELS[] =
    "<?xml version=\"1.0\"?><Relationships "
    "xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\">"
    "<Relationship Id=\"rId1\" "
    "Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument\" "
    "Target=\"xl/workbook.xml\"/></Relationships>";
static const char WB[] =
    "<?xml version=\"1.0\"?><workbook "
    "xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\" "
    "xmlns:r=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships\">"
    "<sheets><sheet name=\"S\" sheetId=\"1\" r:id=\"rId1\"/></sheets></workbook>";
static const char WB_RELS[] =
    "<?xml version=\"1.0\"?><Relationships "
    "xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\">"
    "<Relationship Id=\"rId1\" "
    "Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet\" "
    "Target=\"worksheets/sheet1.xml\"/></Relationships>";
#define SHEET_HEAD                                                                                 \
    "<?xml version=\"1.0\"?><worksheet "                                                           \
    "xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\"><sheetData>"
#define SHEET_TAIL "</sheetData></worksheet>"

/* A zip of the given parts, deflated at level 1; the caller frees it. */
static unsigned char *zip_build(const struct zpart *parts, size_t n, size_t *out_len)
{
    zip_error_t ze;
    zip_error_init(&ze);
    zip_source_t *mem = zip_source_buffer_create(NULL, 0, 0, &ze);
    assert_non_null(mem);
    zip_t *za = zip_open_from_source(mem, ZIP_TRUNCATE, &ze);
    assert_non_null(za);
    zip_source_keep(mem);
    for (size_t i = 0; i < n; i++) {
        zip_source_t *s;
        if (parts[i].data) {
            size_t len = parts[i].len ? parts[i].len : strlen(parts[i].data);
            s = zip_source_buffer(za, parts[i].data, len, 0);
        } else {
            struct zeros *z = calloc(1, sizeof *z);
            z->size = parts[i].len;
            s = zip_source_function(za, zeros_cb, z);
        }
        assert_non_null(s);
        zip_int64_t idx = zip_file_add(za, parts[i].name, s, ZIP_FL_OVERWRITE);
        assert_true(idx >= 0);
        assert_int_equal(zip_set_file_compression(za, (zip_uint64_t)idx, ZIP_CM_DEFLATE, 1), 0);
    }
    assert_int_equal(zip_close(za), 0);
    assert_int_equal(zip_source_open(mem), 0);
    assert_int_equal(zip_source_seek(mem, 0, SEEK_END), 0);
    zip_int64_t size = zip_source_tell(mem);
    assert_true(size > 0);
    assert_int_equal(zip_source_seek(mem, 0, SEEK_SET), 0);
    unsigned char *buf = malloc((size_t)size);
    assert_int_equal(zip_source_read(mem, buf, (zip_uint64_t)size), size);
    zip_source_close(mem);
    zip_source_free(mem);
    zip_error_fini(&ze);
    *out_len = (size_t)size;
    return buf;
}

/* A minimal workbook whose only sheet is sheet (plus optional extra parts). */
static unsigned char *simple_xlsx(const char *sheet, size_t sheet_len, size_t *len)
{
    struct zpart parts[] = {
        {"[Content_Types].xml", CT, 0},
        {"_rels/.rels", RELS, 0},
        {"xl/workbook.xml", WB, 0},
        {"xl/_rels/workbook.xml.rels", WB_RELS, 0},
        {"xl/worksheets/sheet1.xml", sheet, sheet_len},
    };
    return zip_build(parts, ARRAY_LEN(parts), len);
}

/* ---- files from openpyxl ---- */

static const char ORDERS_XLSX[] =
    "1: t:Sales Order|t:Customer Name|t:Mobile|t:Amount|t:Delivery Date||t:Created|"
    "t:Paid|t:Slot\n"
    "2: t:SO-1001|t:Ahmed Al-Sabah|n:50012345|n:12.5|d:2024-03-05||"
    "dt:2024-03-05T14:30:00|b:TRUE|tm:14:30:00\n"
    "4: t:SO-1002|t:محمد العلي|n:96550012345|n:0.3|d:2024-12-31||"
    "dt:2024-03-05T09:05:07|b:FALSE\n"
    "5: t:SO-1003|t:Sara|t:+965 5001 2345|n:-7.25|d:2024-03-06\n"
    "6: t:SO-1004||n:100000000000000000000|n:1234567.891";

static void test_openpyxl_orders(void **state)
{
    (void)state;
    assert_fixture_dump(SHEET_XLSX, "orders.xlsx", NULL, ORDERS_XLSX);
}

static void test_openpyxl_1904(void **state)
{
    (void)state;
    assert_fixture_dump(SHEET_XLSX, "orders_1904.xlsx", NULL,
                        "1: t:Order No|t:Delivery Date|t:When\n"
                        "2: t:SO-2001|d:2024-03-05|dt:2024-03-05T08:00:00");
}

/* Shared strings with rich text and phonetic runs, inline strings, cached
 * formula values, booleans, errors, t="d", the 1900 leap-year bug, time and
 * not-a-date custom formats, an "x:" prefix, cells without references, a far
 * column, and a first sheet reached through an absolute target that is not
 * sheet1.xml (which holds "WRONG SHEET"). */
static void test_handmade(void **state)
{
    (void)state;
    assert_fixture_dump(
        SHEET_XLSX, "handmade.xlsx", NULL,
        "1: t:Sales Order|t:Customer|t:Mobile|t:Amount|t:Date||t:Paid|t:Formula|"
        "t:Status\n"
        "2: t:SO-1|t:Ahmed Al-Sabah|n:50012345|n:12.5|d:2024-03-05||b:TRUE|n:25|t:ok\n"
        "5: t:SO-2|t:محمد|n:50012345|n:0.1|dt:2024-03-05T18:00:00||b:FALSE|e:#DIV/0!|"
        "dt:2024-03-06T10:00:00\n"
        "6: t:Line1\r\nLine2 _x0041_||d:1900-02-29|d:1900-02-28|tm:12:00:00|n:1|"
        "dt:1900-03-01T00:00:00|d:1900-01-01\n"
        "7: t:Rich inline||||||||||||||||||||||||||t:far");
}

static void test_no_package_rels_no_styles(void **state)
{
    (void)state;
    /* no _rels/.rels: falls back to xl/workbook.xml; no styles, no shared strings */
    const char sheet[] =
        SHEET_HEAD "<row r=\"2\"><c r=\"B2\"><v>45356</v></c>"
                   "<c r=\"C2\" t=\"inlineStr\"><is><t>x</t></is></c></row>" SHEET_TAIL;
    struct zpart parts[] = {
        {"xl/workbook.xml", WB, 0},
        {"xl/_rels/workbook.xml.rels", WB_RELS, 0},
        {"xl/worksheets/sheet1.xml", sheet, 0},
    };
    size_t len;
    unsigned char *d = zip_build(parts, ARRAY_LEN(parts), &len);
    assert_dump(SHEET_XLSX, d, len, NULL, "2: |n:45356|t:x");
    free(d);
}

static void test_missing_shared_string(void **state)
{
    (void)state;
    const char sheet[] =
        SHEET_HEAD "<row r=\"1\"><c r=\"A1\" t=\"s\"><v>0</v></c></row>" SHEET_TAIL;
    size_t len;
    unsigned char *d = simple_xlsx(sheet, 0, &len);
    assert_refused(SHEET_XLSX, d, len, NULL, SHEET_ERR_FORMAT, "A1 refers to a missing shared");
    free(d);
}

/* ---- the first worksheet in tab order ---- */

#define REL_NS "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
#define REL(id, type, target)                                                                      \
    "<Relationship Id=\"" id "\" Type=\"" type "\" Target=\"" target "\"/>"
static const char KINDS_WB[] =
    "<?xml version=\"1.0\"?><workbook "
    "xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\" "
    "xmlns:r=\"" REL_NS "\"><sheets>"
    "<sheet name=\"Chart\" sheetId=\"3\" r:id=\"rId3\"/>"
    "<sheet name=\"Dialog\" sheetId=\"4\" r:id=\"rId4\"/>"
    "<sheet name=\"Macro\" sheetId=\"5\" r:id=\"rId5\"/>"
    "<sheet name=\"Intl\" sheetId=\"6\" r:id=\"rId6\"/>"
    "<sheet name=\"Orders\" sheetId=\"2\" r:id=\"rId2\"/>"
    "<sheet name=\"Other\" sheetId=\"1\" r:id=\"rId1\"/>"
    "</sheets></workbook>";
#define KINDS_RELS_HEAD                                                                            \
    "<?xml version=\"1.0\"?><Relationships "                                                       \
    "xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\">" REL(                 \
        "rId3", REL_NS "/chartsheet", "chartsheets/sheet1.xml") REL("rId4", REL_NS "/dialogsheet", \
                                                                    "dialogsheets/sheet1.xml")     \
        REL("rId5", "http://schemas.microsoft.com/office/2006/relationships/xlMacrosheet",         \
            "macrosheets/sheet1.xml")                                                              \
            REL("rId6", "http://schemas.microsoft.com/office/2006/relationships/xlIntlMacrosheet", \
                "macrosheets/sheet2.xml")
static const char KINDS_RELS[] =
    KINDS_RELS_HEAD REL("rId1", REL_NS "/worksheet", "worksheets/sheet1.xml")
        REL("rId2", REL_NS "/worksheet", "worksheets/sheet2.xml") "</Relationships>";
static const char ONLY_CHARTS_RELS[] =
    KINDS_RELS_HEAD REL("rId1", REL_NS "/chartsheet", "chartsheets/sheet2.xml")
        REL("rId2", REL_NS "/chartsheet", "chartsheets/sheet3.xml") "</Relationships>";
static const char NOT_ME[] = SHEET_HEAD
    "<row r=\"1\"><c r=\"A1\" t=\"inlineStr\"><is><t>WRONG</t></is></c></row>" SHEET_TAIL;

/* Chart, dialog and macro sheets before the orders (their parts hold cells,
 * as a macro sheet's do): the first worksheet in tab order is read, not the
 * one with the lowest sheetId or the name sheet1.xml. */
static void test_first_worksheet_in_tab_order(void **state)
{
    (void)state;
    const char orders[] = SHEET_HEAD
        "<row r=\"1\"><c r=\"A1\" t=\"inlineStr\"><is><t>Orders</t></is></c></row>" SHEET_TAIL;
    struct zpart parts[] = {
        {"_rels/.rels", RELS, 0},
        {"xl/workbook.xml", KINDS_WB, 0},
        {"xl/_rels/workbook.xml.rels", KINDS_RELS, 0},
        {"xl/chartsheets/sheet1.xml", NOT_ME, 0},
        {"xl/dialogsheets/sheet1.xml", NOT_ME, 0},
        {"xl/macrosheets/sheet1.xml", NOT_ME, 0},
        {"xl/macrosheets/sheet2.xml", NOT_ME, 0},
        {"xl/worksheets/sheet1.xml", NOT_ME, 0},
        {"xl/worksheets/sheet2.xml", orders, 0},
    };
    size_t len;
    unsigned char *d = zip_build(parts, ARRAY_LEN(parts), &len);
    assert_dump(SHEET_XLSX, d, len, NULL, "1: t:Orders");
    free(d);
}

static void test_no_worksheet_refused(void **state)
{
    (void)state;
    struct zpart parts[] = {
        {"_rels/.rels", RELS, 0},
        {"xl/workbook.xml", KINDS_WB, 0},
        {"xl/_rels/workbook.xml.rels", ONLY_CHARTS_RELS, 0},
        {"xl/chartsheets/sheet1.xml", NOT_ME, 0},
        {"xl/chartsheets/sheet2.xml", NOT_ME, 0},
        {"xl/chartsheets/sheet3.xml", NOT_ME, 0},
        {"xl/dialogsheets/sheet1.xml", NOT_ME, 0},
        {"xl/macrosheets/sheet1.xml", NOT_ME, 0},
        {"xl/macrosheets/sheet2.xml", NOT_ME, 0},
    };
    size_t len;
    unsigned char *d = zip_build(parts, ARRAY_LEN(parts), &len);
    assert_refused(SHEET_XLSX, d, len, NULL, SHEET_ERR_FORMAT,
                   "the workbook has no worksheet, only charts");
    free(d);
}

static void test_missing_sheet_part(void **state)
{
    (void)state;
    struct zpart parts[] = {
        {"_rels/.rels", RELS, 0},
        {"xl/workbook.xml", WB, 0},
        {"xl/_rels/workbook.xml.rels", WB_RELS, 0},
    };
    size_t len;
    unsigned char *d = zip_build(parts, ARRAY_LEN(parts), &len);
    assert_refused(SHEET_XLSX, d, len, NULL, SHEET_ERR_FORMAT, "first worksheet");
    free(d);
}

static void test_malformed_xml(void **state)
{
    (void)state;
    const char sheet[] = SHEET_HEAD "<row r=\"1\"><c r=\"A1\"><v>1</v></c></row><row r=\"2\"><c";
    size_t len;
    unsigned char *d = simple_xlsx(sheet, 0, &len);
    struct sheet_reader *r = open_ok(SHEET_XLSX, d, len);
    long row;
    assert_int_equal(next_row(r, &row), 1); /* rows before the damage come out */
    assert_int_equal(row, 1);
    assert_int_equal(next_row(r, &row), SHEET_ERR_FORMAT);
    assert_non_null(strstr(sheet_error(r), "line"));
    sheet_close(r);
    free(d);
}

/* ---- hostile files ---- */

static void test_doctype_refused(void **state)
{
    (void)state;
    assert_fixture_refused(SHEET_XLSX, "doctype.xlsx", NULL, SHEET_ERR_FORMAT, "DOCTYPE");
}

/* 200 MB of zeros deflate to ~200 KB; the declared size gives it away before
 * a single byte is inflated. */
static void test_zip_bomb_refused_fast(void **state)
{
    (void)state;
    struct zpart parts[] = {
        {"[Content_Types].xml", CT, 0},
        {"_rels/.rels", RELS, 0},
        {"xl/workbook.xml", WB, 0},
        {"xl/_rels/workbook.xml.rels", WB_RELS, 0},
        {"xl/worksheets/sheet1.xml", NULL, 200u * 1000 * 1000},
    };
    size_t len;
    unsigned char *d = zip_build(parts, ARRAY_LEN(parts), &len);
    assert_true(len < 1024 * 1024);

    struct sheet_reader *r = (struct sheet_reader *)1;
    char err[256];
    double t0 = now_mono();
    int rc = sheet_open(SHEET_XLSX, d, len, NULL, &r, err, sizeof err);
    double dt = now_mono() - t0;
    assert_int_equal(rc, SHEET_ERR_TOO_LARGE);
    assert_null(r);
    assert_non_null(strstr(err, "inflate"));
    if (dt >= 1.0) fail_msg("bomb took %.3f s to refuse", dt);
    print_message("zip bomb: 200 MB of zeros in %zu bytes, refused in %.2f ms\n", len, dt * 1000);
    free(d);
}

/* 20 MB of zeros: under the 100 MiB total, but compressed ~1000:1. */
static void test_zip_ratio_refused(void **state)
{
    (void)state;
    struct zpart parts[] = {
        {"_rels/.rels", RELS, 0},
        {"xl/workbook.xml", WB, 0},
        {"xl/_rels/workbook.xml.rels", WB_RELS, 0},
        {"xl/media/image1.bin", NULL, 20u * 1000 * 1000},
        {"xl/worksheets/sheet1.xml", SHEET_HEAD SHEET_TAIL, 0},
    };
    size_t len;
    unsigned char *d = zip_build(parts, ARRAY_LEN(parts), &len);
    double t0 = now_mono();
    assert_refused(SHEET_XLSX, d, len, NULL, SHEET_ERR_TOO_LARGE, "compressed more than 200:1");
    assert_true(now_mono() - t0 < 1.0);
    free(d);
}

/* The entry declares 2,000 bytes but inflates to ~300 KB: counted and refused. */
static void test_lying_declared_size(void **state)
{
    (void)state;
    assert_fixture_refused(SHEET_XLSX, "lying_size.xlsx", NULL, SHEET_ERR_TOO_LARGE,
                           "beyond its declared size");
}

static void test_entry_and_total_limits(void **state)
{
    (void)state;
    size_t len;
    unsigned char *d = fixture("handmade.xlsx", &len);
    struct sheet_limits lim = SHEET_DEFAULT_LIMITS;
    lim.max_zip_entries = 3;
    assert_refused(SHEET_XLSX, d, len, &lim, SHEET_ERR_TOO_LARGE, "entries");
    lim = SHEET_DEFAULT_LIMITS;
    lim.max_inflated = 4000;
    assert_refused(SHEET_XLSX, d, len, &lim, SHEET_ERR_TOO_LARGE, "inflate");
    lim = SHEET_DEFAULT_LIMITS;
    lim.max_entry = 1000;
    assert_refused(SHEET_XLSX, d, len, &lim, SHEET_ERR_TOO_LARGE, "would inflate to");
    lim = SHEET_DEFAULT_LIMITS;
    lim.max_shared_strings = 2;
    assert_refused(SHEET_XLSX, d, len, &lim, SHEET_ERR_TOO_LARGE, "shared strings");
    free(d);
}

/* One start tag of 8 MB: expat would have to hold it whole. */
static void test_huge_tag_refused(void **state)
{
    (void)state;
    size_t big = 8u * 1024 * 1024;
    buf_t s;
    buf_init(&s);
    buf_puts(&s, SHEET_HEAD "<row r=\"1\" junk=\"");
    buf_reserve(&s, big);
    memset(s.data + s.len, 'A', big);
    s.len += big;
    buf_puts(&s, "\"><c r=\"A1\"><v>1</v></c></row>" SHEET_TAIL);
    size_t len;
    unsigned char *d = simple_xlsx(s.data, s.len, &len);
    buf_free(&s);
    struct sheet_limits lim = SHEET_DEFAULT_LIMITS;
    lim.max_ratio = 100000; /* let it past the ratio check to reach the parser */
    assert_refused(SHEET_XLSX, d, len, &lim, SHEET_ERR_TOO_LARGE, "too long");
    free(d);
}

static void test_row_column_cell_limits(void **state)
{
    (void)state;
    size_t len;
    unsigned char *d = fixture("orders.xlsx", &len);
    struct sheet_limits lim = SHEET_DEFAULT_LIMITS;
    lim.max_rows = 3; /* header 1, data rows 2, 4, 5 pass; row 6 is the fourth data row */
    assert_refused(SHEET_XLSX, d, len, &lim, SHEET_ERR_TOO_LARGE, "more than 3 data rows (row 6)");
    lim.max_rows = 4;
    assert_dump(SHEET_XLSX, d, len, &lim, ORDERS_XLSX);
    lim = SHEET_DEFAULT_LIMITS;
    lim.max_columns = 5;
    assert_refused(SHEET_XLSX, d, len, &lim, SHEET_ERR_TOO_LARGE, "cell G1 is beyond");
    lim = SHEET_DEFAULT_LIMITS;
    lim.max_cell_bytes = 12;
    assert_refused(SHEET_XLSX, d, len, &lim, SHEET_ERR_TOO_LARGE, "cell B1 is longer");
    free(d);
}

static void test_garbage(void **state)
{
    (void)state;
    assert_fixture_refused(SHEET_XLSX, "garbage.bin", NULL, SHEET_ERR_FORMAT, "not an .xlsx file");
    assert_fixture_refused(SHEET_XLSX, "orders_comma.csv", NULL, SHEET_ERR_FORMAT,
                           "not a zip archive");
    assert_fixture_refused(SHEET_XLSX, "orders.xls", NULL, SHEET_ERR_FORMAT, ".xls file");
    assert_refused(SHEET_XLSX, "", 0, NULL, SHEET_ERR_FORMAT, "not an .xlsx file");
    /* a truncated upload: the central directory is missing */
    size_t len;
    unsigned char *d = fixture("orders.xlsx", &len);
    assert_refused(SHEET_XLSX, d, len / 2, NULL, SHEET_ERR_FORMAT, "not an .xlsx file");
    /* a zip that is not a workbook */
    struct zpart parts[] = {{"hello.txt", "hello", 0}};
    free(d);
    d = zip_build(parts, 1, &len);
    assert_refused(SHEET_XLSX, d, len, NULL, SHEET_ERR_FORMAT, "no workbook");
    free(d);
}

/* ---- helpers of src/io/sheet.c ---- */

static void num_is(double v, const char *want)
{
    char out[SHEET_NUMBER_BUFSZ];
    size_t n = sheet_format_number(v, out);
    if (strcmp(out, want) != 0 || n != strlen(want))
        fail_msg("%.17g printed as \"%s\", want \"%s\"", v, out, want);
}

static void test_format_number(void **state)
{
    (void)state;
    num_is(10, "10");
    num_is(50012345, "50012345");
    num_is(5.0012345E7, "50012345");
    num_is(96550012345.0, "96550012345");
    num_is(12.5, "12.5");
    num_is(0.1, "0.1");
    num_is(0.1 + 0.2, "0.30000000000000004");
    num_is(-7.25, "-7.25");
    num_is(-0.0, "0");
    num_is(0.000001, "0.000001");
    num_is(1.5e-8, "1.5E-08");
    num_is(1e20, "100000000000000000000");
    num_is(1.5e21, "1.5E+21");
    num_is(123456789.125, "123456789.125");
    num_is(4503599627370497.0, "4503599627370497");
    num_is(1234567.891, "1234567.891");
}

static void date_is(double serial, bool d1904, enum sheet_cell_kind kind, const char *want,
                    enum sheet_cell_kind want_kind)
{
    char out[SHEET_DATE_BUFSZ];
    enum sheet_cell_kind got = SHEET_CELL_EMPTY;
    size_t n = sheet_excel_date(serial, d1904, kind, out, &got);
    if (strcmp(out, want) != 0 || n != strlen(want))
        fail_msg("serial %.10g printed as \"%s\", want \"%s\"", serial, out, want);
    if (n) assert_int_equal(got, want_kind);
}

static void test_excel_dates(void **state)
{
    (void)state;
    const enum sheet_cell_kind D = SHEET_CELL_DATE, DT = SHEET_CELL_DATETIME, T = SHEET_CELL_TIME;
    date_is(1, false, D, "1900-01-01", D);
    date_is(59, false, D, "1900-02-28", D);
    date_is(60, false, D, "1900-02-29", D);
    date_is(61, false, D, "1900-03-01", D);
    date_is(45356, false, D, "2024-03-05", D);
    date_is(45356.604166666664, false, DT, "2024-03-05T14:30:00", DT);
    date_is(45356.99999999, false, DT, "2024-03-06T00:00:00", DT); /* rounds to the second */
    date_is(2958465, false, D, "9999-12-31", D);
    date_is(0, true, D, "1904-01-01", D);
    date_is(43894, true, D, "2024-03-05", D);
    date_is(0.5, false, T, "12:00:00", T);
    date_is(1.5, false, T, "1900-01-01T12:00:00", DT);
    date_is(-1, false, D, "", D);
    date_is(2958466, false, D, "", D);
}

static void test_column_names_and_sniff(void **state)
{
    (void)state;
    char c[8];
    const struct {
        size_t col;
        const char *name;
    } cases[] = {{0, "A"}, {25, "Z"}, {26, "AA"}, {701, "ZZ"}, {702, "AAA"}, {16383, "XFD"}};
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        sheet_column_name(cases[i].col, c, sizeof c);
        assert_string_equal(c, cases[i].name);
    }
    size_t len;
    unsigned char *d = fixture("orders.xlsx", &len);
    assert_int_equal(sheet_sniff(d, len), SHEET_XLSX);
    free(d);
    d = fixture("orders.xls", &len);
    assert_int_equal(sheet_sniff(d, len), SHEET_XLS);
    free(d);
    assert_int_equal(sheet_sniff("a,b\n", 4), SHEET_CSV);
    assert_int_equal(sheet_sniff("", 0), SHEET_CSV);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_openpyxl_orders),
        cmocka_unit_test(test_openpyxl_1904),
        cmocka_unit_test(test_handmade),
        cmocka_unit_test(test_no_package_rels_no_styles),
        cmocka_unit_test(test_missing_shared_string),
        cmocka_unit_test(test_missing_sheet_part),
        cmocka_unit_test(test_first_worksheet_in_tab_order),
        cmocka_unit_test(test_no_worksheet_refused),
        cmocka_unit_test(test_malformed_xml),
        cmocka_unit_test(test_doctype_refused),
        cmocka_unit_test(test_zip_bomb_refused_fast),
        cmocka_unit_test(test_zip_ratio_refused),
        cmocka_unit_test(test_lying_declared_size),
        cmocka_unit_test(test_entry_and_total_limits),
        cmocka_unit_test(test_huge_tag_refused),
        cmocka_unit_test(test_row_column_cell_limits),
        cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_format_number),
        cmocka_unit_test(test_excel_dates),
        cmocka_unit_test(test_column_names_and_sniff),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
