/* resources.h - FHIR resources of the health directory built from extract lines (extract.h), as
 * the ANS Annuaire guide and FR Core shape them (../shared/conformance/annuaire has examples):
 * - Practitioner, id = IDNPS: identifiers IDNPS (urn:oid:1.2.250.1.71.4.2.1) and RPPS; the name of
 *   practice (prefix = civilité, suffix = civilité d'exercice); qualification = each profession
 *   (TRE_G15 + catégorie TRE_R09) and each savoir-faire; telecom = the PER MSSanté mailboxes.
 * - PractitionerRole, id = IDNPS "-" structure id "-" profession code (stable across extracts):
 *   the practitioner and organization references, the name of practice (ANS extension
 *   as-ext-practitionerrole-name), code = profession, catégorie, mode d'exercice (TRE_R23) and
 *   pharmacists' section; specialty = savoir-faire and its type (TRE_R04); telecom = the PER
 *   mailboxes declared at that structure.
 * - Organization, id = IDNST (1 + FINESS, 3 + SIRET, 4 + a cabinet's technical id): identifiers
 *   IDNST, FINEG or FINEJ, SIRET; type = entity kind (fr-core-cs-v2-3307) and, when known,
 *   secteur d'activité (TRE_R02) and FINESS category (TRE_R66); name, alias, telecom (phones and
 *   ORG/APP/CAB mailboxes), address with the INSEE commune code, partOf = the legal entity.
 * MSSanté mailboxes are ContactPoints of system email with the fr-core email-type extension
 * (MSSANTE) and the ANS as-ext-mailbox-mss-metadata extension (type, service).
 * Every function returns a new json_t (NULL only when out of memory). */
#ifndef SOCLE_SVC_ANNUAIRE_RESOURCES_H
#define SOCLE_SVC_ANNUAIRE_RESOURCES_H

#include <jansson.h>
#include <stddef.h>

#include "svc/annuaire/extract.h"

/* Code systems and profiles of the directory's resources (ANS nomenclatures, FR Core, ANS Annuaire). */
#define ANNUAIRE_NOS "https://mos.esante.gouv.fr/NOS/"
#define ANNUAIRE_SYSTEM_PROFESSION ANNUAIRE_NOS "TRE_G15-ProfessionSante/FHIR/TRE-G15-ProfessionSante"
#define ANNUAIRE_SYSTEM_CATEGORY ANNUAIRE_NOS "TRE_R09-CategorieProfessionnelle/FHIR/TRE-R09-CategorieProfessionnelle"
#define ANNUAIRE_SYSTEM_MODE ANNUAIRE_NOS "TRE_R23-ModeExercice/FHIR/TRE-R23-ModeExercice"
#define ANNUAIRE_SYSTEM_SECTION ANNUAIRE_NOS "TRE_R06-SectionTableauCNOP/FHIR/TRE-R06-SectionTableauCNOP"
#define ANNUAIRE_SYSTEM_SKILL_TYPE ANNUAIRE_NOS "TRE_R04-TypeSavoirFaire/FHIR/TRE-R04-TypeSavoirFaire"
#define ANNUAIRE_SYSTEM_SECTOR ANNUAIRE_NOS "TRE_R02-SecteurActivite/FHIR/TRE-R02-SecteurActivite"
#define ANNUAIRE_CORE_SD "https://hl7.fr/ig/fhir/core/StructureDefinition/"
#define ANNUAIRE_ANS_SD "https://interop.esante.gouv.fr/ig/fhir/annuaire/StructureDefinition/"

/* Longest resource id built here, NUL included (FHIR ids are at most 64 characters). */
#define ANNUAIRE_RESOURCE_ID_MAX 65

/* annuaire_structure_id - the IDNST (the Organization id) of a structure known by its FINESS
 * site number, SIRET or technical id (any may be ""), in this order of preference. A technical
 * id "F"+FINESS or "C"/"S"+SIRET gives the same IDNST as the number itself, "R"+n gives "4"+n, an
 * IDNST (first character a digit) stays as it is. 0, or -1 when there is nothing usable. */
int annuaire_structure_id(const char *finess, const char *siret, const char *technical_id, char *out, size_t outsz);

/* annuaire_practitioner - the Practitioner of a PS line (identity fields only). */
json_t *annuaire_practitioner(const annuaire_record *ps);
/* annuaire_practitioner_add_activity - add the profession and savoir-faire of a PS line to
 * Practitioner.qualification unless already there. 0 or SOCLE_ENOMEM. */
int annuaire_practitioner_add_activity(json_t *practitioner, const annuaire_record *ps);

/* annuaire_role_id - the PractitionerRole id of a PS line whose structure is structure_id ("" when
 * none) into out (ANNUAIRE_RESOURCE_ID_MAX). */
void annuaire_role_id(const annuaire_record *ps, const char *structure_id, char *out);
/* annuaire_role - the PractitionerRole of a PS line (id from annuaire_role_id). */
json_t *annuaire_role(const annuaire_record *ps, const char *id, const char *structure_id);
/* annuaire_role_add_specialty - add the savoir-faire of another line of the same role. 0 or SOCLE_ENOMEM. */
int annuaire_role_add_specialty(json_t *role, const annuaire_record *ps);

/* annuaire_organization_from_ps - the Organization of a PS line's structure, id structure_id. */
json_t *annuaire_organization_from_ps(const annuaire_record *ps, const char *structure_id);
/* annuaire_organization_from_finess - the Organization (geographical entity) of a FINESS line. */
json_t *annuaire_organization_from_finess(const annuaire_record *fin, const char *structure_id);
/* annuaire_legal_entity - the Organization of a legal entity known only by its FINESS number. */
json_t *annuaire_legal_entity(const char *finess_ej, const char *structure_id);

/* annuaire_add_mailbox - append an MSSanté mailbox (type PER, ORG, APP or CAB; service may be "")
 * to resource.telecom. 0 or SOCLE_ENOMEM. */
int annuaire_add_mailbox(json_t *resource, const char *type, const char *address, const char *service);

#endif
