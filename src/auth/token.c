/* token.c - issuing tokens signed by the server key (the `socle token issue` command, the demo
 * token, and later the OIDC provider). The claims issued are exactly those verify.c accepts, and
 * the same size limits apply, so an issued token always verifies. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth_internal.h"
#include "base/ids.h"
#include "base/timeutil.h"

static int token_str_ok(const char *s, size_t room, int required)
{
    if (!s) return !required;
    size_t n = strlen(s);
    return n < room && (n > 0 || !required);
}

int auth_token_issue(const crypto_key *key, const auth_token_request *req, char **out, socle_err *err)
{
    *out = NULL;
    auth_subject limits;
    if (!token_str_ok(req->sub, sizeof limits.sub, 1))
        return socle_err_set(err, SOCLE_EINVAL, "token sub missing or too long");
    if (auth_kind_parse(auth_kind_name(req->kind)) == AUTH_KIND_NONE)
        return socle_err_set(err, SOCLE_EINVAL, "token kind must be professional, patient or system");
    if (!token_str_ok(req->issuer, sizeof limits.issuer, 1) || !token_str_ok(req->audience, 1024, 1))
        return socle_err_set(err, SOCLE_EINVAL, "token issuer and audience are required");
    if (!token_str_ok(req->profession, sizeof limits.profession, 0))
        return socle_err_set(err, SOCLE_EINVAL, "token profession too long");
    if (!token_str_ok(req->structure, sizeof limits.structure, 0))
        return socle_err_set(err, SOCLE_EINVAL, "token structure too long");
    if (req->nroles < 0 || req->nroles > AUTH_MAX_ROLES)
        return socle_err_set(err, SOCLE_EINVAL, "a token carries at most %d roles", AUTH_MAX_ROLES);
    for (int i = 0; i < req->nroles; i++)
        if (!token_str_ok(req->roles[i], sizeof limits.roles[0], 1))
            return socle_err_set(err, SOCLE_EINVAL, "token role %d empty or too long", i + 1);
    if (req->ttl_seconds < 0 || req->ttl_seconds > 10LL * 366 * 86400)
        return socle_err_set(err, SOCLE_EINVAL, "token lifetime out of range");

    int64_t now = time_now_ms() / 1000, ttl = req->ttl_seconds ? req->ttl_seconds : 3600;
    char jti[40];
    json_t *c = json_object(), *roles = json_array();
    int bad = !c || !roles;
    bad |= json_object_set_new(c, "iss", json_string(req->issuer));
    bad |= json_object_set_new(c, "sub", json_string(req->sub));
    bad |= json_object_set_new(c, "aud", json_string(req->audience));
    bad |= json_object_set_new(c, "iat", json_integer(now));
    bad |= json_object_set_new(c, "exp", json_integer(now + ttl));
    bad |= json_object_set_new(c, "jti", json_string(id_uuid(jti)));
    bad |= json_object_set_new(c, "socle_kind", json_string(auth_kind_name(req->kind)));
    if (req->profession && *req->profession)
        bad |= json_object_set_new(c, "profession", json_string(req->profession));
    if (req->structure && *req->structure)
        bad |= json_object_set_new(c, "structure", json_string(req->structure));
    for (int i = 0; i < req->nroles; i++)
        bad |= json_array_append_new(roles, json_string(req->roles[i]));
    bad |= json_object_set(c, "roles", roles);
    json_decref(roles);
    /* json_string() refuses invalid UTF-8: that shows up here as a failed set. */
    char *payload = bad ? NULL : json_dumps(c, JSON_COMPACT);
    json_decref(c);
    if (!payload) return socle_err_set(err, SOCLE_EINVAL, "token claims are not valid UTF-8 strings");
    int rc = crypto_jws_sign(key, payload, out, err);
    free(payload);
    return rc;
}
