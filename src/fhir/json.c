/* json.c - FHIR JSON in and out: a byte-level prescan enforcing the limits (size, UTF-8, depth,
 * string length) before jansson allocates anything, then a strict parse. */
#include <stdio.h>
#include <string.h>

#include "base/text.h"
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

static int json_prescan(const char *s, size_t n, const fhir_limits *lim, socle_err *err)
{
    if (n > lim->max_bytes)
        return socle_err_set(err, SOCLE_ETOOLARGE, "the body is %zu bytes, over the limit of %zu", n, lim->max_bytes);
    if (!text_utf8_valid(s, n)) return socle_err_set(err, SOCLE_EINVAL, "the body is not valid UTF-8 (or holds a NUL byte)");
    size_t depth = 0, str_start = 0;
    int in_str = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (in_str) {
            if (c == '\\') {
                i++;
            } else if (c == '"') {
                in_str = 0;
                if (i - str_start > lim->max_string) {
                    int line, col;
                    json_position(s, str_start, &line, &col);
                    return socle_err_set(err, SOCLE_EINVAL, "a JSON string at line %d column %d is longer than %zu bytes",
                                         line, col, lim->max_string);
                }
            }
        } else if (c == '"') {
            in_str = 1;
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

int fhir_json_parse(const char *body, size_t n, const fhir_limits *lim, json_t **out, socle_err *err)
{
    *out = NULL;
    int rc = json_prescan(body, n, lim, err);
    if (rc) return rc;
    if (n == 0) return socle_err_set(err, SOCLE_EINVAL, "the body is empty: a JSON object was expected");
    json_error_t je;
    json_t *j = json_loadb(body, n, JSON_REJECT_DUPLICATES, &je);
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

void fhir_json_dump(const json_t *j, socle_buf *out)
{
    /* 15 significant digits: what a double holds exactly, so 37.2 stays 37.2 (17 would print
     * 37.200000000000003). Trailing zeros of a decimal ("1.50") are still not kept: jansson parses
     * numbers into doubles. */
    json_dump_callback(j, json_dump_cb, out, JSON_COMPACT | JSON_REAL_PRECISION(15));
}
