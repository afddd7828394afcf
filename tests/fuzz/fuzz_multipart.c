/* libFuzzer target: the multipart/form-data parser (src/io/multipart.c).
 *
 * Input layout: byte 0 picks how the body is split into feeds (low 7 bits:
 * piece size 1..127, 0 = all at once); if its high bit is set, the first line
 * of the rest is the Content-Type header, else the Content-Type is
 * "multipart/form-data; boundary=XyZ". The remainder is the body. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "deliveryd/io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct multipart_field_limit FIELDS[] = {
    {"file", 4096},
    {"photo", 2048},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    unsigned mode = data[0];
    data++, size--;
    char ct[512] = "multipart/form-data; boundary=XyZ";
    if (mode & 0x80) {
        const uint8_t *nl = memchr(data, '\n', size < sizeof ct ? size : sizeof ct - 1);
        if (!nl) return 0;
        size_t n = (size_t)(nl - data);
        memcpy(ct, data, n);
        ct[n] = '\0';
        data += n + 1;
        size -= n + 1;
    }
    struct multipart_limits lim = {
        .max_total = 64 * 1024,
        .max_parts = 8,
        .max_header_bytes = 512,
        .default_max_part = 256,
        .fields = FIELDS,
        .nfields = sizeof FIELDS / sizeof FIELDS[0],
    };
    struct multipart *m = NULL;
    char err[128];
    if (multipart_new(ct, &lim, &m, err, sizeof err) != MP_OK) {
        if (m) abort();
        return 0;
    }
    size_t step = mode & 0x7F;
    int rc = MP_OK;
    for (size_t off = 0; off < size && rc == MP_OK;) {
        size_t n = step && size - off > step ? step : size - off;
        rc = multipart_feed(m, data + off, n);
        off += n;
    }
    if (rc == MP_OK) rc = multipart_finish(m);
    if (rc != MP_OK && multipart_error(m)[0] == '\0') abort();
    size_t total = 0;
    for (size_t i = 0; i < multipart_count(m); i++) {
        const struct multipart_part *p = multipart_part_at(m, i);
        if (!p || !p->name || p->data[p->len] != '\0') abort();
        if (multipart_get(m, p->name) == NULL) abort();
        total += p->len + strlen(p->name) + (p->filename ? strlen(p->filename) : 0) +
                 (p->content_type ? strlen(p->content_type) : 0);
    }
    if (total > 2 * 64 * 1024) abort(); /* Latin-1 filenames may double in UTF-8 */
    multipart_free(m);
    return 0;
}
