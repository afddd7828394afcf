/* .csv reader (src/io/csv.c, libcsv): fixtures plus edge cases inline. */
#include "io_test_util.h"

/* An inline CSV literal (may hold NUL bytes) read with the default limits. */
#define csv_ok(s, want) assert_dump(SHEET_CSV, (s), sizeof(s) - 1, NULL, (want))
#define csv_bad(s, code, needle)                                                                   \
    assert_refused(SHEET_CSV, (s), sizeof(s) - 1, NULL, (code), (needle))

/* Excel's "CSV UTF-8" in a comma-decimal locale: BOM, ';', CRLF, quoted
 * fields with doubled quotes and an embedded line break, an all-empty row and
 * a blank line (both skipped, both counted). */
static void test_semicolon_bom(void **state)
{
    (void)state;
    assert_fixture_dump(
        SHEET_CSV, "orders_semicolon_bom.csv", NULL,
        "1: t:Sales Order|t:Customer Name|t:Mobile|t:Amount|t:Notes\n"
        "2: t:SO-1|t:Ahmed \"The Boss\" Al-Sabah|t:50012345|t:12,5|t:line one\r\nline two\n"
        "5: t:SO-2|t:محمد العلي|t:+965 5001 2345|t:7.250|t:plain");
}

static void test_comma_no_bom(void **state)
{
    (void)state;
    assert_fixture_dump(SHEET_CSV, "orders_comma.csv", NULL,
                        "1: t:Sales Order|t:Customer Name|t:Mobile|t:Amount|t:Delivery Date\n"
                        "2: t:SO-10|t:Sara|t:50012345|t:12.5|t:2024-03-05\n"
                        "4: t:SO-11|t:Doe, John|t:96550012345|t:3|t:2024-03-06 10:30\n"
                        "5: t:SO-12|t:سارة|t:50012346|t:0.5");
}

static void test_sniffing(void **state)
{
    (void)state;
    /* delimiters inside quotes do not count */
    csv_ok("\"a,b,c\";d;e\n1;2;3\n", "1: t:a,b,c|t:d|t:e\n2: t:1|t:2|t:3");
    csv_ok("a\tb\tc\n1\t2,5\t3\n", "1: t:a|t:b|t:c\n2: t:1|t:2,5|t:3");
    csv_ok("single\nx\n", "1: t:single\n2: t:x");
    csv_ok("a;b,c\n", "1: t:a;b|t:c"); /* a tie goes to the comma */
}

static void test_line_endings_and_numbering(void **state)
{
    (void)state;
    csv_ok("a\r\n\r\nb\r\n", "1: t:a\n3: t:b");
    csv_ok("a\rb\r\rc", "1: t:a\n2: t:b\n4: t:c"); /* old Mac */
    csv_ok("h\n\"x\ny\nz\"\nlast\n", "1: t:h\n2: t:x\ny\nz\n3: t:last");
    csv_ok("\n\n\nh\n", "4: t:h");
    csv_ok("", "");
    csv_ok("\xEF\xBB\xBF", "");
    /* spaces around fields are trimmed, tabs kept; empty fields in between stay */
    csv_ok("a, b ,\"c\" ,,e\n", "1: t:a|t:b|t:c||t:e");
    /* trailing empty fields are dropped */
    csv_ok("a,b,,\n,,,\n", "1: t:a|t:b");
}

static void test_many_rows_across_slices(void **state)
{
    (void)state;
    buf_t in;
    buf_init(&in);
    buf_puts(&in, "Order,Name\n");
    for (int i = 0; i < 3000; i++) {
        buf_printf(&in, "SO-%d,\"Name %d\"\n", i, i);
        if (i % 1000 == 999) buf_puts(&in, "\n"); /* a blank line now and then */
    }
    /* a field longer than a parse slice, with the delimiter and newlines inside */
    buf_puts(&in, "BIG,\"");
    for (int i = 0; i < 3000; i++)
        buf_puts(&in, "x,y\n");
    buf_puts(&in, "\"\n");
    buf_t out;
    char err[256];
    assert_int_equal(sheet_dump(SHEET_CSV, in.data, in.len, NULL, &out, err, sizeof err), 0);
    /* count the lines and look at a few */
    const char *p = out.data;
    assert_non_null(strstr(p, "\n2: t:SO-0|t:Name 0\n"));
    assert_non_null(strstr(p, "\n1001: t:SO-999|t:Name 999\n1003: t:SO-1000|t:Name 1000\n"));
    assert_non_null(strstr(p, "\n3003: t:SO-2999|t:Name 2999\n3005: t:BIG|t:x,y\nx,y\n"));
    buf_free(&out);
    buf_free(&in);
}

static void test_bad_quoting(void **state)
{
    (void)state;
    csv_bad("a,b\n1,\"never closed\n", SHEET_ERR_FORMAT, "never closed");
    csv_bad("a,b\n1,\"x\"y\n", SHEET_ERR_FORMAT, "misplaced quote in row 2");
    csv_bad("a,b\n1,5\" screen\n", SHEET_ERR_FORMAT, "misplaced quote");
}

static void test_encodings(void **state)
{
    (void)state;
    assert_fixture_refused(SHEET_CSV, "latin1.csv", NULL, SHEET_ERR_FORMAT, "not UTF-8 (line 2)");
    csv_bad("\xFF\xFEh\0i\0", SHEET_ERR_FORMAT, "UTF-16");
    csv_bad("a,b\n\xED\xA0\x80,x\n", SHEET_ERR_FORMAT, "not UTF-8"); /* surrogate */
    csv_bad("a,b\n\xC0\xAF,x\n", SHEET_ERR_FORMAT, "not UTF-8");     /* overlong */
    assert_fixture_refused(SHEET_CSV, "garbage.bin", NULL, SHEET_ERR_FORMAT, "not");
    assert_fixture_refused(SHEET_CSV, "orders.xlsx", NULL, SHEET_ERR_FORMAT, "not");
}

static void test_limits(void **state)
{
    (void)state;
    struct sheet_limits lim = SHEET_DEFAULT_LIMITS;
    lim.max_columns = 3;
    const char wide[] = "a,b,c,d\n";
    assert_refused(SHEET_CSV, wide, sizeof wide - 1, &lim, SHEET_ERR_TOO_LARGE,
                   "more than 3 columns");
    const char wide_empty[] = "a,b,c,,,,,,\n"; /* only empty fields beyond: fine */
    assert_dump(SHEET_CSV, wide_empty, sizeof wide_empty - 1, &lim, "1: t:a|t:b|t:c");
    lim = SHEET_DEFAULT_LIMITS;
    lim.max_cell_bytes = 4;
    const char big[] = "abcd,abcde\n";
    assert_refused(SHEET_CSV, big, sizeof big - 1, &lim, SHEET_ERR_TOO_LARGE, "longer than 4");
    lim = SHEET_DEFAULT_LIMITS;
    lim.max_rows = 2;
    const char rows[] = "h\n1\n\n2\n,\n3\n";
    assert_refused(SHEET_CSV, rows, sizeof rows - 1, &lim, SHEET_ERR_TOO_LARGE,
                   "more than 2 data rows (row 6)");
    const char ok[] = "h\n\n\n1\n,,\n2\n";
    assert_dump(SHEET_CSV, ok, sizeof ok - 1, &lim, "1: t:h\n4: t:1\n6: t:2");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_semicolon_bom),
        cmocka_unit_test(test_comma_no_bom),
        cmocka_unit_test(test_sniffing),
        cmocka_unit_test(test_line_endings_and_numbering),
        cmocka_unit_test(test_many_rows_across_slices),
        cmocka_unit_test(test_bad_quoting),
        cmocka_unit_test(test_encodings),
        cmocka_unit_test(test_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
