/* discovery.c - OpenID Connect Discovery 1.0 (the provider's metadata) and the JWKS of the keys
 * that sign ID tokens (ES256: the server key; RS256: psc_rsa_key). Built once at startup. */
#include <string.h>

#include "crypto/crypto.h"
#include "svc/psc/psc_internal.h"

static json_t *string_list(const char *const *items)
{
    json_t *a = json_array();
    for (; *items; items++) json_array_append_new(a, json_string(*items));
    return a;
}

int psc_discovery_build(psc_service *svc, socle_err *err)
{
    const char *i = svc->issuer;
    char url[8][700];
    static const char *const paths[] = {"/auth", "/token", "/userinfo", "/certs", "/logout", "/revoke"};
    for (int k = 0; k < 6; k++) snprintf(url[k], sizeof url[k], "%s%s", i, paths[k]);
    json_t *d = json_object();
#define STR(k, v) json_object_set_new(d, k, json_string(v))
#define LIST(k, ...) json_object_set_new(d, k, string_list((const char *[]){__VA_ARGS__, NULL}))
#define FLAG(k, v) json_object_set_new(d, k, json_boolean(v))
    STR("issuer", i);
    STR("authorization_endpoint", url[0]);
    STR("token_endpoint", url[1]);
    STR("userinfo_endpoint", url[2]);
    STR("jwks_uri", url[3]);
    STR("end_session_endpoint", url[4]);
    STR("revocation_endpoint", url[5]);
    LIST("response_types_supported", "code");
    LIST("response_modes_supported", "query");
    LIST("grant_types_supported", "authorization_code", "refresh_token");
    LIST("subject_types_supported", "public");
    LIST("id_token_signing_alg_values_supported", "ES256", "RS256");
    LIST("token_endpoint_auth_methods_supported", "client_secret_basic", "client_secret_post", "private_key_jwt");
    LIST("token_endpoint_auth_signing_alg_values_supported", "ES256", "RS256");
    LIST("revocation_endpoint_auth_methods_supported", "client_secret_basic", "client_secret_post", "private_key_jwt");
    LIST("scopes_supported", "openid", "scope_all");
    LIST("code_challenge_methods_supported", "S256");
    LIST("acr_values_supported", "eidas1");
    LIST("claims_supported", "sub", "acr", "amr", "auth_time", "preferred_username", "SubjectNameID", "given_name",
         "family_name", "email", "SubjectRefPro", "SubjectOrganization", "SubjectOrganizationID", "SubjectRole",
         "Secteur_Activite", "otherIds");
    FLAG("authorization_response_iss_parameter_supported", 1);
    FLAG("claims_parameter_supported", 0);
    FLAG("request_parameter_supported", 0);
    FLAG("request_uri_parameter_supported", 0);
#undef STR
#undef LIST
#undef FLAG
    svc->discovery = d ? json_dumps(d, JSON_COMPACT) : NULL;
    json_decref(d);
    char *ec = crypto_key_public_jwk(svc->app->signing_key), *rsa = svc->rsa_key ? crypto_key_public_jwk(svc->rsa_key) : NULL;
    size_t len = (ec ? strlen(ec) : 0) + (rsa ? strlen(rsa) : 0) + 32;
    svc->jwks = ec ? malloc(len) : NULL;
    if (svc->jwks) snprintf(svc->jwks, len, "{\"keys\":[%s%s%s]}", ec, rsa ? "," : "", rsa ? rsa : "");
    free(ec);
    free(rsa);
    if (!svc->discovery || !svc->jwks) return socle_err_set(err, SOCLE_ENOMEM, "out of memory");
    return 0;
}

static void static_json(http_request *req, http_response *res, const char *text)
{
    res->content_type = "application/json";
    buf_puts(&res->body, text);
    http_set_header(req, res, "Cache-Control", "public, max-age=300");
    http_set_header(req, res, "Access-Control-Allow-Origin", "*");
}

void psc_discovery_route(void *ctx, http_request *req, http_response *res)
{
    static_json(req, res, ((psc_service *)ctx)->discovery);
}

void psc_jwks_route(void *ctx, http_request *req, http_response *res)
{
    static_json(req, res, ((psc_service *)ctx)->jwks);
}
