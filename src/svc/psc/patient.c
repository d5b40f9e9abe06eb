/* patient.c - the patient realm of the provider (for Mon Espace Santé): accounts keyed by the
 * qualified INS, created for every qualified identity of the repository unless the patient opposed
 * (`socle psc patients sync`, opt-out with `socle psc patient oppose`), activated with a one-time
 * code (the stand-in for the letter: `socle psc patient activate`) where the patient chooses a
 * password (Argon2id) and receives a TOTP key. Login = password + TOTP code, on the login page of
 * the clients registered with the patient realm. The access token is a foundation token of kind
 * patient (sub = INS matricule); userinfo gives the identity of the FHIR Patient, read under the
 * policy engine and audited. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/ids.h"
#include "auth/auth.h"
#include "crypto/crypto.h"
#include "crypto/password.h"
#include "crypto/totp.h"
#include "fhir/repo.h"
#include "svc/ins/ins.h"
#include "svc/psc/patient.h"
#include "svc/psc/psc_internal.h"

#define PATIENT_ACTIVATION_S (30 * 24 * 3600)

static const store_migration patient_steps[] = {
    {1, "Pro Santé Connect patient accounts (keyed by the qualified INS)",
     "CREATE TABLE psc_patient (ins TEXT PRIMARY KEY, patient_id TEXT NOT NULL, password_hash TEXT,"
     " totp_secret TEXT, last_step BIGINT NOT NULL, activation_hash TEXT, activation_expires BIGINT NOT NULL,"
     " opposed INTEGER NOT NULL, created BIGINT NOT NULL);"
     "CREATE INDEX psc_patient_patient ON psc_patient (patient_id);",
     NULL, NULL},
};

int psc_patient_migrate(store *s, socle_err *err)
{
    return store_migrate(s, "psc_patient", patient_steps, 1, err);
}

/* ---- operator commands ----------------------------------------------------------------------- */

typedef struct id_list {
    arena *a;
    const char **ids;
    size_t n, cap;
} id_list;

static int collect_id(void *ctx, const char *id, const char *body, size_t len)
{
    id_list *l = ctx;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 1024;
        const char **ids = realloc(l->ids, cap * sizeof *ids);
        if (!ids) return SOCLE_ENOMEM;
        l->ids = ids;
        l->cap = cap;
    }
    return (l->ids[l->n++] = arena_strdup(l->a, id)) ? 0 : SOCLE_ENOMEM;
}

int psc_patients_sync(store *s, uint64_t *created, uint64_t *qualified, socle_err *err)
{
    *created = *qualified = 0;
    store_conn *c = NULL;
    id_list l = {.a = arena_new(1 << 16)};
    int rc = l.a ? store_acquire(s, &c, err) : socle_err_set(err, SOCLE_ENOMEM, "out of memory");
    if (!rc) rc = fhir_repo_each(c, "Patient", collect_id, &l, err);
    for (size_t i = 0; !rc && i < l.n; i++) {
        char matricule[16], oid[64];
        socle_err e;
        if (ins_outward_identifier(c, l.ids[i], matricule, oid, &e)) continue; /* not qualified */
        (*qualified)++;
        /* An account exists once: an opposed patient keeps the row that records the opposition. */
        int64_t changed = 0;
        store_value p[3] = {STORE_V_TEXT(matricule), STORE_V_TEXT(l.ids[i]), STORE_V_INT((int64_t)time(NULL))};
        rc = store_exec(c,
                        "INSERT INTO psc_patient (ins, patient_id, password_hash, totp_secret, last_step, activation_hash,"
                        " activation_expires, opposed, created) VALUES ($1, $2, NULL, NULL, -1, NULL, 0, 0, $3)"
                        " ON CONFLICT (ins) DO NOTHING",
                        p, 3, &changed, err);
        if (!rc) *created += (uint64_t)changed;
    }
    if (c) store_release(s, c);
    free(l.ids);
    arena_free(l.a);
    return rc;
}

int psc_patient_activation(store *s, const char *ins, char code[20], socle_err *err)
{
    char fresh[20], hash[65];
    code[0] = 0;
    psc_activation_code_new(fresh, hash);
    store_conn *c = NULL;
    int rc = store_acquire(s, &c, err);
    if (rc) return rc;
    int64_t changed = 0;
    store_value p[3] = {STORE_V_TEXT(hash), STORE_V_INT((int64_t)time(NULL) + PATIENT_ACTIVATION_S), STORE_V_TEXT(ins)};
    rc = store_exec(c,
                    "UPDATE psc_patient SET activation_hash = $1, activation_expires = $2, password_hash = NULL,"
                    " totp_secret = NULL, last_step = -1 WHERE ins = $3 AND opposed = 0",
                    p, 3, &changed, err);
    store_release(s, c);
    if (!rc && changed != 1) return socle_err_set(err, SOCLE_ENOTFOUND, "no open account for this INS (not qualified, or opposed)");
    if (!rc) memcpy(code, fresh, 20);
    return rc;
}

int psc_patient_oppose(store *s, const char *ins, const char *patient_id, socle_err *err)
{
    store_conn *c = NULL;
    int rc = store_acquire(s, &c, err);
    if (rc) return rc;
    /* The opposition is kept even for an INS without an account yet, so that sync never opens one. */
    store_value p[3] = {STORE_V_TEXT(ins), STORE_V_TEXT(patient_id ? patient_id : ""), STORE_V_INT((int64_t)time(NULL))};
    rc = store_exec(c,
                    "INSERT INTO psc_patient (ins, patient_id, password_hash, totp_secret, last_step, activation_hash,"
                    " activation_expires, opposed, created) VALUES ($1, $2, NULL, NULL, -1, NULL, 0, 1, $3)"
                    " ON CONFLICT (ins) DO UPDATE SET opposed = 1, password_hash = NULL, totp_secret = NULL,"
                    " activation_hash = NULL",
                    p, 3, NULL, err);
    store_release(s, c);
    return rc;
}

/* ---- activation page ------------------------------------------------------------------------- */

static const char *ACTIVATION_FORM =
    "<form method=\"post\" action=\"/oidc/patient/activate\">"
    "<label>Matricule INS <input name=\"ins\" inputmode=\"numeric\" autocomplete=\"username\" required></label>"
    "<label>Code d'activation <input name=\"activation_code\" autocomplete=\"off\" required></label>"
    "<label>Mot de passe (12 caractères au moins) <input type=\"password\" name=\"password\" "
    "autocomplete=\"new-password\" required></label>"
    "<button type=\"submit\">Activer mon compte</button></form>";

void psc_patient_activate_page_route(void *ctx, http_request *req, http_response *res)
{
    psc_html_page(req, res, 200, "Activer mon compte", ACTIVATION_FORM);
}

/* The open account an activation code names ($1 INS, $2 hash of the code, $3 now). */
#define ACTIVATION_MATCH " WHERE ins = $1 AND activation_hash = $2 AND activation_expires > $3 AND opposed = 0"

static void activation_error(http_request *req, http_response *res, int status, const char *msg)
{
    psc_html_page(req, res, status, "Activer mon compte",
                  arena_printf(req->arena, "<p class=\"error\">%s</p>%s", psc_html_escape(req->arena, msg), ACTIVATION_FORM));
}

void psc_patient_activate_route(void *ctx, http_request *req, http_response *res)
{
    psc_service *svc = ctx;
    http_param *f;
    int n;
    socle_err err;
    if (psc_form(req, &f, &n, &err)) {
        activation_error(req, res, 400, err.msg);
        return;
    }
    const char *ins = psc_param(f, n, "ins"), *password = psc_param(f, n, "password");
    const char *typed = psc_param(f, n, "activation_code");
    if (!ins || !password || !typed) {
        activation_error(req, res, 400, "INS, activation code and password are required");
        return;
    }
    char hash[65], phash[CRYPTO_PASSWORD_HASH_MAX] = "", b32[40] = "", throttle_key[64];
    uint8_t key[20];
    psc_activation_code_hash(typed, hash);
    snprintf(throttle_key, sizeof throttle_key, "patient-activation:%.20s", ins);
    int64_t retry = 0, found = 0, changed = 0;
    store_value p[5] = {STORE_V_TEXT(ins), STORE_V_TEXT(hash), STORE_V_INT((int64_t)time(NULL)), STORE_V_TEXT(phash),
                        STORE_V_TEXT(b32)};
    store_conn *c = NULL;
    int rc = store_acquire(svc->app->store, &c, &err);
    /* The lockout first, then the code: a locked INS or a wrong code costs no Argon2 hashing. */
    if (!rc) rc = psc_throttle_check(c, throttle_key, &retry, &err);
    if (!rc) rc = store_query_int(c, "SELECT 1 FROM psc_patient" ACTIVATION_MATCH, p, 3, &found, &err);
    if (!rc) rc = crypto_password_hash(password, phash, &err);
    if (!rc) {
        /* Spend the code and set the password and TOTP key in one statement: it works once. */
        crypto_totp_secret_new(key, sizeof key, b32, sizeof b32);
        memset(key, 0, sizeof key);
        rc = store_exec(c,
                        "UPDATE psc_patient SET password_hash = $4, totp_secret = $5, last_step = -1,"
                        " activation_hash = NULL" ACTIVATION_MATCH,
                        p, 5, &changed, &err);
        if (!rc && changed != 1) rc = SOCLE_ENOTFOUND; /* spent meanwhile by an attempt alongside */
    }
    /* A wrong code is counted, or refused as locked when an attempt alongside locked the key. */
    if (rc == SOCLE_ENOTFOUND)
        rc = psc_throttle_fail(c, throttle_key, svc->max_failures, svc->quiet_s, &retry, &err) == SOCLE_EBUSY
                 ? SOCLE_EBUSY
                 : socle_err_set(&err, SOCLE_EUNAUTHORIZED, "unknown, used or expired activation code");
    if (c) store_release(svc->app->store, c);
    if (rc) {
        psc_audit(svc, req, "patient-activate", "failure", NULL, NULL, rc == SOCLE_EBUSY ? "locked" : "refused");
        int status = rc == SOCLE_EBUSY ? 429 : rc == SOCLE_EINVAL ? 400 : rc == SOCLE_EUNAUTHORIZED ? 401 : 500;
        activation_error(req, res, status, status == 500 ? "cannot activate the account now" : err.msg);
        return;
    }
    audit_event e = {.action = "patient-activate", .outcome = "success", .agent_kind = "patient", .agent_id = ins,
                     .address = req->remote_addr, .request_id = req->request_id};
    audit_append(svc->app->audit, &e);
    psc_totp_key_page(req, res, "Compte activé", "socle Mon Espace Santé", ins, b32);
}

/* ---- login ----------------------------------------------------------------------------------- */

int psc_patient_check(store_conn *c, const char *ins, const char *password, const char *otp, char patient_id[128],
                      socle_err *err)
{
    store_rows *r = NULL;
    store_value p[1] = {STORE_V_TEXT(ins)};
    int rc = store_query(c,
                         "SELECT patient_id, password_hash, totp_secret, last_step FROM psc_patient"
                         " WHERE ins = $1 AND opposed = 0 AND password_hash IS NOT NULL AND totp_secret IS NOT NULL",
                         p, 1, &r, err);
    if (rc) return rc;
    char phash[CRYPTO_PASSWORD_HASH_MAX] = "", b32[64] = "";
    int64_t last = -1;
    if ((rc = store_rows_next(r, err)) == 1) {
        snprintf(patient_id, 128, "%s", store_rows_text(r, 0, NULL));
        snprintf(phash, sizeof phash, "%s", store_rows_text(r, 1, NULL));
        snprintf(b32, sizeof b32, "%s", store_rows_text(r, 2, NULL));
        last = store_rows_int(r, 3);
        rc = 0;
    }
    store_rows_free(r);
    if (rc) return rc;
    /* Both factors are always checked, and Argon2 runs without an account too (against no hash), so
     * the answer's time tells neither which factor failed nor whether the account exists. */
    int password_ok = !crypto_password_verify(phash, password, err); /* "" without an account */
    int64_t step = 0;
    int otp_ok = psc_totp_matches(b32, last, otp, &step);
    if (!password_ok || !otp_ok) return socle_err_set(err, SOCLE_EUNAUTHORIZED, "wrong password or code");
    store_value q[3] = {STORE_V_INT(step), STORE_V_TEXT(ins), STORE_V_INT(step)};
    int64_t changed = 0;
    rc = store_exec(c, "UPDATE psc_patient SET last_step = $1 WHERE ins = $2 AND last_step < $3", q, 3, &changed, err);
    if (!rc && changed != 1) return socle_err_set(err, SOCLE_EUNAUTHORIZED, "wrong password or code");
    return rc;
}

int psc_patient_lookup(store_conn *c, const char *ins, char patient_id[128], socle_err *err)
{
    store_rows *r = NULL;
    store_value p[1] = {STORE_V_TEXT(ins)};
    int rc = store_query(c, "SELECT patient_id FROM psc_patient WHERE ins = $1 AND opposed = 0", p, 1, &r, err);
    if (rc) return rc;
    rc = store_rows_next(r, err);
    if (rc == 1) snprintf(patient_id, 128, "%s", store_rows_text(r, 0, NULL));
    store_rows_free(r);
    if (rc == 0) return socle_err_set(err, SOCLE_ENOTFOUND, "no open account");
    return rc < 0 ? rc : 0;
}

int psc_patient_claims(store_conn *c, const char *ins, const char *patient_id, arena *a, json_t **out, socle_err *err)
{
    *out = NULL;
    fhir_stored s;
    int rc = fhir_repo_read(c, "Patient", patient_id, 0, a, &s, err);
    if (rc) return rc == SOCLE_EGONE ? socle_err_set(err, SOCLE_ENOTFOUND, "the identity is gone") : rc;
    json_t *p = json_loadb(s.body, s.body_len, 0, NULL);
    if (!p) return socle_err_set(err, SOCLE_EINTERNAL, "stored Patient is not JSON");
    json_t *claims = json_pack("{s:s}", "sub", ins);
    json_t *name = json_array_get(json_object_get(p, "name"), 0);
    const char *family = json_string_value(json_object_get(name, "family"));
    const char *given = json_string_value(json_array_get(json_object_get(name, "given"), 0));
    if (family) json_object_set_new(claims, "family_name", json_string(family));
    if (given) json_object_set_new(claims, "given_name", json_string(given));
    const char *birth = json_string_value(json_object_get(p, "birthDate"));
    const char *gender = json_string_value(json_object_get(p, "gender"));
    if (birth) json_object_set_new(claims, "birthdate", json_string(birth));
    if (gender) json_object_set_new(claims, "gender", json_string(gender));
    json_decref(p);
    *out = claims;
    return 0;
}

int psc_patient_identity(psc_service *svc, http_request *req, store_conn *c, const char *ins, const auth_subject *who,
                         arena *a, json_t **claims, socle_err *err)
{
    char patient_id[128];
    *claims = NULL;
    int rc = psc_patient_lookup(c, ins, patient_id, err);
    if (rc) return rc;
    /* The identity claims are patient data: the policy engine decides and the trail records it. */
    auth_target t = {.resource_type = "Patient", .resource_id = patient_id, .patient_id = patient_id,
                     .operation = "oidc-identity"};
    auth_decision d;
    auth_policy_decide(svc->app->policy, who, AUTH_ACTION_OPERATION, &t, &d);
    audit_event e = {.action = "oidc-userinfo", .outcome = d.allowed ? "success" : "denied", .agent_kind = "patient",
                     .agent_id = who->sub, .resource_type = "Patient", .resource_id = patient_id,
                     .patient_id = patient_id, .address = req->remote_addr, .request_id = req->request_id,
                     .detail = d.allowed ? NULL : d.reason};
    audit_append(svc->app->audit, &e);
    if (!d.allowed) return socle_err_set(err, SOCLE_EFORBIDDEN, "%s", d.reason);
    return psc_patient_claims(c, ins, patient_id, a, claims, err);
}

/* The patient realm's policy rule: a patient reads the identity claims of the Patient its own open
 * account points to (the handler looked the account up from the verified subject). */
int psc_patient_rule(void *ctx, const auth_subject *s, auth_action a, const auth_target *t, char *reason, size_t len)
{
    if (a != AUTH_ACTION_OPERATION || !t->operation || strcmp(t->operation, "oidc-identity") ||
        s->kind != AUTH_KIND_PATIENT)
        return AUTH_ABSTAIN;
    snprintf(reason, len, "a patient reads the identity of its own account");
    return AUTH_ALLOW;
}
