/* fuzz_text.c - text folding, UTF-8 validation and URL decoding on arbitrary bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    socle_buf b = SOCLE_BUF_INIT;
    text_fold(&b, (const char *)data, size);
    text_utf8_valid((const char *)data, size);
    buf_free(&b);
    char *s = malloc(size + 1);
    memcpy(s, data, size);
    s[size] = 0;
    text_url_decode(s, size);
    free(s);
    return 0;
}
