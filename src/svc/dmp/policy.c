/* policy.c - the policy engine's "dmp-access" rule: DocumentReference, List and Binary are decided
 * from the facts the DMP hands over in auth_target.context (access.h); without them (a path that
 * is not the DMP's) they are refused, whoever asks. */
#include <stdio.h>
#include <string.h>

#include "svc/dmp/dmp_internal.h"

/* The DMP's types, and "DMP" for the record itself (its state and the patient's controls). */
static int dmp_owns(const char *type)
{
    return type && (!strcmp(type, "DocumentReference") || !strcmp(type, "List") || !strcmp(type, "Binary") ||
                    !strcmp(type, "DMP"));
}

static int dmp_rule_control(const auth_subject *s, const dmp_policy_context *pc, char *reason,
                            size_t reason_len)
{
    if (s->kind == AUTH_KIND_PATIENT && pc->ins && !strcmp(s->sub, pc->ins)) return AUTH_ALLOW;
    snprintf(reason, reason_len, "only the patient controls their DMP");
    return AUTH_DENY;
}

static int dmp_rule_emergency(const auth_subject *s, const dmp_policy_context *pc, char *reason,
                              size_t reason_len)
{
    if (s->kind != AUTH_KIND_PROFESSIONAL || !pc->reader) {
        snprintf(reason, reason_len, "only a professional opens an emergency access");
        return AUTH_DENY;
    }
    if (pc->record->state != DMP_RECORD_ACTIVE) {
        snprintf(reason, reason_len, "the record is not active");
        return AUTH_DENY;
    }
    if (pc->reader->blocked) {
        snprintf(reason, reason_len, "blocked by the patient");
        return AUTH_DENY;
    }
    if (pc->mode == DMP_MODE_CENTRE_15 && !auth_has_role(s, "centre-15")) {
        snprintf(reason, reason_len, "centre 15 access is for medical regulation (role centre-15)");
        return AUTH_DENY;
    }
    if ((pc->mode == DMP_MODE_BRIS_DE_GLACE && pc->record->opposes_bris_de_glace) ||
        (pc->mode == DMP_MODE_CENTRE_15 && pc->record->opposes_centre_15)) {
        snprintf(reason, reason_len, "the patient opposed %s access", dmp_mode_name(pc->mode));
        return AUTH_DENY;
    }
    if (pc->mode == DMP_MODE_NORMAL) {
        snprintf(reason, reason_len, "an emergency access needs mode bris_de_glace or centre_15");
        return AUTH_DENY;
    }
    return AUTH_ALLOW;
}

int dmp_policy_rule(void *ctx, const auth_subject *s, auth_action a, const auth_target *t, char *reason,
                    size_t reason_len)
{
    (void)ctx;
    (void)a;
    if (!dmp_owns(t->resource_type)) return AUTH_ABSTAIN;
    const dmp_policy_context *pc = t->context;
    if (!pc) {
        /* Software (system subjects) keeps the foundation's generic access; professionals and
         * patients reach documents only through the DMP's paths, which give the facts. */
        if (s->kind == AUTH_KIND_SYSTEM) return AUTH_ABSTAIN;
        snprintf(reason, reason_len, "%s is served by the DMP", t->resource_type);
        return AUTH_DENY;
    }
    const dmp_record_facts *record = pc->record;
    if (pc->check == DMP_CHECK_CONTROL) return dmp_rule_control(s, pc, reason, reason_len);
    if (pc->check == DMP_CHECK_EMERGENCY) return dmp_rule_emergency(s, pc, reason, reason_len);
    if (pc->check == DMP_CHECK_FEED) {
        if (record->state != DMP_RECORD_ACTIVE) {
            snprintf(reason, reason_len, "the DMP is %s: nothing can be fed",
                     record->state == DMP_RECORD_CLOSED ? "closed" : "opposed by the patient");
            return AUTH_DENY;
        }
        if (s->kind == AUTH_KIND_SYSTEM) return AUTH_ALLOW;
        /* The patient deposits documents of class 90 in their own record (provide.c checks the
         * class of each). */
        if (s->kind == AUTH_KIND_PATIENT && pc->reader &&
            (pc->reader->kind == DMP_READER_PATIENT || pc->reader->kind == DMP_READER_LEGAL_REPRESENTATIVE))
            return AUTH_ALLOW;
        if (s->kind != AUTH_KIND_PROFESSIONAL) {
            snprintf(reason, reason_len, "only professionals, their software and the patient feed the DMP");
            return AUTH_DENY;
        }
        if (pc->reader && pc->reader->blocked) {
            snprintf(reason, reason_len, "blocked by the patient");
            return AUTH_DENY;
        }
        return AUTH_ALLOW;
    }
    /* Reads: software with a system token is left to the foundation's rules; everybody else is a
     * reader of this record. */
    if (s->kind == AUTH_KIND_SYSTEM && !pc->reader) return AUTH_ABSTAIN;
    if (!pc->reader) {
        snprintf(reason, reason_len, "only professionals and the patient read a DMP");
        return AUTH_DENY;
    }
    int ok = pc->check == DMP_CHECK_RECORD
                 ? dmp_access_may_open_record(record, pc->reader, reason, reason_len)
                 : dmp_access_decide(pc->matrix, record, pc->reader, pc->document, reason, reason_len);
    return ok ? AUTH_ALLOW : AUTH_DENY;
}

static void dmp_decide(dmp_service *svc, const auth_subject *who, auth_action action, const char *type,
                       const char *id, const char *patient_id, const dmp_policy_context *pc, auth_decision *d)
{
    auth_target t = {.resource_type = type, .resource_id = id, .patient_id = patient_id, .context = pc};
    auth_policy_decide(svc->app->policy, who, action, &t, d);
}

int dmp_authorize(dmp_service *svc, http_request *req, const auth_subject *who, auth_action action,
                  const char *type, const char *id, const char *patient_id, const dmp_policy_context *pc,
                  rest_result *res)
{
    auth_decision d;
    dmp_decide(svc, who, action, type, id, patient_id, pc, &d);
    if (d.allowed) return 0;
    rest_audit(svc->app, req, who, auth_action_name(action), "denied", type, id, patient_id, d.reason);
    socle_err_set(&res->err, SOCLE_EFORBIDDEN, "access denied: %s", d.reason);
    return rest_fail(res, &res->err);
}

int dmp_may_read(dmp_service *svc, const auth_subject *who, const char *type, const char *id,
                 const char *patient_id, const dmp_policy_context *pc)
{
    auth_decision d;
    dmp_decide(svc, who, AUTH_ACTION_READ, type, id, patient_id, pc, &d);
    return d.allowed;
}
