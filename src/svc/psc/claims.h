/* claims.h - the Pro Santé Connect claims of a health professional, built from socle's directory
 * (the Practitioner, PractitionerRole and Organization resources that `socle annuaire import`
 * writes, see svc/annuaire/resources.h), for the OIDC provider's userinfo and ID token.
 *
 * Shape (as the real PSC userinfo gives it; what could not be confirmed is listed in claims.c):
 *   sub, preferred_username, SubjectNameID   the IDNPS
 *   given_name, family_name                  the name of practice
 *   email                                    the professional's MSSanté mailbox, only when one exists
 *   SubjectRefPro { codeCivilite, exercices: [ one per profession, sorted by profession code:
 *       { codeProfession, codeCategorieProfessionnelle, codeCiviliteDexercice, nomDexercice,
 *         prenomDexercice, codeTypeSavoirFaire, codeSavoirFaire,
 *         activities: [ one per active PractitionerRole of that profession, sorted by role id:
 *           { codeModeExercice, codeSecteurDactivite, codeSectionPharmacien, numeroSiretSite,
 *             numeroSirenSite, numeroFinessSite, numeroFinessetablissementJuridique,
 *             identifiantTechniqueDeLaStructure (the IDNST), raisonSocialeSite,
 *             enseigneCommercialeSite, codePostal, codeCommune, codePays, telephone, telephone2,
 *             telecopie, adresseEMail } ] } ] }
 *   SubjectOrganization, SubjectOrganizationID, Secteur_Activite ("SA07^1.2.250.1.71.4.2.4")
 *                                            of the first activity that has a structure
 *   SubjectRole                              ["10^1.2.250.1.213.1.1.5.5", ...], one per exercice
 *   otherIds                                 [{identifiant: IDNPS, origine: "RPPS"|"ADELI", qualite: 1}]
 * Like the real PSC, a field the directory carries but that is empty for this professional is "";
 * a field socle's directory never carries (codeRole, street parts, bureauCedex, ...) is left out.
 * Nothing here logs; error messages never contain identifiers. */
#ifndef SOCLE_SVC_PSC_CLAIMS_H
#define SOCLE_SVC_PSC_CLAIMS_H

#include <jansson.h>
#include <stddef.h>

#include "base/arena.h"
#include "base/err.h"
#include "store/store.h"

/* psc_claims_build - the userinfo claims of the professional idnps, read on c (the caller's
 * connection and transaction, if any) through the FHIR repository; store rows are copied into a.
 * On success *out is a new JSON object (the caller json_decref's it) and 0 is returned; the same
 * directory content always gives the same JSON (key order included).
 * Failures (*out left NULL): SOCLE_ENOTFOUND when idnps is not a valid id, or the Practitioner
 * never existed, is deleted, or is not active (psc_practitioner_active: a professional absent
 * from the directory cannot log in); SOCLE_EINTERNAL when a stored resource is not JSON; SOCLE_ENOMEM; the store's errors
 * (SOCLE_ESTORE, SOCLE_EBUSY...) as fhir_repo_read / fhir_search_run return them. */
int psc_claims_build(store_conn *c, const char *idnps, arena *a, json_t **out, socle_err *err);

/* psc_practitioner_active - 1 when the Practitioner resource says "active": true, else 0. FHIR
 * reads an absent active as unknown; logging in takes the stricter reading, not active. The one
 * rule of the login, the e-CPS enrolment and the claims (a login never ends in a token refusal). */
int psc_practitioner_active(const json_t *practitioner);

/* psc_claims_profession - the first exercice's codeProfession (for the access token's profession
 * claim) into out. 0; SOCLE_ENOTFOUND when claims has no exercice or its code is empty (out is
 * then ""); SOCLE_EINVAL when out (outsz bytes) is too small for it (out is then ""). */
int psc_claims_profession(const json_t *claims, char *out, size_t outsz);

/* psc_claims_structure - SubjectOrganizationID (the IDNST of the first activity's structure) into
 * out. 0; SOCLE_ENOTFOUND when claims has none or it is empty (out is then ""); SOCLE_EINVAL when
 * out (outsz bytes) is too small for it (out is then ""). */
int psc_claims_structure(const json_t *claims, char *out, size_t outsz);

#endif
