/* libFuzzer target: the .xls reader (src/io/xls.c) on arbitrary bytes. */
#include "fuzz_sheet.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_sheet(SHEET_XLS, data, size);
}
