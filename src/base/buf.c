/* buf.c - growable byte buffer (see buf.h for the contract). */
#include "base/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/text.h"

void buf_init(socle_buf *b)
{
    b->data = NULL;
    b->len = b->cap = 0;
    b->oom = 0;
}

void buf_free(socle_buf *b)
{
    free(b->data);
    buf_init(b);
}

void buf_reset(socle_buf *b)
{
    b->len = 0;
    b->oom = 0;
    if (b->data) b->data[0] = 0;
}

int buf_reserve(socle_buf *b, size_t n)
{
    if (b->oom) return SOCLE_ENOMEM;
    if (b->len + n + 1 <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n + 1) {
        if (cap > ((size_t)-1) / 2) {
            b->oom = 1;
            return SOCLE_ENOMEM;
        }
        cap *= 2;
    }
    char *p = realloc(b->data, cap);
    if (!p) {
        b->oom = 1;
        return SOCLE_ENOMEM;
    }
    b->data = p;
    b->cap = cap;
    return 0;
}

void buf_append(socle_buf *b, const void *data, size_t n)
{
    if (buf_reserve(b, n)) return;
    if (n) memcpy(b->data + b->len, data, n);
    b->len += n;
    b->data[b->len] = 0;
}

void buf_puts(socle_buf *b, const char *s)
{
    buf_append(b, s, strlen(s));
}

void buf_putc(socle_buf *b, char c)
{
    buf_append(b, &c, 1);
}

void buf_vprintf(socle_buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    char small[256];
    int n = vsnprintf(small, sizeof small, fmt, ap2);
    va_end(ap2);
    if (n < 0) return;
    if ((size_t)n < sizeof small) {
        buf_append(b, small, (size_t)n);
        return;
    }
    if (buf_reserve(b, (size_t)n)) return;
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
}

void buf_printf(socle_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    buf_vprintf(b, fmt, ap);
    va_end(ap);
}

void buf_json_stringn(socle_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    if (buf_reserve(b, n + 2)) return;
    buf_putc(b, '"');
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        i += text_json_plain_span(s + i, n - i); /* a 29 KB base64 document: a few thousand words */
        if (i >= n) break;
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        buf_append(b, s + start, i - start);
        start = i + 1;
        switch (c) {
        case '"': buf_puts(b, "\\\""); break;
        case '\\': buf_puts(b, "\\\\"); break;
        case '\n': buf_puts(b, "\\n"); break;
        case '\r': buf_puts(b, "\\r"); break;
        case '\t': buf_puts(b, "\\t"); break;
        default: {
            char esc[7] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15], 0};
            buf_puts(b, esc);
        }
        }
    }
    buf_append(b, s + start, n - start);
    buf_putc(b, '"');
}

void buf_json_string(socle_buf *b, const char *s)
{
    if (!s) {
        buf_puts(b, "null");
        return;
    }
    buf_json_stringn(b, s, strlen(s));
}

int buf_ok(const socle_buf *b)
{
    return !b->oom;
}

char *buf_take(socle_buf *b, size_t *len)
{
    char *p = b->data;
    if (len) *len = b->len;
    if (!p) p = calloc(1, 1);
    buf_init(b);
    return p;
}
