/* generate.h - a synthetic INS reference base (`socle ins generate`), in the CSV format of
 * ../shared/spec/ins.md ("Reference-base file format"), for tests, demos and load runs.
 *
 * The data is clearly synthetic: every line carries the TEST identifier system
 * (INS_OID_NIR_TEST, 1.2.250.1.213.1.4.10), never a production OID. Choices made (see generate.c):
 * - Deterministic: own PRNG (xoshiro256** seeded by splitmix64); same (count, seed) -> same bytes.
 * - Birth dates 1900-01-01 .. 2025-12-31 (a fixed "today", so the output never depends on the
 *   clock), ages drawn from a French-like population pyramid (5-year bands).
 * - Matricule: sex digit, YY, MM, 5 birth-place characters, 3-digit order number, key
 *   (ins_matricule_key). Sex digit 1 = M, 2 = F; about 3 % are NIA-like provisional registrations
 *   of people born abroad, sex digit 7 = M, 8 = F. Matricules are unique within a file.
 * - Birth place (characters 6-10 of the matricule = lieu_naissance): metropolitan département +
 *   3-digit commune (Paris, Lyon, Marseille births in their arrondissements); Corsica "2A"/"2B" for
 *   births from 1976-01-01 and "20" before (the code in force at birth, as in the NIR); overseas
 *   971-976 + 2-digit commune (976 Mayotte only for births from 2012); abroad 99 + INSEE country
 *   code. About 1 % have an unknown birth place: matricule "99999" (born abroad, country unknown)
 *   and an empty lieu_naissance.
 * - Carte Vitale data: children under 16 carry a parent's matricule (usually a person of the
 *   file, else a valid matricule of nobody in it) and rank 1; ~70 % of adults are their own
 *   ouvrant droit (rank 1); the rest leave both columns empty.
 * - Deliberate twins (~0.5 % of lines: same birth date, place, family name and ouvrant droit,
 *   ranks 1 and 2) and exact homonym pairs (~0.2 %: same five traits, different matricules);
 *   the second of a pair comes a few lines after the first.
 * - ins_historique (the last column): about 1 % of the persons with a NIR (chosen by a hash of
 *   the matricule) had an earlier NIA, written "NIA:OID" (same birth month and place, sex digit
 *   7/8, the TEST OID as well); the column is empty for the others. */
#ifndef SOCLE_SVC_INS_GENERATE_H
#define SOCLE_SVC_INS_GENERATE_H

#include <stdint.h>
#include <stdio.h>

#include "base/err.h"

/* The CSV header line written first (without its newline). */
#define INS_GENERATE_HEADER \
    "matricule,oid,nom_naissance,prenoms,sexe,date_naissance,lieu_naissance,matricule_ouvrant_droit,rang_naissance," \
    "ins_historique"
/* The birth years covered; the last day generated is INS_GENERATE_LAST_YEAR-12-31. */
#define INS_GENERATE_FIRST_YEAR 1900
#define INS_GENERATE_LAST_YEAR 2025
/* The largest count ins_generate accepts (memory: about 1.5 bytes per line for uniqueness). */
#define INS_GENERATE_MAX_COUNT 1000000000ULL

/* ins_generate - write the header and `count` identities to out, deterministically for seed.
 * progress (may be NULL) is called every 65536 lines and at the end. Returns 0, SOCLE_EINVAL
 * (count too large), SOCLE_ENOMEM, or SOCLE_EIO when writing fails (out is not closed). */
int ins_generate(FILE *out, uint64_t count, uint64_t seed, void (*progress)(uint64_t done, void *ctx), void *ctx,
                 socle_err *err);

#endif
