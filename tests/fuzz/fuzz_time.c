/* fuzz_time.c - FHIR date parsing on arbitrary strings. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/timeutil.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    memcpy(s, data, size);
    s[size] = 0;
    int64_t lo, hi;
    if (time_parse_fhir(s, &lo, &hi, NULL) == 0 && lo > hi) abort();
    free(s);
    return 0;
}
