/* policy.c - the policy engine and the foundation's rules.
 *
 * Rules are asked in registration order; the first DENY ends the decision (any DENY wins), else
 * the first ALLOW decides, else access is denied by "default-deny". The rule list is fixed
 * before serving starts, so deciding takes no lock. A missing subject or target is denied before
 * any rule runs: rules may assume both are there. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "base/text.h"

typedef struct policy_rule {
    char name[48];
    auth_rule_fn fn;
    void *ctx;
} policy_rule;

struct auth_policy {
    policy_rule *rules;
    int n, cap;
};

auth_policy *auth_policy_new(void)
{
    return calloc(1, sizeof(auth_policy));
}

void auth_policy_free(auth_policy *p)
{
    if (!p) return;
    free(p->rules);
    free(p);
}

int auth_policy_add_rule(auth_policy *p, const char *name, auth_rule_fn fn, void *ctx)
{
    if (!p || !name || !*name || strlen(name) >= sizeof p->rules[0].name || !fn) return SOCLE_EINVAL;
    if (p->n == p->cap) {
        int cap = p->cap ? p->cap * 2 : 16;
        policy_rule *r = realloc(p->rules, (size_t)cap * sizeof *r);
        if (!r) return SOCLE_ENOMEM;
        p->rules = r;
        p->cap = cap;
    }
    policy_rule *r = &p->rules[p->n++];
    strcpy(r->name, name);
    r->fn = fn;
    r->ctx = ctx;
    return 0;
}

void auth_policy_decide(const auth_policy *p, const auth_subject *s, auth_action a, const auth_target *t,
                        auth_decision *out)
{
    out->allowed = 0;
    strcpy(out->rule, "default-deny");
    const char *type = t && t->resource_type ? t->resource_type : "*";
    if (!s || s->kind == AUTH_KIND_NONE || !t) {
        text_copy(out->reason, sizeof out->reason, "not authenticated");
        return;
    }
    const policy_rule *allow = NULL;
    char reason[sizeof out->reason], allow_reason[sizeof out->reason] = "";
    for (int i = 0; p && i < p->n; i++) {
        const policy_rule *r = &p->rules[i];
        reason[0] = 0;
        int v = r->fn(r->ctx, s, a, t, reason, sizeof reason);
        reason[sizeof reason - 1] = 0;
        if (v == AUTH_DENY) {
            text_copy(out->rule, sizeof out->rule, r->name);
            text_copy(out->reason, sizeof out->reason, reason[0] ? reason : "denied by rule");
            return;
        }
        if (v == AUTH_ALLOW && !allow) {
            allow = r;
            memcpy(allow_reason, reason, sizeof reason);
        }
    }
    if (allow) {
        out->allowed = 1;
        text_copy(out->rule, sizeof out->rule, allow->name);
        text_copy(out->reason, sizeof out->reason, allow_reason[0] ? allow_reason : "allowed by rule");
        return;
    }
    snprintf(out->reason, sizeof out->reason, "no rule allows %s on %s", auth_action_name(a), type);
}

/* --- the foundation's rules --- */

static int policy_is(const auth_target *t, const char *type)
{
    return t->resource_type && !strcmp(t->resource_type, type);
}

static int rule_audit_immutable(void *ctx, const auth_subject *s, auth_action a, const auth_target *t,
                                char *reason, size_t len)
{
    if (!policy_is(t, "AuditEvent") || (a != AUTH_ACTION_UPDATE && a != AUTH_ACTION_DELETE))
        return AUTH_ABSTAIN;
    text_copy(reason, len, "the audit trail cannot be changed");
    return AUTH_DENY;
}

static int rule_admin(void *ctx, const auth_subject *s, auth_action a, const auth_target *t, char *reason,
                      size_t len)
{
    if (!auth_has_role(s, "admin")) return AUTH_ABSTAIN;
    text_copy(reason, len, "role admin");
    return AUTH_ALLOW;
}

/* Systems (other servers, batch jobs) act on everything except reading the trail of who did
 * what: that is the auditors' job. Abstaining rather than denying lets an auditor or admin role
 * on the same subject still allow it. Operations on AuditEvent count as reading. */
static int rule_system(void *ctx, const auth_subject *s, auth_action a, const auth_target *t, char *reason,
                       size_t len)
{
    if (s->kind != AUTH_KIND_SYSTEM || !strcmp(s->issuer, AUTH_ISSUER_CLIENT_CERT)) return AUTH_ABSTAIN;
    if (policy_is(t, "AuditEvent") && a != AUTH_ACTION_CREATE) return AUTH_ABSTAIN;
    text_copy(reason, len, "system subject");
    return AUTH_ALLOW;
}

static int rule_auditor(void *ctx, const auth_subject *s, auth_action a, const auth_target *t, char *reason,
                        size_t len)
{
    if (!auth_has_role(s, "auditor") || !policy_is(t, "AuditEvent") ||
        (a != AUTH_ACTION_READ && a != AUTH_ACTION_SEARCH))
        return AUTH_ABSTAIN;
    text_copy(reason, len, "role auditor reads the audit trail");
    return AUTH_ALLOW;
}

static int rule_directory(void *ctx, const auth_subject *s, auth_action a, const auth_target *t, char *reason,
                          size_t len)
{
    static const char *const types[] = {"Practitioner", "PractitionerRole", "Organization", "Location",
                                        "HealthcareService"};
    if (a != AUTH_ACTION_READ && a != AUTH_ACTION_SEARCH && a != AUTH_ACTION_HISTORY) return AUTH_ABSTAIN;
    for (size_t i = 0; i < sizeof types / sizeof *types; i++) {
        if (policy_is(t, types[i])) {
            text_copy(reason, len, "the directory is readable by any authenticated caller");
            return AUTH_ALLOW;
        }
    }
    return AUTH_ABSTAIN;
}

int auth_policy_add_foundation_rules(auth_policy *p)
{
    int rc = auth_policy_add_rule(p, "audit-immutable", rule_audit_immutable, NULL);
    if (!rc) rc = auth_policy_add_rule(p, "admin-role", rule_admin, NULL);
    if (!rc) rc = auth_policy_add_rule(p, "system-subject", rule_system, NULL);
    if (!rc) rc = auth_policy_add_rule(p, "auditor-role", rule_auditor, NULL);
    if (!rc) rc = auth_policy_add_rule(p, "directory-read", rule_directory, NULL);
    return rc;
}
