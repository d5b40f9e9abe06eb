/* token.c - the token endpoint (RFC 6749 §3.2, OpenID Connect Core §3.1.3): client authentication
 * (client_secret_basic, client_secret_post, private_key_jwt per RFC 7523 with a replay cache), the
 * authorization_code grant with PKCE S256 (a code works once; its replay revokes what it gave) and
 * the refresh_token grant (rotation; a rotated token used again revokes its whole family). Answers
 * carry an access token of the foundation (so every API accepts it), an ID token signed ES256 or
 * RS256 as the client registered, and a refresh token. */
#include <string.h>
#include <time.h>

#include "auth/auth.h"
#include "base/text.h"
#include "crypto/crypto.h"
#include "svc/psc/claims.h"
#include "svc/psc/patient.h"
#include "svc/psc/psc_internal.h"

#define ASSERTION_TYPE "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
#define ASSERTION_MAX_LIFETIME_S 600

/* Decode an application/x-www-form-urlencoded component of HTTP Basic (RFC 6749 §2.3.1). */
static char *basic_part(arena *a, const char *s, size_t n)
{
    char *copy = arena_strndup(a, s, n);
    if (!copy || memchr(s, 0, n)) return NULL;
    long len = text_url_decode(copy, n);
    /* "%00" would cut the value short: "rp:secret%00anything" must not pass for "rp:secret". */
    if (len < 0 || !text_utf8_valid(copy, (size_t)len)) return NULL;
    copy[len] = 0;
    return copy;
}

/* private_key_jwt: the assertion signed by one of the client's keys, for this token endpoint,
 * not expired, not seen before. */
static int check_assertion(psc_service *svc, store_conn *c, const psc_client *client, const char *assertion,
                           socle_err *err)
{
    char *header = NULL, *payload = NULL;
    uint8_t *sig = NULL;
    size_t siglen = 0, input = 0;
    int rc = crypto_jws_split(assertion, &header, &payload, &sig, &siglen, &input, err);
    json_t *h = rc ? NULL : json_loads(header, 0, NULL), *p = rc ? NULL : json_loads(payload, 0, NULL);
    json_t *jwks_doc = json_loads(client->jwks, 0, NULL), *keys = json_object_get(jwks_doc, "keys");
    if (!rc && (!h || !p)) rc = socle_err_set(err, SOCLE_EUNAUTHORIZED, "malformed client assertion");
    const char *kid = h ? json_string_value(json_object_get(h, "kid")) : NULL;
    int verified = 0;
    size_t i;
    json_t *k;
    json_array_foreach(keys, i, k) {
        if (rc || verified) break;
        const char *this_kid = json_string_value(json_object_get(k, "kid"));
        if (kid && this_kid && strcmp(kid, this_kid)) continue;
        char *text = json_dumps(k, JSON_COMPACT);
        crypto_key *key = NULL;
        socle_err e;
        if (text && !crypto_key_from_jwk_json(text, strlen(text), &key, &e) &&
            !strcmp(json_string_value(json_object_get(h, "alg")) ? json_string_value(json_object_get(h, "alg")) : "",
                    crypto_key_alg(key)) &&
            !crypto_verify(key, assertion, input, sig, siglen, &e))
            verified = 1;
        crypto_key_free(key);
        free(text);
    }
    if (!rc && !verified) rc = socle_err_set(err, SOCLE_EUNAUTHORIZED, "client assertion: bad signature");
    int64_t now = (int64_t)time(NULL);
    if (!rc) {
        const char *iss = json_string_value(json_object_get(p, "iss")), *sub = json_string_value(json_object_get(p, "sub"));
        const char *jti = json_string_value(json_object_get(p, "jti"));
        json_int_t exp = json_integer_value(json_object_get(p, "exp"));
        json_t *aud = json_object_get(p, "aud");
        char token_url[sizeof svc->issuer + 8];
        snprintf(token_url, sizeof token_url, "%s/token", svc->issuer);
        int aud_ok = 0;
        if (json_is_string(aud)) aud_ok = !strcmp(json_string_value(aud), token_url) || !strcmp(json_string_value(aud), svc->issuer);
        json_t *v;
        json_array_foreach(aud, i, v) if (json_is_string(v) && (!strcmp(json_string_value(v), token_url) || !strcmp(json_string_value(v), svc->issuer))) aud_ok = 1;
        if (!iss || !sub || strcmp(iss, client->id) || strcmp(sub, client->id))
            rc = socle_err_set(err, SOCLE_EUNAUTHORIZED, "client assertion: iss and sub must be the client_id");
        else if (!aud_ok) rc = socle_err_set(err, SOCLE_EUNAUTHORIZED, "client assertion: aud must be the token endpoint");
        else if (exp <= now || exp > now + ASSERTION_MAX_LIFETIME_S)
            rc = socle_err_set(err, SOCLE_EUNAUTHORIZED, "client assertion: expired or too long-lived");
        else if (!jti || !*jti || strlen(jti) > 200) rc = socle_err_set(err, SOCLE_EUNAUTHORIZED, "client assertion: jti required");
        else {
            /* client id (< 128) + jti (<= 200): a fixed buffer would cut long jtis and make them collide. */
            char key[sizeof client->id + 202];
            snprintf(key, sizeof key, "%s\n%s", client->id, jti);
            store_value old[1] = {STORE_V_INT(now)}, q[2] = {STORE_V_TEXT(key), STORE_V_INT(exp)};
            store_exec(c, "DELETE FROM psc_jti WHERE expires < $1", old, 1, NULL, err);
            if (store_exec(c, "INSERT INTO psc_jti (jti, expires) VALUES ($1, $2)", q, 2, NULL, err))
                rc = socle_err_set(err, SOCLE_EUNAUTHORIZED, "client assertion: replayed (jti already used)");
        }
    }
    json_decref(jwks_doc);
    json_decref(h);
    json_decref(p);
    free(header);
    free(payload);
    free(sig);
    return rc;
}

/* Who is calling: exactly one authentication method, the one the client registered. */
static int authenticate_client(psc_service *svc, http_request *req, store_conn *c, const http_param *f, int n,
                               psc_client *client, socle_err *err)
{
    const char *authz = http_header(req, "Authorization");
    const char *form_id = psc_param(f, n, "client_id"), *form_secret = psc_param(f, n, "client_secret");
    const char *assertion_type = psc_param(f, n, "client_assertion_type"), *assertion = psc_param(f, n, "client_assertion");
    const char *id = NULL, *secret = NULL, *method = NULL;
    int methods = 0;
    if (authz && !strncasecmp(authz, "Basic ", 6)) {
        size_t len = strlen(authz + 6);
        uint8_t *raw = arena_alloc(req->arena, len + 4);
        size_t rawlen = 0;
        if (!raw || crypto_b64_decode(authz + 6, len, raw, &rawlen)) return socle_err_set(err, SOCLE_EUNAUTHORIZED, "malformed Basic credentials");
        const char *colon = memchr(raw, ':', rawlen);
        if (!colon) return socle_err_set(err, SOCLE_EUNAUTHORIZED, "malformed Basic credentials");
        id = basic_part(req->arena, (const char *)raw, (size_t)(colon - (const char *)raw));
        secret = basic_part(req->arena, colon + 1, rawlen - (size_t)(colon + 1 - (const char *)raw));
        if (!id || !secret) return socle_err_set(err, SOCLE_EUNAUTHORIZED, "malformed Basic credentials");
        /* RFC 6749 §3.2.1: a client_id in the body names the client too; it must be the same. */
        if (form_id && strcmp(form_id, id))
            return socle_err_set(err, SOCLE_EUNAUTHORIZED, "client_id differs from the Basic credentials");
        method = "client_secret_basic";
        methods++;
    }
    if (form_secret) {
        id = form_id;
        secret = form_secret;
        method = "client_secret_post";
        methods++;
    }
    if (assertion || assertion_type) {
        if (!assertion || !assertion_type || strcmp(assertion_type, ASSERTION_TYPE))
            return socle_err_set(err, SOCLE_EUNAUTHORIZED, "client_assertion_type must be " ASSERTION_TYPE);
        method = "private_key_jwt";
        methods++;
        /* The client is the assertion's sub (checked against client_id when that is given too). */
        char *header = NULL, *payload = NULL;
        uint8_t *sig = NULL;
        size_t siglen = 0, input = 0;
        if (crypto_jws_split(assertion, &header, &payload, &sig, &siglen, &input, err) == 0) {
            json_t *p = json_loads(payload, 0, NULL);
            const char *sub = json_string_value(json_object_get(p, "sub"));
            id = sub ? arena_strdup(req->arena, sub) : NULL;
            json_decref(p);
        }
        free(header);
        free(payload);
        free(sig);
        if (form_id && id && strcmp(form_id, id)) return socle_err_set(err, SOCLE_EUNAUTHORIZED, "client_id differs from the assertion");
    }
    if (methods != 1 || !id) return socle_err_set(err, SOCLE_EUNAUTHORIZED, "client authentication required (exactly one method)");
    int rc = psc_client_load(c, id, req->arena, client, err);
    if (rc == SOCLE_ENOTFOUND) return socle_err_set(err, SOCLE_EUNAUTHORIZED, "unknown client");
    if (rc) return rc;
    if (strcmp(client->auth_method, method))
        return socle_err_set(err, SOCLE_EUNAUTHORIZED, "this client authenticates with %s", client->auth_method);
    if (secret) {
        char hash[65];
        psc_hash_hex(secret, hash);
        if (!crypto_equal(hash, client->secret_hash, 64)) return socle_err_set(err, SOCLE_EUNAUTHORIZED, "wrong client secret");
        return 0;
    }
    return check_assertion(svc, c, client, assertion, err);
}

/* base64url of the left half of SHA-256(text): at_hash (OpenID Connect Core §3.1.3.6). */
static void half_hash(const char *text, char out[32])
{
    uint8_t h[32];
    crypto_sha256(text, strlen(text), h);
    crypto_b64url_encode(h, 16, out);
}

typedef struct grant {
    const char *idnps, *scope, *nonce, *amr, *family;
    const char *access_scope; /* a refresh's narrower scope for this access token; NULL: scope */
    int64_t auth_time;
    const char *spend_sql; /* marks the code or refresh token used: must change exactly one row */
    const char *spend_key; /* its $1 */
} grant;

/* The amr claim of the stored space-separated methods ("otp", "x509", "pwd otp"). */
static json_t *amr_list(const char *amr)
{
    json_t *list = json_array();
    for (const char *p = amr; p && *p;) {
        const char *end = strchr(p, ' ');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n) json_array_append_new(list, json_stringn(p, n));
        p = end ? end + 1 : p + n;
    }
    return list;
}

/* Issue access, ID and refresh tokens for a grant; the JSON answer. The refresh token keeps the
 * grant's scope even when this access token's is narrower (RFC 6749 §6). */
static int issue_tokens(psc_service *svc, http_request *req, store_conn *c, const psc_client *client, const grant *g,
                        json_t **out, socle_err *err)
{
    arena *a = req->arena;
    json_t *claims = NULL;
    int rc;
    if (client->patient_realm) {
        auth_subject who = {.kind = AUTH_KIND_PATIENT};
        snprintf(who.sub, sizeof who.sub, "%s", g->idnps);
        rc = psc_patient_identity(svc, req, c, g->idnps, &who, a, &claims, err);
        if (rc == SOCLE_ENOTFOUND) return socle_err_set(err, SOCLE_EUNPROCESSABLE, "the patient's account is closed");
        if (rc == SOCLE_EFORBIDDEN) /* decided and audited by psc_patient_identity */
            return socle_err_set(err, SOCLE_EUNPROCESSABLE,
                                 "the policy refuses the patient's identity to this login");
    } else {
        rc = psc_claims_get_json(svc, c, g->idnps, a, &claims, err);
        if (rc == SOCLE_ENOTFOUND) return socle_err_set(err, SOCLE_EUNPROCESSABLE, "the professional is no longer in the directory");
    }
    if (rc) return rc;
    char profession[16] = "", structure[64] = "";
    psc_claims_profession(claims, profession, sizeof profession);
    psc_claims_structure(claims, structure, sizeof structure);
    auth_token_request tr = {.kind = client->patient_realm ? AUTH_KIND_PATIENT : AUTH_KIND_PROFESSIONAL,
                             .sub = g->idnps, .profession = profession[0] ? profession : NULL,
                             .structure = structure[0] ? structure : NULL, .ttl_seconds = svc->access_ttl_s,
                             .issuer = config_get(svc->app->config, "issuer"),
                             .audience = config_get(svc->app->config, "audience")};
    char *access = NULL, *id_token = NULL;
    rc = auth_token_issue(svc->app->signing_key, &tr, &access, err);
    int64_t now = (int64_t)time(NULL);
    if (!rc) {
        char at_hash[32];
        half_hash(access, at_hash);
        json_t *idt = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:s, s:o, s:s, s:s}", "iss", svc->issuer, "sub", g->idnps,
                                "aud", client->id, "exp", (json_int_t)(now + svc->access_ttl_s), "iat", (json_int_t)now,
                                "auth_time", (json_int_t)g->auth_time, "acr", "eidas1", "amr", amr_list(g->amr), "azp",
                                client->id, "at_hash", at_hash);
        if (g->nonce && *g->nonce) json_object_set_new(idt, "nonce", json_string(g->nonce));
        static const char *const copied[] = {"preferred_username", "SubjectNameID", "given_name", "family_name",
                                             "birthdate", "gender", NULL};
        for (int i = 0; copied[i]; i++) {
            json_t *v = json_object_get(claims, copied[i]);
            if (v) json_object_set(idt, copied[i], v);
        }
        char *payload = json_dumps(idt, JSON_COMPACT);
        json_decref(idt);
        const crypto_key *key = !strcmp(client->id_token_alg, "RS256") && svc->rsa_key ? svc->rsa_key : svc->app->signing_key;
        rc = payload ? crypto_jws_sign(key, payload, &id_token, err) : socle_err_set(err, SOCLE_ENOMEM, "out of memory");
        free(payload);
    }
    char refresh[44], hash[65];
    if (!rc) {
        psc_random_token(refresh);
        psc_hash_hex(refresh, hash);
        store_value p[9] = {STORE_V_TEXT(hash), STORE_V_TEXT(g->family), STORE_V_TEXT(client->id), STORE_V_TEXT(g->idnps),
                            STORE_V_TEXT(g->scope), STORE_V_TEXT(g->amr), STORE_V_INT(g->auth_time),
                            STORE_V_INT(now + svc->refresh_ttl_s), STORE_V_INT(0)};
        /* The code or token spent and the new refresh token, in one transaction: both or neither.
         * Relaxed: lost with a power failure, it costs the client a new login, nothing more. */
        rc = store_tx_begin_relaxed(c, err);
        int64_t spent = 1;
        store_value key[1] = {STORE_V_TEXT(g->spend_key ? g->spend_key : "")};
        if (!rc && g->spend_sql) rc = store_exec(c, g->spend_sql, key, 1, &spent, err);
        if (!rc && spent != 1) rc = socle_err_set(err, SOCLE_ECONFLICT, "already used");
        if (!rc)
            rc = store_exec(c,
                            "INSERT INTO psc_refresh (token_hash, family, client_id, idnps, scope, amr, auth_time, expires, state)"
                            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                            p, 9, NULL, err);
        if (!rc) rc = store_tx_commit(c, err);
        else store_tx_rollback(c);
    }
    if (!rc)
        *out = json_pack("{s:s, s:s, s:I, s:s, s:s, s:s}", "access_token", access, "token_type", "Bearer", "expires_in",
                         (json_int_t)svc->access_ttl_s, "id_token", id_token, "refresh_token", refresh, "scope",
                         g->access_scope ? g->access_scope : g->scope);
    free(access);
    free(id_token);
    json_decref(claims);
    return rc;
}

/* Revoke every refresh token of a family (a replayed code or refresh token). */
static void revoke_family(store_conn *c, const char *family)
{
    socle_err e;
    store_value p[1] = {STORE_V_TEXT(family)};
    store_exec(c, "UPDATE psc_refresh SET state = 2 WHERE family = $1", p, 1, NULL, &e);
}

/* A code presented again: what it gave is revoked (RFC 6749 §4.1.2). */
static void code_replayed(psc_service *svc, http_request *req, http_response *res, store_conn *c,
                          const psc_client *client, const grant *g)
{
    revoke_family(c, g->family);
    psc_audit(svc, req, "token", "failure", g->idnps, client->id, "authorization code replayed");
    psc_oauth_error(req, res, 400, "invalid_grant", "authorization code already used");
}

static void grant_code(psc_service *svc, http_request *req, http_response *res, store_conn *c, const psc_client *client,
                       const http_param *f, int n)
{
    const char *code = psc_param(f, n, "code"), *redirect_uri = psc_param(f, n, "redirect_uri");
    const char *verifier = psc_param(f, n, "code_verifier");
    if (!code || !redirect_uri || !verifier) {
        psc_oauth_error(req, res, 400, "invalid_request", "code, redirect_uri and code_verifier are required");
        return;
    }
    char hash[65];
    psc_hash_hex(code, hash);
    socle_err err;
    store_rows *r = NULL;
    store_value p[1] = {STORE_V_TEXT(hash)};
    if (store_query(c,
                    "SELECT client_id, idnps, redirect_uri, scope, nonce, code_challenge, amr, auth_time, expires, used"
                    " FROM psc_code WHERE code_hash = $1",
                    p, 1, &r, &err)) {
        psc_oauth_error(req, res, 500, "server_error", "store unavailable");
        return;
    }
    int found = store_rows_next(r, &err) == 1;
    arena *a = req->arena;
    const char *cid = found ? arena_strdup(a, store_rows_text(r, 0, NULL)) : NULL;
    grant g = {.family = arena_strdup(a, hash)};
    const char *stored_redirect = NULL, *challenge = NULL;
    int64_t expires = 0, used = 0;
    if (found) {
        g.idnps = arena_strdup(a, store_rows_text(r, 1, NULL));
        stored_redirect = arena_strdup(a, store_rows_text(r, 2, NULL));
        g.scope = arena_strdup(a, store_rows_text(r, 3, NULL));
        g.nonce = arena_strdup(a, store_rows_text(r, 4, NULL));
        challenge = arena_strdup(a, store_rows_text(r, 5, NULL));
        g.amr = arena_strdup(a, store_rows_text(r, 6, NULL));
        g.auth_time = store_rows_int(r, 7);
        expires = store_rows_int(r, 8);
        used = store_rows_int(r, 9);
    }
    store_rows_free(r);
    if (!found || strcmp(cid, client->id)) {
        psc_oauth_error(req, res, 400, "invalid_grant", "unknown authorization code");
        return;
    }
    static const char spend[] = "UPDATE psc_code SET used = 1 WHERE code_hash = $1 AND used = 0";
    if (used) {
        code_replayed(svc, req, res, c, client, &g);
        return;
    }
    uint8_t h[32];
    char computed[48];
    crypto_sha256(verifier, strlen(verifier), h);
    crypto_b64url_encode(h, 32, computed);
    const char *problem = NULL;
    if (expires < (int64_t)time(NULL)) problem = "authorization code expired";
    else if (strcmp(stored_redirect, redirect_uri)) problem = "redirect_uri differs from the authorization request";
    else if (strlen(verifier) < 43 || strlen(verifier) > 128 ||
             strspn(verifier, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~") != strlen(verifier) ||
             strlen(challenge) != strlen(computed) ||
             !crypto_equal(computed, challenge, strlen(computed)))
        problem = "PKCE: code_verifier does not match the code_challenge";
    if (problem) {
        /* A failed exchange spends the code too: it is good for one attempt. */
        int64_t changed = 0;
        store_exec_relaxed(c, spend, p, 1, &changed, &err); /* survives a crash of the process, no fsync */
        psc_oauth_error(req, res, 400, "invalid_grant", problem);
        return;
    }
    json_t *out = NULL;
    g.spend_sql = spend;
    g.spend_key = hash;
    int rc = issue_tokens(svc, req, c, client, &g, &out, &err);
    if (rc == SOCLE_ECONFLICT) { /* another request took the code meanwhile */
        code_replayed(svc, req, res, c, client, &g);
        return;
    }
    if (rc) {
        psc_oauth_error(req, res, rc == SOCLE_EUNPROCESSABLE ? 400 : 500, rc == SOCLE_EUNPROCESSABLE ? "invalid_grant" : "server_error", err.msg);
        return;
    }
    psc_audit(svc, req, "token", "success", g.idnps, client->id, "authorization_code");
    psc_json(req, res, 200, out);
}

/* A rotated refresh token used again: the whole family is revoked (OAuth 2.0 Security BCP). */
static void refresh_reused(psc_service *svc, http_request *req, http_response *res, store_conn *c,
                           const psc_client *client, const grant *g)
{
    revoke_family(c, g->family);
    psc_audit(svc, req, "token", "failure", g->idnps, client->id, "refresh token reused: family revoked");
    psc_oauth_error(req, res, 400, "invalid_grant", "refresh token already used: all tokens of this login are revoked");
}

static void grant_refresh(psc_service *svc, http_request *req, http_response *res, store_conn *c,
                          const psc_client *client, const http_param *f, int n)
{
    const char *token = psc_param(f, n, "refresh_token"), *scope = psc_param(f, n, "scope");
    if (!token) {
        psc_oauth_error(req, res, 400, "invalid_request", "refresh_token is required");
        return;
    }
    char hash[65];
    psc_hash_hex(token, hash);
    socle_err err;
    store_rows *r = NULL;
    store_value p[1] = {STORE_V_TEXT(hash)};
    if (store_query(c, "SELECT family, client_id, idnps, scope, amr, auth_time, expires, state FROM psc_refresh WHERE token_hash = $1",
                    p, 1, &r, &err)) {
        psc_oauth_error(req, res, 500, "server_error", "store unavailable");
        return;
    }
    arena *a = req->arena;
    int found = store_rows_next(r, &err) == 1;
    grant g = {0};
    const char *cid = NULL;
    int64_t expires = 0, state = 0;
    if (found) {
        g.family = arena_strdup(a, store_rows_text(r, 0, NULL));
        cid = arena_strdup(a, store_rows_text(r, 1, NULL));
        g.idnps = arena_strdup(a, store_rows_text(r, 2, NULL));
        g.scope = arena_strdup(a, store_rows_text(r, 3, NULL));
        g.amr = arena_strdup(a, store_rows_text(r, 4, NULL));
        g.auth_time = store_rows_int(r, 5);
        expires = store_rows_int(r, 6);
        state = store_rows_int(r, 7);
    }
    store_rows_free(r);
    if (!found || strcmp(cid, client->id)) {
        psc_oauth_error(req, res, 400, "invalid_grant", "unknown refresh token");
        return;
    }
    if (state == 2) {
        psc_oauth_error(req, res, 400, "invalid_grant", "refresh token revoked");
        return;
    }
    /* A bad scope is refused before rotation, so the client keeps its unused refresh token (a used
     * one goes on to the reuse detection below). */
    if (state == 0 && scope && (!psc_scope_subset(scope, g.scope) || !psc_list_has(scope, ' ', "openid"))) {
        psc_oauth_error(req, res, 400, "invalid_scope", "a refresh cannot widen the scope (and keeps openid)");
        return;
    }
    if (state != 0) {
        refresh_reused(svc, req, res, c, client, &g);
        return;
    }
    /* A login lasts at most psc_refresh_ttl_s however often it is refreshed. */
    if (expires < (int64_t)time(NULL) || g.auth_time + svc->refresh_ttl_s < (int64_t)time(NULL)) {
        psc_oauth_error(req, res, 400, "invalid_grant", "refresh token expired");
        return;
    }
    g.access_scope = scope; /* the new refresh token keeps g.scope */
    g.spend_sql = "UPDATE psc_refresh SET state = 1 WHERE token_hash = $1 AND state = 0"; /* rotation */
    g.spend_key = hash;
    json_t *out = NULL;
    int rc = issue_tokens(svc, req, c, client, &g, &out, &err);
    if (rc == SOCLE_ECONFLICT) { /* another request rotated it meanwhile */
        refresh_reused(svc, req, res, c, client, &g);
        return;
    }
    if (rc) {
        if (rc == SOCLE_EUNPROCESSABLE) revoke_family(c, g.family);
        psc_oauth_error(req, res, rc == SOCLE_EUNPROCESSABLE ? 400 : 500, rc == SOCLE_EUNPROCESSABLE ? "invalid_grant" : "server_error", err.msg);
        return;
    }
    psc_audit(svc, req, "token", "success", g.idnps, client->id, "refresh_token");
    psc_json(req, res, 200, out);
}

int psc_client_request(psc_service *svc, http_request *req, http_response *res, http_param **f, int *n,
                       store_conn **c, psc_client *client)
{
    socle_err err;
    *c = NULL;
    if (psc_form(req, f, n, &err)) {
        psc_oauth_error(req, res, 400, "invalid_request", err.msg);
        return -1;
    }
    if (store_acquire(svc->app->store, c, &err)) {
        *c = NULL;
        psc_oauth_error(req, res, 503, "temporarily_unavailable", "store unavailable");
        return -1;
    }
    int rc = authenticate_client(svc, req, *c, *f, *n, client, &err);
    if (!rc) return 0;
    int refused = rc == SOCLE_EUNAUTHORIZED;
    if (refused) psc_audit(svc, req, "client-authentication", "failure", NULL, NULL, err.msg);
    psc_oauth_error(req, res, refused ? 401 : 500, refused ? "invalid_client" : "server_error",
                    refused ? err.msg : "store unavailable");
    store_release(svc->app->store, *c);
    *c = NULL;
    return -1;
}

void psc_token_route(void *ctx, http_request *req, http_response *res)
{
    psc_service *svc = ctx;
    http_param *f;
    int n;
    store_conn *c;
    psc_client client;
    if (psc_client_request(svc, req, res, &f, &n, &c, &client)) return;
    const char *grant_type = psc_param(f, n, "grant_type");
    if (!grant_type) {
        psc_oauth_error(req, res, 400, "invalid_request", "grant_type is required");
    } else if (!strcmp(grant_type, "authorization_code")) {
        grant_code(svc, req, res, c, &client, f, n);
    } else if (!strcmp(grant_type, "refresh_token")) {
        grant_refresh(svc, req, res, c, &client, f, n);
    } else {
        psc_oauth_error(req, res, 400, "unsupported_grant_type", "authorization_code and refresh_token are supported");
    }
    store_release(svc->app->store, c);
}
