/* fuzz_ins_traits.c - INS trait normalisation and checks, and the phonetic key, on arbitrary bytes.
 * Besides memory errors it checks the normalisers' promises: output no longer than the input, only
 * A-Z and single inner separators, and a stable result when normalised twice. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "svc/ins/phonetic.h"
#include "svc/ins/traits.h"

/* abort() unless s is a well-formed normalised name (lists: spaces separate names). */
static void fuzz_check_normal(const char *s, size_t in_len)
{
    size_t n = strlen(s);
    if (!n || n > in_len) abort();
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int sep = c == ' ' || c == '-' || c == '\'';
        if (!sep && (c < 'A' || c > 'Z')) abort();
        if (sep && (i == 0 || i == n - 1)) abort();
        if (sep && i + 1 < n && (s[i + 1] == ' ' || s[i + 1] == '-' || s[i + 1] == '\'')) abort();
    }
}

static void fuzz_phonetic(const char *s)
{
    char key[512], small[4];
    ins_phonetic_key(s, key, sizeof key);
    ins_phonetic_key(s, small, sizeof small);
    if (strlen(small) > 3 || strncmp(key, small, strlen(small))) abort(); /* truncation is a prefix */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    memcpy(s, data, size);
    s[size] = 0;
    size_t len = strlen(s); /* the input stops at its first NUL, like a C string from a caller */
    socle_err err;
    char out[512], again[512];

    if (ins_normalize_name(s, out, sizeof out, &err) == 0) {
        fuzz_check_normal(out, len);
        if (ins_normalize_name(out, again, sizeof again, &err) || strcmp(out, again)) abort();
        fuzz_phonetic(out);
    } else if (out[0] || err.code != SOCLE_EINVAL) {
        abort();
    }
    if (ins_normalize_first_names(s, out, sizeof out, &err) == 0) {
        fuzz_check_normal(out, len);
        if (!ins_first_name_in_list(out, out) && !strchr(out, ' ')) abort();
        const char *sp = strchr(out, ' ');
        if (sp) {
            char first[512];
            memcpy(first, out, (size_t)(sp - out));
            first[sp - out] = 0;
            if (!ins_first_name_in_list(first, out)) abort();
        }
    }
    /* A small output buffer: refused or fitting, never overflowing. */
    char tiny[8];
    if (ins_normalize_name(s, tiny, sizeof tiny, NULL) == 0 && strlen(tiny) >= sizeof tiny) abort();

    fuzz_phonetic(s);
    ins_check_sex(s, &err);
    ins_check_birth_place(s, &err);
    int y = 0, m = 0, d = 0;
    if (ins_check_birth_date(s, &y, &m, &d, &err) == 0) {
        if (y < 1850 || m < 0 || m > 12 || d < 0 || d > 31 || (!m && d)) abort();
        if (!ins_birth_dates_match(s, s)) abort();
    }
    if (len >= 20) ins_birth_dates_match(s, s + 10);
    if (len >= 2) ins_first_name_in_list(s + len / 2, s);
    free(s);
    return 0;
}
