/* traits.h - the five INS traits: normalisation (RNIV/INSi) and checks.
 *
 * Names are compared in a normalised form: upper case, Latin diacritics removed (é->E, ç->C,
 * œ->OE, æ->AE, ß->SS, ÿ->Y; Latin-1 Supplement and Latin Extended-A, plus Romanian ș/ț),
 * only letters A-Z, space, hyphen and apostrophe kept (the typographic apostrophes ’ ‘ ʼ are read
 * as '), runs of separators collapsed to one (a hyphen or apostrophe wins over spaces next to it),
 * no separator at either end. Decomposed accents (a letter then U+0300..U+036F) are removed too.
 * Digits, other punctuation, other scripts and control characters (tab included) are refused,
 * not dropped: they are typing errors the RNIV asks to correct at the source.
 * Error messages name the trait and the rule broken, never the value (identity is health data). */
#ifndef SOCLE_SVC_INS_TRAITS_H
#define SOCLE_SVC_INS_TRAITS_H

#include <stddef.h>

#include "base/err.h"

#define INS_NAME_MAX_IN 100        /* longest birth name accepted, in bytes of UTF-8 */
#define INS_FIRST_NAMES_MAX_IN 250 /* longest first-name list accepted, in bytes of UTF-8 */

/* ins_normalize_name - the normalised form of a birth name (UTF-8, at most 100 bytes) into out
 * (size cap; the result never has more bytes than the input, so cap 101 always suffices).
 * 0, or SOCLE_EINVAL naming the rule (never the value) when it cannot be a name. */
int ins_normalize_name(const char *in, char *out, size_t cap, socle_err *err);
/* ins_normalize_first_names - the same for a list of first names separated by spaces (at most 250
 * bytes; cap 251 suffices); the result keeps one space between names, a compound name its hyphen. */
int ins_normalize_first_names(const char *in, char *out, size_t cap, socle_err *err);
/* ins_first_name_in_list - 1 when the normalised first name equals one of the names of the
 * normalised, space-separated list (whole names: "JEAN" is not in "JEAN-PIERRE"); else 0. */
int ins_first_name_in_list(const char *first, const char *list);
/* ins_first_names_all_in_list - 1 when each name of the normalised, space-separated `searched` is
 * one of the names of `list` (the INSi rule for searched first names); 1 for an empty search. */
int ins_first_names_all_in_list(const char *searched, const char *list);
/* ins_check_sex - 0 for "M" or "F" (lower case "m"/"f" accepted too: the caller upper-cases);
 * SOCLE_EINVAL otherwise (NULL included). */
int ins_check_sex(const char *s, socle_err *err);
/* ins_check_birth_date - "YYYY-MM-DD" with 00 for an unknown month or day (an unknown month
 * implies an unknown day); a real calendar date when complete; year 1850 to now; not in the
 * future (UTC). The parts (0 when unknown) into year, month, day (each may be NULL; set only on 0). */
int ins_check_birth_date(const char *s, int *year, int *month, int *day, socle_err *err);
/* ins_birth_dates_match - 1 when two birth dates ("YYYY-MM-DD") agree: same year, and month and
 * day equal wherever both are known (00 on either side matches anything); 0 otherwise or if malformed. */
int ins_birth_dates_match(const char *a, const char *b);
/* ins_check_birth_place - 0 for an INSEE COG code: 5 digits, or 2A/2B and 3 digits (Corsica), or
 * 99 and a 3-digit country code for people born abroad (99100, France itself, is refused). */
int ins_check_birth_place(const char *s, socle_err *err);

#endif
