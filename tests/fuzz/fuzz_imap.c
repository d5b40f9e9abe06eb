/* fuzz_imap.c - the IMAP argument parsers (sequence sets, FETCH attributes with sections and
 * partials, SEARCH keys with NOT/OR/parentheses, quoted strings and {n} literals) and the SASL
 * OAUTHBEARER/XOAUTH2 response parser on arbitrary bytes: they must return, never crash, never read
 * outside the input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "svc/mss/imap_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536) return 0;
    /* The session's commands are NUL-terminated copies; literals may hold any byte. */
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = 0;
    (void)imap_parse_arguments(text, size);
    const char *user, *token;
    char *copy = malloc(size + 1);
    if (copy) {
        memcpy(copy, data, size);
        (void)mss_sasl_oauth(copy, size, 0, &user, &token);
        memcpy(copy, data, size);
        (void)mss_sasl_oauth(copy, size, 1, &user, &token);
        free(copy);
    }
    free(text);
    return 0;
}
