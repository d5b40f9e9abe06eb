/* text.c - folding for search and matching, UTF-8 checks, URL encoding (see text.h). */
#include "base/text.h"

#include <stdint.h>
#include <string.h>

/* ASCII folds of U+00C0..U+017F (Latin-1 Supplement letters and Latin Extended-A), lowercase.
 * "" means "keep the character" (×, ÷ and the like). */
static const char *const text_latin_fold[] = {
    /* C0 */ "a", "a", "a", "a", "a", "a", "ae", "c", "e", "e", "e", "e", "i", "i", "i", "i",
    /* D0 */ "d", "n", "o", "o", "o", "o", "o", "", "o", "u", "u", "u", "u", "y", "th", "ss",
    /* E0 */ "a", "a", "a", "a", "a", "a", "ae", "c", "e", "e", "e", "e", "i", "i", "i", "i",
    /* F0 */ "d", "n", "o", "o", "o", "o", "o", "", "o", "u", "u", "u", "u", "y", "th", "y",
    /* 100 */ "a", "a", "a", "a", "a", "a", "c", "c", "c", "c", "c", "c", "c", "c", "d", "d",
    /* 110 */ "d", "d", "e", "e", "e", "e", "e", "e", "e", "e", "e", "e", "g", "g", "g", "g",
    /* 120 */ "g", "g", "g", "g", "h", "h", "h", "h", "i", "i", "i", "i", "i", "i", "i", "i",
    /* 130 */ "i", "i", "ij", "ij", "j", "j", "k", "k", "k", "l", "l", "l", "l", "l", "l", "l",
    /* 140 */ "l", "l", "l", "n", "n", "n", "n", "n", "n", "n", "n", "n", "o", "o", "o", "o",
    /* 150 */ "o", "o", "oe", "oe", "r", "r", "r", "r", "r", "r", "s", "s", "s", "s", "s", "s",
    /* 160 */ "s", "s", "t", "t", "t", "t", "t", "t", "u", "u", "u", "u", "u", "u", "u", "u",
    /* 170 */ "u", "u", "u", "u", "w", "w", "y", "y", "y", "z", "z", "z", "z", "z", "z", "s",
};

/* Decode one UTF-8 sequence at s (n bytes left); returns its length, 0 if invalid. */
static size_t text_utf8_decode(const unsigned char *s, size_t n, unsigned *cp)
{
    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    size_t len;
    unsigned min;
    if ((s[0] & 0xe0) == 0xc0) {
        len = 2, min = 0x80, *cp = s[0] & 0x1f;
    } else if ((s[0] & 0xf0) == 0xe0) {
        len = 3, min = 0x800, *cp = s[0] & 0x0f;
    } else if ((s[0] & 0xf8) == 0xf0) {
        len = 4, min = 0x10000, *cp = s[0] & 0x07;
    } else {
        return 0;
    }
    if (len > n) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        *cp = (*cp << 6) | (s[i] & 0x3f);
    }
    if (*cp < min || *cp > 0x10ffff || (*cp >= 0xd800 && *cp <= 0xdfff)) return 0;
    return len;
}

void text_fold(socle_buf *out, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    int pending_space = 0;
    size_t start_len = out->len;
    for (size_t i = 0; i < n;) {
        unsigned cp;
        size_t len = text_utf8_decode(p + i, n - i, &cp);
        if (len == 0) { /* keep invalid bytes as they are */
            buf_putc(out, (char)p[i]);
            i++;
            continue;
        }
        int is_space = cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r' || cp == '-' || cp == '\'' ||
                       cp == 0x2019 /* ’ */ || cp == 0xa0 || cp == 0x2010 || cp == 0x2011;
        if (is_space) {
            pending_space = 1;
            i += len;
            continue;
        }
        if (pending_space && out->len > start_len) buf_putc(out, ' ');
        pending_space = 0;
        if (cp < 0x80) {
            char c = (char)cp;
            if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
            buf_putc(out, c);
        } else if (cp >= 0xc0 && cp <= 0x17f && text_latin_fold[cp - 0xc0][0]) {
            buf_puts(out, text_latin_fold[cp - 0xc0]);
        } else {
            buf_append(out, p + i, len);
        }
        i += len;
    }
}

int text_utf8_valid(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
    for (size_t i = 0; i < n;) {
        uint64_t w;
        /* eight ASCII bytes without a NUL at a time */
        while (i + 8 <= n && (memcpy(&w, p + i, 8), !((w | ((w - ones) & ~w)) & highs)))
            i += 8;
        if (i >= n) break;
        unsigned cp;
        if (p[i] == 0) return 0;
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        size_t len = text_utf8_decode(p + i, n - i, &cp);
        if (len == 0) return 0;
        i += len;
    }
    return 1;
}

static int text_hex_value(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

long text_url_decode(char *s, size_t n)
{
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '+') {
            s[w++] = ' ';
        } else if (s[i] == '%') {
            if (i + 2 >= n) return -1;
            int hi = text_hex_value(s[i + 1]), lo = text_hex_value(s[i + 2]);
            if (hi < 0 || lo < 0) return -1;
            s[w++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            s[w++] = s[i];
        }
    }
    if (w < n) s[w] = 0;
    return (long)w;
}

void text_url_encode(socle_buf *out, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned char c = *p;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
            c == '.' || c == '~' || c == ':') {
            buf_putc(out, (char)c);
        } else {
            char esc[4] = {'%', hex[c >> 4], hex[c & 15], 0};
            buf_puts(out, esc);
        }
    }
}

int text_equal_nocase(const char *a, const char *b)
{
    for (;; a++, b++) {
        char x = *a, y = *b;
        if (x >= 'A' && x <= 'Z') x = (char)(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z') y = (char)(y - 'A' + 'a');
        if (x != y) return 0;
        if (!x) return 1;
    }
}

size_t text_copy(char *dst, size_t size, const char *src)
{
    size_t n = strnlen(src, size - 1);
    memcpy(dst, src, n);
    dst[n] = 0;
    return n;
}

size_t text_decimal(int64_t v, char out[24])
{
    char tmp[24];
    size_t n = 0, len = 0;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0) out[len++] = '-';
    while (n) out[len++] = tmp[--n];
    return len;
}

/* Eight bytes at a time, each word multiplied in and its high half folded down; the length goes
 * into the last word, so that "ab" then "c" and "a" then "bc" differ, and a finalizer mixes every
 * bit into the low ones the callers take for a slot. A byte at a time (FNV-1a), the statement cache
 * spent 1 % of a FHIR read's CPU hashing SQL. */
uint64_t text_hash(uint64_t h, const char *s)
{
    const uint64_t k = 0x9e3779b97f4a7c15ULL;
    size_t n = s ? strlen(s) : 0;
    const unsigned char *p = (const unsigned char *)s;
    for (size_t left = n; left >= 8; left -= 8, p += 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * k;
        h ^= h >> 32;
    }
    uint64_t w = (uint64_t)n << 56;
    for (size_t i = 0; i < n % 8; i++) w ^= (uint64_t)p[i] << (8 * i);
    /* The last word gets a full avalanche, or its high bytes would barely reach the low bits. */
    h ^= w;
    h = (h ^ (h >> 33)) * 0xff51afd7ed558ccdULL;
    h = (h ^ (h >> 33)) * 0xc4ceb9fe1a85ec53ULL;
    return h ^ (h >> 33);
}

/* Eight bytes at a time: the exact "has a byte less than n / equal to c" word tricks. */
static int text_json_word_plain(uint64_t w)
{
    const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
    uint64_t quote = w ^ (ones * '"'), backslash = w ^ (ones * '\\');
    uint64_t special = ((w - ones * 0x20) & ~w) | ((quote - ones) & ~quote) | ((backslash - ones) & ~backslash);
    return !(special & highs);
}

size_t text_json_plain_span(const char *s, size_t n)
{
    size_t i = 0;
    uint64_t w;
    while (i + 8 <= n && (memcpy(&w, s + i, 8), text_json_word_plain(w)))
        i += 8;
    while (i < n && (unsigned char)s[i] >= 0x20 && s[i] != '"' && s[i] != '\\')
        i++;
    return i;
}
