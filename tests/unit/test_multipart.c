/* Streaming multipart/form-data parser (src/io/multipart.c). */
#include "io_test_util.h"

#define B "XyZ-b0undary"
#define CT_B "multipart/form-data; boundary=" B

static const struct multipart_field_limit FIELDS[] = {
    {"file", 10u * 1024 * 1024},
    {"photo", 5u * 1024 * 1024},
    {"signature", 1u * 1024 * 1024},
};

static const struct multipart_limits LIMITS = {
    .max_total = 11u * 1024 * 1024,
    .fields = FIELDS,
    .nfields = ARRAY_LEN(FIELDS),
};

/* Parses body fed in pieces of `step` bytes (0 = at once). */
static int parse(const char *ct, const void *body, size_t len, size_t step,
                 const struct multipart_limits *lim, struct multipart **out)
{
    char err[256];
    int rc = multipart_new(ct, lim, out, err, sizeof err);
    if (rc) return rc;
    const char *p = body;
    size_t off = 0;
    while (off < len) {
        size_t n = step && len - off > step ? step : len - off;
        rc = multipart_feed(*out, p + off, n);
        if (rc) return rc;
        off += n;
    }
    return multipart_finish(*out);
}

static void check_part(const struct multipart *m, size_t i, const char *name, const char *filename,
                       const char *ct, const void *data, size_t len)
{
    const struct multipart_part *p = multipart_part_at(m, i);
    assert_non_null(p);
    assert_string_equal(p->name, name);
    if (filename)
        assert_string_equal(p->filename, filename);
    else
        assert_null(p->filename);
    if (ct)
        assert_string_equal(p->content_type, ct);
    else
        assert_null(p->content_type);
    assert_int_equal(p->len, len);
    assert_memory_equal(p->data, data, len);
    assert_int_equal(p->data[len], '\0');
}

static const char SIMPLE[] =
    "--" B "\r\n"
    "Content-Disposition: form-data; name=\"dry_run\"\r\n"
    "\r\n"
    "true\r\n"
    "--" B "\r\n"
    "content-disposition: form-data; name=\"file\"; filename=\"orders.csv\"\r\n"
    "Content-Type: text/csv\r\n"
    "\r\n"
    "a,b\r\n--XyZ-b0undar\r\nx--" B "\r\n-\r\n"
    "--" B "--\r\n";

static void test_simple_every_split(void **state)
{
    (void)state;
    /* a delimiter's prefix, and the boundary without the CRLF before it, are content */
    static const char content[] = "a,b\r\n--XyZ-b0undar\r\nx--" B "\r\n-";
    for (size_t step = 0; step <= 40; step++) {
        struct multipart *m = NULL;
        int rc = parse(CT_B, SIMPLE, sizeof SIMPLE - 1, step, &LIMITS, &m);
        if (rc) fail_msg("step %zu: %d %s", step, rc, m ? multipart_error(m) : "");
        assert_int_equal(multipart_count(m), 2);
        check_part(m, 0, "dry_run", NULL, NULL, "true", 4);
        check_part(m, 1, "file", "orders.csv", "text/csv", content, sizeof content - 1);
        assert_ptr_equal(multipart_get(m, "file"), multipart_part_at(m, 1));
        assert_null(multipart_get(m, "nope"));
        multipart_free(m);
    }
}

/* What python3-requests sends: a raw UTF-8 filename, a binary .xlsx part. */
static void test_requests_body(void **state)
{
    (void)state;
    size_t blen, clen, xlen;
    unsigned char *body = fixture("multipart_requests.bin", &blen);
    char *ct = (char *)fixture("multipart_requests.ct", &clen);
    unsigned char *xlsx = fixture("orders.xlsx", &xlen);
    for (size_t step = 0; step < 4000; step += 997) {
        struct multipart *m;
        assert_int_equal(parse(ct, body, blen, step, &LIMITS, &m), MP_OK);
        assert_int_equal(multipart_count(m), 3);
        check_part(m, 0, "dry_run", NULL, NULL, "true", 4);
        check_part(m, 1, "file", "طلبات اليوم.xlsx",
                   "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", xlsx, xlen);
        check_part(m, 2, "notes", NULL, NULL, "سطر\r\nline 2", strlen("سطر\r\nline 2"));
        /* and the file part reads as a workbook */
        const struct multipart_part *f = multipart_get(m, "file");
        struct sheet_reader *r;
        char err[256];
        assert_int_equal(
            sheet_open(sheet_sniff(f->data, f->len), f->data, f->len, NULL, &r, err, sizeof err),
            0);
        sheet_close(r);
        multipart_free(m);
    }
    free(body);
    free(ct);
    free(xlsx);
}

static void test_content_types(void **state)
{
    (void)state;
    struct multipart *m;
    char err[256];
    const char *good[] = {
        "multipart/form-data; boundary=" B,
        "Multipart/Form-Data; BOUNDARY=\"" B "\"",
        "multipart/form-data;boundary=" B ";charset=utf-8",
        "multipart/form-data; charset=\"utf-8\"; boundary=\"" B "\"",
    };
    for (size_t i = 0; i < ARRAY_LEN(good); i++) {
        assert_int_equal(multipart_new(good[i], NULL, &m, err, sizeof err), MP_OK);
        assert_int_equal(multipart_feed(m, SIMPLE, sizeof SIMPLE - 1), MP_OK);
        assert_int_equal(multipart_finish(m), MP_OK);
        assert_int_equal(multipart_count(m), 2);
        multipart_free(m);
    }
    /* a quoted boundary with a space inside */
    assert_int_equal(
        multipart_new("multipart/form-data; boundary=\"a b\"", NULL, &m, err, sizeof err), MP_OK);
    static const char spaced[] = "--a b\r\nContent-Disposition: form-data; name=x\r\n\r\n1\r\n"
                                 "--a b--";
    assert_int_equal(multipart_feed(m, spaced, sizeof spaced - 1), MP_OK);
    assert_int_equal(multipart_finish(m), MP_OK);
    check_part(m, 0, "x", NULL, NULL, "1", 1);
    multipart_free(m);

    const char *bad[] = {
        NULL,
        "",
        "application/json",
        "multipart/form-datax; boundary=a",
        "multipart/mixed; boundary=abc",
        "multipart/form-data",
        "multipart/form-data; boundary=",
        "multipart/form-data; boundary=\"\"",
        "multipart/form-data; boundary=\"abc",
        "multipart/form-data; boundary=a{b}",
        "multipart/form-data; boundary=\"ends with space \"",
        "multipart/form-data; boundary=a; boundary=b",
        "multipart/form-data; boundary="
        "12345678901234567890123456789012345678901234567890123456789012345678901",
    };
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        m = (struct multipart *)1;
        if (multipart_new(bad[i], NULL, &m, err, sizeof err) != MP_ERR_MALFORMED)
            fail_msg("accepted Content-Type \"%s\"", bad[i] ? bad[i] : "(null)");
        assert_null(m);
        assert_true(strlen(err) > 0);
    }
}

static void test_preamble_padding_epilogue_and_names(void **state)
{
    (void)state;
    static const char body[] =
        "This is the preamble.\r\n"
        "--" B " \t\r\n"
        "Content-Disposition: form-data; name=\"file\"; "
        "filename=\"C:\\\\Users\\\\me\\\\d.xlsx\"\r\n"
        "X-Ignored: yes\r\n"
        "\r\n"
        "\r\n"
        "--" B "\r\n"
        "Content-Disposition: form-data; name=\"photo\"; filename=\"ignored.jpg\"; "
        "filename*=UTF-8''%D8%B5%D9%88%D8%B1%D8%A9.jpg\r\n"
        "\r\n"
        "\xFF\xD8\xFF\r\n"
        "--" B "\r\n"
        "Content-Disposition: form-data; name=\"old\"; filename=\"Jos\xE9.csv\"\r\n"
        "\r\n"
        "\r\n"
        "--" B "\r\n"
        "Content-Disposition: form-data; name=\"path\"; filename=\"../../etc/passwd\"\r\n"
        "\r\n"
        "x\r\n"
        "--" B "--  \r\n"
        "epilogue, ignored --" B "\r\n garbage";
    struct multipart *m;
    assert_int_equal(parse(CT_B, body, sizeof body - 1, 0, &LIMITS, &m), MP_OK);
    assert_int_equal(multipart_count(m), 4);
    check_part(m, 0, "file", "d.xlsx", NULL, "", 0);
    check_part(m, 1, "photo", "صورة.jpg", NULL, "\xFF\xD8\xFF", 3);
    check_part(m, 2, "old", "José.csv", NULL, "", 0);
    check_part(m, 3, "path", "passwd", NULL, "x", 1);
    multipart_free(m);
}

static void test_part_limits(void **state)
{
    (void)state;
    size_t big = 5u * 1024 * 1024 + 1;
    buf_t b;
    buf_init(&b);
    buf_puts(&b, "--" B "\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"p.jpg\"\r\n"
                 "Content-Type: image/jpeg\r\n\r\n");
    buf_reserve(&b, big);
    memset(b.data + b.len, 'j', big);
    b.len += big;
    buf_puts(&b, "\r\n--" B "--\r\n");
    struct multipart *m;
    assert_int_equal(parse(CT_B, b.data, b.len, 65536 + 3, &LIMITS, &m), MP_ERR_TOO_LARGE);
    assert_string_equal(multipart_error_field(m), "photo");
    assert_non_null(strstr(multipart_error(m), "photo"));
    /* sticky */
    assert_int_equal(multipart_feed(m, "x", 1), MP_ERR_TOO_LARGE);
    assert_int_equal(multipart_finish(m), MP_ERR_TOO_LARGE);
    multipart_free(m);

    /* exactly at the limit is fine */
    buf_t ok;
    buf_init(&ok);
    buf_puts(&ok, "--" B "\r\nContent-Disposition: form-data; name=\"signature\"\r\n\r\n");
    size_t sig = 1024 * 1024;
    buf_reserve(&ok, sig);
    memset(ok.data + ok.len, 's', sig);
    ok.len += sig;
    buf_puts(&ok, "\r\n--" B "--");
    assert_int_equal(parse(CT_B, ok.data, ok.len, 0, &LIMITS, &m), MP_OK);
    assert_int_equal(multipart_get(m, "signature")->len, sig);
    multipart_free(m);
    /* one more byte is not */
    ok.len -= strlen("\r\n--" B "--");
    buf_puts(&ok, "s\r\n--" B "--");
    assert_int_equal(parse(CT_B, ok.data, ok.len, 0, &LIMITS, &m), MP_ERR_TOO_LARGE);
    assert_string_equal(multipart_error_field(m), "signature");
    multipart_free(m);
    buf_free(&ok);

    /* a field not in the table: 4 KiB */
    buf_t t;
    buf_init(&t);
    buf_puts(&t, "--" B "\r\nContent-Disposition: form-data; name=\"notes\"\r\n\r\n");
    for (int i = 0; i < 4097; i++)
        buf_puts(&t, "n");
    buf_puts(&t, "\r\n--" B "--");
    assert_int_equal(parse(CT_B, t.data, t.len, 100, &LIMITS, &m), MP_ERR_TOO_LARGE);
    assert_string_equal(multipart_error_field(m), "notes");
    multipart_free(m);
    buf_free(&t);

    /* the whole body */
    struct multipart_limits small = LIMITS;
    small.max_total = 100;
    assert_int_equal(parse(CT_B, b.data, b.len, 0, &small, &m), MP_ERR_TOO_LARGE);
    assert_null(multipart_error_field(m));
    assert_non_null(strstr(multipart_error(m), "body"));
    multipart_free(m);
    buf_free(&b);

    /* too many parts */
    buf_t many;
    buf_init(&many);
    for (int i = 0; i < 40; i++)
        buf_printf(&many, "--" B "\r\nContent-Disposition: form-data; name=\"f%d\"\r\n\r\nv\r\n",
                   i);
    buf_puts(&many, "--" B "--");
    assert_int_equal(parse(CT_B, many.data, many.len, 0, &LIMITS, &m), MP_ERR_TOO_LARGE);
    assert_int_equal(multipart_count(m), 32);
    multipart_free(m);
    buf_free(&many);
}

static void malformed(const char *body, const char *needle)
{
    struct multipart *m;
    int rc = parse(CT_B, body, strlen(body), 0, &LIMITS, &m);
    if (rc != MP_ERR_MALFORMED) fail_msg("body accepted (%d): %s", rc, body);
    if (!strstr(multipart_error(m), needle))
        fail_msg("message \"%s\" lacks \"%s\"", multipart_error(m), needle);
    multipart_free(m);
}

static void test_malformed(void **state)
{
    (void)state;
    malformed("", "no multipart boundary");
    malformed("just text", "no multipart boundary");
    malformed("--" B "\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nabc",
              "ends before its closing boundary");
    malformed("--" B "\r\nContent-Disposition: form-data; name=\"a\"\r\n", "ends before");
    malformed("--" B "junk\r\n", "delimiter line");
    malformed("--" B "\r\n\r\nno headers\r\n--" B "--", "no Content-Disposition");
    malformed("--" B "\r\nContent-Type: text/plain\r\n\r\nx\r\n--" B "--",
              "no Content-Disposition");
    malformed("--" B "\r\nContent-Disposition: attachment; name=\"a\"\r\n\r\nx\r\n--" B "--",
              "not form-data");
    malformed("--" B "\r\nContent-Disposition: form-data; filename=\"a\"\r\n\r\nx\r\n--" B "--",
              "no valid name");
    malformed("--" B "\r\nContent-Disposition: form-data; name=\"a\r\n\r\nx\r\n--" B "--",
              "no valid name");
    malformed("--" B "\r\nContent-Disposition: form-data; name=\"a\"; name=\"b\"\r\n\r\nx\r\n"
              "--" B "--",
              "no valid name");
    malformed("--" B "\r\nContent-Disposition: form-data;\r\n name=\"a\"\r\n\r\nx\r\n--" B "--",
              "folded");
    malformed("--" B "\r\nno colon here\r\n\r\nx\r\n--" B "--", "without a name");

    /* a header block over 8 KiB */
    buf_t h;
    buf_init(&h);
    buf_puts(&h, "--" B "\r\nContent-Disposition: form-data; name=\"a\"\r\nX-Long: ");
    for (int i = 0; i < 9000; i++)
        buf_puts(&h, "h");
    buf_puts(&h, "\r\n\r\nx\r\n--" B "--");
    malformed(h.data, "headers are longer than 8192");
    /* and without ever ending */
    h.len = 0;
    buf_puts(&h, "--" B "\r\nX-Long: ");
    for (int i = 0; i < 20000; i++)
        buf_puts(&h, "h");
    struct multipart *m;
    assert_int_equal(parse(CT_B, h.data, h.len, 1000, &LIMITS, &m), MP_ERR_MALFORMED);
    multipart_free(m);
    buf_free(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_simple_every_split),
        cmocka_unit_test(test_requests_body),
        cmocka_unit_test(test_content_types),
        cmocka_unit_test(test_preamble_padding_epilogue_and_names),
        cmocka_unit_test(test_part_limits),
        cmocka_unit_test(test_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
