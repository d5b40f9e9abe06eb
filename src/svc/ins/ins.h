/* ins.h - the INS service: the national identity reference base, the INSi teleservice over HTTP
 * with JSON, and the identity rules (RNIV) of the local identity repository.
 *
 * NAME
 *      ins - INS matricules, INSi search and verification, identity status of FHIR Patients.
 * SYNOPSIS
 *      ins_open() ins_register() ins_close() ins_outward_identifier() ins_duplicates()
 * DESCRIPTION
 *      POST /insi/v1/rechercher finds an identity by its five traits or by carte Vitale data and
 *      answers "00" (one identity, with the reference traits), "01" (none) or "02" (several, no
 *      data). POST /insi/v1/verifier checks a matricule against traits and names the traits that
 *      differ. Callers are professionals (bearer token, or a client certificate naming an IDNPS)
 *      or software (system token, or a client certificate naming an organisation or a client);
 *      patients may not call INSi. Every call is audited and counted per structure and user
 *      (ins_insi_usage, read by GET /insi/v1/usage for the admin and auditor roles).
 *      The reference traits are normalised (upper case, no diacritics; traits.h) before any
 *      comparison; partial birth dates (00 month or day) match any value of the unknown part.
 *      Patient writes go through the RNIV rules of identity.c (a broken rule is a 422).
 * CONFIGURATION
 *      insi_usage_flush_ms.
 * SEE ALSO
 *      ../shared/spec/ins.md, identifiers.md; reference.h, traits.h, matricule.h.
 */
#ifndef SOCLE_SVC_INS_INS_H
#define SOCLE_SVC_INS_INS_H

#include "rest/rest.h"

typedef struct ins_service ins_service;

/* ins_open - migrate the INS tables, add the INS policy rules and the Patient write rules. */
int ins_open(socle_app *app, ins_service **out, socle_err *err);
/* ins_register - add the /insi routes. */
int ins_register(ins_service *ins, http_router *router);
/* ins_close - flush the usage counters and free. ins may be NULL. */
void ins_close(ins_service *ins);

/* ins_outward_identifier - the identifier a service may send outside the structure for the
 * FHIR Patient `patient_id`: its INS (matricule and OID) when the identity is qualified; otherwise
 * SOCLE_EUNPROCESSABLE ("identity not qualified") and nothing may be sent but the traits. */
int ins_outward_identifier(store_conn *c, const char *patient_id, char matricule[16], char oid[64], socle_err *err);

/* One potential duplicate pair (vigilance.c): Patient ids (first < second), score 0-100, and the
 * criteria that matched ("nomNaissance,dateNaissance,..."). */
typedef struct ins_duplicate {
    char first[128], second[128];
    int score;
    char criteria[128];
} ins_duplicate;

/* ins_duplicates - the candidate pairs scoring at least min_score, best first (*out malloc'ed). */
int ins_duplicates(store_conn *c, int min_score, ins_duplicate **out, size_t *count, socle_err *err);

#endif
