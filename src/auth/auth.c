/* auth.c - NAME
 *      auth - who is calling, and whether they may.
 * SUMMARY
 *      Subjects and their names; the rest of the module is token.c (issue), verify.c (bearer
 *      verification), cache.c (verified-token cache) and policy.c (the decision function).
 * DESCRIPTION
 *      A request is authenticated once by auth_verify_bearer(), which yields an auth_subject (kind,
 *      sub, profession, structure, roles); every access is then decided by auth_policy_decide()
 *      from that subject, the action and the target. Services add rules, never bypass them.
 * CONFIGURATION
 *      issuer, audience, trusted_issuers, token_cache_entries.
 * BUGS
 *      No token revocation list: a token stays valid until its exp (keep lifetimes short).
 *      JWKS files are read at startup only; rotating a trusted issuer's keys needs a restart.
 * SEE ALSO
 *      auth.h, crypto/crypto.h.
 */
#include <string.h>

#include "auth/auth.h"

const char *auth_kind_name(auth_kind k)
{
    switch (k) {
    case AUTH_KIND_PROFESSIONAL:
        return "professional";
    case AUTH_KIND_PATIENT:
        return "patient";
    case AUTH_KIND_SYSTEM:
        return "system";
    case AUTH_KIND_NONE:
        break;
    }
    return "none";
}

auth_kind auth_kind_parse(const char *s)
{
    if (!s) return AUTH_KIND_NONE;
    if (!strcmp(s, "professional")) return AUTH_KIND_PROFESSIONAL;
    if (!strcmp(s, "patient")) return AUTH_KIND_PATIENT;
    if (!strcmp(s, "system")) return AUTH_KIND_SYSTEM;
    return AUTH_KIND_NONE;
}

int auth_has_role(const auth_subject *s, const char *role)
{
    for (int i = 0; s && i < s->nroles && i < AUTH_MAX_ROLES; i++)
        if (!strcmp(s->roles[i], role)) return 1;
    return 0;
}

const char *auth_action_name(auth_action a)
{
    switch (a) {
    case AUTH_ACTION_READ:
        return "read";
    case AUTH_ACTION_SEARCH:
        return "search";
    case AUTH_ACTION_CREATE:
        return "create";
    case AUTH_ACTION_UPDATE:
        return "update";
    case AUTH_ACTION_DELETE:
        return "delete";
    case AUTH_ACTION_HISTORY:
        return "history";
    case AUTH_ACTION_OPERATION:
        return "operation";
    }
    return "unknown";
}
