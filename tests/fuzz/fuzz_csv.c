/* libFuzzer target: the .csv reader (src/io/csv.c) on arbitrary bytes. */
#include "fuzz_sheet.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_sheet(SHEET_CSV, data, size);
}
