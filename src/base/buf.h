/* buf.h - a growable byte buffer, the one way socle builds strings and response bodies.
 *
 * The buffer is always NUL-terminated after any successful append (data[len] == 0), so it can be
 * used as a C string. On allocation failure appends set `oom` and become no-ops: callers check
 * buf_ok() once at the end instead of after every append. */
#ifndef SOCLE_BASE_BUF_H
#define SOCLE_BASE_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

typedef struct socle_buf {
    char *data;   /* NULL until the first append; owned by the buffer */
    size_t len;
    size_t cap;
    int oom;      /* set when an allocation failed; the content is then incomplete */
} socle_buf;

#define SOCLE_BUF_INIT {NULL, 0, 0, 0}

void buf_init(socle_buf *b);
/* buf_free - release the memory; the buffer is reusable (empty) afterwards. */
void buf_free(socle_buf *b);
/* buf_reset - empty the buffer, keeping its memory. */
void buf_reset(socle_buf *b);
/* buf_reserve - make room for n more bytes; returns 0 or SOCLE_ENOMEM. */
int buf_reserve(socle_buf *b, size_t n);
void buf_append(socle_buf *b, const void *data, size_t n);
void buf_puts(socle_buf *b, const char *s);
void buf_putc(socle_buf *b, char c);
void buf_printf(socle_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_vprintf(socle_buf *b, const char *fmt, va_list ap);
/* buf_json_string - append s as a quoted, escaped JSON string (control chars as \uXXXX). */
void buf_json_string(socle_buf *b, const char *s);
void buf_json_stringn(socle_buf *b, const char *s, size_t n);
/* buf_ok - 1 if no allocation failed since the last reset/free. */
int buf_ok(const socle_buf *b);
/* buf_take - hand the memory to the caller (must free()); the buffer becomes empty. Never NULL:
 * an empty buffer yields a malloc'ed "" (or NULL only if that allocation fails). */
char *buf_take(socle_buf *b, size_t *len);

#endif
