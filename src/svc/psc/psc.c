/* psc.c - the Pro Santé Connect service's life cycle and routes (see psc.h for the manual). */
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "svc/psc/patient.h"
#include "svc/psc/psc_internal.h"

#define PSC_RSA_BITS 2048

int psc_open(socle_app *app, psc_service **out, socle_err *err)
{
    *out = NULL;
    psc_service *svc = calloc(1, sizeof *svc);
    if (!svc) return socle_err_set(err, SOCLE_ENOMEM, "out of memory");
    svc->app = app;
    snprintf(svc->issuer, sizeof svc->issuer, "%s/oidc", app->public_url);
    svc->code_ttl_s = config_get_int(app->config, "psc_code_ttl_s", 60);
    svc->access_ttl_s = config_get_int(app->config, "psc_access_ttl_s", 600);
    svc->refresh_ttl_s = config_get_int(app->config, "psc_refresh_ttl_s", 43200);
    svc->max_failures = (int)config_get_int(app->config, "psc_login_max_failures", 5);
    svc->quiet_s = config_get_int(app->config, "psc_login_quiet_s", 900);
    int rc = psc_claims_cache_new(config_get_int(app->config, "psc_claims_cache_s", 30), &svc->claims_cache)
                 ? socle_err_set(err, SOCLE_ENOMEM, "out of memory")
                 : 0;
    if (!rc) rc = psc_migrate(app->store, err);
    if (!rc) rc = psc_patient_migrate(app->store, err);
    if (!rc && auth_policy_add_rule(app->policy, "psc-patient", psc_patient_rule, svc))
        rc = socle_err_set(err, SOCLE_EINTERNAL, "cannot add the patient realm's policy rule");
    if (!rc) rc = crypto_key_load_or_create_rsa(config_get(app->config, "psc_rsa_key"), PSC_RSA_BITS, &svc->rsa_key, err);
    if (!rc) rc = psc_discovery_build(svc, err);
    if (rc) {
        psc_close(svc);
        return rc;
    }
    *out = svc;
    return 0;
}

int psc_register(psc_service *svc, http_router *r)
{
    int rc = http_route(r, "GET", "/.well-known/openid-configuration", "oidc.discovery", psc_discovery_route, svc);
    if (!rc) rc = http_route(r, "GET", "/oidc/.well-known/openid-configuration", "oidc.discovery", psc_discovery_route, svc);
    if (!rc) rc = http_route(r, "GET", "/oidc/certs", "oidc.jwks", psc_jwks_route, svc);
    if (!rc) rc = http_route(r, "GET", "/oidc/auth", "oidc.authorize", psc_authorize_route, svc);
    if (!rc) rc = http_route(r, "POST", "/oidc/auth", "oidc.authorize", psc_authorize_route, svc);
    if (!rc) rc = http_route(r, "POST", "/oidc/login", "oidc.login", psc_login_route, svc);
    if (!rc) rc = http_route(r, "POST", "/oidc/login/cps", "oidc.login_cps", psc_login_cps_route, svc);
    if (!rc) rc = http_route(r, "POST", "/oidc/token", "oidc.token", psc_token_route, svc);
    if (!rc) rc = http_route(r, "GET", "/oidc/userinfo", "oidc.userinfo", psc_userinfo_route, svc);
    if (!rc) rc = http_route(r, "POST", "/oidc/userinfo", "oidc.userinfo", psc_userinfo_route, svc);
    if (!rc) rc = http_route(r, "POST", "/oidc/revoke", "oidc.revoke", psc_revoke_route, svc);
    if (!rc) rc = http_route(r, "GET", "/oidc/logout", "oidc.logout", psc_logout_route, svc);
    if (!rc) rc = http_route(r, "POST", "/oidc/logout", "oidc.logout", psc_logout_route, svc);
    if (!rc) rc = http_route(r, "GET", "/oidc/ecps", "oidc.ecps", psc_ecps_page_route, svc);
    if (!rc) rc = http_route(r, "POST", "/oidc/ecps/activate", "oidc.ecps_activate", psc_ecps_activate_route, svc);
    if (!rc) rc = http_route(r, "POST", "/oidc/login/patient", "oidc.login_patient", psc_login_patient_route, svc);
    if (!rc) rc = http_route(r, "GET", "/oidc/patient/activate", "oidc.patient", psc_patient_activate_page_route, svc);
    if (!rc)
        rc = http_route(r, "POST", "/oidc/patient/activate", "oidc.patient_activate", psc_patient_activate_route, svc);
    /* userinfo only reads; the authorization endpoint stores a code and logout ends a session
     * (durable commits) even when called with GET. */
    if (!rc) rc = http_route_pool(r, "oidc.userinfo", 0);
    if (!rc) rc = http_route_pool(r, "oidc.authorize", 1);
    if (!rc) rc = http_route_pool(r, "oidc.logout", 1);
    return rc;
}

void psc_close(psc_service *svc)
{
    if (!svc) return;
    crypto_key_free(svc->rsa_key);
    psc_claims_cache_free(svc->claims_cache);
    free(svc->discovery);
    free(svc->jwks);
    free(svc);
}
