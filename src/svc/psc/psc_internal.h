/* psc_internal.h - shared by the files of the Pro Santé Connect service (src/svc/psc/ only): the
 * service record, the tables, OAuth error answers, forms and HTML pages. */
#ifndef SOCLE_SVC_PSC_INTERNAL_H
#define SOCLE_SVC_PSC_INTERNAL_H

#include <jansson.h>
#include <stdint.h>

#include "auth/auth.h"
#include "net/http.h"
#include "rest/rest.h"
#include "svc/psc/psc.h"

typedef struct psc_claims_cache psc_claims_cache;

struct psc_service {
    socle_app *app;
    crypto_key *rsa_key;            /* RS256 ID tokens */
    char issuer[600];               /* public_url + "/oidc" */
    char *discovery;                /* the openid-configuration JSON */
    char *jwks;                     /* both public keys */
    int64_t code_ttl_s, access_ttl_s, refresh_ttl_s;
    int max_failures;
    int64_t quiet_s;                /* failures and level forgotten this long after the last one or lockout */
    psc_claims_cache *claims_cache; /* NULL when psc_claims_cache_s is 0 */
};

/* ---- tables (store.c) ---- */
int psc_migrate(store *s, socle_err *err);

/* A registered client (relying party). */
typedef struct psc_client {
    char id[128];
    char name[128];
    char auth_method[32];           /* client_secret_basic | client_secret_post | private_key_jwt */
    char secret_hash[65];           /* hex SHA-256 of the secret ("" for private_key_jwt) */
    const char *redirect_uris;      /* newline-separated, in the arena */
    const char *logout_uris;        /* newline-separated post-logout redirect URIs */
    const char *scopes;             /* space-separated allowed scopes */
    const char *jwks;               /* the client's public JWKS (private_key_jwt), or "" */
    char id_token_alg[8];           /* ES256 | RS256 */
    int patient_realm;              /* 1: logs patients in (password + TOTP), 0: professionals */
} psc_client;

/* psc_client_load - the client, SOCLE_ENOTFOUND when unknown. Strings live in a. */
int psc_client_load(store_conn *c, const char *client_id, arena *a, psc_client *out, socle_err *err);
/* psc_list_has - 1 when `item` is one of the sep-separated entries of list (exact match). */
int psc_list_has(const char *list, char sep, const char *item);
/* psc_scope_subset - 1 when asked (space-separated, any length) names at least one scope and
 * every one of them is in allowed (space-separated); 0 otherwise. */
int psc_scope_subset(const char *asked, const char *allowed);

/* ---- claims cache (cache.c) ---- */
/* psc_claims_cache_new - a cache of ttl_s seconds (*out NULL when ttl_s <= 0). 0 or SOCLE_ENOMEM. */
int psc_claims_cache_new(int64_t ttl_s, psc_claims_cache **out);
void psc_claims_cache_free(psc_claims_cache *k);
/* psc_claims_get - the professional's claims JSON (compact text in a), from the cache or built
 * (psc_claims_build, whose errors it returns). */
int psc_claims_get(psc_service *svc, store_conn *c, const char *idnps, arena *a, const char **text, size_t *len,
                   socle_err *err);
/* psc_claims_get_json - the same claims parsed: a new reference (json_decref it) to an object the
 * cache may share with other threads, so read it, never change it. */
int psc_claims_get_json(psc_service *svc, store_conn *c, const char *idnps, arena *a, json_t **claims, socle_err *err);

/* ---- e-CPS (ecps.c) ---- */
/* psc_in_directory - 0 when idnps is an active Practitioner of the directory (active true, the
 * rule of psc_practitioner_active), SOCLE_ENOTFOUND otherwise (also deleted ones). */
int psc_in_directory(store_conn *c, const char *idnps, socle_err *err);
/* psc_ecps_check - verify a TOTP code of idnps (replay-protected, the step is stored). 0, or
 * SOCLE_EUNAUTHORIZED (wrong code, or no activated e-CPS). */
int psc_ecps_check(store_conn *c, const char *idnps, const char *code, socle_err *err);

/* ---- brute force (throttle.c) ---- */
/* psc_throttle_check - SOCLE_EBUSY with the seconds to wait in *retry_s when key is locked. A
 * read: it refuses early, before any work, but decides nothing for attempts running alongside. */
int psc_throttle_check(store_conn *c, const char *key, int64_t *retry_s, socle_err *err);
/* psc_throttle_fail - count a failure of key, in one step with the check of its lockout: 0 when
 * counted; SOCLE_EBUSY with the seconds to wait in *retry_s, nothing counted, when the key is
 * locked (another attempt reached the limit meanwhile: refuse this one as locked). Locks the key
 * (growing: 30 s doubling, at most 1 h) once max failures are reached; counts and level are
 * forgotten first when the key has had no failure for quiet_s seconds since its last failure or
 * the end of its last lockout. */
int psc_throttle_fail(store_conn *c, const char *key, int max_failures, int64_t quiet_s, int64_t *retry_s,
                      socle_err *err);
/* psc_throttle_clear - forget key's failures (after a success). */
int psc_throttle_clear(store_conn *c, const char *key, socle_err *err);
/* psc_throttle_address_key - the throttle key of a client address into out (n bytes, 64 are
 * enough): "addr:" + the IPv4 address, or + the /64 prefix of an IPv6 address. */
void psc_throttle_address_key(const char *addr, char *out, size_t n);

/* ---- answers (web.c) ---- */
/* psc_oauth_error - a JSON OAuth error {error, error_description} with status, no-store. */
void psc_oauth_error(http_request *req, http_response *res, int status, const char *error, const char *description);
/* psc_json - a JSON answer (taken), no-store. */
void psc_json(http_request *req, http_response *res, int status, json_t *body);
/* psc_redirect - 302 to url. */
void psc_redirect(http_request *req, http_response *res, const char *url);
/* psc_html_page - an HTML page: title and body (already escaped HTML). */
void psc_html_page(http_request *req, http_response *res, int status, const char *title, const char *body_html);
/* psc_html_escape - s escaped for HTML text and attribute values, in the arena. */
const char *psc_html_escape(arena *a, const char *s);
/* psc_url_append - url + ('?' or '&') + name=value pairs (NULL-terminated list, values encoded). */
const char *psc_url_append(arena *a, const char *url, ...);
/* psc_form - the parameters of a POSTed form (application/x-www-form-urlencoded) or of the query
 * for GET; SOCLE_EINVAL when malformed or a parameter is repeated. */
int psc_form(http_request *req, http_param **params, int *n, socle_err *err);
/* psc_param - the value of name among params, or NULL. */
const char *psc_param(const http_param *params, int n, const char *name);
/* psc_random_token - a random 32-byte base64url string (43 characters) into out (44 bytes). */
void psc_random_token(char out[44]);
/* psc_hash_hex - hex SHA-256 of s into out (65 bytes). */
void psc_hash_hex(const char *s, char out[65]);
/* psc_audit - one audit event of the login service (action: login, logout, token, ...). */
void psc_audit(psc_service *svc, http_request *req, const char *action, const char *outcome, const char *who,
               const char *client_id, const char *detail);

/* psc_activation_code_new - a one-time activation code for people to type ("ABCD-EFGH-IJKL-MNOP",
 * 80 bits) into code, and the hash to store. */
void psc_activation_code_new(char code[20], char hash[65]);
/* psc_activation_code_hash - the stored hash of a code as typed (case, spaces and dashes ignored). */
void psc_activation_code_hash(const char *typed, char hash[65]);
/* The TOTP parameters of both apps (e-CPS and the patients'): RFC 6238 SHA-1, 6 digits, 30 s, one
 * step of tolerance either side. */
#define PSC_TOTP_DIGITS 6
#define PSC_TOTP_STEP 30
#define PSC_TOTP_WINDOW 1
/* psc_totp_matches - 1 when code is a fresh (step > last_step) TOTP code of the base32 key, with
 * its step in *step; the caller stores the step with a conditional UPDATE (good once, every node). */
int psc_totp_matches(const char *b32, int64_t last_step, const char *code, int64_t *step);
/* psc_totp_key_page - the page that shows a new TOTP key once (base32 and otpauth URI; SHA-1, 6
 * digits, 30 s). */
void psc_totp_key_page(http_request *req, http_response *res, const char *title, const char *issuer,
                       const char *account, const char *b32);
/* psc_audit_as - the same with the agent's kind ("professional", "patient", "anonymous"). */
void psc_audit_as(psc_service *svc, http_request *req, const char *kind, const char *action, const char *outcome,
                  const char *who, const char *client_id, const char *detail);

/* ---- patient realm (patient.c) ---- */
/* psc_patient_identity - the identity claims of the patient ins for who (the patient itself),
 * decided by the policy engine and audited as a read of that Patient. SOCLE_ENOTFOUND (no open
 * account), SOCLE_EFORBIDDEN. */
int psc_patient_identity(psc_service *svc, http_request *req, store_conn *c, const char *ins, const auth_subject *who,
                         arena *a, json_t **claims, socle_err *err);
/* psc_patient_rule - the policy rule of the patient realm ("psc-patient"). */
int psc_patient_rule(void *ctx, const auth_subject *s, auth_action a, const auth_target *t, char *reason, size_t len);

/* psc_client_request - the prologue of the client endpoints (token, revoke): the form, a store
 * connection and the client's authentication. 0, or -1 when the answer (400, 401, 503) is already
 * written and nothing is held. */
int psc_client_request(psc_service *svc, http_request *req, http_response *res, http_param **f, int *n,
                       store_conn **c, psc_client *client);

/* ---- endpoints ---- */
void psc_discovery_route(void *ctx, http_request *req, http_response *res);
void psc_jwks_route(void *ctx, http_request *req, http_response *res);
void psc_authorize_route(void *ctx, http_request *req, http_response *res);
void psc_login_route(void *ctx, http_request *req, http_response *res);
void psc_login_cps_route(void *ctx, http_request *req, http_response *res);
void psc_login_patient_route(void *ctx, http_request *req, http_response *res);
void psc_token_route(void *ctx, http_request *req, http_response *res);
void psc_userinfo_route(void *ctx, http_request *req, http_response *res);
void psc_revoke_route(void *ctx, http_request *req, http_response *res);
void psc_logout_route(void *ctx, http_request *req, http_response *res);
void psc_ecps_page_route(void *ctx, http_request *req, http_response *res);
void psc_ecps_activate_route(void *ctx, http_request *req, http_response *res);
/* psc_discovery_build - the openid-configuration and JWKS documents (at open). */
int psc_discovery_build(psc_service *svc, socle_err *err);

#endif
