/* json.c - FHIR JSON in and out: a byte-level prescan enforcing the limits (size, UTF-8, depth,
 * string length) before jansson allocates anything, then a strict parse. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "base/buf.h"
#include "base/text.h"
#include "base/timeutil.h"
#include "fhir/fhir.h"

/* Line and column of byte offset `at`, for messages. */
static void json_position(const char *s, size_t at, int *line, int *col)
{
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < at; i++) {
        if (s[i] == '\n') {
            (*line)++;
            *col = 1;
        } else {
            (*col)++;
        }
    }
}

/* --- long plain strings, parsed aside ---
 * jansson reads a string byte by byte (twice: lexing, then unescaping), which made parsing a DMP
 * bundle's 29 KB base64 document a fifth of the CPU of feeding it. A value of JSON_LONG_STRING
 * bytes or more with no escape and no control character is its own text: the parser gets a copy
 * of the body where such values are short placeholders, and the values are put back from the body
 * afterwards (json_prescan finds them, and has checked the body's UTF-8). The result is the same
 * tree; on a malformed body the original is parsed again so that the error names the right column. */
#define JSON_LONG_STRING 4096
#define JSON_LONG_MAX 64 /* per body; the rest are parsed as usual */

typedef struct json_span {
    size_t at, len;
} json_span;

/* The limits, and on the way the long plain string values (not keys) to parse aside, at most
 * JSON_LONG_MAX of them (*nlong). */
static int json_prescan(const char *s, size_t n, const fhir_limits *lim, json_span *longs, int *nlong,
                        socle_err *err)
{
    *nlong = 0;
    if (n > lim->max_bytes)
        return socle_err_set(err, SOCLE_ETOOLARGE, "the body is %zu bytes, over the limit of %zu", n, lim->max_bytes);
    if (!text_utf8_valid(s, n)) return socle_err_set(err, SOCLE_EINVAL, "the body is not valid UTF-8 (or holds a NUL byte)");
    size_t depth = 0, str_start = 0;
    int in_str = 0, plain = 0;
    for (size_t i = 0; i < n; i++) {
        if (in_str && (i += text_json_plain_span(s + i, n - i)) >= n) break; /* the string's plain run */
        char c = s[i];
        if (in_str) {
            if (c == '\\') {
                i++;
                plain = 0;
            } else if ((unsigned char)c < 0x20) {
                plain = 0;
            } else if (c == '"') {
                in_str = 0;
                if (i - str_start > lim->max_string) {
                    int line, col;
                    json_position(s, str_start, &line, &col);
                    return socle_err_set(err, SOCLE_EINVAL, "a JSON string at line %d column %d is longer than %zu bytes",
                                         line, col, lim->max_string);
                }
                if (plain && i - str_start >= JSON_LONG_STRING && *nlong < JSON_LONG_MAX) {
                    size_t k = i + 1;
                    while (k < n && (s[k] == ' ' || s[k] == '\t' || s[k] == '\n' || s[k] == '\r'))
                        k++;
                    if (k >= n || s[k] != ':') longs[(*nlong)++] = (json_span){str_start, i - str_start};
                }
            }
        } else if (c == '"') {
            in_str = plain = 1;
            str_start = i + 1;
        } else if (c == '{' || c == '[') {
            if (++depth > lim->max_depth) {
                int line, col;
                json_position(s, i, &line, &col);
                return socle_err_set(err, SOCLE_EINVAL, "JSON nesting deeper than %zu at line %d column %d", lim->max_depth,
                                     line, col);
            }
        } else if (c == '}' || c == ']') {
            if (depth) depth--;
        }
    }
    return 0;
}

/* The placeholder of value k: "\u0001", 16 hex digits of this parse's tag, two of k. Decoded it is
 * JSON_TAG_LEN + 2 bytes starting with the tag. */
#define JSON_TAG_LEN 17

/* Put the long values back in place of their placeholders. Returns how many were put back, or
 * -1 when one could not be (out of memory) or an index came twice (a client string that happened
 * to carry this parse's tag): the caller then parses the body itself. */
static int json_put_back(json_t *j, const char *body, const json_span *spans, int count, const char *tag,
                         unsigned char *used)
{
    int done = 0;
    size_t size = json_is_object(j) ? json_object_size(j) : json_is_array(j) ? json_array_size(j) : 0;
    void *it = json_is_object(j) ? json_object_iter(j) : NULL;
    for (size_t i = 0; i < size; i++, it = it ? json_object_iter_next(j, it) : NULL) {
        json_t *v = it ? json_object_iter_value(it) : json_array_get(j, i);
        if (!json_is_string(v)) {
            int n = json_put_back(v, body, spans, count, tag, used);
            if (n < 0) return -1;
            done += n;
            continue;
        }
        const char *t = json_string_value(v);
        if (json_string_length(v) != JSON_TAG_LEN + 2 || memcmp(t, tag, JSON_TAG_LEN)) continue;
        int k = (t[JSON_TAG_LEN] - '0') * 10 + (t[JSON_TAG_LEN + 1] - '0');
        if (k < 0 || k >= count || used[k]++) return -1;
        json_t *value = json_stringn_nocheck(body + spans[k].at, spans[k].len);
        if (!value || (it ? json_object_iter_set_new(j, it, value) : json_array_set_new(j, i, value))) return -1;
        done++;
    }
    return done;
}

/* jansson on body, with its long plain values parsed aside; NULL when the copy does not parse or
 * the values cannot all be put back (the caller then parses the body itself: the same result, or
 * the error at its right place), or when there is nothing to set aside. */
static json_t *json_load_lean(const char *body, size_t n, const json_span *spans, int count)
{
    if (count == 0) return NULL;
    /* The tag only has to differ from what a client would send; it need not be secret. */
    char tag[JSON_TAG_LEN + 1];
    snprintf(tag, sizeof tag, "\x01%016llx",
             (unsigned long long)time_monotonic_ns() ^ (unsigned long long)(uintptr_t)body);
    socle_buf lean = SOCLE_BUF_INIT;
    size_t from = 0;
    for (int k = 0; k < count; k++) {
        buf_append(&lean, body + from, spans[k].at - from);
        buf_printf(&lean, "\\u0001%s%02d", tag + 1, k);
        from = spans[k].at + spans[k].len;
    }
    buf_append(&lean, body + from, n - from);
    json_t *j = buf_ok(&lean) ? json_loadb(lean.data, lean.len, JSON_REJECT_DUPLICATES, NULL) : NULL;
    buf_free(&lean);
    unsigned char used[JSON_LONG_MAX] = {0};
    if (j && json_put_back(j, body, spans, count, tag, used) != count) {
        json_decref(j);
        j = NULL;
    }
    return j;
}

int fhir_json_parse(const char *body, size_t n, const fhir_limits *lim, json_t **out, socle_err *err)
{
    *out = NULL;
    json_span longs[JSON_LONG_MAX];
    int nlong;
    int rc = json_prescan(body, n, lim, longs, &nlong, err);
    if (rc) return rc;
    if (n == 0) return socle_err_set(err, SOCLE_EINVAL, "the body is empty: a JSON object was expected");
    json_error_t je;
    json_t *j = json_load_lean(body, n, longs, nlong);
    if (!j) j = json_loadb(body, n, JSON_REJECT_DUPLICATES, &je);
    if (!j) return socle_err_set(err, SOCLE_EINVAL, "malformed JSON at line %d column %d: %s", je.line, je.column, je.text);
    if (!json_is_object(j)) {
        json_decref(j);
        return socle_err_set(err, SOCLE_EINVAL, "the body must be a JSON object");
    }
    *out = j;
    return 0;
}

static int json_dump_cb(const char *buffer, size_t size, void *data)
{
    buf_append(data, buffer, size);
    return 0;
}

/* jansson's own dump reads a string code point by code point: for a Binary's 29 KB of base64 that
 * was an eighth of the CPU of feeding a DMP document. Containers and strings are written here
 * (buf_json_stringn copies runs without escapes whole); numbers are still jansson's. */
static void json_dump_value(const json_t *j, socle_buf *out)
{
    switch (json_typeof(j)) {
    case JSON_OBJECT: {
        buf_putc(out, '{');
        int first = 1;
        for (void *it = json_object_iter((json_t *)j); it; it = json_object_iter_next((json_t *)j, it)) {
            if (!first) buf_putc(out, ',');
            first = 0;
            buf_json_stringn(out, json_object_iter_key(it), json_object_iter_key_len(it));
            buf_putc(out, ':');
            json_dump_value(json_object_iter_value(it), out);
        }
        buf_putc(out, '}');
        break;
    }
    case JSON_ARRAY:
        buf_putc(out, '[');
        for (size_t i = 0; i < json_array_size(j); i++) {
            if (i) buf_putc(out, ',');
            json_dump_value(json_array_get(j, i), out);
        }
        buf_putc(out, ']');
        break;
    case JSON_STRING: buf_json_stringn(out, json_string_value(j), json_string_length(j)); break;
    case JSON_TRUE: buf_append(out, "true", 4); break;
    case JSON_FALSE: buf_append(out, "false", 5); break;
    case JSON_NULL: buf_append(out, "null", 4); break;
    default:
        /* 15 significant digits: what a double holds exactly, so 37.2 stays 37.2 (17 would print
         * 37.200000000000003). Trailing zeros of a decimal ("1.50") are still not kept: jansson
         * parses numbers into doubles. */
        json_dump_callback(j, json_dump_cb, out, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(15));
    }
}

void fhir_json_dump(const json_t *j, socle_buf *out)
{
    if (j) json_dump_value(j, out);
}
