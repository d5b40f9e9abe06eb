/* codes.h - the coded metadata of the DMP (XDS/MHD metadata as the ANS CI-SIS value sets define
 * them): which codes each metadata element accepts, loaded from data/dmp/valuesets.csv (embedded
 * in the program at build time, see data.c).
 *
 * Membership is by code within a value set; the code's system must be given but several spellings
 * of one system are accepted (the OID as urn:oid:, and its FHIR canonical URL), listed per code in
 * the CSV. */
#ifndef SOCLE_SVC_DMP_CODES_H
#define SOCLE_SVC_DMP_CODES_H

#include <stddef.h>
#include "base/err.h"

typedef enum {
    DMP_VS_TYPE = 0,         /* J07 XdsTypeCode: DocumentReference.type */
    DMP_VS_CLASS,            /* J06 XdsClassCode (TRE_A03): DocumentReference.category */
    DMP_VS_CONFIDENTIALITY,  /* J08 XdsConfidentialityCode: DocumentReference.securityLabel */
    DMP_VS_FACILITY,         /* J02 XdsHealthcareFacilityTypeCode: context.facilityType */
    DMP_VS_PRACTICE_SETTING, /* J04 XdsPracticeSettingCode: context.practiceSetting */
    DMP_VS_FORMAT,           /* J10 XdsFormatCode: content.format */
    DMP_VS_COUNT
} dmp_value_set;

typedef struct dmp_codes dmp_codes;

/* dmp_codes_load - parse the CSV text (see data/dmp/README.md for its columns). SOCLE_EINVAL names
 * the bad line. */
int dmp_codes_load(const char *csv, size_t len, dmp_codes **out, socle_err *err);
void dmp_codes_free(dmp_codes *c);
/* dmp_codes_has - 1 when `code` is in the value set and `system` is one of that code's systems
 * (system NULL: any system). */
int dmp_codes_has(const dmp_codes *c, dmp_value_set vs, const char *system, const char *code);
/* dmp_codes_display - the display text of a code of the value set, or NULL. */
const char *dmp_codes_display(const dmp_codes *c, dmp_value_set vs, const char *code);
/* dmp_value_set_name - "J07 type", "J06 class"...: for error messages. */
const char *dmp_value_set_name(dmp_value_set vs);

#endif
