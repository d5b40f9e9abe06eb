/* text.h - text normalisation for search and identity matching.
 *
 * text_fold lowercases and removes diacritics of Latin letters (é->e, ç->c, œ->oe, æ->ae, ß->ss),
 * keeps other UTF-8 untouched, and maps apostrophes, hyphens and runs of white space to one space.
 * That is the form string search compares ("Hélène" matches "helene", "Le Goff" matches "le-goff"). */
#ifndef SOCLE_BASE_TEXT_H
#define SOCLE_BASE_TEXT_H

#include <stddef.h>
#include <stdint.h>
#include "base/buf.h"

/* text_fold - append the folded form of s[0..n) to out. Invalid UTF-8 bytes are kept as is. */
void text_fold(socle_buf *out, const char *s, size_t n);
/* text_json_plain_span - how many of the first n bytes of s a JSON string holds as they are (no
 * control character, '"' or '\\'), in a row; eight bytes at a time. */
size_t text_json_plain_span(const char *s, size_t n);
/* text_utf8_valid - 1 if s[0..n) is valid UTF-8 without NUL bytes. */
int text_utf8_valid(const char *s, size_t n);
/* text_url_decode - decode %XX and '+' (as space) in place; returns new length, -1 on bad escape. */
long text_url_decode(char *s, size_t n);
/* text_url_encode - append s percent-encoded for a URL query value. */
void text_url_encode(socle_buf *out, const char *s);
/* text_equal_nocase - ASCII case-insensitive equality. */
int text_equal_nocase(const char *a, const char *b);
/* text_copy - copy src into dst[size] (size > 0), cut short if it does not fit, always terminated;
 * returns the length copied. For hot paths, where snprintf(dst, size, "%s", src) costs a format. */
size_t text_copy(char *dst, size_t size, const char *src);
/* text_decimal - the decimal digits of v (a '-' first if negative) into out, not terminated;
 * returns their count (at most 20). */
size_t text_decimal(int64_t v, char out[24]);

/* TEXT_HASH_START and text_hash - a fast hash of s (NUL-terminated; NULL hashes as ""), continuing from h:
 * text_hash(TEXT_HASH_START, s) for one string, feed the result back to hash several. For hash
 * tables (statement cache, key sets), not for anything an attacker must not collide. */
#define TEXT_HASH_START 1469598103934665603ULL
uint64_t text_hash(uint64_t h, const char *s);

#endif
