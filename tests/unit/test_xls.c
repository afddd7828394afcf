/* .xls reader (src/io/xls.c, freexl in a child process) on workbooks written
 * by python3-xlwt, and on files that crash or stall freexl. */
#include "io_test_util.h"

#include <dirent.h>
#include <freexl.h>
#include <sys/wait.h>
#include <unistd.h>

static const char ORDERS[] =
    "1: t:Sales Order|t:Customer Name|t:Mobile|t:Amount|t:Delivery Date||t:Created\n"
    "2: t:SO-1001|t:Ahmed Al-Sabah|n:50012345|n:12.5|d:2024-03-05||dt:2024-03-05T14:30:00\n"
    "4: t:SO-1002|t:محمد العلي|n:96550012345|n:0.30000000000000004|d:2024-12-31";

static void test_orders(void **state)
{
    (void)state;
    assert_fixture_dump(SHEET_XLS, "orders.xls", NULL, ORDERS);
}

/* xlwt stores 1904-based serials; freexl applies the workbook's date mode. */
static void test_orders_1904(void **state)
{
    (void)state;
    assert_fixture_dump(SHEET_XLS, "orders_1904.xls", NULL, ORDERS);
}

static size_t count_entries(const char *dir)
{
    DIR *dp = opendir(dir);
    assert_non_null(dp);
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(dp)))
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) n++;
    closedir(dp);
    return n;
}

/* The temporary copy freexl reads is gone as soon as the reader is open. */
static void test_temp_file_unlinked(void **state)
{
    (void)state;
    char dir[] = "/tmp/deliveryd-test-xls-XXXXXX";
    assert_non_null(mkdtemp(dir));
    const char *old = getenv("TMPDIR");
    char *saved = old ? strdup(old) : NULL;
    setenv("TMPDIR", dir, 1);
    size_t len;
    unsigned char *d = fixture("orders.xls", &len);
    struct sheet_reader *r = open_ok(SHEET_XLS, d, len);
    assert_int_equal(count_entries(dir), 0);
    assert_int_equal(next_row(r, NULL), 1);
    sheet_close(r);
    char err[256];
    /* and after a refused file */
    assert_int_equal(sheet_open(SHEET_XLS, d, 600, NULL, &r, err, sizeof err), SHEET_ERR_FORMAT);
    assert_int_equal(count_entries(dir), 0);
    if (saved) {
        setenv("TMPDIR", saved, 1);
        free(saved);
    } else {
        unsetenv("TMPDIR");
    }
    rmdir(dir);
    free(d);
}

static void test_unwritable_tmpdir(void **state)
{
    (void)state;
    setenv("TMPDIR", "/nonexistent/deliveryd", 1);
    assert_fixture_refused(SHEET_XLS, "orders.xls", NULL, SHEET_ERR_INTERNAL, "temporary file");
    unsetenv("TMPDIR");
}

static void test_limits(void **state)
{
    (void)state;
    size_t len;
    unsigned char *d = fixture("orders.xls", &len);
    struct sheet_limits lim = SHEET_DEFAULT_LIMITS;
    lim.max_rows = 1;
    assert_refused(SHEET_XLS, d, len, &lim, SHEET_ERR_TOO_LARGE, "more than 1 data rows (row 4)");
    lim.max_rows = 2;
    assert_dump(SHEET_XLS, d, len, &lim, ORDERS);
    lim = SHEET_DEFAULT_LIMITS;
    lim.max_columns = 6;
    assert_refused(SHEET_XLS, d, len, &lim, SHEET_ERR_TOO_LARGE, "cell G1 is beyond");
    free(d);
}

static void test_garbage(void **state)
{
    (void)state;
    assert_fixture_refused(SHEET_XLS, "garbage.bin", NULL, SHEET_ERR_FORMAT, "not an .xls file");
    assert_fixture_refused(SHEET_XLS, "orders.xlsx", NULL, SHEET_ERR_FORMAT,
                           "this is an .xlsx file");
    assert_fixture_refused(SHEET_XLS, "orders_comma.csv", NULL, SHEET_ERR_FORMAT,
                           "not an .xls file");
    assert_refused(SHEET_XLS, "", 0, NULL, SHEET_ERR_FORMAT, "not an .xls file");
    /* the right signature, then damage */
    size_t len;
    unsigned char *d = fixture("orders.xls", &len);
    assert_refused(SHEET_XLS, d, 1024, NULL, SHEET_ERR_FORMAT, "not an .xls file");
    for (size_t i = 512; i < len; i += 7)
        d[i] ^= 0x5A;
    buf_t out;
    char err[256];
    int rc = sheet_dump(SHEET_XLS, d, len, NULL, &out, err, sizeof err);
    assert_true(rc == 0 || rc == SHEET_ERR_FORMAT); /* never a crash, never INTERNAL */
    buf_free(&out);
    free(d);
}

/* The input with which fuzz_xls found a stack buffer overflow inside
 * freexl_open: the child dies, the caller gets an ordinary refusal. */
static void test_freexl_crash_contained(void **state)
{
    (void)state;
    assert_fixture_refused(SHEET_XLS, "freexl_crash.xls", NULL, SHEET_ERR_FORMAT, "damaged");
}

/* freexl spends seconds of CPU on each date cell with a huge serial: the
 * child is killed at the time limit. */
static void test_slow_file_killed(void **state)
{
    (void)state;
    struct sheet_limits lim = SHEET_DEFAULT_LIMITS;
    lim.max_seconds = 1;
    double t0 = now_mono();
    assert_fixture_refused(SHEET_XLS, "slow_dates.xls", &lim, SHEET_ERR_TOO_LARGE,
                           "takes more than 1 s");
    double dt = now_mono() - t0;
    if (dt > 3) fail_msg("took %.1f s", dt);
}

/* Closing before the end stops the child (nothing left running). */
static void test_close_early(void **state)
{
    (void)state;
    size_t len;
    unsigned char *d = fixture("orders.xls", &len);
    for (int i = 0; i < 20; i++) {
        struct sheet_reader *r = open_ok(SHEET_XLS, d, len);
        if (i % 2) assert_int_equal(next_row(r, NULL), 1);
        sheet_close(r);
    }
    /* every child was reaped */
    assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
    free(d);
}

/* ---- which sheet: the first worksheet (fixtures: make_xls_sheet_kinds) ---- */

static const char SMALL[] = "1: t:Sales Order|t:Customer\n2: t:SO-1|t:Sara";

/* freexl 1.0.6 does not leave charts out: it lists and selects a chart
 * sheet like any other, which is why xls.c reads the sheet types itself. */
static void test_freexl_lists_chart_sheets(void **state)
{
    (void)state;
    const void *h = NULL;
    unsigned count = 0;
    assert_int_equal(freexl_open(FIXTURES_DIR "/chart_first.xls", &h), FREEXL_OK);
    assert_int_equal(freexl_get_info(h, FREEXL_BIFF_SHEET_COUNT, &count), FREEXL_OK);
    assert_int_equal(count, 2);
    assert_int_equal(freexl_select_active_worksheet(h, 0), FREEXL_OK);
    freexl_close(h);
}

static void test_chart_sheet_first_is_skipped(void **state)
{
    (void)state;
    assert_fixture_dump(SHEET_XLS, "chart_first.xls", NULL, SMALL);
}

static void test_dialog_sheet_first_is_skipped(void **state)
{
    (void)state;
    assert_fixture_dump(SHEET_XLS, "dialog_first.xls", NULL, SMALL);
}

static void test_only_charts_refused(void **state)
{
    (void)state;
    assert_fixture_refused(SHEET_XLS, "charts_only.xls", NULL, SHEET_ERR_FORMAT,
                           "the workbook has no worksheet, only charts");
}

/* ---- an Excel file freexl cannot read is not "not an .xls file" ---- */

static void assert_advice(const char *name, const void *data, size_t len, const char *needle)
{
    buf_t out;
    char err[256] = "";
    struct sheet_limits lim = SHEET_DEFAULT_LIMITS;
    int rc = sheet_dump(SHEET_XLS, data, len, &lim, &out, err, sizeof err);
    buf_free(&out);
    if (rc != SHEET_ERR_FORMAT) fail_msg("%s: want a format error, got %d (%s)", name, rc, err);
    if (!strstr(err, needle) || !strstr(err, "save it as .xlsx") || strstr(err, "not an .xls"))
        fail_msg("%s: message \"%s\"", name, err);
}

static void test_refused_by_freexl_gets_advice(void **state)
{
    (void)state;
    size_t len;
    unsigned char *d = fixture("codepage_10001.xls", &len);
    assert_advice("codepage_10001.xls", d, len, "could not be read here");
    free(d);
}

static void test_excel95_gets_advice(void **state)
{
    (void)state;
    size_t len;
    unsigned char *d = fixture("excel95.xls", &len);
    assert_int_equal(sheet_sniff(d, len), SHEET_XLS);
    assert_advice("excel95.xls", d, len, "Excel 5.0/95 or older");
    free(d);
    /* a bare BIFF4 stream (Excel 4.0): BOF 0x0409, 6 bytes, no container */
    static const unsigned char biff4[16] = {0x09, 0x04, 0x06, 0x00, 0x00, 0x00, 0x10, 0x00};
    assert_int_equal(sheet_sniff(biff4, sizeof biff4), SHEET_XLS);
    assert_advice("biff4", biff4, sizeof biff4, "Excel 5.0/95 or older");
}

static void test_ole2_without_workbook_is_not_xls(void **state)
{
    (void)state;
    assert_fixture_refused(SHEET_XLS, "not_a_workbook.ole", NULL, SHEET_ERR_FORMAT,
                           "not an .xls file");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_orders),
        cmocka_unit_test(test_orders_1904),
        cmocka_unit_test(test_temp_file_unlinked),
        cmocka_unit_test(test_unwritable_tmpdir),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_freexl_crash_contained),
        cmocka_unit_test(test_slow_file_killed),
        cmocka_unit_test(test_close_early),
        cmocka_unit_test(test_freexl_lists_chart_sheets),
        cmocka_unit_test(test_chart_sheet_first_is_skipped),
        cmocka_unit_test(test_dialog_sheet_first_is_skipped),
        cmocka_unit_test(test_only_charts_refused),
        cmocka_unit_test(test_refused_by_freexl_gets_advice),
        cmocka_unit_test(test_excel95_gets_advice),
        cmocka_unit_test(test_ole2_without_workbook_is_not_xls),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
