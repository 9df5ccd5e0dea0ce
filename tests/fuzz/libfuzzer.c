/* libFuzzer entry over the tt-fuzz interpreter (built with clang: -DTT_LIBFUZZER=ON). A violated
 * check aborts, so the fuzzer keeps the input. */
#include <stdio.h>
#include <stdlib.h>

#include "interp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char why[256];
    if (fuzz_run_bytes(data, size, why, sizeof why) != 0) {
        fprintf(stderr, "tt-fuzz: %s\n", why);
        abort();
    }
    return 0;
}
