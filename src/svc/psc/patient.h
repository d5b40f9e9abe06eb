/* patient.h - the patient realm of Pro Santé Connect (for Mon Espace Santé): accounts keyed by the
 * qualified INS, opt-out, activation, password (Argon2id) + TOTP login (see patient.c). */
#ifndef SOCLE_SVC_PSC_PATIENT_H
#define SOCLE_SVC_PSC_PATIENT_H

#include <jansson.h>
#include <stdint.h>

#include "base/arena.h"
#include "net/http.h"
#include "store/store.h"

/* psc_patient_migrate - the psc_patient table (owner "psc_patient"). */
int psc_patient_migrate(store *s, socle_err *err);
/* psc_patients_sync - open an account for every qualified identity of the repository that has none
 * and did not oppose; *created new accounts, *qualified identities seen. */
int psc_patients_sync(store *s, uint64_t *created, uint64_t *qualified, socle_err *err);
/* psc_patient_activation - a one-time activation code (30 days) for the account of ins, into code
 * (20 bytes); it resets the password and TOTP key. SOCLE_ENOTFOUND without an open account. */
int psc_patient_activation(store *s, const char *ins, char code[20], socle_err *err);
/* psc_patient_oppose - record the patient's opposition: the account is closed (secrets removed) and
 * sync never opens one again. patient_id may be NULL. */
int psc_patient_oppose(store *s, const char *ins, const char *patient_id, socle_err *err);

/* psc_patient_check - password and TOTP code of ins (both checked every time, and Argon2 runs even
 * without an account: the time tells nothing; a code step is good once); patient_id receives the
 * FHIR Patient id. SOCLE_EUNAUTHORIZED when either is wrong, or the account is not open or not
 * activated. */
int psc_patient_check(store_conn *c, const char *ins, const char *password, const char *otp, char patient_id[128],
                      socle_err *err);
/* psc_patient_lookup - the FHIR Patient id of the open account of ins; SOCLE_ENOTFOUND. */
int psc_patient_lookup(store_conn *c, const char *ins, char patient_id[128], socle_err *err);
/* psc_patient_claims - the identity claims (sub = ins, family_name, given_name, birthdate, gender)
 * of Patient/patient_id; the caller authorizes and audits the read. */
int psc_patient_claims(store_conn *c, const char *ins, const char *patient_id, arena *a, json_t **out, socle_err *err);

/* Routes: GET and POST /oidc/patient/activate. */
void psc_patient_activate_page_route(void *ctx, http_request *req, http_response *res);
void psc_patient_activate_route(void *ctx, http_request *req, http_response *res);

#endif
