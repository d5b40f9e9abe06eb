/* ecps.c - the e-CPS stand-in: a TOTP authenticator app (RFC 6238, PSC_TOTP_* in psc_internal.h)
 * enrolled with a one-time activation code. `socle psc enrol --idnps N` prints the code (valid 24 h, only its hash is kept); the professional types IDNPS and code at
 * /oidc/ecps and receives the app's secret once (otpauth URI and base32). A code of the app is
 * good once (the last accepted step is stored). */
#include <string.h>
#include <time.h>

#include "base/ids.h"
#include "crypto/crypto.h"
#include "crypto/totp.h"
#include "fhir/repo.h"
#include "svc/psc/claims.h"
#include "svc/psc/psc_internal.h"

#define ECPS_ACTIVATION_S (24 * 3600)

int psc_in_directory(store_conn *c, const char *idnps, socle_err *err)
{
    arena *a = arena_new(4096);
    if (!a) return socle_err_set(err, SOCLE_ENOMEM, "out of memory");
    fhir_stored s;
    int rc = fhir_repo_read(c, "Practitioner", idnps, 0, a, &s, err);
    if (!rc) {
        json_t *p = json_loadb(s.body, s.body_len, 0, NULL);
        if (!psc_practitioner_active(p)) rc = SOCLE_ENOTFOUND;
        json_decref(p);
    }
    arena_free(a);
    if (rc == SOCLE_ENOTFOUND || rc == SOCLE_EGONE) return socle_err_set(err, SOCLE_ENOTFOUND, "not in the directory");
    return rc;
}

int psc_enrol(store *s, const char *idnps, char code[20], socle_err *err)
{
    code[0] = 0;
    store_conn *c = NULL;
    int rc = store_acquire(s, &c, err);
    if (rc) return rc;
    rc = psc_in_directory(c, idnps, err);
    if (!rc) {
        char hash[65];
        psc_activation_code_new(code, hash);
        store_value p[3] = {STORE_V_TEXT(idnps), STORE_V_TEXT(hash), STORE_V_INT((int64_t)time(NULL) + ECPS_ACTIVATION_S)};
        rc = store_exec(c,
                        "INSERT INTO psc_ecps (idnps, secret, last_step, activation_hash, activation_expires)"
                        " VALUES ($1, NULL, -1, $2, $3) ON CONFLICT (idnps) DO UPDATE SET secret = NULL,"
                        " last_step = -1, activation_hash = excluded.activation_hash,"
                        " activation_expires = excluded.activation_expires",
                        p, 3, NULL, err);
    }
    store_release(s, c);
    if (rc) code[0] = 0;
    return rc;
}

static const char *ACTIVATION_FORM =
    "<form method=\"post\" action=\"/oidc/ecps/activate\">"
    "<label>Identifiant national (IDNPS) <input name=\"idnps\" autocomplete=\"username\" required></label>"
    "<label>Code d'activation <input name=\"activation_code\" autocomplete=\"off\" required></label>"
    "<button type=\"submit\">Activer l'application e-CPS</button></form>";

void psc_ecps_page_route(void *ctx, http_request *req, http_response *res)
{
    psc_html_page(req, res, 200, "Activer e-CPS", ACTIVATION_FORM);
}

void psc_ecps_activate_route(void *ctx, http_request *req, http_response *res)
{
    psc_service *svc = ctx;
    http_param *f;
    int n;
    socle_err err;
    if (psc_form(req, &f, &n, &err)) {
        psc_html_page(req, res, 400, "Activer e-CPS", arena_printf(req->arena, "<p class=\"error\">%s</p>%s",
                                                                   psc_html_escape(req->arena, err.msg), ACTIVATION_FORM));
        return;
    }
    const char *idnps = psc_param(f, n, "idnps");
    char hash[65];
    psc_activation_code_hash(psc_param(f, n, "activation_code"), hash);
    store_conn *c = NULL;
    int rc = store_acquire(svc->app->store, &c, &err);
    int64_t retry = 0;
    char throttle_key[200];
    snprintf(throttle_key, sizeof throttle_key, "ecps:%.150s", idnps ? idnps : "");
    if (!rc) rc = psc_throttle_check(c, throttle_key, &retry, &err);
    uint8_t key[20];
    char b32[40] = "";
    if (!rc && idnps) {
        /* Consume the activation code and set the secret in one statement: it works once. */
        crypto_totp_secret_new(key, sizeof key, b32, sizeof b32);
        store_value p[4] = {STORE_V_TEXT(b32), STORE_V_TEXT(idnps), STORE_V_TEXT(hash), STORE_V_INT((int64_t)time(NULL))};
        int64_t changed = 0;
        rc = store_exec(c,
                        "UPDATE psc_ecps SET secret = $1, last_step = -1, activation_hash = NULL"
                        " WHERE idnps = $2 AND activation_hash = $3 AND activation_expires > $4",
                        p, 4, &changed, &err);
        /* A wrong code is counted, or refused as locked when an attempt alongside locked the key. */
        if (!rc && changed != 1)
            rc = psc_throttle_fail(c, throttle_key, svc->max_failures, svc->quiet_s, &retry, &err) == SOCLE_EBUSY
                     ? SOCLE_EBUSY
                     : socle_err_set(&err, SOCLE_EUNAUTHORIZED, "unknown, used or expired activation code");
    } else if (!rc) {
        rc = socle_err_set(&err, SOCLE_EINVAL, "idnps is required");
    }
    if (c) store_release(svc->app->store, c);
    if (rc) {
        psc_audit(svc, req, "ecps-activate", "failure", NULL, NULL, err.code == SOCLE_EBUSY ? "locked" : "refused");
        int status = rc == SOCLE_EBUSY ? 429 : rc == SOCLE_EINVAL ? 400 : 401;
        psc_html_page(req, res, status, "Activer e-CPS", arena_printf(req->arena, "<p class=\"error\">%s</p>%s",
                                                                      psc_html_escape(req->arena, err.msg), ACTIVATION_FORM));
        return;
    }
    psc_audit(svc, req, "ecps-activate", "success", idnps, NULL, NULL);
    psc_totp_key_page(req, res, "e-CPS activée", "socle e-CPS", idnps, b32);
}

int psc_ecps_check(store_conn *c, const char *idnps, const char *code, socle_err *err)
{
    store_rows *r = NULL;
    store_value p[1] = {STORE_V_TEXT(idnps)};
    int rc = store_query(c, "SELECT secret, last_step FROM psc_ecps WHERE idnps = $1 AND secret IS NOT NULL", p, 1, &r, err);
    if (rc) return rc;
    char b32[64] = "";
    int64_t last = -1;
    if ((rc = store_rows_next(r, err)) == 1) {
        snprintf(b32, sizeof b32, "%s", store_rows_text(r, 0, NULL));
        last = store_rows_int(r, 1);
        rc = 0;
    }
    store_rows_free(r);
    if (rc) return rc;
    if (!b32[0]) return socle_err_set(err, SOCLE_EUNAUTHORIZED, "no activated e-CPS");
    int64_t step = 0;
    if (!psc_totp_matches(b32, last, code, &step)) return socle_err_set(err, SOCLE_EUNAUTHORIZED, "wrong e-CPS code");
    /* Store the step only if nobody stored a later one meanwhile: a code is good once, on every node. */
    store_value q[3] = {STORE_V_INT(step), STORE_V_TEXT(idnps), STORE_V_INT(step)};
    int64_t changed = 0;
    rc = store_exec(c, "UPDATE psc_ecps SET last_step = $1 WHERE idnps = $2 AND last_step < $3", q, 3, &changed, err);
    if (!rc && changed != 1) return socle_err_set(err, SOCLE_EUNAUTHORIZED, "wrong e-CPS code");
    return rc;
}
