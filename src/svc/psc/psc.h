/* psc.h - Pro Santé Connect: socle's OpenID Connect provider for health professionals, at /oidc.
 *
 * NAME
 *      psc - discovery, JWKS, authorization code with PKCE, token, userinfo, revocation, logout;
 *      the CPS (client certificate) and e-CPS (TOTP) logins; client registration; e-CPS enrolment.
 * DESCRIPTION
 *      Issuer: public_url + "/oidc"; discovery at /oidc/.well-known/openid-configuration (and
 *      /.well-known/openid-configuration). Relying parties are registered by the operator
 *      (`socle oidc client add`) with exact redirect URIs, an authentication method
 *      (client_secret_basic, client_secret_post or private_key_jwt with the client's JWKS), the
 *      scopes they may ask and the ID token algorithm (ES256 or RS256).
 *      GET /oidc/auth checks the request (response_type code, PKCE S256 required, state, nonce)
 *      and shows the login page; nothing of the pending login is kept in memory: the page carries
 *      the request signed by the server key, so any node can finish it. A professional logs in with
 *      a TLS client certificate of the test PKI naming its IDNPS (the CPS card's stand-in, amr x509)
 *      or with IDNPS + a TOTP code of the e-CPS app (amr otp) enrolled by
 *      `socle psc enrol` (a one-time activation code) and /oidc/ecps. A password alone is never
 *      enough; a professional absent from the directory, or not marked active (an absent active
 *      is not enough), cannot log in. Both means
 *      are PSC's "substantial" level: acr eidas1.
 *      Codes (single use, psc_code_ttl_s), refresh tokens (rotated; a reused one revokes its
 *      family) and the replay cache of client assertions are in the store, hashed. Access tokens
 *      are the foundation's bearer tokens (kind professional, sub = IDNPS, profession, structure),
 *      so /fhir and every API accept them; ID tokens carry the PSC claims.
 *      Failed logins are counted per account and per address with growing lockouts; logins,
 *      failures, token grants and logouts are audited.
 * CONFIGURATION
 *      psc_code_ttl_s, psc_access_ttl_s, psc_refresh_ttl_s, psc_login_max_failures, psc_rsa_key.
 * SEE ALSO
 *      ../shared/spec/annuaire-psc.md; claims.h (the PSC claims from the directory).
 */
#ifndef SOCLE_SVC_PSC_PSC_H
#define SOCLE_SVC_PSC_PSC_H

#include "rest/rest.h"

typedef struct psc_service psc_service;

/* psc_open - migrate the tables, load or create the RS256 key, build discovery and JWKS. */
int psc_open(socle_app *app, psc_service **out, socle_err *err);
/* psc_register - add the /oidc routes. */
int psc_register(psc_service *svc, http_router *router);
/* psc_close - free. svc may be NULL. */
void psc_close(psc_service *svc);

/* A client to register. */
typedef struct psc_client_spec {
    const char *id;
    const char *name;               /* may be NULL */
    const char *auth_method;        /* client_secret_basic (default) | client_secret_post | private_key_jwt */
    const char *redirect_uris[16];
    int nredirect_uris;
    const char *logout_uris[16];    /* post_logout_redirect_uris */
    int nlogout_uris;
    const char *scopes;             /* space-separated; NULL: "openid scope_all" */
    const char *jwks;               /* private_key_jwt: the client's public JWKS JSON */
    const char *id_token_alg;       /* ES256 (default) | RS256 */
    const char *realm;              /* professional (default) | patient (Mon Espace Santé) */
} psc_client_spec;

/* psc_client_add - register (or replace) a client; for secret methods a new secret is written
 * into secret (44 bytes) — shown once, only its hash is kept. SOCLE_EINVAL naming what is wrong
 * (redirect URI not absolute https, or http only on loopback; fragment; unknown method...). */
int psc_client_add(store *s, const psc_client_spec *spec, char secret[44], socle_err *err);

/* psc_enrol - a one-time e-CPS activation code for idnps (valid 24 h) into code (20 bytes),
 * replacing any earlier enrolment. SOCLE_ENOTFOUND when the professional is not in the directory. */
int psc_enrol(store *s, const char *idnps, char code[20], socle_err *err);

#endif
