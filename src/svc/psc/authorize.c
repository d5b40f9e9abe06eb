/* authorize.c - the authorization endpoint and the login (OpenID Connect Core 1.0 §3.1.2, RFC 7636
 * PKCE). GET or POST /oidc/auth checks the request; errors about the client or its redirect URI
 * are shown on a page (never redirected to an unregistered URI), the others go back to the client
 * as error= on its redirect URI. A good request gets the login page, which carries the request
 * signed by the server key (valid 10 minutes): POST /oidc/login (IDNPS + e-CPS code) or POST
 * /oidc/login/cps (the TLS client certificate) finish it on any node, and redirect with a
 * single-use code. */
#include <string.h>
#include <time.h>

#include "base/text.h"
#include "crypto/crypto.h"
#include "crypto/pki.h"
#include "svc/psc/patient.h"
#include "svc/psc/psc_internal.h"

#define LOGIN_TTL_S 600

/* The authorization request, as checked. */
typedef struct auth_request {
    const char *client_id, *redirect_uri, *scope, *state, *nonce, *code_challenge;
    int64_t expires;
} auth_request;

/* Is s 43-128 characters of the PKCE alphabet (RFC 7636 §4.1-4.2)? */
static int pkce_text_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    return n >= 43 && n <= 128 &&
           strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~") == n;
}

/* Is s absent, or UTF-8 of at most 512 bytes? (JSON strings: anything else would be dropped from
 * the signed request without a word, and the client would get its answer without state or nonce.) */
static int text_ok(const char *s)
{
    return !s || (strlen(s) <= 512 && text_utf8_valid(s, strlen(s)));
}

static void error_page(http_request *req, http_response *res, int status, const char *message)
{
    psc_html_page(req, res, status, "Connexion impossible",
                  arena_printf(req->arena, "<p class=\"error\">%s</p>", psc_html_escape(req->arena, message)));
}

static void error_redirect(psc_service *svc, http_request *req, http_response *res, const auth_request *ar,
                           const char *error, const char *description)
{
    psc_redirect(req, res, psc_url_append(req->arena, ar->redirect_uri, "error", error, "error_description",
                                          description, "state", ar->state, "iss", svc->issuer, (char *)NULL));
}

/* The patient realm's login page: INS, password and the code of the authenticator app. */
static void patient_login_page(http_request *req, http_response *res, int status, const char *blob,
                               const char *client_name, const char *error, const char *ins)
{
    arena *a = req->arena;
    psc_html_page(req, res, status, "Connexion patient",
                  arena_printf(a,
                               "<p>Connexion à <strong>%s</strong></p>%s"
                               "<form method=\"post\" action=\"/oidc/login/patient\"><fieldset>"
                               "<input type=\"hidden\" name=\"request\" value=\"%s\">"
                               "<label>Matricule INS <input name=\"ins\" value=\"%s\" inputmode=\"numeric\" "
                               "autocomplete=\"username\" required></label>"
                               "<label>Mot de passe <input type=\"password\" name=\"password\" "
                               "autocomplete=\"current-password\" required></label>"
                               "<label>Code de l'application d'authentification <input name=\"otp\" inputmode=\"numeric\" "
                               "autocomplete=\"one-time-code\" pattern=\"[0-9]{6}\" required></label>"
                               "<button type=\"submit\">Se connecter</button></fieldset></form>",
                               psc_html_escape(a, client_name),
                               error ? arena_printf(a, "<p class=\"error\">%s</p>", psc_html_escape(a, error)) : "",
                               psc_html_escape(a, blob), psc_html_escape(a, ins ? ins : "")));
}

/* The login page for a signed request: the professionals' (e-CPS, CPS card) or the patients'. */
static void login_page(psc_service *svc, http_request *req, http_response *res, int status, const char *blob,
                       const psc_client *client, const char *error, const char *idnps)
{
    if (client->patient_realm) {
        patient_login_page(req, res, status, blob, client->name, error, idnps);
        return;
    }
    const char *client_name = client->name;
    arena *a = req->arena;
    const char *b = psc_html_escape(a, blob);
    psc_html_page(req, res, status, "Pro Santé Connect",
                  arena_printf(a,
                               "<p>Connexion à <strong>%s</strong></p>%s"
                               "<form method=\"post\" action=\"/oidc/login\"><fieldset><legend>e-CPS</legend>"
                               "<input type=\"hidden\" name=\"request\" value=\"%s\">"
                               "<label>Identifiant national (IDNPS) <input name=\"idnps\" value=\"%s\" "
                               "autocomplete=\"username\" required></label>"
                               "<label>Code de l'application e-CPS <input name=\"otp\" inputmode=\"numeric\" "
                               "autocomplete=\"one-time-code\" pattern=\"[0-9]{6}\" required></label>"
                               "<button type=\"submit\">Se connecter avec e-CPS</button></fieldset></form>"
                               "<form method=\"post\" action=\"/oidc/login/cps\"><fieldset><legend>Carte CPS</legend>"
                               "<input type=\"hidden\" name=\"request\" value=\"%s\">"
                               "<button type=\"submit\">Se connecter avec la carte CPS</button></fieldset></form>",
                               psc_html_escape(a, client_name),
                               error ? arena_printf(a, "<p class=\"error\">%s</p>", psc_html_escape(a, error)) : "", b,
                               psc_html_escape(a, idnps ? idnps : ""), b));
}

void psc_authorize_route(void *ctx, http_request *req, http_response *res)
{
    psc_service *svc = ctx;
    http_param *f;
    int n;
    socle_err err;
    if (psc_form(req, &f, &n, &err)) {
        error_page(req, res, 400, err.msg);
        return;
    }
    auth_request ar = {
        .client_id = psc_param(f, n, "client_id"),
        .redirect_uri = psc_param(f, n, "redirect_uri"),
        .scope = psc_param(f, n, "scope"),
        .state = psc_param(f, n, "state"),
        .nonce = psc_param(f, n, "nonce"),
        .code_challenge = psc_param(f, n, "code_challenge"),
    };
    if (!ar.client_id || !ar.redirect_uri) {
        error_page(req, res, 400, "client_id and redirect_uri are required");
        return;
    }
    store_conn *c = NULL;
    psc_client client;
    int rc = store_acquire(svc->app->store, &c, &err);
    if (!rc) rc = psc_client_load(c, ar.client_id, req->arena, &client, &err);
    if (c) store_release(svc->app->store, c);
    if (rc) {
        error_page(req, res, rc == SOCLE_ENOTFOUND ? 400 : 500, rc == SOCLE_ENOTFOUND ? "unknown client_id" : "store unavailable");
        return;
    }
    if (!psc_list_has(client.redirect_uris, '\n', ar.redirect_uri)) {
        error_page(req, res, 400, "redirect_uri is not registered for this client (exact match required)");
        return;
    }
    const char *response_type = psc_param(f, n, "response_type"), *method = psc_param(f, n, "code_challenge_method");
    const char *prompt = psc_param(f, n, "prompt");
    if (!response_type) {
        error_redirect(svc, req, res, &ar, "invalid_request", "response_type is required");
        return;
    }
    if (strcmp(response_type, "code")) {
        error_redirect(svc, req, res, &ar, "unsupported_response_type", "only response_type=code is supported");
        return;
    }
    if (psc_param(f, n, "request") || psc_param(f, n, "request_uri")) {
        error_redirect(svc, req, res, &ar, "request_not_supported", "request objects are not supported");
        return;
    }
    if (!ar.scope || !psc_list_has(ar.scope, ' ', "openid")) {
        error_redirect(svc, req, res, &ar, "invalid_scope", "scope must contain openid");
        return;
    }
    if (!psc_scope_subset(ar.scope, client.scopes)) {
        error_redirect(svc, req, res, &ar, "invalid_scope", "a scope is not allowed for this client");
        return;
    }
    if (!ar.code_challenge || !method || strcmp(method, "S256") || !pkce_text_ok(ar.code_challenge)) {
        error_redirect(svc, req, res, &ar, "invalid_request", "PKCE is required: code_challenge with code_challenge_method=S256");
        return;
    }
    if (!text_ok(ar.state) || !text_ok(ar.nonce)) {
        error_redirect(svc, req, res, &ar, "invalid_request", "state and nonce are UTF-8 text of at most 512 bytes");
        return;
    }
    if (prompt && psc_list_has(prompt, ' ', "none")) {
        error_redirect(svc, req, res, &ar, "login_required", "every login needs the card or the e-CPS app");
        return;
    }
    /* The pending login travels signed in the page, not in this node's memory. */
    json_t *p = json_pack("{s:s, s:s, s:s, s:s, s:I}", "client_id", ar.client_id, "redirect_uri", ar.redirect_uri,
                          "scope", ar.scope, "code_challenge", ar.code_challenge, "exp",
                          (json_int_t)(time(NULL) + LOGIN_TTL_S));
    if (ar.state) json_object_set_new(p, "state", json_string(ar.state));
    if (ar.nonce) json_object_set_new(p, "nonce", json_string(ar.nonce));
    json_object_set_new(p, "typ", json_string("socle-login"));
    char *payload = json_dumps(p, JSON_COMPACT), *blob = NULL;
    json_decref(p);
    rc = payload ? crypto_jws_sign(svc->app->signing_key, payload, &blob, &err) : SOCLE_ENOMEM;
    free(payload);
    if (rc) {
        error_page(req, res, 500, "cannot sign the login request");
        return;
    }
    login_page(svc, req, res, 200, blob, &client, NULL, psc_param(f, n, "login_hint"));
    free(blob);
}

/* Check the signed request of a login form; fills ar (strings in the arena). */
static int login_request(psc_service *svc, http_request *req, const char *blob, auth_request *ar, socle_err *err)
{
    char *header = NULL, *payload = NULL;
    uint8_t *sig = NULL;
    size_t siglen = 0, input = 0;
    int rc = blob ? crypto_jws_split(blob, &header, &payload, &sig, &siglen, &input, err)
                  : socle_err_set(err, SOCLE_EINVAL, "no request");
    if (!rc) rc = crypto_verify(svc->app->signing_key, blob, input, sig, siglen, err);
    json_t *p = rc ? NULL : json_loads(payload, 0, NULL);
    free(header);
    free(payload);
    free(sig);
    if (!rc && (!p || strcmp(json_string_value(json_object_get(p, "typ")) ? json_string_value(json_object_get(p, "typ")) : "", "socle-login")))
        rc = SOCLE_EINVAL;
    if (!rc && json_integer_value(json_object_get(p, "exp")) < (json_int_t)time(NULL)) rc = SOCLE_EINVAL;
    if (!rc) {
#define GET(k) (json_string_value(json_object_get(p, k)) ? arena_strdup(req->arena, json_string_value(json_object_get(p, k))) : NULL)
        ar->client_id = GET("client_id");
        ar->redirect_uri = GET("redirect_uri");
        ar->scope = GET("scope");
        ar->state = GET("state");
        ar->nonce = GET("nonce");
        ar->code_challenge = GET("code_challenge");
#undef GET
        if (!ar->client_id || !ar->redirect_uri || !ar->scope || !ar->code_challenge) rc = SOCLE_EINVAL;
    }
    json_decref(p);
    if (rc) return socle_err_set(err, SOCLE_EINVAL, "this login page has expired or was altered: start again from the application");
    return 0;
}

/* Store a code for the logged-in professional or patient and send the browser back to the client. */
static void finish_login(psc_service *svc, http_request *req, http_response *res, store_conn *c, const auth_request *ar,
                         const char *idnps, const char *amr)
{
    char code[44], hash[65];
    psc_random_token(code);
    psc_hash_hex(code, hash);
    socle_err err;
    int64_t now = (int64_t)time(NULL);
    store_value p[11] = {STORE_V_TEXT(hash), STORE_V_TEXT(ar->client_id), STORE_V_TEXT(idnps),
                         STORE_V_TEXT(ar->redirect_uri), STORE_V_TEXT(ar->scope), STORE_V_TEXT(ar->nonce ? ar->nonce : ""),
                         STORE_V_TEXT(ar->code_challenge), STORE_V_TEXT(amr), STORE_V_INT(now),
                         STORE_V_INT(now + svc->code_ttl_s), STORE_V_INT(0)};
    if (store_exec(c,
                   "INSERT INTO psc_code (code_hash, client_id, idnps, redirect_uri, scope, nonce, code_challenge, amr,"
                   " auth_time, expires, used) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                   p, 11, NULL, &err)) {
        error_page(req, res, 500, "store unavailable");
        return;
    }
    psc_audit_as(svc, req, strchr(amr, ' ') ? "patient" : "professional", "login", "success", idnps, ar->client_id, amr);
    psc_redirect(req, res, psc_url_append(req->arena, ar->redirect_uri, "code", code, "state", ar->state, "iss",
                                          svc->issuer, (char *)NULL));
}

/* Common part of the logins: the form, the signed request, the client (of the route's realm). */
static int login_begin(psc_service *svc, http_request *req, http_response *res, int patient, http_param **f, int *n,
                       auth_request *ar, psc_client *client, store_conn **c)
{
    socle_err err;
    *c = NULL;
    if (psc_form(req, f, n, &err) || login_request(svc, req, psc_param(*f, *n, "request"), ar, &err)) {
        error_page(req, res, 400, err.msg);
        return -1;
    }
    if (store_acquire(svc->app->store, c, &err) || psc_client_load(*c, ar->client_id, req->arena, client, &err)) {
        if (*c) store_release(svc->app->store, *c);
        *c = NULL;
        error_page(req, res, 400, "unknown client");
        return -1;
    }
    if (client->patient_realm != patient) {
        store_release(svc->app->store, *c);
        *c = NULL;
        error_page(req, res, 400, patient ? "this application logs professionals in, not patients"
                                          : "this application logs patients in, not professionals");
        return -1;
    }
    return 0;
}

/* The throttling keys of a password or code login: the caller's address and the account. */
typedef struct login_keys {
    char address[100], account[200];
} login_keys;

/* The answer to a login refused because the address or the account is locked: 429. */
static void login_lockout(psc_service *svc, http_request *req, http_response *res, const psc_client *client,
                          const char *blob, const char *typed, int64_t retry, const char *message)
{
    psc_audit_as(svc, req, "anonymous", "login", "failure", NULL, client->id, "locked out");
    http_set_header(req, res, "Retry-After", arena_printf(req->arena, "%lld", (long long)retry));
    login_page(svc, req, res, 429, blob, client, message, typed);
}

/* 0 to go on; -1 when the account or the address is locked (the 429 page is written). Asked
 * before the credentials are checked (a locked key costs no check, no Argon2) and again once they
 * are found right: a success is told only if no failure counted meanwhile locked a key, so that
 * attempts sent side by side learn no more than attempts sent one after the other. */
static int login_locked(psc_service *svc, http_request *req, http_response *res, store_conn *c,
                        const psc_client *client, const char *blob, const char *prefix, const char *typed,
                        login_keys *k)
{
    snprintf(k->account, sizeof k->account, "%s:%.150s", prefix, typed ? typed : "");
    psc_throttle_address_key(req->remote_addr, k->address, sizeof k->address);
    socle_err err;
    int64_t retry = 0;
    int rc = psc_throttle_check(c, k->address, &retry, &err);
    if (!rc && typed) rc = psc_throttle_check(c, k->account, &retry, &err);
    if (rc != SOCLE_EBUSY) return 0;
    login_lockout(svc, req, res, client, blob, typed, retry, err.msg);
    return -1;
}

/* A refused login: counted for the address and the account, audited, the page again with one
 * message for every cause (an attacker learns nothing about the account). Each count is one step
 * with its key's lockout check: when an attempt alongside locked a key first, this one is answered
 * as locked (429), so its result is not told. */
static void login_refused(psc_service *svc, http_request *req, http_response *res, store_conn *c,
                          const psc_client *client, const char *blob, const char *typed, const login_keys *k,
                          const char *detail, const char *message)
{
    socle_err err, account_err;
    int64_t retry = 0, account_retry = 0;
    int locked = psc_throttle_fail(c, k->address, svc->max_failures, svc->quiet_s, &retry, &err) == SOCLE_EBUSY;
    if (typed && *typed &&
        psc_throttle_fail(c, k->account, svc->max_failures, svc->quiet_s, &account_retry, &account_err) ==
            SOCLE_EBUSY &&
        account_retry > retry) {
        locked = 1;
        retry = account_retry;
        err = account_err;
    }
    if (locked) {
        login_lockout(svc, req, res, client, blob, typed, retry, err.msg);
        return;
    }
    psc_audit_as(svc, req, "anonymous", "login", "failure", NULL, client->id, detail);
    login_page(svc, req, res, 401, blob, client, message, typed);
}

void psc_login_route(void *ctx, http_request *req, http_response *res)
{
    psc_service *svc = ctx;
    http_param *f;
    int n;
    auth_request ar;
    psc_client client;
    store_conn *c;
    if (login_begin(svc, req, res, 0, &f, &n, &ar, &client, &c)) return;
    const char *idnps = psc_param(f, n, "idnps"), *otp = psc_param(f, n, "otp"), *blob = psc_param(f, n, "request");
    login_keys k;
    socle_err err;
    if (login_locked(svc, req, res, c, &client, blob, "pp", idnps, &k)) {
        store_release(svc->app->store, c);
        return;
    }
    int rc = 0;
    if (!idnps || !*idnps || !otp || !*otp) rc = socle_err_set(&err, SOCLE_EINVAL, "IDNPS and e-CPS code are required");
    if (!rc) rc = psc_in_directory(c, idnps, &err);
    if (!rc) rc = psc_ecps_check(c, idnps, otp, &err);
    if (rc) login_refused(svc, req, res, c, &client, blob, idnps, &k, "e-CPS refused", "identifiant ou code e-CPS incorrect");
    else if (!login_locked(svc, req, res, c, &client, blob, "pp", idnps, &k)) {
        psc_throttle_clear(c, k.account, &err);
        finish_login(svc, req, res, c, &ar, idnps, "otp");
    }
    store_release(svc->app->store, c);
}

void psc_login_cps_route(void *ctx, http_request *req, http_response *res)
{
    psc_service *svc = ctx;
    http_param *f;
    int n;
    auth_request ar;
    psc_client client;
    store_conn *c;
    if (login_begin(svc, req, res, 0, &f, &n, &ar, &client, &c)) return;
    size_t len = 0;
    const unsigned char *der = http_client_cert_der(req, &len);
    pki_client_kind kind;
    char idnps[128];
    socle_err err;
    int rc = der ? pki_cert_identity(der, len, &kind, idnps, sizeof idnps, &err)
                 : socle_err_set(&err, SOCLE_EUNAUTHORIZED, "no CPS card: the connection carries no client certificate");
    if (!rc && kind != PKI_CLIENT_PROFESSIONAL) rc = socle_err_set(&err, SOCLE_EUNAUTHORIZED, "this certificate is not a professional's card");
    if (!rc) rc = psc_in_directory(c, idnps, &err);
    if (rc) {
        psc_audit(svc, req, "login", "failure", NULL, ar.client_id, "CPS refused");
        login_page(svc, req, res, 401, psc_param(f, n, "request"), &client,
                   rc == SOCLE_ENOTFOUND ? "ce professionnel n'est pas dans l'annuaire" : err.msg, NULL);
        store_release(svc->app->store, c);
        return;
    }
    finish_login(svc, req, res, c, &ar, idnps, "x509");
    store_release(svc->app->store, c);
}

void psc_login_patient_route(void *ctx, http_request *req, http_response *res)
{
    psc_service *svc = ctx;
    http_param *f;
    int n;
    auth_request ar;
    psc_client client;
    store_conn *c;
    if (login_begin(svc, req, res, 1, &f, &n, &ar, &client, &c)) return;
    const char *ins = psc_param(f, n, "ins"), *password = psc_param(f, n, "password"), *otp = psc_param(f, n, "otp");
    const char *blob = psc_param(f, n, "request");
    login_keys k;
    socle_err err;
    char patient_id[128];
    if (login_locked(svc, req, res, c, &client, blob, "pat", ins, &k)) {
        store_release(svc->app->store, c);
        return;
    }
    int rc = 0;
    if (!ins || !*ins || !password || !otp) rc = socle_err_set(&err, SOCLE_EINVAL, "INS, password and code are required");
    if (!rc) rc = psc_patient_check(c, ins, password, otp, patient_id, &err);
    if (rc)
        login_refused(svc, req, res, c, &client, blob, ins, &k, "patient login refused",
                      "identifiant, mot de passe ou code incorrect");
    else if (!login_locked(svc, req, res, c, &client, blob, "pat", ins, &k)) {
        psc_throttle_clear(c, k.account, &err);
        finish_login(svc, req, res, c, &ar, ins, "pwd otp");
    }
    store_release(svc->app->store, c);
}
