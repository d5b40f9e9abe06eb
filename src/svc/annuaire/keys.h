/* keys.h - identifiers of the health directory (Annuaire Santé): RPPS, ADELI, FINESS, SIREN,
 * SIRET, and the national identifiers built from them, IDNPS (professionals) and IDNST
 * (structures). See ../shared/spec/identifiers.md ("Professionals and structures").
 *
 * Rules and how sure we are of them (public sources, checked with real published numbers):
 * - Luhn (mod 10, every second digit from the right doubled): SIREN and SIRET keys are Luhn
 *   (INSEE). La Poste is the known exception: all its establishments share SIREN 356000000
 *   and their SIRETs have a digit sum that is a multiple of 5; only the head office,
 *   35600000000048, passes Luhn. We accept either for SIREN 356000000.
 * - RPPS: 11 digits; every real RPPS we could find passes Luhn (10001045367, 10100224947, ...),
 *   but no normative text says so: ANNUAIRE_KEY_RPPS switches the check.
 * - FINESS: 9 characters, département (2 digits, 2A/2B for Corsica; overseas 97/98) + 7
 *   digits (the etalab XSD pattern is [0-9][0-9A-Z][0-9]{7}); real ones pass Luhn
 *   (010000024, 010780054) but this is *unverified* as a rule: ANNUAIRE_KEY_FINESS switches it
 *   (the importer can turn it off). How 2A/2B enter the key is unknown: the key of a Corsican
 *   FINESS is never checked.
 * - ADELI: 9 characters, département (2 characters) + profession code (2 digits, TRE_G15) +
 *   4-digit order number + 1 key digit. We verify the length and the characters (digits, or
 *   2A/2B at positions 1-2). The key looks like Luhn (the public examples 012600631 and
 *   759124159 pass) but this is a guess from two numbers: ANNUAIRE_KEY_ADELI, off by default.
 * - IDNPS = type + number: "8" + RPPS (12 characters) or "0" + ADELI (10 characters).
 * - IDNST = type + number: "1" FINESS, "2" SIREN, "3" SIRET, "4" RPPS cabinet, "0" ADELI
 *   cabinet. Cabinet numbers have no published format: we only require 1-30 letters or digits. */
#ifndef SOCLE_SVC_ANNUAIRE_KEYS_H
#define SOCLE_SVC_ANNUAIRE_KEYS_H

#include <stddef.h>

#include "base/err.h"

/* FHIR identifier systems (identifiers.md). */
#define ANNUAIRE_OID_IDNPS "1.2.250.1.71.4.2.1"
#define ANNUAIRE_OID_IDNST "1.2.250.1.71.4.2.2"
#define ANNUAIRE_SYSTEM_RPPS "https://rpps.esante.gouv.fr"
#define ANNUAIRE_SYSTEM_FINESS "https://finess.esante.gouv.fr"

/* Which unverified keys a check function verifies (bits of `flags`). */
#define ANNUAIRE_KEY_RPPS 0x1u   /* RPPS Luhn key */
#define ANNUAIRE_KEY_FINESS 0x2u /* FINESS Luhn key (non-Corsican numbers) */
#define ANNUAIRE_KEY_ADELI 0x4u  /* ADELI Luhn key (a guess, see above) */
#define ANNUAIRE_KEY_DEFAULT (ANNUAIRE_KEY_RPPS | ANNUAIRE_KEY_FINESS)

/* IDNPS type prefixes. */
enum { ANNUAIRE_PP_ADELI = 0, ANNUAIRE_PP_RPPS = 8 };
/* IDNST type prefixes. */
enum {
    ANNUAIRE_ST_ADELI_CABINET = 0,
    ANNUAIRE_ST_FINESS = 1,
    ANNUAIRE_ST_SIREN = 2,
    ANNUAIRE_ST_SIRET = 3,
    ANNUAIRE_ST_RPPS_CABINET = 4,
};

/* Longest IDNPS / IDNST number plus prefix and NUL. */
#define ANNUAIRE_ID_MAX 32

/* annuaire_luhn_key - the Luhn check digit (0-9) to append to the n digits at s; -1 when one of
 * them is not a digit. Can't fail otherwise. */
int annuaire_luhn_key(const char *s, size_t n);

/* annuaire_luhn_valid - 1 when the n digits at s (key included) pass Luhn, 0 when not, -1 when
 * one of them is not a digit. */
int annuaire_luhn_valid(const char *s, size_t n);

/* annuaire_rpps_check - 0 when s is 11 digits (with a right Luhn key when flags has
 * ANNUAIRE_KEY_RPPS); SOCLE_EINVAL otherwise, naming the rule. s may be NULL. */
int annuaire_rpps_check(const char *s, unsigned flags, socle_err *err);

/* annuaire_adeli_check - 0 when s is 9 characters of ADELI form (the key checked only with
 * ANNUAIRE_KEY_ADELI); SOCLE_EINVAL otherwise. s may be NULL. */
int annuaire_adeli_check(const char *s, unsigned flags, socle_err *err);

/* annuaire_finess_key - the Luhn key digit of the first 8 characters of a FINESS number; -1
 * when they are not 8 digits (Corsican numbers included: they have no known key rule). */
int annuaire_finess_key(const char *s);

/* annuaire_finess_check - 0 when s is 9 characters, digits or 2A/2B first (with a right Luhn
 * key for non-Corsican numbers when flags has ANNUAIRE_KEY_FINESS); SOCLE_EINVAL otherwise. */
int annuaire_finess_check(const char *s, unsigned flags, socle_err *err);

/* annuaire_siren_check - 0 when s is 9 digits passing Luhn (356000000, La Poste, does);
 * SOCLE_EINVAL otherwise. */
int annuaire_siren_check(const char *s, socle_err *err);

/* annuaire_siret_check - 0 when s is 14 digits whose SIREN passes Luhn and that pass Luhn, or,
 * for SIREN 356000000 (La Poste), whose digit sum is a multiple of 5; SOCLE_EINVAL otherwise. */
int annuaire_siret_check(const char *s, socle_err *err);

/* annuaire_idnps_build - write type prefix + number into out (size outsz) after checking the
 * number (RPPS or ADELI, per flags). 0, or SOCLE_EINVAL (bad type or number, out too small). */
int annuaire_idnps_build(char *out, size_t outsz, int type, const char *number, unsigned flags, socle_err *err);

/* annuaire_idnps_parse - split an IDNPS into its type and number (copied to number, size
 * numsz), checking the number per flags. 0 or SOCLE_EINVAL naming the rule. */
int annuaire_idnps_parse(const char *idnps, int *type, char *number, size_t numsz, unsigned flags, socle_err *err);

/* annuaire_idnst_build - write type prefix + number into out (size outsz) after checking the
 * number for its type (FINESS per flags, SIREN, SIRET, cabinet form). 0 or SOCLE_EINVAL. */
int annuaire_idnst_build(char *out, size_t outsz, int type, const char *number, unsigned flags, socle_err *err);

/* annuaire_idnst_parse - split an IDNST into its type and number (copied to number, size
 * numsz), checking the number for its type. 0 or SOCLE_EINVAL naming the rule. */
int annuaire_idnst_parse(const char *idnst, int *type, char *number, size_t numsz, unsigned flags, socle_err *err);

#endif
