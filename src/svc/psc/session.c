/* session.c - what follows a login: userinfo (OpenID Connect Core §5.3, the PSC claims of the
 * bearer's professional), revocation of refresh tokens (RFC 7009) and RP-initiated logout
 * (OpenID Connect RP-Initiated Logout 1.0: id_token_hint, registered post_logout_redirect_uri,
 * state), which revokes the refresh tokens the client holds for that professional. */
#include <string.h>
#include <time.h>

#include "auth/auth.h"
#include "crypto/crypto.h"
#include "svc/psc/claims.h"
#include "svc/psc/patient.h"
#include "svc/psc/psc_internal.h"

static void bearer_error(http_request *req, http_response *res, const char *description)
{
    char *h = arena_printf(req->arena, "Bearer realm=\"socle-oidc\", error=\"invalid_token\", error_description=\"%s\"",
                           description);
    http_set_header(req, res, "WWW-Authenticate", h);
    res->log_outcome = "invalid_token";
    psc_json(req, res, 401, json_pack("{s:s, s:s}", "error", "invalid_token", "error_description", description));
}

void psc_userinfo_route(void *ctx, http_request *req, http_response *res)
{
    psc_service *svc = ctx;
    const char *authz = http_header(req, "Authorization");
    auth_subject who;
    socle_err err;
    if (!authz || auth_verify_bearer(svc->app->verifier, authz, &who, &err)) {
        bearer_error(req, res, authz ? "the access token is not valid" : "an access token is required");
        return;
    }
    if (who.kind != AUTH_KIND_PROFESSIONAL && who.kind != AUTH_KIND_PATIENT) {
        bearer_error(req, res, "not the access token of a professional or a patient");
        return;
    }
    store_conn *c = NULL;
    json_t *claims = NULL;
    const char *text = NULL;
    size_t len = 0;
    int rc = store_acquire(svc->app->store, &c, &err);
    if (!rc && who.kind == AUTH_KIND_PATIENT) rc = psc_patient_identity(svc, req, c, who.sub, &who, req->arena, &claims, &err);
    else if (!rc) rc = psc_claims_get(svc, c, who.sub, req->arena, &text, &len, &err);
    if (rc == SOCLE_EFORBIDDEN) {
        if (c) store_release(svc->app->store, c);
        psc_oauth_error(req, res, 403, "insufficient_scope", "the policy refuses this read");
        return;
    }
    if (c) store_release(svc->app->store, c);
    if (rc == SOCLE_ENOTFOUND) {
        bearer_error(req, res, who.kind == AUTH_KIND_PATIENT ? "the patient's account is closed"
                                                             : "the professional is no longer in the directory");
        return;
    }
    if (rc) {
        psc_oauth_error(req, res, 500, "server_error", "store unavailable");
        return;
    }
    if (text) {
        res->content_type = "application/json";
        buf_append(&res->body, text, len);
        http_set_header(req, res, "Cache-Control", "no-store");
        return;
    }
    psc_json(req, res, 200, claims);
}

void psc_revoke_route(void *ctx, http_request *req, http_response *res)
{
    psc_service *svc = ctx;
    http_param *f;
    int n;
    store_conn *c;
    psc_client client;
    if (psc_client_request(svc, req, res, &f, &n, &c, &client)) return;
    const char *token = psc_param(f, n, "token");
    if (!token) {
        psc_oauth_error(req, res, 400, "invalid_request", "token is required");
    } else {
        /* A refresh token of this client revokes its family. One issued to another client is
         * refused and left alone (RFC 7009 §2.1; invalid_grant: "issued to another client", RFC
         * 6749 §5.2). Anything else (an access token, which expires on its own, or an unknown
         * value) is answered 200 as RFC 7009 §2.2 says. When the store fails, 503: the client
         * keeps the token and may try again (§2.2.1). */
        char hash[65];
        socle_err err;
        psc_hash_hex(token, hash);
        store_value p[2] = {STORE_V_TEXT(hash), STORE_V_TEXT(client.id)};
        int64_t mine = 0;
        int rc = store_query_int(c,
                                 "SELECT CASE WHEN client_id = $2 THEN 1 ELSE 0 END FROM psc_refresh"
                                 " WHERE token_hash = $1",
                                 p, 2, &mine, &err);
        if (!rc && mine)
            rc = store_exec(c,
                            "UPDATE psc_refresh SET state = 2 WHERE client_id = $2 AND family IN"
                            " (SELECT family FROM psc_refresh WHERE token_hash = $1 AND client_id = $2)",
                            p, 2, NULL, &err);
        if (rc && rc != SOCLE_ENOTFOUND) {
            psc_audit(svc, req, "revoke", "failure", NULL, client.id, "store unavailable");
            psc_oauth_error(req, res, 503, "temporarily_unavailable",
                            "store unavailable: the token is not revoked");
        } else if (!rc && !mine) {
            psc_audit(svc, req, "revoke", "failure", NULL, client.id, "token of another client");
            psc_oauth_error(req, res, 400, "invalid_grant", "this token was issued to another client");
        } else {
            psc_audit(svc, req, "revoke", "success", NULL, client.id, NULL);
            psc_json(req, res, 200, json_object());
        }
    }
    store_release(svc->app->store, c);
}

/* The ID token hint's client (aud) and professional (sub), signature checked, expiry not. */
static int id_token_hint(psc_service *svc, arena *a, const char *hint, const char **client_id, const char **sub)
{
    char *header = NULL, *payload = NULL;
    uint8_t *sig = NULL;
    size_t siglen = 0, input = 0;
    socle_err err;
    int rc = crypto_jws_split(hint, &header, &payload, &sig, &siglen, &input, &err);
    if (!rc && crypto_verify(svc->app->signing_key, hint, input, sig, siglen, &err) &&
        (!svc->rsa_key || crypto_verify(svc->rsa_key, hint, input, sig, siglen, &err)))
        rc = SOCLE_EUNAUTHORIZED;
    json_t *p = rc ? NULL : json_loads(payload, 0, NULL);
    const char *iss = json_string_value(json_object_get(p, "iss"));
    if (!rc && (!iss || strcmp(iss, svc->issuer))) rc = SOCLE_EUNAUTHORIZED;
    json_t *aud = json_object_get(p, "aud");
    const char *a0 = json_is_string(aud) ? json_string_value(aud) : json_string_value(json_array_get(aud, 0));
    const char *s0 = json_string_value(json_object_get(p, "sub"));
    if (!rc && (!a0 || !s0)) rc = SOCLE_EUNAUTHORIZED;
    if (!rc) {
        *client_id = arena_strdup(a, a0);
        *sub = arena_strdup(a, s0);
    }
    json_decref(p);
    free(header);
    free(payload);
    free(sig);
    return rc;
}

void psc_logout_route(void *ctx, http_request *req, http_response *res)
{
    psc_service *svc = ctx;
    http_param *f;
    int n;
    socle_err err;
    if (psc_form(req, &f, &n, &err)) {
        psc_html_page(req, res, 400, "Déconnexion", arena_printf(req->arena, "<p class=\"error\">%s</p>",
                                                                 psc_html_escape(req->arena, err.msg)));
        return;
    }
    const char *hint = psc_param(f, n, "id_token_hint"), *target = psc_param(f, n, "post_logout_redirect_uri");
    const char *state = psc_param(f, n, "state"), *client_id = psc_param(f, n, "client_id"), *sub = NULL;
    const char *hint_client = NULL;
    if (hint && id_token_hint(svc, req->arena, hint, &hint_client, &sub)) {
        psc_html_page(req, res, 400, "Déconnexion", "<p class=\"error\">id_token_hint is not an ID token of this provider</p>");
        return;
    }
    if (hint_client && client_id && strcmp(hint_client, client_id)) {
        psc_html_page(req, res, 400, "Déconnexion", "<p class=\"error\">client_id differs from the id_token_hint</p>");
        return;
    }
    if (!client_id) client_id = hint_client;
    store_conn *c = NULL;
    psc_client client;
    int known = 0;
    if (!store_acquire(svc->app->store, &c, &err)) {
        known = client_id && !psc_client_load(c, client_id, req->arena, &client, &err);
        if (known && sub) {
            store_value p[2] = {STORE_V_TEXT(client.id), STORE_V_TEXT(sub)};
            store_exec(c, "UPDATE psc_refresh SET state = 2 WHERE client_id = $1 AND idnps = $2", p, 2, NULL, &err);
        }
        store_release(svc->app->store, c);
    }
    if (target && (!known || !psc_list_has(client.logout_uris, '\n', target))) {
        psc_html_page(req, res, 400, "Déconnexion",
                      "<p class=\"error\">post_logout_redirect_uri is not registered for this client</p>");
        return;
    }
    psc_audit(svc, req, "logout", "success", sub, known ? client.id : NULL, NULL);
    if (target) psc_redirect(req, res, psc_url_append(req->arena, target, "state", state, (char *)NULL));
    else psc_html_page(req, res, 200, "Déconnexion", "<p>Vous êtes déconnecté de Pro Santé Connect.</p>");
}
