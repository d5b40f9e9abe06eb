/* ins.c - the INS service's life cycle and its policy rules (see ins.h for the manual). */
#include <stdlib.h>
#include <string.h>

#include "svc/ins/ins_internal.h"

/* INSi: professionals and software (tokens or client certificates) may search and verify; the
 * counters are for the admin (foundation rule) and the auditor role, nobody else. Local identities
 * (Patient): professionals with the role "identity" (admission, identitovigilance) or "civ" manage
 * them; merges, unmerges and the duplicates list are the civ's (or the admin's) only. */
static int ins_rule(void *ctx, const auth_subject *s, auth_action a, const auth_target *t, char *reason, size_t len)
{
    if (t->resource_type && !strcmp(t->resource_type, "INSi") && t->operation) {
        if (!strcmp(t->operation, "insi-usage")) {
            if (auth_has_role(s, "admin")) return AUTH_ABSTAIN; /* the foundation's admin rule */
            if (!auth_has_role(s, "auditor")) {
                snprintf(reason, len, "INSi usage is for the admin and the auditor");
                return AUTH_DENY;
            }
            snprintf(reason, len, "auditor reads INSi usage");
            return AUTH_ALLOW;
        }
        if (s->kind == AUTH_KIND_PATIENT) {
            snprintf(reason, len, "INSi is for professionals and their software");
            return AUTH_DENY;
        }
        if (s->kind == AUTH_KIND_PROFESSIONAL || s->kind == AUTH_KIND_SYSTEM) {
            snprintf(reason, len, "INSi caller (%s)", auth_kind_name(s->kind));
            return AUTH_ALLOW;
        }
        return AUTH_ABSTAIN;
    }
    if (t->resource_type && !strcmp(t->resource_type, "Patient") && t->operation && !strncmp(t->operation, "ins-", 4)) {
        /* Merges, unmerges and the duplicates list: the identitovigilance cell, or the admin
         * (foundation rule); not any software's token. */
        if (s->kind == AUTH_KIND_PROFESSIONAL && auth_has_role(s, "civ")) {
            snprintf(reason, len, "identitovigilance cell (civ)");
            return AUTH_ALLOW;
        }
        if (auth_has_role(s, "admin")) return AUTH_ABSTAIN;
        snprintf(reason, len, "restricted to the identitovigilance cell (civ)");
        return AUTH_DENY;
    }
    if (t->resource_type && !strcmp(t->resource_type, "Patient") && s->kind == AUTH_KIND_PROFESSIONAL &&
        (auth_has_role(s, "identity") || auth_has_role(s, "civ")) && a != AUTH_ACTION_DELETE) {
        snprintf(reason, len, "identity management role");
        return AUTH_ALLOW;
    }
    return AUTH_ABSTAIN;
}

int ins_open(socle_app *app, ins_service **out, socle_err *err)
{
    ins_service *ins = calloc(1, sizeof *ins);
    if (!ins) return socle_err_set(err, SOCLE_ENOMEM, "out of memory");
    ins->app = app;
    int rc = ins_reference_migrate(app->store, err);
    store_conn *c = NULL;
    if (!rc && !(rc = store_acquire(app->store, &c, err))) { /* a crashed first import may have left them out */
        rc = ins_reference_indexes(c, 1, err);
        store_release(app->store, c);
    }
    if (!rc) rc = ins_usage_migrate(app->store, err);
    if (!rc) rc = ins_vigilance_migrate(app->store, err);
    if (!rc && auth_policy_add_rule(app->policy, "ins", ins_rule, ins))
        rc = socle_err_set(err, SOCLE_EINTERNAL, "cannot add the INS policy rule");
    if (!rc) rc = ins_register_identity_rules(ins, err);
    if (!rc) rc = ins_usage_open(app->store, (int)config_get_int(app->config, "insi_usage_flush_ms", 5000), &ins->usage, err);
    if (rc) {
        free(ins);
        return rc;
    }
    *out = ins;
    return 0;
}

void ins_close(ins_service *ins)
{
    if (!ins) return;
    ins_usage_close(ins->usage);
    free(ins);
}
