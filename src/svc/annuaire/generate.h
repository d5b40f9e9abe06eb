/* generate.h - synthetic health-directory extracts (`socle annuaire generate`) in the formats of
 * the public Annuaire Santé files (../shared/spec/annuaire-psc.md, "Directory"), for tests, demos
 * and load runs. Three files, all UTF-8:
 * - ANNUAIRE_GEN_PS_FILE: PS_LibreAcces_Personne_activite, pipe-separated, the 52-column header
 *   below, one line per (professional x activity), every line (header included) ending with `|`.
 *   Column names and order: the 52-column layout (up to "Libellé section tableau pharmaciens")
 *   as written in public parsers' tests of the real file; newer extracts append "Code rôle",
 *   "Libellé rôle", "Code genre activité", "Libellé genre activité" (not generated).
 * - ANNUAIRE_GEN_MSS_FILE: Extraction_Correspondance_MSSante, pipe-separated, the 31-column header
 *   below (names as read by several public parsers of the real file, "NL4TYPEVOIE" included),
 *   every line ending with `|`. PER mailboxes for ~80 % of professionals, ORG mailboxes for
 *   hospital services, labs and health centres, a few APP mailboxes for labs. All mailboxes are
 *   unique and under the fake domain ANNUAIRE_GEN_MSS_DOMAIN.
 * - ANNUAIRE_GEN_FINESS_FILE: the FINESS open-data extract in the etalab "cs1100507" layout
 *   (`structureet` lines, `;`-separated, 32 fields: the section marker then nofinesset ... numuai),
 *   with a header line of those column names (the real file starts with a "finess;etalab;..."
 *   banner instead, and is Windows-1252; ours is UTF-8 so that the importer can detect the header).
 *   Only establishments with a FINESS number are listed (hospital sites, clinics, labs, pharmacies,
 *   health centres), each with its legal entity's FINESS (nofinessej) and a SIRET.
 *
 * Deterministic: own PRNG (xoshiro256** seeded by splitmix64); same (count, seed) -> same bytes;
 * the date in the file names is fixed (ANNUAIRE_GEN_STAMP), never the clock. Every RPPS, SIRET and
 * non-Corsican FINESS has a valid Luhn key (svc/annuaire/keys.h); ADELI numbers are département +
 * profession + order number + a Luhn key. Names are synthetic (built from syllables), addresses
 * use real communes (COG code, postal code) with synthetic streets and numbers. */
#ifndef SOCLE_SVC_ANNUAIRE_GENERATE_H
#define SOCLE_SVC_ANNUAIRE_GENERATE_H

#include <stdint.h>
#include <stdio.h>

#include "base/err.h"

/* The fixed extraction date (YYYYMMDDhhmm) used in the file names. */
#define ANNUAIRE_GEN_STAMP "202506010000"
#define ANNUAIRE_GEN_PS_FILE "PS_LibreAcces_Personne_activite_" ANNUAIRE_GEN_STAMP ".txt"
#define ANNUAIRE_GEN_MSS_FILE "Extraction_Correspondance_MSSante_" ANNUAIRE_GEN_STAMP ".txt"
#define ANNUAIRE_GEN_FINESS_FILE "etalab-cs1100507-stock-20250601-0000.csv"
/* Every mailbox is <local>@<sub>.ANNUAIRE_GEN_MSS_DOMAIN. */
#define ANNUAIRE_GEN_MSS_DOMAIN "demo.mssante.example"
/* The largest count accepted (professionals). */
#define ANNUAIRE_GEN_MAX_COUNT 20000000ULL

/* Column counts and header lines (without the newline; the two pipe files end with `|`). */
#define ANNUAIRE_PS_COLUMNS 52
#define ANNUAIRE_MSS_COLUMNS 31
#define ANNUAIRE_FINESS_COLUMNS 32
#define ANNUAIRE_PS_HEADER                                                                                            \
    "Type d'identifiant PP|Identifiant PP|Identification nationale PP|Code civilité d'exercice|"                      \
    "Libellé civilité d'exercice|Code civilité|Libellé civilité|Nom d'exercice|Prénom d'exercice|Code profession|"    \
    "Libellé profession|Code catégorie professionnelle|Libellé catégorie professionnelle|Code type savoir-faire|"     \
    "Libellé type savoir-faire|Code savoir-faire|Libellé savoir-faire|Code mode exercice|Libellé mode exercice|"      \
    "Numéro SIRET site|Numéro SIREN site|Numéro FINESS site|Numéro FINESS établissement juridique|"                   \
    "Identifiant technique de la structure|Raison sociale site|Enseigne commerciale site|"                            \
    "Complément destinataire (coord. structure)|Complément point géographique (coord. structure)|"                   \
    "Numéro Voie (coord. structure)|Indice répétition voie (coord. structure)|Code type de voie (coord. structure)|" \
    "Libellé type de voie (coord. structure)|Libellé Voie (coord. structure)|Mention distribution (coord. structure)|" \
    "Bureau cedex (coord. structure)|Code postal (coord. structure)|Code commune (coord. structure)|"                 \
    "Libellé commune (coord. structure)|Code pays (coord. structure)|Libellé pays (coord. structure)|"               \
    "Téléphone (coord. structure)|Téléphone 2 (coord. structure)|Télécopie (coord. structure)|"                      \
    "Adresse e-mail (coord. structure)|Code Département (structure)|Libellé Département (structure)|"                \
    "Ancien identifiant de la structure|Autorité d'enregistrement|Code secteur d'activité|"                          \
    "Libellé secteur d'activité|Code section tableau pharmaciens|Libellé section tableau pharmaciens|"
#define ANNUAIRE_MSS_HEADER                                                                                           \
    "Type de BAL|Adresse BAL|Type Identifiant PP|Identifiant PP|Identification nationale PP|"                         \
    "Type identifiant structure|Identification Structure|Service de rattachement|Civilité d'exercice|"               \
    "Nom d'exercice|Prénom d'exercice|Catégorie profession|Libellé de catégorie profession|Code Profession|"         \
    "Libellé Profession|Code savoir-faire|Libellé savoir-faire|Dématérialisation|Raison Sociale structure BAL|"      \
    "Enseigne commerciale structure BAL|L2COMPLEMENTLOCALISATION structure BAL|"                                     \
    "L3COMPLEMENTDISTRIBUTION structure BAL|L4NUMEROVOIE structure BAL|L4COMPLEMENTNUMEROVOIE structure BAL|"       \
    "NL4TYPEVOIE structure BAL|L4LIBELLEVOIE structure BAL|L5LIEUDITMENTION structure BAL|"                          \
    "L6LIGNEACHEMINEMENT structure BAL|Code postal structure BAL|Département structure BAL|Pays structure BAL|"
#define ANNUAIRE_FINESS_HEADER                                                                                        \
    "section;nofinesset;nofinessej;rs;rslongue;complrs;compldistrib;numvoie;typvoie;voie;compvoie;lieuditbp;"        \
    "commune;departement;libdepartement;ligneacheminement;telephone;telecopie;categetab;libcategetab;categagretab;"  \
    "libcategagretab;siret;codeape;codemft;libmft;codesph;libsph;dateouv;dateautor;datemaj;numuai"

/* What was written (for the caller's report). */
typedef struct annuaire_gen_stats {
    uint64_t professionals, activity_lines, mailboxes, structures;
} annuaire_gen_stats;

/* annuaire_generate_streams - write the three extracts for `count` professionals to ps, mss and
 * finess (not closed), deterministically for seed. progress (may be NULL) is called every 65536
 * professionals and at the end; stats may be NULL. 0, SOCLE_EINVAL (count 0 or too large),
 * SOCLE_ENOMEM or SOCLE_EIO. */
int annuaire_generate_streams(FILE *ps, FILE *mss, FILE *finess, uint64_t count, uint64_t seed,
                              void (*progress)(uint64_t done, void *ctx), void *ctx, annuaire_gen_stats *stats,
                              socle_err *err);

/* annuaire_generate - the same into directory dir (which must exist), under the ANNUAIRE_GEN_*_FILE
 * names, each written to NAME.tmp then renamed; nothing is left behind on failure. */
int annuaire_generate(const char *dir, uint64_t count, uint64_t seed, void (*progress)(uint64_t done, void *ctx),
                      void *ctx, annuaire_gen_stats *stats, socle_err *err);

#endif
