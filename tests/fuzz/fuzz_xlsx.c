/* libFuzzer target: the .xlsx reader (src/io/xlsx.c) on arbitrary bytes. */
#include "fuzz_sheet.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_sheet(SHEET_XLSX, data, size);
}
