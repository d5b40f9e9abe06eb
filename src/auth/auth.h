/* auth.h - who is calling (bearer tokens) and whether they may (the policy engine).
 *
 * NAME
 *      auth - token issue and verification, subjects, and the one policy function.
 * SYNOPSIS
 *      auth_verifier_new() auth_verifier_free() auth_verify_bearer() auth_token_issue()
 *      auth_policy_new() auth_policy_add_rule() auth_policy_decide() auth_policy_add_foundation_rules()
 * DESCRIPTION
 *      Tokens are JWTs signed ES256 by the server key, or by an issuer listed in `trusted_issuers`
 *      (ES256 or RS256 keys from its JWKS file). Required claims: iss, sub, aud (must contain the
 *      configured audience), exp (strict); nbf and iat honoured when present (60 s clock skew). socle
 *      claims: "socle_kind" ("professional" | "patient" | "system"), "profession" (TRE_G15 code),
 *      "structure" (identifier of the structure the caller acts for), "roles" (array of strings),
 *      "jti". Pro Santé Connect tokens of a later issue carry these claims as well.
 *      Verification results are cached (keyed by SHA-256 of the token, bounded, entries expire with
 *      the token) so that the ES256 verification is paid once per token, not once per request;
 *      the cache is only an optimisation: every node verifies on its own.
 *
 *      The policy engine asks every registered rule in order. A rule answers ALLOW, DENY or
 *      ABSTAIN; any DENY wins, otherwise an ALLOW allows, otherwise access is denied (deny by
 *      default). Services register their own rules at startup; the set is immutable afterwards.
 * CONFIGURATION
 *      issuer, audience, trusted_issuers ("ISS=JWKS_PATH;ISS2=PATH2"), token_cache_entries.
 */
#ifndef SOCLE_AUTH_AUTH_H
#define SOCLE_AUTH_AUTH_H

#include <stddef.h>
#include <stdint.h>
#include "base/err.h"
#include "crypto/crypto.h"

typedef enum { AUTH_KIND_NONE = 0, AUTH_KIND_PROFESSIONAL, AUTH_KIND_PATIENT, AUTH_KIND_SYSTEM } auth_kind;

#define AUTH_MAX_ROLES 8

typedef struct auth_subject {
    auth_kind kind;
    char sub[128];          /* IDNPS/RPPS for professionals, INS matricule for patients, client id */
    char profession[16];    /* TRE_G15 profession code, "" if none */
    char structure[64];     /* the structure the caller acts for, "" if none */
    char issuer[256];
    char token_id[64];      /* jti, "" if none */
    char roles[AUTH_MAX_ROLES][32];
    int nroles;
    int64_t expires_ms;
} auth_subject;

/* The issuer recorded for callers authenticated by a TLS client certificate of the trusted CA
 * (rather than by a token). Such a "system" subject is software or an organisation known by its
 * certificate: services' rules may let it in, the foundation's all-powerful system rule does not. */
#define AUTH_ISSUER_CLIENT_CERT "tls-client-certificate"

/* auth_kind_name / auth_kind_parse - "professional", "patient", "system" (parse: AUTH_KIND_NONE on
 * unknown names). */
const char *auth_kind_name(auth_kind k);
auth_kind auth_kind_parse(const char *s);
/* auth_has_role - 1 if the subject carries that role. */
int auth_has_role(const auth_subject *s, const char *role);

typedef struct auth_verifier auth_verifier;

typedef struct auth_verifier_options {
    const crypto_key *server_key;  /* verifies tokens whose iss == issuer; not owned */
    const char *issuer;            /* this server's issuer name */
    const char *audience;          /* required in aud */
    const char *trusted_issuers;   /* "ISS=JWKS_PATH;..." or NULL */
    int cache_entries;             /* 0 = 65536 */
} auth_verifier_options;

int auth_verifier_new(const auth_verifier_options *opt, auth_verifier **out, socle_err *err);
void auth_verifier_free(auth_verifier *v);
/* auth_verify_bearer - check an Authorization header value ("Bearer <jwt>"). Thread-safe. On
 * failure returns SOCLE_EUNAUTHORIZED and a message fit for WWW-Authenticate's error_description
 * ("token expired", "bad signature", "wrong audience"...). */
int auth_verify_bearer(auth_verifier *v, const char *authorization, auth_subject *out, socle_err *err);
/* auth_verify_token - the same for a bare JWT. */
int auth_verify_token(auth_verifier *v, const char *jwt, auth_subject *out, socle_err *err);

typedef struct auth_token_request {
    auth_kind kind;
    const char *sub;
    const char *profession;   /* may be NULL */
    const char *structure;    /* may be NULL */
    const char *roles[AUTH_MAX_ROLES];
    int nroles;
    int64_t ttl_seconds;      /* 0 = 3600 */
    const char *issuer;
    const char *audience;
} auth_token_request;

/* auth_token_issue - sign a token for req with key; *out is malloc'ed. */
int auth_token_issue(const crypto_key *key, const auth_token_request *req, char **out, socle_err *err);

/* --- the policy engine --- */

typedef enum {
    AUTH_ACTION_READ = 1,     /* read / vread of one resource */
    AUTH_ACTION_SEARCH,       /* search (the rule sees the type; results are filtered per resource) */
    AUTH_ACTION_CREATE,
    AUTH_ACTION_UPDATE,
    AUTH_ACTION_DELETE,
    AUTH_ACTION_HISTORY,
    AUTH_ACTION_OPERATION     /* a named operation; auth_target.operation says which */
} auth_action;

const char *auth_action_name(auth_action a);

typedef struct auth_target {
    const char *resource_type;  /* FHIR type, or a service's object kind */
    const char *resource_id;    /* may be NULL (search, create) */
    const char *patient_id;     /* logical id of the Patient the data belongs to, NULL if none */
    const char *operation;      /* for AUTH_ACTION_OPERATION, else NULL */
    const void *resource;       /* the resource as a jansson json_t*, or NULL when not loaded */
    const void *context;        /* facts a service gathered for its own rules (e.g. the DMP's access
                                 * facts, svc/dmp/access.h), NULL otherwise; a rule only reads the
                                 * context of the types it owns */
} auth_target;

enum { AUTH_DENY = -1, AUTH_ABSTAIN = 0, AUTH_ALLOW = 1 };

typedef struct auth_decision {
    int allowed;          /* 1 or 0 */
    char rule[48];        /* the rule that decided, "default-deny" when none allowed */
    char reason[200];     /* why, for the audit trail and the OperationOutcome */
} auth_decision;

/* A rule returns AUTH_ALLOW, AUTH_DENY or AUTH_ABSTAIN, and may write a reason. */
typedef int (*auth_rule_fn)(void *ctx, const auth_subject *s, auth_action a, const auth_target *t,
                            char *reason, size_t reason_len);

typedef struct auth_policy auth_policy;

auth_policy *auth_policy_new(void);
void auth_policy_free(auth_policy *p);
/* auth_policy_add_rule - append a rule (name is copied). Only before the server starts serving. */
int auth_policy_add_rule(auth_policy *p, const char *name, auth_rule_fn fn, void *ctx);
/* auth_policy_decide - the one function that decides every access. Thread-safe. Can't fail. */
void auth_policy_decide(const auth_policy *p, const auth_subject *s, auth_action a, const auth_target *t,
                        auth_decision *out);
/* auth_policy_add_foundation_rules - the rules of the foundation: role "admin" may do anything;
 * a "system" subject may do anything but read the audit trail; role "auditor" may read and search
 * AuditEvent; any authenticated subject may read and search directory resources (Practitioner,
 * PractitionerRole, Organization, Location, HealthcareService); nobody may update or delete
 * AuditEvent. Everything else is left to the services' rules (and so denied by default). */
int auth_policy_add_foundation_rules(auth_policy *p);

#endif
