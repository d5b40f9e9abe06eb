/* extract.h - reading the public directory extracts line by line (`socle annuaire import`).
 *
 * Three formats (../shared/spec/annuaire-psc.md, "Directory"; generate.h writes all three):
 * - PS_LibreAcces_Personne_activite: '|'-separated, a header line, each line ending with '|'.
 * - Extraction_Correspondance_MSSante: the same conventions.
 * - FINESS (etalab "cs1100507"): ';'-separated `structureet` lines. Either with a header line of the
 *   field names (as `socle annuaire generate` writes it), or as etalab publishes it: a first
 *   "finess;etalab;..." banner line, no header, the fixed field order, Windows-1252 text (converted
 *   to UTF-8 here) and other sections (`geolocalisation`) that are skipped.
 * The kind of a file is found from its first line, not its name. Columns are mapped by header name
 * (compared case- and accent-insensitively, without a trailing "(...)" qualifier), so that column
 * order and extra columns do not matter; a header that lacks a required column is refused.
 *
 * A record's fields are indexed by the annuaire_*_field enums below; a column the file does not
 * have reads as "". Lines with another number of fields than the header, or that are not UTF-8,
 * are returned as rejected with the reason. */
#ifndef SOCLE_SVC_ANNUAIRE_EXTRACT_H
#define SOCLE_SVC_ANNUAIRE_EXTRACT_H

#include <stdint.h>
#include <stdio.h>

#include "base/err.h"

typedef enum { ANNUAIRE_EXTRACT_PS = 1, ANNUAIRE_EXTRACT_MSS, ANNUAIRE_EXTRACT_FINESS } annuaire_extract_kind;

/* Fields of the PS_LibreAcces personne/activité file. */
typedef enum {
    PS_ID_TYPE, PS_ID, PS_IDNPS, PS_CIVEX_CODE, PS_CIV_CODE, PS_FAMILY, PS_GIVEN, PS_PROF_CODE, PS_PROF_LABEL,
    PS_CAT_CODE, PS_SF_TYPE_CODE, PS_SF_CODE, PS_SF_LABEL, PS_MODE_CODE, PS_SIRET, PS_SIREN, PS_FINESS,
    PS_FINESS_EJ, PS_STRUCT_ID, PS_NAME, PS_ENSEIGNE, PS_COMPL_DEST, PS_COMPL_GEO, PS_NUM_VOIE, PS_INDICE,
    PS_TYPE_VOIE, PS_TYPE_VOIE_LABEL, PS_VOIE, PS_MENTION, PS_CEDEX, PS_POSTAL_CODE, PS_COMMUNE_CODE, PS_COMMUNE, PS_COUNTRY_CODE,
    PS_PHONE, PS_PHONE2, PS_FAX, PS_EMAIL, PS_DEPT_CODE, PS_OLD_STRUCT_ID, PS_AUTHORITY, PS_SECTOR_CODE,
    PS_SECTOR_LABEL, PS_SECTION_CODE, PS_NFIELDS
} annuaire_ps_field;

/* Fields of the MSSanté mailbox extraction. */
typedef enum {
    MSS_TYPE, MSS_ADDRESS, MSS_PP_ID_TYPE, MSS_PP_ID, MSS_IDNPS, MSS_STRUCT_ID_TYPE, MSS_STRUCT_ID, MSS_SERVICE,
    MSS_DEMAT, MSS_NFIELDS
} annuaire_mss_field;

/* Fields of the FINESS establishment file. */
typedef enum {
    FIN_SECTION, FIN_FINESS, FIN_FINESS_EJ, FIN_NAME, FIN_LONG_NAME, FIN_COMPL_NAME, FIN_COMPL_DIST, FIN_NUM_VOIE,
    FIN_TYPE_VOIE, FIN_VOIE, FIN_COMP_VOIE, FIN_LIEU_DIT, FIN_COMMUNE, FIN_DEPT, FIN_DEPT_LABEL, FIN_ACHEMINEMENT,
    FIN_PHONE, FIN_FAX, FIN_CATEGORY, FIN_CATEGORY_LABEL, FIN_AGR_CATEGORY, FIN_AGR_CATEGORY_LABEL, FIN_SIRET,
    FIN_APE, FIN_NFIELDS
} annuaire_finess_field;

#define ANNUAIRE_EXTRACT_MAX_FIELDS 64

typedef struct annuaire_extract annuaire_extract;

/* One line: fields by enum (never NULL; "" when absent or empty), its number in the file. */
typedef struct annuaire_record {
    const char *f[ANNUAIRE_EXTRACT_MAX_FIELDS];
    uint64_t lineno;
} annuaire_record;

/* annuaire_extract_open - read the first line of in and find the file's kind and column map.
 * SOCLE_EINVAL naming the problem (empty file, unknown header, missing required columns, listed),
 * SOCLE_ENOMEM. in stays the caller's. */
int annuaire_extract_open(FILE *in, annuaire_extract **out, socle_err *err);
/* annuaire_extract_kind_of - the file's kind. */
annuaire_extract_kind annuaire_extract_kind_of(const annuaire_extract *x);
/* annuaire_extract_kind_name - "PS_LibreAcces", "MSSanté", "FINESS". */
const char *annuaire_extract_kind_name(annuaire_extract_kind kind);
/* annuaire_extract_next - the next data line into rec (its strings valid until the next call):
 * 1 when a record is there, 0 at the end of the file, SOCLE_EUNPROCESSABLE for a line rejected as
 * a whole (why says why, rec->lineno which line; reading may go on), SOCLE_EIO or SOCLE_ENOMEM
 * (stop). Blank lines and the sections that are not data are skipped. */
int annuaire_extract_next(annuaire_extract *x, annuaire_record *rec, socle_err *why);
/* annuaire_extract_bytes - bytes read so far (for a progress share). */
uint64_t annuaire_extract_bytes(const annuaire_extract *x);
/* annuaire_extract_close - free (the FILE stays open). x may be NULL. */
void annuaire_extract_close(annuaire_extract *x);

#endif
