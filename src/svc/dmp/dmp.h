/* dmp.h - the DMP (Dossier Médical Partagé): document sharing over FHIR as the ANS PDSm guide
 * profiles IHE MHD, CDA header checks, the patient's record and controls, the access rules of
 * dmp.md enforced by the policy engine, and the traces.
 *
 * NAME
 *      dmp - ITI-65 provide, ITI-66/67 find, ITI-68 retrieve, patient controls, access modes.
 * SYNOPSIS
 *      dmp_open() dmp_register() dmp_close()
 * DESCRIPTION
 *      POST /fhir with a provide-document Bundle (a transaction holding a SubmissionSet List)
 *      feeds documents all or nothing: metadata present and coded from the CI-SIS value sets
 *      (codes.h), attachment size and SHA-1 hash checked (dmp_check_hash), CDA header parsed and
 *      cross-checked (cda.h), the patient's identity qualified (ins.h), the record open.
 *      The DMP serves DocumentReference, List and Binary to professionals and patients itself
 *      (software with a system token keeps the generic interactions): every search and read is
 *      filtered document by document through the policy engine's "dmp-access" rule (access.h),
 *      so a search never reveals a hidden document, nor its count. Patient controls and emergency
 *      accesses are FHIR operations on Patient and DocumentReference (controls.c). A patient
 *      searches AuditEvent for the accesses to their own record.
 * CONFIGURATION
 *      dmp_check_hash, dmp_max_document_bytes, dmp_emergency_minutes, dmp_matrix_file.
 * SEE ALSO
 *      ../shared/spec/dmp.md; data/dmp/ (value sets, matrice d'habilitation).
 */
#ifndef SOCLE_SVC_DMP_DMP_H
#define SOCLE_SVC_DMP_DMP_H

#include "rest/rest.h"

typedef struct dmp_service dmp_service;

/* dmp_open - migrate the DMP tables, load the value sets and the matrix, add the policy rule and
 * the type and bundle handlers. */
int dmp_open(socle_app *app, dmp_service **out, socle_err *err);
/* dmp_register - add the routes of the patient controls and access modes. */
int dmp_register(dmp_service *svc, http_router *router);
/* dmp_close - free. svc may be NULL. */
void dmp_close(dmp_service *svc);

#endif
