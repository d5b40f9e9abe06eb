/* annuaire.c - the directory service's life cycle and its write rule (see annuaire.h). */
#include "svc/annuaire/annuaire.h"

#include <stdlib.h>
#include <string.h>

#include "svc/annuaire/import.h"

struct annuaire_service {
    socle_app *app;
};

static int is_directory_type(const char *type)
{
    return type && (!strcmp(type, "Practitioner") || !strcmp(type, "PractitionerRole") || !strcmp(type, "Organization"));
}

/* Writes to the directory: the import (not a policy decision: it runs on the server's files) and
 * the admin role only. Abstaining for the admin lets the foundation's admin rule allow. */
static int annuaire_write_rule(void *ctx, const auth_subject *s, auth_action a, const auth_target *t, char *reason,
                               size_t len)
{
    (void)ctx;
    if (a != AUTH_ACTION_CREATE && a != AUTH_ACTION_UPDATE && a != AUTH_ACTION_DELETE) return AUTH_ABSTAIN;
    if (!is_directory_type(t->resource_type) || auth_has_role(s, "admin")) return AUTH_ABSTAIN;
    snprintf(reason, len, "the directory is written by its import or by the admin role");
    return AUTH_DENY;
}

int annuaire_open(socle_app *app, annuaire_service **out, socle_err *err)
{
    *out = NULL;
    annuaire_service *svc = calloc(1, sizeof *svc);
    if (!svc) return socle_err_set(err, SOCLE_ENOMEM, "out of memory");
    svc->app = app;
    int rc = annuaire_import_migrate(app->store, err);
    if (!rc && auth_policy_add_rule(app->policy, "annuaire-write", annuaire_write_rule, svc))
        rc = socle_err_set(err, SOCLE_EINTERNAL, "cannot add the directory policy rule");
    if (rc) {
        free(svc);
        return rc;
    }
    *out = svc;
    return 0;
}

int annuaire_register(annuaire_service *svc, http_router *router)
{
    (void)svc;
    (void)router;
    return 0;
}

void annuaire_close(annuaire_service *svc)
{
    free(svc);
}
